//! Ingest acknowledgement latency while summaries of 10 s run (issue 12:
//! p99 ≤ 25 ms). A real daemon whose summarizer is a command that takes
//! 10 s; every request sends one event six minutes after the previous
//! one, so each ends a session (idle gap) and asks for its summary: from
//! the second request on, `summarizer_concurrency` (2) summaries are
//! always running and more wait. One client, one request at a time, each
//! timed from its first byte sent to its reply read.
//!
//! Prints `slow_summary/latency/N: p50 …, p99 …, max …` and criterion's
//! mean per request. `DAYBOOK_BENCH_BEFORE_BIN=/path/to/daybook` also
//! times a few requests against another build of the daemon (an older
//! one, whose engine thread ran summaries itself) in the same run.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::SamplingMode;
use daybook_benches::daemon::{Client, Daemon};
use daybook_benches::{cache, scale};
use daybook_core::{Timestamp, UtcOffset};

const BIN: &str = env!("CARGO_BIN_EXE_daybook-bench-daemon");

/// How long one summary takes.
const SUMMARY_SECS: u64 = 10;

fn config() -> String {
    let script = format!("cat >/dev/null; sleep {SUMMARY_SECS}; echo '{{\"summary\":\"slow\",\"lines\":[]}}'");
    format!(
        // The events start a month back, past the default
        // `max_lateness_days`; in order, none of them is late.
        "tick_seconds = \"1s\"\nmax_lateness_days = 3650\n[summarizer]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", {}]\ntimeout_seconds = 60\n",
        serde_json::Value::String(script)
    )
}

/// One event per request, six minutes apart (past the five-minute gap),
/// from a month ago.
struct Sixes {
    next: i64,
}

impl Sixes {
    fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970");
        Self {
            next: (now.as_secs() as i64 - 30 * 86_400) * 1000,
        }
    }

    fn body(&mut self) -> String {
        let at = Timestamp(self.next);
        self.next += 6 * 60_000;
        format!(
            r#"{{"at":"{}","app":"Code","title":"engine.rs — daybook","source":"bench"}}"#,
            at.rfc3339(UtcOffset(3600))
        )
    }
}

/// Times `n` requests against the daemon `bin`; returns the latencies.
fn latencies(bin: &Path, dir: &Path, n: usize) -> Vec<Duration> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("data dir");
    let daemon = Daemon::start_with(bin, dir, &config());
    let mut client = Client::new(daemon.addr());
    let mut events = Sixes::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let body = events.body();
        let t = Instant::now();
        assert_eq!(client.post(&body), 1);
        out.push(t.elapsed());
    }
    daemon.kill();
    out
}

fn report(name: &str, mut l: Vec<Duration>) {
    l.sort();
    let at = |q: f64| l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1];
    eprintln!(
        "slow_summary/latency/{name}: {} requests, p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        l.len(),
        at(0.50),
        at(0.99),
        l[l.len() - 1]
    );
}

fn main() {
    let mode = scale::mode();
    let n = mode.pick(20, 1_000, 1_000);
    let dir = cache::scratch("slow_summary");
    report("now", latencies(Path::new(BIN), &dir.join("now"), n));
    if let Ok(before) = std::env::var("DAYBOOK_BENCH_BEFORE_BIN") {
        report("before", latencies(Path::new(&before), &dir.join("before"), 12));
    }

    let mut c = common::criterion(10, Duration::from_millis(1), Duration::from_secs(5));
    let mut group = c.benchmark_group("slow_summary");
    group.sampling_mode(SamplingMode::Flat);
    let data = dir.join("criterion");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("data dir");
    let daemon = Daemon::start_with(Path::new(BIN), &data, &config());
    let mut client = Client::new(daemon.addr());
    let mut events = Sixes::new();
    group.bench_function("ingest_ack_while_summaries_run", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let body = events.body();
                let t = Instant::now();
                client.post(&body);
                total += t.elapsed();
            }
            total
        });
    });
    group.finish();
    daemon.kill();
}
