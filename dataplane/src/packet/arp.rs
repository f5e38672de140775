//! ARP (RFC 826) for the service IPv4 addresses: requests are answered here, so
//! clients learn the port's MAC; replies to the kernel's own requests go to the
//! kernel, which needs them to send its TCP answers.

use super::action::{Action, DropReason};
use super::ethernet::{self, BROADCAST};
use super::request::Request;
use crate::wire::{read_u16, write_u16};

/// An ARP packet for Ethernet and IPv4.
const LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

/// Field offsets of the packet (RFC 826), for Ethernet and IPv4 addresses.
mod field {
    use std::ops::Range;

    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    /// Sender and target hardware (MAC) and protocol (IPv4) addresses.
    pub(super) const SHA: Range<usize> = 8..14;
    pub(super) const SPA: Range<usize> = 14..18;
    pub(super) const THA: Range<usize> = 18..24;
    pub(super) const TPA: Range<usize> = 24..28;
}

pub(super) fn handle(buf: &mut [u8], request: &Request<'_>) -> Result<Action, DropReason> {
    let at = request.l2.len;
    let arp = buf
        .get(at..at + LEN)
        .filter(|_| at + LEN <= request.len)
        .ok_or(DropReason::Malformed)?;
    let fixed = (
        read_u16(arp, field::HTYPE),
        read_u16(arp, field::PTYPE),
        arp.get(field::HLEN),
        arp.get(field::PLEN),
    );
    if fixed != (Some(HTYPE_ETHERNET), Some(PTYPE_IPV4), Some(&6), Some(&4)) {
        return Err(DropReason::Unsupported);
    }
    let target = arp.get(field::TPA).ok_or(DropReason::Malformed)?;
    if !request.services.has_ipv4(target) {
        return Err(DropReason::OtherAddress);
    }
    match read_u16(arp, field::OPER) {
        Some(OP_REQUEST) => {}
        Some(OP_REPLY) => return Ok(Action::ToKernel),
        _ => return Err(DropReason::Unsupported),
    }
    let mut sender_mac = [0u8; 6];
    sender_mac.copy_from_slice(arp.get(field::SHA).ok_or(DropReason::Malformed)?);
    if sender_mac == BROADCAST || sender_mac.first().is_some_and(|b| b & 1 == 1) {
        return Err(DropReason::BadSource);
    }
    let mut sender_ip = [0u8; 4];
    sender_ip.copy_from_slice(arp.get(field::SPA).ok_or(DropReason::Malformed)?);
    let mut target_ip = [0u8; 4];
    target_ip.copy_from_slice(target);
    let mac = request.services.mac();
    let reply = (|| {
        let arp = buf.get_mut(at..at + LEN)?;
        write_u16(arp, field::OPER, OP_REPLY)?;
        arp.get_mut(field::SHA)?.copy_from_slice(&mac);
        arp.get_mut(field::SPA)?.copy_from_slice(&target_ip);
        arp.get_mut(field::THA)?.copy_from_slice(&sender_mac);
        arp.get_mut(field::TPA)?.copy_from_slice(&sender_ip);
        ethernet::address_reply(buf, sender_mac, request.services)
    })();
    reply.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: request.len,
        offload: None,
    })
}
