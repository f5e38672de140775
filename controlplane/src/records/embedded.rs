//! [`RecordWriter`] over the embedded store ([`crate::store`]), for servers
//! without etcd.
//!
//! Every call runs on a blocking thread: it opens the store, does its one redb
//! transaction and closes the store again, the way [`FileSources`] reads it, so
//! that SIGHUP reloads (and `ferrodns store` between them) see one file with one
//! owner at a time. Calls are serialised by a mutex for the same reason.
//!
//! A batch is [`Store::apply`]: one write transaction, fsync'd on commit, all or
//! none. Once it is committed the writer reads back what the store now holds at
//! each changed name and tells the [publisher](crate::pipeline) ("these names of
//! zone Z now hold these records"), which edits the answer table before `apply`
//! returns, so a client that got `2xx` and then asks the DNS port sees its
//! change. Adding or removing a zone re-reads the whole store instead (records
//! move between zones). A name that cannot be compiled is served empty and
//! counted by the publisher; the write stays durable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;

use super::{
    Applied, Change, NameFilter, RecordPage, RecordQuery, RecordWriter, WriteError, WriteFuture,
    ZonedRecord,
};
use crate::pipeline::{Published, PublisherHandle, SourceId, Update, ZoneContent};
use crate::records::rules::RuleError;
use crate::sources::{FileSources, LoadError};
use crate::store::{Store, StoreError};

/// Writes records to the embedded store and republishes the answer table.
#[derive(Debug, Clone)]
pub struct EmbeddedWriter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    sources: FileSources,
    publisher: PublisherHandle,
    /// Held for the whole of each call: one opener of the file at a time.
    lock: Mutex<()>,
}

/// What the table needs after a store call.
enum Republish {
    Nothing,
    /// Tell the publisher these updates.
    Updates(Vec<Update>),
}

impl EmbeddedWriter {
    /// A writer for the store at `path` that tells `publisher` what it writes;
    /// `sources` says which zones etcd feeds (the store's records there are not
    /// served). The `zones` given (the `--domain` zones
    /// the store feeds) are created in the store when missing, so that records can
    /// be written to them at once.
    pub fn open(
        path: PathBuf,
        zones: &[Name],
        sources: FileSources,
        publisher: PublisherHandle,
    ) -> Result<EmbeddedWriter, StoreError> {
        let store = Store::open(&path)?;
        for zone in zones {
            store.add_zone(zone)?;
        }
        drop(store);
        Ok(EmbeddedWriter {
            inner: Arc::new(Inner {
                path,
                sources,
                publisher,
                lock: Mutex::new(()),
            }),
        })
    }

    /// Reads the zone files and the store of `sources` (those of a reloaded
    /// configuration; as on SIGHUP) and publishes them with `extra` updates,
    /// in turn with the writes: a reload never opens the store while a write
    /// holds it, nor publishes over a write's edit.
    pub async fn reload(
        &self,
        sources: FileSources,
        extra: Vec<Update>,
    ) -> Result<Published, LoadError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = inner
                .lock
                .lock()
                .map_err(|_| LoadError::Interrupted("a store call panicked".into()))?;
            let mut updates = sources.read()?;
            updates.extend(extra);
            Ok(inner.publisher.apply_blocking(updates))
        })
        .await
        .map_err(|e| LoadError::Interrupted(e.to_string()))?
    }

    /// Runs `job` with the store open, on a blocking thread, under the lock; then
    /// brings the table up to date as the job says.
    fn with_store<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Store, &FileSources) -> Result<(T, Republish), WriteError> + Send + 'static,
    ) -> WriteFuture<'_, T> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let _one_at_a_time = inner
                    .lock
                    .lock()
                    .map_err(|_| WriteError::Storage("a store call panicked".into()))?;
                let store = Store::open(&inner.path).map_err(storage)?;
                let (answer, republish) = job(&store, &inner.sources)?;
                drop(store);
                if let Republish::Updates(updates) = republish {
                    inner.publisher.apply_blocking(updates);
                }
                Ok(answer)
            })
            .await
            .map_err(|e| WriteError::Storage(format!("store task failed: {e}")))?
        })
    }
}

fn storage(error: StoreError) -> WriteError {
    WriteError::Storage(error.to_string())
}

/// Maps a failed batch to the error the API reports for it.
fn batch_error(change: Option<usize>, error: StoreError) -> WriteError {
    let Some(change) = change else {
        return storage(error);
    };
    let reason = error.to_string();
    match error {
        StoreError::Rule(RuleError::CnameConflict { .. }) => {
            WriteError::Conflict { change, reason }
        }
        StoreError::OutsideZones(_) | StoreError::Rule(_) => {
            WriteError::Rejected { change, reason }
        }
        StoreError::NoSuchZone(zone) => WriteError::NoSuchZone(zone),
        _ => WriteError::Storage(reason),
    }
}

/// What the store holds now at each of `changed`, as updates for the publisher.
fn read_back(store: &Store, changed: BTreeSet<Name>) -> Result<Republish, StoreError> {
    let mut by_zone: BTreeMap<Name, Vec<(Name, Vec<Record>)>> = BTreeMap::new();
    for name in changed {
        if let Some(state) = store.name_state(&name)? {
            by_zone
                .entry(state.zone)
                .or_default()
                .push((name, state.records));
        }
    }
    Ok(Republish::Updates(
        by_zone
            .into_iter()
            .map(|(apex, names)| Update::Names {
                source: SourceId::Store,
                apex,
                names,
            })
            .collect(),
    ))
}

/// Every zone of the store, as one update (after a zone was added or removed).
fn read_all(store: &Store, sources: &FileSources) -> Result<Republish, StoreError> {
    let zones = store
        .all_records()?
        .into_iter()
        .filter(|(apex, _)| !sources.is_etcd_zone(apex))
        .map(|(apex, records)| ZoneContent::new(apex, records))
        .collect();
    Ok(Republish::Updates(vec![Update::Zones {
        source: SourceId::Store,
        zones,
    }]))
}

impl RecordWriter for EmbeddedWriter {
    fn backend(&self) -> &'static str {
        "embedded store"
    }

    fn apply(&self, changes: Vec<Change>) -> WriteFuture<'_, Applied> {
        self.with_store(move |store, _| {
            let applied = store
                .apply(&changes)
                .map_err(|e| batch_error(e.change, e.source))?;
            if applied == Applied::default() {
                return Ok((applied, Republish::Nothing));
            }
            let changed = changes.iter().map(|c| c.name().clone()).collect();
            let republish = read_back(store, changed).map_err(storage)?;
            Ok((applied, republish))
        })
    }

    fn zones(&self) -> WriteFuture<'_, Vec<Name>> {
        self.with_store(|store, _| Ok((store.zones().map_err(storage)?, Republish::Nothing)))
    }

    fn records(&self, query: RecordQuery) -> WriteFuture<'_, RecordPage> {
        self.with_store(move |store, _| {
            // One name is one key range of the store: no need to read every zone.
            if let (None, Some(NameFilter::Exact(name))) = (&query.zone, &query.name) {
                let at = store.name_state(name).map_err(storage)?;
                let zones = at
                    .map(|state| (state.zone, state.records))
                    .into_iter()
                    .collect();
                return Ok((page(zones, &query)?, Republish::Nothing));
            }
            let zones = match &query.zone {
                Some(zone) => vec![(
                    zone.clone(),
                    store.records(zone).map_err(|e| match e {
                        StoreError::NoSuchZone(zone) => WriteError::NoSuchZone(zone),
                        other => storage(other),
                    })?,
                )],
                None => store.all_records().map_err(storage)?,
            };
            Ok((page(zones, &query)?, Republish::Nothing))
        })
    }

    fn add_zone(&self, apex: Name) -> WriteFuture<'_, bool> {
        self.with_store(move |store, sources| {
            let existed = store.zones().map_err(storage)?.contains(&apex);
            if existed {
                return Ok((false, Republish::Nothing));
            }
            store.add_zone(&apex).map_err(storage)?;
            Ok((true, read_all(store, sources).map_err(storage)?))
        })
    }

    fn remove_zone(&self, apex: Name) -> WriteFuture<'_, bool> {
        self.with_store(move |store, sources| {
            if !store.remove_zone(&apex).map_err(storage)? {
                return Ok((false, Republish::Nothing));
            }
            Ok((true, read_all(store, sources).map_err(storage)?))
        })
    }
}

/// One page of the records of `zones` that match `query`. The cursor is the
/// number of matching records before the page.
fn page(zones: Vec<(Name, Vec<Record>)>, query: &RecordQuery) -> Result<RecordPage, WriteError> {
    let skip = match &query.after {
        Some(cursor) => cursor
            .parse::<usize>()
            .map_err(|_| WriteError::BadCursor(cursor.clone()))?,
        None => 0,
    };
    let size = query.page_size();
    let matching = zones.into_iter().flat_map(|(zone, records)| {
        records.into_iter().map(move |record| ZonedRecord {
            zone: zone.clone(),
            record,
        })
    });
    let mut records: Vec<ZonedRecord> = matching
        .filter(|r| matches(query, r))
        .skip(skip)
        .take(size + 1)
        .collect();
    let next = (records.len() > size).then(|| (skip + size).to_string());
    records.truncate(size);
    Ok(RecordPage { records, next })
}

fn matches(query: &RecordQuery, zoned: &ZonedRecord) -> bool {
    let record = &zoned.record;
    let name_ok = match &query.name {
        None => true,
        Some(NameFilter::Exact(name)) => record.name == *name,
        Some(NameFilter::Subtree(name)) => record.name.is_subdomain_of(name),
    };
    name_ok && query.rtype.is_none_or(|rtype| record.rtype() == rtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::name;
    use std::net::Ipv4Addr;

    use ferrodns_dataplane::record::{RData, RType};
    use ferrodns_dataplane::table::{Table, TableVersion};

    use crate::pipeline::tests::{a, summary};
    use crate::pipeline::{Policies, Publisher};

    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        table: Table,
        writer: EmbeddedWriter,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("records.redb");
        let table = Table::new();
        let publisher = PublisherHandle::new(Publisher::new(table.clone(), Policies::default()));
        let writer = EmbeddedWriter::open(
            path.clone(),
            &[name("svc.example.")],
            FileSources::new(Vec::new(), Some(path.clone()), Vec::new()),
            publisher,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        Fixture {
            _dir: dir,
            path,
            table,
            writer,
        }
    }

    fn served(table: &Table, owner: &str) -> usize {
        table
            .current()
            .find(&name(owner).to_lowercase_wire())
            .map_or(0, |node| {
                node.rrsets().map(|rrset| rrset.records().count()).sum()
            })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn an_applied_batch_is_stored_and_served_before_apply_returns() {
        let f = fixture();
        let applied = runtime().block_on(f.writer.apply(vec![
            Change::Add(a("web.svc.example.", 1)),
            Change::Add(a("web.svc.example.", 2)),
        ]));
        assert_eq!(
            applied,
            Ok(Applied {
                written: 2,
                removed: 0
            })
        );
        assert_eq!(served(&f.table, "web.svc.example."), 2);
        let stored = Store::open(&f.path)
            .and_then(|s| s.records(&name("svc.example.")))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(stored.len(), 2);
    }

    #[test]
    fn a_bad_change_leaves_nothing_of_its_batch() {
        let f = fixture();
        let rt = runtime();
        let failed = rt.block_on(f.writer.apply(vec![
            Change::Add(a("web.svc.example.", 1)),
            Change::Add(a("web.elsewhere.", 2)),
        ]));
        assert!(
            matches!(failed, Err(WriteError::Rejected { change: 1, .. })),
            "{failed:?}"
        );
        let conflict = rt.block_on(f.writer.apply(vec![
            Change::Add(a("web.svc.example.", 1)),
            Change::Add(Record::new(
                name("web.svc.example."),
                30,
                RData::Cname(name("other.svc.example.")),
            )),
        ]));
        assert!(
            matches!(conflict, Err(WriteError::Conflict { change: 1, .. })),
            "{conflict:?}"
        );
        let page = rt
            .block_on(f.writer.records(RecordQuery::default()))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(page.records.is_empty(), "{page:?}");
        assert_eq!(served(&f.table, "web.svc.example."), 0);
    }

    #[test]
    fn replace_and_delete_count_what_they_did() {
        let f = fixture();
        let rt = runtime();
        let web = name("web.svc.example.");
        let _ = rt.block_on(f.writer.apply(vec![Change::Add(a("web.svc.example.", 1))]));
        let replaced = rt.block_on(f.writer.apply(vec![Change::Replace {
            name: web.clone(),
            rtype: RType::A,
            records: vec![a("web.svc.example.", 2), a("web.svc.example.", 3)],
        }]));
        assert_eq!(
            replaced,
            Ok(Applied {
                written: 2,
                removed: 1
            })
        );
        let deleted = rt.block_on(f.writer.apply(vec![Change::Delete {
            name: web.clone(),
            rtype: Some(RType::A),
            data: Some(RData::A(Ipv4Addr::new(10, 0, 0, 2))),
        }]));
        assert_eq!(
            deleted,
            Ok(Applied {
                written: 0,
                removed: 1
            })
        );
        assert_eq!(served(&f.table, "web.svc.example."), 1);
    }

    #[test]
    fn listing_pages_and_filters() {
        let f = fixture();
        let rt = runtime();
        let batch = (1..=5).map(|i| Change::Add(a("web.svc.example.", i)));
        let _ = rt.block_on(
            f.writer.apply(
                batch
                    .chain([Change::Add(a("db.svc.example.", 9))])
                    .collect(),
            ),
        );
        let first = rt
            .block_on(f.writer.records(RecordQuery {
                name: Some(NameFilter::Exact(name("web.svc.example."))),
                limit: 3,
                ..RecordQuery::default()
            }))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(first.records.len(), 3);
        let second = rt
            .block_on(f.writer.records(RecordQuery {
                name: Some(NameFilter::Exact(name("web.svc.example."))),
                limit: 3,
                after: first.next.clone(),
                ..RecordQuery::default()
            }))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((second.records.len(), second.next), (2, None));
        let subtree = rt
            .block_on(f.writer.records(RecordQuery {
                name: Some(NameFilter::Subtree(name("svc.example."))),
                ..RecordQuery::default()
            }))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(subtree.records.len(), 6);
    }

    /// What a start-up would publish from the store at `path`.
    fn full_compile(path: &std::path::Path) -> Arc<TableVersion> {
        let mut publisher = Publisher::new(Table::new(), Policies::default());
        let sources = FileSources::new(Vec::new(), Some(path.to_owned()), Vec::new());
        publisher.apply(sources.read().unwrap_or_else(|e| unreachable!("{e}")));
        publisher.table().current()
    }

    #[test]
    fn rebuilding_changed_names_gives_what_a_full_compile_gives() {
        let f = fixture();
        let rt = runtime();
        let deep = name("a.b.c.svc.example.");
        let steps: Vec<Vec<Change>> = vec![
            vec![Change::Add(a("a.b.c.svc.example.", 1))],
            vec![
                Change::Add(a("x.c.svc.example.", 2)),
                Change::Add(a("web.svc.example.", 3)),
            ],
            vec![Change::Add(Record::new(
                name("www.svc.example."),
                60,
                RData::Cname(name("web.svc.example.")),
            ))],
            vec![Change::Delete {
                name: deep.clone(),
                rtype: None,
                data: None,
            }],
            vec![Change::Replace {
                name: name("web.svc.example."),
                rtype: RType::A,
                records: vec![a("web.svc.example.", 7), a("web.svc.example.", 8)],
            }],
            vec![Change::Delete {
                name: name("x.c.svc.example."),
                rtype: Some(RType::A),
                data: None,
            }],
            vec![Change::Add(a("c.svc.example.", 9))],
        ];
        for (at, step) in steps.into_iter().enumerate() {
            let before = f.table.current();
            let applied = rt.block_on(f.writer.apply(step));
            assert!(applied.is_ok(), "step {at}: {applied:?}");
            let full = full_compile(&f.path);
            assert_eq!(summary(&f.table.current()), summary(&full), "step {at}");
            assert!(!Arc::ptr_eq(&before, &f.table.current()), "step {at}");
        }
        assert_eq!(served(&f.table, "b.c.svc.example."), 0);
        assert!(
            f.table
                .current()
                .find(&name("b.c.svc.example.").to_lowercase_wire())
                .is_none(),
            "an empty non-terminal with nothing below it goes"
        );
    }

    #[test]
    fn zones_are_added_and_removed() {
        let f = fixture();
        let rt = runtime();
        assert_eq!(rt.block_on(f.writer.add_zone(name("other."))), Ok(true));
        assert_eq!(rt.block_on(f.writer.add_zone(name("other."))), Ok(false));
        assert_eq!(
            rt.block_on(f.writer.zones()),
            Ok(vec![name("svc.example."), name("other.")])
        );
        assert_eq!(rt.block_on(f.writer.remove_zone(name("other."))), Ok(true));
        assert_eq!(rt.block_on(f.writer.remove_zone(name("other."))), Ok(false));
    }
}
