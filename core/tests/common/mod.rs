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
