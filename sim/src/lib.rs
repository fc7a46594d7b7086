//! `daybook-sim`: the deterministic crash simulator (issue 4).
//!
//! It runs the very `Engine` the daemon runs, inside a madsim node, through
//! a seed-generated day of one user (bursts over a handful of apps, soft
//! cuts and idle gaps, laptop sleeps, sessions past the timeout, a clock
//! set back, a DST change, summarizer outages, pause and resume, the 23:55
//! safety net), delivered the way real clients deliver (a queue replayed
//! after the daemon comes back, minutes to days late, some of it past
//! `max_lateness_days`; a second client whose clock lags and steps back),
//! and crashes it: the supervisor kills the
//! node at random instants, and [`faults::FaultyStore`] panics it just
//! before or after any durable step, inside startup recovery and around
//! reduction commits included. After every restart the core oracle and the
//! simulator's own [`audit`] must hold; at the end, once quiet, SPEC §8 in
//! full must hold against the workload's own record of acknowledged
//! events, and a second recovery must change nothing. Each seed yields a
//! trace hash; the same seed always yields the same hash.
//!
//! What it never does: read the real clock or real randomness (time is
//! madsim's, dice are [`rng::Rng`] seeded from the seed), or weaken a
//! check to make a seed pass. It holds no deliberate bugs: the mutants that
//! prove it catches bugs live in `sim/mutants/` and are applied to a copy
//! of the workspace by `sim/mutants/check.sh`.
//!
//! The simulator proper (`node`, `supervisor`, `world`) exists only in the
//! madsim build (`RUSTFLAGS="--cfg madsim"`); the workload, faults,
//! audits, trace and runner build and are tested everywhere.

pub mod audit;
pub mod coverage;
pub mod failure;
pub mod faults;
pub mod panics;
pub mod rng;
pub mod runner;
pub mod stores;
pub mod summarizer;
pub mod swarm;
pub mod trace;
pub mod workload;

#[cfg(madsim)]
mod node;
#[cfg(madsim)]
mod supervisor;
#[cfg(madsim)]
mod world;

pub use failure::{Failure, SeedReport};

/// Which store a run uses (also the `--store` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// `daybook_core::MemStore`, state kept outside the node.
    Mem,
    /// The daemon's `SqliteStore` on a per-seed temporary file.
    Sqlite,
}

impl StoreKind {
    /// The name `--store` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mem => "mem",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Runs one seed; `verbose` prints its trace as it goes.
#[cfg(madsim)]
pub fn run_seed(seed: u64, store: StoreKind, verbose: bool) -> Result<SeedReport, Failure> {
    match store {
        StoreKind::Mem => supervisor::run_seed(stores::MemFactory::new(), seed, verbose),
        #[cfg(feature = "sqlite")]
        StoreKind::Sqlite => supervisor::run_seed(stores::SqliteFactory::new(seed), seed, verbose),
        #[cfg(not(feature = "sqlite"))]
        StoreKind::Sqlite => Err(Failure::Unavailable(
            "this build has no SQLite mode: build with `--features sqlite`",
        )),
    }
}
