//! The command line's contract: `--json` shapes, `show`, `ingest`,
//! `doctor`, the lock that keeps writers and a second daemon out, and
//! config errors at startup.

mod common;

use std::collections::BTreeSet;

use common::{FAST_TICK, TestDir, instant_with_offset, ms, write_openchronicle};
use serde_json::{Value, json};

const DAY: &str = "2026-01-10";

fn past(minute: u32, app: &str) -> Value {
    json!({"at": format!("{DAY}T12:{minute:02}:00+01:00"), "app": app, "title": format!("{app} window")})
}

#[test]
fn status_json_running_and_not_running() {
    let dir = TestDir::new(FAST_TICK);
    // A read-only command never creates a data directory (see
    // read_only_commands.rs).
    let fresh = dir.daybook(&["status", "--json"]);
    assert!(!fresh.ok() && fresh.stderr.contains("no data directory"), "{fresh:?}");

    let mut daemon = dir.start();
    daemon.ingest(&json!([{"app": "Code"}, {"app": "Firefox"}]));
    let s = dir
        .daybook(&["status", "--json"])
        .assert_ok("status while running")
        .json();
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(s["paused"], false, "{s}");
    assert_eq!(s["events_total"], 2, "{s}");
    let open_id = s["open_session"]["id"].as_str().expect("an open session id").to_owned();
    assert_eq!(dir.dump().sessions[0].id.0, open_id);
    instant_with_offset(s["open_session"]["start"].as_str().expect("start"));
    for key in [
        "dropped_paused",
        "dropped_ignored",
        "pending_sessions",
        "failed_sessions",
    ] {
        assert!(s[key].is_u64(), "{key} missing: {s}");
    }

    assert!(daemon.terminate().success());
    let s = dir.daybook(&["status", "--json"]).assert_ok("status after stop").json();
    assert_eq!(s["running"], false, "{s}");
    assert_eq!(s["events_total"], 2, "{s}");
    assert!(s["open_session"].is_null(), "{s}");
}

#[test]
fn sessions_json_has_the_contract_shape() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    daemon.ingest(&json!([past(0, "Code"), past(3, "Firefox")]));
    daemon.wait_quiet();
    daemon.ingest(&json!({"app": "Code"})); // now: stays open

    let out = dir.daybook(&["sessions", "--all", "--json"]);
    let rows = out.assert_ok("sessions --all --json").json();
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let keys: BTreeSet<&str> = ["id", "start", "end", "status", "end_reason", "retry_count"].into();
    for row in rows {
        let have: BTreeSet<&str> = row.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(have, keys, "{row}");
        assert!(row["id"].is_string() && row["retry_count"] == 0, "{row}");
        instant_with_offset(row["start"].as_str().expect("start is a string"));
    }
    let (done, open) = (&rows[0], &rows[1]);
    assert_eq!(done["status"], "reduced", "{done}");
    assert_eq!(
        instant_with_offset(done["start"].as_str().unwrap()),
        ms("2026-01-10T12:00:00+01:00")
    );
    assert_eq!(
        instant_with_offset(done["end"].as_str().unwrap()),
        ms("2026-01-10T12:03:00+01:00")
    );
    assert!(
        ["idle_gap", "timeout"].contains(&done["end_reason"].as_str().unwrap_or("")),
        "{done}"
    );
    assert_eq!(open["status"], "active", "{open}");
    assert!(open["end"].is_null() && open["end_reason"].is_null(), "{open}");

    let day = dir
        .daybook(&["sessions", "--day", DAY, "--json"])
        .assert_ok("sessions --day")
        .json();
    assert_eq!(day, json!([done]));
}

#[test]
fn show_prints_the_day_file() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    daemon.ingest(&json!([past(0, "Code"), past(1, "Firefox")]));
    daemon.wait_quiet();
    let file = std::fs::read_to_string(dir.days().join(format!("event-{DAY}.md"))).expect("day file");
    assert!(file.contains("Code") && file.contains("Firefox"), "{file}");
    let out = dir.daybook(&["show", DAY]);
    assert_eq!(out.assert_ok("show").stdout, file);

    // One section per session, with its length and its apps by time.
    assert_eq!(file.lines().filter(|l| l.starts_with("## ")).count(), 1, "{file}");
    assert!(file.contains(" <!-- daybook day file, format 2 -->\n"), "{file}");

    let empty = dir.daybook(&["show", "2026-01-11"]);
    assert_eq!(
        empty.assert_ok("show an empty day").stdout,
        "# daybook — 2026-01-11\n\nNothing recorded on this day: no event was captured.\n"
    );
    let none = dir.daybook(&["sessions", "--day", "2026-01-11"]);
    assert_eq!(
        none.assert_ok("sessions of an empty day").stdout,
        "no sessions on 2026-01-11 (no event was captured that day)\n"
    );
    let listed = dir.daybook(&["sessions", "--day", DAY]).assert_ok("sessions").stdout;
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.starts_with(&format!("{DAY} 12:00–12:01 UTC+01:00 · 1 min · reduced (")),
        "one offset, labelled, for both times: {listed}"
    );
    // Days as people type them.
    for spec in ["today", "yesterday", "-1", "3d"] {
        dir.daybook(&["show", spec]).assert_ok(spec);
        dir.daybook(&["sessions", "--day", spec]).assert_ok(spec);
        dir.daybook(&["summary", "--day", spec]).assert_ok(spec);
    }
    for wrong in ["11/01/2026", "2026-13-01", "tomorrow"] {
        for args in [&["show", wrong][..], &["summary", "--day", wrong]] {
            let bad = dir.daybook(args);
            assert!(!bad.ok() && bad.stderr.contains(wrong), "{bad:?}");
            assert!(!bad.stderr.contains("2026-11-28"), "{bad:?}");
        }
    }
}

#[test]
fn ingest_sends_json_lines_to_the_running_daemon() {
    let dir = TestDir::new(FAST_TICK);
    let file = dir.path().join("events.jsonl");

    std::fs::write(&file, format!("{}\n{}\n", past(0, "Code"), past(1, "Code"))).unwrap();
    let path = file.to_str().unwrap();
    let none = dir.daybook(&["ingest", path]);
    assert!(!none.ok(), "ingest without a daemon succeeded: {none:?}");
    assert!(none.stderr.contains("no daybook daemon"), "{}", none.stderr);

    let daemon = dir.start();
    let lines = [
        past(0, "Code"),
        past(1, "Firefox"),
        json!({"app": "Slack", "text": "hello"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n\n")).collect();
    std::fs::write(&file, text).unwrap();
    let out = dir.daybook(&["ingest", path]).assert_ok("ingest");
    assert!(out.stdout.contains("3 events accepted"), "{}", out.stdout);
    assert_eq!(daemon.status()["events_total"], 3);
    let apps: Vec<String> = dir.dump().events.into_iter().map(|e| e.event.app).collect();
    assert_eq!(apps, ["Code", "Firefox", "Slack"]);

    // A bad line names its line and sends nothing of the batch.
    let before = dir.dump();
    std::fs::write(
        &file,
        format!("{}\n{{\"title\": \"no app\"}}\n", json!({"app": "Code"})),
    )
    .unwrap();
    let bad = dir.daybook(&["ingest", path]);
    assert!(!bad.ok(), "{bad:?}");
    assert!(bad.stderr.contains("line 2"), "{}", bad.stderr);
    std::fs::write(&file, format!("{}\nnot json\n", json!({"app": "Code"}))).unwrap();
    let bad = dir.daybook(&["ingest", path]);
    assert!(!bad.ok() && bad.stderr.contains("line 2"), "{bad:?}");
    assert_eq!(dir.dump(), before);
}

#[test]
fn doctor_passes_a_good_database_and_fails_a_tampered_day_file() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    daemon.ingest(&json!([past(0, "Code"), past(1, "Firefox")]));
    daemon.wait_quiet();
    drop(daemon);

    let good = dir.daybook(&["doctor", "--json"]);
    let report = good.assert_ok("doctor on a good database").json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["integrity"], json!(["ok"]), "{report}");
    assert_eq!(report["violations"], json!([]), "{report}");

    let file = dir.days().join(format!("event-{DAY}.md"));
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\nedited by hand\n");
    std::fs::write(&file, text).unwrap();
    let bad = dir.daybook(&["doctor", "--json"]);
    assert_eq!(bad.code, Some(1), "{bad:?}");
    let report = bad.json();
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["violations"].to_string().contains(DAY), "{report}");
}

#[test]
fn writing_commands_refuse_while_a_daemon_holds_the_lock() {
    let dir = TestDir::new(FAST_TICK);
    let oc = dir.path().join("index.db");
    write_openchronicle(&oc, &[("oc-1", "2026-01-09T09:00:00+01:00", None, "active")], &[]);
    let daemon = dir.start();
    daemon.ingest(&json!({"app": "Code"}));
    let before = dir.dump();
    let pid = daemon.pid().to_string();
    for args in [
        vec!["recover"],
        vec!["recover", "--json"],
        vec!["reduce-pending"],
        vec!["import", "openchronicle", oc.to_str().unwrap()],
    ] {
        let out = dir.daybook(&args);
        assert!(!out.ok(), "{args:?} ran beside a daemon: {out:?}");
        assert!(
            out.stderr.contains("in use by another daybook") && out.stderr.contains(&pid),
            "{args:?}: the refusal should name the holder pid {pid}: {}",
            out.stderr
        );
    }
    assert_eq!(dir.dump(), before, "a refused command changed the database");
    assert_eq!(daemon.status()["events_total"], 1);
}

#[test]
fn a_second_run_exits_at_once_naming_the_holder() {
    let dir = TestDir::new(FAST_TICK);
    let first = dir.start();
    let addr = std::fs::read_to_string(dir.data().join("daybook.addr")).unwrap();

    let second = dir.daybook(&["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"]);
    assert_eq!(second.code, Some(1), "the second daemon: {second:?}");
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid())),
        "the second daemon should name the holder (pid {}): {}",
        first.pid(),
        second.stderr
    );
    assert!(
        second.stderr.contains(&dir.data().display().to_string()),
        "the message should name the data directory: {}",
        second.stderr
    );

    // The first one keeps serving, at the address it wrote.
    assert_eq!(std::fs::read_to_string(dir.data().join("daybook.addr")).unwrap(), addr);
    assert_eq!(first.ingest(&json!({"app": "Code"}))["accepted"], 1);
    assert_eq!(first.status()["events_total"], 1);
}

#[test]
fn config_errors_stop_startup_and_name_the_key() {
    for (config, key) in [
        ("gap_minuts = 5\n", "gap_minuts"),
        ("gap_minutes = \"soon\"\n", "gap_minutes"),
        ("tick_seconds = -1\n", "tick_seconds"),
        ("ignore_title_patterns = [\"(\"]\n", "ignore_title_patterns"),
        ("daily_safety_net = \"25:00\"\n", "daily_safety_net"),
        ("[summarizer]\ncomand = [\"x\"]\n", "comand"),
    ] {
        let dir = TestDir::new(config);
        let out = dir.daybook(&["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"]);
        assert!(!out.ok(), "{config:?} started a daemon: {out:?}");
        assert!(
            out.stderr.contains(key),
            "{config:?}: the error should name {key}: {}",
            out.stderr
        );
        assert!(
            !dir.data().join("daybook.addr").exists(),
            "{config:?}: it accepted events"
        );
    }
}

#[test]
fn a_damaged_database_stops_startup_and_is_left_untouched() {
    let dir = TestDir::new(FAST_TICK);
    let mut daemon = dir.start();
    let events: Vec<Value> = (0..200)
        .map(|i| json!({"app": "Code", "title": format!("window {i}"), "text": "typed ".repeat(40)}))
        .collect();
    daemon.ingest(&json!(events));
    assert!(daemon.terminate().success());
    drop(daemon);
    std::fs::remove_file(dir.data().join("daybook.addr")).unwrap();
    let good = std::fs::read(dir.db()).unwrap();
    assert!(
        good.len() > 8 * 4096,
        "the database is too small to damage meaningfully"
    );

    // A valid header over pages of garbage.
    let scrambled = scrambled_pages(&good);
    for (case, bytes) in [
        ("garbage", b"this is not a database ".repeat(500)),
        ("cut in half", good[..good.len() / 2].to_vec()),
        ("cut inside its last page", good[..good.len() - 100].to_vec()),
        ("valid header, garbage pages", scrambled),
    ] {
        std::fs::write(dir.db(), &bytes).unwrap();
        for side in ["daybook.db-wal", "daybook.db-shm"] {
            let _ = std::fs::remove_file(dir.data().join(side));
        }
        let out = dir.daybook(&["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"]);
        assert_eq!(
            out.code,
            Some(1),
            "{case}: the daemon must refuse a damaged database: {out:?}"
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{case}: a clear error, not a panic: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("daybook.db"),
            "{case}: the error should name the database file: {}",
            out.stderr
        );
        assert!(
            std::fs::read(dir.db()).unwrap() == bytes,
            "{case}: the damaged file was modified"
        );
        assert!(!dir.data().join("daybook.addr").exists(), "{case}: it accepted events");
    }
}

/// `bytes` with every byte after the header page replaced by a
/// deterministic scramble: the same size and header, so only the full page
/// check can tell.
fn scrambled_pages(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (i, b) in out.iter_mut().enumerate().skip(4096) {
        *b = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()[0];
    }
    out
}

/// The daemon's log line when it skips the full page check.
const SKIPPED: &str = "full page check skipped";
/// The daemon's log line when it reads every page.
const CHECKED: &str = "checking every page";

#[test]
fn after_a_kill_an_untouched_file_skips_the_page_check_and_a_damaged_one_is_refused() {
    let dir = TestDir::new(FAST_TICK);
    let mut daemon = dir.start();
    assert!(daemon.log().contains(CHECKED), "a new file is checked in full");
    // About 6 MiB of events: more than the WAL holds before SQLite
    // checkpoints it into the database file, so the file changes while the
    // daemon runs and the record must follow it.
    for batch in 0..6 {
        let events: Vec<Value> = (0..250)
            .map(|i| json!({"app": "Code", "title": format!("window {batch}-{i}"), "text": "typed ".repeat(700)}))
            .collect();
        assert_eq!(daemon.ingest(&json!(events))["accepted"], 250);
    }
    // A request after the last ingest: its answer comes after the engine
    // loop's turn that re-recorded the file, so the kill cannot land
    // between a checkpoint and its record.
    daemon.status();
    let before_kill = std::fs::metadata(dir.db()).unwrap().len();
    assert!(
        before_kill > 4 << 20,
        "no checkpoint reached the file ({before_kill} bytes)"
    );
    assert!(!daemon.signal("KILL").success());
    drop(daemon);

    let mut daemon = dir.start();
    assert!(
        daemon.log().contains(SKIPPED),
        "a file daybook left at a kill should not be read in full; log:\n{}",
        daemon.log()
    );
    assert_eq!(daemon.status()["events_total"], 1500, "nothing acknowledged is lost");
    assert!(!daemon.signal("KILL").success());
    drop(daemon);
    std::fs::remove_file(dir.data().join("daybook.addr")).unwrap();

    let damaged = scrambled_pages(&std::fs::read(dir.db()).unwrap());
    std::fs::write(dir.db(), &damaged).unwrap();
    let out = dir.daybook(&["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"]);
    assert_eq!(
        out.code,
        Some(1),
        "a file damaged after a kill must be refused: {out:?}"
    );
    assert!(
        out.stderr.contains("daybook.db"),
        "the error should name the file: {}",
        out.stderr
    );
    assert!(
        std::fs::read(dir.db()).unwrap() == damaged,
        "the damaged file was modified"
    );
    assert!(!dir.data().join("daybook.addr").exists(), "it accepted events");
}

#[test]
fn a_clean_stop_vouches_for_the_file_and_a_stop_on_an_error_does_not() {
    let dir = TestDir::new(FAST_TICK);
    let mut daemon = dir.start();
    assert!(daemon.log().contains(CHECKED), "a new file is checked in full");
    assert_eq!(daemon.ingest(&json!({"app": "Code"}))["accepted"], 1);
    assert!(daemon.terminate().success());
    drop(daemon);

    // The database opens (vouched for), then the address is taken: the
    // daemon stops on an error after it had recorded the file.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = dir.daybook(&["run", "--listen", &addr, "--activitywatch-listen", "off"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(SKIPPED),
        "a clean stop vouches for the file: {}",
        out.stderr
    );
    drop(taken);

    let mut daemon = dir.start();
    assert!(
        daemon.log().contains(CHECKED),
        "after a stop on an error the file is checked in full; log:\n{}",
        daemon.log()
    );
    assert_eq!(daemon.status()["events_total"], 1);
    assert!(daemon.terminate().success());
}
