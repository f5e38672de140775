//! `queryperf`: a DNS load generator that reads dnsperf's query files and takes
//! dnsperf's flags, built to offer more load per core than dnsperf.
//!
//! The run is split over `-T` worker threads ([`worker`]), each with its share of
//! the `-c` sockets, of the `-Q` rate and of the `-q` outstanding limit. Over UDP a
//! worker moves queries and replies in batches of 64 per system call ([`io`]);
//! over TCP (`--tcp`) it pipelines length-framed queries on each connection
//! ([`tcp`]). Replies are matched to queries by socket and ID ([`tracker`]);
//! latencies go into an HDR histogram ([`stats`]). Every second a progress line
//! goes to stderr; at the end the summary (dnsperf's labels) or, with `--json`,
//! a JSON object goes to stdout.
#![deny(unsafe_code)]

mod io;
mod pacer;
mod query;
mod queryfile;
mod stats;
mod tcp;
mod tracker;
mod udp;
mod worker;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};

use crate::query::QueryTemplate;
use crate::stats::{Report, Stats};
use crate::worker::{Outcome, Plan, Tick};

/// Sends DNS queries from a dnsperf query file and reports throughput, loss,
/// response codes and latency.
#[derive(Debug, Parser)]
#[command(name = "queryperf", version)]
struct Args {
    /// Server to query (name or address)
    #[arg(short = 's', default_value = "127.0.0.1")]
    server: String,
    /// Server port
    #[arg(short = 'p', default_value_t = 53)]
    port: u16,
    /// Query file: `name type` per line, `;` comments
    #[arg(short = 'd')]
    datafile: PathBuf,
    /// Run for this many seconds, cycling through the file (default: send each query once)
    #[arg(short = 'l')]
    seconds: Option<f64>,
    /// Offer at most this many queries per second in total (default: no limit)
    #[arg(short = 'Q')]
    max_qps: Option<f64>,
    /// Number of sockets (UDP) or connections (TCP)
    #[arg(short = 'c', default_value_t = 1)]
    sockets: usize,
    /// Most queries outstanding at once, in total
    #[arg(short = 'q', default_value_t = 100)]
    max_outstanding: usize,
    /// Number of worker threads
    #[arg(short = 'T', default_value_t = 1)]
    threads: usize,
    /// Add an EDNS(0) OPT record (UDP payload 4096) to every query
    #[arg(short = 'e')]
    edns: bool,
    /// Seconds after which an unanswered query counts as lost
    #[arg(short = 't', default_value_t = 5.0)]
    timeout: f64,
    /// Query over TCP (pipelined, RFC 7766 framing) instead of UDP
    #[arg(long)]
    tcp: bool,
    /// Print the final figures as JSON instead of dnsperf's summary
    #[arg(long)]
    json: bool,
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    QueryFile(#[from] queryfile::QueryFileError),
    #[error("cannot resolve server {server}:{port}: {reason}")]
    Resolve {
        server: String,
        port: u16,
        reason: String,
    },
    #[error("{flag} must be {what}")]
    Flag {
        flag: &'static str,
        what: &'static str,
    },
    #[error("cannot open a {transport} socket to {server}: {source}")]
    Connect {
        transport: &'static str,
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("worker {worker}: {source}")]
    Worker {
        worker: usize,
        source: std::io::Error,
    },
    #[error("worker {0} panicked")]
    WorkerPanicked(usize),
}

fn main() -> ExitCode {
    if let Some(code) = ferrodns_clidoc::intercept(Args::command) {
        return code;
    }
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("queryperf: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn positive(value: f64, flag: &'static str) -> Result<f64, RunError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(RunError::Flag {
            flag,
            what: "a positive number",
        })
    }
}

fn run(args: &Args) -> Result<(), RunError> {
    if args.threads == 0 || args.sockets == 0 || args.max_outstanding == 0 {
        return Err(RunError::Flag {
            flag: "-T, -c and -q",
            what: "at least 1",
        });
    }
    let duration = args
        .seconds
        .map(|s| positive(s, "-l").map(Duration::from_secs_f64))
        .transpose()?;
    let rate = args.max_qps.map(|q| positive(q, "-Q")).transpose()?;
    let timeout = Duration::from_secs_f64(positive(args.timeout, "-t")?);
    let server = resolve(&args.server, args.port)?;
    let specs = queryfile::load(&args.datafile)?;
    let queries: Arc<Vec<QueryTemplate>> = Arc::new(
        specs
            .iter()
            .map(|spec| QueryTemplate::new(&spec.name, spec.qtype, args.edns))
            .collect(),
    );

    let threads = args.threads.min(args.sockets);
    let transport = if args.tcp { "tcp" } else { "udp" };
    let (progress_tx, progress_rx) = mpsc::channel::<Tick>();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(threads);
    for worker in 0..threads {
        let sockets = share(args.sockets, threads, worker);
        let plan = Plan {
            queries: Arc::clone(&queries),
            duration,
            rate: rate.map(|r| r / threads as f64),
            max_outstanding: share(args.max_outstanding, threads, worker).max(1),
            timeout,
            first: worker,
            stride: threads,
        };
        let progress = progress_tx.clone();
        let tcp = args.tcp;
        let channels = open_channels(tcp, server, sockets)?;
        handles.push(thread::spawn(move || match channels {
            Channels::Udp(c) => worker::run(&plan, c, start, &progress),
            Channels::Tcp(c) => worker::run(&plan, c, start, &progress),
        }));
    }
    drop(progress_tx);

    print_progress(&progress_rx, threads, start);

    let mut total = Stats::default();
    let mut last_activity = start;
    for (worker, handle) in handles.into_iter().enumerate() {
        let Outcome {
            stats,
            last_activity: last,
        } = handle
            .join()
            .map_err(|_| RunError::WorkerPanicked(worker))?
            .map_err(|source| RunError::Worker { worker, source })?;
        total.merge(&stats);
        last_activity = last_activity.max(last);
    }
    let run_time = match duration {
        Some(d) => d.max(last_activity - start),
        None => last_activity - start,
    };
    let report = Report {
        stats: &total,
        run_time,
        transport,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}

/// Part `index` of `total` split over `parts` as evenly as possible.
fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

fn resolve(server: &str, port: u16) -> Result<SocketAddr, RunError> {
    let error = |reason: String| RunError::Resolve {
        server: server.to_owned(),
        port,
        reason,
    };
    (server, port)
        .to_socket_addrs()
        .map_err(|e| error(e.to_string()))?
        .next()
        .ok_or_else(|| error("no address".to_owned()))
}

enum Channels {
    Udp(Vec<udp::UdpChannel>),
    Tcp(Vec<tcp::TcpChannel>),
}

fn open_channels(tcp: bool, server: SocketAddr, count: usize) -> Result<Channels, RunError> {
    let transport = if tcp { "TCP" } else { "UDP" };
    let error = |source| RunError::Connect {
        transport,
        server,
        source,
    };
    Ok(if tcp {
        Channels::Tcp(
            (0..count)
                .map(|_| tcp::TcpChannel::connect(server).map_err(error))
                .collect::<Result<_, _>>()?,
        )
    } else {
        Channels::Udp(
            (0..count)
                .map(|_| udp::UdpChannel::connect(server).map_err(error))
                .collect::<Result<_, _>>()?,
        )
    })
}

/// Prints one line per second once every worker has reported that second; returns
/// when all workers are done.
fn print_progress(ticks: &mpsc::Receiver<Tick>, workers: usize, start: Instant) {
    let mut pending: BTreeMap<u64, (usize, Stats)> = BTreeMap::new();
    let mut printed_until = start;
    for tick in ticks {
        let entry = pending.entry(tick.second).or_default();
        entry.0 += 1;
        entry.1.merge(&tick.stats);
        while let Some(entry) = pending.first_entry() {
            if entry.get().0 < workers {
                break;
            }
            let second = *entry.key();
            let (_, stats) = entry.remove();
            let now = start + Duration::from_secs(second);
            eprintln!("{}", stats.progress_line(second, now - printed_until));
            printed_until = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        let parts: Vec<usize> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, vec![4, 3, 3]);
        assert_eq!((0..4).map(|i| share(2, 4, i)).sum::<usize>(), 2);
    }
}
