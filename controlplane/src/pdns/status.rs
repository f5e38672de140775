//! How one remote backend is doing, readable from anywhere without a lock (for
//! `/metrics` and `/readyz`). The poll loop writes; readers load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Gauges and counters of one remote backend.
#[derive(Debug, Default)]
pub struct PdnsStatus {
    /// The connection string, for labels.
    connection: String,
    up: AtomicBool,
    /// Unix time in ms of the last successful poll; 0: never.
    last_success_ms: AtomicU64,
    polls: AtomicU64,
    errors: AtomicU64,
    zones: AtomicU64,
    records: AtomicU64,
    bad_records: AtomicU64,
    outside: AtomicU64,
}

/// What a successful poll held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCounts {
    pub zones: u64,
    pub records: u64,
    pub bad_records: u64,
    pub outside: u64,
}

impl PdnsStatus {
    pub fn new(connection: String) -> Self {
        PdnsStatus {
            connection,
            ..PdnsStatus::default()
        }
    }

    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// True while the last poll succeeded; false (stale: the last data it had is
    /// served) after a failed one.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// When the last poll succeeded; `None` before the first.
    pub fn last_success(&self) -> Option<SystemTime> {
        let ms = self.last_success_ms.load(Ordering::Relaxed);
        (ms != 0).then(|| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Whether a poll ever succeeded: the backend's zones are served.
    pub fn ever_succeeded(&self) -> bool {
        self.last_success().is_some()
    }

    /// Polls done, successful or not.
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Failed polls.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// What the last successful poll held.
    pub fn counts(&self) -> PollCounts {
        PollCounts {
            zones: self.zones.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bad_records: self.bad_records.load(Ordering::Relaxed),
            outside: self.outside.load(Ordering::Relaxed),
        }
    }

    pub(super) fn succeeded(&self, counts: PollCounts) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.zones.store(counts.zones, Ordering::Relaxed);
        self.records.store(counts.records, Ordering::Relaxed);
        self.bad_records
            .store(counts.bad_records, Ordering::Relaxed);
        self.outside.store(counts.outside, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.last_success_ms.store(now.max(1), Ordering::Relaxed);
        self.up.store(true, Ordering::Relaxed);
    }

    pub(super) fn failed(&self) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.up.store(false, Ordering::Relaxed);
    }
}
