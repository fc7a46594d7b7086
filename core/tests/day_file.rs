//! The day file as a reader gets it (issue 15): a golden rendering of a
//! fixed seeded day with every kind of section, the newcomer's morning
//! within its line budget, and the day's totals as sums of its sessions.
//!
//! The golden file is `tests/golden/day-2026-03-29.md`, reviewed by hand;
//! `DAYBOOK_UPDATE_GOLDEN=1 cargo test -p daybook-core --test day_file`
//! rewrites it after a deliberate change of the format (review the diff).

mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::Rig;
use daybook_core::aggregate::{SessionInput, aggregate_day};
use daybook_core::daylog::section_count;
use daybook_core::oracle::{check_day_text, renderings};
use daybook_core::{Config, Dump, Event, Input, SessionId, StoredEvent, Timestamp, UtcOffset, check};
use proptest::prelude::*;

/// 2026-03-29T00:00:00Z. Europe's clocks go from 02:00+01:00 to
/// 03:00+02:00 at 01:00Z that day.
const MIDNIGHT_Z: i64 = 1_774_742_400_000;
const CET: UtcOffset = UtcOffset(3600);
const CEST: UtcOffset = UtcOffset(7200);

/// UTC minutes after 2026-03-29T00:00Z.
fn z(minutes: i64) -> Timestamp {
    Timestamp(MIDNIGHT_Z + minutes * 60_000)
}

/// The offset Europe/Paris has at `t`.
fn paris(t: Timestamp) -> UtcOffset {
    if t < z(60) { CET } else { CEST }
}

/// A tiny deterministic generator: the day is "seeded", not random.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const CONTEXTS: [(&str, &str, Option<&str>); 6] = [
    ("Code", "main.rs — daybook — Code", None),
    ("Code", "engine.rs — daybook — Code", None),
    ("Firefox", "tokio - Rust", Some("https://docs.rs/tokio/latest/tokio/")),
    (
        "Firefox",
        "Pull request #42 · daybook",
        Some("https://github.com/daybook/daybook/pull/42"),
    ),
    ("Slack", "general — Slack", None),
    ("Terminal", "cargo test", None),
];

fn event(t: Timestamp, (app, title, url): (&str, &str, Option<&str>)) -> Event {
    Event {
        offset: paris(t),
        title: Some(title.into()),
        url: url.map(Into::into),
        ..Event::new(t, app)
    }
}

/// Drives the engine through a stretch of work: an event every 20 to 80
/// seconds from `from` to `to` (UTC minutes), switching context now and
/// then, with the minute timer and a flush every 20 minutes.
fn work(rig: &mut Rig, rng: &mut Lcg, from: i64, to: i64, contexts: &[usize]) {
    let mut t = z(from);
    let mut current = contexts[0];
    let mut next_flush = t.0 + 20 * 60_000;
    while t < z(to) {
        if rng.next(5) == 0 {
            current = contexts[rng.next(contexts.len() as u64) as usize];
        }
        rig.send(t, &[event(t, CONTEXTS[current])]);
        rig.minute(t);
        if t.0 >= next_flush {
            rig.flush(t);
            next_flush += 20 * 60_000;
        }
        t = Timestamp(t.0 + 20_000 + rng.next(60) as i64 * 1000);
    }
}

/// Every day's rendering of a dump, as the oracle computes it
/// ([`renderings`]), each checked as text (SPEC §12).
fn render_all(dump: &Dump) -> BTreeMap<NaiveDate, String> {
    renderings(dump)
        .into_iter()
        .map(|(day, (entries, text))| {
            let sections = section_count(day, &entries);
            assert_eq!(check_day_text(&day.to_string(), &text, sections), [], "{text}");
            (day, text)
        })
        .collect()
}

/// The seeded day: a night session across the DST change with flushes,
/// a morning session ended by a pause, one recovered after a crash, and
/// an afternoon one ended by an idle gap.
fn seeded_day() -> Dump {
    let mut rng = Lcg(20_260_329);
    // No soft cuts: the random holds would cut the day into many short
    // sessions, which the newcomer's morning covers.
    let config = Config {
        soft_cut: std::time::Duration::from_secs(3600),
        ..Config::default()
    };
    let mut rig = Rig::new(config);
    rig.start(z(0));
    // 01:30+01:00 to 03:25+02:00: across the change, flushed twice.
    work(&mut rig, &mut rng, 30, 85, &[0, 1, 5, 2]);
    rig.tick(z(100));
    rig.minute(z(100));
    // 09:00+02:00 (07:00Z): a call, then a pause.
    work(&mut rig, &mut rng, 420, 455, &[2, 3, 4]);
    rig.engine().handle_input(z(456), &Input::Pause).expect("pause");
    rig.minute(z(457));
    rig.engine().handle_input(z(500), &Input::Resume).expect("resume");
    // 10:20+02:00: work, then the daemon is killed and restarted.
    work(&mut rig, &mut rng, 500, 540, &[0, 5, 1]);
    rig.crash();
    rig.start(z(600));
    // 14:00+02:00: an afternoon session ended by an idle gap.
    work(&mut rig, &mut rng, 720, 760, &[3, 2, 4, 1]);
    rig.tick(z(780));
    rig.minute(z(780));
    // 15:10+02:00: a capture client that was offline replays its buffer.
    // 12:10–12:24+02:00 lie in the idle gap after the recovered session:
    // a late session of their own. 09:20+02:00 lies inside the morning
    // session, reduced long ago: a `late` entry covering only the new
    // blocks.
    let mut replay: Vec<Event> = (0..8)
        .map(|i| event(z(610 + 2 * i), CONTEXTS[[5, 1][i as usize % 2]]))
        .collect();
    replay.push(event(Timestamp(z(440).0 + 10_000), CONTEXTS[5]));
    replay.push(event(Timestamp(z(440).0 + 50_000), CONTEXTS[5]));
    rig.send(z(790), &replay);
    rig.minute(z(791));
    rig.checked()
}

#[test]
fn a_seeded_day_renders_as_its_reviewed_golden_file() {
    let dump = seeded_day();
    let days = render_all(&dump);
    let day = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
    let text = &days[&day];
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/day-2026-03-29.md");
    if std::env::var_os("DAYBOOK_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, text).expect("write the golden file");
    }
    let golden = std::fs::read_to_string(path).expect("the golden file");
    assert_eq!(*text, golden, "the day file changed; review and update the golden file");
    // What the golden file must show, whatever its words.
    assert!(text.contains("UTC+01:00, then UTC+02:00"), "{text}");
    assert!(text.contains("recovered after a crash"), "{text}");
    assert!(text.contains("ended by a pause"), "{text}");
    assert!(text.contains("\n_Paused "), "{text}");
    assert!(text.contains("\n_Idle "), "{text}");
    assert!(text.contains("\n## 01:30+01:00–03:24+02:00 · 54 min"), "{text}");
    // The late session has its own section, in time order; the late entry
    // of the morning session says what it added.
    assert!(
        dump.sessions
            .iter()
            .any(|s| s.phase.reason() == Some(daybook_core::EndReason::Late)),
        "{:#?}",
        dump.sessions
    );
    assert!(dump.entries.iter().any(|e| e.kind == daybook_core::EntryKind::Late));
    assert!(
        text.contains(" · replayed late, placed where it happened <!--"),
        "{text}"
    );
    assert!(text.contains(" Added late, 09:20–09:21: "), "{text}");
    let mut by_start: Vec<&daybook_core::Session> = dump.sessions.iter().collect();
    by_start.sort_by_key(|s| s.start);
    let ids: Vec<&str> = by_start.iter().map(|s| s.id.0.as_str()).collect();
    let sections: Vec<String> = sections_of(text).into_iter().map(|s| s.0).collect();
    assert_eq!(sections, ids, "{text}");
    let flushed = dump
        .entries
        .iter()
        .filter(|e| e.kind == daybook_core::EntryKind::Flush)
        .count();
    assert!(flushed >= 2, "sessions with flushes: {flushed}");
    assert_eq!(check(&dump), []);
}

/// The newcomer's morning from issue 15 (`common::newcomer_morning`, 76
/// events over 100 minutes from 10:00+02:00), driven by the daemon's
/// timers: ticks, blocks each minute, a flush every five minutes.
fn newcomer_morning() -> Dump {
    let start = z(480);
    let events: Vec<Event> = common::newcomer_morning()
        .into_iter()
        .map(|(s, app, title, url)| event(Timestamp(start.0 + s * 1000), (app, title, url)))
        .collect();
    assert_eq!(events.len(), 76);
    let mut rig = Rig::new(Config::default());
    rig.start(start);
    let mut timers = common::Timers::new(start, events);
    timers.run_until(&mut rig, Timestamp(start.0 + 120 * 60_000));
    rig.checked()
}

/// Issue 15's line budget, "fits in one screen per session: at most 15
/// lines per hour of work", as these tests count it. The lines that say
/// what was done are a section's heading, its summary and its span lines
/// (a section has no blank line inside):
///
/// - a session gets 15 such lines per hour of its active time, rounded
///   up, and never fewer than 3 (a heading, a summary and one span: the
///   least a session can say, however short);
/// - the day's sessions together get 15 per hour of the day's active
///   time, not rounded, so short sessions cannot add up their minimums.
///
/// Not counted: the title, the header line, blank lines between parts,
/// and the one line per idle or paused gap, which says when no work was
/// done ([`file_overhead`] counts them all, so every line of the file is
/// accounted for). Returns what is over budget, as readable lines.
fn over_budget(sections: &[(usize, i64)]) -> Vec<String> {
    const PER_HOUR: i64 = 15;
    const HOUR: i64 = 3_600_000;
    let mut over = Vec::new();
    for (k, &(lines, active)) in sections.iter().enumerate() {
        let budget = ((PER_HOUR * active + HOUR - 1) / HOUR).max(3);
        if lines as i64 > budget {
            over.push(format!("session {k}: {lines} lines for {} s of work", active / 1000));
        }
    }
    let lines: usize = sections.iter().map(|s| s.0).sum();
    let active: i64 = sections.iter().map(|s| s.1).sum();
    if lines as i64 * HOUR > PER_HOUR * active {
        over.push(format!("the day: {lines} lines for {} s of work", active / 1000));
    }
    over
}

/// The lines of a day file that [`over_budget`] does not count: title,
/// blank line and header line, a blank line before each of `sections`,
/// and a blank line and the line of each of `gaps`.
fn file_overhead(sections: usize, gaps: usize) -> usize {
    3 + sections + 2 * gaps
}

/// Each section of a day file: its session id and its lines.
fn sections_of(text: &str) -> Vec<(String, usize)> {
    text.split("\n## ")
        .skip(1)
        .map(|section| {
            let id = section
                .split("<!-- session ")
                .nth(1)
                .and_then(|r| r.split(" -->").next())
                .expect("a session comment")
                .to_owned();
            (id, section.split('\n').take_while(|l| !l.is_empty()).count())
        })
        .collect()
}

#[test]
fn the_newcomers_morning_fits_fifteen_lines_per_hour_of_work() {
    let dump = newcomer_morning();
    let day = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
    let text = &render_all(&dump)[&day];
    println!("{text}");
    // Four sessions, each one section whatever its flushes.
    assert_eq!(dump.sessions.len(), 4, "{:#?}", dump.sessions);
    let flushes = |id: &SessionId| {
        dump.entries
            .iter()
            .filter(|e| e.session_id == *id && e.kind == daybook_core::EntryKind::Flush)
            .count()
    };
    assert!(
        flushes(&dump.sessions[0].id) >= 2,
        "the first session was flushed: {:#?}",
        dump.entries
    );
    let sections = sections_of(text);
    let ids: Vec<&str> = dump.sessions.iter().map(|s| s.id.0.as_str()).collect();
    assert_eq!(sections.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ids, "{text}");
    // Two gaps, each one line; the step across the soft cut is none.
    let gaps = text
        .lines()
        .filter(|l| l.starts_with("_Idle ") || l.starts_with("_Paused "))
        .count();
    assert_eq!(gaps, 2, "{text}");
    let active = |s: &daybook_core::Session| s.phase.end().expect("ended").millis_since(s.start);
    let counted: Vec<(usize, i64)> = sections
        .iter()
        .zip(&dump.sessions)
        .map(|((_, lines), s)| (*lines, active(s)))
        .collect();
    assert_eq!(over_budget(&counted), Vec::<String>::new(), "{text}");
    let lines: usize = counted.iter().map(|c| c.0).sum();
    assert_eq!(
        text.lines().count(),
        lines + file_overhead(counted.len(), gaps),
        "{text}"
    );
    // The budget bites: the day log the issue found, a line per block
    // under a heading and a summary, is over it.
    let per_block: Vec<(usize, i64)> = dump
        .sessions
        .iter()
        .map(|s| {
            let blocks = dump.blocks.iter().filter(|b| b.session_id == s.id).count();
            (2 + blocks, active(s))
        })
        .collect();
    assert_ne!(over_budget(&per_block), Vec::<String>::new(), "{per_block:?}");
    // SPEC §4's soft cut ends the editing session at its last event,
    // which is already in the call (see cut_rules.rs).
    let first = text.split("\n## ").nth(1).expect("a first section");
    assert!(first.contains("10:30–10:33 Zoom — Zoom Meeting (3 min)"), "{first}");
    assert!(text.contains("1Password — Vault"), "{text}");
    assert!(!text.contains("1Password — 1Password"), "{text}");
    assert!(!text.contains(" 1 captures"), "{text}");
}

proptest! {
    /// A day's totals are the sums of its sessions and never exceed its
    /// wall time, 23 hours long on the DST day.
    #[test]
    fn day_totals_are_session_sums_within_wall_time(
        spans in prop::collection::vec((0i64..1_500, 0i64..200, 1usize..20), 0..12),
    ) {
        let mut sessions = Vec::new();
        let mut events = Vec::new();
        let mut t = -120;
        for (k, (gap, len, n)) in spans.iter().enumerate() {
            let start = t + gap;
            let id: SessionId = format!("s{k}").as_str().into();
            let evs: Vec<StoredEvent> = (0..*n)
                .map(|i| {
                    let at = z(start + len * i as i64 / *n as i64);
                    StoredEvent {
                        seq: (k * 100 + i) as u64,
                        session_id: id.clone(),
                        attributed: at,
                        rev: 0,
                        event: event(at, CONTEXTS[i % CONTEXTS.len()]),
                    }
                })
                .collect();
            let session = daybook_core::Session {
                phase: daybook_core::Phase::Reduced { end: z(start + len), reason: daybook_core::EndReason::IdleGap },
                ..daybook_core::Session::active(id, z(start), paris(z(start)))
            };
            sessions.push(session);
            events.push(evs);
            t = start + len;
        }
        let inputs: Vec<SessionInput<'_>> = sessions
            .iter()
            .zip(&events)
            .map(|(session, events)| SessionInput { session, events })
            .collect();
        let day = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let (bounds, agg) = aggregate_day(day, &inputs, CET);
        let sum: i64 = agg.sessions.iter().map(|s| s.active_millis).sum();
        prop_assert_eq!(agg.active_millis, sum);
        prop_assert!(agg.active_millis + agg.idle_millis + agg.paused_millis <= bounds.wall_millis());
        let apps: i64 = agg.totals.apps.iter().map(|a| a.millis).sum();
        prop_assert_eq!(apps, agg.active_millis);
        if bounds.offsets().len() == 2 {
            prop_assert_eq!(bounds.wall_millis(), 23 * 3_600_000);
        }
    }
}
