//! `daybook recover` on an imported OpenChronicle history of orphans
//! (issue 12): 10^5 sessions OpenChronicle left `active` (10^3 in quick
//! mode), 387,500 one-minute timeline blocks, imported once with
//! `daybook import openchronicle` (the fixture, cached by schema), then
//! each iteration a fresh copy of the data directory and the real command,
//! `daybook --data-dir D recover`, as a process: recovery of every orphan,
//! reduce-pending of all of them with the built-in summarizer, and every
//! day file written. A second pass in-process splits the same work by
//! phase.
//!
//! The OpenChronicle files are written by the daemon's test fixture
//! generator (`daemon/tests/common/openchronicle.rs`), so the bench reads
//! what the import tests read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook::{SqliteStore, projection};
use daybook_benches::{cache, scale};
use daybook_core::{Config, Engine, Output, Store, SummarizerKind, Timestamp};

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../../daemon/tests/common/openchronicle.rs"]
mod openchronicle;

use openchronicle::{Block, Root, Session, at};

/// The daemon's `main` under the bench package (see `src/bin`).
const BIN: &str = env!("CARGO_BIN_EXE_daybook-bench-daemon");

/// Writes an OpenChronicle root with `n` orphans: sessions still `active`
/// (OpenChronicle was killed), ten minutes apart, each with four one-minute
/// blocks but every eighth with three (3.875 a session, the ratio of the
/// database in issue 12), and no entries.
fn openchronicle_root(root: &Path, n: i64) {
    let mut oc = Root::create(root);
    oc.connection().execute_batch("BEGIN").expect("begin");
    let t0 = at("2025-01-06T08:00:00+01:00");
    for i in 0..n {
        let start = t0 + chrono::Duration::minutes(i * 10);
        let session = Session {
            id: oc.session_id(),
            start,
            end: None,
            status: "active",
            retry_count: 0,
            flush_end: None,
        };
        oc.session(&session);
        let blocks = if i % 8 == 7 { 3 } else { 4 };
        for k in 0..blocks {
            oc.block(&Block {
                start: start + chrono::Duration::minutes(k),
                end: start + chrono::Duration::minutes(k + 1),
                entries: vec![format!("[Code] file {i}.{k}: edited")],
                apps: vec!["Code".into()],
                captures: 4,
            });
        }
    }
    oc.connection().execute_batch("COMMIT").expect("commit");
}

/// `daybook` with the bench's empty config and `data` as its data
/// directory: this build's daemon, or `DAYBOOK_BENCH_DAEMON` if set (a
/// saved build, to time another commit's command beside this one).
fn daybook(data: &Path) -> Command {
    let bin = daybook_benches::daemon::bin(BIN);
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(data.join("bench-config.toml"))
        .arg("--data-dir")
        .arg(data)
        .env(
            "RUST_LOG",
            std::env::var("DAYBOOK_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

/// The data directory after `daybook import openchronicle` of `n` orphans,
/// prepared once per schema.
fn imported(n: i64) -> PathBuf {
    cache::cached(&format!("recover-openchronicle-{n}.db"), |path| {
        let work = cache::scratch(&format!("recover-openchronicle-prepare-{n}"));
        let oc = work.join("openchronicle");
        openchronicle_root(&oc, n);
        let data = work.join("data");
        std::fs::create_dir_all(&data).expect("data directory");
        std::fs::write(data.join("bench-config.toml"), "").expect("config");
        let status = daybook(&data)
            .args(["import", "openchronicle"])
            .arg(&oc)
            .status()
            .expect("running the import");
        assert!(status.success(), "the import failed");
        // Fold the WAL in so the fixture is one file.
        let store = SqliteStore::open(&data.join("daybook.db")).expect("the imported database");
        assert_eq!(
            store.active_sessions().expect("active").len(),
            usize::try_from(n).expect("n fits"),
            "every OpenChronicle orphan is an active session"
        );
        store.checkpoint().expect("checkpoint");
        drop(store);
        std::fs::copy(data.join("daybook.db"), path).expect("caching the fixture");
        let _ = std::fs::remove_dir_all(work);
    })
}

/// A fresh data directory in `dir`: the imported database, no day files,
/// private as daybook keeps it (else every run would warn and fix it).
fn fresh(db: &Path, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("data directory");
    std::fs::write(dir.join("bench-config.toml"), "").expect("config");
    cache::fresh_copy(db, &dir.join("daybook.db")).expect("copying the fixture");
    for (path, mode) in [
        (dir.to_owned(), 0o700),
        (dir.join("bench-config.toml"), 0o600),
        (dir.join("daybook.db"), 0o600),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("permissions");
    }
    dir.to_owned()
}

/// The real command, as a process; checks it succeeded.
fn recover(data: &Path) {
    let status = daybook(data).arg("recover").status().expect("running recover");
    assert!(status.success(), "daybook recover failed");
}

/// The process's CPU time so far (user and system, every thread), from
/// `/proc/self/stat` in clock ticks (10 ms); zero where it cannot be read.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        // The fields after the command's closing parenthesis: utime and
        // stime are the 12th and 13th of them.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    });
    Duration::from_millis(ticks.unwrap_or(0) * 10)
}

/// What `daybook recover` does, in-process and timed by phase: opening
/// the database (with its page check), the recovery step alone (as
/// `recovery_sqlite` measures it) on a copy, twice, split into reading
/// the input, planning and `Store::recover`, then `Engine::start` on
/// another copy (blocks of orphans, recovery, reduce-pending of every
/// recovered session), then every day file written, twice (into an empty
/// directory each time). Each phase with its wall time and the process's
/// CPU time.
fn breakdown(n: i64, db: &Path, dir: &Path) {
    let config = Config::default();
    for pass in 1..=2 {
        let data = fresh(db, dir);
        let mut store = SqliteStore::open_verified(&data.join("daybook.db")).expect("open");
        let (t, cpu) = (Instant::now(), cpu_time());
        let input = store.recovery_input().expect("recovery input");
        let read = t.elapsed();
        // What `plan_recovery` does, in its two steps.
        let plan = daybook_core::recovery::plan(&input, config.max_session, config.empty_session);
        let planned = t.elapsed();
        store.recover(&plan).expect("recover");
        let (recovery, recovery_cpu) = (t.elapsed(), cpu_time().saturating_sub(cpu));
        assert_eq!(
            plan.ends.len(),
            usize::try_from(n).expect("n fits"),
            "every orphan recovered"
        );
        eprintln!(
            "recover_openchronicle/breakdown/{n}: recovery alone {recovery:.1?} (CPU {recovery_cpu:.1?}), pass {pass}: \
             recovery_input {read:.1?}, plan {:.1?}, Store::recover {:.1?}",
            planned.saturating_sub(read),
            recovery.saturating_sub(planned)
        );
        drop(store);
    }

    let data = fresh(db, dir);
    let t = Instant::now();
    let store = SqliteStore::open_verified(&data.join("daybook.db")).expect("open");
    let open = t.elapsed();
    let now = Timestamp(at("2045-01-01T00:00:00+00:00").timestamp_millis());
    let t = Instant::now();
    let mut engine = Engine::start(store, SummarizerKind::Builtin, config, "bench-", now).expect("engine start");
    let start = t.elapsed();
    let mut reduced = 0;
    while let Some(o) = engine.poll_output() {
        if let Output::SessionReduced { .. } = o {
            reduced += 1;
        }
    }
    assert_eq!(reduced, n, "every recovered orphan reduced");
    eprintln!(
        "recover_openchronicle/breakdown/{n}: open (quick_check) {open:.1?}; \
         Engine::start (orphans' blocks, recovery, reduce-pending) {start:.1?}"
    );
    for pass in 1..=2 {
        let days = data.join("days");
        let _ = std::fs::remove_dir_all(&days);
        std::fs::create_dir_all(&days).expect("days directory");
        let (t, cpu) = (Instant::now(), cpu_time());
        projection::rebuild_all(engine.store(), &days).expect("day files");
        let (write, write_cpu) = (t.elapsed(), cpu_time().saturating_sub(cpu));
        let files = std::fs::read_dir(&days).expect("days").count();
        eprintln!(
            "recover_openchronicle/breakdown/{n}: {files} day files written {write:.1?} (CPU {write_cpu:.1?}), pass {pass}"
        );
    }
}

fn main() {
    let mode = scale::mode();
    let sizes: &[i64] = mode.pick(&[1_000], &[100_000], &[100_000]);
    let dir = cache::scratch("recover_openchronicle");
    let data = dir.join("data");
    let dbs: Vec<(i64, PathBuf)> = sizes.iter().map(|&n| (n, imported(n))).collect();
    for (n, db) in &dbs {
        // One checked run of the command: every orphan recovered and
        // reduced, nothing left pending.
        let d = fresh(db, &data);
        let t = Instant::now();
        recover(&d);
        let took = t.elapsed();
        let store = SqliteStore::open(&d.join("daybook.db")).expect("open after recover");
        assert!(store.active_sessions().expect("active").is_empty(), "no orphan left");
        assert!(
            store.pending_sessions().expect("pending").is_empty(),
            "nothing left pending"
        );
        drop(store);
        let files = std::fs::read_dir(d.join("days")).expect("days").count();
        eprintln!("recover_openchronicle/check/{n}: `daybook recover` {took:.1?}, {files} day files");
        breakdown(*n, db, &data);
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5))
        .output_directory(&cache::reports())
        .configure_from_args();
    let mut group = c.benchmark_group("recover_openchronicle");
    group.sampling_mode(SamplingMode::Flat);
    for (n, db) in &dbs {
        group.throughput(Throughput::Elements(u64::try_from(*n).expect("n fits")));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(|| fresh(db, &data), |d| recover(&d), BatchSize::PerIteration);
        });
    }
    group.finish();
    c.final_summary();
    let _ = std::fs::remove_dir_all(dir);
}
