//! Health checking of backend addresses: TCP connect or ICMP echo, every
//! interval, with a timeout and a number of failures in a row before an
//! address is DOWN (docs/health.md).
//!
//! A verdict reaches the answers by one of two roads, both ending in the
//! [publisher](crate::pipeline)'s [`Update::Health`](crate::pipeline::Update):
//!
//! ```text
//!  cluster::EtcdChecks ── status in etcd ──> every appliance's etcd watch ─┐
//!    (addresses under /containerdns/monitor/status/, shared by checkers)   ├─> Update::Health
//!  names::NameChecks ──────────────────────────────────────────────────────┘
//!    (addresses of the names [health.names] lists, this appliance only)
//! ```
//!
//! - [`cluster`]: containerdns's scanner and schedule in one: the checkers of
//!   a cluster share etcd's addresses (a lease each, rendezvous hashing) and
//!   write each verdict back into the address's status entry.
//! - [`names`]: the same checks for records from zone files or the store, told
//!   straight to this appliance's publisher.
//! - `probe` (the checks), `pinger` (one ICMP socket per family for every
//!   echo), `icmp` (echo messages), `verdict` (failures in a row to a state),
//!   `rendezvous` (who owns an address), `clock` (times in values).
//! - [`stats`]: what this process's checks found, for `/metrics` and
//!   `/v1/health`.
//!
//! Checks are tokio tasks on the control plane's runtime, at most
//! `max_concurrent` at once; they never run on a poll-loop core. The same
//! checker runs inside `ferrodns serve` (`[health]`) and as its own process,
//! `ferrodns health-check` ([`run_standalone`]).

mod clock;
pub mod cluster;
mod icmp;
pub mod names;
mod pinger;
mod probe;
mod rendezvous;
pub mod stats;
mod verdict;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use clock::rfc3339;
pub use pinger::Pinger;
pub use stats::{CheckSource, CheckStats, TargetFigures};
pub use verdict::Outcome;

use self::cluster::EtcdChecks;
use self::names::NameChecks;
use self::probe::Probe;
use crate::config::{EtcdSettings, HealthCheckConfig, HealthSettings};
use crate::pipeline::PublisherHandle;

/// The checkers started for one process.
#[derive(Debug)]
pub struct Checkers {
    /// What their checks found.
    pub stats: Arc<CheckStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl Checkers {
    /// Starts the checks `settings` asks for: etcd's addresses when
    /// `settings.etcd` and `etcd` is given, the names of `[health.names]` when
    /// there are any and a `publisher` to tell. They stop when `shutdown`
    /// turns true.
    pub fn start(
        settings: &HealthSettings,
        etcd: Option<&EtcdSettings>,
        publisher: Option<&PublisherHandle>,
        shutdown: &watch::Receiver<bool>,
    ) -> Checkers {
        let stats = Arc::new(CheckStats::new(hostname(settings)));
        let probe = Probe {
            method: settings.method,
            timeout: settings.timeout,
            pinger: Arc::new(Pinger::new()),
            limit: Arc::new(Semaphore::new(settings.max_concurrent)),
        };
        let mut tasks = Vec::new();
        if let (Some(publisher), false) = (publisher, settings.names.is_empty()) {
            let checks = NameChecks {
                settings: settings.clone(),
                publisher: publisher.clone(),
                probe: probe.clone(),
                stats: Arc::clone(&stats),
            };
            let names: Vec<String> = settings.names.iter().map(|(p, _)| p.to_string()).collect();
            info!(names = %names.join(" "), "checking the addresses of these names");
            tasks.push(tokio::spawn(checks.run(shutdown.clone())));
        }
        if let (true, Some(etcd)) = (settings.etcd, etcd) {
            match &etcd.layouts.health {
                Some(prefix) => {
                    let checks = EtcdChecks {
                        settings: settings.clone(),
                        etcd: etcd.clone(),
                        status_prefix: prefix.clone(),
                        probe,
                        stats: Arc::clone(&stats),
                    };
                    tasks.push(tokio::spawn(checks.run(shutdown.clone())));
                }
                None => warn!(
                    "etcd's health layout is off (etcd.health_prefix = \"\"): etcd's addresses \
                     are not checked"
                ),
            }
        }
        Checkers { stats, tasks }
    }

    /// Waits for every checker to stop (after `shutdown`).
    pub async fn join(self) {
        for task in self.tasks {
            if let Err(e) = task.await {
                warn!("a health checker failed: {e}");
            }
        }
    }
}

/// This checker's name: `health.hostname`, else the host's name.
fn hostname(settings: &HealthSettings) -> String {
    settings.hostname.clone().unwrap_or_else(host_name)
}

/// The host's name (`ferrodns` when it cannot be read).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .unwrap_or_else(|| "ferrodns".to_owned())
}

/// Why `ferrodns health-check` could not run.
#[derive(Debug, thiserror::Error)]
pub enum HealthCheckError {
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot serve /metrics on {addr}: {source}")]
    Metrics { addr: SocketAddr, source: io::Error },
}

/// `ferrodns health-check`: checks etcd's addresses until SIGTERM or SIGINT,
/// serving `/metrics` on `metrics` when given.
pub fn run_standalone(
    config: &HealthCheckConfig,
    metrics: Option<SocketAddr>,
) -> Result<(), HealthCheckError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ferrodns-health")
        .enable_all()
        .build()
        .map_err(HealthCheckError::Runtime)?;
    runtime.block_on(async {
        let (stop, shutdown) = watch::channel(false);
        let checkers = Checkers::start(&config.health, Some(&config.etcd), None, &shutdown);
        let server = match metrics {
            Some(addr) => Some(serve_metrics(addr, Arc::clone(&checkers.stats), shutdown).await?),
            None => None,
        };
        wait_for_stop().await;
        info!("stopping");
        stop.send_replace(true);
        checkers.join().await;
        if let Some(server) = server {
            let _ = server.await;
        }
        Ok(())
    })
}

/// `/metrics` and `/healthz` of a `health-check` process.
async fn serve_metrics(
    addr: SocketAddr,
    stats: Arc<CheckStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, HealthCheckError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HealthCheckError::Metrics { addr, source })?;
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(stats);
    info!(listen = %addr, "serving /metrics");
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            warn!("/metrics ended with an error: {e}");
        }
    }))
}

async fn metrics(State(stats): State<Arc<CheckStats>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        stats.to_prometheus(),
    )
}

/// Returns on SIGTERM or SIGINT.
async fn wait_for_stop() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
