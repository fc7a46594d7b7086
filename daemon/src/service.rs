//! The engine thread: owns the [`Engine`] over the [`SqliteStore`], runs its
//! timers, group-commits ingest requests, and projects day files. The HTTP
//! layer talks to it only through [`Command`]s, so exactly one thread ever
//! touches the engine and the database connection.
//!
//! Summaries never run here (SPEC §6). The engine hands out summary
//! requests; a command or an LLM endpoint answers each on its own worker
//! thread ([`Workers`]), which sends the answer back as
//! [`Command::Answer`]; answers waiting together are handed to the engine
//! at once and commit in one transaction. So an ingest ack, status, pause,
//! sessions and day reads wait at most for one commit, never for a model.
//! Only the built-in summarizer, a pure function of microseconds, answers
//! inline. On shutdown the engine thread waits for outstanding answers at
//! most `shutdown_grace_seconds`, then abandons them (a running command is
//! killed); their sessions stay pending and the next start reduces them.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use daybook_core::watcher::{AwEvent, AwWrite, Nanos, Watchers};
use daybook_core::{Engine, Event, Output, Session, SummaryAnswer, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::clock;
use crate::config::Settings;
use crate::datadir::{DataDir, FileWatch};
use crate::error::{Error, Result};
use crate::projection;
use crate::store::{AwBucket, AwRange, SqliteStore};
use crate::summarizer::Workers;

/// The most events one group commit takes before it commits.
const GROUP_COMMIT_MAX: usize = 20_000;

/// The longest a group commit waits for ingest requests still
/// [`Arriving`] before it commits without them.
///
/// A commit costs an fsync (0.1-0.5 ms on a quiet disk here, several ms
/// on a busy one) plus its work; a request that arrives just after a
/// commit began waits all of it, then pays an fsync of its own. Clients
/// that post together (a reply to each of them leaves at once, so their
/// next requests come together) were committed one or two at a time
/// for that reason: the first request off the channel started the
/// commit while the others were still being parsed. Waiting for
/// requests already being parsed, never for ones not yet sent, and at
/// most this long, puts them in one commit.
const GATHER_MAX: Duration = Duration::from_millis(1);

/// How often a group commit that waits for [`Arriving`] requests looks
/// at the count again when nothing comes (a request refused while
/// parsing never reaches the channel).
const GATHER_POLL: Duration = Duration::from_micros(100);

/// Ingest requests (`POST /v1/events`) whose HTTP handler has begun and
/// that are not yet handed to the engine thread: while the count is above
/// zero, a group commit waits up to [`GATHER_MAX`] for them (see there).
/// One count for the daemon, shared by the engine thread and the
/// handlers; ActivityWatch heartbeats are not counted.
#[derive(Clone, Debug, Default)]
pub struct Arriving(Arc<AtomicUsize>);

impl Arriving {
    /// Counts one request as arriving until the returned [`Arrival`] is
    /// dropped: drop it right after its command is sent (or refused).
    pub fn begin(&self) -> Arrival {
        self.0.fetch_add(1, Ordering::AcqRel);
        Arrival(Arc::clone(&self.0))
    }

    /// Requests arriving now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One request counted by [`Arriving`]; the count drops with it.
#[derive(Debug)]
pub struct Arrival(Arc<AtomicUsize>);

impl Drop for Arrival {
    fn drop(&mut self) {
        // After the send. A command sent between the engine thread's
        // empty `try_recv` and its read of the lower count misses that
        // group and commits with the next one: a fsync more, nothing
        // lost or reordered.
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What an ingest request got.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Accepted {
    /// Events committed.
    pub accepted: usize,
    /// Events dropped by `ignore_apps` / `ignore_title_patterns`.
    pub ignored: usize,
    /// Events dropped because capture is paused.
    pub dropped_paused: usize,
    /// Accepted events that were late (SPEC §2): more than
    /// `reorder_tolerance_seconds` behind the latest instant any session
    /// reached, so attributed at their own time, in the session that
    /// holds it or a late session in its gap.
    pub late: usize,
    /// Events refused as older than `max_lateness_days`: always 0 in an
    /// acknowledgement, since such an event refuses its whole request
    /// ([`Refused::TooOld`] carries the count then).
    pub refused_too_old: usize,
}

/// The open session, as status shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenInfo {
    /// Its id.
    pub id: String,
    /// Its start, RFC 3339.
    pub start: String,
    /// Its latest event, RFC 3339.
    pub last: String,
}

/// `daybook status` and `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// Whether a daemon answered (always true from the daemon itself).
    pub running: bool,
    /// Whether capture is paused.
    pub paused: bool,
    /// The open session.
    pub open_session: Option<OpenInfo>,
    /// Events in the database.
    pub events_total: u64,
    /// Events dropped while paused, ever (kept in the database).
    pub dropped_paused: u64,
    /// Events dropped by the privacy filters, ever (kept in the database).
    pub dropped_ignored: u64,
    /// Sessions ended and waiting for their final reduction.
    pub pending_sessions: u64,
    /// Sessions whose reduction failed and will be retried.
    pub failed_sessions: u64,
    /// HTTP requests the guard refused since the daemon started (bad
    /// Host, Origin, token or Content-Type); see [`crate::http::guard`].
    #[serde(default)]
    pub refused_requests: u64,
    /// Bytes of request bodies being read right now, against the guard's
    /// budget (see [`crate::http::guard`]).
    #[serde(default)]
    pub request_bytes_in_flight: u64,
}

impl Status {
    /// What the database alone says: no daemon running, the paused flag
    /// as last stored, no open session, the counts. The daemon puts its
    /// own live state over it; the guard's counts are the guard's to add.
    pub fn stored(store: &SqliteStore) -> Result<Self> {
        let counts = store.status_counts()?;
        let state = store.daemon_state()?;
        Ok(Self {
            running: false,
            paused: state.paused,
            open_session: None,
            events_total: counts.events,
            dropped_paused: state.dropped_paused,
            dropped_ignored: state.dropped_ignored,
            pending_sessions: counts.ended,
            failed_sessions: counts.failed,
            refused_requests: 0,
            request_bytes_in_flight: 0,
        })
    }
}

/// Why an ingest request stored nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// An event of the request is invalid at the engine thread's `now`
    /// (e.g. further in the future than `future_tolerance_seconds`), or
    /// became too long once redacted.
    Invalid {
        /// Its index in the request.
        index: usize,
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Events of the request are older than `max_lateness_days` (SPEC
    /// §2); nothing of it was stored.
    TooOld {
        /// Their indices in the request, ascending.
        indices: Vec<usize>,
        /// The bound.
        max_lateness: std::time::Duration,
    },
    /// The disk holding the data directory is almost full: nothing is
    /// stored while less than `min_free_disk_mb` is free, so neither a
    /// runaway client nor daybook itself can fill the user's disk.
    DiskFull {
        /// Bytes free now.
        free: u64,
        /// The floor, in bytes.
        floor: u64,
    },
    /// The commit failed.
    Failed(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid { message, .. } | Self::Failed(message) => f.write_str(message),
            Self::TooOld { indices, max_lateness } => {
                let max_days = max_lateness.as_secs_f64() / 86_400.0;
                let shown: Vec<String> = indices.iter().take(20).map(usize::to_string).collect();
                write!(
                    f,
                    "{} event(s) are older than `max_lateness_days` ({max_days}) allows: index {}{}; nothing of this request was stored",
                    indices.len(),
                    shown.join(", "),
                    if indices.len() > shown.len() { ", …" } else { "" }
                )
            }
            Self::DiskFull { free, floor } => write!(
                f,
                "the disk is almost full ({} MiB free); daybook stores nothing while less than {} MiB is free \
                 (min_free_disk_mb)",
                free >> 20,
                floor >> 20
            ),
        }
    }
}

/// Bytes free for unprivileged writes on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// A request to the engine thread.
#[derive(Debug)]
pub enum Command {
    /// Screen (privacy rules), check and commit these events; reply once
    /// committed.
    Ingest(Vec<Event>, oneshot::Sender<Result<Accepted, Refused>>),
    /// Pause capture.
    Pause(oneshot::Sender<Result<(), String>>),
    /// Resume capture.
    Resume(oneshot::Sender<Result<(), String>>),
    /// Report status.
    Status(oneshot::Sender<Result<Status, String>>),
    /// Sessions overlapping a local day.
    Sessions(NaiveDate, oneshot::Sender<Result<Vec<Session>, String>>),
    /// A day's Markdown.
    Day(NaiveDate, oneshot::Sender<Result<String, String>>),
    /// A summary answer from a worker.
    Answer(SummaryAnswer),
    /// Stop: end the open session, wait up to the grace period for
    /// outstanding summaries, return.
    Shutdown,
    /// An ActivityWatch request (`/api/0`). Heartbeats and inserted events
    /// group-commit with ingest; the rest run alone.
    ActivityWatch(AwRequest, oneshot::Sender<Result<AwReply, AwRefused>>),
    /// Liveness probe; ignored.
    Ping,
}

/// What an `/api/0` route asks of the engine thread.
#[derive(Debug)]
pub enum AwRequest {
    /// Every bucket.
    Buckets,
    /// One bucket.
    Bucket(String),
    /// Create a bucket (`Created(false)` when it exists).
    CreateBucket(AwBucket),
    /// Delete a bucket and its events.
    DeleteBucket(String),
    /// A heartbeat with its pulsetime, in nanoseconds.
    Heartbeat {
        /// The bucket.
        bucket: String,
        /// The heartbeat.
        event: AwEvent,
        /// The merge window past the last event's end.
        pulsetime: Nanos,
    },
    /// Whole events to store.
    Insert {
        /// The bucket.
        bucket: String,
        /// The events.
        events: Vec<AwEvent>,
    },
    /// A bucket's events.
    Events(String, AwRange),
    /// How many events.
    Count(String, AwRange),
    /// One event.
    Event(String, u64),
    /// Delete one event.
    DeleteEvent(String, u64),
    /// Every bucket with its events, or one.
    Export(Option<String>),
    /// Whole buckets with their events.
    Import(Vec<(AwBucket, Vec<AwEvent>)>),
}

/// The engine thread's answer to an [`AwRequest`].
#[derive(Debug)]
pub enum AwReply {
    /// Buckets.
    Buckets(Vec<AwBucket>),
    /// Whether a bucket was created.
    Created(bool),
    /// One event (a heartbeat's result or a read).
    Event(AwEvent),
    /// Events.
    Events(Vec<AwEvent>),
    /// A count.
    Count(u64),
    /// Buckets with their events.
    Export(Vec<(AwBucket, Vec<AwEvent>)>),
    /// Done.
    Done,
}

/// Why an [`AwRequest`] was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwRefused {
    /// A bucket or event that does not exist.
    NotFound(String),
    /// An import of a bucket that exists.
    Exists(String),
    /// An event the engine cannot take (an instant too far ahead).
    Invalid(String),
    /// Storage failed, or the disk is almost full.
    Failed(String),
}

/// One request of a group commit.
enum Item {
    Ingest(Vec<Event>, IngestReply),
    Aw(AwRequest, AwReplyTo),
}

/// Where an ingest request's reply goes.
type IngestReply = oneshot::Sender<Result<Accepted, Refused>>;
/// Where an `/api/0` request's reply goes.
type AwReplyTo = oneshot::Sender<Result<AwReply, AwRefused>>;

/// A command sorted: one a group commit takes, or one answered alone.
enum Sorted {
    Grouped(Item),
    Alone(Command),
}

impl Item {
    fn of(cmd: Command) -> Sorted {
        match cmd {
            Command::Ingest(events, reply) => Sorted::Grouped(Self::Ingest(events, reply)),
            Command::ActivityWatch(req @ (AwRequest::Heartbeat { .. } | AwRequest::Insert { .. }), reply) => {
                Sorted::Grouped(Self::Aw(req, reply))
            }
            other => Sorted::Alone(other),
        }
    }

    fn size(&self) -> usize {
        match self {
            Self::Ingest(events, _) => events.len(),
            Self::Aw(AwRequest::Insert { events, .. }, _) => events.len(),
            Self::Aw(..) => 1,
        }
    }
}

/// What [`Service::watch`] made of one heartbeat or insert.
struct Watched {
    reply: AwReply,
    writes: Vec<AwWrite>,
    derived: Vec<Event>,
    /// Events not stored: ignored by the privacy filters, or paused.
    dropped: u64,
}

/// The engine thread's state.
struct Service {
    engine: Engine<SqliteStore>,
    workers: Workers,
    /// Where workers send their answers: the engine thread's own channel.
    answers: Sender<Command>,
    settings: Settings,
    days_dir: std::path::PathBuf,
    watch: FileWatch,
    /// ActivityWatch buckets as the translation sees them (core `watcher`).
    watchers: Watchers,
    /// Days whose files the commits made stale and that are not rewritten
    /// yet, and since when the oldest of them waits (see
    /// [`Service::project`]).
    unwritten: BTreeSet<NaiveDate>,
    unwritten_since: Option<Instant>,
    /// Writes the day files off this thread (see [`Service::project`]);
    /// none if its connection could not be opened (then this thread
    /// writes them).
    projector: Option<projection::Projector>,
    /// Ingest requests on their way here (see [`GATHER_MAX`]).
    arriving: Arriving,
}

/// How long a day file may lag its day while ingest requests keep
/// arriving (see [`Service::project`]).
const DAY_FILE_LAG: Duration = Duration::from_secs(1);

/// The translation's state as the database holds it: every bucket with its
/// last event and thinning mark, and the `afk` periods of the last
/// `horizon`: the engine's `max_lateness_days` (SPEC §2), how far back an
/// ActivityWatch event still derives daybook events (older ones are
/// stored raw only, since the engine would refuse them).
fn load_watchers(store: &SqliteStore, now: Timestamp, horizon: Duration) -> Result<Watchers> {
    let mut w = Watchers::new(store.aw_max_id()? + 1);
    let since = (now - horizon).0.saturating_mul(daybook_core::watcher::NANOS_PER_MILLI);
    for b in store.aw_buckets()? {
        let model = b.model();
        let last = store.aw_last_event(&b.id)?;
        if model.kind == daybook_core::BucketKind::Afk {
            let events = store.aw_events(
                &b.id,
                AwRange {
                    start: Some(since),
                    ..AwRange::default()
                },
            )?;
            w.restore_presence(&b.hostname, &events);
        }
        w.restore(model, last, b.emitted);
    }
    Ok(w)
}

/// Opens the engine: SPEC §7's startup (blocks from durable events,
/// recovery, reduce-pending), then the day files rebuilt. Returns only
/// when the daemon may accept events. `store` must be `data`'s database,
/// opened and found sound: from here on the engine thread keeps its
/// fingerprint record current.
pub fn start(store: SqliteStore, settings: &Settings, data: &DataDir) -> Result<ServiceHandle> {
    let (service, tx, rx) = prepare(store, settings, data)?;
    let arriving = service.arriving.clone();
    let thread = thread_spawn(service, rx)?;
    Ok(ServiceHandle { tx, arriving, thread })
}

/// Everything [`start`] does before it starts the engine thread: the
/// engine started, the startup's day files written, the day-file thread
/// started; the service and its channel.
fn prepare(
    store: SqliteStore,
    settings: &Settings,
    data: &DataDir,
) -> Result<(Service, Sender<Command>, Receiver<Command>)> {
    let mut watch = data.watch();
    watch.after_writes();
    let summarizer = crate::server::summarizer(settings)?;
    let now = clock::now();
    let prefix = format!("s{}-", now.0);
    let mut engine = Engine::start(store, summarizer.kind(), settings.engine.clone(), prefix, now)?;
    if engine.store().daemon_state()?.paused {
        // No session is open yet: this only keeps events out until resume.
        engine.handle_pause(now)?;
        tracing::warn!("capture is paused (paused before this start); POST /v1/resume to resume");
    }
    let watchers = load_watchers(engine.store(), now, engine.config().max_lateness)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut service = Service {
        engine,
        workers: Workers::new(summarizer),
        answers: tx.clone(),
        settings: settings.clone(),
        days_dir: data.days(),
        watch,
        watchers,
        unwritten: BTreeSet::new(),
        unwritten_since: None,
        projector: None,
        arriving: Arriving::default(),
    };
    // The days recovery and reduce-pending touched are written with every
    // other stale day in one pass, each rendered once.
    let (recovered, touched) = service.drain()?;
    let rebuilt = projection::rebuild_at_start(service.engine.store(), &service.days_dir, &touched)?;
    service.watch.after_writes();
    service.projector = match projection::Projector::start(service.engine.store().path(), &service.days_dir) {
        Ok(projector) => Some(projector),
        Err(e) => {
            tracing::warn!(error = %e, "day files are written on the engine thread");
            None
        }
    };
    tracing::info!(
        recovered,
        day_files_rebuilt = rebuilt.len(),
        summaries_outstanding = service.engine.outstanding(),
        summaries_waiting = service.engine.waiting(),
        "startup complete"
    );
    Ok((service, tx, rx))
}

/// Starts the engine thread on `service`.
fn thread_spawn(service: Service, rx: Receiver<Command>) -> Result<std::thread::JoinHandle<Result<Stopped>>> {
    std::thread::Builder::new()
        .name("daybook-engine".into())
        .spawn(move || service.run(&rx))
        .map_err(|source| Error::Io {
            what: "starting engine thread",
            path: ".".into(),
            source,
        })
}

/// How the engine thread stopped, when it stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Whether daybook still vouches for the database file (see
    /// [`FileWatch`]): false once it answered a store error instead of
    /// stopping on it, or could not keep the record.
    pub vouch: bool,
}

/// The way to the engine thread.
#[derive(Debug)]
pub struct ServiceHandle {
    /// Sends commands.
    pub tx: Sender<Command>,
    /// Counts ingest requests on their way to `tx` (see [`Arriving`]).
    pub arriving: Arriving,
    thread: std::thread::JoinHandle<Result<Stopped>>,
}

impl ServiceHandle {
    /// A probe that says whether the engine thread still runs.
    pub fn finished_probe(&self) -> impl Fn() -> bool + Send + 'static {
        let tx = self.tx.clone();
        // A send fails once the thread has dropped its receiver.
        move || tx.send(Command::Ping).is_ok()
    }

    /// Asks the thread to shut down and waits for it.
    pub fn shutdown(self) -> Result<Stopped> {
        let _ = self.tx.send(Command::Shutdown);
        self.thread.join().unwrap_or_else(|_| {
            tracing::error!("engine thread panicked");
            Err(Error::EnginePanicked)
        })
    }
}

/// The timers' periods (copied from the settings once) and their next
/// deadlines, on the monotonic clock; the safety net on the wall clock.
struct Timers {
    tick_every: Duration,
    flush_every: Duration,
    safety_net_at: chrono::NaiveTime,
    tick: Instant,
    minute: Instant,
    flush: Instant,
    safety_net: Timestamp,
}

impl Service {
    fn run(mut self, rx: &Receiver<Command>) -> Result<Stopped> {
        let config = self.engine.config();
        let start = Instant::now();
        let mut timers = Timers {
            tick_every: config.tick,
            flush_every: config.flush,
            safety_net_at: config.daily_safety_net,
            tick: start + config.tick,
            minute: start + Duration::from_secs(60),
            flush: start + config.flush,
            safety_net: clock::next_local(clock::now(), config.daily_safety_net),
        };
        let mut queued: VecDeque<Command> = VecDeque::new();
        loop {
            let next = timers.tick.min(timers.minute).min(timers.flush);
            let cmd = match queued.pop_front() {
                Some(cmd) => Some(cmd),
                None => match rx.recv_timeout(
                    next.saturating_duration_since(Instant::now())
                        .min(Duration::from_secs(1)),
                ) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Command::Shutdown),
                },
            };
            match cmd {
                Some(Command::Shutdown) => return self.shutdown(rx),
                Some(cmd) => self.dispatch(cmd, rx, &mut queued)?,
                None => {}
            }
            self.run_timers(&mut timers)?;
            if self.unwritten_since.is_some() || self.projector.as_ref().is_some_and(projection::Projector::writing) {
                // Busy: a command waits (taken off the channel to know).
                let busy = !queued.is_empty()
                    || match rx.try_recv() {
                        Ok(cmd) => {
                            queued.push_back(cmd);
                            true
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => false,
                    };
                self.project(busy)?;
            }
            self.watch.after_writes();
        }
    }

    /// One command of the loop, other than a shutdown.
    fn dispatch(&mut self, cmd: Command, rx: &Receiver<Command>, queued: &mut VecDeque<Command>) -> Result<()> {
        match cmd {
            Command::Answer(answer) => self.take_answers(answer, rx, queued),
            // The server's liveness probe (every 200 ms) asks nothing:
            // it must not make the day files wait for it to be current.
            Command::Ping => Ok(()),
            cmd => match Item::of(cmd) {
                Sorted::Grouped(item) => self.group_commit(item, rx, queued),
                Sorted::Alone(other) => {
                    // Whatever it asks, it sees the day files current:
                    // those left for later are written first.
                    self.project_current()?;
                    self.answer(other)
                }
            },
        }
    }

    fn run_timers(&mut self, timers: &mut Timers) -> Result<()> {
        let instant = Instant::now();
        let now = clock::now();
        if instant >= timers.tick {
            timers.tick = instant + timers.tick_every;
            self.engine.handle_tick(now)?;
            self.commit_tails(now)?;
        }
        if instant >= timers.minute {
            timers.minute = instant + Duration::from_secs(60);
            self.engine.handle_minute(now)?;
        }
        if instant >= timers.flush {
            timers.flush = instant + timers.flush_every;
            self.engine.handle_flush(now)?;
        }
        if now >= timers.safety_net {
            timers.safety_net = clock::next_local(now, timers.safety_net_at);
            tracing::info!("daily safety net");
            self.engine.handle_safety_net(now)?;
            self.engine.store().checkpoint()?;
        }
        self.collect_outputs()
    }

    /// Takes this request and every ingest request (events, heartbeats,
    /// inserted ActivityWatch events) already waiting, commits them in one
    /// transaction, and answers each.
    fn group_commit(&mut self, first: Item, rx: &Receiver<Command>, queued: &mut VecDeque<Command>) -> Result<()> {
        let mut total = first.size();
        let mut requests = vec![first];
        let gather_until = Instant::now() + GATHER_MAX;
        while total < GROUP_COMMIT_MAX {
            let cmd = match rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Disconnected) => break,
                // Requests being parsed join this commit if they come
                // within `GATHER_MAX`; none being parsed, it goes now.
                Err(TryRecvError::Empty) => {
                    let left = gather_until.saturating_duration_since(Instant::now());
                    if self.arriving.count() == 0 || left.is_zero() {
                        break;
                    }
                    match rx.recv_timeout(left.min(GATHER_POLL)) {
                        Ok(cmd) => cmd,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            match Item::of(cmd) {
                Sorted::Grouped(item) => {
                    total += item.size();
                    requests.push(item);
                }
                // The liveness probe asks nothing (see `run`).
                Sorted::Alone(Command::Ping) => {}
                Sorted::Alone(other) => {
                    queued.push_back(other);
                    break;
                }
            }
        }
        // After the gathering, so the requests are checked against the
        // instant they commit at.
        let now = clock::now();
        // One statvfs per group commit (about a microsecond). A file system
        // that cannot say is not taken for a full one.
        let floor = self.settings.min_free_disk;
        match free_bytes(&self.days_dir) {
            Ok(free) if free < floor => {
                tracing::warn!(
                    free_mib = free >> 20,
                    floor_mib = floor >> 20,
                    "disk almost full; events refused"
                );
                for item in requests {
                    match item {
                        Item::Ingest(_, reply) => {
                            let _ = reply.send(Err(Refused::DiskFull { free, floor }));
                        }
                        Item::Aw(_, reply) => {
                            let _ = reply.send(Err(AwRefused::Failed(Refused::DiskFull { free, floor }.to_string())));
                        }
                    }
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read the free disk space"),
        }
        let before = self.watchers.clone();
        let paused = self.engine.is_paused();
        let mut batch = Vec::with_capacity(total);
        let mut answers = Vec::with_capacity(requests.len());
        let mut aw_answers = Vec::new();
        let mut aw_writes = Vec::new();
        let mut ignored = 0;
        let mut aw_paused = 0;
        for item in requests {
            match item {
                Item::Ingest(events, reply) => {
                    // Checked here against this `now` and the configured
                    // tolerance, request by request, so one bad request
                    // cannot fail the group.
                    match self.screen(now, events) {
                        Ok((kept, dropped)) => {
                            let counts = Accepted {
                                accepted: kept.len(),
                                ignored: dropped,
                                dropped_paused: 0,
                                late: 0,
                                refused_too_old: 0,
                            };
                            ignored += counts.ignored as u64;
                            let start = batch.len();
                            batch.extend(kept);
                            answers.push((counts, start..batch.len(), reply));
                        }
                        Err(refused) => {
                            let _ = reply.send(Err(refused));
                        }
                    }
                }
                Item::Aw(req, reply) => match self.watch(now, req, paused) {
                    Ok(Watched {
                        reply: answer,
                        writes,
                        derived,
                        dropped,
                    }) => {
                        if paused {
                            aw_paused += dropped;
                        } else {
                            ignored += dropped;
                        }
                        aw_writes.extend(writes);
                        batch.extend(derived);
                        aw_answers.push((answer, reply));
                    }
                    Err(refused) => {
                        let _ = reply.send(Err(refused));
                    }
                },
            }
        }
        let store = self.engine.store();
        store.stage_dropped(aw_paused, ignored);
        store.stage_aw(aw_writes);
        match self.engine.handle_events(now, &batch) {
            Ok(done) => {
                // A paused engine wrote nothing: the counts commit alone,
                // still before any reply.
                let store = self.engine.store();
                store.stage_dropped(done.dropped_paused as u64, 0);
                if let Err(e) = store.commit_staged() {
                    tracing::error!(error = %e, "could not count dropped events");
                    self.refuse_group(before, answers, aw_answers, &e.to_string());
                    return Ok(());
                }
                // Recorded before the replies, so a kill right after an
                // acknowledgement finds the record current.
                self.watch.after_writes();
                let paused = done.dropped_paused > 0;
                // Each request's late events, from the batch's (ascending)
                // indices of late events and the request's range in it.
                for (mut counts, range, reply) in answers {
                    counts.late =
                        done.late.partition_point(|&i| i < range.end) - done.late.partition_point(|&i| i < range.start);
                    if paused {
                        counts.dropped_paused = counts.accepted;
                        counts.accepted = 0;
                    }
                    let _ = reply.send(Ok(counts));
                }
                for (answer, reply) in aw_answers {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "group commit failed; nothing of it was stored");
                self.engine.store().discard_staged();
                self.refuse_group(before, answers, aw_answers, &e.to_string());
                return Ok(());
            }
        }
        self.engine.handle_reductions(now)?;
        // The day files wait for the loop's turn ([`Self::project`]).
        self.collect_outputs()
    }

    /// One heartbeat or insert of a group commit, through the translation:
    /// its instants checked against `now`, its data screened by the privacy
    /// filters (an ignored window is not stored at all, a redacted one is
    /// stored redacted), then merged or added. While paused it is answered
    /// and nothing is stored.
    fn watch(&mut self, now: Timestamp, req: AwRequest, paused: bool) -> std::result::Result<Watched, AwRefused> {
        let tolerance = self.engine.config().future_tolerance;
        let latest = (now + tolerance)
            .0
            .saturating_mul(daybook_core::watcher::NANOS_PER_MILLI);
        let check = |e: &AwEvent| {
            if e.end > latest {
                Err(AwRefused::Invalid(
                    "event ends further in the future than `future_tolerance_seconds` allows".into(),
                ))
            } else if e.start < 0 {
                Err(AwRefused::Invalid("event starts before 1970-01-01".into()))
            } else {
                Ok(())
            }
        };
        let (bucket, events) = match &req {
            AwRequest::Heartbeat { bucket, event, .. } => (bucket, std::slice::from_ref(event)),
            AwRequest::Insert { bucket, events } => (bucket, events.as_slice()),
            _ => unreachable!("only heartbeats and inserts are grouped"),
        };
        let Some(model) = self.watchers.bucket(bucket).cloned() else {
            return Err(AwRefused::NotFound(format!(
                "there is no bucket {}",
                crate::error::quote(bucket)
            )));
        };
        events.iter().try_for_each(check)?;
        if paused {
            let reply = match req {
                AwRequest::Heartbeat { event, .. } => AwReply::Event(event),
                AwRequest::Insert { events, .. } => AwReply::Events(events),
                _ => unreachable!("only heartbeats and inserts are grouped"),
            };
            let dropped = match &reply {
                AwReply::Events(e) => e.len() as u64,
                _ => 1,
            };
            return Ok(Watched {
                reply,
                writes: Vec::new(),
                derived: Vec::new(),
                dropped,
            });
        }
        // Screened one by one; the ignored are answered but never stored.
        let screen = |e: AwEvent| -> Option<AwEvent> {
            let ms = Timestamp(e.start.div_euclid(daybook_core::watcher::NANOS_PER_MILLI));
            match model.activity(&e.data, ms, clock::local_offset(ms)) {
                None => Some(e),
                Some(daybook) => self.settings.privacy.screen(daybook).map(|screened| AwEvent {
                    data: model.redacted(&e.data, &screened),
                    ..e
                }),
            }
        };
        match req {
            AwRequest::Heartbeat {
                bucket,
                event,
                pulsetime,
            } => {
                let Some(event) = screen(event.clone()) else {
                    return Ok(Watched {
                        reply: AwReply::Event(event),
                        writes: Vec::new(),
                        derived: Vec::new(),
                        dropped: 1,
                    });
                };
                let ms = Timestamp(event.start.div_euclid(daybook_core::watcher::NANOS_PER_MILLI));
                let beat = self
                    .watchers
                    .handle_heartbeat(&bucket, event, pulsetime, clock::local_offset(ms))
                    .map_err(|e| AwRefused::NotFound(e.to_string()))?;
                Ok(Watched {
                    reply: AwReply::Event(beat.event),
                    writes: beat.writes,
                    derived: beat.derived,
                    dropped: 0,
                })
            }
            AwRequest::Insert { bucket, events } => {
                let total = events.len();
                let kept: Vec<AwEvent> = events.into_iter().filter_map(screen).collect();
                let dropped = (total - kept.len()) as u64;
                let out = self
                    .watchers
                    .handle_events(
                        &bucket,
                        kept,
                        now - self.engine.config().max_lateness,
                        clock::local_offset,
                    )
                    .map_err(|e| AwRefused::NotFound(e.to_string()))?;
                Ok(Watched {
                    reply: AwReply::Events(out.events),
                    writes: out.writes,
                    derived: out.derived,
                    dropped,
                })
            }
            _ => unreachable!("only heartbeats and inserts are grouped"),
        }
    }

    /// Derives the tails of buckets whose heartbeats stopped (core
    /// `Watchers::poll_tails`) and commits them with their marks.
    fn commit_tails(&mut self, now: Timestamp) -> Result<()> {
        if self.engine.is_paused() {
            return Ok(());
        }
        let before = self.watchers.clone();
        let tails = self.watchers.poll_tails(now, clock::local_offset);
        if tails.writes.is_empty() {
            return Ok(());
        }
        let kept: Vec<Event> = tails
            .derived
            .into_iter()
            .filter_map(|e| self.settings.privacy.screen(e))
            .collect();
        self.engine.store().stage_aw(tails.writes);
        match self.engine.handle_events(now, &kept) {
            Ok(_) => {
                self.watch.after_writes();
                self.engine.handle_reductions(now)?;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not commit the tails of stopped watchers");
                self.engine.store().discard_staged();
                self.watch.distrust();
                self.watchers = before;
            }
        }
        Ok(())
    }

    /// A group commit that stored nothing: the watchers go back to what
    /// they were before it (`before`), the database file is no longer
    /// vouched for (see [`FileWatch::distrust`]), and every request of the
    /// group is told `why`.
    fn refuse_group(
        &mut self,
        before: Watchers,
        answers: Vec<(Accepted, std::ops::Range<usize>, IngestReply)>,
        aw_answers: Vec<(AwReply, AwReplyTo)>,
        why: &str,
    ) {
        self.watch.distrust();
        self.watchers = before;
        for (_, _, reply) in answers {
            let _ = reply.send(Err(Refused::Failed(why.to_owned())));
        }
        for (_, reply) in aw_answers {
            let _ = reply.send(Err(AwRefused::Failed(why.to_owned())));
        }
    }

    /// An `/api/0` request that is not grouped: reads, bucket changes,
    /// deletes and imports, each its own transaction. A change that can
    /// alter what a heartbeat merges into reloads the translation's state.
    fn answer_aw(&mut self, now: Timestamp, req: AwRequest) -> std::result::Result<AwReply, AwRefused> {
        let failed = |e: daybook_core::Error| AwRefused::Failed(e.to_string());
        let missing =
            |what: &str, id: &str| AwRefused::NotFound(format!("there is no {what} {}", crate::error::quote(id)));
        let store = self.engine.store();
        let known = |id: &str| -> std::result::Result<AwBucket, AwRefused> {
            store
                .aw_bucket(id)
                .map_err(failed)?
                .ok_or_else(|| missing("bucket", id))
        };
        let reply = match req {
            AwRequest::Buckets => AwReply::Buckets(store.aw_buckets().map_err(failed)?),
            AwRequest::Bucket(id) => AwReply::Buckets(vec![known(&id)?]),
            AwRequest::CreateBucket(b) => {
                let created = store.aw_create_bucket(&b).map_err(failed)?;
                if created {
                    self.watchers.restore(b.model(), None, None);
                }
                AwReply::Created(created)
            }
            AwRequest::DeleteBucket(id) => {
                if !store.aw_delete_bucket(&id).map_err(failed)? {
                    return Err(missing("bucket", &id));
                }
                self.reload_watchers(now)?;
                AwReply::Done
            }
            AwRequest::Events(id, range) => {
                known(&id)?;
                AwReply::Events(store.aw_events(&id, range).map_err(failed)?)
            }
            AwRequest::Count(id, range) => {
                known(&id)?;
                AwReply::Count(store.aw_count(&id, range).map_err(failed)?)
            }
            AwRequest::Event(id, eid) => {
                known(&id)?;
                AwReply::Event(
                    store
                        .aw_event(&id, eid)
                        .map_err(failed)?
                        .ok_or_else(|| missing("event", &eid.to_string()))?,
                )
            }
            AwRequest::DeleteEvent(id, eid) => {
                known(&id)?;
                if !store.aw_delete_event(&id, eid).map_err(failed)? {
                    return Err(missing("event", &eid.to_string()));
                }
                self.reload_watchers(now)?;
                AwReply::Done
            }
            AwRequest::Export(one) => {
                let buckets = match one {
                    Some(id) => vec![known(&id)?],
                    None => store.aw_buckets().map_err(failed)?,
                };
                let mut out = Vec::with_capacity(buckets.len());
                for b in buckets {
                    let events = store.aw_events(&b.id, AwRange::default()).map_err(failed)?;
                    out.push((b, events));
                }
                AwReply::Export(out)
            }
            AwRequest::Import(buckets) => {
                if let Err(id) = store.aw_import(&buckets).map_err(failed)? {
                    return Err(AwRefused::Exists(format!(
                        "bucket {} already exists; nothing was imported",
                        crate::error::quote(&id)
                    )));
                }
                self.reload_watchers(now)?;
                AwReply::Done
            }
            AwRequest::Heartbeat { .. } | AwRequest::Insert { .. } => unreachable!("grouped with ingest"),
        };
        Ok(reply)
    }

    fn reload_watchers(&mut self, now: Timestamp) -> std::result::Result<(), AwRefused> {
        self.watchers = load_watchers(self.engine.store(), now, self.engine.config().max_lateness)
            .map_err(|e| AwRefused::Failed(e.to_string()))?;
        Ok(())
    }

    /// One request's events as they may be stored: each checked against
    /// the future bound at `now` (naming its index), ignored ones dropped,
    /// the rest redacted and their fields checked again (a redaction can
    /// lengthen a field). Returns the kept events and how many were
    /// ignored.
    fn screen(&self, now: Timestamp, events: Vec<Event>) -> std::result::Result<(Vec<Event>, usize), Refused> {
        let tolerance = self.engine.config().future_tolerance;
        let invalid = |index: usize, e: daybook_core::Error, note: &str| match e {
            daybook_core::Error::InvalidEvent { field, .. } => Refused::Invalid {
                index,
                field,
                message: format!("{e}{note}"),
            },
            other => Refused::Failed(other.to_string()),
        };
        let max_lateness = self.engine.config().max_lateness;
        let too_old: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.validate_lateness(now, max_lateness).is_err())
            .map(|(i, _)| i)
            .collect();
        if !too_old.is_empty() {
            return Err(Refused::TooOld {
                indices: too_old,
                max_lateness,
            });
        }
        let total = events.len();
        let mut kept = Vec::with_capacity(total);
        // The HTTP layer checked every field when it parsed the request;
        // here only the bound at this `now` is new, and a redaction can
        // lengthen a field, so the fields are checked again only after it.
        // (The engine checks everything once more: it trusts no caller.)
        for (index, event) in events.into_iter().enumerate() {
            event
                .validate_future(now, tolerance)
                .map_err(|e| invalid(index, e, ""))?;
            if let Some(event) = self.settings.privacy.screen(event) {
                event
                    .validate_fields()
                    .map_err(|e| invalid(index, e, " once redacted"))?;
                kept.push(event);
            }
        }
        let ignored = total - kept.len();
        Ok((kept, ignored))
    }

    fn answer(&mut self, cmd: Command) -> Result<()> {
        let now = clock::now();
        match cmd {
            Command::Pause(reply) => {
                // Recorded first: a kill before the session ends still
                // comes back paused (the session is then recovered).
                let r = self
                    .engine
                    .store()
                    .set_paused(true)
                    .and_then(|()| self.engine.handle_pause(now));
                if r.is_ok() {
                    tracing::info!("capture paused");
                }
                let _ = reply.send(self.answered(r));
            }
            Command::Resume(reply) => {
                self.engine.handle_resume();
                let r = self.engine.store().set_paused(false);
                if r.is_ok() {
                    tracing::info!("capture resumed");
                }
                let _ = reply.send(self.answered(r));
            }
            Command::Status(reply) => {
                let r = self.status();
                let _ = reply.send(self.answered(r));
            }
            Command::Sessions(day, reply) => {
                let (from, to) = clock::local_day_bounds(day);
                let r = self.engine.store().sessions_between(from, to);
                let _ = reply.send(self.answered(r));
            }
            Command::Day(day, reply) => {
                let r = projection::show(self.engine.store(), day);
                let _ = reply.send(self.answered(r));
            }
            Command::ActivityWatch(req, reply) => {
                let r = self.answer_aw(now, req);
                if matches!(r, Err(AwRefused::Failed(_))) {
                    self.watch.distrust();
                }
                self.watch.after_writes();
                let _ = reply.send(r);
            }
            Command::Ping => {}
            Command::Ingest(..) | Command::Answer(_) | Command::Shutdown => unreachable!("handled by run"),
        }
        self.drain_outputs()?;
        Ok(())
    }

    fn status(&self) -> Result<Status> {
        let store = self.engine.store();
        let open = self.engine.open_session().map(|s| OpenInfo {
            id: s.id.0.clone(),
            start: s.start.rfc3339(clock::local_offset(s.start)),
            last: s.last.rfc3339(clock::local_offset(s.last)),
        });
        Ok(Status {
            running: true,
            paused: self.engine.is_paused(),
            open_session: open,
            ..Status::stored(store)?
        })
    }

    /// Takes this answer and every answer already waiting, hands them to
    /// the engine together (one transaction), and projects what changed.
    fn take_answers(
        &mut self,
        first: SummaryAnswer,
        rx: &Receiver<Command>,
        queued: &mut VecDeque<Command>,
    ) -> Result<()> {
        let mut answers = vec![first];
        loop {
            match rx.try_recv() {
                Ok(Command::Answer(answer)) => answers.push(answer),
                Ok(other) => {
                    queued.push_back(other);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        self.engine.handle_answers(clock::now(), &answers)?;
        self.drain_outputs()?;
        Ok(())
    }

    /// Ends the open session and asks for its final reduction, then waits
    /// for outstanding summaries at most `shutdown_grace`, answering reads
    /// meanwhile (ingest is refused: capture has stopped). What is still
    /// outstanding then is abandoned: those sessions stay pending and the
    /// next start reduces them.
    fn shutdown(mut self, rx: &Receiver<Command>) -> Result<Stopped> {
        let now = clock::now();
        self.engine.handle_shutdown(now)?;
        self.drain_outputs()?;
        // The day-file thread's job out is settled, then its connection
        // closes before the engine's, so the engine's, the last,
        // checkpoints the WAL at a clean stop; the rest of the stop writes
        // its day files on this thread.
        self.settle_written(true)?;
        drop(self.projector.take());
        let deadline = Instant::now() + self.engine.config().shutdown_grace;
        while self.engine.outstanding() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(Command::Answer(answer)) => {
                    let mut queued = VecDeque::new();
                    self.take_answers(answer, rx, &mut queued)?;
                    for cmd in queued {
                        self.answer_stopping(cmd)?;
                    }
                }
                Ok(cmd) => self.answer_stopping(cmd)?,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let abandoned = self.engine.outstanding() + self.engine.waiting();
        self.workers.abandon();
        if abandoned > 0 {
            tracing::info!(
                outstanding = self.engine.outstanding(),
                waiting = self.engine.waiting(),
                "summaries abandoned at stop; their sessions are reduced at the next start"
            );
        }
        self.watch.after_writes();
        tracing::info!("engine stopped");
        Ok(Stopped {
            vouch: self.watch.trusted(),
        })
    }

    /// A command that arrives while the engine thread is stopping.
    fn answer_stopping(&mut self, cmd: Command) -> Result<()> {
        match cmd {
            Command::Ingest(_, reply) => {
                let _ = reply.send(Err(Refused::Failed("daybook is stopping".into())));
                Ok(())
            }
            Command::Answer(answer) => {
                self.engine.handle_answers(clock::now(), &[answer])?;
                self.drain_outputs()
            }
            Command::ActivityWatch(AwRequest::Heartbeat { .. } | AwRequest::Insert { .. }, reply) => {
                let _ = reply.send(Err(AwRefused::Failed("daybook is stopping".into())));
                Ok(())
            }
            Command::Shutdown | Command::Ping => Ok(()),
            other => self.answer(other),
        }
    }

    /// A store error answered to a client instead of stopping the engine:
    /// the file may hold a damaged page, so daybook stops vouching for it
    /// (the next start reads every page).
    fn answered<T>(&mut self, r: std::result::Result<T, impl std::fmt::Display>) -> std::result::Result<T, String> {
        r.map_err(|e| {
            self.watch.distrust();
            e.to_string()
        })
    }

    /// Logs the engine's outcomes and rewrites the day files they touched
    /// (and any left for later).
    fn drain_outputs(&mut self) -> Result<()> {
        self.collect_outputs()?;
        self.project_current()
    }

    /// Logs the engine's outcomes and notes the days whose files they made
    /// stale, for [`Self::project`].
    fn collect_outputs(&mut self) -> Result<()> {
        let (_, days) = self.drain()?;
        if !days.is_empty() {
            self.unwritten.extend(days);
            self.unwritten_since.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// At the loop's turn: settles the day-file thread's finished job, and
    /// hands it the days noted stale, unless the engine is `busy` (more
    /// commands wait) and the oldest has waited less than
    /// [`DAY_FILE_LAG`], or a job is still out (then at a later turn).
    ///
    /// Rendering a day reads its events, so under a stream of ingest
    /// requests rewriting a day's file after every commit that reduced a
    /// session of it would hold every next request behind a rendering of
    /// the whole day: the files are written on their own thread
    /// ([`projection::Projector`]), at most one job at a time, gathered
    /// over up to [`DAY_FILE_LAG`] while requests keep coming. Waiting is
    /// safe: the commit that made a file stale listed its day in
    /// `stale_days` in the same transaction, and the day leaves it only
    /// once settled here after its file is durable, so a crash before
    /// leaves the day listed and the next start rewrites it (see
    /// [`projection`]). Any other command (a status, a read, a pause)
    /// first waits for the job out and writes the rest
    /// ([`Self::project_current`]), so a client that sees daybook quiet
    /// finds the files current; only while nothing but ingest requests
    /// come may a file lag, by at most [`DAY_FILE_LAG`] plus one job.
    fn project(&mut self, busy: bool) -> Result<()> {
        self.settle_written(false)?;
        let Some(since) = self.unwritten_since else {
            return Ok(());
        };
        if busy && since.elapsed() < DAY_FILE_LAG {
            return Ok(());
        }
        match &mut self.projector {
            None => self.project_current(),
            Some(projector) if projector.writing() => Ok(()),
            Some(projector) => {
                projector.send(std::mem::take(&mut self.unwritten).into_iter().collect())?;
                self.unwritten_since = None;
                Ok(())
            }
        }
    }

    /// Makes every day file current before this thread goes on: waits for
    /// the job out and settles it, then writes the days noted since here.
    fn project_current(&mut self) -> Result<()> {
        self.settle_written(true)?;
        if self.unwritten_since.is_none() {
            return Ok(());
        }
        for day in std::mem::take(&mut self.unwritten) {
            projection::write_day(self.engine.store(), &self.days_dir, day)?;
        }
        self.unwritten_since = None;
        Ok(())
    }

    /// Settles the day-file thread's job if it finished (waiting for it
    /// if `wait`): its days off `stale_days` unless changed since, on this
    /// thread's connection.
    fn settle_written(&mut self, wait: bool) -> Result<()> {
        let Some(projector) = &mut self.projector else {
            return Ok(());
        };
        if let Some(written) = projector.finished(wait)? {
            projection::settle_written(self.engine.store(), &self.days_dir, &written)?;
        }
        Ok(())
    }

    /// Logs the engine's outcomes, hands built-in answers back until none
    /// is asked for, and returns how many orphans were recovered and the
    /// days whose files the commits made stale, each once.
    fn drain(&mut self) -> Result<(usize, Vec<NaiveDate>)> {
        let mut days: Vec<NaiveDate> = Vec::new();
        let mut recovered = 0;
        let mut inline = Vec::new();
        loop {
            let Some(output) = self.engine.poll_output() else {
                // Built-in answers go back together, and may ask for more.
                if inline.is_empty() {
                    break;
                }
                self.engine.handle_answers(clock::now(), &std::mem::take(&mut inline))?;
                continue;
            };
            match output {
                Output::SummaryRequested { id, request } => {
                    tracing::debug!(request = %id, session = %request.session_id, kind = request.kind.as_str(), blocks = request.blocks.len(), "summary requested");
                    if self.workers.inline() {
                        inline.push(Workers::answer_inline(id, &request));
                    } else {
                        let tx = self.answers.clone();
                        let spawned = self.workers.spawn(id.clone(), request, move |answer| {
                            let _ = tx.send(Command::Answer(answer));
                        });
                        if let Err(e) = spawned {
                            // No thread, no answer: the failure takes the retry path.
                            tracing::error!(error = %e, "cannot start a summary worker");
                            inline.push(SummaryAnswer {
                                id,
                                outcome: Err(format!("cannot start a summary worker: {e}")),
                            });
                        }
                    }
                }
                Output::ReductionRefused { session_id } => {
                    tracing::warn!(session = %session_id, "reduction refused by the store; the session stays pending");
                }
                Output::AnswerDropped { id, why } => {
                    tracing::debug!(request = %id, ?why, "summary answer no longer applies; asked again if still needed");
                }
                Output::DayTouched(day) => {
                    if !days.contains(&day) {
                        days.push(day);
                    }
                }
                Output::OrphanRecovered(r) => {
                    recovered += 1;
                    // The engine logged the counts per bound in one line.
                    tracing::debug!(session = %r.id, end = %r.end, bound = ?r.bound, evidence = r.had_evidence, "recovered orphan");
                }
                Output::SessionStarted { id, start } => tracing::debug!(session = %id, %start, "session started"),
                Output::SessionEnded { id, end, reason } => {
                    tracing::info!(session = %id, %end, reason = reason.as_str(), "session ended");
                }
                Output::EntryWritten {
                    session_id,
                    entry_id,
                    kind,
                    day,
                } => {
                    tracing::info!(session = %session_id, entry = entry_id, kind = kind.as_str(), %day, "entry written");
                }
                Output::SessionReduced { id } => tracing::debug!(session = %id, "session reduced"),
                Output::ReductionFailed {
                    session_id,
                    retry_count,
                    next_retry_at,
                } => {
                    tracing::warn!(session = %session_id, retry_count, %next_retry_at, "reduction failed");
                }
                Output::FlushFailed { session_id } => tracing::warn!(session = %session_id, "flush failed"),
            }
        }
        Ok((recovered, days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service as [`start`] leaves it, on a fresh data directory, with
    /// its channel; the engine thread not started.
    fn prepared(dir: &tempfile::TempDir) -> (Service, Sender<Command>, Receiver<Command>) {
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        let store = SqliteStore::open(&data.database()).unwrap();
        prepare(store, &Settings::default(), &data).unwrap()
    }

    /// A day whose file waits, as a commit's outputs leave it noted.
    fn waiting(service: &mut Service) -> NaiveDate {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        service.unwritten.insert(day);
        service.unwritten_since = Some(Instant::now());
        day
    }

    #[test]
    fn the_liveness_probe_leaves_waiting_day_files_alone() {
        // The server's stop watcher sends a ping every 200 ms; once it
        // made the engine write every waiting day file, up to five times
        // a second under a stream of ingest requests.
        let dir = tempfile::tempdir().unwrap();
        let (mut service, _tx, rx) = prepared(&dir);
        let day = waiting(&mut service);
        let since = service.unwritten_since;
        let mut queued = VecDeque::new();
        service.dispatch(Command::Ping, &rx, &mut queued).unwrap();
        assert_eq!(service.unwritten.iter().copied().collect::<Vec<_>>(), vec![day]);
        assert_eq!(service.unwritten_since, since);
        assert!(!service.projector.as_ref().is_some_and(projection::Projector::writing));
        assert!(queued.is_empty());

        // Any other command sees the files current: the same day is
        // written before its answer (the control for the check above).
        let (reply, answer) = oneshot::channel();
        service.dispatch(Command::Status(reply), &rx, &mut queued).unwrap();
        assert!(answer.blocking_recv().unwrap().is_ok());
        assert!(service.unwritten.is_empty());
        assert_eq!(service.unwritten_since, None);
    }

    #[test]
    fn a_ping_among_gathered_requests_does_not_end_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, tx, rx) = prepared(&dir);
        waiting(&mut service);
        let now = clock::now();
        let event = |app: &str| Event {
            at: now,
            offset: clock::local_offset(now),
            app: app.into(),
            title: None,
            url: None,
            text: None,
            source: None,
        };
        let (first_reply, first) = oneshot::channel();
        let (second_reply, second) = oneshot::channel();
        tx.send(Command::Ping).unwrap();
        tx.send(Command::Ingest(vec![event("editor")], second_reply)).unwrap();
        let mut queued = VecDeque::new();
        service
            .dispatch(Command::Ingest(vec![event("terminal")], first_reply), &rx, &mut queued)
            .unwrap();
        // The ping consumed, nothing queued or left in the channel (checked
        // first: a group the ping ended would leave the second request
        // unanswered, and waiting for its reply would hang), both
        // requests committed together and acknowledged, and the waiting
        // day still waits.
        assert!(queued.is_empty());
        assert!(rx.try_recv().is_err());
        assert_eq!(first.blocking_recv().unwrap().unwrap().accepted, 1);
        assert_eq!(second.blocking_recv().unwrap().unwrap().accepted, 1);
        assert!(!service.unwritten.is_empty());
    }
}
