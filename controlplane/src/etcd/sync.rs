//! Keeping the table in step with etcd: the only part of [`crate::etcd`] that does
//! I/O.
//!
//! ```text
//!            +-------------------- compacted ---------------------+
//!            v                                                    |
//!  connect -> full load (paged range gets at one revision) -> watch from rev+1
//!     ^        swap the whole table once, write the snapshot      |    events: edit
//!     |                                                           |    changed names
//!     +---------- disconnected: keep serving, back off -----------+
//!                 re-watch each prefix from its last revision
//! ```
//!
//! - **Full load**: every watched prefix is listed in pages of [`PAGE`] keys, all at
//!   the revision of the first page, so the listing is one consistent cut. The new
//!   records are compiled off to the side and published in one swap; until then
//!   the old table keeps answering.
//! - **Watch**: one gRPC stream, one watcher per prefix, each starting right after
//!   the revision its data reflects. Responses are read by a small task into a
//!   channel; the applier drains what is queued and applies it as one batch (one
//!   table edit, one publish), so a burst of writes costs one swap, not one each.
//! - **Disconnect** (etcd restarted, network gone): the table stays as it is,
//!   [`EtcdStatus`] says so, and after a back-off ([`BACKOFF_MIN`] doubling to
//!   [`BACKOFF_MAX`]) each watcher resumes from the last revision it applied, so
//!   nothing is missed and nothing is reloaded.
//! - **A member down**: the watch is opened on one member at a time, the first
//!   that answers a linearizable read (`Members::live`); when that member dies
//!   the watch breaks and resumes on the next one, as after a disconnect.
//! - **Compaction**: when etcd has compacted past a watcher's revision, the events
//!   in between are gone; ferrodns does a full load and swaps the table at once.
//! - **Snapshot**: after each full load, and at most every [`SNAPSHOT_EVERY`] while
//!   changes arrive, the raw pairs are written to the snapshot file (when one is
//!   configured), and once more on shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::key::prefix_end;
use super::members::Members;
use super::records::{EtcdRecords, Update};
use super::status::{Counts, EtcdStatus};
use super::translate::{self, report};
use super::{SharedRecords, snapshot};
use crate::config::EtcdSettings;
use crate::pipeline::PublisherHandle;

/// Keys per range request of a full load. Large on purpose: etcd 3.4 walks the
/// rest of the range on every limited request, so small pages make a big listing
/// quadratic (2000-key pages took over a minute for a million keys).
pub const PAGE: i64 = 50_000;
/// Largest gRPC message accepted from etcd (a page of large values).
pub(crate) const MAX_MESSAGE: usize = 512 << 20;
/// First wait before reconnecting.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Shortest time between two snapshot writes caused by watch events.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(10);
/// Watch responses applied in one batch at most.
const BATCH: usize = 512;

/// Why talking to etcd failed this time. What it says is for operators: the
/// cause in a few words, never the client library's debug dump.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("etcd: {}", describe(.0))]
    Etcd(#[from] etcd_client::Error),
    /// No member answered: the endpoints tried and the last member's failure.
    #[error(
        "cannot reach etcd at {endpoints}: {cause}; check that etcd runs there and that \
         etcd.endpoints (--etcd) names it"
    )]
    Unreachable { endpoints: String, cause: String },
    #[error("etcd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot read {what} {}: {source}", path.display())]
    File {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the table could not be built: {0}")]
    Build(String),
}

/// `error` in a few words: what failed and, for a connection, the system's
/// reason (`tcp connect error: Connection refused (os error 111)`), taken from
/// the deepest error under it.
pub(crate) fn describe(error: &etcd_client::Error) -> String {
    let deepest = |top: &(dyn std::error::Error + 'static)| {
        let mut cause = top;
        while let Some(next) = cause.source() {
            cause = next;
        }
        (!std::ptr::addr_eq(cause, top)).then(|| cause.to_string())
    };
    match error {
        etcd_client::Error::GRpcStatus(status) => match deepest(status) {
            Some(cause) => format!("{}: {cause}", status.message()),
            None => format!("{} ({:?})", status.message(), status.code()),
        },
        etcd_client::Error::TransportError(transport) => {
            deepest(transport).unwrap_or_else(|| transport.to_string())
        }
        etcd_client::Error::IoError(io) => io.to_string(),
        other => other.to_string(),
    }
}

async fn deadline<T>(limit: Duration, work: impl Future<Output = T>) -> Result<T, SyncError> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| SyncError::Timeout(limit))
}

/// Every pair under `prefixes`, at one revision, and that revision.
pub(crate) async fn list(
    client: &Client,
    prefixes: &[String],
    timeout: Duration,
) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, i64), SyncError> {
    let mut kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
    let mut revision = 0;
    let mut pairs = Vec::new();
    for prefix in prefixes {
        let end = prefix_end(prefix.as_bytes());
        let mut from = prefix.as_bytes().to_vec();
        loop {
            let mut options = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            if revision != 0 {
                options = options.with_revision(revision);
            }
            let mut response = deadline(timeout, kv.get(from.clone(), Some(options))).await??;
            if revision == 0 {
                revision = response.header().map_or(0, |h| h.revision());
            }
            let more = response.more();
            let kvs = response.take_kvs();
            let last = kvs.last().map(|kv| kv.key().to_vec());
            pairs.extend(kvs.into_iter().map(|kv| kv.into_key_value()));
            match (more, last) {
                (true, Some(mut key)) => {
                    key.push(0);
                    from = key;
                }
                _ => break,
            }
        }
    }
    Ok((pairs, revision))
}

/// How a watch ended.
enum WatchEnd {
    /// A watcher's start revision was compacted away: reload everything.
    Compacted(i64),
    /// The stream failed or etcd cancelled the watch.
    Lost(String),
    Shutdown,
}

/// Aborts the response reader when the watch ends.
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The loop's state between connections.
pub(crate) struct SyncLoop {
    pub(crate) settings: EtcdSettings,
    pub(crate) members: Arc<Members>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) fingerprint: String,
    pub(crate) publisher: PublisherHandle,
    pub(crate) records: SharedRecords,
    pub(crate) status: Arc<EtcdStatus>,
    /// Per prefix, the revision its data reflects; `None`: a full load is due.
    pub(crate) resume: Option<Vec<i64>>,
    /// Changes applied since the last snapshot write.
    pub(crate) dirty: bool,
    pub(crate) last_snapshot: Instant,
}

impl SyncLoop {
    /// Runs until `shutdown` turns true.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = BACKOFF_MIN;
        let mut failing = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let attempt = async {
                let probe = self.prefixes.first().map_or("/", String::as_str);
                let client = self.members.live(probe).await?;
                if self.resume.is_none() {
                    self.full_load(&client).await?;
                }
                Ok::<Client, SyncError>(client)
            };
            let client = tokio::select! {
                result = attempt => result,
                _ = shutdown.changed() => break,
            };
            let end = match client {
                Ok(client) => self.watch(&client, &mut shutdown).await,
                Err(error) => WatchEnd::Lost(error.to_string()),
            };
            // Only a watch that was established counts as etcd being back.
            if self.status.connected() {
                failing = false;
                backoff = BACKOFF_MIN;
            }
            self.status.set_connected(false);
            match end {
                WatchEnd::Shutdown => break,
                WatchEnd::Compacted(revision) => {
                    info!(
                        compacted = revision,
                        "etcd compacted past our revision; reloading everything"
                    );
                    self.resume = None;
                }
                WatchEnd::Lost(reason) => {
                    if failing {
                        debug!("etcd still unreachable: {reason}");
                    } else {
                        warn!("etcd unreachable, serving the last table: {reason}");
                    }
                    failing = true;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => break,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        if self.dirty {
            self.write_snapshot().await;
        }
    }

    /// Lists everything, swaps the table, writes the snapshot.
    pub(crate) async fn full_load(&mut self, client: &Client) -> Result<(), SyncError> {
        let started = Instant::now();
        let (pairs, revision) = list(client, &self.prefixes, self.settings.timeout).await?;
        let listed_ms = started.elapsed().as_millis() as u64;
        let keys = pairs.len();
        let (decoder, was_down) = {
            let records = self.records.lock().await;
            (records.decoder().clone(), records.down().clone())
        };
        let loaded = tokio::task::spawn_blocking(move || {
            let (records, errors) = EtcdRecords::load(decoder, pairs);
            report(&errors);
            let updates = translate::full(&records, &was_down);
            (records, updates)
        })
        .await
        .map_err(|e| SyncError::Build(e.to_string()))?;
        let (records, updates) = loaded;
        let counts = counts(&records);
        *self.records.lock().await = records;
        let published = self.publisher.apply(updates).await;
        self.status.reset_revision(revision);
        self.status.set_counts(counts);
        self.status.set_synced_at(SystemTime::now());
        self.status.count_full_load();
        self.resume = Some(vec![revision; self.prefixes.len()]);
        info!(
            keys,
            names = published.names,
            skipped = published.errors,
            revision,
            listed_ms,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "etcd records loaded"
        );
        self.dirty = true;
        self.write_snapshot().await;
        Ok(())
    }

    async fn watch(&mut self, client: &Client, shutdown: &mut watch::Receiver<bool>) -> WatchEnd {
        let Some(mut revisions) = self.resume.clone() else {
            return WatchEnd::Lost("no revision to watch from".into());
        };
        let options = |revision: i64| {
            WatchOptions::new()
                .with_prefix()
                .with_start_revision(revision + 1)
                .with_progress_notify()
        };
        let mut watch_client = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
        let mut stream = match watch_client
            .watch(self.prefixes[0].clone(), Some(options(revisions[0])))
            .await
        {
            Ok(stream) => stream,
            Err(error) => return WatchEnd::Lost(error.to_string()),
        };
        for (prefix, revision) in self.prefixes.iter().zip(&revisions).skip(1) {
            if let Err(error) = stream.watch(prefix.clone(), Some(options(*revision))).await {
                return WatchEnd::Lost(error.to_string());
            }
        }
        // The request side stays open (dropping it would end the watch).
        let (_requests, mut responses) = stream.split();
        let (tx, mut rx) = mpsc::channel::<Result<WatchResponse, String>>(BATCH);
        let _reader = Reader(tokio::spawn(async move {
            loop {
                let next = match responses.message().await {
                    Ok(Some(response)) => Ok(response),
                    Ok(None) => Err("etcd closed the watch stream".to_owned()),
                    Err(error) => Err(error.to_string()),
                };
                let last = next.is_err();
                if tx.send(next).await.is_err() || last {
                    break;
                }
            }
        }));

        let mut watchers: Vec<i64> = Vec::with_capacity(self.prefixes.len());
        let mut ticker = tokio::time::interval(SNAPSHOT_EVERY);
        loop {
            let first = tokio::select! {
                next = rx.recv() => next,
                _ = ticker.tick() => {
                    if self.dirty && self.last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                        self.write_snapshot().await;
                    }
                    continue;
                }
                _ = shutdown.changed() => return WatchEnd::Shutdown,
            };
            let mut batch = vec![first.unwrap_or_else(|| Err("watch reader ended".into()))];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut events: Vec<(bool, Vec<u8>, Vec<u8>)> = Vec::new();
            let mut failure = None;
            for response in batch {
                let response = match response {
                    Ok(response) => response,
                    Err(reason) => {
                        failure = Some(WatchEnd::Lost(reason));
                        break;
                    }
                };
                if response.compact_revision() > 0 {
                    failure = Some(WatchEnd::Compacted(response.compact_revision()));
                    break;
                }
                if response.created() {
                    watchers.push(response.watch_id());
                    if watchers.len() == self.prefixes.len() {
                        self.status.set_connected(true);
                        info!(?revisions, "watching etcd");
                    }
                }
                if response.canceled() {
                    failure = Some(WatchEnd::Lost(format!(
                        "etcd cancelled the watch: {}",
                        response.cancel_reason()
                    )));
                    break;
                }
                let Some(index) = watchers.iter().position(|id| *id == response.watch_id()) else {
                    continue;
                };
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    if let Some(revision) = revisions.get_mut(index) {
                        *revision = (*revision).max(kv.mod_revision());
                    }
                    let put = event.event_type() == EventType::Put;
                    events.push((put, kv.key().to_vec(), kv.value().to_vec()));
                }
                if response.events().is_empty()
                    && let (Some(header), Some(revision)) =
                        (response.header(), revisions.get_mut(index))
                {
                    *revision = (*revision).max(header.revision());
                }
            }
            if !events.is_empty() {
                self.apply(events).await;
            }
            self.resume = Some(revisions.clone());
            if let Some(newest) = revisions.iter().max() {
                self.status.set_revision(*newest);
            }
            if let Some(end) = failure {
                return end;
            }
        }
    }

    /// Applies a batch of events as one table edit.
    async fn apply(&mut self, events: Vec<(bool, Vec<u8>, Vec<u8>)>) {
        let records = Arc::clone(&self.records).lock_owned().await;
        let applied = tokio::task::spawn_blocking(move || {
            let mut records = records;
            let mut update = Update::default();
            for (put, key, value) in &events {
                if *put {
                    records.put(key, value, &mut update);
                } else {
                    records.delete(key, &mut update);
                }
            }
            (translate::changes(&records, &update), counts(&records))
        })
        .await;
        match applied {
            Ok((updates, counts)) => {
                self.publisher.apply(updates).await;
                self.status.set_counts(counts);
                self.status.count_update();
                self.dirty = true;
            }
            Err(error) => warn!("applying etcd events failed: {error}"),
        }
    }

    /// Writes the snapshot file, if one is configured.
    pub(crate) async fn write_snapshot(&mut self) {
        let Some(path) = self.settings.snapshot.clone() else {
            self.dirty = false;
            return;
        };
        let revision = self
            .resume
            .as_ref()
            .and_then(|r| r.iter().min().copied())
            .unwrap_or(0);
        let fingerprint = self.fingerprint.clone();
        let records = Arc::clone(&self.records).lock_owned().await;
        let written = tokio::task::spawn_blocking(move || {
            let bytes = {
                let pairs: Vec<(&[u8], &[u8])> = records.pairs().collect();
                snapshot::encode(SystemTime::now(), revision, &fingerprint, pairs.into_iter())
            };
            drop(records);
            snapshot::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
        })
        .await;
        self.last_snapshot = Instant::now();
        self.dirty = false;
        match written {
            Ok(Ok(())) => debug!(revision, "etcd snapshot written"),
            Ok(Err(error)) => warn!("cannot write the etcd snapshot {error}"),
            Err(error) => warn!("cannot write the etcd snapshot: {error}"),
        }
    }
}

pub(crate) fn counts(records: &EtcdRecords) -> Counts {
    let (up, down) = records.health_counts();
    Counts {
        keys: records.key_count() as u64,
        bad_keys: records.bad_key_count() as u64,
        names: records.name_count() as u64,
        health_up: up as u64,
        health_down: down as u64,
    }
}
