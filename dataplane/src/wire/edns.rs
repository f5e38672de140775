//! EDNS(0) (RFC 6891): reading the OPT record of a query and writing ours.
//!
//! At most one OPT may appear, only in the additional section, owned by the root
//! ([`find_extras`] walks the records). Of its options only the COOKIE option's
//! length is checked (RFC 7873 §5.2.2: one of a length no cookie can have is a
//! FORMERR); unknown options are ignored.

use std::ops::RangeInclusive;

use super::extras::RR_FIXED_LEN;
use super::{Header, WireError, find_extras, read_u16};

/// Length of an OPT record without options: root owner plus the fixed part.
pub const OPT_RR_LEN: usize = 1 + RR_FIXED_LEN;
/// Option code and option length, before each option's data.
const OPTION_HEADER_LEN: usize = 4;
/// The COOKIE option's code (RFC 7873 §4).
const COOKIE: u16 = 10;
/// A client cookie alone.
const CLIENT_COOKIE_LEN: usize = 8;
/// A client cookie and a server cookie of 8 to 32 bytes.
const COOKIE_WITH_SERVER_LEN: RangeInclusive<usize> = 16..=40;
/// The payload size ferrodns advertises and caps clients at (the DNS flag day 2020
/// figure: fits common MTUs without fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// `DO` bit in the OPT TTL field (RFC 3225).
const DNSSEC_OK: u32 = 0x0000_8000;

/// The client's EDNS parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// Walks answer, authority and additional sections after `question_end` and returns
/// the OPT record's parameters, if any ([`find_extras`] says more).
pub fn find_opt(
    buf: &[u8],
    header: &Header,
    question_end: usize,
) -> Result<Option<Edns>, WireError> {
    find_extras(buf, header, question_end).map(|extras| extras.edns)
}

/// The parameters of the OPT record whose TTL field is `ttl` and whose class
/// field is `class`.
pub(super) fn edns_of(class: u16, ttl: u32) -> Edns {
    Edns {
        udp_payload: class,
        version: (ttl >> 16) as u8,
        dnssec_ok: ttl & DNSSEC_OK != 0,
    }
}

/// Whether the options of an OPT record (its RDATA) are well formed: each fits
/// in the RDATA, and the first COOKIE option (RFC 7873 §4; later ones are
/// ignored) is a client cookie alone (8 bytes) or with a server cookie of 8 to
/// 32 bytes. Other options are not looked into.
pub(super) fn options_are_well_formed(rdata: &[u8]) -> bool {
    let mut at = 0usize;
    let mut cookie_seen = false;
    while at < rdata.len() {
        let (Some(code), Some(len)) = (read_u16(rdata, at), read_u16(rdata, at + 2)) else {
            return false;
        };
        let len = usize::from(len);
        at += OPTION_HEADER_LEN + len;
        if at > rdata.len() {
            return false;
        }
        if code == COOKIE && !cookie_seen {
            cookie_seen = true;
            if !(len == CLIENT_COOKIE_LEN || COOKIE_WITH_SERVER_LEN.contains(&len)) {
                return false;
            }
        }
    }
    true
}

/// The OPT record of a response: our payload size, the extended rcode bits and the
/// client's DO bit echoed.
pub fn opt_record(extended_rcode: u8, dnssec_ok: bool) -> [u8; OPT_RR_LEN] {
    let payload = MAX_UDP_PAYLOAD.to_be_bytes();
    let do_bit = if dnssec_ok { 0x80 } else { 0 };
    [
        0,
        0,
        41,
        payload[0],
        payload[1],
        extended_rcode,
        0,
        do_bit,
        0,
        0,
        0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HEADER_LEN;

    fn header(an: u16, ns: u16, ar: u16) -> Header {
        Header {
            id: 0,
            flags: 0,
            qdcount: 1,
            ancount: an,
            nscount: ns,
            arcount: ar,
        }
    }

    const OPT_4096_DO: [u8; 11] = [0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn finds_the_opt_record() {
        let edns = find_opt(&OPT_4096_DO, &header(0, 0, 1), 0);
        assert_eq!(
            edns,
            Ok(Some(Edns {
                udp_payload: 4096,
                version: 0,
                dnssec_ok: true
            }))
        );
        assert_eq!(find_opt(&[], &header(0, 0, 0), 0), Ok(None));
    }

    #[test]
    fn skips_options_and_other_records() {
        let mut bytes =
            b"\x01a\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04".to_vec();
        bytes.extend_from_slice(&[0, 0, 41, 4, 0, 0, 1, 0, 0, 0, 8]);
        bytes.extend_from_slice(&[0xfe, 0xed, 0, 4, 1, 2, 3, 4]);
        let edns = find_opt(&bytes, &header(0, 0, 2), 0).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(edns.map(|e| (e.udp_payload, e.version)), Some((1024, 1)));
    }

    #[test]
    fn rejects_bad_opt_placement() {
        let two = [OPT_4096_DO, OPT_4096_DO].concat();
        assert_eq!(
            find_opt(&two, &header(0, 0, 2), 0),
            Err(WireError::MultipleOpt)
        );
        assert_eq!(
            find_opt(&OPT_4096_DO, &header(1, 0, 0), 0),
            Err(WireError::MisplacedOpt)
        );
        let named = [&[1, b'a'][..], &OPT_4096_DO[..]].concat();
        assert_eq!(
            find_opt(&named, &header(0, 0, 1), 0),
            Err(WireError::OptOwner)
        );
        assert_eq!(
            find_opt(&OPT_4096_DO[..10], &header(0, 0, 1), 0),
            Err(WireError::Truncated)
        );
        let long_rdata = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 5];
        assert_eq!(
            find_opt(&long_rdata, &header(0, 0, 1), 0),
            Err(WireError::Truncated)
        );
        assert_eq!(HEADER_LEN, 12);
    }

    #[test]
    fn writes_our_opt() {
        assert_eq!(
            opt_record(1, true),
            [0, 0, 41, 0x04, 0xd0, 1, 0, 0x80, 0, 0, 0]
        );
    }
}
