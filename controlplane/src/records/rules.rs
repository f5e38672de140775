//! The record-change rules, written once for every writer.
//!
//! The embedded store and the etcd writer lay records out differently (redb keys,
//! containerdns keys), but they must accept and refuse exactly the same changes, so
//! that an operator who moves from one backend to the other sees the same API. The
//! rules are therefore a pure function here: the records a name holds now and one
//! [`Change`] in, a [`NameEdit`] (which records go, which come) or a [`RuleError`]
//! out. Each backend finds the records at the name (its own way), asks
//! [`plan`], and turns the edit into its own writes.
//!
//! The rules:
//!
//! - A record must survive the wire format (a TXT has at least one
//!   character-string of at most 255 octets, rdata is at most 65,535 octets), and its
//!   TTL is at most 2³¹−1 (RFC 2181 §8). See [`check_record`].
//! - An SOA lives only at its zone apex; a CNAME never does.
//! - A CNAME stands alone (RFC 1034 §3.6.2, RFC 2181 §10.1): adding one beside other
//!   data, or other data beside one, is a conflict.
//! - CNAME and SOA are singletons: as in RFC 2136 §3.4.2.2, adding one replaces the
//!   one already there.
//! - Adding a record equal to one already there (same type and rdata, names in the
//!   rdata compared without case) updates its TTL and spelling.
//! - A replace names one RRset; every record it brings must be of that name and type.
//! - What a name holds afterwards must be servable: each RRset fits one answer
//!   ([`MAX_RRSET_BYTES`]) and the name holds at most [`MAX_RECORDS_PER_NAME`]
//!   records. A write over either limit is refused whole, before anything is
//!   written, so no write can leave the store or etcd holding a name the table
//!   cannot compile (which, at load, would be served empty).

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};

use super::{Applied, Change};

/// Longest TTL a record may carry (RFC 2181 §8).
pub const MAX_TTL: u32 = i32::MAX as u32;

/// Largest RRset a name may hold, in the bytes its records take in an answer
/// (a 2-byte compressed owner, type, class, TTL, rdlength and rdata each): what
/// one DNS message over TCP (at most 65,535 bytes) can carry after a header, the
/// longest question and an OPT record.
pub const MAX_RRSET_BYTES: usize = 65_000;

/// Most records one name may hold, every type counted.
pub const MAX_RECORDS_PER_NAME: usize = 4_096;

/// Bytes of rdata an error message quotes at most.
const QUOTED_RDATA: usize = 64;

/// Why a change is refused. The messages are the API's error texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The record itself is not acceptable.
    #[error("invalid record {}: {reason}", Brief(record))]
    Invalid {
        record: Box<Record>,
        reason: &'static str,
    },
    /// The name would hold more than the table can serve.
    #[error("{name} would hold {what} of {actual} {unit}, over the limit of {limit} {unit}")]
    OverLimit {
        name: Name,
        what: String,
        actual: usize,
        limit: usize,
        unit: &'static str,
    },
    /// A CNAME would share its name with other data (RFC 1034 §3.6.2).
    #[error(
        "CNAME conflict at {name}: cannot add {adding} where {existing} exists \
         (a CNAME cannot share its name with other records)"
    )]
    CnameConflict {
        name: Name,
        adding: RType,
        existing: RType,
    },
}

/// What one change does to the records of its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameEdit {
    /// Records that go (as they are stored now).
    pub remove: Vec<Record>,
    /// Records that come. One equal to a record already there (same type and
    /// rdata) is written over it: backends key records by name, type and rdata.
    pub add: Vec<Record>,
    /// What the change amounts to, as the API reports it.
    pub applied: Applied,
}

/// A record as an error message shows it: owner, type and the start of its data,
/// so a refused 70 KB TXT does not come back whole.
#[derive(Debug, Clone, Copy)]
pub struct Brief<'a>(pub &'a Record);

impl std::fmt::Display for Brief<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let record = self.0;
        let data = quote(&record.data.to_string());
        write!(
            f,
            "{} {} {} {data}",
            record.name,
            record.ttl,
            record.rtype()
        )
    }
}

/// `text` as an error message quotes it: whole when short, else its start and
/// its length.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_RDATA) {
        Some((cut, _)) => format!(
            "{}… ({} characters)",
            text.get(..cut).unwrap_or_default(),
            text.chars().count()
        ),
        None => text.to_owned(),
    }
}

/// The checks on a record alone, before it is placed in a zone.
pub fn check_record(record: &Record) -> Result<(), RuleError> {
    let invalid = |reason| RuleError::Invalid {
        record: Box::new(record.clone()),
        reason,
    };
    if let RData::Txt(strings) = &record.data {
        if strings.is_empty() {
            return Err(invalid("TXT needs at least one character-string"));
        }
        if strings.iter().any(|s| s.len() > 255) {
            return Err(invalid("TXT character-string longer than 255 octets"));
        }
    }
    let mut rdata = Vec::new();
    record.data.encode(&mut rdata);
    if rdata.len() > usize::from(u16::MAX) {
        return Err(invalid("rdata longer than 65535 octets"));
    }
    if RData::decode(record.rtype(), &rdata).as_ref() != Some(&record.data) {
        return Err(invalid("rdata does not survive the wire format"));
    }
    if record.ttl > MAX_TTL {
        return Err(invalid("TTL above 2147483647 (RFC 2181 §8)"));
    }
    Ok(())
}

/// The checks on a change before its name's zone is looked up: a replace brings
/// only records of its RRset, and every record it brings passes
/// [`check_record`].
pub fn check_change(change: &Change) -> Result<(), RuleError> {
    match change {
        Change::Add(record) => check_record(record),
        Change::Replace {
            name,
            rtype,
            records,
        } => {
            if let Some(stray) = records
                .iter()
                .find(|r| r.name != *name || r.rtype() != *rtype)
            {
                return Err(RuleError::Invalid {
                    record: Box::new(stray.clone()),
                    reason: "not of the name and type of the RRset it replaces",
                });
            }
            records.iter().try_for_each(check_record)
        }
        Change::Delete { .. } => Ok(()),
    }
}

/// The edit `change` makes at its name in the zone `apex`, given the records
/// `current` the name holds now (in this zone, after the earlier changes of the
/// same batch). The change passes [`check_change`] first.
pub fn plan(apex: &Name, current: &[Record], change: &Change) -> Result<NameEdit, RuleError> {
    check_change(change)?;
    let mut edit = NameEdit::default();
    match change {
        Change::Add(record) => add(apex, current, record, &mut edit)?,
        Change::Replace { rtype, records, .. } => {
            let (gone, kept): (Vec<&Record>, Vec<&Record>) =
                current.iter().partition(|r| r.rtype() == *rtype);
            edit.remove.extend(gone.into_iter().cloned());
            edit.applied.removed = edit.remove.len();
            let kept: Vec<Record> = kept.into_iter().cloned().collect();
            for record in records {
                add(apex, &kept, record, &mut edit)?;
            }
        }
        Change::Delete { name, rtype, data } => {
            let rtype = rtype.or(data.as_ref().map(RData::rtype));
            for record in current {
                let type_matches = rtype.is_none_or(|t| record.rtype() == t);
                let data_matches = data.as_ref().is_none_or(|d| record.data == *d);
                if record.name == *name && type_matches && data_matches {
                    edit.remove.push(record.clone());
                }
            }
            edit.applied.removed = edit.remove.len();
        }
    }
    if !edit.add.is_empty() {
        check_limits(change.name(), current, &edit)?;
    }
    Ok(edit)
}

/// Refuses an edit after which the name would hold more than the table serves.
fn check_limits(name: &Name, current: &[Record], edit: &NameEdit) -> Result<(), RuleError> {
    let kept = current
        .iter()
        .filter(|r| !edit.remove.contains(r) && !edit.add.iter().any(|added| added.data == r.data));
    let after: Vec<&Record> = kept.chain(&edit.add).collect();
    if after.len() > MAX_RECORDS_PER_NAME {
        return Err(RuleError::OverLimit {
            name: name.clone(),
            what: "a total".into(),
            actual: after.len(),
            limit: MAX_RECORDS_PER_NAME,
            unit: "records",
        });
    }
    let mut sizes: Vec<(RType, usize)> = Vec::new();
    for record in &after {
        let mut rdata = Vec::new();
        record.data.encode(&mut rdata);
        // Compressed owner (2), type, class, TTL, rdlength (10), rdata.
        let bytes = 12 + rdata.len();
        match sizes.iter_mut().find(|(t, _)| *t == record.rtype()) {
            Some((_, total)) => *total += bytes,
            None => sizes.push((record.rtype(), bytes)),
        }
    }
    if let Some((rtype, bytes)) = sizes.into_iter().find(|(_, b)| *b > MAX_RRSET_BYTES) {
        return Err(RuleError::OverLimit {
            name: name.clone(),
            what: format!("an RRset {rtype}"),
            actual: bytes,
            limit: MAX_RRSET_BYTES,
            unit: "bytes",
        });
    }
    Ok(())
}

/// Adds `record` to `edit`, checking it against `current` (what the name holds
/// besides what `edit` already adds).
fn add(
    apex: &Name,
    current: &[Record],
    record: &Record,
    edit: &mut NameEdit,
) -> Result<(), RuleError> {
    let invalid = |reason| RuleError::Invalid {
        record: Box::new(record.clone()),
        reason,
    };
    let rtype = record.rtype();
    let at_apex = record.name == *apex;
    if rtype == RType::SOA && !at_apex {
        return Err(invalid("SOA outside its zone apex"));
    }
    if rtype == RType::CNAME && at_apex {
        return Err(invalid("a zone apex cannot hold a CNAME"));
    }
    let held = current
        .iter()
        .chain(&edit.add)
        .filter(|r| !edit.remove.contains(r));
    let mut replaced = Vec::new();
    let mut superseded = Vec::new();
    for existing in held {
        let other = existing.rtype();
        if (rtype == RType::CNAME) != (other == RType::CNAME) {
            return Err(RuleError::CnameConflict {
                name: record.name.clone(),
                adding: rtype,
                existing: other,
            });
        }
        if existing.data == record.data {
            superseded.push(existing.clone());
        } else if other == rtype && (rtype == RType::CNAME || rtype == RType::SOA) {
            replaced.push(existing.clone());
        }
    }
    // The same record again is written over the old one (same key in every
    // backend): only an earlier add of this batch has to make way.
    for old in superseded {
        if let Some(at) = edit.add.iter().position(|r| *r == old) {
            edit.add.remove(at);
        }
    }
    for old in replaced {
        if let Some(at) = edit.add.iter().position(|r| *r == old) {
            edit.add.remove(at);
        } else {
            edit.applied.removed += 1;
            edit.remove.push(old);
        }
    }
    edit.add.push(record.clone());
    edit.applied.written += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::a;
    use ferrodns_dataplane::testkit::{self, name};
    use std::net::Ipv4Addr;

    fn cname(owner: &str, target: &str) -> Record {
        testkit::cname(owner, 30, target)
    }

    fn planned(current: &[Record], change: Change) -> Result<NameEdit, RuleError> {
        plan(&name("example."), current, &change)
    }

    #[test]
    fn a_cname_stands_alone_and_replaces_its_predecessor() {
        let err = planned(
            &[a("w.example.", 1)],
            Change::Add(cname("w.example.", "x.")),
        );
        assert!(matches!(
            err,
            Err(RuleError::CnameConflict {
                existing: RType::A,
                ..
            })
        ));
        let err = planned(
            &[cname("w.example.", "x.")],
            Change::Add(a("w.example.", 1)),
        );
        assert!(matches!(
            err,
            Err(RuleError::CnameConflict {
                adding: RType::A,
                ..
            })
        ));
        let edit = planned(
            &[cname("w.example.", "x.")],
            Change::Add(cname("w.example.", "y.")),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(edit.remove, vec![cname("w.example.", "x.")]);
        assert_eq!(edit.add, vec![cname("w.example.", "y.")]);
        assert_eq!(
            edit.applied,
            Applied {
                written: 1,
                removed: 1
            }
        );
    }

    #[test]
    fn an_equal_record_updates_its_ttl_without_counting_a_removal() {
        let mut newer = a("w.example.", 1);
        newer.ttl = 99;
        let edit = planned(&[a("w.example.", 1)], Change::Add(newer.clone()))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((edit.remove.len(), edit.add), (0, vec![newer]));
        assert_eq!(
            edit.applied,
            Applied {
                written: 1,
                removed: 0
            }
        );
    }

    #[test]
    fn replace_swaps_one_rrset_and_refuses_strays() {
        let current = [
            a("w.example.", 1),
            Record::new(name("w.example."), 30, RData::Txt(vec![b"t".to_vec()])),
        ];
        let edit = planned(
            &current,
            Change::Replace {
                name: name("w.example."),
                rtype: RType::A,
                records: vec![a("w.example.", 2), a("w.example.", 3)],
            },
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(edit.remove, vec![a("w.example.", 1)]);
        assert_eq!(edit.add.len(), 2);
        assert_eq!(
            edit.applied,
            Applied {
                written: 2,
                removed: 1
            }
        );
        let stray = planned(
            &current,
            Change::Replace {
                name: name("w.example."),
                rtype: RType::A,
                records: vec![a("v.example.", 2)],
            },
        );
        assert!(matches!(stray, Err(RuleError::Invalid { .. })));
        // Replacing an A RRset by a CNAME where a TXT stays is still a conflict.
        let conflict = planned(
            &current,
            Change::Replace {
                name: name("w.example."),
                rtype: RType::CNAME,
                records: vec![cname("w.example.", "x.")],
            },
        );
        assert!(matches!(conflict, Err(RuleError::CnameConflict { .. })));
    }

    #[test]
    fn deletes_match_name_type_and_data() {
        let current = [a("w.example.", 1), a("w.example.", 2)];
        let one = planned(
            &current,
            Change::Delete {
                name: name("w.example."),
                rtype: None,
                data: Some(RData::A(Ipv4Addr::new(10, 0, 0, 2))),
            },
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(one.remove, vec![a("w.example.", 2)]);
        let other_type = planned(
            &current,
            Change::Delete {
                name: name("w.example."),
                rtype: Some(RType::TXT),
                data: None,
            },
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(other_type.remove.is_empty());
    }

    #[test]
    fn a_name_cannot_grow_past_what_one_answer_carries() {
        let txt = |i: usize| {
            Record::new(
                name("t.example."),
                30,
                RData::Txt(vec![vec![b'a' + (i % 26) as u8; 255]; 150]),
            )
        };
        // 150 strings of 255 octets: 38,412 bytes of answer; twice is too many.
        let one = planned(&[], Change::Add(txt(0))).unwrap_or_else(|e| unreachable!("{e}"));
        let err = planned(&one.add, Change::Add(txt(1))).err();
        assert!(
            matches!(
                &err,
                Some(RuleError::OverLimit {
                    limit: MAX_RRSET_BYTES,
                    ..
                })
            ),
            "{err:?}"
        );
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("RRset TXT") && message.contains("65000 bytes"),
            "{message}"
        );
        let many: Vec<Record> = (0..MAX_RECORDS_PER_NAME)
            .map(|i| {
                Record::new(
                    name("t.example."),
                    30,
                    RData::Txt(vec![i.to_string().into_bytes()]),
                )
            })
            .collect();
        let err = planned(&many, Change::Add(a("t.example.", 1))).err();
        assert!(
            matches!(
                &err,
                Some(RuleError::OverLimit {
                    limit: MAX_RECORDS_PER_NAME,
                    ..
                })
            ),
            "{err:?}"
        );
        // Removing is always allowed, whatever the name holds.
        let delete = Change::Delete {
            name: name("t.example."),
            rtype: Some(RType::TXT),
            data: None,
        };
        assert!(planned(&many, delete).is_ok());
    }

    #[test]
    fn an_error_quotes_a_long_record_briefly() {
        let long = Record::new(name("t.example."), 30, RData::Txt(vec![vec![b'x'; 300]]));
        let message = planned(&[], Change::Add(long))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.len() < 200, "{message}");
        assert!(
            message.contains("t.example.") && message.contains("characters"),
            "{message}"
        );
    }

    #[test]
    fn records_the_wire_cannot_carry_are_refused() {
        let empty_txt = Record::new(name("t.example."), 30, RData::Txt(Vec::new()));
        let long = Record::new(name("t.example."), 30, RData::Txt(vec![vec![b'x'; 256]]));
        let mut ttl = a("t.example.", 1);
        ttl.ttl = u32::MAX;
        let soa_below_apex = Record::new(
            name("t.example."),
            30,
            RData::Soa(ferrodns_dataplane::record::Soa {
                mname: name("ns.example."),
                rname: name("h.example."),
                serial: 1,
                refresh: 1,
                retry: 1,
                expire: 1,
                minimum: 1,
            }),
        );
        for record in [
            empty_txt,
            long,
            ttl,
            soa_below_apex,
            cname("example.", "x."),
        ] {
            assert!(
                matches!(
                    planned(&[], Change::Add(record.clone())),
                    Err(RuleError::Invalid { .. })
                ),
                "{record}"
            );
        }
    }
}
