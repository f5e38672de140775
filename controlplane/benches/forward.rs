//! Forwarder figures on loopback: what forwarding costs next to asking the upstream
//! directly. Not a criterion bench: it starts real servers and prints a report.
//!
//! ```sh
//! cargo bench -p ferrodns --bench forward                            # about 1.5 min
//! FORWARD_BENCH_SECONDS=2 cargo bench -p ferrodns --bench forward    # shorter runs
//! ```
//!
//! It starts `knotd` serving `upstream.test.` (a wildcard answers any number of
//! distinct names) and the `ferrodns` binary of this build forwarding to it (one
//! UDP worker, no local zone in the way), then measures:
//!
//! - **Throughput** with `dnsperf` (200 queries outstanding, 5 s per run): knotd
//!   asked directly with distinct names; ferrodns with distinct names (every query
//!   misses the cache and goes to knotd); ferrodns with 1,000 names already cached.
//!   With each, the server CPU time per answered query, from `/proc/<pid>/stat`.
//!   Runs on a shared 2-core VM vary by a fifth from one to the next, so each load
//!   runs three times, the three kinds in turn, and the median is reported.
//! - **Latency** with one query outstanding, sent by this harness from one
//!   connected UDP socket and timed with `Instant` around send and receive: knotd
//!   directly, ferrodns on a cache miss, ferrodns on a cache hit. The three kinds
//!   are interleaved round by round so drift of the machine hits them alike. The
//!   client's own cost is in all three, so the difference between ferrodns on a
//!   miss and knotd directly is what forwarding adds.
//!
//! Every server listens on 127.0.0.1 on a free port and is stopped at the end.
//! Figures, machine and command: `docs/benchmarks.md`, section "Forwarder".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs;
use std::io::{BufWriter, Write};
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::testkit::query;
use support::{Knot, Server, run, write};

/// Queries dnsperf keeps outstanding.
const OUTSTANDING: &str = "200";
/// Runs of each dnsperf load, interleaved; the report gives their median.
const REPEATS: usize = 3;
/// Distinct names in the knotd file, and in each cache-miss file: more than a
/// run sends (a run stops early at the end of its file rather than repeat one).
const DIRECT_NAMES: usize = 1_500_000;
const MISS_NAMES: usize = 500_000;
/// Names cached before the cache-hit runs.
const HIT_NAMES: usize = 1_000;
/// Latency: rounds, and queries of each kind per round.
const ROUNDS: usize = 20;
const PER_ROUND: usize = 1_000;

fn main() {
    let seconds: u64 = std::env::var("FORWARD_BENCH_SECONDS")
        .ok()
        .map(|s| s.parse().expect("FORWARD_BENCH_SECONDS: whole seconds"))
        .unwrap_or(5);
    for tool in ["knotd", "dnsperf", "dig"] {
        if Command::new(tool).arg("-h").output().is_err() {
            eprintln!("forward bench: `{tool}` is missing (tools/lib/deps.sh installs it)");
            std::process::exit(1);
        }
    }
    let knot = Knot::start();
    let server = ferrodns(&knot);
    let dir = tempfile::tempdir().unwrap();

    println!("{}", machine());
    println!(
        "ferrodns: 1 UDP worker, forwarding to knotd (1 UDP worker) on 127.0.0.1; \
         dnsperf: {OUTSTANDING} queries outstanding, {seconds} s per run"
    );

    // Warm the cache-hit names (each query a miss that fills the cache).
    let hit_names: Vec<String> = (0..HIT_NAMES)
        .map(|i| format!("h{i}.wild.upstream.test"))
        .collect();
    let warm = probe(server.port, hit_names.iter());
    assert_eq!(warm.lost, 0, "cache warm-up lost queries");
    let hit_file = dir.path().join("hit.txt");
    write_names(&hit_file, hit_names.iter().cloned());
    let direct_file = dir.path().join("direct.txt");
    write_names(
        &direct_file,
        (0..DIRECT_NAMES).map(|i| format!("d{i}.wild.upstream.test")),
    );
    // Fresh names for every cache-miss run.
    let miss_files: Vec<_> = (0..REPEATS)
        .map(|run| {
            let path = dir.path().join(format!("miss{run}.txt"));
            let names = (0..MISS_NAMES).map(|i| format!("m{run}x{i}.wild.upstream.test"));
            write_names(&path, names);
            path
        })
        .collect();

    // CPU time is read for these two processes.
    let watched = [server.child.id(), knot.pid()];
    let kinds = [
        "knotd directly, distinct names",
        "ferrodns, cache miss (distinct names)",
        "ferrodns, cache hit (1,000 names)",
    ];
    // Each kind's runs, in order.
    let mut runs: [Vec<Load>; 3] = Default::default();
    for (repeat, miss_file) in miss_files.iter().enumerate() {
        let loads = [
            (knot.port, &direct_file, false),
            (server.port, miss_file, false),
            (server.port, &hit_file, true),
        ];
        for (kind, (port, file, cycle)) in loads.into_iter().enumerate() {
            let load = dnsperf(port, file, seconds, cycle, &watched);
            eprintln!(
                "run {}, {}: {:.0} answers/s",
                repeat + 1,
                kinds[kind],
                load.qps
            );
            runs[kind].push(load);
        }
    }
    println!();
    println!(
        "| load (dnsperf, median of {REPEATS} runs) | answers/s | (min–max) | lost | \
         ferrodns CPU/answer | knotd CPU/answer |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (what, loads) in kinds.iter().zip(&runs) {
        let qps: Vec<f64> = loads.iter().map(|l| l.qps).collect();
        let lost: u64 = loads.iter().map(|l| l.lost).sum();
        let cpu = |i: usize| median(loads.iter().map(|l| l.cpu_per_answer[i]).collect());
        println!(
            "| {what} | {:.0} | ({:.0}–{:.0}) | {lost} | {:.1} µs | {:.1} µs |",
            median(qps.clone()),
            qps.iter().copied().fold(f64::INFINITY, f64::min),
            qps.iter().copied().fold(0.0, f64::max),
            cpu(0),
            cpu(1),
        );
    }

    let mut direct = Probe::default();
    let mut miss = Probe::default();
    let mut hit = Probe::default();
    for round in 0..ROUNDS {
        let names = |tag: &'static str| {
            (0..PER_ROUND).map(move |i| format!("{tag}{round}x{i}.wild.upstream.test"))
        };
        direct.extend(probe(knot.port, names("pd")));
        miss.extend(probe(server.port, names("pm")));
        hit.extend(probe(server.port, hit_names.iter().cycle().take(PER_ROUND)));
    }
    println!();
    println!(
        "| latency, one query outstanding ({} queries each) | p50 | p90 | p99 | lost |",
        ROUNDS * PER_ROUND
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (what, probe) in [
        ("knotd directly", &mut direct),
        ("ferrodns, cache miss", &mut miss),
        ("ferrodns, cache hit", &mut hit),
    ] {
        probe.samples.sort_unstable();
        println!(
            "| {what} | {} | {} | {} | {} |",
            micros(probe.percentile(0.50)),
            micros(probe.percentile(0.90)),
            micros(probe.percentile(0.99)),
            probe.lost
        );
    }
    let added = miss.percentile(0.50).as_secs_f64() - direct.percentile(0.50).as_secs_f64();
    println!();
    println!(
        "added by forwarding at p50 (ferrodns cache miss − knotd directly): {:.0} µs",
        added * 1e6
    );
    let stats = server.stop();
    assert!(stats.success(), "ferrodns did not stop cleanly");
}

/// The ferrodns binary of this build, forwarding everything to `knot`.
fn ferrodns(knot: &Knot) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrodns.toml");
    write(
        &path,
        &format!(
            "[server]\nworkers = 1\n[forward]\nnameservers = [\"{}\"]\ncache_size = 100000\n",
            knot.addr()
        ),
    );
    let args = vec![
        "serve".into(),
        "--config".into(),
        path.display().to_string(),
    ];
    Server::spawn(dir, args, "www.upstream.test")
}

/// CPU model, cores and kernel of this machine.
fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("machine: {model}, {cores} cores, Linux {}", kernel.trim())
}

fn write_names(path: &Path, names: impl Iterator<Item = String>) {
    let mut out = BufWriter::new(fs::File::create(path).unwrap());
    for name in names {
        writeln!(out, "{name} A").unwrap();
    }
    out.flush().unwrap();
}

/// What one dnsperf run measured.
struct Load {
    qps: f64,
    lost: u64,
    /// For each watched process: CPU time per answered query, in µs.
    cpu_per_answer: Vec<f64>,
}

/// Runs dnsperf against `port` with the names of `file` (each once, or over and
/// over when `cycle`) for `seconds`, and reads the CPU time the `watched`
/// processes spent meanwhile.
fn dnsperf(port: u16, file: &Path, seconds: u64, cycle: bool, watched: &[u32]) -> Load {
    let before: Vec<f64> = watched.iter().map(|&pid| cpu_seconds(pid)).collect();
    let mut args = vec![
        "-s".to_owned(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-d".into(),
        file.display().to_string(),
        "-l".into(),
        seconds.to_string(),
        "-q".into(),
        OUTSTANDING.into(),
        "-t".into(),
        "2".into(),
    ];
    if !cycle {
        args.extend(["-n".into(), "1".into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run("dnsperf", &args);
    let after: Vec<f64> = watched.iter().map(|&pid| cpu_seconds(pid)).collect();
    let field = |label: &str| {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label:?} in dnsperf output:\n{output}"))
    };
    let qps: f64 = field("Queries per second:").parse().unwrap();
    let completed: f64 = field("Queries completed:")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    let cpu_per_answer = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) / completed.max(1.0) * 1e6)
        .collect();
    let lost = field("Queries lost:")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    Load {
        qps,
        lost,
        cpu_per_answer,
    }
}

/// User plus system CPU time of process `pid` (all its threads), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name, in parentheses, may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    run("getconf", &["CLK_TCK"]).trim().parse().unwrap()
}

/// Round-trip times of sequential queries, and how many got no answer in time.
#[derive(Default)]
struct Probe {
    samples: Vec<Duration>,
    lost: usize,
}

impl Probe {
    fn extend(&mut self, other: Probe) {
        self.samples.extend(other.samples);
        self.lost += other.lost;
    }

    /// The `p` quantile of sorted samples.
    fn percentile(&self, p: f64) -> Duration {
        let last = self.samples.len().saturating_sub(1);
        self.samples
            .get((last as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn micros(d: Duration) -> String {
    format!("{} µs", d.as_micros())
}

/// Asks the server on `port` for the A record of each name, one query at a time.
fn probe<S: AsRef<str>>(port: u16, names: impl Iterator<Item = S>) -> Probe {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut result = Probe::default();
    let mut buf = [0u8; 1500];
    for (i, name) in names.enumerate() {
        let id = i as u16;
        let query = query(name.as_ref(), RType::A).id(id).bytes;
        let started = Instant::now();
        socket.send(&query).unwrap();
        loop {
            match socket.recv(&mut buf) {
                Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                    result.samples.push(started.elapsed());
                    break;
                }
                // A late answer to an earlier query.
                Ok(_) => {}
                Err(_) => {
                    result.lost += 1;
                    break;
                }
            }
        }
    }
    result
}
