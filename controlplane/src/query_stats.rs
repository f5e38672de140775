//! The names the server was asked, merged from every poll loop, the TCP
//! listener's observer and nothing else: the figures of containerdns's stats
//! routes (`/containerdns/stats`, docs/api.md).
//!
//! Each poll loop counts the names it answers in a sketch of its own and hands
//! it over about once a second (`ferrodns_dataplane::observe`); [`QueryStats`]
//! takes what was handed over (every second, and before answering a request)
//! and adds it to its totals: per name the count, the first and the last second
//! it was asked, and the queries and NODATA answers of every loop. Nothing here
//! runs on a poll loop.
//!
//! The totals are bounded: past [`MAX_NAMES`] names the least asked are
//! forgotten (down to three quarters of the bound), so a flood of random names
//! cannot grow them without end; a name asked often stays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::observe::{NameSketch, ObserverHub, QueryObserver};
use tokio::sync::watch;

/// Names the totals hold at most.
pub const MAX_NAMES: usize = 100_000;
/// How often the loops' sketches are merged.
const MERGE_EVERY: Duration = Duration::from_secs(1);

/// An observer shared by the control plane's answerers (the TCP listener and
/// the forwarder), each taking the lock for one query.
pub type SharedObserver = Arc<Mutex<QueryObserver>>;

/// Locks a shared observer (a panic while holding it leaves it usable).
pub fn lock(observer: &SharedObserver) -> std::sync::MutexGuard<'_, QueryObserver> {
    observer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One name's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTotals {
    pub count: u64,
    /// The first and last time it was asked, to the second.
    pub first: SystemTime,
    pub last: SystemTime,
}

/// The totals of every loop, merged.
#[derive(Debug)]
pub struct QueryStats {
    hub: Arc<ObserverHub>,
    /// The control plane's own observer, ticked at each merge so that its
    /// counts are handed over even when it answers nothing more.
    shared: Option<SharedObserver>,
    totals: Mutex<Totals>,
}

#[derive(Debug, Default)]
struct Totals {
    /// Lowered wire name -> (count, first, last in Unix seconds).
    names: HashMap<Box<[u8]>, (u64, u32, u32)>,
    queries: u64,
    nodata: u64,
}

/// The server-wide counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryTotals {
    /// Queries answered or forwarded, over every backend.
    pub queries: u64,
    /// Local answers NOERROR without an answer record.
    pub nodata: u64,
    /// Names known now.
    pub names: usize,
}

impl QueryStats {
    pub fn new(hub: Arc<ObserverHub>, shared: Option<SharedObserver>) -> QueryStats {
        QueryStats {
            hub,
            shared,
            totals: Mutex::new(Totals::default()),
        }
    }

    /// Takes what the loops have handed over into the totals.
    pub fn merge(&self) {
        if let Some(shared) = &self.shared {
            let mut observer = lock(shared);
            if observer.is_on() {
                observer.tick();
            }
        }
        let mut totals = self.lock();
        self.hub.collect(|sketch| totals.add(sketch));
        if totals.names.len() > MAX_NAMES {
            totals.forget_least_asked(MAX_NAMES * 3 / 4);
        }
    }

    /// Merges every second until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(MERGE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => self.merge(),
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// The server-wide counts now.
    pub fn totals(&self) -> QueryTotals {
        self.merge();
        let totals = self.lock();
        QueryTotals {
            queries: totals.queries,
            nodata: totals.nodata,
            names: totals.names.len(),
        }
    }

    /// The `n` most asked names, most asked first (ties by name).
    pub fn top(&self, n: usize) -> Vec<(Name, u64)> {
        self.merge();
        let totals = self.lock();
        let mut all: Vec<(&[u8], u64)> = totals
            .names
            .iter()
            .map(|(name, (count, ..))| (name.as_ref(), *count))
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.into_iter()
            .filter_map(|(wire, count)| Some((Name::from_wire(wire)?, count)))
            .take(n)
            .collect()
    }

    /// The totals of `name`, if it was asked.
    pub fn name(&self, name: &Name) -> Option<NameTotals> {
        self.merge();
        let totals = self.lock();
        let (count, first, last) = *totals.names.get(name.to_lowercase_wire().as_slice())?;
        let at = |secs: u32| UNIX_EPOCH + Duration::from_secs(u64::from(secs));
        Some(NameTotals {
            count,
            first: at(first),
            last: at(last),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Totals {
    fn add(&mut self, sketch: &NameSketch) {
        self.queries += sketch.queries;
        self.nodata += sketch.nodata;
        for entry in sketch.entries() {
            let totals =
                self.names
                    .entry(entry.name.into())
                    .or_insert((0, entry.first, entry.last));
            totals.0 += entry.count;
            totals.1 = totals.1.min(entry.first);
            totals.2 = totals.2.max(entry.last);
        }
    }

    /// Keeps the `keep` most asked names.
    fn forget_least_asked(&mut self, keep: usize) {
        let mut counts: Vec<u64> = self.names.values().map(|(count, ..)| *count).collect();
        let Some(cut) = counts.len().checked_sub(keep) else {
            return;
        };
        // The least count kept: every name below it goes, then as many at
        // it as are still too many.
        let (_, least_kept, _) = counts.select_nth_unstable(cut);
        let least_kept = *least_kept;
        self.names.retain(|_, (count, ..)| *count >= least_kept);
        let mut over = self.names.len().saturating_sub(keep);
        self.names.retain(|_, (count, ..)| {
            let forget = over > 0 && *count == least_kept;
            if forget {
                over -= 1;
            }
            !forget
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_asked_names_are_forgotten_first() {
        let mut totals = Totals::default();
        for i in 0..10u8 {
            totals
                .names
                .insert(vec![1, b'a' + i, 0].into(), (u64::from(i) + 1, 0, 0));
        }
        totals.forget_least_asked(4);
        let mut kept: Vec<u64> = totals.names.values().map(|(c, ..)| *c).collect();
        kept.sort_unstable();
        assert_eq!(kept, [7, 8, 9, 10]);
    }
}
