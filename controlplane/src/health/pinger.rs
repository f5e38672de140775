//! ICMP echo checks through one socket per address family, shared by every
//! check of the process.
//!
//! A datagram ICMP socket (`SOCK_DGRAM`, `IPPROTO_ICMP`) is tried first: the
//! kernel then owns the echo identifier and delivers only this socket's replies.
//! Linux allows it to the groups of `net.ipv4.ping_group_range`, which by
//! default is none, not even root's; a process that is refused it opens a raw
//! ICMP socket instead (root, or `CAP_NET_RAW`), which sees every ICMP packet
//! the host receives and keeps the replies carrying its own identifier. With
//! neither, echo checks cannot be made: they come out
//! [`Outcome::Unknown`] and change no verdict (and the failure is logged once).
//!
//! One task per family reads replies and hands each to the check waiting for
//! its (address, sequence number), so hundreds of checks in flight cost one
//! socket and one reader, not one each.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{OnceCell, oneshot};
use tracing::{debug, error};

use super::icmp::{self, Echo};
use super::verdict::Outcome;

/// What every echo request carries after its header.
const PAYLOAD: &[u8] = b"ferrodns health check";
/// Largest reply read (an IPv4 header of 60 bytes, then the echo).
const MAX_PACKET: usize = 1500;
/// Receive buffer asked for each echo socket.
const RECV_BUFFER: usize = 4 << 20;

/// The echo sockets, opened on first use.
#[derive(Debug, Default)]
pub struct Pinger {
    v4: OnceCell<Option<Arc<Family>>>,
    v6: OnceCell<Option<Arc<Family>>>,
}

/// One family's socket and the checks waiting for a reply.
#[derive(Debug)]
struct Family {
    socket: UdpSocket,
    v6: bool,
    /// A raw socket: IPv4 replies come with their IP header, and replies to
    /// others' requests arrive too.
    raw: bool,
    identifier: u16,
    next_sequence: AtomicU16,
    waiting: Mutex<HashMap<(IpAddr, u16), oneshot::Sender<()>>>,
}

impl Pinger {
    pub fn new() -> Pinger {
        Pinger::default()
    }

    /// Sends one echo request to `ip` and waits up to `timeout` for its reply.
    pub(crate) async fn echo(&self, ip: IpAddr, timeout: Duration) -> Outcome {
        let v6 = icmp::is_v6(ip);
        let cell = if v6 { &self.v6 } else { &self.v4 };
        let family = cell.get_or_init(|| async move { Family::open(v6) }).await;
        let Some(family) = family else {
            return Outcome::Unknown;
        };
        family.echo(ip, timeout).await
    }
}

impl Family {
    /// The family's socket with its reader started; None (logged) when no ICMP
    /// socket can be opened.
    fn open(v6: bool) -> Option<Arc<Family>> {
        let kind = if v6 { "ICMPv6" } else { "ICMP" };
        let opened = open_socket(v6).and_then(|(socket, raw)| {
            socket.set_nonblocking(true)?;
            // A round's replies arrive at once (and a raw socket sees the
            // requests to local addresses too): the default buffer holds a few
            // hundred. The kernel caps this at net.core.rmem_max.
            let _ = socket.set_recv_buffer_size(RECV_BUFFER);
            let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
            Ok((socket, raw))
        });
        match opened {
            Ok((socket, raw)) => {
                debug!(raw, "{kind} echo socket open");
                let family = Arc::new(Family {
                    socket,
                    v6,
                    raw,
                    identifier: fastrand::u16(..),
                    next_sequence: AtomicU16::new(fastrand::u16(..)),
                    waiting: Mutex::new(HashMap::new()),
                });
                tokio::spawn(Arc::clone(&family).read_replies());
                Some(family)
            }
            Err(e) => {
                error!(
                    "cannot open an {kind} socket ({e}); echo checks are not made and change \
                     no verdict (needs root or CAP_NET_RAW, or the group in \
                     net.ipv4.ping_group_range)"
                );
                None
            }
        }
    }

    async fn echo(&self, ip: IpAddr, timeout: Duration) -> Outcome {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let (replied, reply) = oneshot::channel();
        self.waiting().insert((ip, sequence), replied);
        let echo = Echo {
            identifier: self.identifier,
            sequence,
        };
        let request = icmp::request(self.v6, echo, PAYLOAD);
        let outcome = match self.socket.send_to(&request, SocketAddr::new(ip, 0)).await {
            Ok(_) => match tokio::time::timeout(timeout, reply).await {
                Ok(Ok(())) => Outcome::Passed,
                _ => Outcome::Failed,
            },
            Err(e) if unreachable(&e) => Outcome::Failed,
            Err(e) => {
                debug!(%ip, "echo request not sent: {e}");
                Outcome::Unknown
            }
        };
        self.waiting().remove(&(ip, sequence));
        outcome
    }

    /// Hands every echo reply to the check waiting for it, for as long as the
    /// process runs.
    async fn read_replies(self: Arc<Family>) {
        let mut buf = vec![0u8; MAX_PACKET];
        loop {
            let (len, from) = match self.socket.recv_from(&mut buf).await {
                Ok(read) => read,
                Err(e) => {
                    debug!("reading echo replies: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let with_header = self.raw && !self.v6;
            let Some(echo) = buf
                .get(..len)
                .and_then(|p| icmp::reply(p, self.v6, with_header))
            else {
                continue;
            };
            if self.raw && echo.identifier != self.identifier {
                continue;
            }
            if let Some(waiting) = self.waiting().remove(&(from.ip(), echo.sequence)) {
                let _ = waiting.send(());
            }
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<(IpAddr, u16), oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A datagram ICMP socket, else a raw one (true).
fn open_socket(v6: bool) -> io::Result<(Socket, bool)> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(socket) => Ok((socket, false)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Socket::new(domain, Type::RAW, Some(protocol)).map(|socket| (socket, true))
        }
        Err(e) => Err(e),
    }
}

/// Errors that say the address cannot be reached (a verdict), rather than that
/// this host cannot send (no verdict).
pub(crate) fn unreachable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::TimedOut
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_answers_echoes_sent_at_once_through_one_socket() {
        let pinger = Arc::new(Pinger::new());
        let mut echoes = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let pinger = Arc::clone(&pinger);
            echoes.spawn(async move {
                pinger
                    .echo(IpAddr::from([127, 0, 0, 1]), Duration::from_secs(2))
                    .await
            });
        }
        let outcomes: Vec<Outcome> = echoes.join_all().await;
        // Without any ICMP socket (no root, no ping group) nothing can be said.
        let first = outcomes.first().copied();
        assert!(
            matches!(first, Some(Outcome::Passed | Outcome::Unknown)),
            "{outcomes:?}"
        );
        assert!(outcomes.iter().all(|o| Some(*o) == first), "{outcomes:?}");
    }
}
