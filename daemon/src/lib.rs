//! `daybook`: the daemon that runs daybook's session engine over one SQLite
//! file, serves its HTTP API on loopback, writes the per-day Markdown log,
//! and the command line that drives it.
//!
//! What it never does: decide anything the engine decides (cuts,
//! attribution, recovery and reductions live in `daybook-core`),
//! acknowledge an event before its transaction committed, or run two
//! daemons on one data directory.

pub mod cli;
pub mod clock;
pub mod config;
pub mod crash;
pub mod datadir;
pub mod error;
pub mod http;
pub mod import;
pub mod privacy;
pub mod projection;
mod schema;
pub mod server;
pub mod service;
pub mod store;
pub mod summarizer;
pub mod token;

pub use error::{Error, Result};
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;
