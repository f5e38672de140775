//! One immutable version of the answer table, and edits that derive the next.

use std::sync::Arc;

use super::map::NameMap;
use super::node::NodeView;

/// What the engine needs about a zone beyond its names: the apex and the SOA record
/// for the authority section of negative answers (RFC 2308), compiled with the
/// negative TTL (the lesser of the SOA's TTL and its MINIMUM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// Lowered wire name of the apex.
    pub apex: Box<[u8]>,
    /// Type, class, TTL, rdlength and rdata of the negative-answer SOA.
    pub negative_soa: Box<[u8]>,
}

/// A complete, immutable table. Readers hold it through an `Arc` for as long as
/// they need; the control plane derives new versions with [`TableVersion::edit`].
#[derive(Debug, Clone)]
pub struct TableVersion {
    names: NameMap,
    zones: Arc<[ZoneInfo]>,
}

impl Default for TableVersion {
    fn default() -> Self {
        TableVersion::empty(0)
    }
}

impl TableVersion {
    /// A table with no zones, hashing names with `seed`.
    pub fn empty(seed: u64) -> Self {
        TableVersion {
            names: NameMap::new(seed),
            zones: Arc::from(Vec::new()),
        }
    }

    /// The node for a lowered wire name.
    #[inline]
    pub fn find(&self, name: &[u8]) -> Option<NodeView<'_>> {
        self.names.get(name)
    }

    pub fn zone(&self, id: u16) -> Option<&ZoneInfo> {
        self.zones.get(usize::from(id))
    }

    pub fn zones(&self) -> &[ZoneInfo] {
        &self.zones
    }

    /// The id of the zone whose apex is `apex` (nodes carry it; see
    /// [`crate::table::compile_name`]).
    pub fn zone_id(&self, apex: &crate::name::Name) -> Option<u16> {
        let wire = apex.to_lowercase_wire();
        let index = self.zones.iter().position(|z| *z.apex == *wire)?;
        u16::try_from(index).ok()
    }

    /// Number of names, empty non-terminals included.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// Every node, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_>> {
        self.names.iter()
    }

    /// Starts the next version from this one; unchanged names are shared.
    pub fn edit(&self) -> TableEdit {
        TableEdit { next: self.clone() }
    }
}

/// A version under construction. Nothing a reader can see changes until the edit is
/// finished and published.
#[derive(Debug)]
pub struct TableEdit {
    next: TableVersion,
}

impl TableEdit {
    /// Replaces the zone list; node zone ids index into it.
    pub fn set_zones(&mut self, zones: Vec<ZoneInfo>) {
        self.next.zones = zones.into();
    }

    /// Stores a compiled node under its name.
    pub fn insert(&mut self, node: Arc<[u8]>) {
        self.next.names.insert(node);
    }

    /// Removes a name; true when it was present.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        self.next.names.remove(name)
    }

    pub fn find(&self, name: &[u8]) -> Option<NodeView<'_>> {
        self.next.find(name)
    }

    pub fn finish(self) -> TableVersion {
        self.next
    }
}
