//! The daemon's summarizers: the core's built-in one, an OpenAI-compatible
//! chat-completions endpoint ([`openai`]), or a user-configured
//! command that reads a JSON [`CommandRequest`] on stdin and writes a JSON
//! [`Summary`] (`{"summary": "...", "lines": ["[10:00-10:05, App] ..."]}`)
//! on stdout within a timeout. Any failure of the command (cannot start,
//! non-zero exit, timeout, more than [`openai::MAX_BODY_BYTES`] of output,
//! bad JSON) is a summarizer error, which takes the engine's retry path;
//! nothing is lost. Output past the cap is never read: a runaway program
//! cannot grow the daemon's memory. `docs/summarizer.md` documents both
//! formats for people who write such a command.
//!
//! A command's answer is untrusted text, like what it summarizes: the core
//! makes its `summary` and each of its `lines` one inert line of the entry
//! (`daybook_core::text`, SPEC §12), whatever the model wrote.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use daybook_core::{
    BuiltinSummarizer, EntryKind, Error as CoreError, RequestId, SessionId, Summarizer, SummarizerKind, Summary,
    SummaryAnswer, SummaryRequest, builtin_summary,
};
use serde::Serialize;

pub mod openai;

use openai::OpenAi;

/// What an external command reads on stdin: the core's [`SummaryRequest`]
/// with every instant written as RFC 3339 in the block's own offset
/// (`2026-11-28T10:00:00.000+01:00`), not as the engine's epoch
/// milliseconds, so a script or a model reads local times as the user
/// saw them. This is a public format: `docs/summarizer.md` shows it.
#[derive(Debug, Serialize)]
pub struct CommandRequest<'a> {
    /// The session the entry belongs to.
    pub session_id: &'a SessionId,
    /// `"flush"` (the session is still running) or `"final"`.
    pub kind: EntryKind,
    /// The blocks to summarize, in window order.
    pub blocks: Vec<CommandBlock<'a>>,
}

/// One block of a [`CommandRequest`].
#[derive(Debug, Serialize)]
pub struct CommandBlock<'a> {
    /// The owning session (the request's).
    pub session_id: &'a SessionId,
    /// The window's start, RFC 3339 with the block's offset.
    pub start: String,
    /// The window's end (exclusive), RFC 3339 with the block's offset.
    pub end: String,
    /// That offset in seconds east of UTC, as the times carry it.
    pub offset: i32,
    /// Normalized context lines, in first-seen order.
    pub lines: &'a [String],
    /// Distinct apps, in first-seen order.
    pub apps: &'a [String],
    /// How many events fell into the window.
    pub capture_count: u32,
}

impl<'a> CommandRequest<'a> {
    /// The view of `request` a command is given. A block's `covered_by`
    /// is left out: a request only ever holds uncovered blocks.
    pub fn new(request: &'a SummaryRequest) -> Self {
        Self {
            session_id: &request.session_id,
            kind: request.kind,
            blocks: request
                .blocks
                .iter()
                .map(|b| CommandBlock {
                    session_id: &b.session_id,
                    start: b.start.rfc3339(b.offset),
                    end: b.end.rfc3339(b.offset),
                    offset: b.offset.0,
                    lines: &b.lines,
                    apps: &b.apps,
                    capture_count: b.capture_count,
                })
                .collect(),
        }
    }
}

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
    /// A graceful stop gave up waiting for it, and it was killed.
    #[error("{program} was stopped: daybook is stopping")]
    Abandoned {
        /// The program.
        program: String,
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

impl DaemonSummarizer {
    /// What the engine must know of it: the built-in one is a pure
    /// function reduce-pending applies itself; any other is asked.
    pub fn kind(&self) -> SummarizerKind {
        match self {
            Self::Builtin => SummarizerKind::Builtin,
            Self::External { .. } | Self::OpenAi(_) => SummarizerKind::External,
        }
    }

    /// The answer to the engine's request `id`, computed here and now (the
    /// caller's thread waits for it): what the one-shot commands
    /// (`daybook recover`, `reduce-pending`) and the built-in summarizer
    /// use. The daemon runs the others on [`Workers`].
    pub fn answer(&mut self, id: RequestId, request: &SummaryRequest) -> SummaryAnswer {
        SummaryAnswer {
            id,
            outcome: self.summarize(request).map_err(|e| e.to_string()),
        }
    }
}

/// Runs summary requests off the engine's thread: one thread per request,
/// which ends when its answer is handed back through `deliver` (the
/// engine bounds how many are outstanding, `summarizer_concurrency`, so
/// this never holds more). [`Workers::abandon`] gives up on every request
/// still running: a command is killed at once, an HTTP request ends with
/// its timeout or the process, and no answer is handed back after it.
#[derive(Debug)]
pub struct Workers {
    summarizer: DaemonSummarizer,
    abandoned: Arc<AtomicBool>,
}

impl Workers {
    /// Workers running `summarizer`.
    pub fn new(summarizer: DaemonSummarizer) -> Self {
        Self {
            summarizer,
            abandoned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether requests are answered inline (the built-in summarizer: a
    /// pure function of microseconds, not worth a thread).
    pub fn inline(&self) -> bool {
        matches!(self.summarizer, DaemonSummarizer::Builtin)
    }

    /// The built-in answer to `request`, inline.
    pub fn answer_inline(id: RequestId, request: &SummaryRequest) -> SummaryAnswer {
        SummaryAnswer {
            id,
            outcome: Ok(builtin_summary(&request.blocks)),
        }
    }

    /// Starts summarizing `request` on its own thread; `deliver` gets the
    /// answer unless the workers were abandoned meanwhile.
    pub fn spawn(
        &self,
        id: RequestId,
        request: SummaryRequest,
        deliver: impl FnOnce(SummaryAnswer) + Send + 'static,
    ) -> std::io::Result<()> {
        let summarizer = self.summarizer.clone();
        let abandoned = Arc::clone(&self.abandoned);
        thread::Builder::new().name("daybook-summary".into()).spawn(move || {
            let outcome = match &summarizer {
                DaemonSummarizer::Builtin => Ok(builtin_summary(&request.blocks)),
                DaemonSummarizer::External { command, timeout } => {
                    run_external(command, *timeout, &request, &abandoned).map_err(|e| e.to_string())
                }
                DaemonSummarizer::OpenAi(endpoint) => endpoint.summarize(&request).map_err(|e| e.to_string()),
            };
            if !abandoned.load(Ordering::SeqCst) {
                deliver(SummaryAnswer { id, outcome });
            }
        })?;
        Ok(())
    }

    /// Gives up on every request still running (graceful stop, after the
    /// grace period).
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }
}

impl Summarizer for DaemonSummarizer {
    fn summarize(&mut self, request: &SummaryRequest) -> Result<Summary, CoreError> {
        match self {
            Self::Builtin => BuiltinSummarizer.summarize(request),
            Self::External { command, timeout } => run_external(command, *timeout, request, &AtomicBool::new(false))
                .map_err(|e| CoreError::Summarizer(Box::new(e))),
            Self::OpenAi(endpoint) => endpoint
                .summarize(request)
                .map_err(|e| CoreError::Summarizer(Box::new(e))),
        }
    }
}

/// Runs the command on `request`; killed at its timeout, or at once when
/// `abandoned` is set (a graceful stop gave up waiting).
fn run_external(
    command: &[String],
    timeout: Duration,
    request: &SummaryRequest,
    abandoned: &AtomicBool,
) -> Result<Summary, ExternalFailure> {
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
    let input = serde_json::to_vec(&CommandRequest::new(request)).expect("a summary request serializes");
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
            Ok(None) if abandoned.load(Ordering::SeqCst) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExternalFailure::Abandoned { program });
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
    use daybook_core::{Block, Timestamp, UtcOffset};
    use serde_json::json;

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

    /// A final request of one block, 2026-11-28 10:00-10:01 at +01:00.
    fn one_block_request() -> SummaryRequest {
        let start = Timestamp(1_795_856_400_000); // 2026-11-28T09:00:00Z
        SummaryRequest {
            session_id: SessionId::from("s1"),
            kind: EntryKind::Final,
            blocks: vec![Block {
                session_id: SessionId::from("s1"),
                start,
                end: Timestamp(start.0 + 60_000),
                rev: 0,
                offset: UtcOffset(3600),
                lines: vec!["Code — main.rs | typed: fn main() {}".into()],
                apps: vec!["Code".into()],
                capture_count: 3,
                covered_by: None,
            }],
        }
    }

    #[test]
    fn a_command_reads_rfc3339_times_in_the_blocks_offset() {
        let request = one_block_request();
        let value = serde_json::to_value(CommandRequest::new(&request)).unwrap();
        assert_eq!(
            value,
            json!({
                "session_id": "s1",
                "kind": "final",
                "blocks": [{
                    "session_id": "s1",
                    "start": "2026-11-28T10:00:00.000+01:00",
                    "end": "2026-11-28T10:01:00.000+01:00",
                    "offset": 3600,
                    "lines": ["Code — main.rs | typed: fn main() {}"],
                    "apps": ["Code"],
                    "capture_count": 3,
                }],
            })
        );
        for key in ["start", "end"] {
            let t = value["blocks"][0][key]
                .as_str()
                .expect("a string, not epoch milliseconds");
            let parsed = chrono::DateTime::parse_from_rfc3339(t).unwrap();
            assert_eq!(parsed.offset().local_minus_utc(), 3600, "{t}");
        }
    }

    #[test]
    fn the_command_is_given_that_view_on_stdin() {
        // The script answers only if its stdin holds the RFC 3339 start.
        let mut z = sh(
            r#"case "$(cat)" in
                 *'"start":"2026-11-28T10:00:00.000+01:00","end":"2026-11-28T10:01:00.000+01:00"'*)
                   echo '{"summary":"rfc3339 seen","lines":[]}' ;;
                 *) exit 7 ;;
               esac"#,
            Duration::from_secs(10),
        );
        let answer = z.summarize(&one_block_request()).unwrap();
        assert_eq!(answer.summary, "rfc3339 seen");
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
