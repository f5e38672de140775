//! A listing as containerdns's API answers it: one JSON object per name,
//! `{"<fqdn>":{"type":"A","ips":[..]}, "<fqdn>":{"type":"CNAME","alias-domain":".."}}`
//! (its `apiService`, empty fields left out).
//!
//! | records at a name | entry |
//! | --- | --- |
//! | CNAME | `{"type":"CNAME","alias-domain":"<target>"}` |
//! | SRV | `{"type":"SRV","ips":[..],"ports":[..]}`; a target kept below the name for an address shows as the address |
//! | A, AAAA | `{"type":"A","ips":[..]}` |
//! | NS, MX, TXT at a zone apex | one entry each, under the name containerdns keys it by: `<label>.ns.dns.<zone>` (`nsHost`), `<label>.mail.<zone>` (`mailHost`, `mailPriority`), `<label>.txt.<zone>` (`text`); the label is the first of the server's or exchange's name (the request's name when its host was an address), or for a TXT the FNV-1a hash of its text |
//!
//! Names that only carry the address of an SRV target, an NS server or an MX
//! exchange are folded into the entry that points at them. Each entry carries
//! `user` when the records name one. Addresses are listed in address order
//! (containerdns lists them in the order of its keys' hashes).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::RData;
use serde_json::{Map, Value, json};

use super::request::Held;

/// The listing of `held` (records of the zones `apexes`).
pub(crate) fn shape(held: &[Held], apexes: &[Name]) -> Map<String, Value> {
    let mut by_name: BTreeMap<&Name, Vec<&Held>> = BTreeMap::new();
    for h in held {
        by_name.entry(&h.record.name).or_default().push(h);
    }
    let only_address = |name: &Name| -> Option<IpAddr> {
        let records = by_name.get(name)?;
        let mut ips = records.iter().filter_map(|h| address(&h.record.data));
        let first = ips.next()?;
        (records.len() == 1).then_some(first)
    };
    // Targets kept for an address: their entries are folded into the pointer.
    let mut folded: Vec<&Name> = Vec::new();
    for (name, records) in &by_name {
        for h in records {
            let target = match &h.record.data {
                RData::Srv { target, .. } => target,
                RData::Ns(target)
                | RData::Mx {
                    exchange: target, ..
                } if apexes.contains(name) => target,
                _ => continue,
            };
            if target.parent().as_ref() == Some(*name) && only_address(target).is_some() {
                folded.push(target);
            }
        }
    }
    let host = |target: &Name| {
        only_address(target)
            .filter(|_| folded.contains(&target))
            .map_or_else(|| target.to_string(), |ip| ip.to_string())
    };
    let mut out = Map::new();
    for (name, records) in &by_name {
        let user = records.iter().find_map(|h| h.user.clone());
        let mut entry = Map::new();
        let cname = records.iter().find_map(|h| match &h.record.data {
            RData::Cname(target) => Some(target),
            _ => None,
        });
        // In address order (etcd's own order is that of the keys' hashes).
        let mut srv: Vec<(String, u16)> = records
            .iter()
            .filter_map(|h| match &h.record.data {
                RData::Srv { target, port, .. } => Some((host(target), *port)),
                _ => None,
            })
            .collect();
        srv.sort();
        let mut ips: Vec<IpAddr> = records
            .iter()
            .filter_map(|h| address(&h.record.data))
            .collect();
        ips.sort();
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        if let Some(target) = cname {
            entry.insert("type".into(), json!("CNAME"));
            entry.insert("alias-domain".into(), json!(target.to_string()));
        } else if !srv.is_empty() {
            let (hosts, ports): (Vec<String>, Vec<u16>) = srv.into_iter().unzip();
            entry.insert("type".into(), json!("SRV"));
            entry.insert("ips".into(), json!(hosts));
            entry.insert("ports".into(), json!(ports));
        } else if !ips.is_empty() && !folded.contains(name) {
            entry.insert("type".into(), json!("A"));
            entry.insert("ips".into(), json!(ips));
        }
        if !entry.is_empty() {
            if let Some(user) = &user {
                entry.insert("user".into(), json!(user));
            }
            out.insert(name.to_string(), Value::Object(entry));
        }
        for h in records {
            let Some((key, mut apex_entry)) = apex_entry(name, &h.record.data, &host) else {
                continue;
            };
            if let Some(user) = &h.user {
                apex_entry.insert("user".into(), json!(user));
            }
            out.insert(key, Value::Object(apex_entry));
        }
    }
    out
}

/// An NS, MX or TXT record's entry and the name containerdns keys it by.
fn apex_entry(
    apex: &Name,
    data: &RData,
    host: &dyn Fn(&Name) -> String,
) -> Option<(String, Map<String, Value>)> {
    let label = |target: &Name| {
        target
            .labels()
            .next()
            .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let mut entry = Map::new();
    let key = match data {
        RData::Ns(target) => {
            entry.insert("type".into(), json!("NS"));
            entry.insert("nsHost".into(), json!(host(target)));
            format!("{}.ns.dns.{apex}", label(target))
        }
        RData::Mx {
            preference,
            exchange,
        } => {
            entry.insert("type".into(), json!("MX"));
            entry.insert("mailHost".into(), json!(host(exchange)));
            entry.insert("mailPriority".into(), json!(preference));
            format!("{}.mail.{apex}", label(exchange))
        }
        RData::Txt(strings) => {
            let text = String::from_utf8_lossy(&strings.concat()).into_owned();
            let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, b| {
                (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            entry.insert("type".into(), json!("TXT"));
            entry.insert("text".into(), json!(text));
            format!("{hash:x}.txt.{apex}")
        }
        _ => return None,
    };
    Some((key, entry))
}

fn address(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(v4) => Some(IpAddr::V4(*v4)),
        RData::Aaaa(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use ferrodns_dataplane::record::Record;
    use ferrodns_dataplane::testkit::name;

    use super::*;

    fn held(owner: &str, data: RData, user: Option<&str>) -> Held {
        Held {
            record: Record::new(name(owner), 30, data),
            user: user.map(str::to_owned),
        }
    }

    fn a(text: &str) -> RData {
        RData::A(text.parse().unwrap_or_else(|_| unreachable!()))
    }

    #[test]
    fn names_list_as_containerdns_lists_them() {
        let zone = name("containerdns.local.");
        let records = [
            held(
                "cctv2.containerdns.local.",
                a("192.168.10.1"),
                Some("alice"),
            ),
            held(
                "cctv2.containerdns.local.",
                a("192.168.10.2"),
                Some("alice"),
            ),
            held(
                "tv1.containerdns.local.",
                RData::Cname(name("cctv2.containerdns.local.")),
                None,
            ),
            held(
                "_http._tcp.app.containerdns.local.",
                RData::Srv {
                    priority: 10,
                    weight: 10,
                    port: 8080,
                    target: name("debebe8d._http._tcp.app.containerdns.local."),
                },
                None,
            ),
            held("_http._tcp.app.containerdns.local.", a("10.0.0.1"), None),
            held(
                "debebe8d._http._tcp.app.containerdns.local.",
                a("10.0.0.1"),
                None,
            ),
            held(
                "containerdns.local.",
                RData::Ns(name("ns1.containerdns.local.")),
                None,
            ),
            held("ns1.containerdns.local.", a("10.0.0.53"), None),
        ];
        let listed = Value::Object(shape(&records, &[zone]));
        assert_eq!(
            listed,
            json!({
                "cctv2.containerdns.local.": {"type": "A", "ips": ["192.168.10.1", "192.168.10.2"], "user": "alice"},
                "tv1.containerdns.local.": {"type": "CNAME", "alias-domain": "cctv2.containerdns.local."},
                "_http._tcp.app.containerdns.local.": {"type": "SRV", "ips": ["10.0.0.1"], "ports": [8080]},
                "ns1.ns.dns.containerdns.local.": {"type": "NS", "nsHost": "10.0.0.53"},
            })
        );
    }
}
