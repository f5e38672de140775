//! `tools/demo --check` against the freshly built binary: the demo script, the
//! sample zones in `docs/examples/` and the server agree on every query the demo
//! shows users.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_queries_all_pass() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(repo.join("tools/demo"))
        .arg("--check")
        .current_dir(&repo)
        .env("FERRODNS_BIN", env!("CARGO_BIN_EXE_ferrodns"))
        .env("FERRODNS_DEMO_PORT", support::free_port().to_string())
        .output()
        .expect("run tools/demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 failed"), "{stdout}");
}
