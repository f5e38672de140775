//! The server-wide settings: `[server]` (listen addresses, workers, cores, the
//! default policy), `[tcp]`, `[store]`, `[chaos]` and `[log]`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ferrodns_dataplane::record::AnswerPolicy;
use toml::Spanned;

use super::error::ConfigError;
use super::file::{RawTcp, Text, TextList};
use super::merge::{Merge, flag_error, parse_policy, socket_addr};

/// Listen addresses when neither `--listen` nor `server.listen` is given.
pub const DEFAULT_LISTEN: [SocketAddr; 2] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53),
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 53),
];
/// Default log filter.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// How log lines are written (`log.format`, `--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event; colours only on a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The name the file and the flag use.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        }
    }
}
/// Default `tcp.idle_timeout_ms`.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `tcp.max_connections`.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
/// Default `tcp.max_connections_per_source`.
pub const DEFAULT_TCP_MAX_CONNECTIONS_PER_SOURCE: usize = 64;
/// Default `tcp.write_timeout_ms`.
pub const DEFAULT_TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest CHAOS TXT answer: one character-string (RFC 1035 §3.3).
const MAX_CHAOS_LEN: usize = 255;

/// DNS-over-TCP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSettings {
    /// Close a connection that sends no query for this long.
    pub idle_timeout: Duration,
    /// Connections open at once, over every listen address; more are refused.
    pub max_connections: usize,
    /// Connections open at once from one source (an IPv4 address, an IPv6 /64).
    pub max_connections_per_source: usize,
    /// Close a connection whose reply cannot be written within this time.
    pub write_timeout: Duration,
}

impl Default for TcpSettings {
    fn default() -> Self {
        TcpSettings {
            idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            max_connections_per_source: DEFAULT_TCP_MAX_CONNECTIONS_PER_SOURCE,
            write_timeout: DEFAULT_TCP_WRITE_TIMEOUT,
        }
    }
}

/// Where a workers count came from, to explain a cores mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkersFrom {
    Flag,
    File,
    Cores,
    Cpus,
}

impl Merge<'_> {
    /// `--listen` or `server.listen`.
    pub(super) fn listen(&self, file: Option<&TextList>) -> Result<Vec<SocketAddr>, ConfigError> {
        let listen = self.addresses(
            ("--listen", &self.flags.listen),
            ("server.listen", file),
            socket_addr,
            false,
        )?;
        Ok(listen.unwrap_or_else(|| DEFAULT_LISTEN.to_vec()))
    }

    /// `--workers` or `server.workers`, and `server.cores`.
    pub(super) fn workers(
        &self,
        file_workers: Option<Spanned<usize>>,
        file_cores: Option<Spanned<Vec<usize>>>,
    ) -> Result<(usize, Option<Vec<usize>>), ConfigError> {
        let (workers, from) = match (self.flags.workers, &file_workers, &file_cores) {
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

    /// `--policy` or `server.policy`.
    pub(super) fn default_policy(&self, file: Option<&Text>) -> Result<AnswerPolicy, ConfigError> {
        let policy = self.flag_or_key(
            ("--policy", self.flags.policy.as_deref()),
            ("server.policy", file),
            parse_policy,
        )?;
        Ok(policy.unwrap_or_default())
    }

    /// `[tcp]`.
    pub(super) fn tcp(&self, raw: &RawTcp) -> Result<TcpSettings, ConfigError> {
        let idle_timeout =
            self.milliseconds(raw.idle_timeout_ms.as_ref(), "tcp.idle_timeout_ms")?;
        let max_connections =
            self.bounded(raw.max_connections.as_ref(), "tcp.max_connections", 1..)?;
        let max_connections_per_source = self.bounded(
            raw.max_connections_per_source.as_ref(),
            "tcp.max_connections_per_source",
            1..,
        )?;
        let write_timeout =
            self.milliseconds(raw.write_timeout_ms.as_ref(), "tcp.write_timeout_ms")?;
        Ok(TcpSettings {
            idle_timeout: idle_timeout.unwrap_or(DEFAULT_TCP_IDLE_TIMEOUT),
            max_connections: max_connections.unwrap_or(DEFAULT_TCP_MAX_CONNECTIONS),
            max_connections_per_source: max_connections_per_source
                .unwrap_or(DEFAULT_TCP_MAX_CONNECTIONS_PER_SOURCE),
            write_timeout: write_timeout.unwrap_or(DEFAULT_TCP_WRITE_TIMEOUT),
        })
    }

    /// `--store` or `store.path`.
    pub(super) fn store(&self, file: Option<&Text>) -> Result<Option<PathBuf>, ConfigError> {
        self.path_setting(
            ("--store", self.flags.store.as_deref()),
            ("store.path", file),
        )
    }

    /// `chaos.version` or `chaos.id`: one TXT string.
    pub(super) fn chaos(
        &self,
        value: Option<Text>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        if value.get_ref().len() > MAX_CHAOS_LEN {
            let reason = format!("longer than {MAX_CHAOS_LEN} bytes (one TXT string)");
            return Err(self.invalid(&value, key, reason));
        }
        Ok(Some(value.into_inner()))
    }

    /// `--log` (or `FERRODNS_LOG`) or `log.level`.
    pub(super) fn log_level(&self, file: Option<&Text>) -> Result<String, ConfigError> {
        let level = self.flag_or_key(
            ("--log/FERRODNS_LOG", self.flags.log.as_deref()),
            ("log.level", file),
            log_filter,
        )?;
        Ok(level.unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned()))
    }

    /// `--log-format` (or `FERRODNS_LOG_FORMAT`) or `log.format`.
    pub(super) fn log_format(&self, file: Option<&Text>) -> Result<LogFormat, ConfigError> {
        let format = self.flag_or_key(
            ("--log-format", self.flags.log_format.as_deref()),
            ("log.format", file),
            str::parse,
        )?;
        Ok(format.unwrap_or_default())
    }
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

/// What `server.workers` defaults to.
pub(super) fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
