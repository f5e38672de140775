//! One lcore's side of a DPDK run: a [`Transport`] over one queue pair of the
//! port, for the worker loop.
//!
//! ```text
//!   send(flow, queries): one bulk allocation of mbufs, a frame written into
//!                        each (QueryFrames), one tx_burst
//!   receive():           rx_burst; stamp the burst with the TSC; per frame:
//!                          an answer to one of our flows -> the worker's match
//!                          an answer to another lcore's flow -> that lcore's inbox
//!                          ARP / neighbor discovery -> answered in place
//!                          anything else -> freed, counted
//!                        then the inbox (answers other lcores received for us)
//! ```
//!
//! Flow `g` of the run (of the `-c` flows) sends from port `first_port + g`
//! and belongs to lcore `g % lcores`. A port's driver spreads the answers over
//! the receive queues its own way (RSS, af_packet's fanout hash), not by who
//! sent the query, so an answer can land on another lcore's queue; that lcore
//! passes the mbuf on through the owner's inbox, with the time it arrived. With
//! one queue nothing is passed on.
//!
//! Nothing here allocates after start-up, locks or calls the kernel.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use ferrodns_dpdk::{MAX_BURST, Mbuf, Mempool, QueuePair, TscClock};

use super::frame::QueryFrames;
use super::inbound::{self, Addressing, Inbound};
use super::neighbor::{Handled, Neighbors};
use crate::query::QueryTemplate;
use crate::tracker::Nanos;
use crate::worker::{Arrival, Outgoing, Transport};

/// An answer received on another lcore's queue, with its arrival time.
pub(crate) type Handoff = (Mbuf, Nanos);

/// Answers one lcore's inbox holds.
pub(crate) const INBOX: usize = 4096;

/// What an lcore counts besides the worker's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LcoreCounters {
    /// Frames received that were neither answers nor address resolution.
    pub(crate) other: u64,
    /// ARP and neighbor discovery answers sent for the source addresses.
    pub(crate) resolution_replies: u64,
    /// Answers passed to the lcore whose flow they belong to.
    pub(crate) handed_over: u64,
    /// Answers lost because that lcore's inbox was full.
    pub(crate) inbox_full: u64,
    /// Sends short of mbufs (the pool was empty).
    pub(crate) no_mbuf: u64,
    /// Frames the transmit queue did not take (the worker sends them again).
    pub(crate) tx_full: u64,
}

/// Which lcore and flow a source port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowMap {
    /// The source port of the run's flow 0.
    pub(crate) first_port: u16,
    /// Flows in the run, and lcores sending.
    pub(crate) flows: usize,
    pub(crate) lcores: usize,
}

impl FlowMap {
    /// How many flows lcore `lcore` has.
    pub(crate) fn own(&self, lcore: usize) -> usize {
        self.flows / self.lcores + usize::from(lcore < self.flows % self.lcores)
    }

    /// The source port of lcore `lcore`'s flow `flow`.
    pub(crate) fn port(&self, lcore: usize, flow: usize) -> u16 {
        self.first_port
            .wrapping_add((flow * self.lcores + lcore) as u16)
    }

    /// The lcore and its flow that send from `port`; `None` for a port no flow
    /// sends from.
    pub(crate) fn owner(&self, port: u16) -> Option<(usize, usize)> {
        let global = usize::from(port.wrapping_sub(self.first_port));
        (global < self.flows).then_some((global % self.lcores, global / self.lcores))
    }
}

/// The lcore's queue and everything it needs to build and read frames.
#[derive(Debug)]
pub(crate) struct LcoreLink {
    pub(crate) queue: QueuePair,
    pub(crate) pool: Mempool,
    pub(crate) clock: TscClock,
    pub(crate) frames: Arc<QueryFrames>,
    pub(crate) queries: Arc<Vec<QueryTemplate>>,
    pub(crate) addressing: Arc<Addressing>,
    pub(crate) neighbors: Neighbors,
    /// This lcore's index, and how the run's flows map to lcores.
    pub(crate) index: usize,
    pub(crate) flows: FlowMap,
    /// Every lcore's inbox, by lcore index.
    pub(crate) inboxes: Arc<[ArrayQueue<Handoff>]>,
    /// `false` with `--drop-answers`: answers are freed unread.
    pub(crate) read_answers: bool,
    pub(crate) counters: LcoreCounters,
    /// The next source address, as an index into the run's sources.
    pub(crate) next_source: usize,
    pub(crate) rx: Vec<Mbuf>,
    pub(crate) tx: Vec<Mbuf>,
    /// Resolution answers waiting for the next transmit.
    pub(crate) replies: Vec<Mbuf>,
}

impl LcoreLink {
    /// Sends what the queue takes of `frames`; frees the rest.
    fn transmit(queue: &mut QueuePair, frames: &mut Vec<Mbuf>) -> usize {
        let sent = queue.tx_burst(frames);
        frames.clear();
        sent
    }

    /// One received frame.
    fn take(&mut self, mut mbuf: Mbuf, at: Nanos, arrival: &mut dyn FnMut(Arrival<'_, Nanos>)) {
        match inbound::classify(mbuf.data(), &self.addressing) {
            Inbound::Answer { port, message } if self.read_answers => {
                match self.flows.owner(port) {
                    Some((owner, flow)) if owner == self.index => {
                        if let Some(message) = mbuf.data().get(message) {
                            arrival(Arrival::Reply { flow, message, at });
                        }
                    }
                    Some((owner, _)) => match self.inboxes.get(owner).map(|i| i.push((mbuf, at))) {
                        Some(Ok(())) => self.counters.handed_over += 1,
                        _ => self.counters.inbox_full += 1,
                    },
                    None => self.counters.other += 1,
                }
            }
            Inbound::Answer { .. } => {}
            Inbound::Resolution(l2) => {
                let len = mbuf.len();
                let handled = match mbuf.room_mut() {
                    Some(room) => self.neighbors.handle(room, len, l2, &self.addressing.local),
                    None => Handled::Ignored,
                };
                if let Handled::Reply(len) = handled
                    && mbuf.set_len(len)
                    && self.replies.len() < self.replies.capacity()
                {
                    self.replies.push(mbuf);
                    self.counters.resolution_replies += 1;
                }
            }
            Inbound::Other => self.counters.other += 1,
        }
    }

    /// The answers other lcores passed on, up to one burst.
    fn take_inbox(&mut self, arrival: &mut dyn FnMut(Arrival<'_, Nanos>)) -> usize {
        let mut taken = 0;
        while taken < MAX_BURST {
            let Some((mbuf, at)) = self.inboxes.get(self.index).and_then(ArrayQueue::pop) else {
                break;
            };
            taken += 1;
            let Inbound::Answer { port, message } =
                inbound::classify(mbuf.data(), &self.addressing)
            else {
                continue;
            };
            if let (Some((_, flow)), Some(message)) =
                (self.flows.owner(port), mbuf.data().get(message))
            {
                arrival(Arrival::Reply { flow, message, at });
            }
        }
        taken
    }
}

impl Transport for LcoreLink {
    type Stamp = Nanos;

    fn flows(&self) -> usize {
        self.flows.own(self.index)
    }

    fn now(&self) -> Nanos {
        Nanos(self.clock.now())
    }

    fn receive(&mut self, arrival: &mut dyn FnMut(Arrival<'_, Nanos>)) -> io::Result<usize> {
        let received = self.queue.rx_burst(&mut self.rx);
        let mut moved = received;
        if received > 0 {
            let at = self.now();
            let mut burst = std::mem::take(&mut self.rx);
            for mbuf in burst.drain(..) {
                mbuf.prefetch();
                self.take(mbuf, at, arrival);
            }
            self.rx = burst;
        }
        moved += self.take_inbox(arrival);
        if !self.replies.is_empty() {
            Self::transmit(&mut self.queue, &mut self.replies);
        }
        Ok(moved)
    }

    fn send(&mut self, flow: usize, queries: &[Outgoing]) -> io::Result<usize> {
        let count = queries.len().min(MAX_BURST);
        if !Mbuf::alloc_bulk(&self.pool, &mut self.tx, count) {
            self.counters.no_mbuf += 1;
            return Ok(0);
        }
        let port = self.flows.port(self.index, flow);
        let sources = self.addressing.local.sources().len();
        let mut built = 0;
        for (mbuf, query) in self.tx.iter_mut().zip(queries) {
            let index = query.query as usize;
            let (Some(template), Some(room)) = (self.queries.get(index), mbuf.room_mut()) else {
                break;
            };
            let source = self.addressing.local.source(self.next_source);
            let Some(len) = self
                .frames
                .write(room, template, index, query.id, source, port)
            else {
                break;
            };
            if !mbuf.set_len(len) {
                break;
            }
            self.next_source = (self.next_source + 1) % sources;
            built += 1;
        }
        // Frames not built (none, unless a query outgrew the mbuf) go back now.
        self.tx.truncate(built);
        let sent = Self::transmit(&mut self.queue, &mut self.tx);
        if sent < built {
            self.counters.tx_full += (built - sent) as u64;
        }
        Ok(sent)
    }

    fn idle(&mut self, _timeout: Duration) -> io::Result<()> {
        // An lcore polls: the next frame may arrive any moment.
        std::hint::spin_loop();
        Ok(())
    }

    /// One burst, then the receive queue again: a pass of a burst per flow
    /// (16 flows: 1,024 frames) outruns a receive ring of a few hundred
    /// descriptors when the answers come back fast.
    fn sends_per_pass(&self) -> usize {
        MAX_BURST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_dealt_to_lcores_in_turn_and_found_by_port() {
        let map = FlowMap {
            first_port: 10_000,
            flows: 5,
            lcores: 2,
        };
        assert_eq!((map.own(0), map.own(1)), (3, 2));
        let ports: Vec<u16> = (0..3).map(|flow| map.port(0, flow)).collect();
        assert_eq!(ports, [10_000, 10_002, 10_004]);
        assert_eq!(map.port(1, 1), 10_003);
        for lcore in 0..2 {
            for flow in 0..map.own(lcore) {
                assert_eq!(map.owner(map.port(lcore, flow)), Some((lcore, flow)));
            }
        }
        assert_eq!(map.owner(10_005), None, "past the last flow");
        assert_eq!(map.owner(9_999), None, "below the first");
    }
}
