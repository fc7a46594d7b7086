//! SPEC §7: recovery of orphans, as the named cases of the origin change.

mod common;

use common::*;
use daybook_core::recovery::EndBound;
use daybook_core::{
    Config, Dump, EndReason, LooseBlock, MemStore, Output, Phase, Session, SessionId, Store, Timestamp, UtcOffset,
};

fn orphan(id: &str, start: Timestamp) -> Session {
    Session::active(SessionId::from(id), start, UtcOffset::UTC)
}

fn ended(id: &str, start: Timestamp, end: Timestamp) -> Session {
    Session {
        phase: Phase::Ended {
            end,
            reason: EndReason::IdleGap,
        },
        ..orphan(id, start)
    }
}

fn loose(id: u64, start: Timestamp) -> LooseBlock {
    LooseBlock {
        id,
        start,
        end: start + MINUTE,
        offset: UtcOffset::UTC,
        lines: vec![format!("Imported — block {id}")],
        apps: vec!["Imported".into()],
        capture_count: 3,
    }
}

/// A store holding imported sessions and loose blocks, as an importer
/// leaves it, recovered by a starting engine.
fn recovered(sessions: &[Session], blocks: &[LooseBlock]) -> Rig {
    let mut store = MemStore::new();
    store.import(sessions, blocks).unwrap();
    let mut rig = Rig::on(store, Config::default());
    rig.start(min(600));
    rig
}

fn end_of(rig: &Rig, id: &str) -> Option<Timestamp> {
    rig.dump()
        .sessions
        .iter()
        .find(|s| s.id.0 == id)
        .and_then(|s| s.phase.end())
}

/// The session that owns the block starting at `start`, if any.
fn owner_of(dump: &Dump, start: Timestamp) -> Option<String> {
    dump.blocks
        .iter()
        .find(|b| b.start == start)
        .map(|b| b.session_id.0.clone())
}

fn recovered_ends(rig: &Rig) -> Vec<(String, Timestamp, EndBound)> {
    rig.outputs
        .iter()
        .filter_map(|o| match o {
            Output::OrphanRecovered(r) => Some((r.id.0.clone(), r.end, r.bound)),
            _ => None,
        })
        .collect()
}

#[test]
fn no_orphans_is_a_noop() {
    let mut rig = Rig::started();
    rig.script(&[(0, "Code"), (30, "Code")]);
    rig.shutdown(at(40));
    let before = rig.checked();
    rig.crash();
    rig.start(at(50));
    assert_eq!(rig.dump(), before);
    assert!(recovered_ends(&rig).is_empty());
}

#[test]
fn an_orphan_with_blocks_ends_at_the_latest_block_end() {
    let rig = recovered(
        &[orphan("a", min(0))],
        &[loose(1, min(3)), loose(2, min(10)), loose(3, min(7))],
    );
    assert_eq!(end_of(&rig, "a"), Some(min(11)));
    assert_eq!(recovered_ends(&rig), [("a".into(), min(11), EndBound::Evidence)]);
    rig.checked();
}

#[test]
fn an_orphan_of_a_killed_engine_ends_at_its_evidence() {
    let mut rig = Rig::started();
    rig.script(&[(0, "Code"), (30, "Code"), (150, "Firefox")]);
    rig.minute(at(150)); // windows 08:00 and 08:01 are closed and written
    rig.crash();
    rig.start(at(200));
    // Evidence: the last event at 150 s and the blocks starting inside the
    // session, the last of which (08:02) ends at 180 s.
    assert_eq!(end_of(&rig, "r1-1"), Some(at(180)));
    let dump = rig.checked();
    assert_eq!(dump.sessions[0].phase.reason(), Some(EndReason::Recovered));
    assert_eq!(
        dump.blocks.iter().map(|b| b.capture_count).sum::<u32>(),
        3,
        "every event is in a block"
    );
}

#[test]
fn an_orphan_with_no_evidence_ends_one_minute_after_its_start() {
    let rig = recovered(&[orphan("a", min(0))], &[]);
    assert_eq!(end_of(&rig, "a"), Some(min(1)));
    assert_eq!(recovered_ends(&rig), [("a".into(), min(1), EndBound::Fallback)]);
}

#[test]
fn two_orphans_never_claim_each_others_blocks() {
    let rig = recovered(
        &[orphan("a", min(0)), orphan("b", min(20))],
        &[loose(1, min(5)), loose(2, min(25)), loose(3, min(40))],
    );
    assert_eq!(end_of(&rig, "a"), Some(min(6)), "a's range ends where b starts");
    assert_eq!(end_of(&rig, "b"), Some(min(41)));
    let dump = rig.checked();
    let owner = |start| owner_of(&dump, start);
    assert_eq!(owner(min(5)).as_deref(), Some("a"));
    assert_eq!(owner(min(25)).as_deref(), Some("b"));
    assert_eq!(owner(min(40)).as_deref(), Some("b"));
}

#[test]
fn the_two_hour_cap_holds_against_a_far_away_block() {
    let rig = recovered(&[orphan("a", min(0))], &[loose(1, min(30)), loose(2, min(500))]);
    assert_eq!(
        end_of(&rig, "a"),
        Some(min(31)),
        "the block at +500 min is outside the two-hour range"
    );
    let capped = recovered(
        &[orphan("a", min(0))],
        &[loose(1, min(119) + std::time::Duration::from_secs(30))],
    );
    assert_eq!(end_of(&capped, "a"), Some(min(120)));
    assert_eq!(recovered_ends(&capped)[0].2, EndBound::MaxSession);
    // The block beyond the cap stays loose: it overlaps no session.
    assert_eq!(rig.dump().loose_blocks.iter().map(|b| b.id).collect::<Vec<_>>(), [2]);
}

#[test]
fn a_blockless_orphans_fallback_is_clamped_to_the_next_sessions_start() {
    let rig = recovered(&[orphan("a", min(0)), ended("b", at(30), min(5))], &[]);
    assert_eq!(end_of(&rig, "a"), Some(at(30)));
    assert_eq!(recovered_ends(&rig), [("a".into(), at(30), EndBound::NextSession)]);
    rig.checked();
}

#[test]
fn recovery_is_idempotent() {
    let mut rig = recovered(
        &[orphan("a", min(0)), orphan("b", min(20))],
        &[loose(1, min(5)), loose(2, min(25))],
    );
    let once = rig.checked();
    rig.crash();
    rig.outputs.clear();
    rig.start(min(700));
    assert_eq!(rig.dump(), once, "a second recovery changes nothing");
    assert!(rig.outputs.is_empty(), "{:?}", rig.outputs);
}

#[test]
fn a_recovered_session_is_picked_up_by_reduce_pending_at_once() {
    let rig = recovered(&[orphan("a", min(0))], &[loose(1, min(2)), loose(2, min(3))]);
    let dump = rig.dump();
    assert!(is_reduced(&dump.sessions[0]), "{:?}", dump.sessions[0]);
    assert_eq!(dump.entries.len(), 1);
    assert!(dump.blocks.iter().all(|b| b.covered_by == Some(dump.entries[0].id)));
    assert!(daybook_core::check_quiet(&dump).is_empty());
}

#[test]
fn a_loose_block_goes_to_the_earliest_overlapping_open_session() {
    let rig = recovered(
        &[ended("a", min(0), min(10)), ended("b", min(10), min(20))],
        &[loose(1, min(9)), loose(2, min(10)), loose(3, min(30))],
    );
    let dump = rig.checked();
    let owner = |start| owner_of(&dump, start);
    assert_eq!(owner(min(9)).as_deref(), Some("a"));
    assert_eq!(owner(min(10)).as_deref(), Some("b"));
    assert_eq!(
        dump.loose_blocks.iter().map(|b| b.id).collect::<Vec<_>>(),
        [3],
        "overlaps no session"
    );
}

/// Found by the simulator (issue 4, seed 175). Once the clock is set back,
/// every new session starts at the floor, so a session recovered with no
/// length and the next run's orphan share a start. Session ids order as
/// text ("r10-1" < "r9-1"), and recovery ordered sessions by `(start, id)`:
/// it took the earlier, zero-length session for the orphan's next one,
/// clamped the orphan to its own start, and left its events outside it.
#[test]
fn a_zero_length_session_at_an_orphans_start_does_not_clamp_it() {
    let mut rig = Rig::new(Config::default());
    // Runs r1- to r8- see nothing.
    for _ in 0..8 {
        rig.start(at(0));
        rig.crash();
    }
    // r9-1: one event at 00:30 (mid-window), then a crash: recovered with
    // no length, [00:30, 00:30].
    rig.start(at(0));
    rig.send(at(30), &[ev(at(30), "Code")]);
    rig.crash();
    rig.start(at(40));
    assert_eq!(end_of(&rig, "r9-1"), Some(at(30)));
    // r10-1: its first event is 3 s behind the watermark (a reordering
    // within the tolerance), so it is attributed at the watermark, 00:30;
    // two more follow, then a crash.
    rig.send(at(40), &[ev(at(27), "Code")]);
    rig.send(at(90), &[ev(at(90), "Code")]);
    rig.send(at(150), &[ev(at(150), "Code")]);
    assert_eq!(rig.engine().open_session().map(|s| s.start), Some(at(30)));
    rig.crash();
    rig.start(at(200));
    rig.checked();
    let ends = recovered_ends(&rig);
    let r10 = ends.iter().find(|(id, ..)| id == "r10-1").expect("r10-1 was recovered");
    assert_eq!(
        (r10.1, r10.2),
        (min(3), EndBound::Evidence),
        "ends at its last block, not at r9-1's start"
    );
}
