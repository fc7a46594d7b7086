//! ActivityWatch's buckets and events in the daybook database (SPEC §11):
//! the tables of the `aw_*` migration, read and written as aw-server
//! does. Heartbeats and inserted events are not written here directly:
//! their [`AwWrite`]s are staged and commit inside the next ingest
//! transaction, with the daybook events derived from them
//! ([`SqliteStore::stage_aw`]), so a heartbeat, its merge and what it
//! derived commit together or not at all.

use daybook_core::Timestamp;
use daybook_core::watcher::{AwEvent, AwWrite, Bucket, Nanos};
use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{CoreResult, SqliteStore, corrupt, storage};

/// A bucket's row, as `GET /api/0/buckets/<id>` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwBucket {
    /// Its id.
    pub id: String,
    /// `type` (`currentwindow`, `afkstatus`, `web.tab.current`, …).
    pub type_: String,
    /// The client that created it.
    pub client: String,
    /// The host it was created for.
    pub hostname: String,
    /// When it was created, RFC 3339.
    pub created: String,
    /// Its `data`, JSON text.
    pub data: String,
    /// The thinning mark (see `daybook_core::watcher`).
    pub emitted: Option<Timestamp>,
    /// The earliest start and the latest end of its events.
    pub span: Option<(Nanos, Nanos)>,
}

impl AwBucket {
    /// The bucket as the translation sees it.
    pub fn model(&self) -> Bucket {
        Bucket::new(self.id.clone(), &self.type_, self.hostname.clone())
    }
}

const BUCKET_SELECT: &str = "SELECT b.id, b.type, b.client, b.hostname, b.created, b.data, b.emitted_ms,
       (SELECT min(start_ns) FROM aw_events WHERE bucket = b.id),
       (SELECT max(end_ns) FROM aw_events WHERE bucket = b.id)
     FROM aw_buckets b";

fn read_bucket(r: &Row<'_>) -> rusqlite::Result<AwBucket> {
    let start: Option<i64> = r.get(7)?;
    let end: Option<i64> = r.get(8)?;
    Ok(AwBucket {
        id: r.get(0)?,
        type_: r.get(1)?,
        client: r.get(2)?,
        hostname: r.get(3)?,
        created: r.get(4)?,
        data: r.get(5)?,
        emitted: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        span: start.zip(end),
    })
}

type EventRow = (i64, i64, i64, String);

fn read_event(r: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn event((id, start, end, data): EventRow) -> CoreResult<AwEvent> {
    let data = serde_json::from_str(&data).map_err(|_| corrupt("aw_events", id.to_string(), "data is not JSON"))?;
    Ok(AwEvent {
        id: Some(id as u64),
        start,
        end,
        data,
    })
}

/// Which events of a bucket a read wants: those that overlap `[start,
/// end]` (either bound open), newest first, at most `limit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AwRange {
    /// Events that end at or after this.
    pub start: Option<Nanos>,
    /// Events that start at or before this.
    pub end: Option<Nanos>,
    /// At most this many (`None`: all).
    pub limit: Option<u64>,
}

impl SqliteStore {
    /// Stages ActivityWatch writes for the next ingest transaction (see the
    /// module doc). [`Self::discard_staged`] forgets them.
    pub fn stage_aw(&self, writes: Vec<AwWrite>) {
        self.aw_staged.borrow_mut().extend(writes);
    }

    pub(super) fn apply_aw(tx: &Transaction<'_>, writes: &[AwWrite]) -> CoreResult<()> {
        for w in writes {
            match w {
                AwWrite::Insert { bucket, event } => Self::insert_aw_event(tx, bucket, event)?,
                AwWrite::Extend { id, end } => {
                    let n = tx
                        .prepare_cached("UPDATE aw_events SET end_ns = max(end_ns, ?2) WHERE id = ?1")
                        .and_then(|mut s| s.execute(params![*id as i64, end]))
                        .map_err(storage)?;
                    if n != 1 {
                        return Err(corrupt(
                            "aw_events",
                            id.to_string(),
                            "a merged heartbeat's event is missing",
                        ));
                    }
                }
                AwWrite::Emitted { bucket, at } => {
                    tx.prepare_cached("UPDATE aw_buckets SET emitted_ms = ?2 WHERE id = ?1")
                        .and_then(|mut s| s.execute(params![bucket, at.0]))
                        .map_err(storage)?;
                }
            }
        }
        Ok(())
    }

    fn insert_aw_event(tx: &Transaction<'_>, bucket: &str, e: &AwEvent) -> CoreResult<()> {
        let data = serde_json::to_string(&e.data).expect("a JSON value serializes");
        tx.prepare_cached("INSERT INTO aw_events (id, bucket, start_ns, end_ns, data) VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut s| s.execute(params![e.id.map(|i| i as i64), bucket, e.start, e.end, data]))
            .map_err(storage)?;
        Ok(())
    }

    fn aw_write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> CoreResult<T>) -> CoreResult<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(storage)?;
        let out = f(&tx)?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Every bucket, by id.
    pub fn aw_buckets(&self) -> CoreResult<Vec<AwBucket>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{BUCKET_SELECT} ORDER BY b.id"))
            .map_err(storage)?;
        let rows = stmt.query_map([], read_bucket).map_err(storage)?;
        rows.map(|r| r.map_err(storage)).collect()
    }

    /// One bucket.
    pub fn aw_bucket(&self, id: &str) -> CoreResult<Option<AwBucket>> {
        self.conn
            .prepare_cached(&format!("{BUCKET_SELECT} WHERE b.id = ?1"))
            .and_then(|mut s| s.query_row([id], read_bucket).optional())
            .map_err(storage)
    }

    /// Creates a bucket (its own transaction); `false` when one of that id
    /// exists (it is left as it is).
    pub fn aw_create_bucket(&self, b: &AwBucket) -> CoreResult<bool> {
        self.aw_write(|tx| {
            tx.prepare_cached(
                "INSERT INTO aw_buckets (id, type, client, hostname, created, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![b.id, b.type_, b.client, b.hostname, b.created, b.data]))
            .map(|n| n == 1)
            .map_err(storage)
        })
    }

    /// Deletes a bucket and its events; `false` when there was none.
    pub fn aw_delete_bucket(&self, id: &str) -> CoreResult<bool> {
        self.aw_write(|tx| {
            Self::forget_pending(tx, "bucket = ?1", params![id])?;
            tx.prepare_cached("DELETE FROM aw_events WHERE bucket = ?1")
                .and_then(|mut s| s.execute([id]))
                .map_err(storage)?;
            tx.prepare_cached("DELETE FROM aw_buckets WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .map(|n| n == 1)
                .map_err(storage)
        })
    }

    /// Takes the events of `aw_events` that `filter` selects out of
    /// `aw_pending` (an import's queue), before they are deleted: a raw
    /// event deleted before the import derived it derives nothing. By the
    /// queue's key, so it costs a lookup per event (an empty queue, as
    /// it is unless an import was interrupted, costs nothing).
    fn forget_pending(tx: &Transaction<'_>, filter: &str, params: impl rusqlite::Params) -> CoreResult<()> {
        tx.prepare_cached(&format!(
            "DELETE FROM aw_pending WHERE (start_ns, id) IN (SELECT start_ns, id FROM aw_events WHERE {filter})"
        ))
        .and_then(|mut s| s.execute(params))
        .map(drop)
        .map_err(storage)
    }

    /// A bucket's events in `range`, newest first (by start, then id).
    pub fn aw_events(&self, bucket: &str, range: AwRange) -> CoreResult<Vec<AwEvent>> {
        let limit = range.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, start_ns, end_ns, data FROM aw_events
                 WHERE bucket = ?1 AND (?2 IS NULL OR end_ns >= ?2) AND (?3 IS NULL OR start_ns <= ?3)
                 ORDER BY start_ns DESC, id DESC LIMIT ?4",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map(params![bucket, range.start, range.end, limit], read_event)
            .map_err(storage)?;
        rows.map(|r| r.map_err(storage).and_then(event)).collect()
    }

    /// How many of a bucket's events lie in `range` (its limit ignored).
    pub fn aw_count(&self, bucket: &str, range: AwRange) -> CoreResult<u64> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM aw_events
                 WHERE bucket = ?1 AND (?2 IS NULL OR end_ns >= ?2) AND (?3 IS NULL OR start_ns <= ?3)",
            )
            .and_then(|mut s| s.query_row(params![bucket, range.start, range.end], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(storage)
    }

    /// One event of a bucket.
    pub fn aw_event(&self, bucket: &str, id: u64) -> CoreResult<Option<AwEvent>> {
        let row = self
            .conn
            .prepare_cached("SELECT id, start_ns, end_ns, data FROM aw_events WHERE bucket = ?1 AND id = ?2")
            .and_then(|mut s| s.query_row(params![bucket, id as i64], read_event).optional())
            .map_err(storage)?;
        row.map(event).transpose()
    }

    /// Deletes one event of a bucket; `false` when there was none.
    pub fn aw_delete_event(&self, bucket: &str, id: u64) -> CoreResult<bool> {
        self.aw_write(|tx| {
            Self::forget_pending(tx, "bucket = ?1 AND id = ?2", params![bucket, id as i64])?;
            tx.prepare_cached("DELETE FROM aw_events WHERE bucket = ?1 AND id = ?2")
                .and_then(|mut s| s.execute(params![bucket, id as i64]))
                .map(|n| n == 1)
                .map_err(storage)
        })
    }

    /// Imports whole buckets with their events, in one transaction; refused
    /// (nothing imported) with the id of the first bucket that exists.
    pub fn aw_import(&self, buckets: &[(AwBucket, Vec<AwEvent>)]) -> CoreResult<Result<(), String>> {
        self.aw_write(|tx| {
            for (b, _) in buckets {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM aw_buckets WHERE id = ?1")
                    .and_then(|mut s| s.exists([&b.id]))
                    .map_err(storage)?;
                if exists {
                    return Ok(Err(b.id.clone()));
                }
            }
            for (b, events) in buckets {
                tx.prepare_cached(
                    "INSERT INTO aw_buckets (id, type, client, hostname, created, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| s.execute(params![b.id, b.type_, b.client, b.hostname, b.created, b.data]))
                .map_err(storage)?;
                for e in events {
                    Self::insert_aw_event(tx, &b.id, &AwEvent { id: None, ..e.clone() })?;
                }
            }
            Ok(Ok(()))
        })
    }

    /// The largest event id stored.
    pub fn aw_max_id(&self) -> CoreResult<u64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM aw_events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(storage)
    }

    /// A bucket's last event (latest start, then highest id): what a
    /// heartbeat merges into.
    pub fn aw_last_event(&self, bucket: &str) -> CoreResult<Option<AwEvent>> {
        Ok(self
            .aw_events(
                bucket,
                AwRange {
                    limit: Some(1),
                    ..AwRange::default()
                },
            )?
            .pop())
    }
}
