//! The `daybook` binary's `main`, line for line, under another name.
//!
//! Why it exists: Cargo tells a bench where a binary is
//! (`CARGO_BIN_EXE_<name>`) only for binaries of the bench's own package,
//! and `cargo bench -p daybook-benches` does not build the `daybook`
//! binary at all. Everything this program does is `daybook::cli`, the same
//! code the `daybook` binary runs, in the same release profile, so the
//! benches start a real daemon process: its own address space for RSS,
//! its own lock, killable.

use std::process::ExitCode;

use clap::Parser;
use daybook::cli::{Cli, report_error};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.execute() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}
