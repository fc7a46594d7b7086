//! The command line. Every command takes `--data-dir` (or
//! `$DAYBOOK_DATA_DIR`); `--json` output is a stable contract with instants
//! in RFC 3339 with offset. Commands that write (`recover`,
//! `reduce-pending`, `import`, `repair`) take the data directory's lock,
//! so they refuse while a daemon runs. Commands that only read (`show`,
//! `status`, `sessions`, `doctor`, `config --show`) never create a data
//! directory or a database.

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
use crate::recall::{self, Reader, SearchParams, SummaryParams};
use crate::service::Status;
use crate::store::SqliteStore;
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

/// `--activitywatch-listen`: an address, or `None` for `off`.
#[derive(Clone, Copy, Debug)]
pub struct AwListen(pub Option<SocketAddr>);

fn parse_aw_listen(text: &str) -> std::result::Result<AwListen, String> {
    crate::config::parse_activitywatch_listen(text).map(AwListen)
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Run the daemon.
    Run {
        /// API address (loopback by default).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where ActivityWatch's watchers reach daybook (`/api/0` only), or
        /// `off`; overrides `activitywatch_listen` (default 127.0.0.1:5600).
        #[arg(long, value_parser = parse_aw_listen)]
        activitywatch_listen: Option<AwListen>,
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
        /// The local day: YYYY-MM-DD, today, yesterday or -N (days ago).
        #[arg(long, conflicts_with = "all", allow_hyphen_values = true)]
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
        /// The local day: YYYY-MM-DD, today, yesterday or -N (days ago).
        #[arg(allow_hyphen_values = true)]
        day: Option<String>,
    },
    /// Full-text search over what was captured (app, title, URL, typed
    /// text) and the day logs' entries; newest first. Reads the database
    /// read-only, beside a running daemon.
    Search {
        /// Words (all must appear), "a phrase", or a prefix like tok*.
        query: String,
        /// Only from this on: today, yesterday, 2h, 7d, 2026-11-28, or RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// Only before this (same forms as --since).
        #[arg(long)]
        until: Option<String>,
        /// Only events of this app (case-insensitive).
        #[arg(long)]
        app: Option<String>,
        /// Results per page (default 20, at most 100).
        #[arg(long)]
        limit: Option<usize>,
        /// Results to skip (the next page's offset is printed).
        #[arg(long)]
        offset: Option<usize>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Where the time went: time per app, window title and web domain over
    /// a local day (default today) or a range, away time excluded.
    Summary {
        /// A local day: YYYY-MM-DD, today, yesterday, or -N for N days ago.
        #[arg(long, conflicts_with_all = ["since", "until"], allow_hyphen_values = true)]
        day: Option<String>,
        /// The range's start: today, yesterday, 2h, 7d, 2026-11-28, or RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// The range's end (default now).
        #[arg(long)]
        until: Option<String>,
        /// How many apps, titles and domains to list (default 10, at most 50).
        #[arg(long)]
        top: Option<usize>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Serve daybook's memory to an AI agent over the Model Context
    /// Protocol on stdin/stdout (read-only, beside a running daemon).
    Mcp,
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
    /// Bring sessions that reach into the future (a clock that ran ahead)
    /// back to now, losing no event; refuses while a daemon runs.
    ///
    /// Such a session's start and end and its events' attributed times
    /// become at most now (each event keeps its own `at`), its entries are
    /// removed and it is reduced again from its rebuilt blocks.
    Repair {
        /// Report what would be repaired; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Print the address of the timeline page of the running daemon; with
    /// an API token set, a one-time link that lets a browser in (read only;
    /// see docs/behaviour.md).
    Open,
    /// Print the settings in force: the config file read and the privacy
    /// rules (defaults and the config's own).
    Config {
        /// Show the settings (the only action; the flag says what it does).
        #[arg(long)]
        show: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Import sources.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// An OpenChronicle index.db (or the directory holding it, e.g.
    /// ~/.openchronicle) and the event-YYYY-MM-DD.md memory files beside it.
    Openchronicle {
        /// Path to index.db, or a directory with an index.db.
        path: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// ActivityWatch history: an aw-server export JSON (`GET /api/0/export`),
    /// an aw-server-rust or aw-server SQLite database (read-only), or, with
    /// `--from`, a running aw-server. Sessions and day logs are derived as
    /// from live watchers. Refused while the daemon runs; a re-run after an
    /// interruption continues, and a repeated import adds nothing.
    #[command(group = clap::ArgGroup::new("source").required(true).args(["path", "from"]))]
    Activitywatch {
        /// The export JSON or the database file (e.g.
        /// ~/.local/share/activitywatch/aw-server-rust/sqlite.db).
        path: Option<PathBuf>,
        /// A running aw-server's URL (e.g. http://127.0.0.1:5600): its
        /// export is fetched (streamed to a scratch file) and imported.
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

fn print_json(v: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializable"));
}

/// `2026-03-29`, with `(today)` or `(yesterday)` when it is.
fn day_label(day: chrono::NaiveDate) -> String {
    let today = clock::today();
    let name = daybook_core::daylog::day_name(day);
    if day == today {
        format!("{name} (today)")
    } else if today.pred_opt() == Some(day) {
        format!("{name} (yesterday)")
    } else {
        name
    }
}

/// One session for a person: its date, local times each labelled with
/// the offset of its own instant, its length, status and id.
/// `2026-03-29 09:12–10:40 UTC+01:00 · 1 h 28 min · reduced (idle_gap) · s1`;
/// across a DST change both offsets show: `01:30 UTC+01:00–03:10 UTC+02:00`.
fn session_line(s: &daybook_core::Session) -> String {
    use daybook_core::aggregate::human_duration;
    let label = |o: daybook_core::UtcOffset| format!("UTC{}", o.fixed());
    let date = daybook_core::daylog::day_name(s.start.local_date(s.offset));
    let start = s.start.hhmm(s.offset);
    let (times, length) = match s.phase.end() {
        Some(end) => {
            let eo = crate::http::v1::end_offset(s, end);
            let times = if eo == s.offset {
                format!("{start}–{} {}", end.hhmm(eo), label(eo))
            } else {
                format!("{start} {}–{} {}", label(s.offset), end.hhmm(eo), label(eo))
            };
            (times, human_duration(end.millis_since(s.start)))
        }
        None => (format!("{start} {}–…", label(s.offset)), "in progress".to_owned()),
    };
    let status = match s.phase.reason() {
        Some(r) => format!("{} ({})", s.phase.status(), r.as_str()),
        None => s.phase.status().to_owned(),
    };
    format!(
        "{date} {times} · {length} · {status} · {}",
        daybook_core::text::inline(&s.id.0)
    )
}

/// A day as typed: see [`daybook_core::daylog::parse_day_spec`]; `today`
/// is this machine's local date.
fn parse_day(s: &str) -> Result<chrono::NaiveDate> {
    daybook_core::daylog::parse_day_spec(s, clock::today()).ok_or_else(|| Error::BadInput {
        path: PathBuf::from(crate::error::quote(s)),
        message: format!("not a day: {}", daybook_core::daylog::DAY_SPEC_HELP),
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

    /// The data directory for a command that only reads: never created.
    fn existing_data(&self) -> Result<DataDir> {
        DataDir::existing(resolve_data_dir(self.data_dir.as_deref()))
    }

    /// A read-only reader of the existing database, for search, summary
    /// and MCP. With no daemon running, the database is first opened as
    /// `show` opens it, which brings an older schema up to date; beside a
    /// running daemon (which did that at its start) nothing is written.
    fn reader(&self) -> Result<Reader> {
        let data = self.existing_data()?;
        let path = data.existing_database()?;
        if !data.is_locked()? {
            drop(SqliteStore::open(&path)?);
        }
        Ok(Reader::new(path, self.settings()?.privacy))
    }

    /// Runs the command; `Ok(false)` means "exit 1" (doctor found something).
    pub fn execute(self) -> Result<bool> {
        match &self.command {
            CommandLine::Run {
                listen,
                activitywatch_listen,
            } => {
                let mut settings = self.settings()?;
                if let Some(addr) = listen {
                    settings.listen = *addr;
                }
                if let Some(AwListen(aw)) = activitywatch_listen {
                    settings.activitywatch_listen = *aw;
                }
                server::run(self.data()?, settings)?;
                Ok(true)
            }
            CommandLine::Status { json } => self.status(*json),
            CommandLine::Ingest { file } => self.ingest(file.as_deref()),
            CommandLine::Sessions { day, all, json } => self.sessions(day.as_deref(), *all, *json),
            CommandLine::Show { day } => {
                let day = day.as_deref().map_or_else(|| Ok(clock::today()), parse_day)?;
                let store = SqliteStore::open(&self.existing_data()?.existing_database()?)?;
                print!("{}", projection::show(&store, day)?);
                Ok(true)
            }
            CommandLine::Search {
                query,
                since,
                until,
                app,
                limit,
                offset,
                json,
            } => {
                let params = SearchParams {
                    q: query.clone(),
                    since: since.clone(),
                    until: until.clone(),
                    app: app.clone(),
                    limit: *limit,
                    offset: *offset,
                };
                let reader = self.reader()?;
                let answer = recall::search(&reader.open()?, reader.privacy(), &params, clock::now())?;
                if *json {
                    print_json(&answer);
                } else {
                    print!("{}", recall::render_search(&answer));
                }
                Ok(true)
            }
            CommandLine::Summary {
                day,
                since,
                until,
                top,
                json,
            } => {
                let params = SummaryParams {
                    when: recall::DayOrRange {
                        day: day.clone(),
                        since: since.clone(),
                        until: until.clone(),
                    },
                    top: *top,
                };
                let reader = self.reader()?;
                let answer = recall::summary(&reader.open()?, reader.privacy(), &params, clock::now())?;
                if *json {
                    print_json(&answer);
                } else {
                    print!("{}", recall::render_summary(&answer));
                }
                Ok(true)
            }
            CommandLine::Mcp => {
                crate::mcp::serve_stdio(self.reader()?)?;
                Ok(true)
            }
            CommandLine::Recover { dry_run, json } => self.recover(*dry_run, *json),
            CommandLine::ReducePending { json } => self.reduce_pending(*json),
            CommandLine::Import {
                source: ImportSource::Openchronicle { path, json },
            } => {
                let settings = self.settings()?;
                let data = self.data()?;
                let _lock = data.lock()?;
                let mut store = SqliteStore::open(&data.database())?;
                let report =
                    import::import_openchronicle(&mut store, path, &settings.privacy, settings.engine.max_session)?;
                projection::rebuild_all(&store, &data.days())?;
                if *json {
                    print_json(&report);
                } else {
                    print!("{report}");
                }
                Ok(true)
            }
            CommandLine::Import {
                source: ImportSource::Activitywatch { path, from, json },
            } => {
                let source = match (path, from) {
                    (Some(p), _) => import::activitywatch::AwSource::Path(p.clone()),
                    (None, Some(url)) => import::activitywatch::AwSource::Url(url.clone()),
                    (None, None) => unreachable!("clap requires one"),
                };
                let settings = self.settings()?;
                let data = self.data()?;
                let _lock = data.lock()?;
                let db = data.database();
                let mut store = SqliteStore::open_verified(&db)?;
                let mut report = import::activitywatch::import(&mut store, &source, data.root(), &settings)?;
                import::activitywatch::derive(store, &db, &settings, &mut report)?;
                // The file was checked when it was opened above, and the
                // lock has been held since: a second `quick_check` of what
                // may now be a year of history would only cost time.
                let (engine, _) = start_engine_on(SqliteStore::open(&db)?, &settings)?;
                project_all(&engine, &data)?;
                if *json {
                    print_json(&report);
                } else {
                    print!("{report}");
                }
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
            CommandLine::Config { show: _, json } => self.show_config(*json),
            CommandLine::Open => self.open(),
            CommandLine::Repair { dry_run, json } => self.repair(*dry_run, *json),
        }
    }

    fn repair(&self, dry_run: bool, json: bool) -> Result<bool> {
        let data = self.existing_data()?;
        let path = data.existing_database()?;
        let _lock = data.lock()?;
        let settings = self.settings()?;
        let now = clock::now();
        let bound = now + settings.engine.future_tolerance;
        let mut store = SqliteStore::open_verified(&path)?;
        let reaching = store.sessions_after(now)?;
        // The latest plausible instant: now, or a session that ends within
        // the tolerance (which stays as it is and must not be overlapped).
        let limit = reaching
            .iter()
            .map(|(_, t)| *t)
            .filter(|t| *t <= bound)
            .fold(now, std::cmp::Ord::max);
        let future: Vec<Value> = reaching
            .iter()
            .filter(|(_, t)| *t > bound)
            .map(|(id, t)| json!({"id": id.0, "reaches": t.rfc3339(clock::local_offset(*t))}))
            .collect();
        if !dry_run && !future.is_empty() {
            let (_, days) = store.clamp_sessions_after(bound, limit, settings.engine.window)?;
            drop(store);
            let (engine, _) = start_engine(&path, &settings)?;
            project_all(&engine, &data)?;
            // A day whose entries all moved keeps no file.
            let kept = engine.store().entry_days()?;
            for day in days.iter().filter(|d| !kept.contains(d)) {
                let file = data.days().join(daybook_core::daylog::file_name(*day));
                let _ = std::fs::remove_file(file);
            }
        }
        if json {
            print_json(
                &json!({"sessions": future, "dry_run": dry_run, "clamped_to": limit.rfc3339(clock::local_offset(limit))}),
            );
        } else {
            println!(
                "{} session(s) reaching past now + future_tolerance_seconds {}",
                future.len(),
                if dry_run {
                    "would be brought back"
                } else {
                    "brought back"
                }
            );
            for f in &future {
                println!(
                    "  {} reached {}",
                    f["id"].as_str().unwrap_or(""),
                    f["reaches"].as_str().unwrap_or("")
                );
            }
        }
        Ok(true)
    }

    fn open(&self) -> Result<bool> {
        let data = self.existing_data()?;
        if !data.is_locked()? {
            return Err(Error::NotRunning {
                addr: "(none)".into(),
                reason: "no daemon holds the data directory".into(),
            });
        }
        let api = self.api(&data)?;
        let mut resp = api
            .authorize(agent().post(&api.url("/v1/page/link")))
            .send_json(json!({}))
            .map_err(|e| api.unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            return Err(Error::Api { status, body });
        }
        let url: Value = serde_json::from_str(&body).map_err(|e| Error::Api {
            status,
            body: format!("unexpected reply: {e}"),
        })?;
        println!("{}", url["url"].as_str().unwrap_or_default());
        if api.token.is_some() {
            eprintln!("daybook: a one-time link, good for 2 minutes; it lets one browser read the page for 12 hours");
        }
        Ok(true)
    }

    fn show_config(&self, json: bool) -> Result<bool> {
        let settings = self.settings()?;
        let file = self
            .config
            .clone()
            .or_else(|| default_config_path().filter(|p| p.exists()));
        let file_text = file
            .as_ref()
            .map_or_else(|| "none (built-in defaults)".to_owned(), |p| p.display().to_string());
        if json {
            print_json(&json!({
                "config_file": file,
                "future_tolerance_seconds": settings.engine.future_tolerance.as_secs_f64(),
                "privacy": settings.privacy.describe(),
            }));
        } else {
            println!("config file: {file_text}");
            println!(
                "future_tolerance_seconds: {}",
                settings.engine.future_tolerance.as_secs_f64()
            );
            print!("{}", settings.privacy.describe_text());
        }
        Ok(true)
    }

    fn status(&self, json: bool) -> Result<bool> {
        let data = self.existing_data()?;
        let status = if data.is_locked()? {
            let api = self.api(&data)?;
            let body = get(&api, "/v1/status")?;
            serde_json::from_str::<Status>(&body).map_err(|e| Error::Api {
                status: 200,
                body: format!("unexpected status reply: {e}"),
            })?
        } else {
            Status::stored(&SqliteStore::open(&data.existing_database()?)?)?
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

    /// Reads and checks every line first (all or nothing: a bad line sends
    /// nothing), then sends the events in batches. Line numbers count
    /// every line, blank ones included.
    fn ingest(&self, file: Option<&Path>) -> Result<bool> {
        let data = match self.existing_data() {
            Err(Error::Missing { path, .. }) => {
                return Err(Error::NotRunning {
                    addr: "(none)".into(),
                    reason: format!("no data directory at {}", path.display()),
                });
            }
            other => other?,
        };
        let engine = self.settings()?.engine;
        let (tolerance, max_lateness) = (engine.future_tolerance, engine.max_lateness);
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
        let (events, lines) = read_event_lines(reader, &name, tolerance, max_lateness)?;
        let (mut sent, mut late) = (0u64, 0u64);
        for range in batches(&events) {
            let (accepted, late_here) = post_batch(&api, &events[range.clone()], &lines[range], &name, sent)?;
            sent += accepted;
            late += late_here;
            if let Some(bar) = &bar {
                bar.set_position(sent);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        // Late events (SPEC §2) are stored at their own time, in the
        // session or day they happened in: say so, since they do not show
        // up where the newest events do.
        println!("{sent} events accepted ({late} late, 0 refused as too old)");
        Ok(true)
    }

    fn sessions(&self, day: Option<&str>, all: bool, json: bool) -> Result<bool> {
        let store = SqliteStore::open(&self.existing_data()?.existing_database()?)?;
        let day = day.map_or_else(|| Ok(clock::today()), parse_day)?;
        let sessions = if all {
            store.all_sessions()?
        } else {
            let (from, to) = clock::local_day_bounds(day);
            store.sessions_between(from, to)?
        };
        let rows: Vec<SessionJson> = sessions.iter().map(SessionJson::from).collect();
        if json {
            print_json(&rows);
        } else if sessions.is_empty() {
            let why = if store.daemon_state()?.paused {
                "capture is paused"
            } else {
                "no event was captured"
            };
            match (all, day) {
                (true, _) => println!("no sessions yet ({why})"),
                (false, _) => println!("no sessions on {} ({why} that day)", day_label(day)),
            }
        } else {
            for s in &sessions {
                println!("{}", session_line(s));
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
            // VACUUM INTO accepts an empty file: created 0600 first.
            crate::datadir::create_private_file_if_missing(&copy).map_err(|source| Error::Io {
                what: "creating",
                path: copy.clone(),
                source,
            })?;
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
            // An imported history can hold 10^5 orphans: a terminal gets
            // the first few, `--json` every one.
            for r in recovered.iter().take(RECOVERED_LISTED) {
                println!(
                    "  {} ends {}",
                    r["id"].as_str().unwrap_or(""),
                    r["end"].as_str().unwrap_or("")
                );
            }
            if recovered.len() > RECOVERED_LISTED {
                println!(
                    "  … and {} more (--json lists every one)",
                    recovered.len() - RECOVERED_LISTED
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
        let data = self.existing_data()?;
        let store = SqliteStore::open(&data.existing_database()?)?;
        let integrity = store.integrity_check()?;
        let dump = Dump {
            day_files: Some(projection::read_all(&data.days())?),
            ..store.dump()?
        };
        let mut violations: Vec<String> = check(&dump).iter().map(ToString::to_string).collect();
        violations.extend(store.search_index_problems()?);
        let now = clock::now();
        for (id, t) in store.sessions_after(now + self.settings()?.engine.future_tolerance)? {
            violations.push(format!(
                "session {id} reaches {}, after now plus future_tolerance_seconds (a clock ran ahead): `daybook repair` brings it back",
                t.rfc3339(clock::local_offset(t))
            ));
        }
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

/// Starts an engine on `path`, checked first (`open_verified`): see
/// [`start_engine_on`].
fn start_engine(path: &Path, settings: &Settings) -> Result<(Engine<SqliteStore>, Vec<Output>)> {
    start_engine_on(SqliteStore::open_verified(path)?, settings)
}

/// Starts an engine on an open store (startup recovery and reduce-pending
/// run) and returns it with its outputs, once every summary it asked for
/// is answered and committed. A one-shot command has nothing else to do,
/// so it runs the summarizer on its own thread, one request at a time; the
/// built-in summarizer's reduce-pending needs no request at all.
fn start_engine_on(store: SqliteStore, settings: &Settings) -> Result<(Engine<SqliteStore>, Vec<Output>)> {
    let mut summarizer = server::summarizer(settings)?;
    let now = clock::now();
    let mut engine = Engine::start(
        store,
        summarizer.kind(),
        settings.engine.clone(),
        format!("c{}-", now.0),
        now,
    )?;
    let mut outputs = Vec::new();
    while let Some(o) = engine.poll_output() {
        if let Output::SummaryRequested { id, request } = &o {
            let answer = summarizer.answer(id.clone(), request);
            engine.handle_answers(clock::now(), &[answer])?;
            // A request carries its blocks: answered, it is not kept, so
            // reducing a year of imported sessions holds one at a time.
            continue;
        }
        outputs.push(o);
    }
    Ok((engine, outputs))
}

fn project_all(engine: &Engine<SqliteStore>, data: &DataDir) -> Result<()> {
    projection::rebuild_all(engine.store(), &data.days()).map(drop)
}

fn tempdir_in(root: &Path) -> Result<PathBuf> {
    let dir = root.join(format!(".scratch-{}", std::process::id()));
    crate::datadir::create_private_dir(&dir).map_err(|source| Error::Io {
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

/// Every non-blank line of `reader` as an event object, each checked as
/// the daemon checks it (the future bound with the configured tolerance,
/// and `max_lateness_days`), with its 1-based line number. The first bad
/// line is an error naming it; events too old are refused together, every
/// one of their lines named, before anything is sent.
fn read_event_lines(
    reader: impl BufRead,
    name: &Path,
    tolerance: std::time::Duration,
    max_lateness: std::time::Duration,
) -> Result<(Vec<Value>, Vec<usize>)> {
    let now = clock::now();
    let bad = |line: usize, message: String| Error::BadInput {
        path: name.to_owned(),
        message: format!("line {line}: {message}; nothing was sent"),
    };
    let mut events = Vec::new();
    let mut lines = Vec::new();
    let mut too_old = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            what: "reading",
            path: name.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(i + 1, e.to_string()))?;
        if !v.is_object() {
            return Err(bad(i + 1, "an event must be a JSON object".into()));
        }
        let parsed = crate::http::parse_events(line.as_bytes(), now).map_err(|e| bad(i + 1, e.to_string()))?;
        for event in &parsed {
            event.validate(now, tolerance).map_err(|e| bad(i + 1, e.to_string()))?;
            if event.validate_lateness(now, max_lateness).is_err() {
                too_old.push(i + 1);
            }
        }
        events.push(v);
        lines.push(i + 1);
    }
    if !too_old.is_empty() {
        let shown: Vec<String> = too_old.iter().take(20).map(usize::to_string).collect();
        return Err(Error::BadInput {
            path: name.to_owned(),
            message: format!(
                "{} event(s) refused as older than `max_lateness_days` ({}) allows, on line {}{}; nothing was sent",
                too_old.len(),
                max_lateness.as_secs_f64() / 86_400.0,
                shown.join(", "),
                if too_old.len() > shown.len() { ", …" } else { "" }
            ),
        });
    }
    Ok((events, lines))
}

/// Orphans `daybook recover` lists one per line without `--json`.
const RECOVERED_LISTED: usize = 20;

/// The most events `daybook ingest` sends in one request.
const BATCH_EVENTS: usize = 1_000;
/// The most bytes of JSON `daybook ingest` sends in one request: a quarter
/// of the daemon's body limit ([`crate::http::MAX_BODY_BYTES`]), so a
/// batch is never refused for its size and a file of long lines is sent
/// whole, not cut off after its first batches.
const BATCH_BYTES: usize = 1024 * 1024;

/// `events` cut into consecutive batches of at most [`BATCH_EVENTS`]
/// events and at most [`BATCH_BYTES`] of JSON each (an event longer than
/// that on its own is a batch of one; the daemon judges it).
fn batches(events: &[Value]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 2); // `[` and `]`
    for (i, event) in events.iter().enumerate() {
        let size = serde_json::to_string(event).map_or(0, |s| s.len()) + 1; // and its `,`
        if i > start && (i - start == BATCH_EVENTS || bytes + size > BATCH_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 2);
        }
        bytes += size;
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    out
}

/// Posts a batch: `(accepted, late)`. On a 400 names the line of the bad
/// item, and on any failure after the first batch says how many events
/// were already stored, so the user does not send them twice.
fn post_batch(api: &Api, batch: &[Value], lines: &[usize], name: &Path, sent_before: u64) -> Result<(u64, u64)> {
    let stored = match (sent_before, lines.first()) {
        (0, _) | (_, None) => "; nothing was stored".to_owned(),
        (n, Some(first)) => format!("; the {n} events before line {first} were stored"),
    };
    let mut resp = api
        .authorize(agent().post(&api.url("/v1/events")))
        .send_json(batch)
        .map_err(|e| match api.unreachable(&e) {
            // Whether this batch reached the engine is unknown; the ones
            // before it did, and the user must know before sending again.
            Error::NotRunning { addr, reason } if sent_before > 0 => Error::NotRunning {
                addr,
                reason: format!("{reason}{stored}; later lines may not have been"),
            },
            other => other,
        })?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    match status {
        200 => {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            Ok((
                v["accepted"].as_u64().unwrap_or(batch.len() as u64),
                v["late"].as_u64().unwrap_or(0),
            ))
        }
        400 => {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let line = v["index"]
                .as_u64()
                .and_then(|i| lines.get(usize::try_from(i).ok()?))
                .or(lines.first())
                .copied()
                .unwrap_or(0);
            Err(Error::BadInput {
                path: name.to_owned(),
                message: format!("line {line}: {}{stored}", v["error"].as_str().unwrap_or(&body)),
            })
        }
        _ => Err(Error::Api {
            status,
            body: format!("{body}{stored}"),
        }),
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
