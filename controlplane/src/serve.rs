//! `ferrodns serve`: the process lifecycle.
//!
//! Start-up loads every record source and compiles the first table before any
//! socket opens, so the server never answers from a half-loaded table; a load error
//! at start-up is fatal and names its cause. Then UDP poll loops (one pinned thread
//! per worker) and a TCP listener per address start, all reading the same
//! published table.
//!
//! SIGHUP reloads the zone files and the store off to the side and publishes the new
//! table in one pointer swap: queries keep being answered from the old table
//! meanwhile, and a failed reload logs why and keeps the old table. SIGTERM and
//! SIGINT stop the listeners and join the workers.
//!
//! With etcd configured, the table is written by the etcd source's [`Publisher`]:
//! start-up loads etcd (or its snapshot) with the static zones, the sync loop runs
//! beside the listeners, and SIGHUP rebuilds the static zones through the same
//! publisher so etcd's names survive the reload.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ferrodns_dataplane::engine::{Engine, EngineConfig};
use ferrodns_dataplane::io::udp::{UdpConfig, UdpWorkers};
use ferrodns_dataplane::table::Table;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Mutex, watch};
use tracing::{error, info, warn};

use crate::config::ServeConfig;
use crate::etcd::publish::Publisher;
use crate::etcd::{EtcdSource, StartError};
use crate::loader::{LoadError, Loader};
use crate::tcp::{TcpConfig, serve_tcp};

/// UDP packets per `recvmmsg`/`sendmmsg` batch.
const UDP_BATCH: usize = 64;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load records: {0}")]
    Load(#[from] LoadError),
    #[error("cannot start the etcd source: {0}")]
    Etcd(#[from] StartError),
    #[error("cannot start UDP workers: {0}")]
    Udp(io::Error),
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
    )
    .with_etcd_zones(config.etcd_zones());
    let table = Table::new();
    let etcd = match &config.etcd {
        Some(settings) => Some(EtcdSource::start(&config, settings, &loader, table.clone()).await?),
        None => {
            load_and_publish(&loader, &table).await?;
            None
        }
    };

    let engine = Arc::new(Engine::new(EngineConfig {
        chaos_version: config.chaos_version.clone(),
        chaos_id: config.chaos_id.clone(),
    }));
    let udp = UdpWorkers::spawn(
        UdpConfig {
            listen: config.listen.clone(),
            workers: config.workers,
            cores: config.cores.clone(),
            batch: UDP_BATCH,
        },
        Arc::clone(&engine),
        table.clone(),
    )
    .map_err(ServeError::Udp)?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
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
            shutdown_rx.clone(),
        )));
    }
    let addrs: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    info!(listen = %addrs.join(" "), workers = config.workers, "ferrodns ready");

    let publisher = etcd.as_ref().map(EtcdSource::publisher);
    let etcd_task = etcd.map(|source| tokio::spawn(source.run(shutdown_rx.clone())));

    wait_for_signals(&loader, &table, publisher.as_ref()).await;

    info!("stopping");
    let _ = shutdown_tx.send(true);
    if let Some(task) = etcd_task
        && let Err(e) = task.await
    {
        warn!("etcd sync task failed: {e}");
    }
    for task in tcp_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("TCP listener ended with an error: {e}"),
            Err(e) => warn!("TCP listener task failed: {e}"),
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

/// Rereads the zone files and the store and rebuilds the table with etcd's names.
async fn reload_static(loader: &Loader, publisher: &Arc<Mutex<Publisher>>) -> Result<(), String> {
    let started = Instant::now();
    let job = loader.clone();
    let inputs = tokio::task::spawn_blocking(move || job.inputs())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let publisher = Arc::clone(publisher).lock_owned().await;
    let published = tokio::task::spawn_blocking(move || {
        let mut publisher = publisher;
        publisher.set_static(inputs)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    info!(
        etcd_names = published.names,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "table rebuilt"
    );
    Ok(())
}

async fn wait_for_signals(
    loader: &Loader,
    table: &Table,
    publisher: Option<&Arc<Mutex<Publisher>>>,
) {
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
                let reloaded = match publisher {
                    Some(publisher) => reload_static(loader, publisher).await,
                    None => load_and_publish(loader, table).await.map_err(|e| e.to_string()),
                };
                if let Err(e) = reloaded {
                    error!("reload failed, still serving the previous table: {e}");
                }
            }
            _ = term.recv() => return,
            _ = int.recv() => return,
        }
    }
}
