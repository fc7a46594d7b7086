//! Sessions: their durable rows and the cut rules (SPEC §4) that decide
//! where one ends.
//!
//! [`OpenSession`] is the in-memory tracker of the one active session. It is
//! plain data, cloned before a batch is applied, so a failed commit leaves
//! the engine exactly as it was.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::time::{Timestamp, UtcOffset};

/// A session's id, chosen by the caller (the engine's id prefix plus a
/// counter, or the id an import kept).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SessionId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// The order of sessions in time, used wherever "the next session" or
/// "overlap" is decided (recovery, the oracle): by start, then end (an
/// active session's end counting as the latest possible), then id. The end
/// comes before the id because ids order as text ("r10-1" < "r9-1"): a
/// zero-length session that starts where a longer one starts lies before
/// it whatever their ids.
pub fn order_key(start: Timestamp, end: Option<Timestamp>, id: &SessionId) -> (Timestamp, Timestamp, &SessionId) {
    (start, end.unwrap_or(Timestamp(i64::MAX)), id)
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No event for more than `gap`.
    IdleGap,
    /// One app held focus too long after a run of switching.
    SoftCut,
    /// The session grew older than `max_session`.
    Timeout,
    /// The daemon stopped gracefully.
    Shutdown,
    /// The 23:55 safety net.
    DailySafetyNet,
    /// The user paused capture.
    Paused,
    /// Startup recovery ended an orphan.
    Recovered,
    /// A late session (SPEC §2): made of late events in a gap between
    /// sessions, ended when its batch committed.
    Late,
    /// Ended in another tool and imported (`daybook import`); that tool
    /// recorded no reason.
    Imported,
}

impl EndReason {
    /// The name used in the database and the JSON contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdleGap => "idle_gap",
            Self::SoftCut => "soft_cut",
            Self::Timeout => "timeout",
            Self::Shutdown => "shutdown",
            Self::DailySafetyNet => "daily_safety_net",
            Self::Paused => "paused",
            Self::Recovered => "recovered",
            Self::Late => "late",
            Self::Imported => "imported",
        }
    }

    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::IdleGap,
            Self::SoftCut,
            Self::Timeout,
            Self::Shutdown,
            Self::DailySafetyNet,
            Self::Paused,
            Self::Recovered,
            Self::Late,
            Self::Imported,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Where a session is in its life. An active session has no end; every other
/// phase carries one, so "ended without an end" cannot be written down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Phase {
    /// Receiving events (or orphaned, if no daemon owns it).
    Active,
    /// Ended, waiting for its final reduction.
    Ended {
        /// The `at` of its last event (or recovery's estimate).
        end: Timestamp,
        /// Why it ended.
        reason: EndReason,
    },
    /// Its final reduction failed; retried at `next_retry_at`.
    Failed {
        /// See [`Phase::Ended`].
        end: Timestamp,
        /// See [`Phase::Ended`].
        reason: EndReason,
        /// When the next attempt is due.
        next_retry_at: Timestamp,
    },
    /// Fully reduced; nothing more will happen to it.
    Reduced {
        /// See [`Phase::Ended`].
        end: Timestamp,
        /// See [`Phase::Ended`].
        reason: EndReason,
    },
}

impl Phase {
    /// The status name used in the database and the JSON contract.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Ended { .. } => "ended",
            Self::Failed { .. } => "failed",
            Self::Reduced { .. } => "reduced",
        }
    }

    /// The end, once there is one.
    pub fn end(&self) -> Option<Timestamp> {
        match self {
            Self::Active => None,
            Self::Ended { end, .. } | Self::Failed { end, .. } | Self::Reduced { end, .. } => Some(*end),
        }
    }

    /// Why it ended, once it has.
    pub fn reason(&self) -> Option<EndReason> {
        match self {
            Self::Active => None,
            Self::Ended { reason, .. } | Self::Failed { reason, .. } | Self::Reduced { reason, .. } => Some(*reason),
        }
    }
}

/// A session row as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The attributed time of its first event.
    pub start: Timestamp,
    /// The local offset at its start.
    pub offset: UtcOffset,
    /// Its status, with the end once it has one.
    pub phase: Phase,
    /// How many reductions of it failed.
    pub retry_count: u32,
    /// The end of the last block an entry of it covers.
    pub flush_end: Option<Timestamp>,
}

impl Session {
    /// A fresh active session.
    pub fn active(id: SessionId, start: Timestamp, offset: UtcOffset) -> Self {
        Self {
            id,
            start,
            offset,
            phase: Phase::Active,
            retry_count: 0,
            flush_end: None,
        }
    }
}

/// The in-memory state of the one active session: what the cut rules need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSession {
    /// Its id.
    pub id: SessionId,
    /// Attributed time of its first event.
    pub start: Timestamp,
    /// Attributed time of its latest event.
    pub last: Timestamp,
    /// The app of its latest event.
    pub app: String,
    /// When `app` took focus (attributed time of the first event of the
    /// current run of that app).
    pub app_since: Timestamp,
    /// How many times the focused app changed inside this session.
    pub switches: u32,
    /// `(attributed, app)` of recent events, oldest first, pruned to the
    /// switch window.
    recent: VecDeque<(Timestamp, String)>,
    /// Windows starting before this instant have their blocks written.
    pub built_until: Timestamp,
}

impl OpenSession {
    /// A session opened by an event of `app` attributed at `at`.
    pub fn new(id: SessionId, at: Timestamp, app: &str, window: std::time::Duration) -> Self {
        Self {
            id,
            start: at,
            last: at,
            app: app.to_owned(),
            app_since: at,
            switches: 0,
            recent: VecDeque::from([(at, app.to_owned())]),
            built_until: at.window_start(window),
        }
    }

    /// Records an event of `app` attributed at `at` (never before `last`).
    pub fn observe(&mut self, at: Timestamp, app: &str, config: &Config) {
        debug_assert!(at >= self.last, "attributed time went backwards");
        if app != self.app {
            self.switches += 1;
            app.clone_into(&mut self.app);
            self.app_since = at;
        }
        self.last = at;
        self.recent.push_back((at, app.to_owned()));
        self.prune(at, config);
    }

    fn prune(&mut self, t: Timestamp, config: &Config) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| t.exceeds(*at, config.switch_window))
        {
            self.recent.pop_front();
        }
    }

    /// Distinct apps with an event in the switch window ending at `t`.
    fn apps_in_switch_window(&self, t: Timestamp, config: &Config) -> usize {
        let mut apps: Vec<&str> = self
            .recent
            .iter()
            .filter(|(at, _)| !t.exceeds(*at, config.switch_window))
            .map(|(_, app)| app.as_str())
            .collect();
        apps.sort_unstable();
        apps.dedup();
        apps.len()
    }

    /// The cut rule that ends this session at time `t`, if any, checked in
    /// the order idle gap, timeout, soft cut.
    ///
    /// Soft cut reads "held focus" as the current app's unbroken run: the
    /// session has switched apps at least twice, the latest app has been the
    /// focused one for more than `soft_cut`, and fewer than two distinct apps
    /// had an event in the last `switch_window`. With the defaults
    /// (`switch_window` < `soft_cut`) the last condition follows from the
    /// second; it matters when a user widens the switch window.
    pub fn cut_at(&self, t: Timestamp, config: &Config) -> Option<EndReason> {
        if t.exceeds(self.last, config.gap) {
            Some(EndReason::IdleGap)
        } else if t.exceeds(self.start, config.max_session) {
            Some(EndReason::Timeout)
        } else if self.switches >= 2
            && t.exceeds(self.app_since, config.soft_cut)
            && self.apps_in_switch_window(t, config) < 2
        {
            Some(EndReason::SoftCut)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secs(s: i64) -> Timestamp {
        Timestamp(1_800_000_000_000 + s * 1000)
    }

    fn open(config: &Config, events: &[(i64, &str)]) -> OpenSession {
        let (t0, app0) = events[0];
        let mut s = OpenSession::new("s".into(), secs(t0), app0, config.window);
        for &(t, app) in &events[1..] {
            s.observe(secs(t), app, config);
        }
        s
    }

    #[test]
    fn idle_gap_needs_more_than_the_gap() {
        let c = Config::default();
        let s = open(&c, &[(0, "A")]);
        assert_eq!(s.cut_at(secs(300), &c), None);
        assert_eq!(s.cut_at(secs(301), &c), Some(EndReason::IdleGap));
    }

    #[test]
    fn timeout_after_max_session() {
        let c = Config::default();
        let events: Vec<(i64, &str)> = (0..=48).map(|i| (i * 150, "A")).collect();
        let s = open(&c, &events);
        assert_eq!(s.cut_at(secs(7200), &c), None);
        assert_eq!(s.cut_at(secs(7201), &c), Some(EndReason::Timeout));
    }

    #[test]
    fn soft_cut_after_switching_then_one_app() {
        let c = Config::default();
        let s = open(&c, &[(0, "A"), (10, "B"), (20, "C"), (60, "C"), (120, "C"), (180, "C")]);
        assert_eq!(s.cut_at(secs(200), &c), None, "C held 3 min exactly");
        assert_eq!(s.cut_at(secs(201), &c), Some(EndReason::SoftCut));
    }

    #[test]
    fn no_soft_cut_without_two_switches() {
        let c = Config::default();
        let s = open(&c, &[(0, "A"), (10, "B"), (100, "B"), (200, "B"), (290, "B")]);
        assert_eq!(s.cut_at(secs(295), &c), None);
    }

    #[test]
    fn frequent_switching_prevents_a_soft_cut() {
        // A wide switch window: another app focused within it keeps the
        // session going even though the current app has held for 3+ min.
        let c = Config {
            switch_window: Duration::from_secs(300),
            ..Config::default()
        };
        let s = open(&c, &[(0, "A"), (10, "B"), (20, "C"), (100, "C"), (200, "C")]);
        assert_eq!(s.cut_at(secs(210), &c), None);
        // Once the other apps leave the window the cut applies.
        let later = open(
            &c,
            &[(0, "A"), (10, "B"), (20, "C"), (200, "C"), (290, "C"), (330, "C")],
        );
        assert_eq!(later.cut_at(secs(331), &c), Some(EndReason::SoftCut));
    }

    #[test]
    fn end_reason_names_round_trip() {
        for r in [
            EndReason::IdleGap,
            EndReason::Recovered,
            EndReason::DailySafetyNet,
            EndReason::Late,
        ] {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
        }
    }
}
