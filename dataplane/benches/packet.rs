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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use criterion::{Criterion, criterion_group, criterion_main};
use ferrodns_dataplane::engine::{Engine, QueryContext, Transport};
use ferrodns_dataplane::packet::{self, ChecksumMode, Services};
use ferrodns_dataplane::record::RType;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
const SERVICE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SERVICE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

fn checksum(pieces: &[&[u8]]) -> u16 {
    let bytes = pieces.concat();
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn udp(payload: &[u8], pseudo_prefix: &[u8], pseudo_suffix: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = [
        &40000u16.to_be_bytes()[..],
        &53u16.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ]
    .concat();
    let c = checksum(&[
        pseudo_prefix,
        &[0, 0],
        &len.to_be_bytes(),
        pseudo_suffix,
        &u,
    ]);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

fn ipv4_frame(payload: &[u8]) -> Vec<u8> {
    let addrs = [CLIENT_V4.octets(), SERVICE_V4.octets()].concat();
    let u = udp(payload, &addrs, &[0, 17]);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + u.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&addrs);
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    [&MAC[..], &CLIENT_MAC, &[0x08, 0x00], &ip, &u].concat()
}

fn ipv6_frame(payload: &[u8]) -> Vec<u8> {
    let addrs = [CLIENT_V6.octets(), SERVICE_V6.octets()].concat();
    let u = udp(payload, &addrs, &[0, 0, 0, 17]);
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(u.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&addrs);
    [&MAC[..], &CLIENT_MAC, &[0x86, 0xdd], &ip, &u].concat()
}

fn benches(c: &mut Criterion) {
    let table = common::compile_zone(common::service_records(1_000));
    let engine = Engine::default();
    let services = Services::new(
        MAC,
        &[
            SocketAddr::new(IpAddr::V4(SERVICE_V4), 53),
            SocketAddr::new(IpAddr::V6(SERVICE_V6), 53),
        ],
    );
    let query = common::query(&common::service_name(7), RType::A);
    let mut buf = vec![0u8; 2048];
    let mut group = c.benchmark_group("packet");

    group.bench_function("engine_alone", |b| {
        b.iter(|| {
            buf[..query.len()].copy_from_slice(&query);
            let ctx = QueryContext {
                client: IpAddr::V4(CLIENT_V4),
                transport: Transport::Udp,
                entropy: 0,
            };
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
                black_box(packet::handle(
                    &mut buf,
                    frame.len(),
                    &services,
                    mode,
                    |room, len, client| {
                        let ctx = QueryContext {
                            client,
                            transport: Transport::Udp,
                            entropy: 0,
                        };
                        engine.respond(&table, room, len, &ctx)
                    },
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(packet_benches, benches);
criterion_main!(packet_benches);
