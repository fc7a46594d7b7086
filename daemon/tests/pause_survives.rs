//! Pause and the drop counts are durable: a paused daemon that is killed
//! (or stopped) and started again stays paused, says so in status and in
//! its log, and keeps counting from where it was.

mod common;

use common::{FAST_TICK, TestDir, poll};
use serde_json::json;

fn counts(status: &serde_json::Value) -> (bool, u64, u64) {
    (
        status["paused"].as_bool().expect("paused"),
        status["dropped_paused"].as_u64().expect("dropped_paused"),
        status["dropped_ignored"].as_u64().expect("dropped_ignored"),
    )
}

#[test]
fn pause_and_the_drop_counts_survive_a_kill_and_a_restart() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    daemon.ingest(&json!({"app": "Code"}));
    let ignored = daemon.ingest(&json!([{"app": "1Password"}, {"app": "Code"}]));
    assert_eq!(ignored["ignored"], 1, "{ignored}");
    assert_eq!(daemon.post_json("/v1/pause", &json!({})).status, 200);
    let dropped = daemon.ingest(&json!([{"app": "Code"}, {"app": "Firefox"}]));
    assert_eq!(dropped["dropped_paused"], 2, "{dropped}");
    assert_eq!(counts(&daemon.status()), (true, 2, 1));
    let events = dir.dump().events.len();
    drop(daemon); // SIGKILL

    let daemon = dir.start();
    assert_eq!(counts(&daemon.status()), (true, 2, 1), "after kill -9");
    assert!(daemon.log().contains("capture is paused"), "{}", daemon.log());
    let dropped = daemon.ingest(&json!({"app": "Code", "text": "recorded after a reboot?"}));
    assert_eq!(dropped["dropped_paused"], 1, "{dropped}");
    assert_eq!(dir.dump().events.len(), events, "an event was stored while paused");
    let mut daemon = daemon;
    assert!(daemon.terminate().success());

    let not_running = dir.daybook(&["status", "--json"]).assert_ok("status").json();
    assert_eq!(counts(&not_running), (true, 3, 1), "{not_running}");
    let text = dir.daybook(&["status"]).assert_ok("status").stdout;
    assert!(text.contains("capture: paused"), "{text}");

    let mut daemon = dir.start();
    assert_eq!(counts(&daemon.status()), (true, 3, 1), "after a clean stop");
    assert_eq!(daemon.post_json("/v1/resume", &json!({})).status, 200);
    let accepted = daemon.ingest(&json!({"app": "Code"}));
    assert_eq!(accepted["accepted"], 1, "{accepted}");
    assert!(daemon.terminate().success());
    let daemon = dir.start();
    assert_eq!(counts(&daemon.status()), (false, 3, 1), "resume survives too");
    poll("the event stored", || {
        (dir.dump().events.len() == events + 1).then_some(())
    });
}
