//! Shared helpers of the end-to-end tests: the failpoints `daybook` binary,
//! a temp data directory with its config ([`Fixture`]), a guard around a
//! running daemon ([`Daemon`]), a tiny HTTP client, the command line, and
//! the checks every test ends with ([`assert_clean`]).
//!
//! Every wait polls with a deadline; nothing asserts on a bare sleep.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use daybook_core::{Dump, Store, check_quiet};
use serde_json::{Value, json};

/// The config of tests that need the cut rules to fire within seconds.
pub(crate) const FAST_CONFIG: &str = r#"
gap_minutes = "2s"
soft_cut_minutes = "1500ms"
switch_window_minutes = "1s"
tick_seconds = "200ms"
max_session_hours = "20s"
empty_session_minutes = "1s"
"#;

/// How long a daemon may take to start accepting events, or a command to
/// finish. Generous: a loaded 2-core CI machine runs debug builds.
pub(crate) const STARTUP: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The binary

/// The `daybook` binary built with the `failpoints` feature, next to this
/// test binary (`<target>/<profile>/daybook`); built on first use when it
/// is missing, older than the daemon's or core's sources, or lacks the
/// feature. See the crate docs (`tests/src/lib.rs`) for why.
pub(crate) fn daybook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // <target>/<profile>/deps/<test binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binaries live in <target>/<profile>/deps")
            .to_owned();
        let bin = profile_dir.join("daybook");
        if is_fresh(&bin) && has_failpoints(&bin) {
            return bin;
        }
        build_daybook(&profile_dir);
        assert!(
            has_failpoints(&bin),
            "{} was just built with --features failpoints but its crash points do not fire",
            bin.display()
        );
        bin
    })
}

/// The workspace root (this crate lives in `<root>/tests`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of the files `path` holds (recursively).
fn newest_under(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter_map(|e| newest_under(&e.path()))
        .max()
}

/// Whether `bin` exists and is newer than every source it is built from.
/// Cargo's own fingerprints decide in the fallback build; this only saves
/// that build (and a second compile of dependencies whose feature set the
/// outer build unified differently) when the binary is plainly current.
fn is_fresh(bin: &Path) -> bool {
    let Some(built) = mtime(bin) else { return false };
    let root = workspace_root();
    let sources = [
        root.join("Cargo.lock"),
        root.join("Cargo.toml"),
        root.join("daemon/Cargo.toml"),
        root.join("daemon/src"),
        root.join("core/Cargo.toml"),
        root.join("core/src"),
    ];
    sources.iter().filter_map(|p| newest_under(p)).all(|t| t <= built)
}

/// `cargo build -p daybook --features failpoints` into the target
/// directory and profile this test binary was built in.
fn build_daybook(profile_dir: &Path) {
    let target_dir = profile_dir.parent().expect("<target>/<profile>");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a profile directory name");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", "daybook", "--features", "failpoints", "--target-dir"])
        .arg(target_dir);
    // The `debug` directory is the `dev` profile's.
    if profile != "debug" {
        cmd.args(["--profile", profile]);
    }
    eprintln!("building the failpoints daemon: {cmd:?}");
    let status = cmd.status().expect("running cargo");
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// A smoke run: a daemon with `ingest-mid-transaction` armed must kill
/// itself on the first event. A binary built without the feature answers
/// 200 instead.
fn has_failpoints(bin: &Path) -> bool {
    if !bin.exists() {
        return false;
    }
    let fx = Fixture::new("");
    let mut daemon = Daemon::start_bin(&fx, bin, Some("ingest-mid-transaction=return"));
    let reply = daemon.post(&json!({"app": "smoke", "source": "smoke-test"}));
    if matches!(&reply, Ok(r) if r.status == 200) {
        return false;
    }
    let status = daemon.wait_exit(STARTUP);
    status.signal() == Some(9)
}

// ---------------------------------------------------------------------------
// A data directory and its config

/// A temp directory holding a data directory, a config file and the logs
/// of every daemon started on it. Kept (and its path printed) when the test
/// fails.
pub(crate) struct Fixture {
    tmp: Option<tempfile::TempDir>,
    /// The data directory.
    pub(crate) data: PathBuf,
    /// The config file.
    pub(crate) config: PathBuf,
    logs: PathBuf,
    starts: std::cell::Cell<u32>,
}

impl Fixture {
    /// A fresh data directory with `config` (TOML) as its config file.
    pub(crate) fn new(config: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("daybook-e2e-")
            .tempdir()
            .expect("temp dir");
        let data = tmp.path().join("data");
        let logs = tmp.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs dir");
        let config_path = tmp.path().join("config.toml");
        std::fs::write(&config_path, config).expect("writing config");
        Self {
            data,
            config: config_path,
            logs,
            tmp: Some(tmp),
            starts: std::cell::Cell::new(0),
        }
    }

    /// The SQLite database.
    pub(crate) fn db(&self) -> PathBuf {
        self.data.join("daybook.db")
    }

    /// The day files' directory.
    pub(crate) fn days(&self) -> PathBuf {
        self.data.join("days")
    }

    fn addr_file(&self) -> PathBuf {
        self.data.join("daybook.addr")
    }

    fn next_log(&self, what: &str) -> PathBuf {
        let n = self.starts.get() + 1;
        self.starts.set(n);
        self.logs.join(format!("{n:03}-{what}.log"))
    }

    /// A `daybook` command on this data directory and config.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(daybook_bin());
        cmd.arg("--data-dir")
            .arg(&self.data)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("DAYBOOK_DATA_DIR")
            .env_remove("FAILPOINTS")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command to completion (with a deadline) and returns its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let out_path = self.next_log(&format!("cli-{}-stdout", args[0]));
        let err_path = self.next_log(&format!("cli-{}-stderr", args[0]));
        let mut child = self
            .command(args)
            .stdout(File::create(&out_path).expect("log file"))
            .stderr(File::create(&err_path).expect("log file"))
            .spawn()
            .expect("spawning daybook");
        let status = wait_child(&mut child, STARTUP)
            .unwrap_or_else(|| panic!("`daybook {}` did not finish within {STARTUP:?}", args.join(" ")));
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// Runs a `--json` command that must succeed and parses its output.
    pub(crate) fn run_json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`daybook {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "`daybook {}` printed no JSON ({e}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `daybook sessions --all --json`.
    pub(crate) fn sessions(&self) -> Vec<Value> {
        match self.run_json(&["sessions", "--all", "--json"]) {
            Value::Array(rows) => rows,
            other => panic!("sessions --json is not an array: {other}"),
        }
    }

    /// The database's logical content, read in this process.
    pub(crate) fn dump(&self) -> Dump {
        let store = daybook::SqliteStore::open(&self.db()).expect("opening the database");
        store.dump().expect("dumping the database")
    }

    /// [`Self::dump`] with the day files on disk, for the projection check.
    pub(crate) fn dump_with_days(&self) -> Dump {
        Dump {
            day_files: Some(self.day_files()),
            ..self.dump()
        }
    }

    /// Every day file, `YYYY-MM-DD` → text.
    pub(crate) fn day_files(&self) -> BTreeMap<String, String> {
        daybook::projection::read_all(&self.days()).expect("reading day files")
    }

    /// The files in the day directory (temp files included).
    pub(crate) fn day_dir_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.days())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!("test failed; data, config and logs kept in {}", tmp.keep().display());
        }
    }
}

/// Waits for `child` to exit, up to `limit`.
fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` (`KILL`, `TERM`, `STOP`, `CONT`) to `pid` with kill(1).
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

// ---------------------------------------------------------------------------
// A running daemon

/// A `daybook run` child process on a fixture's data directory. Dropping
/// the guard SIGKILLs and reaps it, so a failed test never leaves one.
pub(crate) struct Daemon {
    child: Child,
    /// `host:port` it serves on, from `daybook.addr`; empty until known.
    pub(crate) addr: String,
    /// Its stderr log.
    pub(crate) log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Daemon {
    /// Starts the daemon and waits until it accepts events.
    pub(crate) fn start(fx: &Fixture) -> Self {
        Self::start_with(fx, None)
    }

    /// Starts the daemon with `FAILPOINTS` set (when given) and waits until
    /// it accepts events.
    pub(crate) fn start_with(fx: &Fixture, failpoints: Option<&str>) -> Self {
        Self::start_bin(fx, daybook_bin(), failpoints)
    }

    fn start_bin(fx: &Fixture, bin: &Path, failpoints: Option<&str>) -> Self {
        let _ = std::fs::remove_file(fx.addr_file());
        let mut daemon = Self::spawn_bin(fx, bin, failpoints);
        daemon.wait_ready(fx);
        daemon
    }

    /// Spawns the daemon without waiting for it to accept events. A stale
    /// address file of an earlier (killed) run is removed first, so
    /// [`Self::wait_ready`] sees this run's.
    pub(crate) fn spawn(fx: &Fixture, failpoints: Option<&str>) -> Self {
        let _ = std::fs::remove_file(fx.addr_file());
        Self::spawn_bin(fx, daybook_bin(), failpoints)
    }

    /// Spawns a daemon while another one may run, leaving the address file
    /// alone (the lock test checks the loser never touches it).
    pub(crate) fn spawn_contender(fx: &Fixture) -> Self {
        Self::spawn_bin(fx, daybook_bin(), None)
    }

    fn spawn_bin(fx: &Fixture, bin: &Path, failpoints: Option<&str>) -> Self {
        let log = fx.next_log("daemon");
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("--data-dir")
            .arg(&fx.data)
            .arg("--config")
            .arg(&fx.config)
            .args(["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"])
            .env_remove("DAYBOOK_DATA_DIR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        match failpoints {
            Some(fp) => cmd.env("FAILPOINTS", fp),
            None => cmd.env_remove("FAILPOINTS"),
        };
        let child = cmd.spawn().expect("spawning daybook run");
        Self {
            child,
            addr: String::new(),
            log,
            exited: None,
        }
    }

    /// Waits until the daemon wrote its address (it accepts events from
    /// then on). Panics, with the log, if it exits first or takes too long.
    pub(crate) fn wait_ready(&mut self, fx: &Fixture) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(text) = std::fs::read_to_string(fx.addr_file())
                && !text.trim().is_empty()
            {
                self.addr = text.trim().to_owned();
                return;
            }
            if let Some(status) = self.try_exit() {
                panic!("daybook exited during startup ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "daybook did not accept events within {STARTUP:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if it has exited.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("waiting for daybook");
        }
        self.exited
    }

    /// Waits for the process to exit; panics after `limit`.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        let status = wait_child(&mut self.child, limit)
            .unwrap_or_else(|| panic!("daybook did not exit within {limit:?}:\n{}", self.log_text()));
        self.exited = Some(status);
        status
    }

    /// `kill -9`, then reaps it; returns its exit status.
    pub(crate) fn kill9(&mut self) -> ExitStatus {
        if self.try_exit().is_none() {
            send_signal(self.pid(), "KILL");
        }
        self.wait_exit(STARTUP)
    }

    /// SIGTERM, then waits up to `limit` for it to exit.
    pub(crate) fn terminate(&mut self, limit: Duration) -> ExitStatus {
        send_signal(self.pid(), "TERM");
        self.wait_exit(limit)
    }

    /// SIGTERM and a clean exit (status 0) within 5 s.
    pub(crate) fn stop(&mut self) {
        let status = self.terminate(Duration::from_secs(5));
        assert!(
            status.success(),
            "daybook did not stop cleanly on SIGTERM: {status}\n{}",
            self.log_text()
        );
    }

    /// Posts events (one object or an array).
    pub(crate) fn post(&self, events: &Value) -> std::io::Result<Response> {
        let body = serde_json::to_vec(events).expect("serializable");
        http(&self.addr, "POST", "/v1/events", &[], &body)
    }

    /// Posts events that must be accepted, all of them.
    pub(crate) fn post_ok(&self, events: &Value) {
        let n = events.as_array().map_or(1, Vec::len);
        let reply = self.post(events).expect("posting events");
        assert_eq!(reply.status, 200, "events refused: {}", reply.body);
        let accepted = reply.json()["accepted"].as_u64();
        assert_eq!(accepted, Some(n as u64), "not every event accepted: {}", reply.body);
    }

    /// `GET /v1/status`.
    pub(crate) fn status(&self) -> Value {
        let reply = http(&self.addr, "GET", "/v1/status", &[], b"").expect("GET /v1/status");
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- daemon log {} ---\n{}", self.log.display(), self.log_text());
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP

/// A reply: status code and body.
#[derive(Debug)]
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: u16,
    /// The body, lossily decoded.
    pub(crate) body: String,
}

impl Response {
    /// The body as JSON (`null` if it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`). A
/// write error (the server answered early and closed) is reported only if
/// no reply can be read either.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let written = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    match (parse_response(&raw), written, read) {
        (Some(reply), _, _) => Ok(reply),
        (None, Err(e), _) | (None, Ok(()), Err(e)) => Err(e),
        (None, Ok(()), Ok(_)) => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no complete HTTP reply ({} bytes)", raw.len()),
        )),
    }
}

/// Parses a complete response (Content-Length or chunked body), skipping
/// interim `1xx` replies (`100 Continue`).
fn parse_response(mut raw: &[u8]) -> Option<Response> {
    let (status, head, mut rest) = loop {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..split]).ok()?;
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        raw = &raw[split + 4..];
        if status >= 200 {
            break (status, head, raw);
        }
    };
    let mut lines = head.split("\r\n");
    lines.next();
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..end]).ok()?.trim(), 16).ok()?;
            rest = &rest[end + 2..];
            if size == 0 {
                break body;
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
    } else {
        let n = length.unwrap_or(rest.len());
        rest.get(..n)?.to_vec()
    };
    Some(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

// ---------------------------------------------------------------------------
// Events and time

/// Now, RFC 3339 with milliseconds and the local offset, as clients send it.
pub(crate) fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// Milliseconds since the epoch of an RFC 3339 string.
pub(crate) fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339: {e}"))
        .timestamp_millis()
}

/// An event of `app` at `at` tagged with `source`.
pub(crate) fn event(app: &str, at: &str, source: &str) -> Value {
    json!({"app": app, "at": at, "title": format!("{app} window"), "source": source})
}

/// Counts stored events by their `source` tag.
pub(crate) fn count_sources(dump: &Dump) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in &dump.events {
        *counts.entry(e.event.source.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    counts
}

/// Polls `f` every 50 ms (it may run a command) until it returns `Some`,
/// or panics with `what`.
pub(crate) fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// The final checks

/// The checks every test ends with, on a stopped daemon's data directory:
/// `doctor --json` is ok; the quiet invariants hold (every session reduced,
/// every block covered, every day file its projection); each `acked`
/// source is stored exactly once and no source twice; each `absent`
/// source is not stored; each day file equals `daybook show DAY`; a
/// dry-run recovery finds nothing. "No day file holds a duplicate entry"
/// is in the quiet invariants: a day file equals the rendering of its
/// entries, and no two entries of a session share a window.
pub(crate) fn assert_clean(fx: &Fixture, acked: &[String], absent: &[String]) {
    let doctor = fx.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap_or(Value::Null);
    assert!(
        doctor.status.success() && report["ok"] == json!(true),
        "doctor found problems ({}): {report}\n{}",
        doctor.status,
        String::from_utf8_lossy(&doctor.stderr)
    );
    assert_eq!(report["violations"], json!([]), "doctor: {report}");

    let dump = fx.dump_with_days();
    let violations = check_quiet(&dump);
    assert!(violations.is_empty(), "quiet invariants broken: {violations:#?}");

    let counts = count_sources(&dump);
    let twice: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "events stored more than once: {twice:?}");
    let lost: Vec<&String> = acked.iter().filter(|s| !counts.contains_key(*s)).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost: {lost:?}", lost.len());
    let present: Vec<&String> = absent.iter().filter(|s| counts.contains_key(*s)).collect();
    assert!(present.is_empty(), "events that must not be stored are: {present:?}");

    let files = fx.day_files();
    assert!(
        !fx.day_dir_names().iter().any(|n| n.ends_with(".tmp")),
        "temp files left in days/: {:?}",
        fx.day_dir_names()
    );
    for (day, text) in &files {
        let shown = fx.run(&["show", day]);
        assert!(shown.status.success(), "daybook show {day} failed");
        assert_eq!(
            String::from_utf8_lossy(&shown.stdout),
            *text,
            "day file {day} differs from `daybook show {day}`"
        );
    }

    let dry = fx.run_json(&["recover", "--dry-run", "--json"]);
    assert_eq!(dry["recovered"], json!([]), "a stopped daemon left orphans: {dry}");
}

// ---------------------------------------------------------------------------
// A seeded PRNG

/// splitmix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough to
/// drive a client. No `rand` crate needed.
#[derive(Clone, Debug)]
pub(crate) struct Prng(u64);

impl Prng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// True with probability `percent`/100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }

    /// One element of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64) as usize]
    }
}

/// The seed: `$DAYBOOK_E2E_SEED` if set, else the clock; printed so a
/// failing run can be replayed (the kill timing is the OS's, so a replay
/// reproduces the client's choices, not the exact interleaving).
pub(crate) fn seed() -> u64 {
    let seed = std::env::var("DAYBOOK_E2E_SEED")
        .ok()
        .map(|s| s.parse().expect("DAYBOOK_E2E_SEED is a u64"))
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("seed: {seed} (replay with DAYBOOK_E2E_SEED={seed})");
    seed
}
