//! Named crash points for the end-to-end tests. With the `failpoints`
//! feature, `FAILPOINTS="reduction-before-commit=return"` makes the process
//! SIGKILL itself exactly there (a real kill -9: no destructor, no rollback
//! handler runs). Without the feature the points compile to nothing; the
//! release build never has it.
//!
//! The points: `ingest-mid-transaction` (half of a group commit inserted),
//! `reduction-before-commit` (summarizer returned, reduction written, not
//! committed), `recovery-before-commit` (inside startup recovery),
//! `dayfile-before-rename` (one day's temp file written and synced, not
//! renamed), `dayfile-rebuild-rename` (a pass over many days,
//! `projection::rebuild` at startup or after `recover`: before each
//! rename, every rewritten day's temp file already made durable by one
//! `syncfs`; `=return` dies before the first rename, `=2*off->return`
//! after two), `dayfile-before-settle` (day files durable, their days
//! still listed in `stale_days`, see `projection`).
//!
//! One point only holds the process: `address-written=sleep(N)` stops the
//! start for N ms just after the address file is written (`server`), where
//! a watcher of the file may already send SIGTERM.

/// Kills this process with SIGKILL, as `kill -9` from outside would.
pub fn sigkill_self() -> ! {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
    // `kill` delivers the signal before it returns; never go on past here.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// A named crash point (see the module docs).
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| $crate::crash::sigkill_self())
    };
}
