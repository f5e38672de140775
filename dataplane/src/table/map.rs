//! A persistent hash map from lowered wire names to compiled nodes.
//!
//! The map is a fixed two-level radix trie over a 64-bit keyed hash: the top 8 bits
//! pick one of 256 middle nodes, the next 8 bits one of 256 leaves, and a leaf is a
//! short array of `(hash, node)` pairs sorted by hash. At a million names a leaf
//! holds about 15 entries, so a lookup is a hash, three dependent loads and a short
//! scan of contiguous hashes.
//!
//! Every level sits behind an `Arc`. Changing a name copies only its path — the
//! 256-slot root, one 256-slot middle node and one leaf, a few kilobytes — and
//! shares everything else with the previous version (`Arc::make_mut` copies a level
//! only when an older version still holds it, so a batch of edits copies each path
//! once). Readers of older versions are never disturbed.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::node::NodeView;

const FANOUT: usize = 256;

/// One stored name: its hash and its compiled node.
#[derive(Debug, Clone)]
struct Entry {
    hash: u64,
    node: Arc<[u8]>,
}

type Leaf = Arc<[Entry]>;

#[derive(Debug, Clone)]
struct Middle {
    leaves: [Option<Leaf>; FANOUT],
}

#[derive(Debug, Clone)]
struct Root {
    middles: [Option<Arc<Middle>>; FANOUT],
}

/// The persistent map. Cloning is O(1) and shares all structure.
#[derive(Debug, Clone)]
pub struct NameMap {
    root: Arc<Root>,
    hasher: FixedState,
    len: usize,
}

impl NameMap {
    /// An empty map whose hash is keyed by `seed` (so clients cannot aim names at one
    /// leaf).
    pub fn new(seed: u64) -> Self {
        NameMap {
            root: Arc::new(Root {
                middles: [const { None }; FANOUT],
            }),
            hasher: FixedState::with_seed(seed),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn hash(&self, name: &[u8]) -> u64 {
        self.hasher.hash_one(name)
    }

    #[inline]
    fn slots(hash: u64) -> (usize, usize) {
        ((hash >> 56) as usize, ((hash >> 48) & 0xFF) as usize)
    }

    /// The node stored for `name` (lowered wire format).
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<NodeView<'_>> {
        let hash = self.hash(name);
        let (top, mid) = Self::slots(hash);
        let middle = self.root.middles.get(top)?.as_ref()?;
        let leaf = middle.leaves.get(mid)?.as_ref()?;
        leaf.iter()
            .filter(|entry| entry.hash == hash)
            .map(|entry| NodeView::new(&entry.node))
            .find(|node| node.name() == name)
    }

    /// Stores `node` under its own name, replacing what was there.
    pub fn insert(&mut self, node: Arc<[u8]>) {
        let name = NodeView::new(&node).name();
        let hash = self.hash(name);
        let (top, mid) = Self::slots(hash);
        let root = Arc::make_mut(&mut self.root);
        let Some(middle_slot) = root.middles.get_mut(top) else {
            return;
        };
        let middle = Arc::make_mut(middle_slot.get_or_insert_with(|| {
            Arc::new(Middle {
                leaves: [const { None }; FANOUT],
            })
        }));
        let Some(leaf_slot) = middle.leaves.get_mut(mid) else {
            return;
        };
        let mut entries: Vec<Entry> = leaf_slot
            .as_deref()
            .map(<[Entry]>::to_vec)
            .unwrap_or_default();
        let existing = entries
            .iter()
            .position(|e| e.hash == hash && NodeView::new(&e.node).name() == name);
        match existing {
            Some(index) => {
                if let Some(entry) = entries.get_mut(index) {
                    entry.node = node;
                }
            }
            None => {
                let at = entries.partition_point(|e| e.hash < hash);
                entries.insert(at, Entry { hash, node });
                self.len += 1;
            }
        }
        *leaf_slot = Some(entries.into());
    }

    /// Removes `name`; true when it was present.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        let hash = self.hash(name);
        let (top, mid) = Self::slots(hash);
        let present = self
            .root
            .middles
            .get(top)
            .and_then(Option::as_ref)
            .and_then(|m| m.leaves.get(mid))
            .and_then(Option::as_ref)
            .is_some_and(|leaf| {
                leaf.iter()
                    .any(|e| e.hash == hash && NodeView::new(&e.node).name() == name)
            });
        if !present {
            return false;
        }
        let root = Arc::make_mut(&mut self.root);
        let Some(Some(middle)) = root.middles.get_mut(top) else {
            return false;
        };
        let middle = Arc::make_mut(middle);
        let Some(leaf_slot) = middle.leaves.get_mut(mid) else {
            return false;
        };
        let remaining: Vec<Entry> = leaf_slot
            .iter()
            .flat_map(|leaf| leaf.iter())
            .filter(|e| !(e.hash == hash && NodeView::new(&e.node).name() == name))
            .cloned()
            .collect();
        *leaf_slot = if remaining.is_empty() {
            None
        } else {
            Some(remaining.into())
        };
        self.len -= 1;
        true
    }

    /// Every stored node, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = NodeView<'_>> {
        self.root
            .middles
            .iter()
            .flatten()
            .flat_map(|m| m.leaves.iter().flatten())
            .flat_map(|leaf| leaf.iter())
            .map(|e| NodeView::new(&e.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::node::encode_node;

    fn node(name: &[u8], zone: u16) -> Arc<[u8]> {
        encode_node(zone, name, &[]).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn wire(i: usize) -> Vec<u8> {
        let label = format!("host{i}");
        let mut w = vec![label.len() as u8];
        w.extend_from_slice(label.as_bytes());
        w.extend_from_slice(b"\x07example\x00");
        w
    }

    #[test]
    fn inserts_finds_replaces_and_removes() {
        let mut map = NameMap::new(42);
        for i in 0..5000 {
            map.insert(node(&wire(i), 1));
        }
        assert_eq!(map.len(), 5000);
        for i in 0..5000 {
            assert_eq!(map.get(&wire(i)).map(|n| n.name().to_vec()), Some(wire(i)));
        }
        assert!(map.get(&wire(5000)).is_none());
        map.insert(node(&wire(7), 9));
        assert_eq!(map.len(), 5000);
        assert_eq!(map.get(&wire(7)).map(|n| n.zone()), Some(9));
        assert!(map.remove(&wire(7)));
        assert!(!map.remove(&wire(7)));
        assert!(map.get(&wire(7)).is_none());
        assert_eq!(map.len(), 4999);
        assert_eq!(map.iter().count(), 4999);
    }

    #[test]
    fn old_versions_are_untouched_by_edits() {
        let mut v1 = NameMap::new(1);
        v1.insert(node(&wire(1), 1));
        let mut v2 = v1.clone();
        v2.insert(node(&wire(2), 2));
        v2.insert(node(&wire(1), 3));
        assert!(v1.get(&wire(2)).is_none());
        assert_eq!(v1.get(&wire(1)).map(|n| n.zone()), Some(1));
        assert_eq!(v2.get(&wire(1)).map(|n| n.zone()), Some(3));
        v2.remove(&wire(1));
        assert!(v1.get(&wire(1)).is_some());
    }

    #[test]
    fn an_edit_copies_only_its_path() {
        let mut v1 = NameMap::new(3);
        for i in 0..2000 {
            v1.insert(node(&wire(i), 1));
        }
        let mut v2 = v1.clone();
        v2.insert(node(&wire(0), 2));
        let shared_middles = v1
            .root
            .middles
            .iter()
            .zip(v2.root.middles.iter())
            .filter(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            })
            .count();
        let populated = v1.root.middles.iter().flatten().count();
        assert_eq!(shared_middles, populated - 1);
    }
}
