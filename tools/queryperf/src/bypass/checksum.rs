//! The Internet checksum (RFC 1071) as the generator needs it: sums of pieces
//! (pseudo-header, headers, the query's bytes) added together, so that what
//! does not change from one query to the next (the server's address and port,
//! the bytes of each query of the list) is summed once, before the run.

/// A ones'-complement sum of big-endian 16-bit words, not yet folded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sum(u64);

impl Sum {
    /// The sum of `bytes` as 16-bit words, an odd last byte padded with zero.
    /// Pieces added together must each start at an even offset of the summed
    /// data, as every piece here does.
    pub(crate) fn of(bytes: &[u8]) -> Sum {
        Sum(bytes
            .chunks(2)
            .map(|pair| {
                u64::from(u16::from_be_bytes([
                    pair[0],
                    pair.get(1).copied().unwrap_or(0),
                ]))
            })
            .sum())
    }

    /// This sum plus one word.
    pub(crate) fn word(self, value: u16) -> Sum {
        Sum(self.0 + u64::from(value))
    }

    /// This sum plus another.
    pub(crate) fn plus(self, other: Sum) -> Sum {
        Sum(self.0 + other.0)
    }

    /// The sum folded into 16 bits, end-around carries added back.
    pub(crate) fn folded(self) -> u16 {
        let mut value = self.0;
        while value > 0xffff {
            value = (value >> 16) + (value & 0xffff);
        }
        value as u16
    }

    /// The checksum field for data summed to this: the folded sum's complement.
    pub(crate) fn checksum(self) -> u16 {
        !self.folded()
    }

    /// The UDP checksum field: a computed zero goes out as all ones, since zero
    /// means "no checksum" (RFC 768).
    pub(crate) fn udp_checksum(self) -> u16 {
        match self.checksum() {
            0 => 0xffff,
            value => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::checksum;

    #[test]
    fn pieces_sum_like_the_whole_and_like_the_test_kit() {
        let data: Vec<u8> = (0..=255u8).cycle().take(301).collect();
        let whole = Sum::of(&data);
        let (head, tail) = data.split_at(100);
        assert_eq!(Sum::of(head).plus(Sum::of(tail)), whole);
        assert_eq!(whole.checksum(), checksum(&[&data]));
        assert_eq!(
            Sum::default().word(0x1234).word(0xff00),
            Sum::of(&[0x12, 0x34, 0xff, 0x00])
        );
    }

    #[test]
    fn data_with_its_checksum_folds_to_all_ones() {
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00,
            0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let checksum = Sum::of(&header).checksum();
        assert_eq!(checksum, 0xb861, "RFC 1071's worked example");
        header[10..12].copy_from_slice(&checksum.to_be_bytes());
        assert_eq!(Sum::of(&header).folded(), 0xffff);
    }
}
