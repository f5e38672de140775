//! Differential test against Knot DNS: `ferrodns serve` and `knotd` load the same
//! zone file and are asked the same questions; for every question the rcode, the
//! AA and TC flags and the answer and authority sections must match (the order of
//! records inside a section aside: ferrodns rotates RRsets).
//!
//! The zone exercises what the engine decides on its own: CNAME chains (in the
//! zone, dangling, leaving the zone), wildcards (RFC 4592: a name that exists below
//! the wildcard's parent blocks it; a name below an existing name is not covered),
//! empty non-terminals (NODATA, not NXDOMAIN), SRV, MX, TXT, PTR, NS and SOA at the
//! apex, an RRset too large for UDP (TC), and names and types that do not exist.
//! The questions are every owner and every probe name crossed with every type the
//! server serves; ANY is left out (RFC 8482 lets the two servers answer it
//! differently).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/differential.rs"]
mod differential;
mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use differential::ask;
use support::{Knot, Server};

const ORIGIN: &str = "diff.test.";

const ZONE: &str = "\
$ORIGIN diff.test.
$TTL 300
@             IN SOA   ns1 hostmaster ( 2026120701 3600 600 86400 60 )
@             IN NS    ns1
@             IN NS    ns2
@             IN MX    10 mail
@             IN TXT   \"v=spf1 -all\"
ns1           IN A     192.0.2.53
ns2           IN AAAA  2001:db8::53
mail          IN A     192.0.2.25
web           IN A     192.0.2.1
web           IN A     192.0.2.2
web      120  IN AAAA  2001:db8::1
www           IN CNAME web
alias2        IN CNAME www
outside       IN CNAME target.elsewhere.example.
dangling      IN CNAME missing
_http._tcp.web IN SRV  10 5 80 web0
_http._tcp.web IN SRV  20 0 80 web1
web0          IN A     192.0.2.10
web1          IN AAAA  2001:db8::11
a.b.c.ent     IN A     192.0.2.30
*.wild        IN A     192.0.2.40
*.wild        IN TXT   \"wild\"
sub.wild      IN A     192.0.2.41
*.cwild       IN CNAME web
10            IN PTR   web.diff.test.
txt           IN TXT   \"hello\" \"world\"
";

/// An RRset too large for a 1232-byte UDP answer: both servers must set TC.
fn big_rrset() -> String {
    (0..100)
        .map(|i| format!("many IN A 198.51.100.{i}\n"))
        .collect()
}

/// Names asked beside the zone's owners: missing names, empty non-terminals,
/// names the wildcards synthesise (one and two labels deep), a name below an
/// existing name under a wildcard, and a name below a CNAME.
const PROBES: &[&str] = &[
    "nope",
    "deep.nope",
    "b.c.ent",
    "c.ent",
    "x.a.b.c.ent",
    "x.wild",
    "y.z.wild",
    "x.sub.wild",
    "foo.cwild",
    "below.www",
    "_tcp.web",
];

const TYPES: &[&str] = &["A", "AAAA", "CNAME", "SRV", "TXT", "MX", "NS", "SOA", "PTR"];

/// Every name to ask, absolute and lower case.
fn questions() -> Vec<(String, &'static str)> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for line in ZONE.lines().skip(2) {
        let owner = line.split_whitespace().next().unwrap();
        names.insert(if owner == "@" {
            ORIGIN.to_string()
        } else {
            format!("{owner}.{ORIGIN}")
        });
    }
    names.extend(PROBES.iter().map(|p| format!("{p}.{ORIGIN}")));
    names.insert(format!("many.{ORIGIN}"));
    names
        .into_iter()
        .flat_map(|name| TYPES.iter().map(move |t| (name.clone(), *t)))
        .collect()
}

#[test]
fn answers_match_knot_for_the_same_zone_file() {
    let zone = format!("{ZONE}{}", big_rrset());
    let knot = Knot::serve(ORIGIN, &zone, "web.diff.test");
    let ferrodns = Server::start(&[(ORIGIN, &zone)], &[], "web.diff.test");
    let questions = questions();
    let mut theirs = ask(knot.port, &questions);
    let mut ours = ask(ferrodns.port, &questions);

    let mut differences = String::new();
    for (i, (name, qtype)) in questions.iter().enumerate() {
        if theirs[i] == ours[i] {
            continue;
        }
        // A batch answer that differs is asked again of both servers alone: a
        // stray datagram from another test's process on a busy CI machine must
        // not pass for a server's answer, while a real difference stays one.
        eprintln!("{name} {qtype}: the batch answers differed; asking again alone");
        let question = [(name.clone(), *qtype)];
        theirs[i] = ask(knot.port, &question).remove(0);
        ours[i] = ask(ferrodns.port, &question).remove(0);
        if theirs[i] != ours[i] {
            writeln!(
                differences,
                "{name} {qtype}:\n  knotd:    {:?}\n  ferrodns: {:?}",
                theirs[i], ours[i]
            )
            .unwrap();
        }
    }
    assert!(
        differences.is_empty(),
        "ferrodns and knotd disagree:\n{differences}"
    );
    // The comparison saw every kind of answer, not only one.
    let statuses: BTreeSet<&str> = ours.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(statuses, BTreeSet::from(["NOERROR", "NXDOMAIN"]));
    assert!(ours.iter().all(|a| a.aa));
    assert!(ours.iter().any(|a| a.answer.is_empty()));
    assert!(ours.iter().any(|a| a.answer.len() > 1));
    assert!(ours.iter().any(|a| a.tc));
}
