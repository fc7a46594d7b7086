//! The engine thread: owns the [`Engine`] over the [`SqliteStore`], runs its
//! timers, group-commits ingest requests, and projects day files. The HTTP
//! layer talks to it only through [`Command`]s, so exactly one thread ever
//! touches the engine and the database connection.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use daybook_core::{Engine, Event, Output, Session, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::clock;
use crate::config::Settings;
use crate::datadir::{DataDir, FileWatch};
use crate::error::{Error, Result};
use crate::projection;
use crate::store::SqliteStore;
use crate::summarizer::DaemonSummarizer;

/// The most events one group commit takes before it commits.
const GROUP_COMMIT_MAX: usize = 20_000;

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
    /// Stop: end the open session, finish its reduction, return.
    Shutdown,
    /// Liveness probe; ignored.
    Ping,
}

/// The engine thread's state.
struct Service {
    engine: Engine<SqliteStore, DaemonSummarizer>,
    settings: Settings,
    days_dir: std::path::PathBuf,
    watch: FileWatch,
}

/// Opens the engine: SPEC §7's startup (blocks from durable events,
/// recovery, reduce-pending), then the day files rebuilt. Returns only
/// when the daemon may accept events. `store` must be `data`'s database,
/// opened and found sound: from here on the engine thread keeps its
/// fingerprint record current.
pub fn start(store: SqliteStore, settings: &Settings, data: &DataDir) -> Result<ServiceHandle> {
    let mut watch = data.watch();
    watch.after_writes();
    let summarizer = crate::server::summarizer(settings)?;
    let now = clock::now();
    let prefix = format!("s{}-", now.0);
    let mut engine = Engine::start(store, summarizer, settings.engine.clone(), prefix, now)?;
    if engine.store().daemon_state()?.paused {
        // No session is open yet: this only keeps events out until resume.
        engine.handle_pause(now)?;
        tracing::warn!("capture is paused (paused before this start); POST /v1/resume to resume");
    }
    let mut service = Service {
        engine,
        settings: settings.clone(),
        days_dir: data.days(),
        watch,
    };
    let recovered = service.drain_outputs()?;
    let rebuilt = projection::rebuild_all(service.engine.store(), &service.days_dir)?;
    service.watch.after_writes();
    tracing::info!(recovered, day_files_rebuilt = rebuilt.len(), "startup complete");
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("daybook-engine".into())
        .spawn(move || service.run(&rx))
        .map_err(|source| Error::Io {
            what: "starting engine thread",
            path: ".".into(),
            source,
        })?;
    Ok(ServiceHandle { tx, thread })
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
                Some(Command::Shutdown) => return self.shutdown(),
                Some(Command::Ingest(events, reply)) => self.group_commit(events, reply, rx, &mut queued)?,
                Some(other) => self.answer(other)?,
                None => {}
            }
            self.run_timers(&mut timers)?;
            self.watch.after_writes();
        }
    }

    fn run_timers(&mut self, timers: &mut Timers) -> Result<()> {
        let instant = Instant::now();
        let now = clock::now();
        if instant >= timers.tick {
            timers.tick = instant + timers.tick_every;
            self.engine.handle_tick(now)?;
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
        self.drain_outputs()?;
        Ok(())
    }

    /// Takes this request and every ingest request already waiting, commits
    /// them in one transaction, and answers each.
    fn group_commit(
        &mut self,
        first: Vec<Event>,
        reply: oneshot::Sender<Result<Accepted, Refused>>,
        rx: &Receiver<Command>,
        queued: &mut VecDeque<Command>,
    ) -> Result<()> {
        let now = clock::now();
        let mut requests = vec![(first, reply)];
        let mut total = requests[0].0.len();
        while total < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(Command::Ingest(events, reply)) => {
                    total += events.len();
                    requests.push((events, reply));
                }
                Ok(other) => {
                    queued.push_back(other);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
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
                for (_, reply) in requests {
                    let _ = reply.send(Err(Refused::DiskFull { free, floor }));
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read the free disk space"),
        }
        let mut batch = Vec::with_capacity(total);
        let mut answers = Vec::with_capacity(requests.len());
        let mut ignored = 0;
        for (events, reply) in requests {
            // Checked here against this `now` and the configured tolerance,
            // request by request, so one bad request cannot fail the group.
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
                    batch.extend(kept);
                    answers.push((counts, batch.len(), reply));
                }
                Err(refused) => {
                    let _ = reply.send(Err(refused));
                }
            }
        }
        self.engine.store().stage_dropped(0, ignored);
        match self.engine.handle_events(now, &batch) {
            Ok(done) => {
                // A paused engine wrote nothing: the counts commit alone,
                // still before any reply.
                let store = self.engine.store();
                store.stage_dropped(done.dropped_paused as u64, 0);
                if let Err(e) = store.commit_staged() {
                    tracing::error!(error = %e, "could not count dropped events");
                    self.watch.distrust();
                    for (_, _, reply) in answers {
                        let _ = reply.send(Err(Refused::Failed(e.to_string())));
                    }
                    return Ok(());
                }
                // Recorded before the replies, so a kill right after an
                // acknowledgement finds the record current.
                self.watch.after_writes();
                let paused = done.dropped_paused > 0;
                // Each request's late events, from the batch's indices:
                // request k holds batch indices [ends[k-1], ends[k]).
                let mut late = done.late.iter().peekable();
                for (mut counts, end, reply) in answers {
                    while late.next_if(|&&i| i < end).is_some() {
                        counts.late += 1;
                    }
                    if paused {
                        counts.dropped_paused = counts.accepted;
                        counts.accepted = 0;
                    }
                    let _ = reply.send(Ok(counts));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "group commit failed; nothing of it was stored");
                self.engine.store().discard_staged();
                self.watch.distrust();
                for (_, _, reply) in answers {
                    let _ = reply.send(Err(Refused::Failed(e.to_string())));
                }
                return Ok(());
            }
        }
        self.engine.handle_reductions(now)?;
        self.drain_outputs()?;
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
                let r = projection::render(self.engine.store(), day);
                let _ = reply.send(self.answered(r));
            }
            Command::Ping => {}
            Command::Ingest(..) | Command::Shutdown => unreachable!("handled by run"),
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
        let counts = store.status_counts()?;
        let state = store.daemon_state()?;
        Ok(Status {
            running: true,
            paused: self.engine.is_paused(),
            open_session: open,
            events_total: counts.events,
            dropped_paused: state.dropped_paused,
            dropped_ignored: state.dropped_ignored,
            pending_sessions: counts.ended,
            failed_sessions: counts.failed,
            refused_requests: 0,
            request_bytes_in_flight: 0,
        })
    }

    fn shutdown(mut self) -> Result<Stopped> {
        let now = clock::now();
        self.engine.handle_shutdown(now)?;
        self.drain_outputs()?;
        tracing::info!("engine stopped");
        Ok(Stopped {
            vouch: self.watch.trusted(),
        })
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

    /// Logs the engine's outcomes and rewrites the day files they touched.
    /// Returns how many orphans were recovered.
    fn drain_outputs(&mut self) -> Result<usize> {
        let mut days: Vec<NaiveDate> = Vec::new();
        let mut recovered = 0;
        while let Some(output) = self.engine.poll_output() {
            match output {
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
        for day in days {
            projection::write_day(self.engine.store(), &self.days_dir, day)?;
        }
        Ok(recovered)
    }
}
