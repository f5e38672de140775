//! The TCP channel: one connection with queries pipelined over it, each message
//! framed by its two-byte length (RFC 1035 4.2.2, RFC 7766 6.2.1).
//!
//! Sends never wait for replies: framed queries are appended to an output buffer
//! that is written as far as the socket takes it, and replies are read as they
//! come and cut into frames, in whatever order the server sends them (RFC 7766
//! allows out-of-order answers; matching is by ID, as for UDP). A connection the
//! server closes is opened again; what was outstanding on it is lost.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use socket2::{Protocol, Type};

use crate::sockets::{Batch, Channel, Connection, Received, SocketOptions};

/// Bytes waiting to be written beyond which new queries are refused (the server
/// is not reading; the pacer and the outstanding limit retry later).
const OUTPUT_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct TcpChannel {
    server: SocketAddr,
    options: SocketOptions,
    index: usize,
    stream: TcpStream,
    /// The last connection made, until the worker has counted it.
    connected: Option<Connection>,
    output: Vec<u8>,
    input: Vec<u8>,
    chunk: Box<[u8; 65536]>,
}

/// Connection number `index` to `server`, bound as `options` say, and how long
/// it took to make.
fn open(
    server: SocketAddr,
    options: &SocketOptions,
    index: usize,
    reconnect: bool,
) -> io::Result<(TcpStream, Connection)> {
    let socket = options.open(server, Type::STREAM, Protocol::TCP, index)?;
    let start = Instant::now();
    socket.connect(&server.into())?;
    let connection = Connection {
        latency: start.elapsed(),
        reconnect,
    };
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    Ok((TcpStream::from(socket), connection))
}

impl TcpChannel {
    /// Connection number `index` to `server`, bound as `options` say.
    pub(crate) fn connect(
        server: SocketAddr,
        options: &SocketOptions,
        index: usize,
    ) -> io::Result<TcpChannel> {
        let (stream, connection) = open(server, options, index, false)?;
        Ok(TcpChannel {
            server,
            options: *options,
            index,
            stream,
            connected: Some(connection),
            output: Vec::with_capacity(OUTPUT_LIMIT),
            input: Vec::with_capacity(65536),
            chunk: Box::new([0; 65536]),
        })
    }

    /// Writes as much of the output buffer as the socket takes.
    fn flush(&mut self) -> io::Result<()> {
        let mut written = 0;
        while written < self.output.len() {
            match self.stream.write(&self.output[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.drain(..written);
        Ok(())
    }

    fn reconnect(&mut self) -> io::Result<Received> {
        let (stream, connection) = open(self.server, &self.options, self.index, true)?;
        self.stream = stream;
        self.connected = Some(connection);
        self.output.clear();
        self.input.clear();
        Ok(Received::Reset)
    }
}

/// Splits the complete frames off the front of `input`, calling `reply` with each
/// message; returns how many there were and leaves a partial frame in place.
pub(crate) fn take_frames(input: &mut Vec<u8>, reply: &mut dyn FnMut(&[u8])) -> usize {
    let mut at = 0;
    let mut count = 0;
    while let Some(prefix) = input.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let Some(message) = input.get(at + 2..at + 2 + len) else {
            break;
        };
        reply(message);
        count += 1;
        at += 2 + len;
    }
    input.drain(..at);
    count
}

impl Channel for TcpChannel {
    fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    fn connection(&mut self) -> Option<Connection> {
        self.connected.take()
    }

    fn receive(&mut self, reply: &mut dyn FnMut(&[u8])) -> io::Result<Received> {
        self.flush()?;
        loop {
            match self.stream.read(&mut self.chunk[..]) {
                Ok(0) => return self.reconnect(),
                Ok(n) => self.input.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return self.reconnect();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Received::Open(take_frames(&mut self.input, reply)))
    }

    fn send(&mut self, batch: &Batch) -> io::Result<usize> {
        let mut queued = 0;
        for (buf, len) in batch.bufs.iter().zip(&batch.lens).take(batch.count) {
            if self.output.len() >= OUTPUT_LIMIT {
                break;
            }
            let prefix = u16::try_from(*len).unwrap_or(u16::MAX).to_be_bytes();
            self.output.extend_from_slice(&prefix);
            self.output.extend_from_slice(&buf[..*len]);
            queued += 1;
        }
        match self.flush() {
            Ok(()) => Ok(queued),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                // The next receive sees the close and reconnects; these are lost.
                Ok(queued)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_their_length_prefix_and_partials_kept() {
        let mut input = vec![0, 2, b'a', b'b', 0, 1, b'c', 0, 3, b'd'];
        let mut seen = Vec::new();
        let count = take_frames(&mut input, &mut |m: &[u8]| seen.push(m.to_vec()));
        assert_eq!(count, 2);
        assert_eq!(seen, vec![b"ab".to_vec(), b"c".to_vec()]);
        assert_eq!(input, vec![0, 3, b'd'], "the partial frame waits");
        input.extend_from_slice(b"ef");
        assert_eq!(
            take_frames(&mut input, &mut |m: &[u8]| assert_eq!(m, b"def")),
            1
        );
        assert!(input.is_empty());
    }
}
