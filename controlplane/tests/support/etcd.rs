//! A real etcd for the tests: started on free loopback ports with a temporary data
//! directory, written to with the real `etcdctl`, killed when dropped.
//!
//! etcd listens on two client ports: one for ferrodns and one for the test's own
//! `etcdctl`. Restarting etcd on the admin port only cuts ferrodns off while the
//! test keeps writing (and compacting), which is how a disconnection is staged.
//! [`EtcdCluster`] runs several members as one cluster, to kill one of them.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::free_port;

/// One etcd member (a cluster of its own unless [`EtcdCluster`] made it).
pub(crate) struct Etcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The port ferrodns talks to.
    pub(crate) port: u16,
    admin: u16,
    peer: u16,
    name: String,
    /// `--initial-cluster`: every member's name and peer URL.
    cluster: String,
}

impl Etcd {
    pub(crate) fn start() -> Etcd {
        let mut etcd = Etcd::member("test", free_port());
        etcd.cluster = format!("test={}", etcd.peer_url());
        etcd.launch(true);
        etcd
    }

    /// A member not started yet, named `name`, peering on `peer`.
    fn member(name: &str, peer: u16) -> Etcd {
        Etcd {
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            admin: free_port(),
            peer,
            name: name.to_owned(),
            cluster: String::new(),
        }
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer)
    }

    /// `http://127.0.0.1:PORT` for ferrodns's `--etcd`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self, with_ferrodns_port: bool) {
        self.spawn(with_ferrodns_port);
        self.wait_healthy();
    }

    fn spawn(&mut self, with_ferrodns_port: bool) {
        let mut clients = format!("http://127.0.0.1:{}", self.admin);
        if with_ferrodns_port {
            clients = format!("http://127.0.0.1:{},{clients}", self.port);
        }
        let peer = self.peer_url();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd log");
        let child = Command::new("etcd")
            .args([
                "--name",
                &self.name,
                "--data-dir",
                &self.dir.path().join("data").display().to_string(),
                "--listen-client-urls",
                &clients,
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{}", self.admin),
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &self.cluster,
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd (install etcd-server: tools/test does)");
        self.child = Some(child);
    }

    /// Waits until the member answers as part of a cluster with a leader.
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ctl_ok(&["endpoint", "health"]) {
            assert!(
                Instant::now() < deadline,
                "etcd did not start: {}",
                self.log()
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// Stops etcd (SIGKILL: as abrupt as a crash).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on both ports.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.launch(true);
    }

    /// Starts etcd again on the admin port only: ferrodns cannot reach it.
    pub(crate) fn restart_without_ferrodns(&mut self) {
        self.stop();
        self.launch(false);
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &format!("http://127.0.0.1:{}", self.admin)])
            .args(["--dial-timeout", "1s", "--command-timeout", "3s"])
            .args(args)
            .output()
            .expect("run etcdctl (install etcd-client: tools/test does)")
    }

    fn ctl_ok(&self, args: &[&str]) -> bool {
        self.ctl(args).status.success()
    }

    fn ctl_checked(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn put(&self, key: &str, value: &str) {
        self.ctl_checked(&["put", key, value]);
    }

    /// The value at `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let out = self.ctl_checked(&["get", key, "--print-value-only"]);
        let value = out.trim_end_matches('\n');
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Every key starting with `prefix`, with its value, in key order.
    pub(crate) fn prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let out = self.ctl_checked(&["get", "--prefix", prefix]);
        let lines: Vec<&str> = out.lines().collect();
        lines
            .chunks(2)
            .map(|pair| (pair[0].to_owned(), pair.get(1).unwrap_or(&"").to_string()))
            .collect()
    }

    pub(crate) fn delete(&self, key: &str) {
        self.ctl_checked(&["del", key]);
    }

    /// True when this member leads the cluster.
    pub(crate) fn is_leader(&self) -> bool {
        let json = self.ctl_checked(&["endpoint", "status", "-w", "json"]);
        let value: serde_json::Value = serde_json::from_str(&json).expect("etcdctl json");
        let status = &value[0]["Status"];
        status["leader"].as_u64().is_some()
            && status["leader"].as_u64() == status["header"]["member_id"].as_u64()
    }

    /// The current revision of the store.
    pub(crate) fn revision(&self) -> i64 {
        let json = self.ctl_checked(&["get", "/", "-w", "json"]);
        let value: serde_json::Value = serde_json::from_str(&json).expect("etcdctl json");
        value["header"]["revision"].as_i64().expect("revision")
    }

    /// Compacts the history up to the current revision.
    pub(crate) fn compact(&self) -> i64 {
        let revision = self.revision();
        self.ctl_checked(&["compact", &revision.to_string(), "--physical"]);
        revision
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Several etcd members forming one cluster on loopback.
pub(crate) struct EtcdCluster {
    pub(crate) members: Vec<Etcd>,
}

impl EtcdCluster {
    /// Starts `size` members and waits until each is healthy.
    pub(crate) fn start(size: usize) -> EtcdCluster {
        let mut members: Vec<Etcd> = (0..size)
            .map(|i| Etcd::member(&format!("m{i}"), free_port()))
            .collect();
        let cluster: Vec<String> = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect();
        for member in &mut members {
            member.cluster = cluster.join(",");
            member.spawn(true);
        }
        for member in &members {
            member.wait_healthy();
        }
        EtcdCluster { members }
    }

    /// Every member's URL for ferrodns's `--etcd`, in member order.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.members.iter().map(Etcd::url).collect()
    }
}
