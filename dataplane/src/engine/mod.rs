//! The sans-IO answer engine.
//!
//! [`Engine::respond`] takes a received packet in a buffer, a table version and a
//! [`QueryContext`], writes the answer over the query in the same buffer and says
//! what to do with it: [`Verdict::Reply`] with the answer's length, [`Verdict::Punt`]
//! for names outside every local zone (the buffer is left untouched for the
//! forwarder), or [`Verdict::Drop`]. It allocates nothing, takes no locks, makes no
//! syscalls and never panics, whatever the bytes.
//!
//! The rules, in the order they apply:
//!
//! 1. Unreadable header: drop. A response (QR=1): drop — never answer an answer.
//! 2. Opcode other than QUERY: NOTIMP. Not exactly one question, a broken
//!    question (pointer, reserved label type, over-long name, truncation) or a
//!    broken OPT record: FORMERR. EDNS version above 0: BADVERS.
//! 3. Class CHAOS: `version.bind`/`id.server` TXT when configured, else REFUSED.
//!    Other classes but IN: REFUSED. Zone transfers: NOTIMP.
//! 4. A name outside every local zone: punt when a forwarder takes such names
//!    ([`EngineConfig::forwarder`]), else REFUSED ([`Verdict::Refused`]).
//! 5. Otherwise an authoritative answer (`answer`); if the answer and authority
//!    sections do not fit the client's size (512, or its EDNS size capped at 1232;
//!    64 KiB over TCP), an empty answer with TC=1.

use std::net::IpAddr;

mod answer;
mod resolve;
mod response;
#[cfg(test)]
mod tests;

use crate::name::MAX_NAME_LEN;
use crate::record::RType;
use crate::table::TableVersion;
use crate::wire::{
    Edns, HEADER_LEN, Header, MAX_UDP_PAYLOAD, Question, Rcode, find_opt, parse_question,
};
use resolve::{Resolution, resolve};
use response::{Owner, Response, Section};

/// What the backend does with the buffer after [`Engine::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[..len]` back to the client.
    Reply(usize),
    /// The name is outside every local zone: hand the query to the forwarder.
    /// Only an engine with [`EngineConfig::forwarder`] punts.
    Punt,
    /// The name is outside every local zone and no forwarder takes it: send
    /// `buf[..len]`, a REFUSED answer, back to the client. Apart from
    /// [`Verdict::Reply`] so that backends can count what they refused.
    Refused(usize),
    /// Send nothing (a response, or bytes too broken to answer).
    Drop,
}

/// How the query arrived; decides the size limit of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Per-query facts the backend knows and the engine may use.
#[derive(Debug, Clone, Copy)]
pub struct QueryContext {
    /// The client's address (for `hone-one` stickiness).
    pub client: IpAddr,
    pub transport: Transport,
    /// A value the backend changes per query, from worker-local state (a counter or a
    /// cheap RNG): rotates round-robin RRsets and picks `random-one` targets without
    /// any shared write.
    pub entropy: u32,
}

impl Verdict {
    /// The length of the answer in the buffer, for [`Verdict::Reply`] and
    /// [`Verdict::Refused`] alike.
    pub fn answer_len(self) -> Option<usize> {
        match self {
            Verdict::Reply(len) | Verdict::Refused(len) => Some(len),
            Verdict::Punt | Verdict::Drop => None,
        }
    }
}

/// Engine settings that are not records.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Answer for CHAOS TXT `version.bind` / `version.server`; REFUSED when `None`.
    pub chaos_version: Option<String>,
    /// Answer for CHAOS TXT `id.server` / `hostname.bind`; REFUSED when `None`.
    pub chaos_id: Option<String>,
    /// A forwarder answers names outside every local zone: the engine punts
    /// them ([`Verdict::Punt`]) and the backends queue them for it. Without one
    /// the engine answers them REFUSED itself ([`Verdict::Refused`]).
    pub forwarder: bool,
}

/// Smallest answer size every client accepts over UDP (RFC 1035 §4.2.1).
const MIN_UDP_PAYLOAD: u16 = 512;
/// Largest DNS message over TCP (two-byte length prefix).
pub const MAX_TCP_MESSAGE: usize = 65535;
/// The Internet class.
pub const CLASS_IN: u16 = 1;
const CLASS_CH: u16 = 3;
/// QTYPEs that ask for transfers or mailbox meta-queries: not served.
const UNSUPPORTED_QTYPES: [u16; 4] = [251, 252, 253, 254];

/// The answer engine. Cheap to share: one per process, used by every worker.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    config: EngineConfig,
}

/// A query that passed the format checks. Its lowered name is in the buffer the
/// caller passed to [`parse_query`] (kept out of this struct so the 255 bytes are
/// not copied when it is returned).
#[derive(Clone, Copy)]
struct Query {
    header: Header,
    question: Question,
    edns: Option<Edns>,
}

impl Query {
    fn name<'l>(&self, lowered: &'l [u8; MAX_NAME_LEN]) -> &'l [u8] {
        lowered.get(..self.question.name_len).unwrap_or_default()
    }
}

/// Why a packet is not a query we answer normally.
enum Rejection {
    Drop,
    /// Answer with this rcode; the question is echoed when `question_end` is past
    /// the header.
    Error {
        header: Header,
        question_end: usize,
        rcode: Rcode,
    },
}

fn parse_query(packet: &[u8], lowered: &mut [u8; MAX_NAME_LEN]) -> Result<Query, Rejection> {
    let header = Header::parse(packet).map_err(|_| Rejection::Drop)?;
    if header.is_response() {
        return Err(Rejection::Drop);
    }
    let error = |question_end, rcode| Rejection::Error {
        header,
        question_end,
        rcode,
    };
    if header.opcode() != 0 {
        return Err(error(HEADER_LEN, Rcode::NotImp));
    }
    if header.qdcount != 1 {
        return Err(error(HEADER_LEN, Rcode::FormErr));
    }
    let question =
        parse_question(packet, lowered).map_err(|_| error(HEADER_LEN, Rcode::FormErr))?;
    let edns =
        find_opt(packet, &header, question.end).map_err(|_| error(question.end, Rcode::FormErr))?;
    Ok(Query {
        header,
        question,
        edns,
    })
}

/// The largest answer a client takes: 65535 bytes over TCP; over UDP 512, or its
/// EDNS payload size capped at [`MAX_UDP_PAYLOAD`].
pub fn size_cap(transport: Transport, edns: Option<Edns>) -> usize {
    match transport {
        Transport::Tcp => MAX_TCP_MESSAGE,
        Transport::Udp => usize::from(edns.map_or(MIN_UDP_PAYLOAD, |e| {
            e.udp_payload.clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
        })),
    }
}

/// An answer with no records: header, the question when there is one, OPT when the
/// query had one. Returns its length.
fn empty_answer(
    buf: &mut [u8],
    query_flags: u16,
    question_end: usize,
    edns: Option<Edns>,
    rcode: Rcode,
) -> usize {
    let cap = usize::from(MAX_UDP_PAYLOAD);
    let response = Response::begin(buf, question_end, cap, edns.is_some());
    response.finish(query_flags, rcode, false, false, edns)
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine { config }
    }

    /// Whether this engine punts names outside every local zone to a forwarder
    /// ([`EngineConfig::forwarder`]): the backends make punt queues only then.
    pub fn has_forwarder(&self) -> bool {
        self.config.forwarder
    }

    /// Answers the query in `buf[..len]` in place. `buf.len()` is the room the
    /// backend has (at least 512 for UDP, 65535 for TCP).
    pub fn respond(
        &self,
        table: &TableVersion,
        buf: &mut [u8],
        len: usize,
        ctx: &QueryContext,
    ) -> Verdict {
        let Some(packet) = buf.get(..len) else {
            return Verdict::Drop;
        };
        let mut lowered = [0u8; MAX_NAME_LEN];
        let query = match parse_query(packet, &mut lowered) {
            Ok(query) => query,
            Err(Rejection::Drop) => return Verdict::Drop,
            Err(Rejection::Error {
                header,
                question_end,
                rcode,
            }) => {
                return Verdict::Reply(empty_answer(buf, header.flags, question_end, None, rcode));
            }
        };
        let Query {
            header,
            question,
            edns,
            ..
        } = query;
        let empty =
            |buf: &mut [u8], rcode| empty_answer(buf, header.flags, question.end, edns, rcode);
        let refuse = |buf: &mut [u8], rcode| Verdict::Reply(empty(buf, rcode));
        if edns.is_some_and(|e| e.version > 0) {
            return refuse(buf, Rcode::BadVers);
        }
        match question.qclass {
            CLASS_IN => {}
            CLASS_CH => return self.chaos(buf, &query, query.name(&lowered), ctx),
            _ => return refuse(buf, Rcode::Refused),
        }
        if question.qtype == RType::OPT.0 {
            return refuse(buf, Rcode::FormErr);
        }
        if UNSUPPORTED_QTYPES.contains(&question.qtype) {
            return refuse(buf, Rcode::NotImp);
        }
        let qname = query.name(&lowered);
        let first = resolve(table, qname);
        if matches!(first, Resolution::OutOfZone) {
            return if self.config.forwarder {
                Verdict::Punt
            } else {
                Verdict::Refused(empty(buf, Rcode::Refused))
            };
        }
        let cap = size_cap(ctx.transport, edns);
        let mut response = Response::begin(buf, question.end, cap, edns.is_some());
        match answer::write_answer(table, &mut response, qname, question.qtype, first, ctx) {
            Ok(rcode) => Verdict::Reply(response.finish(header.flags, rcode, true, false, edns)),
            Err(_) => {
                response.clear_records();
                Verdict::Reply(response.finish(header.flags, Rcode::NoError, true, true, edns))
            }
        }
    }

    /// CHAOS-class identity queries (`dig CH TXT version.bind`).
    fn chaos(&self, buf: &mut [u8], query: &Query, qname: &[u8], ctx: &QueryContext) -> Verdict {
        let text = match qname {
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => {
                self.config.chaos_version.as_deref()
            }
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => {
                self.config.chaos_id.as_deref()
            }
            _ => None,
        };
        let qtype = query.question.qtype;
        let text = text.filter(|_| qtype == RType::TXT.0 || qtype == RType::ANY.0);
        let (flags, end, edns) = (query.header.flags, query.question.end, query.edns);
        let Some(text) = text else {
            return Verdict::Reply(empty_answer(buf, flags, end, edns, Rcode::Refused));
        };
        let text = text.as_bytes().get(..255).unwrap_or(text.as_bytes());
        let mut record = [0u8; 11 + 255];
        let rdlen = text.len() + 1;
        let header = [0, 16, 0, CLASS_CH as u8, 0, 0, 0, 0, 0, rdlen as u8];
        let fields = record.get_mut(..10).map(|s| s.copy_from_slice(&header));
        let length = record.get_mut(10).map(|s| *s = text.len() as u8);
        let body = record
            .get_mut(11..11 + text.len())
            .map(|s| s.copy_from_slice(text));
        let (Some(()), Some(()), Some(())) = (fields, length, body) else {
            return Verdict::Drop;
        };
        let mut response = Response::begin(buf, end, size_cap(ctx.transport, edns), edns.is_some());
        let written = response.add(
            Section::Answer,
            Owner::Pointer(HEADER_LEN),
            record.get(..10 + rdlen).unwrap_or_default(),
        );
        let truncated = written.is_err();
        Verdict::Reply(response.finish(flags, Rcode::NoError, true, truncated, edns))
    }
}

/// Rewrites the query in `buf[..len]` into a REFUSED answer (header and question
/// kept), byte for byte what the engine answers without a forwarder. For punted
/// queries the forwarder will not answer (over a rate limit, no upstream answer).
pub fn refuse(buf: &mut [u8], len: usize) -> Verdict {
    let Some(packet) = buf.get(..len) else {
        return Verdict::Drop;
    };
    let mut lowered = [0u8; MAX_NAME_LEN];
    match parse_query(packet, &mut lowered) {
        Ok(query) => Verdict::Reply(empty_answer(
            buf,
            query.header.flags,
            query.question.end,
            query.edns,
            Rcode::Refused,
        )),
        Err(Rejection::Drop) => Verdict::Drop,
        Err(Rejection::Error {
            header,
            question_end,
            rcode,
        }) => Verdict::Reply(empty_answer(buf, header.flags, question_end, None, rcode)),
    }
}
