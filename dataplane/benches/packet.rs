//! Criterion benches of the DPDK backend's packet layer (`packet::handle`): what
//! answering a whole Ethernet frame costs on top of answering its DNS payload.
//!
//! `cargo bench -p ferrodns-dataplane --bench packet` (about 30 s). Figures:
//! `docs/benchmarks.md`.
//!
//! - `packet/engine_alone`: `Engine::respond` on the query's DNS payload, copied
//!   into the buffer first (as `engine_1k/a/one_name`).
//! - `packet/ipv4_frame`, `packet/ipv6_frame`: `packet::handle` on the whole
//!   frame, copied into the buffer first: Ethernet, IP and UDP checks (IPv4 header
//!   and UDP checksums verified), the same engine call, headers turned around,
//!   checksums computed.
//! - `packet/ipv4_frame_offload`: the same with checksum offload (only the
//!   pseudo-header sum is written).
//!
//! The table is 1k service names, the query an A query for one of them.

mod common;

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};

use criterion::{Criterion, criterion_group, criterion_main};
use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::packet::{ChecksumMode, Services};
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::testkit::{
    CLIENT_MAC, CLIENT_PORT, CLIENT_V4, CLIENT_V6, Ethernet, Ipv4, Ipv6, SERVER_MAC, SERVICE_V4,
    SERVICE_V6, handle_frame, query, udp_context, udp_frame,
};

fn ipv4_frame(payload: &[u8]) -> Vec<u8> {
    let ip = Ipv4::new(CLIENT_V4, SERVICE_V4);
    udp_frame(&to_server(), &ip, CLIENT_PORT, 53, payload)
}

fn ipv6_frame(payload: &[u8]) -> Vec<u8> {
    let ip = Ipv6::new(CLIENT_V6, SERVICE_V6);
    udp_frame(&to_server(), &ip, CLIENT_PORT, 53, payload)
}

fn to_server() -> Ethernet {
    Ethernet::new(SERVER_MAC, CLIENT_MAC)
}

fn benches(c: &mut Criterion) {
    let table = common::compile_zone(common::service_records(1_000));
    let engine = Engine::default();
    let services = Services::new(
        SERVER_MAC,
        &[
            SocketAddr::new(IpAddr::from(SERVICE_V4), 53),
            SocketAddr::new(IpAddr::from(SERVICE_V6), 53),
        ],
    );
    let query = query(&common::service_name(7), RType::A).bytes;
    let mut buf = vec![0u8; 2048];
    let mut group = c.benchmark_group("packet");

    group.bench_function("engine_alone", |b| {
        b.iter(|| {
            buf[..query.len()].copy_from_slice(&query);
            let ctx = udp_context(IpAddr::from(CLIENT_V4));
            black_box(engine.respond(&table, &mut buf, query.len(), &ctx))
        })
    });
    let frames = [
        ("ipv4_frame", ipv4_frame(&query), ChecksumMode::Software),
        ("ipv6_frame", ipv6_frame(&query), ChecksumMode::Software),
        (
            "ipv4_frame_offload",
            ipv4_frame(&query),
            ChecksumMode::Offload,
        ),
    ];
    for (name, frame, mode) in frames {
        group.bench_function(name, |b| {
            b.iter(|| {
                buf[..frame.len()].copy_from_slice(&frame);
                black_box(handle_frame(
                    &engine,
                    &table,
                    &mut buf,
                    frame.len(),
                    &services,
                    mode,
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(packet_benches, benches);
criterion_main!(packet_benches);
