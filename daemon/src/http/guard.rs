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
//!    The ActivityWatch surface (`/api/0`) alone is left to its own rules:
//!    its watchers cannot be given daybook's token. A browser cannot send
//!    a Bearer header when it follows a link, so the page has its own way
//!    in, described below under **The page with a token**.
//!
//! # The page with a token
//!
//! `daybook open` (which reads the token file) asks `POST /v1/page/link`
//! for a one-time link, `http://127.0.0.1:PORT/login?code=CODE`, and
//! prints it. Opening it trades the code for a cookie and redirects to
//! `/`, so the code leaves the address bar at once. The rules, and the
//! attack each one answers:
//!
//! - A code is 128 random bits, good for one use within
//!   [`PAGE_CODE_TTL`]; a spent or stale one gets 403. A link left in the
//!   browser's history, a terminal's scrollback or a screen share is worth
//!   nothing once used. Codes are compared in constant time.
//! - The cookie, `daybook-PORT`, holds a 256-bit secret of its own (never
//!   the API token, which stays with the command line), known only to this
//!   daemon's memory: a restart or [`PAGE_SESSION_TTL`] ends it. It is
//!   `HttpOnly` (no script, ours included, can read it) and
//!   `SameSite=Strict` (no other site's link, form or fetch carries it, so
//!   a cross-site page cannot act as the user even before the Origin check).
//! - It opens **reads only**: `GET`/`HEAD` of the page and of `/v1` (the
//!   page's search box). Writes (`POST /v1/events`, pause, resume,
//!   `/v1/page/link` itself) and `/mcp` still need the Bearer token, so a
//!   stolen cookie can read a day but never add to it, pause capture or
//!   mint links.
//! - Cookies are scoped to a host, not a port: any other server on
//!   `127.0.0.1` that the user's browser visits receives this cookie too.
//!   Another local user who runs such a server and lures the user's
//!   browser to it could read the page until the cookie expires. That is
//!   the residual risk of opening the page in a browser while a token is
//!   set; `daybook token --new` and a restart revoke every cookie at once.
//! - A browser started with the link on its command line shows the code
//!   to other local users' process lists until it is used; single use
//!   means whoever uses it first wins, and a user who then sees "already
//!   used" knows. Printing the link and pasting it avoids this.
//! - Without a token set, none of this applies: the page, like the API,
//!   is open to local clients that pass the Host and Origin checks.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How long a one-time page link stays good.
pub const PAGE_CODE_TTL: Duration = Duration::from_secs(120);
/// How long a page cookie stays good (the daemon forgets it sooner if it
/// restarts).
pub const PAGE_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// At most this many codes and page cookies are held; the oldest go first.
const PAGE_SECRETS_MAX: usize = 64;

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
                "missing or wrong API token (Authorization: Bearer ...; for the page in a browser, run `daybook open`)"
                    .to_owned(),
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
    /// One-time page codes not yet used, with when they were made.
    page_codes: Mutex<Vec<(String, Instant)>>,
    /// Page cookie secrets handed out, with when.
    page_sessions: Mutex<Vec<(String, Instant)>>,
}

/// 32 hex digits per 16 random bytes from the OS.
fn random_hex(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).ok()?;
    Some(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Keeps the secrets younger than `ttl`, at most [`PAGE_SECRETS_MAX`].
fn prune(list: &mut Vec<(String, Instant)>, ttl: Duration) {
    list.retain(|(_, made)| made.elapsed() < ttl);
    if list.len() > PAGE_SECRETS_MAX {
        let extra = list.len() - PAGE_SECRETS_MAX;
        list.drain(..extra);
    }
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
            page_codes: Mutex::new(Vec::new()),
            page_sessions: Mutex::new(Vec::new()),
        }
    }

    /// Whether an API token is in force.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The page cookie's name: per port, so two daemons on one host keep
    /// their own.
    pub fn page_cookie_name(&self) -> String {
        format!("daybook-{}", self.port)
    }

    /// A new one-time page code (see the module's docs); `None` if the OS
    /// gave no random bytes.
    pub fn mint_page_code(&self) -> Option<String> {
        let code = random_hex(16)?;
        let mut codes = self
            .page_codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prune(&mut codes, PAGE_CODE_TTL);
        codes.push((code.clone(), Instant::now()));
        Some(code)
    }

    /// Spends `code` and returns the page cookie's new secret, or `None`
    /// for a code that is unknown, spent or stale.
    pub fn redeem_page_code(&self, code: &str) -> Option<String> {
        let mut codes = self
            .page_codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prune(&mut codes, PAGE_CODE_TTL);
        // Every code is compared, so the time taken says nothing of which
        // one (if any) matched.
        let mut found = None;
        for (i, (known, _)) in codes.iter().enumerate() {
            if same_secret(known.as_bytes(), code.as_bytes()) {
                found = Some(i);
            }
        }
        codes.remove(found?);
        drop(codes);
        let secret = random_hex(32)?;
        let mut sessions = self
            .page_sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prune(&mut sessions, PAGE_SESSION_TTL);
        sessions.push((secret.clone(), Instant::now()));
        Some(secret)
    }

    /// Whether the request carries a live page cookie of this daemon.
    fn page_cookie_ok(&self, headers: &HeaderMap) -> bool {
        let name = self.page_cookie_name();
        let given: Vec<&str> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect();
        if given.is_empty() {
            return false;
        }
        let mut sessions = self
            .page_sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prune(&mut sessions, PAGE_SESSION_TTL);
        let mut ok = false;
        for v in &given {
            for (known, _) in sessions.iter() {
                ok |= same_secret(known.as_bytes(), v.as_bytes());
            }
        }
        ok
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
        // The page's own way in (see the module's docs): the login link
        // (its handler checks the code), and reads with a page cookie.
        let read = matches!(*request.method(), Method::GET | Method::HEAD);
        let login = read && request.uri().path() == "/login";
        let cookie = read && matches!(surface, Surface::Other | Surface::Api) && guard.page_cookie_ok(headers);
        if !(login || cookie) {
            return guard.refuse(Refusal::Token, "");
        }
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
    fn a_page_code_is_good_once_and_its_cookie_opens_reads() {
        let g = guard("127.0.0.1:5612", Some("s3cret"));
        let code = g.mint_page_code().unwrap();
        assert_eq!(code.len(), 32);
        assert!(g.redeem_page_code("0".repeat(32).as_str()).is_none(), "an unknown code");
        let secret = g.redeem_page_code(&code).unwrap();
        assert!(g.redeem_page_code(&code).is_none(), "a spent code");
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(g.page_cookie_ok(&with(&format!("a=b; daybook-5612={secret}"))));
        assert!(
            !g.page_cookie_ok(&with(&format!("daybook-5613={secret}"))),
            "another port's name"
        );
        assert!(!g.page_cookie_ok(&with("daybook-5612=forged")));
        assert!(!g.page_cookie_ok(&HeaderMap::new()));
        assert!(
            !g.token_ok(&with(&format!("daybook-5612={secret}"))),
            "a cookie is no token"
        );
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
