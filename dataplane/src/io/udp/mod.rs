//! The kernel-socket UDP backend: pinned poll loops over `SO_REUSEPORT` sockets,
//! reading and answering in `recvmmsg`/`sendmmsg` batches.
//!
//! - [`UdpWorkers::spawn`] opens every socket first (`sockets`: an address in use
//!   or a missing privilege is reported by `spawn`, naming the address), then
//!   starts one thread per worker, pinned to its core.
//! - A worker (`worker`) owns one socket per listen address, all bound with
//!   `SO_REUSEPORT` to the same addresses as its siblings', so the kernel spreads
//!   clients across workers. Sockets bound to a wildcard address (`0.0.0.0`,
//!   `[::]`) ask the kernel for each query's destination (`IP_PKTINFO`, read and
//!   written by `pktinfo`) and send the reply from it.
//! - The worker waits in `poll(2)` on its sockets and a stop signal, drains each
//!   readable socket in batches (`batches`: the datagram slots and the only
//!   `unsafe` code of the crate), refreshes its table version once per batch and
//!   publishes its [`CoreStats`] after each batch.
//! - [`UdpWorkers::stop`] raises the flag, wakes every `poll` and joins the threads.
//! - When the engine punts (a forwarder is configured), the workers push those
//!   queries onto punt queues made at spawn ([`UdpWorkers::take_punts`]); the
//!   forwarder answers them through [`UdpReplier`], which sends from a duplicate
//!   of the very socket the query came in on (and, on wildcard sockets, from the
//!   address the client asked).
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
//!     on a poll timeout: the query observer's tick
//! ```
//!
//! Each worker tells its [`QueryObserver`](crate::observe::QueryObserver)
//! about every query (the query log, the counts of the names asked): a branch
//! per query when it watches nothing, else work on the worker's own memory and
//! lock-free queues (see [`observe`](crate::observe)).
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
//!
//! [`CoreStats`]: crate::io::counters::CoreStats

mod batches;
mod pktinfo;
mod replier;
mod sockets;
#[cfg(test)]
mod tests;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tracing::{debug, error};

pub use replier::UdpReplier;
use worker::{NO_CORE, WorkerSlot, WorkerStart};

use crate::engine::Engine;
use crate::io::counters::CoreStats;
use crate::io::punt::{PuntQueues, Punts};
use crate::observe::{ObserverConfig, ObserverHub};
use crate::table::Table;

/// `recvmmsg`/`sendmmsg` take at most `UIO_MAXIOV` messages per call.
const MAX_BATCH: usize = 1024;
const MIN_BATCH: usize = 32;

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

/// Running UDP workers. Dropping them stops them too.
#[derive(Debug)]
pub struct UdpWorkers {
    threads: Vec<JoinHandle<()>>,
    slots: Arc<[WorkerSlot]>,
    stop: Arc<AtomicBool>,
    /// Sending one byte here wakes every worker's `poll` at once (no one reads it,
    /// so the other end stays readable).
    wake: UnixDatagram,
    local_addrs: Vec<SocketAddr>,
    punts: Option<Punts<UdpReplier>>,
}

impl UdpWorkers {
    /// Opens `config.workers` sockets per listen address and starts the workers,
    /// watching nothing. See [`spawn_observed`](Self::spawn_observed).
    pub fn spawn(config: UdpConfig, engine: Arc<Engine>, table: Table) -> io::Result<UdpWorkers> {
        let nothing = ObserverHub::new(ObserverConfig {
            names: false,
            log: None,
        });
        Self::spawn_observed(config, engine, table, &nothing)
    }

    /// Opens `config.workers` sockets per listen address and starts the workers,
    /// each with a query observer from `observers`. Fails, naming the address,
    /// if any socket cannot be opened or bound; then nothing is left running.
    /// When `engine` punts, the workers' punt queues are made here, for
    /// [`take_punts`](Self::take_punts).
    pub fn spawn_observed(
        config: UdpConfig,
        engine: Arc<Engine>,
        table: Table,
        observers: &ObserverHub,
    ) -> io::Result<UdpWorkers> {
        validate(&config)?;
        let cores = plan_cores(&config);
        let (sockets, local_addrs) = sockets::open_all(&config.listen, config.workers)?;
        let punts = match PuntQueues::for_engine(&engine, config.workers)? {
            Some((queues, wake)) => Some(Punts {
                queues,
                wake,
                replier: UdpReplier::new(&sockets)?,
            }),
            None => None,
        };
        let (wake, wake_rx) = UnixDatagram::pair()?;
        wake.set_nonblocking(true)?;
        let wake_rx = Arc::new(wake_rx);
        let mut workers = UdpWorkers {
            threads: Vec::with_capacity(config.workers),
            slots: (0..config.workers).map(|_| WorkerSlot::default()).collect(),
            stop: Arc::new(AtomicBool::new(false)),
            wake,
            local_addrs,
            punts,
        };
        let punt = workers.punts.as_ref().map(|p| Arc::clone(&p.queues));
        for (index, (sockets, core)) in sockets.into_iter().zip(cores).enumerate() {
            let start = WorkerStart {
                index,
                core,
                sockets,
                batch: config.batch,
                engine: Arc::clone(&engine),
                reader: table.reader(),
                slots: Arc::clone(&workers.slots),
                stop: Arc::clone(&workers.stop),
                wake: Arc::clone(&wake_rx),
                punt: punt.clone(),
                observer: observers.observer(),
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

    /// The workers' punt queues and the replier that sends the forwarder's
    /// answers from their sockets; `Some` once, when the engine punts.
    pub fn take_punts(&mut self) -> Option<Punts<UdpReplier>> {
        self.punts.take()
    }

    /// Every worker's counters as they are now, in worker order. Lock-free: each
    /// value is read with one relaxed load, so counters of one worker may be a
    /// batch apart.
    pub fn stats(&self) -> Vec<CoreStats> {
        self.slots.iter().map(|s| s.counters.snapshot()).collect()
    }

    /// The core each worker is pinned to, in worker order (`None` until it is,
    /// or if pinning failed).
    pub fn cores(&self) -> Vec<Option<usize>> {
        self.slots
            .iter()
            .map(|s| match s.core.load(Ordering::Relaxed) {
                NO_CORE => None,
                core => usize::try_from(core).ok(),
            })
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
    if config.workers > usize::from(u16::MAX) || config.listen.len() > usize::from(u16::MAX) {
        return Err(invalid("too many UDP workers or listen addresses".into()));
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
