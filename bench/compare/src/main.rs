//! The side-by-side benchmark of issue 6: ferrodns (kernel sockets, one worker),
//! NSD and Knot DNS (one worker each) serve the same generated zone on loopback
//! and are measured by the same clients, `dnsperf` and `queryperf`, in one run,
//! alternating servers at every step so that drift in the machine hits all three
//! alike.
//!
//! Per server and client:
//! - **max qps**: the offered rate is stepped up; the highest step answered with
//!   loss under 0.1% (and at least 97% of the offered rate completed) counts;
//! - **latency and CPU** at one fixed offered rate (100k qps) with the loss at
//!   that rate: p50/p99 (queryperf; dnsperf reports only
//!   the mean) and server CPU time per answered query, from `/proc/<pid>/stat`.
//!
//! Then the clients themselves: what one client thread sends, unlimited, against
//! ferrodns (and queryperf into a socket that never reads), with the client's own
//! CPU time (the harness's `cutime`/`cstime`), which gives queries sent per
//! client CPU second.
//!
//! With `--dpdk-bench`, the DPDK backend's pcap-replay figure against
//! `dpdk-testpmd --forward-mode=macswap` (bench/dpdk) closes the report.
//!
//! All of it is repeated `--runs` times (three by default) with the same
//! servers, and each figure is reported as the median with the lowest and
//! highest of the runs, under the date, the commit and every program's version
//! ([`provenance`]): one run on a shared VM says little on its own.
//!
//! Every server's UDP sockets get the same 4 MiB receive buffer ([`rcvbuf`]).
//! Servers run on CPU 1, clients on CPU 0 (`taskset`). Results go to stdout,
//! `docs/benchmarks/compare.md` and `docs/benchmarks/compare.svg`. Run it with
//! `bench/compare/run` (builds the release binaries first).

#[path = "../../../controlplane/tests/support/mod.rs"]
mod support;

mod clients;
mod cpu;
mod dpdk;
mod provenance;
mod rcvbuf;
mod report;
mod servers;
mod zone;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use clap::Parser;

use crate::clients::{Client, Load, Measurement};
use crate::provenance::Provenance;
use crate::report::{ClientResult, Offered, Results, Run};
use crate::servers::BenchServer;

/// The core the servers are pinned to.
pub(crate) const SERVER_CPU: &str = "1";
/// The core the clients are pinned to.
pub(crate) const CLIENT_CPU: &str = "0";
/// Offered rates tried for max qps, in queries per second.
const STEPS: [u64; 9] = [
    50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 350_000, 400_000, 500_000,
];
/// The preferred fixed offered rate for latency and CPU.
const FIXED_RATE: u64 = 100_000;
const CLIENTS: [Client; 2] = [Client::Dnsperf, Client::Queryperf];

/// Measures ferrodns, NSD and Knot DNS side by side.
#[derive(Debug, Parser)]
struct Args {
    /// The ferrodns binary (release build)
    #[arg(long)]
    ferrodns: PathBuf,
    /// The queryperf binary (release build)
    #[arg(long)]
    queryperf: PathBuf,
    /// Where compare.md and compare.svg are written
    #[arg(long, default_value = "docs/benchmarks")]
    out: PathBuf,
    /// Services in the generated zone
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// Seconds per max-qps step
    #[arg(long, default_value_t = 3)]
    step_seconds: u64,
    /// Seconds per fixed-rate run
    #[arg(long, default_value_t = 5)]
    fixed_seconds: u64,
    /// Times every measurement is repeated; the report gives the median and the
    /// lowest and highest
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The DPDK benchmark (`dpdk-vs-testpmd`, release build): when given, its
    /// pcap-replay figure of ferrodns's DPDK backend against `dpdk-testpmd` joins
    /// the report (needs root and hugepages)
    #[arg(long)]
    dpdk_bench: Option<PathBuf>,
}

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Failed { program: String, stderr: String },
    #[error("{name} did not start: {detail}")]
    Start { name: &'static str, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot read the output: {0}")]
    Parse(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrodns-bench-compare: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|source| BenchError::Io {
        what: path.display().to_string(),
        source,
    })
}

fn run(args: &Args) -> Result<(), BenchError> {
    let dir = tempfile::tempdir().map_err(|source| BenchError::Io {
        what: "temporary directory".to_owned(),
        source,
    })?;
    let zone_text = zone::zone(args.services);
    let zone_path = dir.path().join("bench.test.zone");
    write(&zone_path, &zone_text)?;
    let queries = dir.path().join("queries.txt");
    write(&queries, &zone::queries(args.services, 100_000, 6))?;
    let ticks = cpu::clock_ticks()?;

    let mut ferrodns_dir = dir.path().join("ferrodns");
    let mut nsd_dir = dir.path().join("nsd");
    for d in [&mut ferrodns_dir, &mut nsd_dir] {
        std::fs::create_dir_all(&*d).map_err(|source| BenchError::Io {
            what: d.display().to_string(),
            source,
        })?;
    }
    let raised = rcvbuf::raise();
    let rcvbuf = match &raised {
        Ok(r) => Some(r.bytes()),
        Err(e) => {
            eprintln!("the servers keep their own receive buffers: {e}");
            None
        }
    };
    let servers = [
        BenchServer::ferrodns(&args.ferrodns, &zone_path, &ferrodns_dir)?,
        BenchServer::nsd(&zone_path, &nsd_dir)?,
        BenchServer::knot(&zone_text)?,
    ];
    drop(raised);
    eprintln!("servers: {servers:?}");

    let sink =
        UdpSocket::bind(("127.0.0.1", support::free_port())).map_err(|source| BenchError::Io {
            what: "sink socket".to_owned(),
            source,
        })?;
    let mut results = Results {
        machine: report::machine(),
        provenance: Provenance::gather(&args.ferrodns, &args.queryperf),
        services: args.services,
        step_seconds: args.step_seconds,
        fixed_seconds: args.fixed_seconds,
        names: servers.iter().map(|s| s.name).collect(),
        fixed_rates: [FIXED_RATE; 2],
        runs: Vec::with_capacity(args.runs),
        dpdk: None,
        rcvbuf,
    };
    eprintln!("{}", results.provenance.line());
    for run in 1..=args.runs.max(1) {
        eprintln!("run {run} of {}", args.runs.max(1));
        results
            .runs
            .push(measure(args, &servers, &queries, &sink, ticks)?);
    }
    drop(sink);
    // Last, with the kernel servers idle: it polls a core flat out.
    if let Some(bench) = &args.dpdk_bench {
        let figure = dpdk::run(bench, args.fixed_seconds)?;
        eprintln!(
            "dpdk: testpmd {:.2} Mpps, ferrodns {:.2} Mpps",
            figure.testpmd_mpps, figure.ferrodns_mpps
        );
        results.dpdk = Some(figure);
    }

    let markdown = report::markdown(&results);
    println!("{markdown}");
    std::fs::create_dir_all(&args.out).map_err(|source| BenchError::Io {
        what: args.out.display().to_string(),
        source,
    })?;
    write(&args.out.join("compare.md"), &markdown)?;
    write(&args.out.join("compare.svg"), &report::svg(&results))?;
    eprintln!(
        "wrote {0}/compare.md and {0}/compare.svg",
        args.out.display()
    );
    Ok(())
}

/// One run of every measurement: max qps, then the fixed rate, then what one
/// client thread offers unlimited.
fn measure(
    args: &Args,
    servers: &[BenchServer],
    queries: &Path,
    sink: &UdpSocket,
    ticks: f64,
) -> Result<Run, BenchError> {
    let mut run = Run {
        servers: servers.iter().map(|_| Default::default()).collect(),
        offered: Vec::new(),
    };
    for (c, client) in CLIENTS.into_iter().enumerate() {
        max_qps(args, servers, client, c, queries, &mut run)?;
    }
    for (c, client) in CLIENTS.into_iter().enumerate() {
        // The same rate for every server, whether or not it passed that step: CPU
        // per answered query is defined with some loss too, which is reported
        // beside it.
        let rate = FIXED_RATE;
        for (s, server) in servers.iter().enumerate() {
            let load = Load {
                port: server.port,
                seconds: args.fixed_seconds,
                rate: Some(rate),
                outstanding: 500,
                timeout: 1.0,
            };
            warm_up(args, server, queries)?;
            let before = cpu::seconds(server.pid(), ticks);
            let m = clients::run(client, &args.queryperf, queries, load)?;
            let spent = cpu::seconds(server.pid(), ticks) - before;
            eprintln!(
                "fixed {rate} qps {} -> {}: {:.0} qps, p50 {:?} p99 {:?}, {:.2} µs CPU/query",
                client.name(),
                server.name,
                m.qps,
                m.p50,
                m.p99,
                spent * 1e6 / m.completed.max(1.0)
            );
            let r = &mut run.servers[s][c];
            r.cpu_us = Some(spent * 1e6 / m.completed.max(1.0));
            r.fixed = Some(m);
            settle();
        }
    }

    let sink_port = sink.local_addr().map(|a| a.port()).unwrap_or_default();
    // dnsperf is not run into the sink: with no replies its one thread stalls
    // at a few thousand queries per second, whatever -q and -t say.
    let offered_runs = [
        (
            Client::Dnsperf,
            "ferrodns (1 worker)",
            servers[0].port,
            1000,
            1.0,
        ),
        (
            Client::Queryperf,
            "ferrodns (1 worker)",
            servers[0].port,
            1000,
            1.0,
        ),
        (
            Client::Queryperf,
            "a socket that never reads",
            sink_port,
            60_000,
            0.05,
        ),
    ];
    for (client, target, port, outstanding, timeout) in offered_runs {
        let load = Load {
            port,
            seconds: args.step_seconds,
            rate: None,
            outstanding,
            timeout,
        };
        if port != sink_port {
            warm_up(args, &servers[0], queries)?;
        }
        let client_before = cpu::children_seconds(ticks);
        let m = clients::run(client, &args.queryperf, queries, load)?;
        let client_spent = cpu::children_seconds(ticks) - client_before;
        let offered = m.sent / args.step_seconds as f64;
        eprintln!(
            "offered {} -> {target}: {offered:.0} sent/s, {:.0} answered/s, {:.2} client CPU s",
            client.name(),
            m.qps,
            client_spent
        );
        run.offered.push(Offered {
            client: client.name(),
            target,
            sent_per_second: offered,
            answered_per_second: m.qps,
            sent_per_client_cpu_second: m.sent / client_spent.max(1e-9),
        });
        settle();
    }
    Ok(run)
}

/// Steps the offered rate up for `client`, alternating servers at each step,
/// until every server has failed a step or the steps run out.
fn max_qps(
    args: &Args,
    servers: &[BenchServer],
    client: Client,
    c: usize,
    queries: &Path,
    run: &mut Run,
) -> Result<(), BenchError> {
    let mut failed = vec![false; servers.len()];
    for rate in STEPS {
        for (s, server) in servers.iter().enumerate() {
            if failed[s] {
                continue;
            }
            let load = Load {
                port: server.port,
                seconds: args.step_seconds,
                rate: Some(rate),
                outstanding: 500,
                timeout: 1.0,
            };
            warm_up(args, server, queries)?;
            let passes = |m: &Measurement| m.loss() < 0.001 && m.qps >= 0.97 * rate as f64;
            let mut m: Measurement = clients::run(client, &args.queryperf, queries, load)?;
            if !passes(&m) {
                // Once more before giving up: other work on this shared VM can
                // steal the server's core for long enough to overflow its socket.
                settle();
                m = clients::run(client, &args.queryperf, queries, load)?;
            }
            let passed = passes(&m);
            eprintln!(
                "step {rate} qps {} -> {}: {:.0} qps, loss {:.3}%, {}",
                client.name(),
                server.name,
                m.qps,
                m.loss() * 100.0,
                if passed { "pass" } else { "fail" }
            );
            let r: &mut ClientResult = &mut run.servers[s][c];
            if passed {
                r.max_qps = Some(rate);
                r.at_top = rate == STEPS[STEPS.len() - 1];
            } else {
                failed[s] = true;
                r.sent_rate_at_fail = Some(m.sent / args.step_seconds as f64);
            }
            settle();
        }
        if failed.iter().all(|f| *f) {
            break;
        }
    }
    Ok(())
}

/// One second of light load (20k qps, queryperf) on `server` before it is
/// measured. On this VM memory left cold while the other servers are measured
/// gets reclaimed, and the first burst after that stalls the server on page faults
/// long enough to overflow its socket buffer: without this, the first run of a
/// server loses a few hundred queries whatever the rate.
fn warm_up(args: &Args, server: &BenchServer, queries: &Path) -> Result<(), BenchError> {
    let load = Load {
        port: server.port,
        seconds: 1,
        rate: Some(20_000),
        outstanding: 500,
        timeout: 1.0,
    };
    clients::run(Client::Queryperf, &args.queryperf, queries, load)?;
    Ok(())
}

/// A pause between runs, so that replies and timers of one run do not spill
/// into the next.
fn settle() {
    sleep(Duration::from_millis(300));
}
