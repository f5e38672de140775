//! queryperf as a drop-in for dnsperf (issue 18): the real `dnsperf` and
//! `queryperf` run with the same flags against the same ferrodns, and their
//! output must have the same shape line by line (numbers aside; queryperf adds
//! latency percentiles), for dnsperf's flags `-n`, `-S`, `-v`, `-W`, `-m`,
//! `-f`, `-x`, `-b` and queries on standard input.

#[path = "../../../controlplane/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Output, Stdio};

use support::{Server, ZONE};

const QUERIES: &str = "web.example.test A\nmissing.example.test A\n";

/// ferrodns serving the test zone, its port, and the query file's path.
fn start() -> (Server, String, String) {
    let server = Server::start(&[("example.test.", ZONE)], &[], "web.example.test");
    let queries = server.path("queries.txt");
    support::write(&queries, QUERIES);
    let port = server.port.to_string();
    (server, port, queries.display().to_string())
}

/// `words` split on spaces, as arguments.
fn words(words: &str) -> Vec<String> {
    words.split_whitespace().map(str::to_owned).collect()
}

fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program} (Debian package dnsperf for dnsperf): {e}"));
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn queryperf<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: Option<&str>) -> Output {
    run(env!("CARGO_BIN_EXE_queryperf"), args, stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A line's shape: digits runs as `#`, the command line and the tool's name
/// left out, and queryperf's extra percentile lines dropped.
fn shape(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| !line.starts_with("  Latency p"))
        .map(|line| {
            let line = line.replace(" (queryperf)", "");
            let line = match line.split_once("Command line: ") {
                Some((head, _)) => format!("{head}Command line: …"),
                None => line,
            };
            let mut shape = String::new();
            for c in line.chars() {
                if c.is_ascii_digit() {
                    if !shape.ends_with('#') {
                        shape.push('#');
                    }
                } else {
                    shape.push(c);
                }
            }
            shape.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .skip_while(String::is_empty)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

#[test]
fn the_output_has_dnsperfs_shape_line_by_line() {
    let (_server, port, file) = start();
    for flags in ["-n 3", "-l 1 -Q 500", "-n 2 -l 5 -v", "-n 1 -m tcp"] {
        let args = words(&format!("-s 127.0.0.1 -p {port} -d {file} {flags}"));
        let dnsperf = run("dnsperf", &args, None);
        let ours = queryperf(&args, None);
        assert!(ours.status.success(), "{}", text(&ours.stderr));
        let (theirs, ours) = (text(&dnsperf.stdout), text(&ours.stdout));
        let mut expected = shape(&theirs);
        let mut got = shape(&ours);
        if flags.contains("-v") {
            // Replies come back in their own order: compare the sets.
            expected.sort();
            got.sort();
        }
        assert_eq!(
            got, expected,
            "{flags}\n--- dnsperf:\n{theirs}\n--- queryperf:\n{ours}"
        );
    }
}

#[test]
fn stats_lines_every_interval_and_no_progress_after_the_run() {
    let (_server, port, file) = start();
    let out = queryperf(
        &words(&format!("-p {port} -d {file} -l 2 -Q 1000 -S 1")),
        None,
    );
    let stdout = text(&out.stdout);
    let intervals: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(": ") && !l.starts_with('[') && !l.starts_with(' '))
        .collect();
    assert_eq!(intervals.len(), 2, "one per second of sending:\n{stdout}");
    for line in intervals {
        assert_eq!(shape(line), ["#.#: #.#"], "dnsperf's `-S` line: {line}");
    }
    // Without -S, queryperf's own line every second on standard error: two for
    // a two-second run, none for the wait for the last replies.
    let out = queryperf(&words(&format!("-p {port} -d {file} -l 2 -Q 1000")), None);
    let progress = text(&out.stderr);
    assert_eq!(progress.lines().count(), 2, "{progress}");
    assert!(
        progress.lines().all(|l| l.contains("loss   0.00%")),
        "{progress}"
    );
}

#[test]
fn queries_come_from_standard_input_without_d() {
    let (_server, port, _) = start();
    let out = queryperf(&words(&format!("-p {port} --json -n 2")), Some(QUERIES));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["queries_sent"], 4, "{json}");
    assert_eq!(json["queries_completed"], 4, "{json}");
    assert!(
        text(&out.stderr).contains("[Status] Command line"),
        "with --json the narrative goes to standard error"
    );
}

#[test]
fn socket_flags_bind_size_and_pick_the_family() {
    let (_server, port, file) = start();
    // -x binds the sockets: a port in use stops the run, naming it.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local_port = taken.local_addr().unwrap().port().to_string();
    let bound = |flags: &str| queryperf(&words(&format!("-p {port} -d {file} {flags}")), None);
    let out = bound(&format!("-a 127.0.0.1 -x {local_port}"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("in use"), "{stderr}");
    drop(taken);
    let out = bound(&format!("-x {local_port} -c 2 -b 256 --json"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["queries_completed"], 2, "{}", text(&out.stderr));
    // -f inet picks localhost's IPv4 address.
    let out = bound("-s localhost -f inet");
    assert!(
        text(&out.stdout).contains(&format!("Sending queries (to 127.0.0.1:{port})")),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn w_sends_errors_to_standard_output() {
    let missing = ["-d", "/nonexistent/queries.txt"];
    let out = queryperf(&missing, None);
    assert!(text(&out.stderr).contains("cannot read query file"));
    assert!(out.stdout.is_empty());
    let out = queryperf(&[&missing[..], &["-W"]].concat(), None);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("cannot read query file"));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}
