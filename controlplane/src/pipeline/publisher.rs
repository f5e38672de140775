//! The one writer of the answer table (see the [pipeline docs](super)).

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;
use ferrodns_dataplane::table::{Table, TableEdit, TableVersion, ZoneInfo, compile_name};
use tracing::{debug, warn};

use super::Update;
use super::model::{Changes, Model, Resolved};
use super::policies::Policies;
use super::serials::{SerialMap, ZoneSerials};
use super::snapshot::ZoneSnapshot;

/// What one batch of updates did, for logs and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Whether a new version was published.
    pub published: bool,
    /// Whether every zone was compiled afresh (the set of zones changed).
    pub rebuilt: bool,
    /// Names compiled or removed.
    pub names: usize,
    /// Records left out and names that could not be compiled (each logged).
    pub errors: usize,
}

/// What the publisher has done, readable without its lock (for `/metrics`).
#[derive(Debug, Default)]
pub struct PublisherStatus {
    uncompilable: AtomicUsize,
    skipped_records: AtomicU64,
    publishes: AtomicU64,
}

impl PublisherStatus {
    /// Names served empty now because their records cannot be compiled.
    pub fn uncompilable(&self) -> usize {
        self.uncompilable.load(Ordering::Relaxed)
    }

    /// Records ever left out because they could not be kept (each was logged).
    pub fn skipped_records(&self) -> u64 {
        self.skipped_records.load(Ordering::Relaxed)
    }

    /// Table versions published.
    pub fn publishes(&self) -> u64 {
        self.publishes.load(Ordering::Relaxed)
    }
}

/// Merges every source's records, applies health and publishes the table.
#[derive(Debug)]
pub struct Publisher {
    table: Table,
    model: Model,
    policies: Policies,
    down: HashSet<IpAddr>,
    /// Names served empty because their records cannot be compiled.
    failing: HashSet<Name>,
    /// Each zone's served SOA serial, and the serials the publisher owns.
    serials: ZoneSerials,
    status: Arc<PublisherStatus>,
}

impl Publisher {
    /// A publisher that serves SOAs as the sources give them (and the
    /// compiler's made-up SOA, serial 1, where they give none).
    pub fn new(table: Table, policies: Policies) -> Self {
        Publisher {
            table,
            model: Model::default(),
            policies,
            down: HashSet::new(),
            failing: HashSet::new(),
            serials: ZoneSerials::default(),
            status: Arc::default(),
        }
    }

    /// Owns a serial per zone, starting at `start` and rising with each
    /// published change of the zone, served where the sources give no serial of
    /// their own (no SOA, or an SOA from a remote backend): what secondaries
    /// need to follow the zone by transfer. See `pipeline/serials.rs`.
    pub fn with_zone_serials(mut self, start: u32) -> Self {
        self.serials = ZoneSerials::starting_at(start);
        self
    }

    /// The counters, shared.
    pub fn status(&self) -> Arc<PublisherStatus> {
        Arc::clone(&self.status)
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Zones served, in canonical order.
    pub fn zones(&self) -> Vec<Name> {
        self.model.zones().map(|(apex, _)| apex.clone()).collect()
    }

    /// Records held, every source counted.
    pub fn record_count(&self) -> usize {
        self.model.record_count()
    }

    /// Names served empty because their records cannot be compiled.
    pub fn uncompilable(&self) -> usize {
        self.failing.len()
    }

    /// Addresses marked down.
    pub fn down(&self) -> &HashSet<IpAddr> {
        &self.down
    }

    /// The A and AAAA addresses every source gives `name` (the names strictly
    /// below it when `below`): what a health check of those names checks.
    pub fn addresses_at(&self, name: &Name, below: bool) -> BTreeSet<IpAddr> {
        self.model.addresses_at(name, below)
    }

    /// Each zone's SOA serial as published, updated after every publish that
    /// changes one (the NOTIFY sender watches it).
    pub fn zone_serials(&self) -> tokio::sync::watch::Receiver<SerialMap> {
        self.serials.watch()
    }

    /// Zone `apex` exactly as served now, for a transfer; `None` when no zone
    /// has that apex. See [`ZoneSnapshot`].
    pub fn zone_snapshot(&self, apex: &Name) -> Option<ZoneSnapshot> {
        let (apex, zone) = self.model.zone(apex)?;
        let apex_stored = zone.get(apex).filter(|_| !self.failing.contains(apex));
        let apex_records = self.serials.snapshot_apex_records(apex, apex_stored);
        let names = zone
            .names()
            .filter(|(name, _)| *name != apex && !self.failing.contains(*name))
            .filter(|(name, _)| self.model.resolves_to(name, apex))
            .map(|(name, stored)| (name.clone(), stored.clone()))
            .collect();
        Some(ZoneSnapshot::new(
            apex.clone(),
            apex_records,
            names,
            self.down.clone(),
        ))
    }

    /// Applies a batch of updates and publishes the result in one swap (nothing
    /// is published when nothing changed).
    pub fn apply(&mut self, updates: Vec<Update>) -> Published {
        let mut changes = Changes::default();
        let mut flipped = Vec::new();
        for update in updates {
            self.take(update, &mut changes, &mut flipped);
        }
        if !flipped.is_empty() && !changes.zones {
            changes.names.extend(self.model.carriers(&flipped));
        }
        if self.serials.owned() {
            // Every zone a change reached serves a higher serial: its apex is
            // compiled again with it.
            let zones: BTreeSet<Name> = changes
                .names
                .iter()
                .flat_map(|name| self.model.enclosing(name).map(|(apex, _)| apex.clone()))
                .collect();
            for apex in zones {
                self.serials.bump(&apex);
                changes.names.insert(apex);
            }
        }
        let errors = changes.refused;
        let mut published = if changes.zones {
            self.rebuild()
        } else if changes.names.is_empty() {
            Published::default()
        } else {
            self.edit(&changes.names)
        };
        published.errors += errors;
        self.status
            .skipped_records
            .fetch_add(errors as u64, Ordering::Relaxed);
        self.status
            .uncompilable
            .store(self.failing.len(), Ordering::Relaxed);
        if published.published {
            self.status.publishes.fetch_add(1, Ordering::Relaxed);
            self.serials.publish();
        }
        published
    }

    /// Compiles every zone afresh and publishes the result.
    pub fn rebuild(&mut self) -> Published {
        let started = Instant::now();
        let mut published = Published {
            published: true,
            rebuilt: true,
            ..Published::default()
        };
        // Parents first: a child zone's nodes replace the parent's of the same name.
        let mut order: Vec<(&Name, _)> = self.model.zones().collect();
        order.sort_by_key(|(apex, _)| apex.label_count());
        let mut edit = TableVersion::empty(self.table.seed()).edit();
        let mut infos: Vec<ZoneInfo> = Vec::with_capacity(order.len());
        let mut failing = HashSet::new();
        let model = &self.model;
        self.serials.retain(|apex| model.zone(apex).is_some());
        for (apex, zone) in order {
            let Ok(id) = u16::try_from(infos.len()) else {
                warn!(zone = %apex, "more than 65535 zones: this one is not served");
                published.errors += 1;
                continue;
            };
            let compiler = Compiler {
                apex,
                id,
                policies: &self.policies,
                down: &self.down,
            };
            let apex_records = self.serials.apex_records(apex, zone.get(apex));
            let (apex_node, info) = compiler.node(apex, &apex_records, &mut failing);
            edit.insert(apex_node);
            infos.push(info.unwrap_or_else(|| empty_info(apex)));
            // Names come in canonical order, so every name's ancestors come
            // before it: `present` holds the names already in the table (with
            // records or as empty non-terminals) that contain the current one.
            let mut present: Vec<Name> = vec![apex.clone()];
            for (name, stored) in zone.names() {
                if name == apex {
                    continue;
                }
                while present
                    .last()
                    .is_some_and(|held| !name.is_subdomain_of(held) || held == name)
                {
                    present.pop();
                }
                let mut missing = Vec::new();
                let mut cursor = name.parent();
                while let Some(parent) = cursor {
                    if present.last() == Some(&parent) || !parent.is_subdomain_of(apex) {
                        break;
                    }
                    cursor = parent.parent();
                    missing.push(parent);
                }
                for parent in missing.into_iter().rev() {
                    edit.insert(compiler.node(&parent, &[], &mut failing).0);
                    present.push(parent);
                }
                edit.insert(compiler.node(name, &stored.records(name), &mut failing).0);
                published.names += 1;
                present.push(name.clone());
            }
        }
        edit.set_zones(infos);
        published.errors += failing.len();
        self.failing = failing;
        self.table.publish(edit.finish());
        debug!(
            zones = self.model.zone_count(),
            names = published.names,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "table compiled"
        );
        published
    }

    /// Folds one update into the model.
    fn take(&mut self, update: Update, changes: &mut Changes, flipped: &mut Vec<IpAddr>) {
        match update {
            Update::Zones { source, zones } => {
                let listed: BTreeSet<&Name> = zones.iter().map(|z| &z.apex).collect();
                let stale: Vec<Name> = self
                    .model
                    .zones()
                    .filter(|(apex, zone)| zone.is_declared_by(source) && !listed.contains(apex))
                    .map(|(apex, _)| apex.clone())
                    .collect();
                for apex in stale {
                    self.model.drop_zone(source, &apex, changes);
                }
                for zone in &zones {
                    self.model
                        .set_zone(source, &zone.apex, &zone.records, changes);
                }
            }
            Update::Zone { source, content } => {
                self.model
                    .set_zone(source, &content.apex, &content.records, changes);
            }
            Update::DropZone { source, apex } => self.model.drop_zone(source, &apex, changes),
            Update::Names {
                source,
                apex,
                names,
            } => self.model.set_names(source, &apex, &names, changes),
            Update::Health { ip, down } => {
                let changed = if down {
                    self.down.insert(ip)
                } else {
                    self.down.remove(&ip)
                };
                if changed {
                    flipped.push(ip);
                }
            }
            Update::Policies(policies) => {
                if policies != self.policies {
                    self.policies = policies;
                    changes.zones = true;
                }
            }
        }
    }

    /// Edits the published version: `names` and their ancestors become what the
    /// model says they are now.
    fn edit(&mut self, names: &BTreeSet<Name>) -> Published {
        let current = self.table.current();
        let mut edit = current.edit();
        let mut infos: Option<Vec<ZoneInfo>> = None;
        let mut published = Published {
            published: true,
            ..Published::default()
        };
        let mut settled: HashSet<Name> = HashSet::new();
        for name in names {
            // The name, then its ancestors for as long as their node may depend on
            // what lies below them (empty non-terminals).
            let mut cursor = Some(name.clone());
            while let Some(at) = cursor.take() {
                let ancestor = at != *name;
                if !settled.insert(at.clone())
                    || (ancestor && self.model.stands_alone(&at))
                    || !self.model.is_inside_a_zone(&at)
                {
                    break;
                }
                let before = self.failing.len();
                if self.settle(&current, &mut edit, &mut infos, &at).is_none() {
                    // A zone the published version does not know: renumber.
                    return self.rebuild();
                }
                published.errors += self.failing.len().saturating_sub(before);
                published.names += 1;
                cursor = at.parent();
            }
        }
        if let Some(infos) = infos {
            edit.set_zones(infos);
        }
        self.table.publish(edit.finish());
        published
    }

    /// Puts what the model says into `edit` at `name`; `None` when the name's
    /// zone is missing from `version`.
    fn settle(
        &mut self,
        version: &TableVersion,
        edit: &mut TableEdit,
        infos: &mut Option<Vec<ZoneInfo>>,
        name: &Name,
    ) -> Option<()> {
        let wire = name.to_lowercase_wire();
        let (apex, records) = match self.model.resolve(name) {
            Resolved::Absent => {
                edit.remove(&wire);
                self.failing.remove(name);
                return Some(());
            }
            Resolved::Node { apex, records } => (apex, records),
        };
        let id = version.zone_id(apex)?;
        let compiler = Compiler {
            apex,
            id,
            policies: &self.policies,
            down: &self.down,
        };
        let records = if name == apex {
            self.serials.apex_records(apex, records)
        } else {
            records.map(|s| s.records(name)).unwrap_or_default()
        };
        let mut failing = HashSet::new();
        let (node, info) = compiler.node(name, &records, &mut failing);
        edit.insert(node);
        if failing.is_empty() {
            self.failing.remove(name);
        } else {
            self.failing.extend(failing);
        }
        if let Some(info) = info {
            let zones = infos.get_or_insert_with(|| version.zones().to_vec());
            if let Some(slot) = zones.get_mut(usize::from(id)) {
                *slot = info;
            }
        }
        Some(())
    }
}

/// Compiles the names of one zone.
struct Compiler<'a> {
    apex: &'a Name,
    id: u16,
    policies: &'a Policies,
    down: &'a HashSet<IpAddr>,
}

impl Compiler<'_> {
    /// The node of `name` from its records (none: an empty non-terminal, or an
    /// apex with only what the compiler synthesises), and the zone's info at the
    /// apex. A name whose records cannot be compiled is logged, added to
    /// `failing` and served empty.
    fn node(
        &self,
        name: &Name,
        records: &[Record],
        failing: &mut HashSet<Name>,
    ) -> (Arc<[u8]>, Option<ZoneInfo>) {
        let policy = self.policies.of(self.apex, name);
        let compile =
            |records: &[_]| compile_name(self.apex, self.id, name, records, policy, self.down);
        match compile(records) {
            Ok(compiled) => compiled,
            Err(error) => {
                warn!("{name} cannot be served, answering it empty: {error}");
                failing.insert(name.clone());
                compile(&[]).unwrap_or_else(|_| (Arc::from(Vec::new()), None))
            }
        }
    }
}

/// The info of a zone without an SOA, for an apex node that could not be built
/// even empty (which the compiler never refuses: it synthesises SOA and NS).
fn empty_info(apex: &Name) -> ZoneInfo {
    ZoneInfo {
        apex: apex.to_lowercase_wire().into(),
        negative_soa: Box::new([]),
    }
}

/// The publisher, shared between the tasks that feed it. Compilation runs on a
/// blocking thread, one batch at a time.
#[derive(Debug, Clone)]
pub struct PublisherHandle {
    inner: Arc<tokio::sync::Mutex<Publisher>>,
}

impl PublisherHandle {
    pub fn new(publisher: Publisher) -> Self {
        PublisherHandle {
            inner: Arc::new(tokio::sync::Mutex::new(publisher)),
        }
    }

    /// [`Publisher::apply`] on a blocking thread.
    pub async fn apply(&self, updates: Vec<Update>) -> Published {
        let mut publisher = Arc::clone(&self.inner).lock_owned().await;
        let job = tokio::task::spawn_blocking(move || publisher.apply(updates)).await;
        job.unwrap_or_else(|error| {
            warn!("publishing failed: {error}");
            Published::default()
        })
    }

    /// [`Publisher::apply`] from a thread that may block (not an async task).
    pub fn apply_blocking(&self, updates: Vec<Update>) -> Published {
        self.inner.blocking_lock().apply(updates)
    }

    /// Reads the publisher's state.
    pub async fn read<T>(&self, read: impl FnOnce(&Publisher) -> T) -> T {
        read(&*self.inner.lock().await)
    }
}
