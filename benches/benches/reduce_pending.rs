//! Reduce-pending at startup: 10^3 and 10^4 ended sessions of 30 blocks
//! each, reduced by the built-in summarizer, day files written — what
//! `daybook run` does between recovery and accepting events
//! (`Engine::start`, then one pass over the day files that renders every
//! day once and writes the stale ones, those the start touched among
//! them: `projection::rebuild_at_start`), each iteration on a fresh copy
//! of the prepared database.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook::SqliteStore;
use daybook::projection;

use daybook_benches::{cache, fixture, scale};
use daybook_core::{Config, Engine, Output, Timestamp};

type DaemonEngine = Engine<SqliteStore>;

/// A fresh data directory: the database copied in, no day files.
fn fresh(db: &Path, dir: &Path) -> SqliteStore {
    let days = dir.join("days");
    let _ = std::fs::remove_dir_all(&days);
    std::fs::create_dir_all(&days).expect("days directory");
    let copy = dir.join("daybook.db");
    cache::fresh_copy(db, &copy).expect("copying the fixture");
    SqliteStore::open(&copy).expect("opening the copy")
}

/// `service::start` without the thread: start the engine, then the day
/// files of every day with entries, those its outputs touched included.
fn reduce(store: SqliteStore, days: &Path) -> (DaemonEngine, usize) {
    let now = Timestamp(fixture::T0.0 + 40 * 365 * 86_400_000);
    let mut engine = Engine::start(
        store,
        daybook_core::SummarizerKind::Builtin,
        Config::default(),
        "bench-",
        now,
    )
    .expect("engine start");
    let mut touched = Vec::new();
    let mut reduced = 0;
    while let Some(output) = engine.poll_output() {
        match output {
            Output::DayTouched(day) if !touched.contains(&day) => touched.push(day),
            Output::SessionReduced { .. } => reduced += 1,
            _ => {}
        }
    }
    projection::rebuild_at_start(engine.store(), days, &touched).expect("day files");
    (engine, reduced)
}

/// `reduce`, timed by phase: `Engine::start` (recovery finds nothing;
/// reduce-pending), then the day files (every day rendered once, the
/// stale ones written).
fn breakdown(n: usize, db: &Path, dir: &Path) {
    let days = dir.join("days");
    let store = fresh(db, dir);
    let now = Timestamp(fixture::T0.0 + 40 * 365 * 86_400_000);
    let t = Instant::now();
    let mut engine = Engine::start(
        store,
        daybook_core::SummarizerKind::Builtin,
        Config::default(),
        "bench-",
        now,
    )
    .expect("engine start");
    let start = t.elapsed();
    let mut touched = Vec::new();
    while let Some(output) = engine.poll_output() {
        if let Output::DayTouched(day) = output
            && !touched.contains(&day)
        {
            touched.push(day);
        }
    }
    let t = Instant::now();
    let written = projection::rebuild_at_start(engine.store(), &days, &touched).expect("day files");
    let files = t.elapsed();
    eprintln!(
        "reduce_pending/breakdown/{n}: Engine::start {start:.1?}, day files {files:.1?} ({} touched, {} written, \
         rendered on {} threads)",
        touched.len(),
        written.len(),
        projection::render_threads(engine.store().entry_days().expect("days").len())
    );
}

fn main() {
    let mode = scale::mode();
    let sizes: &[usize] = mode.pick(&[100], &[1_000, 10_000], &[1_000, 10_000]);
    let dir = cache::scratch("reduce_pending");
    let days = dir.join("days");
    let dbs: Vec<(usize, std::path::PathBuf)> = sizes.iter().map(|&n| (n, fixture::pending_db(n))).collect();
    // One checked run on the smallest size: every session reduced, day
    // files written. (The larger ones cost seconds a run; criterion's
    // runs of them are enough.)
    if let Some((n, db)) = dbs.first() {
        let store = fresh(db, &dir);
        let t = Instant::now();
        let (_engine, reduced) = reduce(store, &days);
        let files = std::fs::read_dir(&days).expect("days").count();
        assert_eq!(reduced, *n, "every pending session reduced");
        eprintln!(
            "reduce_pending/check/{n}: {reduced} sessions reduced, {files} day files, {:.1?}",
            t.elapsed()
        );
    }
    // One timed pass per size split by phase: what the total is made of.
    for (n, db) in &dbs {
        breakdown(*n, db, &dir);
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5))
        .output_directory(&cache::reports())
        .configure_from_args();
    let mut group = c.benchmark_group("reduce_pending");
    group.sampling_mode(SamplingMode::Flat);
    for (n, db) in &dbs {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || fresh(db, &dir),
                |store| reduce(store, &days),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
    c.final_summary();
    let _ = std::fs::remove_dir_all(dir);
}
