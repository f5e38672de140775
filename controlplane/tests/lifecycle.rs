//! The server as a service manager and an operator see it: systemd's
//! readiness notifications, the pid file, the start-up checks that stop a
//! start before it says ready, and log lines fit for a file, a collector or
//! the journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use support::api::{Api, TOKEN, store_and_api_args};
use support::notify::NotifySocket;
use support::{Server, ZONE, ferrodns_binary, free_port};

#[test]
fn systemd_hears_ready_once_every_listener_is_up_and_reloads_in_between() {
    let manager = NotifySocket::new("lifecycle");
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let args = store_and_api_args(dir.path(), state.path(), api_port);
    let server = Server::spawn_with_env(
        dir,
        args,
        &[
            ("NOTIFY_SOCKET", manager.name.as_str()),
            ("FERRODNS_API_TOKEN", TOKEN),
        ],
        "web.example.test",
    );
    let log_path = server.log.clone();
    let log = move || std::fs::read_to_string(&log_path).unwrap_or_default();
    let seen = manager.wait_for("READY=1", &log);
    assert!(
        seen.last()
            .unwrap()
            .contains(&format!("MAINPID={}", server.child.id())),
        "{seen:?}"
    );
    // READY=1 came after the API was bound: it answers at once.
    let api = Api::new(api_port);
    assert_eq!(api.send("GET", "/healthz", None, None).status, 200);
    let text = server.log_text();
    let api_ready = text.find("REST API ready").expect("API ready logged");
    let ready = text.find("ferrodns ready").expect("ready logged");
    assert!(api_ready < ready, "the server says ready last: {text}");

    server.signal("-HUP");
    let seen = manager.wait_for("READY=1", &log);
    assert!(seen[0].contains("RELOADING=1"), "{seen:?}");
    assert_eq!(server.stop().code(), Some(0));
    manager.wait_for("STOPPING=1", &log);
}

#[test]
fn a_missing_api_token_stops_the_start_before_anything_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut args = store_and_api_args(dir.path(), state.path(), free_port());
    args.extend(["--listen".into(), format!("127.0.0.1:{}", free_port())]);
    let output = Command::new(ferrodns_binary())
        .args(&args)
        .env_remove("FERRODNS_API_TOKEN")
        .env("FERRODNS_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("token"), "{stderr}");
    assert!(!stderr.contains("ready"), "{stderr}");
    assert!(
        !stderr.contains("table published"),
        "nothing was loaded: {stderr}"
    );
}

#[test]
fn the_pid_file_is_written_once_ready_held_against_a_second_server_and_removed() {
    let pid_dir = tempfile::tempdir().unwrap();
    let pid_file = pid_dir.path().join("ferrodns.pid");
    let pid_arg = pid_file.display().to_string();
    let server = Server::start(
        &[("example.test.", ZONE)],
        &["--pid-file", &pid_arg],
        "web.example.test",
    );
    server.wait_until("the pid file", |_| {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(written.trim(), server.child.id().to_string());

    let second = Command::new(ferrodns_binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--pid-file", &pid_arg])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another ferrodns is running (pid {})",
            server.child.id()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), written);

    assert_eq!(server.stop().code(), Some(0));
    assert!(!pid_file.exists(), "removed at exit");
}

#[test]
fn logs_in_a_file_carry_no_colour_codes() {
    let server = Server::start(&[("example.test.", ZONE)], &[], "web.example.test");
    let log = server.log_text();
    assert!(log.contains("ferrodns ready"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI escapes in {log:?}");
    assert!(
        log.starts_with("20"),
        "text lines start with a timestamp: {log}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let server = Server::start(
        &[("example.test.", ZONE)],
        &["--log-format", "json"],
        "web.example.test",
    );
    let log = server.log_text();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let ready = events
        .iter()
        .find(|e| e["fields"]["message"] == "ferrodns ready")
        .unwrap_or_else(|| panic!("no ready event in {log}"));
    assert_eq!(ready["level"], "INFO");
    assert!(ready["fields"]["listen"].is_string(), "{ready}");
    assert!(ready["timestamp"].is_string(), "{ready}");
}

#[test]
fn lines_for_the_journal_leave_the_timestamp_to_it() {
    let dir = tempfile::tempdir().unwrap();
    // The log file exists before the start: JOURNAL_STREAM names its device
    // and inode, as systemd names the stream it hands the service.
    let log = dir.path().join("ferrodns.log");
    std::fs::write(&log, "").unwrap();
    let metadata = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", metadata.dev(), metadata.ino());
    let zone = dir.path().join("example.test.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let args = vec![
        "serve".into(),
        "--zone".into(),
        format!("example.test.={}", zone.display()),
    ];
    let server = Server::spawn_with_env(
        dir,
        args,
        &[("JOURNAL_STREAM", stream.as_str())],
        "web.example.test",
    );
    let text = server.log_text();
    let ready = text
        .lines()
        .find(|l| l.contains("ferrodns ready"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(ready.trim_start().starts_with("INFO"), "{ready}");
}
