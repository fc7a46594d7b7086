//! Invariant 7, determinism: the simulator gives the same trace for the
//! same seed — within one process, across processes, and whatever the
//! number of worker threads — and different seeds give different traces.
//! In the plain build the binary must say how to get the madsim one.

use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_daybook-sim");

/// The last line of a run of `args`, and its exit code.
fn last_line(args: &[&str]) -> (String, Option<i32>) {
    let out = Command::new(EXE).args(args).output().expect("the simulator runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text.lines().last().unwrap_or_default().to_owned(), out.status.code())
}

#[cfg(madsim)]
#[test]
fn same_seed_same_trace_in_one_process() {
    use daybook_sim::{StoreKind, run_seed};
    for seed in [3, 17, 175] {
        let first = run_seed(seed, StoreKind::Mem, false).expect("the seed passes");
        let second = run_seed(seed, StoreKind::Mem, false).expect("the seed passes");
        assert_eq!(first, second, "seed {seed}");
        assert!(first.inputs > 100, "seed {seed} did something");
    }
    let a = run_seed(3, StoreKind::Mem, false).unwrap();
    let b = run_seed(4, StoreKind::Mem, false).unwrap();
    assert_ne!(a.hash, b.hash);
}

#[cfg(madsim)]
#[test]
fn same_seeds_same_trace_across_processes_and_thread_counts() {
    let run = |seed: &str, jobs: &str| last_line(&["--seed", seed, "--seeds", "12", "--jobs", jobs, "--trace-hash"]);
    let (one, code) = run("40", "1");
    assert_eq!(code, Some(0));
    assert_eq!(one.len(), 16, "a 64-bit hex hash: {one}");
    assert_eq!(run("40", "1").0, one, "a second process");
    assert_eq!(run("40", "3").0, one, "three threads");
    assert_ne!(run("41", "2").0, one, "other seeds");
}

#[cfg(not(madsim))]
#[test]
fn the_plain_build_names_the_madsim_command() {
    let (line, code) = last_line(&["--seed", "7", "--seeds", "3"]);
    assert_eq!(code, Some(3));
    assert!(
        line.contains("RUSTFLAGS=\"--cfg madsim\"") && line.contains("--seed 7 --seeds 3"),
        "{line}"
    );
}

/// The SQLite mode runs the same harness over the daemon's store: where the
/// two stores hold the same logical content after every step, the traces
/// (which hash every output and the final dump) are the same too.
#[cfg(all(madsim, feature = "sqlite"))]
#[test]
fn sqlite_and_memstore_give_the_same_trace() {
    use daybook_sim::{StoreKind, run_seed};
    for seed in [1, 9, 175] {
        let mem = run_seed(seed, StoreKind::Mem, false).expect("the seed passes over MemStore");
        let sqlite = run_seed(seed, StoreKind::Sqlite, false).expect("the seed passes over SqliteStore");
        assert_eq!(mem, sqlite, "seed {seed}");
    }
}
