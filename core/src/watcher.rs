//! ActivityWatch's watchers, translated into daybook's model (SPEC §11).
//!
//! ActivityWatch keeps *buckets* of *events* (`timestamp`, `duration`,
//! free-form JSON `data`); watchers send *heartbeats* that the server
//! merges into the bucket's last event. This module is the whole of that
//! model that needs deciding, as pure functions and one state machine, so
//! the daemon and the simulator run the same rules:
//!
//! - [`merge`]: aw-server's heartbeat rule, exactly: equal `data` (JSON
//!   equality), and the heartbeat's timestamp in `[last.start, last.end +
//!   pulsetime]`; the merged event keeps the earlier start and ends at the
//!   later end.
//! - [`BucketKind`] and [`Bucket::activity`]: window (`currentwindow`) and
//!   browser-tab (`web.tab.current`) data become daybook [`Event`]s with
//!   `source` = the bucket id; a tab's `app` is the browser, named from the
//!   bucket id (`aw-watcher-web-chrome_…` → `Chrome`).
//! - [`Watchers`]: per bucket, the last event (for merging) and the
//!   *thinning mark*, the instant of the last daybook event derived from
//!   it; per host, the AFK watcher's `afk` periods.
//!
//! **Thinning.** A steady heartbeat stream (one a second) is not one daybook
//! event per heartbeat. A bucket yields a daybook event when its data
//! changes (a new AW event) and then at most one per [`THIN_MS`] while the
//! same data keeps being merged; when its heartbeats stop, the shell's timer
//! calls [`Watchers::poll_tails`], which derives one last event at the last
//! heartbeat once [`TAIL_QUIET_MS`] passed without one. A window held for
//! an hour so adds about 31 rows, and the session's last event lies at the
//! last heartbeat, not [`THIN_MS`] before it.
//!
//! **Presence.** The AFK watcher's `afk` periods are idle time: no daybook
//! event is derived at an instant a known `afk` period covers, so activity
//! heartbeats that keep arriving while the user is away never extend or
//! start a session. The host's latest `afk` period, while no `not-afk`
//! follows it, covers up to [`AFK_HOLD_MS`] past its reported end (the AFK
//! watcher extends it every few seconds). The AFK watcher reports a period
//! about three minutes after it began; what was derived in those minutes
//! stays (a session may keep that late-report interval, no more). A host
//! with no AFK bucket has no presence information: every heartbeat counts
//! as activity. Hosts are matched by the buckets' `hostname`.
//!
//! **Late heartbeats.** Derived events carry their real instant (`at` =
//! the heartbeat's time); how an event far behind the watermark is
//! attributed is the engine's business (SPEC §2).
//!
//! What it never does: read a clock, store anything, or screen privacy
//! (the shell screens the heartbeat's data before it gets here, so a
//! filtered window's raw event is never stored either).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Error;
use crate::event::{Event, MAX_APP_BYTES, MAX_SOURCE_BYTES, MAX_TITLE_BYTES, MAX_URL_BYTES};
use crate::time::{Timestamp, UtcOffset};

/// UTC nanoseconds since the Unix epoch: ActivityWatch's own resolution
/// (aw-server-rust stores nanoseconds), so events read back as they came.
pub type Nanos = i64;

/// Nanoseconds in a millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;

/// While one bucket keeps merging the same data, at most one daybook event
/// per this many milliseconds is derived from it.
pub const THIN_MS: i64 = 120_000;

/// A bucket whose heartbeats stopped this long ago gets its tail derived
/// (see [`Watchers::poll_tails`]).
pub const TAIL_QUIET_MS: i64 = 30_000;

/// A tail older than this is not derived any more: it belongs to a session
/// long ended (a daemon that was down), not to the one that is open.
pub const TAIL_MAX_AGE_MS: i64 = 10 * 60_000;

/// How far past its reported end the host's latest `afk` period covers
/// activity while no `not-afk` has followed it. The AFK watcher extends the
/// period every few seconds (every 10 s through aw-client's queue), so
/// this outlasts its reports; a stopped AFK watcher costs at most this.
pub const AFK_HOLD_MS: i64 = 60_000;

/// One ActivityWatch event: `[start, end]` and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct AwEvent {
    /// Its id within the database, once it has one.
    pub id: Option<u64>,
    /// `timestamp`.
    pub start: Nanos,
    /// `timestamp + duration`.
    pub end: Nanos,
    /// `data`, compared by JSON equality. Maps are ordered by key (serde_json
    /// without `preserve_order`), so two equal values also serialize alike.
    pub data: Value,
}

impl AwEvent {
    /// `end - start`, in nanoseconds.
    pub fn duration(&self) -> Nanos {
        self.end - self.start
    }
}

/// aw-server's heartbeat merge: `Some(merged)` when `hb` merges into `last`
/// (equal data, and `last.start <= hb.start <= last.end + pulsetime`), with
/// `last`'s id and start and the later of the two ends; `None` when it is a
/// new event.
pub fn merge(last: &AwEvent, hb: &AwEvent, pulsetime: Nanos) -> Option<AwEvent> {
    if last.data != hb.data || hb.start < last.start || hb.start > last.end.saturating_add(pulsetime) {
        return None;
    }
    Some(AwEvent {
        id: last.id,
        start: last.start,
        end: last.end.max(hb.end),
        data: last.data.clone(),
    })
}

/// What a bucket's events are, by its `type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketKind {
    /// `currentwindow` (aw-watcher-window): `{app, title}`.
    Window,
    /// `web.tab.current` (aw-watcher-web): `{url, title, audible, incognito,
    /// tabCount}`; the app is the browser.
    Web {
        /// The browser's name, from the bucket id.
        browser: String,
    },
    /// `afkstatus` (aw-watcher-afk): `{status: "afk" | "not-afk"}`.
    Afk,
    /// Anything else (editor and terminal plugins): stored and read back,
    /// but no daybook event is derived from it.
    Other,
}

impl BucketKind {
    /// The kind of bucket `id` of type `type_`.
    pub fn of(id: &str, type_: &str) -> Self {
        match type_ {
            "currentwindow" => Self::Window,
            "web.tab.current" => Self::Web {
                browser: browser_name(id),
            },
            "afkstatus" => Self::Afk,
            _ => Self::Other,
        }
    }
}

/// The browser a web-watcher bucket id names: `aw-watcher-web-chrome_host`
/// → `Chrome`, `aw-watcher-web-firefox` → `Firefox`; an unknown name keeps
/// its own spelling with a capital, and none at all gives `Browser`.
pub fn browser_name(bucket_id: &str) -> String {
    let rest = bucket_id.strip_prefix("aw-watcher-web-").unwrap_or("");
    let name = rest.split('_').next().unwrap_or("");
    let known = [
        ("chrome", "Chrome"),
        ("chromium", "Chromium"),
        ("firefox", "Firefox"),
        ("edge", "Edge"),
        ("brave", "Brave"),
        ("opera", "Opera"),
        ("vivaldi", "Vivaldi"),
        ("safari", "Safari"),
        ("arc", "Arc"),
    ];
    let lower = name.to_ascii_lowercase();
    if let Some((_, pretty)) = known.iter().find(|(k, _)| *k == lower) {
        return (*pretty).to_owned();
    }
    let mut chars = name.chars().filter(|c| c.is_alphanumeric() || *c == '-');
    match chars.next() {
        None => "Browser".to_owned(),
        Some(first) => first.to_uppercase().chain(chars).take(64).collect(),
    }
}

/// A bucket as the translation needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Its id (`aw-watcher-window_myhost`); the derived events' `source`.
    pub id: String,
    /// What its events are.
    pub kind: BucketKind,
    /// The host it was created for; matches activity to presence.
    pub hostname: String,
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn text(data: &Value, key: &str, max: usize) -> Option<String> {
    data.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(|s| clip(s, max))
}

impl Bucket {
    /// A bucket of `type_`.
    pub fn new(id: impl Into<String>, type_: &str, hostname: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            kind: BucketKind::of(&id, type_),
            id,
            hostname: hostname.into(),
        }
    }

    /// Whether daybook events are derived from this bucket's data.
    pub fn is_activity(&self) -> bool {
        matches!(self.kind, BucketKind::Window | BucketKind::Web { .. })
    }

    /// The daybook event that `data` means at `at`, for a window or a
    /// browser-tab bucket; `None` for other kinds, and for window data
    /// without an app. Fields longer than daybook keeps are cut (on a
    /// character boundary): the raw event keeps them whole.
    pub fn activity(&self, data: &Value, at: Timestamp, offset: UtcOffset) -> Option<Event> {
        let (app, title, url) = match &self.kind {
            BucketKind::Window => (
                text(data, "app", MAX_APP_BYTES)?,
                text(data, "title", MAX_TITLE_BYTES),
                None,
            ),
            BucketKind::Web { browser } => (
                browser.clone(),
                text(data, "title", MAX_TITLE_BYTES),
                text(data, "url", MAX_URL_BYTES),
            ),
            BucketKind::Afk | BucketKind::Other => return None,
        };
        Some(Event {
            at,
            offset,
            app,
            title,
            url,
            text: None,
            source: Some(clip(&self.id, MAX_SOURCE_BYTES)),
        })
    }

    /// `data` with the fields [`Self::activity`] reads replaced by
    /// `screened`'s (the privacy filters' redactions), so the raw event
    /// keeps no text the daybook event was not allowed to keep. Other keys
    /// stay as they are.
    pub fn redacted(&self, data: &Value, screened: &Event) -> Value {
        let mut data = data.clone();
        let Value::Object(map) = &mut data else { return data };
        let mut put = |key: &str, value: &Option<String>| {
            if let (Some(v), Some(Value::String(old))) = (value, map.get_mut(key))
                && old != v
            {
                *old = v.clone();
            }
        };
        match &self.kind {
            BucketKind::Window => {
                put("app", &Some(screened.app.clone()));
                put("title", &screened.title);
            }
            BucketKind::Web { .. } => {
                put("title", &screened.title);
                put("url", &screened.url);
            }
            BucketKind::Afk | BucketKind::Other => {}
        }
        data
    }
}

/// The status an `afkstatus` event reports: `Some(true)` for `afk`,
/// `Some(false)` for `not-afk`.
pub fn afk_status(data: &Value) -> Option<bool> {
    match data.get("status").and_then(Value::as_str) {
        Some("afk") => Some(true),
        Some("not-afk") => Some(false),
        _ => None,
    }
}

fn millis_of(ns: Nanos) -> Timestamp {
    Timestamp(ns.div_euclid(NANOS_PER_MILLI))
}

/// One host's presence, from its AFK buckets.
#[derive(Clone, Debug, Default, PartialEq)]
struct Presence {
    /// Disjoint `afk` periods, `start → end`, in nanoseconds.
    away: BTreeMap<Nanos, Nanos>,
    /// The host's latest presence event (by start): its start, end and
    /// whether it said `afk`.
    latest: Option<(Nanos, Nanos, bool)>,
}

impl Presence {
    fn observe(&mut self, event: &AwEvent) {
        let Some(afk) = afk_status(&event.data) else { return };
        if afk {
            self.add_away(event.start, event.end);
        }
        if self.latest.is_none_or(|(start, _, _)| event.start >= start) {
            self.latest = Some((event.start, event.end, afk));
        }
    }

    /// Adds `[start, end]` to the union of `afk` periods.
    fn add_away(&mut self, mut start: Nanos, mut end: Nanos) {
        if let Some((&s, &e)) = self.away.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
        }
        let overlapping: Vec<Nanos> = self.away.range(start..=end).map(|(&s, _)| s).collect();
        for s in overlapping {
            if let Some(e) = self.away.remove(&s) {
                end = end.max(e);
            }
        }
        self.away.insert(start, end);
    }

    fn covers(&self, t: Nanos) -> bool {
        let closed = self.away.range(..=t).next_back().is_some_and(|(_, &e)| e >= t);
        let open = self.latest.is_some_and(|(start, end, afk)| {
            afk && start <= t && t <= end.saturating_add(AFK_HOLD_MS * NANOS_PER_MILLI)
        });
        closed || open
    }
}

/// One bucket's state: what merging and thinning need.
#[derive(Clone, Debug, PartialEq)]
struct Track {
    bucket: Bucket,
    /// The bucket's last event (by start): heartbeats merge into it.
    last: Option<AwEvent>,
    /// The instant of the last daybook event derived from the bucket.
    emitted: Option<Timestamp>,
}

/// What a write to the ActivityWatch tables is.
#[derive(Clone, Debug, PartialEq)]
pub enum AwWrite {
    /// A new event (it has its id).
    Insert {
        /// The bucket.
        bucket: String,
        /// The event.
        event: AwEvent,
    },
    /// An event's new end (a heartbeat merged into it).
    Extend {
        /// The event's id.
        id: u64,
        /// Its new end.
        end: Nanos,
    },
    /// A bucket's new thinning mark.
    Emitted {
        /// The bucket.
        bucket: String,
        /// The instant of the last daybook event derived from it.
        at: Timestamp,
    },
}

/// What one heartbeat did.
#[derive(Clone, Debug, PartialEq)]
pub struct Beat {
    /// The bucket's event after the heartbeat (merged or new), with its id:
    /// the answer to the watcher.
    pub event: AwEvent,
    /// Whether it merged into the bucket's last event.
    pub merged: bool,
    /// The writes to commit, in order.
    pub writes: Vec<AwWrite>,
    /// The daybook events derived, to commit in the same transaction.
    pub derived: Vec<Event>,
    /// Whether a derived event was withheld because an `afk` period
    /// covers its instant (for the simulator's coverage marks).
    pub away: bool,
}

/// What [`Watchers::handle_events`] did with a batch of whole events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inserted {
    /// The events with their ids, in the order given.
    pub events: Vec<AwEvent>,
    /// The writes to commit, in order.
    pub writes: Vec<AwWrite>,
    /// The daybook events derived.
    pub derived: Vec<Event>,
}

/// The state machine between ActivityWatch buckets and daybook events. The
/// shell keeps one, fills it from storage at start ([`Self::restore`]),
/// feeds it each write, commits the [`AwWrite`]s and derived events of a
/// write in one transaction, and, if that commit fails, goes back to a
/// clone taken before it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watchers {
    tracks: BTreeMap<String, Track>,
    presence: BTreeMap<String, Presence>,
    next_id: u64,
}

impl Watchers {
    /// An empty state whose next event id is `next_id` (one past the
    /// largest stored).
    pub fn new(next_id: u64) -> Self {
        Self {
            next_id: next_id.max(1),
            ..Self::default()
        }
    }

    /// Adds a bucket (a create, or a restore from storage) with its last
    /// event and thinning mark. Replaces what was known of it.
    pub fn restore(&mut self, bucket: Bucket, last: Option<AwEvent>, emitted: Option<Timestamp>) {
        if let Some(id) = last.as_ref().and_then(|e| e.id) {
            self.next_id = self.next_id.max(id + 1);
        }
        if bucket.kind == BucketKind::Afk
            && let Some(last) = &last
        {
            self.presence.entry(bucket.hostname.clone()).or_default().observe(last);
        }
        self.tracks.insert(bucket.id.clone(), Track { bucket, last, emitted });
    }

    /// Adds stored `afk`-bucket events of `hostname` to its presence (a
    /// restore from storage: every period that can still matter).
    pub fn restore_presence(&mut self, hostname: &str, events: &[AwEvent]) {
        let presence = self.presence.entry(hostname.to_owned()).or_default();
        for e in events {
            presence.observe(e);
        }
    }

    /// The bucket `id`, if known.
    pub fn bucket(&self, id: &str) -> Option<&Bucket> {
        self.tracks.get(id).map(|t| &t.bucket)
    }

    /// Whether an `afk` period known for `hostname` covers `at`.
    pub fn is_away(&self, hostname: &str, at: Nanos) -> bool {
        self.presence.get(hostname).is_some_and(|p| p.covers(at))
    }

    /// The id the next new event gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Applies one heartbeat to bucket `bucket` (its data already screened
    /// by the privacy filters): merges it (see [`merge`]) or starts a new
    /// event, and derives what thinning and presence allow. `offset` is the
    /// local offset for the derived events.
    pub fn handle_heartbeat(
        &mut self,
        bucket: &str,
        hb: AwEvent,
        pulsetime: Nanos,
        offset: UtcOffset,
    ) -> Result<Beat, Error> {
        if !self.tracks.contains_key(bucket) {
            return Err(Error::UnknownBucket(bucket.to_owned()));
        }
        let merged = self.tracks[bucket].last.as_ref().and_then(|l| merge(l, &hb, pulsetime));
        let is_merge = merged.is_some();
        let (event, mut writes) = match merged {
            Some(m) => {
                let id = m.id.expect("a stored event has an id");
                (m.clone(), vec![AwWrite::Extend { id, end: m.end }])
            }
            None => {
                let event = AwEvent {
                    id: Some(self.take_id()),
                    ..hb.clone()
                };
                (
                    event.clone(),
                    vec![AwWrite::Insert {
                        bucket: bucket.to_owned(),
                        event,
                    }],
                )
            }
        };
        let track = self.tracks.get_mut(bucket).expect("checked above");
        track.last = Some(event.clone());
        let b = track.bucket.clone();
        let mut derived = Vec::new();
        let mut away = false;
        match &b.kind {
            BucketKind::Afk => {
                self.presence.entry(b.hostname.clone()).or_default().observe(&event);
            }
            BucketKind::Window | BucketKind::Web { .. } => {
                // A new event is a new context: derived at its start. A merge
                // is derived at the heartbeat's end, thinned.
                let at = if is_merge { hb.end } else { hb.start };
                let due = !is_merge || track.emitted.is_none_or(|e| millis_of(at).millis_since(e) >= THIN_MS);
                if due {
                    if self.is_away(&b.hostname, at) {
                        away = true;
                    } else if let Some(e) = b.activity(&event.data, millis_of(at), offset) {
                        let track = self.tracks.get_mut(bucket).expect("checked above");
                        track.emitted = Some(e.at);
                        writes.push(AwWrite::Emitted {
                            bucket: bucket.to_owned(),
                            at: e.at,
                        });
                        derived.push(e);
                    }
                }
            }
            BucketKind::Other => {}
        }
        Ok(Beat {
            event,
            merged: is_merge,
            writes,
            derived,
            away,
        })
    }

    /// Stores whole events (`POST /buckets/<id>/events`, or an importer):
    /// each a new event with a new id, none merged. Presence learns from an
    /// AFK bucket's events; an activity bucket's events are translated in
    /// start order by [`Self::derive_whole`] (at its start, every
    /// [`THIN_MS`] through it, and at its end unless the batch's next
    /// event [continues](Self::continues) the bucket there), never at an
    /// instant an `afk` period covers. The batch's last event keeps its
    /// end: what a later request brings is not known yet. Events that start before `horizon` are stored but
    /// derive nothing (the engine refuses events that old). An importer
    /// gives a host's AFK buckets first, so their periods are known when
    /// its activity is translated.
    pub fn handle_events(
        &mut self,
        bucket: &str,
        events: Vec<AwEvent>,
        horizon: Timestamp,
        offset: impl Fn(Timestamp) -> UtcOffset,
    ) -> Result<Inserted, Error> {
        let Some(track) = self.tracks.get(bucket) else {
            return Err(Error::UnknownBucket(bucket.to_owned()));
        };
        let b = track.bucket.clone();
        let mut emitted = track.emitted;
        let mut last = track.last.clone();
        let mut out = Inserted::default();
        for e in events {
            let event = AwEvent {
                id: Some(self.take_id()),
                ..e
            };
            if last.as_ref().is_none_or(|l| event.start >= l.start) {
                last = Some(event.clone());
            }
            out.writes.push(AwWrite::Insert {
                bucket: bucket.to_owned(),
                event: event.clone(),
            });
            out.events.push(event);
        }
        let mut order: Vec<&AwEvent> = out.events.iter().collect();
        order.sort_by_key(|e| (e.start, e.id));
        for (i, event) in order.iter().enumerate() {
            if b.kind == BucketKind::Afk {
                self.presence.entry(b.hostname.clone()).or_default().observe(event);
                continue;
            }
            let next = order.get(i + 1).map(|n| n.start);
            for d in self.derive_whole(&b, event, next, &offset) {
                if d.at < horizon {
                    continue;
                }
                emitted = Some(emitted.map_or(d.at, |e| e.max(d.at)));
                out.derived.push(d);
            }
        }
        if let Some(at) = emitted.filter(|&at| Some(at) != self.tracks[bucket].emitted) {
            out.writes.push(AwWrite::Emitted {
                bucket: bucket.to_owned(),
                at,
            });
        }
        let track = self.tracks.get_mut(bucket).expect("checked above");
        track.last = last;
        track.emitted = emitted;
        Ok(out)
    }

    /// Whether bucket `b`, one of whose events ends at `end`, goes on
    /// without a pause at `next`, the start of its next event: `next`
    /// lies in `[end, end + TAIL_QUIET_MS]` and no known `afk` period
    /// covers it (so a daybook event is derived there). The whole-event
    /// translation then derives nothing at `end`: the next event's start
    /// carries the bucket's activity on, as a live bucket's next heartbeat
    /// does (a live tail is derived only after [`TAIL_QUIET_MS`] of
    /// quiet). Where it does not go on, the end is the bucket's last
    /// activity before a pause, and a session must reach it.
    pub fn continues(&self, b: &Bucket, end: Nanos, next: Nanos) -> bool {
        (end..=end.saturating_add(TAIL_QUIET_MS * NANOS_PER_MILLI)).contains(&next) && !self.is_away(&b.hostname, next)
    }

    /// The daybook events a whole stored event of activity bucket `b`
    /// means, given `next`, the start of the bucket's next event (`None`
    /// when none is known): one at its start, one every [`THIN_MS`]
    /// through it, and one at its end unless the bucket
    /// [continues](Self::continues) at `next`; never at an instant a known
    /// `afk` period of its host covers. Nothing for other kinds. The
    /// translation of [`Self::handle_events`], without storing anything:
    /// an importer whose raw events are stored already derives through it
    /// ([`History`], which learns `next` as the history streams).
    ///
    /// Dropping a continued end changes no span of context: an event's
    /// context holds until the session's next event, and the end's context
    /// is its start's, so the start holds until the next event either way.
    /// It halves the rows a stream of short window events derives.
    pub fn derive_whole(
        &self,
        b: &Bucket,
        event: &AwEvent,
        next: Option<Nanos>,
        offset: impl Fn(Timestamp) -> UtcOffset,
    ) -> Vec<Event> {
        if !b.is_activity() {
            return Vec::new();
        }
        let end = end_instant(event.start, event.end).filter(|&end| next.is_none_or(|n| !self.continues(b, end, n)));
        body_instants(event.start, event.end)
            .chain(end)
            .filter_map(|at| self.derive_at(b, &event.data, at, &offset))
            .collect()
    }

    /// The daybook event `data` of activity bucket `b` means at `at`,
    /// unless a known `afk` period of its host covers `at`.
    fn derive_at(&self, b: &Bucket, data: &Value, at: Nanos, offset: impl Fn(Timestamp) -> UtcOffset) -> Option<Event> {
        if self.is_away(&b.hostname, at) {
            return None;
        }
        let ms = millis_of(at);
        b.activity(data, ms, offset(ms))
    }

    /// The tails due at `now`: for each activity bucket whose last heartbeat
    /// came at least [`TAIL_QUIET_MS`] (and at most [`TAIL_MAX_AGE_MS`])
    /// ago, later than its last derived event, and not while away, one
    /// daybook event at that heartbeat, with the write that moves the
    /// bucket's mark. Call on the shell's tick; commit like a heartbeat.
    pub fn poll_tails(&mut self, now: Timestamp, offset: impl Fn(Timestamp) -> UtcOffset) -> Inserted {
        let mut out = Inserted::default();
        let due: Vec<(String, AwEvent)> = self
            .tracks
            .values()
            .filter(|t| t.bucket.is_activity())
            .filter_map(|t| {
                let last = t.last.as_ref()?;
                let at = millis_of(last.end);
                let age = now.millis_since(at);
                let later = t.emitted.is_none_or(|e| at > e);
                (later && (TAIL_QUIET_MS..=TAIL_MAX_AGE_MS).contains(&age)).then(|| (t.bucket.id.clone(), last.clone()))
            })
            .collect();
        for (id, last) in due {
            let track = &self.tracks[&id];
            let b = track.bucket.clone();
            let at = millis_of(last.end);
            if self.is_away(&b.hostname, last.end) {
                continue;
            }
            if let Some(d) = b.activity(&last.data, at, offset(at)) {
                out.writes.push(AwWrite::Emitted { bucket: id.clone(), at });
                out.derived.push(d);
                self.tracks.get_mut(&id).expect("listed above").emitted = Some(at);
            }
        }
        out
    }
}

/// A batch of imported history for [`crate::Engine::handle_history`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryBatch {
    /// The daybook events derived, in order of `at`.
    pub events: Vec<Event>,
    /// The start of the next raw event, which lies more than `gap` after
    /// the last of `events`: the open session ends as the next event would
    /// end it. `None` for the last batch (the caller gives its `now`).
    pub quiet_until: Option<Timestamp>,
    /// `(start, id)` of the last raw event this batch consumed: every raw
    /// event up to it (in that order) is done once the batch commits.
    pub through: Option<(Nanos, u64)>,
    /// How many raw events it consumed.
    pub raw: u64,
}

/// A derived event's place in [`History`]'s buffer: its instant, then the
/// order it was derived in.
type Key = (Timestamp, u64);

/// Derives daybook events from imported ActivityWatch history and cuts
/// them into batches that each commit on their own and leave nothing
/// behind: the importer's side of [`crate::Engine::handle_history`].
///
/// Raw events come in order of `(start, id)` across all buckets, each
/// through the translation of [`Watchers::derive_whole`] (the one `POST
/// /events` uses: at its start, every [`THIN_MS`], at its end unless the
/// bucket's next event [continues](Watchers::continues) it, never while
/// away); the caller gives the hosts' `afk` periods to the [`Watchers`]
/// first, so presence is known whole. Derived instants of a long event run
/// ahead of later raw events, so they wait in an ordered buffer and are
/// released once no raw event still to come can precede them (a raw
/// event's instants are at or after its start). An event's end waits in
/// the buffer *held*, holding back everything from it on, until its
/// bucket's next event decides it (dropped where that one continues the
/// bucket) or the stream passes `end + TAIL_QUIET_MS` without one (kept:
/// the bucket went quiet).
///
/// A batch ends only where the buffer is empty (so nothing is held), at
/// least `rows` raw events were consumed, and the next raw event starts
/// more than `gap` after the last derived event: a point where the
/// engine's session would be cut by `idle_gap` anyway, so cutting the work
/// there changes nothing, and a re-run that starts from the raw event
/// after a committed batch derives exactly what one uninterrupted run
/// does (it needs no earlier event: none has an end still held). Memory
/// holds one batch: at least `rows` raw events, more while activity runs
/// without a gap.
#[derive(Clone, Debug)]
pub struct History {
    watchers: Watchers,
    gap: std::time::Duration,
    rows: u64,
    pending: BTreeMap<(Timestamp, u64), Event>,
    /// Per bucket, the end of its latest event while undecided, with the
    /// key of its daybook event in `pending`.
    held: BTreeMap<String, Option<(Nanos, Key)>>,
    seq: u64,
    released: Vec<Event>,
    last: Option<Timestamp>,
    through: Option<(Nanos, u64)>,
    raw: u64,
}

impl History {
    /// A deriver over `watchers` (buckets known, presence loaded), cutting
    /// batches of at least `rows` raw events at idle gaps longer than
    /// `gap` (the engine's `gap`).
    pub fn new(watchers: Watchers, gap: std::time::Duration, rows: u64) -> Self {
        Self {
            watchers,
            gap,
            rows: rows.max(1),
            pending: BTreeMap::new(),
            held: BTreeMap::new(),
            seq: 0,
            released: Vec::new(),
            last: None,
            through: None,
            raw: 0,
        }
    }

    /// Releases the buffered events before `bound` (all of them for
    /// `None`), in order.
    fn release_before(&mut self, bound: Option<(Timestamp, u64)>) {
        while let Some(entry) = self.pending.first_entry() {
            if bound.is_some_and(|b| *entry.key() >= b) {
                break;
            }
            let e = entry.remove();
            self.last = Some(e.at);
            self.released.push(e);
        }
    }

    fn take(&mut self, quiet_until: Option<Timestamp>) -> HistoryBatch {
        HistoryBatch {
            events: std::mem::take(&mut self.released),
            quiet_until,
            through: self.through,
            raw: std::mem::take(&mut self.raw),
        }
    }

    fn buffer(&mut self, e: Event) -> (Timestamp, u64) {
        self.seq += 1;
        let key = (e.at, self.seq);
        self.pending.insert(key, e);
        key
    }

    /// Feeds the next raw event of bucket `bucket` (with its id). Returns
    /// the batch to commit before it, when a batch ends here.
    pub fn push(
        &mut self,
        bucket: &str,
        event: &AwEvent,
        offset: impl Fn(Timestamp) -> UtcOffset,
    ) -> Result<Option<HistoryBatch>, Error> {
        let Some(b) = self.watchers.bucket(bucket) else {
            return Err(Error::UnknownBucket(bucket.to_owned()));
        };
        // The bucket's held end is decided by this, its next event; any
        // other bucket whose held end lies more than TAIL_QUIET_MS behind
        // this start went quiet there (no later event starts earlier).
        if let Some(Some((end, key))) = self.held.get_mut(bucket).map(Option::take)
            && self.watchers.continues(b, end, event.start)
        {
            self.pending.remove(&key);
        }
        let quiet_ns = TAIL_QUIET_MS * NANOS_PER_MILLI;
        let mut bound = (millis_of(event.start), 0);
        for held in self.held.values_mut() {
            match *held {
                Some((end, _)) if event.start.saturating_sub(end) > quiet_ns => *held = None,
                Some((_, key)) => bound = bound.min(key),
                None => {}
            }
        }
        let start = millis_of(event.start);
        self.release_before(Some(bound));
        let quiet = self.released.is_empty() || self.last.is_none_or(|last| start.exceeds(last, self.gap));
        let batch = (self.pending.is_empty() && self.raw >= self.rows && quiet).then(|| self.take(Some(start)));
        let b = self.watchers.bucket(bucket).expect("known above");
        if b.is_activity() {
            let body: Vec<Event> = body_instants(event.start, event.end)
                .filter_map(|at| self.watchers.derive_at(b, &event.data, at, &offset))
                .collect();
            let end = end_instant(event.start, event.end)
                .and_then(|at| Some((at, self.watchers.derive_at(b, &event.data, at, &offset)?)));
            for d in body {
                self.buffer(d);
            }
            if let Some((at, d)) = end {
                let key = self.buffer(d);
                match self.held.get_mut(bucket) {
                    Some(held) => *held = Some((at, key)),
                    None => {
                        self.held.insert(bucket.to_owned(), Some((at, key)));
                    }
                }
            }
        }
        self.raw += 1;
        self.through = Some((event.start, event.id.unwrap_or(0)));
        Ok(batch)
    }

    /// The last batch: everything still buffered (every held end kept: its
    /// bucket has no next event).
    pub fn finish(mut self) -> HistoryBatch {
        self.release_before(None);
        self.take(None)
    }
}

/// The instants a whole event of `[start, end]` is derived at before its
/// end: its start and every [`THIN_MS`] after it, short of the end.
fn body_instants(start: Nanos, end: Nanos) -> impl Iterator<Item = Nanos> {
    let step = THIN_MS * NANOS_PER_MILLI;
    std::iter::once(start).chain((1..).map(move |k| start + k * step).take_while(move |&t| t < end))
}

/// The end of a whole event of `[start, end]`, where one is derived: for
/// an event with a duration.
fn end_instant(start: Nanos, end: Nanos) -> Option<Nanos> {
    (end > start).then_some(end)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const S: Nanos = 1_000_000_000;
    const T0: Nanos = 1_800_000_000 * S;

    fn ev(start: Nanos, dur: Nanos, data: Value) -> AwEvent {
        AwEvent {
            id: None,
            start,
            end: start + dur,
            data,
        }
    }

    /// The merge rule as the issue states it, written out literally.
    fn merges_reference(last: &AwEvent, hb: &AwEvent, pulsetime: Nanos) -> bool {
        serde_json::to_string(&last.data).unwrap() == serde_json::to_string(&hb.data).unwrap()
            && last.start <= hb.start
            && hb.start <= last.start + (last.end - last.start) + pulsetime
    }

    fn data() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u8..3).prop_map(|n| json!({"app": "Code", "title": format!("t{n}")})),
            (0u8..3).prop_map(|n| json!({"title": format!("t{n}"), "app": "Code"})),
            Just(json!({"status": "afk"})),
        ]
    }

    proptest! {
        /// Invariant: `merge` merges exactly when the rule says, and a merge
        /// spans both events (earlier start, later end) and keeps the data.
        #[test]
        fn merge_is_aw_servers_rule(
            a in 0i64..100, ad in 0i64..50, b in 0i64..200, bd in 0i64..50,
            pulse in 0i64..30, da in data(), db in data(),
        ) {
            let last = AwEvent { id: Some(7), ..ev(T0 + a * S, ad * S, da) };
            let hb = ev(T0 + b * S, bd * S, db);
            let merged = merge(&last, &hb, pulse * S);
            prop_assert_eq!(merged.is_some(), merges_reference(&last, &hb, pulse * S));
            if let Some(m) = merged {
                prop_assert_eq!(m.id, Some(7));
                prop_assert_eq!(m.start, last.start.min(hb.start));
                prop_assert_eq!(m.end, last.end.max(hb.end));
                prop_assert_eq!(m.data, last.data);
            }
        }

        /// Invariant: a heartbeat stream through `Watchers` leaves the same
        /// events as folding `merge` by hand (aw-client's `heartbeat_reduce`).
        #[test]
        fn heartbeats_fold_like_the_reference(
            beats in proptest::collection::vec((0i64..5, 0u8..2), 1..60), pulse in 0i64..4,
        ) {
            let mut w = Watchers::new(1);
            w.restore(Bucket::new("b", "currentwindow", "h"), None, None);
            let mut stored: BTreeMap<u64, AwEvent> = BTreeMap::new();
            let mut reference: Vec<AwEvent> = Vec::new();
            let mut t = T0;
            for (step, title) in beats {
                t += step * S;
                let hb = ev(t, 0, json!({"app": "A", "title": title.to_string()}));
                let beat = w.handle_heartbeat("b", hb.clone(), pulse * S, UtcOffset::UTC).unwrap();
                for write in beat.writes {
                    match write {
                        AwWrite::Insert { event, .. } => { stored.insert(event.id.unwrap(), event); }
                        AwWrite::Extend { id, end } => { stored.get_mut(&id).unwrap().end = end; }
                        AwWrite::Emitted { .. } => {}
                    }
                }
                match reference.last().and_then(|l| merge(l, &hb, pulse * S)) {
                    Some(m) => *reference.last_mut().unwrap() = m,
                    None => reference.push(hb),
                }
            }
            let got: Vec<(Nanos, Nanos, Value)> = stored.into_values().map(|e| (e.start, e.end, e.data)).collect();
            let want: Vec<(Nanos, Nanos, Value)> = reference.into_iter().map(|e| (e.start, e.end, e.data)).collect();
            prop_assert_eq!(got, want);
        }

        /// Invariant (SPEC §11, presence): no daybook event is derived at an
        /// instant inside an `afk` period known when its heartbeat arrived,
        /// and only the late-report interval (the period's first
        /// `report_delay` seconds) keeps any activity.
        #[test]
        fn nothing_is_derived_inside_a_known_afk_period(
            away_at in 60i64..600, away_for in 200i64..1200, report_delay in 0i64..200,
        ) {
            let mut w = Watchers::new(1);
            w.restore(Bucket::new("win", "currentwindow", "h"), None, None);
            w.restore(Bucket::new("afk", "afkstatus", "h"), None, None);
            let away = (T0 + away_at * S, T0 + (away_at + away_for) * S);
            let mut derived: Vec<(Nanos, Timestamp)> = Vec::new();
            let mut reported = false;
            for sec in 0..(away_at + away_for + 300) {
                let now = T0 + sec * S;
                if !reported && now >= away.0 + report_delay * S {
                    // The AFK watcher's report: not-afk up to the last input,
                    // then the afk period so far.
                    w.handle_heartbeat("afk", ev(T0, away.0 - T0, json!({"status": "not-afk"})), 185 * S, UtcOffset::UTC).unwrap();
                    w.handle_heartbeat("afk", ev(away.0 + NANOS_PER_MILLI, now - away.0, json!({"status": "afk"})), 185 * S, UtcOffset::UTC).unwrap();
                    reported = true;
                } else if reported && now <= away.1 && sec % 5 == 0 {
                    w.handle_heartbeat("afk", ev(away.0 + NANOS_PER_MILLI, now - away.0, json!({"status": "afk"})), 185 * S, UtcOffset::UTC).unwrap();
                } else if now > away.1 && sec % 5 == 0 {
                    w.handle_heartbeat("afk", ev(away.1, now - away.1, json!({"status": "not-afk"})), 185 * S, UtcOffset::UTC).unwrap();
                }
                let beat = w.handle_heartbeat("win", ev(now, 0, json!({"app": "A", "title": "x"})), S + 1, UtcOffset::UTC).unwrap();
                derived.extend(beat.derived.iter().map(|e| (now, e.at)));
                let tails = w.poll_tails(millis_of(now), |_| UtcOffset::UTC);
                derived.extend(tails.derived.iter().map(|e| (now, e.at)));
            }
            let late_report_end = millis_of(away.0 + report_delay * S);
            for (arrived, at) in &derived {
                let inside = *at >= millis_of(away.0) && *at <= millis_of(away.1);
                if inside {
                    prop_assert!(*at <= late_report_end, "derived at {at} inside the afk period after its report ({late_report_end}), arriving {arrived}");
                }
            }
            // Activity resumes after the period.
            prop_assert!(derived.iter().any(|(_, at)| *at > millis_of(away.1)));
        }

        /// Invariant (SPEC §11, thinning): one window held for `secs`
        /// seconds at 1 Hz derives at most `secs / THIN + 2` events, and
        /// once its heartbeats stop the last one lies at the last heartbeat.
        #[test]
        fn steady_heartbeats_are_thinned_and_the_tail_is_kept(secs in 1i64..7200) {
            let mut w = Watchers::new(1);
            w.restore(Bucket::new("win", "currentwindow", "h"), None, None);
            let mut derived = Vec::new();
            for sec in 0..=secs {
                let now = T0 + sec * S;
                derived.extend(w.handle_heartbeat("win", ev(now, 0, json!({"app": "A"})), S + 1, UtcOffset::UTC).unwrap().derived);
                derived.extend(w.poll_tails(millis_of(now), |_| UtcOffset::UTC).derived);
            }
            for later in 1..=60 {
                derived.extend(w.poll_tails(millis_of(T0 + (secs + later) * S), |_| UtcOffset::UTC).derived);
            }
            prop_assert!(derived.len() as i64 <= secs * 1000 / THIN_MS + 2, "{} events for {secs} s", derived.len());
            prop_assert_eq!(derived.last().unwrap().at, millis_of(T0 + secs * S));
        }
    }

    /// One bucket's whole events from `(gap before it, duration, title)`
    /// in seconds, ids from `id`.
    fn whole_events(spec: &[(i64, i64, u8)], id: u64) -> Vec<AwEvent> {
        let mut t = T0;
        let mut out = Vec::new();
        for (i, &(gap, dur, title)) in spec.iter().enumerate() {
            t += gap * S;
            out.push(AwEvent {
                id: Some(id + i as u64),
                ..ev(t, dur * S, json!({"app": "A", "title": title.to_string()}))
            });
            t += dur * S;
        }
        out
    }

    /// The whole-event rule written out literally: an event derives at its
    /// start, every THIN_MS through it, and at its end unless the bucket's
    /// next event starts in `[end, end + TAIL_QUIET_MS]` outside an `afk`
    /// period; nothing at an instant inside one.
    fn whole_reference(events: &[AwEvent], away: Option<(Nanos, Nanos)>) -> Vec<Timestamp> {
        let is_away = |t: Nanos| away.is_some_and(|(a, b)| a <= t && t <= b);
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let mut t = e.start;
            let mut at = vec![t];
            while t + THIN_MS * NANOS_PER_MILLI < e.end {
                t += THIN_MS * NANOS_PER_MILLI;
                at.push(t);
            }
            let continued = events.get(i + 1).is_some_and(|n| {
                n.start >= e.end && n.start - e.end <= TAIL_QUIET_MS * NANOS_PER_MILLI && !is_away(n.start)
            });
            if e.end > e.start && !continued {
                at.push(e.end);
            }
            out.extend(at.into_iter().filter(|&t| !is_away(t)).map(millis_of));
        }
        out
    }

    fn spec() -> impl Strategy<Value = Vec<(i64, i64, u8)>> {
        proptest::collection::vec((prop_oneof![Just(0i64), 0i64..40, 0i64..400], 0i64..300, 0u8..3), 1..40)
    }

    proptest! {
        /// Invariant (SPEC §11, whole events): `POST …/events` derives a
        /// bucket's events at their starts, through long ones, and at an
        /// end only where the bucket then goes quiet (no next event within
        /// TAIL_QUIET_MS, or the next one away), exactly as the literal
        /// rule says; and no activity outside an `afk` period is left
        /// further than TAIL_QUIET_MS behind the next derived instant, so
        /// a session still reaches the last activity before each pause.
        #[test]
        fn whole_events_keep_an_end_only_where_the_bucket_goes_quiet(
            spec in spec(), away in proptest::option::of((0i64..3000, 0i64..600)),
        ) {
            let events = whole_events(&spec, 1);
            let away = away.map(|(at, len)| (T0 + at * S, T0 + (at + len) * S));
            let mut w = Watchers::new(1);
            w.restore(Bucket::new("win", "currentwindow", "h"), None, None);
            w.restore(Bucket::new("afk", "afkstatus", "h"), None, None);
            if let Some((a, b)) = away {
                // The user came back at `b` (no AFK_HOLD_MS after it).
                let back = ev(b, S, json!({"status": "not-afk"}));
                w.restore_presence("h", &[ev(a, b - a, json!({"status": "afk"})), back]);
            }
            let out = w.handle_events("win", events.clone(), Timestamp(0), |_| UtcOffset::UTC).unwrap();
            let got: Vec<Timestamp> = out.derived.iter().map(|e| e.at).collect();
            prop_assert_eq!(&got, &whole_reference(&events, away));
            let is_away = |t: Nanos| away.is_some_and(|(a, b)| a <= t && t <= b);
            for e in &events {
                if !is_away(e.end) {
                    let reached = got.iter().any(|&at| at >= millis_of(e.end)
                        && at.0 - millis_of(e.end).0 <= TAIL_QUIET_MS);
                    prop_assert!(reached, "the activity up to {} is not reached", e.end);
                }
            }
        }

        /// Invariant: the importer's `History`, fed two buckets' events
        /// interleaved in start order and cut into batches, derives
        /// exactly what `POST …/events` derives for each bucket's events
        /// at once, in order of time, whatever the batch size.
        #[test]
        fn history_derives_what_whole_events_derive(
            window in spec(), web in spec(), rows in 1u64..8,
            away in proptest::option::of((0i64..3000, 0i64..600)),
        ) {
            let mut w = Watchers::new(1);
            w.restore(Bucket::new("win", "currentwindow", "h"), None, None);
            w.restore(Bucket::new("aw-watcher-web-firefox", "web.tab.current", "h"), None, None);
            if let Some((at, len)) = away {
                let back = ev(T0 + (at + len) * S, S, json!({"status": "not-afk"}));
                w.restore_presence("h", &[ev(T0 + at * S, len * S, json!({"status": "afk"})), back]);
            }
            let window = whole_events(&window, 1);
            let web: Vec<AwEvent> = whole_events(&web, 1000)
                .into_iter()
                .map(|e| AwEvent { data: json!({"url": "https://x.example/", "title": "t"}), ..e })
                .collect();
            let mut want: Vec<Event> = Vec::new();
            let mut live = w.clone();
            want.extend(live.handle_events("win", window.clone(), Timestamp(0), |_| UtcOffset::UTC).unwrap().derived);
            want.extend(live.handle_events("aw-watcher-web-firefox", web.clone(), Timestamp(0), |_| UtcOffset::UTC).unwrap().derived);
            want.sort_by(|a, b| (a.at, &a.source).cmp(&(b.at, &b.source)));
            let mut all: Vec<(&str, &AwEvent)> = window.iter().map(|e| ("win", e))
                .chain(web.iter().map(|e| ("aw-watcher-web-firefox", e)))
                .collect();
            all.sort_by_key(|(_, e)| (e.start, e.id));
            let mut h = History::new(w, std::time::Duration::from_secs(300), rows);
            let mut got: Vec<Event> = Vec::new();
            let mut last_at = None;
            for (bucket, e) in all {
                if let Some(batch) = h.push(bucket, e, |_| UtcOffset::UTC).unwrap() {
                    // A batch ends where the next raw event is past the gap.
                    if let Some(last) = batch.events.last() {
                        prop_assert!(batch.quiet_until.unwrap() > last.at);
                    }
                    got.extend(batch.events);
                }
                prop_assert!(got.last().map(|e| e.at) >= last_at, "released out of order");
                last_at = got.last().map(|e| e.at);
            }
            got.extend(h.finish().events);
            prop_assert!(got.windows(2).all(|p| p[0].at <= p[1].at), "released out of order");
            got.sort_by(|a, b| (a.at, &a.source).cmp(&(b.at, &b.source)));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn without_an_afk_watcher_heartbeats_count() {
        let mut w = Watchers::new(1);
        w.restore(Bucket::new("win", "currentwindow", "h"), None, None);
        let beat = w
            .handle_heartbeat("win", ev(T0, 0, json!({"app": "A"})), S, UtcOffset::UTC)
            .unwrap();
        assert_eq!(beat.derived.len(), 1);
        // Another host's AFK watcher says nothing about this one.
        w.restore(Bucket::new("afk", "afkstatus", "other"), None, None);
        w.handle_heartbeat("afk", ev(T0, 600 * S, json!({"status": "afk"})), S, UtcOffset::UTC)
            .unwrap();
        let beat = w
            .handle_heartbeat("win", ev(T0 + 10 * S, 0, json!({"app": "B"})), S, UtcOffset::UTC)
            .unwrap();
        assert_eq!(beat.derived.len(), 1);
    }

    #[test]
    fn web_tabs_are_named_after_the_browser_of_the_bucket() {
        for (id, name) in [
            ("aw-watcher-web-chrome_myhost", "Chrome"),
            ("aw-watcher-web-firefox", "Firefox"),
            ("aw-watcher-web-Firefox_x", "Firefox"),
            ("aw-watcher-web-librewolf_x", "Librewolf"),
            ("aw-watcher-web-", "Browser"),
            ("something-else", "Browser"),
        ] {
            assert_eq!(browser_name(id), name, "{id}");
        }
        let b = Bucket::new("aw-watcher-web-chrome_h", "web.tab.current", "h");
        let e = b
            .activity(
                &json!({"url": "https://x.example/", "title": "X", "audible": false}),
                Timestamp(5),
                UtcOffset(3600),
            )
            .unwrap();
        assert_eq!(
            (
                e.app.as_str(),
                e.title.as_deref(),
                e.url.as_deref(),
                e.source.as_deref()
            ),
            (
                "Chrome",
                Some("X"),
                Some("https://x.example/"),
                Some("aw-watcher-web-chrome_h")
            )
        );
        assert_eq!((e.at, e.offset), (Timestamp(5), UtcOffset(3600)));
    }

    #[test]
    fn unknown_buckets_are_refused() {
        let mut w = Watchers::new(1);
        assert!(matches!(
            w.handle_heartbeat("nope", ev(T0, 0, json!({})), S, UtcOffset::UTC),
            Err(Error::UnknownBucket(_))
        ));
    }

    #[test]
    fn a_long_inserted_event_is_derived_thinned_through_its_span() {
        let mut w = Watchers::new(1);
        w.restore(Bucket::new("win", "currentwindow", "h"), None, None);
        let out = w
            .handle_events("win", vec![ev(T0, 3600 * S, json!({"app": "A"}))], Timestamp(0), |_| {
                UtcOffset::UTC
            })
            .unwrap();
        assert_eq!(out.derived.len(), 31);
        assert_eq!(out.derived.last().unwrap().at, millis_of(T0 + 3600 * S));
        assert_eq!(out.events[0].id, Some(1));
    }
}
