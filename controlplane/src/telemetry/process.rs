//! This process as the usual `process_*` families describe it: CPU time,
//! resident memory, descriptors, start time. Read at scrape time from the
//! kernel (`/proc/self/stat`, `/proc/self/status`, `/proc/self/fd`); a figure
//! the kernel does not give is left out.

use std::time::SystemTime;

use crate::budget::descriptors;

/// The process's figures at one scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident memory, in bytes.
    pub resident_bytes: Option<u64>,
    pub open_fds: Option<usize>,
    /// The soft descriptor limit.
    pub max_fds: Option<u64>,
    /// Unix time the process started serving from.
    pub start_time_seconds: f64,
}

impl ProcessFigures {
    /// Reads them now; `started` is when the process started.
    pub fn read(started: SystemTime) -> ProcessFigures {
        ProcessFigures {
            cpu_seconds: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .as_deref()
                .and_then(cpu_seconds),
            resident_bytes: std::fs::read_to_string("/proc/self/status")
                .ok()
                .as_deref()
                .and_then(resident_bytes),
            open_fds: descriptors::open(),
            max_fds: rustix::process::getrlimit(rustix::process::Resource::Nofile).current,
            start_time_seconds: super::unix_seconds(started),
        }
    }
}

/// User plus system time of a `/proc/PID/stat` text, in seconds. The fields
/// after the command name (which may hold spaces, inside parentheses) are
/// counted from the last `)`: utime and stime are the 12th and 13th.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    Some((utime + stime) as f64 / ticks as f64)
}

/// `VmRSS` of a `/proc/PID/status` text, in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_memory_and_descriptors() {
        // A test process of its own (nextest) may not have used one clock
        // tick yet: work until the kernel has counted one, for 10 s at most.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut spin = 0u64;
        let figures = loop {
            let figures = ProcessFigures::read(SystemTime::now());
            if figures.cpu_seconds != Some(0.0) || std::time::Instant::now() > deadline {
                break figures;
            }
            for i in 0..1_000_000u64 {
                spin = std::hint::black_box(spin.wrapping_add(i));
            }
        };
        assert!(figures.cpu_seconds.is_some_and(|s| s > 0.0), "{figures:?}");
        assert!(figures.resident_bytes.is_some_and(|b| b > 1 << 20));
        assert!(figures.open_fds.is_some_and(|n| n >= 3));
        assert!(figures.max_fds.is_some_and(|n| n >= 3));
        assert_eq!(
            resident_bytes("Name:\tx\nVmRSS:\t  2048 kB\n"),
            Some(2 << 20)
        );
        let stat = "7 (a (b) c) S 1 7 7 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 5";
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(cpu_seconds(stat), Some(400.0 / ticks));
    }
}
