//! How the etcd source is doing, readable from anywhere without a lock.
//!
//! The sync loop ([`super::sync`]) writes these atomics; readers (`/metrics`, the
//! logs, tests) only load them. Each field is independent: a reader may see a
//! revision from one moment and a key count from the next, which is fine for
//! gauges. Get one with [`super::EtcdSource::status`].

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Gauges and counters of the etcd source.
#[derive(Debug, Default)]
pub struct EtcdStatus {
    connected: AtomicBool,
    revision: AtomicI64,
    /// Unix time in ms when the table last matched etcd for sure; 0: never.
    synced_at_ms: AtomicU64,
    keys: AtomicU64,
    bad_keys: AtomicU64,
    names: AtomicU64,
    health_up: AtomicU64,
    health_down: AtomicU64,
    full_loads: AtomicU64,
    updates: AtomicU64,
}

impl EtcdStatus {
    /// True while a watch is established: changes in etcd reach the table.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The etcd revision of the newest change applied to the table (of a full
    /// load, or of the latest event); 0 before any.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// How out of date the table may be: zero while connected, otherwise the time
    /// since the table last matched etcd (the disconnect, or the snapshot's age
    /// after a restart); `None` when it never matched etcd (etcd unreachable since
    /// start and no snapshot: the etcd zones are served empty).
    pub fn staleness(&self) -> Option<Duration> {
        if self.connected() {
            return Some(Duration::ZERO);
        }
        let synced = self.synced_at_ms.load(Ordering::Relaxed);
        (synced != 0).then(|| Duration::from_millis(now_ms().saturating_sub(synced)))
    }

    /// Keys that contribute records or health.
    pub fn keys(&self) -> u64 {
        self.keys.load(Ordering::Relaxed)
    }

    /// Keys skipped because their value is bad.
    pub fn bad_keys(&self) -> u64 {
        self.bad_keys.load(Ordering::Relaxed)
    }

    /// Names etcd gives records to.
    pub fn names(&self) -> u64 {
        self.names.load(Ordering::Relaxed)
    }

    /// Backend addresses whose status is UP.
    pub fn health_up(&self) -> u64 {
        self.health_up.load(Ordering::Relaxed)
    }

    /// Backend addresses whose status is anything but UP.
    pub fn health_down(&self) -> u64 {
        self.health_down.load(Ordering::Relaxed)
    }

    /// Full loads (start-up, reconnection after compaction) done so far.
    pub fn full_loads(&self) -> u64 {
        self.full_loads.load(Ordering::Relaxed)
    }

    /// Batches of watch events applied so far.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        let was = self.connected.swap(connected, Ordering::Relaxed);
        if was != connected {
            // Both edges are moments the table matched etcd.
            self.synced_at_ms.store(now_ms(), Ordering::Relaxed);
        }
    }

    pub(crate) fn set_synced_at(&self, at: SystemTime) {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.synced_at_ms.store(ms.max(1), Ordering::Relaxed);
    }

    pub(crate) fn set_revision(&self, revision: i64) {
        self.revision.fetch_max(revision, Ordering::Relaxed);
    }

    pub(crate) fn reset_revision(&self, revision: i64) {
        self.revision.store(revision, Ordering::Relaxed);
    }

    pub(crate) fn set_counts(&self, counts: Counts) {
        self.keys.store(counts.keys, Ordering::Relaxed);
        self.bad_keys.store(counts.bad_keys, Ordering::Relaxed);
        self.names.store(counts.names, Ordering::Relaxed);
        self.health_up.store(counts.health_up, Ordering::Relaxed);
        self.health_down
            .store(counts.health_down, Ordering::Relaxed);
    }

    pub(crate) fn count_full_load(&self) {
        self.full_loads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_update(&self) {
        self.updates.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sizes taken from the records after a change.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) keys: u64,
    pub(crate) bad_keys: u64,
    pub(crate) names: u64,
    pub(crate) health_up: u64,
    pub(crate) health_down: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_follows_the_connection() {
        let status = EtcdStatus::default();
        assert_eq!(status.staleness(), None, "never synced");
        status.set_connected(true);
        assert_eq!(status.staleness(), Some(Duration::ZERO));
        status.set_connected(false);
        assert!(
            status
                .staleness()
                .is_some_and(|d| d < Duration::from_secs(5))
        );
        status.set_synced_at(SystemTime::now() - Duration::from_secs(3600));
        assert!(
            status
                .staleness()
                .is_some_and(|d| d >= Duration::from_secs(3599))
        );
        status.set_revision(7);
        status.set_revision(5);
        assert_eq!(status.revision(), 7, "the revision only moves forward");
    }
}
