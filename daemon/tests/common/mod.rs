//! What every daemon test shares: a temp data directory with a test config,
//! the real `daybook` binary as a child process (killed and reaped in
//! `Drop`, so no daemon outlives its test), an HTTP client, and the
//! database's logical content for before/after comparisons.
//!
//! Nothing here sleeps to assert: waits poll a condition until a deadline
//! and fail with the daemon's log when it passes.

#![allow(dead_code, unreachable_pub)] // each test binary uses a part of it

pub mod fake_llm;
pub mod openchronicle;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use daybook::SqliteStore;
use daybook_core::{Dump, Store};
use serde_json::Value;
use tempfile::TempDir;

/// How long anything that should happen "at once" may take before a test
/// fails instead of hanging. Generous: a debug build on a busy 2-core box.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A config that keeps every default except a one-second tick, so cut
/// rules (an idle gap in the past) apply within a second.
pub const FAST_TICK: &str = "tick_seconds = \"1s\"\n";

/// The path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_daybook")
}

/// What a finished `daybook` command did.
#[derive(Debug)]
pub struct Ran {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Ran {
    /// Whether it exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout as JSON, or a panic showing both streams.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// Panics (showing both streams) unless it exited 0.
    pub fn assert_ok(self, what: &str) -> Self {
        assert!(
            self.ok(),
            "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Waits for `child` until `deadline`; kills it and panics if it is still
/// running then.
pub fn wait_until(child: &mut Child, deadline: Instant, what: &str) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after its deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after
/// [`DEADLINE`].
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A data directory and config file in a fresh temp directory.
pub struct TestDir {
    dir: TempDir,
}

impl TestDir {
    /// A fresh directory whose config file holds `config` (TOML). Many
    /// tests send events on fixed dates, further back than the default
    /// `max_lateness_days` (30) allows; unless `config` sets it, the file
    /// starts with a ten-year bound (before any table, so it stays a
    /// top-level key).
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = if config.contains("max_lateness_days") {
            config.to_owned()
        } else {
            format!("max_lateness_days = 3650\n{config}")
        };
        std::fs::write(dir.path().join("config.toml"), config).expect("write config");
        Self { dir }
    }

    /// The temp directory itself (for extra files: configs, imports).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory (created by daybook on first use).
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.data().join("daybook.db")
    }

    /// The directory of day files.
    pub fn days(&self) -> PathBuf {
        self.data().join("days")
    }

    /// Every day file, `(name, text)`, by name.
    pub fn day_files(&self) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = match std::fs::read_dir(self.days()) {
            Ok(entries) => entries
                .map(|e| e.expect("dir entry"))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(e.path()).expect("read day file"))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    /// `daybook --data-dir D --config C`, with the environment cleared of
    /// anything that could point it elsewhere.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--data-dir")
            .arg(self.data())
            .arg("--config")
            .arg(self.config())
            .env_remove("DAYBOOK_DATA_DIR")
            .env_remove("FAILPOINTS")
            .env("RUST_LOG", "info");
        cmd
    }

    /// [`Self::command`] run through `sh` with the file-mode mask `umask`
    /// (e.g. `"022"`, the usual default), which only a shell can set
    /// without unsafe code.
    pub fn command_under_umask(&self, umask: &str) -> Command {
        let inner = self.command();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(inner.get_program())
            .args(inner.get_args())
            .env_remove("DAYBOOK_DATA_DIR")
            .env_remove("FAILPOINTS")
            .env("RUST_LOG", "info");
        cmd
    }

    /// Runs `daybook ARGS` to completion (failing the test after
    /// [`DEADLINE`]).
    pub fn daybook(&self, args: &[&str]) -> Ran {
        self.run_command(self.command(), args)
    }

    /// Runs `daybook ARGS` under `umask` to completion.
    pub fn daybook_under_umask(&self, umask: &str, args: &[&str]) -> Ran {
        self.run_command(self.command_under_umask(umask), args)
    }

    fn run_command(&self, mut command: Command, args: &[&str]) -> Ran {
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn daybook");
        // Drain both pipes on threads so a chatty command cannot block.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).expect("read stdout");
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut s).expect("read stderr");
            s
        });
        let status = wait_until(&mut child, Instant::now() + DEADLINE, &format!("daybook {args:?}"));
        Ran {
            code: status.code(),
            stdout: out.join().expect("stdout thread"),
            stderr: err.join().expect("stderr thread"),
        }
    }

    /// Starts `daybook run --listen 127.0.0.1:0` and waits until it
    /// accepts events (it writes `daybook.addr` only then).
    pub fn start(&self) -> Daemon {
        std::fs::create_dir_all(self.data()).expect("create data dir");
        self.start_with(self.command())
    }

    /// [`Self::start`] with extra environment variables for the daemon.
    pub fn start_with_env(&self, env: &[(&str, &str)]) -> Daemon {
        std::fs::create_dir_all(self.data()).expect("create data dir");
        let mut command = self.command();
        command.envs(env.iter().copied());
        self.start_with(command)
    }

    /// [`Self::start`] under the file-mode mask `umask`, leaving the data
    /// directory for daybook to create.
    pub fn start_under_umask(&self, umask: &str) -> Daemon {
        self.start_with(self.command_under_umask(umask))
    }

    fn start_with(&self, mut command: Command) -> Daemon {
        let addr_file = self.data().join("daybook.addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = self.dir.path().join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        ));
        let log_file = File::create(&log).expect("create log");
        let child = command
            .args(["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log"))
            .stderr(log_file)
            .spawn()
            .expect("spawn daybook run");
        let mut daemon = Daemon {
            child,
            addr: String::new(),
            log,
            agent: agent(),
        };
        let deadline = Instant::now() + DEADLINE;
        daemon.addr = loop {
            if let Some(status) = daemon.child.try_wait().expect("try_wait") {
                panic!(
                    "daemon exited before accepting events ({status}); log:\n{}",
                    daemon.log()
                );
            }
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && !text.trim().is_empty()
            {
                break text.trim().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not accept events in time; log:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        daemon
    }

    /// The database's logical content, read through a `SqliteStore` of
    /// its own (a reader beside the daemon; WAL lets both run).
    pub fn dump(&self) -> Dump {
        let store = SqliteStore::open(&self.db()).expect("open database");
        store.dump().expect("dump")
    }
}

/// The value of header `name` (case-insensitive) in an HTTP message's
/// head, if there.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// An HTTP client that returns 4xx/5xx as responses, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(DEADLINE))
        .build()
        .into()
}

/// A running `daybook run`; killed and reaped on drop.
pub struct Daemon {
    child: Child,
    /// The address it listens on.
    pub addr: String,
    log: PathBuf,
    agent: ureq::Agent,
}

/// An HTTP reply: status and body text.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// The body as JSON, or a panic showing it.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("reply {} is not JSON ({e}): {}", self.status, self.body))
    }
}

impl Daemon {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn reply(&self, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Reply {
        let mut resp = r.unwrap_or_else(|e| panic!("{what}: {e}; log:\n{}", self.log()));
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("read reply body");
        Reply { status, body }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.reply(self.agent.get(&self.url(path)).call(), path)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.reply(self.agent.post(&self.url(path)).send_json(body), path)
    }

    /// `POST path` with raw bytes as `application/json`.
    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Reply {
        self.reply(
            self.agent
                .post(&self.url(path))
                .header("content-type", "application/json")
                .send(body),
            path,
        )
    }

    /// `POST /v1/events`, expecting `200`; returns the reply's JSON.
    pub fn ingest(&self, events: &Value) -> Value {
        let r = self.post_json("/v1/events", events);
        assert_eq!(r.status, 200, "POST /v1/events {events}: {}", r.body);
        r.json()
    }

    /// `GET /v1/status` as JSON.
    pub fn status(&self) -> Value {
        let r = self.get("/v1/status");
        assert_eq!(r.status, 200, "GET /v1/status: {}", r.body);
        r.json()
    }

    /// Waits until no session is open, pending or failed: the store is
    /// quiet, so its dump stays put until the next request.
    pub fn wait_quiet(&self) -> Value {
        poll("the daemon to go quiet", || {
            let s = self.status();
            let quiet = s["open_session"].is_null() && s["pending_sessions"] == 0 && s["failed_sessions"] == 0;
            quiet.then_some(s)
        })
    }

    /// Sends SIGTERM (through `kill`, as a service manager would) and
    /// waits for the exit; fails if it takes more than five seconds.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends `SIG<name>` through `kill` and waits for the exit; fails if
    /// it takes more than five seconds.
    pub fn signal(&mut self, name: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} failed");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon still running 5 s after SIG{name}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses an RFC 3339 instant that must carry an explicit numeric offset
/// (`+01:00`, `+00:00`, never a bare `Z`); returns UTC milliseconds.
pub fn instant_with_offset(s: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"));
    let tail = &s[s.len().saturating_sub(6)..];
    let b = tail.as_bytes();
    assert!(
        b.len() == 6
            && (b[0] == b'+' || b[0] == b'-')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b[3] == b':'
            && b[4].is_ascii_digit()
            && b[5].is_ascii_digit(),
        "{s:?} has no numeric UTC offset"
    );
    t.timestamp_millis()
}

/// UTC milliseconds of an RFC 3339 literal (test data).
pub fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .timestamp_millis()
}

/// An OpenChronicle `sessions` row: `(id, start_time, end_time, status)`.
pub type OcSession<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

/// An OpenChronicle `timeline_blocks` row: `(id, start_time, end_time,
/// entries, apps_used, capture_count)`.
pub type OcBlock<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [&'a str], i64);

/// Writes a small OpenChronicle `index.db` at `path`, timestamps as given
/// (ISO-8601 text with offsets), lists as JSON text.
pub fn write_openchronicle(path: &Path, sessions: &[OcSession<'_>], blocks: &[OcBlock<'_>]) {
    let root = openchronicle::Root::create(path.parent().expect("index.db has a directory"));
    let conn = root.connection();
    for (id, start, end, status) in sessions {
        conn.execute(
            "INSERT INTO sessions (id, start_time, end_time, status, retry_count, last_error, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 0, '', ?2, ?2)",
            rusqlite::params![id, start, end, status],
        )
        .expect("insert session");
    }
    for (id, start, end, entries, apps, count) in blocks {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        conn.execute(
            "INSERT INTO timeline_blocks (id, start_time, end_time, timezone, entries, apps_used, capture_count, created_at)
             VALUES (?1, ?2, ?3, 'CET', ?4, ?5, ?6, ?3)",
            rusqlite::params![
                id,
                start,
                end,
                openchronicle::py_json(&strings(entries)),
                openchronicle::py_json(&strings(apps)),
                count
            ],
        )
        .expect("insert block");
    }
}
