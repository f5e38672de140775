//! One table from two kinds of source: zone files and the store (static, reread on
//! SIGHUP) and etcd (changing name by name).
//!
//! A full build compiles the static zones together with an empty stub of every
//! etcd zone (which gives each its zone id, SOA and NS), then adds the etcd names
//! to that version one by one with [`compile_name`]: a name that cannot be compiled
//! (an RRset over 64 KiB, say) is logged and served empty instead of failing the
//! whole table. The result is published in one pointer swap, so readers see the
//! old table or the new one, never a mix.
//!
//! An update touches only what changed: [`Publisher::apply`] starts an edit of the
//! published version ([`TableVersion::edit`]), rebuilds the changed names, fixes
//! their empty non-terminals (a name with nothing of its own but names below it
//! stays as an empty node; one with nothing below it goes) and publishes. One name
//! changed in a million-name table copies a few kilobytes.
//!
//! Health applies to every zone: when an address changes state, the names that
//! carry it, in etcd zones (found through the address index) and in static zones
//! (found by a scan of their records), are recompiled with the new DOWN set.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;
use ferrodns_dataplane::record::{RData, Record};
use ferrodns_dataplane::table::{
    CompileError, Table, TableEdit, TableVersion, ZoneInput, compile, compile_name,
};
use tracing::warn;

use super::decode::DecodeError;
use super::records::{EtcdRecords, Update};

/// The zone a name is compiled for: its apex, its id in the version's zone list
/// and the name's effective policy.
#[derive(Debug, Clone, Copy)]
struct ZoneRef<'a> {
    apex: &'a Name,
    id: u16,
    policy: AnswerPolicy,
}

impl ZoneRef<'_> {
    /// The node of `name` from `records` (see [`compile_name`]).
    fn compile(
        &self,
        name: &Name,
        records: &[Record],
        down: &HashSet<IpAddr>,
    ) -> Result<std::sync::Arc<[u8]>, CompileError> {
        compile_name(self.apex, self.id, name, records, self.policy, down).map(|(node, _)| node)
    }
}

/// What a build or an update did, for logs and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Names compiled or removed.
    pub names: usize,
    /// Keys (or CNAMEs) skipped with an error.
    pub errors: usize,
}

/// The writer of the table when etcd is one of its sources.
#[derive(Debug)]
pub struct Publisher {
    table: Table,
    /// Static zones, then a stub (no records) per etcd zone.
    inputs: Vec<ZoneInput>,
    etcd: EtcdRecords,
}

impl Publisher {
    /// `static_zones` come from [`crate::loader::Loader::inputs`]; `etcd_zones` are
    /// stubs (apex and policies) of the zones etcd feeds.
    pub fn new(
        table: Table,
        static_zones: Vec<ZoneInput>,
        etcd_zones: Vec<ZoneInput>,
        etcd: EtcdRecords,
    ) -> Self {
        let mut inputs = static_zones;
        inputs.extend(etcd_zones.into_iter().map(|mut z| {
            z.records.clear();
            z
        }));
        Publisher {
            table,
            inputs,
            etcd,
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn etcd(&self) -> &EtcdRecords {
        &self.etcd
    }

    pub fn etcd_mut(&mut self) -> &mut EtcdRecords {
        &mut self.etcd
    }

    /// Replaces the static zones (after SIGHUP) and rebuilds.
    pub fn set_static(&mut self, static_zones: Vec<ZoneInput>) -> Result<Published, CompileError> {
        let etcd_stubs: Vec<ZoneInput> = self
            .inputs
            .drain(..)
            .filter(|z| self.etcd.decoder().zones.is_etcd_apex(&z.apex))
            .collect();
        self.inputs = static_zones;
        self.inputs.extend(etcd_stubs);
        self.rebuild()
    }

    /// Replaces everything etcd holds (a full load) and rebuilds.
    pub fn set_etcd(&mut self, etcd: EtcdRecords) -> Result<Published, CompileError> {
        self.etcd = etcd;
        self.rebuild()
    }

    /// Compiles every zone afresh and publishes the result in one swap.
    pub fn rebuild(&mut self) -> Result<Published, CompileError> {
        let down = self.etcd.down().clone();
        let base = compile(&self.inputs, &down, self.table.seed())?;
        let mut edit = base.edit();
        let mut published = Published::default();
        let names: Vec<Name> = self.etcd.names().cloned().collect();
        for name in &names {
            let Some(zone) = self.zone_of(&base, name) else {
                continue;
            };
            published.errors += self.put_name(&mut edit, &zone, name, &down);
            published.names += 1;
            self.add_empty_parents(&mut edit, &zone, name);
        }
        self.table.publish(edit.finish());
        Ok(published)
    }

    /// Applies what a batch of etcd events changed and publishes the result.
    pub fn apply(&mut self, update: &Update) -> Published {
        let mut published = Published {
            errors: update.errors.len(),
            ..Published::default()
        };
        if update.names.is_empty() && update.health.is_empty() {
            return published;
        }
        let down = self.etcd.down().clone();
        let current = self.table.current();
        let mut edit = current.edit();
        let mut names: BTreeSet<Name> = update.names.clone();
        for ip in &update.health {
            names.extend(self.etcd.names_with_address(ip));
            published.names += self.recompile_static(&current, &mut edit, ip, &down);
        }
        for name in &names {
            let Some(zone) = self.zone_of(&current, name) else {
                continue;
            };
            published.names += 1;
            if self.etcd.contains(name) || name == zone.apex {
                published.errors += self.put_name(&mut edit, &zone, name, &down);
                self.add_empty_parents(&mut edit, &zone, name);
            } else {
                self.settle_empty(&mut edit, &zone, name);
                let mut cursor = name.parent();
                while let Some(parent) = cursor {
                    if parent == *zone.apex || !parent.is_subdomain_of(zone.apex) {
                        break;
                    }
                    if self.etcd.contains(&parent) {
                        break;
                    }
                    self.settle_empty(&mut edit, &zone, &parent);
                    cursor = parent.parent();
                }
            }
        }
        self.table.publish(edit.finish());
        published
    }

    /// The zone `name` belongs to, if etcd feeds it and the version knows it.
    fn zone_of<'a>(&'a self, version: &TableVersion, name: &Name) -> Option<ZoneRef<'a>> {
        let apex = self.etcd.decoder().zones.etcd_zone(name)?;
        let input = self.inputs.iter().find(|z| z.apex == *apex)?;
        let policy = input
            .name_policies
            .iter()
            .find(|(n, _)| n == name)
            .map_or(input.policy, |(_, p)| *p);
        Some(ZoneRef {
            apex: &input.apex,
            id: version.zone_id(&input.apex)?,
            policy,
        })
    }

    /// Compiles `name` from its etcd records into `edit`; returns the number of
    /// errors (logged here).
    fn put_name(
        &self,
        edit: &mut TableEdit,
        zone: &ZoneRef<'_>,
        name: &Name,
        down: &HashSet<IpAddr>,
    ) -> usize {
        let (records, errors) = self.etcd.name_records(name, name == zone.apex);
        report(&errors);
        match zone.compile(name, &records, down) {
            Ok(node) => {
                edit.insert(node);
                errors.len()
            }
            Err(error) => {
                warn!("etcd name {name} cannot be served, answering it empty: {error}");
                if let Ok(node) = zone.compile(name, &[], down) {
                    edit.insert(node);
                }
                errors.len() + 1
            }
        }
    }

    /// Adds an empty node for every parent of `name` inside its zone that the
    /// edit lacks.
    fn add_empty_parents(&self, edit: &mut TableEdit, zone: &ZoneRef<'_>, name: &Name) {
        let mut cursor = name.parent();
        while let Some(parent) = cursor {
            if !parent.is_subdomain_of(zone.apex)
                || edit.find(&parent.to_lowercase_wire()).is_some()
            {
                break;
            }
            if let Ok(node) = zone.compile(&parent, &[], &HashSet::new()) {
                edit.insert(node);
            }
            cursor = parent.parent();
        }
    }

    /// A name etcd gives nothing: an empty node when names lie below it, else gone.
    fn settle_empty(&self, edit: &mut TableEdit, zone: &ZoneRef<'_>, name: &Name) {
        if self.etcd.has_descendants(name) {
            if let Ok(node) = zone.compile(name, &[], &HashSet::new()) {
                edit.insert(node);
            }
        } else {
            edit.remove(&name.to_lowercase_wire());
        }
    }

    /// Recompiles the static-zone names carrying `ip`; returns how many.
    fn recompile_static(
        &self,
        version: &TableVersion,
        edit: &mut TableEdit,
        ip: &IpAddr,
        down: &HashSet<IpAddr>,
    ) -> usize {
        let mut count = 0;
        for input in &self.inputs {
            let names: BTreeSet<&Name> = input
                .records
                .iter()
                .filter(|r| address(&r.data) == Some(*ip))
                .map(|r| &r.name)
                .collect();
            let Some(id) = version.zone_id(&input.apex) else {
                continue;
            };
            for name in names {
                let records: Vec<Record> = input
                    .records
                    .iter()
                    .filter(|r| r.name == *name)
                    .cloned()
                    .collect();
                let policy: AnswerPolicy = input
                    .name_policies
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(input.policy, |(_, p)| *p);
                let zone = ZoneRef {
                    apex: &input.apex,
                    id,
                    policy,
                };
                match zone.compile(name, &records, down) {
                    Ok(node) => {
                        edit.insert(node);
                        count += 1;
                    }
                    Err(error) => warn!("cannot recompile {name} after a health change: {error}"),
                }
            }
        }
        count
    }
}

fn address(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(v4) => Some(IpAddr::V4(*v4)),
        RData::Aaaa(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
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
    use crate::etcd::decode::{Decoder, Layouts, Zones};
    use ferrodns_dataplane::record::RType;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn publisher() -> Publisher {
        let static_zone = ZoneInput::new(
            name("static.test."),
            vec![Record::new(
                name("www.static.test."),
                60,
                RData::A("10.0.0.1".parse().unwrap_or_else(|_| unreachable!())),
            )],
        );
        let decoder = Decoder::new(
            Layouts::default(),
            Zones::new(&[name("example.com.")], &[name("static.test.")]),
        );
        let mut publisher = Publisher::new(
            Table::new(),
            vec![static_zone],
            vec![ZoneInput::new(name("example.com."), Vec::new())],
            EtcdRecords::new(decoder),
        );
        publisher.rebuild().unwrap_or_else(|e| unreachable!("{e}"));
        publisher
    }

    fn put(publisher: &mut Publisher, key: &str, value: &str) -> Published {
        let mut update = Update::default();
        publisher
            .etcd
            .put(key.as_bytes(), value.as_bytes(), &mut update);
        publisher.apply(&update)
    }

    fn delete(publisher: &mut Publisher, key: &str) {
        let mut update = Update::default();
        publisher.etcd.delete(key.as_bytes(), &mut update);
        publisher.apply(&update);
    }

    /// The A addresses the table answers for `owner` (`None`: no such name).
    fn addresses(publisher: &Publisher, owner: &str) -> Option<Vec<Vec<u8>>> {
        let version = publisher.table.current();
        let node = version.find(&name(owner).to_lowercase_wire())?;
        Some(
            node.rrset(RType::A.0)
                .map(|set| set.records().map(|r| r.rdata().to_vec()).collect())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn edits_add_and_remove_names_and_their_empty_parents() {
        let mut p = publisher();
        assert_eq!(
            addresses(&p, "example.com."),
            Some(vec![]),
            "apex stub with SOA"
        );
        put(
            &mut p,
            "/skydns/com/example/c/b/a",
            r#"{"host":"10.1.0.1"}"#,
        );
        assert_eq!(
            addresses(&p, "a.b.c.example.com."),
            Some(vec![vec![10, 1, 0, 1]])
        );
        assert_eq!(
            addresses(&p, "b.c.example.com."),
            Some(vec![]),
            "empty non-terminal"
        );
        put(&mut p, "/skydns/com/example/c", r#"{"host":"10.1.0.3"}"#);
        delete(&mut p, "/skydns/com/example/c/b/a");
        assert_eq!(addresses(&p, "a.b.c.example.com."), None);
        assert_eq!(
            addresses(&p, "b.c.example.com."),
            None,
            "nothing below it any more"
        );
        assert_eq!(
            addresses(&p, "c.example.com."),
            Some(vec![vec![10, 1, 0, 3]])
        );
        delete(&mut p, "/skydns/com/example/c");
        assert_eq!(addresses(&p, "c.example.com."), None);
        assert_eq!(
            addresses(&p, "example.com."),
            Some(vec![]),
            "the apex stays"
        );
        // A full rebuild gives the same table as the edits.
        put(&mut p, "/skydns/com/example/x/y", r#"{"host":"10.1.0.4"}"#);
        let edited = p.table.current().name_count();
        p.rebuild().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.table.current().name_count(), edited);
    }

    #[test]
    fn health_changes_recompile_names_in_every_zone() {
        let mut p = publisher();
        put(
            &mut p,
            "/containerdns/com/example/web/h1/",
            r#"{"type":"A","host":"10.0.0.1"}"#,
        );
        put(
            &mut p,
            "/containerdns/com/example/web/h2/",
            r#"{"type":"A","host":"10.0.0.2"}"#,
        );
        put(
            &mut p,
            "/containerdns/monitor/status/10.0.0.1",
            r#"{"status":"DOWN"}"#,
        );
        assert_eq!(
            addresses(&p, "web.example.com."),
            Some(vec![vec![10, 0, 0, 2]])
        );
        // Every address of the static name is down: all are served.
        assert_eq!(
            addresses(&p, "www.static.test."),
            Some(vec![vec![10, 0, 0, 1]])
        );
        put(
            &mut p,
            "/containerdns/monitor/status/10.0.0.2",
            r#"{"status":"DOWN"}"#,
        );
        assert_eq!(addresses(&p, "web.example.com.").map(|a| a.len()), Some(2));
        put(
            &mut p,
            "/containerdns/monitor/status/10.0.0.1",
            r#"{"status":"UP"}"#,
        );
        assert_eq!(
            addresses(&p, "web.example.com."),
            Some(vec![vec![10, 0, 0, 1]])
        );
    }

    #[test]
    fn a_name_that_cannot_compile_is_served_empty_and_counted() {
        let mut p = publisher();
        let mut update = Update::default();
        // 5000 addresses at one name: an RRset over 64 KiB.
        for i in 0..5000u32 {
            let value = format!(r#"{{"type":"A","host":"10.9.{}.{}"}}"#, i >> 8, i & 255);
            let key = format!("/containerdns/com/example/big/h{i}/");
            p.etcd.put(key.as_bytes(), value.as_bytes(), &mut update);
        }
        p.etcd.put(
            b"/skydns/com/example/small",
            br#"{"host":"10.0.0.7"}"#,
            &mut update,
        );
        let published = p.apply(&update);
        assert_eq!(published.errors, 1);
        assert_eq!(addresses(&p, "big.example.com."), Some(vec![]));
        assert_eq!(
            addresses(&p, "small.example.com."),
            Some(vec![vec![10, 0, 0, 7]])
        );
        assert_eq!(p.rebuild().map(|r| r.errors).ok(), Some(1));
        assert_eq!(
            addresses(&p, "small.example.com."),
            Some(vec![vec![10, 0, 0, 7]])
        );
    }
}
