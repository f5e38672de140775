//! SIGHUP rereads the configuration file too: zones added and removed,
//! forwarders and answer policies take effect without a restart; what cannot
//! change in a running server is named in one warning; a configuration that
//! does not load changes nothing and says why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::api::{Api, TOKEN};
use support::{Knot, Server, ZONE, free_port, lines, write};

/// A configuration serving `example.test.` from `example.zone`, plus `more`.
fn config_text(more: &str) -> String {
    format!(
        "[server]\nworkers = 1\n\
         [[zone]]\norigin = \"example.test.\"\nfile = \"example.zone\"\n{more}"
    )
}

const OTHER_ZONE: &str = "$ORIGIN other.test.\n$TTL 30\nhost IN A 10.8.0.1\n";

fn start(more: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("example.zone"), ZONE);
    write(&dir.path().join("other.zone"), OTHER_ZONE);
    write(&dir.path().join("ferrodns.toml"), &config_text(more));
    let config = dir.path().join("ferrodns.toml").display().to_string();
    Server::spawn(
        dir,
        vec!["serve".into(), "--config".into(), config],
        "web.example.test",
    )
}

fn rewrite_config(server: &Server, more: &str) {
    write(&server.path("ferrodns.toml"), &config_text(more));
}

fn status_of(answer: &str) -> String {
    answer
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("no answer")
        .to_owned()
}

#[test]
fn a_zone_added_to_the_config_is_served_after_sighup_and_a_removed_one_is_not() {
    let server = start("");
    assert_eq!(status_of(&server.dig(&["host.other.test"])), "REFUSED");

    rewrite_config(
        &server,
        "[[zone]]\norigin = \"other.test.\"\nfile = \"other.zone\"\n",
    );
    server.signal("-HUP");
    server.wait_until("the new zone served", |s| {
        lines(&s.dig(&["+short", "host.other.test"])) == ["10.8.0.1"]
    });
    assert!(
        lines(&server.dig(&["+short", "web.example.test"])).contains(&"10.0.0.1".to_owned()),
        "the zone that stayed is still served"
    );

    write(
        &server.path("ferrodns.toml"),
        "[server]\nworkers = 1\n[[zone]]\norigin = \"other.test.\"\nfile = \"other.zone\"\n",
    );
    server.signal("-HUP");
    server.wait_until("the removed zone gone", |s| {
        status_of(&s.dig(&["web.example.test"])) == "REFUSED"
    });
    assert_eq!(
        lines(&server.dig(&["+short", "host.other.test"])),
        ["10.8.0.1"]
    );
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn a_policy_changed_in_the_config_applies_after_sighup() {
    let server = start("");
    assert_eq!(lines(&server.dig(&["+short", "web.example.test"])).len(), 3);
    rewrite_config(
        &server,
        "[zone.names]\n\"web.example.test.\" = \"random-one\"\n",
    );
    server.signal("-HUP");
    server.wait_until("random-one on web", |s| {
        lines(&s.dig(&["+short", "web.example.test"])).len() == 1
    });
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn forwarders_changed_in_the_config_apply_after_sighup() {
    let first = Knot::start();
    let second = Knot::serve(
        "upstream.test.",
        &support::UPSTREAM_ZONE.replace("192.0.2.10", "192.0.2.99"),
        "www.upstream.test",
    );
    let forward = |knot: &Knot| format!("[forward]\nnameservers = [\"{}\"]\n", knot.addr());
    let server = start(&forward(&first));
    assert_eq!(
        lines(&server.dig(&["+short", "www.upstream.test"])),
        ["192.0.2.10"]
    );
    rewrite_config(&server, &forward(&second));
    server.signal("-HUP");
    server.wait_until("the new upstream asked", |s| {
        lines(&s.dig(&["+short", "www.upstream.test"])) == ["192.0.2.99"]
    });
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn what_needs_a_restart_is_named_in_one_warning_and_the_rest_applies() {
    let server = start("");
    write(
        &server.path("ferrodns.toml"),
        "[server]\nworkers = 2\n[chaos]\nversion = \"ferrodns-next\"\n\
         [[zone]]\norigin = \"example.test.\"\nfile = \"example.zone\"\n\
         [[zone]]\norigin = \"other.test.\"\nfile = \"other.zone\"\n",
    );
    server.signal("-HUP");
    server.wait_until("the new zone served", |s| {
        lines(&s.dig(&["+short", "host.other.test"])) == ["10.8.0.1"]
    });
    let log = server.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("need a restart"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("server.workers") && warnings[0].contains("chaos.version"),
        "{log}"
    );
    assert_eq!(
        server.dig(&["+short", "CH", "TXT", "version.bind"]).trim(),
        "",
        "the CHAOS answer stays as at start: REFUSED"
    );
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn a_config_that_does_not_load_changes_nothing_and_says_why() {
    let server = start("");
    write(
        &server.path("ferrodns.toml"),
        "[server]\nworkers = 1\n[[zone]]\norigin = \"other.test.\"\nfile = \"other.zone\"\n\
         [forward]\nnameservers = [\"not an address\"]\n",
    );
    server.signal("-HUP");
    server.wait_until("the reload refused", |s| {
        s.log_text().contains("forward.nameservers")
    });
    let log = server.log_text();
    assert!(log.contains("reload failed"), "{log}");
    assert_eq!(status_of(&server.dig(&["host.other.test"])), "REFUSED");
    assert!(lines(&server.dig(&["+short", "web.example.test"])).contains(&"10.0.0.1".to_owned()));

    write(
        &server.path("ferrodns.toml"),
        &config_text("[[zone]]\norigin = \"other.test.\"\nfile = \"missing.zone\"\n"),
    );
    server.signal("-HUP");
    server.wait_until("the missing zone file named", |s| {
        s.log_text().contains("missing.zone")
    });
    assert_eq!(status_of(&server.dig(&["host.other.test"])), "REFUSED");
    assert_eq!(server.stop().code(), Some(0));
}

/// `POST /v1/reload` (what `ferroctl reload` sends) reloads as SIGHUP does and
/// answers with the outcome: what changed, or why nothing did.
#[test]
fn the_api_reloads_on_request_and_answers_with_the_outcome() {
    let api_port = free_port();
    let store_and_api = format!(
        "[store]\npath = \"records.redb\"\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n\
         token_file = \"token\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("example.zone"), ZONE);
    write(&dir.path().join("other.zone"), OTHER_ZONE);
    write(&dir.path().join("token"), TOKEN);
    write(
        &dir.path().join("ferrodns.toml"),
        &config_text(&store_and_api),
    );
    let config = dir.path().join("ferrodns.toml").display().to_string();
    let server = Server::spawn(
        dir,
        vec!["serve".into(), "--config".into(), config],
        "web.example.test",
    );
    let api = Api::new(api_port);
    api.wait_up(&server);

    rewrite_config(
        &server,
        &format!("{store_and_api}[[zone]]\norigin = \"other.test.\"\nfile = \"other.zone\"\n"),
    );
    let reply = api.post("/v1/reload", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let outcome = reply.json();
    assert_eq!(outcome["zones"], 2, "{outcome}");
    assert_eq!(
        lines(&server.dig(&["+short", "host.other.test"])),
        ["10.8.0.1"],
        "served when the answer comes"
    );

    rewrite_config(
        &server,
        &format!("{store_and_api}[tcp]\nidle_timeout_ms = 0\n"),
    );
    let reply = api.post("/v1/reload", "");
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("tcp.idle_timeout_ms"),
        "{}",
        reply.body
    );
    assert_eq!(
        lines(&server.dig(&["+short", "host.other.test"])),
        ["10.8.0.1"],
        "nothing changed"
    );
    assert_eq!(api.send("POST", "/v1/reload", None, None).status, 401);
    let document = api.send("GET", "/v1/openapi.json", None, None).json();
    assert!(
        document["paths"]["/v1/reload"]["post"].is_object(),
        "documented"
    );
}
