//! The poll loop of one worker lcore, bound to one receive/transmit queue pair.
//!
//! ```text
//!   loop until stopped:
//!     rx_burst (up to 32 frames)
//!     table.load()                         once per burst: one shared read
//!     per frame (the next one prefetched):
//!       packet::handle -> engine answers in place (REFUSED for names outside
//!                         the zones when no forwarder is configured)
//!         Transmit  -> tx batch (checksum offload flags when the port does them)
//!         ToKernel  -> this worker's ring to the exception lcore
//!         Punt      -> the frame copied onto this worker's punt queue for the
//!                      forwarder (the engine punts only when there is one)
//!         Drop      -> freed, counted by reason
//!     wake the forwarder if the burst punted and it sleeps
//!     frames the kernel sent, from this worker's ring -> tx batch
//!     the forwarder's answers, from this worker's reply ring -> tx batch
//!     tx_burst the batch; what the queue refuses is freed and counted
//!     publish counters                     relaxed stores to this lcore's line
//! ```
//!
//! Every query is told to the lcore's query observer around the engine (the
//! query log, the counts of the names asked; see
//! [`ferrodns_dataplane::observe`]): one branch per query when it watches
//! nothing, and never a wait.
//!
//! Nothing here allocates after start-up (the batches are `Vec`s with their
//! capacity reserved once), locks, or makes a system call, unless an idle sleep is
//! configured for machines where lcores share cores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use ferrodns_dataplane::answer_counts;
use ferrodns_dataplane::engine::{Engine, QueryContext, Transport, Verdict};
use ferrodns_dataplane::io::counters::{CoreStats, SharedCoreStats};
use ferrodns_dataplane::io::punt::{PuntQueues, PuntedQuery, ReplyPath};
use ferrodns_dataplane::observe::{Exchange, QueryObserver};
use ferrodns_dataplane::packet::{
    self, Action, ChecksumMode, ChecksumOffload, DropReason, Services,
};
use ferrodns_dataplane::table::TableReader;

use crate::mbuf::{Mbuf, TxOffload};
use crate::port::{QueuePair, TxChecksum};

/// Frames per receive burst.
pub(super) const BURST: usize = 32;
/// Empty polls in a row before an idle sleep (when one is configured).
const IDLE_POLLS_BEFORE_SLEEP: u32 = 256;
/// Empty polls between two ticks of the query observer (a clock read).
const IDLE_POLLS_PER_TICK: u32 = 1 << 14;

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
    /// Where punted queries go (when the engine punts: a forwarder is
    /// configured).
    pub(super) punt: Option<Arc<PuntQueues>>,
    /// The forwarder's answer frames, for this worker to send.
    pub(super) replies: Arc<ArrayQueue<Mbuf>>,
    pub(super) counters: Arc<[SharedCoreStats]>,
    pub(super) index: usize,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) idle_sleep: Option<Duration>,
    /// Watches every query (the query log, the counts of the names asked).
    pub(super) observer: QueryObserver,
}

impl Worker {
    pub(super) fn run(mut self) {
        let all_counters = Arc::clone(&self.counters);
        let Some(counters) = all_counters.get(self.index) else {
            return;
        };
        let mut rx: Vec<Mbuf> = Vec::with_capacity(BURST);
        // A burst of answers, one of frames from the kernel, one of forwarded
        // answers.
        let mut tx: Vec<Mbuf> = Vec::with_capacity(BURST * 3);
        let mut tally = CoreStats::default();
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
            let forwarded = take_burst(&self.replies, &mut tx);
            tally.forwarded += forwarded as u64;
            if received == 0 && from_kernel == 0 && forwarded == 0 {
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
        tally: &mut CoreStats,
        rng: &mut fastrand::Rng,
        mode: ChecksumMode,
    ) {
        let version = self.reader.load();
        self.observer.batch();
        let mut punted_any = false;
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
            // The answer's RCODE and question type, for the counters.
            let mut class = None;
            let mut refused = false;
            let entropy = rng.u32(..);
            let (engine, observer) = (&self.engine, &mut self.observer);
            let room_len = room.len();
            // Where the query starts in the frame (the engine gets the room from
            // there on), who sent it and whether the query log takes it, kept
            // for a punt.
            let mut query_at = None;
            let action = packet::handle(room, len, &self.services, mode, |buf, len, client| {
                let ctx = QueryContext {
                    client: client.ip(),
                    transport: Transport::Udp,
                    entropy,
                };
                let sampled = observer.before(buf.get(..len).unwrap_or_default());
                let verdict = engine.respond(version, buf, len, &ctx);
                match verdict {
                    Verdict::Punt => {
                        query_at = Some((room_len - buf.len(), client, sampled.is_logged()));
                    }
                    Verdict::Refused(_) => refused = true,
                    Verdict::Reply(_) | Verdict::Drop => {}
                }
                observer.after(sampled, || {
                    Exchange::of_verdict(client, Transport::Udp, buf, len, verdict)
                });
                class = reply_class(buf, verdict);
                verdict
            });
            if refused {
                tally.refused += 1;
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
                    match class {
                        Some((rcode, qtype)) => tally.answers.count_class(rcode, qtype),
                        None => tally.control_replies += 1,
                    }
                    tx.push(mbuf);
                }
                Action::ToKernel => match self.to_kernel.push(mbuf) {
                    Ok(()) => tally.to_kernel += 1,
                    Err(_) => tally.to_kernel_drops += 1,
                },
                // The frame is copied onto the punt queue; the mbuf goes back.
                Action::Punt => match &self.punt {
                    Some(punt) if punt_frame(punt, self.index, mbuf.data(), query_at) => {
                        tally.punts += 1;
                        punted_any = true;
                    }
                    _ => tally.punt_drops += 1,
                },
                Action::Drop(reason) => tally.count_drop(reason),
            }
        }
        if punted_any && let Some(punt) = &self.punt {
            punt.notify();
        }
    }

    /// Moves frames the kernel sent into the transmit batch, up to one burst.
    fn take_from_kernel(&self, tx: &mut Vec<Mbuf>, tally: &mut CoreStats) -> usize {
        let Some(ring) = &self.from_kernel else {
            return 0;
        };
        let taken = take_burst(ring, tx);
        tally.from_kernel += taken as u64;
        taken
    }

    /// Sends the batch; what the queue cannot take after a second try is freed.
    fn transmit(&mut self, tx: &mut Vec<Mbuf>, tally: &mut CoreStats) {
        let mut tries = 0;
        while !tx.is_empty() && tries < 2 {
            let sent = self.queue.tx_burst(tx);
            tally.tx += sent as u64;
            if sent == 0 {
                tries += 1;
            }
        }
        tally.send_errors += tx.len() as u64;
        tx.clear();
    }

    fn idle(&mut self, idle_polls: u32) {
        // An idle loop's last counts still reach the control plane.
        if idle_polls.is_multiple_of(IDLE_POLLS_PER_TICK) && self.observer.is_on() {
            self.observer.tick();
        }
        if let Some(sleep) = self.idle_sleep {
            if idle_polls >= IDLE_POLLS_BEFORE_SLEEP {
                std::thread::sleep(sleep);
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Moves up to one burst of frames from `ring` into the transmit batch, without
/// growing it.
fn take_burst(ring: &ArrayQueue<Mbuf>, tx: &mut Vec<Mbuf>) -> usize {
    let mut taken = 0;
    while taken < BURST && tx.len() < tx.capacity() {
        let Some(mbuf) = ring.pop() else {
            break;
        };
        tx.push(mbuf);
        taken += 1;
    }
    taken
}

/// Copies a punted `frame` onto worker `worker`'s punt queue. `query_at` is where
/// its DNS query starts, the client's address and whether the query log takes
/// the exchange, as the engine's caller saw them. False when the frame cannot
/// be punted (too long, or the queue is full).
fn punt_frame(
    punt: &PuntQueues,
    worker: usize,
    frame: &[u8],
    query_at: Option<(usize, SocketAddr, bool)>,
) -> bool {
    let Some((start, client, sampled)) = query_at else {
        return false;
    };
    let path = ReplyPath::of_worker(u16::try_from(worker).unwrap_or(u16::MAX));
    PuntedQuery::in_frame(frame, start, client, path)
        .is_some_and(|query| punt.push(worker, query.sampled(sampled)))
}

/// Flags `mbuf` for the port to complete the checksums `packet` prepared.
pub(super) fn request_offload(tx_checksum: TxChecksum, mbuf: &mut Mbuf, offload: ChecksumOffload) {
    if let TxChecksum::Offload { ipv4_udp, ipv6_udp } = tx_checksum {
        let flags: TxOffload = if offload.ipv6 { ipv6_udp } else { ipv4_udp };
        mbuf.request_checksum_offload(flags, offload.l2_len, offload.l3_len);
    }
}

/// The RCODE and question-type bucket of the answer the engine wrote into `buf`
/// (`None` when it wrote none).
fn reply_class(buf: &[u8], verdict: Verdict) -> Option<(usize, usize)> {
    verdict
        .answer_len()
        .and_then(|len| buf.get(..len))
        .and_then(answer_counts::classify)
}
