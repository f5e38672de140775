//! Records and backend health from etcd v3.
//!
//! A fleet of ferrodns appliances can share one etcd cluster: whatever writes the
//! records (containerdns's API, external-dns, `etcdctl`, ferrodns's own REST API)
//! writes them once, and every appliance answers them within milliseconds.
//!
//! The design keeps I/O at the edge:
//!
//! - [`decode`] (with `key`, [`containerdns`], [`skydns`] and [`health`]) is a
//!   sans-IO decoder: a key and its value in, the records it contributes (or a
//!   health status, or an error about that key alone) out.
//! - [`assemble`] applies the rules that need all of a name's keys (groups, SRV
//!   weights, CNAME conflicts).
//! - [`records`] keeps what etcd holds, event by event, indexed so that a change
//!   names exactly the names whose records may differ.
//! - `translate` says that to the [publisher](crate::pipeline), in its
//!   vocabulary: "etcd holds exactly these zones", "these names now hold these
//!   records", "this address is down".
//! - [`sync`] talks to etcd: full load, watch, reconnect, compaction, snapshot.
//! - [`snapshot`] is the local copy that lets a restart serve while etcd is down.
//! - [`status`] exposes how it is going ([`EtcdStatus`], lock-free) to `/metrics`.
//! - `members` keeps one client per etcd member and asks the next when one
//!   fails, so a dead member is skipped while a quorum is up.
//! - [`writer`] writes records in the containerdns layout for the REST API;
//!   `write_plan` is its sans-IO core: which keys to read for a name, what to
//!   write, and the compares that make the write atomic against etcd's state.
//! - [`owner`] reads and writes containerdns's `user` field, the owner of a
//!   record for the containerdns routes' `user=` rule.
//! - [`monitor`] edits the health status entries field by field (the REST
//!   API's A/SRV writes list their names there; the health checker writes its
//!   verdicts).
//!
//! docs/etcd.md describes the layouts and behaviour for operators.
//!
//! # Reading the status
//!
//! [`EtcdSource::status`] returns an `Arc<EtcdStatus>` that stays valid for the life
//! of the process; every getter is one relaxed atomic load, so a metrics handler
//! can read it on every scrape:
//!
//! ```text
//! ferrodns_etcd_connected          status.connected()            1 while a watch is live
//! ferrodns_etcd_revision           status.revision()             newest revision applied
//! ferrodns_etcd_staleness_seconds  status.staleness()            0 when connected; None: never synced
//! ferrodns_etcd_keys               status.keys(), bad_keys()     keys used / skipped
//! ferrodns_health_targets{UP|DOWN} status.health_up(), health_down()
//! ```

pub mod assemble;
pub mod containerdns;
pub mod decode;
pub mod health;
mod key;
pub(crate) mod members;
pub mod monitor;
pub mod owner;
pub mod records;
pub mod skydns;
pub mod snapshot;
pub mod status;
pub mod sync;
mod translate;
mod write_plan;
pub mod writer;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ferrodns_dataplane::name::Name;
use tokio::sync::{Mutex, watch};
use tracing::{info, warn};

pub use status::EtcdStatus;

use self::decode::{Decoder, Zones};
use self::members::Members;
use self::records::EtcdRecords;
use self::sync::{SyncError, SyncLoop, counts};
use self::translate::report;
use crate::config::{EtcdSettings, ServeConfig};
use crate::pipeline::PublisherHandle;

/// This appliance's copy of what etcd holds, shared by the sync loop (the only
/// writer), the REST API's etcd writer and the health view.
pub type SharedRecords = Arc<Mutex<EtcdRecords>>;

/// Why the etcd source could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the table: {0}")]
    Build(String),
}

/// The etcd source of a running server, between start-up and the sync loop.
#[derive(Debug)]
pub struct EtcdSource {
    publisher: PublisherHandle,
    records: SharedRecords,
    status: Arc<EtcdStatus>,
    settings: EtcdSettings,
    members: Arc<Members>,
    prefixes: Vec<String>,
    fingerprint: String,
    resume: Option<Vec<i64>>,
}

impl EtcdSource {
    /// Loads etcd's zones into `publisher`: from etcd if it answers within the
    /// timeout, else from the snapshot, else empty (SOA and NS only). Never
    /// fails because etcd is down. The zones `publisher` already serves from
    /// other sources are left to them (a name inside one is not etcd's).
    pub async fn start(
        config: &ServeConfig,
        settings: &EtcdSettings,
        publisher: PublisherHandle,
    ) -> Result<EtcdSource, StartError> {
        let etcd_apexes = config.etcd_zones();
        let other_apexes: Vec<Name> = publisher
            .read(|p| p.zones())
            .await
            .into_iter()
            .filter(|apex| !etcd_apexes.contains(apex))
            .collect();
        let zones = Zones::new(&etcd_apexes, &other_apexes);
        let decoder = Decoder::new(settings.layouts.clone(), zones);
        let fingerprint = format!("{:?} {:?}", settings.layouts, decoder.zones);
        let prefixes = settings.layouts.watched_prefixes();
        let status = Arc::new(EtcdStatus::default());
        let mut sync = SyncLoop {
            settings: settings.clone(),
            members: Arc::new(Members::new(settings)),
            prefixes: prefixes.clone(),
            fingerprint: fingerprint.clone(),
            publisher,
            records: Arc::new(Mutex::new(EtcdRecords::new(decoder.clone()))),
            status: Arc::clone(&status),
            resume: None,
            dirty: false,
            last_snapshot: Instant::now(),
        };

        let first = async {
            let probe = prefixes.first().map_or("/", String::as_str);
            let client = sync.members.live(probe).await?;
            sync.full_load(&client).await
        };
        if let Err(error) = first.await {
            warn!("etcd unavailable at start-up: {error}");
            sync.resume = restore(&sync, decoder, &fingerprint, prefixes.len()).await?;
        }
        Ok(EtcdSource {
            publisher: sync.publisher,
            records: sync.records,
            status,
            settings: settings.clone(),
            members: sync.members,
            prefixes,
            fingerprint,
            resume: sync.resume,
        })
    }

    /// The status gauges, shared with the sync loop.
    pub fn status(&self) -> Arc<EtcdStatus> {
        Arc::clone(&self.status)
    }

    /// What etcd holds, as this appliance last saw it.
    pub fn records(&self) -> SharedRecords {
        Arc::clone(&self.records)
    }

    /// Keeps the table in step with etcd until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        SyncLoop {
            settings: self.settings,
            members: self.members,
            prefixes: self.prefixes,
            fingerprint: self.fingerprint,
            publisher: self.publisher,
            records: self.records,
            status: self.status,
            resume: self.resume,
            dirty: false,
            last_snapshot: Instant::now(),
        }
        .run(shutdown)
        .await;
    }
}

/// Serves the snapshot, or empty etcd zones; returns where the watch may resume.
async fn restore(
    sync: &SyncLoop,
    decoder: Decoder,
    fingerprint: &str,
    watchers: usize,
) -> Result<Option<Vec<i64>>, StartError> {
    let snapshot = match &sync.settings.snapshot {
        Some(path) => {
            let path = path.clone();
            match tokio::task::spawn_blocking(move || snapshot::read(&path)).await {
                Ok(Ok(snapshot)) => Some(snapshot),
                Ok(Err(error)) => {
                    warn!("{error}");
                    None
                }
                Err(error) => {
                    warn!("reading the etcd snapshot failed: {error}");
                    None
                }
            }
        }
        None => None,
    };
    let Some(snapshot) = snapshot else {
        warn!("no etcd snapshot: serving the etcd zones empty until etcd answers");
        let updates = translate::full(&*sync.records.lock().await, &HashSet::new());
        sync.publisher.apply(updates).await;
        return Ok(None);
    };
    let resume = (snapshot.fingerprint == fingerprint).then(|| vec![snapshot.revision; watchers]);
    let (saved_at, revision, keys) = (snapshot.saved_at, snapshot.revision, snapshot.pairs.len());
    let (records, updates) = tokio::task::spawn_blocking(move || {
        let (records, errors) = EtcdRecords::load(decoder, snapshot.pairs);
        report(&errors);
        let updates = translate::full(&records, &HashSet::new());
        (records, updates)
    })
    .await
    .map_err(|e| StartError::Build(e.to_string()))?;
    sync.status.set_counts(counts(&records));
    *sync.records.lock().await = records;
    sync.publisher.apply(updates).await;
    sync.status.set_synced_at(saved_at);
    sync.status.reset_revision(revision);
    let age = SystemTime::now()
        .duration_since(saved_at)
        .unwrap_or_default();
    info!(
        keys,
        revision,
        age_s = age.as_secs(),
        "serving the etcd snapshot until etcd answers"
    );
    Ok(resume)
}

impl From<SyncError> for StartError {
    fn from(error: SyncError) -> Self {
        StartError::Build(error.to_string())
    }
}
