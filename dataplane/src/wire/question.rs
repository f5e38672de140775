//! The question section: exactly one name, type and class.
//!
//! The name is checked label by label and copied, lowered, into a caller-provided
//! buffer that becomes the lookup key; the packet keeps the client's case so the
//! answer echoes it (0x20). A compression pointer in the question can only point
//! into the header or forward, so any pointer is a format error.

use super::{HEADER_LEN, WireError, read_u16};
use crate::name::MAX_NAME_LEN;

/// Where the question lies in the packet and what it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// Length of the wire name (root label included); the lowered copy has it too.
    pub name_len: usize,
    /// Offset just past QCLASS: the header plus question end here.
    pub end: usize,
    pub qtype: u16,
    pub qclass: u16,
}

/// Parses the question that follows the header, lowering the name into `lower`.
///
/// The name is checked label by label first, then lowered in one pass over its
/// whole length: per-label copies of a few bytes each cost more than the checks.
pub fn parse_question(buf: &[u8], lower: &mut [u8; MAX_NAME_LEN]) -> Result<Question, WireError> {
    let mut at = HEADER_LEN;
    loop {
        let len = *buf.get(at).ok_or(WireError::Truncated)?;
        match len & 0xC0 {
            0x00 => {}
            0xC0 => return Err(WireError::CompressedQuestion),
            _ => return Err(WireError::BadLabelType),
        }
        at += 1 + usize::from(len);
        if at > buf.len() {
            return Err(WireError::Truncated);
        }
        if at - HEADER_LEN > MAX_NAME_LEN {
            return Err(WireError::NameTooLong);
        }
        if len == 0 {
            break;
        }
    }
    let name_len = at - HEADER_LEN;
    let name = buf.get(HEADER_LEN..at).ok_or(WireError::Truncated)?;
    let slot = lower.get_mut(..name_len).ok_or(WireError::NameTooLong)?;
    // Length octets are below 64, so lowering them is a no-op.
    for (out, byte) in slot.iter_mut().zip(name) {
        *out = byte.to_ascii_lowercase();
    }
    let qtype = read_u16(buf, at).ok_or(WireError::Truncated)?;
    let qclass = read_u16(buf, at + 2).ok_or(WireError::Truncated)?;
    Ok(Question {
        name_len,
        end: at + 4,
        qtype,
        qclass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(name: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p.extend_from_slice(name);
        p.extend_from_slice(&[0, 1, 0, 1]);
        p
    }

    #[test]
    fn lowers_the_name_and_reads_type_and_class() {
        let mut lower = [0u8; MAX_NAME_LEN];
        let q = parse_question(&packet(b"\x03WwW\x07Example\x00"), &mut lower)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(&lower[..q.name_len], b"\x03www\x07example\x00");
        assert_eq!((q.qtype, q.qclass, q.end), (1, 1, HEADER_LEN + 13 + 4));
    }

    #[test]
    fn rejects_pointers_reserved_labels_and_long_names() {
        let mut lower = [0u8; MAX_NAME_LEN];
        assert_eq!(
            parse_question(&packet(b"\x03www\xc0\x0c"), &mut lower),
            Err(WireError::CompressedQuestion)
        );
        assert_eq!(
            parse_question(&packet(b"\x80www\x00"), &mut lower),
            Err(WireError::BadLabelType)
        );
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(
            parse_question(&packet(&long), &mut lower),
            Err(WireError::NameTooLong)
        );
        let exactly_255: Vec<u8> = {
            let mut n = Vec::new();
            for _ in 0..3 {
                n.push(63);
                n.extend_from_slice(&[b'a'; 63]);
            }
            n.push(61);
            n.extend_from_slice(&[b'b'; 61]);
            n.push(0);
            n
        };
        assert_eq!(exactly_255.len(), 255);
        assert!(parse_question(&packet(&exactly_255), &mut lower).is_ok());
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let full = packet(b"\x03www\x00");
        let mut lower = [0u8; MAX_NAME_LEN];
        for cut in HEADER_LEN..full.len() {
            assert_eq!(
                parse_question(&full[..cut], &mut lower),
                Err(WireError::Truncated),
                "cut at {cut}"
            );
        }
    }
}
