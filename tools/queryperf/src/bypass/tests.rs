//! The generator's frames against the appliance's own packet layer and engine
//! (the dataplane's test kit answers them as ferrodns's DPDK workers do): a
//! query frame goes out, the answer frame comes back, and the generator finds
//! the DNS answer in it and matches it to the query; plus answers it must not
//! take, and frames cut at every length.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::packet::{Action, ChecksumMode, Services};
use ferrodns_dataplane::table::TableVersion;
use ferrodns_dataplane::testkit::{
    CLIENT_MAC, Ethernet, Ipv4, SERVER_MAC, SERVICE_V4, SERVICE_V6, a, aaaa, compile_zone,
    handle_frame, soa, udp_frame,
};

use super::frame::{Link, QueryFrames};
use super::inbound::{Addressing, Inbound, classify};
use super::local::{LocalAddrs, number};
use super::neighbor::{Handled, Neighbors};
use crate::query::{Name, QueryTemplate, reply_header};
use crate::tracker::{Nanos, Tracker};

fn table() -> TableVersion {
    compile_zone(
        "dpdk.test.",
        vec![
            soa("dpdk.test.", 300, 1),
            a("web.dpdk.test.", 300, [10, 0, 0, 1]),
            aaaa("web.dpdk.test.", 300, "fd00::1".parse().unwrap()),
        ],
    )
}

fn queries() -> Vec<QueryTemplate> {
    [
        ("web.dpdk.test", 1),
        ("web.dpdk.test", 28),
        ("missing.dpdk.test", 1),
    ]
    .iter()
    .map(|(name, qtype)| QueryTemplate::new(&Name::parse(name).unwrap(), *qtype, true))
    .collect()
}

/// The generator on one side of a link to the appliance at `server`.
struct Generator {
    link: Link,
    frames: QueryFrames,
    addressing: Addressing,
}

fn generator(server: IpAddr, local: &str, vlan: Option<u16>) -> Generator {
    let link = Link {
        mac: CLIENT_MAC,
        server_mac: SERVER_MAC,
        vlan,
        server: SocketAddr::new(server, 53),
    };
    Generator {
        link,
        frames: QueryFrames::new(&link, &queries()),
        addressing: Addressing {
            mac: CLIENT_MAC,
            server: number(server),
            server_port: 53,
            local: local
                .parse::<LocalAddrs>()
                .unwrap()
                .without(server)
                .unwrap(),
        },
    }
}

/// The appliance's answer to `frame`, as its DPDK worker would send it.
fn appliance(server: IpAddr, frame: &[u8]) -> Vec<u8> {
    let services = Services::new(SERVER_MAC, &[SocketAddr::new(server, 53)]);
    let mut buf = frame.to_vec();
    buf.resize(2048, 0);
    match handle_frame(
        &Engine::default(),
        &table(),
        &mut buf,
        frame.len(),
        &services,
        ChecksumMode::Software,
    ) {
        Action::Transmit { len, .. } => buf[..len].to_vec(),
        other => panic!("the appliance did not answer: {other:?}"),
    }
}

#[test]
fn every_answer_of_the_appliance_is_matched_to_its_query() {
    for (server, local, vlan) in [
        (IpAddr::from(SERVICE_V4), "192.0.2.128/25", None),
        (IpAddr::from(SERVICE_V6), "2001:db8::1:0/112", Some(100)),
    ] {
        let g = generator(server, local, vlan);
        let queries = queries();
        let mut tracker: Tracker<Nanos> = Tracker::new(&mut fastrand::Rng::with_seed(1));
        let mut rcodes = Vec::new();
        for round in 0..40usize {
            let index = round % queries.len();
            let id = tracker
                .start(Nanos(round as u64 * 1000), index as u32)
                .unwrap();
            let source = g.addressing.local.source(round);
            let port = 10_000 + (round % 4) as u16;
            let mut out = [0u8; 512];
            let len = g
                .frames
                .write(&mut out, &queries[index], index, id, source, port)
                .unwrap();
            let answer = appliance(server, &out[..len]);
            let Inbound::Answer { port: to, message } = classify(&answer, &g.addressing) else {
                panic!("not taken for an answer: {answer:02x?}");
            };
            assert_eq!(to, port, "the answer comes back to the flow's port");
            let message = &answer[message];
            let header = reply_header(message).unwrap();
            assert_eq!(header.id, id);
            let query = tracker.query(header.id).unwrap();
            assert_eq!(query as usize, index);
            assert!(queries[index].answered_by(message));
            let latency = tracker.finish(header.id, Nanos(round as u64 * 1000 + 750));
            assert_eq!(latency, Some(Duration::from_nanos(750)));
            rcodes.push(header.rcode);
        }
        assert_eq!(tracker.outstanding(), 0);
        assert_eq!(
            rcodes.iter().filter(|&&r| r == 3).count(),
            13,
            "NXDOMAIN for the missing name"
        );
        assert!(rcodes.iter().all(|&r| r == 0 || r == 3));
        let _ = g.link;
    }
}

#[test]
fn only_the_servers_answers_to_our_addresses_are_taken() {
    let server = IpAddr::from(SERVICE_V4);
    let g = generator(server, "192.0.2.128/25", None);
    let message = b"\x12\x34\x81\x80\0\0\0\0\0\0\0\0";
    let answer = |eth: Ethernet, ip: Ipv4, sport: u16| udp_frame(&eth, &ip, sport, 10_000, message);
    let to_us = || Ethernet::new(CLIENT_MAC, SERVER_MAC);
    let good = answer(to_us(), Ipv4::new(SERVICE_V4, [192, 0, 2, 130]), 53);
    assert!(matches!(
        classify(&good, &g.addressing),
        Inbound::Answer { port: 10_000, .. }
    ));
    let mut fragment = Ipv4::new(SERVICE_V4, [192, 0, 2, 130]);
    fragment.flags_fragment = 0x2000;
    let mut not_ours = vec![
        answer(
            Ethernet::new([2, 0, 0, 0, 0, 9], SERVER_MAC),
            Ipv4::new(SERVICE_V4, [192, 0, 2, 130]),
            53,
        ),
        answer(to_us(), Ipv4::new([192, 0, 2, 54], [192, 0, 2, 130]), 53),
        answer(to_us(), Ipv4::new(SERVICE_V4, [192, 0, 2, 10]), 53),
        answer(to_us(), Ipv4::new(SERVICE_V4, [192, 0, 2, 130]), 5353),
        answer(to_us(), fragment, 53),
    ];
    let mut ipv6 = good.clone();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    not_ours.push(ipv6);
    for frame in &not_ours {
        assert_eq!(
            classify(frame, &g.addressing),
            Inbound::Other,
            "{frame:02x?}"
        );
    }
}

#[test]
fn frames_cut_anywhere_are_never_taken_past_their_end() {
    let server = IpAddr::from(SERVICE_V6);
    let g = generator(server, "2001:db8::10", Some(5));
    let queries = queries();
    let mut out = [0u8; 512];
    let source = g.addressing.local.source(0);
    let len = g
        .frames
        .write(&mut out, &queries[0], 0, 77, source, 10_000)
        .unwrap();
    let answer = appliance(server, &out[..len]);
    for cut in 0..answer.len() {
        match classify(&answer[..cut], &g.addressing) {
            Inbound::Answer { message, .. } => assert!(message.end <= cut),
            Inbound::Resolution(_) | Inbound::Other => {}
        }
    }
}

#[test]
fn the_appliance_answers_our_resolution_requests() {
    for (server, local) in [
        (IpAddr::from(SERVICE_V4), "192.0.2.10"),
        (IpAddr::from(SERVICE_V6), "2001:db8::10"),
    ] {
        let g = generator(server, local, None);
        let neighbors = Neighbors::new(g.link);
        let mut out = [0u8; 256];
        let len = neighbors
            .request(&mut out, g.addressing.local.source(0))
            .unwrap();
        let mut answer = appliance(server, &out[..len]);
        let Inbound::Resolution(l2) = classify(&answer, &g.addressing) else {
            panic!("the appliance's answer is not address resolution: {answer:02x?}");
        };
        let len = answer.len();
        answer.resize(256, 0);
        let handled = neighbors.handle(&mut answer, len, l2, &g.addressing.local);
        assert_eq!(handled, Handled::Learnt(SERVER_MAC), "{server}");
    }
}
