//! Packet-buffer pools.
//!
//! A [`Mempool`] is a fixed set of mbufs in hugepage memory, created once at
//! start-up for a port's receive queues (and for frames the dataplane builds). It
//! is never freed: mbufs taken from it can be anywhere (in a queue, in a ring
//! between lcores), and a pool freed under one would be a use-after-free. Pools
//! live as long as the process, like the EAL.
// This module calls DPDK (the packet pool): `unsafe` is allowed here, each
// block with its `SAFETY` proof.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::ptr::NonNull;

use crate::eal::Eal;
use crate::error::{DpdkError, describe, last_errno};
use crate::sys;

/// A pool of mbufs. Cheap to copy; every copy names the same pool.
#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    pool: NonNull<sys::rte_mempool>,
}

// SAFETY: DPDK mempools are built for concurrent use: `get`/`put` are lock-free
// and thread-safe (with a per-lcore cache for EAL threads), and the pool itself is
// never freed (see the module documentation), so the pointer stays valid on every
// thread.
unsafe impl Send for Mempool {}
// SAFETY: as above; every operation through a shared `Mempool` is thread-safe.
unsafe impl Sync for Mempool {}

/// How a pool is laid out.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// Unique name (DPDK names are global to the process), at most 25 bytes.
    pub name: String,
    /// Number of mbufs; a power of two minus one is the most memory-efficient.
    pub mbufs: u32,
    /// Mbufs each lcore keeps to itself (at most 512), so most allocations touch
    /// no shared state.
    pub per_lcore_cache: u32,
    /// Bytes of packet room per mbuf, headroom included.
    pub data_room: u16,
    /// NUMA socket to allocate from (`-1` for any).
    pub socket: i32,
}

impl Mempool {
    /// Creates a pool of packet mbufs.
    pub fn create(_eal: &Eal, config: &MempoolConfig) -> Result<Mempool, DpdkError> {
        let error = |reason: String| DpdkError::Mempool {
            name: config.name.clone(),
            mbufs: config.mbufs,
            reason,
        };
        let name = CString::new(config.name.as_str())
            .map_err(|_| error("the name contains a NUL byte".into()))?;
        // SAFETY: EAL is initialised (we hold an `Eal`). `name` is a valid C string
        // that DPDK copies. No private area (0) is requested.
        let pool = unsafe {
            sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                config.mbufs,
                config.per_lcore_cache,
                0,
                config.data_room,
                config.socket,
            )
        };
        NonNull::new(pool)
            .map(|pool| Mempool { pool })
            .ok_or_else(|| error(describe(last_errno())))
    }

    /// Mbufs free in the pool right now (including those in lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of the process.
        unsafe { sys::rte_mempool_avail_count(self.pool.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.pool.as_ptr()
    }
}
