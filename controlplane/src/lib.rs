//! ferrodns control plane: configuration, record sources, the compiler that turns
//! records into the dataplane's answer table, and the process lifecycle.
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod store;
pub mod tcp;
