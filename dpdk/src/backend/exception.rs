//! The exception path, run by the main lcore: frames the workers hand to the
//! kernel go out of the TAP port, and frames the kernel sends (TCP answers, its
//! own ARP and neighbor discovery) come back in and are given to worker 0, which
//! transmits them on its queue of the port. Worker queues are not shared, so the
//! main lcore never touches the port itself.
//!
//! Exception traffic is light (DNS over TCP, address resolution), so this loop
//! sleeps briefly whenever a pass moved nothing, instead of spinning a core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use super::worker::BURST;
use crate::mbuf::Mbuf;
use crate::port::QueuePair;

/// Sleep after a pass that moved nothing.
const IDLE_SLEEP: Duration = Duration::from_micros(200);

/// Counters of the exception path.
#[derive(Debug, Default)]
pub(super) struct ExceptionCounters {
    pub(super) to_kernel: AtomicU64,
    pub(super) from_kernel: AtomicU64,
    pub(super) dropped: AtomicU64,
}

pub(super) struct ExceptionPath {
    pub(super) tap: QueuePair,
    /// One ring per worker, filled by that worker.
    pub(super) to_kernel: Vec<Arc<ArrayQueue<Mbuf>>>,
    /// Drained and transmitted by worker 0.
    pub(super) from_kernel: Arc<ArrayQueue<Mbuf>>,
    pub(super) counters: Arc<ExceptionCounters>,
}

impl ExceptionPath {
    pub(super) fn run(mut self, stop: &AtomicBool) {
        let mut batch: Vec<Mbuf> = Vec::with_capacity(BURST);
        while !stop.load(Ordering::Relaxed) {
            let to_kernel = self.pass_to_kernel(&mut batch);
            let from_kernel = self.pass_from_kernel(&mut batch);
            if to_kernel + from_kernel == 0 {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }

    fn pass_to_kernel(&mut self, batch: &mut Vec<Mbuf>) -> usize {
        let mut moved = 0;
        for ring in &self.to_kernel {
            while batch.len() < BURST {
                let Some(mbuf) = ring.pop() else { break };
                batch.push(mbuf);
            }
            moved += batch.len();
            let mut tries = 0;
            while !batch.is_empty() && tries < 2 {
                let sent = self.tap.tx_burst(batch);
                self.counters
                    .to_kernel
                    .fetch_add(sent as u64, Ordering::Relaxed);
                if sent == 0 {
                    tries += 1;
                }
            }
            self.counters
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
        moved
    }

    fn pass_from_kernel(&mut self, batch: &mut Vec<Mbuf>) -> usize {
        let received = self.tap.rx_burst(batch);
        for mbuf in batch.drain(..) {
            match self.from_kernel.push(mbuf) {
                Ok(()) => self.counters.from_kernel.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.counters.dropped.fetch_add(1, Ordering::Relaxed),
            };
        }
        received
    }
}
