//! ferrodns control plane: configuration, record sources, and the process
//! lifecycle around the dataplane.
//!
//! - [`cli`], [`config`]: the command line and the TOML file, validated together.
//! - [`zonefile`]: RFC 1035 master files into records.
//! - [`store`]: the embedded record store (redb); [`store_cli`] edits it offline.
//! - [`loader`]: every source into one compiled table version.
//! - [`forward`]: answers for names outside every local zone, from upstreams.
//! - [`serve`]: start-up, the UDP [`dataplane`] (either backend) and [`tcp`]
//!   listeners, SIGHUP/SIGTERM.
#![deny(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod dataplane;
pub mod etcd;
pub mod forward;
pub mod loader;
pub mod records;
pub mod serve;
pub mod store;
pub mod store_cli;
pub mod tcp;
pub mod zonefile;
