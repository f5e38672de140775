//! One load-generating thread: the loop that paces sends, matches replies, gives up
//! lost queries and reports progress, over any [`Channel`] (UDP socket or TCP
//! connection).
//!
//! Each worker owns its channels, their [`Tracker`]s, its [`Pacer`] (its share of
//! `-Q`) and its [`Stats`]; nothing is shared between workers but the read-only
//! query list and a progress channel written once a second. The loop never blocks
//! while it has something to do; when nothing moved it polls the channels for up
//! to a millisecond (or until the pacer's next token).

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::io::{BATCH, QUERY_MAX, wait_readable};
use crate::pacer::Pacer;
use crate::query::{QueryTemplate, reply_header};
use crate::stats::Stats;
use crate::tracker::Tracker;

/// Queries built for one send call.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) bufs: Box<[[u8; QUERY_MAX]; BATCH]>,
    pub(crate) lens: [usize; BATCH],
    pub(crate) count: usize,
}

/// What a receive call saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// The channel is open; this many messages arrived.
    Open(usize),
    /// The peer closed the connection (TCP); the channel has reconnected and the
    /// queries outstanding on it are lost.
    Reset,
}

/// A socket or connection to the server.
pub(crate) trait Channel {
    fn fd(&self) -> BorrowedFd<'_>;
    /// Takes the replies that have arrived, without blocking, calling `reply` with
    /// each message.
    fn receive(&mut self, reply: &mut dyn FnMut(&[u8])) -> io::Result<Received>;
    /// Sends the front of `batch` without blocking; returns how many went (or were
    /// queued to go) out.
    fn send(&mut self, batch: &Batch) -> io::Result<usize>;
}

/// A worker's share of the run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) queries: Arc<Vec<QueryTemplate>>,
    /// Run this long, cycling through the queries; `None`: send each query once.
    pub(crate) duration: Option<Duration>,
    /// This worker's share of `-Q`.
    pub(crate) rate: Option<f64>,
    /// This worker's share of `-q`.
    pub(crate) max_outstanding: usize,
    pub(crate) timeout: Duration,
    /// This worker's index and the number of workers: it sends queries
    /// `first, first + stride, ...` of the list.
    pub(crate) first: usize,
    pub(crate) stride: usize,
}

/// A worker's one-second progress report (the last one covers the rest of the run).
#[derive(Debug)]
pub(crate) struct Tick {
    pub(crate) second: u64,
    pub(crate) stats: Stats,
}

/// The worker's totals and when its last reply (or its last send) happened.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) stats: Stats,
    pub(crate) last_activity: Instant,
}

/// Which query comes next, and when to stop sending.
#[derive(Debug)]
struct Feed {
    next: usize,
    stride: usize,
    len: usize,
    end: Option<Instant>,
}

impl Feed {
    fn done(&self, now: Instant) -> bool {
        match self.end {
            Some(end) => now >= end,
            None => self.next >= self.len,
        }
    }

    fn take(&mut self) -> Option<usize> {
        if self.end.is_none() && self.next >= self.len {
            return None;
        }
        let index = self.next % self.len;
        self.next += self.stride;
        Some(index)
    }
}

/// Runs one worker over `channels` from `start`; sends a [`Tick`] on `progress`
/// after every full second.
pub(crate) fn run<C: Channel>(
    plan: &Plan,
    mut channels: Vec<C>,
    start: Instant,
    progress: &Sender<Tick>,
) -> io::Result<Outcome> {
    let mut rng = fastrand::Rng::new();
    let mut trackers: Vec<Tracker> = channels.iter().map(|_| Tracker::new(&mut rng)).collect();
    let mut feed = Feed {
        next: plan.first,
        stride: plan.stride.max(1),
        len: plan.queries.len(),
        end: plan.duration.map(|d| start + d),
    };
    // A burst of at most one batch: after a stall the client offers less rather
    // than firing hundreds of queries at once into the server's socket buffer.
    let mut pacer = Pacer::new(plan.rate, BATCH, start);
    let mut batch = Batch {
        bufs: Box::new([[0; QUERY_MAX]; BATCH]),
        lens: [0; BATCH],
        count: 0,
    };
    let mut ids = [0u16; BATCH];
    let mut total = Stats::default();
    let mut interval = Stats::default();
    let mut next_tick = start + Duration::from_secs(1);
    let mut second = 1;
    let mut next_expiry = start;
    let mut last_activity = start;
    let mut sending_ended: Option<Instant> = None;

    loop {
        let mut moved = false;
        for (channel, tracker) in channels.iter_mut().zip(&mut trackers) {
            loop {
                let now = Instant::now();
                let mut matched = |message: &[u8]| {
                    if let Some(header) = reply_header(message)
                        && let Some(latency) = tracker.finish(header.id, now)
                    {
                        interval.record_reply(header.rcode, message.len(), latency);
                        last_activity = now;
                    }
                };
                match channel.receive(&mut matched)? {
                    Received::Open(0) => break,
                    Received::Open(n) => {
                        moved = true;
                        if n < BATCH {
                            break;
                        }
                    }
                    Received::Reset => {
                        interval.lost += tracker.abandon();
                        break;
                    }
                }
            }
        }

        let now = Instant::now();
        let outstanding: usize = trackers.iter().map(Tracker::outstanding).sum();
        if feed.done(now) {
            let ended = *sending_ended.get_or_insert(now);
            if outstanding == 0 || now >= ended + plan.timeout {
                break;
            }
        } else {
            let mut room = plan.max_outstanding.saturating_sub(outstanding);
            for (channel, tracker) in channels.iter_mut().zip(&mut trackers) {
                let want = pacer.allowed(now, room.min(BATCH));
                let mut count = 0;
                while count < want {
                    let Some(index) = feed.take() else { break };
                    let Some(id) = tracker.start(now) else { break };
                    batch.lens[count] = plan.queries[index].write(id, &mut batch.bufs[count]);
                    ids[count] = id;
                    count += 1;
                }
                if count == 0 {
                    continue;
                }
                batch.count = count;
                let sent = channel.send(&batch)?;
                for &id in ids[sent..count].iter().rev() {
                    tracker.cancel(id);
                }
                for len in &batch.lens[..sent] {
                    interval.record_sent(*len);
                }
                pacer.spend(sent);
                room = room.saturating_sub(sent);
                if sent > 0 {
                    moved = true;
                    last_activity = last_activity.max(now);
                }
            }
        }

        if now >= next_expiry {
            for tracker in &mut trackers {
                interval.lost += tracker.expire(now, plan.timeout);
            }
            next_expiry = now + Duration::from_millis(10);
        }
        if now >= next_tick {
            total.merge(&interval);
            let _ = progress.send(Tick {
                second,
                stats: std::mem::take(&mut interval),
            });
            second += 1;
            next_tick += Duration::from_secs(1);
        }
        if !moved {
            let fds: Vec<BorrowedFd<'_>> = channels.iter().map(Channel::fd).collect();
            let wait = if feed.done(now) || outstanding >= plan.max_outstanding {
                Duration::from_millis(1)
            } else {
                pacer.wait().min(Duration::from_millis(1))
            };
            wait_readable(&fds, wait)?;
        }
    }
    for tracker in &mut trackers {
        interval.lost += tracker.abandon();
    }
    total.merge(&interval);
    let _ = progress.send(Tick {
        second,
        stats: interval,
    });
    Ok(Outcome {
        stats: total,
        last_activity,
    })
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
        };
        let taken: Vec<usize> = (0..5).filter_map(|_| feed.take()).collect();
        assert_eq!(taken, vec![0, 1, 0, 1, 0]);
        assert!(!feed.done(now));
        assert!(feed.done(now + Duration::from_secs(1)));
    }
}
