//! The store conformance suite against the reference store, one test per
//! check so a failure is named. The daemon runs the same suite against its
//! SQLite store.
//!
//! The `mutants` tests run checks against deliberately wrong stores: a
//! check that passes a store with the bug it targets checks nothing.

use daybook_core::MemStore;
use daybook_core::conformance;

#[test]
fn ingest_orders_events_and_dump() {
    conformance::ingest_orders_events_and_dump(MemStore::new());
}

#[test]
fn ingest_is_all_or_nothing() {
    conformance::ingest_is_all_or_nothing(MemStore::new());
}

#[test]
fn end_session_is_atomic() {
    conformance::end_session_is_atomic(MemStore::new());
}

#[test]
fn write_blocks_upserts_and_keeps_coverage() {
    conformance::write_blocks_upserts_and_keeps_coverage(MemStore::new());
}

#[test]
fn commit_reduction_covers_once() {
    conformance::commit_reduction_covers_once(MemStore::new());
}

#[test]
fn commit_reductions_all_or_nothing() {
    conformance::commit_reductions_all_or_nothing(MemStore::new());
}

#[test]
fn mark_failed_and_due_sessions() {
    conformance::mark_failed_and_due_sessions(MemStore::new());
}

#[test]
fn pending_blocks_are_each_sessions_uncovered_blocks() {
    conformance::pending_blocks_are_each_sessions_uncovered_blocks(MemStore::new());
}

#[test]
fn a_block_added_among_covered_ones_stays_uncovered() {
    conformance::a_block_added_among_covered_ones_stays_uncovered(MemStore::new());
}

#[test]
fn around_each_answers_as_around_does() {
    conformance::around_each_answers_as_around_does(MemStore::new());
}

#[test]
fn late_steps_land_inside_their_session() {
    conformance::late_steps_land_inside_their_session(MemStore::new());
}

#[test]
fn recover_applies_plan_once() {
    conformance::recover_applies_plan_once(MemStore::new());
}

#[test]
fn active_events_gathers_every_orphans_events() {
    conformance::active_events_gathers_every_orphans_events(MemStore::new());
}

#[test]
fn import_is_idempotent() {
    conformance::import_is_idempotent(MemStore::new());
}

#[test]
fn entries_for_day_uses_local_date() {
    conformance::entries_for_day_uses_local_date(MemStore::new());
}

#[test]
fn timestamps_compare_numerically() {
    conformance::timestamps_compare_numerically(MemStore::new());
}

#[test]
fn every_field_round_trips() {
    conformance::every_field_round_trips(MemStore::new());
}

#[test]
fn run_all_runs_every_check() {
    assert_eq!(conformance::checks::<MemStore>().len(), 18);
    conformance::run_all(MemStore::new);
}

/// Wrong stores: `MemStore` with one bug each, and the check that must
/// catch it.
mod mutants {
    use std::collections::BTreeSet;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::{Arc, Mutex};

    use chrono::NaiveDate;
    use daybook_core::recovery::{RecoveryInput, RecoveryPlan};
    use daybook_core::reduction::ReductionCommit;
    use daybook_core::{
        Block, BlockKey, Dump, EndReason, Entry, Error, IngestStep, LooseBlock, MakeCommits, MemStore, Session,
        SessionId, Store, StoredEvent, Timestamp, UtcOffset, conformance,
    };

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Bug {
        /// None: the wrapper must pass every check.
        None,
        /// Applies a batch step by step, keeping the steps before a refusal.
        HalfBatch,
        /// Writes `end_session`'s blocks before checking the session.
        NonAtomicEnd,
        /// A rewritten block loses its coverage.
        ForgetsCoverage,
        /// Orders sessions by their RFC 3339 text.
        TextOrder,
        /// Orders sessions by id only.
        IdOrder,
        /// Orders a session's events by `seq` only.
        SeqOrder,
        /// Picks an entry's day by its UTC date.
        UtcDay,
        /// A retry is due only strictly after `next_retry_at`.
        DueLate,
        /// Reports a broken rule as a storage failure.
        RuleAsStorage,
        /// Stores `Some("")` as `None`.
        EmptyAsNone,
        /// Keeps loose block ids as `f64`.
        FloatIds,
        /// Takes an orphan's last event by `seq`, not by attributed time.
        LastBySeq,
        /// Commits a batch of reductions one by one, keeping those before
        /// a refusal.
        HalfReductions,
        /// Checks every commit of a batch against the state before the
        /// batch, not against what the earlier commits did.
        BatchBlind,
        /// Answers `pending_reductions` from what it worked out at the
        /// hint, whatever was written since.
        StalePrefetch,
    }

    /// The sessions a prefetch read, and the commits it made of them.
    type Prefetched = (Vec<SessionId>, Vec<ReductionCommit>);

    struct Buggy {
        inner: MemStore,
        bug: Bug,
        uncovered: BTreeSet<BlockKey>,
        prefetched: std::cell::RefCell<Option<Prefetched>>,
    }

    impl Buggy {
        fn new(bug: Bug) -> Self {
            Self {
                inner: MemStore::new(),
                bug,
                uncovered: BTreeSet::new(),
                prefetched: std::cell::RefCell::new(None),
            }
        }

        fn is(&self, bug: Bug) -> bool {
            self.bug == bug
        }

        fn map_err<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
            match r {
                Err(Error::Conflict { .. }) if self.is(Bug::RuleAsStorage) => {
                    Err(Error::Storage(Box::new(std::io::Error::other("constraint failed"))))
                }
                other => other,
            }
        }

        fn order(&self, mut sessions: Vec<Session>) -> Vec<Session> {
            if self.is(Bug::TextOrder) {
                sessions.sort_by_key(|s| s.start.rfc3339(s.offset));
            } else if self.is(Bug::IdOrder) {
                sessions.sort_by(|a, b| a.id.cmp(&b.id));
            }
            sessions
        }

        fn forget(&self, mut b: Block) -> Block {
            if self.uncovered.contains(&b.key()) {
                b.covered_by = None;
            }
            b
        }
    }

    fn blank(s: &Option<String>) -> Option<String> {
        s.clone().filter(|s| !s.is_empty())
    }

    impl Store for Buggy {
        fn import(&mut self, sessions: &[Session], loose: &[LooseBlock]) -> Result<(), Error> {
            let loose: Vec<LooseBlock> = loose
                .iter()
                .map(|b| LooseBlock {
                    id: if self.is(Bug::FloatIds) {
                        b.id as f64 as u64
                    } else {
                        b.id
                    },
                    ..b.clone()
                })
                .collect();
            self.inner.import(sessions, &loose)
        }

        fn ingest(&mut self, steps: &[IngestStep]) -> Result<(), Error> {
            if self.is(Bug::HalfBatch) {
                return steps
                    .iter()
                    .try_for_each(|s| self.inner.ingest(std::slice::from_ref(s)));
            }
            let steps: Vec<IngestStep> = steps
                .iter()
                .map(|s| match s {
                    IngestStep::Append { id, attributed, event } if self.is(Bug::EmptyAsNone) => IngestStep::Append {
                        id: id.clone(),
                        attributed: *attributed,
                        event: daybook_core::Event {
                            title: blank(&event.title),
                            url: blank(&event.url),
                            text: blank(&event.text),
                            source: blank(&event.source),
                            ..event.clone()
                        },
                    },
                    other => other.clone(),
                })
                .collect();
            let r = self.inner.ingest(&steps);
            self.map_err(r)
        }

        fn end_session(
            &mut self,
            id: &SessionId,
            end: Timestamp,
            reason: EndReason,
            blocks: &[Block],
        ) -> Result<(), Error> {
            if self.is(Bug::NonAtomicEnd) {
                self.inner.write_blocks(blocks)?;
                return self.inner.end_session(id, end, reason, &[]);
            }
            self.inner.end_session(id, end, reason, blocks)
        }

        fn write_blocks(&mut self, blocks: &[Block]) -> Result<(), Error> {
            if self.is(Bug::ForgetsCoverage) {
                let covered: BTreeSet<BlockKey> = self
                    .inner
                    .dump()?
                    .blocks
                    .iter()
                    .filter(|b| b.covered_by.is_some())
                    .map(Block::key)
                    .collect();
                self.uncovered
                    .extend(blocks.iter().map(Block::key).filter(|k| covered.contains(k)));
            }
            self.inner.write_blocks(blocks)
        }

        fn commit_reduction(&mut self, commit: &ReductionCommit) -> Result<Option<Entry>, Error> {
            let r = self.inner.commit_reduction(commit);
            self.map_err(r)
        }

        fn commit_reductions(&mut self, commits: &[ReductionCommit]) -> Result<Vec<Option<Entry>>, Error> {
            if self.is(Bug::HalfReductions) {
                return commits.iter().map(|c| self.inner.commit_reduction(c)).collect();
            }
            if self.is(Bug::BatchBlind) {
                // Each commit alone on a copy of the state before the batch
                // passes, so the batch is taken whole.
                let before = self.inner.shared().lock().expect("state").clone();
                for c in commits {
                    let mut probe = MemStore::from_shared(Arc::new(Mutex::new(before.clone())));
                    probe.commit_reduction(c)?;
                }
                let mut out = Vec::new();
                for c in commits {
                    out.push(self.inner.commit_reduction(c).unwrap_or(None));
                }
                return Ok(out);
            }
            let r = self.inner.commit_reductions(commits);
            self.map_err(r)
        }

        fn mark_failed(&mut self, id: &SessionId, retry_count: u32, next_retry_at: Timestamp) -> Result<(), Error> {
            self.inner.mark_failed(id, retry_count, next_retry_at)
        }

        fn recover(&mut self, plan: &RecoveryPlan) -> Result<(), Error> {
            self.inner.recover(plan)
        }

        fn active_sessions(&self) -> Result<Vec<Session>, Error> {
            Ok(self.order(self.inner.active_sessions()?))
        }

        fn around(&self, at: Timestamp) -> Result<daybook_core::Around, Error> {
            self.inner.around(at)
        }

        fn window_blocks(&self, id: &SessionId, start: Timestamp) -> Result<Vec<Block>, Error> {
            self.inner.window_blocks(id, start)
        }

        fn pending_sessions(&self) -> Result<Vec<Session>, Error> {
            Ok(self.order(self.inner.pending_sessions()?))
        }

        fn pending_reductions(&self, sessions: &[Session], make: MakeCommits) -> Result<Vec<ReductionCommit>, Error> {
            let prefetched = self.prefetched.borrow_mut().take();
            if let Some((ids, commits)) = prefetched
                && ids.iter().eq(sessions.iter().map(|s| &s.id))
            {
                return Ok(commits);
            }
            Ok(make(sessions, self.pending_blocks(sessions)?))
        }

        fn prefetch_pending_reductions(&self, next: &[Session], make: MakeCommits) {
            if self.is(Bug::StalePrefetch) {
                let commits = self.pending_reductions(next, make).expect("a prefetch's work");
                *self.prefetched.borrow_mut() = Some((next.iter().map(|s| s.id.clone()).collect(), commits));
            }
        }

        fn due_sessions(&self, now: Timestamp) -> Result<Vec<Session>, Error> {
            let now = if self.is(Bug::DueLate) {
                Timestamp(now.0.saturating_sub(1))
            } else {
                now
            };
            Ok(self.order(self.inner.due_sessions(now)?))
        }

        fn session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
            self.inner.session(id)
        }

        fn session_events(&self, id: &SessionId) -> Result<Vec<StoredEvent>, Error> {
            let mut events = self.inner.session_events(id)?;
            if self.is(Bug::SeqOrder) {
                events.sort_by_key(|e| e.seq);
            }
            Ok(events)
        }

        fn active_events(&self) -> Result<Vec<StoredEvent>, Error> {
            self.inner.active_events()
        }

        fn uncovered_blocks(&self, id: &SessionId) -> Result<Vec<Block>, Error> {
            Ok(self
                .inner
                .dump()?
                .blocks
                .into_iter()
                .filter(|b| b.session_id == *id)
                .map(|b| self.forget(b))
                .filter(|b| b.covered_by.is_none())
                .collect())
        }

        fn latest_end(&self) -> Result<Option<Timestamp>, Error> {
            self.inner.latest_end()
        }

        fn recovery_input(&self) -> Result<RecoveryInput, Error> {
            let mut input = self.inner.recovery_input()?;
            if self.is(Bug::LastBySeq) {
                for (id, last) in &mut input.last_events {
                    *last = self
                        .inner
                        .dump()?
                        .events
                        .iter()
                        .rfind(|e| e.session_id == *id)
                        .expect("an event")
                        .attributed;
                }
            }
            Ok(input)
        }

        fn entries_for_day(&self, day: NaiveDate) -> Result<Vec<Entry>, Error> {
            if self.is(Bug::UtcDay) {
                let mut entries: Vec<Entry> = (self.inner.dump()?.entries.into_iter())
                    .filter(|e| e.from.local_date(UtcOffset::UTC) == day)
                    .collect();
                entries.sort_by_key(|e| (e.from, e.id));
                return Ok(entries);
            }
            self.inner.entries_for_day(day)
        }

        fn dump(&self) -> Result<Dump, Error> {
            let mut d = self.inner.dump()?;
            d.sessions = self.order(d.sessions);
            d.blocks = d.blocks.into_iter().map(|b| self.forget(b)).collect();
            Ok(d)
        }
    }

    fn catches(check: fn(Buggy), bug: Bug) -> bool {
        panic::catch_unwind(AssertUnwindSafe(|| check(Buggy::new(bug)))).is_err()
    }

    #[test]
    fn each_check_catches_its_bug() {
        let cases: [(fn(Buggy), Bug); 17] = [
            (conformance::ingest_is_all_or_nothing, Bug::HalfBatch),
            (conformance::ingest_is_all_or_nothing, Bug::RuleAsStorage),
            (conformance::end_session_is_atomic, Bug::NonAtomicEnd),
            (
                conformance::write_blocks_upserts_and_keeps_coverage,
                Bug::ForgetsCoverage,
            ),
            (conformance::timestamps_compare_numerically, Bug::TextOrder),
            (conformance::ingest_orders_events_and_dump, Bug::IdOrder),
            (conformance::ingest_orders_events_and_dump, Bug::SeqOrder),
            (conformance::entries_for_day_uses_local_date, Bug::UtcDay),
            (conformance::mark_failed_and_due_sessions, Bug::DueLate),
            (conformance::commit_reduction_covers_once, Bug::RuleAsStorage),
            (conformance::commit_reductions_all_or_nothing, Bug::HalfReductions),
            (conformance::commit_reductions_all_or_nothing, Bug::BatchBlind),
            (conformance::commit_reductions_all_or_nothing, Bug::RuleAsStorage),
            (conformance::every_field_round_trips, Bug::EmptyAsNone),
            (conformance::every_field_round_trips, Bug::FloatIds),
            (conformance::recover_applies_plan_once, Bug::LastBySeq),
            (
                conformance::a_prefetch_hint_never_changes_what_pending_reductions_answers,
                Bug::StalePrefetch,
            ),
        ];
        let missed: Vec<Bug> = cases
            .into_iter()
            .filter(|&(check, bug)| !catches(check, bug))
            .map(|(_, bug)| bug)
            .collect();
        assert!(missed.is_empty(), "bugs the suite let through: {missed:?}");
    }

    #[test]
    fn a_correct_wrapper_passes() {
        // The wrapper itself is sound: with no bug switched on, every
        // check passes, so each catch above is the bug's doing.
        conformance::run_all(|| Buggy::new(Bug::None));
    }

    #[test]
    #[should_panic(expected = "store conformance failed: timestamps_compare_numerically")]
    fn run_all_names_the_failing_checks() {
        conformance::run_all(|| Buggy::new(Bug::TextOrder));
    }
}
