//! The forwarder's counters and gauges, and the snapshot `/metrics`, `/v1/stats`
//! and the periodic log line read.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{Forwarder, lock};

/// The forwarder-wide counters; each upstream keeps its own.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queries: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) servfail: AtomicU64,
    pub(crate) over_cap: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) bailiwick_drops: AtomicU64,
    pub(crate) local_drops: AtomicU64,
    pub(crate) reply_errors: AtomicU64,
}

/// A snapshot of the forwarder's counters (each since start) and gauges (now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Punted queries handled (rate-limited ones excluded).
    pub queries: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Questions that went to upstreams: cache misses that led a flight.
    pub forwarded: u64,
    /// Cache misses answered from a flight another query led.
    pub coalesced: u64,
    /// Answered SERVFAIL: every upstream failed within the deadline.
    pub servfail: u64,
    /// Answered SERVFAIL at once, over a cap: `forward.max_in_flight`
    /// questions in flight already, too many queries waiting on this one, or
    /// every upstream of the name's set at its cap or without a socket.
    pub over_cap: u64,
    /// Answered REFUSED: no upstream for the name.
    pub refused: u64,
    /// Dropped by the per-client rate limit.
    pub rate_limited: u64,
    /// Replies from upstreams dropped for not matching their query
    /// (address, port, ID, question): likely spoofs.
    pub spoofs: u64,
    /// Records of upstream responses dropped by the bailiwick rule.
    pub bailiwick_drops: u64,
    /// Cached answers dropped on a hit because they hold data of a zone that
    /// has become local since.
    pub local_drops: u64,
    /// Answers that could not be sent back to the client.
    pub reply_errors: u64,
    /// Questions in flight to upstreams now (at most `forward.max_in_flight`).
    pub in_flight: u64,
    /// Sockets open towards upstreams now, UDP and TCP, and the most that may be
    /// (`forward.max_sockets` as fitted to the descriptor limit).
    pub sockets_open: u64,
    pub sockets_limit: u64,
    pub cache_entries: u64,
    pub upstreams: Vec<UpstreamStats>,
}

/// One upstream's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStats {
    pub addr: SocketAddr,
    /// Queries sent (attempts).
    pub queries: u64,
    /// Usable answers received (NOERROR, NXDOMAIN).
    pub answers: u64,
    pub timeouts: u64,
    /// Unreachable, malformed replies, error rcodes.
    pub failures: u64,
    /// Truncated UDP answers retried over TCP.
    pub tcp_retries: u64,
    pub spoofs: u64,
    /// Attempts that passed it over: at `forward.max_in_flight_per_upstream`,
    /// or no socket left.
    pub over_cap: u64,
    /// Attempts waiting on it now.
    pub in_flight: u64,
    /// Smoothed RTT in microseconds, once measured.
    pub srtt_us: Option<u64>,
    /// Backed off after timeouts or errors.
    pub down: bool,
}

impl fmt::Display for ForwardStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queries={} cache_hits={} cache_misses={} forwarded={} coalesced={} servfail={} \
             over_cap={} refused={} rate_limited={} spoofs={} bailiwick_drops={} local_drops={} \
             reply_errors={} in_flight={} sockets_open={} cache_entries={}",
            self.queries,
            self.cache_hits,
            self.cache_misses,
            self.forwarded,
            self.coalesced,
            self.servfail,
            self.over_cap,
            self.refused,
            self.rate_limited,
            self.spoofs,
            self.bailiwick_drops,
            self.local_drops,
            self.reply_errors,
            self.in_flight,
            self.sockets_open,
            self.cache_entries
        )?;
        for u in &self.upstreams {
            write!(
                f,
                "; upstream {} queries={} answers={} timeouts={} failures={} tcp_retries={} \
                 spoofs={} over_cap={} in_flight={} srtt_us={} down={}",
                u.addr,
                u.queries,
                u.answers,
                u.timeouts,
                u.failures,
                u.tcp_retries,
                u.spoofs,
                u.over_cap,
                u.in_flight,
                u.srtt_us.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                u.down
            )?;
        }
        Ok(())
    }
}

impl Forwarder {
    /// The counters now.
    pub fn snapshot(&self) -> ForwardStats {
        let inner = &self.inner;
        let c = &inner.counters;
        let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let now = Instant::now();
        let upstreams: Vec<UpstreamStats> = inner
            .routes
            .load()
            .upstreams
            .iter()
            .map(|u| UpstreamStats {
                addr: u.addr,
                queries: get(&u.counters.queries),
                answers: get(&u.counters.answers),
                timeouts: get(&u.counters.timeouts),
                failures: get(&u.counters.failures),
                tcp_retries: get(&u.counters.tcp),
                spoofs: get(&u.counters.spoofs),
                over_cap: get(&u.counters.over_cap),
                in_flight: u.in_flight(),
                srtt_us: u.srtt_us(),
                down: u.is_down(now),
            })
            .collect();
        ForwardStats {
            queries: get(&c.queries),
            cache_hits: get(&c.cache_hits),
            cache_misses: get(&c.cache_misses),
            forwarded: get(&c.forwarded),
            coalesced: get(&c.coalesced),
            servfail: get(&c.servfail),
            over_cap: get(&c.over_cap),
            refused: get(&c.refused),
            rate_limited: get(&c.rate_limited),
            spoofs: upstreams.iter().map(|u| u.spoofs).sum(),
            bailiwick_drops: get(&c.bailiwick_drops),
            local_drops: get(&c.local_drops),
            reply_errors: get(&c.reply_errors),
            in_flight: inner.flights.len() as u64,
            sockets_open: inner.sockets.open() as u64,
            sockets_limit: inner.sockets.limit() as u64,
            cache_entries: lock(&inner.cache).len() as u64,
            upstreams,
        }
    }
}
