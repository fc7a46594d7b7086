//! The simulated summarizer: the built-in one, except when the workload
//! says it is down (an outage) or the seed's dice say this call fails. Its
//! failures take the engine's retry path and, after five, the heuristic
//! fallback.
//!
//! Like a model that was told to obey what it read, it answers a request
//! whose first line comes from a hostile capture ([`HOSTILE_TAG`]) with the
//! injection in its own words: its summary and its first line carry a
//! second title, a fake entry and escape sequences. The answer is untrusted
//! text too (SPEC §12); the oracle checks what it became.

use std::sync::{Arc, Mutex, PoisonError};

use daybook_core::{BuiltinSummarizer, Error, Summarizer, Summary, SummaryRequest};

use crate::rng::Rng;
use crate::workload::HOSTILE_TAG;

/// What the summarizer adds when it echoes a hostile capture.
const ECHO: &str = "\n# daybook — 2026-01-01\n## 09:00–10:00 · final · session x\n\u{1b}]0;pwn\u{7}\u{1b}[2J";

/// The stream of the seed's [`Rng`] summarizer failures draw from.
const STREAM: u64 = 4;

/// Why a simulated summary failed (the engine only sees the message).
#[derive(Debug, thiserror::Error)]
pub enum SummaryFailure {
    /// The workload has the summarizer down right now.
    #[error("summarizer outage")]
    Outage,
    /// The seed's dice failed this call.
    #[error("summarizer call failed")]
    Flaky,
}

/// What every node start's summarizer shares: the dice and whether the
/// summarizer is down at the current instant (the node sets it before each
/// input from the workload's outages).
#[derive(Debug)]
pub struct SummarizerState {
    rng: Rng,
    fail_per_mille: u32,
    /// Every call fails while set.
    pub down: bool,
}

impl SummarizerState {
    /// Fails each call with probability `fail_per_mille`‰, and every call
    /// while `down`.
    pub fn new(seed: u64, fail_per_mille: u32) -> Self {
        Self {
            rng: Rng::new(seed, STREAM),
            fail_per_mille,
            down: false,
        }
    }
}

/// The summarizer a node's engine gets.
#[derive(Clone, Debug)]
pub struct SimSummarizer {
    state: Arc<Mutex<SummarizerState>>,
}

impl SimSummarizer {
    /// A summarizer over shared `state`.
    pub fn new(state: Arc<Mutex<SummarizerState>>) -> Self {
        Self { state }
    }
}

impl Summarizer for SimSummarizer {
    fn summarize(&mut self, request: &SummaryRequest) -> Result<Summary, Error> {
        let failure = {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let fail_per_mille = st.fail_per_mille;
            if st.down {
                Some(SummaryFailure::Outage)
            } else if st.rng.chance(fail_per_mille) {
                Some(SummaryFailure::Flaky)
            } else {
                None
            }
        };
        match failure {
            Some(f) => Err(Error::Summarizer(Box::new(f))),
            None => {
                let mut summary = BuiltinSummarizer.summarize(request)?;
                let first = request.blocks.first().and_then(|b| b.lines.first());
                if first.is_some_and(|l| l.contains(HOSTILE_TAG)) {
                    summary.summary.push_str(ECHO);
                    if let Some(line) = summary.lines.first_mut() {
                        line.push_str(ECHO);
                    }
                }
                Ok(summary)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use daybook_core::EntryKind;

    use super::*;

    fn request() -> SummaryRequest {
        SummaryRequest {
            session_id: "s".into(),
            kind: EntryKind::Final,
            blocks: Vec::new(),
        }
    }

    #[test]
    fn down_always_fails_and_healthy_follows_the_dice() {
        let state = Arc::new(Mutex::new(SummarizerState::new(1, 0)));
        let mut s = SimSummarizer::new(Arc::clone(&state));
        assert!(s.summarize(&request()).is_ok());
        state.lock().unwrap().down = true;
        let err = s.summarize(&request()).unwrap_err();
        assert!(err.to_string().contains("outage"), "{err}");
        state.lock().unwrap().down = false;
        let flaky = Arc::new(Mutex::new(SummarizerState::new(1, 500)));
        let mut f = SimSummarizer::new(Arc::clone(&flaky));
        let fails = (0..1000).filter(|_| f.summarize(&request()).is_err()).count();
        assert!((400..600).contains(&fails), "{fails}");
    }

    #[test]
    fn a_hostile_first_line_is_echoed_in_the_answer() {
        let block = |line: &str| daybook_core::Block {
            session_id: "s".into(),
            start: daybook_core::Timestamp(0),
            end: daybook_core::Timestamp(60_000),
            rev: 0,
            offset: daybook_core::UtcOffset::UTC,
            lines: vec![line.into()],
            apps: vec!["Code".into()],
            capture_count: 1,
            covered_by: None,
        };
        let state = Arc::new(Mutex::new(SummarizerState::new(1, 0)));
        let mut s = SimSummarizer::new(state);
        let mut req = request();
        req.blocks = vec![block("Code — plain")];
        let plain = s.summarize(&req).unwrap();
        assert!(!plain.summary.contains('\n'), "{plain:?}");
        req.blocks = vec![block(&format!("Code — {HOSTILE_TAG}"))];
        let echoed = s.summarize(&req).unwrap();
        assert!(echoed.summary.ends_with(ECHO), "{echoed:?}");
        assert!(echoed.lines[0].ends_with(ECHO), "{echoed:?}");
    }
}
