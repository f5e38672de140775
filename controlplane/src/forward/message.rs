//! DNS messages as the forwarder handles them: the client's query, the query sent
//! upstream, the upstream's response (fully decompressed, then scrubbed by
//! [`super::bailiwick`]) and the answer built from it.
//!
//! Upstream responses are untrusted bytes: every read is checked, compression
//! pointers may only point backwards, a name is at most 255 bytes, and a message
//! that does not parse is a failed attempt, never a panic.
//!
//! Answers are re-encoded rather than passed through: only the records the
//! scrubber kept go to the client or the cache, with name compression redone, and
//! the byte offsets of every TTL are remembered so a cached answer is served by
//! copying it and patching ID, flags, question case and TTLs.

use ferrodns_dataplane::engine::{MAX_TCP_MESSAGE, Transport, size_cap};
use ferrodns_dataplane::name::{MAX_NAME_LEN, lowercase_wire_in_place, suffix_offset};
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::wire::header::{flags, offset};
use ferrodns_dataplane::wire::{
    Edns, HEADER_LEN, Header, OPT_RR_LEN, Rcode, find_opt, opt_record, parse_question, read_u16,
    read_u32, write_u16,
};

/// Compression pointers followed while reading one name.
const MAX_POINTERS: usize = 64;
/// The two top bits of a length octet that make it a compression pointer.
const POINTER: u8 = 0xC0;
/// Names written below this offset may be pointed to later (a pointer holds 14
/// bits).
const POINTER_LIMIT: usize = 0x3FFF;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Two wire names are the same name (case-insensitive, RFC 4343).
pub(crate) fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `name` is `zone` or lies below it (label-wise, case-insensitive).
pub(crate) fn is_at_or_below(name: &[u8], zone: &[u8]) -> bool {
    suffix_offset(name, zone).is_some()
}

/// Reads the possibly compressed name at `at`: the name, uncompressed, with the
/// case it was sent in, and the offset just past it in place.
pub(crate) fn read_name(msg: &[u8], at: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut name = Vec::with_capacity(32);
    let mut pos = at;
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or(Malformed)?;
        match len & POINTER {
            0x00 if len == 0 => {
                name.push(0);
                if name.len() > MAX_NAME_LEN {
                    return Err(Malformed);
                }
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg.get(pos..pos + 1 + usize::from(len)).ok_or(Malformed)?;
                name.extend_from_slice(label);
                if name.len() >= MAX_NAME_LEN {
                    return Err(Malformed);
                }
                pos += label.len();
            }
            POINTER => {
                let low = *msg.get(pos + 1).ok_or(Malformed)?;
                let target = usize::from(len & !POINTER) << 8 | usize::from(low);
                // Only backwards: a pointer can never make a loop then.
                if target >= pos {
                    return Err(Malformed);
                }
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(Malformed);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(Malformed),
        }
    }
}

/// A piece of RDATA: bytes, or a domain name (decompressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Bytes(Vec<u8>),
    Name(Vec<u8>),
}

/// One resource record, names decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rr {
    pub(crate) name: Vec<u8>,
    pub(crate) rtype: RType,
    pub(crate) class: u16,
    pub(crate) ttl: u32,
    pub(crate) rdata: Vec<Part>,
}

impl Rr {
    /// The domain name an NS, CNAME, DNAME, MX or SRV record points to.
    pub(crate) fn target(&self) -> Option<&[u8]> {
        match self.rtype {
            RType::NS | RType::CNAME | RType::DNAME | RType::MX | RType::SRV => {
                self.rdata.iter().find_map(|part| match part {
                    Part::Name(name) => Some(name.as_slice()),
                    Part::Bytes(_) => None,
                })
            }
            _ => None,
        }
    }

    /// The SOA MINIMUM field (negative-caching TTL, RFC 2308).
    pub(crate) fn soa_minimum(&self) -> Option<u32> {
        if self.rtype != RType::SOA {
            return None;
        }
        match self.rdata.last() {
            Some(Part::Bytes(fields)) if fields.len() == 20 => read_u32(fields, 16),
            _ => None,
        }
    }
}

/// Types no zone of ferrodns holds, so [`RType`] has no names for them, whose
/// RDATA holds domain names (RFC 1035, RFC 3597 §4): the forwarder passes them on.
mod rare {
    use super::RType;
    pub(super) const MD: RType = RType(3);
    pub(super) const MF: RType = RType(4);
    pub(super) const MB: RType = RType(7);
    pub(super) const MG: RType = RType(8);
    pub(super) const MR: RType = RType(9);
    pub(super) const MINFO: RType = RType(14);
    pub(super) const RP: RType = RType(17);
    pub(super) const AFSDB: RType = RType(18);
    pub(super) const RT: RType = RType(21);
    pub(super) const KX: RType = RType(36);
}

/// How the RDATA of a type is laid out: fixed bytes before a name, names, fixed
/// bytes after. Only the types whose RDATA may hold compressed names (RFC 1035,
/// RFC 3597 §4) or commonly do (SRV) are taken apart; every other type is copied
/// as it is, which is right since new types must not use compression.
fn rdata_layout(rtype: RType) -> Option<(usize, usize, usize)> {
    use rare::*;
    Some(match rtype {
        RType::NS | MD | MF | RType::CNAME | MB | MG | MR | RType::PTR | RType::DNAME => (0, 1, 0),
        // Two names then five 32-bit fields.
        RType::SOA => (0, 2, 20),
        MINFO | RP => (0, 2, 0),
        // A preference then a name.
        RType::MX | AFSDB | RT | KX => (2, 1, 0),
        // Priority, weight, port, then the target.
        RType::SRV => (6, 1, 0),
        _ => return None,
    })
}

/// Types whose RDATA names may be compressed when we write them (RFC 3597 §4).
fn compressible(rtype: RType) -> bool {
    use rare::*;
    matches!(
        rtype,
        RType::NS
            | MD
            | MF
            | RType::CNAME
            | RType::SOA
            | MB
            | MG
            | MR
            | RType::PTR
            | MINFO
            | RType::MX
    )
}

fn read_rdata(msg: &[u8], rtype: RType, start: usize, len: usize) -> Result<Vec<Part>, Malformed> {
    let end = start + len;
    let raw = msg.get(start..end).ok_or(Malformed)?;
    let Some((before, names, after)) = rdata_layout(rtype) else {
        return Ok(vec![Part::Bytes(raw.to_vec())]);
    };
    let mut parts = Vec::with_capacity(3);
    let mut at = start;
    if before > 0 {
        parts.push(Part::Bytes(
            msg.get(at..at + before).ok_or(Malformed)?.to_vec(),
        ));
        at += before;
    }
    for _ in 0..names {
        if at >= end {
            return Err(Malformed);
        }
        let (name, next) = read_name(msg, at)?;
        parts.push(Part::Name(name));
        at = next;
    }
    if after > 0 {
        parts.push(Part::Bytes(
            msg.get(at..at + after).ok_or(Malformed)?.to_vec(),
        ));
        at += after;
    }
    if at != end {
        return Err(Malformed);
    }
    Ok(parts)
}

/// An upstream response, decompressed. OPT records are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) header: Header,
    pub(crate) qname: Vec<u8>,
    pub(crate) qtype: RType,
    pub(crate) qclass: u16,
    pub(crate) answer: Vec<Rr>,
    pub(crate) authority: Vec<Rr>,
    pub(crate) additional: Vec<Rr>,
}

impl Response {
    /// The rcode, `None` for one the dataplane has no name for.
    pub(crate) fn rcode(&self) -> Option<Rcode> {
        Rcode::from_header_bits(self.header.flags)
    }

    pub(crate) fn truncated(&self) -> bool {
        self.header.flags & flags::TC != 0
    }
}

/// The header and question of a message: what the spoofing checks look at
/// before anything else is read.
pub(crate) fn read_head(msg: &[u8]) -> Result<(Header, Vec<u8>, RType, u16, usize), Malformed> {
    let header = Header::parse(msg).map_err(|_| Malformed)?;
    if header.qdcount != 1 {
        return Err(Malformed);
    }
    let (qname, at) = read_name(msg, HEADER_LEN)?;
    let qtype = RType(read_u16(msg, at).ok_or(Malformed)?);
    let qclass = read_u16(msg, at + 2).ok_or(Malformed)?;
    Ok((header, qname, qtype, qclass, at + 4))
}

/// Reads a whole response.
pub(crate) fn parse_response(msg: &[u8]) -> Result<Response, Malformed> {
    let (header, qname, qtype, qclass, mut at) = read_head(msg)?;
    let mut sections: [Vec<Rr>; 3] = Default::default();
    let counts = [header.ancount, header.nscount, header.arcount];
    for (section, count) in sections.iter_mut().zip(counts) {
        for _ in 0..count {
            let (name, next) = read_name(msg, at)?;
            let rtype = RType(read_u16(msg, next).ok_or(Malformed)?);
            let class = read_u16(msg, next + 2).ok_or(Malformed)?;
            let ttl = read_u32(msg, next + 4).ok_or(Malformed)?;
            let rdlen = usize::from(read_u16(msg, next + 8).ok_or(Malformed)?);
            let rdata_at = next + 10;
            let rdata = read_rdata(msg, rtype, rdata_at, rdlen)?;
            at = rdata_at + rdlen;
            if rtype == RType::OPT {
                continue;
            }
            // RFC 2181 §8: a TTL with the top bit set is taken as 0.
            let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
            section.push(Rr {
                name,
                rtype,
                class,
                ttl,
                rdata,
            });
        }
    }
    let [answer, authority, additional] = sections;
    Ok(Response {
        header,
        qname,
        qtype,
        qclass,
        answer,
        authority,
        additional,
    })
}

/// What the client asked, read from its query (which the engine already checked).
#[derive(Debug, Clone)]
pub(crate) struct ClientQuery {
    pub(crate) id: u16,
    pub(crate) flags: u16,
    /// The question as the client wrote it (name in its case, type, class).
    pub(crate) question: Vec<u8>,
    /// The name, lowered, in wire format.
    pub(crate) qname: Vec<u8>,
    pub(crate) qtype: RType,
    pub(crate) qclass: u16,
    pub(crate) edns: Option<Edns>,
    /// Largest answer the client takes.
    pub(crate) limit: usize,
}

impl ClientQuery {
    pub(crate) fn parse(query: &[u8], transport: Transport) -> Option<ClientQuery> {
        let header = Header::parse(query).ok()?;
        if header.is_response() || header.qdcount != 1 || header.opcode() != 0 {
            return None;
        }
        let mut lowered = [0u8; MAX_NAME_LEN];
        let question = parse_question(query, &mut lowered).ok()?;
        let edns = find_opt(query, &header, question.end).ok()?;
        Some(ClientQuery {
            id: header.id,
            flags: header.flags,
            question: query.get(HEADER_LEN..question.end)?.to_vec(),
            qname: lowered.get(..question.name_len)?.to_vec(),
            qtype: RType(question.qtype),
            qclass: question.qclass,
            edns,
            limit: size_cap(transport, edns),
        })
    }

    pub(crate) fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    pub(crate) fn checking_disabled(&self) -> bool {
        self.flags & flags::CD != 0
    }

    /// An answer with no records and `rcode`: header, question, OPT when the
    /// client sent one. RA is set: the forwarder offers recursion.
    pub(crate) fn empty_answer(&self, rcode: Rcode, truncated: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.question.len() + OPT_RR_LEN);
        let mut flags = self.answer_flags(rcode);
        if truncated {
            flags |= flags::TC;
        }
        let header = Header {
            id: self.id,
            flags,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: u16::from(self.edns.is_some()),
        };
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&self.question);
        if let Some(edns) = self.edns {
            out.extend_from_slice(&opt_record(0, edns.dnssec_ok));
        }
        out
    }

    /// QR, RA, the rcode, and the client's RD and CD.
    fn answer_flags(&self, rcode: Rcode) -> u16 {
        flags::QR | flags::RA | (self.flags & (flags::RD | flags::CD)) | rcode.header_bits()
    }
}

/// The query sent upstream: a fresh ID, RD, the client's CD, the lowered name,
/// and an OPT record (our payload size, the client's DO bit).
pub(crate) fn upstream_query(
    id: u16,
    qname: &[u8],
    qtype: RType,
    qclass: u16,
    dnssec_ok: bool,
    checking_disabled: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + qname.len() + 4 + OPT_RR_LEN);
    let mut flags = flags::RD;
    if checking_disabled {
        flags |= flags::CD;
    }
    let header = Header {
        id,
        flags,
        qdcount: 1,
        ancount: 0,
        nscount: 0,
        arcount: 1,
    };
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(qname);
    out.extend_from_slice(&qtype.0.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    out.extend_from_slice(&opt_record(0, dnssec_ok));
    out
}

/// A forwarded answer ready to serve: header (ID 0, RD and CD clear), the
/// lowered question, the records; no OPT. Built once, served many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prepared {
    bytes: Vec<u8>,
    rcode: Rcode,
    /// Offset of each record's TTL field.
    ttl_offsets: Vec<usize>,
    question_end: usize,
    /// The records' owner names, lowered, each once.
    owners: Vec<Vec<u8>>,
}

/// Writes names with compression against the names already written.
struct Writer {
    out: Vec<u8>,
    /// Lowered name suffixes written so far and where.
    suffixes: Vec<(Vec<u8>, u16)>,
    ttl_offsets: Vec<usize>,
}

impl Writer {
    /// Writes `name` label by label; with `compress`, the first suffix already
    /// written becomes a pointer to it.
    fn name(&mut self, name: &[u8], compress: bool) {
        let mut start = 0;
        while let Some(tail) = name.get(start..)
            && let Some(&len) = tail.first()
            && len != 0
        {
            if compress
                && let Some(&(_, at)) = self.suffixes.iter().find(|(s, _)| same_name(s, tail))
            {
                self.out
                    .extend_from_slice(&(u16::from(POINTER) << 8 | at).to_be_bytes());
                return;
            }
            let here = self.out.len();
            if here < POINTER_LIMIT {
                let mut lowered = tail.to_vec();
                lowercase_wire_in_place(&mut lowered);
                self.suffixes.push((lowered, here as u16));
            }
            let end = start + 1 + usize::from(len);
            self.out
                .extend_from_slice(name.get(start..end).unwrap_or_default());
            start = end;
        }
        self.out.push(0);
    }

    fn record(&mut self, rr: &Rr) -> Result<(), Malformed> {
        self.name(&rr.name, true);
        self.out.extend_from_slice(&rr.rtype.0.to_be_bytes());
        self.out.extend_from_slice(&rr.class.to_be_bytes());
        self.ttl_offsets.push(self.out.len());
        self.out.extend_from_slice(&rr.ttl.to_be_bytes());
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        let compress = compressible(rr.rtype);
        for part in &rr.rdata {
            match part {
                Part::Bytes(bytes) => self.out.extend_from_slice(bytes),
                Part::Name(name) => self.name(name, compress),
            }
        }
        let rdlen = u16::try_from(self.out.len() - len_at - 2).map_err(|_| Malformed)?;
        if let Some(slot) = self.out.get_mut(len_at..len_at + 2) {
            slot.copy_from_slice(&rdlen.to_be_bytes());
        }
        Ok(())
    }
}

impl Prepared {
    /// Encodes an answer. Fails when it would not fit in a DNS message.
    pub(crate) fn build(
        qname: &[u8],
        qtype: RType,
        qclass: u16,
        rcode: Rcode,
        sections: [&[Rr]; 3],
    ) -> Result<Prepared, Malformed> {
        let [answer, authority, additional] =
            sections.map(|section| u16::try_from(section.len()).map_err(|_| Malformed));
        let header = Header {
            id: 0,
            flags: flags::QR | flags::RA | rcode.header_bits(),
            qdcount: 1,
            ancount: answer?,
            nscount: authority?,
            arcount: additional?,
        };
        let mut w = Writer {
            out: Vec::with_capacity(512),
            suffixes: Vec::new(),
            ttl_offsets: Vec::new(),
        };
        w.out.extend_from_slice(&header.to_bytes());
        let mut lowered = qname.to_vec();
        lowercase_wire_in_place(&mut lowered);
        w.name(&lowered, false);
        w.out.extend_from_slice(&qtype.0.to_be_bytes());
        w.out.extend_from_slice(&qclass.to_be_bytes());
        let question_end = w.out.len();
        let mut owners: Vec<Vec<u8>> = Vec::new();
        for rr in sections.into_iter().flatten() {
            w.record(rr)?;
            if !owners.iter().any(|owner| same_name(owner, &rr.name)) {
                let mut owner = rr.name.clone();
                lowercase_wire_in_place(&mut owner);
                owners.push(owner);
            }
        }
        if w.out.len() > MAX_TCP_MESSAGE - OPT_RR_LEN {
            return Err(Malformed);
        }
        Ok(Prepared {
            bytes: w.out,
            rcode,
            ttl_offsets: w.ttl_offsets,
            question_end,
            owners,
        })
    }

    /// The owner names of its records, lowered, each once.
    pub(crate) fn owners(&self) -> impl Iterator<Item = &[u8]> {
        self.owners.iter().map(Vec::as_slice)
    }

    /// The answer for `client`, `elapsed` seconds after it was stored: the
    /// client's ID, RD and CD, its question (case included), TTLs decreased, an
    /// OPT when the client sent one. An empty answer with TC=1 when it does not
    /// fit the client's size.
    pub(crate) fn render(&self, client: &ClientQuery, elapsed: u32) -> Vec<u8> {
        let opt_len = if client.edns.is_some() { OPT_RR_LEN } else { 0 };
        if self.bytes.len() + opt_len > client.limit
            || self.question_end != HEADER_LEN + client.question.len()
        {
            return client.empty_answer(self.rcode, true);
        }
        let mut out = Vec::with_capacity(self.bytes.len() + opt_len);
        out.extend_from_slice(&self.bytes);
        write_u16(&mut out, offset::ID, client.id);
        write_u16(&mut out, offset::FLAGS, client.answer_flags(self.rcode));
        if let Some(question) = out.get_mut(HEADER_LEN..self.question_end) {
            question.copy_from_slice(&client.question);
        }
        for &at in &self.ttl_offsets {
            if let Some(field) = out.get_mut(at..at + 4) {
                let ttl = read_u32(field, 0).unwrap_or(0).saturating_sub(elapsed);
                field.copy_from_slice(&ttl.to_be_bytes());
            }
        }
        if let Some(edns) = client.edns {
            out.extend_from_slice(&opt_record(0, edns.dnssec_ok));
            let arcount = read_u16(&out, offset::ARCOUNT)
                .unwrap_or(0)
                .saturating_add(1);
            write_u16(&mut out, offset::ARCOUNT, arcount);
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ferrodns_dataplane::engine::CLASS_IN;
    use ferrodns_dataplane::testkit::{name, query};

    pub(crate) fn wire(text: &str) -> Vec<u8> {
        name(text).as_wire().to_vec()
    }

    pub(crate) fn rr(name: &str, rtype: RType, ttl: u32, rdata: Vec<Part>) -> Rr {
        Rr {
            name: wire(name),
            rtype,
            class: CLASS_IN,
            ttl,
            rdata,
        }
    }

    pub(crate) fn a(name: &str, ttl: u32, ip: [u8; 4]) -> Rr {
        rr(name, RType::A, ttl, vec![Part::Bytes(ip.to_vec())])
    }

    pub(crate) fn cname(name: &str, ttl: u32, target: &str) -> Rr {
        rr(name, RType::CNAME, ttl, vec![Part::Name(wire(target))])
    }

    pub(crate) fn soa(name: &str, ttl: u32, minimum: u32) -> Rr {
        let mut fields = vec![0u8; 16];
        fields.extend_from_slice(&minimum.to_be_bytes());
        rr(
            name,
            RType::SOA,
            ttl,
            vec![
                Part::Name(wire(&format!("ns.{name}"))),
                Part::Name(wire(&format!("hostmaster.{name}"))),
                Part::Bytes(fields),
            ],
        )
    }

    fn client(query: &[u8], transport: Transport) -> ClientQuery {
        ClientQuery::parse(query, transport).unwrap()
    }

    #[test]
    fn names_decompress_and_pointers_must_go_backwards() {
        let mut msg = vec![0u8; HEADER_LEN];
        msg.extend_from_slice(b"\x03www\x07Example\x00");
        msg.extend_from_slice(b"\x04mail\xc0\x10"); // -> "Example."
        let (name, end) = read_name(&msg, HEADER_LEN + 13).unwrap();
        assert_eq!(name, b"\x04mail\x07Example\x00");
        assert_eq!(end, msg.len());
        // A pointer to itself, or forwards, is refused.
        let mut looped = vec![0u8; HEADER_LEN];
        looped.extend_from_slice(&[0xC0, HEADER_LEN as u8]);
        assert_eq!(read_name(&looped, HEADER_LEN), Err(Malformed));
        assert_eq!(read_name(b"\x03ww", 0), Err(Malformed));
        assert_eq!(read_name(b"\x80", 0), Err(Malformed));
    }

    #[test]
    fn subdomains_are_label_wise() {
        assert!(is_at_or_below(
            &wire("a.Corp.example."),
            &wire("corp.example.")
        ));
        assert!(is_at_or_below(
            &wire("corp.example."),
            &wire("corp.example.")
        ));
        assert!(!is_at_or_below(
            &wire("xcorp.example."),
            &wire("corp.example.")
        ));
        assert!(!is_at_or_below(&wire("example."), &wire("corp.example.")));
        assert!(is_at_or_below(&wire("anything."), &[0]));
    }

    #[test]
    fn built_answers_parse_back_and_render_for_the_client() {
        let records = [
            cname("www.example.", 300, "web.example."),
            a("web.example.", 60, [10, 0, 0, 1]),
        ];
        let authority = [soa("example.", 3600, 30)];
        let prepared = Prepared::build(
            &wire("www.example."),
            RType::A,
            CLASS_IN,
            Rcode::NoError,
            [&records, &authority, &[]],
        )
        .unwrap();
        let q = query("WwW.example.", RType::A)
            .id(0xBEEF)
            .edns(4096, 0, true)
            .bytes;
        let out = prepared.render(&client(&q, Transport::Udp), 10);
        let parsed = parse_response(&out).unwrap();
        assert_eq!(parsed.header.id, 0xBEEF);
        let f = parsed.header.flags;
        assert!(f & flags::QR != 0 && f & flags::RA != 0 && f & flags::RD != 0);
        assert_eq!(f & flags::AA, 0);
        assert_eq!(parsed.qname, b"\x03WwW\x07example\x00", "client's case");
        assert_eq!(parsed.answer[0].ttl, 290);
        assert_eq!(parsed.answer[1].ttl, 50);
        assert_eq!(parsed.answer[1].name, wire("web.example."));
        assert_eq!(parsed.authority[0].soa_minimum(), Some(30));
        assert_eq!(parsed.header.arcount, 1, "OPT appended");
        // Compression made it smaller than the names written out.
        assert!(out.len() < 130, "{}", out.len());
        // Without EDNS and over 512 bytes: TC and nothing else.
        let many: Vec<Rr> = (0..40)
            .map(|i| a("web.example.", 60, [10, 0, 0, i]))
            .collect();
        let big = Prepared::build(
            &wire("web.example."),
            RType::A,
            CLASS_IN,
            Rcode::NoError,
            [&many, &[], &[]],
        )
        .unwrap();
        let plain = query("web.example.", RType::A).id(7).bytes;
        let out = big.render(&client(&plain, Transport::Udp), 0);
        let parsed = parse_response(&out).unwrap();
        assert!(parsed.truncated() && parsed.answer.is_empty());
        let out = big.render(&client(&plain, Transport::Tcp), 0);
        assert_eq!(parse_response(&out).unwrap().answer.len(), 40);
    }

    #[test]
    fn upstream_queries_carry_rd_do_and_the_lowered_name() {
        let q = upstream_query(42, &wire("a.example."), RType::AAAA, CLASS_IN, true, false);
        let parsed = ClientQuery::parse(&q, Transport::Udp).unwrap();
        assert_eq!(parsed.id, 42);
        assert!(parsed.flags & flags::RD != 0);
        assert!(parsed.dnssec_ok());
        assert_eq!(parsed.qtype, RType::AAAA);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678u32;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let _ = parse_response(&bytes);
            let mut valid =
                upstream_query(1, &wire("x.example."), RType::A, CLASS_IN, false, false);
            valid.extend_from_slice(&bytes);
            valid[7] = 3;
            let _ = parse_response(&valid);
        }
    }
}
