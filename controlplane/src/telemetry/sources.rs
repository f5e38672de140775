//! The record sources as `/metrics` and `/v1/stats` see them: the PowerDNS
//! remote backends, zone transfers, and one state per source.
//!
//! Every source that can fail while the server goes on serving has a state in
//! the same three families, labelled `source`:
//!
//! | source | up | stale | last success |
//! | --- | --- | --- | --- |
//! | `files` (zone files and the store) | the last load or reload succeeded | a reload failed: the previous table is served | the last load that succeeded |
//! | `etcd` | the watch is live | the watch is down: the last records (or the snapshot) are served | now while up, else when the table last matched etcd |
//! | `pdns_remote/<n>` | the last poll succeeded | a poll failed: its last records are served | the last poll that succeeded |

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::families::{Families, Labels, label};
use super::reloads::{ReloadFigures, Reloads};
use super::unix_seconds;
use crate::etcd::EtcdStatus;
use crate::pdns::{PdnsStatus, PollCounts};
use crate::transfer::TransferStats;

/// One backend's value of a metric (none: no sample).
type PdnsSample = fn(&PdnsFigures) -> Option<f64>;

/// The record sources and zone transfers, read at one scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFigures {
    reloads: ReloadFigures,
    states: Vec<SourceState>,
    pdns: Vec<PdnsFigures>,
    transfers: Option<TransferFigures>,
}

/// One source's state.
#[derive(Debug, Clone, PartialEq)]
struct SourceState {
    source: String,
    up: bool,
    stale: bool,
    /// Unix time of the last success, in seconds.
    last_success: Option<f64>,
}

#[derive(Debug, Clone)]
struct PdnsFigures {
    connection: String,
    up: bool,
    /// Unix time of the last successful poll, in seconds.
    last_success: Option<f64>,
    polls: u64,
    errors: u64,
    counts: PollCounts,
}

#[derive(Debug, Clone, Copy)]
struct TransferFigures {
    served: u64,
    refused: u64,
    failed: u64,
    notifies_sent: u64,
    notifies_answered: u64,
    notifies_failed: u64,
}

impl SourceFigures {
    pub(super) fn read(
        reloads: &Reloads,
        etcd: Option<&EtcdStatus>,
        pdns: &[Arc<PdnsStatus>],
        transfers: Option<&TransferStats>,
    ) -> Self {
        let reloads = reloads.figures();
        let pdns: Vec<PdnsFigures> = pdns
            .iter()
            .map(|status| PdnsFigures {
                connection: status.connection().to_owned(),
                up: status.up(),
                last_success: status.last_success().map(unix_seconds),
                polls: status.polls(),
                errors: status.errors(),
                counts: status.counts(),
            })
            .collect();
        let files_ok = reloads.last.is_none_or(|(_, ok)| ok);
        let mut states = vec![SourceState {
            source: "files".into(),
            up: files_ok,
            stale: !files_ok,
            last_success: reloads.last_success.map(unix_seconds),
        }];
        if let Some(etcd) = etcd {
            let now = SystemTime::now();
            states.push(SourceState {
                source: "etcd".into(),
                up: etcd.connected(),
                stale: !etcd.connected(),
                last_success: etcd
                    .staleness()
                    .map(|behind| unix_seconds(now - behind.min(since_epoch(now)))),
            });
        }
        for (index, backend) in pdns.iter().enumerate() {
            states.push(SourceState {
                source: format!("pdns_remote/{index}"),
                up: backend.up,
                stale: !backend.up && backend.last_success.is_some(),
                last_success: backend.last_success,
            });
        }
        SourceFigures {
            reloads,
            states,
            pdns,
            transfers: transfers.map(|t| TransferFigures {
                served: t.served(),
                refused: t.refused(),
                failed: t.failed(),
                notifies_sent: t.notifies_sent(),
                notifies_answered: t.notifies_answered(),
                notifies_failed: t.notifies_failed(),
            }),
        }
    }

    pub(super) fn pdns_json(&self) -> Value {
        self.pdns
            .iter()
            .enumerate()
            .map(|(source, p)| {
                json!({
                    "source": source,
                    "connection": p.connection,
                    "up": p.up,
                    "last_success_unix_seconds": p.last_success,
                    "polls": p.polls,
                    "errors": p.errors,
                    "zones": p.counts.zones,
                    "records": p.counts.records,
                    "bad_records": p.counts.bad_records,
                    "records_outside_zones": p.counts.outside,
                })
            })
            .collect()
    }

    pub(super) fn transfers_json(&self) -> Value {
        self.transfers.map_or(Value::Null, |t| {
            json!({
                "served": t.served,
                "refused": t.refused,
                "failed": t.failed,
                "notifies_sent": t.notifies_sent,
                "notifies_answered": t.notifies_answered,
                "notifies_failed": t.notifies_failed,
            })
        })
    }

    /// `sources` and `reloads` in `/v1/stats`.
    pub(super) fn states_json(&self) -> (Value, Value) {
        let states = self
            .states
            .iter()
            .map(|s| {
                json!({
                    "source": s.source,
                    "up": s.up,
                    "stale": s.stale,
                    "last_success_unix_seconds": s.last_success,
                })
            })
            .collect();
        let r = &self.reloads;
        let reloads = json!({
            "succeeded": r.succeeded,
            "failed": r.failed,
            "last_unix_seconds": r.last.map(|(at, _)| unix_seconds(at)),
            "last_succeeded": r.last.map(|(_, ok)| ok),
        });
        (states, reloads)
    }

    /// The `ferrodns_source_*`, `ferrodns_reload*`, `ferrodns_pdns_remote_*`
    /// and `ferrodns_transfer_*` families.
    pub(super) fn families(&self, out: &mut Families<'_>) -> std::fmt::Result {
        let r = &self.reloads;
        out.counter(
            "ferrodns_reloads_total",
            "Reloads (SIGHUP) of the zone files and the store, by result.",
            [
                (label("result", "success"), r.succeeded),
                (label("result", "failure"), r.failed),
            ],
        )?;
        if let Some((at, ok)) = r.last {
            out.plain_gauge(
                "ferrodns_last_reload_timestamp_seconds",
                "Unix time the last reload ended.",
                unix_seconds(at),
            )?;
            out.plain_gauge(
                "ferrodns_last_reload_success",
                "1 if the last reload succeeded, 0 if it failed (the previous table is served).",
                u8::from(ok) as u64,
            )?;
        }
        let per_source = |value: fn(&SourceState) -> bool| {
            self.states
                .iter()
                .map(move |s| (label("source", &s.source), u64::from(value(s))))
        };
        out.gauge(
            "ferrodns_source_up",
            "1 while a record source's last load, poll or watch succeeded.",
            per_source(|s| s.up),
        )?;
        out.gauge(
            "ferrodns_source_stale",
            "1 while a record source failed and its last records are served.",
            per_source(|s| s.stale),
        )?;
        out.gauge(
            "ferrodns_source_last_success_timestamp_seconds",
            "Unix time a record source last loaded, polled or matched successfully.",
            self.states
                .iter()
                .filter_map(|s| s.last_success.map(|at| (label("source", &s.source), at))),
        )?;
        if !self.pdns.is_empty() {
            self.pdns_families(out)?;
        }
        if let Some(t) = self.transfers {
            for (name, help, value) in [
                (
                    "ferrodns_transfer_served_total",
                    "Zone transfers (AXFR, IXFR) sent.",
                    t.served,
                ),
                (
                    "ferrodns_transfer_refused_total",
                    "Zone transfers refused: the client is not in transfer.allow_transfer.",
                    t.refused,
                ),
                (
                    "ferrodns_transfer_failed_total",
                    "Zone transfers not given or cut short: not a zone, too many at once, the client gone.",
                    t.failed,
                ),
                (
                    "ferrodns_notify_sent_total",
                    "NOTIFY messages sent to secondaries (retries counted).",
                    t.notifies_sent,
                ),
                (
                    "ferrodns_notify_answered_total",
                    "NOTIFY messages a secondary answered.",
                    t.notifies_answered,
                ),
                (
                    "ferrodns_notify_failed_total",
                    "NOTIFYs given up on after every retry.",
                    t.notifies_failed,
                ),
            ] {
                out.plain_counter(name, help, value)?;
            }
        }
        Ok(())
    }

    fn pdns_families(&self, out: &mut Families<'_>) -> std::fmt::Result {
        let labels = |source: usize, p: &PdnsFigures| -> Labels {
            let mut labels = label("source", source);
            labels.push(("connection", p.connection.clone()));
            labels
        };
        let gauge = |value: PdnsSample| {
            self.pdns
                .iter()
                .enumerate()
                .filter_map(move |(source, p)| value(p).map(|v| (labels(source, p), v)))
        };
        let counter = |value: fn(&PdnsFigures) -> u64| {
            self.pdns
                .iter()
                .enumerate()
                .map(move |(source, p)| (labels(source, p), value(p)))
        };
        out.gauge(
            "ferrodns_pdns_remote_up",
            "1 while the last poll of the remote backend succeeded; 0 while it is stale (its last records are served).",
            gauge(|p| Some(f64::from(u8::from(p.up)))),
        )?;
        out.gauge(
            "ferrodns_pdns_remote_last_success_timestamp_seconds",
            "Unix time of the last successful poll.",
            gauge(|p| p.last_success),
        )?;
        out.counter(
            "ferrodns_pdns_remote_polls_total",
            "Polls of the remote backend.",
            counter(|p| p.polls),
        )?;
        out.counter(
            "ferrodns_pdns_remote_errors_total",
            "Failed polls (no answer, timeout, garbage, reply too long).",
            counter(|p| p.errors),
        )?;
        let counts: [(&str, &str, PdnsSample); 4] = [
            (
                "ferrodns_pdns_remote_zones",
                "Zones the last successful poll held.",
                |p| Some(p.counts.zones as f64),
            ),
            (
                "ferrodns_pdns_remote_records",
                "Records the last successful poll held.",
                |p| Some(p.counts.records as f64),
            ),
            (
                "ferrodns_pdns_remote_bad_records",
                "Records of the last successful poll skipped as bad (each is logged).",
                |p| Some(p.counts.bad_records as f64),
            ),
            (
                "ferrodns_pdns_remote_records_outside_zones",
                "Records of the last successful poll lying outside every zone served.",
                |p| Some(p.counts.outside as f64),
            ),
        ];
        for (name, help, value) in counts {
            out.gauge(name, help, gauge(value))?;
        }
        Ok(())
    }
}

/// How long after the epoch `at` is (at most that far back can be gone).
fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}
