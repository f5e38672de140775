//! ferrodns control plane: configuration, record sources, and the process
//! lifecycle around the dataplane.
//!
//! - [`config`]: the TOML file merged with the command line's overrides, validated
//!   into one `ServeConfig`. A leaf: it imports no other module of this crate.
//! - [`cli`]: the command line (clap), which hands its flags to [`config`].
//! - [`zonefile`]: RFC 1035 master files into records.
//! - [`store`]: the embedded record store (redb); [`store_cli`] edits it offline.
//! - [`pipeline`]: the one publisher every source of records and health feeds;
//!   [`sources`]: the zone files and the store as such sources; [`etcd`] and
//!   [`pdns`] (PowerDNS remote backends: the OpenSVC agent) are others.
//! - [`transfer`]: zone transfers out (AXFR, IXFR in full) and NOTIFY.
//! - [`records`]: the REST API's writers (store or etcd) and their shared
//!   [`records::rules`].
//! - [`api`]: the REST API, `/metrics`, `/healthz`, `/readyz`.
//! - [`forward`]: answers for names outside every local zone, from upstreams.
//! - [`serve`]: start-up, UDP workers and [`tcp`] listeners, SIGHUP/SIGTERM.
#![deny(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod etcd;
pub mod forward;
pub mod pdns;
pub mod pipeline;
pub mod records;
pub mod serve;
pub mod sources;
pub mod store;
pub mod store_cli;
pub mod tcp;
pub mod transfer;
pub mod zonefile;
