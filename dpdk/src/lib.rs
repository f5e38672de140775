//! ferrodns's DPDK layer: the only crate of the workspace that calls DPDK.
//!
//! - `sys` (private): bindgen declarations for exactly the DPDK functions and
//!   types used here, plus a small C shim (`shim/`) for DPDK's `static inline`
//!   hot-path functions (`rte_eth_rx_burst`, `rte_eth_tx_burst`, mbuf allocation
//!   and free) and its function-like-macro constants.
//! - A safe layer over it: [`eal`] (start-up from EAL arguments, lcores and
//!   launching work on them), [`mempool`], [`mbuf`] (an owned packet buffer, written
//!   in place), [`port`] (configuration with N queue pairs, RSS and checksum
//!   offload when offered, burst receive/transmit, link, statistics).
//!
//! - [`backend`]: the DPDK dataplane itself: one poll loop per worker lcore
//!   answering DNS in place with the engine, and the exception path that hands
//!   TCP and other traffic for the service addresses to the kernel.
//!
//! Every `unsafe` block of the project that touches DPDK is in this crate, each
//! with a `SAFETY` comment that says why it holds; nothing here panics.
#![allow(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod backend;
pub mod eal;
pub mod error;
pub mod mbuf;
pub mod mempool;
pub mod port;
mod sys;

pub use backend::{
    DpdkBackend, DpdkConfig, DpdkInfo, DpdkReplier, DpdkSettings, DpdkStats, LcoreStats, Punts,
};
pub use eal::{Eal, Launched, Lcore};
pub use error::DpdkError;
pub use mbuf::{Mbuf, TxOffload};
pub use mempool::{Mempool, MempoolConfig};
pub use port::{Link, MAX_BURST, MacAddr, Port, PortConfig, PortStats, QueuePair, TxChecksum};
