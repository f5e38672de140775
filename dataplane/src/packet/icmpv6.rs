//! ICMPv6 (RFC 4443) and neighbor discovery (RFC 4861) for the service IPv6
//! addresses.
//!
//! - Neighbor solicitations for a service address (sent to it or to its
//!   solicited-node multicast address) get a neighbor advertisement with the
//!   port's MAC, so clients can reach the appliance with no static entry.
//! - Echo requests get echo replies.
//! - Every other message to a service address (advertisements answering the
//!   kernel's own solicitations, errors) goes to the kernel; other messages to the
//!   multicast address are dropped.

use super::action::{Action, DropReason};
use super::checksum;
use super::ethernet;
use super::icmp::echo_reply;
use super::ip::{IpHeader, protocol};
use super::ipv6::{self, Ipv6};
use super::request::Request;
use crate::wire::write_u16;

const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;
const NEIGHBOR_SOLICITATION: u8 = 135;
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// Neighbor discovery messages must arrive with this hop limit (RFC 4861 §7.1.1)
/// and leave with it.
const ND_HOP_LIMIT: u8 = 255;
/// Solicitation / advertisement: type, code, checksum, 4 bytes, 16-byte target.
const ND_LEN: usize = 24;
/// The advertisement's target link-layer address option: type 2, length 1 (8
/// bytes), the MAC.
const TARGET_LL_OPTION: [u8; 2] = [2, 1];
const ADVERT_LEN: usize = ND_LEN + 8;
/// The smallest message: type, code, checksum.
const MIN_LEN: usize = 4;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;
/// ff02::1, all nodes: where an answer to duplicate address detection goes.
const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// Field offsets of a message (RFC 4443 §2.1) and of a neighbor solicitation or
/// advertisement (RFC 4861 §4.3, §4.4).
mod field {
    use std::ops::Range;

    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    /// Type, code, checksum and the advertisement's flags byte and reserved bytes.
    pub(super) const ND_FIXED: Range<usize> = 0..8;
    pub(super) const ND_TARGET: Range<usize> = 8..24;
    /// The option after the target: its type and length, then the MAC.
    pub(super) const ND_OPTION: Range<usize> = 24..26;
    pub(super) const ND_OPTION_MAC: Range<usize> = 26..32;
}

pub(super) fn handle(
    buf: &mut [u8],
    request: &Request<'_>,
    ip: &Ipv6,
) -> Result<Action, DropReason> {
    let message = ip.payload_of(buf)?;
    let pseudo = ip.pseudo(protocol::ICMPV6, message.len(), false);
    if message.len() < MIN_LEN || !pseudo.add(message).verifies() {
        return Err(DropReason::Malformed);
    }
    match (
        message.get(field::TYPE).copied(),
        message.get(field::CODE).copied(),
    ) {
        (Some(NEIGHBOR_SOLICITATION), Some(0)) => advertise(buf, request, ip),
        _ if ip.multicast => Err(DropReason::Unsupported),
        (Some(ECHO_REQUEST), Some(0)) => echo(buf, request, ip),
        _ => Ok(Action::ToKernel),
    }
}

fn echo(buf: &mut [u8], request: &Request<'_>, ip: &Ipv6) -> Result<Action, DropReason> {
    if !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let reply = (|| {
        ip.reverse(buf, ip.payload_len, false)?;
        let message = buf.get_mut(ip.payload()..ip.end())?;
        *message.get_mut(field::TYPE)? = ECHO_REPLY;
        write_checksum(message, &ip.dst, &ip.src)?;
        ethernet::reply_to_sender(buf, request.services)
    })();
    echo_reply(reply, ip)
}

fn advertise(buf: &mut [u8], request: &Request<'_>, ip: &Ipv6) -> Result<Action, DropReason> {
    let message = ip.payload_of(buf)?;
    if ip.hop_limit != ND_HOP_LIMIT || message.len() < ND_LEN {
        return Err(DropReason::Malformed);
    }
    let target: [u8; 16] = message
        .get(field::ND_TARGET)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(DropReason::Malformed)?;
    if !request.services.has_ipv6(&target) {
        return Err(DropReason::OtherAddress);
    }
    // A solicitation from the unspecified address is duplicate address detection:
    // the answer goes to all nodes, unsolicited (RFC 4861 §7.2.4).
    let dad = ip.src == [0u8; 16];
    if !dad && !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let (dst_ip, dst_mac, flags) = if dad {
        (ALL_NODES, ALL_NODES_MAC, FLAG_OVERRIDE)
    } else {
        let sender = ethernet::source(buf).ok_or(DropReason::Malformed)?;
        (ip.src, sender, FLAG_SOLICITED | FLAG_OVERRIDE)
    };
    let mac = request.services.mac();
    let advert_end = ip.payload() + ADVERT_LEN;
    let reply = (|| {
        ipv6::write_reply_header(buf, ip, &target, &dst_ip, ADVERT_LEN, Some(ND_HOP_LIMIT))?;
        let message = buf.get_mut(ip.payload()..advert_end)?;
        message.get_mut(field::ND_FIXED)?.copy_from_slice(&[
            NEIGHBOR_ADVERTISEMENT,
            0,
            0,
            0,
            flags,
            0,
            0,
            0,
        ]);
        message.get_mut(field::ND_TARGET)?.copy_from_slice(&target);
        message
            .get_mut(field::ND_OPTION)?
            .copy_from_slice(&TARGET_LL_OPTION);
        message.get_mut(field::ND_OPTION_MAC)?.copy_from_slice(&mac);
        write_checksum(message, &target, &dst_ip)?;
        ethernet::address_reply(buf, dst_mac, request.services)
    })();
    reply.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: advert_end,
        offload: None,
    })
}

/// Computes the checksum of an ICMPv6 `message` sent from `src` to `dst`.
fn write_checksum(message: &mut [u8], src: &[u8; 16], dst: &[u8; 16]) -> Option<()> {
    write_u16(message, field::CHECKSUM, 0)?;
    let sum = checksum::ipv6_pseudo(src, dst, protocol::ICMPV6, message.len() as u32);
    let checksum = sum.add(message).checksum();
    write_u16(message, field::CHECKSUM, checksum)
}
