//! Coverage marks: how often each rare path happened. A multi-seed run that
//! never reached one of the [`Mark::REQUIRED`] paths proves nothing about
//! it, so it fails.

use std::fmt;

/// One rare path through the engine, the store or the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// A crash was injected while `Engine::start` ran (recovery,
    /// reduce-pending).
    CrashInRecovery,
    /// A crash was injected just before or after a reduction's commit.
    CrashInReductionCommit,
    /// A crash was injected just before or after a batch of reductions'
    /// commit (reduce-pending).
    CrashInBatchCommit,
    /// Recovery ended an orphan at its latest evidence (or a limit) with
    /// evidence in hand.
    OrphanWithEvidence,
    /// Recovery ended an orphan that had no evidence at all.
    OrphanWithoutEvidence,
    /// A recovered end was clamped to the next session's start.
    ClampToNextSession,
    /// A recovered end was capped at start plus `max_session`.
    CapAtMaxSession,
    /// The summarizer kept failing and a heuristic entry was written.
    HeuristicFallback,
    /// A final reduction that had failed later succeeded with a summary.
    RetryLaterSucceeded,
    /// A session's events carry two different UTC offsets (DST).
    DstCrossing,
    /// The engine was handed a `now` earlier than the one before.
    BackwardsClock,
    /// An event after a sleep of an hour or more cut the old session
    /// itself, before any tick did.
    SleepGap,
    /// A session ended by soft cut.
    SoftCut,
    /// A session ended by timeout.
    Timeout,
    /// A session ended by the daily safety net.
    SafetyNet,
    /// Events were dropped because capture was paused.
    DroppedWhilePaused,
    /// A node kill by the supervisor.
    Kill,
    /// A graceful shutdown and restart.
    Shutdown,
    /// An entry reduced text a hostile capture sent, echoed by the
    /// summarizer (SPEC §12): the oracle checked its day's rendering.
    HostileText,
    /// An ActivityWatch heartbeat merged into its bucket's last event.
    WatcherMerge,
    /// A merged heartbeat derived no event (thinning).
    WatcherThinned,
    /// An event was withheld because a known `afk` period covered it.
    AfkCut,
}

impl Mark {
    /// Every mark, in report order.
    pub const ALL: [Self; 22] = [
        Self::CrashInRecovery,
        Self::CrashInReductionCommit,
        Self::CrashInBatchCommit,
        Self::OrphanWithEvidence,
        Self::OrphanWithoutEvidence,
        Self::ClampToNextSession,
        Self::CapAtMaxSession,
        Self::HeuristicFallback,
        Self::RetryLaterSucceeded,
        Self::DstCrossing,
        Self::BackwardsClock,
        Self::SleepGap,
        Self::SoftCut,
        Self::Timeout,
        Self::SafetyNet,
        Self::DroppedWhilePaused,
        Self::Kill,
        Self::Shutdown,
        Self::HostileText,
        Self::WatcherMerge,
        Self::WatcherThinned,
        Self::AfkCut,
    ];

    /// The marks a multi-seed run requires (issue 4's, and issue 13's for
    /// the ActivityWatch watchers).
    pub const REQUIRED: [Self; 16] = [
        Self::CrashInRecovery,
        Self::CrashInReductionCommit,
        Self::CrashInBatchCommit,
        Self::OrphanWithEvidence,
        Self::OrphanWithoutEvidence,
        Self::ClampToNextSession,
        Self::CapAtMaxSession,
        Self::HeuristicFallback,
        Self::RetryLaterSucceeded,
        Self::DstCrossing,
        Self::BackwardsClock,
        Self::SleepGap,
        Self::HostileText,
        Self::WatcherMerge,
        Self::WatcherThinned,
        Self::AfkCut,
    ];

    /// A short name for the summary line.
    pub fn name(self) -> &'static str {
        match self {
            Self::CrashInRecovery => "crash_in_recovery",
            Self::CrashInReductionCommit => "crash_in_reduction_commit",
            Self::CrashInBatchCommit => "crash_in_batch_commit",
            Self::OrphanWithEvidence => "orphan_with_evidence",
            Self::OrphanWithoutEvidence => "orphan_without_evidence",
            Self::ClampToNextSession => "clamp_to_next_session",
            Self::CapAtMaxSession => "cap_at_max_session",
            Self::HeuristicFallback => "heuristic_fallback",
            Self::RetryLaterSucceeded => "retry_later_succeeded",
            Self::DstCrossing => "dst_crossing",
            Self::BackwardsClock => "backwards_clock",
            Self::SleepGap => "sleep_gap",
            Self::SoftCut => "soft_cut",
            Self::Timeout => "timeout",
            Self::SafetyNet => "safety_net",
            Self::DroppedWhilePaused => "dropped_while_paused",
            Self::Kill => "kill",
            Self::Shutdown => "shutdown",
            Self::HostileText => "hostile_text",
            Self::WatcherMerge => "watcher_merge",
            Self::WatcherThinned => "watcher_thinned",
            Self::AfkCut => "afk_cut",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

/// How many times each mark happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    counts: [u64; Mark::ALL.len()],
}

impl Coverage {
    /// Counts one occurrence of `mark`.
    pub fn hit(&mut self, mark: Mark) {
        self.counts[mark.index()] += 1;
    }

    /// Counts `n` occurrences of `mark`.
    pub fn hit_n(&mut self, mark: Mark, n: u64) {
        self.counts[mark.index()] += n;
    }

    /// How often `mark` happened.
    pub fn count(&self, mark: Mark) -> u64 {
        self.counts[mark.index()]
    }

    /// Adds another run's counts.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }

    /// The required marks that never happened.
    pub fn missing(&self) -> Vec<Mark> {
        Mark::REQUIRED.into_iter().filter(|m| self.count(*m) == 0).collect()
    }
}

impl fmt::Display for Coverage {
    /// `name=count` for every mark, in report order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in Mark::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", m.name(), self.count(*m))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lists_only_required_marks_never_hit() {
        let mut c = Coverage::default();
        assert_eq!(c.missing(), Mark::REQUIRED.to_vec());
        for m in Mark::REQUIRED {
            c.hit(m);
        }
        assert!(c.missing().is_empty());
        let mut other = Coverage::default();
        other.hit(Mark::SleepGap);
        c.merge(&other);
        assert_eq!(c.count(Mark::SleepGap), 2);
        assert_eq!(c.count(Mark::Kill), 0, "optional marks are not required");
        assert!(c.to_string().contains("sleep_gap=2"));
    }

    #[test]
    fn every_mark_has_its_own_slot() {
        let mut c = Coverage::default();
        for (i, m) in Mark::ALL.iter().enumerate() {
            for _ in 0..=i {
                c.hit(*m);
            }
        }
        for (i, m) in Mark::ALL.iter().enumerate() {
            assert_eq!(c.count(*m), i as u64 + 1, "{}", m.name());
        }
    }
}
