//! Reloading a running server: SIGHUP, and `POST /v1/reload` (`ferroctl
//! reload`) through the REST API.
//!
//! A reload rereads everything a file holds: the configuration file (with the
//! command line's flags over it, as at start), then the zone files and the
//! store the new configuration names. All of it is read off to the side first;
//! only when all of it loads does anything change, so a reload that fails
//! (a bad key, a missing zone file, a bad line) keeps every setting and every
//! record as they were and says why. Then, in one go:
//!
//! - the publisher gets the zones and the new answer policies in one batch,
//!   so zones added, zones removed, changed files and changed policies land
//!   in one table swap ([`Update::Policies`]);
//! - the forwarder takes the new upstreams (`Forwarder::set_routes`).
//!
//! What only a restart can change (listen addresses, workers, the backend, the
//! API, etcd...; see `restart`) is compared with the configuration the server
//! started with and named in one warning, on every reload until the restart.
//! Zones fed by etcd stay as they were at start: etcd's watch was set up for
//! them.
//!
//! Reloads run one at a time, in the task that waits for signals; the API
//! asks for one through [`ReloadRequests`] and waits for its outcome. Each is
//! counted for `/metrics` ([`Reloads::record`]).

mod restart;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::{ConfigError, ServeConfig, ZoneConfig};
use crate::forward::Forwarder;
use crate::pipeline::{Policies, Published, PublisherHandle, Update};
use crate::records::embedded::EmbeddedWriter;
use crate::sources::{FileSources, LoadError};
use crate::telemetry::Reloads;

/// Loads the configuration again, as start-up did (the same file, the same
/// flags over it).
pub type ConfigLoader = Box<dyn Fn() -> Result<ServeConfig, ConfigError> + Send + Sync>;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the configuration does not load: {0}")]
    Config(#[from] ConfigError),
    #[error("the records do not load: {0}")]
    Load(#[from] LoadError),
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Zones served now.
    pub zones: usize,
    /// Names whose answers changed.
    pub changed: usize,
    /// Whether the forwarders' upstreams changed.
    pub upstreams_changed: bool,
    /// Changed settings left for a restart, as file keys.
    pub restart_needed: Vec<&'static str>,
}

/// The outcome the API gets: the report, or why nothing changed.
pub type ReloadOutcome = Result<ReloadReport, String>;

/// How the REST API asks for a reload. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReloadRequests {
    tx: mpsc::Sender<oneshot::Sender<ReloadOutcome>>,
}

/// Where the task that reloads receives the API's requests.
#[derive(Debug)]
pub struct ReloadQueue {
    rx: mpsc::Receiver<oneshot::Sender<ReloadOutcome>>,
}

/// A way for the API to ask for reloads, and where they arrive.
pub fn requests() -> (ReloadRequests, ReloadQueue) {
    let (tx, rx) = mpsc::channel(4);
    (ReloadRequests { tx }, ReloadQueue { rx })
}

impl ReloadRequests {
    /// Asks for a reload and waits for its outcome.
    pub async fn reload(&self) -> ReloadOutcome {
        let (reply, outcome) = oneshot::channel();
        self.tx
            .send(reply)
            .await
            .map_err(|_| "the server is stopping".to_owned())?;
        outcome
            .await
            .map_err(|_| "the server is stopping".to_owned())?
    }
}

impl ReloadQueue {
    /// The next request; `None` once no sender is left (never while the API
    /// runs), in which case this waits forever.
    pub async fn next(&mut self) -> oneshot::Sender<ReloadOutcome> {
        match self.rx.recv().await {
            Some(reply) => reply,
            None => std::future::pending().await,
        }
    }
}

/// The running server's reloadable parts, and the configuration it started
/// with.
pub struct Reloader {
    load: ConfigLoader,
    /// As loaded at start (before the caps were fitted to the descriptor
    /// budget): what restart-only settings are compared with.
    started: ServeConfig,
    publisher: PublisherHandle,
    store_writer: Option<EmbeddedWriter>,
    forwarder: Option<Forwarder>,
    reloads: Arc<Reloads>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for the server started with `started`, whose configuration
    /// `load` reads again; it counts its reloads in `reloads`.
    pub fn new(
        load: ConfigLoader,
        started: ServeConfig,
        publisher: PublisherHandle,
        forwarder: Option<Forwarder>,
        reloads: Arc<Reloads>,
    ) -> Reloader {
        Reloader {
            load,
            started,
            publisher,
            store_writer: None,
            forwarder,
            reloads,
        }
    }

    /// With the REST API on the store: reloads take turns with its writes.
    pub fn with_store_writer(mut self, writer: Option<EmbeddedWriter>) -> Reloader {
        self.store_writer = writer;
        self
    }

    /// Reloads (see the module docs), logging what happened; `cause` says
    /// what asked (`SIGHUP`, `the REST API`).
    pub async fn reload(&self, cause: &str) -> Result<ReloadReport, ReloadError> {
        info!("{cause}: reloading the configuration and the records");
        let outcome = self.try_reload().await;
        self.reloads.record(&outcome);
        match &outcome {
            Ok(report) => {
                if !report.restart_needed.is_empty() {
                    warn!(
                        "changed settings that need a restart (not applied until then): {}",
                        report.restart_needed.join(", ")
                    );
                }
                info!(
                    zones = report.zones,
                    changed = report.changed,
                    upstreams_changed = report.upstreams_changed,
                    "reload done"
                );
            }
            Err(e) => error!("reload failed, nothing changed: {e}"),
        }
        outcome
    }

    async fn try_reload(&self) -> Result<ReloadReport, ReloadError> {
        let next = (self.load)()?;
        let zones = reloaded_zones(&self.started, &next);
        let sources = FileSources::new(
            zones.clone(),
            self.started.store.clone(),
            self.started.etcd_zones(),
        );
        let policies = Update::Policies(Policies::new(next.default_policy, &zones));
        let published = publish_sources(
            &sources,
            vec![policies],
            &self.publisher,
            self.store_writer.as_ref(),
        )
        .await?;
        let upstreams_changed = match &self.forwarder {
            Some(forwarder) => forwarder.set_routes(&next.forward),
            None => false,
        };
        let zones = self.publisher.read(|p| p.zones().len()).await;
        Ok(ReloadReport {
            zones,
            changed: published.names,
            upstreams_changed,
            restart_needed: restart::needing_restart(&self.started, &next),
        })
    }
}

/// The zones a reload serves: those of `next`, except that the set of zones
/// etcd feeds stays that of `started` (etcd's watch was set up for them; their
/// policies may change).
fn reloaded_zones(started: &ServeConfig, next: &ServeConfig) -> Vec<ZoneConfig> {
    if started.etcd.is_none() {
        return next.zones.clone();
    }
    let fed_by_etcd = started.etcd_zones();
    let mut zones: Vec<ZoneConfig> = next
        .zones
        .iter()
        .filter(|z| z.file.is_some() && !fed_by_etcd.contains(&z.origin))
        .cloned()
        .collect();
    zones.extend(
        started
            .zones
            .iter()
            .filter(|z| fed_by_etcd.contains(&z.origin))
            .map(|z| {
                next.zones
                    .iter()
                    .find(|n| n.origin == z.origin && n.file.is_none())
                    .unwrap_or(z)
                    .clone()
            }),
    );
    zones
}

/// Reads the zone files and the store of `sources` on a blocking thread (in
/// turn with the store's writes when `store_writer` is given) and hands them,
/// with `extra` updates, to the publisher in one batch; logs one line.
pub(crate) async fn publish_sources(
    sources: &FileSources,
    extra: Vec<Update>,
    publisher: &PublisherHandle,
    store_writer: Option<&EmbeddedWriter>,
) -> Result<Published, LoadError> {
    let started = Instant::now();
    let published = match store_writer {
        Some(writer) => writer.reload(sources.clone(), extra).await?,
        None => {
            let job = sources.clone();
            let mut updates = tokio::task::spawn_blocking(move || job.read())
                .await
                .map_err(|join| LoadError::Interrupted(join.to_string()))??;
            updates.extend(extra);
            publisher.apply(updates).await
        }
    };
    let (zones, records, names) = publisher
        .read(|p| {
            let names = p.table().current().name_count();
            (p.zones().len(), p.record_count(), names)
        })
        .await;
    info!(
        zones,
        records,
        names,
        changed = published.names,
        skipped = published.errors,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "table published"
    );
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, load};
    use ferrodns_dataplane::record::AnswerPolicy;

    fn config(zones: &[&str], domains: &[&str], policy: &str) -> ServeConfig {
        let flags = Overrides {
            zones: zones.iter().map(|z| format!("{z}=/dev/null")).collect(),
            domains: domains.iter().map(ToString::to_string).collect(),
            etcd: vec!["http://127.0.0.1:2379".into()],
            policy: Some(policy.into()),
            ..Overrides::default()
        };
        load(None, &flags).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn zone_files_follow_the_file_and_etcd_zones_stay_as_started() {
        let started = config(&["files.test."], &["etcd.test."], "round-robin");
        let mut next = config(&["other.test."], &["new.test."], "round-robin");
        next.zones.push(ZoneConfig {
            policy: Some(AnswerPolicy::HoneOne),
            ..started.zones[1].clone()
        });
        let zones = reloaded_zones(&started, &next);
        let origins: Vec<String> = zones.iter().map(|z| z.origin.to_string()).collect();
        assert_eq!(origins, ["other.test.", "etcd.test."]);
        assert_eq!(
            zones[1].policy,
            Some(AnswerPolicy::HoneOne),
            "its policy follows"
        );
    }
}
