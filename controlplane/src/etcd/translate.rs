//! What etcd's keys amount to in the pipeline's vocabulary (sans-IO).
//!
//! [`super::records::EtcdRecords`] turns key events into "these names may have
//! changed, these addresses changed health"; this module asks it for each such
//! name's records (assembled from all of the name's keys) and says it to the
//! [publisher](crate::pipeline): "these names of zone Z now hold these records",
//! "address A is down". A full load says "etcd holds exactly these zones". The
//! publisher does the rest (merging, health, empty non-terminals, compiling).

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;
use tracing::warn;

use super::decode::DecodeError;
use super::records::{EtcdRecords, Update as Events};
use crate::pipeline::{SourceId, Update, ZoneContent};

/// Everything etcd holds: every etcd zone (even without records, so that it
/// exists with its SOA and NS), and the health of every address whose state
/// differs from `was_down` (the addresses down before this load).
pub(crate) fn full(records: &EtcdRecords, was_down: &HashSet<IpAddr>) -> Vec<Update> {
    let zones = &records.decoder().zones;
    let mut contents: BTreeMap<Name, Vec<Record>> = zones
        .etcd_apexes()
        .map(|apex| (apex.clone(), Vec::new()))
        .collect();
    for name in records.names() {
        let Some(apex) = zones.etcd_zone(name) else {
            continue;
        };
        let (mine, errors) = records.name_records(name, name == apex);
        report(&errors);
        if let Some(content) = contents.get_mut(apex) {
            content.extend(mine);
        }
    }
    let mut updates: Vec<Update> = vec![Update::Zones {
        source: SourceId::Etcd,
        zones: contents
            .into_iter()
            .map(|(apex, records)| ZoneContent::new(apex, records))
            .collect(),
    }];
    let down = records.down();
    updates.extend(down.difference(was_down).map(|ip| Update::Health {
        ip: *ip,
        down: true,
    }));
    updates.extend(was_down.difference(down).map(|ip| Update::Health {
        ip: *ip,
        down: false,
    }));
    updates
}

/// What a batch of events changed.
pub(crate) fn changes(records: &EtcdRecords, events: &Events) -> Vec<Update> {
    report(&events.errors);
    let zones = &records.decoder().zones;
    let mut by_zone: BTreeMap<Name, Vec<(Name, Vec<Record>)>> = BTreeMap::new();
    for name in &events.names {
        let Some(apex) = zones.etcd_zone(name) else {
            continue;
        };
        let (mine, errors) = records.name_records(name, name == apex);
        report(&errors);
        by_zone
            .entry(apex.clone())
            .or_default()
            .push((name.clone(), mine));
    }
    let mut updates: Vec<Update> = by_zone
        .into_iter()
        .map(|(apex, names)| Update::Names {
            source: SourceId::Etcd,
            apex,
            names,
        })
        .collect();
    updates.extend(events.health.iter().map(|ip| Update::Health {
        ip: *ip,
        down: records.down().contains(ip),
    }));
    updates
}

/// Logs errors about single keys.
pub(crate) fn report(errors: &[DecodeError]) {
    for error in errors {
        warn!("{error}; skipped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layouts;
    use crate::etcd::decode::{Decoder, Zones};
    use crate::pipeline::{Policies, Publisher};
    use ferrodns_dataplane::record::{RData, RType};
    use ferrodns_dataplane::table::Table;
    use ferrodns_dataplane::testkit::name;

    /// A publisher with one static zone (from zone files) and the etcd zone
    /// `example.com.`, as `ferrodns serve` sets them up.
    struct Fixture {
        publisher: Publisher,
        etcd: EtcdRecords,
    }

    fn fixture() -> Fixture {
        let mut publisher = Publisher::new(Table::new(), Policies::default());
        publisher.apply(vec![Update::Zones {
            source: SourceId::ZoneFiles,
            zones: vec![ZoneContent::new(
                name("static.test."),
                vec![Record::new(
                    name("www.static.test."),
                    60,
                    RData::A("10.0.0.1".parse().unwrap_or_else(|_| unreachable!())),
                )],
            )],
        }]);
        let decoder = Decoder::new(
            Layouts::default(),
            Zones::new(&[name("example.com.")], &[name("static.test.")]),
        );
        let etcd = EtcdRecords::new(decoder);
        publisher.apply(full(&etcd, &HashSet::new()));
        Fixture { publisher, etcd }
    }

    /// Two addresses at web.example.com., the first marked DOWN.
    const WEB_WITH_ONE_DOWN: [(&str, Option<&str>); 3] = [
        (
            "/containerdns/com/example/web/h1/",
            Some(r#"{"type":"A","host":"10.0.0.1"}"#),
        ),
        (
            "/containerdns/com/example/web/h2/",
            Some(r#"{"type":"A","host":"10.0.0.2"}"#),
        ),
        (
            "/containerdns/monitor/status/10.0.0.1",
            Some(r#"{"status":"DOWN"}"#),
        ),
    ];

    impl Fixture {
        fn events(&mut self, events: &[(&str, Option<&str>)]) -> crate::pipeline::Published {
            let mut batch = Events::default();
            for (key, value) in events {
                match value {
                    Some(value) => self.etcd.put(key.as_bytes(), value.as_bytes(), &mut batch),
                    None => self.etcd.delete(key.as_bytes(), &mut batch),
                }
            }
            self.publisher.apply(changes(&self.etcd, &batch))
        }

        fn put(&mut self, key: &str, value: &str) -> crate::pipeline::Published {
            self.events(&[(key, Some(value))])
        }

        fn delete(&mut self, key: &str) {
            self.events(&[(key, None)]);
        }

        /// The A addresses the table answers for `owner` (`None`: no such name).
        fn addresses(&self, owner: &str) -> Option<Vec<Vec<u8>>> {
            let version = self.publisher.table().current();
            let node = version.find(&name(owner).to_lowercase_wire())?;
            Some(
                node.rrset(RType::A.0)
                    .map(|set| set.records().map(|r| r.rdata().to_vec()).collect())
                    .unwrap_or_default(),
            )
        }
    }

    #[test]
    fn edits_add_and_remove_names_and_their_empty_parents() {
        let mut f = fixture();
        assert_eq!(
            f.addresses("example.com."),
            Some(vec![]),
            "apex stub with SOA"
        );
        f.put("/skydns/com/example/c/b/a", r#"{"host":"10.1.0.1"}"#);
        assert_eq!(
            f.addresses("a.b.c.example.com."),
            Some(vec![vec![10, 1, 0, 1]])
        );
        assert_eq!(
            f.addresses("b.c.example.com."),
            Some(vec![]),
            "empty non-terminal"
        );
        f.put("/skydns/com/example/c", r#"{"host":"10.1.0.3"}"#);
        f.delete("/skydns/com/example/c/b/a");
        assert_eq!(f.addresses("a.b.c.example.com."), None);
        assert_eq!(
            f.addresses("b.c.example.com."),
            None,
            "nothing below it any more"
        );
        assert_eq!(f.addresses("c.example.com."), Some(vec![vec![10, 1, 0, 3]]));
        f.delete("/skydns/com/example/c");
        assert_eq!(f.addresses("c.example.com."), None);
        assert_eq!(f.addresses("example.com."), Some(vec![]), "the apex stays");
        // A full rebuild gives the same table as the edits.
        f.put("/skydns/com/example/x/y", r#"{"host":"10.1.0.4"}"#);
        let edited = f.publisher.table().current().name_count();
        f.publisher.rebuild();
        assert_eq!(f.publisher.table().current().name_count(), edited);
    }

    #[test]
    fn health_changes_recompile_names_in_every_zone() {
        let mut f = fixture();
        f.events(&WEB_WITH_ONE_DOWN);
        assert_eq!(
            f.addresses("web.example.com."),
            Some(vec![vec![10, 0, 0, 2]])
        );
        // Every address of the static name is down: all are served.
        assert_eq!(
            f.addresses("www.static.test."),
            Some(vec![vec![10, 0, 0, 1]])
        );
        f.put(
            "/containerdns/monitor/status/10.0.0.2",
            r#"{"status":"DOWN"}"#,
        );
        assert_eq!(f.addresses("web.example.com.").map(|a| a.len()), Some(2));
        f.put(
            "/containerdns/monitor/status/10.0.0.1",
            r#"{"status":"UP"}"#,
        );
        assert_eq!(
            f.addresses("web.example.com."),
            Some(vec![vec![10, 0, 0, 1]])
        );
    }

    #[test]
    fn a_name_that_cannot_compile_is_served_empty_and_counted() {
        let mut f = fixture();
        // 5000 addresses at one name: an RRset over 64 KiB.
        let mut batch: Vec<(String, String)> = (0..5000u32)
            .map(|i| {
                (
                    format!("/containerdns/com/example/big/h{i}/"),
                    format!(r#"{{"type":"A","host":"10.9.{}.{}"}}"#, i >> 8, i & 255),
                )
            })
            .collect();
        batch.push((
            "/skydns/com/example/small".into(),
            r#"{"host":"10.0.0.7"}"#.into(),
        ));
        let events: Vec<(&str, Option<&str>)> = batch
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        let published = f.events(&events);
        assert_eq!(published.errors, 1);
        assert_eq!(f.addresses("big.example.com."), Some(vec![]));
        assert_eq!(
            f.addresses("small.example.com."),
            Some(vec![vec![10, 0, 0, 7]])
        );
        assert_eq!(f.publisher.rebuild().errors, 1);
        assert_eq!(f.publisher.uncompilable(), 1);
        assert_eq!(
            f.addresses("small.example.com."),
            Some(vec![vec![10, 0, 0, 7]])
        );
    }

    #[test]
    fn a_full_load_brings_back_addresses_no_longer_down() {
        let mut f = fixture();
        f.events(&WEB_WITH_ONE_DOWN);
        assert_eq!(f.addresses("web.example.com.").map(|a| a.len()), Some(1));
        // etcd compacted; the reload finds 10.0.0.1 UP again.
        let was_down = f.etcd.down().clone();
        let pairs = WEB_WITH_ONE_DOWN.iter().map(|(key, value)| {
            let value = match key.contains("monitor") {
                true => r#"{"status":"UP"}"#,
                false => value.unwrap_or_default(),
            };
            (key.as_bytes().to_vec(), value.as_bytes().to_vec())
        });
        let (reloaded, _) = EtcdRecords::load(f.etcd.decoder().clone(), pairs);
        f.publisher.apply(full(&reloaded, &was_down));
        assert_eq!(f.addresses("web.example.com.").map(|a| a.len()), Some(2));
    }
}
