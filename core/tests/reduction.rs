//! SPEC §6: flush and final reductions, the retry schedule, the heuristic
//! fallback, and the trailing block of a cut session.

mod common;

use common::*;
use daybook_core::{
    Config, EndReason, EntryKind, Event, MemStore, Output, Phase, Session, SessionId, Store, Timestamp, UtcOffset,
};

fn kinds(rig: &Rig) -> Vec<EntryKind> {
    rig.dump().entries.iter().map(|e| e.kind).collect()
}

#[test]
fn flush_covers_closed_blocks_and_final_covers_the_rest() {
    let mut rig = Rig::started();
    for s in (0..=400).step_by(20) {
        rig.send(at(s), &[ev(at(s), "Code")]);
    }
    rig.flush(at(400));
    let dump = rig.checked();
    assert_eq!(dump.entries.len(), 1);
    let flush = &dump.entries[0];
    assert_eq!(
        (flush.kind, flush.from, flush.to),
        (EntryKind::Flush, min(0), min(6)),
        "window 08:06 holds the latest event"
    );
    assert_eq!(dump.sessions[0].flush_end, Some(min(6)));
    rig.shutdown(at(410));
    let dump = rig.checked();
    assert_eq!(kinds(&rig), [EntryKind::Flush, EntryKind::Final]);
    assert_eq!((dump.entries[1].from, dump.entries[1].to), (min(6), min(7)));
    assert!(daybook_core::check_quiet(&dump).is_empty());
}

#[test]
fn the_final_reduction_includes_the_trailing_partial_window() {
    // A session cut by timeout: its last window is partial when it ends.
    let mut rig = Rig::started();
    for m in 0..=121 {
        let t = min(m) + std::time::Duration::from_secs(10);
        rig.send(t, &[ev(t, if m == 120 { "Tail" } else { "Code" })]);
    }
    let dump = rig.checked();
    let first = &dump.sessions[0];
    assert_eq!(first.phase.reason().map(|r| r.as_str()), Some("timeout"));
    let final_entry = dump
        .entries
        .iter()
        .find(|e| e.session_id == first.id)
        .expect("final entry");
    assert_eq!(
        final_entry.to,
        min(121),
        "the window of minute 120, which holds the last event, is covered"
    );
    assert!(final_entry.body.contains("Tail"), "{}", final_entry.body);
    assert!(
        dump.blocks
            .iter()
            .filter(|b| b.session_id == first.id)
            .all(|b| b.covered_by.is_some())
    );
}

#[test]
fn failures_follow_the_backoff_then_a_heuristic_entry() {
    let mut rig = Rig::started();
    rig.summarizer.fail_next.set(100);
    rig.script(&[(0, "Code"), (10, "Firefox")]);
    rig.shutdown(at(20));
    let mut now = at(20);
    let mut waits = Vec::new();
    loop {
        let s = rig.sessions().remove(0);
        match s.phase {
            Phase::Failed { next_retry_at, .. } => {
                waits.push(next_retry_at.millis_since(now) / 60_000);
                // Not due a moment early.
                rig.minute(Timestamp(next_retry_at.0 - 1));
                assert_eq!(rig.sessions()[0].retry_count, s.retry_count);
                now = next_retry_at;
                rig.minute(now);
            }
            Phase::Reduced { .. } => break,
            other => panic!("unexpected phase {other:?}"),
        }
    }
    assert_eq!(waits, [5, 15, 30, 60]);
    assert_eq!(rig.summarizer.calls.get(), 5, "the fifth attempt is the last");
    let dump = rig.checked();
    assert_eq!(kinds(&rig), [EntryKind::Heuristic]);
    assert!(dump.entries[0].body.contains("heuristic"), "{}", dump.entries[0].body);
    assert!(dump.entries[0].body.contains("Code") && dump.entries[0].body.contains("Firefox"));
    assert!(daybook_core::check_quiet(&dump).is_empty());
}

#[test]
fn a_retry_that_later_succeeds_writes_a_final_entry() {
    let mut rig = Rig::started();
    rig.summarizer.fail_next.set(2);
    rig.script(&[(0, "Code")]);
    rig.shutdown(at(20));
    rig.minute(at(20) + 5 * MINUTE);
    assert_eq!(rig.sessions()[0].retry_count, 2);
    rig.minute(at(20) + 20 * MINUTE);
    assert_eq!(kinds(&rig), [EntryKind::Final]);
    assert!(is_reduced(&rig.sessions()[0]));
    assert!(
        rig.outputs
            .iter()
            .any(|o| matches!(o, Output::ReductionFailed { retry_count: 2, .. }))
    );
}

#[test]
fn a_failed_flush_is_not_retried_and_the_next_flush_covers_more() {
    let mut rig = Rig::started();
    for s in (0..=400).step_by(30) {
        rig.send(at(s), &[ev(at(s), "Code")]);
    }
    rig.summarizer.fail_next.set(1);
    rig.flush(at(400));
    assert!(rig.dump().entries.is_empty());
    assert_eq!(
        rig.sessions()[0].phase,
        Phase::Active,
        "a flush failure does not fail the session"
    );
    for s in (420..=700).step_by(30) {
        rig.send(at(s), &[ev(at(s), "Code")]);
    }
    rig.flush(at(700));
    let dump = rig.checked();
    assert_eq!((dump.entries[0].from, dump.entries[0].to), (min(0), min(11)));
}

#[test]
fn a_final_reduction_with_nothing_left_marks_reduced_without_an_entry() {
    let ended = Session {
        phase: Phase::Ended {
            end: min(1),
            reason: EndReason::IdleGap,
        },
        ..Session::active(SessionId::from("empty"), min(0), UtcOffset::UTC)
    };
    let mut store = MemStore::new();
    store.import(&[ended], &[]).unwrap();
    let mut rig = Rig::on(store, Config::default());
    rig.start(min(5));
    let dump = rig.checked();
    assert!(is_reduced(&dump.sessions[0]));
    assert!(dump.entries.is_empty());
    assert_eq!(rig.summarizer.calls.get(), 0);
}

#[test]
fn reduce_pending_after_a_restart_skips_reduced_sessions() {
    let mut rig = Rig::started();
    rig.script(&[(0, "Code"), (30, "Code")]);
    rig.flush(at(30)); // nothing closed yet: no entry
    rig.script(&[(90, "Code")]);
    rig.flush(at(90)); // covers 08:00
    rig.shutdown(at(95)); // covers 08:01
    assert_eq!(kinds(&rig), [EntryKind::Flush, EntryKind::Final]);
    let calls = rig.summarizer.calls.get();
    // A crash between the final commit and anything else: reduce-pending
    // at restart finds nothing to do and calls no summarizer.
    rig.crash();
    rig.start(at(100));
    assert_eq!(rig.summarizer.calls.get(), calls);
    assert!(daybook_core::check_quiet(&rig.dump()).is_empty());
}

#[test]
fn an_entry_belongs_to_the_day_of_its_local_start() {
    let mut rig = Rig::started();
    // 2027-01-15T23:30Z is already the 16th at +01:00.
    let late = Timestamp(1_800_055_800_000);
    let event = Event {
        offset: UtcOffset(3600),
        ..ev(late, "Code")
    };
    rig.send(late, &[event]);
    rig.shutdown(late);
    let dump = rig.checked();
    assert_eq!(dump.entries[0].day().to_string(), "2027-01-16");
    assert!(
        rig.outputs
            .iter()
            .any(|o| matches!(o, Output::DayTouched(d) if d.to_string() == "2027-01-16"))
    );
}
