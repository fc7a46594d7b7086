//! The simulator's own checks, beside the core oracle: what SPEC promises
//! that a dump alone cannot tell, because only the harness knows what was
//! sent and acknowledged, plus the cut-rule consequences of SPEC §4 ("a
//! session never spans a gap, never exceeds `max_session_hours`") that the
//! oracle does not check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use daybook_core::{Config, Dump, Phase, SessionId, Timestamp};

/// One thing the audit found wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// An event the daemon acknowledged is not in the store.
    AckedLost(String),
    /// An event is stored more than once.
    StoredTwice {
        /// Its source tag.
        source: String,
        /// How many copies.
        copies: usize,
    },
    /// A stored event the workload never sent.
    UnknownEvent(u64),
    /// Two consecutive events of one session lie more than `gap` apart.
    SpansGap {
        /// The session.
        session: SessionId,
        /// The earlier event's attributed time.
        from: Timestamp,
        /// The later one's.
        to: Timestamp,
    },
    /// A session lasts longer than `max_session`.
    TooLong {
        /// The session.
        session: SessionId,
        /// Its start.
        start: Timestamp,
        /// Its end.
        end: Timestamp,
    },
    /// A session's start is not its first event's attributed time.
    StartNotFirstEvent(SessionId),
    /// A session is still active right after startup recovery.
    ActiveAfterStart(SessionId),
    /// An event derived from ActivityWatch watchers lies inside an `afk`
    /// period that was known when it was derived (SPEC §11).
    WatcherWhileAway {
        /// Its source tag.
        source: String,
        /// Its instant.
        at: Timestamp,
    },
    /// The store refused a reduction the engine had checked: the engine
    /// committed something that no longer applied (a stale answer).
    ReductionRefused(SessionId),
    /// The SQLite store's full-text index does not match its rows.
    SearchIndex(String),
    /// An event the daemon refused as older than `max_lateness` is stored.
    RefusedStored(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AckedLost(s) => write!(f, "no loss: acknowledged event {s} is not in the store"),
            Self::WatcherWhileAway { source, at } => {
                write!(
                    f,
                    "presence: watcher event {source} at {at} lies in a reported afk period"
                )
            }
            Self::ReductionRefused(s) => write!(f, "stale answer: the store refused a reduction of session {s}"),
            Self::StoredTwice { source, copies } => write!(f, "no loss: event {source} is stored {copies} times"),
            Self::UnknownEvent(seq) => write!(f, "no loss: stored event {seq} was never sent"),
            Self::SpansGap { session, from, to } => {
                write!(f, "cut rules: session {session} spans an idle gap from {from} to {to}")
            }
            Self::TooLong { session, start, end } => {
                write!(
                    f,
                    "cut rules: session {session} runs from {start} to {end}, past max_session"
                )
            }
            Self::StartNotFirstEvent(s) => write!(f, "cut rules: session {s} does not start at its first event"),
            Self::ActiveAfterStart(s) => write!(f, "disjoint: session {s} is still active after recovery"),
            Self::SearchIndex(problem) => write!(f, "search index: {problem}"),
            Self::RefusedStored(s) => write!(f, "too old: refused event {s} is stored"),
        }
    }
}

/// Every acknowledged event is stored exactly once, and nothing stored was
/// never sent. Events sent but not acknowledged (the daemon died first) may
/// be stored, but at most once.
pub fn events_once(dump: &Dump, sent: &BTreeSet<String>, acked: &BTreeSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &dump.events {
        match e.event.source.as_deref() {
            Some(s) if sent.contains(s) => *copies.entry(s).or_default() += 1,
            _ => out.push(Finding::UnknownEvent(e.seq)),
        }
    }
    for (source, n) in &copies {
        if *n > 1 {
            out.push(Finding::StoredTwice {
                source: (*source).to_owned(),
                copies: *n,
            });
        }
    }
    for a in acked {
        if !copies.contains_key(a.as_str()) {
            out.push(Finding::AckedLost(a.clone()));
        }
    }
    out
}

/// SPEC §2: an event refused as older than `max_lateness` left nothing in
/// the store (its batch was refused whole; the client sent the rest again).
pub fn refused_absent(dump: &Dump, refused: &BTreeSet<String>) -> Vec<Finding> {
    dump.events
        .iter()
        .filter_map(|e| e.event.source.as_ref())
        .filter(|s| refused.contains(*s))
        .map(|s| Finding::RefusedStored(s.clone()))
        .collect()
}

/// SPEC §11's presence rule: no event derived from a watcher (source
/// `aw-watcher-…`) lies in `(reported, end)` of an `afk` period, the time
/// from the AFK watcher's report to the user's return.
pub fn watchers_away(dump: &Dump, away: &[(Timestamp, Timestamp)]) -> Vec<Finding> {
    dump.events
        .iter()
        .filter(|e| e.event.source.as_deref().is_some_and(|s| s.starts_with("aw-watcher-")))
        .filter(|e| away.iter().any(|&(from, to)| from < e.event.at && e.event.at < to))
        .map(|e| Finding::WatcherWhileAway {
            source: e.event.source.clone().unwrap_or_default(),
            at: e.event.at,
        })
        .collect()
}

/// SPEC §4's consequences: within a session, consecutive events (by
/// attributed time) are at most `gap` apart; a session lasts at most
/// `max_session`; it starts at its first event.
///
/// Sessions imported from history (the workload names them `oc-N`) came
/// with blocks but no events: their bounds are the other tool's, and a
/// late event may land anywhere inside them (SPEC §2), so only their
/// length is checked.
pub fn cut_rules(dump: &Dump, config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut times: BTreeMap<&SessionId, Vec<Timestamp>> = BTreeMap::new();
    for e in &dump.events {
        times.entry(&e.session_id).or_default().push(e.attributed);
    }
    for s in &dump.sessions {
        if let Some(end) = s.phase.end().filter(|end| end.exceeds(s.start, config.max_session)) {
            out.push(Finding::TooLong {
                session: s.id.clone(),
                start: s.start,
                end,
            });
        }
        if s.id.0.starts_with("oc-") {
            continue;
        }
        let Some(ts) = times.get_mut(&s.id) else { continue };
        ts.sort_unstable();
        if ts.first() != Some(&s.start) {
            out.push(Finding::StartNotFirstEvent(s.id.clone()));
        }
        for pair in ts.windows(2) {
            if pair[1].exceeds(pair[0], config.gap) {
                out.push(Finding::SpansGap {
                    session: s.id.clone(),
                    from: pair[0],
                    to: pair[1],
                });
            }
        }
    }
    out
}

/// After `Engine::start`, no session is active: recovery ended every
/// orphan before any new event was accepted.
pub fn no_orphans(dump: &Dump) -> Vec<Finding> {
    dump.sessions
        .iter()
        .filter(|s| s.phase == Phase::Active)
        .map(|s| Finding::ActiveAfterStart(s.id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use daybook_core::{EndReason, Event, Session, StoredEvent, UtcOffset};

    use super::*;

    const MIN: i64 = 60_000;

    fn stored(seq: u64, session: &str, t: i64, source: &str) -> StoredEvent {
        StoredEvent {
            seq,
            session_id: session.into(),
            attributed: Timestamp(t),
            rev: 0,
            event: Event {
                source: Some(source.into()),
                ..Event::new(Timestamp(t), "Code")
            },
        }
    }

    fn ended(id: &str, start: i64, end: i64) -> Session {
        Session {
            phase: Phase::Ended {
                end: Timestamp(end),
                reason: EndReason::IdleGap,
            },
            ..Session::active(id.into(), Timestamp(start), UtcOffset::UTC)
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn acknowledged_events_are_stored_once() {
        let dump = Dump {
            events: vec![
                stored(1, "a", 0, "e1"),
                stored(2, "a", MIN, "e2"),
                stored(3, "a", MIN, "e2"),
            ],
            ..Dump::default()
        };
        let found = events_once(&dump, &set(&["e1", "e2", "e3"]), &set(&["e1", "e3"]));
        assert_eq!(
            found,
            [
                Finding::StoredTwice {
                    source: "e2".into(),
                    copies: 2
                },
                Finding::AckedLost("e3".into()),
            ]
        );
        assert_eq!(
            refused_absent(&dump, &set(&["e2", "e9"])),
            [Finding::RefusedStored("e2".into()), Finding::RefusedStored("e2".into())]
        );
        assert!(refused_absent(&dump, &set(&["e9"])).is_empty());
        let stranger = Dump {
            events: vec![stored(9, "a", 0, "zz")],
            ..Dump::default()
        };
        assert_eq!(
            events_once(&stranger, &set(&["e1"]), &set(&[])),
            [Finding::UnknownEvent(9)]
        );
        let good = Dump {
            events: vec![stored(1, "a", 0, "e1")],
            ..Dump::default()
        };
        assert!(events_once(&good, &set(&["e1", "e2"]), &set(&["e1"])).is_empty());
    }

    #[test]
    fn gaps_lengths_and_starts_are_checked() {
        let c = Config::default();
        let dump = Dump {
            sessions: vec![
                ended("a", 0, 11 * MIN),
                ended("b", 20 * MIN, 20 * MIN + 2 * 3_600_000 + 1),
            ],
            events: vec![
                stored(1, "a", 0, "1"),
                stored(2, "a", 5 * MIN, "2"),
                stored(3, "a", 11 * MIN, "3"),
                stored(4, "b", 21 * MIN, "4"),
            ],
            ..Dump::default()
        };
        let found = cut_rules(&dump, &c);
        assert_eq!(
            found,
            [
                Finding::SpansGap {
                    session: "a".into(),
                    from: Timestamp(5 * MIN),
                    to: Timestamp(11 * MIN)
                },
                Finding::TooLong {
                    session: "b".into(),
                    start: Timestamp(20 * MIN),
                    end: Timestamp(20 * MIN + 2 * 3_600_000 + 1)
                },
                Finding::StartNotFirstEvent("b".into()),
            ]
        );
        let exact = Dump {
            sessions: vec![ended("a", 0, 2 * 3_600_000)],
            events: vec![stored(1, "a", 0, "1"), stored(2, "a", 5 * MIN, "2")],
            ..Dump::default()
        };
        assert!(
            cut_rules(&exact, &c).is_empty(),
            "a gap of exactly five minutes is allowed"
        );
    }

    #[test]
    fn orphans_after_start_are_found() {
        let dump = Dump {
            sessions: vec![
                ended("a", 0, 1),
                Session::active("b".into(), Timestamp(5), UtcOffset::UTC),
            ],
            ..Dump::default()
        };
        assert_eq!(no_orphans(&dump), [Finding::ActiveAfterStart("b".into())]);
        assert!(
            Finding::ActiveAfterStart("b".into())
                .to_string()
                .contains("still active")
        );
    }
}
