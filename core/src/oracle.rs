//! The invariant oracle (SPEC §8, 1–6). The simulator, the tests and
//! `daybook doctor` all call [`check`] (always-true invariants) or
//! [`check_quiet`] (plus "no loss", once the engine has gone quiet).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;

use std::time::Duration;

use crate::aggregate::SessionInput;
use crate::block::{Block, BlockKey, EntryId};
use crate::config::Config;
use crate::daylog::{day_name, render_day, section_count};
use crate::event::StoredEvent;
use crate::reduction::Entry;
use crate::session::{self, Phase, Session, SessionId};
use crate::store::Dump;
use crate::time::Timestamp;

/// One broken invariant, with what is needed to find it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// 1: two sessions overlap in time.
    SessionsOverlap {
        /// The earlier session.
        first: SessionId,
        /// The later one, starting before `first` ends.
        second: SessionId,
    },
    /// 1: more than one session is active.
    SeveralActive(Vec<SessionId>),
    /// 1: a session ends before it starts.
    EndsBeforeStart(SessionId),
    /// 2: an event names a session that does not exist.
    EventWithoutSession {
        /// The event's seq.
        seq: u64,
        /// The missing session.
        session: SessionId,
    },
    /// 2: an event's attributed time lies outside its session.
    EventOutsideSession {
        /// The event's seq.
        seq: u64,
        /// Its session.
        session: SessionId,
    },
    /// 2: an event's attributed time is neither its `at` nor within the
    /// reorder tolerance after it.
    AttributedAway {
        /// The event's seq.
        seq: u64,
        /// Attributed minus `at`, in milliseconds.
        by_ms: i64,
    },
    /// 3: a block names a session that does not exist.
    BlockWithoutSession(BlockKey),
    /// 4: a block's capture count differs from its events.
    BlockCountMismatch {
        /// The block.
        key: BlockKey,
        /// Its capture count.
        block: u32,
        /// Events of its session in its window.
        events: u32,
    },
    /// 3: a block is marked covered by an entry that does not exist.
    CoveredByMissingEntry {
        /// The block.
        key: BlockKey,
        /// The missing entry.
        entry: EntryId,
    },
    /// 3: a block is covered by another session's entry.
    CoveredByForeignEntry {
        /// The block.
        key: BlockKey,
        /// The entry of another session.
        entry: EntryId,
    },
    /// 3: a covered block lies outside its entry's window.
    BlockOutsideEntry {
        /// The block.
        key: BlockKey,
        /// Its entry.
        entry: EntryId,
    },
    /// 3: two entries of one session have overlapping windows.
    EntriesOverlap {
        /// The earlier entry.
        first: EntryId,
        /// The later one.
        second: EntryId,
    },
    /// 3: an entry names a session that does not exist.
    EntryWithoutSession(EntryId),
    /// 4: an event is in no block.
    EventNotInBlock {
        /// The event's seq.
        seq: u64,
    },
    /// 4: a session is not reduced once quiet.
    NotReduced {
        /// The session.
        session: SessionId,
        /// Its status.
        status: &'static str,
    },
    /// 4: a block of a session is covered by no entry once quiet.
    BlockUncovered(BlockKey),
    /// 6: a day file differs from the rendering of that day's entries.
    DayFileMismatch(String),
    /// 6: a day with entries has no file.
    DayFileMissing(String),
    /// 12: a day file (or a day's rendering) has a heading other than its
    /// title on line 1 and its entries' headers: captured text became
    /// structure.
    DayFileHeading {
        /// The day, `YYYY-MM-DD`.
        day: String,
        /// The heading's line, from 1.
        line: usize,
    },
    /// 12: a day file (or a day's rendering) has more or fewer section
    /// headers than the day has sessions with entries (one section per
    /// session, [`crate::daylog::render_day`]): captured text faked one,
    /// or hid one.
    DayFileEntryHeaders {
        /// The day, `YYYY-MM-DD`.
        day: String,
        /// Section header lines (`## ` at the start of a line).
        headers: usize,
        /// Sections the day should have: its sessions with entries.
        entries: usize,
    },
    /// 12: a day file (or a day's rendering) holds a control character
    /// (C0 or C1, `\n` aside), a Unicode line or paragraph separator, or
    /// an invisible format character ([`crate::text::is_format`]).
    DayFileControl {
        /// The day, `YYYY-MM-DD`.
        day: String,
        /// Its line, from 1.
        line: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = |k: &BlockKey| format!("block ({}, {}, rev {})", k.session_id, k.start, k.rev);
        match self {
            Self::SessionsOverlap { first, second } => {
                write!(f, "disjoint: session {second} starts before session {first} ends")
            }
            Self::SeveralActive(ids) => {
                write!(f, "disjoint: {} sessions are active: {ids:?}", ids.len())
            }
            Self::EndsBeforeStart(id) => write!(f, "disjoint: session {id} ends before it starts"),
            Self::EventWithoutSession { seq, session } => {
                write!(f, "owned events: event {seq} names missing session {session}")
            }
            Self::EventOutsideSession { seq, session } => {
                write!(f, "owned events: event {seq} lies outside session {session}")
            }
            Self::AttributedAway { seq, by_ms } => write!(
                f,
                "owned events: event {seq} is attributed {by_ms} ms away from its own time, beyond the reorder tolerance"
            ),
            Self::BlockWithoutSession(key) => write!(f, "no double attribution: {} names a missing session", k(key)),
            Self::BlockCountMismatch { key, block, events } => {
                write!(
                    f,
                    "no loss: {} counts {block} captures but its session has {events} events there",
                    k(key)
                )
            }
            Self::CoveredByMissingEntry { key, entry } => write!(
                f,
                "no double attribution: {} is covered by missing entry {entry}",
                k(key)
            ),
            Self::CoveredByForeignEntry { key, entry } => {
                write!(
                    f,
                    "no double attribution: {} is covered by entry {entry} of another session",
                    k(key)
                )
            }
            Self::BlockOutsideEntry { key, entry } => {
                write!(f, "no double attribution: {} lies outside its entry {entry}", k(key))
            }
            Self::EntriesOverlap { first, second } => write!(
                f,
                "no double attribution: entries {first} and {second} of one session overlap"
            ),
            Self::EntryWithoutSession(id) => write!(f, "no double attribution: entry {id} names a missing session"),
            Self::EventNotInBlock { seq } => write!(f, "no loss: event {seq} is in no block"),
            Self::NotReduced { session, status } => {
                write!(f, "no loss: session {session} is {status}, not reduced")
            }
            Self::BlockUncovered(key) => write!(f, "no loss: {} is covered by no entry", k(key)),
            Self::DayFileMismatch(day) => {
                write!(f, "projection: day file {day} differs from its entries")
            }
            Self::DayFileMissing(day) => write!(f, "projection: day {day} has entries but no file"),
            Self::DayFileHeading { day, line } => write!(
                f,
                "text is data: day {day} line {line} is a heading that is neither the title nor a session's"
            ),
            Self::DayFileEntryHeaders { day, headers, entries } => write!(
                f,
                "text is data: day {day} has {headers} session headers for {entries} sessions"
            ),
            Self::DayFileControl { day, line } => {
                write!(
                    f,
                    "text is data: day {day} line {line} holds a control or format character"
                )
            }
        }
    }
}

/// Checks the invariants that hold at every instant: 1 (disjoint), 2
/// (owned events, with the default `reorder_tolerance`), 3 (no double
/// attribution), the block counts behind 4, and 6 (projection, when the
/// dump carries day files).
pub fn check(dump: &Dump) -> Vec<Violation> {
    check_with(dump, Config::default().reorder_tolerance)
}

/// [`check`] for a store whose engine ran with `reorder_tolerance`.
pub fn check_with(dump: &Dump, reorder_tolerance: Duration) -> Vec<Violation> {
    let mut out = Vec::new();
    let sessions: BTreeMap<&SessionId, &Session> = dump.sessions.iter().map(|s| (&s.id, s)).collect();
    check_disjoint(dump, &mut out);
    check_events(dump, &sessions, &mut out);
    check_attribution(dump, reorder_tolerance, &mut out);
    check_blocks(dump, &sessions, &mut out);
    check_projection(dump, &mut out);
    out
}

/// [`check`] plus invariant 4 as it holds once the engine is quiet:
/// every event in a block, every session reduced, every block covered.
pub fn check_quiet(dump: &Dump) -> Vec<Violation> {
    check_quiet_with(dump, Config::default().reorder_tolerance)
}

/// [`check_quiet`] for a store whose engine ran with `reorder_tolerance`.
pub fn check_quiet_with(dump: &Dump, reorder_tolerance: Duration) -> Vec<Violation> {
    let mut out = check_with(dump, reorder_tolerance);
    let blocks = blocks_by_revision(dump);
    for e in &dump.events {
        let inside = block_of(&blocks, e).is_some();
        if !inside {
            out.push(Violation::EventNotInBlock { seq: e.seq });
        }
    }
    for s in &dump.sessions {
        if !matches!(s.phase, Phase::Reduced { .. }) {
            out.push(Violation::NotReduced {
                session: s.id.clone(),
                status: s.phase.status(),
            });
        }
    }
    for b in dump.blocks.iter().filter(|b| b.covered_by.is_none()) {
        out.push(Violation::BlockUncovered(b.key()));
    }
    out
}

fn check_disjoint(dump: &Dump, out: &mut Vec<Violation>) {
    // In session order, so touching is never mistaken for overlap.
    fn key(s: &Session) -> (Timestamp, Timestamp, &SessionId) {
        session::order_key(s.start, s.phase.end(), &s.id)
    }
    let mut sorted: Vec<&Session> = dump.sessions.iter().collect();
    sorted.sort_by(|a, b| key(a).cmp(&key(b)));
    let active: Vec<SessionId> = sorted
        .iter()
        .filter(|s| s.phase == Phase::Active)
        .map(|s| s.id.clone())
        .collect();
    if active.len() > 1 {
        out.push(Violation::SeveralActive(active));
    }
    // The session reaching furthest so far; an active one reaches forever.
    let mut reach: Option<(Timestamp, &SessionId)> = None;
    for s in sorted {
        let end = key(s).1;
        if end < s.start {
            out.push(Violation::EndsBeforeStart(s.id.clone()));
        }
        if let Some((until, first)) = reach
            && until > s.start
        {
            out.push(Violation::SessionsOverlap {
                first: first.clone(),
                second: s.id.clone(),
            });
        }
        if reach.is_none_or(|(until, _)| end > until) {
            reach = Some((end, &s.id));
        }
    }
}

fn check_events(dump: &Dump, sessions: &BTreeMap<&SessionId, &Session>, out: &mut Vec<Violation>) {
    for e in &dump.events {
        match sessions.get(&e.session_id) {
            None => out.push(Violation::EventWithoutSession {
                seq: e.seq,
                session: e.session_id.clone(),
            }),
            Some(s) => {
                let after_end = s.phase.end().is_some_and(|end| e.attributed > end);
                if e.attributed < s.start || after_end {
                    out.push(Violation::EventOutsideSession {
                        seq: e.seq,
                        session: s.id.clone(),
                    });
                }
            }
        }
    }
}

/// Invariant 2's second half: an event is attributed at its own `at`, or,
/// as a small reordering, at most `tolerance` after it (at the watermark).
/// Earlier than its `at` is allowed: `daybook repair` brings the events of
/// a clock that ran ahead back to the present (SPEC §2's future bound),
/// and the engine itself never attributes an event before its `at`.
fn check_attribution(dump: &Dump, tolerance: Duration, out: &mut Vec<Violation>) {
    let tolerance = i64::try_from(tolerance.as_millis()).unwrap_or(i64::MAX);
    for e in &dump.events {
        let by_ms = e.attributed.millis_since(e.event.at);
        if by_ms > tolerance {
            out.push(Violation::AttributedAway { seq: e.seq, by_ms });
        }
    }
}

/// Blocks keyed by `(session, revision, start)`, to find an event's block.
type ByRevision<'a> = BTreeMap<(&'a SessionId, u32, Timestamp), &'a Block>;

fn blocks_by_revision(dump: &Dump) -> ByRevision<'_> {
    dump.blocks
        .iter()
        .map(|b| ((&b.session_id, b.rev, b.start), b))
        .collect()
}

/// The block of `e`'s session and revision whose window holds its
/// attributed time.
fn block_of<'a>(blocks: &ByRevision<'a>, e: &StoredEvent) -> Option<&'a Block> {
    blocks
        .range(..=(&e.session_id, e.rev, e.attributed))
        .next_back()
        .map(|(_, b)| *b)
        .filter(|b| b.session_id == e.session_id && b.rev == e.rev && b.start <= e.attributed && e.attributed < b.end)
}

fn check_blocks(dump: &Dump, sessions: &BTreeMap<&SessionId, &Session>, out: &mut Vec<Violation>) {
    let entries: BTreeMap<EntryId, &Entry> = dump.entries.iter().map(|e| (e.id, e)).collect();
    let by_revision = blocks_by_revision(dump);
    let mut counts: BTreeMap<BlockKey, u32> = BTreeMap::new();
    for e in &dump.events {
        if let Some(b) = block_of(&by_revision, e) {
            *counts.entry(b.key()).or_default() += 1;
        }
    }
    // Each entry's span over the revision-0 blocks it covers: in-order
    // reductions of one session cover disjoint runs of windows, but late
    // blocks (revision 1 on) lie inside windows an earlier entry spans,
    // so an entry that covers one has a window reaching over others.
    let mut spans: BTreeMap<EntryId, (Timestamp, Timestamp)> = BTreeMap::new();
    for b in &dump.blocks {
        let key = b.key();
        if !sessions.contains_key(&b.session_id) {
            out.push(Violation::BlockWithoutSession(key.clone()));
        }
        if b.rev == 0
            && let Some(entry) = b.covered_by
        {
            let span = spans.entry(entry).or_insert((b.start, b.end));
            *span = (span.0.min(b.start), span.1.max(b.end));
        }
        // Blocks imported without events keep their own count.
        if let Some(&events) = counts.get(&key)
            && events != b.capture_count
        {
            out.push(Violation::BlockCountMismatch {
                key: key.clone(),
                block: b.capture_count,
                events,
            });
        }
        let Some(entry_id) = b.covered_by else {
            continue;
        };
        match entries.get(&entry_id) {
            None => out.push(Violation::CoveredByMissingEntry { key, entry: entry_id }),
            Some(e) if e.session_id != b.session_id => {
                out.push(Violation::CoveredByForeignEntry { key, entry: entry_id })
            }
            Some(e) if b.start < e.from || b.end > e.to => {
                out.push(Violation::BlockOutsideEntry { key, entry: entry_id })
            }
            Some(_) => {}
        }
    }
    let mut by_session: BTreeMap<&SessionId, Vec<&Entry>> = BTreeMap::new();
    for e in &dump.entries {
        if !sessions.contains_key(&e.session_id) {
            out.push(Violation::EntryWithoutSession(e.id));
        }
        by_session.entry(&e.session_id).or_default().push(e);
    }
    // An entry is taken at its window, unless it covers late blocks: then
    // at the span of its revision-0 blocks (none: nothing to keep apart).
    let late: BTreeSet<EntryId> = dump
        .blocks
        .iter()
        .filter(|b| b.rev > 0)
        .filter_map(|b| b.covered_by)
        .collect();
    for entries in by_session.values() {
        let mut runs: Vec<(Timestamp, Timestamp, EntryId)> = entries
            .iter()
            .filter_map(|e| match spans.get(&e.id) {
                _ if !late.contains(&e.id) => Some((e.from, e.to, e.id)),
                Some(&(from, to)) => Some((from, to, e.id)),
                None => None,
            })
            .collect();
        runs.sort();
        for pair in runs.windows(2) {
            if pair[0].1 > pair[1].0 {
                out.push(Violation::EntriesOverlap {
                    first: pair[0].2,
                    second: pair[1].2,
                });
            }
        }
    }
}

/// What invariant 6 holds the day files to: every day that has entries
/// (by [`Entry::day`]), with its entries and their rendering over the
/// dump's sessions and events (each session's events in attributed
/// order, as the store reads them).
pub fn renderings(dump: &Dump) -> BTreeMap<NaiveDate, (Vec<&Entry>, String)> {
    let mut days: BTreeMap<NaiveDate, Vec<&Entry>> = BTreeMap::new();
    for e in &dump.entries {
        days.entry(e.day()).or_default().push(e);
    }
    if days.is_empty() {
        return BTreeMap::new();
    }
    let mut events: BTreeMap<&SessionId, Vec<StoredEvent>> = BTreeMap::new();
    for e in &dump.events {
        events.entry(&e.session_id).or_default().push(e.clone());
    }
    for list in events.values_mut() {
        list.sort_by_key(|e| (e.attributed, e.seq));
    }
    let inputs: Vec<SessionInput<'_>> = dump
        .sessions
        .iter()
        .map(|s| SessionInput {
            session: s,
            events: events.get(&s.id).map_or(&[], Vec::as_slice),
        })
        .collect();
    days.into_iter()
        .map(|(day, entries)| {
            let text = render_day(day, &entries, &inputs);
            (day, (entries, text))
        })
        .collect()
}

/// Invariant 6, and §12 on every day's rendering (with or without files):
/// a wrong renderer fails here even where the files match it.
fn check_projection(dump: &Dump, out: &mut Vec<Violation>) {
    let days = renderings(dump);
    if days.is_empty() && dump.day_files.as_ref().is_none_or(BTreeMap::is_empty) {
        return;
    }
    for (day, (entries, rendered)) in &days {
        let name = day_name(*day);
        let sections = section_count(*day, entries);
        out.extend(check_day_text(&name, rendered, sections));
        let Some(files) = &dump.day_files else { continue };
        match files.get(&name) {
            None => out.push(Violation::DayFileMissing(name)),
            Some(text) if text != rendered => {
                out.extend(check_day_text(&name, text, sections));
                out.push(Violation::DayFileMismatch(name));
            }
            Some(_) => {}
        }
    }
    let Some(files) = &dump.day_files else { return };
    for name in files.keys() {
        let known = days.keys().any(|d| day_name(*d) == *name);
        if !known {
            out.push(Violation::DayFileMismatch(name.clone()));
        }
    }
}

/// SPEC §12 on the text of one day file: its title, `# daybook — DAY`, is
/// line 1 and the only level-1 heading; the only other headings are
/// session headers (`## ` at the start of a line), exactly `entries` of
/// them ([`crate::daylog::section_count`]); no
/// line is a setext underline that would turn the line above into a
/// heading; and no character is a control (C0 or C1, `\n` aside) or a
/// Unicode line or paragraph separator. Whatever an event carries, a
/// rendering that passes this has not let it become structure.
pub fn check_day_text(day: &str, text: &str, entries: usize) -> Vec<Violation> {
    let mut out = Vec::new();
    let title = format!("# daybook — {day}");
    let mut headers = 0;
    let mut previous: Option<&str> = None;
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if line
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{2028}' || c == '\u{2029}' || crate::text::is_format(c))
        {
            out.push(Violation::DayFileControl {
                day: day.to_owned(),
                line: n,
            });
        }
        let heading = if i == 0 {
            line != title
        } else if line.starts_with("## ") {
            headers += 1;
            false
        } else {
            is_atx_heading(line) || previous.is_some_and(|p| is_setext_underline(p, line))
        };
        if heading {
            out.push(Violation::DayFileHeading {
                day: day.to_owned(),
                line: n,
            });
        }
        previous = Some(line);
    }
    if headers != entries {
        out.push(Violation::DayFileEntryHeaders {
            day: day.to_owned(),
            headers,
            entries,
        });
    }
    out
}

/// CommonMark's ATX heading: up to three spaces, one to six `#`, then a
/// space, a tab or the end of the line.
fn is_atx_heading(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    indent <= 3 && (1..=6).contains(&hashes) && (rest.len() == hashes || rest[hashes..].starts_with([' ', '\t']))
}

/// Whether `line` underlines `previous` into a setext heading: a run of
/// `=` or of `-` (up to three spaces before, spaces after) under a line of
/// paragraph text (not blank, not a heading, not a list item).
fn is_setext_underline(previous: &str, line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let run = line.trim();
    let underline = indent <= 3 && !run.is_empty() && (run.chars().all(|c| c == '=') || run.chars().all(|c| c == '-'));
    let paragraph = !previous.trim().is_empty()
        && !is_atx_heading(previous)
        && !previous.trim_start().starts_with("- ")
        && !previous.trim_start().starts_with('>');
    underline && paragraph
}
