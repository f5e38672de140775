//! The Ethernet II header and VLAN tags: a view at named offsets.

use super::action::DropReason;
use super::services::Services;
use crate::wire::read_u16;

/// EtherTypes dispatched on.
pub(super) const ARP: u16 = 0x0806;
pub(super) const IPV4: u16 = 0x0800;
pub(super) const IPV6: u16 = 0x86dd;
const VLAN_8021Q: u16 = 0x8100;
const VLAN_8021AD: u16 = 0x88a8;
/// Tags looked through: an 802.1ad outer tag and an 802.1Q inner one.
const MAX_TAGS: usize = 2;
pub(super) const BROADCAST: [u8; 6] = [0xff; 6];
/// The first bytes of an IPv6 multicast MAC address (RFC 2464 §7).
const IPV6_MULTICAST: [u8; 2] = [0x33, 0x33];

/// Field offsets of the header (IEEE 802.3 §3.1.1) and of a VLAN tag
/// (IEEE 802.1Q §9.3).
mod field {
    use std::ops::Range;

    pub(super) const DESTINATION: Range<usize> = 0..6;
    pub(super) const SOURCE: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const HEADER_LEN: usize = 14;
    /// In a tag, which follows the header: the EtherType of what the tag carries.
    pub(super) const TAG_ETHERTYPE: usize = 2;
    pub(super) const TAG_LEN: usize = 4;
}

/// Where the network layer starts, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct L2 {
    /// Ethernet header plus tags.
    pub(super) len: usize,
    pub(super) ethertype: u16,
}

/// Reads the Ethernet header and tags, and keeps only frames addressed to us:
/// our MAC, broadcast (ARP) or an IPv6 multicast MAC (neighbor solicitations).
pub(super) fn parse(frame: &[u8], services: &Services) -> Result<L2, DropReason> {
    let dst = frame.get(field::DESTINATION).ok_or(DropReason::Malformed)?;
    let ours = dst == services.mac() || dst == BROADCAST || dst.starts_with(&IPV6_MULTICAST);
    let mut ethertype = read_u16(frame, field::ETHERTYPE).ok_or(DropReason::Malformed)?;
    if !ours {
        return Err(DropReason::OtherAddress);
    }
    let mut len = field::HEADER_LEN;
    for _ in 0..MAX_TAGS {
        if ethertype != VLAN_8021Q && ethertype != VLAN_8021AD {
            break;
        }
        ethertype = read_u16(frame, len + field::TAG_ETHERTYPE).ok_or(DropReason::Malformed)?;
        len += field::TAG_LEN;
    }
    Ok(L2 { len, ethertype })
}

/// Addresses the reply to `dst` from our MAC, keeping the tags.
pub(super) fn address_reply(buf: &mut [u8], dst: [u8; 6], services: &Services) -> Option<()> {
    buf.get_mut(field::DESTINATION)?.copy_from_slice(&dst);
    buf.get_mut(field::SOURCE)?.copy_from_slice(&services.mac());
    Some(())
}

/// The sender's MAC address.
pub(super) fn source(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(field::SOURCE)?.try_into().ok()
}

/// Sends the reply in `buf` back to the frame's sender, from our MAC.
pub(super) fn reply_to_sender(buf: &mut [u8], services: &Services) -> Option<()> {
    let sender = source(buf)?;
    address_reply(buf, sender, services)
}
