//! `daybook import openchronicle PATH`: brings a user's OpenChronicle
//! history into daybook.
//!
//! What comes in, from the `index.db` (PATH, or PATH/index.db for a
//! directory) and the `event-YYYY-MM-DD.md` memory files beside it (in
//! its `memory/` folder, where OpenChronicle keeps them, or next to it):
//!
//! - **Sessions**, with their ids, statuses and ends. OpenChronicle records
//!   no reason for an end, so an ended one says `imported`. An `active`
//!   row (or an `ended`/`failed` one with no end) is an orphan: the next
//!   start recovers it by daybook's own rule (SPEC §7).
//! - **Timeline blocks**, each owned by one session: the earliest whose
//!   span overlaps it (an orphan's span reaching to recovery's upper
//!   bound), the rule recovery uses for loose blocks. A block that
//!   overlaps no session stays a loose block, and `doctor` lists it.
//! - **The reducer's entries**, parsed from the memory files, each an
//!   entry of the session its `#sid:` tag names, covering that session's
//!   blocks in its window (a final or heuristic entry covers the rest of
//!   the session). An entry whose session is unknown goes to the session
//!   its window falls in; one that falls in none is kept as an entry of a
//!   session of its own (`oc-entry-<its id>`), never dropped. Superseded
//!   entries (struck through, replaced by a later one) are not imported.
//!   Each imported entry ends with a line naming its OpenChronicle id.
//! - A session that OpenChronicle had reduced but whose blocks its entries
//!   do not all cover (no memory files, or an entry lost) comes in
//!   `ended`, so daybook's own reduction covers the rest at the next start.
//!
//! Everything captured passes the privacy redaction rules on its way in.
//! Instants are parsed into UTC milliseconds and never compared as text;
//! rows are read in order of their parsed instants (SQLite's `julianday`).
//!
//! The input is checked whole before anything is written: a directory
//! without `index.db`, a file that is not SQLite, an empty one, a foreign
//! one and a newer OpenChronicle schema are each refused with a clear error,
//! and so is a row that cannot be read, naming it. Then the rows stream
//! through in transactions of [`BATCH_ROWS`], memory independent of the
//! input's size. Every write is keyed (session id, block window, loose
//! block id, the entry's OpenChronicle id), so importing again adds nothing
//! ("0 new"), and a re-run after a kill continues where the kill left off.

pub mod activitywatch;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use daybook_core::daylog::{day_name, parse_day_name};
use daybook_core::openchronicle::{BlockOwners, MemoryEntry, OwnerSpan, parse_memory_file, window_instants};
use daybook_core::reduction::render_entry;
use daybook_core::{EndReason, EntryKind, Phase, Session, SessionId, Summary, Timestamp, UtcOffset};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;

use crate::clock;
use crate::error::{Error, Result, quote};
use crate::privacy::Privacy;
use crate::store::SqliteStore;

/// Rows written per transaction. Large enough that the fsync of each
/// commit is a small part of the time, small enough that a kill loses
/// little work.
pub const BATCH_ROWS: usize = 5_000;

/// How many rows an import read, and how many of them were new.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Read from the source.
    pub read: u64,
    /// Written for the first time (0 on a repeated import).
    pub new: u64,
}

/// What `daybook import openchronicle` did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct OpenChronicleReport {
    /// The `index.db` read.
    pub index_db: PathBuf,
    /// Sessions.
    pub sessions: Counts,
    /// Of the sessions read, orphans (recovered at the next start).
    pub orphans: u64,
    /// Timeline blocks.
    pub blocks: Counts,
    /// Of the blocks read, those owned by a session.
    pub blocks_owned: u64,
    /// Of the blocks read, those overlapping no session (kept loose).
    pub blocks_unowned: u64,
    /// Memory files (`event-YYYY-MM-DD.md`) read.
    pub memory_files: u64,
    /// Reducer entries (superseded ones not counted).
    pub entries: Counts,
    /// Of the entries read, those whose session was not found by its id.
    pub entries_unmatched: u64,
    /// Entries skipped because a later one superseded them.
    pub entries_superseded: u64,
    /// Sessions in the database waiting for daybook's own reduction (at
    /// the next start, or `daybook reduce-pending`).
    pub pending: u64,
}

impl fmt::Display for OpenChronicleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        writeln!(f, "imported OpenChronicle {}", self.index_db.display())?;
        writeln!(
            f,
            "  sessions: {} new ({} read, {} to recover at the next start)",
            self.sessions.new,
            self.sessions.read,
            plural(self.orphans, "orphan", "orphans"),
        )?;
        writeln!(
            f,
            "  timeline blocks: {} new ({} read: {} owned by their sessions, {} overlapping no session)",
            self.blocks.new, self.blocks.read, self.blocks_owned, self.blocks_unowned
        )?;
        writeln!(
            f,
            "  log entries: {} new ({} read from {}, {} matched by time or kept on their own, {} superseded and skipped)",
            self.entries.new,
            self.entries.read,
            plural(self.memory_files, "memory file", "memory files"),
            self.entries_unmatched,
            self.entries_superseded
        )?;
        if self.pending > 0 || self.orphans > 0 {
            writeln!(
                f,
                "  {} waiting for reduction: `daybook reduce-pending` (or starting the daemon) reduces them{}",
                plural(self.pending, "session", "sessions"),
                if self.orphans > 0 {
                    " and recovers the orphans"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Where OpenChronicle's files are.
#[derive(Debug)]
struct Source {
    db: PathBuf,
    /// Memory files by day, in order.
    memory: Vec<(NaiveDate, PathBuf)>,
}

/// `path` as the user gave it: the `index.db`, or a directory holding it.
fn locate(path: &Path) -> Result<Source> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad(path, "no such file or directory; nothing was imported"),
        _ => Error::Io {
            what: "reading",
            path: path.to_owned(),
            source: e,
        },
    })?;
    let db = if meta.is_dir() {
        let db = path.join("index.db");
        if !db.is_file() {
            return Err(bad(
                path,
                "a directory without an index.db (OpenChronicle keeps it in ~/.openchronicle); nothing was imported",
            ));
        }
        db
    } else {
        path.to_owned()
    };
    let root = db.parent().map_or_else(|| PathBuf::from("."), Path::to_owned);
    let mut memory = Vec::new();
    for dir in [root.join("memory"), root] {
        let Ok(list) = std::fs::read_dir(&dir) else { continue };
        for item in list.flatten() {
            let name = item.file_name();
            let day = name
                .to_str()
                .and_then(|n| n.strip_prefix("event-"))
                .and_then(|n| n.strip_suffix(".md"))
                .and_then(parse_day_name);
            if let Some(day) = day
                && item.path().is_file()
            {
                memory.push((day, item.path()));
            }
        }
    }
    memory.sort();
    Ok(Source { db, memory })
}

/// Columns OpenChronicle's `sessions` and `timeline_blocks` have: the ones
/// daybook needs, then the others it knows. Any other column is a schema
/// newer than this daybook reads.
const SESSION_NEEDS: &[&str] = &["id", "start_time", "end_time", "status"];
const SESSION_KNOWS: &[&str] = &[
    "retry_count",
    "next_retry_at",
    "last_error",
    "created_at",
    "updated_at",
    "flush_end",
    "classified_end",
];
const BLOCK_NEEDS: &[&str] = &["id", "start_time", "end_time", "entries", "apps_used"];
const BLOCK_KNOWS: &[&str] = &["timezone", "capture_count", "created_at"];

/// Opens `db` read-only and checks it is an OpenChronicle `index.db` of a
/// schema this daybook reads. Returns the optional columns present.
fn open_checked(db: &Path) -> Result<(Connection, Vec<String>, Vec<String>)> {
    let sql_err = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => bad(
            db,
            "not a SQLite database, so no OpenChronicle index.db; nothing was imported",
        ),
        _ => Error::Database {
            path: db.to_owned(),
            source: e,
        },
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sql_err)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sql_err)?;
    if tables.is_empty() {
        return Err(bad(
            db,
            "an empty SQLite file (no tables), not an OpenChronicle index.db; nothing was imported",
        ));
    }
    for table in ["sessions", "timeline_blocks"] {
        if !tables.iter().any(|t| t == table) {
            return Err(bad(
                db,
                format!(
                    "not an OpenChronicle index.db: it has no table {table} (its tables: {}); nothing was imported",
                    tables.join(", ")
                ),
            ));
        }
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_err)?;
    if version != 0 {
        return Err(bad(
            db,
            format!(
                "a newer OpenChronicle schema (user_version {version}; the one daybook reads has none); nothing was imported"
            ),
        ));
    }
    let mut optional = Vec::new();
    for (table, needs, knows) in [
        ("sessions", SESSION_NEEDS, SESSION_KNOWS),
        ("timeline_blocks", BLOCK_NEEDS, BLOCK_KNOWS),
    ] {
        let cols: Vec<String> = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .and_then(|mut s| s.query_map([], |r| r.get(1))?.collect())
            .map_err(sql_err)?;
        if let Some(missing) = needs.iter().find(|c| !cols.iter().any(|have| have == *c)) {
            return Err(bad(
                db,
                format!("not an OpenChronicle index.db: table {table} has no column {missing}; nothing was imported"),
            ));
        }
        if let Some(unknown) = cols
            .iter()
            .find(|c| !needs.contains(&c.as_str()) && !knows.contains(&c.as_str()))
        {
            return Err(bad(
                db,
                format!(
                    "a newer OpenChronicle schema: table {table} has a column {unknown} this daybook does not know; nothing was imported"
                ),
            ));
        }
        optional.push(cols);
    }
    let blocks = optional.pop().unwrap_or_default();
    let sessions = optional.pop().unwrap_or_default();
    Ok((conn, sessions, blocks))
}

/// Parses an ISO-8601 instant with offset (`T` or space separated, as
/// Python's `isoformat` writes it).
fn instant(db: &Path, what: &str, s: &str) -> Result<(Timestamp, UtcOffset)> {
    let t = DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)).map_err(|_| {
        bad(
            db,
            format!(
                "{what} {} is not an ISO-8601 instant with an offset; nothing was imported",
                quote(s)
            ),
        )
    })?;
    Ok((Timestamp(t.timestamp_millis()), UtcOffset(t.offset().local_minus_utc())))
}

/// A JSON list of strings (OpenChronicle's `entries`, `apps_used`);
/// anything else as one line, so nothing is lost.
fn lines(raw: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ if raw.trim().is_empty() => Vec::new(),
        _ => vec![raw.to_owned()],
    }
}

/// `column` if the table has it, else `NULL`.
fn optional(cols: &[String], column: &str) -> String {
    if cols.iter().any(|c| c == column) {
        column.to_owned()
    } else {
        "NULL".to_owned()
    }
}

/// Orders rows by the instant a TEXT column holds, not by its text.
const BY_START: &str = "ORDER BY julianday(start_time), id";

/// A session row as read.
#[derive(Debug)]
struct OcSession {
    id: String,
    start: Timestamp,
    offset: UtcOffset,
    end: Option<Timestamp>,
    status: String,
    retry_count: u32,
    next_retry: Option<Timestamp>,
    flush_end: Option<Timestamp>,
}

impl OcSession {
    fn session(&self) -> Session {
        let reason = EndReason::Imported;
        let phase = match (self.status.as_str(), self.end) {
            (_, None) | ("active", _) => Phase::Active,
            ("reduced", Some(end)) => Phase::Reduced { end, reason },
            ("failed", Some(end)) => Phase::Failed {
                end,
                reason,
                next_retry_at: self.next_retry.unwrap_or(end),
            },
            (_, Some(end)) => Phase::Ended { end, reason },
        };
        let active = phase == Phase::Active;
        Session {
            id: SessionId(self.id.clone()),
            start: self.start,
            offset: self.offset,
            phase,
            retry_count: if active { 0 } else { self.retry_count },
            flush_end: if active { None } else { self.flush_end },
        }
    }
}

fn session_sql(cols: &[String]) -> String {
    format!(
        "SELECT id, start_time, end_time, status, {}, {}, {} FROM sessions {BY_START}",
        optional(cols, "retry_count"),
        optional(cols, "next_retry_at"),
        optional(cols, "flush_end"),
    )
}

type SessionRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn read_session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn session_of(db: &Path, row: SessionRow) -> Result<OcSession> {
    let (id, start, end, status, retry, next_retry, flush_end) = row;
    let what = |w: &str| format!("session {} {w}", quote(&id));
    let (start, offset) = instant(db, &what("start_time"), &start)?;
    let opt = |v: Option<String>, w: &str| -> Result<Option<Timestamp>> {
        v.filter(|s| !s.is_empty())
            .map(|s| instant(db, &what(w), &s).map(|(t, _)| t))
            .transpose()
    };
    let end = opt(end, "end_time")?;
    let status = status.unwrap_or_else(|| "active".to_owned());
    if !["active", "ended", "reduced", "failed"].contains(&status.as_str()) {
        return Err(bad(
            db,
            format!(
                "{} is {}, not a status OpenChronicle writes (active, ended, reduced, failed); nothing was imported",
                what("status"),
                quote(&status)
            ),
        ));
    }
    if let Some(end) = end {
        in_order(db, &format!("session {}", quote(&id)), start, end)?;
    }
    Ok(OcSession {
        start,
        offset,
        end,
        status,
        retry_count: stored_count(retry),
        next_retry: opt(next_retry, "next_retry_at")?,
        flush_end: opt(flush_end, "flush_end")?,
        id,
    })
}

/// Refuses a row (`what`: `session "id"`, `timeline block "id"`) that
/// ends before it starts.
fn in_order(db: &Path, what: &str, start: Timestamp, end: Timestamp) -> Result<()> {
    if end < start {
        return Err(bad(db, format!("{what} ends before it starts; nothing was imported")));
    }
    Ok(())
}

/// A stored count as daybook keeps it: none or negative is 0, and one
/// past `u32` is `u32::MAX`.
fn stored_count(v: Option<i64>) -> u32 {
    u32::try_from(v.unwrap_or(0).max(0)).unwrap_or(u32::MAX)
}

/// A timeline block as read.
#[derive(Debug)]
struct OcBlock {
    id: String,
    start: Timestamp,
    end: Timestamp,
    offset: UtcOffset,
    lines: Vec<String>,
    apps: Vec<String>,
    capture_count: u32,
}

fn block_sql(cols: &[String]) -> String {
    format!(
        "SELECT id, start_time, end_time, entries, apps_used, {} FROM timeline_blocks {BY_START}",
        optional(cols, "capture_count")
    )
}

type BlockRow = (String, String, String, Option<String>, Option<String>, Option<i64>);

fn read_block_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlockRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn block_of(db: &Path, row: BlockRow) -> Result<OcBlock> {
    let (id, start, end, entries, apps, count) = row;
    let what = |w: &str| format!("timeline block {} {w}", quote(&id));
    let (start, offset) = instant(db, &what("start_time"), &start)?;
    let (end, _) = instant(db, &what("end_time"), &end)?;
    in_order(db, &format!("timeline block {}", quote(&id)), start, end)?;
    Ok(OcBlock {
        id,
        start,
        end,
        offset,
        lines: entries.as_deref().map(lines).unwrap_or_default(),
        apps: apps.as_deref().map(lines).unwrap_or_default(),
        capture_count: stored_count(count),
    })
}

/// A stable 63-bit id for a text id (FNV-1a), so re-importing maps the same
/// OpenChronicle block to the same loose block.
fn loose_id(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & 0x7fff_ffff_ffff_ffff
}

fn db_err(db: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Database {
        path: db.to_owned(),
        source,
    }
}

type CoreResult<T> = std::result::Result<T, daybook_core::Error>;

fn storage(e: rusqlite::Error) -> daybook_core::Error {
    daybook_core::Error::Storage(Box::new(e))
}

/// Imports OpenChronicle's data at `path` into `store` (see the module
/// docs), every captured text through `privacy`, orphans' spans bounded by
/// `max_session`. Day files are the caller's to rewrite.
pub fn import_openchronicle(
    store: &mut SqliteStore,
    path: &Path,
    privacy: &Privacy,
    max_session: std::time::Duration,
) -> Result<OpenChronicleReport> {
    let source = locate(path)?;
    let db = source.db.as_path();
    let (conn, session_cols, block_cols) = open_checked(db)?;
    let mut report = OpenChronicleReport {
        index_db: db.to_owned(),
        ..OpenChronicleReport::default()
    };

    // Check every row before the first write.
    {
        let mut stmt = conn.prepare(&session_sql(&session_cols)).map_err(db_err(db))?;
        for row in stmt.query_map([], read_session_row).map_err(db_err(db))? {
            let s = session_of(db, row.map_err(db_err(db))?)?;
            report.sessions.read += 1;
            report.orphans += u64::from(s.session().phase == Phase::Active);
        }
        let mut stmt = conn.prepare(&block_sql(&block_cols)).map_err(db_err(db))?;
        for row in stmt.query_map([], read_block_row).map_err(db_err(db))? {
            block_of(db, row.map_err(db_err(db))?)?;
            report.blocks.read += 1;
        }
    }

    // Sessions.
    {
        let mut stmt = conn.prepare(&session_sql(&session_cols)).map_err(db_err(db))?;
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        let mut rows = stmt.query_map([], read_session_row).map_err(db_err(db))?;
        loop {
            let next = rows.next().transpose().map_err(db_err(db))?;
            let done = next.is_none();
            if let Some(row) = next {
                batch.push(session_of(db, row)?.session());
            }
            if batch.len() == BATCH_ROWS || (done && !batch.is_empty()) {
                report.sessions.new += store.write(|tx| {
                    let mut new = 0;
                    for s in &batch {
                        new += SqliteStore::insert_session(tx, s)? as u64;
                    }
                    Ok(new)
                })?;
                batch.clear();
            }
            if done {
                break;
            }
        }
    }

    // Blocks, each with its owner.
    {
        let mut spans_stmt = conn.prepare(&session_sql(&session_cols)).map_err(db_err(db))?;
        let mut spans = spans_stmt
            .query_map([], read_session_row)
            .map_err(db_err(db))?
            .map(|r| r.map_err(db_err(db)).and_then(|row| session_of(db, row)))
            .peekable();
        let mut owners = BlockOwners::new();
        let mut waiting: Option<OwnerSpan> = None;
        let mut blocks_stmt = conn.prepare(&block_sql(&block_cols)).map_err(db_err(db))?;
        let mut blocks = blocks_stmt.query_map([], read_block_row).map_err(db_err(db))?;
        let mut batch: Vec<(OcBlock, Option<SessionId>)> = Vec::with_capacity(BATCH_ROWS);
        loop {
            let next = blocks.next().transpose().map_err(db_err(db))?;
            let done = next.is_none();
            if let Some(row) = next {
                let mut b = block_of(db, row)?;
                loop {
                    if waiting.is_none() {
                        waiting = match spans.next().transpose()? {
                            None => None,
                            Some(s) => {
                                let next_start = spans.peek().and_then(|n| n.as_ref().ok()).map(|n| n.start);
                                Some(span(&s, next_start, max_session))
                            }
                        };
                    }
                    match waiting.take() {
                        Some(s) if s.start < b.end => owners.push(s),
                        other => {
                            waiting = other;
                            break;
                        }
                    }
                }
                let owner = owners.owner(b.start, b.end).cloned();
                for line in &mut b.lines {
                    if let std::borrow::Cow::Owned(redacted) = privacy.redact_text(line) {
                        *line = redacted;
                    }
                }
                if owner.is_some() {
                    report.blocks_owned += 1;
                } else {
                    report.blocks_unowned += 1;
                }
                batch.push((b, owner));
            }
            if batch.len() == BATCH_ROWS || (done && !batch.is_empty()) {
                report.blocks.new += store.write(|tx| write_blocks(tx, &batch))?;
                batch.clear();
            }
            if done {
                break;
            }
        }
    }

    // The reducer's entries, a memory file per transaction.
    for (day, file) in &source.memory {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
            what: "reading",
            path: file.clone(),
            source,
        })?;
        report.memory_files += 1;
        let parsed = parse_memory_file(&text);
        report.entries_superseded += parsed.iter().filter(|e| e.superseded).count() as u64;
        let live: Vec<&MemoryEntry> = parsed.iter().filter(|e| !e.superseded).collect();
        report.entries.read += live.len() as u64;
        let (new, unmatched) = store.write(|tx| {
            let mut counts = (0, 0);
            for e in &live {
                let (added, matched) = write_entry(tx, *day, e, privacy, max_session)?;
                counts.0 += u64::from(added);
                counts.1 += u64::from(!matched);
            }
            Ok(counts)
        })?;
        report.entries.new += new;
        report.entries_unmatched += unmatched;
    }

    // A reduced session whose blocks the entries left uncovered is reduced
    // again, by daybook, for the rest.
    {
        let mut stmt = conn
            .prepare("SELECT id FROM sessions WHERE status = 'reduced' AND end_time IS NOT NULL")
            .map_err(db_err(db))?;
        let ids: Vec<String> = Vec::new();
        let mut rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err(db))?;
        let mut batch = ids;
        loop {
            let next = rows.next().transpose().map_err(db_err(db))?;
            if let Some(id) = &next {
                batch.push(id.clone());
            }
            if batch.len() == BATCH_ROWS || (next.is_none() && !batch.is_empty()) {
                store.write(|tx| {
                    let mut reopen = tx
                        .prepare_cached(concat!(
                            "UPDATE sessions SET status = 'ended' WHERE id = ?1 AND status = 'reduced'
                               AND EXISTS (SELECT 1 FROM blocks b WHERE b.session_id = ?1 AND ",
                            crate::store::covering_entry!(),
                            " IS NULL)"
                        ))
                        .map_err(storage)?;
                    for id in &batch {
                        reopen.execute([id]).map_err(storage)?;
                    }
                    Ok(())
                })?;
                batch.clear();
            }
            if next.is_none() {
                break;
            }
        }
    }
    let counts = store.status_counts()?;
    report.pending = counts.ended + counts.failed;
    Ok(report)
}

/// The ownership span of a session read from OpenChronicle.
fn span(s: &OcSession, next_start: Option<Timestamp>, max_session: std::time::Duration) -> OwnerSpan {
    let end = match s.session().phase.end() {
        Some(end) => end,
        None => {
            let cap = s.start + max_session;
            next_start.map_or(cap, |n| n.min(cap)).max(s.start)
        }
    };
    OwnerSpan {
        id: SessionId(s.id.clone()),
        start: s.start,
        end,
    }
}

/// Writes a batch of blocks; returns how many were new. A block whose
/// window its owner already holds with other content (OpenChronicle keys
/// blocks by start and end, daybook by session and start) is kept loose.
fn write_blocks(tx: &Transaction<'_>, batch: &[(OcBlock, Option<SessionId>)]) -> CoreResult<u64> {
    let json = |v: &[String]| serde_json::to_string(v).expect("a list of strings serializes");
    let mut owned = tx
        .prepare_cached(
            "INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (session_id, start_ms, rev) DO NOTHING",
        )
        .map_err(storage)?;
    let mut same = tx
        .prepare_cached(
            "SELECT 1 FROM blocks WHERE session_id = ?1 AND start_ms = ?2 AND end_ms = ?3 AND lines = ?4 AND apps = ?5",
        )
        .map_err(storage)?;
    let mut loose = tx
        .prepare_cached(
            "INSERT INTO loose_blocks (id, start_ms, end_ms, offset_s, lines, apps, capture_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        )
        .map_err(storage)?;
    let mut new = 0;
    for (b, owner) in batch {
        let (lines, apps) = (json(&b.lines), json(&b.apps));
        if let Some(owner) = owner {
            let added = owned
                .execute(params![
                    owner.0,
                    b.start.0,
                    b.end.0,
                    b.offset.0,
                    lines,
                    apps,
                    b.capture_count
                ])
                .map_err(storage)?;
            if added == 1 {
                // A run of an entry imported before that spans it is
                // split; the reopening pass below finds it uncovered.
                SqliteStore::split_run(tx, owner, b.start.0, 0)?;
                new += 1;
                continue;
            }
            let already = same
                .query_row(params![owner.0, b.start.0, b.end.0, lines, apps], |_| Ok(()))
                .optional()
                .map_err(storage)?;
            if already.is_some() {
                continue;
            }
        }
        new += loose
            .execute(params![
                loose_id(&b.id) as i64,
                b.start.0,
                b.end.0,
                b.offset.0,
                lines,
                apps,
                b.capture_count
            ])
            .map_err(storage)? as u64;
    }
    Ok(new)
}

/// The line every imported entry ends with: where it came from, and the
/// key that makes a repeated import skip it.
fn provenance(id: &str) -> String {
    format!("(imported from OpenChronicle entry {id})")
}

/// A session as an entry's target: `(id, start, offset, end)`.
type Target = (String, Timestamp, UtcOffset, Option<Timestamp>);

fn target_by_id(tx: &Transaction<'_>, id: &SessionId) -> CoreResult<Option<Target>> {
    tx.prepare_cached("SELECT id, start_ms, offset_s, end_ms FROM sessions WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([&id.0], |r| {
                Ok((
                    r.get(0)?,
                    Timestamp(r.get(1)?),
                    UtcOffset(r.get(2)?),
                    r.get::<_, Option<i64>>(3)?.map(Timestamp),
                ))
            })
            .optional()
        })
        .map_err(storage)
}

/// The session whose span holds `[from, to]`'s start: the latest that
/// starts by `to`, if it has not ended by `from` (an orphan reaches at
/// most `max_session` past its start, as recovery bounds it).
fn target_by_time(
    tx: &Transaction<'_>,
    from: Timestamp,
    to: Timestamp,
    max_session: std::time::Duration,
) -> CoreResult<Option<Target>> {
    let found = tx
        .prepare_cached(
            "SELECT id, start_ms, offset_s, end_ms FROM sessions WHERE start_ms <= ?1 ORDER BY start_ms DESC, id DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([to.0], |r| {
                Ok((r.get(0)?, Timestamp(r.get(1)?), UtcOffset(r.get(2)?), r.get::<_, Option<i64>>(3)?.map(Timestamp)))
            })
            .optional()
        })
        .map_err(storage)?;
    Ok(found.filter(|(_, start, _, end): &Target| {
        let end = end.unwrap_or(*start + max_session);
        end > from || (*start == from && end == from)
    }))
}

/// The latest `to` of the entries of `session` (they lie on the days from
/// its start on; the day index finds them without a scan).
fn last_entry_end(
    tx: &Transaction<'_>,
    session: &str,
    start: Timestamp,
    offset: UtcOffset,
) -> CoreResult<Option<Timestamp>> {
    let first = start.local_date(offset);
    let last = first + chrono::Days::new(3);
    tx.prepare_cached("SELECT max(to_ms) FROM entries WHERE day >= ?1 AND day <= ?2 AND session_id = ?3")
        .and_then(|mut s| {
            s.query_row(params![day_name(first), day_name(last), session], |r| {
                r.get::<_, Option<i64>>(0)
            })
        })
        .map(|t| t.map(Timestamp))
        .map_err(storage)
}

/// Writes one entry unless an earlier import did; returns `(added,
/// matched by its session id)`.
fn write_entry(
    tx: &Transaction<'_>,
    day: NaiveDate,
    e: &MemoryEntry,
    privacy: &Privacy,
    max_session: std::time::Duration,
) -> CoreResult<(bool, bool)> {
    let mark = provenance(&e.id);
    let (lo, hi) = (day - chrono::Days::new(1), day + chrono::Days::new(3));
    let seen = tx
        .prepare_cached("SELECT 1 FROM entries WHERE day >= ?1 AND day <= ?2 AND instr(body, ?3) > 0 LIMIT 1")
        .and_then(|mut s| {
            s.query_row(params![day_name(lo), day_name(hi), mark], |_| Ok(()))
                .optional()
        })
        .map_err(storage)?;
    let by_id = match &e.session {
        Some(id) => target_by_id(tx, id)?,
        None => None,
    };
    let matched = by_id.is_some();
    if seen.is_some() {
        return Ok((false, matched));
    }
    // The offset of a time with no session of its own: that of the
    // session nearest the day (the user's zone then), else this machine's.
    let zone = {
        let noon = day.and_hms_opt(12, 0, 0).expect("noon").and_utc().timestamp_millis();
        let near = tx
            .prepare_cached(
                "SELECT offset_s FROM (
                   SELECT * FROM (SELECT offset_s, start_ms FROM sessions WHERE start_ms <= ?1 ORDER BY start_ms DESC LIMIT 1)
                   UNION ALL
                   SELECT * FROM (SELECT offset_s, start_ms FROM sessions WHERE start_ms > ?1 ORDER BY start_ms LIMIT 1))
                 ORDER BY abs(start_ms - ?1) LIMIT 1",
            )
            .and_then(|mut s| s.query_row([noon], |r| r.get::<_, i32>(0)).optional())
            .map_err(storage)?;
        near.map_or_else(|| clock::local_offset(Timestamp(noon)), UtcOffset)
    };
    let local_midnight =
        Timestamp(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() - i64::from(zone.0) * 1000);
    // The window: from the header, in the session's offset; without a
    // header, the minute the entry was written.
    let window = |offset: UtcOffset, not_before: Timestamp| match e.window {
        Some(w) => window_instants(day, w, offset, not_before),
        None => {
            let t = NaiveDateTime::parse_from_str(&e.written, "%Y-%m-%dT%H:%M")
                .map_or(local_midnight.0 + i64::from(zone.0) * 1000, |t| {
                    t.and_utc().timestamp_millis()
                });
            let t = Timestamp(t - i64::from(offset.0) * 1000);
            (t, t)
        }
    };
    let target = match by_id {
        Some(t) => Some(t),
        None => {
            let (from, to) = window(zone, local_midnight);
            target_by_time(tx, from, to, max_session)?
        }
    };
    let redact = |s: &str| privacy.redact_text(s).into_owned();
    let summary = Summary {
        summary: redact(&e.summary),
        lines: e.lines.iter().map(|l| redact(l)).collect(),
    };
    let (session, offset, from, to, covered) = match target {
        Some((id, start, offset, end)) => {
            let (wf, wt) = window(offset, start);
            let blocks: Vec<(Timestamp, Timestamp)> = {
                let sql = if e.kind == EntryKind::Flush {
                    concat!(
                        "SELECT b.start_ms, b.end_ms FROM blocks b WHERE b.session_id = ?1 AND b.rev = 0 AND ",
                        crate::store::covering_entry!(),
                        " IS NULL AND b.start_ms < ?3 AND b.end_ms > ?2 ORDER BY b.start_ms"
                    )
                } else {
                    concat!(
                        "SELECT b.start_ms, b.end_ms FROM blocks b WHERE b.session_id = ?1 AND b.rev = 0 AND ",
                        crate::store::covering_entry!(),
                        " IS NULL AND ?2 = ?2 AND ?3 = ?3 ORDER BY b.start_ms"
                    )
                };
                let mut stmt = tx.prepare_cached(sql).map_err(storage)?;
                stmt.query_map(params![id, wf.0, wt.0], |r| {
                    Ok((Timestamp(r.get(0)?), Timestamp(r.get(1)?)))
                })
                .and_then(Iterator::collect)
                .map_err(storage)?
            };
            let mut from = blocks.first().map_or(wf, |b| b.0.min(wf));
            let mut to = blocks.last().map_or(wt, |b| b.1.max(wt));
            if let Some(end) = end
                && blocks.is_empty()
            {
                // An entry covering nothing stays inside its session.
                to = to.min(end.max(start));
                from = from.min(to).max(start);
            }
            if let Some(prev) = last_entry_end(tx, &id, start, offset)?
                && prev > from
            {
                from = prev;
            }
            to = to.max(from);
            let covered: Vec<Timestamp> = blocks
                .iter()
                .filter(|(s, t)| *s >= from && *t <= to)
                .map(|(s, _)| *s)
                .collect();
            (id, offset, from, to, covered)
        }
        None => {
            let offset = zone;
            let (from, to) = window(offset, local_midnight);
            let id = format!("oc-entry-{}", e.id);
            let s = Session {
                id: SessionId(id.clone()),
                start: from,
                offset,
                phase: Phase::Reduced {
                    end: to,
                    reason: EndReason::Imported,
                },
                retry_count: 0,
                flush_end: Some(to),
            };
            SqliteStore::insert_session(tx, &s)?;
            (id, offset, from, to, Vec::new())
        }
    };
    let sid = SessionId(session.clone());
    let mut body = render_entry(&sid, e.kind, from, to, offset, &summary);
    body.push('\n');
    body.push_str(&mark);
    body.push('\n');
    tx.prepare_cached(
        "INSERT INTO entries (session_id, kind, from_ms, to_ms, offset_s, day, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            session,
            e.kind.as_str(),
            from.0,
            to.0,
            offset.0,
            day_name(from.local_date(offset)),
            body
        ])
    })
    .map_err(storage)?;
    let entry = tx.last_insert_rowid();
    let covered: Vec<(i64, u32)> = covered.iter().map(|start| (start.0, 0)).collect();
    SqliteStore::cover(tx, &sid, Some(entry), &covered)?;
    tx.prepare_cached(
        "UPDATE sessions SET flush_end_ms = max(coalesce(flush_end_ms, ?2), ?2) WHERE id = ?1 AND status <> 'active'",
    )
    .and_then(|mut s| s.execute(params![session, to.0]))
    .map_err(storage)?;
    Ok((true, matched))
}
