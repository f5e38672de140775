//! IPv6 (RFC 8200): checks the fixed header, keeps what is for a service address
//! (or, for neighbor solicitations, its solicited-node multicast address), and
//! turns a header around for an answer.
//!
//! Extension headers are not walked: a fragment header is dropped (DNS queries are
//! not fragmented) and any other header chain to a service address is the
//! kernel's to handle.

use std::net::{IpAddr, Ipv6Addr};

use super::{Action, DropReason, Request, icmpv6, udp};
use crate::engine::Verdict;
use crate::wire::{read_u16, write_u16};

pub(super) const HEADER_LEN: usize = 40;
const NEXT_UDP: u8 = 17;
const NEXT_ICMPV6: u8 = 58;
const NEXT_FRAGMENT: u8 = 44;
/// Hop limit of answers (Linux's default).
const HOP_LIMIT: u8 = 64;

/// A checked IPv6 header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ipv6 {
    /// Offset of the header in the frame.
    pub(super) at: usize,
    /// From the payload-length field.
    pub(super) payload_len: usize,
    pub(super) hop_limit: u8,
    pub(super) src: [u8; 16],
    pub(super) dst: [u8; 16],
    /// The destination is a solicited-node multicast address, not a service
    /// address.
    pub(super) multicast: bool,
}

impl Ipv6 {
    pub(super) fn payload(&self) -> usize {
        self.at + HEADER_LEN
    }

    pub(super) fn end(&self) -> usize {
        self.payload() + self.payload_len
    }

    pub(super) fn client(&self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self.src))
    }

    /// Whether the source can be answered: not unspecified, multicast or loopback.
    pub(super) fn source_is_unicast(&self) -> bool {
        let src = Ipv6Addr::from(self.src);
        !(src.is_unspecified() || src.is_multicast() || src.is_loopback())
    }
}

pub(super) fn handle<F>(buf: &mut [u8], request: &Request<'_>, dns: F) -> Action
where
    F: FnOnce(&mut [u8], usize, IpAddr) -> Verdict,
{
    let (ip, next_header) = match parse(buf, request) {
        Ok(parsed) => parsed,
        Err(reason) => return Action::Drop(reason),
    };
    let result = match next_header {
        NEXT_ICMPV6 => icmpv6::handle(buf, request, &ip),
        _ if ip.multicast => Err(DropReason::Unsupported),
        NEXT_UDP => udp::handle_ipv6(buf, request, &ip, dns),
        NEXT_FRAGMENT => Err(DropReason::Fragment),
        _ => Ok(Action::ToKernel),
    };
    result.unwrap_or_else(Action::Drop)
}

fn parse(buf: &[u8], request: &Request<'_>) -> Result<(Ipv6, u8), DropReason> {
    let at = request.l2.len;
    let packet = buf.get(at..request.len).ok_or(DropReason::Malformed)?;
    let header = packet.get(..HEADER_LEN).ok_or(DropReason::Malformed)?;
    if header.first().map(|b| b >> 4) != Some(6) {
        return Err(DropReason::Malformed);
    }
    let payload_len = usize::from(read_u16(header, 4).ok_or(DropReason::Malformed)?);
    if HEADER_LEN + payload_len > packet.len() {
        return Err(DropReason::Malformed);
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(header.get(8..24).ok_or(DropReason::Malformed)?);
    dst.copy_from_slice(header.get(24..40).ok_or(DropReason::Malformed)?);
    let multicast = if request.services.has_ipv6(&dst) {
        false
    } else if request.services.is_solicited_node(&dst) {
        true
    } else {
        return Err(DropReason::OtherAddress);
    };
    let next_header = *header.get(6).ok_or(DropReason::Malformed)?;
    let hop_limit = *header.get(7).ok_or(DropReason::Malformed)?;
    let ip = Ipv6 {
        at,
        payload_len,
        hop_limit,
        src,
        dst,
        multicast,
    };
    Ok((ip, next_header))
}

/// Writes the header of an answer of `payload_len` bytes from `src` to `dst`.
pub(super) fn write_reply_header(
    buf: &mut [u8],
    ip: &Ipv6,
    src: &[u8; 16],
    dst: &[u8; 16],
    payload_len: usize,
    hop_limit: Option<u8>,
) -> Option<()> {
    let header = buf.get_mut(ip.at..ip.at + HEADER_LEN)?;
    write_u16(header, 4, u16::try_from(payload_len).ok()?)?;
    *header.get_mut(7)? = hop_limit.unwrap_or(HOP_LIMIT);
    header.get_mut(8..24)?.copy_from_slice(src);
    header.get_mut(24..40)?.copy_from_slice(dst);
    Some(())
}
