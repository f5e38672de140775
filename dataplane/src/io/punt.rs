//! Handing punted queries from the poll loops to the forwarder.
//!
//! A query for a name outside every local zone ([`Verdict::Punt`]) is copied into
//! a fixed-size [`PuntedQuery`] together with the client's address and the
//! [`ReplyPath`] it came in by, and pushed onto its worker's bounded lock-free
//! queue ([`crossbeam_queue::ArrayQueue`]). One queue per worker means a worker
//! never contends with another; a full queue drops the query (counted) instead of
//! blocking the poll loop.
//!
//! The forwarder (in the control plane, on tokio) drains every queue. When it has
//! nothing to do it goes to sleep on the read end of a socket pair, after saying so
//! in [`PuntQueues`]' `sleeping` flag; a worker that punted something in a batch
//! checks that flag once per batch and writes one byte to wake it only when it
//! sleeps. So a busy forwarder costs the workers a shared *read* per batch, and an
//! idle one a system call per batch that punts.
//!
//! The lost-wake-up race (the forwarder finds the queues empty, a worker pushes and
//! reads `sleeping == false`, the forwarder then sleeps) is closed the usual way:
//! each side writes its own fact, then a `SeqCst` fence, then reads the other's
//! fact. The forwarder stores `sleeping = true` and then looks at the queues; the
//! worker pushes and then looks at `sleeping`. At least one of them sees the
//! other's write.
//!
//! # Two backends, one queue
//!
//! A backend makes its queues when it starts, one per worker, only if its engine
//! punts ([`Engine::has_forwarder`]), with [`PuntQueues::for_engine`]: the same
//! depth and the same wake-up line for both backends. It hands them, with its
//! [`PuntReplier`], to the control plane as [`Punts`].
//!
//! The kernel backend punts the DNS message alone: its [`ReplyPath`] names the
//! socket the reply must leave from. The DPDK backend punts the whole received
//! frame ([`PuntedQuery::in_frame`]): Ethernet, VLAN tags, IP and UDP headers
//! and the query, so that the reply can later be built by answering that same
//! frame in place, exactly as the poll loop answers a local name (addresses and
//! ports turned around, tags kept, checksums computed). Either way the forwarder
//! sees the DNS message through [`PuntedQuery::query`] and hands its answer to
//! the backend's [`PuntReplier`].
//!
//! [`Verdict::Punt`]: crate::engine::Verdict::Punt
//! [`Engine::has_forwarder`]: crate::engine::Engine::has_forwarder

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_queue::ArrayQueue;

use crate::engine::Engine;

/// Largest query that can be punted. A query is a header, one question (a name is
/// at most 255 bytes) and an OPT record with a few options: 512 bytes hold every
/// real one. Longer punted queries are dropped and counted.
pub const PUNT_MAX_QUERY: usize = 512;

/// Largest frame header a punted frame may carry before its query: Ethernet (14),
/// two VLAN tags (8), IPv6 (40) and UDP (8) take 70 bytes.
pub const PUNT_MAX_HEADERS: usize = 96;

/// Punted queries each worker may have waiting for the forwarder.
pub const PUNT_QUEUE_DEPTH: usize = 4096;

/// Bytes a [`PuntedQuery`] holds: the headers of a frame and a query.
const PUNT_BYTES: usize = PUNT_MAX_HEADERS + PUNT_MAX_QUERY;

/// Where a punted query came in, hence where its reply must leave from: the
/// worker's socket (for the kernel backend, the same socket, so the same local
/// address and port) and, for a socket bound to a wildcard address, the address
/// the client sent to. Opaque outside the dataplane: the forwarder hands it back
/// with the query to the backend's [`PuntReplier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPath {
    pub(super) worker: u16,
    pub(super) listener: u16,
    pub(super) dest: Option<Dest>,
}

impl ReplyPath {
    /// The path of a backend whose worker alone says the way back because the
    /// punted frame holds the addresses (DPDK).
    pub fn of_worker(worker: u16) -> ReplyPath {
        ReplyPath {
            worker,
            listener: 0,
            dest: None,
        }
    }

    /// The worker the query came in through.
    pub fn worker(&self) -> usize {
        usize::from(self.worker)
    }
}

/// Sends the forwarder's answers back the way their queries came in. Each
/// backend has one: the kernel backend's sends from the worker's socket, the
/// DPDK backend's builds the reply frame from the punted frame and queues it for
/// the worker's lcore.
pub trait PuntReplier: Clone + Send + Sync + 'static {
    /// Sends `answer` (a DNS message) to the client of `query`.
    fn reply(&self, query: &PuntedQuery, answer: &[u8]) -> io::Result<()>;
}

/// Where a query was sent on a socket bound to a wildcard address, hence where
/// its reply must come from (the kernel backend reads it from `IP_PKTINFO` /
/// `IPV6_PKTINFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dest {
    V4(Ipv4Addr),
    /// The interface index matters for link-local addresses only.
    V6 {
        addr: Ipv6Addr,
        ifindex: u32,
    },
}

/// A query the engine punted, copied out of the worker's receive buffer (with the
/// frame headers in front of it when the backend punts frames).
#[derive(Clone)]
pub struct PuntedQuery {
    /// Bytes held: the headers and the query.
    len: u16,
    /// Where the query starts: 0, or the length of the frame headers.
    query_start: u8,
    bytes: [u8; PUNT_BYTES],
    client: SocketAddr,
    path: ReplyPath,
    /// The query log takes this exchange: the forwarder logs its answer.
    sampled: bool,
}

impl fmt::Debug for PuntedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PuntedQuery")
            .field("len", &self.len)
            .field("client", &self.client)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PuntedQuery {
    /// Copies `query`; `None` when it is longer than [`PUNT_MAX_QUERY`].
    pub fn new(query: &[u8], client: SocketAddr, path: ReplyPath) -> Option<PuntedQuery> {
        PuntedQuery::in_frame(query, 0, client, path)
    }

    /// Copies a whole `frame` whose query starts at byte `query_start`; `None`
    /// when the headers are longer than [`PUNT_MAX_HEADERS`] or the query longer
    /// than [`PUNT_MAX_QUERY`].
    pub fn in_frame(
        frame: &[u8],
        query_start: usize,
        client: SocketAddr,
        path: ReplyPath,
    ) -> Option<PuntedQuery> {
        let query_len = frame.len().checked_sub(query_start)?;
        if query_start > PUNT_MAX_HEADERS || query_len > PUNT_MAX_QUERY {
            return None;
        }
        let mut bytes = [0u8; PUNT_BYTES];
        bytes.get_mut(..frame.len())?.copy_from_slice(frame);
        Some(PuntedQuery {
            len: u16::try_from(frame.len()).ok()?,
            query_start: u8::try_from(query_start).ok()?,
            bytes,
            client,
            path,
            sampled: false,
        })
    }

    /// Marks whether the query log takes this exchange.
    pub fn sampled(mut self, sampled: bool) -> PuntedQuery {
        self.sampled = sampled;
        self
    }

    /// Whether the query log takes this exchange: the forwarder then logs the
    /// answer it gives.
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The query as the client sent it.
    pub fn query(&self) -> &[u8] {
        self.bytes
            .get(usize::from(self.query_start)..usize::from(self.len))
            .unwrap_or_default()
    }

    /// The frame the query came in (for a backend that punts frames; otherwise
    /// the query alone).
    pub fn frame(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The client's address and port: where the reply goes.
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// The way back to the client.
    pub fn path(&self) -> ReplyPath {
        self.path
    }
}

/// What a forwarder needs from a backend whose engine punts: the workers' queues,
/// the socket that wakes the forwarder (see [`PuntQueues::new`]) and the way back.
#[derive(Debug)]
pub struct Punts<R> {
    pub queues: Arc<PuntQueues>,
    pub wake: UnixDatagram,
    pub replier: R,
}

/// One bounded queue per worker, and the forwarder's wake-up line.
#[derive(Debug)]
pub struct PuntQueues {
    queues: Box<[ArrayQueue<PuntedQuery>]>,
    /// Set by the consumer just before it sleeps on the wake socket.
    sleeping: AtomicBool,
    wake: UnixDatagram,
}

impl PuntQueues {
    /// Queues for `workers` workers of `capacity` queries each, and the socket the
    /// consumer waits on (readable when a worker woke it).
    pub fn new(workers: usize, capacity: usize) -> io::Result<(PuntQueues, UnixDatagram)> {
        if workers == 0 || capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "punt queues need at least one worker and a capacity of at least 1",
            ));
        }
        let (wake, wake_rx) = UnixDatagram::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let queues = (0..workers).map(|_| ArrayQueue::new(capacity)).collect();
        Ok((
            PuntQueues {
                queues,
                sleeping: AtomicBool::new(false),
                wake,
            },
            wake_rx,
        ))
    }

    /// The queues of a backend with `workers` workers, [`PUNT_QUEUE_DEPTH`] deep,
    /// when `engine` punts; `None` when it answers REFUSED itself.
    pub fn for_engine(
        engine: &Engine,
        workers: usize,
    ) -> io::Result<Option<(Arc<PuntQueues>, UnixDatagram)>> {
        if !engine.has_forwarder() {
            return Ok(None);
        }
        let (queues, wake) = PuntQueues::new(workers, PUNT_QUEUE_DEPTH)?;
        Ok(Some((Arc::new(queues), wake)))
    }

    /// Number of worker queues.
    pub fn workers(&self) -> usize {
        self.queues.len()
    }

    /// Producer side: queues `query` on `worker`'s queue. Returns `false`, having
    /// dropped the query, when the queue is full (or there is no such worker).
    /// Never blocks.
    pub fn push(&self, worker: usize, query: PuntedQuery) -> bool {
        self.queues
            .get(worker)
            .is_some_and(|queue| queue.push(query).is_ok())
    }

    /// Producer side, once per batch that pushed something: wakes the consumer if
    /// it sleeps.
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is already pending.
            let _ = self.wake.send(&[1]);
        }
    }

    /// Consumer side: the next query of worker `worker`'s queue.
    pub fn pop(&self, worker: usize) -> Option<PuntedQuery> {
        self.queues.get(worker)?.pop()
    }

    /// Consumer side: declares the intent to sleep. Returns `true` when every
    /// queue is empty and the consumer may wait on the wake socket; `false` (and
    /// no longer sleeping) when something arrived meanwhile.
    pub fn prepare_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.queues.iter().all(ArrayQueue::is_empty) {
            true
        } else {
            self.sleeping.store(false, Ordering::Relaxed);
            false
        }
    }

    /// Consumer side: awake again (after a wake-up or a timeout).
    pub fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> ReplyPath {
        ReplyPath {
            worker: 0,
            listener: 0,
            dest: None,
        }
    }

    fn client() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn queries_are_copied_and_bounded() {
        let q = PuntedQuery::new(b"abc", client(), path()).unwrap();
        assert_eq!(q.query(), b"abc");
        assert_eq!(q.client(), client());
        assert!(PuntedQuery::new(&[0; PUNT_MAX_QUERY], client(), path()).is_some());
        assert!(PuntedQuery::new(&[0; PUNT_MAX_QUERY + 1], client(), path()).is_none());
    }

    #[test]
    fn a_punted_frame_keeps_its_headers_in_front_of_the_query() {
        let frame = [[7u8; 42].as_slice(), b"query"].concat();
        let q = PuntedQuery::in_frame(&frame, 42, client(), ReplyPath::of_worker(3)).unwrap();
        assert_eq!(q.query(), b"query");
        assert_eq!(q.frame(), frame.as_slice());
        assert_eq!(q.path().worker(), 3);
        let headers = [0u8; PUNT_MAX_HEADERS + 1];
        assert!(PuntedQuery::in_frame(&headers, PUNT_MAX_HEADERS + 1, client(), path()).is_none());
        let long = [0u8; PUNT_MAX_HEADERS + PUNT_MAX_QUERY + 1];
        assert!(PuntedQuery::in_frame(&long, PUNT_MAX_HEADERS, client(), path()).is_none());
        assert!(PuntedQuery::in_frame(b"ab", 3, client(), path()).is_none());
    }

    #[test]
    fn a_full_queue_drops_the_query() {
        let (queues, _rx) = PuntQueues::new(2, 2).unwrap();
        let q = PuntedQuery::new(b"x", client(), path()).unwrap();
        assert!(queues.push(1, q.clone()));
        assert!(queues.push(1, q.clone()));
        assert!(!queues.push(1, q.clone()));
        assert!(!queues.push(5, q.clone()));
        assert!(queues.push(0, q));
        assert_eq!(queues.pop(1).map(|q| q.len), Some(1));
        assert!(PuntQueues::new(0, 1).is_err());
    }

    #[test]
    fn a_sleeping_consumer_is_woken_once() {
        let (queues, rx) = PuntQueues::new(1, 4).unwrap();
        let mut buf = [0u8; 8];
        // Not sleeping: no wake-up byte.
        queues.notify();
        assert!(rx.recv(&mut buf).is_err());
        assert!(queues.prepare_sleep());
        let q = PuntedQuery::new(b"x", client(), path()).unwrap();
        assert!(queues.push(0, q.clone()));
        queues.notify();
        queues.notify();
        assert_eq!(rx.recv(&mut buf).unwrap(), 1);
        assert!(rx.recv(&mut buf).is_err(), "one wake-up for two notifies");
        // Something queued: the consumer must not sleep.
        assert!(!queues.prepare_sleep());
        assert!(queues.pop(0).is_some());
        assert!(queues.prepare_sleep());
        queues.awake();
    }
}
