//! What etcd holds for ferrodns, kept up to date event by event (sans-IO).
//!
//! The source of truth is the key/value pairs themselves: [`EtcdRecords`] keeps
//! every key that contributes records or health, with its raw value, plus two
//! indexes derived from decoding it:
//!
//! - owner name → keys, in canonical DNS order, so a changed name can be rebuilt
//!   from just its keys, and the REST API can list a name or a subtree;
//! - the set of addresses marked DOWN.
//!
//! (Which names carry an address is the publisher's business: it knows every
//! source's records, see [`crate::pipeline`].)
//!
//! Records themselves are not kept: a name's records are decoded again from its
//! keys when it is rebuilt (a few microseconds per key), which keeps memory at
//! roughly the size of the raw keys and values.
//!
//! [`EtcdRecords::put`] and [`EtcdRecords::delete`] report in an [`Update`] the names
//! whose answers may have changed (the owners the key had before and has now),
//! the addresses whose health changed, and the keys that could not be decoded. A
//! key whose new value is bad contributes nothing until a good value replaces it;
//! the error names that key alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;

use super::assemble::assemble;
use super::decode::{DecodeError, Decoded, Decoder, Entry};

/// What a batch of events changed.
#[derive(Debug, Default)]
pub struct Update {
    /// Names whose records may differ now.
    pub names: BTreeSet<Name>,
    /// Addresses whose health changed.
    pub health: BTreeSet<IpAddr>,
    /// Keys skipped because their value could not be decoded.
    pub errors: Vec<DecodeError>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.health.is_empty() && self.errors.is_empty()
    }
}

/// What a key holds. Its owners and addresses are not stored: decoding the value
/// again gives them (the decoder is deterministic), which saves about a hundred
/// bytes per key at a million keys.
#[derive(Debug)]
enum KeyState {
    Records { value: Box<[u8]> },
    Health { value: Box<[u8]>, ip: IpAddr },
    Bad,
}

/// One backend address and its health status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTarget {
    pub ip: IpAddr,
    pub up: bool,
    pub ports: Vec<u16>,
    /// The checker that wrote the status, and when (a ferrodns checker's
    /// `checker` and `checked` fields); None for other writers.
    pub checker: Option<String>,
    pub checked: Option<String>,
}

/// The records and health etcd holds, indexed for name-by-name rebuilds.
#[derive(Debug, Default)]
pub struct EtcdRecords {
    decoder: Decoder,
    keys: HashMap<Arc<[u8]>, KeyState>,
    names: BTreeMap<Name, Vec<Arc<[u8]>>>,
    /// Health by address, from health keys: `true` when UP.
    health: HashMap<IpAddr, bool>,
    down: HashSet<IpAddr>,
    bad: usize,
}

impl EtcdRecords {
    pub fn new(decoder: Decoder) -> Self {
        EtcdRecords {
            decoder,
            ..EtcdRecords::default()
        }
    }

    /// Builds the records from a full listing of keys; returns the keys skipped.
    pub fn load(
        decoder: Decoder,
        pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> (Self, Vec<DecodeError>) {
        let mut records = EtcdRecords::new(decoder);
        let mut update = Update::default();
        let mut errors = Vec::new();
        for (key, value) in pairs {
            records.put(&key, &value, &mut update);
            update.names.clear();
            update.health.clear();
            errors.append(&mut update.errors);
        }
        (records, errors)
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Applies a put of `key` = `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8], update: &mut Update) {
        let decoded = self.decoder.decode(key, value);
        if let (
            Ok(Decoded::Health { ip, up }),
            Some(KeyState::Health {
                value: old,
                ip: was,
            }),
        ) = (&decoded, self.keys.get_mut(key))
            && ip == was
        {
            // A new status for the same address: report a change only if it is one.
            *old = value.into();
            let (ip, up) = (*ip, *up);
            self.set_health(ip, Some(up), update);
            return;
        }
        self.forget(key, update);
        match decoded {
            Ok(Decoded::Ignored) => {}
            Ok(Decoded::Records(entries)) if entries.is_empty() => {}
            Ok(Decoded::Records(entries)) => {
                let key: Arc<[u8]> = Arc::from(key);
                for owner in owners(&entries) {
                    self.names
                        .entry(owner.clone())
                        .or_default()
                        .push(Arc::clone(&key));
                    update.names.insert(owner.clone());
                }
                self.keys.insert(
                    key,
                    KeyState::Records {
                        value: value.into(),
                    },
                );
            }
            Ok(Decoded::Health { ip, up }) => {
                self.set_health(ip, Some(up), update);
                self.keys.insert(
                    Arc::from(key),
                    KeyState::Health {
                        value: value.into(),
                        ip,
                    },
                );
            }
            Err(error) => {
                self.keys.insert(Arc::from(key), KeyState::Bad);
                self.bad += 1;
                update.errors.push(error);
            }
        }
    }

    /// Applies a delete of `key`.
    pub fn delete(&mut self, key: &[u8], update: &mut Update) {
        self.forget(key, update);
    }

    /// Removes what `key` contributed, noting the names and health it touched.
    fn forget(&mut self, key: &[u8], update: &mut Update) {
        let Some(state) = self.keys.remove(key) else {
            return;
        };
        match state {
            KeyState::Records { value } => {
                let entries = match self.decoder.decode(key, &value) {
                    Ok(Decoded::Records(entries)) => entries,
                    _ => Vec::new(),
                };
                for owner in owners(&entries) {
                    if let Some(keys) = self.names.get_mut(owner) {
                        keys.retain(|k| **k != *key);
                        if keys.is_empty() {
                            self.names.remove(owner);
                        }
                    }
                    update.names.insert(owner.clone());
                }
            }
            KeyState::Health { ip, .. } => self.set_health(ip, None, update),
            KeyState::Bad => self.bad = self.bad.saturating_sub(1),
        }
    }

    fn set_health(&mut self, ip: IpAddr, up: Option<bool>, update: &mut Update) {
        let was_down = self.down.contains(&ip);
        match up {
            Some(up) => {
                self.health.insert(ip, up);
            }
            None => {
                self.health.remove(&ip);
            }
        }
        let is_down = up == Some(false);
        if is_down {
            self.down.insert(ip);
        } else {
            self.down.remove(&ip);
        }
        if was_down != is_down {
            update.health.insert(ip);
        }
    }

    /// The records `name` answers with now, and the keys dropped on the way
    /// (see [`assemble`]).
    pub fn name_records(&self, name: &Name, is_apex: bool) -> (Vec<Record>, Vec<DecodeError>) {
        let Some(keys) = self.names.get(name) else {
            return (Vec::new(), Vec::new());
        };
        let mut entries: Vec<(&[u8], Entry)> = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(KeyState::Records { value, .. }) = self.keys.get(key) else {
                continue;
            };
            if let Ok(Decoded::Records(decoded)) = self.decoder.decode(key, value) {
                entries.extend(
                    decoded
                        .into_iter()
                        .filter(|e| e.record.name == *name)
                        .map(|e| (&**key, e)),
                );
            }
        }
        assemble(name, is_apex, entries)
    }

    /// The keys that give `name` records, each with all it decodes to (records at
    /// other names included).
    pub fn name_keys(&self, name: &Name) -> Vec<(Vec<u8>, Vec<Entry>)> {
        let mut out = Vec::new();
        for key in self.names.get(name).into_iter().flatten() {
            if let Some(KeyState::Records { value, .. }) = self.keys.get(key)
                && let Ok(Decoded::Records(entries)) = self.decoder.decode(key, value)
            {
                out.push((key.to_vec(), entries));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The raw value of a key that gives records.
    pub fn value(&self, key: &[u8]) -> Option<&[u8]> {
        match self.keys.get(key)? {
            KeyState::Records { value } => Some(value),
            _ => None,
        }
    }

    /// Names from `from` on (inclusive), in canonical order.
    pub fn names_from(&self, from: &Name) -> impl Iterator<Item = &Name> {
        self.names.range(from..).map(|(name, _)| name)
    }

    /// Every name etcd gives records to, in canonical order (parents first).
    pub fn names(&self) -> impl Iterator<Item = &Name> {
        self.names.keys()
    }

    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// True when etcd gives `name` records.
    pub fn contains(&self, name: &Name) -> bool {
        self.names.contains_key(name)
    }

    /// Addresses marked DOWN (status other than `UP`).
    pub fn down(&self) -> &HashSet<IpAddr> {
        &self.down
    }

    /// Every address with a status, in address order: whether it is UP, and the
    /// ports its status value lists.
    pub fn health_targets(&self) -> Vec<HealthTarget> {
        let mut targets: BTreeMap<IpAddr, HealthTarget> = BTreeMap::new();
        for state in self.keys.values() {
            if let KeyState::Health { value, ip } = state {
                targets.insert(
                    *ip,
                    HealthTarget {
                        ip: *ip,
                        up: self.health.get(ip).copied().unwrap_or(false),
                        ports: super::health::ports(value),
                        checker: super::health::text_field(value, "checker"),
                        checked: super::health::text_field(value, "checked"),
                    },
                );
            }
        }
        targets.into_values().collect()
    }

    /// Addresses with a status, UP and DOWN counted apart.
    pub fn health_counts(&self) -> (usize, usize) {
        let up = self.health.values().filter(|up| **up).count();
        (up, self.health.len() - up)
    }

    /// Keys that contribute records or health.
    pub fn key_count(&self) -> usize {
        self.keys.len() - self.bad
    }

    /// Keys whose current value could not be decoded.
    pub fn bad_key_count(&self) -> usize {
        self.bad
    }

    /// Every key that contributes records or health, with its value: what a
    /// snapshot keeps.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.keys.iter().filter_map(|(key, state)| match state {
            KeyState::Records { value, .. } | KeyState::Health { value, .. } => {
                Some((&**key, &**value))
            }
            KeyState::Bad => None,
        })
    }
}

/// The distinct owners of a key's entries.
fn owners(entries: &[Entry]) -> Vec<&Name> {
    let mut owners: Vec<&Name> = Vec::with_capacity(1);
    for entry in entries {
        if !owners.contains(&&entry.record.name) {
            owners.push(&entry.record.name);
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layouts;
    use crate::etcd::decode::Zones;
    use ferrodns_dataplane::testkit::name;

    fn state() -> EtcdRecords {
        EtcdRecords::new(Decoder::new(
            Layouts::default(),
            Zones::new(&[name("example.com.")], &[]),
        ))
    }

    fn put(state: &mut EtcdRecords, key: &str, value: &str) -> Update {
        let mut update = Update::default();
        state.put(key.as_bytes(), value.as_bytes(), &mut update);
        update
    }

    fn answers(state: &EtcdRecords, owner: &str) -> Vec<String> {
        let (records, _) = state.name_records(&name(owner), false);
        records.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn puts_and_deletes_touch_only_their_names() {
        let mut state = state();
        let update = put(
            &mut state,
            "/containerdns/com/example/web/h1/",
            r#"{"type":"A","host":"10.0.0.1"}"#,
        );
        assert_eq!(
            update
                .names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["web.example.com."]
        );
        put(
            &mut state,
            "/skydns/com/example/web/4f6c1a2b",
            r#"{"host":"10.0.0.2","targetstrip":1}"#,
        );
        put(
            &mut state,
            "/skydns/com/example/a/b/c",
            r#"{"host":"10.0.0.3"}"#,
        );
        assert_eq!(
            answers(&state, "web.example.com."),
            ["10.0.0.1", "10.0.0.2"]
        );

        // Re-putting a key moves its records: the old owner and the new one change.
        let update = put(
            &mut state,
            "/skydns/com/example/a/b/c",
            r#"{"host":"10.0.0.3","targetstrip":1}"#,
        );
        assert_eq!(
            update
                .names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["b.a.example.com.", "c.b.a.example.com."]
        );
        let mut update = Update::default();
        state.delete(b"/containerdns/com/example/web/h1/", &mut update);
        assert_eq!(answers(&state, "web.example.com."), ["10.0.0.2"]);
        state.delete(b"/skydns/com/example/web/4f6c1a2b", &mut update);
        assert!(!state.contains(&name("web.example.com.")));
        assert_eq!(state.key_count(), 1);
    }

    #[test]
    fn a_bad_value_drops_that_key_alone() {
        let mut state = state();
        put(
            &mut state,
            "/containerdns/com/example/web/h1/",
            r#"{"type":"A","host":"10.0.0.1"}"#,
        );
        put(
            &mut state,
            "/containerdns/com/example/web/h2/",
            r#"{"type":"A","host":"10.0.0.2"}"#,
        );
        let update = put(
            &mut state,
            "/containerdns/com/example/web/h2/",
            r#"{"type":"A","host":"#,
        );
        assert_eq!(update.errors.len(), 1);
        assert!(update.names.contains(&name("web.example.com.")));
        assert_eq!(answers(&state, "web.example.com."), ["10.0.0.1"]);
        assert_eq!((state.key_count(), state.bad_key_count()), (1, 1));
        put(
            &mut state,
            "/containerdns/com/example/web/h2/",
            r#"{"type":"A","host":"10.0.0.2"}"#,
        );
        assert_eq!((state.key_count(), state.bad_key_count()), (2, 0));
        assert_eq!(state.pairs().count(), 2);
    }

    #[test]
    fn health_flips_name_the_addresses_and_their_names() {
        let mut state = state();
        put(
            &mut state,
            "/containerdns/com/example/web/h1/",
            r#"{"type":"A","host":"10.0.0.1"}"#,
        );
        put(
            &mut state,
            "/containerdns/com/example/api/h1/",
            r#"{"type":"A","host":"10.0.0.1"}"#,
        );
        let ip: IpAddr = "10.0.0.1".parse().unwrap_or_else(|_| unreachable!());
        let update = put(
            &mut state,
            "/containerdns/monitor/status/10.0.0.1",
            r#"{"status":"DOWN","ports":["80"]}"#,
        );
        assert_eq!(update.health.iter().collect::<Vec<_>>(), [&ip]);
        assert!(state.down().contains(&ip));
        assert_eq!(state.health_counts(), (0, 1));
        // Same status again: no change to report.
        let update = put(
            &mut state,
            "/containerdns/monitor/status/10.0.0.1",
            r#"{"status":"DOWN"}"#,
        );
        assert!(update.health.is_empty());
        let mut update = Update::default();
        state.delete(b"/containerdns/monitor/status/10.0.0.1", &mut update);
        assert!(update.health.contains(&ip) && state.down().is_empty());
    }
}
