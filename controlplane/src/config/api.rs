//! `[api]` with `--api` and `--api-token-file`: the REST API (docs/api.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::error::ConfigError;
use super::file::RawApi;
use super::merge::{Merge, socket_addr};

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
        Ok(Some(ApiSettings {
            listen,
            token_file,
            tls,
            max_body_bytes: max_body_bytes.unwrap_or(DEFAULT_API_MAX_BODY_BYTES),
        }))
    }
}
