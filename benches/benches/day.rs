//! A heavy day (issue 15): the aggregation of 30,000 events in 20
//! sessions over one local day. Pure CPU, no store.

use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook_benches::{cache, scale};
use daybook_core::aggregate::{SessionInput, aggregate_day};
use daybook_core::session::Phase;
use daybook_core::{EndReason, Event, Session, StoredEvent, Timestamp, UtcOffset};

/// 2027-01-15T00:00:00+01:00.
const MIDNIGHT: i64 = 1_800_000_000_000 - 8 * 3_600_000 - 3_600_000;
const CET: UtcOffset = UtcOffset(3600);

/// `n` events of one day in 20 sessions from 07:00 to 23:00 local, an
/// event every few seconds, over 12 apps, 400 titles and 60 domains;
/// the context changes every fifth event or so.
fn heavy_day(n: usize) -> Vec<(Session, Vec<StoredEvent>)> {
    let sessions = 20usize;
    let per = n.div_ceil(sessions);
    let slot = 16 * 3_600_000 / sessions as i64; // 48 min per session slot
    let apps = [
        "Code", "Firefox", "Slack", "Terminal", "Zoom", "Mail", "Notes", "Figma", "Docs", "Music", "Calendar", "Finder",
    ];
    let mut seq = 0u64;
    (0..sessions)
        .map(|s| {
            let id = format!("s{s}");
            let start = Timestamp(MIDNIGHT + 7 * 3_600_000 + s as i64 * slot);
            let step = (slot - 8 * 60_000) / per as i64;
            let events: Vec<StoredEvent> = (0..per.min(n - (s * per).min(n)))
                .map(|i| {
                    seq += 1;
                    let at = Timestamp(start.0 + i as i64 * step);
                    let ctx = (seq / 5) as usize;
                    StoredEvent {
                        seq,
                        session_id: id.as_str().into(),
                        attributed: at,
                        event: Event {
                            offset: CET,
                            title: Some(format!("title {}", ctx % 400)),
                            url: ctx
                                .is_multiple_of(3)
                                .then(|| format!("https://site{}.example/page/{}", ctx % 60, ctx % 400)),
                            ..Event::new(at, apps[ctx % apps.len()])
                        },
                    }
                })
                .collect();
            let end = events.last().map_or(start, |e| e.attributed);
            let session = Session {
                phase: Phase::Reduced {
                    end,
                    reason: EndReason::IdleGap,
                },
                ..Session::active(id.as_str().into(), start, CET)
            };
            (session, events)
        })
        .collect()
}

fn main() {
    let mode = scale::mode();
    let sizes: &[usize] = mode.pick(&[1_000], &[30_000], &[30_000]);
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&cache::reports())
        .configure_from_args();
    let day = NaiveDate::from_ymd_opt(2027, 1, 15).expect("a date");
    let mut group = c.benchmark_group("day");
    group.sampling_mode(SamplingMode::Flat);
    for &n in sizes {
        let data = heavy_day(n);
        let inputs: Vec<SessionInput<'_>> = data
            .iter()
            .map(|(session, events)| SessionInput { session, events })
            .collect();
        let (bounds, a) = aggregate_day(day, &inputs, CET);
        assert_eq!(a.events(), n as u64, "every event falls on the day");
        assert_eq!(bounds.wall_millis(), 24 * 3_600_000);
        assert!(a.totals.apps.len() == 12 && a.sessions.len() == 20);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("aggregate", n), &inputs, |b, inputs| {
            b.iter(|| aggregate_day(day, black_box(inputs), CET));
        });
    }
    group.finish();
    c.final_summary();
}
