//! ARP (RFC 826) for the service IPv4 addresses: requests are answered here, so
//! clients learn the port's MAC; replies to the kernel's own requests go to the
//! kernel, which needs them to send its TCP answers.

use super::ethernet::{self, BROADCAST};
use super::{Action, DropReason, Request};
use crate::wire::{read_u16, write_u16};

const LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;
// Offsets inside the ARP packet.
const OPER: usize = 6;
const SHA: usize = 8;
const SPA: usize = 14;
const THA: usize = 18;
const TPA: usize = 24;

pub(super) fn handle(buf: &mut [u8], request: &Request<'_>) -> Action {
    match answer(buf, request) {
        Ok(action) => action,
        Err(reason) => Action::Drop(reason),
    }
}

fn answer(buf: &mut [u8], request: &Request<'_>) -> Result<Action, DropReason> {
    let at = request.l2.len;
    let arp = buf
        .get(at..at + LEN)
        .filter(|_| at + LEN <= request.len)
        .ok_or(DropReason::Malformed)?;
    let fixed = (read_u16(arp, 0), read_u16(arp, 2), arp.get(4), arp.get(5));
    if fixed != (Some(HTYPE_ETHERNET), Some(PTYPE_IPV4), Some(&6), Some(&4)) {
        return Err(DropReason::Unsupported);
    }
    let target = arp.get(TPA..TPA + 4).ok_or(DropReason::Malformed)?;
    if !request.services.has_ipv4(target) {
        return Err(DropReason::OtherAddress);
    }
    match read_u16(arp, OPER) {
        Some(OP_REQUEST) => {}
        Some(OP_REPLY) => return Ok(Action::ToKernel),
        _ => return Err(DropReason::Unsupported),
    }
    let mut sender_mac = [0u8; 6];
    sender_mac.copy_from_slice(arp.get(SHA..SHA + 6).ok_or(DropReason::Malformed)?);
    if sender_mac == BROADCAST || sender_mac.first().is_some_and(|b| b & 1 == 1) {
        return Err(DropReason::BadSource);
    }
    let mut sender_ip = [0u8; 4];
    sender_ip.copy_from_slice(arp.get(SPA..SPA + 4).ok_or(DropReason::Malformed)?);
    let mut target_ip = [0u8; 4];
    target_ip.copy_from_slice(target);
    let mac = request.services.mac();
    let reply = (|| {
        let arp = buf.get_mut(at..at + LEN)?;
        write_u16(arp, OPER, OP_REPLY)?;
        arp.get_mut(SHA..SHA + 6)?.copy_from_slice(&mac);
        arp.get_mut(SPA..SPA + 4)?.copy_from_slice(&target_ip);
        arp.get_mut(THA..THA + 6)?.copy_from_slice(&sender_mac);
        arp.get_mut(TPA..TPA + 4)?.copy_from_slice(&sender_ip);
        ethernet::address_reply(buf, sender_mac, request.services)
    })();
    reply.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: request.len,
        offload: None,
    })
}
