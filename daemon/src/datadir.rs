//! The data directory: where the database, the day files and the lock
//! live, and the exclusive lock that lets one daemon own it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The fingerprint record's file name in the data directory.
const RECORD: &str = "db-fingerprint";

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
    /// The data directory at `root` (created if missing).
    pub fn open(root: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(root.join("days")).map_err(|source| Error::Io {
            what: "creating data directory",
            path: root.clone(),
            source,
        })?;
        Ok(Self { root })
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

    /// Where the database file's fingerprint is recorded (see [`Self::vouch`]).
    fn record_path(&self) -> PathBuf {
        self.root.join(RECORD)
    }

    /// The database file's fingerprint: size, modification time and its
    /// first 100 bytes (SQLite's header). `None` if there is no file.
    fn fingerprint(&self) -> Option<String> {
        let path = self.database();
        let meta = std::fs::metadata(&path).ok()?;
        let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        let mut header = [0u8; 100];
        let n = File::open(&path).and_then(|mut f| f.read(&mut header)).ok()?;
        let hex: String = header[..n].iter().map(|b| format!("{b:02x}")).collect();
        Some(format!(
            "{} {}.{:09} {hex}",
            meta.len(),
            mtime.as_secs(),
            mtime.subsec_nanos()
        ))
    }

    /// Records the database file's fingerprint as it is now: daybook
    /// vouches that it last wrote this file and that the file was sound
    /// (checked in full, or vouched for at open). Written after open, after
    /// every write of a running daemon that changed the file (a WAL
    /// checkpoint; see [`FileWatch`]) and after a clean stop.
    pub fn vouch(&self) -> Result<()> {
        let Some(fp) = self.fingerprint() else { return Ok(()) };
        crate::projection::write_atomically(&self.root, RECORD, &fp)
    }

    /// Whether the database file is exactly as daybook last left it (same
    /// size, modification time and header as recorded), so the full page
    /// check may be skipped. That holds after a clean stop and after a
    /// crash alike: a kill -9 or a power cut leaves the file as the last
    /// checkpoint wrote it, and the WAL beyond it is replayed by SQLite,
    /// which checks every frame's checksum. Any change made while no
    /// daemon ran (a copy, a restore, a damaged page written by another
    /// program) changes the modification time and fails this.
    pub fn vouched(&self) -> bool {
        let recorded = std::fs::read_to_string(self.record_path()).ok();
        recorded.is_some_and(|r| Some(r) == self.fingerprint())
    }

    /// Watches the database file for changes daybook makes while it runs.
    pub fn watch(&self) -> FileWatch {
        FileWatch {
            data: self.clone(),
            seen: None,
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
/// batch of writes, one `stat` of the database file; when its size or
/// modification time moved (a WAL checkpoint copied pages into it), the
/// record is written again. Without this the record would vouch only after
/// a clean stop, and every start after a crash would read the whole file
/// (0.6 s for a year of history) for a guarantee SQLite's WAL replay
/// already gives.
///
/// It cannot tell daybook's checkpoints from another program writing the
/// file while the daemon runs, and vouches for both; the full page check
/// never covered that case either, since it runs only at startup.
#[derive(Debug)]
pub struct FileWatch {
    data: DataDir,
    seen: Option<(u64, std::time::SystemTime)>,
}

impl FileWatch {
    /// Re-records the fingerprint if the file changed since the last call.
    pub fn after_writes(&mut self) -> Result<()> {
        let now = std::fs::metadata(self.data.database())
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        if now != self.seen {
            self.data.vouch()?;
            self.seen = now;
        }
        Ok(())
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
    fn the_record_vouches_for_an_untouched_file_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        assert!(!data.vouched(), "no database, no record");
        std::fs::write(data.database(), b"SQLite format 3\0 first version").unwrap();
        assert!(!data.vouched(), "a file never recorded is checked in full");
        data.vouch().unwrap();
        assert!(data.vouched());
        assert!(data.vouched(), "reading the record does not consume it");
        std::fs::write(data.database(), b"SQLite format 3\0 edited while stopped").unwrap();
        assert!(!data.vouched(), "a changed file is checked in full");
    }

    #[test]
    fn the_watch_records_changes_daybook_made() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 at open").unwrap();
        let mut watch = data.watch();
        watch.after_writes().unwrap();
        assert!(data.vouched(), "the first call records the file as it is");
        std::fs::write(data.database(), b"SQLite format 3\0 after a checkpoint, longer").unwrap();
        assert!(!data.vouched());
        watch.after_writes().unwrap();
        assert!(data.vouched(), "a change seen by the watch is recorded");
    }

    #[test]
    fn the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        drop(data.lock().unwrap());
        assert!(!data.is_locked().unwrap());
    }
}
