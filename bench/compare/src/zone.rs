//! The zone all three servers load and the query mix all clients send.
//!
//! `services` services under `bench.test.`: each has two A records and an SRV
//! record pointing at it; every tenth also has a CNAME alias. The query mix, drawn
//! with a fixed seed so that every run asks the same questions, is 55% A, 25% SRV,
//! 10% A through a CNAME and 10% names that do not exist (NXDOMAIN), which is how
//! service-discovery traffic looks: mostly hits, some misses from search paths.

use std::fmt::Write as _;

pub(crate) const ORIGIN: &str = "bench.test.";
/// A name every server must answer before it is measured.
pub(crate) const PROBE: &str = "svc0.bench.test";

/// The zone file text (RFC 1035 syntax that ferrodns, NSD and Knot all read).
pub(crate) fn zone(services: usize) -> String {
    let mut text = String::with_capacity(services * 120);
    text.push_str(
        "$ORIGIN bench.test.\n$TTL 30\n\
         @ IN SOA ns1 hostmaster ( 2026120701 3600 600 86400 60 )\n\
         @ IN NS ns1\nns1 IN A 10.255.255.53\n",
    );
    for i in 0..services {
        let (a, b) = (i / 250 % 250, i % 250 + 1);
        let _ = writeln!(text, "svc{i} IN A 10.1.{a}.{b}");
        let _ = writeln!(text, "svc{i} IN A 10.2.{a}.{b}");
        let _ = writeln!(text, "_http._tcp.svc{i} IN SRV 10 10 8080 svc{i}");
        if i % 10 == 0 {
            let _ = writeln!(text, "alias{i} IN CNAME svc{i}");
        }
    }
    text
}

/// `count` lines of a dnsperf query file over that zone.
pub(crate) fn queries(services: usize, count: usize, seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut text = String::with_capacity(count * 32);
    for _ in 0..count {
        let i = rng.usize(..services);
        let _ = match rng.u8(..100) {
            0..55 => writeln!(text, "svc{i}.bench.test A"),
            55..80 => writeln!(text, "_http._tcp.svc{i}.bench.test SRV"),
            80..90 => writeln!(text, "alias{}.bench.test A", i / 10 * 10),
            _ => writeln!(text, "nope{i}.bench.test A"),
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queried_name_but_the_misses_is_in_the_zone() {
        let zone = zone(100);
        for line in queries(100, 500, 1).lines() {
            let name = line.split_whitespace().next().unwrap();
            let owner = name.strip_suffix(".bench.test").unwrap();
            let present = zone
                .lines()
                .any(|l| l.split_whitespace().next() == Some(owner));
            assert_eq!(present, !owner.starts_with("nope"), "{line}");
        }
    }

    #[test]
    fn the_mix_is_the_same_for_the_same_seed() {
        assert_eq!(queries(50, 100, 9), queries(50, 100, 9));
        assert_ne!(queries(50, 100, 9), queries(50, 100, 10));
    }
}
