//! The kernel-socket poll loop end to end over loopback, for instruction counts
//! under callgrind (a timing bench would be noise on a shared machine).
//!
//! One UDP worker answers from the benches' 1k-name table; this program sends
//! `FERRODNS_POLL_QUERIES` A queries (default 20,000) for the first
//! `FERRODNS_POLL_NAMES` of those names (default 1,000, in turn) in bursts of
//! `FERRODNS_POLL_BURST` (default 32, waiting for each burst's answers) and
//! prints how long that took. `FERRODNS_OBSERVE` says what the worker's query
//! observer watches: `off` (default), `names` (containerdns's stats), `log`
//! (the query log, every query and answer; a thread drains the entries as the
//! log's writer would, without encoding them) or `all`.
//!
//! ```sh
//! cargo bench -p ferrodns-dataplane --bench poll_loop --no-run
//! FERRODNS_OBSERVE=off FERRODNS_POLL_QUERIES=20000 valgrind --tool=callgrind \
//!     --separate-threads=yes target/release/deps/poll_loop-<hash>
//! ```
//!
//! Instructions per query: the worker thread's total (callgrind's
//! `--separate-threads=yes` file `-02`) at 40,000 queries less that at 20,000,
//! over 20,000, so that start and teardown cancel out.
//! docs/benchmarks.md has the figures.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::io::udp::{UdpConfig, UdpWorkers};
use ferrodns_dataplane::observe::{LogConfig, ObserverConfig, ObserverHub};
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::table::Table;
use ferrodns_dataplane::testkit::query;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn observer_config() -> ObserverConfig {
    let watch = std::env::var("FERRODNS_OBSERVE").unwrap_or_else(|_| "off".into());
    let log = Some(LogConfig {
        sample: 1,
        queries: true,
        responses: true,
        queue: 4096,
    });
    match watch.as_str() {
        "names" => ObserverConfig {
            names: true,
            log: None,
        },
        "log" => ObserverConfig { names: false, log },
        "all" => ObserverConfig { names: true, log },
        _ => ObserverConfig {
            names: false,
            log: None,
        },
    }
}

fn main() {
    let queries = env_number("FERRODNS_POLL_QUERIES", 20_000);
    let burst = env_number("FERRODNS_POLL_BURST", 32).max(1);
    let table = Table::new();
    table.publish(common::compile_zone(common::service_records(1_000)));
    let hub = ObserverHub::new(observer_config());
    let config = UdpConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        workers: 1,
        cores: None,
        batch: 64,
    };
    let workers = UdpWorkers::spawn_observed(config, Arc::new(Engine::default()), table, &hub)
        .unwrap_or_else(|e| panic!("cannot start the worker: {e}"));
    let server = workers.local_addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let control = {
        let (hub, stop) = (Arc::clone(&hub), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                hub.drain_log(|_| {});
                hub.collect(|_| {});
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    let names = env_number("FERRODNS_POLL_NAMES", 1_000).clamp(1, 1_000);
    let wire: Vec<Vec<u8>> = (0..names)
        .map(|i| query(&common::service_name(i), RType::A).bytes)
        .collect();
    let mut answer = [0u8; 4096];
    let (mut sent, mut answered) = (0, 0);
    let started = Instant::now();
    while sent < queries {
        let this_burst = burst.min(queries - sent);
        for i in 0..this_burst {
            let _ = client.send_to(&wire[(sent + i) % wire.len()], server);
        }
        sent += this_burst;
        for _ in 0..this_burst {
            if client.recv(&mut answer).is_ok() {
                answered += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = control.join();
    workers.stop();
    println!(
        "{answered} of {sent} queries answered in {:.3} s ({} per burst)",
        elapsed.as_secs_f64(),
        burst
    );
}
