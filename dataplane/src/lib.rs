//! ferrodns dataplane: everything a query touches.
//!
//! The modules form layers, each using only the ones above it in this list:
//!
//! - Vocabulary: [`name`] (wire-format names), [`record`] (the record model and
//!   its [`AnswerPolicy`](record::AnswerPolicy)), shared with the control plane;
//!   [`wire`], checked views over untrusted DNS bytes; [`answer_counts`], answers
//!   counted by RCODE and question type.
//! - [`table`]: the lock-free, versioned record table the control plane publishes
//!   and the poll loops read, and the compiler that builds it.
//! - [`engine`]: the sans-IO answer engine: bytes in, a [`engine::Verdict`] out.
//! - [`packet`]: whole Ethernet frames in and out for the DPDK backend (Ethernet,
//!   VLAN, ARP, IPv4, IPv6, ICMP, UDP), answering DNS with the engine.
//! - [`io`]: what both backends share (punt queues to the forwarder, per-core
//!   counters, which count drops by the packet layer's reasons) and the
//!   kernel-socket backend; backends only move bytes between the network and the
//!   engine.
//!
//! The hot path never allocates, never locks and never panics; `unsafe` is allowed
//! only in the kernel backend's batch file (`io/udp/batches.rs`), each block with
//! its `SAFETY` proof.
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

pub mod answer_counts;
pub mod engine;
pub mod io;
pub mod name;
pub mod observe;
pub mod packet;
pub mod record;
pub mod table;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod wire;
