//! queryperf against the real `ferrodns` binary over UDP and TCP: every query sent
//! is answered and counted, response codes are counted by name (NXDOMAIN for the
//! missing name), the summary carries dnsperf's labels, `--json` parses, and a bad
//! query file is refused naming the line.
//!
//! Uses controlplane's test support (free ports reserved across test processes,
//! `Server::start`), so ferrodns is started exactly as its own tests start it.

#[path = "../../../controlplane/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output};

use support::{Server, ZONE};

/// Four names that exist (A, AAAA, SRV, CNAME) and one that does not.
const QUERIES: &str = "\
; the mix: 4 answers, 1 NXDOMAIN
web.example.test A
web.example.test AAAA
_http._tcp.web.example.test SRV
www.example.test A
missing.example.test A
";

fn start() -> (Server, std::path::PathBuf) {
    let server = Server::start(&[("example.test.", ZONE)], &[], "web.example.test");
    let queries = server.path("queries.txt");
    support::write(&queries, QUERIES);
    (server, queries)
}

fn queryperf(server: &Server, queries: &std::path::Path, extra: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_queryperf"))
        .args(["-s", "127.0.0.1", "-p", &server.port.to_string(), "-d"])
        .arg(queries)
        .args(extra)
        .output()
        .expect("run queryperf");
    assert!(
        output.status.success(),
        "queryperf failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The number after `label` in the summary.
fn figure(summary: &str, label: &str) -> f64 {
    let line = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` in\n{summary}"));
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{label}` in {line:?}"))
}

fn check_summary(summary: &str) {
    let sent = figure(summary, "Queries sent:");
    assert!(sent >= 1000.0, "sent only {sent}:\n{summary}");
    assert_eq!(figure(summary, "Queries completed:"), sent, "{summary}");
    assert_eq!(figure(summary, "Queries lost:"), 0.0, "{summary}");
    assert!(figure(summary, "Queries per second:") > 0.0, "{summary}");
    assert!(figure(summary, "Average Latency (s):") > 0.0, "{summary}");
    assert!(figure(summary, "Latency p99 (s):") > 0.0, "{summary}");
    let rcodes = summary
        .lines()
        .find(|l| l.trim().starts_with("Response codes:"))
        .expect("response codes line");
    let count = |rcode: &str| {
        let mut words = rcodes.split_whitespace();
        words.find(|w| *w == rcode)?;
        words.next()?.parse::<f64>().ok()
    };
    let nxdomain = count("NXDOMAIN").unwrap_or(0.0);
    assert!(
        (0.19..=0.21).contains(&(nxdomain / sent)),
        "one query in five is for a missing name: {rcodes}"
    );
    assert_eq!(count("NOERROR").unwrap_or(0.0) + nxdomain, sent, "{rcodes}");
}

#[test]
fn udp_run_answers_every_query_and_counts_rcodes() {
    let (server, queries) = start();
    let out = queryperf(
        &server,
        &queries,
        &["-l", "1", "-Q", "5000", "-c", "2", "-T", "2", "-e"],
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    check_summary(&summary);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("qps") && progress.contains("loss") && progress.contains("p99"),
        "no progress line: {progress}"
    );
}

#[test]
fn tcp_run_answers_every_query_and_counts_rcodes() {
    let (server, queries) = start();
    let out = queryperf(
        &server,
        &queries,
        &["--tcp", "-l", "1", "-Q", "5000", "-c", "2"],
    );
    check_summary(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn json_reports_the_same_counts() {
    let (server, queries) = start();
    for transport in [&[][..], &["--tcp"][..]] {
        let args = [transport, &["--json"]].concat();
        let out = queryperf(&server, &queries, &args);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("--json prints JSON");
        assert_eq!(json["queries_sent"], 5, "the file once: {json}");
        assert_eq!(json["queries_completed"], 5, "{json}");
        assert_eq!(json["queries_lost"], 0, "{json}");
        assert_eq!(json["rcodes"]["NOERROR"], 4, "{json}");
        assert_eq!(json["rcodes"]["NXDOMAIN"], 1, "{json}");
        let expected = if transport.is_empty() { "udp" } else { "tcp" };
        assert_eq!(json["transport"], expected);
    }
}

#[test]
fn a_bad_query_file_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("bad.txt");
    support::write(&queries, "web.example.test A\nweb.example.test BOGUS\n");
    let out = Command::new(env!("CARGO_BIN_EXE_queryperf"))
        .args(["-p", "9", "-d"])
        .arg(&queries)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.txt line 2") && stderr.contains("BOGUS"),
        "{stderr}"
    );
}
