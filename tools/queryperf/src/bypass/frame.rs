//! Query frames: a whole Ethernet frame per query, built into an mbuf.
//!
//! Everything in a query's frame but four things is known before the run: the
//! MAC addresses, the VLAN tag, the server's address and port, and the bytes of
//! every query of the list. So [`QueryFrames`] keeps the headers as a template
//! and, per query of the list, the sum of its bytes for the UDP checksum; a
//! frame is then a copy of the headers and of the query, and a few writes: the
//! ID, the source address and port (the flow), the lengths and the checksums,
//! which are the template's sums plus the words that changed (RFC 1624's
//! incremental update, done by adding instead of subtracting).
//!
//! ```text
//!  Ethernet: dst MAC | src MAC | [0x8100 | VLAN ID] | 0x0800 or 0x86dd
//!  IPv4 (20): 45 00 len | 0000 4000 (DF) | 40 (TTL) 11 (UDP) csum | src | dst
//!  IPv6 (40): 60 00 00 00 | len 11 (UDP) 40 (hop limit) | src | dst
//!  UDP (8): source port | 53 | len | csum
//!  DNS: the query, its ID patched
//! ```

use std::net::SocketAddr;

use super::checksum::Sum;
use crate::query::QueryTemplate;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
pub(crate) const ETHERTYPE_VLAN: u16 = 0x8100;
/// IP protocol numbers.
pub(crate) const PROTOCOL_UDP: u8 = 17;
pub(crate) const PROTOCOL_ICMPV6: u8 = 58;
/// Ethernet's shortest frame without its FCS: shorter frames are padded.
const MIN_FRAME: usize = 60;
/// TTL and hop limit of the queries.
const HOPS: u8 = 64;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;

/// Field offsets in the IPv4 and IPv6 headers and in the UDP header.
mod field {
    pub(super) const IPV4_TOTAL_LEN: usize = 2;
    pub(super) const IPV4_CHECKSUM: usize = 10;
    pub(super) const IPV4_SOURCE: usize = 12;
    pub(super) const IPV6_PAYLOAD_LEN: usize = 4;
    pub(super) const IPV6_SOURCE: usize = 8;
    pub(super) const UDP_SOURCE_PORT: usize = 0;
    pub(super) const UDP_LEN: usize = 4;
    pub(super) const UDP_CHECKSUM: usize = 6;
}

/// The link a DPDK run sends on: who to, from which MAC, with which tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) mac: [u8; 6],
    pub(crate) server_mac: [u8; 6],
    pub(crate) vlan: Option<u16>,
    pub(crate) server: SocketAddr,
}

impl Link {
    /// The Ethernet header (with the VLAN tag) for `ethertype` to `dst`.
    pub(crate) fn ethernet(&self, dst: [u8; 6], ethertype: u16) -> Vec<u8> {
        let mut header = Vec::with_capacity(18);
        header.extend_from_slice(&dst);
        header.extend_from_slice(&self.mac);
        if let Some(vlan) = self.vlan {
            header.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            header.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
        }
        header.extend_from_slice(&ethertype.to_be_bytes());
        header
    }
}

/// The frames of a run's queries.
#[derive(Debug, Clone)]
pub(crate) struct QueryFrames {
    /// Ethernet, IP and UDP headers with the lengths, source and checksums zero.
    headers: Vec<u8>,
    ip_at: usize,
    udp_at: usize,
    ipv6: bool,
    /// What the UDP checksum covers and no query changes: the server's address,
    /// the protocol and the server's port.
    fixed: Sum,
    /// Per query of the list: the sum of its bytes with ID zero.
    payload_sums: Vec<Sum>,
}

impl QueryFrames {
    /// The frames of `queries` on `link`.
    pub(crate) fn new(link: &Link, queries: &[QueryTemplate]) -> QueryFrames {
        let ipv6 = link.server.is_ipv6();
        let ethertype = if ipv6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
        let mut headers = link.ethernet(link.server_mac, ethertype);
        let ip_at = headers.len();
        let server = match link.server {
            SocketAddr::V4(v4) => v4.ip().octets().to_vec(),
            SocketAddr::V6(v6) => v6.ip().octets().to_vec(),
        };
        if ipv6 {
            headers.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, PROTOCOL_UDP, HOPS]);
            headers.extend_from_slice(&[0; 16]);
        } else {
            headers.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, HOPS, PROTOCOL_UDP, 0, 0]);
            headers.extend_from_slice(&[0; 4]);
        }
        headers.extend_from_slice(&server);
        let udp_at = headers.len();
        headers.extend_from_slice(&[0, 0]);
        headers.extend_from_slice(&link.server.port().to_be_bytes());
        headers.extend_from_slice(&[0; 4]);
        QueryFrames {
            headers,
            ip_at,
            udp_at,
            ipv6,
            fixed: Sum::of(&server)
                .word(u16::from(PROTOCOL_UDP))
                .word(link.server.port()),
            payload_sums: queries.iter().map(|q| Sum::of(q.wire())).collect(),
        }
    }

    /// Writes the frame of query number `index` (`query`) with `id`, from
    /// `source` (an address of the server's family, as a number) and port
    /// `port`, into `out`; returns the frame's length, or `None` when `out` is
    /// too short.
    pub(crate) fn write(
        &self,
        out: &mut [u8],
        query: &QueryTemplate,
        index: usize,
        id: u16,
        source: u128,
        port: u16,
    ) -> Option<usize> {
        let dns_at = self.headers.len();
        let end = dns_at + query.len();
        let len = end.max(MIN_FRAME);
        let frame = out.get_mut(..len)?;
        frame[..dns_at].copy_from_slice(&self.headers);
        frame[dns_at..end].copy_from_slice(query.wire());
        frame[dns_at..dns_at + 2].copy_from_slice(&id.to_be_bytes());
        frame[end..].fill(0);

        let udp_len = u16::try_from(UDP_HEADER + query.len()).ok()?;
        let v4;
        let v6;
        let source_bytes: &[u8] = if self.ipv6 {
            v6 = source.to_be_bytes();
            &v6
        } else {
            v4 = (source as u32).to_be_bytes();
            &v4
        };
        let ip = &mut frame[self.ip_at..self.udp_at];
        if self.ipv6 {
            ip[field::IPV6_PAYLOAD_LEN..field::IPV6_PAYLOAD_LEN + 2]
                .copy_from_slice(&udp_len.to_be_bytes());
            ip[field::IPV6_SOURCE..field::IPV6_SOURCE + 16].copy_from_slice(source_bytes);
        } else {
            let total = udp_len + IPV4_HEADER as u16;
            ip[field::IPV4_TOTAL_LEN..field::IPV4_TOTAL_LEN + 2]
                .copy_from_slice(&total.to_be_bytes());
            ip[field::IPV4_SOURCE..field::IPV4_SOURCE + 4].copy_from_slice(source_bytes);
            let checksum = Sum::of(ip).checksum();
            ip[field::IPV4_CHECKSUM..field::IPV4_CHECKSUM + 2]
                .copy_from_slice(&checksum.to_be_bytes());
        }

        // Pseudo-header (source, server, protocol, length), the UDP header
        // (ports, length) and the query: the length counts twice.
        let payload = self.payload_sums.get(index).copied().unwrap_or_default();
        let checksum = self
            .fixed
            .plus(Sum::of(source_bytes))
            .plus(payload)
            .word(port)
            .word(udp_len)
            .word(udp_len)
            .word(id)
            .udp_checksum();
        let udp = &mut frame[self.udp_at..self.udp_at + UDP_HEADER];
        udp[field::UDP_SOURCE_PORT..field::UDP_SOURCE_PORT + 2]
            .copy_from_slice(&port.to_be_bytes());
        udp[field::UDP_LEN..field::UDP_LEN + 2].copy_from_slice(&udp_len.to_be_bytes());
        udp[field::UDP_CHECKSUM..field::UDP_CHECKSUM + 2].copy_from_slice(&checksum.to_be_bytes());
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bypass::local::number;
    use crate::query::Name;
    use ferrodns_dataplane::testkit::{
        CLIENT_MAC, CLIENT_V4, CLIENT_V6, Ethernet, Ipv4, Ipv6, SERVER_MAC, SERVICE_V4, SERVICE_V6,
        udp_frame,
    };

    fn link(server: SocketAddr, vlan: Option<u16>) -> Link {
        Link {
            mac: CLIENT_MAC,
            server_mac: SERVER_MAC,
            vlan,
            server,
        }
    }

    fn query(name: &str, qtype: u16) -> QueryTemplate {
        QueryTemplate::new(&Name::parse(name).unwrap(), qtype, false)
    }

    /// The DNS message of query `q` with `id`, as sent.
    fn message(q: &QueryTemplate, id: u16) -> Vec<u8> {
        let mut out = vec![0; 512];
        let len = q.write(id, &mut out);
        out.truncate(len);
        out
    }

    #[test]
    fn an_ipv4_query_frame_is_what_the_test_kit_builds() {
        let queries = [
            query("web.dpdk.test", 1),
            query("_http._tcp.web.dpdk.test", 33),
        ];
        let server = SocketAddr::from((SERVICE_V4, 53));
        let frames = QueryFrames::new(&link(server, None), &queries);
        for (index, q) in queries.iter().enumerate() {
            let mut out = [0u8; 256];
            let source = number(CLIENT_V4.into());
            let len = frames
                .write(&mut out, q, index, 0xbeef, source, 40000)
                .unwrap();
            let mut ip = Ipv4::new(CLIENT_V4, SERVICE_V4);
            ip.flags_fragment = 0x4000;
            let expected = udp_frame(
                &Ethernet::new(SERVER_MAC, CLIENT_MAC),
                &ip,
                40000,
                53,
                &message(q, 0xbeef),
            );
            assert_eq!(&out[..len], expected.as_slice(), "query {index}");
        }
    }

    #[test]
    fn an_ipv6_query_frame_with_a_vlan_tag_is_what_the_test_kit_builds() {
        let q = query("web.dpdk.test", 28);
        let server = SocketAddr::from((SERVICE_V6, 5353));
        let frames = QueryFrames::new(&link(server, Some(42)), std::slice::from_ref(&q));
        let mut out = [0u8; 256];
        let source = number(CLIENT_V6.into());
        let len = frames.write(&mut out, &q, 0, 7, source, 10001).unwrap();
        let expected = udp_frame(
            &Ethernet::new(SERVER_MAC, CLIENT_MAC).tagged(&[42]),
            &Ipv6::new(CLIENT_V6, SERVICE_V6),
            10001,
            5353,
            &message(&q, 7),
        );
        assert_eq!(&out[..len], expected.as_slice());
    }

    #[test]
    fn short_frames_are_padded_and_small_buffers_refused() {
        let q = query(".", 2);
        let server = SocketAddr::from((SERVICE_V4, 53));
        let frames = QueryFrames::new(&link(server, None), std::slice::from_ref(&q));
        let mut out = [0xaau8; 128];
        let len = frames.write(&mut out, &q, 0, 1, 1, 1).unwrap();
        assert_eq!(len, 60, "Ethernet's minimum");
        assert_eq!(14 + 20 + 8 + q.len(), 59);
        assert_eq!(out[59], 0, "padding is zero");
        assert_eq!(frames.write(&mut out[..59], &q, 0, 1, 1, 1), None);
    }
}
