//! The DPDK backend refuses to start with one clear line when it cannot: bad EAL
//! arguments, or a port the EAL arguments did not create.

mod dpdk_support;
mod support;

use std::process::Command;

use dpdk_support::require_root;

/// Runs `ferrodns serve ARGS` in a fresh network namespace; returns its exit
/// success and stderr.
fn serve_fails(args: &[&str]) -> String {
    let output = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_ferrodns"))
        .arg("serve")
        .args(args)
        .output()
        .expect("run ferrodns");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "ferrodns started: {stderr}");
    stderr
}

/// The last line ferrodns printed: its error (DPDK logs its own lines before,
/// some also prefixed with the program name).
fn ferrodns_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rfind(|l| l.starts_with("ferrodns: "))
        .unwrap_or_else(|| panic!("no error line from ferrodns: {stderr}"))
}

#[test]
fn bad_eal_arguments_stop_the_start_with_one_line() {
    require_root();
    let stderr = serve_fails(&[
        "--listen",
        "192.0.2.1:53",
        "--dpdk",
        "-l 0-1 --in-memory --no-such-eal-option",
    ]);
    let line = ferrodns_line(&stderr);
    assert!(
        line.contains("cannot start the DPDK dataplane: DPDK EAL initialisation failed")
            && line.contains("--no-such-eal-option"),
        "{line}"
    );
}

#[test]
fn a_missing_port_is_named_with_the_ports_that_exist() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferrodns.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = [\"192.0.2.1:53\"]\n[dataplane]\nbackend = \"dpdk\"\n\
         eal = \"-l 0-1 --no-pci --in-memory --vdev net_null0\"\nport = \"net_null7\"\n",
    )
    .unwrap();
    let stderr = serve_fails(&["--config", &config.display().to_string()]);
    let line = ferrodns_line(&stderr);
    assert!(
        line.contains("no DPDK port named \"net_null7\"") && line.contains("net_null0"),
        "{line}"
    );
}
