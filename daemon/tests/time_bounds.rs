//! SPEC §2's bounds on time: an event more than `future_tolerance_seconds`
//! after now, or before 1970, is refused naming it, with nothing of its
//! request stored; day names are `YYYY-MM-DD` only; `doctor` reports a
//! session a clock pushed into the future and `daybook repair` brings it
//! back without losing an event.

mod common;

use common::{FAST_TICK, TestDir};
use serde_json::json;

fn from_now(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

#[test]
fn events_from_the_future_or_before_1970_are_refused_naming_them() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    for (bad, what) in [
        (from_now(10 * 60), "ten minutes ahead"),
        ("1969-12-31T23:59:59+00:00".to_owned(), "before 1970"),
        ("0000-06-01T00:00:00+00:00".to_owned(), "year 0"),
    ] {
        let r = daemon.post_json("/v1/events", &json!([{"app": "Code"}, {"app": "Code", "at": bad}]));
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        let v = r.json();
        assert_eq!(
            (v["index"].clone(), v["field"].clone()),
            (json!(1), json!("at")),
            "{what}: {v}"
        );
    }
    assert!(dir.dump().events.is_empty(), "a refused request stored an event");
    // Within the tolerance: accepted.
    assert_eq!(
        daemon.ingest(&json!({"app": "Code", "at": from_now(30)}))["accepted"],
        1
    );

    for day in [
        "-0001-12-31",
        "+2026-01-10",
        "26-01-10",
        "2026-1-10",
        "0000-01-01",
        "1969-12-31",
    ] {
        let r = daemon.get(&format!("/v1/days/{day}"));
        assert_eq!(r.status, 400, "{day}: {}", r.body);
        assert!(r.body.contains(day), "{day}: the error names the input: {}", r.body);
        let out = dir.daybook(&["show", "--", day]);
        assert!(!out.ok(), "show {day}: {out:?}");
        assert!(out.stderr.contains(day), "show {day}: {}", out.stderr);
    }
    assert_eq!(daemon.get("/v1/days/2026-01-10").status, 200);
    assert_eq!(daemon.get("/v1/days/1970-01-01").status, 200);
}

#[test]
fn a_larger_tolerance_is_a_setting() {
    let dir = TestDir::new(&format!("{FAST_TICK}future_tolerance_seconds = 3600\n"));
    let daemon = dir.start();
    assert_eq!(
        daemon.ingest(&json!({"app": "Code", "at": from_now(10 * 60)}))["accepted"],
        1
    );
    let r = daemon.post_json("/v1/events", &json!({"app": "Code", "at": from_now(2 * 3600)}));
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn doctor_reports_a_future_session_and_repair_brings_it_back_losing_nothing() {
    // A daybook that let a clock two hours ahead through.
    let dir = TestDir::new(&format!("{FAST_TICK}future_tolerance_seconds = 86400\n"));
    let mut daemon = dir.start();
    daemon.ingest(&json!([
        {"at": "2026-01-10T12:00:00+01:00", "app": "Code"},
        {"at": "2026-01-10T12:01:00+01:00", "app": "Firefox"},
    ]));
    daemon.wait_quiet();
    daemon.ingest(&json!({"app": "Code", "at": from_now(2 * 3600), "title": "from a fast clock"}));
    daemon.ingest(&json!({"app": "Slack", "title": "pinned behind it"}));
    assert!(daemon.terminate().success());
    let before = dir.dump();

    std::fs::write(dir.config(), FAST_TICK).unwrap();
    let doctor = dir.daybook(&["doctor"]);
    assert_eq!(doctor.code, Some(1), "{doctor:?}");
    assert!(doctor.stdout.contains("daybook repair"), "{}", doctor.stdout);

    let daemon = dir.start();
    let refused = dir.daybook(&["repair"]);
    assert!(!refused.ok() && refused.stderr.contains("in use"), "{refused:?}");
    drop(daemon);
    let _ = dir.daybook(&["recover"]).assert_ok("recover after the kill");
    let before_dry = dir.dump();

    let dry = dir
        .daybook(&["repair", "--dry-run", "--json"])
        .assert_ok("repair --dry-run")
        .json();
    assert_eq!(dry["sessions"].as_array().map(Vec::len), Some(1), "{dry}");
    assert_eq!(dir.dump(), before_dry, "a dry run changed the database");

    let done = dir.daybook(&["repair", "--json"]).assert_ok("repair").json();
    assert_eq!(done["sessions"].as_array().map(Vec::len), Some(1), "{done}");
    dir.daybook(&["doctor"]).assert_ok("doctor after repair");
    let after = dir.dump();
    let events =
        |d: &daybook_core::Dump| -> Vec<daybook_core::Event> { d.events.iter().map(|e| e.event.clone()).collect() };
    assert_eq!(events(&after), events(&before), "repair lost or changed an event");
    let limit = chrono::Utc::now().timestamp_millis() + 60_000;
    assert!(
        after.events.iter().all(|e| e.attributed.0 <= limit),
        "{:?}",
        after.events
    );
    assert!(
        after
            .sessions
            .iter()
            .all(|s| s.phase.end().is_none_or(|t| t.0 <= limit))
    );
    assert!(
        after.entries.iter().all(|e| e.to.0 <= limit + 60_000),
        "{:?}",
        after.entries
    );

    // The floor is no longer pinned in the future.
    let daemon = dir.start();
    daemon.ingest(&json!({"app": "Code", "title": "now"}));
    let last = dir.dump().events.pop().unwrap();
    assert!((last.attributed.0 - last.event.at.0).abs() < 1000, "{last:?}");
}
