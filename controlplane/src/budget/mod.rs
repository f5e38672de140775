//! Budgets, not hopes: every resource an outsider can hold has a limit and a
//! counter, and no class of them can starve another.
//!
//! At start ([`Budgets::fit`]) the soft descriptor limit is raised to the hard
//! one ([`descriptors`]) and split ([`split`]) between the classes that hold
//! descriptors on an outsider's behalf:
//!
//! - DNS over TCP: `tcp.max_connections` connections over every listen address,
//!   at most `tcp.max_connections_per_source` from one source;
//! - the REST API: `api.max_connections`, at most `api.max_connections_per_source`
//!   from one source;
//! - the forwarder's upstream sockets: `forward.max_sockets`;
//! - headroom for the process itself (listeners, UDP sockets, files, etcd, the
//!   health checker's `max_concurrent` connects and echo sockets, and the
//!   metrics listener's `metrics.max_connections`, few and never cut).
//!
//! When the configured caps do not fit the limit obtained, each is cut in
//! proportion, one log line says so, and the cut values are written back into the
//! configuration, so every part reads its cap where it always does. Connections
//! are admitted through a [`ConnectionGate`] per class (the caps and their
//! counters); docs/operations.md lists every class, its default and its counter.

pub mod descriptors;
pub mod gate;
pub mod split;

use std::sync::Arc;

use tracing::{info, warn};

pub use descriptors::DescriptorLimit;
pub use gate::{Admission, ConnectionGate, GateFigures, Refusal, Timeout};
pub use split::{Split, Wanted};

use crate::config::{Dataplane, ServeConfig};

/// The limits in force: the descriptor limit, its split, and the gates.
#[derive(Debug)]
pub struct Budgets {
    pub descriptors: DescriptorLimit,
    /// Descriptors kept for the process itself.
    pub headroom: usize,
    /// DNS over TCP, over every listen address.
    pub tcp: Arc<ConnectionGate>,
    /// The REST API (present, and empty, without one).
    pub api: Arc<ConnectionGate>,
    /// The metrics listener, when there is one.
    pub metrics: Option<Arc<ConnectionGate>>,
    /// Upstream sockets the forwarder may hold at once (0 without upstreams).
    pub forward_sockets: usize,
}

/// The figures of `/metrics` and `/v1/stats` about budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetFigures {
    pub descriptor_limit: u64,
    /// Descriptors open now, where `/proc` tells.
    pub descriptors_open: Option<usize>,
    pub headroom: usize,
    pub forward_sockets: usize,
    pub gates: Vec<GateFigures>,
}

impl Budgets {
    /// Raises the descriptor limit, splits it, logs both, and returns `config`
    /// with the caps that fit in place of those asked for.
    pub fn fit(config: ServeConfig) -> (ServeConfig, Arc<Budgets>) {
        let (descriptors, error) = descriptors::raise();
        match error {
            None if descriptors.before < descriptors.soft => info!(
                "descriptor limit raised from {} to {} (the hard limit)",
                descriptors.before, descriptors.soft
            ),
            None => info!(
                "descriptor limit {} (soft {}, hard {}: already at the hard limit)",
                descriptors.soft, descriptors.before, descriptors.hard
            ),
            Some(e) => warn!(
                "cannot raise the descriptor limit from {} to {}: {e}",
                descriptors.before, descriptors.hard
            ),
        }
        Budgets::split(config, descriptors)
    }

    /// [`fit`](Budgets::fit) for a limit already known.
    fn split(mut config: ServeConfig, descriptors: DescriptorLimit) -> (ServeConfig, Arc<Budgets>) {
        let dpdk = matches!(config.dataplane, Dataplane::Dpdk(_));
        let udp_sockets = if dpdk {
            0
        } else {
            config.workers * config.listen.len()
        };
        let forwarding = !config.forward.nameservers.is_empty() || !config.forward.zones.is_empty();
        let wanted = Wanted {
            tcp: config.tcp.max_connections,
            api: config.api.as_ref().map_or(0, |api| api.max_connections),
            forward: if forwarding {
                config.forward.max_sockets
            } else {
                0
            },
            // The health checker's connects in flight and its two echo sockets,
            // and the metrics listener's connections.
            headroom: Wanted::headroom_for(udp_sockets, dpdk)
                + config
                    .health
                    .as_ref()
                    .map_or(0, |health| health.max_concurrent + 2)
                + config
                    .metrics
                    .as_ref()
                    .map_or(0, |metrics| metrics.max_connections),
        };
        let split = wanted.split(descriptors.soft);
        if split.reduced {
            let mut cuts = vec![format!(
                "tcp.max_connections {} -> {}",
                wanted.tcp, split.tcp
            )];
            if wanted.api > 0 {
                cuts.push(format!(
                    "api.max_connections {} -> {}",
                    wanted.api, split.api
                ));
            }
            if wanted.forward > 0 {
                cuts.push(format!(
                    "forward.max_sockets {} -> {}",
                    wanted.forward, split.forward
                ));
            }
            warn!(
                "descriptor limit {} is too low for the configured caps plus {} of headroom; \
                 reduced {}",
                descriptors.soft,
                wanted.headroom,
                cuts.join(", ")
            );
        }
        config.tcp.max_connections = split.tcp;
        config.tcp.max_connections_per_source =
            config.tcp.max_connections_per_source.min(split.tcp);
        if let Some(api) = &mut config.api {
            api.max_connections = split.api;
            api.max_connections_per_source = api.max_connections_per_source.min(split.api);
        }
        if forwarding {
            config.forward.max_sockets = split.forward;
        }
        let budgets = Budgets {
            descriptors,
            headroom: wanted.headroom,
            tcp: ConnectionGate::new(
                "tcp",
                config.tcp.max_connections,
                config.tcp.max_connections_per_source,
            ),
            api: match &config.api {
                Some(api) => {
                    ConnectionGate::new("api", api.max_connections, api.max_connections_per_source)
                }
                None => ConnectionGate::new("api", 1, 1),
            },
            metrics: config.metrics.as_ref().map(|metrics| {
                ConnectionGate::new(
                    "metrics",
                    metrics.max_connections,
                    metrics.max_connections_per_source,
                )
            }),
            forward_sockets: split.forward,
        };
        info!(
            "descriptor budgets of {}: tcp {} ({} per source), api {}, forward sockets {}, \
             headroom {}",
            descriptors.soft,
            budgets.tcp.limit(),
            budgets.tcp.per_source(),
            split.api,
            split.forward,
            wanted.headroom
        );
        (config, Arc::new(budgets))
    }

    /// The figures now.
    pub fn figures(&self) -> BudgetFigures {
        BudgetFigures {
            descriptor_limit: self.descriptors.soft,
            descriptors_open: descriptors::open(),
            headroom: self.headroom,
            forward_sockets: self.forward_sockets,
            gates: [&self.tcp, &self.api]
                .into_iter()
                .chain(&self.metrics)
                .map(|gate| gate.figures())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ApiSettings, Overrides, load};

    use super::*;

    fn config_with_api() -> ServeConfig {
        let overrides = Overrides {
            listen: vec!["127.0.0.1:5353".into()],
            workers: Some(2),
            forward: vec!["192.0.2.53".into()],
            api: Some("127.0.0.1:8053".into()),
            store: Some("records.redb".into()),
            ..Overrides::default()
        };
        load(None, &overrides).expect("valid")
    }

    fn limit(soft: u64) -> DescriptorLimit {
        DescriptorLimit {
            before: soft,
            soft,
            hard: soft,
        }
    }

    #[test]
    fn caps_that_fit_stay_as_configured() {
        let config = config_with_api();
        let (fitted, budgets) = Budgets::split(config.clone(), limit(1 << 20));
        assert_eq!(fitted, config);
        assert_eq!(budgets.tcp.limit(), config.tcp.max_connections);
        assert_eq!(budgets.forward_sockets, config.forward.max_sockets);
    }

    #[test]
    fn a_1024_descriptor_limit_cuts_the_caps_written_back_into_the_config() {
        let (fitted, budgets) = Budgets::split(config_with_api(), limit(1024));
        let api: &ApiSettings = fitted.api.as_ref().expect("api");
        let total = fitted.tcp.max_connections + api.max_connections + fitted.forward.max_sockets;
        assert!(total + budgets.headroom <= 1024, "{total}");
        assert!(fitted.tcp.max_connections >= 512, "{fitted:?}");
        assert_eq!(budgets.api.limit(), api.max_connections);
        assert!(api.max_connections_per_source <= api.max_connections);
        assert_eq!(budgets.forward_sockets, fitted.forward.max_sockets);
        let figures = budgets.figures();
        assert_eq!(figures.descriptor_limit, 1024);
        assert_eq!(figures.gates.len(), 2);
    }

    #[test]
    fn without_upstreams_or_api_tcp_gets_what_they_would_have_had() {
        let overrides = Overrides {
            listen: vec!["127.0.0.1:5353".into()],
            workers: Some(1),
            ..Overrides::default()
        };
        let config = load(None, &overrides).expect("valid");
        let (fitted, budgets) = Budgets::split(config, limit(1024));
        assert_eq!(fitted.tcp.max_connections, 1024 - budgets.headroom);
        assert_eq!(budgets.forward_sockets, 0);
    }

    #[test]
    fn the_health_checker_s_sockets_come_out_of_the_headroom() {
        let config = config_with_api();
        let (_, without) = Budgets::split(config.clone(), limit(1024));
        let with_health = ServeConfig {
            health: Some(crate::config::HealthSettings::default()),
            ..config
        };
        let (fitted, with) = Budgets::split(with_health, limit(1024));
        assert_eq!(
            with.headroom,
            without.headroom + crate::config::DEFAULT_HEALTH_MAX_CONCURRENT + 2
        );
        let api: &ApiSettings = fitted.api.as_ref().expect("api");
        let total = fitted.tcp.max_connections + api.max_connections + fitted.forward.max_sockets;
        assert!(total + with.headroom <= 1024, "{total}");
    }
}
