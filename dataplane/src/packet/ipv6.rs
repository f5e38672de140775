//! The IPv6 fixed header (RFC 8200): a checked view at named offsets, and the
//! header of an answer.
//!
//! Extension headers are not walked: what follows the fixed header is named by
//! its next-header field alone (see the dispatch in [`handle`](super::handle)).

use std::net::{IpAddr, Ipv6Addr};

use super::action::DropReason;
use super::checksum::{self, Sum};
use super::ip::IpHeader;
use super::request::Request;
use super::services::Services;
use crate::wire::{read_u16, write_u16};

pub(super) const HEADER_LEN: usize = 40;
/// Hop limit of answers (Linux's default).
const HOP_LIMIT: u8 = 64;

/// Field offsets of the fixed header (RFC 8200 §3).
mod field {
    use std::ops::Range;

    /// Version (high nibble), traffic class and flow label.
    pub(super) const VERSION: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SOURCE: Range<usize> = 8..24;
    pub(super) const DESTINATION: Range<usize> = 24..40;
}

/// A checked IPv6 header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ipv6 {
    /// Offset of the header in the frame.
    pub(super) at: usize,
    /// From the payload-length field.
    pub(super) payload_len: usize,
    pub(super) next_header: u8,
    pub(super) hop_limit: u8,
    pub(super) src: [u8; 16],
    pub(super) dst: [u8; 16],
    /// The destination is a solicited-node multicast address, not a service
    /// address.
    pub(super) multicast: bool,
}

/// Reads the fixed header after the link layer: version and length checked,
/// addressed to a service address or to its solicited-node multicast address.
pub(super) fn parse(buf: &[u8], request: &Request<'_>) -> Result<Ipv6, DropReason> {
    let at = request.l2.len;
    let packet = buf.get(at..request.len).ok_or(DropReason::Malformed)?;
    let header = packet.get(..HEADER_LEN).ok_or(DropReason::Malformed)?;
    if header.get(field::VERSION).map(|b| b >> 4) != Some(6) {
        return Err(DropReason::Malformed);
    }
    let payload_len =
        usize::from(read_u16(header, field::PAYLOAD_LEN).ok_or(DropReason::Malformed)?);
    if HEADER_LEN + payload_len > packet.len() {
        return Err(DropReason::Malformed);
    }
    let address = |range| -> Result<[u8; 16], DropReason> {
        header
            .get(range)
            .and_then(|bytes: &[u8]| bytes.try_into().ok())
            .ok_or(DropReason::Malformed)
    };
    let (src, dst) = (address(field::SOURCE)?, address(field::DESTINATION)?);
    let multicast = if request.services.has_ipv6(&dst) {
        false
    } else if request.services.is_solicited_node(&dst) {
        true
    } else {
        return Err(DropReason::OtherAddress);
    };
    let byte = |offset| header.get(offset).copied().ok_or(DropReason::Malformed);
    Ok(Ipv6 {
        at,
        payload_len,
        next_header: byte(field::NEXT_HEADER)?,
        hop_limit: byte(field::HOP_LIMIT)?,
        src,
        dst,
        multicast,
    })
}

/// Writes the header of an answer of `payload_len` bytes from `src` to `dst`, with
/// `hop_limit` or else the default.
pub(super) fn write_reply_header(
    buf: &mut [u8],
    ip: &Ipv6,
    src: &[u8; 16],
    dst: &[u8; 16],
    payload_len: usize,
    hop_limit: Option<u8>,
) -> Option<()> {
    let header = buf.get_mut(ip.at..ip.at + HEADER_LEN)?;
    write_u16(header, field::PAYLOAD_LEN, u16::try_from(payload_len).ok()?)?;
    *header.get_mut(field::HOP_LIMIT)? = hop_limit.unwrap_or(HOP_LIMIT);
    header.get_mut(field::SOURCE)?.copy_from_slice(src);
    header.get_mut(field::DESTINATION)?.copy_from_slice(dst);
    Some(())
}

impl IpHeader for Ipv6 {
    const IPV6: bool = true;
    const UDP_CHECKSUM_OPTIONAL: bool = false;

    fn at(&self) -> usize {
        self.at
    }

    fn header_len(&self) -> usize {
        HEADER_LEN
    }

    fn end(&self) -> usize {
        self.payload() + self.payload_len
    }

    fn client(&self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self.src))
    }

    fn source_is_unicast(&self) -> bool {
        let src = Ipv6Addr::from(self.src);
        !(src.is_unspecified() || src.is_multicast() || src.is_loopback())
    }

    /// Extension headers are not walked: a packet whose next header is the
    /// transport's has none.
    fn has_options(&self) -> bool {
        false
    }

    fn is_dns(&self, services: &Services, port: u16) -> bool {
        services.is_dns_ipv6(&self.dst, port)
    }

    fn pseudo(&self, protocol: u8, len: usize, reply: bool) -> Sum {
        let (src, dst) = if reply {
            (&self.dst, &self.src)
        } else {
            (&self.src, &self.dst)
        };
        checksum::ipv6_pseudo(src, dst, protocol, len as u32)
    }

    /// Addresses swapped, payload length and the default hop limit; IPv6 has no
    /// header checksum.
    fn reverse(&self, buf: &mut [u8], payload_len: usize, _compute_checksum: bool) -> Option<()> {
        write_reply_header(buf, self, &self.dst, &self.src, payload_len, None)
    }
}
