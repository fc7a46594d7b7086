//! Small findings: an error quotes at most 200 bytes of a bad input;
//! `daybook ingest` checks a whole file before it sends anything and
//! names the right line, and sends a file of long lines whole (a batch is
//! cut by size as well as by count) or, when a later batch fails, says
//! what was already stored; read-only commands never create a data
//! directory or a database.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::fake_llm::{FakeLlm, response};
use common::{FAST_TICK, TestDir};
use serde_json::json;

#[test]
fn a_huge_bad_at_is_not_echoed_back() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    let huge = "9".repeat(3 << 20);
    let r = daemon.post_json("/v1/events", &json!({"app": "Code", "at": huge}));
    assert_eq!(r.status, 400);
    assert!(r.body.len() < 1024, "{} bytes of error", r.body.len());
    assert_eq!(r.json()["field"], "at", "{}", r.body);
    assert!(r.body.contains(&format!("{} bytes in all", huge.len())), "{}", r.body);
}

#[test]
fn ingest_sends_nothing_from_a_file_with_a_bad_line_and_names_it() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    // 1,500 good events with blank lines among them, then a bad one.
    let mut text = String::new();
    let mut line = 0;
    for i in 0..1500 {
        text.push_str(&format!("{}\n", json!({"app": "Code", "title": format!("t{i}")})));
        line += 1;
        if i % 100 == 0 {
            text.push('\n');
            line += 1;
        }
    }
    text.push_str("{\"title\": \"no app\"}\n");
    line += 1;
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, text).unwrap();
    let out = dir.daybook(&["ingest", file.to_str().unwrap()]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains(&format!("line {line}:")),
        "want line {line}: {}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert_eq!(daemon.status()["events_total"], 0);
    assert!(dir.dump().events.is_empty());
}

#[test]
fn read_only_commands_never_create_a_data_dir_or_database() {
    let dir = TestDir::new(FAST_TICK);
    for args in [
        &["show"][..],
        &["show", "2026-01-10"],
        &["status"],
        &["status", "--json"],
        &["sessions", "--all"],
        &["doctor"],
    ] {
        let out = dir.daybook(args);
        assert!(!out.ok(), "{args:?}: {out:?}");
        assert!(out.stderr.contains("no data directory"), "{args:?}: {}", out.stderr);
        assert!(!dir.data().exists(), "{args:?} created the data directory");
    }
    dir.daybook(&["config", "--show"]).assert_ok("config --show");
    assert!(!dir.data().exists(), "config --show created the data directory");

    std::fs::create_dir_all(dir.data()).unwrap();
    for args in [&["show"][..], &["sessions", "--all"], &["doctor"], &["status"]] {
        let out = dir.daybook(args);
        assert!(!out.ok() && out.stderr.contains("no database"), "{args:?}: {out:?}");
        assert!(!dir.db().exists(), "{args:?} created a database");
    }
}

#[test]
fn ingest_sends_a_file_of_long_lines_whole() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    // 1,000 small lines, then 1,000 of 5,000 bytes of text: about 5 MB,
    // more than one request may carry.
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("{}\n", json!({"app": "Code", "title": format!("t{i}")})));
    }
    let long = "x".repeat(5000);
    for _ in 0..1000 {
        text.push_str(&format!("{}\n", json!({"app": "Code", "text": long})));
    }
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, text).unwrap();
    let out = dir.daybook(&["ingest", file.to_str().unwrap()]);
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("2000 events accepted"), "{}", out.stdout);
    assert_eq!(daemon.status()["events_total"], 2000);
}

#[test]
fn ingest_says_what_was_stored_when_a_later_batch_cannot_be_sent() {
    let dir = TestDir::new(FAST_TICK);
    let _daemon = dir.start();
    // A server in the daemon's place that stores the first batch and
    // drops every later connection unanswered.
    let calls = AtomicUsize::new(0);
    let fake = FakeLlm::start(move |stream| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = stream.write_all(response(200, r#"{"accepted": 1000}"#).as_bytes());
        }
    });
    let addr = fake.base_url.trim_start_matches("http://").trim_end_matches("/v1");
    std::fs::write(dir.data().join("daybook.addr"), addr).unwrap();
    let text: String = (0..1500)
        .map(|i| format!("{}\n", json!({"app": "Code", "title": format!("t{i}")})))
        .collect();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, text).unwrap();
    let out = dir.daybook(&["ingest", file.to_str().unwrap()]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("the 1000 events before line 1001 were stored"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.seen().len(), 2);
}
