//! The record model shared by every source of records (zone files, the embedded
//! store, etcd) and the compiler that turns records into the answer table.
//!
//! A [`Record`] is an owner [`Name`], a TTL and typed [`RData`]. Its `Display` is the
//! RFC 1035 presentation format (`www.example.com. 300 IN A 192.0.2.1`), so records
//! can be stored and shown as zone-file lines and parsed back by the zone-file parser.
//! How an RRset with several targets is presented is its [`AnswerPolicy`], data
//! the sources set and the compiler stamps into the table.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::Name;

mod policy;

pub use policy::{AnswerPolicy, UnknownPolicy};

/// A record type code (RFC 1035 §3.2.2 and successors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RType(pub u16);

impl RType {
    pub const A: RType = RType(1);
    pub const NS: RType = RType(2);
    pub const CNAME: RType = RType(5);
    pub const SOA: RType = RType(6);
    pub const PTR: RType = RType(12);
    pub const MX: RType = RType(15);
    pub const TXT: RType = RType(16);
    pub const AAAA: RType = RType(28);
    pub const SRV: RType = RType(33);
    pub const DNAME: RType = RType(39);
    pub const OPT: RType = RType(41);
    pub const RRSIG: RType = RType(46);
    pub const NSEC: RType = RType(47);
    pub const NSEC3: RType = RType(50);
    /// A transaction signature (RFC 8945): a meta-record, last in a message.
    pub const TSIG: RType = RType(250);
    pub const ANY: RType = RType(255);

    /// The mnemonic for the types ferrodns serves, `TYPEn` (RFC 3597) otherwise.
    pub fn mnemonic(self) -> std::borrow::Cow<'static, str> {
        let known = match self {
            RType::A => "A",
            RType::NS => "NS",
            RType::CNAME => "CNAME",
            RType::SOA => "SOA",
            RType::PTR => "PTR",
            RType::MX => "MX",
            RType::TXT => "TXT",
            RType::AAAA => "AAAA",
            RType::SRV => "SRV",
            RType::OPT => "OPT",
            RType::ANY => "ANY",
            RType(other) => return format!("TYPE{other}").into(),
        };
        known.into()
    }

    /// Parses a mnemonic (case-insensitive) or `TYPEn`.
    pub fn from_mnemonic(text: &str) -> Option<RType> {
        let upper = text.to_ascii_uppercase();
        let known = match upper.as_str() {
            "A" => RType::A,
            "NS" => RType::NS,
            "CNAME" => RType::CNAME,
            "SOA" => RType::SOA,
            "PTR" => RType::PTR,
            "MX" => RType::MX,
            "TXT" => RType::TXT,
            "AAAA" => RType::AAAA,
            "SRV" => RType::SRV,
            "ANY" => RType::ANY,
            other => return other.strip_prefix("TYPE")?.parse().ok().map(RType),
        };
        Some(known)
    }
}

impl fmt::Display for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mnemonic())
    }
}

/// The fields of an SOA record (RFC 1035 §3.3.13).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Soa {
    pub mname: Name,
    pub rname: Name,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// The negative-caching TTL (RFC 2308 §4).
    pub minimum: u32,
}

/// Typed record data for the types ferrodns serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Name),
    Ns(Name),
    Ptr(Name),
    Mx {
        preference: u16,
        exchange: Name,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Name,
    },
    /// One or more character-strings, each at most 255 octets.
    Txt(Vec<Vec<u8>>),
    Soa(Soa),
}

impl RData {
    pub fn rtype(&self) -> RType {
        match self {
            RData::A(_) => RType::A,
            RData::Aaaa(_) => RType::AAAA,
            RData::Cname(_) => RType::CNAME,
            RData::Ns(_) => RType::NS,
            RData::Ptr(_) => RType::PTR,
            RData::Mx { .. } => RType::MX,
            RData::Srv { .. } => RType::SRV,
            RData::Txt(_) => RType::TXT,
            RData::Soa(_) => RType::SOA,
        }
    }

    /// Appends the uncompressed wire rdata (without the length prefix).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RData::A(addr) => out.extend_from_slice(&addr.octets()),
            RData::Aaaa(addr) => out.extend_from_slice(&addr.octets()),
            RData::Cname(name) | RData::Ns(name) | RData::Ptr(name) => {
                out.extend_from_slice(name.as_wire())
            }
            RData::Mx {
                preference,
                exchange,
            } => {
                out.extend_from_slice(&preference.to_be_bytes());
                out.extend_from_slice(exchange.as_wire());
            }
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                out.extend_from_slice(&priority.to_be_bytes());
                out.extend_from_slice(&weight.to_be_bytes());
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(target.as_wire());
            }
            RData::Txt(strings) => {
                for string in strings {
                    let len = string.len().min(255);
                    out.push(len as u8);
                    out.extend_from_slice(string.get(..len).unwrap_or_default());
                }
                if strings.is_empty() {
                    out.push(0);
                }
            }
            RData::Soa(soa) => {
                out.extend_from_slice(soa.mname.as_wire());
                out.extend_from_slice(soa.rname.as_wire());
                for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
        }
    }

    /// Parses uncompressed wire rdata (without the length prefix) of type `rtype`: the
    /// inverse of [`RData::encode`]. Returns `None` for types ferrodns does not model,
    /// for compressed or malformed names, and for rdata that is truncated or carries
    /// trailing bytes. Never panics, whatever the input.
    ///
    /// TXT rdata must hold at least one character-string; `encode` writes an empty
    /// `Txt(vec![])` as one empty string, which decodes as `Txt(vec![vec![]])`.
    pub fn decode(rtype: RType, rdata: &[u8]) -> Option<RData> {
        let data = match rtype {
            RType::A => RData::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?)),
            RType::AAAA => RData::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?)),
            RType::CNAME => RData::Cname(Name::from_wire(rdata)?),
            RType::NS => RData::Ns(Name::from_wire(rdata)?),
            RType::PTR => RData::Ptr(Name::from_wire(rdata)?),
            RType::MX => {
                let (preference, rest) = split_u16(rdata)?;
                RData::Mx {
                    preference,
                    exchange: Name::from_wire(rest)?,
                }
            }
            RType::SRV => {
                let (priority, rest) = split_u16(rdata)?;
                let (weight, rest) = split_u16(rest)?;
                let (port, rest) = split_u16(rest)?;
                RData::Srv {
                    priority,
                    weight,
                    port,
                    target: Name::from_wire(rest)?,
                }
            }
            RType::TXT => {
                let mut strings = Vec::new();
                let mut rest = rdata;
                while let Some((&len, tail)) = rest.split_first() {
                    let len = usize::from(len);
                    strings.push(tail.get(..len)?.to_vec());
                    rest = tail.get(len..)?;
                }
                if strings.is_empty() {
                    return None;
                }
                RData::Txt(strings)
            }
            RType::SOA => {
                let (mname, rest) = split_name(rdata)?;
                let (rname, rest) = split_name(rest)?;
                let (serial, rest) = split_u32(rest)?;
                let (refresh, rest) = split_u32(rest)?;
                let (retry, rest) = split_u32(rest)?;
                let (expire, rest) = split_u32(rest)?;
                let (minimum, rest) = split_u32(rest)?;
                if !rest.is_empty() {
                    return None;
                }
                RData::Soa(Soa {
                    mname,
                    rname,
                    serial,
                    refresh,
                    retry,
                    expire,
                    minimum,
                })
            }
            _ => return None,
        };
        Some(data)
    }

    /// The name in the rdata whose address records belong in the additional
    /// section (RFC 1035 §3.3, RFC 2782).
    pub fn additional_target(&self) -> Option<&Name> {
        match self {
            RData::Ns(name) => Some(name),
            RData::Mx { exchange, .. } => Some(exchange),
            RData::Srv { target, .. } => Some(target),
            _ => None,
        }
    }
}

impl fmt::Display for RData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A(addr) => write!(f, "{addr}"),
            RData::Aaaa(addr) => write!(f, "{addr}"),
            RData::Cname(name) | RData::Ns(name) | RData::Ptr(name) => write!(f, "{name}"),
            RData::Mx {
                preference,
                exchange,
            } => write!(f, "{preference} {exchange}"),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => write!(f, "{priority} {weight} {port} {target}"),
            RData::Txt(strings) => {
                for (i, string) in strings.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str("\"")?;
                    for &byte in string {
                        match byte {
                            b'"' | b'\\' => write!(f, "\\{}", char::from(byte))?,
                            0x20..=0x7e => write!(f, "{}", char::from(byte))?,
                            _ => write!(f, "\\{byte:03}")?,
                        }
                    }
                    f.write_str("\"")?;
                }
                Ok(())
            }
            RData::Soa(soa) => write!(
                f,
                "{} {} {} {} {} {} {}",
                soa.mname, soa.rname, soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
            ),
        }
    }
}

/// Splits a big-endian `u16` off the front of `bytes`.
fn split_u16(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*head), rest))
}

/// Splits a big-endian `u32` off the front of `bytes`.
fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), rest))
}

/// Splits an uncompressed wire name off the front of `bytes`. A compression pointer
/// (a length octet of 0xC0 or more) is over the label limit, so it is refused.
fn split_name(bytes: &[u8]) -> Option<(Name, &[u8])> {
    let mut at = 0usize;
    loop {
        let len = usize::from(*bytes.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > crate::name::MAX_LABEL_LEN || at + len > crate::name::MAX_NAME_LEN {
            return None;
        }
        at += len;
    }
    let name = Name::from_wire(bytes.get(..at)?)?;
    Some((name, bytes.get(at..)?))
}

/// One resource record of class IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub name: Name,
    pub ttl: u32,
    pub data: RData,
}

impl Record {
    pub fn new(name: Name, ttl: u32, data: RData) -> Self {
        Record { name, ttl, data }
    }

    pub fn rtype(&self) -> RType {
        self.data.rtype()
    }
}

/// Presentation format: `owner TTL IN TYPE rdata`.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} IN {} {}",
            self.name,
            self.ttl,
            self.rtype(),
            self.data
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::name;

    #[test]
    fn encodes_rdata_uncompressed() {
        let mut out = Vec::new();
        RData::Srv {
            priority: 10,
            weight: 5,
            port: 8080,
            target: name("web.example."),
        }
        .encode(&mut out);
        assert_eq!(out, b"\x00\x0a\x00\x05\x1f\x90\x03web\x07example\x00");
        out.clear();
        RData::Txt(vec![b"a b".to_vec(), b"c".to_vec()]).encode(&mut out);
        assert_eq!(out, b"\x03a b\x01c");
    }

    fn every_variant() -> Vec<RData> {
        vec![
            RData::A(Ipv4Addr::new(192, 0, 2, 1)),
            RData::Aaaa(
                "2001:db8::1"
                    .parse()
                    .unwrap_or_else(|e| unreachable!("{e}")),
            ),
            RData::Cname(name("Target.Example.")),
            RData::Ns(name("ns1.example.")),
            RData::Ptr(name("host.example.")),
            RData::Ptr(Name::root()),
            RData::Mx {
                preference: 10,
                exchange: name("mail.example."),
            },
            RData::Srv {
                priority: 1,
                weight: 2,
                port: 443,
                target: name("web.example."),
            },
            RData::Txt(vec![b"v=spf1 -all".to_vec()]),
            RData::Txt(vec![Vec::new(), b"x".to_vec(), vec![0xff; 255]]),
            RData::Soa(Soa {
                mname: name("ns1.example."),
                rname: name("hostmaster.example."),
                serial: 2_024_010_101,
                refresh: 3600,
                retry: 600,
                expire: 604_800,
                minimum: 60,
            }),
        ]
    }

    fn encoded(data: &RData) -> Vec<u8> {
        let mut out = Vec::new();
        data.encode(&mut out);
        out
    }

    #[test]
    fn decode_inverts_encode_for_every_variant() {
        for data in every_variant() {
            let wire = encoded(&data);
            let decoded = RData::decode(data.rtype(), &wire);
            assert_eq!(decoded.as_ref(), Some(&data), "{data}");
            // Names keep the case they were written with.
            assert_eq!(decoded.map(|d| encoded(&d)), Some(wire));
        }
    }

    #[test]
    fn decode_refuses_truncated_and_padded_rdata() {
        for data in every_variant() {
            let wire = encoded(&data);
            for cut in 0..wire.len() {
                let prefix = wire.get(..cut).unwrap_or_default();
                let decoded = RData::decode(data.rtype(), prefix);
                if data.rtype() == RType::TXT {
                    // A prefix ending on a string boundary is a shorter, valid TXT.
                    assert_ne!(decoded.as_ref(), Some(&data));
                } else {
                    assert_eq!(decoded, None, "{data} cut at {cut}");
                }
            }
            let mut padded = wire.clone();
            padded.push(7);
            assert_eq!(RData::decode(data.rtype(), &padded), None, "{data} padded");
        }
    }

    #[test]
    fn decode_refuses_garbage() {
        // A compression pointer is not an uncompressed name.
        assert_eq!(RData::decode(RType::CNAME, b"\xc0\x0c"), None);
        assert_eq!(RData::decode(RType::MX, b"\x00\x0a\x03www\xc0\x0c"), None);
        // Label longer than 63 octets.
        let mut long = vec![64];
        long.extend_from_slice(&[b'a'; 64]);
        long.push(0);
        assert_eq!(RData::decode(RType::NS, &long), None);
        // Name longer than 255 octets.
        let mut huge = Vec::new();
        for _ in 0..5 {
            huge.push(63);
            huge.extend_from_slice(&[b'a'; 63]);
        }
        huge.push(0);
        assert_eq!(RData::decode(RType::PTR, &huge), None);
        assert_eq!(RData::decode(RType::A, b"\x01\x02\x03"), None);
        assert_eq!(RData::decode(RType::TXT, b""), None);
        assert_eq!(RData::decode(RType::TXT, b"\x05abc"), None);
        assert_eq!(RData::decode(RType::SOA, b"\x00\x00"), None);
        // Types ferrodns does not model.
        assert_eq!(RData::decode(RType::OPT, b""), None);
        assert_eq!(RData::decode(RType(99), b"\x00"), None);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(rtype in proptest::sample::select(vec![
            RType::A, RType::AAAA, RType::CNAME, RType::NS, RType::PTR,
            RType::MX, RType::SRV, RType::TXT, RType::SOA, RType(99),
        ]), bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Some(data) = RData::decode(rtype, &bytes) {
                proptest::prop_assert_eq!(data.rtype(), rtype);
                proptest::prop_assert_eq!(encoded(&data), bytes);
            }
        }
    }

    #[test]
    fn displays_presentation_format() {
        let record = Record::new(
            name("www.example."),
            300,
            RData::Txt(vec![b"say \"hi\"".to_vec()]),
        );
        assert_eq!(
            record.to_string(),
            r#"www.example. 300 IN TXT "say \"hi\"""#
        );
        assert_eq!(RType::from_mnemonic("aaaa"), Some(RType::AAAA));
        assert_eq!(RType::from_mnemonic("TYPE99"), Some(RType(99)));
        assert_eq!(RType(99).to_string(), "TYPE99");
    }
}
