//! Opening the database: migrations from nothing, reopening, and refusing
//! files daybook must not touch (a newer schema, garbage, a truncated copy)
//! with a clear error while leaving them byte for byte as they were.

use std::path::Path;

use daybook::{Error, SqliteStore};
use daybook_core::{Event, IngestStep, Session, SessionId, Store, Timestamp, UtcOffset};

/// Migrations this build ships. A new migration gets a test that opens a
/// database of the previous version (in `daemon/src/schema.rs`, which can
/// run the old migrations alone).
const MIGRATIONS: i64 = daybook::SCHEMA_VERSION;

const TABLES: [&str; 13] = [
    "aw_buckets",
    "aw_events",
    "aw_pending",
    "blocks",
    "coverage",
    "daemon_state",
    "day_files",
    "entries",
    "events",
    "late_pending",
    "loose_blocks",
    "sessions",
    "stale_days",
];

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

/// The tables, the search indexes and their FTS5 shadow tables aside.
fn tables(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%\\_fts%' ESCAPE '\\' ORDER BY name")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

fn assert_migrated(path: &Path) {
    assert_eq!(user_version(path), MIGRATIONS);
    assert_eq!(tables(path), TABLES);
    let conn = rusqlite::Connection::open(path).expect("open");
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(indexes, ["entries_fts", "events_fts"], "the search indexes");
}

/// A daybook database with a few hundred events in it, closed (so
/// everything is checkpointed into the main file).
fn real_database(path: &Path) {
    let mut store = SqliteStore::open(path).expect("open");
    let id = SessionId("s-1".into());
    let t0 = Timestamp(1_780_000_000_000);
    let event = |i: i64| Event {
        title: Some(format!("window {i}")),
        text: Some("typed text ".repeat(20)),
        ..Event::new(Timestamp(t0.0 + i * 1000), "Code")
    };
    let mut steps = vec![IngestStep::Start {
        session: Session::active(id.clone(), t0, UtcOffset(3600)),
        first: event(0),
    }];
    for i in 1..300 {
        steps.push(IngestStep::Append {
            id: id.clone(),
            attributed: Timestamp(t0.0 + i * 1000),
            event: event(i),
        });
    }
    store.ingest(&steps).expect("ingest");
    assert_eq!(store.dump().expect("dump").events.len(), 300);
}

/// Opens `path`, expects a refusal, and checks the file is unchanged.
fn assert_refused_untouched(path: &Path) -> Error {
    let before = std::fs::read(path).expect("read before");
    let err = SqliteStore::open(path).expect_err("a file daybook must refuse was opened");
    let after = std::fs::read(path).expect("read after");
    assert!(
        before == after,
        "the refused file was modified ({} → {} bytes)",
        before.len(),
        after.len()
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "the error does not name the file: {err}"
    );
    err
}

#[test]
fn an_empty_file_is_migrated_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daybook.db");
    std::fs::write(&path, b"").unwrap();
    drop(SqliteStore::open(&path).expect("open an empty file"));
    assert_migrated(&path);
}

#[test]
fn a_missing_file_is_created_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daybook.db");
    let store = SqliteStore::open(&path).expect("open a missing file");
    assert_eq!(store.dump().unwrap(), daybook_core::Dump::default());
    drop(store);
    assert_migrated(&path);
}

#[test]
fn reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daybook.db");
    real_database(&path);
    let before = SqliteStore::open(&path).unwrap().dump().unwrap();
    let schema = |p: &Path| -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(p).unwrap();
        let mut stmt = conn
            .prepare("SELECT name, coalesce(sql, '') FROM sqlite_master ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let schema_before = schema(&path);
    for _ in 0..2 {
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.dump().unwrap(), before);
    }
    assert_migrated(&path);
    assert_eq!(schema(&path), schema_before);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daybook.db");
    real_database(&path);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", MIGRATIONS + 1).unwrap();
    }
    let err = assert_refused_untouched(&path);
    match &err {
        Error::SchemaTooNew { found, known, .. } => assert_eq!((*found, *known), (MIGRATIONS + 1, MIGRATIONS)),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade daybook"), "{err}");
    assert_eq!(user_version(&path), MIGRATIONS + 1);
}

#[test]
fn a_garbage_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("short.db", b"not a database\n".to_vec()),
        ("long.db", b"daybook? no: just some text. ".repeat(400)),
        ("binary.db", (0..=255u8).cycle().take(16 * 1024).collect()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = assert_refused_untouched(&path);
        assert!(
            err.to_string().contains("not a database"),
            "{name}: the error should say it is not a database: {err}"
        );
    }
}

#[test]
fn a_truncated_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.db");
    real_database(&real);
    let bytes = std::fs::read(&real).unwrap();
    assert!(
        bytes.len() > 8 * 4096,
        "the real database is too small to truncate meaningfully"
    );
    for (name, len) in [("half.db", bytes.len() / 2), ("odd.db", bytes.len() / 3 + 123)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = assert_refused_untouched(&path);
        let msg = err.to_string();
        assert!(
            msg.contains("malformed")
                || msg.contains("damaged")
                || msg.contains("corrupt")
                || msg.contains("not a database"),
            "{name}: the error should say the file is damaged: {msg}"
        );
    }
}

/// Schema 13: the store's ingest lists the days its new events may change
/// in its own transaction (no per-row trigger): an event appended after a
/// session's entries lists nothing, a late one inside an entry's window
/// lists that entry's day, and a batch of several lists it once.
#[test]
fn ingest_lists_the_days_its_events_change_in_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daybook.db");
    let mut store = SqliteStore::open(&path).expect("open");
    let id = SessionId("s-1".into());
    let t0 = Timestamp(1_780_000_000_000);
    let at = |s: i64| Timestamp(t0.0 + s * 1000);
    let mut steps = vec![IngestStep::Start {
        session: Session::active(id.clone(), t0, UtcOffset(3600)),
        first: Event::new(t0, "Code"),
    }];
    steps.extend((1..300).map(|s| IngestStep::Append {
        id: id.clone(),
        attributed: at(s),
        event: Event::new(at(s), "Code"),
    }));
    store.ingest(&steps).expect("ingest");
    // A flush entry over the first two minutes, its file made durable.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO entries (id, session_id, kind, from_ms, to_ms, offset_s, day, body)
         VALUES (1, 's-1', 'flush', ?1, ?2, 3600, '2026-05-28', 'b')",
        [t0.0, at(120).0],
    )
    .unwrap();
    conn.execute_batch("DELETE FROM stale_days").unwrap();
    let listed = || -> Vec<(String, i64)> {
        conn.prepare("SELECT day, n FROM stale_days ORDER BY day")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    store
        .ingest(&[IngestStep::Append {
            id: id.clone(),
            attributed: at(300),
            event: Event::new(at(300), "Code"),
        }])
        .expect("append");
    assert_eq!(listed(), [], "an event after the entries changed no day");
    let late = |s: i64| IngestStep::Late {
        id: id.clone(),
        rev: 1,
        event: Event::new(at(s), "Mail"),
    };
    store.ingest(&[late(30), late(60), late(200)]).expect("late events");
    assert_eq!(listed(), [("2026-05-28".to_owned(), 1)], "the entry's day, once");
}

/// The recovery migration (schema 14, issue 12): a database whose
/// session trigger still lists recovered ends (as schema 11 wrote it) is
/// migrated to the trigger that leaves them to their writer, keeping
/// every session and event, and recovery of an orphan with a flush entry
/// then lists that entry's day in its own commit.
#[test]
fn the_session_trigger_of_schema_11_is_replaced_and_recovery_lists_its_days() {
    use daybook_core::recovery::{EndBound, RecoveredEnd, RecoveryPlan};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daybook.db");
    real_database(&path);
    let before = SqliteStore::open(&path).unwrap().dump().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER stale_session_update;
             CREATE TRIGGER stale_session_update AFTER UPDATE OF id, start_ms, offset_s, status, end_ms, end_reason ON sessions
             WHEN OLD.id IS NOT NEW.id OR OLD.start_ms IS NOT NEW.start_ms OR OLD.offset_s IS NOT NEW.offset_s
               OR OLD.status IS NOT NEW.status OR OLD.end_ms IS NOT NEW.end_ms OR OLD.end_reason IS NOT NEW.end_reason
             BEGIN
                 INSERT INTO stale_days (day, n) SELECT DISTINCT day, 1 FROM entries WHERE session_id IN (OLD.id, NEW.id)
                 ON CONFLICT (day) DO UPDATE SET n = n + 1;
             END;",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", MIGRATIONS - 1).unwrap();
    }
    let mut store = SqliteStore::open(&path).expect("a database one version behind opens");
    assert_eq!(store.dump().unwrap(), before, "the migration changed a row");
    drop(store);
    assert_migrated(&path);
    let trigger: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'stale_session_update'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(trigger.contains("'recovered'"), "{trigger}");
    // The database's one session is active: give it a flush entry's day
    // and recover it; the day is listed with the end.
    store = SqliteStore::open(&path).unwrap();
    let conn = store.connection();
    conn.execute_batch(
        "INSERT INTO entries (session_id, kind, from_ms, to_ms, offset_s, day, body)
         VALUES ('s-1', 'flush', 1780000000000, 1780000060000, 3600, '2026-05-28', 'flushed');
         DELETE FROM stale_days;",
    )
    .unwrap();
    store
        .recover(&RecoveryPlan {
            ends: vec![RecoveredEnd {
                id: SessionId("s-1".into()),
                end: Timestamp(1_780_000_299_000),
                had_evidence: true,
                bound: EndBound::Evidence,
            }],
            owners: Vec::new(),
        })
        .unwrap();
    let days: Vec<String> = store
        .connection()
        .prepare("SELECT day FROM stale_days")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(days, ["2026-05-28"]);
}
