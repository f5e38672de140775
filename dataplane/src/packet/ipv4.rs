//! IPv4 (RFC 791): checks the header, keeps what is for a service address, and
//! turns a header around for an answer.

use std::net::{IpAddr, Ipv4Addr};

use super::checksum::Sum;
use super::{Action, DropReason, Request, icmp, udp};
use crate::engine::Verdict;
use crate::wire::{read_u16, write_u16};

pub(super) const HEADER_LEN: usize = 20;
const PROTO_ICMP: u8 = 1;
const PROTO_UDP: u8 = 17;
/// The more-fragments flag and the fragment offset.
const FRAGMENT_BITS: u16 = 0x3fff;
/// TTL of answers (Linux's default).
const TTL: u8 = 64;

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
}

impl Ipv4 {
    /// Offset of the payload in the frame.
    pub(super) fn payload(&self) -> usize {
        self.at + self.header_len
    }

    /// Offset just past the packet (Ethernet padding may follow).
    pub(super) fn end(&self) -> usize {
        self.at + self.total_len
    }

    pub(super) fn client(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self.src))
    }

    /// Whether the source can be answered: not unspecified, broadcast, multicast
    /// or loopback.
    pub(super) fn source_is_unicast(&self) -> bool {
        let src = Ipv4Addr::from(self.src);
        !(src.is_unspecified() || src.is_broadcast() || src.is_multicast() || src.is_loopback())
    }
}

pub(super) fn handle<F>(buf: &mut [u8], request: &Request<'_>, dns: F) -> Action
where
    F: FnOnce(&mut [u8], usize, IpAddr) -> Verdict,
{
    let (ip, protocol) = match parse(buf, request) {
        Ok(parsed) => parsed,
        Err(reason) => return Action::Drop(reason),
    };
    let result = match protocol {
        PROTO_UDP => udp::handle_ipv4(buf, request, &ip, dns),
        PROTO_ICMP => icmp::handle(buf, request, &ip),
        _ => Ok(Action::ToKernel),
    };
    result.unwrap_or_else(Action::Drop)
}

fn parse(buf: &[u8], request: &Request<'_>) -> Result<(Ipv4, u8), DropReason> {
    let at = request.l2.len;
    let packet = buf.get(at..request.len).ok_or(DropReason::Malformed)?;
    let first = *packet.first().ok_or(DropReason::Malformed)?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < HEADER_LEN {
        return Err(DropReason::Malformed);
    }
    let total_len = usize::from(read_u16(packet, 2).ok_or(DropReason::Malformed)?);
    if total_len < header_len || total_len > packet.len() {
        return Err(DropReason::Malformed);
    }
    let header = packet.get(..header_len).ok_or(DropReason::Malformed)?;
    if !Sum::default().add(header).verifies() {
        return Err(DropReason::Malformed);
    }
    let mut src = [0u8; 4];
    let mut dst = [0u8; 4];
    src.copy_from_slice(header.get(12..16).ok_or(DropReason::Malformed)?);
    dst.copy_from_slice(header.get(16..20).ok_or(DropReason::Malformed)?);
    if !request.services.has_ipv4(&dst) {
        return Err(DropReason::OtherAddress);
    }
    let fragment = read_u16(header, 6).ok_or(DropReason::Malformed)?;
    if fragment & FRAGMENT_BITS != 0 {
        return Err(DropReason::Fragment);
    }
    let protocol = *header.get(9).ok_or(DropReason::Malformed)?;
    let ip = Ipv4 {
        at,
        header_len,
        total_len,
        src,
        dst,
    };
    Ok((ip, protocol))
}

/// Turns the header around for an answer of `payload_len` bytes: addresses
/// swapped, total length, TTL, no fragmentation flags, and the header checksum
/// (left zero for a port that computes it).
pub(super) fn reverse(
    buf: &mut [u8],
    ip: &Ipv4,
    payload_len: usize,
    compute_checksum: bool,
) -> Option<()> {
    let total = u16::try_from(ip.header_len + payload_len).ok()?;
    let header = buf.get_mut(ip.at..ip.at + ip.header_len)?;
    write_u16(header, 2, total)?;
    write_u16(header, 6, 0)?;
    *header.get_mut(8)? = TTL;
    header.get_mut(12..16)?.copy_from_slice(&ip.dst);
    header.get_mut(16..20)?.copy_from_slice(&ip.src);
    write_u16(header, 10, 0)?;
    if compute_checksum {
        let checksum = Sum::default().add(header).checksum();
        write_u16(header, 10, checksum)?;
    }
    Some(())
}
