//! Named crash points: the daemon, built with the `failpoints` feature and
//! started with `FAILPOINTS="<point>=return"`, SIGKILLs itself exactly at
//! one point (daemon/src/crash.rs). Each test drives it there, checks it
//! died by signal 9 and left the state that point implies, restarts it
//! without failpoints, and checks it comes back clean.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use common::{Daemon, Fixture, STARTUP, assert_clean, event, millis, now_rfc3339};
use serde_json::{Value, json};

fn assert_sigkilled(status: ExitStatus, daemon: &Daemon, point: &str) {
    assert_eq!(
        status.signal(),
        Some(9),
        "{point}: the daemon was not SIGKILLed there ({status}):\n{}",
        daemon.log_text()
    );
}

/// Starts the daemon with `failpoint` armed and asserts that the start
/// died by SIGKILL at `point` before it accepted events (`what` says
/// what it would have skipped).
fn killed_while_starting(fx: &Fixture, failpoint: &str, point: &str, what: &str) {
    let mut daemon = Daemon::spawn(fx, Some(failpoint));
    let status = daemon.wait_exit(STARTUP);
    assert_sigkilled(status, &daemon, point);
    assert!(!fx.data.join("daybook.addr").exists(), "it accepted events {what}");
}

/// Posts `n` events of distinct apps now, tagged `prefix-i`; returns the
/// tags.
fn post_batch(daemon: &Daemon, prefix: &str, n: usize) -> Vec<String> {
    post_batch_at(daemon, &now_rfc3339(), prefix, n)
}

/// Posts `n` events of distinct apps at `at` (RFC 3339), tagged
/// `prefix-i`; returns the tags.
fn post_batch_at(daemon: &Daemon, at: &str, prefix: &str, n: usize) -> Vec<String> {
    let tags: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let batch: Vec<Value> = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| event(["Code", "Firefox", "Terminal"][i % 3], at, tag))
        .collect();
    daemon.post_ok(&Value::Array(batch));
    tags
}

/// Restarts without failpoints, posts two more events, stops cleanly and
/// checks everything.
fn comes_back_clean(fx: &Fixture, mut acked: Vec<String>, absent: &[String]) {
    let mut daemon = Daemon::start(fx);
    acked.extend(post_batch(&daemon, "after", 2));
    daemon.stop();
    assert_clean(fx, &acked, absent);
}

#[test]
fn ingest_mid_transaction() {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    let acked = post_batch(&daemon, "before", 4);
    daemon.stop();

    let mut daemon = Daemon::start_with(&fx, Some("ingest-mid-transaction=return"));
    let at = now_rfc3339();
    let doomed: Vec<String> = (0..10).map(|i| format!("doomed-{i}")).collect();
    let batch: Vec<Value> = doomed.iter().map(|t| event("Mail", &at, t)).collect();
    let reply = daemon.post(&Value::Array(batch));
    assert!(
        reply.is_err(),
        "a group commit that was killed half-way was acknowledged: {reply:?}"
    );
    let status = daemon.wait_exit(STARTUP);
    assert_sigkilled(status, &daemon, "ingest-mid-transaction");

    // The half-inserted transaction is gone: all or nothing.
    let dump = fx.dump();
    assert_eq!(
        dump.events.len(),
        acked.len(),
        "part of the killed group commit survived"
    );
    comes_back_clean(&fx, acked, &doomed);
}

/// Starts the daemon with `point` armed, posts six events and stops it
/// with SIGTERM, which ends the session (committed), runs its final
/// reduction and writes its day file: checks it died at `point`, and
/// returns the tags acknowledged.
fn killed_on_stop_at(fx: &Fixture, point: &str) -> Vec<String> {
    let mut daemon = Daemon::start_with(fx, Some(&format!("{point}=return")));
    let acked = post_batch(&daemon, "before", 6);
    let status = daemon.terminate(STARTUP);
    assert_sigkilled(status, &daemon, point);
    acked
}

#[test]
fn reduction_before_commit() {
    let fx = Fixture::new("");
    // The final reduction dies before its commit.
    let acked = killed_on_stop_at(&fx, "reduction-before-commit");

    let dump = fx.dump();
    assert!(dump.entries.is_empty(), "the killed reduction committed an entry");
    assert_eq!(dump.sessions.len(), 1);
    assert_eq!(dump.sessions[0].phase.status(), "ended", "{:?}", dump.sessions[0]);
    assert!(
        dump.blocks.iter().all(|b| b.covered_by.is_none()),
        "a block was marked covered"
    );

    comes_back_clean(&fx, acked, &[]);
    let sessions = fx.sessions();
    let first = &sessions[0];
    assert_eq!(
        (first["status"].as_str(), first["end_reason"].as_str()),
        (Some("reduced"), Some("shutdown"))
    );
    let entries = fx.dump().entries;
    let of_first: Vec<_> = entries
        .iter()
        .filter(|e| json!(e.session_id.0) == first["id"])
        .collect();
    assert_eq!(
        of_first.len(),
        1,
        "the interrupted session must be reduced exactly once: {of_first:#?}"
    );
}

#[test]
fn recovery_before_commit() {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    let acked = post_batch(&daemon, "before", 5);
    let last_at = now_rfc3339();
    daemon.post_ok(&json!([event("Notes", &last_at, "before-last")]));
    let status = daemon.kill9();
    assert_eq!(status.signal(), Some(9));
    let orphaned = fx.dump();
    assert_eq!(orphaned.sessions[0].phase.status(), "active", "no orphan to recover");

    killed_while_starting(
        &fx,
        "recovery-before-commit=return",
        "recovery-before-commit",
        "before recovering",
    );
    // The recovery transaction left nothing behind. (The orphan's blocks,
    // built from its durable events in the transaction before, may stay.)
    let after = fx.dump();
    assert_eq!(after.sessions, orphaned.sessions, "a killed recovery changed sessions");
    assert_eq!(after.events, orphaned.events);
    assert_eq!(after.entries, orphaned.entries);

    let mut acked = acked;
    acked.push("before-last".into());
    comes_back_clean(&fx, acked, &[]);
    let sessions = fx.sessions();
    let orphan = sessions
        .iter()
        .find(|s| s["id"] == json!(orphaned.sessions[0].id.0))
        .expect("the orphan");
    assert_eq!(orphan["end_reason"], "recovered", "{orphan}");
    assert_eq!(orphan["status"], "reduced", "{orphan}");
    assert_eq!(
        millis(orphan["end"].as_str().expect("an end")),
        millis(&last_at),
        "{orphan}"
    );
}

/// The days `stale_days` lists, read from the stopped daemon's database.
fn stale_days(fx: &Fixture) -> Vec<String> {
    let store = daybook::SqliteStore::open_read_only(&fx.db()).expect("open");
    let mut stmt = store
        .connection()
        .prepare("SELECT day FROM stale_days ORDER BY day")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// A stop killed at `point`, after the reduction committed and before
/// its day file settled: the entry is stored, the day's file stands
/// alone in `days/` as `prefix`…`suffix`, and the database still lists
/// the day. The next start renders it again and unlists it.
fn killed_before_the_day_file_settles(point: &str, prefix: &str, suffix: &str) {
    let fx = Fixture::new("");
    let acked = killed_on_stop_at(&fx, point);

    let dump = fx.dump();
    assert_eq!(dump.entries.len(), 1, "the reduction did not commit");
    let names = fx.day_dir_names();
    assert!(
        names.len() == 1 && names[0].starts_with(prefix) && names[0].ends_with(suffix),
        "expected only the day's file as {prefix}…{suffix}: {names:?}"
    );
    let day = names[0].trim_start_matches(prefix).trim_end_matches(suffix).to_owned();
    assert_eq!(stale_days(&fx), [day], "the commit did not list its day");

    comes_back_clean(&fx, acked, &[]);
    let names = fx.day_dir_names();
    assert!(names.iter().all(|n| n.starts_with("event-")), "{names:?}");
    assert_eq!(stale_days(&fx), [] as [String; 0], "a start left a durable day listed");
}

/// The day file is durable and in place; its day is not yet taken off
/// `stale_days`.
#[test]
fn dayfile_before_settle() {
    killed_before_the_day_file_settles("dayfile-before-settle", "event-", ".md");
}

/// The day file is still only a (synced) temp file.
#[test]
fn dayfile_before_rename() {
    killed_before_the_day_file_settles("dayfile-before-rename", ".event-", ".md.tmp");
}

/// Now minus `days` times 24 hours, RFC 3339 with the local offset: an
/// instant of an earlier local day.
fn days_ago(days: i64) -> String {
    (chrono::Local::now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// A history of several days whose files the next start must all rewrite
/// in its one pass: events today, left open by a `kill -9` (the start
/// recovers and reduces the session), late events one, two and three
/// days back (a late session each), then every file of `days/` removed
/// (a data directory restored without its day files). Returns the tags
/// acknowledged.
fn several_stale_days(fx: &Fixture) -> Vec<String> {
    let mut daemon = Daemon::start(fx);
    let mut acked = post_batch(&daemon, "today", 3);
    for k in 1..=3 {
        acked.extend(post_batch_at(&daemon, &days_ago(k), &format!("late{k}"), 3));
    }
    assert_eq!(daemon.kill9().signal(), Some(9));
    for name in fx.day_dir_names() {
        std::fs::remove_file(fx.days().join(&name)).expect("removing a day file");
    }
    acked
}

/// The start's day-file pass (`projection::rebuild`) killed after its
/// `syncfs`, once `renamed` of its files were renamed into place: the
/// days it had rendered are the renamed files and the durable temp files
/// of the rest, each the day's rendering. The next start leaves every
/// day file its rendering, no temp file, no day listed stale, nothing
/// lost.
fn dayfile_rebuild_killed_after(renamed: usize) {
    let fx = Fixture::new("");
    let acked = several_stale_days(&fx);
    let failpoint = match renamed {
        0 => "dayfile-rebuild-rename=return".to_owned(),
        n => format!("dayfile-rebuild-rename={n}*off->return"),
    };
    killed_while_starting(
        &fx,
        &failpoint,
        "dayfile-rebuild-rename",
        "before its day files were written",
    );

    // Recovery and reduce-pending committed before the pass.
    let dump = fx.dump();
    assert!(
        dump.sessions.iter().all(|s| s.phase.status() == "reduced"),
        "{:#?}",
        dump.sessions
    );
    let days: std::collections::BTreeSet<String> = dump.entries.iter().map(|e| e.day().to_string()).collect();
    let days: Vec<String> = days.into_iter().collect();
    assert!(days.len() >= 4, "today and three days back: {days:?}");
    // The pass renames in day order; it died before the next rename.
    let files: Vec<String> = days[..renamed].iter().map(|d| format!("event-{d}.md")).collect();
    let temps: Vec<String> = days[renamed..].iter().map(|d| format!(".event-{d}.md.tmp")).collect();
    let mut want: Vec<String> = temps.iter().chain(&files).cloned().collect();
    want.sort();
    assert_eq!(fx.day_dir_names(), want, "days with entries: {days:?}");
    for (day, name) in days.iter().zip(files.iter().chain(&temps)) {
        let shown = fx.run(&["show", day]);
        assert!(shown.status.success(), "daybook show {day} failed");
        assert_eq!(
            std::fs::read(fx.days().join(name)).expect("reading a day's file"),
            shown.stdout,
            "{name} is not the rendering of {day}"
        );
    }

    comes_back_clean(&fx, acked, &[]);
    assert_eq!(stale_days(&fx), [] as [String; 0], "a start left a durable day listed");
    let files = fx.day_files();
    let missing: Vec<&String> = days.iter().filter(|d| !files.contains_key(*d)).collect();
    assert!(missing.is_empty(), "days left without their file: {missing:?}");
}

#[test]
fn dayfile_rebuild_before_the_renames() {
    dayfile_rebuild_killed_after(0);
}

#[test]
fn dayfile_rebuild_in_the_middle_of_the_renames() {
    dayfile_rebuild_killed_after(2);
}
