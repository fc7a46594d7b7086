//! Privacy is on by default: a fresh install never stores what a password
//! manager or a private browser window shows, and redacts card numbers and
//! secrets before anything is stored. App names match whatever invisible
//! characters or spaces a capture client leaves around them. The user can
//! add rules or clear the defaults, and `daybook config --show` says which
//! rules are in force.

mod common;

use common::{FAST_TICK, TestDir};
use serde_json::{Value, json};

const DAY: &str = "2026-01-10";

fn at(minute: u32) -> String {
    format!("{DAY}T12:{minute:02}:00+01:00")
}

/// Everything a reader could see: stored events (every field), the day
/// file, the API's day and the CLI's `show`.
fn everything(dir: &TestDir, daemon: &common::Daemon) -> String {
    let dump = serde_json::to_string(&dir.dump().events).unwrap();
    let files: String = dir.day_files().into_iter().map(|(_, text)| text).collect();
    let api = daemon.get(&format!("/v1/days/{DAY}")).body;
    let show = dir.daybook(&["show", DAY]).assert_ok("show").stdout;
    format!("{dump}\n{files}\n{api}\n{show}")
}

#[test]
fn a_fresh_install_keeps_password_managers_private_windows_and_secrets_out() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    let reply = daemon.ingest(&json!([
        {"at": at(0), "app": "Code", "title": "main.rs"},
        {"at": at(1), "app": "1Password", "text": "typed: hunter2"},
        {"at": at(1), "app": "1Password ", "text": "typed: hunter3"},
        {"at": at(1), "app": "1Password\u{200b}", "text": "typed: hunter4"},
        {"at": at(1), "app": "bitwarden", "title": "vault hunter5"},
        {"at": at(2), "app": "Firefox", "title": "Bank — Mozilla Firefox Private Browsing", "url": "https://bank.example/hunter6"},
        {"at": at(2), "app": "Google Chrome", "title": "Inbox - Google Chrome (Incognito)"},
        {"at": at(3), "app": "Code", "title": "card 4111 1111 1111 1111",
         "url": "https://api.example/?key=sk-abcdefghijklmnopqrstu",
         "text": "export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345\ncurl -H 'Authorization: Bearer eyJhbGciOi.payload.sig'\nAKIAIOSFODNN7EXAMPLE"},
    ]));
    assert_eq!(reply["accepted"], 2, "{reply}");
    assert_eq!(reply["ignored"], 6, "{reply}");
    daemon.wait_quiet();
    let seen = everything(&dir, &daemon);
    for secret in [
        "hunter",
        "1Password",
        "bitwarden",
        "Private Browsing",
        "Incognito",
        "4111",
        "sk-abc",
        "ghp_",
        "eyJhbGciOi",
        "AKIA",
    ] {
        assert!(!seen.contains(secret), "{secret:?} reached a reader:\n{seen}");
    }
    let stored = dir.dump().events;
    assert_eq!(stored.len(), 2);
    let redacted = &stored[1].event;
    assert_eq!(redacted.title.as_deref(), Some("card [redacted]"));
    assert_eq!(redacted.url.as_deref(), Some("https://api.example/?key=[redacted]"));
    assert_eq!(
        redacted.text.as_deref(),
        Some("export GITHUB_TOKEN=[redacted]\ncurl -H 'Authorization: [redacted]'\n[redacted]")
    );
    assert_eq!(daemon.status()["dropped_ignored"], 6);
}

#[test]
fn the_user_adds_url_title_and_redaction_rules_on_top_of_the_defaults() {
    let dir = TestDir::new(&format!(
        "{FAST_TICK}ignore_apps = [\"Signal\"]\nignore_url_patterns = [\"^https://bank\\\\.example/\"]\nignore_title_patterns = [\"(?i)payroll\"]\nredact_patterns = [\"project-[a-z]+\"]\n"
    ));
    let daemon = dir.start();
    let reply = daemon.ingest(&json!([
        {"at": at(0), "app": "Firefox", "url": "https://bank.example/login", "title": "Log in"},
        {"at": at(0), "app": "SIGNAL", "text": "hi"},
        {"at": at(1), "app": "Numbers", "title": "Payroll 2026"},
        {"at": at(1), "app": "1Password", "text": "defaults stay on"},
        {"at": at(2), "app": "Code", "title": "project-falcon notes", "text": "about project-falcon"},
    ]));
    assert_eq!(
        (reply["accepted"].clone(), reply["ignored"].clone()),
        (json!(1), json!(4)),
        "{reply}"
    );
    daemon.wait_quiet();
    let seen = everything(&dir, &daemon);
    for secret in ["bank.example", "SIGNAL", "Payroll", "defaults stay on", "falcon"] {
        assert!(!seen.contains(secret), "{secret:?} reached a reader:\n{seen}");
    }
    assert!(seen.contains("[redacted] notes"), "{seen}");
}

#[test]
fn privacy_defaults_false_clears_the_defaults_only() {
    let dir = TestDir::new(&format!(
        "{FAST_TICK}privacy_defaults = false\nignore_apps = [\"Signal\"]\n"
    ));
    let daemon = dir.start();
    let reply = daemon.ingest(&json!([
        {"at": at(0), "app": "1Password", "text": "4111 1111 1111 1111"},
        {"at": at(1), "app": "Signal"},
    ]));
    assert_eq!(
        (reply["accepted"].clone(), reply["ignored"].clone()),
        (json!(1), json!(1)),
        "{reply}"
    );
    let stored = dir.dump().events;
    assert_eq!(stored[0].event.text.as_deref(), Some("4111 1111 1111 1111"));
}

#[test]
fn config_show_prints_the_rules_in_force() {
    let dir = TestDir::new("ignore_apps = [\"Signal\"]\nredact_patterns = [\"project-[a-z]+\"]\n");
    let out = dir.daybook(&["config", "--show"]).assert_ok("config --show");
    for want in [
        "\"1Password\"  [default]",
        "\"Signal\"  [config]",
        "card number",
        "project-[a-z]+",
        "incognito",
    ] {
        assert!(out.stdout.contains(want), "{want:?} missing:\n{}", out.stdout);
    }
    let json = dir
        .daybook(&["config", "--show", "--json"])
        .assert_ok("config --show --json")
        .json();
    let apps: Vec<(String, String)> = json["privacy"]["ignore_apps"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r: &Value| {
            (
                r["rule"].as_str().unwrap().to_owned(),
                r["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(apps.contains(&("1Password".into(), "default".into())), "{apps:?}");
    assert!(apps.contains(&("Signal".into(), "user".into())), "{apps:?}");
    assert!(!dir.data().exists(), "config --show created the data directory");

    let cleared = TestDir::new("privacy_defaults = false\n");
    let out = cleared.daybook(&["config", "--show"]).assert_ok("config --show");
    assert!(
        !out.stdout.contains("1Password") && !out.stdout.contains("card number"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_secret_typed_in_steps_leaves_no_prefix_in_the_day() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    // A capture client sends the text as it grows; the day keeps drafts
    // the finished text no longer extends.
    let steps = [
        "export OPENAI_API_KEY=sk-proj-abcdefghi",
        "export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123",
        "card 4111 1111 11",
        "card 4111 1111 1111 1111",
        "-----BEGIN RSA PRIVATE KEY",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    ];
    let events: Vec<Value> = steps
        .iter()
        .map(|text| json!({"at": at(1), "app": "Terminal", "title": "zsh", "text": text}))
        .collect();
    assert_eq!(daemon.ingest(&json!(events))["accepted"], steps.len());
    daemon.wait_quiet();
    let seen = everything(&dir, &daemon);
    for secret in ["sk-proj", "abcdefghi", "4111", "MIIE", "PRIVATE"] {
        assert!(!seen.contains(secret), "{secret:?} reached a reader:\n{seen}");
    }
}
