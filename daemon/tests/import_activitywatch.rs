//! `daybook import activitywatch` on what aw-server writes (its export's
//! shape, checked against aw-client's models by
//! tests/clients/test_aw_export_fixture.py, and aw-server-rust's
//! database): raw buckets and events stored as `/api/0` stores them,
//! sessions and day logs derived as from live watchers with away time
//! excluded, `doctor` clean, "0 new" on a second import, refused inputs
//! that write nothing, `--from` a server, and a kill -9 mid-import,
//! re-run, ending with exactly the database of one uninterrupted import.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;

use chrono::{DateTime, Duration, Utc};
use common::fake_llm::response;
use common::{TestDir, poll};
use daybook_core::{Phase, Timestamp};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

/// An instant as aw-server's export writes it (Python `isoformat`).
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ms(t: DateTime<Utc>) -> Timestamp {
    Timestamp(t.timestamp_millis())
}

/// One export event.
fn event(id: u64, start: DateTime<Utc>, secs: f64, data: Value) -> Value {
    json!({"id": id, "timestamp": iso(start), "duration": secs, "data": data})
}

/// A bucket as aw-server's export writes it.
fn bucket(id: &str, kind: &str, client: &str, events: Vec<Value>) -> Value {
    json!({
        "id": id, "created": "2026-03-01T08:00:00.000000+00:00", "name": null, "type": kind,
        "client": client, "hostname": "host", "data": {}, "events": events,
        "last_updated": "2026-03-10T10:30:00.000000+00:00"
    })
}

/// An export as aw-server writes it, keys in its order (a bucket's
/// metadata before its events; `serde_json` would sort them).
fn export_text(export: &Value) -> String {
    let mut out = String::from("{\"buckets\": {");
    for (i, (id, b)) in export["buckets"].as_object().unwrap().iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        write!(out, "{}: {{", Value::from(id.as_str())).unwrap();
        for key in [
            "id",
            "created",
            "name",
            "type",
            "client",
            "hostname",
            "data",
            "events",
            "last_updated",
        ] {
            write!(out, "{}: {}", Value::from(key), b[key]).unwrap();
            if key != "last_updated" {
                out.push_str(", ");
            }
        }
        out.push('}');
    }
    out.push_str("}}");
    out
}

/// A morning of ActivityWatch (2026-03-10, UTC): window events switching
/// every two minutes from 09:00 to 09:20, a Chrome tab at 09:05, then the
/// user away from 09:20 to 10:00 while the screen keeps showing Code (the
/// window watcher goes on reporting it), then Slack and Code until 10:30.
/// A watcher of another kind (an editor plugin) is stored but derives
/// nothing.
fn morning() -> Value {
    let t0 = t("2026-03-10T09:00:00Z");
    let mut window = Vec::new();
    for k in 0..10 {
        let app = if k % 2 == 0 { "Code" } else { "Firefox" };
        window.push(event(
            k + 1,
            t0 + Duration::minutes(2 * k as i64),
            119.0,
            json!({"app": app, "title": format!("{app} window {k}")}),
        ));
    }
    window.push(event(
        20,
        t("2026-03-10T09:20:00Z"),
        2399.0,
        json!({"app": "Code", "title": "idle.rs"}),
    ));
    for k in 0..15 {
        let app = if k % 2 == 0 { "Slack" } else { "Code" };
        window.push(event(
            30 + k,
            t("2026-03-10T10:00:00Z") + Duration::minutes(2 * k as i64),
            119.5,
            json!({"app": app, "title": format!("{app} later {k}")}),
        ));
    }
    let web = vec![event(
        1,
        t("2026-03-10T09:05:00Z"),
        90.25,
        json!({"url": "https://doc.rust-lang.org/", "title": "Rust docs", "audible": false, "incognito": false, "tabCount": 3}),
    )];
    let afk = vec![
        event(1, t0, 1200.0, json!({"status": "not-afk"})),
        event(2, t("2026-03-10T09:20:00Z"), 2399.0, json!({"status": "afk"})),
        event(3, t("2026-03-10T10:00:00Z"), 1800.0, json!({"status": "not-afk"})),
    ];
    let vim = vec![event(
        1,
        t("2026-03-10T09:03:00Z"),
        30.0,
        json!({"file": "a.rs", "language": "rust"}),
    )];
    json!({"buckets": {
        "aw-watcher-window_host": bucket("aw-watcher-window_host", "currentwindow", "aw-watcher-window", window),
        "aw-watcher-web-chrome_host": bucket("aw-watcher-web-chrome_host", "web.tab.current", "aw-client-web", web),
        "aw-watcher-afk_host": bucket("aw-watcher-afk_host", "afkstatus", "aw-watcher-afk", afk),
        "aw-watcher-vim_host": bucket("aw-watcher-vim_host", "app.editor.activity", "aw-watcher-vim", vim),
    }})
}

/// A server on 127.0.0.1 answering every GET with `status` and `body`;
/// returns its base URL and the request lines it saw.
fn serve(status: u16, body: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            log.lock().unwrap().push(first.trim_end().to_owned());
            let _ = stream.write_all(response(status, &body).as_bytes());
        }
    });
    (base, seen)
}

fn write_json(dir: &TestDir, name: &str, v: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, export_text(v)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Every row of every table daybook keeps (the search index's shadow
/// tables aside: they follow their content tables; and the day files'
/// bookkeeping, `stale_days` and `day_files`, which records the files'
/// inodes and times, not data), sorted: two databases with the same
/// text hold the same data.
fn canonical(db: &Path) -> String {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%'
             AND name NOT IN ('stale_days', 'day_files') ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = String::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect();
                Ok(cells.join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        writeln!(out, "== {table} ({} rows)", rows.len()).unwrap();
        for row in rows {
            writeln!(out, "{row}").unwrap();
        }
    }
    out
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn doctor_ok(dir: &TestDir) {
    let doctor = dir.daybook(&["doctor", "--json"]).assert_ok("doctor").json();
    assert_eq!(doctor["violations"], json!([]), "{doctor}");
    assert_eq!(doctor["ok"], true, "{doctor}");
}

#[test]
fn an_export_becomes_raw_buckets_and_the_sessions_a_live_day_has() {
    // The live path would refuse these month-old events; an import takes them.
    let dir = TestDir::new("max_lateness_days = 1\n");
    let export = write_json(&dir, "export.json", &morning());
    let first = dir
        .daybook(&["import", "activitywatch", &export, "--json"])
        .assert_ok("import")
        .json();
    assert_eq!(first["format"], "export");
    assert_eq!(first["buckets"], json!({"read": 4, "new": 4}), "{first}");
    assert_eq!(first["events"], json!({"read": 31, "new": 31}), "{first}");
    assert_eq!(first["sessions"], 2, "{first}");

    // Raw events, as /api/0 stores them: nanoseconds, the data as sent.
    let db = dir.db();
    assert_eq!(count(&db, "SELECT count(*) FROM aw_buckets"), 4);
    assert_eq!(count(&db, "SELECT count(*) FROM aw_events"), 31);
    assert_eq!(count(&db, "SELECT count(*) FROM aw_pending"), 0);
    let web_end = count(
        &db,
        "SELECT end_ns - start_ns FROM aw_events WHERE bucket = 'aw-watcher-web-chrome_host'",
    );
    assert_eq!(web_end, 90_250_000_000);

    // Two sessions, split by the away time: nothing of the Code window the
    // screen showed from 09:20 to 10:00 extends or starts one.
    let dump = dir.dump();
    let mut sessions = dump.sessions.clone();
    sessions.sort_by_key(|s| s.start);
    let spans: Vec<_> = sessions
        .iter()
        .map(|s| (s.start, s.phase.end(), s.phase.reason().map(|r| r.as_str())))
        .collect();
    assert_eq!(
        spans,
        [
            (
                ms(t("2026-03-10T09:00:00Z")),
                Some(ms(t("2026-03-10T09:19:59Z"))),
                Some("idle_gap")
            ),
            (
                ms(t("2026-03-10T10:00:00Z")),
                Some(ms(t("2026-03-10T10:29:59.500Z"))),
                Some("idle_gap")
            ),
        ]
    );
    assert!(sessions.iter().all(|s| matches!(s.phase, Phase::Reduced { .. })));
    assert!(dump.events.iter().all(|e| e.event.title.as_deref() != Some("idle.rs")));
    let chrome: Vec<_> = dump.events.iter().filter(|e| e.event.app == "Chrome").collect();
    assert_eq!(chrome.len(), 2, "the tab at its start and its end");
    assert_eq!(chrome[0].event.url.as_deref(), Some("https://doc.rust-lang.org/"));
    assert_eq!(chrome[0].event.source.as_deref(), Some("aw-watcher-web-chrome_host"));

    // The day log, and doctor clean.
    let day = dir.daybook(&["show", "2026-03-10"]).assert_ok("show").stdout;
    assert!(day.contains("09:00–09:19"), "{day}");
    assert!(day.contains("10:00–10:29"), "{day}");
    assert!(day.contains("Slack") && day.contains("Chrome"), "{day}");
    doctor_ok(&dir);

    // Again: nothing new, nothing changed.
    let before = canonical(&db);
    let again = dir
        .daybook(&["import", "activitywatch", &export])
        .assert_ok("again")
        .stdout;
    assert!(again.contains("buckets: 0 new (4 read)"), "{again}");
    assert!(again.contains("events: 0 new (31 read"), "{again}");
    assert!(again.contains("derived: 0 sessions"), "{again}");
    assert_eq!(canonical(&db), before, "a second import changed the database");
}

#[test]
fn without_the_afk_watcher_the_screen_left_on_keeps_the_session() {
    let dir = TestDir::new("");
    let mut export = morning();
    export["buckets"].as_object_mut().unwrap().remove("aw-watcher-afk_host");
    let path = write_json(&dir, "export.json", &export);
    dir.daybook(&["import", "activitywatch", &path]).assert_ok("import");
    let dump = dir.dump();
    let held = ms(t("2026-03-10T09:40:00Z"));
    assert!(
        dump.sessions
            .iter()
            .any(|s| s.start <= held && s.phase.end().is_some_and(|e| e >= held)),
        "{:?}",
        dump.sessions
    );
    assert!(dump.events.iter().any(|e| e.event.title.as_deref() == Some("idle.rs")));
}

/// The morning as an aw-server-rust database (schema 4 onwards: `buckets`
/// with `data`, `events` in nanoseconds).
fn as_rust_database(export: &Value, path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE buckets (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
           client TEXT NOT NULL, hostname TEXT NOT NULL, created TEXT NOT NULL, data_deprecated TEXT DEFAULT '{}',
           data TEXT NOT NULL DEFAULT '{}');
         CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, bucketrow INTEGER NOT NULL, starttime INTEGER NOT NULL,
           endtime INTEGER NOT NULL, data TEXT NOT NULL, FOREIGN KEY (bucketrow) REFERENCES buckets(id));
         CREATE TABLE key_value (key TEXT PRIMARY KEY, value TEXT, last_modified NUMBER NOT NULL);
         PRAGMA user_version = 4;",
    )
    .unwrap();
    for (id, b) in export["buckets"].as_object().unwrap() {
        conn.execute(
            "INSERT INTO buckets (name, type, client, hostname, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                id,
                b["type"].as_str(),
                b["client"].as_str(),
                b["hostname"].as_str(),
                b["created"].as_str()
            ],
        )
        .unwrap();
        let row = conn.last_insert_rowid();
        for e in b["events"].as_array().unwrap() {
            let start = t(e["timestamp"].as_str().unwrap()).timestamp_nanos_opt().unwrap();
            let end = start + (e["duration"].as_f64().unwrap() * 1e9).round() as i64;
            conn.execute(
                "INSERT INTO events (bucketrow, starttime, endtime, data) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![row, start, end, e["data"].to_string()],
            )
            .unwrap();
        }
    }
}

#[test]
fn a_database_and_a_server_give_what_the_export_gives() {
    let source = TestDir::new("");
    let export = morning();
    let file = write_json(&source, "export.json", &export);
    let rust_db = source.path().join("sqlite.db");
    as_rust_database(&export, &rust_db);

    let from_file = TestDir::new("");
    from_file.daybook(&["import", "activitywatch", &file]).assert_ok("file");
    let from_db = TestDir::new("");
    let ran = from_db
        .daybook(&["import", "activitywatch", rust_db.to_str().unwrap(), "--json"])
        .assert_ok("database")
        .json();
    assert_eq!(ran["format"], "aw-server-rust");
    let (base, seen) = serve(200, export_text(&export));
    let from_server = TestDir::new("");
    let ran = from_server
        .daybook(&["import", "activitywatch", "--from", &base, "--json"])
        .assert_ok("server")
        .json();
    assert_eq!(ran["source"], format!("{base}/api/0/export"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, ["GET /api/0/export HTTP/1.1"]);
    assert!(
        std::fs::read_dir(from_server.data()).unwrap().all(|f| !f
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".aw-export")),
        "the downloaded export is removed"
    );
    let expected = from_file.dump();
    assert_eq!(from_db.dump(), expected);
    assert_eq!(from_server.dump(), expected);
    assert_eq!(from_db.day_files(), from_file.day_files());
    doctor_ok(&from_db);
}

#[test]
fn bad_inputs_are_refused_and_write_nothing() {
    let dir = TestDir::new("");
    // Something already there, which must stay as it is.
    let ok = write_json(&dir, "ok.json", &morning());
    dir.daybook(&["import", "activitywatch", &ok]).assert_ok("import");
    let before = canonical(&dir.db());
    let refused = |path: &str, needle: &str| {
        let ran = dir.daybook(&["import", "activitywatch", path]);
        assert!(!ran.ok(), "{path} was accepted");
        assert!(ran.stderr.contains(needle), "{path}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("nothing was imported") || needle.contains("nothing"),
            "{}",
            ran.stderr
        );
        assert_eq!(canonical(&dir.db()), before, "{path} changed the database");
    };
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    refused(&p("missing.json"), "no such file");
    refused(dir.path().to_str().unwrap(), "a directory");
    std::fs::write(p("empty.db"), b"").unwrap();
    refused(&p("empty.db"), "an empty file");
    let foreign = p("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE songs (title TEXT)")
        .unwrap();
    refused(&foreign, "neither an aw-server-rust nor an aw-server database");
    let empty_sqlite = p("empty-sqlite.db");
    Connection::open(&empty_sqlite)
        .unwrap()
        .execute_batch("PRAGMA user_version = 1; CREATE TABLE t (x); DROP TABLE t;")
        .unwrap();
    refused(&empty_sqlite, "(its tables: none)");
    std::fs::write(p("list.json"), b"[{\"timestamp\": 1}]").unwrap();
    refused(&p("list.json"), "not an ActivityWatch export");
    let sorted = p("sorted.json");
    std::fs::write(&sorted, serde_json::to_vec(&morning()).unwrap()).unwrap();
    refused(&sorted, "lists its events before its \"type\"");
    // A bad event late in the file: named, and nothing before it written.
    let mut late_bad = morning();
    late_bad["buckets"]["aw-watcher-window_host"]["events"][24]["timestamp"] = json!("2200-01-01T00:00:00+00:00");
    late_bad["buckets"]["aw-watcher-window_host"]["events"][0]["data"]["title"] = json!("new title");
    refused(
        &write_json(&dir, "future.json", &late_bad),
        "event 25 of bucket \"aw-watcher-window_host\": it ends further in the future",
    );
    let (base, _) = serve(404, "{\"message\": \"no\"}".into());
    let ran = dir.daybook(&["import", "activitywatch", "--from", &base]);
    assert!(!ran.ok() && ran.stderr.contains("answered 404"), "{}", ran.stderr);
    assert_eq!(canonical(&dir.db()), before);
}

/// `days` days of eight working hours: window events of 20 to 50 seconds,
/// a tab now and then, a lunch hour away, so about 800 raw events a day.
fn big_export(days: i64) -> Value {
    let apps = ["Code", "Firefox", "Slack", "Terminal"];
    let (mut window, mut web, mut afk) = (Vec::new(), Vec::new(), Vec::new());
    let mut id = 0;
    for d in 0..days {
        let day = t("2026-01-05T08:00:00Z") + Duration::days(d);
        afk.push(event(id, day, 4.0 * 3600.0, json!({"status": "not-afk"})));
        afk.push(event(
            id + 1,
            day + Duration::hours(4),
            3600.0,
            json!({"status": "afk"}),
        ));
        afk.push(event(
            id + 2,
            day + Duration::hours(5),
            3.0 * 3600.0,
            json!({"status": "not-afk"}),
        ));
        let mut at = day;
        let mut k = 0;
        while at < day + Duration::hours(8) {
            id += 1;
            k += 1;
            let secs = 20 + (k * 7) % 31;
            let app = apps[(k / 3) % apps.len()];
            window.push(event(
                id,
                at,
                secs as f64,
                json!({"app": app, "title": format!("{app} {d}.{k}")}),
            ));
            if k % 10 == 0 {
                web.push(event(id, at, 12.5, json!({"url": format!("https://example.org/{d}/{k}"), "title": "Example", "audible": false, "incognito": false, "tabCount": 2})));
            }
            at += Duration::seconds(secs as i64 + 1);
            // A coffee break without the AFK watcher noticing it.
            if k % 150 == 0 {
                at += Duration::minutes(7);
            }
        }
    }
    json!({"buckets": {
        "aw-watcher-window_host": bucket("aw-watcher-window_host", "currentwindow", "aw-watcher-window", window),
        "aw-watcher-web-firefox_host": bucket("aw-watcher-web-firefox_host", "web.tab.current", "aw-client-web", web),
        "aw-watcher-afk_host": bucket("aw-watcher-afk_host", "afkstatus", "aw-watcher-afk", afk),
    }})
}

#[test]
fn a_kill_mid_import_then_a_rerun_ends_as_one_uninterrupted_import() {
    let source = TestDir::new("");
    let export = write_json(&source, "big.json", &big_export(40));

    let whole = TestDir::new("");
    let ran = whole
        .daybook(&["import", "activitywatch", &export, "--json"])
        .assert_ok("uninterrupted import")
        .json();
    let raw = ran["events"]["new"].as_u64().unwrap();
    assert!(raw > 20_000, "{ran}");
    assert!(ran["batches"].as_u64().unwrap() > 3, "{ran}");
    let expected = canonical(&whole.db());
    doctor_ok(&whole);

    // Killed twice: once while storing raw events, once while deriving.
    let killed = TestDir::new("");
    let db = killed.db();
    for (what, sql) in [
        ("raw events stored", "SELECT count(*) FROM aw_events"),
        ("sessions derived", "SELECT count(*) FROM sessions"),
    ] {
        let mut child = killed
            .command()
            .args(["import", "activitywatch", &export])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        poll(&format!("the import to commit {what}"), || {
            let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
            let n: i64 = conn.query_row(sql, [], |r| r.get(0)).ok()?;
            (n > 0).then_some(())
        });
        child.kill().expect("kill -9");
        let status = child.wait().expect("reap");
        assert!(
            status.code().is_none(),
            "the import finished before the kill ({what}): {status:?}"
        );
    }
    let partial = count(&db, "SELECT count(*) FROM aw_pending");
    assert!(partial > 0, "the kill landed after the derivation");
    let rerun = killed
        .daybook(&["import", "activitywatch", &export, "--json"])
        .assert_ok("re-run")
        .json();
    assert!(rerun["derived_from"].as_u64().unwrap() < raw, "{rerun}");
    assert_eq!(
        canonical(&db),
        expected,
        "the re-run differs from one uninterrupted import"
    );
    assert_eq!(killed.day_files(), whole.day_files());
    doctor_ok(&killed);
}
