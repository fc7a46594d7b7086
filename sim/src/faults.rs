//! Faults: the crash-injecting [`Store`] wrapper and the supervisor's kill
//! schedule.
//!
//! [`FaultyStore`] wraps any store and, by the seed's dice, panics just
//! before or just after a durable step (every method that writes). The node
//! runs with madsim's `restart_on_panic_matching(CRASH)`, so such a crash
//! kills the node mid-operation and restarts it: crashes land inside
//! startup recovery and around reduction commits, single and batched (a
//! batch crashes before or after its one transaction, never inside it),
//! not only between inputs.
//! Only panics carrying [`CRASH`] restart the node; any other panic is a
//! bug and ends the run.
//!
//! What it never does: change what the inner store commits, or commit
//! anything on drop (a madsim kill drops the node's futures, this wrapper
//! with them).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::NaiveDate;
use daybook_core::{
    Block, Dump, EndReason, Entry, Error, IngestStep, LooseBlock, RecoveryInput, RecoveryPlan, ReductionCommit,
    Session, SessionId, Store, StoredEvent, Timestamp,
};

use crate::coverage::{Coverage, Mark};
use crate::rng::Rng;
use crate::workload::Workload;

/// The panic payload of an injected crash; the node restarts on it.
pub const CRASH: &str = "daybook-sim: injected crash";

/// The stream of the seed's [`Rng`] crash decisions draw from.
const STREAM: u64 = 3;
/// The stream the kill schedule draws from.
const KILL_STREAM: u64 = 5;

/// Where the engine is, for deciding what a crash hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Inside `Engine::start`: orphan blocks, recovery, reduce-pending.
    Starting,
    /// Serving inputs.
    Running,
    /// Taking summary answers back (`Input::Answers`).
    Answering,
}

/// Which side of a durable step a crash lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Nothing of the step committed.
    Before,
    /// The step committed; the caller never learns it did.
    After,
}

/// One injected crash, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The store method.
    pub step: &'static str,
    /// Before or after it.
    pub moment: Moment,
    /// What the engine was doing.
    pub stage: Stage,
}

/// The dice and the record of injected crashes, shared by every
/// [`FaultyStore`] of a run (one per node start).
#[derive(Debug)]
pub struct FaultPlan {
    rng: Rng,
    per_mille: u32,
    budget: u32,
    stage: Stage,
    enabled: bool,
    /// Every crash injected so far, in order.
    pub crashes: Vec<Crash>,
    /// Marks of the crashes injected so far.
    pub coverage: Coverage,
}

/// A [`FaultPlan`] shared between the harness and the node's store.
pub type SharedFaults = Arc<Mutex<FaultPlan>>;

/// Locks a plan; a crash never happens while the lock is held, so a
/// poisoned lock still guards a consistent plan.
pub fn lock(faults: &SharedFaults) -> MutexGuard<'_, FaultPlan> {
    faults.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultPlan {
    /// Crashes with probability `per_mille`‰ at each crash point, at most
    /// `budget` times in the run.
    pub fn new(seed: u64, per_mille: u32, budget: u32) -> Self {
        Self {
            rng: Rng::new(seed, STREAM),
            per_mille,
            budget,
            stage: Stage::Running,
            enabled: true,
            crashes: Vec::new(),
            coverage: Coverage::default(),
        }
    }

    /// Tells the plan what the engine is doing.
    pub fn set_stage(&mut self, stage: Stage) {
        self.stage = stage;
    }

    /// Turns injection off (the quiet end of a run) or back on.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Rolls the dice for one crash point; records the crash if it hits.
    fn decide(&mut self, step: &'static str, moment: Moment) -> bool {
        if !self.enabled || self.crashes.len() >= self.budget as usize || self.per_mille == 0 {
            return false;
        }
        // Answers that come back together are rare (a few a day, and
        // only some with two summaries or more): on a day with crashes
        // their commit is a crash point at no less than 400‰, so every
        // run of a couple of hundred seeds lands one there.
        let per_mille = if step == "commit_answers" {
            self.per_mille.max(400)
        } else {
            self.per_mille
        };
        if !self.rng.chance(per_mille) {
            return false;
        }
        let crash = Crash {
            step,
            moment,
            stage: self.stage,
        };
        self.crashes.push(crash);
        if crash.stage == Stage::Starting {
            self.coverage.hit(Mark::CrashInRecovery);
        }
        match step {
            "commit_reduction" => self.coverage.hit(Mark::CrashInReductionCommit),
            "commit_reductions" => self.coverage.hit(Mark::CrashInBatchCommit),
            "commit_answers" => {
                self.coverage.hit(Mark::CrashInBatchCommit);
                self.coverage.hit(Mark::CrashInAnswerBatch);
            }
            _ => {}
        }
        true
    }
}

/// A store that may crash the process around each durable step.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: SharedFaults,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner`, rolling `faults`' dice.
    pub fn new(inner: S, faults: SharedFaults) -> Self {
        Self { inner, faults }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn crash_point(&self, step: &'static str, moment: Moment) {
        // Decide under the lock, panic after releasing it.
        let crash = lock(&self.faults).decide(step, moment);
        if crash {
            // `resume_unwind` skips the panic hook: an injected crash is
            // not an error worth a backtrace on stderr.
            std::panic::resume_unwind(Box::new(CRASH));
        }
    }

    /// Runs one durable step between two crash points.
    fn durable<T>(&mut self, step: &'static str, f: impl FnOnce(&mut S) -> Result<T, Error>) -> Result<T, Error> {
        self.crash_point(step, Moment::Before);
        let out = f(&mut self.inner);
        if out.is_ok() {
            self.crash_point(step, Moment::After);
        }
        out
    }
}

impl<S: Store> Store for FaultyStore<S> {
    fn import(&mut self, sessions: &[Session], loose: &[LooseBlock]) -> Result<(), Error> {
        self.durable("import", |s| s.import(sessions, loose))
    }

    fn ingest(&mut self, steps: &[IngestStep]) -> Result<(), Error> {
        self.durable("ingest", |s| s.ingest(steps))
    }

    fn end_session(
        &mut self,
        id: &SessionId,
        end: Timestamp,
        reason: EndReason,
        blocks: &[Block],
    ) -> Result<(), Error> {
        self.durable("end_session", |s| s.end_session(id, end, reason, blocks))
    }

    fn write_blocks(&mut self, blocks: &[Block]) -> Result<(), Error> {
        self.durable("write_blocks", |s| s.write_blocks(blocks))
    }

    fn commit_reduction(&mut self, commit: &ReductionCommit) -> Result<Option<Entry>, Error> {
        self.durable("commit_reduction", |s| s.commit_reduction(commit))
    }

    fn commit_reductions(&mut self, commits: &[ReductionCommit]) -> Result<Vec<Option<Entry>>, Error> {
        // One answer's reduction is a single commit; answers that came
        // together, and reduce-pending's, a batch. While answers are taken
        // back, a batch with several entries is theirs (the engine's other
        // batch then, finishing sessions with nothing left, has none).
        let answers =
            lock(&self.faults).stage == Stage::Answering && commits.iter().filter(|c| c.entry.is_some()).count() > 1;
        let step = match commits.len() {
            1 => "commit_reduction",
            _ if answers => "commit_answers",
            _ => "commit_reductions",
        };
        self.durable(step, |s| s.commit_reductions(commits))
    }

    fn mark_failed(&mut self, id: &SessionId, retry_count: u32, next_retry_at: Timestamp) -> Result<(), Error> {
        self.durable("mark_failed", |s| s.mark_failed(id, retry_count, next_retry_at))
    }

    fn recover(&mut self, plan: &RecoveryPlan) -> Result<(), Error> {
        self.durable("recover", |s| s.recover(plan))
    }

    fn active_sessions(&self) -> Result<Vec<Session>, Error> {
        self.inner.active_sessions()
    }

    fn around(&self, at: Timestamp) -> Result<daybook_core::Around, Error> {
        self.inner.around(at)
    }

    fn around_each(&self, ats: &[Timestamp]) -> Result<Vec<daybook_core::Around>, Error> {
        self.inner.around_each(ats)
    }

    fn window_blocks(&self, id: &SessionId, start: Timestamp) -> Result<Vec<Block>, Error> {
        self.inner.window_blocks(id, start)
    }

    fn pending_sessions(&self) -> Result<Vec<Session>, Error> {
        self.inner.pending_sessions()
    }

    fn due_sessions(&self, now: Timestamp) -> Result<Vec<Session>, Error> {
        self.inner.due_sessions(now)
    }

    fn session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        self.inner.session(id)
    }

    fn session_events(&self, id: &SessionId) -> Result<Vec<StoredEvent>, Error> {
        self.inner.session_events(id)
    }

    fn active_events(&self) -> Result<Vec<StoredEvent>, Error> {
        self.inner.active_events()
    }

    fn uncovered_blocks(&self, id: &SessionId) -> Result<Vec<Block>, Error> {
        self.inner.uncovered_blocks(id)
    }

    fn latest_end(&self) -> Result<Option<Timestamp>, Error> {
        self.inner.latest_end()
    }

    fn recovery_input(&self) -> Result<RecoveryInput, Error> {
        self.inner.recovery_input()
    }

    fn entries_for_day(&self, day: NaiveDate) -> Result<Vec<Entry>, Error> {
        self.inner.entries_for_day(day)
    }

    fn dump(&self) -> Result<Dump, Error> {
        self.inner.dump()
    }
}

/// One supervisor kill: at monotonic `at`, the node dies and stays down
/// for `down` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kill {
    /// When.
    pub at: u64,
    /// How long the daemon stays down.
    pub down: u64,
}

/// The supervisor's kills for `workload`: a seed-chosen rate per awake
/// hour, at uniform instants of awake stretches (a sleeping laptop kills
/// nothing), each down for seconds or, sometimes, minutes.
pub fn kill_schedule(workload: &Workload) -> Vec<Kill> {
    let mut r = Rng::new(workload.seed, KILL_STREAM);
    let rate = u64::from(workload.swarm.kills_per_hour_tenths);
    let mut kills = Vec::new();
    for (from, until) in &workload.awake {
        let hours_tenths = (until - from) * 10 / 3_600_000;
        // Expected kills = rate × hours, rounded by the dice.
        let expected_hundredths = rate * hours_tenths;
        let mut n = expected_hundredths / 100;
        if r.range(0, 100) < expected_hundredths % 100 {
            n += 1;
        }
        for _ in 0..n {
            let at = r.range(*from, *until);
            let down = if r.chance(150) {
                r.range(60_000, 15 * 60_000)
            } else {
                r.range(50, 30_000)
            };
            kills.push(Kill { at, down });
        }
    }
    kills.sort_by_key(|k| k.at);
    kills
}

#[cfg(test)]
mod tests {
    use daybook_core::{Event, MemStore, UtcOffset};

    use super::*;

    fn panics_with_crash(f: impl FnOnce()) -> bool {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(()) => false,
            Err(payload) => payload.downcast_ref::<&str>() == Some(&CRASH),
        }
    }

    fn start_step(id: &str, t: i64) -> IngestStep {
        IngestStep::Start {
            session: Session::active(id.into(), Timestamp(t), UtcOffset::UTC),
            first: Event::new(Timestamp(t), "Code"),
        }
    }

    /// `n` ended sessions `{prefix}0`, `{prefix}1`, …, 100 ms apart and
    /// 50 ms long, imported into `mem`.
    fn ended_sessions(mem: &MemStore, prefix: &str, n: i64) -> Vec<Session> {
        let sessions: Vec<Session> = (0..n)
            .map(|i| Session {
                phase: daybook_core::Phase::Ended {
                    end: Timestamp(i * 100 + 50),
                    reason: EndReason::IdleGap,
                },
                ..Session::active(
                    format!("{prefix}{i}").as_str().into(),
                    Timestamp(i * 100),
                    UtcOffset::UTC,
                )
            })
            .collect();
        MemStore::from_shared(mem.shared()).import(&sessions, &[]).unwrap();
        sessions
    }

    /// The final reduction of `s`: with an entry over its first 50 ms, or
    /// with none.
    fn final_commit(s: &Session, entry: bool) -> ReductionCommit {
        ReductionCommit {
            session_id: s.id.clone(),
            entry: entry.then(|| daybook_core::NewEntry {
                session_id: s.id.clone(),
                kind: daybook_core::EntryKind::Final,
                from: s.start,
                to: Timestamp(s.start.0 + 50),
                offset: UtcOffset::UTC,
                body: format!("entry of {}", s.id),
            }),
            covered: Vec::new(),
            flush_end: None,
            finish: true,
        }
    }

    #[test]
    fn a_crash_before_commits_nothing_and_after_commits_everything() {
        // Every crash point crashes: the first write dies before its step.
        let faults: SharedFaults = Arc::new(Mutex::new(FaultPlan::new(1, 1000, 2)));
        let mem = MemStore::new();
        let mut store = FaultyStore::new(MemStore::from_shared(mem.shared()), Arc::clone(&faults));
        assert!(panics_with_crash(|| store
            .ingest(&[start_step("a", 0)])
            .map(drop)
            .unwrap()));
        assert!(
            mem.dump().unwrap().sessions.is_empty(),
            "crash before: nothing committed"
        );
        // A fresh store after the restart: the dice hit again, before.
        let mut store = FaultyStore::new(MemStore::from_shared(mem.shared()), Arc::clone(&faults));
        assert_eq!(lock(&faults).crashes.len(), 1);
        assert!(panics_with_crash(|| store
            .ingest(&[start_step("b", 10)])
            .map(drop)
            .unwrap()));
        assert!(
            mem.dump().unwrap().sessions.is_empty(),
            "second crash is again before the step"
        );
        // Budget spent: writes go through untouched.
        store.ingest(&[start_step("c", 20)]).unwrap();
        assert_eq!(mem.dump().unwrap().sessions.len(), 1);
        assert_eq!(lock(&faults).crashes.len(), 2);
    }

    #[test]
    fn crashes_land_after_a_commit_too_and_are_marked() {
        let faults: SharedFaults = Arc::new(Mutex::new(FaultPlan::new(9, 500, 1000)));
        let mem = MemStore::new();
        let mut committed_then_crashed = 0;
        for i in 0..200 {
            let before = mem.dump().unwrap().sessions.len();
            let mut store = FaultyStore::new(MemStore::from_shared(mem.shared()), Arc::clone(&faults));
            let crashed = panics_with_crash(|| store.ingest(&[start_step(&format!("s{i}"), i)]).unwrap());
            let after = mem.dump().unwrap().sessions.len();
            if crashed && after == before + 1 {
                committed_then_crashed += 1;
            }
            if !crashed {
                assert_eq!(after, before + 1);
            }
        }
        assert!(committed_then_crashed > 10, "{committed_then_crashed}");
        let plan = lock(&faults);
        assert!(plan.crashes.iter().any(|c| c.moment == Moment::After));
        assert!(plan.crashes.iter().any(|c| c.moment == Moment::Before));
        assert_eq!(
            plan.coverage.count(Mark::CrashInRecovery),
            0,
            "nothing ran in the start stage"
        );
    }

    #[test]
    fn a_batch_of_reductions_crashes_whole_before_or_after_and_is_marked() {
        use std::collections::BTreeSet;

        use daybook_core::Phase;
        // Half the crash points crash: each batch either commits whole or
        // not at all, whichever side of it the crash lands on.
        let faults: SharedFaults = Arc::new(Mutex::new(FaultPlan::new(2, 500, 1000)));
        let mut seen = BTreeSet::new();
        for round in 0..40 {
            let mem = MemStore::new();
            let sessions = ended_sessions(&mem, &format!("r{round}-"), 3);
            let batch: Vec<ReductionCommit> = sessions.iter().map(|s| final_commit(s, true)).collect();
            let mut store = FaultyStore::new(MemStore::from_shared(mem.shared()), Arc::clone(&faults));
            let crashed = panics_with_crash(|| store.commit_reductions(&batch).map(drop).unwrap());
            let d = mem.dump().unwrap();
            let reduced = d
                .sessions
                .iter()
                .filter(|s| matches!(s.phase, Phase::Reduced { .. }))
                .count();
            assert!(
                matches!((reduced, d.entries.len()), (0, 0) | (3, 3)),
                "round {round}: a batch committed in part: {reduced} reduced, {} entries",
                d.entries.len()
            );
            if crashed {
                seen.insert((lock(&faults).crashes.last().unwrap().moment == Moment::After, reduced));
            } else {
                assert_eq!(reduced, 3, "round {round}: no crash, all committed");
            }
        }
        assert_eq!(
            seen,
            BTreeSet::from([(false, 0), (true, 3)]),
            "crashes landed both before (nothing) and after (everything)"
        );
        let plan = lock(&faults);
        assert!(plan.crashes.iter().all(|c| c.step == "commit_reductions"));
        assert_eq!(plan.coverage.count(Mark::CrashInBatchCommit), plan.crashes.len() as u64);
        assert_eq!(plan.coverage.count(Mark::CrashInReductionCommit), 0);
    }

    #[test]
    fn a_crash_around_answers_committed_together_is_an_answer_batch() {
        // (stage, entries in a batch of two) -> the step a crash names.
        let cases = [
            (Stage::Answering, 2, "commit_answers"),
            (Stage::Answering, 0, "commit_reductions"),
            (Stage::Running, 2, "commit_reductions"),
        ];
        for (stage, entries, step) in cases {
            let faults: SharedFaults = Arc::new(Mutex::new(FaultPlan::new(4, 1000, 1)));
            let mem = MemStore::new();
            let sessions = ended_sessions(&mem, "a", 2);
            let batch: Vec<ReductionCommit> = sessions.iter().map(|s| final_commit(s, entries > 0)).collect();
            lock(&faults).set_stage(stage);
            let mut store = FaultyStore::new(MemStore::from_shared(mem.shared()), Arc::clone(&faults));
            assert!(panics_with_crash(|| store.commit_reductions(&batch).map(drop).unwrap()));
            let plan = lock(&faults);
            assert_eq!(plan.crashes[0].step, step, "{stage:?} with {entries} entries");
            let answers = u64::from(step == "commit_answers");
            assert_eq!(plan.coverage.count(Mark::CrashInAnswerBatch), answers);
            assert_eq!(plan.coverage.count(Mark::CrashInBatchCommit), 1);
        }
    }

    #[test]
    fn reads_never_crash_and_disabled_plans_never_crash() {
        let faults: SharedFaults = Arc::new(Mutex::new(FaultPlan::new(3, 1000, 100)));
        lock(&faults).set_stage(Stage::Starting);
        let mut store = FaultyStore::new(MemStore::new(), Arc::clone(&faults));
        store.dump().unwrap();
        store.active_sessions().unwrap();
        assert!(panics_with_crash(|| store.recover(&RecoveryPlan::default()).unwrap()));
        assert_eq!(lock(&faults).coverage.count(Mark::CrashInRecovery), 1);
        lock(&faults).set_enabled(false);
        store.recover(&RecoveryPlan::default()).unwrap();
    }

    #[test]
    fn kills_fall_in_awake_stretches_at_the_seeds_rate() {
        let mut total = 0;
        for seed in 0..200 {
            let w = Workload::generate(seed);
            let kills = kill_schedule(&w);
            assert_eq!(kills, kill_schedule(&w));
            for k in &kills {
                assert!(w.awake.iter().any(|(a, b)| (*a..*b).contains(&k.at)), "seed {seed}");
            }
            if w.swarm.kills_per_hour_tenths == 0 {
                assert!(kills.is_empty());
            }
            total += kills.len();
        }
        assert!(total > 100, "kills happen: {total}");
    }
}
