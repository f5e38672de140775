//! DNS queries in wire format, built field by field.
//!
//! [`query`] starts from what a stub resolver sends: a fixed ID ([`QUERY_ID`]),
//! RD set, one question of class IN, no EDNS. The builder methods change one
//! thing each, so a test says only what its query does differently; the bytes
//! are there to take ([`Query::bytes`]) or to break by hand.

use super::records::name;
use crate::record::RType;

/// The ID of every query whose test does not choose one.
pub const QUERY_ID: u16 = 0xABCD;
/// Recursion desired, the only flag a stub resolver sets.
const RD: u16 = 0x0100;
const CLASS_IN: u16 = 1;
const OPT: u16 = 41;
/// The DO bit in the high half of an OPT record's TTL flags (RFC 3225).
const DNSSEC_OK: u8 = 0x80;

/// A query under construction: [`Query::bytes`] is the message so far, which a
/// test may also change by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Header, question, then any OPT records.
    pub bytes: Vec<u8>,
    /// Where the question ends (its class is the two bytes before).
    question_end: usize,
}

/// A query for `qname` (presentation text, case kept) and `qtype`.
pub fn query(qname: &str, qtype: RType) -> Query {
    let bytes = [
        &QUERY_ID.to_be_bytes()[..],
        &RD.to_be_bytes(),
        &[0, 1, 0, 0, 0, 0, 0, 0],
        name(qname).as_wire(),
        &qtype.0.to_be_bytes(),
        &CLASS_IN.to_be_bytes(),
    ]
    .concat();
    Query {
        question_end: bytes.len(),
        bytes,
    }
}

impl Query {
    /// Another ID.
    pub fn id(self, id: u16) -> Self {
        self.with_word(0, id)
    }

    /// Another flags word (QR, opcode, AA, TC, RD, RA, Z, RCODE), RD included.
    pub fn flags(self, flags: u16) -> Self {
        self.with_word(2, flags)
    }

    /// Another question class.
    pub fn class(self, class: u16) -> Self {
        let at = self.question_end - 2;
        self.with_word(at, class)
    }

    /// One more EDNS OPT record in the additional section (called twice, two of
    /// them, which a server must refuse): UDP payload size, version and DO bit.
    pub fn edns(mut self, payload: u16, version: u8, dnssec_ok: bool) -> Self {
        let flags = if dnssec_ok { DNSSEC_OK } else { 0 };
        let opt = [
            &[0][..],
            &OPT.to_be_bytes(),
            &payload.to_be_bytes(),
            &[0, version, flags, 0],
            &[0, 0],
        ]
        .concat();
        self.bytes.extend_from_slice(&opt);
        let arcount = self.word(10).wrapping_add(1);
        self.with_word(10, arcount)
    }

    /// The message with the two-byte length in front that DNS over TCP sends.
    pub fn tcp(&self) -> Vec<u8> {
        [&(self.bytes.len() as u16).to_be_bytes()[..], &self.bytes].concat()
    }

    fn word(&self, at: usize) -> u16 {
        self.bytes
            .get(at..at + 2)
            .and_then(|word| word.try_into().ok())
            .map_or(0, u16::from_be_bytes)
    }

    fn with_word(mut self, at: usize, value: u16) -> Self {
        if let Some(word) = self.bytes.get_mut(at..at + 2) {
            word.copy_from_slice(&value.to_be_bytes());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_a_header_with_rd_and_one_question_of_class_in() {
        let wire = query("Web.Example", RType::AAAA).id(7).bytes;
        let expected = b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
            \x03Web\x07Example\x00\x00\x1c\x00\x01";
        assert_eq!(wire, expected);
    }

    #[test]
    fn edns_appends_an_opt_record_and_counts_it() {
        let wire = query("a.", RType::A).edns(1232, 0, true).bytes;
        assert_eq!(wire[10..12], [0, 1]);
        assert_eq!(
            wire[12 + 3 + 4..],
            [0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]
        );
        let twice = query("a.", RType::A)
            .edns(512, 1, false)
            .edns(512, 1, false);
        assert_eq!(twice.bytes[10..12], [0, 2]);
    }

    #[test]
    fn over_tcp_the_message_has_its_length_in_front() {
        let q = query("a.", RType::A).edns(512, 0, false).flags(0).class(3);
        let tcp = q.tcp();
        assert_eq!(tcp[..2], [0, 30]);
        assert_eq!(tcp[2..], q.bytes);
        assert_eq!(tcp[4..6], [0, 0]);
        assert_eq!(
            tcp[2 + 17..2 + 19],
            [0, 3],
            "the class, before the OPT record"
        );
    }
}
