//! What each containerdns request changes, as record changes for the
//! [`RecordWriter`](crate::records::RecordWriter) (sans-IO: the records a name
//! holds now in, the changes or containerdns's refusal out).
//!
//! How containerdns's records are written as DNS records:
//!
//! | request | records |
//! | --- | --- |
//! | `POST <n>` A `ips` | `<n> A <ip>` each (AAAA for an IPv6 address) |
//! | `POST <n>` SRV `ips`, `ports` | for an address: `<n> SRV 10 10 <port> <h>.<n>`, `<h>.<n> A <ip>` and `<n> A <ip>` (`<h>`: containerdns's FNV-1a leaf of the address), as containerdns's server answers its SRV keys; for a name: `<n> SRV 10 10 <port> <name>` |
//! | `POST <n>` CNAME `alias` | `<alias> CNAME <n>` |
//! | `POST <n>` NS `nsHost` | `<zone> NS <n>` and `<n> A <ip>` for an address; `<zone> NS <nsHost>` for a name |
//! | `POST <n>` MX `mailHost`, `mailPriority` | `<zone> MX <priority> <n>` and `<n> A <ip>` for an address; `<zone> MX <priority> <mailHost>` for a name |
//! | `POST <n>` TXT `text` | `<zone> TXT "<text>"` |
//!
//! The addresses of A and SRV writes are the ones whose status entries list
//! `<n>` for the health checker ([`Edits::listed`], [`Edits::unlisted`]).

use std::collections::HashSet;
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};

use super::request::{Body, Held, address};
use super::texts::{Refusal, Text};
use crate::etcd::containerdns::{DEFAULT_PRIORITY, address_of};
use crate::etcd::decode::txt_strings;
use crate::records::Change;

/// Priority and weight of the SRV records containerdns's API writes.
const SRV_PRIORITY: u16 = 10;
const SRV_WEIGHT: u16 = 10;

/// What one request changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Edits {
    /// One batch: all written or none.
    pub(crate) changes: Vec<Change>,
    /// Addresses whose status entries now list the request's name.
    pub(crate) listed: Vec<IpAddr>,
    /// Addresses whose status entries no longer list it.
    pub(crate) unlisted: Vec<IpAddr>,
}

/// The name that carries the address of an SRV target given as an address:
/// containerdns's key leaf (FNV-1a of the address text) under the SRV's name.
pub(crate) fn helper(owner: &Name, ip: IpAddr) -> Option<Name> {
    let text = ip.to_string();
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    owner.prepend_label(format!("{hash:x}").as_bytes()).ok()
}

fn add(owner: &Name, ttl: u32, data: RData) -> Change {
    Change::Add(Record::new(owner.clone(), ttl, data))
}

fn delete(name: &Name, rtype: Option<RType>, data: Option<RData>) -> Change {
    Change::Delete {
        name: name.clone(),
        rtype,
        data,
    }
}

fn addresses_in(held: &[Held]) -> impl Iterator<Item = (&Name, IpAddr)> {
    held.iter().filter_map(|h| match h.record.data {
        RData::A(v4) => Some((&h.record.name, IpAddr::V4(v4))),
        RData::Aaaa(v6) => Some((&h.record.name, IpAddr::V6(v6))),
        _ => None,
    })
}

/// `POST` A: each address once; one already there is refused.
pub(crate) fn post_a(name: &Name, body: &Body, here: &[Held], ttl: u32) -> Result<Edits, Text> {
    if body.ips.is_empty() {
        return Err(Refusal::NoDomainIps.answer());
    }
    let ips = body
        .ips
        .iter()
        .map(|text| address(text))
        .collect::<Result<Vec<IpAddr>, Text>>()?;
    let mut taken: HashSet<IpAddr> = addresses_in(here)
        .filter(|(owner, _)| *owner == name)
        .map(|(_, ip)| ip)
        .collect();
    let mut edits = Edits::default();
    for ip in ips {
        if !taken.insert(ip) {
            return Err(Refusal::SetDomainName.answer());
        }
        edits.changes.push(add(name, ttl, address_of(ip)));
        edits.listed.push(ip);
    }
    Ok(edits)
}

/// `POST` SRV: one target per entry of `ips`, with the port at the same place
/// in `ports` (or the one port given for all).
pub(crate) fn post_srv(name: &Name, body: &Body, below: &[Held], ttl: u32) -> Result<Edits, Text> {
    if body.ips.is_empty() {
        return Err(Refusal::NoDomainIps.answer());
    }
    if body.ports.is_empty() {
        return Err(Refusal::NoDomainPorts.answer());
    }
    if body.ports.len() != body.ips.len() && body.ports.len() != 1 {
        return Err(Refusal::IpPortMatch.answer());
    }
    let mut edits = Edits::default();
    for (i, entry) in body.ips.iter().enumerate() {
        let port = body
            .ports
            .get(i)
            .or(body.ports.first())
            .copied()
            .unwrap_or_default();
        let srv = |target: Name| RData::Srv {
            priority: body.priority.unwrap_or(SRV_PRIORITY),
            weight: body.weight.unwrap_or(SRV_WEIGHT),
            port,
            target,
        };
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                let target = helper(name, ip).ok_or_else(|| Refusal::NotIpAddr.answer())?;
                if below.iter().any(|h| h.record.name == target) || edits.listed.contains(&ip) {
                    return Err(Refusal::SetDomainName.answer());
                }
                edits.changes.push(add(name, ttl, srv(target.clone())));
                edits.changes.push(add(&target, ttl, address_of(ip)));
                edits.changes.push(add(name, ttl, address_of(ip)));
                edits.listed.push(ip);
            }
            Err(_) => {
                let target = Name::from_ascii(entry).map_err(|_| Refusal::NotIpAddr.answer())?;
                edits.changes.push(add(name, ttl, srv(target)));
            }
        }
    }
    Ok(edits)
}

/// `POST` CNAME: the alias points at the request's name; an alias that holds
/// records already is refused.
pub(crate) fn post_cname(
    name: &Name,
    alias: &Name,
    at_alias: &[Held],
    ttl: u32,
) -> Result<Edits, Text> {
    if !at_alias.is_empty() {
        return Err(Refusal::SetDomainNameExists.about(name));
    }
    Ok(Edits {
        changes: vec![add(alias, ttl, RData::Cname(name.clone()))],
        ..Edits::default()
    })
}

/// The host of an NS or MX request: an address (kept at the request's name,
/// which becomes the server's name) or a name.
enum Host {
    Address(IpAddr),
    Name(Name),
}

fn host(text: &str, name: &Name, apex: &Name) -> Result<Host, Text> {
    if text.trim().is_empty() {
        return Err(Refusal::NoDomainIps.answer());
    }
    if let Ok(ip) = text.trim().parse::<IpAddr>() {
        if name == apex {
            // The server needs a name of its own below the zone.
            return Err(Refusal::NotSubDomain.answer());
        }
        return Ok(Host::Address(ip));
    }
    Name::from_ascii(text)
        .map(Host::Name)
        .map_err(|_| Refusal::NotIpAddr.answer())
}

/// `POST` NS or MX: `data` makes the apex's record from its target.
fn post_server(
    name: &Name,
    apex: &Name,
    host_text: &str,
    held: &[Held],
    ttl: u32,
    data: impl Fn(Name) -> RData,
) -> Result<Edits, Text> {
    let exists = |record: &RData| {
        held.iter()
            .any(|h| h.record.name == *apex && h.record.data == *record)
    };
    let mut edits = Edits::default();
    match host(host_text, name, apex)? {
        Host::Address(ip) => {
            if held.iter().any(|h| h.record.name == *name) || exists(&data(name.clone())) {
                return Err(Refusal::SetDomainNameExists.about(name));
            }
            edits.changes.push(add(apex, ttl, data(name.clone())));
            edits.changes.push(add(name, ttl, address_of(ip)));
        }
        Host::Name(target) => {
            if exists(&data(target.clone())) {
                return Err(Refusal::SetDomainNameExists.about(name));
            }
            edits.changes.push(add(apex, ttl, data(target)));
        }
    }
    Ok(edits)
}

/// `POST` NS, `POST` MX or `POST` TXT: records of the zone's apex. `held` is
/// what the zone holds (the apex and the request's name at least).
pub(crate) fn post_apex(
    kind_rtype: RType,
    name: &Name,
    apex: &Name,
    body: &Body,
    held: &[Held],
    ttl: u32,
) -> Result<Edits, Text> {
    match kind_rtype {
        RType::NS => post_server(name, apex, &body.ns_host, held, ttl, RData::Ns),
        RType::MX => {
            let preference = match body.mail_priority {
                0 => DEFAULT_PRIORITY,
                priority => priority,
            };
            post_server(name, apex, &body.mail_host, held, ttl, |exchange| {
                RData::Mx {
                    preference,
                    exchange,
                }
            })
        }
        _ => {
            if body.text.is_empty() {
                return Err(Refusal::NoFindDomainName.answer());
            }
            let data = RData::Txt(txt_strings(&body.text));
            if held
                .iter()
                .any(|h| h.record.name == *apex && h.record.data == data)
            {
                return Err(Refusal::SetDomainNameExists.about(name));
            }
            Ok(Edits {
                changes: vec![add(apex, ttl, data)],
                ..Edits::default()
            })
        }
    }
}

/// `DELETE` NS, MX or TXT: the apex's record the request's name stands for
/// (the server or exchange named after it, with its address), or the one
/// whose host or text the body gives.
pub(crate) fn delete_apex(
    kind_rtype: RType,
    name: &Name,
    apex: &Name,
    body: &Body,
    held: &[Held],
) -> Result<Edits, Text> {
    let given = match kind_rtype {
        RType::NS => &body.ns_host,
        RType::MX => &body.mail_host,
        _ => &body.text,
    };
    let given_name = Name::from_ascii(given).ok();
    let mut edits = Edits::default();
    for h in held.iter().filter(|h| h.record.name == *apex) {
        let matches = match &h.record.data {
            RData::Ns(target) if kind_rtype == RType::NS => {
                target == name || Some(target) == given_name.as_ref()
            }
            RData::Mx { exchange, .. } if kind_rtype == RType::MX => {
                exchange == name || Some(exchange) == given_name.as_ref()
            }
            RData::Txt(_) if kind_rtype == RType::TXT => {
                !given.is_empty() && h.record.data == RData::Txt(txt_strings(given))
            }
            _ => false,
        };
        if matches {
            edits
                .changes
                .push(delete(apex, Some(kind_rtype), Some(h.record.data.clone())));
        }
    }
    if edits.changes.is_empty() {
        return Err(Refusal::NoFindDomainName.answer());
    }
    if name != apex && kind_rtype != RType::TXT {
        for (_, ip) in addresses_in(held).filter(|(owner, _)| *owner == name) {
            edits.changes.push(delete(name, None, Some(address_of(ip))));
        }
    }
    Ok(edits)
}

/// The SRV targets of `name` that are its helpers (an address kept below it).
fn helpers_of<'a>(name: &'a Name, below: &'a [Held]) -> impl Iterator<Item = &'a Name> + 'a {
    below.iter().filter_map(move |h| match &h.record.data {
        RData::Srv { target, .. }
            if h.record.name == *name && target.parent().as_ref() == Some(name) =>
        {
            Some(target)
        }
        _ => None,
    })
}

/// `DELETE` without a type: every record at the name, and its SRV helpers.
pub(crate) fn delete_all(name: &Name, below: &[Held]) -> Result<Edits, Text> {
    if !below.iter().any(|h| h.record.name == *name) {
        return Err(Refusal::NoFindDomainName.answer());
    }
    let mut edits = Edits::default();
    let helpers: Vec<&Name> = helpers_of(name, below).collect();
    edits.changes.push(delete(name, None, None));
    for helper in &helpers {
        edits.changes.push(delete(helper, None, None));
    }
    edits.unlisted = addresses_at(name, &helpers, below);
    Ok(edits)
}

/// The addresses `name` and its SRV `helpers` hold in `below`, each once, in
/// order: the monitor status entries that stop listing them.
fn addresses_at(name: &Name, helpers: &[&Name], below: &[Held]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = addresses_in(below)
        .filter(|(owner, _)| *owner == name || helpers.contains(owner))
        .map(|(_, ip)| ip)
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// `DELETE` A or SRV: the addresses (and SRV targets) `ips` lists, each of
/// which must be there; all of them when the body lists none.
pub(crate) fn delete_addresses(name: &Name, body: &Body, below: &[Held]) -> Result<Edits, Text> {
    let here: Vec<&Held> = below.iter().filter(|h| h.record.name == *name).collect();
    if here.is_empty() {
        return Err(Refusal::NoFindDomainName.answer());
    }
    let helpers: Vec<&Name> = helpers_of(name, below).collect();
    if body.ips.is_empty() {
        let mut edits = Edits::default();
        for rtype in [RType::A, RType::AAAA, RType::SRV] {
            edits.changes.push(delete(name, Some(rtype), None));
        }
        for helper in &helpers {
            edits.changes.push(delete(helper, None, None));
        }
        edits.unlisted = addresses_at(name, &helpers, below);
        return Ok(edits);
    }
    let mut edits = Edits::default();
    for entry in &body.ips {
        let before = edits.changes.len();
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                let helper = helper(name, ip);
                for h in &here {
                    let gone = match &h.record.data {
                        RData::A(_) | RData::Aaaa(_) => h.record.data == address_of(ip),
                        RData::Srv { target, .. } => Some(target) == helper.as_ref(),
                        _ => false,
                    };
                    if gone {
                        edits
                            .changes
                            .push(delete(name, None, Some(h.record.data.clone())));
                    }
                }
                if let Some(helper) = helper.filter(|h| below.iter().any(|b| b.record.name == *h)) {
                    edits.changes.push(delete(&helper, None, None));
                }
                edits.unlisted.push(ip);
            }
            Err(_) => {
                let target = Name::from_ascii(entry).map_err(|_| Refusal::NotIpAddr.answer())?;
                for h in &here {
                    if matches!(&h.record.data, RData::Srv { target: t, .. } if *t == target) {
                        edits
                            .changes
                            .push(delete(name, None, Some(h.record.data.clone())));
                    }
                }
            }
        }
        if edits.changes.len() == before {
            return Err(Refusal::DeleteDomainName.answer());
        }
    }
    Ok(edits)
}

/// `DELETE` CNAME: the name's CNAME.
pub(crate) fn delete_cname(name: &Name, here: &[Held]) -> Result<Edits, Text> {
    if !here
        .iter()
        .any(|h| h.record.name == *name && h.record.rtype() == RType::CNAME)
    {
        return Err(Refusal::NoFindDomainName.answer());
    }
    Ok(Edits {
        changes: vec![delete(name, Some(RType::CNAME), None)],
        ..Edits::default()
    })
}

/// `PUT` A: one address replaced by another.
pub(crate) fn put_a(name: &Name, body: &Body, here: &[Held], ttl: u32) -> Result<Edits, Text> {
    let [(old, new)] = body.update.iter().collect::<Vec<_>>()[..] else {
        return Err(Refusal::PutTooManyItems.answer());
    };
    let (old, new) = (address(old)?, address(new)?);
    if old.is_ipv4() != new.is_ipv4() {
        return Err(Refusal::NotIpAddr.answer());
    }
    let holds = |ip: IpAddr| addresses_in(here).any(|(owner, held)| owner == name && held == ip);
    if !holds(old) || holds(new) {
        return Err(Refusal::DelOrSetKey.answer());
    }
    Ok(Edits {
        changes: vec![
            delete(name, None, Some(address_of(old))),
            add(name, ttl, address_of(new)),
        ],
        listed: vec![new],
        unlisted: vec![old],
    })
}

/// `PUT` CNAME: the alias `old` (which must point at the name) renamed `new`.
pub(crate) fn put_cname(
    name: &Name,
    (old, at_old): (&Name, &[Held]),
    (new, at_new): (&Name, &[Held]),
    ttl: u32,
) -> Result<Edits, Text> {
    if at_old.is_empty() {
        return Err(Refusal::NoFindAliasName.about(old));
    }
    let points_here = at_old
        .iter()
        .all(|h| matches!(&h.record.data, RData::Cname(target) if target == name));
    if !points_here {
        return Err(Refusal::NoMatchAliasName.about(old));
    }
    if !at_new.is_empty() {
        return Err(Refusal::DelOrSetKey.answer());
    }
    Ok(Edits {
        changes: vec![
            delete(old, Some(RType::CNAME), None),
            add(new, ttl, RData::Cname(name.clone())),
        ],
        ..Edits::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::name;

    fn held(owner: &str, data: RData) -> Held {
        Held {
            record: Record::new(name(owner), 30, data),
            user: None,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!())
    }

    fn body(json: &str) -> Body {
        serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn text(result: Result<Edits, Text>) -> String {
        match result {
            Err(Text(_, text)) => text,
            Ok(edits) => panic!("accepted: {edits:?}"),
        }
    }

    #[test]
    fn the_srv_helper_is_containerdns_s_leaf() {
        assert_eq!(
            helper(&name("_http._tcp.app.example."), ip("10.0.0.1")),
            Some(name("debebe8d._http._tcp.app.example."))
        );
    }

    #[test]
    fn a_posts_each_address_and_lists_it() {
        let web = name("web.example.");
        let edits = post_a(
            &web,
            &body(r#"{"type":"A","ips":["10.0.0.1","fd00::1"]}"#),
            &[],
            30,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(edits.listed, [ip("10.0.0.1"), ip("fd00::1")]);
        assert_eq!(edits.changes.len(), 2);
        let there = [held("web.example.", address_of(ip("10.0.0.1")))];
        let again = post_a(
            &web,
            &body(r#"{"type":"A","ips":["10.0.0.1"]}"#),
            &there,
            30,
        );
        assert_eq!(text(again), "ERR, set domain name error");
        assert_eq!(
            text(post_a(&web, &body(r#"{"type":"A"}"#), &[], 30)),
            "ERR, no domain ips"
        );
        assert_eq!(
            text(post_a(&web, &body(r#"{"type":"A","ips":["x"]}"#), &[], 30)),
            "ERR, it is not  IP addr"
        );
    }

    #[test]
    fn srv_bodies_are_checked_as_containerdns_checks_them() {
        let srv = name("_http._tcp.app.example.");
        let cases = [
            (r#"{"type":"SRV","ports":[80]}"#, "ERR, no domain ips"),
            (
                r#"{"type":"SRV","ips":["10.0.0.1"]}"#,
                "ERR, no domain ports",
            ),
            (
                r#"{"type":"SRV","ips":["10.0.0.1","10.0.0.2","10.0.0.3"],"ports":[80,81]}"#,
                "ERR, ips and ports not match",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(
                text(post_srv(&srv, &body(json), &[], 30)),
                expected,
                "{json}"
            );
        }
        let edits = post_srv(
            &srv,
            &body(r#"{"type":"SRV","ips":["10.0.0.1"],"ports":[8080]}"#),
            &[],
            30,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(edits.changes.len(), 3);
        assert_eq!(edits.listed, [ip("10.0.0.1")]);
    }

    #[test]
    fn deletes_name_what_goes_and_refuse_what_is_not_there() {
        let app = name("app.example.");
        let below = [
            held("app.example.", address_of(ip("10.0.0.1"))),
            held("app.example.", address_of(ip("10.0.0.2"))),
        ];
        let one = delete_addresses(&app, &body(r#"{"type":"A","ips":["10.0.0.2"]}"#), &below)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(one.unlisted, [ip("10.0.0.2")]);
        assert_eq!(
            text(delete_addresses(
                &app,
                &body(r#"{"type":"A","ips":["10.0.0.9"]}"#),
                &below
            )),
            "ERR, delete domain name error"
        );
        assert_eq!(
            text(delete_all(&name("none.example."), &below)),
            "ERR, no find  domain name"
        );
        let all = delete_all(&app, &below).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(all.unlisted, [ip("10.0.0.1"), ip("10.0.0.2")]);
    }

    #[test]
    fn put_replaces_one_address_only() {
        let app = name("app.example.");
        let here = [held("app.example.", address_of(ip("10.0.0.1")))];
        let moved = put_a(
            &app,
            &body(r#"{"type":"A","update":{"10.0.0.1":"10.0.0.5"}}"#),
            &here,
            30,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (moved.listed, moved.unlisted),
            (vec![ip("10.0.0.5")], vec![ip("10.0.0.1")])
        );
        assert_eq!(
            text(put_a(
                &app,
                &body(r#"{"type":"A","update":{"10.0.0.1":"10.0.0.5","10.0.0.2":"10.0.0.6"}}"#),
                &here,
                30
            )),
            "ERR, put just support  one update one time"
        );
        assert_eq!(
            text(put_a(
                &app,
                &body(r#"{"type":"A","update":{"10.0.0.7":"10.0.0.5"}}"#),
                &here,
                30
            )),
            "ERR, del or set key err"
        );
    }

    #[test]
    fn a_cname_renamed_must_point_at_the_name() {
        let target = name("cctv2.example.");
        let (old, new) = (name("tv1.example."), name("tv2.example."));
        let at_old = [held("tv1.example.", RData::Cname(name("other.example.")))];
        assert_eq!(
            text(put_cname(&target, (&old, &at_old), (&new, &[]), 30)),
            "ERR, alias name and domain not match tv1.example."
        );
        assert_eq!(
            text(put_cname(&target, (&old, &[]), (&new, &[]), 30)),
            "ERR, not find   alias name tv1.example."
        );
    }
}
