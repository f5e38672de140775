//! The messages of a transfer answer (sans-IO), built with the project's own
//! wire code: [`RData::encode`] for record data, the dataplane's header layout
//! and OPT record. No DNS library is needed for this: an answer is a header, the
//! question echoed, and records appended, and writing them here keeps the one
//! encoding of record data the compiler uses.
//!
//! A zone is cut into messages of about [`MESSAGE_TARGET`] bytes (a record
//! larger than that travels alone, up to the 65,535 bytes of a TCP message), so
//! a transfer holds one message in memory however large the zone. The question
//! goes in the first message only (RFC 5936 §2.2.1 lets the others leave it
//! out); each message gets an OPT record when the query had one. Owner names are
//! compressed: the first owner of each message is written in full and every
//! later one is its own labels followed by a pointer to the apex written there.
//! Record data is not compressed.
//!
//! [`RData::encode`]: ferrodns_dataplane::record::RData::encode

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;
use ferrodns_dataplane::wire::header::flags;
use ferrodns_dataplane::wire::{OPT_RR_LEN, opt_record};

use super::query::TransferQuery;

/// Size a message grows to before the next record starts a new one.
pub const MESSAGE_TARGET: usize = 16 * 1024;
/// Largest DNS message over TCP.
const MAX_MESSAGE: usize = 65_535;
const CLASS_IN: u16 = 1;
/// ANCOUNT's offset in the header.
const ANCOUNT_AT: usize = 6;
/// ARCOUNT's offset in the header.
const ARCOUNT_AT: usize = 10;
/// The largest offset a compression pointer can reach.
const MAX_POINTER: usize = 0x3FFF;

/// Response codes a transfer answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    ServFail = 2,
    Refused = 5,
    NotAuth = 9,
}

/// A record that fits in no message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {0} does not fit in a 65535-byte message")]
pub struct TooLarge(pub String);

/// Builds the answer messages of one transfer query.
#[derive(Debug)]
pub struct Messages {
    id: u16,
    flags: u16,
    question: Vec<u8>,
    edns: bool,
    apex: Name,
    /// The message being filled.
    buf: Vec<u8>,
    records: u16,
    /// Where the apex is written in `buf`, for owners to point at.
    apex_at: Option<u16>,
    sent: usize,
}

impl Messages {
    /// The answer to `query` for zone `apex`, with `rcode`.
    pub fn new(query: &TransferQuery, apex: &Name, rcode: Rcode) -> Self {
        let mut bits = flags::QR | flags::AA | rcode as u16;
        if query.recursion_desired {
            bits |= flags::RD;
        }
        if rcode == Rcode::Refused || rcode == Rcode::NotAuth {
            bits &= !flags::AA;
        }
        let mut messages = Messages {
            id: query.id,
            flags: bits,
            question: query.question.clone(),
            edns: query.edns,
            apex: apex.clone(),
            buf: Vec::with_capacity(MESSAGE_TARGET + 512),
            records: 0,
            apex_at: None,
            sent: 0,
        };
        messages.start();
        messages
    }

    /// Messages finished so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Adds `record`; when it does not fit in the message being filled, that
    /// message comes back finished and the record starts the next.
    pub fn push(&mut self, record: &Record) -> Result<Option<Vec<u8>>, TooLarge> {
        let (mark, apex_at) = (self.buf.len(), self.apex_at);
        self.write(record);
        // The first record of a message may take it to the TCP limit; the
        // others only to the target size.
        let limit = if self.records == 0 {
            MAX_MESSAGE
        } else {
            MESSAGE_TARGET
        };
        if self.buf.len() + self.reserved() <= limit {
            self.records += 1;
            return Ok(None);
        }
        self.buf.truncate(mark);
        self.apex_at = apex_at;
        if self.records == 0 {
            return Err(TooLarge(record.to_string()));
        }
        let full = self.finish_message();
        self.start();
        self.write(record);
        if self.buf.len() + self.reserved() > MAX_MESSAGE {
            return Err(TooLarge(record.to_string()));
        }
        self.records = 1;
        Ok(Some(full))
    }

    /// The last message.
    pub fn finish(mut self) -> Vec<u8> {
        self.finish_message()
    }

    /// Bytes the OPT record will take at the end.
    fn reserved(&self) -> usize {
        if self.edns { OPT_RR_LEN } else { 0 }
    }

    /// A new message: header, and the question in the first one only.
    fn start(&mut self) {
        self.buf.clear();
        self.records = 0;
        self.apex_at = None;
        let qdcount: u16 = if self.sent == 0 { 1 } else { 0 };
        self.buf.extend_from_slice(&self.id.to_be_bytes());
        self.buf.extend_from_slice(&self.flags.to_be_bytes());
        self.buf.extend_from_slice(&qdcount.to_be_bytes());
        self.buf.extend_from_slice(&[0; 6]);
        if self.sent == 0 {
            self.buf.extend_from_slice(&self.question);
        }
    }

    /// Appends one record (owner compressed against the apex).
    fn write(&mut self, record: &Record) {
        let owner = record.name.as_wire();
        let apex = self.apex.as_wire();
        let prefix_len = if record.name.is_subdomain_of(&self.apex) {
            owner.len() - apex.len()
        } else {
            owner.len()
        };
        let prefix = owner.get(..prefix_len).unwrap_or_default();
        match self.apex_at {
            Some(at) if prefix_len < owner.len() => {
                self.buf.extend_from_slice(prefix);
                self.buf.extend_from_slice(&(0xC000 | at).to_be_bytes());
            }
            _ => {
                let apex_at = self.buf.len() + prefix_len;
                self.buf.extend_from_slice(owner);
                if prefix_len < owner.len() && apex_at <= MAX_POINTER {
                    // Below MAX_POINTER: fits the pointer's 14 bits.
                    self.apex_at = Some(apex_at as u16);
                }
            }
        }
        let mut rdata = Vec::new();
        record.data.encode(&mut rdata);
        self.buf.extend_from_slice(&record.rtype().0.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&record.ttl.to_be_bytes());
        // Longer rdata fails the size check that follows.
        self.buf
            .extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(u16::MAX).to_be_bytes());
        self.buf.extend_from_slice(&rdata);
    }

    /// The message being filled, its counts set and OPT added.
    fn finish_message(&mut self) -> Vec<u8> {
        if let Some(count) = self.buf.get_mut(ANCOUNT_AT..ANCOUNT_AT + 2) {
            count.copy_from_slice(&self.records.to_be_bytes());
        }
        if self.edns {
            self.buf.extend_from_slice(&opt_record(0, false));
            if let Some(count) = self.buf.get_mut(ARCOUNT_AT..ARCOUNT_AT + 2) {
                count.copy_from_slice(&1u16.to_be_bytes());
            }
        }
        self.sent += 1;
        std::mem::replace(&mut self.buf, Vec::with_capacity(MESSAGE_TARGET + 512))
    }
}
