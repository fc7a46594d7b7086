//! `SqliteStore`: the production [`Store`], one SQLite file.
//!
//! Every trait method runs in one transaction (`BEGIN IMMEDIATE` …
//! `COMMIT`); a failure rolls back and leaves the file as it was. The
//! database runs in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives a power cut, and with foreign keys on. Queries that
//! recovery and reduce-pending run are set-based over indexes
//! (`sessions_open`, `events_by_session`; a recovery of many orphans sets
//! `sessions_open` aside and rebuilds it in its transaction): no query per
//! orphan from this side.

mod activitywatch;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::NaiveDate;
use daybook_core::daylog::{day_name, parse_day_name};
use daybook_core::recovery::{BlockSpan, RecoveryInput, RecoveryPlan, SessionSpan};
use daybook_core::{
    Around, Block, DayInputs, Dump, EndReason, Entry, EntryKind, Error as CoreError, Event, IngestStep, LooseBlock,
    MakeCommits, Phase, ReductionCommit, Session, SessionId, Store, StoredEvent, Timestamp, UtcOffset,
};
use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::schema::{self, Migrated};

pub use activitywatch::{AwBucket, AwRange};

/// See [`SqliteStore::status_counts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Events stored.
    pub events: u64,
    /// Sessions `ended`, waiting for their final reduction.
    pub ended: u64,
    /// Sessions `failed`, waiting for a retry.
    pub failed: u64,
}

/// The daemon's own durable state (the `daemon_state` row): pause and
/// the drop counters survive restarts and kills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonState {
    /// Whether capture is paused.
    pub paused: bool,
    /// Events dropped while paused, ever.
    pub dropped_paused: u64,
    /// Events dropped by the privacy filters, ever.
    pub dropped_ignored: u64,
}

/// The SQLite store. Owns its connection, not shared between threads, and
/// a second, read-only one on which a thread of its own reads the blocks
/// of the reduce-pending page announced next, and makes that page's
/// commits of them, while a page commits; its own connection works what
/// the thread has not taken once the page is asked for
/// ([`Store::prefetch_pending_reductions`]).
#[derive(Debug)]
pub struct SqliteStore {
    /// The reduce-pending page announced next, being read on
    /// [`Self::reader`] and made in a thread, chunk by chunk
    /// ([`Store::prefetch_pending_reductions`]). Declared (so
    /// dropped) before `conn`, as is `reader`: the store's own connection
    /// closes last, so it is the one that copies the WAL into the file on
    /// a clean close (the reader never checkpoints).
    prefetch: RefCell<Option<Prefetch>>,
    /// The read-only connection prefetches read on, kept between them.
    reader: RefCell<Option<Connection>>,
    /// How many asks were answered from a kept hint (by the thread's
    /// chunks, the caller's, or both).
    #[cfg(test)]
    prefetches_used: Cell<usize>,
    /// How many chunks of prefetched pages the caller worked out itself
    /// ([`PageWork`]).
    #[cfg(test)]
    chunks_worked_here: Cell<usize>,
    conn: Connection,
    path: PathBuf,
    /// Drop counts `(paused, ignored)` to add in the next ingest
    /// transaction (see [`SqliteStore::stage_dropped`]).
    staged: Cell<(u64, u64)>,
    /// ActivityWatch writes for the next ingest transaction (see
    /// [`SqliteStore::stage_aw`]).
    aw_staged: RefCell<Vec<daybook_core::AwWrite>>,
    /// The last raw event (`(start_ns, id)`) an ActivityWatch import
    /// derived through, to clear from `aw_pending` in the next ingest
    /// transaction ([`Self::stage_history_done`]).
    history_done: Cell<Option<(i64, i64)>>,
    /// `(cache_size, temp_store, wal_autocheckpoint)` to set back, while
    /// the connection is set for reductions ([`Self::reducing`]): foreign
    /// keys off, the larger page cache, statement journals in memory, and
    /// (the threshold `Some`) no checkpoint while another batch follows.
    reducing_mode: Cell<Option<(i64, i64, Option<i64>)>>,
}

/// What a prefetch's thread hands back: its connection (to read on
/// again), and an error that kept it from working (its connection would
/// not open).
type PrefetchOutcome = (Option<Connection>, CoreResult<()>);

/// The most sessions of an announced page worked out at a time
/// ([`PageWork`]). A chunk is two statements (the sessions' coverage
/// runs, then their blocks) and [`MakeCommits`] of what they read.
const PAGE_CHUNK: usize = 64;

/// The most session time (from start to end, summed) in one chunk of an
/// announced page, an estimate of its blocks (one a minute at most):
/// 64 sessions of half an hour fill it, a sixteenth of a page of the
/// reduce-pending bench, whose read and commits take some 50 ms (a tenth
/// of the 10^4 pass's `Engine::start`, which that work bounds; estimated
/// from the pass, not timed per chunk), so the caller, done with its
/// commit, waits a few ms at most for the chunk the thread has in hand; a
/// page of long sessions is cut into as many chunks as short ones.
const PAGE_CHUNK_SPAN: Duration = Duration::from_secs(2_000 * 60);

/// An announced page's work, cut into chunks of at most [`PAGE_CHUNK`]
/// sessions and [`PAGE_CHUNK_SPAN`] of their time, that the prefetch's
/// thread and the caller take in turn, each on its own connection: the
/// thread from the hint on, the caller once it asks for the page
/// ([`SqliteStore::take_prefetch`]), so neither waits for the other's
/// whole page. `make` maps each session to its commit alone
/// ([`MakeCommits`]), so the chunks' commits, put together in chunk
/// order, are the page's; who worked which chunk changes nothing.
struct PageWork {
    /// The page's sessions, in the order asked, as they were given (the
    /// commits depend on each one's phase, not only its id).
    sessions: Vec<Session>,
    /// What it makes of them.
    make: MakeCommits,
    /// Each chunk's sessions: the ranges of `sessions` they cover, in order.
    chunks: Vec<std::ops::Range<usize>>,
    /// The first chunk nobody has taken yet; past the last once a chunk
    /// failed or the work is no longer wanted.
    next: AtomicUsize,
    /// Each chunk's commits, or its read's error, once worked out.
    done: Mutex<Vec<Option<CoreResult<Vec<ReductionCommit>>>>>,
}

impl PageWork {
    fn new(sessions: Vec<Session>, make: MakeCommits) -> Self {
        let cap = i64::try_from(PAGE_CHUNK_SPAN.as_millis()).unwrap_or(i64::MAX);
        let mut chunks = Vec::new();
        let (mut first, mut span) = (0, 0_i64);
        for (i, s) in sessions.iter().enumerate() {
            let len = s.phase.end().map_or(0, |end| end.0.saturating_sub(s.start.0).max(0));
            if i > first && (i - first == PAGE_CHUNK || span.saturating_add(len) > cap) {
                chunks.push(first..i);
                (first, span) = (i, 0);
            }
            span = span.saturating_add(len);
        }
        if first < sessions.len() {
            chunks.push(first..sessions.len());
        }
        Self {
            done: Mutex::new(chunks.iter().map(|_| None).collect()),
            sessions,
            make,
            chunks,
            next: AtomicUsize::new(0),
        }
    }

    /// Works out chunks nobody has taken, one at a time on `conn`, until
    /// none is left; a chunk that fails stops all taking (its error is the
    /// page's). Returns how many it worked out.
    fn work(&self, conn: &Connection) -> usize {
        let mut worked = 0;
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(range) = self.chunks.get(i) else {
                return worked;
            };
            let part = &self.sessions[range.clone()];
            let out = read_pending_blocks(conn, part).map(|blocks| (self.make)(part, blocks));
            if out.is_err() {
                self.stop();
            }
            self.done.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(out);
            worked += 1;
        }
    }

    /// Chunk `i`'s commits, if it was worked out without an error, left
    /// in place.
    #[cfg(test)]
    fn peek(&self, i: usize) -> Option<Vec<ReductionCommit>> {
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        done.get(i)?.as_ref()?.as_ref().ok().cloned()
    }

    /// No chunk is taken after this (those in hand are finished).
    fn stop(&self) {
        self.next.store(self.chunks.len(), Ordering::Relaxed);
    }

    /// The page's commits, chunk after chunk, once every worker is done;
    /// else the first chunk's error in page order, or `Err(None)` for a
    /// chunk nobody finished (its worker could not start, or panicked in
    /// it; chunks are taken in order, so every chunk before a failed one
    /// was worked out).
    fn commits(&self) -> std::result::Result<Vec<ReductionCommit>, Option<CoreError>> {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::with_capacity(self.sessions.len());
        for chunk in done.iter_mut() {
            out.extend(chunk.take().ok_or(None)?.map_err(Some)?);
        }
        Ok(out)
    }
}

/// The reduce-pending page announced next, worked out in a thread: its
/// blocks read on a read-only connection of the store's own and its
/// commits made of them, while the store's connection commits the page
/// before it (see [`SqliteStore::prefetch_pending_reductions`]); what the
/// thread has not taken when the page is asked for, the caller works out
/// beside it ([`PageWork`]). Dropping it stops the taking and waits for
/// the thread: no read outlives the store.
struct Prefetch {
    /// The page, shared with the thread.
    work: Arc<PageWork>,
    /// Its sessions' ids, for the disjointness check of each reduction
    /// committed meanwhile.
    set: BTreeSet<SessionId>,
    /// `PRAGMA data_version` of the store's connection when asked: another
    /// connection's commit since then changes it.
    data_version: i64,
    thread: Option<std::thread::JoinHandle<PrefetchOutcome>>,
}

impl Prefetch {
    /// Waits for the thread. A panic in it is an error, never an answer.
    fn join(&mut self) -> PrefetchOutcome {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(outcome)) => outcome,
            Some(Err(_)) | None => (
                None,
                Err(storage(std::io::Error::other(
                    "the announced page's read and commits stopped (its thread panicked)",
                ))),
            ),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.work.stop();
            let _ = self.join();
        }
    }
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetch")
            .field("sessions", &self.work.sessions.len())
            .field("data_version", &self.data_version)
            .finish_non_exhaustive()
    }
}

type CoreResult<T> = std::result::Result<T, CoreError>;

fn storage(e: impl std::error::Error + Send + Sync + 'static) -> CoreError {
    CoreError::Storage(Box::new(e))
}

fn corrupt(table: &'static str, key: impl Into<String>, problem: &'static str) -> CoreError {
    storage(Error::CorruptRow {
        table,
        key: key.into(),
        problem,
    })
}

fn conflict(id: &SessionId, reason: &'static str) -> CoreError {
    CoreError::Conflict {
        session: id.clone(),
        reason,
    }
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).expect("a list of strings serializes")
}

/// `s` parsed as a JSON list of strings; `key` names the row only if it
/// is not one (it is formatted then, not for every row read).
fn from_json(table: &'static str, key: impl FnOnce() -> String, s: &str) -> CoreResult<Vec<String>> {
    if let Some(list) = plain_string_list(s) {
        return Ok(list);
    }
    serde_json::from_str(s).map_err(|_| corrupt(table, key(), "lines or apps are not a JSON list of strings"))
}

/// `s` read as a JSON list of strings when it is one in the shape this
/// store writes it (`serde_json`'s compact form) and no string in it has
/// an escape: `["a","b"]`, the vector sized at once. `None` for anything
/// else (an escape, a control character, white space, another shape),
/// which [`from_json`] then hands to `serde_json`; so where this answers,
/// it answers what `serde_json` would. Block lines and apps are read for
/// every block reduce-pending reduces, and `serde_json`'s general path
/// (a visitor, a vector grown push by push) was a tenth of it
/// (BENCHMARKS.md, "reduce-pending, second pass").
fn plain_string_list(s: &str) -> Option<Vec<String>> {
    let bytes = s.as_bytes();
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    if inner.is_empty() {
        return Some(Vec::new());
    }
    if bytes.iter().any(|&b| b == b'\\' || b < 0x20) {
        return None;
    }
    let quotes = bytes.iter().filter(|&&b| b == b'"').count();
    let mut out = Vec::with_capacity(quotes / 2);
    let mut rest = inner;
    loop {
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        out.push(body[..end].to_owned());
        rest = &body[end + 1..];
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix(',')?;
    }
}

const SESSION_COLUMNS: &str =
    "id, start_ms, offset_s, status, end_ms, end_reason, next_retry_ms, retry_count, flush_end_ms";

/// The raw columns of a session row, before they are checked.
struct SessionRow {
    id: String,
    start: i64,
    offset: i32,
    status: String,
    end: Option<i64>,
    reason: Option<String>,
    next_retry: Option<i64>,
    retry_count: u32,
    flush_end: Option<i64>,
}

impl SessionRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            start: r.get(1)?,
            offset: r.get(2)?,
            status: r.get(3)?,
            end: r.get(4)?,
            reason: r.get(5)?,
            next_retry: r.get(6)?,
            retry_count: r.get(7)?,
            flush_end: r.get(8)?,
        })
    }

    fn session(self) -> CoreResult<Session> {
        let reason = self.reason.as_deref().and_then(EndReason::parse);
        let phase = match (self.status.as_str(), self.end.map(Timestamp), reason) {
            ("active", None, _) => Phase::Active,
            ("ended", Some(end), Some(reason)) => Phase::Ended { end, reason },
            ("failed", Some(end), Some(reason)) => match self.next_retry {
                Some(t) => Phase::Failed {
                    end,
                    reason,
                    next_retry_at: Timestamp(t),
                },
                None => return Err(corrupt("sessions", self.id, "failed without a retry time")),
            },
            ("reduced", Some(end), Some(reason)) => Phase::Reduced { end, reason },
            _ => return Err(corrupt("sessions", self.id, "status, end and end_reason disagree")),
        };
        Ok(Session {
            id: SessionId(self.id),
            start: Timestamp(self.start),
            offset: UtcOffset(self.offset),
            phase,
            retry_count: self.retry_count,
            flush_end: self.flush_end.map(Timestamp),
        })
    }
}

/// `(status, end_ms, end_reason, next_retry_ms)` of a phase.
fn phase_columns(phase: &Phase) -> (&'static str, Option<i64>, Option<&'static str>, Option<i64>) {
    let retry = match phase {
        Phase::Failed { next_retry_at, .. } => Some(next_retry_at.0),
        Phase::Active | Phase::Ended { .. } | Phase::Reduced { .. } => None,
    };
    (
        phase.status(),
        phase.end().map(|t| t.0),
        phase.reason().map(EndReason::as_str),
        retry,
    )
}

const EVENT_COLUMNS: &str = "seq, session_id, attributed_ms, at_ms, offset_s, app, title, url, text, source, rev";

fn read_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.get::<_, i64>(0)? as u64,
        session_id: SessionId(r.get(1)?),
        attributed: Timestamp(r.get(2)?),
        rev: r.get(10)?,
        event: Event {
            at: Timestamp(r.get(3)?),
            offset: UtcOffset(r.get(4)?),
            app: r.get(5)?,
            title: r.get(6)?,
            url: r.get(7)?,
            text: r.get(8)?,
            source: r.get(9)?,
        },
    })
}

/// The entry that covers the block `b` (a row of `blocks` by that alias),
/// or NULL: the `coverage` run of its session and revision that holds its
/// start (schema 7).
macro_rules! covering_entry {
    () => {
        "(SELECT c.entry_id FROM coverage c WHERE c.session_id = b.session_id AND c.rev = b.rev
           AND c.first_ms <= b.start_ms AND c.last_ms >= b.start_ms)"
    };
}
pub(crate) use covering_entry;

/// A block's columns, `blocks` read by the alias `b`.
const BLOCK_COLUMNS: &str = concat!(
    "b.session_id, b.start_ms, b.end_ms, b.offset_s, b.lines, b.apps, b.capture_count, ",
    covering_entry!(),
    ", b.rev"
);

/// The page cache of a reduce-pending pass (or a lone reduction
/// transaction), in KiB (see [`SqliteStore::reducing`]).
const REDUCING_CACHE_KIB: i64 = 32 * 1024;

/// The checkpoint threshold, in pages, while a reduce-pending pass defers
/// its checkpoints to its last batch ([`SqliteStore::reducing`]): not
/// none, so a pass of 10^5 sessions cannot grow the WAL without bound
/// (the file keeps its largest size until a truncating checkpoint). 65,536
/// pages of 4 KiB are 256 MiB, well past what the 10^4-session pass of the
/// reduce-pending bench writes in all (its WAL peaked at ~30 MB), so such
/// a pass still checkpoints once. A bulk recovery's commit runs under it
/// too ([`Store::recover`]), leaving its checkpoint to the next commit.
const PASS_CHECKPOINT_PAGES: i64 = 65_536;

/// The most entries one `INSERT` of a reduction transaction writes (8
/// parameters each: 32,000, under SQLite's limit of 32,766). Each such
/// statement flushes the full-text index's pending data to a segment of
/// its own, so a batch of [`daybook_core::REDUCE_BATCH`] small sessions
/// costs three.
const ENTRY_ROWS: usize = 4_000;

/// The `INSERT` of [`ENTRY_ROWS`] entries; one of fewer rows is a prefix
/// of it ([`entries_insert`]). Written once, not per batch: a batch's
/// statements were a hundred kilobytes of text built each time.
static ENTRIES_INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{ENTRIES_INSERT_HEAD}{}",
        vec![ENTRIES_INSERT_ROW; ENTRY_ROWS].join(", ")
    )
});

/// The start of [`ENTRIES_INSERT`], before its rows.
const ENTRIES_INSERT_HEAD: &str =
    "INSERT INTO entries (id, session_id, kind, from_ms, to_ms, offset_s, day, body) VALUES ";

/// One row of [`ENTRIES_INSERT`]'s `VALUES` (rows are joined by `", "`).
const ENTRIES_INSERT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?)";

/// The `INSERT` of `rows` entries (1 to [`ENTRY_ROWS`]).
fn entries_insert(rows: usize) -> &'static str {
    let len = ENTRIES_INSERT_HEAD.len() + rows * (ENTRIES_INSERT_ROW.len() + 2) - 2;
    &ENTRIES_INSERT[..len]
}

/// The raw columns of a block row.
type BlockRow = (String, i64, i64, i32, String, String, u32, Option<i64>, u32);

fn read_block_row(r: &Row<'_>) -> rusqlite::Result<BlockRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn block(row: BlockRow) -> CoreResult<Block> {
    let (session, start, end, offset, lines, apps, capture_count, entry, rev) = row;
    let key = || format!("({session}, {start}, {rev})");
    Ok(Block {
        lines: from_json("blocks", key, &lines)?,
        apps: from_json("blocks", key, &apps)?,
        session_id: SessionId(session),
        start: Timestamp(start),
        end: Timestamp(end),
        rev,
        offset: UtcOffset(offset),
        capture_count,
        covered_by: entry.map(|e| e as u64),
    })
}

const ENTRY_COLUMNS: &str = "id, session_id, kind, from_ms, to_ms, offset_s, body";

fn read_entry(r: &Row<'_>) -> rusqlite::Result<(i64, String, String, i64, i64, i32, String)> {
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

fn entry(row: (i64, String, String, i64, i64, i32, String)) -> CoreResult<Entry> {
    let (id, session, kind, from, to, offset, body) = row;
    let kind = EntryKind::parse(&kind).ok_or_else(|| corrupt("entries", id.to_string(), "unknown kind"))?;
    Ok(Entry {
        id: id as u64,
        session_id: SessionId(session),
        kind,
        from: Timestamp(from),
        to: Timestamp(to),
        offset: UtcOffset(offset),
        body,
    })
}

/// The condition of the `sessions_open` index. SQLite uses a partial index
/// only for a query that repeats its condition, so every query by status
/// starts with it (`s.` before it for an alias).
const OPEN: &str = "status <> 'reduced'";

/// From this many orphans ended at once, recovery sets the status index
/// and the session-update trigger aside while it ends them
/// (`SqliteStore::end_in_bulk`): rebuilding the index reads every session
/// row once, which costs more than moving a few entries. A crash leaves
/// one orphan; only an import of another tool's history brings thousands.
pub(crate) const BULK_RECOVERY: usize = 1024;

/// How `SqliteStore::orphan_blocks` reads the orphans' blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrphanBlocks {
    /// A seek into `blocks` per orphan.
    Seek,
    /// One pass over every block, in key order.
    Scan,
}

impl OrphanBlocks {
    /// The read for recovery over `sessions`: the pass from
    /// [`BULK_RECOVERY`] orphans on when they are at least three in four
    /// sessions, else seeks (see `SqliteStore::orphan_blocks`).
    fn for_sessions(sessions: &[SessionSpan]) -> Self {
        let orphans = sessions.iter().filter(|s| s.end.is_none()).count();
        if orphans >= BULK_RECOVERY && orphans * 4 >= sessions.len() * 3 {
            Self::Scan
        } else {
            Self::Seek
        }
    }
}

/// A recovery plan's ends by session id, for `daybook_recovered_end`
/// (see `SqliteStore::recover`). SQLite asks in key order, so the entry
/// after the last one found is tried before a binary search.
///
/// The ids are kept one after another in a single string, not one
/// `String` each: the function owns its lookup, and dropping 10^5 small
/// strings when recovery removed the function (and copying them in) was about
/// 8% of `Store::recover`'s samples for an imported history (BENCHMARKS.md,
/// "recover7").
struct EndLookup {
    /// Every id, in key order, end to end.
    ids: String,
    /// `(start, end)` of each id in `ids`, and its recovered end, in key
    /// order.
    ends: Vec<(usize, usize, i64)>,
    last: usize,
}

impl EndLookup {
    fn new(plan: &RecoveryPlan) -> Self {
        let mut sorted: Vec<(&str, i64)> = plan.ends.iter().map(|e| (e.id.0.as_str(), e.end.0)).collect();
        sorted.sort_unstable();
        let mut ids = String::with_capacity(sorted.iter().map(|(id, _)| id.len()).sum());
        let ends = sorted
            .into_iter()
            .map(|(id, end)| {
                let start = ids.len();
                ids.push_str(id);
                (start, ids.len(), end)
            })
            .collect();
        Self { ids, ends, last: 0 }
    }

    fn id(&self, &(start, end, _): &(usize, usize, i64)) -> &str {
        &self.ids[start..end]
    }

    fn find(&mut self, id: &str) -> Option<i64> {
        // The next one first: each pass asks every id once, ascending.
        let near = [self.last + 1, self.last]
            .into_iter()
            .find(|&i| self.ends.get(i).is_some_and(|e| self.id(e) == id));
        let i = match near {
            Some(i) => i,
            None => self.ends.binary_search_by(|e| self.id(e).cmp(id)).ok()?,
        };
        self.last = i;
        Some(self.ends[i].2)
    }
}

/// A coverage run of a session's blocks: `(rev, first_ms, last_ms)`.
type Run = (u32, i64, i64);

/// The coverage runs of the sessions a JSON list names (`?1`): session
/// id, revision, first and last block start, each id's read by key prefix.
const COVERAGE_RUNS: &str = "SELECT c.session_id, c.rev, c.first_ms, c.last_ms FROM json_each(?1) j
 CROSS JOIN coverage c ON c.session_id = j.value";

/// The coverage runs of the sessions whose ids `ids` lists (a JSON list,
/// read by `json_each`, `CROSS JOIN`ed so each id's rows are read by its
/// key prefix), by session, in key order.
fn coverage_runs(conn: &Connection, ids: &str) -> CoreResult<BTreeMap<String, Vec<Run>>> {
    let mut runs: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(COVERAGE_RUNS).map_err(storage)?;
    let mut rows = stmt.query([ids]).map_err(storage)?;
    while let Some(r) = rows.next().map_err(storage)? {
        runs.entry(r.get(0).map_err(storage)?).or_default().push((
            r.get(1).map_err(storage)?,
            r.get(2).map_err(storage)?,
            r.get(3).map_err(storage)?,
        ));
    }
    Ok(runs)
}

/// The coverage runs that covering `covered` (`(start, rev)`) adds to a
/// session whose block keys are `keys` (`(rev, start)`, sorted) and whose
/// runs are `runs` (`(rev, first, last)`), and how many of its blocks stay
/// uncovered then; `None` if a listed block is missing, already covered or
/// listed twice. A new run holds wanted blocks consecutive among the
/// session's blocks of one revision (schema 7).
fn new_runs(keys: &[(u32, i64)], runs: &[Run], covered: &[(i64, u32)]) -> Option<(Vec<Run>, usize)> {
    let is_covered = |&(rev, start): &(u32, i64)| {
        runs.iter()
            .any(|&(r, first, last)| r == rev && first <= start && start <= last)
    };
    let mut wanted: Vec<(u32, i64)> = covered.iter().map(|&(start, rev)| (rev, start)).collect();
    wanted.sort_unstable();
    let listed = wanted.len();
    wanted.dedup();
    let mut found = 0;
    let mut left = 0;
    // Runs over `keys`, in order: (rev, first, last) of consecutive
    // wanted blocks.
    let mut new_runs: Vec<Run> = Vec::new();
    let mut extending = false;
    for key in keys {
        let want = wanted.binary_search(key).is_ok();
        let was = is_covered(key);
        if want && !was {
            found += 1;
            match new_runs.last_mut() {
                Some(run) if extending && run.0 == key.0 => run.2 = key.1,
                _ => new_runs.push((key.0, key.1, key.1)),
            }
            extending = true;
        } else {
            extending = false;
            if !was {
                left += 1;
            }
        }
    }
    (found == listed).then_some((new_runs, left))
}

/// A session's status as a reduction transaction checks it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReducingStatus {
    /// `active`: cannot be finished.
    Active,
    /// `reduced`: takes late entries only.
    Reduced,
    /// `ended` or `failed`.
    Pending,
}

/// One session of a reduction transaction (see [`ReducingBatch`]): its
/// state as read, then as the batch's commits so far left it, and the
/// writes they make to its `sessions` and `late_pending` rows.
struct ReducingSlot<'c> {
    /// The session's id, borrowed from the batch's commits.
    id: &'c str,
    /// Its status (`None`: no such session).
    status: Option<ReducingStatus>,
    /// Its block keys, `(rev, start)`, sorted.
    keys: Vec<(u32, i64)>,
    /// Its coverage runs, `(rev, first, last)`, the batch's own new ones
    /// included.
    runs: Vec<Run>,
    /// Its new `flush_end_ms` (the last one given).
    flush_end: Option<i64>,
    /// Whether it was finished.
    finished: bool,
    /// Whether it ends the batch listed in `late_pending` (`None`: no
    /// change).
    late: Option<bool>,
}

/// A reduction transaction's sessions (see `SqliteStore::reduce_all`):
/// read once for the whole batch, then kept as the batch's commits, in
/// order, leave them; the writes those commits make, gathered to go out
/// in key order, one statement per table.
///
/// One slot a distinct session, in id order, its id borrowed from the
/// commits: each commit's slot is known from sorting the commits once,
/// and the writes go out in key order by walking the slots. String-keyed trees
/// per field, each with its own cloned ids, were a tenth of the
/// reduction transaction's time (BENCHMARKS.md, "batch8").
struct ReducingBatch<'c> {
    /// The sessions, sorted by id, each once.
    slots: Vec<ReducingSlot<'c>>,
    /// Each commit's slot, by the commit's place in the batch.
    slot_of: Vec<usize>,
    /// New coverage rows: `(slot, rev, first, last, entry)`.
    coverage: Vec<(usize, u32, i64, i64, i64)>,
}

impl<'c> ReducingBatch<'c> {
    /// The state of `commits`' sessions, three statements over their ids
    /// (`json_each`, `CROSS JOIN`ed so each id is a seek by key prefix).
    fn read(tx: &Transaction<'_>, commits: &'c [ReductionCommit]) -> CoreResult<Self> {
        // The commits in id order give the slots and each commit's slot.
        let mut order: Vec<(&'c str, usize)> = commits
            .iter()
            .enumerate()
            .map(|(i, c)| (c.session_id.0.as_str(), i))
            .collect();
        order.sort_unstable();
        let mut batch = Self {
            slots: Vec::new(),
            slot_of: vec![0; commits.len()],
            coverage: Vec::new(),
        };
        for (id, i) in order {
            if batch.slots.last().is_none_or(|s| s.id != id) {
                batch.slots.push(ReducingSlot {
                    id,
                    status: None,
                    keys: Vec::new(),
                    runs: Vec::new(),
                    flush_end: None,
                    finished: false,
                    late: None,
                });
            }
            batch.slot_of[i] = batch.slots.len() - 1;
        }
        let ids: Vec<&str> = batch.slots.iter().map(|s| s.id).collect();
        let json = serde_json::to_string(&ids).map_err(storage)?;
        batch.fill(
            tx,
            "SELECT s.id, s.status FROM json_each(?1) j CROSS JOIN sessions s ON s.id = j.value",
            &json,
            |slot, r| {
                slot.status = Some(match r.get_ref(1)?.as_str()? {
                    "active" => ReducingStatus::Active,
                    "reduced" => ReducingStatus::Reduced,
                    _ => ReducingStatus::Pending,
                });
                Ok(())
            },
        )?;
        batch.fill(
            tx,
            "SELECT b.session_id, b.rev, b.start_ms FROM json_each(?1) j
             CROSS JOIN blocks b ON b.session_id = j.value",
            &json,
            |slot, r| {
                slot.keys.push((r.get(1)?, r.get(2)?));
                Ok(())
            },
        )?;
        batch.fill(tx, COVERAGE_RUNS, &json, |slot, r| {
            slot.runs.push((r.get(1)?, r.get(2)?, r.get(3)?));
            Ok(())
        })?;
        for slot in &mut batch.slots {
            slot.keys.sort_unstable();
        }
        Ok(batch)
    }

    /// Runs `sql` over the batch's ids (`json`, a JSON list) and hands
    /// each row to `f` with its session's slot (the row's first column is
    /// the session id; rows of no slot are skipped). The rows come a
    /// session at a time in the list's order (`json_each` drives the
    /// join), so `find` tries the slot in hand and the next first.
    fn fill(
        &mut self,
        tx: &Transaction<'_>,
        sql: &str,
        json: &str,
        mut f: impl FnMut(&mut ReducingSlot<'c>, &Row<'_>) -> rusqlite::Result<()>,
    ) -> CoreResult<()> {
        let mut at = 0;
        let mut stmt = tx.prepare_cached(sql).map_err(storage)?;
        let mut rows = stmt.query([json]).map_err(storage)?;
        while let Some(r) = rows.next().map_err(storage)? {
            let id = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
            if let Some(slot) = self.find(id, &mut at) {
                f(slot, r).map_err(storage)?;
            }
        }
        Ok(())
    }

    /// The slot of session `id`: the one at `at` or the next if it is
    /// that session's, else found by binary search; `at` is moved to it.
    fn find(&mut self, id: &str, at: &mut usize) -> Option<&mut ReducingSlot<'c>> {
        let is = |i: usize| self.slots.get(i).is_some_and(|s| s.id == id);
        if !is(*at) {
            *at = if is(*at + 1) {
                *at + 1
            } else {
                self.slots.binary_search_by(|s| s.id.cmp(id)).ok()?
            };
        }
        self.slots.get_mut(*at)
    }

    /// One reduction, the batch's `at`th commit, with
    /// `commit_reduction`'s checks (in its order) against the state the
    /// batch's earlier commits left. Its entry, if any, gets id
    /// `entry_id` and is returned for `reduce_all` to write.
    fn reduce(&mut self, at: usize, commit: &ReductionCommit, entry_id: i64) -> CoreResult<Option<Entry>> {
        let id = &commit.session_id;
        let index = self.slot_of[at];
        let slot = &mut self.slots[index];
        let (reduced, active) = match slot.status {
            None => return Err(CoreError::UnknownSession(id.clone())),
            Some(status) => (status == ReducingStatus::Reduced, status == ReducingStatus::Active),
        };
        let late = commit.entry.as_ref().is_some_and(|e| e.kind == EntryKind::Late);
        if reduced && !late {
            return Err(conflict(id, "session is already reduced"));
        }
        if late && commit.finish {
            return Err(conflict(id, "a late entry never finishes a session"));
        }
        if commit.entry.as_ref().is_some_and(|e| e.session_id != *id) {
            return Err(conflict(id, "the entry belongs to another session"));
        }
        if commit.entry.is_none() && !commit.covered.is_empty() {
            return Err(conflict(id, "blocks can only be covered by an entry"));
        }
        if commit.finish && active {
            return Err(conflict(id, "an active session cannot be finished"));
        }
        let (added, left) = new_runs(
            &slot.keys,
            &slot.runs,
            &commit.covered.iter().map(|(s, r)| (s.0, *r)).collect::<Vec<_>>(),
        )
        .ok_or_else(|| conflict(id, "covered block is missing or already covered"))?;
        let entry = match &commit.entry {
            None => None,
            Some(e) => {
                for &(rev, first, last) in &added {
                    slot.runs.push((rev, first, last));
                    self.coverage.push((index, rev, first, last, entry_id));
                }
                Some(Entry {
                    id: entry_id as u64,
                    session_id: id.clone(),
                    kind: e.kind,
                    from: e.from,
                    to: e.to,
                    offset: e.offset,
                    body: e.body.clone(),
                })
            }
        };
        if let Some(end) = commit.flush_end {
            slot.flush_end = Some(end.0);
        }
        if commit.finish {
            slot.finished = true;
            slot.status = Some(ReducingStatus::Reduced);
        }
        if commit.finish || reduced {
            // A reduced session with blocks left uncovered stays pending
            // (`late_pending`); one with none leaves the list.
            slot.late = Some(left > 0);
        }
        Ok(entry)
    }

    /// The batch's writes, each table's in key order: coverage rows, one
    /// `UPDATE` of the sessions it changed, one `DELETE` from and one
    /// `INSERT` into `late_pending`. (Slots are in id order, so a slot's
    /// index orders rows as its id does.)
    fn write(mut self, tx: &Transaction<'_>) -> CoreResult<()> {
        self.coverage
            .sort_unstable_by_key(|&(slot, rev, first, ..)| (slot, rev, first));
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO coverage (session_id, rev, first_ms, last_ms, entry_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(storage)?;
        for &(slot, rev, first, last, entry) in &self.coverage {
            let id = self.slots[slot].id;
            insert.execute(params![id, rev, first, last, entry]).map_err(storage)?;
        }
        let changed: Vec<(&str, Option<i64>, bool)> = self
            .slots
            .iter()
            .filter(|s| s.flush_end.is_some() || s.finished)
            .map(|s| (s.id, s.flush_end, s.finished))
            .collect();
        if !changed.is_empty() {
            let json = serde_json::to_string(&changed).map_err(storage)?;
            tx.prepare_cached(
                "UPDATE sessions SET
                   flush_end_ms = coalesce(u.flush_end, flush_end_ms),
                   status = CASE WHEN u.finish THEN 'reduced' ELSE status END,
                   next_retry_ms = CASE WHEN u.finish THEN NULL ELSE next_retry_ms END
                 FROM (SELECT j.value ->> 0 AS id, j.value ->> 1 AS flush_end, j.value ->> 2 AS finish
                       FROM json_each(?1) j) AS u
                 WHERE sessions.id = u.id",
            )
            .and_then(|mut s| s.execute([&json]))
            .map_err(storage)?;
        }
        let late = |pending: bool| -> Vec<&str> {
            self.slots
                .iter()
                .filter(|s| s.late == Some(pending))
                .map(|s| s.id)
                .collect()
        };
        let (listed, unlisted) = (late(true), late(false));
        if !unlisted.is_empty() {
            let json = serde_json::to_string(&unlisted).map_err(storage)?;
            tx.prepare_cached("DELETE FROM late_pending WHERE session_id IN (SELECT value FROM json_each(?1))")
                .and_then(|mut s| s.execute([&json]))
                .map_err(storage)?;
        }
        if !listed.is_empty() {
            let json = serde_json::to_string(&listed).map_err(storage)?;
            tx.prepare_cached(
                "INSERT INTO late_pending (session_id) SELECT value FROM json_each(?1) WHERE true
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute([&json]))
            .map_err(storage)?;
        }
        Ok(())
    }
}

/// Runs `query` and maps each row with `read`, then checks each with `check`.
fn collect<T, R>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<R>,
    mut check: impl FnMut(R) -> CoreResult<T>,
) -> CoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(storage)?;
    let rows = stmt.query_map(params, read).map_err(storage)?;
    rows.map(|r| r.map_err(storage).and_then(&mut check)).collect()
}

/// `PRAGMA data_version` of `conn`: changes whenever another connection
/// commits to the database.
fn data_version(conn: &Connection) -> CoreResult<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(storage)
}

/// The uncovered blocks of each of `sessions`, in their order, read on
/// `conn` ([`Store::pending_blocks`]; also what a prefetch reads on its
/// own connection).
fn read_pending_blocks(conn: &Connection, sessions: &[Session]) -> CoreResult<Vec<Vec<Block>>> {
    // The sessions' coverage runs (few: flushes and earlier late
    // entries), then their blocks; a covered block is dropped before
    // its content is parsed. Looking each block's run up here instead
    // of in a subquery per block row halves the read (BENCHMARKS.md).
    // Both join the sessions' distinct ids, handed over as one JSON
    // list (`json_each`), `CROSS JOIN`ed so each id's rows are read by
    // its key prefix, never a scan of every block.
    let ids: BTreeSet<&str> = sessions.iter().map(|s| s.id.0.as_str()).collect();
    let ids = serde_json::to_string(&ids).map_err(storage)?;
    let runs = coverage_runs(conn, &ids)?;
    let mut by_session: BTreeMap<SessionId, Vec<Block>> = BTreeMap::new();
    // The rows come a session at a time, so the session in hand and
    // its runs are looked up once when it starts, not per block (a
    // `BTreeMap` search per block was a twentieth of reduce-pending,
    // BENCHMARKS.md); its blocks are filed when the next one starts.
    // Filing appends, so rows in any other order read the same.
    let mut current = SessionId(String::new());
    let mut current_blocks: Vec<Block> = Vec::new();
    let mut current_runs: &[Run] = &[];
    let mut stmt = conn
        .prepare_cached(
            "SELECT b.session_id, b.start_ms, b.end_ms, b.offset_s, b.lines, b.apps, b.capture_count, b.rev
             FROM json_each(?1) j CROSS JOIN blocks b ON b.session_id = j.value",
        )
        .map_err(storage)?;
    let mut rows = stmt.query([&ids]).map_err(storage)?;
    while let Some(r) = rows.next().map_err(storage)? {
        let session = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
        if session != current.0 {
            let blocks = std::mem::take(&mut current_blocks);
            let id = std::mem::replace(&mut current, SessionId(session.to_owned()));
            if !blocks.is_empty() {
                by_session.entry(id).or_default().extend(blocks);
            }
            current_runs = runs.get(session).map_or(&[][..], Vec::as_slice);
        }
        let start: i64 = r.get(1).map_err(storage)?;
        let rev: u32 = r.get(7).map_err(storage)?;
        let covered = current_runs
            .iter()
            .any(|&(r, first, last)| r == rev && first <= start && start <= last);
        if covered {
            continue;
        }
        let key = || format!("({session}, {start}, {rev})");
        let lines = r.get_ref(4).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
        let apps = r.get_ref(5).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
        current_blocks.push(Block {
            lines: from_json("blocks", key, lines)?,
            apps: from_json("blocks", key, apps)?,
            session_id: current.clone(),
            start: Timestamp(start),
            end: Timestamp(r.get(2).map_err(storage)?),
            rev,
            offset: UtcOffset(r.get(3).map_err(storage)?),
            capture_count: r.get(6).map_err(storage)?,
            covered_by: None,
        });
    }
    if !current_blocks.is_empty() {
        by_session.entry(current).or_default().extend(current_blocks);
    }
    // Each session's blocks are moved out at its last listing (a
    // session listed twice gets them both times).
    let last: BTreeMap<&SessionId, usize> = sessions.iter().enumerate().map(|(i, s)| (&s.id, i)).collect();
    Ok(sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut blocks = if last.get(&s.id) == Some(&i) {
                by_session.remove(&s.id).unwrap_or_default()
            } else {
                by_session.get(&s.id).cloned().unwrap_or_default()
            };
            blocks.sort_by_key(|b| (b.start, b.rev));
            blocks
        })
        .collect())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and migrates it.
    ///
    /// A file that is not a daybook database is refused before anything is
    /// written to it: the header and schema are read first, and only then
    /// are WAL mode and migrations applied.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, false)
    }

    /// [`Self::open`], refusing the file unless `PRAGMA quick_check` finds
    /// every page sound, before anything is written to it. For the daemon
    /// and the commands that start an engine: a damaged page that startup
    /// happens not to read would otherwise go unnoticed until a write lands
    /// on it. It reads the whole file once (well under a second for a
    /// year of captures); read-only commands skip it.
    pub fn open_verified(path: &Path) -> Result<Self> {
        Self::open_with(path, true)
    }

    fn open_with(path: &Path, verify: bool) -> Result<Self> {
        let db = |source| Error::Database {
            path: path.to_owned(),
            source,
        };
        // Created 0600 before SQLite opens it: SQLite gives the -wal and
        // -shm files the database file's mode.
        crate::datadir::create_private_file_if_missing(path).map_err(|source| Error::Io {
            what: "creating",
            path: path.to_owned(),
            source,
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(db)?;
        // Closing the last connection to a WAL database copies the WAL into
        // the file: a refused file (left by a kill, its WAL not yet copied)
        // would be written to on the way out. Until the checks below pass,
        // closing leaves the file and its WAL as they are.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(db)?;
        // Reading the schema parses the header: a garbage or truncated file
        // fails here, untouched.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
            .map_err(db)?;
        // SQLite writes whole pages only, but reads a file cut inside its
        // last page without complaint (the lost tail reads as zeros, and
        // even integrity_check passes): refuse that here.
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(db)?;
        let page_size = u64::try_from(page_size).unwrap_or(0);
        let len = std::fs::metadata(path)
            .map_err(|source| Error::Io {
                what: "reading the size of",
                path: path.to_owned(),
                source,
            })?
            .len();
        if page_size > 0 && len % page_size != 0 {
            return Err(Error::Damaged {
                path: path.to_owned(),
                problem: format!(
                    "its {len} bytes are not a whole number of {page_size}-byte pages (the file was cut short)"
                ),
            });
        }
        if verify {
            let mut stmt = conn.prepare("PRAGMA quick_check").map_err(db)?;
            let found: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(db)?;
            drop(stmt);
            if found != ["ok"] {
                return Err(Error::Damaged {
                    path: path.to_owned(),
                    problem: found.into_iter().take(3).collect::<Vec<_>>().join("; "),
                });
            }
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "OFF").map_err(db)?;
        match schema::migrate(&mut conn).map_err(db)? {
            Migrated::From(_) => {}
            Migrated::TooNew(found) => {
                return Err(Error::SchemaTooNew {
                    path: path.to_owned(),
                    found,
                    known: schema::MIGRATIONS.len() as i64,
                });
            }
            Migrated::Dangling { version, table } => {
                return Err(Error::Damaged {
                    path: path.to_owned(),
                    problem: format!(
                        "a row of {table} refers to a row that is not there (found while migrating to version {version}, which was rolled back)"
                    ),
                });
            }
        }
        // WAL mode rewrites the header of a file not yet in it: only once
        // the file is accepted.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
            .map_err(db)?;
        // Plans that never depend on bound values. Without this, SQLite
        // (3.54) marks every `WHERE x = ?1 ORDER BY …` statement to be
        // compiled again whenever `?1` is rebound, so a cached statement run
        // once per session was re-parsed and re-planned every time (10-20x
        // its cost: rendering a day file re-prepared its events query once
        // per session). daybook has no statistics tables and no `LIKE ?`,
        // so no plan here gains anything from looking at the values.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db)?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            staged: Cell::new((0, 0)),
            aw_staged: RefCell::new(Vec::new()),
            history_done: Cell::new(None),
            prefetch: RefCell::new(None),
            #[cfg(test)]
            prefetches_used: Cell::new(0),
            #[cfg(test)]
            chunks_worked_here: Cell::new(0),
            reader: RefCell::new(None),
            reducing_mode: Cell::new(None),
        })
    }

    /// Opens the database for reading only, for the readers (search,
    /// summaries, MCP) beside a running daemon: never created, never
    /// migrated (its schema must be this build's: the daemon, or any
    /// command that opens it with [`Self::open`], migrates it), and
    /// `query_only`, so no statement on this connection can write. In WAL
    /// mode it reads the last committed state while the daemon writes, and
    /// closing it never checkpoints (that is the daemon's job).
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let db = |source| Error::Database {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            return Err(Error::Missing {
                what: "database",
                path: path.to_owned(),
            });
        }
        // Read-write flags with `query_only`, not SQLITE_OPEN_READ_ONLY: a
        // read-only connection cannot open a WAL database whose -shm file
        // is missing (no daemon ran since the last clean stop).
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(db)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(db)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        conn.pragma_update(None, "query_only", true).map_err(db)?;
        // As in `open_with`: no re-planning on every rebind.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
        let known = schema::MIGRATIONS.len() as i64;
        if found > known {
            return Err(Error::SchemaTooNew {
                path: path.to_owned(),
                found,
                known,
            });
        }
        if found < known {
            return Err(Error::Damaged {
                path: path.to_owned(),
                problem: format!(
                    "its schema is version {found}, older than this daybook's {known}; start `daybook run` once to upgrade it"
                ),
            });
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
            staged: Cell::new((0, 0)),
            aw_staged: RefCell::new(Vec::new()),
            history_done: Cell::new(None),
            prefetch: RefCell::new(None),
            #[cfg(test)]
            prefetches_used: Cell::new(0),
            #[cfg(test)]
            chunks_worked_here: Cell::new(0),
            reader: RefCell::new(None),
            reducing_mode: Cell::new(None),
        })
    }

    /// What is wrong with the full-text indexes, if anything: an event or
    /// entry missing from its index or indexed twice, a row of the index
    /// whose event or entry is not there (left by a rolled-back write), or
    /// an index whose words differ from its rows' (FTS5's own
    /// `integrity-check` against the rows). Empty when they match. For
    /// `doctor` and the simulator's oracle after every crash.
    pub fn search_index_problems(&self) -> CoreResult<Vec<String>> {
        let mut problems = Vec::new();
        for (index, table, key) in [("events_fts", "events", "seq"), ("entries_fts", "entries", "id")] {
            // `_docsize` holds one row per indexed document.
            let count = |sql: &str| -> CoreResult<i64> { self.conn.query_row(sql, [], |r| r.get(0)).map_err(storage) };
            let missing = count(&format!(
                "SELECT count(*) FROM {table} WHERE {key} NOT IN (SELECT id FROM {index}_docsize)"
            ))?;
            let stray = count(&format!(
                "SELECT count(*) FROM {index}_docsize WHERE id NOT IN (SELECT {key} FROM {table})"
            ))?;
            if missing > 0 {
                problems.push(format!(
                    "{missing} row(s) of {table} missing from the search index {index}"
                ));
            }
            if stray > 0 {
                problems.push(format!(
                    "{stray} row(s) of the search index {index} whose {table} row is not there"
                ));
            }
            let checked = self.conn.execute(
                &format!("INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)"),
                [],
            );
            match checked {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, message)) if e.code == rusqlite::ErrorCode::DatabaseCorrupt => {
                    problems.push(format!(
                        "the search index {index} does not match the rows of {table} ({})",
                        message.unwrap_or_default()
                    ));
                }
                Err(e) => return Err(storage(e)),
            }
        }
        Ok(problems)
    }

    /// The daemon's durable state.
    pub fn daemon_state(&self) -> CoreResult<DaemonState> {
        self.conn
            .query_row(
                "SELECT paused, dropped_paused, dropped_ignored FROM daemon_state WHERE id = 1",
                [],
                |r| {
                    Ok(DaemonState {
                        paused: r.get(0)?,
                        dropped_paused: r.get::<_, i64>(1)? as u64,
                        dropped_ignored: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .map_err(storage)
    }

    /// Records whether capture is paused (its own transaction).
    pub fn set_paused(&self, paused: bool) -> CoreResult<()> {
        self.conn
            .execute("UPDATE daemon_state SET paused = ?1 WHERE id = 1", [paused])
            .map(drop)
            .map_err(storage)
    }

    /// Stages drop counts for the next ingest transaction, so the count of
    /// events a batch dropped commits with the events it kept, or not at
    /// all. A batch that writes nothing (capture paused) commits them with
    /// [`Self::commit_staged`].
    pub fn stage_dropped(&self, paused: u64, ignored: u64) {
        let (p, i) = self.staged.get();
        self.staged.set((p + paused, i + ignored));
    }

    /// Commits counts still staged, in their own transaction.
    pub fn commit_staged(&self) -> CoreResult<()> {
        let (paused, ignored) = self.staged.take();
        let aw = self.aw_staged.take();
        if (paused, ignored) == (0, 0) && aw.is_empty() {
            return Ok(());
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(storage)?;
        Self::add_dropped(&tx, paused, ignored)?;
        Self::apply_aw(&tx, &aw)?;
        tx.commit().map_err(storage)
    }

    /// Stages the end of an imported history batch: every raw event up to
    /// `through` (in `(start_ns, id)` order) leaves `aw_pending` in the
    /// next ingest transaction, the one that commits what they derived.
    pub fn stage_history_done(&self, through: (i64, i64)) {
        self.history_done.set(Some(through));
    }

    /// Forgets staged counts and writes (their batch did not commit).
    pub fn discard_staged(&self) {
        self.history_done.set(None);
        self.staged.set((0, 0));
        self.aw_staged.borrow_mut().clear();
    }

    fn add_dropped(conn: &Connection, paused: u64, ignored: u64) -> CoreResult<()> {
        conn.prepare_cached(
            "UPDATE daemon_state SET dropped_paused = dropped_paused + ?1, dropped_ignored = dropped_ignored + ?2 WHERE id = 1",
        )
        .and_then(|mut s| s.execute(params![paused as i64, ignored as i64]))
        .map(drop)
        .map_err(storage)
    }

    /// The store's connection, for a prefetch's thread to read on.
    fn into_connection(self) -> Connection {
        let Self { conn, .. } = self;
        conn
    }

    /// The prefetched answer for `sessions` and `make`, if one was asked
    /// for exactly them and still holds (see
    /// [`Self::prefetch_pending_reductions`]): the chunks the thread has
    /// not taken are worked out here first, on this connection, beside it
    /// ([`PageWork`]); its error, if it holds and failed; `None` to work
    /// afresh. Any prefetch is over after this.
    fn take_prefetch(&self, sessions: &[Session], make: MakeCommits) -> CoreResult<Option<Vec<ReductionCommit>>> {
        let Some(mut prefetch) = self.prefetch.borrow_mut().take() else {
            return Ok(None);
        };
        // The same function may have two addresses (one per codegen unit),
        // which only costs a fresh read; two functions share one only when
        // their code is the same, and so are their answers. Another
        // connection's commit since the hint (`data_version`, checked
        // again once the thread is over) makes its work stale.
        let asked = prefetch.work.sessions == sessions
            && std::ptr::fn_addr_eq(prefetch.work.make, make)
            && data_version(&self.conn)? == prefetch.data_version;
        if asked {
            // This connection reads what the thread's would: the commits
            // since the hint were of other sessions.
            let worked = prefetch.work.work(&self.conn);
            #[cfg(test)]
            self.chunks_worked_here.set(self.chunks_worked_here.get() + worked);
            #[cfg(not(test))]
            let _ = worked;
        } else {
            prefetch.work.stop();
        }
        let (conn, out) = prefetch.join();
        if let Some(conn) = conn {
            *self.reader.borrow_mut() = Some(conn);
        }
        if !asked || data_version(&self.conn)? != prefetch.data_version {
            return Ok(None);
        }
        #[cfg(test)]
        self.prefetches_used.set(self.prefetches_used.get() + 1);
        // Every chunk worked out is the answer, even if the thread never
        // started (its connection would not open): this connection then
        // worked them all. A chunk nobody finished is the thread's error.
        match prefetch.work.commits() {
            Ok(commits) => Ok(Some(commits)),
            Err(Some(e)) => Err(e),
            Err(None) => Err(out.err().unwrap_or_else(|| {
                storage(std::io::Error::other(
                    "the announced page's read and commits stopped (a chunk was never finished)",
                ))
            })),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for commands that read beyond the trait (status).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; commits only if it
    /// returns `Ok`. Dropping an uncommitted transaction rolls it back.
    /// The importers write their batches through it.
    ///
    /// A write other than a reduction first drops any prefetched commits
    /// (it may change their blocks) and sets the connection back from reductions'
    /// settings ([`Self::reducing`]): foreign keys are on for it.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> CoreResult<T>) -> CoreResult<T> {
        self.prefetch.get_mut().take();
        self.leave_reducing_mode()?;
        self.write_tx(f)
    }

    /// [`Self::write`] as it is, for [`Self::reducing`].
    fn write_tx<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> CoreResult<T>) -> CoreResult<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)?;
        let out = f(&tx)?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Recovery's input without its blocks: every session, in key order,
    /// and each orphan's latest event (`last_events`, in the same order),
    /// in one pass over the table: the events index is sought only for an
    /// active row. (Read apart, the orphans' ids were walked a second time
    /// through `sessions_open` and copied out again, 10^5 strings for an
    /// imported history; BENCHMARKS.md, "recovery and recover's day files,
    /// fifth pass".)
    fn recovery_sessions(&self) -> CoreResult<RecoveryInput> {
        let mut last_events = Vec::new();
        let sessions = collect(
            &self.conn,
            "SELECT id, start_ms, end_ms, status = 'reduced',
                    CASE WHEN status = 'active'
                         THEN (SELECT max(e.attributed_ms) FROM events e WHERE e.session_id = sessions.id) END
             FROM sessions ORDER BY id",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            },
            |(id, start, end, reduced, last)| {
                let id = SessionId(id);
                if let Some(at) = last {
                    last_events.push((id.clone(), Timestamp(at)));
                }
                Ok(SessionSpan {
                    id,
                    start: Timestamp(start),
                    end: end.map(Timestamp),
                    reduced,
                })
            },
        )?;
        Ok(RecoveryInput {
            sessions,
            last_events,
            blocks: Vec::new(),
        })
    }

    /// The blocks of the orphans (the sessions of `sessions`, in key
    /// order, with no end), by session in key order, read as `read` says.
    ///
    /// [`OrphanBlocks::Seek`] joins the orphans to `blocks`: one seek by
    /// key prefix per orphan, the right read when orphans are few among
    /// many sessions (a crash leaves one). [`OrphanBlocks::Scan`] reads
    /// every block's key and window in key order and keeps an orphan's by
    /// walking the orphans' ids beside it: `recovery_input` takes it from
    /// [`BULK_RECOVERY`] orphans on when they are at least three in four
    /// sessions (an imported history of another tool's orphans), where a
    /// seek per orphan costs more than reading the few other sessions'
    /// blocks too, and no row of another session is copied out. At one
    /// orphan in two (the `recovery_sqlite` bench: each orphan beside a
    /// reduced session) the pass read slower than the seeks
    /// (BENCHMARKS.md, "recovery_input by scan"). Both give the same
    /// blocks, grouped by session in key order (the planner needs no
    /// order inside a session), each naming its owner by its index in
    /// `sessions`, which must be in key order (as `recovery_sessions`
    /// reads them).
    fn orphan_blocks(&self, sessions: &[SessionSpan], read: OrphanBlocks) -> CoreResult<Vec<BlockSpan>> {
        let sql = match read {
            OrphanBlocks::Seek => format!(
                "SELECT b.session_id, b.start_ms, b.end_ms FROM sessions s
                 JOIN blocks b ON b.session_id = s.id WHERE s.{OPEN} AND s.status = 'active'
                 ORDER BY s.id"
            ),
            OrphanBlocks::Scan => {
                "SELECT session_id, start_ms, end_ms FROM blocks ORDER BY session_id, start_ms, rev".into()
            }
        };
        // Each row's owner found by walking the orphans' ids (by index in
        // `sessions`) beside the rows, both in key order: a compare per
        // row, and a block of another session (the pass reads them all)
        // is skipped without a copy.
        let mut orphans = sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.end.is_none())
            .map(|(i, s)| (i, s.id.0.as_str()))
            .peekable();
        let mut blocks = Vec::new();
        let mut stmt = self.conn.prepare_cached(&sql).map_err(storage)?;
        let mut rows = stmt.query([]).map_err(storage)?;
        while let Some(r) = rows.next().map_err(storage)? {
            let owner = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(storage)?;
            while orphans.next_if(|&(_, id)| id < owner).is_some() {}
            let Some(&(at, id)) = orphans.peek() else { break };
            if id == owner {
                blocks.push(BlockSpan {
                    owner: Some(at),
                    loose_id: 0,
                    start: Timestamp(r.get(1).map_err(storage)?),
                    end: Timestamp(r.get(2).map_err(storage)?),
                });
            }
        }
        Ok(blocks)
    }

    /// Runs `end`, recovery's `UPDATE` of many orphans, with the status
    /// index `sessions_open` and the `stale_session_update` trigger set
    /// aside: both dropped before it and created again after it, from
    /// their own stored SQL (`sqlite_master`), in `tx`, so a crash leaves
    /// the schema and the rows as before or after, and the schema after is
    /// byte for byte the one before.
    ///
    /// Why (BENCHMARKS.md, "recovery and recover's day files, fifth pass"):
    /// moving 10^5 index entries from `active` to `ended` one row at a time
    /// costs more than building the index again from the table once, and a
    /// trigger on the table, even one whose `WHEN` skips every row, makes
    /// SQLite list every key to update before the first write (no one-pass
    /// update). The trigger skips exactly the change `end` makes, an active
    /// session ended as `recovered` with its id, start and offset kept
    /// (schema migration 14; its days are listed by [`Store::recover`]
    /// itself), so nothing it would have done is lost while it is away.
    fn end_in_bulk(tx: &Transaction<'_>, end: &str) -> CoreResult<()> {
        let mut aside = Vec::new();
        for (kind, name) in [("index", "sessions_open"), ("trigger", "stale_session_update")] {
            let sql: Option<String> = tx
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = ?1 AND name = ?2",
                    [kind, name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage)?;
            if let Some(sql) = sql {
                tx.execute_batch(&format!("DROP {kind} {name}")).map_err(storage)?;
                aside.push(sql);
            }
        }
        // The table's `CHECK`s skipped for this one statement: they hold by
        // construction (an active row, so `next_retry_ms` is NULL, becomes
        // `ended` with the non-NULL end its `WHERE` found), and checking
        // them made SQLite's update of 10^5 rows take twice as long
        // (BENCHMARKS.md, "recover7"). The flag is read when a
        // statement is compiled, so it covers `end` alone; it is set back
        // whatever `end` did, before anything else runs here.
        tx.pragma_update(None, "ignore_check_constraints", true)
            .map_err(storage)?;
        let ended = tx.execute_batch(end).map_err(storage);
        tx.pragma_update(None, "ignore_check_constraints", false)
            .map_err(storage)?;
        ended?;
        for sql in aside {
            tx.execute_batch(&sql).map_err(storage)?;
        }
        Ok(())
    }

    /// A reduction transaction, run with foreign-key enforcement off.
    /// SQLite checked each block's `entry_id` against `entries` row by
    /// row, which cost more than half of reduce-pending (BENCHMARKS.md);
    /// coverage is a few runs per entry since schema 7, but every
    /// reference such a transaction writes is still checked by
    /// [`Self::reduce_in`] itself: the session exists, the entry is the
    /// commit's session's, and its coverage runs point at the entry
    /// [`Self::reduce_all`] inserts with them. Enforcement is back on
    /// when the pass ends (see the last paragraph), after a failed batch
    /// before this returns.
    ///
    /// The page cache is [`REDUCING_CACHE_KIB`] for the pass: a
    /// batch's dirty pages (entries, their full-text segments, coverage,
    /// sessions and their index) outgrow SQLite's default 2 MB, which
    /// then writes them to the WAL before the commit and reads them
    /// back. It is set back to what it was when the pass ends, so the
    /// daemon's memory after it stays as it was.
    ///
    /// Statement journals stay in memory for the pass (`temp_store =
    /// MEMORY`, set back when it ends): in WAL mode a
    /// statement that may fail half-way (the batch's multi-row entry
    /// `INSERT` with its full-text trigger) copies every existing page it
    /// changes to a statement journal, which spilled to a temporary file
    /// past 64 KiB: a tenth of the commit's time at 10^5 sessions went to
    /// those writes (BENCHMARKS.md, "reduce-pending, third pass"). A
    /// batch's journal is at most its own dirty pages, which the 32 MiB
    /// cache holds anyway.
    ///
    /// Setting `foreign_keys` or `temp_store` expires every prepared
    /// statement of the connection (and `temp_store` drops its parsed
    /// schema), so toggling them around each batch had every cached
    /// statement parsed and planned again each batch (~5% of
    /// reduce-pending, BENCHMARKS.md "sixth pass"). So the settings stay
    /// while reduce-pending has announced its next batch (a prefetch
    /// outstanding, [`Self::prefetch_pending_reductions`]), and are set back
    /// after the batch that announces none, or before any other write
    /// ([`Self::write`]), whichever comes first: every other write still
    /// runs with foreign keys on, and the cache is back to its size once
    /// the pass ends.
    ///
    /// The WAL is not checkpointed after a batch that announces another
    /// (`wal_autocheckpoint` raised to [`PASS_CHECKPOINT_PAGES`] for its
    /// commit, a bound on the WAL's size, not a checkpoint a batch), only
    /// after the pass's last, whose commit runs SQLite's own checkpoint
    /// with the threshold set back ([`Self::defer_checkpoints`]): every
    /// batch's commit
    /// outgrew the 1,000-page threshold, so SQLite copied each batch's
    /// pages into the database file and synced it right after the commit
    /// (8% of the commit's samples in a profile of the 10^3 and 10^4
    /// passes of the reduce-pending bench), the pages every
    /// batch rewrites (the entries' and the full-text index's last leaves,
    /// the sessions' index, `stale_days`) once per batch. Once per pass
    /// copies each page once and syncs once; a pass of one batch
    /// checkpoints as before. Durability is the WAL's (each commit is
    /// synced to it), so when the checkpoint runs changes nothing a crash
    /// keeps; a crash mid-pass leaves a longer WAL for the next open to
    /// read.
    fn reducing<'a, T>(
        &mut self,
        sessions: impl IntoIterator<Item = &'a SessionId>,
        f: impl FnOnce(&Transaction<'_>) -> CoreResult<T>,
    ) -> CoreResult<T> {
        // Prefetched commits stay good only while every reduction committed
        // meanwhile is of another session (their blocks are as read).
        let overlaps = self
            .prefetch
            .get_mut()
            .as_ref()
            .is_some_and(|p| sessions.into_iter().any(|id| p.set.contains(id)));
        if overlaps {
            self.prefetch.get_mut().take();
        }
        let more = self.prefetch.get_mut().is_some();
        let out = self
            .enter_reducing_mode()
            .and_then(|()| self.defer_checkpoints(more))
            .and_then(|()| self.write_tx(f));
        // A failed batch ends the pass: its prefetch is dropped, so the
        // settings are set back before this returns, whatever happened.
        if out.is_err() {
            self.prefetch.get_mut().take();
        }
        let back = if self.prefetch.get_mut().is_none() {
            self.leave_reducing_mode()
        } else {
            Ok(())
        };
        let out = out?;
        back?;
        Ok(out)
    }

    /// Sets the connection for reductions, unless it is already.
    fn enter_reducing_mode(&mut self) -> CoreResult<()> {
        if self.reducing_mode.get().is_some() {
            return Ok(());
        }
        let cache: i64 = self
            .conn
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .map_err(storage)?;
        let temp: i64 = self
            .conn
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .map_err(storage)?;
        // Marked first: whatever is set below is set back by the leave.
        self.reducing_mode.set(Some((cache, temp, None)));
        self.conn.pragma_update(None, "foreign_keys", "OFF").map_err(storage)?;
        self.conn
            .pragma_update(None, "cache_size", -REDUCING_CACHE_KIB)
            .map_err(storage)?;
        self.conn.pragma_update(None, "temp_store", "MEMORY").map_err(storage)?;
        Ok(())
    }

    /// In reductions' mode, the checkpoint threshold for the next
    /// batch's commit: [`PASS_CHECKPOINT_PAGES`] if another batch follows
    /// it (`defer`), else the connection's own, set back if it was
    /// deferred, so the pass's last commit checkpoints what the pass wrote
    /// ([`Self::reducing`]).
    fn defer_checkpoints(&self, defer: bool) -> CoreResult<()> {
        let Some((cache, temp, deferred)) = self.reducing_mode.get() else {
            return Ok(());
        };
        match (defer, deferred) {
            (true, None) => {
                let threshold: i64 = self
                    .conn
                    .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                    .map_err(storage)?;
                // Marked first, as in the enter.
                self.reducing_mode.set(Some((cache, temp, Some(threshold))));
                self.conn
                    .pragma_update(None, "wal_autocheckpoint", PASS_CHECKPOINT_PAGES)
                    .map_err(storage)
            }
            (false, Some(threshold)) => {
                self.conn
                    .pragma_update(None, "wal_autocheckpoint", threshold)
                    .map_err(storage)?;
                self.reducing_mode.set(Some((cache, temp, None)));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Sets the connection back from reductions' settings, if it is set
    /// for them: foreign keys on, the cache size, temporary storage and
    /// (if deferred) the checkpoint threshold as they were, so the next
    /// commit checkpoints as SQLite does. All are tried whatever fails;
    /// the first error is returned (and the mode kept, so the next write
    /// tries again).
    fn leave_reducing_mode(&self) -> CoreResult<()> {
        let Some((cache, temp, deferred)) = self.reducing_mode.get() else {
            return Ok(());
        };
        let on = self.conn.pragma_update(None, "foreign_keys", "ON").map_err(storage);
        let back = self.conn.pragma_update(None, "cache_size", cache).map_err(storage);
        let temp = self.conn.pragma_update(None, "temp_store", temp).map_err(storage);
        let threshold = deferred.map_or(Ok(()), |threshold| {
            self.conn
                .pragma_update(None, "wal_autocheckpoint", threshold)
                .map_err(storage)
        });
        on?;
        back?;
        temp?;
        threshold?;
        self.reducing_mode.set(None);
        Ok(())
    }

    /// Reductions in order inside one transaction, each with
    /// `commit_reduction`'s checks against the state the earlier ones
    /// left; an `Err` leaves the transaction to be rolled back.
    ///
    /// Set-based: the batch's sessions (their status, block keys and
    /// coverage runs) are read in three statements, the commits are
    /// checked and applied in order against that state in memory
    /// ([`ReducingBatch`]), and the writes go out afterwards in key order,
    /// a statement per table ([`ReducingBatch::write`]) instead of six a
    /// session. Only the transaction sees the state in between, so the
    /// outcome is the one the commits applied one by one would leave.
    ///
    /// The entries are written last, all in one `INSERT` per
    /// [`ENTRY_ROWS`] of them, with ids assigned here in batch order (as
    /// SQLite would: one past the largest). FTS5 flushes its pending
    /// index data to a new segment at the start of every statement that
    /// may write to it, so one `INSERT` (and one trigger firing) per
    /// entry cost a segment and its merges per entry, a quarter of
    /// reduce-pending's time (BENCHMARKS.md). Nothing else the
    /// transaction does reads `entries`, so writing them at its end is
    /// the same as writing each in its turn.
    fn reduce_all(tx: &Transaction<'_>, commits: &[ReductionCommit]) -> CoreResult<Vec<Option<Entry>>> {
        let mut next_id: i64 = tx
            .prepare_cached("SELECT coalesce(max(id), 0) + 1 FROM entries")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(storage)?;
        let mut batch = ReducingBatch::read(tx, commits)?;
        let mut rows = Vec::new();
        // Each distinct day's name, written once: a batch's entries fall
        // on few days.
        let mut days: BTreeMap<NaiveDate, String> = BTreeMap::new();
        let mut out = Vec::with_capacity(commits.len());
        for (at, commit) in commits.iter().enumerate() {
            let entry = batch.reduce(at, commit, next_id)?;
            if let (Some(entry), Some(new)) = (&entry, &commit.entry) {
                let day = entry.day();
                days.entry(day).or_insert_with(|| day_name(day));
                rows.push((next_id, new, day));
                next_id = next_id
                    .checked_add(1)
                    .ok_or_else(|| corrupt("entries", next_id.to_string(), "entry ids are exhausted"))?;
            }
            out.push(entry);
        }
        batch.write(tx)?;
        for chunk in rows.chunks(ENTRY_ROWS) {
            let sql = entries_insert(chunk.len());
            let run = |stmt: &mut rusqlite::Statement<'_>| -> rusqlite::Result<usize> {
                let mut at = 1;
                for (id, e, day) in chunk {
                    let values: [&dyn rusqlite::ToSql; 8] = [
                        id,
                        &e.session_id.0,
                        &e.kind.as_str(),
                        &e.from.0,
                        &e.to.0,
                        &e.offset.0,
                        &days[day],
                        &e.body,
                    ];
                    for v in values {
                        stmt.raw_bind_parameter(at, v)?;
                        at += 1;
                    }
                }
                stmt.raw_execute()
            };
            // A full chunk's statement is reused; a last, shorter one is not
            // kept in the connection's small statement cache.
            if chunk.len() == ENTRY_ROWS {
                tx.prepare_cached(sql).and_then(|mut s| run(&mut s))
            } else {
                tx.prepare(sql).and_then(|mut s| run(&mut s))
            }
            .map_err(storage)?;
        }
        Ok(out)
    }

    /// Covers the blocks `covered` (`(start, rev)`) of session `id` by
    /// `entry` (schema 7): checks that each is there, uncovered and listed
    /// once (else `Conflict`), and writes them as runs of blocks
    /// consecutive among the session's blocks of their revision, one
    /// `coverage` row a run (one for a whole session reduced at once).
    /// Reads the session's block keys (the narrow `blocks_keys` index)
    /// and its runs, never the block rows. With `entry` `None` it only
    /// counts. Returns how many of the session's blocks are still
    /// uncovered afterwards. (A reduction transaction does the same for
    /// its whole batch at once: [`ReducingBatch`].)
    pub(crate) fn cover(
        tx: &Transaction<'_>,
        id: &SessionId,
        entry: Option<i64>,
        covered: &[(i64, u32)],
    ) -> CoreResult<usize> {
        if entry.is_none() && !covered.is_empty() {
            return Err(conflict(id, "blocks can only be covered by an entry"));
        }
        // Sorted here, not by `ORDER BY`: SQLite marks a statement that
        // has an `ORDER BY` beside `session_id = ?1` to be prepared again
        // whenever `?1` is bound anew (its planner weighs the bound value),
        // which cost reduce-pending a full parse and plan of both queries
        // per session (BENCHMARKS.md).
        let mut keys: Vec<(u32, i64)> = collect(
            tx,
            "SELECT rev, start_ms FROM blocks WHERE session_id = ?1",
            [&id.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
            Ok,
        )?;
        keys.sort_unstable();
        let runs: Vec<Run> = collect(
            tx,
            "SELECT rev, first_ms, last_ms FROM coverage WHERE session_id = ?1",
            [&id.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            Ok,
        )?;
        let (new_runs, left) = new_runs(&keys, &runs, covered)
            .ok_or_else(|| conflict(id, "covered block is missing or already covered"))?;
        if let Some(entry) = entry {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO coverage (session_id, rev, first_ms, last_ms, entry_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(storage)?;
            for (rev, first, last) in new_runs {
                insert
                    .execute(params![id.0, rev, first, last, entry])
                    .map_err(storage)?;
            }
        }
        Ok(left)
    }

    /// Bookkeeping for a block just added (not rewritten) to session `id`
    /// at `(start, rev)`: a coverage run of that revision that spans its
    /// start is split around it, so the new block stays uncovered and the
    /// run's other blocks keep their entry; and a reduced session is
    /// listed in `late_pending`.
    pub(crate) fn block_added(tx: &Transaction<'_>, id: &SessionId, start: i64, rev: u32) -> CoreResult<()> {
        Self::split_run(tx, id, start, rev)?;
        tx.prepare_cached(
            "INSERT INTO late_pending (session_id)
             SELECT id FROM sessions WHERE id = ?1 AND status = 'reduced' ON CONFLICT DO NOTHING",
        )
        .and_then(|mut s| s.execute([&id.0]))
        .map(drop)
        .map_err(storage)
    }

    /// The run split of [`Self::block_added`] alone.
    pub(crate) fn split_run(tx: &Transaction<'_>, id: &SessionId, start: i64, rev: u32) -> CoreResult<()> {
        let run: Option<(i64, i64, i64)> = tx
            .prepare_cached(
                "SELECT first_ms, last_ms, entry_id FROM coverage
                 WHERE session_id = ?1 AND rev = ?2 AND first_ms <= ?3 AND last_ms >= ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![id.0, rev, start], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(storage)?;
        if let Some((first, last, entry)) = run {
            let near = |sql: &str| -> CoreResult<Option<i64>> {
                tx.prepare_cached(sql)
                    .and_then(|mut s| s.query_row(params![id.0, rev, start], |r| r.get(0)))
                    .map_err(storage)
            };
            let before = near("SELECT max(start_ms) FROM blocks WHERE session_id = ?1 AND rev = ?2 AND start_ms < ?3")?;
            let after = near("SELECT min(start_ms) FROM blocks WHERE session_id = ?1 AND rev = ?2 AND start_ms > ?3")?;
            tx.prepare_cached("DELETE FROM coverage WHERE session_id = ?1 AND rev = ?2 AND first_ms = ?3")
                .and_then(|mut s| s.execute(params![id.0, rev, first]))
                .map_err(storage)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO coverage (session_id, rev, first_ms, last_ms, entry_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(storage)?;
            if let Some(before) = before.filter(|&b| b >= first) {
                insert
                    .execute(params![id.0, rev, first, before, entry])
                    .map_err(storage)?;
            }
            if let Some(after) = after.filter(|&a| a <= last) {
                insert
                    .execute(params![id.0, rev, after, last, entry])
                    .map_err(storage)?;
            }
        }
        Ok(())
    }

    /// The status of a session inside a transaction.
    fn status(tx: &Transaction<'_>, id: &SessionId) -> CoreResult<Option<String>> {
        tx.prepare_cached("SELECT status FROM sessions WHERE id = ?1")
            .and_then(|mut s| s.query_row([&id.0], |r| r.get(0)).optional())
            .map_err(storage)
    }

    fn upsert_blocks(tx: &Transaction<'_>, blocks: &[Block]) -> CoreResult<()> {
        // A block already present keeps its entry: content is a pure
        // function of the events, so only the content is rewritten.
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, rev)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (session_id, start_ms, rev) DO NOTHING",
            )
            .map_err(storage)?;
        let mut update = tx
            .prepare_cached(
                "UPDATE blocks SET end_ms = ?3, offset_s = ?4, lines = ?5, apps = ?6, capture_count = ?7
                 WHERE session_id = ?1 AND start_ms = ?2 AND rev = ?8",
            )
            .map_err(storage)?;
        for b in blocks {
            let (lines, apps) = (to_json(&b.lines), to_json(&b.apps));
            let row = params![
                b.session_id.0,
                b.start.0,
                b.end.0,
                b.offset.0,
                lines,
                apps,
                b.capture_count,
                b.rev
            ];
            if insert.execute(row).map_err(storage)? == 1 {
                Self::block_added(tx, &b.session_id, b.start.0, b.rev)?;
            } else {
                update.execute(row).map_err(storage)?;
            }
        }
        Ok(())
    }

    /// Writes blocks late events made; refuses (`Conflict`) to replace a
    /// block already there.
    fn insert_late_blocks(tx: &Transaction<'_>, id: &SessionId, blocks: &[Block]) -> CoreResult<()> {
        if blocks.iter().any(|b| b.session_id != *id) {
            return Err(conflict(id, "a block of another session"));
        }
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, rev)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (session_id, start_ms, rev) DO NOTHING",
            )
            .map_err(storage)?;
        for b in blocks {
            let n = stmt
                .execute(params![
                    b.session_id.0,
                    b.start.0,
                    b.end.0,
                    b.offset.0,
                    to_json(&b.lines),
                    to_json(&b.apps),
                    b.capture_count,
                    b.rev
                ])
                .map_err(storage)?;
            if n != 1 {
                return Err(conflict(id, "a late block would replace a block"));
            }
            Self::block_added(tx, id, b.start.0, b.rev)?;
        }
        Ok(())
    }

    fn end_active(
        tx: &Transaction<'_>,
        id: &SessionId,
        end: Timestamp,
        reason: EndReason,
        blocks: &[Block],
    ) -> CoreResult<()> {
        if blocks.iter().any(|b| b.session_id != *id) {
            return Err(conflict(id, "a block of another session"));
        }
        let changed = tx
            .prepare_cached("UPDATE sessions SET status = 'ended', end_ms = ?2, end_reason = ?3 WHERE id = ?1 AND status = 'active'")
            .and_then(|mut s| s.execute(params![id.0, end.0, reason.as_str()]))
            .map_err(storage)?;
        if changed != 1 {
            return Err(conflict(id, "only an active session can end"));
        }
        if reason == EndReason::Recovered {
            // The trigger skips this change (schema migration 14): its
            // writer lists the session's entry days.
            tx.prepare_cached(crate::schema::STALE_SESSION_DAYS)
                .and_then(|mut s| s.execute([&id.0]))
                .map_err(storage)?;
        }
        Self::upsert_blocks(tx, blocks)
    }

    fn insert_event(
        tx: &Transaction<'_>,
        id: &SessionId,
        attributed: Timestamp,
        rev: u32,
        e: &Event,
    ) -> CoreResult<()> {
        tx.prepare_cached(
            "INSERT INTO events (session_id, attributed_ms, at_ms, offset_s, app, title, url, text, source, rev)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .and_then(|mut s| {
            s.execute(params![
                id.0,
                attributed.0,
                e.at.0,
                e.offset.0,
                e.app,
                e.title,
                e.url,
                e.text,
                e.source,
                rev
            ])
        })
        .map_err(storage)?;
        Ok(())
    }

    pub(crate) fn insert_session(tx: &Transaction<'_>, s: &Session) -> CoreResult<usize> {
        let (status, end, reason, retry) = phase_columns(&s.phase);
        tx.prepare_cached(
            "INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason, next_retry_ms, retry_count, flush_end_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
        )
        .and_then(|mut st| {
            st.execute(params![s.id.0, s.start.0, s.offset.0, status, end, reason, retry, s.retry_count, s.flush_end.map(|t| t.0)])
        })
        .map_err(storage)
    }

    pub(crate) fn sessions_where(&self, condition: &str, params: impl rusqlite::Params) -> CoreResult<Vec<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE {condition} ORDER BY start_ms, id");
        collect(&self.conn, &sql, params, SessionRow::read, SessionRow::session)
    }

    /// The sessions whose ids `ids` lists (a JSON list of strings), by
    /// id: one read of the table by its key, for a day's rendering.
    pub(crate) fn sessions_in(&self, ids: &str) -> CoreResult<Vec<Session>> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id");
        collect(&self.conn, &sql, [ids], SessionRow::read, SessionRow::session)
    }

    /// Sessions that overlap the local day `day` (by start or end), for
    /// `daybook sessions --day`.
    pub fn sessions_between(&self, from: Timestamp, to: Timestamp) -> CoreResult<Vec<Session>> {
        self.sessions_where(
            "start_ms < ?2 AND (end_ms IS NULL OR end_ms >= ?1)",
            params![from.0, to.0],
        )
    }

    /// Every block of a session, covered or not, by start.
    pub fn session_blocks(&self, id: &SessionId) -> CoreResult<Vec<Block>> {
        let sql = format!("SELECT {BLOCK_COLUMNS} FROM blocks b WHERE b.session_id = ?1 ORDER BY b.start_ms");
        collect(&self.conn, &sql, params![id.0], read_block_row, block)
    }

    /// Every entry of a session, by `(from, id)`.
    pub fn session_entries(&self, id: &SessionId) -> CoreResult<Vec<Entry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE session_id = ?1 ORDER BY from_ms, id");
        collect(&self.conn, &sql, params![id.0], read_entry, entry)
    }

    /// Every session, by start.
    pub fn all_sessions(&self) -> CoreResult<Vec<Session>> {
        self.sessions_where("1", [])
    }

    /// Counts for `status`: events (the highest `seq`; events are never
    /// deleted, so this is their number without a scan), and sessions
    /// waiting for a final reduction or a retry.
    pub fn status_counts(&self) -> CoreResult<StatusCounts> {
        self.conn
            .query_row(
                &format!(
                    "SELECT (SELECT coalesce(max(seq), 0) FROM events),
                        (SELECT count(*) FROM sessions WHERE {OPEN} AND status = 'ended'),
                        (SELECT count(*) FROM sessions WHERE {OPEN} AND status = 'failed')"
                ),
                [],
                |r| {
                    Ok(StatusCounts {
                        events: r.get::<_, i64>(0)? as u64,
                        ended: r.get::<_, i64>(1)? as u64,
                        failed: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .map_err(storage)
    }

    /// Every day that has entries, as `YYYY-MM-DD`.
    pub fn entry_days(&self) -> CoreResult<Vec<NaiveDate>> {
        collect(
            &self.conn,
            "SELECT DISTINCT day FROM entries ORDER BY day",
            [],
            |r| r.get::<_, String>(0),
            |d| parse_day_name(&d).ok_or_else(|| corrupt("entries", d, "day is not YYYY-MM-DD")),
        )
    }

    /// `PRAGMA integrity_check`: `["ok"]` on a sound file.
    pub fn integrity_check(&self) -> CoreResult<Vec<String>> {
        collect(&self.conn, "PRAGMA integrity_check", [], |r| r.get::<_, String>(0), Ok)
    }

    /// Sessions that reach past `bound` (a clock that ran ahead, SPEC
    /// §2): their end, or for an active one its latest attributed event, is
    /// after `bound`. `(id, latest instant)`, by start.
    pub fn sessions_after(&self, bound: Timestamp) -> CoreResult<Vec<(SessionId, Timestamp)>> {
        collect(
            &self.conn,
            "SELECT s.id, max(coalesce(s.end_ms, s.start_ms), coalesce((SELECT max(e.attributed_ms) FROM events e WHERE e.session_id = s.id), s.start_ms)) AS latest
             FROM sessions s WHERE latest > ?1 ORDER BY s.start_ms, s.id",
            [bound.0],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            |(id, t)| Ok((SessionId(id), Timestamp(t))),
        )
    }

    /// `daybook repair`: brings every session that reaches past `bound`
    /// back to `limit`, in one transaction, losing no event. Such a
    /// session's start and end, and its events' attributed times, become
    /// at most `limit` (each event keeps its own `at`); its entries are
    /// removed and its blocks from `limit`'s window on are rebuilt from its
    /// events, so an ended session is reduced again (`ended`) and an
    /// active one is left to startup recovery. Clamping with `min` keeps
    /// the order of sessions, so none overlaps another. Returns the
    /// sessions changed and the days whose entries were removed.
    pub fn clamp_sessions_after(
        &mut self,
        bound: Timestamp,
        limit: Timestamp,
        window: Duration,
    ) -> CoreResult<(Vec<SessionId>, Vec<NaiveDate>)> {
        let ids: Vec<SessionId> = self.sessions_after(bound)?.into_iter().map(|(id, _)| id).collect();
        let from = limit.window_start(window);
        self.write(|tx| {
            let mut days = Vec::new();
            for id in &ids {
                let found = collect(
                    tx,
                    "SELECT DISTINCT day FROM entries WHERE session_id = ?1",
                    [&id.0],
                    |r| r.get::<_, String>(0),
                    Ok,
                )?;
                days.extend(found.iter().filter_map(|d| parse_day_name(d)));
                let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| tx.execute(sql, p).map(drop).map_err(storage);
                run("DELETE FROM coverage WHERE session_id = ?1", params![id.0])?;
                run("DELETE FROM entries WHERE session_id = ?1", params![id.0])?;
                run(
                    "DELETE FROM blocks WHERE session_id = ?1 AND (start_ms >= ?2 OR end_ms > ?3)",
                    params![id.0, from.0, limit.0],
                )?;
                run(
                    "UPDATE events SET attributed_ms = min(attributed_ms, ?2) WHERE session_id = ?1",
                    params![id.0, limit.0],
                )?;
                run(
                    "UPDATE sessions SET start_ms = min(start_ms, ?2), end_ms = min(end_ms, ?2),
                       status = CASE WHEN status = 'active' THEN 'active' ELSE 'ended' END,
                       next_retry_ms = NULL, retry_count = 0, flush_end_ms = NULL
                     WHERE id = ?1",
                    params![id.0, limit.0],
                )?;
                let events = collect(
                    tx,
                    &format!("SELECT {EVENT_COLUMNS} FROM events WHERE session_id = ?1 ORDER BY attributed_ms, seq"),
                    [&id.0],
                    read_event,
                    Ok,
                )?;
                let blocks = daybook_core::block::build_blocks(id, &events, window, from, Timestamp(i64::MAX));
                Self::upsert_blocks(tx, &blocks)?;
            }
            days.sort();
            days.dedup();
            Ok((ids.clone(), days))
        })
    }

    /// Folds the WAL back into the database file (the safety net's part).
    pub fn checkpoint(&self) -> CoreResult<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(storage)
    }
}

/// The two reads that place an instant among stored sessions, shared by
/// [`Store::around`] and [`Store::around_each`].
impl SqliteStore {
    /// The start of the stored session, not active, that starts last at or
    /// before `at`. Ordered as `sessions_by_start` is, so SQLite walks that
    /// index backwards.
    fn last_start_at_or_before(&self, at: Timestamp) -> CoreResult<Option<i64>> {
        self.conn
            .prepare_cached(
                "SELECT start_ms FROM sessions WHERE start_ms <= ?1 AND status <> 'active'
                 ORDER BY start_ms DESC, id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row([at.0], |r| r.get(0)).optional())
            .map_err(storage)
    }

    /// The earliest start of any session, active included, after `at`.
    fn first_start_after(&self, at: Timestamp) -> CoreResult<Option<i64>> {
        self.conn
            .prepare_cached("SELECT min(start_ms) FROM sessions WHERE start_ms > ?1")
            .and_then(|mut s| s.query_row([at.0], |r| r.get(0)))
            .map_err(storage)
    }
}

impl Store for SqliteStore {
    fn import(&mut self, sessions: &[Session], loose: &[LooseBlock]) -> CoreResult<()> {
        self.write(|tx| {
            for s in sessions {
                Self::insert_session(tx, s)?;
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO loose_blocks (id, start_ms, end_ms, offset_s, lines, apps, capture_count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                )
                .map_err(storage)?;
            for b in loose {
                stmt.execute(params![
                    b.id as i64,
                    b.start.0,
                    b.end.0,
                    b.offset.0,
                    to_json(&b.lines),
                    to_json(&b.apps),
                    b.capture_count
                ])
                .map_err(storage)?;
            }
            Ok(())
        })
    }

    fn ingest(&mut self, steps: &[IngestStep]) -> CoreResult<()> {
        let (paused, ignored) = self.staged.take();
        let aw = self.aw_staged.take();
        let history_done = self.history_done.take();
        self.write(|tx| {
            if (paused, ignored) != (0, 0) {
                Self::add_dropped(tx, paused, ignored)?;
            }
            if let Some((start, id)) = history_done {
                tx.prepare_cached("DELETE FROM aw_pending WHERE (start_ns, id) <= (?1, ?2)")
                    .and_then(|mut s| s.execute(params![start, id]))
                    .map_err(storage)?;
            }
            // The heartbeats' own rows and marks, before the daybook
            // events derived from them: one transaction for both.
            Self::apply_aw(tx, &aw)?;
            // Events get seqs above the highest so far; the search index
            // takes them all in one statement at the end (see schema 6).
            let last_seq: i64 = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .map_err(storage)?;
            // Inside this transaction only an `End` step changes a status,
            // so a session once found active stays active until one ends
            // it: its appends are checked once, not with a query per event.
            let mut open: Option<&SessionId> = None;
            // The bounds of the sessions late events went to: only an
            // `End` step changes them, so each is read once a batch.
            let mut bounds: BTreeMap<&SessionId, (i64, Option<i64>)> = BTreeMap::new();
            for (i, step) in steps.iter().enumerate() {
                if i == steps.len() / 2 {
                    crate::crash_point!("ingest-mid-transaction");
                }
                match step {
                    IngestStep::End {
                        id,
                        end,
                        reason,
                        blocks,
                    } => {
                        Self::end_active(tx, id, *end, *reason, blocks)?;
                        if open == Some(id) {
                            open = None;
                        }
                        bounds.remove(id);
                    }
                    IngestStep::Start { session, first } => {
                        if session.phase != Phase::Active || Self::insert_session(tx, session)? != 1 {
                            return Err(conflict(&session.id, "session id already exists"));
                        }
                        Self::insert_event(tx, &session.id, session.start, 0, first)?;
                        open = Some(&session.id);
                    }
                    IngestStep::Append { id, attributed, event } => {
                        if open != Some(id) {
                            if Self::status(tx, id)?.as_deref() != Some("active") {
                                return Err(conflict(id, "events go to an active session only"));
                            }
                            open = Some(id);
                        }
                        Self::insert_event(tx, id, *attributed, 0, event)?;
                    }
                    IngestStep::Late { id, rev, event } => {
                        let (start, end) = match bounds.get(id) {
                            Some(known) => *known,
                            None => {
                                let read: Option<(i64, Option<i64>)> = tx
                                    .prepare_cached("SELECT start_ms, end_ms FROM sessions WHERE id = ?1")
                                    .and_then(|mut s| s.query_row([&id.0], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                                    .map_err(storage)?;
                                let Some(read) = read else {
                                    return Err(CoreError::UnknownSession(id.clone()));
                                };
                                *bounds.entry(id).or_insert(read)
                            }
                        };
                        if event.at.0 < start || end.is_some_and(|end| event.at.0 > end) {
                            return Err(conflict(id, "a late event lies outside its session"));
                        }
                        Self::insert_event(tx, id, event.at, *rev, event)?;
                    }
                    IngestStep::LateBlocks { id, blocks } => Self::insert_late_blocks(tx, id, blocks)?,
                }
            }
            tx.prepare_cached(
                "INSERT INTO events_fts (rowid, app, title, url, text)
                 SELECT seq, app, title, url, text FROM events WHERE seq > ?1",
            )
            .and_then(|mut st| st.execute([last_seq]))
            .map_err(storage)?;
            // The days whose files these events may change, in this
            // transaction (schema 13: one statement, not a trigger a row).
            tx.prepare_cached(crate::schema::STALE_NEW_EVENTS)
                .and_then(|mut st| st.execute([last_seq]))
                .map_err(storage)?;
            Ok(())
        })
    }

    fn end_session(&mut self, id: &SessionId, end: Timestamp, reason: EndReason, blocks: &[Block]) -> CoreResult<()> {
        self.write(|tx| Self::end_active(tx, id, end, reason, blocks))
    }

    fn write_blocks(&mut self, blocks: &[Block]) -> CoreResult<()> {
        self.write(|tx| {
            let mut last: Option<&SessionId> = None;
            for b in blocks {
                if last != Some(&b.session_id) {
                    if Self::status(tx, &b.session_id)?.is_none() {
                        return Err(CoreError::UnknownSession(b.session_id.clone()));
                    }
                    last = Some(&b.session_id);
                }
            }
            Self::upsert_blocks(tx, blocks)
        })
    }

    fn commit_reduction(&mut self, commit: &ReductionCommit) -> CoreResult<Option<Entry>> {
        self.reducing(std::iter::once(&commit.session_id), |tx| {
            let entry = Self::reduce_all(tx, std::slice::from_ref(commit))?.pop().flatten();
            crate::crash_point!("reduction-before-commit");
            Ok(entry)
        })
    }

    fn commit_reductions(&mut self, commits: &[ReductionCommit]) -> CoreResult<Vec<Option<Entry>>> {
        self.reducing(commits.iter().map(|c| &c.session_id), |tx| {
            let entries = Self::reduce_all(tx, commits)?;
            crate::crash_point!("reduction-before-commit");
            Ok(entries)
        })
    }

    fn mark_failed(&mut self, id: &SessionId, retry_count: u32, next_retry_at: Timestamp) -> CoreResult<()> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE sessions SET status = 'failed', retry_count = ?2, next_retry_ms = ?3
                     WHERE id = ?1 AND status IN ('ended', 'failed')",
                )
                .and_then(|mut s| s.execute(params![id.0, retry_count, next_retry_at.0]))
                .map_err(storage)?;
            match changed {
                1 => Ok(()),
                _ if Self::status(tx, id)?.is_none() => Err(CoreError::UnknownSession(id.clone())),
                _ => Err(conflict(id, "only an ended session can fail")),
            }
        })
    }

    fn recover(&mut self, plan: &RecoveryPlan) -> CoreResult<()> {
        // One statement over the active rows, in key order (`sessions_open`
        // is `(status, id)`): each page of the table and of the index is
        // walked once, ascending, instead of once per orphan at random
        // (BENCHMARKS.md, "recovery alone, schema"). The planned ends reach
        // it through `daybook_recovered_end(id)`, the end the plan gives
        // the session or NULL; active rows the plan does not name stay
        // active. From `BULK_RECOVERY` orphans on, the index and the
        // session-update trigger are set aside for it and the table is
        // walked by its key (`end_in_bulk`).
        //
        // A bulk recovery's commit is not checkpointed: the threshold is
        // raised for it (as for a reduce-pending batch that announces
        // another, `Self::reducing`) and set back right after, so the
        // next commit that outgrows it copies these pages to the database
        // file with its own. What follows a recovery of thousands is a
        // reduce-pending pass that rewrites every one of those sessions'
        // rows, so the pages are copied and synced once, with the pass's
        // last batch, not once here and again there (BENCHMARKS.md,
        // "recovery_input by scan"). Durability is the WAL's. Set before
        // the plan's function is registered, so an error here leaves
        // nothing to undo.
        self.leave_reducing_mode()?;
        let threshold: Option<i64> = if plan.ends.len() >= BULK_RECOVERY {
            let threshold = self
                .conn
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .map_err(storage)?;
            self.conn
                .pragma_update(None, "wal_autocheckpoint", PASS_CHECKPOINT_PAGES)
                .map_err(storage)?;
            Some(threshold)
        } else {
            None
        };
        let set_back = |conn: &Connection| {
            threshold.map_or(Ok(()), |threshold| {
                conn.pragma_update(None, "wal_autocheckpoint", threshold)
                    .map_err(storage)
            })
        };
        let lookup = RefCell::new(EndLookup::new(plan));
        let registered = self.conn.create_scalar_function(
            "daybook_recovered_end",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
            move |ctx| {
                let id = ctx
                    .get_raw(0)
                    .as_str()
                    .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
                Ok(lookup.borrow_mut().find(id))
            },
        );
        if let Err(e) = registered {
            set_back(&self.conn)?;
            return Err(storage(e));
        }
        let done = self.write(|tx| {
            // The days of the orphans' entries (flush entries of a session
            // that was active), listed stale here in one statement: the
            // `stale_days` trigger skips a recovered end (schema migration
            // 14), which cost a trigger program and a lookup per orphan.
            // Before the `UPDATE`, while they are still active. Not cached:
            // removing the function below expires it.
            tx.prepare(&format!(
                "INSERT INTO stale_days (day, n)
                 SELECT DISTINCT e.day, 1 FROM sessions s CROSS JOIN entries e ON e.session_id = s.id
                 WHERE s.{OPEN} AND s.status = 'active' AND daybook_recovered_end(s.id) IS NOT NULL
                 ON CONFLICT (day) DO UPDATE SET n = n + 1"
            ))
            .and_then(|mut st| st.execute([]))
            .map_err(storage)?;
            let end = format!(
                "UPDATE sessions SET status = 'ended', end_ms = daybook_recovered_end(id), end_reason = 'recovered'
                 WHERE {OPEN} AND status = 'active' AND daybook_recovered_end(id) IS NOT NULL"
            );
            if plan.ends.len() >= BULK_RECOVERY {
                Self::end_in_bulk(tx, &end)?;
            } else {
                tx.prepare(&end).and_then(|mut st| st.execute([])).map_err(storage)?;
            }
            // A loose block moves only to a session still open for
            // reduction and only into a free window; the row stays, owned.
            let mut adopt = tx
                .prepare_cached(
                    "INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, rev)
                     SELECT ?2, l.start_ms, l.end_ms, l.offset_s, l.lines, l.apps, l.capture_count, 0
                     FROM loose_blocks l
                     WHERE l.id = ?1 AND l.owner IS NULL
                       AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = ?2 AND s.status <> 'reduced')
                     ON CONFLICT (session_id, start_ms, rev) DO NOTHING RETURNING start_ms",
                )
                .map_err(storage)?;
            let mut own = tx
                .prepare_cached("UPDATE loose_blocks SET owner = ?2 WHERE id = ?1")
                .map_err(storage)?;
            for (loose_id, owner) in &plan.owners {
                let adopted: Option<i64> = adopt
                    .query_row(params![*loose_id as i64, owner.0], |r| r.get(0))
                    .optional()
                    .map_err(storage)?;
                if let Some(start) = adopted {
                    // Never into a reduced session: only a run can need
                    // splitting (a flush entry's, in a gap it spans).
                    Self::split_run(tx, owner, start, 0)?;
                    own.execute(params![*loose_id as i64, owner.0]).map_err(storage)?;
                }
            }
            crate::crash_point!("recovery-before-commit");
            Ok(())
        });
        // Set back here too, whatever the recovery did: `end_in_bulk` sets
        // it back itself, but if that pragma failed the flag would
        // outlive the rolled-back transaction (pragmas are not undone).
        let checks = self
            .conn
            .pragma_update(None, "ignore_check_constraints", false)
            .map_err(storage);
        let threshold = set_back(&self.conn);
        self.conn.remove_function("daybook_recovered_end", 1).map_err(storage)?;
        checks?;
        threshold?;
        done
    }

    fn active_sessions(&self) -> CoreResult<Vec<Session>> {
        self.sessions_where(&format!("{OPEN} AND status = 'active'"), [])
    }

    fn around(&self, at: Timestamp) -> CoreResult<Around> {
        // Sessions never overlap: the stored session that starts last at
        // or before `at` either holds it or ends before it. Of sessions
        // sharing that start (zero-length ones beside a longer one) the
        // one that ends last decides.
        let start: Option<i64> = self.last_start_at_or_before(at)?;
        let below = match start {
            None => None,
            Some(start) => {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE start_ms = ?1 AND status <> 'active'
                     ORDER BY end_ms DESC, id LIMIT 1"
                );
                collect(&self.conn, &sql, [start], SessionRow::read, SessionRow::session)?.pop()
            }
        };
        let after: Option<i64> = self.first_start_after(at)?;
        let mut around = Around {
            after: after.map(Timestamp),
            ..Around::default()
        };
        if let Some(s) = below {
            match s.phase.end() {
                Some(end) if end >= at => around.holder = Some(s),
                end => around.before = end,
            }
        }
        Ok(around)
    }

    /// Three reads for any number of instants: the stored session that
    /// starts last at or before the earliest (as in [`Store::around`]),
    /// every session from there to the latest instant, and the first
    /// start after it. A batch's late events lie within `max_lateness`
    /// (30 days), so the middle read is a few thousand rows at most, and
    /// usually the handful around one gap.
    fn around_each(&self, ats: &[Timestamp]) -> CoreResult<Vec<Around>> {
        let (Some(lo), Some(hi)) = (ats.iter().min(), ats.iter().max()) else {
            return Ok(Vec::new());
        };
        let from: Option<i64> = self.last_start_at_or_before(*lo)?;
        // By `(start, id)`, active sessions included (they bound gaps).
        let sessions = self.sessions_where(
            "start_ms >= ?1 AND start_ms <= ?2",
            params![from.unwrap_or(i64::MIN), hi.0],
        )?;
        let after_hi: Option<i64> = self.first_start_after(*hi)?;
        // The sessions `around` can find below an instant: not active,
        // one per start, the one ending last (then the smallest id), as
        // its `ORDER BY end_ms DESC, id` picks.
        let mut below: Vec<&Session> = Vec::new();
        for s in sessions.iter().filter(|s| s.phase != Phase::Active) {
            match below.last_mut() {
                Some(b) if b.start == s.start => {
                    if s.phase.end() > b.phase.end() {
                        *b = s;
                    }
                }
                _ => below.push(s),
            }
        }
        Ok(ats
            .iter()
            .map(|&at| {
                let next = sessions.partition_point(|s| s.start <= at);
                let mut around = Around {
                    after: sessions.get(next).map(|s| s.start).or(after_hi.map(Timestamp)),
                    ..Around::default()
                };
                if let Some(s) = below
                    .partition_point(|s| s.start <= at)
                    .checked_sub(1)
                    .map(|i| below[i])
                {
                    match s.phase.end() {
                        Some(end) if end >= at => around.holder = Some(s.clone()),
                        end => around.before = end,
                    }
                }
                around
            })
            .collect())
    }

    fn window_blocks(&self, id: &SessionId, start: Timestamp) -> CoreResult<Vec<Block>> {
        let sql =
            format!("SELECT {BLOCK_COLUMNS} FROM blocks b WHERE b.session_id = ?1 AND b.start_ms = ?2 ORDER BY b.rev");
        collect(&self.conn, &sql, params![id.0, start.0], read_block_row, block)
    }

    fn pending_sessions(&self) -> CoreResult<Vec<Session>> {
        // Reduced sessions leave the `sessions_open` index; the few with
        // late blocks still uncovered are listed in `late_pending` (which
        // may hold a few more: each is checked here). `CROSS JOIN` keeps
        // `late_pending` the outer loop: with a plain join SQLite scanned
        // every session and ran the uncovered-block check on each before
        // looking it up in `late_pending` (236 ms of a start on a year of
        // history with nothing pending, BENCHMARKS.md's startup section).
        // The two parts are disjoint (by status; `late_pending` lists a
        // session once), so they are put together as they come (`UNION
        // ALL`) and sorted here, not by SQLite: its `UNION` and `ORDER BY`
        // sorted every row twice, through temporary files, 163 ms of 10^5
        // imported orphans' reduce-pending against 36 ms unsorted
        // (BENCHMARKS.md, "pending sessions unsorted").
        let columns = SESSION_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM (
               SELECT {SESSION_COLUMNS} FROM sessions WHERE {OPEN} AND status IN ('ended', 'failed')
               UNION ALL
               SELECT {columns} FROM late_pending p CROSS JOIN sessions s ON s.id = p.session_id
               WHERE s.status = 'reduced'
                 AND EXISTS (SELECT 1 FROM blocks b WHERE b.session_id = s.id AND {} IS NULL)
             )",
            covering_entry!()
        );
        let mut sessions = collect(&self.conn, &sql, [], SessionRow::read, SessionRow::session)?;
        sessions.sort_unstable_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        Ok(sessions)
    }

    fn due_sessions(&self, now: Timestamp) -> CoreResult<Vec<Session>> {
        self.sessions_where(
            &format!("{OPEN} AND status = 'failed' AND next_retry_ms <= ?1"),
            [now.0],
        )
    }

    fn session(&self, id: &SessionId) -> CoreResult<Option<Session>> {
        Ok(self.sessions_where("id = ?1", [&id.0])?.pop())
    }

    fn session_events(&self, id: &SessionId) -> CoreResult<Vec<StoredEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE session_id = ?1 ORDER BY attributed_ms, seq");
        collect(&self.conn, &sql, [&id.0], read_event, Ok)
    }

    fn active_events(&self) -> CoreResult<Vec<StoredEvent>> {
        let columns = EVENT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM sessions s JOIN events e ON e.session_id = s.id
             WHERE s.{OPEN} AND s.status = 'active' ORDER BY e.session_id, e.attributed_ms, e.seq"
        );
        collect(&self.conn, &sql, [], read_event, Ok)
    }

    fn pending_blocks(&self, sessions: &[Session]) -> CoreResult<Vec<Vec<Block>>> {
        read_pending_blocks(&self.conn, sessions)
    }

    fn pending_reductions(&self, sessions: &[Session], make: MakeCommits) -> CoreResult<Vec<ReductionCommit>> {
        let commits = match self.take_prefetch(sessions, make) {
            Ok(Some(commits)) => Ok(commits),
            Ok(None) => read_pending_blocks(&self.conn, sessions).map(|blocks| make(sessions, blocks)),
            Err(e) => Err(e),
        };
        // A failed read, early or afresh, ends the pass (the engine stops
        // at a storage error): the reductions' settings are set back now,
        // not at the next write, which may not go through `write`.
        if commits.is_err() {
            let _ = self.leave_reducing_mode();
        }
        commits
    }

    /// Starts working out `next`'s commits in a thread: its blocks read
    /// on a read-only connection of the store's own, then `make` of them
    /// (the built-in summaries and their rendering), while this connection
    /// commits the batch in hand (reduce-pending's two halves on the
    /// machine's two cores: the engine's thread does little but commit).
    /// The work goes by chunks: when `next` is asked for, this connection
    /// works out the chunks the thread has not taken yet ([`PageWork`]),
    /// so neither core waits for the other's whole page, and a first page
    /// hinted right before it is asked for is worked out on both.
    ///
    /// Why the early answer is the one [`Store::pending_reductions`] would
    /// make later: `make` is a plain function of the sessions and their
    /// blocks, session by session ([`MakeCommits`]), and the sessions are
    /// checked to be the very ones asked, so only the blocks could differ.
    /// They do not: the database is in WAL mode, so each chunk's read sees
    /// one committed state, from before or after the batch in hand commits
    /// (this connection's chunks, after). That commit writes only its own
    /// sessions' rows (`sessions`, `coverage`, `late_pending`,
    /// `entries`), never a block, and the batches of one pass are
    /// disjoint, so `next`'s blocks and coverage runs are the same in
    /// either state. The answer is used only when that argument holds,
    /// checked, never assumed: the call asks for exactly `next` (equal
    /// sessions, in the same order) with the same `make`; every write
    /// since was a reduction of sessions outside `next` (any other write
    /// through [`Self::write`] drops the prefetch; a reduction of one of
    /// `next`'s sessions does too, in [`Self::reducing`]); and no other
    /// connection committed since it was asked (`PRAGMA data_version`,
    /// checked when the page is asked for and again after the thread is
    /// over). Otherwise the answer is thrown away and the call works
    /// afresh. An error of a chunk's read (a query, a corrupt row) or a
    /// panic in the thread is the call's error, never an empty or partial
    /// answer; a reader that cannot open leaves every chunk to the call's
    /// own connection. It only reads and computes: a crash anywhere loses
    /// nothing by it.
    fn prefetch_pending_reductions(&self, next: &[Session], make: MakeCommits) {
        // One at a time: an earlier one not taken is waited for and
        // dropped (its connection kept).
        if let Some(mut old) = self.prefetch.borrow_mut().take() {
            old.work.stop();
            let (conn, _) = old.join();
            if let Some(conn) = conn {
                *self.reader.borrow_mut() = Some(conn);
            }
        }
        // The simulator's runtime (madsim) has no system threads: there
        // the hint is left unused, which its contract allows, and every
        // page is worked out by the call.
        if next.is_empty() || cfg!(madsim) {
            return;
        }
        // Without the version there is no check: no prefetch (the call
        // then reads itself and meets whatever failed here).
        let Ok(data_version) = data_version(&self.conn) else {
            return;
        };
        let reader = self.reader.borrow_mut().take();
        let path = self.path.clone();
        let work = Arc::new(PageWork::new(next.to_vec(), make));
        let theirs = Arc::clone(&work);
        let thread = std::thread::Builder::new()
            .name("daybook-prefetch".into())
            .spawn(move || {
                let conn = match reader {
                    Some(conn) => conn,
                    None => match Self::open_read_only(&path) {
                        Ok(store) => store.into_connection(),
                        Err(e) => return (None, Err(storage(e))),
                    },
                };
                theirs.work(&conn);
                (Some(conn), Ok(()))
            });
        let Ok(thread) = thread else {
            return;
        };
        *self.prefetch.borrow_mut() = Some(Prefetch {
            set: next.iter().map(|s| s.id.clone()).collect(),
            work,
            data_version,
            thread: Some(thread),
        });
    }

    fn uncovered_blocks(&self, id: &SessionId) -> CoreResult<Vec<Block>> {
        let sql = format!(
            "SELECT {BLOCK_COLUMNS} FROM blocks b WHERE b.session_id = ?1 AND {} IS NULL ORDER BY b.start_ms, b.rev",
            covering_entry!()
        );
        collect(&self.conn, &sql, [&id.0], read_block_row, block)
    }

    fn latest_end(&self) -> CoreResult<Option<Timestamp>> {
        self.conn
            .query_row("SELECT max(end_ms) FROM sessions", [], |r| r.get::<_, Option<i64>>(0))
            .map(|t| t.map(Timestamp))
            .map_err(storage)
    }

    fn recovery_input(&self) -> CoreResult<RecoveryInput> {
        let mut input = self.recovery_sessions()?;
        input.blocks = self.orphan_blocks(&input.sessions, OrphanBlocks::for_sessions(&input.sessions))?;
        input.blocks.extend(collect(
            &self.conn,
            "SELECT id, start_ms, end_ms FROM loose_blocks WHERE owner IS NULL",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
            |(id, start, end)| {
                Ok(BlockSpan {
                    owner: None,
                    loose_id: id as u64,
                    start: Timestamp(start),
                    end: Timestamp(end),
                })
            },
        )?);
        Ok(input)
    }

    fn entries_for_day(&self, day: NaiveDate) -> CoreResult<Vec<Entry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE day = ?1 ORDER BY from_ms, id");
        collect(&self.conn, &sql, [day_name(day)], read_entry, entry)
    }

    fn day_inputs(&self, day: NaiveDate) -> CoreResult<DayInputs> {
        // Three reads whatever the day holds, instead of two per session:
        // a day of an imported history can hold hundreds of sessions.
        let name = day_name(day);
        let entries = self.entries_for_day(day)?;
        let sessions = self.sessions_where("id IN (SELECT session_id FROM entries WHERE day = ?1)", [&name])?;
        let events = collect(
            &self.conn,
            &format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE session_id IN (SELECT session_id FROM entries WHERE day = ?1)
                 ORDER BY session_id, attributed_ms, seq"
            ),
            [&name],
            read_event,
            Ok,
        )?;
        let mut by_session: BTreeMap<SessionId, Vec<StoredEvent>> = BTreeMap::new();
        for e in events {
            by_session.entry(e.session_id.clone()).or_default().push(e);
        }
        let mut sessions: Vec<(Session, Vec<StoredEvent>)> = sessions
            .into_iter()
            .map(|s| {
                let events = by_session.remove(&s.id).unwrap_or_default();
                (s, events)
            })
            .collect();
        sessions.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        Ok(DayInputs { entries, sessions })
    }

    fn dump(&self) -> CoreResult<Dump> {
        let events = collect(
            &self.conn,
            &format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY seq"),
            [],
            read_event,
            Ok,
        )?;
        let blocks = collect(
            &self.conn,
            &format!("SELECT {BLOCK_COLUMNS} FROM blocks b ORDER BY b.session_id, b.start_ms, b.rev"),
            [],
            read_block_row,
            block,
        )?;
        let loose_blocks = collect(
            &self.conn,
            "SELECT id, start_ms, end_ms, offset_s, lines, apps, capture_count FROM loose_blocks
             WHERE owner IS NULL ORDER BY id",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i32>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, u32>(6)?,
                ))
            },
            |(id, start, end, offset, lines, apps, capture_count)| {
                let key = || id.to_string();
                Ok(LooseBlock {
                    id: id as u64,
                    start: Timestamp(start),
                    end: Timestamp(end),
                    offset: UtcOffset(offset),
                    lines: from_json("loose_blocks", key, &lines)?,
                    apps: from_json("loose_blocks", key, &apps)?,
                    capture_count,
                })
            },
        )?;
        let entries = collect(
            &self.conn,
            &format!("SELECT {ENTRY_COLUMNS} FROM entries ORDER BY id"),
            [],
            read_entry,
            entry,
        )?;
        Ok(Dump {
            sessions: self.all_sessions()?,
            events,
            blocks,
            loose_blocks,
            entries,
            day_files: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use daybook_core::{NewEntry, page_commits};

    use super::*;

    /// Ended sessions `(id, start, end, block starts)` (one-minute blocks
    /// of one line each) in a fresh store on a file.
    fn ended_sessions(specs: &[(&str, Timestamp, Timestamp, &[Timestamp])]) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(&dir.path().join("daybook.db")).expect("open");
        let mut steps = Vec::new();
        for &(id, at, end, starts) in specs {
            let id = SessionId(id.to_owned());
            let blocks = starts
                .iter()
                .map(|&start| Block {
                    session_id: id.clone(),
                    start,
                    end: Timestamp(start.0 + 60_000),
                    rev: 0,
                    offset: UtcOffset::UTC,
                    lines: vec![format!("{} at {}", id.0, start.0)],
                    apps: vec!["App".to_owned()],
                    capture_count: 1,
                    covered_by: None,
                })
                .collect();
            steps.push(IngestStep::Start {
                session: Session::active(id.clone(), at, UtcOffset::UTC),
                first: Event {
                    at,
                    offset: UtcOffset::UTC,
                    app: "App".to_owned(),
                    title: None,
                    url: None,
                    text: None,
                    source: None,
                },
            });
            steps.push(IngestStep::End {
                id,
                end,
                reason: EndReason::IdleGap,
                blocks,
            });
        }
        store.ingest(&steps).expect("setup");
        (dir, store)
    }

    /// Every row of `table` on `conn`, in `order`, each column as SQLite
    /// holds it.
    fn rows(conn: &Connection, table: &str, order: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .expect("prepare");
        let columns = stmt.column_count();
        stmt.query_map([], |r| (0..columns).map(|i| r.get(i)).collect())
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// A reduction batch writes the rows its commits write one at a time,
    /// in the same order, with the same entry ids: commits out of id
    /// order, a session committed twice (a flush, then its final, which
    /// sees the flush's coverage), a session with no blocks between
    /// sessions with blocks (each session's rows are filed by id, not by
    /// place), late entries listed and unlisted in `late_pending`, and
    /// entries on three days (each entry's `day` is its own).
    #[test]
    fn a_reduction_batch_writes_what_its_commits_write_one_at_a_time() {
        let t = |day: i64, min: i64| Timestamp(1_700_000_000_000 + day * 86_400_000 + min * 60_000);
        let specs: [(&str, Timestamp, Timestamp, &[Timestamp]); 5] = [
            ("a", t(0, 0), t(0, 5), &[t(0, 0), t(0, 1)]),
            ("b", t(1, 0), t(1, 5), &[t(1, 0), t(1, 1)]),
            ("c", t(1, 10), t(1, 15), &[]),
            ("e", t(2, 0), t(2, 5), &[t(2, 0), t(2, 1)]),
            ("r", t(0, 10), t(0, 15), &[t(0, 10), t(0, 11)]),
        ];
        let commit = |id: &str, kind: EntryKind, starts: &[Timestamp], finish: bool| {
            let session_id = SessionId(id.to_owned());
            let entry = (!starts.is_empty()).then(|| NewEntry {
                session_id: session_id.clone(),
                kind,
                from: starts[0],
                to: Timestamp(starts[starts.len() - 1].0 + 60_000),
                offset: UtcOffset::UTC,
                body: format!("{id} {}", kind.as_str()),
            });
            ReductionCommit {
                session_id,
                covered: starts.iter().map(|&s| (s, 0)).collect(),
                flush_end: entry.as_ref().filter(|_| kind != EntryKind::Late).map(|e| e.to),
                entry,
                finish,
            }
        };
        let commits = [
            commit("e", EntryKind::Flush, &[t(2, 0)], false),
            commit("b", EntryKind::Final, &[t(1, 0), t(1, 1)], true),
            commit("c", EntryKind::Final, &[], true),
            commit("e", EntryKind::Final, &[t(2, 1)], true),
            commit("r", EntryKind::Final, &[t(0, 10)], true),
            commit("a", EntryKind::Final, &[t(0, 0)], true),
            commit("r", EntryKind::Late, &[t(0, 11)], false),
        ];
        let (_batch_dir, mut batch) = ended_sessions(&specs);
        let (_single_dir, mut single) = ended_sessions(&specs);
        let batched = batch.commit_reductions(&commits).expect("the batch");
        let one_by_one: Vec<Option<Entry>> = commits
            .iter()
            .map(|c| single.commit_reduction(c).expect("one commit"))
            .collect();
        assert_eq!(batched, one_by_one, "the same entries, ids and all");
        assert_eq!(batched.iter().flatten().count(), 6, "six entries");
        for (table, order) in [
            ("entries", "id"),
            ("coverage", "session_id, rev, first_ms"),
            ("sessions", "id"),
            ("late_pending", "session_id"),
            // `n` counts the marks, which one transaction makes fewer of.
            ("(SELECT day FROM stale_days)", "day"),
        ] {
            assert_eq!(
                rows(batch.connection(), table, order),
                rows(single.connection(), table, order),
                "{table}"
            );
        }
        let conn = batch.connection();
        let late: Vec<String> = conn
            .prepare("SELECT session_id FROM late_pending ORDER BY session_id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("late_pending");
        assert_eq!(late, ["a"], "a's block left over; r's late entry covered r's");
        let days: Vec<(String, String)> = conn
            .prepare("SELECT session_id, day FROM entries ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .expect("entries");
        let day = |d: i64| day_name(t(d, 0).local_date(UtcOffset::UTC));
        let expected: Vec<(String, String)> = [("e", 2), ("b", 1), ("e", 2), ("r", 0), ("a", 0), ("r", 0)]
            .iter()
            .map(|&(id, d)| (id.to_owned(), day(d)))
            .collect();
        assert_eq!(days, expected, "each entry on its own day");
    }

    /// Two ended sessions, `a` (two blocks) and `b` (one), in a fresh
    /// store on a file.
    fn two_ended_sessions() -> (tempfile::TempDir, SqliteStore, Vec<Session>) {
        let min = |n: i64| Timestamp(1_700_000_000_000 + n * 60_000);
        let (dir, store) = ended_sessions(&[
            ("a", min(0), Timestamp(min(0).0 + 90_000), &[min(0), min(1)]),
            ("b", min(10), Timestamp(min(10).0 + 90_000), &[min(10)]),
        ]);
        let sessions = store.pending_sessions().expect("pending");
        assert_eq!(sessions.len(), 2);
        (dir, store, sessions)
    }

    /// A kept hint is answered from the prefetch's read, not read again:
    /// a block deleted behind the store's back (straight through its
    /// connection, neither a write the store sees nor another
    /// connection's commit) is still in the answer. This is what makes
    /// the read run beside the commit; the conformance check
    /// `a_prefetch_hint_never_changes_what_pending_reductions_answers`
    /// covers every way the hint can be broken.
    #[test]
    fn a_kept_hint_is_answered_from_the_prefetched_read() {
        let (_dir, store, sessions) = two_ended_sessions();
        let before = store.pending_reductions(&sessions, page_commits).expect("read");
        assert!(before[1].entry.is_some(), "b's entry");
        store.prefetch_pending_reductions(&sessions, page_commits);
        // Wait for the read, so the deletion cannot race it.
        let outcome = store.prefetch.borrow_mut().as_mut().expect("a prefetch").join();
        store.prefetch.borrow_mut().as_mut().expect("a prefetch").thread = Some(std::thread::spawn(move || outcome));
        store
            .connection()
            .execute("DELETE FROM blocks WHERE session_id = 'b'", [])
            .expect("delete");
        assert_eq!(
            store.pending_reductions(&sessions, page_commits).expect("read"),
            before,
            "the prefetched answer"
        );
        // Once taken, it is gone: the next read sees the deletion.
        let after = store.pending_reductions(&sessions, page_commits).expect("read");
        assert_eq!(after[1].entry, None, "b has no block left to cover");
    }

    /// The engine's own reduce-pending takes every page from the
    /// prefetch: three ended sessions of 20,000 one-minute windows each
    /// are three pages ([`REDUCE_BATCH_WINDOWS`]), so three asks are
    /// answered by the hint before them (the first page's comes right
    /// before it is asked for). Were the hint never to
    /// hold (another `make`, say), reduce-pending would stay correct and
    /// lose its second core, which nothing else would show.
    #[test]
    fn reduce_pending_takes_every_page_from_the_prefetch() {
        use daybook_core::{Config, Engine, REDUCE_BATCH_WINDOWS, SummarizerKind};
        let windows: i64 = 20_000;
        assert!(2 * windows as u64 > REDUCE_BATCH_WINDOWS, "one session a page");
        let t0 = 1_700_000_000_000_i64;
        let at = |i: i64| Timestamp(t0 + i * (windows + 10) * 60_000);
        let end = |i: i64| Timestamp(at(i).0 + windows * 60_000);
        let (_dir, store) = ended_sessions(&[
            ("a", at(0), end(0), &[at(0)]),
            ("b", at(1), end(1), &[at(1)]),
            ("c", at(2), end(2), &[at(2)]),
        ]);
        let now = Timestamp(t0 + 100 * windows * 60_000);
        let engine = Engine::start(store, SummarizerKind::Builtin, Config::default(), "t-", now).expect("start");
        assert_eq!(
            engine.store().pending_sessions().expect("pending"),
            Vec::new(),
            "all reduced"
        );
        assert_eq!(
            engine.store().prefetches_used.get(),
            3,
            "every page from the prefetch, the first announced right before it is asked for"
        );
    }

    /// How many times [`counted_page_commits`] ran on the prefetch's
    /// thread, and on any other. Only
    /// `prefetched_commits_are_the_commits_made_afresh` uses them.
    static MADE_ON_THE_PREFETCH_THREAD: AtomicUsize = AtomicUsize::new(0);
    static MADE_ELSEWHERE: AtomicUsize = AtomicUsize::new(0);

    /// [`page_commits`], counting where it runs.
    fn counted_page_commits(sessions: &[Session], blocks: Vec<Vec<Block>>) -> Vec<ReductionCommit> {
        if std::thread::current().name() == Some("daybook-prefetch") {
            MADE_ON_THE_PREFETCH_THREAD.fetch_add(1, Ordering::SeqCst);
        } else {
            MADE_ELSEWHERE.fetch_add(1, Ordering::SeqCst);
        }
        page_commits(sessions, blocks)
    }

    /// Reduce-pending's two pages as the engine runs them: the first
    /// page's commits made here, the second hinted, the first committed,
    /// then the second asked for. The second's commits are made on the
    /// prefetch's thread and equal those made afresh from its blocks
    /// (entries, bodies, coverage and all). Then the same with another
    /// connection's commit to a hinted session's block between the hint
    /// and the ask: the stale prefetch is not used, the answer is made
    /// afresh from the block as rewritten.
    #[test]
    fn prefetched_commits_are_the_commits_made_afresh() {
        let made = counted_page_commits;
        let counts = || {
            (
                MADE_ON_THE_PREFETCH_THREAD.load(Ordering::SeqCst),
                MADE_ELSEWHERE.load(Ordering::SeqCst),
            )
        };
        let (dir, mut store, sessions) = two_ended_sessions();
        let (a, b) = (&sessions[..1], &sessions[1..]);
        let fresh = page_commits(b, store.pending_blocks(b).expect("b's blocks"));
        assert!(
            fresh[0].entry.as_ref().is_some_and(|e| e.body.contains("b at")),
            "b's entry"
        );

        let first = store.pending_reductions(a, made).expect("a's commits");
        assert_eq!(counts(), (0, 1), "no hint yet: made here");
        store.prefetch_pending_reductions(b, made);
        store.commit_reductions(&first).expect("a committed");
        // Wait for the thread, so the ask finds b's one chunk taken.
        let outcome = store.prefetch.borrow_mut().as_mut().expect("a prefetch").join();
        store.prefetch.borrow_mut().as_mut().expect("a prefetch").thread = Some(std::thread::spawn(move || outcome));
        let second = store.pending_reductions(b, made).expect("b's commits");
        assert_eq!(counts(), (1, 1), "made on the prefetch's thread, not again here");
        assert_eq!(second, fresh, "the prefetched commits are those made afresh");

        // Stale: another connection rewrites b's block after the hint.
        store.prefetch_pending_reductions(b, made);
        let outcome = store.prefetch.borrow_mut().as_mut().expect("a prefetch").join();
        assert!(outcome.1.is_ok(), "the thread worked");
        assert_eq!(
            store.prefetch.borrow().as_ref().expect("a prefetch").work.peek(0),
            Some(fresh.clone()),
            "made before the rewrite"
        );
        store.prefetch.borrow_mut().as_mut().expect("a prefetch").thread = Some(std::thread::spawn(move || outcome));
        let other = Connection::open(dir.path().join("daybook.db")).expect("a second connection");
        other
            .execute(
                "UPDATE blocks SET lines = '[\"rewritten by another connection\"]' WHERE session_id = 'b'",
                [],
            )
            .expect("rewrite");
        drop(other);
        let third = store.pending_reductions(b, made).expect("b's commits");
        assert_eq!(counts(), (2, 2), "the stale one thrown away, made again here");
        assert_eq!(
            third,
            page_commits(b, store.pending_blocks(b).expect("b's blocks")),
            "made afresh"
        );
        assert!(
            third[0]
                .entry
                .as_ref()
                .is_some_and(|e| e.body.contains("rewritten by another connection")),
            "from the block as rewritten"
        );
        assert_ne!(third, fresh, "not the stale prefetch");
    }

    /// A commit by another connection after the hint (what `PRAGMA
    /// data_version` tells) makes the prefetched answer stale: the call
    /// reads afresh and sees it.
    #[test]
    fn another_connections_commit_after_the_hint_is_seen() {
        let (dir, store, sessions) = two_ended_sessions();
        store.prefetch_pending_reductions(&sessions, page_commits);
        // Wait for the read, so the deletion comes after it.
        let outcome = store.prefetch.borrow_mut().as_mut().expect("a prefetch").join();
        store.prefetch.borrow_mut().as_mut().expect("a prefetch").thread = Some(std::thread::spawn(move || outcome));
        let other = Connection::open(dir.path().join("daybook.db")).expect("a second connection");
        other
            .execute("DELETE FROM blocks WHERE session_id = 'b'", [])
            .expect("delete");
        drop(other);
        let read = store.pending_reductions(&sessions, page_commits).expect("read");
        assert_eq!(read[0].covered.len(), 2, "session a keeps its blocks");
        assert_eq!(read[1].entry, None, "the other connection's deletion");
    }

    /// `(chunks the caller has begun to make, chunks the prefetch's
    /// thread has begun to make)` for [`made_in_turns`], and its signal.
    /// Only `the_caller_works_the_chunks_the_thread_has_not_taken` uses
    /// them.
    static TURNS: std::sync::Mutex<(usize, usize)> = std::sync::Mutex::new((0, 0));
    static TURN_TAKEN: std::sync::Condvar = std::sync::Condvar::new();

    /// [`page_commits`], made in turns: the prefetch's thread finishes its
    /// first chunk once the caller has begun one, the caller its first
    /// once the thread has begun a second, and the thread its second once
    /// the caller has begun a second. (A turn not taken within 30 s is
    /// given up, which fails the test.)
    fn made_in_turns(sessions: &[Session], blocks: Vec<Vec<Block>>) -> Vec<ReductionCommit> {
        let on_thread = std::thread::current().name() == Some("daybook-prefetch");
        let mut turns = TURNS.lock().expect("lock");
        let begun = if on_thread { &mut turns.1 } else { &mut turns.0 };
        *begun += 1;
        let n = *begun;
        TURN_TAKEN.notify_all();
        let until = |t: &(usize, usize)| match (on_thread, n) {
            (true, 1) => t.0 >= 1,
            (false, 1) => t.1 >= 2,
            (true, 2) => t.0 >= 2,
            _ => true,
        };
        let (turns, _) = TURN_TAKEN
            .wait_timeout_while(turns, Duration::from_secs(30), |t| !until(t))
            .expect("lock");
        drop(turns);
        page_commits(sessions, blocks)
    }

    /// A page the thread has not finished when it is asked for is
    /// finished by the caller, chunk by chunk beside it ([`PageWork`]),
    /// and the answer is the page's commits in the page's order. 200
    /// short sessions are four chunks, made in turns ([`made_in_turns`]):
    /// the thread takes the first and waits, the caller takes the second
    /// and waits, the thread the third, the caller the fourth; so the
    /// answer interleaves the two workers' chunks, and any order but the
    /// page's shows.
    #[test]
    fn the_caller_works_the_chunks_the_thread_has_not_taken() {
        let min = |n: i64| Timestamp(1_700_000_000_000 + n * 60_000);
        let ids: Vec<String> = (0..200).map(|i| format!("s{i:03}")).collect();
        let starts: Vec<[Timestamp; 2]> = (0..200).map(|i| [min(10 * i), min(10 * i + 1)]).collect();
        let specs: Vec<(&str, Timestamp, Timestamp, &[Timestamp])> = (0..200)
            .map(|i| {
                (
                    ids[i].as_str(),
                    starts[i][0],
                    Timestamp(starts[i][0].0 + 90_000),
                    &starts[i][..],
                )
            })
            .collect();
        let (_dir, store) = ended_sessions(&specs);
        let sessions = store.pending_sessions().expect("pending");
        assert_eq!(sessions.len(), 200);
        assert_eq!(PageWork::new(sessions.clone(), page_commits).chunks.len(), 4);
        let truth = page_commits(&sessions, store.pending_blocks(&sessions).expect("blocks"));
        store.prefetch_pending_reductions(&sessions, made_in_turns);
        // Ask only once the thread holds its first chunk.
        let taken = || {
            store
                .prefetch
                .borrow()
                .as_ref()
                .expect("a prefetch")
                .work
                .next
                .load(Ordering::SeqCst)
        };
        let waiting = std::time::Instant::now();
        while taken() == 0 {
            assert!(
                waiting.elapsed() < Duration::from_secs(30),
                "the thread never took a chunk"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let answer = store
            .pending_reductions(&sessions, made_in_turns)
            .expect("the page's commits");
        assert_eq!(store.chunks_worked_here.get(), 2, "the second and the fourth made here");
        assert_eq!(store.prefetches_used.get(), 1, "answered from the shared work");
        assert_eq!(answer, truth, "the page's commits, in its order");
    }

    /// Chunks are cut at [`PAGE_CHUNK`] sessions or [`PAGE_CHUNK_SPAN`] of
    /// their time, whichever comes first, and a session longer than the
    /// span alone is a chunk of its own; they cover the page in order.
    #[test]
    fn a_page_is_cut_into_chunks_by_sessions_and_by_their_time() {
        let hour = 3_600_000;
        let session = |i: usize, len: i64| {
            let mut s = Session::active(SessionId(format!("s{i:03}")), Timestamp(0), UtcOffset::UTC);
            s.phase = Phase::Ended {
                end: Timestamp(len),
                reason: EndReason::Timeout,
            };
            s
        };
        let cut = |sessions: Vec<Session>| PageWork::new(sessions, page_commits).chunks;
        let short: Vec<Session> = (0..130).map(|i| session(i, 60_000)).collect();
        assert_eq!(cut(short), [0..64, 64..128, 128..130]);
        // 2,000 minutes hold four sessions of eight hours.
        let long: Vec<Session> = (0..10).map(|i| session(i, 8 * hour)).collect();
        assert_eq!(cut(long), [0..4, 4..8, 8..10]);
        let huge = vec![session(0, 100 * hour), session(1, 60_000), session(2, 100 * hour)];
        assert_eq!(cut(huge), [0..1, 1..2, 2..3]);
        let open: Vec<Session> = (0..65)
            .map(|i| Session::active(SessionId(format!("a{i:03}")), Timestamp(0), UtcOffset::UTC))
            .collect();
        assert_eq!(cut(open), [0..64, 64..65]);
        assert!(cut(Vec::new()).is_empty());
    }

    /// The prefetch's reader never keeps the store's close from copying
    /// the WAL into the file: the store's own connection closes last, so
    /// a clean close leaves no WAL behind, as without a prefetch.
    #[test]
    fn a_store_that_prefetched_still_checkpoints_on_close() {
        let (dir, mut store, sessions) = two_ended_sessions();
        store.prefetch_pending_reductions(&sessions, page_commits);
        store.pending_reductions(&sessions, page_commits).expect("read");
        assert!(store.reader.borrow().is_some(), "the reader is kept");
        store
            .mark_failed(&sessions[0].id, 1, Timestamp(0))
            .expect("a write after it");
        let wal = dir.path().join("daybook.db-wal");
        assert!(wal.exists(), "the write is in the WAL");
        drop(store);
        assert!(!wal.exists(), "closing copied the WAL into the file");
    }

    /// A reader that cannot open (here the database file is gone from its
    /// path; the store's own connection stays open on the renamed file)
    /// leaves the whole page to the call's connection: the answer is the
    /// page's, not an error. An error of a chunk's read (a block that does
    /// not read, broken through the store's own connection so the hint
    /// still holds) is the call's error, never an empty or partial answer.
    #[test]
    fn a_reader_that_cannot_open_leaves_the_page_to_the_call_and_a_bad_chunk_is_its_error() {
        let (dir, store, sessions) = two_ended_sessions();
        let fresh = store.pending_reductions(&sessions, page_commits).expect("read");
        let moved = dir.path().join("elsewhere");
        std::fs::create_dir(&moved).expect("mkdir");
        std::fs::rename(dir.path().join("daybook.db"), moved.join("daybook.db")).expect("rename");
        store.prefetch_pending_reductions(&sessions, page_commits);
        let answer = store.pending_reductions(&sessions, page_commits).expect("the page");
        assert_eq!(answer, fresh, "made on the call's connection");
        assert_eq!(store.chunks_worked_here.get(), 1, "its one chunk made here");
        assert!(store.reader.borrow().is_none(), "no reader opened");

        store
            .connection()
            .execute("UPDATE blocks SET lines = 'not a list' WHERE session_id = 'b'", [])
            .expect("break a block");
        store.prefetch_pending_reductions(&sessions, page_commits);
        let err = store
            .pending_reductions(&sessions, page_commits)
            .expect_err("a block that does not read");
        assert!(matches!(err, CoreError::Storage(_)), "{err}");
    }

    /// A pass's settings stay between its batches (no statement expired
    /// per batch) and are set back after its last batch, or before any
    /// other write if the pass stops early: foreign keys are on again.
    #[test]
    fn reductions_settings_are_set_back_after_the_pass_or_before_another_write() {
        let (_dir, mut store, sessions) = two_ended_sessions();
        // `(foreign_keys, cache_size, temp_store, wal_autocheckpoint)`.
        let settings = |store: &SqliteStore| -> [i64; 4] {
            ["foreign_keys", "cache_size", "temp_store", "wal_autocheckpoint"].map(|name| {
                store
                    .connection()
                    .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                    .expect("pragma")
            })
        };
        let fk = |store: &SqliteStore| settings(store)[0];
        let before = settings(&store);
        assert_eq!(before[0], 1);
        let empty = |s: &Session| ReductionCommit {
            session_id: s.id.clone(),
            entry: None,
            covered: Vec::new(),
            flush_end: None,
            finish: false,
        };
        // A batch with the next announced: the settings stay (2 is
        // `temp_store = MEMORY`; no checkpoint until the pass's last commit
        // but past the cap).
        store.prefetch_pending_reductions(&sessions[1..], page_commits);
        store.commit_reductions(&[empty(&sessions[0])]).expect("commit");
        assert_eq!(settings(&store), [0, -REDUCING_CACHE_KIB, 2, PASS_CHECKPOINT_PAGES]);
        // The next batch, none announced after it: set back.
        store.pending_reductions(&sessions[1..], page_commits).expect("read");
        store.commit_reductions(&[empty(&sessions[1])]).expect("commit");
        assert_eq!(settings(&store), before);
        // A pass stopped after announcing a batch: the next other write
        // sets them back first.
        store.prefetch_pending_reductions(&sessions[1..], page_commits);
        store.commit_reductions(&[empty(&sessions[0])]).expect("commit");
        assert_eq!(fk(&store), 0);
        store
            .mark_failed(&sessions[1].id, 1, Timestamp(0))
            .expect("another write");
        assert_eq!(settings(&store), before);
        // A batch refused (an unknown session) while the next is
        // announced: the pass ends, the settings go back with the error.
        store.prefetch_pending_reductions(&sessions[1..], page_commits);
        let unknown = Session::active(SessionId("nobody".to_owned()), Timestamp(0), UtcOffset::UTC);
        assert!(store.commit_reductions(&[empty(&unknown)]).is_err(), "refused");
        assert_eq!(settings(&store), before);
        // The next batch's read failing (another connection broke one of
        // its blocks after the hint, so it is read afresh, and the row no
        // longer reads): the pass ends, the settings go back with the
        // error.
        store.prefetch_pending_reductions(&sessions[1..], page_commits);
        store.commit_reductions(&[empty(&sessions[0])]).expect("commit");
        assert_eq!(fk(&store), 0);
        let other = Connection::open(store.path()).expect("a second connection");
        other
            .execute(
                "UPDATE blocks SET lines = 'not a list' WHERE session_id = ?1",
                [&sessions[1].id.0],
            )
            .expect("break a block");
        drop(other);
        assert!(
            store.pending_reductions(&sessions[1..], page_commits).is_err(),
            "a block that does not read"
        );
        assert_eq!(settings(&store), before);
    }

    /// The WAL of the database in `dir`, read from its index (`-shm`):
    /// `mxFrame` of the index header (the last frame) and `nBackfill` of
    /// the checkpoint information after its two copies (how many are
    /// copied into the database), in native byte order.
    fn wal_frames(dir: &Path) -> (u32, u32) {
        let bytes = std::fs::read(dir.join("daybook.db-shm")).expect("the WAL index");
        let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
        (word(16), word(96))
    }

    /// The connection's checkpoint threshold, in pages.
    fn threshold(store: &SqliteStore) -> i64 {
        store
            .connection()
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .expect("pragma")
    }

    /// A pass checkpoints the WAL once, at its last batch's commit, not
    /// after each batch: with the threshold at one page (every commit past
    /// it), the first batch's frames (another batch announced) are still
    /// in the WAL after its commit, and once the last batch is committed
    /// every frame is copied into the database and the threshold is back.
    /// Read from the WAL index (`-shm`): the last frame and how many are
    /// copied.
    #[test]
    fn a_reduction_pass_checkpoints_the_wal_once_at_its_last_commit() {
        let (dir, mut store, sessions) = two_ended_sessions();
        let frames = || wal_frames(dir.path());
        store
            .connection()
            .pragma_update(None, "wal_autocheckpoint", 1)
            .expect("pragma");
        let flushed = |s: &Session, at: i64| ReductionCommit {
            session_id: s.id.clone(),
            entry: None,
            covered: Vec::new(),
            flush_end: Some(Timestamp(at)),
            finish: false,
        };
        store.prefetch_pending_reductions(&sessions[1..], page_commits);
        // The prefetch's read over before the commit: a reader's snapshot
        // would itself keep a checkpoint from copying the commit's frames,
        // and the frame count below would hold without the deferral.
        while !store
            .prefetch
            .borrow()
            .as_ref()
            .and_then(|p| p.thread.as_ref())
            .is_none_or(std::thread::JoinHandle::is_finished)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        store
            .commit_reductions(&[flushed(&sessions[0], 1_700_000_030_000)])
            .expect("commit");
        let (last, copied) = frames();
        assert!(last > 0 && copied < last, "mid-pass: {copied} of {last} frames copied");
        assert_eq!(threshold(&store), PASS_CHECKPOINT_PAGES);
        store.pending_reductions(&sessions[1..], page_commits).expect("read");
        store
            .commit_reductions(&[flushed(&sessions[1], 1_700_000_630_000)])
            .expect("commit");
        let (last, copied) = frames();
        assert!(
            last > 0 && copied == last,
            "after the pass: {copied} of {last} frames copied"
        );
        assert_eq!(threshold(&store), 1);
    }

    /// Wherever the fast reading of a list of strings answers, it answers
    /// what `serde_json` does: every text of up to six characters over
    /// JSON's structural characters, an escape, white space, a control
    /// and a two-byte letter.
    #[test]
    fn a_plain_string_list_reads_as_serde_json_reads_it() {
        let alphabet = ['[', ']', '"', ',', 'a', 'é', '\\', ' ', '\n'];
        let mut texts = vec![String::new()];
        let mut answered = 0;
        for _ in 0..6 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            for t in &texts {
                if let Some(list) = plain_string_list(t) {
                    answered += 1;
                    let serde: Vec<String> = serde_json::from_str(t).unwrap_or_else(|e| panic!("{t:?}: {e}"));
                    assert_eq!(list, serde, "{t:?}");
                }
            }
        }
        // Read the fast way: `[]`, `[""]`, and `["x"]`, `["xy"]` for the
        // six characters a plain string may hold here (all but `"`, `\`
        // and the line feed): 1 + 1 + 6 + 36.
        assert_eq!(answered, 44);
        // What the store writes is read the fast way, escapes aside.
        for list in [
            vec![],
            vec![String::new()],
            vec!["Code — main.rs".to_owned(), "a,b] [\"c".to_owned()],
        ] {
            let json = serde_json::to_string(&list).unwrap();
            let fast = plain_string_list(&json);
            assert_eq!(fast.is_some(), !json.contains('\\'), "{json}");
            assert_eq!(from_json("blocks", String::new, &json).unwrap(), list);
        }
    }

    /// The schema as `sqlite_master` holds it, object by object.
    fn schema_rows(store: &SqliteStore) -> Vec<(String, String, Option<String>)> {
        store
            .connection()
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// A database of `orphans` active sessions ten minutes apart (every
    /// other with three blocks), loose blocks beside every third, flush
    /// entries on five days for every 97th, and one reduced session.
    fn orphans_db(path: &Path, orphans: usize) -> SqliteStore {
        let store = SqliteStore::open(path).unwrap();
        store
            .connection()
            .execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {orphans})
                 INSERT INTO sessions (id, start_ms, offset_s, status)
                 SELECT 'orphan-' || hex(randomblob(6)) || '-' || i, 1699999200000 + i * 600000, 3600, 'active' FROM n;
                 INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason)
                 VALUES ('reduced-1', 1600000000000, 3600, 'reduced', 1600000060000, 'idle_gap');
                 INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count)
                 SELECT id, start_ms + 60000 * k, start_ms + 60000 * (k + 1), 3600, '[]', '[\"Code\"]', 2
                 FROM sessions, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2)
                 WHERE status = 'active' AND start_ms % 1200000 = 0;
                 INSERT INTO loose_blocks (id, start_ms, end_ms, offset_s, lines, apps, capture_count)
                 SELECT start_ms / 1000, start_ms + 240000, start_ms + 300000, 3600, '[]', '[\"Mail\"]', 1
                 FROM sessions WHERE status = 'active' AND start_ms % 1800000 = 0;
                 INSERT INTO entries (session_id, kind, from_ms, to_ms, offset_s, day, body)
                 SELECT id, 'flush', start_ms, start_ms + 60000, 3600, '2023-11-' || (10 + i % 5), 'flushed'
                 FROM (SELECT id, start_ms, row_number() OVER (ORDER BY start_ms) AS i FROM sessions WHERE status = 'active')
                 WHERE i % 97 = 0;
                 DELETE FROM stale_days;"
            ))
            .unwrap();
        store
    }

    /// Recovery reads every block in one pass from `BULK_RECOVERY` orphans
    /// on, when they are at least three in four sessions; else it seeks.
    #[test]
    fn orphans_blocks_are_read_by_a_pass_only_when_orphans_are_most_sessions() {
        let sessions = |orphans: usize, others: usize| -> Vec<SessionSpan> {
            (0..orphans + others)
                .map(|i| SessionSpan {
                    id: SessionId(format!("s{i:06}")),
                    start: Timestamp(i as i64 * 60_000),
                    end: (i >= orphans).then(|| Timestamp(i as i64 * 60_000 + 1)),
                    reduced: false,
                })
                .collect()
        };
        let read = |orphans, others| OrphanBlocks::for_sessions(&sessions(orphans, others));
        assert_eq!(
            read(3 * BULK_RECOVERY, BULK_RECOVERY),
            OrphanBlocks::Scan,
            "three in four"
        );
        assert_eq!(
            read(3 * BULK_RECOVERY - 1, BULK_RECOVERY),
            OrphanBlocks::Seek,
            "just under"
        );
        assert_eq!(read(BULK_RECOVERY, 0), OrphanBlocks::Scan, "all orphans");
        assert_eq!(read(BULK_RECOVERY - 1, 0), OrphanBlocks::Seek, "too few to matter");
        assert_eq!(read(1, 10_000), OrphanBlocks::Seek, "a crash's orphan in a history");
    }

    /// Recovery reads the orphans' blocks the same whichever way
    /// (`orphan_blocks`): by a seek per orphan, or by one pass over every
    /// block when orphans are most sessions, with other sessions' blocks
    /// (ended, reduced, a rewritten revision) between theirs in key order
    /// to skip; and `recovery_input` (which takes the pass here, orphans
    /// being most sessions, as checked) gives what seeks give.
    #[test]
    fn orphans_blocks_read_by_a_pass_are_those_read_by_seeks() {
        let dir = tempfile::tempdir().unwrap();
        let orphans = BULK_RECOVERY + 100;
        let store = orphans_db(&dir.path().join("daybook.db"), orphans);
        // Other sessions' ids among the orphans' (the same prefix and
        // random hex), each with blocks, one of them with a second
        // revision; and an orphan's block rewritten too.
        store
            .connection()
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason)
                 SELECT 'orphan-' || hex(randomblob(6)) || '-x' || i, 1500000000000 + i * 600000, 3600,
                        CASE WHEN i % 2 = 0 THEN 'reduced' ELSE 'ended' END, 1500000000000 + i * 600000 + 120000,
                        'idle_gap' FROM n;
                 INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, rev)
                 SELECT id, start_ms + 60000 * k, start_ms + 60000 * (k + 1), 3600, '[]', '[\"Mail\"]', 1, k / 2
                 FROM sessions, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2)
                 WHERE status <> 'active';
                 INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count, rev)
                 SELECT session_id, start_ms, end_ms + 1000, offset_s, lines, apps, capture_count, 1
                 FROM blocks WHERE session_id = (SELECT min(session_id) FROM blocks b JOIN sessions s
                   ON s.id = b.session_id WHERE s.status = 'active') AND start_ms % 120000 = 0;",
            )
            .unwrap();
        let wanted: i64 = store
            .connection()
            .query_row(
                "SELECT count(*) FROM blocks b JOIN sessions s ON s.id = b.session_id WHERE s.status = 'active'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let wanted = usize::try_from(wanted).unwrap();
        let sessions = store.recovery_sessions().unwrap().sessions;
        assert_eq!(OrphanBlocks::for_sessions(&sessions), OrphanBlocks::Scan);
        let by_seeks = store.orphan_blocks(&sessions, OrphanBlocks::Seek).unwrap();
        let by_pass = store.orphan_blocks(&sessions, OrphanBlocks::Scan).unwrap();
        assert_eq!(by_pass.len(), wanted, "every orphan's block, and only theirs");
        assert!(wanted > orphans, "{wanted} blocks");
        // Grouped by session, in key order, both.
        for blocks in [&by_seeks, &by_pass] {
            let owners: Vec<usize> = blocks.iter().map(|b| b.owner.unwrap()).collect();
            assert!(owners.is_sorted(), "grouped by session in key order");
            assert!(
                owners.iter().all(|&i| sessions[i].end.is_none()),
                "each block's owner an orphan"
            );
        }
        // Each orphan's blocks, counted by owner's id, as SQLite counts them.
        let mut counted: BTreeMap<&str, i64> = BTreeMap::new();
        for b in &by_pass {
            *counted.entry(sessions[b.owner.unwrap()].id.0.as_str()).or_default() += 1;
        }
        let by_sql: BTreeMap<String, i64> = store
            .connection()
            .prepare(
                "SELECT b.session_id, count(*) FROM blocks b JOIN sessions s ON s.id = b.session_id
                 WHERE s.status = 'active' GROUP BY b.session_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            counted
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
            by_sql
        );
        let sorted = |blocks: &[BlockSpan]| {
            let mut blocks = blocks.to_vec();
            blocks.sort_by(|a, b| (&a.owner, a.start, a.end).cmp(&(&b.owner, b.start, b.end)));
            blocks
        };
        assert_eq!(sorted(&by_pass), sorted(&by_seeks));
        // `recovery_input`: the orphans' blocks (read by the pass), then
        // the loose ones.
        let input = store.recovery_input().unwrap();
        let loose = input.blocks.iter().filter(|b| b.owner.is_none()).count();
        assert!(loose > 0);
        assert_eq!(sorted(&input.blocks[..input.blocks.len() - loose]), sorted(&by_seeks));
        assert_eq!(input.sessions, sessions);
    }

    /// A bulk recovery's commit leaves its frames in the WAL (with the
    /// threshold at one page, a commit past it would copy them), sets the
    /// threshold back, and the next commit copies every frame. Read from
    /// the WAL index as in the reduction pass's test.
    #[test]
    fn a_bulk_recovery_leaves_its_checkpoint_to_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = orphans_db(&dir.path().join("daybook.db"), BULK_RECOVERY + 10);
        let frames = || wal_frames(dir.path());
        store.checkpoint().unwrap();
        store
            .connection()
            .pragma_update(None, "wal_autocheckpoint", 1)
            .expect("pragma");
        let config = daybook_core::Config::default();
        let plan = daybook_core::recovery::plan(
            &store.recovery_input().unwrap(),
            config.max_session,
            config.empty_session,
        );
        store.recover(&plan).unwrap();
        let (last, copied) = frames();
        assert!(
            last > 0 && copied < last,
            "after the recovery: {copied} of {last} frames copied"
        );
        assert_eq!(threshold(&store), 1);
        store.mark_failed(&plan.ends[0].id, 1, Timestamp(1)).unwrap();
        let (last, copied) = frames();
        assert!(
            last > 0 && copied == last,
            "after the next commit: {copied} of {last} frames copied"
        );
    }

    /// A bulk recovery that comes while a reduce-pending pass has its
    /// checkpoints deferred (a batch committed, another announced) sets
    /// the threshold back to the one from before the pass, not to the
    /// pass's: it leaves reductions' mode before it reads the threshold
    /// it will restore.
    #[test]
    fn a_bulk_recovery_during_a_pass_sets_back_the_threshold_from_before_the_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = orphans_db(&dir.path().join("daybook.db"), BULK_RECOVERY + 10);
        store
            .connection()
            .pragma_update(None, "wal_autocheckpoint", 7)
            .expect("pragma");
        store
            .connection()
            .execute(
                "INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason)
                 VALUES ('ended-1', 1500000000000, 3600, 'ended', 1500000060000, 'idle_gap')",
                [],
            )
            .expect("an ended session");
        let input = store.recovery_input().unwrap();
        let orphan_id = &input.sessions.iter().find(|s| s.end.is_none()).expect("an orphan").id;
        let orphan = store.session(orphan_id).unwrap().expect("the orphan's row");
        let ended = store
            .session(&SessionId("ended-1".to_owned()))
            .unwrap()
            .expect("the ended session");
        store.prefetch_pending_reductions(std::slice::from_ref(&orphan), page_commits);
        store
            .commit_reductions(&[ReductionCommit {
                session_id: ended.id.clone(),
                entry: None,
                covered: Vec::new(),
                flush_end: None,
                finish: false,
            }])
            .expect("a batch of the pass");
        assert_eq!(
            threshold(&store),
            PASS_CHECKPOINT_PAGES,
            "deferred while the pass goes on"
        );
        let config = daybook_core::Config::default();
        let plan = daybook_core::recovery::plan(&input, config.max_session, config.empty_session);
        assert!(plan.ends.len() >= BULK_RECOVERY, "a bulk recovery");
        store.recover(&plan).unwrap();
        assert_eq!(threshold(&store), 7, "the threshold from before the pass");
    }

    /// Ending many orphans with the status index and the session trigger
    /// set aside (`end_in_bulk`) leaves what ending them a few at a time
    /// leaves: the same sessions, blocks, loose blocks' owners and stale
    /// days, and the schema byte for byte; a second recovery changes
    /// nothing, and the trigger set aside works again afterwards.
    #[test]
    fn recovering_in_bulk_equals_recovering_a_few_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let orphans = BULK_RECOVERY + 100;
        let make = |path: &Path| orphans_db(path, orphans);
        let (bulk_path, few_path) = (dir.path().join("bulk.db"), dir.path().join("few.db"));
        let mut bulk = make(&bulk_path);
        drop(bulk);
        std::fs::copy(&bulk_path, &few_path).unwrap();
        bulk = SqliteStore::open(&bulk_path).unwrap();
        let mut few = SqliteStore::open(&few_path).unwrap();
        let schema = schema_rows(&bulk);
        let config = daybook_core::Config::default();
        let plan = daybook_core::recovery::plan(
            &bulk.recovery_input().unwrap(),
            config.max_session,
            config.empty_session,
        );
        assert_eq!(plan.ends.len(), orphans);
        assert!(!plan.owners.is_empty(), "loose blocks to own");

        // A transaction that fails after the bulk end leaves the schema
        // and every row as they were.
        let before = bulk.dump().unwrap();
        let failed = bulk.write(|tx| {
            SqliteStore::end_in_bulk(
                tx,
                "UPDATE sessions SET status = 'ended', end_ms = start_ms + 1, end_reason = 'recovered'
                 WHERE status = 'active'",
            )?;
            Err::<(), _>(CoreError::UnknownSession(SessionId("a failure after the end".into())))
        });
        assert!(failed.is_err());
        assert_eq!(bulk.dump().unwrap(), before);
        assert_eq!(schema_rows(&bulk), schema);
        // The table's checks, skipped for the bulk end, hold again after
        // it, even after an end that failed: an active row with an end is
        // refused.
        let broken = bulk.write(|tx| SqliteStore::end_in_bulk(tx, "UPDATE sessions SET start_ms = NULL"));
        assert!(broken.is_err(), "a failed bulk end is an error");
        let orphan = &plan.ends[0].id.0;
        let refused = bulk
            .connection()
            .execute("UPDATE sessions SET end_ms = 1 WHERE id = ?1", [orphan]);
        assert!(refused.is_err(), "CHECK enforced again: {refused:?}");
        assert_eq!(bulk.dump().unwrap(), before);

        bulk.recover(&plan).unwrap();
        // The same plan a few orphans at a time: under the bulk size.
        for (i, ends) in plan.ends.chunks(BULK_RECOVERY / 4).enumerate() {
            let part = RecoveryPlan {
                ends: ends.to_vec(),
                owners: if i == 0 { plan.owners.clone() } else { Vec::new() },
            };
            few.recover(&part).unwrap();
        }
        let dump = bulk.dump().unwrap();
        assert_eq!(dump, few.dump().unwrap());
        assert!(dump.sessions.iter().all(|s| s.phase != daybook_core::Phase::Active));
        // The same days (a day is bumped once per statement that lists it).
        let days = |s: &SqliteStore| {
            schema::stale_rows(s.connection())
                .into_iter()
                .map(|(d, _)| d)
                .collect::<Vec<_>>()
        };
        assert_eq!(days(&bulk), days(&few));
        assert_eq!(days(&bulk).len(), 5, "the orphans' flush entries' days");
        assert_eq!(schema_rows(&bulk), schema, "the schema is as before, byte for byte");
        // `integrity_check` checks every row against the table's `CHECK`s,
        // which the bulk end did not evaluate.
        assert_eq!(
            bulk.connection()
                .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .unwrap(),
            "ok"
        );

        // Recovering again changes nothing.
        let again = daybook_core::recovery::plan(
            &bulk.recovery_input().unwrap(),
            config.max_session,
            config.empty_session,
        );
        assert!(again.ends.is_empty());
        bulk.recover(&again).unwrap();
        assert_eq!(bulk.dump().unwrap(), dump);

        // The trigger set aside lists a day again: a session with an
        // entry, its end moved.
        bulk.connection().execute("DELETE FROM stale_days", []).unwrap();
        let with_entry: String = bulk
            .connection()
            .query_row("SELECT session_id FROM entries LIMIT 1", [], |r| r.get(0))
            .unwrap();
        bulk.connection()
            .execute("UPDATE sessions SET end_ms = end_ms + 1 WHERE id = ?1", [&with_entry])
            .unwrap();
        assert_eq!(schema::stale_rows(bulk.connection()).len(), 1);
    }

    /// A real database spread over many pages, closed (WAL folded in).
    fn many_pages(path: &Path) -> Vec<u8> {
        let store = SqliteStore::open(path).unwrap();
        store
            .connection()
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason)
                 SELECT 'session-' || i || '-' || hex(randomblob(40)), i * 1000, 0, 'reduced', i * 1000 + 500, 'idle_gap'
                 FROM n",
            )
            .unwrap();
        drop(store);
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 16 * 4096, "{} bytes", bytes.len());
        bytes
    }

    #[test]
    fn a_file_cut_inside_its_last_page_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        let bytes = many_pages(&path);
        let cut = &bytes[..bytes.len() - 1000];
        std::fs::write(&path, cut).unwrap();
        for open in [SqliteStore::open, SqliteStore::open_verified] {
            match open(&path) {
                Err(Error::Damaged { problem, .. }) => assert!(problem.contains("cut short"), "{problem}"),
                other => panic!("expected Damaged, got {other:?}"),
            }
            assert!(std::fs::read(&path).unwrap() == cut, "the file was changed");
        }
    }

    #[test]
    fn a_damaged_page_is_refused_by_open_verified_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daybook.db");
        let mut bytes = many_pages(&path);
        let page = bytes.len() / 4096 / 2;
        bytes[page * 4096..(page + 1) * 4096].fill(0xab);
        std::fs::write(&path, &bytes).unwrap();
        let err = SqliteStore::open_verified(&path).unwrap_err();
        assert!(matches!(err, Error::Damaged { .. } | Error::Database { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        assert!(std::fs::read(&path).unwrap() == bytes, "the file was changed");
    }
}
