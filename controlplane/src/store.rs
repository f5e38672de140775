//! The embedded record store: zones and records operators write over the REST API
//! and the CLI, kept in one [redb] file.
//!
//! # Layout
//!
//! The file holds three tables:
//!
//! - `meta` (`&str` → `u64`): `format_version`, currently [`FORMAT_VERSION`]. A file
//!   with another version is refused with [`StoreError::UnsupportedVersion`]; a later
//!   layout migrates older files in [`Store::open`] before bumping the number.
//! - `zones` (`&[u8]` → `&[u8]`): name key of the apex → apex wire, case as written.
//! - `records` (`&[u8]` → `&[u8]`), one entry per record:
//!
//!   ```text
//!   key   = name key(zone apex) ‖ name key(owner) ‖ rtype (u16 BE) ‖ canonical rdata
//!   value = ttl (u32 BE) ‖ rtype (u16 BE) ‖ owner length (u8) ‖ owner wire ‖ rdata wire
//!   ```
//!
//! A *name key* lists the labels from the rightmost, ASCII-lowercased, each followed
//! by `00 01`, a `00` octet inside a label escaped as `00 FF`, and the name ends with
//! `00 00`. Byte order on name keys is therefore canonical DNS order (RFC 4034 §6.1),
//! and no name key is a prefix of another, so every zone's records form one
//! contiguous key range, as do the records of one owner and of one RRset. The
//! *canonical rdata* is the wire rdata with the names in it lowercased (RFC 4034
//! §6.2), so the key identifies a record the way [`RData`]'s equality does
//! (names case-insensitive), while the value keeps owner and rdata as written.
//!
//! A record belongs to the *longest* stored zone that contains its owner. Adding a
//! zone inside another adopts the enclosing zone's records below the new apex;
//! removing a zone deletes its records (records of zones below it stay where they
//! are).
//!
//! # Consistency rules
//!
//! Owners outside every zone are refused; everything else a change must obey is
//! [`crate::records::rules`], the rules the etcd writer applies too (a record that
//! survives the wire format, a TTL under 2³¹, SOA only and CNAME never at an apex,
//! a CNAME alone at its name, CNAME and SOA singletons). A refused change fails its
//! whole batch.
//!
//! # Durability
//!
//! Every write is one redb write transaction committed with
//! [`Durability::Immediate`]: the file is fsync'd before the call returns `Ok`, and a
//! failed call leaves nothing behind (the transaction is dropped, which aborts it).
//! A crash mid-commit leaves the previous commit, which redb recovers on the next
//! open. Every method blocks on disk I/O; async callers should run them on a
//! blocking thread (`tokio::task::spawn_blocking`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record, Soa};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, TableHandle,
    WriteTransaction,
};

use crate::records::rules::{self, RuleError};
use crate::records::{Applied, Change};

/// The layout version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");
const ZONES: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("zones");
const RECORDS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("records");
const FORMAT_KEY: &str = "format_version";

/// redb's page cache bound. The control plane reads the store once into the answer
/// table and then mostly writes, so a small cache is enough.
const CACHE_BYTES: usize = 64 << 20;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created as a redb database (including a file
    /// that is not a redb database at all, or one another process holds open).
    #[error("cannot open record store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: Box<redb::DatabaseError>,
    },
    /// The file is a redb database, but not one of ours.
    #[error("{} is a redb database but not a ferrodns record store", path.display())]
    Foreign { path: PathBuf },
    /// The file was written by a build with another layout.
    #[error(
        "record store {} has format version {found}; this build reads version {FORMAT_VERSION}",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, found: u64 },
    /// redb failed while the store was doing `action`.
    #[error("record store {}: {action} failed: {source}", path.display())]
    Storage {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: Box<redb::Error>,
    },
    /// An entry in the file cannot be decoded.
    #[error("record store {} is corrupt: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    /// The owner of a record lies in no stored zone.
    #[error("{0} is not inside any stored zone")]
    OutsideZones(Name),
    /// The zone asked for is not stored.
    #[error("zone {0} is not in the store")]
    NoSuchZone(Name),
    /// The change breaks a [record-change rule](crate::records::rules): an
    /// invalid record, a CNAME beside other data, a name over a limit.
    #[error(transparent)]
    Rule(#[from] RuleError),
}

/// What the store holds at one name; see [`Store::name_state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameState {
    pub zone: Name,
    pub records: Vec<Record>,
    pub has_descendants: bool,
}

/// A batch of [`Store::apply`] failed; nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct BatchError {
    /// The failed change's index in the batch; None when the transaction itself
    /// failed.
    pub change: Option<usize>,
    #[source]
    pub source: StoreError,
}

/// The embedded record store. Cheap to share behind an `Arc`: redb serialises
/// writers and lets readers proceed on snapshots.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Adds the store's path and the failed action to a redb error.
trait Context<T> {
    fn ctx(self, path: &Path, action: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> Context<T> for Result<T, E> {
    fn ctx(self, path: &Path, action: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Storage {
            path: path.to_owned(),
            action,
            source: Box::new(e.into()),
        })
    }
}

type Bytes = &'static [u8];

impl Store {
    /// Opens or creates the single-file store. Errors name the path.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        let store = Store {
            db,
            path: path.to_owned(),
        };
        store.initialise()?;
        Ok(store)
    }

    /// Checks the format version of an existing store, or lays out a new one.
    fn initialise(&self) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        let tables: Vec<String> = txn
            .list_tables()
            .ctx(&self.path, "list tables")?
            .map(|table| table.name().to_owned())
            .collect();
        if tables.iter().any(|name| name == META.name()) {
            let found = {
                let meta = txn.open_table(META).ctx(&self.path, "open meta table")?;
                let found = meta
                    .get(FORMAT_KEY)
                    .ctx(&self.path, "read format version")?;
                found.map(|v| v.value())
            };
            txn.abort().ctx(&self.path, "end open transaction")?;
            // A future layout migrates older versions here.
            return match found {
                Some(FORMAT_VERSION) => Ok(()),
                Some(found) => Err(StoreError::UnsupportedVersion {
                    path: self.path.clone(),
                    found,
                }),
                None => Err(self.corrupt("meta table has no format version".into())),
            };
        }
        if !tables.is_empty() {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
            });
        }
        {
            let mut meta = txn.open_table(META).ctx(&self.path, "create meta table")?;
            meta.insert(FORMAT_KEY, FORMAT_VERSION)
                .ctx(&self.path, "write format version")?;
            txn.open_table(ZONES)
                .ctx(&self.path, "create zones table")?;
            txn.open_table(RECORDS)
                .ctx(&self.path, "create records table")?;
        }
        txn.commit().ctx(&self.path, "commit new store layout")
    }

    /// A write transaction that is durable on commit, whatever redb's default.
    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self
            .db
            .begin_write()
            .ctx(&self.path, "begin write transaction")?;
        txn.set_durability(Durability::Immediate)
            .ctx(&self.path, "set durability")?;
        Ok(txn)
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    /// Adds a zone; adding a stored zone again does nothing. Records of an enclosing
    /// zone that lie at or below the new apex move into the new zone.
    pub fn add_zone(&self, apex: &Name) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut zones = txn.open_table(ZONES).ctx(&self.path, "open zones table")?;
            let key = name_key(apex);
            if zones
                .get(key.as_slice())
                .ctx(&self.path, "look up zone")?
                .is_some()
            {
                drop(zones);
                return txn.abort().ctx(&self.path, "end add_zone transaction");
            }
            let enclosing = match apex.parent() {
                Some(parent) => self.longest_zone(&zones, &parent)?,
                None => None,
            };
            zones
                .insert(key.as_slice(), apex.as_wire())
                .ctx(&self.path, "insert zone")?;
            if let Some(enclosing) = enclosing {
                let mut records = txn
                    .open_table(RECORDS)
                    .ctx(&self.path, "open records table")?;
                let mut prefix = name_key(&enclosing);
                prefix.extend_from_slice(subtree_prefix(apex).as_slice());
                let moved = self.extract_prefix(&mut records, &prefix)?;
                for value in moved {
                    let record = self.decode_value(&value)?;
                    if record.rtype() == RType::CNAME && record.name == *apex {
                        return Err(StoreError::Rule(RuleError::Invalid {
                            record: Box::new(record),
                            reason: "a zone apex cannot hold a CNAME; delete it before adding the zone",
                        }));
                    }
                    records
                        .insert(record_key(apex, &record).as_slice(), value.as_slice())
                        .ctx(&self.path, "move record into new zone")?;
                }
            }
        }
        txn.commit().ctx(&self.path, "commit add_zone")
    }

    /// Removes a zone and its records (not those of zones below it). Returns false
    /// when the zone was not stored.
    pub fn remove_zone(&self, apex: &Name) -> Result<bool, StoreError> {
        let txn = self.begin_write()?;
        {
            let mut zones = txn.open_table(ZONES).ctx(&self.path, "open zones table")?;
            let key = name_key(apex);
            let removed = zones
                .remove(key.as_slice())
                .ctx(&self.path, "remove zone")?
                .is_some();
            if !removed {
                drop(zones);
                txn.abort().ctx(&self.path, "end remove_zone transaction")?;
                return Ok(false);
            }
            let mut records = txn
                .open_table(RECORDS)
                .ctx(&self.path, "open records table")?;
            self.extract_prefix(&mut records, &key)?;
        }
        txn.commit().ctx(&self.path, "commit remove_zone")?;
        Ok(true)
    }

    /// The stored zone apexes, case as written, in canonical order.
    pub fn zones(&self) -> Result<Vec<Name>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .ctx(&self.path, "begin read transaction")?;
        let zones = txn.open_table(ZONES).ctx(&self.path, "open zones table")?;
        let mut out = Vec::new();
        for entry in zones.iter().ctx(&self.path, "list zones")? {
            let (_, apex) = entry.ctx(&self.path, "read zone")?;
            out.push(self.decode_apex(apex.value())?);
        }
        Ok(out)
    }

    /// Adds records in one durable transaction. Every record must lie inside a stored
    /// zone (else [`StoreError::OutsideZones`]) and follow the
    /// [`rules`]; if any record is rejected nothing is
    /// written. Adding a record that already exists (same name, type, rdata)
    /// updates its TTL and spelling.
    pub fn put_records(&self, records: &[Record]) -> Result<(), StoreError> {
        let changes: Vec<Change> = records.iter().cloned().map(Change::Add).collect();
        self.apply(&changes).map(|_| ()).map_err(|e| e.source)
    }

    /// Applies one change inside an open transaction: the rules decide, from what
    /// the name holds now, which records go and which come.
    fn apply_one(
        &self,
        zones: &Table<'_, Bytes, Bytes>,
        table: &mut Table<'_, Bytes, Bytes>,
        held: &mut HashMap<Vec<u8>, Vec<Record>>,
        change: &Change,
    ) -> Result<Applied, StoreError> {
        rules::check_change(change)?;
        let name = change.name();
        let Some(zone) = self.longest_zone(zones, name)? else {
            return match change {
                Change::Add(_) => Err(StoreError::OutsideZones(name.clone())),
                Change::Replace { records, .. } if !records.is_empty() => {
                    Err(StoreError::OutsideZones(name.clone()))
                }
                // Nothing to delete outside every zone.
                Change::Replace { .. } | Change::Delete { .. } => Ok(Applied::default()),
            };
        };
        let mut owner = name_key(&zone);
        push_name_key(&mut owner, name);
        let current = match held.entry(owner) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let records = self.read_prefix(table, entry.key())?;
                entry.insert(records)
            }
        };
        let edit = rules::plan(&zone, current, change)?;
        current.retain(|r| {
            !edit.remove.contains(r) && !edit.add.iter().any(|added| added.data == r.data)
        });
        current.extend(edit.add.iter().cloned());
        for record in &edit.remove {
            table
                .remove(record_key(&zone, record).as_slice())
                .ctx(&self.path, "delete record")?;
        }
        for record in &edit.add {
            let mut rdata = Vec::new();
            record.data.encode(&mut rdata);
            table
                .insert(
                    record_key(&zone, record).as_slice(),
                    encode_value(record, &rdata).as_slice(),
                )
                .ctx(&self.path, "insert record")?;
        }
        Ok(edit.applied)
    }

    /// Deletes records at `name`: all types when `rtype` is None, only that type
    /// otherwise, and only the record with equal rdata when `data` is Some (its type
    /// then stands for a missing `rtype`; a `data` of another type than `rtype`
    /// matches nothing). Returns how many were removed; a name outside every zone
    /// has none.
    pub fn delete_records(
        &self,
        name: &Name,
        rtype: Option<RType>,
        data: Option<&RData>,
    ) -> Result<usize, StoreError> {
        let delete = Change::Delete {
            name: name.clone(),
            rtype,
            data: data.cloned(),
        };
        self.apply(&[delete])
            .map(|applied| applied.removed)
            .map_err(|e| e.source)
    }

    /// Applies a batch of [`Change`]s in order, in one durable transaction: all of
    /// them or, when one fails, none ([`BatchError::change`] says which). Each
    /// follows the [`rules`] against what its name holds
    /// after the changes before it.
    pub fn apply(&self, changes: &[Change]) -> Result<Applied, BatchError> {
        let whole = |source| BatchError {
            change: None,
            source,
        };
        let txn = self.begin_write().map_err(whole)?;
        let mut applied = Applied::default();
        {
            let zones = txn
                .open_table(ZONES)
                .ctx(&self.path, "open zones table")
                .map_err(whole)?;
            let mut table = txn
                .open_table(RECORDS)
                .ctx(&self.path, "open records table")
                .map_err(whole)?;
            // What each touched name holds, kept up to date through the batch, so
            // that many changes at one name read it once.
            let mut held = HashMap::new();
            for (at, change) in changes.iter().enumerate() {
                let done = self
                    .apply_one(&zones, &mut table, &mut held, change)
                    .map_err(|source| BatchError {
                        change: Some(at),
                        source,
                    })?;
                applied.written += done.written;
                applied.removed += done.removed;
            }
        }
        if applied == Applied::default() {
            txn.abort()
                .ctx(&self.path, "end apply transaction")
                .map_err(whole)?;
        } else {
            txn.commit()
                .ctx(&self.path, "commit apply")
                .map_err(whole)?;
        }
        Ok(applied)
    }

    /// What the store holds at `name`: its zone (the longest stored zone holding
    /// it), its records, and whether any name below it owns records. None when
    /// `name` lies outside every stored zone. For rebuilding one name of the
    /// answer table after a write.
    pub fn name_state(&self, name: &Name) -> Result<Option<NameState>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .ctx(&self.path, "begin read transaction")?;
        let zones = txn.open_table(ZONES).ctx(&self.path, "open zones table")?;
        let Some(zone) = self.longest_zone(&zones, name)? else {
            return Ok(None);
        };
        let table = txn
            .open_table(RECORDS)
            .ctx(&self.path, "open records table")?;
        let mut owner = name_key(&zone);
        push_name_key(&mut owner, name);
        let records = self.read_prefix(&table, &owner)?;
        // The keys of names below `name` follow its own keys (which end its
        // name key with `00 00`) and share its subtree prefix.
        let mut below = name_key(&zone);
        below.extend_from_slice(&subtree_prefix(name));
        let (Some(start), end) = (prefix_end(&owner), prefix_end(&below)) else {
            return Ok(Some(NameState {
                zone,
                records,
                has_descendants: false,
            }));
        };
        let range = (
            Bound::Included(start.as_slice()),
            as_bound(end.as_deref(), Bound::Excluded),
        );
        let has_descendants = table
            .range::<&[u8]>(range)
            .ctx(&self.path, "scan records")?
            .next()
            .is_some();
        Ok(Some(NameState {
            zone,
            records,
            has_descendants,
        }))
    }

    /// Records of one zone, owner names in canonical order (then by type and
    /// rdata). [`StoreError::NoSuchZone`] when the zone is not stored.
    pub fn records(&self, zone: &Name) -> Result<Vec<Record>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .ctx(&self.path, "begin read transaction")?;
        let zones = txn.open_table(ZONES).ctx(&self.path, "open zones table")?;
        let key = name_key(zone);
        if zones
            .get(key.as_slice())
            .ctx(&self.path, "look up zone")?
            .is_none()
        {
            return Err(StoreError::NoSuchZone(zone.clone()));
        }
        let table = txn
            .open_table(RECORDS)
            .ctx(&self.path, "open records table")?;
        self.read_prefix(&table, &key)
    }

    /// Every zone, in canonical order, with its records (possibly none), read from
    /// one consistent snapshot.
    pub fn all_records(&self) -> Result<Vec<(Name, Vec<Record>)>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .ctx(&self.path, "begin read transaction")?;
        let zones = txn.open_table(ZONES).ctx(&self.path, "open zones table")?;
        let table = txn
            .open_table(RECORDS)
            .ctx(&self.path, "open records table")?;
        let mut out = Vec::new();
        for entry in zones.iter().ctx(&self.path, "list zones")? {
            let (key, apex) = entry.ctx(&self.path, "read zone")?;
            let apex = self.decode_apex(apex.value())?;
            let records = self.read_prefix(&table, key.value())?;
            out.push((apex, records));
        }
        Ok(out)
    }

    /// The longest stored zone containing `name`.
    fn longest_zone(
        &self,
        zones: &impl ReadableTable<Bytes, Bytes>,
        name: &Name,
    ) -> Result<Option<Name>, StoreError> {
        let mut cursor = Some(name.clone());
        while let Some(candidate) = cursor {
            let key = name_key(&candidate);
            if zones
                .get(key.as_slice())
                .ctx(&self.path, "look up zone")?
                .is_some()
            {
                return Ok(Some(candidate));
            }
            cursor = candidate.parent();
        }
        Ok(None)
    }

    /// Removes every record whose key starts with `prefix`; returns their values.
    fn extract_prefix(
        &self,
        table: &mut Table<'_, Bytes, Bytes>,
        prefix: &[u8],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let end = prefix_end(prefix);
        let range = (
            Bound::Included(prefix),
            as_bound(end.as_deref(), Bound::Excluded),
        );
        let mut removed = Vec::new();
        for entry in table
            .extract_from_if::<&[u8], _>(range, |_, _| true)
            .ctx(&self.path, "remove records")?
        {
            let (_, value) = entry.ctx(&self.path, "remove record")?;
            removed.push(value.value().to_vec());
        }
        Ok(removed)
    }

    /// Decodes every record whose key starts with `prefix`, in key order.
    fn read_prefix(
        &self,
        table: &impl ReadableTable<Bytes, Bytes>,
        prefix: &[u8],
    ) -> Result<Vec<Record>, StoreError> {
        let end = prefix_end(prefix);
        let range = (
            Bound::Included(prefix),
            as_bound(end.as_deref(), Bound::Excluded),
        );
        let mut out = Vec::new();
        for entry in table
            .range::<&[u8]>(range)
            .ctx(&self.path, "scan records")?
        {
            let (_, value) = entry.ctx(&self.path, "read record")?;
            out.push(self.decode_value(value.value())?);
        }
        Ok(out)
    }

    fn decode_apex(&self, wire: &[u8]) -> Result<Name, StoreError> {
        Name::from_wire(wire).ok_or_else(|| self.corrupt(format!("bad zone apex {wire:02x?}")))
    }

    fn decode_value(&self, value: &[u8]) -> Result<Record, StoreError> {
        decode_value(value).ok_or_else(|| self.corrupt(format!("bad record value {value:02x?}")))
    }
}

fn as_bound<'a>(key: Option<&'a [u8]>, bound: fn(&'a [u8]) -> Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    key.map_or(Bound::Unbounded, bound)
}

/// Appends the order-preserving, prefix-free key of `name` (see the module docs).
fn push_name_key(out: &mut Vec<u8>, name: &Name) {
    let labels: Vec<&[u8]> = name.labels().collect();
    for label in labels.iter().rev() {
        for &byte in *label {
            match byte.to_ascii_lowercase() {
                0 => out.extend_from_slice(&[0, 0xff]),
                byte => out.push(byte),
            }
        }
        out.extend_from_slice(&[0, 1]);
    }
    out.extend_from_slice(&[0, 0]);
}

fn name_key(name: &Name) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.as_wire().len() * 2);
    push_name_key(&mut key, name);
    key
}

/// The prefix shared by the keys of `name` and of every name below it: its key
/// without the end-of-name marker.
fn subtree_prefix(name: &Name) -> Vec<u8> {
    let mut key = name_key(name);
    key.truncate(key.len().saturating_sub(2));
    key
}

/// The least key above every key starting with `prefix`; None when there is none.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn record_key(zone: &Name, record: &Record) -> Vec<u8> {
    let mut key = name_key(zone);
    push_name_key(&mut key, &record.name);
    key.extend_from_slice(&record.rtype().0.to_be_bytes());
    key.extend_from_slice(&canonical_rdata(&record.data));
    key
}

/// Wire rdata with the names in it lowercased (RFC 4034 §6.2).
fn canonical_rdata(data: &RData) -> Vec<u8> {
    let lower = |name: &Name| Name::from_wire(&name.to_lowercase_wire()).unwrap_or(name.clone());
    let canonical = match data {
        RData::Cname(name) => RData::Cname(lower(name)),
        RData::Ns(name) => RData::Ns(lower(name)),
        RData::Ptr(name) => RData::Ptr(lower(name)),
        RData::Mx {
            preference,
            exchange,
        } => RData::Mx {
            preference: *preference,
            exchange: lower(exchange),
        },
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::Srv {
            priority: *priority,
            weight: *weight,
            port: *port,
            target: lower(target),
        },
        RData::Soa(soa) => RData::Soa(Soa {
            mname: lower(&soa.mname),
            rname: lower(&soa.rname),
            ..soa.clone()
        }),
        RData::A(_) | RData::Aaaa(_) | RData::Txt(_) => data.clone(),
    };
    let mut out = Vec::new();
    canonical.encode(&mut out);
    out
}

fn encode_value(record: &Record, rdata: &[u8]) -> Vec<u8> {
    let owner = record.name.as_wire();
    let mut value = Vec::with_capacity(7 + owner.len() + rdata.len());
    value.extend_from_slice(&record.ttl.to_be_bytes());
    value.extend_from_slice(&record.rtype().0.to_be_bytes());
    // A wire name is at most 255 octets.
    value.push(u8::try_from(owner.len()).unwrap_or(u8::MAX));
    value.extend_from_slice(owner);
    value.extend_from_slice(rdata);
    value
}

fn decode_value(value: &[u8]) -> Option<Record> {
    let (ttl, rest) = value.split_first_chunk::<4>()?;
    let (rtype, rest) = rest.split_first_chunk::<2>()?;
    let (&owner_len, rest) = rest.split_first()?;
    let (owner, rdata) = rest.split_at_checked(usize::from(owner_len))?;
    let rtype = RType(u16::from_be_bytes(*rtype));
    Some(Record::new(
        Name::from_wire(owner)?,
        u32::from_be_bytes(*ttl),
        RData::decode(rtype, rdata)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::{self, name};
    use std::net::Ipv4Addr;

    fn a(owner: &str, ttl: u32, last: u8) -> Record {
        testkit::a(owner, ttl, [192, 0, 2, last])
    }

    fn cname(owner: &str, target: &str) -> Record {
        testkit::cname(owner, 60, target)
    }

    fn txt(owner: &str, text: &str) -> Record {
        testkit::txt(owner, 60, text)
    }

    fn soa(apex: &str, serial: u32) -> Record {
        testkit::soa(apex, 3600, serial)
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        store: Store,
    }

    fn fixture(zones: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("records.redb");
        let store = Store::open(&path).unwrap_or_else(|e| unreachable!("{e}"));
        for zone in zones {
            ok(store.add_zone(&name(zone)));
        }
        Fixture {
            _dir: dir,
            path,
            store,
        }
    }

    fn ok<T>(result: Result<T, StoreError>) -> T {
        result.unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn records(store: &Store, zone: &str) -> Vec<Record> {
        ok(store.records(&name(zone)))
    }

    #[test]
    fn records_persist_across_close_and_reopen() {
        let Fixture { _dir, path, store } = fixture(&["Example.COM"]);
        let written = vec![
            soa("example.com", 1),
            a("WWW.example.com", 300, 1),
            cname("alias.example.com", "Www.Example.com"),
            txt("www.example.com", "hello"),
        ];
        ok(store.put_records(&written));
        drop(store);

        let store = ok(Store::open(&path));
        assert_eq!(ok(store.zones()), vec![name("example.com")]);
        // Names come back as written.
        assert_eq!(ok(store.zones())[0].as_wire(), b"\x07Example\x03COM\x00");
        let read = records(&store, "example.com");
        assert_eq!(read.len(), written.len());
        for record in &written {
            assert!(read.contains(record), "{record} lost");
        }
        let www = read.iter().find(|r| r.rtype() == RType::A);
        assert_eq!(
            www.map(|r| r.name.to_string()),
            Some("WWW.example.com.".into())
        );
        let alias = read.iter().find(|r| r.rtype() == RType::CNAME);
        assert_eq!(
            alias.map(|r| r.data.to_string()),
            Some("Www.Example.com.".into())
        );
    }

    #[test]
    fn putting_an_existing_record_updates_its_ttl() {
        let f = fixture(&["example.com"]);
        ok(f.store.put_records(&[a("www.example.com", 300, 1)]));
        ok(f.store.put_records(&[a("WWW.example.com", 30, 1)]));
        assert_eq!(
            records(&f.store, "example.com"),
            vec![a("www.example.com", 30, 1)]
        );
        assert_eq!(records(&f.store, "example.com")[0].ttl, 30);
        // Rdata names compare case-insensitively: the same CNAME, respelled.
        ok(f.store
            .put_records(&[cname("x.example.com", "t.example.com")]));
        ok(f.store
            .put_records(&[cname("x.example.com", "T.example.com")]));
        let cnames: Vec<String> = records(&f.store, "example.com")
            .iter()
            .filter(|r| r.rtype() == RType::CNAME)
            .map(|r| r.data.to_string())
            .collect();
        assert_eq!(cnames, vec!["T.example.com.".to_owned()]);
    }

    #[test]
    fn a_rejected_record_writes_nothing_from_its_batch() {
        let f = fixture(&["example.com"]);
        ok(f.store.put_records(&[a("www.example.com", 300, 1)]));
        let before = ok(f.store.all_records());

        let batch = [
            a("a.example.com", 300, 2),
            a("b.example.org", 300, 3),
            a("c.example.com", 300, 4),
        ];
        match f.store.put_records(&batch) {
            Err(StoreError::OutsideZones(n)) => assert_eq!(n, name("b.example.org")),
            other => unreachable!("{other:?}"),
        }
        assert_eq!(ok(f.store.all_records()), before);

        let too_long = Record::new(name("t.example.com"), 60, RData::Txt(vec![vec![b'x'; 256]]));
        let batch = [a("a.example.com", 300, 2), too_long];
        let err = f.store.put_records(&batch).err();
        assert!(
            matches!(&err, Some(StoreError::Rule(RuleError::Invalid { record, .. })) if record.name == name("t.example.com")),
            "{err:?}"
        );
        assert!(
            err.map(|e| e.to_string())
                .is_some_and(|m| m.contains("t.example.com."))
        );
        assert_eq!(ok(f.store.all_records()), before);
    }

    #[test]
    fn invalid_records_are_refused() {
        let f = fixture(&["example.com"]);
        let refused = |record: Record| {
            matches!(
                f.store.put_records(&[record]),
                Err(StoreError::Rule(RuleError::Invalid { .. }))
            )
        };
        assert!(refused(Record::new(
            name("t.example.com"),
            60,
            RData::Txt(Vec::new())
        )));
        assert!(refused(a("www.example.com", u32::MAX, 1)));
        assert!(refused(soa("www.example.com", 1)));
        assert!(refused(cname("example.com", "elsewhere.org")));
        assert!(records(&f.store, "example.com").is_empty());
    }

    #[test]
    fn delete_variants() {
        let f = fixture(&["example.com"]);
        ok(f.store.put_records(&[
            a("www.example.com", 300, 1),
            a("www.example.com", 300, 2),
            a("www.example.com", 300, 3),
            txt("www.example.com", "one"),
            txt("www.example.com", "two"),
            a("mail.example.com", 300, 9),
            a("a.www.example.com", 300, 9),
        ]));
        let www = name("WWW.example.com");
        let one = RData::A(Ipv4Addr::new(192, 0, 2, 1));
        // One record by rdata, with or without its type.
        assert_eq!(
            ok(f.store.delete_records(&www, Some(RType::A), Some(&one))),
            1
        );
        assert_eq!(ok(f.store.delete_records(&www, None, Some(&one))), 0);
        let two = RData::A(Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(ok(f.store.delete_records(&www, None, Some(&two))), 1);
        // A type that disagrees with the rdata matches nothing.
        let three = RData::A(Ipv4Addr::new(192, 0, 2, 3));
        assert_eq!(
            ok(f.store.delete_records(&www, Some(RType::TXT), Some(&three))),
            0
        );
        // One type.
        assert_eq!(ok(f.store.delete_records(&www, Some(RType::TXT), None)), 2);
        assert_eq!(ok(f.store.delete_records(&www, Some(RType::TXT), None)), 0);
        // Every type, but not the names below.
        ok(f.store.put_records(&[txt("www.example.com", "three")]));
        assert_eq!(ok(f.store.delete_records(&www, None, None)), 2);
        // Unknown names and names outside every zone have nothing to delete.
        assert_eq!(
            ok(f.store
                .delete_records(&name("nope.example.com"), None, None)),
            0
        );
        assert_eq!(
            ok(f.store.delete_records(&name("www.example.org"), None, None)),
            0
        );
        assert_eq!(
            records(&f.store, "example.com"),
            vec![
                a("mail.example.com", 300, 9),
                a("a.www.example.com", 300, 9)
            ]
        );
    }

    #[test]
    fn remove_zone_takes_its_records_only() {
        let f = fixture(&["example.com", "sub.example.com", "example.org"]);
        ok(f.store.put_records(&[
            a("www.example.com", 300, 1),
            a("www.sub.example.com", 300, 2),
            a("www.example.org", 300, 3),
        ]));
        assert!(ok(f.store.remove_zone(&name("Example.com"))));
        assert!(!ok(f.store.remove_zone(&name("example.com"))));
        assert_eq!(
            ok(f.store.zones()),
            vec![name("sub.example.com"), name("example.org")]
        );
        assert!(matches!(
            f.store.records(&name("example.com")),
            Err(StoreError::NoSuchZone(_))
        ));
        assert_eq!(
            records(&f.store, "sub.example.com"),
            vec![a("www.sub.example.com", 300, 2)]
        );
        assert_eq!(
            records(&f.store, "example.org"),
            vec![a("www.example.org", 300, 3)]
        );
        // Re-adding the zone brings back none of its old records.
        ok(f.store.add_zone(&name("example.com")));
        assert!(records(&f.store, "example.com").is_empty());
        assert!(matches!(
            f.store.put_records(&[a("www.example.net", 1, 1)]),
            Err(StoreError::OutsideZones(_))
        ));
    }

    #[test]
    fn records_belong_to_the_longest_zone() {
        let f = fixture(&["example.com"]);
        ok(f.store.put_records(&[
            a("www.example.com", 300, 1),
            a("sub.example.com", 300, 2),
            a("a.sub.example.com", 300, 3),
            a("b.deep.sub.example.com", 300, 4),
        ]));
        // A zone added inside another adopts the records below its apex.
        ok(f.store.add_zone(&name("sub.example.com")));
        ok(f.store.add_zone(&name("sub.example.com")));
        assert_eq!(
            records(&f.store, "example.com"),
            vec![a("www.example.com", 300, 1)]
        );
        assert_eq!(
            records(&f.store, "sub.example.com"),
            vec![
                a("sub.example.com", 300, 2),
                a("a.sub.example.com", 300, 3),
                a("b.deep.sub.example.com", 300, 4)
            ]
        );
        // New records go to the longest zone, and deletes find them there.
        ok(f.store.add_zone(&name("deep.sub.example.com")));
        ok(f.store.put_records(&[a("c.deep.sub.example.com", 300, 5)]));
        assert_eq!(
            records(&f.store, "deep.sub.example.com"),
            vec![
                a("b.deep.sub.example.com", 300, 4),
                a("c.deep.sub.example.com", 300, 5)
            ]
        );
        assert_eq!(
            ok(f.store
                .delete_records(&name("b.deep.sub.example.com"), None, None)),
            1
        );
        let all = ok(f.store.all_records());
        let zones: Vec<&Name> = all.iter().map(|(zone, _)| zone).collect();
        assert_eq!(
            zones,
            vec![
                &name("example.com"),
                &name("sub.example.com"),
                &name("deep.sub.example.com")
            ]
        );
        let counts: Vec<usize> = all.iter().map(|(_, records)| records.len()).collect();
        assert_eq!(counts, vec![1, 2, 1]);
    }

    #[test]
    fn a_cname_stands_alone() {
        let f = fixture(&["example.com"]);
        ok(f.store.put_records(&[a("www.example.com", 300, 1)]));
        match f
            .store
            .put_records(&[cname("WWW.example.com", "elsewhere.org")])
        {
            Err(e @ StoreError::Rule(RuleError::CnameConflict { .. })) => {
                let StoreError::Rule(RuleError::CnameConflict {
                    name: n,
                    adding,
                    existing,
                }) = &e
                else {
                    unreachable!()
                };
                assert_eq!(
                    (n, *adding, *existing),
                    (&name("www.example.com"), RType::CNAME, RType::A)
                );
                assert!(e.to_string().contains("WWW.example.com."));
            }
            other => unreachable!("{other:?}"),
        }
        // Data that sorts after CNAME (TXT) is found too.
        ok(f.store.put_records(&[txt("t.example.com", "x")]));
        assert!(matches!(
            f.store
                .put_records(&[cname("t.example.com", "elsewhere.org")]),
            Err(StoreError::Rule(RuleError::CnameConflict {
                existing: RType::TXT,
                ..
            }))
        ));

        ok(f.store
            .put_records(&[cname("alias.example.com", "www.example.com")]));
        for other in [
            a("alias.example.com", 300, 2),
            txt("alias.example.com", "x"),
        ] {
            assert!(matches!(
                f.store.put_records(&[other]),
                Err(StoreError::Rule(RuleError::CnameConflict {
                    existing: RType::CNAME,
                    ..
                }))
            ));
        }
        // Within one batch too, and then nothing is written.
        assert!(matches!(
            f.store.put_records(&[
                cname("new.example.com", "x.org"),
                a("new.example.com", 1, 1)
            ]),
            Err(StoreError::Rule(RuleError::CnameConflict { .. }))
        ));
        assert_eq!(
            ok(f.store.delete_records(&name("new.example.com"), None, None)),
            0
        );
        // A CNAME replaces the CNAME at its name, as an SOA replaces the SOA.
        ok(f.store
            .put_records(&[cname("alias.example.com", "other.example.com")]));
        ok(f.store.put_records(&[soa("example.com", 1)]));
        ok(f.store.put_records(&[soa("example.com", 2)]));
        let kept: Vec<String> = records(&f.store, "example.com")
            .iter()
            .filter(|r| matches!(r.rtype(), RType::CNAME | RType::SOA))
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            kept,
            vec![
                "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2 3600 600 86400 60",
                "alias.example.com. 60 IN CNAME other.example.com."
            ]
        );
    }

    #[test]
    fn zones_and_records_come_in_canonical_order() {
        let zones = [
            "example.org",
            "b.example.com",
            "example.com",
            "a.example.com",
            "z.a",
        ];
        let f = fixture(&zones);
        let mut sorted: Vec<Name> = zones.iter().map(|z| name(z)).collect();
        sorted.sort();
        assert_eq!(ok(f.store.zones()), sorted);

        let owners = [
            "z.example.org",
            "example.org",
            r"a\000.example.org",
            "A.example.org",
            r"a\001.example.org",
            "b.a.example.org",
            "ab.example.org",
            "*.example.org",
        ];
        let batch: Vec<Record> = owners.iter().map(|o| a(o, 60, 1)).collect();
        ok(f.store.put_records(&batch));
        let mut expected: Vec<Name> = owners.iter().map(|o| name(o)).collect();
        expected.sort();
        let got: Vec<Name> = records(&f.store, "example.org")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(got, expected);

        // Within a name: by type, then by rdata.
        ok(f.store.put_records(&[
            txt("example.org", "b"),
            a("example.org", 60, 9),
            txt("example.org", "a"),
            soa("example.org", 1),
        ]));
        let apex: Vec<String> = records(&f.store, "example.org")
            .iter()
            .filter(|r| r.name == name("example.org"))
            .map(|r| format!("{} {}", r.rtype(), r.data))
            .collect();
        assert_eq!(
            apex,
            vec![
                "A 192.0.2.1",
                "A 192.0.2.9",
                "SOA ns1.example.org. hostmaster.example.org. 1 3600 600 86400 60",
                "TXT \"a\"",
                "TXT \"b\""
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_by_path() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("zones.txt");
        std::fs::write(&path, "example.com. 300 IN A 192.0.2.1\n".repeat(200))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let err = Store::open(&path).err();
        assert!(matches!(err, Some(StoreError::Open { .. })), "{err:?}");
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("cannot open record store"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");

        // A directory cannot be opened either, and says where.
        let err = Store::open(dir.path()).err();
        assert!(err.is_some_and(|e| e.to_string().contains(&dir.path().display().to_string())));
    }

    #[test]
    fn another_redb_database_or_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let foreign = dir.path().join("foreign.redb");
        {
            let db = Database::create(&foreign).unwrap_or_else(|e| unreachable!("{e}"));
            let txn = db.begin_write().unwrap_or_else(|e| unreachable!("{e}"));
            let other: TableDefinition<'_, u64, u64> = TableDefinition::new("other");
            let mut table = txn
                .open_table(other)
                .unwrap_or_else(|e| unreachable!("{e}"));
            table.insert(1, 2).unwrap_or_else(|e| unreachable!("{e}"));
            drop(table);
            txn.commit().unwrap_or_else(|e| unreachable!("{e}"));
        }
        assert!(matches!(
            Store::open(&foreign),
            Err(StoreError::Foreign { .. })
        ));

        let future = dir.path().join("future.redb");
        drop(ok(Store::open(&future)));
        {
            let db = Database::create(&future).unwrap_or_else(|e| unreachable!("{e}"));
            let txn = db.begin_write().unwrap_or_else(|e| unreachable!("{e}"));
            let mut table = txn.open_table(META).unwrap_or_else(|e| unreachable!("{e}"));
            table
                .insert(FORMAT_KEY, 99)
                .unwrap_or_else(|e| unreachable!("{e}"));
            drop(table);
            txn.commit().unwrap_or_else(|e| unreachable!("{e}"));
        }
        let err = Store::open(&future).err();
        assert!(matches!(
            err,
            Some(StoreError::UnsupportedVersion { found: 99, .. })
        ));
        assert!(err.is_some_and(|e| e.to_string().contains("future.redb")));
    }

    proptest::proptest! {
        /// Byte order of name keys is canonical name order, and keys are prefix-free.
        #[test]
        fn name_keys_sort_canonically(
            a in proptest::collection::vec(proptest::collection::vec(
                proptest::sample::select(vec![0u8, 1, b'-', b'A', b'a', b'b', 0xff]), 1..4), 0..4),
            b in proptest::collection::vec(proptest::collection::vec(
                proptest::sample::select(vec![0u8, 1, b'-', b'A', b'a', b'b', 0xff]), 1..4), 0..4),
        ) {
            let build = |labels: &[Vec<u8>]| {
                labels.iter().rev().fold(Name::root(), |n, l| {
                    n.prepend_label(l).unwrap_or_else(|e| unreachable!("{e}"))
                })
            };
            let (x, y) = (build(&a), build(&b));
            let (kx, ky) = (name_key(&x), name_key(&y));
            proptest::prop_assert_eq!(kx.cmp(&ky), x.cmp(&y));
            if x != y {
                proptest::prop_assert!(!kx.starts_with(&ky) && !ky.starts_with(&kx));
            }
        }
    }
}
