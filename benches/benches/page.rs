//! The timeline page (issue 16): the day view of a day with 300 sessions
//! and 30,000 events, and a week of seven such days, read from SQLite and
//! rendered server-side exactly as `GET /day/D` and `GET /week/W` do
//! (`daybook::http::page::{load_day, render_day, load_week, render_week}`:
//! the read, the aggregation, the HTML). It also prints the size of the
//! page with its assets (`DAYBOOK_PAGE_DUMP=path` also writes the day's
//! HTML there, to see where its bytes go). Run with `TZ=Europe/Paris`
//! (or any zone at +01:00 in January), the fixture's offset, as a user's
//! own data is.

mod common;

use std::hint::black_box;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use criterion::{BenchmarkId, SamplingMode};
use daybook::SqliteStore;
use daybook::http::page::{self, load_day, load_week, render_day, render_week};
use daybook::privacy::Privacy;
use daybook_benches::fixture::{self, Fate, T0};
use daybook_benches::{cache, scale};
use daybook_core::Timestamp;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// `days` days from T0 (2023-01-02, a Monday), each with `sessions`
/// sessions of `per` events between 02:00 and 24:00 local (+01:00), 1.5 s
/// apart.
fn fill(w: &mut fixture::Writer<'_>, days: usize, sessions: usize, per: usize) {
    let slot = 22 * HOUR / sessions as i64;
    for d in 0..days {
        for s in 0..sessions {
            let start = Timestamp(T0.0 + d as i64 * DAY + HOUR + s as i64 * slot);
            let events = fixture::activity((d * sessions + s) as u64, start, per, Duration::from_millis(1500));
            w.session(&format!("p{d}-{s:04}"), &events, Fate::Reduced);
        }
    }
}

fn main() {
    let mode = scale::mode();
    let (sessions, per) = mode.pick((30, 10), (300, 100), (300, 100));
    let db = cache::cached(&format!("page-week-{sessions}x{per}-v1"), |path| {
        fixture::build(path, |w| fill(w, 7, sessions, per));
    });
    let store = SqliteStore::open_read_only(&db).expect("the fixture opens");
    let privacy = Privacy::default();
    let monday = NaiveDate::from_ymd_opt(2023, 1, 2).expect("a date");
    let day = monday + chrono::Days::new(2);
    let now = Timestamp(T0.0 + 30 * DAY);

    // What a browser fetches for the day view: the page and its assets.
    let read = load_day(&store, &privacy, day).expect("a day reads");
    assert!(read.sessions.len() >= sessions, "the day and its neighbours read");
    let html = render_day(&read, day, now);
    let bars = html.matches("\" class=\"session").count();
    assert_eq!(bars, sessions, "one bar per session of the day");
    let assets = page::asset_bytes();
    if let Ok(path) = std::env::var("DAYBOOK_PAGE_DUMP") {
        std::fs::write(&path, &html).expect("the page dump is written");
    }
    println!(
        "page size: day of {sessions} sessions / {} events: HTML {} B + assets {} B = {} B",
        sessions * per,
        html.len(),
        assets,
        html.len() + assets
    );
    let light = load_day(&store, &privacy, monday - chrono::Days::new(1)).expect("an empty day reads");
    let empty = render_day(&light, monday - chrono::Days::new(1), now);
    println!(
        "page size: an empty day: HTML {} B + assets {} B = {} B",
        empty.len(),
        assets,
        empty.len() + assets
    );

    let mut c = common::criterion(20, Duration::from_millis(500), Duration::from_secs(5));
    let mut group = c.benchmark_group("page");
    group.sampling_mode(SamplingMode::Flat);
    let events = sessions * per;
    group.bench_function(BenchmarkId::new("day", format!("{sessions}s-{events}e")), |b| {
        b.iter(|| {
            let read = load_day(&store, &privacy, black_box(day)).expect("a day reads");
            render_day(&read, day, now)
        });
    });
    group.bench_function(
        BenchmarkId::new("day_render_only", format!("{sessions}s-{events}e")),
        |b| {
            b.iter(|| render_day(black_box(&read), day, now));
        },
    );
    let week_name = format!("{}-W{:02}", monday.iso_week().year(), monday.iso_week().week());
    group.bench_function(
        BenchmarkId::new("week", format!("7x{sessions}s-{}e", 7 * events)),
        |b| {
            b.iter(|| {
                let read = load_week(&store, &privacy, black_box(monday)).expect("a week reads");
                render_week(&read, monday, now)
            });
        },
    );
    println!("week bench: /week/{week_name}");
    group.finish();
    c.final_summary();
}
