//! The publisher against its own full compile: whatever sequence of updates
//! arrives, the version it publishes by editing is the one a fresh compile of the
//! same records gives.

use std::collections::HashSet;
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;
use ferrodns_dataplane::record::{RData, RType, Record, Soa};
use ferrodns_dataplane::table::{Table, TableVersion};
use proptest::prelude::*;

use super::*;
use crate::config::ZoneConfig;
use ferrodns_dataplane::testkit::name;

/// An A record at `owner` for `10.0.0.<last>`, TTL 30: the records of the
/// pipeline's and the record writers' tests.
pub(crate) fn a(owner: &str, last: u8) -> Record {
    ferrodns_dataplane::testkit::a(owner, 30, [10, 0, 0, last])
}

/// Every node of a version (zone id, name, each RRset's records) and every
/// zone's negative-answer SOA, sorted: two versions with the same summary answer
/// alike.
pub(crate) fn summary(version: &TableVersion) -> Vec<String> {
    let mut lines: Vec<String> = version
        .nodes()
        .map(|node| {
            let rrsets: Vec<String> = node
                .rrsets()
                .map(|rrset| {
                    let records: Vec<String> = rrset
                        .records()
                        .map(|r| format!("{} {:02x?}", r.ttl(), r.rdata()))
                        .collect();
                    format!("{} {:?} {}", rrset.rtype, rrset.policy, records.join(","))
                })
                .collect();
            format!(
                "{} {:02x?} {}",
                node.zone(),
                node.name(),
                rrsets.join(" | ")
            )
        })
        .collect();
    lines.extend(
        version
            .zones()
            .iter()
            .map(|z| format!("zone {:02x?} {:02x?}", z.apex, z.negative_soa)),
    );
    lines.sort();
    lines
}

/// Applies `updates` to `publisher` and checks the result against a rebuild of
/// the same records.
fn apply_and_compare(publisher: &mut Publisher, updates: Vec<Update>) -> Published {
    let published = publisher.apply(updates);
    let edited = summary(&publisher.table().current());
    publisher.rebuild();
    let rebuilt = summary(&publisher.table().current());
    assert_eq!(edited, rebuilt);
    published
}

fn zones(source: SourceId, zones: Vec<(&str, Vec<Record>)>) -> Update {
    Update::Zones {
        source,
        zones: zones
            .into_iter()
            .map(|(apex, records)| ZoneContent::new(name(apex), records))
            .collect(),
    }
}

fn names(source: SourceId, apex: &str, names: Vec<(&str, Vec<Record>)>) -> Update {
    Update::Names {
        source,
        apex: name(apex),
        names: names
            .into_iter()
            .map(|(owner, records)| (name(owner), records))
            .collect(),
    }
}

fn found(publisher: &Publisher, owner: &str) -> Option<usize> {
    let version = publisher.table().current();
    let node = version.find(&name(owner).to_lowercase_wire())?;
    Some(node.rrsets().map(|set| set.records().count()).sum())
}

#[test]
fn sources_merge_at_a_name_and_leave_it_one_by_one() {
    let mut p = Publisher::new(Table::new(), Policies::default());
    apply_and_compare(
        &mut p,
        vec![zones(
            SourceId::ZoneFiles,
            vec![("example.", vec![a("web.example.", 1)])],
        )],
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "example.",
            vec![("web.example.", vec![a("web.example.", 2)])],
        )],
    );
    assert_eq!(found(&p, "web.example."), Some(2));
    let published = apply_and_compare(
        &mut p,
        vec![zones(SourceId::ZoneFiles, vec![("example.", vec![])])],
    );
    assert!(
        !published.rebuilt,
        "the zone stays: the store still declares it"
    );
    assert_eq!(found(&p, "web.example."), Some(1));
    // Re-sending the same zone changes nothing and publishes nothing.
    let again = p.apply(vec![zones(SourceId::ZoneFiles, vec![("example.", vec![])])]);
    assert!(!again.published);
}

/// A reload's policies land in the same swap as its zones, and only a change
/// of them compiles every zone again.
#[test]
fn new_policies_apply_to_every_name_in_one_publish() {
    let policy_of = |p: &Publisher| {
        let version = p.table().current();
        let node = version.find(&name("web.example.").to_lowercase_wire());
        node.and_then(|n| n.rrsets().next().map(|set| set.policy))
    };
    let mut p = Publisher::new(Table::new(), Policies::default());
    let web = vec![("example.", vec![a("web.example.", 1), a("web.example.", 2)])];
    p.apply(vec![zones(SourceId::ZoneFiles, web.clone())]);
    assert_eq!(policy_of(&p), Some(AnswerPolicy::RoundRobin));
    let hone_one = Policies::new(
        AnswerPolicy::RoundRobin,
        &[ZoneConfig {
            origin: name("example."),
            file: None,
            policy: Some(AnswerPolicy::HoneOne),
            name_policies: Vec::new(),
        }],
    );
    let published = p.apply(vec![
        zones(SourceId::ZoneFiles, web.clone()),
        Update::Policies(hone_one.clone()),
    ]);
    assert!(published.published && published.rebuilt);
    assert_eq!(policy_of(&p), Some(AnswerPolicy::HoneOne));
    let again = p.apply(vec![
        zones(SourceId::ZoneFiles, web),
        Update::Policies(hone_one),
    ]);
    assert!(!again.published, "the same policies change nothing");
}

#[test]
fn nested_zones_give_each_name_to_the_deepest_zone_that_holds_it() {
    let mut p = Publisher::new(Table::new(), Policies::default());
    apply_and_compare(
        &mut p,
        vec![
            zones(
                SourceId::ZoneFiles,
                vec![(
                    "example.",
                    vec![a("x.sub.example.", 1), a("y.a.sub.example.", 2)],
                )],
            ),
            zones(
                SourceId::Store,
                vec![("sub.example.", vec![a("z.sub.example.", 3)])],
            ),
        ],
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "sub.example.",
            vec![("x.sub.example.", vec![a("x.sub.example.", 4)])],
        )],
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "sub.example.",
            vec![("x.sub.example.", vec![])],
        )],
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "sub.example.",
            vec![("b.a.sub.example.", vec![a("b.a.sub.example.", 5)])],
        )],
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "sub.example.",
            vec![("b.a.sub.example.", vec![])],
        )],
    );
    // Dropping the inner zone hands its names back to the outer one.
    let published = apply_and_compare(
        &mut p,
        vec![Update::DropZone {
            source: SourceId::Store,
            apex: name("sub.example."),
        }],
    );
    assert!(published.rebuilt);
    assert_eq!(found(&p, "z.sub.example."), None);
    assert_eq!(found(&p, "x.sub.example."), Some(1));
}

#[test]
fn an_apex_edit_changes_the_negative_answer_soa() {
    let mut p = Publisher::new(Table::new(), Policies::default());
    apply_and_compare(
        &mut p,
        vec![zones(SourceId::Store, vec![("example.", vec![])])],
    );
    let soa = Record::new(
        name("example."),
        3600,
        RData::Soa(Soa {
            mname: name("ns.example."),
            rname: name("admin.example."),
            serial: 7,
            refresh: 1,
            retry: 1,
            expire: 1,
            minimum: 60,
        }),
    );
    let published = apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "example.",
            vec![("example.", vec![soa])],
        )],
    );
    assert!(!published.rebuilt);
}

#[test]
fn health_flips_reach_every_name_with_the_address() {
    let mut p = Publisher::new(Table::new(), Policies::default());
    apply_and_compare(
        &mut p,
        vec![
            zones(
                SourceId::ZoneFiles,
                vec![("one.", vec![a("web.one.", 1), a("web.one.", 2)])],
            ),
            zones(
                SourceId::Etcd,
                vec![("two.", vec![a("api.two.", 1), a("api.two.", 3)])],
            ),
        ],
    );
    let down = IpAddr::from([10, 0, 0, 1]);
    apply_and_compare(
        &mut p,
        vec![Update::Health {
            ip: down,
            down: true,
        }],
    );
    assert_eq!(
        (found(&p, "web.one."), found(&p, "api.two.")),
        (Some(1), Some(1))
    );
    assert_eq!(p.down(), &HashSet::from([down]));
    apply_and_compare(
        &mut p,
        vec![Update::Health {
            ip: down,
            down: false,
        }],
    );
    assert_eq!(
        (found(&p, "web.one."), found(&p, "api.two.")),
        (Some(2), Some(2))
    );
}

#[test]
fn policies_come_from_the_configuration_whatever_the_source() {
    let config = [ZoneConfig {
        origin: name("example."),
        file: None,
        policy: Some(AnswerPolicy::RandomOne),
        name_policies: vec![(name("web.example."), AnswerPolicy::HoneOne)],
    }];
    let mut p = Publisher::new(
        Table::new(),
        Policies::new(AnswerPolicy::RoundRobin, &config),
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Etcd,
            "example.",
            vec![
                ("web.example.", vec![a("web.example.", 1)]),
                ("db.example.", vec![a("db.example.", 2)]),
            ],
        )],
    );
    let version = p.table().current();
    let policy = |owner: &str| {
        version
            .find(&name(owner).to_lowercase_wire())
            .and_then(|n| n.rrset(RType::A.0))
            .map(|s| s.policy)
    };
    assert_eq!(policy("web.example."), Some(AnswerPolicy::HoneOne));
    assert_eq!(policy("db.example."), Some(AnswerPolicy::RandomOne));
}

/// Owners of the random updates: two nested zones and one beside them.
const OWNERS: [&str; 9] = [
    "example.",
    "a.example.",
    "b.a.example.",
    "c.b.a.example.",
    "sub.example.",
    "x.sub.example.",
    "y.x.sub.example.",
    "other.",
    "deep.w.other.",
];
const APEXES: [&str; 3] = ["example.", "sub.example.", "other."];
const SOURCES: [SourceId; 3] = [SourceId::ZoneFiles, SourceId::Store, SourceId::Etcd];

/// Records for `owner`: addresses from a small pool (so health flips hit them),
/// sometimes a CNAME (so some names cannot be compiled).
fn records_for(owner: &str, picks: &[u8]) -> Vec<Record> {
    picks
        .iter()
        .map(|&pick| {
            if pick == 7 {
                Record::new(name(owner), 30, RData::Cname(name("target.elsewhere.")))
            } else {
                a(owner, pick % 4)
            }
        })
        .collect()
}

fn update() -> impl Strategy<Value = Update> {
    let source = prop::sample::select(SOURCES.to_vec());
    let apex = prop::sample::select(APEXES.to_vec());
    let picks = prop::collection::vec(0u8..8, 0..3);
    prop_oneof![
        4 => (source.clone(), apex.clone(), prop::collection::vec((prop::sample::select(OWNERS.to_vec()), picks.clone()), 1..3))
            .prop_map(|(source, apex, owners)| {
                let owned: Vec<(Name, Vec<Record>)> = owners
                    .into_iter()
                    .filter(|(owner, _)| name(owner).is_subdomain_of(&name(apex)))
                    .map(|(owner, picks)| (name(owner), records_for(owner, &picks)))
                    .collect();
                Update::Names { source, apex: name(apex), names: owned }
            }),
        1 => (source.clone(), apex.clone(), prop::collection::vec((prop::sample::select(OWNERS.to_vec()), picks), 0..4))
            .prop_map(|(source, apex, owners)| {
                let records = owners
                    .into_iter()
                    .filter(|(owner, _)| name(owner).is_subdomain_of(&name(apex)))
                    .flat_map(|(owner, picks)| records_for(owner, &picks))
                    .collect();
                Update::Zone { source, content: ZoneContent::new(name(apex), records) }
            }),
        1 => (source, apex).prop_map(|(source, apex)| Update::DropZone { source, apex: name(apex) }),
        2 => (0u8..4, any::<bool>()).prop_map(|(last, down)| Update::Health {
            ip: IpAddr::from([10, 0, 0, last]),
            down,
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn edits_publish_what_a_full_compile_publishes(
        batches in prop::collection::vec(prop::collection::vec(update(), 1..4), 1..12)
    ) {
        let mut publisher = Publisher::new(Table::new(), Policies::default());
        for batch in batches {
            apply_and_compare(&mut publisher, batch);
        }
    }
}

/// The update semantics written out plainly, for comparison: per zone, the
/// sources declaring it and each source's records by name.
#[derive(Default)]
struct Reference {
    zones: std::collections::BTreeMap<
        Name,
        std::collections::BTreeMap<SourceId, std::collections::BTreeMap<Name, Vec<Record>>>,
    >,
    down: HashSet<IpAddr>,
}

impl Reference {
    fn take(&mut self, update: &Update) {
        match update {
            Update::Zones { source, zones } => {
                for held in self.zones.values_mut() {
                    held.remove(source);
                }
                for zone in zones {
                    self.set_zone(*source, zone);
                }
            }
            Update::Zone { source, content } => self.set_zone(*source, content),
            Update::DropZone { source, apex } => {
                if let Some(held) = self.zones.get_mut(apex) {
                    held.remove(source);
                }
            }
            Update::Names {
                source,
                apex,
                names,
            } => {
                let held = self
                    .zones
                    .entry(apex.clone())
                    .or_default()
                    .entry(*source)
                    .or_default();
                for (owner, records) in names {
                    if records.is_empty() {
                        held.remove(owner);
                    } else {
                        held.insert(owner.clone(), records.clone());
                    }
                }
            }
            Update::Health { ip, down } => {
                if *down {
                    self.down.insert(*ip);
                } else {
                    self.down.remove(ip);
                }
            }
            // The generated updates keep the default policies.
            Update::Policies(_) => {}
        }
        self.zones.retain(|_, held| !held.is_empty());
    }

    fn set_zone(&mut self, source: SourceId, content: &ZoneContent) {
        let mut by_name: std::collections::BTreeMap<Name, Vec<Record>> = Default::default();
        for record in &content.records {
            by_name
                .entry(record.name.clone())
                .or_default()
                .push(record.clone());
        }
        self.zones
            .entry(content.apex.clone())
            .or_default()
            .insert(source, by_name);
    }

    fn compile(&self, seed: u64) -> TableVersion {
        let inputs: Vec<ferrodns_dataplane::table::ZoneInput> = self
            .zones
            .iter()
            .map(|(apex, held)| {
                let records = held
                    .values()
                    .flat_map(|names| names.values().flatten().cloned())
                    .collect();
                ferrodns_dataplane::table::ZoneInput::new(apex.clone(), records)
            })
            .collect();
        ferrodns_dataplane::table::compile(&inputs, &self.down, seed)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }
}

fn address_update() -> impl Strategy<Value = Update> {
    update().prop_map(|update| {
        let strip = |records: Vec<Record>| -> Vec<Record> {
            records
                .into_iter()
                .filter(|r| r.rtype() != RType::CNAME)
                .collect()
        };
        match update {
            Update::Names {
                source,
                apex,
                names,
            } => Update::Names {
                source,
                apex,
                names: names.into_iter().map(|(n, r)| (n, strip(r))).collect(),
            },
            Update::Zone { source, content } => Update::Zone {
                source,
                content: ZoneContent::new(content.apex, strip(content.records)),
            },
            other => other,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_model_follows_the_vocabulary_as_written(
        batches in prop::collection::vec(prop::collection::vec(address_update(), 1..4), 1..12)
    ) {
        let mut publisher = Publisher::new(Table::new(), Policies::default());
        let mut reference = Reference::default();
        for batch in batches {
            for update in &batch {
                reference.take(update);
            }
            publisher.apply(batch);
            let expected = reference.compile(publisher.table().seed());
            prop_assert_eq!(summary(&publisher.table().current()), summary(&expected));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn with_owned_serials_edits_still_publish_what_a_rebuild_publishes(
        batches in prop::collection::vec(prop::collection::vec(update(), 1..4), 1..12)
    ) {
        let mut publisher =
            Publisher::new(Table::new(), Policies::default()).with_zone_serials(7);
        for batch in batches {
            apply_and_compare(&mut publisher, batch);
        }
    }
}

fn snapshot_lines(publisher: &Publisher, apex: &str) -> Vec<String> {
    publisher
        .zone_snapshot(&name(apex))
        .map(|s| s.records().map(|r| r.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn owned_serials_rise_with_each_change_of_their_zone_and_transfers_see_them() {
    let mut p = Publisher::new(Table::new(), Policies::default()).with_zone_serials(500);
    let mut watched = p.zone_serials();
    apply_and_compare(
        &mut p,
        vec![zones(
            SourceId::Store,
            vec![("example.", vec![a("web.example.", 1)]), ("other.", vec![])],
        )],
    );
    let serials = watched.borrow_and_update().clone();
    assert_eq!(
        serials
            .iter()
            .map(|(z, s)| (z.to_string(), *s))
            .collect::<Vec<_>>(),
        [("example.".to_owned(), 500), ("other.".to_owned(), 500)]
    );
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "example.",
            vec![(
                "web.example.",
                vec![a("web.example.", 2), a("web.example.", 3)],
            )],
        )],
    );
    assert!(watched.has_changed().unwrap_or(false));
    let serials = watched.borrow_and_update().clone();
    assert_eq!(
        (serials.get(&name("example.")), serials.get(&name("other."))),
        (Some(&501), Some(&500))
    );
    // A health flip changes what is served, so the zone too.
    apply_and_compare(
        &mut p,
        vec![Update::Health {
            ip: IpAddr::from([10, 0, 0, 2]),
            down: true,
        }],
    );
    assert_eq!(
        snapshot_lines(&p, "example."),
        [
            "example. 30 IN SOA ns.dns.example. hostmaster.example. 502 7200 1800 86400 30",
            "example. 30 IN NS ns.dns.example.",
            "web.example. 30 IN A 10.0.0.3",
        ]
    );
    // The table's SOA says the same serial.
    let version = p.table().current();
    let soa = version
        .find(&name("example.").to_lowercase_wire())
        .and_then(|node| node.rrset(RType::SOA.0))
        .and_then(|set| set.records().next().map(|r| r.rdata().to_vec()))
        .unwrap_or_default();
    assert_eq!(
        soa.get(soa.len() - 20..soa.len() - 16),
        Some(&502u32.to_be_bytes()[..])
    );
    assert_eq!(
        watched.borrow_and_update().get(&name("example.")),
        Some(&502)
    );
    assert!(p.zone_snapshot(&name("web.example.")).is_none());
    // Re-sending the same records changes nothing, serial included.
    let again = p.apply(vec![names(
        SourceId::Store,
        "example.",
        vec![(
            "web.example.",
            vec![a("web.example.", 2), a("web.example.", 3)],
        )],
    )]);
    assert!(!again.published);
    assert!(!watched.has_changed().unwrap_or(true));
}

#[test]
fn a_nested_zone_keeps_its_names_out_of_the_outer_zones_transfer() {
    let mut p = Publisher::new(Table::new(), Policies::default());
    apply_and_compare(
        &mut p,
        vec![
            zones(
                SourceId::ZoneFiles,
                vec![(
                    "example.",
                    vec![a("x.sub.example.", 1), a("www.example.", 2)],
                )],
            ),
            zones(
                SourceId::Store,
                vec![("sub.example.", vec![a("y.sub.example.", 3)])],
            ),
        ],
    );
    // x.sub.example. holds records of the outer zone only: the outer zone
    // serves it (see `Model::resolve`), and transfers it.
    let owners = |p: &Publisher, apex: &str| -> Vec<String> {
        snapshot_lines(p, apex)
            .iter()
            .filter_map(|line| line.split(' ').next().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        owners(&p, "example."),
        ["example.", "example.", "x.sub.example.", "www.example."]
    );
    assert_eq!(
        owners(&p, "sub.example."),
        ["sub.example.", "sub.example.", "y.sub.example."]
    );
    // Once the inner zone holds x too, x is the inner zone's alone.
    apply_and_compare(
        &mut p,
        vec![names(
            SourceId::Store,
            "sub.example.",
            vec![("x.sub.example.", vec![a("x.sub.example.", 4)])],
        )],
    );
    assert_eq!(
        owners(&p, "example."),
        ["example.", "example.", "www.example."]
    );
    assert_eq!(
        owners(&p, "sub.example."),
        [
            "sub.example.",
            "sub.example.",
            "x.sub.example.",
            "y.sub.example."
        ]
    );
}
