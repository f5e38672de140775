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
//! A name is hashed as it is in the message, lowered eight bytes at a time on
//! the way ([`hash_lowered`]), and copied (lowered) only when it takes a slot,
//! so a name already counted costs no copy.
//!
//! A poll loop counts into one table for about a second, then hands it to the
//! control plane and counts into a fresh one (`super::QueryObserver`); the
//! control plane merges the tables it is handed into its totals and gives them
//! back cleared.

use crate::name::{MAX_LABEL_LEN, MAX_NAME_LEN};
use crate::wire::HEADER_LEN;

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
    /// Counts one query for `name` (wire form, in any case) whose
    /// lowered hash (`hash_lowered`) is `hash`, at `now` (Unix seconds).
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
        for (out, byte) in bytes.iter_mut().zip(name) {
            *out = byte.to_ascii_lowercase();
        }
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

/// The name of the question of `message` as it is written (its case kept):
/// `None` without exactly a readable, uncompressed one.
#[inline]
pub(super) fn question_name(message: &[u8]) -> Option<&[u8]> {
    const QDCOUNT: usize = 4;
    if message.get(QDCOUNT..QDCOUNT + 2)? != [0, 1] {
        return None;
    }
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            break;
        }
        if len > MAX_LABEL_LEN {
            return None;
        }
        at += 1 + len;
        if at - HEADER_LEN >= MAX_NAME_LEN {
            return None;
        }
    }
    message.get(HEADER_LEN..=at)
}

/// A hash of `name` with ASCII letters lowered, taken eight bytes at a time
/// (FxHash's multiply and rotate); lowering a whole word at once is correct
/// for wire names because their length bytes (at most 63) are never letters.
#[inline]
pub(super) fn hash_lowered(name: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = name.len() as u64;
    let mut words = name.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        hash = (hash.rotate_left(5) ^ lower8(u64::from_le_bytes(bytes))).wrapping_mul(K);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut bytes = [0u8; 8];
        if let Some(head) = bytes.get_mut(..tail.len()) {
            head.copy_from_slice(tail);
        }
        hash = (hash.rotate_left(5) ^ lower8(u64::from_le_bytes(bytes))).wrapping_mul(K);
    }
    hash
}

/// The eight bytes of `word` with `A`..=`Z` lowered: a byte is an upper-case
/// letter when its low seven bits are at least `A` and not past `Z` and its
/// high bit is clear; such a byte gets 0x20.
#[inline]
fn lower8(word: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let seven = word & !HIGH;
    let from_a = seven.wrapping_add(0x3f3f_3f3f_3f3f_3f3f);
    let past_z = seven.wrapping_add(0x2525_2525_2525_2525);
    let upper = from_a & !past_z & !word & HIGH;
    word | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_is_lowered_as_ascii_lowers_it() {
        for start in (0..=255u8).step_by(8) {
            let bytes: [u8; 8] = std::array::from_fn(|i| start.wrapping_add(i as u8));
            let lowered = lower8(u64::from_le_bytes(bytes)).to_le_bytes();
            assert_eq!(lowered, bytes.map(|b| b.to_ascii_lowercase()), "{bytes:?}");
        }
    }

    #[test]
    fn names_hash_alike_whatever_their_case_and_question_names_are_checked() {
        let lower = b"\x03web\x07example\x04test\x00";
        let mixed = b"\x03WeB\x07Example\x04TEST\x00";
        assert_eq!(hash_lowered(lower), hash_lowered(mixed));
        assert_ne!(
            hash_lowered(lower),
            hash_lowered(b"\x03web\x07example\x04tesu\x00")
        );
        let mut message = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        message.extend_from_slice(mixed);
        message.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(question_name(&message), Some(&mixed[..]));
        message[5] = 2;
        assert_eq!(question_name(&message), None, "two questions");
        message[5] = 1;
        message[12] = 0xc0;
        assert_eq!(question_name(&message), None, "a pointer");
    }

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
