//! The world a run shares between the supervisor and the node: everything
//! that outlives a node kill. The durable state itself sits behind the
//! store factory; beside it the run keeps what the capture client knows
//! (which step it delivers next, which events were acknowledged), the
//! dice, the trace and the coverage marks.
//!
//! No lock here is ever held across an `.await` or a call into the engine.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use daybook_core::recovery::EndBound;
use daybook_core::{Config, EndReason, EntryKind, Input, Output, SessionId, Timestamp};

use crate::coverage::{Coverage, Mark};
use crate::failure::Failure;
use crate::faults::{FaultPlan, SharedFaults};
use crate::rng::Rng;
use crate::stores::StoreFactory;
use crate::summarizer::SummarizerState;
use crate::trace::TraceHash;
use crate::workload::{Action, Workload};

/// The stream the node's choice among simultaneously due inputs draws from.
const ORDER_STREAM: u64 = 6;

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

    /// Adds one engine call and its outcome to the trace and the marks.
    pub(crate) fn observe(&self, mono: u64, now: Timestamp, call: Call<'_>, ok: bool, outputs: &[Output]) {
        let mut log = self.log();
        log.inputs += 1;
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
                EntryKind::Final | EntryKind::Flush | EntryKind::Late => {}
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
            Output::SessionStarted { .. }
            | Output::SessionReduced { .. }
            | Output::FlushFailed { .. }
            | Output::DayTouched(_) => {}
        }
    }
}
