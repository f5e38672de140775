//! Recognising a zone-transfer query among the TCP listener's queries (sans-IO).
//!
//! A transfer query is a query (QR=0, opcode QUERY) with one question of class
//! IN and type AXFR (252) or IXFR (251). An IXFR query carries the client's SOA
//! in its authority section (RFC 1995 §3); its serial tells whether the client is
//! already up to date. Anything else is left to the answer engine (which
//! answers a malformed transfer query FORMERR and a transfer of another class
//! NOTIMP, as it always has).

use ferrodns_dataplane::name::{MAX_NAME_LEN, Name};
use ferrodns_dataplane::wire::header::flags;
use ferrodns_dataplane::wire::{
    HEADER_LEN, Header, find_opt, parse_question, read_u16, read_u32, skip_name,
};

/// QTYPE of a full transfer (RFC 5936).
pub const AXFR: u16 = 252;
/// QTYPE of an incremental transfer (RFC 1995).
pub const IXFR: u16 = 251;
const CLASS_IN: u16 = 1;
const TYPE_SOA: u16 = 6;
/// Type, class, TTL and rdlength after a record's owner.
const RR_FIXED_LEN: usize = 10;
/// The five 32-bit fields that end SOA rdata; the serial is the first.
const SOA_NUMBERS_LEN: usize = 20;

/// A transfer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferQuery {
    pub id: u16,
    /// The query's RD bit, echoed.
    pub recursion_desired: bool,
    /// The question as sent (name in the client's case, type, class), echoed.
    pub question: Vec<u8>,
    /// The zone asked for.
    pub zone: Name,
    /// `None` for AXFR; for IXFR, the serial of the client's SOA when it gave one.
    pub ixfr_serial: Option<Option<u32>>,
    /// The query had an OPT record: each answer message gets one.
    pub edns: bool,
}

impl TransferQuery {
    /// The transfer `message` asks for; `None` when it is not a well-formed
    /// transfer query of class IN.
    pub fn parse(message: &[u8]) -> Option<TransferQuery> {
        let header = Header::parse(message).ok()?;
        if header.is_response() || header.opcode() != 0 || header.qdcount != 1 {
            return None;
        }
        let mut lowered = [0u8; MAX_NAME_LEN];
        let question = parse_question(message, &mut lowered).ok()?;
        if question.qclass != CLASS_IN || !matches!(question.qtype, AXFR | IXFR) {
            return None;
        }
        let edns = find_opt(message, &header, question.end).ok()?.is_some();
        let zone = Name::from_wire(lowered.get(..question.name_len)?)?;
        let ixfr_serial = if question.qtype == IXFR {
            let given = header.ancount == 0 && header.nscount >= 1;
            Some(given.then(|| soa_serial(message, question.end)).flatten())
        } else {
            None
        };
        Some(TransferQuery {
            id: header.id,
            recursion_desired: header.flags & flags::RD != 0,
            question: message.get(HEADER_LEN..question.end)?.to_vec(),
            zone,
            ixfr_serial,
            edns,
        })
    }

    pub fn is_ixfr(&self) -> bool {
        self.ixfr_serial.is_some()
    }
}

/// The serial of the SOA record at `at` (the first of the authority section).
fn soa_serial(message: &[u8], at: usize) -> Option<u32> {
    let fixed = skip_name(message, at).ok()?;
    if read_u16(message, fixed)? != TYPE_SOA {
        return None;
    }
    let rdlength = usize::from(read_u16(message, fixed + 8)?);
    let end = fixed + RR_FIXED_LEN + rdlength;
    if rdlength < SOA_NUMBERS_LEN + 2 || end > message.len() {
        return None;
    }
    read_u32(message, end - SOA_NUMBERS_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `zone` of `qtype`, with `authority` appended as the one
    /// authority record when given.
    fn query(zone: &str, qtype: u16, authority: Option<&[u8]>) -> Vec<u8> {
        let mut message = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        if authority.is_some() {
            message[9] = 1;
        }
        let name = Name::from_ascii(zone).unwrap_or_else(|e| unreachable!("{e}"));
        message.extend_from_slice(name.as_wire());
        message.extend_from_slice(&qtype.to_be_bytes());
        message.extend_from_slice(&CLASS_IN.to_be_bytes());
        message.extend_from_slice(authority.unwrap_or_default());
        message
    }

    #[test]
    fn axfr_and_ixfr_queries_are_recognised() {
        let axfr = TransferQuery::parse(&query("Cluster1.", AXFR, None));
        let axfr = axfr.unwrap_or_else(|| unreachable!());
        assert_eq!(axfr.id, 0x1234);
        assert_eq!(axfr.zone.to_string(), "cluster1.");
        assert!(axfr.recursion_desired && !axfr.is_ixfr() && !axfr.edns);
        assert_eq!(&axfr.question[..9], b"\x08Cluster1");

        // IXFR with the client's SOA (owner: a pointer to the question).
        let mut soa = vec![0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0];
        soa.extend_from_slice(&77u32.to_be_bytes());
        soa.extend_from_slice(&[0; 16]);
        let ixfr = TransferQuery::parse(&query("cluster1.", IXFR, Some(&soa)));
        assert_eq!(ixfr.map(|q| q.ixfr_serial), Some(Some(Some(77))));
        let bare = TransferQuery::parse(&query("cluster1.", IXFR, None));
        assert_eq!(bare.map(|q| q.ixfr_serial), Some(Some(None)));
    }

    #[test]
    fn other_messages_are_left_to_the_engine() {
        assert_eq!(TransferQuery::parse(&query("cluster1.", 1, None)), None);
        let mut response = query("cluster1.", AXFR, None);
        response[2] |= 0x80;
        assert_eq!(TransferQuery::parse(&response), None);
        let mut chaos = query("cluster1.", AXFR, None);
        let class_at = chaos.len() - 1;
        chaos[class_at] = 3;
        assert_eq!(TransferQuery::parse(&chaos), None);
        let truncated = query("cluster1.", AXFR, None);
        for len in 0..truncated.len() {
            assert_eq!(TransferQuery::parse(&truncated[..len]), None, "{len}");
        }
    }
}
