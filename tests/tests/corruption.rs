//! Corruption: a truncated or garbage database file makes startup fail with
//! a clear message naming the database, and leaves the file byte for byte
//! as it was.

mod common;

use common::{Daemon, Fixture, Prng, STARTUP, event, now_rfc3339};
use serde_json::Value;

/// A data directory whose database holds a few hundred events (many
/// pages), stopped cleanly so the database file holds everything.
fn populated() -> (Fixture, Vec<u8>) {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    let at = now_rfc3339();
    let batch: Vec<Value> = (0..400)
        .map(|i| {
            let mut e = event(["Code", "Firefox", "Mail"][i % 3], &at, &format!("corrupt-{i}"));
            e["text"] = Value::String(format!("typed paragraph {i} ").repeat(40));
            e
        })
        .collect();
    daemon.post_ok(&Value::Array(batch));
    daemon.stop();
    let bytes = std::fs::read(fx.db()).expect("reading the database");
    assert!(
        bytes.len() > 64 * 1024,
        "the database is too small to truncate meaningfully"
    );
    (fx, bytes)
}

/// Starts the daemon on the damaged file: it must exit non-zero, say what
/// is wrong with which database, and leave the file as it was.
fn assert_refused(fx: &Fixture, damaged: &[u8], what: &str) {
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(fx.data.join(format!("daybook.db{side}")));
    }
    std::fs::write(fx.db(), damaged).expect("writing the damaged database");
    let mut daemon = Daemon::spawn(fx, None);
    let status = daemon.wait_exit(STARTUP);
    let log = daemon.log_text();
    assert!(
        !status.success(),
        "{what}: daybook started on a damaged database:\n{log}"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "{what}: {status} (a crash is not a clear error):\n{log}"
    );
    assert!(
        log.contains("database") && log.contains(&fx.db().display().to_string()),
        "{what}: the message does not name the database:\n{log}"
    );
    assert!(!log.contains("panicked"), "{what}: daybook panicked:\n{log}");
    let after = std::fs::read(fx.db()).expect("reading the database");
    assert!(after == damaged, "{what}: startup changed the damaged file");
    assert!(!fx.data.join("daybook.addr").exists(), "{what}: it accepted events");
}

#[test]
fn a_truncated_database_is_refused_and_left_untouched() {
    let (fx, good) = populated();
    let page_aligned_half = good.len() / 2 / 4096 * 4096;
    assert_refused(&fx, &good[..page_aligned_half], "truncated to half");
    assert_refused(&fx, &good[..good.len() - 1000], "truncated by 1000 bytes");
    assert_refused(&fx, &good[..1000], "truncated inside the first page");

    // The intact file still works: the refusals were about the damage.
    std::fs::write(fx.db(), &good).expect("restoring");
    let mut daemon = Daemon::start(&fx);
    assert_eq!(daemon.status()["events_total"], 400);
    daemon.stop();
}

#[test]
fn a_garbage_database_is_refused_and_left_untouched() {
    let (fx, good) = populated();
    let mut rng = Prng::new(0x5eed);
    let garbage: Vec<u8> = (0..good.len()).map(|_| rng.next_u64() as u8).collect();
    assert_refused(&fx, &garbage, "random bytes");
    let mut text = b"this is not a database, it is a shopping list\n".repeat(100);
    text.truncate(4096);
    assert_refused(&fx, &text, "a text file");
    // A valid header over a body of garbage.
    let mut scrambled = good.clone();
    for b in &mut scrambled[4096..] {
        *b = rng.next_u64() as u8;
    }
    assert_refused(&fx, &scrambled, "valid header, garbage pages");
}
