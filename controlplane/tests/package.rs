//! The Debian package as an operator gets it: `tools/package` builds it from
//! the binaries under test, `dpkg -i` installs it into this machine, the
//! service's `ExecStart` runs as systemd would run it (its user, its
//! capability, its runtime and logs directories, `NOTIFY_SOCKET`) with the
//! shipped configuration and the query log turned on, answers, shows its
//! metrics, reloads a configuration change, stops, leaves a query log the
//! `dnstap` tool reads, and `dpkg --purge` takes everything away again: the
//! test checks the machine is as it found it.
//!
//! It needs root (it installs a package and creates a system user) and skips
//! itself, saying so, without it, or when a `ferrodns` package or user is
//! already on the machine (it must not touch an operator's installation).
//! systemd is not PID 1 here, so the unit's command line is started by hand;
//! `systemd-analyze verify` checks the installed units.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use support::notify::NotifySocket;
use support::{dig_at, ferrodns_binary, free_port, lines, workspace_binary};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn succeeded(output: &Output) -> bool {
    output.status.success()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    if text(&run("id", &["-u"])).trim() != "0" {
        return Some("installing a package needs root".into());
    }
    let installed = run("dpkg-query", &["-W", "-f=${Status}", "ferrodns"]);
    if succeeded(&installed) && text(&installed).contains("installed") {
        return Some("a ferrodns package is installed already".into());
    }
    if succeeded(&run("getent", &["passwd", "ferrodns"])) {
        return Some("a ferrodns user exists already".into());
    }
    None
}

/// Whether `program` is installed (man-db and systemd may not be, in a
/// container).
fn on_path(program: &str) -> bool {
    succeeded(&run("sh", &["-c", &format!("command -v {program}")]))
}

/// What the package may touch on this machine, to compare before and after.
fn machine_state() -> Vec<String> {
    let mut state: Vec<String> = [
        "/etc/ferrodns",
        "/var/lib/ferrodns",
        "/var/log/ferrodns",
        "/run/ferrodns",
        "/usr/bin/ferrodns",
        "/usr/bin/ferroctl",
        "/usr/bin/queryperf",
        "/lib/systemd/system/ferrodns.service",
        "/lib/systemd/system/ferrodns-hugepages.service",
        "/usr/share/doc/ferrodns",
        "/usr/share/man/man1/ferrodns.1.gz",
        "/usr/share/bash-completion/completions/ferrodns",
    ]
    .iter()
    .filter(|path| Path::new(path).exists())
    .map(|path| format!("exists {path}"))
    .collect();
    let find = run(
        "find",
        &["/etc/systemd", "/var/lib/systemd", "-name", "*ferrodns*"],
    );
    state.extend(text(&find).lines().map(|l| format!("found {l}")));
    for database in ["passwd", "group"] {
        let entry = run("getent", &[database, "ferrodns"]);
        state.push(format!("{database}: {}", text(&entry).trim()));
    }
    let status = run("dpkg-query", &["-W", "-f=${Status}", "ferrodns"]);
    state.push(format!("dpkg: {}", text(&status).trim()));
    state.sort();
    state
}

/// Purges the package (and what the test made) when dropped, so a failing
/// test leaves the machine as clean as a passing one.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let purged = run("dpkg", &["--purge", "ferrodns"]);
        assert!(succeeded(&purged), "dpkg --purge: {}", text(&purged));
        // systemd removes the runtime directory when the service stops.
        let _ = std::fs::remove_dir_all("/run/ferrodns");
    }
}

/// The service's process, killed when dropped (before the purge: a system
/// user with a running process cannot be deleted).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binaries under test, in one directory: where tools/package takes them.
fn binary_dir() -> PathBuf {
    let dir = ferrodns_binary().parent().unwrap().to_owned();
    for name in ["ferroctl", "queryperf"] {
        assert_eq!(workspace_binary(name).parent().unwrap(), dir);
    }
    dir
}

/// The `ExecStart=` command line of an installed unit, split on whitespace.
fn exec_start(unit: &str) -> Vec<String> {
    let unit = std::fs::read_to_string(unit).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(str::to_owned).collect()
}

/// Starts the unit's command line as systemd would: its runtime and logs
/// directories made for the service's user, that user with only
/// CAP_NET_BIND_SERVICE, a clean environment with `NOTIFY_SOCKET`, `/` as
/// working directory; plus `extra` arguments.
fn start_as_systemd(command: &[String], extra: &[String], notify: &str, log: &Path) -> Child {
    for dir in ["/run/ferrodns", "/var/log/ferrodns"] {
        let owner = ["-o", "ferrodns", "-g", "ferrodns", "-m", "0755"];
        let made = run("install", &[&["-d"][..], &owner, &[dir]].concat());
        assert!(succeeded(&made), "{}", text(&made));
    }
    Command::new("setpriv")
        .args([
            "--reuid=ferrodns",
            "--regid=ferrodns",
            "--init-groups",
            "--inh-caps=-all,+net_bind_service",
            "--ambient-caps=-all,+net_bind_service",
            "--bounding-set=-all,+net_bind_service",
            "--no-new-privs",
            "--",
        ])
        .args(command)
        .args(extra)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("NOTIFY_SOCKET", notify)
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// `text` with the commented lines `# LINE` of `lines` uncommented (the first
/// of each), as an operator edits the shipped configuration.
fn uncomment(text: &str, lines: &[&str]) -> String {
    lines.iter().fold(text.to_owned(), |text, line| {
        let commented = format!("# {line}");
        assert!(text.contains(&commented), "{commented:?} in {text}");
        text.replacen(&commented, line, 1)
    })
}

/// What the metrics listener on 127.0.0.1 `port` serves.
fn scrape(port: u16) -> String {
    text(&run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/metrics"),
        ],
    ))
}

fn signal(child: &Child, signal: &str) {
    let sent = run("kill", &[signal, &child.id().to_string()]);
    assert!(succeeded(&sent), "{}", text(&sent));
}

#[test]
fn the_package_installs_runs_as_its_unit_says_reloads_and_purges_cleanly() {
    if let Some(reason) = cannot_run() {
        eprintln!("skipped: {reason}");
        return;
    }
    let before = machine_state();
    let out = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = binary_dir();
    let built = Command::new(repo.join("tools/package"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(out.path())
        .args(["--compress", "none"])
        .output()
        .unwrap();
    assert!(succeeded(&built), "tools/package: {}", text(&built));
    let package = String::from_utf8_lossy(&built.stdout).trim().to_owned();

    let installed = run("dpkg", &["-i", &package]);
    let guard = Installed;
    assert!(succeeded(&installed), "dpkg -i: {}", text(&installed));
    for path in [
        "/usr/bin/ferrodns",
        "/usr/bin/ferroctl",
        "/usr/bin/queryperf",
        "/usr/share/man/man1/ferrodns-serve.1.gz",
        "/usr/share/man/man1/ferroctl-reload.1.gz",
        "/usr/share/man/man1/queryperf.1.gz",
        "/usr/share/bash-completion/completions/ferrodns",
        "/usr/share/zsh/vendor-completions/_ferroctl",
        "/usr/share/fish/vendor_completions.d/queryperf.fish",
        "/usr/share/doc/ferrodns/examples/svc.example.zone",
    ] {
        assert!(Path::new(path).exists(), "{path} installed");
    }
    let conffiles = text(&run("dpkg-query", &["-W", "-f=${Conffiles}", "ferrodns"]));
    assert!(
        conffiles.contains("/etc/ferrodns/ferrodns.toml"),
        "{conffiles}"
    );
    let owner = text(&run("stat", &["-c", "%U:%G %a", "/var/lib/ferrodns"]));
    assert_eq!(owner.trim(), "ferrodns:ferrodns 750");
    if on_path("man") {
        let manual = run("man", &["-w", "ferrodns-serve"]);
        assert!(succeeded(&manual), "{}", text(&manual));
    }
    if on_path("systemd-analyze") {
        let verified = run(
            "systemd-analyze",
            &[
                "verify",
                "/lib/systemd/system/ferrodns.service",
                "/lib/systemd/system/ferrodns-hugepages.service",
            ],
        );
        assert!(succeeded(&verified), "{}", text(&verified));
    }

    // The newcomer turns the query log on, as the shipped file shows.
    let config = std::fs::read_to_string("/etc/ferrodns/ferrodns.toml").unwrap();
    let config = uncomment(
        &config,
        &[
            "[dnstap]",
            "file = \"/var/log/ferrodns/queries.dnstap\"",
            "sample = 1",
        ],
    );
    std::fs::write("/etc/ferrodns/ferrodns.toml", config).unwrap();

    // The service, with that configuration (on free ports: 53 and 9153 may
    // be taken on a test machine).
    let command = exec_start("/lib/systemd/system/ferrodns.service");
    assert_eq!(
        command[..3],
        ["/usr/bin/ferrodns", "serve", "--config"],
        "{command:?}"
    );
    let port = free_port();
    let metrics = free_port();
    let notify = NotifySocket::new("package-test");
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("ferrodns.log");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut service = Running(start_as_systemd(
        &command,
        &[
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--metrics".into(),
            format!("127.0.0.1:{metrics}"),
        ],
        &notify.name,
        &log,
    ));
    let seen = notify.wait_for("READY=1", &log_text);
    assert!(
        seen[0].contains(&format!("MAINPID={}", service.0.id())),
        "{seen:?}"
    );
    let pid = std::fs::read_to_string("/run/ferrodns/ferrodns.pid").unwrap();
    assert_eq!(pid.trim(), service.0.id().to_string());
    let refused = dig_at(port, &["svc.example", "SOA"]);
    assert!(
        refused.contains("status: REFUSED"),
        "no zone yet: {refused}"
    );
    let store = text(&run(
        "stat",
        &["-c", "%U", "/var/lib/ferrodns/records.redb"],
    ));
    assert_eq!(store.trim(), "ferrodns", "the store is the service user's");

    let scraped = scrape(metrics);
    assert!(scraped.contains("ferrodns_build_info{"), "{scraped}");

    // The newcomer's first change: the sample zone, then `systemctl reload`.
    let config = std::fs::read_to_string("/etc/ferrodns/ferrodns.toml").unwrap();
    let config = uncomment(
        &config,
        &[
            "[[zone]]\n# origin = \"svc.example.\"",
            "origin = \"svc.example.\"",
            "file = \"/usr/share/doc/ferrodns/examples/svc.example.zone\"",
        ],
    );
    std::fs::write("/etc/ferrodns/ferrodns.toml", config).unwrap();
    signal(&service.0, "-HUP");
    let seen = notify.wait_for("READY=1", &log_text);
    assert!(seen[0].contains("RELOADING=1"), "{seen:?}");
    assert_eq!(
        lines(&dig_at(port, &["+short", "www.svc.example", "A"])),
        ["10.0.0.20", "10.0.0.21", "api.svc.example."]
    );
    let journal = std::fs::read_to_string(&log).unwrap();
    assert!(!journal.contains('\u{1b}'), "no colours off a terminal");
    let scraped = scrape(metrics);
    assert!(
        scraped.contains("ferrodns_reloads_total{result=\"success\"} 1"),
        "{scraped}"
    );

    signal(&service.0, "-TERM");
    notify.wait_for("STOPPING=1", &log_text);
    let status = service.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(!Path::new("/run/ferrodns/ferrodns.pid").exists());
    if on_path("dnstap") {
        let logged = run("dnstap", &["-r", "/var/log/ferrodns/queries.dnstap", "-y"]);
        assert!(
            text(&logged).contains("www.svc.example."),
            "the query log holds the query: {}",
            text(&logged)
        );
    }

    drop(guard);
    assert_eq!(
        machine_state(),
        before,
        "the purge left the machine as it was"
    );
}
