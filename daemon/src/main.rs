//! The `daybook` binary; all of it is [`daybook::cli::main`].

fn main() -> std::process::ExitCode {
    daybook::cli::main()
}
