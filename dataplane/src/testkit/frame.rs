//! Ethernet frames carrying IPv4 or IPv6 and UDP, built from their fields, for
//! the tests of the DPDK backend's packet layer, its benches and fuzz target.
//!
//! The checksums are the tests' own: [`checksum`] sums 16-bit words the plain
//! way, sharing no code with the dataplane's incremental arithmetic, so a frame
//! built here, or an answer verified here, checks the dataplane against an
//! independent computation.

/// The MAC the frames are sent to: the server's port.
pub const SERVER_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 0, 1];
/// The MAC the frames come from.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 2];
/// The address the DNS service listens on (TEST-NET-1).
pub const SERVICE_V4: [u8; 4] = [192, 0, 2, 53];
/// The client's address.
pub const CLIENT_V4: [u8; 4] = [192, 0, 2, 10];
/// The address the DNS service listens on (the documentation prefix): `2001:db8::53`.
pub const SERVICE_V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
];
/// The client's address: `2001:db8::10`.
pub const CLIENT_V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
/// The MAC DPDK 22.11's pcap driver gives its first port (`"\x02pcap\x00"`).
pub const PCAP_PORT_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
/// The source port of the frames' queries.
pub const CLIENT_PORT: u16 = 40000;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IP protocol number of UDP.
pub const UDP: u8 = 17;

/// The Internet checksum (RFC 1071) of `pieces` laid end to end: 16-bit words
/// summed in a `u32`, the carries folded back, the result complemented. Over
/// data that holds its own correct checksum it is 0.
pub fn checksum(pieces: &[&[u8]]) -> u16 {
    let bytes = pieces.concat();
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| match *pair {
            [high, low] => u32::from(u16::from_be_bytes([high, low])),
            [high] => u32::from(high) << 8,
            _ => 0,
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet header: addresses and VLAN tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ethernet {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// VLAN IDs, outermost first: the last is an 802.1Q C-tag, any before it
    /// 802.1ad S-tags (QinQ).
    pub tags: Vec<u16>,
}

impl Ethernet {
    /// An untagged header from `src` to `dst`.
    pub fn new(dst: [u8; 6], src: [u8; 6]) -> Self {
        Ethernet {
            dst,
            src,
            tags: Vec::new(),
        }
    }

    /// The same header with VLAN `tags`, outermost first.
    pub fn tagged(mut self, tags: &[u16]) -> Self {
        self.tags = tags.to_vec();
        self
    }

    /// The whole frame: this header, `ethertype`, `payload`.
    pub fn frame(&self, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = [self.dst, self.src].concat();
        for (i, vid) in self.tags.iter().enumerate() {
            let tpid: u16 = if i + 1 < self.tags.len() {
                0x88a8
            } else {
                0x8100
            };
            frame.extend_from_slice(&tpid.to_be_bytes());
            frame.extend_from_slice(&vid.to_be_bytes());
        }
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }
}

/// An IP header, version 4 or 6: what a transport checksum and a frame need of it.
pub trait IpHeader {
    /// The EtherType of a frame carrying it.
    const ETHERTYPE: u16;

    /// The pseudo-header a transport checksum covers, for a `len`-byte segment
    /// of `protocol`.
    fn pseudo_header(&self, protocol: u8, len: usize) -> Vec<u8>;

    /// The packet: this header (checksum filled in where IPv4 has one) and
    /// `payload` of `protocol`.
    fn packet(&self, protocol: u8, payload: &[u8]) -> Vec<u8>;
}

/// The IPv4 header fields the tests choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub ident: u16,
    /// The flags (DF, MF) and fragment offset word.
    pub flags_fragment: u16,
    /// Options after the 20 fixed bytes, a multiple of 4 bytes long.
    pub options: Vec<u8>,
}

impl Ipv4 {
    /// A header from `src` to `dst`: TTL 64, ID 0, not a fragment, no options.
    pub fn new(src: [u8; 4], dst: [u8; 4]) -> Self {
        Ipv4 {
            src,
            dst,
            ttl: 64,
            ident: 0,
            flags_fragment: 0,
            options: Vec::new(),
        }
    }
}

impl IpHeader for Ipv4 {
    const ETHERTYPE: u16 = ETHERTYPE_IPV4;

    fn pseudo_header(&self, protocol: u8, len: usize) -> Vec<u8> {
        [
            &self.src[..],
            &self.dst,
            &[0, protocol],
            &(len as u16).to_be_bytes(),
        ]
        .concat()
    }

    fn packet(&self, protocol: u8, payload: &[u8]) -> Vec<u8> {
        let header_len = 20 + self.options.len();
        let version_ihl = 0x40 | (header_len / 4) as u8;
        let total = (header_len + payload.len()) as u16;
        let header = |checksum: u16| {
            [
                &[version_ihl, 0][..],
                &total.to_be_bytes(),
                &self.ident.to_be_bytes(),
                &self.flags_fragment.to_be_bytes(),
                &[self.ttl, protocol],
                &checksum.to_be_bytes(),
                &self.src,
                &self.dst,
                &self.options,
            ]
            .concat()
        };
        let sum = checksum(&[&header(0)]);
        [header(sum), payload.to_vec()].concat()
    }
}

/// The IPv6 header fields the tests choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub hop_limit: u8,
}

impl Ipv6 {
    /// A header from `src` to `dst` with hop limit 64.
    pub fn new(src: [u8; 16], dst: [u8; 16]) -> Self {
        Ipv6 {
            src,
            dst,
            hop_limit: 64,
        }
    }
}

impl IpHeader for Ipv6 {
    const ETHERTYPE: u16 = ETHERTYPE_IPV6;

    fn pseudo_header(&self, protocol: u8, len: usize) -> Vec<u8> {
        [
            &self.src[..],
            &self.dst,
            &(len as u32).to_be_bytes(),
            &[0, 0, 0, protocol],
        ]
        .concat()
    }

    fn packet(&self, protocol: u8, payload: &[u8]) -> Vec<u8> {
        [
            &[0x60, 0, 0, 0][..],
            &(payload.len() as u16).to_be_bytes(),
            &[protocol, self.hop_limit],
            &self.src,
            &self.dst,
            payload,
        ]
        .concat()
    }
}

/// A UDP datagram inside `ip` with its checksum (a computed 0 is sent as
/// `0xffff`, RFC 768).
pub fn udp(ip: &impl IpHeader, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let datagram = |checksum: u16| {
        [
            &sport.to_be_bytes()[..],
            &dport.to_be_bytes(),
            &(len as u16).to_be_bytes(),
            &checksum.to_be_bytes(),
            payload,
        ]
        .concat()
    };
    let sum = checksum(&[&ip.pseudo_header(UDP, len), &datagram(0)]);
    datagram(if sum == 0 { 0xffff } else { sum })
}

/// A whole frame: `ethernet`, `ip`, a UDP datagram from `sport` to `dport`
/// carrying `payload`.
pub fn udp_frame<I: IpHeader>(
    ethernet: &Ethernet,
    ip: &I,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let datagram = udp(ip, sport, dport, payload);
    ethernet.frame(I::ETHERTYPE, &ip.packet(UDP, &datagram))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071 §3's example: the words sum to 0xddf2, complemented 0x220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03], &[0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
        assert_eq!(checksum(&[&[0xff]]), !0xff00);
    }

    #[test]
    fn headers_and_datagrams_carry_checksums_that_verify() {
        let ip = Ipv4 {
            options: vec![1, 1, 1, 0],
            ..Ipv4::new(CLIENT_V4, SERVICE_V4)
        };
        let frame = udp_frame(
            &Ethernet::new(SERVER_MAC, CLIENT_MAC).tagged(&[5, 7]),
            &ip,
            CLIENT_PORT,
            53,
            b"dns",
        );
        assert_eq!(
            frame[12..24],
            [0x88, 0xa8, 0, 5, 0x81, 0, 0, 7, 8, 0, 0x46, 0]
        );
        let packet = &frame[22..];
        assert_eq!(checksum(&[&packet[..24]]), 0);
        let datagram = &packet[24..];
        assert_eq!(datagram.len(), 11);
        assert_eq!(checksum(&[&ip.pseudo_header(UDP, 11), datagram]), 0);

        let ip = Ipv6::new(CLIENT_V6, SERVICE_V6);
        let frame = udp_frame(&Ethernet::new(SERVER_MAC, CLIENT_MAC), &ip, 1, 53, b"");
        assert_eq!(frame[12..14], [0x86, 0xdd]);
        assert_eq!(frame[14 + 4..14 + 8], [0, 8, UDP, 64]);
        let datagram = &frame[54..];
        assert_eq!(checksum(&[&ip.pseudo_header(UDP, 8), datagram]), 0);
    }
}
