//! What the server can tell about itself: `/metrics` (Prometheus text),
//! `/v1/stats` (the same figures as JSON), `/healthz` and `/readyz`.
//!
//! [`Telemetry`] holds handles to the live parts (the table, the per-core
//! counters of the UDP backend, the etcd status, the forwarder) and reads them
//! when asked: a scrape loads atomics and walks the current table version; it
//! never waits for the dataplane.
//!
//! `ferrodns_queries_total{rcode,qtype}` (and `queries` in `/v1/stats`) counts
//! the answers the poll loops (either backend) and the TCP listener gave
//! themselves: local zones, errors, and REFUSED without a forwarder. Each poll
//! loop counts in private memory and publishes per batch
//! ([`ferrodns_dataplane::answer_counts`]); a scrape sums them. Forwarded
//! answers are counted by the forwarder's own figures.
//!
//! The forwarder's figures appear as `ferrodns_forward_*` (its caps: questions
//! in flight, attempts in flight per upstream, SERVFAIL over a cap, coalesced
//! queries, sockets open) and as `forward` in `/v1/stats`.
//!
//! The budgets (`crate::budget`) appear as `ferrodns_descriptors_*`,
//! `ferrodns_connections_*{class}` and `ferrodns_forward_sockets_limit`, and as
//! `budgets` in `/v1/stats`: every cap with what it holds now, its refusals and
//! the connections each timeout closed.
//!
//! `/readyz` is `503` until the first table is published and, with etcd, until
//! that table holds etcd's records (a full load, or the snapshot): while etcd has
//! never answered and there is no snapshot, the etcd zones are served empty and
//! an orchestrator should not send traffic yet. Likewise with PowerDNS remote
//! backends: `503` until each has been polled once (before that its zones are
//! not served at all); a backend that fails later leaves its last records
//! served (stale, `ferrodns_pdns_remote_up` 0) and the server ready.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrodns_dataplane::answer_counts::{AnswerCounts, SharedAnswerCounts};
use ferrodns_dataplane::table::Table;
use serde_json::{Value, json};

use super::AppState;
use crate::budget::{BudgetFigures, Budgets, GateFigures};
use crate::etcd::records::HealthTarget;
use crate::etcd::{EtcdStatus, SharedRecords};
use crate::forward::{ForwardStats, Forwarder, UpstreamStats};
use crate::health::CheckStats;
use crate::pdns::{PdnsStatus, PollCounts};
use crate::pipeline::PublisherStatus;
use crate::transfer::TransferStats;

/// One poll loop's counters, as the backends keep them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// The poll loop's index (worker or lcore).
    pub core: usize,
    pub rx: u64,
    pub tx: u64,
    pub drops: u64,
    pub punts: u64,
    /// Answers by RCODE and question type.
    pub answers: AnswerCounts,
}

/// Reads every poll loop's counters now.
pub type CoreSource = Box<dyn Fn() -> Vec<CoreCounters> + Send + Sync>;

/// The live parts the figures come from.
pub struct Telemetry {
    table: Table,
    cores: CoreSource,
    etcd: Option<(Arc<EtcdStatus>, SharedRecords)>,
    publisher: Arc<PublisherStatus>,
    forwarder: Option<Forwarder>,
    /// Answers the TCP listener gave, by RCODE and question type.
    tcp_answers: Arc<SharedAnswerCounts>,
    budgets: Option<Arc<Budgets>>,
    /// The PowerDNS remote backends, in source order.
    pdns: Vec<Arc<PdnsStatus>>,
    transfers: Option<Arc<TransferStats>>,
    ready: AtomicBool,
    /// Requests answered, by matched route and status.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// What this process's health checks found.
    health_checks: Option<Arc<CheckStats>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    pub fn new(table: Table, cores: CoreSource) -> Telemetry {
        Telemetry {
            table,
            cores,
            etcd: None,
            publisher: Arc::default(),
            forwarder: None,
            tcp_answers: Arc::default(),
            budgets: None,
            pdns: Vec::new(),
            transfers: None,
            ready: AtomicBool::new(false),
            requests: Mutex::new(BTreeMap::new()),
            health_checks: None,
        }
    }

    /// Adds the health checker's figures (`/metrics`, `/v1/health`).
    pub fn with_health_checks(mut self, stats: Option<Arc<CheckStats>>) -> Telemetry {
        self.health_checks = stats;
        self
    }

    /// The health checker's figures, when this process checks.
    pub(crate) fn health_checks(&self) -> Option<&CheckStats> {
        self.health_checks.as_deref()
    }

    /// Adds the etcd source's status and its index (for the health view).
    pub fn with_etcd(mut self, status: Arc<EtcdStatus>, records: SharedRecords) -> Telemetry {
        self.etcd = Some((status, records));
        self
    }

    /// Adds the publisher's counters.
    pub fn with_publisher(mut self, status: Arc<PublisherStatus>) -> Telemetry {
        self.publisher = status;
        self
    }

    /// Adds the TCP listener's answer counts.
    pub fn with_tcp_answers(mut self, answers: Arc<SharedAnswerCounts>) -> Telemetry {
        self.tcp_answers = answers;
        self
    }

    pub fn with_forwarder(mut self, forwarder: Option<Forwarder>) -> Telemetry {
        self.forwarder = forwarder;
        self
    }

    /// Adds the descriptor budgets and the connection gates.
    pub fn with_budgets(mut self, budgets: Arc<Budgets>) -> Telemetry {
        self.budgets = Some(budgets);
        self
    }

    /// Adds the PowerDNS remote backends' status.
    pub fn with_pdns(mut self, pdns: Vec<Arc<PdnsStatus>>) -> Telemetry {
        self.pdns = pdns;
        self
    }

    /// Adds the zone transfers' counters.
    pub fn with_transfers(mut self, transfers: Arc<TransferStats>) -> Telemetry {
        self.transfers = Some(transfers);
        self
    }

    /// Marks the first table published: `/readyz` answers 200 from now on
    /// (with etcd, once etcd has also been loaded or a snapshot served).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the server answers from a table worth answering from: the first
    /// table is published and, with etcd, it holds what etcd (or its snapshot)
    /// held, rather than the empty etcd zones served while etcd has never
    /// answered.
    fn is_ready(&self) -> bool {
        let published = self.ready.load(Ordering::Acquire);
        let pdns_loaded = self.pdns.iter().all(|status| status.ever_succeeded());
        match &self.etcd {
            Some((status, _)) => published && pdns_loaded && status.staleness().is_some(),
            None => published && pdns_loaded,
        }
    }

    fn count_request(&self, route: String, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests.entry((route, status)).or_default() += 1;
    }

    /// Backend addresses with a health status (none without etcd).
    pub(crate) async fn health_targets(&self) -> Vec<HealthTarget> {
        match &self.etcd {
            Some((_, records)) => records.lock().await.health_targets(),
            None => Vec::new(),
        }
    }

    /// Every figure, read now.
    pub(crate) async fn stats(&self) -> Stats {
        let version = self.table.current();
        let records = version
            .nodes()
            .map(|node| {
                node.rrsets()
                    .map(|rrset| rrset.records().count())
                    .sum::<usize>()
            })
            .sum();
        let (up, down) = match &self.etcd {
            Some((status, _)) => (status.health_up(), status.health_down()),
            None => (0, 0),
        };
        let cores = (self.cores)();
        let mut answers = self.tcp_answers.snapshot();
        for core in &cores {
            answers.add(&core.answers);
        }
        Stats {
            names: version.name_count(),
            records,
            uncompilable: self.publisher.uncompilable(),
            skipped_records: self.publisher.skipped_records(),
            cores,
            answers,
            etcd: self.etcd.as_ref().map(|(status, _)| EtcdFigures {
                connected: status.connected(),
                revision: status.revision(),
                staleness_seconds: status.staleness().map(|d| d.as_secs_f64()),
            }),
            health_up: up,
            health_down: down,
            forward: self.forwarder.as_ref().map(Forwarder::snapshot),
            budgets: self.budgets.as_ref().map(|b| b.figures()),
            sources: SourceFigures::read(&self.pdns, self.transfers.as_deref()),
            requests: self
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct EtcdFigures {
    connected: bool,
    revision: i64,
    /// None: the table never matched etcd.
    staleness_seconds: Option<f64>,
}

/// The figures of one scrape.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    names: usize,
    records: usize,
    /// Names served empty because their records cannot be compiled.
    uncompilable: usize,
    /// Records the sources gave that could not be kept.
    skipped_records: u64,
    cores: Vec<CoreCounters>,
    /// Every poll loop's answers and the TCP listener's, summed.
    answers: AnswerCounts,
    etcd: Option<EtcdFigures>,
    health_up: u64,
    health_down: u64,
    forward: Option<ForwardStats>,
    budgets: Option<BudgetFigures>,
    sources: SourceFigures,
    requests: BTreeMap<(String, u16), u64>,
}

impl Stats {
    /// The `/v1/stats` document.
    pub(crate) fn to_json(&self) -> Value {
        let cores: Vec<Value> = self
            .cores
            .iter()
            .map(|c| json!({"core": c.core, "rx": c.rx, "tx": c.tx, "drops": c.drops, "punts": c.punts}))
            .collect();
        let by_rcode: serde_json::Map<String, Value> = self
            .answers
            .by_rcode()
            .map(|(rcode, n)| (rcode.to_owned(), json!(n)))
            .collect();
        let mut by_qtype: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, qtype, n) in self.answers.nonzero() {
            *by_qtype.entry(qtype).or_default() += n;
        }
        let etcd = self.etcd.map(|e| {
            json!({
                "connected": e.connected,
                "revision": e.revision,
                "staleness_seconds": e.staleness_seconds,
            })
        });
        let forward = self.forward.as_ref().map(forward_json);
        json!({
            "table": {
                "names": self.names,
                "records": self.records,
                "uncompilable_names": self.uncompilable,
                "skipped_records": self.skipped_records,
            },
            "queries": {
                "total": self.answers.total(),
                "by_rcode": by_rcode,
                "by_qtype": by_qtype,
            },
            "cores": cores,
            "etcd": etcd,
            "health": {"up": self.health_up, "down": self.health_down},
            "forward": forward,
            "budgets": self.budgets.as_ref().map(budgets_json),
            "pdns_remote": self.sources.pdns_json(),
            "transfers": self.sources.transfers_json(),
        })
    }

    /// The `/metrics` text (Prometheus exposition format 0.0.4).
    pub(crate) fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let per_core = |f: fn(&CoreCounters) -> u64| {
            self.cores
                .iter()
                .map(|c| (format!("{{core=\"{}\"}}", c.core), f(c).to_string()))
                .collect::<Vec<_>>()
        };
        family(
            "ferrodns_queries_total",
            "counter",
            "Queries answered by the dataplane and the TCP listener, by response code and question type.",
            self.answers
                .nonzero()
                .map(|(rcode, qtype, n)| {
                    (
                        format!("{{rcode=\"{rcode}\",qtype=\"{qtype}\"}}"),
                        n.to_string(),
                    )
                })
                .collect(),
        );
        family(
            "ferrodns_core_rx_total",
            "counter",
            "Datagrams received, per poll loop.",
            per_core(|c| c.rx),
        );
        family(
            "ferrodns_core_tx_total",
            "counter",
            "Datagrams sent, per poll loop.",
            per_core(|c| c.tx),
        );
        family(
            "ferrodns_core_drops_total",
            "counter",
            "Datagrams dropped unanswered, per poll loop.",
            per_core(|c| c.drops),
        );
        family(
            "ferrodns_core_punts_total",
            "counter",
            "Queries punted to the forwarder, per poll loop.",
            per_core(|c| c.punts),
        );
        let plain = |value: String| vec![(String::new(), value)];
        family(
            "ferrodns_table_names",
            "gauge",
            "Names in the published answer table.",
            plain(self.names.to_string()),
        );
        family(
            "ferrodns_table_records",
            "gauge",
            "Records in the published answer table.",
            plain(self.records.to_string()),
        );
        family(
            "ferrodns_table_uncompilable_names",
            "gauge",
            "Names served empty because their records cannot be compiled (each is logged).",
            plain(self.uncompilable.to_string()),
        );
        family(
            "ferrodns_table_skipped_records_total",
            "counter",
            "Records a source gave that could not be kept (each is logged).",
            plain(self.skipped_records.to_string()),
        );
        if let Some(etcd) = self.etcd {
            family(
                "ferrodns_etcd_connected",
                "gauge",
                "1 while the etcd watch is live.",
                plain(u8::from(etcd.connected).to_string()),
            );
            family(
                "ferrodns_etcd_revision",
                "gauge",
                "etcd revision of the newest change applied.",
                plain(etcd.revision.to_string()),
            );
            if let Some(staleness) = etcd.staleness_seconds {
                family(
                    "ferrodns_etcd_staleness_seconds",
                    "gauge",
                    "How out of date the table may be.",
                    plain(staleness.to_string()),
                );
            }
        }
        family(
            "ferrodns_health_targets",
            "gauge",
            "Backend addresses by health status.",
            vec![
                ("{status=\"UP\"}".into(), self.health_up.to_string()),
                ("{status=\"DOWN\"}".into(), self.health_down.to_string()),
            ],
        );
        family(
            "ferrodns_api_requests_total",
            "counter",
            "REST API requests answered, by route and status.",
            self.requests
                .iter()
                .map(|((route, status), n)| {
                    (
                        format!("{{route=\"{route}\",status=\"{status}\"}}"),
                        n.to_string(),
                    )
                })
                .collect(),
        );
        if let Some(forward) = &self.forward {
            forward_families(forward, &mut family);
        }
        if let Some(budgets) = &self.budgets {
            budget_families(budgets, &mut family);
        }
        self.sources.families(&mut family);
        out
    }
}

/// `forward` in `/v1/stats`.
fn forward_json(f: &ForwardStats) -> Value {
    let upstreams: Vec<Value> = f
        .upstreams
        .iter()
        .map(|u| {
            json!({
                "addr": u.addr.to_string(),
                "queries": u.queries,
                "answers": u.answers,
                "timeouts": u.timeouts,
                "failures": u.failures,
                "tcp_retries": u.tcp_retries,
                "spoofs": u.spoofs,
                "over_cap": u.over_cap,
                "in_flight": u.in_flight,
                "srtt_us": u.srtt_us,
                "down": u.down,
            })
        })
        .collect();
    json!({
        "queries": f.queries,
        "cache_hits": f.cache_hits,
        "cache_misses": f.cache_misses,
        "forwarded": f.forwarded,
        "coalesced": f.coalesced,
        "servfail": f.servfail,
        "over_cap": f.over_cap,
        "refused": f.refused,
        "rate_limited": f.rate_limited,
        "spoofs": f.spoofs,
        "bailiwick_drops": f.bailiwick_drops,
        "local_drops": f.local_drops,
        "reply_errors": f.reply_errors,
        "in_flight": f.in_flight,
        "sockets": {"open": f.sockets_open, "limit": f.sockets_limit},
        "cache_entries": f.cache_entries,
        "upstreams": upstreams,
    })
}

/// The forwarder's families of `/metrics`, written with `family(name, type,
/// help, samples)`.
fn forward_families(
    f: &ForwardStats,
    family: &mut impl FnMut(&str, &str, &str, Vec<(String, String)>),
) {
    let plain = |value: u64| vec![(String::new(), value.to_string())];
    for (name, kind, help, value) in [
        (
            "ferrodns_forward_queries_total",
            "counter",
            "Punted queries the forwarder handled.",
            f.queries,
        ),
        (
            "ferrodns_forward_cache_hits_total",
            "counter",
            "Forwarded queries answered from the cache.",
            f.cache_hits,
        ),
        (
            "ferrodns_forward_cache_misses_total",
            "counter",
            "Forwarded queries not in the cache.",
            f.cache_misses,
        ),
        (
            "ferrodns_forward_upstream_queries_total",
            "counter",
            "Questions sent to upstreams (cache misses that led a flight).",
            f.forwarded,
        ),
        (
            "ferrodns_forward_coalesced_total",
            "counter",
            "Cache misses answered from an identical question already in flight.",
            f.coalesced,
        ),
        (
            "ferrodns_forward_servfail_total",
            "counter",
            "Forwarded queries answered SERVFAIL: every upstream failed.",
            f.servfail,
        ),
        (
            "ferrodns_forward_over_cap_total",
            "counter",
            "Forwarded queries answered SERVFAIL at once: a cap on queries in flight was reached.",
            f.over_cap,
        ),
        (
            "ferrodns_forward_refused_total",
            "counter",
            "Punted queries answered REFUSED (no upstream).",
            f.refused,
        ),
        (
            "ferrodns_forward_rate_limited_total",
            "counter",
            "Punted queries dropped by the rate limit.",
            f.rate_limited,
        ),
        (
            "ferrodns_forward_spoofs_total",
            "counter",
            "Upstream replies dropped for not matching their query.",
            f.spoofs,
        ),
        (
            "ferrodns_forward_bailiwick_drops_total",
            "counter",
            "Records of upstream answers not believed (outside the upstream's bailiwick, or local).",
            f.bailiwick_drops,
        ),
        (
            "ferrodns_forward_local_drops_total",
            "counter",
            "Cached answers dropped because they hold data of a zone that became local.",
            f.local_drops,
        ),
        (
            "ferrodns_forward_in_flight",
            "gauge",
            "Questions in flight to upstreams.",
            f.in_flight,
        ),
        (
            "ferrodns_forward_sockets_open",
            "gauge",
            "Sockets the forwarder holds towards upstreams (UDP and TCP).",
            f.sockets_open,
        ),
    ] {
        family(name, kind, help, plain(value));
    }
    let per_upstream = |value: fn(&UpstreamStats) -> u64| {
        f.upstreams
            .iter()
            .map(|u| (format!("{{upstream=\"{}\"}}", u.addr), value(u).to_string()))
            .collect::<Vec<_>>()
    };
    family(
        "ferrodns_forward_upstream_in_flight",
        "gauge",
        "Attempts waiting on each upstream.",
        per_upstream(|u| u.in_flight),
    );
    family(
        "ferrodns_forward_upstream_over_cap_total",
        "counter",
        "Attempts that passed an upstream over: at its cap of attempts in flight, or no socket left.",
        per_upstream(|u| u.over_cap),
    );
}

/// `budgets` in `/v1/stats`.
fn budgets_json(budgets: &BudgetFigures) -> Value {
    let mut json = serde_json::Map::new();
    json.insert(
        "descriptors".into(),
        json!({
            "limit": budgets.descriptor_limit,
            "open": budgets.descriptors_open,
            "headroom": budgets.headroom,
        }),
    );
    for gate in &budgets.gates {
        let timed_out: serde_json::Map<String, Value> = gate
            .timed_out
            .iter()
            .map(|(timeout, n)| (timeout.as_str().to_owned(), json!(n)))
            .collect();
        json.insert(
            gate.class.to_owned(),
            json!({
                "limit": gate.limit,
                "per_source": gate.per_source,
                "open": gate.open,
                "accepted": gate.accepted,
                "refused": {"limit": gate.refused_limit, "per_source": gate.refused_per_source},
                "timed_out": timed_out,
            }),
        );
    }
    json.insert(
        "forward".into(),
        json!({"max_sockets": budgets.forward_sockets}),
    );
    Value::Object(json)
}

/// The budgets' families of `/metrics`, written with `family(name, type, help,
/// samples)`.
fn budget_families(
    budgets: &BudgetFigures,
    family: &mut impl FnMut(&str, &str, &str, Vec<(String, String)>),
) {
    let plain = |value: String| vec![(String::new(), value)];
    family(
        "ferrodns_descriptors_limit",
        "gauge",
        "Descriptors the process may hold (the soft limit, raised to the hard one at start).",
        plain(budgets.descriptor_limit.to_string()),
    );
    if let Some(open) = budgets.descriptors_open {
        family(
            "ferrodns_descriptors_open",
            "gauge",
            "Descriptors the process holds.",
            plain(open.to_string()),
        );
    }
    family(
        "ferrodns_forward_sockets_limit",
        "gauge",
        "Upstream sockets the forwarder may hold at once (forward.max_sockets as fitted).",
        plain(budgets.forward_sockets.to_string()),
    );
    let per_class = |f: fn(&GateFigures) -> String| {
        budgets
            .gates
            .iter()
            .map(|g| (format!("{{class=\"{}\"}}", g.class), f(g)))
            .collect::<Vec<_>>()
    };
    for (name, kind, help, value) in [
        (
            "ferrodns_connections_limit",
            "gauge",
            "Connections a class may hold open at once.",
            (|g| g.limit.to_string()) as fn(&GateFigures) -> String,
        ),
        (
            "ferrodns_connections_per_source_limit",
            "gauge",
            "Connections of a class one source may hold open at once.",
            |g| g.per_source.to_string(),
        ),
        (
            "ferrodns_connections_open",
            "gauge",
            "Connections open now, per class.",
            |g| g.open.to_string(),
        ),
        (
            "ferrodns_connections_accepted_total",
            "counter",
            "Connections admitted, per class.",
            |g| g.accepted.to_string(),
        ),
    ] {
        family(name, kind, help, per_class(value));
    }
    family(
        "ferrodns_connections_refused_total",
        "counter",
        "Connections closed when accepted: the class's limit, or its source's, was reached.",
        budgets
            .gates
            .iter()
            .flat_map(|g| {
                [
                    ("limit", g.refused_limit),
                    ("per_source", g.refused_per_source),
                ]
                .map(|(reason, n)| {
                    (
                        format!("{{class=\"{}\",reason=\"{reason}\"}}", g.class),
                        n.to_string(),
                    )
                })
            })
            .collect(),
    );
    family(
        "ferrodns_connections_timed_out_total",
        "counter",
        "Connections closed by a timeout, per class and timeout.",
        budgets
            .gates
            .iter()
            .flat_map(|g| {
                g.timed_out.map(|(timeout, n)| {
                    (
                        format!("{{class=\"{}\",timeout=\"{}\"}}", g.class, timeout.as_str()),
                        n.to_string(),
                    )
                })
            })
            .collect(),
    );
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The PowerDNS remote backends and zone transfers, read at one scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFigures {
    pdns: Vec<PdnsFigures>,
    transfers: Option<TransferFigures>,
}

/// One backend's value of a metric (none: no sample).
type PdnsSample = fn(&PdnsFigures) -> Option<String>;

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
    fn read(pdns: &[Arc<PdnsStatus>], transfers: Option<&TransferStats>) -> Self {
        SourceFigures {
            pdns: pdns
                .iter()
                .map(|status| PdnsFigures {
                    connection: status.connection().to_owned(),
                    up: status.up(),
                    last_success: status.last_success().and_then(|at| {
                        at.duration_since(std::time::UNIX_EPOCH)
                            .ok()
                            .map(|d| d.as_secs_f64())
                    }),
                    polls: status.polls(),
                    errors: status.errors(),
                    counts: status.counts(),
                })
                .collect(),
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

    fn pdns_json(&self) -> Value {
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

    fn transfers_json(&self) -> Value {
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

    /// The `ferrodns_pdns_remote_*` and `ferrodns_transfer_*` families,
    /// written with `family(name, type, help, samples)`.
    fn families(&self, family: &mut impl FnMut(&str, &str, &str, Vec<(String, String)>)) {
        if !self.pdns.is_empty() {
            let per_backend = |value: PdnsSample| {
                self.pdns
                    .iter()
                    .enumerate()
                    .filter_map(|(source, p)| {
                        let connection = label_value(&p.connection);
                        let labels = format!("{{source=\"{source}\",connection=\"{connection}\"}}");
                        value(p).map(|v| (labels, v))
                    })
                    .collect::<Vec<_>>()
            };
            let pdns_families: [(&str, &str, &str, PdnsSample); 8] = [
                (
                    "ferrodns_pdns_remote_up",
                    "gauge",
                    "1 while the last poll of the remote backend succeeded; 0 while it is stale (its last records are served).",
                    |p| Some(u8::from(p.up).to_string()),
                ),
                (
                    "ferrodns_pdns_remote_last_success_timestamp_seconds",
                    "gauge",
                    "Unix time of the last successful poll.",
                    |p| p.last_success.map(|t| t.to_string()),
                ),
                (
                    "ferrodns_pdns_remote_polls_total",
                    "counter",
                    "Polls of the remote backend.",
                    |p| Some(p.polls.to_string()),
                ),
                (
                    "ferrodns_pdns_remote_errors_total",
                    "counter",
                    "Failed polls (no answer, timeout, garbage, reply too long).",
                    |p| Some(p.errors.to_string()),
                ),
                (
                    "ferrodns_pdns_remote_zones",
                    "gauge",
                    "Zones the last successful poll held.",
                    |p| Some(p.counts.zones.to_string()),
                ),
                (
                    "ferrodns_pdns_remote_records",
                    "gauge",
                    "Records the last successful poll held.",
                    |p| Some(p.counts.records.to_string()),
                ),
                (
                    "ferrodns_pdns_remote_bad_records",
                    "gauge",
                    "Records of the last successful poll skipped as bad (each is logged).",
                    |p| Some(p.counts.bad_records.to_string()),
                ),
                (
                    "ferrodns_pdns_remote_records_outside_zones",
                    "gauge",
                    "Records of the last successful poll lying outside every zone served.",
                    |p| Some(p.counts.outside.to_string()),
                ),
            ];
            for (name, kind, help, value) in pdns_families {
                family(name, kind, help, per_backend(value));
            }
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
                family(
                    name,
                    "counter",
                    help,
                    vec![(String::new(), value.to_string())],
                );
            }
        }
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.telemetry.stats().await.to_prometheus();
    // The health checker's block: its families are its own (crate::health::stats).
    if let Some(checks) = state.telemetry.health_checks() {
        text.push_str(&checks.to_prometheus());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.telemetry.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// Counts every answered request by its route pattern and status.
pub(crate) async fn count(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    telemetry.count_request(route, response.status().as_u16());
    response
}
