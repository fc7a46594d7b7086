//! Day files: the projection of the database's entries into
//! `event-YYYY-MM-DD.md`. A file is rewritten whole from the database after
//! each commit that touches its day, atomically: temp file, fsync, rename,
//! fsync of the directory ([`write_day`]); a pass over many days
//! ([`rebuild`]: startup, `recover`, imports) syncs its files together. A
//! crash at any point leaves the old file or the new one, never a torn
//! one; every start rewrites any file that differs, so a
//! new format ([`daybook_core::daylog::FORMAT_VERSION`]) rewrites every
//! file once, from entries that stay as they are.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use daybook_core::aggregate::SessionInput;
use daybook_core::daylog::{day_name, file_name, render_day};
use daybook_core::{DayInputs, Entry, Store};

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

/// Renders `day` from the store: its entries, the sessions they reduce
/// and those sessions' events ([`Store::day_inputs`]: one read each, not
/// one per session).
pub fn render<S: Store>(store: &S, day: NaiveDate) -> Result<String> {
    let DayInputs { entries, sessions } = store.day_inputs(day)?;
    let refs: Vec<&Entry> = entries.iter().collect();
    let inputs: Vec<SessionInput<'_>> = sessions
        .iter()
        .map(|(session, events)| SessionInput { session, events })
        .collect();
    Ok(render_day(day, &refs, &inputs))
}

/// What `daybook show` and `GET /v1/days/…` print: the day's rendering,
/// and for a day with nothing written up, why: its sessions are not
/// reduced yet, capture is paused, or no event was captured.
pub fn show(store: &SqliteStore, day: NaiveDate) -> Result<String> {
    if !store.entries_for_day(day)?.is_empty() {
        return render(store, day);
    }
    let (from, to) = crate::clock::local_day_bounds(day);
    let sessions = store.sessions_between(from, to)?.len();
    let why = if sessions == 1 {
        "its session is not written up yet (still active, or waiting for its reduction)".to_owned()
    } else if sessions > 1 {
        format!("its {sessions} sessions are not written up yet (still active, or waiting for their reduction)")
    } else if store.daemon_state()?.paused {
        "capture is paused, so no event was kept".to_owned()
    } else {
        "no event was captured".to_owned()
    };
    Ok(format!(
        "# daybook — {}\n\nNothing recorded on this day: {why}.\n",
        day_name(day)
    ))
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
///
/// The files are made durable together, not one by one: each changed day
/// is written to its temp file, then one `syncfs` flushes them all, then
/// each is renamed into place and the directory is synced once. Two syncs
/// for the whole pass instead of two per file (695 files of an imported
/// history took 5-7 s that way). The promise is the one
/// [`write_atomically`] keeps: a crash anywhere leaves each file as it was
/// or as it is now, never torn. Before the first sync only temp files
/// changed (the next pass removes them); a file renamed into place was
/// already on disk; a rename a power loss undoes leaves the old file,
/// which the next start's pass finds stale and rewrites. The database is
/// the only record, so no committed minute is lost or counted twice
/// either way.
pub fn rebuild<S: Store>(store: &S, dir: &Path, days: &[NaiveDate]) -> Result<Vec<NaiveDate>> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".md.tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { what, path, source }
    };
    let mut rewritten = Vec::new();
    for &day in days {
        let want = render(store, day)?;
        let have = fs::read(dir.join(file_name(day))).ok();
        if have.as_deref() != Some(want.as_bytes()) {
            let tmp = temp_path(dir, &file_name(day));
            let mut file = crate::datadir::create_private_file(&tmp).map_err(io("writing", &tmp))?;
            file.write_all(want.as_bytes()).map_err(io("writing", &tmp))?;
            rewritten.push(day);
        }
    }
    if rewritten.is_empty() {
        return Ok(rewritten);
    }
    sync_written(dir, &rewritten).map_err(io("syncing day files in", dir))?;
    crate::crash_point!("dayfile-before-rename");
    for &day in &rewritten {
        let name = file_name(day);
        fs::rename(temp_path(dir, &name), dir.join(&name)).map_err(io("renaming into place", &dir.join(&name)))?;
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))?;
    Ok(rewritten)
}

/// The temp file `name` is written to before it is renamed into place.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.tmp"))
}

/// Makes the temp files of `days` durable. On Linux one `syncfs` of the
/// directory's file system flushes them all at once; elsewhere each is
/// synced on its own.
fn sync_written(dir: &Path, days: &[NaiveDate]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = days;
        rustix::fs::syncfs(File::open(dir)?)?;
    }
    #[cfg(not(target_os = "linux"))]
    for &day in days {
        File::open(temp_path(dir, &file_name(day)))?.sync_all()?;
    }
    Ok(())
}
