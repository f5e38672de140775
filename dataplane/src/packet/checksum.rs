//! The Internet checksum (RFC 1071): the ones'-complement sum of 16-bit words.
//!
//! The sum is independent of byte order (RFC 1071 §2(B)): words are added as the
//! machine loads them, eight bytes at a time as two 32-bit halves into a `u64`
//! (no overflow below 2^31 chunks), and the result is folded to 16 bits and put in
//! network order once, at the end. Callers add the pieces of a checksum
//! (pseudo-header, header, payload) with [`Sum::add`] and take [`Sum::checksum`]
//! for the field.

/// A running ones'-complement sum, in the machine's byte order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sum(u64);

impl Sum {
    /// Adds `bytes` as 16-bit words; an odd last byte is padded with zero. Every
    /// piece but the last must have an even length, which every header piece here
    /// has.
    #[inline]
    pub(crate) fn add(self, bytes: &[u8]) -> Sum {
        let mut acc = self.0;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            let word = u64::from_ne_bytes(eight);
            acc += (word & 0xffff_ffff) + (word >> 32);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut tail = [0u8; 8];
            if let Some(slot) = tail.get_mut(..rest.len()) {
                slot.copy_from_slice(rest);
            }
            let word = u64::from_ne_bytes(tail);
            acc += (word & 0xffff_ffff) + (word >> 32);
        }
        Sum(acc)
    }

    /// Adds one 16-bit word given as a number (a length, a protocol).
    #[inline]
    pub(crate) fn add_u16(self, value: u16) -> Sum {
        Sum(self.0 + u64::from(u16::from_ne_bytes(value.to_be_bytes())))
    }

    /// The sum folded to 16 bits (not complemented), as a number: what a checksum
    /// offload expects in the UDP field (the pseudo-header sum).
    #[inline]
    pub(crate) fn folded(self) -> u16 {
        let mut acc = self.0;
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        u16::from_be_bytes((acc as u16).to_ne_bytes())
    }

    /// The checksum field value: the complement of the folded sum.
    #[inline]
    pub(crate) fn checksum(self) -> u16 {
        !self.folded()
    }

    /// Whether data that includes its own checksum field verifies.
    #[inline]
    pub(crate) fn verifies(self) -> bool {
        self.folded() == 0xffff
    }
}

/// The UDP checksum field for a computed checksum: zero means "no checksum" in
/// UDP, so a computed zero is sent as all ones (RFC 768).
#[inline]
pub(crate) fn udp_field(checksum: u16) -> u16 {
    if checksum == 0 { 0xffff } else { checksum }
}

/// Sum of the IPv4 pseudo-header (RFC 768).
#[inline]
pub(crate) fn ipv4_pseudo(src: &[u8], dst: &[u8], protocol: u8, len: u16) -> Sum {
    Sum::default()
        .add(src)
        .add(dst)
        .add_u16(u16::from(protocol))
        .add_u16(len)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1).
#[inline]
pub(crate) fn ipv6_pseudo(src: &[u8], dst: &[u8], next_header: u8, len: u32) -> Sum {
    Sum::default()
        .add(src)
        .add(dst)
        .add_u16((len >> 16) as u16)
        .add_u16(len as u16)
        .add_u16(u16::from(next_header))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Sum::default().add(&data).folded(), 0xddf2);
        assert_eq!(Sum::default().add(&data).checksum(), !0xddf2);
    }

    #[test]
    fn pieces_and_odd_lengths_sum_like_the_whole() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let naive = {
            let mut acc: u32 = 0;
            for pair in data.chunks(2) {
                let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
                acc += u32::from(word);
            }
            while acc >> 16 != 0 {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        };
        assert_eq!(Sum::default().add(&data).folded(), naive);
        for split in [400, 402, 6] {
            let (a, b) = data.split_at(split);
            assert_eq!(
                Sum::default().add(a).add(b).folded(),
                naive,
                "split {split}"
            );
        }
    }

    #[test]
    fn numbers_add_like_their_network_order_bytes() {
        let bytes = [0x12, 0x34, 0xab, 0xcd, 0x00, 0x11];
        let numbers = Sum::default()
            .add_u16(0x1234)
            .add_u16(0xabcd)
            .add_u16(0x0011);
        assert_eq!(numbers.folded(), Sum::default().add(&bytes).folded());
        assert_eq!(numbers.folded(), 0x1234 + 0xabcd + 0x0011);
    }

    #[test]
    fn data_with_its_checksum_verifies() {
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00,
            0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let checksum = Sum::default().add(&header).checksum();
        assert_eq!(checksum, 0xb861);
        header[10..12].copy_from_slice(&checksum.to_be_bytes());
        assert!(Sum::default().add(&header).verifies());
        header[3] ^= 1;
        assert!(!Sum::default().add(&header).verifies());
    }

    #[test]
    fn a_zero_udp_checksum_is_sent_as_all_ones() {
        assert_eq!(udp_field(0), 0xffff);
        assert_eq!(udp_field(0x1234), 0x1234);
    }
}
