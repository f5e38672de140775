//! `[api]` with `--api` and `--api-token-file`: the REST API (docs/api.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::file::RawApi;
use super::merge::{Merge, socket_addr};

/// Default `api.max_body_bytes`: 1 MiB.
pub const DEFAULT_API_MAX_BODY_BYTES: usize = 1 << 20;
/// Default `api.max_connections`.
pub const DEFAULT_API_MAX_CONNECTIONS: usize = 64;
/// Default `api.max_connections_per_source`.
pub const DEFAULT_API_MAX_CONNECTIONS_PER_SOURCE: usize = 16;
/// Default `api.idle_timeout_ms`.
pub const DEFAULT_API_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `api.header_timeout_ms`.
pub const DEFAULT_API_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `api.body_timeout_ms`.
pub const DEFAULT_API_BODY_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Connections open at once; more are closed when accepted.
    pub max_connections: usize,
    /// Connections open at once from one source (an IPv4 address, an IPv6 /64).
    pub max_connections_per_source: usize,
    /// Time a connection may wait for the first byte of its next request.
    pub idle_timeout: Duration,
    /// Time a request's head may take from its first byte to its end.
    pub header_timeout: Duration,
    /// Time a request's body may take from the end of its head; then `408`.
    pub body_timeout: Duration,
}

/// The API's certificate chain and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Merge<'_> {
    /// `[api]`; `None` when no listen address is given.
    pub(super) fn api(&self, raw: &RawApi) -> Result<Option<ApiSettings>, ConfigError> {
        let listen = self.flag_or_key(
            ("--api", self.flags.api.as_deref()),
            ("api.listen", raw.listen.as_ref()),
            socket_addr,
        )?;
        let Some(listen) = listen else {
            return Ok(None);
        };
        let token_file = self.path_setting(
            ("--api-token-file", self.flags.api_token_file.as_deref()),
            ("api.token_file", raw.token_file.as_ref()),
        )?;
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
        let max_body_bytes =
            self.bounded(raw.max_body_bytes.as_ref(), "api.max_body_bytes", 1..)?;
        let max_connections =
            self.bounded(raw.max_connections.as_ref(), "api.max_connections", 1..)?;
        let max_connections_per_source = self.bounded(
            raw.max_connections_per_source.as_ref(),
            "api.max_connections_per_source",
            1..,
        )?;
        let idle_timeout =
            self.milliseconds(raw.idle_timeout_ms.as_ref(), "api.idle_timeout_ms")?;
        let header_timeout =
            self.milliseconds(raw.header_timeout_ms.as_ref(), "api.header_timeout_ms")?;
        let body_timeout =
            self.milliseconds(raw.body_timeout_ms.as_ref(), "api.body_timeout_ms")?;
        Ok(Some(ApiSettings {
            listen,
            token_file,
            tls,
            max_body_bytes: max_body_bytes.unwrap_or(DEFAULT_API_MAX_BODY_BYTES),
            max_connections: max_connections.unwrap_or(DEFAULT_API_MAX_CONNECTIONS),
            max_connections_per_source: max_connections_per_source
                .unwrap_or(DEFAULT_API_MAX_CONNECTIONS_PER_SOURCE),
            idle_timeout: idle_timeout.unwrap_or(DEFAULT_API_IDLE_TIMEOUT),
            header_timeout: header_timeout.unwrap_or(DEFAULT_API_HEADER_TIMEOUT),
            body_timeout: body_timeout.unwrap_or(DEFAULT_API_BODY_TIMEOUT),
        }))
    }
}
