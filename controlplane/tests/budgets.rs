//! Budgets under attack, against the real `ferrodns` binary (docs/operations.md,
//! "Budgets"): idle floods of the API port and of DNS over TCP, requests whose
//! body never comes, pipelined queries that never finish, and a process started
//! with 1,024 descriptors.
//!
//! The floods open about 1,100 connections from this test process, which first
//! raises its own soft descriptor limit. Sources other than 127.0.0.1 are other
//! loopback addresses (all of 127.0.0.0/8 is local on Linux).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::testkit::query;
use support::api::store_and_api_args;
use support::{Server, free_port};

const TOKEN: &str = "budget-token";
/// Connections in each flood: more than a 1,024-descriptor process can hold.
const FLOOD: usize = 1100;

/// Raises this test process's soft descriptor limit to its hard one, which the
/// floods need (the server under test raises its own).
fn raise_own_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .expect("raise the soft descriptor limit");
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        soft > 2 * FLOOD as u64,
        "the hard descriptor limit ({soft}) is too low for these tests"
    );
}

/// A blocking TCP connection to `to` from the local address `source`.
fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.parse().expect("address"), 0))?;
        tokio::time::timeout(Duration::from_secs(2), socket.connect(to))
            .await
            .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))?
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Opens up to `count` connections to `to` from 127.0.0.1, each given 300 ms:
/// a server out of descriptors leaves connects hanging in its backlog, and a
/// SYN that meets a closed connection's TIME_WAIT on loopback is resent only
/// after a second.
fn flood(to: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| TcpStream::connect_timeout(&to, Duration::from_millis(300)).ok())
        .collect()
}

/// Keeps [`FLOOD`] idle connections to `to` open from 127.0.0.1, opening a new
/// one as soon as one is closed, until `stop` is set.
fn hold_flood(to: SocketAddr, stop: &AtomicBool) {
    let mut held = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        held.retain(|stream: &TcpStream| !closed_now(stream));
        let missing = FLOOD - held.len();
        held.extend(flood(to, missing.min(64)));
    }
}

/// Whether the peer has closed `stream`, without waiting.
fn closed_now(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    match (&*stream).read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

/// Whether the peer has closed `stream` (EOF or reset), waiting at most `wait`.
fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// How many of `streams` are still open after `wait` (checked one by one, the
/// first waiting `wait`, the rest not at all).
fn still_open(streams: &mut [TcpStream], wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    streams
        .iter_mut()
        .filter_map(|stream| {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            (!closed(stream, left)).then_some(())
        })
        .count()
}

/// `dig +tcp` for web.example.test from `source`: whether it got the answer.
fn dig_tcp_from(port: u16, source: &str) -> bool {
    let output = support::run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "-b",
            source,
            "+tcp",
            "+tries=1",
            "+time=2",
            "+short",
            "web.example.test",
            "A",
        ],
    );
    output.lines().any(|line| line.trim() == "10.0.0.1")
}

/// `curl` of the API from `source`: (status, body, seconds taken). `extra` goes
/// before the URL.
fn curl_from(source: &str, port: u16, path: &str, extra: &[&str]) -> (u16, String, f64) {
    let started = Instant::now();
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "8", "--interface", source])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args(["-w", "\n%{http_code}"])
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        status.trim().parse().unwrap_or(0),
        body.to_owned(),
        started.elapsed().as_secs_f64(),
    )
}

/// The value of the `/metrics` sample `name` (with its labels), if present.
fn metric(port: u16, sample: &str) -> Option<f64> {
    let (status, text, _) = curl_from("127.0.0.9", port, "/metrics", &[]);
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

/// `ferrodns serve` with the test zone, the store and the API, `config` as its
/// config file, `extra` flags, under the descriptor limit `nofile`. Returns the
/// server and the API's port.
fn start(
    state: &Path,
    config: &str,
    extra: &[String],
    nofile: Option<(u64, u64)>,
) -> (Server, u16) {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config_file = dir.path().join("ferrodns.toml");
    std::fs::write(&config_file, config).unwrap();
    let api_port = free_port();
    let mut args = store_and_api_args(dir.path(), state, api_port);
    args.extend([
        "--config".to_owned(),
        config_file.display().to_string(),
        "--api-token-file".to_owned(),
        token.display().to_string(),
    ]);
    args.extend(extra.iter().cloned());
    let server = match nofile {
        Some(limit) => Server::spawn_with_nofile(dir, args, limit, "web.example.test"),
        None => Server::spawn(dir, args, "web.example.test"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl_from("127.0.0.9", api_port, "/healthz", &[]).0 != 200 {
        assert!(Instant::now() < deadline, "no API: {}", server.log_text());
        sleep(Duration::from_millis(50));
    }
    (server, api_port)
}

#[test]
fn an_idle_flood_of_the_api_starves_neither_dns_over_tcp_nor_the_api() {
    raise_own_limit();
    let state = tempfile::tempdir().unwrap();
    let config =
        "[api]\nidle_timeout_ms = 1500\nheader_timeout_ms = 1000\nbody_timeout_ms = 1500\n";
    // 1,024 descriptors, as most systems give a process, and no way up.
    let (server, api_port) = start(state.path(), config, &[], Some((1024, 1024)));
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();

    // A slowloris: half a request head, then nothing.
    let mut slow_head = connect_from("127.0.0.3", api).unwrap();
    slow_head
        .write_all(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut flooded = flood(api, FLOOD);
    assert!(flooded.len() >= 1000, "only {} connected", flooded.len());

    // DNS over TCP and the API (for another source) keep answering.
    assert!(
        dig_tcp_from(server.port, "127.0.0.1"),
        "DNS over TCP stopped: {}",
        server.log_text()
    );
    let (status, body, _) = curl_from("127.0.0.2", api_port, "/v1/stats", &[]);
    assert_eq!(status, 200, "the API stopped: {body} {}", server.log_text());

    // A body declared 100 MB that stops after 2 bytes is refused at once; one
    // declared short of the cap that stops early is answered 408 at the body
    // deadline. Neither is written.
    let (status, _, took) = curl_from(
        "127.0.0.4",
        api_port,
        "/v1/records",
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Content-Length: 100000000",
            "--data-binary",
            "{}",
        ],
    );
    assert!(matches!(status, 408 | 413), "status {status}");
    assert!(took < 3.0, "took {took} s");
    let record = r#"{"name":"late.svc.example.","type":"A","data":"10.9.9.9"}"#;
    let (status, _, took) = curl_from(
        "127.0.0.5",
        api_port,
        "/v1/records",
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Content-Length: 1000",
            "--data-binary",
            record,
        ],
    );
    assert_eq!(status, 408);
    assert!((1.4..4.0).contains(&took), "took {took} s");
    let (status, body, _) = curl_from("127.0.0.2", api_port, "/v1/records/late.svc.example.", &[]);
    assert_eq!(status, 404, "{body}");

    // The half head is closed by the header timeout, every idle connection by
    // the idle timeout (or at once, beyond the caps).
    assert!(closed(&mut slow_head, Duration::from_secs(3)));
    let open = still_open(&mut flooded, Duration::from_secs(4));
    assert_eq!(open, 0, "{open} idle connections still open");
    assert!(
        metric(
            api_port,
            "ferrodns_connections_timed_out_total{class=\"api\",timeout=\"idle\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        metric(
            api_port,
            "ferrodns_connections_timed_out_total{class=\"api\",timeout=\"header\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        metric(
            api_port,
            "ferrodns_connections_timed_out_total{class=\"api\",timeout=\"body\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        metric(
            api_port,
            "ferrodns_connections_refused_total{class=\"api\",reason=\"per_source\"}"
        )
        .is_some_and(|n| n >= 1000.0)
    );
    // And the API answers 127.0.0.1 again.
    let (status, _, _) = curl_from("127.0.0.1", api_port, "/v1/stats", &[]);
    assert_eq!(status, 200);
}

#[test]
fn one_source_cannot_hold_every_tcp_slot_nor_keep_one_with_queries_in_flight() {
    raise_own_limit();
    // An upstream that never answers: a socket nobody reads.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let upstream = silent.local_addr().unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = format!(
        "[tcp]\nidle_timeout_ms = 4000\n[forward]\ntimeout_ms = 2000\ndeadline_ms = 10000\n\
         [forward.zones]\n\"slow.test.\" = [\"{upstream}\"]\n"
    );
    let (server, _) = start(state.path(), &config, &[], None);
    let dns: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();

    // 127.0.0.1 holds as many idle connections as it can, refilled as soon as
    // they close, while 127.0.0.2 asks over TCP.
    let stop = AtomicBool::new(false);
    let answered = std::thread::scope(|scope| {
        scope.spawn(|| hold_flood(dns, &stop));
        sleep(Duration::from_secs(3));
        let answered = (0..10)
            .filter(|_| {
                sleep(Duration::from_millis(300));
                dig_tcp_from(server.port, "127.0.0.2")
            })
            .count();
        stop.store(true, Ordering::Relaxed);
        answered
    });
    assert_eq!(answered, 10, "{}", server.log_text());

    // Pipelined queries the upstream never answers: each would take the
    // forwarder's 10 s deadline, but the connection is closed at the 4 s idle
    // timeout whatever is in flight.
    let mut pipelined = connect_from("127.0.0.3", dns).unwrap();
    let mut burst = Vec::new();
    for id in 0..5u16 {
        let name = format!("q{id}.slow.test");
        burst.extend_from_slice(&query(&name, RType::A).id(id).tcp());
    }
    let started = Instant::now();
    pipelined.write_all(&burst).unwrap();
    assert!(closed(&mut pipelined, Duration::from_secs(8)));
    let held_for = started.elapsed();
    assert!(
        (Duration::from_millis(3500)..Duration::from_millis(5500)).contains(&held_for),
        "held for {held_for:?}"
    );
}

#[test]
fn the_descriptor_limit_is_raised_at_start_and_budgets_shrink_to_fit_it() {
    let state = tempfile::tempdir().unwrap();
    let (server, _) = start(state.path(), "", &[], Some((1024, 4096)));
    server.wait_until("the limit raised", |s| {
        s.log_text()
            .contains("descriptor limit raised from 1024 to 4096")
    });
    drop(server);

    // With no way up, the caps are cut to fit 1,024 and the log says so.
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forward = vec![
        "--forward".to_owned(),
        upstream.local_addr().unwrap().to_string(),
    ];
    let (server, api_port) = start(state.path(), "", &forward, Some((1024, 1024)));
    server.wait_until("the caps reduced", |s| {
        s.log_text().contains("descriptor limit 1024 is too low")
    });
    let log = server.log_text();
    for cut in [
        "tcp.max_connections 1024 -> ",
        "api.max_connections 64 -> ",
        "forward.max_sockets 512 -> ",
    ] {
        assert!(log.contains(cut), "{cut} missing from {log}");
    }
    assert_eq!(metric(api_port, "ferrodns_descriptors_limit"), Some(1024.0));
    let tcp = metric(api_port, "ferrodns_connections_limit{class=\"tcp\"}").unwrap();
    let api = metric(api_port, "ferrodns_connections_limit{class=\"api\"}").unwrap();
    let forward = metric(api_port, "ferrodns_forward_sockets_limit").unwrap();
    assert!(tcp + api + forward < 1024.0, "{tcp} {api} {forward}");
    assert!(
        tcp >= 512.0 && api >= 16.0 && forward >= 128.0,
        "{tcp} {api} {forward}"
    );
    assert!(dig_tcp_from(server.port, "127.0.0.1"));
}
