//! The durable boundary. Every [`Store`] method is one atomic transaction:
//! it commits entirely or not at all, and nothing is committed on drop. The
//! engine keeps no durable state of its own; after a crash, what a store
//! returns is all there is.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::block::{Block, LooseBlock};
use crate::error::Error;
use crate::event::{Event, StoredEvent};
use crate::recovery::{RecoveryInput, RecoveryPlan};
use crate::reduction::{Entry, ReductionCommit};
use crate::session::{EndReason, Session, SessionId};
use crate::time::Timestamp;

/// What reduce-pending makes of one batch: given the batch's sessions and
/// each one's uncovered blocks (in the same order), the commit of each
/// session's reduction, in that order ([`crate::page_commits`]). A plain
/// function pointer, `Send` and `Sync`: a store may call it on a thread of
/// its own ([`Store::prefetch_pending_reductions`]), while core itself
/// stays free of threads. Each session's commit depends on that session
/// and its blocks alone, so a store may also call it on parts of a batch
/// (in any order, on any threads) and put the parts' commits together in
/// the batch's order.
pub type MakeCommits = fn(&[Session], Vec<Vec<Block>>) -> Vec<ReductionCommit>;

/// One step of an ingest batch, applied in order inside one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestStep {
    /// End the open session and write its remaining blocks (the trailing
    /// partial window included), so no event of an ended session is ever
    /// outside a block.
    End {
        /// The session.
        id: SessionId,
        /// Its end: the attributed time of its last event.
        end: Timestamp,
        /// The cut rule or forced end.
        reason: EndReason,
        /// Its blocks not written yet.
        blocks: Vec<Block>,
    },
    /// Start a session together with its first event.
    Start {
        /// The new session row (active).
        session: Session,
        /// Its first event, attributed at `session.start`.
        first: Event,
    },
    /// Append a late event (SPEC §2) to a session of any status whose
    /// `[start, end]` holds its `at`; it is attributed at its `at`, in the
    /// block revision `rev` of its window.
    Late {
        /// The session.
        id: SessionId,
        /// Its revision (see [`crate::StoredEvent::rev`]).
        rev: u32,
        /// The event; attributed at its own `at`.
        event: Event,
    },
    /// Write new blocks of a session that late events made (their own
    /// revisions of windows that had a block already). A block already
    /// present is refused, so no block an entry covers ever changes.
    LateBlocks {
        /// The session.
        id: SessionId,
        /// The new blocks.
        blocks: Vec<Block>,
    },
    /// Append an event to an active session.
    Append {
        /// The session.
        id: SessionId,
        /// Attributed time.
        attributed: Timestamp,
        /// The event.
        event: Event,
    },
}

/// Where an instant lies among the stored sessions that are not active
/// (the engine knows the active one better than the store): what a late
/// event needs to find its session or its gap (SPEC §2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Around {
    /// The session whose `[start, end]` holds the instant, if any.
    pub holder: Option<Session>,
    /// The latest end before the instant (the gap's lower bound), when no
    /// session holds it; `None` when one does.
    pub before: Option<Timestamp>,
    /// The earliest start of any session, active included, after the
    /// instant (the gap's upper bound).
    pub after: Option<Timestamp>,
}

/// What a day file is rendered from (see [`Store::day_inputs`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayInputs {
    /// The day's entries, by `(from, id)`.
    pub entries: Vec<Entry>,
    /// Every session those entries reduce, by id, with its events by
    /// attributed time then `seq`.
    pub sessions: Vec<(Session, Vec<StoredEvent>)>,
}

/// The logical content of a store, in a canonical order, for checking and
/// for comparing two stores byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump {
    /// Sessions ordered by `(start, id)`.
    pub sessions: Vec<Session>,
    /// Events ordered by `seq`.
    pub events: Vec<StoredEvent>,
    /// Blocks ordered by key.
    pub blocks: Vec<Block>,
    /// Loose blocks ordered by id.
    pub loose_blocks: Vec<LooseBlock>,
    /// Entries ordered by id.
    pub entries: Vec<Entry>,
    /// Day files as found on disk (`YYYY-MM-DD` → text), when the caller
    /// projects entries to files; `None` when there are none to check.
    pub day_files: Option<BTreeMap<String, String>>,
}

/// The durable store the engine runs on. Implementations: [`crate::MemStore`]
/// (the reference model) and the daemon's SQLite store.
///
/// Every method is one transaction; an `Err` means nothing of it committed.
pub trait Store {
    /// Adds sessions (any phase, ids kept) and loose blocks as an importer
    /// brings them from another tool, in one transaction. A session whose id
    /// already exists is skipped (the row stays as it is), and so is a loose
    /// block whose id was ever imported, even once recovery gave it an
    /// owner, so importing twice adds nothing.
    fn import(&mut self, sessions: &[Session], loose: &[LooseBlock]) -> Result<(), Error>;

    /// Applies an ingest batch (session ends, starts, appended events) in
    /// one transaction: the group commit behind every acknowledgement.
    fn ingest(&mut self, steps: &[IngestStep]) -> Result<(), Error>;

    /// Ends an active session and writes its remaining blocks.
    fn end_session(&mut self, id: &SessionId, end: Timestamp, reason: EndReason, blocks: &[Block])
    -> Result<(), Error>;

    /// Writes blocks; a block already present keeps its coverage (content
    /// is a pure function of the events, so a rewrite is identical).
    fn write_blocks(&mut self, blocks: &[Block]) -> Result<(), Error>;

    /// Commits a reduction: the entry, the mark on each covered block, the
    /// session's `flush_end` and, if `finish`, `reduced`. Refuses
    /// (`Conflict`) if the session is already reduced (unless the entry is
    /// a `late` one, which never finishes), a block is already
    /// covered or missing, blocks are covered without an entry, the entry
    /// belongs to another session, or an active session would be finished.
    /// Returns the new entry, if one was written.
    fn commit_reduction(&mut self, commit: &ReductionCommit) -> Result<Option<Entry>, Error>;

    /// Commits many reductions in ONE transaction (one fsync for all of
    /// them), applied in order, each with the same checks as
    /// [`Store::commit_reduction`] against the state the earlier ones left.
    /// All or nothing: if any commit is refused, none of the batch commits
    /// and the error is that commit's. Returns, per commit and in order,
    /// the new entry if one was written; entry ids increase in batch order.
    fn commit_reductions(&mut self, commits: &[ReductionCommit]) -> Result<Vec<Option<Entry>>, Error>;

    /// Marks a final reduction failed: status `failed`, the new retry count
    /// and when to try again.
    fn mark_failed(&mut self, id: &SessionId, retry_count: u32, next_retry_at: Timestamp) -> Result<(), Error>;

    /// Applies a recovery plan: every planned orphan becomes `ended` with
    /// reason `recovered`, and each planned loose block moves to its owner
    /// (unless the owner already has a block at that window, in which case
    /// it stays loose). Orphans no longer active are left alone, so applying
    /// a stale plan twice changes nothing.
    fn recover(&mut self, plan: &RecoveryPlan) -> Result<(), Error>;

    /// Every `active` session, by `(start, id)`.
    fn active_sessions(&self) -> Result<Vec<Session>, Error>;

    /// Where `at` lies among the sessions that are not active (see
    /// [`Around`]).
    fn around(&self, at: Timestamp) -> Result<Around, Error>;

    /// [`Store::around`] of each of `ats` (any order, repeats allowed), in
    /// the same order, from one read: an ingest batch's late events ask
    /// for all their instants at once instead of one indexed read each
    /// (SPEC §2). Each result equals what `around` returns for that
    /// instant. The default asks `around` once per instant; a store with
    /// range reads reads the sessions from the one before the earliest
    /// instant to the one after the latest in one pass.
    fn around_each(&self, ats: &[Timestamp]) -> Result<Vec<Around>, Error> {
        ats.iter().map(|&at| self.around(at)).collect()
    }

    /// Every block of one session's window, every revision, by revision.
    fn window_blocks(&self, id: &SessionId, start: Timestamp) -> Result<Vec<Block>, Error>;

    /// Every `ended` or `failed` session, and every `reduced` one that late
    /// events gave uncovered blocks, by `(start, id)`: reduce-pending's work.
    fn pending_sessions(&self) -> Result<Vec<Session>, Error>;

    /// The uncovered blocks (as [`Store::uncovered_blocks`]) of each of
    /// `sessions`, in their order, in one read: reduce-pending's input a
    /// batch of [`Store::pending_sessions`] at a time, without a query
    /// per session. The default asks per session; a store with set-based
    /// reads does it in one pass.
    fn pending_blocks(&self, sessions: &[Session]) -> Result<Vec<Vec<Block>>, Error> {
        sessions.iter().map(|s| self.uncovered_blocks(&s.id)).collect()
    }

    /// Reduce-pending's commits for one batch: `make` of `sessions` and
    /// their [`Store::pending_blocks`]. That is all the default does. A
    /// store told of this batch beforehand
    /// ([`Store::prefetch_pending_reductions`]) may answer from what it
    /// worked out since, off the caller's thread (and on it, for what was
    /// not done by the time of the ask), under that method's rules.
    /// `make` is a plain function (reduce-pending's is
    /// [`crate::page_commits`]): no captured state, so a store may run it
    /// on any thread, and its answer depends on its two arguments alone.
    fn pending_reductions(&self, sessions: &[Session], make: MakeCommits) -> Result<Vec<ReductionCommit>, Error> {
        Ok(make(sessions, self.pending_blocks(sessions)?))
    }

    /// A hint from reduce-pending: the next [`Store::pending_reductions`]
    /// call will be for exactly `next` (the same sessions, in that order)
    /// and the same `make`, and until then this store will only commit
    /// reductions of other sessions. A store may start that call's work
    /// now (the read and `make`), off the caller's thread, and answer the
    /// call from it, but only if the hint held: the call asks for exactly
    /// `next` with the same `make`, and nothing was written since but
    /// reductions of sessions not in `next` (which leave `next`'s blocks
    /// and coverage as they were). Since `make`'s answer depends only on
    /// the sessions and their blocks, the early answer is then the late
    /// one. Otherwise it works afresh. Only a read and a computation: it
    /// changes nothing a crash could lose, and an error in the read is the
    /// call's error. The default does nothing (the call works then), as
    /// the pure stores do; so does a store asked with `next` empty.
    fn prefetch_pending_reductions(&self, next: &[Session], make: MakeCommits) {
        let _ = (next, make);
    }

    /// `failed` sessions whose retry is due at `now`, by `(start, id)`.
    fn due_sessions(&self, now: Timestamp) -> Result<Vec<Session>, Error>;

    /// One session.
    fn session(&self, id: &SessionId) -> Result<Option<Session>, Error>;

    /// A session's events, by attributed time then `seq`.
    fn session_events(&self, id: &SessionId) -> Result<Vec<StoredEvent>, Error>;

    /// The events of every active session, by `(session id, attributed
    /// time, seq)`, in one read: what startup builds orphans' blocks from,
    /// without a query per orphan.
    fn active_events(&self) -> Result<Vec<StoredEvent>, Error>;

    /// A session's blocks that no entry covers, by start.
    fn uncovered_blocks(&self, id: &SessionId) -> Result<Vec<Block>, Error>;

    /// The latest end of any session: the time floor after a restart.
    fn latest_end(&self) -> Result<Option<Timestamp>, Error>;

    /// What the recovery planner needs, gathered set-based. Any order
    /// gives the same plan (an owned block names its owner by its index
    /// in `sessions`); `last_events` grouped by session, in the order of
    /// `sessions`, plans fastest (see [`crate::recovery::plan`]).
    fn recovery_input(&self) -> Result<RecoveryInput, Error>;

    /// Entries whose window starts on `day` (local date), by `(from, id)`.
    fn entries_for_day(&self, day: chrono::NaiveDate) -> Result<Vec<Entry>, Error>;

    /// What a day file is rendered from, in one read: the entries of `day`
    /// (as [`Store::entries_for_day`]) and every session they reduce, by
    /// id, with its events (as [`Store::session`] and
    /// [`Store::session_events`]). The default composes those per session;
    /// a store with set-based reads does it in a fixed number of queries,
    /// which matters when a day holds hundreds of imported sessions.
    fn day_inputs(&self, day: chrono::NaiveDate) -> Result<DayInputs, Error> {
        let entries = self.entries_for_day(day)?;
        let ids: BTreeSet<&SessionId> = entries.iter().map(|e| &e.session_id).collect();
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(session) = self.session(id)? {
                let events = self.session_events(id)?;
                sessions.push((session, events));
            }
        }
        Ok(DayInputs { entries, sessions })
    }

    /// The logical content, for the oracle and for byte-for-byte comparison.
    fn dump(&self) -> Result<Dump, Error>;
}
