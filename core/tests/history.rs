//! Imported history (`Engine::handle_history`, `watcher::History`): no age
//! refusal, the same sessions a live stream gives, batches that end no
//! differently than one long batch, and history behind the watermark
//! landing in the gaps between existing sessions.

mod common;

use std::time::Duration;

use common::*;
use daybook_core::watcher::{AwEvent, Bucket, History, NANOS_PER_MILLI, Watchers};
use daybook_core::{Config, Event, UtcOffset, check_quiet};
use serde_json::json;

const DAY: i64 = 86_400;

/// Events a minute apart from minute `from`, in `apps` order.
fn minutes(from: i64, apps: &[&str]) -> Vec<Event> {
    apps.iter()
        .enumerate()
        .map(|(i, app)| ev(min(from + i as i64), app))
        .collect()
}

fn reasons(
    rig: &Rig,
) -> Vec<(
    daybook_core::Timestamp,
    Option<daybook_core::Timestamp>,
    Option<&'static str>,
)> {
    spans(&rig.sessions())
        .into_iter()
        .map(|(s, e, _, r)| (s, e, r))
        .collect()
}

#[test]
fn history_older_than_max_lateness_is_taken_and_cut_like_a_live_stream() {
    // A year-old stretch: two sessions split by an idle gap.
    let mut events = minutes(0, &["Code", "Code", "Firefox"]);
    events.extend(minutes(20, &["Mail", "Mail"]));
    let now = at(365 * DAY);

    let mut live = Rig::new(Config::default());
    live.start(min(0));
    for e in &events {
        live.send(e.at, std::slice::from_ref(e));
    }
    live.shutdown(min(60));

    let mut imported = Rig::new(Config::default());
    imported.start(now);
    let refused = imported.engine().handle_events(now, &events);
    assert!(refused.is_err(), "the live path refuses year-old events");
    imported.engine().handle_history(now, &events, now).unwrap();
    imported.engine().reduce_pending(now).unwrap();
    imported.shutdown(now);

    let (l, i) = (reasons(&live), reasons(&imported));
    assert_eq!(i.len(), 2);
    assert_eq!(i[0], l[0], "same first session, cut by the idle gap");
    assert_eq!(i[0].2, Some("idle_gap"));
    // The live one ends at shutdown; the imported one by the gap until now.
    assert_eq!((i[1].0, i[1].1), (l[1].0, l[1].1));
    assert_eq!(i[1].2, Some("idle_gap"));
    assert_eq!(check_quiet(&imported.dump()), []);
}

#[test]
fn history_up_to_now_ends_its_last_session_as_imported() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    let events = minutes(0, &["Code", "Code"]);
    rig.engine().handle_history(min(2), &events, min(2)).unwrap();
    assert_eq!(reasons(&rig), [(min(0), Some(min(1)), Some("imported"))]);
    assert!(rig.engine().open_session().is_none(), "a batch leaves nothing open");
}

#[test]
fn future_history_is_refused_whole() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(0));
    let events = [ev(min(0), "Code"), ev(min(10), "Code")];
    assert!(rig.engine().handle_history(min(1), &events, min(1)).is_err());
    assert!(rig.sessions().is_empty());
}

#[test]
fn split_at_idle_gaps_the_batches_give_what_one_batch_gives() {
    let mut events = minutes(0, &["Code", "Firefox", "Code", "Slack"]);
    events.extend(minutes(10, &["Mail"; 4]));
    events.extend(minutes(30, &["Code", "Code"]));
    let now = min(200);
    let mut one = Rig::new(Config::default());
    one.start(now);
    one.engine().handle_history(now, &events, now).unwrap();
    let mut split = Rig::new(Config::default());
    split.start(now);
    split.engine().handle_history(now, &events[..4], events[4].at).unwrap();
    split.engine().handle_history(now, &events[4..8], events[8].at).unwrap();
    split.engine().handle_history(now, &events[8..], now).unwrap();
    assert_eq!(reasons(&one), reasons(&split));
    let blocks = |r: &Rig| {
        r.dump()
            .blocks
            .iter()
            .map(|b| (b.start, b.capture_count))
            .collect::<Vec<_>>()
    };
    assert_eq!(blocks(&one), blocks(&split));
}

#[test]
fn history_behind_the_watermark_fills_gaps_and_never_overlaps() {
    let mut rig = Rig::new(Config::default());
    rig.start(min(100));
    // A live session, minutes 100 to 103.
    for e in minutes(100, &["Code"; 4]) {
        rig.send(e.at, &[e]);
    }
    rig.shutdown(min(104));
    rig.start(min(200));
    // History from minute 90 to 110: around and across the live session.
    let history = minutes(90, &["Mail"; 21]);
    rig.engine().handle_history(min(200), &history, min(200)).unwrap();
    rig.engine().handle_reductions(min(200)).unwrap();
    rig.shutdown(min(200));
    let dump = rig.checked();
    assert_eq!(check_quiet(&dump), []);
    let mut sessions = dump.sessions.clone();
    sessions.sort_by_key(|s| s.start);
    for pair in sessions.windows(2) {
        assert!(pair[0].phase.end().unwrap() <= pair[1].start, "overlap: {pair:?}");
    }
    // Every history event is stored, attributed at its own instant.
    let mail: Vec<_> = dump.events.iter().filter(|e| e.event.app == "Mail").collect();
    assert_eq!(mail.len(), 21);
    assert!(mail.iter().all(|e| e.attributed == e.event.at));
    // Before the live session: a late session confined to the gap.
    let before = sessions.iter().find(|s| s.start == min(90)).unwrap();
    assert_eq!(before.phase.reason().map(|r| r.as_str()), Some("late"));
    assert!(before.phase.end().unwrap() < min(100));
}

fn window() -> Bucket {
    Bucket::new("aw-watcher-window_h", "currentwindow", "h")
}

fn raw(id: u64, start_s: i64, dur_s: i64, data: serde_json::Value) -> AwEvent {
    let ns = |s: i64| at(s).0 * NANOS_PER_MILLI;
    AwEvent {
        id: Some(id),
        start: ns(start_s),
        end: ns(start_s + dur_s),
        data,
    }
}

fn watchers() -> Watchers {
    let mut w = Watchers::new(1);
    w.restore(window(), None, None);
    w.restore(Bucket::new("aw-watcher-afk_h", "afkstatus", "h"), None, None);
    w
}

fn feed(rows: u64, events: &[AwEvent], w: Watchers) -> Vec<daybook_core::HistoryBatch> {
    let mut h = History::new(w, Duration::from_secs(300), rows);
    let mut out = Vec::new();
    for e in events {
        out.extend(h.push("aw-watcher-window_h", e, |_| UtcOffset(0)).unwrap());
    }
    out.push(h.finish());
    out
}

#[test]
fn history_releases_derived_events_in_order_and_cuts_only_at_idle_gaps() {
    let code = json!({"app": "Code", "title": "a"});
    let web = json!({"app": "Firefox", "title": "b"});
    let events = [
        raw(1, 0, 300, code.clone()),  // 0, 120, 240, 300
        raw(2, 10, 5, web.clone()),    // 10, 15
        raw(3, 400, 10, web.clone()),  // 400, 410: only 100 s after 300, no cut
        raw(4, 1000, 0, code.clone()), // 590 s after 410: a cut may fall here
        raw(5, 1001, 0, code),
    ];
    let batches = feed(1, &events, watchers());
    let ats: Vec<Vec<i64>> = batches
        .iter()
        .map(|b| b.events.iter().map(|e| (e.at.0 - at(0).0) / 1000).collect())
        .collect();
    assert_eq!(ats, [vec![0, 10, 15, 120, 240, 300, 400, 410], vec![1000, 1001]]);
    assert_eq!(batches[0].quiet_until, Some(at(1000)));
    assert_eq!(batches[0].raw, 3);
    assert_eq!(batches[0].through, Some((events[2].start, 3)));
    assert_eq!(batches[1].quiet_until, None);
    // With a larger batch size, no cut at all: the same events.
    let whole = feed(100, &events, watchers());
    assert_eq!(whole.len(), 1);
    let all: Vec<Event> = batches.into_iter().flat_map(|b| b.events).collect();
    assert_eq!(whole[0].events, all);
}

#[test]
fn history_derives_nothing_while_away() {
    let mut w = watchers();
    w.restore_presence("h", &[raw(9, 100, 600, json!({"status": "afk"}))]);
    let events = [
        raw(1, 0, 0, json!({"app": "Code"})),
        raw(2, 200, 0, json!({"app": "Code"})), // inside the afk period
        raw(3, 800, 0, json!({"app": "Code"})),
    ];
    let batches = feed(100, &events, w);
    let ats: Vec<i64> = batches[0].events.iter().map(|e| (e.at.0 - at(0).0) / 1000).collect();
    assert_eq!(ats, [0, 800]);
}
