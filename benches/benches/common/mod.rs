//! What the benches' `main`s share (each bench includes this module, as
//! the tests include their `common.rs`; the four benches other work is
//! changing keep their own copies for now).

use std::time::Duration;

use criterion::Criterion;
use daybook_benches::cache;

/// The bench's criterion: `samples` samples, after `warm_up`, each
/// measured over `measure`, its reports in the target directory's
/// `criterion` ([`cache::reports`]), then whatever the command line sets
/// (`--bench` filters, the smoke run's `--test`).
pub(crate) fn criterion(samples: usize, warm_up: Duration, measure: Duration) -> Criterion {
    Criterion::default()
        .sample_size(samples)
        .warm_up_time(warm_up)
        .measurement_time(measure)
        .output_directory(&cache::reports())
        .configure_from_args()
}
