//! The store conformance suite: one set of checks, written once, that every
//! [`Store`] must pass. [`crate::MemStore`] runs it in core's tests; the
//! daemon's SQLite store runs the same functions from its own tests, so the
//! reference model and the real store cannot drift apart.
//!
//! Compiled only with the `conformance` feature (core's own tests turn it
//! on; a store's crate enables it in its `[dev-dependencies]`). Call
//! [`run_all`] with a function that makes an empty store, or name single
//! checks (each is a `pub fn` taking a fresh, empty store). From a store's
//! crate:
//!
//! ```text
//! # Cargo.toml
//! [dev-dependencies]
//! daybook-core = { path = "../core", features = ["conformance"] }
//!
//! // tests/conformance.rs
//! daybook_core::conformance::run_all(|| SqliteStore::open(&fresh_dir().join("daybook.db")).unwrap());
//! ```
//!
//! # What passing promises
//!
//! Everything below is read off the [`Store`] trait's docs and SPEC §5–§8,
//! and each check fails on a store that gets it wrong:
//!
//! - **One transaction per call.** A refused call returns `Err` and leaves
//!   [`Store::dump`] exactly as before, even when the refusal comes from
//!   the last step of a batch whose earlier steps were fine. A refusal is
//!   [`Error::Conflict`] or [`Error::UnknownSession`], never
//!   [`Error::Storage`]: a broken rule is not a disk failure, and the store
//!   stays usable after it.
//! - **Canonical order.** `dump()` lists sessions by `(start, id)`, events
//!   by `seq`, blocks by `(session_id, start)`, loose blocks and entries by
//!   id; `session_events` by `(attributed, seq)`; `uncovered_blocks` by
//!   start; `entries_for_day` by `(from, id)`; `active_sessions`,
//!   `pending_sessions` and `due_sessions` by `(start, id)`. Ids compare
//!   byte-wise (SQLite's `BINARY` collation, Rust's `String` order).
//! - **Numeric time.** Instants compare as integers, never as text (an
//!   RFC 3339 string with an offset, or a decimal string), and every `i64`
//!   round-trips, `i64::MIN` and `i64::MAX` included.
//! - **Store-assigned ids increase.** Event `seq` and entry ids grow with
//!   commit order (gaps are allowed).
//! - **Coverage is permanent.** A block is covered by at most one entry,
//!   of its own session, and rewriting it never uncovers it.
//! - **Several active sessions.** The store keeps as many `active` rows as
//!   it is given (imported rows, orphans of earlier runs); one at a time is
//!   the engine's rule, and recovery needs the store to hold them all.
//! - **Idempotence.** Recovering with the same plan twice, or importing the
//!   same data twice, changes nothing the second time.
//! - **Lossless rows.** Every field of every type comes back exactly as
//!   written: Unicode, control characters and NUL in text, `None` apart from
//!   `Some("")`, empty lists apart from lists of one empty string, every
//!   phase and end reason, offsets of any sign, counters at their maximum.
//!
//! It promises nothing about [`Dump::day_files`] (the caller's projection)
//! nor about concurrency; every check drives the store from one thread.
//!
//! Checks panic with a message naming what went wrong; [`run_all`] runs
//! them all, then panics listing the names of the checks that failed.

use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};

use chrono::NaiveDate;

use crate::block::{Block, LooseBlock};
use crate::engine::page_commits;
use crate::error::Error;
use crate::event::{Event, StoredEvent};
use crate::recovery::{BlockSpan, EndBound, RecoveredEnd, RecoveryInput, RecoveryPlan, SessionSpan};
use crate::reduction::{Entry, EntryKind, NewEntry, ReductionCommit};
use crate::session::{EndReason, Phase, Session, SessionId};
use crate::store::{Around, Dump, IngestStep, MakeCommits, Store};
use crate::time::{Timestamp, UtcOffset};

/// One named check: it takes a fresh, empty store and panics if the store
/// does not conform.
pub type Check<S> = (&'static str, fn(S));

/// Every check of the suite, by name, in the order [`run_all`] runs them.
pub fn checks<S: Store>() -> Vec<Check<S>> {
    vec![
        ("ingest_orders_events_and_dump", ingest_orders_events_and_dump::<S>),
        ("ingest_is_all_or_nothing", ingest_is_all_or_nothing::<S>),
        ("end_session_is_atomic", end_session_is_atomic::<S>),
        (
            "write_blocks_upserts_and_keeps_coverage",
            write_blocks_upserts_and_keeps_coverage::<S>,
        ),
        ("commit_reduction_covers_once", commit_reduction_covers_once::<S>),
        (
            "commit_reductions_all_or_nothing",
            commit_reductions_all_or_nothing::<S>,
        ),
        ("mark_failed_and_due_sessions", mark_failed_and_due_sessions::<S>),
        (
            "pending_blocks_are_each_sessions_uncovered_blocks",
            pending_blocks_are_each_sessions_uncovered_blocks::<S>,
        ),
        (
            "a_prefetch_hint_never_changes_what_pending_reductions_answers",
            a_prefetch_hint_never_changes_what_pending_reductions_answers::<S>,
        ),
        (
            "a_block_added_among_covered_ones_stays_uncovered",
            a_block_added_among_covered_ones_stays_uncovered::<S>,
        ),
        (
            "around_each_answers_as_around_does",
            around_each_answers_as_around_does::<S>,
        ),
        (
            "late_steps_land_inside_their_session",
            late_steps_land_inside_their_session::<S>,
        ),
        ("recover_applies_plan_once", recover_applies_plan_once::<S>),
        (
            "active_events_gathers_every_orphans_events",
            active_events_gathers_every_orphans_events::<S>,
        ),
        ("import_is_idempotent", import_is_idempotent::<S>),
        ("entries_for_day_uses_local_date", entries_for_day_uses_local_date::<S>),
        ("timestamps_compare_numerically", timestamps_compare_numerically::<S>),
        ("every_field_round_trips", every_field_round_trips::<S>),
    ]
}

/// Runs every check, each on a store made by `fresh` (which must return an
/// empty store every time), and panics naming every check that failed. A
/// failing check's own panic message is printed as it happens.
pub fn run_all<S: Store>(mut fresh: impl FnMut() -> S) {
    let mut failed = Vec::new();
    for (name, check) in checks::<S>() {
        let store = fresh();
        if panic::catch_unwind(AssertUnwindSafe(|| check(store))).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "store conformance failed: {}", failed.join(", "));
}

// ---------------------------------------------------------------------------
// Fixtures

const MINUTE: i64 = 60_000;
/// 2027-01-15T08:00:00Z, on a minute boundary.
const T0: i64 = 1_800_000_000_000;
/// 2026-03-28T00:00:00Z.
const DAY0: i64 = 1_774_656_000_000;

/// `T0` plus `n` minutes.
fn m(n: i64) -> Timestamp {
    Timestamp(T0 + n * MINUTE)
}

/// `T0` plus `n` seconds.
fn sec(n: i64) -> Timestamp {
    Timestamp(T0 + n * 1000)
}

fn sid(s: &str) -> SessionId {
    SessionId(s.to_owned())
}

fn ev(at: Timestamp, app: &str) -> Event {
    Event {
        title: Some(format!("{app} window")),
        ..Event::new(at, app)
    }
}

fn block(session: &str, start: Timestamp) -> Block {
    Block {
        session_id: sid(session),
        start,
        end: Timestamp(start.0 + MINUTE),
        rev: 0,
        offset: UtcOffset::UTC,
        lines: vec![format!("App — {session} at {}", start.0)],
        apps: vec!["App".to_owned()],
        capture_count: 1,
        covered_by: None,
    }
}

fn loose(id: u64, start: Timestamp) -> LooseBlock {
    LooseBlock {
        id,
        start,
        end: Timestamp(start.0 + MINUTE),
        offset: UtcOffset::UTC,
        lines: vec![format!("Imported — block {id}")],
        apps: vec!["Imported".to_owned()],
        capture_count: 3,
    }
}

fn start(session: &str, at: Timestamp) -> IngestStep {
    IngestStep::Start {
        session: Session::active(sid(session), at, UtcOffset::UTC),
        first: ev(at, "App"),
    }
}

fn append(session: &str, attributed: Timestamp, event: Event) -> IngestStep {
    IngestStep::Append {
        id: sid(session),
        attributed,
        event,
    }
}

fn end(session: &str, at: Timestamp, reason: EndReason, blocks: Vec<Block>) -> IngestStep {
    IngestStep::End {
        id: sid(session),
        end: at,
        reason,
        blocks,
    }
}

fn with_phase(id: &str, start: Timestamp, phase: Phase) -> Session {
    Session {
        phase,
        ..Session::active(sid(id), start, UtcOffset::UTC)
    }
}

fn ended(id: &str, start: Timestamp, end: Timestamp, reason: EndReason) -> Session {
    with_phase(id, start, Phase::Ended { end, reason })
}

fn new_entry(session: &str, kind: EntryKind, from: Timestamp, to: Timestamp, offset: UtcOffset) -> NewEntry {
    NewEntry {
        session_id: sid(session),
        kind,
        from,
        to,
        offset,
        body: format!("## {kind:?} of {session} from {}\n\nbody\n", from.0),
    }
}

/// The entry a store must return for `new` once it assigned `id`.
fn committed(new: &NewEntry, id: u64) -> Entry {
    Entry {
        id,
        session_id: new.session_id.clone(),
        kind: new.kind,
        from: new.from,
        to: new.to,
        offset: new.offset,
        body: new.body.clone(),
    }
}

/// A reduction of `session` covering `blocks` with one entry of `kind`.
fn covering(session: &str, kind: EntryKind, blocks: &[&Block], finish: bool) -> ReductionCommit {
    let from = blocks.iter().map(|b| b.start).min().expect("at least one block");
    let to = blocks.iter().map(|b| b.end).max().expect("at least one block");
    ReductionCommit {
        session_id: sid(session),
        entry: Some(new_entry(session, kind, from, to, blocks[0].offset)),
        covered: blocks.iter().map(|b| (b.start, b.rev)).collect(),
        flush_end: Some(to),
        finish,
    }
}

/// A final reduction with nothing left to cover.
fn finish_empty(session: &str) -> ReductionCommit {
    ReductionCommit {
        session_id: sid(session),
        entry: None,
        covered: Vec::new(),
        flush_end: None,
        finish: true,
    }
}

#[track_caller]
fn ok<T>(result: Result<T, Error>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: expected success, got error: {e}"),
    }
}

#[track_caller]
fn dump<S: Store>(store: &S) -> Dump {
    ok(store.dump(), "dump")
}

/// Commits `commit`, which must write an entry, and returns it.
#[track_caller]
fn reduce<S: Store>(store: &mut S, commit: &ReductionCommit, what: &str) -> Entry {
    let entry = ok(store.commit_reduction(commit), what);
    let entry = entry.unwrap_or_else(|| panic!("{what}: a reduction with an entry returned no entry"));
    let expected = committed(commit.entry.as_ref().expect("commit has an entry"), entry.id);
    assert_eq!(
        entry, expected,
        "{what}: the returned entry differs from the one committed"
    );
    entry
}

/// Runs `call`, which must be refused, and asserts the store is unchanged.
#[track_caller]
fn refused<T: Debug, S: Store>(
    store: &mut S,
    before: &Dump,
    call: impl FnOnce(&mut S) -> Result<T, Error>,
    what: &str,
) {
    match call(store) {
        Err(Error::Conflict { .. } | Error::UnknownSession(_)) => {}
        Err(e) => panic!("{what}: refused with `{e}`; a broken rule must be a Conflict or UnknownSession"),
        Ok(v) => panic!("{what}: accepted (returned {v:?}) but must be refused"),
    }
    assert_eq!(dump(store), *before, "{what}: a refused call changed the store");
}

#[track_caller]
fn session<S: Store>(store: &S, id: &str) -> Session {
    ok(store.session(&sid(id)), "session").unwrap_or_else(|| panic!("session {id} is missing"))
}

#[track_caller]
fn ids(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.0.as_str()).collect()
}

// ---------------------------------------------------------------------------
// 0. active events

/// `active_events` returns the events of every active session and no
/// other, ordered by `(session id, attributed, seq)`: an event appended
/// later with an earlier attributed time sorts by that time, not by `seq`,
/// and ids sort as text.
pub fn active_events_gathers_every_orphans_events<S: Store>(mut store: S) {
    let late = ev(sec(-30), "Late");
    ok(
        store.ingest(&[
            start("b", m(0)),
            append("b", m(1), ev(m(1), "B1")),
            end("b", m(1), EndReason::IdleGap, vec![]),
            start("r10", m(2)),
            append("r10", m(3), ev(m(3), "R10")),
            append("r10", sec(150), late),
            start("r9", m(4)),
            append("r9", m(5), ev(m(5), "R9")),
        ]),
        "three sessions, one ended",
    );
    let got: Vec<(String, Timestamp, String)> = ok(store.active_events(), "active_events")
        .into_iter()
        .map(|e| (e.session_id.0, e.attributed, e.event.app))
        .collect();
    let want = [
        ("r10", m(2), "App"),
        ("r10", sec(150), "Late"),
        ("r10", m(3), "R10"),
        ("r9", m(4), "App"),
        ("r9", m(5), "R9"),
    ];
    let want: Vec<(String, Timestamp, String)> = want
        .iter()
        .map(|(s, t, a)| ((*s).to_owned(), *t, (*a).to_owned()))
        .collect();
    assert_eq!(
        got, want,
        "events of active sessions only, by (session, attributed, seq)"
    );
}

// ---------------------------------------------------------------------------
// 1. ingest

/// Ingest of starts, appends and ends: events get increasing `seq`,
/// `session_events` is ordered by `(attributed, seq)` (not by `at`, not by
/// `seq` alone), and `dump()` uses its canonical orders: sessions by
/// `(start, id)`, events by `seq`, blocks by key, loose blocks and entries
/// by id.
pub fn ingest_orders_events_and_dump<S: Store>(mut store: S) {
    ok(store.ingest(&[]), "an empty batch");
    let d = dump(&store);
    let empty = Dump {
        day_files: d.day_files.clone(),
        ..Dump::default()
    };
    assert_eq!(
        d, empty,
        "a fresh store must be empty, and an empty batch changes nothing"
    );

    // `b` is a zero-length session; `a` starts at the same instant, so the
    // two are told apart by id only. Its late event (at -5 s) is attributed
    // at the floor, so `at` order and attributed order differ.
    let late = ev(sec(-5), "Late");
    let (a40, a20) = (ev(sec(40), "Second"), ev(sec(20), "Third"));
    let batch1 = [
        start("b", m(0)),
        append("b", m(0), late.clone()),
        end("b", m(0), EndReason::IdleGap, vec![block("b", m(0))]),
        start("a", m(0)),
        append("a", sec(40), a40.clone()),
    ];
    ok(store.ingest(&batch1), "batch 1");
    let zero_event = ev(sec(150), "Zero");
    let batch2 = [
        // Out of attributed order on purpose: the trait orders by
        // attributed time, whatever order they arrived in.
        append("a", sec(20), a20.clone()),
        end(
            "a",
            sec(70),
            EndReason::Timeout,
            vec![block("a", m(1)), block("a", m(0))],
        ),
        start("0", m(2)),
        append("0", sec(150), zero_event.clone()),
    ];
    ok(store.ingest(&batch2), "batch 2");

    let first = |at| ev(at, "App");
    let expected: Vec<(&str, Timestamp, Event)> = vec![
        ("b", m(0), first(m(0))),
        ("b", m(0), late),
        ("a", m(0), first(m(0))),
        ("a", sec(40), a40),
        ("a", sec(20), a20),
        ("0", m(2), first(m(2))),
        ("0", sec(150), zero_event),
    ];
    let d = dump(&store);
    let got: Vec<(&str, Timestamp, Event)> = d
        .events
        .iter()
        .map(|e| (e.session_id.0.as_str(), e.attributed, e.event.clone()))
        .collect();
    assert_eq!(got, expected, "dump events must be every event, in commit (seq) order");
    assert!(
        d.events.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq must increase with commit order: {:?}",
        d.events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );

    let events_of = |id: &str| ok(store.session_events(&sid(id)), "session_events");
    let seqs = |events: Vec<StoredEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    let s = |i: usize| d.events[i].seq;
    assert_eq!(
        seqs(events_of("b")),
        [s(0), s(1)],
        "equal attributed times are ordered by seq, not by `at`"
    );
    assert_eq!(
        seqs(events_of("a")),
        [s(2), s(4), s(3)],
        "session_events is ordered by attributed time, then seq"
    );
    assert_eq!(seqs(events_of("0")), [s(5), s(6)]);
    assert_eq!(events_of("a")[1], d.events[4], "session_events returns the stored rows");
    assert!(events_of("ghost").is_empty(), "an unknown session has no events");

    assert_eq!(ids(&d.sessions), ["a", "b", "0"], "sessions are ordered by (start, id)");
    assert_eq!(
        session(&store, "b").phase,
        Phase::Ended {
            end: m(0),
            reason: EndReason::IdleGap
        }
    );
    assert_eq!(
        session(&store, "a").phase,
        Phase::Ended {
            end: sec(70),
            reason: EndReason::Timeout
        }
    );
    assert_eq!(session(&store, "0"), Session::active(sid("0"), m(2), UtcOffset::UTC));
    assert_eq!(ok(store.session(&sid("ghost")), "session"), None);
    assert_eq!(ids(&ok(store.active_sessions(), "active_sessions")), ["0"]);
    assert_eq!(ids(&ok(store.pending_sessions(), "pending_sessions")), ["a", "b"]);

    ok(store.write_blocks(&[block("0", m(2))]), "write_blocks");
    ok(
        store.import(&[], &[loose(12, m(9)), loose(3, m(8)), loose(7, m(7))]),
        "import loose blocks",
    );
    // The later window is reduced first, so entry ids and `from` disagree.
    let e1 = reduce(
        &mut store,
        &covering("a", EntryKind::Final, &[&block("a", m(1))], false),
        "reduce a's second block",
    );
    let e2 = reduce(
        &mut store,
        &covering("0", EntryKind::Flush, &[&block("0", m(2))], false),
        "flush 0",
    );
    let e3 = reduce(
        &mut store,
        &covering("b", EntryKind::Final, &[&block("b", m(0))], true),
        "reduce b",
    );
    assert!(
        e1.id < e2.id && e2.id < e3.id,
        "entry ids must increase with commit order"
    );

    let d = dump(&store);
    let mut blocks = vec![block("0", m(2)), block("a", m(0)), block("a", m(1)), block("b", m(0))];
    blocks[0].covered_by = Some(e2.id);
    blocks[2].covered_by = Some(e1.id);
    blocks[3].covered_by = Some(e3.id);
    assert_eq!(d.blocks, blocks, "blocks are ordered by (session_id, start)");
    assert_eq!(
        d.loose_blocks,
        [loose(3, m(8)), loose(7, m(7)), loose(12, m(9))],
        "loose blocks are ordered by id"
    );
    assert_eq!(d.entries, [e1, e2, e3], "entries are ordered by id");
    assert_eq!(
        ok(store.uncovered_blocks(&sid("a")), "uncovered_blocks"),
        [block("a", m(0))]
    );
}

// ---------------------------------------------------------------------------
// 2. ingest is all-or-nothing

/// A batch whose last step breaks a rule (append to an unknown or ended
/// session, start with an id that exists, end of a session that is not
/// active, end carrying another session's block) is refused whole: the
/// dump is unchanged, then a valid batch still commits.
pub fn ingest_is_all_or_nothing<S: Store>(mut store: S) {
    ok(
        store.ingest(&[
            start("done", m(-10)),
            end("done", m(-9), EndReason::IdleGap, vec![block("done", m(-10))]),
            start("live", m(0)),
        ]),
        "setup",
    );
    let before = dump(&store);
    let fine = || append("live", sec(10), ev(sec(10), "Fine"));
    let live_end = || end("live", sec(10), EndReason::Shutdown, vec![block("live", m(0))]);
    let bad: Vec<(&str, Vec<IngestStep>)> = vec![
        (
            "append to an unknown session",
            vec![
                fine(),
                start("new", sec(20)),
                append("ghost", sec(20), ev(sec(20), "X")),
            ],
        ),
        (
            "append to an ended session",
            vec![fine(), append("done", sec(20), ev(sec(20), "X"))],
        ),
        (
            "append after the session ended in the same batch",
            vec![fine(), live_end(), append("live", sec(20), ev(sec(20), "X"))],
        ),
        (
            "start with the id of an active session",
            vec![fine(), start("live", sec(20))],
        ),
        (
            "start with the id of an ended session",
            vec![fine(), start("done", sec(20))],
        ),
        (
            "start with an id started earlier in the same batch",
            vec![
                fine(),
                live_end(),
                start("twice", sec(20)),
                append("twice", sec(21), ev(sec(21), "X")),
                start("twice", sec(22)),
            ],
        ),
        (
            "end of an ended session",
            vec![fine(), end("done", sec(20), EndReason::IdleGap, vec![])],
        ),
        (
            "end of an unknown session",
            vec![fine(), end("ghost", sec(20), EndReason::IdleGap, vec![])],
        ),
        (
            "end of a session ended earlier in the same batch",
            vec![fine(), live_end(), end("live", sec(20), EndReason::IdleGap, vec![])],
        ),
        (
            "end with a block of another session",
            vec![
                fine(),
                end(
                    "live",
                    sec(10),
                    EndReason::Shutdown,
                    vec![block("live", m(0)), block("done", m(-9))],
                ),
            ],
        ),
        (
            "a valid end with blocks, then an invalid append",
            vec![fine(), live_end(), append("ghost", sec(20), ev(sec(20), "X"))],
        ),
    ];
    for (what, steps) in &bad {
        refused(&mut store, &before, |s| s.ingest(steps), what);
    }
    assert_eq!(session(&store, "live").phase, Phase::Active);

    ok(store.ingest(&[fine()]), "a valid batch after refused ones");
    let after = dump(&store);
    assert_eq!(after.events.len(), before.events.len() + 1);
    let max_before = before.events.iter().map(|e| e.seq).max().expect("setup has events");
    assert!(
        after.events.last().expect("an event").seq > max_before,
        "seq must keep increasing after refused batches"
    );
}

// ---------------------------------------------------------------------------
// 3. end_session

/// `end_session` ends an active session and writes its tail blocks in the
/// same transaction; ending a session that is not active, or passing a
/// block of another session, is refused and changes nothing.
pub fn end_session_is_atomic<S: Store>(mut store: S) {
    ok(
        store.ingest(&[start("s", m(0)), append("s", sec(70), ev(sec(70), "App"))]),
        "setup s",
    );
    ok(
        store.end_session(
            &sid("s"),
            sec(70),
            EndReason::Timeout,
            &[block("s", m(1)), block("s", m(0))],
        ),
        "end s",
    );
    assert_eq!(
        session(&store, "s").phase,
        Phase::Ended {
            end: sec(70),
            reason: EndReason::Timeout
        }
    );
    assert_eq!(
        ok(store.uncovered_blocks(&sid("s")), "uncovered_blocks"),
        [block("s", m(0)), block("s", m(1))],
        "tail blocks are written with the end, ordered by start"
    );
    assert_eq!(ok(store.latest_end(), "latest_end"), Some(sec(70)));

    ok(store.ingest(&[start("t", m(5))]), "setup t");
    ok(
        store.import(
            &[
                with_phase(
                    "failed",
                    m(-30),
                    Phase::Failed {
                        end: m(-29),
                        reason: EndReason::Paused,
                        next_retry_at: m(10),
                    },
                ),
                with_phase(
                    "reduced",
                    m(-20),
                    Phase::Reduced {
                        end: m(-19),
                        reason: EndReason::Shutdown,
                    },
                ),
            ],
            &[],
        ),
        "import failed and reduced sessions",
    );
    let before = dump(&store);
    let cases: Vec<(&str, &str, Vec<Block>)> = vec![
        ("end an ended session", "s", vec![block("s", m(2))]),
        ("end a failed session", "failed", vec![]),
        ("end a reduced session", "reduced", vec![]),
        ("end an unknown session", "ghost", vec![]),
        (
            "end with a block of another session",
            "t",
            vec![block("t", m(5)), block("s", m(3))],
        ),
    ];
    for (what, id, blocks) in &cases {
        refused(
            &mut store,
            &before,
            |s| s.end_session(&sid(id), m(6), EndReason::Shutdown, blocks),
            what,
        );
    }
    assert_eq!(session(&store, "t").phase, Phase::Active);
    assert_eq!(ok(store.latest_end(), "latest_end"), Some(sec(70)));
}

// ---------------------------------------------------------------------------
// 4. write_blocks

/// `write_blocks` inserts or replaces a block's content but keeps its
/// coverage (a covered block stays covered, an uncovered one stays
/// uncovered whatever `covered_by` the caller passes); a batch holding a
/// block of an unknown session is refused whole.
pub fn write_blocks_upserts_and_keeps_coverage<S: Store>(mut store: S) {
    ok(store.ingest(&[start("s", m(0))]), "setup");
    let (w0, w1) = (block("s", m(0)), block("s", m(1)));
    ok(store.write_blocks(&[w0.clone(), w1.clone()]), "write two blocks");
    let before = dump(&store);
    ok(
        store.write_blocks(&[w0.clone(), w1.clone()]),
        "rewrite identical blocks",
    );
    assert_eq!(dump(&store), before, "an identical rewrite changes nothing");

    let e = reduce(
        &mut store,
        &covering("s", EntryKind::Flush, &[&w0], false),
        "flush the first block",
    );
    let rewrite = |b: &Block, covered_by| Block {
        lines: vec!["App — rebuilt".to_owned(), "Other — new".to_owned()],
        apps: vec!["App".to_owned(), "Other".to_owned()],
        capture_count: b.capture_count + 5,
        covered_by,
        ..b.clone()
    };
    ok(
        store.write_blocks(&[rewrite(&w0, None), rewrite(&w1, Some(e.id + 1000))]),
        "rewrite both blocks",
    );
    let d = dump(&store);
    assert_eq!(
        d.blocks,
        [rewrite(&w0, Some(e.id)), rewrite(&w1, None)],
        "a rewrite replaces content and keeps coverage as it was"
    );
    assert_eq!(
        ok(store.uncovered_blocks(&sid("s")), "uncovered_blocks"),
        [rewrite(&w1, None)]
    );
    refused(
        &mut store,
        &d,
        |s| s.commit_reduction(&covering("s", EntryKind::Flush, &[&w0], false)),
        "cover a rewritten covered block again",
    );

    refused(
        &mut store,
        &d,
        |s| s.write_blocks(&[block("s", m(2)), block("ghost", m(2))]),
        "a block of an unknown session",
    );
}

// ---------------------------------------------------------------------------
// 5. commit_reduction

/// `commit_reduction` writes the entry (ids increase), marks every covered
/// block, sets `flush_end`, and with `finish` makes the session `reduced`
/// keeping its end and reason. It refuses, changing nothing, a block that
/// is covered or missing, a session that is reduced or unknown, covered
/// blocks without an entry, an entry of another session than the one
/// reduced, and finishing an active session. A final
/// commit with no entry only marks the session reduced.
pub fn commit_reduction_covers_once<S: Store>(mut store: S) {
    ok(store.ingest(&[start("s", m(0))]), "setup");
    ok(
        store.import(&[ended("other", m(-20), m(-15), EndReason::IdleGap)], &[]),
        "setup other",
    );
    let (w0, w1, w2) = (block("s", m(0)), block("s", m(1)), block("s", m(2)));
    ok(store.write_blocks(&[w0.clone(), w1.clone()]), "write blocks");

    let e1 = reduce(&mut store, &covering("s", EntryKind::Flush, &[&w0], false), "flush w0");
    let s = session(&store, "s");
    assert_eq!(s.phase, Phase::Active, "a flush does not end the session");
    assert_eq!(s.flush_end, Some(w0.end), "a flush sets flush_end");
    let d = dump(&store);
    assert_eq!(d.entries, std::slice::from_ref(&e1));
    assert_eq!(d.blocks[0].covered_by, Some(e1.id), "the covered block is marked");
    assert_eq!(d.blocks[1].covered_by, None, "an uncovered block is not marked");

    let missing = block("s", m(9));
    let cases: Vec<(&str, ReductionCommit)> = vec![
        (
            "cover an already covered block",
            covering("s", EntryKind::Flush, &[&w1, &w0], false),
        ),
        (
            "cover a missing block",
            covering("s", EntryKind::Flush, &[&w1, &missing], false),
        ),
        (
            "cover blocks without an entry",
            ReductionCommit {
                entry: None,
                ..covering("s", EntryKind::Flush, &[&w1], false)
            },
        ),
        (
            "finish an active session",
            covering("s", EntryKind::Final, &[&w1], true),
        ),
        ("finish an active session with no entry", finish_empty("s")),
        (
            // SPEC §8.3: no block of one session is in another's entry.
            "cover blocks with an entry of another session",
            ReductionCommit {
                entry: Some(new_entry("other", EntryKind::Flush, w1.start, w1.end, UtcOffset::UTC)),
                ..covering("s", EntryKind::Flush, &[&w1], false)
            },
        ),
        (
            "reduce an unknown session",
            covering("ghost", EntryKind::Final, &[&block("ghost", m(0))], true),
        ),
    ];
    for (what, commit) in &cases {
        refused(&mut store, &d, |s| s.commit_reduction(commit), what);
    }

    let e2 = reduce(&mut store, &covering("s", EntryKind::Flush, &[&w1], false), "flush w1");
    assert!(e2.id > e1.id, "entry ids increase");
    ok(
        store.end_session(&sid("s"), sec(150), EndReason::SoftCut, std::slice::from_ref(&w2)),
        "end s",
    );
    let e3 = reduce(
        &mut store,
        &covering("s", EntryKind::Final, &[&w2], true),
        "final reduction",
    );
    assert!(e3.id > e2.id, "entry ids increase");
    let s = session(&store, "s");
    assert_eq!(
        s.phase,
        Phase::Reduced {
            end: sec(150),
            reason: EndReason::SoftCut
        },
        "reduced keeps the end and the reason"
    );
    assert_eq!(s.flush_end, Some(w2.end));
    assert!(ok(store.uncovered_blocks(&sid("s")), "uncovered_blocks").is_empty());
    assert_eq!(
        ids(&ok(store.pending_sessions(), "pending_sessions")),
        ["other"],
        "a reduced session is no longer pending"
    );
    let d = dump(&store);
    assert_eq!(d.entries, [e1, e2, e3.clone()]);
    assert!(d.blocks.iter().all(|b| b.covered_by.is_some()));

    // Only the reduced rule is broken here: no block is named.
    let d = dump(&store);
    let entry_only = |kind, finish| ReductionCommit {
        session_id: sid("s"),
        entry: Some(new_entry("s", kind, m(2), m(3), UtcOffset::UTC)),
        covered: Vec::new(),
        flush_end: None,
        finish,
    };
    let cases: Vec<(&str, ReductionCommit)> = vec![
        ("reduce a reduced session again", entry_only(EntryKind::Final, true)),
        ("flush a reduced session", entry_only(EntryKind::Flush, false)),
        ("finish a reduced session with no entry", finish_empty("s")),
    ];
    for (what, commit) in &cases {
        refused(&mut store, &d, |s| s.commit_reduction(commit), what);
    }

    // A final reduction with nothing left: reduced, no entry, flush_end
    // and retry count as they were.
    ok(
        store.ingest(&[start("q", m(10)), append("q", m(11), ev(m(11), "App"))]),
        "setup q",
    );
    let q0 = block("q", m(10));
    ok(store.write_blocks(std::slice::from_ref(&q0)), "write q0");
    reduce(&mut store, &covering("q", EntryKind::Flush, &[&q0], false), "flush q");
    ok(store.end_session(&sid("q"), m(11), EndReason::IdleGap, &[]), "end q");
    ok(store.mark_failed(&sid("q"), 2, m(20)), "fail q");
    let entries_before = dump(&store).entries;
    assert_eq!(
        ok(store.commit_reduction(&finish_empty("q")), "finish q with no entry"),
        None,
        "a commit without an entry returns none"
    );
    let q = session(&store, "q");
    assert_eq!(
        q.phase,
        Phase::Reduced {
            end: m(11),
            reason: EndReason::IdleGap
        },
        "a failed session finishes as reduced with its end and reason"
    );
    assert_eq!(q.flush_end, Some(q0.end), "a commit without flush_end keeps it");
    assert_eq!(q.retry_count, 2, "a reduction does not touch retry_count");
    assert_eq!(dump(&store).entries, entries_before, "no entry was written");
}

// ---------------------------------------------------------------------------
// 5b. commit_reductions

/// `commit_reductions` commits many reductions in one transaction: each
/// commit with `commit_reduction`'s own checks, applied in order (a later
/// commit sees what an earlier one did), entries returned in batch order
/// with increasing ids, every entry readable by `entries_for_day` on its
/// own day. A refused commit anywhere in the batch (first, middle, last,
/// or one that conflicts only with an earlier commit of the same batch)
/// leaves nothing of the batch; an empty batch changes nothing.
pub fn commit_reductions_all_or_nothing<S: Store>(mut store: S) {
    let day0 = Timestamp(DAY0 + 9 * 60 * MINUTE);
    ok(
        store.import(
            &[
                ended("a", m(0), m(3), EndReason::IdleGap),
                ended("b", day0, Timestamp(day0.0 + 3 * MINUTE), EndReason::SoftCut),
                ended("e", m(20), m(21), EndReason::Timeout),
            ],
            &[],
        ),
        "setup ended sessions",
    );
    ok(store.ingest(&[start("c", m(10))]), "setup active c");
    let (a0, a1) = (block("a", m(0)), block("a", m(1)));
    let (b0, b1) = (block("b", day0), block("b", Timestamp(day0.0 + MINUTE)));
    let c0 = block("c", m(10));
    ok(
        store.write_blocks(&[a0.clone(), a1.clone(), b0.clone(), b1.clone(), c0.clone()]),
        "write blocks",
    );
    let empty = dump(&store);
    assert_eq!(
        ok(store.commit_reductions(&[]), "empty batch"),
        Vec::<Option<Entry>>::new()
    );
    assert_eq!(dump(&store), empty, "an empty batch changes nothing");

    let good = [
        covering("b", EntryKind::Final, &[&b0, &b1], true),
        covering("c", EntryKind::Flush, &[&c0], false),
        finish_empty("e"),
        covering("a", EntryKind::Heuristic, &[&a0], true),
    ];
    let bad: Vec<(&str, Vec<ReductionCommit>)> = vec![
        (
            "a refused commit first",
            [vec![covering("c", EntryKind::Final, &[&c0], true)], good.to_vec()].concat(),
        ),
        (
            "a refused commit in the middle",
            [
                good[..2].to_vec(),
                vec![covering("a", EntryKind::Flush, &[&a0, &block("a", m(7))], false)],
                good[2..].to_vec(),
            ]
            .concat(),
        ),
        (
            "a refused commit last",
            [
                good.to_vec(),
                vec![covering("ghost", EntryKind::Final, &[&block("ghost", m(0))], true)],
            ]
            .concat(),
        ),
        (
            "a commit covering a block an earlier commit of the batch covered",
            [good.to_vec(), vec![covering("b", EntryKind::Flush, &[&b1], false)]].concat(),
        ),
        (
            "a second final of a session the batch already reduced",
            [good.to_vec(), vec![finish_empty("e")]].concat(),
        ),
    ];
    for (what, batch) in &bad {
        refused(&mut store, &empty, |s| s.commit_reductions(batch), what);
    }

    let entries = ok(store.commit_reductions(&good), "commit the batch");
    assert_eq!(entries.len(), good.len(), "one result per commit");
    assert!(
        entries[2].is_none(),
        "a commit without an entry returns none in its place"
    );
    let written: Vec<Entry> = entries.iter().flatten().cloned().collect();
    let expected: Vec<Entry> = good
        .iter()
        .filter_map(|c| c.entry.as_ref())
        .zip(&written)
        .map(|(new, got)| committed(new, got.id))
        .collect();
    assert_eq!(
        written, expected,
        "each returned entry is the one committed, in batch order"
    );
    assert!(
        written.windows(2).all(|w| w[0].id < w[1].id),
        "entry ids increase in batch order: {:?}",
        written.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let d = dump(&store);
    assert_eq!(d.entries, written, "exactly the batch's entries were written");
    let covered = |b: &Block| d.blocks.iter().find(|x| x.key() == b.key()).and_then(|x| x.covered_by);
    let (eb, ec, ea) = (written[0].id, written[1].id, written[2].id);
    assert_eq!(
        [&b0, &b1, &c0, &a0, &a1].map(covered),
        [Some(eb), Some(eb), Some(ec), Some(ea), None],
        "each block is marked by its own session's entry, and only those named"
    );
    let phases: Vec<(&str, &str)> = ["a", "b", "c", "e"]
        .iter()
        .map(|id| (*id, session(&store, id).phase.status()))
        .collect();
    assert_eq!(
        phases,
        [("a", "reduced"), ("b", "reduced"), ("c", "active"), ("e", "reduced")]
    );
    assert_eq!(
        session(&store, "c").flush_end,
        Some(c0.end),
        "a flush in a batch sets flush_end"
    );
    for e in &written {
        let day = e.day();
        assert!(
            ok(store.entries_for_day(day), "entries_for_day").contains(e),
            "entry {} is not read back for its day {day}",
            e.id
        );
    }
    assert_ne!(written[0].day(), written[1].day(), "the batch touched two days");

    // After the batch, a commit refused for what the batch did.
    let d = dump(&store);
    refused(
        &mut store,
        &d,
        |s| s.commit_reductions(&[covering("a", EntryKind::Final, &[&a1], true)]),
        "reduce a session the batch reduced",
    );
}

// ---------------------------------------------------------------------------
// 6. mark_failed

/// `mark_failed` turns an ended (or failed) session into `failed` with the
/// given retry count and retry time; `due_sessions(now)` returns it only
/// once `next_retry_at <= now`; `pending_sessions` returns ended and
/// failed sessions, never active or reduced ones. Failing an active,
/// reduced or unknown session is refused.
pub fn mark_failed_and_due_sessions<S: Store>(mut store: S) {
    ok(
        store.ingest(&[
            start("e1", m(0)),
            end("e1", m(1), EndReason::IdleGap, vec![]),
            start("red", m(5)),
            end("red", m(6), EndReason::Shutdown, vec![]),
            start("e2", m(10)),
            end("e2", m(11), EndReason::SoftCut, vec![block("e2", m(10))]),
            start("act", m(20)),
        ]),
        "setup",
    );
    ok(store.commit_reduction(&finish_empty("red")), "reduce red");
    assert_eq!(ids(&ok(store.pending_sessions(), "pending_sessions")), ["e1", "e2"]);
    assert!(
        ok(store.due_sessions(Timestamp(i64::MAX)), "due_sessions").is_empty(),
        "an ended session that never failed is not due"
    );

    let retry = m(60);
    ok(store.mark_failed(&sid("e2"), 1, retry), "fail e2");
    let e2 = session(&store, "e2");
    assert_eq!(
        e2.phase,
        Phase::Failed {
            end: m(11),
            reason: EndReason::SoftCut,
            next_retry_at: retry
        }
    );
    assert_eq!(e2.retry_count, 1);
    assert_eq!(ids(&ok(store.pending_sessions(), "pending_sessions")), ["e1", "e2"]);
    let due = |store: &S, now: Timestamp| ids(&ok(store.due_sessions(now), "due_sessions")).join(",");
    assert_eq!(due(&store, Timestamp(retry.0 - 1)), "", "not due a millisecond early");
    assert_eq!(due(&store, retry), "e2", "due at next_retry_at exactly");
    assert_eq!(due(&store, m(600)), "e2", "still due later");

    ok(store.mark_failed(&sid("e1"), 3, m(30)), "fail e1");
    assert_eq!(due(&store, m(30)), "e1");
    assert_eq!(due(&store, retry), "e1,e2", "due sessions are ordered by start");
    ok(store.mark_failed(&sid("e2"), 4, m(90)), "fail e2 again");
    let e2 = session(&store, "e2");
    assert_eq!(e2.retry_count, 4, "a second failure replaces the count");
    assert_eq!(e2.phase.end(), Some(m(11)));
    assert_eq!(due(&store, retry), "e1", "a second failure moves the retry");

    let before = dump(&store);
    for (what, id) in [
        ("fail an active session", "act"),
        ("fail a reduced session", "red"),
        ("fail an unknown session", "ghost"),
    ] {
        refused(&mut store, &before, |s| s.mark_failed(&sid(id), 9, m(1)), what);
    }
    assert_eq!(ids(&ok(store.active_sessions(), "active_sessions")), ["act"]);

    reduce(
        &mut store,
        &covering("e2", EntryKind::Heuristic, &[&block("e2", m(10))], true),
        "heuristic reduction of e2",
    );
    assert_eq!(ids(&ok(store.pending_sessions(), "pending_sessions")), ["e1"]);
    assert_eq!(due(&store, m(600)), "e1", "a reduced session is never due");
}

// ---------------------------------------------------------------------------
// 6b. pending_blocks

/// `pending_blocks` is reduce-pending's input for a batch of sessions in
/// one read: for each session given, in their order, exactly its
/// `uncovered_blocks` (by start). Covered blocks and other sessions'
/// blocks stay out; a session with no uncovered block gets none. Any
/// sessions, in any order, a session listed twice included, get the same.
pub fn pending_blocks_are_each_sessions_uncovered_blocks<S: Store>(mut store: S) {
    let (a0, a1, a2) = (block("a", m(0)), block("a", m(1)), block("a", m(2)));
    ok(
        store.ingest(&[
            start("a", m(0)),
            end("a", m(3), EndReason::IdleGap, vec![a2.clone(), a0.clone(), a1.clone()]),
            start("b", m(10)),
            end("b", m(11), EndReason::SoftCut, vec![block("b", m(10))]),
            start("empty", m(20)),
            end("empty", m(21), EndReason::Shutdown, vec![]),
            start("red", m(30)),
            end("red", m(31), EndReason::Shutdown, vec![block("red", m(30))]),
            start("act", m(40)),
        ]),
        "setup",
    );
    ok(store.write_blocks(&[block("act", m(40))]), "an active session's block");
    reduce(
        &mut store,
        &covering("red", EntryKind::Final, &[&block("red", m(30))], true),
        "reduce red",
    );
    reduce(&mut store, &covering("a", EntryKind::Flush, &[&a0], false), "flush a");
    ok(store.mark_failed(&sid("b"), 2, m(90)), "fail b");

    // Each asked session's id with the starts of the blocks given for it.
    fn starts<'s>(sessions: &'s [Session], work: &[Vec<Block>]) -> Vec<(&'s str, Vec<Timestamp>)> {
        sessions
            .iter()
            .zip(work)
            .map(|(s, b)| (s.id.0.as_str(), b.iter().map(|b| b.start).collect()))
            .collect()
    }
    let pending = ok(store.pending_sessions(), "pending_sessions");
    let work = ok(store.pending_blocks(&pending), "pending_blocks");
    assert_eq!(work.len(), pending.len(), "one list of blocks a session");
    for (session, blocks) in pending.iter().zip(&work) {
        assert_eq!(
            *blocks,
            ok(store.uncovered_blocks(&session.id), "uncovered_blocks"),
            "the blocks of {} are its uncovered ones",
            session.id
        );
    }
    assert_eq!(
        starts(&pending, &work),
        [("a", vec![m(1), m(2)]), ("b", vec![m(10)]), ("empty", vec![])],
        "covered, reduced and active blocks stay out; blocks by start"
    );

    // Any sessions, in another order, one listed twice: the same answer.
    let session = |id: &str| ok(store.session(&sid(id)), "session").unwrap_or_else(|| panic!("session {id}"));
    let any: Vec<Session> = ["act", "empty", "a", "red", "b", "a"]
        .into_iter()
        .map(session)
        .collect();
    let work = ok(store.pending_blocks(&any), "pending_blocks of any sessions");
    assert_eq!(
        starts(&any, &work),
        [
            ("act", vec![m(40)]),
            ("empty", vec![]),
            ("a", vec![m(1), m(2)]),
            ("red", vec![]),
            ("b", vec![m(10)]),
            ("a", vec![m(1), m(2)])
        ],
        "each session's uncovered blocks, in the order asked"
    );
    assert_eq!(
        ok(store.pending_blocks(&[]), "pending_blocks of none"),
        Vec::<Vec<Block>>::new()
    );
}

/// A way to make a batch's commits other than [`page_commits`]: no entry,
/// each session's given blocks as its `covered` list. A hint given with
/// one `make` says nothing of a call with another.
fn covered_only(sessions: &[Session], blocks: Vec<Vec<Block>>) -> Vec<ReductionCommit> {
    sessions
        .iter()
        .zip(blocks)
        .map(|(s, blocks)| ReductionCommit {
            session_id: s.id.clone(),
            entry: None,
            covered: blocks.iter().map(|b| (b.start, b.rev)).collect(),
            flush_end: None,
            finish: false,
        })
        .collect()
}

/// [`Store::prefetch_pending_reductions`] is only a hint: whatever happens
/// between it and the next [`Store::pending_reductions`] (the hint kept:
/// reductions of other sessions; or broken: other sessions asked for, the
/// hinted ones in another order or as they are no longer, another `make`,
/// a block written to one of them, one of them reduced, a hint
/// withdrawn), the answer is `make` of the sessions asked and their
/// uncovered blocks as they are when asked.
pub fn a_prefetch_hint_never_changes_what_pending_reductions_answers<S: Store>(mut store: S) {
    let (a0, a1) = (block("a", m(0)), block("a", m(1)));
    let (b0, c0, d0) = (block("b", m(10)), block("c", m(20)), block("d", m(30)));
    ok(
        store.ingest(&[
            start("a", m(0)),
            end("a", m(2), EndReason::IdleGap, vec![a0.clone(), a1.clone()]),
            start("b", m(10)),
            end("b", m(11), EndReason::SoftCut, vec![b0.clone()]),
            start("c", m(20)),
            end("c", m(21), EndReason::SoftCut, vec![c0.clone()]),
            start("d", m(30)),
            end("d", m(31), EndReason::SoftCut, vec![d0.clone()]),
        ]),
        "setup",
    );
    let session = |store: &S, id: &str| ok(store.session(&sid(id)), "session").unwrap_or_else(|| panic!("{id}"));
    // What the call must answer: `make` of the sessions and their
    // uncovered blocks as they are now, each read on its own.
    let truth = |store: &S, sessions: &[Session], make: MakeCommits| -> Vec<ReductionCommit> {
        let blocks = sessions
            .iter()
            .map(|s| ok(store.uncovered_blocks(&s.id), "uncovered_blocks"))
            .collect();
        make(sessions, blocks)
    };
    let ask = |store: &S, sessions: &[Session], make: MakeCommits, what: &str| {
        ok(store.pending_reductions(sessions, make), what)
    };
    // The body's text, for the lines of each commit's entry.
    let bodies = |commits: &[ReductionCommit]| -> Vec<String> {
        commits
            .iter()
            .map(|c| c.entry.as_ref().map_or(String::new(), |e| e.body.clone()))
            .collect()
    };
    let ab = [session(&store, "a"), session(&store, "b")];

    // Without a hint: `make` of the pending blocks.
    let work = ask(&store, &ab, page_commits, "pending_reductions, no hint");
    assert_eq!(work, truth(&store, &ab, page_commits), "no hint");
    assert_eq!(work[0].covered, [(m(0), 0), (m(1), 0)], "a's two blocks");
    assert_eq!(
        ask(&store, &[], page_commits, "pending_reductions of none"),
        Vec::<ReductionCommit>::new()
    );

    // Kept: another session reduced meanwhile.
    store.prefetch_pending_reductions(&ab, page_commits);
    reduce(&mut store, &covering("c", EntryKind::Final, &[&c0], true), "reduce c");
    let work = ask(&store, &ab, page_commits, "pending_reductions, hint kept");
    assert_eq!(work, truth(&store, &ab, page_commits), "the hint kept");
    assert_eq!(work[0].covered.len(), 2, "a's two blocks");

    // Broken: one of the hinted sessions reduced (a flush of a0) meanwhile.
    store.prefetch_pending_reductions(&ab, page_commits);
    reduce(&mut store, &covering("a", EntryKind::Flush, &[&a0], false), "flush a");
    let work = ask(&store, &ab, page_commits, "after a hinted session's flush");
    assert_eq!(
        work,
        truth(&store, &ab, page_commits),
        "a reduction of a hinted session"
    );
    assert_eq!(work[0].covered, [(m(1), 0)], "a0 covered");

    // Broken: a block written to a hinted session meanwhile.
    store.prefetch_pending_reductions(&ab, page_commits);
    let mut b0_again = b0.clone();
    b0_again.lines = vec!["rewritten".to_owned()];
    ok(store.write_blocks(&[b0_again]), "a hinted session's block rewritten");
    let work = ask(&store, &ab, page_commits, "after a write");
    assert_eq!(work, truth(&store, &ab, page_commits), "a write to a hinted session");
    assert!(bodies(&work)[1].contains("rewritten"), "b's block as rewritten");

    // Broken: other sessions, the same in another order, the same ids as
    // they are no longer (b as if reduced: a late entry, not a final
    // one), or another `make` asked for.
    let d = [session(&store, "d")];
    store.prefetch_pending_reductions(&ab, page_commits);
    assert_eq!(
        ask(&store, &d, page_commits, "other sessions"),
        truth(&store, &d, page_commits)
    );
    let ba = [ab[1].clone(), ab[0].clone()];
    store.prefetch_pending_reductions(&ab, page_commits);
    assert_eq!(
        ask(&store, &ba, page_commits, "another order"),
        truth(&store, &ba, page_commits)
    );
    let ab_late = [
        ab[0].clone(),
        Session {
            phase: Phase::Reduced {
                end: m(11),
                reason: EndReason::SoftCut,
            },
            ..ab[1].clone()
        },
    ];
    store.prefetch_pending_reductions(&ab, page_commits);
    let work = ask(&store, &ab_late, page_commits, "the sessions changed");
    assert_eq!(work, truth(&store, &ab_late, page_commits), "the sessions as asked");
    assert_eq!(
        work[1].entry.as_ref().map(|e| e.kind),
        Some(EntryKind::Late),
        "b's entry as the session asked"
    );
    store.prefetch_pending_reductions(&ab, page_commits);
    let work = ask(&store, &ab, covered_only, "another make");
    assert_eq!(work, truth(&store, &ab, covered_only), "the make asked");
    assert!(work.iter().all(|c| c.entry.is_none()), "no entry from covered_only");
    // The earlier hint is over: a later ask works out what is there.
    reduce(&mut store, &covering("b", EntryKind::Final, &[&b0], true), "reduce b");
    let work = ask(&store, &ab, page_commits, "after the hint");
    assert_eq!(work, truth(&store, &ab, page_commits));
    assert!(work[1].entry.is_none() && work[1].covered.is_empty(), "b reduced");

    // Withdrawn, then asked anyway.
    store.prefetch_pending_reductions(&d, page_commits);
    store.prefetch_pending_reductions(&[], page_commits);
    reduce(&mut store, &covering("d", EntryKind::Final, &[&d0], true), "reduce d");
    let work = ask(&store, &d, page_commits, "after a withdrawn hint");
    assert_eq!(work, truth(&store, &d, page_commits));
    assert!(work[0].entry.is_none(), "d reduced: nothing left to cover");
}

/// A block written later into a window between blocks one entry covers
/// (a late event in a quiet minute, or a flushed session's gap filled) is
/// uncovered, and the blocks around it keep their entry: a store that
/// keeps coverage as runs of windows (the SQLite store does) must not let
/// a run take in a block its entry never covered. The reduced session is
/// pending again until a late entry covers the new blocks.
pub fn a_block_added_among_covered_ones_stays_uncovered<S: Store>(mut store: S) {
    let (g0, g2, g4) = (block("g", m(0)), block("g", m(2)), block("g", m(4)));
    ok(
        store.ingest(&[
            start("g", m(0)),
            end("g", m(5), EndReason::IdleGap, vec![g0.clone(), g2.clone(), g4.clone()]),
            start("f", m(10)),
        ]),
        "setup",
    );
    let first = reduce(
        &mut store,
        &covering("g", EntryKind::Final, &[&g0, &g2, &g4], true),
        "reduce g",
    );
    let (f10, f12) = (block("f", m(10)), block("f", m(12)));
    ok(store.write_blocks(&[f10.clone(), f12.clone()]), "f's blocks");
    let flush = reduce(
        &mut store,
        &covering("f", EntryKind::Flush, &[&f10, &f12], false),
        "flush f",
    );
    assert_eq!(ok(store.pending_sessions(), "pending_sessions"), Vec::<Session>::new());

    let g1 = block("g", m(1));
    let g2_late = Block {
        rev: 1,
        lines: vec!["App — a late revision".to_owned()],
        ..g2.clone()
    };
    ok(
        store.ingest(&[IngestStep::LateBlocks {
            id: sid("g"),
            blocks: vec![g1.clone(), g2_late.clone()],
        }]),
        "late blocks inside g's covered span",
    );
    ok(store.write_blocks(&[block("f", m(11))]), "a block in f's flushed gap");
    let after = dump(&store);
    let covered: Vec<(&str, Timestamp, u32, Option<u64>)> = after
        .blocks
        .iter()
        .map(|b| (b.session_id.0.as_str(), b.start, b.rev, b.covered_by))
        .collect();
    assert_eq!(
        covered,
        [
            ("f", m(10), 0, Some(flush.id)),
            ("f", m(11), 0, None),
            ("f", m(12), 0, Some(flush.id)),
            ("g", m(0), 0, Some(first.id)),
            ("g", m(1), 0, None),
            ("g", m(2), 0, Some(first.id)),
            ("g", m(2), 1, None),
            ("g", m(4), 0, Some(first.id)),
        ],
        "new blocks uncovered, their neighbours still covered"
    );
    assert_eq!(ids(&ok(store.pending_sessions(), "pending_sessions")), ["g"]);
    assert_eq!(
        ok(store.uncovered_blocks(&sid("g")), "uncovered_blocks"),
        [g1.clone(), g2_late.clone()]
    );
    let late = reduce(
        &mut store,
        &covering("g", EntryKind::Late, &[&g1, &g2_late], false),
        "late entry over the new blocks",
    );
    let before = dump(&store);
    refused(
        &mut store,
        &before,
        |s| s.commit_reduction(&covering("g", EntryKind::Late, &[&g2_late], false)),
        "covering a late block twice",
    );
    assert_eq!(ok(store.pending_sessions(), "pending_sessions"), Vec::<Session>::new());
    let g: Vec<Option<u64>> = dump(&store)
        .blocks
        .iter()
        .filter(|b| b.session_id == sid("g"))
        .map(|b| b.covered_by)
        .collect();
    assert_eq!(
        g,
        [
            Some(first.id),
            Some(late.id),
            Some(first.id),
            Some(late.id),
            Some(first.id)
        ]
    );
}

// ---------------------------------------------------------------------------
// 6b. late events: where an instant lies, and late steps

/// `around` places an instant among the stored sessions that are not
/// active (SPEC §2): the one whose `[start, end]` holds it, else the
/// latest end before it; and the earliest start after it of any
/// session, active included. `around_each` answers a list of instants
/// (any order, repeats allowed) in that order, each exactly as `around`
/// does, from one read: a store that walks the range wrongly (misses the
/// session that starts before the earliest instant, takes the shorter of
/// two sessions sharing a start, forgets active sessions as gap bounds,
/// or answers in sorted order) fails here.
pub fn around_each_answers_as_around_does<S: Store>(mut store: S) {
    let reduced = |id: &str, start: Timestamp, end: Timestamp| {
        with_phase(
            id,
            start,
            Phase::Reduced {
                end,
                reason: EndReason::IdleGap,
            },
        )
    };
    let failed = with_phase(
        "d",
        m(30),
        Phase::Failed {
            end: m(31),
            reason: EndReason::SoftCut,
            next_retry_at: m(40),
        },
    );
    ok(
        store.import(
            &[
                ended("a", m(0), m(5), EndReason::IdleGap),
                reduced("b", m(10), m(12)),
                // Zero-length, sharing b's start: it holds m(10) only.
                reduced("z", m(10), m(10)),
                with_phase("c", m(20), Phase::Active),
                failed,
            ],
            &[],
        ),
        "import the sessions",
    );
    let at = |holder: Option<&str>, before: Option<Timestamp>, after: Option<Timestamp>| {
        (holder.map(str::to_owned), before, after)
    };
    let expected = [
        (Timestamp(i64::MIN), at(None, None, Some(m(0)))),
        (m(-1), at(None, None, Some(m(0)))),
        (m(0), at(Some("a"), None, Some(m(10)))),
        (m(3), at(Some("a"), None, Some(m(10)))),
        (m(5), at(Some("a"), None, Some(m(10)))),
        (m(7), at(None, Some(m(5)), Some(m(10)))),
        (m(11), at(Some("b"), None, Some(m(20)))),
        (m(12), at(Some("b"), None, Some(m(20)))),
        (m(15), at(None, Some(m(12)), Some(m(20)))),
        // An active session holds nothing here, but bounds the gap.
        (m(20), at(None, Some(m(12)), Some(m(30)))),
        (m(25), at(None, Some(m(12)), Some(m(30)))),
        (m(30), at(Some("d"), None, None)),
        (m(31), at(Some("d"), None, None)),
        (m(40), at(None, Some(m(31)), None)),
        (Timestamp(i64::MAX), at(None, Some(m(31)), None)),
    ];
    let seen = |a: &Around| (a.holder.as_ref().map(|s| s.id.0.clone()), a.before, a.after);
    for (instant, want) in &expected {
        let got = ok(store.around(*instant), "around");
        assert_eq!(seen(&got), *want, "around({})", instant.0);
        if let Some(holder) = &got.holder {
            assert_eq!(*holder, session(&store, &holder.id.0), "around returns the whole row");
        }
    }
    // The instants in a scrambled order, with repeats and m(10), where
    // two sessions hold the instant (either may answer, as `around` says).
    let mut ats: Vec<Timestamp> = expected.iter().map(|(t, _)| *t).collect();
    ats.reverse();
    ats.swap(2, 9);
    ats.extend([m(10), m(7), m(30), m(-1)]);
    let one_by_one: Vec<Around> = ats.iter().map(|&t| ok(store.around(t), "around")).collect();
    assert_eq!(
        ok(store.around_each(&ats), "around_each"),
        one_by_one,
        "around_each answers each instant as around does, in the order asked"
    );
    for part in [&ats[..1], &ats[3..6], &ats[8..]] {
        let one_by_one: Vec<Around> = part.iter().map(|&t| ok(store.around(t), "around")).collect();
        assert_eq!(
            ok(store.around_each(part), "around_each"),
            one_by_one,
            "a part of the instants"
        );
    }
    assert_eq!(ok(store.around_each(&[]), "around_each"), Vec::<Around>::new());
    let ten = ok(store.around(m(10)), "around");
    assert!(
        matches!(ten.holder.as_ref().map(|s| s.id.0.as_str()), Some("b" | "z")),
        "m(10) is held by b or z: {ten:?}"
    );
}

/// A `Late` step appends an event at its own `at` to a session of any
/// status whose `[start, end]` holds it, in the revision it names; one
/// outside its session's bounds, even after other late steps into the
/// same session were accepted, or after an `End` step of the same batch
/// moved those bounds, refuses the whole batch. So does one into an
/// unknown session.
pub fn late_steps_land_inside_their_session<S: Store>(mut store: S) {
    let late = |session: &str, at: Timestamp, rev: u32| IngestStep::Late {
        id: sid(session),
        rev,
        event: ev(at, "Late"),
    };
    ok(
        store.ingest(&[
            start("a", m(0)),
            end("a", m(5), EndReason::IdleGap, vec![block("a", m(0))]),
            start("s", m(20)),
        ]),
        "setup",
    );
    ok(
        store.ingest(&[
            late("a", m(2), 0),
            late("a", m(0), 1),
            late("a", m(5), 1),
            late("s", m(30), 0),
        ]),
        "late events inside a and into active s",
    );
    let a: Vec<(Timestamp, u32)> = ok(store.session_events(&sid("a")), "session_events")
        .iter()
        .map(|e| (e.attributed, e.rev))
        .collect();
    assert_eq!(
        a,
        [(m(0), 0), (m(0), 1), (m(2), 0), (m(5), 1)],
        "each at its own at and rev"
    );
    let before = dump(&store);
    refused(
        &mut store,
        &before,
        |st| st.ingest(&[late("a", m(3), 0), late("a", m(4), 0), late("a", m(6), 0)]),
        "a late event after its session's end",
    );
    refused(
        &mut store,
        &before,
        |st| st.ingest(&[late("a", m(1), 0), late("a", Timestamp(m(0).0 - 1), 0)]),
        "a late event before its session's start",
    );
    refused(
        &mut store,
        &before,
        |st| {
            st.ingest(&[
                late("s", m(31), 0),
                append("s", m(32), ev(m(32), "App")),
                end("s", m(32), EndReason::IdleGap, vec![block("s", m(20))]),
                late("s", m(33), 0),
            ])
        },
        "a late event after the end an earlier step of its batch gave",
    );
    refused(
        &mut store,
        &before,
        |st| st.ingest(&[late("a", m(1), 0), late("nobody", m(1), 0)]),
        "a late event into an unknown session",
    );
}

// ---------------------------------------------------------------------------
// 7. recover and recovery_input

/// `input` with its sessions by id (owned blocks' owners following
/// them), its evidence sorted: what two stores' inputs are compared as.
fn normalized(mut input: RecoveryInput) -> RecoveryInput {
    let old: Vec<SessionId> = input.sessions.iter().map(|s| s.id.clone()).collect();
    input.sessions.sort_by(|a, b| a.id.cmp(&b.id));
    input.last_events.sort();
    for b in &mut input.blocks {
        if let Some(owner) = b.owner {
            // Documented as ignored for owned blocks.
            b.loose_id = 0;
            b.owner = old
                .get(owner)
                .and_then(|id| input.sessions.iter().position(|s| s.id == *id));
        }
    }
    input
        .blocks
        .sort_by(|a, b| (&a.owner, a.loose_id, a.start, a.end).cmp(&(&b.owner, b.loose_id, b.start, b.end)));
    input
}

fn span(id: &str, start: Timestamp, end: Option<Timestamp>, reduced: bool) -> SessionSpan {
    SessionSpan {
        id: sid(id),
        start,
        end,
        reduced,
    }
}

/// A block of the session at `owner` in its input's sessions.
fn owned_span(owner: usize, start: Timestamp) -> BlockSpan {
    BlockSpan {
        owner: Some(owner),
        loose_id: 0,
        start,
        end: Timestamp(start.0 + MINUTE),
    }
}

fn loose_span(b: &LooseBlock) -> BlockSpan {
    BlockSpan {
        owner: None,
        loose_id: b.id,
        start: b.start,
        end: b.end,
    }
}

fn recovered_end(id: &str, end: Timestamp) -> RecoveredEnd {
    RecoveredEnd {
        id: sid(id),
        end,
        had_evidence: true,
        bound: EndBound::Evidence,
    }
}

/// `recovery_input` gathers every session, each orphan's latest attributed
/// event, the blocks of orphans and every loose block (compared as sets).
/// `recover` ends each planned orphan with reason `recovered`, leaves
/// sessions that are no longer active alone, and moves a loose block to its
/// planned owner only when the owner is not reduced and has no block at
/// that window. `latest_end` sees the recovered ends; a second application
/// of the same plan changes nothing.
pub fn recover_applies_plan_once<S: Store>(mut store: S) {
    let l = [
        loose(1, m(5)),   // to o1: moves
        loose(2, m(1)),   // to o1, which has a block there: stays loose
        loose(3, m(-35)), // to red, reduced: stays loose
        loose(4, m(-55)), // to done, ended: moves
        loose(5, m(200)), // no owner planned: stays loose
    ];
    ok(
        store.import(
            &[
                ended("done", m(-60), m(-50), EndReason::IdleGap),
                with_phase(
                    "red",
                    m(-40),
                    Phase::Reduced {
                        end: m(-30),
                        reason: EndReason::Timeout,
                    },
                ),
                Session::active(sid("o2"), m(60), UtcOffset::UTC),
            ],
            &l,
        ),
        "import",
    );
    ok(
        store.ingest(&[
            start("o1", m(0)),
            append("o1", m(3), ev(m(3), "App")),
            // Attributed earlier than the one before it: the latest event
            // is the greatest attributed time, not the greatest seq.
            append("o1", m(2), ev(m(2), "App")),
        ]),
        "ingest o1",
    );
    ok(
        store.write_blocks(&[block("o1", m(0)), block("o1", m(1)), block("done", m(-60))]),
        "write blocks",
    );

    let input = normalized(ok(store.recovery_input(), "recovery_input"));
    let expected = normalized(RecoveryInput {
        sessions: vec![
            span("done", m(-60), Some(m(-50)), false),
            span("red", m(-40), Some(m(-30)), true),
            span("o1", m(0), None, false),
            span("o2", m(60), None, false),
        ],
        last_events: vec![(sid("o1"), m(3))],
        // `o1`, the third session.
        blocks: [owned_span(2, m(0)), owned_span(2, m(1))]
            .into_iter()
            .chain(l.iter().map(loose_span))
            .collect(),
    });
    assert_eq!(
        input, expected,
        "recovery_input: every session, each orphan's latest event, orphans' and loose blocks"
    );

    let plan = RecoveryPlan {
        ends: vec![
            recovered_end("o1", m(6)),
            recovered_end("o2", m(61)),
            // Not active: left alone.
            recovered_end("done", m(-1)),
        ],
        owners: vec![
            (1, sid("o1")),
            (2, sid("o1")),
            (3, sid("red")),
            (4, sid("done")),
            (99, sid("o1")),
        ],
    };
    ok(store.recover(&plan), "recover");
    let recovered = |end| Phase::Ended {
        end,
        reason: EndReason::Recovered,
    };
    assert_eq!(session(&store, "o1").phase, recovered(m(6)));
    assert_eq!(session(&store, "o2").phase, recovered(m(61)));
    assert_eq!(
        session(&store, "done").phase,
        Phase::Ended {
            end: m(-50),
            reason: EndReason::IdleGap
        },
        "a plan's end for a session that is not active is ignored"
    );
    assert!(ok(store.active_sessions(), "active_sessions").is_empty());
    assert_eq!(ok(store.latest_end(), "latest_end"), Some(m(61)));
    assert_eq!(
        ids(&ok(store.pending_sessions(), "pending_sessions")),
        ["done", "o1", "o2"]
    );

    let d = dump(&store);
    assert_eq!(
        d.loose_blocks,
        [l[1].clone(), l[2].clone(), l[4].clone()],
        "only blocks whose owner is open and free at that window move"
    );
    assert_eq!(
        d.blocks,
        [
            block("done", m(-60)),
            l[3].owned_by(sid("done")),
            block("o1", m(0)),
            block("o1", m(1)),
            l[0].owned_by(sid("o1")),
        ],
        "a moved block keeps its content; an owner's own block is not replaced"
    );
    assert_eq!(
        normalized(ok(store.recovery_input(), "recovery_input")).blocks,
        [loose_span(&l[1]), loose_span(&l[2]), loose_span(&l[4])],
        "no orphan is left, so only loose blocks remain as evidence"
    );

    ok(store.recover(&plan), "recover again");
    assert_eq!(dump(&store), d, "applying a plan twice changes nothing");
    ok(store.recover(&RecoveryPlan::default()), "recover with an empty plan");
    assert_eq!(dump(&store), d, "an empty plan changes nothing");
}

// ---------------------------------------------------------------------------
// 8. import

/// `import` adds sessions in any phase and loose blocks; a session whose id
/// exists is skipped (the row stays as it was), and a loose block id that
/// was ever imported is skipped, even after recovery gave it an owner, so
/// importing the same data twice equals importing it once.
pub fn import_is_idempotent<S: Store>(mut store: S) {
    let x = ended("x", m(0), m(5), EndReason::Shutdown);
    let y = Session::active(sid("y"), m(10), UtcOffset::UTC);
    let (l1, l2) = (loose(1, m(1)), loose(2, m(20)));
    ok(
        store.import(&[x.clone(), y.clone()], &[l1.clone(), l2.clone()]),
        "import",
    );
    let once = dump(&store);
    assert_eq!(once.sessions, [x.clone(), y.clone()]);
    assert_eq!(once.loose_blocks, [l1.clone(), l2.clone()]);
    ok(
        store.import(&[x.clone(), y.clone()], &[l1.clone(), l2.clone()]),
        "import again",
    );
    assert_eq!(dump(&store), once, "importing twice equals importing once");

    let x_changed = with_phase(
        "x",
        m(3),
        Phase::Reduced {
            end: m(4),
            reason: EndReason::Paused,
        },
    );
    let z = ended("z", m(30), m(31), EndReason::IdleGap);
    let l2_changed = LooseBlock {
        lines: vec!["changed".to_owned()],
        ..loose(2, m(25))
    };
    let l3 = loose(3, m(40));
    ok(
        store.import(&[x_changed, z.clone()], &[l2_changed, l3.clone()]),
        "import over existing ids",
    );
    let d = dump(&store);
    assert_eq!(
        d.sessions,
        [x.clone(), y.clone(), z.clone()],
        "an existing session is kept as it was; a new one is added"
    );
    assert_eq!(
        d.loose_blocks,
        [l1.clone(), l2.clone(), l3.clone()],
        "an existing loose block is kept as it was; a new one is added"
    );

    ok(
        store.recover(&RecoveryPlan {
            ends: vec![],
            owners: vec![(1, sid("x"))],
        }),
        "give l1 an owner",
    );
    let owned = dump(&store);
    assert_eq!(owned.blocks, [l1.owned_by(sid("x"))]);
    assert_eq!(owned.loose_blocks, [l2.clone(), l3.clone()]);
    ok(store.import(&[x, y, z], &[l1, l2, l3]), "import everything again");
    assert_eq!(
        dump(&store),
        owned,
        "a loose block once imported is not imported again after it was owned"
    );

    ok(
        store.ingest(&[start("live", m(50)), append("live", m(51), ev(m(51), "App"))]),
        "ingest live",
    );
    let before = dump(&store);
    ok(
        store.import(
            &[with_phase(
                "live",
                m(0),
                Phase::Reduced {
                    end: m(1),
                    reason: EndReason::Shutdown,
                },
            )],
            &[],
        ),
        "import over a live session",
    );
    assert_eq!(dump(&store), before, "an imported row never replaces a live session");
}

// ---------------------------------------------------------------------------
// 9. entries_for_day

/// `entries_for_day` selects entries by the local date of their start
/// (`from` shifted by the entry's own offset), not the UTC date, and orders
/// them by `(from, id)` as instants.
pub fn entries_for_day_uses_local_date<S: Store>(mut store: S) {
    let h = |hours: i64, minutes: i64| Timestamp(DAY0 + (hours * 60 + minutes) * MINUTE);
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).expect("a valid date");
    assert_eq!(
        h(0, 0).local_date(UtcOffset::UTC),
        day(28),
        "fixture: DAY0 is 2026-03-28"
    );
    let (plus1, minus1, plus2, minus5) = (UtcOffset(3600), UtcOffset(-3600), UtcOffset(7200), UtcOffset(-5 * 3600));
    ok(
        store.import(
            &[
                ended("s1", h(0, 0), h(34, 0), EndReason::DailySafetyNet),
                ended("s2", h(0, 0), h(34, 0), EndReason::DailySafetyNet),
            ],
            &[],
        ),
        "import sessions",
    );
    // (name, session, from, offset), in commit order. Local times:
    // a 2026-03-29 00:30+01:00, b 03-28 23:30-01:00, c 03-28 12:00Z,
    // d and g 03-29 10:00+02:00, f 03-29 04:00-05:00 (text sorts f before
    // d; the instants say d first).
    let plan = [
        ("f", "s1", h(33, 0), minus5),
        ("d", "s1", h(32, 0), plus2),
        ("b", "s1", h(24, 30), minus1),
        ("g", "s2", h(32, 0), plus2),
        ("a", "s1", h(23, 30), plus1),
        ("c", "s1", h(12, 0), UtcOffset::UTC),
    ];
    let blocks: Vec<Block> = plan
        .iter()
        .map(|&(_, s, from, offset)| Block {
            offset,
            ..block(s, from)
        })
        .collect();
    ok(store.write_blocks(&blocks), "write blocks");
    let mut by_name = std::collections::BTreeMap::new();
    for (&(name, s, _, _), b) in plan.iter().zip(&blocks) {
        let e = reduce(
            &mut store,
            &covering(s, EntryKind::Final, &[b], false),
            "reduce one block",
        );
        by_name.insert(name, e);
    }
    let names = |d: u32| {
        ok(store.entries_for_day(day(d)), "entries_for_day")
            .iter()
            .map(|e| {
                let name = by_name.iter().find(|(_, b)| b.id == e.id).map(|(n, _)| *n);
                assert_eq!(
                    Some(e),
                    name.map(|n| &by_name[n]),
                    "entries_for_day returns stored entries"
                );
                name.expect("known entry")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(29),
        ["a", "d", "g", "f"],
        "2026-03-29: by local date, ordered by (from, id)"
    );
    assert_eq!(names(28), ["c", "b"], "2026-03-28: by local date, ordered by from");
    assert!(names(27).is_empty());
    assert!(names(30).is_empty());
    // `day_inputs` is those entries with their sessions, by id, each with
    // its events: what the per-session reads give.
    for d in 27..=30 {
        let entries = ok(store.entries_for_day(day(d)), "entries_for_day");
        let ids: std::collections::BTreeSet<&SessionId> = entries.iter().map(|e| &e.session_id).collect();
        let sessions: Vec<(Session, Vec<StoredEvent>)> = ids
            .into_iter()
            .map(|id| {
                let s = ok(store.session(id), "session").expect("an entry's session exists");
                (s, ok(store.session_events(id), "session_events"))
            })
            .collect();
        let inputs = ok(store.day_inputs(day(d)), "day_inputs");
        assert_eq!(inputs.entries, entries, "day_inputs: the day's entries, 2026-03-{d}");
        assert_eq!(
            inputs.sessions, sessions,
            "day_inputs: their sessions by id, 2026-03-{d}"
        );
    }
    assert_eq!(
        ok(store.day_inputs(day(29)), "day_inputs").sessions.len(),
        2,
        "both sessions of 2026-03-29"
    );
}

// ---------------------------------------------------------------------------
// 10. numeric time

/// Instants compare as numbers: sessions whose RFC 3339 text order (with
/// different offsets) or decimal text order differs from their instant
/// order come out of `active_sessions`, `pending_sessions`,
/// `due_sessions`, `dump`, `session_events` and `uncovered_blocks` in
/// instant order; `latest_end` and `due_sessions` compare numerically; and
/// `i64::MIN`/`i64::MAX` round-trip exactly.
pub fn timestamps_compare_numerically<S: Store>(mut store: S) {
    // 2026-03-29T00:10Z is "02:10+02:00", 00:30Z is "01:30+01:00": as text
    // the later instant sorts first. Ids are chosen so id order is wrong too.
    let utc = |hours: i64, minutes: i64| Timestamp(DAY0 + ((24 + hours) * 60 + minutes) * MINUTE);
    let at_offset = |id: &str, start, offset, phase| Session {
        offset,
        ..with_phase(id, start, phase)
    };
    let (cest, cet) = (UtcOffset(7200), UtcOffset(3600));

    // Decimal text: "5400000" < "600000", "-120000" < "-180000".
    ok(
        store.import(
            &[
                ended("u", Timestamp(0), Timestamp(5_400_000), EndReason::IdleGap),
                ended("v", Timestamp(540_000), Timestamp(600_000), EndReason::IdleGap),
            ],
            &[],
        ),
        "import u and v",
    );
    assert_eq!(
        ok(store.latest_end(), "latest_end"),
        Some(Timestamp(5_400_000)),
        "latest_end is the numeric maximum"
    );

    let failed = |end, next_retry_at| Phase::Failed {
        end,
        reason: EndReason::SoftCut,
        next_retry_at,
    };
    let sessions = [
        at_offset("z-first", utc(0, 10), cest, Phase::Active),
        at_offset("a-second", utc(0, 30), cet, Phase::Active),
        at_offset(
            "y-early",
            utc(0, 20),
            cest,
            Phase::Ended {
                end: utc(0, 21),
                reason: EndReason::Shutdown,
            },
        ),
        at_offset("b-late", utc(0, 25), cet, failed(utc(0, 26), Timestamp(5_400_000))),
        ended("n3", Timestamp(-180_000), Timestamp(-170_000), EndReason::Paused),
        ended("n2", Timestamp(-120_000), Timestamp(-110_000), EndReason::Paused),
        with_phase(
            "min",
            Timestamp(i64::MIN),
            Phase::Reduced {
                end: Timestamp(i64::MIN),
                reason: EndReason::Recovered,
            },
        ),
        Session {
            retry_count: u32::MAX,
            flush_end: Some(Timestamp(i64::MAX)),
            ..with_phase(
                "max",
                Timestamp(i64::MAX),
                failed(Timestamp(i64::MAX), Timestamp(i64::MIN)),
            )
        },
    ];
    ok(store.import(&sessions, &[]), "import sessions");
    ok(
        store.ingest(&[
            start("ev", Timestamp(-240_000)),
            append("ev", Timestamp(-120_000), ev(Timestamp(-120_000), "App")),
            append("ev", Timestamp(600_000), ev(Timestamp(600_000), "App")),
            append("ev", Timestamp(5_400_000), ev(Timestamp(5_400_000), "App")),
            append("ev", Timestamp(i64::MAX), ev(Timestamp(i64::MIN), "App")),
        ]),
        "ingest ev",
    );
    let starts = [
        Timestamp(5_400_000),
        Timestamp(-120_000),
        Timestamp(600_000),
        Timestamp(-180_000),
    ];
    ok(
        store.write_blocks(&starts.map(|t| block("n2", t))),
        "write blocks with negative starts",
    );

    assert_eq!(
        ids(&ok(store.active_sessions(), "active_sessions")),
        ["ev", "z-first", "a-second"],
        "active sessions in instant order"
    );
    assert_eq!(
        ids(&ok(store.pending_sessions(), "pending_sessions")),
        ["n3", "n2", "u", "v", "y-early", "b-late", "max"],
        "pending sessions in instant order"
    );
    let d = dump(&store);
    assert_eq!(
        ids(&d.sessions),
        [
            "min", "ev", "n3", "n2", "u", "v", "z-first", "y-early", "b-late", "a-second", "max"
        ],
        "dump sessions in instant order"
    );
    for s in &sessions {
        assert_eq!(session(&store, &s.id.0), *s, "session {} round-trips", s.id);
    }

    let due = |now| ids(&ok(store.due_sessions(Timestamp(now)), "due_sessions")).join(",");
    assert_eq!(due(i64::MIN), "max", "next_retry_at = i64::MIN is due at once");
    assert_eq!(due(600_000), "max", "5_400_000 is not <= 600_000");
    assert_eq!(due(5_400_000), "b-late,max");
    assert_eq!(ok(store.latest_end(), "latest_end"), Some(Timestamp(i64::MAX)));

    let attributed: Vec<i64> = ok(store.session_events(&sid("ev")), "session_events")
        .iter()
        .map(|e| e.attributed.0)
        .collect();
    assert_eq!(
        attributed,
        [-240_000, -120_000, 600_000, 5_400_000, i64::MAX],
        "session events in numeric order"
    );
    let last = d.events.last().expect("events");
    assert_eq!(
        (last.attributed, last.event.at),
        (Timestamp(i64::MAX), Timestamp(i64::MIN)),
        "extreme instants round-trip"
    );
    let block_starts: Vec<i64> = ok(store.uncovered_blocks(&sid("n2")), "uncovered_blocks")
        .iter()
        .map(|b| b.start.0)
        .collect();
    assert_eq!(
        block_starts,
        [-180_000, -120_000, 600_000, 5_400_000],
        "blocks in numeric order"
    );
}

// ---------------------------------------------------------------------------
// 11. round trip

const REASONS: [EndReason; 7] = [
    EndReason::IdleGap,
    EndReason::SoftCut,
    EndReason::Timeout,
    EndReason::Shutdown,
    EndReason::DailySafetyNet,
    EndReason::Paused,
    EndReason::Recovered,
];

/// Text that breaks naive storage: non-ASCII, combining marks, emoji,
/// quotes, SQL, separators, control characters, NUL.
const NASTY: &str =
    "Ünïcödé e\u{301} 日本語 🦀 \u{202e}rtl\u{202c} 'quote' \"dq\" \\ ; DROP TABLE sessions;--\n\t,|\u{1f}\u{0}end";

/// Every field of every stored type comes back exactly as written:
/// sessions in every phase with every end reason, events with Unicode and
/// NUL in text and `None` apart from `Some("")`, blocks and loose blocks
/// with empty lists apart from `[""]`, entries of every kind, offsets of
/// either sign, counters at their maximum, flush ends and retry counts.
pub fn every_field_round_trips<S: Store>(mut store: S) {
    let offsets = [
        UtcOffset(0),
        UtcOffset(20_700),
        UtcOffset(-34_200),
        UtcOffset(50_400),
        UtcOffset(-43_200),
        UtcOffset(1),
    ];
    let mut sessions = Vec::new();
    for (i, reason) in REASONS.into_iter().enumerate() {
        let n = i as i64;
        let base = m(n * 100);
        let end = Timestamp(base.0 + 12_345);
        let phases = [
            Phase::Ended { end, reason },
            Phase::Failed {
                end,
                reason,
                next_retry_at: Timestamp(base.0 + 999_999),
            },
            Phase::Reduced { end, reason },
        ];
        for (k, phase) in phases.into_iter().enumerate() {
            let k = k as i64;
            sessions.push(Session {
                id: SessionId(format!("séance ① 🦀 'q' \"dq\" ;-- {i}·{k}")),
                start: Timestamp(base.0 + k * 7),
                offset: offsets[(i + k as usize) % offsets.len()],
                phase,
                retry_count: [0, 7, u32::MAX][k as usize],
                flush_end: [None, Some(Timestamp(base.0 + 1)), Some(Timestamp(-1))][(i + k as usize) % 3],
            });
        }
    }
    sessions.push(Session {
        offset: UtcOffset(-34_200),
        retry_count: 3,
        flush_end: Some(m(-1)),
        ..Session::active(sid("日本語セッション 🦀"), m(-50), UtcOffset::UTC)
    });
    let loose_blocks = [
        LooseBlock {
            id: (1 << 53) + 1,
            start: m(-300),
            end: m(-299),
            offset: UtcOffset(-34_200),
            lines: vec![String::new()],
            apps: vec![],
            capture_count: u32::MAX,
        },
        LooseBlock {
            id: 42,
            start: m(-301),
            end: m(-300),
            offset: UtcOffset(50_400),
            lines: vec![],
            apps: vec![String::new(), NASTY.to_owned()],
            capture_count: 0,
        },
        LooseBlock {
            id: i64::MAX as u64,
            start: m(-302),
            end: m(-301),
            offset: UtcOffset(20_700),
            lines: vec![
                NASTY.to_owned(),
                "a, b".to_owned(),
                "[\"json\"]".to_owned(),
                "x\ny".to_owned(),
            ],
            apps: vec!["a,b".to_owned(), "a".to_owned(), "b".to_owned()],
            capture_count: 1,
        },
    ];
    ok(store.import(&sessions, &loose_blocks), "import");
    for s in &sessions {
        assert_eq!(session(&store, &s.id.0), *s, "a session round-trips");
    }
    let mut sorted = sessions.clone();
    sorted.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    assert_eq!(dump(&store).sessions, sorted, "dump holds every session as imported");
    let mut sorted_loose = loose_blocks.to_vec();
    sorted_loose.sort_by_key(|b| b.id);
    assert_eq!(
        dump(&store).loose_blocks,
        sorted_loose,
        "loose blocks round-trip field by field"
    );

    // Events, through ingest; then failure and recovery through the store.
    let full = Event {
        at: Timestamp(-1),
        offset: UtcOffset(-34_200),
        app: NASTY.to_owned(),
        title: Some(String::new()),
        url: Some("https://example.org/ä?q=1&r=\u{1f980}#frag".to_owned()),
        text: Some(format!("{NASTY}{}", "x".repeat(64 * 1024 - NASTY.len()))),
        source: Some("capture-𝔸".to_owned()),
    };
    let bare = Event::new(m(1000), "A");
    let empties = Event {
        title: Some(String::new()),
        url: Some(String::new()),
        text: Some(String::new()),
        source: Some(String::new()),
        ..Event::new(m(1001), " ")
    };
    let new_session = Session {
        offset: UtcOffset(50_400),
        ..Session::active(sid("ev ✓"), m(1000), UtcOffset::UTC)
    };
    ok(
        store.ingest(&[
            IngestStep::Start {
                session: new_session.clone(),
                first: full.clone(),
            },
            append("ev ✓", m(1000), bare.clone()),
            append("ev ✓", m(1001), empties.clone()),
        ]),
        "ingest events",
    );
    let got: Vec<(SessionId, Timestamp, Event)> = ok(store.session_events(&sid("ev ✓")), "session_events")
        .into_iter()
        .map(|e| (e.session_id, e.attributed, e.event))
        .collect();
    assert_eq!(
        got,
        [
            (sid("ev ✓"), m(1000), full),
            (sid("ev ✓"), m(1000), bare),
            (sid("ev ✓"), m(1001), empties)
        ],
        "events round-trip field by field (None apart from Some(\"\"))"
    );
    assert_eq!(session(&store, "ev ✓"), new_session, "an ingested session round-trips");

    // Blocks and entries of every kind.
    let blocks = [
        Block {
            offset: UtcOffset(20_700),
            lines: vec![],
            apps: vec![],
            capture_count: 0,
            ..block("ev ✓", m(1000))
        },
        Block {
            offset: UtcOffset(-34_200),
            lines: vec![String::new()],
            apps: vec![String::new()],
            capture_count: u32::MAX,
            ..block("ev ✓", m(1001))
        },
        Block {
            offset: UtcOffset(50_400),
            lines: vec![NASTY.to_owned(), "x\ny".to_owned(), "a, b".to_owned()],
            apps: vec![NASTY.to_owned(), "a,b".to_owned()],
            ..block("ev ✓", m(1002))
        },
    ];
    ok(store.write_blocks(&blocks), "write blocks");
    assert_eq!(
        ok(store.uncovered_blocks(&sid("ev ✓")), "uncovered_blocks"),
        blocks,
        "blocks round-trip field by field"
    );
    let body = format!("## 10:00–10:01 · flush\n\n{NASTY}\n\n- [10:00-10:01, 🦀] line\n");
    let kinds = [EntryKind::Flush, EntryKind::Final, EntryKind::Heuristic];
    let mut entries = Vec::new();
    for (i, (b, kind)) in blocks.iter().zip(kinds).enumerate() {
        let last = i == blocks.len() - 1;
        if last {
            ok(
                store.end_session(&sid("ev ✓"), m(1002), EndReason::DailySafetyNet, &[]),
                "end the session",
            );
        }
        let new = NewEntry {
            body: format!("{body}{i}"),
            ..new_entry("ev ✓", kind, b.start, b.end, b.offset)
        };
        let commit = ReductionCommit {
            session_id: sid("ev ✓"),
            entry: Some(new),
            covered: vec![(b.start, b.rev)],
            flush_end: Some(b.end),
            finish: last,
        };
        entries.push(reduce(&mut store, &commit, "reduce one block"));
    }
    let d = dump(&store);
    assert_eq!(d.entries, entries, "entries round-trip field by field");
    for e in &entries {
        assert!(
            ok(store.entries_for_day(e.day()), "entries_for_day").contains(e),
            "entries_for_day returns the entry as stored"
        );
    }
    let stored_blocks: Vec<Block> = d.blocks.iter().filter(|b| b.session_id.0 == "ev ✓").cloned().collect();
    let expected_blocks: Vec<Block> = blocks
        .iter()
        .zip(&entries)
        .map(|(b, e)| Block {
            covered_by: Some(e.id),
            ..b.clone()
        })
        .collect();
    assert_eq!(stored_blocks, expected_blocks);
    assert_eq!(
        session(&store, "ev ✓"),
        Session {
            phase: Phase::Reduced {
                end: m(1002),
                reason: EndReason::DailySafetyNet
            },
            flush_end: Some(blocks[2].end),
            ..new_session
        }
    );
    let events_before = d.events;
    assert_eq!(events_before.iter().filter(|e| e.session_id.0 == "ev ✓").count(), 3);

    // Failed through mark_failed, Recovered through recover.
    let ended_id = &sessions[0].id;
    ok(
        store.mark_failed(ended_id, u32::MAX, Timestamp(i64::MAX)),
        "mark_failed",
    );
    let failed = session(&store, &ended_id.0);
    assert_eq!(failed.retry_count, u32::MAX);
    assert_eq!(
        failed.phase,
        Phase::Failed {
            end: sessions[0].phase.end().expect("an end"),
            reason: EndReason::IdleGap,
            next_retry_at: Timestamp(i64::MAX),
        }
    );
    ok(
        store.recover(&RecoveryPlan {
            ends: vec![recovered_end("日本語セッション 🦀", m(-49))],
            owners: vec![],
        }),
        "recover",
    );
    let orphan = session(&store, "日本語セッション 🦀");
    assert_eq!(
        orphan,
        Session {
            phase: Phase::Ended {
                end: m(-49),
                reason: EndReason::Recovered
            },
            ..sessions.last().cloned().expect("the orphan")
        },
        "recovery changes only the phase"
    );
}
