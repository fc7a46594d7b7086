//! Ingest through the daemon's HTTP API: events per second from concurrent
//! client threads, each event counted only once the daemon replied 200
//! with it committed (it replies after the group commit). Single-event
//! requests and batches of 100, against a real `daybook run` process on
//! loopback. Then the daemon's memory after a million events.
//!
//! Events carry `at` one second apart from a month ago, so sessions end by
//! the two-hour timeout and the daemon does its real work while ingesting:
//! tail blocks, final reductions, day files.

use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use daybook::SqliteStore;

use daybook_benches::daemon::{Client, Daemon, Stamps, cpu_time};
use daybook_benches::{cache, fixture, scale};
use daybook_core::{Config, Engine, Timestamp};

const BIN: &str = env!("CARGO_BIN_EXE_daybook-bench-daemon");

/// One round: the `clients` (connected before the clock starts, kept
/// alive across rounds) send `requests` requests of `per_request` events
/// between them, each on its own thread, and wait for every reply.
/// The stamps start 30 days back (see [`Stamps`]), at the edge of the
/// default `max_lateness_days`: the benchmark's daemon takes older events,
/// which changes nothing it measures (in order, none of them is late).
const STAMPS_CONFIG: &str = "max_lateness_days = 3650\n";

fn round(clients: &mut [Client], stamps: &Stamps, requests: usize, per_request: usize) {
    let n = clients.len();
    let accepted: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(t, client)| {
                let mine = requests / n + usize::from(t < requests % n);
                s.spawn(move || (0..mine).map(|_| client.post(&stamps.body(per_request))).sum::<u64>())
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).sum()
    });
    assert_eq!(accepted, (requests * per_request) as u64, "every event acknowledged");
}

/// A shape of load.
struct Load {
    name: &'static str,
    per_request: usize,
    clients: usize,
    /// Requests per measured iteration.
    requests: usize,
}

fn bench_ingest(c: &mut Criterion, mode: scale::Mode) {
    let loads = [
        Load {
            name: "batch100",
            per_request: 100,
            clients: 4,
            requests: mode.pick(20, 200, 200),
        },
        Load {
            name: "batch100",
            per_request: 100,
            clients: 16,
            requests: mode.pick(20, 200, 200),
        },
        Load {
            name: "single",
            per_request: 1,
            clients: 16,
            requests: mode.pick(200, 2_000, 2_000),
        },
        Load {
            name: "single",
            per_request: 1,
            clients: 64,
            requests: mode.pick(200, 2_000, 2_000),
        },
    ];
    let mut group = c.benchmark_group("ingest");
    group.sampling_mode(SamplingMode::Flat);
    for load in &loads {
        if !scale::selected(&format!("ingest/{}/{}clients", load.name, load.clients)) {
            continue;
        }
        let dir = cache::scratch(&format!("ingest-{}-{}", load.name, load.clients));
        let daemon = Daemon::start_with(std::path::Path::new(BIN), &dir, STAMPS_CONFIG);
        let stamps = Stamps::new(Duration::from_secs(30 * 86_400));
        let events = (load.requests * load.per_request) as u64;
        let mut clients: Vec<Client> = (0..load.clients).map(|_| Client::new(daemon.addr())).collect();
        // CPU is read around the timed loop only, so criterion's own
        // analysis between samples is not counted as the clients'.
        let mut cpu = Duration::ZERO;
        let mut clients_cpu = Duration::ZERO;
        let mut wall = Duration::ZERO;
        let mut sent = 0u64;
        group.throughput(Throughput::Elements(events));
        group.bench_function(BenchmarkId::new(load.name, format!("{}clients", load.clients)), |b| {
            b.iter_custom(|iters| {
                let (daemon_before, clients_before) = (daemon.cpu_time(), cpu_time("self"));
                let t = Instant::now();
                for _ in 0..iters {
                    round(&mut clients, &stamps, load.requests, load.per_request);
                }
                let took = t.elapsed();
                cpu += daemon.cpu_time().saturating_sub(daemon_before);
                clients_cpu += cpu_time("self").saturating_sub(clients_before);
                wall += took;
                sent += iters * events;
                took
            });
        });
        let (rss, hwm) = daemon.memory_kib();
        let per_event = |d: Duration| d.as_secs_f64() * 1e6 / sent.max(1) as f64;
        let cores = |d: Duration| d.as_secs_f64() / wall.as_secs_f64().max(1e-9);
        if sent > 0 {
            eprintln!(
                "ingest/{}/{}clients: {sent} events in {wall:.2?} = {:.0} events/s; CPU per event: daemon {:.1} µs, \
                 clients {:.1} µs; cores busy: daemon {:.2}, clients {:.2}; daemon RSS {} MiB (peak {} MiB)",
                load.name,
                load.clients,
                sent as f64 / wall.as_secs_f64().max(1e-9),
                per_event(cpu),
                per_event(clients_cpu),
                cores(cpu),
                cores(clients_cpu),
                rss / 1024,
                hwm / 1024,
            );
        }
        daemon.stop();
        let _ = std::fs::remove_dir_all(dir);
    }
    group.finish();
}

/// The engine and store alone, in-process: `Engine::handle_events` then
/// `handle_reductions` and the built-in answers to its summary requests
/// (one group commit, as the engine thread runs it)
/// for groups of 1, 100 and 1000 events. The ceiling the HTTP path can
/// reach: a commit's SQLite work and its fsync.
fn bench_group_commit(c: &mut Criterion, mode: scale::Mode) {
    let dir = cache::scratch("ingest-engine");
    let store = SqliteStore::open(&dir.join("daybook.db")).expect("open");
    let start = fixture::T0;
    let mut engine = Engine::start(
        store,
        daybook_core::SummarizerKind::Builtin,
        Config::default(),
        "bench-",
        start,
    )
    .expect("start");
    let mut next = start;
    let mut group = c.benchmark_group("ingest/group_commit");
    group.sampling_mode(SamplingMode::Flat);
    for size in mode.pick([1, 100, 1000], [1, 100, 1000], [1, 100, 1000]) {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_batched(
                || {
                    let events = fixture::activity(next.0 as u64 / 1000, next, size, Duration::from_secs(1));
                    next = Timestamp(next.0 + size as i64 * 1000);
                    events
                },
                |events| {
                    let now = events.last().expect("events").at;
                    engine.handle_events(now, &events).expect("committed");
                    engine.handle_reductions(now).expect("reductions");
                    // The daemon answers the built-in summarizer's
                    // requests inline, on the engine thread: so does this.
                    while let Some(output) = engine.poll_output() {
                        if let daybook_core::Output::SummaryRequested { id, request } = output {
                            let answer = daybook_core::SummaryAnswer {
                                id,
                                outcome: Ok(daybook_core::builtin_summary(&request.blocks)),
                            };
                            engine.handle_answers(now, &[answer]).expect("answer");
                        }
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    drop(engine);
    let _ = std::fs::remove_dir_all(dir);
}

/// A million events (batches of 1000 from 4 clients) into a fresh daemon,
/// then its resident memory.
fn memory(mode: scale::Mode) {
    if !scale::selected("ingest/memory") {
        return;
    }
    let total: usize = mode.pick(10_000, 1_000_000, 1_000_000);
    let dir = cache::scratch("ingest-memory");
    let daemon = Daemon::start_with(std::path::Path::new(BIN), &dir, STAMPS_CONFIG);
    let (rss0, _) = daemon.memory_kib();
    let stamps = Stamps::new(Duration::from_secs(30 * 86_400));
    let mut clients: Vec<Client> = (0..4).map(|_| Client::new(daemon.addr())).collect();
    let t = Instant::now();
    round(&mut clients, &stamps, total / 1000, 1000);
    let took = t.elapsed();
    let (rss, hwm) = daemon.memory_kib();
    let db = std::fs::metadata(dir.join("daybook.db")).map_or(0, |m| m.len());
    let wal = std::fs::metadata(cache::sidecar(&dir.join("daybook.db"), "-wal")).map_or(0, |m| m.len());
    eprintln!(
        "ingest/memory: {total} events in {took:.1?} ({:.0} events/s, batches of 1000, 4 clients); daemon VmRSS {:.1} MiB after (started at {:.1} MiB), VmHWM {:.1} MiB; database {} MiB + WAL {} MiB",
        total as f64 / took.as_secs_f64(),
        rss as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        hwm as f64 / 1024.0,
        db >> 20,
        wal >> 20,
    );
    daemon.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let mode = scale::mode();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&cache::reports())
        .configure_from_args();
    bench_group_commit(&mut c, mode);
    bench_ingest(&mut c, mode);
    memory(mode);
    c.final_summary();
}
