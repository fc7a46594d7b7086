//! Sleep: a daemon stopped (SIGSTOP) for longer than `gap_minutes` and
//! continued must, on the next event, end the old session at its last
//! event and open a new one. The tick is set to an hour so that only the
//! cut check *before attributing the event* can do it (SPEC §4): a daemon
//! that cut only on ticks would attribute the event to the old session.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, Fixture, assert_clean, event, millis, now_rfc3339, poll, send_signal};
use serde_json::{Value, json};

const CONFIG: &str = r#"
gap_minutes = "2s"
tick_seconds = "1h"
"#;

/// The process state letter from /proc (`T` = stopped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

#[test]
fn an_event_after_a_stop_longer_than_the_gap_opens_a_new_session() {
    let fx = Fixture::new(CONFIG);
    let mut daemon = Daemon::start(&fx);
    // Both events in one request, half a second apart in their own time:
    // two requests could be more than the 2 s gap apart on a busy machine
    // and cut the session before the stop.
    let first = chrono::Local::now();
    let at = |t: chrono::DateTime<chrono::Local>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let last_at = at(first + chrono::Duration::milliseconds(500));
    daemon.post_ok(&json!([
        event("Code", &at(first), "sleep-0"),
        event("Firefox", &last_at, "sleep-1")
    ]));
    let old_id = daemon.status()["open_session"]["id"].clone();
    assert!(old_id.is_string(), "no open session");

    let pid = daemon.pid();
    send_signal(pid, "STOP");
    poll(Duration::from_secs(5), "the daemon to be stopped", || {
        (proc_state(pid) == Some('T')).then_some(())
    });
    // Stopped for longer than the gap, measured from the last event.
    let stopped = Instant::now();
    let gap = Duration::from_millis(3500);
    while millis(&now_rfc3339()) - millis(&last_at) <= gap.as_millis() as i64 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(proc_state(pid), Some('T'), "the daemon woke up early");
    send_signal(pid, "CONT");
    eprintln!("stopped for {:?}", stopped.elapsed());

    let wake_at = now_rfc3339();
    daemon.post_ok(&json!([event("Terminal", &wake_at, "sleep-2")]));

    let sessions = poll(Duration::from_secs(20), "the old session to be reduced", || {
        let sessions = fx.sessions();
        sessions
            .iter()
            .any(|s| s["id"] == old_id && s["status"] == "reduced")
            .then_some(sessions)
    });
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    let old = sessions.iter().find(|s| s["id"] == old_id).expect("old session");
    let new = sessions.iter().find(|s| s["id"] != old_id).expect("new session");
    assert_eq!(old["end_reason"], "idle_gap", "{old}");
    assert_eq!(
        millis(old["end"].as_str().expect("an end")),
        millis(&last_at),
        "the old session must end at its last event, not at the wake-up: {old}"
    );
    assert_eq!(new["status"], "active", "{new}");
    assert_eq!(new["end"], Value::Null, "{new}");
    assert_eq!(
        millis(new["start"].as_str().expect("a start")),
        millis(&wake_at),
        "{new}"
    );
    assert_eq!(daemon.status()["open_session"]["id"], new["id"]);

    // The new event is the new session's, not the old one's.
    let dump = fx.dump();
    let owner = |source: &str| {
        dump.events
            .iter()
            .find(|e| e.event.source.as_deref() == Some(source))
            .map(|e| e.session_id.0.clone())
    };
    assert_eq!(owner("sleep-1").as_deref(), old_id.as_str());
    assert_eq!(owner("sleep-2").as_deref(), new["id"].as_str());

    daemon.stop();
    let acked: Vec<String> = (0..3).map(|i| format!("sleep-{i}")).collect();
    assert_clean(&fx, &acked, &[]);
}
