//! queryperf's DPDK mode on a real link: a veth pair between two network
//! namespaces the test creates, queryperf sending from one end through DPDK's
//! af_packet driver, and on the other end
//!
//! - ferrodns on DPDK (af_packet too), which answers ARP and neighbor
//!   discovery itself, and whose counters are read from its "DPDK dataplane
//!   totals" log line when it stops;
//! - knotd on kernel sockets, whose kernel must resolve each of queryperf's
//!   source addresses (queryperf answers for them), and whose counters come
//!   from `knotc stats` (mod-stats).
//!
//! Each run must have every answer matched (completed = sent, nothing lost,
//! no reply left unmatched), the server must have counted exactly those
//! queries and answers, and the fixed-rate runs must lose nothing.
//!
//! Needs root (namespaces, DPDK) and hugepages (`tools/hugepages`); without
//! root the tests say so and pass. DPDK runs with `--in-memory` and a file
//! prefix of its own, so other DPDK processes on the machine are left alone.

#[path = "../../../controlplane/tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

const SERVER_V4: &str = "192.0.2.53";
const SERVER_V6: &str = "2001:db8::53";
/// Sources spread over a block, which the kernel server resolves one by one.
const SOURCES_V4: &str = "192.0.2.128/28";
const SOURCES_V6: &str = "2001:db8::1:0/124";

const ZONE: &str = "\
$ORIGIN dpdk.test.
$TTL 300
@        IN SOA ns1 hostmaster 1 3600 600 86400 300
@        IN NS  ns1
ns1      IN A   192.0.2.53
web      IN A   10.0.0.1
web      IN AAAA fd00::1
www      IN CNAME web
_http._tcp.web IN SRV 10 5 80 web
";

/// Two answers, a CNAME chain and an NXDOMAIN: one query in four is for a
/// missing name.
const QUERIES: &str = "\
web.dpdk.test A
web.dpdk.test AAAA
_http._tcp.web.dpdk.test SRV
missing.dpdk.test A
";

/// One DPDK test at a time: each polls a core or two flat out.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether the test can run; says why not when it cannot.
fn can_run(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("{test}: skipped, it needs root (network namespaces, DPDK)");
    }
    root
}

/// Waits (up to a minute) until `pages` 2 MiB hugepages are free: another
/// DPDK test may hold some for a while.
fn wait_for_hugepages(pages: u64) {
    let free = || {
        fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while free() < pages && Instant::now() < deadline {
        sleep(Duration::from_millis(500));
    }
}

/// Runs `args`; panics with the output when it fails.
fn must(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A client namespace and a server namespace joined by a veth pair; both are
/// deleted (with the pair) on drop.
struct Wire {
    client: String,
    server: String,
    client_if: String,
    server_if: String,
}

impl Wire {
    /// The pair, named after `tag` and the process. The client's kernel stays
    /// off the link (no address, no ARP, no IPv6), as a NIC's would once DPDK
    /// owns it.
    fn new(tag: &str) -> Wire {
        let pid = std::process::id();
        let wire = Wire {
            client: format!("qpt-{tag}-c-{pid}"),
            server: format!("qpt-{tag}-s-{pid}"),
            client_if: format!("qc{tag}{}", pid % 100_000),
            server_if: format!("qs{tag}{}", pid % 100_000),
        };
        for ns in [&wire.client, &wire.server] {
            must(&["ip", "netns", "add", ns]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        must(&[
            "ip",
            "link",
            "add",
            &wire.client_if,
            "netns",
            &wire.client,
            "type",
            "veth",
            "peer",
            "name",
            &wire.server_if,
            "netns",
            &wire.server,
        ]);
        let v6_off = format!("net.ipv6.conf.{}.disable_ipv6=1", wire.client_if);
        wire.client(&["sysctl", "-qw", &v6_off]);
        must(&[
            "ip",
            "-n",
            &wire.client,
            "link",
            "set",
            &wire.client_if,
            "arp",
            "off",
            "up",
        ]);
        wire
    }

    fn client(&self, args: &[&str]) -> String {
        must(&[&["ip", "netns", "exec", &self.client][..], args].concat())
    }

    fn server(&self, args: &[&str]) -> String {
        must(&[&["ip", "netns", "exec", &self.server][..], args].concat())
    }

    /// queryperf in the client namespace from its end of the pair, with
    /// `args`; returns its JSON summary and its standard error.
    fn queryperf(&self, dir: &Path, args: &[&str]) -> (serde_json::Value, String) {
        let queries = dir.join("queries.txt");
        support::write(&queries, QUERIES);
        let eal = format!(
            "--lcores 0@0,1@0 --no-pci --in-memory --file-prefix qpt-cli-{} \
             --vdev net_af_packet1,iface={}",
            std::process::id(),
            self.client_if
        );
        wait_for_hugepages(64);
        let output = Command::new("ip")
            .args(["netns", "exec", &self.client])
            .arg(env!("CARGO_BIN_EXE_queryperf"))
            .args(["--dpdk", &eal, "--json", "-d"])
            .arg(&queries)
            .args(args)
            .output()
            .expect("run queryperf");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "queryperf failed: {stderr}");
        let json = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {stderr}"));
        (json, stderr)
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A number from queryperf's JSON summary.
fn count(json: &serde_json::Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {json}"))
}

fn rcode(json: &serde_json::Value, name: &str) -> u64 {
    json["rcodes"][name].as_u64().unwrap_or(0)
}

/// Every query answered and matched: nothing lost, nothing left over.
/// `at_least` is a quarter of what the run offers: on a loaded 2-core machine
/// the sending lcore gets only a share of its core, and the pacer does not
/// make up for more than one burst after a stall.
fn all_matched(json: &serde_json::Value, at_least: u64) {
    let sent = count(json, "queries_sent");
    assert!(sent >= at_least, "sent only {sent}: {json}");
    assert_eq!(count(json, "queries_completed"), sent, "{json}");
    assert_eq!(count(json, "queries_lost"), 0, "{json}");
    assert_eq!(count(json, "unexpected_replies"), 0, "{json}");
    let nxdomain = rcode(json, "NXDOMAIN");
    assert_eq!(rcode(json, "NOERROR") + nxdomain, sent, "{json}");
    assert!(
        nxdomain.abs_diff(sent / 4) <= 1,
        "one query in four: {json}"
    );
}

/// ferrodns on DPDK in the server namespace, stopped (SIGTERM) on drop.
struct Ferrodns {
    child: Child,
    log: std::path::PathBuf,
}

impl Ferrodns {
    fn start(wire: &Wire, dir: &Path) -> Ferrodns {
        for setting in [
            format!("net.ipv6.conf.{}.disable_ipv6=1", wire.server_if),
            "net.ipv4.conf.all.rp_filter=1".to_owned(),
            format!("net.ipv4.conf.{}.rp_filter=1", wire.server_if),
        ] {
            wire.server(&["sysctl", "-qw", &setting]);
        }
        must(&[
            "ip",
            "-n",
            &wire.server,
            "link",
            "set",
            &wire.server_if,
            "arp",
            "off",
            "up",
        ]);
        let zone = dir.join("dpdk.test.zone");
        support::write(&zone, ZONE);
        let config = dir.join("ferrodns.toml");
        support::write(
            &config,
            &format!(
                "[server]\nlisten = [\"{SERVER_V4}:53\", \"[{SERVER_V6}]:53\"]\n\
                 [[zone]]\norigin = \"dpdk.test\"\nfile = \"{}\"\n\
                 [dataplane]\nbackend = \"dpdk\"\nkernel_interface = \"qpt{}\"\n\
                 eal = \"--lcores 0@1,1@1 --no-pci --in-memory --file-prefix qpt-srv-{} \
                 --vdev net_af_packet0,iface={}\"\nidle_sleep_us = 100\n",
                zone.display(),
                std::process::id() % 100_000,
                std::process::id(),
                wire.server_if
            ),
        );
        wait_for_hugepages(64);
        let log = dir.join("ferrodns.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &wire.server])
            .arg(support::ferrodns_binary())
            .args(["serve", "--config"])
            .arg(&config)
            .env("FERRODNS_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ferrodns");
        let mut server = Ferrodns { child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.log_text().contains("ferrodns ready") {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("ferrodns exited with {status}: {}", server.log_text());
            }
            assert!(Instant::now() < deadline, "no start: {}", server.log_text());
            sleep(Duration::from_millis(100));
        }
        server
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it; returns its counters from the totals line, by name.
    fn stop(mut self) -> impl Fn(&str) -> u64 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "ferrodns did not stop");
            sleep(Duration::from_millis(100));
        }
        let log = without_colours(&self.log_text());
        let totals = log
            .lines()
            .find(|l| l.contains("DPDK dataplane totals"))
            .unwrap_or_else(|| panic!("no totals in the log: {log}"))
            .to_owned();
        move |name: &str| {
            totals
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name}= in {totals}"))
        }
    }
}

/// `text` without terminal colour sequences (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut pieces = text.split('\u{1b}');
    let mut plain = pieces.next().unwrap_or_default().to_owned();
    for piece in pieces {
        plain.push_str(piece.split_once('m').map_or("", |(_, rest)| rest));
    }
    plain
}

/// The number before `label` in queryperf's `[Status] Port:` line.
fn status_count(status: &str, label: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with("[Status] Port:"))
        .and_then(|line| line.split(", ").find_map(|part| part.strip_suffix(label)))
        .and_then(|part| part.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` in {status}"))
}

impl Drop for Ferrodns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn against_ferrodns_on_dpdk_every_answer_is_matched_and_counted_by_both_ends() {
    if !can_run("against_ferrodns_on_dpdk") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let wire = Wire::new("f");
    let server = Ferrodns::start(&wire, dir.path());

    // A bounded run at a fixed rate, sources spread over a block: no loss.
    let (fixed, status) = wire.queryperf(
        dir.path(),
        &[
            "-s", SERVER_V4, "--local", SOURCES_V4, "-c", "4", "-l", "2", "-Q", "2000",
        ],
    );
    all_matched(&fixed, 1_000);
    assert!(status.contains("learnt by ARP"), "{status}");
    // A closed loop over IPv6 (at most 20 outstanding), the file 100 times.
    let (closed, status) = wire.queryperf(
        dir.path(),
        &[
            "-s", SERVER_V6, "--local", SOURCES_V6, "-n", "100", "-q", "20", "-e",
        ],
    );
    all_matched(&closed, 400);
    assert_eq!(count(&closed, "queries_sent"), 400);
    assert!(status.contains("learnt by neighbor discovery"), "{status}");

    let totals = server.stop();
    let sent = count(&fixed, "queries_sent") + count(&closed, "queries_sent");
    assert_eq!(
        totals("answered"),
        sent,
        "ferrodns answered every query sent"
    );
    assert_eq!(
        totals("nxdomain"),
        rcode(&fixed, "NXDOMAIN") + rcode(&closed, "NXDOMAIN")
    );
    // Besides the queries, only the runs' questions for the server's MAC
    // reached it (one each, more if an answer was slow).
    assert_eq!(totals("rx"), sent + totals("control_replies"));
    assert!(totals("control_replies") >= 2);
}

/// knotd on kernel sockets in the server namespace, with its statistics
/// module and a control socket; killed on drop.
struct Knot {
    child: Child,
    control: std::path::PathBuf,
}

impl Knot {
    fn start(wire: &Wire, dir: &Path) -> Knot {
        let d = dir.display();
        support::write(&dir.join("dpdk.test.zone"), ZONE);
        let config = dir.join("knot.conf");
        support::write(
            &config,
            &format!(
                "server:\n    rundir: \"{d}\"\n    listen: [ {SERVER_V4}@53, {SERVER_V6}@53 ]\n    \
                 udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
                 control:\n    listen: \"{d}/knot.sock\"\n\
                 database:\n    storage: \"{d}\"\n\
                 log:\n  - target: stderr\n    any: warning\n\
                 mod-stats:\n  - id: counters\n    request-protocol: on\n    response-code: on\n\
                 template:\n  - id: default\n    global-module: mod-stats/counters\n\
                 zone:\n  - domain: dpdk.test\n    file: \"{d}/dpdk.test.zone\"\n"
            ),
        );
        let server_if = wire.server_if.as_str();
        wire.server(&[
            "ip",
            "addr",
            "add",
            &format!("{SERVER_V4}/24"),
            "dev",
            server_if,
        ]);
        let v6 = format!("{SERVER_V6}/64");
        wire.server(&["ip", "addr", "add", &v6, "dev", server_if, "nodad"]);
        wire.server(&["ip", "link", "set", server_if, "up"]);
        let child = Command::new("ip")
            .args(["netns", "exec", &wire.server, "knotd", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("knot.log")).unwrap())
            .spawn()
            .expect("start knotd (Debian package knot)");
        let knot = Knot {
            child,
            control: dir.join("knot.sock"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !knot.stats().contains("zone-count") {
            assert!(Instant::now() < deadline, "knotd did not start");
            sleep(Duration::from_millis(100));
        }
        knot
    }

    /// `knotc stats`: `name[label] = value` lines.
    fn stats(&self) -> String {
        Command::new("knotc")
            .arg("-s")
            .arg(&self.control)
            .arg("stats")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn counter(&self, name: &str) -> u64 {
        let stats = self.stats();
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn against_knotd_on_kernel_sockets_every_answer_is_matched_and_counted_by_both_ends() {
    if !can_run("against_knotd_on_kernel_sockets") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let wire = Wire::new("k");
    let knot = Knot::start(&wire, dir.path());

    let (v4, status) = wire.queryperf(
        dir.path(),
        &[
            "-s", SERVER_V4, "--local", SOURCES_V4, "-c", "2", "-l", "2", "-Q", "2000",
        ],
    );
    all_matched(&v4, 1_000);
    // The kernel resolved the 14 sources it answered, queryperf answering for
    // them: all but the first, which it learnt from queryperf's own request.
    assert!(status_count(&status, " ARP/ND answers") >= 13, "{status}");
    let (v6, status) = wire.queryperf(
        dir.path(),
        &[
            "-s", SERVER_V6, "--local", SOURCES_V6, "-l", "1", "-Q", "1000",
        ],
    );
    all_matched(&v6, 250);
    assert!(status_count(&status, " ARP/ND answers") >= 15, "{status}");

    assert_eq!(
        knot.counter("mod-stats.request-protocol[udp4]"),
        count(&v4, "queries_sent")
    );
    assert_eq!(
        knot.counter("mod-stats.request-protocol[udp6]"),
        count(&v6, "queries_sent")
    );
    assert_eq!(
        knot.counter("mod-stats.response-code[NXDOMAIN]"),
        rcode(&v4, "NXDOMAIN") + rcode(&v6, "NXDOMAIN")
    );
}
