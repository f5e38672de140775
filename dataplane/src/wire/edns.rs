//! EDNS(0) (RFC 6891): finding the OPT record in a query and writing ours.
//!
//! The sections after the question are walked record by record without following
//! compression pointers. At most one OPT may appear, only in the additional section,
//! owned by the root. Its options are skipped: unknown options are ignored.

use super::{Header, WireError, read_u16, read_u32, skip_name};
use crate::record::RType;

/// Size of the fixed part of a resource record after its owner name.
const RR_FIXED_LEN: usize = 10;
/// Length of an OPT record without options: root owner plus the fixed part.
pub const OPT_RR_LEN: usize = 1 + RR_FIXED_LEN;
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
/// the OPT record's parameters, if any.
pub fn find_opt(
    buf: &[u8],
    header: &Header,
    question_end: usize,
) -> Result<Option<Edns>, WireError> {
    let mut at = question_end;
    let before_additional = u32::from(header.ancount) + u32::from(header.nscount);
    let total = before_additional + u32::from(header.arcount);
    let mut edns = None;
    for index in 0..total {
        let name_start = at;
        at = skip_name(buf, at)?;
        let rtype = read_u16(buf, at).ok_or(WireError::Truncated)?;
        let class = read_u16(buf, at + 2).ok_or(WireError::Truncated)?;
        let ttl = read_u32(buf, at + 4).ok_or(WireError::Truncated)?;
        let rdlen = usize::from(read_u16(buf, at + 8).ok_or(WireError::Truncated)?);
        let end = at + RR_FIXED_LEN + rdlen;
        if end > buf.len() {
            return Err(WireError::Truncated);
        }
        if rtype == RType::OPT.0 {
            if index < before_additional {
                return Err(WireError::MisplacedOpt);
            }
            if edns.is_some() {
                return Err(WireError::MultipleOpt);
            }
            if at != name_start + 1 {
                return Err(WireError::OptOwner);
            }
            edns = Some(Edns {
                udp_payload: class,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & DNSSEC_OK != 0,
            });
        }
        at = end;
    }
    Ok(edns)
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
