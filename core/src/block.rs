//! Timeline blocks (SPEC §5): the events of one session inside one
//! wall-clock window, normalized into lines.
//!
//! A [`Block`] always has its session. Blocks imported from elsewhere that no
//! session owns yet are a different type, [`LooseBlock`], until recovery
//! gives them an owner.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::StoredEvent;
use crate::session::SessionId;
use crate::text;
use crate::time::{Timestamp, UtcOffset};

/// The most typed text one block line keeps from one event, in bytes.
pub const MAX_LINE_TEXT_BYTES: usize = 4 * 1024;

/// What identifies a block: one session, one window, one revision.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlockKey {
    /// The owning session.
    pub session_id: SessionId,
    /// The window's start.
    pub start: Timestamp,
    /// The revision (see [`Block::rev`]).
    pub rev: u32,
}

/// An entry's id, assigned by the store when the reduction commits.
pub type EntryId = u64;

/// The events of one session inside one window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The owning session.
    pub session_id: SessionId,
    /// The window's start (inclusive).
    pub start: Timestamp,
    /// The window's end (exclusive).
    pub end: Timestamp,
    /// Which block of its session's window this is. Revision 0 holds the
    /// events that arrived before the window's block was written; late
    /// events (SPEC §2) into a window that has a block already go into
    /// the next revision, a new block, so a block an entry covers never
    /// changes and the new events are reduced by the session's next
    /// reduction (or a `late` entry).
    #[serde(default)]
    pub rev: u32,
    /// The offset of the window's first event, for display.
    pub offset: UtcOffset,
    /// Normalized context lines, in first-seen order.
    pub lines: Vec<String>,
    /// Distinct apps, in first-seen order.
    pub apps: Vec<String>,
    /// How many events fell into the window.
    pub capture_count: u32,
    /// The entry that covers it, once one does.
    pub covered_by: Option<EntryId>,
}

impl Block {
    /// Its key.
    pub fn key(&self) -> BlockKey {
        BlockKey {
            session_id: self.session_id.clone(),
            start: self.start,
            rev: self.rev,
        }
    }
}

/// A block with no session (imported from an older tool); evidence for
/// recovery until it is given an owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LooseBlock {
    /// The store's id for it.
    pub id: u64,
    /// The window's start.
    pub start: Timestamp,
    /// The window's end.
    pub end: Timestamp,
    /// Its offset.
    pub offset: UtcOffset,
    /// Its lines, as imported.
    pub lines: Vec<String>,
    /// Its apps, as imported.
    pub apps: Vec<String>,
    /// Its capture count, as imported.
    pub capture_count: u32,
}

impl LooseBlock {
    /// The block it becomes once `owner` owns it.
    pub fn owned_by(&self, owner: SessionId) -> Block {
        Block {
            session_id: owner,
            start: self.start,
            end: self.end,
            rev: 0,
            offset: self.offset,
            lines: self.lines.clone(),
            apps: self.apps.clone(),
            capture_count: self.capture_count,
            covered_by: None,
        }
    }
}

/// One distinct `(app, title, url)` context and what was typed in it.
struct Context<'a> {
    app: &'a str,
    title: Option<&'a str>,
    url: Option<&'a str>,
    drafts: Vec<&'a str>,
}

impl<'a> Context<'a> {
    /// A context seen for the first time, with nothing typed yet.
    fn new(app: &'a str, title: Option<&'a str>, url: Option<&'a str>) -> Self {
        Self {
            app,
            title,
            url,
            drafts: Vec::new(),
        }
    }

    /// Keeps typed text verbatim: a draft that extends the previous one
    /// replaces it (the longest draft wins), one that the previous already
    /// contains as a prefix is dropped, an exact repeat is collapsed, and
    /// anything else is a new draft.
    fn add_draft<'t>(drafts: &mut Vec<&'t str>, text: &'t str) {
        let text = cap(text, MAX_LINE_TEXT_BYTES);
        if text.is_empty() {
            return;
        }
        match drafts.last_mut() {
            Some(last) if text.starts_with(*last) => *last = text,
            Some(last) if last.starts_with(text) => {}
            _ => drafts.push(text),
        }
    }

    /// The block line: every captured field passes [`text::inline`], so
    /// one context is one line whatever its events carried (SPEC §12).
    fn line(&self) -> String {
        let mut line = text::inline(self.app);
        if let Some(title) = self.title.filter(|t| !t.is_empty()) {
            line.push_str(" — ");
            line.push_str(&text::inline(title));
        }
        if let Some(url) = self.url.filter(|u| !u.is_empty()) {
            line.push_str(" <");
            line.push_str(&text::inline(url));
            line.push('>');
        }
        for draft in &self.drafts {
            line.push_str(" | typed: ");
            line.push_str(&text::inline(draft));
        }
        line
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary.
fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Builds the blocks of one session from its events (in attributed order),
/// for the windows starting in `[from, until)`, one per window and
/// revision. Deterministic: the same events give the same blocks, so
/// rebuilding after a crash rewrites identical content.
pub fn build_blocks(
    session_id: &SessionId,
    events: &[StoredEvent],
    window: Duration,
    from: Timestamp,
    until: Timestamp,
) -> Vec<Block> {
    let mut by_window: BTreeMap<(Timestamp, u32), Vec<&StoredEvent>> = BTreeMap::new();
    for e in events {
        let start = e.attributed.window_start(window);
        if start >= from && start < until {
            by_window.entry((start, e.rev)).or_default().push(e);
        }
    }
    by_window
        .into_iter()
        .map(|((start, rev), events)| Block {
            rev,
            ..normalize(session_id, start, start + window, &events)
        })
        .collect()
}

/// Folds one window's events into a block: one line per distinct context in
/// first-seen order, typed text kept verbatim and capped per event.
///
/// `O(n log c)` for `n` events over `c` distinct contexts: each event finds
/// its context (and its app) in a `BTreeMap` keyed by it, whose value is
/// the context's index in first-seen order. One window of 10^4 distinct
/// 4 KB titles once compared every context with every other here (issue
/// 10); `normalize_naive` in the tests keeps that literal version as the
/// reference this one must equal.
fn normalize(session_id: &SessionId, start: Timestamp, end: Timestamp, events: &[&StoredEvent]) -> Block {
    let mut contexts: Vec<Context<'_>> = Vec::new();
    let mut index: BTreeMap<(&str, Option<&str>, Option<&str>), usize> = BTreeMap::new();
    let mut apps: Vec<String> = Vec::new();
    let mut seen_apps: BTreeSet<&str> = BTreeSet::new();
    for e in events {
        let ev = &e.event;
        let (title, url) = (ev.title.as_deref(), ev.url.as_deref());
        let i = *index.entry((&ev.app, title, url)).or_insert_with(|| {
            contexts.push(Context::new(&ev.app, title, url));
            contexts.len() - 1
        });
        if let Some(text) = ev.text.as_deref() {
            Context::add_draft(&mut contexts[i].drafts, text);
        }
        if seen_apps.insert(&ev.app) {
            apps.push(ev.app.clone());
        }
    }
    assemble(session_id, start, end, events, &contexts, apps)
}

/// The block of one window's events, once their contexts and apps are
/// gathered.
fn assemble(
    session_id: &SessionId,
    start: Timestamp,
    end: Timestamp,
    events: &[&StoredEvent],
    contexts: &[Context<'_>],
    apps: Vec<String>,
) -> Block {
    Block {
        session_id: session_id.clone(),
        start,
        end,
        rev: 0,
        offset: events.first().map_or(UtcOffset::UTC, |e| e.event.offset),
        lines: contexts.iter().map(Context::line).collect(),
        apps,
        capture_count: u32::try_from(events.len()).unwrap_or(u32::MAX),
        covered_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use proptest::prelude::*;

    /// The literal reference for [`normalize`]: every event compared with
    /// every context seen so far, every app with every app. Quadratic;
    /// what `normalize` was before issue 10, kept to tie it to.
    fn normalize_naive(session_id: &SessionId, start: Timestamp, end: Timestamp, events: &[&StoredEvent]) -> Block {
        let mut contexts: Vec<Context<'_>> = Vec::new();
        let mut apps: Vec<String> = Vec::new();
        for e in events {
            let ev = &e.event;
            let (title, url) = (ev.title.as_deref(), ev.url.as_deref());
            let i = match contexts
                .iter()
                .position(|c| c.app == ev.app && c.title == title && c.url == url)
            {
                Some(i) => i,
                None => {
                    contexts.push(Context::new(&ev.app, title, url));
                    contexts.len() - 1
                }
            };
            if let Some(text) = ev.text.as_deref() {
                Context::add_draft(&mut contexts[i].drafts, text);
            }
            if !apps.contains(&ev.app) {
                apps.push(ev.app.clone());
            }
        }
        assemble(session_id, start, end, events, &contexts, apps)
    }

    /// An event drawn from small alphabets, so contexts, apps and drafts
    /// repeat, extend and interleave.
    fn arb_event() -> impl Strategy<Value = StoredEvent> {
        let app = prop::sample::select(vec!["A", "B", "C"]);
        let field = || prop::option::of(prop::sample::select(vec!["", "x", "y", "xy"]));
        let text = prop::option::of("[ab]{0,4}");
        (app, field(), field(), text, 0i64..60).prop_map(|(app, title, url, text, secs)| {
            let at = Timestamp(T0 + secs * 1000);
            StoredEvent {
                seq: 0,
                session_id: "s".into(),
                attributed: at,
                rev: 0,
                event: Event {
                    title: title.map(Into::into),
                    url: url.map(Into::into),
                    text,
                    ..Event::new(at, app)
                },
            }
        })
    }

    proptest! {
        /// The fast normalization equals the literal one, field for field.
        #[test]
        fn normalize_equals_its_naive_reference(events in prop::collection::vec(arb_event(), 0..40)) {
            let refs: Vec<&StoredEvent> = events.iter().collect();
            let (start, end) = (Timestamp(T0), Timestamp(T0 + 60_000));
            prop_assert_eq!(
                normalize(&"s".into(), start, end, &refs),
                normalize_naive(&"s".into(), start, end, &refs)
            );
        }
    }

    const MIN: Duration = Duration::from_secs(60);
    /// 2027-01-15T08:00:00Z, on a minute boundary.
    const T0: i64 = 1_800_000_000_000;

    fn ev(seq: u64, secs: i64, app: &str, title: &str, text: Option<&str>) -> StoredEvent {
        let at = Timestamp(T0 + secs * 1000);
        StoredEvent {
            seq,
            session_id: "s".into(),
            attributed: at,
            rev: 0,
            event: Event {
                title: Some(title.into()),
                text: text.map(Into::into),
                ..Event::new(at, app)
            },
        }
    }

    #[test]
    fn one_block_per_window_with_counts() {
        let events = [
            ev(1, 0, "A", "x", None),
            ev(2, 30, "A", "x", None),
            ev(3, 61, "B", "y", None),
        ];
        let blocks = build_blocks(&"s".into(), &events, MIN, Timestamp(T0), Timestamp(i64::MAX));
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].capture_count, 2);
        assert_eq!(blocks[0].lines, ["A — x"]);
        assert_eq!(
            (blocks[1].start, blocks[1].end),
            (Timestamp(T0 + 60_000), Timestamp(T0 + 120_000))
        );
        assert_eq!(blocks[1].apps, ["B"]);
    }

    #[test]
    fn distinct_contexts_first_seen_and_longest_draft_wins() {
        let events = [
            ev(1, 1, "Code", "main.rs", Some("fn ma")),
            ev(2, 2, "Firefox", "Docs", None),
            ev(3, 3, "Code", "main.rs", Some("fn main()")),
            ev(4, 4, "Code", "main.rs", Some("fn main()")),
            ev(5, 5, "Code", "main.rs", Some("fn")),
            ev(6, 6, "Code", "main.rs", Some("let x")),
        ];
        let blocks = build_blocks(&"s".into(), &events, MIN, Timestamp(T0), Timestamp(i64::MAX));
        assert_eq!(
            blocks[0].lines,
            ["Code — main.rs | typed: fn main() | typed: let x", "Firefox — Docs"]
        );
        assert_eq!(blocks[0].apps, ["Code", "Firefox"]);
    }

    #[test]
    fn text_is_capped_at_4kb_on_a_char_boundary() {
        let long = "é".repeat(3000); // 6000 bytes
        let events = [ev(1, 1, "A", "t", Some(&long))];
        let blocks = build_blocks(&"s".into(), &events, MIN, Timestamp(T0), Timestamp(i64::MAX));
        let typed = blocks[0].lines[0].split(" | typed: ").nth(1).unwrap();
        assert_eq!(typed.len(), MAX_LINE_TEXT_BYTES);
    }

    #[test]
    fn range_selects_windows() {
        let events = [
            ev(1, 0, "A", "x", None),
            ev(2, 61, "A", "x", None),
            ev(3, 125, "A", "x", None),
        ];
        let blocks = build_blocks(
            &"s".into(),
            &events,
            MIN,
            Timestamp(T0 + 60_000),
            Timestamp(T0 + 120_000),
        );
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].start, Timestamp(T0 + 60_000));
    }

    #[test]
    fn each_revision_of_a_window_is_its_own_block() {
        let mut late = ev(3, 10, "B", "y", None);
        late.rev = 1;
        let events = [ev(1, 0, "A", "x", None), late, ev(2, 20, "A", "x", None)];
        let blocks = build_blocks(&"s".into(), &events, MIN, Timestamp(T0), Timestamp(i64::MAX));
        let revs: Vec<(u32, u32, &[String])> = blocks.iter().map(|b| (b.rev, b.capture_count, &b.apps[..])).collect();
        assert_eq!(revs, [(0, 2, &["A".to_owned()][..]), (1, 1, &["B".to_owned()][..])]);
    }

    #[test]
    fn captured_text_stays_on_one_line() {
        let events = [ev(
            1,
            1,
            "A\nB",
            "t\n# daybook — 2026-01-01\u{1b}[2J",
            Some("x\r\n## 09:00\u{2028}y\0"),
        )];
        let blocks = build_blocks(&"s".into(), &events, MIN, Timestamp(T0), Timestamp(i64::MAX));
        assert_eq!(
            blocks[0].lines,
            ["A B — t # daybook — 2026-01-01 | typed: x ## 09:00 y\u{fffd}"]
        );
        assert_eq!(blocks[0].apps, ["A\nB"], "apps are names, not rendered text");
    }
}
