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

mod arp;
mod checksum;
mod ethernet;
mod icmp;
mod icmpv6;
mod ipv4;
mod ipv6;
mod services;
#[cfg(test)]
mod tests;
mod udp;

use std::net::IpAddr;

use crate::engine::Verdict;
pub use services::Services;

/// What the backend does with a frame after [`handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The answer is in the buffer: send its first `len` bytes out of the port the
    /// frame came in on.
    Transmit {
        len: usize,
        /// `Some` when the port must compute the IPv4 and UDP checksums.
        offload: Option<ChecksumOffload>,
    },
    /// The frame is for a service address but not ours to answer: hand it,
    /// unchanged, to the kernel.
    ToKernel,
    /// The DNS engine punted the query (a name outside every local zone); the frame
    /// is unchanged.
    Punt,
    /// Send nothing.
    Drop(DropReason),
}

/// Header lengths a checksum-offloading port needs, with the IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumOffload {
    /// Ethernet header and VLAN tags.
    pub l2_len: u16,
    /// IP header.
    pub l3_len: u16,
    pub ipv6: bool,
}

/// Who computes the checksums of DNS answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Computed here.
    Software,
    /// The port computes them; only the pseudo-header sum is written here.
    Offload,
}

/// Why a frame was dropped; counted per reason by the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Truncated, inconsistent lengths, bad version or bad checksum.
    Malformed,
    /// Not for this appliance: another MAC or IP address.
    OtherAddress,
    /// An IP fragment (DNS queries are never fragmented; reassembly is not done).
    Fragment,
    /// An IPv4 DNS query with header options, which are not answered.
    Ipv4Options,
    /// An EtherType, ARP hardware/protocol type or ICMPv6 message to a multicast
    /// address that is not handled.
    Unsupported,
    /// A source that cannot be answered: broadcast, multicast, unspecified, or UDP
    /// port 0.
    BadSource,
    /// The DNS engine chose not to answer (a response, or unparseable bytes).
    Engine,
    /// The answer would not fit the buffer.
    NoRoom,
}

impl DropReason {
    /// Every reason, in a fixed order: [`DropReason::index`] is the position here.
    pub const ALL: [DropReason; 8] = [
        DropReason::Malformed,
        DropReason::OtherAddress,
        DropReason::Fragment,
        DropReason::Ipv4Options,
        DropReason::Unsupported,
        DropReason::BadSource,
        DropReason::Engine,
        DropReason::NoRoom,
    ];

    /// Position in [`DropReason::ALL`], for arrays of counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Short name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::OtherAddress => "other_address",
            DropReason::Fragment => "fragment",
            DropReason::Ipv4Options => "ipv4_options",
            DropReason::Unsupported => "unsupported",
            DropReason::BadSource => "bad_source",
            DropReason::Engine => "engine",
            DropReason::NoRoom => "no_room",
        }
    }
}

/// Answers the frame in `buf[..len]` in place when it should be (see the module
/// documentation). `buf` is the frame followed by the free room an answer may
/// grow into. `dns` answers a DNS query: it gets the room from the query's first
/// byte, the query's length and the client's address, like
/// [`Engine::respond`](crate::engine::Engine::respond), and returns its verdict.
pub fn handle<F>(
    buf: &mut [u8],
    len: usize,
    services: &Services,
    checksum: ChecksumMode,
    dns: F,
) -> Action
where
    F: FnOnce(&mut [u8], usize, IpAddr) -> Verdict,
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
    match l2.ethertype {
        ethernet::ARP => arp::handle(buf, &request),
        ethernet::IPV4 => ipv4::handle(buf, &request, dns),
        ethernet::IPV6 => ipv6::handle(buf, &request, dns),
        _ => Action::Drop(DropReason::Unsupported),
    }
}

/// What every layer needs to know about the frame being handled.
#[derive(Debug, Clone, Copy)]
struct Request<'a> {
    /// Length of the received frame.
    len: usize,
    l2: ethernet::L2,
    services: &'a Services,
    checksum: ChecksumMode,
}
