//! Name-level rules: what a name answers, given every entry etcd keys give it.
//!
//! Decoding looks at one key; some rules need all of a name's keys at once:
//!
//! - **groups** (skydns `group`): among the entries that carry a group, the group
//!   of the shortest keys decides, and only entries of that group or of none
//!   answer; when the shortest keys disagree, every entry answers (CoreDNS's rule,
//!   which it applies per query, applied here per name);
//! - **SRV weights** are normalised per priority, as CoreDNS and containerdns do:
//!   each weight (0 counting as 100) becomes its share of 100 among the SRV
//!   entries of the same priority, rounded down, at least 1;
//! - **CNAME conflicts**: a CNAME cannot share its name with other data or with
//!   another CNAME (RFC 2181 §10.1), nor sit at a zone apex. Rather than fail the
//!   zone, the offending CNAME keys are dropped and reported, each alone; of two
//!   CNAMEs the one under the smaller key stays.
//!
//! Entries come in key order, so the outcome does not depend on the order etcd
//! events arrived in.

use std::collections::HashMap;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};

use super::decode::{DecodeError, Entry};

/// The records `name` answers with and the keys that were dropped. `entries` are
/// `(key, entry)` pairs, every entry owned by `name`.
pub fn assemble(
    name: &Name,
    is_apex: bool,
    mut entries: Vec<(&[u8], Entry)>,
) -> (Vec<Record>, Vec<DecodeError>) {
    entries.sort_by(|a, b| a.0.cmp(b.0));
    apply_groups(&mut entries);
    normalise_srv_weights(&mut entries);
    let mut errors = Vec::new();
    let has_other = entries
        .iter()
        .any(|(_, e)| e.record.rtype() != RType::CNAME);
    let mut cname_seen: Option<&RData> = None;
    let mut records = Vec::with_capacity(entries.len());
    for (key, entry) in &entries {
        if entry.record.rtype() == RType::CNAME {
            let reason = if is_apex {
                Some(format!(
                    "a CNAME cannot be at the zone apex {name}; dropped"
                ))
            } else if has_other {
                Some(format!(
                    "a CNAME cannot share {name} with other records; dropped"
                ))
            } else {
                match cname_seen {
                    Some(first) if *first != entry.record.data => Some(format!(
                        "{name} already has a CNAME ({first}) from a smaller key; dropped"
                    )),
                    _ => None,
                }
            };
            if let Some(reason) = reason {
                errors.push(DecodeError {
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason,
                });
                continue;
            }
            cname_seen.get_or_insert(&entry.record.data);
        }
        records.push(entry.record.clone());
    }
    (records, errors)
}

fn apply_groups(entries: &mut Vec<(&[u8], Entry)>) {
    let Some(depth) = entries
        .iter()
        .filter(|(_, e)| e.group.is_some())
        .map(|(_, e)| e.depth)
        .min()
    else {
        return;
    };
    let mut groups = entries
        .iter()
        .filter(|(_, e)| e.depth == depth)
        .filter_map(|(_, e)| e.group.clone());
    let Some(group) = groups.next() else { return };
    if groups.any(|other| other != group) {
        return;
    }
    entries.retain(|(_, e)| e.group.as_ref().is_none_or(|g| *g == group));
}

fn normalise_srv_weights(entries: &mut [(&[u8], Entry)]) {
    let as_written = |weight: u16| {
        if weight == 0 {
            100u32
        } else {
            u32::from(weight)
        }
    };
    let mut sums: HashMap<u16, u32> = HashMap::new();
    for (_, entry) in entries.iter() {
        if let (Some(weight), RData::Srv { priority, .. }) = (entry.srv_weight, &entry.record.data)
        {
            *sums.entry(*priority).or_default() += as_written(weight);
        }
    }
    for (_, entry) in entries.iter_mut() {
        if let (
            Some(raw),
            RData::Srv {
                priority, weight, ..
            },
        ) = (entry.srv_weight, &mut entry.record.data)
        {
            let sum = sums.get(priority).copied().unwrap_or(1).max(1);
            let share = 100 * as_written(raw) / sum;
            *weight = u16::try_from(share.max(1)).unwrap_or(u16::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::name;
    use std::net::Ipv4Addr;

    fn entry(data: RData, depth: usize, group: Option<&str>) -> Entry {
        let mut entry = Entry::new(Record::new(name("web.example."), 30, data), depth);
        entry.group = group.map(String::from);
        entry
    }

    fn a(last: u8) -> RData {
        RData::A(Ipv4Addr::new(10, 0, 0, last))
    }

    fn srv(priority: u16, weight: u16, port: u16) -> RData {
        RData::Srv {
            priority,
            weight,
            port,
            target: name("t.example."),
        }
    }

    fn lines(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn srv_weights_are_shares_of_100_per_priority() {
        let entries = vec![
            (&b"k1"[..], entry(srv(10, 0, 1), 3, None)),
            (b"k2", entry(srv(10, 300, 2), 3, None)),
            (b"k3", entry(srv(20, 5, 3), 3, None)),
            (b"k4", entry(srv(20, 1000, 4), 3, None)),
        ];
        let (records, errors) = assemble(&name("web.example."), false, entries);
        assert!(errors.is_empty());
        assert_eq!(
            lines(&records),
            [
                "10 25 1 t.example.",
                "10 75 2 t.example.",
                "20 1 3 t.example.",
                "20 99 4 t.example."
            ]
        );
    }

    #[test]
    fn the_shortest_keys_group_selects_entries() {
        let entries = vec![
            (&b"a"[..], entry(a(1), 3, Some("blue"))),
            (b"b", entry(a(2), 4, Some("green"))),
            (b"c", entry(a(3), 4, None)),
            (b"d", entry(a(4), 4, Some("blue"))),
        ];
        let (records, _) = assemble(&name("web.example."), false, entries.clone());
        assert_eq!(lines(&records), ["10.0.0.1", "10.0.0.3", "10.0.0.4"]);
        // Disagreement among the shortest keys: no grouping.
        let mut split = entries;
        split.push((b"e", entry(a(5), 3, Some("green"))));
        let (records, _) = assemble(&name("web.example."), false, split);
        assert_eq!(records.len(), 5);
    }

    #[test]
    fn conflicting_cnames_are_dropped_and_reported_alone() {
        let cname = |target: &str| RData::Cname(name(target));
        let (records, errors) = assemble(
            &name("web.example."),
            false,
            vec![
                (&b"k2"[..], entry(cname("x.example."), 3, None)),
                (b"k1", entry(a(1), 3, None)),
            ],
        );
        assert_eq!(lines(&records), ["10.0.0.1"]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .starts_with("etcd key k2: a CNAME cannot share"),
            "{}",
            errors[0]
        );

        let (records, errors) = assemble(
            &name("web.example."),
            false,
            vec![
                (&b"k2"[..], entry(cname("y.example."), 3, None)),
                (b"k1", entry(cname("x.example."), 3, None)),
                (b"k3", entry(cname("x.example."), 3, None)),
            ],
        );
        assert_eq!(lines(&records), ["x.example.", "x.example."]);
        assert_eq!(
            errors.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["k2"]
        );

        let (records, errors) = assemble(
            &name("example."),
            true,
            vec![(&b"k"[..], entry(cname("x.example."), 2, None))],
        );
        assert!(records.is_empty());
        assert!(errors[0].reason.contains("zone apex"));
    }
}
