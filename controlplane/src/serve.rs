//! `ferrodns serve`: the process lifecycle.
//!
//! Start-up loads every record source and compiles the first table before any
//! socket opens, so the server never answers from a half-loaded table; a load error
//! at start-up is fatal and names its cause. Then UDP poll loops (one pinned thread
//! per worker) and a TCP listener per address start, all reading the same
//! published table.
//!
//! With upstreams configured (`[forward]`, `--forward`), a forwarder runs on the
//! same runtime: the UDP workers punt queries for names outside every local zone
//! onto its queues, the TCP listeners hand them to it directly.
//!
//! SIGHUP reloads the zone files and the store off to the side and publishes the new
//! table in one pointer swap: queries keep being answered from the old table
//! meanwhile, and a failed reload logs why and keeps the old table. SIGTERM and
//! SIGINT stop the listeners and join the workers.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ferrodns_dataplane::engine::{Engine, EngineConfig};
use ferrodns_dataplane::io::punt::PuntQueues;
use ferrodns_dataplane::io::udp::{UdpConfig, UdpWorkers};
use ferrodns_dataplane::table::Table;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::ServeConfig;
use crate::forward::Forwarder;
use crate::loader::{LoadError, Loader};
use crate::tcp::{TcpConfig, serve_tcp};

/// UDP packets per `recvmmsg`/`sendmmsg` batch.
const UDP_BATCH: usize = 64;
/// Punted queries each UDP worker may have waiting for the forwarder.
const PUNT_QUEUE: usize = 4096;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load records: {0}")]
    Load(#[from] LoadError),
    #[error("cannot start UDP workers: {0}")]
    Udp(io::Error),
    #[error("cannot start the forwarder: {0}")]
    Forwarder(io::Error),
    #[error("cannot listen on TCP {addr}: {source}")]
    Tcp { addr: SocketAddr, source: io::Error },
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(config: ServeConfig) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ferrodns-control")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let loader = Loader::new(
        config.zones.clone(),
        config.default_policy,
        config.store.clone(),
    );
    let table = Table::new();
    load_and_publish(&loader, &table).await?;

    let engine = Arc::new(Engine::new(EngineConfig {
        chaos_version: config.chaos_version.clone(),
        chaos_id: config.chaos_id.clone(),
    }));
    let forwarder = Forwarder::new(&config.forward);
    let punt = match &forwarder {
        Some(_) => {
            let (queues, wake) =
                PuntQueues::new(config.workers, PUNT_QUEUE).map_err(ServeError::Forwarder)?;
            Some((Arc::new(queues), wake))
        }
        None => None,
    };
    let udp = UdpWorkers::spawn_with_punt(
        UdpConfig {
            listen: config.listen.clone(),
            workers: config.workers,
            cores: config.cores.clone(),
            batch: UDP_BATCH,
        },
        Arc::clone(&engine),
        table.clone(),
        punt.as_ref().map(|(queues, _)| Arc::clone(queues)),
    )
    .map_err(ServeError::Udp)?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut forward_tasks = Vec::new();
    if let (Some(forwarder), Some((queues, wake))) = (&forwarder, punt) {
        forward_tasks.push(tokio::spawn(forwarder.clone().serve_udp(
            queues,
            wake,
            udp.replier(),
            shutdown_rx.clone(),
        )));
        tokio::spawn(forwarder.clone().log_stats(shutdown_rx.clone()));
        info!(
            nameservers = config.forward.nameservers.len(),
            zones = config.forward.zones.len(),
            cache_size = config.forward.cache_size,
            "forwarding names outside the local zones"
        );
    }
    let mut tcp_tasks = Vec::new();
    for &addr in &config.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Tcp { addr, source })?;
        let tcp_config = TcpConfig {
            idle_timeout: config.tcp.idle_timeout,
            max_connections: config.tcp.max_connections,
            write_timeout: config.tcp.write_timeout,
        };
        tcp_tasks.push(tokio::spawn(serve_tcp(
            listener,
            Arc::clone(&engine),
            table.clone(),
            tcp_config,
            forwarder.clone(),
            shutdown_rx.clone(),
        )));
    }
    let addrs: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    info!(listen = %addrs.join(" "), workers = config.workers, "ferrodns ready");

    wait_for_signals(&loader, &table).await;

    info!("stopping");
    let _ = shutdown_tx.send(true);
    for task in tcp_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("TCP listener ended with an error: {e}"),
            Err(e) => warn!("TCP listener task failed: {e}"),
        }
    }
    for task in forward_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("forwarder ended with an error: {e}"),
            Err(e) => warn!("forwarder task failed: {e}"),
        }
    }
    tokio::task::spawn_blocking(move || udp.stop())
        .await
        .unwrap_or_else(|e| warn!("UDP workers did not stop cleanly: {e}"));
    info!("stopped");
    Ok(())
}

/// Loads every source on a blocking thread and publishes the result.
async fn load_and_publish(loader: &Loader, table: &Table) -> Result<(), LoadError> {
    let started = Instant::now();
    let seed = table.seed();
    let job = loader.clone();
    let loaded = tokio::task::spawn_blocking(move || job.load(&HashSet::new(), seed)).await;
    let (version, summary) = loaded.map_err(|join| LoadError::Interrupted(join.to_string()))??;
    table.publish(version);
    info!(
        zones = summary.zones,
        records = summary.records,
        names = summary.names,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "table published"
    );
    Ok(())
}

async fn wait_for_signals(loader: &Loader, table: &Table) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP: reloading");
                if let Err(e) = load_and_publish(loader, table).await {
                    error!("reload failed, still serving the previous table: {e}");
                }
            }
            _ = term.recv() => return,
            _ = int.recv() => return,
        }
    }
}
