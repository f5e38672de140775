//! The DPDK backend on a real link: a veth pair whose client end sits in a network
//! namespace the test creates, ferrodns on the other end (in a second namespace)
//! through DPDK's af_packet driver with two queue pairs, so two worker lcores
//! poll. From the client namespace, `dig`, `kdig`, `ping` and `dnsperf` talk to
//! the service addresses over IPv4 and IPv6; the client learns the appliance's MAC
//! by ARP / neighbor discovery (no static entry), and DNS over TCP (and the TCP
//! retry of a truncated answer) goes through the exception path to ferrodns's TCP
//! listener. Names outside the local zone are punted to the forwarder, which asks
//! a `knotd` inside the server namespace; its answers leave through the lcore that
//! received the query.
//!
//! The client's veth computes its checksums itself (`ethtool -K veth-c tx off`):
//! a veth otherwise passes frames with checksums left for offload, which the
//! dataplane (like any receiver on a real wire) rejects.
//!
//! The server end's kernel must stay out of the way, as it would for a NIC bound
//! to DPDK: its veth has ARP off, IPv6 disabled and strict reverse-path
//! filtering, so only the dataplane answers on the wire.

mod dpdk_support;
mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use dpdk_support::{DpdkServer, ZONE, require_root, strip_ansi_line};
use support::{UPSTREAM_ZONE, spawn_with_config, write_knot_config};

const SERVICE_V4: &str = "192.0.2.53";
const CLIENT_V4: &str = "192.0.2.10";
const SERVICE_V6: &str = "2001:db8::53";
const CLIENT_V6: &str = "2001:db8::10";

/// A named network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(role: &str) -> Netns {
        let name = format!("fdns-{role}-{}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `args` in the namespace; panics with its output if it fails.
    fn run(&self, args: &[&str]) -> String {
        sh(&[&["ip", "netns", "exec", &self.0][..], args].concat())
    }

    /// Runs `args` in the namespace and returns its stdout, whatever the status.
    fn output(&self, args: &[&str]) -> String {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .expect("run in namespace");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The upstream the appliance forwards to: `knotd` on loopback inside the server
/// namespace (a namespace of its own, so a fixed port is free).
const UPSTREAM: &str = "127.0.0.1:5300";

/// `knotd` running in a namespace, killed on drop.
struct Upstream(Child);

impl Upstream {
    fn start(ns: &Netns, dir: &Path) -> Upstream {
        let config = write_knot_config(dir, 5300, "upstream.test.", UPSTREAM_ZONE);
        let mut knotd = Command::new("ip");
        knotd.args(["netns", "exec", &ns.0, "knotd"]);
        let (child, _log) = spawn_with_config(knotd, &config, "knot");
        let upstream = Upstream(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ask = [
            "dig",
            "@127.0.0.1",
            "-p",
            "5300",
            "+short",
            "+time=1",
            "www.upstream.test",
        ];
        while ns.output(&ask).trim() != "192.0.2.10" {
            assert!(Instant::now() < deadline, "knotd did not start");
            sleep(Duration::from_millis(50));
        }
        upstream
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A zone with the DPDK tests' records plus an RRset too big for 512 bytes.
fn zone() -> String {
    let mut text = String::from(ZONE);
    for i in 0..60 {
        text.push_str(&format!("many IN A 10.9.0.{i}\n"));
    }
    text
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

#[test]
fn clients_on_a_veth_link_get_answers_over_udp_and_tcp_ping_and_zero_loss_under_dnsperf() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let client = Netns::new("client");
    let server = Netns::new("server");
    sh(&[
        "ip", "link", "add", "veth-c", "netns", &client.0, "type", "veth", "peer", "name",
        "veth-s", "netns", &server.0,
    ]);
    client.run(&[
        "ip",
        "addr",
        "add",
        &format!("{CLIENT_V4}/24"),
        "dev",
        "veth-c",
    ]);
    client.run(&[
        "ip",
        "addr",
        "add",
        &format!("{CLIENT_V6}/64"),
        "dev",
        "veth-c",
        "nodad",
    ]);
    client.run(&["ip", "link", "set", "veth-c", "up"]);
    // A veth hands frames over with checksums left to a NIC that is not there;
    // on a real wire they are complete, so make the client compute them.
    client.run(&["ethtool", "-K", "veth-c", "tx", "off"]);
    for setting in [
        "net.ipv6.conf.veth-s.disable_ipv6=1",
        "net.ipv4.conf.all.rp_filter=1",
        "net.ipv4.conf.veth-s.rp_filter=1",
    ] {
        server.run(&["sysctl", "-qw", setting]);
    }
    server.run(&["ip", "link", "set", "veth-s", "arp", "off", "up"]);
    let upstream_dir = dir.path().join("upstream");
    fs::create_dir(&upstream_dir).unwrap();
    let _upstream = Upstream::start(&server, &upstream_dir);

    let zone_path = dir.path().join("dpdk.test.zone");
    fs::write(&zone_path, zone()).unwrap();
    let config = dir.path().join("ferrodns.toml");
    fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"{SERVICE_V4}:53\", \"[{SERVICE_V6}]:53\"]\n\
             [[zone]]\norigin = \"dpdk.test\"\nfile = \"{}\"\n\
             [dataplane]\nbackend = \"dpdk\"\n\
             eal = \"--lcores 0@0,1@0,2@1 --no-pci --in-memory \
             --vdev net_af_packet0,iface=veth-s,qpairs=2\"\n\
             idle_sleep_us = 100\n\
             [forward]\nnameservers = [\"{UPSTREAM}\"]\n",
            zone_path.display()
        ),
    )
    .unwrap();
    let dpdk = DpdkServer::start(
        dir.path(),
        Some(&server.0),
        &["--config".into(), config.display().to_string()],
    );
    let log = dpdk.log_text();
    assert!(log.contains("queues=2"), "two queue pairs: {log}");
    let mac = log
        .split_whitespace()
        .find_map(|w| w.strip_prefix("mac="))
        .expect("the port's MAC in the log")
        .to_owned();

    let dig = |server: &str, args: &[&str]| {
        client.output(
            &[
                &[
                    "dig",
                    &format!("@{server}"),
                    "+tries=2",
                    "+time=3",
                    "+norec",
                ][..],
                args,
            ]
            .concat(),
        )
    };
    let kdig = |server: &str, args: &[&str]| {
        client.output(
            &[
                &["kdig", &format!("@{server}"), "+retry=1", "+timeout=3"][..],
                args,
            ]
            .concat(),
        )
    };

    for server in [SERVICE_V4, SERVICE_V6] {
        // UDP, answered by the dataplane; the first one needs address resolution.
        assert_eq!(
            dig(server, &["+short", "web.dpdk.test", "A"]).trim(),
            "10.0.0.1"
        );
        assert_eq!(
            kdig(server, &["+short", "web.dpdk.test", "AAAA"]).trim(),
            "fd00::1"
        );
        // TCP, through the exception path to the kernel and the TCP listener.
        assert_eq!(
            dig(server, &["+tcp", "+short", "txt.dpdk.test", "TXT"]).trim(),
            "\"hello from the dataplane\""
        );
        assert_eq!(
            sorted_lines(&kdig(server, &["+tcp", "+short", "www.dpdk.test", "A"])),
            ["10.0.0.1", "web.dpdk.test."]
        );
        // Too big for UDP: TC=1 from the dataplane, then dig retries over TCP.
        let many = dig(server, &["+noedns", "many.dpdk.test", "A"]);
        assert!(many.contains("Truncated, retrying in TCP mode"), "{many}");
        assert_eq!(
            many.lines()
                .filter(|l| l.starts_with("many.dpdk.test."))
                .count(),
            60,
            "{many}"
        );
        let nx = dig(server, &["missing.dpdk.test", "A"]);
        assert!(nx.contains("status: NXDOMAIN"), "{nx}");
        // Outside the local zone: punted, forwarded to knotd, answered with RA.
        let forwarded = dig(server, &["+rec", "www.upstream.test", "A"]);
        assert!(
            forwarded.contains("www.upstream.test.\t")
                && forwarded.contains("192.0.2.10")
                && forwarded.contains(" ra"),
            "{forwarded}"
        );
        assert_eq!(
            kdig(server, &["+short", "www.upstream.test", "A"]).trim(),
            "192.0.2.10"
        );
    }

    // The client learnt the appliance's MAC by ARP and neighbor discovery.
    for (family, address) in [("-4", SERVICE_V4), ("-6", SERVICE_V6)] {
        let neighbour = client.run(&["ip", family, "neigh", "show", address]);
        assert!(
            neighbour.contains(&format!("lladdr {mac}")) && !neighbour.contains("PERMANENT"),
            "{neighbour}"
        );
    }

    for (flag, address) in [("-4", SERVICE_V4), ("-6", SERVICE_V6)] {
        let ping = client.run(&["ping", flag, "-c", "3", "-i", "0.2", "-W", "2", address]);
        assert!(ping.contains("3 received"), "{ping}");
    }

    let queries = dir.path().join("queries.txt");
    fs::write(
        &queries,
        "web.dpdk.test A\nweb.dpdk.test AAAA\nwww.dpdk.test A\ntxt.dpdk.test TXT\n\
         missing.dpdk.test A\n_http._tcp.web.dpdk.test SRV\n",
    )
    .unwrap();
    for address in [SERVICE_V4, SERVICE_V6] {
        let report = client.run(&[
            "dnsperf",
            "-s",
            address,
            "-d",
            &queries.display().to_string(),
            "-l",
            "3",
            "-Q",
            "3000",
            "-c",
            "8",
        ]);
        let sent = stat(&report, "Queries sent:");
        let completed = stat(&report, "Queries completed:");
        assert!(sent >= 6000, "dnsperf sent only {sent}: {report}");
        assert_eq!(completed, sent, "lost queries: {report}");
        assert!(report.contains("Queries lost:         0 "), "{report}");
    }

    let (status, log) = dpdk.stop();
    assert!(status.success(), "{log}");
    let totals = log
        .lines()
        .find(|l| l.contains("DPDK dataplane totals"))
        .map(strip_ansi_line)
        .expect("totals");
    // `per_lcore_rx_answered=RX/ANSWERED RX/ANSWERED` ends the line.
    let per_lcore: Vec<&str> = totals
        .split("per_lcore_rx_answered=")
        .nth(1)
        .expect("per-lcore counters")
        .split_whitespace()
        .collect();
    assert_eq!(per_lcore.len(), 2, "{totals}");
    let forwarded: u64 = totals
        .split_whitespace()
        .find_map(|w| w.strip_prefix("forwarded="))
        .and_then(|n| n.parse().ok())
        .expect("forwarded counter");
    assert!(forwarded >= 4, "forwarded answers were sent: {totals}");
    for lcore in per_lcore {
        let answered: u64 = lcore.split('/').nth(1).unwrap().parse().unwrap();
        assert!(answered > 0, "each lcore answered queries: {totals}");
    }
}

/// The number after `label` in a dnsperf report.
fn stat(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {report}"))
}
