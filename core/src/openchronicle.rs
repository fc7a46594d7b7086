//! OpenChronicle's data as daybook reads it: the entries its session
//! reducer wrote into per-day memory files (`event-YYYY-MM-DD.md`), and
//! the rule that gives each imported timeline block its session. Pure
//! functions over text and instants; `daybook import openchronicle`
//! does the reading and writing.
//!
//! A memory file is YAML front matter, then entries, each a heading
//! `## [written-at] {id: YYYYMMDD-HHMM-xxxxxx} #tag …` and a body. The
//! reducer's entries carry the tags `#session #sid:<session id>`, plus
//! `#flush` for an incremental one and `#heuristic` when the model failed,
//! and a body of a bold header `**Session <id>[ [flush]]** (HH:MM–HH:MM)`
//! (the reduced window, local time of the session's start), an optional
//! summary paragraph and `- ` sub-task lines, each maybe followed by an
//! OpenChronicle-only pointer ` — raw: read_recent_capture(…)`. The
//! heading's timestamp is when the entry was written, not what it covers.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};

use crate::reduction::EntryKind;
use crate::session::SessionId;
use crate::time::{Timestamp, UtcOffset};

/// One entry of a memory file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryEntry {
    /// OpenChronicle's id for it (`YYYYMMDD-HHMM-xxxxxx`).
    pub id: String,
    /// The heading's timestamp as written (local time, no offset).
    pub written: String,
    /// The session its `#sid:` tag names, if any.
    pub session: Option<SessionId>,
    /// Flush, heuristic or final (the reducer's terminal entry).
    pub kind: EntryKind,
    /// Struck through and replaced by a later entry.
    pub superseded: bool,
    /// The reduced window from the body's header, as minutes after local
    /// midnight `(from, to)`; `None` for an entry without that header.
    pub window: Option<(u32, u32)>,
    /// The summary paragraph (lines joined by spaces); for an entry without
    /// the reducer's header, its whole text.
    pub summary: String,
    /// The sub-task lines, without `- ` and without OpenChronicle's
    /// `read_recent_capture` pointer.
    pub lines: Vec<String>,
}

/// The pointer OpenChronicle appends to a sub-task line: it names a tool of
/// OpenChronicle's own MCP server, which daybook does not have.
const POINTER: &str = " — raw: read_recent_capture(";

/// Parses a memory file's entries in file order. Anything that is not an
/// entry heading or inside an entry (the front matter, a title) is skipped;
/// an entry whose body is not the reducer's shape keeps its text as the
/// summary, so nothing written under a heading is lost.
pub fn parse_memory_file(text: &str) -> Vec<MemoryEntry> {
    let body = skip_front_matter(text);
    let mut out = Vec::new();
    let mut current: Option<(Heading, Vec<&str>)> = None;
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(h) = parse_heading(line) {
            if let Some((h, lines)) = current.take() {
                out.push(entry(h, &lines));
            }
            current = Some((h, Vec::new()));
        } else if let Some((_, lines)) = &mut current {
            lines.push(line);
        }
    }
    if let Some((h, lines)) = current {
        out.push(entry(h, &lines));
    }
    out
}

fn skip_front_matter(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(i) => &rest[i + 5..],
        None => rest.strip_suffix("\n---").map_or(text, |_| ""),
    }
}

struct Heading {
    written: String,
    id: String,
    tags: Vec<String>,
}

/// `## [ts] {id: x} #a #b`, as OpenChronicle's own parser reads it.
fn parse_heading(line: &str) -> Option<Heading> {
    let rest = line.strip_prefix("##")?.trim_start().strip_prefix('[')?;
    let close = rest.find(']')?;
    let written = &rest[..close];
    let rest = rest[close + 1..].trim_start().strip_prefix("{id:")?.trim_start();
    let end = rest.find('}')?;
    let id = &rest[..end];
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let tags = rest[end + 1..]
        .split_whitespace()
        .filter_map(|t| t.strip_prefix('#'))
        .map(str::to_owned)
        .collect();
    Some(Heading {
        written: written.to_owned(),
        id: id.to_owned(),
        tags,
    })
}

fn entry(h: Heading, lines: &[&str]) -> MemoryEntry {
    let tag = |t: &str| h.tags.iter().any(|x| x == t);
    let session = h
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("sid:"))
        .filter(|s| !s.is_empty())
        .map(SessionId::from);
    let kind = if tag("flush") {
        EntryKind::Flush
    } else if tag("heuristic") {
        EntryKind::Heuristic
    } else {
        EntryKind::Final
    };
    // Supersession wraps the body in ~~…~~ and tags the heading; the
    // replacement ends with an HTML comment naming what it replaced.
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !(l.starts_with("<!--") && l.ends_with("-->")))
        .collect();
    let text = lines.join("\n");
    let trimmed = text.trim();
    let struck = trimmed.len() >= 4 && trimmed.starts_with("~~") && trimmed.ends_with("~~");
    let superseded = struck || h.tags.iter().any(|t| t.starts_with("superseded-by:"));
    let text = if struck {
        &trimmed[2..trimmed.len() - 2]
    } else {
        trimmed
    };
    let mut rows = text.split('\n').map(str::trim_end);
    let first = rows.next().unwrap_or("");
    let window = header_window(first);
    let (mut summary, mut subtasks): (Vec<&str>, Vec<String>) = (Vec::new(), Vec::new());
    if window.is_none() {
        summary.push(first.trim());
    }
    for row in rows {
        if let Some(item) = row.strip_prefix("- ") {
            let item = item.find(POINTER).map_or(item, |i| &item[..i]);
            subtasks.push(item.trim().to_owned());
        } else if row.trim().is_empty() {
        } else if let Some(last) = subtasks.last_mut() {
            last.push(' ');
            last.push_str(row.trim());
        } else {
            summary.push(row.trim());
        }
    }
    summary.retain(|s| !s.is_empty());
    MemoryEntry {
        id: h.id,
        written: h.written,
        session,
        kind,
        superseded,
        window,
        summary: summary.join(" "),
        lines: subtasks,
    }
}

/// `(HH:MM–HH:MM)` at the end of `**Session …** (…)`, as minutes.
fn header_window(line: &str) -> Option<(u32, u32)> {
    let rest = line.trim().strip_prefix("**Session ")?;
    let open = rest.rfind("** (")?;
    let inner = rest[open + 4..].strip_suffix(')')?;
    let (from, to) = inner.split_once('–').or_else(|| inner.split_once('-'))?;
    Some((minutes(from)?, minutes(to)?))
}

fn minutes(hhmm: &str) -> Option<u32> {
    let t = NaiveTime::parse_from_str(hhmm.trim(), "%H:%M").ok()?;
    Some(chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t))
}

/// The instants of a header window written on `day` (the memory file's
/// date: the local date of the session's start) at `offset`: the first
/// `from` not before the minute `not_before` falls in (a session that
/// started before midnight and was flushed after it writes its later
/// windows into its start's file), and `to` the next `HH:MM` after it.
pub fn window_instants(
    day: NaiveDate,
    (from, to): (u32, u32),
    offset: UtcOffset,
    not_before: Timestamp,
) -> (Timestamp, Timestamp) {
    const MINUTE: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MINUTE;
    let midnight = day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
        - i64::from(offset.0) * 1000;
    let mut start = midnight + i64::from(from) * MINUTE;
    let floor = not_before.window_start(Duration::from_secs(60)).0;
    // A bounded walk: a window is within days of its session's start.
    for _ in 0..3 {
        if start >= floor {
            break;
        }
        start += DAY;
    }
    let span = (i64::from(to) - i64::from(from)).rem_euclid(24 * 60) * MINUTE;
    (Timestamp(start), Timestamp(start + span))
}

/// The span of a session for block ownership: `[start, end)` once ended,
/// and for an orphan `[start, upper)` with recovery's upper bound (SPEC
/// §7: the next session's start, at most `max_session` after its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerSpan {
    /// The session.
    pub id: SessionId,
    /// Its start.
    pub start: Timestamp,
    /// Its end (exclusive).
    pub end: Timestamp,
}

/// Gives blocks their sessions as both stream by in order of start:
/// a block belongs to the earliest session whose span overlaps it, as
/// recovery gives a loose block its owner (SPEC §7), so every block has
/// exactly one owner. Memory holds only the spans that can still overlap
/// a later block.
#[derive(Debug, Default)]
pub struct BlockOwners {
    open: Vec<OwnerSpan>,
}

impl BlockOwners {
    /// A new, empty assigner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a session; sessions come in order of start, each before any
    /// block that ends after its start.
    pub fn push(&mut self, span: OwnerSpan) {
        self.open.push(span);
    }

    /// The owner of the block `[start, end)`; blocks come in order of start.
    pub fn owner(&mut self, start: Timestamp, end: Timestamp) -> Option<&SessionId> {
        // Spans ending by this block's start end before every later block.
        self.open.retain(|s| s.end > start);
        self.open.iter().find(|s| s.start < end && start < s.end).map(|s| &s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as OpenChronicle's reducer writes it (front matter by
    /// python-frontmatter: sorted keys, long description folded).
    const FILE: &str = "---
created: '2026-03-10'
description: Session-level activity log for 2026-03-10 — one entry per reduced work
  session, each carrying a time-ranged sub-task list produced by the S2 reducer.
entry_count: 3
needs_compact: false
status: active
tags:
- event
- session
- daily
updated: '2026-03-10'
---

## [2026-03-10T10:05] {id: 20260310-1005-23e128} #session #sid:sess_0123456789ab #flush
**Session sess_0123456789ab [flush]** (10:00–10:05)

Read docs.

- [10:00-10:05, Firefox] read docs — raw: read_recent_capture(at=\"10:00\", app_name=\"Firefox\")

## [2026-03-10T10:30] {id: 20260310-1030-c531c3} #session #sid:sess_0123456789ab #heuristic
**Session sess_0123456789ab** (10:05–10:29)

- [10:05-10:29, Code] wrote tests

## [2026-03-10T11:00] {id: 20260310-1100-aaaaaa} #note #superseded-by:20260310-1101-bbbbbb
~~Left early.~~
";

    #[test]
    fn parses_the_reducers_entries() {
        let entries = parse_memory_file(FILE);
        assert_eq!(entries.len(), 3);
        let flush = &entries[0];
        assert_eq!(flush.id, "20260310-1005-23e128");
        assert_eq!(flush.written, "2026-03-10T10:05");
        assert_eq!(flush.session, Some(SessionId::from("sess_0123456789ab")));
        assert_eq!(flush.kind, EntryKind::Flush);
        assert_eq!(flush.window, Some((600, 605)));
        assert_eq!(flush.summary, "Read docs.");
        assert_eq!(flush.lines, ["[10:00-10:05, Firefox] read docs"]);
        assert!(!flush.superseded);
        let last = &entries[1];
        assert_eq!(last.kind, EntryKind::Heuristic);
        assert_eq!(last.summary, "");
        assert_eq!(last.lines, ["[10:05-10:29, Code] wrote tests"]);
        let note = &entries[2];
        assert!(note.superseded);
        assert_eq!(note.session, None);
        assert_eq!(note.window, None);
        assert_eq!(note.summary, "Left early.");
    }

    #[test]
    fn a_window_after_midnight_belongs_to_the_next_day() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let plus1 = UtcOffset(3600);
        let start = Timestamp(1_773_180_000_000); // 2026-03-10T23:00:00+01:00
        let (from, to) = window_instants(day, (23 * 60 + 55, 5), plus1, start);
        assert_eq!(from.rfc3339(plus1), "2026-03-10T23:55:00.000+01:00");
        assert_eq!(to.rfc3339(plus1), "2026-03-11T00:05:00.000+01:00");
        let (from, _) = window_instants(day, (0, 10), plus1, start);
        assert_eq!(from.rfc3339(plus1), "2026-03-11T00:00:00.000+01:00");
    }

    #[test]
    fn each_block_goes_to_the_earliest_overlapping_session() {
        let t = |m: i64| Timestamp(m * 60_000);
        let mut owners = BlockOwners::new();
        owners.push(OwnerSpan {
            id: "a".into(),
            start: t(0),
            end: t(10),
        });
        owners.push(OwnerSpan {
            id: "b".into(),
            start: t(9),
            end: t(20),
        });
        assert_eq!(owners.owner(t(0), t(1)).map(|s| s.0.as_str()), Some("a"));
        assert_eq!(owners.owner(t(9), t(10)).map(|s| s.0.as_str()), Some("a"));
        assert_eq!(owners.owner(t(10), t(11)).map(|s| s.0.as_str()), Some("b"));
        assert_eq!(owners.owner(t(30), t(31)), None);
    }
}
