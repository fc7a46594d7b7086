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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use daybook_core::aggregate::Context;
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
                        (SELECT {covering} FROM blocks b
                          WHERE b.session_id = e.session_id AND b.start_ms <= e.attributed_ms
                          ORDER BY b.start_ms DESC LIMIT 1)
                   FROM events_fts JOIN events e ON e.seq = events_fts.rowid
                  WHERE events_fts MATCH ?1 AND e.at_ms >= ?2 AND e.at_ms < ?3
                    AND (?4 IS NULL OR e.app = ?4 COLLATE NOCASE)
                    AND NOT daybook_ignored(e.app, e.title, e.url)
                  ORDER BY events_fts.rowid DESC LIMIT ?5",
                covering = crate::store::covering_entry!()
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
    found.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| (a.hit.kind == "entry").cmp(&(b.hit.kind == "entry")))
    });
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

/// A local day or a range, as asked (the `day`, `since` and `until` of a
/// summary and of the MCP `sessions` tool; the same fields on the
/// command line, `GET /v1/summary` and MCP). Flattened into the
/// parameters that take it, so they read as plain fields everywhere.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct DayOrRange {
    /// A local day: YYYY-MM-DD, today, yesterday or -N (default: today, when
    /// neither since nor until is given).
    #[serde(default)]
    pub day: Option<String>,
    /// The range's start instead of a day: today, yesterday, 2h, 7d, a
    /// local date, or RFC 3339.
    #[serde(default)]
    pub since: Option<String>,
    /// The range's end (default: now); same forms as since.
    #[serde(default)]
    pub until: Option<String>,
}

impl DayOrRange {
    /// Whether a range was asked (`since` or `until`) rather than a day.
    pub fn is_range(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// The day asked, today by default; none when a range was asked
    /// (a `day` beside it is then not read).
    pub fn day(&self, now: Timestamp) -> Result<Option<chrono::NaiveDate>> {
        if self.is_range() {
            Ok(None)
        } else {
            day_param_or_today(self.day.as_deref(), now).map(Some)
        }
    }

    /// The range asked (see [`range_param`]).
    pub fn range(&self, now: Timestamp) -> Result<(Timestamp, Timestamp)> {
        range_param(self.since.as_deref(), self.until.as_deref(), now)
    }
}

/// An activity summary as asked: a local day, or a range (the same
/// fields on the command line, `GET /v1/summary` and MCP).
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct SummaryParams {
    /// The day or range.
    #[serde(flatten)]
    pub when: DayOrRange,
    /// How many apps, titles and domains to list, longest first (default
    /// 10, at most 50).
    #[serde(default)]
    pub top: Option<usize>,
}

/// The MCP `sessions` tool's arguments: a local day or a range, and a page.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct SessionsParams {
    /// The day or range.
    #[serde(flatten)]
    pub when: DayOrRange,
    /// Sessions per answer (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Sessions to skip (the answer's next_offset).
    #[serde(default)]
    pub offset: Option<usize>,
}

/// Time spent in one thing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeIn {
    /// The app, `app — title`, or domain.
    pub name: String,
    /// Seconds (rounded down).
    pub seconds: i64,
    /// The same as a person writes it (`1 h 28 min`).
    pub human: String,
}

/// Where a range's time went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryAnswer {
    /// The local day asked for, if a day was.
    pub day: Option<String>,
    /// The range's start, RFC 3339 at the local offset used.
    pub from: String,
    /// The range's end (exclusive).
    pub to: String,
    /// The local UTC offsets used for the range's bounds (two on a DST
    /// day).
    pub utc_offsets: Vec<String>,
    /// Time in sessions (active), seconds.
    pub active_seconds: i64,
    /// Time between sessions, idle or away, seconds.
    pub idle_seconds: i64,
    /// Time between sessions while capture was paused, seconds.
    pub paused_seconds: i64,
    /// Sessions touching the range.
    pub sessions: usize,
    /// Events counted.
    pub events: u64,
    /// Time per app, longest first (at most `top`).
    pub apps: Vec<TimeIn>,
    /// Time per window title (`app — title`), longest first.
    pub titles: Vec<TimeIn>,
    /// Time per web domain, longest first.
    pub domains: Vec<TimeIn>,
    /// How many apps, titles and domains were left out of the lists.
    pub not_listed: NotListed,
}

/// Counts of what a summary's lists left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotListed {
    /// Apps.
    pub apps: usize,
    /// Titles.
    pub titles: usize,
    /// Domains.
    pub domains: usize,
}

/// The default and largest `top` of a summary.
const SUMMARY_TOP: (usize, usize) = (10, 50);

pub(crate) fn time_in(name: String, millis: i64) -> TimeIn {
    TimeIn {
        name: inline(&name),
        seconds: millis / 1000,
        human: daybook_core::aggregate::human_duration(millis),
    }
}

/// An event as the aggregation reads it: what [`sessions_with_events`]
/// and the page read instead of [`daybook_core::StoredEvent`]s, for
/// readers that aggregate a month of them (see
/// [`daybook_core::aggregate::SharedEvent`]).
pub use daybook_core::aggregate::SharedEvent as ReadEvent;

/// The distinct contexts of a read, each stored once with whether the
/// privacy rules in force ignore it: a range of thousands of events
/// repeats a few hundred contexts, so each is copied out of SQLite and
/// checked against the rules once. Looked up by the row's own bytes (a
/// hash of them, then a comparison), so a context seen before costs no
/// allocation and no UTF-8 check. The hash is foldhash's, seeded per
/// process (a week's 210,000 rows spent more in SipHash than in any
/// other step of the lookup; see BENCHMARKS.md "page"); a title crafted
/// to collide costs only a longer comparison, never a wrong context.
///
/// The previous row's context is tried first: a session's events come
/// in runs of one context. The day log reads with no rules
/// ([`Contexts::unfiltered`]): its events were filtered when captured.
pub(crate) struct Contexts<'p> {
    privacy: Option<&'p Privacy>,
    /// Contexts by the hash of `(app, title, url)`, each with whether
    /// the rules ignore it.
    known: HashMap<u64, Vec<(Arc<Context>, bool)>, foldhash::fast::RandomState>,
    /// The context the last row had, with whether the rules ignore it.
    last: Option<(Arc<Context>, bool)>,
}

/// A context as a row holds it: `(app, title, url)`, not yet checked to
/// be UTF-8.
type RawContext<'r> = (&'r [u8], Option<&'r [u8]>, Option<&'r [u8]>);

impl<'p> Contexts<'p> {
    pub(crate) fn new(privacy: &'p Privacy) -> Self {
        Self {
            privacy: Some(privacy),
            known: HashMap::default(),
            last: None,
        }
    }

    /// Contexts that no rule ignores.
    pub(crate) fn unfiltered() -> Self {
        Self {
            privacy: None,
            known: HashMap::default(),
            last: None,
        }
    }

    /// The shared context of `raw`, or `None` when the rules in force
    /// ignore events of it (see [`Privacy::ignores`]); an error when a
    /// string of a context not seen before is not UTF-8 (the index of its
    /// column among `columns`).
    pub(crate) fn get(&mut self, raw: RawContext<'_>, columns: [usize; 3]) -> rusqlite::Result<Option<Arc<Context>>> {
        use std::hash::BuildHasher;
        let (app, title, url) = raw;
        let same = |(c, _): &&(Arc<Context>, bool)| {
            c.app.as_bytes() == app
                && c.title.as_deref().map(str::as_bytes) == title
                && c.url.as_deref().map(str::as_bytes) == url
        };
        if let Some((context, ignored)) = self.last.as_ref().filter(same) {
            return Ok((!ignored).then(|| Arc::clone(context)));
        }
        let hash = self.known.hasher().hash_one(raw);
        let candidates = self.known.entry(hash).or_default();
        let (context, ignored) = match candidates.iter().find(same) {
            Some(found) => found.clone(),
            None => {
                let text = |b: &[u8], i: usize| {
                    std::str::from_utf8(b).map(str::to_owned).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
                    })
                };
                let event = Event {
                    title: title.map(|t| text(t, columns[1])).transpose()?,
                    url: url.map(|u| text(u, columns[2])).transpose()?,
                    ..Event::new(Timestamp(0), text(app, columns[0])?)
                };
                let ignored = self.privacy.is_some_and(|p| p.ignores(&event));
                let context = Arc::new(Context {
                    app: event.app,
                    title: event.title,
                    url: event.url,
                });
                candidates.push((Arc::clone(&context), ignored));
                (context, ignored)
            }
        };
        self.last = Some((Arc::clone(&context), ignored));
        Ok((!ignored).then_some(context))
    }

    /// The event of one row whose columns 0 to 5 are `seq, attributed_ms,
    /// offset_s, app, title, url`; `None` when the rules ignore it.
    pub(crate) fn read_row(&mut self, r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<ReadEvent>> {
        let bytes = |i: usize| text_bytes(r, i);
        let app = bytes(3)?.ok_or(rusqlite::Error::InvalidColumnType(
            3,
            "app".into(),
            rusqlite::types::Type::Null,
        ))?;
        let Some(context) = self.get((app, bytes(4)?, bytes(5)?), [3, 4, 5])? else {
            return Ok(None);
        };
        Ok(Some(ReadEvent {
            seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            attributed: Timestamp(r.get(1)?),
            offset: UtcOffset(r.get(2)?),
            context,
        }))
    }
}

/// Column `i` of `r` as the bytes of a text value (`None` for NULL), not
/// yet checked to be UTF-8.
pub(crate) fn text_bytes<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r [u8]>> {
    match r.get_ref(i)? {
        rusqlite::types::ValueRef::Text(b) => Ok(Some(b)),
        rusqlite::types::ValueRef::Null => Ok(None),
        other => Err(rusqlite::Error::InvalidColumnType(i, "text".into(), other.data_type())),
    }
}

/// Sessions that touch `[from, to)` with their events, the events the
/// rules in force ignore left out (their time goes to the context before
/// them, as if they had never been captured). Events are [`ReadEvent`]s:
/// no aggregation reads typed text or source, and they are most of an
/// event's bytes.
pub fn sessions_with_events(
    store: &SqliteStore,
    privacy: &Privacy,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(daybook_core::Session, Vec<ReadEvent>)>> {
    let sessions = store.sessions_between(from, to)?;
    let mut st = store
        .connection()
        .prepare_cached(
            "SELECT seq, attributed_ms, offset_s, app, title, url FROM events
              WHERE session_id = ?1 ORDER BY attributed_ms, seq",
        )
        .map_err(db(store))?;
    let mut contexts = Contexts::new(privacy);
    let mut out = Vec::with_capacity(sessions.len());
    for s in sessions {
        let mut rows = st.query([&s.id.0]).map_err(db(store))?;
        let mut events: Vec<ReadEvent> = Vec::new();
        while let Some(r) = rows.next().map_err(db(store))? {
            if let Some(e) = contexts.read_row(r).map_err(db(store))? {
                events.push(e);
            }
        }
        drop(rows);
        out.push((s, events));
    }
    Ok(out)
}

/// Where the time of a local day or a range went (see
/// [`daybook_core::aggregate`]: away time excluded, local day bounds).
pub fn summary(
    store: &SqliteStore,
    privacy: &Privacy,
    params: &SummaryParams,
    now: Timestamp,
) -> Result<SummaryAnswer> {
    use daybook_core::aggregate::{Detail, SessionInput, aggregate_day_with, aggregate_with};
    let top = params.top.unwrap_or(SUMMARY_TOP.0).clamp(1, SUMMARY_TOP.1);
    let when = &params.when;
    if when.is_range() && when.day.is_some() {
        return Err(Error::BadInput {
            path: "summary".into(),
            message: "give a day, or since/until, not both".into(),
        });
    }
    // A range and a day were refused together above.
    let day = when.day(now)?;
    // A day's sessions are read within its bounds in this machine's zone
    // and two hours either side: the aggregation takes the day's bounds
    // from the offsets its events carry, which differ from this zone's by
    // a DST shift at most unless the data was captured in another zone.
    let (from, to) = match day {
        Some(d) => {
            let (from, to) = clock::local_day_bounds(d);
            (Timestamp(from.0 - 2 * 3_600_000), Timestamp(to.0 + 2 * 3_600_000))
        }
        None => when.range(now)?,
    };
    let rows = sessions_with_events(store, privacy, from, to)?;
    let inputs: Vec<SessionInput<'_, ReadEvent>> = rows
        .iter()
        .map(|(session, events)| SessionInput { session, events })
        .collect();
    // The answer lists no spans: the aggregation skips making them.
    let (agg, offsets) = match day {
        Some(d) => {
            let (start, _) = clock::local_day_bounds(d);
            let (bounds, agg) = aggregate_day_with(d, &inputs, clock::local_offset(start), Detail::Totals);
            (agg, bounds.offsets())
        }
        None => {
            let mut offsets = vec![clock::local_offset(from), clock::local_offset(to)];
            offsets.dedup();
            (aggregate_with(from, to, &inputs, Detail::Totals), offsets)
        }
    };
    let at = |t: Timestamp, i: usize| t.rfc3339(offsets[i.min(offsets.len() - 1)]);
    let totals = &agg.totals;
    Ok(SummaryAnswer {
        day: day.map(|d| d.format("%Y-%m-%d").to_string()),
        from: at(agg.from, 0),
        to: at(agg.to, 1),
        utc_offsets: offsets.iter().map(|o| offset_text(*o)).collect(),
        active_seconds: agg.active_millis / 1000,
        idle_seconds: agg.idle_millis / 1000,
        paused_seconds: agg.paused_millis / 1000,
        sessions: agg.sessions.len(),
        events: agg.events(),
        apps: totals
            .apps
            .iter()
            .take(top)
            .map(|t| time_in(t.name.clone(), t.millis))
            .collect(),
        titles: totals
            .titles
            .iter()
            .take(top)
            .map(|t| time_in(format!("{} — {}", t.app, t.title), t.millis))
            .collect(),
        domains: totals
            .domains
            .iter()
            .take(top)
            .map(|t| time_in(t.name.clone(), t.millis))
            .collect(),
        not_listed: NotListed {
            apps: totals.apps.len().saturating_sub(top),
            titles: totals.titles.len().saturating_sub(top),
            domains: totals.domains.len().saturating_sub(top),
        },
    })
}

/// A day as asked (`daybook summary --day`, `/v1/summary?day=`, the MCP
/// tools' `day`): whatever `show` and `sessions` take
/// ([`daybook_core::daylog::parse_day_spec`]: `YYYY-MM-DD`, `today`,
/// `yesterday`, `-N`, `Nd`), with today the local date at `now`. An error
/// quotes the input.
pub fn parse_day_param(input: &str, now: Timestamp) -> Result<chrono::NaiveDate> {
    let today = now.local_date(clock::local_offset(now));
    daybook_core::daylog::parse_day_spec(input, today).ok_or_else(|| {
        Error::Core(daybook_core::Error::InvalidTime {
            input: input.chars().take(200).collect(),
            reason: "is not a day: a day is YYYY-MM-DD (from 1970-01-01 on), today, yesterday, or -N for N days ago",
        })
    })
}

/// [`parse_day_param`] of `day`, or today (the local date at `now`)
/// when none is given.
pub fn day_param_or_today(day: Option<&str>, now: Timestamp) -> Result<chrono::NaiveDate> {
    day.map_or_else(
        || Ok(now.local_date(clock::local_offset(now))),
        |d| parse_day_param(d, now),
    )
}

/// The range `[since, until)` as asked ([`resolve_bound`] each): from the
/// epoch where `since` is not given, up to `now` where `until` is not.
pub fn range_param(since: Option<&str>, until: Option<&str>, now: Timestamp) -> Result<(Timestamp, Timestamp)> {
    Ok((
        since.map_or(Ok(Timestamp(0)), |s| resolve_bound(s, now))?,
        until.map_or(Ok(now), |s| resolve_bound(s, now))?,
    ))
}

/// A summary as the command line prints it.
pub fn render_summary(s: &SummaryAnswer) -> String {
    use std::fmt::Write;
    let human = |secs: i64| daybook_core::aggregate::human_duration(secs * 1000);
    let mut out = String::new();
    let _ = writeln!(out, "{} → {} (UTC offset {})", s.from, s.to, s.utc_offsets.join(", "));
    let _ = writeln!(
        out,
        "active {}, idle {}, paused {}; {} session(s), {} event(s)",
        human(s.active_seconds),
        human(s.idle_seconds),
        human(s.paused_seconds),
        s.sessions,
        s.events
    );
    for (title, list, left) in [
        ("apps", &s.apps, s.not_listed.apps),
        ("titles", &s.titles, s.not_listed.titles),
        ("domains", &s.domains, s.not_listed.domains),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}:");
        for t in list {
            let _ = writeln!(out, "  {:>12}  {}", t.human, t.name);
        }
        if left > 0 {
            let _ = writeln!(out, "  … and {left} more (--top)");
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use daybook_core::aggregate::{Detail, SessionInput, aggregate, aggregate_day, aggregate_day_with, aggregate_with};
    use daybook_core::{Session, Store as _, StoredEvent};

    use super::*;
    use crate::privacy::UserRules;

    /// 2026-03-28T00:00:00Z: the day before Europe's spring DST change.
    pub(crate) const T: i64 = 1_774_656_000_000;
    const MIN: i64 = 60_000;

    /// Sessions over two local days, the second a 23-hour DST day (its
    /// events switch from +01:00 to +02:00), an active session, contexts
    /// repeating and alternating, and events the rules ignore: a whole
    /// app, a title, and one session with nothing else.
    pub(crate) fn seeded(dir: &std::path::Path) -> SqliteStore {
        let store = SqliteStore::open(&dir.join("daybook.db")).unwrap();
        let conn = store.connection();
        let contexts = [
            ("Code", Some("main.rs"), None),
            ("Firefox", Some("docs"), Some("https://www.Docs.rs/tokio")),
            ("Code", Some("main.rs"), None),
            ("Secret", Some("x"), None),
            ("Firefox", Some("my bank account"), Some("https://bank.test/")),
            ("Terminal", None, None),
            ("Firefox", Some("docs"), Some("file:///tmp/a")),
            ("Code", Some(""), None),
        ];
        let mut seq = 0;
        for s in 0..12i64 {
            let start = T + s * 4 * 3_600_000 + 7 * MIN;
            let offset = if start >= 1_774_746_000_000 { 7200 } else { 3600 };
            let n = 5 + s * 3;
            let end = start + (n - 1) * MIN;
            let active = s == 11;
            let only_secret = s == 4;
            conn.execute(
                "INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason, retry_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                params![
                    format!("s{s}"),
                    start,
                    offset,
                    if active { "active" } else { "reduced" },
                    (!active).then_some(end),
                    (!active).then_some(if s % 3 == 0 { "paused" } else { "idle_gap" })
                ],
            )
            .unwrap();
            for k in 0..n {
                seq += 1;
                let (app, title, url) = if only_secret {
                    contexts[3]
                } else {
                    contexts[usize::try_from((k / 2 + s) % 8).unwrap()]
                };
                conn.execute(
                    "INSERT INTO events (seq, session_id, attributed_ms, at_ms, offset_s, app, title, url, text, source)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, 'typed', 'test')",
                    params![seq, format!("s{s}"), start + k * MIN, offset, app, title, url],
                )
                .unwrap();
            }
        }
        store
    }

    /// Rules that ignore the app `Secret` and titles with `bank`.
    pub(crate) fn privacy() -> Privacy {
        Privacy::new(&UserRules {
            ignore_apps: vec!["Secret".into()],
            ignore_title_patterns: vec!["bank".into()],
            ..UserRules::default()
        })
        .unwrap()
    }

    /// What readers read before [`ReadEvent`]: every session's stored
    /// events, those the rules ignore left out.
    pub(crate) fn reference(
        store: &SqliteStore,
        privacy: &Privacy,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Session, Vec<StoredEvent>)> {
        store
            .sessions_between(from, to)
            .unwrap()
            .into_iter()
            .map(|s| {
                let mut events = store.session_events(&s.id).unwrap();
                events.retain(|e| !privacy.ignores(&e.event));
                (s, events)
            })
            .collect()
    }

    #[test]
    fn lean_reads_aggregate_exactly_as_stored_events_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = seeded(dir.path());
        let privacy = privacy();
        for (from, to) in [
            (T - 3_600_000, T + 3 * 86_400_000),
            (T + 5 * 3_600_000, T + 30 * 3_600_000),
            (T + 86_400_000 + 10 * MIN, T + 86_400_000 + 10 * MIN + 1),
        ] {
            let (from, to) = (Timestamp(from), Timestamp(to));
            let old = reference(&store, &privacy, from, to);
            let new = sessions_with_events(&store, &privacy, from, to).unwrap();
            let old_inputs: Vec<SessionInput<'_>> = old
                .iter()
                .map(|(session, events)| SessionInput { session, events })
                .collect();
            let new_inputs: Vec<SessionInput<'_, ReadEvent>> = new
                .iter()
                .map(|(session, events)| SessionInput { session, events })
                .collect();
            assert_eq!(new_inputs.len(), old_inputs.len());
            for (o, n) in old_inputs.iter().zip(&new_inputs) {
                assert_eq!(o.session, n.session);
                let strip = |e: &StoredEvent| {
                    (
                        e.seq,
                        e.attributed,
                        e.event.offset,
                        e.event.app.clone(),
                        e.event.title.clone(),
                        e.event.url.clone(),
                    )
                };
                let lean = |e: &ReadEvent| {
                    (
                        e.seq,
                        e.attributed,
                        e.offset,
                        e.context.app.clone(),
                        e.context.title.clone(),
                        e.context.url.clone(),
                    )
                };
                assert_eq!(
                    o.events.iter().map(strip).collect::<Vec<_>>(),
                    n.events.iter().map(lean).collect::<Vec<_>>()
                );
            }
            let mut expected = aggregate(from, to, &old_inputs);
            assert!(expected.active_millis > 0);
            assert!(
                expected.totals.apps.iter().all(|t| t.name != "Secret"),
                "ignored apps stay out"
            );
            assert!(expected.totals.titles.iter().all(|t| !t.title.contains("bank")));
            for s in &mut expected.sessions {
                s.spans.clear();
            }
            assert_eq!(aggregate_with(from, to, &new_inputs, Detail::Totals), expected);
            for day in ["2026-03-28", "2026-03-29"] {
                let day: chrono::NaiveDate = day.parse().unwrap();
                let (b_old, mut a_old) = aggregate_day(day, &old_inputs, UtcOffset(3600));
                for s in &mut a_old.sessions {
                    s.spans.clear();
                }
                let (b_new, a_new) = aggregate_day_with(day, &new_inputs, UtcOffset(3600), Detail::Totals);
                assert_eq!((b_new, a_new), (b_old, a_old));
            }
        }
        // The DST day is 23 hours, read from the events' offsets.
        let whole = (Timestamp(T - 3_600_000), Timestamp(T + 3 * 86_400_000));
        let new = sessions_with_events(&store, &privacy, whole.0, whole.1).unwrap();
        let inputs: Vec<SessionInput<'_, ReadEvent>> = new
            .iter()
            .map(|(session, events)| SessionInput { session, events })
            .collect();
        let (bounds, _) = aggregate_day_with("2026-03-29".parse().unwrap(), &inputs, UtcOffset(3600), Detail::Totals);
        assert_eq!(bounds.wall_millis(), 23 * 3_600_000);
        // The session whose every event is ignored is there, with no events.
        assert!(new.iter().any(|(s, e)| s.id.0 == "s4" && e.is_empty()));
    }
}
