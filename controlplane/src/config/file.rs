//! The configuration file's schema: one set of structs, read from TOML and written
//! back by `check-config`.
//!
//! Reading, every value keeps its span (`Spanned`), so that a value rejected later
//! by the merge ([`super::merge`]) can be reported at its line and column. Writing,
//! [`super::render`] fills the same structs from a validated configuration, with
//! empty spans; a span-carrying value is written as the bare value, and a key that
//! is `None` is left out.
//!
//! Serde's derived messages show the struct names (`expected struct RawServer`)
//! and the field order (`expected one of ...`), so both are part of the error text
//! an operator sees; the sections are written in documentation order, which puts
//! `forward` before `api` (see the `Serialize` impl of [`RawConfig`]).

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

/// A string as written, with its place in the file.
pub(super) type Text = Spanned<String>;
/// An array of strings as written: the array's place and each string's.
pub(super) type TextList = Spanned<Vec<Text>>;

/// A value that did not come from a file (rendered from a validated configuration).
pub(super) fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// Unspanned strings of each item, as a file array.
pub(super) fn text_list<T: ToString>(items: &[T]) -> TextList {
    unspanned(
        items
            .iter()
            .map(|item| unspanned(item.to_string()))
            .collect(),
    )
}

/// A number from the file without its span.
pub(super) fn value_of<T: Copy>(value: &Option<Spanned<T>>) -> Option<T> {
    value.as_ref().map(|value| *value.get_ref())
}

/// Whether a section has no key set, so that it is left out of the output.
fn is_empty<T: Default + PartialEq>(section: &T) -> bool {
    *section == T::default()
}

/// The whole file.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) tcp: RawTcp,
    #[serde(default)]
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) chaos: RawChaos,
    #[serde(default)]
    pub(super) log: RawLog,
    pub(super) etcd: Option<Spanned<RawEtcd>>,
    pub(super) pdns_remote: Option<Spanned<RawPdnsRemote>>,
    #[serde(default)]
    pub(super) api: RawApi,
    #[serde(default)]
    pub(super) forward: RawForward,
    #[serde(default)]
    pub(super) transfer: RawTransfer,
    #[serde(default)]
    pub(super) zone: Vec<RawZone>,
    #[serde(default)]
    pub(super) dataplane: RawDataplane,
    pub(super) health: Option<Spanned<RawHealth>>,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    pub(super) dnstap: Option<Spanned<RawDnstap>>,
    #[serde(default)]
    pub(super) stats: RawStats,
}

/// Sections in documentation order; those with nothing set are left out.
impl Serialize for RawConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("RawConfig", 16)?;
        out.serialize_field("server", &self.server)?;
        out.serialize_field("tcp", &self.tcp)?;
        if !is_empty(&self.store) {
            out.serialize_field("store", &self.store)?;
        }
        if !is_empty(&self.chaos) {
            out.serialize_field("chaos", &self.chaos)?;
        }
        out.serialize_field("log", &self.log)?;
        if let Some(etcd) = &self.etcd {
            out.serialize_field("etcd", etcd)?;
        }
        if let Some(pdns_remote) = &self.pdns_remote {
            out.serialize_field("pdns_remote", pdns_remote)?;
        }
        out.serialize_field("forward", &self.forward)?;
        out.serialize_field("transfer", &self.transfer)?;
        if !is_empty(&self.api) {
            out.serialize_field("api", &self.api)?;
        }
        if !self.zone.is_empty() {
            out.serialize_field("zone", &self.zone)?;
        }
        if !is_empty(&self.dataplane) {
            out.serialize_field("dataplane", &self.dataplane)?;
        }
        if let Some(health) = &self.health {
            out.serialize_field("health", health)?;
        }
        if !is_empty(&self.metrics) {
            out.serialize_field("metrics", &self.metrics)?;
        }
        if let Some(dnstap) = &self.dnstap {
            out.serialize_field("dnstap", dnstap)?;
        }
        if !is_empty(&self.stats) {
            out.serialize_field("stats", &self.stats)?;
        }
        out.end()
    }
}

/// `[server]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: Option<TextList>,
    pub(super) workers: Option<Spanned<usize>>,
    pub(super) cores: Option<Spanned<Vec<usize>>>,
    pub(super) policy: Option<Text>,
}

/// `[tcp]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTcp {
    pub(super) idle_timeout_ms: Option<Spanned<u64>>,
    pub(super) max_connections: Option<Spanned<usize>>,
    pub(super) max_connections_per_source: Option<Spanned<usize>>,
    pub(super) write_timeout_ms: Option<Spanned<u64>>,
}

/// `[store]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) path: Option<Text>,
}

/// `[chaos]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChaos {
    pub(super) version: Option<Text>,
    pub(super) id: Option<Text>,
}

/// `[log]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) level: Option<Text>,
    pub(super) format: Option<Text>,
}

/// `[etcd]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEtcd {
    pub(super) endpoints: Option<TextList>,
    pub(super) ca_file: Option<Text>,
    pub(super) cert_file: Option<Text>,
    pub(super) key_file: Option<Text>,
    pub(super) username: Option<Text>,
    pub(super) password_file: Option<Text>,
    pub(super) containerdns_prefix: Option<Text>,
    pub(super) skydns_prefix: Option<Text>,
    pub(super) health_prefix: Option<Text>,
    pub(super) snapshot: Option<Text>,
    pub(super) timeout_ms: Option<Spanned<u64>>,
}

/// `[pdns_remote]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPdnsRemote {
    pub(super) connections: Option<TextList>,
    pub(super) poll_interval_ms: Option<Spanned<u64>>,
    pub(super) max_reply_bytes: Option<Spanned<usize>>,
}

/// `[transfer]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransfer {
    pub(super) allow_transfer: Option<TextList>,
    pub(super) notify: Option<TextList>,
}

/// `[api]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) listen: Option<Text>,
    pub(super) token_file: Option<Text>,
    pub(super) tls_cert: Option<Text>,
    pub(super) tls_key: Option<Text>,
    pub(super) max_body_bytes: Option<Spanned<usize>>,
    pub(super) max_connections: Option<Spanned<usize>>,
    pub(super) max_connections_per_source: Option<Spanned<usize>>,
    pub(super) idle_timeout_ms: Option<Spanned<u64>>,
    pub(super) header_timeout_ms: Option<Spanned<u64>>,
    pub(super) body_timeout_ms: Option<Spanned<u64>>,
}

/// `[forward]` and its `[forward.zones]` table.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForward {
    pub(super) nameservers: Option<TextList>,
    pub(super) cache_size: Option<Spanned<usize>>,
    pub(super) timeout_ms: Option<Spanned<u64>>,
    pub(super) deadline_ms: Option<Spanned<u64>>,
    pub(super) per_client_qps: Option<Spanned<u32>>,
    pub(super) max_ttl: Option<Spanned<u32>>,
    pub(super) max_negative_ttl: Option<Spanned<u32>>,
    pub(super) max_sockets: Option<Spanned<usize>>,
    pub(super) max_in_flight: Option<Spanned<usize>>,
    pub(super) max_in_flight_per_upstream: Option<Spanned<usize>>,
    pub(super) queries_per_socket: Option<Spanned<u32>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) zones: BTreeMap<Text, TextList>,
}

/// One `[[zone]]` and its `[zone.names]` table.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawZone {
    pub(super) origin: Text,
    pub(super) file: Option<Text>,
    pub(super) policy: Option<Text>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) names: BTreeMap<Text, Text>,
}

/// `[dataplane]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDataplane {
    pub(super) backend: Option<Text>,
    pub(super) eal: Option<Text>,
    pub(super) port: Option<Text>,
    pub(super) kernel_interface: Option<Text>,
    pub ipv4_prefix_len: Option<Spanned<u8>>,
    pub ipv6_prefix_len: Option<Spanned<u8>>,
    pub(super) mbufs: Option<Spanned<u32>>,
    pub(super) descriptors: Option<Spanned<u16>>,
    pub(super) idle_sleep_us: Option<Spanned<u64>>,
}

/// `[health]` and its `[health.names]` table.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    pub(super) interval_ms: Option<Spanned<u64>>,
    pub(super) timeout_ms: Option<Spanned<u64>>,
    pub(super) retries: Option<Spanned<u32>>,
    pub(super) ports: Option<Spanned<Vec<u16>>>,
    pub(super) method: Option<Text>,
    pub(super) max_concurrent: Option<Spanned<usize>>,
    pub(super) etcd: Option<Spanned<bool>>,
    pub(super) hostname: Option<Text>,
    pub(super) agent_prefix: Option<Text>,
    pub(super) lease_ttl_s: Option<Spanned<u64>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) names: BTreeMap<Text, Spanned<Vec<u16>>>,
}

/// `[metrics]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<Text>,
    pub(super) max_connections: Option<Spanned<usize>>,
    pub(super) max_connections_per_source: Option<Spanned<usize>>,
    pub(super) idle_timeout_ms: Option<Spanned<u64>>,
    pub(super) header_timeout_ms: Option<Spanned<u64>>,
}

/// `[dnstap]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDnstap {
    pub(super) socket: Option<Text>,
    pub(super) file: Option<Text>,
    pub(super) sample: Option<Spanned<u32>>,
    pub(super) queries: Option<Spanned<bool>>,
    pub(super) responses: Option<Spanned<bool>>,
    pub(super) queue: Option<Spanned<usize>>,
    pub(super) identity: Option<Text>,
}

/// `[stats]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStats {
    pub(super) enabled: Option<Spanned<bool>>,
}
