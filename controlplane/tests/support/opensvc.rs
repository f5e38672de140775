//! An OpenSVC cluster's DNS side, for the tests: an agent serving its cluster
//! zone on a unix socket in PowerDNS's remote-backend protocol, written here
//! after the agent's own code (opensvc/om3 `daemon/dns`), and a real
//! `pdns_server` configured like OpenSVC's `pdns.conf` template.
//!
//! The agent behaves as om3's `uds.go` does: each connection is read with one
//! 1,024-byte read per request (a one-second read deadline, looped over while
//! idle), the bytes read are taken as one JSON request, a request that does not
//! parse closes the connection, and a method it does not know gets no answer at
//! all. Replies are `{"result":…}` and a newline. Its records are those of
//! om3's `main_cmd.go`: per DNS node the apex SOA
//! `dns.<cluster>. contact@opensvc.com 1 7200 3600 432000 86400`, `ns<i>.<cluster>.`
//! A and the apex NS; per instance resource with an address, A/AAAA at
//! `<name>.<ns>.<kind>.<cluster>.` and `<name>.<ns>.<kind>.<node>.node.<cluster>.`,
//! the same under the resource's hostname (or its index), the PTRs of the
//! address, and an SRV per `expose`. The zone's records come in a different order
//! on every `list`, as from the agent's Go map.
//!
//! Not a submodule of `support` (ferroctl's and queryperf's tests include that
//! one without the crates this needs): a test includes it with
//! `#[path = "support/opensvc.rs"] mod opensvc;` beside `mod support;`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{start_peer, write};

/// One resource of an instance: its address, hostname and exposed ports.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) rid: &'static str,
    pub(crate) ip: IpAddr,
    pub(crate) hostname: Option<&'static str>,
    /// `BACKEND/NETWORK[:FRONTEND]`, such as `80/tcp` or `443/tcp:8443`.
    pub(crate) expose: Vec<&'static str>,
}

/// An object instance on a node: `<name>.<namespace>.<kind>` on `node`.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) namespace: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) node: String,
    pub(crate) resources: Vec<Resource>,
}

/// What the agent knows: the cluster, its DNS nodes, its instances.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) name: &'static str,
    pub(crate) dns: Vec<&'static str>,
    pub(crate) instances: Vec<Instance>,
}

fn record(qtype: &str, qname: &str, content: &str, ttl: u32) -> Value {
    json!({"qname": qname, "qtype": qtype, "ttl": ttl, "content": content, "domain_id": -1})
}

impl Cluster {
    /// `cluster1` with two DNS nodes and three instances: `web` in `ns1` on two
    /// nodes (hostnames, ports exposed, an IPv6 address) and `db` in `root`.
    pub(crate) fn sample() -> Cluster {
        let ip = |text: &str| text.parse().unwrap();
        Cluster {
            name: "cluster1",
            dns: vec!["10.0.0.53", "10.0.0.54"],
            instances: vec![
                Instance {
                    name: "web".into(),
                    namespace: "ns1",
                    kind: "svc",
                    node: "n1".into(),
                    resources: vec![
                        Resource {
                            rid: "ip#0",
                            ip: ip("10.1.0.1"),
                            hostname: Some("web-a"),
                            expose: vec!["80/tcp", "443/tcp:8443"],
                        },
                        Resource {
                            rid: "ip#1",
                            ip: ip("fd00::1"),
                            hostname: None,
                            expose: vec![],
                        },
                    ],
                },
                Instance {
                    name: "web".into(),
                    namespace: "ns1",
                    kind: "svc",
                    node: "n2".into(),
                    resources: vec![Resource {
                        rid: "ip#0",
                        ip: ip("10.1.0.2"),
                        hostname: Some("web-b"),
                        expose: vec!["80/tcp"],
                    }],
                },
                Instance {
                    name: "db".into(),
                    namespace: "root",
                    kind: "svc",
                    node: "n1".into(),
                    resources: vec![Resource {
                        rid: "ip#0",
                        ip: ip("10.1.0.9"),
                        hostname: None,
                        expose: vec!["5432/tcp"],
                    }],
                },
            ],
        }
    }

    /// The zone as the agent's `list` gives it, instances in `order`.
    pub(crate) fn zone(&self, order: &[usize]) -> Vec<Value> {
        let zone = format!("{}.", self.name);
        let mut out = Vec::new();
        for (i, dns) in self.dns.iter().enumerate() {
            let ns = format!("ns{}.{zone}", i + 1);
            let soa = format!("dns.{zone} contact@opensvc.com 1 7200 3600 432000 86400");
            out.push(record("SOA", &zone, &soa, 60));
            out.push(record("A", &ns, dns, 60));
            out.push(record("NS", &zone, &ns, 3600));
        }
        for &i in order {
            if let Some(instance) = self.instances.get(i) {
                out.extend(self.instance_records(instance));
            }
        }
        out
    }

    /// The records of one instance, as om3's `onInstanceStatusUpdated` stages them.
    fn instance_records(&self, instance: &Instance) -> Vec<Value> {
        let cluster = self.name;
        let Instance {
            name,
            namespace,
            kind,
            node,
            ..
        } = instance;
        let fqdn = format!("{name}.{namespace}.{kind}.{cluster}.");
        let on_node = format!("{name}.{namespace}.{kind}.{node}.node.{cluster}.");
        let mut out = Vec::new();
        for resource in &instance.resources {
            let a = if resource.ip.is_ipv4() { "A" } else { "AAAA" };
            let ip = resource.ip.to_string();
            let prefix = resource
                .hostname
                .map(str::to_owned)
                .or_else(|| resource.rid.split('#').nth(1).map(str::to_owned));
            let reverse = reverse_name(resource.ip);
            out.push(record(a, &fqdn, &ip, 60));
            match &prefix {
                Some(prefix) => {
                    let res_name = format!("{prefix}.{fqdn}");
                    out.push(record(a, &res_name, &ip, 60));
                    out.push(record("PTR", &reverse, &res_name, 60));
                }
                None => out.push(record("PTR", &reverse, &fqdn, 60)),
            }
            out.push(record(a, &on_node, &ip, 60));
            match &prefix {
                Some(prefix) => {
                    let res_on_node = format!("{prefix}.{on_node}");
                    out.push(record(a, &res_on_node, &ip, 60));
                    out.push(record("PTR", &reverse, &res_on_node, 60));
                }
                None => out.push(record("PTR", &reverse, &on_node, 60)),
            }
            for expose in &resource.expose {
                let (backend, network) = expose.split_once('/').unwrap();
                let (network, frontend) = network.split_once(':').unwrap_or((network, backend));
                let owner = format!("_{frontend}._{network}.{fqdn}");
                let content = format!("0 10 {backend} {on_node}");
                out.push(record("SRV", &owner, &content, 60));
            }
        }
        out
    }
}

/// The reverse-lookup name of an address, as Go's `reverseAddr`.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(v6) => {
            let mut out = String::new();
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0xF, byte >> 4));
            }
            out + "ip6.arpa."
        }
    }
}

/// The agent's socket server; [`Agent::kill`] closes everything at once, as
/// the process dying would.
pub(crate) struct Agent {
    pub(crate) path: PathBuf,
    cluster: Arc<Mutex<Cluster>>,
    stopped: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<UnixStream>>>,
    /// Every request line received, for checks on what clients send.
    pub(crate) requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Agent {
    /// Serves `cluster` on `path` (removed first, as the agent does).
    pub(crate) fn start(path: &Path, cluster: Cluster) -> Agent {
        let cluster = Arc::new(Mutex::new(cluster));
        Agent::serve(path, cluster, Arc::default())
    }

    fn serve(
        path: &Path,
        cluster: Arc<Mutex<Cluster>>,
        requests: Arc<Mutex<Vec<Vec<u8>>>>,
    ) -> Agent {
        let _ = fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let agent = Agent {
            path: path.to_owned(),
            cluster,
            stopped: Arc::default(),
            connections: Arc::default(),
            requests,
        };
        let (cluster, stopped, connections, requests) = (
            Arc::clone(&agent.cluster),
            Arc::clone(&agent.stopped),
            Arc::clone(&agent.connections),
            Arc::clone(&agent.requests),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                connections
                    .lock()
                    .unwrap()
                    .push(stream.try_clone().unwrap());
                let (cluster, requests) = (Arc::clone(&cluster), Arc::clone(&requests));
                thread::spawn(move || serve_connection(stream, &cluster, &requests));
            }
        });
        agent
    }

    /// Changes what the agent serves.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Cluster)) {
        change(&mut self.cluster.lock().unwrap());
    }

    /// Stops like a killed process: connections reset, socket file gone. Once:
    /// a later call (the drop of a killed agent) leaves a restarted one alone.
    pub(crate) fn kill(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wakes the accept loop so that it sees it is stopped.
        let _ = UnixStream::connect(&self.path);
        for stream in self.connections.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let _ = fs::remove_file(&self.path);
    }

    /// A new agent process on the same socket, with what this one knew.
    pub(crate) fn restart(&self) -> Agent {
        Agent::serve(
            &self.path,
            Arc::clone(&self.cluster),
            Arc::clone(&self.requests),
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One client connection, as om3's `serve`.
fn serve_connection(
    mut stream: UnixStream,
    cluster: &Mutex<Cluster>,
    requests: &Mutex<Vec<Vec<u8>>>,
) {
    let mut buffer = [0u8; 1024];
    loop {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let n = match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        };
        let message = &buffer[..n];
        requests.lock().unwrap().push(message.to_vec());
        let Ok(request) = serde_json::from_slice::<Value>(message) else {
            return;
        };
        let parameters = &request["parameters"];
        let cluster = cluster.lock().unwrap().clone();
        let zone = format!("{}.", cluster.name);
        let result = match request["method"].as_str().unwrap_or_default() {
            "initialize" => json!(true),
            "getAllDomains" => json!([{"zone": cluster.name}]),
            "getAllDomainMetadata" => json!({"ALLOW-AXFR-FROM": ["0.0.0.0/0", "AUTO-NS"]}),
            "getDomainMetadata" if parameters["kind"] == "ALLOW-AXFR-FROM" => {
                json!(["0.0.0.0/0", "AUTO-NS"])
            }
            "getDomainMetadata" => json!([]),
            "list" if parameters["zonename"] == zone.as_str() => {
                json!(cluster.zone(&shuffled(&cluster)))
            }
            "list" => json!([]),
            "lookup" => {
                let (qname, qtype) = (&parameters["qname"], &parameters["qtype"]);
                let matching: Vec<Value> = cluster
                    .zone(&shuffled(&cluster))
                    .into_iter()
                    .filter(|r| r["qname"] == *qname && (qtype == "ANY" || r["qtype"] == *qtype))
                    .collect();
                json!(matching)
            }
            // Unknown methods: no answer at all.
            _ => continue,
        };
        let mut line = serde_json::to_vec(&json!({ "result": result })).unwrap();
        line.push(b'\n');
        if stream.write_all(&line).is_err() {
            return;
        }
    }
}

/// The instances in a random order, as the agent's map iteration gives them.
fn shuffled(cluster: &Cluster) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cluster.instances.len()).collect();
    fastrand::shuffle(&mut order);
    order
}

/// `pdns_server` with the remote backend on `socket`, configured like OpenSVC's
/// `pdns.conf` template (every cache off), on a free loopback port.
pub(crate) struct PdnsServer {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl PdnsServer {
    pub(crate) fn start(socket: &Path, probe: &str) -> PdnsServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (child, port) = start_peer("pdns_server", probe, |port| {
            write(
                &dir.path().join("pdns.conf"),
                &format!(
                    "daemon=no\nguardian=no\nlaunch=remote\nlog-dns-details\nlog-dns-queries\n\
                     query-logging=yes\nudp-truncation-threshold=4096\nnon-local-bind\n\
                     max-packet-cache-entries=0\nmax-cache-entries=0\ncache-ttl=0\n\
                     negquery-cache-ttl=0\nquery-cache-ttl=0\nlocal-address=127.0.0.1\n\
                     local-port={port}\nremote-connection-string=unix:path={}\n\
                     socket-dir={d}\nwrite-pid=no\n",
                    socket.display()
                ),
            );
            let log = dir.path().join("pdns.log");
            let child = Command::new("pdns_server")
                .arg(format!("--config-dir={d}"))
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap())
                .spawn()
                .expect("start pdns_server (Debian pdns-server and pdns-backend-remote; tools/test installs them)");
            (child, log)
        });
        PdnsServer {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for PdnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
