//! One load-generating loop: it paces sends, matches replies, gives up lost
//! queries and reports progress, over any [`Transport`]: kernel sockets
//! ([`crate::sockets`]) on a thread, or a DPDK queue on an lcore
//! ([`crate::bypass`]).
//!
//! A transport has *flows* (UDP sockets, TCP connections, or DPDK source ports),
//! each with its own 16-bit ID space and its own [`Tracker`]. Each worker owns
//! its transport, its trackers, its [`Pacer`] (its share of `-Q`) and its
//! [`Stats`]; nothing is shared between workers but the read-only query list and
//! a progress channel written once per interval. The loop never blocks while it
//! has something to do; when nothing moved it lets the transport wait (a `poll`
//! of the sockets for up to a millisecond or until the pacer's next token; a
//! DPDK lcore spins).
//!
//! With `-q` the number of queries outstanding is capped (a closed loop: a slow
//! server slows the sending); without it (DPDK mode's default) only `-Q` and the
//! ID space (65,536 per flow) pace the run, an open loop. With `--drop-answers`
//! nothing is tracked: IDs come from a counter and replies are not read, which
//! measures the sending alone.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::pacer::Pacer;
use crate::query::{QueryTemplate, RCODE_NAMES, reply_header};
use crate::sockets::Connection;
use crate::stats::Stats;
use crate::status::Console;
use crate::tracker::{Timestamp, Tracker};

/// Most queries handed to one send call, and the pacer's burst.
pub(crate) const BATCH: usize = 64;
/// How often lost queries are looked for.
const EXPIRY_INTERVAL: Duration = Duration::from_millis(10);
/// Longest idle wait, so that expiry and progress keep their pace.
const MAX_IDLE: Duration = Duration::from_millis(1);

/// A query to send: its ID and its index in the query list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub(crate) id: u16,
    pub(crate) query: u32,
}

/// Something a transport received.
#[derive(Debug)]
pub(crate) enum Arrival<'a, S> {
    /// A DNS message on `flow`, received at `at`.
    Reply {
        flow: usize,
        message: &'a [u8],
        at: S,
    },
    /// The flow's connection was closed by the server and opened again (TCP):
    /// what was outstanding on it is lost.
    Reset { flow: usize },
    /// A connection was made (TCP).
    Connected(Connection),
}

/// The way a worker's queries go out and its replies come back.
pub(crate) trait Transport {
    /// The clock sends and replies are stamped with.
    type Stamp: Timestamp;
    /// How many flows (each with its own ID space) the transport has.
    fn flows(&self) -> usize;
    /// The time now, on the stamps' clock.
    fn now(&self) -> Self::Stamp;
    /// Takes what has arrived, without blocking, calling `arrival` with each
    /// reply or reset; returns how many messages moved.
    fn receive(&mut self, arrival: &mut dyn FnMut(Arrival<'_, Self::Stamp>)) -> io::Result<usize>;
    /// Sends the front of `queries` on `flow`, without blocking; returns how many
    /// went (or were queued to go) out.
    fn send(&mut self, flow: usize, queries: &[Outgoing]) -> io::Result<usize>;
    /// Nothing moved: waits for something to arrive, at most `timeout`.
    fn idle(&mut self, timeout: Duration) -> io::Result<()>;
    /// Most queries to send between two looks at what arrived: a batch per
    /// flow by default (a system call each), one burst for a port whose
    /// receive ring must be drained as often as it is filled.
    fn sends_per_pass(&self) -> usize {
        BATCH * self.flows()
    }
}

/// A worker's share of the run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) queries: Arc<Vec<QueryTemplate>>,
    /// Run this long, cycling through the queries.
    pub(crate) duration: Option<Duration>,
    /// Go through the query list at most this many times (`-n`); once when
    /// neither this nor a duration is given.
    pub(crate) runs: Option<u64>,
    /// This worker's share of `-Q`.
    pub(crate) rate: Option<f64>,
    /// This worker's share of `-q`; `None`: an open loop.
    pub(crate) max_outstanding: Option<usize>,
    pub(crate) timeout: Duration,
    /// This worker's index and the number of workers: it sends queries
    /// `first, first + stride, ...` of the list.
    pub(crate) first: usize,
    pub(crate) stride: usize,
    /// How often progress is reported (`-S`, one second by default).
    pub(crate) interval: Duration,
    /// Track queries and read replies; `false` with `--drop-answers`.
    pub(crate) track: bool,
    /// With `-v`: each query's `name type`, to report every reply and loss.
    pub(crate) verbose: Option<Arc<Vec<String>>>,
    pub(crate) console: Console,
}

/// What a worker tells the progress printer.
#[derive(Debug)]
pub(crate) enum Progress {
    /// The counts of interval number `interval` (from 1) of worker `worker`.
    Tick {
        worker: usize,
        interval: u64,
        stats: Box<Stats>,
    },
    /// Worker `worker` stopped sending: it reports no further interval.
    Done { worker: usize },
}

/// Why a worker stopped sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// `-l` ran out.
    TimeLimit,
    /// The query list was sent as many times as asked (`-n`, or once).
    EndOfFile,
}

/// The worker's totals, why it stopped, and when its last reply (or its last
/// send) happened.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) stats: Stats,
    pub(crate) ended: Ended,
    pub(crate) last_activity: Instant,
}

/// Which query comes next, and when to stop sending.
#[derive(Debug)]
struct Feed {
    next: usize,
    stride: usize,
    len: usize,
    end: Option<Instant>,
    /// The index (over repeated passes) at which to stop.
    limit: Option<usize>,
}

impl Feed {
    fn new(plan: &Plan, start: Instant) -> Feed {
        let len = plan.queries.len();
        let passes = match (plan.duration, plan.runs) {
            (_, Some(runs)) => Some(runs),
            (None, None) => Some(1),
            (Some(_), None) => None,
        };
        Feed {
            next: plan.first,
            stride: plan.stride.max(1),
            len,
            end: plan.duration.map(|d| start + d),
            limit: passes.map(|p| usize::try_from(p).unwrap_or(usize::MAX).saturating_mul(len)),
        }
    }

    fn exhausted(&self) -> bool {
        self.limit.is_some_and(|limit| self.next >= limit)
    }

    fn done(&self, now: Instant) -> bool {
        self.exhausted() || self.end.is_some_and(|end| now >= end)
    }

    fn take(&mut self) -> Option<usize> {
        if self.exhausted() || self.len == 0 {
            return None;
        }
        let index = self.next % self.len;
        self.next += self.stride;
        Some(index)
    }

    /// Takes back the last `count` queries taken, which were not sent.
    fn give_back(&mut self, count: usize) {
        self.next -= count * self.stride;
    }
}

/// Runs worker number `worker` over `transport` from `start`; reports progress
/// on `progress` after every interval and when it stops.
pub(crate) fn run<T: Transport>(
    plan: &Plan,
    transport: &mut T,
    worker: usize,
    start: Instant,
    progress: &Sender<Progress>,
) -> io::Result<Outcome> {
    let mut rng = fastrand::Rng::new();
    let flows = transport.flows();
    let mut trackers: Vec<Tracker<T::Stamp>> = if plan.track {
        (0..flows).map(|_| Tracker::new(&mut rng)).collect()
    } else {
        Vec::new()
    };
    let mut feed = Feed::new(plan, start);
    // A burst of at most one batch: after a stall the client offers less rather
    // than firing hundreds of queries at once into the server's socket buffer.
    let mut pacer = Pacer::new(plan.rate, BATCH, start);
    let mut outgoing = [Outgoing::default(); BATCH];
    let mut next_id = rng.u16(..);
    let mut total = Stats::default();
    let mut interval = Stats::default();
    let mut next_tick = start + plan.interval;
    let mut tick = 1;
    let mut next_expiry = start;
    let mut last_activity = start;
    let mut sending_ended: Option<Instant> = None;
    let mut first_flow = 0;
    let mut lost = |query: u32| report_lost(plan, query);

    loop {
        let mut matched = false;
        let moved = transport.receive(&mut |arrival| match arrival {
            Arrival::Reply { flow, message, at } => {
                let Some(tracker) = trackers.get_mut(flow) else {
                    return;
                };
                let answered = reply_header(message).and_then(|header| {
                    let query = tracker.query(header.id)?;
                    let template = plan.queries.get(query as usize)?;
                    template.answered_by(message).then_some((header, query))
                });
                match answered.and_then(|(h, q)| Some((h, q, tracker.finish(h.id, at)?))) {
                    Some((header, query, latency)) => {
                        interval.record_reply(header.rcode, message.len(), latency);
                        report_reply(plan, query, header.rcode, latency);
                        matched = true;
                    }
                    None => interval.unexpected += 1,
                }
            }
            Arrival::Reset { flow } => {
                if let Some(tracker) = trackers.get_mut(flow) {
                    interval.lost += tracker.abandon(&mut lost);
                }
            }
            Arrival::Connected(connection) => interval.connections.record(connection),
        })? > 0;
        let now = Instant::now();
        if matched {
            last_activity = now;
        }
        // Before the end of the sending is looked at, so the last whole interval
        // is reported too.
        if now >= next_tick {
            total.merge(&interval);
            let _ = progress.send(Progress::Tick {
                worker,
                interval: tick,
                stats: Box::new(std::mem::take(&mut interval)),
            });
            tick += 1;
            next_tick += plan.interval;
        }
        let mut sent_any = false;

        let outstanding: usize = trackers.iter().map(Tracker::outstanding).sum();
        if feed.done(now) {
            let ended = *sending_ended.get_or_insert(now);
            if outstanding == 0 || now >= ended + plan.timeout {
                break;
            }
        } else {
            let mut room = plan
                .max_outstanding
                .map_or(usize::MAX, |max| max.saturating_sub(outstanding))
                .min(transport.sends_per_pass());
            // Each pass starts with the next flow, so that a pass of fewer
            // batches than flows still spreads the queries over all of them.
            first_flow = (first_flow + 1) % flows.max(1);
            for flow in (first_flow..flows).chain(0..first_flow) {
                let want = pacer.allowed(now, room.min(BATCH));
                if want == 0 {
                    break;
                }
                let stamp = transport.now();
                let mut count = 0;
                while count < want {
                    let (id, query) = match trackers.get_mut(flow) {
                        Some(tracker) if !tracker.has_room() => break,
                        Some(tracker) => {
                            let Some(query) = feed.take() else { break };
                            match tracker.start(stamp, query as u32) {
                                Some(id) => (id, query),
                                None => break,
                            }
                        }
                        None => {
                            let Some(query) = feed.take() else { break };
                            next_id = next_id.wrapping_add(1);
                            (next_id, query)
                        }
                    };
                    outgoing[count] = Outgoing {
                        id,
                        query: query as u32,
                    };
                    count += 1;
                }
                if count == 0 {
                    continue;
                }
                let sent = transport.send(flow, &outgoing[..count])?.min(count);
                if let Some(tracker) = trackers.get_mut(flow) {
                    for unsent in outgoing[sent..count].iter().rev() {
                        tracker.cancel(unsent.id);
                    }
                }
                feed.give_back(count - sent);
                for query in &outgoing[..sent] {
                    interval.record_sent(plan.queries[query.query as usize].len());
                }
                pacer.spend(sent);
                room = room.saturating_sub(sent);
                sent_any |= sent > 0;
            }
            if sent_any {
                last_activity = last_activity.max(now);
            }
        }

        if now >= next_expiry {
            let stamp = transport.now();
            for tracker in &mut trackers {
                interval.lost += tracker.expire(stamp, plan.timeout, &mut lost);
            }
            next_expiry = now + EXPIRY_INTERVAL;
        }
        if !moved && !sent_any {
            let full = plan.max_outstanding.is_some_and(|max| outstanding >= max);
            let wait = if feed.done(now) || full {
                MAX_IDLE
            } else {
                pacer.wait().min(MAX_IDLE)
            };
            transport.idle(wait)?;
        }
    }
    // The last part of an interval and the wait for the last replies are in the
    // totals, not in a progress line of their own.
    let _ = progress.send(Progress::Done { worker });
    for tracker in &mut trackers {
        interval.lost += tracker.abandon(&mut lost);
    }
    total.merge(&interval);
    Ok(Outcome {
        stats: total,
        ended: if feed.exhausted() {
            Ended::EndOfFile
        } else {
            Ended::TimeLimit
        },
        last_activity,
    })
}

/// `-v`: one line per answered query, as dnsperf prints it.
fn report_reply(plan: &Plan, query: u32, rcode: u8, latency: Duration) {
    if let Some(texts) = &plan.verbose {
        let text = texts.get(query as usize).map_or("?", String::as_str);
        let rcode = RCODE_NAMES[usize::from(rcode & 0x0f)];
        plan.console
            .verbose(&format!("> {rcode} {text} {:.6}", latency.as_secs_f64()));
    }
}

/// `-v`: one line per lost query, as dnsperf prints it.
fn report_lost(plan: &Plan, query: u32) {
    if let Some(texts) = &plan.verbose {
        let text = texts.get(query as usize).map_or("?", String::as_str);
        plan.console.verbose(&format!("> T {text}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_without_duration_sends_its_share_once() {
        let mut feed = Feed {
            next: 1,
            stride: 2,
            len: 5,
            end: None,
            limit: Some(5),
        };
        let taken: Vec<usize> = std::iter::from_fn(|| feed.take()).collect();
        assert_eq!(taken, vec![1, 3]);
        assert!(feed.done(Instant::now()));
    }

    #[test]
    fn a_timed_feed_cycles_until_its_end() {
        let now = Instant::now();
        let mut feed = Feed {
            next: 0,
            stride: 1,
            len: 2,
            end: Some(now + Duration::from_secs(1)),
            limit: None,
        };
        let taken: Vec<usize> = (0..5).filter_map(|_| feed.take()).collect();
        assert_eq!(taken, vec![0, 1, 0, 1, 0]);
        assert!(!feed.done(now));
        assert!(feed.done(now + Duration::from_secs(1)));
    }

    #[test]
    fn n_passes_over_the_file_and_unsent_queries_come_back() {
        let mut feed = Feed {
            next: 0,
            stride: 1,
            len: 3,
            end: Some(Instant::now() + Duration::from_secs(60)),
            limit: Some(6),
        };
        let first: Vec<usize> = (0..4).filter_map(|_| feed.take()).collect();
        assert_eq!(first, vec![0, 1, 2, 0]);
        feed.give_back(2);
        let rest: Vec<usize> = std::iter::from_fn(|| feed.take()).collect();
        assert_eq!(
            rest,
            vec![2, 0, 1, 2],
            "the two not sent, then the second pass"
        );
        assert!(feed.exhausted(), "-n ends the run before -l");
    }
}
