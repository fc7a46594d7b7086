//! Startup: the time from spawning `daybook run` to its first accepted
//! event, on a data directory holding a year of history (10k reduced
//! sessions, 3M events, their day files), and on an empty one for the
//! fixed cost. Two ways in: after a clean stop (SIGTERM, as a user stops
//! it) and after a kill -9 (one orphan to recover and reduce). Either way
//! the file is as daybook left it, so the full page check is skipped; the
//! breakdown times that check on its own. Stopping is outside the measured
//! time.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

use daybook::{SqliteStore, projection};
use daybook_benches::daemon::{Client, Daemon};
use daybook_benches::{cache, fixture, scale};
use daybook_core::{Config, Engine, Timestamp};

const BIN: &str = env!("CARGO_BIN_EXE_daybook-bench-daemon");

/// Spawn, wait for the address, post one event; the elapsed time.
fn first_event(dir: &Path) -> (Duration, Daemon) {
    let t = Instant::now();
    let daemon = Daemon::start(Path::new(BIN), dir);
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
    let engine = Engine::start(
        store,
        daybook_core::SummarizerKind::Builtin,
        Config::default(),
        "bench-",
        now,
    )
    .expect("start");
    let started = t.elapsed();
    let t = Instant::now();
    let days = engine.store().entry_days().expect("entry days");
    let rewritten = projection::rebuild_all(engine.store(), &dir.join("days")).expect("rebuild");
    let projected = t.elapsed();
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());
    eprintln!(
        "startup/{name}/breakdown: database {} MiB; open {open:.1?}; open_verified (quick_check) {verified:.1?}; \
         Engine::start {started:.1?}; day files checked ({} days, {} rewritten) {projected:.1?}",
        size >> 20,
        days.len(),
        rewritten.len()
    );
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
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&cache::reports())
        .configure_from_args();

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
