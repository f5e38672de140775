//! The Environment Abstraction Layer: DPDK's process-wide start-up, and lcores.
//!
//! [`Eal::init`] runs `rte_eal_init` with the operator's EAL arguments. It can run
//! once per process, and the thread that calls it becomes the *main lcore*: DPDK
//! pins it to the main lcore's core and expects launches of work on the other
//! lcores to come from it. So [`Eal`] is neither `Send` nor `Sync`: it stays on
//! that thread, and only that thread can [`Eal::launch`] closures on worker lcores.
//!
//! Before calling DPDK, `init` checks the two set-up mistakes operators make most
//! (no hugepages reserved, no hugetlbfs mounted) and reports them in one sentence
//! instead of DPDK's page of log lines.
//!
//! The EAL is never torn down (`rte_eal_cleanup` would invalidate every mempool and
//! mbuf still in reach of safe code); its memory returns to the system when the
//! process exits. Ports are stopped and closed when their last handle is dropped
//! (see [`crate::port`]).
// This module calls DPDK (EAL start-up and lcore launches): `unsafe` is allowed here, each
// block with its `SAFETY` proof.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{DpdkError, describe, last_errno};
use crate::sys;

/// Set by the first [`Eal::init`] call, successful or not: DPDK refuses a second
/// `rte_eal_init` even after a failed one.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// A logical core DPDK knows about (an `-l`/`--lcores` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lcore(u32);

impl Lcore {
    pub fn id(self) -> u32 {
        self.0
    }

    /// The NUMA socket of the lcore's core, for allocating its memory nearby.
    pub fn socket(self) -> i32 {
        // SAFETY: plain lookup in EAL's lcore table; any id is accepted (an
        // unknown one gives SOCKET_ID_ANY's value).
        unsafe { sys::rte_lcore_to_socket_id(self.0) as i32 }
    }
}

/// The initialised EAL, owned by the main lcore thread.
#[derive(Debug)]
pub struct Eal {
    main: Lcore,
    /// Keeps `Eal` on the thread that initialised DPDK.
    _main_thread_only: PhantomData<*const ()>,
}

impl Eal {
    /// Initialises DPDK with `args` (the EAL arguments, without a program name) and
    /// makes the calling thread the main lcore.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        check_hugepages(&args)?;
        let mut owned = Vec::with_capacity(args.len() + 1);
        for arg in std::iter::once("ferrodns").chain(args.iter().copied()) {
            owned.push(CString::new(arg).map_err(|_| DpdkError::BadArgument(arg.to_owned()))?);
        }
        if INITIALISED.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::AlreadyInitialised);
        }
        // DPDK may permute argv while parsing, so it gets a copy of the pointers;
        // the strings themselves (`owned`) outlive the call and are never freed,
        // since DPDK may keep pointers into them (e.g. `--vdev` arguments).
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(argv.len()).map_err(|_| DpdkError::Eal {
            args: args.join(" "),
            reason: "too many arguments".into(),
        })?;
        // SAFETY: `argv` holds `argc` valid pointers to NUL-terminated strings, each
        // alive for the rest of the process (`owned` is leaked below). DPDK only
        // reorders the pointer array and reads the strings. `INITIALISED` ensures
        // this runs once per process, as DPDK requires.
        let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        std::mem::forget(owned);
        if rc < 0 {
            let errno = last_errno();
            return Err(match errno {
                EACCES => DpdkError::HugepagePermission,
                _ => DpdkError::Eal {
                    args: args.join(" "),
                    reason: describe(errno),
                },
            });
        }
        // SAFETY: EAL is initialised; this reads its configuration.
        let main = Lcore(unsafe { sys::rte_get_main_lcore() });
        Ok(Eal {
            main,
            _main_thread_only: PhantomData,
        })
    }

    /// The lcore of the thread that called [`Eal::init`].
    pub fn main_lcore(&self) -> Lcore {
        self.main
    }

    /// Every lcore but the main one, in increasing order: where poll loops run.
    pub fn worker_lcores(&self) -> Vec<Lcore> {
        let mut lcores = Vec::new();
        let mut previous: c_uint = u32::MAX;
        loop {
            // SAFETY: iterates EAL's lcore table; `u32::MAX` (-1 as unsigned) starts
            // the walk, `skip_main = 1` leaves out the main lcore, `wrap = 0` ends it
            // with RTE_MAX_LCORE.
            let next = unsafe { sys::rte_get_next_lcore(previous, 1, 0) };
            if next >= sys::RTE_MAX_LCORE {
                return lcores;
            }
            lcores.push(Lcore(next));
            previous = next;
        }
    }

    /// Runs `work` on the worker lcore `lcore`, which must be idle. Returns a handle
    /// to wait for it with [`Eal::wait`].
    pub fn launch<F>(&self, lcore: Lcore, work: F) -> Result<Launched, DpdkError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.ensure_main_lcore("launching work on an lcore")?;
        let job: Box<Job> = Box::new(Box::new(work));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: `run_job` is an `extern "C"` function with the signature DPDK
        // expects. `arg` is a leaked `Box<Job>` that `run_job` takes back exactly
        // once; if the launch fails DPDK never calls it and we take it back here.
        // We are on the main lcore (checked above), as the call requires.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(run_job), arg, lcore.0) };
        if rc != 0 {
            // SAFETY: the launch failed, so DPDK did not take `arg`; reclaiming it
            // here is its only release.
            drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
            return Err(DpdkError::Launch {
                lcore: lcore.0,
                reason: describe(rc),
            });
        }
        Ok(Launched { lcore })
    }

    /// Waits until the work launched on `launched`'s lcore has returned. Returns
    /// `false` when it panicked.
    pub fn wait(&self, launched: Launched) -> Result<bool, DpdkError> {
        self.ensure_main_lcore("waiting for an lcore")?;
        // SAFETY: called on the main lcore for an lcore we launched work on.
        let rc = unsafe { sys::rte_eal_wait_lcore(launched.lcore.0) };
        Ok(rc == 0)
    }

    fn ensure_main_lcore(&self, what: &'static str) -> Result<(), DpdkError> {
        // SAFETY: reads the calling thread's per-lcore id.
        let current = unsafe { sys::ferrodns_lcore_id() };
        if current == self.main.0 {
            Ok(())
        } else {
            Err(DpdkError::NotMainLcore(what))
        }
    }
}

/// Work running on a worker lcore; give it to [`Eal::wait`].
#[derive(Debug)]
#[must_use = "an lcore's work must be waited for before the lcore is reused"]
pub struct Launched {
    lcore: Lcore,
}

impl Launched {
    pub fn lcore(&self) -> Lcore {
        self.lcore
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The lcore entry point: runs one [`Job`]. A panic must not unwind into DPDK's C
/// frames, so it is caught and reported as a non-zero return.
///
/// # Safety
/// `arg` must be a pointer made by `Box::into_raw` from a `Box<Job>` that nothing
/// else owns or frees, and each such pointer must be passed to one call only:
/// [`Eal::launch`] leaks one per launch and DPDK hands it to this function once.
unsafe extern "C" fn run_job(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Box<Job>` leaked by `Eal::launch` for this launch only;
    // DPDK passes it to exactly one call of this function.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// `EACCES`: what `rte_eal_init` sets when it cannot use the hugepages.
const EACCES: i32 = 13;

/// Fails early, with a sentence saying what to do, when DPDK would fail for want
/// of hugepages. `--no-huge` needs none; `--in-memory` needs no hugetlbfs mount.
fn check_hugepages(args: &[&str]) -> Result<(), DpdkError> {
    if args.contains(&"--no-huge") {
        return Ok(());
    }
    if reserved_hugepages(Path::new("/sys/kernel/mm/hugepages")) == 0 {
        return Err(DpdkError::NoHugepages);
    }
    let in_memory = args.contains(&"--in-memory");
    if !in_memory
        && !hugetlbfs_mounted(&std::fs::read_to_string("/proc/mounts").unwrap_or_default())
    {
        return Err(DpdkError::NoHugetlbfs);
    }
    Ok(())
}

/// Hugepages reserved, of every size, from `hugepages-*/nr_hugepages` under `dir`.
fn reserved_hugepages(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("nr_hugepages")).ok())
        .filter_map(|text| text.trim().parse::<u64>().ok())
        .sum()
}

/// Whether `/proc/mounts` text lists a hugetlbfs mount.
fn hugetlbfs_mounted(mounts: &str) -> bool {
    mounts
        .lines()
        .any(|line| line.split_whitespace().nth(2) == Some("hugetlbfs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugetlbfs_mount_is_found_in_proc_mounts() {
        let mounts = "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw,pagesize=2M 0 0\n";
        assert!(hugetlbfs_mounted(mounts));
        assert!(!hugetlbfs_mounted(
            "proc /proc proc rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
        ));
    }

    #[test]
    fn reserved_hugepages_add_up_over_sizes() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("hugepages");
        for (size, count) in [("hugepages-2048kB", "3\n"), ("hugepages-1048576kB", "1\n")] {
            std::fs::create_dir_all(dir.join(size)).unwrap();
            std::fs::write(dir.join(size).join("nr_hugepages"), count).unwrap();
        }
        assert_eq!(reserved_hugepages(&dir), 4);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(reserved_hugepages(&dir), 0);
    }

    #[test]
    fn no_huge_skips_the_checks() {
        assert!(check_hugepages(&["--no-huge", "-l", "0"]).is_ok());
    }
}
