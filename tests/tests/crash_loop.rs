//! The crash loop: a seeded client posts realistic events (several apps,
//! window titles, URLs, typed text, bursts and idle gaps longer than the
//! shortened `gap_minutes`) while the test SIGKILLs the daemon at random
//! moments, restarts it and carries on. Every event carries a unique
//! `source` tag and the client records which were acknowledged (200).
//!
//! After the last restart and a graceful stop: `daybook doctor` finds
//! nothing; the quiet invariants hold; every acknowledged event is stored
//! exactly once (and no event twice); no day file repeats an entry; a
//! second recovery recovers and changes nothing.
//!
//! `DAYBOOK_E2E_SEED` replays the client's choices; `DAYBOOK_E2E_KILLS`
//! sets the number of kills (default 36; CI needs at least 30).

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, FAST_CONFIG, Fixture, Prng, assert_clean, count_sources, seed};
use daybook_core::check;
use serde_json::{Value, json};

const DEFAULT_KILLS: usize = 36;

/// What the clients sent and what the daemon said.
#[derive(Default)]
struct Ledger {
    /// Tags of events a 200 acknowledged.
    acked: Vec<String>,
    /// Tags of events whose request got no reply (the daemon was killed).
    unanswered: Vec<String>,
    /// Requests refused with a status other than 200 (there must be none).
    refused: Vec<String>,
}

/// The apps a user switches between, with titles, URLs and typing.
struct App {
    name: &'static str,
    titles: &'static [&'static str],
    urls: &'static [&'static str],
    typing: &'static [&'static str],
}

const APPS: &[App] = &[
    App {
        name: "Code",
        titles: &["engine.rs — daybook", "recovery.rs — daybook", "Cargo.toml — daybook"],
        urls: &[],
        typing: &[
            "fn handle_tick(&mut self, now: Timestamp)",
            "// why: the floor never moves back",
            "assert_eq!(a, b);",
        ],
    },
    App {
        name: "Firefox",
        titles: &["SQLite WAL mode", "axum::serve - Rust", "Inbox (3) - Mail"],
        urls: &[
            "https://sqlite.org/wal.html",
            "https://docs.rs/axum",
            "https://example.org/mail",
        ],
        typing: &["sqlite synchronous full", "tokio graceful shutdown"],
    },
    App {
        name: "Terminal",
        titles: &["cargo test", "htop", "git log"],
        urls: &[],
        typing: &[
            "cargo test -p daybook-tests",
            "git commit -m 'tests: crash loop'",
            "kill -9 $(pidof daybook)",
        ],
    },
    App {
        name: "Slack",
        titles: &["#daybook", "Direct message"],
        urls: &[],
        typing: &["the crash loop found nothing", "lunch?"],
    },
    App {
        name: "Notes",
        titles: &["Standup", "Ideas"],
        urls: &[],
        typing: &["- recovery is idempotent", "- day files are projections"],
    },
];

/// One capture client: a seeded user who holds focus on an app for a
/// while, switches, types, and whose events sometimes arrive late.
struct Client {
    rng: Prng,
    focus: usize,
    /// Chance in percent to switch apps before an event (0: one app only,
    /// so no soft cut: the session ends by the idle gap).
    switch_percent: u64,
    tag: String,
    next: Arc<AtomicU64>,
}

impl Client {
    fn event(&mut self) -> (Value, String) {
        if self.rng.percent(self.switch_percent) {
            self.focus = self.rng.range(0, APPS.len() as u64) as usize;
        }
        let app = &APPS[self.focus];
        let tag = format!("{}-{}", self.tag, self.next.fetch_add(1, Ordering::Relaxed));
        let mut e = json!({"app": app.name, "title": self.rng.pick(app.titles), "source": tag});
        if !app.urls.is_empty() {
            e["url"] = json!(self.rng.pick(app.urls));
        }
        if self.rng.percent(30) {
            e["text"] = json!(self.rng.pick(app.typing));
        }
        let now = chrono::Local::now();
        match self.rng.range(0, 100) {
            // Delivered late: older than events already attributed.
            0..10 => {
                let late = chrono::Duration::milliseconds(self.rng.range(0, 3000) as i64);
                e["at"] = json!((now - late).to_rfc3339_opts(chrono::SecondsFormat::Millis, false));
            }
            // No `at`: the daemon's now.
            10..15 => {}
            _ => e["at"] = json!(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)),
        }
        (e, tag)
    }

    fn batch(&mut self) -> (Vec<Value>, Vec<String>) {
        let n = match self.rng.range(0, 100) {
            0..70 => self.rng.range(1, 5),
            70..95 => self.rng.range(5, 31),
            _ => self.rng.range(100, 400),
        };
        (0..n).map(|_| self.event()).unzip()
    }

    /// Posts until told to stop or until the daemon stops answering.
    fn run(mut self, addr: &str, stop: &AtomicBool, ledger: &Mutex<Ledger>) {
        while !stop.load(Ordering::Relaxed) {
            let (batch, tags) = self.batch();
            let body = serde_json::to_vec(&batch).expect("serializable");
            let reply = common::http(addr, "POST", "/v1/events", &[], &body);
            let mut ledger = ledger.lock().expect("ledger");
            match reply {
                Ok(r) if r.status == 200 && r.json()["accepted"] == json!(tags.len()) => ledger.acked.extend(tags),
                Ok(r) => ledger.refused.push(format!("{} {}", r.status, r.body)),
                Err(_) => {
                    ledger.unanswered.extend(tags);
                    return;
                }
            }
            drop(ledger);
            std::thread::sleep(Duration::from_millis(self.rng.range(5, 120)));
        }
    }
}

/// Where in a daemon's life a kill lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KillMode {
    /// During startup (recovery, reduce-pending, day-file rebuild).
    Startup,
    /// While the clients post.
    UnderLoad,
    /// After the clients went quiet for about `gap_minutes`: around the
    /// soft or idle-gap cut, the final reduction and the day-file write.
    AroundQuietCut,
}

#[test]
fn kill_9_under_load_loses_and_duplicates_nothing() {
    let began = Instant::now();
    let seed = seed();
    let kills: usize = std::env::var("DAYBOOK_E2E_KILLS")
        .ok()
        .map_or(DEFAULT_KILLS, |s| s.parse().expect("DAYBOOK_E2E_KILLS is a number"));
    let mut rng = Prng::new(seed);
    let fx = Fixture::new(FAST_CONFIG);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next_tag = Arc::new(AtomicU64::new(0));
    let mut modes: Vec<KillMode> = Vec::new();

    for cycle in 0..kills {
        let mode = match rng.range(0, 100) {
            0..10 => KillMode::Startup,
            10..72 => KillMode::UnderLoad,
            _ => KillMode::AroundQuietCut,
        };
        modes.push(mode);
        let mut daemon = if mode == KillMode::Startup {
            let daemon = Daemon::spawn(&fx, None);
            std::thread::sleep(Duration::from_millis(rng.range(0, 250)));
            daemon
        } else {
            let daemon = Daemon::start(&fx);
            let stop = Arc::new(AtomicBool::new(false));
            // Now and then one user on one app: that session can only end
            // by the idle gap.
            let focused = mode == KillMode::AroundQuietCut && rng.percent(50);
            let clients: Vec<_> = (0..if focused { 1 } else { 2 })
                .map(|i| {
                    let client = Client {
                        rng: Prng::new(rng.next_u64()),
                        focus: i,
                        switch_percent: if focused { 0 } else { 15 },
                        tag: format!("c{cycle}.{i}"),
                        next: Arc::clone(&next_tag),
                    };
                    let (addr, stop, ledger) = (daemon.addr.clone(), Arc::clone(&stop), Arc::clone(&ledger));
                    std::thread::spawn(move || client.run(&addr, &stop, &ledger))
                })
                .collect();
            let load = Duration::from_millis(rng.range(30, 1500));
            std::thread::sleep(load);
            if mode == KillMode::AroundQuietCut {
                stop.store(true, Ordering::Relaxed);
                for c in clients {
                    c.join().expect("client thread");
                }
                // gap_minutes is 2 s and the tick 200 ms: the cut, the
                // final reduction and the day-file write happen in here.
                std::thread::sleep(Duration::from_millis(rng.range(1900, 2900)));
                daemon
            } else {
                let mut daemon = daemon;
                let status = daemon.kill9();
                assert_eq!(
                    status.signal(),
                    Some(9),
                    "cycle {cycle}: {status}\n{}",
                    daemon.log_text()
                );
                stop.store(true, Ordering::Relaxed);
                for c in clients {
                    c.join().expect("client thread");
                }
                daemon
            }
        };
        let status = daemon.kill9();
        assert_eq!(
            status.signal(),
            Some(9),
            "cycle {cycle} ({mode:?}): the daemon had exited on its own ({status}):\n{}",
            daemon.log_text()
        );
        drop(daemon);
        // The always-true invariants hold at every crash (day files are
        // rebuilt at startup, so they are checked at the end). Not every
        // cycle: opening the database here would checkpoint the WAL and
        // spare the next startup the crash state it should face.
        if cycle % 4 == 3 {
            let violations = check(&fx.dump());
            assert!(
                violations.is_empty(),
                "cycle {cycle} ({mode:?}), seed {seed}: {violations:#?}"
            );
        }
    }

    // The last restart: the engine recovers the last orphan, one more
    // batch, then a graceful stop and a reduce-pending.
    let mut daemon = Daemon::start(&fx);
    let final_tags: Vec<String> = (0..5).map(|i| format!("final-{i}")).collect();
    let batch: Vec<Value> = final_tags
        .iter()
        .map(|t| json!({"app": "Code", "title": "done", "source": t}))
        .collect();
    daemon.post_ok(&Value::Array(batch));
    daemon.stop();
    let pending = fx.run_json(&["reduce-pending", "--json"]);
    assert_eq!(pending["recovered"], 0, "a graceful stop left an orphan: {pending}");

    let ledger = ledger.lock().expect("ledger");
    assert!(
        ledger.refused.is_empty(),
        "seed {seed}: requests refused: {:#?}",
        ledger.refused
    );
    let mut acked = ledger.acked.clone();
    acked.extend(final_tags);
    assert_clean(&fx, &acked, &[]);

    let dump = fx.dump();
    let counts = count_sources(&dump);
    let sent: BTreeSet<&String> = ledger.acked.iter().chain(&ledger.unanswered).collect();
    let strangers: Vec<&String> = counts
        .keys()
        .filter(|t| !sent.contains(t) && !t.starts_with("final-"))
        .collect();
    assert!(strangers.is_empty(), "events nobody sent: {strangers:?}");

    // A second recovery recovers nothing and changes nothing.
    let recovered = fx.run_json(&["recover", "--json"]);
    assert_eq!(recovered["recovered"], json!([]), "{recovered}");
    assert_eq!(fx.dump(), dump, "a second recovery changed the database");

    // The run exercised what it claims to.
    let reasons: BTreeSet<String> = fx
        .sessions()
        .iter()
        .filter_map(|s| s["end_reason"].as_str().map(str::to_owned))
        .collect();
    assert!(
        reasons.contains("recovered"),
        "no orphan was ever recovered: {reasons:?}"
    );
    assert!(acked.len() >= 200, "only {} events acknowledged", acked.len());
    let late_stored = ledger.unanswered.iter().filter(|t| counts.contains_key(*t)).count();
    eprintln!(
        "crash loop: seed {seed}, {kills} kills ({} at startup, {} under load, {} around a quiet cut), \
         {} events acknowledged, {} unanswered ({late_stored} of them committed anyway), \
         {} sessions (end reasons {reasons:?}), {} entries, {:?}",
        modes.iter().filter(|m| **m == KillMode::Startup).count(),
        modes.iter().filter(|m| **m == KillMode::UnderLoad).count(),
        modes.iter().filter(|m| **m == KillMode::AroundQuietCut).count(),
        acked.len(),
        ledger.unanswered.len(),
        dump.sessions.len(),
        dump.entries.len(),
        began.elapsed(),
    );
}
