//! The way back for forwarded answers: from the control plane's forwarder to the
//! lcore whose queue received the query.
//!
//! ```text
//!   worker lcore i: frame -> engine says Punt -> whole frame copied into a
//!                   PuntedQuery -> punt queue i ---------------> forwarder (tokio)
//!                                                                      | answer
//!   worker lcore i: reply ring i -> tx batch -> port    <- DpdkReplier::reply
//! ```
//!
//! The punted query carries the frame it came in, headers and all. To reply,
//! [`DpdkReplier`] takes a fresh mbuf from the packet pool, copies that frame in
//! and answers it in place with [`packet::handle`], the same code that answers
//! local names: MAC and IP addresses and UDP ports turned around, VLAN tags kept,
//! lengths and checksums rewritten, with the forwarder's answer as the payload. The
//! finished frame goes onto lcore `i`'s reply ring (a bounded lock-free queue) and
//! that lcore transmits it with its next batch, so each transmit queue keeps a
//! single writer.
//!
//! The replier runs on the forwarder's tokio threads, which are not EAL lcores:
//! taking an mbuf from the pool there uses the pool's shared ring rather than a
//! per-lcore cache, which DPDK allows (the pool is multi-producer and
//! multi-consumer). A full ring or an empty pool loses the answer, counted by the
//! forwarder as a reply error; the client retries.

use std::io;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use ferrodns_dataplane::engine::Verdict;
use ferrodns_dataplane::io::punt::{PuntReplier, PuntedQuery};
use ferrodns_dataplane::packet::{self, Action, ChecksumMode, Services};

use super::worker::request_offload;
use crate::mbuf::Mbuf;
use crate::mempool::Mempool;
use crate::port::TxChecksum;

/// Sends the forwarder's answers out through the worker lcores (see the module
/// docs).
#[derive(Debug, Clone)]
pub struct DpdkReplier {
    pub(super) pool: Mempool,
    pub(super) services: Arc<Services>,
    pub(super) tx_checksum: TxChecksum,
    /// One ring per worker lcore, in queue order.
    pub(super) rings: Arc<[Arc<ArrayQueue<Mbuf>>]>,
}

impl PuntReplier for DpdkReplier {
    fn reply(&self, query: &PuntedQuery, answer: &[u8]) -> io::Result<()> {
        let ring = self
            .rings
            .get(query.path().worker())
            .ok_or_else(|| io::Error::other("the punted query names no worker lcore"))?;
        let frame = answer_frame(
            &self.pool,
            &self.services,
            self.tx_checksum,
            query.frame(),
            answer,
        )?;
        ring.push(frame).map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                "the lcore's forwarded-answer ring is full",
            )
        })
    }
}

/// A new frame answering `query_frame` with `answer` as its DNS payload.
fn answer_frame(
    pool: &Mempool,
    services: &Services,
    tx_checksum: TxChecksum,
    query_frame: &[u8],
    answer: &[u8],
) -> io::Result<Mbuf> {
    let mut mbuf = Mbuf::alloc(pool).ok_or_else(|| io::Error::other("the packet pool is empty"))?;
    let room = mbuf
        .room_mut()
        .ok_or_else(|| io::Error::other("a fresh mbuf has no room"))?;
    room.get_mut(..query_frame.len())
        .ok_or_else(|| io::Error::other("the punted frame does not fit an mbuf"))?
        .copy_from_slice(query_frame);
    let mode = match tx_checksum {
        TxChecksum::Software => ChecksumMode::Software,
        TxChecksum::Offload { .. } => ChecksumMode::Offload,
    };
    let action = packet::handle(
        room,
        query_frame.len(),
        services,
        mode,
        |buf, _, _| match buf.get_mut(..answer.len()) {
            Some(payload) => {
                payload.copy_from_slice(answer);
                Verdict::Reply(answer.len())
            }
            None => Verdict::Drop,
        },
    );
    match action {
        Action::Transmit { len, offload } => {
            if !mbuf.set_len(len) {
                return Err(io::Error::other("the answer frame does not fit an mbuf"));
            }
            if let Some(offload) = offload {
                request_offload(tx_checksum, &mut mbuf, offload);
            }
            Ok(mbuf)
        }
        other => Err(io::Error::other(format!(
            "the punted frame cannot be answered ({other:?})"
        ))),
    }
}
