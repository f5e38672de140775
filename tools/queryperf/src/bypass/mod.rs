//! Kernel bypass: queries sent and answers received through a DPDK port
//! (`--dpdk "<EAL args>"`), with the project's own DPDK layer (`ferrodns-dpdk`).
//!
//! A kernel-socket client spends most of its time in the kernel: a system call
//! moves a batch, but every datagram still costs a trip through the network
//! stack each way, so one client core cannot load a server that answers from
//! DPDK. Here each lcore builds whole Ethernet frames in mbufs ([`frame`]),
//! sends them in bursts on its own queue pair of the port and matches the
//! answers it receives on that queue ([`lcore`]), in the same worker loop as
//! kernel mode: pacing, the outstanding limit, progress, loss, the latency
//! histogram. Latency is stamped from the TSC when a burst is received and
//! before a burst is built.
//!
//! The run, on the thread that starts the EAL (the main lcore):
//!
//! 1. starts the EAL with the operator's arguments and the port with one queue
//!    pair per sending lcore: every lcore of the EAL's list but the main one,
//!    or the main one alone when it is the only one;
//! 2. learns the server's MAC by ARP or neighbor discovery ([`neighbor`]),
//!    unless `--remote-mac` gives it (a server behind a router: the router's);
//! 3. launches the worker loop on each sending lcore and prints progress;
//! 4. collects the outcomes and the port's counters.
//!
//! What it can and cannot tell is in `docs/benchmarks.md` ("queryperf in DPDK
//! mode"): latency includes the client's own poll loop and burst building; one
//! port per run; no TCP; answers are not reassembled from fragments.

mod checksum;
mod frame;
mod inbound;
mod lcore;
mod local;
mod neighbor;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use ferrodns_dpdk::{
    DpdkError, Eal, MAX_BURST, MacAddr, Mbuf, Mempool, MempoolConfig, Port, PortConfig, PortStats,
    QueuePair, TscClock,
};

use crate::run::{Finished, RunSpec};
use crate::worker::{self, Outcome, Progress};
use frame::{Link, QueryFrames};
use inbound::Addressing;
use lcore::{FlowMap, INBOX, LcoreCounters, LcoreLink};
pub(crate) use local::LocalAddrs;
use neighbor::{Handled, Neighbors};

/// The first source port when `-x` does not say.
pub(crate) const FIRST_PORT: u16 = 10_000;
/// Descriptors per receive and per transmit queue.
const DESCRIPTORS: u16 = 2048;
/// Packet room per mbuf: a full Ethernet frame plus DPDK's headroom.
const MBUF_DATA_ROOM: u16 = 2048 + 128;
const MBUF_CACHE: u32 = 256;
/// How long to wait for the server's MAC, and how often to ask.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
const RESOLVE_RETRY: Duration = Duration::from_millis(250);

/// The DPDK side of the flags.
#[derive(Debug, Clone)]
pub(crate) struct BypassConfig {
    pub(crate) eal_args: Vec<String>,
    /// The port to send from; the first one the EAL arguments create when
    /// `None`.
    pub(crate) port: Option<String>,
    pub(crate) server: SocketAddr,
    pub(crate) local: LocalAddrs,
    /// Source port of flow 0 (`-x`).
    pub(crate) first_port: u16,
    /// Flows (source ports) in all (`-c`).
    pub(crate) flows: usize,
    pub(crate) remote_mac: Option<MacAddr>,
    pub(crate) vlan: Option<u16>,
}

/// Why a DPDK run could not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BypassError {
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    #[error("--local {0}: expected an IP address, optionally with a /PREFIX")]
    Local(String),
    #[error("--local {local} and the server {server} are of different address families")]
    Family {
        local: String,
        server: std::net::IpAddr,
    },
    #[error("--local {local} leaves no source address once the server's is taken out")]
    NoSource { local: String },
    #[error(
        "no answer from {server} to ARP or neighbor solicitation through {port} in {seconds} s: \
         is it on the port's link (give --remote-mac for a server behind a router)?"
    )]
    Unresolved {
        server: std::net::IpAddr,
        port: String,
        seconds: u64,
    },
    #[error("the DPDK mempool ran out of mbufs while resolving the server's MAC")]
    NoMbuf,
    #[error("lcore {lcore}: {source}")]
    Worker { lcore: u32, source: std::io::Error },
    #[error("the worker on lcore {0} panicked or never reported")]
    WorkerLost(u32),
    #[error("VLAN ID {0} is out of range (1 to 4094)")]
    Vlan(u16),
}

/// `--remote-mac`: six hexadecimal bytes separated by colons.
pub(crate) fn parse_mac(text: &str) -> Result<MacAddr, String> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|part| u8::from_str_radix(part, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))?;
    <[u8; 6]>::try_from(bytes)
        .map(MacAddr)
        .map_err(|_| format!("{text:?} is not a MAC address (six bytes, aa:bb:cc:dd:ee:ff)"))
}

/// Runs `spec` from a DPDK port as `config` says.
pub(crate) fn run(config: &BypassConfig, spec: &RunSpec) -> Result<Finished, BypassError> {
    if let Some(vlan) = config.vlan
        && !(1..=4094).contains(&vlan)
    {
        return Err(BypassError::Vlan(vlan));
    }
    let local = config.local.clone().without(config.server.ip())?;
    let eal = Eal::init(&config.eal_args)?;
    let workers = eal.worker_lcores();
    let senders = if workers.is_empty() {
        vec![eal.main_lcore()]
    } else {
        workers.clone()
    };
    let lcores = senders.len();
    let queues = u16::try_from(lcores).map_err(|_| DpdkError::NoWorkerLcore)?;
    let port_name = match &config.port {
        Some(name) => name.clone(),
        None => Port::names(&eal)
            .into_iter()
            .next()
            .ok_or_else(|| DpdkError::NoSuchPort {
                name: "(the first port)".into(),
                available: "none (add a --vdev or a PCI device to the EAL arguments)".into(),
            })?,
    };
    let per_queue = u32::from(DESCRIPTORS) * 2 + MBUF_CACHE + 4 * MAX_BURST as u32 + INBOX as u32;
    let pool = Mempool::create(
        &eal,
        &MempoolConfig {
            name: "queryperf_pkt".into(),
            mbufs: (per_queue * u32::from(queues)).next_power_of_two() - 1,
            per_lcore_cache: MBUF_CACHE,
            data_room: MBUF_DATA_ROOM,
            socket: eal.main_lcore().socket(),
        },
    )?;
    let (port, mut queue_pairs) = Port::start(
        &eal,
        &port_name,
        &PortConfig {
            queues,
            rx_descriptors: DESCRIPTORS,
            tx_descriptors: DESCRIPTORS,
            mempool: pool,
            promiscuous: false,
        },
    )?;
    let mut link = Link {
        mac: port.mac().0,
        server_mac: [0; 6],
        vlan: config.vlan,
        server: config.server,
    };
    let neighbors = Neighbors::new(link);
    let how = match config.remote_mac {
        Some(mac) => {
            link.server_mac = mac.0;
            "given"
        }
        None => {
            link.server_mac =
                resolve(&mut queue_pairs, pool, &neighbors, &local).ok_or_else(|| {
                    BypassError::Unresolved {
                        server: config.server.ip(),
                        port: port_name.clone(),
                        seconds: RESOLVE_TIMEOUT.as_secs(),
                    }
                })??;
            if config.server.is_ipv6() {
                "learnt by neighbor discovery"
            } else {
                "learnt by ARP"
            }
        }
    };
    let console = spec.console;
    console.status(&format!(
        "DPDK port {} ({}), MAC {}, {} queue pair{} polled by lcore{} {}",
        port.name(),
        port.driver(),
        port.mac(),
        lcores,
        if lcores == 1 { "" } else { "s" },
        if lcores == 1 { "" } else { "s" },
        senders
            .iter()
            .map(|l| l.id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    console.status(&format!(
        "Server MAC {} ({how}); sources {}, ports {} to {}",
        MacAddr(link.server_mac),
        local.describe(),
        config.first_port,
        usize::from(config.first_port) + config.flows.max(lcores) - 1
    ));

    let clock = TscClock::start(&eal);
    let addressing = Arc::new(Addressing {
        mac: link.mac,
        server: local::number(config.server.ip()),
        server_port: config.server.port(),
        local,
    });
    let frames = Arc::new(QueryFrames::new(&link, &spec.queries));
    let inboxes: Arc<[ArrayQueue<lcore::Handoff>]> =
        (0..lcores).map(|_| ArrayQueue::new(INBOX)).collect();
    let flows = config.flows.max(lcores);
    let mut links: Vec<LcoreLink> = queue_pairs
        .into_iter()
        .enumerate()
        .map(|(index, queue)| LcoreLink {
            queue,
            pool,
            clock,
            frames: Arc::clone(&frames),
            queries: Arc::clone(&spec.queries),
            addressing: Arc::clone(&addressing),
            neighbors: neighbors.clone(),
            index,
            flows: FlowMap {
                first_port: config.first_port,
                flows,
                lcores,
            },
            inboxes: Arc::clone(&inboxes),
            read_answers: spec.track,
            counters: LcoreCounters::default(),
            next_source: index,
            rx: Vec::with_capacity(MAX_BURST),
            tx: Vec::with_capacity(MAX_BURST),
            replies: Vec::with_capacity(MAX_BURST),
        })
        .collect();

    spec.announce(&config.server.to_string());
    let (progress_tx, progress_rx) = mpsc::channel::<Progress>();
    let (done_tx, done_rx) = mpsc::channel::<(usize, std::io::Result<Outcome>, LcoreCounters)>();
    let start = Instant::now();
    let mut results: Vec<Option<(std::io::Result<Outcome>, LcoreCounters)>> =
        (0..lcores).map(|_| None).collect();
    if workers.is_empty() {
        // The main lcore sends; progress is printed from a thread of its own.
        let printer_spec = spec.clone();
        let printer =
            std::thread::spawn(move || printer_spec.print_progress(&progress_rx, 1, start));
        if let Some(mut link) = links.pop() {
            let plan = spec.plan(0, 1);
            let outcome = worker::run(&plan, &mut link, 0, start, &progress_tx);
            results[0] = Some((outcome, link.counters));
        }
        drop(progress_tx);
        let _ = printer.join();
    } else {
        let mut launched = Vec::with_capacity(lcores);
        for (index, (mut link, &lcore)) in links.into_iter().zip(&senders).enumerate() {
            let plan = spec.plan(index, lcores);
            let progress = progress_tx.clone();
            let done = done_tx.clone();
            launched.push(eal.launch(lcore, move || {
                let outcome = worker::run(&plan, &mut link, index, start, &progress);
                let _ = done.send((index, outcome, link.counters));
            })?);
        }
        drop(progress_tx);
        drop(done_tx);
        spec.print_progress(&progress_rx, lcores, start);
        for launched in launched {
            let _ = eal.wait(launched);
        }
        for (index, outcome, counters) in done_rx.try_iter() {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some((outcome, counters));
            }
        }
    }

    let mut outcomes = Vec::with_capacity(lcores);
    let mut counters = LcoreCounters::default();
    for (result, lcore) in results.into_iter().zip(&senders) {
        let (outcome, lcore_counters) = result.ok_or(BypassError::WorkerLost(lcore.id()))?;
        outcomes.push(outcome.map_err(|source| BypassError::Worker {
            lcore: lcore.id(),
            source,
        })?);
        counters.add(&lcore_counters);
    }
    let finished = spec.finish(outcomes, start);
    report_port(spec, &port.stats(), &counters);
    Ok(finished)
}

/// The port's and the lcores' own counters, in one `[Status]` line.
fn report_port(spec: &RunSpec, port: &PortStats, counters: &LcoreCounters) {
    spec.console.status(&format!(
        "Port: {} frames sent, {} received, {} missed (no free descriptor), {} without mbuf; \
         lcores: {} other frames, {} ARP/ND answers, {} answers passed between lcores, \
         {} lost to a full inbox, {} sends short of mbufs, {} frames refused by the queue",
        port.tx_packets,
        port.rx_packets,
        port.rx_missed,
        port.rx_no_mbuf,
        counters.other,
        counters.resolution_replies,
        counters.handed_over,
        counters.inbox_full,
        counters.no_mbuf,
        counters.tx_full
    ));
}

impl LcoreCounters {
    fn add(&mut self, other: &LcoreCounters) {
        self.other += other.other;
        self.resolution_replies += other.resolution_replies;
        self.handed_over += other.handed_over;
        self.inbox_full += other.inbox_full;
        self.no_mbuf += other.no_mbuf;
        self.tx_full += other.tx_full;
    }
}

/// Asks for the server's MAC on queue 0 until an answer arrives on any queue,
/// answering requests for the source addresses meanwhile; `None` when no
/// answer came in time.
fn resolve(
    queues: &mut [QueuePair],
    pool: Mempool,
    neighbors: &Neighbors,
    local: &LocalAddrs,
) -> Option<Result<[u8; 6], BypassError>> {
    let start = Instant::now();
    let mut next_request = start;
    let mut burst: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
    let mut replies: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
    while start.elapsed() < RESOLVE_TIMEOUT {
        if Instant::now() >= next_request {
            let Some(mut request) = Mbuf::alloc(&pool) else {
                return Some(Err(BypassError::NoMbuf));
            };
            let len = request
                .room_mut()
                .and_then(|room| neighbors.request(room, local.source(0)));
            if let (Some(len), Some(queue)) = (len, queues.first_mut())
                && request.set_len(len)
            {
                queue.tx_burst(&mut vec![request]);
            }
            next_request += RESOLVE_RETRY;
        }
        for queue in queues.iter_mut() {
            queue.rx_burst(&mut burst);
            for mut mbuf in burst.drain(..) {
                let len = mbuf.len();
                let Some(l2) = inbound::link_layer(mbuf.data()) else {
                    continue;
                };
                let handled = match mbuf.room_mut() {
                    Some(room) => neighbors.handle(room, len, l2, local),
                    None => Handled::Ignored,
                };
                match handled {
                    Handled::Learnt(mac) => return Some(Ok(mac)),
                    Handled::Reply(len) if mbuf.set_len(len) => replies.push(mbuf),
                    _ => {}
                }
            }
            queue.tx_burst(&mut replies);
            replies.clear();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}
