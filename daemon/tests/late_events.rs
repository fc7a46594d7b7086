//! Late events against the real binary (SPEC §2, issue 11): a capture
//! client that buffered while daybook was down replays its backlog with
//! the events' original `at`, and every event lands where it happened:
//! attributed at its own time, in a session confined to the gap it fell
//! in (or the session that holds its instant), reduced into the day file
//! of its own local date, without touching any other day's file.
//!
//! The harness has no injected clock, so the scenarios run on fixed dates
//! in the past (the test config allows events ten years old): "today" is
//! the day of the latest activity the daemon has seen, "yesterday" the
//! day before it. Every `at` carries `+01:00`, the client's local time,
//! which is what names a day file.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, FixedOffset};
use common::{FAST_TICK, TestDir};
use daybook_core::{Dump, EndReason, Entry, Phase, Session, StoredEvent, check_quiet};
use serde_json::{Value, json};

/// `(at, app, title)` of one event as the client sends it.
type Sent = (String, &'static str, String);

fn parse(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("test instant")
}

fn ms(s: &str) -> i64 {
    parse(s).timestamp_millis()
}

/// Events every `step` seconds in `[from, to]`, titled `{tag} HH:MM:SS` so
/// each is found again by title, in runs of two minutes per app (no soft
/// cut, a few switches).
fn events(tag: &str, from: &str, to: &str, step: i64) -> Vec<Sent> {
    let (from, to) = (parse(from), parse(to));
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        let run = (t - from).num_seconds() / 120;
        let app = ["Code", "Firefox", "Terminal"][(run % 3) as usize];
        out.push((t.to_rfc3339(), app, format!("{tag} {}", t.format("%H:%M:%S"))));
        t += Duration::seconds(step);
    }
    out
}

fn body(events: &[Sent]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|(at, app, title)| json!({"at": at, "app": app, "title": title, "source": "aw-client-queue"}))
            .collect(),
    )
}

/// Sends `events` in order, `per_batch` a request, as a client draining
/// its queue does; checks each reply counts every event of it as
/// accepted and as late (`late` = `true`) or none of them.
fn send(daemon: &common::Daemon, events: &[Sent], per_batch: usize, late: bool) {
    for chunk in events.chunks(per_batch) {
        let reply = daemon.ingest(&body(chunk));
        let n = chunk.len() as u64;
        assert_eq!(reply["accepted"].as_u64(), Some(n), "{reply}");
        assert_eq!(
            reply["late"].as_u64(),
            Some(if late { n } else { 0 }),
            "late count for {}..{}: {reply}",
            chunk[0].0,
            chunk[chunk.len() - 1].0
        );
        assert_eq!(reply["refused_too_old"].as_u64(), Some(0), "{reply}");
    }
}

/// The day files as `YYYY-MM-DD` → text.
fn files(dir: &TestDir) -> BTreeMap<String, String> {
    dir.day_files()
        .into_iter()
        .map(|(name, text)| {
            let day = name
                .strip_prefix("event-")
                .and_then(|n| n.strip_suffix(".md"))
                .unwrap_or_else(|| panic!("{name} is not a day file name"))
                .to_owned();
            (day, text)
        })
        .collect()
}

fn dump_with_files(dir: &TestDir) -> Dump {
    Dump {
        day_files: Some(files(dir)),
        ..dir.dump()
    }
}

/// Stops the daemon cleanly and asks `daybook doctor` (every invariant,
/// the day files against the entries, the search index against its rows):
/// it must find nothing. Returns the quiet dump, which the oracle checks
/// too.
fn stop_and_doctor(dir: &TestDir, mut daemon: common::Daemon) -> Dump {
    daemon.wait_quiet();
    assert!(daemon.terminate().success(), "log:\n{}", daemon.log());
    let doctor = dir.daybook(&["doctor", "--json"]);
    assert!(
        doctor.ok(),
        "doctor found problems:\n{}\n{}",
        doctor.stdout,
        doctor.stderr
    );
    assert_eq!(doctor.json()["ok"], true, "{}", doctor.stdout);
    let dump = dump_with_files(dir);
    assert_eq!(check_quiet(&dump), [], "the oracle on the quiet store");
    dump
}

/// Where one sent event ended up: the stored row, its session, the block
/// of its window and revision, and the entry covering that block.
struct Landed<'a> {
    stored: &'a StoredEvent,
    session: &'a Session,
    entry: &'a Entry,
}

fn landed<'a>(dump: &'a Dump, sent: &Sent) -> Landed<'a> {
    let (at, app, title) = sent;
    let stored = dump
        .events
        .iter()
        .find(|e| e.event.title.as_deref() == Some(title.as_str()))
        .unwrap_or_else(|| panic!("{title} was not stored"));
    assert_eq!(&stored.event.app, app);
    assert_eq!(stored.event.at.0, ms(at), "{title}: `at` as sent");
    let session = dump
        .sessions
        .iter()
        .find(|s| s.id == stored.session_id)
        .expect("its session");
    let block = dump
        .blocks
        .iter()
        .find(|b| {
            b.session_id == stored.session_id
                && b.rev == stored.rev
                && b.start.0 <= stored.attributed.0
                && stored.attributed.0 < b.end.0
        })
        .unwrap_or_else(|| panic!("{title} is in no block"));
    let covered = block
        .covered_by
        .unwrap_or_else(|| panic!("{title}'s block is not reduced"));
    let entry = dump
        .entries
        .iter()
        .find(|e| e.id == covered)
        .expect("the covering entry");
    Landed { stored, session, entry }
}

/// The `HH:MM` range a day file's section of session `id` shows in its
/// heading (`## 09:02–09:11 · … <!-- session ID -->`), if it has one.
fn section_range(file: &str, id: &str) -> Option<(String, String)> {
    let marker = format!("<!-- session {id} -->");
    let heading = file.lines().find(|l| l.starts_with("## ") && l.ends_with(&marker))?;
    let range = heading.strip_prefix("## ")?.split(" · ").next()?;
    let (from, to) = range.split_once('–')?;
    Some((from.to_owned(), to.to_owned()))
}

/// A day file's session sections, `(session id, text)`, in file order:
/// each from its `## ` heading up to the next blank line.
fn sections(file: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in file.lines() {
        if let Some(id) = line
            .strip_prefix("## ")
            .and_then(|l| l.rsplit_once("<!-- session "))
            .and_then(|(_, rest)| rest.strip_suffix(" -->"))
        {
            out.extend(current.take());
            current = Some((id.to_owned(), format!("{line}\n")));
        } else if line.is_empty() {
            out.extend(current.take());
        } else if let Some((_, text)) = &mut current {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.extend(current);
    out
}

/// Ended sessions never overlap, in start order.
fn assert_disjoint(dump: &Dump) {
    let mut spans: Vec<(i64, i64, &str)> = dump
        .sessions
        .iter()
        .map(|s| {
            (
                s.start.0,
                s.phase.end().expect("every session ended").0,
                s.id.0.as_str(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "sessions {} [{}, {}] and {} [{}, {}] overlap",
            pair[0].2,
            pair[0].0,
            pair[0].1,
            pair[1].2,
            pair[1].0,
            pair[1].1
        );
    }
}

/// Checks that every event of `sent` landed at its own time: attributed
/// at its `at`, in a session whose `[start, end]` holds that instant, in
/// a block of its own window, reduced into an entry of its own local
/// date whose text is in that day's file and no other. Returns the ids of
/// the sessions they landed in.
fn assert_landed_at_own_time(dump: &Dump, sent: &[Sent]) -> BTreeSet<String> {
    let files = dump.day_files.as_ref().expect("day files");
    let mut sessions = BTreeSet::new();
    for s in sent {
        let l = landed(dump, s);
        let title = &s.2;
        let at = ms(&s.0);
        assert_eq!(
            l.stored.attributed.0, at,
            "{title} was attributed at {} instead of its own time",
            l.stored.attributed.0
        );
        let end = l.session.phase.end().expect("ended").0;
        assert!(
            l.session.start.0 <= at && at <= end,
            "{title} at {at} is outside its session {} [{}, {end}]",
            l.session.id.0,
            l.session.start.0
        );
        assert!(
            l.entry.from.0 <= at && at < l.entry.to.0,
            "{title}: its entry covers [{}, {})",
            l.entry.from.0,
            l.entry.to.0
        );
        let day = parse(&s.0).date_naive().format("%Y-%m-%d").to_string();
        assert_eq!(
            l.entry.day().format("%Y-%m-%d").to_string(),
            day,
            "{title}: the entry's day"
        );
        let file = files.get(&day).unwrap_or_else(|| panic!("no day file for {day}"));
        let (from, to) = section_range(file, &l.session.id.0)
            .unwrap_or_else(|| panic!("{title}: its session is not in event-{day}.md:\n{file}"));
        let minute = parse(&s.0).format("%H:%M").to_string();
        assert!(
            from <= minute && minute <= to,
            "{title}: its session shows as {from}–{to} in event-{day}.md"
        );
        for (other, text) in files {
            assert!(
                other == &day || section_range(text, &l.session.id.0).is_none(),
                "{title}: its session is in event-{other}.md too"
            );
        }
        sessions.insert(l.session.id.0.clone());
    }
    sessions
}

/// Issue 11: the daemon runs and records, stops; the client buffers an
/// hour of events; the daemon starts again, the user is back (a live
/// event now), and the client replays its queue in batches. Every
/// buffered event lands at its own time, in late sessions confined to the
/// gap between the session before the stop and the one after the
/// restart, cut by the usual rules (a ten-minute pause in the buffer ends
/// one), and reduced into that day's file.
#[test]
fn a_buffered_hour_replayed_after_a_restart_lands_at_its_own_times() {
    let dir = TestDir::new(FAST_TICK);
    let mut daemon = dir.start();
    // Before the stop: half an hour of work, in order.
    let before = events(
        "before the stop",
        "2026-01-10T08:30:00+01:00",
        "2026-01-10T09:00:00+01:00",
        30,
    );
    send(&daemon, &before, 100, false);
    daemon.wait_quiet();
    assert!(daemon.terminate().success(), "log:\n{}", daemon.log());

    // While daybook is down the client queues an hour of events, every 20
    // s, with a ten-minute pause in the middle (the user stepped away).
    let mut buffered = events("buffered", "2026-01-10T09:02:00+01:00", "2026-01-10T09:30:00+01:00", 20);
    buffered.extend(events(
        "buffered",
        "2026-01-10T09:40:00+01:00",
        "2026-01-10T10:01:40+01:00",
        20,
    ));
    assert_eq!(buffered.len(), 85 + 66);

    // The restart. The user is back first (a live event), then the client
    // drains its queue, oldest first, thirty events a request.
    let daemon = dir.start();
    let live = events("back", "2026-01-10T10:05:00+01:00", "2026-01-10T10:06:00+01:00", 30);
    send(&daemon, &live, 100, false);
    send(&daemon, &buffered, 30, true);
    let dump = stop_and_doctor(&dir, daemon);

    let before_id = landed(&dump, &before[0]).session.id.clone();
    let live_id = landed(&dump, &live[0]).session.id.clone();
    let late = assert_landed_at_own_time(&dump, &buffered);
    assert_landed_at_own_time(&dump, &before);
    assert_landed_at_own_time(&dump, &live);
    assert_disjoint(&dump);
    // Late sessions of their own, ended `late`, inside the gap: after the
    // session before the stop ended, before the live one started.
    let gap = (ms("2026-01-10T09:00:00+01:00"), ms("2026-01-10T10:05:00+01:00"));
    for id in &late {
        assert!(
            id != &before_id.0 && id != &live_id.0,
            "a buffered event moved a session"
        );
        let s = dump.sessions.iter().find(|s| &s.id.0 == id).expect("session");
        assert!(
            matches!(
                s.phase,
                Phase::Reduced {
                    reason: EndReason::Late,
                    ..
                }
            ),
            "{id}: {:?}",
            s.phase
        );
        assert!(
            gap.0 < s.start.0 && s.phase.end().expect("end").0 < gap.1,
            "{id} leaves its gap"
        );
    }
    // The pause ends a session: its two sides are never in one.
    let side = |title: &str| {
        let sent = buffered.iter().find(|s| s.2 == title).expect("sent");
        landed(&dump, sent).session.id.clone()
    };
    assert_ne!(side("buffered 09:30:00"), side("buffered 09:40:00"));
    // The sessions before the stop and after the restart kept their
    // bounds: late events never move another session's.
    let bounds = |id: &daybook_core::SessionId| {
        let s = dump.sessions.iter().find(|s| &s.id == id).expect("session");
        (s.start.0, s.phase.end().expect("end").0)
    };
    assert_eq!(
        bounds(&before_id),
        (ms("2026-01-10T08:30:00+01:00"), ms("2026-01-10T09:00:00+01:00"))
    );
    assert_eq!(
        bounds(&live_id),
        (ms("2026-01-10T10:05:00+01:00"), ms("2026-01-10T10:06:00+01:00"))
    );
    // The day file shows the late sessions between the two, in time order.
    let file = &dump.day_files.as_ref().expect("files")["2026-01-10"];
    let mut sessions: Vec<&Session> = dump.sessions.iter().collect();
    sessions.sort_by_key(|s| s.start);
    let positions: Vec<usize> = sessions
        .iter()
        .map(|s| {
            file.find(&format!("<!-- session {} -->", s.id.0))
                .unwrap_or_else(|| panic!("session {} is not in the day file", s.id.0))
        })
        .collect();
    assert!(positions.is_sorted(), "the day file is not in time order:\n{file}");
}

/// Issue 11: events from yesterday, replayed today, land in yesterday's
/// file, and today's file is untouched byte for byte. Then a replay that
/// runs past midnight: only its part after midnight reaches today's file,
/// and every section today's file had stays as it was.
#[test]
fn events_from_yesterday_land_in_yesterdays_file_and_leave_today_untouched() {
    const YESTERDAY: &str = "2026-01-10";
    const TODAY: &str = "2026-01-11";
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    // What reached daybook yesterday morning, and today so far.
    let morning = events(
        "yesterday morning",
        "2026-01-10T09:00:00+01:00",
        "2026-01-10T09:20:00+01:00",
        30,
    );
    let today = [
        events(
            "today early",
            "2026-01-11T08:00:00+01:00",
            "2026-01-11T08:20:00+01:00",
            30,
        ),
        events(
            "today later",
            "2026-01-11T09:00:00+01:00",
            "2026-01-11T09:10:00+01:00",
            30,
        ),
    ]
    .concat();
    send(&daemon, &morning, 100, false);
    send(&daemon, &today, 100, false);
    daemon.wait_quiet();
    let first = files(&dir);
    let today_before = first.get(TODAY).expect("today's file").clone();
    let yesterday_before = first.get(YESTERDAY).expect("yesterday's file").clone();

    // The client had queued yesterday's afternoon (with a pause) and a
    // few events inside yesterday morning's session, which is reduced
    // already: they go into new blocks of it and a `late` entry.
    let mut afternoon = events(
        "yesterday afternoon",
        "2026-01-10T14:00:00+01:00",
        "2026-01-10T14:30:00+01:00",
        20,
    );
    afternoon.extend(events(
        "yesterday afternoon",
        "2026-01-10T15:00:00+01:00",
        "2026-01-10T15:20:00+01:00",
        20,
    ));
    let inside = events(
        "inside the morning",
        "2026-01-10T09:10:10+01:00",
        "2026-01-10T09:11:10+01:00",
        20,
    );
    let replay = [inside.clone(), afternoon].concat();
    send(&daemon, &replay, 25, true);
    daemon.wait_quiet();
    let second = files(&dir);
    assert_eq!(
        second.get(TODAY),
        Some(&today_before),
        "today's file changed although nothing replayed is from today"
    );
    assert_ne!(
        second.get(YESTERDAY),
        Some(&yesterday_before),
        "yesterday's file did not change"
    );
    assert_eq!(
        second.keys().collect::<Vec<_>>(),
        [YESTERDAY, TODAY],
        "a day file other than yesterday's and today's"
    );
    let today_entries: Vec<Entry> = dir
        .dump()
        .entries
        .into_iter()
        .filter(|e| e.day().format("%Y-%m-%d").to_string() == TODAY)
        .collect();

    // A queue that ran past midnight: yesterday 23:40-23:50, then today
    // 00:10-00:20 (a pause between, so two late sessions).
    let night = events(
        "last night",
        "2026-01-10T23:40:00+01:00",
        "2026-01-10T23:50:00+01:00",
        20,
    );
    let after_midnight = events(
        "after midnight",
        "2026-01-11T00:10:00+01:00",
        "2026-01-11T00:20:00+01:00",
        20,
    );
    send(&daemon, &[night.clone(), after_midnight.clone()].concat(), 40, true);
    let dump = stop_and_doctor(&dir, daemon);

    assert_landed_at_own_time(&dump, &replay);
    assert_landed_at_own_time(&dump, &night);
    let overlapping = assert_landed_at_own_time(&dump, &after_midnight);
    assert_landed_at_own_time(&dump, &morning);
    assert_landed_at_own_time(&dump, &today);
    assert_disjoint(&dump);

    // The morning session kept its bounds and its first entry; the events
    // inside it went into a `late` entry of it.
    let morning_session = landed(&dump, &morning[0]).session.id.clone();
    for s in &inside {
        let l = landed(&dump, s);
        assert_eq!(l.session.id, morning_session, "{}: not in the session holding it", s.2);
        assert_eq!(l.entry.kind.as_str(), "late", "{}", s.2);
        assert!(l.stored.rev > 0, "{}: in a block an entry already covered", s.2);
    }

    // Today's file: every section it had is still there, byte for byte
    // and in the same order, and the only new ones are the late sessions
    // after midnight, placed before them (in time order).
    let today_after = &dump.day_files.as_ref().expect("files")[TODAY];
    let (old, new) = (sections(&today_before), sections(today_after));
    assert_eq!(old.len(), 2, "{today_before}");
    let kept: Vec<&(String, String)> = new.iter().filter(|(id, _)| !overlapping.contains(id)).collect();
    assert_eq!(
        kept,
        old.iter().collect::<Vec<_>>(),
        "today's sections changed:\n{today_after}"
    );
    let added: Vec<&String> = new
        .iter()
        .map(|(id, _)| id)
        .filter(|id| overlapping.contains(*id))
        .collect();
    assert_eq!(added.len(), overlapping.len(), "{today_after}");
    assert_eq!(
        &new[..added.len()].iter().map(|(id, _)| id).collect::<Vec<_>>(),
        &added,
        "{today_after}"
    );
    for e in &today_entries {
        let now = dump.entries.iter().find(|n| n.id == e.id).expect("entry kept");
        assert_eq!(now, e, "an entry of today changed");
        assert!(
            section_range(today_after, &e.session_id.0).is_some(),
            "a session left today's file"
        );
    }
    let new_today: Vec<&Entry> = dump
        .entries
        .iter()
        .filter(|e| e.day().format("%Y-%m-%d").to_string() == TODAY && !today_entries.iter().any(|t| t.id == e.id))
        .collect();
    assert!(!new_today.is_empty(), "the part after midnight is not in today's file");
    for e in &new_today {
        assert!(
            overlapping.contains(&e.session_id.0),
            "a new entry in today's file: {e:?}"
        );
    }
    for s in night.iter().chain(&replay) {
        assert!(!today_after.contains(&s.2), "{} (yesterday) is in today's file", s.2);
    }
}
