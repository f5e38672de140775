//! PowerDNS remote backends as a record source: the OpenSVC agent's socket.
//!
//! An OpenSVC cluster's agent serves the cluster zone on `<var>/dns/pdns.sock`
//! in PowerDNS's remote-backend protocol, for a `pdns_server` that asks it on
//! every query. ferrodns takes that server's place by polling the socket
//! instead: every `poll_interval` it asks `getAllDomains`, then `list` for each
//! zone, and tells the publisher "zone Z is now exactly this"
//! ([`Update::Zone`]) for each, and [`Update::DropZone`] for a zone that
//! vanished. The publisher compares the zone name by name with what it had and
//! publishes only the names that changed. A poll whose replies hold the same
//! entries as the last one (in any order: the agent's changes every time) stops
//! before that, after an order-free fingerprint of the entries, so an unchanged
//! poll costs reading and decoding the replies. The agent's records are dynamic (services
//! move between nodes): a change is served within one poll interval (figures in
//! docs/benchmarks.md).
//!
//! - `protocol`: the requests sent (only `initialize`, `getAllDomains` and
//!   `list`: the agent never answers a method it does not know) and the decoding
//!   of the untrusted replies;
//! - `translate`: replies into sorted records per zone, bad entries named;
//! - `connection`: one unix-socket connection, each call bounded in time and size;
//! - `status`: up or stale, last success, errors (for `/metrics`, `/readyz`).
//!
//! What the backend says is untrusted. A bad record is skipped, named in the log
//! and counted; the rest of its zone is served. A poll that fails as a whole
//! (the socket missing while the agent restarts, a timeout, garbage, a reply
//! over `max_reply_bytes`) changes nothing: the last data keeps being served,
//! the source is marked stale, and polls go on with a backoff (the interval
//! doubled per failure, up to [`MAX_BACKOFF`] or the interval if longer) on a
//! new connection.
//!
//! The `n`-th backend configured is [`SourceId::PdnsRemote`]`(n)`. A zone the
//! agent lists with an SOA keeps it (the agent repeats it once per name server
//! of the cluster; the publisher serves it once); a zone without one gets the
//! SOA and NS `--domain` zones get. The agent's SOA serial never changes (it is
//! always 1), so the publisher serves its own rising serial in it (see
//! `pipeline/serials.rs`), which is what lets a secondary follow the zone.

mod connection;
pub mod protocol;
mod status;
pub mod translate;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ferrodns_dataplane::name::Name;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{PdnsRemote, PdnsRemoteSettings};
use crate::pipeline::{Published, PublisherHandle, SourceId, Update, ZoneContent};
use connection::{CallError, Connection};
use protocol::{Elements, Entry, Request, decode_domains, decode_list};
use translate::{Translated, fingerprint, translate};

pub use status::{PdnsStatus, PollCounts};

/// Longest wait between two polls after failures (unless the poll interval is
/// longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A poll's zones: each zone the backend listed, with its entries.
type Listed = Vec<(Name, Elements<Entry>)>;

/// One remote backend, polled into the publisher.
#[derive(Debug)]
pub struct PdnsSource {
    source: SourceId,
    remote: PdnsRemote,
    poll_interval: Duration,
    max_reply: usize,
    /// Configured zones that take records lying outside the backend's zones.
    hosts: Vec<Name>,
    publisher: PublisherHandle,
    status: Arc<PdnsStatus>,
    connection: Option<Connection>,
    /// The zones this source holds in the publisher.
    held: BTreeSet<Name>,
    /// What the last poll skipped, logged only when it changes.
    skipped: (Vec<String>, usize),
    /// The fingerprint and counts of the last poll published.
    last_poll: Option<(u128, PollCounts)>,
}

impl PdnsSource {
    /// The `index`-th backend of `settings`; `hosts` are the configured zones,
    /// which take the backend's records that lie outside its own zones.
    pub fn new(
        index: u8,
        remote: PdnsRemote,
        settings: &PdnsRemoteSettings,
        hosts: Vec<Name>,
        publisher: PublisherHandle,
    ) -> Self {
        let status = Arc::new(PdnsStatus::new(remote.connection_string()));
        PdnsSource {
            source: SourceId::PdnsRemote(index),
            remote,
            poll_interval: settings.poll_interval,
            max_reply: settings.max_reply_bytes,
            hosts,
            publisher,
            status,
            connection: None,
            held: BTreeSet::new(),
            skipped: (Vec::new(), 0),
            last_poll: None,
        }
    }

    pub fn status(&self) -> Arc<PdnsStatus> {
        Arc::clone(&self.status)
    }

    /// Polls once: asks the backend for its zones and publishes what changed.
    /// On failure nothing is published and the connection is dropped.
    pub async fn poll(&mut self) -> Result<Published, CallError> {
        let (listed, bad_zones) = match self.fetch().await {
            Ok(fetched) => fetched,
            Err(error) => {
                self.status.failed();
                return Err(error);
            }
        };
        let print = fingerprint(&listed, &bad_zones);
        if self.last_poll.is_some_and(|(last, _)| last == print) {
            // Nothing changed since the last poll: nothing to translate or publish.
            let counts = self.last_poll.map(|(_, counts)| counts).unwrap_or_default();
            self.status.succeeded(counts);
            return Ok(Published::default());
        }
        let mut translated = translate(listed, &self.hosts);
        translated.bad.splice(0..0, bad_zones);
        self.report(&translated);
        let counts = PollCounts {
            zones: translated.zones.len() as u64,
            records: translated.records() as u64,
            bad_records: translated.bad.len() as u64,
            outside: translated.outside as u64,
        };
        let now: BTreeSet<Name> = translated.zones.keys().cloned().collect();
        let mut updates: Vec<Update> = self
            .held
            .difference(&now)
            .map(|apex| Update::DropZone {
                source: self.source,
                apex: apex.clone(),
            })
            .collect();
        updates.extend(
            translated
                .zones
                .into_iter()
                .map(|(apex, records)| Update::Zone {
                    source: self.source,
                    content: ZoneContent::new(apex, records),
                }),
        );
        self.held = now;
        let published = self.publisher.apply(updates).await;
        self.status.succeeded(counts);
        self.last_poll = Some((print, counts));
        Ok(published)
    }

    /// Polls every `poll_interval` (from the start of one poll to the start of
    /// the next; longer after failures) until `shutdown` says so.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        let mut last_error: Option<String> = None;
        let mut next = Instant::now() + self.poll_interval;
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                    continue;
                }
                () = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            match self.poll().await {
                Ok(published) => {
                    if failures > 0 {
                        info!(backend = %self.status.connection(), "the remote backend answers again");
                    }
                    if published.published {
                        debug!(backend = %self.status.connection(), names = published.names, "published");
                    }
                    failures = 0;
                    last_error = None;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let text = error.to_string();
                    if last_error.as_deref() != Some(&text) {
                        warn!(
                            backend = %self.status.connection(),
                            "polling the remote backend failed, serving its last records: {text}"
                        );
                    }
                    last_error = Some(text);
                }
            }
            next = started + backoff(self.poll_interval, failures);
        }
    }

    /// The backend's zones and their entries, and the zones it named badly. The
    /// connection is kept for the next poll only when this one succeeds.
    async fn fetch(&mut self) -> Result<(Listed, Vec<String>), CallError> {
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => {
                Connection::open(&self.remote.path, self.remote.timeout, self.max_reply).await?
            }
        };
        let fetched = self.fetch_on(&mut connection).await?;
        self.connection = Some(connection);
        Ok(fetched)
    }

    async fn fetch_on(
        &self,
        connection: &mut Connection,
    ) -> Result<(Listed, Vec<String>), CallError> {
        let request = Request::GetAllDomains;
        let reply = connection.call(&request).await?;
        let domains = decode_domains(&reply).map_err(|source| CallError::Reply {
            method: request.method(),
            source,
        })?;
        log_lines(&self.status, &domains.log);
        let mut listed: Listed = Vec::new();
        let mut bad = Vec::new();
        for domain in domains.result {
            let zone = match domain {
                Ok(zone) => zone,
                Err(element) => {
                    bad.push(format!("getAllDomains: {element}"));
                    continue;
                }
            };
            let apex = match Name::from_ascii(&zone) {
                Ok(apex) => apex,
                Err(error) => {
                    bad.push(format!("getAllDomains: zone {zone:?}: {error}"));
                    continue;
                }
            };
            if listed.iter().any(|(held, _)| *held == apex) {
                continue;
            }
            // As the backend wrote it: the agent compares the name as a string.
            let zonename = if zone.ends_with('.') {
                zone
            } else {
                format!("{zone}.")
            };
            let request = Request::List {
                zonename: &zonename,
            };
            if let Err(error) = request.encode() {
                bad.push(format!("zone {apex}: {error}"));
                continue;
            }
            let reply = connection.call(&request).await?;
            let entries = decode_list(&reply).map_err(|source| CallError::Reply {
                method: request.method(),
                source,
            })?;
            log_lines(&self.status, &entries.log);
            listed.push((apex, entries.result));
        }
        Ok((listed, bad))
    }

    /// Logs what the poll skipped, when it differs from the last poll.
    fn report(&mut self, translated: &Translated) {
        let backend = self.status.connection();
        if translated.bad != self.skipped.0 {
            for bad in &translated.bad {
                warn!(%backend, "record skipped: {bad}");
            }
        }
        if translated.outside != self.skipped.1 && translated.outside > 0 {
            info!(
                %backend,
                records = translated.outside,
                "records lie outside every zone served (the agent's PTR records, say) and are not \
                 served; declaring their zone (--domain 10.in-addr.arpa) serves them"
            );
        }
        self.skipped = (translated.bad.clone(), translated.outside);
    }
}

/// The backend's own log lines (PowerDNS logs them at info; here at debug: a
/// backend may add them to every reply, every poll).
fn log_lines(status: &PdnsStatus, lines: &[String]) {
    for line in lines {
        debug!(backend = %status.connection(), "backend log: {line}");
    }
}

/// The wait before the next poll after `failures` failed polls in a row.
fn backoff(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let doubled = interval.saturating_mul(1 << failures.min(16).saturating_sub(1));
    doubled.min(MAX_BACKOFF.max(interval))
}

#[cfg(test)]
mod tests;
