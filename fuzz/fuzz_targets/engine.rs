//! Feeds arbitrary bytes to the answer engine over UDP and TCP against a small
//! compiled zone: the engine must never panic, never answer a response (QR=1), and
//! every reply must keep the query ID and set QR.
#![no_main]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::table;
use ferrodns_dataplane::engine::{Engine, QueryContext, Transport, Verdict};
use libfuzzer_sys::fuzz_target;

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
