//! `ferrodns check-config` rejects what `serve` rejects and lists every
//! problem; `ferrodns check-zone` checks a zone file as kzonecheck does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{ZONE, ferrodns_binary, free_port, write};

fn ferrodns(args: &[&str]) -> Output {
    Command::new(ferrodns_binary())
        .args(args)
        .env_remove("FERRODNS_API_TOKEN")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A configuration with four problems in three places: two bad keys, a zone
/// file with two bad lines, a store in a directory that does not exist, and
/// the API without a token.
fn broken_config(dir: &Path) -> String {
    write(
        &dir.join("bad.zone"),
        "$TTL 60\nok IN A 10.0.0.1\nbad IN A 10.0.0.300\nworse IN AAAA 10.0.0.1\n",
    );
    let config = dir.join("ferrodns.toml");
    write(
        &config,
        "[server]\nworkers = 1\n[tcp]\nidle_timeout_ms = 0\n\
         [forward]\nnameservers = [\"nowhere\"]\n",
    );
    config.display().to_string()
}

#[test]
fn check_config_lists_every_bad_key_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = broken_config(dir.path());
    let output = ferrodns(&["check-config", "--config", &config]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("2 problems"), "{text}");
    assert!(text.contains("tcp.idle_timeout_ms"), "{text}");
    assert!(text.contains("forward.nameservers"), "{text}");
}

#[test]
fn check_config_checks_the_zone_files_store_and_token_serve_would_need() {
    let dir = tempfile::tempdir().unwrap();
    broken_config(dir.path());
    let zone = dir.path().join("bad.zone");
    let store = dir.path().join("missing-dir/records.redb");
    let api = format!("127.0.0.1:{}", free_port());
    let args = [
        "--zone".to_owned(),
        format!("bad.test.={}", zone.display()),
        "--store".to_owned(),
        store.display().to_string(),
        "--domain".to_owned(),
        "svc.test.".to_owned(),
        "--api".to_owned(),
        api,
        "--listen".to_owned(),
        format!("127.0.0.1:{}", free_port()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let checked = ferrodns(&[&["check-config"][..], &args].concat());
    let text = stderr(&checked);
    assert_eq!(checked.status.code(), Some(1), "{text}");
    assert!(text.contains("4 problems"), "{text}");
    for expected in [
        format!("{}:3", zone.display()),
        format!("{}:4", zone.display()),
        "missing-dir does not exist".to_owned(),
        "the API needs a token".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected} in {text}");
    }

    // serve refuses the same command line, before it says ready.
    let served = ferrodns(&[&["serve"][..], &args].concat());
    let text = stderr(&served);
    assert_eq!(served.status.code(), Some(1), "{text}");
    assert!(text.contains("the API needs a token"), "{text}");
    assert!(!text.contains("ready"), "{text}");

    // Fixed, it passes.
    write(&zone, ZONE.replace("example.test.", "bad.test.").as_str());
    std::fs::create_dir(dir.path().join("missing-dir")).unwrap();
    let token = dir.path().join("token");
    write(&token, "secret\n");
    let token = token.display().to_string();
    let fixed = ferrodns(&[&["check-config"][..], &args, &["--api-token-file", &token]].concat());
    assert!(fixed.status.success(), "{}", stderr(&fixed));
}

#[test]
fn an_empty_token_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    write(&token, "\n");
    let store = dir.path().join("records.redb");
    let output = ferrodns(&[
        "check-config",
        "--api",
        "127.0.0.1:8053",
        "--store",
        store.to_str().unwrap(),
        "--api-token-file",
        token.to_str().unwrap(),
    ]);
    let text = stderr(&output);
    assert!(
        text.contains(&format!(
            "the API token file {} is empty: write the token on its first line",
            token.display()
        )),
        "{text}"
    );
}

#[test]
fn check_zone_lists_every_error_or_summarises_a_good_zone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.zone");
    write(
        &path,
        "$TTL 60\nweb IN A 10.0.0.1\nbad IN A 10.0.0.300\nalias IN CNAME web\nalias IN A 10.0.0.2\n",
    );
    let file = path.to_str().unwrap();
    let bad = ferrodns(&["check-zone", file, "z.test."]);
    let text = stderr(&bad);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("2 problems"), "{text}");
    assert!(text.contains(&format!("{file}:3")), "{text}");
    assert!(text.contains(&format!("{file}:5")), "{text}");

    write(&path, ZONE);
    let good = ferrodns(&["check-zone", file, "example.test"]);
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(
        text.contains("zone example.test. is good: 15 records at 9 names"),
        "{text}"
    );
}
