//! `ferrodns serve` end to end: the real binary, queried with `dig` and `kdig`
//! over UDP and TCP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::{Server, ZONE, big_zone, lines, write};

fn example() -> Server {
    Server::start(&[("example.test.", ZONE)], &[], "web.example.test")
}

#[test]
fn answers_every_record_type_over_udp() {
    let server = example();
    assert_eq!(
        lines(&server.dig(&["+short", "web.example.test", "A"])),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "web.example.test", "AAAA"])),
        ["fd00::1"]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "www.example.test", "A"])),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "web.example.test."]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "txt.example.test", "TXT"])),
        ["\"hello world\""]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "example.test", "MX"])),
        ["10 ns1.example.test."]
    );
    assert_eq!(
        lines(&server.dig(&["+short", "x.apps.example.test", "A"])),
        ["10.2.0.1"]
    );
    let srv = server.dig(&[
        "+noall",
        "+answer",
        "+additional",
        "_http._tcp.web.example.test",
        "SRV",
    ]);
    assert!(srv.contains("SRV\t10 5 80 web0.example.test."), "{srv}");
    assert!(
        srv.contains("web1.example.test.\t30\tIN\tA\t10.1.0.2"),
        "{srv}"
    );
}

#[test]
fn negative_answers_carry_status_flags_and_soa() {
    let server = example();
    let nx = server.dig(&["nope.example.test", "A"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(nx.contains("flags: qr aa"), "{nx}");
    assert!(nx.contains("AUTHORITY: 1"), "{nx}");
    assert!(
        nx.contains("example.test.\t\t30\tIN\tSOA\tns1.example.test."),
        "{nx}"
    );
    let nodata = server.dig(&["txt.example.test", "A"]);
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0"),
        "{nodata}"
    );
    let outside = server.dig(&["www.elsewhere.test", "A"]);
    assert!(outside.contains("status: REFUSED"), "{outside}");
}

#[test]
fn answers_over_tcp_and_truncated_udp_falls_back_to_tcp() {
    let server = Server::start(
        &[("example.test.", ZONE), ("big.test.", &big_zone())],
        &[],
        "web.example.test",
    );
    assert_eq!(
        lines(&server.dig(&["+tcp", "+short", "web.example.test"])).len(),
        3
    );
    assert_eq!(
        lines(&server.kdig(&["+tcp", "+short", "web.example.test"])).len(),
        3
    );
    assert_eq!(
        lines(&server.kdig(&["+short", "web.example.test"])).len(),
        3
    );
    let truncated = server.dig(&["+ignore", "+noedns", "many.big.test", "A"]);
    assert!(truncated.contains(" tc"), "{truncated}");
    assert_eq!(
        lines(&server.dig(&["+noedns", "+short", "many.big.test", "A"])).len(),
        60,
        "dig retried over TCP"
    );
    let edns = server.dig(&["+bufsize=4096", "many.big.test", "A"]);
    assert!(edns.contains("MSG SIZE  rcvd:"), "{edns}");
    let size: usize = edns
        .split("MSG SIZE  rcvd: ")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .expect("size");
    assert!(size <= 1232, "UDP answer of {size} bytes");
}

#[test]
fn case_is_echoed_and_lookups_ignore_it() {
    let server = example();
    let out = server.dig(&["+noall", "+answer", "WeB.ExAmPle.TeSt", "AAAA"]);
    assert!(out.contains("WeB.ExAmPle.TeSt."), "{out}");
}

#[test]
fn sighup_reloads_and_a_bad_file_keeps_the_old_table() {
    let server = example();
    let zone_path = server.path("example.test.zone");
    write(&zone_path, &format!("{ZONE}new IN A 10.5.0.1\n"));
    server.signal("-HUP");
    server.wait_until("the reload", |s| {
        lines(&s.dig(&["+short", "new.example.test"])) == ["10.5.0.1"]
    });
    write(&zone_path, &format!("{ZONE}broken IN A 10.5.0.300\n"));
    server.signal("-HUP");
    let expected = format!("{}:18", zone_path.display());
    server.wait_until(&format!("an error naming {expected}"), |s| {
        s.log_text().contains(&expected)
    });
    assert_eq!(
        lines(&server.dig(&["+short", "new.example.test"])),
        ["10.5.0.1"],
        "old table still served"
    );
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn a_bad_zone_file_at_start_is_named_and_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.zone");
    write(&path, "$TTL 30\nok IN A 10.0.0.1\nbad IN AAAA 10.0.0.1\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ferrodns"))
        .args(["serve", "--listen", "127.0.0.1:0", "--zone"])
        .arg(format!("bad.test.={}", path.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:3", path.display())),
        "{stderr}"
    );
}

/// A name whose records cannot be compiled (here an RRset no answer can carry,
/// which the zone-file syntax allows) is served empty and logged; the rest of
/// the zone is served, at start and after a reload.
#[test]
fn a_name_that_cannot_be_compiled_does_not_stop_the_start() {
    let many: String = (0..5000u32)
        .map(|i| format!("big IN A 10.9.{}.{}\n", i >> 8, i & 255))
        .collect();
    let zone = format!("{ZONE}{many}");
    let server = Server::start(&[("example.test.", &zone)], &[], "web.example.test");
    assert_eq!(lines(&server.dig(&["+short", "new.example.test"])).len(), 0);
    assert!(lines(&server.dig(&["+short", "web.example.test"])).contains(&"10.0.0.1".to_owned()));
    let answer = server.dig(&["big.example.test", "A"]);
    assert!(
        answer.contains("status: NOERROR") && answer.contains("ANSWER: 0"),
        "{answer}"
    );
    let log = server.log_text();
    assert!(log.contains("big.example.test. cannot be served"), "{log}");
    let zone_path = server.path("example.test.zone");
    write(&zone_path, &format!("{zone}new IN A 10.5.0.1\n"));
    server.signal("-HUP");
    server.wait_until("the reload", |s| {
        lines(&s.dig(&["+short", "new.example.test"])) == ["10.5.0.1"]
    });
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn sigterm_stops_cleanly() {
    let server = example();
    let started = Instant::now();
    assert_eq!(server.stop().code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn ferrodns(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferrodns"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn records_from_the_embedded_store_are_served_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("records.redb");
    let store = store.to_str().unwrap();
    let zone = dir.path().join("svc.zone");
    write(&zone, "$TTL 30\napi IN A 10.7.0.1\n");
    let imported = ferrodns(&[
        "store",
        "--store",
        store,
        "import",
        "svc.test.",
        zone.to_str().unwrap(),
    ]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains("1 records imported"));

    let server = Server::spawn(
        dir,
        vec!["serve".into(), "--store".into(), store.into()],
        "api.svc.test",
    );
    assert_eq!(
        lines(&server.dig(&["+short", "api.svc.test"])),
        ["10.7.0.1"]
    );
    let soa = server.dig(&["+short", "svc.test", "SOA"]);
    assert!(
        soa.contains("ns.dns.svc.test. hostmaster.svc.test."),
        "synthesised SOA: {soa}"
    );

    let bad = server.path("bad.zone");
    write(&bad, "$TTL 30\nok IN A 10.7.0.2\nbroken IN A nope\n");
    let refused = ferrodns(&[
        "store",
        "--store",
        store,
        "import",
        "svc.test.",
        bad.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("{}:3", bad.display())));

    let more = server.path("more.zone");
    write(&more, "$TTL 30\nweb IN A 10.7.0.3\n");
    assert!(
        ferrodns(&[
            "store",
            "--store",
            store,
            "import",
            "svc.test.",
            more.to_str().unwrap()
        ])
        .status
        .success()
    );
    let listed = String::from_utf8_lossy(
        &ferrodns(&["store", "--store", store, "list", "svc.test."]).stdout,
    )
    .into_owned();
    assert!(
        listed.contains("web.svc.test. 30 IN A 10.7.0.3") && !listed.contains("10.7.0.2"),
        "{listed}"
    );
    server.signal("-HUP");
    server.wait_until("the reload", |s| {
        lines(&s.dig(&["+short", "web.svc.test"])) == ["10.7.0.3"]
    });
}

#[test]
fn a_config_file_sets_zones_policies_and_chaos_answers() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("example.zone"), ZONE);
    let config = dir.path().join("ferrodns.toml");
    write(
        &config,
        "[server]\nworkers = 1\n[chaos]\nversion = \"ferrodns-test\"\n\
         [[zone]]\norigin = \"example.test.\"\nfile = \"example.zone\"\n\
         [zone.names]\n\"web.example.test.\" = \"random-one\"\n",
    );
    let args = vec![
        "serve".into(),
        "--config".into(),
        config.display().to_string(),
    ];
    let server = Server::spawn(dir, args, "web.example.test");
    assert_eq!(
        lines(&server.dig(&["+short", "web.example.test"])).len(),
        1,
        "random-one"
    );
    assert_eq!(
        lines(&server.dig(&["+short", "CH", "TXT", "version.bind"])),
        ["\"ferrodns-test\""]
    );
    let checked = ferrodns(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(checked.status.success());
    assert!(String::from_utf8_lossy(&checked.stdout).contains("random-one"));
}

#[test]
fn answers_over_ipv6_udp_and_tcp() {
    let port = support::free_port();
    let listen6 = format!("[::1]:{port}");
    let server = Server::start(
        &[("example.test.", ZONE)],
        &["--listen", &listen6],
        "web.example.test",
    );
    assert_eq!(
        lines(&server.dig6(port, &["+short", "web.example.test", "AAAA"])),
        ["fd00::1"]
    );
    assert_eq!(
        lines(&server.dig6(port, &["+tcp", "+short", "web.example.test"])).len(),
        3
    );
}

/// `ferrodns store` edits single records: add, get, delete one record, one
/// type, a whole name; refused records write nothing.
#[test]
fn the_store_command_adds_gets_and_deletes_single_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("records.redb");
    let store = store.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = ferrodns(&[&["store", "--store", store], args].concat());
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    assert!(run(&["import", "svc.test."]).0);
    let (ok, out) = run(&[
        "add",
        "web.svc.test. 60 IN A 10.8.0.1",
        "web.svc.test. 60 IN A 10.8.0.2",
        "web.svc.test. 60 IN TXT \"hello\"",
    ]);
    assert!(ok && out.contains("3 records added"), "{out}");
    let (ok, out) = run(&["add", "web.svc.test. 60 IN CNAME elsewhere.test."]);
    assert!(!ok && out.contains("CNAME conflict"), "{out}");
    let (_, out) = run(&["get", "web.svc.test.", "A"]);
    assert_eq!(
        lines(&out),
        [
            "web.svc.test. 60 IN A 10.8.0.1",
            "web.svc.test. 60 IN A 10.8.0.2"
        ]
    );
    let (ok, out) = run(&["delete", "web.svc.test.", "A", "10.8.0.1"]);
    assert!(ok && out.contains("1 records removed"), "{out}");
    let (ok, out) = run(&["delete", "web.svc.test.", "TXT"]);
    assert!(ok && out.contains("1 records removed"), "{out}");
    let (_, out) = run(&["get", "web.svc.test."]);
    assert_eq!(lines(&out), ["web.svc.test. 60 IN A 10.8.0.2"]);
    let (ok, out) = run(&["delete", "web.svc.test."]);
    assert!(ok && out.contains("1 records removed"), "{out}");
    let (ok, out) = run(&["delete", "web.svc.test.", "A", "not-an-address"]);
    assert!(!ok && out.contains("bad A data"), "{out}");
}

#[test]
fn other_opcodes_get_notimp_under_their_own_opcode() {
    let server = example();
    for (opcode, name) in [
        ("status", "STATUS"),
        ("notify", "NOTIFY"),
        ("update", "UPDATE"),
    ] {
        let out = server.dig(&[&format!("+opcode={opcode}"), "web.example.test"]);
        // dig drops an answer under another opcode and tries again, in vain.
        assert!(!out.contains("Opcode mismatch"), "{out}");
        assert!(
            out.contains(&format!("opcode: {name}, status: NOTIMP")),
            "{out}"
        );
    }
}

#[test]
fn a_cookie_of_a_length_no_cookie_has_is_a_formerr() {
    let server = example();
    // RFC 7873: a client cookie is 8 bytes, with a server cookie 16 to 40.
    for good in ["0102030405060708", "0102030405060708090a0b0c0d0e0f10"] {
        let out = server.kdig(&[&format!("+ednsopt=10:{good}"), "web.example.test"]);
        assert!(out.contains("status: NOERROR"), "{out}");
    }
    for bad in ["0102030405", "010203040506070809", ""] {
        let out = server.kdig(&[&format!("+ednsopt=10:{bad}"), "web.example.test"]);
        assert!(out.contains("status: FORMERR"), "{bad}: {out}");
        assert!(out.contains("EDNS PSEUDOSECTION"), "{bad}: {out}");
    }
}

#[test]
fn a_signed_query_gets_notauth_and_an_unsigned_badkey() {
    let server = example();
    // ferrodns holds no TSIG key, so every key is unknown (RFC 8945 §5.2.2).
    for name in ["web.example.test", "www.elsewhere.test"] {
        let out = server.dig(&[
            "-y",
            "hmac-sha256:transfer-key:c2VjcmV0c2VjcmV0c2VjcmV0",
            name,
        ]);
        assert!(out.contains("status: NOTAUTH"), "{out}");
        assert!(out.contains("ANSWER: 0"), "{out}");
        let tsig = out
            .lines()
            .find(|l| l.starts_with("transfer-key."))
            .unwrap_or_else(|| panic!("no TSIG record: {out}"));
        assert!(tsig.contains("TSIG\thmac-sha256."), "{tsig}");
        assert!(
            tsig.contains(" 300 0 ") && tsig.contains(" BADKEY "),
            "MAC size 0: {tsig}"
        );
    }
}
