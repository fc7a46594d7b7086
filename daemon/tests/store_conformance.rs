//! Core's store conformance suite (`daybook_core::conformance`) against
//! `SqliteStore`, one test per check, each on a fresh database file, so
//! the SQLite store and the reference `MemStore` cannot drift apart.

use daybook::SqliteStore;
use daybook_core::conformance;
use tempfile::TempDir;

/// A fresh store on a new file; the directory must outlive the store.
fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("daybook.db")).expect("open a fresh database");
    (dir, store)
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (_dir, store) = fresh();
                conformance::$name(store);
            }
        )*

        /// Every check of the suite has a test above: a check added to
        /// core without one here fails this test instead of being skipped.
        #[test]
        fn every_check_has_a_test() {
            let suite: Vec<&str> = conformance::checks::<SqliteStore>().iter().map(|(name, _)| *name).collect();
            assert_eq!(suite, [$(stringify!($name)),*]);
        }
    };
}

checks!(
    ingest_orders_events_and_dump,
    ingest_is_all_or_nothing,
    end_session_is_atomic,
    write_blocks_upserts_and_keeps_coverage,
    commit_reduction_covers_once,
    commit_reductions_all_or_nothing,
    mark_failed_and_due_sessions,
    pending_blocks_are_each_sessions_uncovered_blocks,
    a_prefetch_hint_never_changes_what_pending_reductions_answers,
    a_block_added_among_covered_ones_stays_uncovered,
    around_each_answers_as_around_does,
    late_steps_land_inside_their_session,
    recover_applies_plan_once,
    active_events_gathers_every_orphans_events,
    import_is_idempotent,
    entries_for_day_uses_local_date,
    timestamps_compare_numerically,
    every_field_round_trips,
);

/// `run_all` as a store's own crate would call it.
#[test]
fn run_all_passes() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let (dir, store) = fresh();
        dirs.push(dir);
        store
    });
}
