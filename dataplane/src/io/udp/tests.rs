//! The kernel backend end to end, over loopback sockets.

use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};

use super::*;
use crate::answer_counts::AnswerCounts;
use crate::engine::EngineConfig;
use crate::record::RType;
use crate::table::{ZoneInput, compile};
use crate::testkit::{a, aaaa, name, query};

/// `example.` with `web.example.` at `web` and `v6.example.` at `::1`.
fn publish(table: &Table, web: Ipv4Addr) {
    let records = vec![
        a("web.example.", 30, web.octets()),
        aaaa("v6.example.", 30, Ipv6Addr::LOCALHOST),
    ];
    let zone = ZoneInput::new(name("example."), records);
    table.publish(compile(&[zone], &HashSet::new(), table.seed()).unwrap());
}

struct Reply {
    id: u16,
    qr: bool,
    rcode: u8,
    ancount: u16,
    /// The first answer's RDATA: the question is followed by a 2-byte owner
    /// pointer, type, class, TTL and RDLENGTH.
    first_rdata: Vec<u8>,
}

fn decode(bytes: &[u8], query_len: usize) -> Reply {
    let ancount = u16::from_be_bytes([bytes[6], bytes[7]]);
    let first_rdata = if ancount > 0 {
        let rdlen_at = query_len + 10;
        let rdlen = usize::from(u16::from_be_bytes([bytes[rdlen_at], bytes[rdlen_at + 1]]));
        bytes[rdlen_at + 2..rdlen_at + 2 + rdlen].to_vec()
    } else {
        Vec::new()
    };
    Reply {
        id: u16::from_be_bytes([bytes[0], bytes[1]]),
        qr: bytes[2] & 0x80 != 0,
        rcode: bytes[3] & 0x0F,
        ancount,
        first_rdata,
    }
}

fn config(listen: Vec<SocketAddr>, workers: usize) -> UdpConfig {
    UdpConfig {
        listen,
        workers,
        cores: None,
        batch: 32,
    }
}

fn start(listen: Vec<SocketAddr>, workers: usize) -> (UdpWorkers, Table) {
    let table = Table::new();
    publish(&table, Ipv4Addr::new(10, 0, 0, 1));
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let workers = UdpWorkers::spawn(config(listen, workers), engine, table.clone()).unwrap();
    (workers, table)
}

fn client(local: &str) -> UdpSocket {
    let socket = UdpSocket::bind(local).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
}

/// Sends one query to `server` and returns the reply and where it came from.
fn ask(socket: &UdpSocket, server: SocketAddr, query: &[u8]) -> (Vec<u8>, SocketAddr) {
    socket.send_to(query, server).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    (buf[..n].to_vec(), from)
}

/// Every worker's counters summed, by the names the kernel backend counts under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    rx: u64,
    tx: u64,
    /// The engine's answers.
    replies: u64,
    /// Names outside the zones answered REFUSED.
    refused: u64,
    punted: u64,
    punt_drops: u64,
    drops: u64,
    send_errors: u64,
    recv_errors: u64,
}

fn total(workers: &UdpWorkers) -> Totals {
    let mut sum = CoreStats::default();
    for stats in workers.stats() {
        sum.add(&stats);
    }
    Totals {
        rx: sum.rx,
        tx: sum.tx,
        replies: sum.replies(),
        refused: sum.refused,
        punted: sum.punts,
        punt_drops: sum.punt_drops,
        drops: sum.dropped(),
        send_errors: sum.send_errors,
        recv_errors: sum.recv_errors,
    }
}

/// Counters are published after the reply is sent: wait for them to catch up.
fn wait_for(workers: &UdpWorkers, done: impl Fn(&Totals) -> bool) -> Totals {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let t = total(workers);
        if done(&t) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_socket_queues_a_burst_of_thousands_of_queries() {
    // The kernel's default buffer holds a few hundred small datagrams; a burst
    // beyond that, arriving while a worker is busy, would be lost.
    let server = sockets::open("127.0.0.1:0".parse().unwrap()).unwrap();
    let to = server.local_addr().unwrap();
    let sender = client("127.0.0.1:0");
    let q = query("web.example.", RType::A).id(7).bytes;
    let burst = 3000;
    for _ in 0..burst {
        sender.send_to(&q, to).unwrap();
    }
    let mut queued = 0;
    let mut buf = [0; 512];
    while server.recv_from(&mut buf).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, burst);
}

#[test]
fn answers_over_ipv4_and_ipv6_from_the_address_queried() {
    let (workers, _table) = start(
        vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
        2,
    );
    let [v4, v6] = workers.local_addrs() else {
        panic!("two addresses expected")
    };
    assert_ne!(v4.port(), 0);
    assert_ne!(v6.port(), 0);

    let q = query("web.example.", RType::A).id(0x1234).bytes;
    let (reply, from) = ask(&client("127.0.0.1:0"), *v4, &q);
    assert_eq!(from, *v4);
    let r = decode(&reply, q.len());
    assert_eq!((r.id, r.qr, r.rcode, r.ancount), (0x1234, true, 0, 1));
    assert_eq!(r.first_rdata, [10, 0, 0, 1]);

    let q = query("v6.example.", RType::AAAA).id(0x4321).bytes;
    let (reply, from) = ask(&client("[::1]:0"), *v6, &q);
    assert_eq!(from, *v6);
    let r = decode(&reply, q.len());
    assert_eq!((r.id, r.rcode, r.ancount), (0x4321, 0, 1));
    assert_eq!(r.first_rdata, Ipv6Addr::LOCALHOST.octets());

    let t = wait_for(&workers, |t| t.replies >= 2);
    assert_eq!((t.rx, t.tx, t.replies, t.drops), (2, 2, 2, 0));
    let mut sum = AnswerCounts::default();
    for worker in workers.stats() {
        sum.add(&worker.answers);
    }
    let answers: Vec<_> = sum.nonzero().collect();
    assert_eq!(answers, [("NOERROR", "A", 1), ("NOERROR", "AAAA", 1)]);
    workers.stop();
}

#[test]
fn workers_share_an_explicit_port_and_split_the_clients() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (workers, _table) = start(vec![addr], 3);
    assert_eq!(workers.local_addrs(), [addr]);
    for i in 0..32u16 {
        let q = query("web.example.", RType::A).id(i).bytes;
        let (reply, from) = ask(&client("127.0.0.1:0"), addr, &q);
        assert_eq!(from, addr);
        assert_eq!(decode(&reply, q.len()).id, i);
    }
    let t = wait_for(&workers, |t| t.tx >= 32);
    assert_eq!((t.rx, t.tx), (32, 32));
    // The kernel hashes each client to one worker: 32 clients all on one of
    // three workers would be a one-in-10^15 event.
    let busy = workers.stats().iter().filter(|s| s.rx > 0).count();
    assert!(busy >= 2, "{:?}", workers.stats());
    workers.stop();
}

#[test]
fn a_burst_of_queued_queries_is_answered_in_batches() {
    let (workers, _table) = start(vec!["127.0.0.1:0".parse().unwrap()], 1);
    let server = workers.local_addrs()[0];
    let socket = client("127.0.0.1:0");
    let queries: Vec<Vec<u8>> = (0..100u16)
        .map(|i| query("web.example.", RType::A).id(i).bytes)
        .collect();
    for q in &queries {
        socket.send_to(q, server).unwrap();
    }
    let mut seen = HashSet::new();
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(from, server);
        let r = decode(&buf[..n], queries[0].len());
        assert_eq!((r.rcode, r.first_rdata.as_slice()), (0, &[10, 0, 0, 1][..]));
        seen.insert(r.id);
    }
    assert_eq!(seen.len(), 100);
    let t = wait_for(&workers, |t| t.tx >= 100);
    assert_eq!((t.rx, t.tx, t.replies, t.send_errors), (100, 100, 100, 0));
    workers.stop();
}

#[test]
fn punts_are_refused_and_responses_dropped() {
    let (workers, _table) = start(vec!["127.0.0.1:0".parse().unwrap()], 1);
    let server = workers.local_addrs()[0];
    let socket = client("127.0.0.1:0");

    // A response (QR=1) must never be answered, nor must a runt.
    let mut response = query("web.example.", RType::A).id(7).bytes;
    response[2] |= 0x80;
    socket.send_to(&response, server).unwrap();
    socket.send_to(&[0u8; 5], server).unwrap();

    let q = query("elsewhere.test.", RType::A).id(8).bytes;
    let (reply, _) = ask(&socket, server, &q);
    let r = decode(&reply, q.len());
    assert_eq!((r.id, r.rcode, r.ancount), (8, 5, 0), "REFUSED expected");

    let t = wait_for(&workers, |t| t.refused >= 1 && t.drops >= 2);
    assert_eq!((t.rx, t.tx, t.refused, t.drops, t.replies), (3, 1, 1, 2, 0));
    workers.stop();
}

#[test]
fn punts_go_to_the_queue_and_replies_leave_from_the_queried_address() {
    let table = Table::new();
    publish(&table, Ipv4Addr::new(10, 0, 0, 1));
    let engine = Arc::new(Engine::new(EngineConfig {
        forwarder: true,
        ..EngineConfig::default()
    }));
    let listen = vec!["0.0.0.0:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
    let mut workers = UdpWorkers::spawn(config(listen, 1), engine, table).unwrap();
    let Punts {
        queues,
        wake,
        replier,
    } = workers
        .take_punts()
        .expect("punt queues for a forwarding engine");
    assert!(queues.prepare_sleep(), "consumer asleep");
    let [wild, plain] = workers.local_addrs() else {
        panic!("two addresses expected")
    };
    let wake_timeout = Some(Duration::from_secs(2));
    wake.set_nonblocking(false).unwrap();
    wake.set_read_timeout(wake_timeout).unwrap();
    for target in [
        SocketAddr::from((Ipv4Addr::new(127, 0, 0, 3), wild.port())),
        *plain,
    ] {
        let socket = client("127.0.0.1:0");
        let q = query("elsewhere.test.", RType::A).id(9).bytes;
        socket.send_to(&q, target).unwrap();
        // The worker wakes the sleeping consumer.
        let mut byte = [0u8; 1];
        wake.recv(&mut byte).unwrap();
        queues.awake();
        let punted = queues.pop(0).expect("punted query");
        assert_eq!(punted.query(), &q[..]);
        assert_eq!(punted.client(), socket.local_addr().unwrap());
        assert!(queues.prepare_sleep());
        replier
            .send(&punted.path(), punted.client(), b"reply bytes")
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"reply bytes"[..], target));
    }
    let t = wait_for(&workers, |t| t.punted >= 2);
    assert_eq!((t.punted, t.refused, t.tx, t.punt_drops), (2, 0, 0, 0));
    workers.stop();
}

#[test]
fn a_newly_published_table_is_seen_by_the_next_batch() {
    let (workers, table) = start(vec!["127.0.0.1:0".parse().unwrap()], 2);
    let server = workers.local_addrs()[0];
    let socket = client("127.0.0.1:0");
    let q = query("web.example.", RType::A).id(1).bytes;
    assert_eq!(
        decode(&ask(&socket, server, &q).0, q.len()).first_rdata,
        [10, 0, 0, 1]
    );
    publish(&table, Ipv4Addr::new(10, 9, 9, 9));
    assert_eq!(
        decode(&ask(&socket, server, &q).0, q.len()).first_rdata,
        [10, 9, 9, 9]
    );
    workers.stop();
}

#[test]
fn wildcard_sockets_reply_from_the_address_queried() {
    let (workers, _table) = start(
        vec!["0.0.0.0:0".parse().unwrap(), "[::]:0".parse().unwrap()],
        1,
    );
    let [v4, v6] = workers.local_addrs() else {
        panic!("two addresses expected")
    };
    // Routing would answer 127.0.0.2 from 127.0.0.1, the client's own address.
    let target = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), v4.port()));
    let q = query("web.example.", RType::A).id(3).bytes;
    let (reply, from) = ask(&client("127.0.0.1:0"), target, &q);
    assert_eq!(from, target);
    assert_eq!(decode(&reply, q.len()).first_rdata, [10, 0, 0, 1]);

    let target = SocketAddr::from((Ipv6Addr::LOCALHOST, v6.port()));
    let (reply, from) = ask(&client("[::1]:0"), target, &q);
    assert_eq!(from, target);
    assert_eq!(decode(&reply, q.len()).id, 3);
    workers.stop();
}

#[test]
fn stop_is_prompt() {
    let (workers, _table) = start(
        vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
        4,
    );
    std::thread::sleep(Duration::from_millis(30));
    let started = Instant::now();
    workers.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200), "stop took {took:?}");
}

#[test]
fn a_second_server_on_a_port_in_use_is_refused() {
    // Without the exclusive probe the second group's SO_REUSEPORT sockets would
    // bind beside the first's and the kernel would split the queries.
    let table = Table::new();
    let engine = Arc::new(Engine::default());
    let first = UdpWorkers::spawn(
        config(vec!["127.0.0.1:0".parse().unwrap()], 2),
        Arc::clone(&engine),
        table.clone(),
    )
    .unwrap();
    let taken = first.local_addrs()[0];
    let error = UdpWorkers::spawn(config(vec![taken], 1), engine, table).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    assert!(error.to_string().contains(&taken.to_string()), "{error}");
    first.stop();
}

#[test]
fn bind_errors_name_the_address() {
    // A socket without SO_REUSEPORT holds the port: nobody may share it.
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let table = Table::new();
    let engine = Arc::new(Engine::default());
    let free: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let error = UdpWorkers::spawn(config(vec![free, taken], 2), engine, table).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    assert!(error.to_string().contains(&taken.to_string()), "{error}");
}

#[test]
fn bad_configs_are_refused() {
    let listen = vec!["127.0.0.1:0".parse().unwrap()];
    let mut bad = vec![
        UdpConfig {
            batch: 16,
            ..config(listen.clone(), 1)
        },
        config(listen.clone(), 0),
        config(Vec::new(), 1),
    ];
    bad.push(UdpConfig {
        cores: Some(Vec::new()),
        ..config(listen, 1)
    });
    for config in bad {
        let error =
            UdpWorkers::spawn(config, Arc::new(Engine::default()), Table::new()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
    }
}

#[test]
fn workers_are_pinned_to_the_cores_asked_for() {
    let table = Table::new();
    let engine = Arc::new(Engine::default());
    let config = UdpConfig {
        cores: Some(vec![0]),
        ..config(vec!["127.0.0.1:0".parse().unwrap()], 2)
    };
    let workers = UdpWorkers::spawn(config, engine, table).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while workers.cores().iter().any(Option::is_none) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let cores: Vec<_> = workers.cores();
    assert_eq!(cores, [Some(0), Some(0)]);
    workers.stop();
}
