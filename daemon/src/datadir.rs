//! The data directory: where the database, the day files and the lock
//! live, and the exclusive lock that lets one daemon own it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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

    /// Written at a clean stop: the database file's fingerprint.
    fn clean_stop_path(&self) -> PathBuf {
        self.root.join("clean-stop")
    }

    /// The database file's fingerprint: size, modification time and its
    /// first 100 bytes (SQLite's header, which holds a change counter that
    /// every committed write to the file bumps). `None` if there is no file.
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

    /// Records that the daemon stopped cleanly with the database as it is
    /// now. Call after the database connection is closed.
    pub fn mark_clean_stop(&self) -> Result<()> {
        let Some(fp) = self.fingerprint() else { return Ok(()) };
        crate::projection::write_atomically(&self.root, "clean-stop", &fp)
    }

    /// Whether the database file is byte-for-byte as a clean stop left it
    /// (same size, time and header). Consumes the record either way, so it
    /// vouches for one start only.
    pub fn take_clean_stop(&self) -> bool {
        let path = self.clean_stop_path();
        let recorded = std::fs::read_to_string(&path).ok();
        let _ = std::fs::remove_file(&path);
        recorded.is_some_and(|r| Some(r) == self.fingerprint())
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
    fn a_clean_stop_vouches_for_one_start_of_an_untouched_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        assert!(!data.take_clean_stop(), "no database, no record");
        std::fs::write(data.database(), b"SQLite format 3\0 first version").unwrap();
        data.mark_clean_stop().unwrap();
        assert!(data.take_clean_stop());
        assert!(!data.take_clean_stop(), "the record is consumed");
        data.mark_clean_stop().unwrap();
        std::fs::write(data.database(), b"SQLite format 3\0 edited while stopped").unwrap();
        assert!(!data.take_clean_stop(), "a changed file is checked in full");
    }

    #[test]
    fn the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().to_owned()).unwrap();
        drop(data.lock().unwrap());
        assert!(!data.is_locked().unwrap());
    }
}
