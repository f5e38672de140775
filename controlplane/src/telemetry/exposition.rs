//! The `/metrics` families, written from one [`Stats`] by prometheus-client.
//!
//! Every family the server exports is listed here, in the order it appears:
//! build and process, answers and poll loops, the table, etcd and health, the
//! REST API, the forwarder, the budgets, the record sources, then the answer
//! latencies, the health checker's block and what other parts add
//! ([`ExtraFigures`]: the query log's counters).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::families::{Families, Labels, label};
use super::latency::AnswerLatency;
use super::{CoreCounters, ExtraFigures, Stats};
use crate::budget::{BudgetFigures, GateFigures};
use crate::forward::{ForwardStats, UpstreamStats};
use crate::health::CheckStats;

/// Everything one scrape writes.
struct Scrape {
    stats: Stats,
    latency: AnswerLatency,
    health_checks: Option<Arc<CheckStats>>,
    extra: Vec<ExtraFigures>,
}

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

/// The `/metrics` text of `stats` and the rest.
pub(super) fn render(
    stats: Stats,
    latency: &AnswerLatency,
    health_checks: Option<Arc<CheckStats>>,
    extra: &[ExtraFigures],
) -> String {
    super::render_collector(Scrape {
        stats,
        latency: latency.clone(),
        health_checks,
        extra: extra.to_vec(),
    })
}

impl Collector for Scrape {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut out = Families::new(encoder);
        let stats = &self.stats;
        build_and_process(stats, &mut out)?;
        answers_and_cores(stats, &mut out)?;
        table_etcd_and_api(stats, &mut out)?;
        if let Some(forward) = &stats.forward {
            forward_families(forward, &mut out)?;
        }
        if let Some(budgets) = &stats.budgets {
            budget_families(budgets, &mut out)?;
        }
        stats.sources.families(&mut out)?;
        out.metric(
            "ferrodns_answer_duration_seconds",
            "Time to answer, by path: tcp (a local answer over TCP, from the query read to the answer written), \
             forward_cache and forward_upstream (a forwarded answer, from the forwarder taking the query to the answer ready).",
            self.latency.family(),
        )?;
        if let Some(checks) = &self.health_checks {
            checks.families(&mut out)?;
        }
        for extra in &self.extra {
            extra(&mut out)?;
        }
        Ok(())
    }
}

fn build_and_process(stats: &Stats, out: &mut Families<'_>) -> fmt::Result {
    let build = &stats.build;
    let mut labels = label("version", build.version);
    labels.push(("commit", build.commit.to_owned()));
    labels.push(("backend", build.backend.to_owned()));
    out.gauge(
        "ferrodns_build_info",
        "Always 1: the version, git commit and UDP dataplane (kernel or dpdk) of this server.",
        [(labels, 1u64)],
    )?;
    let p = &stats.process;
    if let Some(cpu) = p.cpu_seconds {
        out.plain_counter(
            "process_cpu_seconds_total",
            "User and system CPU time spent, in seconds.",
            cpu,
        )?;
    }
    if let Some(bytes) = p.resident_bytes {
        out.plain_gauge(
            "process_resident_memory_bytes",
            "Resident memory size, in bytes.",
            bytes,
        )?;
    }
    if let Some(fds) = p.open_fds {
        out.plain_gauge("process_open_fds", "Open file descriptors.", fds as u64)?;
    }
    if let Some(max) = p.max_fds {
        out.plain_gauge(
            "process_max_fds",
            "The soft limit of open file descriptors.",
            max,
        )?;
    }
    out.plain_gauge(
        "process_start_time_seconds",
        "Unix time the process started.",
        p.start_time_seconds,
    )
}

fn answers_and_cores(stats: &Stats, out: &mut Families<'_>) -> fmt::Result {
    out.counter(
        "ferrodns_queries_total",
        "Queries answered by the dataplane and the TCP listener, by response code and question type.",
        stats.answers.nonzero().map(|(rcode, qtype, n)| {
            let mut labels = label("rcode", rcode);
            labels.push(("qtype", qtype.to_owned()));
            (labels, n)
        }),
    )?;
    let per_core = |value: fn(&CoreCounters) -> u64| {
        stats
            .cores
            .iter()
            .map(move |c| (label("core", c.core), value(c)))
    };
    out.counter(
        "ferrodns_core_rx_total",
        "Datagrams received, per poll loop.",
        per_core(|c| c.rx),
    )?;
    out.counter(
        "ferrodns_core_tx_total",
        "Datagrams sent, per poll loop.",
        per_core(|c| c.tx),
    )?;
    out.counter(
        "ferrodns_core_drops_total",
        "Datagrams dropped unanswered, per poll loop.",
        per_core(|c| c.drops),
    )?;
    out.counter(
        "ferrodns_core_punts_total",
        "Queries punted to the forwarder, per poll loop.",
        per_core(|c| c.punts),
    )
}

fn table_etcd_and_api(stats: &Stats, out: &mut Families<'_>) -> fmt::Result {
    out.plain_gauge(
        "ferrodns_table_names",
        "Names in the published answer table.",
        stats.names as u64,
    )?;
    out.plain_gauge(
        "ferrodns_table_records",
        "Records in the published answer table.",
        stats.records as u64,
    )?;
    out.plain_gauge(
        "ferrodns_table_uncompilable_names",
        "Names served empty because their records cannot be compiled (each is logged).",
        stats.uncompilable as u64,
    )?;
    out.plain_counter(
        "ferrodns_table_skipped_records_total",
        "Records a source gave that could not be kept (each is logged).",
        stats.skipped_records,
    )?;
    if let Some(etcd) = stats.etcd {
        out.plain_gauge(
            "ferrodns_etcd_connected",
            "1 while the etcd watch is live.",
            u64::from(etcd.connected),
        )?;
        out.plain_gauge(
            "ferrodns_etcd_revision",
            "etcd revision of the newest change applied.",
            etcd.revision,
        )?;
        if let Some(staleness) = etcd.staleness_seconds {
            out.plain_gauge(
                "ferrodns_etcd_staleness_seconds",
                "How out of date the table may be.",
                staleness,
            )?;
        }
    }
    out.gauge(
        "ferrodns_health_targets",
        "Backend addresses by health status.",
        [
            (label("status", "UP"), stats.health_up),
            (label("status", "DOWN"), stats.health_down),
        ],
    )?;
    out.counter(
        "ferrodns_api_requests_total",
        "REST API requests answered, by route and status.",
        stats.requests.iter().map(|((route, status), n)| {
            let mut labels = label("route", route);
            labels.push(("status", status.to_string()));
            (labels, *n)
        }),
    )
}

/// The forwarder's families.
fn forward_families(f: &ForwardStats, out: &mut Families<'_>) -> fmt::Result {
    for (name, help, value) in [
        (
            "ferrodns_forward_queries_total",
            "Punted queries the forwarder handled.",
            f.queries,
        ),
        (
            "ferrodns_forward_cache_hits_total",
            "Forwarded queries answered from the cache.",
            f.cache_hits,
        ),
        (
            "ferrodns_forward_cache_misses_total",
            "Forwarded queries not in the cache.",
            f.cache_misses,
        ),
        (
            "ferrodns_forward_upstream_queries_total",
            "Questions sent to upstreams (cache misses that led a flight).",
            f.forwarded,
        ),
        (
            "ferrodns_forward_coalesced_total",
            "Cache misses answered from an identical question already in flight.",
            f.coalesced,
        ),
        (
            "ferrodns_forward_servfail_total",
            "Forwarded queries answered SERVFAIL: every upstream failed.",
            f.servfail,
        ),
        (
            "ferrodns_forward_over_cap_total",
            "Forwarded queries answered SERVFAIL at once: a cap on queries in flight was reached.",
            f.over_cap,
        ),
        (
            "ferrodns_forward_refused_total",
            "Punted queries answered REFUSED (no upstream).",
            f.refused,
        ),
        (
            "ferrodns_forward_rate_limited_total",
            "Punted queries dropped by the rate limit.",
            f.rate_limited,
        ),
        (
            "ferrodns_forward_spoofs_total",
            "Upstream replies dropped for not matching their query.",
            f.spoofs,
        ),
        (
            "ferrodns_forward_bailiwick_drops_total",
            "Records of upstream answers not believed (outside the upstream's bailiwick, or local).",
            f.bailiwick_drops,
        ),
        (
            "ferrodns_forward_local_drops_total",
            "Cached answers dropped because they hold data of a zone that became local.",
            f.local_drops,
        ),
        (
            "ferrodns_forward_reply_errors_total",
            "Forwarded answers that could not be sent back to the client.",
            f.reply_errors,
        ),
    ] {
        out.plain_counter(name, help, value)?;
    }
    for (name, help, value) in [
        (
            "ferrodns_forward_in_flight",
            "Questions in flight to upstreams.",
            f.in_flight,
        ),
        (
            "ferrodns_forward_sockets_open",
            "Sockets the forwarder holds towards upstreams (UDP and TCP).",
            f.sockets_open,
        ),
        (
            "ferrodns_forward_cache_entries",
            "Answers in the forwarder's cache.",
            f.cache_entries,
        ),
    ] {
        out.plain_gauge(name, help, value)?;
    }
    upstream_families(&f.upstreams, out)
}

/// The forwarder's families per upstream, labelled `upstream`.
fn upstream_families(upstreams: &[UpstreamStats], out: &mut Families<'_>) -> fmt::Result {
    let per_upstream = |value: fn(&UpstreamStats) -> u64| {
        upstreams
            .iter()
            .map(move |u| (label("upstream", u.addr), value(u)))
    };
    out.gauge(
        "ferrodns_forward_upstream_in_flight",
        "Attempts waiting on each upstream.",
        per_upstream(|u| u.in_flight),
    )?;
    out.counter(
        "ferrodns_forward_upstream_over_cap_total",
        "Attempts that passed an upstream over: at its cap of attempts in flight, or no socket left.",
        per_upstream(|u| u.over_cap),
    )?;
    for (name, help, value) in [
        (
            "ferrodns_forward_upstream_attempts_total",
            "Queries sent to each upstream (every attempt, retries included).",
            (|u| u.queries) as fn(&UpstreamStats) -> u64,
        ),
        (
            "ferrodns_forward_upstream_answers_total",
            "Usable answers (NOERROR, NXDOMAIN) each upstream gave.",
            |u| u.answers,
        ),
        (
            "ferrodns_forward_upstream_timeouts_total",
            "Attempts each upstream did not answer in time.",
            |u| u.timeouts,
        ),
        (
            "ferrodns_forward_upstream_failures_total",
            "Attempts that failed otherwise: unreachable, malformed replies, error rcodes.",
            |u| u.failures,
        ),
        (
            "ferrodns_forward_upstream_tcp_retries_total",
            "Truncated answers of each upstream asked again over TCP.",
            |u| u.tcp_retries,
        ),
        (
            "ferrodns_forward_upstream_spoofs_total",
            "Replies dropped for not matching their query, per upstream address.",
            |u| u.spoofs,
        ),
    ] {
        out.counter(name, help, per_upstream(value))?;
    }
    out.gauge(
        "ferrodns_forward_upstream_rtt_seconds",
        "Smoothed round-trip time of each upstream, once measured.",
        upstreams.iter().filter_map(|u| {
            u.srtt_us
                .map(|us| (label("upstream", u.addr), us as f64 / 1e6))
        }),
    )?;
    out.gauge(
        "ferrodns_forward_upstream_down",
        "1 while an upstream is backed off after timeouts or errors.",
        per_upstream(|u| u64::from(u.down)),
    )
}

/// The budgets' families.
fn budget_families(budgets: &BudgetFigures, out: &mut Families<'_>) -> fmt::Result {
    out.plain_gauge(
        "ferrodns_descriptors_limit",
        "Descriptors the process may hold (the soft limit, raised to the hard one at start).",
        budgets.descriptor_limit,
    )?;
    if let Some(open) = budgets.descriptors_open {
        out.plain_gauge(
            "ferrodns_descriptors_open",
            "Descriptors the process holds.",
            open as u64,
        )?;
    }
    out.plain_gauge(
        "ferrodns_forward_sockets_limit",
        "Upstream sockets the forwarder may hold at once (forward.max_sockets as fitted).",
        budgets.forward_sockets as u64,
    )?;
    let class = |g: &GateFigures| -> Labels { label("class", g.class) };
    let per_class =
        |value: fn(&GateFigures) -> u64| budgets.gates.iter().map(move |g| (class(g), value(g)));
    for (name, help, value) in [
        (
            "ferrodns_connections_limit",
            "Connections a class may hold open at once.",
            (|g| g.limit as u64) as fn(&GateFigures) -> u64,
        ),
        (
            "ferrodns_connections_per_source_limit",
            "Connections of a class one source may hold open at once.",
            |g| g.per_source as u64,
        ),
        (
            "ferrodns_connections_open",
            "Connections open now, per class.",
            |g| g.open as u64,
        ),
    ] {
        out.gauge(name, help, per_class(value))?;
    }
    out.counter(
        "ferrodns_connections_accepted_total",
        "Connections admitted, per class.",
        per_class(|g| g.accepted),
    )?;
    out.counter(
        "ferrodns_connections_refused_total",
        "Connections closed when accepted: the class's limit, or its source's, was reached.",
        budgets.gates.iter().flat_map(|g| {
            [
                ("limit", g.refused_limit),
                ("per_source", g.refused_per_source),
            ]
            .map(|(reason, n)| {
                let mut labels = class(g);
                labels.push(("reason", reason.to_owned()));
                (labels, n)
            })
        }),
    )?;
    out.counter(
        "ferrodns_connections_timed_out_total",
        "Connections closed by a timeout, per class and timeout.",
        budgets.gates.iter().flat_map(|g| {
            g.timed_out.map(|(timeout, n)| {
                let mut labels = class(g);
                labels.push(("timeout", timeout.as_str().to_owned()));
                (labels, n)
            })
        }),
    )
}
