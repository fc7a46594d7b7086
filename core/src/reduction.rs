//! Reductions (SPEC §6): turning a session's uncovered blocks into one entry
//! of the day log, the summarizer that writes its words, and the heuristic
//! entry written when the summarizer keeps failing.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::block::{Block, EntryId};
use crate::error::Error;
use crate::session::SessionId;
use crate::text;
use crate::time::{Timestamp, UtcOffset};

/// Which kind of reduction wrote an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Incremental reduction of the active session.
    Flush,
    /// The reduction after the session ended.
    Final,
    /// Written without the summarizer after too many failures.
    Heuristic,
    /// Covers only the blocks late events added to a session that was
    /// already reduced (SPEC §2); the session stays reduced.
    Late,
}

impl EntryKind {
    /// The name used in the database and the day file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flush => "flush",
            Self::Final => "final",
            Self::Heuristic => "heuristic",
            Self::Late => "late",
        }
    }

    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Flush, Self::Final, Self::Heuristic, Self::Late]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An entry of the day log: one reduction of a run of blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Assigned by the store on commit; increases with commit order.
    pub id: EntryId,
    /// The session it reduces.
    pub session_id: SessionId,
    /// Flush, final or heuristic.
    pub kind: EntryKind,
    /// Start of its window: the first covered block's start.
    pub from: Timestamp,
    /// End of its window (exclusive): the last covered block's end.
    pub to: Timestamp,
    /// The offset at `from`; with `from` it picks the day file.
    pub offset: UtcOffset,
    /// Its Markdown section, as it appears in the day file.
    pub body: String,
}

impl Entry {
    /// The local date whose day file holds this entry.
    pub fn day(&self) -> chrono::NaiveDate {
        self.from.local_date(self.offset)
    }
}

/// An entry about to be committed (the store assigns its id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    /// See [`Entry::session_id`].
    pub session_id: SessionId,
    /// See [`Entry::kind`].
    pub kind: EntryKind,
    /// See [`Entry::from`].
    pub from: Timestamp,
    /// See [`Entry::to`].
    pub to: Timestamp,
    /// See [`Entry::offset`].
    pub offset: UtcOffset,
    /// See [`Entry::body`].
    pub body: String,
}

impl NewEntry {
    /// The entry this becomes once a store committed it as `id`.
    pub fn committed(&self, id: EntryId) -> Entry {
        Entry {
            id,
            session_id: self.session_id.clone(),
            kind: self.kind,
            from: self.from,
            to: self.to,
            offset: self.offset,
            body: self.body.clone(),
        }
    }
}

/// Everything one reduction commits, in one transaction: the entry (if
/// any), the mark on every block it covers, the session's `flush_end`, and
/// for a final reduction the `reduced` status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReductionCommit {
    /// The session reduced.
    pub session_id: SessionId,
    /// The entry, or `None` for a final reduction with nothing left to cover.
    pub entry: Option<NewEntry>,
    /// `(start, rev)` of the session's blocks the entry covers.
    pub covered: Vec<(Timestamp, u32)>,
    /// The end of the last covered block.
    pub flush_end: Option<Timestamp>,
    /// Whether the session becomes `reduced`.
    pub finish: bool,
}

/// What the summarizer is asked to summarize.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRequest {
    /// The session.
    pub session_id: SessionId,
    /// Flush or final.
    pub kind: EntryKind,
    /// The blocks to cover, in window order.
    pub blocks: Vec<Block>,
}

/// The summarizer's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// One or two sentences.
    pub summary: String,
    /// Sub-task lines, each `[HH:MM-HH:MM, App] …`.
    pub lines: Vec<String>,
}

/// Writes the words of an entry: what a shell runs to answer a summary
/// request, off the engine's path (the engine never calls one). Calls may
/// fail ([`Error::Summarizer`]); the shell hands the failure back as the
/// answer, and it takes the retry path without losing the blocks.
pub trait Summarizer {
    /// Summarizes the request's blocks.
    fn summarize(&mut self, request: &SummaryRequest) -> Result<Summary, Error>;
}

/// The built-in summarizer: deterministic, offline, no model. Its
/// sentence is [`prose`] (apps by time, their top titles, switches); it
/// writes one sub-task line per run of consecutive blocks led by the same
/// app.
///
/// `O(n log n)` in the blocks' lines: a run's lines are deduplicated in a
/// `BTreeSet`, and a run stops gathering lines once its detail is longer
/// than the [`DETAIL_CHARS`] it is cut to. It once compared every line with
/// every other (issue 10); `summarize_naive` in the tests is that literal
/// version, the reference this one must equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinSummarizer;

/// The most characters of a sub-task line's detail; longer ones are cut
/// and end in `…`.
const DETAIL_CHARS: usize = 240;

impl Summarizer for BuiltinSummarizer {
    fn summarize(&mut self, request: &SummaryRequest) -> Result<Summary, Error> {
        Ok(builtin_summary(&request.blocks))
    }
}

/// The built-in summary of `blocks`, as a pure function: what the shells
/// answer a request with when no model is configured, and what
/// reduce-pending writes itself for [`crate::SummarizerKind::Builtin`].
pub fn builtin_summary(blocks: &[Block]) -> Summary {
    summarize_with(blocks, run_detail)
}

/// The built-in summary, given how to gather a run's detail: the fast
/// one here, the literal one in the tests. (It once also counted each
/// app's captures, which the sentence stopped using when [`prose`] came
/// to weigh time: work thrown away for every session reduced.)
fn summarize_with(blocks: &[Block], detail: impl Fn(&[Block]) -> String) -> Summary {
    let summary = prose(blocks);
    let mut lines = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let lead = blocks[i].apps.first().map_or("", String::as_str);
        let mut j = i;
        while j + 1 < blocks.len() && blocks[j + 1].apps.first().map(String::as_str) == Some(lead) {
            j += 1;
        }
        let detail = detail(&blocks[i..=j]);
        let mut line = String::with_capacity(lead.len() + 16 + detail.len().min(4 * DETAIL_CHARS));
        push_task_tag(&mut line, &blocks[i], &blocks[j], lead);
        line.push(' ');
        push_shortened(&mut line, &detail, DETAIL_CHARS);
        lines.push(line);
        i = j + 1;
    }
    Summary { summary, lines }
}

/// The most bytes of a title read from a block line: enough for the
/// words a summary quotes, and a bound on the work per line.
const TITLE_KEY_BYTES: usize = 160;
/// The most characters of a title quoted in a summary.
const TITLE_CHARS: usize = 40;

/// The built-in summary sentence, written as a person would from the same
/// blocks: the apps by time, the main one's top titles, the next ones with
/// what they were for, and how often the app changed. For example
/// "Mostly Code (main.rs, engine.rs), with Firefox for tokio docs; 3
/// switches." A pure function of the blocks: deterministic and offline.
///
/// Time: each block's window is shared equally among its lines (the
/// contexts seen in it); a line's app is the block app it starts with,
/// its title what follows ` — ` up to the URL or typed text. Switches:
/// the changes of app along the blocks' lines in order (within a block,
/// first-seen order). `O(n log n)` in the lines, each read for at most
/// [`TITLE_KEY_BYTES`].
pub fn prose(blocks: &[Block]) -> String {
    let mut apps: BTreeMap<&str, i64> = BTreeMap::new();
    let mut titles: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut switches = 0u32;
    let mut previous: Option<&str> = None;
    // Each block's apps as its lines show them; borrowed unless
    // neutralizing changed them, and the vector reused block to block.
    let mut shown: Vec<(Cow<'_, str>, &str)> = Vec::new();
    for b in blocks {
        let share = b.end.millis_since(b.start).max(0) / i64::try_from(b.lines.len().max(1)).unwrap_or(i64::MAX);
        shown.clear();
        shown.extend(b.apps.iter().map(|a| (text::inline_cow(a), a.as_str())));
        for line in &b.lines {
            let Some((app, title)) = split_line(line, &shown) else {
                continue;
            };
            *apps.entry(app).or_default() += share;
            if !title.is_empty() {
                *titles.entry((app, title)).or_default() += share;
            }
            if previous.is_some_and(|p| p != app) {
                switches += 1;
            }
            previous = Some(app);
        }
        if b.lines.is_empty() {
            for app in &b.apps {
                *apps.entry(app).or_default() += share;
            }
        }
    }
    let mut ranked: Vec<(&str, i64)> = apps.into_iter().collect();
    ranked.sort_by_key(|(_, ms)| std::cmp::Reverse(*ms));
    if ranked.is_empty() {
        return "No activity captured.".to_owned();
    }
    let total: i64 = ranked.iter().map(|(_, ms)| ms).sum();
    let top_titles = |app: &str, n: usize| -> Vec<String> {
        let mut t: Vec<(&str, i64)> = titles
            .range((app, "")..)
            .take_while(|((a, _), _)| *a == app)
            .map(|((_, title), ms)| (*title, *ms))
            .collect();
        t.sort_by_key(|(_, ms)| std::cmp::Reverse(*ms));
        t.into_iter()
            .map(|(title, _)| shorten(crate::daylog::display_title(app, title), TITLE_CHARS))
            .filter(|t| !t.is_empty())
            .take(n)
            .collect()
    };
    let (lead, lead_ms) = ranked[0];
    let mut out = String::new();
    if lead_ms * 2 > total || ranked.len() == 1 {
        out.push_str("Mostly ");
    }
    out.push_str(lead);
    let lead_titles = top_titles(lead, 2);
    if !lead_titles.is_empty() {
        out.push_str(&format!(" ({})", lead_titles.join(", ")));
    }
    let others: Vec<String> = ranked[1..]
        .iter()
        .take(2)
        .map(|(app, _)| match top_titles(app, 1).first() {
            Some(t) => format!("{app} for {t}"),
            None => (*app).to_owned(),
        })
        .collect();
    if !others.is_empty() {
        out.push_str(", with ");
        out.push_str(&others.join(" and "));
        if ranked.len() > 3 {
            out.push_str(" and more");
        }
    }
    match switches {
        0 => out.push('.'),
        1 => out.push_str("; 1 switch."),
        n => out.push_str(&format!("; {n} switches.")),
    }
    out
}

/// A block line's app (the first of `apps`, each `(as lines show it, its
/// name)`, whose [`crate::text::inline`] form the line starts with) and
/// title (the text after ` — `, up
/// to ` <` of a URL or ` | typed: `, read for at most
/// [`TITLE_KEY_BYTES`]).
fn split_line<'a>(line: &'a str, apps: &[(Cow<'_, str>, &'a str)]) -> Option<(&'a str, &'a str)> {
    let (app, rest) = apps
        .iter()
        .find_map(|(shown, app)| line.strip_prefix(&**shown).map(|rest| (*app, rest)))?;
    let Some(title) = rest.strip_prefix(" — ") else {
        return Some((app, ""));
    };
    let mut end = title.len().min(TITLE_KEY_BYTES);
    while !title.is_char_boundary(end) {
        end -= 1;
    }
    let head = &title[..end];
    let stop = [" <", " | typed: "]
        .iter()
        .filter_map(|m| head.find(m))
        .min()
        .unwrap_or(head.len());
    Some((app, head[..stop].trim()))
}

/// The run's distinct lines in first-seen order, joined by `; `, gathered
/// only until the text is longer than [`DETAIL_CHARS`]: [`shorten`] keeps
/// no more, so the rest could not change the line.
fn run_detail(run: &[Block]) -> String {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut detail = String::new();
    let mut chars = 0;
    for l in run.iter().flat_map(|b| &b.lines) {
        if chars > DETAIL_CHARS {
            break;
        }
        if seen.insert(l) {
            if !detail.is_empty() {
                detail.push_str("; ");
                chars += 2;
            }
            detail.push_str(l);
            chars += l.chars().count();
        }
    }
    detail
}

/// `[HH:MM-HH:MM, App]` for a run of blocks from `first` to `last`.
fn task_tag(first: &Block, last: &Block, app: &str) -> String {
    let mut out = String::with_capacity(app.len() + 15);
    push_task_tag(&mut out, first, last, app);
    out
}

/// Appends [`task_tag`] to `out`.
fn push_task_tag(out: &mut String, first: &Block, last: &Block, app: &str) {
    out.push('[');
    first.start.push_hhmm(first.offset, out);
    out.push('-');
    last.end.push_hhmm(first.offset, out);
    out.push_str(", ");
    out.push_str(app);
    out.push(']');
}

fn shorten(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    push_shortened(&mut out, s, max_chars);
    out
}

/// Appends `s` to `out`, cut to `max_chars` characters and ended by `…`
/// if it is longer.
fn push_shortened(out: &mut String, s: &str, max_chars: usize) {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => {
            out.push_str(&s[..i]);
            out.push('…');
        }
        None => out.push_str(s),
    }
}

/// The entry written when the summarizer failed `attempts` times: one line
/// per app with its span and capture count, tagged heuristic. No block is
/// dropped for want of a summary.
pub fn heuristic_summary(blocks: &[Block], attempts: u32) -> Summary {
    // (app, first block, last block, captures), in first-seen order; `at`
    // finds an app's row (`O(n log n)` in distinct apps, as above).
    let mut apps: Vec<(&str, &Block, &Block, u32)> = Vec::new();
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    for b in blocks {
        for app in &b.apps {
            match at.get(app.as_str()) {
                Some(&k) => {
                    apps[k].2 = b;
                    apps[k].3 += b.capture_count;
                }
                None => {
                    at.insert(app, apps.len());
                    apps.push((app, b, b, b.capture_count));
                }
            }
        }
    }
    heuristic_lines(&apps, attempts)
}

/// The heuristic entry's words from `(app, first block, last block,
/// captures)` per app, in first-seen order.
fn heuristic_lines(apps: &[(&str, &Block, &Block, u32)], attempts: u32) -> Summary {
    Summary {
        summary: format!("(heuristic) The summarizer failed {attempts} times; activity by app:"),
        lines: apps
            .iter()
            .map(|(app, first, last, n)| format!("{} heuristic: {n} captures", task_tag(first, last, app)))
            .collect(),
    }
}

/// The Markdown section of an entry: a heading with its local window, kind
/// and session, the summary, then the sub-task lines.
///
/// The summary and every line are untrusted (an external summarizer wrote
/// them, from captured text): each passes [`text::line`], so each is
/// exactly one line of the entry and can open no heading, entry, list or
/// control sequence. The body is built neutral, once, when the entry is
/// made; [`crate::daylog::render_day`] neutralizes again per line, for
/// entries an older daybook built.
pub fn render_entry(
    session_id: &SessionId,
    kind: EntryKind,
    from: Timestamp,
    to: Timestamp,
    offset: UtcOffset,
    summary: &Summary,
) -> String {
    // Written in place, sized once: no intermediate strings.
    let size =
        48 + session_id.0.len() + summary.summary.len() + summary.lines.iter().map(|l| l.len() + 4).sum::<usize>();
    let mut body = String::with_capacity(size);
    body.push_str("## ");
    from.push_hhmm(offset, &mut body);
    body.push('–');
    to.push_hhmm(offset, &mut body);
    body.push_str(" · ");
    body.push_str(kind.as_str());
    body.push_str(" · session ");
    body.push_str(&text::inline_cow(&session_id.0));
    body.push_str("\n\n");
    text::push_line(&mut body, &summary.summary);
    body.push('\n');
    if !summary.lines.is_empty() {
        body.push('\n');
        for line in &summary.lines {
            body.push_str("- ");
            text::push_line(&mut body, line);
            body.push('\n');
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The literal reference for [`BuiltinSummarizer`]: every app and
    /// every line compared with every one gathered before, and the whole
    /// detail joined before it is cut. Quadratic; what the summarizer was
    /// before issue 10, kept to tie it to. The sentence and the runs are
    /// [`summarize_with`]'s, shared: what differs is what is tested.
    fn summarize_naive(request: &SummaryRequest) -> Summary {
        summarize_with(&request.blocks, run_detail_naive)
    }

    fn run_detail_naive(run: &[Block]) -> String {
        let mut details: Vec<&str> = Vec::new();
        for b in run {
            for l in &b.lines {
                if !details.contains(&l.as_str()) {
                    details.push(l);
                }
            }
        }
        details.join("; ")
    }

    /// The literal reference for [`render_entry`]: its `format!` before
    /// the body was written in place.
    fn render_entry_naive(
        session_id: &SessionId,
        kind: EntryKind,
        from: Timestamp,
        to: Timestamp,
        offset: UtcOffset,
        summary: &Summary,
    ) -> String {
        let mut body = format!(
            "## {}–{} · {} · session {}\n\n{}\n",
            from.local(offset).format("%H:%M"),
            to.local(offset).format("%H:%M"),
            kind.as_str(),
            text::inline(&session_id.0),
            text::line(&summary.summary)
        );
        if !summary.lines.is_empty() {
            body.push('\n');
            for line in &summary.lines {
                body.push_str("- ");
                body.push_str(&text::line(line));
                body.push('\n');
            }
        }
        body
    }

    /// The literal reference for [`heuristic_summary`].
    fn heuristic_naive(blocks: &[Block], attempts: u32) -> Summary {
        let mut apps: Vec<(&str, &Block, &Block, u32)> = Vec::new();
        for b in blocks {
            for app in &b.apps {
                match apps.iter_mut().find(|(a, ..)| a == app) {
                    Some(entry) => {
                        entry.2 = b;
                        entry.3 += b.capture_count;
                    }
                    None => apps.push((app, b, b, b.capture_count)),
                }
            }
        }
        heuristic_lines(&apps, attempts)
    }

    /// Blocks over small alphabets of apps and lines, so apps lead runs and
    /// lines repeat across a run. Line lengths (in characters, most of
    /// them two-byte) are picked so a run's detail often lands exactly on,
    /// just under or just over the 240-character cut: 119 + `; ` + 119 and
    /// 240 alone are exactly 240.
    fn arb_blocks() -> impl Strategy<Value = Vec<Block>> {
        let app = prop::sample::select(vec!["A", "B", "C", "D"]);
        let len = prop::sample::select(vec![1usize, 60, 119, 120, 239, 240, 241]);
        let line = (0u8..6, len).prop_map(|(k, n)| format!("{k}{}", "é".repeat(n - 1)));
        let one = (
            prop::collection::vec(app, 0..4),
            prop::collection::vec(line, 0..6),
            0u32..20,
        );
        prop::collection::vec(one, 0..12).prop_map(|blocks| {
            blocks
                .into_iter()
                .enumerate()
                .map(|(m, (apps, lines, n))| Block {
                    lines,
                    apps: apps.into_iter().map(Into::into).collect(),
                    ..block(m as i64, &[], n)
                })
                .collect()
        })
    }

    proptest! {
        /// The fast built-in summary equals the literal one.
        #[test]
        fn builtin_summary_equals_its_naive_reference(blocks in arb_blocks()) {
            let req = SummaryRequest { session_id: "s".into(), kind: EntryKind::Final, blocks };
            prop_assert_eq!(BuiltinSummarizer.summarize(&req).unwrap(), summarize_naive(&req));
        }

        /// The entry body written in place equals the one `format!` wrote
        /// before (the literal reference), captured text with controls,
        /// escapes, block markers and line breaks included.
        #[test]
        fn render_entry_equals_its_format_reference(
            id in "[a-z0-9#\\- ]{0,8}",
            summary in "[ \\-#1.a\\n\u{1b}\u{200b}é]{0,12}",
            lines in prop::collection::vec("[ \\-#1.a\\n\u{1b}é\\[]{0,12}", 0..3),
            from in -4_000_000_000_000i64..4_000_000_000_000,
            minutes in 0i64..600,
            offset in -50_400i32..50_400,
        ) {
            let summary = Summary { summary, lines };
            let (from, to, offset) = (Timestamp(from), Timestamp(from + minutes * 60_000), UtcOffset(offset));
            let id = SessionId(id);
            for kind in [EntryKind::Flush, EntryKind::Final, EntryKind::Heuristic, EntryKind::Late] {
                prop_assert_eq!(
                    render_entry(&id, kind, from, to, offset, &summary),
                    render_entry_naive(&id, kind, from, to, offset, &summary)
                );
            }
        }

        /// The fast heuristic summary equals the literal one.
        #[test]
        fn heuristic_summary_equals_its_naive_reference(blocks in arb_blocks(), attempts in 0u32..9) {
            prop_assert_eq!(heuristic_summary(&blocks, attempts), heuristic_naive(&blocks, attempts));
        }
    }

    /// 2027-01-15T08:00:00Z, on a minute boundary.
    const T0: i64 = 1_800_000_000_000;

    fn block(min: i64, apps: &[&str], n: u32) -> Block {
        Block {
            session_id: "s".into(),
            start: Timestamp(T0 + min * 60_000),
            end: Timestamp(T0 + (min + 1) * 60_000),
            rev: 0,
            offset: UtcOffset::UTC,
            lines: apps.iter().map(|a| format!("{a} — work")).collect(),
            apps: apps.iter().map(|a| (*a).to_owned()).collect(),
            capture_count: n,
            covered_by: None,
        }
    }

    #[test]
    fn builtin_summary_is_deterministic_and_groups_runs() {
        let req = SummaryRequest {
            session_id: "s".into(),
            kind: EntryKind::Final,
            blocks: vec![
                block(0, &["Code"], 3),
                block(1, &["Code", "Term"], 2),
                block(2, &["Term"], 9),
            ],
        };
        let a = BuiltinSummarizer.summarize(&req).unwrap();
        assert_eq!(a, BuiltinSummarizer.summarize(&req).unwrap());
        assert_eq!(a.summary, "Code (work), with Term for work; 1 switch.");
        assert_eq!(a.lines.len(), 2);
        assert!(a.lines[0].starts_with("[08:00-08:02, Code]"), "{}", a.lines[0]);
        assert!(a.lines[1].starts_with("[08:02-08:03, Term]"), "{}", a.lines[1]);
    }

    fn titled(min: i64, lines: &[(&str, &str)]) -> Block {
        let mut apps: Vec<String> = Vec::new();
        for (a, _) in lines {
            if !apps.iter().any(|x| x == a) {
                apps.push((*a).to_owned());
            }
        }
        Block {
            lines: lines.iter().map(|(a, t)| format!("{a} — {t}")).collect(),
            apps,
            ..block(min, &[], 1)
        }
    }

    #[test]
    fn the_sentence_reads_as_a_person_would_write_it() {
        let mut blocks: Vec<Block> = (0..20)
            .map(|m| titled(m, &[("Code", "main.rs — daybook — Code")]))
            .collect();
        blocks.push(titled(
            20,
            &[
                ("Code", "main.rs — daybook — Code"),
                ("Firefox", "tokio docs <https://docs.rs/tokio>"),
            ],
        ));
        blocks.extend((21..26).map(|m| titled(m, &[("Firefox", "tokio docs <https://docs.rs/tokio> | typed: spawn")])));
        blocks.extend((26..40).map(|m| titled(m, &[("Code", "engine.rs — daybook — Code")])));
        blocks.push(titled(40, &[("Slack", "general")]));
        let s = prose(&blocks);
        assert_eq!(
            s,
            "Mostly Code (main.rs — daybook, engine.rs — daybook), with Firefox for tokio docs and Slack for general; 3 switches."
        );
        assert_eq!(prose(&[]), "No activity captured.");
        assert_eq!(prose(&[titled(0, &[("Code", "")])]), "Mostly Code.");
    }

    #[test]
    fn heuristic_has_one_line_per_app() {
        let s = heuristic_summary(&[block(0, &["A"], 1), block(1, &["B", "A"], 2)], 5);
        assert_eq!(
            s.lines,
            [
                "[08:00-08:02, A] heuristic: 3 captures",
                "[08:01-08:02, B] heuristic: 2 captures"
            ]
        );
        assert!(s.summary.contains("heuristic"));
    }
}
