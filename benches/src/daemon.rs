//! A real daemon process (`daybook run --listen 127.0.0.1:0`) and a small
//! blocking HTTP client for it. Loopback only; every request loop in the
//! benches is bounded by a count.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use daybook_core::{Timestamp, UtcOffset};

/// The daemon binary a bench runs: `DAYBOOK_BENCH_DAEMON` if set (a
/// saved build, to measure another commit's daemon beside this one in
/// one session), else `this_build` (the bench's own
/// `CARGO_BIN_EXE_daybook-bench-daemon`).
pub fn bin(this_build: &str) -> PathBuf {
    std::env::var_os("DAYBOOK_BENCH_DAEMON").map_or_else(|| this_build.into(), PathBuf::from)
}

/// How long a daemon may take to start before the bench gives up.
const START_LIMIT: Duration = Duration::from_secs(120);

/// A running daemon on a data directory. Killed (SIGKILL) on drop unless
/// stopped.
pub struct Daemon {
    child: Child,
    addr: String,
}

impl Daemon {
    /// Starts `bin run` on `data_dir` (an empty config file: the defaults)
    /// and waits until it accepts connections. A stale address file is
    /// removed first, so the one waited for is this daemon's.
    pub fn start(bin: &Path, data_dir: &Path) -> Self {
        Self::start_with(bin, data_dir, "")
    }

    /// [`Self::start`] with `config` (TOML) as the config file.
    pub fn start_with(bin: &Path, data_dir: &Path, config: &str) -> Self {
        let addr_file = data_dir.join("daybook.addr");
        let _ = fs::remove_file(&addr_file);
        let config_text = config;
        let config = data_dir.join("bench-config.toml");
        fs::write(&config, config_text).expect("writing the config");
        let child = Command::new(bin)
            .args(["--config"])
            .arg(&config)
            .args(["--data-dir"])
            .arg(data_dir)
            .args(["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"])
            .env(
                "RUST_LOG",
                std::env::var("DAYBOOK_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the daemon");
        let mut daemon = Self {
            child,
            addr: String::new(),
        };
        let limit = Instant::now() + START_LIMIT;
        loop {
            if let Ok(addr) = fs::read_to_string(&addr_file) {
                daemon.addr = addr.trim().to_owned();
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("the daemon exited during startup: {status}");
            }
            assert!(
                Instant::now() < limit,
                "the daemon did not start within {START_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmRSS, VmHWM)` in KiB, from `/proc/<pid>/status`.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("reading /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time the daemon has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(&self.pid().to_string())
    }

    /// Stops it the way a user does (SIGTERM: the open session ends with
    /// reason `shutdown` and is reduced) and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let status = self.child.wait().expect("waiting for the daemon");
        assert!(status.success(), "the daemon stopped with {status}");
    }
}

impl Daemon {
    /// Kills it with SIGKILL, as a crash or the OOM killer does: the open
    /// session stays `active` (an orphan for the next start) and no clean
    /// stop is recorded.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user + system) process `pid` (or `self`) has used, from
/// `/proc/<pid>/stat`, at the usual 100 ticks a second.
pub fn cpu_time(pid: &str) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc stat");
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Duration::from_millis((f[11] + f[12]) * 10)
}

/// A keep-alive HTTP/1.1 client of one daemon (one per client thread),
/// written against `std::net::TcpStream` directly: a general client (ureq
/// was tried first) spent more CPU per request than the daemon itself,
/// and on two shared cores that measured the load generator, not daybook.
/// It speaks just what `POST /v1/events` needs: a request with a
/// `Content-Length`, a reply with one.
pub struct Client {
    stream: BufReader<TcpStream>,
    addr: String,
    head: Vec<u8>,
}

impl Client {
    /// A client connected to the daemon at `addr`.
    pub fn new(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).expect("connecting to the daemon");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        Self {
            stream: BufReader::new(stream),
            addr: addr.to_owned(),
            head: Vec::new(),
        }
    }

    /// Posts a body of events; returns how many the daemon says it
    /// committed. Panics on anything but 200: a bench must not count an
    /// unacknowledged event.
    pub fn post(&mut self, body: &str) -> u64 {
        let (status, text) = self.request("/v1/events", body);
        assert_eq!(status, 200, "the daemon refused events: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("a JSON reply");
        v["accepted"].as_u64().expect("an accepted count")
    }

    /// Posts `body` to `path` (any JSON route, e.g. an ActivityWatch
    /// heartbeat); returns the status and the reply's body.
    pub fn request(&mut self, path: &str, body: &str) -> (u16, String) {
        self.head.clear();
        write!(
            self.head,
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .expect("formatting a request");
        let out = self.stream.get_mut();
        out.write_all(&self.head).expect("sending a request");
        out.write_all(body.as_bytes()).expect("sending a request");
        self.reply()
    }

    /// Reads one reply: its status and body.
    fn reply(&mut self) -> (u16, String) {
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("reading a reply");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP reply: {line:?}"));
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("reading a reply");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("a content length");
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("reading a reply body");
        (status, String::from_utf8(body).expect("a UTF-8 reply"))
    }
}

/// Event timestamps for capture clients: one second apart, handed out in
/// order across threads, starting `span` before now so even a million
/// events stay in the past. Sessions then end by the two-hour timeout, so
/// the daemon does real session work (tail blocks, final reductions, day
/// files) while it ingests.
pub struct Stamps {
    next: AtomicI64,
}

impl Stamps {
    /// Stamps from `now - span`, on a whole second.
    pub fn new(span: Duration) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970");
        let start = (now.saturating_sub(span).as_secs() * 1000) as i64;
        Self {
            next: AtomicI64::new(start),
        }
    }

    /// A JSON body of `n` events (an object for one, an array otherwise).
    pub fn body(&self, n: usize) -> String {
        let first = self.next.fetch_add(n as i64 * 1000, Ordering::Relaxed);
        let one = |k: usize| {
            let at = Timestamp(first + k as i64 * 1000);
            let seq = at.0 / 1000;
            let (app, title) = match (seq / 20) % 4 {
                0 => ("Code", "store.rs — daybook"),
                1 => ("Firefox", "SQLite: Write-Ahead Logging"),
                2 => ("Terminal", "cargo bench — daybook"),
                _ => ("Slack", "#daybook — team"),
            };
            format!(
                r#"{{"at":"{}","app":"{app}","title":"{title}","source":"bench"}}"#,
                at.rfc3339(UtcOffset(3600))
            )
        };
        if n == 1 {
            one(0)
        } else {
            let items: Vec<String> = (0..n).map(one).collect();
            format!("[{}]", items.join(","))
        }
    }
}
