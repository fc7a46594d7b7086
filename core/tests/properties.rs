//! Property tests: random days of input through `Engine` + `MemStore`,
//! crashes included, keep every invariant of SPEC §8. proptest shrinks a
//! failure to a minimal list of operations.

mod common;

use common::*;
use daybook_core::{Config, Event, Timestamp, UtcOffset, check, check_quiet};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// A batch of events, `advance` seconds after the last operation; each
    /// event's `at` lags `now` by `lag` seconds (out of order, clock jumps).
    Events {
        advance: u32,
        apps: Vec<u8>,
        lag: u32,
    },
    Tick {
        advance: u32,
    },
    Minute,
    Flush,
    SafetyNet,
    Pause,
    Resume,
    Shutdown,
    /// kill -9 and restart.
    Crash,
    /// A capture client replays what it buffered: `n` events `spacing`
    /// seconds apart, the first `back` minutes ago (up to three days), in
    /// sending order or reversed, each up to `jitter` seconds out of order.
    Replay {
        back: u32,
        n: u8,
        spacing: u16,
        reversed: bool,
        jitter: u8,
    },
    /// The laptop sleeps for hours.
    Sleep {
        hours: u8,
    },
    /// The next `n` summarizer calls fail.
    FailNext {
        n: u8,
    },
    /// The UTC offset changes (DST, travel).
    Offset {
        quarters: i8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u32..120, prop::collection::vec(0u8..4, 1..4), prop_oneof![4 => Just(0u32), 1 => 0u32..7200])
            .prop_map(|(advance, apps, lag)| Op::Events { advance, apps, lag }),
        3 => (0u32..400).prop_map(|advance| Op::Tick { advance }),
        3 => (prop_oneof![3 => 1u32..180, 1 => 180u32..4320], 1u8..12, 1u16..400, any::<bool>(), 0u8..8)
            .prop_map(|(back, n, spacing, reversed, jitter)| Op::Replay { back, n, spacing, reversed, jitter }),
        2 => Just(Op::Minute),
        2 => Just(Op::Flush),
        1 => Just(Op::SafetyNet),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => Just(Op::Shutdown),
        2 => Just(Op::Crash),
        1 => (1u8..12).prop_map(|hours| Op::Sleep { hours }),
        1 => (1u8..7).prop_map(|n| Op::FailNext { n }),
        1 => (-8i8..8).prop_map(|quarters| Op::Offset { quarters }),
    ]
}

const APPS: [&str; 4] = ["Code", "Firefox", "Slack", "Terminal"];

/// Runs `ops`, checking the invariants after every one, then quiesces and
/// checks "no loss" against the events the engine acknowledged.
fn run(ops: &[Op]) -> Result<daybook_core::Dump, TestCaseError> {
    let mut rig = Rig::new(Config::default());
    let mut now = T0;
    let mut offset = UtcOffset::UTC;
    let mut acked: Vec<Event> = Vec::new();
    rig.start(now);
    for op in ops {
        match op {
            Op::Events { advance, apps, lag } => {
                now = at((now.0 - T0.0) / 1000 + i64::from(*advance));
                let batch: Vec<Event> = apps
                    .iter()
                    .enumerate()
                    .map(|(i, a)| Event {
                        offset,
                        source: Some(format!("e{}-{i}", acked.len())),
                        text: Some(format!("typed {i}")),
                        ..ev(Timestamp(now.0 - i64::from(*lag) * 1000), APPS[usize::from(*a)])
                    })
                    .collect();
                let got = rig.engine().handle_events(now, &batch).expect("valid events commit");
                if got.accepted > 0 {
                    acked.extend(batch);
                }
                rig.engine().handle_reductions(now).expect("reductions");
            }
            Op::Replay {
                back,
                n,
                spacing,
                reversed,
                jitter,
            } => {
                let first = now.0 - i64::from(*back) * 60_000;
                let mut batch: Vec<Event> = (0..*n)
                    .map(|i| {
                        let wobble = if i % 2 == 1 { -i64::from(*jitter) * 1000 } else { 0 };
                        let t = (first + i64::from(i) * i64::from(*spacing) * 1000 + wobble).min(now.0);
                        Event {
                            offset,
                            source: Some(format!("r{}-{i}", acked.len())),
                            ..ev(Timestamp(t), APPS[usize::from(i) % APPS.len()])
                        }
                    })
                    .collect();
                if *reversed {
                    batch.reverse();
                }
                let got = rig.engine().handle_events(now, &batch).expect("valid events commit");
                if got.accepted > 0 {
                    acked.extend(batch);
                }
                rig.engine().handle_reductions(now).expect("reductions");
            }
            Op::Tick { advance } => {
                now = Timestamp(now.0 + i64::from(*advance) * 1000);
                rig.tick(now);
            }
            Op::Minute => rig.minute(now),
            Op::Flush => rig.flush(now),
            Op::SafetyNet => rig.engine().handle_safety_net(now).expect("safety net"),
            Op::Pause => rig.engine().handle_pause(now).expect("pause"),
            Op::Resume => rig.engine().handle_resume(),
            Op::Shutdown => rig.shutdown(now),
            Op::Crash => {
                rig.crash();
                rig.start(now);
                prop_assert!(
                    rig.dump().sessions.iter().all(|s| s.phase.end().is_some()),
                    "an orphan survived recovery"
                );
            }
            Op::Sleep { hours } => now = Timestamp(now.0 + i64::from(*hours) * 3_600_000),
            Op::FailNext { n } => rig.summarizer.fail_next.set(u32::from(*n)),
            Op::Offset { quarters } => offset = UtcOffset(i32::from(*quarters) * 900),
        }
        let v = check(&rig.dump());
        prop_assert!(v.is_empty(), "after {op:?}: {v:#?}");
    }
    // Quiet: the summarizer recovers, the daemon restarts (recovery and
    // reduce-pending run), and a second restart changes nothing.
    rig.summarizer.fail_next.set(0);
    rig.crash();
    rig.start(now);
    let quiet = rig.dump();
    let v = check_quiet(&quiet);
    prop_assert!(v.is_empty(), "once quiet: {v:#?}");
    // Late events are stored after the in-order events of their batch:
    // compare as sets (every event's source is unique).
    let mut stored: Vec<&Event> = quiet.events.iter().map(|e| &e.event).collect();
    stored.sort_by(|a, b| a.source.cmp(&b.source));
    let mut acked: Vec<&Event> = acked.iter().collect();
    acked.sort_by(|a, b| a.source.cmp(&b.source));
    prop_assert_eq!(stored, acked, "acknowledged events == stored events");
    rig.crash();
    rig.start(now);
    prop_assert_eq!(rig.dump(), quiet.clone(), "recovering twice equals recovering once");
    Ok(quiet)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Invariants 1–5 hold after every operation of a random day with
    /// crashes, sleeps, clock jumps, offset changes and summarizer failures.
    #[test]
    fn invariants_hold_through_random_days_with_crashes(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops)?;
    }
}

/// The same inputs always give the same store: determinism (invariant 7)
/// at the engine's level.
#[test]
fn the_engine_is_deterministic() {
    let ops: Vec<Op> = (0u32..300)
        .map(|i| match i % 11 {
            0 => Op::Crash,
            4 => Op::Tick { advance: 301 },
            7 => Op::FailNext { n: 2 },
            9 => Op::Flush,
            _ => Op::Events {
                advance: 17 * (i % 5),
                apps: vec![(i % 4) as u8, ((i / 3) % 4) as u8],
                lag: i % 3,
            },
        })
        .collect();
    let first = run(&ops).unwrap();
    assert!(
        first.sessions.len() > 5 && first.entries.len() > 5,
        "the script exercises cuts and reductions"
    );
    assert_eq!(first, run(&ops).unwrap());
}
