//! Small findings: an error quotes at most 200 bytes of a bad input;
//! `daybook ingest` checks a whole file before it sends anything and
//! names the right line; read-only commands never create a data
//! directory or a database.

mod common;

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
