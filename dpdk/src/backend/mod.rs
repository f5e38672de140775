//! The DPDK backend of ferrodns: one poll loop per worker lcore answering DNS in
//! place on its own queue pair of the port, and an exception path to the kernel.
//!
//! ```text
//!                  port (N queue pairs, RSS when offered)
//!          queue 0 |    queue 1 |  ...                         kernel (TAP interface,
//!     +------------v-+ +--------v-----+                          service addresses,
//!     | worker lcore | | worker lcore |  ...                     TCP listener)
//!     |  packet +    | |  packet +    |                                ^   |
//!     |  engine      | |  engine      |      to-kernel rings           |   |
//!     +------+-------+ +------+-------+ ------------------> main lcore: TAP port
//!            ^  from-kernel ring (worker 0) <-----------------------------+
//! ```
//!
//! [`DpdkBackend::start`] runs on its own thread, which becomes DPDK's main lcore:
//! it initialises the EAL with the operator's arguments plus a `net_tap` device
//! for the exception path, starts the port with one queue pair per worker lcore
//! (every lcore of `-l` but the first), gives the TAP port the port's MAC and the
//! kernel interface the service addresses, launches a `worker` on each worker
//! lcore, and then runs the `exception` path until [`DpdkBackend::stop`].
//!
//! Punted queries (names outside every local zone) go to the control plane's
//! forwarder when the engine punts them (a forwarder is configured): the backend
//! makes one punt queue per worker lcore ([`DpdkBackend::take_punts`]), each
//! worker copies the punted frame onto its queue, and the forwarder's answers
//! come back as frames on the worker's reply ring (`forwarded`), so each transmit
//! queue keeps one writer. Without a forwarder the engine answers them REFUSED
//! and the worker sends that like any answer.
//!
//! Each worker counts in the dataplane's per-core shape
//! ([`CoreStats`]), the kernel
//! backend's too.

mod exception;
mod forwarded;
mod kernel;
mod settings;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crossbeam_queue::ArrayQueue;
use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::io::counters::{CoreStats, SharedCoreStats};
use ferrodns_dataplane::io::punt::{PUNT_QUEUE_DEPTH, PuntQueues, Punts};
use ferrodns_dataplane::observe::{ObserverConfig, ObserverHub};
use ferrodns_dataplane::packet::Services;
use ferrodns_dataplane::table::Table;
use tracing::{error, info, warn};

use exception::{ExceptionCounters, ExceptionPath};
pub use forwarded::DpdkReplier;
pub use settings::DpdkSettings;
use worker::Worker;

use crate::eal::{Eal, Launched};
use crate::error::DpdkError;
use crate::mbuf::Mbuf;
use crate::mempool::{Mempool, MempoolConfig};
use crate::port::{Link, MacAddr, Port, PortConfig, PortStats, TxChecksum};

/// DPDK device name of the exception port (a `net_tap` device).
const TAP_DEVICE: &str = "net_tap_ferrodns";
/// Frames each exception ring holds.
const EXCEPTION_RING: usize = 1024;
/// Packet room per mbuf: a full Ethernet frame plus DPDK's headroom.
const MBUF_DATA_ROOM: u16 = 2048 + 128;
const MBUF_CACHE: u32 = 256;
const TAP_DESCRIPTORS: u16 = 512;

/// How to run the DPDK backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// The operator's settings: EAL arguments, port, kernel interface, sizes.
    pub settings: DpdkSettings,
    /// Service endpoints: answered on, and given to the kernel interface.
    pub services: Vec<SocketAddr>,
}

/// What was started, for logs and the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkInfo {
    pub port: String,
    pub driver: String,
    pub mac: MacAddr,
    pub queues: u16,
    /// The worker lcore polling each queue, in queue order.
    pub lcores: Vec<u32>,
    pub rss: bool,
    pub checksum_offload: bool,
    pub kernel_interface: String,
}

/// Everything the backend counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkStats {
    /// One entry per worker, in queue order.
    pub lcores: Vec<CoreStats>,
    pub port: PortStats,
    pub link: Link,
    /// Frames the exception lcore sent to the kernel.
    pub exception_to_kernel: u64,
    /// Frames the kernel sent, handed to worker 0.
    pub exception_from_kernel: u64,
    /// Frames the exception path lost to full queues.
    pub exception_dropped: u64,
}

/// The running backend. Dropping it stops it.
#[derive(Debug)]
pub struct DpdkBackend {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    counters: Arc<[SharedCoreStats]>,
    exception: Arc<ExceptionCounters>,
    port: Option<Port>,
    info: DpdkInfo,
    punts: Option<Punts<DpdkReplier>>,
}

/// What the DPDK thread reports once it is serving.
struct Ready {
    counters: Arc<[SharedCoreStats]>,
    exception: Arc<ExceptionCounters>,
    port: Port,
    info: DpdkInfo,
    punts: Option<Punts<DpdkReplier>>,
}

impl DpdkBackend {
    /// Starts DPDK and the poll loops; returns once every worker is polling, or
    /// with the reason it could not start.
    pub fn start(
        config: DpdkConfig,
        engine: Arc<Engine>,
        table: Table,
    ) -> Result<DpdkBackend, DpdkError> {
        let nothing = ObserverHub::new(ObserverConfig {
            names: false,
            log: None,
        });
        Self::start_observed(config, engine, table, nothing)
    }

    /// [`start`](Self::start), each worker lcore with a query observer from
    /// `observers`.
    pub fn start_observed(
        config: DpdkConfig,
        engine: Arc<Engine>,
        table: Table,
        observers: Arc<ObserverHub>,
    ) -> Result<DpdkBackend, DpdkError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ferrodns-dpdk".into())
            .spawn(move || {
                main_lcore(config, (engine, table, observers), &thread_stop, &ready_tx);
            })
            .map_err(|_| DpdkError::ThreadGone)?;
        match ready_rx.recv() {
            Ok(Ok(ready)) => Ok(DpdkBackend {
                thread: Some(thread),
                stop,
                counters: ready.counters,
                exception: ready.exception,
                port: Some(ready.port),
                info: ready.info,
                punts: ready.punts,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(DpdkError::ThreadGone)
            }
        }
    }

    pub fn info(&self) -> &DpdkInfo {
        &self.info
    }

    /// The workers' punt queues and the replier that sends the forwarder's
    /// answers through them; `Some` once, when the engine punts.
    pub fn take_punts(&mut self) -> Option<Punts<DpdkReplier>> {
        self.punts.take()
    }

    /// Every counter as it is now, without locks (each worker's values may be a
    /// burst apart).
    pub fn stats(&self) -> DpdkStats {
        let (port, link) = match &self.port {
            Some(port) => (port.stats(), port.link()),
            None => (
                PortStats::default(),
                Link {
                    up: false,
                    speed_mbps: None,
                    full_duplex: false,
                },
            ),
        };
        DpdkStats {
            lcores: self
                .counters
                .iter()
                .map(SharedCoreStats::snapshot)
                .collect(),
            port,
            link,
            exception_to_kernel: self.exception.to_kernel.load(Ordering::Relaxed),
            exception_from_kernel: self.exception.from_kernel.load(Ordering::Relaxed),
            exception_dropped: self.exception.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops the workers and the exception path, then closes the ports (which
    /// removes the kernel interface). Returns the final counters, every worker's
    /// last burst included.
    pub fn stop(mut self) -> DpdkStats {
        self.join();
        let stats = self.stats();
        self.port = None;
        stats
    }

    fn join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the DPDK main lcore thread panicked");
        }
    }
}

impl Drop for DpdkBackend {
    fn drop(&mut self) {
        self.join();
    }
}

/// The main lcore's whole life: set-up, launching the workers, the exception
/// path, and waiting for the workers at the end.
/// What every worker lcore answers with: the engine, the table and the hub of
/// their query observers.
type Answering = (Arc<Engine>, Table, Arc<ObserverHub>);

fn main_lcore(
    config: DpdkConfig,
    answering: Answering,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<Ready, DpdkError>>,
) {
    let mut eal_args = config.settings.eal_args.clone();
    eal_args.push(format!(
        "--vdev={TAP_DEVICE},iface={}",
        config.settings.kernel_interface
    ));
    let eal = match Eal::init(&eal_args) {
        Ok(eal) => eal,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let stop_flag = Arc::new(AtomicBool::new(false));
    let started = start_workers(&eal, &config, answering, &stop_flag);
    let (launched, exception, ready_info) = match started {
        Ok(started) => started,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let info = ready_info.info.clone();
    info!(
        port = %info.port,
        driver = %info.driver,
        mac = %info.mac,
        queues = info.queues,
        lcores = ?info.lcores,
        rss = info.rss,
        checksum_offload = info.checksum_offload,
        kernel_interface = %info.kernel_interface,
        "DPDK dataplane polling"
    );
    let _ = ready.send(Ok(ready_info));

    // The stop flag the workers poll is set only after the caller's, so the
    // exception path runs as long as any worker does.
    exception.run(stop);
    stop_flag.store(true, Ordering::Relaxed);
    for launched in launched {
        let lcore = launched.lcore().id();
        match eal.wait(launched) {
            Ok(true) => {}
            Ok(false) => error!(lcore, "a DPDK worker panicked"),
            Err(e) => warn!(lcore, "cannot wait for a DPDK worker: {e}"),
        }
    }
}

/// Starts the ports, configures the kernel interface and launches one worker per
/// worker lcore. On error, every launched worker has been stopped and waited for.
fn start_workers(
    eal: &Eal,
    config: &DpdkConfig,
    (engine, table, observers): Answering,
    stop: &Arc<AtomicBool>,
) -> Result<(Vec<Launched>, ExceptionPath, Ready), DpdkError> {
    let lcores = eal.worker_lcores();
    if lcores.is_empty() {
        return Err(DpdkError::NoWorkerLcore);
    }
    let queues = u16::try_from(lcores.len()).map_err(|_| DpdkError::NoWorkerLcore)?;
    let port_name = match &config.settings.port {
        Some(name) => name.clone(),
        None => Port::names(eal)
            .into_iter()
            .find(|name| name != TAP_DEVICE)
            .ok_or_else(|| DpdkError::NoSuchPort {
                name: "(the first port)".into(),
                available: "none (add a --vdev or a PCI device to the EAL arguments)".into(),
            })?,
    };
    let pool = Mempool::create(
        eal,
        &MempoolConfig {
            name: "ferrodns_pkt".into(),
            mbufs: config.settings.mbufs,
            per_lcore_cache: MBUF_CACHE,
            data_room: MBUF_DATA_ROOM,
            socket: eal.main_lcore().socket(),
        },
    )?;
    let (port, port_queues) = Port::start(
        eal,
        &port_name,
        &PortConfig {
            queues,
            rx_descriptors: config.settings.descriptors,
            tx_descriptors: config.settings.descriptors,
            mempool: pool,
            promiscuous: true,
        },
    )?;
    let (tap, mut tap_queues) = Port::start(
        eal,
        TAP_DEVICE,
        &PortConfig {
            queues: 1,
            rx_descriptors: TAP_DESCRIPTORS,
            tx_descriptors: TAP_DESCRIPTORS,
            mempool: pool,
            promiscuous: false,
        },
    )?;
    tap.set_mac(port.mac())?;
    kernel::configure(
        &config.settings.kernel_interface,
        &config.services,
        config.settings.ipv4_prefix_len,
        config.settings.ipv6_prefix_len,
    )?;
    let no_queue = |port: &str| DpdkError::Port {
        port: port.to_owned(),
        call: "queue set-up",
        reason: "the started port has no queue pair".into(),
    };
    let tap_queue = tap_queues.pop().ok_or_else(|| no_queue(TAP_DEVICE))?;

    let services = Arc::new(Services::new(port.mac().0, &config.services));
    let counters: Arc<[SharedCoreStats]> =
        lcores.iter().map(|_| SharedCoreStats::default()).collect();
    let to_kernel: Vec<Arc<ArrayQueue<Mbuf>>> = lcores
        .iter()
        .map(|_| Arc::new(ArrayQueue::new(EXCEPTION_RING)))
        .collect();
    let from_kernel = Arc::new(ArrayQueue::new(EXCEPTION_RING));
    let replies: Arc<[Arc<ArrayQueue<Mbuf>>]> = lcores
        .iter()
        .map(|_| Arc::new(ArrayQueue::new(PUNT_QUEUE_DEPTH)))
        .collect();
    let punt_queues = PuntQueues::for_engine(&engine, lcores.len())
        .map_err(|e| DpdkError::PuntQueues(e.to_string()))?;
    let punts = punt_queues.map(|(queues, wake)| Punts {
        queues,
        wake,
        replier: DpdkReplier {
            pool,
            services: Arc::clone(&services),
            tx_checksum: port.tx_checksum(),
            rings: Arc::clone(&replies),
        },
    });
    let mut launched = Vec::with_capacity(lcores.len());
    for (index, (queue, &lcore)) in port_queues.into_iter().zip(&lcores).enumerate() {
        let worker = Worker {
            queue,
            engine: Arc::clone(&engine),
            reader: table.reader(),
            services: Arc::clone(&services),
            tx_checksum: port.tx_checksum(),
            to_kernel: Arc::clone(to_kernel.get(index).ok_or_else(|| no_queue(&port_name))?),
            from_kernel: (index == 0).then(|| Arc::clone(&from_kernel)),
            punt: punts.as_ref().map(|punts| Arc::clone(&punts.queues)),
            replies: Arc::clone(replies.get(index).ok_or_else(|| no_queue(&port_name))?),
            counters: Arc::clone(&counters),
            index,
            stop: Arc::clone(stop),
            idle_sleep: config.settings.idle_sleep,
            observer: observers.observer(),
        };
        match eal.launch(lcore, move || worker.run()) {
            Ok(handle) => launched.push(handle),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for handle in launched {
                    let _ = eal.wait(handle);
                }
                return Err(e);
            }
        }
    }
    let exception_counters = Arc::new(ExceptionCounters::default());
    let exception = ExceptionPath {
        tap: tap_queue,
        to_kernel,
        from_kernel,
        counters: Arc::clone(&exception_counters),
    };
    let info = DpdkInfo {
        port: port.name().to_owned(),
        driver: port.driver().to_owned(),
        mac: port.mac(),
        queues,
        lcores: lcores.iter().map(|l| l.id()).collect(),
        rss: port.rss(),
        checksum_offload: matches!(port.tx_checksum(), TxChecksum::Offload { .. }),
        kernel_interface: config.settings.kernel_interface.clone(),
    };
    let ready = Ready {
        counters,
        exception: exception_counters,
        port,
        info,
        punts,
    };
    Ok((launched, exception, ready))
}
