//! The MCP server: daybook as memory for AI agents, over the Model Context
//! Protocol (the official Rust SDK, `rmcp`). Two transports serve the same
//! tools: `daybook mcp` over stdio (the database read-only, beside a
//! running daemon) and streamable HTTP at `/mcp` on the daemon's own
//! listener, behind the guard like every other surface (Host, Origin, and
//! the API token when one is set: without it an agent gets nothing).
//!
//! Every tool reads through [`crate::recall`], exactly what the command
//! line and `/v1` read, so an agent and a person asking the same question
//! get the same answer. Every answer is at most [`MAX_ANSWER_CHARS`]
//! characters and, when there is more, ends by saying how to get it
//! (`offset`, a narrower range, a smaller `top`). The privacy rules in
//! force are applied on every read: ignored data is never returned.
//! Captured text is returned as JSON strings or inert Markdown lines,
//! never as structure.

use std::sync::Arc;

use daybook_core::{Store, Timestamp};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::privacy::Privacy;
use crate::recall::{self, Reader, SearchParams, SessionsParams, SummaryParams};
use crate::store::SqliteStore;

/// The most characters of one tool answer: an agent's context is small.
pub const MAX_ANSWER_CHARS: usize = 20_000;

/// What an agent reads first (the server's `instructions`).
pub const INSTRUCTIONS: &str = "daybook is the user's local activity memory: what they did on their \
computer (focused apps, window titles, URLs, text they typed), cut into work sessions and summarized \
into a Markdown log per local day. Use it to recall what the user worked on, read or wrote, and when.\n\
Start with activity_summary (today by default, or a day or range): where the time went, per app, window \
title and web domain, away time excluded. Then search for words, \"phrases\" or prefixes (tok*) with \
since/until/app filters; day_log for a day's written log; sessions for the work sessions of a range \
with their top apps; current_context for what the user is doing right now.\n\
Times are RFC 3339 with the user's local UTC offset; days are local days. Answers are short: when \
there is more, the answer says how to get it (offset, or a narrower range).";

/// The daybook MCP server: one per client session, all reading through
/// one [`Reader`].
#[derive(Clone, Debug)]
pub struct Daybook {
    reader: Reader,
    tool_router: ToolRouter<Self>,
}

/// `day_log`'s arguments.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct DayLogParams {
    /// The local day: YYYY-MM-DD, today, yesterday or -N for N days ago
    /// (default today).
    #[serde(default)]
    pub day: Option<String>,
    /// Characters of the log to skip (for the next part of a long log).
    #[serde(default)]
    pub offset: Option<usize>,
}

/// One session as the `sessions` tool lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Its id.
    pub id: String,
    /// Start, RFC 3339 with offset.
    pub start: String,
    /// End, RFC 3339 with offset, once ended.
    pub end: Option<String>,
    /// `active`, `ended`, `failed` or `reduced`.
    pub status: String,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Its active time inside the range, seconds.
    pub active_seconds: i64,
    /// Its events inside the range.
    pub events: u32,
    /// Its three longest apps.
    pub top_apps: Vec<recall::TimeIn>,
}

/// The `sessions` tool's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsAnswer {
    /// The range's start, RFC 3339.
    pub from: String,
    /// The range's end (exclusive).
    pub to: String,
    /// The sessions, by start.
    pub sessions: Vec<SessionSummary>,
    /// The `offset` of the next page, when there is one.
    pub next_offset: Option<usize>,
}

fn text(s: impl Into<String>) -> ContentBlock {
    ContentBlock::text(s.into())
}

fn json_text(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("answers serialize")
}

/// A read's outcome as a tool result: the asker's mistakes are tool
/// errors the agent reads and corrects; anything else is a protocol error.
fn answer(result: Result<Vec<ContentBlock>>) -> std::result::Result<CallToolResult, ErrorData> {
    match result {
        Ok(content) => Ok(CallToolResult::success(content)),
        Err(e) if recall::is_bad_input(&e) => Ok(CallToolResult::error(vec![text(e.to_string())])),
        Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
    }
}

/// `s` cut to at most `max` characters at a line end where there is one.
fn cut_at_line(s: &str, max: usize) -> &str {
    let end = s.char_indices().nth(max).map_or(s.len(), |(i, _)| i);
    if end == s.len() {
        return s;
    }
    match s[..end].rfind('\n') {
        Some(nl) if nl > 0 => &s[..=nl],
        _ => &s[..end],
    }
}

/// The search answer within the size limit: results dropped from its end
/// until it fits, `next_offset` set to where it stopped.
pub fn fit_search(mut a: recall::SearchAnswer) -> Vec<ContentBlock> {
    let hint_room = 300;
    while a.results.len() > 1 && json_text(&a).chars().count() + hint_room > MAX_ANSWER_CHARS {
        a.results.pop();
        a.next_offset = Some(a.offset + a.results.len());
    }
    let mut out = vec![text(json_text(&a))];
    if let Some(next) = a.next_offset {
        out.push(text(format!(
            "More results: call search again with offset={next}, or narrow since/until or app."
        )));
    }
    out
}

/// The summary within the size limit: fewer entries per list until it
/// fits.
fn fit_summary(
    store: &SqliteStore,
    privacy: &Privacy,
    mut p: SummaryParams,
    now: Timestamp,
) -> Result<Vec<ContentBlock>> {
    loop {
        let a = recall::summary(store, privacy, &p, now)?;
        let body = json_text(&a);
        let top = a.apps.len().max(a.titles.len()).max(a.domains.len());
        if body.chars().count() + 300 <= MAX_ANSWER_CHARS || top <= 1 {
            let mut out = vec![text(body)];
            let left = a.not_listed.apps + a.not_listed.titles + a.not_listed.domains;
            if left > 0 {
                out.push(text(format!(
                    "{left} more apps, titles or domains are not listed: ask with a larger top (at most 50) or a narrower range."
                )));
            }
            return Ok(out);
        }
        p.top = Some(top / 2);
    }
}

/// A day's Markdown log from `offset` characters on, within the limit.
pub fn day_log_part(store: &SqliteStore, params: &DayLogParams, now: Timestamp) -> Result<Vec<ContentBlock>> {
    let day = recall::day_param_or_today(params.day.as_deref(), now)?;
    let log = crate::projection::render(store, day)?;
    let offset = params.offset.unwrap_or(0);
    let rest: &str = log.char_indices().nth(offset).map_or("", |(i, _)| &log[i..]);
    let room = MAX_ANSWER_CHARS - 300;
    let part = cut_at_line(rest, room);
    let mut out = vec![text(part.to_owned())];
    let total = log.chars().count();
    let shown = offset + part.chars().count();
    if shown < total {
        out.push(text(format!(
            "({} more characters of the log of {day}: call day_log with day={day} and offset={shown}.)",
            total - shown
        )));
    }
    Ok(out)
}

/// One session with its time inside `[from, to)` and its top apps.
fn session_summary<E: daybook_core::EventView>(
    session: &daybook_core::Session,
    events: &[E],
    from: Timestamp,
    to: Timestamp,
) -> SessionSummary {
    use daybook_core::aggregate::{Detail, SessionInput, aggregate_with};
    let agg = aggregate_with(from, to, &[SessionInput { session, events }], Detail::Totals);
    let (active, count, apps) = agg.sessions.first().map_or((0, 0, Vec::new()), |s| {
        (s.active_millis, s.events, s.totals.apps.clone())
    });
    let json = crate::http::SessionJson::from(session);
    SessionSummary {
        id: json.id,
        start: json.start,
        end: json.end,
        status: json.status,
        end_reason: json.end_reason,
        active_seconds: active / 1000,
        events: count,
        top_apps: apps
            .iter()
            .take(3)
            .map(|t| recall::time_in(t.name.clone(), t.millis))
            .collect(),
    }
}

/// Sessions of a day or range, each with its top apps.
pub fn sessions_list(
    store: &SqliteStore,
    privacy: &Privacy,
    params: &SessionsParams,
    now: Timestamp,
) -> Result<SessionsAnswer> {
    let (from, to) = match params.when.day(now)? {
        Some(day) => clock::local_day_bounds(day),
        None => params.when.range(now)?,
    };
    let limit = params.limit.unwrap_or(50).clamp(1, 200);
    let offset = params.offset.unwrap_or(0);
    let rows = recall::sessions_with_events(store, privacy, from, to)?;
    let total = rows.len();
    let sessions: Vec<SessionSummary> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(session, events)| session_summary(session, events, from, to))
        .collect();
    let next = offset + sessions.len();
    Ok(SessionsAnswer {
        from: from.rfc3339(clock::local_offset(from)),
        to: to.rfc3339(clock::local_offset(to)),
        sessions,
        next_offset: (next < total).then_some(next),
    })
}

fn fit_sessions(mut a: SessionsAnswer) -> Vec<ContentBlock> {
    let start = a.next_offset.unwrap_or(0).saturating_sub(a.sessions.len());
    while a.sessions.len() > 1 && json_text(&a).chars().count() + 300 > MAX_ANSWER_CHARS {
        a.sessions.pop();
        a.next_offset = Some(start + a.sessions.len());
    }
    let mut out = vec![text(json_text(&a))];
    if let Some(next) = a.next_offset {
        out.push(text(format!(
            "More sessions: call sessions again with offset={next}, or a narrower range."
        )));
    }
    out
}

/// What the user is doing now: the open session, the latest events and
/// the latest entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentContext {
    /// Now, RFC 3339 at the local offset.
    pub now: String,
    /// The open session, if one is.
    pub open_session: Option<SessionSummary>,
    /// The latest events, newest first (at most 10), typed text cut to
    /// 300 characters.
    pub last_events: Vec<EventView>,
    /// The latest day-log entry, its body cut to 4,000 characters.
    pub last_entry: Option<EntryView>,
}

/// One event as `current_context` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// Its `at`, RFC 3339 with its offset.
    pub time: String,
    /// The app.
    pub app: String,
    /// The window title.
    pub title: Option<String>,
    /// The URL.
    pub url: Option<String>,
    /// Typed text (its first 300 characters).
    pub text: Option<String>,
    /// Its session.
    pub session_id: String,
}

/// One entry as `current_context` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// Its id.
    pub id: i64,
    /// Its local day.
    pub day: String,
    /// Its window's start.
    pub from: String,
    /// Its window's end.
    pub to: String,
    /// Its Markdown (the first 4,000 characters).
    pub body: String,
}

fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The open session, the latest events and the latest entry.
pub fn current_context(store: &SqliteStore, privacy: &Privacy, now: Timestamp) -> Result<CurrentContext> {
    let db = |source| Error::Database {
        path: store.path().to_owned(),
        source,
    };
    let open = store.active_sessions()?.into_iter().next();
    let open_session = match open {
        Some(s) => {
            let mut events = store.session_events(&s.id)?;
            events.retain(|e| !privacy.ignores(&e.event));
            Some(session_summary(&s, &events, s.start, Timestamp(i64::MAX)))
        }
        None => None,
    };
    let mut st = store
        .connection()
        .prepare(
            "SELECT at_ms, offset_s, app, title, url, text, session_id, rev FROM events ORDER BY seq DESC LIMIT 200",
        )
        .map_err(db)?;
    let rows = st
        .query_map([], |r| {
            Ok(daybook_core::StoredEvent {
                seq: 0,
                rev: r.get(7)?,
                session_id: daybook_core::SessionId(r.get(6)?),
                attributed: Timestamp(r.get(0)?),
                event: daybook_core::Event {
                    at: Timestamp(r.get(0)?),
                    offset: daybook_core::UtcOffset(r.get(1)?),
                    app: r.get(2)?,
                    title: r.get(3)?,
                    url: r.get(4)?,
                    text: r.get(5)?,
                    source: None,
                },
            })
        })
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(db)?;
    let inline = daybook_core::text::inline;
    let last_events = rows
        .iter()
        .filter(|e| !privacy.ignores(&e.event))
        .take(10)
        .map(|e| EventView {
            time: e.event.at.rfc3339(e.event.offset),
            app: inline(&e.event.app),
            title: e.event.title.as_deref().map(inline),
            url: e.event.url.as_deref().map(inline),
            text: e.event.text.as_deref().map(|t| cut_chars(&inline(t), 300)),
            session_id: inline(&e.session_id.0),
        })
        .collect();
    let last_entry = store
        .connection()
        .query_row(
            "SELECT id, day, from_ms, to_ms, offset_s, body FROM entries ORDER BY to_ms DESC, id DESC LIMIT 1",
            [],
            |r| {
                let offset = daybook_core::UtcOffset(r.get(4)?);
                Ok(EntryView {
                    id: r.get(0)?,
                    day: r.get(1)?,
                    from: Timestamp(r.get(2)?).rfc3339(offset),
                    to: Timestamp(r.get(3)?).rfc3339(offset),
                    body: cut_chars(&r.get::<_, String>(5)?, 4_000),
                })
            },
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(db)?;
    Ok(CurrentContext {
        now: now.rfc3339(clock::local_offset(now)),
        open_session,
        last_events,
        last_entry,
    })
}

#[tool_router]
impl Daybook {
    /// A server reading through `reader`.
    pub fn new(reader: Reader) -> Self {
        Self {
            reader,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Full-text search over everything captured (app, window title, URL, typed text) and the day logs' entries. Query: words (all must appear), \"a phrase\", or a prefix like tok*. Filters: since/until (today, yesterday, 2h, 7d, 2026-11-28 or RFC 3339; local time), app, limit (default 20, at most 100), offset. Results newest first, each with time (local offset), app, title, url, a snippet with matches between **, its session and the day-log entry covering it."
    )]
    async fn search(&self, Parameters(p): Parameters<SearchParams>) -> std::result::Result<CallToolResult, ErrorData> {
        let now = clock::now();
        answer(
            self.reader
                .ask(move |store, privacy| recall::search(store, privacy, &p, now).map(fit_search))
                .await,
        )
    }

    #[tool(
        description = "Where the time went: active, idle and paused time, and time per app, per window title and per web domain (longest first), over a local day (day: YYYY-MM-DD, today, yesterday or -N for N days ago; default today) or a range (since/until). Away time is excluded; days are local days. Call this first to see what the user worked on."
    )]
    async fn activity_summary(
        &self,
        Parameters(p): Parameters<SummaryParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        let now = clock::now();
        answer(
            self.reader
                .ask(move |store, privacy| fit_summary(store, privacy, p, now))
                .await,
        )
    }

    #[tool(
        description = "The Markdown log of a local day (day: YYYY-MM-DD, today, yesterday or -N for N days ago; default today): one section per summarized stretch of work with its sub-task lines. A long log comes in parts: the answer says which offset to ask for next."
    )]
    async fn day_log(&self, Parameters(p): Parameters<DayLogParams>) -> std::result::Result<CallToolResult, ErrorData> {
        let now = clock::now();
        answer(self.reader.ask(move |store, _| day_log_part(store, &p, now)).await)
    }

    #[tool(
        description = "The work sessions of a local day (default today) or a range (since/until), by start: id, start, end, status, why it ended, active time, events, and its three longest apps. Pages with limit/offset."
    )]
    async fn sessions(
        &self,
        Parameters(p): Parameters<SessionsParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        let now = clock::now();
        answer(
            self.reader
                .ask(move |store, privacy| sessions_list(store, privacy, &p, now).map(fit_sessions))
                .await,
        )
    }

    #[tool(
        description = "What the user is doing right now: the open session (if any) with its top apps, the latest ten captured events, and the latest day-log entry."
    )]
    async fn current_context(&self) -> std::result::Result<CallToolResult, ErrorData> {
        let now = clock::now();
        answer(
            self.reader
                .ask(move |store, privacy| {
                    let c = current_context(store, privacy, now)?;
                    Ok(vec![text(cut_chars(&json_text(&c), MAX_ANSWER_CHARS))])
                })
                .await,
        )
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Daybook {
    fn get_info(&self) -> ServerConfig {
        let mut info =
            ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(INSTRUCTIONS);
        info.server_info = Implementation::new("daybook", env!("CARGO_PKG_VERSION"));
        info
    }
}

/// Serves MCP over stdin and stdout until the client closes them.
pub fn serve_stdio(reader: Reader) -> Result<()> {
    use rmcp::ServiceExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Mcp(Box::new(e)))?;
    runtime.block_on(async {
        let running = Daybook::new(reader)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::Mcp(Box::new(e)))?;
        running.waiting().await.map_err(|e| Error::Mcp(Box::new(e)))?;
        Ok(())
    })
}

/// The streamable HTTP service for `/mcp`. Stateless, answering each
/// request with JSON: nothing is kept between requests, so there is no
/// session to steal or exhaust. Host and Origin are the guard's job (one
/// place for every surface; it also accepts IP hosts when listening beyond
/// loopback with a token), so rmcp's own copies of those checks are off.
pub fn http_service(
    reader: Reader,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    Daybook,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(crate::http::MAX_BODY_BYTES);
    StreamableHttpService::new(move || Ok(Daybook::new(reader.clone())), Arc::default(), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_falls_at_a_line_end() {
        assert_eq!(cut_at_line("ab\ncd\nef", 7), "ab\ncd\n");
        assert_eq!(cut_at_line("ab\ncd", 10), "ab\ncd");
        assert_eq!(cut_at_line("abcdef", 3), "abc");
        assert_eq!(cut_chars("héllo", 2), "hé…");
    }

    #[test]
    fn a_search_answer_is_cut_to_fit_and_says_where_to_go_on() {
        let hit = recall::Hit {
            kind: "event".into(),
            time: "2026-11-28T10:00:00+01:00".into(),
            app: Some("Code".into()),
            title: Some("t".repeat(400)),
            url: None,
            snippet: "s".repeat(300),
            session_id: "s1".into(),
            entry: None,
        };
        let a = recall::SearchAnswer {
            query: "q".into(),
            since: None,
            until: None,
            utc_offset: "+01:00".into(),
            offset: 40,
            limit: 100,
            results: vec![hit; 100],
            next_offset: None,
        };
        let out = fit_search(a);
        let body: recall::SearchAnswer = serde_json::from_str(&out[0].as_text().unwrap().text).unwrap();
        let chars: usize = out.iter().map(|c| c.as_text().unwrap().text.chars().count()).sum();
        assert!(chars <= MAX_ANSWER_CHARS, "{chars}");
        assert!(body.results.len() > 10 && body.results.len() < 100);
        assert_eq!(body.next_offset, Some(40 + body.results.len()));
        assert!(
            out[1]
                .as_text()
                .unwrap()
                .text
                .contains(&format!("offset={}", 40 + body.results.len()))
        );
    }
}
