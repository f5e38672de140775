//! The containerdns routes of the real `ferrodns` binary, against a real etcd
//! and the embedded store: the containerdns README's curl examples verbatim,
//! then `containerdns-kubeapi/api.go` route by route (its `OK` / `ERR, …`
//! texts, its listing shape, the `user=` rule, the monitor status entries),
//! every write checked with `dig` and `etcdctl`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::etcd::Etcd;
use support::{Server, free_port, lines};

/// The token of the README's examples.
const TOKEN: &str = "123456789";
const ZONE: &str = "containerdns.local.";

/// The containerdns README's examples, exactly as printed there
/// (<https://github.com/tiglabs/containerdns#containerdns-kubeapi>), for an API
/// on 127.0.0.1:9001.
const README_TYPE_A: &str = r#"curl -H "Content-Type:application/json;charset=UTF-8"  -X POST -d '{"type":"A","ips":["192.168.10.1","192.168.10.2","192.168.10.3"]}'  http://127.0.0.1:9001/containerdns/api/cctv2?token="123456789""#;
const README_TYPE_CNAME: &str = r#"curl -H "Content-Type:application/json;charset=UTF-8"   -X POST -d '{"type":"cname","alias":"tv1"}' http://127.0.0.1:9001/containerdns/api/cctv2.containerdns.local?token="123456789""#;

/// Where the records live.
enum Backend {
    Etcd(Etcd),
    Store,
}

/// `ferrodns serve --domain containerdns.local.` with the API, on `backend`.
fn start(backend: &Backend) -> (Server, u16) {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let port = free_port();
    let mut args: Vec<String> = [
        "serve",
        "--workers",
        "1",
        "--domain",
        ZONE,
        "--api",
        &format!("127.0.0.1:{port}"),
        "--api-token-file",
        &token.display().to_string(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    match backend {
        Backend::Etcd(etcd) => {
            etcd.put(
                "/containerdns/local/containerdns/probe/x/",
                r#"{"host":"10.9.9.9","type":"A"}"#,
            );
            args.extend(["--etcd".into(), etcd.url()]);
        }
        Backend::Store => {
            args.extend([
                "--store".into(),
                dir.path().join("records.redb").display().to_string(),
                "--zone".into(),
                format!("probe.test.={}", write_probe_zone(dir.path())),
            ]);
        }
    }
    let probe = match backend {
        Backend::Etcd(_) => "probe.containerdns.local",
        Backend::Store => "ns.probe.test",
    };
    let server = Server::spawn(dir, args, probe);
    (server, port)
}

/// A zone file whose one name answers the start-up probe (the store starts
/// empty).
fn write_probe_zone(dir: &std::path::Path) -> String {
    let path = dir.join("probe.zone");
    std::fs::write(
        &path,
        "$ORIGIN probe.test.\n@ 30 IN SOA ns h 1 60 60 60 60\n@ 30 IN NS ns\nns 30 IN A 10.9.9.8\n",
    )
    .expect("zone");
    path.display().to_string()
}

/// What `curl` printed and the status it got.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// One request to `/containerdns/api{path}` (`path` carries its own query
/// after the token: `&user=…`).
fn cdns(port: u16, method: &str, path: &str, query: &str, body: Option<&str>) -> Reply {
    let url = format!("http://127.0.0.1:{port}/containerdns/api{path}?token={TOKEN}{query}");
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "--max-time",
        "10",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(body) = body {
        curl.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = curl.arg(url).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Reply {
        status: status.trim().parse().unwrap_or(0),
        body: body.to_owned(),
    }
}

/// Runs a README command line with the API's real address in place of
/// 127.0.0.1:9001; what it printed.
fn readme(command: &str, port: u16) -> String {
    let line = command.replace("127.0.0.1:9001", &format!("127.0.0.1:{port}"));
    let out = Command::new("sh")
        .args(["-c", &format!("{line} -sS")])
        .output()
        .expect("run sh");
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

fn short(server: &Server, name: &str, qtype: &str) -> Vec<String> {
    lines(&server.dig(&["+short", name, qtype]))
}

/// Waits until `name`'s `qtype` answer is `expected` (etcd's watch brings
/// writes back within milliseconds; the store answers at once).
fn answers(server: &Server, name: &str, qtype: &str, expected: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = short(server, name, qtype);
        if got == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} {qtype}: {got:?}, not {expected:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn assert_reply(reply: &Reply, status: u16, body: &str) {
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (status, body),
        "{reply:?}"
    );
}

#[test]
fn the_readme_examples_work_verbatim_on_etcd_and_on_the_store() {
    for backend in [Backend::Etcd(Etcd::start()), Backend::Store] {
        let (server, port) = start(&backend);
        // A name outside every API domain is completed with it.
        assert_eq!(readme(README_TYPE_A, port), "OK");
        answers(
            &server,
            "cctv2.containerdns.local",
            "A",
            &["192.168.10.1", "192.168.10.2", "192.168.10.3"],
        );
        // The CNAME goes at the alias and points at the URL's name.
        assert_eq!(readme(README_TYPE_CNAME, port), "OK");
        server.wait_until("tv1 CNAME cctv2", |s| {
            short(s, "tv1.containerdns.local", "CNAME") == ["cctv2.containerdns.local."]
        });
        assert_eq!(
            short(&server, "tv1.containerdns.local", "A"),
            [
                "192.168.10.1",
                "192.168.10.2",
                "192.168.10.3",
                "cctv2.containerdns.local."
            ]
        );
        assert_eq!(
            short(&server, "cctv2.containerdns.local", "CNAME"),
            Vec::<String>::new(),
            "not the other way round"
        );
        let Backend::Etcd(etcd) = &backend else {
            continue;
        };
        // The README's "monitor" example: the address marked DOWN leaves the answers.
        let status: Value = serde_json::from_str(
            &etcd
                .get("/containerdns/monitor/status/192.168.10.3")
                .expect("the A write listed the address for the health checker"),
        )
        .expect("json");
        assert_eq!(
            status,
            json!({"status": "UP", "domains": ["cctv2.containerdns.local."]})
        );
        etcd.put(
            "/containerdns/monitor/status/192.168.10.3",
            r#"{"status":"DOWN"}"#,
        );
        answers(
            &server,
            "cctv2.containerdns.local",
            "A",
            &["192.168.10.1", "192.168.10.2"],
        );
    }
}

/// The second README reproduction alone, with every name whole: ferrodns wrote
/// `cctv2 CNAME tv1` (and so refused it beside cctv2's addresses, 409).
#[test]
fn a_cname_goes_at_its_alias_and_points_at_the_url_s_name() {
    let backend = Backend::Etcd(Etcd::start());
    let (server, port) = start(&backend);
    let post = |name: &str, body: &str| cdns(port, "POST", &format!("/{name}"), "", Some(body));
    assert_reply(
        &post(
            "cctv2.containerdns.local",
            r#"{"type":"A","ips":["192.168.10.1"]}"#,
        ),
        200,
        "OK",
    );
    assert_reply(
        &post(
            "cctv2.containerdns.local",
            r#"{"type":"cname","alias":"tv1.containerdns.local"}"#,
        ),
        200,
        "OK",
    );
    answers(
        &server,
        "tv1.containerdns.local",
        "CNAME",
        &["cctv2.containerdns.local."],
    );
    answers(&server, "cctv2.containerdns.local", "A", &["192.168.10.1"]);
}

#[test]
fn every_route_answers_as_api_go_does() {
    let etcd = Etcd::start();
    let backend = Backend::Etcd(etcd);
    let (server, port) = start(&backend);
    let Backend::Etcd(etcd) = &backend else {
        unreachable!()
    };
    let send = |method: &str, path: &str, body: Option<&str>| cdns(port, method, path, "", body);

    // POST A, twice the same address, bad bodies.
    assert_reply(
        &send(
            "POST",
            "/app",
            Some(r#"{"type":"A","ips":["10.1.0.1","10.1.0.2"]}"#),
        ),
        200,
        "OK",
    );
    answers(
        &server,
        "app.containerdns.local",
        "A",
        &["10.1.0.1", "10.1.0.2"],
    );
    let cases = [
        (
            r#"{"type":"A","ips":["10.1.0.1"]}"#,
            409,
            "ERR, set domain name error",
        ),
        (r#"{"type":"A"}"#, 400, "ERR, no domain ips"),
        (
            r#"{"type":"A","ips":["10.1.0.300"]}"#,
            400,
            "ERR, it is not  IP addr",
        ),
        (r#"{"ips":["10.1.0.3"]}"#, 400, "ERR,type not support"),
        (r#"{"type":"HINFO"}"#, 400, "ERR, no type offered"),
        (r#"{"type":"SRV","ports":[80]}"#, 400, "ERR, no domain ips"),
        (
            r#"{"type":"SRV","ips":["10.1.0.5"]}"#,
            400,
            "ERR, no domain ports",
        ),
        (
            r#"{"type":"SRV","ips":["10.1.0.5","10.1.0.6","10.1.0.7"],"ports":[80,81]}"#,
            400,
            "ERR, ips and ports not match",
        ),
    ];
    for (body, status, text) in cases {
        assert_reply(&send("POST", "/app", Some(body)), status, text);
    }

    // GET one name, the apex without a type, a missing name, GET all.
    let one = send("GET", "/app.containerdns.local", None);
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(
        one.json(),
        json!({"app.containerdns.local.": {"type": "A", "ips": ["10.1.0.1", "10.1.0.2"]}})
    );
    assert_reply(
        &send("GET", "/containerdns.local", None),
        400,
        "ERR, type input",
    );
    assert_reply(
        &send("GET", "/nothing", None),
        404,
        "ERR, no find  domain name",
    );

    // POST SRV: targets given as addresses, containerdns's keys answered as it does.
    assert_reply(
        &send(
            "POST",
            "/_http._tcp.app",
            Some(r#"{"type":"SRV","ips":["10.1.0.1","10.1.0.2"],"ports":[80,81]}"#),
        ),
        200,
        "OK",
    );
    answers(
        &server,
        "_http._tcp.app.containerdns.local",
        "SRV",
        &[
            // etcd's SRV weights are shares of 100, as containerdns answers them.
            "10 50 80 e189117a._http._tcp.app.containerdns.local.",
            "10 50 81 e0890fe7._http._tcp.app.containerdns.local.",
        ],
    );
    assert_eq!(
        send("GET", "/_http._tcp.app", None).json(),
        json!({"_http._tcp.app.containerdns.local.":
            {"type": "SRV", "ips": ["10.1.0.1", "10.1.0.2"], "ports": [80, 81]}})
    );

    // POST CNAME writes the alias; again is refused; PUT renames the alias.
    assert_reply(
        &send("POST", "/app", Some(r#"{"type":"CNAME","alias":"www"}"#)),
        200,
        "OK",
    );
    answers(
        &server,
        "www.containerdns.local",
        "CNAME",
        &["app.containerdns.local."],
    );
    assert_reply(
        &send("POST", "/app", Some(r#"{"type":"CNAME","alias":"www"}"#)),
        409,
        "ERR, set domain name error  domain exists app.containerdns.local.",
    );
    assert_reply(
        &send(
            "PUT",
            "/app",
            Some(r#"{"type":"CNAME","update":{"www":"web"}}"#),
        ),
        200,
        "OK",
    );
    answers(
        &server,
        "web.containerdns.local",
        "CNAME",
        &["app.containerdns.local."],
    );
    answers(&server, "www.containerdns.local", "CNAME", &[]);
    assert_reply(
        &send(
            "PUT",
            "/other",
            Some(r#"{"type":"CNAME","update":{"web":"w2"}}"#),
        ),
        409,
        "ERR, alias name and domain not match web.containerdns.local.",
    );

    // NS, MX, TXT go to the zone's apex; the listing keys them as containerdns does.
    assert_reply(
        &send(
            "POST",
            "/ns1",
            Some(r#"{"type":"NS","nsHost":"10.1.0.53"}"#),
        ),
        200,
        "OK",
    );
    assert_reply(
        &send(
            "POST",
            "/mx1",
            Some(r#"{"type":"MX","mailHost":"10.1.0.25","mailPriority":20}"#),
        ),
        200,
        "OK",
    );
    assert_reply(
        &send(
            "POST",
            "/t1",
            Some(r#"{"type":"TXT","text":"v=spf1 -all"}"#),
        ),
        200,
        "OK",
    );
    server.wait_until("the apex's NS, MX and TXT", |s| {
        short(s, ZONE, "NS").contains(&"ns1.containerdns.local.".to_owned())
            && short(s, ZONE, "MX") == ["20 mx1.containerdns.local."]
            && short(s, ZONE, "TXT") == ["\"v=spf1 -all\""]
    });
    answers(&server, "ns1.containerdns.local", "A", &["10.1.0.53"]);
    assert_eq!(send("GET", "/containerdns.local", None).status, 400);
    assert_eq!(
        cdns(port, "GET", "/containerdns.local", "&type=NS", None).json(),
        json!({"ns1.ns.dns.containerdns.local.": {"type": "NS", "nsHost": "10.1.0.53"}})
    );
    assert_eq!(
        cdns(port, "GET", "/containerdns.local", "&type=MX", None).json(),
        json!({"mx1.mail.containerdns.local.":
            {"type": "MX", "mailHost": "10.1.0.25", "mailPriority": 20}})
    );
    assert_reply(&send("DELETE", "/ns1", Some(r#"{"type":"NS"}"#)), 200, "OK");
    assert_reply(
        &send(
            "DELETE",
            "/t1",
            Some(r#"{"type":"TXT","text":"v=spf1 -all"}"#),
        ),
        200,
        "OK",
    );
    server.wait_until("NS ns1 and the TXT gone", |s| {
        !short(s, ZONE, "NS").contains(&"ns1.containerdns.local.".to_owned())
            && short(s, ZONE, "TXT").is_empty()
    });

    // PUT with `update`: one address replaced; the status entries follow.
    assert_reply(
        &send(
            "PUT",
            "/app",
            Some(r#"{"type":"A","update":{"10.1.0.1":"10.1.0.9"}}"#),
        ),
        200,
        "OK",
    );
    answers(
        &server,
        "app.containerdns.local",
        "A",
        &["10.1.0.2", "10.1.0.9"],
    );
    assert_reply(
        &send("PUT", "/app", Some(r#"{"type":"A"}"#)),
        400,
        "ERR, no body update",
    );
    assert_reply(
        &send(
            "PUT",
            "/app",
            Some(r#"{"type":"A","update":{"10.1.0.1":"10.1.0.8"}}"#),
        ),
        409,
        "ERR, del or set key err",
    );
    let listed = |ip: &str| {
        etcd.get(&format!("/containerdns/monitor/status/{ip}"))
            .map(|v| serde_json::from_str::<Value>(&v).expect("json")["domains"].clone())
    };
    assert_eq!(listed("10.1.0.9"), Some(json!(["app.containerdns.local."])));
    assert_eq!(
        listed("10.1.0.1"),
        Some(json!(["_http._tcp.app.containerdns.local."])),
        "still the SRV's"
    );

    // DELETE with a body (some addresses, a CNAME), then without one.
    assert_reply(
        &send("DELETE", "/app", Some(r#"{"type":"A","ips":["10.1.0.7"]}"#)),
        409,
        "ERR, delete domain name error",
    );
    assert_reply(
        &send("DELETE", "/app", Some(r#"{"type":"A","ips":["10.1.0.2"]}"#)),
        200,
        "OK",
    );
    answers(&server, "app.containerdns.local", "A", &["10.1.0.9"]);
    assert_reply(
        &send("DELETE", "/web", Some(r#"{"type":"CNAME"}"#)),
        200,
        "OK",
    );
    answers(&server, "web.containerdns.local", "CNAME", &[]);
    assert_reply(&send("DELETE", "/_http._tcp.app", None), 200, "OK");
    assert_reply(&send("DELETE", "/app", None), 200, "OK");
    answers(&server, "app.containerdns.local", "A", &[]);
    answers(&server, "_http._tcp.app.containerdns.local", "SRV", &[]);
    assert_reply(
        &send("DELETE", "/app", None),
        404,
        "ERR, no find  domain name",
    );
    for ip in ["10.1.0.1", "10.1.0.2", "10.1.0.9"] {
        assert_eq!(
            listed(ip),
            None,
            "{ip}: its last name is gone, so is its entry"
        );
    }
    // GET all: what is left, in containerdns's shape.
    let all = send("GET", "", None).json();
    assert_eq!(
        all["probe.containerdns.local."]["ips"],
        json!(["10.9.9.9"]),
        "{all}"
    );
    assert!(all.get("app.containerdns.local.").is_none(), "{all}");
}

#[test]
fn a_user_given_owns_what_it_writes() {
    let backend = Backend::Etcd(Etcd::start());
    let (server, port) = start(&backend);
    let Backend::Etcd(etcd) = &backend else {
        unreachable!()
    };
    let as_user = |user: &str, method: &str, body: Option<&str>| {
        cdns(port, method, "/owned", &format!("&user={user}"), body)
    };
    assert_reply(
        &as_user("alice", "POST", Some(r#"{"type":"A","ips":["10.2.0.1"]}"#)),
        200,
        "OK",
    );
    answers(&server, "owned.containerdns.local", "A", &["10.2.0.1"]);
    let value: Value = serde_json::from_str(
        &etcd
            .get("/containerdns/local/containerdns/owned/b99f2687/")
            .expect("containerdns's key for 10.2.0.1"),
    )
    .expect("json");
    assert_eq!(value["user"], "alice");
    assert_reply(
        &as_user("bob", "POST", Some(r#"{"type":"A","ips":["10.2.0.2"]}"#)),
        403,
        "ERR, user name not match",
    );
    assert_reply(
        &as_user("bob", "DELETE", None),
        403,
        "ERR, user name not match",
    );
    assert_reply(
        &as_user("bob", "GET", None),
        404,
        "ERR, no find  domain name",
    );
    assert_eq!(
        as_user("alice", "GET", None).json(),
        json!({"owned.containerdns.local.": {"type": "A", "ips": ["10.2.0.1"], "user": "alice"}})
    );
    // A name written by nobody in particular is no user's.
    assert_reply(
        &cdns(
            port,
            "POST",
            "/free",
            "",
            Some(r#"{"type":"A","ips":["10.2.0.3"]}"#),
        ),
        200,
        "OK",
    );
    assert_reply(
        &cdns(port, "DELETE", "/free", "&user=alice", None),
        403,
        "ERR, user name not match",
    );
    assert_reply(&as_user("alice", "DELETE", None), 200, "OK");
    answers(&server, "owned.containerdns.local", "A", &[]);
}

#[test]
fn listing_a_name_keeps_the_other_fields_of_its_status_entry() {
    let backend = Backend::Etcd(Etcd::start());
    let (server, port) = start(&backend);
    let Backend::Etcd(etcd) = &backend else {
        unreachable!()
    };
    etcd.put(
        "/containerdns/monitor/status/10.3.0.1",
        r#"{"status":"DOWN","ports":["8080"],"cluster":"c1","domains":["old.containerdns.local."]}"#,
    );
    assert_reply(
        &cdns(
            port,
            "POST",
            "/kept",
            "",
            Some(r#"{"type":"A","ips":["10.3.0.1","10.3.0.2"]}"#),
        ),
        200,
        "OK",
    );
    let status: Value = serde_json::from_str(
        &etcd
            .get("/containerdns/monitor/status/10.3.0.1")
            .expect("entry"),
    )
    .expect("json");
    assert_eq!(
        status,
        json!({"status": "DOWN", "ports": ["8080"], "cluster": "c1",
               "domains": ["old.containerdns.local.", "kept.containerdns.local."]})
    );
    // The DOWN address stays out of the answers.
    answers(&server, "kept.containerdns.local", "A", &["10.3.0.2"]);
}
