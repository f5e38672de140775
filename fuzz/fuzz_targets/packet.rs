//! Feeds arbitrary frames to the DPDK backend's packet layer, answering DNS with
//! the real engine over a small zone: it must never panic, never claim more bytes
//! than the buffer holds, and every frame it sends must come from our MAC.
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
            Record::new(name("web.example."), 30, RData::A(Ipv4Addr::new(10, 0, 0, 1))),
            Record::new(name("www.example."), 30, RData::Cname(name("web.example."))),
        ];
        compile(&[ZoneInput::new(name("example."), records)], &HashSet::new(), 1)
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
                SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x53)), 53),
            ],
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let engine = Engine::default();
    for mode in [ChecksumMode::Software, ChecksumMode::Offload] {
        let mut buf = vec![0u8; 2048.max(data.len())];
        buf[..data.len()].copy_from_slice(data);
        let action = packet::handle(&mut buf, data.len(), services(), mode, |room, len, client| {
            let ctx = QueryContext {
                client,
                transport: Transport::Udp,
                entropy: 0,
            };
            engine.respond(table(), room, len, &ctx)
        });
        match action {
            Action::Transmit { len, .. } => {
                assert!(len <= buf.len());
                assert_eq!(buf[6..12], MAC);
            }
            Action::ToKernel | Action::Punt | Action::Drop(_) => {}
        }
    }
});
