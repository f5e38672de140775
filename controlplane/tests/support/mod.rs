//! Starting the real `ferrodns` binary on a free loopback port and asking it with
//! the real `dig` and `kdig`; starting `knotd` as an upstream to forward to. Shared
//! by the integration tests and the forwarder bench (`benches/forward.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub(crate) mod api;
pub(crate) mod etcd;
pub(crate) mod notify;

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::BuildHasher;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The text of a test zone: `$ORIGIN`, `$TTL 30`, the apex SOA and NS, `ns1`'s
/// address, then `records`. A macro, so that a zone stays a `&'static str`.
macro_rules! zone_text {
    ($origin:literal, $records:literal) => {
        concat!(
            "$ORIGIN ",
            $origin,
            "\n$TTL 30\n\
             @       IN SOA ns1 hostmaster ( 2026112301 3600 600 86400 60 )\n\
             @       IN NS  ns1\n\
             ns1     IN A   10.0.0.53\n",
            $records
        )
    };
}
// Unused by the test crates that include this module but not `dpdk_support`.
#[allow(unused_imports)]
pub(crate) use zone_text;

pub(crate) const ZONE: &str = zone_text!(
    "example.test.",
    "\
web     IN A   10.0.0.1
web     IN A   10.0.0.2
web     IN A   10.0.0.3
web     IN AAAA fd00::1
www     IN CNAME web
web0    IN A   10.1.0.1
web1    IN A   10.1.0.2
_http._tcp.web IN SRV 10 5 80 web0
_http._tcp.web IN SRV 10 5 80 web1
txt     IN TXT \"hello world\"
@       IN MX  10 ns1
*.apps  IN A   10.2.0.1
"
);

/// A zone whose one RRset does not fit in 512 bytes.
pub(crate) fn big_zone() -> String {
    let mut text = String::from("$ORIGIN big.test.\n$TTL 30\n");
    for i in 0..60 {
        text.push_str(&format!("many IN A 10.9.0.{i}\n"));
    }
    text
}

/// A port free for both UDP and TCP on 127.0.0.1, and reserved for this test
/// process: tests run in parallel processes, and two of them handed the same free
/// port would start servers that share it (`SO_REUSEPORT`) and answer each
/// other's queries. The reservation is a lock on a file named after the port,
/// held until the process exits. The port lies outside the kernel's ephemeral
/// range, so no client socket (dig's, an upstream query's) can take it between
/// here and the server's bind.
pub(crate) fn free_port() -> u16 {
    static RESERVED: Mutex<Vec<fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("ferrodns-test-ports");
    fs::create_dir_all(&dir).expect("port reservation dir");
    let (first, count) = ports_outside_ephemeral_range();
    let random = RandomState::new();
    for attempt in 0..500u32 {
        let port = first + (random.hash_one(attempt) % u64::from(count)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_err()
            || UdpSocket::bind(("127.0.0.1", port)).is_err()
        {
            continue;
        }
        let Ok(lock) = fs::File::create(dir.join(port.to_string())) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            RESERVED.lock().unwrap().push(lock);
            return port;
        }
    }
    panic!("no free port");
}

/// The first port and the number of ports of a block the kernel never hands out
/// by itself: from 10000 up to the ephemeral range of
/// `/proc/sys/net/ipv4/ip_local_port_range` (Linux's default starts at 32768),
/// or above it when it starts too low.
fn ports_outside_ephemeral_range() -> (u16, u16) {
    let range = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = range.split_whitespace().map(str::parse::<u16>);
    let (low, high) = match (bounds.next(), bounds.next()) {
        (Some(Ok(low)), Some(Ok(high))) => (low, high),
        _ => (32768, 60999),
    };
    if low > 11000 {
        (10000, low - 10000)
    } else {
        assert!(
            high < 64000,
            "no ports outside the ephemeral range {low}-{high}"
        );
        (high + 1, u16::MAX - high)
    }
}

/// The `ferrodns` binary under test. Cargo names it for this package's tests; a
/// test of another package (ferroctl's, queryperf's) that includes this module
/// finds it beside its own binaries in the target directory, building it (in the
/// same profile) first when missing.
pub(crate) fn ferrodns_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_ferrodns") {
        return PathBuf::from(path);
    }
    workspace_binary("ferrodns")
}

/// The binary `name` of the workspace package of the same name (`ferrodns`,
/// `ferroctl`, `queryperf`) in the profile directory this test runs from,
/// built (in the same profile) first when missing.
pub(crate) fn workspace_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps");
    let binary = profile_dir.join(name);
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", name, "--bin", name]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let built = build.status().expect("run cargo build");
        assert!(built.success(), "cargo build -p {name} failed");
    }
    binary
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) log: PathBuf,
}

impl Server {
    /// Writes the zones into a temp dir and starts `ferrodns serve` with them plus
    /// `extra` arguments; waits until it answers `probe` (a name that exists).
    pub(crate) fn start(zones: &[(&str, &str)], extra: &[&str], probe: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args: Vec<String> = vec!["serve".into(), "--workers".into(), "2".into()];
        for (origin, text) in zones {
            let path = dir.path().join(format!("{origin}zone"));
            fs::write(&path, text).expect("write zone");
            args.push("--zone".into());
            args.push(format!("{origin}={}", path.display()));
        }
        args.extend(
            extra
                .iter()
                .map(|s| s.replace("{dir}", &dir.path().display().to_string())),
        );
        Server::spawn(dir, args, probe)
    }

    /// Starts `ferrodns` with `args` plus `--listen` on a free port. Should a
    /// process outside the tests' reservations take that port first (ferrodns
    /// then refuses to start, "in use"), starts again on another.
    pub(crate) fn spawn(dir: tempfile::TempDir, args: Vec<String>, probe: &str) -> Server {
        Server::spawn_with_env(dir, args, &[], probe)
    }

    /// [`spawn`](Server::spawn) with `env` added to the child's environment.
    pub(crate) fn spawn_with_env(
        dir: tempfile::TempDir,
        args: Vec<String>,
        env: &[(&str, &str)],
        probe: &str,
    ) -> Server {
        Server::spawn_under(&[], dir, args, env, probe, Duration::from_secs(20))
    }

    /// [`spawn_with_env`](Server::spawn_with_env) that waits up to `limit` for
    /// the first answer (a large zone loads slowly in a debug build).
    pub(crate) fn spawn_waiting(
        dir: tempfile::TempDir,
        args: Vec<String>,
        env: &[(&str, &str)],
        probe: &str,
        limit: Duration,
    ) -> Server {
        Server::spawn_under(&[], dir, args, env, probe, limit)
    }

    /// [`spawn`](Server::spawn) with the descriptor limit `soft:hard`
    /// (`prlimit --nofile`, from util-linux).
    pub(crate) fn spawn_with_nofile(
        dir: tempfile::TempDir,
        args: Vec<String>,
        (soft, hard): (u64, u64),
        probe: &str,
    ) -> Server {
        let launcher = [
            "prlimit".to_owned(),
            format!("--nofile={soft}:{hard}"),
            "--".to_owned(),
        ];
        Server::spawn_under(&launcher, dir, args, &[], probe, Duration::from_secs(20))
    }

    /// Starts ferrodns as the last argument of `launcher` (none: directly),
    /// waiting up to `limit` for its first answer.
    fn spawn_under(
        launcher: &[String],
        dir: tempfile::TempDir,
        args: Vec<String>,
        env: &[(&str, &str)],
        probe: &str,
        limit: Duration,
    ) -> Server {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Server::try_spawn(launcher, &dir, &args, env, probe, limit) {
                Ok((child, port)) => {
                    let log = dir.path().join("ferrodns.log");
                    return Server {
                        child,
                        port,
                        dir,
                        log,
                    };
                }
                Err(log) if log.contains("in use") && attempts < 3 => continue,
                Err(log) => panic!("ferrodns did not start: {log}"),
            }
        }
    }

    /// One start; the log text when ferrodns exits or never answers.
    fn try_spawn(
        launcher: &[String],
        dir: &tempfile::TempDir,
        args: &[String],
        env: &[(&str, &str)],
        probe: &str,
        limit: Duration,
    ) -> Result<(Child, u16), String> {
        let port = free_port();
        let log = dir.path().join("ferrodns.log");
        let mut command = match launcher.split_first() {
            Some((program, launcher_args)) => {
                let mut command = Command::new(program);
                command.args(launcher_args).arg(ferrodns_binary());
                command
            }
            None => Command::new(ferrodns_binary()),
        };
        let mut child = command
            .args(args)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("FERRODNS_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start ferrodns");
        let log_text = || fs::read_to_string(&log).unwrap_or_default();
        let deadline = Instant::now() + limit;
        loop {
            if answered(&dig_at(port, &["+short", probe])) {
                return Ok((child, port));
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}: {}", log_text()));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not answer: {}", log_text()));
            }
            sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn dig(&self, args: &[&str]) -> String {
        dig_at(self.port, args)
    }

    /// `dig` over IPv6 to `[::1]` (the server must listen there too).
    pub(crate) fn dig6(&self, port: u16, args: &[&str]) -> String {
        run(
            "dig",
            &[
                &[
                    "@::1",
                    "-p",
                    &port.to_string(),
                    "+tries=1",
                    "+time=2",
                    "+norec",
                ][..],
                args,
            ]
            .concat(),
        )
    }

    pub(crate) fn kdig(&self, args: &[&str]) -> String {
        run(
            "kdig",
            &[
                &[
                    "@127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "+retry=0",
                    "+timeout=2",
                ][..],
                args,
            ]
            .concat(),
        )
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Polls `done` for up to 10 s; fails naming `what` and showing the log.
    pub(crate) fn wait_until(&self, what: &str, done: impl Fn(&Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "did not see {what}: {}",
                self.log_text()
            );
            sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Sends SIGTERM and waits for the exit.
    pub(crate) fn stop(mut self) -> ExitStatus {
        self.signal("-TERM");
        let log = self.log.clone();
        wait_for_exit(&mut self.child, Duration::from_secs(10), || {
            fs::read_to_string(&log).unwrap_or_default()
        })
    }
}

/// Waits up to `limit` for ferrodns, `child`, to exit after a SIGTERM; fails
/// showing `log()` when it does not.
pub(crate) fn wait_for_exit(
    child: &mut Child,
    limit: Duration,
    log: impl Fn() -> String,
) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "ferrodns did not stop: {}",
            log()
        );
        sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when `dig +short` printed an answer, not just its own `;;` errors.
pub(crate) fn answered(output: &str) -> bool {
    output
        .lines()
        .any(|line| !line.trim().is_empty() && !line.starts_with(';'))
}

pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (install dnsutils/knot-dnsutils: tools/test does): {e}")
        });
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Sorted lines of `dig +short` output.
pub(crate) fn lines(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

pub(crate) fn write(path: &Path, text: &str) {
    fs::write(path, text).expect("write");
}

/// The zone [`Knot`] serves: a name, a CNAME to it, and a wildcard that answers
/// any number of distinct names.
pub(crate) const UPSTREAM_ZONE: &str = "\
$ORIGIN upstream.test.
$TTL 60
@       IN SOA ns hostmaster ( 1 3600 600 86400 30 )
@       IN NS  ns
ns      IN A   127.0.0.1
www     IN A   192.0.2.10
alias   IN CNAME www
*.wild  IN A   192.0.2.20
";

/// `knotd` serving one zone on a free loopback port, in the foreground.
pub(crate) struct Knot {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl Knot {
    /// `knotd` serving [`UPSTREAM_ZONE`].
    pub(crate) fn start() -> Knot {
        Knot::serve("upstream.test.", UPSTREAM_ZONE, "www.upstream.test")
    }

    /// `knotd` serving the zone `origin` (ending in a dot) from `text`; waits
    /// until it answers `probe`.
    pub(crate) fn serve(origin: &str, text: &str, probe: &str) -> Knot {
        let dir = tempfile::tempdir().unwrap();
        let (child, port) = start_peer("knotd", probe, |port| {
            let config = write_knot_config(dir.path(), port, origin, text);
            spawn_with_config(Command::new("knotd"), &config, "knot")
        });
        Knot {
            child,
            port,
            _dir: dir,
        }
    }

    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the zone `origin` (ending in a dot) from `text` into `dir` and a
/// `knot.conf` serving it on 127.0.0.1 `port`, one worker of each kind, warnings
/// to stderr; returns the configuration's path.
pub(crate) fn write_knot_config(dir: &Path, port: u16, origin: &str, text: &str) -> PathBuf {
    let d = dir.display();
    write(&dir.join(format!("{origin}zone")), text);
    let config = dir.join("knot.conf");
    write(
        &config,
        &format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n    \
             udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             database:\n    storage: \"{d}\"\n\
             log:\n  - target: stderr\n    any: warning\n\
             zone:\n  - domain: {origin}\n    file: \"{d}/{origin}zone\"\n"
        ),
    );
    config
}

/// Starts `command -c config` (a peer server in the foreground, from the Debian
/// package `package`) with its stderr in a `.log` file beside `config`; returns
/// the child and the log's path, as [`start_peer`] wants them.
pub(crate) fn spawn_with_config(
    mut command: Command,
    config: &Path,
    package: &str,
) -> (Child, PathBuf) {
    let log = config.with_extension("log");
    let child = command
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {:?} (Debian package {package}; tools/test installs it): {e}",
                command.get_program()
            )
        });
    (child, log)
}

/// `dig` to 127.0.0.1 `port`: one try, 2 s, no recursion asked.
pub(crate) fn dig_at(port: u16, args: &[&str]) -> String {
    run(
        "dig",
        &[
            &[
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                "+tries=1",
                "+time=2",
                "+norec",
            ][..],
            args,
        ]
        .concat(),
    )
}

/// Starts a peer server (`what` names it in failures) on a free port with
/// `spawn`, which returns the child and the file its log goes to, and waits up
/// to 10 s until it answers `probe` with a record: dig's own `;;` lines (the
/// "connection refused" of a server that has not bound yet) do not count. A
/// peer that exits instead (its port was taken first by a process outside the
/// tests' reservations, e.g. a client's ephemeral port) is started again on
/// another port, twice at most.
pub(crate) fn start_peer(
    what: &str,
    probe: &str,
    mut spawn: impl FnMut(u16) -> (Child, PathBuf),
) -> (Child, u16) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let port = free_port();
        let (mut child, log) = spawn(port);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if answered(&dig_at(port, &["+short", "+time=1", probe])) {
                return (child, port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(&log).unwrap_or_default();
                assert!(attempts < 3, "{what} exited with {status}: {log}");
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = fs::read_to_string(&log).unwrap_or_default();
                panic!("{what} did not answer {probe} within 10 s: {log}");
            }
            sleep(Duration::from_millis(50));
        }
    }
}

/// One per-address family of a health checker's `/metrics` (on 127.0.0.1:`port`)
/// by address: `family` is `ferrodns_health_checks_total`, say.
pub(crate) fn health_figures(port: u16, family: &str) -> std::collections::BTreeMap<String, u64> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .expect("run curl");
    let prefix = format!("{family}{{target=\"");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .filter_map(|rest| {
            let (target, rest) = rest.split_once('"')?;
            let count = rest.rsplit(' ').next()?.parse().ok()?;
            Some((target.to_owned(), count))
        })
        .collect()
}
