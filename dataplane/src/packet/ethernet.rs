//! Ethernet II header and VLAN tags.

use super::DropReason;
use super::services::Services;
use crate::wire::read_u16;

pub(crate) const ARP: u16 = 0x0806;
pub(crate) const IPV4: u16 = 0x0800;
pub(crate) const IPV6: u16 = 0x86dd;
const VLAN_8021Q: u16 = 0x8100;
const VLAN_8021AD: u16 = 0x88a8;
/// Tags looked through: an 802.1ad outer tag and an 802.1Q inner one.
const MAX_TAGS: usize = 2;
const HEADER_LEN: usize = 14;
const TAG_LEN: usize = 4;
pub(crate) const BROADCAST: [u8; 6] = [0xff; 6];

/// Where the network layer starts, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L2 {
    /// Ethernet header plus tags.
    pub(crate) len: usize,
    pub(crate) ethertype: u16,
}

/// Reads the Ethernet header and tags, and keeps only frames addressed to us:
/// our MAC, broadcast (ARP) or an IPv6 multicast MAC (neighbor solicitations).
pub(crate) fn parse(frame: &[u8], services: &Services) -> Result<L2, DropReason> {
    let dst = frame.get(..6).ok_or(DropReason::Malformed)?;
    let ours = dst == services.mac() || dst == BROADCAST || dst.starts_with(&[0x33, 0x33]);
    let mut ethertype = read_u16(frame, 12).ok_or(DropReason::Malformed)?;
    if !ours {
        return Err(DropReason::OtherAddress);
    }
    let mut len = HEADER_LEN;
    for _ in 0..MAX_TAGS {
        if ethertype != VLAN_8021Q && ethertype != VLAN_8021AD {
            break;
        }
        ethertype = read_u16(frame, len + 2).ok_or(DropReason::Malformed)?;
        len += TAG_LEN;
    }
    Ok(L2 { len, ethertype })
}

/// Addresses the reply to `dst` from our MAC, keeping the tags.
pub(crate) fn address_reply(buf: &mut [u8], dst: [u8; 6], services: &Services) -> Option<()> {
    buf.get_mut(..6)?.copy_from_slice(&dst);
    buf.get_mut(6..12)?.copy_from_slice(&services.mac());
    Some(())
}

/// The sender's MAC address.
pub(crate) fn source(frame: &[u8]) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(frame.get(6..12)?);
    Some(mac)
}
