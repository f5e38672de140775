//! DNS over UDP, for IPv4 and IPv6 alike: the query's payload goes to the
//! engine, and the answer it writes in place gets the query's UDP, IP and
//! Ethernet headers turned around.

use std::net::SocketAddr;

use super::action::{Action, ChecksumMode, ChecksumOffload, DropReason};
use super::ethernet;
use super::ip::{IpHeader, protocol};
use super::request::Request;
use super::udp::{self, Udp};
use crate::engine::Verdict;

/// Answers the UDP datagram in `ip`'s payload when it is a DNS query to a
/// service; other UDP to a service address is the kernel's.
pub(super) fn handle<I, F>(
    buf: &mut [u8],
    request: &Request<'_>,
    ip: &I,
    dns: F,
) -> Result<Action, DropReason>
where
    I: IpHeader,
    F: FnOnce(&mut [u8], usize, SocketAddr) -> Verdict,
{
    let udp = udp::parse(buf, ip.payload(), ip.end())?;
    if !ip.is_dns(request.services, udp.dst_port) {
        return Ok(Action::ToKernel);
    }
    if ip.has_options() {
        return Err(DropReason::Ipv4Options);
    }
    let datagram = udp.datagram(buf)?;
    let valid = if udp.checksum == 0 {
        I::UDP_CHECKSUM_OPTIONAL
    } else {
        ip.pseudo(protocol::UDP, udp.len, false)
            .add(datagram)
            .verifies()
    };
    if !valid {
        return Err(DropReason::Malformed);
    }
    if udp.src_port == 0 || !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let client = SocketAddr::new(ip.client(), udp.src_port);
    let answer_len = match answer(buf, &udp, client, dns)? {
        Some(len) => len,
        None => return Ok(Action::Punt),
    };
    let udp_len = udp::HEADER_LEN + answer_len;
    let offload = request.checksum == ChecksumMode::Offload;
    let reversed = ip
        .reverse(buf, udp_len, !offload)
        .and_then(|()| udp::reverse(buf, &udp, udp_len))
        .and_then(|()| {
            let pseudo = ip.pseudo(protocol::UDP, udp_len, true);
            udp::write_checksum(buf, &udp, udp_len, pseudo, offload)
        })
        .and_then(|()| ethernet::reply_to_sender(buf, request.services));
    reversed.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: udp.at + udp_len,
        offload: offload.then_some(ChecksumOffload {
            l2_len: request.l2.len as u16,
            l3_len: ip.header_len() as u16,
            ipv6: I::IPV6,
        }),
    })
}

/// Runs the engine on the payload. `Ok(Some(len))`: an answer of `len` bytes is
/// in place; `Ok(None)`: punted.
fn answer<F>(
    buf: &mut [u8],
    udp: &Udp,
    client: SocketAddr,
    dns: F,
) -> Result<Option<usize>, DropReason>
where
    F: FnOnce(&mut [u8], usize, SocketAddr) -> Verdict,
{
    let room = buf.get_mut(udp.payload()..).ok_or(DropReason::Malformed)?;
    let room_len = room.len();
    match dns(room, udp.len - udp::HEADER_LEN, client) {
        Verdict::Reply(len) | Verdict::Refused(len)
            if len <= room_len && udp::HEADER_LEN + len <= usize::from(u16::MAX) =>
        {
            Ok(Some(len))
        }
        Verdict::Reply(_) | Verdict::Refused(_) => Err(DropReason::NoRoom),
        Verdict::Punt => Ok(None),
        Verdict::Drop => Err(DropReason::Engine),
    }
}
