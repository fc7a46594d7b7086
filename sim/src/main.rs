//! `daybook-sim --seed S --seeds N --store mem|sqlite [--trace-hash] [--verbose]`
//!
//! Runs seeds `S..S+N`, prints one summary line, and exits non-zero on the
//! first failing seed after printing the one command that replays it.
//! Exit codes: 0 every seed passed (and, for 100 seeds or more, every
//! required coverage mark was reached); 1 a seed failed; 2 a required
//! coverage mark was never reached; 3 the run could not happen here.

use std::process::ExitCode;

use clap::Parser;
use daybook_sim::StoreKind;

/// daybook's deterministic crash simulator.
#[derive(Debug, Parser)]
#[command(name = "daybook-sim", version, about)]
struct Args {
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many seeds to run.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// The store under the engine.
    #[arg(long, value_enum, default_value_t = StoreKind::Mem)]
    store: StoreKind,
    /// Print the run's trace hash as the last line.
    #[arg(long)]
    trace_hash: bool,
    /// Print every engine call of every seed (use with one seed).
    #[arg(long)]
    verbose: bool,
    /// Worker threads; defaults to the machine's cores.
    #[arg(long)]
    jobs: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    run(&args)
}

#[cfg(not(madsim))]
fn run(args: &Args) -> ExitCode {
    println!(
        "daybook-sim runs only in the madsim build; use: {}",
        replay_command(args.seed, args.seeds, args.store, false)
    );
    ExitCode::from(3)
}

#[cfg(madsim)]
fn run(args: &Args) -> ExitCode {
    use daybook_sim::runner::run_range;

    /// Below this many seeds a run does not insist on full coverage.
    const COVERAGE_MIN_SEEDS: u64 = 100;

    daybook_sim::panics::install_hook(args.verbose);
    // madsim reports every injected crash on stderr; everything the
    // simulator has to say goes to stdout, failures included.
    let _quiet = if args.verbose { None } else { gag::Gag::stderr().ok() };
    let kind = args.store;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let started = std::time::Instant::now();
    let (totals, failure) = run_range(args.seed, args.seeds, jobs, |seed| {
        daybook_sim::run_seed(seed, kind, args.verbose)
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeds={} crashes={} restarts={} events={} acked={} inputs={} secs={secs:.1} marks: {}",
        totals.seeds, totals.crashes, totals.restarts, totals.events, totals.acked, totals.inputs, totals.coverage
    );
    let code = if let Some(f) = &failure {
        if let daybook_sim::Failure::Unavailable(why) = &f.failure {
            println!("cannot run: {why}");
            ExitCode::from(3)
        } else {
            println!("FAILED seed {}: {}", f.seed, f.failure);
            println!("replay: {}", replay_command(f.seed, 1, args.store, true));
            ExitCode::from(1)
        }
    } else {
        let missing = totals.coverage.missing();
        if args.seeds >= COVERAGE_MIN_SEEDS && !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|m| m.name()).collect();
            println!("coverage: never reached: {}", names.join(", "));
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    };
    if args.trace_hash {
        println!("{:016x}", totals.trace_hash());
    }
    code
}

/// The one command that runs `seeds` seeds from `seed` again.
fn replay_command(seed: u64, seeds: u64, store: StoreKind, verbose: bool) -> String {
    format!(
        "CARGO_TARGET_DIR=target/sim RUSTFLAGS=\"--cfg madsim\" cargo run --release -p daybook-sim{} -- --seed {seed} --seeds {seeds} --store {}{}",
        if store == StoreKind::Sqlite {
            " --features sqlite"
        } else {
            ""
        },
        store.name(),
        if verbose { " --verbose" } else { "" }
    )
}
