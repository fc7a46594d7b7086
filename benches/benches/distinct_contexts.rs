//! One window of 10^4 distinct 4 KB titles (issue 10): block normalization
//! (`build_blocks`) and the built-in summary of the block it makes. Pure
//! CPU, no store. The titles share all but their last eight bytes, as an
//! attacker's would: every comparison of two of them reads 4 KB, so a
//! comparison of every context with every other shows at once.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, SamplingMode, Throughput};
use daybook_benches::scale;
use daybook_core::block::build_blocks;
use daybook_core::event::MAX_TITLE_BYTES;
use daybook_core::{BuiltinSummarizer, EntryKind, Event, StoredEvent, Summarizer, SummaryRequest, Timestamp};

/// 2027-01-15T08:00:00Z, on a minute boundary.
const T0: i64 = 1_800_000_000_000;
const WINDOW: Duration = Duration::from_secs(60);

/// `n` events of one session inside one minute, each with its own title
/// of exactly [`MAX_TITLE_BYTES`] bytes.
fn events(n: usize) -> Vec<StoredEvent> {
    let prefix = "t".repeat(MAX_TITLE_BYTES - 8);
    (0..n)
        .map(|i| {
            let at = Timestamp(T0 + (i as i64 * 59_000) / n as i64);
            StoredEvent {
                seq: i as u64 + 1,
                session_id: "s".into(),
                attributed: at,
                rev: 0,
                event: Event {
                    title: Some(format!("{prefix}{i:08}")),
                    ..Event::new(at, "Firefox")
                },
            }
        })
        .collect()
}

fn main() {
    let mode = scale::mode();
    let sizes: &[usize] = mode.pick(&[100], &[1_000, 10_000], &[1_000, 10_000]);
    let mut c = common::criterion(10, Duration::from_millis(500), Duration::from_secs(3));
    let mut group = c.benchmark_group("distinct_contexts");
    group.sampling_mode(SamplingMode::Flat);
    let (from, until) = (Timestamp(T0), Timestamp(T0 + 60_000));
    for &n in sizes {
        let events = events(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("normalize", n), &events, |b, events| {
            b.iter(|| build_blocks(&"s".into(), black_box(events), WINDOW, from, until));
        });
        let blocks = build_blocks(&"s".into(), &events, WINDOW, from, until);
        assert_eq!(blocks.len(), 1, "one window");
        assert_eq!(blocks[0].lines.len(), n, "one line per distinct title");
        let request = SummaryRequest {
            session_id: "s".into(),
            kind: EntryKind::Final,
            blocks,
        };
        group.bench_with_input(BenchmarkId::new("builtin_summary", n), &request, |b, request| {
            b.iter(|| BuiltinSummarizer.summarize(black_box(request)));
        });
        let summary = BuiltinSummarizer
            .summarize(&request)
            .expect("the built-in summarizer never fails");
        assert_eq!(summary.lines.len(), 1, "one run, one line");
        assert!(
            summary.lines[0].ends_with('…'),
            "the detail is cut: {}",
            summary.lines[0]
        );
    }
    group.finish();
    c.final_summary();
}
