//! `ferrodns serve`: the process lifecycle.
//!
//! Start-up loads every record source and compiles the first table before any
//! socket opens, so the server never answers from a half-loaded table; a load error
//! at start-up is fatal and names its cause. Then the UDP dataplane and a TCP
//! listener per address start, all reading the same published table. The UDP
//! dataplane is either kernel sockets (one pinned poll thread per worker) or DPDK
//! (one poll loop per worker lcore, see `ferrodns_dpdk::backend`), started and
//! wired the same way through [`Dataplane`]; with DPDK the TCP listeners bind the
//! service addresses on the exception path's kernel interface, which exists once
//! the DPDK backend has started.
//!
//! With upstreams configured (`[forward]`, `--forward`), a forwarder runs on the
//! same runtime and the engine punts queries for names outside every local zone
//! (without one it answers them REFUSED): the UDP poll loops queue them for the
//! forwarder, the TCP listeners hand them to it directly.
//!
//! Every record source feeds one [`Publisher`], the
//! only writer of the table: the zone files and the store at start-up (a bad line
//! is fatal then, naming file and line), etcd (its sync loop runs beside the
//! listeners), and the REST API's writes. SIGHUP rereads the zone files and the
//! store off to the side and hands them to the publisher, which publishes what
//! changed in one pointer swap: queries keep being answered from the old table
//! meanwhile, etcd's names are untouched, and a failed reload logs why and keeps
//! the old table. A reload (SIGHUP, or `POST /v1/reload`) rereads the
//! configuration file too: see [`crate::reload`]. SIGTERM and SIGINT stop the
//! listeners and join the workers.
//!
//! What start-up can check without opening a socket it checks first (the pid
//! file, the API's token and TLS files, the store's path: [`crate::preflight`]),
//! so a bad setting stops the start before anything is served. The server says
//! it is ready (the `ferrodns ready` line, systemd's `READY=1`, the pid file
//! written: [`crate::service`]) only once the first table is published and every
//! listener, the metrics listener's and the REST API's included, is bound.
//!
//! With `[health]`, the health checkers run on the same runtime
//! ([`crate::health`]): etcd's addresses (verdicts written to etcd, which the
//! sync loop brings back) and the names of `[health.names]` (verdicts told to
//! the publisher).
//!
//! What the server tells about itself is the telemetry's ([`Telemetry`]): on
//! the API's port and, with `--metrics`, on a listener of its own that needs
//! neither a token nor a record writer. Every query is shown to a query
//! observer ([`Observation`]): the query log (dnstap) and the counts of the
//! names asked (containerdns's stats routes). Each reload is counted
//! ([`Reloads::record`]).
//!
//! PowerDNS remote backends (`--pdns-remote`, an OpenSVC agent's socket) are
//! polled once before the sockets open (a backend that does not answer yet is
//! retried in the background: its zones are served once it does), then every
//! poll interval. Zone transfers are answered on the TCP listeners, and with
//! secondaries configured a notifier sends them NOTIFY on every change; the
//! publisher owns each zone's SOA serial for that (starting at the Unix time, so
//! a restart never goes back below what a secondary holds).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferrodns_dataplane::answer_counts::SharedAnswerCounts;
use ferrodns_dataplane::engine::{Engine, EngineConfig};
use ferrodns_dataplane::table::Table;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::api::{Api, ApiStartError, ContainerdnsContext, MetricsListener};
use crate::budget::{Budgets, ConnectionGate};
use crate::config::{ApiSettings, ServeConfig};
use crate::dataplane::{self, Dataplane};
use crate::dnstap::QueryLogError;
use crate::etcd::monitor::MonitorStatus;
use crate::etcd::writer::EtcdWriter;
use crate::etcd::{EtcdSource, SharedRecords, StartError};
use crate::forward::{ForwardWatch, Forwarder};
use crate::health::Checkers;
use crate::listen_error;
use crate::observation::Observation;
use crate::pdns::PdnsSource;
use crate::pipeline::{Policies, Publisher, PublisherHandle};
use crate::preflight;
use crate::query_stats::QueryStats;
use crate::records::RecordWriter;
use crate::records::embedded::EmbeddedWriter;
use crate::reload::{self, ConfigLoader, ReloadQueue, ReloadRequests, Reloader, publish_sources};
use crate::service::{Notifier, PidFile, PidFileError};
use crate::sources::{FileSources, LoadError};
use crate::tcp::{TcpConfig, TcpWatch, serve_tcp};
use crate::telemetry::{AnswerLatency, BuildInfo, Reloads, Telemetry};
use crate::transfer::{Notifier as NotifySecondaries, Transfers};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    PidFile(#[from] PidFileError),
    #[error("{0}")]
    Preflight(String),
    #[error("cannot load records: {0}")]
    Load(#[from] LoadError),
    #[error("cannot start the etcd source: {0}")]
    Etcd(#[from] StartError),
    #[error(transparent)]
    Dataplane(#[from] dataplane::StartError),
    #[error(
        "cannot listen on TCP {addr}: {source}{}",
        listen_error::advice(source.kind(), "server.listen (--listen)")
    )]
    Tcp { addr: SocketAddr, source: io::Error },
    #[error("cannot start the REST API: {0}")]
    Api(#[from] ApiStartError),
    #[error("cannot start the REST API's record writer: {0}")]
    ApiWriter(String),
    #[error(
        "cannot serve /metrics on {addr}: {source}{}",
        listen_error::advice(source.kind(), "metrics.listen (--metrics)")
    )]
    Metrics { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    QueryLog(#[from] QueryLogError),
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
}

/// How the server meets its supervisor, and reloads.
pub struct Service {
    /// Loads the configuration again, for a reload.
    pub reload: ConfigLoader,
    /// `--pid-file`: where the process ID is written once ready.
    pub pid_file: Option<PathBuf>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("pid_file", &self.pid_file)
            .finish_non_exhaustive()
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(config: ServeConfig, service: Service) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ferrodns-control")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(config, service))
}

async fn serve(config: ServeConfig, service: Service) -> Result<(), ServeError> {
    let started_at = std::time::SystemTime::now();
    let mut pid_file = service
        .pid_file
        .as_deref()
        .map(PidFile::claim)
        .transpose()?;
    let problems = preflight::check_environment(&config);
    if !problems.is_empty() {
        return Err(ServeError::Preflight(problems.join("\n")));
    }
    let started = config.clone();
    // The caps that fit the descriptor limit replace those configured.
    let (config, budgets) = Budgets::fit(config);
    let sources = FileSources::from_config(&config);
    let table = Table::new();
    let publisher = PublisherHandle::new(
        Publisher::new(
            table.clone(),
            Policies::new(config.default_policy, &config.zones),
        )
        .with_zone_serials(unix_seconds()),
    );
    publish_sources(&sources, Vec::new(), &publisher, None).await?;
    let reloads = Arc::new(Reloads::default());
    reloads.loaded();
    let etcd = match &config.etcd {
        Some(settings) => Some(EtcdSource::start(&config, settings, publisher.clone()).await?),
        None => None,
    };
    let pdns = start_pdns(&config, &publisher).await;
    let transfers = Arc::new(Transfers::new(publisher.clone(), &config.transfer));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let latency = AnswerLatency::default();
    let observation = Observation::start(&config, &shutdown_rx)?;
    let forwarder = Forwarder::new(&config.forward, table.clone());
    if let Some(forwarder) = &forwarder {
        forwarder.watch(ForwardWatch {
            latency: latency.clone(),
            log: observation.log_observer(),
        });
    }
    let engine = Arc::new(Engine::new(EngineConfig {
        chaos_version: config.chaos_version.clone(),
        chaos_id: config.chaos_id.clone(),
        forwarder: forwarder.is_some(),
    }));
    let mut dataplane = Dataplane::start(
        &config,
        Arc::clone(&engine),
        table.clone(),
        &observation.hub,
    )
    .await?;

    let checkers = config.health.as_ref().map(|settings| {
        Checkers::start(
            settings,
            config.etcd.as_ref(),
            Some(&publisher),
            &shutdown_rx,
        )
    });
    let mut forward_tasks = Vec::new();
    if let Some(forwarder) = &forwarder {
        forward_tasks.extend(dataplane.serve_punts(forwarder, shutdown_rx.clone()));
        tokio::spawn(forwarder.clone().log_stats(shutdown_rx.clone()));
        info!(
            nameservers = config.forward.nameservers.len(),
            zones = config.forward.zones.len(),
            cache_size = config.forward.cache_size,
            "forwarding names outside the local zones"
        );
    }
    let mut tcp_tasks = Vec::new();
    let tcp_watch = TcpWatch {
        answers: Arc::new(SharedAnswerCounts::default()),
        latency: latency.clone(),
        observer: observation.shared.clone(),
    };
    for &addr in &config.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Tcp { addr, source })?;
        let tcp_config = TcpConfig {
            idle_timeout: config.tcp.idle_timeout,
            connections: Arc::clone(&budgets.tcp),
            write_timeout: config.tcp.write_timeout,
        };
        tcp_tasks.push(tokio::spawn(serve_tcp(
            listener,
            Arc::clone(&engine),
            table.clone(),
            tcp_config,
            forwarder.clone(),
            tcp_watch.clone(),
            Some(Arc::clone(&transfers)),
            shutdown_rx.clone(),
        )));
    }
    let mut source_tasks = Vec::new();
    if !config.transfer.notify.is_empty() {
        let serials = publisher.read(Publisher::zone_serials).await;
        let notifier =
            NotifySecondaries::new(serials, config.transfer.notify.clone(), transfers.stats());
        source_tasks.push(tokio::spawn(notifier.run(shutdown_rx.clone())));
    }
    let pdns_statuses: Vec<_> = pdns.iter().map(PdnsSource::status).collect();
    for source in pdns {
        source_tasks.push(tokio::spawn(source.run(shutdown_rx.clone())));
    }

    let etcd_records = etcd.as_ref().map(EtcdSource::records);
    let etcd_status = etcd.as_ref().map(EtcdSource::status);
    let dataplane = dataplane.share();
    let backend = match config.dataplane {
        crate::config::Dataplane::Kernel => "kernel",
        crate::config::Dataplane::Dpdk(_) => "dpdk",
    };
    let status = publisher.read(Publisher::status).await;
    let mut telemetry = Telemetry::new(table.clone(), dataplane.core_source())
        .with_build(BuildInfo::of_this_binary(backend))
        .with_start_time(started_at)
        .with_publisher(status)
        .with_tcp_answers(Arc::clone(&tcp_watch.answers))
        .with_forwarder(forwarder.clone())
        .with_budgets(Arc::clone(&budgets))
        .with_health_checks(checkers.as_ref().map(|c| Arc::clone(&c.stats)))
        .with_pdns(pdns_statuses)
        .with_transfers(transfers.stats())
        .with_reloads(Arc::clone(&reloads))
        .with_latency(latency);
    if let (Some(status), Some(records)) = (etcd_status, &etcd_records) {
        telemetry = telemetry.with_etcd(status, Arc::clone(records));
    }
    if let Some(log) = &observation.log {
        telemetry = telemetry.with_extra(log.figures());
    }
    let telemetry = Arc::new(telemetry);
    // The first table is published: every source was loaded before the sockets
    // opened (etcd's and the remote backends' readiness are the telemetry's).
    telemetry.set_ready();
    let metrics_task = match (&config.metrics, &budgets.metrics) {
        (Some(settings), Some(gate)) => {
            let listener =
                MetricsListener::bind(settings, Arc::clone(&telemetry), Arc::clone(gate))
                    .await
                    .map_err(|source| ServeError::Metrics {
                        addr: settings.listen,
                        source,
                    })?;
            let addr = listener
                .local_addr()
                .map_or_else(|_| settings.listen.to_string(), |a| a.to_string());
            info!(listen = %addr, "serving /metrics, /healthz and /readyz");
            Some(tokio::spawn(listener.serve(shutdown_rx.clone())))
        }
        _ => None,
    };
    let (reload_requests, reload_queue) = reload::requests();
    let mut store_writer = None;
    let api_task = match &config.api {
        Some(settings) => {
            let (api, writer) = start_api(
                &config,
                settings,
                &sources,
                &publisher,
                etcd_records.as_ref(),
                Arc::clone(&telemetry),
                Arc::clone(&budgets.api),
                observation.stats.clone(),
                reload_requests,
            )
            .await?;
            store_writer = writer;
            Some(tokio::spawn(api.serve(shutdown_rx.clone())))
        }
        None => None,
    };
    let etcd_task = etcd.map(|source| tokio::spawn(source.run(shutdown_rx.clone())));

    if let Some(pid_file) = &mut pid_file
        && let Err(e) = pid_file.write_pid()
    {
        warn!(path = %pid_file.path().display(), "cannot write the pid file: {e}");
    }
    dataplane.log_ready(&config.listen);
    let notifier = Notifier::from_env();
    notifier.ready();
    let reloader = Reloader::new(
        service.reload,
        started,
        publisher.clone(),
        forwarder.clone(),
        reloads,
    )
    .with_store_writer(store_writer);
    wait_for_signals(&reloader, &notifier, reload_queue).await;

    notifier.stopping();
    info!("stopping");
    let _ = shutdown_tx.send(true);
    if let Some(task) = etcd_task
        && let Err(e) = task.await
    {
        warn!("etcd sync task failed: {e}");
    }
    if let Some(checkers) = checkers {
        checkers.join().await;
    }
    for (name, task) in [("REST API", api_task), ("metrics listener", metrics_task)] {
        let Some(task) = task else { continue };
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("the {name} ended with an error: {e}"),
            Err(e) => warn!("the {name} task failed: {e}"),
        }
    }
    for task in tcp_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("TCP listener ended with an error: {e}"),
            Err(e) => warn!("TCP listener task failed: {e}"),
        }
    }
    for task in source_tasks {
        if let Err(e) = task.await {
            warn!("a record source or the notifier failed: {e}");
        }
    }
    for task in forward_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("forwarder ended with an error: {e}"),
            Err(e) => warn!("forwarder task failed: {e}"),
        }
    }
    dataplane.stop().await;
    observation.stop().await;
    info!("stopped");
    drop(pid_file);
    Ok(())
}

/// Binds the REST API with its record writer: etcd when configured, else the
/// embedded store (whose `--domain` zones are created in it when missing; that
/// writer comes back too, for SIGHUP reloads to take turns with its writes).
// Each argument is a separate part the API serves; bundling them would only
// move the list.
#[allow(clippy::too_many_arguments)]
async fn start_api(
    config: &ServeConfig,
    settings: &ApiSettings,
    sources: &FileSources,
    publisher: &PublisherHandle,
    etcd_records: Option<&SharedRecords>,
    telemetry: Arc<Telemetry>,
    gate: Arc<ConnectionGate>,
    query_stats: Option<Arc<QueryStats>>,
    reload: ReloadRequests,
) -> Result<(Api, Option<EmbeddedWriter>), ServeError> {
    let mut store_writer = None;
    let writer: Arc<dyn RecordWriter> = match (&config.etcd, etcd_records) {
        (Some(etcd), Some(records)) => Arc::new(
            EtcdWriter::connect(etcd, Arc::clone(records))
                .await
                .map_err(|e| ServeError::ApiWriter(e.to_string()))?,
        ),
        _ => {
            let path = config.store.clone().ok_or_else(|| {
                ServeError::ApiWriter("the API needs --store or --etcd to write records".into())
            })?;
            let zones: Vec<_> = config
                .zones
                .iter()
                .filter(|z| z.file.is_none())
                .map(|z| z.origin.clone())
                .collect();
            let (sources, publisher) = (sources.clone(), publisher.clone());
            let writer = tokio::task::spawn_blocking(move || {
                EmbeddedWriter::open(path, &zones, sources, publisher)
            })
            .await
            .map_err(|e| ServeError::ApiWriter(e.to_string()))?
            .map_err(|e| ServeError::ApiWriter(e.to_string()))?;
            store_writer = Some(writer.clone());
            Arc::new(writer)
        }
    };
    let backend = writer.backend();
    let containerdns = ContainerdnsContext {
        domains: config
            .zones
            .iter()
            .filter(|z| z.file.is_none())
            .map(|z| z.origin.clone())
            .collect(),
        etcd_records: etcd_records.cloned(),
        monitor: config.etcd.as_ref().and_then(MonitorStatus::new),
    };
    let api = Api::bind(
        settings,
        writer,
        telemetry,
        gate,
        containerdns,
        query_stats,
        reload,
    )
    .await?;
    let addr = api
        .local_addr()
        .map_or_else(|_| settings.listen.to_string(), |a| a.to_string());
    info!(
        listen = %addr,
        tls = api.is_tls(),
        records = backend,
        "REST API ready"
    );
    Ok((api, store_writer))
}

/// The remote backends, each polled once: a backend that does not answer yet
/// is logged and left to its poll loop.
async fn start_pdns(config: &ServeConfig, publisher: &PublisherHandle) -> Vec<PdnsSource> {
    let Some(settings) = &config.pdns_remote else {
        return Vec::new();
    };
    let hosts: Vec<_> = config.zones.iter().map(|z| z.origin.clone()).collect();
    let mut sources = Vec::new();
    for (index, remote) in (0u8..).zip(&settings.remotes) {
        let mut source = PdnsSource::new(
            index,
            remote.clone(),
            settings,
            hosts.clone(),
            publisher.clone(),
        );
        let backend = remote.connection_string();
        match source.poll().await {
            Ok(published) => info!(%backend, names = published.names, "remote backend loaded"),
            Err(e) => warn!(
                %backend,
                "the remote backend does not answer yet ({e}); its zones are served once it does"
            ),
        }
        sources.push(source);
    }
    sources
}

/// Seconds since the Unix epoch, where zone serials start.
fn unix_seconds() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Waits for SIGTERM or SIGINT, reloading on SIGHUP and on the API's requests
/// meanwhile, one reload at a time, telling the service manager.
async fn wait_for_signals(reloader: &Reloader, notifier: &Notifier, mut requests: ReloadQueue) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    let status = |ok: bool| {
        if ok {
            "answering"
        } else {
            "answering; the last reload failed"
        }
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                notifier.reloading();
                let outcome = reloader.reload("SIGHUP").await;
                notifier.reloaded(status(outcome.is_ok()));
            }
            reply = requests.next() => {
                notifier.reloading();
                let outcome = reloader.reload("the REST API").await;
                notifier.reloaded(status(outcome.is_ok()));
                let _ = reply.send(outcome.map_err(|e| e.to_string()));
            }
            _ = term.recv() => return,
            _ = int.recv() => return,
        }
    }
}
