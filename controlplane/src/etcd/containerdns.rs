//! The containerdns layout: `/containerdns/<labels reversed>/<leaf>/` holding
//! `{"type":"A","host":"10.0.0.1","ttl":30}`.
//!
//! containerdns's API writes one key per target, the leaf being a hash of the target
//! (`/containerdns/com/example/web/1d2e3f4a/`), and answers for the name the key
//! spells *without* its leaf. The rules below follow what containerdns writes and
//! how its server answers; the other JSON fields it writes (`cluster`, `user`,
//! `source`) are ignored.
//!
//! | `type` | owner | answers |
//! | --- | --- | --- |
//! | `A`, `AAAA` | key name minus leaf | A (IPv4 `host`) or AAAA (IPv6 `host`) |
//! | `CNAME` | the whole key name (no leaf) | CNAME to `host` |
//! | `SRV` | key name minus leaf | SRV `priority weight port target`; an IP `host` makes the target the whole key name (`<leaf>.<owner>`) with an A/AAAA there, and — as containerdns's address lookups do — an A/AAAA at the owner too |
//! | `NS` | keyed under `ns.dns.<zone>` | NS at the zone apex; an IP `host` names the server `<leaf>.<zone>` with an A/AAAA there |
//! | `MX` | keyed under `mail.<zone>` (else the owner) | MX with preference `priority`; an IP `host` names the exchange after the whole key, with an A/AAAA |
//! | `TXT` | keyed under `txt.<zone>` (else the owner) | TXT `text` (split into 255-octet strings) |
//!
//! A missing or zero `ttl` means 30 s (what containerdns's API writes); a zero
//! `priority` means 10 (containerdns's default). SRV weights are normalised per
//! priority when the name is assembled ([`super::assemble`]).

use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};
use serde::Deserialize;

use super::decode::{Entry, Zones, host_name, txt_strings};
use super::key::{below_labels, path_name, strip_labels};

/// TTL of a record that gives none.
pub const DEFAULT_TTL: u32 = 30;
/// SRV priority and MX preference of a record that gives none.
pub const DEFAULT_PRIORITY: u16 = 10;

#[derive(Debug, Deserialize)]
struct Value {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    ttl: u32,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    priority: u16,
    #[serde(default)]
    weight: u16,
    #[serde(default)]
    text: String,
}

/// The entries of one containerdns key (`path` follows the prefix).
pub(crate) fn decode(path: &[u8], value: &[u8], zones: &Zones) -> Result<Vec<Entry>, String> {
    let full = path_name(path)?;
    let value: Value =
        serde_json::from_slice(value).map_err(|e| format!("bad containerdns record JSON: {e}"))?;
    let ttl = if value.ttl == 0 {
        DEFAULT_TTL
    } else {
        value.ttl
    };
    let priority = if value.priority == 0 {
        DEFAULT_PRIORITY
    } else {
        value.priority
    };
    let depth = full.label_count();
    let entry = |name: &Name, data: RData| Entry::new(Record::new(name.clone(), ttl, data), depth);
    let kind = value.kind.to_ascii_uppercase();
    if kind == "CNAME" {
        let target = name_host(&value.host, "CNAME")?;
        return Ok(vec![entry(&full, RData::Cname(target))]);
    }
    let owner = strip_labels(&full, 1)
        .ok_or_else(|| "the key is only a leaf; a name and a leaf were expected".to_owned())?;
    let entries = match kind.as_str() {
        "A" | "AAAA" => vec![entry(&owner, address(&value.host, &kind)?)],
        "SRV" => match value.host.parse::<IpAddr>() {
            Ok(ip) => vec![
                entry(
                    &owner,
                    srv(priority, value.weight, value.port, full.clone()),
                ),
                entry(&full, address_of(ip)),
                entry(&owner, address_of(ip)),
            ],
            Err(_) => {
                let target = name_host(&value.host, "SRV")?;
                vec![entry(
                    &owner,
                    srv(priority, value.weight, value.port, target),
                )]
            }
        },
        "NS" => {
            let zone = below_labels(&owner, &[b"ns", b"dns"])
                .filter(|zone| zones.is_etcd_apex(zone))
                .ok_or_else(|| {
                    format!(
                        "NS records are keyed under ns.dns.<zone> of a served zone, not {owner}"
                    )
                })?;
            match value.host.parse::<IpAddr>() {
                Ok(ip) => {
                    let leaf = full.labels().next().unwrap_or_default();
                    let server = zone
                        .prepend_label(leaf)
                        .map_err(|e| format!("NS server name: {e}"))?;
                    vec![
                        entry(&zone, RData::Ns(server.clone())),
                        entry(&server, address_of(ip)),
                    ]
                }
                Err(_) => vec![entry(&zone, RData::Ns(name_host(&value.host, "NS")?))],
            }
        }
        "MX" => {
            let at = apex_alias(&owner, b"mail", zones);
            match value.host.parse::<IpAddr>() {
                Ok(ip) => vec![
                    entry(&at, mx(priority, full.clone())),
                    entry(&full, address_of(ip)),
                ],
                Err(_) => vec![entry(&at, mx(priority, name_host(&value.host, "MX")?))],
            }
        }
        "TXT" => {
            if value.text.is_empty() {
                return Err("TXT record without text".into());
            }
            let at = apex_alias(&owner, b"txt", zones);
            vec![entry(&at, RData::Txt(txt_strings(&value.text)))]
        }
        "" => return Err("no \"type\" field".into()),
        other => {
            return Err(format!(
                "type {other:?} is not one containerdns writes (A, AAAA, CNAME, SRV, NS, MX, TXT)"
            ));
        }
    };
    Ok(entries)
}

/// `mail.<zone>` and `txt.<zone>` stand for the zone apex.
fn apex_alias(owner: &Name, label: &[u8], zones: &Zones) -> Name {
    below_labels(owner, &[label])
        .filter(|zone| zones.is_etcd_apex(zone))
        .unwrap_or_else(|| owner.clone())
}

fn address(host: &str, kind: &str) -> Result<RData, String> {
    host.parse::<IpAddr>()
        .map(address_of)
        .map_err(|_| format!("{kind} record needs an IP address in \"host\", not {host:?}"))
}

pub(crate) fn address_of(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(v4),
        IpAddr::V6(v6) => RData::Aaaa(v6),
    }
}

fn name_host(host: &str, kind: &str) -> Result<Name, String> {
    if host.is_empty() {
        return Err(format!("{kind} record without \"host\""));
    }
    if host.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "{kind} record needs a name in \"host\", not the address {host}"
        ));
    }
    host_name(host)
}

fn srv(priority: u16, weight: u16, port: u16, target: Name) -> RData {
    RData::Srv {
        priority,
        weight,
        port,
        target,
    }
}

fn mx(preference: u16, exchange: Name) -> RData {
    RData::Mx {
        preference,
        exchange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layouts;
    use crate::etcd::decode::Decoder;
    use ferrodns_dataplane::testkit::name;

    fn decoder() -> Decoder {
        Decoder::new(
            Layouts::default(),
            Zones::new(
                &[name("example.com."), name("10.in-addr.arpa.")],
                &[name("static.example.com.")],
            ),
        )
    }

    /// The records a key gives, as zone-file lines.
    fn records(key: &str, value: &str) -> Vec<String> {
        let entries = decoder().entries(key, value);
        entries.iter().map(|e| e.record.to_string()).collect()
    }

    // Values below are byte for byte what containerdns's API (Go's encoding/json
    // over its record struct) writes.

    #[test]
    fn a_and_aaaa_drop_the_hash_leaf() {
        assert_eq!(
            records(
                "/containerdns/com/example/web/debebe8d/",
                r#"{"host":"10.0.0.1","type":"A","ttl":30,"cluster":"cluster1","user":"alice"}"#
            ),
            ["web.example.com. 30 IN A 10.0.0.1"]
        );
        assert_eq!(
            records(
                "/containerdns/com/example/web/x6/",
                r#"{"host":"fd00::1","type":"AAAA","ttl":60}"#
            ),
            ["web.example.com. 60 IN AAAA fd00::1"]
        );
        // An IPv6 host under type A is answered as AAAA, as containerdns does.
        assert_eq!(
            records(
                "/containerdns/com/example/web/x7/",
                r#"{"host":"fd00::2","type":"A"}"#
            ),
            ["web.example.com. 30 IN AAAA fd00::2"]
        );
    }

    #[test]
    fn cname_is_keyed_by_the_alias_without_a_leaf() {
        assert_eq!(
            records(
                "/containerdns/com/example/www/",
                r#"{"host":"web.example.com.","type":"CNAME","ttl":30,"cluster":"cluster1","user":"alice"}"#
            ),
            ["www.example.com. 30 IN CNAME web.example.com."]
        );
    }

    #[test]
    fn srv_with_an_address_names_the_target_after_the_key() {
        assert_eq!(
            records(
                "/containerdns/com/example/web/_tcp/_http/3e1f0c11/",
                r#"{"host":"10.0.0.5","type":"SRV","ttl":30,"port":8080,"priority":10,"weight":10,"cluster":"c1","user":"u"}"#
            ),
            [
                "_http._tcp.web.example.com. 30 IN SRV 10 10 8080 3e1f0c11._http._tcp.web.example.com.",
                "3e1f0c11._http._tcp.web.example.com. 30 IN A 10.0.0.5",
                "_http._tcp.web.example.com. 30 IN A 10.0.0.5",
            ]
        );
        assert_eq!(
            records(
                "/containerdns/com/example/_tcp/_ldap/x1/",
                r#"{"host":"ldap.example.com","type":"SRV","port":389}"#
            ),
            ["_ldap._tcp.example.com. 30 IN SRV 10 0 389 ldap.example.com."]
        );
    }

    #[test]
    fn ns_mx_and_txt_live_under_their_special_names() {
        assert_eq!(
            records(
                "/containerdns/com/example/dns/ns/ns1/",
                r#"{"host":"10.0.0.53","type":"NS","ttl":30,"cluster":"c1","user":"u"}"#
            ),
            [
                "example.com. 30 IN NS ns1.example.com.",
                "ns1.example.com. 30 IN A 10.0.0.53"
            ]
        );
        assert_eq!(
            records(
                "/containerdns/com/example/mail/web/",
                r#"{"host":"mx1.example.com","type":"MX","mail":true,"priority":5,"cluster":"c1","user":"u"}"#
            ),
            ["example.com. 30 IN MX 5 mx1.example.com."]
        );
        assert_eq!(
            records(
                "/containerdns/com/example/mail/m2/",
                r#"{"host":"10.0.0.25","type":"MX","mail":true}"#
            ),
            [
                "example.com. 30 IN MX 10 m2.mail.example.com.",
                "m2.mail.example.com. 30 IN A 10.0.0.25"
            ]
        );
        assert_eq!(
            records(
                "/containerdns/com/example/txt/web/",
                r#"{"type":"TXT","text":"v=spf1 -all","cluster":"c1","user":"u"}"#
            ),
            ["example.com. 30 IN TXT \"v=spf1 -all\""]
        );
        // TXT elsewhere is served where it is keyed.
        assert_eq!(
            records(
                "/containerdns/com/example/web/t1/",
                r#"{"type":"TXT","text":"hi"}"#
            ),
            ["web.example.com. 30 IN TXT \"hi\""]
        );
        let long = "x".repeat(300);
        let line = records(
            "/containerdns/com/example/web/t2/",
            &format!(r#"{{"type":"TXT","text":"{long}"}}"#),
        );
        assert!(
            line[0].contains(&format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45))),
            "{line:?}"
        );
    }

    #[test]
    fn names_outside_etcd_zones_are_dropped() {
        assert!(
            records(
                "/containerdns/org/other/web/h1/",
                r#"{"host":"10.0.0.1","type":"A"}"#
            )
            .is_empty()
        );
        // Inside a zone served from a zone file, even though etcd's zone encloses it.
        assert!(
            records(
                "/containerdns/com/example/static/web/h1/",
                r#"{"host":"10.0.0.1","type":"A"}"#
            )
            .is_empty()
        );
    }

    #[test]
    fn bad_values_name_the_key_and_the_reason() {
        let key = "/containerdns/com/example/web/h1/";
        for (value, words) in [
            (
                r#"{"host":"10.0.0.1","type":"A""#,
                "bad containerdns record JSON",
            ),
            (r#"{"host":"10.0.0.1"}"#, "no \"type\""),
            (r#"{"host":"web","type":"A"}"#, "needs an IP address"),
            (
                r#"{"host":"10.0.0.1","type":"A","ttl":-1}"#,
                "bad containerdns record JSON",
            ),
            (
                r#"{"host":"10.0.0.1","type":"SRV","port":70000}"#,
                "bad containerdns record JSON",
            ),
            (
                r#"{"host":"10.0.0.1","type":"PTR"}"#,
                "not one containerdns writes",
            ),
            (r#"{"type":"TXT"}"#, "without text"),
            (r#"{"host":"10.0.0.9","type":"CNAME"}"#, "needs a name"),
            (r#"{"host":"10.0.0.9","type":"NS"}"#, "ns.dns.<zone>"),
        ] {
            let message = decoder().refusal(key, value);
            assert!(
                message.contains(key) && message.contains(words),
                "{value}: {message}"
            );
        }
        let message = decoder().refusal(
            "/containerdns/com/example/www/",
            r#"{"type":"CNAME","host":"a..b"}"#,
        );
        assert!(message.contains("not a domain name"), "{message}");
    }
}
