//! `check-config`'s output: a validated configuration written back in the file's
//! schema ([`super::file`]), defaults filled in and paths absolute, so that loading
//! the output gives the same configuration back.

use std::path::Path;
use std::time::Duration;

use ferrodns_dataplane::record::AnswerPolicy;
use toml::Spanned;

use super::file::{
    RawApi, RawChaos, RawConfig, RawDataplane, RawDnstap, RawEtcd, RawForward, RawHealth, RawLog,
    RawMetrics, RawPdnsRemote, RawServer, RawStats, RawStore, RawTcp, RawTransfer, RawZone, Text,
    text_list, unspanned,
};
use super::{
    ApiSettings, Dataplane, DnstapOutput, DnstapSettings, EtcdSettings, ForwardSettings,
    HealthSettings, MetricsSettings, PdnsRemoteSettings, ServeConfig, ZoneConfig,
};

/// Renders a configuration as TOML in the file schema; loading the result gives the
/// same configuration back.
pub fn render(config: &ServeConfig) -> String {
    let file = RawConfig {
        server: RawServer {
            listen: Some(text_list(&config.listen)),
            workers: given(config.workers),
            cores: config.cores.clone().map(unspanned),
            policy: given(config.default_policy.as_str().to_owned()),
        },
        tcp: RawTcp {
            idle_timeout_ms: given(millis(config.tcp.idle_timeout)),
            max_connections: given(config.tcp.max_connections),
            max_connections_per_source: given(config.tcp.max_connections_per_source),
            write_timeout_ms: given(millis(config.tcp.write_timeout)),
        },
        store: RawStore {
            path: config.store.as_deref().map(path),
        },
        chaos: RawChaos {
            version: config.chaos_version.clone().map(unspanned),
            id: config.chaos_id.clone().map(unspanned),
        },
        log: RawLog {
            level: given(config.log_level.clone()),
            format: given(config.log_format.as_str().to_owned()),
        },
        etcd: config
            .etcd
            .as_ref()
            .map(|etcd| unspanned(etcd_section(etcd))),
        pdns_remote: config
            .pdns_remote
            .as_ref()
            .map(|pdns| unspanned(pdns_remote_section(pdns))),
        api: config.api.as_ref().map(api_section).unwrap_or_default(),
        forward: forward_section(&config.forward),
        transfer: RawTransfer {
            allow_transfer: Some(text_list(&config.transfer.allow)),
            notify: Some(text_list(&config.transfer.notify)),
        },
        zone: config.zones.iter().map(zone_section).collect(),
        dataplane: dataplane_section(&config.dataplane),
        health: config
            .health
            .as_ref()
            .map(|health| unspanned(health_section(health))),
        metrics: config
            .metrics
            .as_ref()
            .map(metrics_section)
            .unwrap_or_default(),
        dnstap: config
            .dnstap
            .as_ref()
            .map(|dnstap| unspanned(dnstap_section(dnstap))),
        // Written only when on, the default being off.
        stats: RawStats {
            enabled: config.query_stats.then(|| unspanned(true)),
        },
    };
    let body = toml::to_string(&file).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
    format!(
        "# ferrodns effective configuration: defaults filled in, command line merged,\n\
         # paths absolute.\n\n{body}"
    )
}

/// A duration in whole milliseconds, as the `*_ms` keys take it.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A key with a value.
fn given<T>(value: T) -> Option<Spanned<T>> {
    Some(unspanned(value))
}

fn path(path: &Path) -> Text {
    unspanned(path.to_string_lossy().into_owned())
}

fn etcd_section(etcd: &EtcdSettings) -> RawEtcd {
    // A layout that is off is written as the empty prefix.
    let prefix = |p: &Option<String>| given(p.clone().unwrap_or_default());
    RawEtcd {
        endpoints: Some(text_list(&etcd.endpoints)),
        ca_file: etcd.ca_file.as_deref().map(path),
        cert_file: etcd.cert_file.as_deref().map(path),
        key_file: etcd.key_file.as_deref().map(path),
        username: etcd.username.clone().map(unspanned),
        password_file: etcd.password_file.as_deref().map(path),
        containerdns_prefix: prefix(&etcd.layouts.containerdns),
        skydns_prefix: prefix(&etcd.layouts.skydns),
        health_prefix: prefix(&etcd.layouts.health),
        snapshot: etcd.snapshot.as_deref().map(path),
        timeout_ms: given(millis(etcd.timeout)),
    }
}

fn pdns_remote_section(pdns: &PdnsRemoteSettings) -> RawPdnsRemote {
    let connections: Vec<String> = pdns
        .remotes
        .iter()
        .map(|remote| remote.connection_string())
        .collect();
    RawPdnsRemote {
        connections: Some(text_list(&connections)),
        poll_interval_ms: given(millis(pdns.poll_interval)),
        max_reply_bytes: given(pdns.max_reply_bytes),
    }
}

fn api_section(api: &ApiSettings) -> RawApi {
    RawApi {
        listen: given(api.listen.to_string()),
        token_file: api.token_file.as_deref().map(path),
        tls_cert: api.tls.as_ref().map(|tls| path(&tls.cert)),
        tls_key: api.tls.as_ref().map(|tls| path(&tls.key)),
        max_body_bytes: given(api.max_body_bytes),
        max_connections: given(api.max_connections),
        max_connections_per_source: given(api.max_connections_per_source),
        idle_timeout_ms: given(millis(api.idle_timeout)),
        header_timeout_ms: given(millis(api.header_timeout)),
        body_timeout_ms: given(millis(api.body_timeout)),
    }
}

fn forward_section(forward: &ForwardSettings) -> RawForward {
    RawForward {
        nameservers: Some(text_list(&forward.nameservers)),
        cache_size: given(forward.cache_size),
        timeout_ms: given(millis(forward.timeout)),
        deadline_ms: given(millis(forward.deadline)),
        per_client_qps: given(forward.per_client_qps),
        max_ttl: given(forward.max_ttl),
        max_negative_ttl: given(forward.max_negative_ttl),
        max_sockets: given(forward.max_sockets),
        max_in_flight: given(forward.max_in_flight),
        max_in_flight_per_upstream: given(forward.max_in_flight_per_upstream),
        queries_per_socket: given(forward.queries_per_socket),
        zones: forward
            .zones
            .iter()
            .map(|(zone, servers)| (unspanned(zone.to_string()), text_list(servers)))
            .collect(),
    }
}

fn zone_section(zone: &ZoneConfig) -> RawZone {
    let policy = |policy: AnswerPolicy| unspanned(policy.as_str().to_owned());
    RawZone {
        origin: unspanned(zone.origin.to_string()),
        file: zone.file.as_deref().map(path),
        policy: zone.policy.map(policy),
        names: zone
            .name_policies
            .iter()
            .map(|(name, p)| (unspanned(name.to_string()), policy(*p)))
            .collect(),
    }
}

fn dataplane_section(dataplane: &Dataplane) -> RawDataplane {
    let Dataplane::Dpdk(dpdk) = dataplane else {
        return RawDataplane::default();
    };
    let idle_sleep_us = dpdk
        .idle_sleep
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    RawDataplane {
        backend: given("dpdk".to_owned()),
        eal: given(dpdk.eal_args.join(" ")),
        port: dpdk.port.clone().map(unspanned),
        kernel_interface: given(dpdk.kernel_interface.clone()),
        ipv4_prefix_len: given(dpdk.ipv4_prefix_len),
        ipv6_prefix_len: given(dpdk.ipv6_prefix_len),
        mbufs: given(dpdk.mbufs),
        descriptors: given(dpdk.descriptors),
        idle_sleep_us: given(idle_sleep_us),
    }
}

fn health_section(health: &HealthSettings) -> RawHealth {
    RawHealth {
        interval_ms: given(millis(health.interval)),
        timeout_ms: given(millis(health.timeout)),
        retries: given(health.retries),
        ports: given(health.ports.clone()),
        method: given(health.method.as_str().to_owned()),
        max_concurrent: given(health.max_concurrent),
        etcd: given(health.etcd),
        hostname: health.hostname.clone().map(unspanned),
        agent_prefix: given(health.agent_prefix.clone()),
        lease_ttl_s: given(health.lease_ttl.as_secs()),
        names: health
            .names
            .iter()
            .map(|(pattern, ports)| (unspanned(pattern.to_string()), unspanned(ports.clone())))
            .collect(),
    }
}

fn metrics_section(metrics: &MetricsSettings) -> RawMetrics {
    RawMetrics {
        listen: given(metrics.listen.to_string()),
        max_connections: given(metrics.max_connections),
        max_connections_per_source: given(metrics.max_connections_per_source),
        idle_timeout_ms: given(millis(metrics.idle_timeout)),
        header_timeout_ms: given(millis(metrics.header_timeout)),
    }
}

fn dnstap_section(dnstap: &DnstapSettings) -> RawDnstap {
    let (socket, file) = match &dnstap.output {
        DnstapOutput::Socket(socket) => (Some(path(socket)), None),
        DnstapOutput::File(file) => (None, Some(path(file))),
    };
    RawDnstap {
        socket,
        file,
        sample: given(dnstap.sample),
        queries: given(dnstap.queries),
        responses: given(dnstap.responses),
        queue: given(dnstap.queue),
        identity: dnstap.identity.clone().map(unspanned),
    }
}
