//! A write to etcd, planned against what etcd itself holds (sans-IO).
//!
//! [`super::writer::EtcdWriter`] makes every write in three steps; this module is
//! the pure middle of them, so each rule is unit-tested without an etcd:
//!
//! 1. **What to read.** [`scopes`] gives the key ranges that can hold records of a
//!    name, in both layouts. For `web.example.com.` in the zone `example.com.`:
//!
//!    | range | what can be there |
//!    | --- | --- |
//!    | `/containerdns/com/example/web`, `/skydns/com/example/web` | a key spelling the name itself: a containerdns CNAME, the address of an SRV or MX target, a skydns key without leaf |
//!    | `/containerdns/com/example/web/…`, `/skydns/com/example/web/…` | keys below it: containerdns leaves, skydns leaves (any `targetstrip`), and at an apex `ns.dns`, `mail`, `txt`, `apex.dns` |
//!    | `/containerdns/com/example/dns/ns/web[/]` | for a child of the apex: a name server key, which gives it its address |
//!    | keys the local index lists for the name | a key spelt otherwise (upper case) |
//!
//!    The writer reads them all at one revision: an [`EtcdState`].
//! 2. **What to write.** [`plan`] decodes that state with the layouts' decoder,
//!    asks the [rules](crate::records::rules) what each change does at its name,
//!    and maps the records that go to the keys that hold them and the records
//!    that come to new containerdns keys.
//! 3. **On what condition.** The plan's [`Guard`]s, sent as the transaction's
//!    compares, say what must still hold when etcd commits: each key it deletes
//!    or overwrites still has the revision it was read at (so "every key it meant
//!    to change changed"), and no key in the ranges read was created or changed
//!    since the read. If a compare fails, another writer got there first: the
//!    writer reads again and plans again against the new state.
//!
//! So two writes that race for one name cannot both land on the same reading:
//! the second one's compares fail, and its new plan sees the first one's records
//! (a CNAME where an address now is is refused as a conflict). etcd allows 128
//! compares per transaction (`--max-txn-ops`); a batch that reads more ranges has
//! neighbouring ranges merged into wider compares, the ones that share the
//! longest key prefix first. That stays correct — a wider range only checks more
//! keys — and at worst a write elsewhere in the range makes this one retry.

use std::collections::BTreeMap;

use etcd_client::{Compare, CompareOp};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};
use serde_json::json;

use super::decode::{Decoded, Decoder, Entry, txt_strings};
use super::key::{name_path, path_name, prefix_end};
use super::writer::MAX_TXN_OPS;
use crate::records::rules::{self, RuleError};
use crate::records::{Applied, Change, WriteError};

/// A range of etcd keys, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Scope {
    pub(crate) start: Vec<u8>,
    pub(crate) end: Vec<u8>,
}

impl Scope {
    /// Exactly `key`.
    fn key(key: Vec<u8>) -> Scope {
        let mut end = key.clone();
        end.push(0);
        Scope { start: key, end }
    }

    /// Every key starting with `prefix`.
    fn prefix(prefix: Vec<u8>) -> Scope {
        let end = prefix_end(&prefix);
        Scope { start: prefix, end }
    }

    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && key < self.end.as_slice()
    }
}

/// The key ranges that can give `name` records (see the module docs), `known`
/// being the keys this appliance's index says give it records. None when `name`
/// lies outside every etcd zone.
pub(crate) fn scopes(decoder: &Decoder, name: &Name, known: &[Vec<u8>]) -> Vec<Scope> {
    let Some(apex) = decoder.zones.etcd_zone(name) else {
        return Vec::new();
    };
    let layouts = &decoder.layouts;
    let mut scopes = Vec::new();
    for prefix in [&layouts.containerdns, &layouts.skydns]
        .into_iter()
        .flatten()
    {
        let path = name_path(prefix, name);
        scopes.push(Scope::prefix(format!("{path}/").into_bytes()));
        scopes.push(Scope::key(path.into_bytes()));
    }
    if let (Some(prefix), Some(label)) = (&layouts.containerdns, name.labels().next())
        && name.parent().as_ref() == Some(apex)
    {
        let label = String::from_utf8_lossy(label).to_ascii_lowercase();
        let server = format!("{}/dns/ns/{label}", name_path(prefix, apex));
        scopes.push(Scope::key(format!("{server}/").into_bytes()));
        scopes.push(Scope::key(server.into_bytes()));
    }
    for key in known {
        if !scopes.iter().any(|scope| scope.contains(key)) {
            scopes.push(Scope::key(key.clone()));
        }
    }
    scopes
}

/// `scopes` sorted, with overlapping and touching ranges joined: what to read.
pub(crate) fn merged(mut scopes: Vec<Scope>) -> Vec<Scope> {
    scopes.sort();
    let mut out: Vec<Scope> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        match out.last_mut() {
            Some(last) if scope.start <= last.end => {
                if scope.end > last.end {
                    last.end = scope.end;
                }
            }
            _ => out.push(scope),
        }
    }
    out
}

/// What etcd held in the ranges read for a write, at one revision, decoded.
#[derive(Debug, Default)]
pub(crate) struct EtcdState {
    revision: i64,
    /// The ranges read, merged.
    scopes: Vec<Scope>,
    keys: BTreeMap<Vec<u8>, Held>,
    /// Owner name → the keys that give it records.
    owners: BTreeMap<Name, Vec<Vec<u8>>>,
}

/// One key read: its revision and the records it gives.
#[derive(Debug)]
struct Held {
    mod_revision: i64,
    entries: Vec<Entry>,
}

impl EtcdState {
    /// `kvs` are `(key, value, mod revision)` of every key etcd held in `scopes`
    /// at `revision`. A key whose value cannot be decoded gives no records, as
    /// in the table.
    pub(crate) fn new(
        decoder: &Decoder,
        revision: i64,
        scopes: Vec<Scope>,
        kvs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>, i64)>,
    ) -> EtcdState {
        let mut state = EtcdState {
            revision,
            scopes: merged(scopes),
            ..EtcdState::default()
        };
        for (key, value, mod_revision) in kvs {
            let entries = match decoder.decode(&key, &value) {
                Ok(Decoded::Records(entries)) => entries,
                _ => Vec::new(),
            };
            for entry in &entries {
                let keys = state.owners.entry(entry.record.name.clone()).or_default();
                if keys.last() != Some(&key) {
                    keys.push(key.clone());
                }
            }
            let held = Held {
                mod_revision,
                entries,
            };
            state.keys.insert(key, held);
        }
        state
    }
}

/// A condition the transaction commits under (one etcd compare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The key still has the revision it was read at.
    Unchanged { key: Vec<u8>, mod_revision: i64 },
    /// No key in the range was created or changed after `revision`.
    Quiet { scope: Scope, revision: i64 },
}

impl Guard {
    /// The etcd compare that checks it.
    pub(crate) fn compare(&self) -> Compare {
        match self {
            Guard::Unchanged { key, mod_revision } => {
                Compare::mod_revision(key.clone(), CompareOp::Equal, *mod_revision)
            }
            Guard::Quiet { scope, revision } => {
                Compare::mod_revision(scope.start.clone(), CompareOp::Less, revision + 1)
                    .with_range(scope.end.clone())
            }
        }
    }
}

/// The keys a batch writes (`None`: delete), the conditions it is written
/// under, and what it amounts to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) writes: BTreeMap<Vec<u8>, Option<String>>,
    pub(crate) guards: Vec<Guard>,
    pub(crate) applied: Applied,
}

/// Turns a batch into key writes against `state`: the
/// [rules](crate::records::rules) decide what each change does at its name, and
/// this maps the records that go to the keys that hold them and the records that
/// come to new containerdns keys under `prefix`. `state` must hold every range
/// [`scopes`] gives for the batch's names.
pub(crate) fn plan(
    prefix: &str,
    decoder: &Decoder,
    state: &EtcdState,
    changes: &[Change],
) -> Result<Plan, WriteError> {
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
        let current = current_keys(state, decoder, &plan.writes, name);
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
    plan.guards = guards(state, &plan.writes).ok_or_else(|| WriteError::Rejected {
        change: changes.len().saturating_sub(1),
        reason: format!(
            "the batch changes {} existing etcd keys, more than one etcd transaction can \
             check; split it",
            plan.writes.len()
        ),
    })?;
    Ok(plan)
}

/// The conditions of a plan writing `writes` on `state` (see the module docs),
/// at most [`MAX_TXN_OPS`]; None when they cannot fit.
fn guards(state: &EtcdState, writes: &BTreeMap<Vec<u8>, Option<String>>) -> Option<Vec<Guard>> {
    let mut guards: Vec<Guard> = writes
        .keys()
        .filter_map(|key| {
            let held = state.keys.get(key)?;
            Some(Guard::Unchanged {
                key: key.clone(),
                mod_revision: held.mod_revision,
            })
        })
        .collect();
    let room = MAX_TXN_OPS
        .checked_sub(guards.len())
        .filter(|room| *room > 0)?;
    guards.extend(
        coarsened(state.scopes.clone(), room)
            .into_iter()
            .map(|scope| Guard::Quiet {
                scope,
                revision: state.revision,
            }),
    );
    Some(guards)
}

/// Sorted, disjoint `scopes` reduced to at most `room` ranges that cover them,
/// joining first the neighbours whose keys share the longest prefix (two names
/// of one parent before two zones, two zones before two layouts).
fn coarsened(mut scopes: Vec<Scope>, room: usize) -> Vec<Scope> {
    let shared = |a: &Scope, b: &Scope| {
        a.end
            .iter()
            .zip(&b.start)
            .take_while(|(x, y)| x == y)
            .count()
    };
    while scopes.len() > room.max(1) {
        let Some(at) = (0..scopes.len() - 1)
            .max_by_key(|&i| (shared(&scopes[i], &scopes[i + 1]), std::cmp::Reverse(i)))
        else {
            break;
        };
        let next = scopes.remove(at + 1);
        scopes[at].end = next.end;
    }
    scopes
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
    state: &EtcdState,
    decoder: &Decoder,
    planned: &BTreeMap<Vec<u8>, Option<String>>,
    name: &Name,
) -> Vec<(Vec<u8>, Vec<Entry>)> {
    let at_name = |entries: &[Entry]| -> Vec<Entry> {
        entries
            .iter()
            .filter(|e| e.record.name == *name)
            .cloned()
            .collect()
    };
    let mut keys: BTreeMap<Vec<u8>, Vec<Entry>> = BTreeMap::new();
    for key in state.owners.get(name).into_iter().flatten() {
        if let Some(held) = state.keys.get(key)
            && !planned.contains_key(key)
        {
            keys.insert(key.clone(), at_name(&held.entries));
        }
    }
    for (key, value) in planned {
        if let Some(value) = value
            && let Ok(Decoded::Records(entries)) = decoder.decode(key, value.as_bytes())
        {
            keys.insert(key.clone(), at_name(&entries));
        }
    }
    keys.into_iter()
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Layouts;
    use crate::etcd::decode::Zones;
    use crate::etcd::records::EtcdRecords;
    use ferrodns_dataplane::record::RType;
    use ferrodns_dataplane::testkit::name;

    const PREFIX: &str = "/containerdns/";
    /// An address of `web.example.com.` as external-dns writes it.
    const WEB_SKYDNS: (&str, &str) = (
        "/skydns/com/example/web/4f6c1a2b",
        r#"{"host":"10.0.0.9","targetstrip":1}"#,
    );

    /// etcd as the writer sees it: keys with the revision they last changed at,
    /// transactions that commit only when every compare holds. Serves the zone
    /// `example.com.` in both layouts.
    pub(crate) struct FakeEtcd {
        pub(crate) decoder: Decoder,
        revision: i64,
        kvs: BTreeMap<Vec<u8>, (Vec<u8>, i64)>,
    }

    impl FakeEtcd {
        pub(crate) fn new() -> FakeEtcd {
            FakeEtcd {
                decoder: Decoder::new(Layouts::default(), Zones::new(&[name("example.com.")], &[])),
                revision: 1,
                kvs: BTreeMap::new(),
            }
        }

        /// etcd holding `pairs`, written by other tools one by one.
        pub(crate) fn holding(pairs: &[(&str, &str)]) -> FakeEtcd {
            let mut etcd = FakeEtcd::new();
            for (key, value) in pairs {
                etcd.put(key.as_bytes(), value.as_bytes());
            }
            etcd
        }

        /// A write by another tool.
        pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) {
            self.revision += 1;
            self.kvs
                .insert(key.to_vec(), (value.to_vec(), self.revision));
        }

        pub(crate) fn delete(&mut self, key: &[u8]) {
            self.revision += 1;
            self.kvs.remove(key);
        }

        /// What the writer reads for `changes`: every key of their names' scopes.
        pub(crate) fn read(&self, changes: &[Change]) -> EtcdState {
            let scopes: Vec<Scope> = changes
                .iter()
                .flat_map(|change| scopes(&self.decoder, change.name(), &[]))
                .collect();
            let kvs: Vec<(Vec<u8>, Vec<u8>, i64)> = self
                .kvs
                .iter()
                .filter(|(key, _)| scopes.iter().any(|s| s.contains(key)))
                .map(|(key, (value, revision))| (key.clone(), value.clone(), *revision))
                .collect();
            EtcdState::new(&self.decoder, self.revision, scopes, kvs)
        }

        pub(crate) fn plan(&self, changes: &[Change]) -> Result<Plan, WriteError> {
            plan(PREFIX, &self.decoder, &self.read(changes), changes)
        }

        /// etcd's verdict on one compare.
        fn holds(&self, guard: &Guard) -> bool {
            match guard {
                Guard::Unchanged { key, mod_revision } => {
                    self.kvs.get(key).map_or(0, |(_, r)| *r) == *mod_revision
                }
                Guard::Quiet { scope, revision } => self
                    .kvs
                    .iter()
                    .filter(|(key, _)| scope.contains(key))
                    .all(|(_, (_, r))| *r <= *revision),
            }
        }

        /// Commits `plan` as one transaction; false when a compare failed.
        pub(crate) fn commit(&mut self, plan: &Plan) -> bool {
            if !plan.guards.iter().all(|guard| self.holds(guard)) {
                return false;
            }
            self.revision += 1;
            for (key, value) in &plan.writes {
                match value {
                    Some(value) => {
                        self.kvs
                            .insert(key.clone(), (value.clone().into_bytes(), self.revision));
                    }
                    None => {
                        self.kvs.remove(key);
                    }
                }
            }
            true
        }

        /// What an appliance's index holds once the watch has caught up.
        pub(crate) fn index(&self) -> EtcdRecords {
            let pairs = self
                .kvs
                .iter()
                .map(|(key, (value, _))| (key.clone(), value.clone()));
            EtcdRecords::load(self.decoder.clone(), pairs).0
        }
    }

    pub(crate) fn record(line: &str) -> Record {
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

    /// Plans `changes` against what etcd holds and commits them.
    pub(crate) fn write(etcd: &mut FakeEtcd, changes: &[Change]) -> Result<Plan, WriteError> {
        let plan = etcd.plan(changes)?;
        assert!(etcd.commit(&plan), "nothing else wrote in between");
        Ok(plan)
    }

    fn served(etcd: &FakeEtcd, owner: &str) -> Vec<String> {
        let owner = name(owner);
        let (records, _) = etcd
            .index()
            .name_records(&owner, owner == name("example.com."));
        let mut lines: Vec<String> = records.iter().map(ToString::to_string).collect();
        lines.sort();
        lines
    }

    #[test]
    fn every_key_that_gives_a_name_records_lies_in_its_scopes() {
        let decoder = FakeEtcd::new().decoder;
        // One key for every way the layouts give a name records.
        let keys: [(&str, &str); 12] = [
            (
                "/containerdns/com/example/web/h1/",
                r#"{"type":"A","host":"10.0.0.1"}"#,
            ),
            (
                "/containerdns/com/example/www/",
                r#"{"type":"CNAME","host":"web.example.com."}"#,
            ),
            (
                "/containerdns/com/example/www",
                r#"{"type":"CNAME","host":"web.example.com."}"#,
            ),
            (
                "/containerdns/com/example/web/_tcp/_http/s1/",
                r#"{"type":"SRV","host":"10.0.0.5","port":80}"#,
            ),
            (
                "/containerdns/com/example/dns/ns/ns1/",
                r#"{"type":"NS","host":"10.0.0.53"}"#,
            ),
            (
                "/containerdns/com/example/mail/m1/",
                r#"{"type":"MX","host":"10.0.0.25"}"#,
            ),
            (
                "/containerdns/com/example/txt/t1/",
                r#"{"type":"TXT","text":"v=spf1 -all"}"#,
            ),
            WEB_SKYDNS,
            (
                "/skydns/com/example/a/b/c",
                r#"{"host":"10.0.0.3","targetstrip":2}"#,
            ),
            (
                "/skydns/com/example/db",
                r#"{"host":"10.0.0.4","text":"x","mail":true}"#,
            ),
            ("/skydns/com/example/dns/apex/x1", r#"{"host":"10.0.0.6"}"#),
            ("/skydns/com/example/dns/ns/ns2", r#"{"host":"10.0.0.54"}"#),
        ];
        let mut owners = 0;
        for (key, value) in keys {
            let Ok(Decoded::Records(entries)) = decoder.decode(key.as_bytes(), value.as_bytes())
            else {
                panic!("{key} does not decode");
            };
            for entry in entries {
                let owner = &entry.record.name;
                let scopes = scopes(&decoder, owner, &[]);
                assert!(
                    scopes.iter().any(|s| s.contains(key.as_bytes())),
                    "{key} gives {owner} records but lies outside its scopes"
                );
                owners += 1;
            }
        }
        assert!(
            owners > keys.len(),
            "keys that give several names were tried"
        );
        // A neighbour's keys are not read: they cannot give the name records.
        let web = scopes(&decoder, &name("web.example.com."), &[]);
        for other in [
            "/containerdns/com/example/web-2/h1/",
            "/containerdns/com/example/webx/",
            "/containerdns/com/example/h1/",
            "/skydns/com/example/we",
        ] {
            assert!(
                !web.iter().any(|s| s.contains(other.as_bytes())),
                "{other} is read for web.example.com."
            );
        }
        // A key the index knows under another spelling is read too.
        let upper = b"/skydns/com/Example/web/1".to_vec();
        let known = scopes(
            &decoder,
            &name("web.example.com."),
            std::slice::from_ref(&upper),
        );
        assert!(known.iter().any(|s| s.contains(&upper)));
    }

    #[test]
    fn the_compares_cover_every_key_read_and_every_key_changed() {
        let etcd = FakeEtcd::holding(&[
            (WEB_SKYDNS.0, WEB_SKYDNS.1),
            (
                "/containerdns/com/example/web/debebe8d/",
                r#"{"type":"A","host":"10.0.0.1"}"#,
            ),
            (
                "/containerdns/com/example/web/_tcp/_http/s1/",
                r#"{"type":"SRV","host":"web.example.com.","port":80}"#,
            ),
            (
                "/containerdns/com/example/other/h1/",
                r#"{"type":"A","host":"10.0.0.7"}"#,
            ),
        ]);
        let changes = [Change::Replace {
            name: name("web.example.com."),
            rtype: RType::A,
            records: vec![record("web.example.com. A 10.0.0.2")],
        }];
        let state = etcd.read(&changes);
        let plan =
            plan(PREFIX, &etcd.decoder, &state, &changes).unwrap_or_else(|e| unreachable!("{e}"));
        let quiet = |key: &[u8]| {
            plan.guards.iter().any(|guard| {
                matches!(guard, Guard::Quiet { scope, revision }
                    if scope.contains(key) && *revision == state.revision)
            })
        };
        assert_eq!(state.keys.len(), 3, "web's keys, not other's");
        for key in state.keys.keys() {
            assert!(
                quiet(key),
                "{:?} read but not compared",
                String::from_utf8_lossy(key)
            );
        }
        for (key, value) in &plan.writes {
            let read = state.keys.get(key);
            match read {
                Some(held) => assert!(
                    plan.guards.contains(&Guard::Unchanged {
                        key: key.clone(),
                        mod_revision: held.mod_revision,
                    }),
                    "{:?} changed without a compare on its revision",
                    String::from_utf8_lossy(key)
                ),
                None => assert!(value.is_some() && quiet(key), "a new key appears unchecked"),
            }
        }
        assert_eq!(plan.writes.len(), 3, "two addresses go, one comes");
        assert!(!quiet(b"/containerdns/com/example/other/h1/"));
    }

    #[test]
    fn racing_writes_to_one_name_cannot_both_land() {
        let mut etcd = FakeEtcd::new();
        let cname = [Change::Add(record(
            "race.example.com. CNAME web.example.com.",
        ))];
        let address = [Change::Add(record("race.example.com. A 10.0.0.1"))];
        // Both read the empty name; the address commits first.
        let (first, second) = (
            etcd.plan(&address).unwrap_or_else(|e| unreachable!("{e}")),
            etcd.plan(&cname).unwrap_or_else(|e| unreachable!("{e}")),
        );
        assert!(etcd.commit(&first));
        assert!(
            !etcd.commit(&second),
            "the CNAME was planned on a stale read"
        );
        // Read again, the CNAME is a conflict.
        assert!(matches!(
            etcd.plan(&cname),
            Err(WriteError::Conflict { .. })
        ));

        // Two replaces of one RRset: the second one's read is stale.
        let replace = |last: u8| {
            [Change::Replace {
                name: name("race.example.com."),
                rtype: RType::A,
                records: vec![record(&format!("race.example.com. A 10.0.0.{last}"))],
            }]
        };
        let (first, second) = (
            etcd.plan(&replace(2))
                .unwrap_or_else(|e| unreachable!("{e}")),
            etcd.plan(&replace(3))
                .unwrap_or_else(|e| unreachable!("{e}")),
        );
        assert!(etcd.commit(&first));
        assert!(!etcd.commit(&second));
        write(&mut etcd, &replace(3)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            served(&etcd, "race.example.com."),
            ["race.example.com. 60 IN A 10.0.0.3"]
        );

        // A delete whose key someone else deleted first does not count it.
        let delete = [Change::Delete {
            name: name("race.example.com."),
            rtype: None,
            data: None,
        }];
        let late = etcd.plan(&delete).unwrap_or_else(|e| unreachable!("{e}"));
        let key = late.writes.keys().next().cloned().unwrap_or_default();
        etcd.delete(&key);
        assert!(!etcd.commit(&late));
        let again = etcd.plan(&delete).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((again.writes.len(), again.applied.removed), (0, 0));
    }

    #[test]
    fn a_batch_over_many_names_fits_its_compares_in_one_transaction() {
        let mut etcd = FakeEtcd::new();
        let changes: Vec<Change> = (0..120u8)
            .map(|i| Change::Add(record(&format!("h{i}.example.com. A 10.2.0.{i}"))))
            .collect();
        let state = etcd.read(&changes);
        let plan =
            plan(PREFIX, &etcd.decoder, &state, &changes).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(plan.guards.len() <= MAX_TXN_OPS, "{}", plan.guards.len());
        let covered = |key: &[u8]| {
            plan.guards
                .iter()
                .any(|g| matches!(g, Guard::Quiet { scope, .. } if scope.contains(key)))
        };
        for scope in &state.scopes {
            assert!(covered(&scope.start), "{scope:?} is not compared");
        }
        // Ranges were joined within a layout, never across other users' keys.
        assert!(!covered(b"/registry/pods/default/web"));
        assert!(etcd.commit(&plan));
    }

    #[test]
    fn written_records_read_back_as_written() {
        let mut etcd = FakeEtcd::new();
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
        let plan = write(&mut etcd, &changes).unwrap_or_else(|e| unreachable!("{e}"));
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
            served(&etcd, "web.example.com."),
            [
                "web.example.com. 60 IN A 10.0.0.1",
                "web.example.com. 60 IN AAAA fd00::1",
                "web.example.com. 60 IN TXT \"hello\"",
            ]
        );
        assert_eq!(
            served(&etcd, "www.example.com."),
            ["www.example.com. 60 IN CNAME web.example.com."]
        );
        assert_eq!(
            served(&etcd, "example.com."),
            [
                "example.com. 60 IN MX 5 mx.example.com.",
                "example.com. 60 IN NS ns1.example.com.",
                "example.com. 60 IN TXT \"v=spf1 -all\"",
            ]
        );
        assert_eq!(
            served(&etcd, "_https._tcp.web.example.com."),
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
        let mut etcd = FakeEtcd::holding(&[
            (WEB_SKYDNS.0, WEB_SKYDNS.1),
            (
                "/skydns/com/example/web/5e5e5e5e",
                r#"{"host":"10.0.0.8","text":"x","targetstrip":1}"#,
            ),
        ]);
        write(
            &mut etcd,
            &[Change::Add(record("web.example.com. A 10.0.0.1"))],
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let delete = |data: Option<&str>| Change::Delete {
            name: name("web.example.com."),
            rtype: Some(RType::A),
            data: data.map(|d| RData::A(d.parse().unwrap_or_else(|_| unreachable!()))),
        };
        let plan =
            write(&mut etcd, &[delete(Some("10.0.0.9"))]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(plan.applied.removed, 1);
        // A key that is A and TXT at once is not split.
        let err = write(&mut etcd, &[delete(None)]).err();
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
            write(&mut etcd, &[replace]),
            Err(WriteError::Conflict { .. })
        ));
        etcd.delete(b"/skydns/com/example/web/5e5e5e5e");
        let replace = Change::Replace {
            name: name("web.example.com."),
            rtype: RType::A,
            records: vec![
                record("web.example.com. A 10.0.0.2"),
                record("web.example.com. A 10.0.0.3"),
            ],
        };
        write(&mut etcd, &[replace]).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            served(&etcd, "web.example.com."),
            [
                "web.example.com. 60 IN A 10.0.0.2",
                "web.example.com. 60 IN A 10.0.0.3"
            ]
        );
    }

    #[test]
    fn bad_changes_are_refused_with_their_index() {
        let mut etcd = FakeEtcd::new();
        write(
            &mut etcd,
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
            match etcd.plan(&changes) {
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
            etcd.plan(&many),
            Err(WriteError::Rejected { change: 128, .. })
        ));
    }
}
