//! One worker's poll loop: wait on its sockets and the stop signal, drain each
//! readable socket in batches, answer every datagram with the engine in place,
//! send the answers back, publish the counters.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::{debug, error, warn};

use super::batches::{self, Batch};
use crate::engine::{Engine, QueryContext, Transport, Verdict};
use crate::io::counters::{CoreStats, SharedCoreStats};
use crate::io::punt::{PuntQueues, PuntedQuery, ReplyPath};
use crate::observe::{Exchange, QueryObserver, Sampled};
use crate::packet::DropReason;
use crate::table::{TableReader, TableVersion};

/// How long `poll` sleeps before looking at the stop flag again, should the wake-up
/// message be lost.
const POLL_TIMEOUT_MS: libc::c_int = 100;
/// Batches drained from one socket before the worker polls again, so one busy
/// socket cannot starve the others nor delay a stop.
const MAX_BATCHES_PER_WAKE: usize = 16;
/// How long a worker waits for room in a full send buffer before dropping the rest
/// of a batch's replies.
const SEND_WAIT_MS: libc::c_int = 10;

/// `core` value meaning "not pinned".
pub(super) const NO_CORE: u64 = u64::MAX;

/// What the workers share with [`UdpWorkers`](super::UdpWorkers), one entry per
/// worker, each written by its worker alone.
#[derive(Debug)]
pub(super) struct WorkerSlot {
    /// The core the worker is pinned to, [`NO_CORE`] until it is (or if it
    /// cannot be).
    pub(super) core: AtomicU64,
    pub(super) counters: SharedCoreStats,
}

impl Default for WorkerSlot {
    fn default() -> Self {
        WorkerSlot {
            core: AtomicU64::new(NO_CORE),
            counters: SharedCoreStats::default(),
        }
    }
}

/// What a worker thread starts with.
pub(super) struct WorkerStart {
    pub(super) index: usize,
    pub(super) core: Option<usize>,
    pub(super) sockets: Vec<UdpSocket>,
    pub(super) batch: usize,
    pub(super) engine: Arc<Engine>,
    pub(super) reader: TableReader,
    pub(super) slots: Arc<[WorkerSlot]>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) wake: Arc<UnixDatagram>,
    pub(super) punt: Option<Arc<PuntQueues>>,
    pub(super) observer: QueryObserver,
}

impl WorkerStart {
    pub(super) fn run(self) {
        let Some(slot) = self.slots.get(self.index) else {
            return;
        };
        if let Some(core) = self.core {
            if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                slot.core.store(core as u64, Ordering::Relaxed);
            } else {
                warn!(
                    worker = self.index,
                    core, "cannot pin UDP worker to its core"
                );
            }
        }
        let listeners: Vec<Listener> = self
            .sockets
            .into_iter()
            .map(|socket| {
                let wildcard = socket
                    .local_addr()
                    .map(|a| a.ip().is_unspecified())
                    .unwrap_or(false);
                Listener {
                    fd: socket.as_raw_fd(),
                    pktinfo: wildcard,
                    _socket: socket,
                }
            })
            .collect();
        let mut pollfds: Vec<libc::pollfd> = listeners
            .iter()
            .map(|l| l.fd)
            .chain(std::iter::once(self.wake.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let mut worker = Worker {
            index: self.index as u16,
            punt: self.punt.as_deref(),
            engine: &self.engine,
            reader: self.reader,
            batch: Batch::new(self.batch),
            rng: fastrand::Rng::with_seed(fastrand::u64(..) ^ self.index as u64),
            tally: CoreStats::default(),
            counters: &slot.counters,
            observer: self.observer,
        };
        loop {
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            match batches::poll(&mut pollfds, POLL_TIMEOUT_MS) {
                Ok(0) => {
                    if worker.observer.is_on() {
                        worker.observer.tick();
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    error!(worker = self.index, "poll failed: {e}");
                    break;
                }
            }
            let (socket_fds, wake_fd) = pollfds.split_at(listeners.len());
            if wake_fd.iter().any(|p| p.revents != 0) {
                break;
            }
            for (index, (pollfd, listener)) in socket_fds.iter().zip(&listeners).enumerate() {
                if pollfd.revents != 0 {
                    worker.drain(index as u16, listener);
                }
            }
        }
        debug!(worker = self.index, "UDP worker stopped");
    }
}

/// A worker's socket and what it needs to answer on it.
struct Listener {
    fd: RawFd,
    /// Bound to a wildcard address: replies carry the query's destination.
    pktinfo: bool,
    /// Keeps the descriptor open for the worker's life.
    _socket: UdpSocket,
}

/// A worker's running state.
struct Worker<'a> {
    index: u16,
    punt: Option<&'a PuntQueues>,
    engine: &'a Engine,
    reader: TableReader,
    batch: Batch,
    rng: fastrand::Rng,
    tally: CoreStats,
    counters: &'a SharedCoreStats,
    observer: QueryObserver,
}

impl Worker<'_> {
    /// Reads, answers and sends batches from one socket until it is empty or the
    /// per-wake budget is spent.
    fn drain(&mut self, index: u16, listener: &Listener) {
        for _ in 0..MAX_BATCHES_PER_WAKE {
            let received = match self.batch.receive(listener.fd, listener.pktinfo) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.tally.recv_errors += 1;
                    self.counters.publish(&self.tally);
                    debug!("recvmmsg failed: {e}");
                    return;
                }
            };
            self.tally.rx += received as u64;
            self.observer.batch();
            let punted_before = self.tally.punts;
            // Two builds of the answering loop: the one for an observer that
            // watches nothing has no observer code at all.
            if self.observer.is_on() {
                self.answer::<true>(received, index, listener.pktinfo);
            } else {
                self.answer::<false>(received, index, listener.pktinfo);
            }
            if self.tally.punts != punted_before
                && let Some(punt) = self.punt
            {
                punt.notify();
            }
            let replies = self.batch.prepare_send(received);
            self.send(listener.fd, replies);
            self.counters.publish(&self.tally);
            if received < self.batch.capacity() {
                return;
            }
        }
    }

    /// Runs the engine over the first `received` datagrams, each answered in place
    /// and marked for sending, punted, or dropped.
    /// `OBSERVED`: the query observer watches something.
    fn answer<const OBSERVED: bool>(&mut self, received: usize, listener: u16, pktinfo: bool) {
        let version: &TableVersion = self.reader.load();
        for mut datagram in self.batch.datagrams(received, pktinfo) {
            let (Some(client), false) = (datagram.client, datagram.truncated) else {
                let reason = if datagram.truncated {
                    DropReason::Malformed
                } else {
                    DropReason::BadSource
                };
                self.tally.count_drop(reason);
                continue;
            };
            let ctx = QueryContext {
                client: client.ip(),
                transport: Transport::Udp,
                entropy: self.rng.u32(..),
            };
            let len = datagram.len;
            let sampled = if OBSERVED {
                self.observer
                    .before(datagram.buf.get(..len).unwrap_or_default())
            } else {
                Sampled::NOT
            };
            let answer_len = match self.engine.respond(version, datagram.buf, len, &ctx) {
                Verdict::Reply(n) => n,
                Verdict::Refused(n) => {
                    self.tally.refused += 1;
                    n
                }
                Verdict::Punt => {
                    let path = ReplyPath {
                        worker: self.index,
                        listener,
                        dest: datagram.dest,
                    };
                    let query = datagram.buf.get(..len).unwrap_or_default();
                    if OBSERVED {
                        self.observer.after(sampled, || {
                            Some(Exchange {
                                client,
                                transport: Transport::Udp,
                                message: query,
                                answered: false,
                            })
                        });
                    }
                    let punted = PuntedQuery::new(query, client, path)
                        .map(|punted| punted.sampled(sampled.is_logged()));
                    let pushed = match (punted, self.punt) {
                        (Some(query), Some(punt)) => punt.push(usize::from(self.index), query),
                        _ => false,
                    };
                    if pushed {
                        self.tally.punts += 1;
                    } else {
                        self.tally.punt_drops += 1;
                    }
                    // Answered later by the forwarder, or not at all.
                    continue;
                }
                Verdict::Drop => {
                    self.tally.count_drop(DropReason::Engine);
                    continue;
                }
            };
            match datagram.buf.get(..answer_len).filter(|a| !a.is_empty()) {
                Some(answer) => {
                    self.tally.answers.count(answer);
                    if OBSERVED {
                        self.observer.after(sampled, || {
                            Some(Exchange {
                                client,
                                transport: Transport::Udp,
                                message: answer,
                                answered: true,
                            })
                        });
                    }
                    datagram.reply(answer_len);
                }
                None => self.tally.count_drop(DropReason::NoRoom),
            }
        }
    }

    /// Sends the first `count` prepared replies, resuming after partial sends,
    /// skipping a reply the kernel refuses, and waiting briefly when the send
    /// buffer is full before giving up on the rest.
    fn send(&mut self, fd: RawFd, count: usize) {
        let mut sent = 0;
        let mut waited = false;
        while sent < count {
            match self.batch.send(fd, sent..count) {
                Ok(0) => {
                    // Not expected from Linux; count it rather than spin.
                    self.tally.send_errors += 1;
                    sent += 1;
                }
                Ok(n) => {
                    self.tally.tx += n as u64;
                    sent += n;
                    waited = false;
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock if !waited => {
                        waited = true;
                        let mut out = [libc::pollfd {
                            fd,
                            events: libc::POLLOUT,
                            revents: 0,
                        }];
                        let _ = batches::poll(&mut out, SEND_WAIT_MS);
                    }
                    io::ErrorKind::WouldBlock => {
                        self.tally.send_errors += (count - sent) as u64;
                        return;
                    }
                    _ => {
                        // The first pending reply was refused (e.g. an
                        // unreachable or invalid client address): skip it.
                        debug!("sendmmsg failed: {e}");
                        self.tally.send_errors += 1;
                        sent += 1;
                    }
                },
            }
        }
    }
}
