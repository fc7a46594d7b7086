//! Recall on a year of history (10k reduced sessions, 3M events): full-text
//! search for one- and two-word queries (p50 and p99 printed beside
//! criterion's figures), the activity summary of a day and of a month,
//! the search index's size per million events, and ingest with the index
//! and without it (the engine and store in-process, groups of 1,000
//! events, as the engine thread commits them, measured alternately).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook::SqliteStore;
use daybook::privacy::Privacy;
use daybook::recall::{self, DayOrRange, SearchParams, SummaryParams};
use daybook_benches::{cache, fixture, paired, scale};
use daybook_core::{Engine, Timestamp};

/// One-word queries: a word in a fifth of the events, a number in one
/// event in about three hundred, a prefix, an app name.
const ONE_WORD: [&str; 4] = ["sqlite", "24", "crit*", "slack"];
/// Two-word queries: two common words, a common and a rare one, a phrase.
const TWO_WORDS: [&str; 3] = ["cargo bench", "note 24", "\"write ahead\""];

fn now() -> Timestamp {
    Timestamp(fixture::T0.0 + 400 * 86_400_000)
}

fn search(store: &SqliteStore, privacy: &Arc<Privacy>, q: &str) -> usize {
    let params = SearchParams {
        q: q.to_owned(),
        ..SearchParams::default()
    };
    recall::search(store, privacy, &params, now())
        .expect("search")
        .results
        .len()
}

/// p50 and p99 over `rounds` runs of every query.
fn percentiles(store: &SqliteStore, privacy: &Arc<Privacy>, queries: &[&str], rounds: usize) -> (Duration, Duration) {
    let mut times = Vec::new();
    for _ in 0..rounds {
        for q in queries {
            let t = Instant::now();
            search(store, privacy, q);
            times.push(t.elapsed());
        }
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    (at(0.50), at(0.99))
}

fn bench_search(c: &mut Criterion, db: &Path, mode: scale::Mode) {
    let store = SqliteStore::open_read_only(db).expect("open");
    let privacy = Arc::new(Privacy::default());
    for q in ONE_WORD.iter().chain(&TWO_WORDS) {
        assert!(search(&store, &privacy, q) > 0, "{q} finds something");
    }
    let mut group = c.benchmark_group("search");
    for (name, queries) in [("one_word", &ONE_WORD[..]), ("two_words", &TWO_WORDS[..])] {
        if !scale::selected(&format!("search/{name}")) {
            continue;
        }
        let (p50, p99) = percentiles(&store, &privacy, queries, mode.pick(1, 50, 50));
        eprintln!("search/{name}: p50 {p50:.2?}, p99 {p99:.2?} over {queries:?}");
        for q in queries {
            group.bench_function(BenchmarkId::new(name, q), |b| b.iter(|| search(&store, &privacy, q)));
        }
    }
    group.finish();
}

fn bench_summary(c: &mut Criterion, db: &Path, mode: scale::Mode) {
    let store = SqliteStore::open_read_only(db).expect("open");
    let privacy = Privacy::default();
    let day = fixture::T0.local_date(fixture::OFFSET) + chrono::Days::new(mode.pick(0, 10, 10));
    let month_end = day + chrono::Days::new(30);
    let mut group = c.benchmark_group("summary");
    group.sampling_mode(SamplingMode::Flat);
    for (name, params) in [
        (
            "day",
            SummaryParams {
                when: DayOrRange {
                    day: Some(day.to_string()),
                    ..DayOrRange::default()
                },
                ..SummaryParams::default()
            },
        ),
        (
            "month",
            SummaryParams {
                when: DayOrRange {
                    since: Some(day.to_string()),
                    until: Some(month_end.to_string()),
                    ..DayOrRange::default()
                },
                ..SummaryParams::default()
            },
        ),
    ] {
        if !scale::selected(&format!("summary/{name}")) {
            continue;
        }
        let first = recall::summary(&store, &privacy, &params, now()).expect("summary");
        assert!(first.active_seconds > 0, "{name} has activity");
        eprintln!("summary/{name}: {} sessions, {} events", first.sessions, first.events);
        group.bench_function(name, |b| {
            b.iter(|| recall::summary(&store, &privacy, &params, now()).expect("summary"));
        });
    }
    group.finish();
}

/// The search index's pages, from SQLite's `dbstat`, and the events.
fn index_size(db: &Path) {
    let store = SqliteStore::open_read_only(db).expect("open");
    let conn = store.connection();
    let size = |like: &str| -> i64 {
        conn.query_row(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE ?1",
            [like],
            |r| r.get(0),
        )
        .expect("dbstat")
    };
    let events: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    let (index, all) = (size("events_fts%"), size("%"));
    eprintln!(
        "search index: events_fts {} MiB of {} MiB for {events} events = {:.1} MiB per million events ({:.0} bytes an event); entries_fts {} KiB",
        index >> 20,
        all >> 20,
        index as f64 / 1_048_576.0 * 1e6 / events.max(1) as f64,
        index as f64 / events.max(1) as f64,
        size("entries_fts%") >> 10,
    );
}

/// Replaces the search index by a view that takes the store's inserts and
/// keeps nothing, and drops its triggers: the store as it was before the
/// index, but for reading the new rows once per commit.
fn without_index(db: &Path) {
    let store = SqliteStore::open(db).expect("open");
    store
        .connection()
        .execute_batch(
            "DROP TRIGGER events_fts_delete; DROP TRIGGER events_fts_update;
             DROP TRIGGER entries_fts_insert; DROP TRIGGER entries_fts_delete; DROP TRIGGER entries_fts_update;
             DROP TABLE events_fts; DROP TABLE entries_fts;
             CREATE VIEW events_fts AS SELECT NULL AS rowid, NULL AS app, NULL AS title, NULL AS url, NULL AS text;
             CREATE TRIGGER events_fts_nothing INSTEAD OF INSERT ON events_fts BEGIN SELECT 1; END;",
        )
        .expect("dropping the index");
}

/// Ingest with the search index against ingest without it (issue 14:
/// within 25%), in-process: two engines on two fresh databases, one as
/// the store makes it and one passed through [`without_index`], fed the
/// same stream (groups of 1,000 events one second apart, committed as the
/// engine thread does, the built-in summarizer's answers included, so
/// entries are indexed too). First alternating rounds (one commit of each
/// a round, both streams at the same group, see
/// [`daybook_benches::paired`]) for the ratio, then criterion's figure
/// for each, and the index's bytes per event ingested.
fn bench_ingest(c: &mut Criterion, mode: scale::Mode) {
    if !scale::selected("ingest_fts") {
        return;
    }
    let size = 1_000;
    let start = fixture::T0;
    let mut sides: Vec<(Engine<SqliteStore>, Timestamp, std::path::PathBuf)> = [true, false]
        .into_iter()
        .map(|indexed| {
            let dir = cache::scratch(if indexed {
                "ingest-fts-with"
            } else {
                "ingest-fts-without"
            });
            let db = dir.join("daybook.db");
            drop(SqliteStore::open(&db).expect("create"));
            if !indexed {
                without_index(&db);
            }
            let store = SqliteStore::open(&db).expect("open");
            let engine = fixture::engine(store, start);
            (engine, start, dir)
        })
        .collect();
    let next_group = |next: &mut Timestamp| {
        let events = fixture::activity(next.0 as u64 / 1000, *next, size, Duration::from_secs(1));
        *next = Timestamp(next.0 + size as i64 * 1000);
        events
    };
    let [(with, with_next, _), (without, without_next, _)] = sides.as_mut_slice() else {
        unreachable!("two sides")
    };
    let step = |engine: &mut Engine<SqliteStore>, next: &mut Timestamp| {
        let events = next_group(next);
        paired::timed(|| {
            paired::commit(engine, &events);
        })
    };
    let rounds = paired::alternate(
        mode.pick(2, 200, 200),
        || step(without, without_next),
        || step(with, with_next),
    );
    eprintln!(
        "{}",
        rounds.report("ingest_fts", "without the index", "with the index", size)
    );
    let mut group = c.benchmark_group("ingest_fts");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(size as u64));
    for (name, (engine, next, _)) in ["with_index", "without_index"].into_iter().zip(sides.iter_mut()) {
        group.bench_function(name, |b| {
            b.iter_batched(
                || next_group(next),
                |events| paired::commit(engine, &events),
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    // What the index grew by, per event this bench ingested.
    let conn = sides[0].0.store().connection();
    let bytes: i64 = conn
        .query_row(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'events_fts%'",
            [],
            |r| r.get(0),
        )
        .expect("dbstat");
    let events: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    eprintln!(
        "ingest_fts: events_fts after ingesting {events} events: {} KiB = {:.0} bytes an event = {:.1} MiB per million events",
        bytes >> 10,
        bytes as f64 / events.max(1) as f64,
        bytes as f64 / 1_048_576.0 * 1e6 / events.max(1) as f64,
    );
    for (engine, _, dir) in sides {
        drop(engine);
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn main() {
    let mode = scale::mode();
    let mut c = common::criterion(
        mode.pick(10, 20, 20),
        Duration::from_millis(mode.pick(1, 500, 500)),
        Duration::from_secs(mode.pick(1, 5, 5)),
    );
    let db = match mode {
        scale::Mode::Smoke => fixture::history_db(30, 300),
        _ => fixture::history_db(10_000, 300),
    };
    index_size(&db);
    bench_search(&mut c, &db, mode);
    bench_summary(&mut c, &db, mode);
    bench_ingest(&mut c, mode);
    c.final_summary();
}
