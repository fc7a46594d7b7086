//! Search and summary against the real daemon: `GET /v1/search` and
//! `GET /v1/summary` answer exactly what `daybook search --json` and
//! `daybook summary --json` answer beside it, and input that is FTS5
//! syntax or no time at all is a 400 naming it, never a 500.

mod common;

use common::{FAST_TICK, TestDir};
use serde_json::{Value, json};

const DAY: &str = "2026-01-10";

fn at(minute: u32, app: &str, title: &str, text: Option<&str>) -> Value {
    json!({"at": format!("{DAY}T12:{minute:02}:00+01:00"), "app": app, "title": title, "text": text})
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn search_and_summary_answer_over_http_as_on_the_command_line() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    let events = json!([
        at(0, "Code", "main.rs", Some("tokio::spawn(worker)")),
        at(1, "Firefox", "Tokio tutorial", None),
        at(2, "Terminal", "cargo test", Some("cargo test -p daybook")),
        at(3, "Code", "store.rs", Some("an fts5 index")),
    ]);
    assert_eq!(daemon.ingest(&events)["accepted"], 4);
    daemon.wait_quiet();

    for (query, cli) in [
        ("q=tokio", vec!["search", "tokio"]),
        ("q=tok*&app=code", vec!["search", "tok*", "--app", "code"]),
        (
            "q=%22fts5%20index%22&since=2026-01-10",
            vec!["search", "\"fts5 index\"", "--since", "2026-01-10"],
        ),
        (
            "q=tokio&limit=1&offset=1",
            vec!["search", "tokio", "--limit", "1", "--offset", "1"],
        ),
    ] {
        let r = daemon.get(&format!("/v1/search?{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        let mut args = cli.clone();
        args.push("--json");
        let ran = dir.daybook(&args).assert_ok(query);
        assert_eq!(r.json(), ran.json(), "{query}");
    }
    let all = daemon.get("/v1/search?q=tokio").json();
    let hits = all["results"].as_array().unwrap();
    // Two events and the entry that reduced them, newest first; at one
    // instant the event before the entry.
    let kinds: Vec<&str> = hits.iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["event", "event", "entry"], "{all}");
    assert_eq!(hits[0]["app"], "Firefox", "newest first");
    assert_eq!(hits[2]["entry"]["day"], DAY);
    assert_eq!(hits[0]["entry"], hits[2]["entry"], "the covering entry");
    assert_eq!(hits[0]["snippet"], "**Tokio** tutorial");
    assert_eq!(
        hits[0]["time"], "2026-01-10T12:01:00.000+01:00",
        "the event's own offset"
    );
    assert!(hits[1]["snippet"].as_str().unwrap().contains("**tokio**"));
    let first_page = daemon.get("/v1/search?q=tokio&limit=1").json();
    assert_eq!(first_page["next_offset"], 1);
    assert_eq!(first_page["results"][0], hits[0]);

    let summary = daemon.get(&format!("/v1/summary?day={DAY}"));
    assert_eq!(summary.status, 200, "{}", summary.body);
    let cli = dir.daybook(&["summary", "--day", DAY, "--json"]).assert_ok("summary");
    assert_eq!(summary.json(), cli.json());
    let summary = summary.json();
    let apps: Vec<&str> = summary["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(apps.len(), 3, "{apps:?}");
    assert!(apps.contains(&"Code") && apps.contains(&"Firefox"), "{apps:?}");
    // `top` beside the day's fields (read into one set of parameters).
    let top = daemon.get(&format!("/v1/summary?top=1&day={DAY}")).json();
    assert_eq!(top["apps"][0], summary["apps"][0], "{top}");
    assert_eq!(top["apps"].as_array().unwrap().len(), 1, "{top}");
    assert_eq!(top["not_listed"]["apps"], 2, "{top}");
}

#[test]
fn input_that_is_no_query_or_no_time_is_a_400_naming_it() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    assert_eq!(
        daemon.ingest(&json!([at(0, "Code", "a OR b", Some("NEAR( x"))]))["accepted"],
        1
    );
    // FTS5 syntax in a query is text to search for: 200, never 500.
    for q in [
        "NEAR(",
        "a OR",
        "\"unclosed",
        "title:x",
        "^x -y",
        "((( x",
        "AND",
        "x*y*",
        "it's \"a",
    ] {
        let r = daemon.get(&format!("/v1/search?q={}", encode(q)));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
    }
    let r = daemon.get(&format!("/v1/search?q={}", encode("NEAR(")));
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 1, "{}", r.body);
    for (path, named) in [
        ("/v1/search?q=***", "\\\"***\\\""),
        ("/v1/search?q=%20", "no word"),
        ("/v1/search?q=(((", "((("),
        ("/v1/search?q=x&since=soon", "soon"),
        ("/v1/search?q=x&until=2026-13-01", "2026-13-01"),
        ("/v1/search?q=x&limit=many", "limit"),
        ("/v1/search", "q"),
        ("/v1/summary?day=tomorrowish", "tomorrowish"),
        ("/v1/summary?day=2026-01-10&since=today", "not both"),
        ("/v1/summary?top=few", "top"),
    ] {
        let r = daemon.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains(named), "{path}: {}", r.body);
    }
    let cli = dir.daybook(&["search", "***"]);
    assert!(!cli.ok() && cli.stderr.contains("***"), "{cli:?}");
}
