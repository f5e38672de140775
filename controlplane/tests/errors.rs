//! What the server says when something outside it is wrong: one sentence with
//! the cause and the fix, never a library's debug dump.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Output};

use support::api::{Api, TOKEN};
use support::{Server, ZONE, ferrodns_binary, free_port, write};

fn ferrodns(args: &[&str]) -> Output {
    Command::new(ferrodns_binary()).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Debug renderings of library errors that must never reach an operator.
fn assert_no_debug_dump(text: &str) {
    for dump in ["tonic::", "Os {", "ConnectError(", "kind: "] {
        assert!(!text.contains(dump), "{dump:?} in {text}");
    }
}

#[test]
fn etcd_unreachable_names_the_endpoint_and_the_cause_in_the_log_and_in_503s() {
    let etcd = format!("http://127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("token"), TOKEN);
    let api_port = free_port();
    write(
        &dir.path().join("ferrodns.toml"),
        &format!(
            "[server]\nworkers = 1\n[etcd]\nendpoints = [\"{etcd}\"]\ntimeout_ms = 500\n\
             [[zone]]\norigin = \"svc.test.\"\n\
             [[zone]]\norigin = \"example.test.\"\nfile = \"example.zone\"\n\
             [api]\nlisten = \"127.0.0.1:{api_port}\"\ntoken_file = \"token\"\n"
        ),
    );
    write(&dir.path().join("example.zone"), ZONE);
    let config = dir.path().join("ferrodns.toml").display().to_string();
    let server = Server::spawn(
        dir,
        vec!["serve".into(), "--config".into(), config],
        "web.example.test",
    );
    let expected = format!("cannot reach etcd at {etcd}: tcp connect error: Connection refused");
    server.wait_until("etcd's failure logged", |s| {
        s.log_text().contains(&expected)
    });
    let log = server.log_text();
    assert!(log.contains("check that etcd runs there"), "{log}");
    assert_no_debug_dump(&log);

    let api = Api::new(api_port);
    api.wait_up(&server);
    let refused = api.post(
        "/v1/records",
        r#"{"name":"web.svc.test.","type":"A","data":"10.0.0.1"}"#,
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    let error = refused.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains(&expected), "{error}");
    assert_no_debug_dump(&error);
}

#[test]
fn a_dns_port_in_use_is_named_with_the_way_out() {
    let port = free_port();
    let _taken = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let output = ferrodns(&["serve", "--listen", &format!("127.0.0.1:{port}")]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}: Address already in use")),
        "{text}"
    );
    assert!(
        text.contains("another process holds that address")
            && text.contains("choose another server.listen (--listen)"),
        "{text}"
    );
}

#[test]
fn an_api_port_in_use_is_named_with_the_way_out() {
    let api_port = free_port();
    let _taken = TcpListener::bind(("127.0.0.1", api_port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    write(&token, TOKEN);
    let store = dir.path().join("records.redb");
    let output = ferrodns(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--store",
        store.to_str().unwrap(),
        "--api",
        &format!("127.0.0.1:{api_port}"),
        "--api-token-file",
        token.to_str().unwrap(),
    ]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "cannot listen for the API on 127.0.0.1:{api_port}"
        )),
        "{text}"
    );
    assert!(text.contains("choose another api.listen (--api)"), "{text}");
    assert!(!text.contains("ferrodns ready"), "{text}");
}

#[test]
fn dpdk_without_root_says_to_run_as_root() {
    if !running_as_root() {
        eprintln!("skipped: starting ferrodns as another user needs root");
        return;
    }
    let output = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(ferrodns_binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--dpdk",
            "-l 0-1 --vdev net_null0",
        ])
        .output()
        .unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the DPDK backend needs root") && text.contains("drop --dpdk"),
        "{text}"
    );
    assert!(!text.contains("Cannot allocate memory"), "{text}");
}

/// Whether this test runs as root (`id -u` says 0).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
