//! Feeds arbitrary frames to the DPDK backend's packet layer, answering DNS with
//! the real engine over a small zone: it must never panic, never claim more bytes
//! than the buffer holds, and every frame it sends must come from our MAC.
//!
//! Each input is handled twice: as it is, and with the IPv4 header checksum and the
//! UDP / ICMP / ICMPv6 checksum of an untagged frame repaired, so the fuzzer gets
//! past checksum verification to the parsing behind it.
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use ferrodns_dataplane::engine::{Engine, QueryContext, Transport};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::packet::{self, Action, ChecksumMode, Services};
use ferrodns_dataplane::record::{RData, Record};
use ferrodns_dataplane::table::{TableVersion, ZoneInput, compile};
use libfuzzer_sys::fuzz_target;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

fn table() -> &'static TableVersion {
    static TABLE: OnceLock<TableVersion> = OnceLock::new();
    TABLE.get_or_init(|| {
        let name = |text: &str| Name::from_ascii(text).unwrap_or_else(|_| Name::root());
        let records = vec![
            Record::new(
                name("web.example."),
                30,
                RData::A(Ipv4Addr::new(10, 0, 0, 1)),
            ),
            Record::new(name("www.example."), 30, RData::Cname(name("web.example."))),
        ];
        compile(
            &[ZoneInput::new(name("example."), records)],
            &HashSet::new(),
            1,
        )
        .unwrap_or_default()
    })
}

fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| {
        Services::new(
            MAC,
            &[
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53)), 53),
                SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x53)),
                    53,
                ),
            ],
        )
    })
}

fn sum(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum()
}

fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the checksums of an untagged IPv4 or IPv6 frame in place, as far as
/// its length fields allow.
fn repair(frame: &mut [u8]) {
    match frame.get(12..14) {
        Some([0x08, 0x00]) if frame.len() >= 34 => {
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            let Some(header) = frame.get_mut(14..14 + ihl.max(20)) else {
                return;
            };
            header[10] = 0;
            header[11] = 0;
            let c = finish(sum(header));
            header[10..12].copy_from_slice(&c.to_be_bytes());
            let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
            let (proto, src_dst) = (frame[23], frame[26..34].to_vec());
            let Some(l4) = frame.get_mut(14 + ihl.max(20)..(14 + total).min(frame.len())) else {
                return;
            };
            let at = match proto {
                17 => 6,
                1 => 2,
                _ => return,
            };
            if l4.len() < at + 2 {
                return;
            }
            l4[at] = 0;
            l4[at + 1] = 0;
            let pseudo = if proto == 17 {
                sum(&src_dst) + 17 + l4.len() as u32
            } else {
                0
            };
            let c = finish(pseudo + sum(l4));
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        Some([0x86, 0xdd]) if frame.len() >= 54 => {
            let (next, src_dst) = (frame[20], frame[22..54].to_vec());
            let payload = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
            let Some(l4) = frame.get_mut(54..(54 + payload).min(frame.len())) else {
                return;
            };
            let at = match next {
                17 => 6,
                58 => 2,
                _ => return,
            };
            if l4.len() < at + 2 {
                return;
            }
            l4[at] = 0;
            l4[at + 1] = 0;
            let c = finish(sum(&src_dst) + l4.len() as u32 + u32::from(next) + sum(l4));
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut repaired = data.to_vec();
    repair(&mut repaired);
    check(data);
    check(&repaired);
});

fn check(data: &[u8]) {
    let engine = Engine::default();
    for mode in [ChecksumMode::Software, ChecksumMode::Offload] {
        let mut buf = vec![0u8; 2048.max(data.len())];
        buf[..data.len()].copy_from_slice(data);
        let action = packet::handle(
            &mut buf,
            data.len(),
            services(),
            mode,
            |room, len, client| {
                let ctx = QueryContext {
                    client,
                    transport: Transport::Udp,
                    entropy: 0,
                };
                engine.respond(table(), room, len, &ctx)
            },
        );
        match action {
            Action::Transmit { len, .. } => {
                assert!(len <= buf.len());
                assert_eq!(buf[6..12], MAC);
            }
            Action::ToKernel | Action::Punt | Action::Drop(_) => {}
        }
    }
}
