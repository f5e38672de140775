//! What this process's checks found, for `/metrics`, `/v1/health` and
//! `ferroctl health list`.
//!
//! Each checked address keeps its counters while this process checks it; an
//! address that leaves this checker (another checker owns it now, or it is no
//! longer listed) leaves the figures too. Updates take a short lock once per
//! check result; scrapes copy the figures under it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::verdict::Outcome;
use crate::telemetry::{Families, Labels, label, unix_seconds};

/// Which set an address is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckSource {
    /// Listed under etcd's health prefix, shared with the other checkers.
    Etcd,
    /// An address of a name `[health.names]` lists, checked by this appliance.
    Names,
}

impl CheckSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckSource::Etcd => "etcd",
            CheckSource::Names => "names",
        }
    }
}

/// One checked address's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetFigures {
    pub source: CheckSource,
    /// The current verdict.
    pub up: bool,
    /// Checks made, and those that failed.
    pub checks: u64,
    pub failures: u64,
    /// Verdict changes, and when the last one happened.
    pub flips: u64,
    pub last_flip: Option<SystemTime>,
    pub last_check: Option<SystemTime>,
}

/// The figures of every address this process checks.
#[derive(Debug)]
pub struct CheckStats {
    /// This checker's name, as other processes see it.
    checker: String,
    targets: Mutex<BTreeMap<IpAddr, TargetFigures>>,
}

impl CheckStats {
    pub fn new(checker: String) -> CheckStats {
        CheckStats {
            checker,
            targets: Mutex::new(BTreeMap::new()),
        }
    }

    /// This checker's name.
    pub fn checker(&self) -> &str {
        &self.checker
    }

    /// Notes one check of `ip`: its outcome, the verdict after it, and whether
    /// the verdict flipped.
    pub(crate) fn record(
        &self,
        ip: IpAddr,
        source: CheckSource,
        outcome: Outcome,
        up: bool,
        flipped: bool,
    ) {
        let now = SystemTime::now();
        let mut targets = self.lock();
        let figures = targets.entry(ip).or_insert(TargetFigures {
            source,
            up,
            checks: 0,
            failures: 0,
            flips: 0,
            last_flip: None,
            last_check: None,
        });
        figures.source = source;
        figures.up = up;
        if outcome != Outcome::Unknown {
            figures.checks += 1;
            figures.last_check = Some(now);
        }
        if outcome == Outcome::Failed {
            figures.failures += 1;
        }
        if flipped {
            figures.flips += 1;
            figures.last_flip = Some(now);
        }
    }

    /// Drops the addresses of `source` that `keep` rejects.
    pub(crate) fn retain(&self, source: CheckSource, keep: impl Fn(&IpAddr) -> bool) {
        self.lock()
            .retain(|ip, figures| figures.source != source || keep(ip));
    }

    /// Every checked address's figures, in address order.
    pub fn snapshot(&self) -> Vec<(IpAddr, TargetFigures)> {
        self.lock()
            .iter()
            .map(|(ip, figures)| (*ip, figures.clone()))
            .collect()
    }

    /// The `/metrics` block of the checker (Prometheus text format 0.0.4),
    /// for `ferrodns health-check --metrics`.
    pub fn to_prometheus(&self) -> String {
        crate::telemetry::render_collector(Snapshot {
            checker: self.checker.clone(),
            targets: self.snapshot(),
        })
    }

    /// The checker's families, written into a scrape.
    pub(crate) fn families(&self, out: &mut Families<'_>) -> fmt::Result {
        Snapshot {
            checker: self.checker.clone(),
            targets: self.snapshot(),
        }
        .families(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<IpAddr, TargetFigures>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The checker's figures at one scrape.
#[derive(Debug)]
struct Snapshot {
    checker: String,
    targets: Vec<(IpAddr, TargetFigures)>,
}

/// One sample per checked address, labelled `target`, `source`, `checker`.
type PerTarget = fn(&TargetFigures) -> Option<f64>;

impl Snapshot {
    fn families(&self, out: &mut Families<'_>) -> fmt::Result {
        let labels = |ip: &IpAddr, figures: &TargetFigures| -> Labels {
            let mut labels = label("target", ip);
            labels.push(("source", figures.source.as_str().to_owned()));
            labels.push(("checker", self.checker.clone()));
            labels
        };
        let per_target = |value: fn(&TargetFigures) -> u64| {
            self.targets
                .iter()
                .map(move |(ip, figures)| (labels(ip, figures), value(figures)))
        };
        out.counter(
            "ferrodns_health_checks_total",
            "Checks this process made of an address (connects or echoes that gave an answer or timed out).",
            per_target(|f| f.checks),
        )?;
        out.counter(
            "ferrodns_health_check_failures_total",
            "Checks of an address that failed (refused, unreachable, timed out).",
            per_target(|f| f.failures),
        )?;
        out.counter(
            "ferrodns_health_flips_total",
            "Times this process changed an address's verdict between UP and DOWN.",
            per_target(|f| f.flips),
        )?;
        let last_flip: PerTarget = |f| f.last_flip.map(unix_seconds);
        out.gauge(
            "ferrodns_health_last_flip_timestamp_seconds",
            "Unix time of the last verdict change of an address.",
            self.targets
                .iter()
                .filter_map(|(ip, figures)| last_flip(figures).map(|at| (labels(ip, figures), at))),
        )?;
        out.gauge(
            "ferrodns_health_check_up",
            "1 while this process finds an address UP, 0 while DOWN.",
            per_target(|f| u64::from(f.up)),
        )?;
        out.gauge(
            "ferrodns_health_checked_targets",
            "Addresses this process checks.",
            [(label("checker", &self.checker), self.targets.len() as u64)],
        )
    }
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> fmt::Result {
        self.families(&mut Families::new(encoder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_checks_failures_and_flips() {
        let stats = CheckStats::new("node-1".into());
        let ip: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        stats.record(ip, CheckSource::Etcd, Outcome::Passed, true, false);
        stats.record(ip, CheckSource::Etcd, Outcome::Failed, false, true);
        stats.record(ip, CheckSource::Etcd, Outcome::Unknown, false, false);
        let (_, figures) = stats.snapshot().remove(0);
        assert_eq!((figures.checks, figures.failures, figures.flips), (2, 1, 1));
        assert!(!figures.up && figures.last_flip.is_some());
        let text = stats.to_prometheus();
        assert!(
            text.contains(
                "ferrodns_health_checks_total{target=\"10.0.0.1\",source=\"etcd\",checker=\"node-1\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "ferrodns_health_check_up{target=\"10.0.0.1\",source=\"etcd\",checker=\"node-1\"} 0"
        ));
        assert!(text.contains("ferrodns_health_checked_targets{checker=\"node-1\"} 1"));
        stats.retain(CheckSource::Names, |_| false);
        assert_eq!(stats.snapshot().len(), 1, "another source's addresses stay");
        stats.retain(CheckSource::Etcd, |_| false);
        assert!(stats.snapshot().is_empty());
    }
}
