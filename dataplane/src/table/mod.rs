//! The record table: versions published by the control plane, read lock-free by
//! every poll loop.

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

/// One immutable version of the whole answer table.
#[derive(Debug, Default)]
pub struct TableVersion {}

/// The writer side, owned by the control plane.
#[derive(Debug, Default, Clone)]
pub struct Table {
    current: Arc<ArcSwap<TableVersion>>,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader for one poll loop.
    pub fn reader(&self) -> TableReader {
        TableReader {
            cache: Cache::new(Arc::clone(&self.current)),
        }
    }

    /// The newest published version.
    pub fn current(&self) -> Arc<TableVersion> {
        self.current.load_full()
    }

    /// Makes `version` the one every reader moves to.
    pub fn publish(&self, version: TableVersion) {
        self.current.store(Arc::new(version));
    }
}

/// A poll loop's handle on the table: holds the version it is using and moves to a
/// newer one only when [`TableReader::load`] sees a new pointer (one shared read,
/// no shared write, per call).
#[derive(Debug)]
pub struct TableReader {
    cache: Cache<Arc<ArcSwap<TableVersion>>, Arc<TableVersion>>,
}

impl TableReader {
    /// The newest published version.
    pub fn load(&mut self) -> &TableVersion {
        self.cache.load()
    }
}
