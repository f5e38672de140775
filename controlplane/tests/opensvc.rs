//! ferrodns in place of `pdns_server` for an OpenSVC cluster: both read the same
//! agent socket (the agent written in `support/opensvc.rs` after om3's code)
//! and must answer alike; ferrodns follows the agent's changes while queries
//! run, keeps serving when the agent dies, and catches up when it comes back.
//! The deliberate differences (docs/opensvc.md) are asserted as such.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/differential.rs"]
mod differential;
#[path = "support/opensvc.rs"]
mod opensvc;
mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use differential::{Answer, ask};
use opensvc::{Agent, Cluster, PdnsServer};
use serde_json::Value;
use support::{Server, free_port, lines};

const TYPES: &[&str] = &["A", "AAAA", "SRV", "PTR", "SOA", "NS", "TXT", "MX", "CNAME"];

/// `ferrodns serve` reading the agent's socket, with the API (for `/metrics`)
/// on `api_port` when given, and `extra` flags.
fn ferrodns(agent: &Agent, extra: &[&str], api_port: Option<u16>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--workers".into(),
        "1".into(),
        "--pdns-remote".into(),
        format!("unix:path={}", agent.path.display()),
    ];
    if let Some(port) = api_port {
        let store = dir.path().join("records.redb").display().to_string();
        args.extend([
            "--store".into(),
            store,
            "--api".into(),
            format!("127.0.0.1:{port}"),
        ]);
    }
    args.extend(extra.iter().map(ToString::to_string));
    Server::spawn_with_env(dir, args, &[("FERRODNS_API_TOKEN", "t")], "ns1.cluster1.")
}

/// The owners of the agent's records, lowered.
fn owners(cluster: &Cluster) -> BTreeSet<String> {
    let order: Vec<usize> = (0..cluster.instances.len()).collect();
    cluster
        .zone(&order)
        .iter()
        .map(|r| r["qname"].as_str().unwrap().to_ascii_lowercase())
        .collect()
}

/// The names between the apex and the owners that hold nothing themselves.
fn empty_non_terminals(owners: &BTreeSet<String>, apex: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for owner in owners.iter().filter(|o| o.ends_with(apex)) {
        let mut rest = owner.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.len() <= apex.len() {
                break;
            }
            if !owners.contains(parent) {
                out.insert(parent.to_owned());
            }
            rest = parent;
        }
    }
    out
}

/// An answer with every SOA serial replaced: ferrodns serves its own rising
/// serial where the agent says 1 forever (docs/opensvc.md).
fn without_serials(answer: &Answer) -> Answer {
    let strip = |records: &BTreeSet<String>| {
        records
            .iter()
            .map(|record| {
                let mut fields: Vec<&str> = record.split(' ').collect();
                if fields.get(3) == Some(&"SOA") && fields.len() > 6 {
                    fields[6] = "SERIAL";
                }
                fields.join(" ")
            })
            .collect()
    };
    Answer {
        status: answer.status.clone(),
        aa: answer.aa,
        tc: answer.tc,
        answer: strip(&answer.answer),
        authority: strip(&answer.authority),
    }
}

#[test]
fn ferrodns_answers_as_pdns_server_does_from_the_same_agent() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::sample();
    let agent = Agent::start(&dir.path().join("pdns.sock"), cluster.clone());
    let pdns = PdnsServer::start(&agent.path, "ns1.cluster1.");
    let ferrodns = ferrodns(&agent, &[], None);

    let owners = owners(&cluster);
    let mut names = owners.clone();
    names.extend(["nope.cluster1.", "x.web.ns1.svc.cluster1.", "other.test."].map(String::from));
    let questions: Vec<(String, &str)> = names
        .iter()
        .flat_map(|name| TYPES.iter().map(move |t| (name.clone(), *t)))
        .collect();
    let theirs = ask(pdns.port, &questions);
    let ours = ask(ferrodns.port, &questions);
    let mut differences = String::new();
    for (i, (name, qtype)) in questions.iter().enumerate() {
        let (theirs, ours) = (without_serials(&theirs[i]), without_serials(&ours[i]));
        if theirs != ours {
            writeln!(
                differences,
                "{name} {qtype}:\n  pdns:     {theirs:?}\n  ferrodns: {ours:?}"
            )
            .unwrap();
        }
    }
    assert!(
        differences.is_empty(),
        "ferrodns and pdns_server disagree:\n{differences}"
    );
    // Every kind of answer was compared: records, NODATA, NXDOMAIN, REFUSED
    // (the PTR records lie outside the agent's zone: pdns_server has no zone
    // for them either).
    let statuses: BTreeSet<&str> = ours.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(statuses, BTreeSet::from(["NOERROR", "NXDOMAIN", "REFUSED"]));
    assert!(ours.iter().any(|a| a.answer.len() > 1));
    assert!(
        ours.iter()
            .any(|a| a.status == "NOERROR" && a.answer.is_empty())
    );
    // The apex SOA, repeated by the agent per DNS node, is one record.
    let soa = ask(ferrodns.port, &[("cluster1.".to_owned(), "SOA")]);
    assert_eq!(soa[0].answer.len(), 1, "{:?}", soa[0]);

    // Deliberate difference: empty non-terminals are NODATA here (RFC 8020),
    // NXDOMAIN from pdns_server.
    let ents = empty_non_terminals(&owners, "cluster1.");
    assert!(
        ents.contains("svc.cluster1.") && ents.contains("node.cluster1."),
        "{ents:?}"
    );
    let questions: Vec<(String, &str)> = ents.iter().map(|n| (n.clone(), "A")).collect();
    for (theirs, ours) in ask(pdns.port, &questions)
        .iter()
        .zip(ask(ferrodns.port, &questions))
    {
        assert_eq!(
            (theirs.status.as_str(), ours.status.as_str()),
            ("NXDOMAIN", "NOERROR")
        );
        assert_eq!(
            without_serials(theirs).authority,
            without_serials(&ours).authority
        );
    }
    // Every request ferrodns sent fitted the agent's read and named a method
    // the agent knows (pdns_server's requests are in the same list).
    let requests = agent.requests.lock().unwrap().clone();
    let methods: BTreeSet<String> = requests
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(r).ok())
        .filter_map(|r| r["method"].as_str().map(str::to_owned))
        .collect();
    assert!(
        methods.contains("list") && methods.contains("lookup"),
        "{methods:?}"
    );
    assert!(requests.iter().all(|r| r.len() <= 1024));
}

#[test]
fn reverse_zones_declared_with_domain_serve_the_agents_ptr_records() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(&dir.path().join("pdns.sock"), Cluster::sample());
    let ferrodns = ferrodns(&agent, &["--domain", "10.in-addr.arpa."], None);
    assert_eq!(
        lines(&ferrodns.dig(&["+short", "1.0.1.10.in-addr.arpa.", "PTR"])),
        [
            "web-a.web.ns1.svc.cluster1.",
            "web-a.web.ns1.svc.n1.node.cluster1."
        ]
    );
    assert_eq!(
        lines(&ferrodns.dig(&["+short", "9.0.1.10.in-addr.arpa.", "PTR"])),
        ["0.db.root.svc.cluster1.", "0.db.root.svc.n1.node.cluster1."]
    );
}

#[test]
fn the_operators_verification_commands_give_the_agents_records() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::sample();
    let agent = Agent::start(&dir.path().join("pdns.sock"), cluster.clone());
    let ferrodns = ferrodns(&agent, &[], None);
    // dig +short cluster1. SOA @IP -p PORT
    let soa = lines(&ferrodns.dig(&["+short", "cluster1.", "SOA"]));
    assert_eq!(soa.len(), 1);
    assert!(
        soa[0].starts_with("dns.cluster1. contact\\@opensvc.com. ")
            && soa[0].ends_with(" 7200 3600 432000 86400"),
        "{soa:?}"
    );
    // dig +noall +answer cluster1. AXFR @IP -p PORT
    let axfr = ferrodns.dig(&["+noall", "+answer", "cluster1.", "AXFR"]);
    let transferred: BTreeSet<String> = axfr
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    let order: Vec<usize> = (0..cluster.instances.len()).collect();
    for record in cluster.zone(&order) {
        let (qname, qtype) = (
            record["qname"].as_str().unwrap(),
            record["qtype"].as_str().unwrap(),
        );
        if !qname.ends_with("cluster1.") || qtype == "SOA" {
            continue;
        }
        let content = record["content"].as_str().unwrap();
        let line = format!("{qname} {} IN {qtype} {content}", record["ttl"]);
        assert!(
            transferred.contains(&line),
            "{line} missing from the AXFR:\n{axfr}"
        );
    }
    assert_eq!(
        axfr.lines().filter(|l| l.contains("\tSOA\t")).count(),
        2,
        "{axfr}"
    );
}

/// Asks `name` A over UDP from its own socket until `stop`, counting answers
/// by rcode; the A records of the latest answer are kept.
struct Prober {
    stop: Arc<AtomicBool>,
    servfail: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Prober {
    fn start(port: u16, name: &'static str) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let (servfail, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let thread = {
            let (stop, servfail, answered) = (stop.clone(), servfail.clone(), answered.clone());
            thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.connect(("127.0.0.1", port)).unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut query = vec![0x42, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
                for label in name.trim_end_matches('.').split('.') {
                    query.push(label.len() as u8);
                    query.extend_from_slice(label.as_bytes());
                }
                query.extend_from_slice(&[0, 0, 1, 0, 1]);
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::SeqCst) {
                    socket.send(&query).unwrap();
                    if let Ok(n) = socket.recv(&mut buf)
                        && n >= 4
                    {
                        answered.fetch_add(1, Ordering::SeqCst);
                        if buf[3] & 0x0F == 2 {
                            servfail.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    sleep(Duration::from_millis(5));
                }
            })
        };
        Prober {
            stop,
            servfail,
            answered,
            thread: Some(thread),
        }
    }

    /// Stops and returns (answered, SERVFAIL).
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        (
            self.answered.load(Ordering::SeqCst),
            self.servfail.load(Ordering::SeqCst),
        )
    }
}

/// Waits until `dig +short name A` gives `expected` (sorted); the time it took.
fn wait_for(server: &Server, name: &str, expected: &[&str], limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = lines(&server.dig(&["+short", name, "A"]));
        if got == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{name}: still {got:?}, expected {expected:?}: {}",
            server.log_text()
        );
        sleep(Duration::from_millis(10));
    }
}

fn metrics(port: u16) -> String {
    let output = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/metrics"),
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value of the first sample of `family` in a scrape.
fn sample(text: &str, family: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(family) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn changes_are_followed_while_queries_run_and_the_last_data_outlives_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(&dir.path().join("pdns.sock"), Cluster::sample());
    let config = dir.path().join("ferrodns.toml");
    support::write(
        &config,
        &format!(
            "[pdns_remote]\nconnections = [\"unix:path={}\"]\npoll_interval_ms = 200\n",
            agent.path.display()
        ),
    );
    let api = free_port();
    let server = {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("records.redb").display().to_string();
        let args: Vec<String> = [
            "serve",
            "--workers",
            "1",
            "--config",
            &config.display().to_string(),
            "--store",
            &store,
            "--api",
            &format!("127.0.0.1:{api}"),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        Server::spawn_with_env(dir, args, &[("FERRODNS_API_TOKEN", "t")], "ns1.cluster1.")
    };
    let web = "web.ns1.svc.cluster1.";
    wait_for(
        &server,
        web,
        &["10.1.0.1", "10.1.0.2"],
        Duration::from_secs(5),
    );
    let prober = Prober::start(server.port, web);

    // The service moves: n2's instance gets a new address; then a third node
    // joins; then n1 leaves.
    let mut delays = Vec::new();
    agent.update(|c| c.instances[1].resources[0].ip = "10.1.0.3".parse().unwrap());
    delays.push(wait_for(
        &server,
        web,
        &["10.1.0.1", "10.1.0.3"],
        Duration::from_secs(5),
    ));
    agent.update(|c| {
        let mut third = c.instances[1].clone();
        third.node = "n3".into();
        third.resources[0].ip = "10.1.0.4".parse().unwrap();
        c.instances.push(third);
    });
    delays.push(wait_for(
        &server,
        web,
        &["10.1.0.1", "10.1.0.3", "10.1.0.4"],
        Duration::from_secs(5),
    ));
    agent.update(|c| {
        c.instances.remove(0);
    });
    delays.push(wait_for(
        &server,
        web,
        &["10.1.0.3", "10.1.0.4"],
        Duration::from_secs(5),
    ));
    assert!(
        lines(&server.dig(&["+short", "web.ns1.svc.n1.node.cluster1.", "A"])).is_empty(),
        "n1's name went with its instance"
    );
    eprintln!("change-to-answer delays with a 200 ms poll interval: {delays:?}");

    // The agent dies: answers keep coming from the last data, and the source
    // is reported stale.
    agent.kill();
    server.wait_until("the source reported stale", |_| {
        sample(&metrics(api), "ferrodns_pdns_remote_up{") == Some(0.0)
    });
    assert_eq!(
        lines(&server.dig(&["+short", web, "A"])),
        ["10.1.0.3", "10.1.0.4"]
    );
    let scrape = metrics(api);
    assert!(
        sample(&scrape, "ferrodns_pdns_remote_errors_total{").unwrap_or(0.0) >= 1.0,
        "{scrape}"
    );
    assert!(
        sample(
            &scrape,
            "ferrodns_pdns_remote_last_success_timestamp_seconds{"
        )
        .is_some()
    );

    // It comes back with news: ferrodns reconnects and follows.
    agent.update(|c| c.instances[0].resources[0].ip = "10.1.0.5".parse().unwrap());
    let restarted = agent.restart();
    wait_for(
        &server,
        web,
        &["10.1.0.4", "10.1.0.5"],
        Duration::from_secs(15),
    );
    server.wait_until("the source reported up", |_| {
        sample(&metrics(api), "ferrodns_pdns_remote_up{") == Some(1.0)
    });
    let (answered, servfail) = prober.finish();
    assert!(answered > 100, "{answered} answers");
    assert_eq!(
        servfail, 0,
        "SERVFAIL while the agent changed, died and came back"
    );
    drop(restarted);
}

#[test]
fn readyz_waits_for_the_agents_first_answer() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pdns.sock");
    let zone = dir.path().join("ready.test.zone");
    support::write(&zone, "$TTL 60\nwww IN A 192.0.2.1\n");
    let api = free_port();
    let server = {
        let state = tempfile::tempdir().unwrap();
        let store = state.path().join("records.redb").display().to_string();
        let args: Vec<String> = [
            "serve",
            "--workers",
            "1",
            "--pdns-remote",
            &format!("unix:path={},timeout=500", socket.display()),
            "--zone",
            &format!("ready.test.={}", zone.display()),
            "--store",
            &store,
            "--api",
            &format!("127.0.0.1:{api}"),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        Server::spawn_with_env(
            state,
            args,
            &[("FERRODNS_API_TOKEN", "t")],
            "www.ready.test.",
        )
    };
    let readyz = || {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://127.0.0.1:{api}/readyz"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    server.wait_until("the API up", |_| !readyz().is_empty() && readyz() != "000");
    assert_eq!(readyz(), "503", "no agent yet: its zone is not served");
    assert_eq!(sample(&metrics(api), "ferrodns_pdns_remote_up{"), Some(0.0));
    let _agent = Agent::start(&socket, Cluster::sample());
    server.wait_until("/readyz 200 once the agent answered", |_| readyz() == "200");
    assert_eq!(
        lines(&server.dig(&["+short", "ns1.cluster1.", "A"])),
        ["10.0.0.53"]
    );
}
