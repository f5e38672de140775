//! What every worker of a run shares, whatever carries its queries, and how
//! the workers' outcomes become the run's result.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime};

use crate::progress::{self, Style};
use crate::query::QueryTemplate;
use crate::stats::Stats;
use crate::status::{self, Console};
use crate::worker::{Ended, Outcome, Plan, Progress};

/// The run as the flags describe it.
#[derive(Debug, Clone)]
pub(crate) struct RunSpec {
    pub(crate) queries: Arc<Vec<QueryTemplate>>,
    /// With `-v`: each query's `name type`.
    pub(crate) texts: Option<Arc<Vec<String>>>,
    pub(crate) duration: Option<Duration>,
    pub(crate) runs: Option<u64>,
    /// `-Q`, in all.
    pub(crate) rate: Option<f64>,
    /// `-q`, in all; `None`: an open loop.
    pub(crate) max_outstanding: Option<usize>,
    pub(crate) timeout: Duration,
    /// Progress every this long, in this style.
    pub(crate) interval: Duration,
    pub(crate) style: Style,
    /// Track queries and read replies (not with `--drop-answers`).
    pub(crate) track: bool,
    pub(crate) console: Console,
}

/// The result of a run.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) stats: Stats,
    pub(crate) run_time: Duration,
    pub(crate) ended: Ended,
}

impl RunSpec {
    /// Worker `worker`'s share of the run, out of `workers`.
    pub(crate) fn plan(&self, worker: usize, workers: usize) -> Plan {
        Plan {
            queries: Arc::clone(&self.queries),
            duration: self.duration,
            runs: self.runs,
            rate: self.rate.map(|r| r / workers as f64),
            max_outstanding: self
                .max_outstanding
                .map(|max| share(max, workers, worker).max(1)),
            timeout: self.timeout,
            first: worker,
            stride: workers,
            interval: self.interval,
            track: self.track,
            verbose: self.texts.clone(),
            console: self.console,
        }
    }

    /// The `[Status]` lines before the first query: where the queries go, when
    /// the run started and when it will stop.
    pub(crate) fn announce(&self, target: &str) {
        let console = self.console;
        console.status(&format!("Sending queries (to {target})"));
        console.status(&format!("Started at: {}", status::ctime(SystemTime::now())));
        console.status(&status::stopping_after(
            self.duration.map(|d| d.as_secs_f64()),
            self.runs,
        ));
    }

    /// Prints progress until all `workers` are done.
    pub(crate) fn print_progress(
        &self,
        reports: &Receiver<Progress>,
        workers: usize,
        start: Instant,
    ) {
        progress::print(
            reports,
            workers,
            start,
            self.interval,
            self.style,
            self.console,
        );
    }

    /// The run's result from its workers' outcomes.
    pub(crate) fn finish(&self, outcomes: Vec<Outcome>, start: Instant) -> Finished {
        let mut stats = Stats::default();
        let mut last_activity = start;
        let mut ended = Ended::EndOfFile;
        for outcome in outcomes {
            stats.merge(&outcome.stats);
            last_activity = last_activity.max(outcome.last_activity);
            if outcome.ended == Ended::TimeLimit {
                ended = Ended::TimeLimit;
            }
        }
        let active = last_activity - start;
        let run_time = match (ended, self.duration) {
            (Ended::TimeLimit, Some(limit)) => limit.max(active),
            _ => active,
        };
        Finished {
            stats,
            run_time,
            ended,
        }
    }
}

/// Part `index` of `total` split over `parts` as evenly as possible.
pub(crate) fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        let parts: Vec<usize> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, vec![4, 3, 3]);
        assert_eq!((0..4).map(|i| share(2, 4, i)).sum::<usize>(), 2);
    }
}
