//! The one guard in front of every HTTP surface daybook serves. Anything
//! reachable over HTTP is reachable by every web page the user opens and
//! by every local user, so each request passes these checks, in this
//! order, before any handler sees it:
//!
//! 1. **Host** must name loopback: `127.0.0.1`, `localhost` or `[::1]`,
//!    with or without a port. A DNS-rebinding page reaches daybook under
//!    its own name, so its requests carry that name and are refused. When
//!    daybook listens beyond loopback (allowed only with an API token), any
//!    IP literal is accepted too: a rebinding name is never an IP literal.
//! 2. **Origin**, when a browser sends one, must be on the surface's
//!    allowlist: daybook's own origin (`http://127.0.0.1:PORT`,
//!    `http://localhost:PORT`, `http://[::1]:PORT` on the port it serves),
//!    and for the ActivityWatch surface (`/api/0`) also the ActivityWatch
//!    browser extensions. `Origin: null` is refused. A request without
//!    `Origin` that a browser marks `Sec-Fetch-Site: cross-site` or
//!    `same-site` is refused too, unless it is a top-level navigation.
//! 3. **Preflights** (`OPTIONS` with `Access-Control-Request-Method`) from
//!    an allowed origin are answered here; nothing else gets CORS headers.
//! 4. **Token.** With an API token set, every request needs
//!    `Authorization: Bearer TOKEN` (compared in constant time), whatever
//!    its path, so no caller without it gets as far as a body being read.
//!    The ActivityWatch surface (`/api/0`) has its own rule, because its
//!    watchers (aw-client, the browser extension) cannot send daybook's
//!    token: on a loopback listener, what watchers do (`GET /info`, reading
//!    bucket metadata, creating a bucket, heartbeats, posting events) needs
//!    no token, and everything that reads or removes captured data
//!    (events, counts, export, import, deletes, queries) needs it, as
//!    aw-server-rust's `api_key` does. So with a token set, a local process
//!    without it can add activity but never read or delete any. On a
//!    listener beyond loopback every `/api/0` request but `GET /info` needs
//!    the token (aw-server-rust's rule for all of them).
//! 5. **Content-Type.** A write (`POST`, `PUT`, `PATCH`) must say
//!    `application/json`. A page can send `text/plain`, form or multipart
//!    bodies cross-site without a preflight; it cannot send JSON.
//! 6. **Body budget.** The request body is read here, within the read
//!    timeout (`http_read_timeout_seconds`), and every KiB of it as it
//!    arrives is taken from a budget of [`BODY_BYTES_IN_FLIGHT`] shared by
//!    all requests and given back when the response is made. With the
//!    budget spent the answer is 503 at once. Bytes are charged as they
//!    arrive, not as a `Content-Length` promises them, so holding the
//!    budget takes sending it: memory held by request bodies is bounded
//!    whatever clients do, and a client that promises much and sends
//!    little holds nothing.
//!
//! A refused request changes nothing (no handler runs, its body is not
//! read) and is counted; `GET /v1/status` reports the count as
//! `refused_requests`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::v1::{ApiError, MAX_BODY_BYTES};
use crate::error::quote;

/// Request bytes all requests may hold at once. Eight bodies of the
/// largest accepted size; a ninth waits for none of them and gets 503.
pub const BODY_BYTES_IN_FLIGHT: usize = 8 * MAX_BODY_BYTES;

/// The budget's unit: permits are KiB, so the budget fits a semaphore.
const BUDGET_UNIT: usize = 1024;

/// The ActivityWatch browser extension's Chrome origin (aw-watcher-web).
const AW_CHROME_EXTENSION: &str = "chrome-extension://nglaklhklhcoonedhgnpgddginnjdadi";

/// Which surface a path belongs to; each has its own Origin and token
/// rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// daybook's own API, `/v1/...`.
    Api,
    /// The MCP server, `/mcp`.
    Mcp,
    /// ActivityWatch's watcher API, `/api/0/...`.
    ActivityWatch,
    /// Anything else (the page, unknown paths).
    Other,
}

impl Surface {
    /// The surface of `path`.
    pub fn of(path: &str) -> Self {
        let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        if under("/v1") {
            Self::Api
        } else if under("/mcp") {
            Self::Mcp
        } else if under("/api/0") {
            Self::ActivityWatch
        } else {
            Self::Other
        }
    }

    /// Whether the API token, when set, is required for `method path`
    /// here (see the module doc, step 4); `wide` when the listener is
    /// beyond loopback.
    fn needs_token(self, method: &Method, path: &str, wide: bool) -> bool {
        if self != Self::ActivityWatch {
            return true;
        }
        let rest = path.trim_start_matches("/api/0").trim_matches('/');
        let parts: Vec<&str> = rest.split('/').collect();
        if *method == Method::GET && rest == "info" {
            return false;
        }
        if wide {
            return true;
        }
        let watcher_does = matches!(
            (method.as_str(), parts.as_slice()),
            ("GET", ["buckets"] | ["buckets", _] | ["settings"])
                | ("POST", ["buckets", _] | ["buckets", _, "heartbeat" | "events"])
        );
        !watcher_does
    }
}

/// Why the guard refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The `Host` header names something other than loopback.
    Host,
    /// The `Origin` is not on the surface's allowlist.
    Origin,
    /// A cross-site request without `Origin` (`Sec-Fetch-Site`).
    CrossSite,
    /// The API token is missing or wrong.
    Token,
    /// A write whose body is not declared `application/json`.
    ContentType,
}

impl Refusal {
    fn reply(self, detail: &str) -> Response {
        let (status, message) = match self {
            Self::Host => (StatusCode::FORBIDDEN, format!("host {} is not allowed", quote(detail))),
            Self::Origin => (
                StatusCode::FORBIDDEN,
                format!("origin {} is not allowed", quote(detail)),
            ),
            Self::CrossSite => (StatusCode::FORBIDDEN, "cross-site requests are not allowed".to_owned()),
            Self::Token => (
                StatusCode::UNAUTHORIZED,
                "missing or wrong API token (Authorization: Bearer ...)".to_owned(),
            ),
            Self::ContentType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a write must have Content-Type: application/json".to_owned(),
            ),
        };
        let mut r = error(status, &message);
        if self == Self::Token {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The guard's settings and counters, shared by every connection.
#[derive(Debug)]
pub struct Guard {
    port: u16,
    token: Option<String>,
    any_ip_host: bool,
    refused: AtomicU64,
    budget: Arc<Semaphore>,
    body_timeout: Duration,
}

impl Guard {
    /// A guard for a listener on `listening` (its real address, port
    /// included) with an optional API token; a request body must arrive
    /// within `body_timeout`.
    pub fn new(listening: std::net::SocketAddr, token: Option<String>, body_timeout: Duration) -> Self {
        Self {
            port: listening.port(),
            token,
            any_ip_host: !listening.ip().is_loopback(),
            refused: AtomicU64::new(0),
            budget: Arc::new(Semaphore::new(BODY_BYTES_IN_FLIGHT / BUDGET_UNIT)),
            body_timeout,
        }
    }

    /// Requests refused since the daemon started.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Bytes of request bodies held right now (in whole KiB per request).
    pub fn body_bytes_in_flight(&self) -> u64 {
        ((BODY_BYTES_IN_FLIGHT / BUDGET_UNIT - self.budget.available_permits()) * BUDGET_UNIT) as u64
    }

    fn refuse(&self, why: Refusal, detail: &str) -> Response {
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?why, detail = quote(detail), "request refused");
        why.reply(detail)
    }

    fn host_allowed(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else { return false };
        match name {
            "localhost" => true,
            _ => {
                let literal = name.trim_start_matches('[').trim_end_matches(']');
                literal
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || self.any_ip_host)
            }
        }
    }

    fn origin_allowed(&self, origin: &str, surface: Surface) -> bool {
        if let Some(rest) = origin.strip_prefix("http://")
            && let Some(name) = host_name(rest)
            && rest.contains(':')
            && (matches!(name, "localhost" | "127.0.0.1" | "[::1]"))
            && rest.rsplit_once(':').is_some_and(|(_, p)| p == self.port.to_string())
        {
            return true;
        }
        surface == Surface::ActivityWatch
            && (origin == AW_CHROME_EXTENSION
                || origin
                    .strip_prefix("moz-extension://")
                    .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, given)| same_secret(given.trim().as_bytes(), token.as_bytes()))
    }
}

/// The host part of a `Host` header value (or an origin's authority),
/// with its port (if any) checked to be a number; `None` for anything
/// malformed. A `Host` port is not required to be daybook's: a loopback
/// client reaches the port it names.
fn host_name(authority: &str) -> Option<&str> {
    let (name, port) = if let Some(end) = authority.strip_prefix('[').and_then(|r| r.find(']')) {
        let name = &authority[..end + 2];
        (name, authority[end + 2..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) || name.is_empty() {
        return None;
    }
    Some(name)
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn cors(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

fn error(status: StatusCode, message: &str) -> Response {
    ApiError::new(status, message).into_response()
}

/// The middleware: every check of the module doc, then the handler.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let surface = Surface::of(request.uri().path());
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !guard.host_allowed(host) {
        return guard.refuse(Refusal::Host, host);
    }
    let origin = headers.get(header::ORIGIN).cloned();
    match &origin {
        Some(o) => {
            let text = o.to_str().unwrap_or("(not text)");
            if !guard.origin_allowed(text, surface) {
                return guard.refuse(Refusal::Origin, text);
            }
        }
        None => {
            let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
            let navigate = headers.get("sec-fetch-mode").is_some_and(|v| v == "navigate");
            if matches!(site, Some("cross-site" | "same-site")) && !navigate {
                return guard.refuse(Refusal::CrossSite, "");
            }
        }
    }
    if request.method() == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Some(o) = &origin {
            let h = r.headers_mut();
            cors(h, o);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, authorization"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        return r;
    }
    if surface.needs_token(request.method(), request.uri().path(), guard.any_ip_host) && !guard.token_ok(headers) {
        return guard.refuse(Refusal::Token, "");
    }
    let writes = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
    if writes && !is_json(headers) {
        let given = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)");
        return guard.refuse(Refusal::ContentType, given);
    }
    let (request, _permit) = match read_body(&guard, request).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let mut response = next.run(request).await;
    if let Some(o) = &origin {
        cors(response.headers_mut(), o);
    }
    response
}

/// Reads the whole body within the read timeout, charging the budget as
/// the bytes arrive; the permits are held until the response is made.
async fn read_body(guard: &Guard, request: Request) -> Result<(Request, Option<OwnedSemaphorePermit>), Response> {
    let headers = request.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let has_body = declared.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return Ok((request, None));
    }
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {MAX_BODY_BYTES} bytes"),
        )
    };
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + guard.body_timeout;
    let (parts, mut body) = request.into_parts();
    let mut bytes: Vec<u8> = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut units = 0;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(error(StatusCode::REQUEST_TIMEOUT, "request body not sent in time")),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(error(StatusCode::BAD_REQUEST, "request body cut off")),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if bytes.len() + data.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        let needed =
            u32::try_from((bytes.len() + data.len()).div_ceil(BUDGET_UNIT)).expect("bounded by MAX_BODY_BYTES");
        if needed > units {
            let Ok(more) = Arc::clone(&guard.budget).try_acquire_many_owned(needed - units) else {
                return Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many request bodies in flight; try again",
                ));
            };
            match &mut held {
                Some(h) => h.merge(more),
                None => held = Some(more),
            }
            units = needed;
        }
        bytes.extend_from_slice(&data);
    }
    Ok((Request::from_parts(parts, Body::from(bytes)), held))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str, token: Option<&str>) -> Guard {
        Guard::new(
            listen.parse().unwrap(),
            token.map(str::to_owned),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn hosts_are_loopback_names_with_or_without_a_port() {
        let g = guard("127.0.0.1:5612", None);
        for ok in [
            "127.0.0.1",
            "127.0.0.1:5612",
            "localhost",
            "localhost:5612",
            "[::1]",
            "[::1]:5612",
            "127.0.0.2:80",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:5612",
            "localhost.evil.example",
            "192.168.1.5:5612",
            "127.0.0.1:",
            "127.0.0.1:x",
            "[::1",
            "0.0.0.0:5612",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let wide = guard("0.0.0.0:5612", Some("t"));
        assert!(wide.host_allowed("192.168.1.5:5612"));
        assert!(!wide.host_allowed("evil.example:5612"), "names stay refused");
    }

    #[test]
    fn origins_are_daybooks_own_and_for_activitywatch_its_extensions() {
        let g = guard("127.0.0.1:5612", None);
        for ok in ["http://127.0.0.1:5612", "http://localhost:5612", "http://[::1]:5612"] {
            assert!(g.origin_allowed(ok, Surface::Api), "{ok}");
        }
        for bad in [
            "null",
            "https://evil.example",
            "http://127.0.0.1:8080",
            "http://127.0.0.1",
            "https://127.0.0.1:5612",
            "http://evil.example:5612",
            AW_CHROME_EXTENSION,
        ] {
            assert!(!g.origin_allowed(bad, Surface::Api), "{bad}");
        }
        assert!(g.origin_allowed(AW_CHROME_EXTENSION, Surface::ActivityWatch));
        assert!(g.origin_allowed("moz-extension://1b2c3d4e-aaaa-bbbb", Surface::ActivityWatch));
        assert!(!g.origin_allowed("chrome-extension://someotherextension", Surface::ActivityWatch));
        assert!(!g.origin_allowed("moz-extension://", Surface::ActivityWatch));
    }

    #[test]
    fn surfaces_by_path_prefix() {
        assert_eq!(Surface::of("/v1/events"), Surface::Api);
        assert_eq!(Surface::of("/v1"), Surface::Api);
        assert_eq!(Surface::of("/v10"), Surface::Other);
        assert_eq!(Surface::of("/mcp"), Surface::Mcp);
        assert_eq!(Surface::of("/api/0/buckets/"), Surface::ActivityWatch);
        assert_eq!(Surface::of("/"), Surface::Other);
    }

    #[test]
    fn activitywatch_needs_the_token_to_read_or_remove_data() {
        let needs = |m: Method, p: &str, wide: bool| Surface::of(p).needs_token(&m, p, wide);
        for (m, p) in [
            (Method::GET, "/api/0/info"),
            (Method::GET, "/api/0/buckets/"),
            (Method::GET, "/api/0/buckets/aw-watcher-window_h"),
            (Method::POST, "/api/0/buckets/aw-watcher-window_h"),
            (Method::POST, "/api/0/buckets/b/heartbeat"),
            (Method::POST, "/api/0/buckets/b/events"),
        ] {
            assert!(!needs(m.clone(), p, false), "{m} {p}");
        }
        for (m, p) in [
            (Method::GET, "/api/0/buckets/b/events"),
            (Method::GET, "/api/0/buckets/b/events/count"),
            (Method::GET, "/api/0/buckets/b/events/1"),
            (Method::DELETE, "/api/0/buckets/b/events/1"),
            (Method::DELETE, "/api/0/buckets/b"),
            (Method::GET, "/api/0/export"),
            (Method::GET, "/api/0/buckets/b/export"),
            (Method::POST, "/api/0/import"),
            (Method::POST, "/api/0/query/"),
            (Method::GET, "/v1/status"),
        ] {
            assert!(needs(m.clone(), p, false), "{m} {p}");
        }
        assert!(
            needs(Method::POST, "/api/0/buckets/b/heartbeat", true),
            "beyond loopback"
        );
        assert!(!needs(Method::GET, "/api/0/info", true));
    }

    #[test]
    fn tokens_compare_exactly() {
        let g = guard("127.0.0.1:5612", Some("s3cret"));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(g.token_ok(&with("Bearer s3cret")));
        assert!(g.token_ok(&with("bearer s3cret")), "the scheme is case-insensitive");
        assert!(!g.token_ok(&with("Bearer s3cre")));
        assert!(!g.token_ok(&with("Bearer s3cret2")));
        assert!(!g.token_ok(&with("Basic s3cret")));
        assert!(!g.token_ok(&HeaderMap::new()));
        assert!(guard("127.0.0.1:5612", None).token_ok(&HeaderMap::new()));
    }

    #[test]
    fn content_type_must_be_json_with_any_parameters() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            assert!(!is_json(&with(bad)), "{bad}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
