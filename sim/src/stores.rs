//! Store factories: how a (re)started node gets at the durable state. The
//! harness is generic over them, so the MemStore mode and the SQLite mode
//! run the same code.

use std::sync::{Arc, Mutex};

use daybook_core::{Error, MemState, MemStore, Store};

/// Opens the durable state the way a freshly started process would.
pub trait StoreFactory: Send + Sync + 'static {
    /// The store it opens.
    type Store: Store + 'static;

    /// A new handle on the same durable state. Called at every node start
    /// and for the harness's own reads; what a crashed node had not
    /// committed is not there.
    fn open(&self) -> Result<Self::Store, Error>;

    /// What is wrong with the store's own derived structures beyond the
    /// dump (for SQLite: the full-text index against its rows), checked
    /// after every start, so after every crash. Nothing, by default.
    fn index_problems(&self, _store: &Self::Store) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
}

/// `MemStore` whose committed state lives outside the node, so it survives
/// the node's kills and restarts.
#[derive(Debug, Default)]
pub struct MemFactory {
    state: Arc<Mutex<MemState>>,
}

impl MemFactory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StoreFactory for MemFactory {
    type Store = MemStore;

    fn open(&self) -> Result<MemStore, Error> {
        Ok(MemStore::from_shared(Arc::clone(&self.state)))
    }
}

/// The daemon's `SqliteStore` on a per-seed file, opened afresh at every
/// node start as a restarted daemon would. The file lives in `/dev/shm`
/// where there is one (fsync is free there, and the run is about crash
/// atomicity, not the disk), and is removed with its WAL when the run ends.
#[cfg(all(madsim, feature = "sqlite"))]
#[derive(Debug)]
pub struct SqliteFactory {
    path: std::path::PathBuf,
}

#[cfg(all(madsim, feature = "sqlite"))]
impl SqliteFactory {
    /// A fresh, empty database for `seed`.
    pub fn new(seed: u64) -> Self {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let factory = Self {
            path: dir.join(format!("daybook-sim-{}-{seed}.sqlite", std::process::id())),
        };
        factory.remove();
        factory
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            // Absent files are the normal case.
            let _ = std::fs::remove_file(name);
        }
    }
}

#[cfg(all(madsim, feature = "sqlite"))]
impl Drop for SqliteFactory {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(all(madsim, feature = "sqlite"))]
impl StoreFactory for SqliteFactory {
    type Store = daybook::SqliteStore;

    fn open(&self) -> Result<daybook::SqliteStore, Error> {
        daybook::SqliteStore::open(&self.path).map_err(|e| Error::Storage(Box::new(e)))
    }

    /// The search index holds every event and entry once, and nothing of
    /// a transaction a crash rolled back
    /// ([`daybook::SqliteStore::search_index_problems`]).
    fn index_problems(&self, store: &daybook::SqliteStore) -> Result<Vec<String>, Error> {
        store.search_index_problems()
    }
}

#[cfg(test)]
mod tests {
    use daybook_core::{Event, IngestStep, Session, Timestamp, UtcOffset};

    use super::*;

    #[test]
    fn every_open_sees_what_the_last_one_committed() {
        let f = MemFactory::new();
        let mut a = f.open().unwrap();
        a.ingest(&[IngestStep::Start {
            session: Session::active("x".into(), Timestamp(0), UtcOffset::UTC),
            first: Event::new(Timestamp(0), "Code"),
        }])
        .unwrap();
        drop(a);
        assert_eq!(f.open().unwrap().dump().unwrap().sessions.len(), 1);
    }
}
