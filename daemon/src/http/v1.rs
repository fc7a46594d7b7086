//! daybook's own API under `/v1`. Handlers parse and validate; everything else
//! is a [`Command`] to the engine thread, and a reply is sent only after
//! the engine thread answered (for events: after the commit).
//!
//! `POST /v1/events` takes one event object or an array of them:
//! `{"at": "2026-11-28T10:00:00+01:00", "app": "Code", "title": "...",
//! "url": "...", "text": "...", "source": "..."}`. Only `app` is required;
//! a missing `at` means "now" at the daemon's local offset. Unknown fields
//! are ignored, so newer clients keep working. All or nothing: any invalid
//! item is a 400 naming its index and field, and nothing is stored.

use std::sync::mpsc::Sender;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate};
use daybook_core::daylog::{DAY_SPEC_HELP, parse_day_spec};
use daybook_core::{Error as CoreError, Event, Session, Timestamp, UtcOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::AppState;
use crate::clock;
use crate::error::quote;
use crate::recall::{SearchParams, SummaryParams};
use crate::service::{Command, Refused};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most events in one request.
pub const MAX_EVENTS: usize = 10_000;

/// The `/v1` routes. The guard in front of them has already checked the
/// request and read its body within [`MAX_BODY_BYTES`].
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/status", get(status))
        .route("/v1/sessions", get(sessions))
        .route("/v1/days/{day}", get(day))
        .route("/v1/search", get(search))
        .route("/v1/summary", get(summary))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A JSON error reply: `{"error": ..., "index": ..., "field": ...}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// For a request refused because events were older than
    /// `max_lateness_days`: how many, and their indices.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_too_old: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    indices: Option<Vec<usize>>,
}

impl ApiError {
    /// An error with this status and message, naming no item: the one
    /// error shape of every surface and of the guard in front of them.
    pub(super) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            index: None,
            field: None,
            refused_too_old: None,
            indices: None,
        }
    }

    fn bad(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    fn item(index: usize, field: &str, error: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            index: Some(index),
            field: Some(field.to_owned()),
            refused_too_old: None,
            indices: None,
        }
    }

    fn with_indices(self, indices: Vec<usize>) -> Self {
        Self {
            indices: Some(indices),
            ..self
        }
    }

    fn unavailable(error: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }

    fn internal(error: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error)
    }
}

impl std::fmt::Display for ApiError {
    /// The error as a command line shows it: the field first, if any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field.as_deref() {
            Some(field) if !field.is_empty() => write!(f, "`{field}`: {}", self.error),
            _ => f.write_str(&self.error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// Sends a command and waits for the engine thread's answer.
async fn ask<T>(engine: &Sender<Command>, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    engine
        .send(make(tx))
        .map_err(|_| ApiError::unavailable("daybook is shutting down"))?;
    rx.await.map_err(|_| ApiError::unavailable("daybook is shutting down"))
}

/// Parses one event object, naming the first bad field.
fn parse_event(index: usize, v: &Value, now: Timestamp) -> Result<Event, ApiError> {
    let Value::Object(map) = v else {
        return Err(ApiError::item(index, "", "an event must be a JSON object"));
    };
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::item(index, field, format!("`{field}` must be a string"))),
        }
    };
    let app = text("app")?.ok_or_else(|| ApiError::item(index, "app", "`app` is required"))?;
    let (at, offset) = match text("at")? {
        None => (now, clock::local_offset(now)),
        Some(s) => {
            let t = DateTime::parse_from_rfc3339(&s).map_err(|_| {
                ApiError::item(
                    index,
                    "at",
                    format!("`at` = {} is not RFC 3339 with an offset", quote(&s)),
                )
            })?;
            (Timestamp(t.timestamp_millis()), UtcOffset(t.offset().local_minus_utc()))
        }
    };
    let event = Event {
        at,
        offset,
        app,
        title: text("title")?,
        url: text("url")?,
        text: text("text")?,
        source: text("source")?,
    };
    event.validate_fields().map_err(|e| match e {
        CoreError::InvalidEvent { field, .. } => ApiError::item(index, field, e.to_string()),
        other => ApiError::item(index, "", other.to_string()),
    })?;
    Ok(event)
}

/// Parses a request body into events: all valid, or the first error.
pub fn parse_events(body: &[u8], now: Timestamp) -> Result<Vec<Event>, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("body is not valid JSON: {e}")))?;
    let items = match &value {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(&value),
        _ => return Err(ApiError::bad("body must be an event object or an array of them")),
    };
    if items.is_empty() {
        return Err(ApiError::bad("no events in the request"));
    }
    if items.len() > MAX_EVENTS {
        return Err(ApiError::bad(format!(
            "{} events in one request; at most {MAX_EVENTS}",
            items.len()
        )));
    }
    items.iter().enumerate().map(|(i, v)| parse_event(i, v, now)).collect()
}

async fn post_events(
    State(AppState { engine, arriving, .. }): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Counted from here until sent: a group commit may wait for it.
    let arrival = arriving.begin();
    // A body over the limit (413) or unreadable gets the same JSON error
    // shape as every other refusal.
    let body = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let events = parse_events(&body, clock::now())?;
    let (tx, rx) = oneshot::channel();
    let sent = engine.send(Command::Ingest(events, tx));
    drop(arrival);
    sent.map_err(|_| ApiError::unavailable("daybook is shutting down"))?;
    let accepted = rx
        .await
        .map_err(|_| ApiError::unavailable("daybook is shutting down"))?
        .map_err(|refused| match refused {
            Refused::Invalid { index, field, message } => ApiError::item(index, field, message),
            old @ Refused::TooOld { .. } => {
                let message = old.to_string();
                let Refused::TooOld { indices, .. } = old else {
                    unreachable!("matched above")
                };
                ApiError {
                    refused_too_old: Some(indices.len()),
                    ..ApiError::item(indices[0], "at", message)
                }
                .with_indices(indices)
            }
            full @ Refused::DiskFull { .. } => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, full.to_string()),
            Refused::Failed(message) => ApiError::internal(message),
        })?;
    Ok(Json(accepted).into_response())
}

async fn status(State(AppState { engine, guard, .. }): State<AppState>) -> Result<Response, ApiError> {
    let mut status = ask(&engine, Command::Status).await?.map_err(ApiError::internal)?;
    status.refused_requests = guard.refused();
    status.request_bytes_in_flight = guard.body_bytes_in_flight();
    Ok(Json(status).into_response())
}

#[derive(Deserialize)]
struct DayQuery {
    day: Option<String>,
}

/// A day as typed (`YYYY-MM-DD`, `today`, `yesterday`, `-N`): see
/// [`parse_day_spec`]; `today` is the daemon's local date.
fn parse_day(s: &str) -> Result<NaiveDate, ApiError> {
    parse_day_spec(s, clock::today())
        .ok_or_else(|| ApiError::bad(format!("{} is not a day: {DAY_SPEC_HELP}", quote(s))))
}

/// A session as the JSON contract shows it (also `daybook sessions --json`).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionJson {
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
    /// Failed reductions so far.
    pub retry_count: u32,
}

/// The offset to print a session's end in: its own (start) offset,
/// moved by the change of this machine's offset between start and end,
/// so a session across a DST change ends in the new offset and one that
/// does not keeps its start's offset (a client in another zone than the
/// daemon's is not relabelled half-way).
pub fn end_offset(s: &Session, end: Timestamp) -> UtcOffset {
    let shift = clock::local_offset(end).0 - clock::local_offset(s.start).0;
    UtcOffset(s.offset.0 + shift)
}

impl From<&Session> for SessionJson {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.0.clone(),
            start: s.start.rfc3339(s.offset),
            end: s.phase.end().map(|t| t.rfc3339(end_offset(s, t))),
            status: s.phase.status().to_owned(),
            end_reason: s.phase.reason().map(|r| r.as_str().to_owned()),
            retry_count: s.retry_count,
        }
    }
}

async fn sessions(
    State(AppState { engine, .. }): State<AppState>,
    Query(q): Query<DayQuery>,
) -> Result<Response, ApiError> {
    let day = q.day.as_deref().map_or_else(|| Ok(clock::today()), parse_day)?;
    let sessions = ask(&engine, |tx| Command::Sessions(day, tx))
        .await?
        .map_err(ApiError::internal)?;
    Ok(Json(sessions.iter().map(SessionJson::from).collect::<Vec<_>>()).into_response())
}

async fn day(State(AppState { engine, .. }): State<AppState>, Path(day): Path<String>) -> Result<Response, ApiError> {
    let day = parse_day(&day)?;
    let text = ask(&engine, |tx| Command::Day(day, tx))
        .await?
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], text).into_response())
}

/// `GET /v1/search?q=...&since=&until=&app=&limit=&offset=`: see
/// [`crate::recall`]. A bad query or time is a 400 naming it.
async fn search(
    State(AppState { reader, .. }): State<AppState>,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::bad(format!("bad search parameters: {}", r.body_text())))?;
    let now = clock::now();
    let answer = reader
        .ask(move |store, privacy| crate::recall::search(store, privacy, &q, now))
        .await
        .map_err(read_error)?;
    Ok(Json(answer).into_response())
}

/// `GET /v1/summary?day=` or `?since=&until=` (and `top=`): see
/// [`crate::recall::summary`].
async fn summary(
    State(AppState { reader, .. }): State<AppState>,
    q: Result<Query<SummaryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::bad(format!("bad summary parameters: {}", r.body_text())))?;
    let now = clock::now();
    let answer = reader
        .ask(move |store, privacy| crate::recall::summary(store, privacy, &q, now))
        .await
        .map_err(read_error)?;
    Ok(Json(answer).into_response())
}

/// A reader's error as a reply: 400 for the asker's fault, else 500.
pub(super) fn read_error(e: crate::Error) -> ApiError {
    if crate::recall::is_bad_input(&e) {
        ApiError::bad(e.to_string())
    } else {
        ApiError::internal(e.to_string())
    }
}

async fn pause(State(AppState { engine, .. }): State<AppState>) -> Result<Response, ApiError> {
    ask(&engine, Command::Pause).await?.map_err(ApiError::internal)?;
    Ok(Json(json!({"paused": true})).into_response())
}

async fn resume(State(AppState { engine, .. }): State<AppState>) -> Result<Response, ApiError> {
    ask(&engine, Command::Resume).await?.map_err(ApiError::internal)?;
    Ok(Json(json!({"paused": false})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn err(body: &str) -> ApiError {
        parse_events(body.as_bytes(), NOW).unwrap_err()
    }

    #[test]
    fn one_event_or_an_array() {
        let one = parse_events(br#"{"app":"Code","at":"2027-01-15T09:00:00+01:00","title":"x"}"#, NOW).unwrap();
        assert_eq!(one[0].at, NOW);
        assert_eq!(one[0].offset, UtcOffset(3600));
        let many = parse_events(br#"[{"app":"A"},{"app":"B","text":null,"extra":1}]"#, NOW).unwrap();
        assert_eq!(many.len(), 2);
    }

    #[test]
    fn bad_items_name_their_index_and_field() {
        let e = err(r#"[{"app":"A"},{"title":"no app"}]"#);
        assert_eq!((e.index, e.field.as_deref()), (Some(1), Some("app")));
        let e = err(r#"[{"app":"A","at":"yesterday"}]"#);
        assert_eq!(e.field.as_deref(), Some("at"));
        let e = err(r#"[{"app":5}]"#);
        assert_eq!(e.field.as_deref(), Some("app"));
        let e = err(r#"[{"app":"A","at":"0000-01-01T09:00:00Z"}]"#);
        assert_eq!(e.field.as_deref(), Some("at"), "{}", e.error);
        let long = format!(r#"{{"app":"A","title":"{}"}}"#, "t".repeat(5000));
        assert_eq!(err(&long).field.as_deref(), Some("title"));
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in ["", "not json", "[]", "42", r#"["x"]"#] {
            assert_eq!(err(body).status, StatusCode::BAD_REQUEST, "{body}");
        }
        assert!(parse_events(&[b'"', 0xff, b'"'], NOW).is_err(), "invalid UTF-8");
        let many = format!("[{}]", vec![r#"{"app":"A"}"#; MAX_EVENTS + 1].join(","));
        assert!(err(&many).error.contains("at most"));
    }
}
