//! The poll loop of one worker lcore, bound to one receive/transmit queue pair.
//!
//! ```text
//!   loop until stopped:
//!     rx_burst (up to 32 frames)
//!     table.load()                         once per burst: one shared read
//!     per frame (the next one prefetched):
//!       packet::handle -> engine answers in place
//!         Transmit  -> tx batch (checksum offload flags when the port does them)
//!         ToKernel  -> this worker's ring to the exception lcore
//!         Punt      -> answered REFUSED in place (no forwarder yet), counted
//!         Drop      -> freed, counted by reason
//!     frames the kernel sent, from this worker's ring -> tx batch
//!     tx_burst the batch; what the queue refuses is freed and counted
//!     publish counters                     relaxed stores to this lcore's line
//! ```
//!
//! Nothing here allocates after start-up (the batches are `Vec`s with their
//! capacity reserved once), locks, or makes a system call, unless an idle sleep is
//! configured for machines where lcores share cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use ferrodns_dataplane::engine::{self, Engine, QueryContext, Transport, Verdict};
use ferrodns_dataplane::packet::{
    self, Action, ChecksumMode, ChecksumOffload, DropReason, Services,
};
use ferrodns_dataplane::table::TableReader;

use super::counters::{LcoreCounters, Tally};
use crate::mbuf::{Mbuf, TxOffload};
use crate::port::{QueuePair, TxChecksum};

/// Frames per receive burst.
pub(super) const BURST: usize = 32;
/// Empty polls in a row before an idle sleep (when one is configured).
const IDLE_POLLS_BEFORE_SLEEP: u32 = 256;

/// What a worker lcore starts with.
pub(super) struct Worker {
    pub(super) queue: QueuePair,
    pub(super) engine: Arc<Engine>,
    pub(super) reader: TableReader,
    pub(super) services: Arc<Services>,
    pub(super) tx_checksum: TxChecksum,
    /// Frames for the kernel, drained by the exception lcore.
    pub(super) to_kernel: Arc<ArrayQueue<Mbuf>>,
    /// Frames from the kernel, for this worker to send (worker 0 only).
    pub(super) from_kernel: Option<Arc<ArrayQueue<Mbuf>>>,
    pub(super) counters: Arc<[LcoreCounters]>,
    pub(super) index: usize,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) idle_sleep: Option<Duration>,
}

impl Worker {
    pub(super) fn run(mut self) {
        let all_counters = Arc::clone(&self.counters);
        let Some(counters) = all_counters.get(self.index) else {
            return;
        };
        let mut rx: Vec<Mbuf> = Vec::with_capacity(BURST);
        let mut tx: Vec<Mbuf> = Vec::with_capacity(BURST * 2);
        let mut tally = Tally::default();
        let mut rng = fastrand::Rng::with_seed(fastrand::u64(..) ^ self.index as u64);
        let mut idle_polls = 0u32;
        let mode = match self.tx_checksum {
            TxChecksum::Software => ChecksumMode::Software,
            TxChecksum::Offload { .. } => ChecksumMode::Offload,
        };
        while !self.stop.load(Ordering::Relaxed) {
            let received = self.queue.rx_burst(&mut rx);
            tally.rx += received as u64;
            if received > 0 {
                self.answer_burst(&mut rx, &mut tx, &mut tally, &mut rng, mode);
            }
            let from_kernel = self.take_from_kernel(&mut tx, &mut tally);
            if received == 0 && from_kernel == 0 {
                idle_polls = idle_polls.saturating_add(1);
                self.idle(idle_polls);
                continue;
            }
            idle_polls = 0;
            self.transmit(&mut tx, &mut tally);
            counters.publish(&tally);
        }
        counters.publish(&tally);
    }

    fn answer_burst(
        &mut self,
        rx: &mut Vec<Mbuf>,
        tx: &mut Vec<Mbuf>,
        tally: &mut Tally,
        rng: &mut fastrand::Rng,
        mode: ChecksumMode,
    ) {
        let version = self.reader.load();
        let mut frames = rx.drain(..).peekable();
        while let Some(mut mbuf) = frames.next() {
            if let Some(next) = frames.peek() {
                next.prefetch();
            }
            let len = mbuf.len();
            let Some(room) = mbuf.room_mut() else {
                tally.count_drop(DropReason::Malformed);
                continue;
            };
            let mut rcode = None;
            let entropy = rng.u32(..);
            let engine = &self.engine;
            let mut action = packet::handle(room, len, &self.services, mode, |buf, len, client| {
                let ctx = QueryContext {
                    client,
                    transport: Transport::Udp,
                    entropy,
                };
                let verdict = engine.respond(version, buf, len, &ctx);
                rcode = reply_rcode(buf, verdict);
                verdict
            });
            if action == Action::Punt {
                tally.punts += 1;
                action = packet::handle(room, len, &self.services, mode, |buf, len, _| {
                    let verdict = engine::refuse(buf, len);
                    rcode = reply_rcode(buf, verdict);
                    verdict
                });
            }
            match action {
                Action::Transmit { len, offload } => {
                    if !mbuf.set_len(len) {
                        tally.count_drop(DropReason::NoRoom);
                        continue;
                    }
                    if let Some(offload) = offload {
                        request_offload(self.tx_checksum, &mut mbuf, offload);
                    }
                    match rcode {
                        Some(rcode) => {
                            if let Some(count) = tally.answers.get_mut(usize::from(rcode)) {
                                *count += 1;
                            }
                        }
                        None => tally.control_replies += 1,
                    }
                    tx.push(mbuf);
                }
                Action::ToKernel => match self.to_kernel.push(mbuf) {
                    Ok(()) => tally.to_kernel += 1,
                    Err(_) => tally.queue_full += 1,
                },
                Action::Drop(reason) => tally.count_drop(reason),
                // `handle` with `refuse` never punts; count it as the engine's drop
                // should that ever change.
                Action::Punt => tally.count_drop(DropReason::Engine),
            }
        }
    }

    /// Moves frames the kernel sent into the transmit batch, up to one burst.
    fn take_from_kernel(&self, tx: &mut Vec<Mbuf>, tally: &mut Tally) -> usize {
        let Some(ring) = &self.from_kernel else {
            return 0;
        };
        let mut taken = 0;
        while taken < BURST && tx.len() < tx.capacity() {
            let Some(mbuf) = ring.pop() else {
                break;
            };
            tx.push(mbuf);
            taken += 1;
        }
        tally.from_kernel += taken as u64;
        taken
    }

    /// Sends the batch; what the queue cannot take after a second try is freed.
    fn transmit(&mut self, tx: &mut Vec<Mbuf>, tally: &mut Tally) {
        let mut tries = 0;
        while !tx.is_empty() && tries < 2 {
            let sent = self.queue.tx_burst(tx);
            tally.tx += sent as u64;
            if sent == 0 {
                tries += 1;
            }
        }
        tally.queue_full += tx.len() as u64;
        tx.clear();
    }

    fn idle(&self, idle_polls: u32) {
        if let Some(sleep) = self.idle_sleep {
            if idle_polls >= IDLE_POLLS_BEFORE_SLEEP {
                std::thread::sleep(sleep);
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Flags `mbuf` for the port to complete the checksums `packet` prepared.
fn request_offload(tx_checksum: TxChecksum, mbuf: &mut Mbuf, offload: ChecksumOffload) {
    if let TxChecksum::Offload { ipv4_udp, ipv6_udp } = tx_checksum {
        let flags: TxOffload = if offload.ipv6 { ipv6_udp } else { ipv4_udp };
        mbuf.request_checksum_offload(flags, offload.l2_len, offload.l3_len);
    }
}

/// The header rcode of a reply the engine wrote at the start of `buf`.
fn reply_rcode(buf: &[u8], verdict: Verdict) -> Option<u8> {
    match verdict {
        Verdict::Reply(_) => buf.get(3).map(|flags| flags & 0x0f),
        Verdict::Punt | Verdict::Drop => None,
    }
}
