//! Day files: the projection of the database's entries into
//! `event-YYYY-MM-DD.md`. A file is rewritten whole from the database after
//! each commit that touches its day, atomically: temp file, fsync, rename,
//! fsync of the directory. A crash at any point leaves the old file or the
//! new one, never a torn one; startup rewrites any file that differs.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use daybook_core::daylog::{file_name, render_day};
use daybook_core::{Entry, Store};

use crate::error::{Error, Result};
use crate::store::SqliteStore;

/// Writes `text` to `dir/name` atomically and durably.
pub fn write_atomically(dir: &Path, name: &str, text: &str) -> Result<()> {
    replace_file(dir, name, text, || {})
}

/// Temp file, fsync, `between()`, rename, fsync of the directory.
fn replace_file(dir: &Path, name: &str, text: &str, between: impl FnOnce()) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |what, path: &PathBuf| {
        let path = path.clone();
        move |source| Error::Io { what, path, source }
    };
    let mut file = crate::datadir::create_private_file(&tmp).map_err(io("writing", &tmp))?;
    file.write_all(text.as_bytes()).map_err(io("writing", &tmp))?;
    file.sync_all().map_err(io("syncing", &tmp))?;
    drop(file);
    between();
    fs::rename(&tmp, &path).map_err(io("renaming into place", &path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", &dir.to_owned()))?;
    Ok(())
}

/// Renders `day` from the store's entries.
pub fn render<S: Store>(store: &S, day: NaiveDate) -> Result<String> {
    let entries = store.entries_for_day(day)?;
    let refs: Vec<&Entry> = entries.iter().collect();
    Ok(render_day(day, &refs))
}

/// Rewrites the file of `day` from the store.
pub fn write_day<S: Store>(store: &S, dir: &Path, day: NaiveDate) -> Result<()> {
    replace_file(dir, &file_name(day), &render(store, day)?, || {
        crate::crash_point!("dayfile-before-rename");
    })
}

/// Every day file in `dir`, by `YYYY-MM-DD`, as the oracle's projection
/// check wants them. Unreadable files read as empty (and so differ).
pub fn read_all(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        what: "listing day files",
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(day) = name.strip_prefix("event-").and_then(|n| n.strip_suffix(".md")) {
            files.insert(day.to_owned(), fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    Ok(files)
}

/// [`rebuild`] for every day that has entries.
pub fn rebuild_all(store: &SqliteStore, dir: &Path) -> Result<Vec<NaiveDate>> {
    rebuild(store, dir, &store.entry_days()?)
}

/// Rewrites every day file that is missing, torn or stale, and removes
/// temp files a crash left behind. Returns the days rewritten.
pub fn rebuild<S: Store>(store: &S, dir: &Path, days: &[NaiveDate]) -> Result<Vec<NaiveDate>> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".md.tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let mut rewritten = Vec::new();
    for &day in days {
        let want = render(store, day)?;
        let have = fs::read_to_string(dir.join(file_name(day))).ok();
        if have.as_deref() != Some(want.as_str()) {
            replace_file(dir, &file_name(day), &want, || {
                crate::crash_point!("dayfile-before-rename");
            })?;
            rewritten.push(day);
        }
    }
    Ok(rewritten)
}
