//! The operator's settings of the DPDK backend: EAL arguments, the port, the
//! exception path's kernel interface and the sizes of pools and queues.
//!
//! One type for the whole way from the configuration file to the backend: the
//! control plane validates `[dataplane]` into it and [`super::DpdkConfig`] carries
//! it next to what is only known at start (the service addresses, whether a
//! forwarder takes punted queries).

use std::time::Duration;

/// How the DPDK backend uses the NIC and the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkSettings {
    /// EAL arguments (`-l 0-2 --vdev net_af_packet0,iface=eth1,qpairs=2 ...`),
    /// split on whitespace.
    pub eal_args: Vec<String>,
    /// The DPDK port to answer on; `None` for the first one the EAL arguments
    /// create.
    pub port: Option<String>,
    /// Name of the kernel (TAP) interface of the exception path.
    pub kernel_interface: String,
    /// Prefix length of the IPv4 service addresses on the kernel interface.
    pub ipv4_prefix_len: u8,
    /// Prefix length of the IPv6 service addresses on the kernel interface.
    pub ipv6_prefix_len: u8,
    /// Mbufs in the packet pool.
    pub mbufs: u32,
    /// Descriptors per receive and per transmit queue.
    pub descriptors: u16,
    /// When set, a worker that found nothing to do for a while sleeps this long
    /// instead of spinning (for machines where lcores share cores); `None` to
    /// busy-poll.
    pub idle_sleep: Option<Duration>,
}
