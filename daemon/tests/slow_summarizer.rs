//! A summarizer as slow as a real model (SPEC §6, "a summary is a request
//! and an answer"), through the real binary: a command that takes 8 s per
//! summary. While it runs, ingest is acknowledged, status and pause
//! answer, all far sooner than the summary; SIGTERM stops the daemon
//! within five seconds without waiting for it (the session stays pending,
//! nothing is lost); and the next start reduces that session.
//!
//! The bound asserted on each reply is 2 s: a quarter of the summary's
//! 8 s, so a reply that waited for it fails, yet loose enough for a loaded
//! two-core machine. The precise latency is a criterion bench
//! (`benches/benches/slow_summary.rs`).

mod common;

use std::time::{Duration, Instant};

use common::{FAST_TICK, TestDir, poll};
use daybook_core::{EntryKind, Phase};
use serde_json::{Value, json};

/// A past morning: the one-second tick ends its session at once, and the
/// final reduction is asked for.
const DAY: &str = "2026-01-10";

/// How long one summary takes.
const SUMMARY: Duration = Duration::from_secs(8);

/// The most a reply may take while a summary runs.
const REPLY: Duration = Duration::from_secs(2);

fn config(script: &str) -> String {
    format!(
        "{FAST_TICK}[summarizer]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", {}]\ntimeout_seconds = 30\n",
        json!(script)
    )
}

fn slow_config() -> String {
    config(&format!(
        "cat >/dev/null; sleep {}; echo '{{\"summary\":\"slow model\",\"lines\":[]}}'",
        SUMMARY.as_secs()
    ))
}

/// Times `f`, asserting it took less than [`REPLY`].
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < REPLY, "{what} took {took:?} while a summary ran");
    out
}

#[test]
fn a_slow_summary_never_holds_capture_and_a_stop_leaves_it_for_the_next_start() {
    let dir = TestDir::new(&slow_config());
    let mut daemon = dir.start();
    daemon.ingest(&json!([
        {"at": format!("{DAY}T09:00:00+01:00"), "app": "Code", "title": "parser.rs"},
        {"at": format!("{DAY}T09:00:30+01:00"), "app": "Firefox", "title": "docs"},
    ]));
    // The tick ends the session: its summary is now running (8 s).
    poll("the session to end", || {
        let s = daemon.status();
        (s["pending_sessions"] == 1).then_some(())
    });
    let asked = Instant::now();

    let reply: Value = quick("an ingest ack", || {
        daemon.ingest(&json!({"app": "Terminal", "title": "cargo test"}))
    });
    assert_eq!(reply["accepted"], 1, "{reply}");
    let status = quick("GET /v1/status", || daemon.status());
    assert!(!status["open_session"].is_null(), "{status}");
    assert_eq!(status["pending_sessions"], 1, "the summary is still running: {status}");
    let paused = quick("POST /v1/pause", || daemon.post_json("/v1/pause", &json!({})));
    assert_eq!(paused.status, 200, "{}", paused.body);
    let day = quick("GET /v1/days", || daemon.get(&format!("/v1/days/{DAY}")));
    assert_eq!(day.status, 200, "{}", day.body);
    let sessions = quick("GET /v1/sessions", || daemon.get(&format!("/v1/sessions?day={DAY}")));
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    assert!(
        asked.elapsed() < SUMMARY,
        "the checks above must run while the summary does"
    );

    // SIGTERM (`signal` fails past 5 s): the grace period (2 s) is shorter
    // than the summary, so the stop abandons it.
    let stopping = Instant::now();
    let status = daemon.terminate();
    assert!(status.success(), "exit {status}; log:\n{}", daemon.log());
    assert!(stopping.elapsed() < Duration::from_secs(5));
    assert!(
        daemon.log().contains("summaries abandoned at stop"),
        "log:\n{}",
        daemon.log()
    );

    // Nothing was lost: both sessions are ended, still pending, every
    // event stored.
    let dump = dir.dump();
    assert_eq!(dump.events.len(), 3);
    assert_eq!(dump.sessions.len(), 2, "{:?}", dump.sessions);
    assert!(
        dump.sessions.iter().all(|s| matches!(s.phase, Phase::Ended { .. })),
        "{:?}",
        dump.sessions
    );
    assert!(dump.entries.is_empty(), "{:?}", dump.entries);

    // The next start asks again (a quick summarizer this time) and reduces
    // both.
    std::fs::write(
        dir.config(),
        config("cat >/dev/null; echo '{\"summary\":\"quick model\",\"lines\":[]}'"),
    )
    .expect("rewrite config");
    let mut next = dir.start();
    next.wait_quiet();
    let dump = dir.dump();
    assert!(
        dump.sessions.iter().all(|s| matches!(s.phase, Phase::Reduced { .. })),
        "{:?}",
        dump.sessions
    );
    assert_eq!(dump.entries.len(), 2, "{:?}", dump.entries);
    assert!(dump.entries.iter().all(|e| e.kind == EntryKind::Final));
    assert!(dump.entries.iter().all(|e| e.body.contains("quick model")));
    assert!(next.terminate().success(), "log:\n{}", next.log());
}
