//! I/O backends: they move bytes between the network and the [`engine`] and own no
//! DNS logic.
//!
//! [`udp`] is the kernel-socket backend: one pinned OS thread per worker, each with
//! its own `SO_REUSEPORT` socket per listen address, reading and answering in
//! batches with `recvmmsg(2)` / `sendmmsg(2)`. (DNS over TCP lives in the control
//! plane, on tokio: it is connection-oriented, slow by comparison and needs
//! timers, none of which belongs in a poll loop.)
//!
//! # How a UDP worker spends its time
//!
//! ```text
//!   poll(sockets + stop signal, 100 ms)
//!     for each readable socket, up to a few batches:
//!       recvmmsg  -> up to `batch` datagrams into buffers allocated at start
//!       table.load()                       (once per batch: one shared read)
//!       engine.respond() per datagram      (answer written in place)
//!       sendmmsg  <- the replies, compacted, each to its sender
//!       publish counters                   (Relaxed stores to this worker's line)
//! ```
//!
//! **Why a socket per worker.** With one shared socket every worker would contend
//! on its receive queue and lock. With `SO_REUSEPORT` each worker binds its own
//! socket to the same address and the kernel hashes each flow (source address and
//! port) to one of them, so the workers share nothing: each has its own queue,
//! its own buffers, its own table reader and its own counters, and a worker only
//! ever answers the packets that arrived on its own socket.
//!
//! **Why batches.** A system call costs far more than answering a query from the
//! table (a few hundred nanoseconds). `recvmmsg` and `sendmmsg` move up to `batch`
//! datagrams per call, so under load the syscall cost is shared by the whole
//! batch; when traffic is light a batch is simply short and latency does not
//! suffer (nothing waits to fill a batch).
//! (Waiting on purpose, as a NIC's interrupt moderation does, was measured and
//! left out: at 100k queries/s on loopback a 20–100 µs pause before reading
//! again saved no CPU per answer, since the kernel's per-datagram work, not the
//! wake-up, is most of the cost, and it added its length to every answer.)
//!
//! **Where the table version is refreshed.** Each worker holds a
//! [`TableReader`](crate::table::TableReader) and calls `load()` once per received
//! batch: that compares one shared pointer with the worker's cached one — a read,
//! never a write — and moves to a newly published version if there is one. Every
//! query of a batch is answered from the same version, and an old version is freed
//! once every worker has loaded past it.
//!
//! **What never happens per packet.** No allocation (buffers, `mmsghdr`, `iovec`,
//! address and control arrays are allocated once when the worker starts), no lock,
//! no shared write (the per-query entropy comes from a worker-local RNG, counters
//! live on the worker's own padded cache line).
//!
//! [`engine`]: crate::engine

pub mod punt;
pub mod udp;

mod pktinfo;
