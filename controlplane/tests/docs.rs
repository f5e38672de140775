//! The README's commands and the example configuration run as written: what
//! a newcomer copies from the documentation works.
//!
//! The README's `sh` blocks are taken from the file itself, in order, with the
//! few changes a test needs: the binaries under test instead of
//! `target/release/` (and no `cargo build`), free ports instead of 53, 5353
//! and 8053, and a temporary working directory where `docs/` is the
//! repository's. Three blocks are left to their own tests: `tools/demo` and
//! `tools/test` (tests/demo.rs, and CI itself), `tools/package` (tests/package.rs)
//! and the `queryperf` load run (tools/queryperf/tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{Server, answered, dig_at, ferrodns_binary, free_port, lines, workspace_binary};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `sh` blocks of a markdown text, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Whether another test runs this block (see the module docs).
fn left_to_other_tests(block: &str) -> bool {
    ["tools/demo", "tools/package", "queryperf"]
        .iter()
        .any(|word| block.contains(word))
}

/// The README's block as this test runs it.
struct Adapted {
    bin_dir: PathBuf,
    dns: u16,
    api: u16,
}

impl Adapted {
    fn script(&self, block: &str) -> String {
        let bin = format!("{}/", self.bin_dir.display());
        block
            .lines()
            .filter(|line| !line.starts_with("cargo build"))
            .map(|line| {
                line.replace("target/release/", &bin)
                    .replace("127.0.0.1:53 ", &format!("127.0.0.1:{} ", self.dns))
                    .replace("5353", &self.dns.to_string())
                    .replace("8053", &self.api.to_string())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Kills a server a block left in the foreground when the test ends.
struct Foreground(Child);

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_answer(port: u16, name: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answered(&dig_at(port, &["+short", name])) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the README's server exited"
        );
        assert!(
            Instant::now() < deadline,
            "the README's server never answered {name}"
        );
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_readme_commands_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks: Vec<String> = sh_blocks(&readme)
        .into_iter()
        .filter(|block| !left_to_other_tests(block))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("docs"), dir.path().join("docs")).unwrap();
    let bin_dir = ferrodns_binary().parent().unwrap().to_owned();
    assert_eq!(workspace_binary("ferroctl").parent().unwrap(), bin_dir);
    let adapted = Adapted {
        bin_dir,
        dns: free_port(),
        api: free_port(),
    };

    // "Running it for real": a server in the foreground, until stopped.
    let (foreground, sequence): (Vec<&String>, Vec<&String>) = blocks
        .iter()
        .partition(|block| block.contains(" serve") && !block.contains('&'));
    assert_eq!(foreground.len(), 1, "{foreground:?}");
    let mut server = Foreground(
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "exec {}",
                adapted.script(foreground[0]).trim_start()
            ))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_answer(adapted.dns, "api.svc.example", &mut server.0);
    assert_eq!(
        lines(&dig_at(adapted.dns, &["+short", "www.svc.example"])),
        ["10.0.0.20", "10.0.0.21", "api.svc.example."]
    );
    drop(server);

    // The store, the REST API and ferroctl: one shell session, in order; a
    // server a block leaves running is stopped at the end.
    assert_eq!(sequence.len(), 3, "{sequence:?}");
    let script: Vec<String> = sequence.iter().map(|b| adapted.script(b)).collect();
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}",
            script.join("\n")
        ))
        .current_dir(dir.path())
        .env_remove("FERRODNS_API_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "zone svc.example.: 10 records imported",
        "api.svc.example.\t30\tIN\tA\t10.0.0.20",
        "db.svc.example.\t\t30\tIN\tA\t10.0.0.9",
        "1 records added",
        "web.svc.example.\t30\tIN\tA\t10.0.0.1",
        "\"written\":1",
        "written 1, removed 0",
        "web.svc.example.",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in {stdout}\n{stderr}"
        );
    }
}

#[test]
fn the_example_configuration_runs_as_written() {
    let config = repo().join("docs/examples/ferrodns.toml");
    let config = config.to_str().unwrap();
    let checked = Command::new(ferrodns_binary())
        .args(["check-config", "--config", config])
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // As written but on a free port (5353 may be taken on a test machine),
    // and with the store out of the source tree (check-config found its
    // directory writable above).
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("records.redb").display().to_string();
    let server = Server::spawn(
        dir,
        vec![
            "serve".into(),
            "--config".into(),
            config.into(),
            "--store".into(),
            store,
        ],
        "web.svc.cluster.local",
    );
    assert_eq!(
        lines(&server.dig(&["+short", "-x", "10.0.1.11"])),
        ["web1.svc.cluster.local."]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "CH", "TXT", "version.bind"])),
        ["\"ferrodns\""]
    );
    assert_eq!(server.stop().code(), Some(0));
}
