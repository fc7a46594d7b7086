//! The world a run shares between the supervisor and the node: everything
//! that outlives a node kill. The durable state itself sits behind the
//! store factory; beside it the run keeps what the capture client knows
//! (which step it delivers next, which events were acknowledged), the
//! dice, the trace and the coverage marks.
//!
//! No lock here is ever held across an `.await` or a call into the engine.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use daybook_core::recovery::EndBound;
use daybook_core::{
    Config, EndReason, EntryKind, Event, Input, Output, SessionId, Stale, Summarizer, SummaryAnswer, Timestamp,
};

use crate::coverage::{Coverage, Mark};
use crate::failure::Failure;
use crate::faults::{FaultPlan, SharedFaults};
use crate::rng::Rng;
use crate::stores::StoreFactory;
use crate::summarizer::{SimSummarizer, SummarizerState};
use crate::trace::TraceHash;
use crate::workload::{Action, Workload};

/// The stream the node's choice among simultaneously due inputs draws from.
const ORDER_STREAM: u64 = 6;
/// The stream how long each summary takes draws from.
const DELAY_STREAM: u64 = 7;
/// The stream the capture client's queue draws from.
const CLIENT_STREAM: u64 = 10;

/// A summary the simulated summarizer is working on: its answer is
/// computed when asked (from the summarizer's health then) and handed to
/// the engine at `due`, if the engine that asked still runs.
#[derive(Clone, Debug)]
pub(crate) struct Flight {
    /// When the answer is ready (monotonic ms).
    pub(crate) due: u64,
    /// The engine start that asked.
    pub(crate) run: u64,
    /// The answer.
    pub(crate) answer: SummaryAnswer,
    /// Event batches ingested before it was asked.
    events: u64,
    /// Flushes run before it was asked.
    flushes: u64,
}

/// One call into the engine, as the trace records it.
#[derive(Debug)]
pub(crate) enum Call<'a> {
    /// `Engine::start`: recovery and reduce-pending.
    Start,
    /// One input.
    Input(&'a Input),
    /// `handle_reductions` after an acknowledged batch.
    Reductions,
}

/// Everything of a run that survives the node.
pub(crate) struct World<F> {
    pub(crate) factory: F,
    pub(crate) workload: Workload,
    pub(crate) config: Config,
    pub(crate) faults: SharedFaults,
    pub(crate) summarizer: Arc<Mutex<SummarizerState>>,
    /// Every source the client sends in the run.
    pub(crate) sent: BTreeSet<String>,
    pub(crate) verbose: bool,
    log: Mutex<Log>,
}

/// The run's mutable record.
pub(crate) struct Log {
    /// Index of the next workload step the client delivers.
    pub(crate) cursor: usize,
    /// Sources of events the daemon acknowledged.
    pub(crate) acked: BTreeSet<String>,
    /// Order of simultaneously due inputs.
    pub(crate) order: Rng,
    pub(crate) trace: TraceHash,
    pub(crate) coverage: Coverage,
    /// Engine starts so far.
    pub(crate) starts: u64,
    /// Supervisor kills so far.
    pub(crate) kills: u64,
    /// Engine inputs handled so far.
    pub(crate) inputs: u64,
    /// The first failure; the run stops at it.
    pub(crate) failure: Option<Failure>,
    /// The `now` of the previous input, to spot a clock going backwards.
    last_now: Option<Timestamp>,
    /// Sessions whose final reduction failed at least once.
    failed: BTreeSet<SessionId>,
    /// Summaries being worked on, in the order they were asked.
    pub(crate) flights: Vec<Flight>,
    /// How long each summary takes.
    delays: Rng,
    /// The highest request counter answered in this run.
    answered_seq: u64,
    /// Whether the node's last stop was graceful (not a kill or a crash).
    pub(crate) graceful: bool,
    /// Event batches and flushes handed to the engine so far.
    event_inputs: u64,
    flush_inputs: u64,
    /// Ids of the sessions imported from the older tool.
    imported: BTreeSet<SessionId>,
    /// The client's queue: captures held while the daemon was down,
    /// replayed after its live captures, in order.
    pub(crate) queue: VecDeque<Event>,
    /// When the client sends the next part of its queue.
    pub(crate) replay_at: Option<u64>,
    /// The client's dice: live first or in order, chunk sizes, delays.
    client: Rng,
    /// Sources the daemon refused as older than `max_lateness`.
    pub(crate) refused: BTreeSet<String>,
    /// The latest `at` of an event this engine attributed in order: an
    /// in-order event before it was attributed at the watermark.
    pub(crate) high: Option<Timestamp>,
}

impl<F: StoreFactory> World<F> {
    pub(crate) fn new(factory: F, workload: Workload, verbose: bool) -> Self {
        let swarm = &workload.swarm;
        let faults = Arc::new(Mutex::new(FaultPlan::new(
            workload.seed,
            swarm.crash_per_mille,
            swarm.crash_budget,
        )));
        let summarizer = Arc::new(Mutex::new(SummarizerState::new(
            workload.seed,
            swarm.summarizer_fail_per_mille,
        )));
        let sent = workload
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Events(events) => Some(events.iter().filter_map(|e| e.source.clone())),
                Action::Pause | Action::Resume | Action::Shutdown => None,
            })
            .flatten()
            .collect();
        let log = Log {
            cursor: 0,
            acked: BTreeSet::new(),
            order: Rng::new(workload.seed, ORDER_STREAM),
            trace: TraceHash::new(),
            coverage: Coverage::default(),
            starts: 0,
            kills: 0,
            inputs: 0,
            failure: None,
            last_now: None,
            failed: BTreeSet::new(),
            flights: Vec::new(),
            delays: Rng::new(workload.seed, DELAY_STREAM),
            answered_seq: 0,
            graceful: false,
            event_inputs: 0,
            flush_inputs: 0,
            imported: workload.import.sessions.iter().map(|s| s.id.clone()).collect(),
            queue: VecDeque::new(),
            replay_at: None,
            client: Rng::new(workload.seed, CLIENT_STREAM),
            refused: BTreeSet::new(),
            high: None,
        };
        let empty_session = if swarm.long_empty_session {
            Duration::from_secs(3 * 3600)
        } else {
            Config::default().empty_session
        };
        Self {
            factory,
            workload,
            // The workload's clock jumps back (up to three jumps of up to
            // 90 minutes), and a client that could not deliver before a
            // jump (an outage) sends events stamped before it: at the
            // default 60 s, SPEC §2 refuses them, and the simulated client
            // has no refusal path. The simulator keeps the bound it had
            // before the tolerance existed, one day, so those batches are
            // still accepted (and attributed at the floor); the 60 s
            // refusal itself is tested against the daemon.
            config: Config {
                future_tolerance: Duration::from_secs(24 * 3600),
                empty_session,
                ..Config::default()
            },
            faults,
            summarizer,
            sent,
            verbose,
            log: Mutex::new(log),
        }
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Monotonic milliseconds since the run began (madsim's clock).
    pub(crate) fn mono(&self) -> u64 {
        u64::try_from(madsim::time::TimeHandle::current().elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn failed(&self) -> bool {
        self.log().failure.is_some()
    }

    /// Records the first failure of the run.
    pub(crate) fn fail(&self, failure: Failure) {
        let mut log = self.log();
        if log.failure.is_none() {
            if self.verbose {
                println!("FAIL {failure}");
            }
            log.failure = Some(failure);
        }
    }

    /// Tells the summarizer whether the workload has it down at `mono`.
    pub(crate) fn set_summarizer(&self, mono: u64) {
        let down = self.workload.summarizer_down(mono);
        self.summarizer.lock().unwrap_or_else(PoisonError::into_inner).down = down;
    }

    /// Adds one engine call and its outcome to the trace and the marks,
    /// and hands each summary request among the outputs to the simulated
    /// summarizer: its answer comes back after the seed's delay. A
    /// refused reduction fails the run (the engine checks every answer
    /// before it commits it; the store refusing one means a stale answer
    /// got through).
    pub(crate) fn observe(&self, mono: u64, now: Timestamp, call: Call<'_>, ok: bool, outputs: &[Output]) {
        let refused: Vec<_> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::ReductionRefused { session_id } => {
                    Some(crate::audit::Finding::ReductionRefused(session_id.clone()))
                }
                _ => None,
            })
            .collect();
        if !refused.is_empty() {
            self.fail(Failure::Audit {
                when: format!("{call:?} at +{mono}ms"),
                findings: refused,
            });
        }
        let mut log = self.log();
        log.inputs += 1;
        match call {
            Call::Input(Input::Events(_)) => log.event_inputs += 1,
            Call::Input(Input::Flush) => log.flush_inputs += 1,
            _ => {}
        }
        let run = log.starts;
        let flush = u64::try_from(self.config.flush.as_millis()).unwrap_or(u64::MAX);
        for o in outputs {
            let Output::SummaryRequested { id, request } = o else {
                continue;
            };
            let (lo, hi) = self.workload.swarm.summary_secs;
            let delay = log.delays.range(lo * 1000, hi * 1000 + 1);
            if delay > flush {
                log.coverage.hit(Mark::SummaryBeyondFlush);
            }
            let outcome = SimSummarizer::new(Arc::clone(&self.summarizer))
                .summarize(request)
                .map_err(|e| e.to_string());
            let flight = Flight {
                due: mono + delay,
                run,
                answer: SummaryAnswer {
                    id: id.clone(),
                    outcome,
                },
                events: log.event_inputs,
                flushes: log.flush_inputs,
            };
            log.flights.push(flight);
        }
        log.trace.record(&(mono, now.0, ok));
        log.trace.record(&call);
        if log.last_now.is_some_and(|last| now < last) {
            log.coverage.hit(Mark::BackwardsClock);
        }
        log.last_now = Some(now);
        let events_input = matches!(call, Call::Input(Input::Events(_)));
        for o in outputs {
            log.trace.record(o);
            log.mark(o, now, events_input);
        }
        if self.verbose {
            let shown = format!("{call:?}");
            let shown: String = shown.chars().take(160).collect();
            println!("+{mono:>10}ms {now} {shown} ok={ok} {outputs:?}");
        }
    }

    /// When the next answer of this run's engine is ready.
    pub(crate) fn next_answer(&self) -> Option<u64> {
        let log = self.log();
        log.flights.iter().filter(|f| f.run == log.starts).map(|f| f.due).min()
    }

    /// The answers of this run's engine ready by `mono`, in the order they
    /// became ready, with their marks.
    pub(crate) fn answers_due(&self, mono: u64) -> Vec<SummaryAnswer> {
        let mut log = self.log();
        let run = log.starts;
        let (mut ready, rest): (Vec<Flight>, Vec<Flight>) = std::mem::take(&mut log.flights)
            .into_iter()
            .partition(|f| f.run == run && f.due <= mono);
        log.flights = rest;
        ready.sort_by_key(|f| (f.due, f.answer.id.seq));
        if ready.len() > 1 {
            log.coverage.hit(Mark::AnswersTogether);
        }
        for f in &ready {
            if f.answer.id.seq < log.answered_seq {
                log.coverage.hit(Mark::AnswerOutOfOrder);
            }
            log.answered_seq = log.answered_seq.max(f.answer.id.seq);
            if f.events < log.event_inputs {
                log.coverage.hit(Mark::AnswerAfterEvents);
            }
            if f.flushes < log.flush_inputs {
                log.coverage.hit(Mark::AnswerAfterFlush);
            }
        }
        ready.into_iter().map(|f| f.answer).collect()
    }

    /// At a start: the answers earlier engines asked for and never got.
    /// A daemon's are lost with it; sometimes (the dice) one arrives at the
    /// new engine anyway, which must drop it.
    pub(crate) fn answers_of_earlier_runs(&self) -> Vec<SummaryAnswer> {
        let mut log = self.log();
        let run = log.starts;
        let (old, current): (Vec<Flight>, Vec<Flight>) =
            std::mem::take(&mut log.flights).into_iter().partition(|f| f.run < run);
        log.flights = current;
        log.answered_seq = 0;
        let graceful = std::mem::take(&mut log.graceful);
        if old.is_empty() {
            return Vec::new();
        }
        if !graceful {
            log.coverage.hit(Mark::CrashBetweenRequestAndAnswer);
        }
        if log.delays.chance(300) {
            old.into_iter().map(|f| f.answer).collect()
        } else {
            log.coverage.hit(Mark::AnswerLostInRestart);
            Vec::new()
        }
    }

    /// At a start: what the client captured while the daemon was down
    /// (the steps due before `mono`). By the client's dice (the seed's
    /// `replay_live_first_per_mille`) it is queued and replayed after the
    /// live captures, from a few seconds to minutes later, as clients with
    /// a queue per watcher or a retry backoff do; otherwise (and always
    /// when the backlog holds a user's command) it is sent in order, as
    /// the step loop does by itself.
    pub(crate) fn queue_backlog(&self, mono: u64) {
        let mut log = self.log();
        let steps = &self.workload.steps[log.cursor..];
        let backlog = &steps[..steps.partition_point(|s| s.at < mono)];
        if backlog.is_empty() || backlog.iter().any(|s| !matches!(s.action, Action::Events(_))) {
            return;
        }
        if !log.client.chance(self.workload.swarm.replay_live_first_per_mille) {
            return;
        }
        for s in backlog {
            if let Action::Events(events) = &s.action {
                log.queue.extend(events.iter().cloned());
            }
        }
        log.cursor += backlog.len();
        let delay = log.client.range(5_000, 5 * 60_000);
        log.replay_at = Some(mono + delay);
        log.trace.record(&("queued", mono, backlog.len(), delay));
    }

    /// When the client sends the next part of its queue.
    pub(crate) fn next_replay(&self) -> Option<u64> {
        let log = self.log();
        log.replay_at.filter(|_| !log.queue.is_empty())
    }

    /// The next part of the client's queue (1 to 40 captures, in order);
    /// the rest follows a few seconds later.
    pub(crate) fn replay_chunk(&self, mono: u64) -> Vec<Event> {
        let mut log = self.log();
        let n = usize::try_from(log.client.range(1, 41))
            .unwrap_or(1)
            .min(log.queue.len());
        let chunk: Vec<Event> = log.queue.drain(..n).collect();
        let next = mono + log.client.range(0, 5_000);
        log.replay_at = Some(next);
        log.coverage.hit(Mark::QueueReplayed);
        chunk
    }

    /// Adds a harness happening (a kill, a start) to the trace.
    pub(crate) fn note(&self, what: &dyn Debug) {
        self.log().trace.record(what);
        if self.verbose {
            println!("   {what:?}");
        }
    }
}

impl Log {
    fn mark(&mut self, o: &Output, now: Timestamp, events_input: bool) {
        match o {
            Output::OrphanRecovered(end) => {
                if self.imported.contains(&end.id) {
                    self.coverage.hit(match (end.had_evidence, end.bound) {
                        (true, EndBound::NextSession) => Mark::ImportEvidenceNextSession,
                        (true, EndBound::MaxSession) => Mark::ImportEvidenceMaxSession,
                        (true, _) => Mark::ImportEvidence,
                        (false, EndBound::NextSession) => Mark::ImportFallbackNextSession,
                        (false, EndBound::MaxSession) => Mark::ImportFallbackMaxSession,
                        (false, _) => Mark::ImportFallback,
                    });
                }
                self.coverage.hit(if end.had_evidence {
                    Mark::OrphanWithEvidence
                } else {
                    Mark::OrphanWithoutEvidence
                });
                match end.bound {
                    EndBound::NextSession => self.coverage.hit(Mark::ClampToNextSession),
                    EndBound::MaxSession => self.coverage.hit(Mark::CapAtMaxSession),
                    EndBound::Evidence | EndBound::Fallback => {}
                }
            }
            Output::EntryWritten { session_id, kind, .. } => match kind {
                EntryKind::Heuristic => self.coverage.hit(Mark::HeuristicFallback),
                EntryKind::Final if self.failed.contains(session_id) => {
                    self.coverage.hit(Mark::RetryLaterSucceeded);
                }
                EntryKind::Late => self.coverage.hit(Mark::LateEntry),
                EntryKind::Final | EntryKind::Flush => {}
            },
            Output::ReductionFailed { session_id, .. } => {
                self.failed.insert(session_id.clone());
            }
            Output::SessionEnded { end, reason, .. } => match reason {
                EndReason::SoftCut => self.coverage.hit(Mark::SoftCut),
                EndReason::Timeout => self.coverage.hit(Mark::Timeout),
                EndReason::DailySafetyNet => self.coverage.hit(Mark::SafetyNet),
                EndReason::IdleGap if events_input && now.millis_since(*end) >= 3_600_000 => {
                    self.coverage.hit(Mark::SleepGap);
                }
                _ => {}
            },
            Output::AnswerDropped { why, .. } => match why {
                Stale::Restarted => self.coverage.hit(Mark::AnswerAfterRestart),
                Stale::Superseded | Stale::SessionChanged | Stale::BlocksChanged => {
                    self.coverage.hit(Mark::StaleAnswerDropped);
                }
                Stale::Unknown => {}
            },
            Output::SessionStarted { .. }
            | Output::SessionReduced { .. }
            | Output::FlushFailed { .. }
            | Output::ReductionRefused { .. }
            | Output::SummaryRequested { .. }
            | Output::DayTouched(_) => {}
        }
    }
}
