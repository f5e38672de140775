//! The poller against a scripted backend on a real unix socket: what reaches the
//! publisher, what a failure leaves served, and what is ever sent.

use ferrodns_dataplane::testkit::name;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::table::Table;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::*;
use crate::pipeline::{Policies, Publisher};

/// How the scripted backend behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Answer,
    /// Reads requests and never answers (a hung agent).
    Silent,
    /// Answers every request with a line that is not JSON.
    Garbage,
}

/// What the backend serves and what it was asked.
#[derive(Debug)]
struct Script {
    zones: Vec<&'static str>,
    records: Vec<Value>,
    mode: Mode,
    requests: Vec<Vec<u8>>,
}

/// A backend on a unix socket in a temp dir, answering like the OpenSVC agent:
/// one read of at most 1,024 bytes is one request, unknown methods get nothing.
struct Backend {
    _dir: tempfile::TempDir,
    path: PathBuf,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    fn start(zones: Vec<&'static str>, records: Vec<Value>) -> Backend {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("pdns.sock");
        let script = Arc::new(Mutex::new(Script {
            zones,
            records,
            mode: Mode::Answer,
            requests: Vec::new(),
        }));
        let task = Backend::listen(&path, &script);
        Backend {
            _dir: dir,
            path,
            script,
            task,
        }
    }

    fn listen(path: &std::path::Path, script: &Arc<Mutex<Script>>) -> tokio::task::JoinHandle<()> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap_or_else(|e| unreachable!("{e}"));
        let script = Arc::clone(script);
        tokio::spawn(async move {
            // Dropped with this task: stopping the backend closes its connections.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let script = Arc::clone(&script);
                connections.spawn(async move {
                    let mut buf = vec![0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let reply = Backend::answer(&script, buf.get(..n).unwrap_or_default());
                        if let Some(reply) = reply
                            && stream.write_all(&reply).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        })
    }

    fn answer(script: &Mutex<Script>, request: &[u8]) -> Option<Vec<u8>> {
        let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
        script.requests.push(request.to_vec());
        let request: Value = serde_json::from_slice(request).ok()?;
        let result = match (script.mode, request["method"].as_str()?) {
            (Mode::Silent, _) => return None,
            (Mode::Garbage, _) => return Some(b"<html>\n".to_vec()),
            (_, "initialize") => json!(true),
            (_, "getAllDomains") => script.zones.iter().map(|z| json!({"zone": z})).collect(),
            (_, "list") => {
                // A zone's records, and in the first zone those of no zone (as
                // the agent lists its PTR records in its cluster zone).
                let zone = request["parameters"]["zonename"].as_str()?;
                let first = script.zones.first().is_some_and(|z| zone.starts_with(z));
                let of = |record: &&Value, zone: &str| {
                    record["qname"].as_str().is_some_and(|n| n.ends_with(zone))
                };
                let records: Vec<Value> = script
                    .records
                    .iter()
                    .filter(|r| {
                        of(r, zone)
                            || (first && !script.zones.iter().any(|z| of(r, &format!("{z}."))))
                    })
                    .cloned()
                    .collect();
                json!(records)
            }
            _ => return None,
        };
        let mut line = json!({ "result": result }).to_string().into_bytes();
        line.push(b'\n');
        Some(line)
    }

    fn set(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }
}

fn record(qtype: &str, qname: &str, content: &str) -> Value {
    json!({"qtype": qtype, "qname": qname, "content": content, "ttl": 60, "domain_id": -1})
}

/// The OpenSVC agent's zone for two DNS nodes: the SOA, NS and `ns<i>` A once
/// per node, and a service.
fn cluster() -> Vec<Value> {
    let soa = "dns.cluster1. contact@opensvc.com 1 7200 3600 432000 86400";
    vec![
        record("SOA", "cluster1.", soa),
        record("A", "ns1.cluster1.", "10.0.0.53"),
        record("NS", "cluster1.", "ns1.cluster1."),
        record("SOA", "cluster1.", soa),
        record("A", "ns2.cluster1.", "10.0.0.54"),
        record("NS", "cluster1.", "ns2.cluster1."),
        record("A", "web.ns1.svc.cluster1.", "10.1.0.1"),
        record("A", "web.ns1.svc.cluster1.", "10.1.0.2"),
    ]
}

fn source(backend: &Backend, timeout: Duration) -> (PdnsSource, PublisherHandle) {
    let publisher = PublisherHandle::new(
        Publisher::new(Table::new(), Policies::default()).with_zone_serials(1000),
    );
    let remote = PdnsRemote {
        path: backend.path.clone(),
        timeout,
    };
    let settings = PdnsRemoteSettings {
        remotes: vec![remote.clone()],
        poll_interval: Duration::from_millis(100),
        max_reply_bytes: 64 * 1024,
    };
    let hosts = vec![name("10.in-addr.arpa.")];
    let source = PdnsSource::new(0, remote, &settings, hosts, publisher.clone());
    (source, publisher)
}

/// The records served at `owner` of type `rtype`, as rdata bytes.
async fn served(publisher: &PublisherHandle, owner: &str, rtype: RType) -> Vec<Vec<u8>> {
    let version = publisher.read(|p| p.table().current()).await;
    version
        .find(&name(owner).to_lowercase_wire())
        .and_then(|node| node.rrset(rtype.0))
        .map(|set| set.records().map(|r| r.rdata().to_vec()).collect())
        .unwrap_or_default()
}

/// The serial of the zone's SOA as served.
async fn serial(publisher: &PublisherHandle, apex: &str) -> Option<u32> {
    let soa = served(publisher, apex, RType::SOA).await;
    let rdata = soa.first()?;
    let at = rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes(rdata.get(at..at + 4)?.try_into().ok()?))
}

#[tokio::test]
async fn a_poll_publishes_the_zone_and_the_next_only_what_changed() {
    let backend = Backend::start(vec!["cluster1"], cluster());
    let (mut source, publisher) = source(&backend, Duration::from_secs(2));
    let first = source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(first.published);
    assert_eq!(
        served(&publisher, "web.ns1.svc.cluster1.", RType::A)
            .await
            .len(),
        2
    );
    assert_eq!(served(&publisher, "cluster1.", RType::NS).await.len(), 2);
    // The SOA the agent repeats per name server is served once, with the
    // publisher's serial instead of the agent's constant 1.
    assert_eq!(served(&publisher, "cluster1.", RType::SOA).await.len(), 1);
    assert_eq!(serial(&publisher, "cluster1.").await, Some(1000));

    let again = source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!again.published, "nothing changed: {again:?}");

    backend.set(|s| {
        s.records
            .push(record("A", "db.ns1.svc.cluster1.", "10.1.0.9"))
    });
    let changed = source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(changed.published && !changed.rebuilt);
    assert_eq!(
        served(&publisher, "db.ns1.svc.cluster1.", RType::A).await,
        [vec![10, 1, 0, 9]]
    );
    assert_eq!(serial(&publisher, "cluster1.").await, Some(1001));
    let status = source.status();
    assert!(status.up() && status.ever_succeeded());
    // The poll held 9 records (the SOA twice); the publisher keeps 8.
    assert_eq!(status.counts().records, 9);
    assert_eq!(publisher.read(|p| p.record_count()).await, 8);
    // Every request fitted the agent's read and used a method it knows.
    for request in backend.requests() {
        assert!(request.len() <= protocol::MAX_REQUEST_LEN);
        let method = serde_json::from_slice::<Value>(&request).map(|v| v["method"].clone());
        let method = method.unwrap_or_default();
        assert!(
            ["initialize", "getAllDomains", "list"].contains(&method.as_str().unwrap_or("")),
            "{method}"
        );
    }
}

#[tokio::test]
async fn bad_records_are_skipped_alone_and_outside_ones_go_to_host_zones() {
    let mut records = cluster();
    records.push(record("A", "bad.cluster1.", "10.1.0.300"));
    records.push(record("PTR6", "x.cluster1.", "web.ns1.svc.cluster1."));
    records.push(record(
        "PTR",
        "1.0.1.10.in-addr.arpa.",
        "web.ns1.svc.cluster1.",
    ));
    records.push(record(
        "PTR",
        "1.0.1.192.in-addr.arpa.",
        "web.ns1.svc.cluster1.",
    ));
    let backend = Backend::start(vec!["cluster1"], records);
    let (mut source, publisher) = source(&backend, Duration::from_secs(2));
    source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        served(&publisher, "web.ns1.svc.cluster1.", RType::A)
            .await
            .len(),
        2
    );
    assert!(
        served(&publisher, "bad.cluster1.", RType::A)
            .await
            .is_empty()
    );
    assert_eq!(
        served(&publisher, "1.0.1.10.in-addr.arpa.", RType::PTR)
            .await
            .len(),
        1
    );
    let counts = source.status().counts();
    assert_eq!(
        (counts.bad_records, counts.outside, counts.zones),
        (2, 1, 2)
    );
}

#[tokio::test]
async fn a_failed_poll_keeps_the_last_records_and_a_vanished_zone_goes() {
    let mut records = cluster();
    records.push(record("A", "www.other.", "10.2.0.1"));
    let backend = Backend::start(vec!["cluster1", "other"], records);
    let (mut source, publisher) = source(&backend, Duration::from_secs(2));
    source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(served(&publisher, "www.other.", RType::A).await.len(), 1);

    // The agent stops: its socket goes.
    backend.task.abort();
    let _ = std::fs::remove_file(&backend.path);
    tokio::task::yield_now().await;
    assert!(source.poll().await.is_err());
    let status = source.status();
    assert!(!status.up() && status.ever_succeeded());
    assert_eq!(status.errors(), 1);
    assert_eq!(
        served(&publisher, "web.ns1.svc.cluster1.", RType::A)
            .await
            .len(),
        2
    );

    // It comes back without the other zone.
    backend.set(|s| s.zones = vec!["cluster1"]);
    let _task = Backend::listen(&backend.path, &backend.script);
    source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(source.status().up());
    assert!(served(&publisher, "www.other.", RType::A).await.is_empty());
    assert_eq!(
        publisher.read(|p| p.zones()).await,
        [name("cluster1.")],
        "the vanished zone is dropped"
    );
}

#[tokio::test]
async fn silence_and_garbage_fail_the_poll_within_the_timeout() {
    let backend = Backend::start(vec!["cluster1"], cluster());
    let (mut source, publisher) = source(&backend, Duration::from_millis(300));
    source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    for mode in [Mode::Silent, Mode::Garbage] {
        backend.set(|s| s.mode = mode);
        let started = Instant::now();
        let failed = source.poll().await;
        assert!(failed.is_err(), "{mode:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{mode:?}");
        assert_eq!(
            served(&publisher, "web.ns1.svc.cluster1.", RType::A)
                .await
                .len(),
            2
        );
    }
    backend.set(|s| s.mode = Mode::Answer);
    source.poll().await.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(source.status().errors(), 2);
}

#[tokio::test]
async fn a_reply_over_the_limit_fails_the_poll() {
    let mut records = cluster();
    for i in 0..2000u32 {
        let owner = format!("svc{i}.ns1.svc.cluster1.");
        records.push(record("A", &owner, "10.3.0.1"));
    }
    let backend = Backend::start(vec!["cluster1"], records);
    let (mut source, publisher) = source(&backend, Duration::from_secs(2));
    let error = source.poll().await.map(|_| ()).map_err(|e| e.to_string());
    assert!(
        error.as_ref().is_err_and(|e| e.contains("longer than")),
        "{error:?}"
    );
    assert!(publisher.read(|p| p.zones()).await.is_empty());
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let second = Duration::from_secs(1);
    let waits: Vec<u64> = (0..6).map(|n| backoff(second, n).as_secs()).collect();
    assert_eq!(waits, [1, 1, 2, 4, 8, 10]);
    assert_eq!(backoff(Duration::from_secs(30), 3), Duration::from_secs(30));
}
