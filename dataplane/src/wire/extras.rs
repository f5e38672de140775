//! The records after a query's question that change how it is answered: the
//! OPT record (EDNS, [`super::edns`]) and the TSIG record ([`super::tsig`]).
//!
//! Every record of the answer, authority and additional sections is walked
//! once, without following compression pointers. A query may carry one OPT
//! record, in the additional section, owned by the root (RFC 6891 §6.1.1); and
//! one TSIG record, the very last record of the message (RFC 8945 §5.1: in any
//! other place it is a FORMERR). Anything else there is skipped.

use super::edns::{edns_of, options_are_well_formed};
use super::tsig::Tsig;
use super::{Edns, Header, WireError, read_u16, read_u32, skip_name};
use crate::record::RType;

/// Size of the fixed part of a resource record after its owner name: type,
/// class, TTL and RDLENGTH.
pub(super) const RR_FIXED_LEN: usize = 10;

/// What the records after the question say about how to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extras {
    /// The client's EDNS parameters, when it sent an OPT record.
    pub edns: Option<Edns>,
    /// The OPT record is readable but one of its options is not (a COOKIE of a
    /// length no cookie has, an option overrunning the record): the query is a
    /// FORMERR, answered with an OPT record since EDNS itself was understood.
    pub malformed_option: bool,
    /// The query is signed (a key ferrodns cannot know: it holds none).
    pub tsig: Option<Tsig>,
}

/// Walks the answer, authority and additional sections after `question_end`.
#[inline]
pub fn find_extras(buf: &[u8], header: &Header, question_end: usize) -> Result<Extras, WireError> {
    // Most queries carry nothing after the question, or only an OPT record.
    if header.ancount == 0 && header.nscount == 0 && header.arcount == 0 {
        return Ok(Extras {
            edns: None,
            malformed_option: false,
            tsig: None,
        });
    }
    walk(buf, header, question_end)
}

fn walk(buf: &[u8], header: &Header, question_end: usize) -> Result<Extras, WireError> {
    let mut extras = Extras {
        edns: None,
        malformed_option: false,
        tsig: None,
    };
    let mut at = question_end;
    let before_additional = u32::from(header.ancount) + u32::from(header.nscount);
    let total = before_additional + u32::from(header.arcount);
    for index in 0..total {
        let name_start = at;
        at = skip_name(buf, at)?;
        let rtype = read_u16(buf, at).ok_or(WireError::Truncated)?;
        let rdata = at + RR_FIXED_LEN;
        let rdlen = usize::from(read_u16(buf, at + 8).ok_or(WireError::Truncated)?);
        let end = rdata + rdlen;
        if end > buf.len() {
            return Err(WireError::Truncated);
        }
        if rtype == RType::OPT.0 {
            if index < before_additional {
                return Err(WireError::MisplacedOpt);
            }
            if extras.edns.is_some() {
                return Err(WireError::MultipleOpt);
            }
            if at != name_start + 1 {
                return Err(WireError::OptOwner);
            }
            let class = read_u16(buf, at + 2).ok_or(WireError::Truncated)?;
            let ttl = read_u32(buf, at + 4).ok_or(WireError::Truncated)?;
            extras.edns = Some(edns_of(class, ttl));
            if rdlen > 0 {
                let options = buf.get(rdata..end).ok_or(WireError::Truncated)?;
                extras.malformed_option = !options_are_well_formed(options);
            }
        } else if rtype == RType::TSIG.0 {
            if index + 1 != total || index < before_additional {
                return Err(WireError::MisplacedTsig);
            }
            extras.tsig = Some(Tsig::read(buf, name_start)?);
        }
        at = end;
    }
    Ok(extras)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// An OPT record carrying `options`.
    fn opt(options: &[u8]) -> Vec<u8> {
        let mut rr = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0];
        rr.extend_from_slice(&(options.len() as u16).to_be_bytes());
        rr.extend_from_slice(options);
        rr
    }

    fn cookie(len: usize) -> Vec<u8> {
        let mut option = vec![0, 10];
        option.extend_from_slice(&(len as u16).to_be_bytes());
        option.extend(std::iter::repeat_n(0xAB, len));
        option
    }

    /// A minimal TSIG record: owner `k.`, algorithm `a.`, no MAC.
    fn tsig() -> Vec<u8> {
        let rdata = [1, b'a', 0, 0, 0, 0, 0, 0, 1, 1, 44, 0, 0, 0, 7, 0, 0, 0, 0];
        let mut rr = vec![1, b'k', 0, 0, 250, 0, 255, 0, 0, 0, 0];
        rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        rr.extend_from_slice(&rdata);
        rr
    }

    #[test]
    fn cookies_of_a_length_rfc_7873_allows_are_well_formed() {
        for len in [8, 16, 24, 40] {
            let extras = find_extras(&opt(&cookie(len)), &header(0, 0, 1), 0);
            assert_eq!(extras.map(|e| e.malformed_option), Ok(false), "{len}");
        }
        for len in [0, 5, 9, 15, 41] {
            let extras = find_extras(&opt(&cookie(len)), &header(0, 0, 1), 0);
            assert_eq!(extras.map(|e| e.malformed_option), Ok(true), "{len}");
        }
        // Only the first COOKIE counts; other options are not looked into.
        let second = [cookie(8), cookie(3), vec![0, 3, 0, 0]].concat();
        let extras = find_extras(&opt(&second), &header(0, 0, 1), 0);
        assert_eq!(extras.map(|e| e.malformed_option), Ok(false));
        // An option longer than the record.
        let overrun = find_extras(&opt(&[0, 3, 0, 9, 1]), &header(0, 0, 1), 0);
        assert_eq!(overrun.map(|e| e.malformed_option), Ok(true));
    }

    #[test]
    fn a_tsig_record_must_be_the_last_record() {
        let last = [opt(&[]), tsig()].concat();
        let extras = find_extras(&last, &header(0, 0, 2), 0);
        assert!(extras.is_ok_and(|e| e.tsig.is_some() && e.edns.is_some()));
        let first = [tsig(), opt(&[])].concat();
        assert_eq!(
            find_extras(&first, &header(0, 0, 2), 0),
            Err(WireError::MisplacedTsig)
        );
        assert_eq!(
            find_extras(&tsig(), &header(1, 0, 0), 0),
            Err(WireError::MisplacedTsig)
        );
        let mut bad = tsig();
        bad[12] -= 1;
        bad.pop();
        assert_eq!(
            find_extras(&bad, &header(0, 0, 1), 0),
            Err(WireError::BadTsig)
        );
    }
}
