//! Shared rig for the engine's behaviour tests: an engine over a
//! `MemStore` whose committed state survives a simulated crash, a
//! summarizer that fails on command, and a clock the test moves by hand.

#![allow(dead_code, unreachable_pub)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use daybook_core::{
    BuiltinSummarizer, Config, Dump, Engine, Error, Event, MemStore, Output, Phase, Session, Store, Summarizer,
    SummarizerKind, Summary, SummaryAnswer, SummaryRequest, Timestamp, check,
};

/// 2027-01-15T08:00:00Z, on a minute boundary.
pub const T0: Timestamp = Timestamp(1_800_000_000_000);

/// `T0` plus `s` seconds.
pub fn at(s: i64) -> Timestamp {
    Timestamp(T0.0 + s * 1000)
}

/// `T0` plus `m` minutes.
pub fn min(m: i64) -> Timestamp {
    at(m * 60)
}

pub fn ev(t: Timestamp, app: &str) -> Event {
    Event {
        title: Some(format!("{app} window")),
        ..Event::new(t, app)
    }
}

/// Built-in summaries, except for the next `fail_next` calls, which fail.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    pub fail_next: Rc<Cell<u32>>,
    pub calls: Rc<Cell<u32>>,
}

impl Summarizer for Scripted {
    fn summarize(&mut self, request: &SummaryRequest) -> Result<Summary, Error> {
        self.calls.set(self.calls.get() + 1);
        if self.fail_next.get() > 0 {
            self.fail_next.set(self.fail_next.get() - 1);
            return Err(Error::Summarizer("scripted failure".into()));
        }
        BuiltinSummarizer.summarize(request)
    }
}

/// The rig's shell answers every summary request at once, with the
/// scripted summarizer, at the `now` of the call that asked for it. (The
/// simulator delays, reorders and loses answers; these tests pin the
/// rules one reduction at a time.)
pub struct Rig {
    pub store: MemStore,
    pub summarizer: Scripted,
    pub config: Config,
    pub kind: SummarizerKind,
    pub now: Timestamp,
    pub engine: Option<Engine<MemStore>>,
    pub runs: u32,
    pub outputs: Vec<Output>,
}

impl Rig {
    pub fn new(config: Config) -> Self {
        Self::on(MemStore::new(), config)
    }

    /// A rig with the default config, started at `at(0)`.
    pub fn started() -> Self {
        let mut rig = Self::new(Config::default());
        rig.start(at(0));
        rig
    }

    /// A rig over an existing store (not started yet).
    pub fn on(store: MemStore, config: Config) -> Self {
        Self {
            store,
            summarizer: Scripted::default(),
            config,
            kind: SummarizerKind::External,
            now: T0,
            engine: None,
            runs: 0,
            outputs: Vec::new(),
        }
    }

    pub fn start(&mut self, now: Timestamp) {
        self.runs += 1;
        self.now = now;
        let engine = Engine::start(
            MemStore::from_shared(self.store.shared()),
            self.kind,
            self.config.clone(),
            format!("r{}-", self.runs),
            now,
        )
        .expect("engine starts");
        self.engine = Some(engine);
        self.drain();
    }

    /// A kill -9: the engine and everything in flight are gone; the
    /// store's committed state stays.
    pub fn crash(&mut self) {
        self.engine = None;
    }

    pub fn engine(&mut self) -> &mut Engine<MemStore> {
        self.engine.as_mut().expect("engine started")
    }

    /// Drains the outputs, answering each summary request as it comes.
    fn drain(&mut self) {
        let now = self.now;
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        while let Some(o) = engine.poll_output() {
            if let Output::SummaryRequested { id, request } = &o {
                let outcome = self.summarizer.summarize(request).map_err(|e| e.to_string());
                let answer = SummaryAnswer {
                    id: id.clone(),
                    outcome,
                };
                engine.handle_answers(now, &[answer]).expect("answer taken");
            }
            self.outputs.push(o);
        }
    }

    pub fn send(&mut self, now: Timestamp, events: &[Event]) {
        self.now = now;
        self.engine().handle_events(now, events).expect("events accepted");
        self.engine().handle_reductions(now).expect("reductions run");
        self.drain();
    }

    /// Sends one event per `(seconds, app)`, each at its own `now`.
    pub fn script(&mut self, events: &[(i64, &str)]) {
        for &(s, app) in events {
            self.send(at(s), &[ev(at(s), app)]);
        }
    }

    pub fn tick(&mut self, now: Timestamp) {
        self.now = now;
        self.engine().handle_tick(now).expect("tick");
        self.drain();
    }

    pub fn flush(&mut self, now: Timestamp) {
        self.now = now;
        self.engine().handle_flush(now).expect("flush");
        self.drain();
    }

    pub fn minute(&mut self, now: Timestamp) {
        self.now = now;
        self.engine().handle_minute(now).expect("minute");
        self.drain();
    }

    pub fn safety_net(&mut self, now: Timestamp) {
        self.now = now;
        self.engine().handle_safety_net(now).expect("safety net");
        self.drain();
    }

    pub fn shutdown(&mut self, now: Timestamp) {
        self.now = now;
        self.engine().handle_shutdown(now).expect("shutdown");
        self.drain();
    }

    pub fn dump(&self) -> Dump {
        self.store.dump().expect("dump")
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.dump().sessions
    }

    /// Asserts the always-true invariants and returns the dump.
    pub fn checked(&self) -> Dump {
        let dump = self.dump();
        let v = check(&dump);
        assert!(v.is_empty(), "invariants broken: {v:#?}");
        dump
    }
}

/// `(start, end, status, reason)` of each session, for compact asserts.
pub fn spans(sessions: &[Session]) -> Vec<(Timestamp, Option<Timestamp>, &'static str, Option<&'static str>)> {
    sessions
        .iter()
        .map(|s| {
            (
                s.start,
                s.phase.end(),
                s.phase.status(),
                s.phase.reason().map(|r| r.as_str()),
            )
        })
        .collect()
}

pub fn is_reduced(s: &Session) -> bool {
    matches!(s.phase, Phase::Reduced { .. })
}

pub const MINUTE: Duration = Duration::from_secs(60);

/// One capture: seconds after the trace's start, app, window title, URL.
pub type Capture = (i64, &'static str, &'static str, Option<&'static str>);

/// The newcomer's morning from issue 15, event by event: 76 events over
/// 100 minutes of an editor, a browser, chat and a 12-minute call, as a
/// window watcher reports them (an event when the focus changes and about
/// one a minute while it stays). With the default settings it makes four
/// sessions and two gaps:
///
/// - 00:00–26:00 the editor alone (an event every 45 s), 26:00 the docs in
///   the browser, 28:10 chat, 30:00–42:00 the call (an event a minute):
///   two switches, then the call held for more than three minutes, so a
///   soft cut ends this session at its last event, 33:00, and the call
///   goes on in a second session from 34:00 until an idle gap ends it;
/// - 55:00–72:30 the editor again, a password from 1Password at 70:00
///   (its title repeats its name);
/// - 88:00–100:00 chat and the docs, switching every 90 s.
pub fn newcomer_morning() -> Vec<Capture> {
    const MAIN: (&str, &str, Option<&str>) = ("Code", "main.rs — daybook — Code", None);
    const ENGINE: (&str, &str, Option<&str>) = ("Code", "engine.rs — daybook — Code", None);
    const DOCS: (&str, &str, Option<&str>) = ("Firefox", "tokio - Rust", Some("https://docs.rs/tokio/"));
    const CHAT: (&str, &str, Option<&str>) = ("Slack", "general — Slack", None);
    const CALL: (&str, &str, Option<&str>) = ("Zoom", "Zoom Meeting", None);
    const VAULT: (&str, &str, Option<&str>) = ("1Password", "1Password — Vault", None);
    let mut out: Vec<Capture> = Vec::new();
    let mut push = |s: i64, (app, title, url): (&'static str, &'static str, Option<&'static str>)| {
        out.push((s, app, title, url));
    };
    for k in 0..35 {
        push(k * 45, MAIN);
    }
    for s in [1560, 1610, 1660] {
        push(s, DOCS);
    }
    for s in [1690, 1740, 1780] {
        push(s, CHAT);
    }
    for m in 30..=42 {
        push(m * 60, CALL);
    }
    for k in 0..10 {
        push(55 * 60 + k * 90, ENGINE);
    }
    push(70 * 60, VAULT);
    push(71 * 60, ENGINE);
    push(72 * 60 + 30, ENGINE);
    for k in 0..9 {
        push(88 * 60 + k * 90, if k % 2 == 0 { CHAT } else { DOCS });
    }
    out
}

/// The daemon's timers around a list of events: every `tick_seconds`
/// (30 s) a tick, on each minute the block builder, every
/// `flush_minutes` (5) a flush, all counted from the start, and each
/// event sent at its own time (before a timer due at the same instant).
pub struct Timers {
    start: Timestamp,
    next_timer: Timestamp,
    events: Vec<Event>,
    sent: usize,
}

impl Timers {
    pub fn new(start: Timestamp, mut events: Vec<Event>) -> Self {
        events.sort_by_key(|e| e.at);
        Self {
            start,
            next_timer: start,
            events,
            sent: 0,
        }
    }

    /// Runs every event and timer due at or before `to`, in time order.
    pub fn run_until(&mut self, rig: &mut Rig, to: Timestamp) {
        loop {
            if let Some(e) = self.events.get(self.sent)
                && e.at <= to
                && e.at <= self.next_timer
            {
                let e = e.clone();
                rig.send(e.at, &[e]);
                self.sent += 1;
                continue;
            }
            let t = self.next_timer;
            if t > to {
                return;
            }
            rig.tick(t);
            let since = t.millis_since(self.start);
            if since % 60_000 == 0 {
                rig.minute(t);
            }
            if since > 0 && since % 300_000 == 0 {
                rig.flush(t);
            }
            self.next_timer = Timestamp(t.0 + 30_000);
        }
    }
}
