//! Where the time went: one aggregation of sessions and their events over a
//! range of instants, read by every reader (the day log, `daybook summary`,
//! the MCP `activity_summary` tool and the web page), so all of them agree
//! to the millisecond.
//!
//! # Input: sessions and their events
//!
//! The aggregation reads each session's row and its events, not its
//! blocks. An event carries its exact attributed instant and its whole
//! context (app, title, url); a block keeps only which contexts appeared in
//! one minute, in first-seen order, with no time per context, so any time
//! split read from blocks would be a guess to the minute. The store gives a
//! session's events in one indexed read ([`crate::Store::session_events`]),
//! already in attributed order.
//!
//! # How time is attributed
//!
//! - A session is active from its `start` to its end (SPEC: the attributed
//!   time of its last event, or recovery's estimate). An active session,
//!   which has no end yet, counts up to its latest event: the aggregation
//!   reads no clock, and the time since the latest event may yet turn out
//!   to be a gap.
//! - Inside a session, each event's context holds from the event's
//!   attributed instant until the next event of the session, and the last
//!   event's context until the session's end. The time from the session's
//!   start to its first event (none, for a session this engine cut) goes to
//!   the first event's context. So a session's contexts partition its
//!   active time exactly, and the last event before a gap gets no time: the
//!   gap is not work.
//! - A session with no events (imported from another tool, whose blocks
//!   alone came along) is active all the same; its time goes to the context
//!   [`Context::unknown`].
//! - Sessions never overlap (SPEC invariant 1). Should a store hold two
//!   that do, the later one counts only from where the earlier one ended,
//!   so that no instant is counted twice and a range's active time never
//!   exceeds its wall time.
//! - Everything is clipped to the range `[from, to)`.
//! - Consecutive events of one identical context `(app, title, url)` merge
//!   into one [`Span`]; typed text never splits a span.
//! - Gaps between consecutive sessions inside the range are idle time, or
//!   paused time when the session before the gap ended because capture was
//!   paused.
//!
//! # Days
//!
//! A local day runs from local midnight to the next local midnight. Core
//! knows no time-zone rules, so the offsets come from the data: the offset
//! in force at the day's start is that of the day's first event (by its own
//! offset's date), the one at its end that of the day's last event. On a
//! DST day they differ and the day is 23 or 25 hours long. [`DayBounds`]
//! names the offsets it used; readers print them.
//!
//! Everything here is pure and deterministic: sorted inputs, `BTreeMap`s,
//! ties broken by name. `O(n log c)` for `n` events over `c` distinct
//! contexts.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::event::StoredEvent;
use crate::session::{EndReason, Session, SessionId, order_key};
use crate::time::{Timestamp, UtcOffset};

/// One session as the aggregation reads it: its row and its events (any
/// order; they are sorted by attributed time, then `seq`). The events are
/// [`StoredEvent`]s unless a reader hands a leaner [`EventView`].
#[derive(Debug)]
pub struct SessionInput<'a, E = StoredEvent> {
    /// The session's row.
    pub session: &'a Session,
    /// Its events.
    pub events: &'a [E],
}

// Not derived: a derive would ask `E: Copy`, and a `StoredEvent` is not.
impl<E> Clone for SessionInput<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for SessionInput<'_, E> {}

/// What the aggregation reads of an event: its order, its offset and its
/// context, never its typed text or source. [`StoredEvent`] is one; a
/// reader that aggregates many thousands of events may hand a leaner type
/// (no text read, one shared copy of each context) and gets the same
/// answer, since nothing else is looked at.
pub trait EventView {
    /// Its position in the store's append order (breaks ties of
    /// `attributed`).
    fn seq(&self) -> u64;
    /// The instant it is attributed at (SPEC §2).
    fn attributed(&self) -> Timestamp;
    /// The UTC offset it was captured at.
    fn offset(&self) -> UtcOffset;
    /// The focused app.
    fn app(&self) -> &str;
    /// The window title, if any.
    fn title(&self) -> Option<&str>;
    /// The URL, if any.
    fn url(&self) -> Option<&str>;
}

impl EventView for StoredEvent {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn attributed(&self) -> Timestamp {
        self.attributed
    }
    fn offset(&self) -> UtcOffset {
        self.event.offset
    }
    fn app(&self) -> &str {
        &self.event.app
    }
    fn title(&self) -> Option<&str> {
        self.event.title.as_deref()
    }
    fn url(&self) -> Option<&str> {
        self.event.url.as_deref()
    }
}

/// An event as a reader that aggregates many of them hands it: its
/// order, its offset and its context, the context shared by every event
/// that has it. No typed text, no source, no session id and no three
/// strings of its own per event: what the daemon's readers of a day, a
/// week or a month (the day log, the page, summaries) read instead of
/// [`StoredEvent`]s.
#[derive(Clone, Debug)]
pub struct SharedEvent {
    /// Its position in the store's append order.
    pub seq: u64,
    /// Its attributed instant.
    pub attributed: Timestamp,
    /// The offset it was captured at.
    pub offset: UtcOffset,
    /// Its app, title and URL.
    pub context: std::sync::Arc<Context>,
}

impl EventView for SharedEvent {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn attributed(&self) -> Timestamp {
        self.attributed
    }
    fn offset(&self) -> UtcOffset {
        self.offset
    }
    fn app(&self) -> &str {
        &self.context.app
    }
    fn title(&self) -> Option<&str> {
        self.context.title.as_deref()
    }
    fn url(&self) -> Option<&str> {
        self.context.url.as_deref()
    }
}

/// How much an aggregation keeps of each session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Spans and totals: the day log and a session's own view list spans.
    Spans,
    /// Everything but the spans (every [`SessionAggregate::spans`] is
    /// left empty; every other field is what [`Detail::Spans`] gives):
    /// readers that show only times (the summary, the page's day and week)
    /// skip copying a context into each span.
    Totals,
}

/// What the user was looking at: the identity two events must share to
/// merge into one span.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Context {
    /// The focused app.
    pub app: String,
    /// The window title, if the client sent one.
    pub title: Option<String>,
    /// The page's URL, if the client sent one.
    pub url: Option<String>,
}

impl Context {
    /// The app name given to the time of a session that has no events.
    pub const UNKNOWN_APP: &'static str = "(no events)";

    /// The context of a session's time when none of its events is known.
    pub fn unknown() -> Self {
        Self {
            app: Self::UNKNOWN_APP.to_owned(),
            title: None,
            url: None,
        }
    }

    /// The web domain of its URL, if it has one (see [`domain`]).
    pub fn domain(&self) -> Option<String> {
        self.url.as_deref().and_then(domain)
    }
}

/// Consecutive time in one context inside one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Its start (inclusive).
    pub from: Timestamp,
    /// Its end (exclusive).
    pub to: Timestamp,
    /// The offset of its first event, for display.
    pub offset: UtcOffset,
    /// The context.
    pub context: Context,
    /// How many events it merges.
    pub events: u32,
}

impl Span {
    /// Its length in milliseconds.
    pub fn millis(&self) -> i64 {
        self.to.millis_since(self.from)
    }
}

/// Time spent in one thing (an app, a domain), in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    /// The app name or domain.
    pub name: String,
    /// Milliseconds.
    pub millis: i64,
}

/// Time spent in one window title of one app, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleTotal {
    /// The app.
    pub app: String,
    /// The title.
    pub title: String,
    /// Milliseconds.
    pub millis: i64,
}

/// Time per app, per window title and per web domain, each sorted by time
/// (longest first), ties by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Per app.
    pub apps: Vec<Total>,
    /// Per `(app, title)`; events without a title count only for their app.
    pub titles: Vec<TitleTotal>,
    /// Per web domain; events without a URL count only for their app.
    pub domains: Vec<Total>,
}

/// One session, clipped to the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAggregate {
    /// Its id.
    pub id: SessionId,
    /// Its counted start: its start, clipped to the range (and to the end
    /// of an overlapping earlier session).
    pub from: Timestamp,
    /// Its counted end: its end (its latest event while active), clipped.
    pub to: Timestamp,
    /// Its offset at its start, for display.
    pub offset: UtcOffset,
    /// Its whole start, unclipped.
    pub start: Timestamp,
    /// Its whole end, unclipped; for an active session its latest event.
    pub end: Timestamp,
    /// Why it ended; `None` while active.
    pub reason: Option<EndReason>,
    /// Active milliseconds in the range: `to - from`, the sum of its spans.
    pub active_millis: i64,
    /// Its events inside the range.
    pub events: u32,
    /// How many times the app changed between its spans.
    pub switches: u32,
    /// Merged spans in time order; they partition `[from, to)`.
    pub spans: Vec<Span>,
    /// Its time per app, title and domain.
    pub totals: Totals,
}

/// Why nobody was working between two sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// No events: the user was away or idle.
    Idle,
    /// Capture was paused (the session before ended by a pause).
    Paused,
}

/// Time between two consecutive sessions inside the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The earlier session's counted end.
    pub from: Timestamp,
    /// The later session's counted start.
    pub to: Timestamp,
    /// The offset of the earlier session, for display.
    pub offset: UtcOffset,
    /// Idle or paused.
    pub kind: GapKind,
}

impl Gap {
    /// Its length in milliseconds.
    pub fn millis(&self) -> i64 {
        self.to.millis_since(self.from)
    }
}

/// Sessions and their time over one range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The range's start (inclusive).
    pub from: Timestamp,
    /// The range's end (exclusive).
    pub to: Timestamp,
    /// Sessions that touch the range, in time order.
    pub sessions: Vec<SessionAggregate>,
    /// Gaps between consecutive sessions, in time order.
    pub gaps: Vec<Gap>,
    /// The sum of the sessions' active time.
    pub active_millis: i64,
    /// The sum of the idle gaps.
    pub idle_millis: i64,
    /// The sum of the paused gaps.
    pub paused_millis: i64,
    /// Time per app, title and domain over all sessions.
    pub totals: Totals,
}

impl Aggregate {
    /// The range's wall-clock length in milliseconds.
    pub fn wall_millis(&self) -> i64 {
        self.to.millis_since(self.from)
    }

    /// Events counted in the range.
    pub fn events(&self) -> u64 {
        self.sessions.iter().map(|s| u64::from(s.events)).sum()
    }
}

/// A local day and the instants that bound it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayBounds {
    /// The date.
    pub day: NaiveDate,
    /// Local midnight at its start, at `start_offset`.
    pub from: Timestamp,
    /// The next local midnight, at `end_offset`.
    pub to: Timestamp,
    /// The offset in force at its start.
    pub start_offset: UtcOffset,
    /// The offset in force at its end; differs from `start_offset` on a
    /// DST day.
    pub end_offset: UtcOffset,
}

impl DayBounds {
    /// The day from midnight at `start_offset` to the next midnight at
    /// `end_offset`.
    pub fn new(day: NaiveDate, start_offset: UtcOffset, end_offset: UtcOffset) -> Self {
        let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
        Self {
            day,
            from: local_midnight(day, start_offset),
            to: local_midnight(next, end_offset),
            start_offset,
            end_offset,
        }
    }

    /// The day's bounds read from its data: the offsets of the first and
    /// last events whose local date (at their own offset) is `day`, or of
    /// the sessions starting on it when no event is known; `fallback` when
    /// neither is.
    pub fn from_data<E: EventView>(day: NaiveDate, sessions: &[SessionInput<'_, E>], fallback: UtcOffset) -> Self {
        let mut first: Option<(Timestamp, UtcOffset)> = None;
        let mut last: Option<(Timestamp, UtcOffset)> = None;
        // The day's instants at one offset, cached: offsets change rarely,
        // and integer bounds cost less than a calendar date per event.
        let mut window: Option<(UtcOffset, Timestamp, Timestamp)> = None;
        let mut note = |at: Timestamp, offset: UtcOffset| {
            let (from, to) = match window {
                Some((o, from, to)) if o == offset => (from, to),
                _ => {
                    let b = Self::new(day, offset, offset);
                    window = Some((offset, b.from, b.to));
                    (b.from, b.to)
                }
            };
            if at < from || at >= to {
                return;
            }
            if first.is_none_or(|(t, o)| (at, offset) < (t, o)) {
                first = Some((at, offset));
            }
            if last.is_none_or(|(t, o)| (at, offset) > (t, o)) {
                last = Some((at, offset));
            }
        };
        for s in sessions {
            if s.events.is_empty() {
                note(s.session.start, s.session.offset);
            }
            for e in s.events {
                note(e.attributed(), e.offset());
            }
        }
        let start = first.map_or(fallback, |(_, o)| o);
        let end = last.map_or(start, |(_, o)| o);
        Self::new(day, start, end)
    }

    /// The offsets used, without repeats: one, or two on a DST day.
    pub fn offsets(&self) -> Vec<UtcOffset> {
        if self.start_offset == self.end_offset {
            vec![self.start_offset]
        } else {
            vec![self.start_offset, self.end_offset]
        }
    }

    /// The day's wall-clock length in milliseconds (23 or 25 hours on a
    /// DST day).
    pub fn wall_millis(&self) -> i64 {
        self.to.millis_since(self.from)
    }
}

/// The instant of local midnight starting `day` at `offset`.
pub fn local_midnight(day: NaiveDate, offset: UtcOffset) -> Timestamp {
    let utc_midnight = day.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    Timestamp(utc_midnight - i64::from(offset.0) * 1000)
}

/// The web domain of a URL: the host of `scheme://[user@]host[:port]/…`,
/// lowercased, without a leading `www.`. `None` for a URL with no host
/// (`file:///…`, `about:blank`) or no scheme.
pub fn domain(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        // An IPv6 literal keeps its colons.
        host_port
            .split_once(']')
            .map_or(host_port, |(h, _)| &host_port[..=h.len()])
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Aggregates one local day: [`DayBounds::from_data`], then [`aggregate`].
pub fn aggregate_day<E: EventView>(
    day: NaiveDate,
    sessions: &[SessionInput<'_, E>],
    fallback: UtcOffset,
) -> (DayBounds, Aggregate) {
    aggregate_day_with(day, sessions, fallback, Detail::Spans)
}

/// [`aggregate_day`], keeping `detail`.
pub fn aggregate_day_with<E: EventView>(
    day: NaiveDate,
    sessions: &[SessionInput<'_, E>],
    fallback: UtcOffset,
    detail: Detail,
) -> (DayBounds, Aggregate) {
    let bounds = DayBounds::from_data(day, sessions, fallback);
    (bounds, aggregate_with(bounds.from, bounds.to, sessions, detail))
}

/// Aggregates the sessions over `[from, to)`. Sessions that do not touch
/// the range are left out; a session of zero length at an instant inside
/// the range is kept (it was seen, for no measurable time).
pub fn aggregate<E: EventView>(from: Timestamp, to: Timestamp, sessions: &[SessionInput<'_, E>]) -> Aggregate {
    aggregate_with(from, to, sessions, Detail::Spans)
}

/// [`aggregate`], keeping `detail`.
///
/// Time is summed per distinct context first (a session repeats a few
/// dozen contexts over hundreds of spans), then per app, title and domain,
/// so a URL's domain is parsed once per context, not once per span; the
/// range's totals add up the sessions' per-context sums. Integer sums do
/// not depend on their order, so the totals are those of adding span by
/// span (a property test keeps that reference).
pub fn aggregate_with<E: EventView>(
    from: Timestamp,
    to: Timestamp,
    sessions: &[SessionInput<'_, E>],
    detail: Detail,
) -> Aggregate {
    let to = to.max(from);
    let counted = counted_parts(from, to, sessions);
    let mut out = Vec::with_capacity(counted.len());
    let mut contexts: ContextTimes<'_> = BTreeMap::new();
    for (input, whole, part) in counted {
        let (session, times) = session_aggregate(input, whole, part, (from, to), detail);
        for (context, millis) in times {
            *contexts.entry(context).or_default() += millis;
        }
        out.push(session);
    }
    let totals = totals(&contexts);
    Aggregate::of_sessions(from, to, out, totals)
}

/// A session that counts in a range: its input, its `[start, end]`, and
/// its counted part `[clip_from, clip_to)` (see [`counted_parts`]).
type Counted<'s, 'e, E> = (&'s SessionInput<'e, E>, (Timestamp, Timestamp), (Timestamp, Timestamp));

/// The sessions that touch `[from, to)` (`to >= from`), in order, each
/// with its `[start, end]` and its counted part `[clip_from, clip_to)`:
/// inside the range, and after every session before it (nothing counts
/// twice). A session of zero length at an instant inside the range
/// touches it.
fn counted_parts<'s, 'e, E: EventView>(
    from: Timestamp,
    to: Timestamp,
    sessions: &'s [SessionInput<'e, E>],
) -> Vec<Counted<'s, 'e, E>> {
    let mut ordered: Vec<(Timestamp, &SessionInput<'_, E>)> =
        sessions.iter().map(|s| (session_end(s.session, s.events), s)).collect();
    ordered.sort_by(|(end_a, a), (end_b, b)| {
        let (a, b) = (a.session, b.session);
        order_key(a.start, Some(*end_a), &a.id).cmp(&order_key(b.start, Some(*end_b), &b.id))
    });
    let mut out = Vec::with_capacity(ordered.len());
    // The end of the latest counted session: nothing before it counts again.
    let mut counted_until = from;
    for (end, input) in ordered {
        let start = input.session.start;
        let touches = if start == end {
            start >= from && start < to
        } else {
            start < to && end > from
        };
        if !touches {
            continue;
        }
        let clip_from = start.max(counted_until).max(from).min(to);
        let clip_to = end.min(to).max(clip_from);
        counted_until = counted_until.max(clip_to);
        out.push((input, (start, end), (clip_from, clip_to)));
    }
    out
}

impl Aggregate {
    /// The aggregate of `sessions` (aggregated, in order) over
    /// `[from, to)` with their `totals`: the gaps between consecutive
    /// sessions (paused after a session that ended by pause, else idle)
    /// and the sums.
    fn of_sessions(from: Timestamp, to: Timestamp, sessions: Vec<SessionAggregate>, totals: Totals) -> Self {
        let mut gaps = Vec::new();
        for pair in sessions.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if b.from > a.to {
                let kind = if a.reason == Some(EndReason::Paused) {
                    GapKind::Paused
                } else {
                    GapKind::Idle
                };
                gaps.push(Gap {
                    from: a.to,
                    to: b.from,
                    offset: a.offset,
                    kind,
                });
            }
        }
        let gap_sum = |kind| gaps.iter().filter(|g| g.kind == kind).map(Gap::millis).sum();
        Self {
            from,
            to,
            active_millis: sessions.iter().map(|s| s.active_millis).sum(),
            idle_millis: gap_sum(GapKind::Idle),
            paused_millis: gap_sum(GapKind::Paused),
            totals,
            sessions,
            gaps,
        }
    }
}

/// A session's end: its recorded end, or while active its latest event
/// (its start when none is known).
fn session_end<E: EventView>(session: &Session, events: &[E]) -> Timestamp {
    session.phase.end().unwrap_or_else(|| {
        events
            .iter()
            .map(EventView::attributed)
            .max()
            .unwrap_or(session.start)
            .max(session.start)
    })
}

/// A context as borrowed from the events: `(app, title, url)`.
type ContextKey<'e> = (&'e str, Option<&'e str>, Option<&'e str>);

/// Milliseconds per context, in the contexts' order.
type ContextTimes<'e> = BTreeMap<ContextKey<'e>, i64>;

/// Consecutive time in one context, its context borrowed from the events
/// until a [`Span`] is asked for.
struct Run<'e> {
    from: Timestamp,
    to: Timestamp,
    offset: UtcOffset,
    context: ContextKey<'e>,
    events: u32,
}

/// One session's spans and totals inside `[from, to)`, its counted part of
/// `[start, end]`, and its time per context.
fn session_aggregate<'e, E: EventView>(
    input: &SessionInput<'e, E>,
    (start, end): (Timestamp, Timestamp),
    (from, to): (Timestamp, Timestamp),
    range: (Timestamp, Timestamp),
    detail: Detail,
) -> (SessionAggregate, ContextTimes<'e>) {
    let session = input.session;
    let mut events: Vec<&'e E> = input.events.iter().collect();
    if !events.is_sorted_by_key(|e| (e.attributed(), e.seq())) {
        events.sort_by_key(|e| (e.attributed(), e.seq()));
    }
    let mut runs: Vec<Run<'e>> = Vec::new();
    let mut counted_events = 0u32;
    if events.is_empty() {
        if to > from {
            runs.push(Run {
                from,
                to,
                offset: session.offset,
                context: (Context::UNKNOWN_APP, None, None),
                events: 0,
            });
        }
    } else {
        for (i, e) in events.iter().enumerate() {
            // The context holds from the event (the first from the session's
            // start) until the next event, the last until the session's end.
            let at = e.attributed();
            let held_from = if i == 0 { start } else { at };
            let held_to = events.get(i + 1).map_or(end, |n| n.attributed()).min(end);
            let (a, b) = (held_from.max(from), held_to.min(to));
            if at >= range.0 && at < range.1 {
                counted_events += 1;
            }
            let context = (e.app(), e.title(), e.url());
            match runs.last_mut() {
                // An event of the run's own context extends it, or with
                // no time of its own (the session's last) is counted in it.
                Some(last) if last.to == a && last.context == context => {
                    last.to = b.max(a);
                    last.events += 1;
                }
                _ if b <= a => {}
                _ => runs.push(Run {
                    from: a,
                    to: b,
                    offset: e.offset(),
                    context,
                    events: 1,
                }),
            }
        }
        // Events of a context that got no time (the last before the end,
        // one outside the range) are counted above but merge into no run;
        // the runs alone partition the time.
    }
    let switches = runs.windows(2).filter(|w| w[0].context.0 != w[1].context.0).count();
    let mut times: ContextTimes<'e> = BTreeMap::new();
    for run in &runs {
        *times.entry(run.context).or_default() += run.to.millis_since(run.from);
    }
    let spans = match detail {
        Detail::Totals => Vec::new(),
        Detail::Spans => runs
            .iter()
            .map(|r| Span {
                from: r.from,
                to: r.to,
                offset: r.offset,
                context: Context {
                    app: r.context.0.to_owned(),
                    title: r.context.1.map(str::to_owned),
                    url: r.context.2.map(str::to_owned),
                },
                events: r.events,
            })
            .collect(),
    };
    let aggregate = SessionAggregate {
        id: session.id.clone(),
        from,
        to,
        offset: session.offset,
        start,
        end,
        reason: session.phase.reason(),
        active_millis: to.millis_since(from),
        events: counted_events,
        switches: u32::try_from(switches).unwrap_or(u32::MAX),
        spans,
        totals: totals(&times),
    };
    (aggregate, times)
}

/// Time per app, title and domain from time per context: a title counts
/// when it is not empty, a domain when the URL has one ([`domain`]).
fn totals(contexts: &ContextTimes<'_>) -> Totals {
    let mut apps: BTreeMap<&str, i64> = BTreeMap::new();
    let mut titles: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut domains: BTreeMap<String, i64> = BTreeMap::new();
    for (&(app, title, url), &millis) in contexts {
        *apps.entry(app).or_default() += millis;
        if let Some(title) = title.filter(|t| !t.is_empty()) {
            *titles.entry((app, title)).or_default() += millis;
        }
        if let Some(d) = url.and_then(domain) {
            *domains.entry(d).or_default() += millis;
        }
    }
    Totals {
        apps: ranked(apps),
        titles: ranked_titles(titles),
        domains: ranked(domains),
    }
}

/// Names and their times, longest first; equal times keep the map's name
/// order (a stable sort).
fn ranked<K: Into<String>>(m: BTreeMap<K, i64>) -> Vec<Total> {
    let mut v: Vec<Total> = m
        .into_iter()
        .map(|(name, millis)| Total {
            name: name.into(),
            millis,
        })
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.millis));
    v
}

/// [`ranked`] for `(app, title)` pairs.
fn ranked_titles(m: BTreeMap<(&str, &str), i64>) -> Vec<TitleTotal> {
    let mut v: Vec<TitleTotal> = m
        .into_iter()
        .map(|((app, title), millis)| TitleTotal {
            app: app.to_owned(),
            title: title.to_owned(),
            millis,
        })
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.millis));
    v
}

impl Totals {
    /// The totals of abutting ranges added up: for the same sessions
    /// aggregated over `[a, b)` and `[b, c)`, the totals [`aggregate`]
    /// gives for `[a, c)`. Every counted time is a positive run that the
    /// cut at `b` splits into its two parts (a part of no length is not
    /// counted at all), and sessions are clipped against each other the
    /// same way on both sides, so the sums are exact (a property test
    /// holds it). The week view adds up its seven days this way instead
    /// of aggregating the week's events a second time.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Self>) -> Self {
        let mut apps: BTreeMap<&str, i64> = BTreeMap::new();
        let mut titles: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut domains: BTreeMap<&str, i64> = BTreeMap::new();
        for part in parts {
            for t in &part.apps {
                *apps.entry(&t.name).or_default() += t.millis;
            }
            for t in &part.titles {
                *titles.entry((&t.app, &t.title)).or_default() += t.millis;
            }
            for t in &part.domains {
                *domains.entry(&t.name).or_default() += t.millis;
            }
        }
        Self {
            apps: ranked(apps),
            titles: ranked_titles(titles),
            domains: ranked(domains),
        }
    }
}

/// A duration as a person writes it: `45 s` under a minute, `32 min`,
/// `1 h 28 min`, `2 h`. Minutes are rounded to the nearest (half up).
pub fn human_duration(millis: i64) -> String {
    let millis = millis.max(0);
    if millis < 60_000 {
        return format!("{} s", (millis + 500) / 1000);
    }
    let minutes = (millis + 30_000) / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::session::Phase;
    use proptest::prelude::*;

    /// 2027-01-15T08:00:00Z.
    const T0: i64 = 1_800_000_000_000;
    const CET: UtcOffset = UtcOffset(3600);

    fn at(secs: i64) -> Timestamp {
        Timestamp(T0 + secs * 1000)
    }

    fn ended(id: &str, start: i64, end: i64, reason: EndReason) -> Session {
        Session {
            phase: Phase::Reduced { end: at(end), reason },
            ..Session::active(id.into(), at(start), CET)
        }
    }

    fn ev(seq: u64, id: &str, secs: i64, app: &str, title: Option<&str>, url: Option<&str>) -> StoredEvent {
        StoredEvent {
            seq,
            session_id: id.into(),
            attributed: at(secs),
            rev: 0,
            event: Event {
                offset: CET,
                title: title.map(Into::into),
                url: url.map(Into::into),
                ..Event::new(at(secs), app)
            },
        }
    }

    // The aggregation as it was before it summed time per context and
    // learnt to skip spans (issue 14's month, issue 16's week): every span
    // added to the totals one by one, its domain parsed each time. Kept as
    // the reference the fast version must equal. It shares what that
    // change left as it was: which sessions count, and over what part
    // (`counted_parts`), and the gaps and sums (`Aggregate::of_sessions`).

    /// The first version of [`aggregate`].
    fn aggregate_naive(from: Timestamp, to: Timestamp, sessions: &[SessionInput<'_>]) -> Aggregate {
        let to = to.max(from);
        let out: Vec<SessionAggregate> = counted_parts(from, to, sessions)
            .into_iter()
            .map(|(input, whole, part)| session_aggregate_naive(input, whole, part, (from, to)))
            .collect();
        let mut acc = TotalsAcc::default();
        for s in &out {
            for span in &s.spans {
                acc.add(&span.context, span.millis());
            }
        }
        let totals = acc.finish();
        Aggregate::of_sessions(from, to, out, totals)
    }

    /// The first version: one session's spans and totals inside `[from, to)`, its counted part of
    /// `[start, end]`.
    fn session_aggregate_naive(
        input: &SessionInput<'_>,
        (start, end): (Timestamp, Timestamp),
        (from, to): (Timestamp, Timestamp),
        range: (Timestamp, Timestamp),
    ) -> SessionAggregate {
        let session = input.session;
        let mut events: Vec<&StoredEvent> = input.events.iter().collect();
        if !events.is_sorted_by_key(|e| (e.attributed, e.seq)) {
            events.sort_by_key(|e| (e.attributed, e.seq));
        }
        let mut spans: Vec<Span> = Vec::new();
        let mut counted_events = 0u32;
        if events.is_empty() {
            if to > from {
                spans.push(Span {
                    from,
                    to,
                    offset: session.offset,
                    context: Context::unknown(),
                    events: 0,
                });
            }
        } else {
            for (i, e) in events.iter().enumerate() {
                // The context holds from the event (the first from the session's
                // start) until the next event, the last until the session's end.
                let held_from = if i == 0 { start } else { e.attributed };
                let held_to = events.get(i + 1).map_or(end, |n| n.attributed).min(end);
                let (a, b) = (held_from.max(from), held_to.min(to));
                if e.attributed >= range.0 && e.attributed < range.1 {
                    counted_events += 1;
                }
                let ev = &e.event;
                let continues = |last: &Span| {
                    last.to == a
                        && last.context.app == ev.app
                        && last.context.title == ev.title
                        && last.context.url == ev.url
                };
                match spans.last_mut() {
                    // An event of the span's own context extends it, or with
                    // no time of its own (the session's last) is counted in it.
                    Some(last) if continues(last) => {
                        last.to = b.max(a);
                        last.events += 1;
                    }
                    _ if b <= a => {}
                    _ => spans.push(Span {
                        from: a,
                        to: b,
                        offset: ev.offset,
                        context: Context {
                            app: ev.app.clone(),
                            title: ev.title.clone(),
                            url: ev.url.clone(),
                        },
                        events: 1,
                    }),
                }
            }
            // Events of a context that got no time (the last before the end,
            // one outside the range) are counted above but merge into no span;
            // the spans alone partition the time.
        }
        let switches = spans
            .windows(2)
            .filter(|w| w[0].context.app != w[1].context.app)
            .count();
        let mut acc = TotalsAcc::default();
        for span in &spans {
            acc.add(&span.context, span.millis());
        }
        let totals = acc.finish();
        SessionAggregate {
            id: session.id.clone(),
            from,
            to,
            offset: session.offset,
            start,
            end,
            reason: session.phase.reason(),
            active_millis: to.millis_since(from),
            events: counted_events,
            switches: u32::try_from(switches).unwrap_or(u32::MAX),
            spans,
            totals,
        }
    }

    /// Running totals keyed by name in `BTreeMap`s.
    #[derive(Default)]
    struct TotalsAcc<'a> {
        apps: BTreeMap<&'a str, i64>,
        titles: BTreeMap<(&'a str, &'a str), i64>,
        domains: BTreeMap<String, i64>,
    }

    impl<'a> TotalsAcc<'a> {
        fn add(&mut self, context: &'a Context, millis: i64) {
            *self.apps.entry(&context.app).or_default() += millis;
            if let Some(title) = context.title.as_deref().filter(|t| !t.is_empty()) {
                *self.titles.entry((&context.app, title)).or_default() += millis;
            }
            if let Some(d) = context.domain() {
                *self.domains.entry(d).or_default() += millis;
            }
        }

        fn finish(self) -> Totals {
            fn ranked<K: Into<String>>(m: BTreeMap<K, i64>) -> Vec<Total> {
                let mut v: Vec<Total> = m
                    .into_iter()
                    .map(|(name, millis)| Total {
                        name: name.into(),
                        millis,
                    })
                    .collect();
                // Stable sort: equal times keep the map's name order.
                v.sort_by_key(|t| std::cmp::Reverse(t.millis));
                v
            }
            let mut titles: Vec<TitleTotal> = self
                .titles
                .into_iter()
                .map(|((app, title), millis)| TitleTotal {
                    app: app.to_owned(),
                    title: title.to_owned(),
                    millis,
                })
                .collect();
            titles.sort_by_key(|t| std::cmp::Reverse(t.millis));
            Totals {
                apps: ranked(self.apps),
                titles,
                domains: ranked(self.domains),
            }
        }
    }

    #[test]
    fn contexts_hold_until_the_next_event_and_merge() {
        let s = ended("s", 0, 600, EndReason::IdleGap);
        let events = [
            ev(1, "s", 0, "Code", Some("main.rs"), None),
            ev(2, "s", 60, "Code", Some("main.rs"), None),
            ev(3, "s", 120, "Firefox", Some("tokio"), Some("https://www.Docs.rs/tokio")),
            ev(4, "s", 300, "Code", Some("engine.rs"), None),
            ev(5, "s", 600, "Code", Some("engine.rs"), None),
        ];
        let a = aggregate(
            at(-3600),
            at(3600),
            &[SessionInput {
                session: &s,
                events: &events,
            }],
        );
        let sa = &a.sessions[0];
        let spans: Vec<(i64, i64, &str, u32)> = sa
            .spans
            .iter()
            .map(|s| {
                (
                    (s.from.0 - T0) / 1000,
                    (s.to.0 - T0) / 1000,
                    s.context.title.as_deref().unwrap(),
                    s.events,
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                (0, 120, "main.rs", 2),
                (120, 300, "tokio", 1),
                (300, 600, "engine.rs", 2)
            ]
        );
        assert_eq!(sa.switches, 2);
        assert_eq!(sa.events, 5);
        assert_eq!(a.active_millis, 600_000);
        assert_eq!(
            a.totals.apps,
            [
                Total {
                    name: "Code".into(),
                    millis: 420_000
                },
                Total {
                    name: "Firefox".into(),
                    millis: 180_000
                }
            ]
        );
        assert_eq!(
            a.totals.domains,
            [Total {
                name: "docs.rs".into(),
                millis: 180_000
            }]
        );
        assert_eq!(a.totals.titles[0].title, "engine.rs");
    }

    #[test]
    fn gaps_are_idle_or_paused_and_clipping_holds_to_the_range() {
        let s1 = ended("a", 0, 600, EndReason::Paused);
        let s2 = ended("b", 1200, 1800, EndReason::IdleGap);
        let s3 = ended("c", 2400, 3000, EndReason::Shutdown);
        let e1 = [ev(1, "a", 0, "A", None, None)];
        let e2 = [ev(2, "b", 1200, "B", None, None)];
        let e3 = [ev(3, "c", 2400, "C", None, None)];
        let inputs = [
            SessionInput {
                session: &s3,
                events: &e3,
            },
            SessionInput {
                session: &s1,
                events: &e1,
            },
            SessionInput {
                session: &s2,
                events: &e2,
            },
        ];
        let a = aggregate(at(300), at(2700), &inputs);
        let ids: Vec<&str> = a.sessions.iter().map(|s| s.id.0.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(a.active_millis, (300 + 600 + 300) * 1000);
        assert_eq!(a.paused_millis, 600_000);
        assert_eq!(a.idle_millis, 600_000);
        assert_eq!(
            a.gaps.iter().map(|g| g.kind).collect::<Vec<_>>(),
            [GapKind::Paused, GapKind::Idle]
        );
    }

    #[test]
    fn a_session_without_events_counts_as_unknown() {
        let s = ended("i", 0, 120, EndReason::Recovered);
        let a = aggregate(
            at(0),
            at(3600),
            &[SessionInput::<StoredEvent> {
                session: &s,
                events: &[],
            }],
        );
        assert_eq!(a.totals.apps[0].name, Context::UNKNOWN_APP);
        assert_eq!(a.active_millis, 120_000);
    }

    #[test]
    fn an_active_session_counts_up_to_its_latest_event() {
        let s = Session::active("s".into(), at(0), CET);
        let events = [ev(1, "s", 0, "A", None, None), ev(2, "s", 90, "B", None, None)];
        let a = aggregate(
            at(0),
            at(3600),
            &[SessionInput {
                session: &s,
                events: &events,
            }],
        );
        assert_eq!(a.active_millis, 90_000);
        assert_eq!(a.sessions[0].reason, None);
        assert_eq!(a.sessions[0].events, 2);
    }

    #[test]
    fn day_bounds_on_dst_days_are_23_and_25_hours() {
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let b = DayBounds::new(spring, UtcOffset(3600), UtcOffset(7200));
        assert_eq!(b.wall_millis(), 23 * 3_600_000);
        assert_eq!(b.from.rfc3339(UtcOffset(3600)), "2026-03-29T00:00:00.000+01:00");
        assert_eq!(b.offsets().len(), 2);
        let autumn = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        let b = DayBounds::new(autumn, UtcOffset(7200), UtcOffset(3600));
        assert_eq!(b.wall_millis(), 25 * 3_600_000);
        assert_eq!(DayBounds::new(autumn, CET, CET).offsets(), [CET]);
    }

    #[test]
    fn day_bounds_read_offsets_from_the_days_events() {
        // 2026-03-29: 08:00+01:00 (07:00Z) and 20:00+02:00 (18:00Z).
        let day = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let morning = Timestamp(1_774_767_600_000);
        let evening = Timestamp(1_774_807_200_000);
        let mk = |seq, t: Timestamp, offset| StoredEvent {
            seq,
            session_id: "s".into(),
            attributed: t,
            rev: 0,
            event: Event {
                offset,
                ..Event::new(t, "A")
            },
        };
        let events = [mk(1, morning, UtcOffset(3600)), mk(2, evening, UtcOffset(7200))];
        let s = Session {
            phase: Phase::Reduced {
                end: evening,
                reason: EndReason::IdleGap,
            },
            ..Session::active("s".into(), morning, UtcOffset(3600))
        };
        let b = DayBounds::from_data(
            day,
            &[SessionInput {
                session: &s,
                events: &events,
            }],
            UtcOffset::UTC,
        );
        assert_eq!((b.start_offset, b.end_offset), (UtcOffset(3600), UtcOffset(7200)));
        assert_eq!(b.wall_millis(), 23 * 3_600_000);
    }

    #[test]
    fn domains_are_hosts() {
        assert_eq!(domain("https://www.Example.org/a?b").as_deref(), Some("example.org"));
        assert_eq!(domain("http://user:pw@host.test:8080/x").as_deref(), Some("host.test"));
        assert_eq!(domain("http://[::1]:3000/").as_deref(), Some("[::1]"));
        assert_eq!(domain("file:///etc/passwd"), None);
        assert_eq!(domain("about:blank"), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(44_400), "44 s");
        assert_eq!(human_duration(32 * 60_000 + 10_000), "32 min");
        assert_eq!(human_duration(88 * 60_000), "1 h 28 min");
        assert_eq!(human_duration(120 * 60_000 + 29_000), "2 h");
    }

    /// An event as a reader hands it: no text, its own shared context.
    fn lean(e: &StoredEvent) -> SharedEvent {
        SharedEvent {
            seq: e.seq,
            attributed: e.attributed,
            offset: e.event.offset,
            context: std::sync::Arc::new(Context {
                app: e.event.app.clone(),
                title: e.event.title.clone(),
                url: e.event.url.clone(),
            }),
        }
    }

    /// Sessions (possibly overlapping, some active, some without events)
    /// with events inside and outside them, over a few hours.
    fn arb_sessions() -> impl Strategy<Value = Vec<(Session, Vec<StoredEvent>)>> {
        let one = (
            0i64..20_000,
            0i64..3_000,
            prop::collection::vec((0i64..3_200, 0usize..3, 0usize..4, 0usize..4), 0..12),
            0u8..4,
        );
        prop::collection::vec(one, 0..8).prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (start, len, evs, reason))| {
                    let id = format!("s{i}");
                    let reason = [EndReason::IdleGap, EndReason::Paused, EndReason::Recovered][usize::from(reason % 3)];
                    let session = if reason == EndReason::Recovered && len % 7 == 0 {
                        Session::active(id.as_str().into(), at(start), CET)
                    } else {
                        ended(&id, start, start + len, reason)
                    };
                    let events = evs
                        .into_iter()
                        .enumerate()
                        .map(|(k, (off, app, title, url))| {
                            let app = ["A", "B", "C"][app];
                            let title = [None, Some("x"), Some("y"), Some("")][title];
                            let url = [
                                Some("https://d.test/"),
                                Some("https://www.D.test/b"),
                                Some("file:///x"),
                                None,
                            ][url];
                            ev(k as u64, &id, start + off.min(len), app, title, url)
                        })
                        .collect();
                    (session, events)
                })
                .collect()
        })
    }

    proptest! {
        /// Totals equal the sum of the sessions, the gaps and active time
        /// never exceed wall time, and each session's spans partition its
        /// counted time, in order and without overlap.
        #[test]
        fn totals_are_sums_and_fit_in_wall_time(
            sessions in arb_sessions(),
            from in -100i64..10_000,
            len in 0i64..30_000,
        ) {
            let inputs: Vec<SessionInput<'_>> = sessions
                .iter()
                .map(|(s, e)| SessionInput { session: s, events: e })
                .collect();
            let a = aggregate(at(from), at(from + len), &inputs);
            let sum: i64 = a.sessions.iter().map(|s| s.active_millis).sum();
            prop_assert_eq!(a.active_millis, sum);
            prop_assert!(a.active_millis + a.idle_millis + a.paused_millis <= a.wall_millis());
            let apps: i64 = a.totals.apps.iter().map(|t| t.millis).sum();
            prop_assert_eq!(apps, a.active_millis);
            let mut prev_end = a.from;
            for s in &a.sessions {
                prop_assert!(s.from >= prev_end && s.to <= a.to && s.from <= s.to);
                prev_end = s.to;
                let mut cursor = s.from;
                for span in &s.spans {
                    prop_assert_eq!(span.from, cursor);
                    prop_assert!(span.to > span.from);
                    cursor = span.to;
                }
                prop_assert_eq!(cursor, s.to);
                let spans: i64 = s.spans.iter().map(Span::millis).sum();
                prop_assert_eq!(spans, s.active_millis);
                for w in s.spans.windows(2) {
                    prop_assert!(w[0].context != w[1].context, "adjacent equal contexts merge");
                }
            }
            // The input order does not matter.
            let mut reversed = inputs.clone();
            reversed.reverse();
            prop_assert_eq!(aggregate(at(from), at(from + len), &reversed), a);
        }

        /// The aggregation equals its first version (span by span, a
        /// domain parsed per span) on any input; leaving the spans out
        /// changes nothing else; and a leaner event type that answers the
        /// same [`EventView`] gets the same answer, day bounds included.
        #[test]
        fn the_fast_aggregation_equals_the_first_version(
            sessions in arb_sessions(),
            from in -100i64..10_000,
            len in 0i64..30_000,
        ) {
            let inputs: Vec<SessionInput<'_>> = sessions
                .iter()
                .map(|(s, e)| SessionInput { session: s, events: e })
                .collect();
            let fast = aggregate(at(from), at(from + len), &inputs);
            prop_assert_eq!(&fast, &aggregate_naive(at(from), at(from + len), &inputs));
            let mut spanless = fast.clone();
            for s in &mut spanless.sessions {
                s.spans.clear();
            }
            prop_assert_eq!(&aggregate_with(at(from), at(from + len), &inputs, Detail::Totals), &spanless);

            let shared: Vec<Vec<SharedEvent>> = sessions.iter().map(|(_, e)| e.iter().map(lean).collect()).collect();
            let lean_inputs: Vec<SessionInput<'_, SharedEvent>> = sessions
                .iter()
                .zip(&shared)
                .map(|((s, _), e)| SessionInput { session: s, events: e })
                .collect();
            prop_assert_eq!(&aggregate_with(at(from), at(from + len), &lean_inputs, Detail::Totals), &spanless);
            prop_assert_eq!(&aggregate(at(from), at(from + len), &lean_inputs), &fast);
            let day = at(from).local_date(CET);
            prop_assert_eq!(
                aggregate_day_with(day, &lean_inputs, UtcOffset::UTC, Detail::Spans),
                aggregate_day(day, &inputs, UtcOffset::UTC)
            );
        }

        /// A day split into its hours sums to the whole day.
        #[test]
        fn ranges_add_up(sessions in arb_sessions(), cut in 0i64..25_000) {
            let inputs: Vec<SessionInput<'_>> = sessions
                .iter()
                .map(|(s, e)| SessionInput { session: s, events: e })
                .collect();
            let whole = aggregate(at(-100), at(25_000), &inputs);
            let left = aggregate(at(-100), at(cut), &inputs);
            let right = aggregate(at(cut), at(25_000), &inputs);
            prop_assert_eq!(left.active_millis + right.active_millis, whole.active_millis);
        }
    }

    proptest! {
        /// Cutting a range in two and adding the halves' totals gives the
        /// whole range's totals and active time ([`Totals::sum`], what the
        /// week view does with its days).
        #[test]
        fn the_totals_of_abutting_ranges_add_up(
            sessions in arb_sessions(),
            from in -100i64..10_000,
            len in 0i64..30_000,
            cut in 0i64..=30_000,
        ) {
            let inputs: Vec<SessionInput<'_>> = sessions
                .iter()
                .map(|(s, e)| SessionInput { session: s, events: e })
                .collect();
            let mid = from + cut.min(len);
            let whole = aggregate_with(at(from), at(from + len), &inputs, Detail::Totals);
            let left = aggregate_with(at(from), at(mid), &inputs, Detail::Totals);
            let right = aggregate_with(at(mid), at(from + len), &inputs, Detail::Totals);
            prop_assert_eq!(Totals::sum([&left.totals, &right.totals]), whole.totals.clone());
            prop_assert_eq!(left.active_millis + right.active_millis, whole.active_millis);
            prop_assert_eq!(Totals::sum([&whole.totals]), whole.totals);
        }
    }
}
