//! The daemon's summarizers: the core's built-in one, an OpenAI-compatible
//! chat-completions endpoint ([`openai`]), or a user-configured
//! command that reads a JSON [`SummaryRequest`] on stdin and writes a JSON
//! [`Summary`] (`{"summary": "...", "lines": ["[10:00-10:05, App] ..."]}`)
//! on stdout within a timeout. Any failure of the command (cannot start,
//! non-zero exit, timeout, more than [`openai::MAX_BODY_BYTES`] of output,
//! bad JSON) is a summarizer error, which takes the engine's retry path;
//! nothing is lost. Output past the cap is never read: a runaway program
//! cannot grow the daemon's memory.
//!
//! A command's answer is untrusted text, like what it summarizes: the core
//! makes its `summary` and each of its `lines` one inert line of the entry
//! (`daybook_core::text`, SPEC §12), whatever the model wrote.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use daybook_core::{BuiltinSummarizer, Error as CoreError, Summarizer, Summary, SummaryRequest};

pub mod openai;

use openai::OpenAi;

/// Why the external command failed (the source of a summarizer error).
#[derive(Debug, thiserror::Error)]
pub enum ExternalFailure {
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than the timeout and was killed.
    #[error("{program} took longer than {timeout:?}")]
    Timeout {
        /// The program.
        program: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// It exited unsuccessfully.
    #[error("{program} exited with {status}: {stderr}")]
    Exit {
        /// The program.
        program: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The start of its stderr.
        stderr: String,
    },
    /// It printed more than [`openai::MAX_BODY_BYTES`] on stdout.
    #[error("{program} printed more than {limit} bytes")]
    TooLong {
        /// The program.
        program: String,
        /// The cap, in bytes.
        limit: u64,
    },
    /// Its stdout was not a summary.
    #[error("{program} printed no valid summary JSON: {source}")]
    Output {
        /// The program.
        program: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The summarizer the daemon runs.
#[derive(Debug, Clone)]
pub enum DaemonSummarizer {
    /// The deterministic offline one.
    Builtin,
    /// A user command.
    External {
        /// argv.
        command: Vec<String>,
        /// Longest it may take.
        timeout: Duration,
    },
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi(OpenAi),
}

impl Summarizer for DaemonSummarizer {
    fn summarize(&mut self, request: &SummaryRequest) -> Result<Summary, CoreError> {
        match self {
            Self::Builtin => BuiltinSummarizer.summarize(request),
            Self::External { command, timeout } => {
                run_external(command, *timeout, request).map_err(|e| CoreError::Summarizer(Box::new(e)))
            }
            Self::OpenAi(endpoint) => endpoint
                .summarize(request)
                .map_err(|e| CoreError::Summarizer(Box::new(e))),
        }
    }
}

fn run_external(command: &[String], timeout: Duration, request: &SummaryRequest) -> Result<Summary, ExternalFailure> {
    let program = command[0].clone();
    let mut child = Command::new(&program)
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ExternalFailure::Spawn {
            program: program.clone(),
            source,
        })?;
    let input = serde_json::to_vec(request).expect("a summary request serializes");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Feed and drain on threads so a chatty or stuck program cannot
    // deadlock the pipes; the deadline below is what bounds the wait.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        // One byte past the cap tells "too long" from "exactly the cap";
        // the pipe closes when `stdout` drops, so the program stops too.
        let mut out = Vec::new();
        let _ = stdout.by_ref().take(openai::MAX_BODY_BYTES + 1).read_to_end(&mut out);
        out
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stderr.by_ref().take(4096).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExternalFailure::Timeout { program, timeout });
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(source) => return Err(ExternalFailure::Spawn { program, source }),
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    // Checked before the exit status: a program cut off by the closed pipe
    // exits with an error that says less than this.
    if out.len() as u64 > openai::MAX_BODY_BYTES {
        return Err(ExternalFailure::TooLong {
            program,
            limit: openai::MAX_BODY_BYTES,
        });
    }
    if !status.success() {
        return Err(ExternalFailure::Exit {
            program,
            status,
            stderr: String::from_utf8_lossy(&err).trim().to_owned(),
        });
    }
    serde_json::from_slice(&out).map_err(|source| ExternalFailure::Output { program, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use daybook_core::{EntryKind, SessionId};

    fn request() -> SummaryRequest {
        SummaryRequest {
            session_id: SessionId::from("s"),
            kind: EntryKind::Final,
            blocks: Vec::new(),
        }
    }

    fn sh(script: &str, timeout: Duration) -> DaemonSummarizer {
        DaemonSummarizer::External {
            command: vec!["sh".into(), "-c".into(), script.into()],
            timeout,
        }
    }

    #[test]
    fn an_external_command_answers_with_json() {
        let mut z = sh(
            r#"cat >/dev/null; echo '{"summary":"from a model","lines":["[10:00-10:05, Code] x"]}'"#,
            Duration::from_secs(10),
        );
        let s = z.summarize(&request()).unwrap();
        assert_eq!(s.summary, "from a model");
        assert_eq!(s.lines, ["[10:00-10:05, Code] x"]);
    }

    #[test]
    fn failures_are_summarizer_errors() {
        for (script, needle) in [
            ("exit 3", "exited"),
            ("echo nonsense", "no valid summary"),
            ("sleep 5", "longer than"),
            ("cat >/dev/null; yes | head -c 2000000", "more than 1048576 bytes"),
        ] {
            let err = sh(script, Duration::from_millis(2000))
                .summarize(&request())
                .unwrap_err();
            assert!(matches!(err, CoreError::Summarizer(_)), "{err}");
            assert!(err.to_string().contains(needle), "{script}: {err}");
        }
        let missing = DaemonSummarizer::External {
            command: vec!["/no/such/program".into()],
            timeout: Duration::from_secs(1),
        };
        assert!(
            missing
                .clone()
                .summarize(&request())
                .unwrap_err()
                .to_string()
                .contains("cannot run")
        );
    }
}
