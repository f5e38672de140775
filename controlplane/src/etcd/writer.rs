//! [`RecordWriter`] over etcd: the REST API's writes become containerdns-layout
//! keys, committed in one etcd transaction that checks etcd still holds what the
//! write was planned on, and reach every appliance (this one included) through
//! the watch.
//!
//! Keys are the ones containerdns's own API writes, so either tool can edit what
//! the other wrote:
//!
//! | record | key | value |
//! | --- | --- | --- |
//! | A, AAAA | `/containerdns/<name reversed>/<fnv32a of the address>/` | `{"host":"10.0.0.1","type":"A","ttl":30}` |
//! | CNAME | `/containerdns/<name reversed>/` | `{"host":"target.","type":"CNAME","ttl":30}` |
//! | SRV | `/containerdns/<name reversed>/<hash>/` | `{"host":"target.","type":"SRV","port":80,"priority":10,"weight":5,"ttl":30}` |
//! | NS (at a zone apex) | `/containerdns/<zone reversed>/dns/ns/<hash>/` | `{"host":"ns1.example.","type":"NS","ttl":30}` |
//! | MX | under `mail.<zone>` at the apex, else the name; `<hash>/` | `{"host":"mx.","type":"MX","priority":10,"mail":true,"ttl":30}` |
//! | TXT | under `txt.<zone>` at the apex, else the name; `<hash>/` | `{"type":"TXT","text":"…","ttl":30}` |
//!
//! `<hash>` is FNV-1a (32 bits, lower-case hex) of the address for A/AAAA, as
//! containerdns computes it, and of the record's presentation text otherwise, so
//! writing the same record twice writes the same key. PTR and SOA have no place in
//! the containerdns layout and are refused; a TXT must fit one `text` (strings of
//! 255 octets but the last).
//!
//! # One write
//!
//! ```text
//!  read the names' key ranges (both layouts) at one revision R   <--------+
//!    -> plan against that state: the rules, keys to put and delete        |
//!       (a conflict or a bad record: refused, nothing written)            |
//!    -> one transaction: IF every key changed still has its revision      |
//!                        AND no key in the ranges read changed after R    |
//!                        THEN the puts and deletes                        |
//!    -> committed: 2xx        compare failed: someone wrote in between ---+
//! ```
//!
//! The plan (`write_plan`) is made against etcd's own state, never
//! against this appliance's index, which trails etcd by the watch's latency: a
//! replace right behind an add sees the add. Concurrent writes to one name cannot
//! both land on the same reading; the loser reads again, plans again (a CNAME
//! where an address now is becomes a conflict) and commits, up to
//! [`MAX_ATTEMPTS`] times, after which it is answered as unavailable with nothing
//! written. A key that holds more than the records asked for (a skydns key that
//! is both A and TXT, say) is not split: the change is refused as a conflict and
//! the key is left for whoever wrote it.
//!
//! A batch is one etcd transaction, so at most [`MAX_TXN_OPS`] keys (etcd's
//! default `--max-txn-ops`); a larger batch is refused whole.
//!
//! Requests go to one member of the cluster at a time and move on to the next
//! when a member fails (`members`): while a quorum is up, writes land.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, GetOptions, Txn, TxnOp, TxnOpResponse};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;

use super::SharedRecords;
use super::decode::Decoder;
use super::members::{Members, connect_options};
use super::sync::{MAX_MESSAGE, PAGE, SyncError};
use super::write_plan::{EtcdState, Plan, Scope, merged, plan, scopes};
use crate::config::EtcdSettings;
use crate::records::{
    Applied, Change, NameFilter, RecordPage, RecordQuery, RecordWriter, WriteError, WriteFuture,
    ZonedRecord,
};

/// Keys one transaction may touch, and compares it may make (etcd's default
/// `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;
/// Reads and plans one write may make before giving up because others keep
/// changing the same names.
pub const MAX_ATTEMPTS: u32 = 20;
/// Longest pause between two attempts (each waits a random part of it, doubling
/// from 1 ms, so racing writers spread out).
const MAX_PAUSE: Duration = Duration::from_millis(64);

/// Writes records to etcd in the containerdns layout.
#[derive(Clone)]
pub struct EtcdWriter {
    members: Arc<Members>,
    index: SharedRecords,
    /// The containerdns prefix, ending in `/`.
    prefix: String,
}

impl std::fmt::Debug for EtcdWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdWriter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdWriter {
    /// A writer for the cluster of `settings`, listing names through `index`,
    /// this appliance's copy of etcd (see [`super::EtcdSource::records`]). Fails
    /// when the containerdns layout is turned off or a TLS or password file
    /// cannot be read; an unreachable etcd is not an error here: each write
    /// tries the members again, and is answered [`WriteError::Unavailable`] while
    /// none answers.
    pub async fn connect(
        settings: &EtcdSettings,
        index: SharedRecords,
    ) -> Result<EtcdWriter, SyncError> {
        let prefix = settings.layouts.containerdns.clone().ok_or_else(|| {
            SyncError::Build("the containerdns layout is off; the writer has no prefix".into())
        })?;
        connect_options(settings)?;
        Ok(EtcdWriter {
            members: Arc::new(Members::new(settings)),
            index,
            prefix,
        })
    }

    async fn apply_now(
        &self,
        changes: Vec<Change>,
        user: Option<&str>,
    ) -> Result<Applied, WriteError> {
        let (decoder, ranges) = {
            let index = self.index.lock().await;
            let decoder = index.decoder().clone();
            let ranges: Vec<Scope> = changes
                .iter()
                .flat_map(|change| {
                    let known: Vec<Vec<u8>> = index
                        .name_keys(change.name())
                        .into_iter()
                        .map(|(key, _)| key)
                        .collect();
                    scopes(&decoder, change.name(), &known)
                })
                .collect();
            (decoder, merged(ranges))
        };
        let mut pause = Duration::from_millis(1);
        for _ in 0..MAX_ATTEMPTS {
            let state = self.read(&decoder, &ranges).await?;
            let mut plan = plan(&self.prefix, &decoder, &state, &changes)?;
            if let Some(user) = user {
                super::owner::stamp(&mut plan.writes, user);
            }
            if plan.writes.is_empty() || self.commit(&plan).await? {
                return Ok(plan.applied);
            }
            tokio::time::sleep(pause.mul_f64(fastrand::f64())).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
        let names: Vec<String> = changes.iter().map(|c| c.name().to_string()).collect();
        Err(WriteError::Unavailable(format!(
            "other writers changed {} at every one of {MAX_ATTEMPTS} attempts; nothing was \
             written, try again",
            names.join(", ")
        )))
    }

    /// What etcd holds in `ranges`, at one revision.
    async fn read(&self, decoder: &Decoder, ranges: &[Scope]) -> Result<EtcdState, WriteError> {
        let (revision, kvs) = self
            .members
            .request(|client| read_ranges(client, ranges))
            .await
            .map_err(unavailable)?;
        Ok(EtcdState::new(decoder, revision, ranges.to_vec(), kvs))
    }

    /// Commits `plan` under its guards; false when a compare failed.
    async fn commit(&self, plan: &Plan) -> Result<bool, WriteError> {
        let compares: Vec<_> = plan.guards.iter().map(|guard| guard.compare()).collect();
        let ops: Vec<TxnOp> = plan
            .writes
            .iter()
            .map(|(key, value)| match value {
                Some(value) => TxnOp::put(key.clone(), value.clone(), None),
                None => TxnOp::delete(key.clone(), None),
            })
            .collect();
        let txn = Txn::new().when(compares).and_then(ops);
        let committed = self
            .members
            .request(|client| {
                let txn = txn.clone();
                async move { client.kv_client().txn(txn).await }
            })
            .await
            .map_err(unavailable)?;
        Ok(committed.succeeded())
    }

    async fn records_now(&self, query: RecordQuery) -> Result<RecordPage, WriteError> {
        let index = self.index.lock().await;
        list(&index, &query)
    }
}

fn unavailable(error: SyncError) -> WriteError {
    WriteError::Unavailable(error.to_string())
}

/// Every key in `ranges` with its value and revision, at one revision (that of
/// the first response): one read-only transaction per [`MAX_TXN_OPS`] ranges,
/// and more for ranges that hold over [`PAGE`] keys.
async fn read_ranges(
    client: Client,
    ranges: &[Scope],
) -> Result<(i64, Vec<(Vec<u8>, Vec<u8>, i64)>), etcd_client::Error> {
    let mut kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
    let mut revision = 0;
    let mut kvs = Vec::new();
    let mut pending: Vec<Scope> = ranges.to_vec();
    while !pending.is_empty() {
        let batch: Vec<Scope> = pending.drain(..pending.len().min(MAX_TXN_OPS)).collect();
        let gets: Vec<TxnOp> = batch
            .iter()
            .map(|range| {
                let mut options = GetOptions::new()
                    .with_range(range.end.clone())
                    .with_limit(PAGE);
                if revision != 0 {
                    options = options.with_revision(revision);
                }
                TxnOp::get(range.start.clone(), Some(options))
            })
            .collect();
        let response = kv.txn(Txn::new().and_then(gets)).await?;
        if revision == 0 {
            revision = response.header().map_or(0, |h| h.revision());
        }
        for (range, answer) in batch.iter().zip(response.op_responses()) {
            let TxnOpResponse::Get(mut got) = answer else {
                continue;
            };
            let more = got.more();
            let page = got.take_kvs();
            if more && let Some(last) = page.last() {
                let mut rest = last.key().to_vec();
                rest.push(0);
                pending.push(Scope {
                    start: rest,
                    end: range.end.clone(),
                });
            }
            kvs.extend(page.into_iter().map(|kv| {
                let revision = kv.mod_revision();
                let (key, value) = kv.into_key_value();
                (key, value, revision)
            }));
        }
    }
    Ok((revision, kvs))
}

impl RecordWriter for EtcdWriter {
    fn backend(&self) -> &'static str {
        "etcd"
    }

    fn apply(&self, changes: Vec<Change>) -> WriteFuture<'_, Applied> {
        Box::pin(self.apply_now(changes, None))
    }

    fn apply_owned(&self, user: String, changes: Vec<Change>) -> WriteFuture<'_, Applied> {
        Box::pin(async move { self.apply_now(changes, Some(&user)).await })
    }

    fn zones(&self) -> WriteFuture<'_, Vec<Name>> {
        Box::pin(async {
            let index = self.index.lock().await;
            let mut zones: Vec<Name> = index.decoder().zones.etcd_apexes().cloned().collect();
            zones.sort();
            Ok(zones)
        })
    }

    fn records(&self, query: RecordQuery) -> WriteFuture<'_, RecordPage> {
        Box::pin(self.records_now(query))
    }
}

/// One page of the records etcd gives, from the index.
pub(crate) fn list(
    index: &super::records::EtcdRecords,
    query: &RecordQuery,
) -> Result<RecordPage, WriteError> {
    let zones = &index.decoder().zones;
    if let Some(zone) = &query.zone
        && !zones.is_etcd_apex(zone)
    {
        return Err(WriteError::NoSuchZone(zone.clone()));
    }
    let (start, skip) = match &query.after {
        Some(cursor) => parse_cursor(cursor)?,
        None => {
            let start = match (&query.name, &query.zone) {
                (Some(NameFilter::Exact(n) | NameFilter::Subtree(n)), _) => n.clone(),
                (None, Some(zone)) => zone.clone(),
                (None, None) => Name::root(),
            };
            (start, 0)
        }
    };
    let limit = query.page_size();
    let mut page = RecordPage::default();
    for name in index.names_from(&start) {
        let inside = match &query.name {
            Some(NameFilter::Exact(n)) => name == n,
            Some(NameFilter::Subtree(n)) => name.is_subdomain_of(n),
            None => true,
        } && query.zone.as_ref().is_none_or(|z| name.is_subdomain_of(z));
        if !inside {
            if query.name.is_some() || query.zone.is_some() {
                break;
            }
            continue;
        }
        let Some(zone) = zones.etcd_zone(name) else {
            continue;
        };
        if query.zone.as_ref().is_some_and(|z| z != zone) {
            continue;
        }
        let (mut records, _) = index.name_records(name, name == zone);
        records.retain(|r| query.rtype.is_none_or(|t| r.rtype() == t));
        records.sort_by(|a, b| {
            let wire = |r: &Record| {
                let mut out = Vec::new();
                r.data.encode(&mut out);
                out
            };
            (a.rtype(), wire(a)).cmp(&(b.rtype(), wire(b)))
        });
        let from = if *name == start { skip } else { 0 };
        for (i, record) in records.into_iter().enumerate().skip(from) {
            if page.records.len() == limit {
                page.next = Some(format!("{name}\t{i}"));
                return Ok(page);
            }
            page.records.push(ZonedRecord {
                zone: zone.clone(),
                record,
            });
        }
    }
    Ok(page)
}

fn parse_cursor(cursor: &str) -> Result<(Name, usize), WriteError> {
    let bad = || WriteError::BadCursor(cursor.to_owned());
    let (name, skip) = cursor.split_once('\t').ok_or_else(bad)?;
    Ok((
        Name::from_ascii(name).map_err(|_| bad())?,
        skip.parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::write_plan::tests::{FakeEtcd, record, write};
    use ferrodns_dataplane::record::RType;
    use ferrodns_dataplane::testkit::name;

    #[test]
    fn listing_pages_through_the_index() {
        let mut etcd = FakeEtcd::new();
        let changes: Vec<Change> = (0..5u8)
            .map(|i| Change::Add(record(&format!("h{i}.example.com. A 10.0.0.{i}"))))
            .chain([Change::Add(record("h1.example.com. TXT t"))])
            .collect();
        write(&mut etcd, &changes).unwrap_or_else(|e| unreachable!("{e}"));
        let index = etcd.index();
        let mut query = RecordQuery {
            limit: 4,
            ..RecordQuery::default()
        };
        let first = list(&index, &query).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(first.records.len(), 4);
        query.after = first.next.clone();
        let second = list(&index, &query).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(second.records.len(), 2);
        assert_eq!(second.next, None);
        let exact = list(
            &index,
            &RecordQuery {
                name: Some(NameFilter::Exact(name("h1.example.com."))),
                rtype: Some(RType::TXT),
                ..RecordQuery::default()
            },
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(exact.records.len(), 1);
        assert!(matches!(
            list(
                &index,
                &RecordQuery {
                    after: Some("junk".into()),
                    ..RecordQuery::default()
                }
            ),
            Err(WriteError::BadCursor(_))
        ));
        assert!(matches!(
            list(
                &index,
                &RecordQuery {
                    zone: Some(name("nope.")),
                    ..RecordQuery::default()
                }
            ),
            Err(WriteError::NoSuchZone(_))
        ));
    }
}
