//! The way back for forwarded answers: the forwarder (on the control plane's
//! tokio threads) sends each answer from a duplicate of the very socket its
//! query came in on, so the answer leaves from the local address and port the
//! client queried, as the workers' own answers do.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use socket2::{MsgHdr, SockAddr, SockRef};

use super::pktinfo::{self, Control};
use crate::io::punt::{PuntReplier, PuntedQuery, ReplyPath};

/// Sends replies to punted queries from the workers' own sockets: each holds a
/// duplicate descriptor of every worker socket. Sends never block: a full send
/// buffer is an error ([`io::ErrorKind::WouldBlock`]).
#[derive(Debug, Clone)]
pub struct UdpReplier {
    /// `sockets[worker][listener]`.
    sockets: Arc<[Box<[UdpSocket]>]>,
}

impl UdpReplier {
    /// Duplicates `sockets[worker][listener]`.
    pub(super) fn new(sockets: &[Vec<UdpSocket>]) -> io::Result<UdpReplier> {
        let sockets = sockets
            .iter()
            .map(|worker| worker.iter().map(UdpSocket::try_clone).collect())
            .collect::<io::Result<Vec<Box<[UdpSocket]>>>>()?;
        Ok(UdpReplier {
            sockets: sockets.into(),
        })
    }

    /// Sends `reply` to `client` the way `path` says the query came in: from
    /// that socket and, on a wildcard socket, from the address the client asked.
    pub fn send(&self, path: &ReplyPath, client: SocketAddr, reply: &[u8]) -> io::Result<()> {
        let socket = self
            .sockets
            .get(usize::from(path.worker))
            .and_then(|worker| worker.get(usize::from(path.listener)))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "reply path names no socket")
            })?;
        let Some(dest) = path.dest else {
            return socket.send_to(reply, client).map(drop);
        };
        let mut control = Control::default();
        let control_len = pktinfo::write(&mut control.0, dest);
        let addr = SockAddr::from(client);
        let bufs = [IoSlice::new(reply)];
        let msg = MsgHdr::new()
            .with_addr(&addr)
            .with_buffers(&bufs)
            .with_control(control.0.get(..control_len).unwrap_or_default());
        SockRef::from(socket)
            .sendmsg(&msg, libc::MSG_DONTWAIT)
            .map(drop)
    }
}

impl PuntReplier for UdpReplier {
    fn reply(&self, query: &PuntedQuery, answer: &[u8]) -> io::Result<()> {
        self.send(&query.path(), query.client(), answer)
    }
}
