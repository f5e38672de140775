//! Frames built by hand, handled, and the results checked field by field. The
//! checksums here are verified with a word-by-word sum written for the tests (the
//! test kit's), not with the module's own code.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::*;
use crate::engine::{Engine, EngineConfig};
use crate::record::RType;
use crate::table::TableVersion;
use crate::testkit::{
    CLIENT_MAC, CLIENT_PORT, CLIENT_V4, CLIENT_V6, ETHERTYPE_IPV4, ETHERTYPE_IPV6, Ethernet,
    IpHeader, Ipv4, Ipv6, SERVER_MAC as OUR_MAC, SERVICE_V4, SERVICE_V6, a, aaaa,
    checksum as naive_checksum, cname, compile_zone, handle_frame, query, udp_context, udp_frame,
};

const ROOM: usize = 2048;

fn services() -> Services {
    Services::new(
        OUR_MAC,
        &[
            SocketAddr::new(IpAddr::from(SERVICE_V4), 53),
            SocketAddr::new(IpAddr::from(SERVICE_V6), 53),
        ],
    )
}

fn table() -> TableVersion {
    let records = vec![
        a("web.example.", 30, [10, 0, 0, 1]),
        aaaa("web.example.", 30, Ipv6Addr::LOCALHOST),
        cname("www.example.", 30, "web.example."),
    ];
    compile_zone("example.", records)
}

/// The client's UDP/IPv4 query header, TTL and ID set apart from the answer's.
fn client_v4() -> Ipv4 {
    Ipv4 {
        ttl: 17,
        ident: 0x1234,
        ..Ipv4::new(CLIENT_V4, SERVICE_V4)
    }
}

fn to_us() -> Ethernet {
    Ethernet::new(OUR_MAC, CLIENT_MAC)
}

fn pseudo_v4(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: usize) -> Vec<u8> {
    Ipv4::new(*src, *dst).pseudo_header(proto, len)
}

fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next: u8, len: usize) -> Vec<u8> {
    Ipv6::new(*src, *dst).pseudo_header(next, len)
}

fn udp4_frame(tags: &[u16], dport: u16, payload: &[u8]) -> Vec<u8> {
    udp_frame(
        &to_us().tagged(tags),
        &client_v4(),
        CLIENT_PORT,
        dport,
        payload,
    )
}

fn udp6_frame(tags: &[u16], dport: u16, payload: &[u8]) -> Vec<u8> {
    let ip = Ipv6::new(CLIENT_V6, SERVICE_V6);
    udp_frame(&to_us().tagged(tags), &ip, CLIENT_PORT, dport, payload)
}

/// Runs `handle` on `frame` (with room after it) answering with the real engine,
/// one that punts names outside the zones to a forwarder.
fn run(frame: &[u8], mode: ChecksumMode) -> (Action, Vec<u8>) {
    run_with(
        &Engine::new(EngineConfig {
            forwarder: true,
            ..EngineConfig::default()
        }),
        frame,
        mode,
    )
}

fn run_with(engine: &Engine, frame: &[u8], mode: ChecksumMode) -> (Action, Vec<u8>) {
    let mut buf = frame.to_vec();
    buf.resize(ROOM, 0xee);
    let action = handle_frame(engine, &table(), &mut buf, frame.len(), &services(), mode);
    (action, buf)
}

/// What the engine answers to `query` on its own, as the kernel-socket backend
/// would send it.
fn engine_answer(query: &[u8], client: IpAddr) -> Vec<u8> {
    let mut buf = query.to_vec();
    buf.resize(1500, 0);
    match Engine::default().respond(&table(), &mut buf, query.len(), &udp_context(client)) {
        Verdict::Reply(n) => buf[..n].to_vec(),
        other => panic!("engine gave {other:?}"),
    }
}

fn transmitted(action: Action) -> usize {
    match action {
        Action::Transmit { len, .. } => len,
        other => panic!("expected a transmit, got {other:?}"),
    }
}

fn check_udp4_answer(reply: &[u8], l2: usize, q: &[u8]) {
    assert_eq!(reply[..6], CLIENT_MAC);
    assert_eq!(reply[6..12], OUR_MAC);
    let ip = &reply[l2..];
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(total, reply.len() - l2);
    assert_eq!(naive_checksum(&[&ip[..20]]), 0, "IPv4 header checksum");
    assert_eq!(ip[12..16], SERVICE_V4);
    assert_eq!(ip[16..20], CLIENT_V4);
    assert_eq!(ip[8], 64);
    let u = &ip[20..total];
    assert_eq!(u16::from_be_bytes([u[0], u[1]]), 53);
    assert_eq!(u16::from_be_bytes([u[2], u[3]]), 40000);
    assert_eq!(usize::from(u16::from_be_bytes([u[4], u[5]])), u.len());
    assert_eq!(
        naive_checksum(&[&pseudo_v4(&SERVICE_V4, &CLIENT_V4, 17, u.len()), u]),
        0
    );
    assert_eq!(u[8..], engine_answer(q, IpAddr::from(CLIENT_V4))[..]);
}

#[test]
fn an_ipv4_query_is_answered_in_place_with_addresses_ports_lengths_and_checksums_turned_around() {
    let q = query("web.example", RType::A).id(0xbeef).bytes;
    let frame = udp4_frame(&[], 53, &q);
    let (action, buf) = run(&frame, ChecksumMode::Software);
    let len = transmitted(action);
    assert!(len > frame.len(), "the answer is longer than the query");
    check_udp4_answer(&buf[..len], 14, &q);
}

#[test]
fn an_ipv6_query_is_answered_with_the_mandatory_udp_checksum() {
    let q = query("www.example", RType::AAAA).id(7).bytes;
    let frame = udp6_frame(&[], 53, &q);
    let (action, buf) = run(&frame, ChecksumMode::Software);
    let reply = &buf[..transmitted(action)];
    assert_eq!(reply[..6], CLIENT_MAC);
    assert_eq!(reply[6..12], OUR_MAC);
    let ip = &reply[14..];
    assert_eq!(
        usize::from(u16::from_be_bytes([ip[4], ip[5]])),
        ip.len() - 40
    );
    assert_eq!((ip[6], ip[7]), (17, 64));
    assert_eq!(ip[8..24], SERVICE_V6);
    assert_eq!(ip[24..40], CLIENT_V6);
    let u = &ip[40..];
    assert_eq!(
        (
            u16::from_be_bytes([u[0], u[1]]),
            u16::from_be_bytes([u[2], u[3]])
        ),
        (53, 40000)
    );
    assert_ne!(u16::from_be_bytes([u[6], u[7]]), 0);
    assert_eq!(
        naive_checksum(&[&pseudo_v6(&SERVICE_V6, &CLIENT_V6, 17, u.len()), u]),
        0
    );
    assert_eq!(u[8..], engine_answer(&q, IpAddr::from(CLIENT_V6))[..]);
}

#[test]
fn vlan_tags_are_kept_on_the_answer() {
    for tags in [&[42u16][..], &[100, 42]] {
        let q = query("web.example", RType::A).id(1).bytes;
        let frame = udp4_frame(tags, 53, &q);
        let (action, buf) = run(&frame, ChecksumMode::Software);
        let reply = &buf[..transmitted(action)];
        let l2 = 14 + 4 * tags.len();
        assert_eq!(reply[12..l2 - 2], frame[12..l2 - 2], "tags {tags:?}");
        check_udp4_answer(reply, l2, &q);
    }
}

#[test]
fn with_checksum_offload_the_answer_carries_the_pseudo_header_sum_and_the_header_lengths() {
    let q = query("web.example", RType::A).id(2).bytes;
    let frame = udp4_frame(&[7], 53, &q);
    let (action, buf) = run(&frame, ChecksumMode::Offload);
    let Action::Transmit { len, offload } = action else {
        panic!("{action:?}");
    };
    assert_eq!(
        offload,
        Some(ChecksumOffload {
            l2_len: 18,
            l3_len: 20,
            ipv6: false
        })
    );
    let ip = &buf[18..len];
    assert_eq!(ip[10..12], [0, 0], "the port fills in the header checksum");
    let udp_len = ip.len() - 20;
    let pseudo = pseudo_v4(&SERVICE_V4, &CLIENT_V4, 17, udp_len);
    let folded = !naive_checksum(&[&pseudo]);
    assert_eq!(u16::from_be_bytes([ip[26], ip[27]]), folded);

    let frame = udp6_frame(&[], 53, &q);
    let (action, buf) = run(&frame, ChecksumMode::Offload);
    let Action::Transmit { len, offload } = action else {
        panic!("{action:?}");
    };
    assert_eq!(
        offload,
        Some(ChecksumOffload {
            l2_len: 14,
            l3_len: 40,
            ipv6: true
        })
    );
    let udp_len = len - 54;
    let folded = !naive_checksum(&[&pseudo_v6(&SERVICE_V6, &CLIENT_V6, 17, udp_len)]);
    assert_eq!(u16::from_be_bytes([buf[60], buf[61]]), folded);
}

#[test]
fn a_query_with_ethernet_padding_is_answered_from_the_ip_length() {
    let q = query("web.example", RType::A).id(3).bytes;
    let mut frame = udp4_frame(&[], 53, &q);
    frame.extend_from_slice(&[0xaa; 30]);
    let (action, buf) = run(&frame, ChecksumMode::Software);
    check_udp4_answer(&buf[..transmitted(action)], 14, &q);
}

#[test]
fn punted_queries_leave_the_frame_untouched() {
    let q = query("elsewhere.test", RType::A).id(4).bytes;
    let frame = udp4_frame(&[], 53, &q);
    let (action, buf) = run(&frame, ChecksumMode::Software);
    assert_eq!(action, Action::Punt);
    assert_eq!(buf[..frame.len()], frame[..]);
}

#[test]
fn without_a_forwarder_names_outside_the_zones_are_refused_in_one_pass() {
    let q = query("elsewhere.test", RType::A).id(4).bytes;
    let frame = udp4_frame(&[], 53, &q);
    let (action, buf) = run_with(&Engine::default(), &frame, ChecksumMode::Software);
    let len = transmitted(action);
    let mut refused = q.clone();
    refused.resize(512, 0);
    let Verdict::Reply(n) = crate::engine::refuse(&mut refused, q.len()) else {
        panic!("the query is refusable")
    };
    assert_eq!(buf[14 + 20 + 8..len], refused[..n]);
    assert_eq!(buf[14 + 20 + 8 + 3] & 0x0f, 5, "REFUSED");
}

#[test]
fn responses_are_never_answered() {
    let mut q = query("web.example", RType::A).id(5).bytes;
    q[2] |= 0x80;
    let (action, _) = run(&udp4_frame(&[], 53, &q), ChecksumMode::Software);
    assert_eq!(action, Action::Drop(DropReason::Engine));
}

#[test]
fn bad_checksums_and_lengths_are_dropped_as_malformed() {
    let q = query("web.example", RType::A).id(6).bytes;
    let good = udp4_frame(&[], 53, &q);
    let mut bad_ip = good.clone();
    bad_ip[14 + 8] ^= 1; // TTL changed, header checksum not
    let mut bad_udp = good.clone();
    *bad_udp.last_mut().unwrap() ^= 1;
    let mut long_udp = good.clone();
    long_udp[14 + 20 + 5] += 1; // UDP length past the IP packet
    let mut long_ip = good.clone();
    long_ip[14 + 3] += 1; // total length past the frame
    for frame in [bad_ip, bad_udp, long_udp] {
        assert_eq!(
            run(&frame, ChecksumMode::Software).0,
            Action::Drop(DropReason::Malformed)
        );
    }
    // A total length past the frame also breaks the header checksum: fix it up.
    let c = naive_checksum(&[&{
        let mut h = long_ip[14..34].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    }]);
    long_ip[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        run(&long_ip, ChecksumMode::Software).0,
        Action::Drop(DropReason::Malformed)
    );

    let mut zero6 = udp6_frame(&[], 53, &q);
    zero6[14 + 40 + 6] = 0;
    zero6[14 + 40 + 7] = 0;
    assert_eq!(
        run(&zero6, ChecksumMode::Software).0,
        Action::Drop(DropReason::Malformed)
    );
}

#[test]
fn an_ipv4_udp_checksum_of_zero_means_none_and_is_accepted() {
    let q = query("web.example", RType::A).id(8).bytes;
    let mut frame = udp4_frame(&[], 53, &q);
    frame[14 + 26] = 0;
    frame[14 + 27] = 0;
    let (action, buf) = run(&frame, ChecksumMode::Software);
    check_udp4_answer(&buf[..transmitted(action)], 14, &q);
}

#[test]
fn fragments_are_dropped() {
    let q = query("web.example", RType::A).id(9).bytes;
    for flags in [0x2000u16, 0x0010] {
        let mut frame = udp4_frame(&[], 53, &q);
        frame[20..22].copy_from_slice(&flags.to_be_bytes());
        frame[24..26].copy_from_slice(&[0, 0]);
        let c = naive_checksum(&[&frame[14..34]]);
        frame[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            run(&frame, ChecksumMode::Software).0,
            Action::Drop(DropReason::Fragment)
        );
    }
    let fragment_header = [17, 0, 0, 0, 0, 0, 0, 1];
    let frame = to_us().frame(
        ETHERTYPE_IPV6,
        &Ipv6::new(CLIENT_V6, SERVICE_V6).packet(44, &fragment_header),
    );
    assert_eq!(
        run(&frame, ChecksumMode::Software).0,
        Action::Drop(DropReason::Fragment)
    );
}

#[test]
fn traffic_for_other_addresses_is_dropped() {
    let q = query("web.example", RType::A).id(10).bytes;
    let mut other_mac = udp4_frame(&[], 53, &q);
    other_mac[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    let other_ip = Ipv4 {
        dst: [192, 0, 2, 99],
        ..client_v4()
    };
    let other_ip = udp_frame(&to_us(), &other_ip, 1, 53, &q);
    let other6 = to_us().frame(
        ETHERTYPE_IPV6,
        &Ipv6::new(CLIENT_V6, CLIENT_V6).packet(6, &[0; 20]),
    );
    for frame in [other_mac, other_ip, other6] {
        assert_eq!(
            run(&frame, ChecksumMode::Software).0,
            Action::Drop(DropReason::OtherAddress)
        );
    }
}

#[test]
fn tcp_other_udp_ports_and_other_icmp_go_to_the_kernel() {
    let tcp = to_us().frame(ETHERTYPE_IPV4, &client_v4().packet(6, &[0; 20]));
    let tcp6 = to_us().frame(
        ETHERTYPE_IPV6,
        &Ipv6::new(CLIENT_V6, SERVICE_V6).packet(6, &[0; 20]),
    );
    let other_port = udp4_frame(&[], 5353, &query("web.example", RType::A).id(1).bytes);
    let other_port6 = udp6_frame(&[], 5353, &query("web.example", RType::A).id(1).bytes);
    let mut unreachable = vec![3, 3, 0, 0, 0, 0, 0, 0];
    let c = naive_checksum(&[&unreachable]);
    unreachable[2..4].copy_from_slice(&c.to_be_bytes());
    let icmp = to_us().frame(ETHERTYPE_IPV4, &client_v4().packet(1, &unreachable));
    for frame in [tcp, tcp6, other_port, other_port6, icmp] {
        let (action, buf) = run(&frame, ChecksumMode::Software);
        assert_eq!(action, Action::ToKernel);
        assert_eq!(buf[..frame.len()], frame[..], "handed over unchanged");
    }
}

#[test]
fn ipv4_options_and_unanswerable_sources_are_dropped() {
    let q = query("web.example", RType::A).id(11).bytes;
    let with_options = Ipv4 {
        options: vec![1, 1, 1, 0], // NOP NOP NOP EOL
        ..Ipv4::new(CLIENT_V4, SERVICE_V4)
    };
    let options = udp_frame(&to_us(), &with_options, CLIENT_PORT, 53, &q);
    assert_eq!(
        run(&options, ChecksumMode::Software).0,
        Action::Drop(DropReason::Ipv4Options)
    );

    let broadcast = [255, 255, 255, 255];
    let from_broadcast = Ipv4 {
        src: broadcast,
        ..client_v4()
    };
    let frame = udp_frame(&to_us(), &from_broadcast, CLIENT_PORT, 53, &q);
    assert_eq!(
        run(&frame, ChecksumMode::Software).0,
        Action::Drop(DropReason::BadSource)
    );

    let frame = udp_frame(&to_us(), &client_v4(), 0, 53, &q);
    assert_eq!(
        run(&frame, ChecksumMode::Software).0,
        Action::Drop(DropReason::BadSource)
    );
}

fn arp(op: u16, sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&CLIENT_MAC);
    a.extend_from_slice(&sender_ip);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip);
    let mut frame = Ethernet::new([0xff; 6], CLIENT_MAC).frame(0x0806, &a);
    frame.resize(60, 0);
    frame
}

#[test]
fn arp_requests_for_a_service_address_get_our_mac() {
    let frame = arp(1, CLIENT_V4, SERVICE_V4);
    let (action, buf) = run(&frame, ChecksumMode::Software);
    let reply = &buf[..transmitted(action)];
    assert_eq!(reply.len(), 60);
    assert_eq!(reply[..6], CLIENT_MAC);
    assert_eq!(reply[6..12], OUR_MAC);
    assert_eq!(reply[12..14], [8, 6]);
    let a = &reply[14..42];
    assert_eq!(a[..6], [0, 1, 8, 0, 6, 4]);
    assert_eq!(a[6..8], [0, 2], "a reply");
    assert_eq!(a[8..14], OUR_MAC);
    assert_eq!(a[14..18], SERVICE_V4);
    assert_eq!(a[18..24], CLIENT_MAC);
    assert_eq!(a[24..28], CLIENT_V4);
}

#[test]
fn arp_for_other_addresses_is_dropped_and_replies_to_us_go_to_the_kernel() {
    assert_eq!(
        run(&arp(1, CLIENT_V4, [192, 0, 2, 99]), ChecksumMode::Software).0,
        Action::Drop(DropReason::OtherAddress)
    );
    assert_eq!(
        run(&arp(2, CLIENT_V4, SERVICE_V4), ChecksumMode::Software).0,
        Action::ToKernel
    );
    let mut tagged = arp(1, CLIENT_V4, SERVICE_V4);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    let (action, buf) = run(&tagged, ChecksumMode::Software);
    let reply = &buf[..transmitted(action)];
    assert_eq!(reply[12..16], [0x81, 0, 0, 5]);
    assert_eq!(reply[18 + 6..18 + 8], [0, 2]);
}

fn icmpv6(src: [u8; 16], dst: [u8; 16], hop: u8, message: &[u8]) -> Vec<u8> {
    let ip = Ipv6 {
        hop_limit: hop,
        ..Ipv6::new(src, dst)
    };
    let mut m = message.to_vec();
    let c = naive_checksum(&[&ip.pseudo_header(58, m.len()), &m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mac = if dst[0] == 0xff {
        [0x33, 0x33, dst[12], dst[13], dst[14], dst[15]]
    } else {
        OUR_MAC
    };
    Ethernet::new(mac, CLIENT_MAC).frame(ETHERTYPE_IPV6, &ip.packet(58, &m))
}

fn solicitation(target: [u8; 16]) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target);
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&CLIENT_MAC);
    m
}

fn solicited_node(ip: [u8; 16]) -> [u8; 16] {
    let mut m = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
    m[13..].copy_from_slice(&ip[13..]);
    m
}

fn check_advertisement(reply: &[u8], dst_mac: [u8; 6], dst_ip: [u8; 16], flags: u8) {
    assert_eq!(reply.len(), 14 + 40 + 32);
    assert_eq!(reply[..6], dst_mac);
    assert_eq!(reply[6..12], OUR_MAC);
    let ip = &reply[14..];
    assert_eq!((ip[6], ip[7]), (58, 255));
    assert_eq!(ip[8..24], SERVICE_V6);
    assert_eq!(ip[24..40], dst_ip);
    let m = &ip[40..];
    assert_eq!(
        naive_checksum(&[&pseudo_v6(&SERVICE_V6, &dst_ip, 58, m.len()), m]),
        0
    );
    assert_eq!((m[0], m[1], m[4]), (136, 0, flags));
    assert_eq!(m[8..24], SERVICE_V6);
    assert_eq!(m[24..26], [2, 1]);
    assert_eq!(m[26..32], OUR_MAC);
}

#[test]
fn neighbor_solicitations_for_a_service_address_get_an_advertisement() {
    for dst in [solicited_node(SERVICE_V6), SERVICE_V6] {
        let frame = icmpv6(CLIENT_V6, dst, 255, &solicitation(SERVICE_V6));
        let (action, buf) = run(&frame, ChecksumMode::Software);
        check_advertisement(&buf[..transmitted(action)], CLIENT_MAC, CLIENT_V6, 0x60);
    }
    // Duplicate address detection: from ::, answered to all nodes, not solicited.
    let frame = icmpv6(
        [0; 16],
        solicited_node(SERVICE_V6),
        255,
        &solicitation(SERVICE_V6),
    );
    let (action, buf) = run(&frame, ChecksumMode::Software);
    let all_nodes = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    check_advertisement(
        &buf[..transmitted(action)],
        [0x33, 0x33, 0, 0, 0, 1],
        all_nodes,
        0x20,
    );
}

#[test]
fn other_neighbor_discovery_is_dropped_or_handed_to_the_kernel() {
    let mut other = SERVICE_V6;
    other[15] = 0x99;
    let cases = [
        (
            icmpv6(
                CLIENT_V6,
                solicited_node(SERVICE_V6),
                255,
                &solicitation(other),
            ),
            Action::Drop(DropReason::OtherAddress),
        ),
        (
            icmpv6(CLIENT_V6, SERVICE_V6, 64, &solicitation(SERVICE_V6)),
            Action::Drop(DropReason::Malformed),
        ),
        (
            icmpv6(
                CLIENT_V6,
                solicited_node(SERVICE_V6),
                255,
                &[128, 0, 0, 0, 0, 1, 0, 1],
            ),
            Action::Drop(DropReason::Unsupported),
        ),
        (
            icmpv6(
                CLIENT_V6,
                SERVICE_V6,
                255,
                &[
                    136, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
            Action::ToKernel,
        ),
        (
            icmpv6(CLIENT_V6, solicited_node(other), 255, &solicitation(other)),
            Action::Drop(DropReason::OtherAddress),
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(run(&frame, ChecksumMode::Software).0, expected);
    }
}

#[test]
fn pings_to_a_service_address_are_answered() {
    let mut echo = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo.extend_from_slice(b"ping payload");
    let c = naive_checksum(&[&echo]);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    let frame = to_us().frame(ETHERTYPE_IPV4, &client_v4().packet(1, &echo));
    let (action, buf) = run(&frame, ChecksumMode::Software);
    let reply = &buf[..transmitted(action)];
    assert_eq!(reply.len(), frame.len());
    assert_eq!(reply[..6], CLIENT_MAC);
    let ip = &reply[14..];
    assert_eq!(naive_checksum(&[&ip[..20]]), 0);
    assert_eq!(
        (ip[12..16].to_vec(), ip[16..20].to_vec()),
        (SERVICE_V4.to_vec(), CLIENT_V4.to_vec())
    );
    let m = &ip[20..];
    assert_eq!(m[0], 0);
    assert_eq!(naive_checksum(&[m]), 0);
    assert_eq!(m[4..], echo[4..]);

    let mut echo6 = vec![128, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo6.extend_from_slice(b"ping6");
    let frame = icmpv6(CLIENT_V6, SERVICE_V6, 64, &echo6);
    let (action, buf) = run(&frame, ChecksumMode::Software);
    let reply = &buf[..transmitted(action)];
    let ip = &reply[14..];
    assert_eq!(
        (ip[8..24].to_vec(), ip[24..40].to_vec()),
        (SERVICE_V6.to_vec(), CLIENT_V6.to_vec())
    );
    let m = &ip[40..];
    assert_eq!(m[0], 129);
    assert_eq!(
        naive_checksum(&[&pseudo_v6(&SERVICE_V6, &CLIENT_V6, 58, m.len()), m]),
        0
    );
    assert_eq!(m[4..], echo6[4..]);
}

#[test]
fn every_truncation_of_valid_frames_is_dropped_without_panic() {
    let q = query("web.example", RType::A).id(12).bytes;
    let frames = [
        udp4_frame(&[5], 53, &q),
        udp6_frame(&[], 53, &q),
        arp(1, CLIENT_V4, SERVICE_V4),
        icmpv6(
            CLIENT_V6,
            solicited_node(SERVICE_V6),
            255,
            &solicitation(SERVICE_V6),
        ),
    ];
    for frame in frames {
        for cut in 0..frame.len() {
            let (action, _) = run(&frame[..cut], ChecksumMode::Software);
            // An ARP request keeps its meaning once its padding is cut.
            if !(frame[12..14] == [8, 6] && cut >= 42) {
                assert!(
                    matches!(action, Action::Drop(_)),
                    "cut at {cut}: {action:?}"
                );
            }
        }
    }
}

#[test]
fn a_buffer_without_room_for_the_answer_is_not_overrun() {
    let q = query("web.example", RType::A).id(13).bytes;
    let frame = udp4_frame(&[], 53, &q);
    let mut buf = frame.clone();
    let action = handle_frame(
        &Engine::default(),
        &table(),
        &mut buf,
        frame.len(),
        &services(),
        ChecksumMode::Software,
    );
    assert!(matches!(action, Action::Drop(_) | Action::Transmit { .. }));
    if let Action::Transmit { len, .. } = action {
        assert!(len <= buf.len());
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (action, _) = run(&bytes, ChecksumMode::Software);
        if let Action::Transmit { len, .. } = action {
            prop_assert!(len <= ROOM);
        }
    }

    #[test]
    fn mutated_queries_never_panic_and_answers_stay_consistent(
        v6 in any::<bool>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let q = query("web.example", RType::A).id(14).bytes;
        let mut frame = if v6 { udp6_frame(&[], 53, &q) } else { udp4_frame(&[], 53, &q) };
        for (at, value) in flips {
            let at = at % frame.len();
            frame[at] = value;
        }
        let (action, buf) = run(&frame, ChecksumMode::Software);
        if let Action::Transmit { len, .. } = action {
            prop_assert!(len <= ROOM);
            prop_assert_eq!(&buf[6..12], &OUR_MAC[..]);
        }
    }
}
