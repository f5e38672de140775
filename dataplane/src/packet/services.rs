//! The addresses the appliance answers for.

use std::net::{IpAddr, SocketAddr};

/// The port's MAC address and the service endpoints (`--listen` addresses): the
/// dataplane answers ARP, neighbor discovery and ping for their IP addresses and
/// DNS on their ports, and hands other traffic for those IP addresses to the
/// kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    mac: [u8; 6],
    ipv4: Vec<([u8; 4], u16)>,
    ipv6: Vec<([u8; 16], u16)>,
}

impl Services {
    pub fn new(mac: [u8; 6], endpoints: &[SocketAddr]) -> Services {
        let mut services = Services {
            mac,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
        };
        for endpoint in endpoints {
            match endpoint.ip() {
                IpAddr::V4(ip) => services.ipv4.push((ip.octets(), endpoint.port())),
                IpAddr::V6(ip) => services.ipv6.push((ip.octets(), endpoint.port())),
            }
        }
        services
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub(crate) fn has_ipv4(&self, ip: &[u8]) -> bool {
        self.ipv4.iter().any(|(own, _)| own.as_slice() == ip)
    }

    pub(crate) fn has_ipv6(&self, ip: &[u8]) -> bool {
        self.ipv6.iter().any(|(own, _)| own.as_slice() == ip)
    }

    pub(crate) fn is_dns_ipv4(&self, ip: &[u8], port: u16) -> bool {
        self.ipv4
            .iter()
            .any(|(own, p)| own.as_slice() == ip && *p == port)
    }

    pub(crate) fn is_dns_ipv6(&self, ip: &[u8], port: u16) -> bool {
        self.ipv6
            .iter()
            .any(|(own, p)| own.as_slice() == ip && *p == port)
    }

    /// Whether `ip` is the solicited-node multicast address (`ff02::1:ffXX:XXXX`,
    /// RFC 4291 §2.7.1) of one of the service IPv6 addresses.
    pub(crate) fn is_solicited_node(&self, ip: &[u8]) -> bool {
        const PREFIX: [u8; 13] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff];
        let (Some(prefix), Some(low)) = (ip.get(..13), ip.get(13..16)) else {
            return false;
        };
        prefix == PREFIX
            && self
                .ipv6
                .iter()
                .any(|(own, _)| own.get(13..16) == Some(low))
    }
}
