//! Startup recovery over SQLite: `Store::recovery_input` + `plan` +
//! `Store::recover` (what `Engine::start` does once orphans' blocks are
//! built) on prepared databases of 10^3 … 10^5 orphans (10^6 with
//! `DAYBOOK_BENCH_LONG=1`), each iteration on a fresh copy of the file;
//! and the whole `Engine::start` (block building, recovery, reduce-pending
//! of every recovered orphan) on the smaller sizes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook::SqliteStore;

use daybook_benches::{cache, fixture, scale};
use daybook_core::recovery::plan;
use daybook_core::{Config, Engine, Store, Timestamp, plan_recovery};

/// A fresh copy of `db` at `copy`, opened (schema checked, WAL on): the
/// state startup is in when recovery begins.
fn open_copy(db: &Path, copy: &Path) -> SqliteStore {
    cache::fresh_copy(db, copy).expect("copying the fixture");
    SqliteStore::open(copy).expect("opening the copy")
}

/// The recovery step itself; returns the store so closing it (a WAL
/// checkpoint) is not measured.
fn recover(mut store: SqliteStore, config: &Config) -> SqliteStore {
    let p = plan_recovery(&store, config).expect("recovery plan");
    store.recover(&p).expect("recover");
    store
}

/// One timed pass split by phase, printed once per size: what the total is
/// made of.
fn breakdown(db: &Path, copy: &Path, n: usize, config: &Config) {
    let mut store = open_copy(db, copy);
    let t = Instant::now();
    let input = store.recovery_input().expect("recovery input");
    let gather = t.elapsed();
    let t = Instant::now();
    let p = plan(&input, config.max_session, config.empty_session);
    let planned = t.elapsed();
    let t = Instant::now();
    store.recover(&p).expect("recover");
    let applied = t.elapsed();
    assert_eq!(p.ends.len(), n, "every orphan recovered");
    assert!(store.active_sessions().expect("active").is_empty());
    eprintln!(
        "recovery_sqlite/breakdown/{n}: recovery_input {gather:.1?}, plan {planned:.1?}, recover {applied:.1?}, total {:.1?}",
        gather + planned + applied
    );
}

fn main() {
    let mode = scale::mode();
    let sizes: &[usize] = mode.pick(
        &[1_000],
        &[1_000, 10_000, 100_000],
        &[1_000, 10_000, 100_000, 1_000_000],
    );
    let start_sizes: &[usize] = mode.pick(&[1_000], &[1_000], &[1_000, 10_000]);
    let config = Config::default();
    let dir = cache::scratch("recovery_sqlite");
    let copy: PathBuf = dir.join("daybook.db");
    let dbs: Vec<(usize, PathBuf)> = sizes.iter().map(|&n| (n, fixture::orphans_db(n))).collect();
    for (n, db) in &dbs {
        breakdown(db, &copy, *n, &config);
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(2))
        .output_directory(&cache::reports())
        .configure_from_args();
    let mut group = c.benchmark_group("recovery_sqlite/recover");
    group.sampling_mode(SamplingMode::Flat);
    for (n, db) in &dbs {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || open_copy(db, &copy),
                |store| recover(store, &config),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("recovery_sqlite/engine_start");
    group.sampling_mode(SamplingMode::Flat);
    for (n, db) in dbs.iter().filter(|(n, _)| start_sizes.contains(n)) {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || open_copy(db, &copy),
                |store| {
                    // After the fixture's history, as a restart would be.
                    let now = Timestamp(fixture::T0.0 + 40 * 365 * 86_400_000);
                    Engine::start(
                        store,
                        daybook_core::SummarizerKind::Builtin,
                        config.clone(),
                        "bench-",
                        now,
                    )
                    .expect("start")
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
    c.final_summary();
    let _ = std::fs::remove_dir_all(dir);
}
