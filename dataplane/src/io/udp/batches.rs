//! The kernel calls of the UDP backend: a worker's batch of datagram slots, moved
//! in and out with `recvmmsg(2)` / `sendmmsg(2)`, the `poll(2)` that waits for
//! them, and the two socket options that shape what `recvmmsg` delivers (a
//! larger receive buffer, each query's destination address).
//!
//! This is the only file of the crate with `unsafe` code: every call here hands
//! the kernel raw pointers. The rest of the backend sees safe methods. The
//! invariant every proof below rests on: each pointer handed to the kernel is
//! derived, right before the call, from a fresh borrow of a buffer the [`Batch`]
//! owns for the worker's whole life, with a length that is that buffer's length,
//! and the kernel keeps no pointer once the call returns.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;

use socket2::Socket;

use super::pktinfo::{self, CONTROL_LEN, Control};
use crate::io::punt::Dest;

/// Room for one datagram: queries larger than this are dropped (a DNS query is a
/// header, one question and an OPT record), and answers never exceed the engine's
/// UDP limit, well below it.
const SLOT_LEN: usize = 4096;

/// Per-datagram facts kept between receiving, answering and sending.
#[derive(Debug, Clone, Copy, Default)]
struct SlotMeta {
    /// Length of the reply in the slot's buffer; 0 for no reply.
    reply_len: usize,
    /// Length of the client's address in the slot's `sockaddr_storage`.
    namelen: libc::socklen_t,
    /// The query's destination, for wildcard sockets.
    dest: Option<Dest>,
}

/// Everything a batch needs, allocated once per worker: `capacity` datagram
/// buffers and, for each, its `mmsghdr`, `iovec`, client address and control
/// buffer.
///
/// The `mmsghdr`s and `iovec`s hold raw pointers into the other arrays. They are
/// rewritten by `prepare_recv` / [`Batch::prepare_send`] right before each system
/// call, derived from fresh borrows of those arrays, so no pointer outlives the
/// borrow it came from.
pub(super) struct Batch {
    bufs: Box<[u8]>,
    hdrs: Box<[libc::mmsghdr]>,
    iovs: Box<[libc::iovec]>,
    addrs: Box<[libc::sockaddr_storage]>,
    controls: Box<[Control]>,
    meta: Box<[SlotMeta]>,
}

/// One received datagram, to be answered in place.
pub(super) struct Datagram<'a> {
    /// The slot's whole buffer: the query, then room for an answer written over it.
    pub(super) buf: &'a mut [u8],
    /// Length of the query.
    pub(super) len: usize,
    /// The sender, `None` from an address family we cannot read.
    pub(super) client: Option<SocketAddr>,
    /// The datagram was longer than the slot and was cut.
    pub(super) truncated: bool,
    /// Where the query was sent, on a wildcard socket.
    pub(super) dest: Option<Dest>,
    meta: &'a mut SlotMeta,
}

impl Datagram<'_> {
    /// Sends `buf[..len]` back to the client with the batch's replies.
    pub(super) fn reply(&mut self, len: usize) {
        self.meta.reply_len = len;
    }
}

impl Batch {
    pub(super) fn new(capacity: usize) -> Batch {
        // SAFETY: `mmsghdr` and `sockaddr_storage` are plain C structs of integers
        // and raw pointers; all zeroes is a valid value of each (null pointers,
        // zero lengths, AF_UNSPEC).
        let (hdr, addr) = unsafe {
            (
                std::mem::zeroed::<libc::mmsghdr>(),
                std::mem::zeroed::<libc::sockaddr_storage>(),
            )
        };
        let iov = libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        Batch {
            bufs: vec![0u8; capacity * SLOT_LEN].into_boxed_slice(),
            hdrs: vec![hdr; capacity].into_boxed_slice(),
            iovs: vec![iov; capacity].into_boxed_slice(),
            addrs: vec![addr; capacity].into_boxed_slice(),
            controls: vec![Control::default(); capacity].into_boxed_slice(),
            meta: vec![SlotMeta::default(); capacity].into_boxed_slice(),
        }
    }

    /// Datagrams per batch.
    pub(super) fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Receives up to a batch from `fd` without waiting (with each datagram's
    /// destination when `pktinfo`) and returns how many came.
    pub(super) fn receive(&mut self, fd: RawFd, pktinfo: bool) -> io::Result<usize> {
        self.prepare_recv(pktinfo);
        let hdrs = &mut self.hdrs;
        // SAFETY: `hdrs` is a live, exclusively borrowed array of `hdrs.len()`
        // `mmsghdr`s (`vlen` is that length, at most `MAX_BATCH`). `prepare_recv`
        // just pointed each one at a distinct `SLOT_LEN`-byte chunk of `bufs`
        // (`iov_len` = the chunk's length), a distinct `sockaddr_storage` (with
        // `msg_namelen` = its size) and, or else null, a distinct `CONTROL_LEN`-byte
        // control buffer; all of those are owned by `self` and not otherwise
        // borrowed during the call. The kernel writes only within those lengths and
        // keeps no pointer after returning. `MSG_DONTWAIT` and a null timeout make
        // the call return at once.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        counted(rc)
    }

    /// Points every `mmsghdr` at its whole buffer, address and (if `pktinfo`)
    /// control buffer, ready for `recvmmsg`.
    fn prepare_recv(&mut self, pktinfo: bool) {
        let slots = self
            .hdrs
            .iter_mut()
            .zip(self.iovs.iter_mut())
            .zip(self.bufs.chunks_exact_mut(SLOT_LEN))
            .zip(self.addrs.iter_mut())
            .zip(self.controls.iter_mut());
        for ((((hdr, iov), buf), addr), control) in slots {
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = buf.len();
            let msg = &mut hdr.msg_hdr;
            msg.msg_name = ptr::from_mut(addr).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_iov = ptr::from_mut(iov);
            msg.msg_iovlen = 1;
            if pktinfo {
                msg.msg_control = control.0.as_mut_ptr().cast();
                msg.msg_controllen = CONTROL_LEN as _;
            } else {
                msg.msg_control = ptr::null_mut();
                msg.msg_controllen = 0;
            }
            msg.msg_flags = 0;
            hdr.msg_len = 0;
        }
    }

    /// The first `received` datagrams of the last [`receive`](Self::receive),
    /// none of them marked for a reply yet.
    pub(super) fn datagrams(
        &mut self,
        received: usize,
        pktinfo: bool,
    ) -> impl Iterator<Item = Datagram<'_>> {
        self.hdrs
            .iter()
            .zip(self.bufs.chunks_exact_mut(SLOT_LEN))
            .zip(self.addrs.iter())
            .zip(self.controls.iter())
            .zip(self.meta.iter_mut())
            .take(received)
            .map(move |((((hdr, buf), addr), control), meta)| {
                meta.reply_len = 0;
                meta.namelen = hdr.msg_hdr.msg_namelen;
                meta.dest = if pktinfo {
                    let control_len = hdr.msg_hdr.msg_controllen.min(CONTROL_LEN);
                    control.0.get(..control_len).and_then(pktinfo::parse)
                } else {
                    None
                };
                Datagram {
                    buf,
                    len: hdr.msg_len as usize,
                    client: client_addr(addr, meta.namelen),
                    truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                    dest: meta.dest,
                    meta,
                }
            })
    }

    /// Packs the replies of the first `received` slots into the first `mmsghdr`s,
    /// each pointing at its slot's buffer (reply length), client address and, for
    /// wildcard sockets, a control message choosing the source address. Returns
    /// how many replies there are.
    pub(super) fn prepare_send(&mut self, received: usize) -> usize {
        let mut out = 0;
        let slots = self
            .bufs
            .chunks_exact_mut(SLOT_LEN)
            .zip(self.addrs.iter_mut())
            .zip(self.controls.iter_mut())
            .zip(self.meta.iter())
            .take(received);
        for (((buf, addr), control), meta) in slots {
            // `reply_len <= SLOT_LEN` is checked where it is set; the kernel reads
            // `iov_len` bytes from `buf`, so check again rather than trust it.
            if meta.reply_len == 0 || meta.reply_len > buf.len() {
                continue;
            }
            let (Some(hdr), Some(iov)) = (self.hdrs.get_mut(out), self.iovs.get_mut(out)) else {
                break;
            };
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = meta.reply_len;
            let msg = &mut hdr.msg_hdr;
            msg.msg_name = ptr::from_mut(addr).cast();
            msg.msg_namelen = meta.namelen;
            msg.msg_iov = ptr::from_mut(iov);
            msg.msg_iovlen = 1;
            let control_len = meta
                .dest
                .map_or(0, |dest| pktinfo::write(&mut control.0, dest));
            if control_len == 0 {
                msg.msg_control = ptr::null_mut();
                msg.msg_controllen = 0;
            } else {
                msg.msg_control = control.0.as_mut_ptr().cast();
                msg.msg_controllen = control_len as _;
            }
            msg.msg_flags = 0;
            hdr.msg_len = 0;
            out += 1;
        }
        out
    }

    /// Sends the prepared replies `pending` (indexes into what
    /// [`prepare_send`](Self::prepare_send) counted) on `fd` without waiting, and
    /// returns how many the kernel took.
    pub(super) fn send(&mut self, fd: RawFd, pending: Range<usize>) -> io::Result<usize> {
        let Some(pending) = self.hdrs.get_mut(pending) else {
            return Ok(0);
        };
        // SAFETY: `pending` is a live, exclusively borrowed run of `mmsghdr`s and
        // `vlen` is its length. `prepare_send` pointed each at a distinct slot
        // buffer with `iov_len` = the reply length (checked to be within the
        // buffer), at the client address the kernel filled in with its length,
        // and at a control buffer holding `msg_controllen` bytes or null. All are
        // owned by `self`, not borrowed elsewhere during the call; the kernel only
        // reads them (and writes `msg_len`) and keeps no pointer after returning.
        let rc = unsafe {
            libc::sendmmsg(
                fd,
                pending.as_mut_ptr(),
                pending.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        counted(rc)
    }
}

/// The client's address from the `sockaddr_storage` `recvmmsg` filled in.
fn client_addr(addr: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: `sockaddr_storage` is at least as large and as aligned as
            // every socket address type, and the kernel wrote a `sockaddr_in` here
            // (family AF_INET, length checked). Reading it by copy creates no
            // reference to the storage.
            let sin = unsafe { ptr::read(ptr::from_ref(addr).cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a `sockaddr_in6` (family AF_INET6, length
            // checked).
            let sin6 = unsafe { ptr::read(ptr::from_ref(addr).cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The count a system call returned, or the error it set.
fn counted(rc: libc::c_int) -> io::Result<usize> {
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// `poll(2)` over `fds`, retrying nothing: `Interrupted` is the caller's to handle.
pub(super) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a live, exclusively borrowed slice of `pollfd` and `nfds` is
    // its length, so the kernel reads and writes (`revents`) only inside it; it
    // keeps no pointer after returning. The descriptors are owned by the caller
    // and open (a closed one would only yield POLLNVAL).
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    counted(rc)
}

/// Sets the socket option `level`/`name` to the integer `value`.
fn set_int_option(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `socket` is an open socket the caller owns; `optval` points to a
    // live `c_int` and `optlen` is exactly its size, which is what the integer
    // options set here (`SO_RCVBUFFORCE`, `IP_PKTINFO`, `IPV6_RECVPKTINFO`) read.
    // The kernel does not keep the pointer.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the receive buffer to `size` bytes past `net.core.rmem_max`
/// (`SO_RCVBUFFORCE`, which needs `CAP_NET_ADMIN`).
pub(super) fn force_recv_buffer(socket: &Socket, size: usize) -> io::Result<()> {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    set_int_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size)
}

/// Asks the kernel for each datagram's destination address (`IP_PKTINFO`,
/// `IPV6_RECVPKTINFO`), which [`Batch::datagrams`] reads back.
pub(super) fn ask_destination(socket: &Socket, ipv6: bool) -> io::Result<()> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    } else {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    };
    set_int_option(socket, level, name, 1)
}
