//! Admission of connections of one class (DNS over TCP, the REST API): a cap on
//! the connections open at once, a cap per source, and the counters of both.
//!
//! A connection is admitted when it is accepted, before a byte of it is read,
//! and holds its [`Admission`] for its life; dropping it gives the places back.
//! A refused connection is closed at once, so it costs one `accept` and no
//! descriptor beyond that moment.
//!
//! A *source* is an IPv4 address, or the /64 an IPv6 address lies in: one IPv6
//! host usually holds a whole /64, and counting its addresses one by one would
//! let it open the per-source cap once per address. An IPv4 address mapped into
//! IPv6 (a dual-stack socket) is its IPv4 address.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Where connections come from, as the per-source cap counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4(Ipv4Addr),
    /// The upper 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6Prefix((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The class holds its `limit` connections.
    Limit,
    /// The connection's source holds its `per_source` connections.
    PerSource,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Limit => "connection limit reached",
            Refusal::PerSource => "connection limit of its source reached",
        })
    }
}

/// Timeouts that close a connection, each counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// No request (query) within the idle timeout.
    Idle,
    /// A request's head not complete within the header timeout (API).
    Header,
    /// A request's body not complete within the body timeout (API).
    Body,
    /// An answer not written within the write timeout.
    Write,
}

impl Timeout {
    pub const ALL: [Timeout; 4] = [
        Timeout::Idle,
        Timeout::Header,
        Timeout::Body,
        Timeout::Write,
    ];

    /// The name used in counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeout::Idle => "idle",
            Timeout::Header => "header",
            Timeout::Body => "body",
            Timeout::Write => "write",
        }
    }
}

/// The caps and counters of one class of connections.
#[derive(Debug)]
pub struct ConnectionGate {
    class: &'static str,
    limit: usize,
    per_source: usize,
    occupancy: Mutex<Occupancy>,
    accepted: AtomicU64,
    refused_limit: AtomicU64,
    refused_per_source: AtomicU64,
    timed_out: [AtomicU64; Timeout::ALL.len()],
}

/// Connections open now, in all and per source (sources with none are removed).
#[derive(Debug, Default)]
struct Occupancy {
    open: usize,
    by_source: HashMap<Source, usize>,
}

/// One admitted connection's places; dropping it frees them.
#[derive(Debug)]
pub struct Admission {
    gate: Arc<ConnectionGate>,
    source: Source,
}

/// A gate's figures, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFigures {
    pub class: &'static str,
    pub limit: usize,
    pub per_source: usize,
    pub open: usize,
    pub accepted: u64,
    pub refused_limit: u64,
    pub refused_per_source: u64,
    /// Connections closed by each timeout, in [`Timeout::ALL`] order.
    pub timed_out: [(Timeout, u64); Timeout::ALL.len()],
}

impl ConnectionGate {
    /// A gate for `class` (the name in counters and logs) admitting `limit`
    /// connections at once, at most `per_source` of them from one source (both
    /// at least 1; `per_source` at most `limit`).
    pub fn new(class: &'static str, limit: usize, per_source: usize) -> Arc<ConnectionGate> {
        let limit = limit.max(1);
        Arc::new(ConnectionGate {
            class,
            limit,
            per_source: per_source.clamp(1, limit),
            occupancy: Mutex::default(),
            accepted: AtomicU64::new(0),
            refused_limit: AtomicU64::new(0),
            refused_per_source: AtomicU64::new(0),
            timed_out: Default::default(),
        })
    }

    /// Admits a connection from `peer`, or says why not; either way counted.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refusal> {
        let source = Source::from(peer);
        let refused = {
            let mut occupancy = self.lock();
            let from_source = occupancy.by_source.get(&source).copied().unwrap_or(0);
            if occupancy.open >= self.limit {
                Some(Refusal::Limit)
            } else if from_source >= self.per_source {
                Some(Refusal::PerSource)
            } else {
                occupancy.open += 1;
                occupancy.by_source.insert(source, from_source + 1);
                None
            }
        };
        match refused {
            None => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(Admission {
                    gate: Arc::clone(self),
                    source,
                })
            }
            Some(refusal) => {
                let counter = match refusal {
                    Refusal::Limit => &self.refused_limit,
                    Refusal::PerSource => &self.refused_per_source,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Err(refusal)
            }
        }
    }

    /// Counts a connection closed by `timeout`.
    pub fn count_timeout(&self, timeout: Timeout) {
        if let Some(counter) = self.timed_out.get(timeout as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn class(&self) -> &'static str {
        self.class
    }

    /// Connections open at once, at most.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Connections open at once from one source, at most.
    pub fn per_source(&self) -> usize {
        self.per_source
    }

    pub fn figures(&self) -> GateFigures {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        GateFigures {
            class: self.class,
            limit: self.limit,
            per_source: self.per_source,
            open: self.lock().open,
            accepted: load(&self.accepted),
            refused_limit: load(&self.refused_limit),
            refused_per_source: load(&self.refused_per_source),
            timed_out: Timeout::ALL.map(|t| (t, self.timed_out.get(t as usize).map_or(0, load))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Occupancy> {
        self.occupancy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut occupancy = self.gate.lock();
        occupancy.open = occupancy.open.saturating_sub(1);
        if let Some(count) = occupancy.by_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                occupancy.by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_source_cannot_take_the_places_of_another() {
        let gate = ConnectionGate::new("tcp", 4, 2);
        let first: Vec<_> = (0..2)
            .map(|_| gate.admit(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(gate.admit(ip("192.0.2.1")).unwrap_err(), Refusal::PerSource);
        let second = gate.admit(ip("192.0.2.2")).unwrap();
        let _third = gate.admit(ip("192.0.2.3")).unwrap();
        assert_eq!(gate.admit(ip("192.0.2.4")).unwrap_err(), Refusal::Limit);
        let figures = gate.figures();
        assert_eq!(
            (
                figures.open,
                figures.accepted,
                figures.refused_limit,
                figures.refused_per_source
            ),
            (4, 4, 1, 1)
        );

        // Closing gives the places back, in all and to the source.
        drop(first);
        drop(second);
        assert_eq!(gate.figures().open, 1);
        let again: Vec<_> = (0..2)
            .map(|_| gate.admit(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Source::from(ip("2001:db8:1:2::1")),
            Source::from(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::from(ip("2001:db8:1:2::1")),
            Source::from(ip("2001:db8:1:3::1"))
        );
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(Source::from(mapped), Source::from(ip("192.0.2.1")));
        assert_eq!(
            Source::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Source::V6Prefix(0)
        );
    }

    #[test]
    fn the_per_source_cap_never_exceeds_the_limit_and_timeouts_are_counted() {
        let gate = ConnectionGate::new("api", 3, 64);
        assert_eq!((gate.limit(), gate.per_source()), (3, 3));
        gate.count_timeout(Timeout::Header);
        gate.count_timeout(Timeout::Header);
        gate.count_timeout(Timeout::Idle);
        let counted: Vec<_> = gate.figures().timed_out.to_vec();
        assert_eq!(
            counted,
            [
                (Timeout::Idle, 1),
                (Timeout::Header, 2),
                (Timeout::Body, 0),
                (Timeout::Write, 0)
            ]
        );
    }
}
