//! Ethernet ports: configuration, queue pairs, link and statistics.
//!
//! [`Port::start`] configures a port with N receive/transmit queue pairs and starts
//! it, using what the driver offers:
//!
//! - **RSS.** With more than one queue pair and a driver that hashes flows, the
//!   port spreads packets over the receive queues by IP addresses and UDP ports
//!   (`RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP`, as far as offered), so each lcore sees
//!   whole flows. Drivers without RSS spread packets their own way (af_packet
//!   hashes flows in the kernel with a fanout group) or use only queue 0.
//! - **Checksum offload.** When the driver computes both IPv4 header and UDP
//!   checksums on transmit, the port is configured for it and
//!   [`Port::tx_checksum`] says so; otherwise checksums are the dataplane's job.
//!
//! The result is a [`Port`] handle (link, statistics, address: for the control
//! plane) and one [`QueuePair`] per queue (for the lcore that polls it). Every one
//! of them holds the port open: it is stopped and closed when the last is dropped,
//! so no lcore can poll a closed port.
// This module calls DPDK (ethdev configuration and the burst calls): `unsafe` is allowed here, each
// block with its `SAFETY` proof.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::eal::Eal;
use crate::error::{DpdkError, describe};
use crate::mbuf::{Mbuf, TxOffload};
use crate::mempool::Mempool;
use crate::sys;

/// Most packets one [`QueuePair::rx_burst`] or [`QueuePair::tx_burst`] moves.
pub const MAX_BURST: usize = 64;

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// Receive/transmit queue pairs, one per polling lcore.
    pub queues: u16,
    /// Descriptors per receive queue (the driver may round it).
    pub rx_descriptors: u16,
    /// Descriptors per transmit queue (the driver may round it).
    pub tx_descriptors: u16,
    /// Pool the receive queues take their buffers from.
    pub mempool: Mempool,
    /// Receive frames for every destination address, not just the port's own.
    pub promiscuous: bool,
}

/// A port's hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Who computes IPv4 and UDP checksums of transmitted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxChecksum {
    /// The dataplane, in software.
    Software,
    /// The port. The dataplane zeroes the IPv4 header checksum, writes the
    /// pseudo-header sum into the UDP checksum and flags the mbuf with these.
    Offload {
        ipv4_udp: TxOffload,
        ipv6_udp: TxOffload,
    },
}

/// Link state, as the driver reports it without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    /// Speed in Mbit/s, when the driver knows it.
    pub speed_mbps: Option<u32>,
    pub full_duplex: bool,
}

/// A port's counters since it started, as its driver keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Frames the hardware dropped because no receive descriptor was free.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Receive failures for want of an mbuf in the pool.
    pub rx_no_mbuf: u64,
}

/// What a started port is; shared by its [`Port`] and [`QueuePair`]s.
#[derive(Debug)]
struct PortState {
    id: u16,
    name: String,
    driver: String,
    mac: MacAddr,
    queues: u16,
    rss: bool,
    tx_checksum: TxChecksum,
    promiscuous: bool,
}

impl Drop for PortState {
    fn drop(&mut self) {
        // SAFETY: the port was started by `Port::start` and this is the last
        // handle to it (no queue pair is left to poll it); stop then close is the
        // order DPDK requires. Failures leave nothing for us to release.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// A started port, for the control plane: address, link, statistics.
#[derive(Debug, Clone)]
pub struct Port {
    state: Arc<PortState>,
}

/// One receive/transmit queue pair of a started port, for the one lcore that
/// polls it. Not `Clone`: DPDK queues are not thread-safe, so each has one owner.
#[derive(Debug)]
pub struct QueuePair {
    state: Arc<PortState>,
    queue: u16,
}

impl Port {
    /// Names of the ports the EAL arguments created, in port-id order.
    pub fn names(_eal: &Eal) -> Vec<String> {
        (0..sys::RTE_MAX_ETHPORTS as u16)
            .filter(|&id| is_valid(id))
            .filter_map(port_name)
            .collect()
    }

    /// Configures the port named `name` (`net_af_packet0`, a PCI address...) with
    /// `config.queues` queue pairs and starts it.
    pub fn start(
        eal: &Eal,
        name: &str,
        config: &PortConfig,
    ) -> Result<(Port, Vec<QueuePair>), DpdkError> {
        let id = find(eal, name)?;
        let fail = |call: &'static str, rc: i32| DpdkError::Port {
            port: name.to_owned(),
            call,
            reason: describe(rc),
        };
        let info = dev_info(id).map_err(|rc| fail("rte_eth_dev_info_get", rc))?;
        if config.queues == 0
            || config.queues > info.max_rx_queues
            || config.queues > info.max_tx_queues
        {
            return Err(DpdkError::Port {
                port: name.to_owned(),
                call: "queue set-up",
                reason: format!(
                    "{} queue pairs asked, the driver offers 1 to {} (check the \
                     port's queue options in the EAL arguments, e.g. qpairs= for af_packet)",
                    config.queues,
                    info.max_rx_queues.min(info.max_tx_queues)
                ),
            });
        }

        let mut conf = sys::rte_eth_conf::default();
        // SAFETY: reads a constant computed by the shim.
        let wanted_rss = unsafe { sys::ferrodns_rss_ip_udp() };
        let rss_hf = info.flow_type_rss_offloads & wanted_rss;
        let rss = config.queues > 1 && rss_hf != 0;
        if rss {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        let tx_checksum = tx_checksum(info.tx_offload_capa);
        if matches!(tx_checksum, TxChecksum::Offload { .. }) {
            // SAFETY: reads constants computed by the shim.
            conf.txmode.offloads = unsafe {
                sys::ferrodns_tx_offload_ipv4_cksum() | sys::ferrodns_tx_offload_udp_cksum()
            };
        }
        // SAFETY: `id` is a valid port; `conf` is a fully initialised configuration
        // that DPDK copies.
        let rc = unsafe { sys::rte_eth_dev_configure(id, config.queues, config.queues, &conf) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_configure", rc));
        }
        let (mut rx_desc, mut tx_desc) = (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: valid port; both pointers are to live locals DPDK updates in place.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_adjust_nb_rx_tx_desc", rc));
        }
        // SAFETY: valid port.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = u32::try_from(socket).unwrap_or(u32::MAX);
        let mut rxconf = info.default_rxconf;
        rxconf.offloads = conf.rxmode.offloads;
        let mut txconf = info.default_txconf;
        txconf.offloads = conf.txmode.offloads;
        for queue in 0..config.queues {
            // SAFETY: valid, configured, stopped port; `queue` is below the number
            // of queues configured; `rxconf` is a live copy of the driver's
            // defaults; the mempool lives as long as the process.
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    id,
                    queue,
                    rx_desc,
                    socket,
                    &rxconf,
                    config.mempool.as_ptr(),
                )
            };
            if rc != 0 {
                return Err(fail("rte_eth_rx_queue_setup", rc));
            }
            // SAFETY: as above, for the transmit queue.
            let rc = unsafe { sys::rte_eth_tx_queue_setup(id, queue, tx_desc, socket, &txconf) };
            if rc != 0 {
                return Err(fail("rte_eth_tx_queue_setup", rc));
            }
        }
        // SAFETY: valid, configured port with every queue set up.
        let rc = unsafe { sys::rte_eth_dev_start(id) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_start", rc));
        }
        let state = Arc::new(PortState {
            id,
            name: name.to_owned(),
            driver: driver_name(&info),
            mac: mac_addr(id),
            queues: config.queues,
            rss,
            tx_checksum,
            // SAFETY: valid, started port. Drivers that cannot (or need not) change
            // mode return an error, reported through `promiscuous()`.
            promiscuous: config.promiscuous && unsafe { sys::rte_eth_promiscuous_enable(id) } == 0,
        });
        let queues = (0..config.queues)
            .map(|queue| QueuePair {
                state: Arc::clone(&state),
                queue,
            })
            .collect();
        Ok((Port { state }, queues))
    }

    pub fn id(&self) -> u16 {
        self.state.id
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The driver's name (`net_af_packet`, `net_pcap`...).
    pub fn driver(&self) -> &str {
        &self.state.driver
    }

    pub fn mac(&self) -> MacAddr {
        self.state.mac
    }

    pub fn queues(&self) -> u16 {
        self.state.queues
    }

    /// Whether the port hashes flows over its receive queues.
    pub fn rss(&self) -> bool {
        self.state.rss
    }

    pub fn tx_checksum(&self) -> TxChecksum {
        self.state.tx_checksum
    }

    /// Whether promiscuous mode was asked for and the driver accepted it.
    pub fn promiscuous(&self) -> bool {
        self.state.promiscuous
    }

    /// Gives the port another hardware address (for a TAP port, the kernel
    /// interface's address changes with it).
    pub fn set_mac(&self, mac: MacAddr) -> Result<(), DpdkError> {
        let mut addr = sys::rte_ether_addr { addr_bytes: mac.0 };
        // SAFETY: valid port; `addr` is a live address DPDK copies.
        let rc = unsafe { sys::rte_eth_dev_default_mac_addr_set(self.state.id, &mut addr) };
        if rc == 0 {
            Ok(())
        } else {
            Err(DpdkError::Port {
                port: self.state.name.clone(),
                call: "rte_eth_dev_default_mac_addr_set",
                reason: describe(rc),
            })
        }
    }

    /// Link state now, without waiting for the driver to negotiate.
    pub fn link(&self) -> Link {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: valid port; `link` is a live struct DPDK fills in.
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.state.id, &mut link) };
        if rc != 0 {
            return Link {
                up: false,
                speed_mbps: None,
                full_duplex: false,
            };
        }
        Link {
            up: u32::from(link.link_status()) == sys::RTE_ETH_LINK_UP,
            speed_mbps: (link.link_speed != sys::RTE_ETH_SPEED_NUM_UNKNOWN && link.link_speed != 0)
                .then_some(link.link_speed),
            full_duplex: u32::from(link.link_duplex()) == sys::RTE_ETH_LINK_FULL_DUPLEX,
        }
    }

    /// The driver's counters since the port started.
    pub fn stats(&self) -> PortStats {
        let mut stats = sys::rte_eth_stats::default();
        // SAFETY: valid port; `stats` is a live struct DPDK fills in. Reading
        // statistics while lcores poll is supported by the ethdev API.
        let rc = unsafe { sys::rte_eth_stats_get(self.state.id, &mut stats) };
        if rc != 0 {
            return PortStats::default();
        }
        PortStats {
            rx_packets: stats.ipackets,
            tx_packets: stats.opackets,
            rx_bytes: stats.ibytes,
            tx_bytes: stats.obytes,
            rx_missed: stats.imissed,
            rx_errors: stats.ierrors,
            tx_errors: stats.oerrors,
            rx_no_mbuf: stats.rx_nombuf,
        }
    }
}

impl QueuePair {
    pub fn queue(&self) -> u16 {
        self.queue
    }

    pub fn port_id(&self) -> u16 {
        self.state.id
    }

    /// Receives up to [`MAX_BURST`] frames, as many as `out` has spare capacity
    /// for (so it never reallocates), appending them. Returns how many arrived.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>) -> usize {
        let room = (out.capacity() - out.len()).min(MAX_BURST);
        let mut raw = [ptr::null_mut::<sys::rte_mbuf>(); MAX_BURST];
        // SAFETY: the port is started (our `Arc` keeps it so) and this queue is
        // ours alone (`&mut self`, `QueuePair` is not `Clone`). DPDK writes at
        // most `room <= MAX_BURST` pointers into `raw`, each to an mbuf it hands
        // over to us.
        let received = unsafe {
            sys::ferrodns_rx_burst(self.state.id, self.queue, raw.as_mut_ptr(), room as u16)
        };
        let received = usize::from(received).min(room);
        for &mbuf in raw.iter().take(received) {
            if let Some(mbuf) = NonNull::new(mbuf) {
                // SAFETY: DPDK just handed this mbuf over; nobody else holds it.
                out.push(unsafe { Mbuf::from_raw(mbuf) });
            }
        }
        received
    }

    /// Queues the first frames of `frames` (up to [`MAX_BURST`]) for transmission
    /// and removes those the driver took; frames it had no room for stay in
    /// `frames`. Returns how many were taken.
    #[inline]
    pub fn tx_burst(&mut self, frames: &mut Vec<Mbuf>) -> usize {
        let count = frames.len().min(MAX_BURST);
        let mut raw = [ptr::null_mut::<sys::rte_mbuf>(); MAX_BURST];
        for (slot, frame) in raw.iter_mut().zip(frames.iter()) {
            *slot = frame.as_raw();
        }
        // SAFETY: the port is started and this queue is ours alone (see
        // `rx_burst`). `raw` holds `count` valid mbufs we own; DPDK takes
        // ownership of the first `sent` of them, which we then forget below
        // without touching them again.
        let sent = unsafe {
            sys::ferrodns_tx_burst(self.state.id, self.queue, raw.as_mut_ptr(), count as u16)
        };
        let sent = usize::from(sent).min(count);
        for frame in frames.drain(..sent) {
            frame.into_raw();
        }
        sent
    }
}

fn is_valid(id: u16) -> bool {
    // SAFETY: any id may be asked about.
    unsafe { sys::rte_eth_dev_is_valid_port(id) != 0 }
}

fn port_name(id: u16) -> Option<String> {
    let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: `buf` has the RTE_ETH_NAME_MAX_LEN bytes DPDK may write, which
    // include the NUL terminator.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn find(eal: &Eal, name: &str) -> Result<u16, DpdkError> {
    let not_found = || DpdkError::NoSuchPort {
        name: name.to_owned(),
        available: match Port::names(eal).join(", ") {
            names if names.is_empty() => "none (add a --vdev or a PCI device)".to_owned(),
            names => names,
        },
    };
    let c_name = CString::new(name).map_err(|_| not_found())?;
    let mut id = 0u16;
    // SAFETY: `c_name` is a valid C string; `id` is a live local DPDK writes.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
    if rc == 0 { Ok(id) } else { Err(not_found()) }
}

fn dev_info(id: u16) -> Result<sys::rte_eth_dev_info, i32> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: valid port id; `info` is a live struct DPDK fills in.
    let rc = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
    if rc == 0 { Ok(info) } else { Err(rc) }
}

fn driver_name(info: &sys::rte_eth_dev_info) -> String {
    if info.driver_name.is_null() {
        return String::new();
    }
    // SAFETY: a non-null `driver_name` points to the driver's static,
    // NUL-terminated name.
    unsafe { CStr::from_ptr(info.driver_name) }
        .to_string_lossy()
        .into_owned()
}

fn mac_addr(id: u16) -> MacAddr {
    let mut addr = sys::rte_ether_addr::default();
    // SAFETY: valid port; `addr` is a live struct DPDK fills in.
    unsafe { sys::rte_eth_macaddr_get(id, &mut addr) };
    MacAddr(addr.addr_bytes)
}

fn tx_checksum(capabilities: u64) -> TxChecksum {
    // SAFETY: reads constants computed by the shim.
    let (needed, ipv4_udp, ipv6_udp) = unsafe {
        (
            sys::ferrodns_tx_offload_ipv4_cksum() | sys::ferrodns_tx_offload_udp_cksum(),
            sys::ferrodns_mbuf_tx_ipv4_udp_cksum(),
            sys::ferrodns_mbuf_tx_ipv6_udp_cksum(),
        )
    };
    if capabilities & needed == needed {
        TxChecksum::Offload {
            ipv4_udp: TxOffload { flags: ipv4_udp },
            ipv6_udp: TxOffload { flags: ipv6_udp },
        }
    } else {
        TxChecksum::Software
    }
}
