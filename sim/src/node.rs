//! The node: what the daemon does, over a [`FaultyStore`], on madsim's
//! clock. It starts the engine (recovery first), then serves the capture
//! client's deliveries and the daemon's timers — tick every 30 s, minute,
//! flush every 5 min, the 23:55 local safety net — until it is killed.
//!
//! Summaries take simulated time: the engine's requests go to the world's
//! simulated summarizer, and each answer comes back as an input when its
//! delay is over (seconds to beyond the flush interval), answers ready
//! together in one input. A kill loses them; a graceful stop waits
//! `shutdown_grace` for them.
//!
//! The capture client keeps a queue: what it captured while the daemon was
//! down is, by the seed's dice, replayed after its live captures, in
//! chunks, seconds to minutes after the start (late events, days late
//! after a long off); a batch refused as too old is sent again without
//! the events the refusal names.
//!
//! When several inputs are due at once (after a laptop sleep, or a restart)
//! the seed's dice order them, so an event after a long sleep sometimes
//! arrives before the tick that would have cut the old session.

use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use daybook_core::{
    EndReason, Engine, Error, Event, Ingested, Input, Output, Phase, Store, SummarizerKind, Timestamp, check,
};

use crate::audit;
use crate::coverage::Mark;
use crate::failure::Failure;
use crate::faults::{self, FaultyStore, Stage};
use crate::stores::StoreFactory;
use crate::workload::Action;
use crate::world::{Call, World};

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const DAY: i64 = 86_400_000;

/// How a serving stint ended without the node dying.
enum Stop {
    /// A graceful shutdown: start again.
    Shutdown,
    /// The run failed; stay down.
    Failed,
}

/// The node's init task: serve, and after a graceful shutdown start again.
pub(crate) async fn run<F: StoreFactory>(world: Arc<World<F>>) {
    loop {
        match serve(&world).await {
            Stop::Shutdown => madsim::time::sleep(Duration::from_secs(2)).await,
            Stop::Failed => return,
        }
    }
}

/// The daemon's timers, as monotonic deadlines.
struct Timers {
    tick: u64,
    minute: u64,
    flush: u64,
    /// The next safety net on the wall clock, and the offset it was
    /// computed at: like a daemon's, it follows the wall clock (a clock set
    /// back brings the same 23:55 round again) and a DST change moves it.
    net: (Timestamp, i32),
}

/// What is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    Step,
    Tick,
    Minute,
    Flush,
    SafetyNet,
    Answers,
    Replay,
}

async fn serve<F: StoreFactory>(world: &World<F>) -> Stop {
    if world.failed() {
        return Stop::Failed;
    }
    // A restart that falls in a laptop sleep (madsim restarts a crashed
    // node after a few seconds, paused or not) waits for the wake.
    if let Some(wake) = world.workload.asleep_until(world.mono()) {
        madsim::time::sleep(Duration::from_millis(wake - world.mono())).await;
    }
    let Some(mut engine) = start(world) else {
        return Stop::Failed;
    };
    let mono = world.mono();
    world.queue_backlog(mono);
    let config = world.config.clone();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut timers = Timers {
        tick: mono + ms(config.tick),
        minute: mono + MINUTE,
        flush: mono + ms(config.flush),
        net: next_safety_net(world, mono),
    };
    loop {
        let mono = world.mono();
        let step_at = {
            let log = world.log();
            world.workload.steps.get(log.cursor).map(|s| s.at)
        };
        if world.workload.offset(mono).0 != timers.net.1 {
            timers.net = next_safety_net(world, mono);
        }
        let wall = world.workload.wall(mono);
        let net = mono + u64::try_from(timers.net.0.millis_since(wall)).unwrap_or(0);
        let answers_at = world.next_answer();
        let replay_at = world.next_replay();
        let next = [
            Some(timers.tick),
            Some(timers.minute),
            Some(timers.flush),
            Some(net),
            step_at,
            answers_at,
            replay_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(u64::MAX);
        if next > mono {
            madsim::time::sleep(Duration::from_millis(next - mono)).await;
            continue;
        }
        let mut due = Vec::new();
        if step_at.is_some_and(|t| t <= mono) {
            due.push(Due::Step);
        }
        for (deadline, d) in [
            (timers.tick, Due::Tick),
            (timers.minute, Due::Minute),
            (timers.flush, Due::Flush),
        ] {
            if deadline <= mono {
                due.push(d);
            }
        }
        if net <= mono {
            due.push(Due::SafetyNet);
        }
        if answers_at.is_some_and(|t| t <= mono) {
            due.push(Due::Answers);
        }
        if replay_at.is_some_and(|t| t <= mono) {
            due.push(Due::Replay);
        }
        let pick = {
            let mut log = world.log();
            *log.order.pick(&due)
        };
        world.set_summarizer(mono);
        let now = world.workload.wall(mono);
        let ok = match pick {
            Due::Tick => {
                timers.tick = mono + ms(config.tick);
                call(world, &mut engine, mono, now, Input::Tick)
            }
            Due::Minute => {
                timers.minute = mono + MINUTE;
                call(world, &mut engine, mono, now, Input::Minute)
            }
            Due::Flush => {
                timers.flush = mono + ms(config.flush);
                call(world, &mut engine, mono, now, Input::Flush)
            }
            Due::SafetyNet => {
                timers.net = next_safety_net(world, mono);
                call(world, &mut engine, mono, now, Input::SafetyNet)
            }
            Due::Answers => {
                let answers = world.answers_due(mono);
                call(world, &mut engine, mono, now, Input::Answers(answers))
            }
            Due::Replay => {
                // Like a step: no resend if the daemon dies before replying.
                let events = world.replay_chunk(mono);
                if !ingest(world, &mut engine, mono, now, events) {
                    return Stop::Failed;
                }
                madsim::time::sleep(Duration::from_millis(1)).await;
                let mono = world.mono();
                reductions(world, &mut engine, mono)
            }
            Due::Step => {
                // Delivered: if the daemon dies before replying, the client
                // does not resend (an unacknowledged event may or may not
                // have been stored; an acknowledged one must be).
                let step = {
                    let mut log = world.log();
                    log.cursor += 1;
                    world.workload.steps[log.cursor - 1].clone()
                };
                match step.action {
                    Action::Events(events) => {
                        if !ingest(world, &mut engine, mono, now, events) {
                            return Stop::Failed;
                        }
                        // The reply is on the wire: a kill here leaves the
                        // batch's final reductions to the next start.
                        madsim::time::sleep(Duration::from_millis(1)).await;
                        let mono = world.mono();
                        reductions(world, &mut engine, mono)
                    }
                    Action::Pause => call(world, &mut engine, mono, now, Input::Pause),
                    Action::Resume => call(world, &mut engine, mono, now, Input::Resume),
                    Action::Shutdown => {
                        world.log().coverage.hit(crate::coverage::Mark::Shutdown);
                        let mut ok = call(world, &mut engine, mono, now, Input::Shutdown);
                        // The grace period: answers ready within it are
                        // taken; the rest are abandoned with the engine.
                        let grace = u64::try_from(config.shutdown_grace.as_millis()).unwrap_or(0);
                        let answers = world.answers_due(mono + grace);
                        if ok && !answers.is_empty() {
                            ok = call(world, &mut engine, mono, now, Input::Answers(answers));
                        }
                        world.log().graceful = true;
                        drop(engine);
                        return if ok { Stop::Shutdown } else { Stop::Failed };
                    }
                }
            }
        };
        if !ok {
            return Stop::Failed;
        }
    }
}

type NodeEngine<F> = Engine<FaultyStore<<F as StoreFactory>::Store>>;

/// Starts the engine (startup recovery and reduce-pending, under fault
/// injection), then checks the store: the oracle, no orphan left, every
/// acknowledged event still there once, the cut rules, and a recovery plan
/// that has nothing left to end.
fn start<F: StoreFactory>(world: &World<F>) -> Option<NodeEngine<F>> {
    let mono = world.mono();
    let now = world.workload.wall(mono);
    let run = {
        let mut log = world.log();
        log.starts += 1;
        log.high = None;
        log.starts
    };
    world.note(&("start", run, mono, now.0));
    let when = format!("start {run} at +{mono}ms");
    let store = match world.factory.open() {
        Ok(s) => s,
        Err(source) => {
            world.fail(Failure::Engine { when, source });
            return None;
        }
    };
    world.set_summarizer(mono);
    faults::lock(&world.faults).set_stage(Stage::Starting);
    let kind = if world.workload.swarm.builtin_summarizer {
        SummarizerKind::Builtin
    } else {
        SummarizerKind::External
    };
    let started = Engine::start(
        FaultyStore::new(store, Arc::clone(&world.faults)),
        kind,
        world.config.clone(),
        format!("r{run}-"),
        now,
    );
    faults::lock(&world.faults).set_stage(Stage::Running);
    let mut engine = match started {
        Ok(e) => e,
        Err(source) => {
            world.fail(Failure::Engine { when, source });
            return None;
        }
    };
    let outputs = drain(&mut engine);
    world.observe(mono, now, Call::Start, true, &outputs);
    if let Err(failure) = audit_after_start(world, engine.store().inner(), &when) {
        world.fail(failure);
        return None;
    }
    let late = world.answers_of_earlier_runs();
    if !late.is_empty() && !call(world, &mut engine, mono, now, Input::Answers(late)) {
        return None;
    }
    Some(engine)
}

/// The checks that hold right after every start.
fn audit_after_start<F: StoreFactory>(world: &World<F>, store: &F::Store, when: &str) -> Result<(), Failure> {
    let engine_failure = |source| Failure::Engine {
        when: when.to_owned(),
        source,
    };
    let dump = store.dump().map_err(engine_failure)?;
    let violations = check(&dump);
    if !violations.is_empty() {
        return Err(Failure::Invariants {
            when: format!("after {when}"),
            violations,
        });
    }
    let (acked, refused) = {
        let log = world.log();
        (log.acked.clone(), log.refused.clone())
    };
    let mut findings = audit::no_orphans(&dump);
    findings.extend(audit::events_once(&dump, &world.sent, &acked));
    findings.extend(audit::refused_absent(&dump, &refused));
    findings.extend(audit::cut_rules(&dump, &world.config));
    findings.extend(audit::watchers_away(&dump, &world.workload.watched.away));
    let index = world.factory.index_problems(store).map_err(engine_failure)?;
    findings.extend(index.into_iter().map(audit::Finding::SearchIndex));
    if !findings.is_empty() {
        return Err(Failure::Audit {
            when: format!("after {when}"),
            findings,
        });
    }
    Ok(())
}

fn drain<S: Store>(engine: &mut Engine<S>) -> Vec<Output> {
    std::iter::from_fn(|| engine.poll_output()).collect()
}

/// One timer or control input; false if the run failed.
fn call<F: StoreFactory>(
    world: &World<F>,
    engine: &mut NodeEngine<F>,
    mono: u64,
    now: Timestamp,
    input: Input,
) -> bool {
    let answers = matches!(input, Input::Answers(_));
    if answers {
        faults::lock(&world.faults).set_stage(Stage::Answering);
    }
    let result = engine.handle_input(now, &input);
    if answers {
        faults::lock(&world.faults).set_stage(Stage::Running);
    }
    let outputs = drain(engine);
    world.observe(mono, now, Call::Input(&input), result.is_ok(), &outputs);
    match result {
        Ok(()) => true,
        Err(source) => {
            world.fail(Failure::Engine {
                when: format!("{input:?} at +{mono}ms"),
                source,
            });
            false
        }
    }
}

/// One group commit; records the acknowledgement. False if the run failed.
///
/// A batch holding events older than `max_lateness` is refused whole
/// (SPEC §2); the daemon's reply names them, so the client drops them and
/// sends the rest again at once. Any other refusal fails the run: the
/// workload only sends what the engine must take.
fn ingest<F: StoreFactory>(
    world: &World<F>,
    engine: &mut NodeEngine<F>,
    mono: u64,
    now: Timestamp,
    events: Vec<Event>,
) -> bool {
    let result = engine.handle_events(now, &events);
    let outputs = drain(engine);
    let input = Input::Events(events);
    world.observe(mono, now, Call::Input(&input), result.is_ok(), &outputs);
    let Input::Events(events) = input else {
        return false;
    };
    match result {
        Ok(ingested) => {
            mark_attribution(world, engine, now, &events, &ingested, &outputs);
            let mut log = world.log();
            if ingested.accepted > 0 {
                log.acked.extend(events.into_iter().filter_map(|e| e.source));
            }
            if ingested.dropped_paused > 0 {
                log.coverage.hit(Mark::DroppedWhilePaused);
            }
            true
        }
        Err(source) => {
            let max = world.config.max_lateness;
            let (old, rest): (Vec<Event>, Vec<Event>) =
                events.into_iter().partition(|e| e.validate_lateness(now, max).is_err());
            if old.is_empty() || !matches!(source, Error::InvalidEvent { field: "at", .. }) {
                world.fail(Failure::Engine {
                    when: format!("events at +{mono}ms"),
                    source,
                });
                return false;
            }
            {
                let mut log = world.log();
                log.coverage.hit(Mark::RefusedTooOld);
                log.refused.extend(old.into_iter().filter_map(|e| e.source));
            }
            rest.is_empty() || ingest(world, engine, mono, now, rest)
        }
    }
}

/// The marks of where a committed batch's events went: in order but
/// behind an earlier one (attributed at the watermark), or late, into the
/// open session, an ended or reduced one, or a gap (a late session this
/// batch ended), and how late.
fn mark_attribution<F: StoreFactory>(
    world: &World<F>,
    engine: &NodeEngine<F>,
    now: Timestamp,
    events: &[Event],
    ingested: &Ingested,
    outputs: &[Output],
) {
    let mut marks = Vec::new();
    {
        let mut log = world.log();
        for (i, e) in events.iter().enumerate() {
            if ingested.late.binary_search(&i).is_ok() {
                continue;
            }
            if log.high.is_some_and(|high| e.at < high) {
                marks.push(Mark::ReorderedWithinTolerance);
            }
            log.high = log.high.max(Some(e.at));
        }
    }
    let gap_sessions: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::SessionEnded {
                id,
                reason: EndReason::Late,
                ..
            } => Some(id),
            _ => None,
        })
        .collect();
    for &i in &ingested.late {
        let at = events[i].at;
        if now.millis_since(at) >= DAY {
            marks.push(Mark::LateByDays);
        }
        if engine.open_session().is_some_and(|o| o.start <= at && at <= o.last) {
            marks.push(Mark::LateIntoOpen);
            continue;
        }
        let Ok(around) = engine.store().inner().around(at) else {
            continue;
        };
        match around.holder {
            Some(h) if gap_sessions.contains(&&h.id) => marks.push(Mark::LateIntoGap),
            Some(h) => match h.phase {
                Phase::Reduced { .. } => marks.push(Mark::LateIntoReduced),
                Phase::Ended { .. } | Phase::Failed { .. } => marks.push(Mark::LateIntoEnded),
                Phase::Active => marks.push(Mark::LateIntoOpen),
            },
            None => {}
        }
    }
    let mut log = world.log();
    for m in marks {
        log.coverage.hit(m);
    }
}

/// The final reductions the batch's cuts queued.
fn reductions<F: StoreFactory>(world: &World<F>, engine: &mut NodeEngine<F>, mono: u64) -> bool {
    let now = world.workload.wall(mono);
    world.set_summarizer(mono);
    let result = engine.handle_reductions(now);
    let outputs = drain(engine);
    world.observe(mono, now, Call::Reductions, result.is_ok(), &outputs);
    match result {
        Ok(()) => true,
        Err(source) => {
            world.fail(Failure::Engine {
                when: format!("reductions at +{mono}ms"),
                source,
            });
            false
        }
    }
}

/// The wall-clock instant of the first 23:55 local strictly after `mono`'s
/// wall time, at the offset in force then.
fn next_safety_net<F: StoreFactory>(world: &World<F>, mono: u64) -> (Timestamp, i32) {
    let wall = world.workload.wall(mono).0;
    let offset = world.workload.offset(mono).0;
    let local = wall + i64::from(offset) * 1000;
    let net = i64::from(world.config.daily_safety_net.num_seconds_from_midnight()) * 1000;
    let mut target = local - local.rem_euclid(DAY) + net;
    if target <= local {
        target += DAY;
    }
    (Timestamp(wall + target - local), offset)
}
