//! The `kind = "openai"` summarizer over HTTP, against a fake endpoint on
//! 127.0.0.1: a good answer (bare or fenced) is the summary, the key goes
//! out as a bearer token and no `Authorization` without one, and an error
//! status, garbage, a refusal, an oversized body, a slow server, a server
//! that never answers and a closed port are each their own failure, in
//! bounded time, and a summarizer error for the engine.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::fake_llm::{FakeLlm, completion, response};
use daybook::summarizer::DaemonSummarizer;
use daybook::summarizer::openai::{DEFAULT_PROMPT, MAX_BODY_BYTES, OpenAi, OpenAiFailure, QUOTE_BYTES, chat_body};
use daybook_core::{
    Block, EntryKind, Error as CoreError, SessionId, Summarizer, Summary, SummaryRequest, Timestamp, UtcOffset,
};
use serde_json::{Value, json};

const ANSWER: &str = r#"{"summary": "Fixed the parser.", "lines": ["[10:00-10:01, Code] Fixed the parser"]}"#;

fn expected() -> Summary {
    Summary {
        summary: "Fixed the parser.".into(),
        lines: vec!["[10:00-10:01, Code] Fixed the parser".into()],
    }
}

/// One block, 2026-01-10 10:00-10:01 at +01:00.
fn request() -> SummaryRequest {
    let start = Timestamp(1_768_035_600_000);
    SummaryRequest {
        session_id: SessionId::from("s"),
        kind: EntryKind::Final,
        blocks: vec![Block {
            session_id: SessionId::from("s"),
            start,
            end: Timestamp(start.0 + 60_000),
            rev: 0,
            offset: UtcOffset(3600),
            lines: vec!["Code — parser.rs".into()],
            apps: vec!["Code".into()],
            capture_count: 2,
            covered_by: None,
        }],
    }
}

fn client(base: &str, key: Option<&str>, timeout: Duration) -> OpenAi {
    OpenAi::new(
        base,
        "test-model",
        key.map(str::to_owned),
        DEFAULT_PROMPT.into(),
        true,
        timeout,
    )
}

/// What `fake` makes of `request()`, and how long it took.
fn failure(fake: &FakeLlm, timeout: Duration) -> (OpenAiFailure, Duration) {
    let started = Instant::now();
    let err = client(&fake.base_url, None, timeout)
        .summarize(&request())
        .expect_err("a failure");
    (err, started.elapsed())
}

#[test]
fn a_good_answer_is_the_summary_and_the_key_is_a_bearer_token() {
    let fake = FakeLlm::replying(200, completion(ANSWER));
    let got = client(&fake.base_url, Some("sk-test-123"), Duration::from_secs(10))
        .summarize(&request())
        .expect("a summary");
    assert_eq!(got, expected());
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
        "{}",
        seen[0].head
    );
    assert_eq!(seen[0].header("authorization").as_deref(), Some("Bearer sk-test-123"));
    assert!(
        seen[0]
            .header("content-type")
            .expect("a type")
            .starts_with("application/json")
    );
    let body: Value = serde_json::from_str(&seen[0].body).expect("JSON body");
    assert_eq!(body, chat_body("test-model", DEFAULT_PROMPT, true, &request()));
}

#[test]
fn a_fenced_answer_is_read_and_without_a_key_no_authorization_is_sent() {
    let fake = FakeLlm::replying(200, completion(&format!("```json\n{ANSWER}\n```")));
    // A trailing slash on the base is fine.
    let got = client(&format!("{}/", fake.base_url), None, Duration::from_secs(10))
        .summarize(&request())
        .expect("a summary");
    assert_eq!(got, expected());
    let seen = fake.seen();
    assert!(
        seen[0].head.starts_with("POST /v1/chat/completions "),
        "{}",
        seen[0].head
    );
    assert_eq!(seen[0].header("authorization"), None, "{}", seen[0].head);
}

#[test]
fn an_error_status_is_a_failure_quoting_the_start_of_the_body() {
    let body = format!("{{\"error\": \"model is loading\"}}{}", " ".repeat(1_000));
    let (err, _) = failure(&FakeLlm::replying(500, body), Duration::from_secs(10));
    let OpenAiFailure::Status { status, body, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 500);
    assert!(body.starts_with("{\"error\": \"model is loading\"}"), "{body}");
    assert!(body.len() <= QUOTE_BYTES + "…".len());
    let (err, _) = failure(&FakeLlm::replying(401, "unauthorized".into()), Duration::from_secs(10));
    assert!(matches!(err, OpenAiFailure::Status { status: 401, .. }), "{err:?}");
}

#[test]
fn garbage_a_refusal_and_an_oversized_body_are_failures() {
    let (err, _) = failure(&FakeLlm::replying(200, "garbage\u{0}".into()), Duration::from_secs(10));
    assert!(matches!(err, OpenAiFailure::NotCompletion { .. }), "{err:?}");
    let refusal = json!({"choices": [{"message": {"content": null, "refusal": "I can't."}, "finish_reason": "stop"}]});
    let (err, _) = failure(&FakeLlm::replying(200, refusal.to_string()), Duration::from_secs(10));
    assert!(matches!(err, OpenAiFailure::Refused { .. }), "{err:?}");
    let huge = completion(&"x".repeat(usize::try_from(MAX_BODY_BYTES).expect("fits")));
    let (err, _) = failure(&FakeLlm::replying(200, huge), Duration::from_secs(10));
    assert!(matches!(err, OpenAiFailure::TooLarge { .. }), "{err:?}");
}

#[test]
fn a_slow_server_times_out() {
    let slow = FakeLlm::start(|s: &mut TcpStream| {
        thread::sleep(Duration::from_secs(3));
        let _ = s.write_all(response(200, &completion(ANSWER)).as_bytes());
    });
    let (err, took) = failure(&slow, Duration::from_millis(300));
    assert!(matches!(err, OpenAiFailure::Timeout { .. }), "{err:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_server_that_sends_headers_then_stalls_times_out() {
    let stall = FakeLlm::start(|s: &mut TcpStream| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"choi");
        thread::sleep(Duration::from_secs(3));
    });
    let (err, took) = failure(&stall, Duration::from_millis(300));
    assert!(matches!(err, OpenAiFailure::Timeout { .. }), "{err:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_server_that_never_answers_times_out() {
    // It never accepts: the connection waits in the backlog.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let started = Instant::now();
    let err = client(&base, None, Duration::from_millis(300))
        .summarize(&request())
        .expect_err("a failure");
    assert!(matches!(err, OpenAiFailure::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(listener);
}

#[test]
fn a_closed_port_is_a_transport_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    drop(listener);
    let err = client(&base, None, Duration::from_secs(5))
        .summarize(&request())
        .expect_err("a failure");
    assert!(matches!(err, OpenAiFailure::Transport { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot talk to http://127.0.0.1:"), "{err}");
}

#[test]
fn for_the_engine_a_failure_is_a_summarizer_error() {
    let fake = FakeLlm::replying(503, "busy".into());
    let mut z = DaemonSummarizer::OpenAi(client(&fake.base_url, None, Duration::from_secs(10)));
    let err = z.summarize(&request()).expect_err("a failure");
    assert!(matches!(err, CoreError::Summarizer(_)), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
}
