//! TSIG (RFC 8945): the record that signs a message, and the answer a server
//! that holds no key gives to a signed query.
//!
//! ferrodns has no TSIG keys, so every key is unknown to it. RFC 8945 §5.2.2:
//! a query signed with a key the server does not know gets RCODE NOTAUTH and,
//! as the last record, a TSIG record with the error BADKEY that is *unsigned*
//! (§5.3.2: MAC size 0, no MAC). That record repeats the key name, the
//! algorithm, the time signed, the fudge and the original ID of the query's
//! (Knot DNS answers alike; it copies the time signed too, and so do we: the
//! engine has no clock, and the client compares nothing else in an unsigned
//! error).
//!
//! The answer is written over the query, so the fields it repeats are first
//! copied out of the query ([`TsigEcho`]), on the stack.

use super::{WireError, copy_name, read_u16};
use crate::name::MAX_NAME_LEN;

/// Class ANY: a TSIG record's class.
const CLASS_ANY: u16 = 255;
/// TSIG error BADKEY (RFC 8945 §3, the IANA DNS RCODEs registry).
const BADKEY: u16 = 17;
/// Type, class, TTL and RDLENGTH after the owner name.
const RR_FIXED_LEN: usize = 10;
/// Time signed (48 bits) and fudge (16 bits).
const TIME_AND_FUDGE_LEN: usize = 8;
/// After the algorithm name in RDATA: time signed and fudge, MAC size.
const MAC_SIZE_AT: usize = TIME_AND_FUDGE_LEN;
/// After the MAC: original ID, error, other length.
const TAIL_LEN: usize = 6;

/// Where a query's TSIG record lies (the offset of its owner name), once
/// checked to hold every field RFC 8945 §4.2 lists. Small, since every parsed
/// query carries room for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tsig {
    /// A message is at most 65,535 bytes long.
    owner: u16,
}

/// The offsets of a TSIG record's parts.
struct Layout {
    /// The algorithm name, first in RDATA.
    rdata: usize,
    algorithm_end: usize,
    /// Just past the MAC.
    original_id: usize,
}

impl Tsig {
    /// Checks the TSIG record whose owner name starts at `owner`.
    pub(super) fn read(buf: &[u8], owner: usize) -> Result<Tsig, WireError> {
        layout(buf, owner)?;
        let owner = u16::try_from(owner).map_err(|_| WireError::BadTsig)?;
        Ok(Tsig { owner })
    }
}

fn layout(buf: &[u8], owner: usize) -> Result<Layout, WireError> {
    let mut scratch = [0u8; MAX_NAME_LEN];
    let (_, key_end) = copy_name(buf, owner, &mut scratch)?;
    let rdlen = read_u16(buf, key_end + RR_FIXED_LEN - 2).ok_or(WireError::Truncated)?;
    let rdata = key_end + RR_FIXED_LEN;
    let end = rdata + usize::from(rdlen);
    let (_, algorithm_end) = copy_name(buf, rdata, &mut scratch)?;
    let mac_size = read_u16(buf, algorithm_end + MAC_SIZE_AT).ok_or(WireError::BadTsig)?;
    let original_id = algorithm_end + MAC_SIZE_AT + 2 + usize::from(mac_size);
    let other_len = read_u16(buf, original_id + 4).ok_or(WireError::BadTsig)?;
    if original_id + TAIL_LEN + usize::from(other_len) != end || end > buf.len() {
        return Err(WireError::BadTsig);
    }
    Ok(Layout {
        rdata,
        algorithm_end,
        original_id,
    })
}

/// What the unsigned BADKEY record repeats of the query's TSIG record, copied
/// out before the answer overwrites the query.
#[derive(Debug, Clone)]
pub struct TsigEcho {
    key: [u8; MAX_NAME_LEN],
    key_len: usize,
    algorithm: [u8; MAX_NAME_LEN],
    algorithm_len: usize,
    time_and_fudge: [u8; TIME_AND_FUDGE_LEN],
    original_id: [u8; 2],
}

impl TsigEcho {
    /// Copies the fields of `tsig`, a record of `buf` found by
    /// [`find_extras`](super::find_extras).
    pub fn copy(buf: &[u8], tsig: Tsig) -> Result<TsigEcho, WireError> {
        let mut echo = TsigEcho {
            key: [0; MAX_NAME_LEN],
            key_len: 0,
            algorithm: [0; MAX_NAME_LEN],
            algorithm_len: 0,
            time_and_fudge: [0; TIME_AND_FUDGE_LEN],
            original_id: [0; 2],
        };
        let owner = usize::from(tsig.owner);
        let at = layout(buf, owner)?;
        (echo.key_len, _) = copy_name(buf, owner, &mut echo.key)?;
        (echo.algorithm_len, _) = copy_name(buf, at.rdata, &mut echo.algorithm)?;
        let time = buf
            .get(at.algorithm_end..at.algorithm_end + TIME_AND_FUDGE_LEN)
            .ok_or(WireError::BadTsig)?;
        echo.time_and_fudge.copy_from_slice(time);
        let id = buf
            .get(at.original_id..at.original_id + 2)
            .ok_or(WireError::BadTsig)?;
        echo.original_id.copy_from_slice(id);
        Ok(echo)
    }

    /// Length of the BADKEY record: owner, fixed fields, and RDATA.
    pub fn record_len(&self) -> usize {
        self.key_len + RR_FIXED_LEN + self.rdata_len()
    }

    fn rdata_len(&self) -> usize {
        self.algorithm_len + TIME_AND_FUDGE_LEN + 2 + TAIL_LEN
    }

    /// Writes the unsigned BADKEY record into `out` (at least
    /// [`record_len`](TsigEcho::record_len) bytes); `None` when it does not fit.
    pub fn write_badkey(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.record_len();
        let rdlen = u16::try_from(self.rdata_len()).ok()?;
        let key = self.key.get(..self.key_len)?;
        let algorithm = self.algorithm.get(..self.algorithm_len)?;
        let [rd_hi, rd_lo] = rdlen.to_be_bytes();
        let [class_hi, class_lo] = CLASS_ANY.to_be_bytes();
        let [type_hi, type_lo] = crate::record::RType::TSIG.0.to_be_bytes();
        let fixed = [
            type_hi, type_lo, class_hi, class_lo, 0, 0, 0, 0, rd_hi, rd_lo,
        ];
        let [err_hi, err_lo] = BADKEY.to_be_bytes();
        // MAC size 0 and no MAC; the query's ID; BADKEY; no other data.
        let tail = [
            0,
            0,
            self.original_id[0],
            self.original_id[1],
            err_hi,
            err_lo,
            0,
            0,
        ];
        let parts: [&[u8]; 5] = [key, &fixed, algorithm, &self.time_and_fudge, &tail];
        let mut at = 0usize;
        let slot = out.get_mut(..len)?;
        for part in parts {
            slot.get_mut(at..at + part.len())?.copy_from_slice(part);
            at += part.len();
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TSIG record owned by `key.`, hmac-sha256, time 1,000,000,000, fudge
    /// 300, a 4-byte MAC, original ID 0x1234, no error, no other data.
    fn record() -> Vec<u8> {
        let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0x3B, 0x9A, 0xCA, 0x00, 0x01, 0x2C]);
        rdata.extend_from_slice(&[0, 4, 1, 2, 3, 4, 0x12, 0x34, 0, 0, 0, 0]);
        let mut rr = b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00".to_vec();
        rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        rr.extend_from_slice(&rdata);
        rr
    }

    #[test]
    fn a_badkey_record_repeats_the_query_fields_unsigned() {
        let rr = record();
        let tsig = Tsig::read(&rr, 0).unwrap_or_else(|e| unreachable!("{e}"));
        let echo = TsigEcho::copy(&rr, tsig).unwrap_or_else(|e| unreachable!("{e}"));
        let mut out = [0u8; 64];
        let len = echo
            .write_badkey(&mut out)
            .unwrap_or_else(|| unreachable!());
        assert_eq!(len, echo.record_len());
        let mut expected = b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x1d".to_vec();
        expected.extend_from_slice(b"\x0bhmac-sha256\x00");
        expected.extend_from_slice(&[0, 0, 0x3B, 0x9A, 0xCA, 0x00, 0x01, 0x2C]);
        expected.extend_from_slice(&[0, 0, 0x12, 0x34, 0, 17, 0, 0]);
        assert_eq!(&out[..len], expected.as_slice());
        assert_eq!(echo.write_badkey(&mut out[..len - 1]), None);
    }

    #[test]
    fn rdata_that_does_not_add_up_is_malformed() {
        let mut short = record();
        short[14] -= 1;
        assert_eq!(Tsig::read(&short, 0), Err(WireError::BadTsig));
        let mut long_mac = record();
        long_mac[15 + 13 + 9] = 40;
        assert_eq!(Tsig::read(&long_mac, 0), Err(WireError::BadTsig));
    }
}
