//! Fixtures shared by the `engine` and `table_memory` benches: the service-discovery
//! table of the benchmarks and wire-format queries against it.
//!
//! The table is one zone, `cluster.local.`, holding `svc-<i>.ns-<i % 100>.svc.
//! cluster.local.` with one A record each (plus the empty non-terminals
//! `ns-<n>.svc.cluster.local.` and `svc.cluster.local.` and the synthesised apex SOA
//! and NS the compiler adds).

// Each bench binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ferrodns_dataplane::record::AnswerPolicy;
use ferrodns_dataplane::record::{RType, Record};
use ferrodns_dataplane::table::node::encode_node;
use ferrodns_dataplane::table::{RRsetSpec, TableVersion, ZoneInput, compile};
use ferrodns_dataplane::testkit::{a, name, query, srv};

pub(crate) const APEX: &str = "cluster.local.";
pub(crate) const TTL: u32 = 30;
/// Hash key of every benchmark table (any value; fixed so runs are comparable).
pub(crate) const SEED: u64 = 0x5eed_f00d;

/// Presentation name of service `i`.
pub(crate) fn service_name(i: usize) -> String {
    format!("svc-{i}.ns-{}.svc.cluster.local.", i % 100)
}

/// The address of service `i` in generation `generation` (the update bench bumps
/// the generation so every re-encoded node really differs).
pub(crate) fn service_addr(i: usize, generation: u8) -> Ipv4Addr {
    let [_, b, c, d] = (i as u32).to_be_bytes();
    Ipv4Addr::new(10u8.wrapping_add(generation), b, c, d)
}

/// One A record per service, `count` services.
pub(crate) fn service_records(count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| a(&service_name(i), TTL, service_addr(i, 0).octets()))
        .collect()
}

/// An SRV RRset at `_http._tcp.web.ns-0.svc.cluster.local.` whose three targets
/// are services 0..3, so an SRV answer carries three A records as additional data.
pub(crate) fn srv_records() -> Vec<Record> {
    (0..3)
        .map(|i| srv(SRV_NAME, TTL, 10, 10, 8080, &service_name(i)))
        .collect()
}

pub(crate) const SRV_NAME: &str = "_http._tcp.web.ns-0.svc.cluster.local.";

/// Compiles `records` as the single zone `cluster.local.`.
pub(crate) fn compile_zone(records: Vec<Record>) -> TableVersion {
    let zone = ZoneInput::new(name(APEX), records);
    compile(&[zone], &HashSet::new(), SEED).unwrap_or_else(|e| panic!("compile: {e}"))
}

/// Many queries in one flat buffer, so cycling through them touches memory the way
/// a stream of distinct client queries does (sequentially) and the table the way
/// distinct names do (randomly).
#[derive(Debug)]
pub(crate) struct QuerySet {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// `len - 1`; the length is a power of two so picking a query is a mask, not a
    /// division inside the measured loop.
    mask: usize,
}

impl QuerySet {
    /// A-queries for `count` (a power of two) services drawn at random (fixed seed)
    /// from `0..names`.
    pub(crate) fn random_a(names: usize, count: usize) -> Self {
        assert!(
            count.is_power_of_two(),
            "query count must be a power of two"
        );
        let mut rng = fastrand::Rng::with_seed(7);
        let mut set = QuerySet {
            bytes: Vec::new(),
            spans: Vec::with_capacity(count),
            mask: count - 1,
        };
        for _ in 0..count {
            let q = query(&service_name(rng.usize(..names)), RType::A).bytes;
            set.spans.push((set.bytes.len(), q.len()));
            set.bytes.extend_from_slice(&q);
        }
        set
    }

    /// The question name of query `index % len` (the benchmark names are lower
    /// case, so this is also the table key).
    #[inline]
    pub(crate) fn name(&self, index: usize) -> &[u8] {
        let query = self.get(index);
        &query[12..query.len() - 4]
    }

    /// Query `index % len`.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &[u8] {
        let (start, len) = self.spans[index & self.mask];
        &self.bytes[start..start + len]
    }
}

/// A fresh node for service `i`: what a control-plane update of that one name
/// compiles to.
pub(crate) fn service_node(zone: u16, i: usize, generation: u8) -> Arc<[u8]> {
    let set = RRsetSpec {
        rtype: RType::A,
        ttl: TTL,
        policy: AnswerPolicy::default(),
        rdatas: vec![service_addr(i, generation).octets().to_vec()],
    };
    let wire = name(&service_name(i)).to_lowercase_wire();
    encode_node(zone, &wire, &[set]).unwrap_or_else(|e| panic!("encode: {e}"))
}

/// Resident set size of this process in bytes (`VmRSS`), and its peak (`VmHWM`).
pub(crate) fn resident_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
