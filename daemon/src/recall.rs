//! Recall: the read side that people and agents use (SPEC §12). Full-text
//! search over events and entries, read from a [`SqliteStore`] opened
//! read-only beside the running daemon. The command line (`daybook
//! search`), `GET /v1/search` and the MCP `search` tool all call
//! [`search`], so they answer the same question the same way.
//!
//! Decisions where the spec is silent:
//! - Results come newest stored first (the index's own order, which needs
//!   no sort however many rows match); that is time order except for late
//!   events, which come where they were stored. Events and entries are
//!   merged by time.
//! - `app` filters events by their app name (case-insensitive) and leaves
//!   entries out: an entry spans many apps.
//! - The privacy rules in force now are applied again when reading: an
//!   event whose app, title or URL a rule added since ignores is never
//!   returned.
//! - Every text a capture client sent is made one inert line
//!   ([`daybook_core::text::inline`]) before it is returned.

use std::path::PathBuf;
use std::sync::Arc;

use daybook_core::search::{self, MATCH_CLOSE, MATCH_OPEN, Query, TimeBound};
use daybook_core::text::inline;
use daybook_core::{Event, Timestamp, UtcOffset};
use rusqlite::functions::FunctionFlags;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::privacy::Privacy;
use crate::store::SqliteStore;

/// Where readers read: the database, opened read-only for each question
/// (a connection costs well under a millisecond; SQLite's WAL lets any
/// number read beside the daemon's one writer), and the privacy rules
/// in force.
#[derive(Clone, Debug)]
pub struct Reader {
    database: PathBuf,
    privacy: Arc<Privacy>,
}

impl Reader {
    /// A reader of `database` under `privacy`.
    pub fn new(database: PathBuf, privacy: Privacy) -> Self {
        Self {
            database,
            privacy: Arc::new(privacy),
        }
    }

    /// Opens the database read-only (see [`SqliteStore::open_read_only`]).
    pub fn open(&self) -> Result<SqliteStore> {
        SqliteStore::open_read_only(&self.database)
    }

    /// The privacy rules in force.
    pub fn privacy(&self) -> &Arc<Privacy> {
        &self.privacy
    }

    /// Runs `f` on a fresh read-only connection on tokio's blocking pool,
    /// so a query never holds up the async workers.
    pub async fn ask<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteStore, &Arc<Privacy>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || f(&reader.open()?, &reader.privacy))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// Results returned when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 20;
/// The most results one answer holds.
pub const MAX_LIMIT: usize = 100;
/// The furthest `offset` accepted: past it, a narrower range is the way.
pub const MAX_OFFSET: usize = 10_000;

/// A search as asked: the query and its filters as typed (the same
/// fields on the command line, `GET /v1/search` and MCP).
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct SearchParams {
    /// Words (all must appear), "a phrase", or a prefix like tok*.
    pub q: String,
    /// Only what happened at or after this: today, yesterday, 2h, 7d, a
    /// local date like 2026-11-28, or RFC 3339.
    #[serde(default)]
    pub since: Option<String>,
    /// Only what happened before this (same forms as since).
    #[serde(default)]
    pub until: Option<String>,
    /// Only events of this app (case-insensitive); entries are left out.
    #[serde(default)]
    pub app: Option<String>,
    /// Results per answer (default 20, at most 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Results to skip (for the next page: the answer's next_offset).
    #[serde(default)]
    pub offset: Option<usize>,
}

/// The entry of the day log that covers a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRef {
    /// Its id.
    pub id: i64,
    /// `flush`, `final`, `heuristic` or `late`.
    pub kind: String,
    /// The local day whose log holds it, `YYYY-MM-DD`.
    pub day: String,
    /// Its window's start, RFC 3339 with offset.
    pub from: String,
    /// Its window's end, RFC 3339 with offset.
    pub to: String,
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// `event` (a capture) or `entry` (a section of a day log).
    pub kind: String,
    /// When: the event's `at`, or the entry's start; RFC 3339 with the
    /// local offset of that instant.
    pub time: String,
    /// The event's app.
    pub app: Option<String>,
    /// The event's window title.
    pub title: Option<String>,
    /// The event's URL.
    pub url: Option<String>,
    /// Where it matched, the matches between `**`, cut to about 300
    /// characters.
    pub snippet: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The day-log entry covering it, once one does.
    pub entry: Option<EntryRef>,
}

/// What a search found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchAnswer {
    /// The query as typed.
    pub query: String,
    /// The lower bound used, RFC 3339 (none: from the beginning).
    pub since: Option<String>,
    /// The upper bound used, RFC 3339 (none: up to now).
    pub until: Option<String>,
    /// The local UTC offset at the time of the search, `+01:00`.
    pub utc_offset: String,
    /// Results skipped.
    pub offset: usize,
    /// Results asked for.
    pub limit: usize,
    /// The results, newest first.
    pub results: Vec<Hit>,
    /// The `offset` of the next page, when there is one.
    pub next_offset: Option<usize>,
}

/// `+HH:MM` for an offset.
pub fn offset_text(offset: UtcOffset) -> String {
    offset.fixed().to_string()
}

/// Whether `e` is the asker's fault (a bad query, time or day) rather
/// than daybook's: a 400, not a 500.
pub fn is_bad_input(e: &Error) -> bool {
    matches!(
        e,
        Error::Core(daybook_core::Error::InvalidQuery { .. } | daybook_core::Error::InvalidTime { .. })
            | Error::BadInput { .. }
    )
}

/// Resolves a `since` / `until` as typed, at `now` in the local zone.
pub fn resolve_bound(input: &str, now: Timestamp) -> Result<Timestamp> {
    let bound = TimeBound::parse(input)?;
    Ok(bound.resolve(now, now.local_date(clock::local_offset(now)), |d| {
        clock::local_day_bounds(d).0
    }))
}

fn rfc3339(t: Timestamp) -> String {
    t.rfc3339(clock::local_offset(t))
}

/// Registers `daybook_ignored(app, title, url)`: whether the rules in
/// force ignore such an event (see the module's docs).
fn register_privacy(store: &SqliteStore, privacy: &Arc<Privacy>) -> Result<()> {
    let privacy = Arc::clone(privacy);
    store
        .connection()
        .create_scalar_function(
            "daybook_ignored",
            3,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let event = Event {
                    at: Timestamp(0),
                    offset: UtcOffset(0),
                    app: ctx.get::<String>(0)?,
                    title: ctx.get::<Option<String>>(1)?,
                    url: ctx.get::<Option<String>>(2)?,
                    text: None,
                    source: None,
                };
                Ok(privacy.ignores(&event))
            },
        )
        .map_err(|source| Error::Database {
            path: store.path().to_owned(),
            source,
        })
}

fn db(store: &SqliteStore) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Database {
        path: store.path().to_owned(),
        source,
    }
}

/// A result before the pages are merged: its instant (for the merge) and
/// what is shown.
struct Found {
    at: i64,
    hit: Hit,
}

fn entry_ref(store: &SqliteStore, id: Option<i64>) -> Result<Option<EntryRef>> {
    let Some(id) = id else { return Ok(None) };
    store
        .connection()
        .prepare_cached("SELECT id, kind, day, from_ms, to_ms, offset_s FROM entries WHERE id = ?1")
        .and_then(|mut st| {
            st.query_row([id], |r| {
                let offset = UtcOffset(r.get(5)?);
                Ok(EntryRef {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    day: r.get(2)?,
                    from: Timestamp(r.get(3)?).rfc3339(offset),
                    to: Timestamp(r.get(4)?).rfc3339(offset),
                })
            })
            .optional()
        })
        .map_err(db(store))
}

/// Searches events and entries (see the module's docs), at `now`.
pub fn search(
    store: &SqliteStore,
    privacy: &Arc<Privacy>,
    params: &SearchParams,
    now: Timestamp,
) -> Result<SearchAnswer> {
    let query = Query::parse(&params.q)?;
    let since = params.since.as_deref().map(|s| resolve_bound(s, now)).transpose()?;
    let until = params.until.as_deref().map(|s| resolve_bound(s, now)).transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = params.offset.unwrap_or(0).min(MAX_OFFSET);
    let app = params.app.as_deref().map(str::trim).filter(|a| !a.is_empty());
    register_privacy(store, privacy)?;
    let fts = query.fts5();
    let (lo, hi) = (since.map_or(i64::MIN, |t| t.0), until.map_or(i64::MAX, |t| t.0));
    // One more than the page, from each index, so the merge knows whether
    // a next page exists.
    let want = i64::try_from(offset + limit + 1).unwrap_or(i64::MAX);
    let (open, close) = (u32::from(MATCH_OPEN), u32::from(MATCH_CLOSE));
    let mut found = Vec::new();
    {
        let mut st = store
            .connection()
            .prepare_cached(&format!(
                "SELECT e.at_ms, e.offset_s, e.app, e.title, e.url, e.session_id,
                        snippet(events_fts, -1, char({open}), char({close}), '…', 40),
                        (SELECT b.entry_id FROM blocks b
                          WHERE b.session_id = e.session_id AND b.start_ms <= e.attributed_ms
                          ORDER BY b.start_ms DESC LIMIT 1)
                   FROM events_fts JOIN events e ON e.seq = events_fts.rowid
                  WHERE events_fts MATCH ?1 AND e.at_ms >= ?2 AND e.at_ms < ?3
                    AND (?4 IS NULL OR e.app = ?4 COLLATE NOCASE)
                    AND NOT daybook_ignored(e.app, e.title, e.url)
                  ORDER BY events_fts.rowid DESC LIMIT ?5"
            ))
            .map_err(db(store))?;
        let rows = st
            .query_map(params![fts, lo, hi, app, want], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    UtcOffset(r.get(1)?),
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(db(store))?;
        for (at, off, app, title, url, session, marked, entry) in rows {
            found.push(Found {
                at,
                hit: Hit {
                    kind: "event".into(),
                    time: Timestamp(at).rfc3339(off),
                    app: Some(inline(&app)),
                    title: title.as_deref().map(inline),
                    url: url.as_deref().map(inline),
                    snippet: search::snippet(&marked),
                    session_id: inline(&session),
                    entry: entry_ref(store, entry)?,
                },
            });
        }
    }
    if app.is_none() {
        let mut st = store
            .connection()
            .prepare_cached(&format!(
                "SELECT n.id, n.from_ms, n.offset_s, n.session_id,
                        snippet(entries_fts, 0, char({open}), char({close}), '…', 40)
                   FROM entries_fts JOIN entries n ON n.id = entries_fts.rowid
                  WHERE entries_fts MATCH ?1 AND n.to_ms > ?2 AND n.from_ms < ?3
                  ORDER BY entries_fts.rowid DESC LIMIT ?4"
            ))
            .map_err(db(store))?;
        let rows = st
            .query_map(params![fts, lo, hi, want], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    UtcOffset(r.get(2)?),
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(db(store))?;
        for (id, from, off, session, marked) in rows {
            found.push(Found {
                at: from,
                hit: Hit {
                    kind: "entry".into(),
                    time: Timestamp(from).rfc3339(off),
                    app: None,
                    title: None,
                    url: None,
                    snippet: search::snippet(&marked),
                    session_id: inline(&session),
                    entry: entry_ref(store, Some(id))?,
                },
            });
        }
    }
    // Newest first; at one instant, events before entries.
    found.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.hit.kind.cmp(&b.hit.kind)));
    let more = found.len() > offset + limit;
    let results = found.into_iter().skip(offset).take(limit).map(|f| f.hit).collect();
    Ok(SearchAnswer {
        query: params.q.clone(),
        since: since.map(rfc3339),
        until: until.map(rfc3339),
        utc_offset: offset_text(clock::local_offset(now)),
        offset,
        limit,
        results,
        next_offset: more.then_some(offset + limit),
    })
}

/// A search answer as the command line prints it.
pub fn render_search(answer: &SearchAnswer) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if answer.results.is_empty() {
        let _ = writeln!(out, "no results for {}", crate::error::quote(&answer.query));
    }
    for hit in &answer.results {
        let what = match hit.kind.as_str() {
            "entry" => "day log entry".to_owned(),
            _ => [hit.app.as_deref(), hit.title.as_deref(), hit.url.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" — "),
        };
        let _ = writeln!(out, "{}  {what}", hit.time);
        let _ = writeln!(out, "    {}", hit.snippet);
        let entry = hit
            .entry
            .as_ref()
            .map_or_else(String::new, |e| format!(", entry {} of {}", e.id, e.day));
        let _ = writeln!(out, "    session {}{entry}", hit.session_id);
    }
    if let Some(next) = answer.next_offset {
        let _ = writeln!(out, "more results: add --offset {next}");
    }
    out
}
