//! Readers of a user's ActivityWatch history, for `daybook import
//! activitywatch`: an aw-server export (`GET /api/0/export`, a file or a
//! running server's body), an aw-server-rust SQLite database and an
//! aw-server (Python, peewee) SQLite database, the last two opened
//! read-only. Each streams buckets and events into an [`AwSink`] one at a
//! time, so memory does not grow with the history: the export is parsed
//! as it is read (serde, no document tree), the databases row by row.
//!
//! Not yet wired to the command line: storing what is read needs the
//! ActivityWatch bucket and event tables and the core translation into
//! sessions (issue 13), which the sink will write into.
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

use std::fmt;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

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
}

/// The event fields as an export writes them.
#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    id: Option<i64>,
    timestamp: String,
    #[serde(default)]
    duration: f64,
    #[serde(default)]
    data: Map<String, Value>,
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
        message: format!("not an ActivityWatch export: {e}"),
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
        while let Some(raw) = seq.next_element::<RawEvent>()? {
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
