//! Lock: a second daemon on the same data directory exits non-zero at once
//! with a message naming the holder, and the first keeps serving.

mod common;

use common::{Daemon, Fixture, STARTUP, assert_clean, event, now_rfc3339};
use serde_json::json;

#[test]
fn a_second_daemon_exits_nonzero_naming_the_holder_while_the_first_serves() {
    let fx = Fixture::new("");
    let mut first = Daemon::start(&fx);
    first.post_ok(&json!(event("Code", &now_rfc3339(), "lock-0")));
    let addr = std::fs::read_to_string(fx.data.join("daybook.addr")).expect("address file");

    let mut second = Daemon::spawn_contender(&fx);
    let status = second.wait_exit(STARTUP);
    let log = second.log_text();
    assert!(!status.success(), "the second daemon exited {status}:\n{log}");
    assert_eq!(status.code(), Some(1), "{status}:\n{log}");
    assert!(
        log.contains("in use") && log.contains(&format!("pid {}", first.pid())),
        "the message does not name the holder (pid {}):\n{log}",
        first.pid()
    );
    assert!(
        log.contains(&fx.data.display().to_string()),
        "the message does not name the directory:\n{log}"
    );
    let addr_after = std::fs::read_to_string(fx.data.join("daybook.addr")).expect("address file");
    assert_eq!(addr_after, addr, "the second daemon touched the first's address file");
    assert_eq!(first.try_exit(), None, "the first daemon died");

    first.post_ok(&json!(event("Firefox", &now_rfc3339(), "lock-1")));
    assert_eq!(first.status()["events_total"], 2);
    first.stop();
    assert_clean(&fx, &["lock-0".into(), "lock-1".into()], &[]);
}
