//! Change-to-answer delay of the PowerDNS remote-backend source: how long after
//! the OpenSVC agent starts serving a changed record ferrodns answers with it.
//! Not a criterion bench: it starts the real binary and prints a report.
//!
//! ```sh
//! cargo bench -p ferrodns --bench pdns_delay                      # about 4 min
//! PDNS_DELAY_SAMPLES=20 cargo bench -p ferrodns --bench pdns_delay  # shorter
//! ```
//!
//! The agent of the tests (`tests/support/opensvc.rs`, written after om3's
//! code) serves `cluster1.`; the `ferrodns` binary of this build polls it. Each
//! sample moves one service to a new address in the agent at a random moment
//! of the poll cycle and asks ferrodns (UDP, one query outstanding, a query
//! every millisecond) until the answer holds the new address; the time from the
//! change to that answer is the sample. Runs: the default poll interval (1 s)
//! and 200 ms, with the agent's sample cluster (about 30 records), then 1 s with
//! 5,000 more services (one instance each: about 30,000 more records), where
//! each poll that finds a change also costs translating and comparing the whole
//! zone. The agent here is the tests' (its
//! replies of 35,000 records take a while on a loaded machine): each request gets
//! 10 s rather than PowerDNS's 2 s default, so that a slow reply is not counted
//! as a failed poll.
//!
//! Figures, machine and command: `docs/benchmarks.md`, section "OpenSVC agent".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/opensvc.rs"]
mod opensvc;
#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::thread::sleep;
use std::time::{Duration, Instant};

use opensvc::{Agent, Cluster, Instance, Resource};
use support::Server;

fn main() {
    let samples: usize = std::env::var("PDNS_DELAY_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    println!("change-to-answer delay, {samples} changes per run");
    println!("| poll interval | zone | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (interval_ms, extra_instances) in [(1000, 0), (200, 0), (1000, 5000)] {
        let delays = run(interval_ms, extra_instances, samples);
        let records = if extra_instances == 0 {
            "sample cluster"
        } else {
            "5,000 more services"
        };
        println!(
            "| {interval_ms} ms | {records} | {} | {} | {} |",
            ms(percentile(&delays, 50)),
            ms(percentile(&delays, 99)),
            ms(percentile(&delays, 100)),
        );
    }
}

/// One run: `samples` changes with ferrodns polling every `interval_ms`.
fn run(interval_ms: u64, extra_instances: u32, samples: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::sample();
    for i in 0..extra_instances {
        let ip = Ipv4Addr::from(0x0a10_0000 + i);
        cluster.instances.push(Instance {
            name: format!("app{i}"),
            namespace: "bulk",
            kind: "svc",
            node: format!("node{i}"),
            resources: vec![Resource {
                rid: "ip#0",
                ip: ip.into(),
                hostname: None,
                expose: vec!["80/tcp"],
            }],
        });
    }
    let agent = Agent::start(&dir.path().join("pdns.sock"), cluster);
    let config = dir.path().join("ferrodns.toml");
    support::write(
        &config,
        &format!(
            "[pdns_remote]\nconnections = [\"unix:path={},timeout=10000\"]\n\
             poll_interval_ms = {interval_ms}\n",
            agent.path.display()
        ),
    );
    let args = [
        "serve",
        "--workers",
        "1",
        "--config",
        &config.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let server = Server::spawn_waiting(
        tempfile::tempdir().unwrap(),
        args,
        &[("FERRODNS_LOG", "warn")],
        "ns1.cluster1.",
        Duration::from_secs(120),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", server.port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut delays = Vec::with_capacity(samples);
    for sample in 0..samples {
        // A random moment of the poll cycle.
        sleep(Duration::from_millis(fastrand::u64(0..interval_ms)));
        let new = Ipv4Addr::new(10, 200, (sample / 250) as u8, (sample % 250) as u8 + 1);
        agent.update(|c| c.instances[0].resources[0].ip = new.into());
        let changed = Instant::now();
        while !addresses(&socket, "web-a.web.ns1.svc.cluster1.").contains(&new) {
            assert!(
                changed.elapsed() < Duration::from_secs(30),
                "the change never showed"
            );
            sleep(Duration::from_millis(1));
        }
        delays.push(changed.elapsed());
    }
    delays.sort();
    delays
}

/// The A records ferrodns answers for `name` (none on a lost answer).
fn addresses(socket: &UdpSocket, name: &str) -> Vec<Ipv4Addr> {
    let id = fastrand::u16(..);
    let mut query = id.to_be_bytes().to_vec();
    query.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let question_end = query.len();
    socket.send(&query).unwrap();
    let mut buf = [0u8; 1500];
    let Ok(len) = socket.recv(&mut buf) else {
        return Vec::new();
    };
    let answer = &buf[..len];
    if len < question_end || answer[..2] != id.to_be_bytes() {
        return Vec::new();
    }
    // Answers are a pointer to the question, type, class, TTL, length, data.
    let count = u16::from_be_bytes([answer[6], answer[7]]);
    let mut at = question_end;
    let mut out = Vec::new();
    for _ in 0..count {
        let Some(record) = answer.get(at..at + 12) else {
            break;
        };
        let rdlength = usize::from(u16::from_be_bytes([record[10], record[11]]));
        if record[2..4] == [0, 1] && rdlength == 4 {
            let data = &answer[at + 12..at + 16];
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 12 + rdlength;
    }
    out
}

/// The `p`-th percentile of sorted `values` (nearest rank).
fn percentile(values: &[Duration], p: usize) -> Duration {
    let rank = (values.len() * p).div_ceil(100).max(1);
    values.get(rank - 1).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
