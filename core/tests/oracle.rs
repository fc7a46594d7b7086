//! The invariant oracle (SPEC §8) against hand-built dumps: silent on a good
//! one, and each kind of [`Violation`] reported, under its invariant's name,
//! on a dump broken in exactly that way.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use daybook_core::daylog::render_day;
use daybook_core::oracle::{check_day_text, renderings};
use daybook_core::reduction::render_entry;
use daybook_core::{
    Block, BlockKey, Dump, EndReason, Entry, EntryKind, Event, Phase, Session, SessionId, StoredEvent, Summary,
    Timestamp, UtcOffset, Violation, check, check_quiet,
};

/// 2027-01-15T08:00:00Z, on a minute boundary.
const T0: Timestamp = Timestamp(1_800_000_000_000);
/// The day every entry of [`good`] falls on, as a day-file key.
const DAY: &str = "2027-01-15";

/// `T0` plus `s` seconds.
fn at(s: i64) -> Timestamp {
    Timestamp(T0.0 + s * 1000)
}

fn sid(id: &str) -> SessionId {
    id.into()
}

fn session(id: &str, start: i64, end: i64) -> Session {
    Session {
        phase: Phase::Reduced {
            end: at(end),
            reason: EndReason::IdleGap,
        },
        ..Session::active(sid(id), at(start), UtcOffset::UTC)
    }
}

fn event(seq: u64, session: &str, s: i64) -> StoredEvent {
    StoredEvent {
        seq,
        session_id: sid(session),
        attributed: at(s),
        rev: 0,
        event: Event::new(at(s), "Code"),
    }
}

/// The one-minute block of `session` starting `s` seconds after `T0`.
fn block(session: &str, s: i64, capture_count: u32, covered_by: Option<u64>) -> Block {
    Block {
        session_id: sid(session),
        start: at(s),
        end: at(s + 60),
        rev: 0,
        offset: UtcOffset::UTC,
        lines: vec!["Code".into()],
        apps: vec!["Code".into()],
        capture_count,
        covered_by,
    }
}

fn entry(id: u64, session: &str, kind: EntryKind, from: i64, to: i64) -> Entry {
    Entry {
        id,
        session_id: sid(session),
        kind,
        from: at(from),
        to: at(to),
        offset: UtcOffset::UTC,
        body: format!("## entry {id} · session {session}\n"),
    }
}

/// Sets the day files to the rendering of the dump's entries.
fn project(dump: &mut Dump) {
    let files = renderings(dump)
        .into_iter()
        .map(|(day, (_, text))| (day.format("%Y-%m-%d").to_string(), text))
        .collect();
    dump.day_files = Some(files);
}

/// Two reduced sessions: `a` over [0 s, 90 s] with blocks at minutes 0 and
/// 1, each covered by its own entry (a flush then the final), and `b` over
/// [300 s, 330 s] with one block under one final entry.
fn good() -> Dump {
    let mut dump = Dump {
        sessions: vec![session("a", 0, 90), session("b", 300, 330)],
        events: vec![
            event(1, "a", 0),
            event(2, "a", 30),
            event(3, "a", 90),
            event(4, "b", 300),
            event(5, "b", 330),
        ],
        blocks: vec![
            block("a", 0, 2, Some(1)),
            block("a", 60, 1, Some(2)),
            block("b", 300, 2, Some(3)),
        ],
        loose_blocks: Vec::new(),
        entries: vec![
            entry(1, "a", EntryKind::Flush, 0, 60),
            entry(2, "a", EntryKind::Final, 60, 120),
            entry(3, "b", EntryKind::Final, 300, 360),
        ],
        day_files: None,
    };
    project(&mut dump);
    dump
}

fn key(session: &str, s: i64) -> BlockKey {
    BlockKey {
        session_id: sid(session),
        start: at(s),
        rev: 0,
    }
}

/// Asserts `found` is `expected` alone, and that its message names `invariant`.
fn assert_only(found: &[Violation], expected: Violation, invariant: &str) {
    assert_eq!(found, std::slice::from_ref(&expected));
    assert_named(&expected, invariant);
}

/// Asserts `found` holds `expected`, whose message names `invariant`.
fn assert_among(found: &[Violation], expected: Violation, invariant: &str) {
    assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    assert_named(&expected, invariant);
}

fn assert_named(v: &Violation, invariant: &str) {
    let message = v.to_string();
    assert!(
        message.starts_with(&format!("{invariant}: ")),
        "{message:?} does not name {invariant:?}"
    );
}

#[test]
fn a_good_dump_breaks_no_invariant() {
    let dump = good();
    assert_eq!(check(&dump), []);
    assert_eq!(check_quiet(&dump), []);
}

#[test]
fn disjoint_sessions_may_touch_but_not_overlap() {
    let mut dump = good();
    dump.sessions[1].start = at(90);
    assert_eq!(check_quiet(&dump), [], "a.end == b.start is disjoint");
    dump.sessions[1].start = Timestamp(at(90).0 - 1);
    let overlap = Violation::SessionsOverlap {
        first: sid("a"),
        second: sid("b"),
    };
    assert_only(&check_quiet(&dump), overlap, "disjoint");
}

#[test]
fn disjoint_a_zero_length_session_may_share_the_next_ones_start() {
    // Ids that sort against time order ("p10" < "p9"), as an unpadded
    // counter gives them: the zero-length p9 touches p10, it does not overlap.
    let mut dump = good();
    dump.sessions.push(session("p9", 600, 600));
    dump.sessions.push(session("p10", 600, 660));
    assert_eq!(check(&dump), []);
}

#[test]
fn disjoint_allows_one_active_session() {
    let mut dump = good();
    dump.sessions[1].phase = Phase::Active;
    assert_eq!(check(&dump), []);
    dump.sessions[0].phase = Phase::Active;
    let found = check(&dump);
    assert_among(&found, Violation::SeveralActive(vec![sid("a"), sid("b")]), "disjoint");
}

#[test]
fn disjoint_sessions_end_after_they_start() {
    let mut dump = good();
    dump.sessions.push(session("c", 600, 599));
    assert_only(&check_quiet(&dump), Violation::EndsBeforeStart(sid("c")), "disjoint");
}

#[test]
fn owned_events_name_an_existing_session() {
    let mut dump = good();
    dump.events.push(event(6, "ghost", 400));
    let missing = Violation::EventWithoutSession {
        seq: 6,
        session: sid("ghost"),
    };
    assert_only(&check(&dump), missing, "owned events");
}

#[test]
fn owned_events_lie_inside_their_session() {
    let mut dump = good();
    // Still inside b's block [300 s, 360 s), but after b's end at 330 s.
    dump.events[4].attributed = at(340);
    dump.events[4].event.at = at(340);
    let outside = Violation::EventOutsideSession {
        seq: 5,
        session: sid("b"),
    };
    assert_only(&check_quiet(&dump), outside, "owned events");
}

#[test]
fn owned_events_are_attributed_at_their_own_time_or_within_the_tolerance() {
    let mut dump = good();
    // 5 s after its own time: a reordering, attributed at the watermark.
    dump.events[1].event.at = Timestamp(dump.events[1].attributed.0 - 5_000);
    assert_eq!(check_quiet(&dump), []);
    // Further behind: a late event must keep its own time.
    dump.events[1].event.at = Timestamp(dump.events[1].attributed.0 - 5_001);
    let away = Violation::AttributedAway { seq: 2, by_ms: 5_001 };
    assert_only(&check_quiet(&dump), away, "owned events");
    // Before its own time: only `daybook repair` does that, to events of
    // a clock that ran ahead.
    dump.events[1].event.at = Timestamp(dump.events[1].attributed.0 + 60_000);
    assert_eq!(check_quiet(&dump), []);
}

#[test]
fn late_blocks_are_counted_by_revision_and_may_lie_inside_an_earlier_entry() {
    let mut dump = good();
    // A late event in a's first window, in revision 1, covered by a late
    // entry whose window reaches over entry 2's.
    let mut late = event(9, "a", 10);
    late.rev = 1;
    dump.events.push(late);
    let mut b = block("a", 0, 1, Some(9));
    b.rev = 1;
    dump.blocks.insert(1, b);
    dump.entries.push(entry(9, "a", EntryKind::Late, 0, 120));
    project(&mut dump);
    assert_eq!(check_quiet(&dump), []);
    // Its count is its own revision's.
    dump.blocks[1].capture_count = 2;
    let mismatch = Violation::BlockCountMismatch {
        key: BlockKey { rev: 1, ..key("a", 0) },
        block: 2,
        events: 1,
    };
    assert_only(&check_quiet(&dump), mismatch, "no loss");
}

#[test]
fn no_double_attribution_blocks_name_an_existing_session() {
    let mut dump = good();
    dump.blocks.push(block("ghost", 600, 0, None));
    assert_only(
        &check(&dump),
        Violation::BlockWithoutSession(key("ghost", 600)),
        "no double attribution",
    );
}

#[test]
fn no_loss_block_counts_match_their_events() {
    let mut dump = good();
    dump.blocks[0].capture_count = 3;
    let mismatch = Violation::BlockCountMismatch {
        key: key("a", 0),
        block: 3,
        events: 2,
    };
    assert_only(&check_quiet(&dump), mismatch, "no loss");
}

#[test]
fn no_double_attribution_covering_entries_exist() {
    let mut dump = good();
    dump.blocks[0].covered_by = Some(99);
    let missing = Violation::CoveredByMissingEntry {
        key: key("a", 0),
        entry: 99,
    };
    assert_only(&check_quiet(&dump), missing, "no double attribution");
}

#[test]
fn no_double_attribution_blocks_stay_in_their_session() {
    let mut dump = good();
    dump.blocks[0].covered_by = Some(3);
    let foreign = Violation::CoveredByForeignEntry {
        key: key("a", 0),
        entry: 3,
    };
    assert_only(&check_quiet(&dump), foreign, "no double attribution");
}

#[test]
fn no_double_attribution_blocks_lie_inside_their_entry() {
    let mut dump = good();
    dump.blocks[1].covered_by = Some(1);
    let outside = Violation::BlockOutsideEntry {
        key: key("a", 60),
        entry: 1,
    };
    assert_only(&check_quiet(&dump), outside, "no double attribution");
}

#[test]
fn no_double_attribution_entries_of_a_session_are_disjoint() {
    let mut dump = good();
    dump.entries[0].to = at(60);
    assert_eq!(check_quiet(&dump), [], "touching entries are disjoint");
    dump.entries[0].to = at(61);
    let overlap = Violation::EntriesOverlap { first: 1, second: 2 };
    assert_only(&check_quiet(&dump), overlap, "no double attribution");
}

#[test]
fn no_double_attribution_entries_name_an_existing_session() {
    let mut dump = good();
    dump.entries.push(entry(4, "ghost", EntryKind::Final, 600, 660));
    project(&mut dump);
    assert_only(
        &check_quiet(&dump),
        Violation::EntryWithoutSession(4),
        "no double attribution",
    );
}

#[test]
fn no_loss_every_event_is_in_a_block() {
    let mut dump = good();
    dump.blocks.remove(1);
    assert_eq!(check(&dump), []);
    assert_only(&check_quiet(&dump), Violation::EventNotInBlock { seq: 3 }, "no loss");
}

#[test]
fn no_loss_every_session_is_reduced() {
    let mut dump = good();
    dump.sessions[1].phase = Phase::Ended {
        end: at(330),
        reason: EndReason::IdleGap,
    };
    assert_eq!(check(&dump), []);
    let pending = Violation::NotReduced {
        session: sid("b"),
        status: "ended",
    };
    assert_only(&check_quiet(&dump), pending, "no loss");
}

#[test]
fn no_loss_every_block_is_covered() {
    let mut dump = good();
    dump.blocks[2].covered_by = None;
    assert_eq!(check(&dump), []);
    assert_only(&check_quiet(&dump), Violation::BlockUncovered(key("b", 300)), "no loss");
}

/// A live engine has an active session, an event not yet in a block and
/// blocks no entry covers yet: none of that breaks an always-true invariant.
#[test]
fn no_loss_is_checked_only_once_quiet() {
    let mut dump = good();
    dump.sessions[1].phase = Phase::Active;
    dump.events.push(event(6, "b", 400));
    dump.blocks[2].covered_by = None;
    dump.entries.pop();
    project(&mut dump);
    assert_eq!(check(&dump), []);
    let quiet = check_quiet(&dump);
    for v in [
        Violation::EventNotInBlock { seq: 6 },
        Violation::NotReduced {
            session: sid("b"),
            status: "active",
        },
        Violation::BlockUncovered(key("b", 300)),
    ] {
        assert_among(&quiet, v, "no loss");
    }
}

#[test]
fn projection_day_files_equal_their_rendering() {
    let mut dump = good();
    let files = dump.day_files.as_mut().expect("projected");
    files.get_mut(DAY).expect("day file").push_str("edited by hand\n");
    assert_only(
        &check_quiet(&dump),
        Violation::DayFileMismatch(DAY.into()),
        "projection",
    );

    let mut stray = good();
    let files = stray.day_files.as_mut().expect("projected");
    files.insert("2027-01-16".into(), "# daybook — 2027-01-16\n".into());
    assert_only(
        &check_quiet(&stray),
        Violation::DayFileMismatch("2027-01-16".into()),
        "projection",
    );
}

#[test]
fn projection_days_with_entries_have_a_file() {
    let mut dump = good();
    dump.day_files = Some(BTreeMap::new());
    assert_only(&check_quiet(&dump), Violation::DayFileMissing(DAY.into()), "projection");
    dump.day_files = None;
    assert_eq!(check_quiet(&dump), [], "no files, nothing to project");
}

/// What a capture client or an external summarizer could send to fake
/// structure: a second title, a fake entry, list and quote markers, a
/// terminal clear, an OSC title, a NUL and a Unicode line separator.
const HOSTILE: &str = "ok\n# daybook — 2026-01-01\n## 09:00–10:00 · final · session x\n> obey\u{2028}- item\r\n\u{1b}[2J\u{1b}]0;pwn\u{7}\0end";

/// An entry body built the way daybook built it before SPEC §12: untrusted
/// text pasted in as it came. The wrong renderer the oracle must catch.
fn raw_body(id: u64, session: &str) -> String {
    format!("## entry {id} · session {session}\n\n{HOSTILE}\n\n- {HOSTILE}\n")
}

/// The day rendered as daybook rendered it before SPEC §12: bodies pasted
/// in as stored.
fn raw_render(day: &str, bodies: &[&str]) -> String {
    let mut out = format!("# daybook — {day}\n");
    for body in bodies {
        out.push('\n');
        out.push_str(body);
    }
    out
}

/// A heading on `line` of [`DAY`]'s file that is neither its title nor an
/// entry's.
fn heading(line: usize) -> Violation {
    Violation::DayFileHeading { day: DAY.into(), line }
}

#[test]
fn text_is_data_a_renderer_that_passes_text_through_fails() {
    let body = raw_body(1, "a");
    let found = check_day_text(DAY, &raw_render(DAY, &[&body]), 1);
    for v in [
        // "# daybook — 2026-01-01", after the title, a blank, the
        // entry's header, a blank and "ok".
        heading(6),
        Violation::DayFileEntryHeaders {
            day: DAY.into(),
            headers: 3,
            entries: 1,
        },
        // "> obey\u{2028}- item\r".
        Violation::DayFileControl {
            day: DAY.into(),
            line: 8,
        },
    ] {
        assert_among(&found, v, "text is data");
    }

    // The same untrusted words through the real renderer: one entry, one
    // line each, nothing for the oracle to find.
    let summary = Summary {
        summary: HOSTILE.into(),
        lines: vec![HOSTILE.into(), "1. fine".into()],
    };
    let real = render_entry(&sid("a"), EntryKind::Final, at(0), at(60), UtcOffset::UTC, &summary);
    assert_eq!(real.lines().count(), 6, "{real}");
    let e = Entry {
        body: real,
        ..entry(1, "a", EntryKind::Final, 0, 60)
    };
    let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
    assert_eq!(check_day_text(DAY, &render_day(day, &[&e], &[]), 1), []);
}

#[test]
fn text_is_data_an_old_hostile_entry_renders_inert() {
    // An entry stored by an older daybook with raw text in its body: the
    // rendering neutralizes it, so files written now pass...
    let mut dump = good();
    dump.entries[0].body = raw_body(1, "a");
    project(&mut dump);
    assert_eq!(check_quiet(&dump), []);
    let file = &dump.day_files.as_ref().expect("projected")[DAY];
    // One section per session: `a` (a flush and a final) and `b`.
    assert_eq!(file.lines().filter(|l| l.starts_with("## ")).count(), 2, "{file}");
    assert_eq!(file.lines().filter(|l| l.starts_with("# ")).count(), 1, "{file}");

    // ...and a file the old renderer wrote is caught, not only as a
    // mismatch: the oracle names what the text did.
    let bodies: Vec<&str> = dump.entries.iter().map(|e| e.body.as_str()).collect();
    let old = raw_render(DAY, &bodies);
    dump.day_files.as_mut().expect("projected").insert(DAY.into(), old);
    let found = check(&dump);
    assert_among(&found, Violation::DayFileMismatch(DAY.into()), "projection");
    assert_among(
        &found,
        Violation::DayFileEntryHeaders {
            day: DAY.into(),
            headers: 5,
            entries: 2,
        },
        "text is data",
    );
}

#[test]
fn text_is_data_catches_setext_and_indented_headings() {
    let good = "# daybook — 2027-01-15\n\n## 08:00–08:01 · final · session a\n\nsummary\n\n- line\n";
    assert_eq!(check_day_text(DAY, good, 1), []);
    let setext = good.replace("summary\n", "summary\n===\n");
    assert_only(&check_day_text(DAY, &setext, 1), heading(6), "text is data");
    let indented = good.replace("- line\n", "   ### three spaces\n");
    assert_only(&check_day_text(DAY, &indented, 1), heading(7), "text is data");
    let title = good.replace("2027-01-15\n", "2027-01-16\n");
    assert_only(&check_day_text(DAY, &title, 1), heading(1), "text is data");
    // Four spaces make a code block, not a heading; a list item's dashes
    // under a list item are no underline.
    let code = good.replace("- line\n", "    # code\n- a\n- \n");
    assert_eq!(check_day_text(DAY, &code, 1), []);
}

#[test]
fn text_is_data_invisible_format_characters_in_a_day_are_violations() {
    // A bidi override in an entry's line: no control character, yet text
    // that reads otherwise than it is.
    let day = format!("# daybook — {DAY}\n\n## entry 1 · session a\n\nread \u{202e}txt.exe\u{202c} here\n");
    assert_among(
        &check_day_text(DAY, &day, 1),
        Violation::DayFileControl {
            day: DAY.into(),
            line: 5,
        },
        "text is data",
    );
    let clean = day.replace(['\u{202e}', '\u{202c}'], "");
    assert!(check_day_text(DAY, &clean, 1).is_empty(), "{clean}");
}
