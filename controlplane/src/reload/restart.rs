//! Which changes of the configuration a running server cannot take: they need
//! a restart, and a reload names them instead of applying them.
//!
//! A reload applies the zones (added, removed, their files), the answer
//! policies and the forwarders' upstreams (`forward.nameservers`,
//! `forward.zones`). Everything else is bound to what start-up built: sockets
//! (listen addresses, the REST API's), threads (workers, cores), the I/O
//! backend, the connection caps and timeouts fitted to the descriptor budget,
//! the sources that run beside the listeners (etcd, remote backends, health
//! checks, transfers and NOTIFY), the metrics listener, the query log and the
//! names' counting, and the logging set up before everything.
//!
//! [`needing_restart`] destructures [`ServeConfig`] without `..`, so a new
//! setting does not compile until someone decides whether a reload applies it.

use crate::config::{ForwardSettings, ServeConfig};

/// The settings of `next` that differ from those the server `running` was
/// started with and that only a restart applies, as file keys
/// (`server.listen`), in the file's order.
pub(crate) fn needing_restart(running: &ServeConfig, next: &ServeConfig) -> Vec<&'static str> {
    let ServeConfig {
        listen,
        workers,
        cores,
        default_policy: _,
        tcp,
        store,
        chaos_version,
        chaos_id,
        log_level,
        log_format,
        zones: _,
        forward,
        dataplane,
        etcd,
        pdns_remote,
        transfer,
        api,
        health,
        metrics,
        dnstap,
        query_stats,
    } = next;
    let mut keys = Vec::new();
    let mut differs = |key, changed: bool| {
        if changed {
            keys.push(key);
        }
    };
    differs("server.listen", *listen != running.listen);
    differs("server.workers", *workers != running.workers);
    differs("server.cores", *cores != running.cores);
    differs("tcp", *tcp != running.tcp);
    differs("store.path", *store != running.store);
    differs("chaos.version", *chaos_version != running.chaos_version);
    differs("chaos.id", *chaos_id != running.chaos_id);
    differs("log.level", *log_level != running.log_level);
    differs("log.format", *log_format != running.log_format);
    differs(
        "zone (a zone etcd feeds)",
        etcd.is_some() && next.etcd_zones() != running.etcd_zones(),
    );
    differs("etcd", *etcd != running.etcd);
    differs("pdns_remote", *pdns_remote != running.pdns_remote);
    differs(
        "forward (forwarding was off at start)",
        forwards(forward) && !forwards(&running.forward),
    );
    differs(
        "forward (keys other than nameservers and zones)",
        !same_but_upstreams(forward, &running.forward),
    );
    differs("transfer", *transfer != running.transfer);
    differs("dataplane", *dataplane != running.dataplane);
    differs("api", *api != running.api);
    differs("health", *health != running.health);
    differs("metrics", *metrics != running.metrics);
    differs("dnstap", *dnstap != running.dnstap);
    differs("stats", *query_stats != running.query_stats);
    keys
}

/// Whether `forward` has any upstream: a forwarder exists only then, and the
/// engine punts only to one that existed at start.
fn forwards(forward: &ForwardSettings) -> bool {
    !forward.nameservers.is_empty() || !forward.zones.is_empty()
}

/// Whether `a` and `b` differ at most in their upstreams.
fn same_but_upstreams(a: &ForwardSettings, b: &ForwardSettings) -> bool {
    let upstreams_of_b = ForwardSettings {
        nameservers: b.nameservers.clone(),
        zones: b.zones.clone(),
        ..a.clone()
    };
    upstreams_of_b == *b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, load};

    fn config(flags: &Overrides) -> ServeConfig {
        load(None, flags).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn zones_policies_and_upstreams_apply_and_the_rest_is_named() {
        let running = config(&Overrides {
            forward: vec!["127.0.0.1:5300".into()],
            workers: Some(1),
            ..Overrides::default()
        });
        let reloadable = config(&Overrides {
            forward: vec!["127.0.0.2:5300".into()],
            workers: Some(1),
            zones: vec!["example.=/dev/null".into()],
            policy: Some("hone-one".into()),
            ..Overrides::default()
        });
        assert!(needing_restart(&running, &reloadable).is_empty());
        let mut restart = reloadable.clone();
        restart.workers = 2;
        restart.listen.truncate(1);
        restart.forward.cache_size += 1;
        assert_eq!(
            needing_restart(&running, &restart),
            [
                "server.listen",
                "server.workers",
                "forward (keys other than nameservers and zones)"
            ]
        );
    }

    #[test]
    fn upstreams_where_there_were_none_need_a_restart() {
        let running = config(&Overrides::default());
        let next = config(&Overrides {
            forward: vec!["127.0.0.1:5300".into()],
            ..Overrides::default()
        });
        assert_eq!(
            needing_restart(&running, &next),
            ["forward (forwarding was off at start)"]
        );
    }
}
