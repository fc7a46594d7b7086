//! The timeline page: daybook's day, session and week views as
//! server-rendered HTML with inline SVG, on the daemon's own listener and
//! behind the same guard as the API (Host, Origin; the token rules for a
//! browser are in [`super::guard`]).
//!
//! | path | what |
//! |---|---|
//! | `/` | today |
//! | `/day/YYYY-MM-DD` | a local day: timeline, sessions, time per app, domain and title, the log's latest entries |
//! | `/day/YYYY-MM-DD/log?page=N` | the day's whole log, in order, a hundred entries a page |
//! | `/day/YYYY-MM-DD/session/ID` | one session: spans, blocks, entries |
//! | `/week/YYYY-Www` | an ISO week: seven timelines, the week's totals |
//! | `/search?q=` | search results (the same as `GET /v1/search`), for a browser without script |
//! | `POST /v1/page/link` | a one-time link into the page, when an API token is set (`daybook open`) |
//! | `/login?code=` | spends that link's code for a page cookie (see [`super::guard`]) |
//! | `/assets/page.css`, `/assets/page.js`, `/assets/icon.svg` | the only assets, compiled into the binary |
//!
//! It works offline and without JavaScript: nothing is fetched from
//! anywhere but this listener, and the script only adds keys, a live
//! refresh of today and search as you type. Every response carries a
//! strict Content-Security-Policy (no inline script or style, nothing
//! from another origin, no framing), `nosniff`, `no-referrer` and
//! `no-store`. Times are local, with the offsets used named on the page.
//!
//! Reads run on a read-only connection beside the daemon's writer
//! ([`crate::recall::Reader`], on tokio's blocking pool), so a page never
//! holds up ingest; they only gather rows, and the aggregation and the
//! HTML are made from them on the same blocking thread. A week reads its
//! events on one more read-only connection per core beyond the first and builds its
//! days on as many threads ([`week_threads`]).

mod html;
pub(crate) mod model;
mod render;
mod timeline;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate, Weekday};
use daybook_core::daylog::parse_asked_day;
use daybook_core::{SessionId, Timestamp};

use super::AppState;
use crate::clock;
use crate::privacy::Privacy;
use crate::recall::{self, SearchParams};
use crate::store::SqliteStore;
pub use model::{RangeRead, SessionRead};

/// The page's Content-Security-Policy: scripts and styles only from
/// `/assets` on this origin, fetches only to this origin, no plugins, no
/// framing, no `<base>`, forms only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const CSS: &str = include_str!("assets/page.css");
const JS: &str = include_str!("assets/page.js");
const ICON: &str = include_str!("assets/icon.svg");

/// The page's routes (the guard in front of them is the API's).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(today))
        .route("/day/{day}", get(day))
        .route("/day/{day}/log", get(day_log))
        .route("/day/{day}/session/{id}", get(session))
        .route("/week/{week}", get(week))
        .route("/search", get(search))
        .route("/login", get(login))
        .route("/v1/page/link", axum::routing::post(link))
        .route(
            "/assets/page.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/assets/page.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route("/assets/icon.svg", get(|| async { asset("image/svg+xml", ICON) }))
        .route("/favicon.ico", get(|| async { asset("image/svg+xml", ICON) }))
}

/// The bytes of every asset a page loads (stylesheet, script, icon).
pub fn asset_bytes() -> usize {
    CSS.len() + JS.len() + ICON.len()
}

/// The headers every page response carries.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    secure(([(header::CONTENT_TYPE, kind)], body).into_response())
}

fn page(status: StatusCode, html: String) -> Response {
    secure((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// An error as a page (the API's errors are JSON; a browser gets words).
fn problem(status: StatusCode, message: &str) -> Response {
    page(
        status,
        render::shell("Not here", false, None, "", &render::problem(message)),
    )
}

/// Runs `f` on a read-only connection (see the module's docs); an error
/// becomes a page: 400 when the asker's input was wrong, else 500.
async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&SqliteStore, &Arc<Privacy>) -> crate::Result<T> + Send + 'static,
) -> Result<T, Response> {
    state.reader.ask(f).await.map_err(|e| {
        if recall::is_bad_input(&e) {
            problem(StatusCode::BAD_REQUEST, &e.to_string())
        } else {
            tracing::error!(error = %e, "page read failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the database could not be read: {e}"),
            )
        }
    })
}

/// The page for a day that is not one.
fn not_a_day(s: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        &format!("“{s}” is not a day: days look like 2026-11-29 (from 1970-01-01 on)"),
    )
}

/// A week's Monday from `YYYY-Www` (ISO 8601 week date).
pub fn parse_week(s: &str) -> Option<NaiveDate> {
    let (year, week) = s.split_once("-W")?;
    let year_ok = year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit());
    let week_ok = week.len() == 2 && week.bytes().all(|b| b.is_ascii_digit());
    if !year_ok || !week_ok {
        return None;
    }
    NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)
        .filter(|d| *d >= daybook_core::daylog::FIRST_DAY)
}

async fn today(state: State<AppState>) -> Response {
    day_view(state, clock::today()).await.unwrap_or_else(|r| r)
}

async fn day(state: State<AppState>, Path(day): Path<String>) -> Response {
    match parse_asked_day(&day) {
        Some(d) => day_view(state, d).await.unwrap_or_else(|r| r),
        None => not_a_day(&day),
    }
}

/// Reads and renders one day: the whole work of a day view, apart from
/// the engine thread's hop. Also what the benches time.
pub fn render_day(read: &RangeRead, day: NaiveDate, now: Timestamp) -> String {
    let (from, _) = clock::local_day_bounds(day);
    let model = model::DayModel::build(read, day, clock::local_offset(from), now);
    let today = now.local_date(clock::local_offset(now));
    let title = day.format("%a %-d %b %Y").to_string();
    let body = render::day(&model, &clock::local_offset);
    render::shell(&title, day == today, Some(&render::day_nav(day, today)), "", &body)
}

/// What a day view reads (`[from, to)` of the local day, its entries).
pub fn load_day(store: &SqliteStore, privacy: &Privacy, day: NaiveDate) -> Result<RangeRead, daybook_core::Error> {
    let (from, to) = clock::local_day_bounds(day);
    let zone = (clock::local_offset(from), clock::local_offset(Timestamp(to.0 - 1)));
    RangeRead::load(store, privacy, (from, to), zone, &[day])
}

async fn day_view(State(state): State<AppState>, day: NaiveDate) -> Result<Response, Response> {
    let html = read(&state, move |store, privacy| {
        let r = load_day(store, privacy, day)?;
        Ok(render_day(&r, day, clock::now()))
    })
    .await?;
    Ok(page(StatusCode::OK, html))
}

#[derive(serde::Deserialize)]
struct LogQuery {
    page: Option<usize>,
}

/// `GET /day/D/log?page=N`: a page of the day's log (see [`render::log`]);
/// page 1 when none is asked, and a page past the end says so.
async fn day_log(State(state): State<AppState>, Path(day): Path<String>, Query(q): Query<LogQuery>) -> Response {
    let Some(day) = parse_asked_day(&day) else {
        return not_a_day(&day);
    };
    let page_no = q.page.unwrap_or(1).max(1);
    let read = read(&state, move |store, _| {
        use daybook_core::Store as _;
        let mut entries = store.entries_for_day(day)?;
        entries.sort_by_key(|e| (e.from, e.id));
        Ok(entries)
    })
    .await;
    match read {
        Err(r) => r,
        Ok(entries) => {
            let body = render::log(day, &entries, page_no, &clock::local_offset);
            page(
                StatusCode::OK,
                render::shell(
                    &format!("Log of {}", day.format("%a %-d %b %Y")),
                    false,
                    Some(&render::day_nav(day, clock::today())),
                    "",
                    &body,
                ),
            )
        }
    }
}

async fn session(State(state): State<AppState>, Path((day, id)): Path<(String, String)>) -> Response {
    let Some(day) = parse_asked_day(&day) else {
        return not_a_day(&day);
    };
    let sid = SessionId(id.clone());
    let loaded = read(&state, move |store, privacy| {
        Ok(SessionRead::load(store, privacy, &sid)?)
    })
    .await;
    match loaded {
        Err(r) => r,
        Ok(None) => problem(StatusCode::NOT_FOUND, &format!("there is no session “{id}”")),
        Ok(Some(r)) => {
            let model = model::SessionModel::build(r);
            let today = clock::today();
            let body = render::session(&model, day, &clock::local_offset);
            page(
                StatusCode::OK,
                render::shell(
                    &format!("Session {}", id),
                    false,
                    Some(&render::day_nav(day, today)),
                    "",
                    &body,
                ),
            )
        }
    }
}

/// How many threads a week view reads and aggregates on: one per core,
/// at most one per day. A week is seven days of events (210,000 in the
/// page bench), read in one query and aggregated day by day, which kept it
/// at its 200 ms target's edge on one core; the parts are independent
/// (see [`RangeRead::load_split`] and `WeekModel::build`), so
/// each core takes a share. One core reads and builds as before, on the
/// asker's thread alone.
pub fn week_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(7)
}

/// What a week view reads: its events on [`week_threads`] read-only
/// connections at once.
pub fn load_week(store: &SqliteStore, privacy: &Privacy, monday: NaiveDate) -> Result<RangeRead, daybook_core::Error> {
    let (from, _) = clock::local_day_bounds(monday);
    let (_, to) = clock::local_day_bounds(monday + chrono::Days::new(6));
    let zone = (clock::local_offset(from), clock::local_offset(Timestamp(to.0 - 1)));
    RangeRead::load_split(store, privacy, (from, to), zone, &[], week_threads())
}

/// Renders the week starting `monday` from its read, its days aggregated
/// on [`week_threads`] threads.
pub fn render_week(read: &RangeRead, monday: NaiveDate, now: Timestamp) -> String {
    let days: Vec<_> = (0..7)
        .map(|i| {
            let d = monday + chrono::Days::new(i);
            (d, clock::local_offset(clock::local_day_bounds(d).0))
        })
        .collect();
    let iso = monday.iso_week();
    let model = model::WeekModel::build(read, iso.year(), iso.week(), &days, now, week_threads());
    let today = now.local_date(clock::local_offset(now));
    let body = render::week(&model, &clock::local_offset);
    render::shell(
        &format!("Week {} of {}", iso.week(), iso.year()),
        false,
        Some(&render::week_nav(monday, today)),
        "",
        &body,
    )
}

async fn week(State(state): State<AppState>, Path(week): Path<String>) -> Response {
    let Some(monday) = parse_week(&week) else {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("“{week}” is not a week: weeks look like 2026-W48 (ISO 8601)"),
        );
    };
    let html = read(&state, move |store, privacy| {
        let r = load_week(store, privacy, monday)?;
        Ok(render_week(&r, monday, clock::now()))
    })
    .await;
    match html {
        Ok(html) => page(StatusCode::OK, html),
        Err(r) => r,
    }
}

/// `GET /search?q=`: the search API's answer as a page, for a browser
/// without script (with script, the box asks `/v1/search` as you type).
async fn search(State(state): State<AppState>, Query(params): Query<SearchParams>) -> Response {
    let query = params.q.clone();
    if query.trim().is_empty() {
        let body = render::search(&query, None);
        return page(StatusCode::OK, render::shell("Search", false, None, &query, &body));
    }
    let found = read(&state, move |store, privacy| {
        recall::search(store, privacy, &params, clock::now())
    })
    .await;
    match found {
        Ok(answer) => {
            let body = render::search(&query, Some(&answer));
            page(StatusCode::OK, render::shell("Search", false, None, &query, &body))
        }
        Err(r) => r,
    }
}

/// `POST /v1/page/link` (Bearer token required, like all of `/v1`):
/// `{"url": ...}`, a one-time link into the page when a token is set,
/// else the page's address.
async fn link(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    // The guard let only a loopback name (or, beyond loopback, an IP
    // literal) through as the Host.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let url = if state.guard.has_token() {
        match state.guard.mint_page_code() {
            Some(code) => format!("http://{host}/login?code={code}"),
            None => {
                return super::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no random bytes for a code")
                    .into_response();
            }
        }
    } else {
        format!("http://{host}/")
    };
    axum::Json(serde_json::json!({ "url": url })).into_response()
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    code: Option<String>,
}

/// `GET /login?code=`: spends a one-time code for the page cookie and
/// sends the browser on to `/`, so the code leaves the address bar.
async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let to_today = |cookie: Option<String>| {
        let mut r = secure((StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response());
        if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert(header::SET_COOKIE, c);
        }
        r
    };
    if !state.guard.has_token() {
        return to_today(None);
    }
    match q.code.as_deref().and_then(|c| state.guard.redeem_page_code(c)) {
        Some(secret) => to_today(Some(format!(
            "{}={secret}; Path=/; HttpOnly; SameSite=Strict",
            state.guard.page_cookie_name()
        ))),
        None => problem(
            StatusCode::FORBIDDEN,
            "this link was already used, has expired, or was never made here; run `daybook open` for a new one",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_iso_week_dates() {
        assert_eq!(parse_week("2026-W01"), NaiveDate::from_ymd_opt(2025, 12, 29));
        assert_eq!(parse_week("2026-W48"), NaiveDate::from_ymd_opt(2026, 11, 23));
        assert_eq!(
            parse_week("2026-W53"),
            NaiveDate::from_ymd_opt(2026, 12, 28),
            "2026 has 53 ISO weeks"
        );
        assert_eq!(parse_week("2025-W53"), None, "2025 has 52");
        for bad in ["2026-48", "2026-W4", "26-W48", "2026-W48x", "1969-W10", "+2026-W01"] {
            assert_eq!(parse_week(bad), None, "{bad}");
        }
    }
}
