//! The accept loop: HTTP/1.1 connections on one listener, with the limits
//! a local server needs against clients that misbehave.
//!
//! - At most [`MAX_CONNECTIONS`] connections are served at once; one more
//!   is answered `503` and closed, so held sockets cannot use up the
//!   process's file descriptors.
//! - A client must send a request's headers within the read timeout
//!   (`http_read_timeout_seconds`, default 10) of connecting or of the
//!   previous response; an idle keep-alive connection is closed after the
//!   same time. (The body's own timeout
//!   and the budget of body bytes in flight are the guard's.)
//! - When `stop` resolves, the listener closes, every connection is asked
//!   to finish its request in progress, and whatever still runs after
//!   [`STOP_GRACE`] is dropped: a half-sent request cannot hold the stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a stop waits for requests in progress.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 42\r\nconnection: close\r\n\r\n{\"error\":\"too many connections; try again\"}";

/// Serves `router` on `listener` until `stop` resolves; then drains as the
/// module doc says and returns.
pub async fn serve(listener: TcpListener, router: Router, read_timeout: Duration, stop: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stopping_tx, stopping) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(read_timeout);
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a transient error: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while conns.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            conns.spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
            });
            continue;
        };
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let mut stopping = stopping.clone();
        conns.spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopping.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let drained = tokio::time::timeout(STOP_GRACE, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!(left = conns.len(), "connections still open at the stop were dropped");
    }
    conns.shutdown().await;
}
