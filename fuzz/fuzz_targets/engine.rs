//! Feeds arbitrary bytes to the answer engine over UDP and TCP against a small
//! compiled zone: the engine must never panic, never answer a response (QR=1), and
//! every reply must keep the query ID and set QR.
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use ferrodns_dataplane::engine::{Engine, QueryContext, Transport, Verdict};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};
use ferrodns_dataplane::table::{TableVersion, ZoneInput, compile};
use libfuzzer_sys::fuzz_target;

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
            Record::new(
                name("*.apps.example."),
                30,
                RData::A(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            Record::new(
                name("_http._tcp.example."),
                30,
                RData::Srv {
                    priority: 1,
                    weight: 1,
                    port: 80,
                    target: name("web.example."),
                },
            ),
        ];
        compile(
            &[ZoneInput::new(name("example."), records)],
            &HashSet::new(),
            1,
        )
        .unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let engine = Engine::default();
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut buf = vec![0u8; 65_535.max(data.len())];
        buf[..data.len()].copy_from_slice(data);
        let ctx = QueryContext {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            transport,
            entropy: data.len() as u32,
        };
        match engine.respond(table(), &mut buf, data.len(), &ctx) {
            Verdict::Reply(len) | Verdict::Refused(len) => {
                assert!(data.len() < 3 || data[2] & 0x80 == 0, "answered a response");
                assert!(len >= 12 && len <= buf.len());
                assert_eq!(&buf[..2], &data[..2]);
                assert_eq!(buf[2] & 0x80, 0x80);
                if transport == Transport::Udp {
                    assert!(len <= 1232);
                }
            }
            Verdict::Punt | Verdict::Drop => {}
        }
    }
});
