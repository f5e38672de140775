//! `[health]` and the flags of `ferrodns health-check`: checking backend
//! addresses by TCP connect or ICMP echo (docs/health.md).
//!
//! Two sets of addresses can be checked, by the same checker with the same
//! timing: the addresses listed under etcd's health prefix (containerdns's
//! `/containerdns/monitor/status/<ip>`), shared among every checker of the
//! cluster, and the addresses of the names `[health.names]` lists, from any
//! record source, checked by this appliance alone.

use std::time::Duration;

use ferrodns_dataplane::name::Name;
use toml::Spanned;

use super::error::ConfigError;
use super::file::{RawHealth, Text};
use super::merge::{Merge, flag_error};

/// Default `health.interval_ms`: containerdns's scanner checks every 2 s.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// Default `health.timeout_ms`: one TCP connect or one echo.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Default `health.retries`: failed checks in a row that make an address DOWN.
pub const DEFAULT_HEALTH_RETRIES: u32 = 3;
/// Default `health.max_concurrent`: checks in flight at once.
pub const DEFAULT_HEALTH_MAX_CONCURRENT: usize = 256;
/// Default `health.lease_ttl_s`: how long a dead checker's addresses wait for
/// another checker.
pub const DEFAULT_HEALTH_LEASE_TTL_S: u64 = 10;
/// Default `health.agent_prefix`: where checkers announce themselves.
pub const DEFAULT_HEALTH_AGENT_PREFIX: &str = "/containerdns/monitor/agent/";

/// How an address is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckMethod {
    /// A TCP connection to its ports (any one accepting is enough); an address
    /// with no port at all is sent an ICMP echo instead.
    #[default]
    Tcp,
    /// An ICMP (or ICMPv6) echo request, answered within the timeout.
    Icmp,
}

impl CheckMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckMethod::Tcp => "tcp",
            CheckMethod::Icmp => "icmp",
        }
    }
}

/// Names whose addresses `[health.names]` checks: one name, or every name
/// strictly below one (`*.svc.example.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    pub name: Name,
    /// True for `*.<name>`: the names below `name`, not `name` itself.
    pub below: bool,
}

impl NamePattern {
    /// Whether `name` is one the pattern covers.
    pub fn matches(&self, name: &Name) -> bool {
        if self.below {
            name != &self.name && name.is_subdomain_of(&self.name)
        } else {
            name == &self.name
        }
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.below {
            write!(f, "*.{}", self.name)
        } else {
            write!(f, "{}", self.name)
        }
    }
}

/// The health checker's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// Time between two checks of one address.
    pub interval: Duration,
    /// Time one check (a connect, an echo) may take.
    pub timeout: Duration,
    /// Failed checks in a row that make an address DOWN; one good check makes
    /// it UP again. At least 1.
    pub retries: u32,
    /// Ports of an address whose etcd status lists none.
    pub ports: Vec<u16>,
    pub method: CheckMethod,
    /// Checks in flight at once, at least 1.
    pub max_concurrent: usize,
    /// Whether the addresses under etcd's health prefix are checked (needs
    /// `[etcd]`).
    pub etcd: bool,
    /// This checker's name among the checkers sharing etcd's addresses; None:
    /// the host name.
    pub hostname: Option<String>,
    /// Where checkers announce themselves, ending in `/`.
    pub agent_prefix: String,
    /// Time a checker's announcement outlives it, in whole seconds (etcd lease
    /// TTLs are seconds).
    pub lease_ttl: Duration,
    /// `[health.names]`: names whose addresses this appliance checks on its
    /// own, each with its ports (none: `ports`), in the order of their keys.
    pub names: Vec<(NamePattern, Vec<u16>)>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            retries: DEFAULT_HEALTH_RETRIES,
            ports: Vec::new(),
            method: CheckMethod::Tcp,
            max_concurrent: DEFAULT_HEALTH_MAX_CONCURRENT,
            etcd: true,
            hostname: None,
            agent_prefix: DEFAULT_HEALTH_AGENT_PREFIX.into(),
            lease_ttl: Duration::from_secs(DEFAULT_HEALTH_LEASE_TTL_S),
            names: Vec::new(),
        }
    }
}

/// The flags of `ferrodns health-check`, as typed; each replaces the `[health]`
/// key of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthFlags {
    /// `--hostname`: `health.hostname`.
    pub hostname: Option<String>,
    /// `--interval-ms`: `health.interval_ms`.
    pub interval_ms: Option<String>,
    /// `--timeout-ms`: `health.timeout_ms`.
    pub timeout_ms: Option<String>,
    /// `--retries`: `health.retries`.
    pub retries: Option<String>,
    /// `--port` (repeated): `health.ports`.
    pub ports: Vec<String>,
    /// `--method`: `health.method`.
    pub method: Option<String>,
    /// `--lease-ttl-s`: `health.lease_ttl_s`.
    pub lease_ttl_s: Option<String>,
    /// `--max-concurrent`: `health.max_concurrent`.
    pub max_concurrent: Option<String>,
}

/// Shortest and longest lease a checker may ask for, in seconds.
const LEASE_TTL_S: std::ops::RangeInclusive<u64> = 2..=3600;

impl Merge<'_> {
    /// `[health]` with the `health-check` flags over it: `None` when the
    /// section is absent and `always` is false (`serve` checks nothing then).
    /// Without etcd (`with_etcd` false) only `[health.names]` is checked.
    pub(super) fn health(
        &self,
        raw: Option<Spanned<RawHealth>>,
        always: bool,
        with_etcd: bool,
    ) -> Result<Option<HealthSettings>, ConfigError> {
        let (span, raw) = match raw {
            Some(raw) => (Some(raw.span()), raw.into_inner()),
            None if always => (None, RawHealth::default()),
            None => return Ok(None),
        };
        let etcd = match &raw.etcd {
            Some(value) if *value.get_ref() && !with_etcd => {
                let reason = "checking etcd's addresses needs [etcd] (or --etcd URL)".to_owned();
                return Err(self.invalid(value, "health.etcd", reason));
            }
            Some(value) => *value.get_ref(),
            None => with_etcd,
        };
        if !etcd
            && raw.names.is_empty()
            && let Some(span) = span
        {
            return Err(ConfigError::Invalid {
                at: self.source().at(span),
                key: "health".into(),
                value: "[health]".into(),
                reason: "checks nothing: list names under [health.names], or check etcd's \
                         addresses (needs [etcd])"
                    .into(),
            });
        }
        let defaults = HealthSettings::default();
        let flags = &self.flags.health;
        let millis = |text: &str| -> Result<Duration, String> {
            match text.parse::<u64>() {
                Ok(0) | Err(_) => Err("expected a whole number of milliseconds, at least 1".into()),
                Ok(ms) => Ok(Duration::from_millis(ms)),
            }
        };
        let interval = match flags.interval_ms.as_deref() {
            Some(text) => Some(millis(text).map_err(|r| flag_error("--interval-ms", text, r))?),
            None => self.milliseconds(raw.interval_ms.as_ref(), "health.interval_ms")?,
        };
        let timeout = match flags.timeout_ms.as_deref() {
            Some(text) => Some(millis(text).map_err(|r| flag_error("--timeout-ms", text, r))?),
            None => self.milliseconds(raw.timeout_ms.as_ref(), "health.timeout_ms")?,
        };
        let retries = self.number_flag_or_key(
            ("--retries", flags.retries.as_deref()),
            ("health.retries", raw.retries.as_ref()),
            1..=1000,
        )?;
        let max_concurrent = self.number_flag_or_key(
            ("--max-concurrent", flags.max_concurrent.as_deref()),
            ("health.max_concurrent", raw.max_concurrent.as_ref()),
            1..=65_536,
        )?;
        let lease_ttl_s = self.number_flag_or_key(
            ("--lease-ttl-s", flags.lease_ttl_s.as_deref()),
            ("health.lease_ttl_s", raw.lease_ttl_s.as_ref()),
            LEASE_TTL_S,
        )?;
        let method = self.flag_or_key(
            ("--method", flags.method.as_deref()),
            ("health.method", raw.method.as_ref()),
            parse_method,
        )?;
        let hostname = self.flag_or_key(
            ("--hostname", flags.hostname.as_deref()),
            ("health.hostname", raw.hostname.as_ref()),
            parse_hostname,
        )?;
        let agent_prefix = match &raw.agent_prefix {
            Some(value) => Some(self.agent_prefix(value)?),
            None => None,
        };
        Ok(Some(HealthSettings {
            interval: interval.unwrap_or(defaults.interval),
            timeout: timeout.unwrap_or(defaults.timeout),
            retries: retries.unwrap_or(defaults.retries),
            ports: self.health_ports(&raw)?,
            method: method.unwrap_or_default(),
            max_concurrent: max_concurrent.unwrap_or(defaults.max_concurrent),
            etcd,
            hostname,
            agent_prefix: agent_prefix.unwrap_or(defaults.agent_prefix),
            lease_ttl: Duration::from_secs(lease_ttl_s.unwrap_or(DEFAULT_HEALTH_LEASE_TTL_S)),
            names: self.health_names(&raw)?,
        }))
    }

    /// A number a flag (as text) or a file key gives, within `range`.
    fn number_flag_or_key<T>(
        &self,
        (flag, flag_value): (&str, Option<&str>),
        (key, file_value): (&str, Option<&Spanned<T>>),
        range: std::ops::RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: Copy + PartialOrd + std::str::FromStr + std::fmt::Debug + std::fmt::Display,
    {
        let Some(text) = flag_value else {
            return self.bounded(file_value, key, range);
        };
        let reason = || format!("must be {} to {}", range.start(), range.end());
        match text.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(flag_error(flag, text, reason())),
        }
    }

    /// `--port` or `health.ports`.
    fn health_ports(&self, raw: &RawHealth) -> Result<Vec<u16>, ConfigError> {
        if !self.flags.health.ports.is_empty() {
            return self
                .flags
                .health
                .ports
                .iter()
                .map(|text| parse_port(text).map_err(|r| flag_error("--port", text, r)))
                .collect();
        }
        let Some(ports) = &raw.ports else {
            return Ok(Vec::new());
        };
        self.port_list(ports, "health.ports")
    }

    /// A list of ports from the file: each 1 to 65535, none twice.
    fn port_list(&self, ports: &Spanned<Vec<u16>>, key: &str) -> Result<Vec<u16>, ConfigError> {
        let list = ports.get_ref();
        if list.contains(&0) {
            return Err(self.invalid(ports, key, "ports are 1 to 65535".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        if !list.iter().all(|port| seen.insert(*port)) {
            return Err(self.invalid(ports, key, "a port is listed twice".into()));
        }
        Ok(list.clone())
    }

    /// `health.agent_prefix`: an absolute key prefix ending in `/`.
    fn agent_prefix(&self, value: &Text) -> Result<String, ConfigError> {
        let text = value.get_ref();
        if !text.starts_with('/') || !text.ends_with('/') || text.len() < 3 {
            let reason = "expected a key prefix that starts and ends with `/`, such as \
                          \"/containerdns/monitor/agent/\""
                .to_owned();
            return Err(self.invalid(value, "health.agent_prefix", reason));
        }
        Ok(text.clone())
    }

    /// `[health.names]`, in the order of their keys.
    fn health_names(&self, raw: &RawHealth) -> Result<Vec<(NamePattern, Vec<u16>)>, ConfigError> {
        let mut names: Vec<(NamePattern, Vec<u16>)> = Vec::new();
        for (key, ports) in &raw.names {
            let key_name = format!("health.names.{:?}", key.get_ref());
            let bad = |reason| self.invalid_at(key.span(), &key_name, ports.get_ref(), reason);
            let pattern = parse_pattern(key.get_ref()).map_err(bad)?;
            if names.iter().any(|(p, _)| *p == pattern) {
                return Err(bad(format!(
                    "{pattern} is listed twice (names ignore case)"
                )));
            }
            names.push((pattern, self.port_list(ports, &key_name)?));
        }
        Ok(names)
    }
}

fn parse_method(text: &str) -> Result<CheckMethod, String> {
    match text {
        "tcp" => Ok(CheckMethod::Tcp),
        "icmp" => Ok(CheckMethod::Icmp),
        _ => Err("expected \"tcp\" or \"icmp\"".into()),
    }
}

/// A checker's name: it becomes the last part of an etcd key.
fn parse_hostname(text: &str) -> Result<String, String> {
    let fits = !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if fits {
        Ok(text.to_owned())
    } else {
        Err("expected 1 to 253 letters, digits, `-`, `_` or `.`".into())
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err("expected a port, 1 to 65535".into()),
        Ok(port) => Ok(port),
    }
}

/// `name` or `*.name`.
fn parse_pattern(text: &str) -> Result<NamePattern, String> {
    let (below, rest) = match text.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let name = Name::from_ascii(rest).map_err(|e| e.to_string())?;
    if name.is_wildcard() {
        return Err("only a leading `*.` is allowed".into());
    }
    Ok(NamePattern { name, below })
}
