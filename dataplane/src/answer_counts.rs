//! Answers counted by response code and question type, for `/metrics`.
//!
//! A poll loop counts each answer it sends in its private [`AnswerCounts`] (plain
//! integers, no shared writes per query) by reading two things back from the
//! answer itself: the RCODE in the header and the QTYPE after the question name
//! (the engine echoes the question uncompressed, so the name is a walk over a few
//! length bytes already in cache). After each batch the loop publishes the tally
//! to its own [`SharedAnswerCounts`] with relaxed stores, exactly like its other
//! counters; readers sum snapshots of every loop. Writers that share one
//! [`SharedAnswerCounts`] (the TCP connections) use [`SharedAnswerCounts::record`],
//! an atomic add, instead.
//!
//! Question types are grouped into the ones a service-discovery server sees
//! ([`QTYPES`]) and `other`. The RCODE is the header's four bits: an extended
//! RCODE (BADVERS, carried partly in the OPT record) counts under the header's
//! value.

use std::sync::atomic::{AtomicU64, Ordering};

/// Question types counted on their own, with their names; everything else is
/// counted as `other` (the last bucket).
pub const QTYPES: [(u16, &str); 10] = [
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (33, "SRV"),
    (255, "ANY"),
];

/// Number of question-type buckets: [`QTYPES`] plus `other`.
pub const QTYPE_BUCKETS: usize = QTYPES.len() + 1;

/// Number of header RCODE values.
pub const RCODES: usize = 16;

/// Offset of the flags byte holding the RCODE, and of the question.
const RCODE_BYTE: usize = 3;
const QDCOUNT: usize = 4;
const QUESTION: usize = 12;

/// The name of question-type bucket `bucket`.
pub fn qtype_name(bucket: usize) -> &'static str {
    QTYPES.get(bucket).map_or("other", |(_, name)| name)
}

/// The mnemonic of header RCODE `rcode` (RFC 6895 registry; unassigned values
/// as `RCODE<n>`).
pub fn rcode_name(rcode: usize) -> &'static str {
    const NAMES: [&str; RCODES] = [
        "NOERROR",
        "FORMERR",
        "SERVFAIL",
        "NXDOMAIN",
        "NOTIMP",
        "REFUSED",
        "YXDOMAIN",
        "YXRRSET",
        "NXRRSET",
        "NOTAUTH",
        "NOTZONE",
        "DSOTYPENI",
        "RCODE12",
        "RCODE13",
        "RCODE14",
        "RCODE15",
    ];
    NAMES.get(rcode).copied().unwrap_or("RCODE?")
}

/// `(rcode, qtype bucket)` of an answer; `None` when it is shorter than a header.
/// An answer without a readable question counts under `other`.
pub fn classify(answer: &[u8]) -> Option<(usize, usize)> {
    let rcode = usize::from(*answer.get(RCODE_BYTE)? & 0x0F);
    let other = QTYPE_BUCKETS - 1;
    let has_question = answer.get(QDCOUNT..QDCOUNT + 2)? != [0, 0];
    let bucket = has_question
        .then(|| question_type(answer))
        .flatten()
        .map_or(other, |qtype| {
            QTYPES
                .iter()
                .position(|(t, _)| *t == qtype)
                .unwrap_or(other)
        });
    Some((rcode, bucket))
}

/// The QTYPE after the first question's (uncompressed) name.
fn question_type(answer: &[u8]) -> Option<u16> {
    let mut at = QUESTION;
    loop {
        let len = usize::from(*answer.get(at)?);
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        at += 1 + len;
    }
    let qtype: [u8; 2] = answer.get(at + 1..at + 3)?.try_into().ok()?;
    Some(u16::from_be_bytes(qtype))
}

/// A private tally of answers by RCODE and question-type bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerCounts {
    counts: [[u64; QTYPE_BUCKETS]; RCODES],
}

impl Default for AnswerCounts {
    fn default() -> Self {
        AnswerCounts {
            counts: [[0; QTYPE_BUCKETS]; RCODES],
        }
    }
}

impl AnswerCounts {
    /// Counts one answer (see [`classify`]).
    pub fn count(&mut self, answer: &[u8]) {
        if let Some((rcode, bucket)) = classify(answer) {
            self.count_class(rcode, bucket);
        }
    }

    /// Counts one answer already classified as `(rcode, bucket)`.
    pub fn count_class(&mut self, rcode: usize, bucket: usize) {
        if let Some(cell) = self.counts.get_mut(rcode).and_then(|r| r.get_mut(bucket)) {
            *cell += 1;
        }
    }

    /// Answers counted with `rcode`, over every question type.
    pub fn with_rcode(&self, rcode: usize) -> u64 {
        self.counts.get(rcode).map_or(0, |row| row.iter().sum())
    }

    /// Answers counted with `rcode` for question-type bucket `bucket`.
    pub fn get(&self, rcode: usize, bucket: usize) -> u64 {
        self.counts
            .get(rcode)
            .and_then(|r| r.get(bucket))
            .copied()
            .unwrap_or(0)
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &AnswerCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
    }

    /// Every non-zero count as `(rcode name, qtype name, count)`.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        self.counts.iter().enumerate().flat_map(|(rcode, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(move |(bucket, n)| (rcode_name(rcode), qtype_name(bucket), *n))
        })
    }

    /// Answers counted per RCODE, over every question type.
    pub fn by_rcode(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .map(|(rcode, row)| (rcode_name(rcode), row.iter().sum::<u64>()))
            .filter(|(_, n)| *n > 0)
    }

    /// Every answer counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

/// Published counts, readable by anyone without locks.
#[derive(Debug)]
pub struct SharedAnswerCounts {
    counts: [[AtomicU64; QTYPE_BUCKETS]; RCODES],
}

impl Default for SharedAnswerCounts {
    fn default() -> Self {
        SharedAnswerCounts {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl SharedAnswerCounts {
    /// Publishes a single writer's running tally (relaxed stores).
    pub fn publish(&self, tally: &AnswerCounts) {
        for (shared, mine) in self.counts.iter().zip(&tally.counts) {
            for (s, m) in shared.iter().zip(mine) {
                s.store(*m, Ordering::Relaxed);
            }
        }
    }

    /// Counts one answer from one of several writers (an atomic add).
    pub fn record(&self, answer: &[u8]) {
        if let Some((rcode, bucket)) = classify(answer)
            && let Some(cell) = self.counts.get(rcode).and_then(|r| r.get(bucket))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> AnswerCounts {
        let mut out = AnswerCounts::default();
        for (mine, shared) in out.counts.iter_mut().zip(&self.counts) {
            for (m, s) in mine.iter_mut().zip(shared) {
                *m = s.load(Ordering::Relaxed);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer header with `rcode` and one question `name` of type `qtype`.
    fn answer(rcode: u8, name: &[&str], qtype: u16) -> Vec<u8> {
        let mut out = vec![0x12, 0x34, 0x84, rcode, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out
    }

    #[test]
    fn answers_are_counted_by_rcode_and_qtype() {
        let mut counts = AnswerCounts::default();
        counts.count(&answer(0, &["web", "svc", "test"], 1));
        counts.count(&answer(0, &["web", "svc", "test"], 1));
        counts.count(&answer(3, &["nope", "test"], 28));
        counts.count(&answer(0, &["_http", "_tcp", "test"], 33));
        counts.count(&answer(0, &["x"], 99));
        let seen: Vec<_> = counts.nonzero().collect();
        assert_eq!(
            seen,
            [
                ("NOERROR", "A", 2),
                ("NOERROR", "SRV", 1),
                ("NOERROR", "other", 1),
                ("NXDOMAIN", "AAAA", 1)
            ]
        );
        assert_eq!(
            counts.by_rcode().collect::<Vec<_>>(),
            [("NOERROR", 4), ("NXDOMAIN", 1)]
        );
        assert_eq!(counts.total(), 5);
    }

    #[test]
    fn answers_without_a_readable_question_count_as_other() {
        let mut no_question = answer(1, &["a"], 1);
        no_question[5] = 0;
        assert_eq!(classify(&no_question), Some((1, QTYPE_BUCKETS - 1)));
        let truncated = &answer(0, &["abc", "def"], 1)[..15];
        assert_eq!(classify(truncated), Some((0, QTYPE_BUCKETS - 1)));
        let mut pointer = answer(0, &["a"], 1);
        pointer[12] = 0xC0;
        assert_eq!(classify(&pointer), Some((0, QTYPE_BUCKETS - 1)));
        assert_eq!(classify(&[0, 0, 0]), None);
    }

    #[test]
    fn published_counts_read_back_and_shared_writers_add() {
        let mut tally = AnswerCounts::default();
        tally.count(&answer(5, &["x", "y"], 16));
        let shared = SharedAnswerCounts::default();
        shared.publish(&tally);
        assert_eq!(shared.snapshot(), tally);
        shared.record(&answer(5, &["x", "y"], 16));
        assert_eq!(shared.snapshot().get(5, 6), 2);
        let mut sum = shared.snapshot();
        sum.add(&tally);
        assert_eq!(sum.get(5, 6), 3);
    }
}
