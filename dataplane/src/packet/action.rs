//! What [`handle`](super::handle) decides about a frame, and why it drops one.

/// What the backend does with a frame after [`handle`](super::handle).
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
