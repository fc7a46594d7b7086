//! `daybook-tests`: daybook's end-to-end tests. They run the real `daybook`
//! binary as a child process on a temporary data directory and a free
//! loopback port (`--listen 127.0.0.1:0`; the daemon writes the bound
//! address into `<data-dir>/daybook.addr` once it accepts events), kill it
//! with `kill -9`, stop it with SIGSTOP, corrupt its database, feed it bad
//! input, and check what SPEC §8 and §9 promise. The tests live in
//! `tests/*.rs`, one file per behaviour, with shared helpers in
//! `tests/common/mod.rs`. This library is empty; it exists because a
//! package needs a target.
//!
//! What they never do: link the daemon's engine into the test process to
//! stand in for the binary (the database is read in-process only to
//! check it, through `daybook::SqliteStore`), assert on a bare sleep (every
//! wait polls with a deadline), or touch anything outside their temp
//! directories.
//!
//! # The failpoints binary
//!
//! The crash-point tests need `daybook` built with the daemon's
//! `failpoints` feature, where `FAILPOINTS="<point>=return"` makes the
//! process SIGKILL itself at a named point (`daemon/src/crash.rs`). It is
//! found and, when needed, built like this:
//!
//! 1. This package has a dev-dependency
//!    `daybook = { path = "../daemon", features = ["failpoints"] }`. Under
//!    `cargo test --workspace` feature unification builds the daemon,
//!    binary included, with the feature. Being a *dev*-dependency, it never
//!    reaches a build that compiles no test target: resolver 2 and later
//!    keep dev-dependency features out of `cargo build`, so
//!    `cargo build --release -p daybook` (or `--workspace`) has no crash
//!    points.
//! 2. The tests look for the binary next to themselves: a test binary runs
//!    from `<target>/<profile>/deps/`, the daemon is
//!    `<target>/<profile>/daybook`. This follows `CARGO_TARGET_DIR` and
//!    the profile without reading either.
//! 3. Cargo builds a package's binary only for that package's own
//!    integration tests, so under `cargo test -p daybook-tests` it may be
//!    missing, stale, or from a build without the feature. The tests use
//!    it only if it is newer than every source of `daemon/` and `core/`
//!    (and the manifests and lock file) **and** a smoke run shows its
//!    crash points fire (armed `ingest-mid-transaction`, one event: it
//!    must die by SIGKILL). Otherwise they run
//!    `$CARGO build -p daybook --features failpoints --target-dir <target>`
//!    (plus `--profile` when not `debug`) once per test binary, and check
//!    again.
//!
//! # Running
//!
//! `cargo test -p daybook-tests` (add `-- --nocapture` to see the crash
//! loop's summary). `DAYBOOK_E2E_SEED` replays the crash loop's client;
//! `DAYBOOK_E2E_KILLS` changes its number of kills (default 36).
