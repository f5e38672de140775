//! Transfers and NOTIFY against a real publisher: what a client receives, in
//! what messages, and who is refused.

use ferrodns_dataplane::testkit::name;
use std::net::{Ipv4Addr, SocketAddr};

use ferrodns_dataplane::record::{RData, Record};
use ferrodns_dataplane::table::Table;
use tokio::io::AsyncReadExt;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::*;
use crate::config::DEFAULT_ALLOW_TRANSFER;
use crate::pipeline::{Policies, Publisher, SourceId, Update, ZoneContent};

/// A query for `zone` of `qtype` (IXFR with the client's serial when given).
fn query(zone: &str, qtype: u16, serial: Option<u32>) -> TransferQuery {
    let mut message = vec![0xAB, 0xCD, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(name(zone).as_wire());
    message.extend_from_slice(&qtype.to_be_bytes());
    message.extend_from_slice(&1u16.to_be_bytes());
    if let Some(serial) = serial {
        message[9] = 1;
        message.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0]);
        message.extend_from_slice(&serial.to_be_bytes());
        message.extend_from_slice(&[0; 16]);
    }
    TransferQuery::parse(&message).unwrap_or_else(|| unreachable!("a transfer query"))
}

/// One decoded answer message: rcode, QDCOUNT, and each record's owner, type
/// and rdata.
struct Decoded {
    rcode: u8,
    aa: bool,
    qdcount: u16,
    records: Vec<(String, u16, Vec<u8>)>,
}

/// Reads a name at `at`, following pointers: the name's text and the offset
/// after it in place.
fn read_name(message: &[u8], mut at: usize) -> (String, usize) {
    let mut labels = Vec::new();
    let mut end = None;
    loop {
        let len = usize::from(message[at]);
        if len == 0 {
            return (format!("{}.", labels.join(".")), end.unwrap_or(at + 1));
        }
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(at + 2);
            at = (len & 0x3F) << 8 | usize::from(message[at + 1]);
            continue;
        }
        labels.push(String::from_utf8_lossy(&message[at + 1..at + 1 + len]).into_owned());
        at += 1 + len;
    }
}

fn decode(message: &[u8]) -> Decoded {
    let count = |at: usize| u16::from_be_bytes([message[at], message[at + 1]]);
    let mut at = 12;
    for _ in 0..count(4) {
        at = read_name(message, at).1 + 4;
    }
    let mut records = Vec::new();
    for _ in 0..count(6) {
        let (owner, next) = read_name(message, at);
        let rtype = count(next);
        let rdlength = usize::from(count(next + 8));
        records.push((
            owner,
            rtype,
            message[next + 10..next + 10 + rdlength].to_vec(),
        ));
        at = next + 10 + rdlength;
    }
    Decoded {
        rcode: message[3] & 0x0F,
        aa: message[2] & 0x04 != 0,
        qdcount: count(4),
        records,
    }
}

/// The messages `serve` writes for `query` from `peer`.
async fn transfer(transfers: &Transfers, query: &TransferQuery, peer: &str) -> Vec<Decoded> {
    let (mut client, mut server) = tokio::io::duplex(1 << 22);
    let peer: IpAddr = peer.parse().unwrap_or_else(|_| unreachable!());
    let served = transfers
        .serve(query, peer, &mut server, Duration::from_secs(5))
        .await;
    assert!(served.is_ok(), "{served:?}");
    drop(server);
    let mut bytes = Vec::new();
    client.read_to_end(&mut bytes).await.unwrap_or_default();
    let mut messages = Vec::new();
    let mut rest = &bytes[..];
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        messages.push(decode(&tail[..len]));
        rest = &tail[len..];
    }
    messages
}

/// A publisher with `cluster1.` (an SOA from a remote backend and `names`
/// addresses) and `other.`.
fn publisher(names: u32) -> PublisherHandle {
    let mut records = vec![Record::new(
        name("cluster1."),
        60,
        RData::Soa(ferrodns_dataplane::record::Soa {
            mname: name("dns.cluster1."),
            rname: name("contact@opensvc.com."),
            serial: 1,
            refresh: 7200,
            retry: 3600,
            expire: 432000,
            minimum: 86400,
        }),
    )];
    for i in 0..names {
        let owner = name(&format!("svc{i}.ns1.svc.cluster1."));
        records.push(Record::new(
            owner,
            60,
            RData::A(Ipv4Addr::from(0x0a00_0000 + i)),
        ));
    }
    let mut publisher = Publisher::new(Table::new(), Policies::default()).with_zone_serials(40);
    publisher.apply(vec![
        Update::Zone {
            source: SourceId::PdnsRemote(0),
            content: ZoneContent::new(name("cluster1."), records),
        },
        Update::Zone {
            source: SourceId::ZoneFiles,
            content: ZoneContent::new(name("other."), Vec::new()),
        },
    ]);
    PublisherHandle::new(publisher)
}

fn settings() -> TransferSettings {
    TransferSettings {
        allow: DEFAULT_ALLOW_TRANSFER.to_vec(),
        notify: Vec::new(),
    }
}

#[tokio::test]
async fn a_zone_comes_soa_first_and_last_in_messages_of_bounded_size() {
    let transfers = Transfers::new(publisher(3000), &settings());
    let messages = transfer(&transfers, &query("Cluster1.", AXFR, None), "127.0.0.1").await;
    assert!(messages.len() > 3, "{} messages", messages.len());
    assert_eq!(messages[0].qdcount, 1);
    assert!(
        messages[1..]
            .iter()
            .all(|m| m.qdcount == 0 && m.rcode == 0 && m.aa)
    );
    let records: Vec<&(String, u16, Vec<u8>)> = messages.iter().flat_map(|m| &m.records).collect();
    // SOA, NS, 3000 addresses, SOA.
    assert_eq!(records.len(), 3003);
    let (first, last) = (records[0], records[records.len() - 1]);
    assert_eq!((first.0.as_str(), first.1), ("cluster1.", 6));
    assert_eq!(first, last);
    // The publisher's serial (starting at 40), not the backend's 1.
    assert_eq!(
        first.2[first.2.len() - 20..first.2.len() - 16],
        40u32.to_be_bytes()
    );
    assert!(
        records
            .iter()
            .any(|r| r.0 == "svc2999.ns1.svc.cluster1." && r.2 == [10, 0, 11, 183])
    );
    assert_eq!(transfers.stats().served(), 1);
}

#[tokio::test]
async fn clients_outside_the_allow_list_and_names_that_are_no_zone_get_no_records() {
    let transfers = Transfers::new(publisher(3), &settings());
    let refused = transfer(&transfers, &query("cluster1.", AXFR, None), "192.0.2.1").await;
    assert_eq!(refused.len(), 1);
    assert_eq!((refused[0].rcode, refused[0].aa), (5, false));
    assert!(refused[0].records.is_empty());
    // An IPv4 client seen through a dual-stack socket is still loopback.
    let mapped = transfer(
        &transfers,
        &query("cluster1.", AXFR, None),
        "::ffff:127.0.0.1",
    )
    .await;
    assert_eq!(mapped[0].rcode, 0);
    let notauth = transfer(
        &transfers,
        &query("svc0.ns1.svc.cluster1.", AXFR, None),
        "::1",
    )
    .await;
    assert_eq!((notauth.len(), notauth[0].rcode), (1, 9));
    let stats = transfers.stats();
    assert_eq!((stats.refused(), stats.failed(), stats.served()), (1, 1, 1));
    // Nobody at all with an empty list.
    let nobody = TransferSettings {
        allow: Vec::new(),
        notify: Vec::new(),
    };
    let closed = Transfers::new(publisher(3), &nobody);
    let refused = transfer(&closed, &query("other.", AXFR, None), "127.0.0.1").await;
    assert_eq!(refused[0].rcode, 5);
}

#[tokio::test]
async fn ixfr_is_answered_in_full_unless_the_client_is_up_to_date() {
    let transfers = Transfers::new(publisher(5), &settings());
    let behind = transfer(&transfers, &query("cluster1.", IXFR, Some(39)), "127.0.0.1").await;
    let records: usize = behind.iter().map(|m| m.records.len()).sum();
    assert_eq!(records, 8, "SOA, NS, 5 addresses, SOA");
    let current = transfer(&transfers, &query("cluster1.", IXFR, Some(40)), "127.0.0.1").await;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].records.len(), 1);
    assert_eq!(current[0].records[0].1, 6);
    let bare = transfer(&transfers, &query("other.", IXFR, None), "127.0.0.1").await;
    let records: usize = bare.iter().map(|m| m.records.len()).sum();
    assert_eq!(records, 3, "SOA, NS, SOA");
}

#[tokio::test]
async fn secondaries_are_notified_of_each_change_until_they_answer() {
    let secondary = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let addr: SocketAddr = secondary
        .local_addr()
        .unwrap_or_else(|e| unreachable!("{e}"));
    let publisher = publisher(1);
    let serials = publisher.read(Publisher::zone_serials).await;
    let stats = Arc::new(TransferStats::default());
    let (stop, stopped) = watch::channel(false);
    let notifier = Notifier::new(serials, vec![addr], Arc::clone(&stats));
    let task = tokio::spawn(notifier.run(stopped));

    /// Receives NOTIFYs until one for `zone` arrives; answers it unless told
    /// to ignore it.
    async fn expect(secondary: &UdpSocket, zone: &str, answer: bool) {
        let mut buf = [0u8; 512];
        loop {
            let received = timeout(Duration::from_secs(5), secondary.recv_from(&mut buf)).await;
            let (len, from) = received
                .unwrap_or_else(|_| unreachable!("no NOTIFY for {zone}"))
                .unwrap_or_else(|e| unreachable!("{e}"));
            let message = &buf[..len];
            assert_eq!(message[2] & 0x78, 4 << 3, "opcode NOTIFY");
            assert!(message[2] & 0x04 != 0, "AA");
            if read_name(message, 12).0 != zone {
                continue;
            }
            if answer {
                let mut reply = message.to_vec();
                reply[2] |= 0x80;
                let _ = secondary.send_to(&reply, from).await;
            }
            return;
        }
    }
    // At start every zone is notified once.
    expect(&secondary, "cluster1.", true).await;
    // A change of cluster1. notifies it again; unanswered, the NOTIFY is sent again.
    publisher
        .apply(vec![Update::Names {
            source: SourceId::PdnsRemote(0),
            apex: name("cluster1."),
            names: vec![(
                name("new.cluster1."),
                vec![Record::new(
                    name("new.cluster1."),
                    60,
                    RData::A(Ipv4Addr::LOCALHOST),
                )],
            )],
        }])
        .await;
    expect(&secondary, "cluster1.", false).await;
    expect(&secondary, "cluster1.", true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats.notifies_answered() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stats.notifies_answered() >= 2);
    assert!(stats.notifies_sent() >= 3);
    let _ = stop.send(true);
    let _ = timeout(Duration::from_secs(5), task).await;
}

#[test]
fn notify_messages_ask_for_the_zones_soa() {
    let message = notify::notify_message(7, &name("cluster1."));
    assert_eq!(&message[..4], &[0, 7, 0x24, 0]);
    assert_eq!(u16::from_be_bytes([message[4], message[5]]), 1);
    assert_eq!(read_name(&message, 12), ("cluster1.".to_owned(), 22));
    assert_eq!(&message[22..], &[0, 6, 0, 1]);
}
