//! The engine's settings (SPEC §3), with the defaults a user gets when no
//! config file exists. The daemon parses its TOML into this struct.

use std::time::Duration;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use crate::error::Error;

const MINUTE: Duration = Duration::from_secs(60);

/// Every tunable of the session engine. Durations, not raw numbers, so a
/// test can shorten any of them to seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Idle gap that ends a session (hard cut).
    pub gap: Duration,
    /// One app held this long ends the session, unless switching is frequent.
    pub soft_cut: Duration,
    /// Frequent switching: at least two distinct apps focused within this window.
    pub switch_window: Duration,
    /// A session older than this is cut (timeout).
    pub max_session: Duration,
    /// How often the shell should call [`crate::Engine::handle_tick`].
    pub tick: Duration,
    /// Timeline window width, aligned to the wall clock.
    pub window: Duration,
    /// Incremental reduction of the active session; never below five minutes.
    pub flush: Duration,
    /// Wait before retrying a failed reduction, indexed by the retry count
    /// before the failure; the last value repeats.
    pub retry_backoff: Vec<Duration>,
    /// After this many failed attempts a heuristic entry is written.
    pub max_reduce_attempts: u32,
    /// Fallback length of a recovered orphan with no evidence.
    pub empty_session: Duration,
    /// Local time of the daily safety net.
    pub daily_safety_net: NaiveTime,
    /// An event whose `at` lies more than this after `now` is refused
    /// (SPEC §2): one event from the future would pin the time floor.
    #[serde(default = "default_future_tolerance")]
    pub future_tolerance: Duration,
    /// An event no more than this behind the watermark is a reordering and
    /// is attributed at the watermark; one further behind is late and is
    /// attributed at its own `at` (SPEC §2).
    #[serde(default = "default_reorder_tolerance")]
    pub reorder_tolerance: Duration,
    /// An event older than `now` minus this is refused (SPEC §2).
    #[serde(default = "default_max_lateness")]
    pub max_lateness: Duration,

    /// At most this many summary requests are outstanding at once (SPEC
    /// §6): a local model runs one or two answers at a time, and a queue
    /// of requests in the engine costs nothing while one in the model
    /// costs memory and time.
    #[serde(default = "default_summarizer_concurrency")]
    pub summarizer_concurrency: usize,
    /// How long a graceful stop waits for outstanding summaries before it
    /// abandons them (their sessions stay pending for the next start).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Duration,
}

fn default_reorder_tolerance() -> Duration {
    Duration::from_secs(5)
}

fn default_max_lateness() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_summarizer_concurrency() -> usize {
    2
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(2)
}

fn default_future_tolerance() -> Duration {
    Duration::from_secs(60)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            gap: 5 * MINUTE,
            soft_cut: 3 * MINUTE,
            switch_window: 2 * MINUTE,
            max_session: 2 * 60 * MINUTE,
            tick: Duration::from_secs(30),
            window: MINUTE,
            flush: 5 * MINUTE,
            retry_backoff: [5, 15, 30, 60, 120].map(|m| m * MINUTE).to_vec(),
            max_reduce_attempts: 5,
            empty_session: MINUTE,
            daily_safety_net: NaiveTime::from_hms_opt(23, 55, 0).expect("valid time"),
            future_tolerance: default_future_tolerance(),
            reorder_tolerance: default_reorder_tolerance(),
            max_lateness: default_max_lateness(),
            summarizer_concurrency: default_summarizer_concurrency(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

impl Config {
    /// Checks the settings that would make the engine misbehave, and applies
    /// the flush floor. Every duration must be positive; the window must be
    /// at least a second; `flush` is raised to five minutes if set lower
    /// (SPEC §3 says "never below 5"), because a flush more often than that
    /// would spend the summarizer on fragments.
    pub fn validated(mut self) -> Result<Self, Error> {
        let named = [
            ("gap", self.gap),
            ("soft_cut", self.soft_cut),
            ("switch_window", self.switch_window),
            ("max_session", self.max_session),
            ("tick", self.tick),
            ("empty_session", self.empty_session),
            ("max_lateness", self.max_lateness),
        ];
        for (name, d) in named {
            if d.is_zero() {
                return Err(Error::InvalidConfig {
                    setting: name,
                    reason: "must be positive",
                });
            }
        }
        if self.window < Duration::from_secs(1) {
            return Err(Error::InvalidConfig {
                setting: "window",
                reason: "must be at least one second",
            });
        }
        if self.retry_backoff.is_empty() {
            return Err(Error::InvalidConfig {
                setting: "retry_backoff",
                reason: "needs at least one value",
            });
        }
        if self.max_reduce_attempts == 0 {
            return Err(Error::InvalidConfig {
                setting: "max_reduce_attempts",
                reason: "must be at least 1",
            });
        }
        if self.summarizer_concurrency == 0 {
            return Err(Error::InvalidConfig {
                setting: "summarizer_concurrency",
                reason: "must be at least 1",
            });
        }
        self.flush = self.flush.max(5 * MINUTE);
        Ok(self)
    }

    /// The wait before the next attempt after a failure that found
    /// `retry_count` earlier failures.
    pub fn backoff(&self, retry_count: u32) -> Duration {
        let i = usize::try_from(retry_count).unwrap_or(usize::MAX);
        self.retry_backoff
            .get(i)
            .or(self.retry_backoff.last())
            .copied()
            .unwrap_or(5 * MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_schedule_then_repeats_the_last() {
        let c = Config::default();
        let mins: Vec<u64> = (0..7).map(|n| c.backoff(n).as_secs() / 60).collect();
        assert_eq!(mins, [5, 15, 30, 60, 120, 120, 120]);
    }

    #[test]
    fn flush_never_below_five_minutes() {
        let c = Config {
            flush: Duration::from_secs(10),
            ..Config::default()
        }
        .validated()
        .unwrap();
        assert_eq!(c.flush, 5 * MINUTE);
    }

    #[test]
    fn zero_gap_is_rejected() {
        let err = Config {
            gap: Duration::ZERO,
            ..Config::default()
        }
        .validated()
        .unwrap_err();
        assert!(err.to_string().contains("gap"), "{err}");
    }
}
