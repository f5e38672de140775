//! Records and health from a real etcd, written with the real `etcdctl` exactly as
//! containerdns and external-dns write them, answered by the real `ferrodns`
//! binary and checked with `dig`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use ferrodns::config::Overrides;
use ferrodns::etcd::EtcdSource;
use ferrodns::etcd::writer::EtcdWriter;
use ferrodns::pipeline::{Policies, Publisher, PublisherHandle};
use ferrodns::records::{Change, RecordQuery, RecordWriter};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};
use ferrodns_dataplane::table::Table;
use support::etcd::Etcd;
use support::{Server, lines};

/// `ferrodns serve` fed by `etcd`, serving the given `--domain`s.
fn ferrodns(etcd: &Etcd, domains: &[&str], extra: &[&str], probe: &str) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args: Vec<String> = vec!["serve".into(), "--workers".into(), "1".into()];
    args.extend(["--etcd".into(), etcd.url()]);
    for domain in domains {
        args.extend(["--domain".into(), (*domain).into()]);
    }
    args.extend(
        extra
            .iter()
            .map(|s| s.replace("{dir}", &dir.path().display().to_string())),
    );
    Server::spawn(dir, args, probe)
}

fn short(server: &Server, name: &str, qtype: &str) -> Vec<String> {
    lines(&server.dig(&["+short", name, qtype]))
}

fn status(server: &Server, name: &str) -> String {
    let out = server.dig(&[name, "A"]);
    out.lines()
        .find_map(|l| l.split("status: ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("no answer")
        .to_owned()
}

/// Waits until `name`'s `qtype` answer is `expected`.
fn wait_answer(server: &Server, name: &str, qtype: &str, expected: &[&str]) {
    server.wait_until(&format!("{name} {qtype} = {expected:?}"), |s| {
        short(s, name, qtype) == expected
    });
}

// containerdns's API keys: /containerdns/<reversed>/<fnv32a hash of the IP>/.
const CDNS_WEB1: (&str, &str) = (
    "/containerdns/com/example/web/debebe8d/",
    r#"{"host":"10.0.0.1","type":"A","ttl":30,"cluster":"c1","user":"alice"}"#,
);
const CDNS_WEB2: (&str, &str) = (
    "/containerdns/com/example/web/dbbeb9d4/",
    r#"{"host":"10.0.0.2","type":"A","ttl":30,"cluster":"c1","user":"alice"}"#,
);

#[test]
fn records_of_both_layouts_are_answered_and_deletes_remove_them() {
    let etcd = Etcd::start();
    for (key, value) in [
        CDNS_WEB1,
        CDNS_WEB2,
        (
            "/containerdns/com/example/www/",
            r#"{"host":"web.example.com.","type":"CNAME","ttl":30,"cluster":"c1","user":"alice"}"#,
        ),
        (
            "/containerdns/com/example/web/_tcp/_http/3e1f0c11/",
            r#"{"host":"10.0.0.5","type":"SRV","ttl":30,"port":8080,"priority":10,"weight":10,"cluster":"c1","user":"alice"}"#,
        ),
        (
            "/containerdns/com/example/txt/web/",
            r#"{"type":"TXT","text":"v=spf1 -all","cluster":"c1","user":"alice"}"#,
        ),
        // external-dns's coredns provider: random 8-hex leaf, targetstrip 1.
        (
            "/skydns/org/example/api/4f6c1a2b",
            r#"{"host":"10.1.0.1","ttl":60,"targetstrip":1}"#,
        ),
        (
            "/skydns/org/example/api/0d9e8f7a",
            r#"{"host":"2001:db8::1","ttl":60,"targetstrip":1}"#,
        ),
        (
            "/skydns/org/example/a-api/1c2d3e4f",
            r#"{"text":"\"heritage=external-dns,external-dns/owner=default\"","targetstrip":1}"#,
        ),
        (
            "/skydns/org/example/cdn/7d3e2f10",
            r#"{"host":"lb.example.net","ttl":60,"targetstrip":1}"#,
        ),
        (
            "/skydns/arpa/in-addr/10/1/0/1",
            r#"{"host":"api.example.org"}"#,
        ),
        // One bad value: skipped and reported alone.
        (
            "/skydns/org/example/broken/5a5a5a5a",
            r#"{"host":"10.1.0.9","ttl":"#,
        ),
    ] {
        etcd.put(key, value);
    }
    let server = ferrodns(
        &etcd,
        &["example.com", "example.org", "10.in-addr.arpa"],
        &[],
        "web.example.com",
    );
    assert_eq!(
        short(&server, "web.example.com", "A"),
        ["10.0.0.1", "10.0.0.2"]
    );
    assert_eq!(
        short(&server, "www.example.com", "A"),
        ["10.0.0.1", "10.0.0.2", "web.example.com."]
    );
    let srv = server.dig(&[
        "+noall",
        "+answer",
        "+additional",
        "_http._tcp.web.example.com",
        "SRV",
    ]);
    assert!(
        srv.contains("SRV\t10 100 8080 3e1f0c11._http._tcp.web.example.com."),
        "{srv}"
    );
    assert!(
        srv.contains("3e1f0c11._http._tcp.web.example.com. 30\tIN A\t10.0.0.5"),
        "{srv}"
    );
    assert_eq!(short(&server, "example.com", "TXT"), ["\"v=spf1 -all\""]);
    assert_eq!(short(&server, "api.example.org", "A"), ["10.1.0.1"]);
    assert_eq!(short(&server, "api.example.org", "AAAA"), ["2001:db8::1"]);
    assert_eq!(
        short(&server, "a-api.example.org", "TXT"),
        ["\"\\\"heritage=external-dns,external-dns/owner=default\\\"\""]
    );
    assert_eq!(
        short(&server, "cdn.example.org", "CNAME"),
        ["lb.example.net."]
    );
    assert_eq!(
        short(&server, "1.0.1.10.in-addr.arpa", "PTR"),
        ["api.example.org."]
    );
    // SOA and NS made up for a zone that stores none.
    assert_eq!(short(&server, "example.org", "NS"), ["ns.dns.example.org."]);
    let soa = short(&server, "example.org", "SOA");
    assert!(
        soa[0].starts_with("ns.dns.example.org. hostmaster.example.org."),
        "{soa:?}"
    );
    // The bad key alone is missing, and the log names it.
    assert_eq!(status(&server, "broken.example.org"), "NXDOMAIN");
    assert!(
        server
            .log_text()
            .contains("/skydns/org/example/broken/5a5a5a5a"),
        "{}",
        server.log_text()
    );

    // Changes while running: a new target, a fixed bad key, deletes.
    etcd.put(
        "/containerdns/com/example/web/dcbebb67/",
        r#"{"host":"10.0.0.3","type":"A","ttl":30}"#,
    );
    wait_answer(
        &server,
        "web.example.com",
        "A",
        &["10.0.0.1", "10.0.0.2", "10.0.0.3"],
    );
    etcd.put(
        "/skydns/org/example/broken/5a5a5a5a",
        r#"{"host":"10.1.0.9","targetstrip":1}"#,
    );
    wait_answer(&server, "broken.example.org", "A", &["10.1.0.9"]);
    etcd.delete("/skydns/org/example/api/4f6c1a2b");
    etcd.delete("/skydns/org/example/api/0d9e8f7a");
    server.wait_until("api.example.org gone", |s| {
        status(s, "api.example.org") == "NXDOMAIN"
    });
    etcd.delete(CDNS_WEB1.0);
    wait_answer(&server, "web.example.com", "A", &["10.0.0.2", "10.0.0.3"]);
}

#[test]
fn health_down_and_up_change_answers() {
    let etcd = Etcd::start();
    etcd.put(CDNS_WEB1.0, CDNS_WEB1.1);
    etcd.put(CDNS_WEB2.0, CDNS_WEB2.1);
    etcd.put(
        "/skydns/com/example/api/11111111",
        r#"{"host":"10.0.0.1","targetstrip":1}"#,
    );
    let server = ferrodns(&etcd, &["example.com"], &[], "web.example.com");
    assert_eq!(
        short(&server, "web.example.com", "A"),
        ["10.0.0.1", "10.0.0.2"]
    );

    let status_key = "/containerdns/monitor/status/10.0.0.1";
    etcd.put(status_key, r#"{"status":"DOWN","ports":["80"]}"#);
    // Every name carrying the address drops it: the other layout's too.
    wait_answer(&server, "web.example.com", "A", &["10.0.0.2"]);
    // api has no other target: all (here the one) are served.
    assert_eq!(short(&server, "api.example.com", "A"), ["10.0.0.1"]);

    etcd.put(
        "/containerdns/monitor/status/10.0.0.2",
        r#"{"status":"DOWN","ports":["80"]}"#,
    );
    wait_answer(&server, "web.example.com", "A", &["10.0.0.1", "10.0.0.2"]);

    etcd.put(status_key, r#"{"status":"UP","ports":["80"]}"#);
    wait_answer(&server, "web.example.com", "A", &["10.0.0.1"]);
    etcd.delete("/containerdns/monitor/status/10.0.0.2");
    wait_answer(&server, "web.example.com", "A", &["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn etcd_restart_and_compaction_while_disconnected_converge() {
    let mut etcd = Etcd::start();
    etcd.put(CDNS_WEB1.0, CDNS_WEB1.1);
    etcd.put(
        "/skydns/com/example/old/22222222",
        r#"{"host":"10.0.9.9","targetstrip":1}"#,
    );
    let server = ferrodns(&etcd, &["example.com"], &[], "web.example.com");

    // etcd restarts: ferrodns keeps answering from its table, then resumes.
    etcd.stop();
    for _ in 0..5 {
        assert_eq!(short(&server, "web.example.com", "A"), ["10.0.0.1"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    etcd.restart();
    etcd.put(CDNS_WEB2.0, CDNS_WEB2.1);
    wait_answer(&server, "web.example.com", "A", &["10.0.0.1", "10.0.0.2"]);

    // Cut ferrodns off, change records, compact past its revision.
    etcd.restart_without_ferrodns();
    etcd.delete(CDNS_WEB1.0);
    etcd.delete("/skydns/com/example/old/22222222");
    etcd.put(
        "/skydns/com/example/new/33333333",
        r#"{"host":"10.0.7.7","targetstrip":1}"#,
    );
    etcd.compact();
    // While cut off: the last table, not a half-updated one.
    assert_eq!(
        short(&server, "web.example.com", "A"),
        ["10.0.0.1", "10.0.0.2"]
    );
    assert_eq!(short(&server, "old.example.com", "A"), ["10.0.9.9"]);

    etcd.restart();
    wait_answer(&server, "new.example.com", "A", &["10.0.7.7"]);
    // The reload swapped the whole table at once: everything else is current too.
    assert_eq!(short(&server, "web.example.com", "A"), ["10.0.0.2"]);
    assert_eq!(status(&server, "old.example.com"), "NXDOMAIN");
    let log = server.log_text();
    assert!(log.contains("compacted past our revision"), "{log}");
}

#[test]
fn a_restart_while_etcd_is_down_serves_the_snapshot() {
    let mut etcd = Etcd::start();
    etcd.put(CDNS_WEB1.0, CDNS_WEB1.1);
    let snapshot = etcd.path("ferrodns.snapshot").display().to_string();
    let extra = ["--etcd-snapshot", snapshot.as_str()];
    let server = ferrodns(&etcd, &["example.com"], &extra, "web.example.com");
    let started = Instant::now();
    while !std::path::Path::new(&snapshot).exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no snapshot written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stop().success());

    etcd.stop();
    let server = ferrodns(&etcd, &["example.com"], &extra, "web.example.com");
    assert_eq!(short(&server, "web.example.com", "A"), ["10.0.0.1"]);
    assert!(
        server.log_text().contains("serving the etcd snapshot"),
        "{}",
        server.log_text()
    );

    // etcd back: the watch resumes from the snapshot's revision.
    etcd.restart();
    etcd.put(CDNS_WEB2.0, CDNS_WEB2.1);
    wait_answer(&server, "web.example.com", "A", &["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn the_record_writer_writes_containerdns_keys_every_appliance_answers() {
    let etcd = Etcd::start();
    etcd.put(CDNS_WEB1.0, CDNS_WEB1.1);
    let server = ferrodns(&etcd, &["example.com"], &[], "web.example.com");

    // A second appliance's etcd half, in this process, with the writer on top.
    let config = ferrodns::config::load(
        None,
        &Overrides {
            etcd: vec![etcd.url()],
            domains: vec!["example.com".into()],
            ..Overrides::default()
        },
    )
    .expect("config");
    let settings = config.etcd.clone().expect("etcd settings");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let name = |text: &str| Name::from_ascii(text).expect("name");
    let a = |last: u8| {
        Record::new(
            name("web.example.com."),
            30,
            RData::A([10, 0, 0, last].into()),
        )
    };
    runtime.block_on(async {
        let publisher = PublisherHandle::new(Publisher::new(
            Table::new(),
            Policies::new(config.default_policy, &config.zones),
        ));
        let source = EtcdSource::start(&config, &settings, publisher)
            .await
            .expect("etcd source");
        let writer = EtcdWriter::connect(&settings, source.records())
            .await
            .expect("writer");
        let sync = tokio::spawn(source.run(stopped));

        let applied = writer
            .apply(vec![
                Change::Add(a(2)),
                Change::Add(Record::new(
                    name("alias.example.com."),
                    30,
                    RData::Cname(name("web.example.com.")),
                )),
            ])
            .await
            .expect("write");
        assert_eq!(applied.written, 2);
        // Exactly what containerdns's API would have written.
        assert_eq!(
            etcd.get("/containerdns/com/example/web/dbbeb9d4/")
                .as_deref(),
            Some(r#"{"host":"10.0.0.2","ttl":30,"type":"A"}"#)
        );
        wait_answer(&server, "web.example.com", "A", &["10.0.0.1", "10.0.0.2"]);
        wait_answer(&server, "alias.example.com", "CNAME", &["web.example.com."]);

        // Listing goes through this appliance's index: wait for it to see the key
        // written by the other tool (deleting reads etcd itself).
        let listed = || async {
            writer
                .records(RecordQuery {
                    rtype: Some(RType::A),
                    ..RecordQuery::default()
                })
                .await
                .expect("list")
                .records
                .len()
        };
        let started = Instant::now();
        while listed().await < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "index did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        writer
            .apply(vec![Change::Delete {
                name: name("web.example.com."),
                rtype: Some(RType::A),
                data: Some(RData::A([10, 0, 0, 1].into())),
            }])
            .await
            .expect("delete");
        assert_eq!(etcd.get(CDNS_WEB1.0), None);
        wait_answer(&server, "web.example.com", "A", &["10.0.0.2"]);
        let _ = stop.send(true);
        sync.await.expect("sync loop");
    });
}
