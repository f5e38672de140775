//! What a received frame is, for the generator: an answer from the server to
//! one of its flows, address resolution, or nothing of ours.
//!
//! An answer is a UDP datagram from the server's address and port to a source
//! address of the run (in the `--local` block) and a port, which names the flow
//! and so the lcore and tracker that sent the query. Its UDP checksum is not
//! verified: a load generator is not a receiver that must drop damaged
//! datagrams, and a veth hands over a kernel server's answers with checksums
//! left to an offload that never happens. IP fragments are not reassembled
//! (counted as other frames); answers come back whole or not at all.

use std::ops::Range;

use super::frame::{
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, PROTOCOL_ICMPV6, PROTOCOL_UDP,
};
use super::local::LocalAddrs;

/// 802.1ad's outer tag, looked through like 802.1Q's.
const ETHERTYPE_QINQ: u16 = 0x88a8;
const MAX_TAGS: usize = 2;
const ETHERNET_HEADER: usize = 14;
const BROADCAST: [u8; 6] = [0xff; 6];
/// The first bytes of an IPv6 multicast MAC (RFC 2464 §7).
const IPV6_MULTICAST: [u8; 2] = [0x33, 0x33];
/// The IPv4 more-fragments flag and fragment offset.
const FRAGMENT_BITS: u16 = 0x3fff;

/// Where the network layer starts, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L2 {
    /// Ethernet header plus tags.
    pub(crate) len: usize,
    pub(crate) ethertype: u16,
}

/// What a frame is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// The server's answer to port `port`: the DNS message is at `message`.
    Answer { port: u16, message: Range<usize> },
    /// ARP, or ICMPv6 (neighbor discovery), to us or to everyone.
    Resolution(L2),
    /// Anything else.
    Other,
}

/// Who the generator is on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Addressing {
    pub(crate) mac: [u8; 6],
    /// The server's address as a number (see [`super::local`]) and its port.
    pub(crate) server: u128,
    pub(crate) server_port: u16,
    pub(crate) local: LocalAddrs,
}

/// Reads the Ethernet header and tags.
pub(crate) fn link_layer(frame: &[u8]) -> Option<L2> {
    let mut len = ETHERNET_HEADER;
    let mut ethertype = read_u16(frame, len - 2)?;
    for _ in 0..MAX_TAGS {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        len += 4;
        ethertype = read_u16(frame, len - 2)?;
    }
    Some(L2 { len, ethertype })
}

/// What `frame` is to the generator `me`.
pub(crate) fn classify(frame: &[u8], me: &Addressing) -> Inbound {
    classified(frame, me).unwrap_or(Inbound::Other)
}

fn classified(frame: &[u8], me: &Addressing) -> Option<Inbound> {
    let dst = frame.get(..6)?;
    let unicast = dst == me.mac;
    let group = dst == BROADCAST || dst.starts_with(&IPV6_MULTICAST);
    if !unicast && !group {
        return None;
    }
    let l2 = link_layer(frame)?;
    let ip = frame.get(l2.len..)?;
    let (udp_at, end) = match l2.ethertype {
        ETHERTYPE_ARP => return Some(Inbound::Resolution(l2)),
        ETHERTYPE_IPV6 if ip.get(6) == Some(&PROTOCOL_ICMPV6) => {
            return Some(Inbound::Resolution(l2));
        }
        _ if !unicast => return None,
        ETHERTYPE_IPV4 if !me.local.is_ipv6() => ipv4_udp(ip, me)?,
        ETHERTYPE_IPV6 if me.local.is_ipv6() => ipv6_udp(ip, me)?,
        _ => return None,
    };
    let udp = ip.get(udp_at..udp_at + 8)?;
    let udp_len = usize::from(read_u16(udp, 4)?);
    if read_u16(udp, 0)? != me.server_port || udp_len < 8 || udp_at + udp_len > end {
        return None;
    }
    let start = l2.len + udp_at + 8;
    Some(Inbound::Answer {
        port: read_u16(udp, 2)?,
        message: start..start + udp_len - 8,
    })
}

/// Where the UDP header of an IPv4 packet from the server to us starts, and
/// where the packet ends.
fn ipv4_udp(ip: &[u8], me: &Addressing) -> Option<(usize, usize)> {
    let first = *ip.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    let total = usize::from(read_u16(ip, 2)?);
    let fragment = read_u16(ip, 6)?;
    let source = u128::from(u32::from_be_bytes(ip.get(12..16)?.try_into().ok()?));
    let destination = u128::from(u32::from_be_bytes(ip.get(16..20)?.try_into().ok()?));
    let ours = source == me.server && me.local.in_block(destination);
    (first >> 4 == 4
        && header_len >= 20
        && total >= header_len
        && total <= ip.len()
        && fragment & FRAGMENT_BITS == 0
        && ip.get(9) == Some(&PROTOCOL_UDP)
        && ours)
        .then_some((header_len, total))
}

/// The same for an IPv6 packet (no extension headers).
fn ipv6_udp(ip: &[u8], me: &Addressing) -> Option<(usize, usize)> {
    let end = 40 + usize::from(read_u16(ip, 4)?);
    let source = u128::from_be_bytes(ip.get(8..24)?.try_into().ok()?);
    let destination = u128::from_be_bytes(ip.get(24..40)?.try_into().ok()?);
    let ours = source == me.server && me.local.in_block(destination);
    (ip.first()? >> 4 == 6 && end <= ip.len() && ip.get(6) == Some(&PROTOCOL_UDP) && ours)
        .then_some((40, end))
}

/// The sender's MAC of a frame.
pub(crate) fn source_mac(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(6..12)?.try_into().ok()
}

/// Addresses a frame rewritten into an answer: to `dst`, from `mac`.
pub(crate) fn address_reply(frame: &mut [u8], dst: [u8; 6], mac: [u8; 6]) -> Option<()> {
    frame.get_mut(..6)?.copy_from_slice(&dst);
    frame.get_mut(6..12)?.copy_from_slice(&mac);
    Some(())
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}
