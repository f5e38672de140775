//! The cache of forwarded answers: at most `capacity` entries, least recently used
//! evicted first, each entry living as long as its TTL.
//!
//! An entry is a [`Prepared`] answer (already scrubbed and encoded) and the time it
//! was stored; serving it decreases every TTL by the whole seconds since then, and
//! an entry is never served once its TTL has run out. Positive answers live for
//! their smallest TTL capped at `max_ttl`; negative answers (NXDOMAIN, NODATA) for
//! `min(SOA TTL, SOA MINIMUM)` capped at `max_negative_ttl` (RFC 2308 §5), and are
//! not cached at all without an SOA. What to store is decided by the forwarder;
//! this is the container: a hash map over a slab of nodes linked in recency order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodns_dataplane::record::RType;

use super::message::Prepared;

/// What an answer is cached under. DO and CD change what an upstream returns, so
/// they are part of the key; the name is lowered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) qname: Vec<u8>,
    pub(crate) qtype: RType,
    pub(crate) qclass: u16,
    pub(crate) dnssec_ok: bool,
    pub(crate) checking_disabled: bool,
}

const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Node {
    key: Key,
    answer: Arc<Prepared>,
    stored: Instant,
    expires: Instant,
    prev: usize,
    next: usize,
}

/// A bounded LRU of answers with expiry.
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: usize,
    map: HashMap<Key, usize>,
    nodes: Vec<Node>,
    free: Vec<usize>,
    /// Most recently used.
    head: usize,
    /// Least recently used: evicted first.
    tail: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            map: HashMap::with_capacity(capacity.min(1 << 16)),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The answer for `key` and the whole seconds it has spent in the cache, if
    /// it is there and not expired (an expired entry is removed).
    pub(crate) fn get(&mut self, key: &Key, now: Instant) -> Option<(Arc<Prepared>, u32)> {
        let index = *self.map.get(key)?;
        let node = self.nodes.get(index)?;
        if now >= node.expires {
            self.remove(index);
            return None;
        }
        let elapsed = now.saturating_duration_since(node.stored).as_secs();
        let answer = Arc::clone(&node.answer);
        self.unlink(index);
        self.push_front(index);
        Some((answer, u32::try_from(elapsed).unwrap_or(u32::MAX)))
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        *self = Cache::new(self.capacity);
    }

    /// Drops the entry for `key`, if any.
    pub(crate) fn forget(&mut self, key: &Key) {
        if let Some(&index) = self.map.get(key) {
            self.remove(index);
        }
    }

    /// Stores `answer` for `ttl` seconds (0: not stored), replacing any entry
    /// for `key` and evicting the least recently used one when full.
    pub(crate) fn insert(&mut self, key: Key, answer: Arc<Prepared>, ttl: u32, now: Instant) {
        if self.capacity == 0 || ttl == 0 {
            return;
        }
        if let Some(&index) = self.map.get(&key) {
            self.remove(index);
        }
        if self.map.len() >= self.capacity && self.tail != NIL {
            self.remove(self.tail);
        }
        let node = Node {
            key: key.clone(),
            answer,
            stored: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
            prev: NIL,
            next: NIL,
        };
        let index = match self.free.pop() {
            Some(index) => {
                if let Some(slot) = self.nodes.get_mut(index) {
                    *slot = node;
                }
                index
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.push_front(index);
        self.map.insert(key, index);
    }

    fn remove(&mut self, index: usize) {
        self.unlink(index);
        if let Some(node) = self.nodes.get(index) {
            self.map.remove(&node.key);
        }
        self.free.push(index);
    }

    fn unlink(&mut self, index: usize) {
        let Some((prev, next)) = self.nodes.get(index).map(|n| (n.prev, n.next)) else {
            return;
        };
        match self.nodes.get_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.nodes.get_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(node) = self.nodes.get_mut(index) {
            node.prev = NIL;
            node.next = NIL;
        }
    }

    fn push_front(&mut self, index: usize) {
        let old_head = self.head;
        if let Some(node) = self.nodes.get_mut(index) {
            node.prev = NIL;
            node.next = old_head;
        }
        match self.nodes.get_mut(old_head) {
            Some(h) => h.prev = index,
            None => self.tail = index,
        }
        self.head = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::message::tests::{a, wire};
    use ferrodns_dataplane::engine::CLASS_IN;
    use ferrodns_dataplane::wire::Rcode;

    fn key(name: &str) -> Key {
        Key {
            qname: wire(name),
            qtype: RType::A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    fn answer(name: &str) -> Arc<Prepared> {
        let records = [a(name, 60, [10, 0, 0, 1])];
        Arc::new(
            Prepared::build(
                &wire(name),
                RType::A,
                CLASS_IN,
                Rcode::NoError,
                [&records, &[], &[]],
            )
            .unwrap(),
        )
    }

    #[test]
    fn entries_live_for_their_ttl() {
        let mut cache = Cache::new(10);
        let t0 = Instant::now();
        cache.insert(key("a.test."), answer("a.test."), 30, t0);
        let (_, elapsed) = cache
            .get(&key("a.test."), t0 + Duration::from_millis(12_500))
            .unwrap();
        assert_eq!(elapsed, 12);
        assert!(
            cache
                .get(&key("a.test."), t0 + Duration::from_secs(30))
                .is_none()
        );
        assert_eq!(cache.len(), 0, "expired entry removed");
        // TTL 0 is never stored; DO is part of the key.
        cache.insert(key("b.test."), answer("b.test."), 0, t0);
        assert!(cache.get(&key("b.test."), t0).is_none());
        cache.insert(key("c.test."), answer("c.test."), 5, t0);
        let mut with_do = key("c.test.");
        with_do.dnssec_ok = true;
        assert!(cache.get(&with_do, t0).is_none());
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted() {
        let mut cache = Cache::new(3);
        let t0 = Instant::now();
        for name in ["a.test.", "b.test.", "c.test."] {
            cache.insert(key(name), answer(name), 60, t0);
        }
        // Touch a: b is now the oldest.
        assert!(cache.get(&key("a.test."), t0).is_some());
        cache.insert(key("d.test."), answer("d.test."), 60, t0);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&key("b.test."), t0).is_none());
        for name in ["a.test.", "c.test.", "d.test."] {
            assert!(cache.get(&key(name), t0).is_some(), "{name}");
        }
        // Replacing an entry does not grow the cache.
        cache.insert(key("d.test."), answer("d.test."), 60, t0);
        assert_eq!(cache.len(), 3);
        // Many more than the capacity: never more than 3, slots reused.
        for i in 0..1000 {
            let name = format!("n{i}.test.");
            cache.insert(key(&name), answer(&name), 60, t0);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.nodes.len() <= 4, "{}", cache.nodes.len());
        assert!(cache.get(&key("n999.test."), t0).is_some());
        assert!(Cache::new(0).map.is_empty());
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let mut cache = Cache::new(0);
        let t0 = Instant::now();
        cache.insert(key("a.test."), answer("a.test."), 60, t0);
        assert!(cache.get(&key("a.test."), t0).is_none());
    }
}
