//! Graceful stop: SIGTERM ends the open session with reason `shutdown`,
//! finishes its final reduction and exits 0 within 5 s; the next start
//! recovers nothing.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, Fixture, assert_clean, event, millis, now_rfc3339};
use serde_json::{Value, json};

#[test]
fn sigterm_ends_the_session_with_shutdown_and_exits_zero_within_5s() {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    let mut acked = Vec::new();
    let mut last_at = String::new();
    for (i, app) in ["Code", "Firefox", "Code", "Terminal"].into_iter().enumerate() {
        last_at = now_rfc3339();
        let source = format!("graceful-{i}");
        daemon.post_ok(&json!([event(app, &last_at, &source)]));
        acked.push(source);
    }
    let open = daemon.status()["open_session"].clone();
    assert!(open.is_object(), "no open session before SIGTERM: {open}");

    let sent = Instant::now();
    let status = daemon.terminate(Duration::from_secs(5));
    let took = sent.elapsed();
    assert!(status.success(), "exit status {status}:\n{}", daemon.log_text());
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let sessions = fx.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    let s = &sessions[0];
    assert_eq!(s["id"], open["id"], "{s}");
    assert_eq!(s["end_reason"], "shutdown", "{s}");
    assert_eq!(s["status"], "reduced", "the final reduction did not finish: {s}");
    let end = s["end"].as_str().expect("an end");
    assert_eq!(millis(end), millis(&last_at), "the session must end at its last event");

    let dry = fx.run_json(&["recover", "--dry-run", "--json"]);
    assert_eq!(dry["recovered"], json!([]), "{dry}");
    assert_clean(&fx, &acked, &[]);

    // The next start recovers nothing and changes nothing.
    let before = fx.dump();
    let mut again = Daemon::start(&fx);
    assert_eq!(again.status()["open_session"], Value::Null);
    again.stop();
    assert_eq!(fx.dump(), before, "a restart after a clean stop changed the database");
}
