//! Day files: the projection of the database's entries into
//! `event-YYYY-MM-DD.md`. A file is rewritten whole from the database after
//! each commit that touches its day, atomically: temp file, fsync, rename,
//! fsync of the directory ([`write_day`]); a pass over many days
//! ([`rebuild`]: startup, `recover`, imports) syncs its files together. A
//! crash at any point leaves the old file or the new one, never a torn
//! one.
//!
//! **Which files a start checks.** Rendering a day reads its events
//! (about 4.5 ms a day), so a start no longer renders every day. The
//! database keeps the record of what may be stale (schema migration 11):
//!
//! - `stale_days`: a day whose rendering may have changed since its file
//!   was last made durable. SQLite triggers add the day (or bump its
//!   counter `n`) inside the very transaction that changes what
//!   [`render`] reads: the day's entries (insert, update, delete), the
//!   rows of sessions that have entries (insert, delete, and an update of
//!   what the day log shows: start, offset, status, end, end reason), and
//!   the events of such a session attributed inside the window its
//!   entries of a day cover (insert, delete, and an update of what the
//!   day log shows). Two changes are listed by their writer instead of a
//!   trigger, in the same transaction. New events: the store's ingest,
//!   their only writer, lists their days with one statement at the end of
//!   its transaction (`schema::STALE_NEW_EVENTS`, migration 13), since a
//!   trigger on every inserted row cost ingest a statement journal a row.
//!   An active session ended as `recovered` (migration 14):
//!   `Store::recover` lists all its orphans' days in one statement, where
//!   a trigger per orphan cost a lookup each. Either way the listing
//!   commits with the change, and a crash between a commit and the file write leaves the day
//!   listed. An event that extends an open session after its last flush
//!   entry lies outside every covered window and marks nothing: ingest
//!   pays one lookup of the session's entries, not a write.
//! - `day_files`: each file as daybook last made it durable (size,
//!   modification and change time in ns, inode, [`FORMAT_VERSION`]).
//!
//! A day leaves `stale_days` only after its file is durable (after the
//! rename and the directory's fsync, or found equal to the rendering),
//! and only if its `n` is still the one read **before** the rendering:
//! a change committed meanwhile keeps it listed (compare-and-clear). The
//! same transaction records the file's `day_files` row.
//!
//! A start ([`rebuild_at_start`], [`days_to_check`]) renders only: the
//! days in `stale_days`; the days with entries whose file is missing,
//! has no record, was written in another day-log format, or whose `stat`
//! differs from its record (edited, replaced, restored, deleted by
//! someone else). Each such day is rendered and compared, and rewritten
//! if it differs. So the promise "every start rewrites any file that
//! differs from its rendering" is kept for every change daybook made
//! (the triggers) and every change made to a file by anyone else that
//! moves its size, times or inode; what it does not catch is a file
//! changed behind daybook's back with its size, modification time,
//! change time and inode all set back (which needs root and intent).
//! `daybook recover`, `reduce-pending` and imports still check every day
//! ([`rebuild_all`]).
//!
//! A new format ([`FORMAT_VERSION`]) rewrites every file once, from
//! entries that stay as they are: every record names the old format.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use daybook_core::aggregate::SessionInput;
use daybook_core::daylog::{FORMAT_VERSION, day_name, file_name, parse_day_name, render_day_of};
use daybook_core::{Entry, Session, SessionId, Store, Timestamp, UtcOffset};
use rusqlite::OptionalExtension;
use rusqlite::types::Type;

use crate::error::{Error, Result};
use crate::recall::{Contexts, ReadEvent, text_bytes as text};
use crate::store::SqliteStore;

/// Writes `text` to `dir/name` atomically and durably.
pub fn write_atomically(dir: &Path, name: &str, text: &str) -> Result<()> {
    replace_file(dir, name, text, || {})
}

/// Temp file, fsync, `between()`, rename, fsync of the directory.
fn replace_file(dir: &Path, name: &str, text: &str, between: impl FnOnce()) -> Result<()> {
    let path = dir.join(name);
    let tmp = temp_path(dir, name);
    let io = |what, path: &PathBuf| {
        let path = path.clone();
        move |source| Error::Io { what, path, source }
    };
    let mut file = crate::datadir::create_private_file(&tmp).map_err(io("writing", &tmp))?;
    file.write_all(text.as_bytes()).map_err(io("writing", &tmp))?;
    file.sync_all().map_err(io("syncing", &tmp))?;
    drop(file);
    between();
    fs::rename(&tmp, &path).map_err(io("renaming into place", &path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", &dir.to_owned()))?;
    Ok(())
}

/// Renders `day` from the store: its entries, the sessions they reduce
/// and those sessions' events inside the entries' windows, in three reads
/// ([`read_day`]), the events without their typed text and each context
/// read once. The same bytes as [`daybook_core::daylog::render_day`] of [`Store::day_inputs`]
/// (the reference, kept beside it in the tests).
pub fn render(store: &SqliteStore, day: NaiveDate) -> Result<String> {
    Ok(read_day(store, day)?.render(day))
}

/// What [`render`] reads of a day: its entries, the rows of the sessions
/// they reduce, and each session's events inside the windows its entries
/// of the day cover (`events[i]` for `sessions[i]`, by attributed time
/// then `seq`).
struct DayRead {
    entries: Vec<Entry>,
    sessions: Vec<Session>,
    events: Vec<Vec<ReadEvent>>,
}

impl DayRead {
    fn render(&self, day: NaiveDate) -> String {
        let refs: Vec<&Entry> = self.entries.iter().collect();
        let inputs: Vec<SessionInput<'_, ReadEvent>> = self
            .sessions
            .iter()
            .zip(&self.events)
            .map(|(session, events)| SessionInput { session, events })
            .collect();
        render_day_of(day, &refs, &inputs)
    }
}

/// The events of a day's sessions (those with an entry on the day, `?1`
/// their ids as a JSON list): by session, then attributed time and `seq`,
/// as the `events_by_session` index holds them, so SQLite sorts nothing.
/// One statement for the day, whatever its sessions: an imported day of
/// 150 sessions without events costs one empty read, not 150. The ids
/// come from the entries already read, not from a subquery on `entries`,
/// which read each entry's row again for its `session_id` (the day index
/// does not hold it): a third of a day's render on an imported history.
const DAY_EVENTS: &str = "SELECT session_id, seq, attributed_ms, offset_s, app, title, url FROM events
 WHERE session_id IN (SELECT value FROM json_each(?1)) ORDER BY session_id, attributed_ms, seq";

/// The window `[from, to)` a session's entries of a day cover.
type Cover = (Timestamp, Timestamp);

/// The session whose events are being read: its id's bytes, and its
/// index among the day's sessions with its [`Cover`] (none for events of
/// a session with no row, which renders from its entries alone).
type Reading = (Vec<u8>, Option<(usize, Cover)>);

/// Reads what [`render`] renders `day` from: the day's entries, their
/// sessions, and their events, in three statements. Of a session's
/// events only those attributed inside `[first from, last to)` of its
/// entries on the day are kept: a section shows only what its entries
/// cover (the other day of a session across midnight is left out here as
/// [`render_day_of`] leaves it out).
fn read_day(store: &SqliteStore, day: NaiveDate) -> Result<DayRead> {
    let entries = store.entries_for_day(day)?;
    let mut ids: Vec<&str> = entries.iter().map(|e| e.session_id.0.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids = serde_json::to_string(&ids).map_err(|e| Error::Core(daybook_core::Error::Storage(Box::new(e))))?;
    let sessions = store.sessions_in(&ids)?;
    let mut covers: BTreeMap<&SessionId, Cover> = BTreeMap::new();
    for e in &entries {
        let cover = covers.entry(&e.session_id).or_insert((e.from, e.to));
        *cover = (cover.0.min(e.from), cover.1.max(e.to));
    }
    let db = |source| Error::Database {
        path: store.path().to_owned(),
        source,
    };
    let mut events: Vec<Vec<ReadEvent>> = sessions.iter().map(|_| Vec::new()).collect();
    let mut stmt = store.connection().prepare_cached(DAY_EVENTS).map_err(db)?;
    let mut rows = stmt.query([&ids]).map_err(db)?;
    let mut contexts = Contexts::unfiltered();
    // The session of the rows being read: its id's bytes, and its index in
    // `sessions` with the window its entries cover (none for a session
    // with no row, which renders from its entries alone).
    let mut current: Option<Reading> = None;
    while let Some(r) = rows.next().map_err(db)? {
        let id = text(r, 0).map_err(db)?.unwrap_or_default();
        if current.as_ref().is_none_or(|(c, _)| c.as_slice() != id) {
            let at = sessions.binary_search_by(|s| s.id.0.as_bytes().cmp(id)).ok();
            let found = at.and_then(|i| covers.get(&sessions[i].id).map(|&cover| (i, cover)));
            current = Some((id.to_owned(), found));
        }
        let Some((_, Some((at, (from, to))))) = current else {
            continue;
        };
        let attributed = Timestamp(r.get(2).map_err(db)?);
        if attributed < from || attributed >= to {
            continue;
        }
        let app = text(r, 4)
            .and_then(|a| a.ok_or_else(|| rusqlite::Error::InvalidColumnType(4, "app".into(), Type::Null)))
            .map_err(db)?;
        let Some(context) = contexts
            .get((app, text(r, 5).map_err(db)?, text(r, 6).map_err(db)?), [4, 5, 6])
            .map_err(db)?
        else {
            continue;
        };
        events[at].push(ReadEvent {
            seq: u64::try_from(r.get::<_, i64>(1).map_err(db)?).unwrap_or(0),
            attributed,
            offset: UtcOffset(r.get(3).map_err(db)?),
            context,
        });
    }
    drop(rows);
    Ok(DayRead {
        entries,
        sessions,
        events,
    })
}

/// What `daybook show` and `GET /v1/days/…` print: the day's rendering,
/// and for a day with nothing written up, why: its sessions are not
/// reduced yet, capture is paused, or no event was captured.
pub fn show(store: &SqliteStore, day: NaiveDate) -> Result<String> {
    if !store.entries_for_day(day)?.is_empty() {
        return render(store, day);
    }
    let (from, to) = crate::clock::local_day_bounds(day);
    let sessions = store.sessions_between(from, to)?.len();
    let why = if sessions == 1 {
        "its session is not written up yet (still active, or waiting for its reduction)".to_owned()
    } else if sessions > 1 {
        format!("its {sessions} sessions are not written up yet (still active, or waiting for their reduction)")
    } else if store.daemon_state()?.paused {
        "capture is paused, so no event was kept".to_owned()
    } else {
        "no event was captured".to_owned()
    };
    Ok(format!(
        "# daybook — {}\n\nNothing recorded on this day: {why}.\n",
        day_name(day)
    ))
}

/// Rewrites the file of `day` from the store, then (the file durable)
/// takes the day off `stale_days` unless a change committed since its
/// counter was read, and records the file (see the module docs).
pub fn write_day(store: &SqliteStore, dir: &Path, day: NaiveDate) -> Result<()> {
    let rendered = write_unsettled(store, dir, day)?;
    settle(store, dir, &[rendered])
}

/// Renders `day` and makes its file durable, reading the day's
/// `stale_days` counter and its rows in one read transaction (so the
/// counter is exactly the one the rendering saw), and leaves the settle
/// to the caller: [`write_day`] on the engine thread, or [`Projector`]'s
/// thread, which has a read-only connection, while the engine thread's
/// connection settles.
fn write_unsettled(store: &SqliteStore, dir: &Path, day: NaiveDate) -> Result<Rendered> {
    let db = |source| Error::Database {
        path: store.path().to_owned(),
        source,
    };
    let conn = store.connection();
    conn.execute_batch("BEGIN").map_err(db)?;
    let read = stale_count(store, day).and_then(|n| Ok((n, render(store, day)?)));
    // A read transaction: ending it changes nothing, whatever was read.
    let ended = conn.execute_batch("COMMIT").map_err(db);
    let (n, text) = read?;
    ended?;
    replace_file(dir, &file_name(day), &text, || {
        crate::crash_point!("dayfile-before-rename");
    })?;
    Ok(Rendered { day, n, written: true })
}

/// Day files written on a thread of their own, so that rendering a day
/// (which reads all its events) does not hold the engine thread, and the
/// ingest requests behind it, while capture keeps coming.
///
/// The thread has its own read-only connection ([`SqliteStore::open_read_only`],
/// WAL: it reads the last commit while the engine writes). It takes one
/// job at a time, a list of days; for each it reads the day's
/// `stale_days` counter and renders the day in one read transaction, then
/// makes the file durable (temp file, fsync, rename, fsync of the
/// directory). It writes nothing to the database: the engine thread
/// settles each job ([`Self::finished`], [`settle_written`]) on its own
/// connection, with the same compare-and-clear as [`write_day`]: a change
/// committed after the read keeps the day listed. Crash-safe as
/// [`write_day`]: until its settle, a day stays in `stale_days`.
///
/// Its owner must never write a day file itself while a job is out
/// ([`Self::writing`]): two writers would share a temp file. The daemon
/// sends a job only when none is out, and waits for it
/// ([`Self::finished`] with `wait`) before it writes files itself (any
/// command that must see current files).
#[derive(Debug)]
pub struct Projector {
    jobs: Option<std::sync::mpsc::Sender<Vec<NaiveDate>>>,
    done: std::sync::mpsc::Receiver<Result<Written>>,
    thread: Option<std::thread::JoinHandle<()>>,
    writing: bool,
}

/// The days a [`Projector`] job made durable, to settle.
#[derive(Debug)]
pub struct Written(Vec<Rendered>);

impl Projector {
    /// Opens its read-only connection to the database at `path` and
    /// starts the thread, which writes the files of `dir`.
    pub fn start(path: &Path, dir: &Path) -> Result<Self> {
        let store = SqliteStore::open_read_only(path)?;
        let days_dir = dir.to_owned();
        let (jobs, take) = std::sync::mpsc::channel::<Vec<NaiveDate>>();
        let (give, done) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("daybook-days".into())
            .spawn(move || {
                for days in take {
                    let written = days
                        .iter()
                        .map(|&day| write_unsettled(&store, &days_dir, day))
                        .collect::<Result<Vec<_>>>()
                        .map(Written);
                    if give.send(written).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| Error::Io {
                what: "starting the day-file thread",
                path: dir.to_owned(),
                source,
            })?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            writing: false,
        })
    }

    /// Whether a job is out (sent, not yet taken back by [`Self::finished`]).
    pub fn writing(&self) -> bool {
        self.writing
    }

    /// Hands `days` to the thread. Only when no job is out.
    pub fn send(&mut self, days: Vec<NaiveDate>) -> Result<()> {
        debug_assert!(!self.writing, "one day-file job at a time");
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(days).is_ok());
        if !sent {
            return Err(Error::DayFileThreadStopped);
        }
        self.writing = true;
        Ok(())
    }

    /// The job's outcome if it is finished (waiting for it if `wait`),
    /// none if no job is out or it is still running. An error is the
    /// first the job met: the days before it are durable and still
    /// listed, the rest not written.
    pub fn finished(&mut self, wait: bool) -> Result<Option<Written>> {
        if !self.writing {
            return Ok(None);
        }
        let outcome = if wait {
            self.done.recv().map_err(|_| Error::DayFileThreadStopped)
        } else {
            match self.done.try_recv() {
                Ok(outcome) => Ok(outcome),
                Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(None),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(Error::DayFileThreadStopped),
            }
        };
        self.writing = false;
        outcome?.map(Some)
    }
}

impl Drop for Projector {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Settles the days a [`Projector`] job made durable, on `store` (the
/// writer's connection): each off `stale_days` unless changed since its
/// rendering read it, each file recorded.
pub fn settle_written(store: &SqliteStore, dir: &Path, written: &Written) -> Result<()> {
    settle(store, dir, &written.0)
}

/// A day [`rebuild`] or [`write_day`] rendered: its `stale_days` counter
/// read before the rendering (none if it was not listed), and whether
/// its file was rewritten (else it already equalled the rendering).
#[derive(Clone, Copy, Debug)]
struct Rendered {
    day: NaiveDate,
    n: Option<i64>,
    written: bool,
}

/// The `stale_days` counter of `day`, if listed.
fn stale_count(store: &SqliteStore, day: NaiveDate) -> Result<Option<i64>> {
    store
        .connection()
        .prepare_cached("SELECT n FROM stale_days WHERE day = ?1")
        .and_then(|mut s| s.query_row([day_name(day)], |r| r.get(0)).optional())
        .map_err(|source| Error::Database {
            path: store.path().to_owned(),
            source,
        })
}

/// A file as `stat` sees it: what `day_files` records and a start
/// compares. Off Unix the change time and inode read as 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: i64,
    mtime_ns: i64,
    ctime_ns: i64,
    inode: i64,
}

/// The [`Stamp`] of `path`; none if it cannot be read (missing).
fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::metadata(path).ok()?;
    let size = i64::try_from(m.len()).unwrap_or(i64::MAX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            size,
            mtime_ns: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000).saturating_add(m.ctime_nsec()),
            inode: m.ino().cast_signed(),
        })
    }
    #[cfg(not(unix))]
    {
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Some(Stamp {
            size,
            mtime_ns,
            ctime_ns: 0,
            inode: 0,
        })
    }
}

/// After the files of `rendered` are durable: in one transaction, takes
/// each day off `stale_days` if its counter is still the one read before
/// its rendering, and records each file's [`Stamp`] and format. The
/// transaction runs with `synchronous = NORMAL`: it needs no fsync of its
/// own, because losing it only lists the day again (the next start
/// renders it once more and finds it equal), and the next `FULL` commit
/// syncs it with its own.
fn settle(store: &SqliteStore, dir: &Path, rendered: &[Rendered]) -> Result<()> {
    if rendered.is_empty() {
        return Ok(());
    }
    crate::crash_point!("dayfile-before-settle");
    let conn = store.connection();
    let db = |source| Error::Database {
        path: store.path().to_owned(),
        source,
    };
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
    let result = (|| -> rusqlite::Result<()> {
        let tx = conn.unchecked_transaction()?;
        {
            let mut clear = tx.prepare_cached("DELETE FROM stale_days WHERE day = ?1 AND n = ?2")?;
            let mut record = tx.prepare_cached(
                "INSERT OR REPLACE INTO day_files (day, size, mtime_ns, ctime_ns, inode, format)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut forget = tx.prepare_cached("DELETE FROM day_files WHERE day = ?1")?;
            for r in rendered {
                let name = day_name(r.day);
                if let Some(n) = r.n {
                    clear.execute(rusqlite::params![name, n])?;
                }
                match stamp(&dir.join(file_name(r.day))) {
                    Some(s) => record.execute(rusqlite::params![
                        name,
                        s.size,
                        s.mtime_ns,
                        s.ctime_ns,
                        s.inode,
                        FORMAT_VERSION
                    ])?,
                    None => forget.execute([&name])?,
                };
            }
        }
        tx.commit()
    })();
    let restored = conn.pragma_update(None, "synchronous", "FULL");
    result.and(restored).map_err(db)
}

/// The days a start must render and compare with their files (see the
/// module docs): every day in `stale_days`, and every day with entries
/// whose file is missing, unrecorded, of another format, or whose
/// [`Stamp`] moved. In order, each once. Costs a read of two small tables
/// and the entries' days, and one `stat` a day.
pub fn days_to_check(store: &SqliteStore, dir: &Path) -> Result<Vec<NaiveDate>> {
    let conn = store.connection();
    let db = |source| Error::Database {
        path: store.path().to_owned(),
        source,
    };
    let bad_day = |key: String| Error::CorruptRow {
        table: "stale_days",
        key,
        problem: "day is not YYYY-MM-DD",
    };
    let mut days = Vec::new();
    let stale: Vec<String> = conn
        .prepare("SELECT day FROM stale_days ORDER BY day")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(db)?;
    for d in stale {
        days.push(parse_day_name(&d).ok_or_else(|| bad_day(d))?);
    }
    let mut recorded: BTreeMap<String, (Stamp, i64)> = BTreeMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT day, size, mtime_ns, ctime_ns, inode, format FROM day_files")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let stamp = Stamp {
                size: r.get(1).map_err(db)?,
                mtime_ns: r.get(2).map_err(db)?,
                ctime_ns: r.get(3).map_err(db)?,
                inode: r.get(4).map_err(db)?,
            };
            recorded.insert(r.get(0).map_err(db)?, (stamp, r.get(5).map_err(db)?));
        }
    }
    for day in store.entry_days()? {
        if days.binary_search(&day).is_ok() {
            continue;
        }
        let current = recorded.get(&day_name(day)).is_some_and(|&(want, format)| {
            format == i64::from(FORMAT_VERSION) && stamp(&dir.join(file_name(day))) == Some(want)
        });
        if !current {
            days.push(day);
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

/// Every day file in `dir`, by `YYYY-MM-DD`, as the oracle's projection
/// check wants them. Unreadable files read as empty (and so differ).
pub fn read_all(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        what: "listing day files",
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(day) = name.strip_prefix("event-").and_then(|n| n.strip_suffix(".md")) {
            files.insert(day.to_owned(), fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    Ok(files)
}

/// [`rebuild`] for every day that has entries.
pub fn rebuild_all(store: &SqliteStore, dir: &Path) -> Result<Vec<NaiveDate>> {
    rebuild(store, dir, &store.entry_days()?)
}

/// The day files at startup (the daemon's): [`rebuild`] of the days
/// [`days_to_check`] names and every day the start's own commits
/// `touched` (recovery and reduce-pending; their triggers listed them in
/// `stale_days` too). Each day is rendered once: a day those commits
/// touched differs from its file and is rewritten in the same pass as any
/// file a crash left stale, all made durable together, rather than
/// written one by one (two fsyncs each) and then rendered again to be
/// checked. A crash before the pass ends leaves every file old or new,
/// and each stale day still listed: the next start's pass rewrites it.
pub fn rebuild_at_start(store: &SqliteStore, dir: &Path, touched: &[NaiveDate]) -> Result<Vec<NaiveDate>> {
    let mut days = days_to_check(store, dir)?;
    days.extend_from_slice(touched);
    days.sort_unstable();
    days.dedup();
    rebuild(store, dir, &days)
}

/// Renders each of `days` and rewrites each file that is missing, torn or
/// stale, removes temp files a crash left behind, and then settles every
/// rendered day (off `stale_days` unless changed meanwhile, its file
/// recorded). Returns the days rewritten, in order.
///
/// Days are rendered on up to [`render_threads`] threads, each with its
/// own read-only connection ([`SqliteStore::open_read_only`]; WAL lets
/// readers run side by side) taking the next day not yet taken; `store`'s
/// own connection is one of them. The pass writes nothing to the database,
/// and its callers commit nothing meanwhile (the daemon's engine thread
/// and the one-shot commands run it between commits), so every thread
/// reads the same state. A thread whose connection cannot be opened leaves
/// its share to the others.
///
/// The files are made durable together, not one by one: each changed day
/// is written to its temp file, then one `syncfs` flushes them all, then
/// each is renamed into place and the directory is synced once. Two syncs
/// for the whole pass instead of two per file (695 files of an imported
/// history took 5-7 s that way). The promise is the one
/// [`write_atomically`] keeps: a crash anywhere leaves each file as it was
/// or as it is now, never torn. Before the first sync only temp files
/// changed (the next pass removes them); a file renamed into place was
/// already on disk; a rename a power loss undoes leaves the old file,
/// which the next start's pass finds stale and rewrites. The database is
/// the only record, so no committed minute is lost or counted twice
/// either way.
pub fn rebuild(store: &SqliteStore, dir: &Path, days: &[NaiveDate]) -> Result<Vec<NaiveDate>> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".md.tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { what, path, source }
    };
    let rendered = write_stale(store, dir, days)?;
    let mut rewritten: Vec<NaiveDate> = rendered.iter().filter(|r| r.written).map(|r| r.day).collect();
    rewritten.sort_unstable();
    if !rewritten.is_empty() {
        sync_written(dir, &rewritten).map_err(io("syncing day files in", dir))?;
        for &day in &rewritten {
            crate::crash_point!("dayfile-rebuild-rename");
            let name = file_name(day);
            fs::rename(temp_path(dir, &name), dir.join(&name)).map_err(io("renaming into place", &dir.join(&name)))?;
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing directory", dir))?;
    }
    settle(store, dir, &rendered)?;
    Ok(rewritten)
}

/// How many threads [`rebuild`] renders `days` days on: one per core, at
/// most four, and none beside the caller's for fewer than
/// [`DAYS_PER_THREAD`] days each (a connection of its own is not worth a
/// day or two).
pub fn render_threads(days: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(4)
        .min(days / DAYS_PER_THREAD)
        .max(1)
}

/// See [`render_threads`].
const DAYS_PER_THREAD: usize = 4;

/// Renders each of `days`, and writes the temp file of each whose file
/// differs from its rendering; returns every day rendered, in no set
/// order.
fn write_stale(store: &SqliteStore, dir: &Path, days: &[NaiveDate]) -> Result<Vec<Rendered>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = |store: &SqliteStore| -> Result<Vec<Rendered>> {
        let mut written = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let Some(&day) = days.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            match write_if_stale(store, dir, day) {
                Ok(r) => written.push(r),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(written)
    };
    let threads = render_threads(days.len());
    if threads == 1 {
        return work(store);
    }
    let path = store.path();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                scope.spawn(|| match SqliteStore::open_read_only(path) {
                    Ok(own) => work(&own),
                    Err(e) => {
                        tracing::debug!(error = %e, "a day-file thread has no connection; the others render its share");
                        Ok(Vec::new())
                    }
                })
            })
            .collect();
        let mut written = work(store);
        for helper in helpers {
            let part = helper.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            match (&mut written, part) {
                (Ok(all), Ok(part)) => all.extend(part),
                (Ok(_), Err(e)) => written = Err(e),
                (Err(_), _) => {}
            }
        }
        written
    })
}

/// Reads `day`'s `stale_days` counter, renders the day and, if its file
/// is not exactly that, writes the rendering to the day's temp file (not
/// synced).
fn write_if_stale(store: &SqliteStore, dir: &Path, day: NaiveDate) -> Result<Rendered> {
    let n = stale_count(store, day)?;
    let want = render(store, day)?;
    let name = file_name(day);
    if fs::read(dir.join(&name)).ok().as_deref() == Some(want.as_bytes()) {
        return Ok(Rendered { day, n, written: false });
    }
    let tmp = temp_path(dir, &name);
    let io = |what| {
        let path = tmp.clone();
        move |source| Error::Io { what, path, source }
    };
    let mut file = crate::datadir::create_private_file(&tmp).map_err(io("writing"))?;
    file.write_all(want.as_bytes()).map_err(io("writing"))?;
    Ok(Rendered { day, n, written: true })
}

/// The temp file `name` is written to before it is renamed into place.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.tmp"))
}

/// Makes the temp files of `days` durable. On Linux one `syncfs` of the
/// directory's file system flushes them all at once; elsewhere each is
/// synced on its own.
fn sync_written(dir: &Path, days: &[NaiveDate]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = days;
        rustix::fs::syncfs(File::open(dir)?)?;
    }
    #[cfg(not(target_os = "linux"))]
    for &day in days {
        File::open(temp_path(dir, &file_name(day)))?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use daybook_core::aggregate::SessionInput;
    use daybook_core::daylog::render_day;
    use daybook_core::{Config, Engine, Event, Output, SummarizerKind, UtcOffset};

    /// Hands the built-in answers back until nothing is asked.
    fn answer_all(engine: &mut Engine<SqliteStore>, now: Timestamp) {
        loop {
            let mut answers = Vec::new();
            while let Some(o) = engine.poll_output() {
                if let Output::SummaryRequested { id, request } = o {
                    answers.push(crate::summarizer::Workers::answer_inline(id, &request));
                }
            }
            if answers.is_empty() {
                return;
            }
            engine.handle_answers(now, &answers).unwrap();
        }
    }

    /// The reference [`render`] must equal: the core's `render_day` of
    /// everything `Store::day_inputs` gives (every event of every session
    /// of the day, typed text included).
    fn render_reference(store: &SqliteStore, day: NaiveDate) -> String {
        let inputs = store.day_inputs(day).unwrap();
        let refs: Vec<&Entry> = inputs.entries.iter().collect();
        let sessions: Vec<SessionInput<'_>> = inputs
            .sessions
            .iter()
            .map(|(session, events)| SessionInput { session, events })
            .collect();
        render_day(day, &refs, &sessions)
    }

    /// A store with sessions from 22:00 local (UTC+1) on 2027-01-15 into
    /// the next day: a few minutes apart, one across midnight, apps,
    /// titles, URLs and typed text repeating and changing, a second offset
    /// after midnight. Every session reduced.
    fn across_midnight(path: &Path) -> Engine<SqliteStore> {
        let store = SqliteStore::open(path).unwrap();
        let t0 = Timestamp(1_800_000_000_000 + 13 * 3_600_000);
        let now = t0;
        let mut engine = Engine::start(store, SummarizerKind::Builtin, Config::default(), "t-", now).unwrap();
        let mut at = t0;
        for k in 0..400_i64 {
            // A gap of ten minutes every 50 events ends a session.
            at = at + std::time::Duration::from_secs(if k % 50 == 49 { 600 } else { 20 });
            let apps = ["Code", "Firefox", "Terminal"];
            let event = Event {
                offset: UtcOffset(if k < 200 { 3600 } else { 7200 }),
                title: (k % 5 != 0).then(|| format!("file {} — daybook", k % 7)),
                url: (k % 3 == 1).then(|| format!("https://example.org/{}", k % 4)),
                text: (k % 11 == 0).then(|| format!("typed {k}")),
                source: Some("test".into()),
                ..Event::new(at, apps[(k / 9) as usize % 3])
            };
            engine.handle_events(at, &[event]).unwrap();
            engine.handle_tick(at).unwrap();
            engine.handle_minute(at).unwrap();
            answer_all(&mut engine, at);
        }
        let end = at + std::time::Duration::from_secs(3600);
        engine.handle_tick(end).unwrap();
        engine.handle_reductions(end).unwrap();
        answer_all(&mut engine, end);
        engine
    }

    #[test]
    fn the_lean_read_renders_every_day_as_the_reference_does() {
        let dir = tempfile::tempdir().unwrap();
        let engine = across_midnight(&dir.path().join("daybook.db"));
        let store = engine.store();
        let days = store.entry_days().unwrap();
        assert!(days.len() >= 2, "the data spans midnight: {days:?}");
        for day in days {
            let fast = render(store, day).unwrap();
            assert_eq!(fast, render_reference(store, day), "{day}");
            assert!(fast.contains("## "), "{day} has sections:\n{fast}");
        }
    }

    /// The rows of `stale_days`.
    fn stale(store: &SqliteStore) -> Vec<(String, i64)> {
        crate::schema::stale_rows(store.connection())
    }

    /// A start renders what the database lists stale and what was changed
    /// behind its back (edited, deleted, another format), and nothing
    /// else; each rewritten file equals its rendering and leaves the list.
    #[test]
    fn a_start_checks_only_the_stale_days_and_the_files_changed_behind_its_back() {
        let dir = tempfile::tempdir().unwrap();
        let days_dir = dir.path().join("days");
        fs::create_dir(&days_dir).unwrap();
        let engine = across_midnight(&dir.path().join("daybook.db"));
        let store = engine.store();
        let days = store.entry_days().unwrap();
        assert!(days.len() >= 2, "{days:?}");
        // The reductions listed their days; nothing is written yet.
        assert_eq!(days_to_check(store, &days_dir).unwrap(), days);
        assert_eq!(rebuild_at_start(store, &days_dir, &[]).unwrap(), days);
        assert_eq!(stale(store), []);
        let file = |day: NaiveDate| days_dir.join(file_name(day));
        for &day in &days {
            assert_eq!(fs::read_to_string(file(day)).unwrap(), render(store, day).unwrap());
        }
        assert_eq!(days_to_check(store, &days_dir).unwrap(), [], "nothing changed");
        assert_eq!(rebuild_at_start(store, &days_dir, &[]).unwrap(), []);

        // Edited (same size, new bytes), deleted, and written by another
        // format: each is checked and rewritten; the untouched one is not.
        let (first, second) = (days[0], days[1]);
        let mut edited = fs::read(file(first)).unwrap();
        let last = edited.len() - 2;
        edited[last] = b'#';
        // The kernel stamps files from a coarse clock (a few ms): an edit
        // in the same tick as the write keeps its modification time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(file(first), &edited).unwrap();
        fs::remove_file(file(second)).unwrap();
        assert_eq!(days_to_check(store, &days_dir).unwrap(), [first, second]);
        assert_eq!(rebuild_at_start(store, &days_dir, &[]).unwrap(), [first, second]);
        for &day in &days {
            assert_eq!(fs::read_to_string(file(day)).unwrap(), render(store, day).unwrap());
        }
        assert_eq!(days_to_check(store, &days_dir).unwrap(), []);
        store
            .connection()
            .execute(
                "UPDATE day_files SET format = format - 1 WHERE day = ?1",
                [day_name(second)],
            )
            .unwrap();
        assert_eq!(days_to_check(store, &days_dir).unwrap(), [second]);
        assert_eq!(
            rebuild_at_start(store, &days_dir, &[]).unwrap(),
            [],
            "same bytes: checked, not rewritten"
        );
        assert_eq!(
            days_to_check(store, &days_dir).unwrap(),
            [],
            "the check recorded the file again"
        );

        // A change committed with no file written (a crash between the
        // commit and the write): listed, and rewritten by the next start.
        let (session, at): (String, i64) = store
            .connection()
            .query_row(
                "SELECT session_id, from_ms FROM entries WHERE day = ?1 ORDER BY from_ms LIMIT 1",
                [day_name(second)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let changed = store
            .connection()
            .execute(
                "UPDATE events SET app = 'RenamedAfterTheFact' WHERE session_id = ?1 AND attributed_ms >= ?2",
                rusqlite::params![session, at],
            )
            .unwrap();
        assert!(changed > 0, "{session} {at}");
        assert_eq!(days_to_check(store, &days_dir).unwrap(), [second]);
        assert_eq!(rebuild_at_start(store, &days_dir, &[]).unwrap(), [second]);
        assert!(
            fs::read_to_string(file(second))
                .unwrap()
                .contains("RenamedAfterTheFact")
        );
        assert_eq!(days_to_check(store, &days_dir).unwrap(), []);
    }

    /// A day leaves `stale_days` only if nothing changed it between the
    /// read of its counter and the settling: a change committed meanwhile
    /// keeps it listed for the next pass.
    #[test]
    fn a_change_committed_during_the_rendering_keeps_the_day_stale() {
        let dir = tempfile::tempdir().unwrap();
        let days_dir = dir.path().join("days");
        fs::create_dir(&days_dir).unwrap();
        let engine = across_midnight(&dir.path().join("daybook.db"));
        let store = engine.store();
        let day = store.entry_days().unwrap()[0];
        let n = stale_count(store, day).unwrap();
        assert!(n.is_some(), "the reduction listed its day");
        write_atomically(&days_dir, &file_name(day), &render(store, day).unwrap()).unwrap();
        // Committed after the counter was read and the file rendered.
        store
            .connection()
            .execute(
                "UPDATE entries SET body = body || ' more' WHERE day = ?1",
                [day_name(day)],
            )
            .unwrap();
        settle(store, &days_dir, &[Rendered { day, n, written: true }]).unwrap();
        assert!(stale_count(store, day).unwrap().is_some(), "the change was forgotten");
        assert!(days_to_check(store, &days_dir).unwrap().contains(&day));
        // Written again from the current rows, it leaves.
        write_day(store, &days_dir, day).unwrap();
        assert_eq!(stale_count(store, day).unwrap(), None);
        assert_eq!(
            fs::read_to_string(days_dir.join(file_name(day))).unwrap(),
            render(store, day).unwrap()
        );
    }

    /// The day-file thread writes what the engine's connection renders,
    /// and its settle is the same compare-and-clear: a job settled after
    /// a change committed since its read leaves the day listed; a job over
    /// the current rows takes it off.
    #[test]
    fn the_day_file_thread_writes_the_rendering_and_settles_by_compare_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let days_dir = dir.path().join("days");
        fs::create_dir(&days_dir).unwrap();
        let path = dir.path().join("daybook.db");
        let engine = across_midnight(&path);
        let store = engine.store();
        let days = store.entry_days().unwrap();
        assert!(days.len() >= 2, "a session across midnight has two days");
        let mut projector = Projector::start(&path, &days_dir).unwrap();
        assert!(projector.finished(true).unwrap().is_none(), "no job out");
        projector.send(days.clone()).unwrap();
        assert!(projector.writing());
        let written = projector.finished(true).unwrap().expect("the job's days");
        assert!(!projector.writing());
        for &day in &days {
            assert_eq!(
                fs::read_to_string(days_dir.join(file_name(day))).unwrap(),
                render(store, day).unwrap()
            );
        }
        // A change committed after the thread read the day, before the
        // settle: the day stays listed, the other leaves.
        store
            .connection()
            .execute(
                "UPDATE entries SET body = body || ' more' WHERE day = ?1",
                [day_name(days[0])],
            )
            .unwrap();
        settle_written(store, &days_dir, &written).unwrap();
        assert!(
            stale_count(store, days[0]).unwrap().is_some(),
            "the change was forgotten"
        );
        assert_eq!(stale_count(store, days[1]).unwrap(), None);
        projector.send(vec![days[0]]).unwrap();
        let written = projector.finished(true).unwrap().expect("the job's day");
        settle_written(store, &days_dir, &written).unwrap();
        assert_eq!(stale_count(store, days[0]).unwrap(), None);
        assert_eq!(
            fs::read_to_string(days_dir.join(file_name(days[0]))).unwrap(),
            render(store, days[0]).unwrap()
        );
        assert!(days_to_check(store, &days_dir).unwrap().is_empty());
    }
}
