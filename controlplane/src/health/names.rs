//! Checks of the addresses of the names `[health.names]` lists, for an
//! appliance that drops a dead backend from its answers by itself, whatever
//! source (zone files, the store, etcd) gives the name its records.
//!
//! Each round asks the publisher which addresses the listed names hold now
//! (so a record added or removed is picked up within one interval), checks
//! them, and tells the publisher every flip as [`Update::Health`]: the same
//! path etcd's health entries take to the table. An address no longer listed
//! is forgotten; if it was DOWN, the publisher is told it is not any more, so
//! that it cannot stay out of the answers of some other name.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::info;

use super::probe::Probe;
use super::stats::{CheckSource, CheckStats};
use super::verdict::Verdict;
use crate::config::HealthSettings;
use crate::pipeline::{PublisherHandle, Update};

/// The checks of `[health.names]`, feeding one publisher.
#[derive(Debug)]
pub struct NameChecks {
    pub(crate) settings: HealthSettings,
    pub(crate) publisher: PublisherHandle,
    pub(crate) probe: Probe,
    pub(crate) stats: Arc<CheckStats>,
}

impl NameChecks {
    /// Checks every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut verdicts: HashMap<IpAddr, Verdict> = HashMap::new();
        let mut ticks = tokio::time::interval(self.settings.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let targets = self.targets().await;
            let mut updates: Vec<Update> = Vec::new();
            verdicts.retain(|ip, verdict| {
                let keep = targets.contains_key(ip);
                if !keep && !verdict.is_up() {
                    updates.push(Update::Health {
                        ip: *ip,
                        down: false,
                    });
                }
                keep
            });
            self.stats
                .retain(CheckSource::Names, |ip| targets.contains_key(ip));
            let outcomes = self.probe.round(targets.into_iter().collect()).await;
            for (ip, outcome) in outcomes {
                let verdict = verdicts.entry(ip).or_insert_with(|| Verdict::new(true));
                let flip = verdict.record(outcome, self.settings.retries);
                self.stats.record(
                    ip,
                    CheckSource::Names,
                    outcome,
                    verdict.is_up(),
                    flip.is_some(),
                );
                if let Some(up) = flip {
                    info!(%ip, status = if up { "UP" } else { "DOWN" }, "health check verdict changed");
                    updates.push(Update::Health { ip, down: !up });
                }
            }
            if !updates.is_empty() {
                self.publisher.apply(updates).await;
            }
        }
    }

    /// The addresses the listed names hold now, each with its ports.
    async fn targets(&self) -> BTreeMap<IpAddr, Vec<u16>> {
        let names = &self.settings.names;
        let defaults = &self.settings.ports;
        self.publisher
            .read(|publisher| {
                let mut targets: BTreeMap<IpAddr, Vec<u16>> = BTreeMap::new();
                for (pattern, ports) in names {
                    let ports = if ports.is_empty() { defaults } else { ports };
                    for ip in publisher.addresses_at(&pattern.name, pattern.below) {
                        let listed = targets.entry(ip).or_default();
                        for port in ports {
                            if !listed.contains(port) {
                                listed.push(*port);
                            }
                        }
                    }
                }
                targets
            })
            .await
    }
}
