//! The records of one name, as every source gave them, in a compact wire form.
//!
//! The publisher keeps every record it was given for as long as its source holds
//! it (a health flip, another source's edit at the same name or a re-sent zone
//! needs them), so their form decides the control plane's memory at a million
//! names. A `Vec<Record>` per name costs well over a hundred bytes per record
//! (the owner name again in every record, the widest `RData` variant, two
//! allocations); here a name's records are one allocation:
//!
//! ```text
//! slot*   = source tag (u8) ‖ record count (u16 BE) ‖ record*
//! record  = rtype (u16 BE) ‖ ttl (u32 BE) ‖ rdlength (u16 BE) ‖ rdata (uncompressed)
//! ```
//!
//! Slots come in [`SourceId`] order, at most one per source. The owner is the key
//! the blob is stored under, so it is not repeated. Records are decoded back into
//! [`Record`]s only when the name is compiled.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};

use super::SourceId;

const SLOT_HEADER: usize = 3;
const RECORD_HEADER: usize = 8;

/// Most records one source can hold at one name.
const MAX_RECORDS: usize = u16::MAX as usize;

/// Why a record was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Unstorable {
    #[error("its rdata is over 65535 octets or does not survive the wire format")]
    Wire,
    #[error("its name already holds 65535 records from this source")]
    TooMany,
}

/// Every source's records at one name; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredRecords {
    blob: Box<[u8]>,
}

impl StoredRecords {
    /// `current` (or nothing) with `source`'s records replaced by `records`
    /// (`None` when no source holds anything at the name afterwards), and the
    /// records that could not be kept, each with the reason.
    pub(super) fn with_slot<'a>(
        current: Option<&StoredRecords>,
        source: SourceId,
        records: &'a [Record],
    ) -> (Option<StoredRecords>, Vec<(&'a Record, Unstorable)>) {
        let mut blob = Vec::new();
        let mut refused = Vec::new();
        let mut placed = records.is_empty();
        for (tag, slot) in current.into_iter().flat_map(StoredRecords::slots) {
            if !placed && tag > source.tag() {
                push_slot(&mut blob, source, records, &mut refused);
                placed = true;
            }
            if tag != source.tag() {
                blob.extend_from_slice(slot);
            }
        }
        if !placed {
            push_slot(&mut blob, source, records, &mut refused);
        }
        let stored = (!blob.is_empty()).then(|| StoredRecords { blob: blob.into() });
        (stored, refused)
    }

    /// How many records every source holds here.
    pub(super) fn count(&self) -> usize {
        self.slots()
            .filter_map(|(_, slot)| slot.get(1..SLOT_HEADER))
            .map(|count| usize::from(u16::from_be_bytes([count[0], count[1]])))
            .sum()
    }

    /// Whether `source` holds records here.
    pub(super) fn has(&self, source: SourceId) -> bool {
        self.slots().any(|(tag, _)| tag == source.tag())
    }

    /// The records, owned by `owner`, in source order.
    pub(super) fn records(&self, owner: &Name) -> Vec<Record> {
        self.raw()
            .filter_map(|(rtype, ttl, rdata)| {
                Some(Record::new(
                    owner.clone(),
                    ttl,
                    RData::decode(rtype, rdata)?,
                ))
            })
            .collect()
    }

    /// The records, owned by `owner`, each with the source that gave it, in
    /// source order.
    pub(super) fn records_by_source(&self, owner: &Name) -> Vec<(SourceId, Record)> {
        self.slots()
            .filter_map(|(tag, slot)| Some((SourceId::from_tag(tag)?, slot)))
            .flat_map(|(source, slot)| {
                raw_records(slot.get(SLOT_HEADER..).unwrap_or_default()).filter_map(
                    move |(rtype, ttl, rdata)| {
                        let data = RData::decode(rtype, rdata)?;
                        Some((source, Record::new(owner.clone(), ttl, data)))
                    },
                )
            })
            .collect()
    }

    /// The addresses of the A and AAAA records, without decoding the rest.
    pub(super) fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.raw().filter_map(|(rtype, _, rdata)| match rtype {
            RType::A => <[u8; 4]>::try_from(rdata)
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            RType::AAAA => <[u8; 16]>::try_from(rdata)
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        })
    }

    /// Each slot's source tag and bytes (header included).
    fn slots(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut rest: &[u8] = &self.blob;
        std::iter::from_fn(move || {
            let (&tag, after) = rest.split_first()?;
            let (count, mut body) = after.split_first_chunk::<2>()?;
            let mut len = SLOT_HEADER;
            for _ in 0..u16::from_be_bytes(*count) {
                let rdlength = body.get(6..8)?;
                let size =
                    RECORD_HEADER + usize::from(u16::from_be_bytes([rdlength[0], rdlength[1]]));
                body = body.get(size..)?;
                len += size;
            }
            let (slot, next) = rest.split_at_checked(len)?;
            rest = next;
            Some((tag, slot))
        })
    }

    /// Every record as (type, TTL, rdata), in order.
    fn raw(&self) -> impl Iterator<Item = (RType, u32, &[u8])> {
        self.slots()
            .flat_map(|(_, slot)| raw_records(slot.get(SLOT_HEADER..).unwrap_or_default()))
    }
}

/// The records of one slot's body as (type, TTL, rdata).
fn raw_records(mut body: &[u8]) -> impl Iterator<Item = (RType, u32, &[u8])> {
    std::iter::from_fn(move || {
        let (rtype, after) = body.split_first_chunk::<2>()?;
        let (ttl, after) = after.split_first_chunk::<4>()?;
        let (rdlength, after) = after.split_first_chunk::<2>()?;
        let (rdata, next) = after.split_at_checked(usize::from(u16::from_be_bytes(*rdlength)))?;
        body = next;
        Some((
            RType(u16::from_be_bytes(*rtype)),
            u32::from_be_bytes(*ttl),
            rdata,
        ))
    })
}

/// Appends `source`'s slot; a record that cannot be kept is left out and listed
/// in `refused`, and a record the slot already holds (same type, TTL and data:
/// the apex SOA a remote backend repeats once per name server, say) is left out
/// silently. A slot with no record left is not written.
fn push_slot<'a>(
    blob: &mut Vec<u8>,
    source: SourceId,
    records: &'a [Record],
    refused: &mut Vec<(&'a Record, Unstorable)>,
) {
    let start = blob.len();
    blob.push(source.tag());
    blob.extend_from_slice(&[0, 0]);
    let mut count = 0usize;
    let mut kept = KeptRecords::default();
    for record in records {
        if count == MAX_RECORDS {
            refused.push((record, Unstorable::TooMany));
            continue;
        }
        let at = blob.len();
        match push_record(blob, record) {
            Ok(()) if kept.insert(blob, at) => count += 1,
            Ok(()) => blob.truncate(at),
            Err(why) => refused.push((record, why)),
        }
    }
    if count == 0 {
        blob.truncate(start);
    } else if let Some(field) = blob.get_mut(start + 1..start + SLOT_HEADER) {
        // `count` is at most MAX_RECORDS.
        field.copy_from_slice(&(count as u16).to_be_bytes());
    }
}

/// The records a slot holds so far, to leave out repeats: a linear scan while
/// there are few (the usual case: a name holds a handful), a hash set beyond.
#[derive(Default)]
struct KeptRecords {
    ranges: Vec<std::ops::Range<usize>>,
    many: Option<HashSet<Box<[u8]>>>,
}

/// Records scanned linearly before [`KeptRecords`] switches to a hash set.
const LINEAR_DEDUP: usize = 32;

impl KeptRecords {
    /// Whether the record in `blob[at..]` is new to the slot (it is then kept).
    fn insert(&mut self, blob: &[u8], at: usize) -> bool {
        let record = blob.get(at..).unwrap_or_default();
        if let Some(many) = &mut self.many {
            return many.insert(record.into());
        }
        let seen = |range: &std::ops::Range<usize>| blob.get(range.clone()) == Some(record);
        if self.ranges.iter().any(seen) {
            return false;
        }
        self.ranges.push(at..blob.len());
        if self.ranges.len() > LINEAR_DEDUP {
            self.many = Some(
                self.ranges
                    .iter()
                    .filter_map(|range| blob.get(range.clone()))
                    .map(Box::from)
                    .collect(),
            );
        }
        true
    }
}

fn push_record(blob: &mut Vec<u8>, record: &Record) -> Result<(), Unstorable> {
    let mut rdata = Vec::new();
    record.data.encode(&mut rdata);
    let rdlength = u16::try_from(rdata.len()).map_err(|_| Unstorable::Wire)?;
    if RData::decode(record.rtype(), &rdata).as_ref() != Some(&record.data) {
        return Err(Unstorable::Wire);
    }
    blob.extend_from_slice(&record.rtype().0.to_be_bytes());
    blob.extend_from_slice(&record.ttl.to_be_bytes());
    blob.extend_from_slice(&rdlength.to_be_bytes());
    blob.extend_from_slice(&rdata);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::name;

    fn records(lines: &[(u32, RData)]) -> Vec<Record> {
        lines
            .iter()
            .map(|(ttl, data)| Record::new(name("w.example."), *ttl, data.clone()))
            .collect()
    }

    #[test]
    fn slots_keep_source_order_and_round_trip() {
        let owner = name("w.example.");
        let store = records(&[
            (30, RData::A(Ipv4Addr::new(10, 0, 0, 2))),
            (60, RData::Txt(vec![b"a".to_vec(), b"b".to_vec()])),
        ]);
        let files = records(&[(10, RData::Cname(name("Target.Example.")))]);
        let etcd = records(&[(
            5,
            RData::Aaaa("fd00::1".parse().unwrap_or_else(|_| unreachable!())),
        )]);
        let (one, _) = StoredRecords::with_slot(None, SourceId::Store, &store);
        let (two, _) = StoredRecords::with_slot(one.as_ref(), SourceId::Etcd, &etcd);
        let (three, refused) = StoredRecords::with_slot(two.as_ref(), SourceId::ZoneFiles, &files);
        let three = three.unwrap_or_else(|| unreachable!());
        assert!(refused.is_empty());
        let all: Vec<Record> = [files, store.clone(), etcd].concat();
        assert_eq!(three.records(&owner), all);
        assert!(three.has(SourceId::Etcd));
        assert_eq!(
            three.addresses().collect::<Vec<_>>(),
            [
                "10.0.0.2"
                    .parse::<IpAddr>()
                    .unwrap_or_else(|_| unreachable!()),
                "fd00::1".parse().unwrap_or_else(|_| unreachable!())
            ]
        );
        let (without_files, _) = StoredRecords::with_slot(Some(&three), SourceId::ZoneFiles, &[]);
        let without_files = without_files.unwrap_or_else(|| unreachable!());
        assert!(!without_files.has(SourceId::ZoneFiles));
        assert_eq!(without_files.records(&owner).first(), store.first());
        let (only_store, _) = StoredRecords::with_slot(None, SourceId::Store, &store);
        let (gone, _) = StoredRecords::with_slot(only_store.as_ref(), SourceId::Store, &[]);
        assert_eq!(gone, None);
    }

    #[test]
    fn a_record_the_wire_cannot_carry_is_left_out_alone() {
        let mixed = records(&[
            (30, RData::Txt(vec![vec![b'x'; 300]])),
            (30, RData::A(Ipv4Addr::new(10, 0, 0, 1))),
        ]);
        let (stored, refused) = StoredRecords::with_slot(None, SourceId::Store, &mixed);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused.first().map(|r| r.1), Some(Unstorable::Wire));
        let kept = stored
            .map(|s| s.records(&name("w.example.")))
            .unwrap_or_default();
        assert_eq!(kept, mixed.get(1..).unwrap_or_default());
        let (none, refused) = StoredRecords::with_slot(None, SourceId::Store, &mixed[..1]);
        assert_eq!((none, refused.len()), (None, 1));
    }
}
