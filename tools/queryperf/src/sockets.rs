//! Kernel sockets as a worker's [`Transport`]: each flow is one [`Channel`], a
//! UDP socket ([`crate::udp`]) or a TCP connection ([`crate::tcp`]), opened
//! with dnsperf's socket options (`-a`, `-x`, `-b`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::io::{QUERY_MAX, wait_readable};
use crate::query::QueryTemplate;
use crate::worker::{Arrival, BATCH, Outgoing, Transport};

/// Queries built for one send call.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) bufs: Box<[[u8; QUERY_MAX]; BATCH]>,
    pub(crate) lens: [usize; BATCH],
    pub(crate) count: usize,
}

/// What a receive call saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// The channel is open; this many messages arrived.
    Open(usize),
    /// The peer closed the connection (TCP); the channel has reconnected and the
    /// queries outstanding on it are lost.
    Reset,
}

/// A connection made to the server (TCP), for dnsperf's connection statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Connection {
    /// How long `connect` took.
    pub(crate) latency: Duration,
    /// Made again after the server closed the last one.
    pub(crate) reconnect: bool,
}

/// A socket or connection to the server.
pub(crate) trait Channel {
    fn fd(&self) -> BorrowedFd<'_>;
    /// The connection made since the last call, if any (TCP).
    fn connection(&mut self) -> Option<Connection> {
        None
    }
    /// Takes the replies that have arrived, without blocking, calling `reply` with
    /// each message.
    fn receive(&mut self, reply: &mut dyn FnMut(&[u8])) -> io::Result<Received>;
    /// Sends the front of `batch` without blocking; returns how many went (or were
    /// queued to go) out.
    fn send(&mut self, batch: &Batch) -> io::Result<usize>;
}

/// How the sockets are opened: dnsperf's `-a`, `-x` and `-b`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketOptions {
    /// Local address to bind (`-a`).
    pub(crate) local: Option<IpAddr>,
    /// Local port of the first socket (`-x`); socket `i` binds `port + i`.
    pub(crate) port: Option<u16>,
    /// Send and receive buffer size in bytes (`-b`).
    pub(crate) buffer: Option<usize>,
}

impl SocketOptions {
    /// A socket of `kind` for talking to `server`, bound as the options say for
    /// socket number `index`.
    pub(crate) fn open(
        &self,
        server: SocketAddr,
        kind: Type,
        protocol: Protocol,
        index: usize,
    ) -> io::Result<Socket> {
        let socket = Socket::new(Domain::for_address(server), kind, Some(protocol))?;
        if let Some(bytes) = self.buffer {
            socket.set_send_buffer_size(bytes)?;
            socket.set_recv_buffer_size(bytes)?;
        }
        if self.port.is_some() && kind == Type::STREAM {
            // A reconnection binds the same port while the old one waits out
            // TIME_WAIT.
            socket.set_reuse_address(true)?;
        }
        if self.local.is_some() || self.port.is_some() {
            let ip = self.local.unwrap_or(match server {
                SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            });
            let port = match self.port {
                Some(first) => u16::try_from(usize::from(first) + index).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "-x plus -c exceeds port 65535")
                })?,
                None => 0,
            };
            socket.bind(&SockAddr::from(SocketAddr::new(ip, port)))?;
        }
        Ok(socket)
    }
}

/// A worker's channels, one flow each.
#[derive(Debug)]
pub(crate) struct Sockets<C> {
    channels: Vec<C>,
    batch: Batch,
    queries: Arc<Vec<QueryTemplate>>,
    /// `false` with `--drop-answers`: replies stay in the kernel's buffers.
    read_replies: bool,
}

impl<C: Channel> Sockets<C> {
    pub(crate) fn new(
        channels: Vec<C>,
        queries: Arc<Vec<QueryTemplate>>,
        read_replies: bool,
    ) -> Sockets<C> {
        Sockets {
            channels,
            batch: Batch {
                bufs: Box::new([[0; QUERY_MAX]; BATCH]),
                lens: [0; BATCH],
                count: 0,
            },
            queries,
            read_replies,
        }
    }
}

impl<C: Channel> Transport for Sockets<C> {
    type Stamp = Instant;

    fn flows(&self) -> usize {
        self.channels.len()
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn receive(&mut self, arrival: &mut dyn FnMut(Arrival<'_, Instant>)) -> io::Result<usize> {
        if !self.read_replies {
            return Ok(0);
        }
        let mut moved = 0;
        for (flow, channel) in self.channels.iter_mut().enumerate() {
            if let Some(connection) = channel.connection() {
                arrival(Arrival::Connected(connection));
            }
            loop {
                let at = Instant::now();
                let mut reply = |message: &[u8]| arrival(Arrival::Reply { flow, message, at });
                match channel.receive(&mut reply)? {
                    Received::Open(0) => break,
                    Received::Open(n) => {
                        moved += n;
                        if n < BATCH {
                            break;
                        }
                    }
                    Received::Reset => {
                        arrival(Arrival::Reset { flow });
                        break;
                    }
                }
            }
        }
        Ok(moved)
    }

    fn send(&mut self, flow: usize, queries: &[Outgoing]) -> io::Result<usize> {
        let Some(channel) = self.channels.get_mut(flow) else {
            return Ok(0);
        };
        let batch = &mut self.batch;
        batch.count = 0;
        for (query, (buf, len)) in queries
            .iter()
            .zip(batch.bufs.iter_mut().zip(&mut batch.lens))
        {
            let Some(template) = self.queries.get(query.query as usize) else {
                break;
            };
            *len = template.write(query.id, buf);
            batch.count += 1;
        }
        channel.send(batch)
    }

    fn idle(&mut self, timeout: Duration) -> io::Result<()> {
        if !self.read_replies {
            // The sockets stay readable once a reply is left unread.
            std::thread::sleep(timeout);
            return Ok(());
        }
        let fds: Vec<BorrowedFd<'_>> = self.channels.iter().map(Channel::fd).collect();
        wait_readable(&fds, timeout)
    }
}
