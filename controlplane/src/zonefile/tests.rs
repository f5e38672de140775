//! Tests of the public zone-file API: every syntax rule, every error with its line,
//! and property tests for round-tripping `Record`'s Display and for never panicking.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ferrodns_dataplane::name::{Name, NameError};
use ferrodns_dataplane::record::{RData, RType, Record, Soa};
use proptest::prelude::*;

use super::*;
use ferrodns_dataplane::testkit::name;

fn apex() -> Name {
    name("example.com.")
}

fn zone(text: &str) -> Vec<Record> {
    parse_zone_text(text, &apex(), "test.zone").unwrap_or_else(|e| panic!("{e}"))
}

fn zone_error(text: &str) -> ZoneFileError {
    match parse_zone_text(text, &apex(), "test.zone") {
        Ok(records) => panic!("expected an error, got {records:?}"),
        Err(error) => error,
    }
}

/// Asserts that `text` fails on `line` with a kind matching `pattern`.
macro_rules! assert_fails {
    ($text:expr, $line:expr, $pattern:pat) => {{
        let error = zone_error($text);
        assert_eq!(error.file, "test.zone", "{error}");
        assert_eq!(error.line, $line, "{error}");
        assert!(matches!(error.kind, $pattern), "{error}");
        error
    }};
}

fn record(owner: &str, ttl: u32, data: RData) -> Record {
    Record::new(name(owner), ttl, data)
}

fn a(text: &str) -> RData {
    RData::A(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
}

const SOA: &str = "@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n";

#[test]
fn parses_a_typical_zone() {
    let text = "\
$TTL 1h
$ORIGIN example.com.
@       IN  SOA ns1.example.com. hostmaster.example.com. (
            2024010101 ; serial
            2h         ; refresh
            15m        ; retry
            2w         ; expire
            5m )       ; minimum
        IN  NS  ns1
        IN  MX  10 mail.example.com.
ns1         A   192.0.2.53
www     300 IN  A   192.0.2.1
            IN  AAAA 2001:db8::1
mail    IN 600 A 192.0.2.25
alias       CNAME www
_sip._tcp   SRV 10 60 5060 sip.example.net.
txt         TXT \"v=spf1 -all\" \"two words\" bare
1.2         PTR host.example.com.
";
    let records = zone(text);
    let expected = vec![
        record(
            "example.com.",
            3600,
            RData::Soa(Soa {
                mname: name("ns1.example.com."),
                rname: name("hostmaster.example.com."),
                serial: 2024010101,
                refresh: 7200,
                retry: 900,
                expire: 1_209_600,
                minimum: 300,
            }),
        ),
        record("example.com.", 3600, RData::Ns(name("ns1.example.com."))),
        record(
            "example.com.",
            3600,
            RData::Mx {
                preference: 10,
                exchange: name("mail.example.com."),
            },
        ),
        record("ns1.example.com.", 3600, a("192.0.2.53")),
        record("www.example.com.", 300, a("192.0.2.1")),
        record(
            "www.example.com.",
            3600,
            RData::Aaaa(
                "2001:db8::1"
                    .parse::<Ipv6Addr>()
                    .unwrap_or(Ipv6Addr::UNSPECIFIED),
            ),
        ),
        record("mail.example.com.", 600, a("192.0.2.25")),
        record(
            "alias.example.com.",
            3600,
            RData::Cname(name("www.example.com.")),
        ),
        record(
            "_sip._tcp.example.com.",
            3600,
            RData::Srv {
                priority: 10,
                weight: 60,
                port: 5060,
                target: name("sip.example.net."),
            },
        ),
        record(
            "txt.example.com.",
            3600,
            RData::Txt(vec![
                b"v=spf1 -all".to_vec(),
                b"two words".to_vec(),
                b"bare".to_vec(),
            ]),
        ),
        record(
            "1.2.example.com.",
            3600,
            RData::Ptr(name("host.example.com.")),
        ),
    ];
    assert_eq!(records, expected);
}

#[test]
fn origin_directive_is_relative_to_the_current_origin() {
    let records =
        zone("$ORIGIN sub\nwww A 192.0.2.1\n$ORIGIN other.example.com.\n@ A 192.0.2.2\nx MX 1 @\n");
    assert_eq!(records[0].name, name("www.sub.example.com."));
    assert_eq!(records[1].name, name("other.example.com."));
    assert_eq!(
        records[2].data,
        RData::Mx {
            preference: 1,
            exchange: name("other.example.com.")
        }
    );
    assert_fails!("$ORIGIN a..b\n", 1, Kind::BadName(NameError::EmptyLabel(_)));
    assert_fails!(
        "\n$ORIGIN\n",
        2,
        Kind::DirectiveArguments {
            directive: "$ORIGIN",
            found: 0,
            ..
        }
    );
    assert_fails!(
        "$ORIGIN a (\n b )\n",
        2,
        Kind::DirectiveArguments { found: 2, .. }
    );
}

#[test]
fn ttl_directive_takes_bind_units() {
    for (text, seconds) in [
        ("30", 30),
        ("1h30m", 5400),
        ("1d", 86_400),
        ("2w", 1_209_600),
        ("1W2D3H4M5S", 788_645),
        ("1h30", 3630),
        ("2147483647", MAX_TTL),
    ] {
        let records = zone(&format!("$TTL {text}\nwww A 192.0.2.1\n"));
        assert_eq!(records[0].ttl, seconds, "{text}");
    }
    for bad in ["1x", "h", "1.5", "-1", "1hh"] {
        assert_fails!(
            &format!("\n$TTL {bad}\n"),
            2,
            Kind::BadTime { what: "$TTL", .. }
        );
    }
    assert_fails!("$TTL 2147483648\n", 1, Kind::TimeOutOfRange { .. });
    assert_fails!(
        "$TTL 99999999999999999999999w\n",
        1,
        Kind::TimeOutOfRange { .. }
    );
    assert_fails!(
        "$TTL\n",
        1,
        Kind::DirectiveArguments {
            directive: "$TTL",
            ..
        }
    );
    let records = zone("www 1h30m A 192.0.2.1\n");
    assert_eq!(records[0].ttl, 5400);
}

#[test]
fn absent_ttl_follows_the_bind_order() {
    // Nothing at all: the default.
    assert_eq!(zone("www A 192.0.2.1\n")[0].ttl, DEFAULT_TTL);
    // The SOA minimum, for the SOA itself and what follows.
    let records = zone("@ SOA ns hm 1 2 3 4 120\nwww A 192.0.2.1\n");
    assert_eq!((records[0].ttl, records[1].ttl), (120, 120));
    // The last explicit TTL beats the SOA minimum.
    let records =
        zone("@ 60 SOA ns hm 1 2 3 4 120\nwww A 192.0.2.1\nmail 90 A 192.0.2.2\nx A 192.0.2.3\n");
    let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [60, 60, 90, 90]);
    // $TTL beats both, and an explicit TTL beats $TTL for its own record only.
    let records = zone(
        "$TTL 5m\n@ 60 SOA ns hm 1 2 3 4 120\nwww A 192.0.2.1\nx 7 A 192.0.2.3\ny A 192.0.2.4\n",
    );
    let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [60, 300, 7, 300]);
    // An SOA minimum above MAX_TTL is clamped when used as a TTL.
    let records = zone("@ SOA ns hm 1 2 3 4 4294967295\n");
    assert_eq!(records[0].ttl, MAX_TTL);
}

#[test]
fn owners_at_relative_and_blank() {
    let records = zone(
        "@ A 192.0.2.1\nwww A 192.0.2.2\n  A 192.0.2.3\n\tTXT x\nabs.example.com. A 192.0.2.4\n*.wild A 192.0.2.5\n",
    );
    let owners: Vec<String> = records.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(
        owners,
        [
            "example.com.",
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "abs.example.com.",
            "*.wild.example.com."
        ]
    );
    assert_fails!("; comment\n   A 192.0.2.1\n", 2, Kind::NoPreviousOwner);
    assert_fails!(
        "a..b A 192.0.2.1\n",
        1,
        Kind::BadName(NameError::EmptyLabel(_))
    );
    let long = "x".repeat(64);
    assert_fails!(
        &format!("ok A 192.0.2.1\n{long} A 192.0.2.1\n"),
        2,
        Kind::BadName(NameError::LabelTooLong(_))
    );
    assert_fails!("\"quoted\" A 192.0.2.1\n", 1, Kind::UnexpectedQuoted(_));
}

#[test]
fn ttl_and_class_come_in_either_order_or_not_at_all() {
    for line in [
        "www 300 IN A 192.0.2.1",
        "www IN 300 A 192.0.2.1",
        "www 300 A 192.0.2.1",
        "www in 300 a 192.0.2.1",
        "www CLASS1 300 A 192.0.2.1",
    ] {
        let records = zone(line);
        assert_eq!(
            records,
            [record("www.example.com.", 300, a("192.0.2.1"))],
            "{line}"
        );
    }
    assert_eq!(zone("www IN A 192.0.2.1")[0].ttl, DEFAULT_TTL);
    assert_fails!(
        "www 300 300 A 192.0.2.1\n",
        1,
        Kind::Repeated { what: "TTL", .. }
    );
    assert_fails!(
        "www IN IN A 192.0.2.1\n",
        1,
        Kind::Repeated { what: "class", .. }
    );
    assert_fails!("www 3x A 192.0.2.1\n", 1, Kind::BadTime { what: "TTL", .. });
    assert_fails!("www\n", 1, Kind::MissingType);
    assert_fails!("www 300 IN\n", 1, Kind::MissingType);
}

#[test]
fn only_class_in_is_accepted() {
    for class in ["CH", "HS", "chaos", "CS", "NONE", "CLASS3"] {
        let text = format!("ok A 192.0.2.1\nwww {class} A 192.0.2.1\n");
        let error = assert_fails!(&text, 2, Kind::UnsupportedClass(_));
        assert!(error.to_string().contains(class), "{error}");
    }
}

#[test]
fn unknown_and_unsupported_types_name_the_type() {
    let error = assert_fails!(
        "ok A 192.0.2.1\n\nwww 300 IN BOGUS x\n",
        3,
        Kind::UnknownType(_)
    );
    assert_eq!(
        error.to_string(),
        "test.zone:3: unknown record type \"BOGUS\""
    );
    assert_fails!("www TYPE99 x\n", 1, Kind::UnsupportedType(RType(99)));
    assert_fails!("www ANY x\n", 1, Kind::UnsupportedType(RType::ANY));
    // TYPEn naming a supported type is that type.
    assert_eq!(zone("www TYPE1 192.0.2.1")[0].rtype(), RType::A);
}

#[test]
fn rdata_field_counts() {
    assert_fails!(
        "www A\n",
        1,
        Kind::FieldCount {
            rtype: RType::A,
            found: 0,
            ..
        }
    );
    assert_fails!(
        "www A 192.0.2.1 192.0.2.2\n",
        1,
        Kind::FieldCount { found: 2, .. }
    );
    assert_fails!(
        "www MX 10\n",
        1,
        Kind::FieldCount {
            rtype: RType::MX,
            found: 1,
            ..
        }
    );
    assert_fails!(
        "www SRV 1 2 3\n",
        1,
        Kind::FieldCount {
            rtype: RType::SRV,
            ..
        }
    );
    assert_fails!(
        "www CNAME a b\n",
        1,
        Kind::FieldCount {
            rtype: RType::CNAME,
            ..
        }
    );
    assert_fails!(
        "www TXT\n",
        1,
        Kind::FieldCount {
            rtype: RType::TXT,
            found: 0,
            ..
        }
    );
    // Too many fields: the line of the first extra one.
    assert_fails!(
        "@ SOA ns hm (\n 1 2 3 4 5\n 6 )\n",
        3,
        Kind::FieldCount { found: 8, .. }
    );
    // Too few: the line of the last one there is.
    assert_fails!(
        "@ SOA ns hm (\n 1 2\n 3 4\n )\n",
        3,
        Kind::FieldCount { found: 6, .. }
    );
}

#[test]
fn numbers_addresses_and_names_are_checked() {
    let error = parse_zone_text(
        "ok A 10.0.0.1\n\nhost A 10.0.0.300\n",
        &apex(),
        "zones/a.zone",
    )
    .err()
    .unwrap_or_else(|| panic!("accepted a bad address"));
    assert_eq!(
        error.to_string(),
        "zones/a.zone:3: bad IPv4 address \"10.0.0.300\""
    );
    assert_fails!("www A 2001:db8::1\n", 1, Kind::BadIpv4(_));
    assert_fails!("www A \"192.0.2.1\"\n", 1, Kind::BadIpv4(_));
    assert_fails!("www AAAA 192.0.2.1\n", 1, Kind::BadIpv6(_));
    assert_fails!("www AAAA 2001:db8::g\n", 1, Kind::BadIpv6(_));
    assert_fails!(
        "www MX 65536 mail\n",
        1,
        Kind::BadNumber {
            what: "MX preference",
            max: 65535,
            ..
        }
    );
    assert_fails!("www MX -1 mail\n", 1, Kind::BadNumber { .. });
    assert_fails!("www MX +1 mail\n", 1, Kind::BadNumber { .. });
    assert_fails!(
        "www SRV 1 2 99999 t\n",
        1,
        Kind::BadNumber {
            what: "SRV port",
            ..
        }
    );
    assert_fails!(
        "www SRV x 2 3 t\n",
        1,
        Kind::BadNumber {
            what: "SRV priority",
            ..
        }
    );
    assert_fails!("www SRV 1 2 3 t..x\n", 1, Kind::BadName(_));
    assert_fails!("www CNAME \"t\"\n", 1, Kind::UnexpectedQuoted(_));
    assert_fails!(
        "@ SOA ns hm 4294967296 2 3 4 5\n",
        1,
        Kind::BadNumber {
            what: "SOA serial",
            ..
        }
    );
    assert_fails!(
        "@ SOA ns hm 1h 2 3 4 5\n",
        1,
        Kind::BadNumber {
            what: "SOA serial",
            ..
        }
    );
    assert_fails!(
        "@ SOA ns hm 1 2 3 4 4294967296\n",
        1,
        Kind::TimeOutOfRange {
            what: "SOA minimum",
            ..
        }
    );
    assert_fails!(
        "@ SOA ns hm 1 2 3 x 5\n",
        1,
        Kind::BadTime {
            what: "SOA expire",
            ..
        }
    );
    assert_fails!(
        "www 2147483648 A 192.0.2.1\n",
        1,
        Kind::TimeOutOfRange { what: "TTL", .. }
    );
}

#[test]
fn soa_accepts_bind_units_and_the_full_32_bits() {
    let records = zone("@ SOA ns hm 4294967295 1h 30M 4w 4294967295\n");
    let RData::Soa(soa) = &records[0].data else {
        panic!("not an SOA: {records:?}");
    };
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (u32::MAX, 3600, 1800, 2_419_200, u32::MAX)
    );
}

#[test]
fn txt_strings_quotes_escapes_and_lengths() {
    let records = zone(
        "t TXT \"say \\\"hi\\\"\" \"back\\\\slash\" \"\\000\\255\" \"; not a comment ( )\" \"\" a\\ b\n",
    );
    assert_eq!(
        records[0].data,
        RData::Txt(vec![
            b"say \"hi\"".to_vec(),
            b"back\\slash".to_vec(),
            vec![0, 255],
            b"; not a comment ( )".to_vec(),
            Vec::new(),
            b"a b".to_vec(),
        ])
    );
    let max = "x".repeat(255);
    assert_eq!(
        zone(&format!("t TXT \"{max}\""))[0].data,
        RData::Txt(vec![max.into_bytes()])
    );
    let long = "x".repeat(256);
    assert_fails!(
        &format!("ok A 192.0.2.1\nt TXT \"{long}\"\n"),
        2,
        Kind::TxtTooLong(256)
    );
    // The limit is on decoded octets: 255 escapes of four characters fit.
    let escaped = "\\065".repeat(255);
    assert_eq!(
        zone(&format!("t TXT {escaped}"))[0].data,
        RData::Txt(vec![vec![b'A'; 255]])
    );
    let escaped = "\\065".repeat(256);
    assert_fails!(&format!("t TXT {escaped}\n"), 1, Kind::TxtTooLong(256));
    assert_fails!("t TXT \"\\256\"\n", 1, Kind::BadEscape(_));
    assert_fails!("t TXT \"a\\12\"\n", 1, Kind::BadEscape(_));
    assert_fails!("\nt TXT \"open\n", 2, Kind::UnterminatedQuote);
}

#[test]
fn comments_and_parentheses() {
    let records = zone(
        "; a comment\nwww ( 300 ; inside\n IN\n A ; still\n 192.0.2.1 ) ; after\n\n   ; indented comment\n",
    );
    assert_eq!(records, [record("www.example.com.", 300, a("192.0.2.1"))]);
    // Errors in a parenthesised entry name the line of the token.
    assert_fails!("www ( 300 IN\n A\n 10.0.0.300 )\n", 3, Kind::BadIpv4(_));
    assert_fails!(
        "ok A 192.0.2.1\nwww ( A\n 192.0.2.1\n",
        2,
        Kind::UnclosedParen
    );
    assert_fails!("www A 192.0.2.1 )\n", 1, Kind::UnexpectedCloseParen);
    // A backslash escapes the comment character in a name.
    assert_eq!(
        zone("a\\;b A 192.0.2.1")[0].name.labels().next(),
        Some(&b"a;b"[..])
    );
}

#[test]
fn unknown_directives_are_errors() {
    assert_fails!(
        "ok A 192.0.2.1\n$GENERATE 1-10 x A 1.2.3.$\n",
        2,
        Kind::UnknownDirective(_)
    );
}

#[test]
fn records_outside_the_origin_are_rejected() {
    let error = assert_fails!(
        "www A 192.0.2.1\nwww.example.org. A 192.0.2.1\n",
        2,
        Kind::OutOfZone { .. }
    );
    assert_eq!(
        error.to_string(),
        "test.zone:2: www.example.org. is out of zone example.com."
    );
    assert_fails!(
        "$ORIGIN com.\nexample A 192.0.2.1\nother A 192.0.2.1\n",
        3,
        Kind::OutOfZone { .. }
    );
    // Rdata names may point anywhere.
    assert_eq!(zone("www CNAME elsewhere.net.").len(), 1);
}

#[test]
fn soa_is_optional_single_and_at_the_apex() {
    assert!(
        zone("www A 192.0.2.1")
            .iter()
            .all(|r| r.rtype() != RType::SOA)
    );
    assert_fails!(
        &format!("{SOA}www A 192.0.2.1\n@ SOA ns hm 2 2 3 4 5\n"),
        3,
        Kind::DuplicateSoa { .. }
    );
    let error = zone_error(&format!("{SOA}\n{SOA}"));
    assert_eq!(
        error.to_string(),
        "test.zone:3: second SOA record (the first is at test.zone:1)"
    );
    assert_fails!("www SOA ns hm 1 2 3 4 5\n", 1, Kind::SoaNotAtApex { .. });
}

#[test]
fn a_cname_owner_has_no_other_data() {
    let error = assert_fails!(
        "www A 192.0.2.1\nwww CNAME x\n",
        2,
        Kind::CnameWithOtherData { .. }
    );
    assert!(error.to_string().contains("(at test.zone:1)"), "{error}");
    let error = assert_fails!(
        "www CNAME x\nother A 192.0.2.1\nWWW TXT x\n",
        3,
        Kind::DataAtCname { .. }
    );
    assert!(error.to_string().contains("(at test.zone:1)"), "{error}");
    assert_fails!("www CNAME x\nwww CNAME y\n", 2, Kind::DataAtCname { .. });
    assert_fails!(
        &format!("{SOA}@ CNAME x\n"),
        2,
        Kind::CnameWithOtherData { .. }
    );
    // Names below a CNAME are other names.
    assert_eq!(zone("www CNAME x\na.www A 192.0.2.1\n").len(), 2);
}

#[test]
fn includes_are_relative_scoped_and_located() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        "main.zone",
        "$TTL 60\nwww A 192.0.2.1\n$INCLUDE sub/hosts.zone\n$INCLUDE \"sub/hosts.zone\" lab ; again\n  A 192.0.2.9\nafter A 192.0.2.10\n",
    );
    write(
        "sub/hosts.zone",
        "$ORIGIN inner\n$TTL 30\nh1 A 192.0.2.2\n$INCLUDE more.zone\n",
    );
    write("sub/more.zone", "m A 192.0.2.3\n");
    let main = dir.path().join("main.zone");
    let records = parse_zone_file(&main, &apex()).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, u32)> = records
        .iter()
        .map(|r| (r.name.to_string(), r.ttl))
        .collect();
    let expected = [
        ("www.example.com.", 60),
        ("h1.inner.example.com.", 30),
        ("m.inner.example.com.", 30),
        ("h1.inner.lab.example.com.", 30),
        ("m.inner.lab.example.com.", 30),
        // Back in main.zone: its own previous owner, origin and $TTL.
        ("www.example.com.", 60),
        ("after.example.com.", 60),
    ];
    let expected: Vec<(String, u32)> = expected
        .iter()
        .map(|(n, t)| ((*n).to_owned(), *t))
        .collect();
    assert_eq!(got, expected);

    // An error in an included file names that file and its line.
    write("bad.zone", "$INCLUDE sub/broken.zone\n");
    write("sub/broken.zone", "ok A 192.0.2.1\nbad A 10.0.0.300\n");
    let error = parse_zone_file(&dir.path().join("bad.zone"), &apex())
        .err()
        .unwrap_or_else(|| panic!("accepted a bad include"));
    assert_eq!(
        error.file,
        dir.path().join("sub/broken.zone").display().to_string()
    );
    assert_eq!(error.line, 2);
    assert!(matches!(error.kind, Kind::BadIpv4(_)), "{error}");

    // A missing file is reported on the $INCLUDE line, naming the missing file.
    write("missing.zone", "ok A 192.0.2.1\n$INCLUDE nowhere.zone\n");
    let error = parse_zone_file(&dir.path().join("missing.zone"), &apex())
        .err()
        .unwrap_or_else(|| panic!("accepted a missing include"));
    assert_eq!(error.line, 2);
    assert!(error.to_string().contains("nowhere.zone"), "{error}");
    assert!(matches!(error.kind, Kind::Read { .. }), "{error}");

    // A directory is not a zone file.
    write("dir.zone", "$INCLUDE sub\n");
    let error = parse_zone_file(&dir.path().join("dir.zone"), &apex())
        .err()
        .unwrap_or_else(|| panic!("read a directory"));
    assert!(matches!(error.kind, Kind::Read { .. }), "{error}");

    // parse_zone_text resolves includes against the directory of `source`.
    let source = dir.path().join("text.zone").display().to_string();
    let records = parse_zone_text("$INCLUDE sub/more.zone\n", &apex(), &source)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(records[0].name, name("m.example.com."));

    // Arguments.
    write("args.zone", "$INCLUDE\n");
    let error = parse_zone_file(&dir.path().join("args.zone"), &apex())
        .err()
        .unwrap_or_else(|| panic!("accepted $INCLUDE without a file"));
    assert!(
        matches!(error.kind, Kind::DirectiveArguments { found: 0, .. }),
        "{error}"
    );
}

#[test]
fn include_depth_is_limited() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // A chain main -> 1 -> ... -> 8 is allowed; one more level is not.
    for level in 0..=MAX_INCLUDE_DEPTH + 1 {
        let text = format!("l{level} A 192.0.2.1\n$INCLUDE {}.zone\n", level + 1);
        std::fs::write(dir.path().join(format!("{level}.zone")), text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(
        dir.path().join(format!("{}.zone", MAX_INCLUDE_DEPTH + 1)),
        "",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let allowed = dir.path().join("1.zone");
    let records = parse_zone_file(&allowed, &apex()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(records.len(), MAX_INCLUDE_DEPTH);

    let error = parse_zone_file(&dir.path().join("0.zone"), &apex())
        .err()
        .unwrap_or_else(|| panic!("nine levels were accepted"));
    assert_eq!(error.file, dir.path().join("8.zone").display().to_string());
    assert_eq!(error.line, 2);
    assert!(
        matches!(error.kind, Kind::IncludeTooDeep(MAX_INCLUDE_DEPTH)),
        "{error}"
    );

    // A file that includes itself stops at the limit too.
    let own = dir.path().join("self.zone");
    std::fs::write(&own, "$INCLUDE self.zone\n").unwrap_or_else(|e| panic!("{e}"));
    let error = parse_zone_file(&own, &apex())
        .err()
        .unwrap_or_else(|| panic!("endless include accepted"));
    assert!(matches!(error.kind, Kind::IncludeTooDeep(_)), "{error}");
}

#[test]
fn unreadable_top_level_file_has_no_line() {
    let error = parse_zone_file(Path::new("/nonexistent/ferrodns/a.zone"), &apex())
        .err()
        .unwrap_or_else(|| panic!("read a missing file"));
    assert_eq!(error.line, 0);
    assert!(
        error.to_string().starts_with(
            "/nonexistent/ferrodns/a.zone: cannot read /nonexistent/ferrodns/a.zone: "
        ),
        "{error}"
    );
}

#[test]
fn record_lines() {
    let origin = apex();
    let parsed = parse_record_line("www 300 IN A 192.0.2.1", Some(&origin), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, record("www.example.com.", 300, a("192.0.2.1")));
    let parsed = parse_record_line("@ MX 5 mail ; comment", Some(&origin), 42)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.ttl, 42);
    assert_eq!(parsed.name, origin);
    let parsed =
        parse_record_line("x. 1 IN SRV ( 1 2\n 3 t. )", None, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.rtype(), RType::SRV);

    let fails = |line: &str, origin: Option<&Name>| {
        parse_record_line(line, origin, 0)
            .err()
            .unwrap_or_else(|| panic!("accepted {line:?}"))
    };
    let error = fails("www 300 IN A 192.0.2.1", None);
    assert!(
        matches!(error.kind, Kind::BadName(NameError::Relative(_))),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "<record>:1: bad name: relative name \"www\" needs an origin"
    );
    assert!(matches!(
        fails("x. CNAME target", None).kind,
        Kind::BadName(_)
    ));
    assert!(matches!(fails("", None).kind, Kind::NoRecord));
    assert!(matches!(
        fails("  ; only a comment", None).kind,
        Kind::NoRecord
    ));
    assert!(matches!(
        fails("$TTL 5", None).kind,
        Kind::DirectiveInRecordLine(_)
    ));
    assert!(matches!(
        fails("  A 192.0.2.1", None).kind,
        Kind::NoPreviousOwner
    ));
    let error = fails("a. A 192.0.2.1\nb. A 192.0.2.2", None);
    assert_eq!(error.line, 2);
    assert!(matches!(error.kind, Kind::NotOneRecord));
    let error = fails("a. CH A 192.0.2.1", None);
    assert!(matches!(error.kind, Kind::UnsupportedClass(_)));
}

#[test]
fn displayed_records_parse_back() {
    let records = [
        record(
            "www.example.",
            300,
            RData::Txt(vec![b"say \"hi\"".to_vec(), vec![0, 10, 127, 255]]),
        ),
        record(r"a\.b\032c\;\(\)\@\$.example.", 0, a("192.0.2.1")),
        record(".", 5, RData::Ns(name("ns.example."))),
        record(
            "example.",
            MAX_TTL,
            RData::Soa(Soa {
                mname: name("ns.example."),
                rname: name(r"host\.master.example."),
                serial: u32::MAX,
                refresh: 1,
                retry: 2,
                expire: 3,
                minimum: u32::MAX,
            }),
        ),
        record(
            "x.",
            1,
            RData::Aaaa(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()),
        ),
    ];
    for original in records {
        let text = original.to_string();
        let parsed = parse_record_line(&text, None, 0).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, original, "{text}");
    }
}

// Property tests.

/// Any label: 1 to 63 arbitrary octets.
fn arb_label() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=63)
}

/// Any name, from the root to names near the 255-octet limit.
fn arb_name() -> impl Strategy<Value = Name> {
    prop::collection::vec(arb_label(), 0..6).prop_map(|labels| {
        let mut wire = Vec::new();
        for label in labels {
            if wire.len() + label.len() + 2 > 255 {
                break;
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(&label);
        }
        wire.push(0);
        Name::from_wire(&wire).unwrap_or_else(Name::root)
    })
}

fn arb_rdata() -> impl Strategy<Value = RData> {
    prop_oneof![
        any::<u32>().prop_map(|n| RData::A(Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| RData::Aaaa(Ipv6Addr::from(n))),
        arb_name().prop_map(RData::Cname),
        arb_name().prop_map(RData::Ns),
        arb_name().prop_map(RData::Ptr),
        (any::<u16>(), arb_name()).prop_map(|(preference, exchange)| RData::Mx {
            preference,
            exchange
        }),
        (any::<u16>(), any::<u16>(), any::<u16>(), arb_name()).prop_map(
            |(priority, weight, port, target)| RData::Srv {
                priority,
                weight,
                port,
                target
            }
        ),
        prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..=255),
                // Bias towards the characters that need care.
                prop::collection::vec(
                    prop::sample::select(b"\"\\;() \t\n\r\x00\x7f\xffa0".to_vec()),
                    0..40
                ),
            ],
            1..4
        )
        .prop_map(RData::Txt),
        (arb_name(), arb_name(), any::<[u32; 5]>()).prop_map(|(mname, rname, n)| RData::Soa(Soa {
            mname,
            rname,
            serial: n[0],
            refresh: n[1],
            retry: n[2],
            expire: n[3],
            minimum: n[4],
        })),
    ]
}

/// Text made of the pieces zone files are made of, so that random inputs get
/// past the lexer and reach the directives, the rdata parsers and the zone rules.
fn arb_zoneish_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "@",
        "www",
        "a.b",
        "x.example.com.",
        "other.org.",
        " ",
        "\t",
        "\n",
        "(",
        ")",
        ";c",
        "\"",
        "\\",
        "\\0",
        "\\999",
        "\\\"",
        "$ORIGIN",
        "$TTL",
        "$INCLUDE",
        "$X",
        "IN",
        "CH",
        "300",
        "1h30m",
        "99999999999w",
        "-1",
        "A",
        "AAAA",
        "NS",
        "CNAME",
        "PTR",
        "MX",
        "SRV",
        "TXT",
        "SOA",
        "TYPE99",
        "192.0.2.1",
        "10.0.0.300",
        "2001:db8::1",
        "65536",
        "0",
        "é",
        "..",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.join(" "))
}

proptest! {
    #[test]
    fn display_round_trips(
        owner in arb_name(),
        ttl in 0..=MAX_TTL,
        data in arb_rdata(),
    ) {
        let original = Record::new(owner, ttl, data);
        let text = original.to_string();
        let parsed = parse_record_line(&text, None, 0);
        prop_assert!(parsed.is_ok(), "{text:?}: {parsed:?}");
        if let Ok(parsed) = parsed {
            prop_assert_eq!(parsed, original);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_zone_text(&text, &apex(), "fuzz.zone");
        let _ = parse_record_line(&text, None, 0);
        let _ = parse_record_line(&text, Some(&apex()), 0);
    }

    #[test]
    fn zone_like_text_never_panics(text in arb_zoneish_text()) {
        // A source in a directory that does not exist keeps $INCLUDE off the disk.
        let _ = parse_zone_text(&text, &apex(), "/nonexistent/ferrodns/fuzz.zone");
        let _ = parse_record_line(&text, Some(&apex()), 0);
    }
}

#[test]
fn rdata_text_parses_as_a_powerdns_backend_sends_it() {
    let parsed = |rtype: &str, text: &str| parse_rdata_text(rtype, text).map_err(|e| e.to_string());
    assert_eq!(
        parsed("SRV", "0 10 80 web.ns1.svc.n1.node.cluster1."),
        Ok(RData::Srv {
            priority: 0,
            weight: 10,
            port: 80,
            target: name("web.ns1.svc.n1.node.cluster1."),
        })
    );
    // Names without the trailing dot are absolute, and `@` is a character.
    assert_eq!(
        parsed(
            "SOA",
            "dns.cluster1. contact@opensvc.com 1 7200 3600 432000 86400"
        ),
        Ok(RData::Soa(Soa {
            mname: name("dns.cluster1."),
            rname: name("contact@opensvc.com."),
            serial: 1,
            refresh: 7200,
            retry: 3600,
            expire: 432_000,
            minimum: 86_400,
        }))
    );
    assert_eq!(
        parsed("ptr", "web.ns1.svc.cluster1"),
        Ok(RData::Ptr(name("web.ns1.svc.cluster1.")))
    );
    assert_eq!(
        parsed("MX", "10 mx.example.com"),
        Ok(RData::Mx {
            preference: 10,
            exchange: name("mx.example.com.")
        })
    );
    assert_eq!(
        parsed("TXT", "\"hello world\""),
        Ok(RData::Txt(vec![b"hello world".to_vec()]))
    );
    assert_eq!(parsed("A", "10.0.0.1"), Ok(a("10.0.0.1")));
    for (rtype, text) in [
        ("A", "10.0.0.300"),
        ("A", ""),
        ("A", "10.0.0.1\n10.0.0.2"),
        ("PTR6", "x.example."),
        ("CAA", "0 issue \"ca.example\""),
        ("SRV", "0 10 web.example."),
    ] {
        let error = parse_rdata_text(rtype, text);
        assert!(
            error.as_ref().is_err_and(|e| e.file == RECORD_LINE_SOURCE),
            "{rtype} {text:?}: {error:?}"
        );
    }
}

#[test]
fn checking_lists_every_bad_entry_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.zone");
    std::fs::write(
        &path,
        "$TTL 60\nweb IN A 10.0.0.1\nbad IN A 10.0.0.300\nalso IN AAAA 10.0.0.1\n\
         www IN CNAME web\nout.of.zone. IN A 10.0.0.2\n",
    )
    .unwrap();
    let (records, errors) = check_zone_file(&path, &apex());
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 6], "{errors:?}");
    assert_eq!(records.len(), 2);
    let first = parse_zone_file(&path, &apex()).unwrap_err();
    assert_eq!(first.line, 3, "a load still stops at the first error");
    let (_, missing) = check_zone_file(&dir.path().join("missing.zone"), &apex());
    assert_eq!(missing.len(), 1);
    assert!(
        missing[0].to_string().contains("missing.zone"),
        "{missing:?}"
    );
}
