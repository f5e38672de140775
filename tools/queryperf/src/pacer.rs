//! Rate pacing for `-Q`: a token bucket.
//!
//! Tokens accrue at the target rate; a send spends one. The bucket holds at most
//! `burst` tokens (queryperf uses one batch, 64), so after a stall (the scheduler
//! took the core, the socket buffer was full) the client catches up by at most one
//! burst instead of flooding the server with everything it fell behind on: a
//! catch-up burst of hundreds overflows a server's socket buffer and is measured
//! as the server's loss, though the client caused it. Without a rate the pacer allows
//! anything and the outstanding limit (`-q`) alone paces the run, as in dnsperf.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Pacer {
    /// Queries per second; `None` means unlimited.
    rate: Option<f64>,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// A pacer for `rate` queries per second (`None`: unlimited), starting empty at
    /// `now`, holding at most `burst` tokens.
    pub(crate) fn new(rate: Option<f64>, burst: usize, now: Instant) -> Pacer {
        Pacer {
            rate: rate.filter(|r| *r > 0.0),
            burst: burst.max(1) as f64,
            tokens: 0.0,
            last: now,
        }
    }

    /// How many queries may be sent at `now`, at most `want`.
    pub(crate) fn allowed(&mut self, now: Instant, want: usize) -> usize {
        let Some(rate) = self.rate else {
            return want;
        };
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(self.burst);
        (self.tokens.floor() as usize).min(want)
    }

    /// Records that `sent` of the allowed queries went out.
    pub(crate) fn spend(&mut self, sent: usize) {
        if self.rate.is_some() {
            self.tokens = (self.tokens - sent as f64).max(0.0);
        }
    }

    /// How long until the next token, for sleeping when idle.
    pub(crate) fn wait(&self) -> Duration {
        match self.rate {
            Some(rate) if self.tokens < 1.0 => Duration::from_secs_f64((1.0 - self.tokens) / rate),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_accrue_at_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(1000.0), 1000, t0);
        assert_eq!(p.allowed(t0, 64), 0);
        assert_eq!(p.allowed(t0 + Duration::from_millis(10), 64), 10);
        p.spend(4);
        assert_eq!(p.allowed(t0 + Duration::from_millis(10), 64), 6);
        assert_eq!(
            p.allowed(t0 + Duration::from_millis(100), 64),
            64,
            "capped by want"
        );
    }

    #[test]
    fn a_stall_earns_at_most_one_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(100_000.0), 500, t0);
        assert_eq!(p.allowed(t0 + Duration::from_secs(5), usize::MAX), 500);
    }

    #[test]
    fn no_rate_allows_everything_and_never_waits() {
        let t0 = Instant::now();
        let mut p = Pacer::new(None, 10, t0);
        assert_eq!(p.allowed(t0, 123), 123);
        assert_eq!(p.wait(), Duration::ZERO);
        let empty = Pacer::new(Some(1000.0), 10, t0);
        assert_eq!(empty.wait(), Duration::from_millis(1));
    }
}
