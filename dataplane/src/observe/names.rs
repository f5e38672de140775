//! The names a poll loop was asked, counted in a fixed-size table: a sketch of
//! the heavy hitters, with the first and last second each name was seen.
//!
//! The table is set-associative: a name's hash picks one set of
//! [`NAME_WAYS`] slots, and the name is counted in the slot holding its hash,
//! else in a free slot of the set, else in the slot of the set with the lowest
//! count, which it takes over starting from 1. So one query costs a hash, a
//! look at [`NAME_WAYS`] hashes (one cache line) and an increment; nothing is
//! allocated after the table is made, and no count is ever over-estimated: a
//! name that loses its slot to another loses the counts of this interval
//! (a light name, since the heaviest of a set are kept), and only when more
//! than [`NAME_WAYS`] names of one set are asked in one interval.
//!
//! A poll loop counts into one table for about a second, then hands it to the
//! control plane and counts into a fresh one (`super::QueryObserver`); the
//! control plane merges the tables it is handed into its totals and gives them
//! back cleared.

use crate::name::MAX_NAME_LEN;

/// Slots per set: one cache line of hashes.
pub const NAME_WAYS: usize = 8;
/// Sets per table.
pub const NAME_SETS: usize = 128;
/// Names one table holds.
pub const NAME_SLOTS: usize = NAME_WAYS * NAME_SETS;

/// One table of names and counts, plus the interval's totals.
#[derive(Clone)]
pub struct NameSketch {
    hashes: Box<[u64]>,
    /// 0: a free slot.
    counts: Box<[u64]>,
    /// Unix seconds of the first and last query of each slot's name.
    first: Box<[u32]>,
    last: Box<[u32]>,
    /// Each slot's lowered wire name: its length, then its bytes.
    names: Box<[[u8; MAX_NAME_LEN + 1]]>,
    /// Queries seen in the interval (named or not).
    pub queries: u64,
    /// Local answers NOERROR without an answer record (NODATA).
    pub nodata: u64,
}

impl std::fmt::Debug for NameSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameSketch")
            .field("queries", &self.queries)
            .field("names", &self.entries().count())
            .finish_non_exhaustive()
    }
}

impl Default for NameSketch {
    fn default() -> Self {
        NameSketch {
            hashes: vec![0; NAME_SLOTS].into_boxed_slice(),
            counts: vec![0; NAME_SLOTS].into_boxed_slice(),
            first: vec![0; NAME_SLOTS].into_boxed_slice(),
            last: vec![0; NAME_SLOTS].into_boxed_slice(),
            names: vec![[0; MAX_NAME_LEN + 1]; NAME_SLOTS].into_boxed_slice(),
            queries: 0,
            nodata: 0,
        }
    }
}

/// One counted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameCount<'a> {
    /// The lowered wire name.
    pub name: &'a [u8],
    pub count: u64,
    /// Unix seconds of its first and last query in the interval.
    pub first: u32,
    pub last: u32,
}

impl NameSketch {
    /// Counts one query for `name` (lowered wire form) whose hash is `hash`,
    /// at `now` (Unix seconds).
    #[inline]
    pub fn count(&mut self, hash: u64, name: &[u8], now: u32) {
        let set = (hash as usize % NAME_SETS) * NAME_WAYS;
        let (Some(hashes), Some(counts)) = (
            self.hashes.get(set..set + NAME_WAYS),
            self.counts.get(set..set + NAME_WAYS),
        ) else {
            return;
        };
        let mut victim = 0;
        let mut least = u64::MAX;
        for (way, (&h, &count)) in hashes.iter().zip(counts).enumerate() {
            if h == hash && count != 0 {
                self.hit(set + way, now);
                return;
            }
            if count < least {
                least = count;
                victim = way;
            }
        }
        self.take(set + victim, hash, name, now);
    }

    #[inline]
    fn hit(&mut self, slot: usize, now: u32) {
        if let (Some(count), Some(last)) = (self.counts.get_mut(slot), self.last.get_mut(slot)) {
            *count += 1;
            *last = now;
        }
    }

    /// Gives `slot` to `name`, counted once.
    fn take(&mut self, slot: usize, hash: u64, name: &[u8], now: u32) {
        let (Some(h), Some(count), Some(first), Some(last), Some(stored)) = (
            self.hashes.get_mut(slot),
            self.counts.get_mut(slot),
            self.first.get_mut(slot),
            self.last.get_mut(slot),
            self.names.get_mut(slot),
        ) else {
            return;
        };
        let len = name.len().min(MAX_NAME_LEN);
        let Some((len_byte, bytes)) = stored.split_first_mut() else {
            return;
        };
        let (Some(bytes), Some(name)) = (bytes.get_mut(..len), name.get(..len)) else {
            return;
        };
        *len_byte = len as u8;
        bytes.copy_from_slice(name);
        *h = hash;
        *count = 1;
        *first = now;
        *last = now;
    }

    /// Every counted name, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = NameCount<'_>> {
        self.counts
            .iter()
            .zip(self.names.iter())
            .zip(self.first.iter().zip(self.last.iter()))
            .filter(|((count, _), _)| **count != 0)
            .map(|((&count, stored), (&first, &last))| {
                let len = usize::from(stored.first().copied().unwrap_or(0));
                NameCount {
                    name: stored.get(1..=len).unwrap_or_default(),
                    count,
                    first,
                    last,
                }
            })
    }

    /// Forgets every name and total, for the next interval.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.queries = 0;
        self.nodata = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(sketch: &NameSketch) -> Vec<(Vec<u8>, u64, u32, u32)> {
        let mut all: Vec<_> = sketch
            .entries()
            .map(|e| (e.name.to_vec(), e.count, e.first, e.last))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn names_are_counted_with_their_first_and_last_second() {
        let mut sketch = NameSketch::default();
        sketch.count(7, b"\x01a\x00", 100);
        sketch.count(9, b"\x01b\x00", 101);
        sketch.count(7, b"\x01a\x00", 105);
        assert_eq!(
            counted(&sketch),
            vec![
                (b"\x01a\x00".to_vec(), 2, 100, 105),
                (b"\x01b\x00".to_vec(), 1, 101, 101)
            ]
        );
        sketch.clear();
        assert!(counted(&sketch).is_empty());
    }

    #[test]
    fn a_full_set_gives_its_least_counted_slot_to_a_new_name() {
        let mut sketch = NameSketch::default();
        // Hashes that all fall into set 0.
        let hash = |i: u64| i * NAME_SETS as u64;
        for i in 1..=NAME_WAYS as u64 {
            for _ in 0..i + 1 {
                sketch.count(hash(i), &[1, b'a' + i as u8, 0], 1);
            }
        }
        sketch.count(hash(99), b"\x01z\x00", 2);
        let all = counted(&sketch);
        assert_eq!(all.len(), NAME_WAYS);
        // The name counted twice (i = 1) made room; nothing is over-counted.
        assert!(!all.iter().any(|(name, ..)| name == b"\x01b\x00"));
        assert!(all.contains(&(b"\x01z\x00".to_vec(), 1, 2, 2)));
        assert!(all.iter().all(|(name, count, ..)| {
            name == b"\x01z\x00" || *count == u64::from(name[1] - b'a') + 1
        }));
    }

    #[test]
    fn names_of_every_length_fit() {
        let mut sketch = NameSketch::default();
        let long = vec![b'x'; MAX_NAME_LEN];
        sketch.count(1, &long, 1);
        assert_eq!(counted(&sketch)[0].0, long);
    }
}
