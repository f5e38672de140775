//! `ferrodns serve` configuration: the TOML file, merged with the command line,
//! validated into a [`ServeConfig`].
//!
//! Precedence, highest first: command-line flags (and `FERRODNS_LOG` for the log
//! filter), the `--config` file, built-in defaults. `--listen` replaces the file's
//! whole list; `--zone` adds a zone, or replaces the `file` of a configured zone with
//! the same origin (its policies stay).
//!
//! Paths are made absolute here, so the server can reload them whatever its working
//! directory: paths in the file are relative to the file's directory, paths on the
//! command line relative to the working directory. Whether zone files exist is the
//! loader's business, not checked here.
//!
//! Every error names where the bad value came from: `FILE:LINE:COLUMN` and the key
//! for the file, the flag for the command line. Every key is documented in
//! docs/configuration.md.
//!
//! This module is a leaf of the crate: the command line hands it the flags as an
//! [`Overrides`], and the types other modules need from it (such as the etcd
//! [`Layouts`]) live here. How it is built:
//!
//! - `file`: the file's schema, read with spans and written back by [`render`].
//! - `source`: the file's text, turning spans into `FILE:LINE:COLUMN`.
//! - `merge`: flags over the file over defaults, and the checks across sections;
//!   one file per section does the rest: `server` (`[server]`, `[tcp]`, `[store]`,
//!   `[chaos]`, `[log]`), `zones`, `forward`, `etcd`, `pdns_remote`, `transfer`,
//!   `api`, `dataplane`, `health`, and `observe` (`[metrics]`, `[dnstap]`,
//!   `[stats]`).
//! - `error`: [`ConfigError`] and [`Location`].

mod api;
mod dataplane;
mod error;
mod etcd;
mod file;
mod forward;
mod health;
mod merge;
mod observe;
mod overrides;
mod pdns_remote;
mod render;
mod server;
mod source;
mod transfer;
mod zones;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;

pub use api::{
    ApiSettings, ApiTls, DEFAULT_API_BODY_TIMEOUT, DEFAULT_API_HEADER_TIMEOUT,
    DEFAULT_API_IDLE_TIMEOUT, DEFAULT_API_MAX_BODY_BYTES, DEFAULT_API_MAX_CONNECTIONS,
    DEFAULT_API_MAX_CONNECTIONS_PER_SOURCE,
};
pub use dataplane::{
    DEFAULT_DESCRIPTORS, DEFAULT_IPV4_PREFIX_LEN, DEFAULT_IPV6_PREFIX_LEN,
    DEFAULT_KERNEL_INTERFACE, DEFAULT_MBUFS, Dataplane, DpdkSettings,
};
pub use error::{ConfigError, Location};
pub use etcd::{
    DEFAULT_CONTAINERDNS_PREFIX, DEFAULT_ETCD_TIMEOUT, DEFAULT_HEALTH_PREFIX,
    DEFAULT_SKYDNS_PREFIX, EtcdSettings, Layouts,
};
pub use forward::{
    DEFAULT_FORWARD_CACHE_SIZE, DEFAULT_FORWARD_DEADLINE, DEFAULT_FORWARD_MAX_IN_FLIGHT,
    DEFAULT_FORWARD_MAX_IN_FLIGHT_PER_UPSTREAM, DEFAULT_FORWARD_MAX_NEGATIVE_TTL,
    DEFAULT_FORWARD_MAX_SOCKETS, DEFAULT_FORWARD_MAX_TTL, DEFAULT_FORWARD_QUERIES_PER_SOCKET,
    DEFAULT_FORWARD_TIMEOUT, ForwardSettings, MAX_FORWARD_QUERIES_PER_SOCKET,
};
pub use health::{
    CheckMethod, DEFAULT_HEALTH_AGENT_PREFIX, DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_LEASE_TTL_S,
    DEFAULT_HEALTH_MAX_CONCURRENT, DEFAULT_HEALTH_RETRIES, DEFAULT_HEALTH_TIMEOUT, HealthFlags,
    HealthSettings, NamePattern,
};
pub use observe::{
    DEFAULT_DNSTAP_QUEUE, DEFAULT_METRICS_MAX_CONNECTIONS,
    DEFAULT_METRICS_MAX_CONNECTIONS_PER_SOURCE, DnstapOutput, DnstapSettings, MAX_DNSTAP_QUEUE,
    MetricsSettings,
};
pub use overrides::Overrides;
pub use pdns_remote::{
    DEFAULT_PDNS_MAX_REPLY_BYTES, DEFAULT_PDNS_POLL_INTERVAL, DEFAULT_PDNS_TIMEOUT,
    MAX_PDNS_REMOTES, PdnsRemote, PdnsRemoteSettings,
};
pub use render::render;
pub use server::{
    DEFAULT_LISTEN, DEFAULT_LOG_LEVEL, DEFAULT_TCP_IDLE_TIMEOUT, DEFAULT_TCP_MAX_CONNECTIONS,
    DEFAULT_TCP_MAX_CONNECTIONS_PER_SOURCE, DEFAULT_TCP_WRITE_TIMEOUT, LogFormat, TcpSettings,
};
pub use transfer::{Cidr, DEFAULT_ALLOW_TRANSFER, TransferSettings};
pub use zones::ZoneConfig;

use file::RawConfig;
use merge::Merge;
use source::Source;

/// The validated settings of `ferrodns serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Addresses answered on, each over UDP and TCP. Never empty, no duplicates.
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads, at least 1.
    pub workers: usize,
    /// CPU to pin each worker to; when present, exactly `workers` entries.
    pub cores: Option<Vec<usize>>,
    /// Answer policy of zones that set none.
    pub default_policy: AnswerPolicy,
    pub tcp: TcpSettings,
    /// Embedded record store file (absolute).
    pub store: Option<PathBuf>,
    /// Answer to `version.bind`/`version.server` CH TXT; `None` means REFUSED.
    pub chaos_version: Option<String>,
    /// Answer to `id.server`/`hostname.bind` CH TXT; `None` means REFUSED.
    pub chaos_id: Option<String>,
    /// tracing `EnvFilter` directives.
    pub log_level: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Zones in file order, then those added by `--zone` and `--domain`. Origins
    /// are unique. A zone without a file takes its records from etcd when etcd is
    /// configured, from the store otherwise.
    pub zones: Vec<ZoneConfig>,
    pub forward: ForwardSettings,
    /// Which I/O backend answers UDP.
    pub dataplane: Dataplane,
    /// Where records and health come from when etcd is used.
    pub etcd: Option<EtcdSettings>,
    /// PowerDNS remote backends polled for their zones (an OpenSVC agent).
    pub pdns_remote: Option<PdnsRemoteSettings>,
    /// Who may transfer the zones, and whom to NOTIFY of changes.
    pub transfer: TransferSettings,
    /// The REST API; None: not served.
    pub api: Option<ApiSettings>,
    /// The health checker; None: nothing is checked.
    pub health: Option<HealthSettings>,
    /// `/metrics`, `/healthz` and `/readyz` on a listener of their own; None:
    /// only on the API's port (if any).
    pub metrics: Option<MetricsSettings>,
    /// The query log; None: off.
    pub dnstap: Option<DnstapSettings>,
    /// Whether the names asked are counted for containerdns's stats routes
    /// (served on the API's port); off unless `[stats] enabled = true`.
    pub query_stats: bool,
}

/// The validated settings of `ferrodns health-check`: the checker alone, on
/// etcd's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub etcd: EtcdSettings,
    pub health: HealthSettings,
    /// tracing `EnvFilter` directives.
    pub log_level: String,
    /// How log lines are written.
    pub log_format: LogFormat,
}

impl ServeConfig {
    /// Origins of the zones fed by etcd: those without a zone file, when etcd is
    /// configured.
    pub fn etcd_zones(&self) -> Vec<Name> {
        if self.etcd.is_none() {
            return Vec::new();
        }
        self.zones
            .iter()
            .filter(|z| z.file.is_none())
            .map(|z| z.origin.clone())
            .collect()
    }
}

/// Loads the config file at `path` (if any), merges the command line's
/// `overrides` over it and validates.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<ServeConfig, ConfigError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            load_text(overrides, Some((path, &text)))
        }
        None => load_text(overrides, None),
    }
}

/// Loads the settings of `ferrodns health-check` from the config file at
/// `path` (if any; its `[etcd]`, `[health]` and `[log]` sections) and the
/// command line's `overrides`.
pub fn load_health_check(
    path: Option<&Path>,
    overrides: &Overrides,
) -> Result<HealthCheckConfig, ConfigError> {
    let text = match path {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
        ),
        None => None,
    };
    let file = path.zip(text.as_deref());
    with_raw(overrides, file, |merge, raw| merge.build_health_check(raw))
}

/// [`load`] with the file's contents already read (`file` is its path and text).
fn load_text(
    overrides: &Overrides,
    file: Option<(&Path, &str)>,
) -> Result<ServeConfig, ConfigError> {
    with_raw(overrides, file, |merge, raw| merge.build(raw))
}

/// Parses the file (if any) and hands it to `build` with the flags.
fn with_raw<T>(
    overrides: &Overrides,
    file: Option<(&Path, &str)>,
    build: impl FnOnce(&Merge<'_>, RawConfig) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let (source, raw) = match file {
        Some((path, text)) => {
            let source = Source::new(path, text)?;
            let raw: RawConfig = toml::from_str(text).map_err(|e| source.toml_error(&e))?;
            (Some(source), raw)
        }
        None => (None, RawConfig::default()),
    };
    let merge = Merge {
        flags: overrides,
        source: source.as_ref(),
    };
    build(&merge, raw)
}
