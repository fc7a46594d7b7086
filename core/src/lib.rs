//! `daybook-core`: daybook's pure session engine.
//!
//! It cuts a stream of activity events into work sessions (SPEC §4), folds
//! each session's events into one-minute blocks (§5), reduces blocks into
//! entries of the per-day log (§6), recovers sessions orphaned by a killed
//! daemon (§7), and checks the invariants that make all of that trustworthy
//! (§8). The simulator and the daemon run this same code.
//!
//! What it never does: I/O of any kind (no files, sockets, SQLite or
//! tokio), clock reads (every call takes `now`), randomness, threads, or
//! iteration over hash maps. Durable state lives behind the [`Store`]
//! trait, whose every method is one transaction; [`MemStore`] is the
//! in-memory reference implementation.

#![warn(missing_docs)]

pub mod aggregate;
pub mod block;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod daylog;
pub mod engine;
pub mod error;
pub mod event;
pub mod memstore;
pub mod openchronicle;
pub mod oracle;
pub mod recovery;
pub mod reduction;
pub mod search;
pub mod session;
pub mod store;
pub mod text;
pub mod time;
pub mod watcher;

pub use aggregate::{
    Aggregate, DayBounds, Detail, EventView, SessionAggregate, SessionInput, Span, aggregate, aggregate_day,
};
pub use block::{Block, BlockKey, EntryId, LooseBlock};
pub use config::Config;
pub use engine::{
    Engine, Ingested, Input, Output, REDUCE_BATCH, REDUCE_BATCH_WINDOWS, RequestId, Stale, SummarizerKind,
    SummaryAnswer, page_commits, plan_recovery, reduce_batch_len,
};
pub use error::Error;
pub use event::{Event, StoredEvent};
pub use memstore::{MemState, MemStore};
pub use oracle::{Violation, check, check_quiet, check_quiet_with, check_with};
pub use recovery::{BoundCounts, RecoveryInput, RecoveryPlan};
pub use reduction::{
    BuiltinSummarizer, Entry, EntryKind, NewEntry, ReductionCommit, Summarizer, Summary, SummaryRequest,
    builtin_summary,
};
pub use session::{EndReason, Phase, Session, SessionId};
pub use store::{Around, DayInputs, Dump, IngestStep, MakeCommits, Store};
pub use time::{Timestamp, UtcOffset};
pub use watcher::{AwEvent, AwWrite, Bucket, BucketKind, History, HistoryBatch, Watchers};
