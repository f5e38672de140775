//! One zone's records as served, copied out of the publisher for a zone
//! transfer.
//!
//! A transfer must send exactly what the server answers: every source's records
//! merged, the one SOA the publisher chose (with its serial), the SOA and NS the
//! compiler makes up when there are none, addresses marked down left out (unless
//! all of an RRset's are), duplicates once, each RRset with its smallest TTL,
//! names that cannot be compiled left out (they are served empty), and names a
//! nested zone takes over left to that zone.
//!
//! Taking the snapshot copies each name's records in the model's compact form
//! (tens of bytes a name) while the publisher is locked; decoding into
//! [`Record`]s happens name by name as the transfer streams, after the lock is
//! released, so a slow client never holds up publishing and the memory of a
//! transfer stays near the size of the compact copy.

use std::collections::HashSet;
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};
use ferrodns_dataplane::table::synthetic_apex_records;

use super::stored::StoredRecords;

/// A zone as served at one moment (see `pipeline/snapshot.rs`).
#[derive(Debug, Clone)]
pub struct ZoneSnapshot {
    apex: Name,
    /// The apex's records as served, the SOA first.
    apex_records: Vec<Record>,
    /// The other names with records, in canonical order.
    names: Vec<(Name, StoredRecords)>,
    down: HashSet<IpAddr>,
}

impl ZoneSnapshot {
    /// `apex_records` are the apex's records as the publisher compiles them
    /// (its one SOA first when there is one); the compiler's made-up SOA and NS
    /// are added here when missing.
    pub(super) fn new(
        apex: Name,
        apex_records: Vec<Record>,
        names: Vec<(Name, StoredRecords)>,
        down: HashSet<IpAddr>,
    ) -> Self {
        let refs: Vec<&Record> = apex_records.iter().collect();
        let synthetic = synthetic_apex_records(&apex, &refs);
        let mut all = apex_records.clone();
        // The made-up SOA goes first, the made-up NS after the stored records.
        for record in synthetic {
            if record.rtype() == RType::SOA {
                all.insert(0, record);
            } else {
                all.push(record);
            }
        }
        let apex_records = served(all, &down);
        ZoneSnapshot {
            apex,
            apex_records,
            names,
            down,
        }
    }

    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// The zone's SOA, which a transfer sends first and last.
    pub fn soa(&self) -> Option<&Record> {
        self.apex_records
            .first()
            .filter(|r| r.rtype() == RType::SOA)
    }

    /// The serial of [`ZoneSnapshot::soa`].
    pub fn serial(&self) -> Option<u32> {
        match self.soa().map(|r| &r.data) {
            Some(RData::Soa(fields)) => Some(fields.serial),
            _ => None,
        }
    }

    /// Names holding records, the apex included.
    pub fn name_count(&self) -> usize {
        self.names.len() + 1
    }

    /// Every record, the SOA first (once), then the rest of the apex, then each
    /// name in canonical order; decoded as the iterator goes.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let rest = self
            .names
            .iter()
            .flat_map(|(name, stored)| served(stored.records(name), &self.down));
        self.apex_records.iter().cloned().chain(rest)
    }
}

/// One name's records as the compiler serves them: grouped into RRsets in
/// first-seen type order, each rdata once, each RRset with its smallest TTL,
/// addresses marked down left out unless all of the RRset's are.
fn served(records: Vec<Record>, down: &HashSet<IpAddr>) -> Vec<Record> {
    let mut sets: Vec<(RType, u32, Vec<Record>)> = Vec::new();
    for record in records {
        let rtype = record.rtype();
        match sets.iter_mut().find(|(t, _, _)| *t == rtype) {
            Some((_, ttl, kept)) => {
                *ttl = (*ttl).min(record.ttl);
                if !kept.iter().any(|r| r.data == record.data) {
                    kept.push(record);
                }
            }
            None => sets.push((rtype, record.ttl, vec![record])),
        }
    }
    let is_down = |record: &Record| match &record.data {
        RData::A(v4) => down.contains(&IpAddr::V4(*v4)),
        RData::Aaaa(v6) => down.contains(&IpAddr::V6(*v6)),
        _ => false,
    };
    let mut out = Vec::new();
    for (_, ttl, kept) in sets {
        let all_down = kept.iter().all(is_down);
        out.extend(
            kept.into_iter()
                .filter(|record| all_down || !is_down(record))
                .map(|mut record| {
                    record.ttl = ttl;
                    record
                }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::SourceId;
    use ferrodns_dataplane::testkit::name;
    use std::net::Ipv4Addr;

    fn a(owner: &str, ttl: u32, last: u8) -> Record {
        Record::new(name(owner), ttl, RData::A(Ipv4Addr::new(10, 0, 0, last)))
    }

    #[test]
    fn records_come_as_served() {
        let web = vec![
            a("web.example.", 60, 1),
            a("web.example.", 30, 2),
            a("web.example.", 60, 1),
        ];
        let (stored, _) = StoredRecords::with_slot(None, SourceId::Store, &web);
        let (other, _) = StoredRecords::with_slot(None, SourceId::Store, &[a("db.example.", 5, 2)]);
        let names = vec![
            (name("db.example."), other.unwrap_or_else(|| unreachable!())),
            (
                name("web.example."),
                stored.unwrap_or_else(|| unreachable!()),
            ),
        ];
        let down = HashSet::from([IpAddr::from([10, 0, 0, 2])]);
        let snapshot = ZoneSnapshot::new(name("example."), Vec::new(), names, down);
        let records: Vec<String> = snapshot.records().map(|r| r.to_string()).collect();
        assert_eq!(snapshot.serial(), Some(1));
        assert_eq!(snapshot.name_count(), 3);
        assert_eq!(
            records,
            [
                "example. 30 IN SOA ns.dns.example. hostmaster.example. 1 7200 1800 86400 30",
                "example. 30 IN NS ns.dns.example.",
                // The only address of db is down: served all the same.
                "db.example. 5 IN A 10.0.0.2",
                "web.example. 30 IN A 10.0.0.1",
            ]
        );
    }
}
