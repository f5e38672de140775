//! `ferroctl` end to end: a real `ferrodns serve` with the embedded store and the
//! REST API on loopback, driven by the real `ferroctl` binary; what it writes is
//! checked with `dig`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../controlplane/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output};

use support::{Server, free_port, lines, write};

const ZONE: &str = "\
$ORIGIN svc.test.
$TTL 30
@    IN SOA ns1 hostmaster ( 1 3600 600 86400 60 )
@    IN NS  ns1
ns1  IN A   10.0.0.53
";

const TOKEN: &str = "ferroctl-secret";

/// ferrodns with the zone in its store and the API on a free port.
struct Appliance {
    server: Server,
    api: String,
}

impl Appliance {
    fn start() -> Appliance {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.redb");
        let zone = dir.path().join("svc.test.zone");
        write(&zone, ZONE);
        write(&dir.path().join("token"), &format!("{TOKEN}\n"));
        let imported = Command::new(support::ferrodns_binary())
            .args(["store", "--store"])
            .arg(&store)
            .args(["import", "svc.test."])
            .arg(&zone)
            .output()
            .unwrap();
        assert!(imported.status.success(), "{imported:?}");
        let api = format!("127.0.0.1:{}", free_port());
        let args = vec![
            "serve".to_owned(),
            "--workers".to_owned(),
            "1".to_owned(),
            "--store".to_owned(),
            store.display().to_string(),
            "--api".to_owned(),
            api.clone(),
            "--api-token-file".to_owned(),
            dir.path().join("token").display().to_string(),
        ];
        let server = Server::spawn(dir, args, "ns1.svc.test");
        Appliance {
            server,
            api: format!("http://{api}"),
        }
    }

    /// Runs ferroctl against this appliance, with the token in the environment.
    fn ferroctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ferroctl"))
            .args(args)
            .env("FERRODNS_API", &self.api)
            .env("FERRODNS_API_TOKEN", TOKEN)
            .output()
            .unwrap()
    }

    /// Runs ferroctl, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.ferroctl(args);
        assert!(output.status.success(), "ferroctl {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }
}

#[test]
fn records_written_with_ferroctl_are_answered_listed_and_deleted() {
    let appliance = Appliance::start();
    let dig = |args: &[&str]| lines(&appliance.server.dig(args));

    assert!(appliance.ok(&["zones", "list"]).contains("svc.test."));
    assert_eq!(
        appliance.ok(&[
            "records",
            "add",
            "web.svc.test.",
            "A",
            "10.0.0.1",
            "--ttl",
            "60"
        ]),
        "written 1, removed 0\n"
    );
    appliance.ok(&["records", "add", "web.svc.test", "A", "10.0.0.2"]);
    appliance.ok(&[
        "records",
        "add",
        "_http._tcp.web.svc.test.",
        "SRV",
        "10 5 80 web.svc.test.",
    ]);
    let mut web = dig(&["+short", "web.svc.test", "A"]);
    web.sort();
    assert_eq!(web, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(
        dig(&["+short", "_http._tcp.web.svc.test", "SRV"]),
        ["10 5 80 web.svc.test."]
    );

    // A table for people, JSON for scripts, both with every record.
    let table = appliance.ok(&["records", "list", "--zone", "svc.test."]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["web.svc.test.", "A", "60", "10.0.0.1"]),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&appliance.ok(&["--json", "records", "get", "web.svc.test."]))
            .unwrap();
    let mut data: Vec<&str> = json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data"].as_str().unwrap())
        .collect();
    data.sort();
    assert_eq!(data, ["10.0.0.1", "10.0.0.2"]);

    // Update replaces the RRset; delete of one record, then of the name.
    assert_eq!(
        appliance.ok(&[
            "records",
            "update",
            "web.svc.test.",
            "A",
            "10.0.0.7",
            "10.0.0.8"
        ]),
        "written 2, removed 2\n"
    );
    let mut web = dig(&["+short", "web.svc.test", "A"]);
    web.sort();
    assert_eq!(web, ["10.0.0.7", "10.0.0.8"]);
    appliance.ok(&["records", "delete", "web.svc.test.", "A", "10.0.0.7"]);
    assert_eq!(dig(&["+short", "web.svc.test", "A"]), ["10.0.0.8"]);
    appliance.ok(&["records", "delete", "web.svc.test."]);
    assert!(dig(&["+short", "web.svc.test", "A"]).is_empty());

    assert!(appliance.ok(&["health", "list"]).starts_with("IP"));
    assert!(appliance.ok(&["stats"]).contains("table.names"));
}

#[test]
fn server_errors_are_shown_as_they_came_and_exit_1_unreachable_exits_2() {
    let appliance = Appliance::start();

    let bad = appliance.ferroctl(&["records", "add", "web.svc.test.", "A", "not-an-address"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("server answered 400") && stderr.contains("(field data)"),
        "{stderr}"
    );
    assert!(
        lines(&appliance.server.dig(&["+short", "web.svc.test", "A"])).is_empty(),
        "nothing was written"
    );

    let unauthorized = Command::new(env!("CARGO_BIN_EXE_ferroctl"))
        .args([
            "--server",
            &appliance.api,
            "--token",
            "wrong",
            "zones",
            "list",
        ])
        .env_remove("FERRODNS_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(unauthorized.status.code(), Some(1), "{unauthorized:?}");
    assert!(String::from_utf8_lossy(&unauthorized.stderr).contains("server answered 401"));
    assert!(
        String::from_utf8_lossy(&unauthorized.stderr)
            .contains("give ferroctl the server's API token with --token or FERRODNS_API_TOKEN"),
        "the fix is named: {unauthorized:?}"
    );

    let nowhere = Command::new(env!("CARGO_BIN_EXE_ferroctl"))
        .args([
            "--server",
            &format!("http://127.0.0.1:{}", free_port()),
            "zones",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(2), "{nowhere:?}");
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("cannot reach the API"));
}

/// `ferroctl reload` does what SIGHUP does: here a zone added to the store
/// offline is served once it ran.
#[test]
fn reload_makes_the_server_read_its_store_again() {
    let appliance = Appliance::start();
    let zone = appliance.server.path("other.zone");
    write(&zone, "$TTL 30\nhost IN A 10.6.0.1\n");
    let store = appliance.server.path("store.redb");
    let imported = Command::new(support::ferrodns_binary())
        .args(["store", "--store"])
        .arg(&store)
        .args(["import", "other.test."])
        .arg(&zone)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    assert!(lines(&appliance.server.dig(&["+short", "host.other.test"])).is_empty());
    let said = appliance.ok(&["reload"]);
    assert!(said.starts_with("reloaded: 2 zones served"), "{said}");
    assert_eq!(
        lines(&appliance.server.dig(&["+short", "host.other.test"])),
        ["10.6.0.1"],
        "the reload is done when ferroctl returns"
    );
    let json: serde_json::Value =
        serde_json::from_str(&appliance.ok(&["--json", "reload"])).unwrap();
    assert_eq!(json["reloaded"], true, "{json}");
    assert_eq!(json["restart_needed"], serde_json::json!([]), "{json}");
}
