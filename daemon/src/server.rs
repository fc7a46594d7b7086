//! `daybook run`: lock the data directory, open the database, start the
//! engine thread (startup recovery, reduce-pending, day files), and only
//! then serve the HTTP API. SIGTERM or SIGINT stops accepting, drops
//! requests still unfinished after a short grace (`http::serve`), ends the
//! open session with reason `shutdown`, finishes its reduction and exits 0.
//! Listening beyond loopback is refused unless an API token is set.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Settings, SummarizerSettings};
use crate::datadir::DataDir;
use crate::error::{Error, Result};
use crate::projection::write_atomically;
use crate::service::{self, Stopped};
use crate::store::SqliteStore;
use crate::summarizer::DaemonSummarizer;
use crate::summarizer::openai::{DEFAULT_PROMPT, OpenAi};

const ADDR_FILE: &str = "daybook.addr";

/// The summarizer the settings ask for. For an LLM endpoint this reads
/// the API key from the environment variable the config names and the
/// prompt file, if any: either missing stops startup with a message
/// naming it.
pub fn summarizer(settings: &Settings) -> Result<DaemonSummarizer> {
    Ok(match &settings.summarizer {
        SummarizerSettings::Builtin => DaemonSummarizer::Builtin,
        SummarizerSettings::Command { command, timeout } => DaemonSummarizer::External {
            command: command.clone(),
            timeout: *timeout,
        },
        SummarizerSettings::OpenAi(llm) => {
            let api_key = match &llm.api_key_env {
                None => None,
                Some(var) => match std::env::var(var) {
                    Ok(key) if !key.is_empty() => Some(key),
                    _ => return Err(Error::ApiKeyUnset { var: var.clone() }),
                },
            };
            let prompt = match &llm.prompt_file {
                None => DEFAULT_PROMPT.to_owned(),
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                        what: "reading summarizer.prompt_file",
                        path: path.clone(),
                        source,
                    })?;
                    if text.trim().is_empty() {
                        return Err(Error::BadInput {
                            path: path.clone(),
                            message: "summarizer.prompt_file is empty".into(),
                        });
                    }
                    text
                }
            };
            let endpoint = OpenAi::new(&llm.base_url, &llm.model, api_key, prompt, llm.json_mode, llm.timeout);
            tracing::info!(
                url = endpoint.url(),
                model = endpoint.model(),
                "summaries come from an LLM endpoint"
            );
            DaemonSummarizer::OpenAi(endpoint)
        }
    })
}

/// The address the running daemon listens on, as it wrote it.
pub fn read_addr(data: &DataDir) -> Result<String> {
    let path = data.root().join(ADDR_FILE);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| Error::Io {
            what: "reading daemon address",
            path,
            source,
        })
}

/// Runs the daemon until a signal stops it. A clean stop records the
/// database file as daybook leaves it; a stop on an error, or after a store
/// error the daemon answered and kept running, drops the record, so the
/// next start reads the file in full (see `DataDir::vouched`).
pub fn run(data: DataDir, settings: Settings) -> Result<()> {
    let _lock = data.lock()?;
    match open_and_serve(&data, &settings) {
        Ok(Stopped { vouch: true }) => {
            // The stop itself was clean: a record that cannot be written
            // only costs the next start a full page check.
            if let Err(e) = data.record_clean_stop() {
                tracing::warn!(error = %e, "could not record the clean stop; the next start checks every page");
                data.forget();
            }
            Ok(())
        }
        Ok(Stopped { vouch: false }) => {
            data.forget();
            Ok(())
        }
        Err(e) => {
            data.forget();
            Err(e)
        }
    }
}

fn open_and_serve(data: &DataDir, settings: &Settings) -> Result<Stopped> {
    // Refused before anything is opened: a daemon beyond loopback without
    // a token would hand the typed text to anyone on the network.
    let token = crate::token::load(settings, data.root())?;
    let wide = std::iter::once(settings.listen)
        .chain(settings.activitywatch_listen)
        .find(|a| !a.ip().is_loopback());
    if let Some(addr) = wide
        && token.is_none()
    {
        return Err(Error::Config {
            path: crate::token::path(settings, data.root()),
            message: format!(
                "listening on {addr} (not loopback) needs an API token: run `daybook token --new` or set `api_token_file`"
            ),
        });
    }
    // A full page check reads the whole file (0.6 s for a year of
    // history). It runs whenever the file is not as daybook last left it
    // in a way it can vouch for: a first start, a start after a power cut
    // or an OS crash, or any change made while no daemon ran. A file
    // daybook left at a clean stop, or at a kill in this boot, gets the
    // cheap checks only (header, schema, whole pages).
    let store = if data.vouched() {
        tracing::info!("database file as daybook left it; full page check skipped");
        SqliteStore::open(&data.database())?
    } else {
        tracing::info!("checking every page of the database");
        SqliteStore::open_verified(&data.database())?
    };
    let handle = service::start(store, settings, data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "starting runtime",
            path: data.root().to_owned(),
            source,
        })?;
    let tx = handle.tx.clone();
    let arriving = handle.arriving.clone();
    let served = runtime.block_on(async {
        let listening = |source| Error::Io {
            what: "listening on",
            path: settings.listen.to_string().into(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(listening)?;
        let addr = listener.local_addr().map_err(listening)?;
        let guard = Arc::new(crate::http::Guard::new(addr, token.clone(), settings.http_read_timeout));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let aw = match settings.activitywatch_listen {
            None => None,
            Some(aw_addr) => match tokio::net::TcpListener::bind(aw_addr).await {
                Ok(aw_listener) => {
                    let bound = aw_listener.local_addr().map_err(listening)?;
                    let aw_guard = Arc::new(crate::http::Guard::new(bound, token, settings.http_read_timeout));
                    tracing::info!(addr = %bound, "ActivityWatch watchers can reach daybook here (/api/0)");
                    Some(tokio::spawn(crate::http::serve::serve(
                        aw_listener,
                        crate::http::activitywatch_router(
                            tx.clone(),
                            arriving.clone(),
                            aw_guard,
                            crate::recall::Reader::new(data.database(), settings.privacy.clone()),
                        ),
                        settings.http_read_timeout,
                        stopped(stop_rx.clone()),
                    )))
                }
                Err(e) => {
                    tracing::warn!(
                        "cannot listen for ActivityWatch watchers on {aw_addr} ({e}): is ActivityWatch's own server \
                         running there? daybook runs on without it; its /api/0 is still served on {addr}. \
                         Set `activitywatch_listen` to another address, or to \"off\" to silence this"
                    );
                    None
                }
            },
        };
        // The stop signals are taken over before the address file tells
        // anyone daybook is up: a SIGTERM sent as soon as the file appears
        // (by a service manager, or a test) then stops it cleanly, instead
        // of meeting the default action and killing it.
        let signals = StopSignals::take_over().map_err(|source| Error::Io {
            what: "handling SIGTERM and SIGINT",
            path: data.root().to_owned(),
            source,
        })?;
        write_atomically(data.root(), ADDR_FILE, &format!("{addr}\n"))?;
        // For the tests: `address-written=sleep(N)` holds the start here,
        // where a watcher of the file may already signal.
        fail::fail_point!("address-written");
        tracing::info!(%addr, data_dir = %data.root().display(), "daybook is accepting events");
        let probe = handle.finished_probe();
        tokio::spawn(async move {
            signals.wait(probe).await;
            let _ = stop_tx.send(true);
        });
        crate::http::serve::serve(
            listener,
            crate::http::router(
                tx,
                arriving,
                guard,
                crate::recall::Reader::new(data.database(), settings.privacy.clone()),
            ),
            settings.http_read_timeout,
            stopped(stop_rx),
        )
        .await;
        if let Some(aw) = aw {
            let _ = aw.await;
        }
        Ok::<(), Error>(())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    // The engine thread owns the connection; once it has returned, the
    // database is closed (its WAL checkpointed) and the file is final.
    let stopped = handle.shutdown();
    served.and(stopped)
}

/// SIGTERM and SIGINT, handled by daybook from the moment this is made
/// (their default action, ending the process at once, is replaced then).
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn take_over() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGTERM, SIGINT, or when the engine thread has died
    /// (then the daemon must not keep answering).
    async fn wait(mut self, engine_alive: impl Fn() -> bool) {
        let mut interval = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = self.term.recv() => { tracing::info!("SIGTERM: stopping"); return; }
                _ = self.int.recv() => { tracing::info!("SIGINT: stopping"); return; }
                _ = interval.tick() => {
                    if !engine_alive() {
                        tracing::error!("engine thread stopped; shutting down");
                        return;
                    }
                }
            }
        }
    }
}
