//! `Engine`: the orchestration the daemon and the simulator share.
//!
//! The engine owns a [`Store`] and holds, in memory, only what can be
//! rebuilt from the store or safely forgotten: the open session's tracker,
//! the time floor, and the summary requests it has handed out. Every method
//! takes `now`; none reads a clock. Domain outcomes are queued as
//! [`Output`]s and drained with [`Engine::poll_output`].
//!
//! Summaries are requests and answers (SPEC §6), never a call: the engine
//! queues an [`Output::SummaryRequested`] (session, kind, the exact blocks,
//! a [`RequestId`]) and the shell hands the answer back with
//! [`Engine::handle_answers`], whenever it comes. At most
//! `summarizer_concurrency` requests are outstanding; the rest wait in the
//! engine, in the order they were wanted. An answer is committed only if
//! it still applies (its request is this engine's latest for the session,
//! the session is in the phase and retry count it was asked in, and the
//! blocks it covers are exactly the ones still uncovered); otherwise it is
//! dropped ([`Output::AnswerDropped`]) and the reduction asked again. An
//! answer lost in a crash costs nothing: its session is still pending in
//! the store, and the next start's reduce-pending asks again.
//!
//! When to call what (the shell's timers):
//! - [`Engine::start`] once, before any event: builds blocks from durable
//!   events, recovers orphans, reduces everything pending.
//! - [`Engine::handle_events`] for each group commit of events; reply to
//!   the senders only after it returns `Ok`. Then [`Engine::handle_reductions`]
//!   asks for the final reductions of sessions the batch ended.
//! - [`Engine::handle_answers`] with every summary answer that has come
//!   back (all those waiting, together: they commit in one transaction).
//! - [`Engine::handle_tick`] every `tick`; [`Engine::handle_minute`] every
//!   minute; [`Engine::handle_flush`] every `flush`;
//!   [`Engine::handle_safety_net`] at the daily safety net;
//!   [`Engine::handle_shutdown`] on SIGTERM.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use chrono::NaiveDate;

use crate::block::{Block, EntryId, build_blocks};
use crate::config::Config;
use crate::error::Error;
use crate::event::{Event, StoredEvent};
use crate::recovery::{self, RecoveredEnd, RecoveryPlan};
use crate::reduction::{
    Entry, EntryKind, NewEntry, ReductionCommit, Summary, SummaryRequest, builtin_summary, heuristic_summary,
    render_entry,
};
use crate::session::{EndReason, OpenSession, Phase, Session, SessionId};
use crate::store::{IngestStep, Store};
use crate::time::Timestamp;

/// The most sessions' reductions [`Engine::reduce_pending`] commits in
/// one transaction. A batch is cut at this many sessions or at
/// [`REDUCE_BATCH_WINDOWS`] windows, whichever comes first
/// ([`reduce_batch_len`]). A commit's fsync costs 0.1-3.5 ms on the
/// shared disk, and each batch costs SQLite a full-text segment, a WAL
/// commit and a pass over the pages its entries' day index spreads over;
/// sessions of four blocks (an OpenChronicle import) in batches of 1,000
/// paid those 100 times for 10^5 sessions (BENCHMARKS.md, "reduce-pending,
/// fourth pass"). What a batch holds in memory (its entries, a few
/// hundred bytes each, and the reduction keys) and what a crash before
/// its commit throws away (summaries asked for again at the next start)
/// stay bounded by this cap.
pub const REDUCE_BATCH: usize = 10_000;

/// The most timeline windows the sessions of one reduce-pending batch
/// span, summed: an estimate of the blocks the batch reads and holds in
/// memory at once (one block per window a session has events in, each a
/// few hundred bytes of lines). 30,000 is 1,000 sessions of half an hour,
/// the batches that [`REDUCE_BATCH`] alone made before, whose blocks
/// were ~12 MB; sessions of a few minutes go up to [`REDUCE_BATCH`] a
/// batch instead.
pub const REDUCE_BATCH_WINDOWS: u64 = 30_000;

/// How many of `sessions`, from the first, make up the next
/// reduce-pending batch: at least one (if any), at most [`REDUCE_BATCH`],
/// and no more than [`REDUCE_BATCH_WINDOWS`] windows of `window` in all
/// unless the first alone spans more. A session spans the windows from its
/// start's to its end's, both included (an active one, or one whose end is
/// before its start, counts one).
pub fn reduce_batch_len(sessions: &[Session], window: Duration) -> usize {
    let w = i128::try_from(window.as_millis()).unwrap_or(i128::MAX).max(1);
    let windows = |s: &Session| -> u64 {
        let start = i128::from(s.start.0).div_euclid(w);
        let end = s.phase.end().map_or(start, |end| i128::from(end.0).div_euclid(w));
        u64::try_from(end - start + 1).unwrap_or(1).max(1)
    };
    let mut spanned: u64 = 0;
    let mut len = 0;
    for s in sessions.iter().take(REDUCE_BATCH) {
        spanned = spanned.saturating_add(windows(s));
        if len > 0 && spanned > REDUCE_BATCH_WINDOWS {
            break;
        }
        len += 1;
    }
    len
}

/// What reduce-pending makes of one batch with the built-in summarizer:
/// for each of `sessions`, with its uncovered blocks (`blocks`, in the
/// same order), the commit of its reduction: a `late` entry for a reduced
/// session that late events gave new blocks, else a `final` one; the
/// built-in summary of its blocks, rendered; or, with no block left, only
/// the finish. A pure function of its two arguments, handed to the store
/// as a plain `fn` ([`crate::MakeCommits`]), so a store may work the next
/// batch out on another thread while this one commits
/// ([`Store::prefetch_pending_reductions`]) and get what the engine would.
pub fn page_commits(sessions: &[Session], blocks: Vec<Vec<Block>>) -> Vec<ReductionCommit> {
    debug_assert_eq!(blocks.len(), sessions.len(), "blocks for each session");
    sessions
        .iter()
        .zip(blocks)
        .map(|(session, blocks)| {
            let kind = match session.phase {
                Phase::Reduced { .. } => EntryKind::Late,
                Phase::Active | Phase::Ended { .. } | Phase::Failed { .. } => EntryKind::Final,
            };
            let summary = (!blocks.is_empty()).then(|| builtin_summary(&blocks));
            reduction_commit(session, kind, &blocks, summary.as_ref())
        })
        .collect()
}

/// One input, as data: what the simulator logs and replays as `(now, input)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A group commit of events.
    Events(Vec<Event>),
    /// The cut-rule timer.
    Tick,
    /// The one-minute timer: blocks, queued finals, due retries.
    Minute,
    /// The flush timer.
    Flush,
    /// The 23:55 safety net.
    SafetyNet,
    /// The user paused capture.
    Pause,
    /// The user resumed capture.
    Resume,
    /// Graceful stop.
    Shutdown,
    /// Summary answers that came back together.
    Answers(Vec<SummaryAnswer>),
}

/// Which summarizer the shell runs, as far as the engine must know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummarizerKind {
    /// The built-in one: a pure function ([`builtin_summary`]). The shell
    /// answers the engine's requests with it, and reduce-pending applies
    /// it itself, so startup, `daybook recover` and the safety net reduce
    /// thousands of sessions in batches without a round trip each.
    Builtin,
    /// A command or a model: seconds to minutes per answer. Every summary,
    /// reduce-pending's included, is a request.
    External,
}

/// Names one summary request: the engine instance that asked (its session
/// id prefix, different for every run) and a counter. An answer carrying
/// another instance's id was asked for before a restart and is dropped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The asking engine's id prefix.
    pub instance: String,
    /// Its request counter, from 1.
    pub seq: u64,
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.instance, self.seq)
    }
}

/// The shell's answer to one [`Output::SummaryRequested`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryAnswer {
    /// The request it answers.
    pub id: RequestId,
    /// The summary, or why the summarizer failed (for the log; a failure
    /// takes the retry path).
    pub outcome: Result<Summary, String>,
}

/// Why an answer was dropped instead of committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stale {
    /// It was asked by an earlier engine (before a restart).
    Restarted,
    /// This engine never asked it, or it was answered already.
    Unknown,
    /// A newer request for the same session superseded it.
    Superseded,
    /// The session was reduced, ended, failed or retried meanwhile.
    SessionChanged,
    /// Its blocks were covered meanwhile, or new uncovered blocks joined
    /// them in a final reduction.
    BlocksChanged,
}

/// A request handed out and not answered yet.
#[derive(Clone, Debug)]
struct Asked {
    session_id: SessionId,
    kind: EntryKind,
    retry_count: u32,
    blocks: Vec<Block>,
}

/// A domain outcome, for logs, the day-file projector and the simulator's
/// coverage marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A session began with an event.
    SessionStarted {
        /// Its id.
        id: SessionId,
        /// Its start.
        start: Timestamp,
    },
    /// A session ended by a cut rule or a forced end.
    SessionEnded {
        /// Its id.
        id: SessionId,
        /// Its end.
        end: Timestamp,
        /// Why.
        reason: EndReason,
    },
    /// Startup recovery ended an orphan.
    OrphanRecovered(RecoveredEnd),
    /// A reduction committed an entry.
    EntryWritten {
        /// The session.
        session_id: SessionId,
        /// The entry's id.
        entry_id: EntryId,
        /// Its kind.
        kind: EntryKind,
        /// The day file it belongs to.
        day: NaiveDate,
    },
    /// A session became `reduced`.
    SessionReduced {
        /// Its id.
        id: SessionId,
    },
    /// A final reduction failed and will be retried.
    ReductionFailed {
        /// The session.
        session_id: SessionId,
        /// Failures so far.
        retry_count: u32,
        /// When the retry is due.
        next_retry_at: Timestamp,
    },
    /// A flush (or a `late` reduction of a reduced session) failed; the
    /// next flush, or the next reduce-pending, covers more (never retried
    /// itself).
    FlushFailed {
        /// The session.
        session_id: SessionId,
    },
    /// A day's entries changed: rewrite its file.
    DayTouched(NaiveDate),
    /// Summarize `request` and hand the answer back with
    /// [`Engine::handle_answers`], under `id`.
    SummaryRequested {
        /// Names the request in its answer.
        id: RequestId,
        /// The session, the kind and the exact blocks.
        request: SummaryRequest,
    },
    /// The store refused a reduction the engine had checked (a bug, or a
    /// store changed behind the engine's back): logged, and the session
    /// left as the store has it, pending if it was.
    ReductionRefused {
        /// The session.
        session_id: SessionId,
    },
    /// An answer no longer applied and was dropped; if its session still
    /// needs a reduction, it is asked again.
    AnswerDropped {
        /// The answer's request.
        id: RequestId,
        /// Why.
        why: Stale,
    },
}

/// What [`Engine::handle_events`] did with a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Events committed.
    pub accepted: usize,
    /// Events dropped because capture is paused.
    pub dropped_paused: usize,
    /// Indices (in the batch, ascending) of the committed events that were
    /// late (SPEC §2): attributed at their own `at`, behind the watermark.
    pub late: Vec<usize>,
}

/// A batch under construction in [`Engine::handle_events`].
#[derive(Default)]
struct Batch {
    /// The open session as the batch leaves it.
    open: Option<OpenSession>,
    steps: Vec<IngestStep>,
    outputs: Vec<Output>,
    /// Sessions to reduce once the batch commits: those it ended, late
    /// sessions, and reduced sessions that late events gave new blocks.
    ended: Vec<SessionId>,
    started: Vec<SessionId>,
    /// Indices of the late events.
    late: Vec<usize>,
}

/// A late session being gathered: its cut-rule tracker, the start of the
/// session after its gap (it never reaches it), and its events by `at`.
struct LateSession {
    open: OpenSession,
    hi: Timestamp,
    events: Vec<Event>,
}

/// The engine's in-memory state. Paused and open are exclusive: pausing
/// ends the open session.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Open(OpenSession),
    Paused,
}

/// The session engine over a store.
#[derive(Debug)]
pub struct Engine<S: Store> {
    store: S,
    summarizer: SummarizerKind,
    config: Config,
    id_prefix: String,
    next_id: u64,
    /// No event is attributed earlier than this (SPEC §2).
    floor: Timestamp,
    state: State,
    /// Sessions this engine ended whose final reduction has not run yet.
    finals: VecDeque<SessionId>,
    outputs: VecDeque<Output>,
    /// Requests handed out and not answered, by their counter.
    asked: BTreeMap<u64, Asked>,
    /// The latest request of each session in `asked`.
    latest: BTreeMap<SessionId, u64>,
    /// Sessions that need a reduction asked, in the order they were wanted.
    wanted: VecDeque<SessionId>,
    wanted_set: BTreeSet<SessionId>,
    next_request: u64,
}

/// The recovery plan the store's current content calls for, without
/// applying it (`daybook recover --dry-run`).
pub fn plan_recovery<S: Store>(store: &S, config: &Config) -> Result<RecoveryPlan, Error> {
    Ok(recovery::plan(
        &store.recovery_input()?,
        config.max_session,
        config.empty_session,
    ))
}

impl<S: Store> Engine<S> {
    /// Starts the engine on `store` (SPEC §7's order): builds blocks from
    /// every orphan's durable events, recovers orphans, reduces everything
    /// pending (with [`SummarizerKind::External`], asks for it). New
    /// session ids are `id_prefix` plus a counter; the prefix must differ
    /// between runs (the engine also skips ids the store has), and it
    /// names this engine in its [`RequestId`]s.
    pub fn start(
        store: S,
        summarizer: SummarizerKind,
        config: Config,
        id_prefix: impl Into<String>,
        now: Timestamp,
    ) -> Result<Self, Error> {
        let mut engine = Self {
            store,
            summarizer,
            config,
            id_prefix: id_prefix.into(),
            next_id: 1,
            floor: Timestamp(i64::MIN),
            state: State::Idle,
            finals: VecDeque::new(),
            outputs: VecDeque::new(),
            asked: BTreeMap::new(),
            latest: BTreeMap::new(),
            wanted: VecDeque::new(),
            wanted_set: BTreeSet::new(),
            next_request: 1,
        };
        engine.recover()?;
        engine.floor = engine.store.latest_end()?.unwrap_or(Timestamp(i64::MIN));
        engine.reduce_pending(now)?;
        Ok(engine)
    }

    /// Builds orphans' blocks, then plans and applies recovery.
    fn recover(&mut self) -> Result<(), Error> {
        let events = self.store.active_events()?;
        let mut blocks = Vec::new();
        for run in events.chunk_by(|a, b| a.session_id == b.session_id) {
            let id = &run[0].session_id;
            blocks.extend(build_blocks(
                id,
                run,
                self.config.window,
                Timestamp(i64::MIN),
                Timestamp(i64::MAX),
            ));
        }
        if !blocks.is_empty() {
            self.store.write_blocks(&blocks)?;
        }
        let plan = plan_recovery(&self.store, &self.config)?;
        if !plan.is_empty() {
            self.store.recover(&plan)?;
            let c = plan.bound_counts();
            tracing::info!(
                orphans = plan.ends.len(),
                evidence = c.evidence,
                evidence_clamped_next_session = c.evidence_next_session,
                evidence_capped_max_session = c.evidence_max_session,
                fallback = c.fallback,
                fallback_clamped_next_session = c.fallback_next_session,
                fallback_capped_max_session = c.fallback_max_session,
                loose_blocks_owned = plan.owners.len(),
                "recovered orphan sessions"
            );
            for end in plan.ends {
                tracing::debug!(session = %end.id, end = %end.end, bound = ?end.bound, evidence = end.had_evidence, "recovered orphan session");
                self.outputs.push_back(Output::OrphanRecovered(end));
            }
        }
        Ok(())
    }

    /// The store, for reads (status, dumps).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The open session, if any.
    pub fn open_session(&self) -> Option<&OpenSession> {
        match &self.state {
            State::Open(open) => Some(open),
            State::Idle | State::Paused => None,
        }
    }

    /// Whether capture is paused.
    pub fn is_paused(&self) -> bool {
        self.state == State::Paused
    }

    /// The next queued outcome.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Dispatches one input (the replayable form of the `handle_*` calls).
    pub fn handle_input(&mut self, now: Timestamp, input: &Input) -> Result<(), Error> {
        match input {
            Input::Events(events) => self.handle_events(now, events).map(drop),
            Input::Tick => self.handle_tick(now),
            Input::Minute => self.handle_minute(now),
            Input::Flush => self.handle_flush(now),
            Input::SafetyNet => self.handle_safety_net(now),
            Input::Pause => self.handle_pause(now),
            Input::Resume => {
                self.handle_resume();
                Ok(())
            }
            Input::Shutdown => self.handle_shutdown(now),
            Input::Answers(answers) => self.handle_answers(now, answers),
        }
    }

    fn fresh_id(&mut self, taken: &[SessionId]) -> Result<SessionId, Error> {
        loop {
            let id = SessionId(format!("{}{}", self.id_prefix, self.next_id));
            self.next_id += 1;
            if !taken.contains(&id) && self.store.session(&id)?.is_none() {
                return Ok(id);
            }
        }
    }

    /// Attributes and commits a batch of events in one transaction, cutting
    /// sessions where the rules say, each rule checked before the event is
    /// attributed. All or nothing: an invalid event (too far in the
    /// future, or older than `max_lateness`) rejects the batch, and a
    /// failed commit leaves the engine as it was.
    ///
    /// Attribution (SPEC §2): an event no more than `reorder_tolerance`
    /// behind the watermark (the latest instant any session reached) is
    /// attributed at `max(at, watermark)` and goes through the cut rules
    /// of the open session. An event further behind is late: it is
    /// attributed at its own `at`, after the in-order events of the batch,
    /// by [`Engine::place_late`].
    pub fn handle_events(&mut self, now: Timestamp, events: &[Event]) -> Result<Ingested, Error> {
        for e in events {
            e.validate(now, self.config.future_tolerance)?;
            e.validate_lateness(now, self.config.max_lateness)?;
        }
        self.ingest(events, None)
    }

    /// Commits a stretch of **history** a user imports (`daybook import
    /// activitywatch`), in one transaction: like [`Self::handle_events`],
    /// with two differences that make an import derive what a live day
    /// would have, whatever its age.
    ///
    /// - No age refusal: `max_lateness` guards the live path against a
    ///   client replaying a stale buffer; an import is an explicit user
    ///   action bringing history, so its events are refused only when they
    ///   lie in the future (past `future_tolerance`) or before 1970.
    ///   Attribution is unchanged: events at or after the watermark go
    ///   through the cut rules as live events do (an import into an empty
    ///   database gives exactly the sessions a live day would have); events
    ///   behind it are late (SPEC §2) and land in the sessions holding
    ///   them or in late sessions confined to the gaps between existing
    ///   sessions, cut by the usual rules, never overlapping one.
    /// - `quiet_until`: the caller knows nothing happened from the last of
    ///   `events` until this instant (the next event of the history, or
    ///   `now` at its end). The session the batch leaves open is ended in
    ///   the same transaction, by the cut rule that holds at `quiet_until`
    ///   (an importer cuts its batches at idle gaps, so that is `idle_gap`,
    ///   exactly what the next event would have done), or, when no rule
    ///   holds (history that runs up to `now`), with `end_reason =
    ///   imported`. So a batch leaves no open session behind: a kill
    ///   between batches leaves no orphan for recovery to end differently,
    ///   and a re-run continuing after the last committed batch ends with
    ///   the database one uninterrupted import gives.
    ///
    /// Pause does not apply: an import is not capture.
    pub fn handle_history(
        &mut self,
        now: Timestamp,
        events: &[Event],
        quiet_until: Timestamp,
    ) -> Result<Ingested, Error> {
        for e in events {
            e.validate(now, self.config.future_tolerance)?;
        }
        self.ingest(events, Some(quiet_until))
    }

    /// The common body of [`Self::handle_events`] and
    /// [`Self::handle_history`] (see there for `quiet_until`).
    fn ingest(&mut self, events: &[Event], quiet_until: Option<Timestamp>) -> Result<Ingested, Error> {
        if self.state == State::Paused && quiet_until.is_none() {
            return Ok(Ingested {
                accepted: 0,
                dropped_paused: events.len(),
                late: Vec::new(),
            });
        }
        let next_id = self.next_id;
        let mut batch = Batch {
            open: match &self.state {
                State::Open(open) => Some(open.clone()),
                State::Idle | State::Paused => None,
            },
            ..Batch::default()
        };
        let result = self
            .attribute(events, &mut batch)
            .and_then(|floor| match quiet_until {
                Some(quiet) => self.end_history_batch(quiet, &mut batch).map(|()| floor),
                None => Ok(floor),
            })
            .and_then(|floor| self.store.ingest(&batch.steps).map(|()| floor));
        match result {
            Ok(floor) => self.floor = floor,
            Err(e) => {
                self.next_id = next_id;
                return Err(e);
            }
        }
        self.state = match batch.open {
            Some(open) => State::Open(open),
            None if self.state == State::Paused => State::Paused,
            None => State::Idle,
        };
        for id in batch.ended {
            if !self.finals.contains(&id) {
                self.finals.push_back(id);
            }
        }
        self.outputs.extend(batch.outputs);
        Ok(Ingested {
            accepted: events.len(),
            dropped_paused: 0,
            late: batch.late,
        })
    }

    /// Ends the session a history batch leaves open (see
    /// [`Self::handle_history`]), as a step of the batch.
    fn end_history_batch(&mut self, quiet: Timestamp, batch: &mut Batch) -> Result<(), Error> {
        let Some(session) = batch.open.take() else {
            return Ok(());
        };
        let reason = session.cut_at(quiet, &self.config).unwrap_or(EndReason::Imported);
        self.end_in_batch(session, reason, batch)
    }

    /// Ends the batch's open `session` for `reason` at its last event: its
    /// remaining blocks, the `End` step and the outcome.
    fn end_in_batch(&self, session: OpenSession, reason: EndReason, batch: &mut Batch) -> Result<(), Error> {
        let blocks = self.tail_blocks(&session, &batch.steps)?;
        batch.outputs.push(Output::SessionEnded {
            id: session.id.clone(),
            end: session.last,
            reason,
        });
        batch.ended.push(session.id.clone());
        batch.steps.push(IngestStep::End {
            id: session.id,
            end: session.last,
            reason,
            blocks,
        });
        Ok(())
    }

    /// Builds the steps of a batch; returns the new watermark.
    fn attribute(&mut self, events: &[Event], batch: &mut Batch) -> Result<Timestamp, Error> {
        let mut floor = self.floor;
        for (index, event) in events.iter().enumerate() {
            if floor.exceeds(event.at, self.config.reorder_tolerance) {
                batch.late.push(index);
                continue;
            }
            let at = event.at.max(floor);
            floor = at;
            if let Some(session) = batch.open.take_if(|s| s.cut_at(at, &self.config).is_some()) {
                let reason = session.cut_at(at, &self.config).expect("checked by take_if");
                self.end_in_batch(session, reason, batch)?;
            }
            match &mut batch.open {
                Some(session) => {
                    session.observe(at, &event.app, &self.config);
                    batch.steps.push(IngestStep::Append {
                        id: session.id.clone(),
                        attributed: at,
                        event: event.clone(),
                    });
                }
                None => {
                    let id = self.fresh_id(&batch.started)?;
                    batch.started.push(id.clone());
                    batch.outputs.push(Output::SessionStarted {
                        id: id.clone(),
                        start: at,
                    });
                    batch.steps.push(IngestStep::Start {
                        session: Session::active(id.clone(), at, event.offset),
                        first: event.clone(),
                    });
                    batch.open = Some(OpenSession::new(id, at, &event.app, self.config.window));
                }
            }
        }
        if !batch.late.is_empty() {
            let late: Vec<&Event> = batch.late.iter().map(|&i| &events[i]).collect();
            self.place_late(late, batch)?;
        }
        Ok(floor)
    }

    /// Places the batch's late events (SPEC §2), in order of `at`: each
    /// goes to the session whose `[start, end]` holds its `at` (the open
    /// one, one this batch touched, or a stored one), or else to a late
    /// session confined to the gap it falls in. Late sessions are cut by
    /// the usual rules, never reach the next session's start, and end
    /// (`end_reason = late`) in this batch. An event that lands in a
    /// window whose block is written already goes into a new revision of
    /// that window, written in this batch; a reduced session it lands in
    /// is queued for a `late` entry.
    fn place_late(&mut self, mut late: Vec<&Event>, batch: &mut Batch) -> Result<(), Error> {
        late.sort_by_key(|e| e.at);
        let window = self.config.window;
        // The sessions this batch ran through, `(id, start, last)`: their
        // rows (or their ends) are not in the store yet.
        let mut spans: Vec<(SessionId, Timestamp, Timestamp)> = Vec::new();
        if let State::Open(o) = &self.state {
            spans.push((o.id.clone(), o.start, o.last));
        }
        for step in &batch.steps {
            match step {
                IngestStep::Start { session, .. } => spans.push((session.id.clone(), session.start, session.start)),
                IngestStep::Append { id, attributed, .. } => {
                    if let Some(span) = spans.iter_mut().find(|s| s.0 == *id) {
                        span.2 = *attributed;
                    }
                }
                IngestStep::End { .. } | IngestStep::Late { .. } | IngestStep::LateBlocks { .. } => {}
            }
        }
        // Where the events no span holds lie among the stored sessions:
        // one read for the batch ([`Store::around_each`]), not one each.
        // The store is read before the batch commits, so every answer
        // holds for the whole batch; they come in the events' order.
        let unheld: Vec<Timestamp> = late
            .iter()
            .map(|e| e.at)
            .filter(|&at| !spans.iter().any(|s| s.1 <= at && at <= s.2))
            .collect();
        let mut arounds = self.store.around_each(&unheld)?.into_iter();
        let mut revs: BTreeMap<(SessionId, Timestamp), u32> = BTreeMap::new();
        let mut written: BTreeMap<SessionId, Vec<StoredEvent>> = BTreeMap::new();
        let mut tracker: Option<LateSession> = None;
        for event in late {
            let at = event.at;
            let w = at.window_start(window);
            let holder = spans
                .iter()
                .find(|s| s.1 <= at && at <= s.2)
                .map(|span| (span.0.clone(), false));
            let around = match holder {
                Some(_) => None,
                None => Some(
                    arounds
                        .next()
                        .ok_or_else(|| Error::Storage("the store answered fewer instants than it was asked".into()))?,
                ),
            };
            let holder = holder.or_else(|| {
                around
                    .as_ref()
                    .and_then(|a| a.holder.as_ref())
                    .map(|s| (s.id.clone(), matches!(s.phase, Phase::Reduced { .. })))
            });
            if let Some((id, reduced)) = holder {
                let unbuilt = batch.open.as_ref().is_some_and(|o| o.id == id && w >= o.built_until);
                let rev = if unbuilt {
                    0
                } else {
                    self.fresh_rev(&id, w, &batch.steps, &mut revs)?
                };
                if rev > 0 {
                    written.entry(id.clone()).or_default().push(StoredEvent {
                        seq: u64::MAX,
                        session_id: id.clone(),
                        attributed: at,
                        rev,
                        event: event.clone(),
                    });
                }
                if reduced && !batch.ended.contains(&id) {
                    batch.ended.push(id.clone());
                }
                batch.steps.push(IngestStep::Late {
                    id,
                    rev,
                    event: event.clone(),
                });
                continue;
            }
            let around = around.unwrap_or_default();
            let hi = spans
                .iter()
                .map(|s| s.1)
                .filter(|t| *t > at)
                .chain(around.after)
                .min()
                .unwrap_or(Timestamp(i64::MAX));
            if let Some(t) = &mut tracker
                && at < t.hi
                && t.open.cut_at(at, &self.config).is_none()
            {
                t.open.observe(at, &event.app, &self.config);
                t.events.push(event.clone());
                continue;
            }
            if let Some(done) = tracker.take() {
                self.close_late(done, batch);
            }
            let id = self.fresh_id(&batch.started)?;
            batch.started.push(id.clone());
            tracker = Some(LateSession {
                open: OpenSession::new(id, at, &event.app, window),
                hi,
                events: vec![event.clone()],
            });
        }
        if let Some(done) = tracker.take() {
            self.close_late(done, batch);
        }
        for (id, events) in written {
            let blocks = build_blocks(&id, &events, window, Timestamp(i64::MIN), Timestamp(i64::MAX));
            batch.steps.push(IngestStep::LateBlocks { id, blocks });
        }
        Ok(())
    }

    /// The revision a late event into `(id, w)` goes to, when that
    /// window's blocks are written already: one past the highest there
    /// (stored or written earlier in this batch), at least 1, shared by
    /// every late event of this batch into that window.
    fn fresh_rev(
        &self,
        id: &SessionId,
        w: Timestamp,
        steps: &[IngestStep],
        revs: &mut BTreeMap<(SessionId, Timestamp), u32>,
    ) -> Result<u32, Error> {
        if let Some(rev) = revs.get(&(id.clone(), w)) {
            return Ok(*rev);
        }
        let stored = self.store.window_blocks(id, w)?.iter().map(|b| b.rev).max();
        let in_batch = steps
            .iter()
            .filter_map(|s| match s {
                IngestStep::End { id: i, blocks, .. } if i == id => Some(blocks),
                _ => None,
            })
            .flatten()
            .filter(|b| b.start == w)
            .map(|b| b.rev)
            .max();
        let rev = stored.max(in_batch).map_or(1, |r| r + 1);
        revs.insert((id.clone(), w), rev);
        Ok(rev)
    }

    /// The steps of a finished late session: its row, its events, its
    /// end and every block, in the batch's transaction.
    fn close_late(&self, late: LateSession, batch: &mut Batch) {
        let LateSession { open, events, .. } = late;
        let id = open.id.clone();
        let stored: Vec<StoredEvent> = events
            .iter()
            .map(|e| StoredEvent {
                seq: u64::MAX,
                session_id: id.clone(),
                attributed: e.at,
                rev: 0,
                event: e.clone(),
            })
            .collect();
        let blocks = build_blocks(
            &id,
            &stored,
            self.config.window,
            Timestamp(i64::MIN),
            Timestamp(i64::MAX),
        );
        let mut events = events.into_iter();
        let first = events.next().expect("a late session has a first event");
        batch.outputs.push(Output::SessionStarted {
            id: id.clone(),
            start: open.start,
        });
        batch.steps.push(IngestStep::Start {
            session: Session::active(id.clone(), open.start, first.offset),
            first,
        });
        for event in events {
            batch.steps.push(IngestStep::Append {
                id: id.clone(),
                attributed: event.at,
                event,
            });
        }
        batch.outputs.push(Output::SessionEnded {
            id: id.clone(),
            end: open.last,
            reason: EndReason::Late,
        });
        batch.steps.push(IngestStep::End {
            id: id.clone(),
            end: open.last,
            reason: EndReason::Late,
            blocks,
        });
        batch.ended.push(id);
    }

    /// The blocks of `session` not yet written, trailing partial window
    /// included, from its committed events plus those earlier in the batch.
    fn tail_blocks(&self, session: &OpenSession, batch: &[IngestStep]) -> Result<Vec<Block>, Error> {
        let mut events = self.store.session_events(&session.id)?;
        for step in batch {
            let (id, attributed, event) = match step {
                IngestStep::Start { session, first } => (&session.id, session.start, first),
                IngestStep::Append { id, attributed, event } => (id, *attributed, event),
                IngestStep::End { .. } | IngestStep::Late { .. } | IngestStep::LateBlocks { .. } => continue,
            };
            if *id == session.id {
                events.push(StoredEvent {
                    seq: u64::MAX,
                    session_id: id.clone(),
                    attributed,
                    rev: 0,
                    event: event.clone(),
                });
            }
        }
        Ok(build_blocks(
            &session.id,
            &events,
            self.config.window,
            session.built_until,
            Timestamp(i64::MAX),
        ))
    }

    /// Ends the open session (forced or by a cut rule) with its tail blocks
    /// in one transaction, then runs its final reduction.
    fn end_open(&mut self, now: Timestamp, reason: EndReason) -> Result<(), Error> {
        let State::Open(session) = &self.state else {
            return Ok(());
        };
        let blocks = self.tail_blocks(session, &[])?;
        let (id, end) = (session.id.clone(), session.last);
        self.store.end_session(&id, end, reason, &blocks)?;
        self.state = State::Idle;
        self.outputs.push_back(Output::SessionEnded {
            id: id.clone(),
            end,
            reason,
        });
        self.finals.push_back(id);
        self.handle_reductions(now)
    }

    /// Checks the cut rules without an event (every `tick`).
    pub fn handle_tick(&mut self, now: Timestamp) -> Result<(), Error> {
        let State::Open(session) = &self.state else {
            return Ok(());
        };
        match session.cut_at(now.max(session.last), &self.config) {
            Some(reason) => self.end_open(now, reason),
            None => Ok(()),
        }
    }

    /// Writes the open session's blocks for closed windows: windows that
    /// end at or before the start of the window holding its latest event.
    /// Attributed time never goes back, so no event can land in them later.
    fn build_closed_blocks(&mut self) -> Result<(), Error> {
        let State::Open(session) = &self.state else {
            return Ok(());
        };
        let cutoff = session.last.window_start(self.config.window);
        if cutoff <= session.built_until {
            return Ok(());
        }
        let events = self.store.session_events(&session.id)?;
        let blocks = build_blocks(&session.id, &events, self.config.window, session.built_until, cutoff);
        if !blocks.is_empty() {
            self.store.write_blocks(&blocks)?;
        }
        if let State::Open(session) = &mut self.state {
            session.built_until = cutoff;
        }
        Ok(())
    }

    /// The one-minute timer: closed blocks, queued final reductions, due
    /// retries (each asked for, as slots free up).
    pub fn handle_minute(&mut self, now: Timestamp) -> Result<(), Error> {
        self.build_closed_blocks()?;
        self.want_finals();
        for session in self.store.due_sessions(now)? {
            self.want(session.id);
        }
        self.pump(now)
    }

    /// Asks for the final reductions of sessions this engine ended. Call
    /// after acknowledging an ingest batch; it reads nothing when no batch
    /// ended a session and no slot is free (due retries wait for
    /// [`Engine::handle_minute`]).
    pub fn handle_reductions(&mut self, now: Timestamp) -> Result<(), Error> {
        self.want_finals();
        self.pump(now)
    }

    /// Asks for an incremental reduction of the open session's closed
    /// blocks. A flush already asked and not answered is left to cover
    /// what it asked for; the next flush covers more.
    pub fn handle_flush(&mut self, now: Timestamp) -> Result<(), Error> {
        self.build_closed_blocks()?;
        if let State::Open(open) = &self.state {
            let id = open.id.clone();
            self.want(id);
        }
        self.pump(now)
    }

    /// The daily safety net: ends the open session and reduces everything
    /// pending. (Checkpointing the WAL is the daemon's part.)
    pub fn handle_safety_net(&mut self, now: Timestamp) -> Result<(), Error> {
        self.end_open(now, EndReason::DailySafetyNet)?;
        self.reduce_pending(now)
    }

    /// Pausing ends the open session; events are dropped until resume.
    pub fn handle_pause(&mut self, now: Timestamp) -> Result<(), Error> {
        self.end_open(now, EndReason::Paused)?;
        self.state = State::Paused;
        Ok(())
    }

    /// Resumes capture; the next event starts a new session.
    pub fn handle_resume(&mut self) {
        if self.state == State::Paused {
            self.state = State::Idle;
        }
    }

    /// Graceful stop: ends the open session with reason `shutdown` and
    /// finishes its final reduction.
    pub fn handle_shutdown(&mut self, now: Timestamp) -> Result<(), Error> {
        self.end_open(now, EndReason::Shutdown)
    }

    /// Reduces every `ended` or `failed` session (failed ones regardless of
    /// their retry time; each attempt counts): startup, `daybook recover`,
    /// `daybook reduce-pending` and the safety net.
    ///
    /// With [`SummarizerKind::External`] every such session is wanted and
    /// asked for as slots free up (answers commit as they come, those that
    /// come together in one transaction). With [`SummarizerKind::Builtin`]
    /// the engine applies the built-in summary itself and commits
    /// its reductions in batches, up to [`REDUCE_BATCH`] sessions and
    /// [`REDUCE_BATCH_WINDOWS`] windows to a transaction
    /// ([`Store::commit_reductions`]). Each batch's commits are worked out
    /// just before it commits ([`Store::pending_reductions`] with
    /// [`page_commits`]: the uncovered blocks of its sessions read in one
    /// pass, summarized and rendered), so at most two batches' blocks or
    /// commits are in memory at a time (all the blocks at once were
    /// 300,000 for 10^4 sessions of 30, their fresh pages a cost of their
    /// own): the batch in hand, and the next one, which the store is told
    /// of ([`Store::prefetch_pending_reductions`]) as soon as this one's
    /// commits are in hand, so it may read, summarize and render the next
    /// while this one commits (in a pass of more than one batch, the
    /// first is announced right before it is asked for). A batch's read
    /// sees the earlier batches committed (or, read early, not yet the
    /// one before it), which touched none of its sessions: the same
    /// blocks as one read up front, hence the same commits
    /// ([`page_commits`] depends on the sessions and their blocks alone).
    /// An answer still outstanding for a session reduced here is dropped
    /// when it comes ([`Stale::SessionChanged`]). If the store refuses a
    /// batch (a `Conflict` or an unknown session in any of it, so nothing
    /// of it committed), the batch is committed again one reduction at a
    /// time: each refused one is logged at WARN and left as the store has
    /// it (a session still pending is tried again at the next
    /// reduce-pending), and one bad session never holds back the rest. A
    /// storage error stops here: the batch in hand is lost, its sessions
    /// stay pending, earlier batches stay committed.
    pub fn reduce_pending(&mut self, now: Timestamp) -> Result<(), Error> {
        self.finals.clear();
        match self.summarizer {
            SummarizerKind::External => {
                for session in self.store.pending_sessions()? {
                    self.want(session.id);
                }
                self.pump(now)
            }
            SummarizerKind::Builtin => {
                // In key order, not start order: each batch's sessions
                // are then neighbours in every table keyed by session
                // (`sessions`, its status index, `coverage`, `blocks`,
                // `late_pending`), so a batch reads and dirties a few
                // pages of each instead of pages all over them (imported
                // ids are random against start order: 10^5 of them in
                // start order made every batch rewrite most of those
                // tables, BENCHMARKS.md). Sessions reduce independently of
                // each other, so the order changes only which batch each
                // gets. Inside a batch they go in start order, so entry ids
                // follow the sessions' starts wherever the batches happen
                // to be cut: an import killed and re-run reduces its
                // sessions in other groups than one uninterrupted run, and
                // must end with the same database.
                //
                // The pages are cut up front, so the store can be told the
                // next page while this one commits
                // ([`Store::prefetch_pending_reductions`]): a page's commit
                // touches only its own sessions, so the next page's blocks
                // read before it are the blocks read after it, and its
                // commits, worked out from them, the same too.
                let mut sessions = self.store.pending_sessions()?;
                sessions.sort_unstable_by(|a, b| a.id.cmp(&b.id));
                let mut pages = Vec::new();
                let mut rest = &mut sessions[..];
                while !rest.is_empty() {
                    let len = reduce_batch_len(rest, self.config.window);
                    let (page, next) = std::mem::take(&mut rest).split_at_mut(len);
                    rest = next;
                    page.sort_unstable_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
                    pages.push(&*page);
                }
                // In a pass of more than one page the first is announced
                // too, right before it is asked for: a store that works
                // pages out beside the caller then works this one on two
                // cores as well. A pass of one page is mostly a small one
                // (a start after a crash, the safety net, an import's
                // every 32 sessions), where the store's thread and second
                // connection cost more than they save (3-4 ms more to a
                // start after a kill, BENCHMARKS.md "Chunked prefetch").
                if let [first, _, ..] = pages[..] {
                    self.store.prefetch_pending_reductions(first, page_commits);
                }
                for (i, &page) in pages.iter().enumerate() {
                    let batch = self.store.pending_reductions(page, page_commits)?;
                    debug_assert_eq!(batch.len(), page.len(), "a commit for each session");
                    if let Some(next) = pages.get(i + 1) {
                        self.store.prefetch_pending_reductions(next, page_commits);
                    }
                    self.commit_batch(batch)?;
                }
                self.pump(now)
            }
        }
    }

    /// How many summary requests are outstanding (handed out, not answered).
    pub fn outstanding(&self) -> usize {
        self.asked.len()
    }

    /// How many sessions wait for a free slot to be asked for.
    pub fn waiting(&self) -> usize {
        self.wanted.len()
    }

    fn want_finals(&mut self) {
        while let Some(id) = self.finals.pop_front() {
            self.want(id);
        }
    }

    fn want(&mut self, id: SessionId) {
        if self.wanted_set.insert(id.clone()) {
            self.wanted.push_back(id);
        }
    }

    /// Hands out requests for wanted sessions while fewer than
    /// `summarizer_concurrency` are outstanding. A session needing nothing
    /// (reduced, or active with no closed block uncovered) is passed over;
    /// a final reduction with nothing left to cover needs no summary and
    /// commits at once (all of them in one batch); a request equal in kind
    /// and blocks to the session's outstanding one is not asked twice, nor
    /// is a flush while a flush is outstanding (so a model slower than
    /// the flush interval still gets its flush answered); any other
    /// supersedes the outstanding one, whose answer will be dropped.
    fn pump(&mut self, now: Timestamp) -> Result<(), Error> {
        let mut finishes = Vec::new();
        while self.asked.len() < self.config.summarizer_concurrency {
            let Some(id) = self.wanted.pop_front() else {
                break;
            };
            self.wanted_set.remove(&id);
            let Some(session) = self.store.session(&id)? else {
                continue;
            };
            // A reduced session is wanted only when late events gave it
            // new blocks: a `late` entry covers just those.
            let kind = match session.phase {
                Phase::Reduced { .. } => EntryKind::Late,
                Phase::Active => EntryKind::Flush,
                Phase::Ended { .. } | Phase::Failed { .. } => EntryKind::Final,
            };
            let blocks = self.store.uncovered_blocks(&id)?;
            if let Some(asked) = self.latest.get(&id).and_then(|seq| self.asked.get(seq))
                && asked.kind == kind
                && (kind == EntryKind::Flush || asked.blocks == blocks)
            {
                continue;
            }
            if blocks.is_empty() {
                if kind == EntryKind::Final {
                    self.latest.remove(&id);
                    finishes.push(reduction_commit(&session, kind, &[], None));
                }
                continue;
            }
            let seq = self.next_request;
            self.next_request += 1;
            self.asked.insert(
                seq,
                Asked {
                    session_id: id.clone(),
                    kind,
                    retry_count: session.retry_count,
                    blocks: blocks.clone(),
                },
            );
            self.latest.insert(id.clone(), seq);
            self.outputs.push_back(Output::SummaryRequested {
                id: RequestId {
                    instance: self.id_prefix.clone(),
                    seq,
                },
                request: SummaryRequest {
                    session_id: id,
                    kind,
                    blocks,
                },
            });
        }
        tracing::trace!(%now, outstanding = self.asked.len(), waiting = self.wanted.len(), "summary requests");
        self.commit_batch(finishes)
    }

    /// Takes summary answers back: each one that still applies becomes a
    /// reduction (a failure: the retry path, or at the last attempt the
    /// heuristic entry over the same blocks), and all of them commit in
    /// one transaction. An answer that no longer applies is dropped and
    /// its session wanted again. Then more requests are handed out for
    /// the slots the answers freed.
    pub fn handle_answers(&mut self, now: Timestamp, answers: &[SummaryAnswer]) -> Result<(), Error> {
        let mut batch = Vec::new();
        for answer in answers {
            if let Some(commit) = self.answered(now, answer)? {
                batch.push(commit);
            }
        }
        self.commit_batch(batch)?;
        self.pump(now)
    }

    /// One answer checked against its request and the store: the commit it
    /// calls for, if any.
    fn answered(&mut self, now: Timestamp, answer: &SummaryAnswer) -> Result<Option<ReductionCommit>, Error> {
        let drop = |engine: &mut Self, why: Stale| {
            tracing::debug!(request = %answer.id, ?why, "summary answer dropped");
            engine.outputs.push_back(Output::AnswerDropped {
                id: answer.id.clone(),
                why,
            });
        };
        if answer.id.instance != self.id_prefix {
            drop(self, Stale::Restarted);
            return Ok(None);
        }
        let Some(asked) = self.asked.remove(&answer.id.seq) else {
            drop(self, Stale::Unknown);
            return Ok(None);
        };
        let id = asked.session_id.clone();
        if self.latest.get(&id) != Some(&answer.id.seq) {
            drop(self, Stale::Superseded);
            return Ok(None);
        }
        self.latest.remove(&id);
        let Some(session) = self.store.session(&id)? else {
            drop(self, Stale::SessionChanged);
            return Ok(None);
        };
        let same_phase = match session.phase {
            Phase::Active => asked.kind == EntryKind::Flush,
            Phase::Ended { .. } | Phase::Failed { .. } => asked.kind == EntryKind::Final,
            Phase::Reduced { .. } => asked.kind == EntryKind::Late,
        };
        if !same_phase || session.retry_count != asked.retry_count {
            drop(self, Stale::SessionChanged);
            self.want(id);
            return Ok(None);
        }
        let uncovered = self.store.uncovered_blocks(&id)?;
        let blocks_hold = match asked.kind {
            EntryKind::Flush => uncovered.starts_with(&asked.blocks),
            _ => uncovered == asked.blocks,
        };
        if !blocks_hold {
            drop(self, Stale::BlocksChanged);
            self.want(id);
            return Ok(None);
        }
        let kind = asked.kind;
        match &answer.outcome {
            Ok(summary) => Ok(Some(reduction_commit(&session, kind, &asked.blocks, Some(summary)))),
            Err(e) if matches!(kind, EntryKind::Flush | EntryKind::Late) => {
                tracing::warn!(session = %id, error = %e, kind = kind.as_str(), "flush or late reduction failed; the next reduction covers more");
                self.outputs.push_back(Output::FlushFailed { session_id: id });
                Ok(None)
            }
            Err(e) => {
                let attempts = session.retry_count + 1;
                if attempts >= self.config.max_reduce_attempts {
                    tracing::warn!(session = %id, error = %e, attempts, "summarizer gave up; writing a heuristic entry");
                    let summary = heuristic_summary(&asked.blocks, attempts);
                    Ok(Some(reduction_commit(
                        &session,
                        EntryKind::Heuristic,
                        &asked.blocks,
                        Some(&summary),
                    )))
                } else {
                    let next_retry_at = now + self.config.backoff(session.retry_count);
                    tracing::warn!(session = %id, error = %e, attempts, %next_retry_at, "reduction failed; will retry");
                    self.store.mark_failed(&id, attempts, next_retry_at)?;
                    self.outputs.push_back(Output::ReductionFailed {
                        session_id: id,
                        retry_count: attempts,
                        next_retry_at,
                    });
                    Ok(None)
                }
            }
        }
    }

    /// Commits `commits` in one transaction, or one by one if the store
    /// refuses the batch (see [`Engine::reduce_pending`]), and queues their
    /// outcomes, each touched day once.
    fn commit_batch(&mut self, commits: Vec<ReductionCommit>) -> Result<(), Error> {
        if commits.is_empty() {
            return Ok(());
        }
        let mut days = BTreeSet::new();
        match self.store.commit_reductions(&commits) {
            Ok(entries) => {
                for (commit, entry) in commits.into_iter().zip(entries) {
                    self.committed(commit, entry, Some(&mut days));
                }
            }
            Err(e @ (Error::Conflict { .. } | Error::UnknownSession(_))) => {
                tracing::warn!(error = %e, sessions = commits.len(), "a batch of reductions was refused; committing them one by one");
                for commit in commits {
                    match self.store.commit_reduction(&commit) {
                        Ok(entry) => {
                            self.committed(commit, entry, Some(&mut days));
                        }
                        Err(e @ (Error::Conflict { .. } | Error::UnknownSession(_))) => {
                            tracing::warn!(session = %commit.session_id, error = %e, "reduction refused; the session stays as the store has it");
                            self.outputs.push_back(Output::ReductionRefused {
                                session_id: commit.session_id,
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        self.outputs.extend(days.into_iter().map(Output::DayTouched));
        Ok(())
    }

    /// Queues the outcomes of a committed reduction. The day its entry
    /// touched is queued at once, or, given `days`, collected there for
    /// the caller to queue each day once. Both are taken, so their
    /// session ids move into the outputs instead of being copied; the
    /// entry's session is the commit's (a store refuses a commit whose
    /// entry names another session, `Conflict`, as the conformance suite
    /// checks).
    fn committed(&mut self, commit: ReductionCommit, entry: Option<Entry>, days: Option<&mut BTreeSet<NaiveDate>>) {
        if let Some(entry) = entry {
            let day = entry.day();
            self.outputs.push_back(Output::EntryWritten {
                session_id: entry.session_id,
                entry_id: entry.id,
                kind: entry.kind,
                day,
            });
            match days {
                Some(days) => {
                    days.insert(day);
                }
                None => self.outputs.push_back(Output::DayTouched(day)),
            }
        }
        if commit.finish {
            self.outputs.push_back(Output::SessionReduced { id: commit.session_id });
        }
    }
}

/// The commit of one reduction of `session`: an entry of `kind` over
/// `blocks` when there is a summary, else (a final reduction with nothing
/// left) only the finish.
fn reduction_commit(
    session: &Session,
    kind: EntryKind,
    blocks: &[Block],
    summary: Option<&Summary>,
) -> ReductionCommit {
    let entry = match (blocks.first(), blocks.last(), summary) {
        (Some(first), Some(last), Some(summary)) => Some(NewEntry {
            session_id: session.id.clone(),
            kind,
            from: first.start,
            to: last.end,
            offset: first.offset,
            body: render_entry(&session.id, kind, first.start, last.end, first.offset, summary),
        }),
        _ => None,
    };
    ReductionCommit {
        session_id: session.id.clone(),
        covered: if entry.is_some() {
            blocks.iter().map(|b| (b.start, b.rev)).collect()
        } else {
            Vec::new()
        },
        // A late entry's blocks lie anywhere in the session: the session's
        // `flush_end` stays where its own reductions left it.
        flush_end: entry.as_ref().filter(|_| kind != EntryKind::Late).map(|e| e.to),
        entry,
        finish: !matches!(kind, EntryKind::Flush | EntryKind::Late),
    }
}
