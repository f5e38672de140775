//! A persistent hash map from lowered wire names to compiled nodes.
//!
//! The map is a fixed two-level radix trie over a 64-bit keyed hash: the top 8 bits
//! pick one of 256 middle nodes, the next 8 bits one of 256 leaves. A leaf is one
//! allocation that holds its names' hashes, sorted, and then the compiled nodes
//! themselves:
//!
//! ```text
//! count   u32, then 4 bytes of padding (keeps the hashes 8-aligned)
//! hashes  [u64; count]    ascending
//! ends    [u32; count]    where each node ends, counted from the start of `nodes`
//! nodes   the nodes' bytes, back to back, in hash order
//! ```
//!
//! At a million names a leaf holds about 15 names, so a lookup is a hash, two loads
//! through the trie, a scan of two cache lines of hashes and a read of the node in
//! that same allocation. (Leaves of pointers to separately allocated nodes cost one
//! more dependent cache miss per lookup, and a node allocation's header, reference
//! counts and rounding were a third of a node's size.)
//!
//! Every level sits behind an `Arc`. Changing a name copies only its path — the
//! 256-slot root, one 256-slot middle node and one leaf with its nodes, a few
//! kilobytes — and shares everything else with the previous version
//! (`Arc::make_mut` copies a level only when an older version still holds it, so a
//! batch of edits copies each root and middle once). Readers of older versions are
//! never disturbed.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::node::NodeView;

const FANOUT: usize = 256;
/// Count and padding before a leaf's hashes.
const LEAF_HEADER: usize = 8;
const HASH_LEN: usize = 8;
const END_LEN: usize = 4;

/// A leaf in the layout above.
type Leaf = Arc<[u8]>;

#[derive(Debug, Clone)]
struct Middle {
    leaves: [Option<Leaf>; FANOUT],
}

#[derive(Debug, Clone)]
struct Root {
    middles: [Option<Arc<Middle>>; FANOUT],
}

/// Checked reads of a leaf. A malformed leaf (never built by this module) reads as
/// fewer entries, never a panic.
#[derive(Debug, Clone, Copy)]
struct LeafView<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> LeafView<'a> {
    #[inline]
    fn new(bytes: &'a [u8]) -> Self {
        let count = bytes
            .first_chunk::<4>()
            .map_or(0, |count| u32::from_ne_bytes(*count) as usize);
        LeafView { bytes, count }
    }

    #[inline]
    fn hash(&self, index: usize) -> Option<u64> {
        let at = LEAF_HEADER + HASH_LEN * index;
        let bytes = self
            .bytes
            .get(at..at + HASH_LEN)?
            .first_chunk::<HASH_LEN>()?;
        Some(u64::from_ne_bytes(*bytes))
    }

    #[inline]
    fn end(&self, index: usize) -> Option<usize> {
        let at = LEAF_HEADER + HASH_LEN * self.count + END_LEN * index;
        let bytes = self.bytes.get(at..at + END_LEN)?.first_chunk::<END_LEN>()?;
        Some(u32::from_ne_bytes(*bytes) as usize)
    }

    /// The bytes of node number `index`.
    #[inline]
    fn node(&self, index: usize) -> Option<&'a [u8]> {
        let nodes_at = LEAF_HEADER + (HASH_LEN + END_LEN) * self.count;
        let start = match index.checked_sub(1) {
            Some(previous) => self.end(previous)?,
            None => 0,
        };
        let end = self.end(index)?;
        self.bytes.get(nodes_at + start..nodes_at + end)
    }

    fn entries(self) -> impl Iterator<Item = (u64, &'a [u8])> {
        (0..self.count).map_while(move |index| Some((self.hash(index)?, self.node(index)?)))
    }

    #[inline]
    fn find(&self, hash: u64, name: &[u8]) -> Option<NodeView<'a>> {
        for index in 0..self.count {
            let here = self.hash(index)?;
            if here == hash {
                let node = NodeView::new(self.node(index)?);
                if node.name() == name {
                    return Some(node);
                }
            } else if here > hash {
                return None;
            }
        }
        None
    }
}

/// Lays `entries` (sorted by hash) out as a leaf; `None` past 4 GiB.
fn build_leaf(entries: &[(u64, &[u8])]) -> Option<Leaf> {
    let count = u32::try_from(entries.len()).ok()?;
    let node_bytes: usize = entries.iter().map(|(_, node)| node.len()).sum();
    let mut out =
        Vec::with_capacity(LEAF_HEADER + (HASH_LEN + END_LEN) * entries.len() + node_bytes);
    out.extend_from_slice(&count.to_ne_bytes());
    out.extend_from_slice(&[0; LEAF_HEADER - 4]);
    for (hash, _) in entries {
        out.extend_from_slice(&hash.to_ne_bytes());
    }
    let mut end = 0usize;
    for (_, node) in entries {
        end += node.len();
        out.extend_from_slice(&u32::try_from(end).ok()?.to_ne_bytes());
    }
    for (_, node) in entries {
        out.extend_from_slice(node);
    }
    Some(out.into())
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

    #[inline]
    fn leaf(&self, top: usize, mid: usize) -> Option<LeafView<'_>> {
        let middle = self.root.middles.get(top)?.as_ref()?;
        let leaf = middle.leaves.get(mid)?.as_ref()?;
        Some(LeafView::new(leaf))
    }

    /// The node stored for `name` (lowered wire format).
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<NodeView<'_>> {
        let hash = self.hash(name);
        let (top, mid) = Self::slots(hash);
        self.leaf(top, mid)?.find(hash, name)
    }

    /// Stores `node` under its own name, replacing what was there. The node's bytes
    /// are copied into its leaf.
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
        let mut added = false;
        let leaf = {
            let mut entries: Vec<(u64, &[u8])> = leaf_slot
                .as_deref()
                .map(LeafView::new)
                .into_iter()
                .flat_map(LeafView::entries)
                .collect();
            let existing = entries
                .iter()
                .position(|&(h, bytes)| h == hash && NodeView::new(bytes).name() == name);
            match existing.and_then(|index| entries.get_mut(index)) {
                Some(entry) => entry.1 = &node,
                None => {
                    let at = entries.partition_point(|&(h, _)| h < hash);
                    entries.insert(at, (hash, &node));
                    added = true;
                }
            }
            build_leaf(&entries)
        };
        if let Some(leaf) = leaf {
            *leaf_slot = Some(leaf);
            if added {
                self.len += 1;
            }
        }
    }

    /// Removes `name`; true when it was present.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        let hash = self.hash(name);
        let (top, mid) = Self::slots(hash);
        if self
            .leaf(top, mid)
            .and_then(|leaf| leaf.find(hash, name))
            .is_none()
        {
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
        let remaining = {
            let entries: Vec<(u64, &[u8])> = leaf_slot
                .as_deref()
                .map(LeafView::new)
                .into_iter()
                .flat_map(LeafView::entries)
                .filter(|&(h, bytes)| !(h == hash && NodeView::new(bytes).name() == name))
                .collect();
            if entries.is_empty() {
                None
            } else {
                match build_leaf(&entries) {
                    Some(leaf) => Some(leaf),
                    None => return false,
                }
            }
        };
        *leaf_slot = remaining;
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
            .flat_map(|leaf| LeafView::new(leaf).entries())
            .map(|(_, bytes)| NodeView::new(bytes))
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
    fn leaves_find_colliding_hashes_and_survive_garbage() {
        let (a, b, c) = (node(&wire(1), 1), node(&wire(2), 2), node(&wire(3), 3));
        let leaf = build_leaf(&[(5, &a), (7, &b), (7, &c)]).unwrap_or_else(|| unreachable!());
        let view = LeafView::new(&leaf);
        assert_eq!(view.find(7, &wire(3)).map(|n| n.zone()), Some(3));
        assert_eq!(view.find(7, &wire(2)).map(|n| n.zone()), Some(2));
        assert_eq!(view.find(5, &wire(1)).map(|n| n.zone()), Some(1));
        assert!(view.find(6, &wire(1)).is_none());
        assert!(view.find(9, &wire(3)).is_none());
        assert_eq!(view.entries().count(), 3);
        for cut in 0..leaf.len() {
            let view = LeafView::new(&leaf[..cut]);
            assert!(view.entries().count() < 3);
            let _ = view.find(7, &wire(3));
        }
        let garbage = LeafView::new(&[0xff; 40]);
        assert!(garbage.find(0, &wire(1)).is_none());
        assert_eq!(garbage.entries().count(), 0);
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
