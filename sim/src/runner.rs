//! Running a range of seeds on a few threads, deterministically: whatever
//! the thread count, the run reports the lowest failing seed and the
//! totals of every seed before it, and per-seed hashes in seed order.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::coverage::Coverage;
use crate::failure::{Failure, SeedReport};
use crate::trace;

/// The totals of the seeds that ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Seeds that passed.
    pub seeds: u64,
    /// Kills plus injected crashes.
    pub crashes: u64,
    /// Engine restarts.
    pub restarts: u64,
    /// Events sent.
    pub events: u64,
    /// Events acknowledged.
    pub acked: u64,
    /// Engine inputs.
    pub inputs: u64,
    /// Rare paths taken.
    pub coverage: Coverage,
    /// Each passing seed's trace hash, in seed order.
    pub hashes: Vec<u64>,
}

impl Totals {
    fn add(&mut self, r: &SeedReport) {
        self.seeds += 1;
        self.crashes += r.crashes;
        self.restarts += r.restarts;
        self.events += r.events;
        self.acked += r.acked;
        self.inputs += r.inputs;
        self.coverage.merge(&r.coverage);
        self.hashes.push(r.hash);
    }

    /// One hash for the whole run.
    pub fn trace_hash(&self) -> u64 {
        trace::combine(self.hashes.iter().copied())
    }
}

/// The first seed that failed, and how.
#[derive(Debug)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub failure: Failure,
}

/// Runs seeds `start..start + count` on `jobs` threads; stops at the first
/// failure, reported as the lowest failing seed with the totals of all the
/// seeds below it.
pub fn run_range<R>(start: u64, count: u64, jobs: usize, run: R) -> (Totals, Option<SeedFailure>)
where
    R: Fn(u64) -> Result<SeedReport, Failure> + Sync,
{
    let next = AtomicU64::new(0);
    // Passing reports by seed, and the lowest failure so far.
    let results: Mutex<(BTreeMap<u64, SeedReport>, Option<SeedFailure>)> = Mutex::new((BTreeMap::new(), None));
    let lock = || results.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    let seed = start + i;
                    // Seeds are handed out in order, so once one failed,
                    // no higher seed can change the answer.
                    if lock().1.as_ref().is_some_and(|f| f.seed < seed) {
                        return;
                    }
                    match run(seed) {
                        Ok(report) => {
                            lock().0.insert(seed, report);
                        }
                        Err(failure) => {
                            let mut r = lock();
                            if r.1.as_ref().is_none_or(|f| seed < f.seed) {
                                r.1 = Some(SeedFailure { seed, failure });
                            }
                        }
                    }
                }
            });
        }
    });
    let (reports, failure) = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut totals = Totals::default();
    let limit = failure.as_ref().map_or(u64::MAX, |f| f.seed);
    for report in reports.values().filter(|r| r.seed < limit) {
        totals.add(report);
    }
    (totals, failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(seed: u64) -> Result<SeedReport, Failure> {
        if seed % 37 == 36 {
            return Err(Failure::Unavailable("fake failure"));
        }
        let mut coverage = Coverage::default();
        coverage.hit(crate::coverage::Mark::Kill);
        Ok(SeedReport {
            seed,
            hash: seed * 7,
            crashes: 1,
            events: seed,
            coverage,
            ..SeedReport::default()
        })
    }

    #[test]
    fn the_lowest_failure_wins_whatever_the_thread_count() {
        for jobs in [1, 2, 5] {
            let (totals, failure) = run_range(10, 100, jobs, fake);
            let failure = failure.expect("seed 36 fails");
            assert_eq!(failure.seed, 36, "jobs={jobs}");
            assert_eq!(totals.seeds, 26, "seeds 10..36 passed");
            assert_eq!(totals.events, (10..36).sum::<u64>());
            assert_eq!(totals.hashes, (10..36).map(|s| s * 7).collect::<Vec<_>>());
            assert_eq!(totals.coverage.count(crate::coverage::Mark::Kill), 26);
        }
    }

    #[test]
    fn a_clean_range_runs_every_seed_and_hashes_in_order() {
        let (one, none) = run_range(0, 30, 1, fake);
        assert!(none.is_none());
        let (three, _) = run_range(0, 30, 3, fake);
        assert_eq!(one, three);
        assert_eq!(one.seeds, 30);
        assert_ne!(one.trace_hash(), run_range(1, 30, 2, fake).0.trace_hash());
    }
}
