//! Answer policies: how an RRset with several targets is presented.
//!
//! - `round-robin` (default): every target, rotated per query.
//! - `random-one`: one target picked at random.
//! - `hone-one`: one target per client, stable while that target stays healthy.
//!
//! A policy is data the sources set and the compiler stamps into each compiled
//! address RRset (one byte, [`AnswerPolicy::to_byte`]); the engine applies it when
//! it writes the RRset (`engine/answer.rs`: rotation by the worker's per-query
//! entropy, and rendezvous hashing of client and target for `hone-one`, so a
//! failed target moves only its own clients).

use std::fmt;
use std::str::FromStr;

/// How an RRset is presented to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnswerPolicy {
    #[default]
    RoundRobin,
    RandomOne,
    HoneOne,
}

impl AnswerPolicy {
    pub const ALL: [AnswerPolicy; 3] = [
        AnswerPolicy::RoundRobin,
        AnswerPolicy::RandomOne,
        AnswerPolicy::HoneOne,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnswerPolicy::RoundRobin => "round-robin",
            AnswerPolicy::RandomOne => "random-one",
            AnswerPolicy::HoneOne => "hone-one",
        }
    }

    /// The byte stored in compiled RRsets.
    pub fn to_byte(self) -> u8 {
        match self {
            AnswerPolicy::RoundRobin => 0,
            AnswerPolicy::RandomOne => 1,
            AnswerPolicy::HoneOne => 2,
        }
    }

    pub fn from_byte(byte: u8) -> AnswerPolicy {
        match byte {
            1 => AnswerPolicy::RandomOne,
            2 => AnswerPolicy::HoneOne,
            _ => AnswerPolicy::RoundRobin,
        }
    }
}

/// A policy name that is not one of `round-robin`, `random-one`, `hone-one`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown answer policy {0:?} (expected round-robin, random-one or hone-one)")]
pub struct UnknownPolicy(pub String);

impl FromStr for AnswerPolicy {
    type Err = UnknownPolicy;
    fn from_str(text: &str) -> Result<Self, UnknownPolicy> {
        AnswerPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| UnknownPolicy(text.to_owned()))
    }
}

impl fmt::Display for AnswerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
