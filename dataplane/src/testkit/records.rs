//! Names, records and compiled zones written the short way.
//!
//! A test names its records in presentation text (`"web.example."`) and its
//! addresses as octets; text that is not a name is a mistake in the test, so
//! [`name`] stops it at once rather than handing back a `Result` every caller
//! would unwrap.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::Name;
use crate::record::{RData, Record, Soa};
use crate::table::{TableVersion, ZoneInput, compile};

/// The name written as `text` (a trailing dot is optional: the name is absolute
/// either way).
pub fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap_or_else(|e| unreachable!("{text:?} is not a name: {e}"))
}

/// A record of class IN at `owner`.
pub fn record(owner: &str, ttl: u32, data: RData) -> Record {
    Record::new(name(owner), ttl, data)
}

/// An A record.
pub fn a(owner: &str, ttl: u32, address: [u8; 4]) -> Record {
    record(owner, ttl, RData::A(Ipv4Addr::from(address)))
}

/// An AAAA record.
pub fn aaaa(owner: &str, ttl: u32, address: Ipv6Addr) -> Record {
    record(owner, ttl, RData::Aaaa(address))
}

/// A CNAME record.
pub fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    record(owner, ttl, RData::Cname(name(target)))
}

/// An SRV record.
pub fn srv(owner: &str, ttl: u32, priority: u16, weight: u16, port: u16, target: &str) -> Record {
    let target = name(target);
    record(
        owner,
        ttl,
        RData::Srv {
            priority,
            weight,
            port,
            target,
        },
    )
}

/// A TXT record of one character-string.
pub fn txt(owner: &str, ttl: u32, text: &str) -> Record {
    record(owner, ttl, RData::Txt(vec![text.as_bytes().to_vec()]))
}

/// The SOA record of `apex`: `ns1.<apex>`, `hostmaster.<apex>`, `serial`, then
/// refresh 3600, retry 600, expire 86400 and a negative TTL of 60.
pub fn soa(apex: &str, ttl: u32, serial: u32) -> Record {
    record(
        apex,
        ttl,
        RData::Soa(Soa {
            mname: name(&format!("ns1.{apex}")),
            rname: name(&format!("hostmaster.{apex}")),
            serial,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 60,
        }),
    )
}

/// `records` compiled as the one zone `apex`, every address healthy, hash seed 1.
pub fn compile_zone(apex: &str, records: Vec<Record>) -> TableVersion {
    compile(&[ZoneInput::new(name(apex), records)], &HashSet::new(), 1)
        .unwrap_or_else(|e| unreachable!("the zone {apex} does not compile: {e}"))
}
