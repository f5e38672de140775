//! What the real `ferrodns` binary tells about itself, seen by real peers:
//! `/metrics` on a listener of its own with zone files alone, reloads counted;
//! the query log read back by the `dnstap` tool (from a file and from its
//! socket); containerdns's stats routes checked against a known number of
//! queries sent with queryperf; and the Grafana dashboard's queries against a
//! live scrape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::api::{Api, TOKEN};
use support::etcd::Etcd;
use support::{Knot, Server, ZONE, free_port, run};

/// `GET path` on `port` without a token: status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let reply = Api::new(port).send("GET", path, None, None);
    (reply.status, reply.body)
}

/// The sample `name` (with its labels, as written) of a scrape.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Every sample name of a scrape (what precedes the labels or the value).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Polls `/metrics` on `port` until `done` holds of a scrape (10 s).
fn scrape_until(port: u16, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = get(port, "/metrics");
        if status == 200 && done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "did not see {what}: {text}");
        sleep(Duration::from_millis(100));
    }
}

/// Starts ferrodns with the test zone, `config` as its config file and
/// `extra` flags (`{dir}` is its directory), waiting for its first answer.
fn start(config: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ferrodns.toml");
    fs::write(&path, config).expect("config");
    let mut flags = vec!["--config", path.to_str().unwrap()];
    flags.extend_from_slice(extra);
    let zone = dir.path().join("example.test.zone");
    fs::write(&zone, ZONE).expect("zone");
    let zone_flag = format!("example.test.={}", zone.display());
    let mut args: Vec<String> = ["serve", "--workers", "1", "--zone", zone_flag.as_str()]
        .iter()
        .map(ToString::to_string)
        .collect();
    args.extend(
        flags
            .iter()
            .map(|f| f.replace("{dir}", &dir.path().display().to_string())),
    );
    Server::spawn(dir, args, "web.example.test")
}

/// The workspace's binary `name`, built (in this test's profile) if missing.
fn workspace_binary(package: &str, name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    let profile_dir = test.parent().and_then(Path::parent).expect("target dir");
    let binary = profile_dir.join(name);
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", package, "--bin", name]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().expect("cargo build").success());
    }
    binary
}

#[test]
fn the_metrics_listener_serves_a_zone_file_server_and_counts_reloads() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = start("", &["--metrics", &listen]);
    assert_eq!(get(port, "/healthz"), (200, "ok".to_owned()));
    assert_eq!(get(port, "/readyz"), (200, "ready".to_owned()));
    assert!(support::answered(&server.dig(&[
        "+short",
        "+tcp",
        "web.example.test"
    ])));
    let text = scrape_until(port, "the TCP answer", |text| {
        sample(text, "ferrodns_answer_duration_seconds_count{path=\"tcp\"}") == Some(1.0)
    });
    for present in [
        "ferrodns_queries_total{rcode=\"NOERROR\",qtype=\"A\"}",
        "ferrodns_build_info{version=\"",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
        "ferrodns_source_up{source=\"files\"} 1",
        "ferrodns_connections_limit{class=\"metrics\"} 16",
        "ferrodns_reloads_total{result=\"success\"} 0",
    ] {
        assert!(text.contains(present), "{present} missing from {text}");
    }
    server.signal("-HUP");
    scrape_until(port, "the reload", |text| {
        sample(text, "ferrodns_reloads_total{result=\"success\"}") == Some(1.0)
            && sample(text, "ferrodns_last_reload_success") == Some(1.0)
    });
    // A reload that fails is counted, and the files are stale until one succeeds.
    fs::write(server.path("example.test.zone"), "bad line\n").unwrap();
    server.signal("-HUP");
    scrape_until(port, "the failed reload", |text| {
        sample(text, "ferrodns_reloads_total{result=\"failure\"}") == Some(1.0)
            && sample(text, "ferrodns_source_stale{source=\"files\"}") == Some(1.0)
            && sample(text, "ferrodns_last_reload_success") == Some(0.0)
    });
    assert!(support::answered(
        &server.dig(&["+short", "web.example.test"])
    ));
}

/// The `question rcode` lines of `dnstap -y` output: one per logged message,
/// `CQ <name> <type>` for a query and `CR <name> <type> <rcode>` for an
/// answer.
fn logged(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut kind = "";
    let mut status = String::new();
    for line in yaml.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("type: CLIENT_") {
            kind = if t == "QUERY" { "CQ" } else { "CR" };
        }
        if let Some(rest) = line.strip_prefix(";; opcode: QUERY, status: ") {
            status = rest.split(',').next().unwrap_or_default().to_owned();
        }
        if let Some(question) = line.strip_prefix(';').filter(|q| q.contains("\tIN\t")) {
            let mut words = question.split_whitespace();
            let (name, _, qtype) = (words.next(), words.next(), words.next());
            let mut entry = format!("{kind} {} {}", name.unwrap_or(""), qtype.unwrap_or(""));
            if kind == "CR" {
                entry.push(' ');
                entry.push_str(&status);
            }
            out.push(entry);
        }
    }
    out
}

/// Asks `server` the exchanges the query-log tests check, UDP and TCP.
fn ask(server: &Server) {
    server.dig(&["+short", "web.example.test", "A"]);
    server.dig(&["nope.example.test", "AAAA"]);
    server.dig(&["+tcp", "txt.example.test", "TXT"]);
}

const LOGGED: [&str; 6] = [
    "CQ web.example.test. A",
    "CR web.example.test. A NOERROR",
    "CQ nope.example.test. AAAA",
    "CR nope.example.test. AAAA NXDOMAIN",
    "CQ txt.example.test. TXT",
    "CR txt.example.test. TXT NOERROR",
];

#[test]
fn the_dnstap_tool_reads_the_query_log_from_a_file() {
    let server = start("[dnstap]\nfile = \"queries.dnstap\"\n", &[]);
    let file = server.path("queries.dnstap");
    // The probe's queries (the same as our first) are logged too.
    ask(&server);
    // Stopped, the stream is ended (STOP) and the file complete; the
    // directory lives as long as `server`.
    server.signal("-TERM");
    server.wait_until("the stop", |server| server.log_text().contains("stopped"));
    let yaml = run("dnstap", &["-r", file.to_str().unwrap(), "-y"]);
    let logged = logged(&yaml);
    let ours = logged
        .iter()
        .rposition(|l| l == LOGGED[0])
        .unwrap_or_else(|| panic!("no {:?} in {logged:?}", LOGGED[0]));
    assert_eq!(&logged[ours..], LOGGED, "{yaml}");
}

#[test]
fn the_dnstap_tool_reads_the_query_log_from_its_socket_sampled_and_answers_only() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dnstap.sock");
    let output = dir.path().join("log.yaml");
    let mut reader = Command::new("dnstap")
        .args([
            "-u",
            socket.to_str().unwrap(),
            "-y",
            "-w",
            output.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnstap (tools/test installs golang-github-dnstap-golang-dnstap-cli)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "dnstap did not listen");
        sleep(Duration::from_millis(20));
    }
    let config = format!(
        "[dnstap]\nsocket = \"{}\"\nsample = 2\nqueries = false\n",
        socket.display()
    );
    let server = start(&config, &[]);
    for _ in 0..10 {
        server.dig(&["+short", "web0.example.test", "A"]);
    }
    assert!(server.stop().success());
    // ferrodns ended the stream (STOP, FINISH): the reader has written it all.
    let _ = reader.kill();
    let _ = reader.wait();
    let logged = logged(&fs::read_to_string(&output).unwrap_or_default());
    let ours: Vec<_> = logged.iter().filter(|l| l.contains("web0.")).collect();
    assert_eq!(ours.len(), 5, "one in two answers, no query: {logged:?}");
    assert!(ours.iter().all(|l| *l == "CR web0.example.test. A NOERROR"));
}

/// Writes `queries` (`name type`, repeated `times`) as a queryperf file.
fn query_file(dir: &Path, queries: &[(&str, &str, usize)]) -> PathBuf {
    let path = dir.join("queries.txt");
    let mut text = String::new();
    for (name, qtype, times) in queries {
        for _ in 0..*times {
            text.push_str(&format!("{name} {qtype}\n"));
        }
    }
    fs::write(&path, text).unwrap();
    path
}

/// Sends every query of `file` once with queryperf, over TCP when `tcp`.
fn queryperf(server: &Server, file: &Path, tcp: bool) {
    let mut command = Command::new(workspace_binary("queryperf", "queryperf"));
    command.args([
        "-s",
        "127.0.0.1",
        "-p",
        &server.port.to_string(),
        "-d",
        file.to_str().unwrap(),
        "-q",
        "10",
    ]);
    if tcp {
        command.arg("--tcp");
    }
    let output = command.output().expect("queryperf");
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn containerdns_stats_count_what_queryperf_sent() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    fs::write(&token, TOKEN).unwrap();
    let api_port = free_port();
    let api_listen = format!("127.0.0.1:{api_port}");
    let store = dir.path().join("records.redb");
    let server = start(
        "[stats]\nenabled = true\n",
        &[
            "--api",
            &api_listen,
            "--api-token-file",
            token.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
    );
    let api = Api::new(api_port);
    api.wait_up(&server);
    // The probe's queries are counted within a second or two: wait until
    // the figures stand still before sending ours.
    let mut before = api.get("/containerdns/stats").json();
    loop {
        sleep(Duration::from_millis(1500));
        let now = api.get("/containerdns/stats").json();
        if now == before {
            break;
        }
        before = now;
    }
    let file = query_file(
        dir.path(),
        &[
            ("web0.example.test", "A", 300),
            ("Web1.Example.Test", "A", 200),
            ("missing.example.test", "A", 50),
            ("txt.example.test", "AAAA", 20),
        ],
    );
    queryperf(&server, &file, false);
    let tcp_file = query_file(dir.path(), &[("web1.example.test", "A", 25)]);
    queryperf(&server, &tcp_file, true);
    let sent = 300 + 200 + 50 + 20 + 25;
    let count = |stats: &Value, key: &str| stats[key].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        // Token as containerdns's stats server takes it.
        let reply = api.send(
            "GET",
            &format!("/containerdns/stats?token={TOKEN}"),
            None,
            None,
        );
        let stats = reply.json();
        if count(&stats, "reqCount") >= count(&before, "reqCount") + sent {
            break stats;
        }
        assert!(Instant::now() < deadline, "stats stayed at {stats}");
        sleep(Duration::from_millis(200));
    };
    assert_eq!(count(&after, "reqCount") - count(&before, "reqCount"), sent);
    assert_eq!(
        count(&after, "noNameCount") - count(&before, "noNameCount"),
        50
    );
    assert_eq!(
        count(&after, "noDataCount") - count(&before, "noDataCount"),
        20
    );
    assert_eq!(count(&after, "forwardCount"), 0);
    let top = api.get("/containerdns/stats/top/2").json();
    assert_eq!(
        top,
        serde_json::json!([
            {"reqCount": 300, "domain": "web0.example.test."},
            {"reqCount": 225, "domain": "web1.example.test."},
        ])
    );
    let one = api.get("/containerdns/stats/web1.example.test").json();
    assert_eq!(one["reqCount"], 225);
    let (first, last) = (
        one["firstQueryTime"].as_str(),
        one["lastQueryTime"].as_str(),
    );
    assert!(
        first.is_some_and(|t| t.ends_with('Z')) && first <= last,
        "{one}"
    );
    let unknown = api.get("/containerdns/stats/never.asked.test");
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (404, "domain not found")
    );
    let refused = api.send("GET", "/containerdns/stats/top/5", None, None);
    assert_eq!(refused.status, 401);
    assert_eq!(
        api.get("/containerdns/stats/top/5000")
            .json()
            .as_array()
            .map(Vec::len),
        Some(5)
    );
}

/// The metric names the dashboard's queries use.
fn dashboard_metrics() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/ferrodns.json");
    let dashboard: Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("docs/grafana/ferrodns.json"))
            .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() > 20, "{exprs:?}");
    exprs
        .iter()
        .flat_map(|expr| {
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("ferrodns_") || word.starts_with("process_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query", Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, out)),
        _ => {}
    }
}

#[test]
fn every_metric_the_grafana_dashboard_queries_is_in_a_live_scrape() {
    let etcd = Etcd::start();
    let upstream = Knot::start();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    fs::write(&token, TOKEN).unwrap();
    let (metrics_port, api_port) = (free_port(), free_port());
    let (metrics, api) = (
        format!("127.0.0.1:{metrics_port}"),
        format!("127.0.0.1:{api_port}"),
    );
    let config = format!(
        "[forward]\nnameservers = [\"{}\"]\n[dnstap]\nfile = \"queries.dnstap\"\n",
        upstream.addr()
    );
    let server = start(
        &config,
        &[
            "--metrics",
            &metrics,
            "--api",
            &api,
            "--api-token-file",
            token.to_str().unwrap(),
            "--etcd",
            &etcd.url(),
            "--domain",
            "svc.example.",
        ],
    );
    // A TCP answer, forwarded answers (upstream, then cache) and a reload:
    // every family then has its samples.
    server.dig(&["+tcp", "web.example.test"]);
    server.dig(&["www.upstream.test"]);
    server.dig(&["www.upstream.test"]);
    server.signal("-HUP");
    let text = scrape_until(metrics_port, "the answers and the reload", |text| {
        sample(text, "ferrodns_reloads_total{result=\"success\"}") == Some(1.0)
            && text.contains("ferrodns_answer_duration_seconds_count{path=\"forward_cache\"}")
            && text.contains("ferrodns_forward_upstream_rtt_seconds{")
    });
    let present = sample_names(&text);
    let missing: Vec<_> = dashboard_metrics()
        .into_iter()
        .filter(|name| !present.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, absent from {text}"
    );
}
