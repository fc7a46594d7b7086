//! What a failed seed reports, and what a passing one does.

use daybook_core::Violation;

use crate::audit::Finding;
use crate::coverage::Coverage;

/// Why a seed failed. Each carries the moment it was found (`when`), in the
/// run's own words ("after start 3 at +01:02:03").
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The core oracle found broken invariants.
    #[error("{when}: {}", join(violations))]
    Invariants {
        /// When.
        when: String,
        /// What broke.
        violations: Vec<Violation>,
    },
    /// The simulator's own audit found a problem.
    #[error("{when}: {}", join(findings))]
    Audit {
        /// When.
        when: String,
        /// What it found.
        findings: Vec<Finding>,
    },
    /// The engine returned an error for an input the workload made valid.
    #[error("{when}: the engine failed: {source}")]
    Engine {
        /// When.
        when: String,
        /// The engine's error.
        #[source]
        source: daybook_core::Error,
    },
    /// Recovering a second time changed the store.
    #[error("recovering twice changed the store: {0}")]
    NotIdempotent(String),
    /// A panic that was not an injected crash: a bug in the engine, the
    /// store or the harness.
    #[error("unexpected panic: {0}")]
    Panic(String),
    /// This store mode cannot run here.
    #[error("store mode unavailable: {0}")]
    Unavailable(&'static str),
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(5).map(ToString::to_string).collect();
    let more = items.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

/// What one passing seed did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Its trace hash.
    pub hash: u64,
    /// Crashes: supervisor kills plus injected store crashes.
    pub crashes: u64,
    /// Engine starts after the first (restarts, graceful ones included).
    pub restarts: u64,
    /// Events the capture client sent.
    pub events: u64,
    /// Events the daemon acknowledged.
    pub acked: u64,
    /// Engine inputs handled.
    pub inputs: u64,
    /// Rare paths taken.
    pub coverage: Coverage,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Finding;

    #[test]
    fn messages_name_the_moment_and_cap_the_list() {
        let f = Failure::Audit {
            when: "at the end".into(),
            findings: (0..7).map(|i| Finding::AckedLost(format!("e{i}"))).collect(),
        };
        let msg = f.to_string();
        assert!(msg.starts_with("at the end: no loss: acknowledged event e0"), "{msg}");
        assert!(msg.ends_with("(and 2 more)"), "{msg}");
    }
}
