//! What daybook writes is private: under the usual umask 022 the data
//! directory is 0700 and every file in it 0600 (database, WAL, shared
//! memory, day files, lock, address, fingerprint record), created that way
//! rather than changed afterwards; a directory left open by an older
//! daybook is tightened, with one warning.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{FAST_TICK, TestDir};
use serde_json::json;

const TIGHTENED: &str = "the data directory was readable by other users";

/// Every path under `root` (itself included) with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        found.push((path.clone(), meta.is_dir(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                pending.push(entry.expect("entry").path());
            }
        }
    }
    found.sort();
    found
}

fn assert_private(root: &Path) {
    for (path, dir, mode) in modes(root) {
        let want = if dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

#[test]
fn a_fresh_data_dir_and_every_file_in_it_are_private_from_creation() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start_under_umask("022");
    daemon.ingest(&json!([
        {"at": "2026-01-10T12:00:00+01:00", "app": "Code", "text": "secret plans"},
        {"at": "2026-01-10T12:01:00+01:00", "app": "Firefox"},
    ]));
    daemon.wait_quiet();
    // While it runs: the WAL and shared-memory files are there too.
    let names: Vec<String> = modes(&dir.data())
        .iter()
        .filter_map(|(p, _, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for name in [
        "daybook.db",
        "daybook.db-wal",
        "daybook.db-shm",
        "daybook.lock",
        "daybook.addr",
        "event-2026-01-10.md",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
    assert_private(&dir.data());
    // Created private, not changed afterwards.
    assert!(!daemon.log().contains(TIGHTENED), "{}", daemon.log());
    drop(daemon);

    let daemon = dir.start_under_umask("022");
    daemon.ingest(&json!({"app": "Code"}));
    assert_private(&dir.data());
    assert!(!daemon.log().contains(TIGHTENED), "{}", daemon.log());
}

#[test]
fn an_existing_open_data_dir_is_tightened_with_one_warning() {
    let dir = TestDir::new(FAST_TICK);
    let daemon = dir.start();
    daemon.ingest(&json!({"at": "2026-01-10T12:00:00+01:00", "app": "Code"}));
    daemon.wait_quiet();
    drop(daemon);
    // As an older daybook left it under umask 022.
    for (path, dir_, _) in modes(&dir.data()) {
        let mode = if dir_ { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = dir
        .daybook_under_umask("022", &["reduce-pending"])
        .assert_ok("reduce-pending");
    assert_eq!(out.stderr.matches(TIGHTENED).count(), 1, "{}", out.stderr);
    assert_private(&dir.data());
    let again = dir
        .daybook_under_umask("022", &["reduce-pending"])
        .assert_ok("reduce-pending");
    assert!(!again.stderr.contains(TIGHTENED), "{}", again.stderr);
}

#[test]
fn a_data_dir_reached_through_a_symlink_is_tightened_too() {
    let dir = TestDir::new(FAST_TICK);
    // As `mkdir -m755 real; ln -s real data` leaves it, with a file an
    // older daybook wrote under umask 022.
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(real.join("notes.md"), "typed text").unwrap();
    std::fs::set_permissions(real.join("notes.md"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&real, dir.data()).unwrap();
    let out = dir
        .daybook_under_umask("022", &["reduce-pending"])
        .assert_ok("reduce-pending");
    assert_eq!(out.stderr.matches(TIGHTENED).count(), 1, "{}", out.stderr);
    assert_private(&real);
    assert!(
        std::fs::symlink_metadata(dir.data()).unwrap().file_type().is_symlink(),
        "the link itself is left as it was"
    );
}
