//! ferrodns dataplane: everything a query touches.
//!
//! - [`name`] and [`record`]: the vocabulary shared with the control plane.
//! - [`wire`]: checked views over untrusted DNS bytes.
//! - [`table`]: the lock-free, versioned record table the control plane publishes
//!   and the poll loops read.
//! - [`engine`]: the sans-IO answer engine: bytes in, a [`engine::Verdict`] out.
//! - [`io`]: backends that only move bytes between sockets and the engine.
//!
//! The hot path never allocates, never locks and never panics; `unsafe` is allowed
//! only inside the I/O backends, each block with its `SAFETY` proof.
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
pub mod packet;
pub mod record;
pub mod table;
pub mod wire;
