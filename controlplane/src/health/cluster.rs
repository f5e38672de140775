//! Checking the addresses etcd lists, shared by every checker of the cluster.
//!
//! ```text
//!  connect -> lease (TTL) -> announce <agent_prefix><hostname> under the lease
//!     ^                          |  keep-alive every TTL/3
//!     |                          v
//!     |      every interval: list the status entries and the live agents
//!     |        -> own the addresses rendezvous hashing gives this checker
//!     |        -> check them; record each outcome in its verdict
//!     |        -> where etcd says otherwise (status, or another checker):
//!     |           read-modify-write the entry, keeping its other fields
//!     +---- etcd unreachable, lease or announcement gone: back off, again
//! ```
//!
//! - **One owner per address.** Each checker announces itself under its own
//!   lease; the live checkers are the announcements etcd holds. Every checker
//!   computes the same owner for each address (`rendezvous`), so the
//!   work is split without messages. When a checker dies its lease runs out
//!   after at most `lease_ttl_s`, etcd deletes its announcement, and within one
//!   more interval the others have taken its addresses over. (While the live
//!   list changes, two checkers can disagree on an owner for at most one
//!   interval; their writes are compare-and-swap, so neither loses a field.)
//!   A checker that stops cleanly revokes its lease: its addresses move at once.
//! - **Starting from what etcd says.** A checker that takes an address over
//!   (etcd names another checker, or none) starts from the status etcd holds
//!   and writes nothing until its own checks disagree for `retries` rounds, so
//!   a takeover never flips an answer by itself. It stamps the entry with its
//!   name (`checker`) and the time (`checked`) once.
//! - **etcd unreachable.** No check is made and nothing is written: every
//!   checker keeps its last verdicts, every appliance keeps the table it has,
//!   and nothing flaps when etcd returns.
//!
//! Writes go through `crate::etcd::monitor::update`: `status`, `checker` and
//! `checked` change, every other field of the value stays.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etcd_client::{Client, GetOptions, KvClient, PutOptions};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::clock::{report_time, rfc3339};
use super::probe::Probe;
use super::rendezvous::owner;
use super::stats::{CheckSource, CheckStats};
use super::verdict::Verdict;
use crate::config::{EtcdSettings, HealthSettings};
use crate::etcd::health::{ip_of, ports};
use crate::etcd::members::Members;
use crate::etcd::monitor::{Edit, Read, StatusValue, object, update};
use crate::etcd::sync::SyncError;

/// First wait before connecting again.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest wait between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Largest listing accepted from etcd.
const MAX_MESSAGE: usize = 256 << 20;

/// The checker of etcd's addresses.
#[derive(Debug)]
pub struct EtcdChecks {
    pub(crate) settings: HealthSettings,
    pub(crate) etcd: EtcdSettings,
    /// The health prefix, ending in `/`.
    pub(crate) status_prefix: String,
    pub(crate) probe: Probe,
    pub(crate) stats: Arc<CheckStats>,
}

/// One status entry as listed.
#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    key: String,
    raw: Vec<u8>,
    read: Read,
}

impl Entry {
    fn field(&self, name: &str) -> Option<&str> {
        self.read.value.as_ref()?.get(name)?.as_str()
    }

    fn is_up(&self) -> bool {
        self.field("status") == Some("UP")
    }
}

/// How a session with etcd ended.
enum Ended {
    Shutdown,
    /// etcd was lost; `joined`: after this checker had announced itself.
    Lost {
        why: String,
        joined: bool,
    },
}

impl EtcdChecks {
    fn me(&self) -> &str {
        self.stats.checker()
    }

    /// Checks until `shutdown` turns true, connecting again whenever etcd is
    /// lost; verdicts survive from one session to the next.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut verdicts: HashMap<IpAddr, Verdict> = HashMap::new();
        let members = Members::new(&self.etcd);
        let mut backoff = BACKOFF_MIN;
        let mut quiet = false;
        loop {
            match self.session(&members, &mut verdicts, &mut shutdown).await {
                Ended::Shutdown => return,
                Ended::Lost { why, joined } => {
                    if joined {
                        backoff = BACKOFF_MIN;
                        quiet = false;
                    }
                    if !quiet {
                        warn!(
                            "health checks of etcd's addresses paused, every verdict kept: {why}"
                        );
                        quiet = true;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Announces this checker and checks until etcd is lost or `shutdown`.
    async fn session(
        &self,
        members: &Members,
        verdicts: &mut HashMap<IpAddr, Verdict>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let (mut client, lease, mut kept) = match self.join(members).await {
            Ok(joined) => joined,
            Err(e) => {
                return Ended::Lost {
                    why: e.to_string(),
                    joined: false,
                };
            }
        };
        let lost = |why: String| Ended::Lost { why, joined: true };
        let mut kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
        info!(
            checker = self.me(),
            lease = format!("{lease:x}"),
            ttl_s = self.settings.lease_ttl.as_secs(),
            "checking the addresses etcd lists, shared with the other live checkers"
        );
        let mut ticks = tokio::time::interval(self.settings.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                _ = kept.changed() => return lost("the lease was not kept alive".into()),
                _ = shutdown.wait_for(|stop| *stop) => true,
            };
            if stopping {
                // Leave at once: the others take these addresses over now.
                let revoke = client.lease_revoke(lease);
                let _ = tokio::time::timeout(self.etcd.timeout, revoke).await;
                return Ended::Shutdown;
            }
            if let Err(e) = self.round(&mut kv, verdicts).await {
                return lost(e.to_string());
            }
        }
    }

    /// Connects to a live member, takes a lease and announces this checker
    /// under it; the channel changes when the lease can no longer be kept
    /// alive. The session stays on that member; when it fails, the next
    /// session finds another.
    async fn join(
        &self,
        members: &Members,
    ) -> Result<(Client, i64, watch::Receiver<()>), SyncError> {
        let timeout = self.etcd.timeout;
        let mut client = members.live(&self.settings.agent_prefix).await?;
        let ttl = i64::try_from(self.settings.lease_ttl.as_secs()).unwrap_or(i64::MAX);
        let granted = deadline(timeout, client.lease_grant(ttl, None)).await??;
        let lease = granted.id();
        let announcement = json!({
            "agent_name": self.me(),
            "last_report": report_time(SystemTime::now()),
            "lease": format!("{lease:x}"),
        });
        let key = format!("{}{}", self.settings.agent_prefix, self.me());
        let put = client.put(
            key,
            announcement.to_string(),
            Some(PutOptions::new().with_lease(lease)),
        );
        deadline(timeout, put).await??;
        let (mut keeper, mut replies) = deadline(timeout, client.lease_keep_alive(lease)).await??;
        let (lost, kept) = watch::channel(());
        let period = Duration::from_secs(u64::try_from(granted.ttl()).unwrap_or(1).max(3) / 3);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                if keeper.keep_alive().await.is_err() {
                    break;
                }
                match tokio::time::timeout(timeout, replies.message()).await {
                    Ok(Ok(Some(reply))) if reply.ttl() > 0 => {}
                    _ => break,
                }
            }
            lost.send_replace(());
        });
        Ok((client, lease, kept))
    }

    /// One round: list, own, check, write what changed.
    async fn round(
        &self,
        kv: &mut KvClient,
        verdicts: &mut HashMap<IpAddr, Verdict>,
    ) -> Result<(), SyncError> {
        let entries = self.entries(kv).await?;
        let agents = self.agents(kv).await?;
        let me = self.me();
        if !agents.iter().any(|agent| agent == me) {
            return Err(SyncError::Build(format!(
                "the announcement {}{me} is gone",
                self.settings.agent_prefix
            )));
        }
        let owned: Vec<Entry> = entries
            .into_iter()
            .filter(|entry| owner(entry.ip, &agents) == Some(me))
            .collect();
        let mine: HashSet<IpAddr> = owned.iter().map(|entry| entry.ip).collect();
        verdicts.retain(|ip, _| mine.contains(ip));
        self.stats.retain(CheckSource::Etcd, |ip| mine.contains(ip));
        for entry in &owned {
            if entry.field("checker") != Some(me) || !verdicts.contains_key(&entry.ip) {
                verdicts.insert(entry.ip, Verdict::new(entry.is_up()));
            }
        }
        let targets = owned
            .iter()
            .map(|entry| {
                let listed = ports(&entry.raw);
                let ports = if listed.is_empty() {
                    self.settings.ports.clone()
                } else {
                    listed
                };
                (entry.ip, ports)
            })
            .collect();
        for (ip, outcome) in self.probe.round(targets).await {
            let Some(verdict) = verdicts.get_mut(&ip) else {
                continue;
            };
            let flip = verdict.record(outcome, self.settings.retries);
            self.stats.record(
                ip,
                CheckSource::Etcd,
                outcome,
                verdict.is_up(),
                flip.is_some(),
            );
            if let Some(up) = flip {
                info!(%ip, status = status(up), "health check verdict changed");
            }
        }
        for entry in owned {
            let up = verdicts.get(&entry.ip).is_some_and(|v| v.is_up());
            if entry.is_up() == up && entry.field("checker") == Some(me) {
                continue;
            }
            let written = update(
                kv,
                &entry.key,
                self.etcd.timeout,
                Some(entry.read),
                stamp(up, me),
            )
            .await;
            match written {
                Ok(_) => {}
                Err(SyncError::Build(why)) => warn!(ip = %entry.ip, "verdict not written: {why}"),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every status entry with an address and a JSON object value.
    async fn entries(&self, kv: &mut KvClient) -> Result<Vec<Entry>, SyncError> {
        let listed = self.list(kv, &self.status_prefix).await?;
        Ok(listed
            .into_iter()
            .filter_map(|(key, raw, mod_revision)| {
                let path = key.strip_prefix(&self.status_prefix)?;
                let ip = ip_of(path.as_bytes()).ok()?;
                let value = object(&raw)?;
                Some(Entry {
                    ip,
                    key,
                    raw,
                    read: Read {
                        value: Some(value),
                        mod_revision,
                    },
                })
            })
            .collect())
    }

    /// The names of the live checkers.
    async fn agents(&self, kv: &mut KvClient) -> Result<Vec<String>, SyncError> {
        let prefix = &self.settings.agent_prefix;
        let listed = self.list(kv, prefix).await?;
        Ok(listed
            .into_iter()
            .filter_map(|(key, _, _)| {
                let name = key.strip_prefix(prefix.as_str())?;
                (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
            })
            .collect())
    }

    /// Every key under `prefix`, with its value and `mod_revision`.
    async fn list(
        &self,
        kv: &mut KvClient,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>, i64)>, SyncError> {
        let options = GetOptions::new().with_prefix();
        let response = deadline(self.etcd.timeout, kv.get(prefix, Some(options))).await??;
        Ok(response
            .kvs()
            .iter()
            .filter_map(|kv| {
                let key = kv.key_str().ok()?.to_owned();
                Some((key, kv.value().to_vec(), kv.mod_revision()))
            })
            .collect())
    }
}

/// The edit that writes this checker's verdict, keeping the other fields; an
/// entry deleted in the meantime stays deleted.
fn stamp(up: bool, me: &str) -> impl FnMut(Option<&StatusValue>) -> Edit + '_ {
    move |value| {
        let Some(value) = value else {
            return Edit::Keep;
        };
        let same = |field: &str, want: &str| value.get(field).and_then(Value::as_str) == Some(want);
        if same("status", status(up)) && same("checker", me) {
            return Edit::Keep;
        }
        let mut value = value.clone();
        value.insert("status".into(), json!(status(up)));
        value.insert("checker".into(), json!(me));
        value.insert("checked".into(), json!(rfc3339(SystemTime::now())));
        Edit::Put(value)
    }
}

fn status(up: bool) -> &'static str {
    if up { "UP" } else { "DOWN" }
}

async fn deadline<T>(limit: Duration, work: impl Future<Output = T>) -> Result<T, SyncError> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| SyncError::Timeout(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_keeps_every_other_field() {
        let value = object(
            br#"{"status":"UP","ports":["80"],"domains":["web.example.com."],"cluster":"c1"}"#,
        );
        let mut edit = stamp(false, "node-1");
        let Edit::Put(written) = edit(value.as_ref()) else {
            panic!("nothing written");
        };
        assert_eq!(written.get("status"), Some(&json!("DOWN")));
        assert_eq!(written.get("checker"), Some(&json!("node-1")));
        assert!(written.get("checked").is_some_and(Value::is_string));
        for kept in ["ports", "domains", "cluster"] {
            assert_eq!(
                written.get(kept),
                value.as_ref().and_then(|v| v.get(kept)),
                "{kept}"
            );
        }
        assert_eq!(edit(Some(&written)), Edit::Keep, "already says so");
        assert_eq!(edit(None), Edit::Keep, "a deleted entry stays deleted");
    }
}
