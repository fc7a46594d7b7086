//! The database schema and its migrations, versioned with
//! `PRAGMA user_version`: version N means the first N migrations ran.
//! The pending migrations run in one transaction with the version bump.

use rusqlite::{Connection, OptionalExtension};

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
    // rebuilt, so this runs with foreign keys off and `migrate` checks every
    // reference before it commits.
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
    // 3: state that must survive a restart or a kill: whether capture is
    // paused, and how many events were dropped while paused or by the
    // privacy filters (counted in the transaction of the batch they came
    // with). One row.
    "
    CREATE TABLE daemon_state (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        paused          INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
        dropped_paused  INTEGER NOT NULL DEFAULT 0,
        dropped_ignored INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO daemon_state (id) VALUES (1);
    ",
    // ActivityWatch buckets and events (SPEC §11), stored as aw-server
    // stores them: instants in UTC nanoseconds, `data` as JSON text.
    // `emitted_ms` is the bucket's thinning mark (core `watcher`): the
    // instant of the last daybook event derived from it, committed with
    // that event. Deleting a bucket deletes its events.
    "
    CREATE TABLE aw_buckets (
        id         TEXT PRIMARY KEY NOT NULL,
        type       TEXT NOT NULL,
        client     TEXT NOT NULL,
        hostname   TEXT NOT NULL,
        created    TEXT NOT NULL,
        data       TEXT NOT NULL DEFAULT '{}',
        emitted_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE aw_events (
        id       INTEGER PRIMARY KEY,
        bucket   TEXT NOT NULL REFERENCES aw_buckets (id) ON DELETE CASCADE,
        start_ns INTEGER NOT NULL,
        end_ns   INTEGER NOT NULL CHECK (end_ns >= start_ns),
        data     TEXT NOT NULL
    );
    CREATE INDEX aw_events_by_bucket ON aw_events (bucket, start_ns, id);
    ",
    // 5: late events (SPEC §2). An event records the block revision it
    // went into (0 for every event so far); a block is keyed by session,
    // window and revision, so a late event adds a new block beside one an
    // entry covers instead of changing it; an entry may be `late`. The
    // entries and blocks tables are rebuilt (a CHECK and a primary key
    // change) keeping every row, with foreign keys off as for migration 2.
    // Uncovered blocks get a small partial index: reduce-pending finds
    // the reduced sessions that late events gave new blocks through it.
    "
    ALTER TABLE events ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE entries_new (
        id         INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        kind       TEXT NOT NULL CHECK (kind IN ('flush', 'final', 'heuristic', 'late')),
        from_ms    INTEGER NOT NULL,
        to_ms      INTEGER NOT NULL,
        offset_s   INTEGER NOT NULL,
        day        TEXT NOT NULL,
        body       TEXT NOT NULL
    );
    INSERT INTO entries_new SELECT id, session_id, kind, from_ms, to_ms, offset_s, day, body FROM entries;
    DROP TABLE entries;
    ALTER TABLE entries_new RENAME TO entries;
    CREATE INDEX entries_by_day ON entries (day, from_ms, id);

    CREATE TABLE blocks_new (
        session_id    TEXT NOT NULL REFERENCES sessions (id),
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        lines         TEXT NOT NULL,
        apps          TEXT NOT NULL,
        capture_count INTEGER NOT NULL,
        entry_id      INTEGER REFERENCES entries (id),
        rev           INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, start_ms, rev)
    ) WITHOUT ROWID;
    INSERT INTO blocks_new SELECT session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, entry_id, 0 FROM blocks;
    DROP TABLE blocks;
    ALTER TABLE blocks_new RENAME TO blocks;
    CREATE INDEX blocks_uncovered ON blocks (session_id) WHERE entry_id IS NULL;
    ",
    // 6: full-text search (SPEC §12). Two FTS5 indexes over the rows
    // themselves (external content: the text is not stored twice):
    // events by app, title, url and typed text, entries by their body
    // (the summary and its sub-task lines). Each index is written in the
    // transaction that writes its rows, so a rolled-back batch leaves
    // nothing in it and a committed one is searchable at once: triggers
    // for entries and for edits and deletes of events, and for new events
    // one `INSERT … SELECT` per ingest transaction in `store.rs` (a
    // trigger per event costs FTS5 a flush per statement: four times the
    // ingest time of one batched insert). `rebuild` indexes the rows
    // already there. Words are split as unicode61 splits
    // them, case and diacritics folded; `detail=full` keeps positions for
    // phrases.
    "
    CREATE VIRTUAL TABLE events_fts USING fts5(
        app, title, url, text,
        content = 'events', content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN
        INSERT INTO events_fts (events_fts, rowid, app, title, url, text)
        VALUES ('delete', old.seq, old.app, old.title, old.url, old.text);
    END;
    CREATE TRIGGER events_fts_update AFTER UPDATE OF seq, app, title, url, text ON events BEGIN
        INSERT INTO events_fts (events_fts, rowid, app, title, url, text)
        VALUES ('delete', old.seq, old.app, old.title, old.url, old.text);
        INSERT INTO events_fts (rowid, app, title, url, text)
        VALUES (new.seq, new.app, new.title, new.url, new.text);
    END;
    INSERT INTO events_fts (events_fts) VALUES ('rebuild');

    CREATE VIRTUAL TABLE entries_fts USING fts5(
        body,
        content = 'entries', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_fts (rowid, body) VALUES (new.id, new.body);
    END;
    CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entries_fts (entries_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END;
    CREATE TRIGGER entries_fts_update AFTER UPDATE OF id, body ON entries BEGIN
        INSERT INTO entries_fts (entries_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO entries_fts (rowid, body) VALUES (new.id, new.body);
    END;
    INSERT INTO entries_fts (entries_fts) VALUES ('rebuild');
    ",
    // 7: coverage leaves the block rows (issue 12). Reducing a session
    // wrote `entry_id` into each of its block rows, so reduce-pending
    // rewrote every page of blocks it reduced (about 120 MB for 10^4
    // sessions). An entry's coverage is now a few narrow `coverage` rows,
    // each a run of blocks: the blocks of `session_id` at revision `rev`
    // whose start lies in `[first_ms, last_ms]`. A run holds blocks that
    // were consecutive (in start order, at that revision) when it was
    // written; a block added later inside a run splits it (see
    // `store.rs`), so a run never takes in a block its entry did not
    // cover. `blocks_keys` reads a session's block keys without its
    // content pages. `late_pending` lists reduced sessions that may have
    // uncovered blocks (late events'), as the partial index on `entry_id`
    // did; a reader checks each against `coverage`. The blocks table is
    // rebuilt without `entry_id`, every block and every coverage kept:
    // consecutive blocks of one entry become one run (gaps and islands:
    // the position among all the session's blocks of the revision minus
    // the position among the entry's).
    "
    CREATE TABLE coverage (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        rev        INTEGER NOT NULL,
        first_ms   INTEGER NOT NULL,
        last_ms    INTEGER NOT NULL CHECK (last_ms >= first_ms),
        entry_id   INTEGER NOT NULL REFERENCES entries (id),
        PRIMARY KEY (session_id, rev, first_ms)
    ) WITHOUT ROWID;
    INSERT INTO coverage (session_id, rev, first_ms, last_ms, entry_id)
    SELECT session_id, rev, min(start_ms), max(start_ms), entry_id FROM (
        SELECT session_id, rev, start_ms, entry_id,
               row_number() OVER (PARTITION BY session_id, rev ORDER BY start_ms)
             - row_number() OVER (PARTITION BY session_id, rev, entry_id ORDER BY start_ms) AS run
        FROM blocks
    ) WHERE entry_id IS NOT NULL
    GROUP BY session_id, rev, entry_id, run;

    CREATE TABLE late_pending (
        session_id TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id)
    ) WITHOUT ROWID;
    INSERT INTO late_pending SELECT DISTINCT b.session_id FROM blocks b JOIN sessions s ON s.id = b.session_id
    WHERE b.entry_id IS NULL AND s.status = 'reduced';

    CREATE TABLE blocks_new (
        session_id    TEXT NOT NULL REFERENCES sessions (id),
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        offset_s      INTEGER NOT NULL,
        lines         TEXT NOT NULL,
        apps          TEXT NOT NULL,
        capture_count INTEGER NOT NULL,
        rev           INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, start_ms, rev)
    ) WITHOUT ROWID;
    INSERT INTO blocks_new SELECT session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, rev FROM blocks;
    DROP TABLE blocks;
    ALTER TABLE blocks_new RENAME TO blocks;
    CREATE INDEX blocks_keys ON blocks (session_id, rev, start_ms);
    ",
    // 8: `daybook import activitywatch`. The raw events an import stored
    // whose daybook events are not derived yet, keyed in the order the
    // derivation reads them. Rows go in with their raw events and leave in
    // the transaction that commits what they derived, so an import killed
    // between the two continues where it stopped and never derives twice.
    "
    CREATE TABLE aw_pending (
        start_ns INTEGER NOT NULL,
        id       INTEGER NOT NULL REFERENCES aw_events (id) ON DELETE CASCADE,
        PRIMARY KEY (start_ns, id)
    ) WITHOUT ROWID;
    CREATE INDEX aw_pending_by_id ON aw_pending (id);
    ",
    // 9: `aw_pending` keeps its key alone. Its foreign key (with the
    // `aw_pending_by_id` index that deleting an event needed to find its
    // row) cost every imported raw event two more B-tree writes going in
    // and one more coming out, for a cascade that deleting a bucket or an
    // event now does itself, through the key (`store::activitywatch`).
    // The table is rebuilt keeping every row (a foreign key cannot be
    // dropped in place), with foreign keys off as for migration 2.
    "
    CREATE TABLE aw_pending_new (
        start_ns INTEGER NOT NULL,
        id       INTEGER NOT NULL,
        PRIMARY KEY (start_ns, id)
    ) WITHOUT ROWID;
    INSERT INTO aw_pending_new SELECT start_ns, id FROM aw_pending;
    DROP TABLE aw_pending;
    ALTER TABLE aw_pending_new RENAME TO aw_pending;
    ",
    // 10: the open-sessions index in key order (issue 12). `sessions_open`
    // held `(status, start_ms, id)`: ending 10^5 imported orphans moved
    // each one's entry from the `active` run to a random place in the
    // `ended` run while the rows themselves were rewritten in id order, so
    // both B-trees were walked at random (0.8-1 s of SQLite's time alone).
    // Keyed `(status, id)`, every status's run is in the table's own key
    // order: recovery reads the orphans and their evidence, and ends them,
    // in one ascending pass over each B-tree. Same rows (still partial on
    // `status <> 'reduced'`, which every query by status repeats, see
    // `store::OPEN`); the few readers that want start order sort what they
    // read.
    "
    DROP INDEX sessions_open;
    CREATE INDEX sessions_open ON sessions (status, id) WHERE status <> 'reduced';
    ",
    // 11: which day files may be stale, kept by the database itself
    // (`projection`'s docs). `stale_days` holds a day whose rendering may
    // have changed since its file was last made durable: triggers add it
    // (or bump its `n`) in the transaction of any change to what
    // `projection::render` reads (the day's entries; the rows of the
    // sessions they reduce; those sessions' events inside the window the
    // day's entries cover), so no writer can forget it. A day leaves only
    // once its file is durable, and only if `n` is still what was read
    // before the rendering (a change committed meanwhile keeps it).
    // `day_files` records each file as daybook last made it durable (size,
    // modification and change time, inode, day-log format), so a start
    // stats the files instead of rendering every day. `entries_by_session`
    // is the one indexed lookup every trigger on events and sessions does
    // (covering: the day and the window, no table row read). Every day
    // with entries starts stale: the first start after this migration
    // checks every file once.
    "
    CREATE INDEX entries_by_session ON entries (session_id, day, from_ms, to_ms);

    CREATE TABLE stale_days (
        day TEXT PRIMARY KEY NOT NULL,
        n   INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO stale_days (day, n) SELECT DISTINCT day, 1 FROM entries WHERE true;

    CREATE TABLE day_files (
        day      TEXT PRIMARY KEY NOT NULL,
        size     INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        inode    INTEGER NOT NULL,
        format   INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TRIGGER stale_entry_insert AFTER INSERT ON entries BEGIN
        INSERT INTO stale_days (day, n) VALUES (NEW.day, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_entry_delete AFTER DELETE ON entries BEGIN
        INSERT INTO stale_days (day, n) VALUES (OLD.day, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_entry_update AFTER UPDATE ON entries BEGIN
        INSERT INTO stale_days (day, n) VALUES (OLD.day, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1;
        INSERT INTO stale_days (day, n) VALUES (NEW.day, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;

    CREATE TRIGGER stale_event_insert AFTER INSERT ON events BEGIN
        INSERT INTO stale_days (day, n)
        SELECT day, 1 FROM entries WHERE session_id = NEW.session_id
        GROUP BY day HAVING min(from_ms) <= NEW.attributed_ms AND max(to_ms) > NEW.attributed_ms
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_event_delete AFTER DELETE ON events BEGIN
        INSERT INTO stale_days (day, n)
        SELECT day, 1 FROM entries WHERE session_id = OLD.session_id
        GROUP BY day HAVING min(from_ms) <= OLD.attributed_ms AND max(to_ms) > OLD.attributed_ms
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_event_update AFTER UPDATE OF session_id, attributed_ms, offset_s, app, title, url ON events
    WHEN OLD.session_id IS NOT NEW.session_id OR OLD.attributed_ms IS NOT NEW.attributed_ms
      OR OLD.offset_s IS NOT NEW.offset_s OR OLD.app IS NOT NEW.app
      OR OLD.title IS NOT NEW.title OR OLD.url IS NOT NEW.url
    BEGIN
        INSERT INTO stale_days (day, n)
        SELECT day, 1 FROM entries WHERE session_id = OLD.session_id
        GROUP BY day HAVING min(from_ms) <= OLD.attributed_ms AND max(to_ms) > OLD.attributed_ms
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
        INSERT INTO stale_days (day, n)
        SELECT day, 1 FROM entries WHERE session_id = NEW.session_id
        GROUP BY day HAVING min(from_ms) <= NEW.attributed_ms AND max(to_ms) > NEW.attributed_ms
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;

    CREATE TRIGGER stale_session_insert AFTER INSERT ON sessions BEGIN
        INSERT INTO stale_days (day, n) SELECT DISTINCT day, 1 FROM entries WHERE session_id = NEW.id
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_session_delete AFTER DELETE ON sessions BEGIN
        INSERT INTO stale_days (day, n) SELECT DISTINCT day, 1 FROM entries WHERE session_id = OLD.id
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_session_update AFTER UPDATE OF id, start_ms, offset_s, status, end_ms, end_reason ON sessions
    WHEN OLD.id IS NOT NEW.id OR OLD.start_ms IS NOT NEW.start_ms OR OLD.offset_s IS NOT NEW.offset_s
      OR OLD.status IS NOT NEW.status OR OLD.end_ms IS NOT NEW.end_ms OR OLD.end_reason IS NOT NEW.end_reason
    BEGIN
        INSERT INTO stale_days (day, n) SELECT DISTINCT day, 1 FROM entries WHERE session_id IN (OLD.id, NEW.id)
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    ",
    // 12: the session triggers of `stale_days` without a temporary
    // B-tree per row (issue 12). `SELECT DISTINCT day, 1` made SQLite
    // open, fill and close a temporary B-tree for every session row
    // inserted, updated or deleted, even with nothing to list: a third of
    // the time of ending 10^5 recovered orphans and a share of every
    // reduction commit (BENCHMARKS.md, "reduce-pending, fourth pass").
    // `GROUP BY day` over `entries_by_session` reads the days in index
    // order, one row each, with no temporary B-tree; a renamed session
    // lists its old id's days and its new id's in two statements (a day in
    // both is bumped twice: any bump marks it). Same days listed as
    // before.
    "
    DROP TRIGGER stale_session_insert;
    DROP TRIGGER stale_session_delete;
    DROP TRIGGER stale_session_update;
    CREATE TRIGGER stale_session_insert AFTER INSERT ON sessions BEGIN
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = NEW.id GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_session_delete AFTER DELETE ON sessions BEGIN
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = OLD.id GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER stale_session_update AFTER UPDATE OF id, start_ms, offset_s, status, end_ms, end_reason ON sessions
    WHEN OLD.id IS NOT NEW.id OR OLD.start_ms IS NOT NEW.start_ms OR OLD.offset_s IS NOT NEW.offset_s
      OR OLD.status IS NOT NEW.status OR OLD.end_ms IS NOT NEW.end_ms OR OLD.end_reason IS NOT NEW.end_reason
    BEGIN
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = OLD.id GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = NEW.id AND NEW.id IS NOT OLD.id
        GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    ",
    // 13: new events list their days once a transaction, not once a row.
    // `stale_event_insert` ran for every inserted event, and a trigger
    // that writes makes SQLite open a statement journal for each
    // `INSERT`, which copies the pages the transaction already dirtied
    // (the events table's last leaf, the index's) before every row:
    // ingest's largest cost after the commit itself. The store's ingest,
    // the only writer of new events, runs [`STALE_NEW_EVENTS`] once at
    // the end of its transaction instead: the same days, listed in the
    // same transaction (the crash rule holds). Deletes and updates of
    // events keep their triggers.
    "
    DROP TRIGGER stale_event_insert;
    ",
    // 14: recovery lists its own stale days (issue 12). The trigger on
    // session updates ran once per orphan recovery ended: a trigger
    // program and a lookup of the session's entries per row (with
    // migration 11's DISTINCT, a temporary B-tree too), for 10^5 imported orphans that have no entries at all
    // (3.4 s against 0.45 s for the bare `UPDATE` in the `sqlite3` shell;
    // BENCHMARKS.md, "recovery and recover's day files, fourth pass").
    // The trigger now skips exactly one change, an active session ended
    // as `recovered` with its id, start and offset kept, and every writer
    // of that change lists the session's entry days itself in the same
    // transaction, in one statement (`SqliteStore::recover` for every
    // orphan it ends, `end_active` for one). Its `WHEN` reads only the
    // row, so a skipped update costs no lookup. Every other change is
    // listed by the trigger as before.
    "
    DROP TRIGGER stale_session_update;
    CREATE TRIGGER stale_session_update AFTER UPDATE OF id, start_ms, offset_s, status, end_ms, end_reason ON sessions
    WHEN (OLD.id IS NOT NEW.id OR OLD.start_ms IS NOT NEW.start_ms OR OLD.offset_s IS NOT NEW.offset_s
      OR OLD.status IS NOT NEW.status OR OLD.end_ms IS NOT NEW.end_ms OR OLD.end_reason IS NOT NEW.end_reason)
      AND NOT (OLD.status IS 'active' AND NEW.status IS 'ended' AND NEW.end_reason IS 'recovered'
        AND OLD.id IS NEW.id AND OLD.start_ms IS NEW.start_ms AND OLD.offset_s IS NEW.offset_s)
    BEGIN
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = OLD.id GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = NEW.id AND NEW.id IS NOT OLD.id
        GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    ",
    // 15: a session's status alone no longer lists its days (issue 12).
    // The day log reads a session row's id, start, offset, end and end
    // reason, never its status (`daylog`: a section is finished by its
    // entries; its end and reason come from the row whatever the status),
    // so a change of status alone cannot change a day file. Yet every
    // reduction's `UPDATE` to `reduced` ran the trigger's program and a
    // lookup of the session's entries: 4.4% of the instructions of the
    // reductions' commits of `daybook recover` on 10^5 imported orphans
    // (BENCHMARKS.md, "Migration 15"). `status` leaves the columns the
    // trigger watches; the recovered end stays skipped as in migration 14.
    "
    DROP TRIGGER stale_session_update;
    CREATE TRIGGER stale_session_update AFTER UPDATE OF id, start_ms, offset_s, end_ms, end_reason ON sessions
    WHEN (OLD.id IS NOT NEW.id OR OLD.start_ms IS NOT NEW.start_ms OR OLD.offset_s IS NOT NEW.offset_s
      OR OLD.end_ms IS NOT NEW.end_ms OR OLD.end_reason IS NOT NEW.end_reason)
      AND NOT (OLD.status IS 'active' AND NEW.status IS 'ended' AND NEW.end_reason IS 'recovered'
        AND OLD.id IS NEW.id AND OLD.start_ms IS NEW.start_ms AND OLD.offset_s IS NEW.offset_s)
    BEGIN
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = OLD.id GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
        INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = NEW.id AND NEW.id IS NOT OLD.id
        GROUP BY day
        ON CONFLICT (day) DO UPDATE SET n = n + 1;
    END;
    ",
];

/// Lists in `stale_days` the days of session `?1`'s entries, as the
/// session triggers do (migration 12's form: `GROUP BY` in
/// `entries_by_session`'s order, no temporary B-tree): for the one change
/// the trigger leaves to its writer, an active session ended as
/// `recovered` with a single statement (migration 14).
pub(crate) const STALE_SESSION_DAYS: &str = "
    INSERT INTO stale_days (day, n) SELECT day, 1 FROM entries WHERE session_id = ?1 GROUP BY day
    ON CONFLICT (day) DO UPDATE SET n = n + 1";

/// Lists in `stale_days` the days whose file the events inserted in this
/// transaction may have changed: those with `seq > ?1` (the highest seq
/// before the transaction's first insert). An event marks a day of its
/// session's entries when it lies inside the window that day's entries
/// cover, as the dropped `stale_event_insert` trigger did (migration 13):
/// `min(from_ms) <= attributed_ms < max(to_ms)`. The new rows are read by
/// their seqs (the table's key), each looking up its session's entries
/// (`entries_by_session`); a day gets one bump a statement, whatever
/// the number of its events.
pub(crate) const STALE_NEW_EVENTS: &str = "
    INSERT INTO stale_days (day, n)
    SELECT DISTINCT en.day, 1
    FROM events e CROSS JOIN entries en
    WHERE e.seq > ?1 AND en.session_id = e.session_id
    GROUP BY e.seq, en.day
    HAVING min(en.from_ms) <= e.attributed_ms AND max(en.to_ms) > e.attributed_ms
    ON CONFLICT (day) DO UPDATE SET n = n + 1";

/// The rows of `stale_days`, day by day, for tests of the triggers and
/// the writers that list days.
#[cfg(test)]
pub(crate) fn stale_rows(conn: &Connection) -> Vec<(String, i64)> {
    conn.prepare("SELECT day, n FROM stale_days ORDER BY day")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The schema version this build writes: the number of [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What [`migrate`] found and did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Migrated {
    /// The schema is current; it was at this version before.
    From(i64),
    /// A newer daybook wrote it (its version); nothing was changed.
    TooNew(i64),
    /// Migrating to `version` would have left a row of `table` referring
    /// to a row that is not there; it was rolled back.
    Dangling {
        /// The version it was migrating to.
        version: i64,
        /// The table holding the row.
        table: String,
    },
}

/// Brings the schema up to date, every pending migration and the version
/// bump in one transaction, so a refused file keeps its version. Run with
/// foreign keys off (a migration may rebuild a table others refer to):
/// every reference is checked before the commit instead.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Ok(Migrated::TooNew(found));
    }
    if found == known {
        return Ok(Migrated::From(found));
    }
    let tx = conn.transaction()?;
    for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql)?;
    }
    let dangling: Option<String> = tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional()?;
    if let Some(table) = dangling {
        return Ok(Migrated::Dangling { version: known, table });
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(Migrated::From(found))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use daybook_core::{Store, Timestamp};
    use rusqlite::types::Value;

    use super::*;
    use crate::{Error, SqliteStore};

    /// A session of every status, events, an entry covering blocks, and
    /// loose blocks with and without an owner, as version 1 stored them.
    const ROWS: &str = "
        INSERT INTO sessions VALUES
            ('s7-1', 0, 3600, 'reduced', 120000, 'idle_gap', NULL, 0, 120000),
            ('s7-2', 600000, 3600, 'ended', 660000, 'soft_cut', NULL, 0, NULL),
            ('s7-3', 1200000, 3600, 'failed', 1260000, 'timeout', 9000000, 2, NULL),
            ('s7-10', 1800000, 3600, 'active', NULL, NULL, NULL, 0, NULL);
        INSERT INTO events VALUES
            (1, 's7-1', 0, 0, 3600, 'Code', 'a', NULL, 'typed', NULL),
            (2, 's7-1', 120000, 120000, 3600, 'Firefox', NULL, 'https://x', NULL, 'cli'),
            (3, 's7-2', 600000, 600000, 3600, 'Code', NULL, NULL, NULL, NULL),
            (4, 's7-3', 1200000, 1200000, 3600, 'Code', NULL, NULL, NULL, NULL),
            (5, 's7-10', 1800000, 1800000, 3600, 'Code', NULL, NULL, NULL, NULL);
        INSERT INTO entries VALUES (1, 's7-1', 'final', 0, 120000, 3600, '1970-01-01', 'body');
        INSERT INTO blocks VALUES
            ('s7-1', 0, 60000, 3600, '[]', '[\"Code\"]', 1, 1),
            ('s7-1', 60000, 120000, 3600, '[]', '[\"Firefox\"]', 1, 1),
            ('s7-2', 600000, 660000, 3600, '[]', '[\"Code\"]', 1, NULL);
        INSERT INTO loose_blocks VALUES
            (1, 600000, 630000, 3600, '[]', '[\"Code\"]', 1, 's7-2'),
            (2, 9000000, 9060000, 3600, '[]', '[\"Mail\"]', 1, NULL);
    ";

    /// A version-1 database (migration 1 alone) with `rows`, in WAL mode as
    /// daybook keeps it or in `journal` mode as another tool may leave it.
    fn version_1(path: &Path, rows: &str, journal: &str) {
        let mut conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", journal).unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(MIGRATIONS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.execute_batch(rows).unwrap();
        tx.commit().unwrap();
    }

    /// Every row of every table, in key order, in version 1's columns
    /// (later migrations add columns, never change these; a block's
    /// `entry_id` is read from `coverage` once migration 7 moved it there).
    fn rows(path: &Path) -> Vec<Vec<Value>> {
        let conn = Connection::open(path).unwrap();
        let mut all = Vec::new();
        let migrated: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'coverage'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let blocks = if migrated {
            concat!(
                "session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, ",
                crate::store::covering_entry!()
            )
        } else {
            "session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, entry_id"
        };
        let tables = [
            ("sessions", "*"),
            (
                "events",
                "seq, session_id, attributed_ms, at_ms, offset_s, app, title, url, text, source",
            ),
            ("entries", "*"),
            ("blocks b", blocks),
            ("loose_blocks", "*"),
        ];
        for (table, columns) in tables {
            let mut stmt = conn
                .prepare(&format!("SELECT {columns} FROM {table} ORDER BY 1, 2"))
                .unwrap();
            let n = stmt.column_count();
            let found = stmt
                .query_map([], |r| {
                    (0..n).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>()
                })
                .unwrap();
            all.extend(found.map(Result::unwrap));
        }
        all
    }

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn migration_2_keeps_every_row_and_finds_sessions_by_status() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        version_1(&path, ROWS, "WAL");
        let before = rows(&path);
        assert_eq!(before.len(), 4 + 5 + 1 + 3 + 2);

        let store = SqliteStore::open(&path).expect("a version 1 database opens");
        let ids =
            |sessions: Vec<daybook_core::Session>| -> Vec<String> { sessions.into_iter().map(|s| s.id.0).collect() };
        assert_eq!(ids(store.active_sessions().unwrap()), ["s7-10"]);
        assert_eq!(ids(store.pending_sessions().unwrap()), ["s7-2", "s7-3"]);
        assert_eq!(ids(store.due_sessions(Timestamp(9_000_000)).unwrap()), ["s7-3"]);
        assert_eq!(
            ids(store.due_sessions(Timestamp(8_999_999)).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(store.latest_end().unwrap(), Some(Timestamp(1_260_000)));
        drop(store);

        assert_eq!(user_version(&path), MIGRATIONS.len() as i64);
        assert_eq!(rows(&path), before, "the migration changed a row");
        let state: (i64, i64, i64) = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT paused, dropped_paused, dropped_ignored FROM daemon_state",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(state, (0, 0, 0), "migration 3 starts unpaused with no drops");
        let conn = Connection::open(&path).unwrap();
        let sql: String = conn
            .query_row("SELECT sql FROM sqlite_master WHERE name = 'sessions'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(sql.contains("WITHOUT ROWID"), "sessions is keyed by its id: {sql}");
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(indexes, ["sessions_by_start", "sessions_open"]);
    }

    /// The rowids of events and of entries that `query` matches.
    fn matches(conn: &Connection, query: &str) -> (Vec<i64>, Vec<i64>) {
        let ids = |sql: &str| -> Vec<i64> {
            conn.prepare(sql)
                .unwrap()
                .query_map([query], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        (
            ids("SELECT rowid FROM events_fts WHERE events_fts MATCH ?1 ORDER BY rowid"),
            ids("SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?1 ORDER BY rowid"),
        )
    }

    #[test]
    fn the_search_migration_indexes_every_row_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        version_1(&path, ROWS, "WAL");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.search_index_problems().unwrap(), Vec::<String>::new());
        let conn = store.connection();
        assert_eq!(matches(conn, "typed"), (vec![1], vec![]), "text");
        assert_eq!(matches(conn, "firefox"), (vec![2], vec![]), "app, case folded");
        assert_eq!(matches(conn, "x"), (vec![2], vec![]), "url");
        assert_eq!(matches(conn, "code"), (vec![1, 3, 4, 5], vec![]));
        assert_eq!(matches(conn, "body"), (vec![], vec![1]), "entries");
    }

    fn append(id: &str, at: i64, text: &str) -> daybook_core::IngestStep {
        let mut event = daybook_core::Event::new(Timestamp(at), "Mail");
        event.text = Some(text.to_owned());
        daybook_core::IngestStep::Append {
            id: daybook_core::SessionId(id.to_owned()),
            attributed: Timestamp(at),
            event,
        }
    }

    #[test]
    fn the_search_index_follows_its_rows_in_their_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        version_1(&path, ROWS, "WAL");
        let mut store = SqliteStore::open(&path).unwrap();
        // A batch refused halfway (its second event goes to a reduced
        // session) is rolled back whole: nothing of it in the index.
        let refused = store.ingest(&[
            append("s7-10", 1_800_001, "phantom"),
            append("s7-1", 1_800_002, "phantom"),
        ]);
        assert!(refused.is_err());
        assert_eq!(matches(store.connection(), "phantom"), (vec![], vec![]));
        assert_eq!(store.search_index_problems().unwrap(), Vec::<String>::new());
        // So is a write of entries rolled back by hand.
        store
            .connection()
            .execute_batch(
                "BEGIN;
                 INSERT INTO entries VALUES (2, 's7-2', 'final', 600000, 660000, 3600, '1970-01-01', 'phantom entry');
                 ROLLBACK;",
            )
            .unwrap();
        assert_eq!(matches(store.connection(), "phantom"), (vec![], vec![]));
        // A committed batch is found at once; an edit and a delete move it.
        store.ingest(&[append("s7-10", 1_800_001, "phantom")]).unwrap();
        let conn = store.connection();
        conn.execute_batch(
            "INSERT INTO entries VALUES (2, 's7-2', 'final', 600000, 660000, 3600, '1970-01-01', 'phantom entry');",
        )
        .unwrap();
        assert_eq!(matches(conn, "phantom"), (vec![6], vec![2]));
        conn.execute_batch(
            "UPDATE events SET text = 'changed' WHERE seq = 6;
             UPDATE events SET attributed_ms = 1800002 WHERE seq = 6;
             DELETE FROM entries WHERE id = 2;",
        )
        .unwrap();
        assert_eq!(matches(conn, "phantom"), (vec![], vec![]));
        assert_eq!(matches(conn, "changed"), (vec![6], vec![]));
        assert_eq!(store.search_index_problems().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_index_out_of_step_with_its_rows_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        version_1(&path, ROWS, "WAL");
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.connection();
        // Rows written past the store, as a bug would.
        conn.execute_batch(
            "INSERT INTO events VALUES (6, 's7-10', 1800001, 1800001, 3600, 'Mail', NULL, NULL, 'unindexed', NULL, 0);
             INSERT INTO events_fts (rowid, app, title, url, text) VALUES (99, 'Ghost', NULL, NULL, 'stray');",
        )
        .unwrap();
        let problems = store.search_index_problems().unwrap();
        assert!(
            problems.iter().any(|p| p.contains("1 row(s) of events missing")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("whose events row is not there")),
            "{problems:?}"
        );
    }

    /// The migration that keys blocks by revision (issue 11): every row
    /// kept, every event and block at revision 0, and what late events
    /// need works on the migrated file: a second block of a covered
    /// window, a `late` entry over it, reduce-pending finding it.
    #[test]
    fn the_revision_migration_keeps_every_row_at_revision_0_and_takes_late_blocks() {
        use daybook_core::{Block, EntryKind, IngestStep, NewEntry, ReductionCommit, SessionId, UtcOffset};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        version_1(&path, ROWS, "WAL");
        let before = rows(&path);
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(rows(&path), before, "the migration changed a row");
        let dump = store.dump().unwrap();
        assert!(dump.events.iter().all(|e| e.rev == 0));
        assert!(dump.blocks.iter().all(|b| b.rev == 0));
        assert_eq!(dump.blocks.len(), 3);

        let id = SessionId::from("s7-1");
        let late = Block {
            rev: 1,
            covered_by: None,
            ..dump.blocks[0].clone()
        };
        let mut event = dump.events[0].event.clone();
        event.at = Timestamp(30_000);
        store
            .ingest(&[
                IngestStep::Late {
                    id: id.clone(),
                    rev: 1,
                    event,
                },
                IngestStep::LateBlocks {
                    id: id.clone(),
                    blocks: vec![late.clone()],
                },
            ])
            .unwrap();
        assert_eq!(
            store.window_blocks(&id, Timestamp(0)).unwrap().len(),
            2,
            "a covered window takes a second revision"
        );
        let pending: Vec<String> = store.pending_sessions().unwrap().into_iter().map(|s| s.id.0).collect();
        assert_eq!(
            pending,
            ["s7-1", "s7-2", "s7-3"],
            "the reduced session has a late block"
        );
        store
            .commit_reduction(&ReductionCommit {
                session_id: id.clone(),
                entry: Some(NewEntry {
                    session_id: id.clone(),
                    kind: EntryKind::Late,
                    from: late.start,
                    to: late.end,
                    offset: UtcOffset(3600),
                    body: "late".into(),
                }),
                covered: vec![(late.start, 1)],
                flush_end: None,
                finish: false,
            })
            .expect("a late entry over a reduced session's new block");
        let pending: Vec<String> = store.pending_sessions().unwrap().into_iter().map(|s| s.id.0).collect();
        assert_eq!(pending, ["s7-2", "s7-3"]);
        let dump = store.dump().unwrap();
        assert_eq!(dump.entries.last().map(|e| e.kind), Some(EntryKind::Late));
    }

    /// Migration 7 moves coverage out of the block rows: each entry's
    /// blocks that were consecutive become one run, a block between two of
    /// them that the entry did not cover splits the run, and a reduced
    /// session with an uncovered block is still pending.
    #[test]
    fn migration_7_keeps_every_coverage_as_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        let more = "
            INSERT INTO sessions VALUES ('s7-4', 3000000, 0, 'reduced', 3300000, 'idle_gap', NULL, 0, 3300000);
            INSERT INTO entries VALUES (2, 's7-4', 'final', 3000000, 3300000, 0, '1970-01-01', 'four');
            INSERT INTO blocks VALUES
                ('s7-4', 3000000, 3060000, 0, '[]', '[]', 1, 2),
                ('s7-4', 3060000, 3120000, 0, '[]', '[]', 1, 2),
                ('s7-4', 3120000, 3180000, 0, '[]', '[]', 1, NULL),
                ('s7-4', 3240000, 3300000, 0, '[]', '[]', 1, 2);
        ";
        version_1(&path, &format!("{ROWS}{more}"), "WAL");
        let before = rows(&path);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(rows(&path), before, "the migration changed a row or a coverage");
        let runs: Vec<(String, i64, i64, i64, i64)> = store
            .connection()
            .prepare("SELECT session_id, rev, first_ms, last_ms, entry_id FROM coverage ORDER BY 1, 2, 3")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let run = |s: &str, first, last, entry| (s.to_owned(), 0, first, last, entry);
        assert_eq!(
            runs,
            [
                run("s7-1", 0, 60_000, 1),
                run("s7-4", 3_000_000, 3_060_000, 2),
                run("s7-4", 3_240_000, 3_240_000, 2),
            ]
        );
        let pending: Vec<String> = store.pending_sessions().unwrap().into_iter().map(|s| s.id.0).collect();
        assert_eq!(pending, ["s7-2", "s7-3", "s7-4"]);
        let left: Vec<i64> = store
            .uncovered_blocks(&daybook_core::SessionId::from("s7-4"))
            .unwrap()
            .into_iter()
            .map(|b| b.start.0)
            .collect();
        assert_eq!(left, [3_120_000]);
    }

    /// Migration 9 keeps every raw event an interrupted import queued,
    /// drops the queue's foreign key and its index, and deleting an event
    /// or a bucket still takes its queued rows with it (once done by the
    /// cascade, now by the store).
    #[test]
    fn migration_9_keeps_the_import_queue_and_deletes_still_clear_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
            let tx = conn.transaction().unwrap();
            // Version 8: the migrations before this one.
            for sql in &MIGRATIONS[..8] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 8).unwrap();
            tx.execute_batch(
                "INSERT INTO aw_buckets (id, type, client, hostname, created) VALUES
                     ('w', 'currentwindow', 'aw-watcher-window', 'h', '2026-01-01T00:00:00Z'),
                     ('x', 'currentwindow', 'aw-watcher-window', 'h', '2026-01-01T00:00:00Z');
                 INSERT INTO aw_events (id, bucket, start_ns, end_ns, data) VALUES
                     (1, 'w', 10, 20, '{}'), (2, 'w', 30, 40, '{}'), (3, 'x', 15, 25, '{}'),
                     (4, 'x', 35, 45, '{}'), (5, 'w', 50, 60, '{}');
                 INSERT INTO aw_pending VALUES (10, 1), (30, 2), (15, 3), (35, 4);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        let conn = store.connection();
        let pending = || -> Vec<(i64, i64)> {
            conn.prepare("SELECT start_ns, id FROM aw_pending")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(pending(), [(10, 1), (15, 3), (30, 2), (35, 4)], "a queued row was lost");
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_list('aw_pending')"), 0);
        assert_eq!(
            count("SELECT count(*) FROM sqlite_master WHERE name = 'aw_pending_by_id'"),
            0
        );
        assert!(store.aw_delete_event("w", 2).unwrap());
        assert_eq!(pending(), [(10, 1), (15, 3), (35, 4)]);
        // An event no import queued is deleted alone.
        assert!(store.aw_delete_event("w", 5).unwrap());
        assert_eq!(pending(), [(10, 1), (15, 3), (35, 4)]);
        assert!(store.aw_delete_bucket("x").unwrap());
        assert_eq!(pending(), [(10, 1)]);
    }

    /// Builds a version-`version` database holding `rows` at `path`,
    /// opens it (migrating it to [`SCHEMA_VERSION`]), and checks the
    /// migration kept every row.
    fn migrated_from(path: &Path, rows: &str, version: usize) -> SqliteStore {
        version_n(path, rows, version);
        let before = self::rows(path);
        let store = SqliteStore::open(path).unwrap_or_else(|e| panic!("a version {version} database opens: {e}"));
        assert_eq!(user_version(path), SCHEMA_VERSION);
        assert_eq!(self::rows(path), before, "the migration changed a row");
        store
    }

    /// The database `version_1` writes, brought to `version` by the
    /// migrations before it alone.
    fn version_n(path: &Path, rows: &str, version: usize) {
        version_1(path, rows, "WAL");
        let mut conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[1..version] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", version as i64).unwrap();
        tx.commit().unwrap();
    }

    /// Migration 10 keys the open-sessions index by `(status, id)`: every
    /// row of every status is kept, the index holds the same rows (all
    /// but the reduced), and the reads by status find the same sessions,
    /// in start order, through it.
    #[test]
    fn migration_10_keys_the_open_sessions_by_status_and_id_keeping_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        // A second active session whose id sorts before the first one's
        // but starts after it, and an ended one likewise, so key order and
        // start order differ.
        let more = "
            INSERT INTO sessions VALUES
                ('s0-late', 2400000, 3600, 'active', NULL, NULL, NULL, 0, NULL),
                ('s0-ended', 2000000, 3600, 'ended', 2100000, 'idle_gap', NULL, 0, NULL);
        ";
        let store = migrated_from(&path, &format!("{ROWS}{more}"), 9);
        let ids =
            |sessions: Vec<daybook_core::Session>| -> Vec<String> { sessions.into_iter().map(|s| s.id.0).collect() };
        assert_eq!(ids(store.active_sessions().unwrap()), ["s7-10", "s0-late"]);
        assert_eq!(ids(store.pending_sessions().unwrap()), ["s7-2", "s7-3", "s0-ended"]);
        assert_eq!(ids(store.due_sessions(Timestamp(9_000_000)).unwrap()), ["s7-3"]);
        let conn = store.connection();
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_index_info('sessions_open') ORDER BY seqno")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(columns, ["status", "id"]);
        let indexed: i64 = conn
            .query_row(
                "SELECT count(*) FROM sessions INDEXED BY sessions_open WHERE status <> 'reduced'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 5, "every session but the reduced one");
        let counts = store.status_counts().unwrap();
        assert_eq!((counts.ended, counts.failed), (2, 1));
    }

    /// Migration 11: every day with entries starts stale (one full check
    /// of the files at the next start), no file is recorded yet, and from
    /// then on the triggers list a day in the transaction of any change to
    /// what its rendering reads, and of nothing else.
    #[test]
    fn migration_11_lists_every_entry_day_stale_and_its_triggers_mark_what_rendering_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        // A second entry day for s7-1's neighbour, so "every day" is two.
        let more = "
            INSERT INTO sessions VALUES ('s7-0', -90000000, 3600, 'reduced', -89000000, 'idle_gap', NULL, 0, NULL);
            INSERT INTO entries VALUES (2, 's7-0', 'final', -90000000, -89000000, 3600, '1969-12-31', 'before');
        ";
        let store = migrated_from(&path, &format!("{ROWS}{more}"), 10);
        let conn = store.connection();
        let stale = || -> Vec<(String, i64)> { stale_rows(conn) };
        let (old, new) = ("1969-12-31", "1970-01-01");
        assert_eq!(
            stale(),
            [(old.to_owned(), 1), (new.to_owned(), 1)],
            "every entry day starts stale"
        );
        let files: i64 = conn
            .query_row("SELECT count(*) FROM day_files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(files, 0);
        // The days `sql` marked: listed anew or with a bumped counter.
        let marks = |sql: &str| -> Vec<String> {
            let before = stale();
            conn.execute_batch(sql).unwrap();
            stale()
                .into_iter()
                .filter(|row| !before.contains(row))
                .map(|(day, _)| day)
                .collect()
        };
        // An event inserted as the store's ingest inserts it: the row,
        // then its days listed once for the transaction (migration 13).
        let event = |seq: i64, session: &str, at: i64| {
            format!(
                "INSERT INTO events (seq, session_id, attributed_ms, at_ms, offset_s, app)
                 VALUES ({seq}, '{session}', {at}, {at}, 3600, 'Mail');
                 {};",
                STALE_NEW_EVENTS.replace("?1", &(seq - 1).to_string())
            )
        };
        // s7-1's entry covers [0, 120000). An event inside it marks the
        // day; one at its end, one of the active session (no entry) and one
        // of an ended session without entries do not.
        assert_eq!(marks(&event(10, "s7-1", 60000)), [new]);
        assert_eq!(marks(&event(11, "s7-1", 120000)), [] as [&str; 0]);
        assert_eq!(marks(&event(12, "s7-10", 1900000)), [] as [&str; 0]);
        assert_eq!(marks(&event(13, "s7-2", 650000)), [] as [&str; 0]);
        // What the day log shows of an event marks it; its typed text and
        // source do not (the render never reads them).
        assert_eq!(
            marks("UPDATE events SET text = 'x', source = 'y' WHERE seq = 10"),
            [] as [&str; 0]
        );
        assert_eq!(marks("UPDATE events SET title = 'renamed' WHERE seq = 10"), [new]);
        // Moving an event out of the window marks the day it left; the
        // same value set again marks nothing.
        assert_eq!(marks("UPDATE events SET attributed_ms = 130000 WHERE seq = 10"), [new]);
        assert_eq!(
            marks("UPDATE events SET attributed_ms = 130000 WHERE seq = 10"),
            [] as [&str; 0]
        );
        assert_eq!(marks("DELETE FROM events WHERE seq = 10"), [] as [&str; 0]);
        assert_eq!(marks("DELETE FROM events WHERE seq = 1"), [new]);
        // A session with entries: its end marks its days; its retry
        // bookkeeping does not. A session without entries marks nothing.
        assert_eq!(
            marks("UPDATE sessions SET flush_end_ms = 1, retry_count = 3 WHERE id = 's7-1'"),
            [] as [&str; 0]
        );
        assert_eq!(marks("UPDATE sessions SET end_ms = 110000 WHERE id = 's7-1'"), [new]);
        assert_eq!(
            marks("UPDATE sessions SET end_ms = 670000 WHERE id = 's7-2'"),
            [] as [&str; 0]
        );
        // Entries: in, moved to another day (both marked), out.
        assert_eq!(
            marks("INSERT INTO entries VALUES (3, 's7-2', 'final', 600000, 660000, 3600, '1970-01-01', 'b')"),
            [new]
        );
        assert_eq!(marks("UPDATE entries SET day = '1969-12-31' WHERE id = 3"), [old, new]);
        assert_eq!(marks("DELETE FROM entries WHERE id = 2"), [old]);
        // A cleared day comes back with the next change.
        conn.execute_batch("DELETE FROM stale_days").unwrap();
        assert_eq!(marks("DELETE FROM sessions WHERE id = 's7-0'"), [] as [&str; 0]);
        assert_eq!(
            marks("UPDATE sessions SET end_reason = 'timeout' WHERE id = 's7-2'"),
            [old]
        );
        assert_eq!(stale(), [(old.to_owned(), 1)]);
    }

    /// Migration 12: the session triggers of `stale_days` list the same
    /// days as migration 11's (the days of the session's entries, on
    /// insert, delete, a rename, and a change of what the day log shows
    /// of it; nothing for its retry bookkeeping or a session without
    /// entries), without `DISTINCT` and its temporary B-tree per row.
    #[test]
    fn migration_12_session_triggers_list_the_same_days_without_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        let more = "
            INSERT INTO sessions VALUES ('s7-0', -90000000, 3600, 'reduced', -89000000, 'idle_gap', NULL, 0, NULL);
            INSERT INTO entries VALUES (2, 's7-0', 'final', -90000000, -89000000, 3600, '1969-12-31', 'before');
            INSERT INTO entries VALUES (3, 's7-0', 'flush', -89500000, -89400000, 3600, '1969-12-31', 'again');
        ";
        drop(migrated_from(&path, &format!("{ROWS}{more}"), 11));
        // Foreign keys off, so a test can leave entries whose session was
        // renamed or deleted (what the triggers must still list).
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let distinct: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'sessions'
                 AND sql LIKE '%DISTINCT%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(distinct, 0, "a session trigger still selects DISTINCT");
        let marks = |sql: &str| -> Vec<(String, i64)> {
            conn.execute_batch("DELETE FROM stale_days").unwrap();
            conn.execute_batch(sql).unwrap();
            stale_rows(&conn)
        };
        let (old, new) = ("1969-12-31".to_owned(), "1970-01-01".to_owned());
        let none: [(String, i64); 0] = [];
        // Two entries on one day: the day once. (An end, not a status:
        // a status alone lists nothing since migration 15.)
        assert_eq!(
            marks("UPDATE sessions SET end_ms = -88999999 WHERE id = 's7-0'"),
            [(old.clone(), 1)]
        );
        assert_eq!(
            marks("UPDATE sessions SET end_reason = 'timeout' WHERE id = 's7-1'"),
            [(new.clone(), 1)]
        );
        assert_eq!(
            marks("UPDATE sessions SET flush_end_ms = 5, retry_count = 2 WHERE id = 's7-1'"),
            none
        );
        assert_eq!(marks("UPDATE sessions SET end_ms = 670000 WHERE id = 's7-2'"), none);
        // A rename lists the old id's days and the new id's.
        assert_eq!(
            marks("UPDATE sessions SET id = 's7-9' WHERE id = 's7-1'"),
            [(new.clone(), 1)]
        );
        assert_eq!(
            marks("UPDATE sessions SET id = 's7-1' WHERE id = 's7-9'"),
            [(new.clone(), 1)]
        );
        assert_eq!(marks("DELETE FROM sessions WHERE id = 's7-0'"), [(old.clone(), 1)]);
        assert_eq!(
            marks("UPDATE sessions SET id = 's7-0' WHERE id = 's7-2'"),
            [(old.clone(), 1)]
        );
        assert_eq!(
            marks("UPDATE sessions SET id = 's7-2' WHERE id = 's7-0'"),
            [(old.clone(), 1)]
        );
        assert_eq!(
            marks(
                "INSERT INTO sessions VALUES ('s7-0', -90000000, 3600, 'reduced', -89000000, 'idle_gap', NULL, 0, NULL)"
            ),
            [(old.clone(), 1)]
        );
        assert_eq!(
            marks("INSERT INTO sessions VALUES ('s7-5', 5, 3600, 'ended', 6, 'idle_gap', NULL, 0, NULL)"),
            none
        );
        // A day with entries of both ids is bumped by each.
        conn.execute_batch(
            "INSERT INTO entries VALUES (4, 's7-5', 'final', 5, 6, 3600, '1970-01-01', 'b');
             INSERT INTO entries VALUES (5, 's7-8', 'final', -5, -4, 3600, '1969-12-31', 'c');
             INSERT INTO entries VALUES (6, 's7-8', 'flush', 7, 8, 3600, '1970-01-01', 'd');",
        )
        .unwrap();
        assert_eq!(
            marks("UPDATE sessions SET id = 's7-8' WHERE id = 's7-5'"),
            [(old, 1), (new, 2)]
        );
    }

    /// Migration 13 drops the per-row trigger on inserted events and
    /// nothing else: a version-12 database keeps its rows and its other
    /// `stale_days` triggers, and [`STALE_NEW_EVENTS`] lists, for several
    /// events in one statement, exactly the days the trigger listed.
    #[test]
    fn migration_13_moves_the_listing_of_new_events_into_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        let store = migrated_from(&path, ROWS, 12);
        let conn = store.connection();
        let triggers: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'stale%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            triggers,
            [
                "stale_entry_delete",
                "stale_entry_insert",
                "stale_entry_update",
                "stale_event_delete",
                "stale_event_update",
                "stale_session_delete",
                "stale_session_insert",
                "stale_session_update",
            ]
        );
        conn.execute_batch("DELETE FROM stale_days").unwrap();
        // A row alone lists nothing now: the listing is the statement's.
        conn.execute_batch(
            "INSERT INTO events (seq, session_id, attributed_ms, at_ms, offset_s, app)
             VALUES (10, 's7-1', 60000, 60000, 3600, 'Mail')",
        )
        .unwrap();
        let listed = || -> Vec<(String, i64)> { stale_rows(conn) };
        assert_eq!(listed(), []);
        // Events after seq 9: one inside s7-1's entry (its day, once, as
        // two of them still bump it once), one at the entry's end, one
        // of a session without entries: one day listed.
        conn.execute_batch(
            "INSERT INTO events (seq, session_id, attributed_ms, at_ms, offset_s, app) VALUES
                 (11, 's7-1', 0, 0, 3600, 'Mail'),
                 (12, 's7-1', 120000, 120000, 3600, 'Mail'),
                 (13, 's7-2', 650000, 650000, 3600, 'Mail')",
        )
        .unwrap();
        conn.execute(STALE_NEW_EVENTS, [9]).unwrap();
        assert_eq!(listed(), [("1970-01-01".to_owned(), 1)]);
        // Only the rows above the given seq count: 12 and 13 mark nothing.
        conn.execute_batch("DELETE FROM stale_days").unwrap();
        conn.execute(STALE_NEW_EVENTS, [11]).unwrap();
        assert_eq!(listed(), []);
    }

    /// Migration 14: the session trigger no longer lists the days of an
    /// active session ended as `recovered`; the store's two writers of
    /// that change (`recover`, and `end_session` with that reason) list
    /// them themselves in the same transaction, and every other change to
    /// what the day log shows is listed by the trigger as before.
    #[test]
    fn migration_14_leaves_recovered_ends_to_their_writers_and_keeps_every_other_mark() {
        use daybook_core::recovery::{EndBound, RecoveredEnd, RecoveryPlan};
        use daybook_core::{EndReason, SessionId};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        // Active sessions with flush entries on two days (the orphans a
        // crash leaves after a flush), and one without any entry.
        let more = "
            INSERT INTO sessions VALUES
                ('s8-a', 86400000, 0, 'active', NULL, NULL, NULL, 0, 86460000),
                ('s8-b', 172800000, 0, 'active', NULL, NULL, NULL, 0, 172860000),
                ('s8-c', 259200000, 0, 'active', NULL, NULL, NULL, 0, 259260000),
                ('s8-d', 345600000, 0, 'active', NULL, NULL, NULL, 0, NULL);
            INSERT INTO entries VALUES
                (2, 's8-a', 'flush', 86400000, 86460000, 0, '1970-01-02', 'a'),
                (3, 's8-b', 'flush', 172800000, 172860000, 0, '1970-01-03', 'b'),
                (4, 's8-c', 'flush', 259200000, 259260000, 0, '1970-01-04', 'c');
        ";
        let mut store = migrated_from(&path, &format!("{ROWS}{more}"), 13);
        let stale = |store: &SqliteStore| -> Vec<(String, i64)> { stale_rows(store.connection()) };
        let listed = |store: &SqliteStore| -> Vec<String> { stale(store).into_iter().map(|(d, _)| d).collect() };
        store.connection().execute_batch("DELETE FROM stale_days").unwrap();
        // The trigger alone: a recovered end marks nothing, any other end
        // of the same kind of session marks its day.
        let conn = store.connection();
        conn.execute_batch("SAVEPOINT probe").unwrap();
        conn.execute_batch(
            "UPDATE sessions SET status = 'ended', end_ms = 86470000, end_reason = 'recovered' WHERE id = 's8-a'",
        )
        .unwrap();
        assert_eq!(listed(&store), [] as [&str; 0]);
        conn.execute_batch(
            "UPDATE sessions SET status = 'ended', end_ms = 172870000, end_reason = 'idle_gap' WHERE id = 's8-b'",
        )
        .unwrap();
        assert_eq!(listed(&store), ["1970-01-03"]);
        // A recovered end that also moves the start is not the skipped
        // change: the trigger lists it.
        conn.execute_batch(
            "UPDATE sessions SET status = 'ended', start_ms = 259200001, end_ms = 259270000, end_reason = 'recovered'
             WHERE id = 's8-c'",
        )
        .unwrap();
        assert_eq!(listed(&store), ["1970-01-03", "1970-01-04"]);
        conn.execute_batch("ROLLBACK TO probe; RELEASE probe").unwrap();
        assert_eq!(listed(&store), [] as [&str; 0]);
        // The writers: `recover` lists the days of the orphans it ends
        // (s8-a's; s8-d has no entry), `end_session` as `recovered` the
        // days of its session, both committed with the end.
        let end = |id: &str, at: i64| RecoveredEnd {
            id: SessionId(id.into()),
            end: Timestamp(at),
            had_evidence: true,
            bound: EndBound::Evidence,
        };
        store
            .recover(&RecoveryPlan {
                ends: vec![end("s8-a", 86_470_000), end("s8-d", 345_660_000)],
                owners: Vec::new(),
            })
            .unwrap();
        assert_eq!(stale(&store), [("1970-01-02".to_owned(), 1)]);
        store
            .end_session(
                &SessionId("s8-b".into()),
                Timestamp(172_870_000),
                EndReason::Recovered,
                &[],
            )
            .unwrap();
        assert_eq!(listed(&store), ["1970-01-02", "1970-01-03"]);
        let ended: Vec<(String, String, i64)> = store
            .connection()
            .prepare(
                "SELECT id, end_reason, end_ms FROM sessions WHERE id LIKE 's8-%' AND status = 'ended' ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let row = |id: &str, at| (id.to_owned(), "recovered".to_owned(), at);
        assert_eq!(
            ended,
            [
                row("s8-a", 86_470_000),
                row("s8-b", 172_870_000),
                row("s8-d", 345_660_000)
            ]
        );
    }

    /// Migration 15: a change of a session's status alone (ended to
    /// reduced or failed, failed to ended) lists none of its days, as the
    /// day log never reads the status; a change of its end, end reason or
    /// start still lists them, status changed with it or not, and the
    /// recovered end stays skipped.
    #[test]
    fn migration_15_lists_no_day_for_a_status_change_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        let more = "
            INSERT INTO entries VALUES (2, 's7-2', 'flush', 600000, 630000, 3600, '1970-01-02', 'f');
            INSERT INTO entries VALUES (3, 's7-3', 'flush', 1200000, 1230000, 3600, '1970-01-03', 'g');
            INSERT INTO sessions VALUES ('s9-a', 2400000, 3600, 'active', NULL, NULL, NULL, 0, 2460000);
            INSERT INTO entries VALUES (4, 's9-a', 'flush', 2400000, 2460000, 3600, '1970-01-04', 'h');
        ";
        let store = migrated_from(&path, &format!("{ROWS}{more}"), 14);
        let conn = store.connection();
        let marks = |sql: &str| -> Vec<String> {
            conn.execute_batch("DELETE FROM stale_days").unwrap();
            conn.execute_batch(sql).unwrap();
            stale_rows(conn).into_iter().map(|(day, _)| day).collect()
        };
        let none: [&str; 0] = [];
        assert_eq!(
            marks("UPDATE sessions SET status = 'reduced', next_retry_ms = NULL WHERE id = 's7-2'"),
            none
        );
        assert_eq!(
            marks("UPDATE sessions SET status = 'ended', next_retry_ms = NULL WHERE id = 's7-3'"),
            none
        );
        assert_eq!(
            marks("UPDATE sessions SET status = 'failed', next_retry_ms = 1 WHERE id = 's7-3'"),
            none
        );
        assert_eq!(
            marks("UPDATE sessions SET status = 'reduced', next_retry_ms = NULL, end_ms = 640000 WHERE id = 's7-2'"),
            ["1970-01-02"]
        );
        assert_eq!(
            marks("UPDATE sessions SET end_reason = 'timeout' WHERE id = 's7-2'"),
            ["1970-01-02"]
        );
        assert_eq!(
            marks("UPDATE sessions SET start_ms = 600001 WHERE id = 's7-2'"),
            ["1970-01-02"]
        );
        assert_eq!(
            marks("UPDATE sessions SET status = 'ended', end_ms = 2470000, end_reason = 'recovered' WHERE id = 's9-a'"),
            none
        );
        assert_eq!(
            marks("UPDATE sessions SET end_reason = 'idle_gap' WHERE id = 's9-a'"),
            ["1970-01-04"]
        );
    }

    #[test]
    fn a_dangling_reference_stops_the_migration_and_changes_nothing() {
        for journal in ["WAL", "DELETE"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("daybook.db");
            version_1(
                &path,
                &format!("{ROWS} INSERT INTO events VALUES (6, 'gone', 0, 0, 0, 'Code', NULL, NULL, NULL, NULL);"),
                journal,
            );
            let bytes = std::fs::read(&path).unwrap();
            match SqliteStore::open(&path) {
                Err(Error::Damaged { problem, .. }) => assert!(problem.contains("events"), "{journal}: {problem}"),
                other => panic!("{journal}: expected Damaged, got {other:?}"),
            }
            assert!(
                std::fs::read(&path).unwrap() == bytes,
                "{journal}: the refused file was written to"
            );
            assert_eq!(user_version(&path), 1);
        }
    }
}
