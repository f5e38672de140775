//! `queryperf`: a DNS load generator that reads dnsperf's query files, takes
//! dnsperf's flags and prints dnsperf's output, built to offer more load per
//! core than dnsperf.
//!
//! Two ways to carry the queries, one worker loop ([`worker`]) over both:
//!
//! - **Kernel sockets** (the default, [`kernel`]): the run is split over `-T`
//!   threads, each with its share of the `-c` sockets, of the `-Q` rate and of
//!   the `-q` outstanding limit. Over UDP a worker moves queries and replies in
//!   batches of 64 per system call ([`io`]); over TCP (`-m tcp`) it pipelines
//!   length-framed queries on each connection ([`tcp`]).
//! - **DPDK** (`--dpdk "<EAL args>"`, [`bypass`]): each lcore builds whole
//!   Ethernet frames in mbufs, sends them in bursts on its own queue of the port
//!   and matches the answers it receives, with no system call per packet.
//!
//! Replies are matched to queries by flow and ID and checked against the
//! query's question ([`tracker`]); latencies go into an HDR histogram
//! ([`stats`]). Progress goes out once per interval ([`progress`]); the
//! `[Status]` lines, the summary with dnsperf's labels, or with `--json` a JSON
//! object, go to standard output ([`status`]).
#![deny(unsafe_code)]

mod bypass;
mod io;
mod kernel;
mod pacer;
mod progress;
mod query;
mod queryfile;
mod run;
mod sockets;
mod stats;
mod status;
mod tcp;
mod tracker;
mod udp;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::kernel::{Family, KernelConfig};
use crate::progress::Style;
use crate::query::QueryTemplate;
use crate::run::{Finished, RunSpec};
use crate::sockets::SocketOptions;
use crate::stats::Report;
use crate::status::Console;
use crate::worker::Ended;

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
    /// Address family of the server address: inet, inet6 or any
    #[arg(short = 'f', value_enum, default_value_t = Family::Any)]
    family: Family,
    /// Transport: udp or tcp (pipelined, RFC 7766 framing)
    #[arg(short = 'm', value_enum, default_value_t = Mode::Udp)]
    mode: Mode,
    /// Query over TCP: the same as -m tcp
    #[arg(long)]
    tcp: bool,
    /// Query file: `name type` per line, `;` comments (default: standard input)
    #[arg(short = 'd')]
    datafile: Option<PathBuf>,
    /// Run for this many seconds, cycling through the file
    #[arg(short = 'l')]
    seconds: Option<f64>,
    /// Go through the query file at most this many times (default: once, unless -l is given)
    #[arg(short = 'n')]
    runs: Option<u64>,
    /// Offer at most this many queries per second in total (default: no limit)
    #[arg(short = 'Q')]
    max_qps: Option<f64>,
    /// Number of sockets (UDP) or connections (TCP); with --dpdk, of source ports
    #[arg(short = 'c', default_value_t = 1)]
    sockets: usize,
    /// Most queries outstanding at once, in total (default: 100; with --dpdk, no limit: an open loop)
    #[arg(short = 'q')]
    max_outstanding: Option<usize>,
    /// Number of worker threads (with --dpdk, the EAL's lcores are the workers)
    #[arg(short = 'T', default_value_t = 1)]
    threads: usize,
    /// Add an EDNS(0) OPT record (UDP payload 4096) to every query
    #[arg(short = 'e')]
    edns: bool,
    /// Seconds after which an unanswered query counts as lost
    #[arg(short = 't', default_value_t = 5.0)]
    timeout: f64,
    /// Socket send and receive buffer size, in kilobytes
    #[arg(short = 'b')]
    buffer_kb: Option<usize>,
    /// Local address to send from; with --dpdk ADDR[/PREFIX], where a prefix spreads the queries over the block's addresses
    #[arg(short = 'a', long = "local", value_name = "ADDR[/PREFIX]")]
    local: Option<String>,
    /// Local port to send from: socket N (from 0) uses PORT + N; with --dpdk, the first source port (default 10000)
    #[arg(short = 'x')]
    local_port: Option<u16>,
    /// Print the answer rate every N seconds as dnsperf does, on standard output (default: queryperf's line every second on standard error)
    #[arg(short = 'S', value_name = "N")]
    stats_interval: Option<f64>,
    /// Print a line per answered or lost query
    #[arg(short = 'v')]
    verbose: bool,
    /// Write warnings and errors to standard output instead of standard error
    #[arg(short = 'W')]
    warnings_to_stdout: bool,
    /// Print the final figures as JSON instead of dnsperf's summary
    #[arg(long)]
    json: bool,
    /// Send no-track queries and never read the answers: measures the sending alone
    #[arg(long)]
    drop_answers: bool,
    /// Send from a DPDK port instead of kernel sockets, with these EAL arguments (one string, split on whitespace), e.g. "-l 0-1 --in-memory --vdev net_af_xdp0,iface=eth1"
    #[arg(long, value_name = "EAL ARGS", allow_hyphen_values = true)]
    dpdk: Option<String>,
    /// The DPDK port to send from (default: the first the EAL arguments create)
    #[arg(long, requires = "dpdk")]
    dpdk_port: Option<String>,
    /// The server's (or the next hop's) MAC address; learnt by ARP or neighbor discovery when absent
    #[arg(long, requires = "dpdk", value_name = "MAC", value_parser = bypass::parse_mac)]
    remote_mac: Option<ferrodns_dpdk::MacAddr>,
    /// Tag every frame with this 802.1Q VLAN ID
    #[arg(long, requires = "dpdk", value_name = "ID")]
    vlan: Option<u16>,
}

/// dnsperf's `-m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Udp,
    Tcp,
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
    #[error(transparent)]
    Bypass(#[from] bypass::BypassError),
}

fn main() -> ExitCode {
    if let Some(code) = ferrodns_clidoc::intercept(Args::command) {
        return code;
    }
    let args = Args::parse();
    let console = Console {
        json: args.json,
        warnings_to_stdout: args.warnings_to_stdout,
    };
    match run(&args, console) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            console.warn(&format!("queryperf: error: {error}"));
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

fn at_least_one(value: usize, flag: &'static str) -> Result<usize, RunError> {
    if value == 0 {
        Err(RunError::Flag {
            flag,
            what: "at least 1",
        })
    } else {
        Ok(value)
    }
}

/// The run the flags describe, with the query file read.
fn spec(args: &Args, console: Console) -> Result<RunSpec, RunError> {
    at_least_one(args.threads, "-T")?;
    at_least_one(args.sockets, "-c")?;
    if let Some(max) = args.max_outstanding {
        at_least_one(max, "-q")?;
    }
    if args.runs == Some(0) {
        return Err(RunError::Flag {
            flag: "-n",
            what: "at least 1",
        });
    }
    let seconds = |value: Option<f64>, flag| {
        value
            .map(|s| positive(s, flag).map(Duration::from_secs_f64))
            .transpose()
    };
    let duration = seconds(args.seconds, "-l")?;
    let interval = seconds(args.stats_interval, "-S")?;
    let rate = args.max_qps.map(|q| positive(q, "-Q")).transpose()?;
    let timeout = Duration::from_secs_f64(positive(args.timeout, "-t")?);
    let specs = queryfile::load(args.datafile.as_deref())?;
    let queries: Vec<QueryTemplate> = specs
        .iter()
        .map(|spec| QueryTemplate::new(&spec.name, spec.qtype, args.edns))
        .collect();
    let texts = args
        .verbose
        .then(|| Arc::new(specs.into_iter().map(|spec| spec.text).collect()));
    // dnsperf's default of 100 outstanding queries paces a kernel-socket run;
    // a DPDK run is an open loop unless -q says otherwise.
    let default_outstanding = if args.dpdk.is_some() { None } else { Some(100) };
    Ok(RunSpec {
        queries: Arc::new(queries),
        texts,
        duration,
        runs: args.runs,
        rate,
        max_outstanding: args.max_outstanding.or(default_outstanding),
        timeout,
        interval: interval.unwrap_or(Duration::from_secs(1)),
        style: if interval.is_some() {
            Style::Dnsperf
        } else {
            Style::Queryperf
        },
        track: !args.drop_answers,
        console,
    })
}

/// The kernel-socket side of the flags.
fn kernel_config(args: &Args) -> Result<KernelConfig, RunError> {
    let local = args
        .local
        .as_deref()
        .map(|text| {
            text.parse::<IpAddr>().map_err(|_| RunError::Flag {
                flag: "-a",
                what: "an IP address (a /PREFIX spreads sources only with --dpdk)",
            })
        })
        .transpose()?;
    Ok(KernelConfig {
        server: kernel::resolve(&args.server, args.port, args.family)?,
        tcp: args.tcp || args.mode == Mode::Tcp,
        sockets: args.sockets,
        threads: args.threads,
        options: SocketOptions {
            local,
            port: args.local_port,
            buffer: args.buffer_kb.map(|kb| kb.saturating_mul(1024)),
        },
    })
}

/// The DPDK side of the flags.
fn bypass_config(args: &Args, eal: &str) -> Result<bypass::BypassConfig, RunError> {
    let unsupported = |flag| RunError::Flag {
        flag,
        what: "left out with --dpdk (it applies to kernel sockets)",
    };
    if args.threads != 1 {
        return Err(unsupported("-T"));
    }
    if args.tcp || args.mode == Mode::Tcp {
        return Err(unsupported("-m tcp"));
    }
    if args.buffer_kb.is_some() {
        return Err(unsupported("-b"));
    }
    let local = args.local.as_deref().ok_or(RunError::Flag {
        flag: "--local",
        what: "given with --dpdk (the source address, or ADDR/PREFIX)",
    })?;
    Ok(bypass::BypassConfig {
        eal_args: eal.split_whitespace().map(str::to_owned).collect(),
        port: args.dpdk_port.clone(),
        server: kernel::resolve(&args.server, args.port, args.family)?,
        local: local.parse()?,
        first_port: args.local_port.unwrap_or(bypass::FIRST_PORT),
        flows: args.sockets,
        remote_mac: args.remote_mac,
        vlan: args.vlan,
    })
}

/// The command line as dnsperf's first `[Status]` line shows it.
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn run(args: &Args, console: Console) -> Result<(), RunError> {
    let spec = spec(args, console)?;
    let finished = match &args.dpdk {
        None => {
            let config = kernel_config(args)?;
            console.banner();
            console.status(&format!("Command line: {}", command_line()));
            kernel::run(&config, &spec)?
        }
        Some(eal) => {
            let config = bypass_config(args, eal)?;
            console.banner();
            console.status(&format!("Command line: {}", command_line()));
            bypass::run(&config, &spec)?
        }
    };
    report(args, &spec, &finished);
    Ok(())
}

/// The end of the run: how it ended, then the summary or the JSON object.
fn report(args: &Args, spec: &RunSpec, finished: &Finished) {
    let console = spec.console;
    console.status(match finished.ended {
        Ended::TimeLimit => "Testing complete (time limit)",
        Ended::EndOfFile => "Testing complete (end of file)",
    });
    let stats = &finished.stats;
    if stats.unexpected > 0 {
        console.status(&format!(
            "{} replies matched no outstanding query (late, duplicated or for another question) and were ignored",
            stats.unexpected
        ));
    }
    if args.drop_answers {
        console.status(&format!(
            "Answers were not read (--drop-answers): {:.0} queries sent per second",
            stats.sent as f64 / finished.run_time.as_secs_f64().max(1e-9)
        ));
    }
    let transport = match (&args.dpdk, args.tcp || args.mode == Mode::Tcp) {
        (Some(_), _) => "dpdk",
        (None, true) => "tcp",
        (None, false) => "udp",
    };
    let report = Report {
        stats,
        run_time: finished.run_time,
        transport,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        println!();
        print!("{}", report.summary());
    }
}
