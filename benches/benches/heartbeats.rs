//! ActivityWatch heartbeats through the daemon's `/api/0` (SPEC §11): how
//! many heartbeats a second three watchers (window, browser tab, AFK) get
//! acknowledged, each waiting for its reply as aw-client does, every one
//! committed before its reply; and how much the database grows for one
//! hour of a day's heartbeats at 1 Hz.
//!
//! Heartbeats are stamped one second apart per watcher from a day ago, so
//! they merge as a live stream's do (the window changes every 30 s, the
//! tab every 60 s; the AFK watcher reports `not-afk` every 5 s), and the
//! daybook events they derive cut and reduce sessions as ingest does.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook_benches::cache;
use daybook_benches::daemon::{Client, Daemon};
use daybook_benches::scale;
use daybook_core::{Timestamp, UtcOffset};

const BIN: &str = env!("CARGO_BIN_EXE_daybook-bench-daemon");

const BUCKETS: [(&str, &str); 3] = [
    ("aw-watcher-window_bench", "currentwindow"),
    ("aw-watcher-web-chrome_bench", "web.tab.current"),
    ("aw-watcher-afk_bench", "afkstatus"),
];

fn create_buckets(addr: &str) {
    let mut c = Client::new(addr);
    for (id, kind) in BUCKETS {
        let (status, text) = c.request(
            &format!("/api/0/buckets/{id}"),
            &format!(r#"{{"client":"bench","type":"{kind}","hostname":"bench"}}"#),
        );
        assert!(status == 200 || status == 304, "creating {id}: {status} {text}");
    }
}

/// The heartbeat of watcher `w` at second `s` of the day, and its path.
fn heartbeat(w: usize, s: i64, start_secs: i64) -> (String, String) {
    let ts = Timestamp((start_secs + s) * 1000).rfc3339(UtcOffset::UTC);
    let (id, _) = BUCKETS[w];
    let data = match w {
        0 => format!(r#"{{"app":"Code","title":"file{}.rs — daybook"}}"#, (s / 30) % 7),
        1 => format!(
            r#"{{"url":"https://docs.rs/page{}","title":"page {}","audible":false,"incognito":false}}"#,
            (s / 60) % 5,
            (s / 60) % 5
        ),
        _ => r#"{"status":"not-afk"}"#.to_owned(),
    };
    let pulsetime = if w == 2 { 185 } else { 2 };
    (
        format!("/api/0/buckets/{id}/heartbeat?pulsetime={pulsetime}"),
        format!(r#"{{"timestamp":"{ts}","duration":0,"data":{data}}}"#),
    )
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn bench_watchers(c: &mut Criterion, mode: scale::Mode) {
    if !scale::selected("heartbeats/3watchers") {
        return;
    }
    let dir = cache::scratch("heartbeats");
    let daemon = Daemon::start(&daybook_benches::daemon::bin(BIN), &dir);
    create_buckets(daemon.addr());
    let start = now_secs() - 86_400;
    let per_watcher = mode.pick(50, 500, 500);
    let second = AtomicI64::new(0);
    let mut clients: Vec<Client> = (0..BUCKETS.len()).map(|_| Client::new(daemon.addr())).collect();
    let mut group = c.benchmark_group("heartbeats");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements((per_watcher * BUCKETS.len()) as u64));
    group.bench_function(BenchmarkId::new("3watchers", per_watcher), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let first = second.fetch_add(per_watcher as i64, Ordering::Relaxed);
                std::thread::scope(|s| {
                    for (w, client) in clients.iter_mut().enumerate() {
                        s.spawn(move || {
                            for k in 0..per_watcher as i64 {
                                let (path, body) = heartbeat(w, first + k, start);
                                let (status, text) = client.request(&path, &body);
                                assert_eq!(status, 200, "{text}");
                            }
                        });
                    }
                });
            }
            t.elapsed()
        });
    });
    group.finish();
    daemon.stop();
    let _ = std::fs::remove_dir_all(dir);
}

/// Bytes of the database and its WAL.
fn size(dir: &std::path::Path) -> u64 {
    let db = dir.join("daybook.db");
    let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    len(&db) + len(&cache::sidecar(&db, "-wal"))
}

/// One hour of the three watchers at 1 Hz (the AFK watcher every 5 s),
/// sent and committed, then the daemon stopped (its WAL checkpointed): the
/// file's growth over the same daemon's empty database.
fn growth(mode: scale::Mode) {
    if !scale::selected("heartbeats/growth") {
        return;
    }
    let dir = cache::scratch("heartbeats-growth");
    let daemon = Daemon::start(&daybook_benches::daemon::bin(BIN), &dir);
    create_buckets(daemon.addr());
    daemon.stop();
    let empty = size(&dir);
    let daemon = Daemon::start(&daybook_benches::daemon::bin(BIN), &dir);
    let seconds = mode.pick(120, 3_600, 3_600);
    let start = now_secs() - 86_400;
    let mut client = Client::new(daemon.addr());
    let t = Instant::now();
    let mut sent = 0;
    for s in 0..seconds {
        for w in 0..BUCKETS.len() {
            if w == 2 && s % 5 != 0 {
                continue;
            }
            let (path, body) = heartbeat(w, s, start);
            let (status, text) = client.request(&path, &body);
            assert_eq!(status, 200, "{text}");
            sent += 1;
        }
    }
    let took = t.elapsed();
    drop(client);
    daemon.stop();
    let grown = size(&dir).saturating_sub(empty);
    let per_hour = grown as f64 * 3_600.0 / seconds as f64;
    eprintln!(
        "heartbeats/growth: {seconds} s of 1 Hz window and tab heartbeats and 0.2 Hz AFK heartbeats ({sent} heartbeats, \
         sent in {took:.1?}, one at a time): database grew {grown} bytes = {:.1} KiB per hour ({:.0} bytes per heartbeat)",
        per_hour / 1024.0,
        grown as f64 / sent.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let mode = scale::mode();
    let mut c = common::criterion(10, Duration::from_millis(500), Duration::from_secs(5));
    bench_watchers(&mut c, mode);
    growth(mode);
    c.final_summary();
}
