//! Reloads (SIGHUP) as `/metrics` sees them: how many succeeded, how many
//! failed, and when the last one ended.
//!
//! Whoever reloads calls [`Reloads::record`] once per reload with its outcome;
//! nothing else is needed. The counts also give the state of the zone files
//! and the store as a record source (`ferrodns_source_*{source="files"}`): up
//! while the last load succeeded, stale while the previous table is served
//! after a failed one.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::SystemTime;

/// The reload counters, shared between the reloader and the telemetry.
#[derive(Debug, Default)]
pub struct Reloads {
    inner: Mutex<ReloadFigures>,
}

/// The reloads so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReloadFigures {
    pub succeeded: u64,
    pub failed: u64,
    /// When the last reload ended, and whether it succeeded.
    pub last: Option<(SystemTime, bool)>,
    /// When the zone files and the store were last read whole (at start, or
    /// by a reload that succeeded).
    pub last_success: Option<SystemTime>,
}

impl Reloads {
    /// Notes that the first load (at start) succeeded: the files' last
    /// success, not a reload.
    pub fn loaded(&self) {
        self.lock().last_success = Some(SystemTime::now());
    }

    /// Notes one reload that ended now, successful or not.
    pub fn record<T, E>(&self, outcome: &Result<T, E>) {
        let now = SystemTime::now();
        let mut figures = self.lock();
        match outcome {
            Ok(_) => {
                figures.succeeded += 1;
                figures.last_success = Some(now);
            }
            Err(_) => figures.failed += 1,
        }
        figures.last = Some((now, outcome.is_ok()));
    }

    /// The figures now.
    pub fn figures(&self) -> ReloadFigures {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReloadFigures> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successes_and_failures_are_counted_with_the_last_outcome() {
        let reloads = Reloads::default();
        reloads.loaded();
        let loaded = reloads.figures().last_success;
        assert!(loaded.is_some() && reloads.figures().last.is_none());
        reloads.record(&Ok::<(), ()>(()));
        reloads.record(&Err::<(), _>("bad line"));
        let figures = reloads.figures();
        assert_eq!((figures.succeeded, figures.failed), (1, 1));
        assert_eq!(figures.last.map(|(_, ok)| ok), Some(false));
        assert!(figures.last_success >= loaded);
    }
}
