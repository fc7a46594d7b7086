//! The core recovery planner (`daybook_core::recovery::plan`) on 10^3 …
//! 10^6 orphans, four blocks each, with as many ended sessions between
//! them: pure CPU, no store.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, SamplingMode, Throughput};
use daybook_benches::scale;
use daybook_core::recovery::{BlockSpan, RecoveryInput, SessionSpan, plan};
use daybook_core::{Config, SessionId, Timestamp};

const MINUTE: i64 = 60_000;

/// `n` orphans (four owned blocks and a last event each) and `n` ended
/// sessions, the layout of the SQLite fixture: session `i` starts at
/// `20 i` minutes, its ended neighbour ten minutes later. In the order the
/// SQLite store reads them: sessions by id (its table is keyed by id, so
/// the fixture's `e…` sessions, then its `o…` ones), evidence grouped by
/// orphan in start order.
fn input(n: usize) -> RecoveryInput {
    let mut sessions = Vec::with_capacity(2 * n);
    let mut last_events = Vec::with_capacity(n);
    let mut blocks = Vec::with_capacity(4 * n);
    for i in 0..n as i64 {
        let start = i * 20 * MINUTE;
        let orphan = SessionId(format!("o{i:07}"));
        // Its index once the sessions are sorted by id: after the `e…` ones.
        let orphan_at = n + i as usize;
        sessions.push(SessionSpan {
            id: orphan.clone(),
            start: Timestamp(start + 5_000),
            end: None,
            reduced: false,
        });
        sessions.push(SessionSpan {
            id: SessionId(format!("e{i:07}")),
            start: Timestamp(start + 10 * MINUTE + 5_000),
            end: Some(Timestamp(start + 13 * MINUTE + 5_000)),
            reduced: true,
        });
        last_events.push((orphan.clone(), Timestamp(start + 3 * MINUTE + 5_000)));
        for k in 0..4 {
            blocks.push(BlockSpan {
                owner: Some(orphan_at),
                loose_id: 0,
                start: Timestamp(start + k * MINUTE),
                end: Timestamp(start + (k + 1) * MINUTE),
            });
        }
    }
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    RecoveryInput {
        sessions,
        last_events,
        blocks,
    }
}

fn main() {
    let mode = scale::mode();
    let sizes: &[usize] = mode.pick(
        &[1_000],
        &[1_000, 10_000, 100_000, 1_000_000],
        &[1_000, 10_000, 100_000, 1_000_000],
    );
    let config = Config::default();
    let mut c = common::criterion(10, Duration::from_millis(500), Duration::from_secs(3));
    let mut group = c.benchmark_group("recovery_plan");
    group.sampling_mode(SamplingMode::Flat);
    for &n in sizes {
        let input = input(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| plan(black_box(input), config.max_session, config.empty_session));
        });
        let p = plan(&input, config.max_session, config.empty_session);
        assert_eq!(p.ends.len(), n, "every orphan gets an end");
    }
    group.finish();
    c.final_summary();
}
