//! Readers of a user's ActivityWatch history, for `daybook import
//! activitywatch`: an aw-server export (`GET /api/0/export`, a file or a
//! running server's body), an aw-server-rust SQLite database and an
//! aw-server (Python, peewee) SQLite database, the last two opened
//! read-only. Each streams buckets and events into an [`AwSink`] one at a
//! time, so memory does not grow with the history: the export is parsed
//! as it is read (serde, no document tree), the databases row by row.
//!
//! [`import`] is `daybook import activitywatch`: it stores what a reader
//! reads as the ActivityWatch API stores it, then derives daybook's
//! sessions from it through the live translation (see its doc).
//!
//! What each source holds, from reading aw-server-rust
//! (`aw-datastore/src/datastore.rs`: `buckets(id, name, type, client,
//! hostname, created, data)`, `events(id, bucketrow, starttime, endtime,
//! data)` in nanoseconds since the epoch, `PRAGMA user_version` 1 to 6)
//! and aw-server (`aw_datastore/storages/peewee.py`: `bucketmodel(key, id,
//! created, name, type, client, hostname, datastr)`, `eventmodel(id,
//! bucket_id, timestamp, duration, datastr)`, timestamps as Python
//! `str(datetime)`, durations in seconds). An export is
//! `{"buckets": {"<id>": {"id", "created", "type", "client", "hostname",
//! "data", …, "events": [{"id", "timestamp", "duration", "data"}]}}}`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use daybook_core::watcher::{
    AwEvent as CoreEvent, Bucket, BucketKind, History, HistoryBatch, NANOS_PER_MILLI, Watchers,
};
use daybook_core::{Engine, Output, SummarizerKind, Timestamp};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rusqlite::{Connection, OpenFlags, params};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{BATCH_ROWS, Counts};
use crate::clock;
use crate::config::Settings;
use crate::error::{Error, Result, quote};
use crate::privacy::Privacy;
use crate::store::{AwRange, SqliteStore};

/// A bucket as ActivityWatch describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AwBucket {
    /// Its id (`aw-watcher-window_myhost`).
    pub id: String,
    /// Its type (`currentwindow`, `afkstatus`, `web.tab.current`, …).
    pub kind: String,
    /// The watcher that created it.
    pub client: String,
    /// The machine.
    pub hostname: String,
    /// When it was created, as the source wrote it.
    pub created: String,
    /// Its free-form data.
    pub data: Map<String, Value>,
}

/// An event as ActivityWatch stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct AwEvent {
    /// The source's id for it, if it has one.
    pub id: Option<i64>,
    /// Its start.
    pub timestamp: DateTime<Utc>,
    /// Its length in seconds.
    pub duration: f64,
    /// Its data (`app`, `title`, `url`, `status`, …).
    pub data: Map<String, Value>,
}

/// Where a reader puts what it reads: every bucket before its events.
pub trait AwSink {
    /// A bucket, before any of its events.
    fn bucket(&mut self, bucket: AwBucket) -> Result<()>;
    /// An event of the bucket last passed to [`AwSink::bucket`].
    fn event(&mut self, bucket: &str, event: AwEvent) -> Result<()>;
    /// Whether it needs the events' `data`. When not, an export's event
    /// `data` is only checked, exactly as strictly as when it is built
    /// (every value `serde_json::Value` accepts, an object), but not
    /// built: the events reach the sink with an empty `data`.
    fn wants_data(&self) -> bool {
        true
    }
}

/// The event fields as an export writes them, `data` as `D`: read
/// ([`RawEvent`]) or only checked ([`CheckedEvent`], see
/// [`AwSink::wants_data`]).
#[derive(Deserialize)]
struct ExportEvent<D> {
    #[serde(default)]
    id: Option<i64>,
    timestamp: String,
    #[serde(default)]
    duration: f64,
    #[serde(default)]
    data: D,
}

/// An exported event with its `data`.
type RawEvent = ExportEvent<Map<String, Value>>;

/// An exported event whose `data` was checked and not kept.
type CheckedEvent = ExportEvent<Shape<true>>;

/// A JSON value checked as `serde_json::Value` (an object for `OBJECT`,
/// as `Map<String, Value>`) would accept it, built into nothing: strings
/// are visited where the parser holds them, numbers range-checked by it.
#[derive(Default)]
struct Shape<const OBJECT: bool>;

impl<'de, const OBJECT: bool> Deserialize<'de> for Shape<OBJECT> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if OBJECT {
            d.deserialize_map(Self)
        } else {
            d.deserialize_any(Self)
        }
    }
}

impl<'de, const OBJECT: bool> Visitor<'de> for Shape<OBJECT> {
    type Value = Self;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if OBJECT { "a map" } else { "any valid JSON value" })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<Shape<false>>()?.is_some() {
            map.next_value::<Shape<false>>()?;
        }
        Ok(self)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<Self, E> {
        self.scalar()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self, D::Error> {
        Self::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        if OBJECT {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        while seq.next_element::<Shape<false>>()?.is_some() {}
        Ok(self)
    }
}

impl<const OBJECT: bool> Shape<OBJECT> {
    /// A scalar: any value, not an object.
    fn scalar<E: de::Error>(self) -> Result<Self, E> {
        if OBJECT {
            return Err(E::custom("invalid type: expected a map"));
        }
        Ok(self)
    }
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Python's str(datetime): a space, maybe no offset (then UTC, as
    // aw-server stores it).
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Reads an export from `reader` into `sink`, streaming. `name` names the
/// source in errors.
pub fn read_export(reader: impl Read, name: &Path, sink: &mut dyn AwSink) -> Result<()> {
    let mut failed: Option<Error> = None;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    let outcome = ExportSeed {
        sink,
        failed: &mut failed,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = failed {
        return Err(e);
    }
    outcome.map_err(|e| Error::BadInput {
        path: name.to_owned(),
        message: format!("not an ActivityWatch export: {e}; nothing was imported"),
    })
}

struct ExportSeed<'a> {
    sink: &'a mut dyn AwSink,
    failed: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for ExportSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ExportSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with \"buckets\"")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "buckets" {
                found = true;
                map.next_value_seed(BucketsSeed {
                    sink: &mut *self.sink,
                    failed: &mut *self.failed,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(de::Error::missing_field("buckets"));
        }
        Ok(())
    }
}

struct BucketsSeed<'a> {
    sink: &'a mut dyn AwSink,
    failed: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for BucketsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BucketsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of buckets by id")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(id) = map.next_key::<String>()? {
            map.next_value_seed(BucketSeed {
                id,
                sink: &mut *self.sink,
                failed: &mut *self.failed,
            })?;
        }
        Ok(())
    }
}

struct BucketSeed<'a> {
    id: String,
    sink: &'a mut dyn AwSink,
    failed: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for BucketSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl BucketSeed<'_> {
    fn fail<E: de::Error>(&mut self, e: Error) -> E {
        let message = e.to_string();
        *self.failed = Some(e);
        E::custom(message)
    }
}

impl<'de> Visitor<'de> for BucketSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bucket object")
    }
    /// The metadata comes before `events` in what both servers write; the
    /// bucket goes to the sink when its events start (or at its end).
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut bucket = AwBucket {
            id: self.id.clone(),
            ..AwBucket::default()
        };
        let mut sent = false;
        let text = |v: Value| match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => bucket.kind = text(map.next_value()?),
                "client" => bucket.client = text(map.next_value()?),
                "hostname" => bucket.hostname = text(map.next_value()?),
                "created" => bucket.created = text(map.next_value()?),
                "data" => {
                    if let Value::Object(m) = map.next_value()? {
                        bucket.data = m;
                    }
                }
                "events" => {
                    if bucket.kind.is_empty() && !sent {
                        // aw-server writes a bucket's metadata first; its
                        // events are streamed, so they cannot wait for it.
                        return Err(de::Error::custom(format!(
                            "bucket {:?} lists its events before its \"type\" (aw-server writes the type first)",
                            self.id
                        )));
                    }
                    if !sent {
                        sent = true;
                        let b = std::mem::take(&mut bucket);
                        if let Err(e) = self.sink.bucket(b) {
                            return Err(self.fail(e));
                        }
                    }
                    let id = self.id.clone();
                    map.next_value_seed(EventsSeed {
                        bucket: &id,
                        sink: &mut *self.sink,
                        failed: &mut *self.failed,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !sent && let Err(e) = self.sink.bucket(bucket) {
            return Err(self.fail(e));
        }
        Ok(())
    }
}

struct EventsSeed<'a> {
    bucket: &'a str,
    sink: &'a mut dyn AwSink,
    failed: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0usize;
        let wants_data = self.sink.wants_data();
        loop {
            let raw = if wants_data {
                seq.next_element::<RawEvent>()?
            } else {
                seq.next_element::<CheckedEvent>()?.map(|c| RawEvent {
                    id: c.id,
                    timestamp: c.timestamp,
                    duration: c.duration,
                    data: Map::new(),
                })
            };
            let Some(raw) = raw else { break };
            n += 1;
            let Some(timestamp) = parse_instant(&raw.timestamp) else {
                return Err(de::Error::custom(format!(
                    "event {n} of bucket {:?}: timestamp {:?} is not an instant",
                    self.bucket, raw.timestamp
                )));
            };
            let event = AwEvent {
                id: raw.id,
                timestamp,
                duration: raw.duration,
                data: raw.data,
            };
            if let Err(e) = self.sink.event(self.bucket, event) {
                let message = e.to_string();
                *self.failed = Some(e);
                return Err(de::Error::custom(message));
            }
        }
        Ok(())
    }
}

/// Which server wrote a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// aw-server-rust (`buckets`, `events` in nanoseconds).
    Rust,
    /// aw-server, Python with peewee (`bucketmodel`, `eventmodel`).
    Peewee,
}

/// Opens `path` read-only and tells which server wrote it.
pub fn open_database(path: &Path) -> Result<(Connection, Flavor)> {
    let bad = |message: String| Error::BadInput {
        path: path.to_owned(),
        message,
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| bad(format!("cannot be opened read-only: {e}")))?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| bad(format!("not a SQLite database ({e}); nothing was imported")))?;
    let has = |t: &str| tables.iter().any(|x| x == t);
    if has("bucketmodel") && has("eventmodel") {
        return Ok((conn, Flavor::Peewee));
    }
    if has("buckets") && has("events") {
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| bad(e.to_string()))?;
        if !(1..=6).contains(&version) {
            return Err(bad(format!(
                "an aw-server-rust database of schema version {version}; this daybook reads versions 1 to 6; nothing was imported"
            )));
        }
        return Ok((conn, Flavor::Rust));
    }
    Err(bad(format!(
        "neither an aw-server-rust nor an aw-server database (its tables: {}); nothing was imported",
        if tables.is_empty() {
            "none".to_owned()
        } else {
            tables.join(", ")
        }
    )))
}

/// Reads every bucket and its events (by start) from a database opened by
/// [`open_database`] into `sink`, a row at a time.
pub fn read_database(conn: &Connection, flavor: Flavor, path: &Path, sink: &mut dyn AwSink) -> Result<()> {
    let db = |source| Error::Database {
        path: path.to_owned(),
        source,
    };
    let bad = |message: String| Error::BadInput {
        path: path.to_owned(),
        message,
    };
    let (buckets_sql, events_sql) = match flavor {
        Flavor::Rust => (
            "SELECT id, name, type, client, hostname, created, data FROM buckets ORDER BY name",
            "SELECT id, starttime, endtime, data FROM events WHERE bucketrow = ?1 ORDER BY starttime, id",
        ),
        Flavor::Peewee => (
            "SELECT key, id, type, client, hostname, created, datastr FROM bucketmodel ORDER BY id",
            "SELECT id, timestamp, duration, datastr FROM eventmodel WHERE bucket_id = ?1 ORDER BY timestamp, id",
        ),
    };
    let object = |s: Option<String>| -> Map<String, Value> {
        match s.as_deref().map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(m))) => m,
            _ => Map::new(),
        }
    };
    let mut buckets = conn.prepare(buckets_sql).map_err(db)?;
    let rows = buckets
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .map_err(db)?;
    let mut events = conn.prepare(events_sql).map_err(db)?;
    for row in rows {
        let (key, id, kind, client, hostname, created, data) = row.map_err(db)?;
        sink.bucket(AwBucket {
            id: id.clone(),
            kind: kind.unwrap_or_default(),
            client: client.unwrap_or_default(),
            hostname: hostname.unwrap_or_default(),
            created: created.unwrap_or_default(),
            data: object(data),
        })?;
        let mut rows = events.query([key]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let event_id: i64 = r.get(0).map_err(db)?;
            let (timestamp, duration) = match flavor {
                Flavor::Rust => {
                    let (start, end): (i64, i64) = (r.get(1).map_err(db)?, r.get(2).map_err(db)?);
                    let t = DateTime::from_timestamp(
                        start.div_euclid(1_000_000_000),
                        start.rem_euclid(1_000_000_000) as u32,
                    );
                    (t, (end - start) as f64 / 1e9)
                }
                Flavor::Peewee => {
                    let text: String = r.get(1).map_err(db)?;
                    let duration: f64 = r.get::<_, f64>(2).map_err(db)?;
                    (parse_instant(&text), duration)
                }
            };
            let Some(timestamp) = timestamp else {
                return Err(bad(format!(
                    "event {event_id} of bucket {id:?} has a timestamp that is not an instant; nothing further was read"
                )));
            };
            sink.event(
                &id,
                AwEvent {
                    id: Some(event_id),
                    timestamp,
                    duration,
                    data: object(r.get(3).map_err(db)?),
                },
            )?;
        }
    }
    Ok(())
}

/// How much of the work a run did, for `daybook import activitywatch`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct AwReport {
    /// What was read: the file, or the server's export URL.
    pub source: String,
    /// `export`, `aw-server-rust` or `aw-server`.
    pub format: String,
    /// Buckets.
    pub buckets: Counts,
    /// Raw events.
    pub events: Counts,
    /// Raw events the privacy filters ignore (stored nowhere).
    pub ignored: u64,
    /// Raw events whose daybook events this run derived (those of earlier,
    /// interrupted runs included).
    pub derived_from: u64,
    /// Daybook events derived (window and browser-tab activity, away time
    /// excluded).
    pub daybook_events: u64,
    /// Sessions derived.
    pub sessions: u64,
    /// Batches committed by the derivation.
    pub batches: u64,
}

impl fmt::Display for AwReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "imported ActivityWatch {} ({})", self.source, self.format)?;
        writeln!(f, "  buckets: {} new ({} read)", self.buckets.new, self.buckets.read)?;
        writeln!(
            f,
            "  events: {} new ({} read, {} ignored by the privacy filters)",
            self.events.new, self.events.read, self.ignored
        )?;
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        writeln!(
            f,
            "  derived: {} from {} of {}",
            plural(self.sessions, "session", "sessions"),
            plural(self.daybook_events, "daybook event", "daybook events"),
            plural(self.derived_from, "raw event", "raw events"),
        )?;
        Ok(())
    }
}

/// Where `daybook import activitywatch` reads from.
#[derive(Clone, Debug)]
pub enum AwSource {
    /// An export JSON or a database file.
    Path(PathBuf),
    /// A running aw-server (or anything speaking its API): its base URL or
    /// its export URL.
    Url(String),
}

/// What a source file is.
enum Kind {
    Export,
    Database(Flavor),
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Tells an export from a database by its first bytes, after the checks
/// that make a clear error (missing, a directory, empty).
fn detect(path: &Path) -> Result<Kind> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad(path, "no such file; nothing was imported"),
        _ => Error::Io {
            what: "reading",
            path: path.to_owned(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        return Err(bad(
            path,
            "a directory; give the export JSON (`GET /api/0/export`, or the web UI's export) or aw-server's database file \
             (aw-server-rust: ~/.local/share/activitywatch/aw-server-rust/sqlite.db); nothing was imported",
        ));
    }
    if meta.len() == 0 {
        return Err(bad(
            path,
            "an empty file, neither an export nor a database; nothing was imported",
        ));
    }
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            Ok(n)
        })
        .map_err(|source| Error::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
    if head[..n] == b"SQLite format 3\0"[..n.min(16)] && n == 16 {
        let (_, flavor) = open_database(path)?;
        return Ok(Kind::Database(flavor));
    }
    Ok(Kind::Export)
}

/// Reads the whole source into `sink`.
fn read_source(path: &Path, kind: &Kind, sink: &mut dyn AwSink) -> Result<()> {
    match kind {
        Kind::Export => {
            let file = std::fs::File::open(path).map_err(|source| Error::Io {
                what: "reading",
                path: path.to_owned(),
                source,
            })?;
            read_export(file, path, sink)
        }
        Kind::Database(flavor) => {
            let (conn, _) = open_database(path)?;
            read_database(&conn, *flavor, path, sink)
        }
    }
}

/// The first pass: every event's instants are checked before anything is
/// written, so a bad source writes nothing.
struct Check<'a> {
    path: &'a Path,
    latest_ns: i64,
    buckets: u64,
    events: u64,
    index: u64,
}

impl AwSink for Check<'_> {
    fn bucket(&mut self, bucket: AwBucket) -> Result<()> {
        if bucket.id.trim().is_empty() {
            return Err(bad(self.path, "a bucket without an id; nothing was imported"));
        }
        self.buckets += 1;
        self.index = 0;
        Ok(())
    }

    fn event(&mut self, bucket: &str, event: AwEvent) -> Result<()> {
        self.index += 1;
        self.events += 1;
        let named = |what: &str| {
            bad(
                self.path,
                format!(
                    "event {} of bucket {}: {what}; nothing was imported",
                    self.index,
                    quote(bucket)
                ),
            )
        };
        let (start, end) = span_ns(&event).ok_or_else(|| named("its timestamp or duration is out of range"))?;
        if start < 0 {
            return Err(named("it starts before 1970-01-01"));
        }
        if end > self.latest_ns {
            return Err(named(
                "it ends further in the future than `future_tolerance_seconds` allows",
            ));
        }
        Ok(())
    }

    fn wants_data(&self) -> bool {
        false
    }
}

/// An event's `[start, end]` in nanoseconds; `None` when out of range or
/// the duration is negative or not a number.
fn span_ns(e: &AwEvent) -> Option<(i64, i64)> {
    let start = e.timestamp.timestamp_nanos_opt()?;
    let d = e.duration * 1e9;
    if !d.is_finite() || !(0.0..=1e18).contains(&d) {
        return None;
    }
    Some((start, start.checked_add(d.round() as i64)?))
}

fn storage(e: rusqlite::Error) -> daybook_core::Error {
    daybook_core::Error::Storage(Box::new(e))
}

/// A write of the second pass. An event belongs to the bucket of the last
/// `Bucket` before it.
enum Op {
    Bucket(AwBucket),
    /// `start_ns`, `end_ns`, `data` as stored (JSON text).
    Event(i64, i64, String),
}

/// What the reading thread of the second pass hands the writing one: the
/// writes of one transaction, and how many events were read so far.
struct Chunk {
    ops: Vec<Op>,
    read: u64,
}

/// Raw-event chunks queued between the two threads of the second pass:
/// one being read, one waiting, one being written, so memory stays a few
/// batches whatever the input's size.
const QUEUED: usize = 1;

/// The reading side of the second pass (its own thread): buckets and
/// events screened by the privacy filters as live heartbeats are, their
/// `data` serialized as it is stored, handed on in chunks of
/// [`BATCH_ROWS`].
struct Screen<'a> {
    path: &'a Path,
    privacy: &'a Privacy,
    models: BTreeMap<String, Bucket>,
    ops: Vec<Op>,
    buckets: u64,
    read: u64,
    ignored: u64,
    out: std::sync::mpsc::SyncSender<Chunk>,
}

impl Screen<'_> {
    /// Hands on what is buffered; `false` once the writer stopped (it
    /// failed, and says why).
    fn send(&mut self) -> bool {
        let ops = std::mem::take(&mut self.ops);
        self.out.send(Chunk { ops, read: self.read }).is_ok()
    }
}

/// The writer stopped; its own error is the one reported.
fn writer_stopped(path: &Path) -> Error {
    bad(path, "the import's writer stopped")
}

impl AwSink for Screen<'_> {
    fn bucket(&mut self, bucket: AwBucket) -> Result<()> {
        self.buckets += 1;
        self.models.insert(
            bucket.id.clone(),
            Bucket::new(bucket.id.clone(), &bucket.kind, bucket.hostname.clone()),
        );
        self.ops.push(Op::Bucket(bucket));
        Ok(())
    }

    fn event(&mut self, bucket: &str, event: AwEvent) -> Result<()> {
        self.read += 1;
        let (start, end) = span_ns(&event).expect("checked by the first pass");
        let data = Value::Object(event.data);
        let model = &self.models[bucket];
        let ms = Timestamp(start.div_euclid(NANOS_PER_MILLI));
        // Screened as a live heartbeat is: an ignored window is stored
        // nowhere, a redacted one is stored redacted.
        let data = match model.activity(&data, ms, clock::local_offset(ms)) {
            None => data,
            Some(daybook) => match self.privacy.screen(daybook) {
                None => {
                    self.ignored += 1;
                    return Ok(());
                }
                Some(screened) => model.redacted(&data, &screened),
            },
        };
        self.ops.push(Op::Event(start, end, data.to_string()));
        if self.ops.len() >= BATCH_ROWS && !self.send() {
            return Err(writer_stopped(self.path));
        }
        Ok(())
    }
}

/// The writing side of the second pass: buckets and events as the
/// ActivityWatch API stores them, each new raw event also queued in
/// `aw_pending` for the derivation, one transaction per [`Chunk`].
///
/// An event already stored (same bucket, start, end and data) is skipped.
/// Looking that up costs an index search per event, so it is done only
/// where a stored event could match: per bucket the writer knows the
/// latest start stored (read when the bucket comes, then moved by each
/// event it stores), and an event that starts after it cannot be stored
/// yet. A first import of a history in order (as both servers export it)
/// so searches nothing; a repeated or overlapping one searches as before.
struct Writer<'a> {
    store: &'a mut SqliteStore,
    /// The bucket of the events that follow, with its latest stored start.
    current: Option<(String, Option<i64>)>,
    buckets: u64,
    events: u64,
}

impl Writer<'_> {
    fn write(&mut self, ops: &[Op]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let current = &mut self.current;
        let (buckets, events) = self.store.write(|tx| {
            let mut new = (0u64, 0u64);
            let mut bucket = tx
                .prepare_cached(
                    "INSERT INTO aw_buckets (id, type, client, hostname, created, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO NOTHING",
                )
                .map_err(storage)?;
            let mut latest = tx
                .prepare_cached("SELECT max(start_ns) FROM aw_events WHERE bucket = ?1")
                .map_err(storage)?;
            let mut seen = tx
                .prepare_cached(
                    "SELECT 1 FROM aw_events WHERE bucket = ?1 AND start_ns = ?2 AND end_ns = ?3 AND data = ?4 LIMIT 1",
                )
                .map_err(storage)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO aw_events (bucket, start_ns, end_ns, data) VALUES (?1, ?2, ?3, ?4)")
                .map_err(storage)?;
            let mut pending = tx
                .prepare_cached("INSERT INTO aw_pending (start_ns, id) VALUES (?1, ?2)")
                .map_err(storage)?;
            for op in ops {
                match op {
                    Op::Bucket(b) => {
                        let data = Value::Object(b.data.clone()).to_string();
                        new.0 += bucket
                            .execute(params![b.id, b.kind, b.client, b.hostname, b.created, data])
                            .map_err(storage)? as u64;
                        let stored: Option<i64> = latest.query_row([&b.id], |r| r.get(0)).map_err(storage)?;
                        *current = Some((b.id.clone(), stored));
                    }
                    Op::Event(start, end, data) => {
                        let Some((ref id, ref mut stored)) = *current else {
                            unreachable!("a reader hands on every bucket before its events")
                        };
                        if stored.is_some_and(|s| *start <= s)
                            && seen.exists(params![id, start, end, data]).map_err(storage)?
                        {
                            continue;
                        }
                        insert.execute(params![id, start, end, data]).map_err(storage)?;
                        pending
                            .execute(params![start, tx.last_insert_rowid()])
                            .map_err(storage)?;
                        *stored = Some(stored.map_or(*start, |s| s.max(*start)));
                        new.1 += 1;
                    }
                }
            }
            Ok(new)
        })?;
        self.buckets += buckets;
        self.events += events;
        Ok(())
    }
}

/// The second pass of [`import`], on both cores: this thread reads and
/// screens the source ([`Screen`]) while the calling one writes
/// ([`Writer`]), chunks passing through a queue of [`QUEUED`]. Either
/// side's failure stops the other; what the writer committed stays
/// (every chunk is a whole transaction), as a kill would leave it.
fn store_source(
    store: &mut SqliteStore,
    path: &Path,
    kind: &Kind,
    privacy: &Privacy,
    report: &mut AwReport,
    progress: &ProgressBar,
) -> Result<()> {
    let checkpoints = Checkpointer::start(store)?;
    std::thread::scope(|scope| {
        let (out, chunks) = std::sync::mpsc::sync_channel::<Chunk>(QUEUED);
        let reader = scope.spawn(move || -> Result<(u64, u64, u64)> {
            let mut screen = Screen {
                path,
                privacy,
                models: BTreeMap::new(),
                ops: Vec::new(),
                buckets: 0,
                read: 0,
                ignored: 0,
                out,
            };
            read_source(path, kind, &mut screen)?;
            if !screen.send() {
                return Err(writer_stopped(path));
            }
            Ok((screen.buckets, screen.read, screen.ignored))
        });
        let mut writer = Writer {
            store,
            current: None,
            buckets: 0,
            events: 0,
        };
        let written = chunks.iter().try_for_each(|chunk| {
            writer.write(&chunk.ops)?;
            checkpoints.committed();
            progress.set_position(chunk.read);
            Ok::<_, Error>(())
        });
        // The reader stops at its next chunk once no one takes it.
        drop(chunks);
        let read = reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written?;
        let (buckets, events, ignored) = read?;
        report.buckets.read += buckets;
        report.buckets.new += writer.buckets;
        report.events.read += events;
        report.events.new += writer.events;
        report.ignored += ignored;
        Ok(())
    })
}

/// A progress bar on stderr when it is a terminal, else a hidden one.
fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = len.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    bar.set_draw_target(ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Fetches a running server's export into `file`, streaming (the body is
/// never held in memory). `url` is the server's base URL
/// (`http://127.0.0.1:5600`) or its export URL.
fn download(url: &str, file: &Path) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let export = if trimmed.ends_with("/export") {
        trimmed.to_owned()
    } else if trimmed.ends_with("/api/0") {
        format!("{trimmed}/export")
    } else {
        format!("{trimmed}/api/0/export")
    };
    let from = Path::new(url);
    if !export.starts_with("http://") {
        return Err(bad(
            from,
            "not an http:// URL (this build has no TLS; aw-server listens on http://127.0.0.1:5600); nothing was imported",
        ));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .build()
        .into();
    let mut response = agent.get(&export).call().map_err(|e| {
        bad(
            from,
            format!("{export} could not be reached: {e}; nothing was imported"),
        )
    })?;
    if response.status() != 200 {
        return Err(bad(
            from,
            format!("{export} answered {}; nothing was imported", response.status()),
        ));
    }
    let io = |source| Error::Io {
        what: "writing",
        path: file.to_owned(),
        source,
    };
    crate::datadir::create_private_file_if_missing(file).map_err(io)?;
    let mut out = std::fs::File::create(file).map_err(io)?;
    let progress = bar(None, "{spinner} downloading the export: {bytes} ({bytes_per_sec})");
    let mut reader = progress.wrap_read(response.body_mut().as_reader());
    std::io::copy(&mut reader, &mut out)
        .map_err(|e| bad(from, format!("reading {export}: {e}; nothing was imported")))?;
    progress.finish_and_clear();
    Ok(export)
}

/// `daybook import activitywatch`: brings a user's ActivityWatch history
/// into daybook, from an export (a file, or `GET /api/0/export` of a
/// running server) or an aw-server-rust or aw-server database (opened
/// read-only). Takes the data directory's lock, so, like `import
/// openchronicle`, it refuses while the daemon runs (stop it, import,
/// start it).
///
/// 1. **Checked.** The source is read once whole before anything is
///    written: a missing file, a directory, an empty file, a foreign or
///    empty SQLite file, JSON that is not an export, an event before
///    1970, in the future or with a negative duration: each a clear
///    error, and nothing written. This pass builds no event `data`: it
///    checks it exactly as strictly as the storing pass parses it
///    ([`AwSink::wants_data`]), so what passes the check stores whole.
/// 2. **Stored as the ActivityWatch API stores it.** Buckets and events
///    go into `aw_buckets` and `aw_events`, the tables `/api/0` serves,
///    with daybook's own ids (as `POST /api/0/import` does), screened by
///    the privacy filters as live heartbeats are. An event already stored
///    (same bucket, start, end and data) is skipped, so a second import
///    adds nothing ("0 new"). Transactions of [`BATCH_ROWS`] rows; each
///    new raw event is queued in `aw_pending` in the same transaction.
///    One thread reads and screens the source while this one writes
///    (`store_source`).
/// 3. **Derived as a live day is.** The queued events are read back in
///    order of start across all buckets and translated by core
///    `watcher::History` (the whole-event translation of `POST
///    /api/0/buckets/<id>/events`: an event at its start, every two
///    minutes through it, at its end unless the bucket's next event
///    starts within 30 s of it; every `afk` period of the host
///    known first, so away time derives nothing, not even the three
///    minutes a live AFK watcher reports late), then committed by
///    `Engine::handle_history`: no `max_lateness_days` refusal (an import
///    is the user's own act, not a stale client), the usual cut rules,
///    and history behind the watermark landing in late sessions in the
///    gaps between existing sessions, never overlapping one. Batches end
///    only at idle gaps, each ending its last session in its own
///    transaction together with the removal of its raw events from
///    `aw_pending`: a kill at any point and a re-run end with the
///    database one uninterrupted run gives. Session ids are `aw-N`.
///
/// Memory does not grow with the input: an export is parsed as it
/// streams, a database read row by row, the derivation holds a few
/// batches (one being derived, one queued, one being committed: the two
/// sides run on two threads, see [`derive`]), plus every `afk` period, a
/// few per hour of use. Reductions and day
/// files follow (the caller runs reduce-pending).
pub fn import(store: &mut SqliteStore, source: &AwSource, scratch: &Path, settings: &Settings) -> Result<AwReport> {
    let mut report = AwReport::default();
    let now = clock::now();
    let (path, _cleanup) = match source {
        AwSource::Path(p) => {
            report.source = p.display().to_string();
            (p.clone(), None)
        }
        AwSource::Url(url) => {
            let file = scratch.join(format!(".aw-export-{}.json", std::process::id()));
            let guard = Cleanup(file.clone());
            report.source = download(url, &file)?;
            (file, Some(guard))
        }
    };
    let kind = detect(&path)?;
    report.format = match kind {
        Kind::Export => "export",
        Kind::Database(Flavor::Rust) => "aw-server-rust",
        Kind::Database(Flavor::Peewee) => "aw-server",
    }
    .to_owned();
    let latest = now + settings.engine.future_tolerance;
    let mut check = Check {
        path: &path,
        latest_ns: latest.0.saturating_mul(NANOS_PER_MILLI),
        buckets: 0,
        events: 0,
        index: 0,
    };
    let progress = bar(None, "{spinner} checking: {pos} events ({per_sec})");
    let checked = read_source(&path, &kind, &mut check);
    progress.finish_and_clear();
    checked?;
    let total = check.events;
    relax_sync(store)?;
    let progress = bar(
        Some(total),
        "{spinner} storing  [{bar:30}] {pos}/{len} events ({per_sec}, {eta} left)",
    );
    store_source(store, &path, &kind, &settings.privacy, &mut report, &progress)?;
    progress.finish_and_clear();
    Ok(report)
}

/// Sets `synchronous=NORMAL` on the import's connection: in WAL mode a
/// commit then writes the WAL without waiting for the disk, which the
/// import's thousands of batch commits would otherwise each wait for.
/// Nothing gets weaker that the import relies on: a commit is still atomic,
/// a killed process loses no commit (the WAL is written before the commit
/// returns), and a power cut can lose only the last batches, which stay
/// queued in `aw_pending` (or unread in the source) and a re-run redoes.
/// The daemon's own connections keep `synchronous=FULL`.
fn relax_sync(store: &SqliteStore) -> Result<()> {
    store
        .connection()
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(|source| Error::Database {
            path: store.path().to_owned(),
            source,
        })
}

/// Removes a scratch file when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Checkpoints the database's WAL on a thread and connection of its own
/// while a pass commits, so the committing thread never stops to copy
/// pages into the database file and wait for its `fsync` (SQLite's
/// automatic checkpoint runs inside the commit that crosses 1,000 WAL
/// pages; see [`Checkpointer::start`]). A checkpoint only copies what
/// is committed already, so what a kill leaves is unchanged; one that
/// fails (a lock held) is simply tried at the next commit.
struct Checkpointer {
    poke: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Turns off `store`'s automatic checkpoints (for this connection
    /// only: the daemon's keep theirs) and starts the thread. Each
    /// [`Self::committed`] asks it for one `PASSIVE` checkpoint (copying
    /// the frames no reader still needs, never blocking the writer);
    /// asks that come while one runs are merged into the next.
    fn start(store: &SqliteStore) -> Result<Self> {
        let path = store.path().to_owned();
        let db = |source| Error::Database {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        store
            .connection()
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db)?;
        let (poke, pokes) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            for () in pokes {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "import checkpoint skipped");
                }
            }
        });
        Ok(Self {
            poke: Some(poke),
            thread: Some(thread),
        })
    }

    /// A transaction committed: checkpoint what the WAL holds.
    fn committed(&self) {
        if let Some(poke) = &self.poke {
            let _ = poke.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.poke = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Raw events read back per query of the derivation.
const PAGE: i64 = 10_000;

/// Sessions the derivation lets end before it reduces them (built-in
/// summarizer): a batch ends a few (one per idle gap), so reductions run
/// about every few batches. Each `Engine::reduce_pending` call reads the
/// pending sessions and commits a transaction of its own, a cost that
/// grows with the sessions already stored, so reducing after every batch
/// made the pass grow faster than the history; waiting for more holds
/// their blocks in memory a little longer (about 35 KB of text a
/// session), still a bound independent of the history's size.
const REDUCE_AFTER: usize = 32;

/// Step 3 of [`import`]: derives daybook events and sessions from every
/// raw event queued in `aw_pending` (this run's, and any an interrupted
/// run left), in batches of at least [`BATCH_ROWS`] raw events. `store`
/// is the data directory's database at `path`; the engine it starts is
/// dropped at the end (its reductions are the caller's).
pub fn derive(store: SqliteStore, path: &Path, settings: &Settings, report: &mut AwReport) -> Result<()> {
    let db = |source| Error::Database {
        path: path.to_owned(),
        source,
    };
    let now = clock::now();
    let queued: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM aw_pending", [], |r| r.get(0))
        .map_err(db)?;
    if queued == 0 {
        return Ok(());
    }
    let mut watchers = Watchers::new(1);
    for b in store.aw_buckets()? {
        let model = b.model();
        if model.kind == BucketKind::Afk {
            let events = store.aw_events(&b.id, AwRange::default())?;
            watchers.restore_presence(&b.hostname, &events);
        }
        watchers.restore(model, None, None);
    }
    let summarizer = crate::server::summarizer(settings)?;
    // With the built-in summarizer the sessions the batches ended are
    // reduced as the derivation goes, in one transaction once
    // [`REDUCE_AFTER`] of them wait (and the rest at the end), so memory
    // holds a few dozen sessions' blocks, not a year's; a kill in between
    // leaves them pending, and the next run's start reduces exactly them
    // first, as this run would have. An external summarizer's requests
    // are the caller's.
    let inline = summarizer.kind() == SummarizerKind::Builtin;
    let mut waiting = 0usize;
    relax_sync(&store)?;
    let checkpoints = Checkpointer::start(&store)?;
    let mut engine = Engine::start(store, summarizer.kind(), settings.engine.clone(), "aw-", now)?;
    // Reductions the start asked for are asked again by the caller's.
    while engine.poll_output().is_some() {}
    let history = History::new(watchers, settings.engine.gap, BATCH_ROWS as u64);
    let reader = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(db)?;
    let progress = bar(
        Some(queued as u64),
        "{spinner} deriving [{bar:30}] {pos}/{len} events ({per_sec}, {eta} left)",
    );
    let mut commit = |batch: HistoryBatch| -> Result<()> {
        if let Some((start, id)) = batch.through {
            engine.store().stage_history_done((start, id as i64));
        }
        engine.handle_history(now, &batch.events, batch.quiet_until.unwrap_or(now))?;
        checkpoints.committed();
        while let Some(o) = engine.poll_output() {
            match o {
                Output::SessionStarted { .. } => report.sessions += 1,
                Output::SessionEnded { .. } => waiting += 1,
                _ => {}
            }
        }
        if inline && waiting >= REDUCE_AFTER {
            engine.reduce_pending(now)?;
            checkpoints.committed();
            while engine.poll_output().is_some() {}
            waiting = 0;
        }
        report.derived_from += batch.raw;
        report.daybook_events += batch.events.len() as u64;
        report.batches += 1;
        progress.set_position(report.derived_from);
        Ok(())
    };
    // Both cores: this thread commits batches through the engine while
    // another reads the queued raw events and derives the next ones
    // (derivation reads only raw events, never what the engine wrote, so
    // it runs ahead freely), batches passing through a queue of
    // [`QUEUED`]: memory holds a few batches, whatever the history's size.
    std::thread::scope(|scope| {
        let (out, batches) = std::sync::mpsc::sync_channel::<HistoryBatch>(QUEUED);
        let deriver = scope.spawn(move || derive_batches(&reader, history, path, &out));
        let committed = batches.iter().try_for_each(&mut commit);
        // The deriver stops at its next batch once no one takes it.
        drop(batches);
        let derived = deriver.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        committed?;
        derived
    })?;
    if inline && waiting > 0 {
        engine.reduce_pending(now)?;
    }
    progress.finish_and_clear();
    Ok(())
}

/// The deriving side of [`derive`] (its own thread): reads the raw events
/// queued in `aw_pending` in order through `reader`, feeds them to
/// `history` and hands on each batch it cuts, the last one included.
/// Stops quietly when the committing side stopped (it reports why).
fn derive_batches(
    reader: &Connection,
    mut history: History,
    path: &Path,
    out: &std::sync::mpsc::SyncSender<HistoryBatch>,
) -> Result<()> {
    let db = |source| Error::Database {
        path: path.to_owned(),
        source,
    };
    let mut cursor = (i64::MIN, i64::MIN);
    let mut stmt = reader
        .prepare(
            "SELECT p.start_ns, p.id, e.bucket, e.end_ns, e.data FROM aw_pending p JOIN aw_events e ON e.id = p.id
             WHERE (p.start_ns, p.id) > (?1, ?2) ORDER BY p.start_ns, p.id LIMIT ?3",
        )
        .map_err(db)?;
    loop {
        let rows: Vec<(i64, i64, String, i64, String)> = stmt
            .query_map(params![cursor.0, cursor.1, PAGE], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(Iterator::collect)
            .map_err(db)?;
        let Some(last) = rows.last() else { break };
        cursor = (last.0, last.1);
        for (start, id, bucket, end, data) in rows {
            let data: Value = serde_json::from_str(&data).map_err(|_| Error::CorruptRow {
                table: "aw_events",
                key: id.to_string(),
                problem: "data is not JSON",
            })?;
            let event = CoreEvent {
                id: Some(id as u64),
                start,
                end,
                data,
            };
            if let Some(batch) = history.push(&bucket, &event, clock::local_offset)?
                && out.send(batch).is_err()
            {
                return Ok(());
            }
        }
    }
    // A failed send means the committing side stopped, and it says why.
    let _ = out.send(history.finish());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        buckets: Vec<AwBucket>,
        events: Vec<(String, AwEvent)>,
    }

    impl AwSink for Collect {
        fn bucket(&mut self, bucket: AwBucket) -> Result<()> {
            self.buckets.push(bucket);
            Ok(())
        }
        fn event(&mut self, bucket: &str, event: AwEvent) -> Result<()> {
            assert_eq!(
                self.buckets.last().map(|b| b.id.as_str()),
                Some(bucket),
                "events follow their bucket"
            );
            self.events.push((bucket.to_owned(), event));
            Ok(())
        }
    }

    /// A reader that hands out one byte at a time: the parser must not
    /// need the whole document.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// An export as aw-server writes it (Python isoformat instants, a
    /// bucket's metadata before its events, keys the reader ignores); its
    /// shape is checked against aw-client's own models by
    /// `tests/clients/test_aw_export_fixture.py`.
    const EXPORT: &str = include_str!("../../tests/fixtures/aw-export.json");

    #[test]
    fn an_export_streams_bucket_by_bucket() {
        let mut sink = Collect::default();
        read_export(Trickle(EXPORT.as_bytes()), Path::new("export.json"), &mut sink).unwrap();
        assert_eq!(
            sink.buckets
                .iter()
                .map(|b| (b.id.as_str(), b.kind.as_str()))
                .collect::<Vec<_>>(),
            [
                ("aw-watcher-window_host", "currentwindow"),
                ("aw-watcher-afk_host", "afkstatus")
            ]
        );
        assert_eq!(sink.events.len(), 3);
        let (bucket, first) = &sink.events[0];
        assert_eq!(bucket, "aw-watcher-window_host");
        assert_eq!(first.timestamp.timestamp_millis(), 1_773_133_200_250);
        assert_eq!(first.duration, 61.5);
        assert_eq!(first.data["app"], "Firefox");
        assert_eq!(sink.events[2].1.data["status"], "not-afk");
    }

    #[test]
    fn a_bad_export_is_named() {
        let mut sink = Collect::default();
        let err = read_export(&b"{\"nope\": 1}"[..], Path::new("x.json"), &mut sink).unwrap_err();
        assert!(
            err.to_string().contains("x.json") && err.to_string().contains("buckets"),
            "{err}"
        );
        let bad_time = EXPORT.replace(
            "2026-03-10T09:01:01.750000+00:00\", \"duration",
            "yesterday\", \"duration",
        );
        let err = read_export(bad_time.as_bytes(), Path::new("x.json"), &mut sink).unwrap_err();
        assert!(err.to_string().contains("\"yesterday\" is not an instant"), "{err}");
    }

    /// A sink that wants no `data`, as the checking pass.
    struct Shapes(usize);

    impl AwSink for Shapes {
        fn bucket(&mut self, _: AwBucket) -> Result<()> {
            Ok(())
        }
        fn event(&mut self, _: &str, event: AwEvent) -> Result<()> {
            assert!(event.data.is_empty(), "the check built data");
            self.0 += 1;
            Ok(())
        }
        fn wants_data(&self) -> bool {
            false
        }
    }

    /// The checking pass accepts exactly the exports the storing pass
    /// reads: a file the check passes must store whole, and one it
    /// refuses must be refused before anything is written.
    #[test]
    fn the_check_accepts_exactly_what_the_store_reads() {
        let data = [
            r#"{"app": "Code", "title": "a", "n": [1, -2, 3.5, true, null, {"x": ["y"]}], "e": "\u00e9\n"}"#,
            r#"{}"#,
            r#"null"#,
            r#"5"#,
            r#""text""#,
            r#"[]"#,
            r#"{"big": 1e400}"#,
            r#"{"bad": "\q"}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        ];
        let ids = ["1", "null", "\"7\"", "1.5"];
        let mut both = (0, 0);
        for (i, d) in data.iter().enumerate() {
            for id in ids {
                let text = format!(
                    r#"{{"buckets": {{"w": {{"type": "currentwindow", "data": {{}}, "events": [
                        {{"id": {id}, "timestamp": "2026-03-10T09:00:00+00:00", "duration": 1.5, "data": {d}}},
                        {{"timestamp": "2026-03-10T09:00:02+00:00", "data": {{"app": "Mail"}}}}]}}}}}}"#
                );
                let mut full = Collect::default();
                let stored = read_export(text.as_bytes(), Path::new("x.json"), &mut full);
                let mut shapes = Shapes(0);
                let checked = read_export(text.as_bytes(), Path::new("x.json"), &mut shapes);
                assert_eq!(
                    checked.is_ok(),
                    stored.is_ok(),
                    "data {i} with id {id}: checked {checked:?}, stored {stored:?}"
                );
                if stored.is_ok() {
                    assert_eq!(shapes.0, full.events.len());
                    both.0 += 1;
                } else {
                    both.1 += 1;
                }
            }
        }
        assert!(both.0 > 0 && both.1 > 0, "{both:?}: both outcomes are exercised");
    }

    #[test]
    fn both_servers_databases_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        // aw-server-rust, schema 6.
        let rust = dir.path().join("sqlite.db");
        let conn = Connection::open(&rust).unwrap();
        conn.execute_batch(
            "CREATE TABLE buckets (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
               client TEXT NOT NULL, hostname TEXT NOT NULL, created TEXT NOT NULL, data_deprecated TEXT DEFAULT '{}',
               data TEXT NOT NULL DEFAULT '{}');
             CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, bucketrow INTEGER NOT NULL, starttime INTEGER NOT NULL,
               endtime INTEGER NOT NULL, data TEXT NOT NULL, FOREIGN KEY (bucketrow) REFERENCES buckets(id));
             CREATE TABLE key_value (key TEXT PRIMARY KEY, value TEXT, last_modified NUMBER NOT NULL);
             CREATE INDEX events_bucketrow_starttime_endtime_index ON events(bucketrow, starttime DESC, endtime);
             INSERT INTO buckets (name, type, client, hostname, created) VALUES
               ('aw-watcher-window_host', 'currentwindow', 'aw-watcher-window', 'host', '2026-03-10T08:59:58.123456+00:00');
             INSERT INTO events (bucketrow, starttime, endtime, data) VALUES
               (1, 1773133261750000000, 1773133261750000000, '{\"app\":\"Code\",\"title\":\"import.rs\"}'),
               (1, 1773133200250000000, 1773133261750000000, '{\"app\":\"Firefox\",\"title\":\"SQLite docs\"}');
             PRAGMA user_version = 6;",
        )
        .unwrap();
        drop(conn);
        // aw-server (peewee).
        let peewee = dir.path().join("peewee-sqlite.v2.db");
        let conn = Connection::open(&peewee).unwrap();
        conn.execute_batch(
            "CREATE TABLE bucketmodel (key INTEGER NOT NULL PRIMARY KEY, id VARCHAR(255) NOT NULL, created DATETIME NOT NULL,
               name VARCHAR(255), type VARCHAR(255) NOT NULL, client VARCHAR(255) NOT NULL, hostname VARCHAR(255) NOT NULL,
               datastr VARCHAR(255));
             CREATE UNIQUE INDEX bucketmodel_id ON bucketmodel (id);
             CREATE TABLE eventmodel (id INTEGER NOT NULL PRIMARY KEY, bucket_id INTEGER NOT NULL, timestamp DATETIME NOT NULL,
               duration DECIMAL(10, 5) NOT NULL, datastr VARCHAR(255) NOT NULL, FOREIGN KEY (bucket_id) REFERENCES bucketmodel (key));
             INSERT INTO bucketmodel VALUES (1, 'aw-watcher-window_host', '2026-03-10 08:59:58.123456+00:00', NULL,
               'currentwindow', 'aw-watcher-window', 'host', '{}');
             INSERT INTO eventmodel VALUES
               (7, 1, '2026-03-10 09:01:01.750000+00:00', 0, '{\"app\": \"Code\", \"title\": \"import.rs\"}'),
               (6, 1, '2026-03-10 09:00:00.250000+00:00', 61.5, '{\"app\": \"Firefox\", \"title\": \"SQLite docs\"}');",
        )
        .unwrap();
        drop(conn);
        let mut read = Vec::new();
        for (path, flavor) in [(rust, Flavor::Rust), (peewee, Flavor::Peewee)] {
            let (conn, found) = open_database(&path).unwrap();
            assert_eq!(found, flavor);
            let mut sink = Collect::default();
            read_database(&conn, found, &path, &mut sink).unwrap();
            assert_eq!(sink.buckets.len(), 1);
            assert_eq!(sink.buckets[0].kind, "currentwindow");
            read.push(
                sink.events
                    .into_iter()
                    .map(|(_, e)| (e.timestamp.timestamp_millis(), e.duration, e.data))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(read[0], read[1], "the two servers' databases read differently");
        assert_eq!(read[0][0].0, 1_773_133_200_250, "events come by start");
        assert_eq!(read[0][0].1, 61.5);
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE songs (t TEXT)")
            .unwrap();
        let err = open_database(&foreign).unwrap_err().to_string();
        assert!(
            err.contains("neither an aw-server-rust nor an aw-server database"),
            "{err}"
        );
    }
}
