//! The record table: versions published by the control plane, read lock-free by
//! every poll loop.
//!
//! - [`node`]: one compiled name, answers already in wire format.
//! - [`map`]: the persistent hash trie from names to nodes; an edit copies only the
//!   path to what changed.
//! - [`version`]: an immutable table version and the edit that derives the next.
//! - [`compile`](mod@compile): records to nodes.
//!
//! Publication is read-copy-update. The control plane builds a new version off to
//! the side and swaps one pointer ([`Table::publish`]). Each poll loop holds a
//! [`TableReader`] that caches an `Arc` of the version it is using and, once per
//! batch, compares the shared pointer with its own: a read of one shared cache line,
//! never a write. An old version is freed when the last reader moves past it.

pub mod compile;
pub mod map;
pub mod node;
pub mod version;

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

pub use compile::{
    CompileError, ZoneInput, compile, compile_name, synthetic_apex_records, synthetic_soa,
};
pub use node::{NodeView, RRsetSpec, RRsetView, RecordView};
pub use version::{TableEdit, TableVersion, ZoneInfo};

/// The writer side, owned by the control plane. Clones share the same table.
#[derive(Debug, Clone)]
pub struct Table {
    current: Arc<ArcSwap<TableVersion>>,
    seed: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Table {
    /// An empty table with a random hash key.
    pub fn new() -> Self {
        let seed = fastrand::u64(..);
        Table {
            current: Arc::new(ArcSwap::from_pointee(TableVersion::empty(seed))),
            seed,
        }
    }

    /// The hash key new versions must be built with (see [`compile()`]).
    pub fn seed(&self) -> u64 {
        self.seed
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
/// newer one only when [`TableReader::load`] sees a new pointer.
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
