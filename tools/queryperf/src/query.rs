//! DNS messages as queryperf needs them: a query built once per query-file line,
//! and the three header fields of a reply that matter to a load generator (ID, QR
//! and RCODE).
//!
//! A [`QueryTemplate`] is the whole wire message with ID zero; sending it copies the
//! bytes and writes the ID into the first two, so the send loop does no encoding.
//!
//! A reply is taken for the answer to the query outstanding with its ID only when
//! it repeats that query's question ([`QueryTemplate::answered_by`]): a reply that
//! arrives after its query was given up, or a stray datagram to a port a new run
//! reused, would otherwise be matched to whatever query holds that ID now, with a
//! latency of a few microseconds.

/// A domain name in wire format (length-prefixed labels, ending with the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name(Vec<u8>);

/// Why text is not a domain name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum NameError {
    #[error("empty label")]
    EmptyLabel,
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    #[error("name longer than 255 bytes")]
    NameTooLong,
}

impl Name {
    /// `www.example.com` or `www.example.com.`; `.` is the root.
    pub(crate) fn parse(text: &str) -> Result<Name, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut wire = Vec::with_capacity(text.len() + 2);
        if !text.is_empty() {
            for label in text.split('.') {
                if label.is_empty() {
                    return Err(NameError::EmptyLabel);
                }
                let len = u8::try_from(label.len()).map_err(|_| NameError::LabelTooLong)?;
                if len > 63 {
                    return Err(NameError::LabelTooLong);
                }
                wire.push(len);
                wire.extend_from_slice(label.as_bytes());
            }
        }
        wire.push(0);
        if wire.len() > 255 {
            return Err(NameError::NameTooLong);
        }
        Ok(Name(wire))
    }

    pub(crate) fn wire(&self) -> &[u8] {
        &self.0
    }
}

/// The header flags queryperf sets: RD, as dnsperf does.
const FLAGS_RD: u16 = 0x0100;
/// The UDP payload size advertised with `-e`.
pub(crate) const EDNS_PAYLOAD: u16 = 4096;

/// Length of the DNS header.
const HEADER_LEN: usize = 12;
/// Offset of QDCOUNT in the header.
const QDCOUNT: usize = 4;

/// A query in wire format with ID zero.
#[derive(Debug, Clone)]
pub(crate) struct QueryTemplate {
    wire: Vec<u8>,
    /// Where the question ends in `wire`.
    question_end: usize,
}

impl QueryTemplate {
    /// The query for `name`/`qtype`, class IN, with an EDNS(0) OPT record when
    /// `edns` is set.
    pub(crate) fn new(name: &Name, qtype: u16, edns: bool) -> QueryTemplate {
        let mut wire = Vec::with_capacity(12 + name.wire().len() + 4 + 11);
        wire.extend_from_slice(&0u16.to_be_bytes());
        wire.extend_from_slice(&FLAGS_RD.to_be_bytes());
        let arcount: u16 = if edns { 1 } else { 0 };
        for count in [1u16, 0, 0, arcount] {
            wire.extend_from_slice(&count.to_be_bytes());
        }
        wire.extend_from_slice(name.wire());
        wire.extend_from_slice(&qtype.to_be_bytes());
        wire.extend_from_slice(&1u16.to_be_bytes());
        let question_end = wire.len();
        if edns {
            // Root owner, type OPT, class = payload size, TTL = extended RCODE,
            // version and flags (all zero), no options.
            wire.push(0);
            wire.extend_from_slice(&41u16.to_be_bytes());
            wire.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
            wire.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        QueryTemplate { wire, question_end }
    }

    /// The message with ID zero.
    pub(crate) fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub(crate) fn len(&self) -> usize {
        self.wire.len()
    }

    /// Writes this query with `id` into the front of `out`; returns its length.
    /// `out` must have room for it ([`crate::io::QUERY_MAX`] always does).
    pub(crate) fn write(&self, id: u16, out: &mut [u8]) -> usize {
        let len = self.wire.len();
        out[..len].copy_from_slice(&self.wire);
        out[..2].copy_from_slice(&id.to_be_bytes());
        len
    }

    /// Whether `reply` answers this query: it repeats the question (letter case
    /// aside: a server may answer in its own case), or carries none at all, as
    /// some error replies do.
    pub(crate) fn answered_by(&self, reply: &[u8]) -> bool {
        if reply.get(QDCOUNT..QDCOUNT + 2) == Some(&[0, 0]) {
            return true;
        }
        let question = &self.wire[HEADER_LEN..self.question_end];
        reply.get(QDCOUNT..QDCOUNT + 2) == Some(&[0, 1])
            && reply
                .get(HEADER_LEN..self.question_end)
                .is_some_and(|theirs| theirs.eq_ignore_ascii_case(question))
    }
}

/// The RCODE names dnsperf prints, by code (4-bit header RCODE).
pub(crate) const RCODE_NAMES: [&str; 16] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
];

/// The header fields of a reply that queryperf looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplyHeader {
    pub(crate) id: u16,
    pub(crate) rcode: u8,
}

/// The ID and RCODE of `message` when it is a response (QR=1) with a whole header;
/// `None` for anything else, which queryperf ignores.
pub(crate) fn reply_header(message: &[u8]) -> Option<ReplyHeader> {
    let header = message.get(..12)?;
    if header[2] & 0x80 == 0 {
        return None;
    }
    Some(ReplyHeader {
        id: u16::from_be_bytes([header[0], header[1]]),
        rcode: header[3] & 0x0f,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_wire_labels() {
        assert_eq!(Name::parse("a.bc.").unwrap().wire(), b"\x01a\x02bc\x00");
        assert_eq!(Name::parse("a.bc").unwrap().wire(), b"\x01a\x02bc\x00");
        assert_eq!(Name::parse(".").unwrap().wire(), b"\x00");
        assert_eq!(Name::parse("a..b"), Err(NameError::EmptyLabel));
        let long = vec!["abcdefghi"; 30].join(".");
        assert_eq!(Name::parse(&long), Err(NameError::NameTooLong));
    }

    #[test]
    fn a_query_carries_its_id_question_and_optional_opt() {
        let name = Name::parse("web.example.test").unwrap();
        let plain = QueryTemplate::new(&name, 33, false);
        let mut out = [0u8; 512];
        let len = plain.write(0xbeef, &mut out);
        let expected: &[u8] = b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
            \x03web\x07example\x04test\x00\x00\x21\x00\x01";
        assert_eq!(&out[..len], expected);

        let plain_len = len;
        let edns = QueryTemplate::new(&name, 1, true);
        let len = edns.write(7, &mut out);
        assert_eq!(len, plain_len + 11);
        assert_eq!(&out[10..12], &[0, 1], "ARCOUNT");
        assert_eq!(&out[len - 11..len - 6], &[0, 0, 41, 0x10, 0x00]);
    }

    #[test]
    fn a_reply_answers_the_query_whose_question_it_repeats() {
        let query = QueryTemplate::new(&Name::parse("Web.Example.test").unwrap(), 1, true);
        let mut reply = vec![0u8; 512];
        let len = query.write(9, &mut reply);
        reply.truncate(len);
        reply[2] |= 0x80;
        assert!(query.answered_by(&reply));
        reply[13..16].make_ascii_lowercase();
        assert!(query.answered_by(&reply), "the server's own letter case");
        let other = QueryTemplate::new(&Name::parse("www.example.test").unwrap(), 1, true);
        assert!(!other.answered_by(&reply), "another name");
        let aaaa = QueryTemplate::new(&Name::parse("web.example.test").unwrap(), 28, true);
        assert!(!aaaa.answered_by(&reply), "another type");
        assert!(!query.answered_by(&reply[..20]), "a cut question");
        reply[4..6].copy_from_slice(&[0, 0]);
        assert!(query.answered_by(&reply[..12]), "no question: FORMERR");
    }

    #[test]
    fn reply_headers_give_id_and_rcode_of_responses_only() {
        let mut reply = [0u8; 12];
        reply[..4].copy_from_slice(&[0x12, 0x34, 0x84, 0x03]);
        assert_eq!(
            reply_header(&reply),
            Some(ReplyHeader {
                id: 0x1234,
                rcode: 3
            })
        );
        reply[2] = 0x04;
        assert_eq!(reply_header(&reply), None, "a query is not a reply");
        assert_eq!(reply_header(&reply[..11]), None, "short header");
        assert_eq!(RCODE_NAMES[3], "NXDOMAIN");
    }
}
