//! Matching replies to queries: one [`Tracker`] per socket (UDP) or connection
//! (TCP), keyed by DNS message ID.
//!
//! Each socket has its own 16-bit ID space, so a reply is matched by the socket it
//! arrived on and its ID. Free IDs wait in a FIFO, shuffled once: an ID is reused
//! as late as possible, so that a reply arriving after its query was given up as
//! lost is unlikely to be taken for the answer to a newer one.
//!
//! Queries are given up in send order, so lost-query detection needs no scan: the
//! outstanding queries sit in a queue oldest first, and [`Tracker::expire`] pops
//! from the front while the front is older than the timeout. Entries answered in
//! the meantime are recognised by a generation number and skipped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the query with this ID was sent; `None` while the ID is free.
    sent: Option<Instant>,
    /// Bumped at every send, so a stale queue entry for a reused ID is told apart.
    generation: u32,
}

/// Outstanding queries of one socket.
#[derive(Debug)]
pub(crate) struct Tracker {
    slots: Vec<Slot>,
    free: VecDeque<u16>,
    /// (ID, generation) in send order.
    order: VecDeque<(u16, u32)>,
    outstanding: usize,
}

impl Tracker {
    /// A tracker with all 65536 IDs free, in an order drawn from `rng`.
    pub(crate) fn new(rng: &mut fastrand::Rng) -> Tracker {
        let mut ids: Vec<u16> = (0..=u16::MAX).collect();
        rng.shuffle(&mut ids);
        Tracker {
            slots: vec![
                Slot {
                    sent: None,
                    generation: 0,
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

    /// Takes a free ID for a query sent at `now`; `None` when all 65536 are in use.
    pub(crate) fn start(&mut self, now: Instant) -> Option<u16> {
        let id = self.free.pop_front()?;
        let slot = &mut self.slots[usize::from(id)];
        slot.sent = Some(now);
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

    /// A reply with `id` arrived at `now`: the query's latency, or `None` when no
    /// query with that ID is outstanding (a duplicate, or a reply too late).
    pub(crate) fn finish(&mut self, id: u16, now: Instant) -> Option<Duration> {
        self.release(id)
            .map(|sent| now.saturating_duration_since(sent))
    }

    /// Gives up the queries sent more than `timeout` before `now`; returns how many.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> u64 {
        let mut lost = 0;
        while let Some(&(id, generation)) = self.order.front() {
            let slot = self.slots[usize::from(id)];
            match slot.sent {
                Some(sent) if slot.generation == generation => {
                    if now.saturating_duration_since(sent) < timeout {
                        break;
                    }
                    self.release(id);
                    lost += 1;
                }
                _ => {}
            }
            self.order.pop_front();
        }
        lost
    }

    /// Gives up every outstanding query; returns how many.
    pub(crate) fn abandon(&mut self) -> u64 {
        let lost = self.outstanding as u64;
        while let Some((id, _)) = self.order.pop_front() {
            self.release(id);
        }
        lost
    }

    fn release(&mut self, id: u16) -> Option<Instant> {
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

    #[test]
    fn a_reply_matches_its_outstanding_query_once() {
        let mut t = tracker();
        let t0 = Instant::now();
        let id = t.start(t0).unwrap();
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
        let old = t.start(t0).unwrap();
        let answered = t.start(t0).unwrap();
        let young = t.start(t0 + Duration::from_millis(900)).unwrap();
        assert!(t.finish(answered, t0).is_some());
        let lost = t.expire(t0 + Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(lost, 1);
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.finish(old, t0 + Duration::from_secs(2)), None);
        assert!(t.finish(young, t0 + Duration::from_secs(2)).is_some());
    }

    #[test]
    fn ids_are_reused_last_and_run_out_at_65536() {
        let mut t = tracker();
        let now = Instant::now();
        let first = t.start(now).unwrap();
        t.finish(first, now);
        let mut seen = vec![false; 1 << 16];
        for _ in 0..(1 << 16) {
            let id = t.start(now).unwrap();
            assert!(!seen[usize::from(id)], "ID {id} handed out twice");
            seen[usize::from(id)] = true;
        }
        assert_eq!(t.start(now), None);
        assert_eq!(t.abandon(), 1 << 16);
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn a_cancelled_query_is_neither_outstanding_nor_lost() {
        let mut t = tracker();
        let now = Instant::now();
        let id = t.start(now).unwrap();
        t.cancel(id);
        assert_eq!(t.outstanding(), 0);
        assert_eq!(
            t.expire(now + Duration::from_secs(9), Duration::from_secs(1)),
            0
        );
    }
}
