//! What every source has said, merged: zones, their names, each name's records
//! per source, and which names carry which address (sans-IO).
//!
//! The model answers the questions the publisher asks of it:
//!
//! - Which names did an update change? [`Model::set_names`] and
//!   [`Model::set_zone`] compare the new records with the stored ones name by
//!   name and report only real changes (and whether the set of zones changed,
//!   which renumbers zones).
//! - What should the table hold at a name? [`Model::resolve`]: zones may nest
//!   (a zone file for `example.` and a store zone `svc.example.`), and, as in a
//!   full compile where deeper zones are compiled last, the deepest zone that
//!   produces the name wins: as its apex, as a name with records, or as an empty
//!   non-terminal (a name with nothing of its own but names below it in that
//!   zone).
//! - Which names carry an address whose health changed? [`Model::carriers`]. The
//!   index from addresses to names covers only the addresses health has named
//!   (the first time one is named, one pass over the model finds its names),
//!   so a million address records that no health check watches cost it
//!   nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::Bound;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;
use tracing::warn;

use super::SourceId;
use super::stored::StoredRecords;

/// One zone: who declares it and what its names hold.
#[derive(Debug, Default)]
pub(super) struct Zone {
    declared_by: BTreeSet<SourceId>,
    names: BTreeMap<Name, StoredRecords>,
}

impl Zone {
    /// Names with records, in canonical order (the apex first when it has any).
    pub(super) fn names(&self) -> impl Iterator<Item = (&Name, &StoredRecords)> {
        self.names.iter()
    }

    pub(super) fn is_declared_by(&self, source: SourceId) -> bool {
        self.declared_by.contains(&source)
    }

    pub(super) fn get(&self, name: &Name) -> Option<&StoredRecords> {
        self.names.get(name)
    }

    /// Whether a name strictly below `name` holds records in this zone.
    fn has_descendants(&self, name: &Name) -> bool {
        self.names
            .range((Bound::Excluded(name), Bound::Unbounded))
            .next()
            .is_some_and(|(next, _)| next.is_subdomain_of(name))
    }
}

/// What the table should hold at a name.
#[derive(Debug, Clone, Copy)]
pub(super) enum Resolved<'a> {
    /// A node of zone `apex`: the name's records there (none for an apex without
    /// records of its own, or an empty non-terminal).
    Node {
        apex: &'a Name,
        records: Option<&'a StoredRecords>,
    },
    /// No node.
    Absent,
}

/// What applying updates changed.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Names whose records changed, in any zone.
    pub(super) names: BTreeSet<Name>,
    /// A zone appeared or went: zone ids must be assigned again.
    pub(super) zones: bool,
    /// Records left out because they could not be kept (each logged).
    pub(super) refused: usize,
}

/// Every source's zones and records.
#[derive(Debug, Default)]
pub(super) struct Model {
    zones: BTreeMap<Name, Zone>,
    /// Watched address → the owners of its A/AAAA records, once per zone
    /// holding them.
    watched: HashMap<IpAddr, Vec<Name>>,
    records: usize,
}

impl Model {
    pub(super) fn zones(&self) -> impl Iterator<Item = (&Name, &Zone)> {
        self.zones.iter()
    }

    pub(super) fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// Records held, every source counted.
    pub(super) fn record_count(&self) -> usize {
        self.records
    }

    /// `source` declares zone `apex` (with no records yet if it is new to it).
    pub(super) fn declare(&mut self, source: SourceId, apex: &Name, changes: &mut Changes) {
        let zone = self.zones.entry(apex.clone()).or_insert_with(|| {
            changes.zones = true;
            Zone::default()
        });
        zone.declared_by.insert(source);
    }

    /// `source` no longer holds zone `apex`: its records there go, and so does the
    /// zone when no other source declares it.
    pub(super) fn drop_zone(&mut self, source: SourceId, apex: &Name, changes: &mut Changes) {
        let Some(zone) = self.zones.get(apex) else {
            return;
        };
        let owned: Vec<Name> = zone
            .names
            .iter()
            .filter(|(_, stored)| stored.has(source))
            .map(|(name, _)| name.clone())
            .collect();
        for name in owned {
            self.set_name(source, apex, &name, &[], changes);
        }
        let Some(zone) = self.zones.get_mut(apex) else {
            return;
        };
        zone.declared_by.remove(&source);
        if zone.declared_by.is_empty() {
            let names: Vec<Name> = zone.names.keys().cloned().collect();
            for name in &names {
                self.put(apex, name, None, changes);
            }
            self.zones.remove(apex);
            changes.zones = true;
        }
    }

    /// Zone `apex` of `source` is now exactly `records`.
    pub(super) fn set_zone(
        &mut self,
        source: SourceId,
        apex: &Name,
        records: &[Record],
        changes: &mut Changes,
    ) {
        self.declare(source, apex, changes);
        let mut by_name: Vec<&Record> = Vec::with_capacity(records.len());
        for record in records {
            if record.name.is_subdomain_of(apex) {
                by_name.push(record);
            } else {
                warn!(zone = %apex, %source, "record {record} lies outside the zone; skipped");
                changes.refused += 1;
            }
        }
        // Stable: a name's records keep the order the source gave them. Sources
        // usually send names in canonical order, which this sort only checks.
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let runs = by_name
            .chunk_by(|a, b| a.name == b.name)
            .filter_map(|run| run.first().map(|first| (&first.name, run)));
        let is_empty = self.zones.get(apex).is_none_or(|z| z.names.is_empty());
        if is_empty {
            self.fill(source, apex, runs, changes);
            return;
        }
        let mut listed: Vec<&Name> = Vec::new();
        let mut owned: Vec<Record> = Vec::new();
        for (name, run) in runs {
            owned.clear();
            owned.extend(run.iter().map(|r| (*r).clone()));
            self.set_name(source, apex, name, &owned, changes);
            listed.push(name);
        }
        // Both lists are in canonical order: one merging walk finds the names
        // `source` held and no longer lists.
        let mut stale: Vec<Name> = Vec::new();
        if let Some(zone) = self.zones.get(apex) {
            let mut next = listed.iter().peekable();
            for (name, stored) in &zone.names {
                while next.next_if(|listed| **listed < name).is_some() {}
                let is_listed = next.peek().is_some_and(|listed| **listed == name);
                if stored.has(source) && !is_listed {
                    stale.push(name.clone());
                }
            }
        }
        for name in stale {
            self.set_name(source, apex, &name, &[], changes);
        }
    }

    /// Fills the empty zone `apex` with `source`'s names (in canonical order) in
    /// one bulk build, instead of a tree insertion per name.
    fn fill<'r>(
        &mut self,
        source: SourceId,
        apex: &Name,
        runs: impl Iterator<Item = (&'r Name, &'r [&'r Record])>,
        changes: &mut Changes,
    ) {
        let mut built: Vec<(Name, StoredRecords)> = Vec::new();
        let mut owned: Vec<Record> = Vec::new();
        for (name, run) in runs {
            owned.clear();
            owned.extend(run.iter().map(|r| (*r).clone()));
            let (stored, refused) = StoredRecords::with_slot(None, source, &owned);
            for (record, why) in &refused {
                warn!(zone = %apex, %source, "record {record} not served: {why}");
            }
            changes.refused += refused.len();
            if let Some(stored) = stored {
                self.records += stored.count();
                built.push((name.clone(), stored));
            }
        }
        for (name, stored) in &built {
            for ip in stored.addresses() {
                if let Some(owners) = self.watched.get_mut(&ip) {
                    owners.push(name.clone());
                }
            }
            if !changes.zones {
                changes.names.insert(name.clone());
            }
        }
        if let Some(zone) = self.zones.get_mut(apex) {
            zone.names = built.into_iter().collect();
        }
    }

    /// In zone `apex`, `source` now holds exactly `records` at `name` (declaring
    /// the zone for `source` if needed).
    pub(super) fn set_names(
        &mut self,
        source: SourceId,
        apex: &Name,
        names: &[(Name, Vec<Record>)],
        changes: &mut Changes,
    ) {
        self.declare(source, apex, changes);
        for (name, records) in names {
            if !name.is_subdomain_of(apex) {
                warn!(zone = %apex, %source, "name {name} lies outside the zone; skipped");
                changes.refused += records.len();
                continue;
            }
            let (mine, strays): (Vec<&Record>, Vec<&Record>) =
                records.iter().partition(|r| r.name == *name);
            for stray in strays {
                warn!(zone = %apex, %source, "record {stray} given for {name}; skipped");
                changes.refused += 1;
            }
            let mine: Vec<Record> = mine.into_iter().cloned().collect();
            self.set_name(source, apex, name, &mine, changes);
        }
    }

    /// Replaces `source`'s records at `name` of zone `apex` (which exists).
    fn set_name(
        &mut self,
        source: SourceId,
        apex: &Name,
        name: &Name,
        records: &[Record],
        changes: &mut Changes,
    ) {
        let Some(zone) = self.zones.get(apex) else {
            return;
        };
        let old = zone.names.get(name);
        if old.is_none() && records.is_empty() {
            return;
        }
        let (new, refused) = StoredRecords::with_slot(old, source, records);
        for (record, why) in &refused {
            warn!(zone = %apex, %source, "record {record} not served: {why}");
        }
        changes.refused += refused.len();
        self.put(apex, name, new, changes);
    }

    /// Makes `new` what `name` of zone `apex` holds, keeping the address index and
    /// the record count; notes the name when that is a change (unless every zone
    /// is to be compiled afresh anyway).
    fn put(&mut self, apex: &Name, name: &Name, new: Option<StoredRecords>, changes: &mut Changes) {
        let Model {
            zones,
            watched,
            records,
        } = self;
        let Some(zone) = zones.get_mut(apex) else {
            return;
        };
        let old = match &new {
            Some(new) if zone.names.get(name) == Some(new) => return,
            Some(new) => zone.names.insert(name.clone(), new.clone()),
            None => zone.names.remove(name),
        };
        if old.is_none() && new.is_none() {
            return;
        }
        *records -= old.as_ref().map_or(0, StoredRecords::count);
        *records += new.as_ref().map_or(0, StoredRecords::count);
        if !watched.is_empty() {
            let addresses = |stored: &Option<StoredRecords>| -> Vec<IpAddr> {
                stored.iter().flat_map(StoredRecords::addresses).collect()
            };
            let (gone, came) = (addresses(&old), addresses(&new));
            for ip in gone.iter().filter(|ip| !came.contains(ip)) {
                if let Some(owners) = watched.get_mut(ip)
                    && let Some(at) = owners.iter().position(|n| n == name)
                {
                    owners.swap_remove(at);
                }
            }
            for ip in came.iter().filter(|ip| !gone.contains(ip)) {
                if let Some(owners) = watched.get_mut(ip) {
                    owners.push(name.clone());
                }
            }
        }
        if !changes.zones {
            changes.names.insert(name.clone());
        }
    }

    /// The names with an A or AAAA record of any of `ips`, in any zone. An
    /// address asked about for the first time is found by one pass over the
    /// model (shared by every new address of the call) and watched from then on.
    pub(super) fn carriers(&mut self, ips: &[IpAddr]) -> Vec<Name> {
        let new: Vec<IpAddr> = ips
            .iter()
            .filter(|ip| !self.watched.contains_key(ip))
            .copied()
            .collect();
        if !new.is_empty() {
            for ip in &new {
                self.watched.insert(*ip, Vec::new());
            }
            for zone in self.zones.values() {
                for (name, stored) in &zone.names {
                    for ip in stored.addresses() {
                        if new.contains(&ip)
                            && let Some(owners) = self.watched.get_mut(&ip)
                        {
                            owners.push(name.clone());
                        }
                    }
                }
            }
        }
        ips.iter()
            .filter_map(|ip| self.watched.get(ip))
            .flatten()
            .cloned()
            .collect()
    }

    /// The addresses of the A and AAAA records at `name` (at the names strictly
    /// below it when `below`), in every zone holding them.
    pub(super) fn addresses_at(&self, name: &Name, below: bool) -> BTreeSet<IpAddr> {
        let mut out = BTreeSet::new();
        for zone in self.zones.values() {
            if below {
                let after = (Bound::Excluded(name), Bound::Unbounded);
                for (_, stored) in zone
                    .names
                    .range::<Name, _>(after)
                    .take_while(|(owner, _)| owner.is_subdomain_of(name))
                {
                    out.extend(stored.addresses());
                }
            } else if let Some(stored) = zone.names.get(name) {
                out.extend(stored.addresses());
            }
        }
        out
    }

    /// The zone whose apex is `apex`, with its apex as stored.
    pub(super) fn zone(&self, apex: &Name) -> Option<(&Name, &Zone)> {
        self.zones.get_key_value(apex)
    }

    /// Whether zone `apex` is the one that serves `name` (see [`Model::resolve`]).
    pub(super) fn resolves_to(&self, name: &Name, apex: &Name) -> bool {
        matches!(self.resolve(name), Resolved::Node { apex: zone, .. } if zone == apex)
    }

    /// The zones containing `name`, deepest first.
    pub(super) fn enclosing(&self, name: &Name) -> impl Iterator<Item = (&Name, &Zone)> {
        let mut cursor = Some(name.clone());
        std::iter::from_fn(move || {
            while let Some(candidate) = cursor.take() {
                cursor = candidate.parent();
                if let Some(found) = self.zones.get_key_value(&candidate) {
                    return Some(found);
                }
            }
            None
        })
    }

    /// What the table should hold at `name` (see the module docs).
    pub(super) fn resolve(&self, name: &Name) -> Resolved<'_> {
        for (apex, zone) in self.enclosing(name) {
            let records = zone.names.get(name);
            if apex == name || records.is_some() || zone.has_descendants(name) {
                return Resolved::Node { apex, records };
            }
        }
        Resolved::Absent
    }

    /// Whether the node at `name` cannot depend on the names below it: `name` is
    /// the apex of, or holds records in, the deepest zone containing it. (A name
    /// with records in an outer zone can still be taken over by an empty
    /// non-terminal of an inner one.)
    pub(super) fn stands_alone(&self, name: &Name) -> bool {
        self.enclosing(name)
            .next()
            .is_some_and(|(apex, zone)| apex == name || zone.names.contains_key(name))
    }

    /// Whether `name` lies in some zone.
    pub(super) fn is_inside_a_zone(&self, name: &Name) -> bool {
        self.enclosing(name).next().is_some()
    }
}
