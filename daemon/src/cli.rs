//! The command line. Every command takes `--data-dir` (or
//! `$DAYBOOK_DATA_DIR`); `--json` output is a stable contract with instants
//! in RFC 3339 with offset. Commands that write (`recover`,
//! `reduce-pending`, `import`) take the data directory's lock, so they
//! refuse while a daemon runs.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use daybook_core::{Dump, Engine, Output, Store, check};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock;
use crate::config::Settings;
use crate::datadir::{DataDir, default_config_path, resolve_data_dir};
use crate::error::{Error, Result};
use crate::http::SessionJson;
use crate::service::Status;
use crate::store::SqliteStore;
use crate::summarizer::DaemonSummarizer;
use crate::{import, projection, server, token};

/// daybook: a local-first activity daybook.
#[derive(Debug, Parser)]
#[command(name = "daybook", version)]
pub struct Cli {
    /// The data directory (database, day files, lock).
    #[arg(long, env = "DAYBOOK_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// The config file (TOML); default: config.toml in the platform's config directory.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: CommandLine,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Run the daemon.
    Run {
        /// API address (loopback by default).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Is the daemon running; the open session and counts.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Send JSON Lines events (a file, or - for stdin) to the running daemon.
    Ingest {
        /// The file; stdin when absent or `-`.
        file: Option<PathBuf>,
    },
    /// List sessions of a day (default today) or all.
    Sessions {
        /// The local day, YYYY-MM-DD.
        #[arg(long, conflicts_with = "all")]
        day: Option<String>,
        /// Every session.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Print a day's log (default today).
    Show {
        /// The local day, YYYY-MM-DD.
        day: Option<String>,
    },
    /// Recover orphaned sessions now (normally done at startup).
    Recover {
        /// Report what would be recovered; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Reduce every ended or failed session now.
    ReducePending {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Import another tool's data.
    Import {
        /// The source.
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Check the database's integrity and every invariant; exit 1 on a violation.
    Doctor {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// The optional API token: where it lives and whether one is set;
    /// `--new` writes a new random one (0600) and prints it.
    Token {
        /// Write a new token, replacing any old one. A running daemon keeps
        /// the old one until it restarts.
        #[arg(long)]
        new: bool,
    },
}

/// Import sources.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// An OpenChronicle index.db.
    Openchronicle {
        /// Path to index.db.
        path: PathBuf,
    },
}

fn print_json(v: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializable"));
}

fn parse_day(s: &str) -> Result<chrono::NaiveDate> {
    daybook_core::daylog::parse_day_name(s).ok_or_else(|| Error::BadInput {
        path: PathBuf::from(s),
        message: "not a date like 2026-11-28".into(),
    })
}

impl Cli {
    fn settings(&self) -> Result<Settings> {
        Settings::load(self.config.as_deref(), default_config_path().as_deref())
    }

    fn data(&self) -> Result<DataDir> {
        DataDir::open(resolve_data_dir(self.data_dir.as_deref()))
    }

    /// The running daemon's address, with the API token in force.
    fn api(&self, data: &DataDir) -> Result<Api> {
        Ok(Api {
            addr: server::read_addr(data)?,
            token: token::load(&self.settings()?, data.root())?,
        })
    }

    /// Runs the command; `Ok(false)` means "exit 1" (doctor found something).
    pub fn execute(self) -> Result<bool> {
        match &self.command {
            CommandLine::Run { listen } => {
                let mut settings = self.settings()?;
                if let Some(addr) = listen {
                    settings.listen = *addr;
                }
                server::run(self.data()?, settings)?;
                Ok(true)
            }
            CommandLine::Status { json } => self.status(*json),
            CommandLine::Ingest { file } => self.ingest(file.as_deref()),
            CommandLine::Sessions { day, all, json } => self.sessions(day.as_deref(), *all, *json),
            CommandLine::Show { day } => {
                let day = day.as_deref().map_or_else(|| Ok(clock::today()), parse_day)?;
                let store = SqliteStore::open(&self.data()?.database())?;
                print!("{}", projection::render(&store, day)?);
                Ok(true)
            }
            CommandLine::Recover { dry_run, json } => self.recover(*dry_run, *json),
            CommandLine::ReducePending { json } => self.reduce_pending(*json),
            CommandLine::Import {
                source: ImportSource::Openchronicle { path },
            } => {
                let data = self.data()?;
                let _lock = data.lock()?;
                let mut store = SqliteStore::open(&data.database())?;
                let report = import::import_openchronicle(&mut store, path)?;
                print_json(&report);
                Ok(true)
            }
            CommandLine::Doctor { json } => self.doctor(*json),
            CommandLine::Token { new } => {
                let settings = self.settings()?;
                let root = resolve_data_dir(self.data_dir.as_deref());
                let path = token::path(&settings, &root);
                if *new {
                    if settings.api_token_file.is_none() {
                        self.data()?;
                    }
                    let token = token::create(&settings, &root)?;
                    println!("{token}");
                    eprintln!(
                        "daybook: new API token written to {}; restart a running daemon to use it",
                        path.display()
                    );
                } else {
                    match token::load(&settings, &root)? {
                        Some(_) => println!("API token set: {}", path.display()),
                        None => println!("no API token (create one with `daybook token --new`)"),
                    }
                }
                Ok(true)
            }
        }
    }

    fn status(&self, json: bool) -> Result<bool> {
        let data = self.data()?;
        let status = if data.is_locked()? {
            let api = self.api(&data)?;
            let body = get(&api, "/v1/status")?;
            serde_json::from_str::<Status>(&body).map_err(|e| Error::Api {
                status: 200,
                body: format!("unexpected status reply: {e}"),
            })?
        } else {
            let store = SqliteStore::open(&data.database())?;
            let counts = store.status_counts()?;
            Status {
                running: false,
                paused: false,
                open_session: None,
                events_total: counts.events,
                dropped_paused: 0,
                dropped_ignored: 0,
                pending_sessions: counts.ended,
                failed_sessions: counts.failed,
                refused_requests: 0,
            }
        };
        if json {
            print_json(&status);
        } else {
            println!("daemon: {}", if status.running { "running" } else { "not running" });
            if status.paused {
                println!("capture: paused");
            }
            match &status.open_session {
                Some(s) => println!("open session: {} since {}", s.id, s.start),
                None => println!("open session: none"),
            }
            println!("events: {}", status.events_total);
            println!(
                "dropped: {} while paused, {} by filters",
                status.dropped_paused, status.dropped_ignored
            );
            println!(
                "sessions pending: {}, failed: {}",
                status.pending_sessions, status.failed_sessions
            );
            if status.refused_requests > 0 {
                println!(
                    "requests refused (Host, Origin, token, Content-Type): {}",
                    status.refused_requests
                );
            }
        }
        Ok(true)
    }

    fn ingest(&self, file: Option<&Path>) -> Result<bool> {
        let data = self.data()?;
        if !data.is_locked()? {
            return Err(Error::NotRunning {
                addr: "(none)".into(),
                reason: "no daemon holds the data directory".into(),
            });
        }
        let api = self.api(&data)?;
        let (reader, name): (Box<dyn BufRead>, PathBuf) = match file {
            None => (Box::new(std::io::stdin().lock()), PathBuf::from("-")),
            Some(p) if p.as_os_str() == "-" => (Box::new(std::io::stdin().lock()), PathBuf::from("-")),
            Some(p) => {
                let f = std::fs::File::open(p).map_err(|source| Error::Io {
                    what: "reading",
                    path: p.to_owned(),
                    source,
                })?;
                (Box::new(std::io::BufReader::new(f)), p.to_owned())
            }
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} events sent ({per_sec})")
                    .expect("valid template"),
            );
            bar
        });
        let mut batch: Vec<Value> = Vec::new();
        let mut first_line = 1;
        let mut sent = 0u64;
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| Error::Io {
                what: "reading",
                path: name.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line).map_err(|e| Error::BadInput {
                path: name.clone(),
                message: format!("line {}: {e}", i + 1),
            })?;
            if batch.is_empty() {
                first_line = i + 1;
            }
            batch.push(v);
            if batch.len() == 1000 {
                sent += post_batch(&api, &mut batch, &name, first_line)?;
                if let Some(bar) = &bar {
                    bar.set_position(sent);
                }
            }
        }
        if !batch.is_empty() {
            sent += post_batch(&api, &mut batch, &name, first_line)?;
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        println!("{sent} events accepted");
        Ok(true)
    }

    fn sessions(&self, day: Option<&str>, all: bool, json: bool) -> Result<bool> {
        let store = SqliteStore::open(&self.data()?.database())?;
        let sessions = if all {
            store.all_sessions()?
        } else {
            let day = day.map_or_else(|| Ok(clock::today()), parse_day)?;
            let (from, to) = clock::local_day_bounds(day);
            store.sessions_between(from, to)?
        };
        let rows: Vec<SessionJson> = sessions.iter().map(SessionJson::from).collect();
        if json {
            print_json(&rows);
        } else {
            for r in rows {
                println!(
                    "{}  {} → {}  {} {}",
                    r.id,
                    r.start,
                    r.end.as_deref().unwrap_or("…"),
                    r.status,
                    r.end_reason.as_deref().unwrap_or("")
                );
            }
        }
        Ok(true)
    }

    fn recover(&self, dry_run: bool, json: bool) -> Result<bool> {
        let data = self.data()?;
        let _lock = data.lock()?;
        let settings = self.settings()?;
        let path = data.database();
        // A dry run recovers a copy, so it reports exactly what a real run
        // would do (blocks built from events included) and touches nothing.
        let scratch = tempdir_in(data.root())?;
        let target = if dry_run {
            let copy = scratch.join("dry-run.db");
            let store = SqliteStore::open(&path)?;
            store
                .connection()
                .execute("VACUUM INTO ?1", [copy.to_string_lossy()])
                .map_err(|source| Error::Database {
                    path: path.clone(),
                    source,
                })?;
            copy
        } else {
            path
        };
        let (engine, outputs) = start_engine(&target, &settings)?;
        let recovered: Vec<Value> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::OrphanRecovered(r) => {
                    Some(json!({"id": r.id.0, "end": r.end.rfc3339(clock::local_offset(r.end))}))
                }
                _ => None,
            })
            .collect();
        if !dry_run {
            project_all(&engine, &data)?;
        }
        let _ = std::fs::remove_dir_all(&scratch);
        if json {
            print_json(&json!({"recovered": recovered, "dry_run": dry_run}));
        } else {
            println!(
                "{} orphan session(s) {}",
                recovered.len(),
                if dry_run { "would be recovered" } else { "recovered" }
            );
            for r in &recovered {
                println!(
                    "  {} ends {}",
                    r["id"].as_str().unwrap_or(""),
                    r["end"].as_str().unwrap_or("")
                );
            }
        }
        Ok(true)
    }

    fn reduce_pending(&self, json: bool) -> Result<bool> {
        let data = self.data()?;
        let _lock = data.lock()?;
        let settings = self.settings()?;
        let (engine, outputs) = start_engine(&data.database(), &settings)?;
        project_all(&engine, &data)?;
        let reduced = outputs
            .iter()
            .filter(|o| matches!(o, Output::SessionReduced { .. }))
            .count();
        let failed = outputs
            .iter()
            .filter(|o| matches!(o, Output::ReductionFailed { .. }))
            .count();
        let recovered = outputs
            .iter()
            .filter(|o| matches!(o, Output::OrphanRecovered(_)))
            .count();
        if json {
            print_json(&json!({"reduced": reduced, "failed": failed, "recovered": recovered}));
        } else {
            println!(
                "{reduced} session(s) reduced, {failed} failed (will be retried), {recovered} orphan(s) recovered"
            );
        }
        Ok(true)
    }

    fn doctor(&self, json: bool) -> Result<bool> {
        let data = self.data()?;
        let store = SqliteStore::open(&data.database())?;
        let integrity = store.integrity_check()?;
        let dump = Dump {
            day_files: Some(projection::read_all(&data.days())?),
            ..store.dump()?
        };
        let violations: Vec<String> = check(&dump).iter().map(ToString::to_string).collect();
        let unowned: Vec<Value> = dump
            .loose_blocks
            .iter()
            .map(|b| json!({"id": b.id, "start": b.start.rfc3339(b.offset), "end": b.end.rfc3339(b.offset)}))
            .collect();
        if integrity != ["ok"] {
            // The next `daybook run` must not vouch for this file.
            data.forget();
        }
        let ok = integrity == ["ok"] && violations.is_empty();
        if json {
            print_json(&json!({"ok": ok, "integrity": integrity, "violations": violations, "unowned_blocks": unowned}));
        } else {
            println!("integrity: {}", integrity.join("; "));
            for v in &violations {
                println!("violation: {v}");
            }
            if !unowned.is_empty() {
                println!(
                    "{} imported block(s) overlap no open session and stay unowned",
                    unowned.len()
                );
            }
            println!("{}", if ok { "ok" } else { "PROBLEMS FOUND" });
        }
        Ok(ok)
    }
}

/// Starts an engine on `path` (startup recovery and reduce-pending run)
/// and returns it with its outputs.
fn start_engine(path: &Path, settings: &Settings) -> Result<(Engine<SqliteStore, DaemonSummarizer>, Vec<Output>)> {
    let store = SqliteStore::open_verified(path)?;
    let summarizer = server::summarizer(settings)?;
    let now = clock::now();
    let mut engine = Engine::start(store, summarizer, settings.engine.clone(), format!("c{}-", now.0), now)?;
    let mut outputs = Vec::new();
    while let Some(o) = engine.poll_output() {
        outputs.push(o);
    }
    Ok((engine, outputs))
}

fn project_all(engine: &Engine<SqliteStore, DaemonSummarizer>, data: &DataDir) -> Result<()> {
    projection::rebuild_all(engine.store(), &data.days()).map(drop)
}

fn tempdir_in(root: &Path) -> Result<PathBuf> {
    let dir = root.join(format!(".scratch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        what: "creating scratch directory",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// The running daemon as a client reaches it: its address and the API
/// token in force, if any.
struct Api {
    addr: String,
    token: Option<String>,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    fn unreachable(&self, e: &ureq::Error) -> Error {
        Error::NotRunning {
            addr: self.addr.clone(),
            reason: e.to_string(),
        }
    }
}

fn get(api: &Api, path: &str) -> Result<String> {
    let mut resp = api
        .authorize(agent().get(&api.url(path)))
        .call()
        .map_err(|e| api.unreachable(&e))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if status != 200 {
        return Err(Error::Api { status, body });
    }
    Ok(body)
}

/// Posts a batch; on a 400 names the line of the bad item.
fn post_batch(api: &Api, batch: &mut Vec<Value>, name: &Path, first_line: usize) -> Result<u64> {
    let mut resp = api
        .authorize(agent().post(&api.url("/v1/events")))
        .send_json(&*batch)
        .map_err(|e| api.unreachable(&e))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    let n = batch.len() as u64;
    batch.clear();
    match status {
        200 => {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            Ok(v["accepted"].as_u64().unwrap_or(n))
        }
        400 => {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let line = v["index"].as_u64().map_or(first_line, |i| first_line + i as usize);
            Err(Error::BadInput {
                path: name.to_owned(),
                message: format!("line {line}: {}", v["error"].as_str().unwrap_or(&body)),
            })
        }
        _ => Err(Error::Api { status, body }),
    }
}

/// The `daybook` program: logging to stderr (`RUST_LOG`, default `info`),
/// failpoints from `FAILPOINTS` (only with the `failpoints` feature), the
/// command line parsed and run. Exit 1 on an error or a failed check.
pub fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let _failpoints = fail::FailScenario::setup();
    match Cli::parse().execute() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints to stderr without failing on a closed pipe.
pub fn report_error(e: &Error) {
    let _ = writeln!(std::io::stderr(), "daybook: {e}");
}
