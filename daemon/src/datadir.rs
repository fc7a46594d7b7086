//! The data directory: where the database, the day files and the lock
//! live, and the exclusive lock that lets one daemon own it.
//!
//! What it holds is private (typed text, titles, URLs): the directory and
//! every directory in it are created 0700 and every file 0600, at creation
//! (`DirBuilder`/`OpenOptions` with a mode, so no umask and no window
//! between creating and `chmod`). SQLite gives its `-wal` and `-shm` files
//! the database file's mode, so the database file is created 0600 before
//! SQLite opens it ([`create_private_file_if_missing`]). An existing directory or file
//! with wider modes (left by an older daybook) is tightened when a command
//! that writes opens the directory, with one warning.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The fingerprint record's file name in the data directory: the
/// database file's fingerprint, then how daybook left it.
const RECORD: &str = "db-fingerprint";
/// The record's second line after a clean stop.
const CLEAN: &str = "clean";
/// The record's second line while running, before the boot id.
const RUNNING: &str = "running";

/// This boot of the machine (Linux's `boot_id`); `None` where there is
/// none, and then only a clean stop vouches for the file.
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

/// See [`DataDir::file_state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileState {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: (u64, u64),
}

/// The mode of every directory daybook creates in the data directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file daybook creates in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents with mode 0700.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)
}

/// Creates `path` anew for writing, with mode 0600: whatever stood there
/// (a temp file left by a crash) is removed first, and the new file is
/// created exclusively, so it is never opened through a symlink or into a
/// file someone else made. That matters where a temp file lives outside
/// the private data directory (an `api_token_file` elsewhere).
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Creates `path` empty with mode 0600 unless it exists (for a file
/// another library then opens, like SQLite's database).
pub fn create_private_file_if_missing(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Tightens `dir` to 0700, and everything in it (recursively) to 0700 for
/// directories and 0600 for files, where group or others have any bit.
/// Returns the paths changed.
///
/// `dir` itself is resolved first: a data directory reached through a
/// symlink (`--data-dir link`, a dotfiles setup) is the directory the link
/// names, and that is what holds the database. Symlinks inside it are
/// skipped, so tightening never reaches outside the data directory.
fn tighten(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    let mut pending = vec![std::fs::canonicalize(dir)?];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let want = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(want))?;
            changed.push(path.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

/// The files of one data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

/// Resolves the data directory: the flag, else `$DAYBOOK_DATA_DIR` (clap
/// reads both into `explicit`), else the platform's data directory.
pub fn resolve_data_dir(explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(p) => p.to_owned(),
        None => directories::ProjectDirs::from("", "", "daybook")
            .map_or_else(|| PathBuf::from(".daybook"), |d| d.data_dir().to_owned()),
    }
}

/// The default config file, `config.toml` in the platform's config
/// directory.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "daybook").map(|d| d.config_dir().join("config.toml"))
}

/// Held while a process owns the data directory; the OS releases it when
/// the process dies, however it dies.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DataDir {
    /// The data directory at `root` (created 0700 if missing; tightened
    /// if it or anything in it is open to group or others).
    pub fn open(root: PathBuf) -> Result<Self> {
        create_private_dir(&root.join("days")).map_err(|source| Error::Io {
            what: "creating data directory",
            path: root.clone(),
            source,
        })?;
        let changed = tighten(&root).map_err(|source| Error::Io {
            what: "restricting the permissions of",
            path: root.clone(),
            source,
        })?;
        if let Some(first) = changed.first() {
            tracing::warn!(
                data_dir = %root.display(),
                count = changed.len(),
                first = %first.display(),
                "the data directory was readable by other users; tightened to 0700 (directories) and 0600 (files)"
            );
        }
        Ok(Self { root })
    }

    /// The data directory at `root` for a read-only command: never
    /// created; a missing one is [`Error::Missing`].
    pub fn existing(root: PathBuf) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::Missing {
                what: "data directory",
                path: root,
            });
        }
        Ok(Self { root })
    }

    /// The database for a read-only command: never created; a missing one
    /// is [`Error::Missing`].
    pub fn existing_database(&self) -> Result<PathBuf> {
        let path = self.database();
        if !path.is_file() {
            return Err(Error::Missing { what: "database", path });
        }
        Ok(path)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("daybook.db")
    }

    /// Where day files are written.
    pub fn days(&self) -> PathBuf {
        self.root.join("days")
    }

    /// Where the database file's fingerprint is recorded (see [`Self::vouched`]).
    fn record_path(&self) -> PathBuf {
        self.root.join(RECORD)
    }

    /// What identifies the database file's inode and its last change:
    /// size, modification and change times, device and inode. A copy or a
    /// restore gets a new inode or change time even when it keeps the
    /// modification time; no program can set the change time.
    fn file_state(&self) -> Option<FileState> {
        let meta = std::fs::metadata(self.database()).ok()?;
        Some(FileState {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            inode: (meta.dev(), meta.ino()),
        })
    }

    /// The database file's fingerprint: [`FileState`] and its first 100
    /// bytes (SQLite's header). `None` if there is no file.
    fn fingerprint(&self) -> Option<String> {
        let state = self.file_state()?;
        let mut header = [0u8; 100];
        let n = File::open(self.database()).and_then(|mut f| f.read(&mut header)).ok()?;
        let hex: String = header[..n].iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("{state:?} {hex}"))
    }

    fn write_record(&self, stop: &str) -> Result<()> {
        let Some(fp) = self.fingerprint() else { return Ok(()) };
        crate::projection::write_atomically(&self.root, RECORD, &format!("{fp}\n{stop}\n"))
    }

    /// Records that the daemon stopped cleanly, leaving the database file
    /// as it is now. Call after the connection is closed.
    pub fn record_clean_stop(&self) -> Result<()> {
        self.write_record(CLEAN)
    }

    /// Records the file as a running daemon leaves it at this moment (see
    /// [`FileWatch`]), tagged with the boot of the machine; with no boot id
    /// there is nothing a kill could be vouched for by, so nothing is written.
    fn record_running_in(&self, boot: Option<&str>) -> Result<()> {
        match boot {
            Some(boot) => self.write_record(&format!("{RUNNING} {boot}")),
            None => Ok(()),
        }
    }

    /// Drops the record, so the next start reads the file in full: for a
    /// daemon that stops on an error (the engine may have met a damaged
    /// page) or that never finished starting.
    pub fn forget(&self) {
        let _ = std::fs::remove_file(self.record_path());
    }

    /// Whether the database file may be opened without the full page check:
    /// it is exactly as daybook last left it (same fingerprint as
    /// recorded), and daybook left it either at a clean stop (with no WAL
    /// beside it, as closing leaves none), or running in this same boot of
    /// the machine (a kill -9, an OOM kill, a crash of the process). A
    /// killed process loses nothing the kernel already holds: the file is
    /// as the last checkpoint wrote it, and SQLite replays the WAL beyond
    /// it, checking every frame's checksum. If a power cut or an OS crash
    /// interrupted a running daemon (another boot id), the file is read in
    /// full, since a disk that does not honour fsync can tear pages then.
    /// Any change made while no daemon ran (a copy, a restore, another
    /// program's write) changes the fingerprint.
    pub fn vouched(&self) -> bool {
        self.vouched_in(boot_id().as_deref())
    }

    fn vouched_in(&self, boot: Option<&str>) -> bool {
        let Ok(record) = std::fs::read_to_string(self.record_path()) else {
            return false;
        };
        let mut lines = record.lines();
        let (Some(fp), Some(stop), None) = (lines.next(), lines.next(), lines.next()) else {
            return false;
        };
        let left_by_us = match stop.split_once(' ') {
            None => stop == CLEAN && !self.has_wal(),
            Some((state, was)) => state == RUNNING && !was.is_empty() && Some(was) == boot,
        };
        left_by_us && Some(fp) == self.fingerprint().as_deref()
    }

    /// Whether a non-empty WAL lies beside the database file.
    fn has_wal(&self) -> bool {
        std::fs::metadata(self.root.join("daybook.db-wal")).is_ok_and(|m| m.len() > 0)
    }

    /// Watches the database file for changes daybook makes while it runs.
    pub fn watch(&self) -> FileWatch {
        FileWatch {
            data: self.clone(),
            boot: boot_id(),
            seen: None,
            trusted: true,
        }
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("daybook.lock")
    }

    /// Takes the exclusive lock, or says which process holds it. The
    /// holder's pid is written into the lock file for that message.
    pub fn lock(&self) -> Result<DirLock> {
        let path = self.lock_path();
        let io = |source| Error::Io {
            what: "locking data directory",
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                writeln!(file, "{}", std::process::id()).map_err(io)?;
                Ok(DirLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                Err(Error::Locked {
                    dir: self.root.clone(),
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.to_owned()
                    },
                })
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Whether a daemon holds the lock right now (without keeping it).
    pub fn is_locked(&self) -> Result<bool> {
        match self.lock() {
            Ok(_) => Ok(false),
            Err(Error::Locked { .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// Keeps the fingerprint record current while a daemon runs: after each
/// batch of writes, one `stat` of the database file; when it moved (a WAL
/// checkpoint copied pages into it), the record is written again, tagged
/// "running" with the boot id. Without this the record would vouch only
/// after a clean stop, and every start after a killed process would read
/// the whole file (0.6 s for a year of history) for a guarantee SQLite's
/// WAL replay already gives.
///
/// Once the daemon has reason to doubt the file it stops vouching for the
/// rest of the run ([`Self::distrust`]): a store error it answered instead
/// of stopping on, a record it could not write, or a record someone else
/// removed (`daybook doctor` does when it finds damage). It cannot tell
/// daybook's checkpoints from another program writing the file while the
/// daemon runs, and vouches for both; a clean stop records such a write the
/// same way, so the full page check covered it only when the daemon was
/// then killed.
#[derive(Debug)]
pub struct FileWatch {
    data: DataDir,
    boot: Option<String>,
    seen: Option<FileState>,
    trusted: bool,
}

impl FileWatch {
    /// Re-records the fingerprint if the file changed since the last call.
    /// A failure to write the record is logged and ends vouching; it does
    /// not stop the daemon, since the record only saves time at startup.
    pub fn after_writes(&mut self) {
        if !self.trusted {
            return;
        }
        let now = self.data.file_state();
        if now == self.seen {
            return;
        }
        // Removed since this watch wrote it (none is written without a
        // boot id, and then there is nothing to miss).
        if self.seen.is_some() && self.boot.is_some() && !self.data.record_path().exists() {
            tracing::warn!("the database fingerprint record was removed; the next start checks every page");
            self.distrust();
            return;
        }
        match self.data.record_running_in(self.boot.as_deref()) {
            Ok(()) => self.seen = now,
            Err(e) => {
                tracing::warn!(error = %e, "could not record the database fingerprint; the next start checks every page");
                self.distrust();
            }
        }
    }

    /// Stops vouching for the file, for the rest of this run and at its
    /// stop: the next start reads every page.
    pub fn distrust(&mut self) {
        self.trusted = false;
        self.data.forget();
    }

    /// Whether a clean stop may record the file.
    pub fn trusted(&self) -> bool {
        self.trusted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        let _held = data.lock().unwrap();
        match data.lock() {
            Err(Error::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn a_clean_stop_vouches_for_the_file_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        assert!(!data.vouched(), "no database, no record");
        std::fs::write(data.database(), b"SQLite format 3\0 first version").unwrap();
        assert!(!data.vouched(), "a file never recorded is checked in full");
        data.record_clean_stop().unwrap();
        assert!(data.vouched());
        assert!(data.vouched(), "reading the record does not consume it");
        assert!(data.vouched_in(None), "a clean stop needs no boot id");
        std::fs::write(data.database(), b"SQLite format 3\0 edited while stopped").unwrap();
        assert!(!data.vouched(), "a changed file is checked in full");
    }

    #[test]
    fn a_copy_with_the_same_times_is_not_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 the original").unwrap();
        data.record_clean_stop().unwrap();
        // As `cp -p` or a restore does: same bytes, same modification time,
        // a new inode.
        let mtime = std::fs::metadata(data.database()).unwrap().modified().unwrap();
        let copy = dir.path().join("copy");
        std::fs::copy(data.database(), &copy).unwrap();
        File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        std::fs::rename(&copy, data.database()).unwrap();
        assert_eq!(std::fs::metadata(data.database()).unwrap().modified().unwrap(), mtime);
        assert!(!data.vouched());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_has_a_boot_id() {
        assert!(boot_id().is_some());
    }

    #[test]
    fn a_running_record_vouches_only_in_the_same_boot_and_forget_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 at open").unwrap();
        data.record_running_in(Some("boot-a")).unwrap();
        assert!(data.vouched_in(Some("boot-a")), "a killed process, same boot");
        assert!(!data.vouched_in(Some("boot-b")), "a power cut or OS crash");
        assert!(!data.vouched_in(None));
        data.forget();
        assert!(!data.vouched_in(Some("boot-a")), "an error stop drops the record");
        data.record_running_in(None).unwrap();
        assert!(
            !data.record_path().exists(),
            "without a boot id a running record is never written"
        );
    }

    #[test]
    fn a_clean_stop_with_a_wal_beside_it_is_not_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 stopped").unwrap();
        data.record_clean_stop().unwrap();
        std::fs::write(dir.path().join("daybook.db-wal"), b"").unwrap();
        assert!(data.vouched(), "an empty WAL is none");
        std::fs::write(dir.path().join("daybook.db-wal"), b"frames from elsewhere").unwrap();
        assert!(!data.vouched());
    }

    #[test]
    fn a_malformed_record_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 stopped").unwrap();
        let fp = data.fingerprint().unwrap();
        for (case, record) in [
            ("the fingerprint alone (an older build's record)", format!("{fp}\n")),
            ("running without a boot id", format!("{fp}\nrunning \n")),
            ("a line too many", format!("{fp}\nclean\nclean\n")),
            ("an unknown state", format!("{fp}\nstopped\n")),
        ] {
            std::fs::write(data.record_path(), &record).unwrap();
            assert!(!data.vouched_in(Some("")), "{case}");
        }
        std::fs::write(data.record_path(), format!("{fp}\nclean\n")).unwrap();
        assert!(data.vouched_in(None), "the well-formed record, for contrast");
    }

    #[test]
    fn the_watch_records_changes_daybook_made_until_it_is_distrusted() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 at open").unwrap();
        let mut watch = FileWatch {
            boot: Some("boot-a".into()),
            ..data.watch()
        };
        watch.after_writes();
        assert!(
            data.vouched_in(Some("boot-a")),
            "the first call records the file as it is"
        );
        std::fs::write(data.database(), b"SQLite format 3\0 after a checkpoint, longer").unwrap();
        assert!(!data.vouched_in(Some("boot-a")));
        watch.after_writes();
        assert!(
            data.vouched_in(Some("boot-a")),
            "a change seen by the watch is recorded"
        );

        // `daybook doctor` found damage and removed the record: it stays removed.
        data.forget();
        std::fs::write(data.database(), b"SQLite format 3\0 a later checkpoint").unwrap();
        watch.after_writes();
        assert!(!watch.trusted());
        assert!(!data.record_path().exists());

        // A store error answered to a client: no record from then on.
        let mut watch = FileWatch {
            boot: Some("boot-a".into()),
            ..data.watch()
        };
        watch.after_writes();
        assert!(data.record_path().exists());
        watch.distrust();
        assert!(!data.record_path().exists());
        std::fs::write(data.database(), b"SQLite format 3\0 written after an answered error").unwrap();
        watch.after_writes();
        assert!(!data.record_path().exists(), "a distrusted watch writes no record");

        // Without a boot id nothing is recorded while running, and a clean
        // stop may still record the file.
        let mut watch = FileWatch {
            boot: None,
            ..data.watch()
        };
        watch.after_writes();
        std::fs::write(data.database(), b"SQLite format 3\0 another checkpoint, longer still").unwrap();
        watch.after_writes();
        assert!(watch.trusted(), "no record to miss without a boot id");
        assert!(!data.record_path().exists());
    }

    #[test]
    fn the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        drop(data.lock().unwrap());
        assert!(!data.is_locked().unwrap());
    }
}
