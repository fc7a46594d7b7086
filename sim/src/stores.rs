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
