//! ICMP and ICMPv6 echo messages, built and read without I/O.
//!
//! An echo request is type 8 (ICMPv6: 128), code 0, a checksum, an identifier,
//! a sequence number and a payload; its reply is type 0 (ICMPv6: 129) with the
//! same identifier, sequence number and payload (RFC 792, RFC 4443 §4).
//!
//! On a datagram ICMP socket the kernel owns the identifier (it writes the
//! socket's own into every request and delivers only replies carrying it) and
//! hands over the message without its IP header. On a raw IPv4 socket the
//! message comes after the IPv4 header, and every ICMP packet the host receives
//! arrives, so replies are told apart by identifier. The kernel fills in the
//! ICMPv6 checksum itself (it covers a pseudo-header only it knows); the ICMPv4
//! one is computed here.

use std::net::IpAddr;

/// Offsets of the fields of an echo message.
const TYPE: usize = 0;
const CODE: usize = 1;
const CHECKSUM: std::ops::Range<usize> = 2..4;
const IDENTIFIER: std::ops::Range<usize> = 4..6;
const SEQUENCE: std::ops::Range<usize> = 6..8;
/// Length of the header before the payload.
const HEADER: usize = 8;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// Offset of the IPv4 header's version and length byte, and its protocol.
const IPV4_VERSION_IHL: usize = 0;
const IPV4_PROTOCOL: usize = 9;
const PROTOCOL_ICMP: u8 = 1;

/// What identifies a reply: its identifier and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Echo {
    pub(crate) identifier: u16,
    pub(crate) sequence: u16,
}

/// An echo request, ICMPv6 when `v6`.
pub(crate) fn request(v6: bool, echo: Echo, payload: &[u8]) -> Vec<u8> {
    let mut message = vec![0u8; HEADER + payload.len()];
    if let Some(kind) = message.get_mut(TYPE) {
        *kind = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    }
    put_u16(&mut message, IDENTIFIER, echo.identifier);
    put_u16(&mut message, SEQUENCE, echo.sequence);
    if let Some(tail) = message.get_mut(HEADER..) {
        tail.copy_from_slice(payload);
    }
    if !v6 {
        let sum = checksum(&message);
        put_u16(&mut message, CHECKSUM, sum);
    }
    message
}

/// The echo reply `packet` carries, if it is one. `with_ip_header`: the packet
/// starts with an IPv4 header (a raw IPv4 socket).
pub(crate) fn reply(packet: &[u8], v6: bool, with_ip_header: bool) -> Option<Echo> {
    let message = if with_ip_header {
        let first = *packet.get(IPV4_VERSION_IHL)?;
        if first >> 4 != 4 || *packet.get(IPV4_PROTOCOL)? != PROTOCOL_ICMP {
            return None;
        }
        packet.get(usize::from(first & 0x0f) * 4..)?
    } else {
        packet
    };
    let expected = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if message.len() < HEADER || *message.get(TYPE)? != expected || *message.get(CODE)? != 0 {
        return None;
    }
    Some(Echo {
        identifier: get_u16(message, IDENTIFIER)?,
        sequence: get_u16(message, SEQUENCE)?,
    })
}

/// Whether `ip` is answered over ICMPv6.
pub(crate) fn is_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none())
}

fn put_u16(message: &mut [u8], at: std::ops::Range<usize>, value: u16) {
    if let Some(field) = message.get_mut(at) {
        field.copy_from_slice(&value.to_be_bytes());
    }
}

fn get_u16(message: &[u8], at: std::ops::Range<usize>) -> Option<u16> {
    let field = message.get(at)?;
    Some(u16::from_be_bytes([*field.first()?, *field.get(1)?]))
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => u32::from(u16::from_be_bytes([*high, *low])),
            [high] => u32::from(*high) << 8,
            _ => 0,
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: Echo = Echo {
        identifier: 0x1234,
        sequence: 7,
    };

    #[test]
    fn an_ipv4_request_carries_a_checksum_that_verifies() {
        let message = request(false, ECHO, b"ferrodns");
        assert_eq!(&message[..2], &[8, 0]);
        assert_eq!(&message[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(
            checksum(&message),
            0,
            "a message with its checksum sums to zero"
        );
        assert_eq!(&message[8..], b"ferrodns");
    }

    #[test]
    fn replies_are_read_with_or_without_the_ip_header() {
        let mut reply_v4 = request(false, ECHO, b"x");
        reply_v4[0] = ECHO_REPLY_V4;
        assert_eq!(reply(&reply_v4, false, false), Some(ECHO));
        let mut with_header = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, PROTOCOL_ICMP];
        with_header.resize(20, 0);
        with_header.extend_from_slice(&reply_v4);
        assert_eq!(reply(&with_header, false, true), Some(ECHO));
        let mut reply_v6 = request(true, ECHO, b"x");
        reply_v6[0] = ECHO_REPLY_V6;
        assert_eq!(reply(&reply_v6, true, false), Some(ECHO));
    }

    #[test]
    fn requests_unreachables_and_scraps_are_not_replies() {
        assert_eq!(reply(&request(false, ECHO, b""), false, false), None);
        let unreachable = [3, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(reply(&unreachable, false, false), None);
        assert_eq!(reply(&[0, 0, 0], false, false), None);
        assert_eq!(reply(&[0x45, 0, 0], false, true), None);
        let mut udp = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17];
        udp.resize(28, 0);
        assert_eq!(reply(&udp, false, true), None);
    }
}
