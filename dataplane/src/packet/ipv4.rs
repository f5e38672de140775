//! The IPv4 header (RFC 791): a checked view at named offsets, and the header of
//! an answer turned around from it.

use std::net::{IpAddr, Ipv4Addr};

use super::action::DropReason;
use super::checksum::{self, Sum};
use super::ip::IpHeader;
use super::request::Request;
use super::services::Services;
use crate::wire::{read_u16, write_u16};

/// The header without options.
pub(super) const HEADER_LEN: usize = 20;
/// The more-fragments flag and the fragment offset.
const FRAGMENT_BITS: u16 = 0x3fff;
/// TTL of answers (Linux's default).
const TTL: u8 = 64;

/// Field offsets of the header (RFC 791 §3.1).
mod field {
    use std::ops::Range;

    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub(super) const VERSION_IHL: usize = 0;
    pub(super) const TOTAL_LEN: usize = 2;
    /// Flags and fragment offset.
    pub(super) const FRAGMENT: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SOURCE: Range<usize> = 12..16;
    pub(super) const DESTINATION: Range<usize> = 16..20;
}

/// A checked IPv4 header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ipv4 {
    /// Offset of the header in the frame.
    pub(super) at: usize,
    pub(super) header_len: usize,
    /// Header plus payload, from the total-length field.
    pub(super) total_len: usize,
    pub(super) src: [u8; 4],
    pub(super) dst: [u8; 4],
    pub(super) protocol: u8,
}

/// Reads the header after the link layer: version, lengths and header checksum
/// checked, addressed to a service address, not a fragment.
pub(super) fn parse(buf: &[u8], request: &Request<'_>) -> Result<Ipv4, DropReason> {
    let at = request.l2.len;
    let packet = buf.get(at..request.len).ok_or(DropReason::Malformed)?;
    let first = *packet
        .get(field::VERSION_IHL)
        .ok_or(DropReason::Malformed)?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < HEADER_LEN {
        return Err(DropReason::Malformed);
    }
    let total_len = usize::from(read_u16(packet, field::TOTAL_LEN).ok_or(DropReason::Malformed)?);
    if total_len < header_len || total_len > packet.len() {
        return Err(DropReason::Malformed);
    }
    let header = packet.get(..header_len).ok_or(DropReason::Malformed)?;
    if !Sum::default().add(header).verifies() {
        return Err(DropReason::Malformed);
    }
    let address = |range| -> Result<[u8; 4], DropReason> {
        header
            .get(range)
            .and_then(|bytes: &[u8]| bytes.try_into().ok())
            .ok_or(DropReason::Malformed)
    };
    let (src, dst) = (address(field::SOURCE)?, address(field::DESTINATION)?);
    if !request.services.has_ipv4(&dst) {
        return Err(DropReason::OtherAddress);
    }
    let fragment = read_u16(header, field::FRAGMENT).ok_or(DropReason::Malformed)?;
    if fragment & FRAGMENT_BITS != 0 {
        return Err(DropReason::Fragment);
    }
    let protocol = *header.get(field::PROTOCOL).ok_or(DropReason::Malformed)?;
    Ok(Ipv4 {
        at,
        header_len,
        total_len,
        src,
        dst,
        protocol,
    })
}

impl IpHeader for Ipv4 {
    const IPV6: bool = false;
    const UDP_CHECKSUM_OPTIONAL: bool = true;

    fn at(&self) -> usize {
        self.at
    }

    fn header_len(&self) -> usize {
        self.header_len
    }

    fn end(&self) -> usize {
        self.at + self.total_len
    }

    fn client(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self.src))
    }

    fn source_is_unicast(&self) -> bool {
        let src = Ipv4Addr::from(self.src);
        !(src.is_unspecified() || src.is_broadcast() || src.is_multicast() || src.is_loopback())
    }

    fn has_options(&self) -> bool {
        self.header_len != HEADER_LEN
    }

    fn is_dns(&self, services: &Services, port: u16) -> bool {
        services.is_dns_ipv4(&self.dst, port)
    }

    fn pseudo(&self, protocol: u8, len: usize, reply: bool) -> Sum {
        let (src, dst) = if reply {
            (&self.dst, &self.src)
        } else {
            (&self.src, &self.dst)
        };
        checksum::ipv4_pseudo(src, dst, protocol, len as u16)
    }

    /// Addresses swapped, total length, TTL, no fragmentation flags, and the
    /// header checksum (left zero for a port that computes it).
    fn reverse(&self, buf: &mut [u8], payload_len: usize, compute_checksum: bool) -> Option<()> {
        let total = u16::try_from(self.header_len + payload_len).ok()?;
        let header = buf.get_mut(self.at..self.at + self.header_len)?;
        write_u16(header, field::TOTAL_LEN, total)?;
        write_u16(header, field::FRAGMENT, 0)?;
        *header.get_mut(field::TTL)? = TTL;
        header.get_mut(field::SOURCE)?.copy_from_slice(&self.dst);
        header
            .get_mut(field::DESTINATION)?
            .copy_from_slice(&self.src);
        write_u16(header, field::CHECKSUM, 0)?;
        if compute_checksum {
            let checksum = Sum::default().add(header).checksum();
            write_u16(header, field::CHECKSUM, checksum)?;
        }
        Some(())
    }
}
