//! One core, one vdev, two programs: how fast ferrodns's DPDK dataplane answers
//! compared with how fast DPDK itself moves packets.
//!
//! Both read the same capture of DNS queries through DPDK's pcap driver with
//! `infinite_rx=1` (the capture replays forever from memory; transmitted frames
//! are dropped), each with one polling lcore (`-l 0-1`: lcore 0 is the main
//! lcore, lcore 1 polls):
//!
//! - `dpdk-testpmd --forward-mode=macswap`: swaps the Ethernet addresses and sends
//!   the frame back, the least work a forwarding core can do: DPDK's floor.
//! - ferrodns's backend (in this process, as `ferrodns serve --dpdk` runs it):
//!   parses Ethernet/IPv4/UDP, answers the query from a compiled table in place,
//!   rewrites the headers and checksums, sends the answer.
//!
//! It prints both rates in millions of packets per second, their ratio (the
//! target is at least 0.5) and the time per query. Run it on a quiet machine,
//! as root, with hugepages reserved (tools/hugepages). It
//! re-runs itself in a fresh network namespace, where the backend's kernel
//! interface cannot clash with anything.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::io::counters::CoreStats;
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};
use ferrodns_dataplane::table::{Table, ZoneInput, compile};
use ferrodns_dataplane::testkit::{
    CLIENT_MAC, CLIENT_V4, Ethernet, Ipv4, PCAP_PORT_MAC, query, udp_frame, write_pcap,
};
use ferrodns_dpdk::{DpdkBackend, DpdkConfig, DpdkSettings};

/// Set in the re-run inside the network namespace.
const IN_NAMESPACE: &str = "FERRODNS_BENCH_IN_NETNS";
const SERVICE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

#[derive(Debug, Parser)]
#[command(about = "ferrodns's DPDK dataplane versus dpdk-testpmd macswap, one core")]
struct Args {
    /// Seconds each program is measured for (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Names in the zone answered from.
    #[arg(long, default_value_t = 1000)]
    names: usize,
    /// Distinct query frames in the capture (queries for random names).
    #[arg(long, default_value_t = 4096)]
    frames: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if std::env::var_os(IN_NAMESPACE).is_none() {
        return rerun_in_namespace();
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dpdk-vs-testpmd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn rerun_in_namespace() -> ExitCode {
    let Ok(me) = std::env::current_exe() else {
        eprintln!("dpdk-vs-testpmd: cannot find my own executable");
        return ExitCode::FAILURE;
    };
    let status = Command::new("unshare")
        .arg("-n")
        .arg(me)
        .args(std::env::args_os().skip(1))
        .env(IN_NAMESPACE, "1")
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("dpdk-vs-testpmd: cannot run unshare -n (needs root): {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let capture = dir.path().join("queries.pcap");
    let names: Vec<String> = (0..args.names)
        .map(|i| format!("svc-{i}.ns-{}.svc.cluster.local", i % 100))
        .collect();
    write_capture(&capture, &names, args.frames)?;
    let vdev = format!("net_pcap0,rx_pcap={},infinite_rx=1", capture.display());
    let window = Duration::from_secs(args.seconds);
    println!(
        "one polling core, {} query frames over {} names, {} s per program",
        args.frames, args.names, args.seconds
    );

    let testpmd = testpmd_mpps(&vdev, window)?;
    println!(
        "dpdk-testpmd macswap: {testpmd:6.2} Mpps ({:5.1} ns/packet)",
        1e3 / testpmd
    );
    let (ferrodns, answered) = ferrodns_mpps(&vdev, &names, window)?;
    println!(
        "ferrodns answering:   {ferrodns:6.2} Mpps ({:5.1} ns/query, {:.1} % answered)",
        1e3 / ferrodns,
        answered * 100.0
    );
    println!("ratio: {:.2} (target >= 0.50)", ferrodns / testpmd);
    Ok(())
}

/// Runs testpmd for warm-up plus `window` and averages the per-second receive
/// rates it printed after the warm-up.
fn testpmd_mpps(vdev: &str, window: Duration) -> Result<f64, String> {
    let child = Command::new("dpdk-testpmd")
        .args(["-l", "0-1", "--no-pci", "--in-memory", "--vdev", vdev, "--"])
        .args([
            "--forward-mode=macswap",
            "--total-num-mbufs=16384",
            "--stats-period=1",
            "--auto-start",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run dpdk-testpmd (apt-get install dpdk): {e}"))?;
    std::thread::sleep(window + Duration::from_secs(2));
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let output = child
        .wait_with_output()
        .map_err(|e| format!("dpdk-testpmd: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rates: Vec<f64> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Rx-pps:"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    // The first report covers start-up; keep those of the measured window.
    let measured: Vec<f64> = rates
        .iter()
        .skip(2)
        .copied()
        .take(window.as_secs() as usize)
        .collect();
    if measured.is_empty() {
        return Err(format!("no rate in dpdk-testpmd's output: {text}"));
    }
    Ok(measured.iter().sum::<f64>() / measured.len() as f64 / 1e6)
}

/// Runs ferrodns's backend, measures received frames over `window` after a
/// second of warm-up. Returns Mpps and the share of frames answered.
fn ferrodns_mpps(vdev: &str, names: &[String], window: Duration) -> Result<(f64, f64), String> {
    let table = Table::new();
    let records: Vec<Record> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let owner = Name::from_ascii(&format!("{name}.")).map_err(|e| e.to_string())?;
            let ip = Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8);
            Ok(Record::new(owner, 30, RData::A(ip)))
        })
        .collect::<Result<_, String>>()?;
    let origin = Name::from_ascii("svc.cluster.local.").map_err(|e| e.to_string())?;
    let version = compile(
        &[ZoneInput::new(origin, records)],
        &HashSet::new(),
        table.seed(),
    )
    .map_err(|e| format!("cannot compile the zone: {e:?}"))?;
    table.publish(version);
    let config = DpdkConfig {
        settings: DpdkSettings {
            eal_args: ["-l", "0-1", "--no-pci", "--in-memory", "--vdev", vdev]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            port: None,
            kernel_interface: "fdnsbench0".into(),
            ipv4_prefix_len: 24,
            ipv6_prefix_len: 64,
            mbufs: 16383,
            descriptors: 1024,
            idle_sleep: None,
        },
        services: vec![SocketAddr::new(SERVICE.into(), 53)],
    };
    let backend = DpdkBackend::start(config, Arc::new(Engine::default()), table)
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(1));
    let before = backend.stats();
    let started = Instant::now();
    std::thread::sleep(window);
    let after = backend.stats();
    let elapsed = started.elapsed().as_secs_f64();
    backend.stop();
    let sum = |stats: &ferrodns_dpdk::DpdkStats, f: fn(&CoreStats) -> u64| {
        stats.lcores.iter().map(f).sum::<u64>()
    };
    let rx = sum(&after, |l| l.rx) - sum(&before, |l| l.rx);
    let answered = sum(&after, |l| l.answered()) - sum(&before, |l| l.answered());
    if rx == 0 {
        return Err("ferrodns received nothing".into());
    }
    Ok((rx as f64 / elapsed / 1e6, answered as f64 / rx as f64))
}

/// Writes `frames` A queries for random `names` as Ethernet/IPv4/UDP frames to
/// the service address, with valid checksums.
fn write_capture(path: &Path, names: &[String], frames: usize) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(7);
    let ethernet = Ethernet::new(PCAP_PORT_MAC, CLIENT_MAC);
    let ip = Ipv4::new(CLIENT_V4, SERVICE.octets());
    let capture = (0..frames)
        .map(|id| {
            let name = names
                .get(rng.usize(..names.len()))
                .ok_or("no names to query")?;
            let query = query(name, RType::A).id(id as u16).bytes;
            Ok(udp_frame(&ethernet, &ip, rng.u16(1024..), 53, &query))
        })
        .collect::<Result<Vec<_>, String>>()?;
    write_pcap(path, &capture).map_err(|e| format!("{}: {e}", path.display()))
}
