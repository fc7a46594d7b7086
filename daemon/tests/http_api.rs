//! The HTTP API against the real daemon: ingest (one event or an array),
//! status, sessions and day files, pause/resume, the privacy filters, and
//! every bad input, each a 4xx that leaves the database as it was.

mod common;

use common::{Daemon, FAST_TICK, TestDir, instant_with_offset, ms};
use daybook_core::Dump;
use serde_json::{Value, json};

/// A morning in the past: the one-second tick ends its session at once
/// (the gap since its last event is long over), so the store goes quiet.
/// Noon-ish at +01:00, so the local date is 2026-01-10 in any zone
/// within ±10 h of UTC.
const DAY: &str = "2026-01-10";

fn past(minute: u32, app: &str, title: &str) -> Value {
    json!({"at": format!("{DAY}T12:{minute:02}:00+01:00"), "app": app, "title": title, "source": "test"})
}

/// A daemon with one reduced session on [`DAY`] and nothing open.
fn quiet_daemon(config: &str) -> (TestDir, Daemon) {
    let dir = TestDir::new(config);
    let daemon = dir.start();
    daemon.ingest(&json!([
        past(0, "Code", "main.rs"),
        past(1, "Firefox", "docs"),
        past(2, "Code", "lib.rs")
    ]));
    daemon.wait_quiet();
    (dir, daemon)
}

#[test]
fn one_event_or_an_array_is_committed_and_shows_up_everywhere() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    assert_eq!(daemon.status()["events_total"], 0);

    let one = daemon.ingest(&past(0, "Code", "main.rs"));
    assert_eq!(one["accepted"], 1, "{one}");
    let many = daemon.ingest(&json!([past(1, "Firefox", "docs"), past(2, "Code", "lib.rs")]));
    assert_eq!(many["accepted"], 2, "{many}");

    let status = daemon.wait_quiet();
    assert_eq!(status["events_total"], 3, "{status}");
    assert_eq!(status["running"], true);

    // Acknowledged means committed: the events are in the database.
    let dump = dir.dump();
    let apps: Vec<&str> = dump.events.iter().map(|e| e.event.app.as_str()).collect();
    assert_eq!(apps, ["Code", "Firefox", "Code"]);
    assert_eq!(dump.events[0].event.at.0, ms("2026-01-10T12:00:00+01:00"));

    let r = daemon.get(&format!("/v1/sessions?day={DAY}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let sessions = r.json();
    let sessions = sessions.as_array().expect("an array of sessions");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let s = &sessions[0];
    assert_eq!(s["status"], "reduced", "{s}");
    assert_eq!(
        instant_with_offset(s["start"].as_str().unwrap()),
        ms("2026-01-10T12:00:00+01:00")
    );
    assert_eq!(
        instant_with_offset(s["end"].as_str().unwrap()),
        ms("2026-01-10T12:02:00+01:00")
    );
    let other_day = daemon.get("/v1/sessions?day=2026-01-12");
    assert_eq!(other_day.json(), json!([]));

    let md = daemon.get(&format!("/v1/days/{DAY}"));
    assert_eq!(md.status, 200, "{}", md.body);
    assert!(md.body.starts_with(&format!("# daybook — {DAY}")), "{}", md.body);
    assert!(md.body.contains("Code") && md.body.contains("Firefox"), "{}", md.body);
    let file = std::fs::read_to_string(dir.days().join(format!("event-{DAY}.md"))).expect("day file");
    assert_eq!(md.body, file, "the API and the day file disagree");

    assert_eq!(daemon.get("/v1/days/10-01-2026").status, 400);
    assert_eq!(daemon.get("/v1/sessions?day=yesterday").status, 400);
}

#[test]
fn pause_ends_the_session_drops_and_counts_events_and_resume_restores() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    // No `at`: now, so the session stays open until something ends it.
    daemon.ingest(&json!({"app": "Code"}));
    assert!(!daemon.status()["open_session"].is_null());

    let r = daemon.post_json("/v1/pause", &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let status = daemon.status();
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        status["open_session"].is_null(),
        "pausing must end the session: {status}"
    );
    let dump = dir.dump();
    assert_eq!(dump.sessions.len(), 1);
    assert_eq!(dump.sessions[0].phase.reason().map(|r| r.as_str()), Some("paused"));

    let before = dir.dump();
    let dropped = daemon.ingest(&json!([{"app": "Code"}, {"app": "Slack"}]));
    assert_eq!(dropped["accepted"], 0, "{dropped}");
    assert_eq!(dropped["dropped_paused"], 2, "{dropped}");
    let status = daemon.status();
    assert_eq!(status["dropped_paused"], 2, "{status}");
    assert_eq!(status["events_total"], 1, "{status}");
    assert_eq!(dir.dump(), before, "events sent while paused were stored");

    let r = daemon.post_json("/v1/resume", &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(daemon.status()["paused"], false);
    let resumed = daemon.ingest(&json!({"app": "Slack"}));
    assert_eq!(resumed["accepted"], 1, "{resumed}");
    let status = daemon.status();
    assert_eq!(status["events_total"], 2, "{status}");
    assert!(!status["open_session"].is_null(), "{status}");
    assert_eq!(dir.dump().sessions.len(), 2, "resume starts a new session");
}

#[test]
fn ignored_apps_and_titles_are_dropped_counted_and_never_stored() {
    let config =
        format!("{FAST_TICK}ignore_apps = [\"1Password\"]\nignore_title_patterns = [\"(?i)private browsing\"]\n");
    let dir = TestDir::new(&config);
    let daemon = dir.start();
    let r = daemon.ingest(&json!([
        past(0, "1password", "Vault: bank"),
        past(1, "Firefox", "Docs"),
        past(2, "Firefox", "Private Browsing — secret"),
        past(3, "Code", "main.rs")
    ]));
    assert_eq!(r["accepted"], 2, "{r}");
    let status = daemon.wait_quiet();
    assert_eq!(status["dropped_ignored"], 2, "{status}");
    assert_eq!(status["events_total"], 2, "{status}");

    let dump = dir.dump();
    let kept: Vec<(&str, Option<&str>)> = dump
        .events
        .iter()
        .map(|e| (e.event.app.as_str(), e.event.title.as_deref()))
        .collect();
    assert_eq!(kept, [("Firefox", Some("Docs")), ("Code", Some("main.rs"))]);
    // Nowhere in the database: not in blocks, entries or the day file.
    let text = format!("{dump:?}{:?}", dir.day_files());
    for secret in ["1password", "Vault", "bank", "Private", "secret"] {
        assert!(!text.contains(secret), "{secret:?} was stored: {text}");
    }
}

/// Posts `body` and checks the status and that nothing changed.
fn assert_rejected(daemon: &Daemon, dir: &TestDir, before: &Dump, case: &str, body: &[u8], status: u16) -> Value {
    let r = daemon.post_bytes("/v1/events", body);
    assert_eq!(r.status, status, "{case}: {}", r.body);
    assert_eq!(&dir.dump(), before, "{case}: the database changed");
    assert_eq!(daemon.status()["events_total"], before.events.len(), "{case}");
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

#[test]
fn every_bad_input_is_a_4xx_and_changes_nothing() {
    let (dir, daemon) = quiet_daemon(FAST_TICK);
    let before = dir.dump();
    assert_eq!(before.events.len(), 3);

    let future = (chrono::Utc::now() + chrono::Duration::hours(25)).to_rfc3339();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed JSON", br#"{"app": "Code""#.to_vec(), ""),
        ("not JSON at all", b"hello".to_vec(), ""),
        ("an empty array", b"[]".to_vec(), ""),
        ("a bare number", b"42".to_vec(), ""),
        ("app is a number", br#"{"app": 5}"#.to_vec(), "app"),
        ("title is a number", br#"{"app": "Code", "title": 7}"#.to_vec(), "title"),
        ("at is a number", br#"{"app": "Code", "at": 1767000000}"#.to_vec(), "at"),
        (
            "at is not RFC 3339",
            br#"{"app": "Code", "at": "yesterday"}"#.to_vec(),
            "at",
        ),
        ("an item is not an object", br#"["Code"]"#.to_vec(), ""),
        ("missing app", br#"{"title": "no app"}"#.to_vec(), "app"),
        ("blank app", br#"{"app": "  "}"#.to_vec(), "app"),
        (
            "title over 4 KiB",
            json!({"app": "Code", "title": "t".repeat(4 * 1024 + 1)})
                .to_string()
                .into_bytes(),
            "title",
        ),
        (
            "text over 64 KiB",
            json!({"app": "Code", "text": "x".repeat(64 * 1024 + 1)})
                .to_string()
                .into_bytes(),
            "text",
        ),
        (
            "more than a day in the future",
            json!({"app": "Code", "at": future}).to_string().into_bytes(),
            "at",
        ),
        ("invalid UTF-8", b"{\"app\": \"Co\xffde\"}".to_vec(), ""),
    ];
    for (case, body, field) in &cases {
        let err = assert_rejected(&daemon, &dir, &before, case, body, 400);
        assert!(
            err["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{case}: no error message: {err}"
        );
        if !field.is_empty() {
            assert_eq!(err["field"], *field, "{case}: {err}");
            assert_eq!(err["index"], 0, "{case}: {err}");
        }
    }

    // (`the_limits_themselves_are_accepted` shows the cases above fail on
    // the limit itself, not on something else.)

    // All or nothing: the last of many items is bad.
    let mut items: Vec<Value> = (0..5).map(|i| past(10 + i, "Code", "ok")).collect();
    items.push(json!({"app": "Code", "title": 42}));
    let err = assert_rejected(
        &daemon,
        &dir,
        &before,
        "last item bad",
        json!(items).to_string().as_bytes(),
        400,
    );
    assert_eq!(
        (err["index"].clone(), err["field"].clone()),
        (json!(5), json!("title")),
        "{err}"
    );

    // More than 10,000 events, each valid.
    let many = json!(vec![json!({"app": "Code"}); 10_001]).to_string();
    assert!(many.len() < 4 * 1024 * 1024);
    assert_rejected(&daemon, &dir, &before, "10,001 events", many.as_bytes(), 400);

    // A body over 4 MiB.
    let huge = json!({"app": "Code", "padding": "p".repeat(4 * 1024 * 1024)}).to_string();
    let err = assert_rejected(&daemon, &dir, &before, "body over 4 MiB", huge.as_bytes(), 413);
    assert!(
        err["error"].as_str().is_some_and(|e| !e.is_empty()),
        "a JSON error body: {err}"
    );

    // Still serving, and the good part of the rejected batch is fine alone.
    let ok = daemon.ingest(&json!(items[..5]));
    assert_eq!(ok["accepted"], 5, "{ok}");
}

#[test]
fn the_limits_themselves_are_accepted() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    let edge = json!([
        {"app": "Code", "title": "t".repeat(4 * 1024), "text": "x".repeat(64 * 1024)},
        {"app": "Code", "at": (chrono::Utc::now() + chrono::Duration::hours(23)).to_rfc3339()}
    ]);
    assert_eq!(daemon.ingest(&edge)["accepted"], 2);
    let max = json!(vec![json!({"app": "Code"}); 10_000]);
    assert_eq!(daemon.ingest(&max)["accepted"], 10_000);
    assert_eq!(daemon.status()["events_total"], 10_002);
}
