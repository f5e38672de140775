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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::cli::ServeArgs;
use crate::etcd::decode::Layouts;

/// Listen addresses when neither `--listen` nor `server.listen` is given.
pub const DEFAULT_LISTEN: [SocketAddr; 2] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53),
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 53),
];
/// Default log filter.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Default `tcp.idle_timeout_ms`.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `tcp.max_connections`.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
/// Default `tcp.write_timeout_ms`.
pub const DEFAULT_TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `etcd.timeout_ms`.
pub const DEFAULT_ETCD_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `forward.cache_size` (answers).
pub const DEFAULT_FORWARD_CACHE_SIZE: usize = 10_000;
/// Default `forward.timeout_ms`: one attempt to one upstream.
pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_millis(1000);
/// Default `forward.deadline_ms`: every attempt of one query.
pub const DEFAULT_FORWARD_DEADLINE: Duration = Duration::from_millis(3000);
/// Default `forward.max_ttl` (seconds).
pub const DEFAULT_FORWARD_MAX_TTL: u32 = 86_400;
/// Default `forward.max_negative_ttl` (seconds).
pub const DEFAULT_FORWARD_MAX_NEGATIVE_TTL: u32 = 300;
/// Longest CHAOS TXT answer: one character-string (RFC 1035 §3.3).
const MAX_CHAOS_LEN: usize = 255;

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
    /// Zones in file order, then those added by `--zone` and `--domain`. Origins
    /// are unique. A zone without a file takes its records from etcd when etcd is
    /// configured, from the store otherwise.
    pub zones: Vec<ZoneConfig>,
    pub forward: ForwardSettings,
    /// Which I/O backend answers UDP.
    pub dataplane: Dataplane,
    /// Where records and health come from when etcd is used.
    pub etcd: Option<EtcdSettings>,
    /// The REST API; None: not served.
    pub api: Option<ApiSettings>,
}

/// Default `api.max_body_bytes`: 1 MiB.
pub const DEFAULT_API_MAX_BODY_BYTES: usize = 1 << 20;

/// The REST API (docs/api.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// File whose first line is the token; None: `FERRODNS_API_TOKEN`.
    pub token_file: Option<PathBuf>,
    /// Certificate chain and private key (PEM): HTTPS only when set.
    pub tls: Option<ApiTls>,
    /// Largest request body; larger is answered 413.
    pub max_body_bytes: usize,
}

/// The API's certificate chain and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The etcd v3 cluster records and backend health come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSettings {
    /// `http://host:port` or `https://host:port`, all of one scheme. Never empty.
    pub endpoints: Vec<String>,
    /// CA certificate (PEM) that signed the servers' certificates, for https.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS; both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// User for etcd authentication; its password is read from `password_file`.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Key prefixes of the layouts read.
    pub layouts: Layouts,
    /// Local copy of what etcd held, served at start when etcd is unreachable.
    pub snapshot: Option<PathBuf>,
    /// Time allowed to connect and for each request.
    pub timeout: Duration,
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

/// Forwarding of names outside every local zone to upstream nameservers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSettings {
    /// Default upstreams, in order of preference; empty: none.
    pub nameservers: Vec<SocketAddr>,
    /// Upstreams per zone, zones unique, in canonical order; the longest zone
    /// containing a name wins over the default upstreams.
    pub zones: Vec<(Name, Vec<SocketAddr>)>,
    /// Answers kept in the cache; 0 disables it.
    pub cache_size: usize,
    /// Time one upstream gets to answer one attempt.
    pub timeout: Duration,
    /// Time all attempts of one query get; then SERVFAIL. At least `timeout`.
    pub deadline: Duration,
    /// Forwarded queries per second per client address; 0: no limit.
    pub per_client_qps: u32,
    /// Longest time, in seconds, a positive answer is cached.
    pub max_ttl: u32,
    /// Longest time, in seconds, a negative answer (NXDOMAIN, NODATA) is cached.
    pub max_negative_ttl: u32,
}

impl Default for ForwardSettings {
    fn default() -> Self {
        ForwardSettings {
            nameservers: Vec::new(),
            zones: Vec::new(),
            cache_size: DEFAULT_FORWARD_CACHE_SIZE,
            timeout: DEFAULT_FORWARD_TIMEOUT,
            deadline: DEFAULT_FORWARD_DEADLINE,
            per_client_qps: 0,
            max_ttl: DEFAULT_FORWARD_MAX_TTL,
            max_negative_ttl: DEFAULT_FORWARD_MAX_NEGATIVE_TTL,
        }
    }
}

/// The I/O backend of the dataplane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dataplane {
    /// Kernel UDP sockets, one pinned worker thread each (`server.workers`).
    #[default]
    Kernel,
    /// DPDK owns a NIC; the listen addresses become the appliance's service
    /// addresses. See docs/dpdk.md.
    Dpdk(DpdkSettings),
}

/// `[dataplane]` settings of the DPDK backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkSettings {
    /// EAL arguments, split on whitespace.
    pub eal_args: Vec<String>,
    /// DPDK port to answer on; `None` for the first one the EAL arguments create.
    pub port: Option<String>,
    /// Name of the exception path's kernel (TAP) interface.
    pub kernel_interface: String,
    pub ipv4_prefix_len: u8,
    pub ipv6_prefix_len: u8,
    /// Mbufs in the packet pool.
    pub mbufs: u32,
    /// Descriptors per receive and per transmit queue.
    pub descriptors: u16,
    /// Idle sleep of a worker lcore that found no work; `None` to busy-poll.
    pub idle_sleep: Option<Duration>,
}

/// Default `dataplane.kernel_interface`.
pub const DEFAULT_KERNEL_INTERFACE: &str = "ferrodns0";
/// Default `dataplane.ipv4_prefix_len`.
pub const DEFAULT_IPV4_PREFIX_LEN: u8 = 24;
/// Default `dataplane.ipv6_prefix_len`.
pub const DEFAULT_IPV6_PREFIX_LEN: u8 = 64;
/// Default `dataplane.mbufs`.
pub const DEFAULT_MBUFS: u32 = 16383;
/// Default `dataplane.descriptors`.
pub const DEFAULT_DESCRIPTORS: u16 = 1024;
/// Longest Linux interface name (IFNAMSIZ less the terminating NUL).
const MAX_INTERFACE_NAME: usize = 15;

/// DNS-over-TCP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSettings {
    /// Close a connection that sends no query for this long.
    pub idle_timeout: Duration,
    /// Connections open at once; more are refused.
    pub max_connections: usize,
    /// Close a connection whose reply cannot be written within this time.
    pub write_timeout: Duration,
}

impl Default for TcpSettings {
    fn default() -> Self {
        TcpSettings {
            idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            write_timeout: DEFAULT_TCP_WRITE_TIMEOUT,
        }
    }
}

/// One authoritative zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub origin: Name,
    /// RFC 1035 zone file (absolute); `None` for a zone that lives only in the store.
    pub file: Option<PathBuf>,
    /// Policy for the zone's names; `None` means the server's default policy.
    pub policy: Option<AnswerPolicy>,
    /// Per-name overrides, each name inside the zone, unique, in canonical order.
    pub name_policies: Vec<(Name, AnswerPolicy)>,
}

/// Where a rejected value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    CommandLine,
    /// A position in the config file; `line` and `column` count from 1 (columns in
    /// characters). `None` when the TOML parser gave no position.
    File {
        path: PathBuf,
        position: Option<(usize, usize)>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::CommandLine => f.write_str("command line"),
            Location::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Location::File {
                path,
                position: None,
            } => write!(f, "{}", path.display()),
        }
    }
}

/// Why the configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// TOML syntax error, unknown key, wrong type or missing key.
    #[error("{at}: {message}{}", quote_line(excerpt))]
    Toml {
        at: Location,
        message: String,
        /// The offending line of the file, to show which key it is about.
        excerpt: Option<String>,
    },
    /// A well-formed value that is not acceptable. `key` is the file key
    /// (`server.listen`) or the flag (`--listen`); `value` as the operator wrote it.
    #[error("{}", describe_invalid(at, key, value, reason))]
    Invalid {
        at: Location,
        key: String,
        value: String,
        reason: String,
    },
}

fn quote_line(excerpt: &Option<String>) -> String {
    match excerpt {
        Some(text) => format!(" (in `{text}`)"),
        None => String::new(),
    }
}

fn describe_invalid(at: &Location, key: &str, value: &str, reason: &str) -> String {
    match at {
        Location::CommandLine => format!("{key} {value}: {reason}"),
        Location::File { .. } => format!("{at}: {key} = {value}: {reason}"),
    }
}

/// Loads `args.config` (if any), merges the command line over it and validates.
pub fn load(args: &ServeArgs) -> Result<ServeConfig, ConfigError> {
    match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            load_text(args, Some((path, &text)))
        }
        None => load_text(args, None),
    }
}

/// [`load`] with the file's contents already read (`file` is its path and text).
fn load_text(args: &ServeArgs, file: Option<(&Path, &str)>) -> Result<ServeConfig, ConfigError> {
    let (source, raw) = match file {
        Some((path, text)) => {
            let source = Source::new(path, text)?;
            let raw: RawConfig = toml::from_str(text).map_err(|e| source.toml_error(&e))?;
            (Some(source), raw)
        }
        None => (None, RawConfig::default()),
    };
    Merge {
        args,
        source: source.as_ref(),
    }
    .build(raw)
}

/// Renders a configuration as TOML in the file schema; loading the result gives the
/// same configuration back.
pub fn render(config: &ServeConfig) -> String {
    let out = RenderConfig {
        server: RenderServer {
            listen: config.listen.iter().map(ToString::to_string).collect(),
            workers: config.workers,
            cores: config.cores.clone(),
            policy: config.default_policy.as_str(),
        },
        tcp: RenderTcp {
            idle_timeout_ms: millis(config.tcp.idle_timeout),
            max_connections: config.tcp.max_connections,
            write_timeout_ms: millis(config.tcp.write_timeout),
        },
        store: config.store.as_ref().map(|path| RenderStore {
            path: path.to_string_lossy().into_owned(),
        }),
        chaos: (config.chaos_version.is_some() || config.chaos_id.is_some()).then(|| RenderChaos {
            version: config.chaos_version.clone(),
            id: config.chaos_id.clone(),
        }),
        log: RenderLog {
            level: config.log_level.clone(),
        },
        etcd: config.etcd.as_ref().map(|etcd| {
            let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
            let prefix = |p: &Option<String>| p.clone().unwrap_or_default();
            RenderEtcd {
                endpoints: etcd.endpoints.clone(),
                ca_file: path(&etcd.ca_file),
                cert_file: path(&etcd.cert_file),
                key_file: path(&etcd.key_file),
                username: etcd.username.clone(),
                password_file: path(&etcd.password_file),
                containerdns_prefix: prefix(&etcd.layouts.containerdns),
                skydns_prefix: prefix(&etcd.layouts.skydns),
                health_prefix: prefix(&etcd.layouts.health),
                snapshot: path(&etcd.snapshot),
                timeout_ms: millis(etcd.timeout),
            }
        }),
        forward: RenderForward {
            nameservers: config
                .forward
                .nameservers
                .iter()
                .map(ToString::to_string)
                .collect(),
            cache_size: config.forward.cache_size,
            timeout_ms: millis(config.forward.timeout),
            deadline_ms: millis(config.forward.deadline),
            per_client_qps: config.forward.per_client_qps,
            max_ttl: config.forward.max_ttl,
            max_negative_ttl: config.forward.max_negative_ttl,
            zones: config
                .forward
                .zones
                .iter()
                .map(|(zone, servers)| {
                    (
                        zone.to_string(),
                        servers.iter().map(ToString::to_string).collect(),
                    )
                })
                .collect(),
        },
        api: config.api.as_ref().map(|api| {
            let path = |p: &Path| p.to_string_lossy().into_owned();
            RenderApi {
                listen: api.listen.to_string(),
                token_file: api.token_file.as_deref().map(path),
                tls_cert: api.tls.as_ref().map(|tls| path(&tls.cert)),
                tls_key: api.tls.as_ref().map(|tls| path(&tls.key)),
                max_body_bytes: api.max_body_bytes,
            }
        }),
        zone: config
            .zones
            .iter()
            .map(|zone| RenderZone {
                origin: zone.origin.to_string(),
                file: zone.file.as_ref().map(|p| p.to_string_lossy().into_owned()),
                policy: zone.policy.map(AnswerPolicy::as_str),
                names: zone
                    .name_policies
                    .iter()
                    .map(|(name, policy)| (name.to_string(), policy.as_str()))
                    .collect(),
            })
            .collect(),
        dataplane: match &config.dataplane {
            Dataplane::Kernel => None,
            Dataplane::Dpdk(dpdk) => Some(RenderDataplane {
                backend: "dpdk",
                eal: dpdk.eal_args.join(" "),
                port: dpdk.port.clone(),
                kernel_interface: dpdk.kernel_interface.clone(),
                ipv4_prefix_len: dpdk.ipv4_prefix_len,
                ipv6_prefix_len: dpdk.ipv6_prefix_len,
                mbufs: dpdk.mbufs,
                descriptors: dpdk.descriptors,
                idle_sleep_us: dpdk
                    .idle_sleep
                    .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            }),
        },
    };
    let body = toml::to_string(&out).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
    format!(
        "# ferrodns effective configuration: defaults filled in, command line merged,\n\
         # paths absolute.\n\n{body}"
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------
// File schema as written. Values that are validated later keep their span so the
// error can point at them.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    tcp: RawTcp,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    chaos: RawChaos,
    #[serde(default)]
    log: RawLog,
    etcd: Option<Spanned<RawEtcd>>,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    forward: RawForward,
    #[serde(default)]
    zone: Vec<RawZone>,
    #[serde(default)]
    dataplane: RawDataplane,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    backend: Option<Spanned<String>>,
    eal: Option<Spanned<String>>,
    port: Option<Spanned<String>>,
    kernel_interface: Option<Spanned<String>>,
    ipv4_prefix_len: Option<Spanned<u8>>,
    ipv6_prefix_len: Option<Spanned<u8>>,
    mbufs: Option<Spanned<u32>>,
    descriptors: Option<Spanned<u16>>,
    idle_sleep_us: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForward {
    nameservers: Option<Spanned<Vec<Spanned<String>>>>,
    cache_size: Option<Spanned<usize>>,
    timeout_ms: Option<Spanned<u64>>,
    deadline_ms: Option<Spanned<u64>>,
    per_client_qps: Option<Spanned<u32>>,
    max_ttl: Option<Spanned<u32>>,
    max_negative_ttl: Option<Spanned<u32>>,
    #[serde(default)]
    zones: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEtcd {
    endpoints: Option<Spanned<Vec<Spanned<String>>>>,
    ca_file: Option<Spanned<String>>,
    cert_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    containerdns_prefix: Option<Spanned<String>>,
    skydns_prefix: Option<Spanned<String>>,
    health_prefix: Option<Spanned<String>>,
    snapshot: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<Vec<Spanned<String>>>>,
    workers: Option<Spanned<usize>>,
    cores: Option<Spanned<Vec<usize>>>,
    policy: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    idle_timeout_ms: Option<Spanned<u64>>,
    max_connections: Option<Spanned<usize>>,
    write_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    max_body_bytes: Option<Spanned<usize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChaos {
    version: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    origin: Spanned<String>,
    file: Option<Spanned<String>>,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    names: BTreeMap<Spanned<String>, Spanned<String>>,
}

// Output schema of `render`: same keys, plain values, in documentation order.

#[derive(Serialize)]
struct RenderConfig {
    server: RenderServer,
    tcp: RenderTcp,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<RenderStore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chaos: Option<RenderChaos>,
    log: RenderLog,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd: Option<RenderEtcd>,
    forward: RenderForward,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<RenderApi>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    zone: Vec<RenderZone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataplane: Option<RenderDataplane>,
}

#[derive(Serialize)]
struct RenderDataplane {
    backend: &'static str,
    eal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    kernel_interface: String,
    ipv4_prefix_len: u8,
    ipv6_prefix_len: u8,
    mbufs: u32,
    descriptors: u16,
    idle_sleep_us: u64,
}

#[derive(Serialize)]
struct RenderForward {
    nameservers: Vec<String>,
    cache_size: usize,
    timeout_ms: u64,
    deadline_ms: u64,
    per_client_qps: u32,
    max_ttl: u32,
    max_negative_ttl: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    zones: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize)]
struct RenderEtcd {
    endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_file: Option<String>,
    containerdns_prefix: String,
    skydns_prefix: String,
    health_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<String>,
    timeout_ms: u64,
}

#[derive(Serialize)]
struct RenderServer {
    listen: Vec<String>,
    workers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    cores: Option<Vec<usize>>,
    policy: &'static str,
}

#[derive(Serialize)]
struct RenderTcp {
    idle_timeout_ms: u64,
    max_connections: usize,
    write_timeout_ms: u64,
}

#[derive(Serialize)]
struct RenderApi {
    listen: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<String>,
    max_body_bytes: usize,
}

#[derive(Serialize)]
struct RenderStore {
    path: String,
}

#[derive(Serialize)]
struct RenderChaos {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

#[derive(Serialize)]
struct RenderLog {
    level: String,
}

#[derive(Serialize)]
struct RenderZone {
    origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    names: BTreeMap<String, &'static str>,
}

// ---------------------------------------------------------------------------------

/// The config file: where it is and what it says, to turn spans into positions.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    /// Absolute directory of the file, base of relative paths inside it.
    dir: PathBuf,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, text: &'a str) -> Result<Self, ConfigError> {
        let absolute = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = absolute.parent().map(Path::to_owned).unwrap_or_default();
        Ok(Source { path, text, dir })
    }

    fn at(&self, span: Range<usize>) -> Location {
        Location::File {
            path: self.path.to_owned(),
            position: Some(line_column(self.text, span.start)),
        }
    }

    fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let (at, excerpt) = match error.span() {
            Some(span) => {
                let (line, _) = line_column(self.text, span.start);
                let text = self.text.lines().nth(line - 1).map(|l| l.trim().to_owned());
                (self.at(span), text.filter(|l| !l.is_empty()))
            }
            None => (
                Location::File {
                    path: self.path.to_owned(),
                    position: None,
                },
                None,
            ),
        };
        ConfigError::Toml {
            at,
            message: error.message().trim_end().to_owned(),
            excerpt,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Where a workers count came from, to explain a cores mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkersFrom {
    Flag,
    File,
    Cores,
    Cpus,
}

/// One merge of the command line over the file.
struct Merge<'a> {
    args: &'a ServeArgs,
    source: Option<&'a Source<'a>>,
}

impl Merge<'_> {
    fn build(&self, raw: RawConfig) -> Result<ServeConfig, ConfigError> {
        let listen = self.listen(raw.server.listen)?;
        let (workers, cores) = self.workers(raw.server.workers, raw.server.cores)?;
        let default_policy = match (&self.args.policy, &raw.server.policy) {
            (Some(flag), _) => policy(flag).map_err(|r| flag_error("--policy", flag, r))?,
            (None, Some(value)) => self.policy(value, "server.policy")?,
            (None, None) => AnswerPolicy::default(),
        };
        let tcp = self.tcp(&raw.tcp)?;
        let store = match (&self.args.store, &raw.store.path) {
            (Some(flag), _) => Some(flag_path("--store", flag)?),
            (None, Some(value)) => Some(self.file_path(value, "store.path")?),
            (None, None) => None,
        };
        let chaos_version = self.chaos(raw.chaos.version, "chaos.version")?;
        let chaos_id = self.chaos(raw.chaos.id, "chaos.id")?;
        let log_level = match (&self.args.log, &raw.log.level) {
            (Some(flag), _) => {
                log_filter(flag).map_err(|r| flag_error("--log/FERRODNS_LOG", flag, r))?
            }
            (None, Some(value)) => {
                log_filter(value.get_ref()).map_err(|r| self.invalid(value, "log.level", r))?
            }
            (None, None) => DEFAULT_LOG_LEVEL.to_owned(),
        };
        let mut zones = self.file_zones(raw.zone)?;
        self.flag_zones(&mut zones)?;
        self.flag_domains(&mut zones)?;
        let etcd = self.etcd(raw.etcd)?;
        if etcd.is_some() && zones.iter().all(|z| z.file.is_some()) {
            return Err(ConfigError::Invalid {
                at: Location::CommandLine,
                key: "etcd".into(),
                value: etcd
                    .as_ref()
                    .map(|e| e.endpoints.join(" "))
                    .unwrap_or_default(),
                reason: "etcd is configured but no zone takes its records: add --domain ORIGIN \
                         or a [[zone]] without a file"
                    .into(),
            });
        }
        let forward = self.forward(raw.forward)?;
        let dataplane = self.dataplane(raw.dataplane, &listen)?;
        let api = self.api(raw.api)?;
        if let Some(api) = &api
            && etcd.is_none()
            && store.is_none()
        {
            return Err(ConfigError::Invalid {
                at: Location::CommandLine,
                key: "api".into(),
                value: api.listen.to_string(),
                reason: "the API writes records to etcd or to the embedded store: add --etcd \
                         or --store PATH"
                    .into(),
            });
        }
        Ok(ServeConfig {
            listen,
            workers,
            cores,
            default_policy,
            tcp,
            store,
            chaos_version,
            chaos_id,
            log_level,
            zones,
            etcd,
            forward,
            dataplane,
            api,
        })
    }

    fn api(&self, raw: RawApi) -> Result<Option<ApiSettings>, ConfigError> {
        let listen = match (&self.args.api, &raw.listen) {
            (Some(flag), _) => socket_addr(flag).map_err(|r| flag_error("--api", flag, r))?,
            (None, Some(value)) => {
                socket_addr(value.get_ref()).map_err(|r| self.invalid(value, "api.listen", r))?
            }
            (None, None) => return Ok(None),
        };
        let token_file = match (&self.args.api_token_file, &raw.token_file) {
            (Some(flag), _) => Some(flag_path("--api-token-file", flag)?),
            (None, Some(value)) => Some(self.file_path(value, "api.token_file")?),
            (None, None) => None,
        };
        let tls = match (&raw.tls_cert, &raw.tls_key) {
            (Some(cert), Some(key)) => Some(ApiTls {
                cert: self.file_path(cert, "api.tls_cert")?,
                key: self.file_path(key, "api.tls_key")?,
            }),
            (None, None) => None,
            (Some(cert), None) => {
                return Err(self.invalid(cert, "api.tls_cert", "needs api.tls_key too".into()));
            }
            (None, Some(key)) => {
                return Err(self.invalid(key, "api.tls_key", "needs api.tls_cert too".into()));
            }
        };
        let max_body_bytes = match &raw.max_body_bytes {
            Some(max) if *max.get_ref() == 0 => {
                return Err(self.invalid(max, "api.max_body_bytes", "must be at least 1".into()));
            }
            Some(max) => *max.get_ref(),
            None => DEFAULT_API_MAX_BODY_BYTES,
        };
        Ok(Some(ApiSettings {
            listen,
            token_file,
            tls,
            max_body_bytes,
        }))
    }

    fn forward(&self, raw: RawForward) -> Result<ForwardSettings, ConfigError> {
        let mut forward = ForwardSettings::default();
        if !self.args.forward.is_empty() {
            for text in &self.args.forward {
                let addr = upstream_addr(text).map_err(|r| flag_error("--forward", text, r))?;
                if forward.nameservers.contains(&addr) {
                    return Err(flag_error("--forward", text, "given twice".into()));
                }
                forward.nameservers.push(addr);
            }
        } else if let Some(list) = raw.nameservers {
            forward.nameservers = self.upstream_list(list, "forward.nameservers", true)?;
        }
        if let Some(size) = raw.cache_size {
            forward.cache_size = *size.get_ref();
        }
        if let Some(ms) = &raw.timeout_ms {
            forward.timeout = self.positive_ms(ms, "forward.timeout_ms")?;
        }
        if let Some(ms) = &raw.deadline_ms {
            forward.deadline = self.positive_ms(ms, "forward.deadline_ms")?;
        }
        if forward.deadline < forward.timeout {
            let reason = format!(
                "must be at least forward.timeout_ms ({} ms)",
                millis(forward.timeout)
            );
            return Err(match &raw.deadline_ms {
                Some(ms) => self.invalid(ms, "forward.deadline_ms", reason),
                None => match &raw.timeout_ms {
                    Some(ms) => self.invalid(
                        ms,
                        "forward.timeout_ms",
                        format!(
                            "must be at most forward.deadline_ms ({} ms)",
                            millis(forward.deadline)
                        ),
                    ),
                    None => unreachable!("defaults are consistent"),
                },
            });
        }
        if let Some(qps) = raw.per_client_qps {
            forward.per_client_qps = *qps.get_ref();
        }
        if let Some(ttl) = raw.max_ttl {
            forward.max_ttl = *ttl.get_ref();
        }
        if let Some(ttl) = raw.max_negative_ttl {
            forward.max_negative_ttl = *ttl.get_ref();
        }
        for (zone_text, servers) in raw.zones {
            let key = format!("forward.zones.{:?}", zone_text.get_ref());
            let zone = Name::from_ascii(zone_text.get_ref()).map_err(|e| ConfigError::Invalid {
                at: self.source().at(zone_text.span()),
                key: key.clone(),
                value: format!("{:?}", zone_text.get_ref()),
                reason: e.to_string(),
            })?;
            if forward.zones.iter().any(|(z, _)| *z == zone) {
                return Err(ConfigError::Invalid {
                    at: self.source().at(zone_text.span()),
                    key,
                    value: format!("{:?}", zone_text.get_ref()),
                    reason: format!("{zone} is listed twice (names ignore case)"),
                });
            }
            let servers = self.upstream_list(servers, &key, false)?;
            forward.zones.push((zone, servers));
        }
        forward.zones.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(forward)
    }

    /// A list of upstream addresses from the file; `may_be_empty` for the default
    /// nameservers (empty: no forwarding).
    fn upstream_list(
        &self,
        list: Spanned<Vec<Spanned<String>>>,
        key: &str,
        may_be_empty: bool,
    ) -> Result<Vec<SocketAddr>, ConfigError> {
        if list.get_ref().is_empty() && !may_be_empty {
            return Err(self.invalid(&list, key, "needs at least one address".into()));
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        for text in list.into_inner() {
            let addr = upstream_addr(text.get_ref()).map_err(|r| self.invalid(&text, key, r))?;
            if out.contains(&addr) {
                return Err(self.invalid(&text, key, "listed twice".into()));
            }
            out.push(addr);
        }
        Ok(out)
    }

    /// `[dataplane]` and `--dpdk`. The DPDK backend answers for the listen
    /// addresses itself, so each must be a concrete address and port.
    fn dataplane(
        &self,
        raw: RawDataplane,
        listen: &[SocketAddr],
    ) -> Result<Dataplane, ConfigError> {
        let dpdk = match (&self.args.dpdk, &raw.backend) {
            (Some(_), _) => true,
            (None, None) => false,
            (None, Some(backend)) => match backend.get_ref().as_str() {
                "kernel" => false,
                "dpdk" => true,
                _ => {
                    let reason = "expected \"kernel\" or \"dpdk\"".to_owned();
                    return Err(self.invalid(backend, "dataplane.backend", reason));
                }
            },
        };
        if !dpdk {
            return Ok(Dataplane::Kernel);
        }
        let eal_args: Vec<String> = match (&self.args.dpdk, &raw.eal) {
            (Some(flag), _) => {
                let args = split_eal(flag);
                if args.is_empty() {
                    return Err(flag_error("--dpdk", flag, "needs the EAL arguments".into()));
                }
                args
            }
            (None, Some(value)) if !value.get_ref().trim().is_empty() => split_eal(value.get_ref()),
            (None, Some(value)) => {
                let reason = "needs the EAL arguments".to_owned();
                return Err(self.invalid(value, "dataplane.eal", reason));
            }
            (None, None) => {
                let reason = "the DPDK backend needs dataplane.eal (the EAL arguments) or --dpdk";
                return Err(match &raw.backend {
                    Some(backend) => self.invalid(backend, "dataplane.backend", reason.into()),
                    None => flag_error("--dpdk", "", reason.into()),
                });
            }
        };
        for addr in listen {
            if addr.ip().is_unspecified() || addr.port() == 0 {
                let reason = "the DPDK backend answers for each listen address itself: give a \
                              concrete IP address and port";
                return Err(ConfigError::Invalid {
                    at: Location::CommandLine,
                    key: "--listen/server.listen".into(),
                    value: format!("{addr:?}"),
                    reason: reason.into(),
                });
            }
        }
        let kernel_interface = match &raw.kernel_interface {
            Some(value) => {
                let name = value.get_ref();
                let valid = !name.is_empty()
                    && name.len() <= MAX_INTERFACE_NAME
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
                if !valid {
                    let reason = format!(
                        "an interface name: 1 to {MAX_INTERFACE_NAME} letters, digits, '-', '_' or '.'"
                    );
                    return Err(self.invalid(value, "dataplane.kernel_interface", reason));
                }
                name.clone()
            }
            None => DEFAULT_KERNEL_INTERFACE.to_owned(),
        };
        let ipv4_prefix_len =
            self.ranged(&raw.ipv4_prefix_len, "dataplane.ipv4_prefix_len", 1..=32)?;
        let ipv6_prefix_len =
            self.ranged(&raw.ipv6_prefix_len, "dataplane.ipv6_prefix_len", 1..=128)?;
        let mbufs = match &raw.mbufs {
            Some(value) if *value.get_ref() < 1023 => {
                return Err(self.invalid(value, "dataplane.mbufs", "must be at least 1023".into()));
            }
            Some(value) => *value.get_ref(),
            None => DEFAULT_MBUFS,
        };
        let descriptors = match &raw.descriptors {
            Some(value) if !(64..=4096).contains(value.get_ref()) => {
                let reason = "must be 64 to 4096".to_owned();
                return Err(self.invalid(value, "dataplane.descriptors", reason));
            }
            Some(value) => *value.get_ref(),
            None => DEFAULT_DESCRIPTORS,
        };
        let idle_sleep = raw
            .idle_sleep_us
            .as_ref()
            .map(|us| Duration::from_micros(*us.get_ref()))
            .filter(|d| !d.is_zero());
        Ok(Dataplane::Dpdk(DpdkSettings {
            eal_args,
            port: raw.port.map(Spanned::into_inner),
            kernel_interface,
            ipv4_prefix_len: ipv4_prefix_len.unwrap_or(DEFAULT_IPV4_PREFIX_LEN),
            ipv6_prefix_len: ipv6_prefix_len.unwrap_or(DEFAULT_IPV6_PREFIX_LEN),
            mbufs,
            descriptors,
            idle_sleep,
        }))
    }

    fn ranged(
        &self,
        value: &Option<Spanned<u8>>,
        key: &str,
        range: RangeInclusive<u8>,
    ) -> Result<Option<u8>, ConfigError> {
        match value {
            Some(v) if !range.contains(v.get_ref()) => {
                let reason = format!("must be {} to {}", range.start(), range.end());
                Err(self.invalid(v, key, reason))
            }
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    /// Adds the `--domain ORIGIN` flags: zones without a file.
    fn flag_domains(&self, zones: &mut Vec<ZoneConfig>) -> Result<(), ConfigError> {
        let mut given: Vec<Name> = Vec::new();
        for text in &self.args.domains {
            let origin = Name::from_ascii(text)
                .map_err(|e| flag_error("--domain", text, format!("bad origin: {e}")))?;
            if given.contains(&origin) {
                return Err(flag_error("--domain", text, "given twice".into()));
            }
            given.push(origin.clone());
            match zones.iter().find(|z| z.origin == origin) {
                Some(zone) if zone.file.is_some() => {
                    let reason = format!(
                        "zone {origin} is served from a zone file; a --domain zone takes its \
                         records from etcd or the store"
                    );
                    return Err(flag_error("--domain", text, reason));
                }
                Some(_) => {}
                None => zones.push(ZoneConfig {
                    origin,
                    file: None,
                    policy: None,
                    name_policies: Vec::new(),
                }),
            }
        }
        Ok(())
    }

    fn etcd(&self, raw: Option<Spanned<RawEtcd>>) -> Result<Option<EtcdSettings>, ConfigError> {
        let (span, raw) = match raw {
            Some(raw) => (Some(raw.span()), raw.into_inner()),
            None => (None, RawEtcd::default()),
        };
        let mut endpoints: Vec<String> = Vec::new();
        if !self.args.etcd.is_empty() {
            for text in &self.args.etcd {
                let endpoint = etcd_endpoint(text).map_err(|r| flag_error("--etcd", text, r))?;
                endpoints.push(endpoint);
            }
        } else if let Some(list) = raw.endpoints {
            for text in list.get_ref() {
                let endpoint = etcd_endpoint(text.get_ref())
                    .map_err(|r| self.invalid(text, "etcd.endpoints", r))?;
                endpoints.push(endpoint);
            }
            if endpoints.is_empty() {
                return Err(self.invalid(
                    &list,
                    "etcd.endpoints",
                    "needs at least one endpoint".into(),
                ));
            }
        }
        if endpoints.is_empty() {
            if let Some(span) = span {
                return Err(ConfigError::Invalid {
                    at: self.source().at(span),
                    key: "etcd.endpoints".into(),
                    value: "[]".into(),
                    reason: "an [etcd] section needs endpoints (or --etcd URL)".into(),
                });
            }
            if let Some(path) = &self.args.etcd_snapshot {
                return Err(flag_error(
                    "--etcd-snapshot",
                    &path.to_string_lossy(),
                    "needs etcd endpoints (--etcd URL)".into(),
                ));
            }
            return Ok(None);
        }
        let https = endpoints
            .iter()
            .filter(|e| e.starts_with("https://"))
            .count();
        if https != 0 && https != endpoints.len() {
            return Err(ConfigError::Invalid {
                at: Location::CommandLine,
                key: "etcd.endpoints".into(),
                value: endpoints.join(" "),
                reason: "mixes http:// and https:// endpoints".into(),
            });
        }
        let path =
            |value: &Option<Spanned<String>>, key: &str| -> Result<Option<PathBuf>, ConfigError> {
                value.as_ref().map(|v| self.file_path(v, key)).transpose()
            };
        let ca_file = path(&raw.ca_file, "etcd.ca_file")?;
        let cert_file = path(&raw.cert_file, "etcd.cert_file")?;
        let key_file = path(&raw.key_file, "etcd.key_file")?;
        if let (Some(value), None) | (None, Some(value)) = (&raw.cert_file, &raw.key_file) {
            return Err(self.invalid(
                value,
                if raw.cert_file.is_some() {
                    "etcd.cert_file"
                } else {
                    "etcd.key_file"
                },
                "etcd.cert_file and etcd.key_file go together".into(),
            ));
        }
        if https == 0
            && let Some(value) = raw.ca_file.as_ref().or(raw.cert_file.as_ref())
        {
            return Err(self.invalid(
                value,
                "etcd TLS",
                "TLS files are given but the endpoints use http://".into(),
            ));
        }
        let username = raw.username.as_ref().map(|v| v.get_ref().clone());
        let password_file = path(&raw.password_file, "etcd.password_file")?;
        if username.is_some() != password_file.is_some() {
            let value = raw.username.as_ref().or(raw.password_file.as_ref());
            if let Some(value) = value {
                return Err(self.invalid(
                    value,
                    "etcd.username",
                    "etcd.username and etcd.password_file go together".into(),
                ));
            }
        }
        let layouts = Layouts {
            containerdns: self
                .prefix(&raw.containerdns_prefix, "etcd.containerdns_prefix")?
                .unwrap_or_else(|| Layouts::default().containerdns),
            skydns: self
                .prefix(&raw.skydns_prefix, "etcd.skydns_prefix")?
                .unwrap_or_else(|| Layouts::default().skydns),
            health: self
                .prefix(&raw.health_prefix, "etcd.health_prefix")?
                .unwrap_or_else(|| Layouts::default().health),
        };
        let snapshot = match (&self.args.etcd_snapshot, &raw.snapshot) {
            (Some(flag), _) => Some(flag_path("--etcd-snapshot", flag)?),
            (None, Some(value)) => Some(self.file_path(value, "etcd.snapshot")?),
            (None, None) => None,
        };
        let timeout = match &raw.timeout_ms {
            Some(ms) => self.positive_ms(ms, "etcd.timeout_ms")?,
            None => DEFAULT_ETCD_TIMEOUT,
        };
        Ok(Some(EtcdSettings {
            endpoints,
            ca_file,
            cert_file,
            key_file,
            username,
            password_file,
            layouts,
            snapshot,
            timeout,
        }))
    }

    /// A layout prefix: `""` turns the layout off, anything else is an absolute key
    /// path ending in `/`. `None` when not given.
    #[allow(clippy::option_option)]
    fn prefix(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<Option<String>>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        let text = value.get_ref();
        if text.is_empty() {
            return Ok(Some(None));
        }
        if !text.starts_with('/') || !text.ends_with('/') || text.len() < 3 {
            return Err(self.invalid(
                value,
                key,
                "expected a key prefix that starts and ends with `/`, such as \"/skydns/\" (or \"\" to turn the layout off)".into(),
            ));
        }
        Ok(Some(Some(text.clone())))
    }

    fn source(&self) -> &Source<'_> {
        // Only called for values that came from the file, so there is one.
        self.source
            .unwrap_or_else(|| unreachable!("file value without a file"))
    }

    /// An error about a value from the file; strings are shown quoted.
    fn invalid<T: fmt::Debug>(&self, value: &Spanned<T>, key: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            at: self.source().at(value.span()),
            key: key.to_owned(),
            value: format!("{:?}", value.get_ref()),
            reason,
        }
    }

    fn listen(
        &self,
        file: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Result<Vec<SocketAddr>, ConfigError> {
        let mut listen: Vec<SocketAddr> = Vec::new();
        if !self.args.listen.is_empty() {
            for text in &self.args.listen {
                let addr = socket_addr(text).map_err(|r| flag_error("--listen", text, r))?;
                if listen.contains(&addr) {
                    return Err(flag_error("--listen", text, "given twice".into()));
                }
                listen.push(addr);
            }
        } else if let Some(list) = file {
            if list.get_ref().is_empty() {
                return Err(self.invalid(
                    &list,
                    "server.listen",
                    "needs at least one address".into(),
                ));
            }
            for text in list.into_inner() {
                let addr = socket_addr(text.get_ref())
                    .map_err(|r| self.invalid(&text, "server.listen", r))?;
                if listen.contains(&addr) {
                    return Err(self.invalid(&text, "server.listen", "listed twice".into()));
                }
                listen.push(addr);
            }
        } else {
            listen.extend(DEFAULT_LISTEN);
        }
        Ok(listen)
    }

    fn workers(
        &self,
        file_workers: Option<Spanned<usize>>,
        file_cores: Option<Spanned<Vec<usize>>>,
    ) -> Result<(usize, Option<Vec<usize>>), ConfigError> {
        let (workers, from) = match (self.args.workers, &file_workers, &file_cores) {
            (Some(0), _, _) => {
                return Err(flag_error("--workers", "0", "must be at least 1".into()));
            }
            (Some(n), _, _) => (n, WorkersFrom::Flag),
            (None, Some(value), _) if *value.get_ref() == 0 => {
                return Err(self.invalid(value, "server.workers", "must be at least 1".into()));
            }
            (None, Some(value), _) => (*value.get_ref(), WorkersFrom::File),
            // Pinned cores without a count: one worker per listed core.
            (None, None, Some(cores)) if !cores.get_ref().is_empty() => {
                (cores.get_ref().len(), WorkersFrom::Cores)
            }
            (None, None, _) => (available_cpus(), WorkersFrom::Cpus),
        };
        let Some(cores) = file_cores else {
            return Ok((workers, None));
        };
        if cores.get_ref().len() != workers {
            let why = match from {
                WorkersFrom::Flag => "--workers",
                WorkersFrom::File => "server.workers",
                WorkersFrom::Cores | WorkersFrom::Cpus => "the default (number of CPUs)",
            };
            let reason = format!(
                "needs one core per worker: {} given, but {why} is {workers}",
                cores.get_ref().len()
            );
            return Err(self.invalid(&cores, "server.cores", reason));
        }
        Ok((workers, Some(cores.into_inner())))
    }

    fn policy(&self, value: &Spanned<String>, key: &str) -> Result<AnswerPolicy, ConfigError> {
        policy(value.get_ref()).map_err(|r| self.invalid(value, key, r))
    }

    fn tcp(&self, raw: &RawTcp) -> Result<TcpSettings, ConfigError> {
        let mut tcp = TcpSettings::default();
        if let Some(ms) = &raw.idle_timeout_ms {
            tcp.idle_timeout = self.positive_ms(ms, "tcp.idle_timeout_ms")?;
        }
        if let Some(max) = &raw.max_connections {
            if *max.get_ref() == 0 {
                return Err(self.invalid(max, "tcp.max_connections", "must be at least 1".into()));
            }
            tcp.max_connections = *max.get_ref();
        }
        if let Some(ms) = &raw.write_timeout_ms {
            tcp.write_timeout = self.positive_ms(ms, "tcp.write_timeout_ms")?;
        }
        Ok(tcp)
    }

    fn positive_ms(&self, ms: &Spanned<u64>, key: &str) -> Result<Duration, ConfigError> {
        if *ms.get_ref() == 0 {
            return Err(self.invalid(ms, key, "must be at least 1 millisecond".into()));
        }
        Ok(Duration::from_millis(*ms.get_ref()))
    }

    fn chaos(
        &self,
        value: Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        if value.get_ref().len() > MAX_CHAOS_LEN {
            let reason = format!("longer than {MAX_CHAOS_LEN} bytes (one TXT string)");
            return Err(self.invalid(&value, key, reason));
        }
        Ok(Some(value.into_inner()))
    }

    /// A path from the file, relative to the file's directory.
    fn file_path(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        if value.get_ref().is_empty() {
            return Err(self.invalid(value, key, "empty path".into()));
        }
        Ok(self.source().dir.join(value.get_ref()))
    }

    fn file_zones(&self, raw: Vec<RawZone>) -> Result<Vec<ZoneConfig>, ConfigError> {
        let mut zones: Vec<ZoneConfig> = Vec::with_capacity(raw.len());
        let mut seen: HashMap<Name, Location> = HashMap::new();
        for zone in raw {
            let origin = Name::from_ascii(zone.origin.get_ref())
                .map_err(|e| self.invalid(&zone.origin, "zone.origin", e.to_string()))?;
            let at = self.source().at(zone.origin.span());
            if let Some(first) = seen.get(&origin) {
                let reason = format!("zone {origin} is already defined at {first}");
                return Err(self.invalid(&zone.origin, "zone.origin", reason));
            }
            seen.insert(origin.clone(), at);
            let file = match &zone.file {
                Some(value) => Some(self.file_path(value, "zone.file")?),
                None => None,
            };
            let policy = match &zone.policy {
                Some(value) => Some(self.policy(value, "zone.policy")?),
                None => None,
            };
            let mut name_policies: Vec<(Name, AnswerPolicy)> = Vec::new();
            for (key, value) in &zone.names {
                // Errors about the name point at the key and show the whole entry.
                let key_name = format!("zone.names.{:?}", key.get_ref());
                let bad_name = |reason: String| ConfigError::Invalid {
                    at: self.source().at(key.span()),
                    key: key_name.clone(),
                    value: format!("{:?}", value.get_ref()),
                    reason,
                };
                let name = Name::from_ascii(key.get_ref()).map_err(|e| bad_name(e.to_string()))?;
                if !name.is_subdomain_of(&origin) {
                    return Err(bad_name(format!("{name} is not inside zone {origin}")));
                }
                if name_policies.iter().any(|(n, _)| *n == name) {
                    return Err(bad_name(format!(
                        "{name} is listed twice (names ignore case)"
                    )));
                }
                name_policies.push((name, self.policy(value, &key_name)?));
            }
            name_policies.sort_by(|a, b| a.0.cmp(&b.0));
            zones.push(ZoneConfig {
                origin,
                file,
                policy,
                name_policies,
            });
        }
        Ok(zones)
    }

    /// Adds the `--zone ORIGIN=PATH` flags to the zones from the file.
    fn flag_zones(&self, zones: &mut Vec<ZoneConfig>) -> Result<(), ConfigError> {
        let file_zones = zones.len();
        for text in &self.args.zones {
            let Some((origin_text, path)) = text.split_once('=') else {
                return Err(flag_error("--zone", text, "expected ORIGIN=PATH".into()));
            };
            let origin = Name::from_ascii(origin_text)
                .map_err(|e| flag_error("--zone", text, format!("bad origin: {e}")))?;
            if path.is_empty() {
                return Err(flag_error(
                    "--zone",
                    text,
                    "expected ORIGIN=PATH, PATH is empty".into(),
                ));
            }
            let file = flag_path("--zone", Path::new(path))?;
            match zones.iter().position(|z| z.origin == origin) {
                Some(i) if i >= file_zones => {
                    let reason = format!("zone {origin} is given twice");
                    return Err(flag_error("--zone", text, reason));
                }
                Some(i) => {
                    if let Some(zone) = zones.get_mut(i) {
                        zone.file = Some(file);
                    }
                }
                None => zones.push(ZoneConfig {
                    origin,
                    file: Some(file),
                    policy: None,
                    name_policies: Vec::new(),
                }),
            }
        }
        Ok(())
    }
}

fn flag_error(flag: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        at: Location::CommandLine,
        key: flag.to_owned(),
        value: format!("{value:?}"),
        reason,
    }
}

/// A path from the command line, relative to the working directory.
fn flag_path(flag: &str, path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path)
        .map_err(|e| flag_error(flag, &path.to_string_lossy(), format!("bad path: {e}")))
}

/// EAL arguments as one string, split on whitespace (no shell quoting).
fn split_eal(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// An etcd endpoint: `http://HOST:PORT` or `https://HOST:PORT`.
fn etcd_endpoint(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| "expected http://HOST:PORT or https://HOST:PORT".to_owned())?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let port = rest
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .and_then(|(_, port)| port.parse::<u16>().ok());
    if port.is_none() || rest.contains('/') {
        return Err("expected http://HOST:PORT or https://HOST:PORT (with the port)".into());
    }
    Ok(text.strip_suffix('/').unwrap_or(text).to_owned())
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        "expected IP:PORT such as 127.0.0.1:53 or [::1]:53 (host names are not resolved)".into()
    })
}

/// An upstream nameserver: `IP:PORT`, or a bare IP meaning port 53.
fn upstream_addr(text: &str) -> Result<SocketAddr, String> {
    let addr = text
        .parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            "expected IP:PORT such as 192.0.2.53:53 or [2001:db8::53]:53, or an IP for \
             port 53 (host names are not resolved)"
                .to_owned()
        })?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err("an upstream needs a real address and a port other than 0".into());
    }
    Ok(addr)
}

fn policy(text: &str) -> Result<AnswerPolicy, String> {
    text.parse()
        .map_err(|e: ferrodns_dataplane::record::UnknownPolicy| e.to_string())
}

/// Checks tracing `EnvFilter` syntax; returns the filter as given.
fn log_filter(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("empty log filter".into());
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a log filter: {e}"))
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/ferrodns/ferrodns.toml";

    const FULL: &str = r#"
[server]
listen = ["127.0.0.1:5353", "[::1]:5353"]
workers = 2
cores = [0, 1]
policy = "random-one"
[tcp]
idle_timeout_ms = 15000
max_connections = 64
write_timeout_ms = 2500
[store]
path = "/var/lib/ferrodns/records.redb"
[chaos]
version = "ferrodns"
id = "dns1"
[log]
level = "warn,ferrodns=debug"
[forward]
nameservers = ["192.0.2.53:53", "2001:db8::53"]
cache_size = 5000
timeout_ms = 500
deadline_ms = 2000
per_client_qps = 100
max_negative_ttl = 60
[forward.zones]
"corp.example." = ["10.0.0.1:53", "10.0.0.2"]
"Lab.Example" = ["[fd00::53]:5353"]
[[zone]]
origin = "svc.cluster.local."
file = "svc.cluster.local.zone"
policy = "hone-one"
[zone.names]
"web.svc.cluster.local." = "random-one"
"API.svc.cluster.local" = "round-robin"
[[zone]]
origin = "10.in-addr.arpa"
file = "zones/10.in-addr.arpa.zone"
[[zone]]
origin = "store.only."
"#;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("valid name")
    }

    fn parse_with(args: &ServeArgs, text: &str) -> Result<ServeConfig, ConfigError> {
        load_text(args, Some((Path::new(PATH), text)))
    }

    fn parse(text: &str) -> Result<ServeConfig, ConfigError> {
        parse_with(&ServeArgs::default(), text)
    }

    /// The error message for a file that must be rejected.
    fn file_error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("accepted {text:?} as {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn flag_error_of(args: &ServeArgs) -> String {
        match load(args) {
            Ok(config) => panic!("accepted {args:?} as {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_mentions(message: &str, parts: &[&str]) {
        for part in parts {
            assert!(
                message.contains(part),
                "{message:?} should mention {part:?}"
            );
        }
    }

    #[test]
    fn full_file_parses_to_the_expected_config() {
        let config = parse(FULL).expect("valid");
        let expected = ServeConfig {
            listen: vec![
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:5353".parse().unwrap(),
            ],
            workers: 2,
            cores: Some(vec![0, 1]),
            default_policy: AnswerPolicy::RandomOne,
            tcp: TcpSettings {
                idle_timeout: Duration::from_millis(15000),
                max_connections: 64,
                write_timeout: Duration::from_millis(2500),
            },
            store: Some("/var/lib/ferrodns/records.redb".into()),
            chaos_version: Some("ferrodns".into()),
            chaos_id: Some("dns1".into()),
            log_level: "warn,ferrodns=debug".into(),
            zones: vec![
                ZoneConfig {
                    origin: name("svc.cluster.local."),
                    file: Some("/etc/ferrodns/svc.cluster.local.zone".into()),
                    policy: Some(AnswerPolicy::HoneOne),
                    // canonical order: api before web
                    name_policies: vec![
                        (name("api.svc.cluster.local."), AnswerPolicy::RoundRobin),
                        (name("web.svc.cluster.local."), AnswerPolicy::RandomOne),
                    ],
                },
                ZoneConfig {
                    origin: name("10.in-addr.arpa."),
                    file: Some("/etc/ferrodns/zones/10.in-addr.arpa.zone".into()),
                    policy: None,
                    name_policies: vec![],
                },
                ZoneConfig {
                    origin: name("store.only."),
                    file: None,
                    policy: None,
                    name_policies: vec![],
                },
            ],
            etcd: None,
            forward: ForwardSettings {
                nameservers: vec![
                    "192.0.2.53:53".parse().unwrap(),
                    "[2001:db8::53]:53".parse().unwrap(),
                ],
                zones: vec![
                    (
                        name("corp.example."),
                        vec![
                            "10.0.0.1:53".parse().unwrap(),
                            "10.0.0.2:53".parse().unwrap(),
                        ],
                    ),
                    (
                        name("lab.example."),
                        vec!["[fd00::53]:5353".parse().unwrap()],
                    ),
                ],
                cache_size: 5000,
                timeout: Duration::from_millis(500),
                deadline: Duration::from_millis(2000),
                per_client_qps: 100,
                max_ttl: DEFAULT_FORWARD_MAX_TTL,
                max_negative_ttl: 60,
            },
            dataplane: Dataplane::Kernel,
            api: None,
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn nothing_given_means_defaults() {
        let config = load(&ServeArgs::default()).expect("defaults are valid");
        assert_eq!(config.listen, DEFAULT_LISTEN.to_vec());
        assert_eq!(config.listen[1].to_string(), "[::1]:53");
        assert_eq!(config.workers, available_cpus());
        assert!(config.workers >= 1);
        assert_eq!(config.cores, None);
        assert_eq!(config.default_policy, AnswerPolicy::RoundRobin);
        assert_eq!(config.tcp, TcpSettings::default());
        assert_eq!(config.tcp.idle_timeout, Duration::from_millis(10000));
        assert_eq!(config.tcp.max_connections, 1024);
        assert_eq!(config.tcp.write_timeout, Duration::from_millis(5000));
        assert_eq!(
            (config.store, config.chaos_version, config.chaos_id),
            (None, None, None)
        );
        assert_eq!(config.log_level, "info");
        assert!(config.zones.is_empty());
        // An empty file is the same as no file.
        assert_eq!(
            parse("").expect("empty file"),
            load(&ServeArgs::default()).unwrap()
        );
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf_dir = dir.path().join("conf");
        std::fs::create_dir(&conf_dir).expect("mkdir");
        let path = conf_dir.join("ferrodns.toml");
        std::fs::write(
            &path,
            "[store]\npath = \"data/records.redb\"\n\
             [[zone]]\norigin = \"a.example.\"\nfile = \"a.zone\"\n\
             [[zone]]\norigin = \"b.example.\"\nfile = \"../zones/b.zone\"\n\
             [[zone]]\norigin = \"c.example.\"\nfile = \"/srv/c.zone\"\n",
        )
        .expect("write config");
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        let config = load(&args).expect("valid");
        assert_eq!(config.store, Some(conf_dir.join("data/records.redb")));
        let files: Vec<_> = config
            .zones
            .iter()
            .map(|z| z.file.clone().unwrap())
            .collect();
        assert_eq!(
            files,
            vec![
                conf_dir.join("a.zone"),
                conf_dir.join("../zones/b.zone"),
                PathBuf::from("/srv/c.zone")
            ]
        );
    }

    #[test]
    fn command_line_overrides_the_file() {
        let args = ServeArgs {
            listen: vec!["[::1]:8053".into()],
            workers: Some(2),
            store: Some("/tmp/other.redb".into()),
            policy: Some("hone-one".into()),
            log: Some("debug".into()),
            ..ServeArgs::default()
        };
        let config = parse_with(&args, FULL).expect("valid");
        assert_eq!(
            config.listen,
            vec!["[::1]:8053".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(config.workers, 2);
        assert_eq!(config.store, Some(PathBuf::from("/tmp/other.redb")));
        assert_eq!(config.default_policy, AnswerPolicy::HoneOne);
        assert_eq!(config.log_level, "debug");
        // Untouched keys keep the file's values.
        assert_eq!(config.chaos_id.as_deref(), Some("dns1"));
        assert_eq!(config.tcp.max_connections, 64);
    }

    #[test]
    fn zone_flags_add_zones_and_replace_files() {
        let args = ServeArgs {
            zones: vec![
                "SVC.cluster.local=/srv/svc.zone".into(),
                "example.org.=example.org.zone".into(),
            ],
            ..ServeArgs::default()
        };
        let config = parse_with(&args, FULL).expect("valid");
        let origins: Vec<String> = config.zones.iter().map(|z| z.origin.to_string()).collect();
        assert_eq!(
            origins,
            [
                "svc.cluster.local.",
                "10.in-addr.arpa.",
                "store.only.",
                "example.org."
            ]
        );
        let svc = &config.zones[0];
        assert_eq!(svc.file, Some(PathBuf::from("/srv/svc.zone")));
        assert_eq!(svc.policy, Some(AnswerPolicy::HoneOne), "policies stay");
        assert_eq!(svc.name_policies.len(), 2);
        let added = &config.zones[3];
        // Relative to the working directory, made absolute.
        let expected = std::env::current_dir().unwrap().join("example.org.zone");
        assert_eq!(added.file.as_ref(), Some(&expected));
        assert_eq!((added.policy, added.name_policies.len()), (None, 0));
    }

    #[test]
    fn workers_follow_cores_when_not_given() {
        let config = parse("[server]\ncores = [2, 3, 5]\n").expect("valid");
        assert_eq!(config.workers, 3);
        assert_eq!(config.cores, Some(vec![2, 3, 5]));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let message = file_error("[server]\nworkers = 2\nlisten_on = [\"127.0.0.1:53\"]\n");
        assert_mentions(&message, &[PATH, ":3:1:", "listen_on"]);
        let message = file_error("[server]\n[tls]\ncert = \"x\"\n");
        assert_mentions(&message, &[":2:", "tls"]);
        let message = file_error("[[zone]]\norigin = \"a.\"\npolicies = {}\n");
        assert_mentions(&message, &[":3:1:", "policies"]);
    }

    #[test]
    fn syntax_errors_report_line_and_column() {
        let message = file_error("[server]\nworkers = 2\npolicy = \"round-robin\n");
        assert_mentions(&message, &[PATH, ":3:"]);
        let message = file_error("[server]\n\n  workers = = 2\n");
        assert_mentions(&message, &[PATH, ":3:"]);
    }

    #[test]
    fn wrong_types_show_the_offending_line() {
        let message = file_error("[tcp]\n# comment\nmax_connections = \"many\"\n");
        assert_mentions(&message, &[":3:19:", "max_connections = \"many\""]);
        let message = file_error("[server]\nworkers = -1\n");
        assert_mentions(&message, &[":2:", "workers = -1"]);
    }

    #[test]
    fn bad_listen_addresses_are_rejected() {
        let message = file_error("[server]\nlisten = [\"127.0.0.1:53\", \"localhost:53\"]\n");
        assert_mentions(&message, &[":2:27:", "server.listen", "\"localhost:53\""]);
        let message = file_error("[server]\nlisten = [\"::1:53\"]\n");
        assert_mentions(&message, &["server.listen", "\"::1:53\"", "[::1]:53"]);
        let message = file_error("[server]\nlisten = []\n");
        assert_mentions(&message, &[":2:", "server.listen", "at least one"]);
        let message = file_error("[server]\nlisten = [\"[::1]:53\", \"[::1]:53\"]\n");
        assert_mentions(&message, &["server.listen", "twice"]);
        let message = flag_error_of(&ServeArgs {
            listen: vec!["127.0.0.1".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--listen", "\"127.0.0.1\""]);
    }

    #[test]
    fn bad_names_are_rejected() {
        let message = file_error("[[zone]]\norigin = \"a..example.\"\n");
        assert_mentions(&message, &[":2:", "zone.origin", "a..example."]);
        let long = "x".repeat(64);
        let message = file_error(&format!("[[zone]]\norigin = \"{long}.example.\"\n"));
        assert_mentions(&message, &["zone.origin", "63"]);
        let message =
            file_error("[[zone]]\norigin = \"a.\"\n[zone.names]\n\"b..a.\" = \"random-one\"\n");
        assert_mentions(&message, &[":4:", "zone.names", "b..a."]);
        let message = flag_error_of(&ServeArgs {
            zones: vec!["bad..origin=x.zone".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--zone", "bad..origin=x.zone", "origin"]);
    }

    #[test]
    fn unknown_policies_are_rejected() {
        let message = file_error("[server]\npolicy = \"fastest\"\n");
        assert_mentions(
            &message,
            &[":2:10:", "server.policy", "fastest", "round-robin"],
        );
        let message = file_error("[[zone]]\norigin = \"a.\"\npolicy = \"roundrobin\"\n");
        assert_mentions(&message, &[":3:", "zone.policy", "roundrobin"]);
        let message = file_error("[[zone]]\norigin = \"a.\"\nnames = { \"w.a.\" = \"hone\" }\n");
        assert_mentions(&message, &[":3:", "zone.names.\"w.a.\"", "\"hone\""]);
        let message = flag_error_of(&ServeArgs {
            policy: Some("Round-Robin".into()),
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--policy", "Round-Robin"]);
    }

    #[test]
    fn zone_flag_needs_an_equals_sign_and_a_path() {
        let message = flag_error_of(&ServeArgs {
            zones: vec!["svc.cluster.local".into()],
            ..ServeArgs::default()
        });
        assert_mentions(
            &message,
            &["--zone", "\"svc.cluster.local\"", "ORIGIN=PATH"],
        );
        let message = flag_error_of(&ServeArgs {
            zones: vec!["svc.cluster.local=".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--zone", "PATH is empty"]);
    }

    #[test]
    fn duplicate_zone_origins_are_rejected() {
        let message = file_error(
            "[[zone]]\norigin = \"svc.cluster.local.\"\n\n[[zone]]\norigin = \"SVC.cluster.local\"\n",
        );
        assert_mentions(
            &message,
            &[":5:", "zone.origin", "SVC.cluster.local", ":2:"],
        );
        let message = flag_error_of(&ServeArgs {
            zones: vec!["a.example=1.zone".into(), "a.example.=2.zone".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--zone", "a.example.=2.zone", "twice"]);
    }

    #[test]
    fn zero_workers_are_rejected() {
        let message = file_error("[server]\nworkers = 0\n");
        assert_mentions(&message, &[":2:11:", "server.workers = 0", "at least 1"]);
        let message = flag_error_of(&ServeArgs {
            workers: Some(0),
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--workers", "at least 1"]);
    }

    #[test]
    fn cores_must_match_workers() {
        let message = file_error("[server]\nworkers = 3\ncores = [0, 1]\n");
        assert_mentions(
            &message,
            &[":3:9:", "server.cores = [0, 1]", "server.workers is 3"],
        );
        let args = ServeArgs {
            workers: Some(4),
            ..ServeArgs::default()
        };
        let message = parse_with(&args, "[server]\ncores = [0, 1]\n")
            .unwrap_err()
            .to_string();
        assert_mentions(&message, &["server.cores", "--workers is 4"]);
        let message = file_error("[server]\nworkers = 1\ncores = []\n");
        assert_mentions(&message, &["server.cores = []"]);
    }

    #[test]
    fn name_overrides_must_lie_inside_their_zone() {
        let message = file_error(
            "[[zone]]\norigin = \"svc.cluster.local.\"\n[zone.names]\n\
             \"web.svc.cluster.local.\" = \"random-one\"\n\"web.other.local.\" = \"hone-one\"\n",
        );
        assert_mentions(
            &message,
            &[
                ":5:1:",
                "zone.names.\"web.other.local.\" = \"hone-one\"",
                "not inside zone svc.cluster.local.",
            ],
        );
        // A name merely ending in the same characters is not inside.
        let message =
            file_error("[[zone]]\norigin = \"local.\"\nnames = { \"xlocal.\" = \"hone-one\" }\n");
        assert_mentions(&message, &["xlocal."]);
        // The apex itself may have an override.
        parse("[[zone]]\norigin = \"local.\"\nnames = { \"local.\" = \"hone-one\" }\n")
            .expect("apex");
        let message = file_error(
            "[[zone]]\norigin = \"a.\"\nnames = { \"w.a.\" = \"hone-one\", \"W.a\" = \"hone-one\" }\n",
        );
        assert_mentions(&message, &["zone.names", "twice"]);
    }

    #[test]
    fn other_values_are_checked() {
        let message = file_error("[tcp]\nidle_timeout_ms = 0\n");
        assert_mentions(&message, &["tcp.idle_timeout_ms = 0"]);
        let message = file_error("[tcp]\nmax_connections = 0\n");
        assert_mentions(&message, &["tcp.max_connections = 0"]);
        let message = file_error("[tcp]\nwrite_timeout_ms = 0\n");
        assert_mentions(&message, &["tcp.write_timeout_ms = 0"]);
        let message = file_error(&format!("[chaos]\nversion = \"{}\"\n", "v".repeat(256)));
        assert_mentions(&message, &["chaos.version", "255"]);
        let message = file_error("[log]\nlevel = \"info,[\"\n");
        assert_mentions(&message, &[":2:", "log.level"]);
        let message = file_error("[[zone]]\norigin = \"a.\"\nfile = \"\"\n");
        assert_mentions(&message, &["zone.file", "empty"]);
        let message = file_error("[[zone]]\nfile = \"a.zone\"\n");
        assert_mentions(&message, &["origin"]);
        let message = flag_error_of(&ServeArgs {
            log: Some("info,[".into()),
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--log", "info,["]);
    }

    #[test]
    fn forward_flags_replace_the_nameservers() {
        let args = ServeArgs {
            forward: vec!["127.0.0.1:5300".into(), "::1".into()],
            ..ServeArgs::default()
        };
        let config = parse_with(&args, FULL).expect("valid");
        assert_eq!(
            config.forward.nameservers,
            vec![
                "127.0.0.1:5300".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(config.forward.zones.len(), 2, "zones stay");
        let defaults = load(&ServeArgs::default()).unwrap().forward;
        assert_eq!(defaults, ForwardSettings::default());
        assert!(defaults.nameservers.is_empty() && defaults.zones.is_empty());
        assert_eq!(defaults.per_client_qps, 0, "rate limit off by default");
    }

    #[test]
    fn bad_forward_settings_are_rejected() {
        let message = file_error("[forward]\nnameservers = [\"dns.google:53\"]\n");
        assert_mentions(
            &message,
            &[":2:16:", "forward.nameservers", "dns.google:53"],
        );
        let message = file_error("[forward]\nnameservers = [\"10.0.0.1:0\"]\n");
        assert_mentions(&message, &["forward.nameservers", "port other than 0"]);
        let message = file_error("[forward]\nnameservers = [\"10.0.0.1\", \"10.0.0.1:53\"]\n");
        assert_mentions(&message, &["forward.nameservers", "twice"]);
        let message = file_error("[forward]\ntimeout_ms = 0\n");
        assert_mentions(&message, &[":2:", "forward.timeout_ms"]);
        let message = file_error("[forward]\ntimeout_ms = 500\ndeadline_ms = 100\n");
        assert_mentions(
            &message,
            &[":3:", "forward.deadline_ms = 100", "timeout_ms (500 ms)"],
        );
        let message = file_error("[forward]\ntimeout_ms = 5000\n");
        assert_mentions(
            &message,
            &["forward.timeout_ms = 5000", "deadline_ms (3000 ms)"],
        );
        let message = file_error("[forward]\nper_client_qps = -1\n");
        assert_mentions(&message, &[":2:", "per_client_qps"]);
        let message = file_error("[forward]\nupstreams = []\n");
        assert_mentions(&message, &[":2:1:", "upstreams"]);
        let message = file_error("[forward.zones]\n\"corp..example\" = [\"10.0.0.1\"]\n");
        assert_mentions(&message, &[":2:", "forward.zones.\"corp..example\""]);
        let message = file_error("[forward.zones]\n\"corp.example\" = []\n");
        assert_mentions(
            &message,
            &[":2:", "forward.zones.\"corp.example\"", "at least one"],
        );
        let message = file_error(
            "[forward.zones]\n\"corp.example\" = [\"10.0.0.1\"]\n\"CORP.example.\" = [\"10.0.0.2\"]\n",
        );
        assert_mentions(&message, &["forward.zones", "twice"]);
        let message = file_error("[forward.zones]\n\"corp.example\" = [\"x\"]\n");
        assert_mentions(&message, &[":2:", "forward.zones.\"corp.example\" = \"x\""]);
        let message = flag_error_of(&ServeArgs {
            forward: vec!["resolver:53".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--forward", "\"resolver:53\""]);
        let message = flag_error_of(&ServeArgs {
            forward: vec!["10.0.0.1".into(), "10.0.0.1:53".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--forward", "twice"]);
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let args = ServeArgs {
            config: Some("/nonexistent/ferrodns.toml".into()),
            ..ServeArgs::default()
        };
        assert!(matches!(load(&args), Err(ConfigError::Read { .. })));
        assert_mentions(&flag_error_of(&args), &["/nonexistent/ferrodns.toml"]);
    }

    #[test]
    fn render_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = parse(FULL).expect("valid");
        let text = render(&config);
        assert!(
            text.contains("[[zone]]") && text.contains("[zone.names]"),
            "{text}"
        );
        let path = dir.path().join("effective.toml");
        std::fs::write(&path, &text).expect("write");
        let again = load(&ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again, config);

        let defaults = load(&ServeArgs::default()).expect("defaults");
        let again = parse(&render(&defaults)).expect("rendered defaults parse");
        assert_eq!(again, defaults);
    }

    #[test]
    fn example_in_docs_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/ferrodns.toml");
        let config = load(&ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = std::path::absolute(path.parent().unwrap()).unwrap();
        assert_eq!(config.workers, config.cores.as_ref().map_or(0, Vec::len));
        let zones: Vec<_> = config
            .zones
            .iter()
            .map(|z| (z.origin.to_string(), z.file.clone()))
            .collect();
        assert_eq!(
            zones,
            [
                (
                    "svc.cluster.local.".to_owned(),
                    Some(dir.join("svc.cluster.local.zone"))
                ),
                (
                    "10.in-addr.arpa.".to_owned(),
                    Some(dir.join("10.in-addr.arpa.zone"))
                ),
            ]
        );
        assert!(config.chaos_version.is_some() && config.store.is_some());
    }

    const ETCD: &str = r#"
[etcd]
endpoints = ["https://etcd1:2379", "https://10.0.0.2:2379/"]
ca_file = "tls/ca.pem"
cert_file = "/etc/ferrodns/tls/client.pem"
key_file = "tls/client-key.pem"
username = "ferrodns"
password_file = "etcd.password"
skydns_prefix = ""
health_prefix = "/health/"
snapshot = "/var/lib/ferrodns/etcd.snapshot"
timeout_ms = 2000
[[zone]]
origin = "svc.example."
policy = "hone-one"
[[zone]]
origin = "static.example."
file = "static.zone"
"#;

    #[test]
    fn etcd_section_parses() {
        let config = parse(ETCD).expect("valid");
        let etcd = config.etcd.clone().expect("etcd");
        assert_eq!(
            etcd.endpoints,
            ["https://etcd1:2379", "https://10.0.0.2:2379"]
        );
        assert_eq!(
            etcd.ca_file,
            Some(PathBuf::from("/etc/ferrodns/tls/ca.pem"))
        );
        assert_eq!(
            etcd.cert_file,
            Some(PathBuf::from("/etc/ferrodns/tls/client.pem"))
        );
        assert_eq!(
            etcd.key_file,
            Some(PathBuf::from("/etc/ferrodns/tls/client-key.pem"))
        );
        assert_eq!(etcd.username.as_deref(), Some("ferrodns"));
        assert_eq!(
            etcd.password_file,
            Some(PathBuf::from("/etc/ferrodns/etcd.password"))
        );
        assert_eq!(etcd.layouts.containerdns.as_deref(), Some("/containerdns/"));
        assert_eq!(etcd.layouts.skydns, None);
        assert_eq!(etcd.layouts.health.as_deref(), Some("/health/"));
        assert_eq!(etcd.timeout, Duration::from_millis(2000));
        assert_eq!(config.etcd_zones(), [name("svc.example.")]);
        // Round trip through check-config's output.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("effective.toml");
        std::fs::write(&path, render(&config)).expect("write");
        let again = load(&ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .expect("rendered config loads");
        assert_eq!(again, config);
    }

    #[test]
    fn etcd_and_domain_flags() {
        let args = ServeArgs {
            etcd: vec!["https://127.0.0.1:2379".into()],
            domains: vec!["svc.example".into(), "other.example.".into()],
            etcd_snapshot: Some("snap".into()),
            ..ServeArgs::default()
        };
        let config = parse_with(&args, ETCD).expect("valid");
        let etcd = config.etcd.clone().expect("etcd");
        // --etcd replaces the endpoints.
        assert_eq!(etcd.endpoints, ["https://127.0.0.1:2379"]);
        assert_eq!(config.zones.len(), 3, "svc.example. is not added twice");
        assert_eq!(config.zones[0].policy, Some(AnswerPolicy::HoneOne));
        assert_eq!(
            config.etcd_zones(),
            [name("svc.example."), name("other.example.")]
        );
        assert!(etcd.snapshot.is_some_and(|p| p.is_absolute()));

        // Without etcd a --domain zone is a store zone.
        let config = load(&ServeArgs {
            domains: vec!["svc.example".into()],
            ..ServeArgs::default()
        })
        .expect("valid");
        assert_eq!((config.zones.len(), config.etcd_zones().len()), (1, 0));
    }

    #[test]
    fn bad_etcd_settings_are_rejected() {
        let with_domain = |section: &str| format!("{section}\n[[zone]]\norigin = \"a.\"\n");
        let cases = [
            (
                "[etcd]\nendpoints = [\"127.0.0.1:2379\"]",
                vec![":2:", "etcd.endpoints", "http://HOST:PORT"],
            ),
            (
                "[etcd]\nendpoints = [\"http://etcd\"]",
                vec!["etcd.endpoints", "with the port"],
            ),
            (
                "[etcd]\nendpoints = []",
                vec!["etcd.endpoints", "at least one"],
            ),
            ("[etcd]\ntimeout_ms = 5", vec!["needs endpoints"]),
            (
                "[etcd]\nendpoints = [\"http://a:1\", \"https://b:2\"]",
                vec!["mixes http:// and https://"],
            ),
            (
                "[etcd]\nendpoints = [\"http://a:1\"]\nca_file = \"ca.pem\"",
                vec!["use http://"],
            ),
            (
                "[etcd]\nendpoints = [\"https://a:1\"]\ncert_file = \"c.pem\"",
                vec!["etcd.cert_file", "go together"],
            ),
            (
                "[etcd]\nendpoints = [\"http://a:1\"]\nusername = \"u\"",
                vec!["password_file"],
            ),
            (
                "[etcd]\nendpoints = [\"http://a:1\"]\nskydns_prefix = \"skydns\"",
                vec![":3:", "etcd.skydns_prefix", "starts and ends with `/`"],
            ),
            (
                "[etcd]\nendpoints = [\"http://a:1\"]\ntimeout_ms = 0",
                vec!["etcd.timeout_ms"],
            ),
            (
                "[etcd]\nendpoint = [\"http://a:1\"]",
                vec!["unknown field `endpoint`"],
            ),
        ];
        for (text, words) in cases {
            assert_mentions(&file_error(&with_domain(text)), &words);
        }
        let message = file_error("[etcd]\nendpoints = [\"http://a:1\"]\n");
        assert_mentions(&message, &["no zone takes its records", "--domain"]);
        let message = flag_error_of(&ServeArgs {
            etcd: vec!["etcd:2379".into()],
            domains: vec!["a.".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--etcd", "etcd:2379"]);
        let message = flag_error_of(&ServeArgs {
            domains: vec!["a..b".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--domain", "a..b"]);
        let message = flag_error_of(&ServeArgs {
            domains: vec!["a.".into(), "A".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--domain", "twice"]);
        let message = flag_error_of(&ServeArgs {
            zones: vec!["a.=a.zone".into()],
            domains: vec!["a.".into()],
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--domain", "zone file"]);
        let message = flag_error_of(&ServeArgs {
            etcd_snapshot: Some("s".into()),
            ..ServeArgs::default()
        });
        assert_mentions(&message, &["--etcd-snapshot", "--etcd URL"]);
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let at = text.find('=').map(|_| text.rfind('=').unwrap()).unwrap();
        assert_eq!(line_column(text, at), (2, 4));
        assert_eq!(line_column(text, text.len() + 10), (3, 1));
    }

    const DPDK: &str = r#"
[server]
listen = ["192.0.2.53:53", "[2001:db8::53]:53"]
[dataplane]
backend = "dpdk"
eal = "-l 0-2  --vdev net_af_packet0,iface=eth1,qpairs=2"
port = "net_af_packet0"
kernel_interface = "fdns-test"
ipv4_prefix_len = 25
ipv6_prefix_len = 112
mbufs = 8191
descriptors = 512
idle_sleep_us = 50
"#;

    #[test]
    fn the_dpdk_dataplane_section_parses_and_renders_back() {
        let config = parse(DPDK).expect("valid");
        let expected = Dataplane::Dpdk(DpdkSettings {
            eal_args: vec![
                "-l".into(),
                "0-2".into(),
                "--vdev".into(),
                "net_af_packet0,iface=eth1,qpairs=2".into(),
            ],
            port: Some("net_af_packet0".into()),
            kernel_interface: "fdns-test".into(),
            ipv4_prefix_len: 25,
            ipv6_prefix_len: 112,
            mbufs: 8191,
            descriptors: 512,
            idle_sleep: Some(Duration::from_micros(50)),
        });
        assert_eq!(config.dataplane, expected);
        let again = parse(&render(&config)).expect("rendered config loads");
        assert_eq!(again, config);
    }

    #[test]
    fn the_dpdk_flag_selects_the_backend_with_defaults() {
        let args = ServeArgs {
            listen: vec!["192.0.2.53:53".into()],
            dpdk: Some("-l 0-1 --vdev=net_pcap0,rx_pcap=q.pcap".into()),
            ..ServeArgs::default()
        };
        let config = load(&args).expect("valid");
        let Dataplane::Dpdk(dpdk) = config.dataplane else {
            panic!("expected the DPDK backend, got {:?}", config.dataplane);
        };
        assert_eq!(
            dpdk.eal_args,
            ["-l", "0-1", "--vdev=net_pcap0,rx_pcap=q.pcap"]
        );
        assert_eq!(dpdk.port, None);
        assert_eq!(dpdk.kernel_interface, DEFAULT_KERNEL_INTERFACE);
        assert_eq!((dpdk.ipv4_prefix_len, dpdk.ipv6_prefix_len), (24, 64));
        assert_eq!(
            (dpdk.mbufs, dpdk.descriptors, dpdk.idle_sleep),
            (DEFAULT_MBUFS, DEFAULT_DESCRIPTORS, None)
        );
        // The flag overrides the file's EAL arguments.
        let file = load_text(&args, Some((Path::new(PATH), DPDK))).expect("valid");
        let Dataplane::Dpdk(dpdk) = file.dataplane else {
            panic!()
        };
        assert_eq!(
            dpdk.eal_args,
            ["-l", "0-1", "--vdev=net_pcap0,rx_pcap=q.pcap"]
        );
        assert_eq!(dpdk.kernel_interface, "fdns-test");
    }

    #[test]
    fn bad_dataplane_settings_are_rejected_with_their_line() {
        let cases = [
            ("[dataplane]\nbackend = \"xdp\"\n", "dataplane.backend"),
            ("[dataplane]\nbackend = \"dpdk\"\n", "needs dataplane.eal"),
            (
                "[dataplane]\nbackend = \"dpdk\"\neal = \" \"\n",
                "dataplane.eal",
            ),
            (
                "[server]\nlisten = [\"1.2.3.4:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\nipv4_prefix_len = 33\n",
                "dataplane.ipv4_prefix_len",
            ),
            (
                "[server]\nlisten = [\"1.2.3.4:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\nkernel_interface = \"a-name-that-is-too-long\"\n",
                "dataplane.kernel_interface",
            ),
            (
                "[server]\nlisten = [\"1.2.3.4:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\ndescriptors = 8\n",
                "dataplane.descriptors",
            ),
            ("[dataplane]\nqueues = 2\n", "queues"),
        ];
        for (text, part) in cases {
            let message = file_error(text);
            assert_mentions(&message, &[PATH, part]);
        }
        let wildcard = "[server]\nlisten = [\"0.0.0.0:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\n";
        assert_mentions(
            &file_error(wildcard),
            &["0.0.0.0:53", "concrete IP address"],
        );
    }

    #[test]
    fn the_api_section_parses_renders_back_and_yields_to_flags() {
        let text = "[store]\npath = \"records.redb\"\n\n[api]\nlisten = \"127.0.0.1:8053\"\n\
                    token_file = \"token\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\
                    max_body_bytes = 4096\n";
        let config = parse(text).expect("valid");
        let expected = ApiSettings {
            listen: "127.0.0.1:8053".parse().expect("addr"),
            token_file: Some("/etc/ferrodns/token".into()),
            tls: Some(ApiTls {
                cert: "/etc/ferrodns/cert.pem".into(),
                key: "/etc/ferrodns/key.pem".into(),
            }),
            max_body_bytes: 4096,
        };
        assert_eq!(config.api.as_ref(), Some(&expected));
        let again = parse(&render(&config)).expect("rendered config parses");
        assert_eq!(again.api, config.api);

        let flags = ServeArgs {
            api: Some("127.0.0.1:9053".into()),
            ..ServeArgs::default()
        };
        let config = parse_with(&flags, "[store]\npath = \"r.redb\"\n").expect("valid");
        let api = config.api.expect("api from the flag");
        assert_eq!(api.listen.port(), 9053);
        assert_eq!(api.max_body_bytes, DEFAULT_API_MAX_BODY_BYTES);
        assert_eq!((api.token_file, api.tls), (None, None));
    }

    #[test]
    fn bad_api_settings_are_rejected() {
        assert_mentions(
            &file_error("[store]\npath = \"r\"\n[api]\nlisten = \"localhost:8053\"\n"),
            &["api.listen", "localhost:8053"],
        );
        assert_mentions(
            &file_error(
                "[store]\npath = \"r\"\n[api]\nlisten = \"127.0.0.1:8053\"\ntls_cert = \"c\"\n",
            ),
            &["api.tls_cert", "api.tls_key"],
        );
        assert_mentions(
            &file_error(
                "[store]\npath = \"r\"\n[api]\nlisten = \"127.0.0.1:8053\"\nmax_body_bytes = 0\n",
            ),
            &["api.max_body_bytes"],
        );
        assert_mentions(
            &file_error("[api]\nlisten = \"127.0.0.1:8053\"\n"),
            &["--store", "--etcd"],
        );
    }
}
