//! Address resolution on the generator's link: ARP (RFC 826) for IPv4,
//! neighbor discovery (RFC 4861) for IPv6, both ways.
//!
//! - **The server's MAC.** Before the run the generator asks for it
//!   ([`Neighbors::request`]: an ARP request, or a neighbor solicitation to the
//!   server's solicited-node group) and learns it from the answer, or from a
//!   request the server itself sends ([`Handled::Learnt`]).
//! - **The sources' MACs.** A server on kernel sockets must resolve each source
//!   address before it can answer it, so requests and solicitations for any
//!   source address get an answer with the port's MAC, written over the request
//!   in place ([`Handled::Reply`]).
//!
//! Frames keep their VLAN tags. Neighbor discovery messages are checked as RFC
//! 4861 asks (hop limit 255, ICMPv6 checksum); anything else is ignored.

use std::net::IpAddr;

use super::checksum::Sum;
use super::frame::{ETHERTYPE_ARP, ETHERTYPE_IPV6, Link, PROTOCOL_ICMPV6};
use super::inbound::{self, L2};
use super::local::{LocalAddrs, number};

const ARP_LEN: usize = 28;
/// Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses.
const ARP_FIXED: [u8; 6] = [0, 1, 0x08, 0x00, 6, 4];
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const NEIGHBOR_SOLICITATION: u8 = 135;
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// Neighbor discovery's hop limit, on the way in and out.
const ND_HOP_LIMIT: u8 = 255;
/// Type, code, checksum, flags/reserved, target.
const ND_LEN: usize = 24;
/// With one link-layer address option (type, length in 8 bytes, MAC).
const ND_WITH_OPTION: usize = ND_LEN + 8;
const OPTION_SOURCE_MAC: u8 = 1;
const OPTION_TARGET_MAC: u8 = 2;
/// Solicited and override, in an advertisement's flags byte.
const FLAGS_SOLICITED_OVERRIDE: u8 = 0x60;
const IPV6_HEADER: usize = 40;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Field offsets of an ARP packet for Ethernet and IPv4 (RFC 826), of the IPv6
/// header, and of a neighbor solicitation or advertisement.
mod field {
    use std::ops::Range;

    pub(super) const ARP_FIXED: Range<usize> = 0..6;
    pub(super) const ARP_OPERATION: Range<usize> = 6..8;
    pub(super) const ARP_SENDER_MAC: Range<usize> = 8..14;
    pub(super) const ARP_SENDER_IP: Range<usize> = 14..18;
    pub(super) const ARP_TARGET_MAC: Range<usize> = 18..24;
    pub(super) const ARP_TARGET_IP: Range<usize> = 24..28;
    pub(super) const IPV6_PAYLOAD_LEN: Range<usize> = 4..6;
    pub(super) const IPV6_HOP_LIMIT: usize = 7;
    pub(super) const IPV6_SOURCE: Range<usize> = 8..24;
    pub(super) const IPV6_DESTINATION: Range<usize> = 24..40;
    pub(super) const ND_TYPE: usize = 0;
    pub(super) const ND_CHECKSUM: Range<usize> = 2..4;
    pub(super) const ND_FLAGS: usize = 4;
    pub(super) const ND_TARGET: Range<usize> = 8..24;
    pub(super) const ND_OPTIONS: usize = 24;
}

/// What a received ARP or neighbor discovery frame meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    /// It was rewritten in place into this many bytes of answer: send them.
    Reply(usize),
    /// It told the server's MAC.
    Learnt([u8; 6]),
    /// Nothing for us.
    Ignored,
}

/// The generator's side of address resolution.
#[derive(Debug, Clone)]
pub(crate) struct Neighbors {
    link: Link,
    server: IpAddr,
}

impl Neighbors {
    /// Resolution for `link`; its `server_mac` is not used.
    pub(crate) fn new(link: Link) -> Neighbors {
        Neighbors {
            link,
            server: link.server.ip(),
        }
    }

    /// Writes a request for the server's MAC from `source` into `out`: an ARP
    /// request, or a neighbor solicitation to the server's solicited-node
    /// group. Returns its length, or `None` when `out` is too short.
    pub(crate) fn request(&self, out: &mut [u8], source: u128) -> Option<usize> {
        let frame = match self.server {
            IpAddr::V4(server) => {
                let mut frame = self.link.ethernet(BROADCAST, ETHERTYPE_ARP);
                frame.extend_from_slice(&ARP_FIXED);
                frame.extend_from_slice(&ARP_REQUEST.to_be_bytes());
                frame.extend_from_slice(&self.link.mac);
                frame.extend_from_slice(&(source as u32).to_be_bytes());
                frame.extend_from_slice(&[0; 6]);
                frame.extend_from_slice(&server.octets());
                frame
            }
            IpAddr::V6(server) => {
                let target = server.octets();
                let mut group = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
                group[13..].copy_from_slice(&target[13..]);
                let group_mac = [0x33, 0x33, 0xff, target[13], target[14], target[15]];
                let mut message = vec![NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
                message.extend_from_slice(&target);
                message.extend_from_slice(&[OPTION_SOURCE_MAC, 1]);
                message.extend_from_slice(&self.link.mac);
                let from = source.to_be_bytes();
                let checksum = icmpv6_sum(&from, &group, &message).checksum();
                message[field::ND_CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
                let mut frame = self.link.ethernet(group_mac, ETHERTYPE_IPV6);
                frame.extend_from_slice(&[0x60, 0, 0, 0]);
                frame.extend_from_slice(&(message.len() as u16).to_be_bytes());
                frame.extend_from_slice(&[PROTOCOL_ICMPV6, ND_HOP_LIMIT]);
                frame.extend_from_slice(&from);
                frame.extend_from_slice(&group);
                frame.extend_from_slice(&message);
                frame
            }
        };
        let len = frame.len().max(60);
        let out = out.get_mut(..len)?;
        out.fill(0);
        out[..frame.len()].copy_from_slice(&frame);
        Some(len)
    }

    /// Handles the ARP or neighbor discovery frame `buf[..len]` (`buf` has room
    /// after it for a longer answer), whose link layer is `l2`.
    pub(crate) fn handle(&self, buf: &mut [u8], len: usize, l2: L2, local: &LocalAddrs) -> Handled {
        let handled = match l2.ethertype {
            ETHERTYPE_ARP => self.arp(buf, len, l2.len, local),
            ETHERTYPE_IPV6 => self.neighbor_discovery(buf, len, l2.len, local),
            _ => None,
        };
        handled.unwrap_or(Handled::Ignored)
    }

    fn arp(&self, buf: &mut [u8], len: usize, at: usize, local: &LocalAddrs) -> Option<Handled> {
        let arp = buf.get(at..at + ARP_LEN).filter(|_| at + ARP_LEN <= len)?;
        if arp[field::ARP_FIXED] != ARP_FIXED {
            return None;
        }
        let operation = u16::from_be_bytes(arp[field::ARP_OPERATION].try_into().ok()?);
        let sender_mac: [u8; 6] = arp[field::ARP_SENDER_MAC].try_into().ok()?;
        let sender_ip: [u8; 4] = arp[field::ARP_SENDER_IP].try_into().ok()?;
        let target_ip: [u8; 4] = arp[field::ARP_TARGET_IP].try_into().ok()?;
        if IpAddr::from(sender_ip) == self.server && operation == ARP_REPLY {
            return Some(Handled::Learnt(sender_mac));
        }
        let for_us = !local.is_ipv6() && local.contains(number(IpAddr::from(target_ip)));
        if operation != ARP_REQUEST || !for_us || sender_mac[0] & 1 == 1 {
            // The server asking someone else still tells its own MAC.
            return (IpAddr::from(sender_ip) == self.server && operation == ARP_REQUEST)
                .then_some(Handled::Learnt(sender_mac));
        }
        let arp = buf.get_mut(at..at + ARP_LEN)?;
        arp[field::ARP_OPERATION].copy_from_slice(&ARP_REPLY.to_be_bytes());
        arp[field::ARP_SENDER_MAC].copy_from_slice(&self.link.mac);
        arp[field::ARP_SENDER_IP].copy_from_slice(&target_ip);
        arp[field::ARP_TARGET_MAC].copy_from_slice(&sender_mac);
        arp[field::ARP_TARGET_IP].copy_from_slice(&sender_ip);
        inbound::address_reply(buf, sender_mac, self.link.mac)?;
        Some(Handled::Reply(len))
    }

    fn neighbor_discovery(
        &self,
        buf: &mut [u8],
        len: usize,
        at: usize,
        local: &LocalAddrs,
    ) -> Option<Handled> {
        let ip = buf.get(at..len)?;
        let header = ip.get(..IPV6_HEADER)?;
        let payload_len = usize::from(u16::from_be_bytes(
            header[field::IPV6_PAYLOAD_LEN].try_into().ok()?,
        ));
        let message = ip.get(IPV6_HEADER..IPV6_HEADER + payload_len)?;
        let source: [u8; 16] = header[field::IPV6_SOURCE].try_into().ok()?;
        let destination: [u8; 16] = header[field::IPV6_DESTINATION].try_into().ok()?;
        if header[6] != PROTOCOL_ICMPV6
            || header[field::IPV6_HOP_LIMIT] != ND_HOP_LIMIT
            || message.len() < ND_LEN
            || icmpv6_sum(&source, &destination, message).folded() != 0xffff
        {
            return None;
        }
        let target: [u8; 16] = message[field::ND_TARGET].try_into().ok()?;
        let kind = message[field::ND_TYPE];
        let server_is = |address: [u8; 16]| IpAddr::from(address) == self.server;
        if kind == NEIGHBOR_ADVERTISEMENT && server_is(target) {
            let mac =
                option_mac(message, OPTION_TARGET_MAC).or_else(|| inbound::source_mac(buf))?;
            return Some(Handled::Learnt(mac));
        }
        if kind != NEIGHBOR_SOLICITATION {
            return None;
        }
        let for_us = local.is_ipv6() && local.contains(u128::from_be_bytes(target));
        if !for_us || source == [0; 16] {
            // Duplicate address detection, or someone else's address; the
            // server soliciting still tells its own MAC.
            return server_is(source)
                .then(|| option_mac(message, OPTION_SOURCE_MAC))
                .flatten()
                .map(Handled::Learnt);
        }
        let asker = inbound::source_mac(buf)?;
        let end = at + IPV6_HEADER + ND_WITH_OPTION;
        let frame = buf.get_mut(..end)?;
        let ip = &mut frame[at..];
        ip[field::IPV6_PAYLOAD_LEN].copy_from_slice(&(ND_WITH_OPTION as u16).to_be_bytes());
        ip[field::IPV6_HOP_LIMIT] = ND_HOP_LIMIT;
        ip[field::IPV6_SOURCE].copy_from_slice(&target);
        ip[field::IPV6_DESTINATION].copy_from_slice(&source);
        let message = &mut ip[IPV6_HEADER..];
        message[..8].copy_from_slice(&[NEIGHBOR_ADVERTISEMENT, 0, 0, 0, 0, 0, 0, 0]);
        message[field::ND_FLAGS] = FLAGS_SOLICITED_OVERRIDE;
        message[field::ND_TARGET].copy_from_slice(&target);
        message[field::ND_OPTIONS..field::ND_OPTIONS + 2].copy_from_slice(&[OPTION_TARGET_MAC, 1]);
        message[field::ND_OPTIONS + 2..].copy_from_slice(&self.link.mac);
        let checksum = icmpv6_sum(&target, &source, message).checksum();
        message[field::ND_CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
        inbound::address_reply(buf, asker, self.link.mac)?;
        Some(Handled::Reply(end))
    }
}

/// The sum of an ICMPv6 `message` from `source` to `destination`, its
/// pseudo-header included (RFC 8200 §8.1).
fn icmpv6_sum(source: &[u8], destination: &[u8], message: &[u8]) -> Sum {
    Sum::of(source)
        .plus(Sum::of(destination))
        .plus(Sum::of(&(message.len() as u32).to_be_bytes()))
        .word(u16::from(PROTOCOL_ICMPV6))
        .plus(Sum::of(message))
}

/// The MAC in the first link-layer address option of `kind` of a neighbor
/// discovery `message`.
fn option_mac(message: &[u8], kind: u8) -> Option<[u8; 6]> {
    let mut at = field::ND_OPTIONS;
    while let Some(&[option, units]) = message.get(at..at + 2) {
        let len = usize::from(units) * 8;
        if len == 0 {
            return None;
        }
        if option == kind && len >= 8 {
            return message.get(at + 2..at + 8)?.try_into().ok();
        }
        at += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ferrodns_dataplane::testkit::{
        CLIENT_MAC, CLIENT_V4, CLIENT_V6, Ethernet, IpHeader, Ipv6, SERVER_MAC, SERVICE_V4,
        SERVICE_V6, checksum,
    };

    use super::*;

    const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

    fn neighbors(server: IpAddr, vlan: Option<u16>) -> Neighbors {
        Neighbors::new(Link {
            mac: CLIENT_MAC,
            server_mac: [0; 6],
            vlan,
            server: SocketAddr::new(server, 53),
        })
    }

    fn local(text: &str) -> LocalAddrs {
        text.parse().unwrap()
    }

    /// An ARP packet for Ethernet and IPv4, written out field by field.
    fn arp(operation: u16, sender: ([u8; 6], [u8; 4]), target: ([u8; 6], [u8; 4])) -> Vec<u8> {
        [
            &[0, 1, 8, 0, 6, 4][..],
            &operation.to_be_bytes(),
            &sender.0,
            &sender.1,
            &target.0,
            &target.1,
        ]
        .concat()
    }

    /// Runs `handle` on `frame` with room after it.
    fn handle(n: &Neighbors, frame: &[u8], local: &LocalAddrs) -> (Handled, Vec<u8>) {
        let mut buf = frame.to_vec();
        buf.resize(256, 0xee);
        let l2 = inbound::link_layer(frame).unwrap();
        let handled = n.handle(&mut buf, frame.len(), l2, local);
        (handled, buf)
    }

    /// An ICMPv6 message from `src` to `dst` in a frame, hop limit 255, with
    /// the test kit's checksum.
    fn icmpv6_frame(ethernet: &Ethernet, src: [u8; 16], dst: [u8; 16], message: &[u8]) -> Vec<u8> {
        let mut ip = Ipv6::new(src, dst);
        ip.hop_limit = 255;
        let mut message = message.to_vec();
        let sum = checksum(&[&ip.pseudo_header(58, message.len()), &message]);
        message[2..4].copy_from_slice(&sum.to_be_bytes());
        ethernet.frame(0x86dd, &ip.packet(58, &message))
    }

    /// A solicitation or advertisement for `target`, with an option.
    fn nd(kind: u8, flags: u8, target: [u8; 16], option: Option<(u8, [u8; 6])>) -> Vec<u8> {
        let mut message = vec![kind, 0, 0, 0, flags, 0, 0, 0];
        message.extend_from_slice(&target);
        if let Some((option, mac)) = option {
            message.extend_from_slice(&[option, 1]);
            message.extend_from_slice(&mac);
        }
        message
    }

    #[test]
    fn the_arp_request_asks_everyone_for_the_server() {
        let n = neighbors(IpAddr::from(SERVICE_V4), Some(7));
        let mut out = [0u8; 128];
        let source = number(IpAddr::from(CLIENT_V4));
        let len = n.request(&mut out, source).unwrap();
        assert_eq!(len, 60, "padded to Ethernet's minimum");
        let expected = Ethernet::new([0xff; 6], CLIENT_MAC).tagged(&[7]).frame(
            0x0806,
            &arp(1, (CLIENT_MAC, CLIENT_V4), ([0; 6], SERVICE_V4)),
        );
        assert_eq!(&out[..expected.len()], expected.as_slice());
        assert!(out[expected.len()..len].iter().all(|&b| b == 0));
        assert_eq!(n.request(&mut out[..59], source), None);
    }

    #[test]
    fn the_servers_mac_is_learnt_from_its_reply_or_its_own_request() {
        let n = neighbors(IpAddr::from(SERVICE_V4), None);
        let sources = local("192.0.2.10");
        let to_us = Ethernet::new(CLIENT_MAC, SERVER_MAC);
        let reply = to_us.frame(
            0x0806,
            &arp(2, (SERVER_MAC, SERVICE_V4), (CLIENT_MAC, CLIENT_V4)),
        );
        assert_eq!(handle(&n, &reply, &sources).0, Handled::Learnt(SERVER_MAC));
        let asking = Ethernet::new([0xff; 6], SERVER_MAC).frame(
            0x0806,
            &arp(1, (SERVER_MAC, SERVICE_V4), ([0; 6], [192, 0, 2, 99])),
        );
        assert_eq!(handle(&n, &asking, &sources).0, Handled::Learnt(SERVER_MAC));
        let someone_else = to_us.frame(
            0x0806,
            &arp(2, (OTHER_MAC, [192, 0, 2, 99]), (CLIENT_MAC, CLIENT_V4)),
        );
        assert_eq!(handle(&n, &someone_else, &sources).0, Handled::Ignored);
        let mut garbled = reply.clone();
        garbled[15] = 6; // Not IPv4 over Ethernet.
        assert_eq!(handle(&n, &garbled, &sources).0, Handled::Ignored);
        assert_eq!(
            handle(&n, &reply[..40], &sources).0,
            Handled::Ignored,
            "cut short"
        );
    }

    #[test]
    fn requests_for_a_source_address_are_answered_in_place() {
        let n = neighbors(IpAddr::from(SERVICE_V4), Some(7));
        let sources = local("192.0.2.128/25");
        let request = Ethernet::new([0xff; 6], SERVER_MAC).tagged(&[7]).frame(
            0x0806,
            &arp(1, (SERVER_MAC, SERVICE_V4), ([0; 6], [192, 0, 2, 200])),
        );
        let (handled, buf) = handle(&n, &request, &sources);
        assert_eq!(handled, Handled::Reply(request.len()));
        let expected = Ethernet::new(SERVER_MAC, CLIENT_MAC).tagged(&[7]).frame(
            0x0806,
            &arp(2, (CLIENT_MAC, [192, 0, 2, 200]), (SERVER_MAC, SERVICE_V4)),
        );
        assert_eq!(&buf[..request.len()], expected.as_slice());
        for other in [[192, 0, 2, 255], [192, 0, 2, 54]] {
            let request = Ethernet::new([0xff; 6], OTHER_MAC).frame(
                0x0806,
                &arp(1, (OTHER_MAC, [192, 0, 2, 1]), ([0; 6], other)),
            );
            assert_eq!(
                handle(&n, &request, &sources).0,
                Handled::Ignored,
                "{other:?}"
            );
        }
    }

    #[test]
    fn the_solicitation_goes_to_the_servers_solicited_node_group() {
        let n = neighbors(IpAddr::from(SERVICE_V6), None);
        let mut out = [0u8; 128];
        let len = n.request(&mut out, u128::from_be_bytes(CLIENT_V6)).unwrap();
        let mut group = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
        group[13..].copy_from_slice(&SERVICE_V6[13..]);
        let group_mac = [
            0x33,
            0x33,
            0xff,
            SERVICE_V6[13],
            SERVICE_V6[14],
            SERVICE_V6[15],
        ];
        let expected = icmpv6_frame(
            &Ethernet::new(group_mac, CLIENT_MAC),
            CLIENT_V6,
            group,
            &nd(135, 0, SERVICE_V6, Some((1, CLIENT_MAC))),
        );
        assert_eq!(&out[..len], expected.as_slice());
    }

    #[test]
    fn the_servers_advertisement_tells_its_mac_when_it_checks_out() {
        let n = neighbors(IpAddr::from(SERVICE_V6), None);
        let sources = local("2001:db8::10");
        let to_us = Ethernet::new(CLIENT_MAC, SERVER_MAC);
        let advert = nd(136, 0x60, SERVICE_V6, Some((2, OTHER_MAC)));
        let frame = icmpv6_frame(&to_us, SERVICE_V6, CLIENT_V6, &advert);
        assert_eq!(
            handle(&n, &frame, &sources).0,
            Handled::Learnt(OTHER_MAC),
            "the option's MAC"
        );
        let bare = icmpv6_frame(
            &to_us,
            SERVICE_V6,
            CLIENT_V6,
            &nd(136, 0x60, SERVICE_V6, None),
        );
        assert_eq!(
            handle(&n, &bare, &sources).0,
            Handled::Learnt(SERVER_MAC),
            "the frame's"
        );
        let mut damaged = frame.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(
            handle(&n, &damaged, &sources).0,
            Handled::Ignored,
            "bad checksum"
        );
        let mut far = frame;
        far[14 + 7] = 254;
        assert_eq!(
            handle(&n, &far, &sources).0,
            Handled::Ignored,
            "routed: hop limit 254"
        );
    }

    #[test]
    fn solicitations_for_a_source_address_get_an_advertisement() {
        let n = neighbors(IpAddr::from(SERVICE_V6), None);
        let sources = local("2001:db8::10/127");
        let mut target = CLIENT_V6;
        target[15] = 0x11;
        let solicitation = icmpv6_frame(
            &Ethernet::new([0x33, 0x33, 0xff, 0, 0, 0x11], SERVER_MAC),
            SERVICE_V6,
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0x11],
            &nd(135, 0, target, Some((1, SERVER_MAC))),
        );
        let (handled, buf) = handle(&n, &solicitation, &sources);
        let expected = icmpv6_frame(
            &Ethernet::new(SERVER_MAC, CLIENT_MAC),
            target,
            SERVICE_V6,
            &nd(136, 0x60, target, Some((2, CLIENT_MAC))),
        );
        assert_eq!(handled, Handled::Reply(expected.len()));
        assert_eq!(&buf[..expected.len()], expected.as_slice());
        // Duplicate address detection (from ::) is not answered.
        let dad = icmpv6_frame(
            &Ethernet::new([0x33, 0x33, 0xff, 0, 0, 0x11], OTHER_MAC),
            [0; 16],
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0x11],
            &nd(135, 0, target, None),
        );
        assert_eq!(handle(&n, &dad, &sources).0, Handled::Ignored);
    }
}
