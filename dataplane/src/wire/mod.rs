//! Checked views over untrusted DNS bytes.
//!
//! Nothing here trusts a length field: every read goes through `get`, and every
//! failure is a small `Copy` [`WireError`] that the engine maps to FORMERR or a drop.
//! Offsets into the fixed header are named in [`header::offset`].

pub mod edns;
pub mod error;
pub mod extras;
pub mod header;
pub mod question;
pub mod tsig;

pub use edns::{Edns, MAX_UDP_PAYLOAD, OPT_RR_LEN, find_opt, opt_record};
pub use error::WireError;
pub use extras::{Extras, find_extras};
pub use header::{HEADER_LEN, Header, Rcode};
pub use question::{Question, parse_question};
pub use tsig::{Tsig, TsigEcho};

/// Reads a big-endian `u16` at `at`.
#[inline]
pub fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    let bytes = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Reads a big-endian `u32` at `at`.
#[inline]
pub fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let hi = read_u16(buf, at)?;
    let lo = read_u16(buf, at.checked_add(2)?)?;
    Some(u32::from(hi) << 16 | u32::from(lo))
}

/// Writes a big-endian `u16` at `at`; `None` when it does not fit.
#[inline]
pub fn write_u16(buf: &mut [u8], at: usize, value: u16) -> Option<()> {
    buf.get_mut(at..at.checked_add(2)?)?
        .copy_from_slice(&value.to_be_bytes());
    Some(())
}

/// Skips a possibly compressed name starting at `at`, returning the offset after it.
/// Pointers are not followed (the name ends at the first pointer).
pub fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, WireError> {
    let mut total = 0usize;
    loop {
        let len = *buf.get(at).ok_or(WireError::Truncated)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => {
                total += usize::from(len) + 1;
                if total > crate::name::MAX_NAME_LEN {
                    return Err(WireError::NameTooLong);
                }
                at += usize::from(len) + 1;
            }
            0xC0 => {
                buf.get(at + 1).ok_or(WireError::Truncated)?;
                return Ok(at + 2);
            }
            _ => return Err(WireError::BadLabelType),
        }
    }
}

/// Compression pointers followed while copying one name: more cannot be a name
/// of at most 255 octets made of labels of at least one octet each.
const MAX_POINTERS: usize = 127;

/// Copies the possibly compressed name at `at` into `out`, uncompressed and in
/// the case it was sent in. Returns the name's length and the offset just past
/// it where it starts. Pointers may only point backwards, so none can loop.
pub fn copy_name(
    buf: &[u8],
    at: usize,
    out: &mut [u8; crate::name::MAX_NAME_LEN],
) -> Result<(usize, usize), WireError> {
    let mut pos = at;
    let mut len = 0usize;
    let mut end = None;
    let mut jumps = 0usize;
    loop {
        let label = *buf.get(pos).ok_or(WireError::Truncated)?;
        match label & 0xC0 {
            0x00 => {
                let bytes = buf
                    .get(pos..pos + 1 + usize::from(label))
                    .ok_or(WireError::Truncated)?;
                out.get_mut(len..len + bytes.len())
                    .ok_or(WireError::NameTooLong)?
                    .copy_from_slice(bytes);
                len += bytes.len();
                pos += bytes.len();
                if label == 0 {
                    return Ok((len, end.unwrap_or(pos)));
                }
            }
            0xC0 => {
                let low = *buf.get(pos + 1).ok_or(WireError::Truncated)?;
                let target = usize::from(label & 0x3F) << 8 | usize::from(low);
                jumps += 1;
                if target >= pos || jumps > MAX_POINTERS {
                    return Err(WireError::BadPointer);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(WireError::BadLabelType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_big_endian() {
        let mut buf = [0u8; 6];
        assert_eq!(write_u16(&mut buf, 4, 0xBEEF), Some(()));
        assert_eq!(read_u16(&buf, 4), Some(0xBEEF));
        assert_eq!(write_u16(&mut buf, 5, 1), None);
        assert_eq!(read_u32(&buf, 2), Some(0x0000_BEEF));
        assert_eq!(read_u32(&buf, 3), None);
        assert_eq!(read_u16(&buf, usize::MAX), None);
    }

    #[test]
    fn skips_names() {
        assert_eq!(skip_name(b"\x03www\x00rest", 0), Ok(5));
        assert_eq!(skip_name(b"\x03www\xc0\x0c", 0), Ok(6));
        assert_eq!(skip_name(b"\x03www", 0), Err(WireError::Truncated));
        assert_eq!(skip_name(b"\x03www\xc0", 0), Err(WireError::Truncated));
        assert_eq!(skip_name(b"\x43www\x00", 0), Err(WireError::BadLabelType));
    }

    #[test]
    fn copies_names_through_backward_pointers() {
        let mut out = [0u8; crate::name::MAX_NAME_LEN];
        let msg = b"\x03Www\x07example\x00\x03api\xc0\x04";
        assert_eq!(copy_name(msg, 0, &mut out), Ok((13, 13)));
        assert_eq!(&out[..13], b"\x03Www\x07example\x00");
        assert_eq!(copy_name(msg, 13, &mut out), Ok((13, 19)));
        assert_eq!(&out[..13], b"\x03api\x07example\x00");
        // Forwards, onto itself, past the end.
        assert_eq!(
            copy_name(b"\xc0\x02\x00", 0, &mut out),
            Err(WireError::BadPointer)
        );
        assert_eq!(
            copy_name(b"\xc0\x00", 0, &mut out),
            Err(WireError::BadPointer)
        );
        assert_eq!(copy_name(b"\x03ab", 0, &mut out), Err(WireError::Truncated));
        let long: Vec<u8> = [[63u8; 1].as_slice(), &[b'a'; 63]].concat().repeat(5);
        assert_eq!(copy_name(&long, 0, &mut out), Err(WireError::NameTooLong));
    }
}
