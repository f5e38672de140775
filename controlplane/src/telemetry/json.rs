//! The `/v1/stats` document: the figures of `/metrics` as JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Stats;
use crate::budget::BudgetFigures;
use crate::forward::ForwardStats;

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
        let (sources, reloads) = self.sources.states_json();
        json!({
            "build": {
                "version": self.build.version,
                "commit": self.build.commit,
                "backend": self.build.backend,
            },
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
            "forward": self.forward.as_ref().map(forward_json),
            "budgets": self.budgets.as_ref().map(budgets_json),
            "pdns_remote": self.sources.pdns_json(),
            "transfers": self.sources.transfers_json(),
            "sources": sources,
            "reloads": reloads,
        })
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
