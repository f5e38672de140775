//! Watching the queries: the hub of every query observer, the control plane's
//! own observer, the merge of the names asked and the query log's writer,
//! started and stopped together by `serve`.
//!
//! The hub ([`ObserverHub`]) gives each poll loop an observer when the
//! dataplane starts; the TCP listener and the forwarder share one more
//! ([`Observation::shared`]), each taking its lock for one query. What they
//! watch:
//!
//! - the names asked, with `[stats] enabled = true` and the REST API (it alone
//!   serves containerdns's stats routes):
//!   [`QueryStats`] merges every loop's counts each second;
//! - the query log, with `[dnstap]`: [`QueryLog`] drains the entries.
//!
//! With neither, every observer is off and costs the poll loops one branch per
//! query.

use std::sync::{Arc, Mutex};

use ferrodns_dataplane::observe::{LogConfig, ObserverConfig, ObserverHub};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::ServeConfig;
use crate::dnstap::{QueryLog, QueryLogError};
use crate::query_stats::{QueryStats, SharedObserver};

/// What watches the queries of a running server.
#[derive(Debug)]
pub struct Observation {
    pub hub: Arc<ObserverHub>,
    /// The observer of the TCP listener and the forwarder; None when nothing
    /// is watched.
    pub shared: Option<SharedObserver>,
    /// The names asked, merged; None when not counted.
    pub stats: Option<Arc<QueryStats>>,
    /// The query log's writer; None without `[dnstap]`.
    pub log: Option<QueryLog>,
    merging: Option<JoinHandle<()>>,
}

impl Observation {
    /// Makes the hub for `config` and starts what drains it; the merge of the
    /// names stops at `shutdown`, the log's writer at [`stop`](Self::stop).
    pub fn start(
        config: &ServeConfig,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Observation, QueryLogError> {
        let watched = ObserverConfig {
            names: config.api.is_some() && config.query_stats,
            log: config.dnstap.as_ref().map(|dnstap| LogConfig {
                sample: dnstap.sample,
                queries: dnstap.queries,
                responses: dnstap.responses,
                queue: dnstap.queue,
            }),
        };
        let hub = ObserverHub::new(watched);
        let shared =
            (watched.names || watched.log.is_some()).then(|| Arc::new(Mutex::new(hub.observer())));
        let stats = watched
            .names
            .then(|| Arc::new(QueryStats::new(Arc::clone(&hub), shared.clone())));
        let merging = stats
            .as_ref()
            .map(|stats| tokio::spawn(Arc::clone(stats).run(shutdown.clone())));
        let log = match &config.dnstap {
            Some(settings) => {
                let log = QueryLog::start(settings, Arc::clone(&hub))?;
                info!(
                    output = ?settings.output,
                    sample = settings.sample,
                    queries = settings.queries,
                    responses = settings.responses,
                    "query log (dnstap) on"
                );
                Some(log)
            }
            None => None,
        };
        Ok(Observation {
            hub,
            shared,
            stats,
            log,
            merging,
        })
    }

    /// The observer the forwarder logs its answers to, when there is a log.
    pub fn log_observer(&self) -> Option<SharedObserver> {
        self.log.as_ref().and(self.shared.clone())
    }

    /// Stops the merge (after the shutdown) and the log's writer, which writes
    /// what is queued and ends its stream. Call it once the answerers stopped.
    pub async fn stop(self) {
        if let Some(merging) = self.merging
            && let Err(e) = merging.await
        {
            warn!("the merge of the names asked failed: {e}");
        }
        if let Some(log) = self.log {
            let _ = tokio::task::spawn_blocking(move || log.stop()).await;
        }
    }
}
