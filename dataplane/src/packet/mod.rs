//! Whole frames in, whole frames out: the Ethernet/IP/UDP layer of the DPDK
//! backend, sans-IO.
//!
//! A DPDK poll loop receives Ethernet frames, not DNS messages. [`handle`] takes
//! one frame in a buffer (the frame followed by free room), decides what it is,
//! and when it deserves an answer writes that answer over the frame in place:
//!
//! | frame | action |
//! | --- | --- |
//! | UDP to a service address and DNS port | the engine answers the payload; MACs, IPs and ports swapped, lengths and checksums rewritten: [`Action::Transmit`] |
//! | ARP request for a service IPv4 address | ARP reply with the port's MAC: [`Action::Transmit`] |
//! | ICMPv6 neighbor solicitation for a service IPv6 address | neighbor advertisement: [`Action::Transmit`] |
//! | ICMP / ICMPv6 echo request to a service address | echo reply: [`Action::Transmit`] |
//! | IP fragment to a service address | [`Action::Drop`] ([`DropReason::Fragment`]) |
//! | other traffic to a service address (TCP, other UDP ports, other ICMP, ARP replies) | [`Action::ToKernel`]: the kernel's stack (the DNS-over-TCP listener) answers it through the exception port |
//! | anything for another address, or malformed | [`Action::Drop`] with the reason |
//!
//! 802.1Q and 802.1ad tags (up to two) are kept: the answer leaves with the
//! query's tags. Every length field is checked against the bytes actually there,
//! and received IPv4 header, UDP, ICMP and ICMPv6 checksums are verified (a UDP
//! checksum of zero means "none" over IPv4 and is invalid over IPv6, RFC 8200).
//! Answers carry IPv4 header and UDP checksums computed here, or, when the port
//! offers checksum offload ([`ChecksumMode::Offload`]), the pseudo-header sum
//! the offload expects plus [`Action::Transmit::offload`] telling the backend to
//! flag the mbuf.
//!
//! Like the engine, this never panics, allocates or calls the kernel, whatever the
//! bytes; everything it reads is bounds-checked.
//!
//! # Layout
//!
//! Header views, each a checked reading of one header at named field offsets and
//! the writing of its answer: `ethernet`, `ipv4`, `ipv6`, `udp` (with `ip`, what
//! both IP versions offer the layers above, and `checksum`). Handlers, which
//! answer one kind of message with those views: `arp`, `icmp`, `icmpv6`, and
//! `dns` (DNS over UDP, one generic function for IPv4 and IPv6). The dispatch
//! from EtherType and IP protocol to a handler is [`handle`], here; the views
//! know nothing of the handlers.

mod action;
mod arp;
mod checksum;
mod dns;
mod ethernet;
mod icmp;
mod icmpv6;
mod ip;
mod ipv4;
mod ipv6;
mod request;
mod services;
#[cfg(test)]
mod tests;
mod udp;

use std::net::SocketAddr;

pub use action::{Action, ChecksumMode, ChecksumOffload, DropReason};
use ip::protocol;
use request::Request;
pub use services::Services;

use crate::engine::Verdict;

/// Answers the frame in `buf[..len]` in place when it should be (see the module
/// documentation). `buf` is the frame followed by the free room an answer may
/// grow into. `dns` answers a DNS query: it gets the room from the query's first
/// byte, the query's length and the client's address and port, like
/// [`Engine::respond`](crate::engine::Engine::respond), and returns its verdict.
pub fn handle<F>(
    buf: &mut [u8],
    len: usize,
    services: &Services,
    checksum: ChecksumMode,
    dns: F,
) -> Action
where
    F: FnOnce(&mut [u8], usize, SocketAddr) -> Verdict,
{
    let Some(frame) = buf.get(..len) else {
        return Action::Drop(DropReason::Malformed);
    };
    let l2 = match ethernet::parse(frame, services) {
        Ok(l2) => l2,
        Err(reason) => return Action::Drop(reason),
    };
    let request = Request {
        len,
        l2,
        services,
        checksum,
    };
    let handled = match l2.ethertype {
        ethernet::ARP => arp::handle(buf, &request),
        ethernet::IPV4 => handle_ipv4(buf, &request, dns),
        ethernet::IPV6 => handle_ipv6(buf, &request, dns),
        _ => Err(DropReason::Unsupported),
    };
    handled.unwrap_or_else(Action::Drop)
}

/// IPv4 by protocol: DNS over UDP and ICMP are answered here, the rest is the
/// kernel's.
fn handle_ipv4<F>(buf: &mut [u8], request: &Request<'_>, dns: F) -> Result<Action, DropReason>
where
    F: FnOnce(&mut [u8], usize, SocketAddr) -> Verdict,
{
    let ip = ipv4::parse(buf, request)?;
    match ip.protocol {
        protocol::UDP => dns::handle(buf, request, &ip, dns),
        protocol::ICMP => icmp::handle(buf, request, &ip),
        _ => Ok(Action::ToKernel),
    }
}

/// IPv6 by next header: ICMPv6 (neighbor discovery, also for the solicited-node
/// multicast addresses) and DNS over UDP are answered here, fragments dropped, the
/// rest (other extension headers included) is the kernel's.
fn handle_ipv6<F>(buf: &mut [u8], request: &Request<'_>, dns: F) -> Result<Action, DropReason>
where
    F: FnOnce(&mut [u8], usize, SocketAddr) -> Verdict,
{
    let ip = ipv6::parse(buf, request)?;
    match ip.next_header {
        protocol::ICMPV6 => icmpv6::handle(buf, request, &ip),
        _ if ip.multicast => Err(DropReason::Unsupported),
        protocol::UDP => dns::handle(buf, request, &ip, dns),
        protocol::IPV6_FRAGMENT => Err(DropReason::Fragment),
        _ => Ok(Action::ToKernel),
    }
}
