//! Why a DPDK call failed, in words an operator can act on.
// This module calls DPDK (DPDK's error strings and `rte_errno`): `unsafe` is allowed here, each
// block with its `SAFETY` proof.
#![allow(unsafe_code)]

use std::ffi::CStr;

use crate::sys;

/// What went wrong in the DPDK layer. Every message is one sentence that says what
/// to do when the operator can do something.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error(
        "DPDK needs hugepages and none are reserved: run `ferrodns hugepages` as root (or \
         `systemctl enable --now ferrodns-hugepages`), or add --no-huge to the EAL arguments"
    )]
    NoHugepages,
    #[error(
        "DPDK needs a hugetlbfs mount and there is none: run `ferrodns hugepages` as root (or \
         `mount -t hugetlbfs nodev /dev/hugepages`), or add --in-memory to the EAL arguments"
    )]
    NoHugetlbfs,
    #[error(
        "DPDK could not use the hugepages (permission denied): run ferrodns as root, after \
         `ferrodns hugepages` has reserved and mounted them"
    )]
    HugepagePermission,
    #[error("DPDK is already initialised in this process; it can be initialised only once")]
    AlreadyInitialised,
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    #[error("DPDK EAL initialisation failed: {reason} (EAL arguments: {args})")]
    Eal { args: String, reason: String },
    #[error("no DPDK port named {name:?}; the EAL arguments define these: {available}")]
    NoSuchPort { name: String, available: String },
    #[error("DPDK port {port}: {call} failed: {reason}")]
    Port {
        port: String,
        call: &'static str,
        reason: String,
    },
    #[error("cannot create the DPDK mempool {name:?} of {mbufs} mbufs: {reason}")]
    Mempool {
        name: String,
        mbufs: u32,
        reason: String,
    },
    #[error("cannot launch work on lcore {lcore}: {reason}")]
    Launch { lcore: u32, reason: String },
    #[error("cannot configure the kernel interface {interface} (`{command}`): {reason}")]
    KernelInterface {
        interface: String,
        command: String,
        reason: String,
    },
    #[error(
        "the EAL arguments give no worker lcore: list at least two lcores (e.g. -l 0-1); \
         the first runs the exception path, each other one polls a queue pair"
    )]
    NoWorkerLcore,
    #[error("the DPDK thread ended before it was ready")]
    ThreadGone,
    #[error("cannot set up the queues to the forwarder: {0}")]
    PuntQueues(String),
    #[error("{0} must be called on the EAL main lcore, the thread that initialised DPDK")]
    NotMainLcore(&'static str),
}

/// DPDK's text for an error number (`rte_errno` or a negative return value).
pub(crate) fn describe(errno: i32) -> String {
    let errno = errno.saturating_abs();
    // SAFETY: `rte_strerror` accepts any integer and returns a pointer to a
    // NUL-terminated string that is either static or in a per-lcore buffer that
    // stays valid until the next call on this thread; it is copied at once.
    let text = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) };
    format!("{} (errno {errno})", text.to_string_lossy())
}

/// `rte_errno` of the calling thread.
pub(crate) fn last_errno() -> i32 {
    // SAFETY: reads a thread-local integer; no pointers involved.
    unsafe { sys::ferrodns_errno() }
}
