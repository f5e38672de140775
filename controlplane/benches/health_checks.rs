//! What health checking costs: the CPU share of one `ferrodns health-check`
//! process checking hundreds of addresses every second. Not a criterion bench:
//! it starts a real etcd and the checker of this build, and prints a report.
//!
//! ```sh
//! cargo bench -p ferrodns --bench health_checks                        # about 2 min
//! HEALTH_BENCH_TARGETS=1000 HEALTH_BENCH_SECONDS=10 \
//!     cargo bench -p ferrodns --bench health_checks
//! ```
//!
//! The addresses are `127.0.<i/250>.<i%250+1>` (every one of them is this
//! host's, on `lo`), each with a status entry in etcd as containerdns's API
//! writes it. One checker owns them all (`--interval-ms 1000`), after a
//! warm-up its CPU time (user + system, `/proc/<pid>/stat`) is read over the
//! measured seconds, and the checks it made over them are read from its
//! `/metrics`. The loads:
//!
//! - **TCP, all up**: every entry lists one port a listener of this harness
//!   accepts on (and closes at once; its queue holds a whole round);
//! - **TCP, all refused**: the port has no listener (each connect is answered
//!   with a reset: a backend that is down, found at once);
//! - **ICMP, all up**: `--method icmp`, every address answers the echo.
//!
//! etcd's own CPU over the same seconds is shown beside (one listing a second;
//! nothing is written once the verdicts stand). Figures, machine and command:
//! `docs/benchmarks.md`, section "Health checks".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use support::etcd::Etcd;
use support::{ferrodns_binary, free_port, health_figures};

/// Seconds the checker runs before the measurement starts.
const WARM_UP: Duration = Duration::from_secs(4);

fn main() {
    let targets: usize = env_number("HEALTH_BENCH_TARGETS", 500);
    let seconds: u64 = env_number("HEALTH_BENCH_SECONDS", 20);
    let etcd = Etcd::start();
    let port = free_port();
    let closed = free_port();
    let listener = backend(port);
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            drop(connection);
        }
    });
    let ticks = clock_ticks();
    println!("{}", support_machine());
    println!(
        "{targets} addresses, one `ferrodns health-check` checking every one every 1 s, \
         {seconds} s measured after {} s of warm-up",
        WARM_UP.as_secs()
    );
    println!();
    println!("| load | checks/s | failed/s | checker CPU | CPU per check | etcd CPU |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (load, listed_port, method) in [
        ("TCP, all up", port, "tcp"),
        ("TCP, all refused", closed, "tcp"),
        ("ICMP, all up", port, "icmp"),
    ] {
        for i in 0..targets {
            etcd.put(
                &format!("/containerdns/monitor/status/{}", address(i)),
                &format!(
                    r#"{{"status":"UP","ports":["{listed_port}"],"domains":["b{i}.bench."]}}"#
                ),
            );
        }
        let mut checker = start_checker(&etcd, method);
        sleep(WARM_UP);
        let etcd_pid = etcd_pid(&etcd);
        let (cpu0, etcd0, (checks0, failed0)) = (
            cpu_ticks(checker.child.id()),
            cpu_ticks(etcd_pid),
            checker.checks(),
        );
        let started = Instant::now();
        sleep(Duration::from_secs(seconds));
        let (cpu1, etcd1, (checks1, failed1)) = (
            cpu_ticks(checker.child.id()),
            cpu_ticks(etcd_pid),
            checker.checks(),
        );
        let wall = started.elapsed().as_secs_f64();
        let cpu = (cpu1 - cpu0) as f64 / ticks;
        let etcd_cpu = (etcd1 - etcd0) as f64 / ticks;
        let checks = checks1.saturating_sub(checks0) as f64;
        let failed = failed1.saturating_sub(failed0) as f64;
        println!(
            "| {load} | {:.0} | {:.0} | {:.2} % of a core | {:.1} µs | {:.2} % |",
            checks / wall,
            failed / wall,
            100.0 * cpu / wall,
            if checks > 0.0 {
                1e6 * cpu / checks
            } else {
                0.0
            },
            100.0 * etcd_cpu / wall,
        );
        let _ = checker.child.kill();
        let _ = checker.child.wait();
    }
}

/// A listener on every address, `port`, with room for every connect of a round
/// in its queue (std's 128 would drop SYNs and make connects wait a second).
fn backend(port: u16) -> TcpListener {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    let addr: std::net::SocketAddr = ([0, 0, 0, 0], port).into();
    socket.bind(&addr.into()).expect("bind the backend");
    socket.listen(4096).expect("listen");
    socket.into()
}

/// The `i`th address: 127.0.0.0/8 is all this host's.
fn address(i: usize) -> String {
    format!("127.0.{}.{}", i / 250, i % 250 + 1)
}

struct Checker {
    child: Child,
    metrics: u16,
}

impl Checker {
    /// Checks made so far, and those that failed, all addresses summed.
    fn checks(&self) -> (u64, u64) {
        let sum = |family| health_figures(self.metrics, family).values().sum();
        (
            sum("ferrodns_health_checks_total"),
            sum("ferrodns_health_check_failures_total"),
        )
    }
}

fn start_checker(etcd: &Etcd, method: &str) -> Checker {
    let metrics = free_port();
    let child = Command::new(ferrodns_binary())
        .args(["health-check", "--etcd", &etcd.url(), "--hostname", "bench"])
        .args([
            "--interval-ms",
            "1000",
            "--timeout-ms",
            "1000",
            "--retries",
            "3",
        ])
        .args(["--method", method, "--max-concurrent", "256"])
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .env("FERRODNS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ferrodns health-check");
    Checker { child, metrics }
}

/// The etcd server's process id (the one listening on its client port).
fn etcd_pid(etcd: &Etcd) -> u32 {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!(
                "ss -ltnpH 'sport = :{}' | grep -o 'pid=[0-9]*' | head -1",
                etcd.port
            ),
        ])
        .output()
        .expect("run ss");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("pid=")
        .parse()
        .unwrap_or(0)
}

/// User plus system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5): the 12th and 13th after the name.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn env_number<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .map(|text| text.parse().unwrap_or_else(|_| panic!("{key}: a number")))
        .unwrap_or(default)
}

/// The CPU model and core count, for the report.
fn support_machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    format!("machine: {model}, {cores} cores")
}
