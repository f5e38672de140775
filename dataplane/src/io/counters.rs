//! The counters of one poll loop, one shape for both backends.
//!
//! A poll loop, kernel-socket worker or DPDK lcore, counts in a private
//! [`CoreStats`] (plain integers: no shared write per packet) and after each batch
//! stores it into its own [`SharedCoreStats`] with relaxed stores: no
//! read-modify-write, and no cache line shared with another loop (each block is
//! aligned to 128 bytes, the pair of lines the adjacent-line prefetcher fetches
//! together). Anyone reads a snapshot without locks, at most one batch behind, and
//! the control plane reads both backends' loops the same way.
//!
//! A few counters belong to one backend and stay zero on the other: the receive
//! errors of the kernel's `recvmmsg`, and the DPDK loop's frames to and from the
//! kernel, its ARP / neighbor / echo replies and the forwarder's answers it sends
//! (the kernel backend's forwarder sends those itself).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::answer_counts::{AnswerCounts, SharedAnswerCounts};
use crate::packet::DropReason;

const DROP_REASONS: usize = DropReason::ALL.len();

/// One poll loop's counts since it started; also its private tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Datagrams (kernel sockets) or frames (DPDK) received.
    pub rx: u64,
    /// Datagrams or frames sent: answers and, on DPDK, the forwarder's answers
    /// and the kernel's frames.
    pub tx: u64,
    /// DNS answers the loop wrote, by header RCODE and question type (REFUSED
    /// for names outside the zones included).
    pub answers: AnswerCounts,
    /// Queries for names outside every local zone answered REFUSED, no
    /// forwarder being configured (also counted in `answers`).
    pub refused: u64,
    /// Queries for names outside every local zone queued for the forwarder.
    pub punts: u64,
    /// Queries for the forwarder lost: its queue was full, or the query too long
    /// to punt.
    pub punt_drops: u64,
    /// Datagrams or frames not answered, by [`DropReason::index`].
    pub drops: [u64; DROP_REASONS],
    /// Answers or frames the kernel's send buffer or the port's transmit queue
    /// did not take.
    pub send_errors: u64,
    /// Failed receive calls (kernel sockets).
    pub recv_errors: u64,
    /// The forwarder's answers sent out of the port (DPDK).
    pub forwarded: u64,
    /// ARP replies, neighbor advertisements and echo replies sent (DPDK).
    pub control_replies: u64,
    /// Frames handed to the kernel through the exception path (DPDK).
    pub to_kernel: u64,
    /// Frames for the kernel lost because the exception ring was full (DPDK).
    pub to_kernel_drops: u64,
    /// Frames from the kernel sent out of the port (DPDK).
    pub from_kernel: u64,
}

/// The counters of a [`CoreStats`] other than `answers` and `drops`, listed once:
/// the order [`SharedCoreStats`] stores them in. A field added to [`CoreStats`]
/// is added here too (the array lengths check the count).
macro_rules! scalar_counters {
    ($($field:ident),+ $(,)?) => {
        impl CoreStats {
            fn scalars(&self) -> [u64; SCALARS] {
                [$(self.$field),+]
            }

            fn scalars_mut(&mut self) -> [&mut u64; SCALARS] {
                [$(&mut self.$field),+]
            }
        }
    };
}

const SCALARS: usize = 12;

scalar_counters!(
    rx,
    tx,
    refused,
    punts,
    punt_drops,
    send_errors,
    recv_errors,
    forwarded,
    control_replies,
    to_kernel,
    to_kernel_drops,
    from_kernel,
);

impl CoreStats {
    /// DNS answers of every RCODE.
    pub fn answered(&self) -> u64 {
        self.answers.total()
    }

    /// DNS answers other than the REFUSED of names outside the zones.
    pub fn replies(&self) -> u64 {
        self.answered().saturating_sub(self.refused)
    }

    /// Datagrams or frames dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    pub fn count_drop(&mut self, reason: DropReason) {
        if let Some(count) = self.drops.get_mut(reason.index()) {
            *count += 1;
        }
    }

    /// Adds `other`'s counts to these (totals over loops).
    pub fn add(&mut self, other: &CoreStats) {
        for (mine, theirs) in self.scalars_mut().into_iter().zip(other.scalars()) {
            *mine += theirs;
        }
        for (mine, theirs) in self.drops.iter_mut().zip(other.drops) {
            *mine += theirs;
        }
        self.answers.add(&other.answers);
    }
}

/// One poll loop's published counters: written by that loop alone, read by
/// anyone.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct SharedCoreStats {
    scalars: [AtomicU64; SCALARS],
    drops: [AtomicU64; DROP_REASONS],
    answers: SharedAnswerCounts,
}

fn store_all(cells: &[AtomicU64], values: &[u64]) {
    for (cell, &value) in cells.iter().zip(values) {
        cell.store(value, Ordering::Relaxed);
    }
}

fn load_all<const N: usize>(cells: &[AtomicU64; N]) -> [u64; N] {
    cells.each_ref().map(|cell| cell.load(Ordering::Relaxed))
}

impl SharedCoreStats {
    /// Publishes the loop's running tally (relaxed stores; the loop is the only
    /// writer).
    pub fn publish(&self, tally: &CoreStats) {
        store_all(&self.scalars, &tally.scalars());
        store_all(&self.drops, &tally.drops);
        self.answers.publish(&tally.answers);
    }

    /// The counters now, each read with one relaxed load.
    pub fn snapshot(&self) -> CoreStats {
        let mut stats = CoreStats {
            drops: load_all(&self.drops),
            answers: self.answers.snapshot(),
            ..CoreStats::default()
        };
        for (mine, value) in stats.scalars_mut().into_iter().zip(load_all(&self.scalars)) {
            *mine = value;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_tally_reads_back_whole() {
        let counters = SharedCoreStats::default();
        let mut tally = CoreStats {
            rx: 10,
            tx: 9,
            punts: 2,
            forwarded: 8,
            control_replies: 1,
            to_kernel: 3,
            from_kernel: 4,
            send_errors: 5,
            ..CoreStats::default()
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
    fn every_counter_survives_publishing_and_adding() {
        let scalars: [u64; SCALARS] = std::array::from_fn(|i| i as u64 + 1);
        let drops: [u64; DROP_REASONS] = std::array::from_fn(|i| 100 + i as u64);
        let mut tally = CoreStats {
            drops,
            ..CoreStats::default()
        };
        for (field, value) in tally.scalars_mut().into_iter().zip(scalars) {
            *field = value;
        }
        tally.answers.count_class(5, 1);
        assert_eq!(tally.refused, 3, "in the listed order");
        let counters = SharedCoreStats::default();
        counters.publish(&tally);
        assert_eq!(counters.snapshot(), tally);
        let mut sum = tally;
        sum.add(&tally);
        assert_eq!(sum.scalars(), scalars.map(|n| 2 * n));
        assert_eq!(sum.drops, drops.map(|n| 2 * n));
        assert_eq!((sum.answered(), sum.refused), (2, 6));
        assert_eq!(sum.replies(), 0);
    }

    #[test]
    fn counters_of_two_loops_never_share_a_cache_line_pair() {
        assert_eq!(align_of::<SharedCoreStats>(), 128);
    }
}
