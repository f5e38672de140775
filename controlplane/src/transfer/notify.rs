//! NOTIFY (RFC 1996): telling secondaries that a zone changed, so that they
//! transfer it at once instead of at their next refresh.
//!
//! The notifier watches the serial each zone is served with (the publisher
//! updates it after every publish). When a zone's serial changes, and for every
//! zone when the notifier starts (a restarted server's serials have moved on), it
//! sends each configured secondary a NOTIFY over UDP: opcode NOTIFY, AA, the
//! zone's SOA as the question. The secondary answers with the same ID; without
//! an answer the NOTIFY is sent again after [`FIRST_RETRY`], then after twice as
//! long, [`ATTEMPTS`] times in all (RFC 1996 §3.6). A newer change of the zone
//! supersedes a NOTIFY still being retried.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::wire::header::flags;
use ferrodns_dataplane::wire::{HEADER_LEN, Header};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::timeout;
use tracing::{debug, warn};

use super::TransferStats;
use crate::pipeline::SerialMap;

/// Time the first NOTIFY waits for its answer; each retry waits twice as long.
pub(super) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// NOTIFYs sent per zone change and secondary before giving up.
pub(super) const ATTEMPTS: u32 = 5;
const OPCODE_NOTIFY: u16 = 4;
const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;

/// Sends NOTIFYs for the zones whose serial changes.
#[derive(Debug)]
pub struct Notifier {
    serials: watch::Receiver<SerialMap>,
    secondaries: Vec<SocketAddr>,
    stats: Arc<TransferStats>,
}

impl Notifier {
    pub fn new(
        serials: watch::Receiver<SerialMap>,
        secondaries: Vec<SocketAddr>,
        stats: Arc<TransferStats>,
    ) -> Self {
        Notifier {
            serials,
            secondaries,
            stats,
        }
    }

    /// Runs until `shutdown` says so.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut seen: BTreeMap<Name, u32> = BTreeMap::new();
        let mut sending: HashMap<(Name, SocketAddr), AbortHandle> = HashMap::new();
        let mut tasks = JoinSet::new();
        // The map as it is now counts as a change: every zone is notified once.
        self.serials.mark_changed();
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                changed = self.serials.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = Arc::clone(&self.serials.borrow_and_update());
                    for (zone, serial) in now.iter() {
                        if seen.get(zone) == Some(serial) {
                            continue;
                        }
                        for &secondary in &self.secondaries {
                            let key = (zone.clone(), secondary);
                            if let Some(previous) = sending.remove(&key) {
                                previous.abort();
                            }
                            let stats = Arc::clone(&self.stats);
                            let handle = tasks.spawn(notify(zone.clone(), *serial, secondary, stats));
                            sending.insert(key, handle);
                        }
                    }
                    seen = (*now).clone();
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    sending.retain(|_, handle| !handle.is_finished());
                }
            }
        }
        tasks.shutdown().await;
    }
}

/// Notifies `secondary` that `zone` is at `serial`, retrying until it answers.
async fn notify(zone: Name, serial: u32, secondary: SocketAddr, stats: Arc<TransferStats>) {
    let local: SocketAddr = if secondary.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(socket) if socket.connect(secondary).await.is_ok() => socket,
        Ok(_) | Err(_) => {
            warn!(%zone, %secondary, "cannot open a socket to send NOTIFY");
            stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut wait = FIRST_RETRY;
    for _ in 0..ATTEMPTS {
        let id = fastrand::u16(..);
        let message = notify_message(id, &zone);
        stats.notifies_sent.fetch_add(1, Ordering::Relaxed);
        if socket.send(&message).await.is_ok() && timeout(wait, answer(&socket, id)).await.is_ok() {
            stats.notifies_answered.fetch_add(1, Ordering::Relaxed);
            debug!(%zone, serial, %secondary, "NOTIFY answered");
            return;
        }
        wait = wait.saturating_mul(2);
    }
    stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
    warn!(%zone, serial, %secondary, "NOTIFY not answered after {ATTEMPTS} attempts");
}

/// Waits for the NOTIFY answer with `id` (anything else is ignored).
async fn answer(socket: &UdpSocket, id: u16) {
    let mut buf = [0u8; 512];
    loop {
        let Ok(len) = socket.recv(&mut buf).await else {
            // An ICMP error reported on the socket: the NOTIFY is lost; wait
            // for the retry rather than spin.
            tokio::time::sleep(FIRST_RETRY).await;
            continue;
        };
        let header = buf.get(..len).and_then(|b| Header::parse(b).ok());
        if header.is_some_and(|h| h.id == id && h.is_response() && h.opcode() == OPCODE_NOTIFY) {
            return;
        }
    }
}

/// A NOTIFY for `zone`: opcode NOTIFY, AA, the zone's SOA as the question.
pub(super) fn notify_message(id: u16, zone: &Name) -> Vec<u8> {
    let bits = OPCODE_NOTIFY << flags::OPCODE_SHIFT | flags::AA;
    let mut message = Vec::with_capacity(HEADER_LEN + zone.as_wire().len() + 4);
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&bits.to_be_bytes());
    message.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    message.extend_from_slice(zone.as_wire());
    message.extend_from_slice(&TYPE_SOA.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    message
}
