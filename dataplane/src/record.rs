//! The record model shared by every source of records (zone files, the embedded
//! store, etcd) and the compiler that turns records into the answer table.
//!
//! A [`Record`] is an owner [`Name`], a TTL and typed [`RData`]. Its `Display` is the
//! RFC 1035 presentation format (`www.example.com. 300 IN A 192.0.2.1`), so records
//! can be stored and shown as zone-file lines and parsed back by the zone-file parser.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::Name;

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
    pub const OPT: RType = RType(41);
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

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

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
