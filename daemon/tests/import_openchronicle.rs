//! `daybook import openchronicle` on what OpenChronicle itself writes
//! (common/openchronicle.rs): sessions of every status with their blocks
//! and the reducer's memory-file entries; the day logs and `doctor` after
//! the import and after the next start; "0 new" on a second import;
//! refused inputs that write nothing; and a kill -9 mid-import, re-run,
//! ending exactly where one uninterrupted import ends.

mod common;

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use common::openchronicle::{Block, Entry, Root, Session, at};
use common::{TestDir, ms, poll};
use daybook_core::{EntryKind, Phase, check};
use serde_json::{Value, json};

/// `n` one-minute blocks from `start`, the app changing every five.
fn blocks(root: &mut Root, start: &str, n: i64, apps: &[&str]) -> Vec<Block> {
    let t0 = at(start);
    (0..n)
        .map(|k| {
            let app = apps[(k / 5) as usize % apps.len()];
            let b = Block {
                start: t0 + chrono::Duration::minutes(k),
                end: t0 + chrono::Duration::minutes(k + 1),
                entries: vec![format!("[{app}] window {k}: worked on “daybook”, involving —")],
                apps: vec![app.to_owned()],
                captures: 3 + k % 4,
            };
            root.block(&b);
            b
        })
        .collect()
}

fn entry(session: &Session, from: &str, to: &str, flush: bool, lines: &[&str]) -> Entry {
    Entry {
        session: session.id.clone(),
        session_start: session.start,
        from: at(from),
        to: at(to),
        flush,
        heuristic: false,
        summary: format!("Worked from {} to {}.", &from[11..16], &to[11..16]),
        sub_tasks: lines.iter().map(|l| (*l).to_owned()).collect(),
    }
}

fn oc_session(root: &mut Root, start: &str, end: Option<&str>, status: &'static str) -> Session {
    let s = Session {
        id: root.session_id(),
        start: at(start),
        end: end.map(at),
        status,
        retry_count: u32::from(status == "failed").into(),
        flush_end: None,
    };
    root.session(&s);
    s
}

/// A day of OpenChronicle (2026-03-10, +01:00): a reduced session with
/// two flushes and a final entry; a reduced one whose entries are lost; a
/// failed one; an ended one (killed before its final reduction) with one
/// flush; the active one (an orphan) with two flushes; a block in no
/// session; and an entry whose session row is gone.
struct Day {
    reduced: Session,
    lost: Session,
    failed: Session,
    ended: Session,
    orphan: Session,
}

fn openchronicle_day(root: &mut Root) -> Day {
    let reduced = oc_session(
        root,
        "2026-03-10T09:00:12.518000+01:00",
        Some("2026-03-10T09:29:40+01:00"),
        "reduced",
    );
    blocks(root, "2026-03-10T09:00:00+01:00", 30, &["Code", "Firefox"]);
    root.entry(&entry(
        &reduced,
        "2026-03-10T09:00:12.518000+01:00",
        "2026-03-10T09:05:00+01:00",
        true,
        &["[09:00-09:05, Code] wrote the importer"],
    ));
    root.entry(&entry(
        &reduced,
        "2026-03-10T09:05:00+01:00",
        "2026-03-10T09:10:00+01:00",
        true,
        &["[09:05-09:10, Firefox] read the SQLite docs"],
    ));
    root.entry(&entry(
        &reduced,
        "2026-03-10T09:10:00+01:00",
        "2026-03-10T09:29:40+01:00",
        false,
        &["[09:10-09:29, Code] tested it", "[09:15-09:20, Firefox] searched"],
    ));
    let lost = oc_session(
        root,
        "2026-03-10T10:00:05+01:00",
        Some("2026-03-10T10:19:30+01:00"),
        "reduced",
    );
    blocks(root, "2026-03-10T10:00:00+01:00", 20, &["Slack"]);
    let failed = oc_session(
        root,
        "2026-03-10T11:00:01+01:00",
        Some("2026-03-10T11:09:59+01:00"),
        "failed",
    );
    blocks(root, "2026-03-10T11:00:00+01:00", 10, &["Mail"]);
    let ended = oc_session(
        root,
        "2026-03-10T12:00:00+01:00",
        Some("2026-03-10T12:09:10+01:00"),
        "ended",
    );
    blocks(root, "2026-03-10T12:00:00+01:00", 10, &["Terminal"]);
    root.entry(&entry(
        &ended,
        "2026-03-10T12:00:00+01:00",
        "2026-03-10T12:05:00+01:00",
        true,
        &["[12:00-12:05, Terminal] ran cargo test"],
    ));
    let orphan = oc_session(root, "2026-03-10T13:00:00.123456+01:00", None, "active");
    blocks(root, "2026-03-10T13:00:00+01:00", 12, &["Firefox"]);
    root.entry(&entry(
        &orphan,
        "2026-03-10T13:00:00.123456+01:00",
        "2026-03-10T13:05:00+01:00",
        true,
        &["[13:00-13:05, Firefox] read docs"],
    ));
    root.entry(&entry(
        &orphan,
        "2026-03-10T13:05:00+01:00",
        "2026-03-10T13:10:00+01:00",
        true,
        &["[13:05-13:10, Firefox] read more docs"],
    ));
    // A block of no session, and an entry whose session row is gone.
    blocks(root, "2026-03-10T17:00:00+01:00", 1, &["Music"]);
    let gone = Session {
        id: "sess_0000deadbeef".into(),
        start: at("2026-03-10T07:00:00+01:00"),
        end: None,
        status: "reduced",
        retry_count: 0,
        flush_end: None,
    };
    root.entry(&entry(
        &gone,
        "2026-03-10T07:00:00+01:00",
        "2026-03-10T07:10:00+01:00",
        false,
        &["[07:00-07:10, Notes] wrote a plan"],
    ));
    Day {
        reduced,
        lost,
        failed,
        ended,
        orphan,
    }
}

fn doctor_ok(dir: &TestDir) -> Value {
    let doctor = dir.daybook(&["doctor", "--json"]).assert_ok("doctor").json();
    assert_eq!(doctor["violations"], json!([]), "{doctor}");
    assert_eq!(doctor["ok"], true, "{doctor}");
    doctor
}

fn day_log(dir: &TestDir) -> String {
    dir.daybook(&["show", "2026-03-10"]).assert_ok("show").stdout
}

/// No line says its `[HH:MM-HH:MM, App]` prefix twice.
fn assert_no_double_prefix(log: &str) {
    for line in log.lines() {
        let tags = line.matches(", Firefox]").count() + line.matches(", Code]").count();
        assert!(tags <= 1, "a prefix written twice: {line}\n{log}");
    }
}

#[test]
fn a_day_of_openchronicle_arrives_whole_and_a_second_import_adds_nothing() {
    let dir = TestDir::new("");
    let mut root = Root::create(&dir.path().join("oc"));
    let day = openchronicle_day(&mut root);
    drop(root);
    // The directory, as a user would name ~/.openchronicle.
    let oc = dir.path().join("oc");
    let oc = oc.to_str().unwrap();

    let report = dir
        .daybook(&["import", "openchronicle", oc, "--json"])
        .assert_ok("import")
        .json();
    assert_eq!(report["sessions"], json!({"read": 5, "new": 5}), "{report}");
    assert_eq!(report["orphans"], 1, "{report}");
    assert_eq!(report["blocks"], json!({"read": 83, "new": 83}), "{report}");
    assert_eq!(report["blocks_unowned"], 1, "{report}");
    assert_eq!(report["memory_files"], 1, "{report}");
    assert_eq!(report["entries"], json!({"read": 7, "new": 7}), "{report}");
    assert_eq!(report["entries_unmatched"], 1, "{report}");
    // The one whose entries are lost, the failed one and the ended one.
    assert_eq!(report["pending"], 3, "{report}");

    let dump = dir.dump();
    let status = |id: &str| {
        dump.sessions
            .iter()
            .find(|s| s.id.0 == id)
            .map(|s| s.phase.status())
            .unwrap_or_else(|| panic!("no session {id}"))
    };
    assert_eq!(status(&day.reduced.id), "reduced");
    assert_eq!(status(&day.lost.id), "ended", "its blocks wait for daybook's reduction");
    assert_eq!(status(&day.failed.id), "failed");
    assert_eq!(status(&day.ended.id), "ended");
    assert_eq!(status(&day.orphan.id), "active");
    let own: Vec<_> = dump
        .sessions
        .iter()
        .filter(|s| s.id.0.starts_with("oc-entry-"))
        .collect();
    assert_eq!(own.len(), 1, "the entry of a gone session keeps a session of its own");
    assert_eq!(own[0].start.0, ms("2026-03-10T07:00:00+01:00"));
    let ended = dump.sessions.iter().find(|s| s.id.0 == day.reduced.id).unwrap();
    assert_eq!(ended.phase.end().map(|t| t.0), Some(ms("2026-03-10T09:29:40+01:00")));
    assert_eq!(ended.phase.reason().map(|r| r.as_str()), Some("imported"));

    // Each of the reduced session's 30 blocks is covered by the entry
    // whose window holds it.
    let of = |id: &str| dump.blocks.iter().filter(|b| b.session_id.0 == id).collect::<Vec<_>>();
    assert_eq!(of(&day.reduced.id).len(), 30);
    assert!(of(&day.reduced.id).iter().all(|b| b.covered_by.is_some()));
    let entries: Vec<_> = dump
        .entries
        .iter()
        .filter(|e| e.session_id.0 == day.reduced.id)
        .collect();
    assert_eq!(
        entries.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EntryKind::Flush, EntryKind::Flush, EntryKind::Final]
    );
    let first = entries[0];
    assert_eq!(
        (first.from.0, first.to.0),
        (ms("2026-03-10T09:00:00+01:00"), ms("2026-03-10T09:05:00+01:00"))
    );
    assert_eq!(
        of(&day.reduced.id)
            .iter()
            .filter(|b| b.covered_by == Some(first.id))
            .count(),
        5
    );
    // The orphan's two flushes cover its first ten blocks; two are left.
    let orphan = of(&day.orphan.id);
    assert_eq!(orphan.len(), 12);
    assert_eq!(orphan.iter().filter(|b| b.covered_by.is_none()).count(), 2);
    assert_eq!(of(&day.lost.id).len(), 20);
    assert_eq!(dump.loose_blocks.len(), 1);

    assert_eq!(check(&dump), [], "invariants after the import");
    let doctor = doctor_ok(&dir);
    assert_eq!(doctor["unowned_blocks"].as_array().map(Vec::len), Some(1), "{doctor}");
    let log = day_log(&dir);
    assert!(
        log.contains("wrote the importer") && log.contains("read the SQLite docs"),
        "{log}"
    );
    assert!(log.contains("read docs") && log.contains("wrote a plan"), "{log}");
    assert!(
        !log.contains("read_recent_capture"),
        "OpenChronicle's own pointer: {log}"
    );
    assert_no_double_prefix(&log);
    let files = dir.day_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, log, "the day file is the log");

    // A second import: the same counts read, nothing new, nothing changed.
    let human = dir
        .daybook(&["import", "openchronicle", oc])
        .assert_ok("second import")
        .stdout;
    assert!(human.contains("sessions: 0 new (5 read"), "{human}");
    assert!(human.contains("timeline blocks: 0 new (83 read"), "{human}");
    assert!(human.contains("log entries: 0 new (7 read"), "{human}");
    assert_eq!(dir.dump(), dump, "a second import changed the database");

    // The next start: the orphan recovered at its last block, every
    // pending session reduced by daybook, the day log complete.
    dir.daybook(&["reduce-pending", "--json"]).assert_ok("reduce-pending");
    let after = dir.dump();
    assert_eq!(
        daybook_core::check_quiet(&after).len(),
        0,
        "{:?}",
        daybook_core::check_quiet(&after)
    );
    let orphan = after.sessions.iter().find(|s| s.id.0 == day.orphan.id).unwrap();
    assert_eq!(orphan.phase.end().map(|t| t.0), Some(ms("2026-03-10T13:12:00+01:00")));
    assert!(matches!(orphan.phase, Phase::Reduced { .. }));
    let log = day_log(&dir);
    assert!(
        log.contains("Slack") && log.contains("Mail"),
        "the sessions daybook reduced: {log}"
    );
    assert_no_double_prefix(&log);
    doctor_ok(&dir);
    // And importing once more still adds nothing.
    let again = dir
        .daybook(&["import", "openchronicle", oc, "--json"])
        .assert_ok("third import")
        .json();
    assert_eq!(again["entries"]["new"], 0, "{again}");
    assert_eq!(again["blocks"]["new"], 0, "{again}");
    assert_eq!(dir.dump(), after);
}

/// What a refused import leaves: no row anywhere.
fn assert_nothing_written(dir: &TestDir) {
    if dir.db().exists() {
        let dump = dir.dump();
        assert!(
            dump.sessions.is_empty()
                && dump.blocks.is_empty()
                && dump.loose_blocks.is_empty()
                && dump.entries.is_empty(),
            "a refused import wrote {dump:?}"
        );
    }
}

#[test]
fn bad_inputs_are_refused_by_name_and_write_nothing() {
    let dir = TestDir::new("");
    let refused = |path: &std::path::Path, says: &str| {
        let out = dir.daybook(&["import", "openchronicle", path.to_str().unwrap()]);
        assert!(!out.ok(), "{} was accepted: {out:?}", path.display());
        assert!(
            out.stderr.contains(says),
            "{}: expected {says:?} in {}",
            path.display(),
            out.stderr
        );
        assert!(out.stderr.contains("nothing was imported"), "{}", out.stderr);
        assert_nothing_written(&dir);
    };
    refused(&dir.path().join("missing.db"), "no such file or directory");
    let empty_dir = dir.path().join("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    refused(&empty_dir, "a directory without an index.db");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    refused(&empty, "an empty SQLite file");
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, just some text that is long enough to have a header",
    )
    .unwrap();
    refused(&text, "not a SQLite database");
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE sessions (id TEXT); CREATE TABLE songs (title TEXT);")
        .unwrap();
    refused(
        &foreign,
        "not an OpenChronicle index.db: it has no table timeline_blocks",
    );

    let newer = dir.path().join("newer");
    let mut root = Root::create(&newer);
    openchronicle_day(&mut root);
    root.connection()
        .execute_batch("ALTER TABLE sessions ADD COLUMN project_id TEXT")
        .unwrap();
    drop(root);
    refused(
        &newer.join("index.db"),
        "a newer OpenChronicle schema: table sessions has a column project_id",
    );

    // A bad row near the end: named, and nothing of the good ones written.
    let broken = dir.path().join("broken");
    let mut root = Root::create(&broken);
    openchronicle_day(&mut root);
    root.connection()
        .execute(
            "UPDATE timeline_blocks SET end_time = '2026-03-10 25:99' WHERE start_time = '2026-03-10T17:00:00+01:00'",
            [],
        )
        .unwrap();
    drop(root);
    refused(&broken, "is not an ISO-8601 instant");

    // A session or a block that ends before it starts: named by its kind
    // and id.
    for (table, kind) in [("sessions", "session"), ("timeline_blocks", "timeline block")] {
        let reversed = dir.path().join(format!("reversed-{table}"));
        let mut root = Root::create(&reversed);
        openchronicle_day(&mut root);
        let id: String = root
            .connection()
            .query_row(
                &format!("SELECT id FROM {table} WHERE end_time IS NOT NULL ORDER BY start_time DESC LIMIT 1"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        root.connection()
            .execute(
                &format!("UPDATE {table} SET end_time = '2026-03-01T07:00:00+01:00' WHERE id = ?1"),
                [&id],
            )
            .unwrap();
        drop(root);
        refused(&reversed, &format!("{kind} {id:?} ends before it starts"));
    }
}

/// A year-like history: `n` sessions of 20 blocks and three entries each.
fn big_history(path: &std::path::Path, n: i64) {
    let mut root = Root::create(path);
    root.connection().execute_batch("BEGIN").unwrap();
    let t0: DateTime<FixedOffset> = at("2026-01-05T08:00:00+01:00");
    for i in 0..n {
        let start = t0 + chrono::Duration::minutes(i * 40);
        let end = start + chrono::Duration::minutes(19) + chrono::Duration::seconds(30);
        let s = Session {
            id: root.session_id(),
            start,
            end: Some(end),
            status: "reduced",
            retry_count: 0,
            flush_end: Some(start + chrono::Duration::minutes(20)),
        };
        root.session(&s);
        for k in 0..20 {
            root.block(&Block {
                start: start + chrono::Duration::minutes(k),
                end: start + chrono::Duration::minutes(k + 1),
                entries: vec![format!("[Code] file {i}.{k}: edited")],
                apps: vec!["Code".into()],
                captures: 4,
            });
        }
        let hm = |m: i64| (start + chrono::Duration::minutes(m)).to_rfc3339();
        for (from, to, flush) in [(0, 5, true), (5, 10, true), (10, 20, false)] {
            let to_t = if flush { at(&hm(to)) } else { end };
            root.entry(&Entry {
                session: s.id.clone(),
                session_start: start,
                from: at(&hm(from)),
                to: to_t,
                flush,
                heuristic: false,
                summary: format!("Session {i} part {from}."),
                sub_tasks: vec![format!(
                    "[{}-{}, Code] edited files",
                    &hm(from)[11..16],
                    &hm(to)[11..16]
                )],
            });
        }
    }
    root.connection().execute_batch("COMMIT").unwrap();
}

#[test]
fn a_kill_mid_import_then_a_rerun_ends_as_one_uninterrupted_import() {
    let source = TestDir::new("");
    big_history(&source.path().join("oc"), 900);
    let oc = source.path().join("oc");
    let oc = oc.to_str().unwrap();

    let whole = TestDir::new("");
    whole
        .daybook(&["import", "openchronicle", oc])
        .assert_ok("uninterrupted import");
    let expected = whole.dump();
    assert_eq!(expected.blocks.len(), 900 * 20);
    assert_eq!(expected.entries.len(), 900 * 3);
    assert!(expected.blocks.iter().all(|b| b.covered_by.is_some()));

    let killed = TestDir::new("");
    let mut child = killed
        .command()
        .args(["import", "openchronicle", oc])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill once some blocks are committed and no entry yet: mid-import.
    let db = killed.db();
    poll("the import to commit its first blocks", || {
        let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        let n: i64 = conn.query_row("SELECT count(*) FROM blocks", [], |r| r.get(0)).ok()?;
        (n > 0).then_some(())
    });
    child.kill().expect("kill -9");
    let status = child.wait().expect("reap");
    assert!(
        status.code().is_none(),
        "the import finished before the kill: {status:?}"
    );
    let partial = killed.dump();
    assert!(
        partial.entries.len() < expected.entries.len() && partial.blocks.len() < expected.blocks.len() + 1,
        "the kill landed after the import"
    );
    std::thread::sleep(Duration::from_millis(10));
    let rerun = killed
        .daybook(&["import", "openchronicle", oc, "--json"])
        .assert_ok("re-run")
        .json();
    assert!(
        rerun["blocks"]["new"].as_u64().unwrap() < 900 * 20 || partial.blocks.is_empty(),
        "{rerun}"
    );
    assert_eq!(
        killed.dump(),
        expected,
        "the re-run differs from one uninterrupted import"
    );
    assert_eq!(killed.day_files(), whole.day_files());
    doctor_ok(&killed);
}

/// `daybook recover` on a history of many orphans lists the first few
/// on a terminal and says how many more there are; `--json` lists every
/// one, and the count line counts them all.
#[test]
fn recover_lists_a_few_orphans_and_counts_them_all() {
    let dir = TestDir::new("");
    let mut root = Root::create(&dir.path().join("oc"));
    let t0: DateTime<FixedOffset> = at("2026-03-10T08:00:00+01:00");
    for i in 0..25 {
        let start = t0 + chrono::Duration::minutes(i * 30);
        oc_session(&mut root, &start.to_rfc3339(), None, "active");
        root.block(&Block {
            start,
            end: start + chrono::Duration::minutes(1),
            entries: vec![format!("[Code] file {i}: edited")],
            apps: vec!["Code".into()],
            captures: 2,
        });
    }
    drop(root);
    let oc = dir.path().join("oc");
    let report = dir
        .daybook(&["import", "openchronicle", oc.to_str().unwrap(), "--json"])
        .assert_ok("import")
        .json();
    assert_eq!(report["orphans"], 25, "{report}");

    let dry = dir
        .daybook(&["recover", "--dry-run", "--json"])
        .assert_ok("dry run")
        .json();
    assert_eq!(dry["recovered"].as_array().map(Vec::len), Some(25), "{dry}");

    let ran = dir.daybook(&["recover"]).assert_ok("recover");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"25 orphan session(s) recovered"), "{}", ran.stdout);
    let listed = lines.iter().filter(|l| l.contains(" ends ")).count();
    assert_eq!(listed, 20, "{}", ran.stdout);
    assert_eq!(
        lines.last(),
        Some(&"  … and 5 more (--json lists every one)"),
        "{}",
        ran.stdout
    );
    assert_eq!(lines.len(), 22, "{}", ran.stdout);
    assert!(
        dir.dump().sessions.iter().all(|s| s.phase.end().is_some()),
        "every orphan ended"
    );
}
