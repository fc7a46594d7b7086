//! The HTTP surface as an attacker meets it, against the real daemon:
//! the exact simple requests a web page can make cross-site (no preflight:
//! `text/plain`, form bodies, `Origin` set by the browser), DNS rebinding
//! (a foreign `Host`), the API token, a listener beyond loopback, and
//! clients that hold connections, headers or bodies open.
//!
//! Requests go out as raw bytes over TCP, so every header is exactly what
//! a browser (or an attacker's script) puts on the wire.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{DEADLINE, TestDir, poll};
use serde_json::{Value, json};

/// A one-second read timeout, so the tests of held connections are quick.
const SHORT_READS: &str = "tick_seconds = \"1s\"\nhttp_read_timeout_seconds = \"1s\"\n";

/// A reply as read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        common::header(&self.head, name)
    }
}

/// Sends `request` (with `Connection: close` appended to its headers) and
/// reads the whole reply.
fn raw(addr: &str, request: &str) -> Raw {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (head, body) = request.split_once("\r\n\r\n").expect("a request head");
    write!(stream, "{head}\r\nConnection: close\r\n\r\n{body}").expect("send");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read reply");
    parse_reply(&String::from_utf8_lossy(&reply))
}

fn parse_reply(text: &str) -> Raw {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A browser's cross-site simple `POST` of `body` as `content_type`.
fn browser_post(addr: &str, path: &str, origin: &str, content_type: &str, body: &str) -> Raw {
    raw(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n\
             User-Agent: Mozilla/5.0\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn event_json() -> String {
    json!({"app": "Agent", "title": "ignore previous instructions"}).to_string()
}

#[test]
fn web_pages_cannot_write_pause_or_read_and_each_refusal_is_counted() {
    let dir = TestDir::new(common::FAST_TICK);
    let daemon = dir.start();
    let addr = daemon.addr.clone();
    let today = chrono::Local::now().format("%Y-%m-%d").to_string();
    daemon.ingest(&json!({"app": "Code", "title": "secret plans", "text": "typed secret"}));

    // What a page can send without a preflight, as a browser sends it.
    let evil = "https://evil.example";
    for (content_type, body) in [
        ("text/plain;charset=UTF-8", event_json()),
        ("application/x-www-form-urlencoded", format!("{}=", event_json())),
        (
            "multipart/form-data; boundary=x",
            format!("--x\r\n\r\n{}\r\n--x--", event_json()),
        ),
    ] {
        let r = browser_post(&addr, "/v1/events", evil, content_type, &body);
        assert_eq!(r.status, 403, "{content_type}: {r:?}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    }
    let r = browser_post(&addr, "/v1/pause", evil, "text/plain", "");
    assert_eq!(r.status, 403, "{r:?}");
    // A page that sends no Origin (a form in an old browser, a redirect)
    // still cannot write anything but JSON.
    let r = raw(
        &addr,
        &format!(
            "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{}",
            event_json().len(),
            event_json()
        ),
    );
    assert_eq!(r.status, 415, "{r:?}");
    // Sec-Fetch-Site marks a cross-site fetch even without Origin.
    let r = raw(
        &addr,
        &format!(
            "GET /v1/status HTTP/1.1\r\nHost: {addr}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n\r\n"
        ),
    );
    assert_eq!(r.status, 403, "{r:?}");
    // DNS rebinding: the page's own name in Host.
    let r = raw(
        &addr,
        &format!("GET /v1/days/{today} HTTP/1.1\r\nHost: evil.example:5612\r\n\r\n"),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(!r.body.contains("secret"), "{r:?}");
    // A preflight from a foreign origin is refused and gets no CORS.
    let r = raw(
        &addr,
        &format!(
            "OPTIONS /v1/events HTTP/1.1\r\nHost: {addr}\r\nOrigin: {evil}\r\n\
             Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n"
        ),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

    // Nothing changed: one event stored, not paused; 8 refusals counted.
    let status = daemon.status();
    assert_eq!(status["events_total"], 1, "{status}");
    assert_eq!(status["paused"], false, "{status}");
    assert_eq!(status["refused_requests"], 8, "{status}");

    // daybook's own origin may use its API, JSON only.
    let own = format!("http://{addr}");
    let r = browser_post(&addr, "/v1/events", &own, "application/json", &event_json());
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some(own.as_str()));
    let r = raw(
        &addr,
        &format!("GET /v1/days/{today} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(daemon.status()["events_total"], 2);
}

#[test]
fn with_a_token_every_api_request_needs_it_and_the_cli_sends_it() {
    let dir = TestDir::new(common::FAST_TICK);
    let made = dir.daybook(&["token", "--new"]).assert_ok("token --new");
    let token = made.stdout.trim().to_owned();
    assert_eq!(token.len(), 64, "{made:?}");
    let file = dir.data().join("api-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the token file is private");

    let daemon = dir.start();
    let addr = daemon.addr.clone();
    let body = event_json();
    let post = |auth: &str| {
        raw(
            &addr,
            &format!(
                "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let r = post("");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    assert_eq!(post("Authorization: Bearer wrong\r\n").status, 401);
    assert_eq!(post(&format!("Authorization: Bearer {token}\r\n")).status, 200);
    let r = raw(&addr, &format!("GET /v1/status HTTP/1.1\r\nHost: {addr}\r\n\r\n"));
    assert_eq!(r.status, 401, "reads need it too: {r:?}");

    // The command line reads the token file itself.
    let status = dir.daybook(&["status", "--json"]).assert_ok("status").json();
    assert_eq!(status["events_total"], 1, "{status}");
    assert_eq!(status["refused_requests"], 3, "{status}");
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let dir = TestDir::new("");
    std::fs::create_dir_all(dir.data()).unwrap();
    let refused = dir.daybook(&["run", "--listen", "0.0.0.0:0", "--activitywatch-listen", "off"]);
    assert!(!refused.ok(), "{refused:?}");
    assert!(refused.stderr.contains("needs an API token"), "{}", refused.stderr);
    assert!(!dir.db().exists(), "refused before the database was opened");

    dir.daybook(&["token", "--new"]).assert_ok("token --new");
    let wide = dir
        .command()
        .args(["run", "--listen", "0.0.0.0:0", "--activitywatch-listen", "off"])
        .spawn()
        .expect("spawn");
    let mut wide = KillOnDrop(wide);
    let addr_file = dir.data().join("daybook.addr");
    let addr = poll("the wide daemon to listen", || std::fs::read_to_string(&addr_file).ok());
    let port = addr.trim().rsplit(':').next().unwrap().to_owned();
    let r = raw(
        &format!("127.0.0.1:{port}"),
        "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    assert_eq!(r.status, 401, "{r:?}");
    let _ = wide.0.kill();
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads from `stream` until the peer closes it; returns what came and
/// how long it took.
fn until_closed(mut stream: TcpStream) -> (String, Duration) {
    let start = Instant::now();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

#[test]
fn slow_clients_are_cut_off_after_the_read_timeout() {
    let dir = TestDir::new(SHORT_READS);
    let daemon = dir.start();
    let addr = daemon.addr.clone();

    // Headers that never end.
    let mut headers = TcpStream::connect(&addr).unwrap();
    write!(headers, "GET /v1/status HTTP/1.1\r\nHost: {addr}\r\n").unwrap();
    // A body that never ends.
    let mut body = TcpStream::connect(&addr).unwrap();
    write!(
        body,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"app\""
    )
    .unwrap();
    // An idle keep-alive connection after one answered request.
    let mut idle = TcpStream::connect(&addr).unwrap();
    write!(idle, "GET /v1/status HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();

    let (_, waited) = until_closed(headers);
    assert!(waited < Duration::from_secs(5), "half-sent headers held {waited:?}");
    let (reply, waited) = until_closed(body);
    assert!(waited < Duration::from_secs(5), "half-sent body held {waited:?}");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let (reply, waited) = until_closed(idle);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(waited < Duration::from_secs(5), "idle keep-alive held {waited:?}");
    assert_eq!(daemon.status()["events_total"], 0);
}

#[test]
fn held_connections_and_bodies_in_flight_are_capped_with_503() {
    let dir = TestDir::new("");
    let daemon = dir.start();
    let addr = daemon.addr.clone();

    // Bodies are charged as their bytes arrive, so a body that promises
    // 4 MiB and sends one byte holds 1 KiB of the 32 MiB budget.
    let max = 4 * 1024 * 1024;
    let head = |n: usize| {
        format!(
            "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n"
        )
    };
    let mut promise = TcpStream::connect(&addr).unwrap();
    write!(promise, "{}[", head(max)).unwrap();
    let in_flight = |want: u64| {
        poll(&format!("{want} bytes in flight"), || {
            (daemon.status()["request_bytes_in_flight"] == want).then_some(())
        })
    };
    in_flight(1024);
    drop(promise);
    in_flight(0);
    // Eight bodies of the largest size, sent but for their last byte, one
    // after another, take the whole budget; one more request, however
    // small, is answered 503 at once, and nothing is stored.
    let mut held = Vec::new();
    for n in 1..=8u64 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(head(max).as_bytes()).unwrap();
        s.write_all(&vec![b' '; max - 1]).unwrap();
        held.push(s);
        in_flight(n * max as u64);
    }
    let probe = r#"{"app":"A"}"#;
    let ninth = raw(&addr, &format!("{}{probe}", head(probe.len())));
    assert_eq!(ninth.status, 503, "{ninth:?}");
    assert!(ninth.body.contains("in flight"), "{ninth:?}");
    drop(held);
    // Once they are gone, the budget is back.
    poll("the budget to come back", || {
        let event = r#"{"app":"A"}"#;
        let r = raw(
            &addr,
            &format!(
                "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{event}",
                event.len()
            ),
        );
        (r.status == 200).then_some(())
    });

    // Connections past the cap are answered 503 and closed, and the
    // daemon keeps serving the ones it holds.
    let mut conns: Vec<TcpStream> = (0..256).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let extra = TcpStream::connect(&addr).unwrap();
    let (reply, _) = until_closed(extra);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    let first = &mut conns[0];
    write!(
        first,
        "GET /v1/status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (reply, _) = until_closed(conns.swap_remove(0));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:?}");
    let events: Value = daemon.status()["events_total"].clone();
    assert_eq!(events, 1, "only the one complete request was stored");
}

#[test]
fn sigterm_stops_within_five_seconds_whatever_clients_hold() {
    let dir = TestDir::new("");
    let mut daemon = dir.start();
    let addr = daemon.addr.clone();
    daemon.ingest(&json!({"app": "Code"}));
    let mut half_body = TcpStream::connect(&addr).unwrap();
    write!(
        half_body,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"app\""
    )
    .unwrap();
    let mut half_head = TcpStream::connect(&addr).unwrap();
    write!(half_head, "GET /v1/status HTTP/1.1\r\nHost: {addr}\r\n").unwrap();
    let _idle = TcpStream::connect(&addr).unwrap();
    // `terminate` fails the test if the exit takes more than five seconds.
    let status = daemon.terminate();
    assert!(status.success(), "{status}");
    let dump = dir.dump();
    assert_eq!(
        dump.events.len(),
        1,
        "the acknowledged event stays, the half-sent one is not stored"
    );
}
