//! The privacy screen every ingested event passes on the engine thread
//! (`daybook::privacy::Privacy::screen`, default rules): ignore checks and
//! the redaction regexes over title, URL and text. Pure CPU, no store;
//! compare with the daemon's CPU per ingested event (BENCHMARKS.md,
//! ingest).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, SamplingMode, Throughput};
use daybook::privacy::Privacy;
use daybook_benches::fixture;
use daybook_core::{Event, Timestamp};

fn main() {
    let privacy = Privacy::default();
    let typical = fixture::activity(1, Timestamp(1_800_000_000_000), 1000, Duration::from_secs(1));
    // The largest fields the API accepts: 4 KB titles, 8 KB URLs, 64 KB
    // text, digits and dashes scattered through them.
    let filler = |n: usize| "note 1234-5678 about sk_ and ghp ".repeat(n / 32 + 1)[..n].to_owned();
    let largest: Vec<Event> = (0..100)
        .map(|k| Event {
            title: Some(filler(4 * 1024)),
            url: Some(format!("https://example.com/{}", filler(8 * 1024 - 20))),
            text: Some(filler(64 * 1024)),
            ..Event::new(Timestamp(1_800_000_000_000 + k), "Code")
        })
        .collect();
    let mut c = common::criterion(20, Duration::from_millis(500), Duration::from_secs(3));
    let mut group = c.benchmark_group("privacy");
    group.sampling_mode(SamplingMode::Flat);
    for (name, events) in [("typical", &typical), ("largest_fields", &largest)] {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("screen", name), events, |b, events| {
            b.iter(|| {
                events
                    .iter()
                    .filter_map(|e| privacy.screen(black_box(e.clone())))
                    .count()
            });
        });
        let kept = events.iter().filter_map(|e| privacy.screen(e.clone())).count();
        assert_eq!(kept, events.len(), "no fixture event is ignored");
    }
    group.finish();
    c.final_summary();
}
