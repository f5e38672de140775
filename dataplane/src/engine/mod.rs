//! The sans-IO answer engine.
//!
//! [`Engine::respond`] takes a received packet in a buffer, a table version and a
//! [`QueryContext`], writes the answer over the query in the same buffer and says
//! what to do with it: [`Verdict::Reply`] with the answer's length, [`Verdict::Punt`]
//! for names outside every local zone, or [`Verdict::Drop`]. It allocates nothing,
//! takes no locks, makes no syscalls and never panics, whatever the bytes.

use std::net::IpAddr;

mod policy;

pub use policy::{AnswerPolicy, UnknownPolicy};

use crate::table::TableVersion;

/// What the backend does with the buffer after [`Engine::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[..len]` back to the client.
    Reply(usize),
    /// The name is outside every local zone: hand the query to the forwarder.
    Punt,
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

/// Engine settings that are not records.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Answer for CHAOS TXT `version.bind` / `version.server`; REFUSED when `None`.
    pub chaos_version: Option<String>,
    /// Answer for CHAOS TXT `id.server` / `hostname.bind`; REFUSED when `None`.
    pub chaos_id: Option<String>,
}

/// The answer engine. Cheap to share: one per process, used by every worker.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    config: EngineConfig,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine { config }
    }

    /// Answers the query in `buf[..len]` in place. `buf.len()` is the room the
    /// backend has (at least 512 for UDP, 65535 + for TCP).
    pub fn respond(
        &self,
        table: &TableVersion,
        buf: &mut [u8],
        len: usize,
        ctx: &QueryContext,
    ) -> Verdict {
        let _ = (table, buf, len, ctx, &self.config);
        Verdict::Drop
    }
}

/// Rewrites the query in `buf[..len]` into a REFUSED answer (header and question
/// kept). Backends use it for punted queries when no forwarder is configured.
pub fn refuse(buf: &mut [u8], len: usize) -> Verdict {
    let _ = (buf, len);
    Verdict::Drop
}
