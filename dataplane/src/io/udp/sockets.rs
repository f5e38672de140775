//! Opening the workers' sockets: one per worker and listen address, all bound
//! with `SO_REUSEPORT` to the same address so the kernel spreads clients across
//! workers.
//!
//! - Each address is first bound by a probe socket *without* `SO_REUSEPORT`: that
//!   fails if any socket holds the address, so a second server (of the same user,
//!   whose reuseport sockets would otherwise join ours and silently take a share of
//!   the queries) is refused at start, naming the address. For port 0 the probe
//!   gets a free port that every worker then binds: the kernel's own choice for a
//!   reuseport socket may be a port another reuseport group already holds.
//! - Each socket gets a receive buffer of [`RECV_BUFFER`], and a socket bound to
//!   a wildcard address asks for each query's destination, so its reply can leave
//!   from the address the client asked.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::batches;

/// Each socket's receive buffer: room for a few thousand queries, so that a burst
/// arriving while the worker answers the previous one is queued rather than
/// dropped (the kernel's default, 208 KiB, holds a few hundred). Set with
/// `SO_RCVBUFFORCE` where the process may (`CAP_NET_ADMIN`), else with `SO_RCVBUF`,
/// which the kernel caps at `net.core.rmem_max`.
const RECV_BUFFER: usize = 4 << 20;

/// Every worker's sockets, `[worker][address]`, and the addresses they are bound
/// to (with the port chosen for port 0).
pub(super) type Opened = (Vec<Vec<UdpSocket>>, Vec<SocketAddr>);

/// Opens the sockets of `workers` workers on every address of `listen`.
pub(super) fn open_all(listen: &[SocketAddr], workers: usize) -> io::Result<Opened> {
    let mut per_worker: Vec<Vec<UdpSocket>> = (0..workers)
        .map(|_| Vec::with_capacity(listen.len()))
        .collect();
    let mut local_addrs = Vec::with_capacity(listen.len());
    for &requested in listen {
        let addr = exclusive_probe(requested)?;
        for sockets in &mut per_worker {
            sockets.push(open(addr)?);
        }
        local_addrs.push(addr);
    }
    Ok((per_worker, local_addrs))
}

/// Binds `addr` with a socket *without* `SO_REUSEPORT` and returns the address it
/// got (see the module docs). The probe is closed before the workers bind.
fn exclusive_probe(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = UdpSocket::bind(addr).map_err(|e| bind_error(addr, e))?;
    probe.local_addr()
}

fn bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}"))
}

/// One worker's socket on `addr`: `SO_REUSEPORT`, IPv6-only for IPv6,
/// non-blocking, a receive buffer of [`RECV_BUFFER`], and asking for each query's
/// destination when bound to a wildcard address.
pub(super) fn open(addr: SocketAddr) -> io::Result<UdpSocket> {
    let setup = |e: io::Error| io::Error::new(e.kind(), format!("UDP socket for {addr}: {e}"));
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(setup)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(setup)?;
    }
    socket.set_reuse_port(true).map_err(setup)?;
    socket.set_nonblocking(true).map_err(setup)?;
    enlarge_recv_buffer(&socket).map_err(setup)?;
    if addr.ip().is_unspecified() {
        batches::ask_destination(&socket, addr.is_ipv6()).map_err(setup)?;
    }
    socket.bind(&addr.into()).map_err(|e| bind_error(addr, e))?;
    Ok(socket.into())
}

fn enlarge_recv_buffer(socket: &Socket) -> io::Result<()> {
    if batches::force_recv_buffer(socket, RECV_BUFFER).is_ok() {
        return Ok(());
    }
    // Without CAP_NET_ADMIN: as much as `net.core.rmem_max` allows.
    socket.set_recv_buffer_size(RECV_BUFFER)
}
