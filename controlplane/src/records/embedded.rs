//! [`RecordWriter`] over the embedded store ([`crate::store`]), for servers
//! without etcd.
//!
//! Every call runs on a blocking thread: it opens the store, does its one redb
//! transaction and closes the store again, the way the [`Loader`] reads it, so
//! that SIGHUP reloads (and `ferrodns store` between them) see one file with one
//! owner at a time. Calls are serialised by a mutex for the same reason.
//!
//! A batch is [`Store::apply`]: one write transaction, fsync'd on commit, all or
//! none. Once it is committed the writer republishes the answer table before it
//! returns, so a client that got `2xx` and then asks the DNS port sees its
//! change. The republish rebuilds just the names the batch changed (see
//! `records/republish.rs`, which says when it compiles every zone instead), in one
//! pointer swap: readers keep answering from the old version meanwhile. A
//! compile that fails after the commit is logged; the write stays durable and
//! the old table keeps being served.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::table::Table;
use tracing::warn;

use super::republish::Republish;
use super::{
    Applied, Change, NameFilter, RecordPage, RecordQuery, RecordWriter, WriteError, WriteFuture,
    ZonedRecord,
};
use crate::loader::{LoadError, LoadSummary, Loader};
use crate::store::{Store, StoreError};

/// Writes records to the embedded store and republishes the answer table.
#[derive(Debug, Clone)]
pub struct EmbeddedWriter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    loader: Loader,
    table: Table,
    /// Held for the whole of each call: one opener of the file at a time.
    lock: Mutex<()>,
}

impl EmbeddedWriter {
    /// A writer for the store at `path` that republishes `table` with `loader`.
    /// The `zones` given (the `--domain` zones the store feeds) are created in the
    /// store when missing, so that records can be written to them at once.
    pub fn open(
        path: PathBuf,
        zones: &[Name],
        loader: Loader,
        table: Table,
    ) -> Result<EmbeddedWriter, StoreError> {
        let store = Store::open(&path)?;
        for zone in zones {
            store.add_zone(zone)?;
        }
        drop(store);
        Ok(EmbeddedWriter {
            inner: Arc::new(Inner {
                path,
                loader,
                table,
                lock: Mutex::new(()),
            }),
        })
    }

    /// Compiles every zone afresh (zone files and the store, as on SIGHUP) and
    /// publishes the result, in turn with the writes: a reload never opens the
    /// store while a write holds it, nor publishes over a write's edit.
    pub async fn reload(&self) -> Result<LoadSummary, LoadError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = inner
                .lock
                .lock()
                .map_err(|_| LoadError::Interrupted("a store call panicked".into()))?;
            let (version, summary) = inner.loader.load(&HashSet::new(), inner.table.seed())?;
            inner.table.publish(version);
            Ok(summary)
        })
        .await
        .map_err(|e| LoadError::Interrupted(e.to_string()))?
    }

    /// Runs `job` with the store open, on a blocking thread, under the lock; then
    /// brings the table up to date as the job says.
    fn with_store<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner, &Store) -> Result<(T, Republish), WriteError> + Send + 'static,
    ) -> WriteFuture<'_, T> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let _one_at_a_time = inner
                    .lock
                    .lock()
                    .map_err(|_| WriteError::Storage("a store call panicked".into()))?;
                let store = Store::open(&inner.path).map_err(storage)?;
                let (answer, republish) = job(&inner, &store)?;
                drop(store);
                republish.publish(&inner.loader, &inner.table);
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
        StoreError::CnameConflict { .. } => WriteError::Conflict { change, reason },
        StoreError::OutsideZones(_) | StoreError::InvalidRecord { .. } => {
            WriteError::Rejected { change, reason }
        }
        StoreError::NoSuchZone(zone) => WriteError::NoSuchZone(zone),
        _ => WriteError::Storage(reason),
    }
}

impl RecordWriter for EmbeddedWriter {
    fn backend(&self) -> &'static str {
        "embedded store"
    }

    fn apply(&self, changes: Vec<Change>) -> WriteFuture<'_, Applied> {
        self.with_store(move |inner, store| {
            let applied = store
                .apply(&changes)
                .map_err(|e| batch_error(e.change, e.source))?;
            let changed: BTreeSet<Name> = if applied == Applied::default() {
                BTreeSet::new()
            } else {
                changes.iter().map(|c| c.name().clone()).collect()
            };
            let republish = Republish::gather(store, &inner.loader, changed).unwrap_or_else(|e| {
                warn!("cannot read back what was written, rebuilding the whole table: {e}");
                Republish::Full
            });
            Ok((applied, republish))
        })
    }

    fn zones(&self) -> WriteFuture<'_, Vec<Name>> {
        self.with_store(|_, store| Ok((store.zones().map_err(storage)?, Republish::Nothing)))
    }

    fn records(&self, query: RecordQuery) -> WriteFuture<'_, RecordPage> {
        self.with_store(move |_, store| {
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
        self.with_store(move |_, store| {
            let existed = store.zones().map_err(storage)?.contains(&apex);
            if existed {
                return Ok((false, Republish::Nothing));
            }
            store.add_zone(&apex).map_err(storage)?;
            Ok((true, Republish::Full))
        })
    }

    fn remove_zone(&self, apex: Name) -> WriteFuture<'_, bool> {
        self.with_store(move |_, store| {
            let removed = store.remove_zone(&apex).map_err(storage)?;
            let republish = if removed {
                Republish::Full
            } else {
                Republish::Nothing
            };
            Ok((removed, republish))
        })
    }
}

/// One page of the records of `zones` that match `query`. The cursor is the
/// number of matching records before the page.
fn page(
    zones: Vec<(Name, Vec<ferrodns_dataplane::record::Record>)>,
    query: &RecordQuery,
) -> Result<RecordPage, WriteError> {
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
    use std::net::Ipv4Addr;

    use ferrodns_dataplane::record::AnswerPolicy;
    use ferrodns_dataplane::record::{RData, RType, Record};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::new(name(owner), 30, RData::A(Ipv4Addr::new(10, 0, 0, last)))
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        table: Table,
        writer: EmbeddedWriter,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("records.redb");
        let loader = Loader::new(Vec::new(), AnswerPolicy::RoundRobin, Some(path.clone()));
        let table = Table::new();
        let writer =
            EmbeddedWriter::open(path.clone(), &[name("svc.example.")], loader, table.clone())
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

    /// Every node of a version: zone, name, and each RRset's records.
    fn summary(version: &ferrodns_dataplane::table::TableVersion) -> Vec<String> {
        let mut nodes: Vec<String> = version
            .nodes()
            .map(|node| {
                let rrsets: Vec<String> = node
                    .rrsets()
                    .map(|rrset| {
                        let records: Vec<String> = rrset
                            .records()
                            .map(|r| format!("{} {:02x?}", r.ttl(), r.rdata()))
                            .collect();
                        records.join(",")
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
        nodes.sort();
        nodes
    }

    #[test]
    fn rebuilding_changed_names_gives_what_a_full_compile_gives() {
        let f = fixture();
        let rt = runtime();
        let loader = Loader::new(Vec::new(), AnswerPolicy::RoundRobin, Some(f.path.clone()));
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
            let (full, _) = loader
                .load(&HashSet::new(), f.table.seed())
                .unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(summary(&f.table.current()), summary(&full), "step {at}");
            assert!(!Arc::ptr_eq(&before, &f.table.current()), "step {at}");
        }
        let store = Store::open(&f.path).unwrap_or_else(|e| unreachable!("{e}"));
        let plan = |loader: &Loader, owner: &str| {
            Republish::gather(&store, loader, BTreeSet::from([name(owner)]))
                .unwrap_or_else(|e| unreachable!("{e}"))
        };
        assert!(
            matches!(plan(&loader, "a.b.c.svc.example."), Republish::Names { .. }),
            "a name of a store-only zone is rebuilt alone"
        );
        assert!(matches!(plan(&loader, "svc.example."), Republish::Full));
        let with_file = Loader::new(
            vec![crate::config::ZoneConfig {
                origin: name("svc.example."),
                file: Some(f.path.with_extension("zone")),
                policy: None,
                name_policies: Vec::new(),
            }],
            AnswerPolicy::RoundRobin,
            Some(f.path.clone()),
        );
        assert!(matches!(
            plan(&with_file, "a.svc.example."),
            Republish::Full
        ));
        drop(store);
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
