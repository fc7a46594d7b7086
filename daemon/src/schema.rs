//! The database schema and its migrations, versioned with
//! `PRAGMA user_version`: version N means the first N migrations ran.
//! Each migration runs in the same transaction as its version bump.

use rusqlite::Connection;

/// Every migration, in order. Never edit a released one; append.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: sessions, events, blocks, loose blocks, entries.
    "
    CREATE TABLE sessions (
        id            TEXT PRIMARY KEY,
        start_ms      INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('active', 'ended', 'failed', 'reduced')),
        end_ms        INTEGER,
        end_reason    TEXT,
        next_retry_ms INTEGER,
        retry_count   INTEGER NOT NULL DEFAULT 0,
        flush_end_ms  INTEGER,
        CHECK ((status = 'active') = (end_ms IS NULL)),
        CHECK ((status = 'failed') = (next_retry_ms IS NOT NULL))
    );
    -- reduce-pending, recovery and the retry timer select by status.
    CREATE INDEX sessions_by_status ON sessions (status, start_ms, id);
    CREATE INDEX sessions_by_start ON sessions (start_ms, id);
    CREATE INDEX sessions_by_end ON sessions (end_ms) WHERE end_ms IS NOT NULL;

    CREATE TABLE events (
        seq           INTEGER PRIMARY KEY,
        session_id    TEXT NOT NULL REFERENCES sessions (id),
        attributed_ms INTEGER NOT NULL,
        at_ms         INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        app           TEXT NOT NULL,
        title         TEXT,
        url           TEXT,
        text          TEXT,
        source        TEXT
    );
    CREATE INDEX events_by_session ON events (session_id, attributed_ms, seq);

    CREATE TABLE entries (
        id         INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        kind       TEXT NOT NULL CHECK (kind IN ('flush', 'final', 'heuristic')),
        from_ms    INTEGER NOT NULL,
        to_ms      INTEGER NOT NULL,
        offset_s   INTEGER NOT NULL,
        day        TEXT NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX entries_by_day ON entries (day, from_ms, id);

    CREATE TABLE blocks (
        session_id    TEXT NOT NULL REFERENCES sessions (id),
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        lines         TEXT NOT NULL,
        apps          TEXT NOT NULL,
        capture_count INTEGER NOT NULL,
        entry_id      INTEGER REFERENCES entries (id),
        PRIMARY KEY (session_id, start_ms)
    ) WITHOUT ROWID;

    -- Imported blocks. A row stays after recovery gives it an owner (then
    -- copied into blocks), so importing the same file twice adds nothing.
    CREATE TABLE loose_blocks (
        id            INTEGER PRIMARY KEY,
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        lines         TEXT NOT NULL,
        apps          TEXT NOT NULL,
        capture_count INTEGER NOT NULL,
        owner         TEXT REFERENCES sessions (id)
    );
    CREATE INDEX loose_blocks_unowned ON loose_blocks (start_ms) WHERE owner IS NULL;
    ",
    // 2: sessions cost less to end. Ending a session moved its status-index
    // entry, added an end_ms entry, and found the row through the id index
    // and then the rowid: with 10^5 orphans, most of recovery's time. Now
    // the table is keyed by id itself (WITHOUT ROWID, one B-tree descent),
    // reduced sessions (nearly all history) leave the status index, and the
    // end_ms index is gone (the latest end is read by a scan of sessions,
    // once per start). Queries on the status index must repeat its
    // condition, `status <> 'reduced'` (see `store::OPEN`). The table is
    // rebuilt, so this runs with foreign keys off and they are checked
    // after.
    "
    CREATE TABLE sessions_new (
        id            TEXT PRIMARY KEY NOT NULL,
        start_ms      INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('active', 'ended', 'failed', 'reduced')),
        end_ms        INTEGER,
        end_reason    TEXT,
        next_retry_ms INTEGER,
        retry_count   INTEGER NOT NULL DEFAULT 0,
        flush_end_ms  INTEGER,
        CHECK ((status = 'active') = (end_ms IS NULL)),
        CHECK ((status = 'failed') = (next_retry_ms IS NOT NULL))
    ) WITHOUT ROWID;
    INSERT INTO sessions_new SELECT id, start_ms, offset_s, status, end_ms, end_reason, next_retry_ms, retry_count, flush_end_ms FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions_new RENAME TO sessions;
    CREATE INDEX sessions_by_start ON sessions (start_ms, id);
    CREATE INDEX sessions_open ON sessions (status, start_ms, id) WHERE status <> 'reduced';
    ",
];

/// Brings the schema up to date; returns the version found before.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<i64, i64>> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Ok(Err(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(Ok(found))
}
