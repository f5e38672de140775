//! The kernel-socket UDP backend: pinned poll loops over `SO_REUSEPORT` sockets,
//! reading and answering in `recvmmsg`/`sendmmsg` batches.
//!
//! See the [module overview](super) for the design. In short:
//!
//! - [`UdpWorkers::spawn`] opens every socket first (so an address in use or a
//!   missing privilege is reported by `spawn`, naming the address), then starts one
//!   thread per worker, pinned to its core.
//! - A worker owns one socket per listen address, all bound with `SO_REUSEPORT` to
//!   the same addresses as its siblings', so the kernel spreads clients across
//!   workers. Sockets bound to a wildcard address (`0.0.0.0`, `[::]`) ask the kernel
//!   for each query's destination (`IP_PKTINFO`) and send the reply from it.
//! - The worker waits in `poll(2)` on its sockets and a stop signal, drains each
//!   readable socket in batches, refreshes its table version once per batch and
//!   publishes its counters after each batch.
//! - [`UdpWorkers::stop`] raises the flag, wakes every `poll` and joins the threads.
//! - Punted queries (names outside every local zone) go to the forwarder's
//!   [`PuntQueues`] when one is given ([`UdpWorkers::spawn_with_punt`]), and are
//!   answered REFUSED otherwise. The forwarder answers them through
//!   [`UdpReplier`], which sends from a duplicate of the very socket the query
//!   came in on (and, on wildcard sockets, from the address the client asked).
//!
//! This file holds the crate's `unsafe`: the `poll`, `recvmmsg`, `sendmmsg` and
//! `setsockopt` calls and the reading of the kernel's socket addresses. Every
//! pointer handed to the kernel is derived, right before the call, from buffers the
//! worker owns for its whole life, with lengths that are those buffers' lengths.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use socket2::{Domain, MsgHdr, Protocol, SockAddr, SockRef, Socket, Type};
use tracing::{debug, error, warn};

use super::pktinfo::{self, CONTROL_LEN, Control, Dest};
use super::punt::{PuntQueues, PuntReplier, PuntedQuery, ReplyPath};
use crate::answer_counts::{AnswerCounts, SharedAnswerCounts};
use crate::engine::{self, Engine, QueryContext, Transport, Verdict};
use crate::table::{Table, TableReader, TableVersion};

/// Room for one datagram: queries larger than this are dropped (a DNS query is a
/// header, one question and an OPT record), and answers never exceed the engine's
/// UDP limit, well below it.
const SLOT_LEN: usize = 4096;
/// How long `poll` sleeps before looking at the stop flag again, should the wake-up
/// message be lost.
const POLL_TIMEOUT_MS: libc::c_int = 100;
/// Batches drained from one socket before the worker polls again, so one busy
/// socket cannot starve the others nor delay a stop.
const MAX_BATCHES_PER_WAKE: usize = 16;
/// How long a worker waits for room in a full send buffer before dropping the rest
/// of a batch's replies.
const SEND_WAIT_MS: libc::c_int = 10;
/// `recvmmsg`/`sendmmsg` take at most `UIO_MAXIOV` messages per call.
const MAX_BATCH: usize = 1024;
const MIN_BATCH: usize = 32;
/// Each socket's receive buffer: room for a few thousand queries, so that a burst
/// arriving while the worker answers the previous one is queued rather than
/// dropped (the kernel's default, 208 KiB, holds a few hundred). Set with
/// `SO_RCVBUFFORCE` where the process may (`CAP_NET_ADMIN`), else with `SO_RCVBUF`,
/// which the kernel caps at `net.core.rmem_max`.
const RECV_BUFFER: usize = 4 << 20;

/// How the UDP workers are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConfig {
    /// Addresses to answer on. Port 0 picks a free port, shared by every worker
    /// (see [`UdpWorkers::local_addrs`]).
    pub listen: Vec<SocketAddr>,
    /// Number of poll-loop threads (at least 1).
    pub workers: usize,
    /// Core of each worker (`cores[i % len]`); `None` pins worker `i` to the
    /// `i`-th core this process may run on, modulo their number.
    pub cores: Option<Vec<usize>>,
    /// Datagrams per `recvmmsg`/`sendmmsg` call, 32 to 1024.
    pub batch: usize,
}

/// A snapshot of one worker's counters, each counting datagrams since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub worker: usize,
    /// The core the worker was pinned to (`None` if pinning failed).
    pub core: Option<usize>,
    /// Datagrams received.
    pub rx: u64,
    /// Datagrams sent.
    pub tx: u64,
    /// Queries the engine answered.
    pub replies: u64,
    /// Queries punted by the engine and answered REFUSED (no forwarder).
    pub refused: u64,
    /// Queries punted by the engine and queued for the forwarder.
    pub punted: u64,
    /// Punted queries dropped: the forwarder's queue was full, or the query was
    /// longer than [`PUNT_MAX_QUERY`](super::punt::PUNT_MAX_QUERY).
    pub punt_drops: u64,
    /// Datagrams not answered: dropped by the engine, truncated on receipt, or from
    /// an address family we cannot read.
    pub drops: u64,
    /// Replies the kernel refused or that found the send buffer full.
    pub send_errors: u64,
    /// Failed `recvmmsg` calls (other than "nothing to read").
    pub recv_errors: u64,
    /// Answers sent (the engine's and REFUSED), by RCODE and question type.
    pub answers: AnswerCounts,
}

/// One worker's counters, written only by that worker (Relaxed stores), read by
/// anyone. Aligned to 128 bytes so that no two workers' counters share a cache
/// line, nor a pair of lines the adjacent-line prefetcher fetches together.
#[derive(Debug, Default)]
#[repr(align(128))]
struct SharedCounters {
    core: AtomicU64,
    rx: AtomicU64,
    tx: AtomicU64,
    replies: AtomicU64,
    refused: AtomicU64,
    punted: AtomicU64,
    punt_drops: AtomicU64,
    drops: AtomicU64,
    send_errors: AtomicU64,
    recv_errors: AtomicU64,
    answers: SharedAnswerCounts,
}

/// `core` value meaning "not pinned".
const NO_CORE: u64 = u64::MAX;

/// A worker's private tally, published to its [`SharedCounters`] after each batch.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    rx: u64,
    tx: u64,
    replies: u64,
    refused: u64,
    punted: u64,
    punt_drops: u64,
    drops: u64,
    send_errors: u64,
    recv_errors: u64,
    /// Answers sent (the engine's and REFUSED), by RCODE and question type.
    answers: AnswerCounts,
}

impl SharedCounters {
    fn publish(&self, t: &Tally) {
        self.rx.store(t.rx, Ordering::Relaxed);
        self.tx.store(t.tx, Ordering::Relaxed);
        self.replies.store(t.replies, Ordering::Relaxed);
        self.refused.store(t.refused, Ordering::Relaxed);
        self.punted.store(t.punted, Ordering::Relaxed);
        self.punt_drops.store(t.punt_drops, Ordering::Relaxed);
        self.drops.store(t.drops, Ordering::Relaxed);
        self.send_errors.store(t.send_errors, Ordering::Relaxed);
        self.recv_errors.store(t.recv_errors, Ordering::Relaxed);
        self.answers.publish(&t.answers);
    }

    fn snapshot(&self, worker: usize) -> WorkerStats {
        let core = self.core.load(Ordering::Relaxed);
        WorkerStats {
            worker,
            core: (core != NO_CORE)
                .then(|| usize::try_from(core).ok())
                .flatten(),
            rx: self.rx.load(Ordering::Relaxed),
            tx: self.tx.load(Ordering::Relaxed),
            replies: self.replies.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            punted: self.punted.load(Ordering::Relaxed),
            punt_drops: self.punt_drops.load(Ordering::Relaxed),
            drops: self.drops.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
            recv_errors: self.recv_errors.load(Ordering::Relaxed),
            answers: self.answers.snapshot(),
        }
    }
}

/// Running UDP workers. Dropping them stops them too.
#[derive(Debug)]
pub struct UdpWorkers {
    threads: Vec<JoinHandle<()>>,
    counters: Arc<[SharedCounters]>,
    stop: Arc<AtomicBool>,
    /// Sending one byte here wakes every worker's `poll` at once (no one reads it,
    /// so the other end stays readable).
    wake: UnixDatagram,
    local_addrs: Vec<SocketAddr>,
    replier: UdpReplier,
}

impl UdpWorkers {
    /// Opens `config.workers` sockets per listen address and starts the workers.
    /// Fails, naming the address, if any socket cannot be opened or bound; then
    /// nothing is left running. Punted queries are answered REFUSED.
    pub fn spawn(config: UdpConfig, engine: Arc<Engine>, table: Table) -> io::Result<UdpWorkers> {
        Self::spawn_with_punt(config, engine, table, None)
    }

    /// [`spawn`](Self::spawn), with punted queries pushed onto `punt` (worker `i`
    /// onto queue `i`, so it needs one queue per worker) for a forwarder that
    /// answers them through [`replier`](Self::replier).
    pub fn spawn_with_punt(
        config: UdpConfig,
        engine: Arc<Engine>,
        table: Table,
        punt: Option<Arc<PuntQueues>>,
    ) -> io::Result<UdpWorkers> {
        validate(&config)?;
        if let Some(queues) = &punt
            && queues.workers() != config.workers
        {
            return Err(invalid(format!(
                "{} punt queues for {} UDP workers",
                queues.workers(),
                config.workers
            )));
        }
        if config.workers > usize::from(u16::MAX) || config.listen.len() > usize::from(u16::MAX) {
            return Err(invalid("too many UDP workers or listen addresses".into()));
        }
        let cores = plan_cores(&config);
        let (sockets, local_addrs) = open_sockets(&config)?;
        let replier = UdpReplier::new(&sockets)?;
        let (wake, wake_rx) = UnixDatagram::pair()?;
        wake.set_nonblocking(true)?;
        let wake_rx = Arc::new(wake_rx);
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Arc<[SharedCounters]> = (0..config.workers)
            .map(|_| SharedCounters {
                core: AtomicU64::new(NO_CORE),
                ..SharedCounters::default()
            })
            .collect();

        let mut workers = UdpWorkers {
            threads: Vec::with_capacity(config.workers),
            counters,
            stop,
            wake,
            local_addrs,
            replier,
        };
        for (index, (sockets, core)) in sockets.into_iter().zip(cores).enumerate() {
            let start = WorkerStart {
                index,
                core,
                sockets,
                batch: config.batch,
                engine: Arc::clone(&engine),
                reader: table.reader(),
                counters: Arc::clone(&workers.counters),
                stop: Arc::clone(&workers.stop),
                wake: Arc::clone(&wake_rx),
                punt: punt.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("ferrodns-udp-{index}"))
                .spawn(move || start.run());
            match spawned {
                Ok(handle) => workers.threads.push(handle),
                Err(e) => {
                    workers.shutdown();
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot start UDP worker {index}: {e}"),
                    ));
                }
            }
        }
        Ok(workers)
    }

    /// The addresses the workers answer on, with the ports chosen for port 0.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Sends the forwarder's replies from the workers' sockets.
    pub fn replier(&self) -> UdpReplier {
        self.replier.clone()
    }

    /// Every worker's counters as they are now. Lock-free: each value is read with
    /// one relaxed load, so counters of one worker may be a batch apart.
    pub fn stats(&self) -> Vec<WorkerStats> {
        self.counters
            .iter()
            .enumerate()
            .map(|(i, c)| c.snapshot(i))
            .collect()
    }

    /// Stops every worker and waits for it to finish its current batch: returns
    /// within a batch's work, the wake-up being immediate.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.wake.send(&[1]) {
            // The workers still see the flag at their next poll timeout.
            debug!("cannot wake the UDP workers: {e}");
        }
        for handle in self.threads.drain(..) {
            let name = handle.thread().name().unwrap_or("udp worker").to_owned();
            if handle.join().is_err() {
                error!("{name} panicked");
            }
        }
    }
}

impl Drop for UdpWorkers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn validate(config: &UdpConfig) -> io::Result<()> {
    if config.workers == 0 {
        return Err(invalid("UDP needs at least one worker".into()));
    }
    if config.listen.is_empty() {
        return Err(invalid("UDP needs at least one listen address".into()));
    }
    if !(MIN_BATCH..=MAX_BATCH).contains(&config.batch) {
        return Err(invalid(format!(
            "UDP batch must be {MIN_BATCH} to {MAX_BATCH} datagrams, not {}",
            config.batch
        )));
    }
    if config.cores.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid("UDP core list is empty".into()));
    }
    Ok(())
}

/// The core each worker is pinned to.
fn plan_cores(config: &UdpConfig) -> Vec<Option<usize>> {
    let available: Vec<usize> = match &config.cores {
        Some(cores) => cores.clone(),
        None => core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    (0..config.workers)
        .map(|i| {
            let n = available.len();
            if n == 0 {
                None
            } else {
                available.get(i % n).copied()
            }
        })
        .collect()
}

/// Opens every worker's sockets: `result[worker][address]`. For port 0 the first
/// socket gets a free port and the others bind to it.
fn open_sockets(config: &UdpConfig) -> io::Result<(Vec<Vec<UdpSocket>>, Vec<SocketAddr>)> {
    let mut per_worker: Vec<Vec<UdpSocket>> = (0..config.workers)
        .map(|_| Vec::with_capacity(config.listen.len()))
        .collect();
    let mut local_addrs = Vec::with_capacity(config.listen.len());
    for &requested in &config.listen {
        // Either way the address is first bound by a socket without
        // `SO_REUSEPORT`: that fails if any socket holds it, so a second server
        // (of the same user, whose reuseport sockets would otherwise join ours
        // and silently take a share of the queries) is refused at start.
        let addr = exclusive_probe(requested)?;
        for sockets in &mut per_worker {
            sockets.push(open_socket(addr)?);
        }
        local_addrs.push(addr);
    }
    Ok((per_worker, local_addrs))
}

/// Binds `addr` with a socket *without* `SO_REUSEPORT` and returns the address it
/// got: proof that no other socket holds it (a reuseport bind would succeed next
/// to another reuseport group of the same user), and for port 0 a free port (the
/// kernel's automatic choice for a reuseport socket may pick a port that another
/// reuseport group already holds). The probe is closed before the workers bind.
fn exclusive_probe(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = UdpSocket::bind(addr).map_err(|e| bind_error(addr, e))?;
    probe.local_addr()
}

fn bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}"))
}

/// One worker's socket on `addr`: `SO_REUSEPORT`, IPv6-only for IPv6, non-blocking,
/// a receive buffer of [`RECV_BUFFER`], and asking for each query's destination when bound to a wildcard address.
fn open_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let setup = |e: io::Error| io::Error::new(e.kind(), format!("UDP socket for {addr}: {e}"));
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(setup)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(setup)?;
    }
    socket.set_reuse_port(true).map_err(setup)?;
    socket.set_nonblocking(true).map_err(setup)?;
    enlarge_recv_buffer(&socket).map_err(setup)?;
    if addr.ip().is_unspecified() {
        enable_pktinfo(&socket, addr).map_err(setup)?;
    }
    socket.bind(&addr.into()).map_err(|e| bind_error(addr, e))?;
    Ok(socket.into())
}

fn enlarge_recv_buffer(socket: &Socket) -> io::Result<()> {
    let size = libc::c_int::try_from(RECV_BUFFER).unwrap_or(libc::c_int::MAX);
    // SAFETY: `socket` is an open socket we own; `optval` points to a live `c_int`
    // and `optlen` is exactly its size, which is what `SO_RCVBUFFORCE` reads. The
    // kernel does not keep the pointer.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            ptr::from_ref(&size).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Without CAP_NET_ADMIN: as much as `net.core.rmem_max` allows.
    socket.set_recv_buffer_size(RECV_BUFFER)
}

fn enable_pktinfo(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    let (level, name) = if addr.is_ipv4() {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    };
    let on: libc::c_int = 1;
    // SAFETY: `socket` is an open socket we own; `optval` points to a live
    // `c_int` and `optlen` is exactly its size, which is what these two options
    // read. The kernel does not keep the pointer.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What a worker thread starts with.
struct WorkerStart {
    index: usize,
    core: Option<usize>,
    sockets: Vec<UdpSocket>,
    batch: usize,
    engine: Arc<Engine>,
    reader: TableReader,
    counters: Arc<[SharedCounters]>,
    stop: Arc<AtomicBool>,
    wake: Arc<UnixDatagram>,
    punt: Option<Arc<PuntQueues>>,
}

impl WorkerStart {
    fn run(self) {
        let Some(counters) = self.counters.get(self.index) else {
            return;
        };
        if let Some(core) = self.core {
            if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                counters.core.store(core as u64, Ordering::Relaxed);
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
            slots: Slots::new(self.batch),
            rng: fastrand::Rng::with_seed(fastrand::u64(..) ^ self.index as u64),
            tally: Tally::default(),
            counters,
        };
        loop {
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            if let Err(e) = poll(&mut pollfds, POLL_TIMEOUT_MS) {
                if e.kind() != io::ErrorKind::Interrupted {
                    error!(worker = self.index, "poll failed: {e}");
                    break;
                }
                continue;
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

/// `poll(2)` over `fds`, retrying nothing: `Interrupted` is the caller's to handle.
fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a live, exclusively borrowed slice of `pollfd` and `nfds` is
    // its length, so the kernel reads and writes (`revents`) only inside it; it
    // keeps no pointer after returning. The descriptors are owned by the caller
    // and open (a closed one would only yield POLLNVAL).
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// Per-datagram facts kept between receiving, answering and sending.
#[derive(Debug, Clone, Copy, Default)]
struct SlotMeta {
    /// Length of the reply in the slot's buffer; 0 for no reply.
    reply_len: usize,
    /// Length of the client's address in the slot's `sockaddr_storage`.
    namelen: libc::socklen_t,
    /// The query's destination, for wildcard sockets.
    dest: Option<Dest>,
}

/// Everything a batch needs, allocated once per worker: `batch` datagram buffers
/// and, for each, its `mmsghdr`, `iovec`, client address and control buffer.
///
/// The `mmsghdr`s and `iovec`s hold raw pointers into the other arrays. They are
/// rewritten by [`Slots::prepare_recv`] / [`Slots::prepare_send`] right before
/// each system call, derived from fresh borrows of those arrays, so no pointer
/// outlives the borrow it came from.
struct Slots {
    batch: usize,
    bufs: Box<[u8]>,
    hdrs: Box<[libc::mmsghdr]>,
    iovs: Box<[libc::iovec]>,
    addrs: Box<[libc::sockaddr_storage]>,
    controls: Box<[Control]>,
    meta: Box<[SlotMeta]>,
}

impl Slots {
    fn new(batch: usize) -> Slots {
        // SAFETY: `mmsghdr` and `sockaddr_storage` are plain C structs of integers
        // and raw pointers; all zeroes is a valid value of each (null pointers,
        // zero lengths, AF_UNSPEC).
        let (hdr, addr) = unsafe {
            (
                std::mem::zeroed::<libc::mmsghdr>(),
                std::mem::zeroed::<libc::sockaddr_storage>(),
            )
        };
        let iov = libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        Slots {
            batch,
            bufs: vec![0u8; batch * SLOT_LEN].into_boxed_slice(),
            hdrs: vec![hdr; batch].into_boxed_slice(),
            iovs: vec![iov; batch].into_boxed_slice(),
            addrs: vec![addr; batch].into_boxed_slice(),
            controls: vec![Control::default(); batch].into_boxed_slice(),
            meta: vec![SlotMeta::default(); batch].into_boxed_slice(),
        }
    }

    /// Points every `mmsghdr` at its whole buffer, address and (if `pktinfo`)
    /// control buffer, ready for `recvmmsg`.
    fn prepare_recv(&mut self, pktinfo: bool) {
        let slots = self
            .hdrs
            .iter_mut()
            .zip(self.iovs.iter_mut())
            .zip(self.bufs.chunks_exact_mut(SLOT_LEN))
            .zip(self.addrs.iter_mut())
            .zip(self.controls.iter_mut());
        for ((((hdr, iov), buf), addr), control) in slots {
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = buf.len();
            let msg = &mut hdr.msg_hdr;
            msg.msg_name = ptr::from_mut(addr).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_iov = ptr::from_mut(iov);
            msg.msg_iovlen = 1;
            if pktinfo {
                msg.msg_control = control.0.as_mut_ptr().cast();
                msg.msg_controllen = CONTROL_LEN as _;
            } else {
                msg.msg_control = ptr::null_mut();
                msg.msg_controllen = 0;
            }
            msg.msg_flags = 0;
            hdr.msg_len = 0;
        }
    }

    /// Packs the replies of the first `received` slots into the first `mmsghdr`s,
    /// each pointing at its slot's buffer (reply length), client address and, for
    /// wildcard sockets, a control message choosing the source address. Returns
    /// how many replies there are.
    fn prepare_send(&mut self, received: usize) -> usize {
        let mut out = 0;
        let slots = self
            .bufs
            .chunks_exact_mut(SLOT_LEN)
            .zip(self.addrs.iter_mut())
            .zip(self.controls.iter_mut())
            .zip(self.meta.iter())
            .take(received);
        for (((buf, addr), control), meta) in slots {
            // `reply_len <= SLOT_LEN` is checked where it is set; the kernel reads
            // `iov_len` bytes from `buf`, so check again rather than trust it.
            if meta.reply_len == 0 || meta.reply_len > buf.len() {
                continue;
            }
            let (Some(hdr), Some(iov)) = (self.hdrs.get_mut(out), self.iovs.get_mut(out)) else {
                break;
            };
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = meta.reply_len;
            let msg = &mut hdr.msg_hdr;
            msg.msg_name = ptr::from_mut(addr).cast();
            msg.msg_namelen = meta.namelen;
            msg.msg_iov = ptr::from_mut(iov);
            msg.msg_iovlen = 1;
            let control_len = meta
                .dest
                .map_or(0, |dest| pktinfo::write(&mut control.0, dest));
            if control_len == 0 {
                msg.msg_control = ptr::null_mut();
                msg.msg_controllen = 0;
            } else {
                msg.msg_control = control.0.as_mut_ptr().cast();
                msg.msg_controllen = control_len as _;
            }
            msg.msg_flags = 0;
            hdr.msg_len = 0;
            out += 1;
        }
        out
    }
}

/// A worker's running state.
struct Worker<'a> {
    index: u16,
    punt: Option<&'a PuntQueues>,
    engine: &'a Engine,
    reader: TableReader,
    slots: Slots,
    rng: fastrand::Rng,
    tally: Tally,
    counters: &'a SharedCounters,
}

impl Worker<'_> {
    /// Reads, answers and sends batches from one socket until it is empty or the
    /// per-wake budget is spent.
    fn drain(&mut self, index: u16, listener: &Listener) {
        for _ in 0..MAX_BATCHES_PER_WAKE {
            let received = match self.receive(listener) {
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
            let punted_before = self.tally.punted;
            self.answer(received, index, listener.pktinfo);
            if self.tally.punted != punted_before
                && let Some(punt) = self.punt
            {
                punt.notify();
            }
            let replies = self.slots.prepare_send(received);
            self.send(listener.fd, replies);
            self.counters.publish(&self.tally);
            if received < self.slots.batch {
                return;
            }
        }
    }

    fn receive(&mut self, listener: &Listener) -> io::Result<usize> {
        self.slots.prepare_recv(listener.pktinfo);
        let hdrs = &mut self.slots.hdrs;
        // SAFETY: `hdrs` is a live, exclusively borrowed array of `hdrs.len()`
        // `mmsghdr`s (`vlen` is that length, at most `MAX_BATCH`). `prepare_recv`
        // just pointed each one at a distinct `SLOT_LEN`-byte chunk of `bufs`
        // (`iov_len` = the chunk's length), a distinct `sockaddr_storage` (with
        // `msg_namelen` = its size) and, or else null, a distinct `CONTROL_LEN`-byte
        // control buffer; all of those are owned by `self.slots` and not otherwise
        // borrowed during the call. The kernel writes only within those lengths and
        // keeps no pointer after returning. `MSG_DONTWAIT` and a null timeout make
        // the call return at once.
        let rc = unsafe {
            libc::recvmmsg(
                listener.fd,
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        usize::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    /// Runs the engine over the first `received` datagrams, leaving each slot's
    /// reply length in its [`SlotMeta`].
    fn answer(&mut self, received: usize, listener: u16, pktinfo: bool) {
        let version: &TableVersion = self.reader.load();
        let slots = &mut self.slots;
        let batch = slots
            .hdrs
            .iter()
            .zip(slots.bufs.chunks_exact_mut(SLOT_LEN))
            .zip(slots.addrs.iter())
            .zip(slots.controls.iter())
            .zip(slots.meta.iter_mut())
            .take(received);
        for ((((hdr, buf), addr), control), meta) in batch {
            meta.reply_len = 0;
            meta.namelen = hdr.msg_hdr.msg_namelen;
            let len = hdr.msg_len as usize;
            let client = client_addr(addr, meta.namelen);
            let (Some(client), false) = (client, hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0)
            else {
                self.tally.drops += 1;
                continue;
            };
            meta.dest = if pktinfo {
                let control_len = hdr.msg_hdr.msg_controllen.min(CONTROL_LEN);
                control.0.get(..control_len).and_then(pktinfo::parse)
            } else {
                None
            };
            let ctx = QueryContext {
                client: client.ip(),
                transport: Transport::Udp,
                entropy: self.rng.u32(..),
            };
            let verdict = match self.engine.respond(version, buf, len, &ctx) {
                Verdict::Punt if self.punt.is_some() => {
                    let path = ReplyPath {
                        worker: self.index,
                        listener,
                        dest: meta.dest,
                    };
                    let punted = buf
                        .get(..len)
                        .and_then(|query| PuntedQuery::new(query, client, path));
                    let pushed = match (punted, self.punt) {
                        (Some(query), Some(punt)) => punt.push(usize::from(self.index), query),
                        _ => false,
                    };
                    if pushed {
                        self.tally.punted += 1;
                    } else {
                        self.tally.punt_drops += 1;
                    }
                    // Answered later by the forwarder, or not at all.
                    continue;
                }
                Verdict::Punt => match engine::refuse(buf, len) {
                    Verdict::Reply(n) => {
                        self.tally.refused += 1;
                        Verdict::Reply(n)
                    }
                    other => other,
                },
                Verdict::Reply(n) => {
                    self.tally.replies += 1;
                    Verdict::Reply(n)
                }
                Verdict::Drop => Verdict::Drop,
            };
            match verdict {
                Verdict::Reply(n) if n > 0 && n <= buf.len() => {
                    if let Some(answer) = buf.get(..n) {
                        self.tally.answers.count(answer);
                    }
                    meta.reply_len = n;
                }
                _ => self.tally.drops += 1,
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
            let Some(pending) = self.slots.hdrs.get_mut(sent..count) else {
                return;
            };
            // SAFETY: `pending` is a live, exclusively borrowed run of `mmsghdr`s
            // and `vlen` is its length. `prepare_send` pointed each at a distinct
            // slot buffer with `iov_len` = the reply length (checked to be within
            // the buffer), at the client address the kernel filled in with its
            // length, and at a control buffer holding `msg_controllen` bytes or
            // null. All are owned by `self.slots`, not borrowed elsewhere during the
            // call; the kernel only reads them (and writes `msg_len`) and keeps no
            // pointer after returning.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    pending.as_mut_ptr(),
                    pending.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            match usize::try_from(rc) {
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
                Err(_) => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::Interrupted => {}
                        io::ErrorKind::WouldBlock if !waited => {
                            waited = true;
                            let mut out = [libc::pollfd {
                                fd,
                                events: libc::POLLOUT,
                                revents: 0,
                            }];
                            let _ = poll(&mut out, SEND_WAIT_MS);
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
                    }
                }
            }
        }
    }
}

/// The client's address from the `sockaddr_storage` `recvmmsg` filled in.
fn client_addr(addr: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: `sockaddr_storage` is at least as large and as aligned as
            // every socket address type, and the kernel wrote a `sockaddr_in` here
            // (family AF_INET, length checked). Reading it by copy creates no
            // reference to the storage.
            let sin = unsafe { ptr::read(ptr::from_ref(addr).cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a `sockaddr_in6` (family AF_INET6, length
            // checked).
            let sin6 = unsafe { ptr::read(ptr::from_ref(addr).cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Sends replies to punted queries from the workers' own sockets: each holds a
/// duplicate descriptor of every worker socket, so a reply leaves from the local
/// address and port the client queried, as the worker's own replies do. Sends
/// never block: a full send buffer is an error ([`io::ErrorKind::WouldBlock`]).
#[derive(Debug, Clone)]
pub struct UdpReplier {
    /// `sockets[worker][listener]`.
    sockets: Arc<[Box<[UdpSocket]>]>,
}

impl UdpReplier {
    fn new(sockets: &[Vec<UdpSocket>]) -> io::Result<UdpReplier> {
        let sockets = sockets
            .iter()
            .map(|worker| worker.iter().map(UdpSocket::try_clone).collect())
            .collect::<io::Result<Vec<Box<[UdpSocket]>>>>()?;
        Ok(UdpReplier {
            sockets: sockets.into(),
        })
    }

    /// Sends `reply` to `client` the way `path` says the query came in.
    pub fn send(&self, path: &ReplyPath, client: SocketAddr, reply: &[u8]) -> io::Result<()> {
        let socket = self
            .sockets
            .get(usize::from(path.worker))
            .and_then(|worker| worker.get(usize::from(path.listener)))
            .ok_or_else(|| invalid("reply path names no socket".into()))?;
        let Some(dest) = path.dest else {
            return socket.send_to(reply, client).map(drop);
        };
        let mut control = Control::default();
        let control_len = pktinfo::write(&mut control.0, dest);
        let addr = SockAddr::from(client);
        let bufs = [IoSlice::new(reply)];
        let msg = MsgHdr::new()
            .with_addr(&addr)
            .with_buffers(&bufs)
            .with_control(control.0.get(..control_len).unwrap_or_default());
        SockRef::from(socket)
            .sendmsg(&msg, libc::MSG_DONTWAIT)
            .map(drop)
    }
}

impl PuntReplier for UdpReplier {
    fn reply(&self, query: &PuntedQuery, answer: &[u8]) -> io::Result<()> {
        self.send(&query.path(), query.client(), answer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::SocketAddrV4;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::engine::EngineConfig;
    use crate::name::Name;
    use crate::record::{RData, Record};
    use crate::table::{ZoneInput, compile};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// `example.` with `web.example.` at `web` and `v6.example.` at `::1`.
    fn publish(table: &Table, web: Ipv4Addr) {
        let records = vec![
            Record::new(name("web.example."), 30, RData::A(web)),
            Record::new(name("v6.example."), 30, RData::Aaaa(Ipv6Addr::LOCALHOST)),
        ];
        let zone = ZoneInput::new(name("example."), records);
        table.publish(compile(&[zone], &HashSet::new(), table.seed()).unwrap());
    }

    /// A query: header (RD set) and one question, class IN.
    fn query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(name(qname).as_wire());
        bytes.extend_from_slice(&qtype.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes
    }

    const A: u16 = 1;
    const AAAA: u16 = 28;

    struct Reply {
        id: u16,
        qr: bool,
        rcode: u8,
        ancount: u16,
        /// The first answer's RDATA: the question is followed by a 2-byte owner
        /// pointer, type, class, TTL and RDLENGTH.
        first_rdata: Vec<u8>,
    }

    fn decode(bytes: &[u8], query_len: usize) -> Reply {
        let ancount = u16::from_be_bytes([bytes[6], bytes[7]]);
        let first_rdata = if ancount > 0 {
            let rdlen_at = query_len + 10;
            let rdlen = usize::from(u16::from_be_bytes([bytes[rdlen_at], bytes[rdlen_at + 1]]));
            bytes[rdlen_at + 2..rdlen_at + 2 + rdlen].to_vec()
        } else {
            Vec::new()
        };
        Reply {
            id: u16::from_be_bytes([bytes[0], bytes[1]]),
            qr: bytes[2] & 0x80 != 0,
            rcode: bytes[3] & 0x0F,
            ancount,
            first_rdata,
        }
    }

    fn config(listen: Vec<SocketAddr>, workers: usize) -> UdpConfig {
        UdpConfig {
            listen,
            workers,
            cores: None,
            batch: 32,
        }
    }

    fn start(listen: Vec<SocketAddr>, workers: usize) -> (UdpWorkers, Table) {
        let table = Table::new();
        publish(&table, Ipv4Addr::new(10, 0, 0, 1));
        let engine = Arc::new(Engine::new(EngineConfig::default()));
        let workers = UdpWorkers::spawn(config(listen, workers), engine, table.clone()).unwrap();
        (workers, table)
    }

    fn client(local: &str) -> UdpSocket {
        let socket = UdpSocket::bind(local).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
    }

    /// Sends one query to `server` and returns the reply and where it came from.
    fn ask(socket: &UdpSocket, server: SocketAddr, query: &[u8]) -> (Vec<u8>, SocketAddr) {
        socket.send_to(query, server).unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from)
    }

    fn total(workers: &UdpWorkers) -> WorkerStats {
        workers
            .stats()
            .iter()
            .fold(WorkerStats::default(), |mut t, s| {
                t.rx += s.rx;
                t.tx += s.tx;
                t.replies += s.replies;
                t.refused += s.refused;
                t.punted += s.punted;
                t.punt_drops += s.punt_drops;
                t.drops += s.drops;
                t.send_errors += s.send_errors;
                t.recv_errors += s.recv_errors;
                t
            })
    }

    /// Counters are published after the reply is sent: wait for them to catch up.
    fn wait_for(workers: &UdpWorkers, done: impl Fn(&WorkerStats) -> bool) -> WorkerStats {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let t = total(workers);
            if done(&t) || Instant::now() > deadline {
                return t;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_socket_queues_a_burst_of_thousands_of_queries() {
        // The kernel's default buffer holds a few hundred small datagrams; a burst
        // beyond that, arriving while a worker is busy, would be lost.
        let server = open_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = server.local_addr().unwrap();
        let sender = client("127.0.0.1:0");
        let q = query(7, "web.example.", A);
        let burst = 3000;
        for _ in 0..burst {
            sender.send_to(&q, to).unwrap();
        }
        let mut queued = 0;
        let mut buf = [0; 512];
        while server.recv_from(&mut buf).is_ok() {
            queued += 1;
        }
        assert_eq!(queued, burst);
    }

    #[test]
    fn answers_over_ipv4_and_ipv6_from_the_address_queried() {
        let (workers, _table) = start(
            vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
            2,
        );
        let [v4, v6] = workers.local_addrs() else {
            panic!("two addresses expected")
        };
        assert_ne!(v4.port(), 0);
        assert_ne!(v6.port(), 0);

        let q = query(0x1234, "web.example.", A);
        let (reply, from) = ask(&client("127.0.0.1:0"), *v4, &q);
        assert_eq!(from, *v4);
        let r = decode(&reply, q.len());
        assert_eq!((r.id, r.qr, r.rcode, r.ancount), (0x1234, true, 0, 1));
        assert_eq!(r.first_rdata, [10, 0, 0, 1]);

        let q = query(0x4321, "v6.example.", AAAA);
        let (reply, from) = ask(&client("[::1]:0"), *v6, &q);
        assert_eq!(from, *v6);
        let r = decode(&reply, q.len());
        assert_eq!((r.id, r.rcode, r.ancount), (0x4321, 0, 1));
        assert_eq!(r.first_rdata, Ipv6Addr::LOCALHOST.octets());

        let t = wait_for(&workers, |t| t.replies >= 2);
        assert_eq!((t.rx, t.tx, t.replies, t.drops), (2, 2, 2, 0));
        let mut sum = AnswerCounts::default();
        for worker in workers.stats() {
            sum.add(&worker.answers);
        }
        let answers: Vec<_> = sum.nonzero().collect();
        assert_eq!(answers, [("NOERROR", "A", 1), ("NOERROR", "AAAA", 1)]);
        workers.stop();
    }

    #[test]
    fn workers_share_an_explicit_port_and_split_the_clients() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (workers, _table) = start(vec![addr], 3);
        assert_eq!(workers.local_addrs(), [addr]);
        for i in 0..32u16 {
            let q = query(i, "web.example.", A);
            let (reply, from) = ask(&client("127.0.0.1:0"), addr, &q);
            assert_eq!(from, addr);
            assert_eq!(decode(&reply, q.len()).id, i);
        }
        let t = wait_for(&workers, |t| t.tx >= 32);
        assert_eq!((t.rx, t.tx), (32, 32));
        // The kernel hashes each client to one worker: 32 clients all on one of
        // three workers would be a one-in-10^15 event.
        let busy = workers.stats().iter().filter(|s| s.rx > 0).count();
        assert!(busy >= 2, "{:?}", workers.stats());
        workers.stop();
    }

    #[test]
    fn a_burst_of_queued_queries_is_answered_in_batches() {
        let (workers, _table) = start(vec!["127.0.0.1:0".parse().unwrap()], 1);
        let server = workers.local_addrs()[0];
        let socket = client("127.0.0.1:0");
        let queries: Vec<Vec<u8>> = (0..100u16).map(|i| query(i, "web.example.", A)).collect();
        for q in &queries {
            socket.send_to(q, server).unwrap();
        }
        let mut seen = HashSet::new();
        let mut buf = [0u8; 4096];
        for _ in 0..100 {
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(from, server);
            let r = decode(&buf[..n], queries[0].len());
            assert_eq!((r.rcode, r.first_rdata.as_slice()), (0, &[10, 0, 0, 1][..]));
            seen.insert(r.id);
        }
        assert_eq!(seen.len(), 100);
        let t = wait_for(&workers, |t| t.tx >= 100);
        assert_eq!((t.rx, t.tx, t.replies, t.send_errors), (100, 100, 100, 0));
        workers.stop();
    }

    #[test]
    fn punts_are_refused_and_responses_dropped() {
        let (workers, _table) = start(vec!["127.0.0.1:0".parse().unwrap()], 1);
        let server = workers.local_addrs()[0];
        let socket = client("127.0.0.1:0");

        // A response (QR=1) must never be answered, nor must a runt.
        let mut response = query(7, "web.example.", A);
        response[2] |= 0x80;
        socket.send_to(&response, server).unwrap();
        socket.send_to(&[0u8; 5], server).unwrap();

        let q = query(8, "elsewhere.test.", A);
        let (reply, _) = ask(&socket, server, &q);
        let r = decode(&reply, q.len());
        assert_eq!((r.id, r.rcode, r.ancount), (8, 5, 0), "REFUSED expected");

        let t = wait_for(&workers, |t| t.refused >= 1 && t.drops >= 2);
        assert_eq!((t.rx, t.tx, t.refused, t.drops, t.replies), (3, 1, 1, 2, 0));
        workers.stop();
    }

    #[test]
    fn punts_go_to_the_queue_and_replies_leave_from_the_queried_address() {
        let table = Table::new();
        publish(&table, Ipv4Addr::new(10, 0, 0, 1));
        let engine = Arc::new(Engine::default());
        let (queues, wake) = PuntQueues::new(1, 4).unwrap();
        let queues = Arc::new(queues);
        assert!(queues.prepare_sleep(), "consumer asleep");
        let listen = vec!["0.0.0.0:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
        let workers =
            UdpWorkers::spawn_with_punt(config(listen, 1), engine, table, Some(queues.clone()))
                .unwrap();
        let replier = workers.replier();
        let [wild, plain] = workers.local_addrs() else {
            panic!("two addresses expected")
        };
        let wake_timeout = Some(Duration::from_secs(2));
        wake.set_nonblocking(false).unwrap();
        wake.set_read_timeout(wake_timeout).unwrap();
        for target in [
            SocketAddr::from((Ipv4Addr::new(127, 0, 0, 3), wild.port())),
            *plain,
        ] {
            let socket = client("127.0.0.1:0");
            let q = query(9, "elsewhere.test.", A);
            socket.send_to(&q, target).unwrap();
            // The worker wakes the sleeping consumer.
            let mut byte = [0u8; 1];
            wake.recv(&mut byte).unwrap();
            queues.awake();
            let punted = queues.pop(0).expect("punted query");
            assert_eq!(punted.query(), &q[..]);
            assert_eq!(punted.client(), socket.local_addr().unwrap());
            assert!(queues.prepare_sleep());
            replier
                .send(&punted.path(), punted.client(), b"reply bytes")
                .unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"reply bytes"[..], target));
        }
        let t = wait_for(&workers, |t| t.punted >= 2);
        assert_eq!((t.punted, t.refused, t.tx, t.punt_drops), (2, 0, 0, 0));
        workers.stop();
    }

    #[test]
    fn a_newly_published_table_is_seen_by_the_next_batch() {
        let (workers, table) = start(vec!["127.0.0.1:0".parse().unwrap()], 2);
        let server = workers.local_addrs()[0];
        let socket = client("127.0.0.1:0");
        let q = query(1, "web.example.", A);
        assert_eq!(
            decode(&ask(&socket, server, &q).0, q.len()).first_rdata,
            [10, 0, 0, 1]
        );
        publish(&table, Ipv4Addr::new(10, 9, 9, 9));
        assert_eq!(
            decode(&ask(&socket, server, &q).0, q.len()).first_rdata,
            [10, 9, 9, 9]
        );
        workers.stop();
    }

    #[test]
    fn wildcard_sockets_reply_from_the_address_queried() {
        let (workers, _table) = start(
            vec!["0.0.0.0:0".parse().unwrap(), "[::]:0".parse().unwrap()],
            1,
        );
        let [v4, v6] = workers.local_addrs() else {
            panic!("two addresses expected")
        };
        // Routing would answer 127.0.0.2 from 127.0.0.1, the client's own address.
        let target = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), v4.port()));
        let q = query(3, "web.example.", A);
        let (reply, from) = ask(&client("127.0.0.1:0"), target, &q);
        assert_eq!(from, target);
        assert_eq!(decode(&reply, q.len()).first_rdata, [10, 0, 0, 1]);

        let target = SocketAddr::from((Ipv6Addr::LOCALHOST, v6.port()));
        let (reply, from) = ask(&client("[::1]:0"), target, &q);
        assert_eq!(from, target);
        assert_eq!(decode(&reply, q.len()).id, 3);
        workers.stop();
    }

    #[test]
    fn stop_is_prompt() {
        let (workers, _table) = start(
            vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
            4,
        );
        std::thread::sleep(Duration::from_millis(30));
        let started = Instant::now();
        workers.stop();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(200), "stop took {took:?}");
    }

    #[test]
    fn a_second_server_on_a_port_in_use_is_refused() {
        // Without the exclusive probe the second group's SO_REUSEPORT sockets would
        // bind beside the first's and the kernel would split the queries.
        let table = Table::new();
        let engine = Arc::new(Engine::default());
        let first = UdpWorkers::spawn(
            config(vec!["127.0.0.1:0".parse().unwrap()], 2),
            Arc::clone(&engine),
            table.clone(),
        )
        .unwrap();
        let taken = first.local_addrs()[0];
        let error = UdpWorkers::spawn(config(vec![taken], 1), engine, table).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains(&taken.to_string()), "{error}");
        first.stop();
    }

    #[test]
    fn bind_errors_name_the_address() {
        // A socket without SO_REUSEPORT holds the port: nobody may share it.
        let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap();
        let table = Table::new();
        let engine = Arc::new(Engine::default());
        let free: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let error = UdpWorkers::spawn(config(vec![free, taken], 2), engine, table).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains(&taken.to_string()), "{error}");
    }

    #[test]
    fn bad_configs_are_refused() {
        let listen = vec!["127.0.0.1:0".parse().unwrap()];
        let mut bad = vec![
            UdpConfig {
                batch: 16,
                ..config(listen.clone(), 1)
            },
            config(listen.clone(), 0),
            config(Vec::new(), 1),
        ];
        bad.push(UdpConfig {
            cores: Some(Vec::new()),
            ..config(listen, 1)
        });
        for config in bad {
            let error =
                UdpWorkers::spawn(config, Arc::new(Engine::default()), Table::new()).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
        }
    }

    #[test]
    fn workers_are_pinned_to_the_cores_asked_for() {
        let table = Table::new();
        let engine = Arc::new(Engine::default());
        let config = UdpConfig {
            cores: Some(vec![0]),
            ..config(vec!["127.0.0.1:0".parse().unwrap()], 2)
        };
        let workers = UdpWorkers::spawn(config, engine, table).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while workers.stats().iter().any(|s| s.core.is_none()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let cores: Vec<_> = workers.stats().iter().map(|s| s.core).collect();
        assert_eq!(cores, [Some(0), Some(0)]);
        workers.stop();
    }
}
