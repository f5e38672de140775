//! The time-stamp counter, DPDK's clock for the hot path.
//!
//! [`cycles`] reads the CPU's time-stamp counter (`rte_rdtsc`): a few
//! nanoseconds, no system call, and on the invariant TSC of current x86 CPUs
//! the same clock on every core, so a stamp taken on one lcore can be compared
//! with one taken on another. [`TscClock`] turns cycles into nanoseconds with
//! the rate the EAL measured at start-up (`rte_get_tsc_hz`).
// This module calls DPDK (the TSC read and its rate): `unsafe` is allowed here,
// each block with its `SAFETY` proof.
#![allow(unsafe_code)]

use crate::eal::Eal;
use crate::sys;

/// The time-stamp counter now, in cycles.
#[inline]
pub fn cycles() -> u64 {
    // SAFETY: reads the CPU's time-stamp counter; no memory is touched.
    unsafe { sys::ferrodns_rdtsc() }
}

/// Cycles to nanoseconds since a starting point, at the rate the EAL measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TscClock {
    start: u64,
    nanos_per_cycle: f64,
}

impl TscClock {
    /// A clock that reads zero now. Needs the EAL: it measures the rate at start.
    pub fn start(_eal: &Eal) -> TscClock {
        // SAFETY: EAL is initialised (we hold an `Eal`); this reads the rate it
        // measured.
        let hz = unsafe { sys::rte_get_tsc_hz() };
        TscClock::from_rate(cycles(), hz)
    }

    /// A clock for a counter running at `hz` that read `start` at time zero.
    pub fn from_rate(start: u64, hz: u64) -> TscClock {
        TscClock {
            start,
            nanos_per_cycle: 1e9 / hz.max(1) as f64,
        }
    }

    /// The counter's rate, in cycles per second.
    pub fn hz(&self) -> u64 {
        (1e9 / self.nanos_per_cycle).round() as u64
    }

    /// Nanoseconds from the clock's start to `cycles` (zero before it).
    #[inline]
    pub fn nanos(&self, cycles: u64) -> u64 {
        (cycles.saturating_sub(self.start) as f64 * self.nanos_per_cycle) as u64
    }

    /// Nanoseconds from the clock's start to now.
    #[inline]
    pub fn now(&self) -> u64 {
        self.nanos(cycles())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_become_nanoseconds_at_the_rate() {
        let clock = TscClock::from_rate(1_000, 2_500_000_000);
        assert_eq!(clock.hz(), 2_500_000_000);
        assert_eq!(clock.nanos(1_000 + 2_500), 1_000);
        assert_eq!(clock.nanos(1_000 + 2_500_000_000 * 3), 3_000_000_000);
        assert_eq!(clock.nanos(10), 0, "before the start");
    }

    #[test]
    fn the_counter_moves_forward() {
        let first = cycles();
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(cycles() > first);
    }
}
