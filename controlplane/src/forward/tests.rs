//! The forwarder as a whole, against small upstreams on loopback: its caps, the
//! coalescing of identical questions, and local zones winning over what
//! upstreams say.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrodns_dataplane::engine::CLASS_IN;
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::table::Table;

use super::message::tests::{a, cname, wire};
use super::message::{Response, Rr, parse_response, upstream_query};
use super::*;

/// An upstream on loopback that answers each query with the records `answer`
/// gives for its (lowered) name, after `delay`; silent when it gives none.
struct FakeUpstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeUpstream {
    fn start(delay: Duration, answer: fn(&[u8]) -> Option<Vec<Rr>>) -> FakeUpstream {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (queries, stop) = (Arc::clone(&queries), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    queries.fetch_add(1, Ordering::Relaxed);
                    let query = ClientQuery::parse(&buf[..len], Transport::Udp).unwrap();
                    let Some(records) = answer(&query.qname) else {
                        continue;
                    };
                    let prepared = Prepared::build(
                        &query.qname,
                        query.qtype,
                        query.qclass,
                        Rcode::NoError,
                        [&records, &[], &[]],
                    )
                    .unwrap();
                    std::thread::sleep(delay);
                    let _ = socket.send_to(&prepared.render(&query, 0), from);
                }
            })
        };
        FakeUpstream {
            addr,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn settings(nameservers: &[&FakeUpstream]) -> ForwardSettings {
    ForwardSettings {
        nameservers: nameservers.iter().map(|u| u.addr).collect(),
        timeout: Duration::from_millis(300),
        deadline: Duration::from_millis(600),
        ..ForwardSettings::default()
    }
}

/// Asks `forwarder` for `name` A as a client on loopback would.
async fn ask(forwarder: &Forwarder, name: &str) -> Response {
    let query = upstream_query(7, &wire(name), RType::A, CLASS_IN, false, false);
    let client = IpAddr::from([127, 0, 0, 1]);
    let answer = forwarder.answer(&query, client, Transport::Udp).await;
    parse_response(&answer.unwrap()).unwrap()
}

fn text(records: &[Rr]) -> Vec<String> {
    records
        .iter()
        .map(|rr| {
            let owner = Name::from_wire(&rr.name).unwrap();
            match rr.rdata.first() {
                Some(message::Part::Name(target)) => {
                    format!("{owner} CNAME {}", Name::from_wire(target).unwrap())
                }
                Some(message::Part::Bytes(ip)) => format!("{owner} A {ip:?}"),
                None => format!("{owner} ?"),
            }
        })
        .collect()
}

/// Everything points into `svc.cluster.local.` (local) or `corp.test.` and
/// claims an address there.
fn poisoning(qname: &[u8]) -> Option<Vec<Rr>> {
    let name = Name::from_wire(qname).unwrap().to_string();
    let target = if name.starts_with("corp") {
        "x.corp.test."
    } else {
        "web.svc.cluster.local."
    };
    Some(vec![cname(&name, 60, target), a(target, 60, [6, 6, 6, 6])])
}

fn corp(qname: &[u8]) -> Option<Vec<Rr>> {
    let name = Name::from_wire(qname).unwrap().to_string();
    Some(vec![a(&name, 60, [192, 0, 2, 99])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_zones_and_other_upstreams_zones_win_over_an_upstream() {
    let default = FakeUpstream::start(Duration::ZERO, poisoning);
    let corp_upstream = FakeUpstream::start(Duration::ZERO, corp);
    let mut config = settings(&[&default]);
    config.zones = vec![(
        Name::from_ascii("corp.test.").unwrap(),
        vec![corp_upstream.addr],
    )];
    let forwarder = Forwarder::new(&config, local::tests::local_table()).unwrap();

    // The chain into the local zone is completed from the local table.
    let out = ask(&forwarder, "www.example.com.").await;
    assert_eq!(
        text(&out.answer),
        [
            "www.example.com. CNAME web.svc.cluster.local.",
            "web.svc.cluster.local. A [10, 0, 0, 1]"
        ]
    );
    // Not cached: local data is as fresh as the table.
    ask(&forwarder, "www.example.com.").await;
    assert_eq!(default.queries(), 2);

    // The chain into corp.test. is asked of corp.test.'s upstream.
    let out = ask(&forwarder, "corp.example.com.").await;
    assert_eq!(
        text(&out.answer),
        [
            "corp.example.com. CNAME x.corp.test.",
            "x.corp.test. A [192, 0, 2, 99]"
        ]
    );
    assert_eq!(corp_upstream.queries(), 1);
    assert!(forwarder.snapshot().bailiwick_drops >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_gives_way_to_a_zone_that_became_local() {
    let default = FakeUpstream::start(Duration::ZERO, poisoning);
    let table = Table::new();
    let forwarder = Forwarder::new(&settings(&[&default]), table.clone()).unwrap();
    let out = ask(&forwarder, "www.example.com.").await;
    assert!(
        text(&out.answer)[1].ends_with("[6, 6, 6, 6]"),
        "no local zone yet"
    );
    // svc.cluster.local. becomes local: the cached answer is not served again.
    table.publish((*local::tests::local_table().current()).clone());
    let out = ask(&forwarder, "www.example.com.").await;
    assert_eq!(
        text(&out.answer)[1],
        "web.svc.cluster.local. A [10, 0, 0, 1]"
    );
    assert_eq!(forwarder.snapshot().local_drops, 1);
    assert_eq!(default.queries(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_an_upstreams_cap_or_the_global_one_the_answer_is_servfail_at_once() {
    let silent = FakeUpstream::start(Duration::ZERO, |_| None);
    let mut config = settings(&[&silent]);
    config.max_in_flight_per_upstream = 2;
    config.max_in_flight = 3;
    let forwarder = Forwarder::new(&config, Table::new()).unwrap();
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let forwarder = forwarder.clone();
            tokio::spawn(async move { ask(&forwarder, &format!("slow{i}.test.")).await })
        })
        .collect();
    while forwarder.snapshot().upstreams[0].in_flight < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = tokio::time::Instant::now();
    let out = ask(&forwarder, "third.test.").await;
    assert_eq!(out.rcode(), Some(Rcode::ServFail));
    assert!(started.elapsed() < Duration::from_millis(100));
    let stats = forwarder.snapshot();
    assert_eq!((stats.over_cap, stats.upstreams[0].over_cap), (1, 1));
    assert_eq!(stats.in_flight, 2);
    assert!(stats.sockets_open >= 1);
    for task in waiting {
        assert_eq!(task.await.unwrap().rcode(), Some(Rcode::ServFail));
    }
    assert_eq!(forwarder.snapshot().servfail, 2);

    // The global cap: one question in flight at most.
    config.max_in_flight = 1;
    let forwarder = Forwarder::new(&config, Table::new()).unwrap();
    let first = {
        let forwarder = forwarder.clone();
        tokio::spawn(async move { ask(&forwarder, "slow.test.").await })
    };
    while forwarder.snapshot().in_flight < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out = ask(&forwarder, "other.test.").await;
    assert_eq!(out.rcode(), Some(Rcode::ServFail));
    assert_eq!(forwarder.snapshot().over_cap, 1);
    first.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_questions_in_flight_go_upstream_once() {
    let slow = FakeUpstream::start(Duration::from_millis(150), corp);
    let forwarder = Forwarder::new(&settings(&[&slow]), Table::new()).unwrap();
    let asks: Vec<_> = (0..5)
        .map(|_| {
            let forwarder = forwarder.clone();
            tokio::spawn(async move { ask(&forwarder, "same.test.").await })
        })
        .collect();
    for task in asks {
        let out = task.await.unwrap();
        assert_eq!(text(&out.answer), ["same.test. A [192, 0, 2, 99]"]);
    }
    assert_eq!(slow.queries(), 1);
    let stats = forwarder.snapshot();
    assert_eq!((stats.forwarded, stats.coalesced), (1, 4));
}
