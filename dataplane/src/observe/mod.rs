//! Watching the queries a poll loop answers, for the query log (dnstap) and
//! the counts of the names asked (containerdns's stats), without making the
//! loop wait or write anything another core reads per query.
//!
//! Every place that answers queries (a kernel-socket worker, a DPDK lcore, the
//! TCP listener) holds one [`QueryObserver`] and tells it about each query in
//! two steps around the engine:
//!
//! ```text
//!   let sampled = observer.before(query);           // before the answer overwrites it
//!   let verdict = engine.respond(...);
//!   observer.after(sampled, || Exchange::of_verdict(client, transport, buf, len, verdict));
//! ```
//!
//! - `before` decides whether this exchange goes to the query log (one in
//!   `sample`, by a countdown) and, if queries are logged, copies the query
//!   into the observer's pending entry: the answer is about to be written over
//!   it.
//! - `after` counts the query and its name (from the answer's question, which
//!   echoes the query's, or from the untouched query when it was punted) in
//!   the loop's [`NameSketch`], and queues the sampled entries (the query, and
//!   the answer when responses are logged) on the loop's bounded lock-free
//!   queue. A full queue drops the entry and counts it: the loop never waits
//!   for the log's writer.
//! - Once per batch ([`QueryObserver::batch`]) the observer reads the clock
//!   (one read per batch, not per query) and, about once a second, hands its
//!   sketch to the control plane and counts into a fresh one: the two sketches
//!   of a loop go round between it and the control plane through two small
//!   queues, so nothing is allocated and the loop never blocks (if the control
//!   plane has not given the other sketch back yet, the loop keeps counting in
//!   the one it has). An idle loop calls [`QueryObserver::tick`] when it wakes
//!   without work, so its last counts do not stay behind.
//!
//! The control plane makes one [`ObserverHub`] and asks it for an observer per
//! loop ([`ObserverHub::observer`]); the hub keeps the other end of each loop's
//! queues, from which the control plane drains log entries
//! ([`ObserverHub::drain_log`]) and merges sketches ([`ObserverHub::collect`]).
//! An observer from [`QueryObserver::off`] does nothing, at the cost of one
//! predictable branch per call.

mod names;
mod tap;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_queue::ArrayQueue;

pub use names::{NAME_SETS, NAME_SLOTS, NAME_WAYS, NameCount, NameSketch};
use names::{hash_lowered, question_name};
use tap::Sampler;
pub use tap::{TAP_MAX_MESSAGE, TapEntry, TapKind, TapTime};

use crate::engine::{Transport, Verdict};
use crate::wire::{HEADER_LEN, read_u16};

/// How often a loop hands its name counts to the control plane, in seconds.
const HANDOVER_SECONDS: u64 = 1;

/// What to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserverConfig {
    /// Count the names asked (containerdns's stats).
    pub names: bool,
    /// The query log; `None`: off.
    pub log: Option<LogConfig>,
}

/// What the query log takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// One exchange in `sample` is logged (1: all).
    pub sample: u32,
    pub queries: bool,
    pub responses: bool,
    /// Entries each loop may have waiting for the writer.
    pub queue: usize,
}

/// What a loop shares with the control plane; written by the loop alone (the
/// drop counters) or through lock-free queues.
///
/// Log entries go round like the sketches: `queue` of them are made at start
/// and wait in `free`; the loop fills one, pushes it on `log` and takes the
/// next from `free`; the writer gives each back once written. So queueing an
/// entry moves a pointer, never the entry's bytes.
#[repr(align(128))]
struct LoopEnds {
    /// Log entries waiting for the writer, and those it gave back.
    log: Option<ArrayQueue<Box<TapEntry>>>,
    free: Option<ArrayQueue<Box<TapEntry>>>,
    /// Sketches handed to the control plane, and given back cleared.
    full: ArrayQueue<Box<NameSketch>>,
    empty: ArrayQueue<Box<NameSketch>>,
    /// Log entries dropped: the queue was full, or the message too long.
    queue_full: AtomicU64,
    too_long: AtomicU64,
}

impl std::fmt::Debug for LoopEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopEnds")
            .field("queue_full", &self.queue_full)
            .field("too_long", &self.too_long)
            .finish_non_exhaustive()
    }
}

/// The control plane's end of every loop's observer.
#[derive(Debug)]
pub struct ObserverHub {
    config: ObserverConfig,
    loops: Mutex<Vec<Arc<LoopEnds>>>,
}

/// Log entries dropped before the writer saw them, over every loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogDrops {
    /// The loop's queue was full: the writer is behind.
    pub queue_full: u64,
    /// The message was longer than [`TAP_MAX_MESSAGE`].
    pub too_long: u64,
}

impl ObserverHub {
    pub fn new(config: ObserverConfig) -> Arc<ObserverHub> {
        Arc::new(ObserverHub {
            config,
            loops: Mutex::new(Vec::new()),
        })
    }

    pub fn config(&self) -> ObserverConfig {
        self.config
    }

    /// A new loop's observer (allocates its sketches and queue: call it at
    /// start, not per query).
    pub fn observer(&self) -> QueryObserver {
        let config = self.config;
        if !config.names && config.log.is_none() {
            return QueryObserver::off();
        }
        let entries = |log: LogConfig| {
            let free = ArrayQueue::new(log.queue.max(1));
            while free.push(Box::default()).is_ok() {}
            free
        };
        let ends = Arc::new(LoopEnds {
            log: config.log.map(|log| ArrayQueue::new(log.queue.max(1))),
            free: config.log.map(entries),
            full: ArrayQueue::new(1),
            empty: ArrayQueue::new(1),
            queue_full: AtomicU64::new(0),
            too_long: AtomicU64::new(0),
        });
        if config.names {
            // Two sketches per loop: one counting, one with the control plane.
            let _ = ends.empty.push(Box::default());
        }
        self.lock().push(Arc::clone(&ends));
        QueryObserver {
            on: true,
            names: config.names.then(Box::default),
            log: config.log.map(|log| LogState {
                sampler: Sampler::every(log.sample),
                queries: log.queries,
                responses: log.responses,
            }),
            pending: Box::default(),
            pending_query: false,
            now: TapTime::now(),
            handed_at: 0,
            ends: Some(ends),
        }
    }

    /// Hands every queued log entry to `write`, loop by loop; returns how
    /// many there were.
    pub fn drain_log(&self, mut write: impl FnMut(&TapEntry)) -> usize {
        let mut drained = 0;
        for ends in self.lock().iter() {
            let (Some(queue), Some(free)) = (&ends.log, &ends.free) else {
                continue;
            };
            // At most what is there now, so that a busy loop cannot keep the
            // writer from the others.
            for _ in 0..queue.capacity() {
                let Some(entry) = queue.pop() else { break };
                write(&entry);
                // Back for the loop to fill again; there is room, as every
                // entry came from there.
                let _ = free.push(entry);
                drained += 1;
            }
        }
        drained
    }

    /// Hands every sketch the loops have handed over to `merge`, then gives
    /// it back cleared.
    pub fn collect(&self, mut merge: impl FnMut(&NameSketch)) {
        for ends in self.lock().iter() {
            while let Some(mut sketch) = ends.full.pop() {
                merge(&sketch);
                sketch.clear();
                // The loop's own sketch and this one are all there are.
                let _ = ends.empty.push(sketch);
            }
        }
    }

    /// Log entries dropped so far, over every loop.
    pub fn log_drops(&self) -> LogDrops {
        self.lock()
            .iter()
            .fold(LogDrops::default(), |sum, ends| LogDrops {
                queue_full: sum.queue_full + ends.queue_full.load(Ordering::Relaxed),
                too_long: sum.too_long + ends.too_long.load(Ordering::Relaxed),
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<LoopEnds>>> {
        self.loops.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether an exchange goes to the query log; from [`QueryObserver::before`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Sampled(bool);

impl Sampled {
    /// Not logged: what a caller that skips [`QueryObserver::before`] (its
    /// observer watching nothing) holds.
    pub const NOT: Sampled = Sampled(false);

    /// Whether the exchange goes to the query log: a punted query's answer is
    /// logged by the forwarder when it is.
    pub fn is_logged(self) -> bool {
        self.0
    }
}

/// One query and what came of it, for [`QueryObserver::after`].
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub client: SocketAddr,
    pub transport: Transport,
    /// The answer when there is one (its question echoes the query's), else
    /// the query (punted to the forwarder, which answers it later).
    pub message: &'a [u8],
    /// Whether `message` is an answer given now.
    pub answered: bool,
}

impl<'a> Exchange<'a> {
    /// The exchange the engine's `verdict` on the query of `query_len` bytes
    /// in `buf` made: the answer it wrote, or the untouched query it punted;
    /// `None` for a drop.
    #[inline]
    pub fn of_verdict(
        client: SocketAddr,
        transport: Transport,
        buf: &'a [u8],
        query_len: usize,
        verdict: Verdict,
    ) -> Option<Exchange<'a>> {
        let (len, answered) = match verdict {
            Verdict::Reply(len) | Verdict::Refused(len) => (len, true),
            Verdict::Punt => (query_len, false),
            Verdict::Drop => return None,
        };
        Some(Exchange {
            client,
            transport,
            message: buf.get(..len)?,
            answered,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct LogState {
    sampler: Sampler,
    queries: bool,
    responses: bool,
}

/// One loop's observer: private state, and its ends of the queues to the
/// control plane.
pub struct QueryObserver {
    /// Anything to do at all (the one branch an idle observer costs).
    on: bool,
    names: Option<Box<NameSketch>>,
    log: Option<LogState>,
    /// The sampled query, copied before the answer overwrites it.
    pending: Box<TapEntry>,
    pending_query: bool,
    /// The time of the current batch.
    now: TapTime,
    /// When the sketch was last handed over, in Unix seconds.
    handed_at: u64,
    ends: Option<Arc<LoopEnds>>,
}

impl std::fmt::Debug for QueryObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryObserver")
            .field("on", &self.on)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl QueryObserver {
    /// An observer that watches nothing.
    pub fn off() -> QueryObserver {
        QueryObserver {
            on: false,
            names: None,
            log: None,
            pending: Box::default(),
            pending_query: false,
            now: TapTime::default(),
            handed_at: 0,
            ends: None,
        }
    }

    /// Whether it watches anything.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Starts a batch: reads the clock, and hands the names counted so far to
    /// the control plane when their interval is over.
    #[inline]
    pub fn batch(&mut self) {
        if self.on {
            self.tick();
        }
    }

    /// [`batch`](Self::batch) for a loop that woke without work.
    pub fn tick(&mut self) {
        self.now = TapTime::now();
        if self.now.secs >= self.handed_at + HANDOVER_SECONDS {
            self.hand_over();
        }
    }

    /// Hands the sketch over when the control plane has given the other back.
    fn hand_over(&mut self) {
        let (Some(ends), Some(sketch)) = (&self.ends, &mut self.names) else {
            return;
        };
        if sketch.queries == 0 {
            self.handed_at = self.now.secs;
            return;
        }
        if let Some(fresh) = ends.empty.pop() {
            let full = std::mem::replace(sketch, fresh);
            // Room for it: only two sketches go round.
            let _ = ends.full.push(full);
            self.handed_at = self.now.secs;
        }
    }

    /// Called before the engine answers `query`: whether the exchange is
    /// logged, and the query kept if queries are.
    #[inline]
    pub fn before(&mut self, query: &[u8]) -> Sampled {
        if !self.on {
            return Sampled(false);
        }
        let Some(log) = &mut self.log else {
            return Sampled(false);
        };
        if !log.sampler.take() {
            return Sampled(false);
        }
        self.pending_query = log.queries && self.keep(query);
        Sampled(true)
    }

    /// Copies `query` into the pending entry; false (counted) when too long.
    fn keep(&mut self, query: &[u8]) -> bool {
        let kept = self.pending.set_message(query);
        if !kept {
            self.count_too_long();
        }
        kept
    }

    /// Called once the engine has answered (or punted): counts the query and
    /// its name, and queues what `sampled` says to log. `exchange` says what
    /// came of the query (`None`: dropped, nothing to tell); it is called only
    /// when the observer watches something, so an observer that is off costs
    /// the caller nothing but this branch.
    #[inline]
    pub fn after<'a>(&mut self, sampled: Sampled, exchange: impl FnOnce() -> Option<Exchange<'a>>) {
        if !self.on {
            return;
        }
        let Some(exchange) = exchange() else { return };
        if self.names.is_some() {
            self.count(&exchange);
        }
        if sampled.0 {
            self.log(&exchange);
        }
    }

    /// Counts the query, and its name when the message has a readable
    /// question.
    fn count(&mut self, exchange: &Exchange<'_>) {
        let Some(sketch) = &mut self.names else {
            return;
        };
        sketch.queries += 1;
        if exchange.answered && is_nodata(exchange.message) {
            sketch.nodata += 1;
        }
        if let Some(name) = question_name(exchange.message) {
            sketch.count(hash_lowered(name), name, self.now.secs as u32);
        }
    }

    /// Queues the pending query and, when responses are logged, the answer.
    fn log(&mut self, exchange: &Exchange<'_>) {
        let Some(log) = self.log else { return };
        if std::mem::take(&mut self.pending_query) {
            self.pending.kind = TapKind::Query;
            self.fill(exchange);
            self.push();
        }
        if log.responses && exchange.answered && self.keep(exchange.message) {
            self.pending.kind = TapKind::Response;
            self.fill(exchange);
            self.push();
        }
    }

    fn fill(&mut self, exchange: &Exchange<'_>) {
        let entry = &mut self.pending;
        entry.client = exchange.client;
        entry.transport = exchange.transport;
        entry.query_time = self.now;
        entry.response_time = self.now;
    }

    /// Queues the pending entry and takes the next from the free ones; with
    /// none free (the writer is behind), drops it and counts.
    fn push(&mut self) {
        let Some(ends) = &self.ends else { return };
        let (Some(queue), Some(free)) = (&ends.log, &ends.free) else {
            return;
        };
        let Some(next) = free.pop() else {
            // Under overload only: an add to this loop's own counter.
            ends.queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let filled = std::mem::replace(&mut self.pending, next);
        if let Err(filled) = queue.push(filled) {
            // Not expected: every entry fits. Keep it free.
            let _ = free.push(filled);
        }
    }

    fn count_too_long(&self) {
        if let Some(ends) = &self.ends {
            ends.too_long.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Logs an answer given elsewhere for a query this loop sampled (the
    /// forwarder's answer to a punted query): at `now`.
    pub fn log_response(&mut self, client: SocketAddr, transport: Transport, answer: &[u8]) {
        let Some(log) = self.log else { return };
        if !log.responses || !self.keep(answer) {
            return;
        }
        self.now = TapTime::now();
        self.pending.kind = TapKind::Response;
        self.fill(&Exchange {
            client,
            transport,
            message: answer,
            answered: true,
        });
        self.push();
    }
}

/// Whether `answer` is NOERROR with no answer record and not truncated:
/// NODATA.
fn is_nodata(answer: &[u8]) -> bool {
    const FLAGS: usize = 2;
    const TC: u8 = 0x02;
    const ANCOUNT: usize = 6;
    let (Some(&high), Some(&low)) = (answer.get(FLAGS), answer.get(FLAGS + 1)) else {
        return false;
    };
    answer.len() >= HEADER_LEN
        && high & TC == 0
        && low & 0x0F == 0
        && read_u16(answer, ANCOUNT) == Some(0)
}

#[cfg(test)]
mod tests;
