//! Writes through the REST API of the real `ferrodns` binary into a real etcd,
//! under contention and with a cluster member dead: conflicting writes racing for
//! one name, a replace right behind an add, and a three-member cluster with one
//! member killed. What etcd holds is read back with the real `etcdctl` and what
//! is served with `dig`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::sync::Barrier;

use serde_json::{Value, json};
use support::api::{Api, TOKEN, serve_etcd};
use support::etcd::{Etcd, EtcdCluster};
use support::{Server, lines};

/// A record every server starts with, so that start-up can wait for it.
const SEED: (&str, &str) = (
    "/containerdns/com/example/seed/debebe8d/",
    r#"{"host":"10.0.0.1","type":"A","ttl":30}"#,
);

/// `ferrodns serve` fed by the etcd `endpoints`, serving `example.com`, with
/// the API on a free port.
fn serve(endpoints: &[String]) -> (Server, Api) {
    serve_etcd(endpoints, &[], "seed.example.com")
}

/// What etcd holds for `<label>.example.com.` in the containerdns layout: the
/// `(type, host)` of every key, sorted.
fn held(etcd: &Etcd, label: &str) -> Vec<(String, String)> {
    let mut held: Vec<(String, String)> = etcd
        .prefix(&format!("/containerdns/com/example/{label}/"))
        .into_iter()
        .map(|(key, value)| {
            let value: Value = serde_json::from_str(&value)
                .unwrap_or_else(|e| panic!("{key} holds {value:?}: {e}"));
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            (field("type"), field("host"))
        })
        .collect();
    held.sort();
    held
}

fn short(server: &Server, name: &str, qtype: &str) -> Vec<String> {
    let mut answers = lines(&server.dig(&["+short", name, qtype]));
    answers.sort();
    answers
}

/// Waits until `name`'s `qtype` answer is `expected` (sorted).
fn wait_answer(server: &Server, name: &str, qtype: &str, expected: &[String]) {
    server.wait_until(&format!("{name} {qtype} = {expected:?}"), |s| {
        short(s, name, qtype) == expected
    });
}

fn record(name: &str, rtype: &str, data: &str) -> String {
    json!({"name": name, "type": rtype, "data": data}).to_string()
}

#[test]
fn concurrent_cname_and_a_writes_to_one_name_land_one_kind_only() {
    let etcd = Etcd::start();
    etcd.put(SEED.0, SEED.1);
    let (server, api) = serve(&[etcd.url()]);
    for round in 0..4 {
        let label = format!("race{round}");
        let owner = format!("{label}.example.com.");
        // Half the writers add a CNAME, half an address, all at once.
        let writes: Vec<(&str, String)> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    ("CNAME", format!("t{i}.example.com."))
                } else {
                    ("A", format!("10.9.{round}.{i}"))
                }
            })
            .collect();
        let start = Barrier::new(writes.len());
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let running: Vec<_> = writes
                .iter()
                .map(|(rtype, data)| {
                    let (api, start, body) = (&api, &start, record(&owner, rtype, data));
                    scope.spawn(move || {
                        start.wait();
                        api.post("/v1/records", &body).status
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|t| t.join().expect("writer"))
                .collect()
        });

        let held = held(&etcd, &label);
        let kinds: BTreeSet<&str> = held.iter().map(|(t, _)| t.as_str()).collect();
        assert!(
            kinds.len() <= 1,
            "round {round}: etcd holds {held:?} after {writes:?} answered {statuses:?}"
        );
        for ((rtype, data), status) in writes.iter().zip(&statuses) {
            let landed = held.contains(&((*rtype).to_owned(), data.clone()));
            match status {
                201 => assert!(
                    landed || *rtype == "CNAME",
                    "round {round}: {rtype} {data} got 201 but etcd holds {held:?}"
                ),
                409 => assert!(
                    !landed,
                    "round {round}: {rtype} {data} got 409 but etcd holds it: {held:?}"
                ),
                other => panic!("round {round}: {rtype} {data} got {other}"),
            }
        }
        // A CNAME replaces the one before it: the one left is one that got 201.
        if kinds.contains("CNAME") {
            assert_eq!(held.len(), 1, "round {round}: {held:?}");
            let accepted = writes.iter().zip(&statuses).any(|((rtype, data), status)| {
                *rtype == "CNAME" && *status == 201 && *data == held[0].1
            });
            assert!(accepted, "round {round}: {held:?} after {statuses:?}");
        }
        // What etcd holds is what is served (an A query of a CNAME would follow
        // it, so each kind is asked for by its own type).
        let kind = kinds.first().copied().unwrap_or("A");
        let expected: Vec<String> = held.iter().map(|(_, host)| host.clone()).collect();
        wait_answer(&server, &owner, kind, &expected);
    }
}

#[test]
fn a_replace_right_after_an_add_leaves_nothing_of_the_old_record() {
    let etcd = Etcd::start();
    etcd.put(SEED.0, SEED.1);
    let (server, api) = serve(&[etcd.url()]);
    // Three clients at a time, each adding an address and replacing it at once.
    std::thread::scope(|scope| {
        for lane in 0..3 {
            let api = &api;
            scope.spawn(move || {
                for i in (lane..30).step_by(3) {
                    let owner = format!("swap{i}.example.com.");
                    let (add, replace) = (
                        record(&owner, "A", &format!("10.8.{i}.1")),
                        json!({"data": [format!("10.8.{i}.2")]}).to_string(),
                    );
                    let path = format!("/v1/records/{owner}/A");
                    let replies = api.send_all(
                        &[
                            ("POST", "/v1/records", Some(&add)),
                            ("PUT", &path, Some(&replace)),
                        ],
                        Some(TOKEN),
                    );
                    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
                    assert_eq!(statuses, [201, 200], "{replies:?}");
                }
            });
        }
    });
    let stayed: Vec<(usize, Vec<(String, String)>)> = (0..30)
        .map(|i| (i, held(&etcd, &format!("swap{i}"))))
        .filter(|(i, held)| *held != [("A".to_owned(), format!("10.8.{i}.2"))])
        .collect();
    assert!(
        stayed.is_empty(),
        "the replaced address stayed behind: {stayed:?}"
    );
    for i in 0..30 {
        let owner = format!("swap{i}.example.com.");
        wait_answer(&server, &owner, "A", &[format!("10.8.{i}.2")]);
    }
}

#[test]
fn with_one_member_of_three_dead_every_write_lands_and_is_answered() {
    let mut cluster = EtcdCluster::start(3);
    cluster.members[1].put(SEED.0, SEED.1);
    // The leader dies, and it is the member ferrodns is told of first: the
    // one its clients start with. The two others make a quorum and elect a
    // new leader.
    let leader = cluster
        .members
        .iter()
        .position(Etcd::is_leader)
        .expect("a leader");
    let mut urls = cluster.urls();
    urls.rotate_left(leader);
    let (server, api) = serve(&urls);
    cluster.members[leader].stop();
    let failed: Vec<(usize, u16, String)> = (0..60)
        .filter_map(|i| {
            let owner = format!("n{i}.example.com.");
            let reply = api.post("/v1/records", &record(&owner, "A", &format!("10.7.0.{i}")));
            (reply.status != 201).then_some((i, reply.status, reply.body))
        })
        .collect();
    assert!(failed.is_empty(), "writes refused: {failed:?}");
    for i in 0..60 {
        let owner = format!("n{i}.example.com.");
        wait_answer(&server, &owner, "A", &[format!("10.7.0.{i}")]);
    }

    // The member comes back and catches up; writes keep landing.
    cluster.members[leader].restart();
    let again = api.post("/v1/records", &record("back.example.com.", "A", "10.7.1.1"));
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(
        held(&cluster.members[leader], "back"),
        [("A".to_owned(), "10.7.1.1".to_owned())],
        "the member that came back holds the write"
    );
    wait_answer(&server, "back.example.com.", "A", &["10.7.1.1".to_owned()]);
}
