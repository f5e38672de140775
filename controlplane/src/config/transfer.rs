//! `[transfer]` with `--allow-transfer` and `--notify`: who may transfer the
//! zones (AXFR, and IXFR answered in full) and which secondaries are told of a
//! change (NOTIFY).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::ConfigError;
use super::file::RawTransfer;
use super::merge::{Merge, flag_error};

/// Default `transfer.allow_transfer`: loopback only.
pub const DEFAULT_ALLOW_TRANSFER: [Cidr; 2] = [
    Cidr {
        addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
        prefix_len: 8,
    },
    Cidr {
        addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
        prefix_len: 128,
    },
];

/// Zone transfers out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSettings {
    /// Clients that may transfer a zone; others are answered REFUSED. Empty:
    /// nobody.
    pub allow: Vec<Cidr>,
    /// Secondaries sent a NOTIFY when a zone's serial changes.
    pub notify: Vec<SocketAddr>,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            allow: DEFAULT_ALLOW_TRANSFER.to_vec(),
            notify: Vec::new(),
        }
    }
}

/// An address block, `ADDR/LEN`; the address has no bits set past the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block. An IPv4 address seen as IPv6
    /// (`::ffff:a.b.c.d`, as a dual-stack socket reports it) counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(block), IpAddr::V4(ip)) => {
                prefix_mask(u128::from(u32::from(ip)) << 96, self.prefix_len)
                    == u128::from(u32::from(block)) << 96
            }
            (IpAddr::V6(block), IpAddr::V6(ip)) => {
                prefix_mask(u128::from(ip), self.prefix_len) == u128::from(block)
            }
            _ => false,
        }
    }

    /// `ADDR/LEN`, or a bare address for that address alone.
    fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let bad = || {
            "expected an address block such as 10.0.0.0/8 or fd00::/64, or an address".to_owned()
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| format!("the prefix length must be 0 to {max}"))?,
            None => max,
        };
        let bits = match addr {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
            IpAddr::V6(v6) => u128::from(v6),
        };
        // An IPv4 address sits in the top 32 of the 128 bits: the prefix is
        // counted from the top either way.
        if prefix_mask(bits, prefix_len) != bits {
            return Err(format!(
                "{addr} has bits set past /{prefix_len}: write the block's first address"
            ));
        }
        Ok(Cidr { addr, prefix_len })
    }
}

/// `bits` with everything past the first `len` bits (of 128) cleared.
fn prefix_mask(bits: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        128.. => bits,
        len => bits & !(u128::MAX >> len),
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Merge<'_> {
    /// `[transfer]`, with `--allow-transfer` and `--notify` replacing its lists.
    pub(super) fn transfer(&self, raw: &RawTransfer) -> Result<TransferSettings, ConfigError> {
        let allow = if self.flags.allow_transfer.is_empty() {
            match &raw.allow_transfer {
                Some(list) => list
                    .get_ref()
                    .iter()
                    .map(|text| {
                        Cidr::parse(text.get_ref())
                            .map_err(|r| self.invalid(text, "transfer.allow_transfer", r))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None => DEFAULT_ALLOW_TRANSFER.to_vec(),
            }
        } else {
            self.flags
                .allow_transfer
                .iter()
                .map(|text| Cidr::parse(text).map_err(|r| flag_error("--allow-transfer", text, r)))
                .collect::<Result<Vec<_>, _>>()?
        };
        let notify = self.addresses(
            ("--notify", &self.flags.notify),
            ("transfer.notify", raw.notify.as_ref()),
            secondary_addr,
            true,
        )?;
        Ok(TransferSettings {
            allow,
            notify: notify.unwrap_or_default(),
        })
    }
}

/// A secondary to notify: `IP:PORT`, or a bare IP for port 53.
fn secondary_addr(text: &str) -> Result<SocketAddr, String> {
    let addr = text
        .parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| "expected IP:PORT such as 192.0.2.2:53, or an IP for port 53".to_owned())?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err("a secondary needs a real address and a port other than 0".into());
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!("{text}"))
    }

    #[test]
    fn blocks_parse_and_match() {
        let block = Cidr::parse("10.1.0.0/16").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(block.contains(ip("10.1.200.3")));
        assert!(block.contains(ip("::ffff:10.1.0.1")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(!block.contains(ip("fd00::1")));
        let one = Cidr::parse("127.0.0.1").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = Cidr::parse("fd00::/64").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(v6.contains(ip("fd00::5")) && !v6.contains(ip("fd00:0:0:1::5")));
        let all = Cidr::parse("0.0.0.0/0").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(all.contains(ip("192.0.2.1")) && !all.contains(ip("::1")));
        assert!(
            DEFAULT_ALLOW_TRANSFER
                .iter()
                .any(|c| c.contains(ip("127.0.0.2")))
        );
        assert!(DEFAULT_ALLOW_TRANSFER.iter().any(|c| c.contains(ip("::1"))));
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "fd00::/129",
            "host/8",
            "",
            "10.0.0.0/",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
