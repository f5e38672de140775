//! Feeds arbitrary frames to the DPDK backend's packet layer, answering DNS with
//! the real engine over a small zone: it must never panic, never claim more bytes
//! than the buffer holds, and every frame it sends must come from our MAC.
//!
//! Each input is handled twice: as it is, and with the IPv4 header checksum and the
//! UDP / ICMP / ICMPv6 checksum of an untagged frame repaired, so the fuzzer gets
//! past checksum verification to the parsing behind it.
#![no_main]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use common::table;
use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::packet::{Action, ChecksumMode, Services};
use ferrodns_dataplane::testkit::{IpHeader, Ipv4, Ipv6, UDP, checksum, handle_frame};
use libfuzzer_sys::fuzz_target;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

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

/// Recomputes the checksums of an untagged IPv4 or IPv6 frame in place, as far as
/// its length fields allow.
fn repair(frame: &mut [u8]) {
    match frame.get(12..14) {
        Some([0x08, 0x00]) if frame.len() >= 34 => {
            let ihl = (usize::from(frame[14] & 0x0f) * 4).max(20);
            let Some(header) = frame.get_mut(14..14 + ihl) else {
                return;
            };
            header[10..12].fill(0);
            let c = checksum(&[header]);
            header[10..12].copy_from_slice(&c.to_be_bytes());
            let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
            let ip = Ipv4::new(address(&frame[26..30]), address(&frame[30..34]));
            let proto = frame[23];
            let Some(l4) = frame.get_mut(14 + ihl..(14 + total).min(frame.len())) else {
                return;
            };
            // ICMP's checksum covers the message alone, UDP's a pseudo-header too.
            let pseudo = match proto {
                1 => Vec::new(),
                UDP => ip.pseudo_header(UDP, l4.len()),
                _ => return,
            };
            set_checksum(l4, if proto == UDP { 6 } else { 2 }, &pseudo);
        }
        Some([0x86, 0xdd]) if frame.len() >= 54 => {
            let next = frame[20];
            let ip = Ipv6::new(address(&frame[22..38]), address(&frame[38..54]));
            let payload = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
            let Some(l4) = frame.get_mut(54..(54 + payload).min(frame.len())) else {
                return;
            };
            let at = match next {
                UDP => 6,
                58 => 2,
                _ => return,
            };
            let pseudo = ip.pseudo_header(next, l4.len());
            set_checksum(l4, at, &pseudo);
        }
        _ => {}
    }
}

fn address<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or([0; N])
}

/// Writes the checksum of `segment` (after `pseudo`) at `at`, if it has room.
fn set_checksum(segment: &mut [u8], at: usize, pseudo: &[u8]) {
    let Some(field) = segment.get_mut(at..at + 2) else {
        return;
    };
    field.fill(0);
    let c = checksum(&[pseudo, segment]);
    segment[at..at + 2].copy_from_slice(&c.to_be_bytes());
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
        let action = handle_frame(&engine, table(), &mut buf, data.len(), services(), mode);
        match action {
            Action::Transmit { len, .. } => {
                assert!(len <= buf.len());
                assert_eq!(buf[6..12], MAC);
            }
            Action::ToKernel | Action::Punt | Action::Drop(_) => {}
        }
    }
}
