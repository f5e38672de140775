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
//! - [`health`]: checks of backend addresses (TCP connect, ICMP echo), in etcd or
//!   for this appliance alone; `ferrodns health-check` runs it as its own process.
//! - [`api`]: the REST API, `/metrics`, `/healthz`, `/readyz`; [`telemetry`]:
//!   the figures behind `/metrics` and `/v1/stats`.
//! - [`forward`]: answers for names outside every local zone, from upstreams.
//! - [`query_stats`]: the names asked, merged from every poll loop's observer
//!   (containerdns's stats routes); [`dnstap`]: the query log.
//! - [`serve`]: start-up, the UDP [`dataplane`] (either backend) and [`tcp`]
//!   listeners, SIGHUP/SIGTERM; [`reload`]: rereading the configuration and
//!   the records; [`preflight`]: what is checked before a start (and by
//!   `check-config`); [`service`]: systemd's notifications, the pid file and
//!   the log format; [`hugepages`]: `ferrodns hugepages`, DPDK's memory.
//! - [`budget`]: the descriptor limit, its split between the classes of
//!   connections and sockets, and the gates that admit connections.
#![deny(unsafe_code)]

pub mod api;
pub mod budget;
pub mod cli;
pub mod config;
pub mod dataplane;
pub mod dnstap;
pub mod etcd;
pub mod forward;
pub mod health;
pub mod hugepages;
mod listen_error;
pub mod observation;
pub mod pdns;
pub mod pipeline;
pub mod preflight;
pub mod query_stats;
pub mod records;
pub mod reload;
pub mod serve;
pub mod service;
pub mod sources;
pub mod store;
pub mod store_cli;
pub mod tcp;
pub mod telemetry;
pub mod transfer;
pub mod zonefile;
