//! Two variants of one path measured alternately in one process, for
//! figures that compare them ("within 30% of ..."): on a shared two-core
//! machine, load drifts over seconds, so running one variant's criterion
//! samples and then the other's compares two different moments. Here each
//! round times one step of each, in alternating order (A then B, then B
//! then A), and the comparison is the median of the per-round ratios,
//! with its spread.
//!
//! Also the engine's one group commit, in-process, as the daemon's engine
//! thread runs it: the step both ingest comparisons time.

use std::time::{Duration, Instant};

use daybook_core::{Engine, Event, Output, Store, SummaryAnswer, builtin_summary};

/// One group commit as the daemon's engine thread runs it:
/// `Engine::handle_events` (one transaction), `handle_reductions`, and the
/// built-in summarizer's answers to the requests that polls out, handed
/// back together once the outputs are drained (one transaction for all
/// of them), until no more are asked: the daemon answers the built-in
/// summarizer inline, on that thread, so (`service.rs`, `drain_outputs`).
/// `now` is the latest `at` of `events` (not empty). Returns how many of
/// them the engine took as late.
pub fn commit<S: Store>(engine: &mut Engine<S>, events: &[Event]) -> usize {
    let now = events.iter().map(|e| e.at).max().expect("a group has events");
    let late = engine.handle_events(now, events).expect("committed").late.len();
    engine.handle_reductions(now).expect("reductions");
    let mut answers = Vec::new();
    loop {
        match engine.poll_output() {
            Some(Output::SummaryRequested { id, request }) => answers.push(SummaryAnswer {
                id,
                outcome: Ok(builtin_summary(&request.blocks)),
            }),
            Some(_) => {}
            None if answers.is_empty() => break,
            None => engine
                .handle_answers(now, &std::mem::take(&mut answers))
                .expect("answers"),
        }
    }
    late
}

/// Per-round times of two variants.
#[derive(Debug, Default)]
pub struct Rounds {
    /// Variant A's time in each round.
    pub a: Vec<Duration>,
    /// Variant B's time in each round.
    pub b: Vec<Duration>,
}

/// Runs `rounds` rounds; in each, `a` and `b` each run one step (timed by
/// the closure itself, so its setup stays outside), A first in even
/// rounds and B first in odd ones.
pub fn alternate(rounds: usize, mut a: impl FnMut() -> Duration, mut b: impl FnMut() -> Duration) -> Rounds {
    let mut out = Rounds::default();
    for round in 0..rounds {
        if round % 2 == 0 {
            out.a.push(a());
            out.b.push(b());
        } else {
            out.b.push(b());
            out.a.push(a());
        }
    }
    out
}

/// Times `f`.
pub fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// The value at quantile `q` (nearest rank) of `v`, sorted here.
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

impl Rounds {
    /// `"median X ms (p10-p90 Y-Z ms)"` of a variant's times.
    fn spread(times: &[Duration]) -> String {
        let ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        format!(
            "median {:.2} ms (p10-p90 {:.2}-{:.2} ms)",
            quantile(&ms, 0.5),
            quantile(&ms, 0.1),
            quantile(&ms, 0.9)
        )
    }

    /// The per-round time ratios B / A: `(median, p10, p90)`.
    pub fn ratio(&self) -> (f64, f64, f64) {
        self.ratios(|a, b| b / a)
    }

    /// The per-round throughput ratios B / A (time A / time B): `(median,
    /// p10, p90)`.
    pub fn throughput_ratio(&self) -> (f64, f64, f64) {
        self.ratios(|a, b| a / b)
    }

    fn ratios(&self, f: impl Fn(f64, f64) -> f64) -> (f64, f64, f64) {
        let r: Vec<f64> = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(a, b)| f(a.as_secs_f64().max(1e-12), b.as_secs_f64().max(1e-12)))
            .collect();
        (quantile(&r, 0.5), quantile(&r, 0.1), quantile(&r, 0.9))
    }

    /// A line for the bench's output: both variants' times and
    /// throughputs (`events` per step), and the ratio B / A.
    pub fn report(&self, name: &str, a: &str, b: &str, events: usize) -> String {
        let rate = |times: &[Duration]| {
            let ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64()).collect();
            events as f64 / quantile(&ms, 0.5)
        };
        let (median, p10, p90) = self.ratio();
        let (t50, t10, t90) = self.throughput_ratio();
        let total = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64();
        let overall = total(&self.a) / total(&self.b).max(1e-12);
        format!(
            "{name}: {} alternating rounds of {events} events; {a}: {} = {:.0} events/s; {b}: {} = {:.0} events/s; \
             per round, time {b} / {a}: median {median:.2}x (p10-p90 {p10:.2}-{p90:.2}x), \
             throughput {b} / {a}: median {t50:.2} (p10-p90 {t10:.2}-{t90:.2}); over all rounds {overall:.2}",
            self.a.len(),
            Self::spread(&self.a),
            rate(&self.a),
            Self::spread(&self.b),
            rate(&self.b),
        )
    }
}
