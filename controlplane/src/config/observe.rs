//! The observability sections: `[metrics]` with `--metrics` (the metrics
//! listener), `[dnstap]` (the query log) and `[stats]` (containerdns's stats of
//! the names asked). docs/operations.md describes what each gives.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::file::{RawDnstap, RawMetrics, RawStats};
use super::merge::{Merge, socket_addr};
use super::{DEFAULT_API_HEADER_TIMEOUT, DEFAULT_API_IDLE_TIMEOUT};

/// Default `metrics.max_connections`.
pub const DEFAULT_METRICS_MAX_CONNECTIONS: usize = 16;
/// Default `metrics.max_connections_per_source`.
pub const DEFAULT_METRICS_MAX_CONNECTIONS_PER_SOURCE: usize = 4;
/// Default `dnstap.queue`: entries waiting for the writer, per poll loop.
pub const DEFAULT_DNSTAP_QUEUE: usize = 1024;
/// Largest `dnstap.queue`.
pub const MAX_DNSTAP_QUEUE: usize = 1 << 16;

/// `/metrics`, `/healthz` and `/readyz` on a listener of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub listen: SocketAddr,
    /// Connections open at once; more are closed when accepted.
    pub max_connections: usize,
    /// Connections open at once from one source.
    pub max_connections_per_source: usize,
    /// Time a connection may wait for the first byte of its next request.
    pub idle_timeout: Duration,
    /// Time a request's head may take from its first byte to its end.
    pub header_timeout: Duration,
}

/// Where the query log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnstapOutput {
    /// A Frame Streams reader listening on this unix socket (`dnstap -u`,
    /// `fstrm_capture`); reconnected to when it goes away.
    Socket(PathBuf),
    /// A Frame Streams file, written from its start (`dnstap -r` reads it).
    File(PathBuf),
}

/// The query log: dnstap messages of sampled queries and their answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnstapSettings {
    pub output: DnstapOutput,
    /// One query in `sample` is logged (1: every one).
    pub sample: u32,
    /// Log the queries (CLIENT_QUERY).
    pub queries: bool,
    /// Log the answers (CLIENT_RESPONSE).
    pub responses: bool,
    /// Entries waiting for the writer, per poll loop; beyond, entries are
    /// dropped and counted.
    pub queue: usize,
    /// The `identity` field of each message; None: the host name.
    pub identity: Option<String>,
}

impl Merge<'_> {
    /// `[metrics]`; `None` when no listen address is given.
    pub(super) fn metrics(&self, raw: &RawMetrics) -> Result<Option<MetricsSettings>, ConfigError> {
        let listen = self.flag_or_key(
            ("--metrics", self.flags.metrics.as_deref()),
            ("metrics.listen", raw.listen.as_ref()),
            socket_addr,
        )?;
        let Some(listen) = listen else {
            return Ok(None);
        };
        let max_connections =
            self.bounded(raw.max_connections.as_ref(), "metrics.max_connections", 1..)?;
        let max_connections_per_source = self.bounded(
            raw.max_connections_per_source.as_ref(),
            "metrics.max_connections_per_source",
            1..,
        )?;
        let idle_timeout =
            self.milliseconds(raw.idle_timeout_ms.as_ref(), "metrics.idle_timeout_ms")?;
        let header_timeout =
            self.milliseconds(raw.header_timeout_ms.as_ref(), "metrics.header_timeout_ms")?;
        Ok(Some(MetricsSettings {
            listen,
            max_connections: max_connections.unwrap_or(DEFAULT_METRICS_MAX_CONNECTIONS),
            max_connections_per_source: max_connections_per_source
                .unwrap_or(DEFAULT_METRICS_MAX_CONNECTIONS_PER_SOURCE),
            idle_timeout: idle_timeout.unwrap_or(DEFAULT_API_IDLE_TIMEOUT),
            header_timeout: header_timeout.unwrap_or(DEFAULT_API_HEADER_TIMEOUT),
        }))
    }

    /// `[dnstap]`; `None` when the section is absent.
    pub(super) fn dnstap(
        &self,
        raw: Option<toml::Spanned<RawDnstap>>,
    ) -> Result<Option<DnstapSettings>, ConfigError> {
        let Some(section) = raw else {
            return Ok(None);
        };
        let raw = section.get_ref();
        let output = match (&raw.socket, &raw.file) {
            (Some(socket), None) => DnstapOutput::Socket(self.file_path(socket, "dnstap.socket")?),
            (None, Some(file)) => DnstapOutput::File(self.file_path(file, "dnstap.file")?),
            (Some(_), Some(file)) => {
                return Err(self.invalid(
                    file,
                    "dnstap.file",
                    "give dnstap.socket or dnstap.file, not both".into(),
                ));
            }
            (None, None) => {
                return Err(self.invalid_at(
                    section.span(),
                    "dnstap",
                    &"[dnstap]",
                    "needs dnstap.socket (a Frame Streams reader) or dnstap.file".into(),
                ));
            }
        };
        let sample = self.bounded(raw.sample.as_ref(), "dnstap.sample", 1..)?;
        let queue = self.bounded(raw.queue.as_ref(), "dnstap.queue", 1..=MAX_DNSTAP_QUEUE)?;
        let queries = raw.queries.as_ref().is_none_or(|q| *q.get_ref());
        let responses = raw.responses.as_ref().is_none_or(|r| *r.get_ref());
        if !queries && !responses {
            return Err(self.invalid_at(
                section.span(),
                "dnstap",
                &"[dnstap]",
                "dnstap.queries and dnstap.responses are both false: nothing to log".into(),
            ));
        }
        Ok(Some(DnstapSettings {
            output,
            sample: sample.unwrap_or(1),
            queries,
            responses,
            queue: queue.unwrap_or(DEFAULT_DNSTAP_QUEUE),
            identity: raw.identity.as_ref().map(|i| i.get_ref().clone()),
        }))
    }

    /// `stats.enabled`: whether the names asked are counted for containerdns's
    /// stats routes (default: no; counting costs the poll loops, see
    /// docs/benchmarks.md).
    pub(super) fn query_stats(&self, raw: &RawStats) -> bool {
        raw.enabled.as_ref().is_some_and(|e| *e.get_ref())
    }
}
