//! Matching replies to queries: one [`Tracker`] per flow (a UDP socket, a TCP
//! connection, or in DPDK mode a source port), keyed by DNS message ID.
//!
//! Each flow has its own 16-bit ID space, so a reply is matched by the flow it
//! arrived on and its ID; the tracker also remembers which query of the list each
//! ID was sent for, so that the reply's question can be checked against it and
//! `-v` can name it. Free IDs wait in a FIFO, shuffled once: an ID is reused
//! as late as possible, so that a reply arriving after its query was given up as
//! lost is unlikely to be taken for the answer to a newer one.
//!
//! Queries are given up in send order, so lost-query detection needs no scan: the
//! outstanding queries sit in a queue oldest first, and [`Tracker::expire`] pops
//! from the front while the front is older than the timeout. Entries answered in
//! the meantime are recognised by a generation number and skipped.
//!
//! Times are whatever clock the flow's transport stamps with ([`Timestamp`]):
//! `Instant` for kernel sockets, the TSC in nanoseconds ([`Nanos`]) on DPDK
//! lcores.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A point in time on one monotonic clock.
pub(crate) trait Timestamp: Copy + std::fmt::Debug {
    /// The time from `earlier` to `self`; zero when `earlier` is later.
    fn since(self, earlier: Self) -> Duration;
}

impl Timestamp for Instant {
    fn since(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Nanoseconds since a clock's start (the DPDK lcores' TSC clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Nanos(pub(crate) u64);

impl Timestamp for Nanos {
    fn since(self, earlier: Nanos) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot<T> {
    /// When the query with this ID was sent; `None` while the ID is free.
    sent: Option<T>,
    /// Bumped at every send, so a stale queue entry for a reused ID is told apart.
    generation: u32,
    /// The query's index in the query list.
    query: u32,
}

/// Outstanding queries of one flow.
#[derive(Debug)]
pub(crate) struct Tracker<T = Instant> {
    slots: Vec<Slot<T>>,
    free: VecDeque<u16>,
    /// (ID, generation) in send order.
    order: VecDeque<(u16, u32)>,
    outstanding: usize,
}

impl<T: Timestamp> Tracker<T> {
    /// A tracker with all 65536 IDs free, in an order drawn from `rng`.
    pub(crate) fn new(rng: &mut fastrand::Rng) -> Tracker<T> {
        let mut ids: Vec<u16> = (0..=u16::MAX).collect();
        rng.shuffle(&mut ids);
        Tracker {
            slots: vec![
                Slot {
                    sent: None,
                    generation: 0,
                    query: 0,
                };
                1 << 16
            ],
            free: ids.into(),
            order: VecDeque::new(),
            outstanding: 0,
        }
    }

    /// Queries sent and neither answered nor given up.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Whether an ID is free for another query.
    pub(crate) fn has_room(&self) -> bool {
        !self.free.is_empty()
    }

    /// Takes a free ID for query number `query` of the list, sent at `now`;
    /// `None` when all 65536 are in use.
    pub(crate) fn start(&mut self, now: T, query: u32) -> Option<u16> {
        let id = self.free.pop_front()?;
        let slot = &mut self.slots[usize::from(id)];
        slot.sent = Some(now);
        slot.query = query;
        slot.generation = slot.generation.wrapping_add(1);
        self.order.push_back((id, slot.generation));
        self.outstanding += 1;
        Some(id)
    }

    /// Gives back an ID taken by [`Tracker::start`] whose query was never sent
    /// (the socket would block): it is not lost, it did not happen.
    pub(crate) fn cancel(&mut self, id: u16) {
        if self.release(id).is_some() {
            self.order.pop_back();
        }
    }

    /// Which query of the list the outstanding query with `id` is; `None` when
    /// no query with that ID is outstanding.
    pub(crate) fn query(&self, id: u16) -> Option<u32> {
        let slot = &self.slots[usize::from(id)];
        slot.sent.map(|_| slot.query)
    }

    /// A reply with `id` arrived at `now`: the query's latency, or `None` when no
    /// query with that ID is outstanding (a duplicate, or a reply too late).
    pub(crate) fn finish(&mut self, id: u16, now: T) -> Option<Duration> {
        self.release(id).map(|sent| now.since(sent))
    }

    /// Gives up the queries sent more than `timeout` before `now`, calling
    /// `lost` with the query number of each; returns how many.
    pub(crate) fn expire(&mut self, now: T, timeout: Duration, lost: &mut dyn FnMut(u32)) -> u64 {
        let mut count = 0;
        while let Some(&(id, generation)) = self.order.front() {
            let slot = self.slots[usize::from(id)];
            match slot.sent {
                Some(sent) if slot.generation == generation => {
                    if now.since(sent) < timeout {
                        break;
                    }
                    self.release(id);
                    lost(slot.query);
                    count += 1;
                }
                _ => {}
            }
            self.order.pop_front();
        }
        count
    }

    /// Gives up every outstanding query, calling `lost` with the query number of
    /// each; returns how many.
    pub(crate) fn abandon(&mut self, lost: &mut dyn FnMut(u32)) -> u64 {
        let count = self.outstanding as u64;
        while let Some((id, generation)) = self.order.pop_front() {
            let slot = self.slots[usize::from(id)];
            if slot.generation == generation && self.release(id).is_some() {
                lost(slot.query);
            }
        }
        count
    }

    fn release(&mut self, id: u16) -> Option<T> {
        let sent = self.slots[usize::from(id)].sent.take()?;
        self.free.push_back(id);
        self.outstanding -= 1;
        Some(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        Tracker::new(&mut fastrand::Rng::with_seed(7))
    }

    /// Ignores which queries were given up.
    fn any(_query: u32) {}

    #[test]
    fn a_reply_matches_its_outstanding_query_once() {
        let mut t = tracker();
        let t0 = Instant::now();
        let id = t.start(t0, 0).unwrap();
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.finish(id.wrapping_add(1), t0), None, "unknown ID");
        let later = t0 + Duration::from_micros(250);
        assert_eq!(t.finish(id, later), Some(Duration::from_micros(250)));
        assert_eq!(t.finish(id, later), None, "duplicate reply");
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn old_queries_are_lost_and_their_late_replies_ignored() {
        let mut t = tracker();
        let t0 = Instant::now();
        let old = t.start(t0, 0).unwrap();
        let answered = t.start(t0, 0).unwrap();
        let young = t.start(t0 + Duration::from_millis(900), 0).unwrap();
        assert!(t.finish(answered, t0).is_some());
        let lost = t.expire(
            t0 + Duration::from_secs(1),
            Duration::from_secs(1),
            &mut any,
        );
        assert_eq!(lost, 1);
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.finish(old, t0 + Duration::from_secs(2)), None);
        assert!(t.finish(young, t0 + Duration::from_secs(2)).is_some());
    }

    #[test]
    fn ids_are_reused_last_and_run_out_at_65536() {
        let mut t = tracker();
        let now = Instant::now();
        let first = t.start(now, 0).unwrap();
        t.finish(first, now);
        let mut seen = vec![false; 1 << 16];
        for _ in 0..(1 << 16) {
            let id = t.start(now, 0).unwrap();
            assert!(!seen[usize::from(id)], "ID {id} handed out twice");
            seen[usize::from(id)] = true;
        }
        assert_eq!(t.start(now, 0), None);
        assert_eq!(t.abandon(&mut any), 1 << 16);
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn a_cancelled_query_is_neither_outstanding_nor_lost() {
        let mut t = tracker();
        let now = Instant::now();
        let id = t.start(now, 0).unwrap();
        t.cancel(id);
        assert_eq!(t.outstanding(), 0);
        assert_eq!(
            t.expire(
                now + Duration::from_secs(9),
                Duration::from_secs(1),
                &mut any
            ),
            0
        );
    }

    #[test]
    fn the_query_behind_an_id_is_known_and_named_when_lost() {
        let mut t: Tracker<Nanos> = Tracker::new(&mut fastrand::Rng::with_seed(3));
        let kept = t.start(Nanos(1_000), 7).unwrap();
        let dropped = t.start(Nanos(2_000), 9).unwrap();
        assert_eq!((t.query(kept), t.query(dropped)), (Some(7), Some(9)));
        assert_eq!(
            t.finish(kept, Nanos(5_000)),
            Some(Duration::from_nanos(4_000))
        );
        assert_eq!(t.query(kept), None, "answered");
        let mut lost = Vec::new();
        let count = t.expire(Nanos(1_002_000), Duration::from_millis(1), &mut |q| {
            lost.push(q)
        });
        assert_eq!((count, lost), (1, vec![9]));
    }
}
