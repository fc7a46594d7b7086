//! ActivityWatch heartbeats under kill -9 (SPEC §9, §11): three watchers
//! send heartbeats to `/api/0` while the test SIGKILLs the daemon at
//! random moments and restarts it. Each watcher sends, per step, a
//! heartbeat with new data (a new event, and a daybook event derived from
//! it) and one that merges into it. After the last restart:
//!
//! - every acknowledged new-data heartbeat is one stored ActivityWatch
//!   event, exactly once, and one derived daybook event, exactly once;
//! - every acknowledged merging heartbeat's instant is inside its event;
//! - no heartbeat, acknowledged or not, is stored or derived twice;
//! - the quiet invariants hold and doctor finds nothing.
//!
//! `DAYBOOK_E2E_SEED` replays the kill times; `DAYBOOK_AW_KILLS` sets the
//! number of kills (default 10).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Daemon, FAST_CONFIG, Fixture, Prng, seed};
use daybook::store::AwRange;
use daybook_core::check;
use serde_json::{Value, json};

const DEFAULT_KILLS: usize = 10;
const WATCHERS: usize = 3;

/// What the watchers sent and what the daemon said.
#[derive(Default)]
struct Ledger {
    /// Titles of new-data heartbeats a 200 acknowledged, by bucket.
    acked_new: Vec<(String, String)>,
    /// Merging heartbeats acknowledged: bucket, title, instant (ns).
    acked_merge: Vec<(String, String, i64)>,
    /// Replies other than 200 (there must be none).
    refused: Vec<String>,
}

fn bucket(k: usize) -> String {
    format!("aw-watcher-window_crash{k}")
}

fn heartbeat(
    addr: &str,
    bucket: &str,
    title: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<common::Response> {
    let body = json!({
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "duration": 0,
        "data": {"app": "Code", "title": title},
    });
    common::http(
        addr,
        "POST",
        &format!("/api/0/buckets/{bucket}/heartbeat?pulsetime=5"),
        &[],
        &serde_json::to_vec(&body).expect("serializable"),
    )
}

/// One watcher: sends until stopped or until the daemon stops answering.
fn watch(k: usize, addr: &str, next: &mut u64, stop: &AtomicBool, ledger: &Mutex<Ledger>) {
    let b = bucket(k);
    while !stop.load(Ordering::Relaxed) {
        let title = format!("w{k}-t{next}");
        *next += 1;
        let at = chrono::Utc::now();
        match heartbeat(addr, &b, &title, at) {
            Ok(r) if r.status == 200 => ledger
                .lock()
                .expect("ledger")
                .acked_new
                .push((b.clone(), title.clone())),
            Ok(r) => ledger
                .lock()
                .expect("ledger")
                .refused
                .push(format!("{} {}", r.status, r.body)),
            Err(_) => return,
        }
        std::thread::sleep(Duration::from_millis(3));
        let again = chrono::Utc::now();
        match heartbeat(addr, &b, &title, again) {
            Ok(r) if r.status == 200 => {
                let ns = again.timestamp_nanos_opt().expect("in range");
                ledger.lock().expect("ledger").acked_merge.push((b.clone(), title, ns));
            }
            Ok(r) => ledger
                .lock()
                .expect("ledger")
                .refused
                .push(format!("{} {}", r.status, r.body)),
            Err(_) => return,
        }
    }
}

#[test]
fn kill_9_during_heartbeats_loses_and_doubles_nothing() {
    let seed = seed();
    let kills: usize = std::env::var("DAYBOOK_AW_KILLS")
        .ok()
        .map_or(DEFAULT_KILLS, |s| s.parse().expect("DAYBOOK_AW_KILLS is a number"));
    let mut rng = Prng::new(seed);
    let fx = Fixture::new(FAST_CONFIG);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut next = [0u64; WATCHERS];

    for _ in 0..kills {
        let mut daemon = Daemon::start(&fx);
        let addr = daemon.addr.clone();
        for k in 0..WATCHERS {
            let body = json!({"client": "crash", "type": "currentwindow", "hostname": "crash"});
            let r = common::http(
                &addr,
                "POST",
                &format!("/api/0/buckets/{}", bucket(k)),
                &[],
                &serde_json::to_vec(&body).unwrap(),
            )
            .expect("creating a bucket");
            assert!(r.status == 200 || r.status == 304, "{} {}", r.status, r.body);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..WATCHERS)
            .map(|k| {
                let (addr, stop, ledger) = (addr.clone(), Arc::clone(&stop), Arc::clone(&ledger));
                let mut n = next[k];
                std::thread::spawn(move || {
                    watch(k, &addr, &mut n, &stop, &ledger);
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.range(100, 900)));
        daemon.kill9();
        stop.store(true, Ordering::Relaxed);
        for (k, t) in threads.into_iter().enumerate() {
            next[k] = t.join().expect("watcher thread");
        }
    }

    let mut daemon = Daemon::start(&fx);
    daemon.stop();

    let ledger = ledger.lock().expect("ledger");
    assert!(ledger.refused.is_empty(), "refused: {:?}", ledger.refused);
    assert!(
        ledger.acked_new.len() >= kills,
        "too little traffic: {}",
        ledger.acked_new.len()
    );
    eprintln!(
        "seed {seed}: {} new-data and {} merging heartbeats acknowledged across {kills} kills",
        ledger.acked_new.len(),
        ledger.acked_merge.len()
    );

    let store = daybook::SqliteStore::open(&fx.db()).expect("opening the database");
    // ActivityWatch events by (bucket, title): how many, and their spans.
    let mut aw: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for k in 0..WATCHERS {
        for e in store.aw_events(&bucket(k), AwRange::default()).expect("reading events") {
            let title = e.data["title"].as_str().expect("a title").to_owned();
            aw.entry((bucket(k), title)).or_default().push((e.start, e.end));
        }
    }
    // Daybook events derived, by (source, title): their instants.
    let dump = fx.dump();
    let mut derived: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for e in &dump.events {
        let key = (
            e.event.source.clone().unwrap_or_default(),
            e.event.title.clone().unwrap_or_default(),
        );
        derived.entry(key).or_default().push(e.event.at.0);
    }
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    for key in &ledger.acked_new {
        let spans = aw
            .get(key)
            .unwrap_or_else(|| panic!("acknowledged heartbeat {key:?} is not stored"));
        assert_eq!(
            spans.len(),
            1,
            "acknowledged heartbeat {key:?} is stored {} times",
            spans.len()
        );
        let at_start = derived
            .get(key)
            .map_or(0, |ats| ats.iter().filter(|&&at| at == ms(spans[0].0)).count());
        assert_eq!(
            at_start,
            1,
            "acknowledged heartbeat {key:?} is not derived exactly once: {:?}",
            derived.get(key)
        );
    }
    for (b, title, ns) in &ledger.acked_merge {
        let spans = &aw[&(b.clone(), title.clone())];
        assert!(
            spans.iter().any(|(s, e)| s <= ns && ns <= e),
            "acknowledged merge of {title} at {ns} is outside its event {spans:?}"
        );
    }
    for (key, spans) in &aw {
        assert_eq!(spans.len(), 1, "{key:?} stored {} times", spans.len());
    }
    // Besides its own, an event may derive one more: the tail a quiet
    // bucket gets at its last heartbeat (its end), never anything else.
    for (key, ats) in &derived {
        let Some(spans) = aw.get(key) else {
            panic!("{key:?} derived but not stored")
        };
        let (start, end) = (ms(spans[0].0), ms(spans[0].1));
        let mut ats = ats.clone();
        ats.sort_unstable();
        let ok = ats == [start] || (ats == [start, end] && end > start);
        assert!(ok, "{key:?} derived at {ats:?}, its event spans {start}..{end}");
    }
    let violations = check(&dump);
    assert!(violations.is_empty(), "invariants broken: {violations:#?}");
    let doctor = fx.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap_or(Value::Null);
    assert!(
        doctor.status.success() && report["ok"] == json!(true),
        "doctor: {report}"
    );
}
