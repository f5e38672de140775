//! One packet buffer, owned.
//!
//! An [`Mbuf`] is a received frame or one we build; dropping it returns it to its
//! pool. The dataplane reads and rewrites a frame in place through
//! [`Mbuf::room_mut`]: the frame's bytes followed by the free room after them, so
//! an answer longer than its query fits in the same buffer, and
//! [`Mbuf::set_len`] then says how long the frame has become.
//!
//! Only single-segment mbufs that nobody else references can be written: a
//! multi-segment frame (a jumbo frame spread over buffers) or a shared one
//! (reference count above one, indirect, or external memory) gets no mutable view.
//! DNS queries always fit one segment.
// This module calls DPDK (mbuf allocation, data pointers and flags): `unsafe` is allowed here, each
// block with its `SAFETY` proof.
#![allow(unsafe_code)]

use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::mempool::Mempool;
use crate::port::MAX_BURST;
use crate::sys;

/// An owned packet buffer.
#[derive(Debug)]
pub struct Mbuf {
    mbuf: NonNull<sys::rte_mbuf>,
}

// SAFETY: an `Mbuf` is the only handle to its buffer (it is created from a buffer
// a queue or pool handed over, and given back on send or drop), so moving it to
// another thread moves the ownership; mempool `put` is thread-safe.
unsafe impl Send for Mbuf {}

/// Checksum work a port does on transmit, as mbuf flags and header lengths (see
/// [`Mbuf::request_checksum_offload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOffload {
    pub(crate) flags: u64,
}

impl Mbuf {
    /// Takes a buffer from `pool`; `None` when it is empty.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the life of the process; the returned mbuf
        // (if any) is fresh, with reference count one, and now ours.
        let mbuf = unsafe { sys::ferrodns_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(mbuf).map(|mbuf| Mbuf { mbuf })
    }

    /// Takes `count` buffers (at most [`MAX_BURST`]) from `pool` in one call and
    /// appends them to `out`, without growing it past its capacity: all of them
    /// or, when the pool (or `out`'s room) is short, none. A traffic generator
    /// fills a transmit burst this way, at a fraction of the cost of one
    /// [`Mbuf::alloc`] per frame.
    pub fn alloc_bulk(pool: &Mempool, out: &mut Vec<Mbuf>, count: usize) -> bool {
        if count == 0 {
            return true;
        }
        if count > MAX_BURST || out.capacity() - out.len() < count {
            return false;
        }
        let mut raw = [ptr::null_mut::<sys::rte_mbuf>(); MAX_BURST];
        // SAFETY: the pool is valid for the life of the process; `raw` has room
        // for `count <= MAX_BURST` pointers. On success every one of them is a
        // fresh mbuf (reference count one) that is now ours; on failure none is
        // taken.
        let rc = unsafe {
            sys::ferrodns_pktmbuf_alloc_bulk(pool.as_ptr(), raw.as_mut_ptr(), count as u32)
        };
        if rc != 0 {
            return false;
        }
        for &mbuf in raw.iter().take(count) {
            if let Some(mbuf) = NonNull::new(mbuf) {
                out.push(Mbuf { mbuf });
            }
        }
        true
    }

    /// Wraps a buffer a DPDK call has just handed over.
    ///
    /// # Safety
    /// `mbuf` must be a valid mbuf that nobody else will use or free.
    pub(crate) unsafe fn from_raw(mbuf: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf { mbuf }
    }

    /// The raw pointer, still owned by `self`.
    pub(crate) fn as_raw(&self) -> *mut sys::rte_mbuf {
        self.mbuf.as_ptr()
    }

    /// Gives up ownership, for a DPDK call that took the buffer.
    pub(crate) fn into_raw(self) -> *mut sys::rte_mbuf {
        let raw = self.mbuf.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// The header fields this module uses, read through the raw pointer: no
    /// reference to the whole header is formed, since another holder of a shared
    /// mbuf may be updating its reference count meanwhile.
    fn fields(&self) -> Fields {
        let mbuf = self.mbuf.as_ptr();
        // SAFETY: we hold a valid mbuf. These fields are written only by the mbuf's
        // owner (us) or, for a shared mbuf, are immutable while it is shared; each
        // is read by value, creating no reference.
        unsafe {
            Fields {
                buf_addr: (*mbuf).buf_addr.cast::<u8>(),
                data_off: (*mbuf).data_off,
                data_len: (*mbuf).data_len,
                buf_len: (*mbuf).buf_len,
                nb_segs: (*mbuf).nb_segs,
                ol_flags: (*mbuf).ol_flags,
            }
        }
    }

    /// Length of the frame (first segment).
    pub fn len(&self) -> usize {
        usize::from(self.fields().data_len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Offset of the frame in the buffer, and the buffer's length.
    fn bounds(&self) -> (usize, usize) {
        let fields = self.fields();
        (usize::from(fields.data_off), usize::from(fields.buf_len))
    }

    /// The frame's bytes (first segment only).
    pub fn data(&self) -> &[u8] {
        let (offset, buf_len) = self.bounds();
        let len = self.len().min(buf_len.saturating_sub(offset));
        let base = self.fields().buf_addr;
        if base.is_null() {
            return &[];
        }
        // SAFETY: `buf_addr` points to a buffer of `buf_len` bytes owned by this
        // mbuf; `offset + len <= buf_len` by the `min` above. Reading is allowed
        // even when the buffer is shared.
        unsafe { slice::from_raw_parts(base.add(offset), len) }
    }

    /// The frame's bytes followed by the free room after them, to rewrite the frame
    /// in place; `None` for a multi-segment or shared buffer.
    pub fn room_mut(&mut self) -> Option<&mut [u8]> {
        if !self.is_exclusive_single_segment() {
            return None;
        }
        let (offset, buf_len) = self.bounds();
        let room = buf_len.checked_sub(offset)?;
        let base = self.fields().buf_addr;
        if base.is_null() {
            return None;
        }
        // SAFETY: `buf_addr` points to `buf_len` bytes that belong to this mbuf;
        // `offset + room == buf_len`. The buffer is ours alone (one segment,
        // reference count one, not indirect or external, checked above) and `&mut
        // self` is held for the slice's life, so nobody else reads or writes it.
        Some(unsafe { slice::from_raw_parts_mut(base.add(offset), room) })
    }

    /// Sets the frame's length after it was rewritten through [`Mbuf::room_mut`].
    /// Returns `false`, changing nothing, when `len` exceeds the room.
    pub fn set_len(&mut self, len: usize) -> bool {
        let (offset, buf_len) = self.bounds();
        let fits = offset.checked_add(len).is_some_and(|end| end <= buf_len);
        let (Ok(data_len), Ok(pkt_len), true) = (u16::try_from(len), u32::try_from(len), fits)
        else {
            return false;
        };
        if !self.is_exclusive_single_segment() {
            return false;
        }
        // SAFETY: we own the mbuf exclusively (`&mut self`, checked above) and set
        // two plain length fields to a value that fits the buffer.
        let header = unsafe { self.mbuf.as_mut() };
        header.data_len = data_len;
        header.pkt_len = pkt_len;
        true
    }

    /// Asks the port to fill in checksums on transmit: `l2_len` and `l3_len` are
    /// the Ethernet (with VLAN tags) and IP header lengths. The caller has already
    /// written what the offload expects into the headers (zero IPv4 checksum, the
    /// pseudo-header sum in the UDP checksum).
    pub fn request_checksum_offload(&mut self, offload: TxOffload, l2_len: u16, l3_len: u16) {
        // SAFETY: we own the mbuf; the shim sets the offload flags and the
        // `l2_len`/`l3_len` bit-fields, nothing else.
        unsafe {
            sys::ferrodns_mbuf_set_tx_offload(self.mbuf.as_ptr(), offload.flags, l2_len, l3_len)
        }
    }

    /// Hints the CPU to fetch the frame's first cache line, ahead of parsing it.
    #[inline]
    pub fn prefetch(&self) {
        prefetch(self.data().as_ptr());
    }

    fn is_exclusive_single_segment(&self) -> bool {
        let fields = self.fields();
        let shared_memory =
            fields.ol_flags & (sys::RTE_MBUF_F_INDIRECT | sys::RTE_MBUF_F_EXTERNAL) != 0;
        // SAFETY: `refcnt` is a naturally aligned u16 inside the live header; other
        // holders of a shared mbuf update it atomically, so it is read atomically.
        let refcnt =
            unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.mbuf.as_ptr()).refcnt)) }
                .load(Ordering::Acquire);
        fields.nb_segs == 1 && refcnt == 1 && !shared_memory
    }
}

/// A copy of the header fields [`Mbuf`] reads.
#[derive(Clone, Copy)]
struct Fields {
    buf_addr: *mut u8,
    data_off: u16,
    data_len: u16,
    buf_len: u16,
    nb_segs: u16,
    ol_flags: u64,
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and give it back exactly once.
        unsafe { sys::ferrodns_pktmbuf_free(self.mbuf.as_ptr()) }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn prefetch(address: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint: it never faults, whatever the address, and
    // SSE is part of the x86_64 baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn prefetch(_address: *const u8) {}
