//! The source addresses of a DPDK run (`--local ADDR[/PREFIX]`).
//!
//! A plain address sends every query from it. A prefix spreads the queries over
//! the block's addresses, one after the other, so that the server's RSS hashes
//! them over its queues and its rate limiting sees many clients, as it would on
//! a real network: every address of the block from its first (for IPv4 without
//! the network and broadcast addresses of blocks of four or more), at most
//! [`MAX_SOURCES`] of them, and never the server's own address. The generator
//! answers ARP and neighbor solicitations for each of them, so a server on
//! kernel sockets can send its answers back.
//!
//! Addresses are kept as `u128` for both families (an IPv4 address in the low
//! 32 bits), which makes a block a range of numbers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::BypassError;

/// Most source addresses one run spreads its queries over.
pub(crate) const MAX_SOURCES: u128 = 1 << 16;

/// The source addresses, in increasing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalAddrs {
    ipv6: bool,
    /// The block as given: its first address and prefix length.
    network: u128,
    prefix: u8,
    sources: Vec<u128>,
}

impl LocalAddrs {
    pub(crate) fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The source addresses.
    pub(crate) fn sources(&self) -> &[u128] {
        &self.sources
    }

    /// Source number `index`, cycling.
    pub(crate) fn source(&self, index: usize) -> u128 {
        self.sources[index % self.sources.len()]
    }

    /// Whether `address` (of this family) is in the block.
    pub(crate) fn in_block(&self, address: u128) -> bool {
        address & mask(self.ipv6, self.prefix) == self.network
    }

    /// Whether `address` is one of the sources.
    pub(crate) fn contains(&self, address: u128) -> bool {
        self.sources.binary_search(&address).is_ok()
    }

    /// The sources without `server` (the server's address may lie in the
    /// block); an error when nothing is left.
    pub(crate) fn without(mut self, server: IpAddr) -> Result<LocalAddrs, BypassError> {
        if (server.is_ipv6()) != self.ipv6 {
            return Err(BypassError::Family {
                local: self.to_string(),
                server,
            });
        }
        let server = number(server);
        self.sources.retain(|&source| source != server);
        if self.sources.is_empty() {
            return Err(BypassError::NoSource {
                local: self.to_string(),
            });
        }
        Ok(self)
    }

    /// How a `[Status]` line names the sources.
    pub(crate) fn describe(&self) -> String {
        match self.sources.as_slice() {
            [one] => ip(self.ipv6, *one).to_string(),
            [first, .., last] => format!(
                "{} to {} ({} addresses)",
                ip(self.ipv6, *first),
                ip(self.ipv6, *last),
                self.sources.len()
            ),
            [] => "none".to_owned(),
        }
    }
}

impl std::fmt::Display for LocalAddrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", ip(self.ipv6, self.network), self.prefix)
    }
}

impl FromStr for LocalAddrs {
    type Err = BypassError;

    fn from_str(text: &str) -> Result<LocalAddrs, BypassError> {
        let bad = || BypassError::Local(text.to_owned());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| bad())?;
        let ipv6 = address.is_ipv6();
        let bits = if ipv6 { 128 } else { 32 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(bad)?,
            None => bits,
        };
        let value = number(address);
        let network = value & mask(ipv6, prefix);
        let sources = if prefix == bits {
            vec![value]
        } else {
            let size = 1u128 << (bits - prefix).min(127);
            // Network and broadcast addresses are nobody's, in blocks of four or more.
            let (first, count) = if !ipv6 && size >= 4 {
                (network + 1, size - 2)
            } else {
                (network, size)
            };
            (first..first + count.min(MAX_SOURCES)).collect()
        };
        Ok(LocalAddrs {
            ipv6,
            network,
            prefix,
            sources,
        })
    }
}

/// The netmask of a `prefix`-bit block.
fn mask(ipv6: bool, prefix: u8) -> u128 {
    let bits = if ipv6 { 128 } else { 32 };
    let all = if ipv6 {
        u128::MAX
    } else {
        u128::from(u32::MAX)
    };
    match bits - u32::from(prefix) {
        0 => all,
        host if host >= bits => 0,
        host => all & !((1u128 << host) - 1),
    }
}

/// An address as a number.
pub(crate) fn number(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A number as an address of the family.
pub(crate) fn ip(ipv6: bool, value: u128) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(value))
    } else {
        IpAddr::V4(Ipv4Addr::from(value as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(text: &str) -> Vec<IpAddr> {
        let local: LocalAddrs = text.parse().unwrap();
        local
            .sources()
            .iter()
            .map(|&value| ip(local.is_ipv6(), value))
            .collect()
    }

    #[test]
    fn one_address_or_every_host_of_a_block() {
        assert_eq!(
            addrs("192.0.2.10"),
            ["192.0.2.10".parse::<IpAddr>().unwrap()]
        );
        let block = addrs("192.0.2.128/30");
        assert_eq!(
            block,
            ["192.0.2.129", "192.0.2.130"].map(|a| a.parse::<IpAddr>().unwrap())
        );
        assert_eq!(addrs("192.0.2.8/31").len(), 2, "a /31 has no broadcast");
        let v6 = addrs("2001:db8::40/126");
        assert_eq!(v6.len(), 4);
        assert_eq!(v6[0], "2001:db8::40".parse::<IpAddr>().unwrap());
        assert_eq!(addrs("10.0.0.0/8").len(), MAX_SOURCES as usize);
        assert_eq!(addrs("2001:db8::/64").len(), MAX_SOURCES as usize);
    }

    #[test]
    fn the_block_and_its_sources_are_told_apart() {
        let local: LocalAddrs = "192.0.2.128/25".parse().unwrap();
        let n = |a: &str| number(a.parse().unwrap());
        assert!(local.in_block(n("192.0.2.255")));
        assert!(!local.contains(n("192.0.2.255")), "broadcast");
        assert!(local.contains(n("192.0.2.200")));
        assert!(!local.in_block(n("192.0.2.53")));
        assert_eq!(local.to_string(), "192.0.2.128/25");
        assert_eq!(
            local.describe(),
            "192.0.2.129 to 192.0.2.254 (126 addresses)"
        );
        assert_eq!(local.source(126), n("192.0.2.129"), "cycling");
    }

    #[test]
    fn the_server_is_never_a_source() {
        let local: LocalAddrs = "192.0.2.0/29".parse().unwrap();
        let local = local.without("192.0.2.3".parse().unwrap()).unwrap();
        assert_eq!(local.sources().len(), 5);
        let only: LocalAddrs = "192.0.2.53".parse().unwrap();
        assert!(matches!(
            only.without("192.0.2.53".parse().unwrap()),
            Err(BypassError::NoSource { .. })
        ));
        let v4: LocalAddrs = "192.0.2.10".parse().unwrap();
        assert!(matches!(
            v4.without("2001:db8::53".parse().unwrap()),
            Err(BypassError::Family { .. })
        ));
    }

    #[test]
    fn bad_text_is_refused() {
        for text in ["192.0.2.1/33", "nope", "2001:db8::/129", "10.0.0.1/x"] {
            assert!(text.parse::<LocalAddrs>().is_err(), "{text}");
        }
    }
}
