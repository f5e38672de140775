//! Writing an answer over the query, in the same buffer.
//!
//! The header and question of the query are already the start of the answer (the
//! question keeps the client's case), so a [`Response`] begins just past the
//! question and appends records. It knows two sizes: the room for records, and the
//! room that also holds the OPT record, which is reserved up front so a full answer
//! never loses its EDNS. A write that does not fit returns [`Full`] and leaves the
//! buffer as it was before that record.

use crate::wire::header::{flags, offset};
use crate::wire::{Edns, HEADER_LEN, OPT_RR_LEN, Rcode, opt_record, write_u16};

/// The answer does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Sections a record can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

/// How a record's owner name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner<'n> {
    /// A compression pointer to a name already in the response.
    Pointer(usize),
    /// The name itself, uncompressed (when no pointer can reach it).
    Name(&'n [u8]),
}

/// Largest offset a compression pointer can hold.
pub(crate) const MAX_POINTER: usize = 0x3FFF;

/// A rollback point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    counts: [u16; 3],
}

/// An answer being written over its query.
#[derive(Debug)]
pub(crate) struct Response<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Room for records; the OPT record may use the bytes beyond it.
    limit: usize,
    counts: [u16; 3],
    question_end: usize,
}

impl<'a> Response<'a> {
    /// Starts after the question. `cap` is the most the answer may take in all; when
    /// `edns` is set, room for the OPT record is kept back from it.
    pub(crate) fn begin(buf: &'a mut [u8], question_end: usize, cap: usize, edns: bool) -> Self {
        let cap = cap.min(buf.len());
        let reserve = if edns { OPT_RR_LEN } else { 0 };
        Response {
            buf,
            len: question_end,
            limit: cap.saturating_sub(reserve),
            counts: [0; 3],
            question_end,
        }
    }

    /// The bytes written so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.len,
            counts: self.counts,
        }
    }

    pub(crate) fn reset(&mut self, mark: Mark) {
        self.len = mark.len;
        self.counts = mark.counts;
    }

    /// Drops every record, keeping the question (for TC=1 answers).
    pub(crate) fn clear_records(&mut self) {
        self.len = self.question_end;
        self.counts = [0; 3];
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.len.checked_add(bytes.len()).ok_or(Full)?;
        if end > self.limit {
            return Err(Full);
        }
        self.buf
            .get_mut(self.len..end)
            .ok_or(Full)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends one record: owner, then `record` (type, class, TTL, rdlength, rdata).
    /// Returns the offset where `record` starts.
    pub(crate) fn add(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        record: &[u8],
    ) -> Result<usize, Full> {
        let mark = self.mark();
        let written = match owner {
            Owner::Pointer(at) if at <= MAX_POINTER => {
                self.push(&(0xC000 | at as u16).to_be_bytes())
            }
            Owner::Pointer(_) => Err(Full),
            Owner::Name(name) => self.push(name),
        }
        .and_then(|()| {
            let start = self.len;
            self.push(record).map(|()| start)
        });
        match written {
            Ok(start) => {
                if let Some(count) = self.counts.get_mut(section as usize) {
                    *count = count.saturating_add(1);
                }
                Ok(start)
            }
            Err(full) => {
                self.reset(mark);
                Err(full)
            }
        }
    }

    pub(crate) fn count(&self, section: Section) -> u16 {
        self.counts.get(section as usize).copied().unwrap_or(0)
    }

    /// Writes header flags, counts and the OPT record; returns the answer's length.
    /// The query's opcode, RD and CD bits are copied (RFC 1035 §4.1.1, RFC 4035
    /// §3.2.2).
    pub(crate) fn finish(
        mut self,
        query_flags: u16,
        rcode: Rcode,
        authoritative: bool,
        truncated: bool,
        edns: Option<Edns>,
    ) -> usize {
        let mut additional = self.count(Section::Additional);
        if let Some(edns) = edns {
            let opt = opt_record(rcode.extended_bits(), edns.dnssec_ok);
            let end = self.len + OPT_RR_LEN;
            if let Some(slot) = self.buf.get_mut(self.len..end) {
                slot.copy_from_slice(&opt);
                self.len = end;
                additional = additional.saturating_add(1);
            }
        }
        let copied = flags::OPCODE_MASK | flags::RD | flags::CD;
        let mut response_flags = flags::QR | (query_flags & copied) | rcode.header_bits();
        if authoritative {
            response_flags |= flags::AA;
        }
        if truncated {
            response_flags |= flags::TC;
        }
        let qdcount = u16::from(self.question_end > HEADER_LEN);
        let fields = [
            (offset::FLAGS, response_flags),
            (offset::QDCOUNT, qdcount),
            (offset::ANCOUNT, self.count(Section::Answer)),
            (offset::NSCOUNT, self.count(Section::Authority)),
            (offset::ARCOUNT, additional),
        ];
        for (at, value) in fields {
            let _ = write_u16(self.buf, at, value);
        }
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_that_do_not_fit_leave_nothing_behind() {
        let mut buf = [0u8; 40];
        let mut response = Response::begin(&mut buf, 12, 30, false);
        assert_eq!(
            response.add(Section::Answer, Owner::Pointer(12), &[1; 10]),
            Ok(14)
        );
        assert_eq!(
            response.add(Section::Answer, Owner::Pointer(12), &[2; 10]),
            Err(Full)
        );
        assert_eq!(response.bytes().len(), 24);
        assert_eq!(
            response.add(Section::Answer, Owner::Pointer(MAX_POINTER + 1), &[]),
            Err(Full)
        );
        let len = response.finish(0x0100, Rcode::NoError, true, false, None);
        assert_eq!(len, 24);
        assert_eq!(&buf[2..12], &[0x85, 0x00, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn opt_room_is_reserved() {
        let mut buf = [0u8; 64];
        let edns = Edns {
            udp_payload: 512,
            version: 0,
            dnssec_ok: false,
        };
        let mut response = Response::begin(&mut buf, 12, 40, true);
        assert_eq!(
            response.add(Section::Answer, Owner::Name(b"\x00"), &[0; 16]),
            Ok(13)
        );
        assert_eq!(
            response.add(Section::Answer, Owner::Name(b"\x00"), &[0; 1]),
            Err(Full)
        );
        let len = response.finish(0, Rcode::BadVers, false, false, Some(edns));
        assert_eq!(len, 40);
        assert_eq!(buf[11], 1, "OPT counted in ARCOUNT");
        assert_eq!(buf[29 + 5], 1, "extended rcode in OPT");
    }
}
