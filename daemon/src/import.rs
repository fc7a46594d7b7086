//! `daybook import openchronicle PATH`: brings an OpenChronicle `index.db`
//! into daybook. Sessions keep their ids and status (an `active` one is an
//! orphan that the next startup recovers); timeline blocks come in as loose
//! blocks with no session, which recovery gives owners (SPEC §7). Importing
//! the same file twice adds nothing.
//!
//! OpenChronicle stores instants as ISO-8601 text with offsets; they are
//! parsed into instants here and never compared as text.

use std::path::Path;

use chrono::DateTime;
use daybook_core::{EndReason, LooseBlock, Phase, Session, SessionId, Store, Timestamp, UtcOffset};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result, quote};
use crate::privacy::Privacy;

/// What an import brought in.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    /// Sessions read.
    pub sessions: usize,
    /// Of them, still `active` (orphans for recovery).
    pub orphans: usize,
    /// Timeline blocks read.
    pub blocks: usize,
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Parses an ISO-8601 instant with offset (`T` or space separated).
fn instant(path: &Path, what: &str, s: &str) -> Result<(Timestamp, UtcOffset)> {
    let t = DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)).map_err(|_| {
        bad(
            path,
            format!("{what} {} is not an ISO-8601 instant with an offset", quote(s)),
        )
    })?;
    Ok((Timestamp(t.timestamp_millis()), UtcOffset(t.offset().local_minus_utc())))
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

/// A JSON list of strings or objects as lines; anything else as one line.
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

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    stmt.query_map([], |r| r.get::<_, String>(1))?.collect()
}

/// Reads an OpenChronicle database into sessions and loose blocks.
pub fn read_openchronicle(path: &Path) -> Result<(Vec<Session>, Vec<LooseBlock>)> {
    let db = |source| Error::Database {
        path: path.to_owned(),
        source,
    };
    if !path.is_file() {
        return Err(bad(path, "no such file"));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db)?;
    let session_cols = columns(&conn, "sessions").map_err(db)?;
    let block_cols = columns(&conn, "timeline_blocks").map_err(db)?;
    for (table, cols, need) in [
        ("sessions", &session_cols, &["id", "start_time"][..]),
        ("timeline_blocks", &block_cols, &["id", "start_time", "end_time"][..]),
    ] {
        if let Some(missing) = need.iter().find(|c| !cols.iter().any(|have| have == *c)) {
            return Err(bad(
                path,
                format!("not an OpenChronicle index.db: table {table} has no column {missing}"),
            ));
        }
    }
    let opt = |cols: &[String], c: &str| {
        if cols.iter().any(|x| x == c) {
            c.to_owned()
        } else {
            format!("NULL AS {c}")
        }
    };
    let sql = format!(
        "SELECT id, start_time, {}, {}, {} FROM sessions ORDER BY id",
        opt(&session_cols, "end_time"),
        opt(&session_cols, "status"),
        opt(&session_cols, "end_reason"),
    );
    let mut stmt = conn.prepare(&sql).map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(db)?;
    let mut sessions = Vec::new();
    for row in rows {
        let (id, start, end, status, reason) = row.map_err(db)?;
        let (start, offset) = instant(path, "session start", &start)?;
        let end = end
            .as_deref()
            .map(|e| instant(path, "session end", e))
            .transpose()?
            .map(|(t, _)| t);
        let reason = reason
            .as_deref()
            .and_then(EndReason::parse)
            .unwrap_or(EndReason::IdleGap);
        let phase = match (status.as_deref(), end) {
            (Some("active") | None, None) | (Some("active"), Some(_)) => Phase::Active,
            (Some("reduced"), Some(end)) => Phase::Reduced { end, reason },
            (_, Some(end)) => Phase::Ended { end, reason },
            (Some(other), None) => {
                return Err(bad(path, format!("session {id} is {other:?} but has no end_time")));
            }
        };
        sessions.push(Session {
            id: SessionId(id),
            start,
            offset,
            phase,
            retry_count: 0,
            flush_end: None,
        });
    }
    let sql = format!(
        "SELECT id, start_time, end_time, {}, {}, {} FROM timeline_blocks ORDER BY id",
        opt(&block_cols, "entries"),
        opt(&block_cols, "apps_used"),
        opt(&block_cols, "capture_count"),
    );
    let mut stmt = conn.prepare(&sql).map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .map_err(db)?;
    let mut blocks = Vec::new();
    for row in rows {
        let (id, start, end, entries, apps, count) = row.map_err(db)?;
        let (start, offset) = instant(path, "block start", &start)?;
        let (end, _) = instant(path, "block end", &end)?;
        if end < start {
            return Err(bad(path, format!("timeline block {id} ends before it starts")));
        }
        blocks.push(LooseBlock {
            id: loose_id(&id),
            start,
            end,
            offset,
            lines: entries.as_deref().map(lines).unwrap_or_default(),
            apps: apps.as_deref().map(lines).unwrap_or_default(),
            capture_count: u32::try_from(count.unwrap_or(0).max(0)).unwrap_or(u32::MAX),
        });
    }
    Ok((sessions, blocks))
}

/// Imports `path` into `store` in one transaction, the redaction rules of
/// `privacy` applied to every imported line (what OpenChronicle captured
/// passes the same rules as a new event's text).
pub fn import_openchronicle<S: Store>(store: &mut S, path: &Path, privacy: &Privacy) -> Result<ImportReport> {
    let (sessions, mut blocks) = read_openchronicle(path)?;
    for line in blocks.iter_mut().flat_map(|b| b.lines.iter_mut()) {
        if let std::borrow::Cow::Owned(redacted) = privacy.redact_text(line) {
            *line = redacted;
        }
    }
    store.import(&sessions, &blocks)?;
    Ok(ImportReport {
        sessions: sessions.len(),
        orphans: sessions.iter().filter(|s| s.phase == Phase::Active).count(),
        blocks: blocks.len(),
    })
}
