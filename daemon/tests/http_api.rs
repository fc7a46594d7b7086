//! The HTTP API against the real daemon: ingest (one event or an array),
//! status, sessions and day files, pause/resume, the privacy filters, and
//! inputs at exactly each limit. Every bad input's 4xx is checked end to
//! end in `tests/tests/bad_input.rs`.

mod common;

use common::{FAST_TICK, TestDir, instant_with_offset, ms};
use serde_json::{Value, json};

/// A morning in the past: the one-second tick ends its session at once
/// (the gap since its last event is long over), so the store goes quiet.
/// Noon-ish at +01:00, so the local date is 2026-01-10 in any zone
/// within ±10 h of UTC.
const DAY: &str = "2026-01-10";

fn past(minute: u32, app: &str, title: &str) -> Value {
    json!({"at": format!("{DAY}T12:{minute:02}:00+01:00"), "app": app, "title": title, "source": "test"})
}

#[test]
fn one_event_or_an_array_is_committed_and_shows_up_everywhere() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    assert_eq!(daemon.status()["events_total"], 0);

    // The single event is an hour before the array, so the array's first
    // event always cuts a new session, whether or not a tick ran between
    // the two requests (the one-second tick would cut it anyway).
    let early = json!({"at": format!("{DAY}T11:00:00+01:00"), "app": "Terminal", "title": "make", "source": "test"});
    let one = daemon.ingest(&early);
    assert_eq!(one["accepted"], 1, "{one}");
    let many = daemon.ingest(&json!([past(1, "Firefox", "docs"), past(2, "Code", "lib.rs")]));
    assert_eq!(many["accepted"], 2, "{many}");

    let status = daemon.wait_quiet();
    assert_eq!(status["events_total"], 3, "{status}");
    assert_eq!(status["running"], true);

    // Acknowledged means committed: the events are in the database.
    let dump = dir.dump();
    let apps: Vec<&str> = dump.events.iter().map(|e| e.event.app.as_str()).collect();
    assert_eq!(apps, ["Terminal", "Firefox", "Code"]);
    assert_eq!(dump.events[0].event.at.0, ms("2026-01-10T11:00:00+01:00"));

    let r = daemon.get(&format!("/v1/sessions?day={DAY}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let sessions = r.json();
    let sessions = sessions.as_array().expect("an array of sessions");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["end_reason"], "idle_gap", "{sessions:?}");
    let s = &sessions[1];
    assert_eq!(s["status"], "reduced", "{s}");
    assert_eq!(
        instant_with_offset(s["start"].as_str().unwrap()),
        ms("2026-01-10T12:01:00+01:00")
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

    let bad = daemon.get("/v1/days/10-01-2026");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("10-01-2026") && !bad.body.contains("2026-11-28"),
        "{}",
        bad.body
    );
    assert_eq!(daemon.get("/v1/sessions?day=someday").status, 400);
    // Days as people name them.
    assert_eq!(daemon.get("/v1/sessions?day=yesterday").status, 200);
    let today = daemon.get("/v1/days/today");
    assert_eq!(today.status, 200, "{}", today.body);
    assert!(today.body.starts_with("# daybook — "), "{}", today.body);
    assert_eq!(daemon.get("/v1/days/-1").status, 200);
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

#[test]
fn the_limits_themselves_are_accepted() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    let edge = json!([
        {"app": "Code", "title": "t".repeat(4 * 1024), "text": "x".repeat(64 * 1024)},
        // Within `future_tolerance_seconds` (60) of now.
        {"app": "Code", "at": (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339()}
    ]);
    assert_eq!(daemon.ingest(&edge)["accepted"], 2);
    let max = json!(vec![json!({"app": "Code"}); 10_000]);
    assert_eq!(daemon.ingest(&max)["accepted"], 10_000);
    assert_eq!(daemon.status()["events_total"], 10_002);
}

#[test]
fn below_the_free_disk_floor_ingest_is_refused_with_507_and_nothing_is_stored() {
    // A floor no disk can meet (about 100 PiB), so the check trips here
    // as it would on a full disk.
    let dir = TestDir::new(&format!("{FAST_TICK}min_free_disk_mb = 100000000000\n"));
    let daemon = dir.start();
    let r = daemon.post_json("/v1/events", &json!([{"app": "Code"}, {"app": "Firefox"}]));
    assert_eq!(r.status, 507, "{}", r.body);
    assert!(r.body.contains("min_free_disk_mb"), "{}", r.body);
    assert_eq!(daemon.status()["events_total"], 0);
    assert!(dir.dump().events.is_empty());
    // Reads and pause still work: only what would grow the disk stops.
    assert_eq!(daemon.post_json("/v1/pause", &json!({})).status, 200);
}

#[test]
fn a_field_that_redaction_makes_too_long_is_refused_naming_it() {
    // Each `x` becomes `[redacted]`: a title at the 4 KB limit grows past
    // it once redacted, and the request is refused rather than stored cut.
    let dir = TestDir::new(&format!("{FAST_TICK}redact_patterns = [\"x\"]\n"));
    let daemon = dir.start();
    let title = "x".repeat(4 * 1024);
    let r = daemon.post_json("/v1/events", &json!([{"app": "Code"}, {"app": "Code", "title": title}]));
    assert_eq!(r.status, 400, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (v["index"].as_u64(), v["field"].as_str()),
        (Some(1), Some("title")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("once redacted"), "{v}");
    assert_eq!(daemon.status()["events_total"], 0, "nothing of the request was stored");
}

/// SPEC §2 over HTTP: the reply counts late events, and events older than
/// `max_lateness_days` refuse their request naming every one of them.
#[test]
fn the_reply_counts_late_events_and_too_old_ones_are_refused_by_index() {
    let dir = TestDir::new(&format!("{FAST_TICK}max_lateness_days = 30\n"));
    let daemon = dir.start();
    let now = daemon.ingest(&json!({"app": "Code", "at": from_now(0)}));
    assert_eq!(now["late"], 0, "{now}");
    let late = daemon.ingest(&json!([
        {"app": "Editor", "at": from_now(-3600)},
        {"app": "Code", "at": from_now(0)},
        {"app": "Editor", "at": from_now(-3 * 86_400)},
    ]));
    assert_eq!(
        (late["accepted"].as_u64(), late["late"].as_u64()),
        (Some(3), Some(2)),
        "{late}"
    );
    let before = daemon.status()["events_total"].clone();
    let refused = daemon.post_json(
        "/v1/events",
        &json!([
            {"app": "Code", "at": from_now(0)},
            {"app": "Old", "at": from_now(-31 * 86_400)},
            {"app": "Older", "at": from_now(-40 * 86_400)},
        ]),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    let body = refused.json();
    assert_eq!(body["refused_too_old"], 2, "{body}");
    assert_eq!(body["indices"], json!([1, 2]), "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_lateness_days"), "{body}");
    assert_eq!(
        daemon.status()["events_total"],
        before,
        "nothing of the request was stored"
    );
}

/// `seconds` from now, RFC 3339 in UTC.
fn from_now(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}
