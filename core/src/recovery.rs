//! Recovery of orphans (SPEC §7): the planner that decides where every
//! `active` session left by a killed daemon ends, and which session owns
//! each imported block that had none.
//!
//! The planner is a pure function over what the store hands it, set-based
//! and `O((n + m) log n)` for `n` sessions and `m` pieces of evidence: one
//! sort and a binary search per item, never a store lookup per orphan.
//! [`plan_naive`] is the literal per-orphan reading of the spec, kept for
//! tests that check the two agree.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::session::{self, SessionId};
use crate::time::Timestamp;

/// A session as recovery sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpan {
    /// Its id.
    pub id: SessionId,
    /// Its start.
    pub start: Timestamp,
    /// Its end; `None` for an orphan.
    pub end: Option<Timestamp>,
    /// Whether it is already `reduced` (and so closed to new blocks).
    pub reduced: bool,
}

/// A block's span and owner, as evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSpan {
    /// The owning session, by its index in [`RecoveryInput::sessions`], or
    /// `None` for an imported loose block. An index, not the session's id:
    /// an imported history hands the planner hundreds of thousands of
    /// owned blocks, and a copy of the owner's id for each was the
    /// largest part of the store's read and of the planner's lookups
    /// (BENCHMARKS.md, "recovery_input by scan").
    pub owner: Option<usize>,
    /// The loose block's id (ignored for owned blocks).
    pub loose_id: u64,
    /// Window start.
    pub start: Timestamp,
    /// Window end.
    pub end: Timestamp,
}

/// What the store hands the planner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryInput {
    /// Every session, any status (orphans have no end).
    pub sessions: Vec<SessionSpan>,
    /// The latest attributed time of each orphan's own events.
    pub last_events: Vec<(SessionId, Timestamp)>,
    /// The blocks of orphans and every loose block.
    pub blocks: Vec<BlockSpan>,
}

/// What bounded a recovered end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndBound {
    /// The latest evidence, inside the limits.
    Evidence,
    /// No evidence: start plus `empty_session`, inside the limits.
    Fallback,
    /// Clamped to the start of the next session.
    NextSession,
    /// Capped at start plus `max_session`.
    MaxSession,
}

/// One orphan's recovered end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredEnd {
    /// The orphan.
    pub id: SessionId,
    /// Its end.
    pub end: Timestamp,
    /// Whether it had any evidence.
    pub had_evidence: bool,
    /// What decided the end.
    pub bound: EndBound,
}

/// The planner's answer: every orphan's end, in order of start, and the
/// owner of each loose block that overlaps an open session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPlan {
    /// One per orphan, ordered by `(start, id)`.
    pub ends: Vec<RecoveredEnd>,
    /// `(loose block id, new owner)`, ordered by loose block id.
    pub owners: Vec<(u64, SessionId)>,
}

impl RecoveryPlan {
    /// Whether applying it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty() && self.owners.is_empty()
    }

    /// How many orphans ended at each kind of bound: what recovery logs
    /// in one line instead of a line per orphan.
    pub fn bound_counts(&self) -> BoundCounts {
        let mut c = BoundCounts::default();
        for e in &self.ends {
            let (unclamped, next, cap) = if e.had_evidence {
                (
                    &mut c.evidence,
                    &mut c.evidence_next_session,
                    &mut c.evidence_max_session,
                )
            } else {
                (
                    &mut c.fallback,
                    &mut c.fallback_next_session,
                    &mut c.fallback_max_session,
                )
            };
            match e.bound {
                EndBound::Evidence | EndBound::Fallback => *unclamped += 1,
                EndBound::NextSession => *next += 1,
                EndBound::MaxSession => *cap += 1,
            }
        }
        c
    }
}

/// Recovered orphans counted by what ended them: with evidence or on the
/// `empty_session` fallback, each unclamped, clamped to the next session's
/// start, or capped at `max_session`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoundCounts {
    /// Ended at their latest evidence.
    pub evidence: usize,
    /// With evidence past the next session's start, clamped to it.
    pub evidence_next_session: usize,
    /// With evidence past `start + max_session`, capped there.
    pub evidence_max_session: usize,
    /// No evidence: ended at `start + empty_session`.
    pub fallback: usize,
    /// No evidence, and the next session started within `empty_session`.
    pub fallback_next_session: usize,
    /// No evidence, and `max_session` is shorter than `empty_session`.
    pub fallback_max_session: usize,
}

/// Sessions in [`session::order_key`] order: "the earliest session that
/// started after R" is the next one in it, so two orphans with the same
/// start still bound each other and no two orphans' ranges overlap.
fn order_key(s: &SessionSpan) -> (Timestamp, Timestamp, &SessionId) {
    session::order_key(s.start, s.end, &s.id)
}

/// The end an orphan gets from its upper limit and its evidence.
fn decide(
    start: Timestamp,
    next: Option<Timestamp>,
    evidence: Option<Timestamp>,
    max: Duration,
    empty: Duration,
) -> (Timestamp, EndBound) {
    let cap = start + max;
    let (upper, limit) = match next {
        Some(n) if n < cap => (n, EndBound::NextSession),
        _ => (cap, EndBound::MaxSession),
    };
    let (wanted, natural) = match evidence {
        Some(e) => (e, EndBound::Evidence),
        None => (start + empty, EndBound::Fallback),
    };
    if wanted > upper {
        (upper, limit)
    } else {
        (wanted, natural)
    }
}

/// Plans recovery in `O((n + m) log n)`.
pub fn plan(input: &RecoveryInput, max_session: Duration, empty_session: Duration) -> RecoveryPlan {
    // Positions in `input.sessions`, in session order.
    let mut order: Vec<usize> = (0..input.sessions.len()).collect();
    order.sort_by(|&a, &b| order_key(&input.sessions[a]).cmp(&order_key(&input.sessions[b])));
    let all: Vec<&SessionSpan> = order.iter().map(|&i| &input.sessions[i]).collect();

    // Orphans in session order with their upper limit and their place in `all`.
    struct Open<'a> {
        span: &'a SessionSpan,
        pos: usize,
        next: Option<Timestamp>,
        upper: Timestamp,
        evidence: Option<Timestamp>,
    }
    let mut orphans: Vec<Open<'_>> = Vec::new();
    // `given[i]`: the orphan (its index in `orphans`) at `input.sessions[i]`.
    let mut given: Vec<Option<usize>> = vec![None; input.sessions.len()];
    for (pos, s) in all.iter().enumerate() {
        if s.end.is_none() {
            let next = all.get(pos + 1).map(|n| n.start);
            let cap = s.start + max_session;
            given[order[pos]] = Some(orphans.len());
            orphans.push(Open {
                span: s,
                pos,
                next,
                upper: next.map_or(cap, |n| n.min(cap)),
                evidence: None,
            });
        }
    }
    // The orphans in the order the store gave the sessions: the order its
    // evidence most likely comes in (see `Finder`).
    let mut finder = Finder::new(given.iter().flatten().map(|&i| (i, &orphans[i].span.id)).collect());

    let bump = |o: &mut Open<'_>, t: Timestamp| o.evidence = Some(o.evidence.map_or(t, |e| e.max(t)));
    for (id, at) in &input.last_events {
        if let Some(i) = finder.find(id) {
            bump(&mut orphans[i], *at);
        }
    }
    for b in &input.blocks {
        let i = match b.owner {
            // An owner that is no session is no one's evidence.
            Some(owner) => given.get(owner).copied().flatten(),
            // The only orphan whose range can hold b.start: the last one
            // starting at or before it (ranges are disjoint, see order_key).
            None => orphans.partition_point(|o| o.span.start <= b.start).checked_sub(1),
        };
        if let Some(i) = i {
            let o = &mut orphans[i];
            if o.span.start <= b.start && b.start < o.upper {
                bump(o, b.end);
            }
        }
    }

    let ends: Vec<RecoveredEnd> = orphans
        .iter()
        .map(|o| {
            let (end, bound) = decide(o.span.start, o.next, o.evidence, max_session, empty_session);
            RecoveredEnd {
                id: o.span.id.clone(),
                end,
                had_evidence: o.evidence.is_some(),
                bound,
            }
        })
        .collect();

    // Owners are for loose blocks only; most recoveries have none.
    if input.blocks.iter().all(|b| b.owner.is_some()) {
        return RecoveryPlan {
            ends,
            owners: Vec::new(),
        };
    }
    // Every session's end in `all` order, the recovered ones included.
    let mut end_at: Vec<Option<Timestamp>> = all.iter().map(|s| s.end).collect();
    for (o, e) in orphans.iter().zip(&ends) {
        end_at[o.pos] = Some(e.end);
    }
    RecoveryPlan {
        owners: assign_owners(&all, &end_at, &input.blocks),
        ends,
    }
}

/// Finds an orphan's position (in session order) from its id, for the
/// latest events (a block names its owner by index). Stores
/// usually hand evidence grouped by session and in the order they hand the
/// sessions (the SQLite store reads both in its key order, at no cost,
/// through the table and its status index), so the orphan of the previous
/// item, or the one after it in that order, is tried first: one string
/// compare per item and no lookup. Evidence in any other order goes through
/// an [`IdIndex`], built on the first miss: the same answers, at `O(log n)`
/// each.
struct Finder<'a> {
    /// `(orphan position, id)` in the order the store gave the sessions.
    seq: Vec<(usize, &'a SessionId)>,
    last: usize,
    index: Option<IdIndex<'a>>,
}

impl<'a> Finder<'a> {
    fn new(seq: Vec<(usize, &'a SessionId)>) -> Self {
        Self {
            seq,
            last: 0,
            index: None,
        }
    }

    fn find(&mut self, id: &SessionId) -> Option<usize> {
        let near = [self.last, self.last + 1]
            .into_iter()
            .find(|&i| self.seq.get(i).is_some_and(|(_, x)| *x == id));
        let i = match near {
            Some(i) => i,
            None => self
                .index
                .get_or_insert_with(|| IdIndex::new(self.seq.iter().map(|(_, id)| *id)))
                .get(id)?,
        };
        self.last = i;
        Some(self.seq[i].0)
    }
}

/// Finds a session's position from its id by a 64-bit hash of the id
/// (FNV-1a): integer comparisons in a sorted vector instead of string
/// comparisons in a tree, which dominated the planner at 10^6 orphans.
/// Equal hashes are told apart by comparing the ids themselves.
struct IdIndex<'a> {
    sorted: Vec<(u64, usize, &'a SessionId)>,
}

impl<'a> IdIndex<'a> {
    fn hash(id: &SessionId) -> u64 {
        id.0.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    fn new(ids: impl Iterator<Item = &'a SessionId>) -> Self {
        let mut sorted: Vec<(u64, usize, &SessionId)> =
            ids.enumerate().map(|(i, id)| (Self::hash(id), i, id)).collect();
        sorted.sort_unstable_by_key(|&(h, i, _)| (h, i));
        Self { sorted }
    }

    fn get(&self, id: &SessionId) -> Option<usize> {
        let h = Self::hash(id);
        let from = self.sorted.partition_point(|&(x, ..)| x < h);
        self.sorted[from..]
            .iter()
            .take_while(|&&(x, ..)| x == h)
            .find(|&&(.., other)| other == id)
            .map(|&(_, i, _)| i)
    }
}

/// A session's span for ownership: `[start, max(end, start + 1 ms))`, so a
/// single-event session still owns the imported window it sits in.
fn owner_span(start: Timestamp, end: Timestamp) -> (Timestamp, Timestamp) {
    (start, end.max(Timestamp(start.0 + 1)))
}

/// Gives each loose block the earliest session (by start) whose span
/// overlaps it, among sessions not yet `reduced`: a reduced session's log is
/// closed, so a block overlapping only reduced sessions stays loose and
/// `doctor` lists it. `all` is sorted by [`order_key`]; `end_at[i]` is the
/// end of `all[i]`, recovered or not.
fn assign_owners(all: &[&SessionSpan], end_at: &[Option<Timestamp>], blocks: &[BlockSpan]) -> Vec<(u64, SessionId)> {
    let open: Vec<(Timestamp, Timestamp, &SessionId)> = all
        .iter()
        .zip(end_at)
        .filter(|(s, _)| !s.reduced)
        .filter_map(|(s, end)| {
            let (a, b) = owner_span(s.start, (*end)?);
            Some((a, b, &s.id))
        })
        .collect();
    // Running maximum of ends: monotone, so a binary search finds the first
    // session that could reach past a block's start.
    let mut reach = Vec::with_capacity(open.len());
    let mut max = Timestamp(i64::MIN);
    for (_, end, _) in &open {
        max = max.max(*end);
        reach.push(max);
    }
    let mut owners: Vec<(u64, SessionId)> = blocks
        .iter()
        .filter(|b| b.owner.is_none())
        .filter_map(|b| {
            let first = reach.partition_point(|r| *r <= b.start);
            open[first..]
                .iter()
                .take_while(|(start, ..)| *start < b.end)
                .find(|(_, end, _)| *end > b.start)
                .map(|(.., id)| (b.loose_id, (*id).clone()))
        })
        .collect();
    owners.sort();
    owners
}

/// The literal per-orphan reading of SPEC §7, quadratic; the reference the
/// fast planner is tested against.
pub fn plan_naive(input: &RecoveryInput, max_session: Duration, empty_session: Duration) -> RecoveryPlan {
    let mut orphans: Vec<&SessionSpan> = input.sessions.iter().filter(|s| s.end.is_none()).collect();
    orphans.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let mut ends = Vec::new();
    for r in orphans {
        let next = input
            .sessions
            .iter()
            .filter(|s| order_key(s) > order_key(r))
            .map(|s| s.start)
            .min();
        let upper = next.map_or(r.start + max_session, |n| n.min(r.start + max_session));
        let events = input
            .last_events
            .iter()
            .filter(|(id, _)| *id == r.id)
            .map(|(_, at)| *at);
        let blocks = input
            .blocks
            .iter()
            .filter(|b| {
                b.owner
                    .is_none_or(|o| input.sessions.get(o).is_some_and(|s| s.id == r.id))
            })
            .filter(|b| r.start <= b.start && b.start < upper)
            .map(|b| b.end);
        let evidence = events.chain(blocks).max();
        let (end, bound) = decide(r.start, next, evidence, max_session, empty_session);
        ends.push(RecoveredEnd {
            id: r.id.clone(),
            end,
            had_evidence: evidence.is_some(),
            bound,
        });
    }
    let mut owners = Vec::new();
    for b in input.blocks.iter().filter(|b| b.owner.is_none()) {
        let owner = input
            .sessions
            .iter()
            .filter(|s| !s.reduced)
            .filter_map(|s| {
                let end = s.end.or_else(|| ends.iter().find(|e| e.id == s.id).map(|e| e.end))?;
                let (a, z) = owner_span(s.start, end);
                (a < b.end && b.start < z).then_some(s)
            })
            .min_by(|x, y| order_key(x).cmp(&order_key(y)));
        if let Some(s) = owner {
            owners.push((b.loose_id, s.id.clone()));
        }
    }
    owners.sort();
    RecoveryPlan { ends, owners }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{Arbitrary, Gen, quickcheck};

    const MAX: Duration = Duration::from_secs(2 * 3600);
    const EMPTY: Duration = Duration::from_secs(60);

    #[test]
    fn bound_counts_count_each_orphan_once_by_evidence_and_bound() {
        let end = |i: usize, had_evidence, bound| RecoveredEnd {
            id: SessionId(format!("s{i}")),
            end: Timestamp(i as i64),
            had_evidence,
            bound,
        };
        let kinds = [
            (true, EndBound::Evidence, 1),
            (true, EndBound::NextSession, 2),
            (true, EndBound::MaxSession, 3),
            (false, EndBound::Fallback, 4),
            (false, EndBound::NextSession, 5),
            (false, EndBound::MaxSession, 6),
        ];
        let mut ends = Vec::new();
        for (had_evidence, bound, n) in kinds {
            let first = ends.len();
            ends.extend((first..first + n).map(|i| end(i, had_evidence, bound)));
        }
        let plan = RecoveryPlan {
            ends,
            owners: Vec::new(),
        };
        assert_eq!(
            plan.bound_counts(),
            BoundCounts {
                evidence: 1,
                evidence_next_session: 2,
                evidence_max_session: 3,
                fallback: 4,
                fallback_next_session: 5,
                fallback_max_session: 6,
            }
        );
        assert_eq!(RecoveryPlan::default().bound_counts(), BoundCounts::default());
    }

    /// A small random world: sessions on a coarse grid so starts collide
    /// and blocks land on boundaries often.
    #[derive(Clone, Debug)]
    struct World(RecoveryInput);

    impl Arbitrary for World {
        fn arbitrary(g: &mut Gen) -> Self {
            let minute = 60_000;
            let n = usize::arbitrary(g) % 8;
            let sessions: Vec<SessionSpan> = (0..n)
                .map(|i| {
                    let start = Timestamp(i64::from(u8::arbitrary(g) % 200) * minute);
                    let end =
                        bool::arbitrary(g).then(|| Timestamp(start.0 + i64::from(u8::arbitrary(g) % 20) * minute));
                    SessionSpan {
                        id: SessionId(format!("s{i}")),
                        start,
                        end,
                        reduced: bool::arbitrary(g) && end.is_some(),
                    }
                })
                .collect();
            let mut last_events = Vec::new();
            for s in sessions.iter().filter(|s| s.end.is_none()) {
                if bool::arbitrary(g) {
                    last_events.push((
                        s.id.clone(),
                        Timestamp(s.start.0 + i64::from(u8::arbitrary(g) % 200) * minute),
                    ));
                }
            }
            let mut blocks = Vec::new();
            for k in 0..usize::arbitrary(g) % 12 {
                // Now and then an index past the sessions: no one's.
                let owner = (n > 0 && bool::arbitrary(g)).then(|| usize::arbitrary(g) % (n + 1));
                let start = Timestamp(i64::from(u8::arbitrary(g)) * minute);
                blocks.push(BlockSpan {
                    owner,
                    loose_id: k as u64,
                    start,
                    end: Timestamp(start.0 + minute),
                });
            }
            Self(RecoveryInput {
                sessions,
                last_events,
                blocks,
            })
        }
    }

    quickcheck! {
        /// The fast planner equals the literal per-orphan reading.
        fn fast_plan_equals_naive_plan(w: World) -> bool {
            plan(&w.0, MAX, EMPTY) == plan_naive(&w.0, MAX, EMPTY)
        }

        /// The order evidence comes in changes nothing: grouped by orphan
        /// (for the latest events, the order the finder's near guess
        /// serves) or reversed (the order that misses it every time); the
        /// blocks, read by their owner's index, in either order too.
        fn evidence_order_does_not_matter(w: World) -> bool {
            let planned = plan(&w.0, MAX, EMPTY);
            let mut grouped = w.0.clone();
            grouped.last_events.sort();
            grouped.blocks.sort_by(|a, b| (&a.owner, a.start).cmp(&(&b.owner, b.start)));
            let mut reversed = grouped.clone();
            reversed.last_events.reverse();
            reversed.blocks.reverse();
            plan(&grouped, MAX, EMPTY) == planned && plan(&reversed, MAX, EMPTY) == planned
        }

        /// The order the sessions come in changes nothing either: sorted
        /// by id (as the SQLite store reads them) or reversed, the blocks'
        /// owners following their sessions.
        fn session_order_does_not_matter(w: World) -> bool {
            let planned = plan(&w.0, MAX, EMPTY);
            let mut order: Vec<usize> = (0..w.0.sessions.len()).collect();
            order.sort_by(|&a, &b| w.0.sessions[a].id.cmp(&w.0.sessions[b].id));
            let by_id = reordered(&w.0, &order);
            order.reverse();
            let reversed = reordered(&w.0, &order);
            plan(&by_id, MAX, EMPTY) == planned && plan(&reversed, MAX, EMPTY) == planned
        }

        /// Recovered ends never pass the next session's start or the cap,
        /// and never precede the orphan's own start.
        fn recovered_ends_respect_limits(w: World) -> bool {
            let p = plan(&w.0, MAX, EMPTY);
            p.ends.iter().all(|e| {
                let s = w.0.sessions.iter().find(|s| s.id == e.id).unwrap();
                let next_ok = w.0.sessions.iter().filter(|o| order_key(o) > order_key(s)).all(|o| e.end <= o.start);
                e.end >= s.start && e.end <= s.start + MAX && next_ok
            })
        }
    }

    /// `input` with its sessions in `order` (old indices) and each owned
    /// block's owner the same session at its new index.
    fn reordered(input: &RecoveryInput, order: &[usize]) -> RecoveryInput {
        let mut at = vec![usize::MAX; input.sessions.len()];
        for (new, &old) in order.iter().enumerate() {
            at[old] = new;
        }
        RecoveryInput {
            sessions: order.iter().map(|&i| input.sessions[i].clone()).collect(),
            last_events: input.last_events.clone(),
            blocks: input
                .blocks
                .iter()
                .map(|b| BlockSpan {
                    owner: b.owner.map(|o| at.get(o).copied().unwrap_or(o)),
                    ..b.clone()
                })
                .collect(),
        }
    }

    fn span(id: &str, start_min: i64, end_min: Option<i64>) -> SessionSpan {
        SessionSpan {
            id: id.into(),
            start: Timestamp(start_min * 60_000),
            end: end_min.map(|m| Timestamp(m * 60_000)),
            reduced: false,
        }
    }

    #[test]
    fn equal_starts_do_not_share_evidence() {
        let input = RecoveryInput {
            sessions: vec![span("a", 10, None), span("b", 10, None)],
            last_events: vec![],
            blocks: vec![BlockSpan {
                owner: None,
                loose_id: 1,
                start: Timestamp(12 * 60_000),
                end: Timestamp(13 * 60_000),
            }],
        };
        let p = plan(&input, MAX, EMPTY);
        assert_eq!(p.ends[0].end, Timestamp(10 * 60_000), "a is bounded by b's equal start");
        assert_eq!(p.ends[1].end, Timestamp(13 * 60_000));
        assert_eq!(p, plan_naive(&input, MAX, EMPTY));
    }
}
