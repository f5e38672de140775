//! Per-lcore counters, written by one poll loop and read by anyone without locks.
//!
//! Each worker counts in a private [`Tally`] and, after each burst, stores it into
//! its own [`LcoreCounters`] with relaxed stores: no read-modify-write, no shared
//! line between workers (each block is aligned to 128 bytes, the adjacent-line
//! prefetcher's pair). A reader sees every counter at most one burst behind.

use std::sync::atomic::{AtomicU64, Ordering};

use ferrodns_dataplane::answer_counts::{AnswerCounts, SharedAnswerCounts};
use ferrodns_dataplane::packet::DropReason;

const DROP_REASONS: usize = DropReason::ALL.len();

/// One worker's counts; also the snapshot the control plane reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LcoreStats {
    /// Frames received from the port's queue.
    pub rx: u64,
    /// Frames the queue accepted for transmission (answers and frames from the
    /// kernel).
    pub tx: u64,
    /// DNS answers, by header RCODE and question type.
    pub answers: AnswerCounts,
    /// Queries for names outside every local zone: queued for the forwarder when
    /// one is configured, otherwise answered REFUSED.
    pub punts: u64,
    /// The forwarder's answers sent out of the port.
    pub forwarded: u64,
    /// ARP replies, neighbor advertisements and echo replies sent.
    pub control_replies: u64,
    /// Frames handed to the kernel through the exception port.
    pub to_kernel: u64,
    /// Frames from the kernel sent out of the port.
    pub from_kernel: u64,
    /// Frames dropped, by [`DropReason::index`].
    pub drops: [u64; DROP_REASONS],
    /// Frames lost because a queue (transmit, the exception path's, or the
    /// forwarder's) was full.
    pub queue_full: u64,
}

impl LcoreStats {
    /// DNS answers of every rcode.
    pub fn answered(&self) -> u64 {
        self.answers.total()
    }

    /// Frames dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    pub(super) fn count_drop(&mut self, reason: DropReason) {
        if let Some(count) = self.drops.get_mut(reason.index()) {
            *count += 1;
        }
    }
}

/// The worker's private tally.
pub(super) type Tally = LcoreStats;

/// One worker's published counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct LcoreCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    answers: SharedAnswerCounts,
    punts: AtomicU64,
    forwarded: AtomicU64,
    control_replies: AtomicU64,
    to_kernel: AtomicU64,
    from_kernel: AtomicU64,
    drops: [AtomicU64; DROP_REASONS],
    queue_full: AtomicU64,
}

fn store_all(cells: &[AtomicU64], values: &[u64]) {
    for (cell, &value) in cells.iter().zip(values) {
        cell.store(value, Ordering::Relaxed);
    }
}

fn load_all<const N: usize>(cells: &[AtomicU64; N]) -> [u64; N] {
    let mut values = [0; N];
    for (value, cell) in values.iter_mut().zip(cells) {
        *value = cell.load(Ordering::Relaxed);
    }
    values
}

impl LcoreCounters {
    pub(super) fn publish(&self, tally: &Tally) {
        self.rx.store(tally.rx, Ordering::Relaxed);
        self.tx.store(tally.tx, Ordering::Relaxed);
        self.answers.publish(&tally.answers);
        self.punts.store(tally.punts, Ordering::Relaxed);
        self.forwarded.store(tally.forwarded, Ordering::Relaxed);
        self.control_replies
            .store(tally.control_replies, Ordering::Relaxed);
        self.to_kernel.store(tally.to_kernel, Ordering::Relaxed);
        self.from_kernel.store(tally.from_kernel, Ordering::Relaxed);
        store_all(&self.drops, &tally.drops);
        self.queue_full.store(tally.queue_full, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> LcoreStats {
        LcoreStats {
            rx: self.rx.load(Ordering::Relaxed),
            tx: self.tx.load(Ordering::Relaxed),
            answers: self.answers.snapshot(),
            punts: self.punts.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            control_replies: self.control_replies.load(Ordering::Relaxed),
            to_kernel: self.to_kernel.load(Ordering::Relaxed),
            from_kernel: self.from_kernel.load(Ordering::Relaxed),
            drops: load_all(&self.drops),
            queue_full: self.queue_full.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_tally_reads_back_whole() {
        let counters = LcoreCounters::default();
        let mut tally = Tally {
            rx: 10,
            tx: 9,
            punts: 2,
            forwarded: 8,
            control_replies: 1,
            to_kernel: 3,
            from_kernel: 4,
            queue_full: 5,
            ..Tally::default()
        };
        for _ in 0..6 {
            tally.answers.count_class(0, 0);
        }
        tally.answers.count_class(3, 7);
        tally.drops[DropReason::Fragment.index()] = 7;
        counters.publish(&tally);
        let read = counters.snapshot();
        assert_eq!(read, tally);
        assert_eq!((read.answered(), read.dropped()), (7, 7));
        assert_eq!(read.answers.with_rcode(3), 1);
        assert_eq!(read.drops_for(DropReason::Fragment), 7);
        assert_eq!(read.drops_for(DropReason::Malformed), 0);
    }

    #[test]
    fn counters_of_two_lcores_never_share_a_cache_line_pair() {
        assert_eq!(align_of::<LcoreCounters>(), 128);
    }
}
