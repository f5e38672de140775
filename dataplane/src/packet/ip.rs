//! What IPv4 and IPv6 have in common for the layers above them: the protocol
//! numbers, and [`IpHeader`], through which DNS over UDP is answered by one piece
//! of code for both versions.

use std::net::IpAddr;

use super::action::DropReason;
use super::checksum::Sum;
use super::services::Services;

/// IP protocol numbers (IPv4's protocol, IPv6's next header; IANA registry).
pub(super) mod protocol {
    pub(in super::super) const ICMP: u8 = 1;
    pub(in super::super) const UDP: u8 = 17;
    pub(in super::super) const IPV6_FRAGMENT: u8 = 44;
    pub(in super::super) const ICMPV6: u8 = 58;
}

/// A checked IP header of either version, as the transport layer uses it.
pub(super) trait IpHeader {
    /// Whether this is IPv6 (for a checksum-offloading port).
    const IPV6: bool;
    /// Whether a UDP checksum of zero means "none" (IPv4) rather than an invalid
    /// datagram (IPv6, RFC 8200 §8.1).
    const UDP_CHECKSUM_OPTIONAL: bool;

    /// Offset of the IP header in the frame.
    fn at(&self) -> usize;

    /// Length of the IP header.
    fn header_len(&self) -> usize;

    /// Offset of the payload in the frame.
    fn payload(&self) -> usize {
        self.at() + self.header_len()
    }

    /// Offset just past the packet (Ethernet padding may follow).
    fn end(&self) -> usize;

    /// The sender's address.
    fn client(&self) -> IpAddr;

    /// Whether the sender can be answered: not unspecified, multicast, loopback
    /// (nor, for IPv4, broadcast).
    fn source_is_unicast(&self) -> bool;

    /// Whether the header carries options, which DNS queries are not answered
    /// with.
    fn has_options(&self) -> bool;

    /// Whether the destination and `port` are one of the DNS services.
    fn is_dns(&self, services: &Services, port: u16) -> bool;

    /// The pseudo-header sum of a `protocol` payload of `len` bytes, as received
    /// (sender to us) or, with `reply`, as answered (us to the sender).
    fn pseudo(&self, protocol: u8, len: usize, reply: bool) -> Sum;

    /// Turns the header around for an answer of `payload_len` bytes: addresses
    /// swapped, lengths and hop limit set, and for IPv4 the header checksum
    /// (unless the port computes it).
    fn reverse(&self, buf: &mut [u8], payload_len: usize, compute_checksum: bool) -> Option<()>;

    /// The payload's bytes in `buf`.
    fn payload_of<'b>(&self, buf: &'b [u8]) -> Result<&'b [u8], DropReason> {
        buf.get(self.payload()..self.end())
            .ok_or(DropReason::Malformed)
    }
}
