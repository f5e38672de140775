//! The UDP channel: a connected, non-blocking socket moved in batches through
//! [`crate::io`]'s `sendmmsg`/`recvmmsg`.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use crate::io::{BATCH, REPLY_MAX, recv_batch, send_batch};
use crate::worker::{Batch, Channel, Received};

#[derive(Debug)]
pub(crate) struct UdpChannel {
    socket: UdpSocket,
    bufs: Box<[[u8; REPLY_MAX]; BATCH]>,
    lens: [usize; BATCH],
}

impl UdpChannel {
    /// A socket on an ephemeral port, connected to `server`.
    pub(crate) fn connect(server: SocketAddr) -> io::Result<UdpChannel> {
        let local: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        Ok(UdpChannel {
            socket,
            bufs: Box::new([[0; REPLY_MAX]; BATCH]),
            lens: [0; BATCH],
        })
    }
}

impl Channel for UdpChannel {
    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn receive(&mut self, reply: &mut dyn FnMut(&[u8])) -> io::Result<Received> {
        let count = recv_batch(self.socket.as_fd(), &mut self.bufs[..], &mut self.lens)?;
        for (buf, len) in self.bufs.iter().zip(&self.lens).take(count) {
            reply(&buf[..(*len).min(REPLY_MAX)]);
        }
        Ok(Received::Open(count))
    }

    fn send(&mut self, batch: &Batch) -> io::Result<usize> {
        send_batch(
            self.socket.as_fd(),
            &batch.bufs[..batch.count],
            &batch.lens[..batch.count],
        )
    }
}
