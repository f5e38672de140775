//! The CoreDNS etcd plugin layout (SkyDNS's), as external-dns's coredns provider
//! writes it: `/skydns/<labels reversed>[/<leaf>]` holding
//! `{"host","port","priority","weight","text","mail","ttl","targetstrip","group"}`.
//!
//! external-dns writes one key per target under a random 8-hex leaf and says so
//! with `targetstrip`: `/skydns/org/example/web/1a2b3c4d` =
//! `{"host":"10.0.0.1","ttl":300,"targetstrip":1}` is `web.example.org`. The
//! owner of a key's records is therefore the key's name with `targetstrip` leftmost
//! labels removed (a hand-written key without a leaf leaves it out). One key can be
//! several records at once, as in CoreDNS:
//!
//! - `host` an IPv4 address: A; an IPv6 address: AAAA;
//! - `host` a name: CNAME (PTR when the owner is under `in-addr.arpa.` or
//!   `ip6.arpa.`), unless the key is also TXT, MX or SRV, which a CNAME could not
//!   share its name with;
//! - `text` set: TXT (split into 255-octet strings);
//! - `mail` true: MX, preference `priority`;
//! - `port` set: SRV `priority weight port target`.
//!
//! The SRV or MX target of an address `host` is the owner itself (it holds the A or
//! AAAA); a name `host` is the target, less `targetstrip` labels as CoreDNS does.
//! Keys under `ns.dns.<zone>` with an address `host` are the zone's name servers
//! (NS at the apex naming the key's name, with its address), keys under
//! `apex.dns.<zone>` give the apex its addresses, as in CoreDNS. A zero or missing
//! `ttl` means 300 s and a zero `priority` 10 (CoreDNS's defaults).
//!
//! Two deliberate differences from CoreDNS, which answers from etcd per query:
//! a query for a name does not also collect the records of the names below it
//! (CoreDNS returns a whole subtree), and a key without `port` gives no SRV (CoreDNS
//! would answer SRV with port 0 for any A record).

use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};
use serde::Deserialize;

use super::containerdns::address_of;
use super::decode::{Entry, Zones, host_name, txt_strings};
use super::key::{below_labels, path_name, strip_labels};

/// TTL of a record that gives none (CoreDNS's default).
pub const DEFAULT_TTL: u32 = 300;
/// SRV priority and MX preference of a record that gives none.
pub const DEFAULT_PRIORITY: u16 = 10;

#[derive(Debug, Deserialize)]
struct Value {
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    priority: u16,
    #[serde(default)]
    weight: u16,
    #[serde(default)]
    text: String,
    #[serde(default)]
    mail: bool,
    #[serde(default)]
    ttl: u32,
    #[serde(default)]
    targetstrip: usize,
    #[serde(default)]
    group: String,
}

/// The entries of one skydns key (`path` follows the prefix).
pub(crate) fn decode(path: &[u8], value: &[u8], zones: &Zones) -> Result<Vec<Entry>, String> {
    let full = path_name(path)?;
    let value: Value =
        serde_json::from_slice(value).map_err(|e| format!("bad skydns record JSON: {e}"))?;
    let owner = strip_labels(&full, value.targetstrip).ok_or_else(|| {
        format!(
            "targetstrip {} leaves nothing of the key's name {full}",
            value.targetstrip
        )
    })?;
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
    let group = (!value.group.is_empty()).then(|| value.group.clone());
    let entry = |name: &Name, data: RData| {
        let mut entry = Entry::new(Record::new(name.clone(), ttl, data), depth);
        entry.group.clone_from(&group);
        entry
    };

    let ip = value.host.parse::<IpAddr>().ok();
    let host = match (&ip, value.host.is_empty()) {
        (None, false) => Some(host_name(&value.host)?),
        _ => None,
    };
    if ip.is_none() && host.is_none() && value.text.is_empty() {
        return Err("neither \"host\" nor \"text\" is set".into());
    }
    // A name host as an SRV or MX target loses `targetstrip` labels (CoreDNS).
    let stripped_host = || {
        host.as_ref()
            .map(|h| strip_labels(h, value.targetstrip).unwrap_or_else(|| h.clone()))
    };

    let mut entries = Vec::new();
    if let Some(ip) = ip {
        if let Some(zone) = special_zone(&owner, b"ns", zones) {
            entries.push(entry(&zone, RData::Ns(owner.clone())));
        }
        if let Some(zone) = special_zone(&owner, b"apex", zones) {
            entries.push(entry(&zone, address_of(ip)));
        }
        entries.push(entry(&owner, address_of(ip)));
    } else if special_zone(&owner, b"ns", zones).is_some() {
        return Err("a name server under ns.dns.<zone> needs an IP address in \"host\"".into());
    }
    if !value.text.is_empty() {
        entries.push(entry(&owner, RData::Txt(txt_strings(&value.text))));
    }
    let target = || stripped_host().unwrap_or_else(|| owner.clone());
    if value.mail && (ip.is_some() || host.is_some()) {
        let exchange = target();
        entries.push(entry(
            &owner,
            RData::Mx {
                preference: priority,
                exchange,
            },
        ));
    }
    if value.port != 0 && (ip.is_some() || host.is_some()) {
        let target = target();
        entries.push(entry(
            &owner,
            RData::Srv {
                priority,
                weight: value.weight,
                port: value.port,
                target,
            },
        ));
    }
    if let Some(host) = host
        && value.text.is_empty()
        && !value.mail
        && value.port == 0
    {
        let data = if is_reverse(&owner) {
            RData::Ptr(host)
        } else {
            RData::Cname(host)
        };
        entries.push(entry(&owner, data));
    }
    Ok(entries)
}

/// The zone whose `<what>.dns.<zone>` subtree holds `owner`.
fn special_zone(owner: &Name, what: &[u8], zones: &Zones) -> Option<Name> {
    let mut cursor = Some(owner.clone());
    while let Some(name) = cursor {
        if let Some(zone) = below_labels(&name, &[what, b"dns"])
            && zones.is_etcd_apex(&zone)
        {
            return Some(zone);
        }
        cursor = name.parent();
    }
    None
}

fn is_reverse(owner: &Name) -> bool {
    let v4 = Name::from_ascii("in-addr.arpa.").unwrap_or_else(|_| Name::root());
    let v6 = Name::from_ascii("ip6.arpa.").unwrap_or_else(|_| Name::root());
    owner.is_subdomain_of(&v4) || owner.is_subdomain_of(&v6)
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
                &[
                    name("example.org."),
                    name("10.in-addr.arpa."),
                    name("8.b.d.0.1.0.0.2.ip6.arpa."),
                ],
                &[],
            ),
        )
    }

    fn entries(key: &str, value: &str) -> Vec<Entry> {
        decoder().entries(key, value)
    }

    fn records(key: &str, value: &str) -> Vec<String> {
        entries(key, value)
            .iter()
            .map(|e| e.record.to_string())
            .collect()
    }

    // external-dns's coredns provider: json.Marshal of its Service struct, keyed
    // `<prefix>/<labels reversed>/<random %08x>`, targetstrip counting the leaf.

    #[test]
    fn external_dns_a_record_with_random_leaf() {
        assert_eq!(
            records(
                "/skydns/org/example/web/4f6c1a2b",
                r#"{"host":"10.0.0.1","ttl":300,"targetstrip":1}"#
            ),
            ["web.example.org. 300 IN A 10.0.0.1"]
        );
        assert_eq!(
            records(
                "/skydns/org/example/web/0a1b2c3d",
                r#"{"host":"2001:db8::10","targetstrip":1}"#
            ),
            ["web.example.org. 300 IN AAAA 2001:db8::10"]
        );
    }

    #[test]
    fn external_dns_cname_and_txt() {
        assert_eq!(
            records(
                "/skydns/org/example/www/7d3e2f10",
                r#"{"host":"lb.example.net","ttl":60,"targetstrip":1}"#
            ),
            ["www.example.org. 60 IN CNAME lb.example.net."]
        );
        // The TXT registry's ownership record, as external-dns writes it (quotes
        // included in the text).
        assert_eq!(
            records(
                "/skydns/org/example/a-web/1c2d3e4f",
                r#"{"text":"\"heritage=external-dns,external-dns/owner=default,external-dns/resource=service/default/web\"","targetstrip":1}"#
            ),
            [
                r#"a-web.example.org. 300 IN TXT "\"heritage=external-dns,external-dns/owner=default,external-dns/resource=service/default/web\"""#
            ]
        );
        // Host and text on one key: address and TXT; a name host with text is TXT
        // only (a CNAME cannot share its name).
        assert_eq!(
            records(
                "/skydns/org/example/web/5e5e5e5e",
                r#"{"host":"10.0.0.2","text":"hello","targetstrip":1}"#
            ),
            [
                "web.example.org. 300 IN A 10.0.0.2",
                "web.example.org. 300 IN TXT \"hello\""
            ]
        );
        assert_eq!(
            records(
                "/skydns/org/example/web/6e6e6e6e",
                r#"{"host":"lb.example.net","text":"hello","targetstrip":1}"#
            ),
            ["web.example.org. 300 IN TXT \"hello\""]
        );
    }

    #[test]
    fn hand_written_keys_without_leaf_and_srv() {
        assert_eq!(
            records("/skydns/org/example/db", r#"{"host":"10.0.0.3","ttl":60}"#),
            ["db.example.org. 60 IN A 10.0.0.3"]
        );
        assert_eq!(
            records(
                "/skydns/org/example/web/_tcp/_http/x1",
                r#"{"host":"10.0.0.4","port":8080,"priority":20,"weight":3,"targetstrip":1}"#
            ),
            [
                "_http._tcp.web.example.org. 300 IN A 10.0.0.4",
                "_http._tcp.web.example.org. 300 IN SRV 20 3 8080 _http._tcp.web.example.org.",
            ]
        );
        let srv = entries(
            "/skydns/org/example/web/_tcp/_http",
            r#"{"host":"web.example.org","port":80}"#,
        );
        assert_eq!(srv.len(), 1);
        assert_eq!(
            srv[0].record.to_string(),
            "_http._tcp.web.example.org. 300 IN SRV 10 0 80 web.example.org."
        );
        assert_eq!(srv[0].srv_weight, Some(0));
        assert_eq!(
            records(
                "/skydns/org/example/mx1",
                r#"{"host":"mail.example.net","mail":true,"priority":5}"#
            ),
            ["mx1.example.org. 300 IN MX 5 mail.example.net."]
        );
    }

    #[test]
    fn ptr_under_arpa() {
        assert_eq!(
            records(
                "/skydns/arpa/in-addr/10/0/0/1",
                r#"{"host":"web.example.org"}"#
            ),
            ["1.0.0.10.in-addr.arpa. 300 IN PTR web.example.org."]
        );
        assert_eq!(
            records(
                "/skydns/arpa/ip6/2/0/0/1/0/d/b/8/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/1",
                r#"{"host":"v6.example.org"}"#
            ),
            [
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR v6.example.org."
            ]
        );
    }

    #[test]
    fn name_servers_and_apex_addresses() {
        assert_eq!(
            records("/skydns/org/example/dns/ns/ns1", r#"{"host":"10.0.0.53"}"#),
            [
                "example.org. 300 IN NS ns1.ns.dns.example.org.",
                "ns1.ns.dns.example.org. 300 IN A 10.0.0.53"
            ]
        );
        assert_eq!(
            records("/skydns/org/example/dns/apex/a1", r#"{"host":"10.0.0.80"}"#),
            [
                "example.org. 300 IN A 10.0.0.80",
                "a1.apex.dns.example.org. 300 IN A 10.0.0.80"
            ]
        );
        let message = decoder().refusal(
            "/skydns/org/example/dns/ns/ns2",
            r#"{"host":"ns.example.net"}"#,
        );
        assert!(message.contains("needs an IP address"), "{message}");
    }

    #[test]
    fn group_and_depth_are_kept_for_assembly() {
        let got = entries(
            "/skydns/org/example/web/g1",
            r#"{"host":"10.0.0.7","group":"blue","targetstrip":1}"#,
        );
        assert_eq!((got[0].group.as_deref(), got[0].depth), (Some("blue"), 4));
    }

    #[test]
    fn bad_values_name_the_key_and_the_reason() {
        let key = "/skydns/org/example/web/4f6c1a2b";
        for (value, words) in [
            ("{\"host\":", "bad skydns record JSON"),
            ("\"10.0.0.1\"", "bad skydns record JSON"),
            (r#"{"ttl":30}"#, "neither"),
            (r#"{"host":"10.0.0.1","targetstrip":4}"#, "targetstrip 4"),
            (r#"{"host":"a..b"}"#, "not a domain name"),
            (r#"{"host":"10.0.0.1","port":-1}"#, "bad skydns record JSON"),
        ] {
            let message = decoder().refusal(key, value);
            assert!(
                message.contains(key) && message.contains(words),
                "{value}: {message}"
            );
        }
    }
}
