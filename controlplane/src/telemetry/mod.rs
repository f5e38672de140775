//! What the server can tell about itself: the figures behind `/metrics`
//! (Prometheus text) and `/v1/stats` (JSON), and whether it is ready.
//!
//! [`Telemetry`] holds handles to the live parts (the table, the per-core
//! counters of the UDP backend, the etcd status, the forwarder, the budgets...)
//! and reads them when asked: a scrape loads atomics and walks the current table
//! version into one `Stats`; it never waits for the dataplane. The same
//! `Stats` is written as Prometheus text (`exposition`, through
//! prometheus-client) and as the `/v1/stats` document (`json`), so both always
//! say the same.
//!
//! - `families`: writing a family of samples with prometheus-client.
//! - `exposition`: every `ferrodns_*` family, and `process_*`.
//! - `json`: `/v1/stats`.
//! - `process`: CPU, memory, descriptors and start time of this process.
//! - `reloads`: SIGHUP reloads, succeeded and failed ([`Reloads`]).
//! - `latency`: answer-latency histograms for TCP and forwarded answers.
//! - `sources`: PowerDNS remote backends, zone transfers, and every record
//!   source's state (up, stale, last success).
//!
//! `ferrodns_queries_total{rcode,qtype}` (and `queries` in `/v1/stats`) counts
//! the answers the poll loops (either backend) and the TCP listener gave
//! themselves: local zones, errors, and REFUSED without a forwarder. Each poll
//! loop counts in private memory and publishes per batch
//! ([`ferrodns_dataplane::answer_counts`]); a scrape sums them. Forwarded
//! answers are counted by the forwarder's own figures.
//!
//! Readiness: not ready until the first table is published and, with etcd,
//! until that table holds etcd's records (a full load, or the snapshot): while
//! etcd has never answered and there is no snapshot, the etcd zones are served
//! empty and an orchestrator should not send traffic yet. Likewise with
//! PowerDNS remote backends: not ready until each has been polled once (before
//! that its zones are not served at all); a backend that fails later leaves its
//! last records served (stale, `ferrodns_pdns_remote_up` 0) and the server
//! ready.

mod exposition;
mod families;
mod json;
mod latency;
mod process;
mod reloads;
mod sources;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use ferrodns_dataplane::answer_counts::{AnswerCounts, SharedAnswerCounts};
use ferrodns_dataplane::table::Table;

use crate::budget::{BudgetFigures, Budgets};
use crate::etcd::records::HealthTarget;
use crate::etcd::{EtcdStatus, SharedRecords};
use crate::forward::{ForwardStats, Forwarder};
use crate::health::CheckStats;
use crate::pdns::PdnsStatus;
use crate::pipeline::PublisherStatus;
use crate::transfer::TransferStats;

pub(crate) use families::{Families, Labels, label};
pub use latency::{AnswerLatency, LatencyPath};
pub use process::ProcessFigures;
pub use reloads::Reloads;
use sources::SourceFigures;

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

/// What this binary is, for `ferrodns_build_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The git commit it was built from (`unknown` outside a checkout).
    pub commit: &'static str,
    /// The UDP dataplane: `kernel` or `dpdk`.
    pub backend: &'static str,
}

impl BuildInfo {
    /// This binary, answering with `backend`.
    pub fn of_this_binary(backend: &'static str) -> BuildInfo {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            commit: env!("FERRODNS_COMMIT"),
            backend,
        }
    }
}

/// Families some other part of the process adds to every scrape (the query
/// log's counters, say): read at scrape time like the rest.
pub(crate) type ExtraFigures = Arc<dyn Fn(&mut Families<'_>) -> std::fmt::Result + Send + Sync>;

/// The live parts the figures come from.
pub struct Telemetry {
    table: Table,
    cores: CoreSource,
    build: BuildInfo,
    started: SystemTime,
    etcd: Option<(Arc<EtcdStatus>, SharedRecords)>,
    publisher: Arc<PublisherStatus>,
    forwarder: Option<Forwarder>,
    /// Answers the TCP listener gave, by RCODE and question type.
    tcp_answers: Arc<SharedAnswerCounts>,
    budgets: Option<Arc<Budgets>>,
    /// The PowerDNS remote backends, in source order.
    pdns: Vec<Arc<PdnsStatus>>,
    transfers: Option<Arc<TransferStats>>,
    reloads: Arc<Reloads>,
    latency: AnswerLatency,
    ready: AtomicBool,
    /// Requests answered, by matched route and status.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// What this process's health checks found.
    health_checks: Option<Arc<CheckStats>>,
    extra: Vec<ExtraFigures>,
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
            build: BuildInfo::of_this_binary("kernel"),
            started: SystemTime::now(),
            etcd: None,
            publisher: Arc::default(),
            forwarder: None,
            tcp_answers: Arc::default(),
            budgets: None,
            pdns: Vec::new(),
            transfers: None,
            reloads: Arc::default(),
            latency: AnswerLatency::default(),
            ready: AtomicBool::new(false),
            requests: Mutex::new(BTreeMap::new()),
            health_checks: None,
            extra: Vec::new(),
        }
    }

    /// Names what this binary is and which dataplane answers.
    pub fn with_build(mut self, build: BuildInfo) -> Telemetry {
        self.build = build;
        self
    }

    /// Counts from `started` for `process_start_time_seconds`.
    pub fn with_start_time(mut self, started: SystemTime) -> Telemetry {
        self.started = started;
        self
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

    /// Counts reloads in `reloads` (shared with whoever reloads).
    pub fn with_reloads(mut self, reloads: Arc<Reloads>) -> Telemetry {
        self.reloads = reloads;
        self
    }

    /// Records answer latencies in `latency` (shared with the TCP listener and
    /// the forwarder).
    pub fn with_latency(mut self, latency: AnswerLatency) -> Telemetry {
        self.latency = latency;
        self
    }

    /// Adds families some other part writes at each scrape.
    pub(crate) fn with_extra(mut self, extra: ExtraFigures) -> Telemetry {
        self.extra.push(extra);
        self
    }

    /// Marks the first table published: ready from now on (with etcd, once
    /// etcd has also been loaded or a snapshot served).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the server answers from a table worth answering from: the first
    /// table is published and, with etcd, it holds what etcd (or its snapshot)
    /// held, rather than the empty etcd zones served while etcd has never
    /// answered.
    pub fn is_ready(&self) -> bool {
        let published = self.ready.load(Ordering::Acquire);
        let pdns_loaded = self.pdns.iter().all(|status| status.ever_succeeded());
        match &self.etcd {
            Some((status, _)) => published && pdns_loaded && status.staleness().is_some(),
            None => published && pdns_loaded,
        }
    }

    /// Counts one REST API request by its route pattern and status.
    pub(crate) fn count_request(&self, route: String, status: u16) {
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

    /// The forwarder's figures now, when there is one.
    pub(crate) fn forward_stats(&self) -> Option<ForwardStats> {
        self.forwarder.as_ref().map(Forwarder::snapshot)
    }

    /// Every answer the poll loops and the TCP listener gave themselves, by
    /// RCODE and question type.
    pub(crate) fn local_answers(&self) -> AnswerCounts {
        let mut answers = self.tcp_answers.snapshot();
        for core in (self.cores)() {
            answers.add(&core.answers);
        }
        answers
    }

    /// Names in the published table.
    pub(crate) fn table_names(&self) -> usize {
        self.table.current().name_count()
    }

    /// Every figure, read now.
    pub(crate) fn stats(&self) -> Stats {
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
            build: self.build.clone(),
            process: ProcessFigures::read(self.started),
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
            forward: self.forward_stats(),
            budgets: self.budgets.as_ref().map(|b| b.figures()),
            sources: SourceFigures::read(
                &self.reloads,
                self.etcd.as_ref().map(|(status, _)| status.as_ref()),
                &self.pdns,
                self.transfers.as_deref(),
            ),
            requests: self
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// The `/metrics` text (Prometheus exposition format 0.0.4).
    pub(crate) fn prometheus_text(&self) -> String {
        exposition::render(
            self.stats(),
            &self.latency,
            self.health_checks.clone(),
            &self.extra,
        )
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
    build: BuildInfo,
    process: ProcessFigures,
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

/// The Prometheus text of one collector alone.
pub(crate) fn render_collector(collector: impl prometheus_client::collector::Collector) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

/// Seconds since the Unix epoch, for Prometheus timestamps.
pub(crate) fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
