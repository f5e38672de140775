//! The fixed 12-byte header (RFC 1035 §4.1.1).

use super::{WireError, read_u16, write_u16};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;

/// Byte offsets of the header fields.
pub mod offset {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
}

/// Bits of the 16-bit flags field.
pub mod flags {
    pub const QR: u16 = 0x8000;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const OPCODE_SHIFT: u16 = 11;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
    pub const RCODE_MASK: u16 = 0x000F;
}

/// Response codes ferrodns sends. `BadVers` is an extended code (RFC 6891): its
/// upper bits travel in the OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    BadVers = 16,
}

impl Rcode {
    /// The 4 bits that go in the header.
    pub fn header_bits(self) -> u16 {
        (self as u16) & flags::RCODE_MASK
    }

    /// The 8 bits that go in the OPT record's extended-rcode field.
    pub fn extended_bits(self) -> u8 {
        ((self as u16) >> 4) as u8
    }

    /// The rcode in a header's flags, when it is one of these.
    pub fn from_header_bits(flags: u16) -> Option<Rcode> {
        [
            Rcode::NoError,
            Rcode::FormErr,
            Rcode::ServFail,
            Rcode::NxDomain,
            Rcode::NotImp,
            Rcode::Refused,
        ]
        .into_iter()
        .find(|rcode| rcode.header_bits() == flags & flags::RCODE_MASK)
    }
}

/// The header fields, copied out of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Result<Header, WireError> {
        let field = |at| read_u16(buf, at).ok_or(WireError::Truncated);
        Ok(Header {
            id: field(offset::ID)?,
            flags: field(offset::FLAGS)?,
            qdcount: field(offset::QDCOUNT)?,
            ancount: field(offset::ANCOUNT)?,
            nscount: field(offset::NSCOUNT)?,
            arcount: field(offset::ARCOUNT)?,
        })
    }

    /// The header as it goes on the wire.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        let fields = [
            (offset::ID, self.id),
            (offset::FLAGS, self.flags),
            (offset::QDCOUNT, self.qdcount),
            (offset::ANCOUNT, self.ancount),
            (offset::NSCOUNT, self.nscount),
            (offset::ARCOUNT, self.arcount),
        ];
        for (at, value) in fields {
            let _ = write_u16(&mut bytes, at, value);
        }
        bytes
    }

    pub fn is_response(&self) -> bool {
        self.flags & flags::QR != 0
    }

    pub fn opcode(&self) -> u16 {
        (self.flags & flags::OPCODE_MASK) >> flags::OPCODE_SHIFT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let bytes = [0x12, 0x34, 0x81, 0x00, 0, 1, 0, 2, 0, 3, 0, 4];
        let header = Header::parse(&bytes).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(header.id, 0x1234);
        assert!(header.is_response());
        assert_eq!(header.opcode(), 0);
        assert_eq!(
            (
                header.qdcount,
                header.ancount,
                header.nscount,
                header.arcount
            ),
            (1, 2, 3, 4)
        );
        assert_eq!(Header::parse(&bytes[..11]), Err(WireError::Truncated));
        assert_eq!(header.to_bytes(), bytes);
    }

    #[test]
    fn splits_extended_rcodes() {
        assert_eq!(Rcode::BadVers.header_bits(), 0);
        assert_eq!(Rcode::BadVers.extended_bits(), 1);
        assert_eq!(Rcode::NxDomain.header_bits(), 3);
    }

    #[test]
    fn reads_rcodes_from_flags() {
        assert_eq!(Rcode::from_header_bits(0x8183), Some(Rcode::NxDomain));
        assert_eq!(Rcode::from_header_bits(0x8180), Some(Rcode::NoError));
        assert_eq!(Rcode::from_header_bits(0x8189), None);
    }
}
