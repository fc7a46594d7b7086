//! Bad input: every malformed request of the daemon issue gets its 4xx, a
//! JSON error (naming the item's index and field where there is one), and
//! leaves the database's logical content unchanged; the daemon keeps
//! serving.

mod common;

use common::{Daemon, Fixture, Response, assert_clean, event, http, now_rfc3339};
use serde_json::{Value, json};

/// One malformed request and what the daemon must answer.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    status: u16,
    /// `(index, field)` the error must name, when it is about one item.
    names: Option<(usize, &'static str)>,
    /// `Expect: 100-continue`, as curl sends it for large bodies.
    expect_continue: bool,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, names: Option<(usize, &'static str)>) -> Case {
    Case {
        name,
        body: body.into(),
        status: 400,
        names,
        expect_continue: false,
    }
}

fn json_case(name: &'static str, body: &Value, names: Option<(usize, &'static str)>) -> Case {
    case(name, serde_json::to_vec(body).expect("serializable"), names)
}

fn with(field: &str, value: Value) -> Value {
    let mut e = event("Code", &now_rfc3339(), "bad-never-stored");
    e[field] = value;
    e
}

fn cases() -> Vec<Case> {
    let future = (chrono::Local::now() + chrono::Duration::hours(25)).to_rfc3339();
    let mut cases = vec![
        case("empty body", "", None),
        case("malformed JSON", r#"{"app": "Code", "title": "unterminated"#, None),
        case("not JSON at all", "app=Code", None),
        case("trailing garbage", r#"{"app": "Code"} {"app": "Code"}"#, None),
        json_case("a number", &json!(42), None),
        json_case("an empty array", &json!([]), None),
        json_case("an array of strings", &json!(["Code"]), Some((0, ""))),
        json_case("app is a number", &with("app", json!(5)), Some((0, "app"))),
        json_case("title is a list", &with("title", json!(["x"])), Some((0, "title"))),
        json_case(
            "at is a number",
            &with("at", json!(1_800_000_000_000_i64)),
            Some((0, "at")),
        ),
        json_case("at is not RFC 3339", &with("at", json!("yesterday")), Some((0, "at"))),
        json_case(
            "at has no offset",
            &with("at", json!("2026-11-28T10:00:00")),
            Some((0, "at")),
        ),
        json_case(
            "missing app",
            &json!({"title": "no app", "source": "bad-never-stored"}),
            Some((0, "app")),
        ),
        json_case("blank app", &with("app", json!("   ")), Some((0, "app"))),
        json_case("app too long", &with("app", json!("a".repeat(257))), Some((0, "app"))),
        json_case(
            "title too long",
            &with("title", json!("t".repeat(4097))),
            Some((0, "title")),
        ),
        json_case("url too long", &with("url", json!("u".repeat(8193))), Some((0, "url"))),
        json_case(
            "text too long",
            &with("text", json!("x".repeat(65_537))),
            Some((0, "text")),
        ),
        json_case(
            "source too long",
            &with("source", json!("s".repeat(257))),
            Some((0, "source")),
        ),
        json_case(
            "more than a day in the future",
            &with("at", json!(future)),
            Some((0, "at")),
        ),
        json_case(
            "offset beyond 18 hours",
            &with("at", json!("2026-11-28T10:00:00+19:00")),
            Some((0, "offset")),
        ),
        case(
            "invalid UTF-8 in a string",
            [&br#"{"app": "Code", "title": "caf"#[..], &[0xe9, 0xff], &br#""}"#[..]].concat(),
            None,
        ),
        case(
            "invalid UTF-8 outside strings",
            [&b"[\xff"[..], &br#"{"app":"A"}]"#[..]].concat(),
            None,
        ),
    ];
    // More than 10,000 events, each of them valid.
    let many: Vec<Value> = (0..10_001)
        .map(|i| json!({"app": "Code", "source": format!("bad-many-{i}")}))
        .collect();
    cases.push(json_case("10,001 events", &Value::Array(many), None));
    // The last item of an otherwise valid array is invalid.
    let mut last_bad: Vec<Value> = (0..50)
        .map(|i| event("Code", &now_rfc3339(), &format!("bad-last-{i}")))
        .collect();
    last_bad.push(json!({"title": "the last one has no app", "source": "bad-last-x"}));
    cases.push(json_case(
        "invalid last item",
        &Value::Array(last_bad),
        Some((50, "app")),
    ));
    // A body over 4 MiB of valid events (fewer than 10,000, each field
    // within its limit): refused for its size alone.
    let big: Vec<Value> = (0..9_000)
        .map(|i| {
            let mut e = event("Code", &now_rfc3339(), &format!("bad-big-{i}"));
            e["text"] = json!("y".repeat(500));
            e
        })
        .collect();
    let big = serde_json::to_vec(&big).expect("serializable");
    assert!(big.len() > 4 * 1024 * 1024);
    cases.push(Case {
        name: "body over 4 MiB",
        body: big.clone(),
        status: 413,
        names: None,
        expect_continue: false,
    });
    cases.push(Case {
        name: "body over 4 MiB, Expect: 100-continue",
        body: big,
        status: 413,
        names: None,
        expect_continue: true,
    });
    cases
}

fn send(daemon: &Daemon, case: &Case) -> Response {
    let headers: &[(&str, &str)] = if case.expect_continue {
        &[("Expect", "100-continue")]
    } else {
        &[]
    };
    http(&daemon.addr, "POST", "/v1/events", headers, &case.body)
        .unwrap_or_else(|e| panic!("{}: no reply: {e}", case.name))
}

#[test]
fn every_malformed_request_gets_its_4xx_and_changes_nothing() {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    // Content to protect; one instant, so no timer has anything to do
    // while the bad requests arrive (no closed window, no cut).
    let at = now_rfc3339();
    let good: Vec<Value> = ["Code", "Firefox", "Terminal"]
        .iter()
        .enumerate()
        .map(|(i, app)| event(app, &at, &format!("good-{i}")))
        .collect();
    daemon.post_ok(&Value::Array(good));
    let before = fx.dump();
    let total = daemon.status()["events_total"].clone();
    assert_eq!(total, 3);

    let mut failures = Vec::new();
    for case in cases() {
        let reply = send(&daemon, &case);
        let body = reply.json();
        let mut problems = Vec::new();
        if reply.status != case.status {
            problems.push(format!("status {} (want {})", reply.status, case.status));
        }
        if body["error"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("no JSON error: {:?}", reply.body));
        }
        if let Some((index, field)) = case.names
            && (body["index"] != json!(index) || body["field"] != json!(field))
        {
            problems.push(format!(
                "names index {} field {} (want {index}, {field:?})",
                body["index"], body["field"]
            ));
        }
        if let Some(status) = daemon.try_exit() {
            panic!("{}: the daemon died ({status}):\n{}", case.name, daemon.log_text());
        }
        let now = fx.dump();
        if now != before {
            problems.push("the database changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {} — reply {}", case.name, problems.join("; "), reply.body));
        }
    }
    assert!(
        failures.is_empty(),
        "bad input handled wrongly:\n{}",
        failures.join("\n")
    );
    assert_eq!(daemon.status()["events_total"], total);

    // Still serving.
    daemon.post_ok(&json!(event("Mail", &now_rfc3339(), "good-after")));
    assert_eq!(daemon.status()["events_total"], 4);
    daemon.stop();
    let acked = ["good-0", "good-1", "good-2", "good-after"].map(String::from);
    let dump = fx.dump();
    assert!(
        dump.events
            .iter()
            .all(|e| !e.event.source.as_deref().unwrap_or("").starts_with("bad-")),
        "a rejected event was stored"
    );
    assert_clean(&fx, &acked, &[]);
}
