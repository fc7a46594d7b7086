//! How big a run is: smoke (CI: every bench once, tiny sizes), normal
//! (`cargo bench`, under ten minutes on two cores) or long (adds the sizes
//! that take minutes).

/// The run mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `cargo bench -- --test`, `cargo test --benches`, or
    /// `DAYBOOK_BENCH_SMOKE=1`: each bench once, on small inputs.
    Smoke,
    /// `cargo bench`: the sizes the issue asks for, except the long ones.
    Normal,
    /// `DAYBOOK_BENCH_LONG=1 cargo bench`: also 10^6 orphans from SQLite.
    Long,
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The mode of this process. Criterion runs in test mode when `--bench`
/// is absent (`cargo test --benches`) or `--test` is given; sizes shrink
/// with it, since a test-mode run measures nothing anyway.
pub fn mode() -> Mode {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    if flag("DAYBOOK_BENCH_SMOKE") || test_mode {
        Mode::Smoke
    } else if flag("DAYBOOK_BENCH_LONG") {
        Mode::Long
    } else {
        Mode::Normal
    }
}

impl Mode {
    /// `smoke`, `normal` or `long`, per mode.
    pub fn pick<T>(self, smoke: T, normal: T, long: T) -> T {
        match self {
            Self::Smoke => smoke,
            Self::Normal => normal,
            Self::Long => long,
        }
    }
}

/// Criterion's options that take a value (so the value is no filter).
const VALUED: &[&str] = &[
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--load-baseline",
    "--output-format",
    "--profile-time",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--color",
    "-c",
    "--plotting-backend",
    "--format",
];

/// The benchmark filter given on the command line, if any: for work a
/// bench does outside criterion (the memory figure), so a filtered run
/// skips it unless the filter names it.
pub fn filter() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// Whether work named `name` should run under the current filter.
pub fn selected(name: &str) -> bool {
    filter().is_none_or(|f| name.contains(&f))
}
