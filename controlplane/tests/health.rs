//! Health checking with the real `ferrodns` binary: backends are real TCP
//! listeners the tests start and stop, and addresses in a network namespace
//! the tests make unreachable; verdicts are read from a real etcd and the
//! answers checked with `dig`.
//!
//! - `[health.names]` (no etcd): a dead backend leaves the answers within
//!   `interval × retries` and comes back after it recovers, by TCP and by ICMP.
//! - `[health]` in `serve` with etcd: verdicts written into the status entries,
//!   every other field kept, and the watch changes the answers.
//! - Two `ferrodns health-check` processes: every address checked by exactly
//!   one; one killed, the other takes all of its addresses over.
//! - etcd unreachable: verdicts kept, nothing flaps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::etcd::Etcd;
use support::{Server, ferrodns_binary, free_port, health_figures, lines};

const INTERVAL_MS: u64 = 300;
const TIMEOUT_MS: u64 = 200;
const RETRIES: u64 = 3;

/// The longest a flip may take: `interval × retries`, plus one interval for the
/// round in flight when the backend changed, the last check's timeout, and the
/// way to the table (etcd's watch, a publish) and to `dig`.
fn flip_budget() -> Duration {
    Duration::from_millis(INTERVAL_MS * (RETRIES + 1) + TIMEOUT_MS + 1500)
}

/// A TCP backend on `ip:port` that accepts (and drops) connections until it is
/// stopped.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(ip: &str, port: u16) -> Backend {
        let listener = TcpListener::bind((ip, port)).expect("bind the backend");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok(_) => {}
                    Err(_) => sleep(Duration::from_millis(5)),
                }
            }
        });
        Backend {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn short(server: &Server, name: &str) -> Vec<String> {
    lines(&server.dig(&["+short", name, "A"]))
}

/// Polls `name` until it answers `expected`; how long that took.
fn until_answer(server: &Server, name: &str, expected: &[&str], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = short(server, name);
        if got == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{name}: {got:?}, not {expected:?} after {within:?}: {}",
            server.log_text()
        );
        sleep(Duration::from_millis(50));
    }
}

/// `[health]` with the tests' timing and `extra` lines.
fn health_section(extra: &str) -> String {
    format!(
        "[health]\ninterval_ms = {INTERVAL_MS}\ntimeout_ms = {TIMEOUT_MS}\nretries = {RETRIES}\n{extra}"
    )
}

/// `ferrodns serve` with `zone` (origin, text) from a file and `config` as its
/// configuration file; `extra` flags appended; waits for `probe`.
fn serve(zone: (&str, &str), config: &str, extra: &[String], probe: &str) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let zone_file = dir.path().join("zone");
    std::fs::write(&zone_file, zone.1).expect("zone");
    let config_file = dir.path().join("ferrodns.toml");
    std::fs::write(&config_file, config).expect("config");
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--workers".into(),
        "1".into(),
        "--config".into(),
        config_file.display().to_string(),
        "--zone".into(),
        format!("{}={}", zone.0, zone_file.display()),
    ];
    args.extend_from_slice(extra);
    Server::spawn(dir, args, probe)
}

const HEALTH_ZONE: &str = "\
$ORIGIN health.test.
$TTL 30
@    IN SOA ns hostmaster ( 1 3600 600 86400 60 )
@    IN NS  ns
ns   IN A   10.0.0.53
";

#[test]
fn a_dead_tcp_backend_leaves_the_answers_and_comes_back() {
    let port = free_port();
    let zone = format!("{HEALTH_ZONE}web IN A 127.0.0.2\nweb IN A 127.0.0.3\n");
    let config = health_section(&format!(
        "[health.names]\n\"web.health.test.\" = [{port}]\n"
    ));
    let up = Backend::start("127.0.0.2", port);
    let mut down = Some(Backend::start("127.0.0.3", port));
    let server = serve(("health.test.", &zone), &config, &[], "ns.health.test");
    let both = ["127.0.0.2", "127.0.0.3"];
    until_answer(&server, "web.health.test", &both, flip_budget());
    sleep(Duration::from_millis(INTERVAL_MS * 2));
    assert_eq!(short(&server, "web.health.test"), both, "both pass");

    down.take();
    let gone = until_answer(&server, "web.health.test", &["127.0.0.2"], flip_budget());
    assert!(
        gone >= Duration::from_millis(INTERVAL_MS * (RETRIES - 1)),
        "DOWN after {gone:?}: before {RETRIES} failed checks"
    );
    let back = Backend::start("127.0.0.3", port);
    until_answer(
        &server,
        "web.health.test",
        &both,
        Duration::from_millis(INTERVAL_MS * 2 + TIMEOUT_MS + 1500),
    );
    drop((up, back));
    // Both dead: every address is served, none is left out.
    sleep(flip_budget());
    assert_eq!(
        short(&server, "web.health.test"),
        ["127.0.0.2", "127.0.0.3"]
    );
}

/// A network namespace named `chk-…` joined to this one by a veth pair; its
/// addresses are the backends of the ICMP test. Deleted when dropped.
struct Namespace {
    name: String,
}

impl Namespace {
    /// Host side `<net>.1/29`, namespace side `<net>.2/29` and `<net>.3/29`.
    fn start(net: &str) -> Namespace {
        let id = std::process::id();
        let ns = Namespace {
            name: format!("chk-health-{id}"),
        };
        let (host, inner) = (format!("chkh{id}a"), format!("chkh{id}b"));
        let _ = Command::new("ip").args(["netns", "del", &ns.name]).status();
        ns.ip(&["netns", "add", &ns.name]);
        ns.ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner]);
        ns.ip(&["link", "set", &inner, "netns", &ns.name]);
        ns.ip(&["addr", "add", &format!("{net}.1/29"), "dev", &host]);
        ns.ip(&["link", "set", &host, "up"]);
        for address in [format!("{net}.2/29"), format!("{net}.3/29")] {
            ns.inside(&["addr", "add", &address, "dev", &inner]);
        }
        ns.inside(&["link", "set", &inner, "up"]);
        ns.inside(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let status = Command::new("ip").args(args).status().expect("run ip");
        assert!(status.success(), "ip {args:?}");
    }

    fn inside(&self, args: &[&str]) {
        self.ip(&[&["netns", "exec", &self.name, "ip"][..], args].concat());
    }

    /// Adds or removes one of the namespace's addresses (`<net>.3/29`).
    fn address(&self, add: bool, address: &str) {
        let inner = format!("chkh{}b", std::process::id());
        let verb = if add { "add" } else { "del" };
        self.inside(&["addr", verb, address, "dev", &inner]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn an_address_that_stops_answering_echoes_leaves_the_answers_and_comes_back() {
    if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let net = "10.254.77";
    let ns = Namespace::start(net);
    let zone = format!("{HEALTH_ZONE}ping IN A {net}.2\nping IN A {net}.3\n");
    let config = health_section("method = \"icmp\"\n[health.names]\n\"*.health.test.\" = []\n");
    let server = serve(("health.test.", &zone), &config, &[], "ns.health.test");
    let both = [format!("{net}.2"), format!("{net}.3")];
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    until_answer(&server, "ping.health.test", &both, flip_budget());

    ns.address(false, &format!("{net}.3/29"));
    let two = format!("{net}.2");
    until_answer(&server, "ping.health.test", &[two.as_str()], flip_budget());
    ns.address(true, &format!("{net}.3/29"));
    until_answer(
        &server,
        "ping.health.test",
        &both,
        Duration::from_millis(INTERVAL_MS * 2 + TIMEOUT_MS + 1500),
    );
}

/// A status entry as containerdns writes it, for `ip` with `port`.
fn status_entry(name: &str, port: u16) -> String {
    format!(r#"{{"status":"UP","ports":["{port}"],"domains":["{name}"],"cluster":"c1"}}"#)
}

fn status_of(etcd: &Etcd, ip: &str) -> Value {
    let text = etcd
        .get(&format!("/containerdns/monitor/status/{ip}"))
        .unwrap_or_else(|| panic!("no status entry for {ip}"));
    serde_json::from_str(&text).expect("status JSON")
}

/// `key` of containerdns's A record of `ip` at web.example.com.
fn web_key(ip: &str) -> String {
    let hash = ip.bytes().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("/containerdns/com/example/web/{hash:x}/")
}

/// `web.example.com.` with A records 127.0.0.2 and 127.0.0.3 in etcd, each with
/// a monitor status entry to check on the returned port.
fn two_web_backends_in_etcd(etcd: &Etcd) -> u16 {
    let port = free_port();
    for ip in ["127.0.0.2", "127.0.0.3"] {
        etcd.put(&web_key(ip), &format!(r#"{{"host":"{ip}","type":"A"}}"#));
        etcd.put(
            &format!("/containerdns/monitor/status/{ip}"),
            &status_entry("web.example.com.", port),
        );
    }
    port
}

/// `ferrodns serve` fed by `etcd` (domain example.com), checking etcd's
/// addresses as `node-a` with a 2 s lease; waits for `web.example.com`.
fn serve_checking_etcd(etcd: &Etcd) -> Server {
    let config = health_section("hostname = \"node-a\"\nlease_ttl_s = 2\n");
    let extra = [
        "--etcd".to_owned(),
        etcd.url(),
        "--domain".into(),
        "example.com".into(),
    ];
    serve(
        ("health.test.", HEALTH_ZONE),
        &config,
        &extra,
        "web.example.com",
    )
}

#[test]
fn verdicts_in_etcd_keep_every_other_field_and_change_the_answers() {
    let etcd = Etcd::start();
    let port = two_web_backends_in_etcd(&etcd);
    let up = Backend::start("127.0.0.2", port);
    let down = Backend::start("127.0.0.3", port);
    let server = serve_checking_etcd(&etcd);
    let deadline = Instant::now() + flip_budget();
    while status_of(&etcd, "127.0.0.3")["checker"] != "node-a" {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        sleep(Duration::from_millis(50));
    }
    drop(down);
    until_answer(&server, "web.example.com", &["127.0.0.2"], flip_budget());
    let verdict = status_of(&etcd, "127.0.0.3");
    assert_eq!(verdict["status"], "DOWN");
    assert_eq!(verdict["checker"], "node-a");
    assert!(verdict["checked"].is_string(), "{verdict}");
    for (field, kept) in [
        ("ports", serde_json::json!([port.to_string()])),
        ("domains", serde_json::json!(["web.example.com."])),
        ("cluster", serde_json::json!("c1")),
    ] {
        assert_eq!(verdict[field], kept, "{field} kept: {verdict}");
    }
    let _back = Backend::start("127.0.0.3", port);
    until_answer(
        &server,
        "web.example.com",
        &["127.0.0.2", "127.0.0.3"],
        flip_budget(),
    );
    assert_eq!(status_of(&etcd, "127.0.0.3")["status"], "UP");
    drop(up);
}

/// A `ferrodns health-check` process.
struct Checker {
    child: Child,
    metrics: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Checker {
    fn start(etcd: &Etcd, name: &str) -> Checker {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("checker.log");
        let metrics = free_port();
        let child = Command::new(ferrodns_binary())
            .args(["health-check", "--etcd", &etcd.url(), "--hostname", name])
            .args(["--interval-ms", &INTERVAL_MS.to_string()])
            .args(["--timeout-ms", &TIMEOUT_MS.to_string()])
            .args(["--retries", &RETRIES.to_string(), "--lease-ttl-s", "2"])
            .args(["--metrics", &format!("127.0.0.1:{metrics}")])
            .env("FERRODNS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start ferrodns health-check");
        Checker {
            child,
            metrics,
            log,
            _dir: dir,
        }
    }

    /// `ferrodns_health_checks_total` per address, from `/metrics`.
    fn checks(&self) -> BTreeMap<String, u64> {
        health_figures(self.metrics, "ferrodns_health_checks_total")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The addresses whose checks count went up between two scrapes.
fn checked_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeSet<String> {
    after
        .iter()
        .filter(|(ip, n)| before.get(*ip).is_none_or(|b| b < n))
        .map(|(ip, _)| ip.clone())
        .collect()
}

/// Twenty backends on 127.0.0.10-29 (one listener on all of them), each with
/// its status entry.
fn twenty_backends(etcd: &Etcd) -> (Vec<String>, Backend) {
    let port = free_port();
    let ips: Vec<String> = (10..30).map(|i| format!("127.0.0.{i}")).collect();
    for ip in &ips {
        etcd.put(
            &format!("/containerdns/monitor/status/{ip}"),
            &status_entry("pool.example.com.", port),
        );
    }
    (ips, Backend::start("0.0.0.0", port))
}

/// Waits until every address names a checker in `checkers`; the names.
fn wait_checked_by(etcd: &Etcd, ips: &[String], checkers: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let by: Vec<String> = ips
            .iter()
            .map(|ip| {
                status_of(etcd, ip)["checker"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        if by.iter().all(|c| checkers.contains(&c.as_str())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "checked by {by:?}, not only {checkers:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_checkers_share_the_addresses_and_one_takes_over_when_the_other_dies() {
    let etcd = Etcd::start();
    let (ips, _backends) = twenty_backends(&etcd);
    let one = Checker::start(&etcd, "node-1");
    let mut two = Checker::start(&etcd, "node-2");
    wait_checked_by(&etcd, &ips, &["node-1", "node-2"], Duration::from_secs(10));
    // Let the two agree on who is alive, then watch one second of checks.
    sleep(Duration::from_millis(INTERVAL_MS * 3));
    let (one_before, two_before) = (one.checks(), two.checks());
    sleep(Duration::from_secs(1));
    let by_one = checked_between(&one_before, &one.checks());
    let by_two = checked_between(&two_before, &two.checks());
    let all: BTreeSet<String> = ips.iter().cloned().collect();
    assert_eq!(
        by_one.union(&by_two).cloned().collect::<BTreeSet<_>>(),
        all,
        "every address checked\n{}\n{}",
        one.log_text(),
        two.log_text()
    );
    assert!(
        by_one.is_disjoint(&by_two),
        "none by two: {by_one:?} {by_two:?}"
    );
    assert!(
        !by_one.is_empty() && !by_two.is_empty(),
        "the work is shared"
    );
    assert!(etcd.get("/containerdns/monitor/agent/node-2").is_some());

    // SIGKILL: no goodbye; its lease (2 s) runs out and node-1 takes over.
    let killed = Instant::now();
    let _ = two.child.kill();
    let _ = two.child.wait();
    // The lease's 2 s, then one round of node-1 (with room for a loaded machine).
    let takeover = Duration::from_secs(3) + flip_budget();
    wait_checked_by(&etcd, &ips, &["node-1"], takeover);
    let took = killed.elapsed();
    assert!(etcd.get("/containerdns/monitor/agent/node-2").is_none());
    let before = one.checks();
    sleep(Duration::from_secs(1));
    assert_eq!(
        checked_between(&before, &one.checks()),
        all,
        "all checked by node-1"
    );
    for ip in &ips {
        assert_eq!(
            status_of(&etcd, ip)["status"],
            "UP",
            "{ip}: a takeover flips nothing"
        );
    }
    eprintln!("taken over {took:?} after the kill (lease TTL 2 s)");
}

#[test]
fn with_etcd_unreachable_checkers_keep_their_verdicts_and_nothing_flaps() {
    let mut etcd = Etcd::start();
    let port = two_web_backends_in_etcd(&etcd);
    // 127.0.0.3 has no backend: it goes DOWN and stays DOWN.
    let _up = Backend::start("127.0.0.2", port);
    let server = serve_checking_etcd(&etcd);
    let other = Checker::start(&etcd, "node-b");
    until_answer(&server, "web.example.com", &["127.0.0.2"], flip_budget());
    let deadline = Instant::now() + flip_budget();
    while status_of(&etcd, "127.0.0.2")["checker"].is_null() {
        assert!(Instant::now() < deadline, "{}", other.log_text());
        sleep(Duration::from_millis(50));
    }
    let statuses =
        |etcd: &Etcd| ["127.0.0.2", "127.0.0.3"].map(|ip| status_of(etcd, ip)["status"].clone());
    let before = statuses(&etcd);
    assert_eq!(before, [Value::from("UP"), Value::from("DOWN")]);

    // Cut every ferrodns process off etcd for longer than their leases.
    etcd.restart_without_ferrodns();
    let cut = Instant::now();
    while cut.elapsed() < Duration::from_secs(4) {
        assert_eq!(
            short(&server, "web.example.com"),
            ["127.0.0.2"],
            "no flap while cut off"
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(statuses(&etcd), before, "nothing written while cut off");
    etcd.restart();
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(4) {
        assert_eq!(
            short(&server, "web.example.com"),
            ["127.0.0.2"],
            "no flap on return"
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        statuses(&etcd),
        before,
        "the same verdicts after the return"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while ["node-a", "node-b"].iter().any(|node| {
        etcd.get(&format!("/containerdns/monitor/agent/{node}"))
            .is_none()
    }) {
        assert!(
            Instant::now() < deadline,
            "the checkers did not come back: {}",
            other.log_text()
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(statuses(&etcd), before);
}
