//! Startup: the time from spawning `daybook run` to its first accepted
//! event, on a data directory holding a year of history (10k reduced
//! sessions, 3M events, their day files), and on an empty one for the
//! fixed cost. Two ways in: after a clean stop (SIGTERM, as a user stops
//! it) and after a kill -9 (one orphan to recover and reduce). Either way
//! the file is as daybook left it, so the full page check is skipped; the
//! breakdown times that check on its own. The day files are checked as
//! `daybook run` checks them (`projection::rebuild_at_start`: the days in
//! `stale_days` and the files whose `stat` moved); the breakdown also
//! times rendering every day, the check every start made before. Stopping
//! is outside the measured time.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

use daybook::{SqliteStore, projection};
use daybook_benches::daemon::{Client, Daemon};
use daybook_benches::{cache, daemon, fixture, scale};
use daybook_core::Timestamp;

const BIN: &str = env!("CARGO_BIN_EXE_daybook-bench-daemon");

/// The daemon to start ([`daemon::bin`]: a saved build if
/// `DAYBOOK_BENCH_DAEMON` names one).
fn daemon_bin() -> std::path::PathBuf {
    daemon::bin(BIN)
}

/// Spawn, wait for the address, post one event; the elapsed time.
fn first_event(dir: &Path) -> (Duration, Daemon) {
    let t = Instant::now();
    let daemon = Daemon::start(&daemon_bin(), dir);
    let accepted = Client::new(daemon.addr()).post(r#"{"app":"Code","title":"startup"}"#);
    let took = t.elapsed();
    assert_eq!(accepted, 1);
    (took, daemon)
}

/// The daemon's startup steps in-process, timed one by one, printed once:
/// what a startup on `dir` is made of.
fn breakdown(name: &str, dir: &Path) {
    let db = dir.join("daybook.db");
    let t = Instant::now();
    drop(SqliteStore::open(&db).expect("open"));
    let open = t.elapsed();
    let t = Instant::now();
    let store = SqliteStore::open_verified(&db).expect("open_verified");
    let verified = t.elapsed();
    let t = Instant::now();
    let now = Timestamp(fixture::T0.0 + 40 * 365 * 86_400_000);
    let engine = fixture::engine(store, now);
    let started = t.elapsed();
    let t = Instant::now();
    let listed = projection::days_to_check(engine.store(), &dir.join("days")).expect("days to check");
    let which = t.elapsed();
    let t = Instant::now();
    let rewritten = projection::rebuild_at_start(engine.store(), &dir.join("days"), &[]).expect("rebuild");
    let projected = t.elapsed();
    let days = engine.store().entry_days().expect("entry days");
    // The check every start made before `stale_days` (migration 11), for
    // comparison: render every day with entries, compare with its file.
    let t = Instant::now();
    let all = projection::rebuild_all(engine.store(), &dir.join("days")).expect("rebuild all");
    let everything = t.elapsed();
    eprintln!(
        "startup/{name}/breakdown: database {} MiB; open {open:.1?}; open_verified (quick_check) {verified:.1?}; \
         Engine::start {started:.1?}; day files as a start checks them {projected:.1?} (which: stale_days + a stat \
         of {} files {which:.1?}, {} listed, {} rewritten); every day rendered and compared (the check before \
         stale_days) {everything:.1?} ({} rewritten)",
        size_mib(&db),
        days.len(),
        listed.len(),
        rewritten.len(),
        all.len()
    );
}

/// The database file's size in MiB.
fn size_mib(db: &Path) -> u64 {
    std::fs::metadata(db).map_or(0, |m| m.len()) >> 20
}

/// How each iteration's daemon goes away, which decides how the next one
/// starts.
#[derive(Clone, Copy)]
enum Stop {
    /// SIGTERM: a clean stop.
    Clean,
    /// SIGKILL: a crash.
    Kill,
}

impl Stop {
    fn apply(self, daemon: Daemon) {
        match self {
            Self::Clean => daemon.stop(),
            Self::Kill => daemon.kill(),
        }
    }
}

fn bench(c: &mut Criterion, name: &str, dir: &Path, stop: Stop) {
    // Once unmeasured, stopped the same way, so the first measured start
    // finds what every later one finds.
    let (took, daemon) = first_event(dir);
    stop.apply(daemon);
    eprintln!("startup/{name}: unmeasured first start {took:.1?}");
    let mut group = c.benchmark_group("startup");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (took, daemon) = first_event(dir);
                total += took;
                stop.apply(daemon);
            }
            total
        });
    });
    group.finish();
}

fn main() {
    let mode = scale::mode();
    let (sessions, per_session) = mode.pick((50, 300), (10_000, 300), (10_000, 300));
    let mut c = common::criterion(10, Duration::from_millis(1), Duration::from_secs(3));

    let empty = cache::scratch("startup-empty");
    bench(&mut c, "empty", &empty, Stop::Clean);

    let history = fixture::history_db(sessions, per_session);
    let dir = cache::scratch("startup-year");
    cache::fresh_copy(&history, &dir.join("daybook.db")).expect("copying the history");
    let year = format!("year-{sessions}x{per_session}");
    // The very first start writes the day files.
    let (took, daemon) = first_event(&dir);
    daemon.stop();
    eprintln!("startup/{year}: first start (day files written) {took:.1?}");
    breakdown(&year, &dir);
    bench(&mut c, &format!("{year}/after-clean-stop"), &dir, Stop::Clean);
    bench(&mut c, &format!("{year}/after-kill"), &dir, Stop::Kill);

    c.final_summary();
    let _ = std::fs::remove_dir_all(empty);
    let _ = std::fs::remove_dir_all(dir);
}
