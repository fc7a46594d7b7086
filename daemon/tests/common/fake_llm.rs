//! A fake OpenAI-compatible chat-completions endpoint on 127.0.0.1 (never
//! any other address): a std listener on a thread that reads each request,
//! keeps it, and lets the test decide what the connection gets back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};

/// One request as the endpoint read it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The request line and headers.
    pub head: String,
    /// The body.
    pub body: String,
}

impl Seen {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<String> {
        super::header(&self.head, name)
    }
}

/// The endpoint; its thread serves until the test process ends.
pub struct FakeLlm {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeLlm {
    /// Serves every connection: reads its request, keeps it, then calls
    /// `answer` with the stream (which closes when `answer` returns).
    pub fn start(answer: impl Fn(&mut TcpStream) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if let Some(request) = read_request(&stream) {
                    log.lock().expect("lock").push(request);
                    answer(&mut stream);
                }
            }
        });
        Self { base_url, seen }
    }

    /// Answers every request with `status` and `body`.
    pub fn replying(status: u16, body: String) -> Self {
        Self::start(move |stream| {
            let _ = stream.write_all(response(status, &body).as_bytes());
        })
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A whole HTTP/1.1 response that closes the connection.
pub fn response(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A chat completion whose one message is `content`.
pub fn completion(content: &str) -> String {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
        .to_string()
}

/// A chat completion whose message is the JSON `answer`.
pub fn completion_json(answer: &Value) -> String {
    completion(&answer.to_string())
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len: usize = super::header(&head, "content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        head,
        body: String::from_utf8(body).ok()?,
    })
}
