//! Swarm configuration: the seed picks the shape of the day and the fault
//! rates, so different seeds stress different mixes (one seed hammers
//! recovery with crashes, another runs a long flaky-summarizer day with
//! none). Every knob is a plain number the workload and the faults read.

use crate::rng::Rng;

/// The stream of the seed's [`Rng`] that the swarm draws from.
const STREAM: u64 = 1;

/// The knobs of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swarm {
    /// Awake stretches of the day, separated by laptop sleeps.
    pub stretches: u32,
    /// Shortest and longest awake stretch, in minutes.
    pub stretch_minutes: (u64, u64),
    /// Shortest and longest pause between two captures while active, in
    /// seconds.
    pub event_interval_secs: (u64, u64),
    /// Chance (‰) that a burst holds one app long enough for a soft cut.
    pub focus_per_mille: u32,
    /// Chance (‰) that a burst is followed by an idle gap.
    pub idle_per_mille: u32,
    /// Chance (‰) that a batch carries an event captured minutes earlier.
    pub late_per_mille: u32,
    /// One stretch holds a session past `max_session` (timeout).
    pub long_session: bool,
    /// The UTC offset changes once during an awake stretch (DST).
    pub dst: bool,
    /// How many times the wall clock jumps (mostly backwards).
    pub clock_jumps: u32,
    /// Chance (‰) that one summarizer call fails.
    pub summarizer_fail_per_mille: u32,
    /// Summarizer outages (every call fails), each 10 min to 3 h.
    pub outages: u32,
    /// Pause/resume pairs.
    pub pauses: u32,
    /// Graceful shutdown-and-restart steps.
    pub shutdowns: u32,
    /// History imported from the older tool before the first start.
    pub import: bool,
    /// Supervisor kills per awake hour, in tenths.
    pub kills_per_hour_tenths: u32,
    /// Chance (‰) of a crash just before or just after each durable step.
    pub crash_per_mille: u32,
    /// At most this many injected crashes per run, so a run always ends.
    pub crash_budget: u32,
    /// The local time (minutes after midnight) the run starts at.
    pub start_local_minute: u64,
    /// The UTC offset at the start, in seconds.
    pub start_offset_secs: i32,
    /// The daemon runs the built-in summarizer (reduce-pending applies it
    /// itself, in batches); otherwise an external one (every summary,
    /// reduce-pending's too, is a request).
    pub builtin_summarizer: bool,
    /// Shortest and longest time a summary takes, in seconds: from a
    /// quick local model to one slower than the flush interval.
    pub summary_secs: (u64, u64),
    /// `empty_session` is longer than `max_session` (a user's odd
    /// setting): an imported orphan with no evidence is capped.
    pub long_empty_session: bool,
    /// Chance (‰) that a capture of the main client is accompanied by one
    /// of a second client (a browser extension), delivered just after it
    /// and stamped by that client's own clock.
    pub second_per_mille: u32,
    /// How far the second client's clock lags the machine's, in ms: within
    /// `reorder_tolerance` (a reordering) or beyond it (late events).
    pub second_lag_ms: u64,
    /// The second client's clock steps backwards once, by 1 to 30
    /// minutes (and, on some days, forward again later).
    pub second_clock_step: bool,
    /// Chance (‰) that, when the daemon comes back, the client sends its
    /// live captures first and replays its queue afterwards (as clients
    /// with one queue per watcher do); otherwise it replays in order.
    pub replay_live_first_per_mille: u32,
    /// The daemon stays off across one laptop sleep that lasts days (a
    /// weekend, a vacation) while the client queues what was captured
    /// before it: replayed days late, some of it past
    /// `max_lateness_days` on some days.
    pub long_off: bool,
}

/// Offsets real users have, whole and half hours included.
const OFFSETS: [i32; 8] = [0, 3600, 7200, -5 * 3600, -8 * 3600, 19_800, 34_200, -12_600];

impl Swarm {
    /// The knobs `seed` picks.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Rng::new(seed, STREAM);
        let stretches = u32::try_from(r.range(1, 4)).unwrap_or(1);
        let long_session = r.chance(250);
        let short = r.range(20, 60);
        let stretch_minutes = (short, short + r.range(30, 120));
        let fast = r.range(5, 25);
        let event_interval_secs = (fast, fast + r.range(10, 60));
        let summarizer_fail_per_mille = match r.range(0, 10) {
            0..=2 => 0,
            3..=7 => u32::try_from(r.range(50, 350)).unwrap_or(0),
            _ => u32::try_from(r.range(500, 850)).unwrap_or(0),
        };
        let crash_per_mille = match r.range(0, 10) {
            0..=1 => 0,
            2..=5 => u32::try_from(r.range(2, 15)).unwrap_or(0),
            _ => u32::try_from(r.range(15, 80)).unwrap_or(0),
        };
        // Late in the evening most of the time, so the 23:55 safety net
        // falls inside the run; sometimes a morning start.
        let start_local_minute = if r.chance(700) {
            r.range(20 * 60, 23 * 60 + 50)
        } else {
            r.range(6 * 60, 12 * 60)
        };
        Self {
            stretches,
            stretch_minutes,
            event_interval_secs,
            focus_per_mille: u32::try_from(r.range(100, 500)).unwrap_or(0),
            idle_per_mille: u32::try_from(r.range(100, 500)).unwrap_or(0),
            late_per_mille: u32::try_from(r.range(0, 80)).unwrap_or(0),
            long_session,
            dst: r.chance(450),
            clock_jumps: u32::try_from(r.range(0, 3)).unwrap_or(0),
            summarizer_fail_per_mille,
            outages: u32::try_from(r.range(0, 3)).unwrap_or(0),
            pauses: u32::try_from(r.range(0, 3)).unwrap_or(0),
            shutdowns: u32::try_from(r.range(0, 2)).unwrap_or(0),
            import: r.chance(450),
            kills_per_hour_tenths: u32::try_from(r.range(0, 40)).unwrap_or(0),
            crash_per_mille,
            crash_budget: u32::try_from(r.range(2, 10)).unwrap_or(2),
            start_local_minute,
            start_offset_secs: *r.pick(&OFFSETS),
            builtin_summarizer: r.chance(400),
            summary_secs: match r.range(0, 10) {
                0..=3 => (1, 1 + r.range(1, 30)),
                4..=7 => (5, 60 + r.range(0, 240)),
                _ => (60, 300 + r.range(60, 600)),
            },
            long_empty_session: r.chance(150),
            second_per_mille: if r.chance(450) {
                u32::try_from(r.range(100, 450)).unwrap_or(0)
            } else {
                0
            },
            second_lag_ms: if r.chance(500) {
                r.range(0, 5_001)
            } else {
                r.range(5_001, 4 * 60_000)
            },
            second_clock_step: r.chance(350),
            replay_live_first_per_mille: u32::try_from(r.range(300, 1000)).unwrap_or(0),
            long_off: r.chance(400),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_decides_and_seeds_differ() {
        assert_eq!(Swarm::from_seed(5), Swarm::from_seed(5));
        let distinct: std::collections::BTreeSet<String> =
            (0..50).map(|s| format!("{:?}", Swarm::from_seed(s))).collect();
        assert_eq!(distinct.len(), 50, "fifty seeds, fifty mixes");
    }

    #[test]
    fn knobs_vary_across_seeds() {
        let swarms: Vec<Swarm> = (0..400).map(Swarm::from_seed).collect();
        assert!(swarms.iter().any(|s| s.crash_per_mille == 0));
        assert!(swarms.iter().any(|s| s.crash_per_mille >= 15));
        assert!(swarms.iter().any(|s| s.long_session) && swarms.iter().any(|s| !s.long_session));
        assert!(swarms.iter().any(|s| s.import) && swarms.iter().any(|s| !s.import));
        assert!(swarms.iter().any(|s| s.summarizer_fail_per_mille >= 500));
        assert!(swarms.iter().all(|s| s.stretch_minutes.0 < s.stretch_minutes.1));
    }
}
