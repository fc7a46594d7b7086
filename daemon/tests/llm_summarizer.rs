//! `[summarizer] kind = "openai"` against the real binary and a fake
//! chat-completions endpoint the test runs on 127.0.0.1: the model's
//! summary reaches the day file, the key named by `api_key_env` arrives as
//! a bearer token, a key variable that is not set stops startup, and a
//! failing endpoint takes the retry path (the session shows `failed`, and
//! the attempt past `max_reduce_attempts` writes a heuristic entry).

mod common;

use common::fake_llm::{FakeLlm, completion_json};
use common::{FAST_TICK, TestDir, poll};
use daybook_core::EntryKind;
use serde_json::{Value, json};

/// A past morning: the one-second tick ends and reduces its session at once.
const DAY: &str = "2026-01-10";

/// A config of `kind = "openai"` against `fake`, after `extra` top-level keys.
fn config(fake: &FakeLlm, extra: &str) -> String {
    format!(
        "{FAST_TICK}{extra}[summarizer]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"test-model\"\ntimeout_seconds = 10\n",
        fake.base_url
    )
}

fn event() -> Value {
    json!({"at": format!("{DAY}T12:00:00+01:00"), "app": "Code", "title": "parser.rs — daybook"})
}

#[test]
fn the_models_summary_reaches_the_day_file_and_the_key_is_a_bearer_token() {
    let answer = json!({"summary": "Reviewed the parser.", "lines": ["[12:00-12:01, Code] Read parser.rs"]});
    let fake = FakeLlm::replying(200, completion_json(&answer));
    let dir = TestDir::new(&format!(
        "{}api_key_env = \"DAYBOOK_TEST_LLM_KEY\"\n",
        config(&fake, "")
    ));
    let daemon = dir.start_with_env(&[("DAYBOOK_TEST_LLM_KEY", "sk-local-test-7")]);
    daemon.ingest(&event());
    daemon.wait_quiet();

    let dump = dir.dump();
    assert_eq!(dump.entries.len(), 1, "{:?}", dump.entries);
    assert_eq!(dump.entries[0].kind, EntryKind::Final);
    let file = std::fs::read_to_string(dir.days().join(format!("event-{DAY}.md"))).expect("day file");
    assert!(file.contains("Reviewed the parser."), "{file}");
    // The session's section holds the model's summary; its lines stay
    // in the entry, the section lists the session's contexts instead.
    assert!(
        dump.entries[0].body.contains("[12:00-12:01, Code] Read parser.rs"),
        "{:?}",
        dump.entries
    );
    assert!(file.contains("- 12:00 Code — parser.rs — daybook\n"), "{file}");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].head.starts_with("POST /v1/chat/completions "),
        "{}",
        seen[0].head
    );
    assert_eq!(
        seen[0].header("authorization").as_deref(),
        Some("Bearer sk-local-test-7")
    );
    let body: Value = serde_json::from_str(&seen[0].body).expect("request JSON");
    assert_eq!(body["model"], "test-model");
    let user = body["messages"][1]["content"].as_str().expect("user message");
    assert!(user.contains("parser.rs — daybook"), "{user}");
    assert!(user.contains("2026-01-10T12:00:00.000+01:00"), "{user}");
    // The key is sent, never logged.
    assert!(!daemon.log().contains("sk-local-test-7"));
}

#[test]
fn a_key_variable_that_is_not_set_stops_startup_naming_it() {
    let fake = FakeLlm::replying(200, String::new());
    let dir = TestDir::new(&format!(
        "{}api_key_env = \"DAYBOOK_TEST_LLM_KEY_UNSET\"\n",
        config(&fake, "")
    ));
    let ran = dir.daybook(&["run", "--listen", "127.0.0.1:0", "--activitywatch-listen", "off"]);
    assert!(!ran.ok(), "{ran:?}");
    assert!(ran.stderr.contains("DAYBOOK_TEST_LLM_KEY_UNSET"), "{}", ran.stderr);
    assert!(fake.seen().is_empty());
}

#[test]
fn a_failing_endpoint_takes_the_retry_path_then_the_heuristic() {
    let fake = FakeLlm::replying(500, "{\"error\": \"model crashed\"}".into());
    let dir = TestDir::new(&config(&fake, "max_reduce_attempts = 2\n"));
    let mut daemon = dir.start();
    daemon.ingest(&event());
    let status = poll("the session to fail", || {
        let s = daemon.status();
        (s["failed_sessions"] == 1).then_some(s)
    });
    assert_eq!(status["pending_sessions"], 0, "{status}");
    let sessions = daemon.get(&format!("/v1/sessions?day={DAY}")).json();
    assert_eq!(sessions[0]["status"], "failed", "{sessions}");
    assert_eq!(sessions[0]["retry_count"], 1, "{sessions}");
    assert!(dir.dump().entries.is_empty());
    assert!(daemon.log().contains("500"), "{}", daemon.log());
    assert_eq!(fake.seen().len(), 1);
    assert!(daemon.terminate().success());

    // The next start retries it (reduce-pending); the second failure is
    // the last attempt allowed, so a heuristic entry covers the blocks.
    let daemon = dir.start();
    daemon.wait_quiet();
    let dump = dir.dump();
    assert_eq!(dump.entries.len(), 1, "{:?}", dump.entries);
    assert_eq!(dump.entries[0].kind, EntryKind::Heuristic);
    assert_eq!(fake.seen().len(), 2);
    let file = std::fs::read_to_string(dir.days().join(format!("event-{DAY}.md"))).expect("day file");
    assert!(file.contains("heuristic"), "{file}");
}
