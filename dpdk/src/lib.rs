//! ferrodns's DPDK layer: the only crate of the workspace that calls DPDK.
//!
//! - `sys` (private): bindgen declarations for exactly the DPDK functions and
//!   types used here, plus a small C shim (`shim/`) for DPDK's `static inline`
//!   hot-path functions (`rte_eth_rx_burst`, `rte_eth_tx_burst`, mbuf allocation
//!   and free) and its function-like-macro constants.
//! - A safe layer over it: [`eal`] (start-up from EAL arguments, lcores and
//!   launching work on them), [`mempool`], [`mbuf`] (an owned packet buffer, written
//!   in place), [`port`] (configuration with N queue pairs, RSS and checksum
//!   offload when offered, burst receive/transmit, link, statistics), and
//!   [`error`] (why a DPDK call failed, in an operator's words), and [`tsc`] (the
//!   time-stamp counter as a clock).
//! - [`backend`]: the DPDK dataplane itself: one poll loop per worker lcore
//!   answering DNS in place with the engine, and the exception path that hands
//!   TCP and other traffic for the service addresses to the kernel. It calls no
//!   DPDK function itself, only the safe layer.
//!
//! `unsafe` is denied crate-wide and allowed only in the modules that call DPDK
//! (`sys`, [`eal`], [`error`], [`mbuf`], [`mempool`], [`port`], [`tsc`]); every `unsafe`
//! block there has a `SAFETY` comment that says why it holds, and every `unsafe`
//! function a `# Safety` section. Nothing here panics.
#![deny(unsafe_code)]
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
pub mod tsc;

pub use backend::{DpdkBackend, DpdkConfig, DpdkInfo, DpdkReplier, DpdkSettings, DpdkStats};
pub use eal::{Eal, Launched, Lcore};
pub use error::DpdkError;
pub use mbuf::{Mbuf, TxOffload};
pub use mempool::{Mempool, MempoolConfig};
pub use port::{Link, MAX_BURST, MacAddr, Port, PortConfig, PortStats, QueuePair, TxChecksum};
pub use tsc::TscClock;
