//! A compiled name: one allocation holding everything the engine needs to answer
//! for that name, already in wire format.
//!
//! Layout (big-endian):
//!
//! ```text
//! zone id   u16            index into the version's zone list
//! name_len  u8             length of the lowered wire name
//! name      [name_len]     lowered wire name: the lookup key
//! rrsets    u8             number of RRsets (0: an empty non-terminal)
//! per RRset:
//!   rtype   u16
//!   policy  u8             AnswerPolicy::to_byte
//!   count   u16            records in the set
//!   len     u16            bytes that follow
//!   records [len]          per record: type, class, ttl, rdlen, rdata (uncompressed)
//! ```
//!
//! The engine writes a record as a two-byte compression pointer to the owner name it
//! already holds in the response, then the record's bytes verbatim. Names inside
//! rdata stay uncompressed so a record is position-independent.

use std::sync::Arc;

use crate::record::AnswerPolicy;
use crate::record::RType;
use crate::wire::{read_u16, read_u32};

/// Size of type, class, ttl and rdlength before each record's rdata.
pub const RECORD_FIXED_LEN: usize = 10;
const CLASS_IN: u16 = 1;

/// Why a node could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("RRset {rtype} has {count} records (at most 65535)")]
    TooManyRecords { rtype: RType, count: usize },
    #[error("RRset {rtype} is {bytes} bytes (at most 65535)")]
    RRsetTooLarge { rtype: RType, bytes: usize },
    #[error("record of type {rtype} has {bytes} bytes of rdata (at most 65535)")]
    RDataTooLarge { rtype: RType, bytes: usize },
    #[error("a name holds at most 255 RRsets")]
    TooManyRRsets,
    #[error("name is not valid wire format")]
    BadName,
}

/// One RRset ready to encode: rdata in wire format, already filtered by health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRsetSpec {
    pub rtype: RType,
    pub ttl: u32,
    pub policy: AnswerPolicy,
    pub rdatas: Vec<Vec<u8>>,
}

/// Encodes a node. `name` must be lowered wire format.
pub fn encode_node(zone: u16, name: &[u8], rrsets: &[RRsetSpec]) -> Result<Arc<[u8]>, NodeError> {
    let name_len = u8::try_from(name.len()).map_err(|_| NodeError::BadName)?;
    let set_count = u8::try_from(rrsets.len()).map_err(|_| NodeError::TooManyRRsets)?;
    let mut out = Vec::with_capacity(4 + name.len() + rrsets.len() * 32);
    out.extend_from_slice(&zone.to_be_bytes());
    out.push(name_len);
    out.extend_from_slice(name);
    out.push(set_count);
    for set in rrsets {
        let count = u16::try_from(set.rdatas.len()).map_err(|_| NodeError::TooManyRecords {
            rtype: set.rtype,
            count: set.rdatas.len(),
        })?;
        let mut records = Vec::new();
        for rdata in &set.rdatas {
            let rdlen = u16::try_from(rdata.len()).map_err(|_| NodeError::RDataTooLarge {
                rtype: set.rtype,
                bytes: rdata.len(),
            })?;
            records.extend_from_slice(&set.rtype.0.to_be_bytes());
            records.extend_from_slice(&CLASS_IN.to_be_bytes());
            records.extend_from_slice(&set.ttl.to_be_bytes());
            records.extend_from_slice(&rdlen.to_be_bytes());
            records.extend_from_slice(rdata);
        }
        let len = u16::try_from(records.len()).map_err(|_| NodeError::RRsetTooLarge {
            rtype: set.rtype,
            bytes: records.len(),
        })?;
        out.extend_from_slice(&set.rtype.0.to_be_bytes());
        out.push(set.policy.to_byte());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&records);
    }
    Ok(out.into())
}

/// A read-only view of a compiled node. Every accessor is checked, so a corrupt
/// node yields `None`s, never a panic.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    bytes: &'a [u8],
}

impl<'a> NodeView<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        NodeView { bytes }
    }

    pub fn zone(&self) -> u16 {
        read_u16(self.bytes, 0).unwrap_or(u16::MAX)
    }

    /// The lowered wire name.
    pub fn name(&self) -> &'a [u8] {
        let len = usize::from(self.bytes.get(2).copied().unwrap_or(0));
        self.bytes.get(3..3 + len).unwrap_or_default()
    }

    /// True when the node owns no data (an empty non-terminal).
    pub fn is_empty(&self) -> bool {
        self.rrsets().next().is_none()
    }

    pub fn rrsets(&self) -> RRsets<'a> {
        let name_len = usize::from(self.bytes.get(2).copied().unwrap_or(0));
        let count_at = 3 + name_len;
        RRsets {
            bytes: self.bytes,
            at: count_at + 1,
            left: self.bytes.get(count_at).copied().unwrap_or(0),
        }
    }

    pub fn rrset(&self, rtype: u16) -> Option<RRsetView<'a>> {
        self.rrsets().find(|set| set.rtype == rtype)
    }
}

/// Iterator over a node's RRsets.
#[derive(Debug, Clone)]
pub struct RRsets<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u8,
}

impl<'a> Iterator for RRsets<'a> {
    type Item = RRsetView<'a>;
    fn next(&mut self) -> Option<RRsetView<'a>> {
        self.left = self.left.checked_sub(1)?;
        let at = self.at;
        let rtype = read_u16(self.bytes, at)?;
        let policy = AnswerPolicy::from_byte(*self.bytes.get(at + 2)?);
        let count = read_u16(self.bytes, at + 3)?;
        let len = usize::from(read_u16(self.bytes, at + 5)?);
        let records = self.bytes.get(at + 7..at + 7 + len)?;
        self.at = at + 7 + len;
        Some(RRsetView {
            rtype,
            policy,
            count,
            records,
        })
    }
}

/// One compiled RRset.
#[derive(Debug, Clone, Copy)]
pub struct RRsetView<'a> {
    pub rtype: u16,
    pub policy: AnswerPolicy,
    pub count: u16,
    records: &'a [u8],
}

impl<'a> RRsetView<'a> {
    /// The records, each as the bytes to copy after an owner name.
    pub fn records(&self) -> Records<'a> {
        Records {
            bytes: self.records,
            at: 0,
        }
    }

    /// Record number `index`.
    pub fn record(&self, index: usize) -> Option<RecordView<'a>> {
        self.records().nth(index)
    }
}

/// Iterator over the records of an RRset.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordView<'a>;
    fn next(&mut self) -> Option<RecordView<'a>> {
        let rdlen = usize::from(read_u16(self.bytes, self.at + 8)?);
        let end = self.at + RECORD_FIXED_LEN + rdlen;
        let bytes = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(RecordView { bytes })
    }
}

/// One compiled record: type, class, ttl, rdlength and rdata.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub bytes: &'a [u8],
}

impl<'a> RecordView<'a> {
    pub fn rdata(&self) -> &'a [u8] {
        self.bytes.get(RECORD_FIXED_LEN..).unwrap_or_default()
    }

    pub fn ttl(&self) -> u32 {
        read_u32(self.bytes, 4).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_reads_back() {
        let sets = [
            RRsetSpec {
                rtype: RType::A,
                ttl: 30,
                policy: AnswerPolicy::HoneOne,
                rdatas: vec![vec![10, 0, 0, 1], vec![10, 0, 0, 2]],
            },
            RRsetSpec {
                rtype: RType::TXT,
                ttl: 60,
                policy: AnswerPolicy::RoundRobin,
                rdatas: vec![b"\x02hi".to_vec()],
            },
        ];
        let blob = encode_node(7, b"\x03web\x00", &sets).unwrap_or_else(|e| unreachable!("{e}"));
        let node = NodeView::new(&blob);
        assert_eq!(node.zone(), 7);
        assert_eq!(node.name(), b"\x03web\x00");
        let a = node.rrset(1).unwrap_or_else(|| unreachable!());
        assert_eq!((a.count, a.policy), (2, AnswerPolicy::HoneOne));
        let rdatas: Vec<&[u8]> = a.records().map(|r| r.rdata()).collect();
        assert_eq!(rdatas, [&[10, 0, 0, 1][..], &[10, 0, 0, 2][..]]);
        assert_eq!(a.record(1).map(|r| r.ttl()), Some(30));
        assert_eq!(
            node.rrset(16).and_then(|s| s.record(0)).map(|r| r.bytes),
            Some(&b"\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x03\x02hi"[..])
        );
        assert!(node.rrset(28).is_none());
        assert!(!node.is_empty());
    }

    #[test]
    fn empty_non_terminals_and_corrupt_nodes_are_safe() {
        let blob = encode_node(0, b"\x01b\x00", &[]).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(NodeView::new(&blob).is_empty());
        for cut in 0..blob.len() {
            let node = NodeView::new(&blob[..cut]);
            assert!(node.rrsets().count() <= 1);
        }
        let garbage = NodeView::new(&[0xff; 9]);
        assert!(garbage.rrsets().all(|s| s.records().count() < 10));
    }

    #[test]
    fn refuses_oversized_sets() {
        let set = RRsetSpec {
            rtype: RType::TXT,
            ttl: 1,
            policy: AnswerPolicy::RoundRobin,
            rdatas: vec![vec![0; 70_000]],
        };
        assert!(matches!(
            encode_node(0, b"\x00", &[set]),
            Err(NodeError::RDataTooLarge { .. })
        ));
    }
}
