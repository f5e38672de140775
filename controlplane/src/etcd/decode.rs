//! The sans-IO decoder: one etcd key and its value in, the records it contributes
//! (or a health status, or a clear error about that key alone) out.
//!
//! The decoder knows the key prefixes of the layouts ([`Layouts`]) and the zones
//! ferrodns serves ([`Zones`]): a record whose owner lies outside every zone fed by
//! etcd is dropped (etcd is often shared with other users), and the special names
//! of both layouts (`ns.dns.<zone>`, `mail.<zone>`, `txt.<zone>`, `apex.dns.<zone>`)
//! are mapped to the zone apex. It never touches etcd, the table or the clock, so
//! every rule is unit-tested with the exact bytes containerdns and external-dns
//! write.

use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};

use super::{containerdns, health, skydns};
use crate::config::Layouts;

// The layouts are configuration; which prefixes that means reading is etcd's
// business.
impl Layouts {
    /// The prefixes to read and watch: every configured one, except those inside
    /// another (the health prefix lies inside the containerdns one by default).
    pub fn watched_prefixes(&self) -> Vec<String> {
        let all: Vec<&String> = [&self.containerdns, &self.skydns, &self.health]
            .into_iter()
            .flatten()
            .collect();
        let mut out: Vec<String> = Vec::new();
        for prefix in &all {
            let covered = all
                .iter()
                .any(|other| other != prefix && prefix.starts_with(other.as_str()));
            if !covered && !out.contains(prefix) {
                out.push((*prefix).clone());
            }
        }
        out
    }
}

/// The zones of the table, and which of them etcd feeds.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    /// Longest apex first, so the first match is the closest enclosing zone.
    apexes: Vec<(Name, bool)>,
}

impl Zones {
    /// `etcd` are the zones whose records come from etcd, `others` the zones of
    /// other sources (a record inside one of those is not etcd's, even when an
    /// etcd zone encloses it).
    pub fn new(etcd: &[Name], others: &[Name]) -> Self {
        let mut apexes: Vec<(Name, bool)> = etcd
            .iter()
            .map(|n| (n.clone(), true))
            .chain(others.iter().map(|n| (n.clone(), false)))
            .collect();
        apexes.sort_by_key(|(apex, _)| std::cmp::Reverse(apex.label_count()));
        Zones { apexes }
    }

    /// The etcd zone `name` belongs to, if any.
    pub fn etcd_zone(&self, name: &Name) -> Option<&Name> {
        let (apex, etcd) = self
            .apexes
            .iter()
            .find(|(apex, _)| name.is_subdomain_of(apex))?;
        etcd.then_some(apex)
    }

    /// True when `name` is the apex of an etcd zone.
    pub fn is_etcd_apex(&self, name: &Name) -> bool {
        self.apexes.iter().any(|(apex, etcd)| *etcd && apex == name)
    }

    /// The apexes of the etcd zones.
    pub fn etcd_apexes(&self) -> impl Iterator<Item = &Name> {
        self.apexes
            .iter()
            .filter(|(_, etcd)| *etcd)
            .map(|(apex, _)| apex)
    }
}

/// One record an etcd key contributes, with what name-level assembly needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub record: Record,
    /// skydns `group`: among entries of one name, the shortest keys' group selects
    /// which entries answer together (CoreDNS's rule). `None` when not set.
    pub group: Option<String>,
    /// Labels in the key's name, for that rule.
    pub depth: usize,
    /// An SRV whose weight is still as written, to be normalised per priority
    /// among the name's SRV entries (0 counts as 100, as both peers do).
    pub srv_weight: Option<u16>,
}

impl Entry {
    pub(crate) fn new(record: Record, depth: usize) -> Self {
        let srv_weight = match record.data {
            RData::Srv { weight, .. } => Some(weight),
            _ => None,
        };
        Entry {
            record,
            group: None,
            depth,
            srv_weight,
        }
    }
}

/// What one key means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Records, already restricted to etcd zones (possibly none).
    Records(Vec<Entry>),
    /// A backend's health: `up` only when the status is exactly `UP`.
    Health { ip: IpAddr, up: bool },
    /// Outside every configured prefix.
    Ignored,
}

/// Why a key's value was skipped. Only that key is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("etcd key {key}: {reason}")]
pub struct DecodeError {
    pub key: String,
    pub reason: String,
}

/// Decodes keys of every configured layout.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    pub layouts: Layouts,
    pub zones: Zones,
}

impl Decoder {
    pub fn new(layouts: Layouts, zones: Zones) -> Self {
        Decoder { layouts, zones }
    }

    /// What `key` holding `value` contributes.
    pub fn decode(&self, key: &[u8], value: &[u8]) -> Result<Decoded, DecodeError> {
        let error = |reason: String| DecodeError {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        if let Some(path) = strip(key, &self.layouts.health) {
            let (ip, up) = health::decode(path, value).map_err(error)?;
            return Ok(Decoded::Health { ip, up });
        }
        let entries = if let Some(path) = strip(key, &self.layouts.containerdns) {
            containerdns::decode(path, value, &self.zones).map_err(error)?
        } else if let Some(path) = strip(key, &self.layouts.skydns) {
            skydns::decode(path, value, &self.zones).map_err(error)?
        } else {
            return Ok(Decoded::Ignored);
        };
        Ok(Decoded::Records(
            entries
                .into_iter()
                .filter(|e| self.zones.etcd_zone(&e.record.name).is_some())
                .collect(),
        ))
    }

    /// True when a key lies under the health prefix (its deletion changes health,
    /// not records).
    pub fn health_ip(&self, key: &[u8]) -> Option<IpAddr> {
        health::ip_of(strip(key, &self.layouts.health)?).ok()
    }
}

/// What the layouts' tests ask of a decoder.
#[cfg(test)]
impl Decoder {
    /// The entries `key` holding `value` gives; fails naming the key otherwise.
    pub(crate) fn entries(&self, key: &str, value: &str) -> Vec<Entry> {
        match self.decode(key.as_bytes(), value.as_bytes()) {
            Ok(Decoded::Records(entries)) => entries,
            other => panic!("{key}: {other:?}"),
        }
    }

    /// Why `key` holding `value` is refused; fails when it is not.
    pub(crate) fn refusal(&self, key: &str, value: &str) -> String {
        match self.decode(key.as_bytes(), value.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("{key} accepted: {other:?}"),
        }
    }
}

fn strip<'a>(key: &'a [u8], prefix: &Option<String>) -> Option<&'a [u8]> {
    key.strip_prefix(prefix.as_ref()?.as_bytes())
}

/// TXT text as character-strings of at most 255 octets (CoreDNS's split).
pub(crate) fn txt_strings(text: &str) -> Vec<Vec<u8>> {
    text.as_bytes().chunks(255).map(<[u8]>::to_vec).collect()
}

/// A host that is a name: absolute, with the usual presentation rules.
pub(crate) fn host_name(host: &str) -> Result<Name, String> {
    Name::from_ascii(host).map_err(|e| format!("host {host:?} is not a domain name: {e}"))
}
