//! Starting the three servers on loopback, one worker each, from the same zone
//! file, and pinning each to its own core.
//!
//! Ports come from controlplane's test support (`free_port`, reserved across
//! processes), and Knot is started by that support's `Knot::serve` (one UDP, one
//! TCP and one background worker): the same knotd the differential and forwarder
//! tests run. ferrodns runs from the release binary the `run` script builds; NSD
//! gets its own configuration, database-less, in a temporary directory, never the
//! system's.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::BenchError;
use crate::support::{self, Knot};
use crate::zone::{ORIGIN, PROBE};

/// One server under test.
pub(crate) struct BenchServer {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    process: Process,
}

enum Process {
    Child(Child),
    Knot(Knot),
}

impl std::fmt::Debug for BenchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on port {} (pid {})",
            self.name,
            self.port,
            self.pid()
        )
    }
}

/// The stdout of `program args`, or why it could not run.
pub(crate) fn command_output(program: &str, args: &[&str]) -> Result<String, BenchError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| BenchError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(BenchError::Failed {
            program: program.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl BenchServer {
    pub(crate) fn pid(&self) -> u32 {
        match &self.process {
            Process::Child(child) => child.id(),
            Process::Knot(knot) => knot.pid(),
        }
    }

    /// ferrodns from `binary`, kernel sockets, one worker.
    pub(crate) fn ferrodns(binary: &Path, zone: &Path, dir: &Path) -> Result<Self, BenchError> {
        let port = support::free_port();
        let log = file(&dir.join("ferrodns.log"))?;
        let child = Command::new(binary)
            .args(["serve", "--workers", "1", "--log", "warn", "--zone"])
            .arg(format!("{ORIGIN}={}", zone.display()))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                program: binary.display().to_string(),
                source,
            })?;
        BenchServer::ready("ferrodns", port, Process::Child(child))
    }

    /// NSD with one server process and its own config in `dir`. Response rate
    /// limiting is off (Debian's NSD limits to 200 answers/s per /24 by default, and
    /// every benchmark query comes from 127.0.0.1); ferrodns and Knot do not limit
    /// unless configured to.
    pub(crate) fn nsd(zone: &Path, dir: &Path) -> Result<Self, BenchError> {
        let port = support::free_port();
        let d = dir.display();
        let config = dir.join("nsd.conf");
        fs::write(
            &config,
            format!(
                "server:\n    server-count: 1\n    ip-address: 127.0.0.1\n    port: {port}\n    \
                 do-ip6: no\n    username: \"\"\n    chroot: \"\"\n    zonesdir: \"{d}\"\n    \
                 database: \"\"\n    zonelistfile: \"{d}/zone.list\"\n    \
                 xfrdfile: \"{d}/xfrd.state\"\n    xfrdir: \"{d}\"\n    \
                 pidfile: \"{d}/nsd.pid\"\n    logfile: \"{d}/nsd.log\"\n    verbosity: 0\n    \
                 rrl-ratelimit: 0\n\
                 remote-control:\n    control-enable: no\n\
                 zone:\n    name: {ORIGIN}\n    zonefile: \"{}\"\n",
                zone.display()
            ),
        )
        .map_err(|source| BenchError::Io {
            what: config.display().to_string(),
            source,
        })?;
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(file(&dir.join("nsd.stderr"))?)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                program: "nsd (Debian package nsd; tools/lib/deps.sh installs it)".to_owned(),
                source,
            })?;
        BenchServer::ready("NSD", port, Process::Child(child))
    }

    /// Knot DNS, one UDP worker, from controlplane's test support.
    pub(crate) fn knot(zone_text: &str) -> Result<Self, BenchError> {
        let knot = Knot::serve(ORIGIN, zone_text, PROBE);
        let port = knot.port;
        BenchServer::ready("Knot", port, Process::Knot(knot))
    }

    /// Waits until the server answers the probe name, then pins its processes
    /// and threads to `SERVER_CPU`.
    fn ready(name: &'static str, port: u16, process: Process) -> Result<Self, BenchError> {
        let mut server = BenchServer {
            name,
            port,
            process,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !support::answered(&support::dig_at(port, &["+short", PROBE])) {
            if let Process::Child(child) = &mut server.process
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(BenchError::Start {
                    name,
                    detail: status.to_string(),
                });
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Start {
                    name,
                    detail: "no answer within 30 s".to_owned(),
                });
            }
            sleep(Duration::from_millis(100));
        }
        for pid in crate::cpu::tree(server.pid()) {
            command_output(
                "taskset",
                &["-a", "-p", "-c", crate::SERVER_CPU, &pid.to_string()],
            )?;
        }
        Ok(server)
    }
}

fn file(path: &Path) -> Result<fs::File, BenchError> {
    fs::File::create(path).map_err(|source| BenchError::Io {
        what: path.display().to_string(),
        source,
    })
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Process::Child(child) = &mut self.process {
            // SIGTERM, so that NSD takes its forked server processes down too.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
