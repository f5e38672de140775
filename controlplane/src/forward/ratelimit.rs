//! Per-client rate limit of forwarded queries (like kdns's `fwd-per-second`).
//!
//! A token bucket per client address: `qps` tokens a second, holding at most one
//! second's worth, so a client may burst `qps` queries and then sustain `qps` a
//! second. A query without a token is dropped (no answer: an answer would let a
//! spoofed source still be flooded). The table of clients is bounded: when it
//! holds [`MAX_CLIENTS`] addresses, those idle for over a second (whose buckets
//! are full again, so forgetting them changes nothing) are forgotten; if that is
//! not enough, new clients are refused until some go idle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Clients tracked at once.
pub(crate) const MAX_CLIENTS: usize = 65536;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    qps: f64,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimiter {
    pub(crate) fn new(qps: u32) -> RateLimiter {
        RateLimiter {
            qps: f64::from(qps),
            buckets: HashMap::new(),
        }
    }

    /// Whether `client` may have one more query at `now`.
    pub(crate) fn allow(&mut self, client: IpAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&client) && self.buckets.len() >= MAX_CLIENTS {
            self.buckets.retain(|_, (_, last)| {
                now.saturating_duration_since(*last) < Duration::from_secs(1)
            });
            if self.buckets.len() >= MAX_CLIENTS {
                return false;
            }
        }
        let qps = self.qps;
        let (tokens, last) = self.buckets.entry(client).or_insert((qps, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * qps;
        *tokens = (*tokens + refill).min(qps);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_rate_and_others_are_not_affected() {
        let mut limiter = RateLimiter::new(10);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let t0 = Instant::now();
        let allowed = (0..25).filter(|_| limiter.allow(a, t0)).count();
        assert_eq!(allowed, 10, "a burst of one second");
        assert!(limiter.allow(b, t0), "another client is not limited");
        // Half a second later, five more.
        let t1 = t0 + Duration::from_millis(500);
        let allowed = (0..25).filter(|_| limiter.allow(a, t1)).count();
        assert_eq!(allowed, 5);
        // Long idle: one second's worth, not more.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..25).filter(|_| limiter.allow(a, t2)).count(), 10);
    }

    #[test]
    fn the_client_table_is_bounded() {
        let mut limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..MAX_CLIENTS as u32 {
            assert!(limiter.allow(IpAddr::from(i.to_be_bytes()), t0));
        }
        let newcomer = IpAddr::from([255, 255, 255, 255]);
        assert!(!limiter.allow(newcomer, t0), "table full of active clients");
        let later = t0 + Duration::from_secs(2);
        assert!(limiter.allow(newcomer, later), "idle clients forgotten");
        assert_eq!(limiter.buckets.len(), 1);
    }
}
