//! [`RecordWriter`] over etcd: the REST API's writes become containerdns-layout
//! keys, committed in one etcd transaction, and reach every appliance (this one
//! included) through the watch.
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
//! Deletes and replaces find a name's existing keys — in either layout — through
//! this appliance's index of etcd ([`super::records`]), which trails etcd by at
//! most the watch's latency. A key that holds more than the records asked for (a
//! skydns key that is both A and TXT, say) is not split: the change is refused as
//! a conflict and the key is left for whoever wrote it.
//!
//! A batch is one etcd transaction, so at most [`MAX_TXN_OPS`] keys (etcd's
//! default `--max-txn-ops`); a larger batch is refused whole.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Txn, TxnOp};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};
use serde_json::json;
use tokio::sync::Mutex;

use super::SharedRecords;
use super::decode::{Decoded, Decoder, Entry, txt_strings};
use super::key::{name_path, path_name};
use super::sync::{SyncError, connect};
use crate::config::EtcdSettings;
use crate::records::rules::{self, RuleError};
use crate::records::{
    Applied, Change, NameFilter, RecordPage, RecordQuery, RecordWriter, WriteError, WriteFuture,
    ZonedRecord,
};

/// Keys one transaction may touch (etcd's default `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;

/// Writes records to etcd in the containerdns layout.
#[derive(Clone)]
pub struct EtcdWriter {
    /// None until a connection succeeds: etcd may be down when the server starts.
    client: Arc<Mutex<Option<Client>>>,
    settings: EtcdSettings,
    index: SharedRecords,
    /// The containerdns prefix, ending in `/`.
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for EtcdWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdWriter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdWriter {
    /// A writer for the cluster of `settings`, reading names through `index`,
    /// this appliance's copy of etcd (see [`super::EtcdSource::records`]). Fails when the
    /// containerdns layout is turned off; an unreachable etcd is not an error
    /// here: the writer connects again on each write until it succeeds, and
    /// answers [`WriteError::Unavailable`] meanwhile.
    pub async fn connect(
        settings: &EtcdSettings,
        index: SharedRecords,
    ) -> Result<EtcdWriter, SyncError> {
        let prefix = settings.layouts.containerdns.clone().ok_or_else(|| {
            SyncError::Build("the containerdns layout is off; the writer has no prefix".into())
        })?;
        let client = match connect(settings).await {
            Ok(client) => Some(client),
            Err(error @ SyncError::File { .. }) => return Err(error),
            Err(_) => None,
        };
        Ok(EtcdWriter {
            client: Arc::new(Mutex::new(client)),
            settings: settings.clone(),
            index,
            prefix,
            timeout: settings.timeout,
        })
    }

    /// The connected client, connecting now if there is none yet.
    async fn client(&self) -> Result<Client, WriteError> {
        let mut client = self.client.lock().await;
        if let Some(client) = &*client {
            return Ok(client.clone());
        }
        let connected = connect(&self.settings)
            .await
            .map_err(|e| WriteError::Unavailable(e.to_string()))?;
        *client = Some(connected.clone());
        Ok(connected)
    }

    async fn apply_now(
        &self,
        changes: Vec<Change>,
        user: Option<&str>,
    ) -> Result<Applied, WriteError> {
        let mut plan = {
            let index = self.index.lock().await;
            plan(&self.prefix, &index, &changes)?
        };
        if let Some(user) = user {
            super::owner::stamp(&mut plan.writes, user);
        }
        if plan.writes.is_empty() {
            return Ok(plan.applied);
        }
        let ops: Vec<TxnOp> = plan
            .writes
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => TxnOp::put(key, value, None),
                None => TxnOp::delete(key, None),
            })
            .collect();
        let mut kv = self.client().await?.kv_client();
        let committed = tokio::time::timeout(self.timeout, kv.txn(Txn::new().and_then(ops))).await;
        match committed {
            Ok(Ok(_)) => Ok(plan.applied),
            Ok(Err(error)) => Err(WriteError::Unavailable(error.to_string())),
            Err(_) => Err(WriteError::Unavailable(format!(
                "etcd did not commit within {:?}",
                self.timeout
            ))),
        }
    }

    async fn records_now(&self, query: RecordQuery) -> Result<RecordPage, WriteError> {
        let index = self.index.lock().await;
        list(&index, &query)
    }
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

/// The keys a batch writes (`None`: delete) and what it amounts to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) writes: BTreeMap<Vec<u8>, Option<String>>,
    pub(crate) applied: Applied,
}

/// Turns a batch into key writes against the current index (sans-IO): the
/// [rules](crate::records::rules) decide what each change does at its name, and
/// this maps the records that go to the keys that hold them and the records that
/// come to new containerdns keys.
pub(crate) fn plan(
    prefix: &str,
    index: &super::records::EtcdRecords,
    changes: &[Change],
) -> Result<Plan, WriteError> {
    let decoder = index.decoder();
    let mut plan = Plan::default();
    for (at, change) in changes.iter().enumerate() {
        let name = change.name();
        let rejected = |reason: String| WriteError::Rejected { change: at, reason };
        let conflict = |reason: String| WriteError::Conflict { change: at, reason };
        rules::check_change(change).map_err(|e| rule_error(at, e))?;
        let Some(apex) = decoder.zones.etcd_zone(name).cloned() else {
            return Err(rejected(format!(
                "{name} is not inside any zone fed by etcd"
            )));
        };
        let current = current_keys(index, decoder, &plan.writes, name);
        let records: Vec<Record> = current
            .iter()
            .flat_map(|(_, entries)| entries.iter().map(|e| e.record.clone()))
            .collect();
        let edit = rules::plan(&apex, &records, change).map_err(|e| rule_error(at, e))?;
        for (key, entries) in &current {
            let hits = entries
                .iter()
                .filter(|e| edit.remove.contains(&e.record))
                .count();
            if hits == 0 {
                continue;
            }
            if hits < entries.len() {
                return Err(conflict(format!(
                    "etcd key {} gives {name} more than the records to remove; change it where \
                     it was written",
                    String::from_utf8_lossy(key)
                )));
            }
            plan.writes.insert(key.clone(), None);
        }
        for record in &edit.add {
            let (key, value) = key_value(prefix, &apex, record).map_err(rejected)?;
            plan.writes.insert(key.into_bytes(), Some(value));
        }
        plan.applied.written += edit.applied.written;
        plan.applied.removed += edit.applied.removed;
        if plan.writes.len() > MAX_TXN_OPS {
            return Err(rejected(format!(
                "the batch touches more than {MAX_TXN_OPS} etcd keys, more than one etcd \
                 transaction holds; split it"
            )));
        }
    }
    Ok(plan)
}

/// A refused change, as the API reports it.
fn rule_error(change: usize, error: RuleError) -> WriteError {
    let reason = error.to_string();
    match error {
        RuleError::CnameConflict { .. } => WriteError::Conflict { change, reason },
        RuleError::Invalid { .. } | RuleError::OverLimit { .. } => {
            WriteError::Rejected { change, reason }
        }
    }
}

/// The keys that give `name` records once the writes planned so far are done,
/// with the entries each gives `name`.
fn current_keys(
    index: &super::records::EtcdRecords,
    decoder: &Decoder,
    planned: &BTreeMap<Vec<u8>, Option<String>>,
    name: &Name,
) -> Vec<(Vec<u8>, Vec<Entry>)> {
    let mut keys: BTreeMap<Vec<u8>, Vec<Entry>> = index
        .name_keys(name)
        .into_iter()
        .filter(|(key, _)| !planned.contains_key(key))
        .collect();
    for (key, value) in planned {
        if let Some(value) = value
            && let Ok(Decoded::Records(entries)) = decoder.decode(key, value.as_bytes())
        {
            keys.insert(key.clone(), entries);
        }
    }
    keys.into_iter()
        .map(|(key, entries)| {
            let mine: Vec<Entry> = entries
                .into_iter()
                .filter(|e| e.record.name == *name)
                .collect();
            (key, mine)
        })
        .filter(|(_, entries)| !entries.is_empty())
        .collect()
}

/// The containerdns key and value of one record.
pub(crate) fn key_value(
    prefix: &str,
    apex: &Name,
    record: &Record,
) -> Result<(String, String), String> {
    let name = &record.name;
    let ttl = record.ttl;
    let target = |n: &Name| n.to_string();
    let leaf = fnv_hex(&format!("{} {}", record.rtype(), record.data));
    let at_apex = |label: &[u8]| -> Result<Name, String> {
        if name == apex {
            apex.prepend_label(label).map_err(|e| e.to_string())
        } else {
            Ok(name.clone())
        }
    };
    let (owner, leaf, value) = match &record.data {
        RData::A(v4) => {
            let host = v4.to_string();
            (
                name.clone(),
                Some(fnv_hex(&host)),
                json!({"host": host, "type": "A", "ttl": ttl}),
            )
        }
        RData::Aaaa(v6) => {
            let host = v6.to_string();
            (
                name.clone(),
                Some(fnv_hex(&host)),
                json!({"host": host, "type": "AAAA", "ttl": ttl}),
            )
        }
        RData::Cname(t) => {
            if name == apex {
                return Err(format!("a CNAME cannot be at the zone apex {name}"));
            }
            (
                name.clone(),
                None,
                json!({"host": target(t), "type": "CNAME", "ttl": ttl}),
            )
        }
        RData::Srv {
            priority,
            weight,
            port,
            target: t,
        } => (
            name.clone(),
            Some(leaf),
            json!({"host": target(t), "type": "SRV", "port": port, "priority": priority,
                   "weight": weight, "ttl": ttl}),
        ),
        RData::Ns(t) => {
            if name != apex {
                return Err(format!(
                    "NS records in etcd belong to a zone apex; {name} is not the apex of {apex}"
                ));
            }
            let owner = apex
                .prepend_label(b"dns")
                .and_then(|n| n.prepend_label(b"ns"))
                .map_err(|e| e.to_string())?;
            (
                owner,
                Some(leaf),
                json!({"host": target(t), "type": "NS", "ttl": ttl}),
            )
        }
        RData::Mx {
            preference,
            exchange,
        } => (
            at_apex(b"mail")?,
            Some(leaf),
            json!({"host": target(exchange), "type": "MX", "priority": preference,
                   "mail": true, "ttl": ttl}),
        ),
        RData::Txt(strings) => {
            let text: Vec<u8> = strings.concat();
            let text = String::from_utf8(text)
                .map_err(|_| "TXT text in etcd must be UTF-8 (it is a JSON string)".to_owned())?;
            if txt_strings(&text) != *strings {
                return Err(
                    "the containerdns layout holds one TXT text, split every 255 octets; \
                     this record's strings are split otherwise"
                        .into(),
                );
            }
            (
                at_apex(b"txt")?,
                Some(leaf),
                json!({"type": "TXT", "text": text, "ttl": ttl}),
            )
        }
        RData::Ptr(_) | RData::Soa(_) => {
            return Err(format!(
                "{} records have no place in the containerdns layout",
                record.rtype()
            ));
        }
    };
    let mut key = name_path(prefix, &owner);
    if key.len() <= prefix.len() || key.contains("//") {
        return Err(format!("{owner} cannot be written as an etcd key"));
    }
    if let Some(leaf) = leaf {
        key.push('/');
        key.push_str(&leaf);
    }
    key.push('/');
    // The key must read back as the name it was made from.
    let back = key
        .strip_prefix(prefix)
        .map(|path| path_name(path.as_bytes()));
    if !matches!(back, Some(Ok(_))) {
        return Err(format!(
            "{owner} has a label etcd keys cannot hold (a `/` or a dot)"
        ));
    }
    Ok((key, value.to_string()))
}

/// FNV-1a, 32 bits, as lower-case hex without padding (containerdns's leaf).
fn fnv_hex(text: &str) -> String {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:x}")
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
    use crate::config::Layouts;
    use crate::etcd::decode::Zones;
    use crate::etcd::records::{EtcdRecords, Update};
    use ferrodns_dataplane::record::RType;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn index() -> EtcdRecords {
        EtcdRecords::new(Decoder::new(
            Layouts::default(),
            Zones::new(&[name("example.com.")], &[]),
        ))
    }

    fn record(line: &str) -> Record {
        let (owner, rest) = line.split_once(' ').unwrap_or_default();
        let (kind, data) = rest.split_once(' ').unwrap_or_default();
        let data = match kind {
            "A" => RData::A(data.parse().unwrap_or_else(|_| unreachable!())),
            "AAAA" => RData::Aaaa(data.parse().unwrap_or_else(|_| unreachable!())),
            "CNAME" => RData::Cname(name(data)),
            "NS" => RData::Ns(name(data)),
            "TXT" => RData::Txt(vec![data.as_bytes().to_vec()]),
            "MX" => RData::Mx {
                preference: 5,
                exchange: name(data),
            },
            "SRV" => RData::Srv {
                priority: 10,
                weight: 100,
                port: 443,
                target: name(data),
            },
            "PTR" => RData::Ptr(name(data)),
            _ => unreachable!("{kind}"),
        };
        Record::new(name(owner), 60, data)
    }

    /// Plans `changes`, applies the writes to `index` as the watch would.
    fn write(index: &mut EtcdRecords, changes: &[Change]) -> Result<Plan, WriteError> {
        let plan = plan("/containerdns/", index, changes)?;
        let mut update = Update::default();
        for (key, value) in &plan.writes {
            match value {
                Some(value) => index.put(key, value.as_bytes(), &mut update),
                None => index.delete(key, &mut update),
            }
        }
        assert!(update.errors.is_empty(), "{:?}", update.errors);
        Ok(plan)
    }

    fn served(index: &EtcdRecords, owner: &str) -> Vec<String> {
        let owner = name(owner);
        let (records, _) = index.name_records(&owner, owner == name("example.com."));
        let mut lines: Vec<String> = records.iter().map(ToString::to_string).collect();
        lines.sort();
        lines
    }

    #[test]
    fn written_records_read_back_as_written() {
        let mut index = index();
        let lines = [
            "web.example.com. A 10.0.0.1",
            "web.example.com. AAAA fd00::1",
            "www.example.com. CNAME web.example.com.",
            "_https._tcp.web.example.com. SRV web.example.com.",
            "example.com. NS ns1.example.com.",
            "example.com. MX mx.example.com.",
            "example.com. TXT v=spf1 -all",
            "web.example.com. TXT hello",
        ];
        let changes: Vec<Change> = lines.iter().map(|l| Change::Add(record(l))).collect();
        let plan = write(&mut index, &changes).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(plan.applied.written, lines.len());
        assert!(
            plan.writes
                .contains_key(&b"/containerdns/com/example/web/debebe8d/"[..])
                || plan
                    .writes
                    .keys()
                    .any(|k| k.starts_with(b"/containerdns/com/example/web/"))
        );
        assert_eq!(
            served(&index, "web.example.com."),
            [
                "web.example.com. 60 IN A 10.0.0.1",
                "web.example.com. 60 IN AAAA fd00::1",
                "web.example.com. 60 IN TXT \"hello\"",
            ]
        );
        assert_eq!(
            served(&index, "www.example.com."),
            ["www.example.com. 60 IN CNAME web.example.com."]
        );
        assert_eq!(
            served(&index, "example.com."),
            [
                "example.com. 60 IN MX 5 mx.example.com.",
                "example.com. 60 IN NS ns1.example.com.",
                "example.com. 60 IN TXT \"v=spf1 -all\"",
            ]
        );
        assert_eq!(
            served(&index, "_https._tcp.web.example.com."),
            ["_https._tcp.web.example.com. 60 IN SRV 10 100 443 web.example.com."]
        );
    }

    #[test]
    fn the_address_leaf_is_containerdns_s_hash() {
        // containerdns's API: fmt.Sprintf("%x", fnv32a("10.0.0.1")).
        assert_eq!(fnv_hex("10.0.0.1"), "debebe8d");
        let (key, value) = key_value(
            "/containerdns/",
            &name("example.com."),
            &record("Web.example.com. A 10.0.0.1"),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(key, "/containerdns/com/example/web/debebe8d/");
        assert_eq!(value, r#"{"host":"10.0.0.1","ttl":60,"type":"A"}"#);
    }

    #[test]
    fn deletes_and_replaces_find_keys_of_both_layouts() {
        let mut index = index();
        let mut update = Update::default();
        index.put(
            b"/skydns/com/example/web/4f6c1a2b",
            br#"{"host":"10.0.0.9","targetstrip":1}"#,
            &mut update,
        );
        index.put(
            b"/skydns/com/example/web/5e5e5e5e",
            br#"{"host":"10.0.0.8","text":"x","targetstrip":1}"#,
            &mut update,
        );
        write(
            &mut index,
            &[Change::Add(record("web.example.com. A 10.0.0.1"))],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let delete = |data: Option<&str>| Change::Delete {
            name: name("web.example.com."),
            rtype: Some(RType::A),
            data: data.map(|d| RData::A(d.parse().unwrap_or_else(|_| unreachable!()))),
        };
        let plan =
            write(&mut index, &[delete(Some("10.0.0.9"))]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(plan.applied.removed, 1);
        // A key that is A and TXT at once is not split.
        let err = write(&mut index, &[delete(None)]).err();
        assert!(
            matches!(err, Some(WriteError::Conflict { change: 0, .. })),
            "{err:?}"
        );
        let replace = Change::Replace {
            name: name("web.example.com."),
            rtype: RType::TXT,
            records: vec![],
        };
        assert!(matches!(
            write(&mut index, &[replace]),
            Err(WriteError::Conflict { .. })
        ));
        index.delete(b"/skydns/com/example/web/5e5e5e5e", &mut update);
        let replace = Change::Replace {
            name: name("web.example.com."),
            rtype: RType::A,
            records: vec![
                record("web.example.com. A 10.0.0.2"),
                record("web.example.com. A 10.0.0.3"),
            ],
        };
        write(&mut index, &[replace]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            served(&index, "web.example.com."),
            [
                "web.example.com. 60 IN A 10.0.0.2",
                "web.example.com. 60 IN A 10.0.0.3"
            ]
        );
    }

    #[test]
    fn bad_changes_are_refused_with_their_index() {
        let mut index = index();
        write(
            &mut index,
            &[Change::Add(record("web.example.com. A 10.0.0.1"))],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let cases: Vec<(Vec<Change>, &str)> = vec![
            (
                vec![Change::Add(record("web.other.org. A 10.0.0.1"))],
                "not inside any zone",
            ),
            (
                vec![
                    Change::Add(record("x.example.com. A 10.0.0.1")),
                    Change::Add(record("web.example.com. CNAME x.example.com.")),
                ],
                "cannot share",
            ),
            (
                vec![Change::Add(record("x.example.com. PTR web.example.com."))],
                "no place",
            ),
            (
                vec![Change::Add(record("x.example.com. NS ns.example.com."))],
                "zone apex",
            ),
            (
                vec![Change::Add(record("example.com. CNAME web.example.com."))],
                "zone apex",
            ),
        ];
        for (changes, words) in cases {
            let last = changes.len() - 1;
            match plan("/containerdns/", &index, &changes) {
                Err(
                    WriteError::Rejected { change, reason }
                    | WriteError::Conflict { change, reason },
                ) => {
                    assert_eq!(change, last, "{reason}");
                    assert!(reason.contains(words), "{reason}");
                }
                other => panic!("{changes:?} gave {other:?}"),
            }
        }
        let many: Vec<Change> = (0..200u32)
            .map(|i| {
                Change::Add(record(&format!(
                    "h{i}.example.com. A 10.1.{}.{}",
                    i >> 8,
                    i & 255
                )))
            })
            .collect();
        assert!(matches!(
            plan("/containerdns/", &index, &many),
            Err(WriteError::Rejected { change: 128, .. })
        ));
    }

    #[test]
    fn listing_pages_through_the_index() {
        let mut index = index();
        let changes: Vec<Change> = (0..5u8)
            .map(|i| Change::Add(record(&format!("h{i}.example.com. A 10.0.0.{i}"))))
            .chain([Change::Add(record("h1.example.com. TXT t"))])
            .collect();
        write(&mut index, &changes).unwrap_or_else(|e| unreachable!("{e}"));
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
