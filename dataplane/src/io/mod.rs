//! I/O backends: they move bytes between the network and the [`engine`] and own no
//! DNS logic.
//!
//! - [`udp`]: the kernel-socket backend: one pinned OS thread per worker, each with
//!   its own `SO_REUSEPORT` socket per listen address, reading and answering in
//!   batches with `recvmmsg(2)` / `sendmmsg(2)`. (DNS over TCP lives in the control
//!   plane, on tokio: it is connection-oriented, slow by comparison and needs
//!   timers, none of which belongs in a poll loop.) The DPDK backend is its own
//!   crate, `ferrodns-dpdk`, built on the same pieces below.
//! - [`punt`]: the queues that hand queries the engine punts to the forwarder,
//!   and the way its answers go back, shared by both backends.
//! - [`counters`]: the per-core counters, one shape for both backends.
//!
//! Both backends leave every DNS decision to the engine: it answers, answers
//! REFUSED when no forwarder takes names outside the local zones, punts them when
//! one does, or drops; a backend only moves what the engine tells it to.
//!
//! [`engine`]: crate::engine

pub mod counters;
pub mod punt;
pub mod udp;
