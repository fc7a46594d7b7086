//! `daybook-benches`: what the benchmarks share — the run mode (smoke,
//! normal, long), prepared databases cached in the target directory, and a
//! real daemon process with an HTTP client.
//!
//! What it never does: change daybook's behaviour to make a figure look
//! better. Fixtures are written with direct SQL for speed, but every row is
//! what the engine itself would have written (blocks come from
//! `build_blocks`, entries from the built-in summarizer); the tests at the
//! bottom of [`fixture`] check that with the invariant oracle.

pub mod cache;
pub mod daemon;
pub mod fixture;
pub mod paired;
pub mod scale;
