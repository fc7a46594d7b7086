//! The supervisor: one madsim runtime per seed. It imports the older
//! tool's history, builds the daemon's node (restarted by madsim whenever
//! an injected crash panics it), then plays the chaos schedule — laptop
//! sleeps (the node paused for hours) and kills at random instants — and
//! at the end brings the store to quiet and checks SPEC §8 in full.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use daybook_core::{Dump, Engine, Output, Store, SummarizerKind, check_quiet};

use crate::audit;
use crate::coverage::Mark;
use crate::failure::{Failure, SeedReport};
use crate::faults::{self, CRASH, Kill, kill_schedule};
use crate::node;
use crate::stores::StoreFactory;
use crate::workload::{HOSTILE_TAG, Workload};
use crate::world::World;

/// Runs one seed over the stores `factory` opens.
pub(crate) fn run_seed<F: StoreFactory>(factory: F, seed: u64, verbose: bool) -> Result<SeedReport, Failure> {
    let workload = Workload::generate(seed);
    let world = Arc::new(World::new(factory, workload, verbose));
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let outcome = catch_unwind(AssertUnwindSafe(|| rt.block_on(supervise(Arc::clone(&world)))));
    drop(rt);
    match outcome {
        Ok(result) => result,
        Err(payload) => Err(Failure::Panic(crate::panics::message(payload.as_ref()))),
    }
}

/// What the supervisor does at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chaos {
    /// The laptop sleeps until `until`.
    Sleep { until: u64 },
    /// The daemon is killed.
    Kill(Kill),
    /// The daemon dies and stays off until `until` (across a sleep of
    /// days); nothing else happens to it meanwhile.
    Off { until: u64 },
}

async fn supervise<F: StoreFactory>(world: Arc<World<F>>) -> Result<SeedReport, Failure> {
    let handle = madsim::runtime::Handle::current();
    if !world.workload.import.sessions.is_empty() {
        let import = &world.workload.import;
        let mut store = world.factory.open().map_err(|source| Failure::Engine {
            when: "import".into(),
            source,
        })?;
        store
            .import(&import.sessions, &import.loose)
            .map_err(|source| Failure::Engine {
                when: "import".into(),
                source,
            })?;
    }
    let for_node = Arc::clone(&world);
    let node = handle
        .create_node()
        .name("daybookd")
        .init(move || node::run(Arc::clone(&for_node)))
        .restart_on_panic_matching(CRASH)
        .build();
    let id = node.id();

    let mut chaos: Vec<(u64, Chaos)> = world
        .workload
        .sleeps
        .iter()
        .map(|(from, until)| (*from, Chaos::Sleep { until: *until }))
        .collect();
    chaos.extend(
        kill_schedule(&world.workload)
            .into_iter()
            .map(|k| (k.at, Chaos::Kill(k))),
    );
    chaos.extend(
        world
            .workload
            .off
            .iter()
            .map(|(from, until)| (*from, Chaos::Off { until: *until })),
    );
    chaos.sort_by_key(|(at, _)| *at);
    let mut off_until = 0;
    for (at, what) in chaos {
        if at < off_until {
            // The daemon is off: no kill, and the laptop's sleep passes
            // with it down.
            continue;
        }
        sleep_until(&world, at).await;
        if world.failed() {
            break;
        }
        match what {
            Chaos::Off { until } => {
                world.note(&("off", world.mono(), until));
                world.log().kills += 1;
                handle.kill(id);
                sleep_until(&world, until).await;
                off_until = until;
                handle.restart(id);
            }
            Chaos::Sleep { until } => {
                world.note(&("sleep", world.mono(), until));
                handle.pause(id);
                sleep_until(&world, until).await;
                handle.resume(id);
            }
            Chaos::Kill(kill) => {
                world.note(&("kill", world.mono(), kill.down));
                {
                    let mut log = world.log();
                    log.kills += 1;
                    log.coverage.hit(Mark::Kill);
                }
                handle.kill(id);
                madsim::time::sleep(Duration::from_millis(kill.down)).await;
                handle.restart(id);
            }
        }
    }
    sleep_until(&world, world.workload.end).await;
    handle.kill(id);
    if let Some(failure) = world.log().failure.take() {
        return Err(failure);
    }
    let quiet = quiet(&world)?;
    Ok(report(&world, &quiet))
}

async fn sleep_until<F: StoreFactory>(world: &World<F>, at: u64) {
    let mono = world.mono();
    if at > mono {
        madsim::time::sleep(Duration::from_millis(at - mono)).await;
    }
}

/// The end of the run: no more faults, a healthy summarizer, and a restart
/// (recovery, reduce-pending with every failed session retried). Then SPEC
/// §8 in full — the oracle's quiet invariants, every acknowledged event
/// stored exactly once — and a second restart that must change nothing.
fn quiet<F: StoreFactory>(world: &World<F>) -> Result<Dump, Failure> {
    faults::lock(&world.faults).set_enabled(false);
    let mono = world.mono();
    let now = world.workload.wall(mono);
    let restart = |prefix: &str| -> Result<(Dump, Vec<Output>), Failure> {
        let when = format!("quiet restart {prefix}");
        let wrap = |source| Failure::Engine {
            when: when.clone(),
            source,
        };
        let store = world.factory.open().map_err(wrap)?;
        let mut engine =
            Engine::start(store, SummarizerKind::Builtin, world.config.clone(), prefix, now).map_err(wrap)?;
        let outputs: Vec<Output> = std::iter::from_fn(|| engine.poll_output()).collect();
        let dump = engine.store().dump().map_err(wrap)?;
        Ok((dump, outputs))
    };
    let (first, outputs) = restart("quiet1-")?;
    world.note(&outputs);
    let violations = check_quiet(&first);
    if !violations.is_empty() {
        return Err(Failure::Invariants {
            when: "once quiet".into(),
            violations,
        });
    }
    let (acked, refused) = {
        let log = world.log();
        (log.acked.clone(), log.refused.clone())
    };
    let mut findings = audit::events_once(&first, &world.sent, &acked);
    findings.extend(audit::refused_absent(&first, &refused));
    findings.extend(audit::cut_rules(&first, &world.config));
    findings.extend(audit::watchers_away(&first, &world.workload.watched.away));
    if !findings.is_empty() {
        return Err(Failure::Audit {
            when: "once quiet".into(),
            findings,
        });
    }
    let (second, _) = restart("quiet2-")?;
    if second != first {
        return Err(Failure::NotIdempotent(first_difference(&first, &second)));
    }
    world.note(&first);
    Ok(first)
}

/// Names the first part of two dumps that differs.
fn first_difference(a: &Dump, b: &Dump) -> String {
    let parts = [
        ("sessions", format!("{:?}", a.sessions), format!("{:?}", b.sessions)),
        ("events", format!("{:?}", a.events), format!("{:?}", b.events)),
        ("blocks", format!("{:?}", a.blocks), format!("{:?}", b.blocks)),
        (
            "loose blocks",
            format!("{:?}", a.loose_blocks),
            format!("{:?}", b.loose_blocks),
        ),
        ("entries", format!("{:?}", a.entries), format!("{:?}", b.entries)),
    ];
    parts.into_iter().find(|(_, x, y)| x != y).map_or_else(
        || "day files differ".to_owned(),
        |(name, ..)| format!("the {name} differ"),
    )
}

fn report<F: StoreFactory>(world: &World<F>, quiet: &Dump) -> SeedReport {
    let mut log = world.log();
    let plan = faults::lock(&world.faults);
    log.coverage.merge(&plan.coverage);
    // A session whose events carry two offsets lived through a DST change.
    let mut offsets: std::collections::BTreeMap<&daybook_core::SessionId, daybook_core::UtcOffset> =
        std::collections::BTreeMap::new();
    let mut crossings = std::collections::BTreeSet::new();
    for e in &quiet.events {
        let first = *offsets.entry(&e.session_id).or_insert(e.event.offset);
        if first != e.event.offset {
            crossings.insert(&e.session_id);
        }
    }
    for _ in &crossings {
        log.coverage.hit(Mark::DstCrossing);
    }
    for _ in quiet.entries.iter().filter(|e| e.body.contains(HOSTILE_TAG)) {
        log.coverage.hit(Mark::HostileText);
    }
    let watched = &world.workload.watched;
    log.coverage.hit_n(Mark::WatcherMerge, watched.merges);
    log.coverage.hit_n(Mark::WatcherThinned, watched.thinned);
    log.coverage.hit_n(Mark::AfkCut, watched.afk_cuts);
    log.trace.record(&plan.crashes);
    SeedReport {
        seed: world.workload.seed,
        hash: log.trace.value(),
        crashes: log.kills + plan.crashes.len() as u64,
        restarts: log.starts.saturating_sub(1),
        events: world.sent.len() as u64,
        acked: log.acked.len() as u64,
        inputs: log.inputs,
        coverage: log.coverage.clone(),
    }
}
