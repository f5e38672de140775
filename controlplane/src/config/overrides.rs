//! The command line's part of the configuration, as the operator typed it.

use std::path::PathBuf;

use super::HealthFlags;

/// Settings given on the command line, each overriding the matching key of the
/// config file (docs/configuration.md). Values are kept as typed, so that a bad
/// `--listen` is reported like a bad `server.listen`, naming the flag; an empty
/// list or `None` leaves the file's value (or the default) in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen ADDR:PORT`: replaces `server.listen`.
    pub listen: Vec<String>,
    /// `--zone ORIGIN=PATH`: adds a zone, or replaces the file of a configured one.
    pub zones: Vec<String>,
    /// `--domain ORIGIN`: adds a zone without a file.
    pub domains: Vec<String>,
    /// `--etcd URL`: replaces `etcd.endpoints`.
    pub etcd: Vec<String>,
    /// `--etcd-snapshot PATH`: replaces `etcd.snapshot`.
    pub etcd_snapshot: Option<PathBuf>,
    /// `--workers N`: replaces `server.workers`.
    pub workers: Option<usize>,
    /// `--store PATH`: replaces `store.path`.
    pub store: Option<PathBuf>,
    /// `--policy NAME`: replaces `server.policy`.
    pub policy: Option<String>,
    /// `--forward ADDR:PORT`: replaces `forward.nameservers`.
    pub forward: Vec<String>,
    /// `--dpdk "EAL ARGS"`: selects the DPDK backend, replaces `dataplane.eal`.
    pub dpdk: Option<String>,
    /// `--api ADDR:PORT`: replaces `api.listen`.
    pub api: Option<String>,
    /// `--api-token-file FILE`: replaces `api.token_file`.
    pub api_token_file: Option<PathBuf>,
    /// `--pdns-remote unix:path=SOCKET[,timeout=MS]`: replaces
    /// `pdns_remote.connections`.
    pub pdns_remote: Vec<String>,
    /// `--allow-transfer CIDR`: replaces `transfer.allow_transfer`.
    pub allow_transfer: Vec<String>,
    /// `--notify ADDR:PORT`: replaces `transfer.notify`.
    pub notify: Vec<String>,
    /// `--metrics ADDR:PORT`: replaces `metrics.listen`.
    pub metrics: Option<String>,
    /// `--log LEVEL` or `FERRODNS_LOG`: replaces `log.level`.
    pub log: Option<String>,
    /// `--log-format text|json` or `FERRODNS_LOG_FORMAT`: replaces `log.format`.
    pub log_format: Option<String>,
    /// The flags of `ferrodns health-check`, over `[health]`.
    pub health: HealthFlags,
}
