//! DNS over UDP: the query's payload goes to the engine, and the answer it writes
//! in place gets the query's UDP, IP and Ethernet headers turned around.

use std::net::IpAddr;

use super::checksum::{self, Sum};
use super::ipv4::{self, Ipv4};
use super::ipv6::{self, Ipv6};
use super::{Action, ChecksumMode, ChecksumOffload, DropReason, Request, ethernet};
use crate::engine::Verdict;
use crate::wire::{read_u16, write_u16};

const HEADER_LEN: usize = 8;
const PROTO_UDP: u8 = 17;

/// A checked UDP header.
#[derive(Debug, Clone, Copy)]
struct Udp {
    at: usize,
    src_port: u16,
    dst_port: u16,
    /// Header plus payload, from the length field.
    len: usize,
    checksum: u16,
}

impl Udp {
    fn payload(&self) -> usize {
        self.at + HEADER_LEN
    }
}

/// Reads the UDP header at `at`; the datagram must end by `end`.
fn parse(buf: &[u8], at: usize, end: usize) -> Result<Udp, DropReason> {
    let header = buf.get(at..at + HEADER_LEN).ok_or(DropReason::Malformed)?;
    let field = |offset| read_u16(header, offset).ok_or(DropReason::Malformed);
    let udp = Udp {
        at,
        src_port: field(0)?,
        dst_port: field(2)?,
        len: usize::from(field(4)?),
        checksum: field(6)?,
    };
    if udp.len < HEADER_LEN || at + udp.len > end {
        return Err(DropReason::Malformed);
    }
    Ok(udp)
}

pub(super) fn handle_ipv4<F>(
    buf: &mut [u8],
    request: &Request<'_>,
    ip: &Ipv4,
    dns: F,
) -> Result<Action, DropReason>
where
    F: FnOnce(&mut [u8], usize, IpAddr) -> Verdict,
{
    let udp = parse(buf, ip.payload(), ip.end())?;
    if !request.services.is_dns_ipv4(&ip.dst, udp.dst_port) {
        return Ok(Action::ToKernel);
    }
    if ip.header_len != ipv4::HEADER_LEN {
        return Err(DropReason::Ipv4Options);
    }
    let datagram = buf
        .get(udp.at..udp.at + udp.len)
        .ok_or(DropReason::Malformed)?;
    let pseudo = checksum::ipv4_pseudo(&ip.src, &ip.dst, PROTO_UDP, udp.len as u16);
    if udp.checksum != 0 && !pseudo.add(datagram).verifies() {
        return Err(DropReason::Malformed);
    }
    if udp.src_port == 0 || !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let answer_len = match answer(buf, &udp, ip.client(), dns)? {
        Some(len) => len,
        None => return Ok(Action::Punt),
    };
    let udp_len = HEADER_LEN + answer_len;
    let offload = request.checksum == ChecksumMode::Offload;
    let reversed = ipv4::reverse(buf, ip, udp_len, !offload)
        .and_then(|()| reverse(buf, &udp, udp_len))
        .and_then(|()| {
            // The addresses were swapped above: the answer goes from `dst` to `src`.
            let pseudo = checksum::ipv4_pseudo(&ip.dst, &ip.src, PROTO_UDP, udp_len as u16);
            write_checksum(buf, &udp, udp_len, pseudo, offload)
        })
        .and_then(|()| finish_ethernet(buf, request));
    reversed.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: udp.at + udp_len,
        offload: offload.then_some(ChecksumOffload {
            l2_len: request.l2.len as u16,
            l3_len: ip.header_len as u16,
            ipv6: false,
        }),
    })
}

pub(super) fn handle_ipv6<F>(
    buf: &mut [u8],
    request: &Request<'_>,
    ip: &Ipv6,
    dns: F,
) -> Result<Action, DropReason>
where
    F: FnOnce(&mut [u8], usize, IpAddr) -> Verdict,
{
    let udp = parse(buf, ip.payload(), ip.end())?;
    if !request.services.is_dns_ipv6(&ip.dst, udp.dst_port) {
        return Ok(Action::ToKernel);
    }
    let datagram = buf
        .get(udp.at..udp.at + udp.len)
        .ok_or(DropReason::Malformed)?;
    let pseudo = checksum::ipv6_pseudo(&ip.src, &ip.dst, PROTO_UDP, udp.len as u32);
    // Over IPv6 the UDP checksum is mandatory: zero is invalid (RFC 8200 §8.1).
    if udp.checksum == 0 || !pseudo.add(datagram).verifies() {
        return Err(DropReason::Malformed);
    }
    if udp.src_port == 0 || !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let answer_len = match answer(buf, &udp, ip.client(), dns)? {
        Some(len) => len,
        None => return Ok(Action::Punt),
    };
    let udp_len = HEADER_LEN + answer_len;
    let offload = request.checksum == ChecksumMode::Offload;
    let reversed = ipv6::write_reply_header(buf, ip, &ip.dst, &ip.src, udp_len, None)
        .and_then(|()| reverse(buf, &udp, udp_len))
        .and_then(|()| {
            let pseudo = checksum::ipv6_pseudo(&ip.dst, &ip.src, PROTO_UDP, udp_len as u32);
            write_checksum(buf, &udp, udp_len, pseudo, offload)
        })
        .and_then(|()| finish_ethernet(buf, request));
    reversed.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: udp.at + udp_len,
        offload: offload.then_some(ChecksumOffload {
            l2_len: request.l2.len as u16,
            l3_len: ipv6::HEADER_LEN as u16,
            ipv6: true,
        }),
    })
}

/// Runs the engine on the payload. `Ok(Some(len))`: an answer of `len` bytes is
/// in place; `Ok(None)`: punted.
fn answer<F>(buf: &mut [u8], udp: &Udp, client: IpAddr, dns: F) -> Result<Option<usize>, DropReason>
where
    F: FnOnce(&mut [u8], usize, IpAddr) -> Verdict,
{
    let room = buf.get_mut(udp.payload()..).ok_or(DropReason::Malformed)?;
    let room_len = room.len();
    match dns(room, udp.len - HEADER_LEN, client) {
        Verdict::Reply(len) if len <= room_len && HEADER_LEN + len <= usize::from(u16::MAX) => {
            Ok(Some(len))
        }
        Verdict::Reply(_) => Err(DropReason::NoRoom),
        Verdict::Punt => Ok(None),
        Verdict::Drop => Err(DropReason::Engine),
    }
}

/// Swaps the ports and sets the length of the answer's UDP header.
fn reverse(buf: &mut [u8], udp: &Udp, udp_len: usize) -> Option<()> {
    let header = buf.get_mut(udp.at..udp.at + HEADER_LEN)?;
    write_u16(header, 0, udp.dst_port)?;
    write_u16(header, 2, udp.src_port)?;
    write_u16(header, 4, u16::try_from(udp_len).ok()?)?;
    write_u16(header, 6, 0)
}

/// Fills the UDP checksum: the whole checksum, or only the pseudo-header sum for
/// a port that completes it.
fn write_checksum(
    buf: &mut [u8],
    udp: &Udp,
    udp_len: usize,
    pseudo: Sum,
    offload: bool,
) -> Option<()> {
    let value = if offload {
        pseudo.folded()
    } else {
        let datagram = buf.get(udp.at..udp.at + udp_len)?;
        checksum::udp_field(pseudo.add(datagram).checksum())
    };
    write_u16(buf, udp.at + 6, value)
}

/// Sends the answer back to the query's sender, from our MAC.
fn finish_ethernet(buf: &mut [u8], request: &Request<'_>) -> Option<()> {
    let sender = ethernet::source(buf)?;
    ethernet::address_reply(buf, sender, request.services)
}
