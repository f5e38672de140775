//! Zone transfers out: AXFR (RFC 5936) over TCP, IXFR (RFC 1995) answered with
//! the whole zone, and NOTIFY (RFC 1996) to configured secondaries.
//!
//! Every zone ferrodns serves can be transferred, whatever its source: the
//! records come from the publisher's model ([`ZoneSnapshot`]), merged over every
//! source and filtered exactly as the answer table is, so a secondary answers
//! what ferrodns answers. A transfer is answered by [`Transfers::serve`], which
//! the TCP listener hands every AXFR and IXFR query to (`tcp.rs`); over UDP the
//! answer engine keeps answering them NOTIMP (RFC 5936 §4.2 defines no AXFR over
//! UDP; a client retries over TCP).
//!
//! - **Who**: a client outside `transfer.allow_transfer` (loopback only by
//!   default) is answered REFUSED; a name that is not a zone apex NOTAUTH.
//! - **What**: the SOA, every RRset of the zone in canonical order, the SOA
//!   again (RFC 5936 §2.2), in messages of about 16 KiB (`message`), streamed:
//!   the zone is copied out of the publisher in its compact form and decoded
//!   name by name as the messages go, so a transfer holds one message and the
//!   compact copy, and a slow client never holds up publishing.
//! - **IXFR**: ferrodns keeps no history of changes, so an IXFR is answered with
//!   the whole zone in AXFR form, which RFC 1995 §4 permits; a client whose SOA
//!   serial is already the zone's gets just the SOA (it is up to date).
//! - **How many**: at most [`MAX_TRANSFERS`] at once; more are answered
//!   SERVFAIL (a secondary retries later).
//! - **When it changed**: each zone's SOA serial rises with every published
//!   change of the zone (the publisher's serials, `pipeline/serials.rs`), and
//!   `notify` sends a NOTIFY to each configured secondary for each zone whose
//!   served serial changed.

mod message;
mod notify;
mod query;

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::config::{Cidr, TransferSettings};
use crate::pipeline::{PublisherHandle, ZoneSnapshot};
pub use message::{MESSAGE_TARGET, Messages, Rcode};
pub use notify::Notifier;
pub use query::{AXFR, IXFR, TransferQuery};

/// Transfers served at once; more are answered SERVFAIL.
pub const MAX_TRANSFERS: usize = 4;

/// Counters of transfers and notifications, readable without a lock.
#[derive(Debug, Default)]
pub struct TransferStats {
    served: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    pub(crate) notifies_sent: AtomicU64,
    pub(crate) notifies_answered: AtomicU64,
    pub(crate) notifies_failed: AtomicU64,
}

impl TransferStats {
    /// Transfers sent whole (or an up-to-date IXFR's single SOA).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Transfer queries refused by the allow-list.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Transfers not given: not a zone, too many at once, the client gone.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// NOTIFY messages sent (each retry counted).
    pub fn notifies_sent(&self) -> u64 {
        self.notifies_sent.load(Ordering::Relaxed)
    }

    /// NOTIFYs a secondary answered.
    pub fn notifies_answered(&self) -> u64 {
        self.notifies_answered.load(Ordering::Relaxed)
    }

    /// NOTIFYs given up on after every retry.
    pub fn notifies_failed(&self) -> u64 {
        self.notifies_failed.load(Ordering::Relaxed)
    }
}

/// Answers transfer queries from the publisher's zones.
#[derive(Debug)]
pub struct Transfers {
    publisher: PublisherHandle,
    allow: Vec<Cidr>,
    permits: Semaphore,
    stats: Arc<TransferStats>,
}

/// Why a transfer stopped part way.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("writing to the client: {0}")]
    Io(#[from] io::Error),
    #[error("the client did not read a message within {} ms", .0.as_millis())]
    WriteTimeout(Duration),
    #[error(transparent)]
    TooLarge(#[from] message::TooLarge),
}

impl Transfers {
    pub fn new(publisher: PublisherHandle, settings: &TransferSettings) -> Self {
        Transfers {
            publisher,
            allow: settings.allow.clone(),
            permits: Semaphore::new(MAX_TRANSFERS),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<TransferStats> {
        Arc::clone(&self.stats)
    }

    /// Answers `query` from `peer` on `out` and flushes it, each message
    /// written within `write_timeout`. An error means the connection should
    /// close.
    pub async fn serve<W: AsyncWrite + Unpin>(
        &self,
        query: &TransferQuery,
        peer: IpAddr,
        out: &mut W,
        write_timeout: Duration,
    ) -> Result<(), TransferError> {
        self.answer(query, peer, out, write_timeout).await?;
        match timeout(write_timeout, out.flush()).await {
            Ok(flushed) => Ok(flushed?),
            Err(_) => Err(TransferError::WriteTimeout(write_timeout)),
        }
    }

    async fn answer<W: AsyncWrite + Unpin>(
        &self,
        query: &TransferQuery,
        peer: IpAddr,
        out: &mut W,
        write_timeout: Duration,
    ) -> Result<(), TransferError> {
        let kind = if query.is_ixfr() { "IXFR" } else { "AXFR" };
        let zone = &query.zone;
        let refuse = |rcode| Messages::new(query, zone, rcode).finish();
        if !self.allow.iter().any(|block| block.contains(peer)) {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            info!(%peer, %zone, "{kind} refused: the client is not in transfer.allow_transfer");
            return write(out, &refuse(Rcode::Refused), write_timeout).await;
        }
        let Ok(_permit) = self.permits.try_acquire() else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            warn!(%peer, %zone, "{kind} answered SERVFAIL: {MAX_TRANSFERS} transfers already run");
            return write(out, &refuse(Rcode::ServFail), write_timeout).await;
        };
        let snapshot = self.publisher.read(|p| p.zone_snapshot(zone)).await;
        let Some(snapshot) = snapshot else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            debug!(%peer, %zone, "{kind} answered NOTAUTH: not a zone served here");
            return write(out, &refuse(Rcode::NotAuth), write_timeout).await;
        };
        let sent = send_zone(query, &snapshot, out, write_timeout).await;
        match &sent {
            Ok((messages, records)) => {
                self.stats.served.fetch_add(1, Ordering::Relaxed);
                info!(%peer, %zone, serial = snapshot.serial().unwrap_or(0), messages, records, "{kind} sent");
            }
            Err(error) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                warn!(%peer, %zone, "{kind} stopped: {error}");
            }
        }
        sent.map(|_| ())
    }
}

/// Streams `snapshot` as the answer to `query`: the messages and records sent.
/// An IXFR from a client as new as the zone gets the SOA alone.
async fn send_zone<W: AsyncWrite + Unpin>(
    query: &TransferQuery,
    snapshot: &ZoneSnapshot,
    out: &mut W,
    write_timeout: Duration,
) -> Result<(usize, usize), TransferError> {
    let mut messages = Messages::new(query, snapshot.apex(), Rcode::NoError);
    let soa = snapshot.soa().cloned();
    let up_to_date = matches!(
        (query.ixfr_serial, snapshot.serial()),
        (Some(Some(theirs)), Some(ours)) if theirs == ours
    );
    let mut records = 0usize;
    if up_to_date {
        if let Some(soa) = &soa {
            messages.push(soa)?;
            records = 1;
        }
    } else {
        // The snapshot starts with the SOA; it ends the transfer again.
        for record in snapshot.records().chain(soa) {
            records += 1;
            if let Some(full) = messages.push(&record)? {
                write(out, &full, write_timeout).await?;
            }
        }
    }
    let count = messages.sent() + 1;
    write(out, &messages.finish(), write_timeout).await?;
    Ok((count, records))
}

/// Writes one message with its length prefix.
async fn write<W: AsyncWrite + Unpin>(
    out: &mut W,
    message: &[u8],
    limit: Duration,
) -> Result<(), TransferError> {
    let len = u16::try_from(message.len()).map_err(|_| {
        TransferError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "message over 65535 bytes",
        ))
    })?;
    let written = timeout(limit, async {
        out.write_all(&len.to_be_bytes()).await?;
        out.write_all(message).await
    })
    .await;
    match written {
        Ok(result) => Ok(result?),
        Err(_) => Err(TransferError::WriteTimeout(limit)),
    }
}

#[cfg(test)]
mod tests;
