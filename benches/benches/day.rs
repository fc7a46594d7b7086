//! A heavy day (issue 15): the aggregation of 30,000 events in 20
//! sessions over one local day, the day file rendered from them, and a
//! year of day files (365 days of 8 sessions, 1,200 events a day)
//! rendered one after the other, as a format change makes startup do.
//! Pure CPU, no store.

mod common;

use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{BenchmarkId, SamplingMode, Throughput};
use daybook_benches::scale;
use daybook_core::aggregate::{SessionInput, aggregate_day};
use daybook_core::daylog::render_day;
use daybook_core::session::Phase;
use daybook_core::{EndReason, Event, Session, StoredEvent, Timestamp, UtcOffset};
use daybook_core::{Entry, EntryKind};

/// 2027-01-15T00:00:00+01:00.
const MIDNIGHT: i64 = 1_800_000_000_000 - 8 * 3_600_000 - 3_600_000;
const CET: UtcOffset = UtcOffset(3600);

/// `n` events of one day in 20 sessions from 07:00 to 23:00 local, an
/// event every few seconds, over 12 apps, 400 titles and 60 domains;
/// the context changes every fifth event or so.
fn heavy_day(n: usize) -> Vec<(Session, Vec<StoredEvent>)> {
    day_of(MIDNIGHT, 20, n)
}

/// A day of the year: its date, sessions with events, and entries.
type YearDay = (NaiveDate, Vec<(Session, Vec<StoredEvent>)>, Vec<Entry>);

/// One final entry per session, covering its minutes, as the engine
/// writes them (with a summary sentence).
fn entries(data: &[(Session, Vec<StoredEvent>)], first_id: u64) -> Vec<Entry> {
    data.iter()
        .enumerate()
        .map(|(i, (s, _))| {
            let end = s.phase.end().expect("ended");
            Entry {
                id: first_id + i as u64,
                session_id: s.id.clone(),
                kind: EntryKind::Final,
                from: s.start.window_start(Duration::from_secs(60)),
                to: Timestamp(end.window_start(Duration::from_secs(60)).0 + 60_000),
                offset: CET,
                body: format!("## heading\n\nMostly Code (main.rs), with Firefox for docs; {i} switches.\n"),
            }
        })
        .collect()
}

/// `n` events of the day starting at `midnight` in `sessions` sessions.
fn day_of(midnight: i64, sessions: usize, n: usize) -> Vec<(Session, Vec<StoredEvent>)> {
    let per = n.div_ceil(sessions);
    let slot = 16 * 3_600_000 / sessions as i64; // 48 min for 20 sessions
    let apps = [
        "Code", "Firefox", "Slack", "Terminal", "Zoom", "Mail", "Notes", "Figma", "Docs", "Music", "Calendar", "Finder",
    ];
    let mut seq = 0u64;
    (0..sessions)
        .map(|s| {
            let id = format!("d{midnight}s{s}");
            let start = Timestamp(midnight + 7 * 3_600_000 + s as i64 * slot);
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
                        rev: 0,
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
    let mut c = common::criterion(20, Duration::from_millis(500), Duration::from_secs(3));
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
        let entries = entries(&data, 1);
        let refs: Vec<&Entry> = entries.iter().collect();
        let text = render_day(day, &refs, &inputs);
        assert_eq!(text.lines().filter(|l| l.starts_with("## ")).count(), 20);
        group.bench_with_input(BenchmarkId::new("render", n), &inputs, |b, inputs| {
            b.iter(|| render_day(day, black_box(&refs), black_box(inputs)));
        });
    }
    // A year of days.
    let days = mode.pick(3usize, 365, 365);
    let year: Vec<YearDay> = (0..days)
        .map(|d| {
            let date = day.checked_add_days(chrono::Days::new(d as u64)).expect("a date");
            let data = day_of(MIDNIGHT + d as i64 * 86_400_000, 8, 1_200);
            let entries = entries(&data, 1 + 8 * d as u64);
            (date, data, entries)
        })
        .collect();
    group.throughput(Throughput::Elements(days as u64));
    group.bench_function(BenchmarkId::new("render_year_of_days", days), |b| {
        b.iter(|| {
            let mut bytes = 0;
            for (date, data, entries) in &year {
                let inputs: Vec<SessionInput<'_>> = data
                    .iter()
                    .map(|(session, events)| SessionInput { session, events })
                    .collect();
                let refs: Vec<&Entry> = entries.iter().collect();
                bytes += render_day(*date, &refs, &inputs).len();
            }
            black_box(bytes)
        });
    });
    group.finish();
    c.final_summary();
}
