//! `[forward]` and `--forward`: upstream nameservers for names outside every
//! local zone, per zone or by default, and the cache and limits of forwarding.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrodns_dataplane::name::Name;

use super::error::ConfigError;
use super::file::{RawForward, value_of};
use super::merge::Merge;
use super::render::millis;

/// Default `forward.cache_size` (answers).
pub const DEFAULT_FORWARD_CACHE_SIZE: usize = 10_000;
/// Default `forward.timeout_ms`: one attempt to one upstream.
pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_millis(1000);
/// Default `forward.deadline_ms`: every attempt of one query.
pub const DEFAULT_FORWARD_DEADLINE: Duration = Duration::from_millis(3000);
/// Default `forward.max_ttl` (seconds).
pub const DEFAULT_FORWARD_MAX_TTL: u32 = 86_400;
/// Default `forward.max_negative_ttl` (seconds).
pub const DEFAULT_FORWARD_MAX_NEGATIVE_TTL: u32 = 300;
/// Default `forward.max_sockets`.
pub const DEFAULT_FORWARD_MAX_SOCKETS: usize = 512;

/// Forwarding of names outside every local zone to upstream nameservers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSettings {
    /// Default upstreams, in order of preference; empty: none.
    pub nameservers: Vec<SocketAddr>,
    /// Upstreams per zone, zones unique, in canonical order; the longest zone
    /// containing a name wins over the default upstreams.
    pub zones: Vec<(Name, Vec<SocketAddr>)>,
    /// Answers kept in the cache; 0 disables it.
    pub cache_size: usize,
    /// Time one upstream gets to answer one attempt.
    pub timeout: Duration,
    /// Time all attempts of one query get; then SERVFAIL. At least `timeout`.
    pub deadline: Duration,
    /// Forwarded queries per second per client address; 0: no limit.
    pub per_client_qps: u32,
    /// Longest time, in seconds, a positive answer is cached.
    pub max_ttl: u32,
    /// Longest time, in seconds, a negative answer (NXDOMAIN, NODATA) is cached.
    pub max_negative_ttl: u32,
    /// Upstream sockets open at once (queries in flight to upstreams): the
    /// forwarder's share of the descriptor budget, cut at start when the
    /// descriptor limit is too low for it (`crate::budget`).
    pub max_sockets: usize,
}

impl Default for ForwardSettings {
    fn default() -> Self {
        ForwardSettings {
            nameservers: Vec::new(),
            zones: Vec::new(),
            cache_size: DEFAULT_FORWARD_CACHE_SIZE,
            timeout: DEFAULT_FORWARD_TIMEOUT,
            deadline: DEFAULT_FORWARD_DEADLINE,
            per_client_qps: 0,
            max_ttl: DEFAULT_FORWARD_MAX_TTL,
            max_negative_ttl: DEFAULT_FORWARD_MAX_NEGATIVE_TTL,
            max_sockets: DEFAULT_FORWARD_MAX_SOCKETS,
        }
    }
}

impl Merge<'_> {
    /// `[forward]`, with `--forward` replacing its nameservers.
    pub(super) fn forward(&self, raw: &RawForward) -> Result<ForwardSettings, ConfigError> {
        let defaults = ForwardSettings::default();
        let nameservers = self.addresses(
            ("--forward", &self.flags.forward),
            ("forward.nameservers", raw.nameservers.as_ref()),
            upstream_addr,
            true,
        )?;
        let timeout = self.milliseconds(raw.timeout_ms.as_ref(), "forward.timeout_ms")?;
        let deadline = self.milliseconds(raw.deadline_ms.as_ref(), "forward.deadline_ms")?;
        let max_sockets = self.bounded(raw.max_sockets.as_ref(), "forward.max_sockets", 1..)?;
        let forward = ForwardSettings {
            nameservers: nameservers.unwrap_or_default(),
            zones: Vec::new(),
            cache_size: value_of(&raw.cache_size).unwrap_or(defaults.cache_size),
            timeout: timeout.unwrap_or(defaults.timeout),
            deadline: deadline.unwrap_or(defaults.deadline),
            per_client_qps: value_of(&raw.per_client_qps).unwrap_or(defaults.per_client_qps),
            max_ttl: value_of(&raw.max_ttl).unwrap_or(defaults.max_ttl),
            max_negative_ttl: value_of(&raw.max_negative_ttl).unwrap_or(defaults.max_negative_ttl),
            max_sockets: max_sockets.unwrap_or(defaults.max_sockets),
        };
        if forward.deadline < forward.timeout {
            return Err(self.deadline_before_timeout(raw, &forward));
        }
        let zones = self.forward_zones(raw)?;
        Ok(ForwardSettings { zones, ..forward })
    }

    /// The deadline is shorter than one attempt: blame the key that was given.
    fn deadline_before_timeout(&self, raw: &RawForward, forward: &ForwardSettings) -> ConfigError {
        match (&raw.deadline_ms, &raw.timeout_ms) {
            (Some(ms), _) => {
                let timeout = millis(forward.timeout);
                let reason = format!("must be at least forward.timeout_ms ({timeout} ms)");
                self.invalid(ms, "forward.deadline_ms", reason)
            }
            (None, Some(ms)) => {
                let deadline = millis(forward.deadline);
                let reason = format!("must be at most forward.deadline_ms ({deadline} ms)");
                self.invalid(ms, "forward.timeout_ms", reason)
            }
            (None, None) => unreachable!("defaults are consistent"),
        }
    }

    /// `[forward.zones]`, in canonical order.
    fn forward_zones(&self, raw: &RawForward) -> Result<Vec<(Name, Vec<SocketAddr>)>, ConfigError> {
        let mut zones: Vec<(Name, Vec<SocketAddr>)> = Vec::new();
        for (zone_text, servers) in &raw.zones {
            let key = format!("forward.zones.{:?}", zone_text.get_ref());
            let bad_zone = |reason| self.invalid(zone_text, &key, reason);
            let zone =
                Name::from_ascii(zone_text.get_ref()).map_err(|e| bad_zone(e.to_string()))?;
            if zones.iter().any(|(z, _)| *z == zone) {
                return Err(bad_zone(format!(
                    "{zone} is listed twice (names ignore case)"
                )));
            }
            let servers = self.file_addresses(servers, &key, upstream_addr, false)?;
            zones.push((zone, servers));
        }
        zones.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(zones)
    }
}

/// An upstream nameserver: `IP:PORT`, or a bare IP meaning port 53.
fn upstream_addr(text: &str) -> Result<SocketAddr, String> {
    let addr = text
        .parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            "expected IP:PORT such as 192.0.2.53:53 or [2001:db8::53]:53, or an IP for \
             port 53 (host names are not resolved)"
                .to_owned()
        })?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err("an upstream needs a real address and a port other than 0".into());
    }
    Ok(addr)
}
