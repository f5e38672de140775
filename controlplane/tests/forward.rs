//! The forwarder end to end: the real `ferrodns` binary forwarding to real
//! upstreams on loopback (`knotd` serving a zone, `unbound` with local data) and
//! to small misbehaving upstreams written here (a dead one, one answering TC=1
//! over UDP, one sending spoofed replies first, one counting its queries).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::testkit::query;
use support::api::{Api, TOKEN};
use support::{Knot, Server, ZONE, free_port, lines, run, spawn_with_config, start_peer, write};

/// `unbound` with local data for `unbound.test.`, in the foreground.
struct Unbound {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Unbound {
    fn start() -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (child, port) = start_peer("unbound", "host.unbound.test", |port| {
            let config = dir.path().join("unbound.conf");
            write(
                &config,
                &format!(
                    "server:\n  interface: 127.0.0.1@{port}\n  port: {port}\n  \
                     do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  \
                     pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  \
                     num-threads: 1\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  \
                     local-zone: \"unbound.test.\" static\n  \
                     local-data: \"unbound.test. 60 IN SOA ns.unbound.test. h.unbound.test. 1 3600 600 86400 30\"\n  \
                     local-data: \"host.unbound.test. 60 IN A 192.0.2.77\"\n"
                ),
            );
            spawn_with_config(Command::new("unbound"), &config, "unbound")
        });
        Unbound {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ferrodns serving `example.test.` and forwarding with `config` (the body of a
/// config file, `[server]` and zones added here).
fn ferrodns(config: &str) -> Server {
    let (dir, args) = ferrodns_setup(config);
    Server::spawn(dir, args, "web.example.test")
}

/// The directory and arguments of [`ferrodns`], to start it another way.
fn ferrodns_setup(config: &str) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("example.zone"), ZONE);
    let path = dir.path().join("ferrodns.toml");
    write(
        &path,
        &format!(
            "[server]\nworkers = 2\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"example.zone\"\n\n{config}"
        ),
    );
    let args = vec![
        "serve".into(),
        "--config".into(),
        path.display().to_string(),
    ];
    (dir, args)
}

/// How a test upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answers A 192.0.2.99 with this TTL.
    Answer(u32),
    /// Answers UDP with TC=1 and no records; TCP with the answer.
    Truncate,
    /// Before the real answer (A 192.0.2.99), sends one from another port, one
    /// with a wrong ID and one for another name, each claiming 6.6.6.6.
    Spoof,
    /// After `delay_ms`, answers over UDP with a CNAME to `target` and an A
    /// record 6.6.6.6 for `target`, which it has no authority to give.
    CnameOut { target: &'static str, delay_ms: u64 },
}

/// A small upstream on a free loopback port, UDP and TCP, counting queries.
struct TestUpstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The end of the question: header plus name plus type and class.
fn question_end(query: &[u8]) -> usize {
    let mut at = 12;
    while query[at] != 0 {
        at += usize::from(query[at]) + 1;
    }
    at + 5
}

/// `name` in wire format.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// An answer to `query`: a CNAME from its name to `target`, then an A record
/// 6.6.6.6 for `target`.
fn cname_answer(query: &[u8], target: &str) -> Vec<u8> {
    let mut out = answer(query, [0; 4], 60, true);
    out[2] &= !0x02; // not truncated
    out[7] = 2;
    let target = wire_name(target);
    out.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60]);
    out.extend_from_slice(&(target.len() as u16).to_be_bytes());
    out.extend_from_slice(&target);
    out.extend_from_slice(&target);
    out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 6, 6, 6, 6]);
    out
}

/// An answer to `query`: its header and question, then A records with `ip`.
fn answer(query: &[u8], ip: [u8; 4], ttl: u32, truncated: bool) -> Vec<u8> {
    let end = question_end(query);
    let mut out = query[..end].to_vec();
    out[2] |= 0x84; // QR, AA
    out[3] = 0x80; // RA
    out[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    if truncated {
        out[2] |= 0x02;
        return out;
    }
    out[7] = 1;
    out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&[0, 4]);
    out.extend_from_slice(&ip);
    out
}

impl TestUpstream {
    fn start(behaviour: Behaviour) -> TestUpstream {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let udp = UdpSocket::bind(addr).unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let ttl = match behaviour {
            Behaviour::Answer(ttl) => ttl,
            _ => 60,
        };
        let udp_thread = {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&udp_queries));
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let spoofer = UdpSocket::bind("127.0.0.1:0").unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, client)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    let query = &buf[..n];
                    if behaviour == Behaviour::Spoof {
                        let fake = answer(query, [6, 6, 6, 6], 60, false);
                        spoofer.send_to(&fake, client).unwrap();
                        let mut wrong_id = fake.clone();
                        wrong_id[0] ^= 0x5A;
                        udp.send_to(&wrong_id, client).unwrap();
                        let mut wrong_name = fake.clone();
                        wrong_name[13] ^= 0x01;
                        udp.send_to(&wrong_name, client).unwrap();
                    }
                    if let Behaviour::CnameOut { target, delay_ms } = behaviour {
                        sleep(Duration::from_millis(delay_ms));
                        udp.send_to(&cname_answer(query, target), client).unwrap();
                        continue;
                    }
                    let truncated = behaviour == Behaviour::Truncate;
                    let reply = answer(query, [192, 0, 2, 99], ttl, truncated);
                    udp.send_to(&reply, client).unwrap();
                }
            })
        };
        let tcp_thread = {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&tcp_queries));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((mut stream, _)) = tcp.accept() else {
                        sleep(Duration::from_millis(10));
                        continue;
                    };
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).is_err() {
                        continue;
                    }
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut query).is_err() {
                        continue;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    let reply = answer(&query, [192, 0, 2, 99], ttl, false);
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    let _ = stream.write_all(&framed);
                }
            })
        };
        TestUpstream {
            addr,
            udp_queries,
            tcp_queries,
            stop,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    fn udp(&self) -> usize {
        self.udp_queries.load(Ordering::Relaxed)
    }

    fn tcp(&self) -> usize {
        self.tcp_queries.load(Ordering::Relaxed)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The `flags:` line of a dig answer.
fn flags(output: &str) -> String {
    output
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .unwrap_or_default()
        .to_owned()
}

fn status(output: &str) -> &str {
    output
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

/// The time dig reports for the query.
fn query_time(output: &str) -> Duration {
    let ms = output
        .split(";; Query time: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no query time in {output}"));
    Duration::from_millis(ms)
}

#[test]
fn answers_from_knot_with_ra_over_udp_and_tcp() {
    let knot = Knot::start();
    let server = ferrodns(&format!("[forward]\nnameservers = [\"{}\"]\n", knot.addr()));
    let out = server.dig(&["www.upstream.test", "A"]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(flags(&out).contains(" ra"), "{out}");
    assert!(
        !flags(&out).contains(" aa"),
        "forwarded answers are not authoritative: {out}"
    );
    assert!(
        out.contains("www.upstream.test.\t60\tIN\tA\t192.0.2.10"),
        "{out}"
    );
    // The client's case comes back, through the CNAME chain too.
    let out = server.dig(&["+noall", "+answer", "ALIAS.Upstream.test"]);
    assert!(out.contains("ALIAS.Upstream.test.\t"), "{out}");
    assert!(out.contains("192.0.2.10"), "{out}");
    assert_eq!(
        lines(&server.dig(&["+short", "+tcp", "x.wild.upstream.test"])),
        ["192.0.2.20"]
    );
    assert_eq!(
        lines(&server.kdig(&["+short", "+tcp", "www.upstream.test"])),
        ["192.0.2.10"]
    );
    let nx = server.dig(&["nope.upstream.test"]);
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    assert!(nx.contains("upstream.test.\t\t30\tIN\tSOA"), "{nx}");
    // Local zones are still answered here, authoritatively.
    let local = server.dig(&["web.example.test"]);
    assert!(flags(&local).contains(" aa"), "{local}");
    // knotd refuses names outside its zone: every upstream failed.
    let out = server.dig(&["www.elsewhere.test"]);
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    assert!(flags(&out).contains(" ra"), "{out}");
}

#[test]
fn answers_from_unbound() {
    let unbound = Unbound::start();
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"127.0.0.1:{}\"]\n",
        unbound.port
    ));
    assert_eq!(
        lines(&server.dig(&["+short", "host.unbound.test"])),
        ["192.0.2.77"]
    );
    let nx = server.dig(&["missing.unbound.test"]);
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    // SIGTERM stops the server, forwarder included.
    assert!(server.stop().success());
}

#[test]
fn a_dead_first_upstream_fails_over_and_is_then_avoided() {
    let knot = Knot::start();
    // Bound, never read: queries to it vanish without an ICMP error.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\", \"{}\"]\ntimeout_ms = 400\ndeadline_ms = 2000\n",
        dead.local_addr().unwrap(),
        knot.addr()
    ));
    let first = server.dig(&["www.upstream.test"]);
    assert_eq!(status(&first), "NOERROR", "{first}");
    assert!(first.contains("192.0.2.10"), "{first}");
    assert!(query_time(&first) >= Duration::from_millis(400), "{first}");
    // The dead one is backed off: the next names go straight to knotd.
    let second = server.dig(&["a.wild.upstream.test"]);
    assert!(second.contains("192.0.2.20"), "{second}");
    assert!(query_time(&second) < Duration::from_millis(300), "{second}");
}

#[test]
fn all_upstreams_dead_means_servfail_within_the_deadline() {
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\ntimeout_ms = 200\ndeadline_ms = 700\n",
        dead.local_addr().unwrap()
    ));
    let started = Instant::now();
    let out = server.dig(&["www.upstream.test"]);
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    assert!(started.elapsed() < Duration::from_millis(1500), "{out}");
}

#[test]
fn no_upstream_means_refused() {
    let server = ferrodns("");
    let out = server.dig(&["www.upstream.test"]);
    assert_eq!(status(&out), "REFUSED", "{out}");
    let out = server.dig(&["+tcp", "www.upstream.test"]);
    assert_eq!(status(&out), "REFUSED", "{out}");
}

#[test]
fn a_truncated_udp_answer_is_retried_over_tcp() {
    let upstream = TestUpstream::start(Behaviour::Truncate);
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\n",
        upstream.addr
    ));
    assert_eq!(
        lines(&server.dig(&["+short", "big.upstream.test"])),
        ["192.0.2.99"]
    );
    assert_eq!((upstream.udp(), upstream.tcp()), (1, 1));
}

#[test]
fn spoofed_replies_never_reach_the_client() {
    let upstream = TestUpstream::start(Behaviour::Spoof);
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\n",
        upstream.addr
    ));
    for name in ["a.spoof.test", "b.spoof.test", "c.spoof.test"] {
        let out = server.dig(&["+noall", "+answer", name]);
        assert!(out.contains("192.0.2.99"), "{out}");
        assert!(!out.contains("6.6.6.6"), "{out}");
    }
}

#[test]
fn cached_answers_do_not_reach_the_upstream_until_they_expire() {
    let upstream = TestUpstream::start(Behaviour::Answer(2));
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\n",
        upstream.addr
    ));
    let first = server.dig(&["+noall", "+answer", "cached.test"]);
    assert!(
        first.contains("cached.test.\t\t2\tIN\tA\t192.0.2.99"),
        "{first}"
    );
    let second = server.dig(&["+noall", "+answer", "CACHED.test"]);
    assert!(second.contains("CACHED.test."), "{second}");
    // Over TCP too: one cache for both.
    assert_eq!(
        lines(&server.dig(&["+short", "+tcp", "cached.test"])),
        ["192.0.2.99"]
    );
    assert_eq!(upstream.udp(), 1, "answered from the cache");
    sleep(Duration::from_millis(2100));
    assert_eq!(
        lines(&server.dig(&["+short", "cached.test"])),
        ["192.0.2.99"]
    );
    assert_eq!(upstream.udp(), 2, "expired after its TTL");
}

#[test]
fn zone_upstreams_win_by_longest_suffix() {
    let knot = Knot::start();
    let other = TestUpstream::start(Behaviour::Answer(60));
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\n[forward.zones]\n\"upstream.test.\" = [\"{}\"]\n\
         \"deep.wild.upstream.test.\" = [\"{}\"]\n",
        other.addr,
        knot.addr(),
        other.addr
    ));
    assert_eq!(
        lines(&server.dig(&["+short", "www.upstream.test"])),
        ["192.0.2.10"]
    );
    assert_eq!(other.udp(), 0);
    assert_eq!(
        lines(&server.dig(&["+short", "x.deep.wild.upstream.test"])),
        ["192.0.2.99"]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "www.other.test"])),
        ["192.0.2.99"]
    );
    assert_eq!(other.udp(), 2);
}

#[test]
fn out_of_bailiwick_answers_are_not_believed_and_the_deadline_covers_the_chase() {
    // corp.test.'s upstream points outside its zone and adds an address there;
    // the address must come from the default upstream instead.
    let corp = TestUpstream::start(Behaviour::CnameOut {
        target: "svc.other.test.",
        delay_ms: 0,
    });
    let default = TestUpstream::start(Behaviour::Answer(60));
    // slow.test.'s upstream takes 400 ms (within the 500 ms attempt timeout) to
    // point into dead.test., whose only upstream never answers.
    let slow = TestUpstream::start(Behaviour::CnameOut {
        target: "svc.dead.test.",
        delay_ms: 400,
    });
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\ntimeout_ms = 500\ndeadline_ms = 900\n\
         [forward.zones]\n\"corp.test.\" = [\"{}\"]\n\"slow.test.\" = [\"{}\"]\n\
         \"dead.test.\" = [\"{}\"]\n",
        default.addr,
        corp.addr,
        slow.addr,
        dead.local_addr().unwrap()
    ));
    let out = server.dig(&["+noall", "+answer", "www.corp.test"]);
    let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        words,
        "www.corp.test. 60 IN CNAME svc.other.test. svc.other.test. 60 IN A 192.0.2.99"
    );
    assert_eq!((corp.udp(), default.udp()), (1, 1));
    // From the cache now: still no trace of the unbelieved record.
    let again = server.dig(&["+short", "www.corp.test"]);
    assert_eq!(lines(&again), ["192.0.2.99", "svc.other.test."]);
    assert_eq!((corp.udp(), default.udp()), (1, 1));

    // The chased name gets what is left of the query's 900 ms (500), not 900 more.
    let started = Instant::now();
    let out = server.dig(&["+time=3", "www.slow.test"]);
    let elapsed = started.elapsed();
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    assert!(
        (Duration::from_millis(850)..Duration::from_millis(1200)).contains(&elapsed),
        "{elapsed:?}"
    );
}

#[test]
fn forwarded_queries_are_rate_limited_per_client() {
    let upstream = TestUpstream::start(Behaviour::Answer(60));
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\nper_client_qps = 5\n",
        upstream.addr
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let target = SocketAddr::from(([127, 0, 0, 1], server.port));
    for id in 0..20u16 {
        let query = query("rate.test", RType::A).id(id).bytes;
        socket.send_to(&query, target).unwrap();
    }
    let mut answers = 0;
    let mut buf = [0u8; 512];
    while socket.recv_from(&mut buf).is_ok() {
        answers += 1;
    }
    assert!((5..=7).contains(&answers), "{answers} answers");
    // Local names are not limited.
    for _ in 0..10 {
        assert_eq!(
            lines(&server.dig(&["+short", "web0.example.test"])),
            ["10.1.0.1"]
        );
    }
}

#[test]
fn configuration_is_checked_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.toml");
    write(
        &path,
        "[forward]\nnameservers = [\"127.0.0.1:5300\"]\n[forward.zones]\n\"corp.test\" = [\"127.0.0.2\"]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ferrodns"))
        .args(["check-config", "--config"])
        .arg(&path)
        .args(["--forward", "127.0.0.9:53"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("nameservers = [\"127.0.0.9:53\"]"), "{text}");
    assert!(
        text.contains("\"corp.test.\" = [\"127.0.0.2:53\"]"),
        "{text}"
    );
    write(&path, "[forward]\ntimeout_ms = 0\n");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrodns"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("forward.timeout_ms"), "{error}");
}

/// `dig` at `server` trying three times, a second each: an answer lost on a
/// loaded machine is not what these tests look at.
fn dig_patiently(server: &Server, args: &[&str]) -> String {
    let port = server.port.to_string();
    let base = ["@127.0.0.1", "-p", &port, "+tries=3", "+time=1"];
    run("dig", &[&base[..], args].concat())
}

/// What `dig +short` answered in the end: its lines without the
/// `;; communications error` notes of attempts it retried (a query of the
/// patient client may be lost in the flood's socket buffer and sent again).
fn answered_lines(out: &str) -> Vec<String> {
    lines(out)
        .into_iter()
        .filter(|line| !line.starts_with(";;"))
        .collect()
}

#[test]
fn a_flood_of_names_for_a_dead_upstream_leaves_the_other_upstreams_answering() {
    let knot = Knot::start();
    // Bound, never read: every query sent to it waits for its whole timeout.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (dir, args) = ferrodns_setup(&format!(
        "[forward]\nnameservers = [\"{}\"]\n[forward.zones]\n\"dead.test.\" = [\"{}\"]\n",
        knot.addr(),
        dead.local_addr().unwrap()
    ));
    // The 1,024 descriptors a process gets by default, as in the report.
    let server = Server::spawn_with_nofile(dir, args, (1024, 1024), "web.example.test");
    let target = SocketAddr::from(([127, 0, 0, 1], server.port));

    // 3,000 distinct names a second for 4 s, each bound for the dead upstream.
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    flood
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let servfails = Arc::new(AtomicUsize::new(0));
    let receiver = {
        let (socket, stop, servfails) = (
            flood.try_clone().unwrap(),
            Arc::clone(&stop),
            Arc::clone(&servfails),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = socket.recv_from(&mut buf)
                    && n > 3
                    && buf[3] & 0x0F == 2
                {
                    servfails.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(4) {
                let due = started.elapsed().as_millis() as u32 * 3;
                while sent < due {
                    let mut query = (sent as u16).to_be_bytes().to_vec();
                    query.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
                    query.extend_from_slice(&wire_name(&format!("q{sent}.dead.test")));
                    query.extend_from_slice(&[0, 1, 0, 1]);
                    let _ = flood.send_to(&query, target);
                    sent += 1;
                }
                sleep(Duration::from_millis(2));
            }
            sent
        })
    };

    // Meanwhile names of the healthy upstream, new each time, and local names
    // over TCP, are answered as ever.
    let mut failures = Vec::new();
    for i in 0..15 {
        sleep(Duration::from_millis(200));
        let name = format!("h{i}.wild.upstream.test");
        let out = dig_patiently(&server, &["+short", &name]);
        if answered_lines(&out) != ["192.0.2.20"] {
            failures.push(format!("{name}: {out}"));
        }
        if i % 5 == 0 {
            let out = dig_patiently(&server, &["+short", "+tcp", "web0.example.test"]);
            if answered_lines(&out) != ["10.1.0.1"] {
                failures.push(format!("TCP web0.example.test: {out}"));
            }
        }
    }
    let sent = sender.join().unwrap();
    sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    assert!(failures.is_empty(), "{failures:#?}\n{}", server.log_text());
    // Over the caps, the flood itself is answered SERVFAIL at once.
    let servfails = servfails.load(Ordering::Relaxed);
    assert!(sent > 9_000, "{sent}");
    assert!(
        servfails as u32 > sent / 2,
        "{servfails} SERVFAIL of {sent}"
    );
    assert!(!server.log_text().contains("Too many open files"));
}

#[test]
fn local_zones_and_other_upstreams_zones_win_over_what_an_upstream_says() {
    // Each points a name into a zone it has no say over and adds 6.6.6.6 there.
    let into_local = TestUpstream::start(Behaviour::CnameOut {
        target: "web.example.test.",
        delay_ms: 0,
    });
    let into_corp = TestUpstream::start(Behaviour::CnameOut {
        target: "svc.corp.test.",
        delay_ms: 0,
    });
    let corp = TestUpstream::start(Behaviour::Answer(60));
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\n[forward.zones]\n\"test.\" = [\"{}\"]\n\
         \"corp.test.\" = [\"{}\"]\n",
        into_local.addr, into_corp.addr, corp.addr
    ));
    // The chain into the local zone example.test. ends in its own records.
    for transport in ["+notcp", "+tcp"] {
        let out = server.dig(&["+short", transport, "www.outside.example"]);
        assert_eq!(
            lines(&out),
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "web.example.test."],
            "{out}"
        );
    }
    // The chain into corp.test. ends in what corp.test.'s upstream says.
    let out = server.dig(&["+short", "www.evil.test"]);
    assert_eq!(lines(&out), ["192.0.2.99", "svc.corp.test."], "{out}");
    assert_eq!(corp.udp(), 1);
    let out = server.dig(&["+noall", "+answer", "+additional", "www.evil.test"]);
    assert!(!out.contains("6.6.6.6"), "{out}");
}

#[test]
fn forwarder_figures_in_v1_stats_include_spoofs_and_the_caps() {
    let upstream = TestUpstream::start(Behaviour::Spoof);
    let keys = tempfile::tempdir().unwrap();
    let token = keys.path().join("token");
    write(&token, TOKEN);
    let api_port = free_port();
    let server = ferrodns(&format!(
        "[forward]\nnameservers = [\"{}\"]\n[store]\npath = \"{}\"\n\
         [api]\nlisten = \"127.0.0.1:{api_port}\"\ntoken_file = \"{}\"\n",
        upstream.addr,
        keys.path().join("records.redb").display(),
        token.display()
    ));
    let api = Api::new(api_port);
    api.wait_up(&server);
    for name in ["a.spoof.test", "b.spoof.test", "c.spoof.test"] {
        assert_eq!(lines(&server.dig(&["+short", name])), ["192.0.2.99"]);
    }
    let stats = api.get("/v1/stats").json();
    let forward = &stats["forward"];
    // Two forged replies per query reach the forwarder: a wrong ID, a wrong name.
    assert!(forward["spoofs"].as_u64().unwrap_or(0) >= 6, "{stats}");
    assert_eq!(
        forward["upstreams"][0]["spoofs"], forward["spoofs"],
        "{stats}"
    );
    for gauge in ["in_flight", "coalesced", "over_cap"] {
        assert!(forward[gauge].is_u64(), "{gauge}: {stats}");
    }
    assert!(
        forward["sockets"]["limit"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    let metrics = api.get("/metrics").body;
    for family in [
        "ferrodns_forward_spoofs_total ",
        "ferrodns_forward_in_flight ",
        "ferrodns_forward_over_cap_total ",
        "ferrodns_forward_coalesced_total ",
        "ferrodns_forward_sockets_open ",
        "ferrodns_forward_upstream_in_flight{upstream=",
    ] {
        assert!(metrics.contains(family), "{family}: {metrics}");
    }
}
