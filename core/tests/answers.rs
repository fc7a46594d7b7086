//! Summaries as requests and answers (SPEC §6): at most
//! `summarizer_concurrency` requests outstanding, answers committed only
//! while they apply, and a stale answer dropped and the reduction asked
//! again: after a restart, after the session ended or was reduced, and
//! after a newer request superseded it.

mod common;

use common::{MINUTE, T0, at, ev, is_reduced, min};
use daybook_core::{
    Config, Engine, EntryKind, MemStore, Output, RequestId, Stale, Store, SummarizerKind, SummaryAnswer,
    SummaryRequest, Timestamp, builtin_summary, check, check_quiet,
};

type Asked = (RequestId, SummaryRequest);

fn start(store: &MemStore, kind: SummarizerKind, config: Config, prefix: &str, now: Timestamp) -> Engine<MemStore> {
    Engine::start(MemStore::from_shared(store.shared()), kind, config, prefix, now).expect("engine starts")
}

/// Drains the outputs; returns the requests and the rest.
fn drain(engine: &mut Engine<MemStore>) -> (Vec<Asked>, Vec<Output>) {
    let mut asked = Vec::new();
    let mut rest = Vec::new();
    while let Some(o) = engine.poll_output() {
        match o {
            Output::SummaryRequested { id, request } => asked.push((id, request)),
            other => rest.push(other),
        }
    }
    (asked, rest)
}

fn good((id, request): &Asked) -> SummaryAnswer {
    SummaryAnswer {
        id: id.clone(),
        outcome: Ok(builtin_summary(&request.blocks)),
    }
}

fn dropped(outputs: &[Output]) -> Vec<Stale> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::AnswerDropped { why, .. } => Some(*why),
            _ => None,
        })
        .collect()
}

fn assert_sound(store: &MemStore) {
    let dump = store.dump().expect("dump");
    assert_eq!(check(&dump), [], "invariants");
}

/// Three sessions, each ended by the next event's idle gap, in one
/// engine. Returns the engine after the third is open.
fn three_ended(store: &MemStore, config: Config) -> Engine<MemStore> {
    let mut engine = start(store, SummarizerKind::External, config, "r1-", T0);
    for k in 0..4 {
        let t = min(k * 10);
        engine.handle_events(t, &[ev(t, "Code")]).expect("events");
        engine.handle_reductions(t).expect("reductions");
    }
    engine
}

#[test]
fn at_most_summarizer_concurrency_requests_are_outstanding() {
    let store = MemStore::new();
    let mut engine = three_ended(&store, Config::default());
    let (asked, _) = drain(&mut engine);
    assert_eq!(asked.len(), 2, "three finals wanted, two asked: {asked:?}");
    assert_eq!((engine.outstanding(), engine.waiting()), (2, 1));

    // One answer frees one slot: the third session is asked for.
    engine.handle_answers(min(31), &[good(&asked[0])]).expect("answer");
    let (third, _) = drain(&mut engine);
    assert_eq!(third.len(), 1);
    assert_ne!(third[0].1.session_id, asked[0].1.session_id);
    assert_ne!(third[0].1.session_id, asked[1].1.session_id);
    assert_eq!(engine.outstanding(), 2);

    engine
        .handle_answers(min(32), &[good(&asked[1]), good(&third[0])])
        .expect("answers");
    assert_eq!(engine.outstanding(), 0);
    let sessions = store.dump().expect("dump").sessions;
    assert_eq!(sessions.iter().filter(|s| is_reduced(s)).count(), 3, "{sessions:?}");
    assert_sound(&store);
}

#[test]
fn concurrency_one_asks_one_at_a_time() {
    let store = MemStore::new();
    let config = Config {
        summarizer_concurrency: 1,
        ..Config::default()
    };
    let mut engine = three_ended(&store, config);
    let (asked, _) = drain(&mut engine);
    assert_eq!(asked.len(), 1);
}

#[test]
fn an_answer_asked_before_a_restart_is_dropped_and_the_new_engine_asks_again() {
    let store = MemStore::new();
    let mut first = three_ended(&store, Config::default());
    let (old, _) = drain(&mut first);
    drop(first); // killed with two requests outstanding

    let mut second = start(&store, SummarizerKind::External, Config::default(), "r2-", min(40));
    let (asked, _) = drain(&mut second);
    assert_eq!(asked.len(), 2, "the restart asks for the pending sessions again");
    // The old answers carry the same counters as the new requests: only
    // the instance tells them apart.
    assert_eq!(
        old.iter().map(|(id, _)| id.seq).collect::<Vec<_>>(),
        asked.iter().map(|(id, _)| id.seq).collect::<Vec<_>>()
    );
    let before = store.dump().expect("dump");
    second
        .handle_answers(min(41), &old.iter().map(good).collect::<Vec<_>>())
        .expect("old answers");
    let (_, out) = drain(&mut second);
    assert_eq!(dropped(&out), [Stale::Restarted, Stale::Restarted]);
    assert_eq!(store.dump().expect("dump"), before, "nothing of them committed");
    assert_eq!(second.outstanding(), 2, "the new requests still stand");

    second
        .handle_answers(min(42), &asked.iter().map(good).collect::<Vec<_>>())
        .expect("answers");
    assert!(store.dump().expect("dump").entries.len() >= 2);
    assert_sound(&store);
}

#[test]
fn a_flush_answer_that_comes_after_its_session_ended_is_dropped_and_the_final_covers_all() {
    let store = MemStore::new();
    let mut engine = start(&store, SummarizerKind::External, Config::default(), "r1-", T0);
    for s in (0..360).step_by(30) {
        engine.handle_events(at(s), &[ev(at(s), "Code")]).expect("events");
    }
    engine.handle_flush(at(360)).expect("flush");
    let (flush, _) = drain(&mut engine);
    assert_eq!(flush.len(), 1);
    assert_eq!(flush[0].1.kind, EntryKind::Flush);

    // The session ends (idle gap) while the flush is outstanding: the
    // final is asked at once and supersedes it.
    engine.handle_tick(at(360) + 10 * MINUTE).expect("tick");
    let (fin, _) = drain(&mut engine);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].1.kind, EntryKind::Final);
    assert!(
        fin[0].1.blocks.len() > flush[0].1.blocks.len(),
        "the final covers everything"
    );

    engine
        .handle_answers(at(400) + 10 * MINUTE, &[good(&flush[0])])
        .expect("flush answer");
    let (_, out) = drain(&mut engine);
    assert_eq!(dropped(&out), [Stale::Superseded]);
    assert!(store.dump().expect("dump").entries.is_empty());

    engine
        .handle_answers(at(401) + 10 * MINUTE, &[good(&fin[0])])
        .expect("final answer");
    let dump = store.dump().expect("dump");
    assert_eq!(dump.entries.len(), 1);
    assert_eq!(dump.entries[0].kind, EntryKind::Final);
    assert_eq!(check_quiet(&dump), []);
}

#[test]
fn an_answer_for_a_session_reduced_meanwhile_is_dropped() {
    let store = MemStore::new();
    let mut engine = start(&store, SummarizerKind::Builtin, Config::default(), "r1-", T0);
    engine.handle_events(min(0), &[ev(min(0), "Code")]).expect("events");
    engine.handle_events(min(10), &[ev(min(10), "Code")]).expect("events");
    engine.handle_reductions(min(10)).expect("reductions");
    let (asked, _) = drain(&mut engine);
    assert_eq!(asked.len(), 1);

    // The safety net reduces every pending session itself (built-in).
    engine.handle_safety_net(min(11)).expect("safety net");
    let entries = store.dump().expect("dump").entries.len();
    assert!(entries >= 1);

    // A failure would be a `mark_failed` of a reduced session, a success
    // a second entry over covered blocks: both dropped.
    let failure = SummaryAnswer {
        id: asked[0].0.clone(),
        outcome: Err("model down".into()),
    };
    engine.handle_answers(min(12), &[failure]).expect("stale failure");
    let (_, out) = drain(&mut engine);
    assert_eq!(dropped(&out), [Stale::SessionChanged]);
    assert_eq!(store.dump().expect("dump").entries.len(), entries);
    assert_eq!(check_quiet(&store.dump().expect("dump")), []);
}

#[test]
fn an_answer_handed_in_twice_commits_once() {
    let store = MemStore::new();
    let mut engine = three_ended(&store, Config::default());
    let (asked, _) = drain(&mut engine);
    let answer = good(&asked[0]);
    engine
        .handle_answers(min(31), &[answer.clone(), answer])
        .expect("answers");
    let (_, out) = drain(&mut engine);
    assert_eq!(dropped(&out), [Stale::Unknown]);
    assert_sound(&store);
}

#[test]
fn a_failed_answer_takes_the_retry_path_and_the_last_attempt_is_heuristic() {
    let store = MemStore::new();
    let config = Config {
        max_reduce_attempts: 2,
        ..Config::default()
    };
    let mut engine = start(&store, SummarizerKind::External, config, "r1-", T0);
    engine.handle_events(min(0), &[ev(min(0), "Code")]).expect("events");
    engine.handle_events(min(10), &[ev(min(10), "Code")]).expect("events");
    engine.handle_reductions(min(10)).expect("reductions");
    let fail = |asked: &Asked| SummaryAnswer {
        id: asked.0.clone(),
        outcome: Err("model down".into()),
    };
    let (asked, _) = drain(&mut engine);
    engine.handle_answers(min(11), &[fail(&asked[0])]).expect("failure");
    let (_, out) = drain(&mut engine);
    let Some(Output::ReductionFailed { next_retry_at, .. }) =
        out.iter().find(|o| matches!(o, Output::ReductionFailed { .. }))
    else {
        panic!("no retry scheduled: {out:?}");
    };
    assert_eq!(*next_retry_at, min(11) + 5 * MINUTE, "backoff measured from the answer");

    engine.handle_minute(min(17)).expect("minute");
    let (again, _) = drain(&mut engine);
    assert_eq!(again.len(), 1, "the retry is asked when due");
    engine.handle_answers(min(18), &[fail(&again[0])]).expect("failure");
    let dump = store.dump().expect("dump");
    assert_eq!(dump.entries.len(), 1);
    assert_eq!(dump.entries[0].kind, EntryKind::Heuristic);
    assert!(is_reduced(&dump.sessions[0]), "{:?}", dump.sessions);
    assert_eq!(dump.entries[0].session_id, dump.sessions[0].id);
    assert_eq!(check(&dump), []);
}
