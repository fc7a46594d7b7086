//! Reduce-pending commits in batches: up to `REDUCE_BATCH` sessions and
//! `REDUCE_BATCH_WINDOWS` windows to a transaction, outcomes for every
//! committed entry, each touched day announced once per batch, and a
//! refused batch retried one by one so one bad session holds back no
//! other.

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use chrono::NaiveDate;
use common::{T0, min};
use daybook_core::recovery::{RecoveryInput, RecoveryPlan};
use daybook_core::reduction::ReductionCommit;
use daybook_core::{
    Block, Config, Dump, EndReason, Engine, Entry, Error, IngestStep, LooseBlock, MakeCommits, MemStore, Output, Phase,
    REDUCE_BATCH, REDUCE_BATCH_WINDOWS, Session, SessionId, Store, StoredEvent, SummarizerKind, Timestamp, UtcOffset,
    check_quiet, reduce_batch_len,
};

/// One call of reduce-pending on the store: the sessions whose commits
/// were asked for (read and made) or hinted, or a batch committed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Read(Vec<SessionId>),
    Hint(Vec<SessionId>),
    Commit(Vec<SessionId>),
}

fn ids(sessions: &[Session]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id.clone()).collect()
}

/// A `MemStore` that records each batch commit's size and each single
/// commit, and refuses every commit of one session.
#[derive(Clone, Debug, Default)]
struct Recording {
    inner: MemStore,
    batches: Rc<RefCell<Vec<usize>>>,
    singles: Rc<RefCell<Vec<SessionId>>>,
    /// Reduce-pending's asks, hints and batch commits, in order.
    calls: Rc<RefCell<Vec<Call>>>,
    refuse: Option<SessionId>,
}

impl Recording {
    fn refused(&self, commit: &ReductionCommit) -> Result<(), Error> {
        match &self.refuse {
            Some(id) if *id == commit.session_id => Err(Error::Conflict {
                session: id.clone(),
                reason: "refused by the test",
            }),
            _ => Ok(()),
        }
    }
}

impl Store for Recording {
    fn import(&mut self, sessions: &[Session], loose: &[LooseBlock]) -> Result<(), Error> {
        self.inner.import(sessions, loose)
    }
    fn ingest(&mut self, steps: &[IngestStep]) -> Result<(), Error> {
        self.inner.ingest(steps)
    }
    fn end_session(
        &mut self,
        id: &SessionId,
        end: Timestamp,
        reason: EndReason,
        blocks: &[Block],
    ) -> Result<(), Error> {
        self.inner.end_session(id, end, reason, blocks)
    }
    fn write_blocks(&mut self, blocks: &[Block]) -> Result<(), Error> {
        self.inner.write_blocks(blocks)
    }
    fn commit_reduction(&mut self, commit: &ReductionCommit) -> Result<Option<Entry>, Error> {
        self.singles.borrow_mut().push(commit.session_id.clone());
        self.refused(commit)?;
        self.inner.commit_reduction(commit)
    }
    fn commit_reductions(&mut self, commits: &[ReductionCommit]) -> Result<Vec<Option<Entry>>, Error> {
        self.batches.borrow_mut().push(commits.len());
        self.calls
            .borrow_mut()
            .push(Call::Commit(commits.iter().map(|c| c.session_id.clone()).collect()));
        commits.iter().try_for_each(|c| self.refused(c))?;
        self.inner.commit_reductions(commits)
    }
    fn mark_failed(&mut self, id: &SessionId, retry_count: u32, next_retry_at: Timestamp) -> Result<(), Error> {
        self.inner.mark_failed(id, retry_count, next_retry_at)
    }
    fn recover(&mut self, plan: &RecoveryPlan) -> Result<(), Error> {
        self.inner.recover(plan)
    }
    fn active_sessions(&self) -> Result<Vec<Session>, Error> {
        self.inner.active_sessions()
    }
    fn around(&self, at: Timestamp) -> Result<daybook_core::Around, Error> {
        self.inner.around(at)
    }
    fn window_blocks(&self, id: &SessionId, start: Timestamp) -> Result<Vec<Block>, Error> {
        self.inner.window_blocks(id, start)
    }
    fn pending_blocks(&self, sessions: &[Session]) -> Result<Vec<Vec<Block>>, Error> {
        self.inner.pending_blocks(sessions)
    }
    fn pending_reductions(&self, sessions: &[Session], make: MakeCommits) -> Result<Vec<ReductionCommit>, Error> {
        self.calls.borrow_mut().push(Call::Read(ids(sessions)));
        self.inner.pending_reductions(sessions, make)
    }
    fn prefetch_pending_reductions(&self, next: &[Session], make: MakeCommits) {
        self.calls.borrow_mut().push(Call::Hint(ids(next)));
        self.inner.prefetch_pending_reductions(next, make);
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

/// The windows (minutes) each session of [`pending`] spans: its two
/// blocks are its first two minutes, its end is in its thirtieth.
const SPAN: i64 = 30;

/// How many of [`pending`]'s sessions a batch takes: as many as their
/// windows allow.
const PER_BATCH: usize = (REDUCE_BATCH_WINDOWS / SPAN as u64) as usize;

/// `n` ended sessions of two blocks each spanning [`SPAN`] windows, one
/// every six hours (so they spread over many days), in `store`.
fn pending(store: &mut Recording, n: usize) {
    let sessions: Vec<Session> = (0..n)
        .map(|i| Session {
            phase: Phase::Ended {
                end: min(i as i64 * 360 + SPAN - 1),
                reason: EndReason::IdleGap,
            },
            ..Session::active(SessionId(format!("p{i:05}")), min(i as i64 * 360), UtcOffset::UTC)
        })
        .collect();
    store.import(&sessions, &[]).expect("import");
    let blocks: Vec<Block> = sessions
        .iter()
        .flat_map(|s| {
            (0..2).map(|k| Block {
                session_id: s.id.clone(),
                start: Timestamp(s.start.0 + k * 60_000),
                end: Timestamp(s.start.0 + (k + 1) * 60_000),
                rev: 0,
                offset: UtcOffset::UTC,
                lines: vec![format!("Code — {} block {k}", s.id)],
                apps: vec!["Code".to_owned()],
                capture_count: 2,
                covered_by: None,
            })
        })
        .collect();
    store.write_blocks(&blocks).expect("blocks");
}

fn start(store: &Recording) -> Vec<Output> {
    let now = Timestamp(T0.0 + 3_000 * 86_400_000);
    let mut engine =
        Engine::start(store.clone(), SummarizerKind::Builtin, Config::default(), "t-", now).expect("engine starts");
    std::iter::from_fn(|| engine.poll_output()).collect()
}

#[test]
fn reduce_pending_commits_batches_of_reduce_batch_windows_with_every_outcome() {
    const {
        assert!(
            PER_BATCH < REDUCE_BATCH,
            "the windows, not the session cap, cut these batches"
        )
    };
    let mut store = Recording::default();
    let n = 2 * PER_BATCH + 1;
    pending(&mut store, n);
    let outputs = start(&store);

    assert_eq!(
        *store.batches.borrow(),
        [PER_BATCH, PER_BATCH, 1],
        "one transaction per REDUCE_BATCH_WINDOWS windows"
    );
    assert!(store.singles.borrow().is_empty(), "no session committed alone");
    // The first batch hinted right before it is asked for; then each
    // batch's commits asked for, then the next one hinted (before this
    // one is committed, so the store may read and make it meanwhile),
    // then this one committed; the hint is exactly the next ask; the
    // last batch hints nothing.
    let calls = store.calls.borrow().clone();
    let reads: Vec<&Vec<SessionId>> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Read(ids) => Some(ids),
            _ => None,
        })
        .collect();
    assert_eq!(reads.len(), 3);
    let mut expected = vec![Call::Hint(reads[0].clone())];
    for (i, read) in reads.iter().enumerate() {
        expected.push(Call::Read((*read).clone()));
        if let Some(next) = reads.get(i + 1) {
            expected.push(Call::Hint((*next).clone()));
        }
        expected.push(Call::Commit((*read).clone()));
    }
    assert_eq!(
        calls, expected,
        "hint of the first, then ask, hint of the next, commit, batch by batch"
    );
    let dump = store.dump().expect("dump");
    assert!(check_quiet(&dump).is_empty(), "{:#?}", check_quiet(&dump));
    assert_eq!(dump.entries.len(), n);

    let written: Vec<(SessionId, u64, NaiveDate)> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::EntryWritten {
                session_id,
                entry_id,
                day,
                ..
            } => Some((session_id.clone(), *entry_id, *day)),
            _ => None,
        })
        .collect();
    let entries: Vec<(SessionId, u64, NaiveDate)> = dump
        .entries
        .iter()
        .map(|e| (e.session_id.clone(), e.id, e.day()))
        .collect();
    assert_eq!(written, entries, "an EntryWritten for every committed entry, in order");
    let reduced = outputs
        .iter()
        .filter(|o| matches!(o, Output::SessionReduced { .. }))
        .count();
    assert_eq!(reduced, n);

    // Each touched day once per batch: the days of the batch's entries,
    // announced after them.
    let mut touched: Vec<BTreeSet<NaiveDate>> = vec![BTreeSet::new()];
    for o in &outputs {
        match o {
            Output::DayTouched(day) => {
                assert!(
                    touched.last_mut().expect("a batch").insert(*day),
                    "{day} announced twice in one batch"
                );
            }
            Output::EntryWritten { .. } if !touched.last().expect("a batch").is_empty() => {
                touched.push(BTreeSet::new());
            }
            _ => {}
        }
    }
    let expected: Vec<BTreeSet<NaiveDate>> = dump
        .entries
        .chunks(PER_BATCH)
        .map(|batch| batch.iter().map(Entry::day).collect())
        .collect();
    assert_eq!(touched, expected, "every touched day, once per batch");
}

#[test]
fn a_refused_batch_is_committed_one_by_one_and_holds_back_no_other_session() {
    let mut store = Recording::default();
    let n = PER_BATCH + 5;
    pending(&mut store, n);
    let bad = SessionId("p00003".to_owned());
    store.refuse = Some(bad.clone());
    let outputs = start(&store);

    assert_eq!(*store.batches.borrow(), [PER_BATCH, 5], "both batches were tried whole");
    assert_eq!(
        store.singles.borrow().len(),
        PER_BATCH,
        "only the refused batch was retried one by one"
    );
    let dump = store.dump().expect("dump");
    let not_reduced: Vec<&SessionId> = dump
        .sessions
        .iter()
        .filter(|s| !matches!(s.phase, Phase::Reduced { .. }))
        .map(|s| &s.id)
        .collect();
    assert_eq!(not_reduced, [&bad], "only the refused session stays pending");
    assert_eq!(dump.entries.len(), n - 1);
    let entry_outputs = outputs
        .iter()
        .filter(|o| matches!(o, Output::EntryWritten { .. }))
        .count();
    assert_eq!(entry_outputs, n - 1, "an EntryWritten for each committed entry");
    let days: BTreeSet<NaiveDate> = dump.entries.iter().map(Entry::day).collect();
    let touched: BTreeSet<NaiveDate> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::DayTouched(d) => Some(*d),
            _ => None,
        })
        .collect();
    assert_eq!(touched, days, "every day with an entry is touched");
}

/// An ended session of `id` from minute `from` to minute `to`.
fn ended(id: &str, from: i64, to: i64) -> Session {
    Session {
        phase: Phase::Ended {
            end: min(to),
            reason: EndReason::IdleGap,
        },
        ..Session::active(SessionId(id.to_owned()), min(from), UtcOffset::UTC)
    }
}

#[test]
fn a_batch_is_cut_at_reduce_batch_sessions_or_reduce_batch_windows() {
    let window = Config::default().window;
    assert_eq!(window.as_secs(), 60, "these sessions are counted in one-minute windows");
    assert_eq!(reduce_batch_len(&[], window), 0);
    // Sessions inside one window each: the session cap cuts.
    let short: Vec<Session> = (0..REDUCE_BATCH as i64 + 7)
        .map(|i| ended(&format!("s{i:06}"), i * 10, i * 10))
        .collect();
    assert_eq!(reduce_batch_len(&short, window), REDUCE_BATCH);
    assert_eq!(reduce_batch_len(&short[REDUCE_BATCH..], window), 7);
    // A session spans the windows from its start's to its end's, both
    // included: 4 here (minutes 10.5 to 13.25).
    let four = Session {
        start: Timestamp(min(10).0 + 30_000),
        phase: Phase::Ended {
            end: Timestamp(min(13).0 + 15_000),
            reason: EndReason::IdleGap,
        },
        ..ended("four", 0, 0)
    };
    let fours = vec![four; REDUCE_BATCH_WINDOWS as usize / 4 + 1];
    assert_eq!(reduce_batch_len(&fours, window), REDUCE_BATCH_WINDOWS as usize / 4);
    // Exactly the budget fits; one window more does not.
    let halves = [
        ended("a", 0, REDUCE_BATCH_WINDOWS as i64 / 2 - 1),
        ended("b", 0, REDUCE_BATCH_WINDOWS as i64 / 2 - 1),
        ended("c", 0, 0),
    ];
    assert_eq!(reduce_batch_len(&halves, window), 2);
    // A session longer than the budget goes alone; an active one, or one
    // ending before it starts, counts one window; extreme times do not
    // overflow.
    let huge = ended("h", 0, 10 * REDUCE_BATCH_WINDOWS as i64);
    assert_eq!(reduce_batch_len(&[huge, ended("x", 0, 0)], window), 1);
    let odd = [
        Session::active(SessionId("a".into()), Timestamp(i64::MAX), UtcOffset::UTC),
        ended("b", 5, 2),
        Session {
            start: Timestamp(i64::MIN),
            phase: Phase::Ended {
                end: Timestamp(i64::MAX),
                reason: EndReason::IdleGap,
            },
            ..ended("c", 0, 0)
        },
    ];
    assert_eq!(reduce_batch_len(&odd, window), 2);
    assert_eq!(reduce_batch_len(&odd[2..], window), 1);
}

/// A pass of one page announces nothing: the store is asked for the
/// page and commits it, without a hint a store would start a thread and
/// a second connection for (a start after a crash reduces a session or
/// two this way).
#[test]
fn a_pass_of_one_page_announces_nothing() {
    let mut store = Recording::default();
    pending(&mut store, 3);
    start(&store);
    let calls = store.calls.borrow().clone();
    let [Call::Read(read), Call::Commit(committed)] = &calls[..] else {
        panic!("one ask and one commit, no hint: {calls:?}");
    };
    assert_eq!(read.len(), 3);
    assert_eq!(read, committed);
}

proptest::proptest! {
    /// `page_commits` makes each session's commit of that session and
    /// its blocks alone ([`MakeCommits`]' promise): a batch's commits are
    /// its two parts' commits, one after the other, wherever it is cut.
    /// A store splits a page into chunks on that promise.
    #[test]
    fn page_commits_of_a_batch_are_its_parts_commits(
        specs in proptest::collection::vec(
            (proptest::bool::ANY, proptest::collection::vec(
                (proptest::collection::vec("[a-c ]{0,6}", 0..3), 0u32..4),
                0..4,
            )),
            0..8,
        ),
        cut in 0usize..9,
    ) {
        let sessions: Vec<Session> = specs
            .iter()
            .enumerate()
            .map(|(i, (reduced, _))| {
                let mut s = Session::active(SessionId(format!("s{i}")), min(10 * i as i64), UtcOffset::UTC);
                let (end, reason) = (min(10 * i as i64 + 5), EndReason::Timeout);
                s.phase = if *reduced { Phase::Reduced { end, reason } } else { Phase::Ended { end, reason } };
                s
            })
            .collect();
        let blocks: Vec<Vec<Block>> = specs
            .iter()
            .zip(&sessions)
            .map(|((_, blocks), s)| {
                blocks
                    .iter()
                    .enumerate()
                    .map(|(m, (lines, n))| Block {
                        session_id: s.id.clone(),
                        start: Timestamp(s.start.0 + m as i64 * 60_000),
                        end: Timestamp(s.start.0 + (m as i64 + 1) * 60_000),
                        rev: 0,
                        offset: UtcOffset::UTC,
                        lines: lines.clone(),
                        apps: vec!["App".to_owned()],
                        capture_count: *n,
                        covered_by: None,
                    })
                    .collect()
            })
            .collect();
        let cut = cut.min(sessions.len());
        let whole = daybook_core::page_commits(&sessions, blocks.clone());
        let mut parts = daybook_core::page_commits(&sessions[..cut], blocks[..cut].to_vec());
        parts.extend(daybook_core::page_commits(&sessions[cut..], blocks[cut..].to_vec()));
        proptest::prop_assert_eq!(whole, parts);
    }
}
