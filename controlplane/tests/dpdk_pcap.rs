//! The DPDK backend replaying a capture: `ferrodns serve --dpdk` reads queries
//! from a pcap file through DPDK's pcap driver and writes its answers to another.
//! Every frame written is checked: addresses and ports turned around, VLAN tag
//! kept, lengths and checksums valid, and the DNS answer byte-identical to what
//! the kernel-socket backend answers for the same query. Frames that must not be
//! answered (a fragment, another address, a response) produce nothing.

mod dpdk_support;
mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use dpdk_support::{DpdkServer, ZONE, parse_udp_reply, require_root, total};
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::testkit::{
    CLIENT_MAC, CLIENT_V4, CLIENT_V6, Ethernet, IpHeader, Ipv4, Ipv6, PCAP_PORT_MAC as PCAP_MAC,
    SERVICE_V4, SERVICE_V6, query, udp_frame, write_pcap,
};
use support::Server;

/// One query frame and, when it must be answered, its DNS payload.
struct Case {
    frame: Vec<u8>,
    answered: Option<Vec<u8>>,
    vlan: Option<u16>,
    v6: bool,
    sport: u16,
}

fn cases() -> Vec<Case> {
    let questions: [(&str, u16, bool); 14] = [
        ("web.dpdk.test", 1, false),
        ("WeB.DpDk.TeSt", 28, true),
        ("www.dpdk.test", 1, false),
        ("_http._tcp.web.dpdk.test", 33, true),
        ("txt.dpdk.test", 16, false),
        ("dpdk.test", 15, false),
        ("dpdk.test", 2, true),
        ("dpdk.test", 6, false),
        ("missing.dpdk.test", 1, false),
        ("web.dpdk.test", 16, true),
        ("x.apps.dpdk.test", 1, false),
        ("elsewhere.example", 1, false),
        ("dpdk.test", 255, true),
        ("web.dpdk.test", 252, false),
    ];
    let mut cases = Vec::new();
    for (i, (name, qtype, edns)) in questions.iter().enumerate() {
        for (variant, vlan) in [(0u16, None), (1, Some(42u16))] {
            for v6 in [false, true] {
                let id = (i as u16) << 4 | variant << 1 | u16::from(v6);
                let mut payload = query(name, RType(*qtype)).id(id);
                if *edns {
                    payload = payload.edns(1232, 0, true);
                }
                let payload = payload.bytes;
                let sport = 20000 + id;
                let frame = if v6 {
                    let ip = Ipv6::new(CLIENT_V6, SERVICE_V6);
                    query_frame(vlan, &ip, sport, &payload)
                } else {
                    let ip = Ipv4::new(CLIENT_V4, SERVICE_V4);
                    query_frame(vlan, &ip, sport, &payload)
                };
                cases.push(Case {
                    frame,
                    answered: Some(payload),
                    vlan,
                    v6,
                    sport,
                });
            }
        }
    }
    // Never answered: a first fragment, a query to another address, a response.
    let q = query("web.dpdk.test", RType::A).id(0xfff0).bytes;
    let mut response = q.clone();
    response[2] |= 0x80;
    let first_fragment = Ipv4 {
        flags_fragment: 0x2000,
        ..Ipv4::new(CLIENT_V4, SERVICE_V4)
    };
    let never = [
        query_frame(None, &first_fragment, 1000, &q),
        query_frame(None, &Ipv4::new(CLIENT_V4, [192, 0, 2, 99]), 1001, &q),
        query_frame(None, &Ipv4::new(CLIENT_V4, SERVICE_V4), 1002, &response),
    ];
    for (i, frame) in never.into_iter().enumerate() {
        cases.insert(
            i * 7,
            Case {
                frame,
                answered: None,
                vlan: None,
                v6: false,
                sport: 0,
            },
        );
    }
    cases
}

/// A frame from the client to the pcap port's MAC, tagged with `vlan` if any,
/// carrying `payload` from UDP port `sport` to 53.
fn query_frame(vlan: Option<u16>, ip: &impl IpHeader, sport: u16, payload: &[u8]) -> Vec<u8> {
    let ethernet = Ethernet::new(PCAP_MAC, CLIENT_MAC).tagged(vlan.as_slice());
    udp_frame(&ethernet, ip, sport, 53, payload)
}

/// The frames written to `path` so far (none while the file has no header).
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    ferrodns_dataplane::testkit::read_pcap(path).unwrap_or_default()
}

/// What the kernel-socket backend answers to `payload`.
fn kernel_answer(server: &Server, socket: &UdpSocket, payload: &[u8]) -> Vec<u8> {
    socket
        .send_to(payload, ("127.0.0.1", server.port))
        .expect("send");
    let mut buf = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buf).expect("kernel backend answers");
    buf[..len].to_vec()
}

#[test]
fn replayed_queries_are_answered_in_place_byte_identical_to_the_kernel_backend() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let zone_path = dir.path().join("dpdk.test.zone");
    std::fs::write(&zone_path, ZONE).unwrap();
    let cases = cases();
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.frame.clone()).collect();
    let queries = dir.path().join("queries.pcap");
    let replies = dir.path().join("replies.pcap");
    write_pcap(&queries, &frames).unwrap();

    let vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        queries.display(),
        replies.display()
    );
    let args: Vec<String> = [
        "--zone",
        &format!("dpdk.test={}", zone_path.display()),
        "--listen",
        "192.0.2.53:53",
        "--listen",
        "[2001:db8::53]:53",
        "--dpdk",
        &format!("-l 0-1 --no-pci --in-memory --vdev {vdev}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dpdk = DpdkServer::start(dir.path(), None, &args);
    assert!(
        dpdk.log_text().contains("mac=02:70:63:61:70:00"),
        "the pcap port's MAC changed: {}",
        dpdk.log_text()
    );
    let expected = cases.iter().filter(|c| c.answered.is_some()).count();
    let deadline = Instant::now() + Duration::from_secs(20);
    let is_dns = |f: &Vec<u8>| parse_is_udp(f);
    while read_pcap(&replies).iter().filter(|f| is_dns(f)).count() < expected {
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} answers written: {}",
            read_pcap(&replies).len(),
            dpdk.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, log) = dpdk.stop();
    assert!(status.success(), "ferrodns failed: {log}");
    let written = read_pcap(&replies);

    // The frames written are the answers, in query order, then possibly the
    // kernel's MLD reports for the IPv6 service address's multicast group (the
    // only thing the kernel interface says unprompted).
    let (answers, others): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = written.iter().partition(|f| is_dns(f));
    for frame in &others {
        assert!(is_mld_report(frame), "unexpected frame {frame:02x?}");
    }
    assert_eq!(answers.len(), expected, "one answer per answerable query");

    let kernel = Server::start(&[("dpdk.test.", ZONE)], &[], "web.dpdk.test");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let answerable = cases.iter().filter(|c| c.answered.is_some());
    for (case, frame) in answerable.zip(answers) {
        let reply = parse_udp_reply(frame);
        assert_eq!((reply.dst_mac, reply.src_mac), (CLIENT_MAC, PCAP_MAC));
        assert_eq!(reply.vlan, case.vlan, "the 802.1Q tag is kept");
        let (service, client): (&[u8], &[u8]) = if case.v6 {
            (&SERVICE_V6, &CLIENT_V6)
        } else {
            (&SERVICE_V4, &CLIENT_V4)
        };
        assert_eq!((&reply.src_ip[..], &reply.dst_ip[..]), (service, client));
        assert_eq!((reply.sport, reply.dport), (53, case.sport));
        assert_eq!(reply.ttl, 64);
        let payload = case.answered.as_ref().unwrap();
        assert_eq!(
            reply.payload,
            kernel_answer(&kernel, &socket, payload),
            "DNS answer to {payload:02x?} differs from the kernel backend's"
        );
    }

    // The counters saw the same: every frame received, the fragment, the other
    // address and the response dropped, the punted name answered REFUSED.
    assert_eq!(total(&log, "rx"), cases.len() as u64);
    assert_eq!(total(&log, "answered"), expected as u64);
    assert_eq!(total(&log, "punts"), 4);
    assert_eq!(total(&log, "refused"), 4);
    assert_eq!(total(&log, "nxdomain"), 4);
    assert_eq!(total(&log, "dropped"), 3);
}

/// Whether a frame carries UDP (what the dataplane answers DNS with).
fn parse_is_udp(frame: &[u8]) -> bool {
    let l2 = if frame.get(12..14) == Some(&[0x81, 0x00]) {
        18
    } else {
        14
    };
    match frame.get(l2 - 2..l2) {
        Some([0x08, 0x00]) => frame.get(l2 + 9) == Some(&17),
        Some([0x86, 0xdd]) => frame.get(l2 + 6) == Some(&17),
        _ => false,
    }
}

/// An ICMPv6 MLDv2 report (type 143) to ff02::16, after a hop-by-hop header.
fn is_mld_report(frame: &[u8]) -> bool {
    frame.get(..6) == Some(&[0x33, 0x33, 0, 0, 0, 0x16])
        && frame.get(12..14) == Some(&[0x86, 0xdd])
        && frame.get(14 + 6) == Some(&0)
        && frame.get(14 + 40) == Some(&58)
        && frame.get(14 + 48) == Some(&143)
}
