//! The forwarder's sockets towards upstreams: a budget of descriptors shared by
//! every upstream, and per upstream a small rolling set of UDP sockets on random
//! ports that its queries share.
//!
//! **The budget.** Every socket the forwarder opens, UDP or TCP, takes a slot
//! of `forward.max_sockets` ([`SocketBudget`]) and gives it back when closed.
//! Without a free slot no socket opens: the attempt is passed over like one to
//! an upstream at its cap, and the descriptors the rest of the process needs
//! stay free whatever the upstreams do.
//!
//! **The pool (RFC 5452).** Each upstream has [`SOCKETS_IN_USE`] slots. A query
//! takes a slot at random; the socket there carries it unless it is missing,
//! has carried `forward.queries_per_socket` queries, or was opened more than
//! [`SOCKET_MAX_AGE`] ago, in which case a new socket takes its place. A new
//! socket is bound to port 0, so Linux picks a random port of the ephemeral
//! range, and connected to the upstream, so the kernel drops datagrams from any
//! other address or port. A socket that no longer takes queries is closed once
//! the replies it waits for have come or timed out. So the ports in use change
//! all the time, several are in use at once, and one socket serves many
//! queries instead of one (opening, registering and closing a socket is a
//! quarter of a forwarded query's cost); `queries_per_socket = 1` is a new
//! socket for every query.
//!
//! Each query gets a random ID from a CSPRNG (`rand`'s thread generator), never
//! one its socket has used before. One task per socket reads its replies: a
//! reply goes to the query waiting on that socket with that ID, and only if it
//! comes from the upstream's address and port and repeats the question (name
//! ignoring case, type, class). Anything else is counted as a spoof and the
//! query keeps waiting, except a reply to an ID the socket used for a query
//! that has stopped waiting (a late answer), which is dropped silently.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{Notify, oneshot};

use super::message::upstream_query;
use super::upstream::{Question, UpstreamCounters, matches};

/// Sockets of one upstream taking new queries at once.
pub(crate) const SOCKETS_IN_USE: usize = 4;
/// How long a socket takes new queries.
pub(crate) const SOCKET_MAX_AGE: Duration = Duration::from_secs(1);
/// Receive buffer: we advertise 1232 bytes, so a UDP answer is never longer.
const UDP_BUFFER: usize = 4096;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The descriptors the forwarder may hold at once (`forward.max_sockets`).
#[derive(Debug)]
pub(crate) struct SocketBudget {
    limit: usize,
    open: AtomicUsize,
}

/// One descriptor of the budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct SocketSlot(Arc<SocketBudget>);

impl SocketBudget {
    pub(crate) fn new(limit: usize) -> Arc<SocketBudget> {
        Arc::new(SocketBudget {
            limit,
            open: AtomicUsize::new(0),
        })
    }

    /// A slot, when fewer than the limit are taken.
    pub(crate) fn take(self: &Arc<Self>) -> Option<SocketSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limit).then_some(open + 1)
            })
            .ok()
            .map(|_| SocketSlot(Arc::clone(self)))
    }

    /// Slots taken now: the forwarder's open sockets.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a query could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No socket: the budget is spent (or the kernel is out of descriptors).
    NoSocket,
    Network(io::Error),
}

/// A reply, or the error the socket got (an ICMP unreachable, say).
type Delivery = Result<Vec<u8>, io::ErrorKind>;

/// A query waiting on a socket.
#[derive(Debug)]
struct Waiter {
    id: u16,
    question: Question,
    reply: oneshot::Sender<Delivery>,
}

#[derive(Debug, Default)]
struct SocketState {
    waiting: Vec<Waiter>,
    /// Every ID sent on the socket (at most `queries_per_socket`).
    used: Vec<u16>,
    /// Takes no new queries; closes once `waiting` is empty.
    retired: bool,
}

/// One connected UDP socket of the pool.
#[derive(Debug)]
struct PooledSocket {
    socket: UdpSocket,
    opened: Instant,
    state: Mutex<SocketState>,
    /// Wakes the reading task to see whether it is done.
    check: Notify,
    _slot: SocketSlot,
}

impl PooledSocket {
    /// Registers a query with a fresh random ID; `None` when the socket takes
    /// no more. The flag says it takes no more after this one.
    fn register(
        &self,
        question: &Question,
        capacity: usize,
    ) -> Option<(u16, oneshot::Receiver<Delivery>, bool)> {
        let mut state = lock(&self.state);
        if state.retired || state.used.len() >= capacity {
            return None;
        }
        let id = loop {
            let id: u16 = rand::random();
            if !state.used.contains(&id) {
                break id;
            }
        };
        let (tx, rx) = oneshot::channel();
        state.used.push(id);
        state.waiting.push(Waiter {
            id,
            question: question.clone(),
            reply: tx,
        });
        state.retired = state.used.len() >= capacity;
        Some((id, rx, state.retired))
    }

    fn retire(&self) {
        let mut state = lock(&self.state);
        state.retired = true;
        if state.waiting.is_empty() {
            self.check.notify_one();
        }
    }

    fn takes_queries(&self, now: Instant) -> bool {
        !lock(&self.state).retired && now.duration_since(self.opened) < SOCKET_MAX_AGE
    }

    /// Stops waiting for `id` (answered, timed out or abandoned).
    fn forget(&self, id: u16) {
        let mut state = lock(&self.state);
        state.waiting.retain(|w| w.id != id);
        if state.retired && state.waiting.is_empty() {
            self.check.notify_one();
        }
    }

    /// Hands a datagram from `from` to the query it answers. Returns whether it
    /// was a spoof.
    fn deliver(&self, reply: &[u8], from_upstream: bool) -> bool {
        let Some(id) = reply.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return true;
        };
        let mut state = lock(&self.state);
        let Some(at) = state.waiting.iter().position(|w| w.id == id) else {
            // A reply for a query that stopped waiting is late, not forged.
            return !(from_upstream && state.used.contains(&id));
        };
        let genuine = state
            .waiting
            .get(at)
            .is_some_and(|w| from_upstream && matches(reply, id, &w.question));
        if !genuine {
            return true;
        }
        let waiter = state.waiting.swap_remove(at);
        let _ = waiter.reply.send(Ok(reply.to_vec()));
        false
    }

    /// Fails every waiting query with `error`: the socket cannot tell which
    /// one an ICMP error was for, and they all went to the same upstream.
    fn fail_all(&self, error: io::ErrorKind) {
        let mut state = lock(&self.state);
        for waiter in state.waiting.drain(..) {
            let _ = waiter.reply.send(Err(error));
        }
        state.retired = true;
    }

    fn done(&self) -> bool {
        let state = lock(&self.state);
        state.retired && state.waiting.is_empty()
    }
}

/// Reads `socket`'s datagrams until it is retired and nothing waits on it.
async fn read_replies(
    socket: Arc<PooledSocket>,
    upstream: SocketAddr,
    counters: Arc<UpstreamCounters>,
) {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        tokio::select! {
            received = socket.socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => {
                    let reply = buf.get(..len).unwrap_or_default();
                    if socket.deliver(reply, from == upstream) {
                        counters.spoofs.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => socket.fail_all(e.kind()),
            },
            () = socket.check.notified() => {}
        }
        if socket.done() {
            return;
        }
    }
}

/// One upstream's UDP sockets.
#[derive(Debug)]
pub(crate) struct UdpPool {
    upstream: SocketAddr,
    budget: Arc<SocketBudget>,
    counters: Arc<UpstreamCounters>,
    queries_per_socket: usize,
    slots: Mutex<[Option<Arc<PooledSocket>>; SOCKETS_IN_USE]>,
}

/// A query sent and not yet answered. Dropping it stops the wait.
#[derive(Debug)]
pub(crate) struct PendingReply {
    socket: Arc<PooledSocket>,
    id: u16,
    reply: oneshot::Receiver<Delivery>,
}

impl PendingReply {
    /// The matching reply, or the error the socket got.
    pub(crate) async fn reply(&mut self) -> io::Result<Vec<u8>> {
        match (&mut self.reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(kind)) => Err(kind.into()),
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// The local port the query went out from.
    #[cfg(test)]
    pub(crate) fn port(&self) -> u16 {
        self.socket.socket.local_addr().map_or(0, |a| a.port())
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        self.socket.forget(self.id);
    }
}

impl UdpPool {
    pub(crate) fn new(
        upstream: SocketAddr,
        budget: Arc<SocketBudget>,
        counters: Arc<UpstreamCounters>,
        queries_per_socket: u32,
    ) -> UdpPool {
        UdpPool {
            upstream,
            budget,
            counters,
            queries_per_socket: usize::try_from(queries_per_socket.max(1)).unwrap_or(1),
            slots: Mutex::new(Default::default()),
        }
    }

    /// Sends `question` from a socket of the pool with a fresh ID.
    pub(crate) async fn send(&self, question: &Question) -> Result<PendingReply, SendError> {
        let (socket, id, reply) = self.register(question)?;
        let pending = PendingReply { socket, id, reply };
        let query = upstream_query(
            id,
            &question.qname,
            question.qtype,
            question.qclass,
            question.dnssec_ok,
            question.checking_disabled,
        );
        pending
            .socket
            .socket
            .send(&query)
            .await
            .map_err(SendError::Network)?;
        Ok(pending)
    }

    /// A socket for one more query, and the query's ID there: the socket of a
    /// slot taken at random, replaced first when it takes no more queries; the
    /// other slots in turn when that one has no socket and none can be opened.
    fn register(
        &self,
        question: &Question,
    ) -> Result<(Arc<PooledSocket>, u16, oneshot::Receiver<Delivery>), SendError> {
        let now = Instant::now();
        let mut slots = lock(&self.slots);
        let first = rand::random_range(0..SOCKETS_IN_USE);
        for offset in 0..SOCKETS_IN_USE {
            let Some(slot) = slots.get_mut((first + offset) % SOCKETS_IN_USE) else {
                continue;
            };
            if let Some(old) = slot.take_if(|socket| !socket.takes_queries(now)) {
                old.retire();
            }
            if slot.is_none() {
                *slot = self.open(now)?;
            }
            let Some(socket) = slot.as_ref() else {
                continue;
            };
            if let Some((id, reply, full)) = socket.register(question, self.queries_per_socket) {
                let socket = Arc::clone(socket);
                if full {
                    // Used up: it closes once its replies are in, not held here.
                    *slot = None;
                }
                return Ok((socket, id, reply));
            }
        }
        Err(SendError::NoSocket)
    }

    /// A new socket connected to the upstream from a random port, with its
    /// reading task; `None` when the budget has no slot left or the kernel no
    /// socket (the upstream is not to blame for either).
    fn open(&self, now: Instant) -> Result<Option<Arc<PooledSocket>>, SendError> {
        let Some(slot) = self.budget.take() else {
            return Ok(None);
        };
        let local: SocketAddr = match self.upstream {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(socket) = std::net::UdpSocket::bind(local) else {
            return Ok(None);
        };
        let socket = socket
            .connect(self.upstream)
            .and_then(|()| socket.set_nonblocking(true))
            .and_then(|()| UdpSocket::from_std(socket))
            .map_err(SendError::Network)?;
        let socket = Arc::new(PooledSocket {
            socket,
            opened: now,
            state: Mutex::new(SocketState::default()),
            check: Notify::new(),
            _slot: slot,
        });
        tokio::spawn(read_replies(
            Arc::clone(&socket),
            self.upstream,
            Arc::clone(&self.counters),
        ));
        Ok(Some(socket))
    }
}
