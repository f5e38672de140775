//! What the DPDK tests share: building frames, reading and writing pcap files,
//! checking checksums with the tests' own code, and running the `ferrodns` binary
//! with the DPDK backend in a network namespace of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Zone of the DPDK tests: every RRset has one record, so answers do not depend
/// on round-robin rotation and can be compared byte for byte across backends.
pub(crate) const ZONE: &str = "\
$ORIGIN dpdk.test.
$TTL 30
@       IN SOA ns1 hostmaster ( 2026112301 3600 600 86400 60 )
@       IN NS  ns1
ns1     IN A   10.0.0.53
web     IN A   10.0.0.1
web     IN AAAA fd00::1
www     IN CNAME web
_http._tcp.web IN SRV 10 5 80 web
txt     IN TXT \"hello from the dataplane\"
@       IN MX  10 ns1
*.apps  IN A   10.2.0.1
";

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

/// A DNS query for `qname` (dotted) and `qtype`, with an EDNS OPT record when
/// `edns` is set.
pub(crate) fn query(id: u16, qname: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in qname.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    }
    q
}

/// The Internet checksum, written for the tests: 16-bit words summed in a u32.
pub(crate) fn checksum(pieces: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = pieces.concat();
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_v4(src: &[u8], dst: &[u8], len: usize) -> Vec<u8> {
    [src, dst, &[0, 17], &(len as u16).to_be_bytes()].concat()
}

fn pseudo_v6(src: &[u8], dst: &[u8], len: usize) -> Vec<u8> {
    [src, dst, &(len as u32).to_be_bytes(), &[0, 0, 0, 17]].concat()
}

/// Ethernet header, with an 802.1Q tag when `vlan` is given.
pub(crate) fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, vlan: Option<u16>) -> Vec<u8> {
    let mut frame = [dst, src].concat();
    if let Some(vid) = vlan {
        frame.extend_from_slice(&[0x81, 0x00]);
        frame.extend_from_slice(&vid.to_be_bytes());
    }
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame
}

fn udp(sport: u16, dport: u16, payload: &[u8], pseudo: Vec<u8>) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = [
        &sport.to_be_bytes()[..],
        &dport.to_be_bytes(),
        &(len as u16).to_be_bytes(),
        &[0, 0],
        payload,
    ]
    .concat();
    let c = checksum(&[&pseudo, &u]);
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    u
}

/// A UDP/IPv4 frame; `flags_fragment` is the IPv4 flags and fragment offset word.
#[allow(clippy::too_many_arguments)]
pub(crate) fn udp4(
    macs: ([u8; 6], [u8; 6]),
    vlan: Option<u16>,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
    flags_fragment: u16,
) -> Vec<u8> {
    let datagram = udp(
        sport,
        dport,
        payload,
        pseudo_v4(&src, &dst, 8 + payload.len()),
    );
    let total = (20 + datagram.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x43, 0x21]);
    ip.extend_from_slice(&flags_fragment.to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    [ethernet(macs.0, macs.1, 0x0800, vlan), ip, datagram].concat()
}

/// A UDP/IPv6 frame.
pub(crate) fn udp6(
    macs: ([u8; 6], [u8; 6]),
    vlan: Option<u16>,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let datagram = udp(
        sport,
        dport,
        payload,
        pseudo_v6(&src, &dst, 8 + payload.len()),
    );
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    [ethernet(macs.0, macs.1, 0x86dd, vlan), ip, datagram].concat()
}

/// Writes `frames` as a pcap file (Ethernet link type).
pub(crate) fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for frame in frames {
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    fs::write(path, out).unwrap();
}

/// The whole frames of a pcap file (a record cut short at the end is left out:
/// the writer may be in the middle of it).
pub(crate) fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let data = fs::read(path).unwrap_or_default();
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let Some(frame) = data.get(at + 16..at + 16 + caplen) else {
            break;
        };
        frames.push(frame.to_vec());
        at += 16 + caplen;
    }
    frames
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
            let pseudo = pseudo_v4(&ip[12..16], &ip[16..20], udp.len());
            let field = u16::from_be_bytes([udp[6], udp[7]]);
            assert!(field == 0 || checksum(&[&pseudo, udp]) == 0, "UDP checksum");
            (ip[12..16].to_vec(), ip[16..20].to_vec(), ip[8], udp)
        }
        0x86dd => {
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            assert_eq!(40 + payload, ip.len(), "IPv6 payload length is the frame's");
            assert_eq!(ip[6], 17, "UDP");
            let udp = &ip[40..];
            let pseudo = pseudo_v6(&ip[8..24], &ip[24..40], udp.len());
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
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "ferrodns did not stop: {}",
                self.log_text()
            );
            sleep(Duration::from_millis(20));
        }
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
