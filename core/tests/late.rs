//! Late events land where they happened (SPEC §2): a reordering within the
//! tolerance is attributed at the watermark; anything further behind is
//! attributed at its own `at`, in the session that holds it or in a late
//! session confined to its gap, in new blocks where an entry already
//! covers the window, reduced by a `late` entry once the session is
//! reduced; events older than `max_lateness` are refused.

mod common;

use common::*;
use daybook_core::{Config, EntryKind, Error, Phase, check_quiet};

/// One event per minute of `apps` from minute `from`, each sent at its
/// own time.
fn minutes(rig: &mut Rig, from: i64, apps: &[&str]) {
    for (i, app) in apps.iter().enumerate() {
        let t = min(from + i as i64);
        rig.send(t, &[ev(t, app)]);
    }
}

#[test]
fn a_reordering_within_the_tolerance_is_attributed_at_the_watermark() {
    let mut rig = Rig::started();
    rig.send(at(100), &[ev(at(100), "Code")]);
    rig.send(at(101), &[ev(at(95), "Code"), ev(at(94), "Code")]);
    let dump = rig.checked();
    let attributed: Vec<_> = dump.events.iter().map(|e| (e.event.at, e.attributed)).collect();
    assert_eq!(
        attributed,
        [(at(100), at(100)), (at(95), at(100)), (at(94), at(94))],
        "5 s behind is a reordering; 6 s behind is late"
    );
    let ingested = rig.engine().handle_events(at(102), &[ev(at(50), "Code")]).unwrap();
    assert_eq!(ingested.late, [0]);
}

#[test]
fn a_late_event_into_the_open_session_goes_into_a_new_block_of_a_covered_window() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    minutes(&mut rig, 0, &["Code", "Code", "Code", "Code"]);
    rig.flush(min(3));
    let covered = rig.dump().blocks.iter().filter(|b| b.covered_by.is_some()).count();
    assert!(covered >= 2, "the flush covered the closed windows");
    // 30 s into the first minute, sent at minute 3.
    rig.send(min(3), &[ev(at(30), "Slack")]);
    let dump = rig.checked();
    let late = dump.events.iter().find(|e| e.event.app == "Slack").unwrap();
    assert_eq!((late.attributed, late.rev), (at(30), 1));
    assert_eq!(late.session_id, dump.sessions[0].id, "held by the open session");
    let revs: Vec<_> = dump
        .blocks
        .iter()
        .filter(|b| b.start == min(0))
        .map(|b| (b.rev, b.capture_count, b.covered_by.is_some()))
        .collect();
    assert_eq!(revs, [(0, 1, true), (1, 1, false)], "the covered block is untouched");
    rig.shutdown(min(4));
    let dump = rig.dump();
    assert_eq!(check_quiet(&dump), []);
}

#[test]
fn a_late_event_into_a_reduced_session_gets_a_late_entry_of_its_own() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    minutes(&mut rig, 0, &["Code", "Firefox", "Code"]);
    // An idle gap ends it; the next event starts another session.
    rig.send(min(30), &[ev(min(30), "Mail")]);
    let before = rig.dump();
    let first = before.sessions[0].clone();
    assert!(is_reduced(&first));
    let final_entry = before
        .entries
        .iter()
        .find(|e| e.session_id == first.id)
        .unwrap()
        .clone();
    rig.send(min(31), &[ev(at(90), "Terminal")]);
    let dump = rig.checked();
    assert_eq!(dump.sessions[0], first, "a late event never moves its session");
    let entries: Vec<_> = dump.entries.iter().filter(|e| e.session_id == first.id).collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(*entries[0], final_entry, "the final entry is untouched");
    assert_eq!(entries[1].kind, EntryKind::Late);
    assert_eq!((entries[1].from, entries[1].to), (min(1), min(2)), "only the new block");
    assert!(entries[1].body.contains("Terminal"), "{}", entries[1].body);
    let late_block = dump.blocks.iter().find(|b| b.rev == 1).unwrap();
    assert_eq!(late_block.covered_by, Some(entries[1].id));
}

#[test]
fn late_events_in_a_gap_form_late_sessions_cut_by_the_usual_rules() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    rig.send(min(0), &[ev(min(0), "Code")]);
    rig.send(min(60), &[ev(min(60), "Code")]);
    // Replayed from a buffer: 10:10-10:12, then 10:30 (an idle gap apart).
    let replay = [min(12), min(10), min(30), min(11)].map(|t| ev(t, "Editor"));
    let got = rig.engine().handle_events(min(61), &replay).unwrap();
    assert_eq!(got.late, [0, 1, 2, 3]);
    rig.engine().handle_reductions(min(61)).unwrap();
    rig.minute(min(61));
    let dump = rig.checked();
    let late: Vec<_> = spans(&dump.sessions)
        .into_iter()
        .filter(|s| s.3 == Some("late"))
        .map(|s| (s.0, s.1, s.2))
        .collect();
    assert_eq!(
        late,
        [(min(10), Some(min(12)), "reduced"), (min(30), Some(min(30)), "reduced")]
    );
}

#[test]
fn a_late_session_never_reaches_the_next_session() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    rig.send(min(0), &[ev(min(0), "Code")]);
    rig.send(min(20), &[ev(min(20), "Code")]);
    rig.send(min(22), &[ev(min(22), "Code")]);
    rig.send(min(40), &[ev(min(40), "Code")]);
    // 18-19 lie in the gap before the session at 20-22; 21 lies inside
    // it; 23-24 in the gap after it. Each gap gets its own late session.
    let replay = [min(18), min(19), min(21), min(23), min(24)].map(|t| ev(t, "Editor"));
    rig.send(min(41), &replay);
    let dump = rig.checked();
    let s: Vec<_> = spans(&dump.sessions).into_iter().map(|s| (s.0, s.1, s.3)).collect();
    assert_eq!(
        s,
        [
            (min(0), Some(min(0)), Some("idle_gap")),
            (min(18), Some(min(19)), Some("late")),
            (min(20), Some(min(22)), Some("idle_gap")),
            (min(23), Some(min(24)), Some("late")),
            (min(40), None, None),
        ]
    );
}

#[test]
fn events_older_than_max_lateness_are_refused_and_nothing_is_stored() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    rig.send(min(0), &[ev(min(0), "Code")]);
    let before = rig.dump();
    let old = ev(at(-31 * 24 * 3600), "Code");
    match rig.engine().handle_events(min(1), &[ev(min(1), "Code"), old]) {
        Err(Error::InvalidEvent { field, reason }) => {
            assert_eq!(field, "at");
            assert!(reason.contains("max_lateness_days"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(rig.dump(), before);
    // 29 days back is late, not refused.
    let got = rig
        .engine()
        .handle_events(min(1), &[ev(at(-29 * 24 * 3600), "Code")])
        .unwrap();
    assert_eq!(got.late, [0]);
    assert!(
        rig.checked()
            .sessions
            .iter()
            .any(|s| matches!(s.phase, Phase::Ended { .. } | Phase::Reduced { .. }) && s.start < at(0))
    );
}

#[test]
fn a_late_entry_survives_a_crash_before_it_is_written() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    minutes(&mut rig, 0, &["Code", "Code"]);
    rig.send(min(30), &[ev(min(30), "Mail")]);
    // The late event commits, then the daemon dies before its reduction.
    rig.engine().handle_events(min(31), &[ev(at(20), "Terminal")]).unwrap();
    rig.crash();
    rig.start(min(32));
    let dump = rig.dump();
    let late: Vec<_> = dump.entries.iter().filter(|e| e.kind == EntryKind::Late).collect();
    assert_eq!(late.len(), 1, "reduce-pending wrote the late entry at startup");
    assert!(
        dump.blocks
            .iter()
            .all(|b| b.covered_by.is_some() || b.session_id != dump.sessions[0].id)
    );
}
