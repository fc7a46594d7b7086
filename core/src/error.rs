//! The one error type of `daybook-core`.
//!
//! A rejected input is an `Err`; a domain outcome (a session cut, an orphan
//! recovered, a reduction that failed and will be retried) is an
//! [`crate::Output`], never an error.

use thiserror::Error;

use crate::session::SessionId;

/// Why the engine, a store or a summarizer refused to go on.
#[derive(Debug, Error)]
pub enum Error {
    /// An event field is missing, too long, or out of range; nothing of the
    /// event was stored.
    #[error("invalid event: field `{field}` {reason}")]
    InvalidEvent {
        /// The offending field's name as the API spells it.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting holds a value the engine cannot work with.
    #[error("invalid setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A write would break the store's own rules (a second entry over a
    /// covered block, a session id used twice, a reduced session reduced
    /// again); the transaction was rolled back.
    #[error("store conflict on session {session}: {reason}")]
    Conflict {
        /// The session the write was about.
        session: SessionId,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A session the engine referred to does not exist in the store.
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// An ActivityWatch bucket that does not exist was written to.
    #[error("no bucket {0:?}")]
    UnknownBucket(String),
    /// The storage layer failed; the transaction did not commit.
    #[error("storage failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The summarizer could not produce a summary; the reduction takes the
    /// retry path.
    #[error("summarizer failed: {0}")]
    Summarizer(#[source] Box<dyn std::error::Error + Send + Sync>),
}
