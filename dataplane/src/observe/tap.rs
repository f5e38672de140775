//! Entries of the query log: a DNS message with who sent it, how and when,
//! copied into a fixed-size slot so that a poll loop can queue it without
//! allocating. The control plane's writer turns each into a dnstap message.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::engine::Transport;

/// Longest message the log holds: the largest UDP answer the engine writes
/// (an EDNS client's size, capped at 1232 bytes) with room to spare. A longer
/// one (a large answer over TCP) is not logged, and counted.
pub const TAP_MAX_MESSAGE: usize = 1280;

/// Which message of an exchange an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// The client's query (dnstap CLIENT_QUERY).
    Query,
    /// The answer sent to the client (dnstap CLIENT_RESPONSE).
    Response,
}

/// A point in time as dnstap writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapTime {
    pub secs: u64,
    pub nanos: u32,
}

impl TapTime {
    /// The wall clock now.
    pub fn now() -> TapTime {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        TapTime {
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }
}

/// One logged message.
#[derive(Clone)]
pub struct TapEntry {
    pub kind: TapKind,
    pub transport: Transport,
    pub client: SocketAddr,
    /// When the query arrived (its batch's time, for a poll loop).
    pub query_time: TapTime,
    /// When the answer was sent (responses).
    pub response_time: TapTime,
    len: u16,
    bytes: [u8; TAP_MAX_MESSAGE],
}

impl std::fmt::Debug for TapEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapEntry")
            .field("kind", &self.kind)
            .field("transport", &self.transport)
            .field("client", &self.client)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Default for TapEntry {
    fn default() -> Self {
        TapEntry {
            kind: TapKind::Query,
            transport: Transport::Udp,
            client: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            query_time: TapTime::default(),
            response_time: TapTime::default(),
            len: 0,
            bytes: [0; TAP_MAX_MESSAGE],
        }
    }
}

impl TapEntry {
    /// Holds `message`; false (and the entry unchanged) when it is longer than
    /// [`TAP_MAX_MESSAGE`].
    #[inline]
    pub fn set_message(&mut self, message: &[u8]) -> bool {
        let Some(slot) = self.bytes.get_mut(..message.len()) else {
            return false;
        };
        slot.copy_from_slice(message);
        self.len = message.len() as u16;
        true
    }

    /// The message held.
    pub fn message(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// One in `every` queries is logged: a countdown per poll loop, so sampling
/// costs a decrement and needs no random number or shared counter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sampler {
    every: u32,
    left: u32,
}

impl Sampler {
    pub(super) fn every(every: u32) -> Sampler {
        let every = every.max(1);
        Sampler { every, left: every }
    }

    /// Whether this query is one to log.
    #[inline]
    pub(super) fn take(&mut self) -> bool {
        self.left -= 1;
        if self.left == 0 {
            self.left = self.every;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_query_in_every_n_is_sampled() {
        let mut sampler = Sampler::every(3);
        let taken: Vec<bool> = (0..6).map(|_| sampler.take()).collect();
        assert_eq!(taken, [false, false, true, false, false, true]);
        let mut all = Sampler::every(1);
        assert!((0..4).all(|_| all.take()));
    }

    #[test]
    fn messages_up_to_the_slot_are_held() {
        let mut entry = TapEntry::default();
        assert!(entry.set_message(&[7; TAP_MAX_MESSAGE]));
        assert_eq!(entry.message().len(), TAP_MAX_MESSAGE);
        assert!(!entry.set_message(&[1; TAP_MAX_MESSAGE + 1]));
        assert_eq!(entry.message(), &[7; TAP_MAX_MESSAGE]);
    }
}
