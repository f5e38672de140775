//! The REST API of the real `ferrodns` binary (docs/api.md), driven with the real
//! `curl` and checked with `dig`: every route, the token, validation, the body
//! cap, durability across a restart, the containerdns routes, HTTPS, and writes
//! that land in a real etcd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::api::{Api, Reply, TOKEN, serve_etcd, store_and_api_args};
use support::etcd::Etcd;
use support::{Server, ZONE, free_port, lines};

/// `ferrodns serve` with the test zone from a file, the store in `state` (which
/// outlives the server), `--domain svc.example.`, and the API on a free port;
/// `extra` is appended.
fn start(state: &Path, extra: &[&str]) -> (Server, Api) {
    let token = state.join("token");
    std::fs::write(&token, format!("{TOKEN}\nignored second line\n")).expect("token");
    let token = token.display().to_string();
    let mut with_token = vec!["--api-token-file", token.as_str()];
    with_token.extend_from_slice(extra);
    start_with_env(state, &with_token, &[])
}

/// [`start`] without a token file: the token comes from `env`, if at all.
fn start_with_env(state: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Server, Api) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut args = store_and_api_args(dir.path(), state, port);
    args.extend(extra.iter().map(ToString::to_string));
    let server = Server::spawn_with_env(dir, args, env, "web.example.test");
    let api = Api::new(port);
    api.wait_up(&server);
    (server, api)
}

fn short(server: &Server, name: &str, qtype: &str) -> Vec<String> {
    lines(&server.dig(&["+short", name, qtype]))
}

fn status(server: &Server, name: &str) -> String {
    status_of(&server.dig(&[name, "A"]))
}

fn status_tcp(server: &Server, name: &str) -> String {
    status_of(&server.dig(&["+tcp", name, "A"]))
}

/// The status of a `dig` answer.
fn status_of(answer: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_v1_route_reads_and_writes_what_dig_then_answers() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);

    // Zones: the --domain zone is in the store; more can be added and removed.
    assert_eq!(
        api.get("/v1/zones").json(),
        json!({"zones": [{"name": "svc.example."}]})
    );
    assert_eq!(
        api.post("/v1/zones", r#"{"name":"extra.test"}"#).status,
        201
    );
    assert_eq!(
        api.post("/v1/zones", r#"{"name":"extra.test."}"#).status,
        200
    );
    assert_eq!(
        lines(&server.dig(&["+short", "extra.test.", "SOA"])).len(),
        1,
        "a new zone is served at once"
    );
    let removed = api.send("DELETE", "/v1/zones/extra.test.", None, Some(TOKEN));
    assert_eq!(
        (removed.status, removed.json()),
        (200, json!({"removed": true}))
    );
    assert_eq!(
        api.send("DELETE", "/v1/zones/extra.test.", None, Some(TOKEN))
            .status,
        404
    );

    // One record: durable and answered before the 201.
    let added = api.post(
        "/v1/records",
        r#"{"name":"web.svc.example","type":"A","ttl":60,"data":"10.0.0.1"}"#,
    );
    assert_eq!(
        (added.status, added.json()),
        (201, json!({"written": 1, "removed": 0}))
    );
    assert_eq!(short(&server, "web.svc.example.", "A"), ["10.0.0.1"]);

    // Bulk: several names and types in one batch.
    let bulk = api.post(
        "/v1/records/bulk",
        r#"{"records":[
            {"name":"web.svc.example.","type":"A","data":"10.0.0.2"},
            {"name":"_http._tcp.web.svc.example.","type":"SRV","data":"10 5 80 web.svc.example."},
            {"name":"txt.svc.example.","type":"TXT","data":"\"v=spf1 -all\""},
            {"name":"www.svc.example.","type":"CNAME","data":"web.svc.example."}
        ]}"#,
    );
    assert_eq!(
        (bulk.status, bulk.json()),
        (201, json!({"written": 4, "removed": 0}))
    );
    assert_eq!(
        short(&server, "_http._tcp.web.svc.example.", "SRV"),
        ["10 5 80 web.svc.example."]
    );
    assert_eq!(
        short(&server, "txt.svc.example.", "TXT"),
        ["\"v=spf1 -all\""]
    );

    // Listing: filters and pages.
    let all = api.get("/v1/records?zone=svc.example.").json();
    assert_eq!(all["records"].as_array().map(Vec::len), Some(5), "{all}");
    assert_eq!(all["next"], Value::Null);
    let a_only = api.get("/v1/records?zone=svc.example.&type=A").json();
    assert_eq!(a_only["records"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        a_only["records"][0],
        json!({"zone":"svc.example.","name":"web.svc.example.","type":"A","ttl":60,"data":"10.0.0.1"})
    );
    let exact = api.get("/v1/records?name=web.svc.example.").json();
    assert_eq!(exact["records"].as_array().map(Vec::len), Some(2));
    let subtree = api
        .get("/v1/records?name=web.svc.example.&subtree=true")
        .json();
    assert_eq!(subtree["records"].as_array().map(Vec::len), Some(3));
    let first = api.get("/v1/records?zone=svc.example.&limit=2").json();
    assert_eq!(first["records"].as_array().map(Vec::len), Some(2));
    let cursor = first["next"].as_str().expect("a next cursor").to_owned();
    let rest = api
        .get(&format!(
            "/v1/records?zone=svc.example.&limit=2&cursor={cursor}"
        ))
        .json();
    assert_eq!(rest["records"].as_array().map(Vec::len), Some(2));
    assert_ne!(first["records"][0], rest["records"][0]);
    assert_eq!(api.get("/v1/records?limit=1001").json()["field"], "limit");

    // One name.
    let web = api.get("/v1/records/web.svc.example.?type=A").json();
    assert_eq!(web["records"].as_array().map(Vec::len), Some(2));
    assert_eq!(api.get("/v1/records/nothing.svc.example.").status, 404);

    // Replace an RRset.
    let replaced = api.send(
        "PUT",
        "/v1/records/web.svc.example./A",
        Some(r#"{"ttl":30,"data":["10.0.0.7","10.0.0.8","10.0.0.9"]}"#),
        Some(TOKEN),
    );
    assert_eq!(
        (replaced.status, replaced.json()),
        (200, json!({"written": 3, "removed": 2}))
    );
    assert_eq!(
        short(&server, "web.svc.example.", "A"),
        ["10.0.0.7", "10.0.0.8", "10.0.0.9"]
    );

    // Delete one record, an RRset, a name.
    let one = api.send(
        "DELETE",
        "/v1/records/web.svc.example./A?data=10.0.0.8",
        None,
        Some(TOKEN),
    );
    assert_eq!((one.status, one.json()), (200, json!({"removed": 1})));
    assert_eq!(
        short(&server, "web.svc.example.", "A"),
        ["10.0.0.7", "10.0.0.9"]
    );
    let rrset = api.send(
        "DELETE",
        "/v1/records/txt.svc.example./TXT",
        None,
        Some(TOKEN),
    );
    assert_eq!((rrset.status, rrset.json()), (200, json!({"removed": 1})));
    let name = api.send("DELETE", "/v1/records/web.svc.example.", None, Some(TOKEN));
    assert_eq!((name.status, name.json()), (200, json!({"removed": 2})));
    assert_eq!(status(&server, "web.svc.example."), "NOERROR"); // below it: the SRV
    assert!(short(&server, "web.svc.example.", "A").is_empty());
    assert_eq!(
        api.send("DELETE", "/v1/records/web.svc.example.", None, Some(TOKEN))
            .status,
        404
    );

    // Health (no etcd: no targets), stats, metrics, probes, the document.
    assert_eq!(
        api.get("/v1/health").json(),
        json!({"targets": [], "up": 0, "down": 0})
    );
    // One query over TCP too: both transports are counted.
    assert_eq!(status_tcp(&server, "nope.svc.example."), "NXDOMAIN");
    let stats = api.get("/v1/stats").json();
    assert!(
        stats["table"]["names"].as_u64().unwrap_or(0) > 10,
        "{stats}"
    );
    assert!(
        stats["queries"]["total"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert!(
        stats["queries"]["by_rcode"]["NOERROR"]
            .as_u64()
            .unwrap_or(0)
            > 0
            && stats["queries"]["by_rcode"]["NXDOMAIN"]
                .as_u64()
                .unwrap_or(0)
                > 0
            && stats["queries"]["by_qtype"]["A"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(stats["etcd"], Value::Null);
    assert_eq!(stats["cores"].as_array().map(Vec::len), Some(1));
    let metrics = api.send("GET", "/metrics", None, None);
    assert_eq!(metrics.status, 200);
    for family in [
        "ferrodns_queries_total{rcode=\"NOERROR\",qtype=\"A\"}",
        "ferrodns_queries_total{rcode=\"NXDOMAIN\",qtype=\"A\"}",
        "ferrodns_core_rx_total{core=\"0\"}",
        "ferrodns_core_tx_total{core=\"0\"}",
        "ferrodns_core_drops_total{core=\"0\"}",
        "ferrodns_core_punts_total{core=\"0\"}",
        "ferrodns_table_names ",
        "ferrodns_health_targets{status=\"UP\"} 0",
        "ferrodns_api_requests_total{route=\"/v1/records\",status=\"201\"} 1",
    ] {
        assert!(
            metrics.body.contains(family),
            "{family} in {}",
            metrics.body
        );
    }
    let healthz = api.send("GET", "/healthz", None, None);
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok"));
    let readyz = api.send("GET", "/readyz", None, None);
    assert_eq!((readyz.status, readyz.body.as_str()), (200, "ready"));
    let unknown = api.get("/v1/nothing-here");
    assert_eq!(
        (unknown.status, unknown.json()["field"].clone()),
        (404, Value::Null)
    );
    let document = api.send("GET", "/v1/openapi.json", None, None).json();
    assert_eq!(document["openapi"], "3.0.3");
    for path in [
        "/v1/zones",
        "/v1/zones/{zone}",
        "/v1/records",
        "/v1/records/bulk",
        "/v1/records/{name}",
        "/v1/records/{name}/{type}",
        "/v1/health",
        "/v1/stats",
    ] {
        assert!(document["paths"][path].is_object(), "{path} documented");
    }
}

#[test]
fn a_missing_or_wrong_token_is_401_and_writes_nothing() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);
    let body = r#"{"name":"evil.svc.example.","type":"A","data":"10.6.6.6"}"#;
    for token in [
        None,
        Some("wrong"),
        Some("s3cret-token-but-longer"),
        Some(""),
    ] {
        let reply = api.send("POST", "/v1/records", Some(body), token);
        assert_eq!(reply.status, 401, "{token:?}");
        assert_eq!(reply.json()["field"], Value::Null);
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(api.send("GET", "/v1/zones", None, None).status, 401);
    let cdns = api.send(
        "POST",
        "/containerdns/api/evil.svc.example?token=wrong",
        Some(r#"{"type":"A","ips":["10.6.6.6"]}"#),
        None,
    );
    assert_eq!(
        (cdns.status, cdns.body.as_str()),
        (401, "ERR, unauthorized")
    );
    let no_token = api.send("GET", "/containerdns/api", None, None);
    assert_eq!(no_token.status, 401);
    assert_eq!(status(&server, "evil.svc.example."), "NXDOMAIN");
    assert_eq!(api.get("/v1/records/evil.svc.example.").status, 404);
}

/// Issue 17, item 7: the API creates no zone at the root or a top-level domain
/// (it would take every name under it from the forwarder).
#[test]
fn the_api_creates_no_root_or_top_level_zone() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);
    for zone in [".", "com.", "com"] {
        let refused = api.post("/v1/zones", &format!(r#"{{"name":"{zone}"}}"#));
        assert_eq!(refused.status, 400, "{zone}: {}", refused.body);
        assert_eq!(refused.json()["field"], "name");
    }
    let zones = api.get("/v1/zones").json();
    assert!(!zones.to_string().contains("\"com.\""), "{zones}");
    // Not a local zone: without a forwarder, REFUSED (a zone would answer its SOA).
    let soa = server.dig(&["com.", "SOA"]);
    assert!(soa.contains("status: REFUSED"), "{soa}");
}

#[test]
fn without_a_token_file_the_token_comes_from_the_environment() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start_with_env(state.path(), &[], &[("FERRODNS_API_TOKEN", TOKEN)]);
    let body = r#"{"name":"env.svc.example.","type":"A","data":"10.7.0.1"}"#;
    let wrong = api.send("POST", "/v1/records", Some(body), Some("wrong"));
    assert_eq!(wrong.status, 401);
    let reply = api.post("/v1/records", body);
    assert!(reply.status / 100 == 2, "{} {}", reply.status, reply.body);
    assert_eq!(short(&server, "env.svc.example.", "A"), ["10.7.0.1"]);
}

#[test]
fn bad_records_are_400_naming_the_field_and_nothing_is_written() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);
    let cases = [
        (
            r#"{"name":"a.svc.example.","type":"A","ttl":2147483648,"data":"10.0.0.1"}"#,
            "ttl",
        ),
        (
            r#"{"name":"a..svc.example.","type":"A","data":"10.0.0.1"}"#,
            "name",
        ),
        (
            r#"{"name":"a.svc.example.","type":"HINFO","data":"x y"}"#,
            "type",
        ),
        (
            r#"{"name":"a.svc.example.","type":"A","data":"10.0.0.300"}"#,
            "data",
        ),
        (
            r#"{"name":"a.svc.example.","type":"AAAA","data":"10.0.0.1"}"#,
            "data",
        ),
        (r#"{"name":"a.svc.example.","type":"A"}"#, "data"),
        (
            r#"{"name":"a.elsewhere.","type":"A","data":"10.0.0.1"}"#,
            "name",
        ),
    ];
    for (body, field) in cases {
        let reply = api.post("/v1/records", body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.json()["field"], field, "{body}");
    }
    let not_json = api.post("/v1/records", "{not json");
    assert_eq!(not_json.status, 400);

    // A bulk import is all or none; the error names the record and its field.
    let bulk = api.post(
        "/v1/records/bulk",
        r#"{"records":[
            {"name":"ok1.svc.example.","type":"A","data":"10.0.0.1"},
            {"name":"ok2.svc.example.","type":"A","data":"10.0.0.2"},
            {"name":"ok3.svc.example.","type":"A","data":"10.0.0.3"},
            {"name":"bad.svc.example.","type":"A","ttl":2147483648,"data":"10.0.0.4"}
        ]}"#,
    );
    assert_eq!(
        (bulk.status, bulk.json()),
        (
            400,
            json!({"error": "ttl must be at most 2147483647", "field": "records[3].ttl"})
        )
    );
    // Refused by the store (outside every zone), after the API's own checks.
    let outside = api.post(
        "/v1/records/bulk",
        r#"{"records":[
            {"name":"ok1.svc.example.","type":"A","data":"10.0.0.1"},
            {"name":"ok1.elsewhere.","type":"A","data":"10.0.0.1"}
        ]}"#,
    );
    assert_eq!(
        (outside.status, outside.json()["field"].clone()),
        (400, json!("records[1]"))
    );
    assert_eq!(status(&server, "ok1.svc.example."), "NXDOMAIN");
    let listed = api.get("/v1/records?zone=svc.example.").json();
    assert_eq!(listed["records"], json!([]));

    // A CNAME beside other data is a conflict.
    assert_eq!(
        api.post(
            "/v1/records",
            r#"{"name":"c.svc.example.","type":"A","data":"10.0.0.1"}"#
        )
        .status,
        201
    );
    let conflict = api.post(
        "/v1/records",
        r#"{"name":"c.svc.example.","type":"CNAME","data":"web.svc.example."}"#,
    );
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_eq!(short(&server, "c.svc.example.", "A"), ["10.0.0.1"]);

    // Over the body cap: 413, nothing written.
    let padding = " ".repeat(1 << 20);
    let big = format!(r#"{{"name":"big.svc.example.","type":"A","data":"10.0.0.1"}}{padding}"#);
    let file = state.path().join("big.json");
    std::fs::write(&file, big).expect("big body");
    let too_big = api.post("/v1/records", &format!("@{}", file.display()));
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    assert_eq!(status(&server, "big.svc.example."), "NXDOMAIN");
}

#[test]
fn records_written_over_rest_survive_a_restart() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);
    assert_eq!(
        api.post(
            "/v1/records",
            r#"{"name":"kept.svc.example.","type":"A","data":"10.4.0.1"}"#
        )
        .status,
        201
    );
    // A SIGHUP reload takes turns with the API's writes and keeps their records.
    server.signal("-HUP");
    server.wait_until("the reload", |s| {
        s.log_text().matches("table published").count() >= 2
    });
    assert_eq!(
        api.post(
            "/v1/records",
            r#"{"name":"kept.svc.example.","type":"A","data":"10.4.0.2"}"#
        )
        .status,
        201
    );
    assert_eq!(
        short(&server, "kept.svc.example.", "A"),
        ["10.4.0.1", "10.4.0.2"]
    );
    assert!(server.stop().success());

    let (server, api) = start(state.path(), &[]);
    assert_eq!(
        short(&server, "kept.svc.example.", "A"),
        ["10.4.0.1", "10.4.0.2"]
    );
    assert_eq!(
        api.get("/v1/records/kept.svc.example.").json()["records"][0]["data"],
        "10.4.0.1"
    );
}

/// Issue 17, defect 1: a write the answer table cannot serve is refused before
/// anything is stored, so no write can keep the server from starting.
#[test]
fn a_write_over_the_limits_is_refused_and_every_restart_serves() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);
    // 150 strings of 255 octets: about 38 KB of answer, under the limit once.
    let txt = |letter: char| {
        let strings: Vec<String> = (0..150)
            .map(|_| format!("\\\"{}\\\"", letter.to_string().repeat(255)))
            .collect();
        format!(
            r#"{{"name":"big.svc.example.","type":"TXT","data":"{}"}}"#,
            strings.join(" ")
        )
    };
    assert_eq!(api.post("/v1/records", &txt('a')).status, 201);
    let refused = api.post("/v1/records", &txt('b'));
    assert_eq!(refused.status, 400, "{}", refused.body);
    let error = refused.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("RRset TXT") && error.contains("limit of 65000 bytes"),
        "{error}"
    );
    assert!(
        refused.body.len() < 2_000,
        "the refusal echoes {} bytes",
        refused.body.len()
    );
    // 60,000 addresses in one containerdns POST: refused whole.
    let ips: Vec<String> = (0..60_000u32)
        .map(|i| format!("\"10.{}.{}.{}\"", (i >> 16) & 255, (i >> 8) & 255, i & 255))
        .collect();
    let body = state.path().join("many.json");
    std::fs::write(
        &body,
        format!(r#"{{"type":"A","ips":[{}]}}"#, ips.join(",")),
    )
    .expect("body");
    let many = api.post_file(
        &format!("/containerdns/api/many.svc.example?token={TOKEN}"),
        &body,
    );
    assert!(
        (400..500).contains(&many.status),
        "{} {}",
        many.status,
        many.body
    );
    assert!(
        many.body.starts_with("ERR, ") && many.body.contains("limit of"),
        "{}",
        many.body
    );
    assert_eq!(status(&server, "many.svc.example."), "NXDOMAIN");

    server.signal("-HUP");
    server.wait_until("the reload", |s| {
        s.log_text().matches("table published").count() >= 2
    });
    assert!(server.stop().success());
    let (server, _api) = start(state.path(), &[]);
    assert_eq!(short(&server, "big.svc.example.", "TXT").len(), 1);
    assert_eq!(status(&server, "many.svc.example."), "NXDOMAIN");
}

#[test]
fn containerdns_routes_answer_ok_or_err() {
    let state = tempfile::tempdir().expect("state dir");
    let (server, api) = start(state.path(), &[]);
    let cdns = |method: &str, domain: &str, body: Option<&str>| {
        let path = if domain.is_empty() {
            format!("/containerdns/api?token={TOKEN}")
        } else {
            format!("/containerdns/api/{domain}?token={TOKEN}")
        };
        api.send(method, &path, body, None)
    };
    let ok = |reply: Reply| assert_eq!((reply.status, reply.body.as_str()), (200, "OK"));

    ok(cdns(
        "POST",
        "app.svc.example",
        Some(r#"{"type":"A","ips":["192.168.10.1","192.168.10.2"]}"#),
    ));
    assert_eq!(
        short(&server, "app.svc.example.", "A"),
        ["192.168.10.1", "192.168.10.2"]
    );
    ok(cdns(
        "POST",
        "_http._tcp.app.svc.example",
        Some(r#"{"type":"SRV","ips":["app.svc.example."],"ports":[8080]}"#),
    ));
    assert_eq!(
        short(&server, "_http._tcp.app.svc.example.", "SRV"),
        ["10 10 8080 app.svc.example."]
    );
    // containerdns writes the CNAME at the alias, pointing at the URL's name.
    ok(cdns(
        "POST",
        "app.svc.example",
        Some(r#"{"type":"CNAME","alias":"alias.svc.example."}"#),
    ));
    assert_eq!(
        short(&server, "alias.svc.example.", "CNAME"),
        ["app.svc.example."]
    );
    ok(cdns(
        "PUT",
        "app.svc.example",
        Some(r#"{"type":"A","update":{"192.168.10.1":"192.168.10.9"}}"#),
    ));
    assert_eq!(
        short(&server, "app.svc.example.", "A"),
        ["192.168.10.2", "192.168.10.9"]
    );

    // containerdns's shape: {"<fqdn>": {"type", "ips", "alias-domain", ...}}.
    let one = cdns("GET", "app.svc.example", None);
    assert_eq!(one.status, 200);
    assert_eq!(
        one.json()["app.svc.example."]["ips"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let all = cdns("GET", "", None).json();
    assert_eq!(
        all["alias.svc.example."]["alias-domain"], "app.svc.example.",
        "{all}"
    );
    assert_eq!(
        all["app.svc.example."]["ips"].as_array().map(Vec::len),
        Some(2)
    );

    ok(cdns(
        "DELETE",
        "app.svc.example",
        Some(r#"{"type":"A","ips":["192.168.10.9"]}"#),
    ));
    assert_eq!(short(&server, "app.svc.example.", "A"), ["192.168.10.2"]);
    ok(cdns("DELETE", "alias.svc.example", None));
    assert_eq!(status(&server, "alias.svc.example."), "NXDOMAIN");

    let missing = cdns("GET", "alias.svc.example", None);
    assert_eq!(missing.status, 404);
    assert!(missing.body.starts_with("ERR, "), "{}", missing.body);
    assert_eq!(
        missing.body, "ERR, no find  domain name",
        "containerdns's text"
    );
    let bad = cdns(
        "POST",
        "app.svc.example",
        Some(r#"{"type":"A","ips":["300.1.1.1"]}"#),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.starts_with("ERR, "), "{}", bad.body);
    let stale = cdns(
        "PUT",
        "app.svc.example",
        Some(r#"{"type":"A","update":{"192.168.10.1":"192.168.10.3"}}"#),
    );
    assert!(stale.body.starts_with("ERR, "), "{}", stale.body);
    assert_eq!(short(&server, "app.svc.example.", "A"), ["192.168.10.2"]);
}

#[test]
fn with_a_certificate_the_api_speaks_https_only() {
    let state = tempfile::tempdir().expect("state dir");
    let cert = state.path().join("cert.pem");
    let key = state.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = state.path().join("ferrodns.toml");
    std::fs::write(
        &config,
        "[api]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nmax_body_bytes = 4096\n",
    )
    .expect("config");
    let dir = tempfile::tempdir().expect("temp dir");
    let token = state.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let port = free_port();
    let zone = dir.path().join("example.test.zone");
    std::fs::write(&zone, ZONE).expect("zone");
    let args: Vec<String> = [
        "serve".to_owned(),
        "--config".into(),
        config.display().to_string(),
        "--workers".into(),
        "1".into(),
        "--zone".into(),
        format!("example.test.={}", zone.display()),
        "--domain".into(),
        "svc.example.".into(),
        "--store".into(),
        state.path().join("records.redb").display().to_string(),
        "--api".into(),
        format!("127.0.0.1:{port}"),
        "--api-token-file".into(),
        token.display().to_string(),
    ]
    .into();
    let server = Server::spawn(dir, args, "web.example.test");
    let api = Api {
        base: format!("https://127.0.0.1:{port}"),
        curl: vec!["--cacert".into(), cert.display().to_string()],
    };
    api.wait_up(&server);
    let added = api.post(
        "/v1/records",
        r#"{"name":"tls.svc.example.","type":"A","data":"10.5.0.1"}"#,
    );
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(short(&server, "tls.svc.example.", "A"), ["10.5.0.1"]);
    // The configured cap applies.
    let padded = format!(
        r#"{{"name":"tls.svc.example.","type":"A","data":"10.5.0.2"}}{}"#,
        " ".repeat(5000)
    );
    assert_eq!(api.post("/v1/records", &padded).status, 413);
    // Plain HTTP gets no answer.
    let plain = Api::new(port).send("GET", "/healthz", None, None);
    assert_ne!(plain.status, 200, "{plain:?}");
}

#[test]
fn with_etcd_writes_land_in_etcd_and_are_answered() {
    let mut etcd = Etcd::start();
    etcd.put(
        "/containerdns/com/example/seed/debebe8d/",
        r#"{"host":"10.0.0.1","type":"A","ttl":30}"#,
    );
    let (server, api) = serve_etcd(&[etcd.url()], &[], "seed.example.com");

    assert_eq!(
        api.get("/v1/zones").json(),
        json!({"zones": [{"name": "example.com."}]})
    );
    let added = api.post(
        "/v1/records",
        r#"{"name":"web.example.com.","type":"A","data":"10.0.0.2"}"#,
    );
    assert_eq!(added.status, 201, "{}", added.body);
    // The key containerdns's own API would write (FNV-1a of the address).
    assert_eq!(
        etcd.get("/containerdns/com/example/web/dbbeb9d4/")
            .as_deref(),
        Some(r#"{"host":"10.0.0.2","ttl":30,"type":"A"}"#)
    );
    server.wait_until("web.example.com A from etcd", |s| {
        short(s, "web.example.com.", "A") == ["10.0.0.2"]
    });
    let cdns = api.send(
        "POST",
        &format!("/containerdns/api/web.example.com?token={TOKEN}"),
        Some(r#"{"type":"CNAME","alias":"alias.example.com."}"#),
        None,
    );
    assert_eq!(cdns.body, "OK");
    assert!(etcd.get("/containerdns/com/example/alias/").is_some());
    // Zones of an etcd source come from --domain.
    assert_eq!(api.post("/v1/zones", r#"{"name":"new.test."}"#).status, 400);

    // etcd unreachable: 503, nothing written, the last table still served.
    let revision = etcd.revision();
    etcd.stop();
    let refused = api.post(
        "/v1/records",
        r#"{"name":"down.example.com.","type":"A","data":"10.0.0.3"}"#,
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(short(&server, "web.example.com.", "A"), ["10.0.0.2"]);
    etcd.restart();
    assert_eq!(
        etcd.revision(),
        revision,
        "nothing was written while etcd was down"
    );
}

#[test]
fn readyz_waits_until_the_table_holds_what_etcd_holds() {
    let mut etcd = Etcd::start();
    etcd.put(
        "/containerdns/com/example/seed/debebe8d/",
        r#"{"host":"10.0.0.1","type":"A","ttl":30}"#,
    );
    etcd.stop();
    let dir = tempfile::tempdir().expect("temp dir");
    let zone = dir.path().join("example.test.zone");
    std::fs::write(&zone, ZONE).expect("zone");
    let zone = format!("example.test.={}", zone.display());
    // etcd is down and there is no snapshot: the etcd zone is served empty.
    let (server, api) = serve_etcd(&[etcd.url()], &["--zone", &zone], "web.example.test");
    let waiting = api.send("GET", "/readyz", None, None);
    assert_eq!(waiting.status, 503, "{}", waiting.body);
    assert_eq!(api.send("GET", "/healthz", None, None).status, 200);

    etcd.restart();
    server.wait_until("/readyz 200 once etcd is loaded", |_| {
        api.send("GET", "/readyz", None, None).status == 200
    });
    assert_eq!(short(&server, "seed.example.com.", "A"), ["10.0.0.1"]);
}
