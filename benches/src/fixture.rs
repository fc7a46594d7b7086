//! Prepared databases, deterministic and cached by size.
//!
//! Each is written in one transaction of direct SQL, with rows built by
//! daybook's own code. Going through the store instead (`Store::ingest`,
//! then `Engine::start` reducing every session) would cost one transaction
//! and fsync per session: minutes for the 10^6-orphan database. So the
//! inserts mirror `SqliteStore`'s, and `FIXTURE_VERSION` must be bumped
//! whenever what the engine writes changes (it was for the summary text).
//! The rows:
//! events from a fixed activity pattern, blocks by
//! [`daybook_core::block::build_blocks`], entries by the built-in summarizer
//! and [`daybook_core::reduction::render_entry`]. The schema comes from
//! [`SqliteStore::open`], so a fixture is always of the current version,
//! and the cache key carries that version.

use std::path::{Path, PathBuf};
use std::time::Duration;

use daybook::SqliteStore;
use daybook_core::block::build_blocks;
use daybook_core::reduction::render_entry;
use daybook_core::{
    Block, BuiltinSummarizer, EndReason, EntryKind, Event, Phase, Session, SessionId, StoredEvent, Summarizer,
    SummaryRequest, Timestamp, UtcOffset,
};
use rusqlite::{Connection, Transaction, params};

use crate::cache;

/// Bump when the content of a fixture changes.
const FIXTURE_VERSION: u32 = 2;

/// 2023-01-02T00:00:00Z: every fixture's history starts here, well in the
/// past, so nothing in it is "in the future" for the engine.
pub const T0: Timestamp = Timestamp(1_672_617_600_000);

/// The offset every fixture event carries (UTC+1).
pub const OFFSET: UtcOffset = UtcOffset(3600);

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The engine's one-minute window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What becomes of a fixture session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Left `active`, as a killed daemon leaves it: an orphan.
    Orphan,
    /// `ended`, its blocks uncovered: reduce-pending's work.
    Ended,
    /// `reduced` by one final entry from the built-in summarizer: history.
    Reduced,
}

/// The apps of the activity pattern, each with titles and maybe a URL.
const APPS: [(&str, &[&str], Option<&str>); 4] = [
    (
        "Code",
        &["store.rs — daybook", "engine.rs — daybook", "BENCHMARKS.md — daybook"],
        None,
    ),
    (
        "Firefox",
        &["SQLite: Write-Ahead Logging", "criterion - Rust"],
        Some("https://example.org/docs"),
    ),
    ("Terminal", &["cargo bench — daybook"], None),
    ("Slack", &["#daybook — team"], None),
];

/// `n` events from `start`, one every `step`: the app changes every ten
/// events (so no soft cut), titles rotate, and every seventh event carries
/// typed text. `seed` shifts the pattern between sessions.
pub fn activity(seed: u64, start: Timestamp, n: usize, step: Duration) -> Vec<Event> {
    let step = i64::try_from(step.as_millis()).expect("a small step");
    (0..n)
        .map(|k| {
            let app = (seed as usize + k / 10) % APPS.len();
            let (name, titles, url) = APPS[app];
            let title = titles[(seed as usize + k) % titles.len()];
            Event {
                at: Timestamp(start.0 + k as i64 * step),
                offset: OFFSET,
                app: name.to_owned(),
                title: Some(title.to_owned()),
                url: url.map(|u| format!("{u}/{}", k % 13)),
                text: (k % 7 == 3).then(|| format!("note {seed} {k}: benchmarks measure")),
                source: Some("bench".to_owned()),
            }
        })
        .collect()
}

/// Writes fixture rows inside one transaction.
pub struct Writer<'c> {
    tx: Transaction<'c>,
    next_entry: i64,
}

impl<'c> Writer<'c> {
    /// Starts the transaction on `conn`.
    pub fn new(conn: &'c mut Connection) -> Self {
        let tx = conn.transaction().expect("begin");
        let next_entry: i64 = tx
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM entries", [], |r| r.get(0))
            .expect("entries");
        Self { tx, next_entry }
    }

    /// Indexes the events written for search, as the store's ingest does,
    /// and commits everything.
    pub fn commit(self) {
        self.tx
            .execute(
                "INSERT INTO events_fts (rowid, app, title, url, text)
                 SELECT seq, app, title, url, text FROM events WHERE seq NOT IN (SELECT id FROM events_fts_docsize)",
                [],
            )
            .expect("search index");
        self.tx.commit().expect("commit");
    }

    /// One session with its events, blocks and (if reduced) entry.
    /// Events are attributed at their `at`: the pattern is in order.
    pub fn session(&mut self, id: &str, events: &[Event], fate: Fate) {
        let id = SessionId(id.to_owned());
        let start = events.first().expect("a session has events").at;
        let end = events.last().expect("a session has events").at;
        let stored: Vec<StoredEvent> = events
            .iter()
            .map(|e| StoredEvent {
                seq: 0,
                session_id: id.clone(),
                attributed: e.at,
                rev: 0,
                event: e.clone(),
            })
            .collect();
        let mut blocks = build_blocks(&id, &stored, WINDOW, Timestamp(i64::MIN), Timestamp(i64::MAX));
        let reason = EndReason::IdleGap;
        let (phase, flush_end) = match fate {
            Fate::Orphan => (Phase::Active, None),
            Fate::Ended => (Phase::Ended { end, reason }, None),
            Fate::Reduced => (Phase::Reduced { end, reason }, blocks.last().map(|b| b.end)),
        };
        self.session_row(&Session {
            id: id.clone(),
            start,
            offset: OFFSET,
            phase,
            retry_count: 0,
            flush_end,
        });
        let mut ev = self
            .tx
            .prepare_cached(
                "INSERT INTO events (session_id, attributed_ms, at_ms, offset_s, app, title, url, text, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .expect("prepare");
        for e in events {
            ev.execute(params![
                id.0, e.at.0, e.at.0, e.offset.0, e.app, e.title, e.url, e.text, e.source
            ])
            .expect("event");
        }
        drop(ev);
        if fate == Fate::Reduced {
            let entry = self.entry(&id, &blocks);
            for b in &mut blocks {
                b.covered_by = Some(entry as u64);
            }
        }
        self.blocks(&blocks);
    }

    fn session_row(&self, s: &Session) {
        let (status, end, reason) = (
            s.phase.status(),
            s.phase.end().map(|t| t.0),
            s.phase.reason().map(EndReason::as_str),
        );
        self.tx
            .prepare_cached(
                "INSERT INTO sessions (id, start_ms, offset_s, status, end_ms, end_reason, next_retry_ms, retry_count, flush_end_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 0, ?7)",
            )
            .and_then(|mut st| st.execute(params![s.id.0, s.start.0, s.offset.0, status, end, reason, s.flush_end.map(|t| t.0)]))
            .expect("session");
    }

    fn blocks(&self, blocks: &[Block]) {
        let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
        let mut st = self
            .tx
            .prepare_cached(
                "INSERT INTO blocks (session_id, start_ms, end_ms, offset_s, lines, apps, capture_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .expect("prepare");
        // Coverage as the store writes it: one run per entry over its
        // consecutive blocks (schema 7).
        let mut cover = self
            .tx
            .prepare_cached(
                "INSERT INTO coverage (session_id, rev, first_ms, last_ms, entry_id) VALUES (?1, 0, ?2, ?3, ?4)
                 ON CONFLICT (session_id, rev, first_ms) DO UPDATE SET last_ms = excluded.last_ms",
            )
            .expect("prepare");
        let mut run: Option<(i64, u64)> = None;
        for b in blocks {
            st.execute(params![
                b.session_id.0,
                b.start.0,
                b.end.0,
                b.offset.0,
                json(&b.lines),
                json(&b.apps),
                b.capture_count
            ])
            .expect("block");
            run = match (run, b.covered_by) {
                (Some((first, e)), Some(entry)) if e == entry => Some((first, e)),
                (_, Some(entry)) => Some((b.start.0, entry)),
                (_, None) => None,
            };
            if let Some((first, entry)) = run {
                cover
                    .execute(params![b.session_id.0, first, b.start.0, entry as i64])
                    .expect("coverage");
            }
        }
    }

    /// The final entry the built-in summarizer writes for `blocks`.
    fn entry(&mut self, id: &SessionId, blocks: &[Block]) -> i64 {
        let (first, last) = (blocks.first().expect("blocks"), blocks.last().expect("blocks"));
        let request = SummaryRequest {
            session_id: id.clone(),
            kind: EntryKind::Final,
            blocks: blocks.to_vec(),
        };
        let summary = BuiltinSummarizer
            .summarize(&request)
            .expect("the built-in summarizer never fails");
        let body = render_entry(id, EntryKind::Final, first.start, last.end, first.offset, &summary);
        let day = first.start.local_date(first.offset).to_string();
        let entry = self.next_entry;
        self.next_entry += 1;
        self.tx
            .prepare_cached(
                "INSERT INTO entries (id, session_id, kind, from_ms, to_ms, offset_s, day, body)
                 VALUES (?1, ?2, 'final', ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    entry,
                    id.0,
                    first.start.0,
                    last.end.0,
                    first.offset.0,
                    day,
                    body
                ])
            })
            .expect("entry");
        entry
    }
}

/// The schema the daemon's migrations produce now, as a cache key: its
/// version and a hash of its SQL. The version alone is not enough: two
/// branches may each add a different migration with the same number, and
/// a fixture of one must never be read as the other's.
fn schema_version() -> String {
    let dir = cache::scratch("schema-probe");
    let store = SqliteStore::open(&dir.join("probe.db")).expect("an empty store opens");
    let (v, sql): (i64, String) = store
        .connection()
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT group_concat(coalesce(sql, ''), ';') FROM (SELECT sql FROM sqlite_master ORDER BY name))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("schema");
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    // FNV-1a: stable across builds and platforms.
    let hash = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{v}-{:08x}", hash >> 32)
}

/// Creates the database at `path` with the current schema, fills it with
/// `fill`, and leaves one checkpointed file (no `-wal`) behind.
pub fn build(path: &Path, fill: impl FnOnce(&mut Writer<'_>)) {
    drop(SqliteStore::open(path).expect("creating the schema"));
    let mut conn = Connection::open(path).expect("open");
    // Preparation only: nothing here needs to survive a power cut.
    conn.pragma_update(None, "synchronous", "OFF").expect("pragma");
    conn.pragma_update(None, "cache_size", -262_144).expect("pragma");
    let mut w = Writer::new(&mut conn);
    fill(&mut w);
    w.commit();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    std::fs::File::open(path).and_then(|f| f.sync_all()).expect("sync");
}

/// Fills `w` with `n` orphans, each with four events a minute apart (so
/// four blocks, already built, as startup leaves them before recovery) and,
/// ten minutes after each, a reduced session of four events and blocks.
/// Every orphan's end is its last block's end, bounded by its neighbour.
pub fn fill_orphans(w: &mut Writer<'_>, n: usize) {
    for i in 0..n {
        let start = Timestamp(T0.0 + i as i64 * 20 * MINUTE + 5 * SECOND);
        let orphan = activity(i as u64, start, 4, WINDOW);
        w.session(&format!("o{i:07}"), &orphan, Fate::Orphan);
        let ended = activity(i as u64 + 1, Timestamp(start.0 + 10 * MINUTE), 4, WINDOW);
        w.session(&format!("e{i:07}"), &ended, Fate::Reduced);
    }
}

/// Fills `w` with `n` sessions of `fate`, `per_session` events every
/// `step`, laid out as a working year: 28 sessions a day from 07:00 UTC,
/// one every 32 minutes.
pub fn fill_days(w: &mut Writer<'_>, n: usize, per_session: usize, step: Duration, fate: Fate) {
    for j in 0..n {
        let (day, slot) = ((j / 28) as i64, (j % 28) as i64);
        let start = Timestamp(T0.0 + day * DAY + 7 * HOUR + slot * 32 * MINUTE + 3 * SECOND);
        let events = activity(j as u64, start, per_session, step);
        w.session(&format!("h{j:07}"), &events, fate);
    }
}

/// A database of `n` orphans (see [`fill_orphans`]), cached.
pub fn orphans_db(n: usize) -> PathBuf {
    let key = format!("orphans-{n}-s{}-v{FIXTURE_VERSION}.db", schema_version());
    cache::cached(&key, |path| build(path, |w| fill_orphans(w, n)))
}

/// A database of `n` ended sessions of 30 blocks each (two events a
/// minute), waiting for reduce-pending; cached.
pub fn pending_db(n: usize) -> PathBuf {
    let key = format!("pending-{n}x30-s{}-v{FIXTURE_VERSION}.db", schema_version());
    cache::cached(&key, |path| {
        build(path, |w| fill_days(w, n, 60, Duration::from_secs(30), Fate::Ended));
    })
}

/// A year of history: `sessions` reduced sessions of `per_session` events
/// over 30 minutes each (10k × 300 = 3M events is the year);
/// cached.
pub fn history_db(sessions: usize, per_session: usize) -> PathBuf {
    let key = format!(
        "history-{sessions}x{per_session}-s{}-v{FIXTURE_VERSION}.db",
        schema_version()
    );
    let step = Duration::from_millis(30 * 60 * 1000 / per_session as u64);
    cache::cached(&key, |path| {
        build(path, |w| fill_days(w, sessions, per_session, step, Fate::Reduced));
    })
}

/// The engine the daemon runs, started on `store` at `now`: the built-in
/// summarizer, the default config, session ids prefixed `bench-`. The
/// start's own work (blocks, recovery, reduce-pending) runs in here.
pub fn engine(store: SqliteStore, now: Timestamp) -> daybook_core::Engine<SqliteStore> {
    daybook_core::Engine::start(
        store,
        daybook_core::SummarizerKind::Builtin,
        daybook_core::Config::default(),
        "bench-",
        now,
    )
    .expect("the engine starts")
}

#[cfg(test)]
mod tests {
    use super::*;
    use daybook_core::{Engine, Store, Violation, check, check_quiet};

    fn engine_after_start(path: &Path) -> Engine<SqliteStore> {
        let store = SqliteStore::open(path).unwrap();
        let summarizer = daybook_core::SummarizerKind::Builtin;
        let now = Timestamp(T0.0 + 4000 * DAY);
        Engine::start(store, summarizer, daybook_core::Config::default(), "t-", now).unwrap()
    }

    fn temp(name: &str) -> PathBuf {
        cache::scratch(&format!("fixture-test-{name}")).join("db")
    }

    #[test]
    fn orphan_fixture_is_what_a_killed_daemon_leaves_and_recovers_cleanly() {
        let path = temp("orphans");
        build(&path, |w| fill_orphans(w, 20));
        let store = SqliteStore::open(&path).unwrap();
        let before = store.dump().unwrap();
        // Many active rows is the point of the fixture (many crashes), and
        // an active row has no end yet, so it "overlaps" what follows it;
        // all else must hold.
        let violations: Vec<Violation> = check(&before)
            .into_iter()
            .filter(|v| match v {
                Violation::SeveralActive(_) => false,
                Violation::SessionsOverlap { first, .. } => !first.0.starts_with('o'),
                _ => true,
            })
            .collect();
        assert_eq!(violations, []);
        assert_eq!(store.active_sessions().unwrap().len(), 20);
        drop(store);
        let engine = engine_after_start(&path);
        let after = engine.store().dump().unwrap();
        assert_eq!(check_quiet(&after), []);
        let orphan = after.sessions.iter().find(|s| s.id.0 == "o0000003").unwrap();
        assert_eq!(orphan.phase.reason(), Some(EndReason::Recovered));
        assert_eq!(orphan.phase.end(), Some(Timestamp(T0.0 + 3 * 20 * MINUTE + 4 * MINUTE)));
    }

    #[test]
    fn pending_and_history_fixtures_hold_every_invariant() {
        let path = temp("pending");
        build(&path, |w| fill_days(w, 40, 60, Duration::from_secs(30), Fate::Ended));
        let engine = engine_after_start(&path);
        let dump = engine.store().dump().unwrap();
        assert_eq!(check_quiet(&dump), []);
        assert_eq!(dump.blocks.len(), 40 * 30);
        assert_eq!(dump.entries.len(), 40);

        let path = temp("history");
        build(&path, |w| fill_days(w, 30, 300, Duration::from_secs(6), Fate::Reduced));
        let store = SqliteStore::open(&path).unwrap();
        let dump = store.dump().unwrap();
        assert_eq!(check_quiet(&dump), []);
        assert_eq!(dump.events.len(), 30 * 300);
        assert_eq!(dump.blocks.len(), 30 * 30);
        // Reducing again finds nothing: the fixture's entries are final.
        drop(store);
        let engine = engine_after_start(&path);
        assert_eq!(engine.store().dump().unwrap().entries.len(), 30);
    }
}
