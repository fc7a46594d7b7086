//! What the page reads from the store and what it makes of it. Reads run
//! on a read-only connection beside the daemon ([`crate::recall::Reader`])
//! and only gather rows; everything derived (time per app, title and domain, gaps,
//! each session's main app) comes from `daybook_core::aggregate`, the one
//! aggregation every reader uses, so the page's totals are
//! `daybook summary`'s to the millisecond.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use daybook_core::aggregate::{self, Aggregate, Detail, GapKind, SessionAggregate, SessionInput};
use daybook_core::{Block, EndReason, Entry, Session, SessionId, StoredEvent, Timestamp, UtcOffset};

use crate::privacy::Privacy;
use crate::recall::{Contexts, ReadEvent};
use crate::store::SqliteStore;

/// How far around the asked range sessions are looked at for their
/// offsets (see [`RangeRead::load`]).
const WIDER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The rows of a range of local days: the sessions that overlap it (as
/// `/v1/sessions` lists them), their events, the entries of its days, and
/// the open session's latest event.
#[derive(Debug, Default)]
pub struct RangeRead {
    /// Sessions overlapping the range, by start.
    pub sessions: Vec<Session>,
    /// Their events, by session, each with its attributed time, offset
    /// and context (what the aggregation reads).
    pub events: BTreeMap<SessionId, Vec<ReadEvent>>,
    /// The entries of each day of the range (only when asked for).
    pub entries: Vec<Entry>,
    /// The open session: its id and its latest event.
    pub open: Option<(SessionId, Timestamp)>,
}

impl RangeRead {
    /// Reads `[from, to)`; with `entries_of`, also the entries of those
    /// local days. The open session is the `active` row: the daemon
    /// recovers every orphan before it serves, so only its own open
    /// session is still active.
    ///
    /// The aggregation takes a day's bounds from its data's offsets (as
    /// `daybook summary` does), which differ from the local zone's when
    /// the data was captured in another zone. So the range is widened by
    /// the largest difference between the offsets of the sessions around
    /// it and the zone's offsets at its ends (`zone`): nothing when they
    /// agree, as they do but for travel, so a day reads only its own
    /// events. Events the privacy rules now in force ignore are left out,
    /// their time going to the context before them, as in every reader.
    pub fn load(
        store: &SqliteStore,
        privacy: &Privacy,
        range: (Timestamp, Timestamp),
        zone: (UtcOffset, UtcOffset),
        entries_of: &[NaiveDate],
    ) -> Result<Self, daybook_core::Error> {
        Self::load_split(store, privacy, range, zone, entries_of, 1)
    }

    /// [`RangeRead::load`], the events read on `parts` connections at
    /// once, each on its own thread: the sessions (already read, in start
    /// order) are cut by start into `parts` runs of about as many
    /// sessions, and each run's events are read in one query on a
    /// read-only connection of its own ([`SqliteStore::open_read_only`]:
    /// WAL lets readers run side by side). Every session falls in exactly
    /// one run, so the events are those of one query; the read is the
    /// same as [`RangeRead::load`]'s, only sooner on a machine with cores
    /// to spare (the week view's 210,000 events). Like the single query,
    /// the runs are separate statements, not one snapshot: an event
    /// committed meanwhile may or may not be in the read, as before.
    /// `parts` of 1 (or a range of one session) reads on `store` alone.
    pub fn load_split(
        store: &SqliteStore,
        privacy: &Privacy,
        (from, to): (Timestamp, Timestamp),
        zone: (UtcOffset, UtcOffset),
        entries_of: &[NaiveDate],
        parts: usize,
    ) -> Result<Self, daybook_core::Error> {
        use daybook_core::Store as _;
        let around = store.sessions_between(from - WIDER, to + WIDER)?;
        let shift = around
            .iter()
            .map(|s| (s.offset.0 - zone.0.0).abs().max((s.offset.0 - zone.1.0).abs()))
            .max()
            .unwrap_or(0);
        let margin = std::time::Duration::from_secs(u64::from(shift.unsigned_abs()));
        let (from, to) = (from - margin, to + margin);
        let sessions: Vec<Session> = around
            .into_iter()
            .filter(|s| s.start < to && s.phase.end().is_none_or(|e| e >= from))
            .collect();
        let events = read_events_split(store, privacy, (from, to), &sessions, parts)?;
        let mut entries = Vec::new();
        for day in entries_of {
            entries.extend(store.entries_for_day(*day)?);
        }
        let open = sessions.iter().find(|s| s.phase.end().is_none()).map(|s| {
            let last = events
                .get(&s.id)
                .and_then(|e| e.iter().map(|e| e.attributed).max())
                .unwrap_or(s.start);
            (s.id.clone(), last)
        });
        Ok(Self {
            sessions,
            events,
            entries,
            open,
        })
    }

    fn inputs<'a>(&'a self, sessions: impl Iterator<Item = &'a Session>) -> Vec<SessionInput<'a, ReadEvent>> {
        sessions
            .map(|s| SessionInput {
                session: s,
                events: self.events.get(&s.id).map_or(&[], Vec::as_slice),
            })
            .collect()
    }
}

/// Session starts `[lo, hi)`: the run of sessions one query reads.
type Starts = (i64, i64);

/// Cuts `sessions` (in start order) by start into at most `parts` runs of
/// about as many sessions each; sessions that start at one instant stay
/// in one run, and no run is empty. The runs cover every start, the
/// first from the earliest possible, the last to the latest.
fn runs(sessions: &[Session], parts: usize) -> Vec<Starts> {
    let parts = parts.clamp(1, sessions.len().max(1));
    let mut cuts: Vec<i64> = (1..parts)
        .map(|i| sessions[i * sessions.len() / parts].start.0)
        .collect();
    cuts.dedup();
    let mut runs = Vec::with_capacity(cuts.len() + 1);
    let mut lo = i64::MIN;
    for cut in cuts {
        if cut > lo && cut > sessions[0].start.0 {
            runs.push((lo, cut));
            lo = cut;
        }
    }
    runs.push((lo, i64::MAX));
    runs
}

/// [`read_events`] of `[from, to)` in the runs [`runs`] makes, the first
/// on `store` in this thread and each other on a read-only connection of
/// its own in a thread of its own; the runs' sessions are disjoint, so
/// their maps add up to the one query's map.
fn read_events_split(
    store: &SqliteStore,
    privacy: &Privacy,
    range: (Timestamp, Timestamp),
    sessions: &[Session],
    parts: usize,
) -> Result<BTreeMap<SessionId, Vec<ReadEvent>>, daybook_core::Error> {
    let runs = runs(sessions, parts);
    let Some((first, rest)) = runs.split_first() else {
        return read_events(store, privacy, range, (i64::MIN, i64::MAX));
    };
    let path = store.path();
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter()
            .map(|&starts| {
                scope.spawn(move || {
                    let own =
                        SqliteStore::open_read_only(path).map_err(|e| daybook_core::Error::Storage(Box::new(e)))?;
                    read_events(&own, privacy, range, starts)
                })
            })
            .collect();
        let mut events = read_events(store, privacy, range, *first);
        for other in others {
            let part = other.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            if let Ok(all) = events.as_mut() {
                all.extend(part?);
            }
        }
        events
    })
}

/// The events of every session that overlaps `[from, to)` (the sessions
/// [`SqliteStore::sessions_between`] returns) and starts in `starts`, by
/// session, in attributed order, without the ones the rules in force
/// ignore. One query; each distinct context is copied out of SQLite and
/// checked once ([`Contexts`]), and the session id once per session, not
/// per event.
fn read_events(
    store: &SqliteStore,
    privacy: &Privacy,
    (from, to): (Timestamp, Timestamp),
    (lo, hi): Starts,
) -> Result<BTreeMap<SessionId, Vec<ReadEvent>>, daybook_core::Error> {
    let storage = |e: rusqlite::Error| daybook_core::Error::Storage(Box::new(e));
    let mut st = store
        .connection()
        .prepare_cached(
            "SELECT e.seq, e.attributed_ms, e.offset_s, e.app, e.title, e.url, e.session_id
               FROM sessions s JOIN events e ON e.session_id = s.id
              WHERE s.start_ms >= ?3 AND s.start_ms < ?4
                AND s.start_ms < ?2 AND (s.end_ms IS NULL OR s.end_ms >= ?1)",
        )
        .map_err(storage)?;
    let mut rows = st.query([from.0, to.0, lo, hi]).map_err(storage)?;
    let mut contexts = Contexts::new(privacy);
    let mut events: BTreeMap<SessionId, Vec<ReadEvent>> = BTreeMap::new();
    // A session's events come together (see below); one that came in two
    // runs would have its lists joined.
    let keep = |events: &mut BTreeMap<SessionId, Vec<ReadEvent>>, id: SessionId, list: Vec<ReadEvent>| match events
        .entry(id)
    {
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(list);
        }
        std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().extend(list),
    };
    let mut current: Option<(SessionId, Vec<ReadEvent>)> = None;
    while let Some(r) = rows.next().map_err(storage)? {
        // The session id is compared as bytes, and checked to be UTF-8
        // only when it changes.
        let id = match r.get_ref(6).map_err(storage)? {
            rusqlite::types::ValueRef::Text(b) => b,
            other => {
                let e = rusqlite::Error::InvalidColumnType(6, "session_id".into(), other.data_type());
                return Err(storage(e));
            }
        };
        if current.as_ref().is_none_or(|(c, _)| c.0.as_bytes() != id) {
            let id = std::str::from_utf8(id)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e)))
                .map_err(storage)?;
            // About as many events as the session before.
            let room = current.as_ref().map_or(0, |(_, list)| list.len());
            if let Some((c, list)) = current.take() {
                keep(&mut events, c, list);
            }
            current = Some((SessionId(id.to_owned()), Vec::with_capacity(room)));
        }
        if let Some(e) = contexts.read_row(r).map_err(storage)?
            && let Some((_, list)) = current.as_mut()
        {
            list.push(e);
        }
    }
    if let Some((c, list)) = current.take() {
        keep(&mut events, c, list);
    }
    // A session with every event ignored has no entry, as before. SQLite
    // reads each session's events through `events_by_session`, so they
    // come grouped and in order; an ORDER BY would make it sort them
    // again, so the order is checked here instead.
    events.retain(|_, list| !list.is_empty());
    for list in events.values_mut() {
        if !list.is_sorted_by_key(|e| (e.attributed, e.seq)) {
            list.sort_by_key(|e| (e.attributed, e.seq));
        }
    }
    Ok(events)
}

/// One session bar on a timeline.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    /// The session's id.
    pub id: String,
    /// Its start.
    pub start: Timestamp,
    /// Its end; for the open session, now (drawn live).
    pub end: Timestamp,
    /// Why it ended; `None` while open.
    pub reason: Option<EndReason>,
    /// Whether it is the open session.
    pub open: bool,
    /// The app with the most time in it.
    pub main_app: String,
    /// Its colour (from the main app), an index into [`PALETTE`]: the
    /// stylesheet's class `c{colour}`.
    pub colour: usize,
    /// Active milliseconds inside the day.
    pub active_millis: i64,
}

impl Bar {
    /// Whether startup recovery ended it (the daemon was killed).
    pub(crate) fn recovered(&self) -> bool {
        self.reason == Some(EndReason::Recovered)
    }
}

/// A gap between two sessions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GapView {
    /// Its start.
    pub from: Timestamp,
    /// Its end.
    pub to: Timestamp,
    /// Idle/away or paused.
    pub kind: GapKind,
}

/// One local day as the page draws it.
#[derive(Debug)]
pub(crate) struct DayModel {
    /// The date.
    pub day: NaiveDate,
    /// Local midnight at its start.
    pub from: Timestamp,
    /// The next local midnight (23 or 25 hours later on a DST day).
    pub to: Timestamp,
    /// The offsets in force (two on a DST day).
    pub offsets: Vec<UtcOffset>,
    /// Now, for the open session and the "now" line.
    pub now: Timestamp,
    /// One bar per session overlapping the day.
    pub bars: Vec<Bar>,
    /// Gaps between sessions.
    pub gaps: Vec<GapView>,
    /// The day's aggregate.
    pub aggregate: Aggregate,
    /// The day's log entries, by window start.
    pub entries: Vec<Entry>,
}

impl DayModel {
    /// `YYYY-MM-DD`.
    pub(crate) fn day_name(&self) -> String {
        daybook_core::daylog::day_name(self.day)
    }

    /// The day `day` of `read` (which must cover it). `fallback` is the
    /// local offset at the day's start, used when the day has no data.
    pub(crate) fn build(read: &RangeRead, day: NaiveDate, fallback: UtcOffset, now: Timestamp) -> Self {
        let probe = aggregate::DayBounds::new(day, fallback, fallback);
        // Sessions of this day (a week's read holds seven days).
        let sessions: Vec<&Session> = read
            .sessions
            .iter()
            .filter(|s| s.start < probe.to + DAY_MARGIN && s.phase.end().is_none_or(|e| e + DAY_MARGIN >= probe.from))
            .collect();
        let inputs = read.inputs(sessions.iter().copied());
        // The page lists no spans of a day: the aggregation skips them.
        let (bounds, agg) = aggregate::aggregate_day_with(day, &inputs, fallback, Detail::Totals);
        let by_id: BTreeMap<&SessionId, &SessionAggregate> = agg.sessions.iter().map(|s| (&s.id, s)).collect();
        let bars = sessions
            .iter()
            .filter(|s| s.start < bounds.to && s.phase.end().is_none_or(|e| e >= bounds.from))
            .map(|s| {
                let first_app = read
                    .events
                    .get(&s.id)
                    .and_then(|e| e.first())
                    .map(|e| e.context.app.as_str());
                bar(s, by_id.get(&s.id).copied(), first_app, read.open.as_ref(), now)
            })
            .collect();
        let gaps = agg
            .gaps
            .iter()
            .map(|g| GapView {
                from: g.from,
                to: g.to,
                kind: g.kind,
            })
            .collect();
        let mut entries: Vec<Entry> = read.entries.iter().filter(|e| e.day() == day).cloned().collect();
        entries.sort_by_key(|e| (e.from, e.id));
        Self {
            day,
            from: bounds.from,
            to: bounds.to,
            offsets: bounds.offsets(),
            now,
            bars,
            gaps,
            aggregate: agg,
            entries,
        }
    }
}

/// Slack around a day when picking its sessions out of a longer read:
/// the day's real bounds come from its data's offsets, which may differ
/// from the local zone's by up to a day's worth of offset.
const DAY_MARGIN: std::time::Duration = std::time::Duration::from_secs(26 * 3600);

/// A session's bar. Its main app is the app with the most time in it;
/// a session with no measurable time yet (one event, or an open session
/// that has not reached its second) takes its first event's app.
fn bar(
    s: &Session,
    agg: Option<&SessionAggregate>,
    first_app: Option<&str>,
    open: Option<&(SessionId, Timestamp)>,
    now: Timestamp,
) -> Bar {
    let is_open = s.phase.end().is_none() && open.is_some_and(|(id, _)| *id == s.id);
    let main_app = agg
        .and_then(|a| a.totals.apps.first())
        .filter(|t| t.millis > 0)
        .map(|t| t.name.as_str())
        .or(first_app)
        .unwrap_or(aggregate::Context::UNKNOWN_APP)
        .to_owned();
    let end = match s.phase.end() {
        Some(end) => end,
        // The open session is drawn up to now; an active row no daemon
        // owns any more (seen only before recovery) up to its latest event.
        None if is_open => now.max(open.map_or(s.start, |(_, last)| *last)),
        None => agg.map_or(s.start, |a| a.end),
    };
    Bar {
        id: s.id.0.clone(),
        start: s.start,
        end,
        reason: s.phase.reason(),
        open: is_open,
        colour: colour_index(&main_app),
        main_app,
        active_millis: agg.map_or(0, |a| a.active_millis),
    }
}

/// Colours for apps: dark enough for 3:1 contrast against the white page
/// (WCAG 1.4.11) and distinct from the grey of idle time. The stylesheet
/// repeats them as classes `c0`..`c11` (a unit test holds the two
/// together), so a bar or swatch names its colour in four bytes.
pub(crate) const PALETTE: [&str; 12] = [
    "#1f77b4", "#c62828", "#2e7d32", "#6a1b9a", "#8d5524", "#ad1457", "#00796b", "#b35900", "#3949ab", "#546e7a",
    "#7b6d00", "#00838f",
];

/// An app's colour as an index into [`PALETTE`]: the same on every day
/// and every page (FNV-1a of its name).
pub(crate) fn colour_index(app: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in app.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h as usize % PALETTE.len()
}

/// An app's colour (see [`colour_index`]).
pub(crate) fn colour(app: &str) -> &'static str {
    PALETTE[colour_index(app)]
}

/// One session in full, for its own view.
#[derive(Debug)]
pub(crate) struct SessionModel {
    /// The row.
    pub session: Session,
    /// Its aggregate over its whole length.
    pub aggregate: Option<SessionAggregate>,
    /// Every block, by start.
    pub blocks: Vec<Block>,
    /// Every entry, by window start.
    pub entries: Vec<Entry>,
    /// Whether it is the open session.
    pub open: bool,
}

/// What a session view reads.
#[derive(Debug)]
pub struct SessionRead {
    session: Session,
    events: Vec<StoredEvent>,
    blocks: Vec<Block>,
    entries: Vec<Entry>,
    open: Option<Timestamp>,
}

impl SessionRead {
    /// Reads session `id`; `None` when there is no such session.
    /// Events the privacy rules in force ignore are left out.
    pub fn load(store: &SqliteStore, privacy: &Privacy, id: &SessionId) -> Result<Option<Self>, daybook_core::Error> {
        use daybook_core::Store as _;
        let Some(session) = store.session(id)? else {
            return Ok(None);
        };
        let mut events = store.session_events(id)?;
        events.retain(|e| !privacy.ignores(&e.event));
        let open = session
            .phase
            .end()
            .is_none()
            .then(|| events.iter().map(|e| e.attributed).max().unwrap_or(session.start));
        Ok(Some(Self {
            events,
            blocks: store.session_blocks(id)?,
            entries: store.session_entries(id)?,
            open,
            session,
        }))
    }
}

impl SessionModel {
    pub(crate) fn build(read: SessionRead) -> Self {
        let input = SessionInput {
            session: &read.session,
            events: &read.events,
        };
        let end = read
            .session
            .phase
            .end()
            .or(read.open)
            .or_else(|| read.events.last().map(|e| e.attributed))
            .unwrap_or(read.session.start);
        let agg = aggregate::aggregate(
            read.session.start,
            Timestamp(end.0.max(read.session.start.0 + 1)),
            &[input],
        );
        Self {
            open: read.open.is_some(),
            aggregate: agg.sessions.into_iter().next(),
            session: read.session,
            blocks: read.blocks,
            entries: read.entries,
        }
    }
}

/// A week, as seven days and one aggregate over all of it.
#[derive(Debug)]
pub(crate) struct WeekModel {
    /// The ISO year and week.
    pub year: i32,
    /// The ISO week number.
    pub week: u32,
    /// Monday to Sunday.
    pub days: Vec<DayModel>,
    /// The week's time per app, title and domain.
    pub totals: aggregate::Totals,
    /// The week's active time.
    pub active_millis: i64,
}

impl WeekModel {
    /// The week of `days` (Monday first), each with its start offset.
    /// The days are built on up to `threads` threads at once, a run of
    /// consecutive days each (each day reads only `read`; the models are
    /// [`DayModel::build`]'s, in order, however many threads).
    pub(crate) fn build(
        read: &RangeRead,
        year: i32,
        week: u32,
        days: &[(NaiveDate, UtcOffset)],
        now: Timestamp,
        threads: usize,
    ) -> Self {
        let days = build_days(read, days, now, threads);
        let from = days.first().map_or(Timestamp(0), |d| d.from);
        let to = days.last().map_or(Timestamp(0), |d| d.to);
        // Days that abut add up to the week (`Totals::sum`); days whose
        // data-derived bounds leave a hole or overlap (an offset that
        // differs from the zone's) are aggregated again as one range.
        let abut = days.windows(2).all(|w| w[0].to == w[1].from);
        let (totals, active_millis) = if abut {
            (
                aggregate::Totals::sum(days.iter().map(|d| &d.aggregate.totals)),
                days.iter().map(|d| d.aggregate.active_millis).sum(),
            )
        } else {
            let inputs = read.inputs(read.sessions.iter());
            let agg = aggregate::aggregate_with(from, to, &inputs, Detail::Totals);
            (agg.totals, agg.active_millis)
        };
        Self {
            year,
            week,
            days,
            totals,
            active_millis,
        }
    }
}

/// The days `days` of `read`, in order, on up to `threads` threads.
fn build_days(read: &RangeRead, days: &[(NaiveDate, UtcOffset)], now: Timestamp, threads: usize) -> Vec<DayModel> {
    let build = |run: &[(NaiveDate, UtcOffset)]| -> Vec<DayModel> {
        run.iter().map(|(d, o)| DayModel::build(read, *d, *o, now)).collect()
    };
    let threads = threads.clamp(1, days.len().max(1));
    if threads == 1 {
        return build(days);
    }
    let mut runs = days.chunks(days.len().div_ceil(threads));
    let first = runs.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = runs.map(|run| scope.spawn(move || build(run))).collect();
        let mut out = build(first);
        for other in others {
            out.extend(other.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event's order, offset and context.
    type Flat = (u64, Timestamp, UtcOffset, String, Option<String>, Option<String>);

    /// A read's events, each as the plain fields a test compares.
    fn flat(read: &RangeRead) -> Vec<(SessionId, Vec<Flat>)> {
        read.events
            .iter()
            .map(|(id, e)| {
                let e = e
                    .iter()
                    .map(|e| {
                        let c = &e.context;
                        (
                            e.seq,
                            e.attributed,
                            e.offset,
                            c.app.clone(),
                            c.title.clone(),
                            c.url.clone(),
                        )
                    })
                    .collect();
                (id.clone(), e)
            })
            .collect()
    }

    /// The page reads, in one query, the events the summary reads one
    /// session at a time and the store's own `session_events` gives:
    /// the same events, in attributed order, none the rules ignore.
    #[test]
    fn a_ranges_events_are_each_sessions_stored_events_not_ignored() {
        use crate::recall::tests::{T, privacy, reference, seeded};
        let dir = tempfile::tempdir().unwrap();
        let store = seeded(dir.path());
        let privacy = privacy();
        let (from, to) = (Timestamp(T), Timestamp(T + 2 * 86_400_000));
        let zone = (UtcOffset(3600), UtcOffset(3600));
        let read = RangeRead::load(&store, &privacy, (from, to), zone, &[]).unwrap();
        let expected: Vec<(SessionId, Vec<Flat>)> = reference(&store, &privacy, from - WIDER, to + WIDER)
            .into_iter()
            .filter(|(s, e)| !e.is_empty() && read.sessions.iter().any(|r| r.id == s.id))
            .map(|(s, e)| {
                let e = e
                    .into_iter()
                    .map(|e| {
                        (
                            e.seq,
                            e.attributed,
                            e.event.offset,
                            e.event.app,
                            e.event.title,
                            e.event.url,
                        )
                    })
                    .collect();
                (s.id, e)
            })
            .collect();
        let got = flat(&read);
        assert!(expected.len() >= 5, "{expected:?}");
        let mut expected = expected;
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, expected);
        assert!(
            !read.events.contains_key(&SessionId("s4".into())),
            "every event of s4 is ignored"
        );
    }

    /// A week's totals, added up from its days, are those of aggregating
    /// the week's events as one range.
    #[test]
    fn a_weeks_totals_are_its_days_added_up() {
        use crate::recall::tests::{T, privacy, seeded};
        let dir = tempfile::tempdir().unwrap();
        let store = seeded(dir.path());
        let zone = UtcOffset(3600);
        let monday = Timestamp(T).local_date(zone).week(chrono::Weekday::Mon).first_day();
        let days: Vec<(NaiveDate, UtcOffset)> = (0..7).map(|i| (monday + chrono::Days::new(i), zone)).collect();
        let range = (Timestamp(T - 8 * 86_400_000), Timestamp(T + 8 * 86_400_000));
        let read = RangeRead::load(&store, &privacy(), range, (zone, zone), &[]).unwrap();
        let week = WeekModel::build(&read, 2026, 1, &days, Timestamp(T + 9 * 86_400_000), 1);
        assert!(week.days.windows(2).all(|w| w[0].to == w[1].from), "the days abut");
        let (from, to) = (week.days[0].from, week.days[6].to);
        let whole = aggregate::aggregate_with(from, to, &read.inputs(read.sessions.iter()), Detail::Totals);
        assert!(!whole.totals.apps.is_empty() && whole.active_millis > 0);
        assert_eq!(week.totals, whole.totals);
        assert_eq!(week.active_millis, whole.active_millis);
    }

    /// The week read in runs on several connections and built on several
    /// threads is the week read in one query and built on one: the same
    /// sessions, events and open session, the same days (a 23-hour DST
    /// day among them, ignored apps and titles left out, a session whose
    /// every event is ignored) and the same page, for every split.
    #[test]
    fn a_week_read_and_built_in_parts_is_the_week_read_whole() {
        use crate::recall::tests::{T, privacy, seeded};
        const H: i64 = 3_600_000;
        let dir = tempfile::tempdir().unwrap();
        let store = seeded(dir.path());
        let privacy = privacy();
        let zone = UtcOffset(3600);
        let monday = Timestamp(T).local_date(zone).week(chrono::Weekday::Mon).first_day();
        let days: Vec<(NaiveDate, UtcOffset)> = (0..7).map(|i| (monday + chrono::Days::new(i), zone)).collect();
        let now = Timestamp(T + 9 * 24 * H);
        let offset_at = |_| zone;
        let ranges = [
            (T - 8 * 24 * H, T + 8 * 24 * H),
            (T + 5 * H, T + 30 * H),
            (T + 24 * H + 600_000, T + 24 * H + 600_001),
        ];
        for (from, to) in ranges {
            let range = (Timestamp(from), Timestamp(to));
            let whole = RangeRead::load(&store, &privacy, range, (zone, zone), &[]).unwrap();
            assert!(!whole.sessions.is_empty());
            let one = WeekModel::build(&whole, 2026, 13, &days, now, 1);
            let page = super::super::render::week(&one, &offset_at);
            for parts in [2, 3, 5, 12, 40] {
                let split = RangeRead::load_split(&store, &privacy, range, (zone, zone), &[], parts).unwrap();
                assert_eq!(split.sessions, whole.sessions, "{parts} parts");
                assert_eq!(flat(&split), flat(&whole), "{parts} parts");
                assert_eq!(split.open, whole.open, "{parts} parts");
                for threads in [2, 3, 7, 9] {
                    let week = WeekModel::build(&split, 2026, 13, &days, now, threads);
                    assert_eq!(
                        format!("{week:?}"),
                        format!("{one:?}"),
                        "{parts} parts, {threads} threads"
                    );
                    assert_eq!(super::super::render::week(&week, &offset_at), page);
                }
            }
        }
        // What the comparison above compared: the whole week's read.
        let range = (Timestamp(ranges[0].0), Timestamp(ranges[0].1));
        let whole = RangeRead::load(&store, &privacy, range, (zone, zone), &[]).unwrap();
        let week = WeekModel::build(&whole, 2026, 13, &days, now, 1);
        let sunday = &week.days[6];
        assert_eq!(sunday.day, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        assert_eq!(sunday.to.millis_since(sunday.from), 23 * H, "the DST day is 23 hours");
        assert!(week.days[5].bars.len() >= 5 && sunday.bars.len() >= 5);
        assert!(whole.open.is_some(), "the active session");
        assert!(week.active_millis > 0);
        assert!(
            week.totals.apps.iter().all(|t| t.name != "Secret"),
            "ignored apps stay out"
        );
        assert!(week.totals.titles.iter().all(|t| !t.title.contains("bank")));
        assert!(whole.sessions.iter().any(|s| s.id.0 == "s4") && !whole.events.contains_key(&SessionId("s4".into())));
    }

    #[test]
    fn runs_cover_every_start_once() {
        let sessions: Vec<Session> = [5, 5, 5, 7, 9, 9, 12]
            .iter()
            .enumerate()
            .map(|(i, &start)| Session::active(SessionId(format!("s{i}")), Timestamp(start), UtcOffset(0)))
            .collect();
        for parts in 1..10 {
            let runs = runs(&sessions, parts);
            assert!(!runs.is_empty() && runs.len() <= parts.min(sessions.len()));
            assert_eq!(runs[0].0, i64::MIN);
            assert_eq!(runs[runs.len() - 1].1, i64::MAX);
            assert!(runs.windows(2).all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1), "{runs:?}");
            for (lo, hi) in &runs {
                assert!(sessions.iter().any(|s| (*lo..*hi).contains(&s.start.0)), "{runs:?}");
            }
        }
        assert_eq!(runs(&sessions, 3), vec![(i64::MIN, 9), (9, i64::MAX)]);
        assert_eq!(runs(&sessions, 7).len(), 4, "one run per distinct start");
        assert_eq!(runs(&[], 4), vec![(i64::MIN, i64::MAX)]);
    }

    #[test]
    fn an_apps_colour_is_stable_and_from_the_palette() {
        assert_eq!(colour("Code"), colour("Code"));
        assert!(PALETTE.contains(&colour("Firefox")));
        let distinct: std::collections::BTreeSet<&str> = ["Code", "Firefox", "Slack", "Terminal", "Zoom", "Mail"]
            .iter()
            .map(|a| colour(a))
            .collect();
        assert!(distinct.len() >= 4, "apps spread over the palette: {distinct:?}");
    }

    #[test]
    fn the_stylesheet_has_one_class_per_palette_colour_in_order() {
        let css = include_str!("assets/page.css");
        for (i, c) in PALETTE.iter().enumerate() {
            let rule = format!(".c{i} {{ fill: {c}; background: {c}; }}");
            assert!(css.contains(&rule), "missing {rule}");
        }
        let n = PALETTE.len();
        assert!(!css.contains(&format!(".c{n} ")), "a class past the palette");
    }
}
