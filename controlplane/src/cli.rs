//! The `ferrodns` command line (clap derive).
//!
//! Flags are kept as the text the operator typed and handed to the configuration as
//! [`Overrides`]; [`crate::config::load`] parses and validates them together with the
//! configuration file, so a bad `--listen` and a bad `server.listen` produce the
//! same kind of error ([`ConfigError`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigError, HealthCheckConfig, HealthFlags, Overrides, ServeConfig};
use crate::preflight::{self, Problems};

/// ferrodns: a fast authoritative DNS server for service discovery.
#[derive(Debug, Parser)]
#[command(name = "ferrodns", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer DNS queries for the configured zones over UDP and TCP.
    Serve(ServeArgs),
    /// Validate the configuration and print the effective settings as TOML.
    ///
    /// Takes the same options as `serve`, so a `serve` command line can be checked
    /// as it is: `ferrodns check-config --config FILE [FLAGS...]`. Checks what
    /// `serve` would meet too (every zone file, the store's path, the API's token
    /// and TLS files) and lists every problem found, not only the first.
    CheckConfig(ServeArgs),
    /// Check a zone file as `serve` loads it, listing every error (like
    /// kzonecheck); prints a summary when it is good.
    CheckZone(CheckZoneArgs),
    /// Make 2 MiB hugepages available to the DPDK backend: reserve at least
    /// PAGES of them and mount hugetlbfs on /dev/hugepages, when either is
    /// missing (needs root; once per boot: the ferrodns-hugepages service does
    /// it at boot). Never lowers a reservation.
    Hugepages(HugepagesArgs),
    /// Edit the embedded record store offline. A running server reads the store at
    /// start and on SIGHUP, so send it SIGHUP after a change.
    Store(StoreArgs),
    /// Check the backend addresses etcd lists under its health prefix (containerdns's
    /// /containerdns/monitor/status/) by TCP connect or ICMP echo, and write each
    /// verdict back, sharing the addresses with every other checker of the cluster
    /// (docs/health.md). Takes the etcd, health and log sections of --config.
    HealthCheck(HealthCheckArgs),
}

/// Options of `ferrodns health-check`. Each overrides the matching key of the
/// `--config` file's `[etcd]` or `[health]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct HealthCheckArgs {
    /// TOML configuration file (the one `serve` reads will do).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// etcd v3 endpoint, http://HOST:PORT or https://HOST:PORT; repeat for more.
    #[arg(long = "etcd", value_name = "URL")]
    pub etcd: Vec<String>,

    /// This checker's name among the checkers of the cluster, announced under
    /// health.agent_prefix (/containerdns/monitor/agent/NAME) [default: the host name]
    // The text is clap's help, where `[default: ...]` is the convention, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Time between two checks of one address [default: 2000]
    #[arg(long, value_name = "MS")]
    pub interval_ms: Option<String>,

    /// Time one check may take [default: 1000]
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<String>,

    /// Failed checks in a row that make an address DOWN [default: 3]
    #[arg(long, value_name = "N")]
    pub retries: Option<String>,

    /// Port to connect to on addresses whose status lists none; repeat for more.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,

    /// tcp (connect to the ports; ICMP echo when there are none) or icmp [default: tcp]
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,

    /// Seconds a dead checker's addresses wait before others take them over [default: 10]
    #[arg(long, value_name = "S")]
    pub lease_ttl_s: Option<String>,

    /// Checks in flight at once [default: 256]
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<String>,

    /// Serve /metrics (and /healthz) on ADDR:PORT, e.g. 127.0.0.1:9053.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,

    /// Log filter in tracing's EnvFilter syntax [default: info]
    #[arg(long, value_name = "LEVEL", env = "FERRODNS_LOG")]
    pub log: Option<String>,

    /// Log lines as text or as one JSON object each [default: text]
    #[arg(long, value_name = "FORMAT", env = "FERRODNS_LOG_FORMAT")]
    pub log_format: Option<String>,
}

impl HealthCheckArgs {
    /// Loads `--config` (if given), merges the flags over it and validates.
    pub fn load(&self) -> Result<HealthCheckConfig, ConfigError> {
        let overrides = Overrides {
            etcd: self.etcd.clone(),
            log: self.log.clone(),
            log_format: self.log_format.clone(),
            health: HealthFlags {
                hostname: self.hostname.clone(),
                interval_ms: self.interval_ms.clone(),
                timeout_ms: self.timeout_ms.clone(),
                retries: self.retries.clone(),
                ports: self.ports.clone(),
                method: self.method.clone(),
                lease_ttl_s: self.lease_ttl_s.clone(),
                max_concurrent: self.max_concurrent.clone(),
            },
            ..Overrides::default()
        };
        config::load_health_check(self.config.as_deref(), &overrides)
    }

    /// The `--metrics` address, parsed.
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, String> {
        self.metrics
            .as_deref()
            .map(|text| {
                text.parse()
                    .map_err(|_| format!("--metrics {text:?}: expected IP:PORT"))
            })
            .transpose()
    }
}

/// Options of `ferrodns check-zone`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CheckZoneArgs {
    /// The zone file.
    pub file: PathBuf,
    /// The zone's origin (apex), e.g. svc.example.
    pub origin: String,
}

/// Options of `ferrodns hugepages`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct HugepagesArgs {
    /// Pages of 2 MiB to have reserved at least [default: 512]
    // The text is clap's help, where `[default: ...]` is the convention, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    pub pages: Option<u64>,
    /// Only say how many pages are reserved and where hugetlbfs is mounted.
    #[arg(long)]
    pub check: bool,
}

/// Options of `ferrodns store`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct StoreArgs {
    /// File of the embedded record store (created when missing).
    #[arg(long, value_name = "PATH")]
    pub store: PathBuf,

    #[command(subcommand)]
    pub action: StoreAction,
}

/// What `ferrodns store` does.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum StoreAction {
    /// Add zone ORIGIN, with the records of the zone file FILE when given. One
    /// transaction: a bad line or record writes nothing.
    Import {
        origin: String,
        file: Option<PathBuf>,
    },
    /// List the zones, or the records of zone ORIGIN as zone-file lines.
    List { origin: Option<String> },
    /// Remove zone ORIGIN and its records.
    RemoveZone { origin: String },
    /// Add records given as zone-file lines with absolute owners, e.g.
    /// "www.svc.example. 300 IN A 10.0.0.1" (one argument each). One
    /// transaction, with the REST API's rules: a refused record writes nothing.
    Add {
        #[arg(required = true, value_name = "RECORD")]
        records: Vec<String>,
    },
    /// Print the records at NAME (of type TYPE only, when given).
    Get {
        name: String,
        #[arg(value_name = "TYPE")]
        rtype: Option<String>,
    },
    /// Delete the records at NAME: all of them, those of type TYPE, or the one
    /// whose data is DATA (presentation format, e.g. "10.0.0.1" or
    /// "10 5 80 web.svc.example.").
    Delete {
        name: String,
        #[arg(value_name = "TYPE")]
        rtype: Option<String>,
        #[arg(value_name = "DATA")]
        data: Option<String>,
    },
}

/// Options of `ferrodns serve` (and `check-config`). Every one overrides the
/// matching key of the `--config` file; see docs/configuration.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ServeArgs {
    /// TOML configuration file; relative paths inside it are relative to its directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to answer on over UDP and TCP (IPv6 as `[::1]:53`); repeat for more.
    /// Replaces the file's `server.listen` [default: 127.0.0.1:53 and [::1]:53]
    // The text is clap's help, where `[default: ...]` is the convention, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    pub listen: Vec<String>,

    /// Serve zone ORIGIN from the RFC 1035 zone file PATH; repeat for more zones.
    /// Replaces the file of a configured zone with the same origin.
    #[arg(long = "zone", value_name = "ORIGIN=PATH")]
    pub zones: Vec<String>,

    /// Serve zone ORIGIN from etcd (or, without etcd, from the store), with an SOA
    /// and NS made up when none is stored; repeat for more zones.
    #[arg(long = "domain", value_name = "ORIGIN")]
    pub domains: Vec<String>,

    /// etcd v3 endpoint, http://HOST:PORT or https://HOST:PORT; repeat for more.
    /// Replaces the file's `etcd.endpoints`.
    #[arg(long = "etcd", value_name = "URL")]
    pub etcd: Vec<String>,

    /// File where a copy of etcd's records is kept, served at start when etcd is
    /// unreachable.
    #[arg(long = "etcd-snapshot", value_name = "PATH")]
    pub etcd_snapshot: Option<PathBuf>,

    /// Number of UDP worker threads [default: number of CPUs]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// File of the embedded record store.
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Default answer policy: round-robin, random-one or hone-one [default: round-robin]
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,

    /// Upstream nameserver for names outside every local zone (IPv6 as
    /// `[2001:db8::53]:53`; a bare IP means port 53); repeat for more, in order of
    /// preference. Replaces the file's `forward.nameservers` [default: none: such
    /// names are answered REFUSED]
    #[arg(long = "forward", value_name = "ADDR:PORT")]
    pub forward: Vec<String>,

    /// Answer with the DPDK backend, started with these EAL arguments (one string,
    /// split on whitespace), e.g. "-l 0-2 --vdev net_af_packet0,iface=eth1,qpairs=2".
    /// The --listen addresses become the service addresses. See docs/dpdk.md.
    #[arg(long, value_name = "EAL ARGS", allow_hyphen_values = true)]
    pub dpdk: Option<String>,

    /// Serve the REST API (docs/api.md) on ADDR:PORT, e.g. 127.0.0.1:8053.
    /// Replaces the file's `api.listen` [default: no API]
    #[arg(long = "api", value_name = "ADDR:PORT")]
    pub api: Option<String>,

    /// File whose first line is the API token. Replaces the file's
    /// `api.token_file` [default: the environment variable FERRODNS_API_TOKEN]
    #[arg(long = "api-token-file", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,

    /// Serve /metrics, /healthz and /readyz on ADDR:PORT, e.g. 127.0.0.1:9153, with
    /// no token and whatever the record source. Replaces the file's
    /// `metrics.listen` [default: only on the API's port]
    #[arg(long = "metrics", value_name = "ADDR:PORT")]
    pub metrics: Option<String>,

    /// PowerDNS remote backend to poll for its zones, as PowerDNS's
    /// remote-connection-string: unix:path=SOCKET[,timeout=MS] (an OpenSVC agent:
    /// unix:path=/var/lib/opensvc/dns/pdns.sock); repeat for more. Replaces the
    /// file's `pdns_remote.connections`.
    #[arg(long = "pdns-remote", value_name = "CONNECTION")]
    pub pdns_remote: Vec<String>,

    /// Address block (10.0.0.0/8, fd00::/64) or address allowed to transfer the
    /// zones (AXFR, IXFR); repeat for more. Replaces the file's
    /// `transfer.allow_transfer` [default: 127.0.0.0/8 and ::1]
    #[arg(long = "allow-transfer", value_name = "CIDR")]
    pub allow_transfer: Vec<String>,

    /// Secondary to send a NOTIFY when a zone changes (a bare IP means port 53);
    /// repeat for more. Replaces the file's `transfer.notify`.
    #[arg(long = "notify", value_name = "ADDR:PORT")]
    pub notify: Vec<String>,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `warn,ferrodns=debug`
    /// [default: info]
    #[arg(long, value_name = "LEVEL", env = "FERRODNS_LOG")]
    pub log: Option<String>,

    /// Log lines as text or as one JSON object each [default: text]
    #[arg(long, value_name = "FORMAT", env = "FERRODNS_LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Write the server's process ID to PATH once it is ready, and remove it at
    /// exit. The server refuses to start while another running process holds
    /// the file.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
}

impl ServeArgs {
    /// The flags that override the file's keys.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            zones: self.zones.clone(),
            domains: self.domains.clone(),
            etcd: self.etcd.clone(),
            etcd_snapshot: self.etcd_snapshot.clone(),
            workers: self.workers,
            store: self.store.clone(),
            policy: self.policy.clone(),
            forward: self.forward.clone(),
            dpdk: self.dpdk.clone(),
            api: self.api.clone(),
            api_token_file: self.api_token_file.clone(),
            pdns_remote: self.pdns_remote.clone(),
            allow_transfer: self.allow_transfer.clone(),
            notify: self.notify.clone(),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
            log_format: self.log_format.clone(),
            health: HealthFlags::default(),
        }
    }

    /// Loads `--config` (if given), merges the flags over it and validates.
    pub fn load(&self) -> Result<ServeConfig, ConfigError> {
        config::load(self.config.as_deref(), &self.overrides())
    }
}

/// The `check-config` subcommand: loads and validates, checks the files and
/// secrets the configuration names as `serve` would ([`preflight`]), then
/// renders the effective configuration as TOML (what the caller prints).
pub fn check_config(args: &ServeArgs) -> Result<String, Problems> {
    let config = args.load().map_err(Problems::of_config)?;
    let mut problems = preflight::check_environment(&config);
    problems.extend(preflight::check_zone_files(&config));
    if problems.is_empty() {
        Ok(config::render(&config))
    } else {
        Err(Problems(problems))
    }
}

/// The `check-zone` subcommand: a summary of a good zone file, else every
/// error in it.
pub fn check_zone(args: &CheckZoneArgs) -> Result<String, Problems> {
    let origin = ferrodns_dataplane::name::Name::from_ascii(&args.origin)
        .map_err(|e| Problems(vec![format!("bad origin {:?}: {e}", args.origin)]))?;
    let (records, errors) = crate::zonefile::check_zone_file(&args.file, &origin);
    if !errors.is_empty() {
        return Err(Problems(errors.iter().map(ToString::to_string).collect()));
    }
    let names: std::collections::BTreeSet<_> = records.iter().map(|r| &r.name).collect();
    let soa = records
        .iter()
        .any(|r| r.rtype() == ferrodns_dataplane::record::RType::SOA);
    Ok(format!(
        "{}: zone {origin} is good: {} records at {} names{}\n",
        args.file.display(),
        records.len(),
        names.len(),
        if soa {
            ""
        } else {
            " (no SOA: ferrodns serves one it makes up)"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "ferrodns",
            "serve",
            "--config",
            "/etc/ferrodns.toml",
            "--listen",
            "127.0.0.1:5353",
            "--listen",
            "[::1]:5353",
            "--zone",
            "svc.cluster.local.=svc.zone",
            "--zone",
            "10.in-addr.arpa=rev.zone",
            "--workers",
            "3",
            "--store",
            "records.redb",
            "--policy",
            "hone-one",
            "--forward",
            "192.0.2.53:53",
            "--forward",
            "[2001:db8::53]:5300",
            "--log",
            "debug",
            "--domain",
            "svc.example.",
            "--etcd",
            "http://127.0.0.1:2379",
            "--etcd",
            "http://127.0.0.2:2379",
            "--etcd-snapshot",
            "etcd.snap",
            "--api",
            "127.0.0.1:8053",
            "--api-token-file",
            "token",
            "--pdns-remote",
            "unix:path=/var/lib/opensvc/dns/pdns.sock",
            "--allow-transfer",
            "10.0.0.0/8",
            "--notify",
            "10.0.0.2:53",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve, got {:?}", cli.command);
        };
        assert_eq!(
            args,
            ServeArgs {
                config: Some("/etc/ferrodns.toml".into()),
                listen: vec!["127.0.0.1:5353".into(), "[::1]:5353".into()],
                zones: vec![
                    "svc.cluster.local.=svc.zone".into(),
                    "10.in-addr.arpa=rev.zone".into()
                ],
                workers: Some(3),
                store: Some("records.redb".into()),
                policy: Some("hone-one".into()),
                forward: vec!["192.0.2.53:53".into(), "[2001:db8::53]:5300".into()],
                dpdk: None,
                log: Some("debug".into()),
                domains: vec!["svc.example.".into()],
                etcd: vec![
                    "http://127.0.0.1:2379".into(),
                    "http://127.0.0.2:2379".into()
                ],
                etcd_snapshot: Some("etcd.snap".into()),
                api: Some("127.0.0.1:8053".into()),
                api_token_file: Some("token".into()),
                pdns_remote: vec!["unix:path=/var/lib/opensvc/dns/pdns.sock".into()],
                allow_transfer: vec!["10.0.0.0/8".into()],
                notify: vec!["10.0.0.2:53".into()],
                metrics: None,
                log_format: None,
                pid_file: None,
            }
        );
    }

    #[test]
    fn serve_without_flags_leaves_everything_to_the_file_and_defaults() {
        let cli = Cli::try_parse_from(["ferrodns", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(args.config, None);
        assert!(args.listen.is_empty() && args.zones.is_empty());
        assert_eq!((args.workers, args.store, args.policy), (None, None, None));
    }

    #[test]
    fn check_config_takes_the_serve_options() {
        let cli = Cli::try_parse_from(["ferrodns", "check-config", "--config", "f.toml"])
            .expect("parses");
        let Command::CheckConfig(args) = cli.command else {
            panic!("expected check-config");
        };
        assert_eq!(args.config, Some(PathBuf::from("f.toml")));
    }

    #[test]
    fn health_check_flags_reach_the_settings() {
        let cli = Cli::try_parse_from([
            "ferrodns",
            "health-check",
            "--etcd",
            "http://127.0.0.1:2379",
            "--hostname",
            "checker-1",
            "--interval-ms",
            "500",
            "--retries",
            "2",
            "--port",
            "80",
            "--port",
            "8080",
            "--method",
            "icmp",
        ])
        .expect("parses");
        let Command::HealthCheck(args) = cli.command else {
            panic!("expected health-check");
        };
        let config = args.load().expect("valid");
        assert_eq!(config.health.hostname.as_deref(), Some("checker-1"));
        assert_eq!(
            config.health.interval,
            std::time::Duration::from_millis(500)
        );
        assert_eq!(config.health.retries, 2);
        assert_eq!(config.health.ports, [80, 8080]);
        assert_eq!(config.health.method, config::CheckMethod::Icmp);
        assert_eq!(config.etcd.endpoints, ["http://127.0.0.1:2379"]);
        let none = Cli::try_parse_from(["ferrodns", "health-check"]).expect("parses");
        let Command::HealthCheck(args) = none.command else {
            panic!("expected health-check");
        };
        let error = args.load().expect_err("etcd is required").to_string();
        assert!(error.contains("--etcd"), "{error}");
    }

    #[test]
    fn workers_must_be_a_number() {
        let err = Cli::try_parse_from(["ferrodns", "serve", "--workers", "two"]).unwrap_err();
        assert!(err.to_string().contains("--workers"), "{err}");
    }
}
