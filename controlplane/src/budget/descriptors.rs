//! The process's descriptor limit (`RLIMIT_NOFILE`): raised from the soft limit
//! to the hard one at start, and the descriptors open now.
//!
//! Most systems start a process with a soft limit of 1,024 and a hard limit far
//! above it; the soft limit is the one the kernel enforces, and a process may
//! raise it up to the hard limit without privileges. A server that keeps the
//! soft limit runs out of descriptors with a thousand idle connections.

use std::io;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Where the kernel says how many descriptors one process may have at most: a
/// hard limit of "unlimited" means this.
const NR_OPEN: &str = "/proc/sys/fs/nr_open";
/// The kernel's default `nr_open`, when the file cannot be read.
const DEFAULT_NR_OPEN: u64 = 1 << 20;

/// The descriptor limit before and after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit in force now: the one budgets are computed from.
    pub soft: u64,
    /// The hard limit (the most the soft limit may be raised to).
    pub hard: u64,
}

/// Raises the soft descriptor limit to the hard one. On failure the limit is
/// unchanged and the error comes back with the limit in force.
pub fn raise() -> (DescriptorLimit, Option<io::Error>) {
    let current = getrlimit(Resource::Nofile);
    let nr_open = std::fs::read_to_string(NR_OPEN)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_NR_OPEN);
    let hard = current.maximum.unwrap_or(nr_open);
    let before = current.current.unwrap_or(hard);
    let limit = DescriptorLimit {
        before,
        soft: before,
        hard,
    };
    if before >= hard {
        return (limit, None);
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: current.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => (
            DescriptorLimit {
                soft: hard,
                ..limit
            },
            None,
        ),
        Err(e) => (limit, Some(e.into())),
    }
}

/// Descriptors the process holds now (`None` where `/proc` cannot tell).
pub fn open() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one_and_open_descriptors_are_counted() {
        let (limit, error) = raise();
        assert!(error.is_none(), "{error:?}");
        assert_eq!(limit.soft, limit.hard);
        assert!(limit.before <= limit.soft);
        assert_eq!(getrlimit(Resource::Nofile).current, Some(limit.soft));
        // stdin, stdout, stderr at least.
        assert!(open().is_some_and(|n| n >= 3));
    }
}
