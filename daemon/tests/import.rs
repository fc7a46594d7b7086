//! Importing an OpenChronicle `index.db` with an orphan, then recovering
//! it from the command line (SPEC §7): counts, idempotence, the dry run,
//! the recovered end, block ownership, and `doctor` afterwards.

mod common;

use common::{TestDir, instant_with_offset, ms, write_openchronicle};
use daybook_core::Phase;
use serde_json::json;

/// Three sessions and seven timeline blocks on 2026-03-10 (+01:00):
/// `oc-1` ended 09:00–09:30 with two blocks; `oc-2` an `active` orphan
/// from 10:00 whose blocks run until 10:21; `oc-3` ended 11:00–11:30 with
/// one block; and a 14:00 block that overlaps no session.
fn openchronicle_db(dir: &TestDir) -> std::path::PathBuf {
    let path = dir.path().join("index.db");
    write_openchronicle(
        &path,
        &[
            (
                "oc-1",
                "2026-03-10T09:00:00+01:00",
                Some("2026-03-10T09:30:00+01:00"),
                "ended",
            ),
            // OpenChronicle writes Python isoformat: microseconds, and
            // sometimes a space instead of the `T`.
            ("oc-2", "2026-03-10T10:00:00.000000+01:00", None, "active"),
            (
                "oc-3",
                "2026-03-10 11:00:00+01:00",
                Some("2026-03-10 11:30:00+01:00"),
                "ended",
            ),
        ],
        &[
            (
                "b1",
                "2026-03-10T09:00:00+01:00",
                "2026-03-10T09:01:00+01:00",
                &["[09:00] Code: main.rs"],
                &["Code"],
                4,
            ),
            (
                "b2",
                "2026-03-10T09:10:00+01:00",
                "2026-03-10T09:11:00+01:00",
                &["[09:10] Firefox: docs"],
                &["Firefox"],
                2,
            ),
            (
                "b3",
                "2026-03-10T10:00:00+01:00",
                "2026-03-10T10:01:00+01:00",
                &["[10:00] Code: lib.rs"],
                &["Code"],
                3,
            ),
            (
                "b4",
                "2026-03-10T10:05:00.000000+01:00",
                "2026-03-10T10:06:00.000000+01:00",
                &["[10:05] Slack: team"],
                &["Slack"],
                1,
            ),
            (
                "b5",
                "2026-03-10 10:20:00+01:00",
                "2026-03-10 10:21:00+01:00",
                &["[10:20] Code: tests.rs"],
                &["Code"],
                5,
            ),
            (
                "b6",
                "2026-03-10T11:05:00+01:00",
                "2026-03-10T11:06:00+01:00",
                &["[11:05] Mail: inbox"],
                &["Mail"],
                2,
            ),
            (
                "b7",
                "2026-03-10T14:00:00+01:00",
                "2026-03-10T14:01:00+01:00",
                &["[14:00] Music: radio"],
                &["Music"],
                1,
            ),
        ],
    );
    path
}

#[test]
fn import_then_recover_an_orphan_from_the_command_line() {
    let dir = TestDir::new("");
    let oc = openchronicle_db(&dir);
    let oc = oc.to_str().unwrap();

    let first = dir.daybook(&["import", "openchronicle", oc, "--json"]);
    let report = first.assert_ok("import").json();
    assert_eq!(report["sessions"], json!({"read": 3, "new": 3}), "{report}");
    assert_eq!(report["orphans"], 1, "{report}");
    assert_eq!(report["blocks"], json!({"read": 7, "new": 7}), "{report}");
    assert_eq!(
        (report["blocks_owned"].as_u64(), report["blocks_unowned"].as_u64()),
        (Some(6), Some(1))
    );
    let imported = dir.dump();
    assert_eq!(imported.sessions.len(), 3);
    // Every block is owned at once but the one that overlaps no session.
    assert_eq!(imported.blocks.len(), 6);
    assert_eq!(imported.loose_blocks.len(), 1);
    assert_eq!(imported.sessions[1].phase, Phase::Active, "{:?}", imported.sessions[1]);
    assert_eq!(imported.sessions[1].start.0, ms("2026-03-10T10:00:00+01:00"));

    let again = dir.daybook(&["import", "openchronicle", oc, "--json"]);
    let again = again.assert_ok("second import").json();
    assert_eq!(again["sessions"], json!({"read": 3, "new": 0}), "{again}");
    assert_eq!(again["blocks"], json!({"read": 7, "new": 0}), "{again}");
    assert_eq!(dir.dump(), imported, "importing twice added something");

    // The dry run reports what a real run does and changes nothing.
    let dry = dir.daybook(&["recover", "--dry-run", "--json"]);
    let dry = dry.assert_ok("recover --dry-run").json();
    assert_eq!(dir.dump(), imported, "the dry run changed the database");
    assert!(dir.day_files().is_empty(), "the dry run wrote day files");

    let real = dir.daybook(&["recover", "--json"]).assert_ok("recover").json();
    let recovered = real["recovered"].as_array().expect("a recovered list");
    assert_eq!(recovered.len(), 1, "{real}");
    assert_eq!(recovered[0]["id"], "oc-2", "{real}");
    let end = instant_with_offset(recovered[0]["end"].as_str().expect("an end"));
    assert_eq!(
        end,
        ms("2026-03-10T10:21:00+01:00"),
        "the end is the latest block end: {real}"
    );
    assert_eq!(
        dry["recovered"], real["recovered"],
        "the dry run and the real run disagree"
    );

    let after = dir.dump();
    let orphan = after.sessions.iter().find(|s| s.id.0 == "oc-2").unwrap();
    assert_eq!(orphan.phase.end().map(|t| t.0), Some(end));
    assert_eq!(orphan.phase.reason().map(|r| r.as_str()), Some("recovered"));
    // Reduce-pending ran at once: every imported session is reduced.
    for s in &after.sessions {
        assert!(
            matches!(s.phase, Phase::Reduced { .. }),
            "{} is {}",
            s.id,
            s.phase.status()
        );
    }
    // Each overlapping block got exactly one owner; only b7 stays loose.
    let owners: Vec<(String, i64)> = after
        .blocks
        .iter()
        .map(|b| (b.session_id.0.clone(), b.start.0))
        .collect();
    assert_eq!(
        owners,
        [
            ("oc-1".to_owned(), ms("2026-03-10T09:00:00+01:00")),
            ("oc-1".to_owned(), ms("2026-03-10T09:10:00+01:00")),
            ("oc-2".to_owned(), ms("2026-03-10T10:00:00+01:00")),
            ("oc-2".to_owned(), ms("2026-03-10T10:05:00+01:00")),
            ("oc-2".to_owned(), ms("2026-03-10T10:20:00+01:00")),
            ("oc-3".to_owned(), ms("2026-03-10T11:05:00+01:00")),
        ]
    );
    assert!(
        after.blocks.iter().all(|b| b.covered_by.is_some()),
        "a block was not reduced"
    );
    assert_eq!(after.loose_blocks.len(), 1);
    assert_eq!(after.loose_blocks[0].start.0, ms("2026-03-10T14:00:00+01:00"));
    let day = dir.daybook(&["show", "2026-03-10"]).assert_ok("show").stdout;
    assert!(
        day.contains("Slack") && day.contains("tests.rs"),
        "the orphan's blocks are not in the log:\n{day}"
    );

    let doctor = dir.daybook(&["doctor", "--json"]);
    let report = doctor.assert_ok("doctor after recovery").json();
    assert_eq!(report["violations"], json!([]), "{report}");
    let unowned = report["unowned_blocks"].as_array().expect("unowned_blocks");
    assert_eq!(unowned.len(), 1, "{report}");
    assert_eq!(
        instant_with_offset(unowned[0]["start"].as_str().unwrap()),
        ms("2026-03-10T14:00:00+01:00")
    );
    assert_eq!(
        instant_with_offset(unowned[0]["end"].as_str().unwrap()),
        ms("2026-03-10T14:01:00+01:00")
    );

    // Recovering twice equals recovering once.
    let files = dir.day_files();
    let twice = dir.daybook(&["recover", "--json"]).assert_ok("second recover").json();
    assert_eq!(twice["recovered"], json!([]), "{twice}");
    assert_eq!(dir.dump(), after);
    assert_eq!(dir.day_files(), files);
    // And a third import after recovery still adds nothing.
    dir.daybook(&["import", "openchronicle", oc])
        .assert_ok("import after recovery");
    assert_eq!(dir.dump(), after, "re-importing after recovery changed the database");
}

#[test]
fn imported_lines_pass_the_redaction_rules() {
    let dir = TestDir::new("redact_patterns = [\"hunter\\\\d\"]\n");
    let path = dir.path().join("index.db");
    write_openchronicle(
        &path,
        &[(
            "oc-1",
            "2026-03-10T09:00:00+01:00",
            Some("2026-03-10T09:30:00+01:00"),
            "ended",
        )],
        &[(
            "b1",
            "2026-03-10T09:00:00+01:00",
            "2026-03-10T09:01:00+01:00",
            &["[Terminal] typed: hunter2", "[Firefox] paid with 4111 1111 1111 1111"],
            &["Terminal", "Firefox"],
            2,
        )],
    );
    dir.daybook(&["import", "openchronicle", path.to_str().unwrap()])
        .assert_ok("import");
    let lines = &dir.dump().blocks[0].lines;
    assert_eq!(
        lines,
        &["[Terminal] typed: [redacted]", "[Firefox] paid with [redacted]"],
        "{lines:?}"
    );
}
