//! Which upstreams answer which names: the default nameservers and the
//! `[forward.zones]` sets, longest zone first.
//!
//! The routes are the part of the forwarder a configuration reload may change
//! (`Forwarder::set_routes`). A query reads one version of them for its whole
//! way (the bailiwick rule compares sets by identity within that version); a
//! new version reuses the [`Upstream`] of every address it keeps, so an
//! upstream's counters, smoothed RTT and sockets survive a reload that keeps
//! it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrodns_dataplane::name::Name;

use super::message;
use super::pool::SocketBudget;
use super::upstream::Upstream;
use crate::config::ForwardSettings;

/// The upstreams of one zone, or the default ones (zone: the root).
#[derive(Debug)]
pub(super) struct UpstreamSet {
    /// Lowered wire name: the bailiwick of these upstreams.
    pub(super) zone: Vec<u8>,
    pub(super) upstreams: Vec<Arc<Upstream>>,
}

/// One version of the routes.
#[derive(Debug)]
pub(super) struct Routes {
    /// What they were built from: the default nameservers and the zones' sets.
    nameservers: Vec<SocketAddr>,
    zone_servers: Vec<(Name, Vec<SocketAddr>)>,
    default: Option<UpstreamSet>,
    /// Longest zone first.
    zones: Vec<UpstreamSet>,
    /// Each upstream once, in configuration order.
    pub(super) upstreams: Vec<Arc<Upstream>>,
}

impl Routes {
    /// The routes of `settings`, taking the upstreams of `previous` whose
    /// address is kept and making the others with `budget`.
    pub(super) fn new(
        settings: &ForwardSettings,
        budget: &Arc<SocketBudget>,
        previous: Option<&Routes>,
    ) -> Routes {
        let mut by_addr: HashMap<SocketAddr, Arc<Upstream>> = previous
            .map(|routes| {
                routes
                    .upstreams
                    .iter()
                    .map(|u| (u.addr, Arc::clone(u)))
                    .collect()
            })
            .unwrap_or_default();
        let mut upstreams: Vec<Arc<Upstream>> = Vec::new();
        let mut get = |addr: SocketAddr| {
            let upstream = Arc::clone(by_addr.entry(addr).or_insert_with(|| {
                Arc::new(Upstream::new(
                    addr,
                    budget,
                    settings.max_in_flight_per_upstream,
                    settings.queries_per_socket,
                ))
            }));
            if !upstreams.iter().any(|u| u.addr == addr) {
                upstreams.push(Arc::clone(&upstream));
            }
            upstream
        };
        let default = (!settings.nameservers.is_empty()).then(|| UpstreamSet {
            zone: vec![0],
            upstreams: settings.nameservers.iter().map(|&a| get(a)).collect(),
        });
        let mut zones: Vec<UpstreamSet> = settings
            .zones
            .iter()
            .map(|(zone, servers)| UpstreamSet {
                zone: zone.to_lowercase_wire(),
                upstreams: servers.iter().map(|&a| get(a)).collect(),
            })
            .collect();
        zones.sort_by_key(|set| std::cmp::Reverse(set.zone.len()));
        Routes {
            nameservers: settings.nameservers.clone(),
            zone_servers: settings.zones.clone(),
            default,
            zones,
            upstreams,
        }
    }

    /// Whether these routes are the ones `settings` gives.
    pub(super) fn match_settings(&self, settings: &ForwardSettings) -> bool {
        self.nameservers == settings.nameservers && self.zone_servers == settings.zones
    }

    /// The upstreams responsible for `qname` (lowered): longest zone suffix wins.
    pub(super) fn set_for(&self, qname: &[u8]) -> Option<&UpstreamSet> {
        self.zones
            .iter()
            .find(|set| message::is_at_or_below(qname, &set.zone))
            .or(self.default.as_ref())
    }
}
