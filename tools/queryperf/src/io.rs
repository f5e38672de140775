//! The system calls of the UDP hot path: `sendmmsg`, `recvmmsg` and `poll`.
//!
//! This is the only module with `unsafe` code. One `sendmmsg` moves a whole batch
//! of queries into the kernel and one `recvmmsg` takes a whole batch of replies
//! out, which is what lets one core offer several times what a one-message-per-
//! syscall client (dnsperf's thread) can. The sockets are connected, so no message
//! carries an address. Every call is non-blocking: a full socket buffer or an
//! empty receive queue returns zero messages, and the caller decides whether to
//! `poll`.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Messages per `sendmmsg`/`recvmmsg` call: the worker's batch.
pub(crate) use crate::worker::BATCH;
/// Room for the largest query queryperf builds (header, 255-byte name, question
/// tail, OPT record).
pub(crate) const QUERY_MAX: usize = 512;
/// Room for one reply: the EDNS payload size queryperf advertises.
pub(crate) const REPLY_MAX: usize = 4096;

/// Errors that mean "nothing moved this time" rather than failure: the socket
/// would block, a signal interrupted the call, or an ICMP port unreachable from
/// an earlier datagram was reported (the queries it concerns count as lost).
fn nothing_moved(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
    )
}

/// Sends `bufs[i][..lens[i]]` for each `i` (at most [`BATCH`]) on the connected
/// socket `fd`; returns how many went out (from the front).
pub(crate) fn send_batch(
    fd: BorrowedFd<'_>,
    bufs: &[[u8; QUERY_MAX]],
    lens: &[usize],
) -> io::Result<usize> {
    let count = bufs.len().min(lens.len()).min(BATCH);
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: iovec and mmsghdr are plain C structs for which all-zero bytes (null
    // pointers, zero lengths) are valid values.
    let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..count {
        let len = lens[i].min(QUERY_MAX);
        iovecs[i].iov_base = bufs[i].as_ptr() as *mut libc::c_void;
        iovecs[i].iov_len = len;
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `headers[..count]` each point at one iovec in `iovecs`, which points
    // into `bufs[i]` with a length within the buffer; all of them outlive the call,
    // and the kernel only reads from the buffers. `count` <= BATCH fits in c_uint.
    let sent = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent < 0 {
        let error = io::Error::last_os_error();
        return if nothing_moved(&error) {
            Ok(0)
        } else {
            Err(error)
        };
    }
    Ok(sent as usize)
}

/// Receives up to `bufs.len()` (at most [`BATCH`]) datagrams from `fd` without
/// blocking; message `i` lands in `bufs[i]` and its length in `lens[i]`. Returns
/// how many arrived.
pub(crate) fn recv_batch(
    fd: BorrowedFd<'_>,
    bufs: &mut [[u8; REPLY_MAX]],
    lens: &mut [usize],
) -> io::Result<usize> {
    let count = bufs.len().min(lens.len()).min(BATCH);
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: all-zero iovec and mmsghdr values are valid (see send_batch).
    let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, buf) in bufs.iter_mut().take(count).enumerate() {
        iovecs[i].iov_base = buf.as_mut_ptr().cast();
        iovecs[i].iov_len = REPLY_MAX;
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: each of `headers[..count]` points at one iovec describing the whole of
    // a distinct `bufs[i]`, which we borrow mutably for the duration of the call;
    // the kernel writes at most `iov_len` bytes into each and the datagram lengths
    // into `msg_len`. The timeout pointer may be null.
    let received = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        let error = io::Error::last_os_error();
        return if nothing_moved(&error) {
            Ok(0)
        } else {
            Err(error)
        };
    }
    let received = received as usize;
    for (len, header) in lens.iter_mut().zip(&headers[..received]) {
        *len = header.msg_len as usize;
    }
    Ok(received)
}

/// Waits until one of `fds` is readable or `timeout` passes.
pub(crate) fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<()> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = timeout.as_millis().clamp(0, 1000) as libc::c_int;
    // SAFETY: `polls` is a live, initialised array of `polls.len()` pollfd structs
    // that the kernel may write `revents` into.
    let ready = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, millis) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    Ok(())
}
