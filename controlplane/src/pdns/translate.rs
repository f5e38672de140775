//! A poll's replies into zones of records (sans-IO).
//!
//! Each `list` entry becomes a [`Record`]: the owner from `qname`, the type from
//! `qtype`, the data parsed from `content` as PowerDNS writes it (MX and SRV
//! priorities inside it; names absolute with or without the trailing dot; see
//! [`parse_rdata_text`]). An entry that does not make a record (an unknown type
//! such as the old agent's `PTR6`, an address that does not parse) is skipped
//! and named; the rest of the zone stands.
//!
//! A record goes to the deepest zone the backend listed that contains its owner.
//! The OpenSVC agent lists the PTR records of its services' addresses in its
//! cluster zone, although they lie under `in-addr.arpa.`; PowerDNS answers those
//! REFUSED (it has no zone for them). Here such a record goes to the deepest
//! zone of `hosts` that contains it (the zones configured with `--domain` or
//! `[[zone]]`, such as `10.in-addr.arpa.`), and is counted as outside every zone
//! otherwise.
//!
//! Each zone's records come out sorted by owner, type and data: the agent lists
//! its records in a different order every time (a Go map), and the publisher,
//! which compares what a source says name by name, must see the same records in
//! the same order when nothing changed.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RType, Record};

use super::protocol::{Elements, Entry};
use crate::zonefile::parse_rdata_text;

/// What one poll of a backend holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translated {
    /// The zones, each with its records sorted; the backend's zones always (even
    /// empty), a host zone when it took records.
    pub zones: BTreeMap<Name, Vec<Record>>,
    /// The entries skipped, each named with the reason.
    pub bad: Vec<String>,
    /// Records whose owner lies in no zone.
    pub outside: usize,
}

impl Translated {
    /// Records kept, every zone counted.
    pub fn records(&self) -> usize {
        self.zones.values().map(Vec::len).sum()
    }
}

/// The zones of one poll: `listed` holds each zone the backend gave and the
/// entries of its `list`; `hosts` are the configured zones that take the
/// records lying outside the backend's zones.
pub fn translate(listed: Vec<(Name, Elements<Entry>)>, hosts: &[Name]) -> Translated {
    let mut out = Translated::default();
    for (apex, _) in &listed {
        out.zones.insert(apex.clone(), Vec::new());
    }
    let backend_zones: Vec<Name> = out.zones.keys().cloned().collect();
    for (apex, entries) in listed {
        for entry in entries {
            let record = entry
                .map_err(|bad| bad.to_string())
                .and_then(|entry| record_of(&entry));
            let record = match record {
                Ok(record) => record,
                Err(why) => {
                    out.bad.push(format!("zone {apex}: {why}"));
                    continue;
                }
            };
            match deepest(&record.name, &backend_zones).or_else(|| deepest(&record.name, hosts)) {
                Some(zone) => out.zones.entry(zone.clone()).or_default().push(record),
                None => out.outside += 1,
            }
        }
    }
    for records in out.zones.values_mut() {
        records.sort_by_cached_key(|record| {
            let mut data = Vec::new();
            record.data.encode(&mut data);
            (record.name.clone(), record.rtype(), data, record.ttl)
        });
    }
    out
}

/// An order-free fingerprint of a poll: the same for two polls that list the same
/// zones with the same entries (and bad elements), in whatever order. The agent
/// lists its records in a new order every time; a poll whose fingerprint is the
/// last one's changed nothing, and is not translated nor handed to the publisher
/// (on a zone of 45,000 records that is most of a poll's cost). Each entry's
/// 128-bit hash is added up, so order does not count but every entry does.
pub fn fingerprint(listed: &[(Name, Elements<Entry>)], bad_zones: &[String]) -> u128 {
    let mut sum = bad_zones
        .iter()
        .fold(0u128, |sum, bad| sum.wrapping_add(hash128(&(0u8, bad))));
    for (apex, entries) in listed {
        sum = sum.wrapping_add(hash128(&(1u8, apex)));
        for entry in entries {
            let hash = match entry {
                Ok(e) => hash128(&(2u8, apex, &e.qtype, &e.qname, &e.content, e.ttl)),
                Err(bad) => hash128(&(3u8, apex, &bad.element, &bad.reason)),
            };
            sum = sum.wrapping_add(hash);
        }
    }
    sum
}

/// Two 64-bit hashes of `value` (SipHash with fixed keys: the same in every
/// poll), as one 128-bit value.
fn hash128(value: &impl Hash) -> u128 {
    let half = |salt: u64| {
        let mut hasher = DefaultHasher::new();
        salt.hash(&mut hasher);
        value.hash(&mut hasher);
        hasher.finish()
    };
    u128::from(half(0)) << 64 | u128::from(half(1))
}

/// The record an entry describes.
fn record_of(entry: &Entry) -> Result<Record, String> {
    let named = |reason: String| {
        format!(
            "{} {} {:?}: {reason}",
            entry.qname, entry.qtype, entry.content
        )
    };
    let owner = Name::from_ascii(&entry.qname).map_err(|e| named(e.to_string()))?;
    let data =
        parse_rdata_text(&entry.qtype, &entry.content).map_err(|e| named(e.kind.to_string()))?;
    if data.rtype() == RType::SOA && owner.label_count() == 0 {
        return Err(named("an SOA at the root".into()));
    }
    Ok(Record::new(owner, entry.ttl, data))
}

/// The deepest of `zones` that contains `name`.
fn deepest<'z>(name: &Name, zones: &'z [Name]) -> Option<&'z Name> {
    zones
        .iter()
        .filter(|zone| name.is_subdomain_of(zone))
        .max_by_key(|zone| zone.label_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdns::protocol::BadElement;
    use ferrodns_dataplane::testkit::name;

    fn entry(qtype: &str, qname: &str, content: &str) -> Result<Entry, BadElement> {
        Ok(Entry {
            qtype: qtype.into(),
            qname: qname.into(),
            content: content.into(),
            ttl: 60,
        })
    }

    #[test]
    fn entries_become_sorted_records_of_their_zone() {
        let entries = vec![
            entry("A", "web.ns1.svc.cluster1.", "10.0.0.2"),
            entry(
                "SRV",
                "_80._tcp.web.ns1.svc.cluster1",
                "0 10 80 web.ns1.svc.n1.node.cluster1.",
            ),
            entry("A", "web.ns1.svc.cluster1.", "10.0.0.1"),
            entry("PTR", "1.0.0.10.in-addr.arpa.", "web.ns1.svc.cluster1."),
            entry("PTR", "1.0.0.192.in-addr.arpa.", "web.ns1.svc.cluster1."),
            entry("PTR6", "1.0.0.10.in-addr.arpa.", "web.ns1.svc.cluster1."),
            entry("A", "web.ns1.svc.cluster1.", "10.0.0.300"),
            Err(BadElement {
                element: "7".into(),
                reason: "not an object".into(),
            }),
        ];
        let hosts = [name("10.in-addr.arpa."), name("in-addr.arpa.")];
        let hosts = &hosts[..1];
        let out = translate(vec![(name("cluster1."), entries)], hosts);
        let cluster: Vec<String> = out.zones[&name("cluster1.")]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            cluster,
            [
                "web.ns1.svc.cluster1. 60 IN A 10.0.0.1",
                "web.ns1.svc.cluster1. 60 IN A 10.0.0.2",
                "_80._tcp.web.ns1.svc.cluster1. 60 IN SRV 0 10 80 web.ns1.svc.n1.node.cluster1.",
            ]
        );
        let reverse: Vec<String> = out.zones[&name("10.in-addr.arpa.")]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            reverse,
            ["1.0.0.10.in-addr.arpa. 60 IN PTR web.ns1.svc.cluster1."]
        );
        assert_eq!((out.records(), out.outside), (4, 1));
        assert_eq!(out.bad.len(), 3, "{:?}", out.bad);
        assert!(out.bad.iter().any(|b| b.contains("PTR6")), "{:?}", out.bad);
        assert!(
            out.bad.iter().any(|b| b.contains("10.0.0.300")),
            "{:?}",
            out.bad
        );
    }

    #[test]
    fn the_order_of_the_entries_does_not_matter() {
        let entries = || {
            vec![
                entry("A", "b.cluster1.", "10.0.0.2"),
                entry("A", "a.cluster1.", "10.0.0.9"),
                entry("A", "a.cluster1.", "10.0.0.1"),
                entry("NS", "cluster1.", "ns1.cluster1."),
            ]
        };
        let forward = translate(vec![(name("cluster1."), entries())], &[]);
        let backward = translate(
            vec![(name("cluster1."), entries().into_iter().rev().collect())],
            &[],
        );
        assert_eq!(forward, backward);
        // So is the fingerprint, which any change moves.
        let print = |entries: Vec<Result<Entry, BadElement>>| {
            fingerprint(&[(name("cluster1."), entries)], &[])
        };
        let reversed: Vec<_> = entries().into_iter().rev().collect();
        assert_eq!(print(entries()), print(reversed));
        let mut changed = entries();
        if let Some(Ok(entry)) = changed.first_mut() {
            entry.ttl += 1;
        }
        assert_ne!(print(entries()), print(changed));
        let mut fewer = entries();
        fewer.pop();
        assert_ne!(print(entries()), print(fewer));
        // An empty zone is still the backend's zone.
        let empty = translate(vec![(name("empty."), Vec::new())], &[]);
        assert_eq!(empty.zones.get(&name("empty.")), Some(&Vec::new()));
    }
}
