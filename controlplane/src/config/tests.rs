use std::time::Duration;

use super::server::available_cpus;
use super::source::line_column;
use super::*;
use ferrodns_dataplane::testkit::name;

const PATH: &str = "/etc/ferrodns/ferrodns.toml";

const FULL: &str = r#"
[server]
listen = ["127.0.0.1:5353", "[::1]:5353"]
workers = 2
cores = [0, 1]
policy = "random-one"
[tcp]
idle_timeout_ms = 15000
max_connections = 64
write_timeout_ms = 2500
[store]
path = "/var/lib/ferrodns/records.redb"
[chaos]
version = "ferrodns"
id = "dns1"
[log]
level = "warn,ferrodns=debug"
[forward]
nameservers = ["192.0.2.53:53", "2001:db8::53"]
cache_size = 5000
timeout_ms = 500
deadline_ms = 2000
per_client_qps = 100
max_negative_ttl = 60
[forward.zones]
"corp.example." = ["10.0.0.1:53", "10.0.0.2"]
"Lab.Example" = ["[fd00::53]:5353"]
[[zone]]
origin = "svc.cluster.local."
file = "svc.cluster.local.zone"
policy = "hone-one"
[zone.names]
"web.svc.cluster.local." = "random-one"
"API.svc.cluster.local" = "round-robin"
[[zone]]
origin = "10.in-addr.arpa"
file = "zones/10.in-addr.arpa.zone"
[[zone]]
origin = "store.only."
"#;

fn parse_with(flags: &Overrides, text: &str) -> Result<ServeConfig, ConfigError> {
    load_text(flags, Some((Path::new(PATH), text)))
}

fn parse(text: &str) -> Result<ServeConfig, ConfigError> {
    parse_with(&Overrides::default(), text)
}

/// The error message for a file that must be rejected.
fn file_error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("accepted {text:?} as {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn flag_error_of(flags: &Overrides) -> String {
    error_of(load(None, flags))
}

/// The error message of a load that must fail.
fn error_of(loaded: Result<ServeConfig, ConfigError>) -> String {
    match loaded {
        Ok(config) => panic!("accepted as {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

#[test]
fn full_file_parses_to_the_expected_config() {
    let config = parse(FULL).expect("valid");
    let expected = ServeConfig {
        listen: vec![
            "127.0.0.1:5353".parse().unwrap(),
            "[::1]:5353".parse().unwrap(),
        ],
        workers: 2,
        cores: Some(vec![0, 1]),
        default_policy: AnswerPolicy::RandomOne,
        tcp: TcpSettings {
            idle_timeout: Duration::from_millis(15000),
            max_connections: 64,
            write_timeout: Duration::from_millis(2500),
            ..TcpSettings::default()
        },
        store: Some("/var/lib/ferrodns/records.redb".into()),
        chaos_version: Some("ferrodns".into()),
        chaos_id: Some("dns1".into()),
        log_level: "warn,ferrodns=debug".into(),
        log_format: LogFormat::Text,
        zones: vec![
            ZoneConfig {
                origin: name("svc.cluster.local."),
                file: Some("/etc/ferrodns/svc.cluster.local.zone".into()),
                policy: Some(AnswerPolicy::HoneOne),
                // canonical order: api before web
                name_policies: vec![
                    (name("api.svc.cluster.local."), AnswerPolicy::RoundRobin),
                    (name("web.svc.cluster.local."), AnswerPolicy::RandomOne),
                ],
            },
            ZoneConfig {
                origin: name("10.in-addr.arpa."),
                file: Some("/etc/ferrodns/zones/10.in-addr.arpa.zone".into()),
                policy: None,
                name_policies: vec![],
            },
            ZoneConfig {
                origin: name("store.only."),
                file: None,
                policy: None,
                name_policies: vec![],
            },
        ],
        etcd: None,
        pdns_remote: None,
        forward: ForwardSettings {
            nameservers: vec![
                "192.0.2.53:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
            ],
            zones: vec![
                (
                    name("corp.example."),
                    vec![
                        "10.0.0.1:53".parse().unwrap(),
                        "10.0.0.2:53".parse().unwrap(),
                    ],
                ),
                (
                    name("lab.example."),
                    vec!["[fd00::53]:5353".parse().unwrap()],
                ),
            ],
            cache_size: 5000,
            timeout: Duration::from_millis(500),
            deadline: Duration::from_millis(2000),
            per_client_qps: 100,
            max_ttl: DEFAULT_FORWARD_MAX_TTL,
            max_negative_ttl: 60,
            max_sockets: DEFAULT_FORWARD_MAX_SOCKETS,
            max_in_flight: DEFAULT_FORWARD_MAX_IN_FLIGHT,
            max_in_flight_per_upstream: DEFAULT_FORWARD_MAX_IN_FLIGHT_PER_UPSTREAM,
            queries_per_socket: DEFAULT_FORWARD_QUERIES_PER_SOCKET,
        },
        transfer: TransferSettings::default(),
        dataplane: Dataplane::Kernel,
        api: None,
        health: None,
        metrics: None,
        dnstap: None,
        query_stats: false,
    };
    assert_eq!(config, expected);
}

#[test]
fn nothing_given_means_defaults() {
    let config = load(None, &Overrides::default()).expect("defaults are valid");
    assert_eq!(config.listen, DEFAULT_LISTEN.to_vec());
    assert_eq!(config.listen[1].to_string(), "[::1]:53");
    assert_eq!(config.workers, available_cpus());
    assert!(config.workers >= 1);
    assert_eq!(config.cores, None);
    assert_eq!(config.default_policy, AnswerPolicy::RoundRobin);
    assert_eq!(config.tcp, TcpSettings::default());
    assert_eq!(config.tcp.idle_timeout, Duration::from_millis(10000));
    assert_eq!(config.tcp.max_connections, 1024);
    assert_eq!(config.tcp.write_timeout, Duration::from_millis(5000));
    assert_eq!(
        (config.store, config.chaos_version, config.chaos_id),
        (None, None, None)
    );
    assert_eq!(config.log_level, "info");
    assert!(config.zones.is_empty());
    // An empty file is the same as no file.
    assert_eq!(
        parse("").expect("empty file"),
        load(None, &Overrides::default()).unwrap()
    );
}

#[test]
fn relative_paths_are_resolved_against_the_config_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir(&conf_dir).expect("mkdir");
    let path = conf_dir.join("ferrodns.toml");
    std::fs::write(
        &path,
        "[store]\npath = \"data/records.redb\"\n\
         [[zone]]\norigin = \"a.example.\"\nfile = \"a.zone\"\n\
         [[zone]]\norigin = \"b.example.\"\nfile = \"../zones/b.zone\"\n\
         [[zone]]\norigin = \"c.example.\"\nfile = \"/srv/c.zone\"\n",
    )
    .expect("write config");
    let config = load(Some(&path), &Overrides::default()).expect("valid");
    assert_eq!(config.store, Some(conf_dir.join("data/records.redb")));
    let files: Vec<_> = config
        .zones
        .iter()
        .map(|z| z.file.clone().unwrap())
        .collect();
    assert_eq!(
        files,
        vec![
            conf_dir.join("a.zone"),
            conf_dir.join("../zones/b.zone"),
            PathBuf::from("/srv/c.zone")
        ]
    );
}

#[test]
fn command_line_overrides_the_file() {
    let args = Overrides {
        listen: vec!["[::1]:8053".into()],
        workers: Some(2),
        store: Some("/tmp/other.redb".into()),
        policy: Some("hone-one".into()),
        log: Some("debug".into()),
        ..Overrides::default()
    };
    let config = parse_with(&args, FULL).expect("valid");
    assert_eq!(
        config.listen,
        vec!["[::1]:8053".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(config.workers, 2);
    assert_eq!(config.store, Some(PathBuf::from("/tmp/other.redb")));
    assert_eq!(config.default_policy, AnswerPolicy::HoneOne);
    assert_eq!(config.log_level, "debug");
    // Untouched keys keep the file's values.
    assert_eq!(config.chaos_id.as_deref(), Some("dns1"));
    assert_eq!(config.tcp.max_connections, 64);
}

#[test]
fn zone_flags_add_zones_and_replace_files() {
    let args = Overrides {
        zones: vec![
            "SVC.cluster.local=/srv/svc.zone".into(),
            "example.org.=example.org.zone".into(),
        ],
        ..Overrides::default()
    };
    let config = parse_with(&args, FULL).expect("valid");
    let origins: Vec<String> = config.zones.iter().map(|z| z.origin.to_string()).collect();
    assert_eq!(
        origins,
        [
            "svc.cluster.local.",
            "10.in-addr.arpa.",
            "store.only.",
            "example.org."
        ]
    );
    let svc = &config.zones[0];
    assert_eq!(svc.file, Some(PathBuf::from("/srv/svc.zone")));
    assert_eq!(svc.policy, Some(AnswerPolicy::HoneOne), "policies stay");
    assert_eq!(svc.name_policies.len(), 2);
    let added = &config.zones[3];
    // Relative to the working directory, made absolute.
    let expected = std::env::current_dir().unwrap().join("example.org.zone");
    assert_eq!(added.file.as_ref(), Some(&expected));
    assert_eq!((added.policy, added.name_policies.len()), (None, 0));
}

#[test]
fn workers_follow_cores_when_not_given() {
    let config = parse("[server]\ncores = [2, 3, 5]\n").expect("valid");
    assert_eq!(config.workers, 3);
    assert_eq!(config.cores, Some(vec![2, 3, 5]));
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let message = file_error("[server]\nworkers = 2\nlisten_on = [\"127.0.0.1:53\"]\n");
    assert_mentions(&message, &[PATH, ":3:1:", "listen_on"]);
    let message = file_error("[server]\n[tls]\ncert = \"x\"\n");
    assert_mentions(&message, &[":2:", "tls"]);
    let message = file_error("[[zone]]\norigin = \"a.\"\npolicies = {}\n");
    assert_mentions(&message, &[":3:1:", "policies"]);
}

#[test]
fn syntax_errors_report_line_and_column() {
    let message = file_error("[server]\nworkers = 2\npolicy = \"round-robin\n");
    assert_mentions(&message, &[PATH, ":3:"]);
    let message = file_error("[server]\n\n  workers = = 2\n");
    assert_mentions(&message, &[PATH, ":3:"]);
}

#[test]
fn wrong_types_show_the_offending_line() {
    let message = file_error("[tcp]\n# comment\nmax_connections = \"many\"\n");
    assert_mentions(&message, &[":3:19:", "max_connections = \"many\""]);
    let message = file_error("[server]\nworkers = -1\n");
    assert_mentions(&message, &[":2:", "workers = -1"]);
}

#[test]
fn bad_listen_addresses_are_rejected() {
    let message = file_error("[server]\nlisten = [\"127.0.0.1:53\", \"localhost:53\"]\n");
    assert_mentions(&message, &[":2:27:", "server.listen", "\"localhost:53\""]);
    let message = file_error("[server]\nlisten = [\"::1:53\"]\n");
    assert_mentions(&message, &["server.listen", "\"::1:53\"", "[::1]:53"]);
    let message = file_error("[server]\nlisten = []\n");
    assert_mentions(&message, &[":2:", "server.listen", "at least one"]);
    let message = file_error("[server]\nlisten = [\"[::1]:53\", \"[::1]:53\"]\n");
    assert_mentions(&message, &["server.listen", "twice"]);
    let message = flag_error_of(&Overrides {
        listen: vec!["127.0.0.1".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--listen", "\"127.0.0.1\""]);
}

#[test]
fn bad_names_are_rejected() {
    let message = file_error("[[zone]]\norigin = \"a..example.\"\n");
    assert_mentions(&message, &[":2:", "zone.origin", "a..example."]);
    let long = "x".repeat(64);
    let message = file_error(&format!("[[zone]]\norigin = \"{long}.example.\"\n"));
    assert_mentions(&message, &["zone.origin", "63"]);
    let message =
        file_error("[[zone]]\norigin = \"a.\"\n[zone.names]\n\"b..a.\" = \"random-one\"\n");
    assert_mentions(&message, &[":4:", "zone.names", "b..a."]);
    let message = flag_error_of(&Overrides {
        zones: vec!["bad..origin=x.zone".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--zone", "bad..origin=x.zone", "origin"]);
}

#[test]
fn unknown_policies_are_rejected() {
    let message = file_error("[server]\npolicy = \"fastest\"\n");
    assert_mentions(
        &message,
        &[":2:10:", "server.policy", "fastest", "round-robin"],
    );
    let message = file_error("[[zone]]\norigin = \"a.\"\npolicy = \"roundrobin\"\n");
    assert_mentions(&message, &[":3:", "zone.policy", "roundrobin"]);
    let message = file_error("[[zone]]\norigin = \"a.\"\nnames = { \"w.a.\" = \"hone\" }\n");
    assert_mentions(&message, &[":3:", "zone.names.\"w.a.\"", "\"hone\""]);
    let message = flag_error_of(&Overrides {
        policy: Some("Round-Robin".into()),
        ..Overrides::default()
    });
    assert_mentions(&message, &["--policy", "Round-Robin"]);
}

#[test]
fn zone_flag_needs_an_equals_sign_and_a_path() {
    let message = flag_error_of(&Overrides {
        zones: vec!["svc.cluster.local".into()],
        ..Overrides::default()
    });
    assert_mentions(
        &message,
        &["--zone", "\"svc.cluster.local\"", "ORIGIN=PATH"],
    );
    let message = flag_error_of(&Overrides {
        zones: vec!["svc.cluster.local=".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--zone", "PATH is empty"]);
}

#[test]
fn duplicate_zone_origins_are_rejected() {
    let message = file_error(
        "[[zone]]\norigin = \"svc.cluster.local.\"\n\n[[zone]]\norigin = \"SVC.cluster.local\"\n",
    );
    assert_mentions(
        &message,
        &[":5:", "zone.origin", "SVC.cluster.local", ":2:"],
    );
    let message = flag_error_of(&Overrides {
        zones: vec!["a.example=1.zone".into(), "a.example.=2.zone".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--zone", "a.example.=2.zone", "twice"]);
}

#[test]
fn zero_workers_are_rejected() {
    let message = file_error("[server]\nworkers = 0\n");
    assert_mentions(&message, &[":2:11:", "server.workers = 0", "at least 1"]);
    let message = flag_error_of(&Overrides {
        workers: Some(0),
        ..Overrides::default()
    });
    assert_mentions(&message, &["--workers", "at least 1"]);
}

#[test]
fn cores_must_match_workers() {
    let message = file_error("[server]\nworkers = 3\ncores = [0, 1]\n");
    assert_mentions(
        &message,
        &[":3:9:", "server.cores = [0, 1]", "server.workers is 3"],
    );
    let args = Overrides {
        workers: Some(4),
        ..Overrides::default()
    };
    let message = parse_with(&args, "[server]\ncores = [0, 1]\n")
        .unwrap_err()
        .to_string();
    assert_mentions(&message, &["server.cores", "--workers is 4"]);
    let message = file_error("[server]\nworkers = 1\ncores = []\n");
    assert_mentions(&message, &["server.cores = []"]);
}

#[test]
fn name_overrides_must_lie_inside_their_zone() {
    let message = file_error(
        "[[zone]]\norigin = \"svc.cluster.local.\"\n[zone.names]\n\
         \"web.svc.cluster.local.\" = \"random-one\"\n\"web.other.local.\" = \"hone-one\"\n",
    );
    assert_mentions(
        &message,
        &[
            ":5:1:",
            "zone.names.\"web.other.local.\" = \"hone-one\"",
            "not inside zone svc.cluster.local.",
        ],
    );
    // A name merely ending in the same characters is not inside.
    let message =
        file_error("[[zone]]\norigin = \"local.\"\nnames = { \"xlocal.\" = \"hone-one\" }\n");
    assert_mentions(&message, &["xlocal."]);
    // The apex itself may have an override.
    parse("[[zone]]\norigin = \"local.\"\nnames = { \"local.\" = \"hone-one\" }\n").expect("apex");
    let message = file_error(
        "[[zone]]\norigin = \"a.\"\nnames = { \"w.a.\" = \"hone-one\", \"W.a\" = \"hone-one\" }\n",
    );
    assert_mentions(&message, &["zone.names", "twice"]);
}

#[test]
fn other_values_are_checked() {
    let message = file_error("[tcp]\nidle_timeout_ms = 0\n");
    assert_mentions(&message, &["tcp.idle_timeout_ms = 0"]);
    let message = file_error("[tcp]\nmax_connections = 0\n");
    assert_mentions(&message, &["tcp.max_connections = 0"]);
    let message = file_error("[tcp]\nwrite_timeout_ms = 0\n");
    assert_mentions(&message, &["tcp.write_timeout_ms = 0"]);
    let message = file_error(&format!("[chaos]\nversion = \"{}\"\n", "v".repeat(256)));
    assert_mentions(&message, &["chaos.version", "255"]);
    let message = file_error("[log]\nlevel = \"info,[\"\n");
    assert_mentions(&message, &[":2:", "log.level"]);
    let message = file_error("[[zone]]\norigin = \"a.\"\nfile = \"\"\n");
    assert_mentions(&message, &["zone.file", "empty"]);
    let message = file_error("[[zone]]\nfile = \"a.zone\"\n");
    assert_mentions(&message, &["origin"]);
    let message = flag_error_of(&Overrides {
        log: Some("info,[".into()),
        ..Overrides::default()
    });
    assert_mentions(&message, &["--log", "info,["]);
}

#[test]
fn every_bad_section_is_reported_in_one_load() {
    let message = file_error(
        "[server]\nlisten = [\"nowhere\"]\n[tcp]\nidle_timeout_ms = 0\n\
         [forward]\nnameservers = [\"not an address\"]\n",
    );
    assert!(message.starts_with("3 errors:"), "{message}");
    assert_mentions(
        &message,
        &[
            "server.listen",
            "tcp.idle_timeout_ms",
            "forward.nameservers",
        ],
    );
    let one = file_error("[tcp]\nidle_timeout_ms = 0\n");
    assert!(!one.contains("errors:"), "one error is shown alone: {one}");
}

#[test]
fn the_log_format_is_text_or_json_from_the_file_or_the_flag() {
    assert_eq!(parse("").expect("valid").log_format, LogFormat::Text);
    let json = parse("[log]\nformat = \"json\"\n").expect("valid");
    assert_eq!(json.log_format, LogFormat::Json);
    let flags = Overrides {
        log_format: Some("text".into()),
        ..Overrides::default()
    };
    let text = parse_with(&flags, "[log]\nformat = \"json\"\n").expect("valid");
    assert_eq!(text.log_format, LogFormat::Text, "the flag wins");
    let message = file_error("[log]\nformat = \"xml\"\n");
    assert_mentions(&message, &[":2:", "log.format", "text or json"]);
    let rendered = render(&json);
    assert!(rendered.contains("format = \"json\""), "{rendered}");
}

#[test]
fn forward_flags_replace_the_nameservers() {
    let args = Overrides {
        forward: vec!["127.0.0.1:5300".into(), "::1".into()],
        ..Overrides::default()
    };
    let config = parse_with(&args, FULL).expect("valid");
    assert_eq!(
        config.forward.nameservers,
        vec![
            "127.0.0.1:5300".parse::<SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    assert_eq!(config.forward.zones.len(), 2, "zones stay");
    let defaults = load(None, &Overrides::default()).unwrap().forward;
    assert_eq!(defaults, ForwardSettings::default());
    assert!(defaults.nameservers.is_empty() && defaults.zones.is_empty());
    assert_eq!(defaults.per_client_qps, 0, "rate limit off by default");
}

#[test]
fn bad_forward_settings_are_rejected() {
    let message = file_error("[forward]\nnameservers = [\"dns.google:53\"]\n");
    assert_mentions(
        &message,
        &[":2:16:", "forward.nameservers", "dns.google:53"],
    );
    let message = file_error("[forward]\nnameservers = [\"10.0.0.1:0\"]\n");
    assert_mentions(&message, &["forward.nameservers", "port other than 0"]);
    let message = file_error("[forward]\nnameservers = [\"10.0.0.1\", \"10.0.0.1:53\"]\n");
    assert_mentions(&message, &["forward.nameservers", "twice"]);
    let message = file_error("[forward]\ntimeout_ms = 0\n");
    assert_mentions(&message, &[":2:", "forward.timeout_ms"]);
    let message = file_error("[forward]\ntimeout_ms = 500\ndeadline_ms = 100\n");
    assert_mentions(
        &message,
        &[":3:", "forward.deadline_ms = 100", "timeout_ms (500 ms)"],
    );
    let message = file_error("[forward]\ntimeout_ms = 5000\n");
    assert_mentions(
        &message,
        &["forward.timeout_ms = 5000", "deadline_ms (3000 ms)"],
    );
    let message = file_error("[forward]\nper_client_qps = -1\n");
    assert_mentions(&message, &[":2:", "per_client_qps"]);
    let message = file_error("[forward]\nupstreams = []\n");
    assert_mentions(&message, &[":2:1:", "upstreams"]);
    let message = file_error("[forward.zones]\n\"corp..example\" = [\"10.0.0.1\"]\n");
    assert_mentions(&message, &[":2:", "forward.zones.\"corp..example\""]);
    let message = file_error("[forward.zones]\n\"corp.example\" = []\n");
    assert_mentions(
        &message,
        &[":2:", "forward.zones.\"corp.example\"", "at least one"],
    );
    let message = file_error(
        "[forward.zones]\n\"corp.example\" = [\"10.0.0.1\"]\n\"CORP.example.\" = [\"10.0.0.2\"]\n",
    );
    assert_mentions(&message, &["forward.zones", "twice"]);
    let message = file_error("[forward.zones]\n\"corp.example\" = [\"x\"]\n");
    assert_mentions(&message, &[":2:", "forward.zones.\"corp.example\" = \"x\""]);
    let message = flag_error_of(&Overrides {
        forward: vec!["resolver:53".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--forward", "\"resolver:53\""]);
    let message = flag_error_of(&Overrides {
        forward: vec!["10.0.0.1".into(), "10.0.0.1:53".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--forward", "twice"]);
}

#[test]
fn unreadable_file_names_the_path() {
    let path = Path::new("/nonexistent/ferrodns.toml");
    let loaded = load(Some(path), &Overrides::default());
    assert!(matches!(loaded, Err(ConfigError::Read { .. })));
    assert_mentions(&error_of(loaded), &["/nonexistent/ferrodns.toml"]);
}

#[test]
fn render_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = parse(FULL).expect("valid");
    let text = render(&config);
    assert!(
        text.contains("[[zone]]") && text.contains("[zone.names]"),
        "{text}"
    );
    let path = dir.path().join("effective.toml");
    std::fs::write(&path, &text).expect("write");
    let again = load(Some(&path), &Overrides::default()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again, config);

    let defaults = load(None, &Overrides::default()).expect("defaults");
    let again = parse(&render(&defaults)).expect("rendered defaults parse");
    assert_eq!(again, defaults);
}

#[test]
fn example_in_docs_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/ferrodns.toml");
    let config = load(Some(&path), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::path::absolute(path.parent().unwrap()).unwrap();
    assert_eq!(config.workers, config.cores.as_ref().map_or(0, Vec::len));
    let zones: Vec<_> = config
        .zones
        .iter()
        .map(|z| (z.origin.to_string(), z.file.clone()))
        .collect();
    assert_eq!(
        zones,
        [
            (
                "svc.cluster.local.".to_owned(),
                Some(dir.join("svc.cluster.local.zone"))
            ),
            (
                "10.in-addr.arpa.".to_owned(),
                Some(dir.join("10.in-addr.arpa.zone"))
            ),
        ]
    );
    assert!(config.chaos_version.is_some() && config.store.is_some());
}

const ETCD: &str = r#"
[etcd]
endpoints = ["https://etcd1:2379", "https://10.0.0.2:2379/"]
ca_file = "tls/ca.pem"
cert_file = "/etc/ferrodns/tls/client.pem"
key_file = "tls/client-key.pem"
username = "ferrodns"
password_file = "etcd.password"
skydns_prefix = ""
health_prefix = "/health/"
snapshot = "/var/lib/ferrodns/etcd.snapshot"
timeout_ms = 2000
[[zone]]
origin = "svc.example."
policy = "hone-one"
[[zone]]
origin = "static.example."
file = "static.zone"
"#;

#[test]
fn etcd_section_parses() {
    let config = parse(ETCD).expect("valid");
    let etcd = config.etcd.clone().expect("etcd");
    assert_eq!(
        etcd.endpoints,
        ["https://etcd1:2379", "https://10.0.0.2:2379"]
    );
    assert_eq!(
        etcd.ca_file,
        Some(PathBuf::from("/etc/ferrodns/tls/ca.pem"))
    );
    assert_eq!(
        etcd.cert_file,
        Some(PathBuf::from("/etc/ferrodns/tls/client.pem"))
    );
    assert_eq!(
        etcd.key_file,
        Some(PathBuf::from("/etc/ferrodns/tls/client-key.pem"))
    );
    assert_eq!(etcd.username.as_deref(), Some("ferrodns"));
    assert_eq!(
        etcd.password_file,
        Some(PathBuf::from("/etc/ferrodns/etcd.password"))
    );
    assert_eq!(etcd.layouts.containerdns.as_deref(), Some("/containerdns/"));
    assert_eq!(etcd.layouts.skydns, None);
    assert_eq!(etcd.layouts.health.as_deref(), Some("/health/"));
    assert_eq!(etcd.timeout, Duration::from_millis(2000));
    assert_eq!(config.etcd_zones(), [name("svc.example.")]);
    // Round trip through check-config's output.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("effective.toml");
    std::fs::write(&path, render(&config)).expect("write");
    let again = load(Some(&path), &Overrides::default()).expect("rendered config loads");
    assert_eq!(again, config);
}

#[test]
fn etcd_and_domain_flags() {
    let args = Overrides {
        etcd: vec!["https://127.0.0.1:2379".into()],
        domains: vec!["svc.example".into(), "other.example.".into()],
        etcd_snapshot: Some("snap".into()),
        ..Overrides::default()
    };
    let config = parse_with(&args, ETCD).expect("valid");
    let etcd = config.etcd.clone().expect("etcd");
    // --etcd replaces the endpoints.
    assert_eq!(etcd.endpoints, ["https://127.0.0.1:2379"]);
    assert_eq!(config.zones.len(), 3, "svc.example. is not added twice");
    assert_eq!(config.zones[0].policy, Some(AnswerPolicy::HoneOne));
    assert_eq!(
        config.etcd_zones(),
        [name("svc.example."), name("other.example.")]
    );
    assert!(etcd.snapshot.is_some_and(|p| p.is_absolute()));

    // Without etcd a --domain zone is a store zone.
    let config = load(
        None,
        &Overrides {
            domains: vec!["svc.example".into()],
            ..Overrides::default()
        },
    )
    .expect("valid");
    assert_eq!((config.zones.len(), config.etcd_zones().len()), (1, 0));
}

#[test]
fn bad_etcd_settings_are_rejected() {
    let with_domain = |section: &str| format!("{section}\n[[zone]]\norigin = \"a.\"\n");
    let cases = [
        (
            "[etcd]\nendpoints = [\"127.0.0.1:2379\"]",
            vec![":2:", "etcd.endpoints", "http://HOST:PORT"],
        ),
        (
            "[etcd]\nendpoints = [\"http://etcd\"]",
            vec!["etcd.endpoints", "with the port"],
        ),
        (
            "[etcd]\nendpoints = []",
            vec!["etcd.endpoints", "at least one"],
        ),
        ("[etcd]\ntimeout_ms = 5", vec!["needs endpoints"]),
        (
            "[etcd]\nendpoints = [\"http://a:1\", \"https://b:2\"]",
            vec!["mixes http:// and https://"],
        ),
        (
            "[etcd]\nendpoints = [\"http://a:1\"]\nca_file = \"ca.pem\"",
            vec!["use http://"],
        ),
        (
            "[etcd]\nendpoints = [\"https://a:1\"]\ncert_file = \"c.pem\"",
            vec!["etcd.cert_file", "go together"],
        ),
        (
            "[etcd]\nendpoints = [\"http://a:1\"]\nusername = \"u\"",
            vec!["password_file"],
        ),
        (
            "[etcd]\nendpoints = [\"http://a:1\"]\nskydns_prefix = \"skydns\"",
            vec![":3:", "etcd.skydns_prefix", "starts and ends with `/`"],
        ),
        (
            "[etcd]\nendpoints = [\"http://a:1\"]\ntimeout_ms = 0",
            vec!["etcd.timeout_ms"],
        ),
        (
            "[etcd]\nendpoint = [\"http://a:1\"]",
            vec!["unknown field `endpoint`"],
        ),
    ];
    for (text, words) in cases {
        assert_mentions(&file_error(&with_domain(text)), &words);
    }
    let message = file_error("[etcd]\nendpoints = [\"http://a:1\"]\n");
    assert_mentions(&message, &["no zone takes its records", "--domain"]);
    let message = flag_error_of(&Overrides {
        etcd: vec!["etcd:2379".into()],
        domains: vec!["a.".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--etcd", "etcd:2379"]);
    let message = flag_error_of(&Overrides {
        domains: vec!["a..b".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--domain", "a..b"]);
    let message = flag_error_of(&Overrides {
        domains: vec!["a.".into(), "A".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--domain", "twice"]);
    let message = flag_error_of(&Overrides {
        zones: vec!["a.=a.zone".into()],
        domains: vec!["a.".into()],
        ..Overrides::default()
    });
    assert_mentions(&message, &["--domain", "zone file"]);
    let message = flag_error_of(&Overrides {
        etcd_snapshot: Some("s".into()),
        ..Overrides::default()
    });
    assert_mentions(&message, &["--etcd-snapshot", "--etcd URL"]);
}

#[test]
fn line_column_counts_characters() {
    let text = "a = 1\nbé = \"x\"\n";
    assert_eq!(line_column(text, 0), (1, 1));
    assert_eq!(line_column(text, 6), (2, 1));
    let at = text.find('=').map(|_| text.rfind('=').unwrap()).unwrap();
    assert_eq!(line_column(text, at), (2, 4));
    assert_eq!(line_column(text, text.len() + 10), (3, 1));
}

const DPDK: &str = r#"
[server]
listen = ["192.0.2.53:53", "[2001:db8::53]:53"]
[dataplane]
backend = "dpdk"
eal = "-l 0-2  --vdev net_af_packet0,iface=eth1,qpairs=2"
port = "net_af_packet0"
kernel_interface = "fdns-test"
ipv4_prefix_len = 25
ipv6_prefix_len = 112
mbufs = 8191
descriptors = 512
idle_sleep_us = 50
"#;

#[test]
fn the_dpdk_dataplane_section_parses_and_renders_back() {
    let config = parse(DPDK).expect("valid");
    let expected = Dataplane::Dpdk(DpdkSettings {
        eal_args: vec![
            "-l".into(),
            "0-2".into(),
            "--vdev".into(),
            "net_af_packet0,iface=eth1,qpairs=2".into(),
        ],
        port: Some("net_af_packet0".into()),
        kernel_interface: "fdns-test".into(),
        ipv4_prefix_len: 25,
        ipv6_prefix_len: 112,
        mbufs: 8191,
        descriptors: 512,
        idle_sleep: Some(Duration::from_micros(50)),
    });
    assert_eq!(config.dataplane, expected);
    let again = parse(&render(&config)).expect("rendered config loads");
    assert_eq!(again, config);
}

#[test]
fn the_dpdk_flag_selects_the_backend_with_defaults() {
    let args = Overrides {
        listen: vec!["192.0.2.53:53".into()],
        dpdk: Some("-l 0-1 --vdev=net_pcap0,rx_pcap=q.pcap".into()),
        ..Overrides::default()
    };
    let config = load(None, &args).expect("valid");
    let Dataplane::Dpdk(dpdk) = config.dataplane else {
        panic!("expected the DPDK backend, got {:?}", config.dataplane);
    };
    assert_eq!(
        dpdk.eal_args,
        ["-l", "0-1", "--vdev=net_pcap0,rx_pcap=q.pcap"]
    );
    assert_eq!(dpdk.port, None);
    assert_eq!(dpdk.kernel_interface, DEFAULT_KERNEL_INTERFACE);
    assert_eq!((dpdk.ipv4_prefix_len, dpdk.ipv6_prefix_len), (24, 64));
    assert_eq!(
        (dpdk.mbufs, dpdk.descriptors, dpdk.idle_sleep),
        (DEFAULT_MBUFS, DEFAULT_DESCRIPTORS, None)
    );
    // The flag overrides the file's EAL arguments.
    let file = load_text(&args, Some((Path::new(PATH), DPDK))).expect("valid");
    let Dataplane::Dpdk(dpdk) = file.dataplane else {
        panic!()
    };
    assert_eq!(
        dpdk.eal_args,
        ["-l", "0-1", "--vdev=net_pcap0,rx_pcap=q.pcap"]
    );
    assert_eq!(dpdk.kernel_interface, "fdns-test");
}

#[test]
fn bad_dataplane_settings_are_rejected_with_their_line() {
    let cases = [
        ("[dataplane]\nbackend = \"xdp\"\n", "dataplane.backend"),
        ("[dataplane]\nbackend = \"dpdk\"\n", "needs dataplane.eal"),
        (
            "[dataplane]\nbackend = \"dpdk\"\neal = \" \"\n",
            "dataplane.eal",
        ),
        (
            "[server]\nlisten = [\"1.2.3.4:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\nipv4_prefix_len = 33\n",
            "dataplane.ipv4_prefix_len",
        ),
        (
            "[server]\nlisten = [\"1.2.3.4:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\nkernel_interface = \"a-name-that-is-too-long\"\n",
            "dataplane.kernel_interface",
        ),
        (
            "[server]\nlisten = [\"1.2.3.4:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\ndescriptors = 8\n",
            "dataplane.descriptors",
        ),
        ("[dataplane]\nqueues = 2\n", "queues"),
    ];
    for (text, part) in cases {
        let message = file_error(text);
        assert_mentions(&message, &[PATH, part]);
    }
    let wildcard =
        "[server]\nlisten = [\"0.0.0.0:53\"]\n[dataplane]\nbackend = \"dpdk\"\neal = \"-l 0-1\"\n";
    assert_mentions(
        &file_error(wildcard),
        &["0.0.0.0:53", "concrete IP address"],
    );
}

#[test]
fn the_api_section_parses_renders_back_and_yields_to_flags() {
    let text = "[store]\npath = \"records.redb\"\n\n[api]\nlisten = \"127.0.0.1:8053\"\n\
                token_file = \"token\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\
                max_body_bytes = 4096\n";
    let config = parse(text).expect("valid");
    let expected = ApiSettings {
        listen: "127.0.0.1:8053".parse().expect("addr"),
        token_file: Some("/etc/ferrodns/token".into()),
        tls: Some(ApiTls {
            cert: "/etc/ferrodns/cert.pem".into(),
            key: "/etc/ferrodns/key.pem".into(),
        }),
        max_body_bytes: 4096,
        max_connections: DEFAULT_API_MAX_CONNECTIONS,
        max_connections_per_source: DEFAULT_API_MAX_CONNECTIONS_PER_SOURCE,
        idle_timeout: DEFAULT_API_IDLE_TIMEOUT,
        header_timeout: DEFAULT_API_HEADER_TIMEOUT,
        body_timeout: DEFAULT_API_BODY_TIMEOUT,
    };
    assert_eq!(config.api.as_ref(), Some(&expected));
    let again = parse(&render(&config)).expect("rendered config parses");
    assert_eq!(again.api, config.api);

    let flags = Overrides {
        api: Some("127.0.0.1:9053".into()),
        ..Overrides::default()
    };
    let config = parse_with(&flags, "[store]\npath = \"r.redb\"\n").expect("valid");
    let api = config.api.expect("api from the flag");
    assert_eq!(api.listen.port(), 9053);
    assert_eq!(api.max_body_bytes, DEFAULT_API_MAX_BODY_BYTES);
    assert_eq!((api.token_file, api.tls), (None, None));
}

#[test]
fn bad_api_settings_are_rejected() {
    assert_mentions(
        &file_error("[store]\npath = \"r\"\n[api]\nlisten = \"localhost:8053\"\n"),
        &["api.listen", "localhost:8053"],
    );
    assert_mentions(
        &file_error(
            "[store]\npath = \"r\"\n[api]\nlisten = \"127.0.0.1:8053\"\ntls_cert = \"c\"\n",
        ),
        &["api.tls_cert", "api.tls_key"],
    );
    assert_mentions(
        &file_error(
            "[store]\npath = \"r\"\n[api]\nlisten = \"127.0.0.1:8053\"\nmax_body_bytes = 0\n",
        ),
        &["api.max_body_bytes"],
    );
    assert_mentions(
        &file_error("[api]\nlisten = \"127.0.0.1:8053\"\n"),
        &["--store", "--etcd"],
    );
}

const HEALTH: &str = r#"
[etcd]
endpoints = ["http://127.0.0.1:2379"]
[[zone]]
origin = "svc.example."
[health]
interval_ms = 1000
timeout_ms = 500
retries = 2
ports = [80, 8080]
method = "icmp"
max_concurrent = 64
hostname = "node-1"
agent_prefix = "/agents/"
lease_ttl_s = 5
[health.names]
"web.svc.example." = [443]
"*.db.svc.example." = []
"#;

#[test]
fn the_health_section_parses_and_renders_back() {
    let config = parse(HEALTH).expect("valid");
    let expected = HealthSettings {
        interval: Duration::from_millis(1000),
        timeout: Duration::from_millis(500),
        retries: 2,
        ports: vec![80, 8080],
        method: CheckMethod::Icmp,
        max_concurrent: 64,
        etcd: true,
        hostname: Some("node-1".into()),
        agent_prefix: "/agents/".into(),
        lease_ttl: Duration::from_secs(5),
        names: vec![
            (
                NamePattern {
                    name: name("db.svc.example."),
                    below: true,
                },
                vec![],
            ),
            (
                NamePattern {
                    name: name("web.svc.example."),
                    below: false,
                },
                vec![443],
            ),
        ],
    };
    assert_eq!(config.health.as_ref(), Some(&expected));
    let again = parse(&render(&config)).expect("rendered config parses");
    assert_eq!(again.health, config.health);
    let without = parse("[store]\npath = \"r\"\n").expect("valid");
    assert_eq!(without.health, None, "no section, no checker");
    let names_only = parse("[health.names]\n\"web.example.\" = [80]\n").expect("valid");
    let health = names_only.health.expect("a checker");
    assert!(!health.etcd, "without [etcd] only the names are checked");
    assert_eq!(health.interval, DEFAULT_HEALTH_INTERVAL);
}

#[test]
fn bad_health_settings_are_rejected() {
    let cases: [(&str, &[&str]); 7] = [
        ("[health]\nretries = 3\n", &["health", "checks nothing"]),
        ("[health]\netcd = true\n", &["health.etcd", "[etcd]"]),
        (
            "[health]\nmethod = \"udp\"\n[health.names]\n\"a.example.\" = []\n",
            &["health.method", "\"tcp\" or \"icmp\""],
        ),
        (
            "[health]\nports = [80, 80]\n[health.names]\n\"a.example.\" = []\n",
            &["health.ports", "twice"],
        ),
        (
            "[health]\nretries = 0\n[health.names]\n\"a.example.\" = []\n",
            &["health.retries", "1 to 1000"],
        ),
        (
            "[health]\nlease_ttl_s = 1\n[health.names]\n\"a.example.\" = []\n",
            &["health.lease_ttl_s", "2 to 3600"],
        ),
        (
            "[health.names]\n\"a.example.\" = [0]\n",
            &["health.names.\"a.example.\"", "1 to 65535"],
        ),
    ];
    for (text, parts) in cases {
        assert_mentions(&file_error(text), parts);
    }
    assert_mentions(
        &file_error("[health]\nhostname = \"a/b\"\n[health.names]\n\"a.example.\" = []\n"),
        &["health.hostname"],
    );
}

#[test]
fn forwarder_caps_parse_render_back_default_and_are_checked() {
    let text = "[forward]\nnameservers = [\"192.0.2.53\"]\nmax_in_flight = 300\n\
                max_in_flight_per_upstream = 40\nqueries_per_socket = 1\n";
    let config = parse(text).expect("valid");
    let forward = &config.forward;
    assert_eq!(
        (
            forward.max_in_flight,
            forward.max_in_flight_per_upstream,
            forward.queries_per_socket
        ),
        (300, 40, 1)
    );
    assert_eq!(parse(&render(&config)).expect("rendered parses"), config);
    let defaults = parse("[forward]\nnameservers = [\"192.0.2.53\"]\n").expect("valid");
    assert_eq!(
        (
            defaults.forward.max_in_flight,
            defaults.forward.max_in_flight_per_upstream,
            defaults.forward.queries_per_socket
        ),
        (
            DEFAULT_FORWARD_MAX_IN_FLIGHT,
            DEFAULT_FORWARD_MAX_IN_FLIGHT_PER_UPSTREAM,
            DEFAULT_FORWARD_QUERIES_PER_SOCKET
        )
    );
    let too_many = format!(
        "[forward]\nqueries_per_socket = {}\n",
        MAX_FORWARD_QUERIES_PER_SOCKET + 1
    );
    for (bad, key) in [
        ("[forward]\nmax_in_flight = 0\n", "forward.max_in_flight"),
        (
            "[forward]\nmax_in_flight_per_upstream = 0\n",
            "forward.max_in_flight_per_upstream",
        ),
        (
            "[forward]\nqueries_per_socket = 0\n",
            "forward.queries_per_socket",
        ),
        (too_many.as_str(), "forward.queries_per_socket"),
    ] {
        assert_mentions(&file_error(bad), &[key]);
    }
}

#[test]
fn connection_caps_and_timeouts_parse_render_back_and_default() {
    let text = "[store]\npath = \"r.redb\"\n\
                [tcp]\nmax_connections_per_source = 8\n\
                [forward]\nmax_sockets = 100\n\
                [api]\nlisten = \"127.0.0.1:8053\"\nmax_connections = 20\n\
                max_connections_per_source = 4\nidle_timeout_ms = 1500\n\
                header_timeout_ms = 700\nbody_timeout_ms = 900\n";
    let config = parse(text).expect("valid");
    assert_eq!(config.tcp.max_connections_per_source, 8);
    assert_eq!(config.forward.max_sockets, 100);
    let api = config.api.as_ref().expect("api");
    assert_eq!(
        (api.max_connections, api.max_connections_per_source),
        (20, 4)
    );
    assert_eq!(
        (api.idle_timeout, api.header_timeout, api.body_timeout),
        (
            Duration::from_millis(1500),
            Duration::from_millis(700),
            Duration::from_millis(900)
        )
    );
    assert_eq!(parse(&render(&config)).expect("rendered parses"), config);

    let defaults =
        parse("[store]\npath = \"r.redb\"\n[api]\nlisten = \"127.0.0.1:8053\"\n").expect("valid");
    assert_eq!(
        defaults.tcp.max_connections_per_source,
        DEFAULT_TCP_MAX_CONNECTIONS_PER_SOURCE
    );
    assert_eq!(defaults.forward.max_sockets, DEFAULT_FORWARD_MAX_SOCKETS);
    let api = defaults.api.expect("api");
    assert_eq!(api.max_connections, DEFAULT_API_MAX_CONNECTIONS);
    assert_eq!(api.header_timeout, DEFAULT_API_HEADER_TIMEOUT);

    for (bad, key) in [
        (
            "[tcp]\nmax_connections_per_source = 0\n",
            "tcp.max_connections_per_source",
        ),
        ("[forward]\nmax_sockets = 0\n", "forward.max_sockets"),
        (
            "[store]\npath = \"r\"\n[api]\nlisten = \"127.0.0.1:1\"\nmax_connections = 0\n",
            "api.max_connections",
        ),
        (
            "[store]\npath = \"r\"\n[api]\nlisten = \"127.0.0.1:1\"\nheader_timeout_ms = 0\n",
            "api.header_timeout_ms",
        ),
    ] {
        assert_mentions(&file_error(bad), &[key]);
    }
}

#[test]
fn the_pdns_remote_and_transfer_sections_parse_and_render_back() {
    let text = "[pdns_remote]\nconnections = [\"unix:path=/var/lib/opensvc/dns/pdns.sock\", \
                \"unix:path=other.sock,timeout=500\"]\npoll_interval_ms = 250\n\
                max_reply_bytes = 4096\n[transfer]\nallow_transfer = [\"10.0.0.0/8\", \
                \"fd00::1\"]\nnotify = [\"10.0.0.2\", \"[fd00::2]:5300\"]\n";
    let config = parse(text).expect("valid");
    let pdns = config.pdns_remote.clone().expect("pdns_remote");
    assert_eq!(
        pdns.remotes,
        [
            PdnsRemote {
                path: "/var/lib/opensvc/dns/pdns.sock".into(),
                timeout: DEFAULT_PDNS_TIMEOUT,
            },
            PdnsRemote {
                path: "/etc/ferrodns/other.sock".into(),
                timeout: Duration::from_millis(500),
            },
        ]
    );
    assert_eq!(
        (pdns.poll_interval, pdns.max_reply_bytes),
        (Duration::from_millis(250), 4096)
    );
    let allowed: Vec<String> = config
        .transfer
        .allow
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(allowed, ["10.0.0.0/8", "fd00::1/128"]);
    let notified: Vec<String> = config
        .transfer
        .notify
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(notified, ["10.0.0.2:53", "[fd00::2]:5300"]);
    let again = parse(&render(&config)).expect("rendered config parses");
    assert_eq!(again, config);

    // Defaults: no remote backend, transfers from loopback only, no NOTIFY.
    let defaults = load(None, &Overrides::default()).expect("defaults");
    assert_eq!(defaults.pdns_remote, None);
    assert_eq!(defaults.transfer.allow, DEFAULT_ALLOW_TRANSFER.to_vec());
    assert!(defaults.transfer.notify.is_empty());
    let minimal = parse("[pdns_remote]\nconnections = [\"unix:path=/s\"]\n").expect("valid");
    let minimal = minimal.pdns_remote.expect("pdns_remote");
    assert_eq!(minimal.poll_interval, DEFAULT_PDNS_POLL_INTERVAL);
    assert_eq!(minimal.max_reply_bytes, DEFAULT_PDNS_MAX_REPLY_BYTES);
}

#[test]
fn pdns_remote_and_transfer_flags_replace_the_lists() {
    let flags = Overrides {
        pdns_remote: vec!["unix:path=/run/a.sock,timeout=100".into()],
        allow_transfer: vec!["192.0.2.0/24".into()],
        notify: vec!["192.0.2.9:5300".into()],
        ..Overrides::default()
    };
    let text = "[pdns_remote]\nconnections = [\"unix:path=/b.sock\"]\n[transfer]\n\
                allow_transfer = [\"10.0.0.0/8\"]\nnotify = [\"10.0.0.2\"]\n";
    let config = parse_with(&flags, text).expect("valid");
    let remotes = config.pdns_remote.expect("pdns_remote").remotes;
    assert_eq!(
        remotes
            .iter()
            .map(PdnsRemote::connection_string)
            .collect::<Vec<_>>(),
        ["unix:path=/run/a.sock,timeout=100"]
    );
    assert_eq!(config.transfer.allow.len(), 1);
    assert_eq!(
        config.transfer.notify,
        ["192.0.2.9:5300".parse().expect("addr")]
    );
    // An empty allow-list means nobody.
    let nobody = parse("[transfer]\nallow_transfer = []\n").expect("valid");
    assert!(nobody.transfer.allow.is_empty());
}

#[test]
fn bad_pdns_remote_and_transfer_settings_are_rejected() {
    for (text, parts) in [
        (
            "[pdns_remote]\npoll_interval_ms = 5\n",
            &["pdns_remote.connections"][..],
        ),
        (
            "[pdns_remote]\nconnections = []\n",
            &["pdns_remote.connections"],
        ),
        (
            "[pdns_remote]\nconnections = [\"pipe:command=/bin/x\"]\n",
            &["pdns_remote.connections", "only the unix connector"],
        ),
        (
            "[pdns_remote]\nconnections = [\"unix:path=/a\", \"unix:path=/a\"]\n",
            &["given twice"],
        ),
        (
            "[pdns_remote]\nconnections = [\"unix:path=/a\"]\npoll_interval_ms = 0\n",
            &["pdns_remote.poll_interval_ms"],
        ),
        (
            "[pdns_remote]\nconnections = [\"unix:path=/a\"]\nmax_reply_bytes = 10\n",
            &["pdns_remote.max_reply_bytes"],
        ),
        (
            "[transfer]\nallow_transfer = [\"10.0.0.1/8\"]\n",
            &["transfer.allow_transfer", "first address"],
        ),
        (
            "[transfer]\nnotify = [\"localhost:53\"]\n",
            &["transfer.notify"],
        ),
        (
            "[transfer]\nnotify = [\"10.0.0.1:0\"]\n",
            &["transfer.notify"],
        ),
    ] {
        let message = file_error(text);
        assert_mentions(&message, &[PATH]);
        assert_mentions(&message, parts);
    }
    let many: Vec<String> = (0..=MAX_PDNS_REMOTES)
        .map(|i| format!("unix:path=/s{i}"))
        .collect();
    let flags = Overrides {
        pdns_remote: many,
        ..Overrides::default()
    };
    assert_mentions(&flag_error_of(&flags), &["--pdns-remote", "at most 16"]);
    let flags = Overrides {
        allow_transfer: vec!["everyone".into()],
        ..Overrides::default()
    };
    assert_mentions(&flag_error_of(&flags), &["--allow-transfer", "everyone"]);
}
