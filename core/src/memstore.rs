//! `MemStore`: the in-memory reference [`Store`].
//!
//! Its committed state is a [`MemState`] behind a shared handle that lives
//! outside whatever owns the store: drop the engine (a simulated kill) and
//! the handle still holds exactly what was committed, nothing in flight.
//! Each method validates the whole transaction before it changes anything,
//! so an `Err` leaves the state untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::NaiveDate;

use crate::block::{Block, BlockKey, EntryId, LooseBlock};
use crate::error::Error;
use crate::event::StoredEvent;
use crate::recovery::{BlockSpan, RecoveryInput, RecoveryPlan, SessionSpan};
use crate::reduction::{Entry, EntryKind, ReductionCommit};
use crate::session::{EndReason, Phase, Session, SessionId};
use crate::store::{Around, Dump, IngestStep, Store};
use crate::time::Timestamp;

/// Everything a [`MemStore`] has committed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState {
    sessions: BTreeMap<SessionId, Session>,
    events: Vec<StoredEvent>,
    blocks: BTreeMap<BlockKey, Block>,
    loose: BTreeMap<u64, LooseBlock>,
    /// Every loose block id ever imported, owned since or not.
    imported: BTreeSet<u64>,
    entries: BTreeMap<EntryId, Entry>,
    next_entry: EntryId,
}

/// The in-memory store. Cloning it shares the same committed state.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    state: Arc<Mutex<MemState>>,
}

fn conflict(session: &SessionId, reason: &'static str) -> Error {
    Error::Conflict {
        session: session.clone(),
        reason,
    }
}

fn by_start(mut sessions: Vec<Session>) -> Vec<Session> {
    sessions.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    sessions
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store over an existing committed state (a restart after a crash).
    pub fn from_shared(state: Arc<Mutex<MemState>>) -> Self {
        Self { state }
    }

    /// The handle to the committed state, to keep across a simulated crash.
    pub fn shared(&self) -> Arc<Mutex<MemState>> {
        Arc::clone(&self.state)
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        // A panic never happens while a transaction is half applied (every
        // method validates before it mutates), so a poisoned lock still
        // guards a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MemState {
    /// Where `at` lies among the sessions, by a scan of them all (see
    /// [`Store::around`]).
    fn around(&self, at: Timestamp) -> Around {
        let mut around = Around::default();
        for s in self.sessions.values() {
            match s.phase.end() {
                None if s.start > at => around.after = Some(around.after.map_or(s.start, |t| t.min(s.start))),
                None => {}
                Some(end) if s.start <= at && at <= end => around.holder = Some(s.clone()),
                Some(end) if end < at => around.before = Some(around.before.map_or(end, |t| t.max(end))),
                Some(_) => around.after = Some(around.after.map_or(s.start, |t| t.min(s.start))),
            }
        }
        // A gap's lower bound means something only where there is a gap:
        // with a holder (a zero-length session may end just before it,
        // sharing its start) there is none.
        if around.holder.is_some() {
            around.before = None;
        }
        around
    }

    /// One reduction, checked whole before anything changes.
    fn reduce(&mut self, commit: &ReductionCommit) -> Result<Option<Entry>, Error> {
        let id = &commit.session_id;
        let session = self.sessions.get(id).ok_or_else(|| Error::UnknownSession(id.clone()))?;
        let late = commit.entry.as_ref().is_some_and(|e| e.kind == EntryKind::Late);
        if matches!(session.phase, Phase::Reduced { .. }) && !late {
            return Err(conflict(id, "session is already reduced"));
        }
        if late && commit.finish {
            return Err(conflict(id, "a late entry never finishes a session"));
        }
        if commit.entry.is_none() && !commit.covered.is_empty() {
            return Err(conflict(id, "blocks can only be covered by an entry"));
        }
        if commit.entry.as_ref().is_some_and(|e| e.session_id != *id) {
            return Err(conflict(id, "an entry covers blocks of its own session only"));
        }
        if commit.finish && session.phase == Phase::Active {
            return Err(conflict(id, "an active session cannot be finished"));
        }
        for &(start, rev) in &commit.covered {
            let key = BlockKey {
                session_id: id.clone(),
                start,
                rev,
            };
            match self.blocks.get(&key) {
                None => return Err(conflict(id, "covered block does not exist")),
                Some(b) if b.covered_by.is_some() => {
                    return Err(conflict(id, "block is already covered"));
                }
                Some(_) => {}
            }
        }
        let entry = commit.entry.as_ref().map(|e| {
            self.next_entry += 1;
            e.committed(self.next_entry)
        });
        if let Some(e) = &entry {
            self.entries.insert(e.id, e.clone());
            for &(start, rev) in &commit.covered {
                let key = BlockKey {
                    session_id: id.clone(),
                    start,
                    rev,
                };
                if let Some(b) = self.blocks.get_mut(&key) {
                    b.covered_by = Some(e.id);
                }
            }
        }
        let session = self.sessions.get_mut(id).expect("checked above");
        if commit.flush_end.is_some() {
            session.flush_end = commit.flush_end;
        }
        if commit.finish
            && let (Some(end), Some(reason)) = (session.phase.end(), session.phase.reason())
        {
            session.phase = Phase::Reduced { end, reason };
        }
        Ok(entry)
    }

    fn is_active(&self, id: &SessionId) -> bool {
        self.sessions.get(id).is_some_and(|s| s.phase == Phase::Active)
    }

    fn upsert_blocks(&mut self, blocks: &[Block]) {
        for b in blocks {
            let key = b.key();
            let covered_by = self.blocks.get(&key).and_then(|old| old.covered_by);
            self.blocks.insert(
                key,
                Block {
                    covered_by,
                    ..b.clone()
                },
            );
        }
    }

    fn end(&mut self, id: &SessionId, end: Timestamp, reason: EndReason) {
        if let Some(s) = self.sessions.get_mut(id) {
            s.phase = Phase::Ended { end, reason };
        }
    }
}

impl Store for MemStore {
    fn import(&mut self, sessions: &[Session], loose: &[LooseBlock]) -> Result<(), Error> {
        let mut st = self.lock();
        for s in sessions {
            st.sessions.entry(s.id.clone()).or_insert_with(|| s.clone());
        }
        for b in loose {
            if st.imported.insert(b.id) {
                st.loose.insert(b.id, b.clone());
            }
        }
        Ok(())
    }

    fn ingest(&mut self, steps: &[IngestStep]) -> Result<(), Error> {
        let mut st = self.lock();
        // Validate the whole batch against the committed state plus the
        // batch's own earlier steps.
        let mut active: BTreeMap<&SessionId, bool> = BTreeMap::new();
        let is_active = |st: &MemState, active: &BTreeMap<&SessionId, bool>, id: &SessionId| {
            active.get(id).copied().unwrap_or_else(|| st.is_active(id))
        };
        // The `[start, end]` of sessions the batch started or ended, as
        // its later steps see them (a late step is checked against them).
        let mut bounds: BTreeMap<&SessionId, (Timestamp, Option<Timestamp>)> = BTreeMap::new();
        for step in steps {
            match step {
                IngestStep::End { id, end, blocks, .. } => {
                    if !is_active(&st, &active, id) {
                        return Err(conflict(id, "only an active session can end"));
                    }
                    if blocks.iter().any(|b| b.session_id != *id) {
                        return Err(conflict(id, "a block of another session"));
                    }
                    active.insert(id, false);
                    let start = bounds
                        .get(id)
                        .map(|b| b.0)
                        .or_else(|| st.sessions.get(id).map(|s| s.start));
                    if let Some(start) = start {
                        bounds.insert(id, (start, Some(*end)));
                    }
                }
                IngestStep::Start { session, .. } => {
                    if st.sessions.contains_key(&session.id) || active.contains_key(&session.id) {
                        return Err(conflict(&session.id, "session id already exists"));
                    }
                    active.insert(&session.id, true);
                    bounds.insert(&session.id, (session.start, None));
                }
                IngestStep::Append { id, .. } => {
                    if !is_active(&st, &active, id) {
                        return Err(conflict(id, "events go to an active session only"));
                    }
                }
                IngestStep::Late { id, event, .. } => {
                    let bounds = bounds
                        .get(id)
                        .copied()
                        .or_else(|| st.sessions.get(id).map(|s| (s.start, s.phase.end())));
                    match bounds {
                        None => return Err(Error::UnknownSession(id.clone())),
                        Some((start, end)) if event.at < start || end.is_some_and(|end| event.at > end) => {
                            return Err(conflict(id, "a late event lies outside its session"));
                        }
                        Some(_) => {}
                    }
                }
                IngestStep::LateBlocks { id, blocks } => {
                    if !st.sessions.contains_key(id) && !active.contains_key(id) {
                        return Err(Error::UnknownSession(id.clone()));
                    }
                    if blocks.iter().any(|b| b.session_id != *id) {
                        return Err(conflict(id, "a block of another session"));
                    }
                    if blocks.iter().any(|b| st.blocks.contains_key(&b.key())) {
                        return Err(conflict(id, "a late block would replace a block"));
                    }
                }
            }
        }
        for step in steps {
            let seq = st.events.len() as u64 + 1;
            match step {
                IngestStep::End {
                    id,
                    end,
                    reason,
                    blocks,
                } => {
                    st.end(id, *end, *reason);
                    st.upsert_blocks(blocks);
                }
                IngestStep::Start { session, first } => {
                    st.sessions.insert(session.id.clone(), session.clone());
                    st.events.push(StoredEvent {
                        seq,
                        session_id: session.id.clone(),
                        attributed: session.start,
                        rev: 0,
                        event: first.clone(),
                    });
                }
                IngestStep::Append { id, attributed, event } => {
                    st.events.push(StoredEvent {
                        seq,
                        session_id: id.clone(),
                        attributed: *attributed,
                        rev: 0,
                        event: event.clone(),
                    });
                }
                IngestStep::Late { id, rev, event } => {
                    st.events.push(StoredEvent {
                        seq,
                        session_id: id.clone(),
                        attributed: event.at,
                        rev: *rev,
                        event: event.clone(),
                    });
                }
                IngestStep::LateBlocks { blocks, .. } => {
                    for b in blocks {
                        st.blocks.insert(b.key(), b.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn end_session(
        &mut self,
        id: &SessionId,
        end: Timestamp,
        reason: EndReason,
        blocks: &[Block],
    ) -> Result<(), Error> {
        let mut st = self.lock();
        if !st.is_active(id) {
            return Err(conflict(id, "only an active session can end"));
        }
        if blocks.iter().any(|b| b.session_id != *id) {
            return Err(conflict(id, "a block of another session"));
        }
        st.end(id, end, reason);
        st.upsert_blocks(blocks);
        Ok(())
    }

    fn write_blocks(&mut self, blocks: &[Block]) -> Result<(), Error> {
        let mut st = self.lock();
        if let Some(b) = blocks.iter().find(|b| !st.sessions.contains_key(&b.session_id)) {
            return Err(Error::UnknownSession(b.session_id.clone()));
        }
        st.upsert_blocks(blocks);
        Ok(())
    }

    fn commit_reduction(&mut self, commit: &ReductionCommit) -> Result<Option<Entry>, Error> {
        self.lock().reduce(commit)
    }

    fn commit_reductions(&mut self, commits: &[ReductionCommit]) -> Result<Vec<Option<Entry>>, Error> {
        let mut st = self.lock();
        // Later commits are checked against what earlier ones did, so the
        // batch runs on a copy that replaces the state only if all pass.
        let mut next = st.clone();
        let entries = commits.iter().map(|c| next.reduce(c)).collect::<Result<_, _>>()?;
        *st = next;
        Ok(entries)
    }

    fn mark_failed(&mut self, id: &SessionId, retry_count: u32, next_retry_at: Timestamp) -> Result<(), Error> {
        let mut st = self.lock();
        let session = st
            .sessions
            .get_mut(id)
            .ok_or_else(|| Error::UnknownSession(id.clone()))?;
        let (end, reason) = match session.phase {
            Phase::Ended { end, reason } | Phase::Failed { end, reason, .. } => (end, reason),
            Phase::Active | Phase::Reduced { .. } => {
                return Err(conflict(id, "only an ended session can fail"));
            }
        };
        session.phase = Phase::Failed {
            end,
            reason,
            next_retry_at,
        };
        session.retry_count = retry_count;
        Ok(())
    }

    fn recover(&mut self, plan: &RecoveryPlan) -> Result<(), Error> {
        let mut st = self.lock();
        for e in &plan.ends {
            if st.is_active(&e.id) {
                st.end(&e.id, e.end, EndReason::Recovered);
            }
        }
        for (loose_id, owner) in &plan.owners {
            let Some(loose) = st.loose.get(loose_id) else {
                continue;
            };
            let block = loose.owned_by(owner.clone());
            let open = st
                .sessions
                .get(owner)
                .is_some_and(|s| !matches!(s.phase, Phase::Reduced { .. }));
            if open && !st.blocks.contains_key(&block.key()) {
                st.loose.remove(loose_id);
                st.blocks.insert(block.key(), block);
            }
        }
        Ok(())
    }

    fn active_sessions(&self) -> Result<Vec<Session>, Error> {
        let st = self.lock();
        Ok(by_start(
            st.sessions
                .values()
                .filter(|s| s.phase == Phase::Active)
                .cloned()
                .collect(),
        ))
    }

    fn around(&self, at: Timestamp) -> Result<Around, Error> {
        Ok(self.lock().around(at))
    }

    /// The reference: [`MemState::around`] of each instant, under one lock.
    fn around_each(&self, ats: &[Timestamp]) -> Result<Vec<Around>, Error> {
        let st = self.lock();
        Ok(ats.iter().map(|&at| st.around(at)).collect())
    }

    fn window_blocks(&self, id: &SessionId, start: Timestamp) -> Result<Vec<Block>, Error> {
        let st = self.lock();
        let key = |rev| BlockKey {
            session_id: id.clone(),
            start,
            rev,
        };
        Ok(st
            .blocks
            .range(key(0)..=key(u32::MAX))
            .map(|(_, b)| b.clone())
            .collect())
    }

    fn pending_sessions(&self) -> Result<Vec<Session>, Error> {
        let st = self.lock();
        let late: BTreeSet<&SessionId> = st
            .blocks
            .values()
            .filter(|b| b.covered_by.is_none())
            .map(|b| &b.session_id)
            .collect();
        let pending = |s: &&Session| match s.phase {
            Phase::Ended { .. } | Phase::Failed { .. } => true,
            Phase::Reduced { .. } => late.contains(&s.id),
            Phase::Active => false,
        };
        Ok(by_start(st.sessions.values().filter(pending).cloned().collect()))
    }

    fn due_sessions(&self, now: Timestamp) -> Result<Vec<Session>, Error> {
        let st = self.lock();
        let due = |s: &&Session| matches!(s.phase, Phase::Failed { next_retry_at, .. } if next_retry_at <= now);
        Ok(by_start(st.sessions.values().filter(due).cloned().collect()))
    }

    fn session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        Ok(self.lock().sessions.get(id).cloned())
    }

    fn session_events(&self, id: &SessionId) -> Result<Vec<StoredEvent>, Error> {
        let st = self.lock();
        let mut events: Vec<StoredEvent> = st.events.iter().filter(|e| e.session_id == *id).cloned().collect();
        events.sort_by_key(|e| (e.attributed, e.seq));
        Ok(events)
    }

    fn active_events(&self) -> Result<Vec<StoredEvent>, Error> {
        let st = self.lock();
        let mut events: Vec<StoredEvent> = st
            .events
            .iter()
            .filter(|e| st.is_active(&e.session_id))
            .cloned()
            .collect();
        events.sort_by(|a, b| (&a.session_id, a.attributed, a.seq).cmp(&(&b.session_id, b.attributed, b.seq)));
        Ok(events)
    }

    fn uncovered_blocks(&self, id: &SessionId) -> Result<Vec<Block>, Error> {
        let st = self.lock();
        let from = BlockKey {
            session_id: id.clone(),
            start: Timestamp(i64::MIN),
            rev: 0,
        };
        Ok(st
            .blocks
            .range(from..)
            .take_while(|(k, _)| k.session_id == *id)
            .filter(|(_, b)| b.covered_by.is_none())
            .map(|(_, b)| b.clone())
            .collect())
    }

    fn latest_end(&self) -> Result<Option<Timestamp>, Error> {
        Ok(self.lock().sessions.values().filter_map(|s| s.phase.end()).max())
    }

    fn recovery_input(&self) -> Result<RecoveryInput, Error> {
        let st = self.lock();
        let sessions: Vec<SessionSpan> = st
            .sessions
            .values()
            .map(|s| SessionSpan {
                id: s.id.clone(),
                start: s.start,
                end: s.phase.end(),
                reduced: matches!(s.phase, Phase::Reduced { .. }),
            })
            .collect();
        // Each orphan (no end: active) by id, with its index in `sessions`.
        let at: BTreeMap<&SessionId, usize> = sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.end.is_none())
            .map(|(i, s)| (&s.id, i))
            .collect();
        let mut last: BTreeMap<&SessionId, Timestamp> = BTreeMap::new();
        for e in st.events.iter().filter(|e| at.contains_key(&e.session_id)) {
            let t = last.entry(&e.session_id).or_insert(e.attributed);
            *t = (*t).max(e.attributed);
        }
        let owned = st
            .blocks
            .values()
            .filter_map(|b| at.get(&b.session_id).map(|&i| (i, b)))
            .map(|(i, b)| BlockSpan {
                owner: Some(i),
                loose_id: 0,
                start: b.start,
                end: b.end,
            });
        let loose = st.loose.values().map(|b| BlockSpan {
            owner: None,
            loose_id: b.id,
            start: b.start,
            end: b.end,
        });
        let blocks = owned.chain(loose).collect();
        drop(at);
        Ok(RecoveryInput {
            sessions,
            last_events: last.into_iter().map(|(id, t)| (id.clone(), t)).collect(),
            blocks,
        })
    }

    fn entries_for_day(&self, day: NaiveDate) -> Result<Vec<Entry>, Error> {
        let st = self.lock();
        let mut entries: Vec<Entry> = st.entries.values().filter(|e| e.day() == day).cloned().collect();
        entries.sort_by_key(|e| (e.from, e.id));
        Ok(entries)
    }

    fn dump(&self) -> Result<Dump, Error> {
        let st = self.lock();
        Ok(Dump {
            sessions: by_start(st.sessions.values().cloned().collect()),
            events: st.events.clone(),
            blocks: st.blocks.values().cloned().collect(),
            loose_blocks: st.loose.values().cloned().collect(),
            entries: st.entries.values().cloned().collect(),
            day_files: None,
        })
    }
}
