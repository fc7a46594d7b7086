//! Graceful shutdown: SIGTERM (or SIGINT) ends the open session with reason
//! `shutdown`, finishes its final reduction and day file, and exits 0
//! within five seconds; the next start has nothing to recover.

mod common;

use std::collections::BTreeMap;

use common::TestDir;
use daybook_core::{Dump, Phase, check_quiet};
use serde_json::json;

/// The dump with the day files on disk, as the oracle wants it.
fn dump_with_files(dir: &TestDir) -> Dump {
    let files: BTreeMap<String, String> = dir
        .day_files()
        .into_iter()
        .map(|(name, text)| {
            let day = name
                .strip_prefix("event-")
                .and_then(|n| n.strip_suffix(".md"))
                .expect("a day file name");
            (day.to_owned(), text)
        })
        .collect();
    Dump {
        day_files: Some(files),
        ..dir.dump()
    }
}

/// Runs a daemon with an open session, stops it with `signal`, and checks
/// everything a graceful stop promises.
fn stop_gracefully(signal: &str) {
    let dir = TestDir::new("");
    let mut daemon = dir.start();
    // No `at`: now, so nothing but the signal ends the session.
    daemon.ingest(&json!([
        {"app": "Code", "title": "main.rs", "text": "fn main() {}"},
        {"app": "Firefox", "title": "docs"},
        {"app": "Code", "title": "main.rs"}
    ]));
    assert!(!daemon.status()["open_session"].is_null());

    let status = daemon.signal(signal);
    assert!(status.success(), "SIG{signal}: exit {status}; log:\n{}", daemon.log());

    let dump = dump_with_files(&dir);
    assert_eq!(dump.sessions.len(), 1, "{:?}", dump.sessions);
    let session = &dump.sessions[0];
    assert!(
        matches!(session.phase, Phase::Reduced { .. }),
        "the final reduction did not finish: {:?}",
        session.phase
    );
    assert_eq!(session.phase.reason().map(|r| r.as_str()), Some("shutdown"));
    assert_eq!(
        session.phase.end(),
        dump.events.last().map(|e| e.attributed),
        "the end is the last event"
    );
    assert_eq!(dump.events.len(), 3);
    assert!(!dump.entries.is_empty(), "no entry was written");
    // Quiet: every event in a block, every block covered, the day file
    // equal to its entries.
    assert_eq!(check_quiet(&dump), [], "log:\n{}", daemon.log());

    let day = dump.entries[0].day().format("%Y-%m-%d").to_string();
    let file = std::fs::read_to_string(dir.days().join(format!("event-{day}.md"))).expect("the day file");
    assert!(file.contains("Firefox"), "{file}");
    let shown = dir.daybook(&["show", &day]).assert_ok("show").stdout;
    assert_eq!(shown, file);

    // The next start finds nothing to recover and changes nothing.
    let files = dir.day_files();
    let mut next = dir.start();
    let s = next.status();
    assert!(s["open_session"].is_null(), "{s}");
    assert_eq!(
        (s["pending_sessions"].clone(), s["failed_sessions"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(dump_with_files(&dir), dump, "the restart changed the database");
    assert!(next.terminate().success(), "log:\n{}", next.log());
    assert_eq!(dump_with_files(&dir), dump, "an idle stop changed the database");
    assert_eq!(dir.day_files(), files);
    let recover = dir.daybook(&["recover", "--json"]).assert_ok("recover").json();
    assert_eq!(recover["recovered"], json!([]));
}

#[test]
fn sigterm_ends_the_session_finishes_its_reduction_and_exits_0() {
    stop_gracefully("TERM");
}

#[test]
fn sigint_stops_the_same_way() {
    stop_gracefully("INT");
}
