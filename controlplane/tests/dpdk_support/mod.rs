//! What the DPDK tests share: the zone they serve, reading an answer frame back
//! (checksums checked with the test kit's own code), and running the `ferrodns`
//! binary with the DPDK backend in a network namespace of its own. Frames and
//! pcap files are built with `ferrodns_dataplane::testkit`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ferrodns_dataplane::testkit::{IpHeader, Ipv4, Ipv6, UDP, checksum};

use crate::support::wait_for_exit;

/// Zone of the DPDK tests: every RRset has one record, so answers do not depend
/// on round-robin rotation and can be compared byte for byte across backends.
pub(crate) const ZONE: &str = crate::support::zone_text!(
    "dpdk.test.",
    "\
web     IN A   10.0.0.1
web     IN AAAA fd00::1
www     IN CNAME web
_http._tcp.web IN SRV 10 5 80 web
txt     IN TXT \"hello from the dataplane\"
@       IN MX  10 ns1
*.apps  IN A   10.2.0.1
"
);

/// The tests must run as root (CI does): they create network namespaces and use
/// hugepages.
pub(crate) fn require_root() {
    // The effective uid is the third field of the Uid: line.
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    assert!(
        root,
        "the DPDK tests need root (network namespaces, hugepages); run tools/test as root"
    );
}

/// A parsed UDP reply frame, checked: lengths consistent, IPv4 header and UDP
/// checksums valid (the tests' own code).
#[derive(Debug)]
pub(crate) struct UdpReply {
    pub(crate) dst_mac: [u8; 6],
    pub(crate) src_mac: [u8; 6],
    pub(crate) vlan: Option<u16>,
    pub(crate) src_ip: Vec<u8>,
    pub(crate) dst_ip: Vec<u8>,
    pub(crate) ttl: u8,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
    pub(crate) payload: Vec<u8>,
}

/// Parses and checks a UDP frame; panics, naming what is wrong, otherwise.
pub(crate) fn parse_udp_reply(frame: &[u8]) -> UdpReply {
    let v4 = |at: usize| -> [u8; 4] { frame[at..at + 4].try_into().unwrap() };
    let v6 = |at: usize| -> [u8; 16] { frame[at..at + 16].try_into().unwrap() };
    let mac = |at: usize| -> [u8; 6] { frame[at..at + 6].try_into().unwrap() };
    let (vlan, l2) = if frame[12..14] == [0x81, 0x00] {
        (Some(u16::from_be_bytes([frame[14], frame[15]])), 18)
    } else {
        (None, 14)
    };
    let ethertype = u16::from_be_bytes([frame[l2 - 2], frame[l2 - 1]]);
    let ip = &frame[l2..];
    let (src_ip, dst_ip, ttl, udp) = match ethertype {
        0x0800 => {
            assert_eq!(ip[0], 0x45, "IPv4 without options");
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            assert_eq!(total, ip.len(), "IPv4 total length is the frame's");
            assert_eq!(checksum(&[&ip[..20]]), 0, "IPv4 header checksum");
            assert_eq!(ip[9], 17, "UDP");
            let udp = &ip[20..total];
            let pseudo = Ipv4::new(v4(l2 + 12), v4(l2 + 16)).pseudo_header(UDP, udp.len());
            let field = u16::from_be_bytes([udp[6], udp[7]]);
            assert!(field == 0 || checksum(&[&pseudo, udp]) == 0, "UDP checksum");
            (ip[12..16].to_vec(), ip[16..20].to_vec(), ip[8], udp)
        }
        0x86dd => {
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            assert_eq!(40 + payload, ip.len(), "IPv6 payload length is the frame's");
            assert_eq!(ip[6], 17, "UDP");
            let udp = &ip[40..];
            let pseudo = Ipv6::new(v6(l2 + 8), v6(l2 + 24)).pseudo_header(UDP, udp.len());
            assert_ne!(
                u16::from_be_bytes([udp[6], udp[7]]),
                0,
                "IPv6 UDP checksum present"
            );
            assert_eq!(checksum(&[&pseudo, udp]), 0, "UDP checksum");
            (ip[8..24].to_vec(), ip[24..40].to_vec(), ip[7], udp)
        }
        other => panic!("not an IP frame: ethertype {other:#06x}"),
    };
    assert_eq!(
        usize::from(u16::from_be_bytes([udp[4], udp[5]])),
        udp.len(),
        "UDP length"
    );
    UdpReply {
        dst_mac: mac(0),
        src_mac: mac(6),
        vlan,
        src_ip,
        dst_ip,
        ttl,
        sport: u16::from_be_bytes([udp[0], udp[1]]),
        dport: u16::from_be_bytes([udp[2], udp[3]]),
        payload: udp[8..].to_vec(),
    }
}

/// `ferrodns serve` with the DPDK backend, in a network namespace of its own
/// (`unshare -n`, or `ip netns exec NS` when given one): its TAP interface and
/// the service addresses on it cannot clash with other tests.
pub(crate) struct DpdkServer {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
    pub(crate) log: PathBuf,
}

impl DpdkServer {
    /// Starts ferrodns with `args` (after `serve`) inside `netns` (a named
    /// namespace) or a fresh one, and waits for "ferrodns ready" in its log.
    pub(crate) fn start(dir: &Path, netns: Option<&str>, args: &[String]) -> DpdkServer {
        let log = dir.join("ferrodns-dpdk.log");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                c
            }
            None => {
                let mut c = Command::new("unshare");
                c.arg("-n");
                c
            }
        };
        let child = command
            .arg(env!("CARGO_BIN_EXE_ferrodns"))
            .arg("serve")
            .args(args)
            .env("FERRODNS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ferrodns");
        let mut server = DpdkServer {
            child,
            dir: dir.to_owned(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.log_text().contains("ferrodns ready") {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("ferrodns exited with {status}: {}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "ferrodns (DPDK) did not start: {}",
                server.log_text()
            );
            sleep(Duration::from_millis(50));
        }
        server
    }

    /// The log, without terminal colour codes.
    pub(crate) fn log_text(&self) -> String {
        strip_ansi(&fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// SIGTERM, then waits for the exit; returns the status and the whole log.
    pub(crate) fn stop(mut self) -> (ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let log = self.log.clone();
        let status = wait_for_exit(&mut self.child, Duration::from_secs(15), || {
            strip_ansi(&fs::read_to_string(&log).unwrap_or_default())
        });
        (status, self.log_text())
    }
}

impl Drop for DpdkServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A counter from the "DPDK dataplane totals" log line (`name=value`).
pub(crate) fn total(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("DPDK dataplane totals"))
        .unwrap_or_else(|| panic!("no totals line in the log: {log}"));
    let plain = strip_ansi(line);
    plain
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {plain}"))
}

/// One log line without terminal colour codes.
pub(crate) fn strip_ansi_line(line: &str) -> String {
    strip_ansi(line)
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
