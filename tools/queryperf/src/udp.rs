//! The UDP channel: a connected, non-blocking socket moved in batches through
//! [`crate::io`]'s `sendmmsg`/`recvmmsg`.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Protocol, Type};

use crate::io::{BATCH, REPLY_MAX, recv_batch, send_batch};
use crate::sockets::{Batch, Channel, Received, SocketOptions};

#[derive(Debug)]
pub(crate) struct UdpChannel {
    socket: UdpSocket,
    bufs: Box<[[u8; REPLY_MAX]; BATCH]>,
    lens: [usize; BATCH],
}

impl UdpChannel {
    /// Socket number `index`, bound as `options` say (an ephemeral port by
    /// default), connected to `server`.
    pub(crate) fn connect(
        server: SocketAddr,
        options: &SocketOptions,
        index: usize,
    ) -> io::Result<UdpChannel> {
        let socket = options.open(server, Type::DGRAM, Protocol::UDP, index)?;
        socket.connect(&server.into())?;
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from(socket);
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
