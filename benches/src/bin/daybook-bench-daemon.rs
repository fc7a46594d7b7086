//! The `daybook` binary's `main` (`daybook::cli::main`) under another name.
//!
//! Why it exists: Cargo tells a bench where a binary is
//! (`CARGO_BIN_EXE_<name>`) only for binaries of the bench's own package,
//! and `cargo bench -p daybook-benches` does not build the `daybook`
//! binary at all. Everything this program does is `daybook::cli`, the same
//! code the `daybook` binary runs, in the same release profile, so the
//! benches start a real daemon process: its own address space for RSS,
//! its own lock, killable.

fn main() -> std::process::ExitCode {
    daybook::cli::main()
}
