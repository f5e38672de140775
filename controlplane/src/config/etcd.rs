//! `[etcd]` with `--etcd` and `--etcd-snapshot`: the etcd v3 cluster records and
//! backend health come from, and the key layouts read from it.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Location};
use super::file::{RawEtcd, Text};
use super::merge::{Merge, flag_error};

/// Default `etcd.timeout_ms`.
pub const DEFAULT_ETCD_TIMEOUT: Duration = Duration::from_secs(5);
/// Default prefix of the containerdns layout.
pub const DEFAULT_CONTAINERDNS_PREFIX: &str = "/containerdns/";
/// Default prefix of the CoreDNS etcd plugin layout (external-dns's default too).
pub const DEFAULT_SKYDNS_PREFIX: &str = "/skydns/";
/// Default prefix of containerdns health status keys.
pub const DEFAULT_HEALTH_PREFIX: &str = "/containerdns/monitor/status/";

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

/// Key prefixes of the layouts ferrodns reads; `None` turns a layout off. Each
/// prefix ends in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layouts {
    /// containerdns records, `/containerdns/` by default.
    pub containerdns: Option<String>,
    /// CoreDNS etcd plugin (skydns) records, `/skydns/` by default.
    pub skydns: Option<String>,
    /// containerdns backend health, `/containerdns/monitor/status/` by default.
    pub health: Option<String>,
}

impl Default for Layouts {
    fn default() -> Self {
        Layouts {
            containerdns: Some(DEFAULT_CONTAINERDNS_PREFIX.into()),
            skydns: Some(DEFAULT_SKYDNS_PREFIX.into()),
            health: Some(DEFAULT_HEALTH_PREFIX.into()),
        }
    }
}

/// The TLS files of the etcd client.
struct TlsFiles {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

impl Merge<'_> {
    /// `[etcd]`; `None` when neither the section nor `--etcd` is given.
    pub(super) fn etcd(
        &self,
        raw: Option<Spanned<RawEtcd>>,
    ) -> Result<Option<EtcdSettings>, ConfigError> {
        let (span, raw) = match raw {
            Some(raw) => (Some(raw.span()), raw.into_inner()),
            None => (None, RawEtcd::default()),
        };
        let endpoints = self.etcd_endpoints(&raw)?;
        if endpoints.is_empty() {
            if let Some(span) = span {
                return Err(ConfigError::Invalid {
                    at: self.source().at(span),
                    key: "etcd.endpoints".into(),
                    value: "[]".into(),
                    reason: "an [etcd] section needs endpoints (or --etcd URL)".into(),
                });
            }
            if let Some(path) = &self.flags.etcd_snapshot {
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
        let tls = self.etcd_tls(&raw, https != 0)?;
        let (username, password_file) = self.etcd_user(&raw)?;
        let layouts = self.layouts(&raw)?;
        let snapshot = self.path_setting(
            ("--etcd-snapshot", self.flags.etcd_snapshot.as_deref()),
            ("etcd.snapshot", raw.snapshot.as_ref()),
        )?;
        let timeout = self.milliseconds(raw.timeout_ms.as_ref(), "etcd.timeout_ms")?;
        Ok(Some(EtcdSettings {
            endpoints,
            ca_file: tls.ca_file,
            cert_file: tls.cert_file,
            key_file: tls.key_file,
            username,
            password_file,
            layouts,
            snapshot,
            timeout: timeout.unwrap_or(DEFAULT_ETCD_TIMEOUT),
        }))
    }

    /// `--etcd` or `etcd.endpoints`; empty when neither is given.
    fn etcd_endpoints(&self, raw: &RawEtcd) -> Result<Vec<String>, ConfigError> {
        if !self.flags.etcd.is_empty() {
            return self
                .flags
                .etcd
                .iter()
                .map(|text| etcd_endpoint(text).map_err(|r| flag_error("--etcd", text, r)))
                .collect();
        }
        let Some(list) = &raw.endpoints else {
            return Ok(Vec::new());
        };
        if list.get_ref().is_empty() {
            let reason = "needs at least one endpoint".to_owned();
            return Err(self.invalid(list, "etcd.endpoints", reason));
        }
        list.get_ref()
            .iter()
            .map(|text| {
                etcd_endpoint(text.get_ref()).map_err(|r| self.invalid(text, "etcd.endpoints", r))
            })
            .collect()
    }

    /// The CA and the client certificate and key, for `https` endpoints only.
    fn etcd_tls(&self, raw: &RawEtcd, https: bool) -> Result<TlsFiles, ConfigError> {
        let tls = TlsFiles {
            ca_file: self.optional_path(raw.ca_file.as_ref(), "etcd.ca_file")?,
            cert_file: self.optional_path(raw.cert_file.as_ref(), "etcd.cert_file")?,
            key_file: self.optional_path(raw.key_file.as_ref(), "etcd.key_file")?,
        };
        match (&raw.cert_file, &raw.key_file) {
            (Some(value), None) => return Err(self.unpaired(value, "etcd.cert_file")),
            (None, Some(value)) => return Err(self.unpaired(value, "etcd.key_file")),
            _ => {}
        }
        if !https && let Some(value) = raw.ca_file.as_ref().or(raw.cert_file.as_ref()) {
            return Err(self.invalid(
                value,
                "etcd TLS",
                "TLS files are given but the endpoints use http://".into(),
            ));
        }
        Ok(tls)
    }

    /// A client certificate without its key, or a key without its certificate.
    fn unpaired(&self, value: &Text, key: &str) -> ConfigError {
        let reason = "etcd.cert_file and etcd.key_file go together".to_owned();
        self.invalid(value, key, reason)
    }

    /// The user and the file of its password, both or neither.
    fn etcd_user(&self, raw: &RawEtcd) -> Result<(Option<String>, Option<PathBuf>), ConfigError> {
        let username = raw.username.as_ref().map(|v| v.get_ref().clone());
        let password_file = self.optional_path(raw.password_file.as_ref(), "etcd.password_file")?;
        if username.is_some() != password_file.is_some()
            && let Some(value) = raw.username.as_ref().or(raw.password_file.as_ref())
        {
            return Err(self.invalid(
                value,
                "etcd.username",
                "etcd.username and etcd.password_file go together".into(),
            ));
        }
        Ok((username, password_file))
    }

    /// The layout prefixes, each defaulting to its layout's default.
    fn layouts(&self, raw: &RawEtcd) -> Result<Layouts, ConfigError> {
        let defaults = Layouts::default();
        Ok(Layouts {
            containerdns: self
                .prefix(raw.containerdns_prefix.as_ref(), "etcd.containerdns_prefix")?
                .unwrap_or(defaults.containerdns),
            skydns: self
                .prefix(raw.skydns_prefix.as_ref(), "etcd.skydns_prefix")?
                .unwrap_or(defaults.skydns),
            health: self
                .prefix(raw.health_prefix.as_ref(), "etcd.health_prefix")?
                .unwrap_or(defaults.health),
        })
    }

    /// A layout prefix: `""` turns the layout off, anything else is an absolute key
    /// path ending in `/`. `None` when not given.
    #[allow(clippy::option_option)]
    fn prefix(
        &self,
        value: Option<&Text>,
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
