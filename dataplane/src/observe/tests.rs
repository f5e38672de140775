use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;
use crate::record::RType;
use crate::testkit::query;

fn client() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 5353)
}

/// The query for `name`, and an answer to it: the same bytes with QR and
/// one answer counted (the observer reads the header and question only).
fn exchange_bytes(name: &str) -> (Vec<u8>, Vec<u8>) {
    let query = query(name, RType::A).bytes;
    let mut answer = query.clone();
    answer[2] |= 0x80;
    answer[7] = 1;
    (query, answer)
}

fn observe(observer: &mut QueryObserver, name: &str, answered: bool) {
    let (query, answer) = exchange_bytes(name);
    let sampled = observer.before(&query);
    let message = if answered { &answer } else { &query };
    observer.after(sampled, || {
        Some(Exchange {
            client: client(),
            transport: Transport::Udp,
            message,
            answered,
        })
    });
}

fn names_of(hub: &ObserverHub) -> (Vec<(Vec<u8>, u64)>, u64) {
    let mut names = Vec::new();
    let mut queries = 0;
    hub.collect(|sketch| {
        queries += sketch.queries;
        names.extend(sketch.entries().map(|e| (e.name.to_vec(), e.count)));
    });
    names.sort();
    (names, queries)
}

#[test]
fn names_reach_the_hub_lowered_once_a_loop_hands_them_over() {
    let hub = ObserverHub::new(ObserverConfig {
        names: true,
        log: None,
    });
    let mut observer = hub.observer();
    observer.batch();
    observe(&mut observer, "Web.Example.", true);
    observe(&mut observer, "web.example.", true);
    observe(&mut observer, "far.away.", false);
    assert_eq!(names_of(&hub).1, 0, "nothing handed over yet");
    observer.handed_at = 0;
    observer.tick();
    let (names, queries) = names_of(&hub);
    assert_eq!(queries, 3);
    assert_eq!(
        names,
        vec![
            (b"\x03far\x04away\x00".to_vec(), 1),
            (b"\x03web\x07example\x00".to_vec(), 2)
        ]
    );
    // The sketch came back cleared and goes round again.
    observe(&mut observer, "web.example.", true);
    observer.handed_at = 0;
    observer.tick();
    assert_eq!(
        names_of(&hub).0,
        vec![(b"\x03web\x07example\x00".to_vec(), 1)]
    );
}

#[test]
fn sampled_exchanges_are_logged_and_a_full_queue_drops_and_counts() {
    let hub = ObserverHub::new(ObserverConfig {
        names: false,
        log: Some(LogConfig {
            sample: 2,
            queries: true,
            responses: true,
            queue: 3,
        }),
    });
    let mut observer = hub.observer();
    observer.batch();
    for _ in 0..4 {
        observe(&mut observer, "web.example.", true);
    }
    let mut logged = Vec::new();
    let drained = hub.drain_log(|entry| {
        logged.push((entry.kind, entry.client, entry.message().to_vec()));
    });
    let (query, answer) = exchange_bytes("web.example.");
    assert_eq!(
        drained, 3,
        "two sampled exchanges of two entries, one queue of 3"
    );
    assert_eq!(logged[0], (TapKind::Query, client(), query));
    assert_eq!(logged[1], (TapKind::Response, client(), answer));
    assert_eq!(hub.log_drops().queue_full, 1);
    // A punted query logs its query only: the forwarder logs the answer.
    observe(&mut observer, "far.away.", false);
    observe(&mut observer, "far.away.", false);
    let mut kinds = Vec::new();
    hub.drain_log(|entry| kinds.push(entry.kind));
    assert_eq!(kinds, [TapKind::Query]);
}

#[test]
fn an_observer_that_is_off_does_nothing() {
    let hub = ObserverHub::new(ObserverConfig {
        names: false,
        log: None,
    });
    let mut observer = hub.observer();
    assert!(!observer.is_on());
    observer.batch();
    observe(&mut observer, "web.example.", true);
    assert_eq!(hub.drain_log(|_| {}), 0);
    assert_eq!(names_of(&hub).1, 0);
}

#[test]
fn nodata_answers_are_told_apart() {
    let (_, mut answer) = exchange_bytes("web.example.");
    assert!(!is_nodata(&answer));
    answer[7] = 0;
    assert!(is_nodata(&answer));
    answer[3] |= 3;
    assert!(!is_nodata(&answer), "NXDOMAIN");
    assert!(!is_nodata(&answer[..5]));
}
