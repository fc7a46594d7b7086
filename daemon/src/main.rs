//! The `daybook` binary: parses the command line and runs it.

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
    // Reads FAILPOINTS from the environment; a no-op without the feature.
    let _failpoints = fail::FailScenario::setup();
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
