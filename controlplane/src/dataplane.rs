//! The UDP dataplane as the rest of the control plane sees it: either backend,
//! kernel sockets or DPDK, behind one face.
//!
//! [`Dataplane::start`] starts the backend the configuration names with the
//! engine and the table. Both backends then offer the same things:
//!
//! - their punt queues, made by the backend itself when the engine punts (a
//!   forwarder is configured), which [`Dataplane::serve_punts`] hands to the
//!   forwarder together with the backend's way back (the kernel backend's
//!   sockets, or the DPDK lcores' reply rings);
//! - a query observer per poll loop, from the hub `serve` makes (the query log,
//!   the counts of the names asked);
//! - their per-core counters, in the dataplane's one shape
//!   ([`CoreStats`]), which [`SharedDataplane::core_source`] gives to `/metrics`;
//! - a stop, which for DPDK logs the backend's totals.
//!
//! So `serve` starts, wires and stops the dataplane the same way whichever
//! backend runs.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ferrodns_dataplane::engine::Engine;
use ferrodns_dataplane::io::counters::CoreStats;
use ferrodns_dataplane::io::punt::{PuntReplier, Punts};
use ferrodns_dataplane::io::udp::{UdpConfig, UdpWorkers};
use ferrodns_dataplane::observe::ObserverHub;
use ferrodns_dataplane::table::Table;
use ferrodns_dpdk::{DpdkBackend, DpdkConfig, DpdkError, DpdkStats};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::api::{CoreCounters, CoreSource};
use crate::config::{self, DpdkSettings, ServeConfig};
use crate::forward::Forwarder;
use crate::listen_error;

/// UDP packets per `recvmmsg`/`sendmmsg` batch.
const UDP_BATCH: usize = 64;
/// RCODE REFUSED, for the DPDK totals.
const REFUSED: usize = 5;
/// RCODE NXDOMAIN, for the DPDK totals.
const NXDOMAIN: usize = 3;

/// Why the dataplane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot start UDP workers: {error}{advice}",
        error = .0,
        advice = listen_error::advice(.0.kind(), "server.listen (--listen)")
    )]
    Udp(io::Error),
    #[error("cannot start the DPDK dataplane: {0}")]
    Dpdk(DpdkError),
}

/// The running dataplane.
#[derive(Debug)]
pub struct Dataplane {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Kernel(UdpWorkers),
    Dpdk(DpdkBackend),
}

impl Dataplane {
    /// Starts the backend `config.dataplane` names on `config.listen`. DPDK
    /// starts on a blocking thread (EAL initialisation takes a moment) and makes
    /// the listen addresses its service addresses.
    /// Each poll loop gets a query observer from `observers`.
    pub async fn start(
        config: &ServeConfig,
        engine: Arc<Engine>,
        table: Table,
        observers: &Arc<ObserverHub>,
    ) -> Result<Dataplane, StartError> {
        let backend = match &config.dataplane {
            config::Dataplane::Kernel => {
                let udp = UdpConfig {
                    listen: config.listen.clone(),
                    workers: config.workers,
                    cores: config.cores.clone(),
                    batch: UDP_BATCH,
                };
                Backend::Kernel(
                    UdpWorkers::spawn_observed(udp, engine, table, observers)
                        .map_err(StartError::Udp)?,
                )
            }
            config::Dataplane::Dpdk(settings) => {
                let dpdk = dpdk_config(settings, &config.listen);
                let observers = Arc::clone(observers);
                let started = tokio::task::spawn_blocking(move || {
                    DpdkBackend::start_observed(dpdk, engine, table, observers)
                })
                .await
                .map_err(|_| StartError::Dpdk(DpdkError::ThreadGone))?;
                Backend::Dpdk(started.map_err(StartError::Dpdk)?)
            }
        };
        Ok(Dataplane { backend })
    }

    /// Hands the poll loops' punt queues to `forwarder` when the engine punts:
    /// the task that drains them until `shutdown`.
    pub fn serve_punts(
        &mut self,
        forwarder: &Forwarder,
        shutdown: watch::Receiver<bool>,
    ) -> Option<JoinHandle<io::Result<()>>> {
        match &mut self.backend {
            Backend::Kernel(workers) => workers
                .take_punts()
                .map(|punts| forward(forwarder, punts, shutdown)),
            Backend::Dpdk(dpdk) => dpdk
                .take_punts()
                .map(|punts| forward(forwarder, punts, shutdown)),
        }
    }

    /// Logs that the server answers, with the number of poll loops.
    pub fn log_ready(&self, listen: &[SocketAddr]) {
        let addrs: Vec<String> = listen.iter().map(ToString::to_string).collect();
        match &self.backend {
            Backend::Kernel(workers) => {
                let workers = workers.stats().len();
                info!(listen = %addrs.join(" "), workers, "ferrodns ready");
            }
            Backend::Dpdk(dpdk) => {
                let workers = dpdk.info().queues;
                info!(listen = %addrs.join(" "), workers, backend = "dpdk", "ferrodns ready");
            }
        }
    }

    /// Every poll loop's counters now, in worker (or queue) order.
    pub fn stats(&self) -> Vec<CoreStats> {
        match &self.backend {
            Backend::Kernel(workers) => workers.stats(),
            Backend::Dpdk(dpdk) => dpdk.stats().lcores,
        }
    }

    /// Stops the poll loops and waits for them (blocking).
    pub fn stop(self) {
        match self.backend {
            Backend::Kernel(workers) => workers.stop(),
            Backend::Dpdk(dpdk) => log_dpdk_stats(&dpdk.stop()),
        }
    }

    /// The dataplane shared between the metrics, which read it, and the
    /// shutdown, which takes it.
    pub fn share(self) -> SharedDataplane {
        SharedDataplane(Arc::new(Mutex::new(Some(self))))
    }
}

/// A running dataplane that the metrics read until the shutdown stops it.
#[derive(Debug, Clone)]
pub struct SharedDataplane(Arc<Mutex<Option<Dataplane>>>);

impl SharedDataplane {
    /// Reads the poll loops' counters for `/metrics` (none once stopped).
    pub fn core_source(&self) -> CoreSource {
        let shared = self.clone();
        Box::new(move || {
            let dataplane = shared.0.lock().unwrap_or_else(PoisonError::into_inner);
            let stats = dataplane.as_ref().map(Dataplane::stats).unwrap_or_default();
            stats
                .iter()
                .enumerate()
                .map(|(core, stats)| CoreCounters {
                    core,
                    rx: stats.rx,
                    tx: stats.tx,
                    drops: stats.dropped() + stats.punt_drops,
                    punts: stats.punts,
                    answers: stats.answers,
                })
                .collect()
        })
    }

    /// [`Dataplane::log_ready`], while it runs.
    pub fn log_ready(&self, listen: &[SocketAddr]) {
        let dataplane = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(dataplane) = dataplane.as_ref() {
            dataplane.log_ready(listen);
        }
    }

    /// Stops the dataplane on a blocking thread.
    pub async fn stop(self) {
        let dataplane = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        tokio::task::spawn_blocking(move || dataplane.map(Dataplane::stop))
            .await
            .map(drop)
            .unwrap_or_else(|e| warn!("the UDP dataplane did not stop cleanly: {e}"));
    }
}

/// Drains `punts` with `forwarder` until `shutdown`.
fn forward<R: PuntReplier>(
    forwarder: &Forwarder,
    punts: Punts<R>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<io::Result<()>> {
    tokio::spawn(
        forwarder
            .clone()
            .serve_udp(punts.queues, punts.wake, punts.replier, shutdown),
    )
}

/// The DPDK backend's settings: the listen addresses become the service
/// addresses.
fn dpdk_config(settings: &DpdkSettings, listen: &[SocketAddr]) -> DpdkConfig {
    DpdkConfig {
        settings: settings.clone(),
        services: listen.to_vec(),
    }
}

/// One log line with the DPDK dataplane's totals, summed over lcores.
fn log_dpdk_stats(stats: &DpdkStats) {
    let mut total = CoreStats::default();
    for lcore in &stats.lcores {
        total.add(lcore);
    }
    let per_lcore: Vec<String> = stats
        .lcores
        .iter()
        .map(|l| format!("{}/{}", l.rx, l.answered()))
        .collect();
    info!(
        rx = total.rx,
        tx = total.tx,
        answered = total.answered(),
        nxdomain = total.answers.with_rcode(NXDOMAIN),
        refused = total.answers.with_rcode(REFUSED),
        // Queries for names outside the zones: queued for the forwarder, lost
        // on the way, or answered REFUSED without one.
        punts = total.punts + total.punt_drops + total.refused,
        forwarded = total.forwarded,
        control_replies = total.control_replies,
        to_kernel = total.to_kernel,
        from_kernel = total.from_kernel,
        dropped = total.dropped(),
        // Frames lost to a full queue: the forwarder's, the kernel's, the port's.
        queue_full = total.punt_drops + total.to_kernel_drops + total.send_errors,
        rx_missed = stats.port.rx_missed,
        per_lcore_rx_answered = %per_lcore.join(" "),
        "DPDK dataplane totals"
    );
}
