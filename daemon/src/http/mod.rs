//! Everything daybook serves over HTTP, one module per surface, with one
//! guard in front of all of them, so the whole attack surface reads in
//! one place:
//!
//! - [`guard`]: Host, Origin, CORS, the API token, Content-Type and the
//!   body budget, checked before any handler runs;
//! - [`v1`]: daybook's own API under `/v1`;
//! - [`activitywatch`]: ActivityWatch's watcher API under `/api/0`, on
//!   daybook's listener and on its own (`activitywatch_listen`);
//! - [`page`]: the timeline page (`/`, `/day/...`, `/week/...`, `/assets/...`);
//! - `/mcp`: the MCP server over streamable HTTP ([`crate::mcp`]);
//! - [`serve`]: the accept loop with its connection cap, timeouts and
//!   bounded stop.

pub mod activitywatch;
pub mod guard;
pub mod page;
pub mod serve;
pub mod v1;

use std::sync::Arc;
use std::sync::mpsc::Sender;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

pub use guard::Guard;
pub use v1::{ApiError, MAX_BODY_BYTES, MAX_EVENTS, SessionJson, parse_events};

use crate::recall::Reader;
use crate::service::{Arriving, Command};

/// What every handler may reach: the engine thread and the guard (for
/// its counters).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The engine thread.
    pub engine: Sender<Command>,
    /// Counts ingest requests from their handler's start until they are
    /// sent to `engine`, so a group commit can wait for them.
    pub arriving: Arriving,
    /// The guard in front of every route.
    pub guard: Arc<Guard>,
    /// Read-only access for search and the other readers.
    pub reader: Reader,
}

impl AppState {
    /// The state of a listener's routes, behind `guard`.
    fn new(engine: Sender<Command>, arriving: Arriving, guard: &Arc<Guard>, reader: Reader) -> Self {
        Self {
            engine,
            arriving,
            guard: Arc::clone(guard),
            reader,
        }
    }
}

/// Every surface behind the guard.
pub fn router(engine: Sender<Command>, arriving: Arriving, guard: Arc<Guard>, reader: Reader) -> Router {
    let state = AppState::new(engine, arriving, &guard, reader);
    Router::new()
        .merge(v1::routes())
        .merge(activitywatch::routes())
        .merge(page::routes())
        .nest_service("/mcp", crate::mcp::http_service(state.reader.clone()))
        .fallback(|uri: axum::http::Uri| async move {
            if guard::Surface::of(uri.path()) == guard::Surface::ActivityWatch {
                activitywatch::not_found().await
            } else {
                ApiError::new(StatusCode::NOT_FOUND, "no such path").into_response()
            }
        })
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

/// The ActivityWatch surface alone, for its own listener
/// (`activitywatch_listen`): `/api/0` behind the guard, nothing else.
pub fn activitywatch_router(engine: Sender<Command>, arriving: Arriving, guard: Arc<Guard>, reader: Reader) -> Router {
    let state = AppState::new(engine, arriving, &guard, reader);
    Router::new()
        .merge(activitywatch::routes())
        .fallback(activitywatch::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}
