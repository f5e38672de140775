//! `[pdns_remote]` with `--pdns-remote`: PowerDNS remote backends polled for
//! their zones, such as the socket an OpenSVC agent serves its cluster's records
//! on (docs/opensvc.md).
//!
//! A backend is named by PowerDNS's own `remote-connection-string`, so that a
//! `pdns.conf` line can be copied as it is: `unix:path=SOCKET[,timeout=MS]`. Only
//! the unix connector exists here (the pipe, HTTP and ZeroMQ connectors of
//! PowerDNS do not); `timeout` is PowerDNS's too, 2000 ms by default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::ConfigError;
use super::file::RawPdnsRemote;
use super::merge::{Merge, flag_error};
use super::render::millis;

/// Default `pdns_remote.poll_interval_ms`.
pub const DEFAULT_PDNS_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Default time a backend gets to answer one request (PowerDNS's default).
pub const DEFAULT_PDNS_TIMEOUT: Duration = Duration::from_millis(2000);
/// Default `pdns_remote.max_reply_bytes`: 64 MiB.
pub const DEFAULT_PDNS_MAX_REPLY_BYTES: usize = 64 << 20;
/// Most remote backends one server polls.
pub const MAX_PDNS_REMOTES: usize = 16;

/// The remote backends and how they are polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdnsRemoteSettings {
    /// The backends, in the order given: the n-th is source `PdnsRemote(n)`.
    /// Never empty, at most [`MAX_PDNS_REMOTES`].
    pub remotes: Vec<PdnsRemote>,
    /// Time between the starts of two polls of one backend.
    pub poll_interval: Duration,
    /// Largest reply read from a backend; a longer one fails the poll.
    pub max_reply_bytes: usize,
}

/// One remote backend: a unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdnsRemote {
    /// The socket (absolute).
    pub path: PathBuf,
    /// Time each request gets for its whole reply.
    pub timeout: Duration,
}

impl PdnsRemote {
    /// The connection string that gives this backend back.
    pub fn connection_string(&self) -> String {
        format!(
            "unix:path={},timeout={}",
            self.path.display(),
            millis(self.timeout)
        )
    }
}

impl Merge<'_> {
    /// `[pdns_remote]`; `None` when neither the section nor `--pdns-remote` is given.
    pub(super) fn pdns_remote(
        &self,
        raw: Option<Spanned<RawPdnsRemote>>,
    ) -> Result<Option<PdnsRemoteSettings>, ConfigError> {
        let (span, raw) = match raw {
            Some(raw) => (Some(raw.span()), raw.into_inner()),
            None => (None, RawPdnsRemote::default()),
        };
        let remotes = self.pdns_remotes(&raw)?;
        if remotes.is_empty() {
            return match span {
                Some(span) => Err(ConfigError::Invalid {
                    at: self.source().at(span),
                    key: "pdns_remote.connections".into(),
                    value: "[]".into(),
                    reason: "a [pdns_remote] section needs connections (or --pdns-remote)".into(),
                }),
                None => Ok(None),
            };
        }
        let poll_interval = self.milliseconds(
            raw.poll_interval_ms.as_ref(),
            "pdns_remote.poll_interval_ms",
        )?;
        let max_reply_bytes = self.bounded(
            raw.max_reply_bytes.as_ref(),
            "pdns_remote.max_reply_bytes",
            1024..,
        )?;
        Ok(Some(PdnsRemoteSettings {
            remotes,
            poll_interval: poll_interval.unwrap_or(DEFAULT_PDNS_POLL_INTERVAL),
            max_reply_bytes: max_reply_bytes.unwrap_or(DEFAULT_PDNS_MAX_REPLY_BYTES),
        }))
    }

    /// `--pdns-remote` (relative paths from the working directory) or
    /// `pdns_remote.connections` (relative to the file); empty when neither.
    fn pdns_remotes(&self, raw: &RawPdnsRemote) -> Result<Vec<PdnsRemote>, ConfigError> {
        if !self.flags.pdns_remote.is_empty() {
            let cwd = std::path::absolute(".").unwrap_or_default();
            return unique_remotes(
                &self.flags.pdns_remote,
                |text| connection_string(text, &cwd),
                |text, reason| flag_error("--pdns-remote", text, reason),
            );
        }
        let Some(list) = &raw.connections else {
            return Ok(Vec::new());
        };
        let key = "pdns_remote.connections";
        if list.get_ref().is_empty() {
            let reason = "needs at least one connection string".to_owned();
            return Err(self.invalid(list, key, reason));
        }
        let dir = &self.source().dir;
        unique_remotes(
            list.get_ref(),
            |text| connection_string(text.get_ref(), dir),
            |text, reason| self.invalid(text, key, reason),
        )
    }
}

/// Each item parsed by `parse`; no socket twice and at most
/// [`MAX_PDNS_REMOTES`], or `error` about the offending item.
fn unique_remotes<T>(
    items: &[T],
    parse: impl Fn(&T) -> Result<PdnsRemote, String>,
    error: impl Fn(&T, String) -> ConfigError,
) -> Result<Vec<PdnsRemote>, ConfigError> {
    let mut remotes: Vec<PdnsRemote> = Vec::new();
    for item in items {
        let remote = parse(item).map_err(|reason| error(item, reason))?;
        if remotes.len() == MAX_PDNS_REMOTES {
            let reason = format!("at most {MAX_PDNS_REMOTES} remote backends");
            return Err(error(item, reason));
        }
        if remotes.iter().any(|r| r.path == remote.path) {
            return Err(error(item, "given twice".into()));
        }
        remotes.push(remote);
    }
    Ok(remotes)
}

/// `unix:path=SOCKET[,timeout=MS]`, a relative socket path taken from `base`.
fn connection_string(text: &str, base: &Path) -> Result<PdnsRemote, String> {
    let expected = "expected unix:path=SOCKET[,timeout=MS] (PowerDNS's remote-connection-string)";
    let Some(params) = text.strip_prefix("unix:") else {
        let connector = text.split(':').next().unwrap_or_default();
        return Err(match connector {
            "pipe" | "http" | "zeromq" => {
                format!("only the unix connector is supported, not {connector}")
            }
            _ => expected.to_owned(),
        });
    };
    let mut path = None;
    let mut timeout = None;
    for param in params.split(',') {
        match param.split_once('=') {
            Some(("path", value)) if !value.is_empty() && path.is_none() => {
                path = Some(base.join(value));
            }
            Some(("timeout", value)) if timeout.is_none() => {
                let ms: u64 =
                    value.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                        format!("timeout={value}: expected milliseconds, at least 1")
                    })?;
                timeout = Some(Duration::from_millis(ms));
            }
            Some((key @ ("path" | "timeout"), _)) => {
                return Err(format!("{key} is empty or given twice; {expected}"));
            }
            _ => return Err(format!("unknown parameter {param:?}; {expected}")),
        }
    }
    let path = path.ok_or_else(|| format!("no path; {expected}"))?;
    Ok(PdnsRemote {
        path,
        timeout: timeout.unwrap_or(DEFAULT_PDNS_TIMEOUT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_parse_as_powerdns_writes_them() {
        let base = Path::new("/etc/ferrodns");
        let remote = connection_string("unix:path=/var/lib/opensvc/dns/pdns.sock", base);
        assert_eq!(
            remote,
            Ok(PdnsRemote {
                path: "/var/lib/opensvc/dns/pdns.sock".into(),
                timeout: DEFAULT_PDNS_TIMEOUT,
            })
        );
        let remote = connection_string("unix:path=pdns.sock,timeout=500", base);
        assert_eq!(
            remote
                .as_ref()
                .map(PdnsRemote::connection_string)
                .as_deref(),
            Ok("unix:path=/etc/ferrodns/pdns.sock,timeout=500")
        );
        for bad in [
            "pipe:command=/bin/x",
            "unix:",
            "unix:path=",
            "unix:path=a,path=b",
            "unix:path=a,timeout=0",
            "unix:path=a,timeout=soon",
            "unix:path=a,other=1",
            "/var/lib/opensvc/dns/pdns.sock",
        ] {
            assert!(connection_string(bad, base).is_err(), "{bad}");
        }
    }
}
