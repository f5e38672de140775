//! The compiler: records in, a table version out.
//!
//! It lives beside the node format it writes, so the control plane hands it plain
//! [`Record`]s and never sees wire layout. Per zone it
//!
//! - groups records by owner and type into RRsets (duplicates dropped, the TTL of a
//!   set is its smallest), refusing a CNAME beside other data;
//! - keeps only healthy A/AAAA targets — unless none is healthy, then all of them
//!   (serving something beats serving nothing);
//! - stamps each address RRset with its answer policy (the name's override, else
//!   the zone's); other types are rotated round-robin;
//! - adds an empty node for every empty non-terminal, so that a name with nothing
//!   below it is NXDOMAIN and one with names below it is NODATA (RFC 8020);
//! - synthesises an SOA and an NS at the apex when the zone has none, as containerdns
//!   and CoreDNS do.
//!
//! Zones are compiled parents first, so a child zone's apex node replaces the
//! parent's node of the same name.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::node::{NodeError, RRsetSpec, encode_node};
use super::version::{TableVersion, ZoneInfo};
use crate::name::Name;
use crate::record::AnswerPolicy;
use crate::record::{RData, RType, Record, Soa};

/// TTL of a synthesised SOA and NS, and their negative-caching TTL.
pub const SYNTHETIC_TTL: u32 = 30;

/// Everything the compiler needs about one zone.
#[derive(Debug, Clone)]
pub struct ZoneInput {
    pub apex: Name,
    pub records: Vec<Record>,
    /// Default policy for the zone's address RRsets.
    pub policy: AnswerPolicy,
    /// Per-name overrides.
    pub name_policies: Vec<(Name, AnswerPolicy)>,
}

impl ZoneInput {
    pub fn new(apex: Name, records: Vec<Record>) -> Self {
        ZoneInput {
            apex,
            records,
            policy: AnswerPolicy::default(),
            name_policies: Vec::new(),
        }
    }
}

/// Why a zone could not be compiled. The message names the zone and the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("zone {zone}: record {name} lies outside the zone")]
    OutsideZone { zone: Name, name: Name },
    #[error("zone {zone}: {name} has a CNAME and other data")]
    CnameAndOtherData { zone: Name, name: Name },
    #[error("zone {zone}: {name} has more than one CNAME")]
    MultipleCnames { zone: Name, name: Name },
    #[error("zone {zone}: SOA at {name}, not at the apex")]
    MisplacedSoa { zone: Name, name: Name },
    #[error("zone {zone} is listed twice")]
    DuplicateZone { zone: Name },
    #[error("zone {zone}: {name}: {source}")]
    Node {
        zone: Name,
        name: Name,
        source: NodeError,
    },
    #[error("more than 65535 zones")]
    TooManyZones,
}

/// Compiles every zone into a fresh table. `down` holds the backend addresses that
/// health checks marked DOWN.
pub fn compile(
    zones: &[ZoneInput],
    down: &HashSet<IpAddr>,
    seed: u64,
) -> Result<TableVersion, CompileError> {
    let mut order: Vec<&ZoneInput> = zones.iter().collect();
    order.sort_by_key(|z| z.apex.label_count());
    let mut seen = HashSet::new();
    let mut infos = Vec::with_capacity(order.len());
    let mut edit = TableVersion::empty(seed).edit();
    for zone in order {
        if !seen.insert(zone.apex.clone()) {
            return Err(CompileError::DuplicateZone {
                zone: zone.apex.clone(),
            });
        }
        let id = u16::try_from(infos.len()).map_err(|_| CompileError::TooManyZones)?;
        let compiled = compile_zone(zone, id, down)?;
        for node in compiled.nodes {
            edit.insert(node);
        }
        infos.push(compiled.info);
    }
    edit.set_zones(infos);
    Ok(edit.finish())
}

/// Rebuilds the node of one name exactly as [`compile`] would, for updates that
/// touch a few names of a large table (see [`TableVersion::edit`]).
///
/// `records` are every record `name` owns in zone `apex` (zone id `id`), in the
/// order the full compile would see them; `policy` is the name's effective answer
/// policy (its override, else the zone's). No records makes an empty node, what
/// an empty non-terminal is. At the apex, the synthesised SOA and NS are added as
/// in [`compile`], and the zone's [`ZoneInfo`] (which carries the negative-answer
/// SOA) comes back beside the node; elsewhere it is `None`.
pub fn compile_name(
    apex: &Name,
    id: u16,
    name: &Name,
    records: &[Record],
    policy: AnswerPolicy,
    down: &HashSet<IpAddr>,
) -> Result<(Arc<[u8]>, Option<ZoneInfo>), CompileError> {
    let mut refs: Vec<&Record> = Vec::with_capacity(records.len() + 2);
    for record in records {
        if record.name != *name || !name.is_subdomain_of(apex) {
            return Err(CompileError::OutsideZone {
                zone: apex.clone(),
                name: record.name.clone(),
            });
        }
        if record.rtype() == RType::SOA && *name != *apex {
            return Err(CompileError::MisplacedSoa {
                zone: apex.clone(),
                name: name.clone(),
            });
        }
        refs.push(record);
    }
    let mut info = None;
    let synthetic;
    if *name == *apex {
        synthetic = synthetic_apex_records(apex, &refs);
        refs.extend(synthetic.iter());
        let soa = refs.iter().find(|r| r.rtype() == RType::SOA).copied();
        info = Some(zone_info(apex, soa));
    }
    let sets = rrsets(apex, name, &refs, policy, down)?;
    Ok((encode(apex, id, name, &sets)?, info))
}

struct CompiledZone {
    info: ZoneInfo,
    nodes: Vec<Arc<[u8]>>,
}

fn compile_zone(
    zone: &ZoneInput,
    id: u16,
    down: &HashSet<IpAddr>,
) -> Result<CompiledZone, CompileError> {
    let apex = &zone.apex;
    // The records, by reference, sorted so each name's records form one run. A
    // sorted vector of pointers is one allocation; a map of runs at a million names
    // was millions of small ones, left behind as resident free heap.
    let mut sorted: Vec<&Record> = Vec::with_capacity(zone.records.len() + 2);
    for record in &zone.records {
        if !record.name.is_subdomain_of(apex) {
            return Err(CompileError::OutsideZone {
                zone: apex.clone(),
                name: record.name.clone(),
            });
        }
        if record.rtype() == RType::SOA && record.name != *apex {
            return Err(CompileError::MisplacedSoa {
                zone: apex.clone(),
                name: record.name.clone(),
            });
        }
        sorted.push(record);
    }
    // Canonical order puts the apex first; the sort is stable, so a name's records
    // keep their input order (RRsets come out in first-seen type order).
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let apex_end = sorted.partition_point(|record| record.name == *apex);

    let synthetic = synthetic_apex_records(apex, sorted.get(..apex_end).unwrap_or_default());
    sorted.splice(apex_end..apex_end, synthetic.iter());
    let soa_record = sorted
        .get(..apex_end + synthetic.len())
        .and_then(|records| records.iter().find(|r| r.rtype() == RType::SOA))
        .copied();
    let info = zone_info(apex, soa_record);

    let policies: HashMap<&Name, AnswerPolicy> =
        zone.name_policies.iter().map(|(n, p)| (n, *p)).collect();
    let runs = || {
        sorted
            .chunk_by(|a, b| a.name == b.name)
            .filter_map(|run| run.first().map(|first| (&first.name, run)))
    };
    let names: HashSet<&Name> = runs().map(|(name, _)| name).collect();
    let mut nodes = Vec::with_capacity(names.len());
    for (name, records) in runs() {
        let policy = policies.get(name).copied().unwrap_or(zone.policy);
        let sets = rrsets(apex, name, records, policy, down)?;
        nodes.push(encode(apex, id, name, &sets)?);
    }
    let mut empty_non_terminals: HashSet<Name> = HashSet::new();
    for (name, _) in runs() {
        let mut cursor = name.parent();
        while let Some(parent) = cursor {
            if !parent.is_subdomain_of(apex)
                || names.contains(&parent)
                || empty_non_terminals.contains(&parent)
            {
                break;
            }
            nodes.push(encode(apex, id, &parent, &[])?);
            cursor = parent.parent();
            empty_non_terminals.insert(parent);
        }
    }
    Ok(CompiledZone { info, nodes })
}

fn encode(
    apex: &Name,
    id: u16,
    name: &Name,
    sets: &[RRsetSpec],
) -> Result<Arc<[u8]>, CompileError> {
    encode_node(id, &name.to_lowercase_wire(), sets).map_err(|source| CompileError::Node {
        zone: apex.clone(),
        name: name.clone(),
        source,
    })
}

/// Groups one name's records into RRsets in first-seen type order.
fn rrsets(
    apex: &Name,
    name: &Name,
    records: &[&Record],
    policy: AnswerPolicy,
    down: &HashSet<IpAddr>,
) -> Result<Vec<RRsetSpec>, CompileError> {
    let mut sets: Vec<(RType, u32, Vec<&RData>)> = Vec::new();
    for record in records {
        let rtype = record.rtype();
        match sets.iter_mut().find(|(t, _, _)| *t == rtype) {
            Some((_, ttl, datas)) => {
                *ttl = (*ttl).min(record.ttl);
                if !datas.contains(&&record.data) {
                    datas.push(&record.data);
                }
            }
            None => sets.push((rtype, record.ttl, vec![&record.data])),
        }
    }
    if let Some((_, _, cnames)) = sets.iter().find(|(t, _, _)| *t == RType::CNAME) {
        let error = if cnames.len() > 1 {
            Some(CompileError::MultipleCnames {
                zone: apex.clone(),
                name: name.clone(),
            })
        } else if sets.len() > 1 {
            Some(CompileError::CnameAndOtherData {
                zone: apex.clone(),
                name: name.clone(),
            })
        } else {
            None
        };
        if let Some(error) = error {
            return Err(error);
        }
    }
    Ok(sets
        .into_iter()
        .map(|(rtype, ttl, datas)| {
            let is_address = rtype == RType::A || rtype == RType::AAAA;
            let healthy: Vec<&RData> = datas
                .iter()
                .copied()
                .filter(|d| address_of(d).is_none_or(|ip| !down.contains(&ip)))
                .collect();
            let served = if healthy.is_empty() { datas } else { healthy };
            RRsetSpec {
                rtype,
                ttl,
                policy: if is_address {
                    policy
                } else {
                    AnswerPolicy::RoundRobin
                },
                rdatas: served
                    .into_iter()
                    .map(|d| {
                        let mut wire = Vec::new();
                        d.encode(&mut wire);
                        wire
                    })
                    .collect(),
            }
        })
        .collect())
}

fn address_of(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(v4) => Some(IpAddr::V4(*v4)),
        RData::Aaaa(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The SOA and NS a zone gets when `existing` (its apex records) holds none:
/// what the compiler adds at every apex, for a caller that lists what is served
/// (a zone transfer).
pub fn synthetic_apex_records(apex: &Name, existing: &[&Record]) -> Vec<Record> {
    let has = |rtype| existing.iter().any(|r| r.rtype() == rtype);
    let mut out = Vec::new();
    if !has(RType::SOA) {
        out.push(synthetic_soa(apex, 1));
    }
    if !has(RType::NS) {
        out.push(Record::new(
            apex.clone(),
            SYNTHETIC_TTL,
            RData::Ns(synthetic_ns_host(apex)),
        ));
    }
    out
}

/// The SOA the compiler makes up for a zone that stores none, with `serial`
/// (the compiler itself uses 1): `ns.dns.<apex> hostmaster.<apex> serial 7200
/// 1800 86400 30`, TTL [`SYNTHETIC_TTL`]. A caller that keeps its own serial per
/// zone (the control plane's publisher, for zone transfers) hands the compiler
/// this record with that serial, and the compiler then adds none of its own.
pub fn synthetic_soa(apex: &Name, serial: u32) -> Record {
    Record::new(
        apex.clone(),
        SYNTHETIC_TTL,
        RData::Soa(Soa {
            mname: synthetic_ns_host(apex),
            rname: apex
                .prepend_label(b"hostmaster")
                .unwrap_or_else(|_| apex.clone()),
            serial,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: SYNTHETIC_TTL,
        }),
    )
}

/// `ns.dns.<apex>`, the name server of the synthesised SOA and NS (shorter, down
/// to the apex itself, when the name would be too long).
fn synthetic_ns_host(apex: &Name) -> Name {
    apex.prepend_label(b"dns")
        .unwrap_or_else(|_| apex.clone())
        .prepend_label(b"ns")
        .unwrap_or_else(|_| apex.clone())
}

fn zone_info(apex: &Name, soa: Option<&Record>) -> ZoneInfo {
    let mut negative_soa = Vec::new();
    if let Some(record) = soa {
        let ttl = match &record.data {
            RData::Soa(fields) => record.ttl.min(fields.minimum),
            _ => record.ttl,
        };
        let mut rdata = Vec::new();
        record.data.encode(&mut rdata);
        negative_soa.extend_from_slice(&RType::SOA.0.to_be_bytes());
        negative_soa.extend_from_slice(&1u16.to_be_bytes());
        negative_soa.extend_from_slice(&ttl.to_be_bytes());
        negative_soa.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        negative_soa.extend_from_slice(&rdata);
    }
    ZoneInfo {
        apex: apex.to_lowercase_wire().into(),
        negative_soa: negative_soa.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::NodeView;
    use crate::testkit::{a, name};

    fn compiled(records: Vec<Record>, down: &[[u8; 4]]) -> Result<TableVersion, CompileError> {
        let down = down.iter().map(|ip| IpAddr::from(*ip)).collect();
        compile(&[ZoneInput::new(name("example."), records)], &down, 7)
    }

    #[test]
    fn builds_names_empty_non_terminals_and_apex_data() {
        let table = compiled(vec![a("a.b.c.example.", 60, [10, 0, 0, 1])], &[])
            .unwrap_or_else(|e| unreachable!("{e}"));
        let find = |n: &str| table.find(&name(n).to_lowercase_wire());
        assert!(find("a.b.c.example.").is_some_and(|n| n.rrset(1).is_some()));
        assert!(find("b.c.example.").is_some_and(|n| n.is_empty()));
        assert!(find("c.example.").is_some_and(|n| n.is_empty()));
        let apex = find("example.").unwrap_or_else(|| unreachable!());
        assert!(apex.rrset(RType::SOA.0).is_some());
        assert!(apex.rrset(RType::NS.0).is_some());
        assert_eq!(table.zones().len(), 1);
        assert!(!table.zone(0).is_some_and(|z| z.negative_soa.is_empty()));
    }

    #[test]
    fn leaves_down_targets_out_unless_all_are_down() {
        let records = vec![
            a("web.example.", 60, [10, 0, 0, 1]),
            a("web.example.", 60, [10, 0, 0, 2]),
        ];
        let served = |down: &[[u8; 4]]| {
            let table = compiled(records.clone(), down).unwrap_or_else(|e| unreachable!("{e}"));
            let node = table.find(&name("web.example.").to_lowercase_wire());
            node.and_then(|n| n.rrset(1))
                .map(|s| s.records().map(|r| r.rdata().to_vec()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(served(&[]).len(), 2);
        assert_eq!(served(&[[10, 0, 0, 1]]), vec![vec![10, 0, 0, 2]]);
        assert_eq!(served(&[[10, 0, 0, 1], [10, 0, 0, 2]]).len(), 2);
    }

    #[test]
    fn rejects_bad_zones_by_name() {
        let cname = Record::new(name("x.example."), 60, RData::Cname(name("y.example.")));
        let err = compiled(vec![cname, a("x.example.", 60, [1, 2, 3, 4])], &[]);
        assert!(matches!(err, Err(CompileError::CnameAndOtherData { .. })));
        let err = compiled(vec![a("x.other.", 60, [1, 2, 3, 4])], &[]);
        assert_eq!(
            err.map(|_| ()).map_err(|e| e.to_string()),
            Err("zone example.: record x.other. lies outside the zone".to_owned())
        );
    }

    #[test]
    fn one_name_compiles_as_in_the_whole_zone() {
        let records = vec![
            a("web.example.", 60, [10, 0, 0, 1]),
            a("web.example.", 60, [10, 0, 0, 2]),
            Record::new(name("web.example."), 30, RData::Txt(vec![b"x".to_vec()])),
            Record::new(name("example."), 60, RData::Ns(name("ns.example."))),
        ];
        let table =
            compiled(records.clone(), &[[10, 0, 0, 2]]).unwrap_or_else(|e| unreachable!("{e}"));
        let down = HashSet::from([IpAddr::from([10, 0, 0, 2])]);
        let apex = name("example.");
        for owner in ["web.example.", "example."] {
            let own: Vec<Record> = records
                .iter()
                .filter(|r| r.name == name(owner))
                .cloned()
                .collect();
            let (node, info) = compile_name(
                &apex,
                0,
                &name(owner),
                &own,
                AnswerPolicy::RoundRobin,
                &down,
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
            let full = table.find(&name(owner).to_lowercase_wire());
            let bytes = |n: NodeView<'_>| {
                n.rrsets()
                    .map(|s| {
                        (
                            s.rtype,
                            s.records().map(|r| r.bytes.to_vec()).collect::<Vec<_>>(),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                full.map(bytes),
                Some(bytes(NodeView::new(&node))),
                "{owner}"
            );
            assert_eq!(
                info.as_ref(),
                (owner == "example.").then(|| &table.zones()[0])
            );
        }
        // No records: an empty non-terminal. Records of another name: refused.
        let (empty, _) = compile_name(
            &apex,
            0,
            &name("a.example."),
            &[],
            AnswerPolicy::RoundRobin,
            &down,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(NodeView::new(&empty).is_empty());
        assert!(
            compile_name(
                &apex,
                0,
                &name("a.example."),
                &records,
                AnswerPolicy::RoundRobin,
                &down
            )
            .is_err()
        );
    }

    #[test]
    fn policies_apply_to_address_sets_only() {
        let mut zone = ZoneInput::new(
            name("example."),
            vec![
                a("web.example.", 60, [10, 0, 0, 1]),
                Record::new(name("web.example."), 60, RData::Txt(vec![b"x".to_vec()])),
            ],
        );
        zone.policy = AnswerPolicy::RandomOne;
        zone.name_policies
            .push((name("web.example."), AnswerPolicy::HoneOne));
        let table = compile(&[zone], &HashSet::new(), 1).unwrap_or_else(|e| unreachable!("{e}"));
        let node = table.find(&name("web.example.").to_lowercase_wire());
        assert_eq!(
            node.and_then(|n| n.rrset(1)).map(|s| s.policy),
            Some(AnswerPolicy::HoneOne)
        );
        assert_eq!(
            node.and_then(|n| n.rrset(16)).map(|s| s.policy),
            Some(AnswerPolicy::RoundRobin)
        );
    }
}
