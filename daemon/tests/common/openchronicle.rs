//! Writes what OpenChronicle writes: its `index.db` (every table its
//! `store.fts.connect` creates, in WAL mode, rows as its session, timeline
//! and FTS stores insert and update them) and the `memory/event-DAY.md`
//! files its session reducer appends to (python-frontmatter's YAML front
//! matter, entry headings, the reducer's body with its drill-down
//! pointers). Timestamps are Python `isoformat()` text with offsets
//! (microseconds only when non-zero), lists are `json.dumps` with
//! `ensure_ascii=False`. Written from reading OpenChronicle's
//! `session/store.py`, `timeline/store.py`, `store/fts.py`,
//! `store/files.py`, `store/entries.py` and `writer/session_reducer.py`,
//! and checked against files its code wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, Timelike};
use rusqlite::{Connection, params};

/// The tables `openchronicle.store.fts.connect` creates.
const SCHEMA: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS entries USING fts5(
    id UNINDEXED, path UNINDEXED, prefix UNINDEXED, timestamp UNINDEXED,
    tags, content, superseded UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, prefix TEXT, description TEXT, tags TEXT, status TEXT,
    entry_count INTEGER, created TEXT, updated TEXT, needs_compact INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_files_status ON files(status);
CREATE INDEX IF NOT EXISTS idx_files_prefix ON files(prefix);
CREATE TABLE IF NOT EXISTS captures (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, timestamp TEXT NOT NULL,
    app_name TEXT, bundle_id TEXT, window_title TEXT, focused_role TEXT, focused_value TEXT,
    visible_text TEXT, url TEXT
);
CREATE INDEX IF NOT EXISTS idx_captures_ts  ON captures(timestamp);
CREATE INDEX IF NOT EXISTS idx_captures_app ON captures(app_name);
CREATE VIRTUAL TABLE IF NOT EXISTS captures_fts USING fts5(
    app_name, window_title, focused_value, visible_text, url,
    content='captures', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS timeline_blocks (
    id TEXT PRIMARY KEY, start_time TEXT NOT NULL, end_time TEXT NOT NULL,
    timezone TEXT NOT NULL DEFAULT '', entries TEXT NOT NULL, apps_used TEXT NOT NULL,
    capture_count INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    UNIQUE(start_time, end_time)
);
CREATE INDEX IF NOT EXISTS idx_tlb_start ON timeline_blocks(start_time);
CREATE INDEX IF NOT EXISTS idx_tlb_end ON timeline_blocks(end_time);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, start_time TEXT NOT NULL, end_time TEXT,
    status TEXT NOT NULL DEFAULT 'active', retry_count INTEGER NOT NULL DEFAULT 0,
    next_retry_at TEXT, last_error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    flush_end TEXT, classified_end TEXT
);
CREATE INDEX IF NOT EXISTS idx_sessions_status ON sessions(status);
CREATE INDEX IF NOT EXISTS idx_sessions_start ON sessions(start_time);
CREATE INDEX IF NOT EXISTS idx_sessions_retry ON sessions(next_retry_at) WHERE status = 'failed';
";

/// Python's `datetime.isoformat()` of an aware datetime.
pub fn iso(t: DateTime<FixedOffset>) -> String {
    let micros = t.nanosecond() / 1000;
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!("{base}{frac}{}", t.format("%:z"))
}

/// `json.dumps(list_of_str, ensure_ascii=False)`: `", "` between items.
pub fn py_json(items: &[String]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).expect("a string"))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// A session row as OpenChronicle leaves it.
#[derive(Clone, Debug)]
pub struct Session {
    /// `sess_` and 12 hex digits.
    pub id: String,
    /// Its start (the first capture, local time).
    pub start: DateTime<FixedOffset>,
    /// Its end (the last capture), once ended.
    pub end: Option<DateTime<FixedOffset>>,
    /// `active`, `ended`, `reduced` or `failed`.
    pub status: &'static str,
    /// Failures of its reduction.
    pub retry_count: i64,
    /// Where its last flush or final reduction reached.
    pub flush_end: Option<DateTime<FixedOffset>>,
}

/// A timeline block.
#[derive(Clone, Debug)]
pub struct Block {
    /// Window start.
    pub start: DateTime<FixedOffset>,
    /// Window end.
    pub end: DateTime<FixedOffset>,
    /// The normalized entries (`[App] context: what happened …`).
    pub entries: Vec<String>,
    /// Apps seen.
    pub apps: Vec<String>,
    /// Captures in the window.
    pub captures: i64,
}

/// One reducer entry of a session.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The session.
    pub session: String,
    /// The session's start: its local date names the file.
    pub session_start: DateTime<FixedOffset>,
    /// The reduced window.
    pub from: DateTime<FixedOffset>,
    /// Its end.
    pub to: DateTime<FixedOffset>,
    /// Written while the session was active.
    pub flush: bool,
    /// The model failed; the heuristic wrote it.
    pub heuristic: bool,
    /// The model's summary.
    pub summary: String,
    /// Sub-task lines, `[HH:MM-HH:MM, App] …`.
    pub sub_tasks: Vec<String>,
}

/// An OpenChronicle root (`~/.openchronicle`) being written.
pub struct Root {
    root: PathBuf,
    conn: Connection,
    /// Per memory file: its creation date and entries written so far.
    files: BTreeMap<NaiveDate, (NaiveDate, Vec<String>)>,
    serial: u64,
}

impl Root {
    /// Creates `root` with `index.db` and `memory/`, as `paths.ensure_dirs`
    /// and `fts.connect` do.
    pub fn create(root: &Path) -> Self {
        for d in ["memory", "capture-buffer", "logs"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let conn = Connection::open(root.join("index.db")).expect("index.db");
        conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
        conn.pragma_update(None, "synchronous", "NORMAL").expect("sync");
        conn.execute_batch(SCHEMA).expect("schema");
        Self {
            root: root.to_owned(),
            conn,
            files: BTreeMap::new(),
            serial: 0,
        }
    }

    /// `index.db`.
    pub fn index_db(&self) -> PathBuf {
        self.root.join("index.db")
    }

    /// The connection, for writing many rows in one transaction.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn hex(&mut self, digits: usize) -> String {
        self.serial += 1;
        let mut x = self.serial.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 29;
        format!("{:0width$x}", x & ((1u64 << (4 * digits)) - 1), width = digits)
    }

    /// A session id as `SessionManager._start_locked` makes one.
    pub fn session_id(&mut self) -> String {
        format!("sess_{}", self.hex(12))
    }

    /// The session row after its life: `insert`, then `mark_ended`,
    /// `set_flush_end`, `mark_failed` or `mark_reduced` as its status says.
    pub fn session(&mut self, s: &Session) {
        let created = iso(s.start + chrono::Duration::microseconds(250_113));
        let updated = iso(s.end.unwrap_or(s.start) + chrono::Duration::microseconds(431_907));
        let (next_retry, error) = if s.status == "failed" {
            let t = s.end.expect("a failed session has ended") + chrono::Duration::minutes(5);
            (
                Some(iso(t)),
                "reducer LLM call failed or returned unparseable JSON".to_owned(),
            )
        } else {
            (None, String::new())
        };
        self.conn
            .execute(
                "INSERT OR IGNORE INTO sessions
                   (id, start_time, end_time, status, retry_count, next_retry_at, last_error, created_at, updated_at, flush_end)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    s.id,
                    iso(s.start),
                    s.end.map(iso),
                    s.status,
                    s.retry_count,
                    next_retry,
                    error,
                    created,
                    updated,
                    s.flush_end.map(iso)
                ],
            )
            .expect("session");
    }

    /// A timeline block as `timeline.store.insert` writes it.
    pub fn block(&mut self, b: &Block) {
        let id = format!("tlb-{}-{}", b.start.format("%Y%m%d-%H%M"), self.hex(4));
        let tz = match b.start.offset().local_minus_utc() {
            3600 => "CET".to_owned(),
            7200 => "CEST".to_owned(),
            0 => "UTC".to_owned(),
            s => format!("UTC{:+03}:{:02}", s / 3600, (s.abs() % 3600) / 60),
        };
        self.conn
            .execute(
                "INSERT OR IGNORE INTO timeline_blocks
                   (id, start_time, end_time, timezone, entries, apps_used, capture_count, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    iso(b.start),
                    iso(b.end),
                    tz,
                    py_json(&b.entries),
                    py_json(&b.apps),
                    b.captures,
                    iso(b.end + chrono::Duration::microseconds(1_204_330))
                ],
            )
            .expect("block");
    }

    /// Appends a reducer entry to its day's memory file (created on first
    /// use), with its FTS row and the file's row, as
    /// `session_reducer._append_event_entry` does. Written a few seconds
    /// after its window ends. Returns the entry's id.
    pub fn entry(&mut self, e: &Entry) -> String {
        let written = e.to + chrono::Duration::seconds(7);
        let ts = written.format("%Y-%m-%dT%H:%M").to_string();
        let id = format!("{}-{}", written.format("%Y%m%d-%H%M"), self.hex(6));
        let mut tags = vec!["session".to_owned(), format!("sid:{}", e.session)];
        if e.flush {
            tags.push("flush".to_owned());
        }
        if e.heuristic {
            tags.push("heuristic".to_owned());
        }
        let marker = if e.flush { " [flush]" } else { "" };
        let mut body = vec![format!(
            "**Session {}{marker}** ({}–{})",
            e.session,
            e.from.format("%H:%M"),
            e.to.format("%H:%M")
        )];
        if !e.summary.is_empty() {
            body.push(String::new());
            body.push(e.summary.clone());
        }
        body.push(String::new());
        body.extend(e.sub_tasks.iter().map(|s| format!("- {}", breadcrumb(s))));
        let body = body.join("\n").trim().to_owned();
        let heading = format!(
            "## [{ts}] {{id: {id}}}{}",
            tags.iter().map(|t| format!(" #{t}")).collect::<String>()
        );
        let day = e.session_start.date_naive();
        let today = written.date_naive();
        let (created, entries) = self.files.entry(day).or_insert_with(|| (today, Vec::new()));
        let created = *created;
        entries.push(format!("{heading}\n{body}"));
        let count = entries.len();
        let text = format!(
            "---\ncreated: '{created}'\n{}entry_count: {count}\nneeds_compact: false\nstatus: active\ntags:\n- event\n- session\n- daily\nupdated: '{today}'\n---\n\n{}\n",
            description(day),
            entries.join("\n\n")
        );
        let name = format!("event-{day}.md");
        std::fs::write(self.root.join("memory").join(&name), text).expect("memory file");
        self.conn
            .execute(
                "INSERT INTO entries(id, path, prefix, timestamp, tags, content, superseded) VALUES (?1, ?2, 'event', ?3, ?4, ?5, 0)",
                params![id, name, ts, tags.join(" "), body],
            )
            .expect("fts entry");
        self.conn
            .execute(
                "INSERT INTO files(path, prefix, description, tags, status, entry_count, created, updated, needs_compact)
                 VALUES (?1, 'event', ?2, 'event session daily', 'active', ?3, ?4, ?5, 0)
                 ON CONFLICT(path) DO UPDATE SET entry_count = excluded.entry_count, updated = excluded.updated",
                params![
                    name,
                    description_text(day),
                    count as i64,
                    created.to_string(),
                    today.to_string()
                ],
            )
            .expect("files row");
        id
    }
}

fn description_text(day: NaiveDate) -> String {
    format!(
        "Session-level activity log for {day} — one entry per reduced work session, each carrying a time-ranged sub-task list produced by the S2 reducer."
    )
}

/// The `description:` key as PyYAML folds it at 80 columns.
fn description(day: NaiveDate) -> String {
    format!(
        "description: Session-level activity log for {day} — one entry per reduced work\n  session, each carrying a time-ranged sub-task list produced by the S2 reducer.\n"
    )
}

/// `_attach_drill_down_breadcrumb`: a `read_recent_capture` pointer after a
/// line that starts `[HH:MM-HH:MM, App]`.
fn breadcrumb(line: &str) -> String {
    let parse = || -> Option<(String, String)> {
        let rest = line.trim_start().strip_prefix('[')?;
        let close = rest.find(']')?;
        let (range, app) = rest[..close].split_once(',')?;
        let start = range.trim().get(..5)?;
        Some((start.to_owned(), app.trim().replace('"', "'")))
    };
    match parse() {
        Some((at, app)) if !line.contains("read_recent_capture(") => {
            format!(
                "{} — raw: read_recent_capture(at=\"{at}\", app_name=\"{app}\")",
                line.trim_end()
            )
        }
        _ => line.to_owned(),
    }
}

/// `t` at `offset` hours east.
pub fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_python_isoformat() {
        assert_eq!(iso(at("2026-03-10T10:00:00+01:00")), "2026-03-10T10:00:00+01:00");
        assert_eq!(
            iso(at("2026-03-10T10:00:00.123456+01:00")),
            "2026-03-10T10:00:00.123456+01:00"
        );
        assert_eq!(iso(at("2026-03-10T10:00:00Z")), "2026-03-10T10:00:00+00:00");
        assert_eq!(py_json(&["a".into(), "é".into()]), "[\"a\", \"é\"]");
    }
}
