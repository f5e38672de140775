//! Progress during a run: one line per interval, once every worker has
//! reported that interval.
//!
//! By default the line is queryperf's own (answers per second, queries sent,
//! loss, p99) on standard error, every second. With `-S N` it is dnsperf's
//! (`<unix time>: <answers per second>`) on standard output, every N seconds.
//! Only whole intervals of the sending are printed: the part of the last one
//! and the wait for the last replies after the sending stopped are in the
//! summary only (a line for them would show the stragglers and the queries
//! given up at the end as one more "second" of the run, with a made-up rate).

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime};

use crate::stats::Stats;
use crate::status::Console;
use crate::worker::Progress;

/// Which line to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// queryperf's line, on standard error.
    Queryperf,
    /// dnsperf's `-S` line, on the console.
    Dnsperf,
}

/// The intervals reported so far and which workers are done.
#[derive(Debug)]
struct Pending {
    /// Per interval: its counts so far.
    intervals: BTreeMap<u64, Stats>,
    /// Per worker: the last interval it reported, and whether it stopped.
    reported: Vec<u64>,
    done: Vec<bool>,
}

impl Pending {
    fn new(workers: usize) -> Pending {
        Pending {
            intervals: BTreeMap::new(),
            reported: vec![0; workers],
            done: vec![false; workers],
        }
    }

    /// Takes in one report.
    fn add(&mut self, progress: Progress) {
        match progress {
            Progress::Tick {
                worker,
                interval,
                stats,
            } => {
                self.intervals.entry(interval).or_default().merge(&stats);
                if let Some(last) = self.reported.get_mut(worker) {
                    *last = interval;
                }
            }
            Progress::Done { worker } => {
                if let Some(done) = self.done.get_mut(worker) {
                    *done = true;
                }
            }
        }
    }

    /// The first interval every worker has reported or will never report, with
    /// its counts.
    fn next_complete(&mut self) -> Option<(u64, Stats)> {
        let (&interval, _) = self.intervals.first_key_value()?;
        let complete = self
            .reported
            .iter()
            .zip(&self.done)
            .all(|(&last, &done)| done || last >= interval);
        if complete {
            self.intervals.pop_first()
        } else {
            None
        }
    }
}

/// Prints the intervals as `workers` workers report them, from `start`, every
/// `every`; returns when every worker is done (the channel closed).
pub(crate) fn print(
    reports: &Receiver<Progress>,
    workers: usize,
    start: Instant,
    every: Duration,
    style: Style,
    console: Console,
) {
    let started = SystemTime::now() - start.elapsed();
    let mut pending = Pending::new(workers);
    for report in reports {
        pending.add(report);
        while let Some((interval, stats)) = pending.next_complete() {
            let offset = every.saturating_mul(u32::try_from(interval).unwrap_or(u32::MAX));
            match style {
                Style::Queryperf => {
                    eprintln!("{}", stats.progress_line(offset.as_secs(), every));
                }
                Style::Dnsperf => {
                    let end = (started + offset)
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default();
                    console.line(&stats.interval_line(end, every));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(worker: usize, interval: u64, completed: u64) -> Progress {
        Progress::Tick {
            worker,
            interval,
            stats: Box::new(Stats {
                completed,
                ..Stats::default()
            }),
        }
    }

    #[test]
    fn an_interval_is_complete_once_every_worker_reported_it() {
        let mut pending = Pending::new(2);
        pending.add(tick(0, 1, 10));
        assert!(pending.next_complete().is_none(), "worker 1 is behind");
        pending.add(tick(1, 1, 5));
        let (interval, stats) = pending.next_complete().unwrap();
        assert_eq!((interval, stats.completed), (1, 15));
        assert!(pending.next_complete().is_none());
    }

    #[test]
    fn a_finished_worker_does_not_hold_back_the_others() {
        let mut pending = Pending::new(2);
        pending.add(tick(0, 1, 10));
        pending.add(Progress::Done { worker: 1 });
        pending.add(tick(0, 2, 20));
        let lines: Vec<(u64, u64)> = std::iter::from_fn(|| pending.next_complete())
            .map(|(i, s)| (i, s.completed))
            .collect();
        assert_eq!(lines, [(1, 10), (2, 20)]);
    }

    #[test]
    fn nothing_is_printed_for_the_time_after_the_sending() {
        // A worker reports its whole intervals, then only that it is done: the
        // stragglers and the queries given up at the end make no line.
        let mut pending = Pending::new(1);
        pending.add(tick(0, 1, 10));
        pending.add(Progress::Done { worker: 0 });
        assert_eq!(pending.next_complete().map(|(i, _)| i), Some(1));
        assert!(pending.next_complete().is_none());
    }
}
