//! ActivityWatch's watcher API under `/api/0` (SPEC §11), so
//! aw-watcher-window, aw-watcher-afk, aw-watcher-web and any `aw-client`
//! feed daybook unchanged. The contract is the one aw-server-rust serves
//! and aw-client uses:
//!
//! - `GET /info` → `{hostname, version, testing, device_id}`; `hostname` is
//!   the machine's (the browser extension names its bucket from it).
//! - `GET /buckets/` → `{id: bucket}`; `GET /buckets/<id>` → the bucket or
//!   404; `POST /buckets/<id>` `{client, type, hostname}` → 200, or 304 when
//!   it exists; `DELETE /buckets/<id>` → 200 or 404.
//! - `POST /buckets/<id>/heartbeat?pulsetime=S` `{timestamp, duration?,
//!   data}` → the merged or new event (core `watcher::merge`), after its
//!   commit; 404 for an unknown bucket.
//! - `POST /buckets/<id>/events` `[event, …]` → the events with their ids
//!   (a given `id` is ignored: every posted event is a new one);
//!   `GET /buckets/<id>/events?limit=&start=&end=` → newest first, `limit`
//!   -1 or absent for all, a bad `start`/`end`/`limit` is a 400;
//!   `GET …/events/count` → a bare integer; `GET`/`DELETE
//!   …/events/<eid>` → the event / 200, or 404.
//! - `GET /export`, `GET /buckets/<id>/export` → `{"buckets": {id: {…bucket,
//!   events}}}`; `POST /import` takes that shape (all or nothing; a bucket
//!   that exists is a 409). Imported events are stored raw and derive no
//!   daybook events (history belongs to `daybook import`).
//! - `POST /query/` → 501 (not supported); `GET /settings` → `{}`.
//! - Errors are `{"message": …}`.
//!
//! Timestamps are read as RFC 3339 (with or without fractional seconds; one
//! without an offset is taken as UTC, as aw-core does) and written back in
//! UTC with `+00:00`; durations are float seconds, never negative. The
//! guard in front (Host, Origin with the extensions' CORS, token rules for
//! `/api/0`, JSON bodies, the body budget) has run before any handler.

use std::sync::mpsc::Sender;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use daybook_core::watcher::{AwEvent, NANOS_PER_MILLI, Nanos};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::AppState;
use super::v1::MAX_BODY_BYTES;
use crate::clock;
use crate::error::quote;
use crate::service::{AwRefused, AwReply, AwRequest, Command};
use crate::store::{AwBucket, AwRange};

/// Longest bucket id: it becomes the `source` of derived events.
const MAX_BUCKET_ID_BYTES: usize = daybook_core::event::MAX_SOURCE_BYTES;

/// The `/api/0` routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/info", get(info))
        .route("/api/0/buckets", get(buckets))
        .route("/api/0/buckets/", get(buckets))
        .route(
            "/api/0/buckets/{id}",
            get(bucket).post(create_bucket).delete(delete_bucket),
        )
        .route("/api/0/buckets/{id}/heartbeat", post(heartbeat))
        .route("/api/0/buckets/{id}/events", get(events).post(insert_events))
        .route("/api/0/buckets/{id}/events/count", get(count))
        .route("/api/0/buckets/{id}/events/{eid}", get(event).delete(delete_event))
        .route("/api/0/buckets/{id}/export", get(export_bucket))
        .route("/api/0/export", get(export_all))
        .route("/api/0/import", post(import))
        .route("/api/0/query", post(query))
        .route("/api/0/query/", post(query))
        .route("/api/0/settings", get(settings))
        .route("/api/0/settings/", get(settings))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A routing miss under `/api/0`, in this surface's error shape.
pub(super) async fn not_found() -> Response {
    AwError(StatusCode::NOT_FOUND, "no such path".into()).into_response()
}

/// An error reply: `{"message": …}`.
#[derive(Debug)]
struct AwError(StatusCode, String);

impl IntoResponse for AwError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "message": self.1 }))).into_response()
    }
}

impl From<AwRefused> for AwError {
    fn from(r: AwRefused) -> Self {
        match r {
            AwRefused::NotFound(m) => Self(StatusCode::NOT_FOUND, m),
            AwRefused::Exists(m) => Self(StatusCode::CONFLICT, m),
            AwRefused::Invalid(m) => Self(StatusCode::BAD_REQUEST, m),
            AwRefused::Failed(m) => Self(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

fn bad(message: impl Into<String>) -> AwError {
    AwError(StatusCode::BAD_REQUEST, message.into())
}

async fn ask(engine: &Sender<Command>, req: AwRequest) -> Result<AwReply, AwError> {
    let (tx, rx) = oneshot::channel();
    let gone = || AwError(StatusCode::SERVICE_UNAVAILABLE, "daybook is shutting down".into());
    engine.send(Command::ActivityWatch(req, tx)).map_err(|_| gone())?;
    Ok(rx.await.map_err(|_| gone())??)
}

/// The machine's host name, as aw-server reports it.
pub fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// An instant in nanoseconds, as aw-server writes it.
fn time(ns: Nanos) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// An RFC 3339 instant (or one without offset, as UTC) in nanoseconds.
fn parse_time(s: &str) -> Option<Nanos> {
    let t = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .ok()?;
    t.timestamp_nanos_opt()
}

fn event_json(e: &AwEvent) -> Value {
    json!({
        "id": e.id,
        "timestamp": time(e.start),
        "duration": e.duration() as f64 / 1e9,
        "data": e.data,
    })
}

/// One event object of a request: `timestamp` required, `duration`
/// (seconds, not negative) defaulting to 0, `data` an object defaulting to
/// `{}`.
fn parse_event(v: &Value, which: &str) -> Result<AwEvent, AwError> {
    let Value::Object(map) = v else {
        return Err(bad(format!("{which} must be a JSON object")));
    };
    let ts = map
        .get("timestamp")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{which}: `timestamp` is missing or not a string")))?;
    let start =
        parse_time(ts).ok_or_else(|| bad(format!("{which}: `timestamp` {} is not an RFC 3339 instant", quote(ts))))?;
    let duration = match map.get("duration") {
        None | Some(Value::Null) => 0.0,
        Some(d) => d
            .as_f64()
            .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
            .ok_or_else(|| bad(format!("{which}: `duration` must be a non-negative number of seconds")))?,
    };
    let data = match map.get("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(d @ Value::Object(_)) => d.clone(),
        Some(_) => return Err(bad(format!("{which}: `data` must be a JSON object"))),
    };
    let end = start.saturating_add((duration * 1e9).round() as i64);
    Ok(AwEvent {
        id: None,
        start,
        end,
        data,
    })
}

fn parse_json(body: &Bytes) -> Result<Value, AwError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

fn bucket_json(b: &AwBucket) -> Value {
    let data: Value = serde_json::from_str(&b.data).unwrap_or_else(|_| json!({}));
    json!({
        "id": b.id,
        "name": Value::Null,
        "type": b.type_,
        "client": b.client,
        "hostname": b.hostname,
        "created": b.created,
        "data": data,
        "metadata": {
            "start": b.span.map(|(s, _)| time(s)),
            "end": b.span.map(|(_, e)| time(e)),
        },
        "last_updated": b.span.map(|(_, e)| time(e)),
    })
}

fn check_id(id: &str) -> Result<(), AwError> {
    if id.is_empty() || id.len() > MAX_BUCKET_ID_BYTES || id.chars().any(char::is_control) {
        return Err(bad(format!(
            "bucket id {} must be 1 to {MAX_BUCKET_ID_BYTES} bytes without control characters",
            quote(id)
        )));
    }
    Ok(())
}

async fn info() -> Json<Value> {
    let hostname = hostname();
    Json(json!({
        "hostname": hostname,
        "version": format!("daybook {} (ActivityWatch API)", env!("CARGO_PKG_VERSION")),
        "testing": false,
        // Stable per machine: aw-webui uses it to tell devices apart.
        "device_id": format!("daybook-{hostname}"),
    }))
}

async fn buckets(State(s): State<AppState>) -> Result<Json<Value>, AwError> {
    let AwReply::Buckets(all) = ask(&s.engine, AwRequest::Buckets).await? else {
        unreachable!("answered with buckets")
    };
    let map: Map<String, Value> = all.iter().map(|b| (b.id.clone(), bucket_json(b))).collect();
    Ok(Json(Value::Object(map)))
}

async fn bucket(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AwError> {
    let AwReply::Buckets(one) = ask(&s.engine, AwRequest::Bucket(id)).await? else {
        unreachable!("answered with buckets")
    };
    Ok(Json(bucket_json(&one[0])))
}

/// The bucket `id` as a client sent it (`v`, named `what` in errors):
/// its type, client and hostname must be strings; a missing or unreadable
/// `created` is now; `data` other than an object is none.
fn bucket_of(v: &Value, id: String, what: &str) -> Result<AwBucket, AwError> {
    let field = |k: &str| -> Result<String, AwError> {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{what}: `{k}` is missing or not a string")))
    };
    Ok(AwBucket {
        type_: field("type")?,
        client: field("client")?,
        hostname: field("hostname")?,
        created: v
            .get("created")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .map_or_else(|| time(clock::now().0.saturating_mul(NANOS_PER_MILLI)), time),
        data: v
            .get("data")
            .filter(|d| d.is_object())
            .map_or_else(|| "{}".to_owned(), Value::to_string),
        emitted: None,
        span: None,
        id,
    })
}

async fn create_bucket(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> Result<Response, AwError> {
    check_id(&id)?;
    let v = parse_json(&body)?;
    // Import lets any other `data` stand for none; a bucket created alone
    // must carry an object there.
    if v.get("data").is_some_and(|d| !d.is_null() && !d.is_object()) {
        return Err(bad("bucket: `data` must be a JSON object"));
    }
    let b = bucket_of(&v, id, "bucket")?;
    let AwReply::Created(created) = ask(&s.engine, AwRequest::CreateBucket(b)).await? else {
        unreachable!("answered with created")
    };
    Ok(if created {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NOT_MODIFIED.into_response()
    })
}

async fn delete_bucket(State(s): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, AwError> {
    ask(&s.engine, AwRequest::DeleteBucket(id)).await?;
    Ok(StatusCode::OK)
}

async fn heartbeat(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Json<Value>, AwError> {
    let pulsetime = match q.iter().find(|(k, _)| k == "pulsetime") {
        None => return Err(bad("`pulsetime` is required (seconds)")),
        Some((_, p)) => p
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0 && *p < 1e9)
            .ok_or_else(|| {
                bad(format!(
                    "`pulsetime` {} is not a non-negative number of seconds",
                    quote(p)
                ))
            })?,
    };
    let event = parse_event(&parse_json(&body)?, "the heartbeat")?;
    let req = AwRequest::Heartbeat {
        bucket: id,
        event,
        pulsetime: (pulsetime * 1e9).round() as i64,
    };
    let AwReply::Event(e) = ask(&s.engine, req).await? else {
        unreachable!("answered with an event")
    };
    Ok(Json(event_json(&e)))
}

async fn insert_events(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, AwError> {
    let v = parse_json(&body)?;
    let items = match &v {
        Value::Array(items) => items.as_slice(),
        one @ Value::Object(_) => std::slice::from_ref(one),
        _ => return Err(bad("the body must be an array of events")),
    };
    if items.len() > super::MAX_EVENTS {
        return Err(bad(format!("at most {} events in one request", super::MAX_EVENTS)));
    }
    let events = items
        .iter()
        .enumerate()
        .map(|(i, e)| parse_event(e, &format!("event {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let AwReply::Events(stored) = ask(&s.engine, AwRequest::Insert { bucket: id, events }).await? else {
        unreachable!("answered with events")
    };
    Ok(Json(Value::Array(stored.iter().map(event_json).collect())))
}

/// `limit`, `start` and `end` of an events query; any bad one is a 400
/// naming it.
fn range(q: &[(String, String)]) -> Result<AwRange, AwError> {
    let mut r = AwRange::default();
    for (k, v) in q {
        match k.as_str() {
            "limit" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| bad(format!("`limit` {} is not an integer", quote(v))))?;
                r.limit = u64::try_from(n).ok();
            }
            "start" | "end" => {
                let t = parse_time(v).ok_or_else(|| bad(format!("`{k}` {} is not an RFC 3339 instant", quote(v))))?;
                if k == "start" {
                    r.start = Some(t);
                } else {
                    r.end = Some(t);
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

async fn events(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, AwError> {
    let AwReply::Events(found) = ask(&s.engine, AwRequest::Events(id, range(&q)?)).await? else {
        unreachable!("answered with events")
    };
    Ok(Json(Value::Array(found.iter().map(event_json).collect())))
}

async fn count(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, AwError> {
    let AwReply::Count(n) = ask(&s.engine, AwRequest::Count(id, range(&q)?)).await? else {
        unreachable!("answered with a count")
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], n.to_string()).into_response())
}

fn event_id(eid: &str) -> Result<u64, AwError> {
    eid.parse()
        .map_err(|_| AwError(StatusCode::NOT_FOUND, format!("there is no event {}", quote(eid))))
}

async fn event(State(s): State<AppState>, Path((id, eid)): Path<(String, String)>) -> Result<Json<Value>, AwError> {
    let AwReply::Event(e) = ask(&s.engine, AwRequest::Event(id, event_id(&eid)?)).await? else {
        unreachable!("answered with an event")
    };
    Ok(Json(event_json(&e)))
}

async fn delete_event(
    State(s): State<AppState>,
    Path((id, eid)): Path<(String, String)>,
) -> Result<StatusCode, AwError> {
    ask(&s.engine, AwRequest::DeleteEvent(id, event_id(&eid)?)).await?;
    Ok(StatusCode::OK)
}

async fn export(engine: &Sender<Command>, one: Option<String>) -> Result<Json<Value>, AwError> {
    let AwReply::Export(all) = ask(engine, AwRequest::Export(one)).await? else {
        unreachable!("answered with an export")
    };
    let mut buckets = Map::new();
    for (b, events) in &all {
        let mut v = bucket_json(b);
        v["events"] = Value::Array(events.iter().map(event_json).collect());
        buckets.insert(b.id.clone(), v);
    }
    Ok(Json(json!({ "buckets": buckets })))
}

async fn export_all(State(s): State<AppState>) -> Result<Json<Value>, AwError> {
    export(&s.engine, None).await
}

async fn export_bucket(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AwError> {
    export(&s.engine, Some(id)).await
}

async fn import(State(s): State<AppState>, body: Bytes) -> Result<StatusCode, AwError> {
    let v = parse_json(&body)?;
    let Some(Value::Object(buckets)) = v.get("buckets") else {
        return Err(bad("the body must be {\"buckets\": {id: bucket}}"));
    };
    let mut all = Vec::with_capacity(buckets.len());
    for (key, b) in buckets {
        let id = b.get("id").and_then(Value::as_str).unwrap_or(key).to_owned();
        check_id(&id)?;
        let what = format!("bucket {}", quote(&id));
        let events = match b.get("events") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, e)| parse_event(e, &format!("{what} event {i}")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(bad(format!("{what}: `events` must be an array"))),
        };
        let bucket = bucket_of(b, id, &what)?;
        all.push((bucket, events));
    }
    ask(&s.engine, AwRequest::Import(all)).await?;
    Ok(StatusCode::OK)
}

async fn query() -> AwError {
    AwError(
        StatusCode::NOT_IMPLEMENTED,
        "queries (POST /api/0/query/) are not supported by daybook; read events with GET /api/0/buckets/<id>/events"
            .into(),
    )
}

async fn settings() -> Json<Value> {
    Json(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_with_or_without_fractions_and_write_back_in_utc() {
        let t = parse_time("2026-11-30T04:00:00+01:00").unwrap();
        assert_eq!(time(t), "2026-11-30T03:00:00+00:00");
        let f = parse_time("2026-11-30T03:00:00.123456+00:00").unwrap();
        assert_eq!(f - t, 123_456_000);
        assert_eq!(time(f), "2026-11-30T03:00:00.123456+00:00");
        assert_eq!(parse_time("2026-11-30T03:00:00"), Some(t), "no offset means UTC");
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn a_bucket_reads_its_fields_and_names_the_one_missing() {
        let v = json!({"type": "currentwindow", "client": "aw-watcher-window", "hostname": "h",
                       "created": "2026-11-30T04:00:00+01:00", "data": {"k": 1}});
        let b = bucket_of(&v, "w".into(), "bucket").unwrap();
        assert_eq!(
            [b.id, b.type_, b.client, b.hostname, b.created, b.data],
            [
                "w",
                "currentwindow",
                "aw-watcher-window",
                "h",
                "2026-11-30T03:00:00+00:00",
                r#"{"k":1}"#
            ]
        );
        let mut other = v.clone();
        other["data"] = json!([1]);
        assert_eq!(bucket_of(&other, "w".into(), "bucket").unwrap().data, "{}");
        for k in ["type", "client", "hostname"] {
            let mut missing = v.clone();
            missing.as_object_mut().unwrap().remove(k);
            let AwError(status, message) = bucket_of(&missing, "w".into(), "bucket \"w\"").unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(message, format!("bucket \"w\": `{k}` is missing or not a string"));
        }
    }

    #[test]
    fn a_bad_event_is_refused_naming_its_field() {
        for (v, field) in [
            (json!({"duration": 1}), "timestamp"),
            (json!({"timestamp": "x"}), "timestamp"),
            (json!({"timestamp": "2026-11-30T03:00:00Z", "duration": -1}), "duration"),
            (json!({"timestamp": "2026-11-30T03:00:00Z", "data": [1]}), "data"),
        ] {
            let AwError(status, message) = parse_event(&v, "the heartbeat").unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(message.contains(field), "{message}");
        }
        let e = parse_event(&json!({"timestamp": "2026-11-30T03:00:00Z", "duration": 1.5}), "x").unwrap();
        assert_eq!(e.duration(), 1_500_000_000);
        assert_eq!(e.data, json!({}));
    }
}
