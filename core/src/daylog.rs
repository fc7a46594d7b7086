//! The per-day Markdown log, `event-YYYY-MM-DD.md`: a pure projection of
//! the day's entries, read with the sessions and events they cover (see
//! [`render_day`]). The daemon writes it; the oracle re-renders it to
//! check that the file on disk is exactly this.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::aggregate::{
    Aggregate, Context, DayBounds, EventView, Gap, GapKind, SessionAggregate, SessionInput, Span, Total, aggregate,
    human_duration,
};
use crate::reduction::{Entry, EntryKind};
use crate::session::{EndReason, Phase, Session, SessionId};
use crate::text;
use crate::time::{Timestamp, UtcOffset};

/// A day as daybook names it everywhere: `YYYY-MM-DD` (file names, the
/// database's `day` column, the API, the command line).
pub fn day_name(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Parses [`day_name`]'s format, strictly: four-digit year, two-digit
/// month and day, nothing else (chrono's `%Y` alone also takes `-0001` or
/// `+10000`).
pub fn parse_day_name(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shape.then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()).flatten()
}

/// The first day a user or client may ask for: no event is before 1970
/// (SPEC §2), so an earlier day could only ever be empty.
pub const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");

/// A day asked for by name (the API's `/v1/days/…`, `daybook show`):
/// [`parse_day_name`], and not before [`FIRST_DAY`]. Days read back from
/// the database use [`parse_day_name`] alone, so a row is never called
/// corrupt for its date.
pub fn parse_asked_day(s: &str) -> Option<NaiveDate> {
    parse_day_name(s).filter(|day| *day >= FIRST_DAY)
}

/// A day as a person types it, wherever daybook asks for one (the command
/// line, `/v1/days/…`, `/v1/sessions?day=…`): `YYYY-MM-DD`, `today`,
/// `yesterday`, or a number of days back, `-N`, `-Nd` or `Nd` (`-1` and
/// `1d` are yesterday, `0d` today). Case and surrounding spaces do not
/// matter. `today` is the caller's local date; the result is not before
/// [`FIRST_DAY`].
pub fn parse_day_spec(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    let t = s.trim().to_ascii_lowercase();
    let back = match t.as_str() {
        "today" => Some(0),
        "yesterday" => Some(1),
        _ => {
            let digits = t.strip_prefix('-').unwrap_or(&t);
            let digits = digits.strip_suffix('d').unwrap_or(digits);
            let relative = (t.starts_with('-') || t.ends_with('d'))
                && !digits.is_empty()
                && digits.len() <= 6
                && digits.bytes().all(|b| b.is_ascii_digit());
            relative.then(|| digits.parse::<u64>().ok()).flatten()
        }
    };
    match back {
        Some(n) => today.checked_sub_days(chrono::Days::new(n)).filter(|d| *d >= FIRST_DAY),
        None => parse_asked_day(s.trim()),
    }
}

/// What a day may be written as, for error messages that quote the input.
pub const DAY_SPEC_HELP: &str = "a day is YYYY-MM-DD (from 1970-01-01 on), today, yesterday, or -N for N days ago";

/// The file name of a day's log.
pub fn file_name(day: NaiveDate) -> String {
    format!("event-{}.md", day_name(day))
}

/// The day file's format version, written in its header. A daybook that
/// renders another version rewrites every day file at startup (the
/// daemon's rebuild rewrites every file that differs from its rendering);
/// the entries in the database stay as they are.
pub const FORMAT_VERSION: u32 = 2;

/// The HTML comment that names the format, at the end of the third line
/// of every day file.
fn format_line() -> String {
    format!("<!-- daybook day file, format {FORMAT_VERSION} -->")
}

/// How many sections (`## ` headings) the day file of `day` has for
/// these entries: one per session with an entry on that day.
pub fn section_count(day: NaiveDate, entries: &[&Entry]) -> usize {
    let ids: BTreeSet<&SessionId> = entries
        .iter()
        .filter(|e| e.day() == day)
        .map(|e| &e.session_id)
        .collect();
    ids.len()
}

/// Renders one day's log: a projection of the day's entries, read with the
/// sessions they reduce and those sessions' events (any order, any other
/// sessions or days among them; `sessions` may be empty, and a session
/// missing from it renders from its entries alone).
///
/// # What the file holds
///
/// - Line 1 is the title `# daybook — YYYY-MM-DD`; line 3: the offsets
///   used (two on a DST day), the active time, how many sessions, the top
///   apps with their time, and the format comment.
/// - One section per session with an entry on the day, in time order,
///   whatever its flushes: a heading `## 09:12–10:40 · 1 h 28 min ·
///   Code, Firefox` (top apps by time, with what a reader should know of
///   its end: recovered after a crash, ended by a pause, still in
///   progress) and the session id in an HTML comment; the summaries of its
///   entries, in order, without repeats, then those of its `late` entries
///   each with the windows it added (`Added late, 09:20–09:21: …`); then
///   the merged context spans,
///   `- 09:12–09:44 Code — main.rs (32 min)`. So that a session stays
///   readable at a glance, spans shorter than a threshold are grouped into
///   one line per run (`- 09:44–09:50 switching between Slack, Firefox
///   (6 min)`); the
///   threshold is the smallest of 1, 2, 5, 10, 15, 30 and 60 minutes that
///   keeps the session to [`span_budget`] span lines.
/// - Between sessions, one line per gap: `_Idle 10:40–11:05 · 25 min_` or
///   `_Paused …_`; idle gaps under a minute get none, and neither do idle
///   gaps under five minutes after a soft cut or a timeout (the step
///   between two events of work that went on, see
///   `MIN_GAP_AFTER_CUT_MILLIS`).
///
/// # Why it is a projection
///
/// A section reads only what the day's entries cover: the session's
/// events inside its entries' windows on that day, its start and offset,
/// and its end and end reason only once a final (or heuristic) entry of it
/// is on the day. All of those are fixed once the entries are committed,
/// so the file changes only when an entry of its day does, which is when
/// the daemon rewrites it. Until its final entry, a session is shown up to
/// its latest covered event, as in progress.
///
/// Times are printed in the offset of their own instant: that of the
/// latest covered event at or before it (the day's first offset before
/// any). Durations come from [`crate::aggregate`], so the day file, the
/// CLI and the API agree.
///
/// Every captured string (app, title, URL host, summary) passes
/// [`text::inline`] or [`text::line`]: text is data (SPEC §12).
pub fn render_day(day: NaiveDate, entries: &[&Entry], sessions: &[SessionInput<'_>]) -> String {
    render_day_of(day, entries, sessions)
}

/// [`render_day`] of sessions whose events are any [`EventView`]: a
/// reader that renders many days may hand events without their typed
/// text, source or session id, each context shared, and gets the same
/// bytes, since the day log reads nothing else of an event.
pub fn render_day_of<E: EventView>(day: NaiveDate, entries: &[&Entry], sessions: &[SessionInput<'_, E>]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().copied().filter(|e| e.day() == day).collect();
    sorted.sort_by_key(|e| (e.from, e.id));
    let by_id: BTreeMap<&SessionId, &SessionInput<'_, E>> = sessions.iter().map(|s| (&s.session.id, s)).collect();
    // The day's entries per session, sessions in order of their first entry.
    let mut order: Vec<&SessionId> = Vec::new();
    let mut per: BTreeMap<&SessionId, Vec<&Entry>> = BTreeMap::new();
    for e in &sorted {
        per.entry(&e.session_id)
            .or_insert_with(|| {
                order.push(&e.session_id);
                Vec::new()
            })
            .push(e);
    }
    let parts: Vec<Part<'_, E>> = order
        .iter()
        .map(|id| Part::new(per[id].as_slice(), by_id.get(id).copied()))
        .collect();
    let inputs: Vec<SessionInput<'_, E>> = parts
        .iter()
        .map(|p| SessionInput {
            session: &p.session,
            events: p.events,
        })
        .collect();
    let fallback = sorted.first().map_or(UtcOffset::UTC, |e| e.offset);
    let bounds = DayBounds::from_data(day, &inputs, fallback);
    let from = parts.iter().map(|p| p.cover.0).fold(bounds.from, Timestamp::min);
    let to = parts.iter().map(|p| p.cover.1).fold(bounds.to, Timestamp::max);
    let agg = aggregate(from, to, &inputs);
    let clock = Clock::new(&inputs, bounds.start_offset);

    let mut out = format!("# daybook — {}\n\n", day_name(day));
    if sorted.is_empty() {
        out.push_str(&format!("Nothing recorded on this day. {}\n", format_line()));
        return out;
    }
    out.push_str(&header_line(&bounds, &agg));
    let by_id: BTreeMap<&SessionId, &Part<'_, E>> = order.iter().copied().zip(&parts).collect();
    let mut gaps = agg.gaps.iter().peekable();
    for (k, s) in agg.sessions.iter().enumerate() {
        if k > 0 {
            // Gaps lie between consecutive sessions, in order.
            if let Some(gap) = gaps.next_if(|g| g.to <= s.from)
                && gap_is_marked(gap, agg.sessions[k - 1].reason)
            {
                out.push('\n');
                out.push_str(&gap_line(gap, &clock));
            }
        }
        out.push('\n');
        out.push_str(&section(s, by_id[&s.id], &clock));
    }
    out
}

/// Idle gaps shorter than this get no line of their own; paused ones
/// always do.
const MIN_GAP_MILLIS: i64 = 60_000;

/// After a session that a soft cut or the timeout ended, an idle gap
/// shorter than this gets no line either: such a cut ends the session at
/// its last event while the work goes on, so the time to the next
/// session's first event is the step between two events of that work
/// (a call with an event a minute leaves a minute), not time away. Five
/// minutes is the default `gap_minutes`, the shortest stretch without
/// events that daybook calls idle on its own; a longer one is marked.
const MIN_GAP_AFTER_CUT_MILLIS: i64 = 5 * 60_000;

/// Whether `gap`, after a session that ended for `reason`, gets a line.
fn gap_is_marked(gap: &Gap, reason: Option<EndReason>) -> bool {
    let min = match reason {
        Some(EndReason::SoftCut | EndReason::Timeout) => MIN_GAP_AFTER_CUT_MILLIS,
        _ => MIN_GAP_MILLIS,
    };
    gap.kind == GapKind::Paused || gap.millis() >= min
}

/// One session's part of the day: its entries there, the events they
/// cover, and the session row as far as those entries tell.
struct Part<'a, E> {
    entries: &'a [&'a Entry],
    session: Session,
    events: &'a [E],
    cover: (Timestamp, Timestamp),
}

impl<'a, E: EventView> Part<'a, E> {
    fn new(entries: &'a [&'a Entry], input: Option<&SessionInput<'a, E>>) -> Self {
        let first = entries[0];
        let cover = (
            entries.iter().map(|e| e.from).min().unwrap_or(first.from),
            entries.iter().map(|e| e.to).max().unwrap_or(first.to),
        );
        let finished = entries.iter().any(|e| match e.kind {
            EntryKind::Final | EntryKind::Heuristic => true,
            EntryKind::Flush | EntryKind::Late => false,
        });
        let Some(input) = input else {
            // No row: the entries alone, with no time of their own.
            return Self {
                entries,
                session: Session::active(first.session_id.clone(), cover.0, first.offset),
                events: &[],
                cover,
            };
        };
        // The events inside the covered windows: one run of the session's
        // events (sorted by attributed time), as its entries' windows are
        // consecutive.
        let events = input.events;
        let lo = events.partition_point(|e| e.attributed() < cover.0);
        let hi = events.partition_point(|e| e.attributed() < cover.1);
        let row = input.session;
        let start = row.start.max(cover.0);
        let events = &events[lo..hi.max(lo)];
        let phase = match (finished, row.phase.end(), row.phase.reason()) {
            (true, Some(end), Some(reason)) => Phase::Reduced { end, reason },
            // A final entry on a row with no end (a store broken
            // elsewhere): ended at its latest covered event, with nothing
            // to note about why.
            (true, ..) => Phase::Reduced {
                end: events.last().map_or(start, EventView::attributed),
                reason: EndReason::IdleGap,
            },
            (false, ..) => Phase::Active,
        };
        Self {
            entries,
            session: Session {
                id: row.id.clone(),
                start,
                offset: row.offset,
                phase,
                retry_count: 0,
                flush_end: None,
            },
            events,
            cover,
        }
    }

    /// The entries' `- ` lines, in order, at most `max` (then `…`).
    fn entry_lines(&self, max: usize) -> Vec<String> {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .flat_map(|e| e.body.split('\n').filter_map(|l| l.strip_prefix("- ")).map(text::line))
            .collect();
        if lines.len() > max {
            lines.truncate(max);
            lines.push("…".to_owned());
        }
        lines
    }

    /// The entries' summaries, in order, each once. A `late` entry's
    /// summary says which windows it added (`Added late, 09:20–09:21:
    /// …`): its events were captured there but reached daybook after the
    /// session was written up, and its spans are merged with the rest, so
    /// this is where a reader learns what came late.
    fn summary(&self, clock: &Clock) -> String {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut words: Vec<String> = Vec::new();
        let mut late: Vec<String> = Vec::new();
        for e in self.entries {
            let s = entry_summary(&e.body);
            if e.kind == EntryKind::Late {
                let s = if s.is_empty() { "(no summary)".to_owned() } else { s };
                late.push(format!("Added late, {}: {s}", clock.range(e.from, e.to)));
            } else if !s.is_empty() && seen.insert(s.clone()) {
                words.push(s);
            }
        }
        words.extend(late);
        text::line(&words.join(" "))
    }
}

/// The summary of an entry body (`## heading`, a blank line, the summary,
/// then `- ` lines): the lines between the heading and the first blank or
/// list line after it, joined.
fn entry_summary(body: &str) -> String {
    let mut lines = body.split('\n').skip(1).skip_while(|l| l.trim().is_empty());
    let mut words: Vec<&str> = Vec::new();
    for l in lines.by_ref() {
        if l.trim().is_empty() || l.starts_with("- ") {
            break;
        }
        words.push(l.trim());
    }
    text::inline(&words.join(" "))
}

/// Which offset each instant of the day is printed in: the offset of the
/// latest covered event at or before it.
struct Clock {
    /// `(from, offset)` where the offset changes, in time order.
    changes: Vec<(Timestamp, UtcOffset)>,
    first: UtcOffset,
}

impl Clock {
    fn new<E: EventView>(inputs: &[SessionInput<'_, E>], first: UtcOffset) -> Self {
        let mut points: Vec<(Timestamp, UtcOffset)> = inputs
            .iter()
            .flat_map(|s| {
                let mut last: Option<UtcOffset> = None;
                s.events.iter().filter_map(move |e| {
                    let o = e.offset();
                    (last.replace(o) != Some(o)).then_some((e.attributed(), o))
                })
            })
            .collect();
        points.sort();
        let mut changes: Vec<(Timestamp, UtcOffset)> = Vec::new();
        for p in points {
            if changes.last().is_none_or(|l| l.1 != p.1) {
                changes.push(p);
            }
        }
        Self { changes, first }
    }

    fn offset(&self, t: Timestamp) -> UtcOffset {
        let i = self.changes.partition_point(|(at, _)| *at <= t);
        if i == 0 { self.first } else { self.changes[i - 1].1 }
    }

    fn hhmm(&self, t: Timestamp) -> String {
        t.hhmm(self.offset(t))
    }

    /// `09:12–10:40`; across a change of offset (a DST day) both ends
    /// carry theirs, `01:59+01:00–03:07+02:00`, so that a reader sees why
    /// the span is shorter (or longer) than its clock times say.
    fn range(&self, from: Timestamp, to: Timestamp) -> String {
        let (a, b) = (self.offset(from), self.offset(to));
        if a == b {
            format!("{}–{}", from.hhmm(a), to.hhmm(b))
        } else {
            format!("{}{}–{}{}", from.hhmm(a), a.fixed(), to.hhmm(b), b.fixed())
        }
    }
}

/// `UTC+01:00`.
fn offset_name(o: UtcOffset) -> String {
    format!("UTC{}", o.fixed())
}

/// The line under the title: offsets, active time, sessions, top apps.
fn header_line(bounds: &DayBounds, agg: &Aggregate) -> String {
    let offsets: Vec<String> = bounds.offsets().into_iter().map(offset_name).collect();
    let n = agg.sessions.len();
    let mut line = format!(
        "{} · {} active in {n} session{}",
        offsets.join(", then "),
        human_duration(agg.active_millis),
        if n == 1 { "" } else { "s" }
    );
    let apps = top(&agg.totals.apps, TOP_APPS, true);
    if !apps.is_empty() {
        line.push_str(" · ");
        line.push_str(&apps);
    }
    line.push(' ');
    line.push_str(&format_line());
    line.push('\n');
    line
}

/// How many apps the header names.
const TOP_APPS: usize = 4;
/// How many apps a session heading names.
const SESSION_APPS: usize = 3;

/// The first `n` totals, with their time if `timed`, and `…` if more.
fn top(totals: &[Total], n: usize, timed: bool) -> String {
    let known = |t: &&Total| t.millis > 0 && t.name != Context::UNKNOWN_APP;
    let mut names: Vec<String> = totals
        .iter()
        .filter(known)
        .take(n)
        .map(|t| {
            let name = text::inline(&t.name);
            if timed {
                format!("{name} {}", human_duration(t.millis))
            } else {
                name
            }
        })
        .collect();
    if totals.iter().filter(known).count() > n {
        names.push("…".to_owned());
    }
    names.join(", ")
}

/// `_Idle 10:40–11:05 · 25 min_`.
fn gap_line(gap: &Gap, clock: &Clock) -> String {
    let what = match gap.kind {
        GapKind::Idle => "Idle",
        GapKind::Paused => "Paused",
    };
    format!(
        "_{what} {} · {}_\n",
        clock.range(gap.from, gap.to),
        human_duration(gap.millis())
    )
}

/// What a reader should know about how a session ended, if anything.
fn end_note(reason: Option<EndReason>) -> Option<&'static str> {
    match reason? {
        EndReason::Recovered => Some("recovered after a crash, end estimated"),
        EndReason::Paused => Some("ended by a pause"),
        EndReason::Late => Some("replayed late, placed where it happened"),
        EndReason::Imported => Some("imported"),
        EndReason::IdleGap
        | EndReason::SoftCut
        | EndReason::Timeout
        | EndReason::Shutdown
        | EndReason::DailySafetyNet => None,
    }
}

/// One session's section.
fn section<E: EventView>(s: &SessionAggregate, part: &Part<'_, E>, clock: &Clock) -> String {
    let mut out = format!("## {} · {}", clock.range(s.from, s.to), human_duration(s.active_millis));
    let apps = top(&s.totals.apps, SESSION_APPS, false);
    if !apps.is_empty() {
        out.push_str(" · ");
        out.push_str(&apps);
    }
    match (s.reason, end_note(s.reason)) {
        (None, _) => out.push_str(" · in progress"),
        (Some(_), Some(note)) => {
            out.push_str(" · ");
            out.push_str(note);
        }
        (Some(_), None) => {}
    }
    out.push_str(&format!(" <!-- session {} -->\n", comment_safe(&s.id.0)));
    // No blank lines inside a section: a paragraph may follow a heading,
    // and a `- ` list may interrupt a paragraph (CommonMark), so a
    // session costs a line per thing it says.
    let summary = part.summary(clock);
    if !summary.is_empty() {
        out.push_str(&summary);
        out.push('\n');
    }
    let lines = if part.events.is_empty() {
        // No events (an imported session, whose blocks alone came
        // along): the entries' own lines say what there was.
        part.entry_lines(span_budget(s.active_millis))
    } else if s.spans.is_empty() {
        // No time to share (a session of one instant): its contexts.
        contexts_at(part.events, span_budget(0), clock)
    } else {
        span_lines(&s.spans, span_budget(s.active_millis), clock)
    };
    if !lines.is_empty() {
        for l in lines {
            out.push_str("- ");
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The distinct contexts of events that got no time, at most `max`:
/// `12:00 Code — main.rs`.
fn contexts_at<E: EventView>(events: &[E], max: usize, clock: &Clock) -> Vec<String> {
    let mut seen: BTreeSet<(&str, Option<&str>, Option<&str>)> = BTreeSet::new();
    let mut lines = Vec::new();
    for e in events {
        if seen.insert((e.app(), e.title(), e.url())) {
            if lines.len() == max {
                lines.push("…".to_owned());
                break;
            }
            let context = Context {
                app: e.app().to_owned(),
                title: e.title().map(str::to_owned),
                url: e.url().map(str::to_owned),
            };
            lines.push(format!("{} {}", clock.hhmm(e.attributed()), context_name(&context)));
        }
    }
    lines
}

/// A session id inside an HTML comment: [`text::inline`], and no `>` that
/// could close the comment early.
fn comment_safe(id: &str) -> String {
    text::inline(id).replace('>', "&gt;")
}

/// How many span lines a session of `active_millis` gets: ten per hour,
/// at least three.
pub fn span_budget(active_millis: i64) -> usize {
    let per_hour = 10;
    let lines = (active_millis.max(0) * per_hour + 3_599_999) / 3_600_000;
    usize::try_from(lines).unwrap_or(usize::MAX).max(3)
}

/// The thresholds, in minutes, under which spans are grouped, tried in
/// order until the lines fit the budget.
const BRIEF_MINUTES: [i64; 8] = [0, 1, 2, 5, 10, 15, 30, 60];

/// The span lines of a session: spans at least as long as the smallest
/// threshold that fits `budget` lines stand alone; each run of shorter
/// ones becomes one line.
fn span_lines(spans: &[Span], budget: usize, clock: &Clock) -> Vec<String> {
    // Lines are counted for each threshold and written for one only.
    let brief = BRIEF_MINUTES
        .iter()
        .map(|m| m * 60_000)
        .find(|&brief| group_count(spans, brief) <= budget)
        .unwrap_or(BRIEF_MINUTES[BRIEF_MINUTES.len() - 1] * 60_000);
    group_spans(spans, brief, clock)
}

/// How many lines [`group_spans`] writes for `brief`: one per span at
/// least `brief` long, one per run of shorter ones.
fn group_count(spans: &[Span], brief: i64) -> usize {
    let mut lines = 0;
    let mut in_run = false;
    for s in spans {
        let short = s.millis() < brief;
        if !short || !in_run {
            lines += 1;
        }
        in_run = short;
    }
    lines
}

fn group_spans(spans: &[Span], brief: i64, clock: &Clock) -> Vec<String> {
    let mut lines = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        if spans[i].millis() >= brief {
            let s = &spans[i];
            lines.push(format!(
                "{} {} ({})",
                clock.range(s.from, s.to),
                context_name(&s.context),
                human_duration(s.millis())
            ));
            i += 1;
            continue;
        }
        let mut j = i;
        while j < spans.len() && spans[j].millis() < brief {
            j += 1;
        }
        let run = &spans[i..j];
        let (from, to) = (run[0].from, run[run.len() - 1].to);
        if run.len() == 1 {
            lines.push(format!(
                "{} {} ({})",
                clock.range(from, to),
                context_name(&run[0].context),
                human_duration(run[0].millis())
            ));
        } else {
            let mut apps: BTreeMap<&str, i64> = BTreeMap::new();
            for s in run {
                *apps.entry(&s.context.app).or_default() += s.millis();
            }
            let mut ranked: Vec<(&str, i64)> = apps.into_iter().collect();
            ranked.sort_by_key(|(_, ms)| std::cmp::Reverse(*ms));
            let names: Vec<String> = ranked.iter().take(SESSION_APPS).map(|(a, _)| text::inline(a)).collect();
            let more = if ranked.len() > SESSION_APPS { ", …" } else { "" };
            lines.push(format!(
                "{} switching between {}{more} ({})",
                clock.range(from, to),
                names.join(", "),
                human_duration(to.millis_since(from)),
            ));
        }
        i = j;
    }
    lines
}

/// `App — title` (or `App — host` for a page without a title, or `App`),
/// with the app's name taken off the title's ends where the title repeats
/// it (`Vault — 1Password` in 1Password reads `1Password — Vault`).
pub fn context_name(c: &Context) -> String {
    let app = text::inline(&c.app);
    let title = c
        .title
        .as_deref()
        .map(|t| display_title(&c.app, t))
        .filter(|t| !t.is_empty());
    match (title, c.domain()) {
        (Some(t), Some(d)) => format!("{app} — {} ({})", text::inline(t), text::inline(&d)),
        (Some(t), None) => format!("{app} — {}", text::inline(t)),
        (None, Some(d)) => format!("{app} — {}", text::inline(&d)),
        (None, None) => app,
    }
}

/// A window title without the app name the window manager adds at
/// either end (`main.rs — Code`, `Code - main.rs`), trimmed; empty when
/// the title is only the app's name.
pub fn display_title<'t>(app: &str, title: &'t str) -> &'t str {
    const SEPARATORS: [&str; 5] = [" — ", " – ", " - ", " | ", " · "];
    let t = title.trim();
    if t.eq_ignore_ascii_case(app.trim()) {
        return "";
    }
    for sep in SEPARATORS {
        if let Some(rest) = t.strip_suffix(app).and_then(|r| r.strip_suffix(sep)) {
            return rest.trim();
        }
        if let Some(rest) = t.strip_prefix(app).and_then(|r| r.strip_prefix(sep)) {
            return rest.trim();
        }
    }
    t
}

/// An entry body with only its first line able to be a heading: that
/// line keeps its text (controls removed, see [`text::inline`]); every
/// other line is blank, a list item `- ` followed by [`text::line`], or
/// [`text::line`]. Line breaks are split on `\n` only; the others are
/// inside lines and [`text::inline`] flattens them.
pub fn neutral_body(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if i == 0 {
            out.push_str(&text::inline(line));
        } else if let Some(item) = line.strip_prefix("- ") {
            out.push_str("- ");
            out.push_str(&text::line(item));
        } else {
            out.push_str(&text::line(line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::StoredEvent;

    #[test]
    fn days_asked_for_start_in_1970() {
        assert_eq!(parse_asked_day("1970-01-01"), Some(FIRST_DAY));
        assert_eq!(parse_asked_day("2026-01-10"), parse_day_name("2026-01-10"));
        for s in ["0000-01-01", "1969-12-31", "-0001-12-31", "2026-1-10"] {
            assert_eq!(parse_asked_day(s), None, "{s}");
        }
        assert!(parse_day_name("0000-01-01").is_some(), "the shape alone is a day name");
    }

    /// 2027-01-15T08:00:00Z, 09:00 at +01:00.
    const T0: i64 = 1_800_000_000_000;
    const CET: UtcOffset = UtcOffset(3600);

    fn at(min: i64) -> Timestamp {
        Timestamp(T0 + min * 60_000)
    }

    fn ev(seq: u64, min: i64, app: &str, title: &str) -> StoredEvent {
        ev_of("s", seq, min, app, title)
    }

    /// [`ev`] of session `id`.
    fn ev_of(id: &str, seq: u64, min: i64, app: &str, title: &str) -> StoredEvent {
        StoredEvent {
            seq,
            session_id: id.into(),
            attributed: at(min),
            rev: 0,
            event: crate::event::Event {
                offset: CET,
                title: Some(title.into()),
                ..crate::event::Event::new(at(min), app)
            },
        }
    }

    fn mk(id: u64, kind: EntryKind, from: i64, to: i64, summary: &str) -> Entry {
        mk_of("s", id, kind, from, to, summary)
    }

    /// [`mk`] of session `session`.
    fn mk_of(session: &str, id: u64, kind: EntryKind, from: i64, to: i64, summary: &str) -> Entry {
        Entry {
            id,
            session_id: session.into(),
            kind,
            from: at(from),
            to: at(to),
            offset: CET,
            body: format!("## old heading\n\n{summary}\n\n- [09:00-09:01, X] line\n"),
        }
    }

    fn session(end: i64, reason: EndReason) -> Session {
        session_of("s", 0, end, reason)
    }

    /// Session `id`, reduced, from `start` to `end` (minutes).
    fn session_of(id: &str, start: i64, end: i64, reason: EndReason) -> Session {
        Session {
            phase: Phase::Reduced { end: at(end), reason },
            ..Session::active(id.into(), at(start), CET)
        }
    }

    /// Two sessions with their events, as rendering takes them.
    fn two<'a>(a: (&'a Session, &'a [StoredEvent]), b: (&'a Session, &'a [StoredEvent])) -> [SessionInput<'a>; 2] {
        [a, b].map(|(session, events)| SessionInput { session, events })
    }

    #[test]
    fn one_section_per_session_whatever_its_flushes() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let events = [
            ev(1, 0, "Code", "main.rs — Code"),
            ev(2, 20, "Code", "main.rs — Code"),
            ev(3, 32, "Firefox", "tokio - Docs"),
            ev(4, 40, "Code", "engine.rs — Code"),
            ev(5, 60, "Code", "engine.rs — Code"),
        ];
        let s = session(60, EndReason::Recovered);
        let inputs = [SessionInput {
            session: &s,
            events: &events,
        }];
        let flush = mk(1, EntryKind::Flush, 0, 30, "Mostly Code.");
        let fin = mk(2, EntryKind::Final, 30, 61, "Then Firefox.");
        let again = mk(3, EntryKind::Flush, 61, 62, "Mostly Code.");
        let text = render_day(day, &[&fin, &flush, &again], &inputs);
        assert_eq!(
            text,
            "# daybook — 2027-01-15\n\n\
             UTC+01:00 · 1 h active in 1 session · Code 52 min, Firefox 8 min <!-- daybook day file, format 2 -->\n\n\
             ## 09:00–10:00 · 1 h · Code, Firefox · recovered after a crash, end estimated <!-- session s -->\n\
             Mostly Code. Then Firefox.\n\
             - 09:00–09:32 Code — main.rs (32 min)\n\
             - 09:32–09:40 Firefox — tokio - Docs (8 min)\n\
             - 09:40–10:00 Code — engine.rs (20 min)\n"
        );
        assert_eq!(section_count(day, &[&fin, &flush, &again]), 1);
        assert_eq!(crate::oracle::check_day_text("2027-01-15", &text, 1), []);
    }

    #[test]
    fn a_session_before_its_final_entry_is_in_progress_up_to_what_is_covered() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let events = [ev(1, 0, "Code", "a"), ev(2, 10, "Code", "b"), ev(3, 50, "Code", "c")];
        // Ended, but only a flush covering [0, 30) is written: event 3 and
        // the end are not the day file's yet.
        let s = session(50, EndReason::Paused);
        let inputs = [SessionInput {
            session: &s,
            events: &events,
        }];
        let flush = mk(1, EntryKind::Flush, 0, 30, "x");
        let text = render_day(day, &[&flush], &inputs);
        assert!(text.contains("## 09:00–09:10 · 10 min · Code · in progress"), "{text}");
        assert!(!text.contains("Code — c"), "{text}");
        // Its final entry brings the rest, and the pause.
        let fin = mk(2, EntryKind::Final, 30, 51, "y");
        let text = render_day(day, &[&flush, &fin], &inputs);
        assert!(
            text.contains("## 09:00–09:50 · 50 min · Code · ended by a pause"),
            "{text}"
        );
    }

    #[test]
    fn gaps_get_one_line_and_brief_spans_are_grouped() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        // Session a: 40 switches a minute apart; session b after 30 min idle.
        let a_events: Vec<StoredEvent> = (0..40)
            .map(|i| ev(i as u64, i, ["Code", "Slack", "Mail"][(i % 3) as usize], "t"))
            .collect();
        let a = session(39, EndReason::IdleGap);
        let b = session_of("b", 70, 80, EndReason::Shutdown);
        let b_events = [ev_of("b", 100, 70, "Code", "x"), ev_of("b", 101, 80, "Code", "x")];
        let inputs = two((&a, &a_events), (&b, &b_events));
        let ea = mk(1, EntryKind::Final, 0, 40, "switching");
        let eb = mk_of("b", 2, EntryKind::Final, 70, 81, "calm");
        let text = render_day(day, &[&ea, &eb], &inputs);
        assert!(text.contains("\n_Idle 09:39–10:10 · 31 min_\n"), "{text}");
        let spans = text.lines().filter(|l| l.starts_with("- ")).count();
        assert!(spans <= span_budget(39 * 60_000) + 1, "{text}");
        assert!(text.contains("switching between"), "{text}");
        assert_eq!(crate::oracle::check_day_text("2027-01-15", &text, 2), []);
    }

    /// The step across a soft cut (or a timeout) is not time away; a
    /// stretch as long as an idle gap after one still is.
    #[test]
    fn a_gap_after_a_soft_cut_is_marked_only_from_five_minutes() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let render = |gap: i64, reason: EndReason| {
            let a = session(10, reason);
            let b = session_of("b", 10 + gap, 20 + gap, EndReason::IdleGap);
            let a_events = [ev(1, 0, "Code", "x"), ev(2, 10, "Zoom", "call")];
            let b_events = [
                ev_of("b", 3, 10 + gap, "Zoom", "call"),
                ev_of("b", 4, 20 + gap, "Zoom", "call"),
            ];
            let ea = mk(1, EntryKind::Final, 0, 11, "a");
            let eb = mk_of("b", 2, EntryKind::Final, 10 + gap, 21 + gap, "b");
            let inputs = two((&a, &a_events), (&b, &b_events));
            render_day(day, &[&ea, &eb], &inputs)
        };
        for reason in [EndReason::SoftCut, EndReason::Timeout] {
            assert!(!render(1, reason).contains("_Idle"), "{}", render(1, reason));
            assert!(!render(4, reason).contains("_Idle"), "{}", render(4, reason));
            assert!(
                render(5, reason).contains("\n_Idle 09:10–09:15 · 5 min_\n"),
                "{}",
                render(5, reason)
            );
        }
        assert!(render(1, EndReason::Shutdown).contains("\n_Idle 09:10–09:11 · 1 min_\n"));
    }

    #[test]
    fn titles_lose_the_app_name_they_repeat() {
        assert_eq!(display_title("1Password", "1Password — Vault"), "Vault");
        assert_eq!(display_title("Code", "main.rs - daybook - Code"), "main.rs - daybook");
        assert_eq!(display_title("Slack", "Slack"), "");
        assert_eq!(display_title("Code", "Codebase notes"), "Codebase notes");
    }

    #[test]
    fn an_old_body_with_raw_text_renders_inert() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let old = Entry {
            body: "## 08:00–08:01 · final · session s\n\nok\n# daybook — 2026-01-01\n\n- a\n## 09:00–10:00 · final · session x\u{1b}[2J\n- ## b\n".into(),
            ..mk(1, EntryKind::Final, 0, 1, "")
        };
        let evil = Session {
            id: "x --> ## y\n".into(),
            ..session(0, EndReason::IdleGap)
        };
        let e = Entry {
            session_id: evil.id.clone(),
            ..old.clone()
        };
        let text = render_day(
            day,
            &[&e],
            &[SessionInput {
                session: &evil,
                events: &[],
            }],
        );
        assert!(text.contains("\nok # daybook — 2026-01-01\n"), "{text}");
        assert!(text.contains("<!-- session x --&gt; ## y  -->"), "{text}");
        assert_eq!(crate::oracle::check_day_text("2027-01-15", &text, 1), []);
        // Without its session row, an entry still gets its section.
        let text = render_day(day, &[&old], &[]);
        assert_eq!(crate::oracle::check_day_text("2027-01-15", &text, 1), []);
    }

    #[test]
    fn days_as_people_type_them() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let d = |s: &str| parse_day_spec(s, today).map(|d| d.to_string());
        assert_eq!(d("today").as_deref(), Some("2026-03-29"));
        assert_eq!(d(" Yesterday ").as_deref(), Some("2026-03-28"));
        assert_eq!(d("-1").as_deref(), Some("2026-03-28"));
        assert_eq!(d("3d").as_deref(), Some("2026-03-26"));
        assert_eq!(d("-30d").as_deref(), Some("2026-02-27"));
        assert_eq!(d("2026-01-10").as_deref(), Some("2026-01-10"));
        for bad in [
            "",
            "d",
            "-",
            "1",
            "+1",
            "tomorrow",
            "-1x",
            "2026-1-10",
            "-99999999",
            "1969-12-31",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
        assert_eq!(parse_day_spec("-20542d", today), None, "before 1970");
    }

    #[test]
    fn file_names() {
        assert_eq!(
            file_name(NaiveDate::from_ymd_opt(2027, 1, 15).unwrap()),
            "event-2027-01-15.md"
        );
    }

    #[test]
    fn a_new_body_is_neutral_already() {
        let summary = crate::reduction::Summary {
            summary: "Worked in Code.".into(),
            lines: vec!["[08:00-08:01, Code] Code — main.rs".into()],
        };
        let body = crate::reduction::render_entry(
            &"s".into(),
            crate::reduction::EntryKind::Final,
            Timestamp(1_800_000_000_000),
            Timestamp(1_800_000_060_000),
            UtcOffset(3600),
            &summary,
        );
        assert_eq!(neutral_body(&body), body);
        assert_eq!(entry_summary(&body), "Worked in Code.");
    }
}
