//! ferrodns control plane: configuration, record sources, the compiler that turns
//! records into the dataplane's answer table, and the process lifecycle.
#![deny(unsafe_code)]

pub mod zonefile;
