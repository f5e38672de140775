//! Local zones win, in forwarded answers too.
//!
//! The engine punts only names outside every local zone, but an upstream's
//! answer may still reach into one: `www.example.com CNAME web.svc.cluster.local`
//! followed by an address for `web.svc.cluster.local` that the upstream has no
//! say over. The forwarder believes no upstream about a name at or below a
//! local zone ([`is_local`]); where a CNAME chain leads into one, the chain is
//! completed from the local table, by the engine itself, as a query for the
//! target would be answered ([`LocalZones::answer`]). BIND completes such a
//! chain from its own zones when it restarts the query at the target, and
//! Unbound does the same since its issue 1412 (local data was bypassed for
//! CNAME targets found while forwarding).
//!
//! The local zones are those of the table version published when the check is
//! made: they change at run time (a zone added by the API, a reload), and
//! reading the current version is one lock-free pointer load. A cached
//! forwarded answer is checked again on every hit, so a zone created after the
//! answer was cached wins from then on.

use std::net::IpAddr;
use std::sync::Arc;

use ferrodns_dataplane::engine::{
    Engine, EngineConfig, MAX_TCP_MESSAGE, QueryContext, Transport, Verdict,
};
use ferrodns_dataplane::name::MAX_NAME_LEN;
use ferrodns_dataplane::table::{Table, TableVersion};

use super::bailiwick::Bailiwick;
use super::message::{Response, parse_response, upstream_query};
use super::upstream::Question;

/// Whether `name` (a wire name, any case) is at or below a zone of `version`.
/// The table holds every name of its zones, apexes included, and nothing
/// else, so this is whether it holds some suffix of the name: the rule by
/// which the engine decides what to punt.
pub(crate) fn is_local(version: &TableVersion, name: &[u8]) -> bool {
    let mut lowered = [0u8; MAX_NAME_LEN];
    let Some(slot) = lowered.get_mut(..name.len()) else {
        return false;
    };
    for (out, byte) in slot.iter_mut().zip(name) {
        *out = byte.to_ascii_lowercase();
    }
    let mut at = 0usize;
    while let Some(suffix) = slot.get(at..) {
        if version.find(suffix).is_some() {
            return true;
        }
        match suffix.first() {
            Some(&len) if len > 0 => at += 1 + usize::from(len),
            _ => return false,
        }
    }
    false
}

/// What the local table is believed about: its own names.
pub(crate) struct LocalBailiwick<'a>(pub(crate) &'a TableVersion);

impl Bailiwick for LocalBailiwick<'_> {
    fn covers(&self, name: &[u8]) -> bool {
        is_local(self.0, name)
    }
}

/// The published table, and an engine to answer from it.
#[derive(Debug, Clone)]
pub(crate) struct LocalZones {
    table: Table,
    engine: Arc<Engine>,
}

impl LocalZones {
    pub(crate) fn new(table: Table) -> LocalZones {
        LocalZones {
            table,
            engine: Arc::new(Engine::new(EngineConfig {
                forwarder: true,
                ..EngineConfig::default()
            })),
        }
    }

    /// The table version published now.
    pub(crate) fn current(&self) -> Arc<TableVersion> {
        self.table.current()
    }

    /// The engine's answer to `question` from `version`, as `client` would
    /// get it (answer policies such as `hone-one` depend on the client):
    /// `None` when the name is not local after all (the zone went away) or
    /// the engine answers with an error.
    pub(crate) fn answer(
        &self,
        version: &TableVersion,
        question: &Question,
        client: IpAddr,
    ) -> Option<Response> {
        let query = upstream_query(
            0,
            &question.qname,
            question.qtype,
            question.qclass,
            question.dnssec_ok,
            question.checking_disabled,
        );
        let mut buf = vec![0u8; MAX_TCP_MESSAGE];
        buf.get_mut(..query.len())?.copy_from_slice(&query);
        let context = QueryContext {
            client,
            transport: Transport::Tcp,
            entropy: rand::random(),
        };
        match self
            .engine
            .respond(version, &mut buf, query.len(), &context)
        {
            Verdict::Reply(len) => parse_response(buf.get(..len)?).ok(),
            Verdict::Refused(_) | Verdict::Punt | Verdict::Drop => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ferrodns_dataplane::testkit::name;
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    use ferrodns_dataplane::engine::CLASS_IN;
    use ferrodns_dataplane::record::{RData, RType, Record, Soa};
    use ferrodns_dataplane::table::{ZoneInput, compile};
    use ferrodns_dataplane::wire::Rcode;

    use super::*;
    use crate::forward::message::tests::wire;

    /// `svc.cluster.local.` with `web` (two addresses) and `alias CNAME web`.
    pub(crate) fn local_table() -> Table {
        let apex = name("svc.cluster.local.");
        let soa = Soa {
            mname: name("ns.svc.cluster.local."),
            rname: name("hostmaster.svc.cluster.local."),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 30,
        };
        let records = vec![
            Record::new(apex.clone(), 60, RData::Soa(soa)),
            Record::new(
                name("web.svc.cluster.local."),
                30,
                RData::A(Ipv4Addr::new(10, 0, 0, 1)),
            ),
            Record::new(
                name("alias.svc.cluster.local."),
                30,
                RData::Cname(name("web.svc.cluster.local.")),
            ),
        ];
        let table = Table::new();
        let version = compile(
            &[ZoneInput::new(apex, records)],
            &HashSet::new(),
            table.seed(),
        );
        table.publish(version.unwrap_or_else(|e| unreachable!("{e}")));
        table
    }

    #[test]
    fn names_at_or_below_a_local_zone_are_local_in_any_case() {
        let table = local_table();
        let version = table.current();
        for local in [
            "svc.cluster.local.",
            "WEB.svc.Cluster.local.",
            "nope.svc.cluster.local.",
            "a.b.c.svc.cluster.local.",
        ] {
            assert!(is_local(&version, &wire(local)), "{local}");
        }
        for outside in ["cluster.local.", "xsvc.cluster.local.", "example.com.", "."] {
            assert!(!is_local(&version, &wire(outside)), "{outside}");
        }
    }

    #[test]
    fn local_names_are_answered_by_the_engine_from_the_table() {
        let local = LocalZones::new(local_table());
        let version = local.current();
        let question = |qname: &str| Question {
            qname: wire(qname),
            qtype: RType::A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            checking_disabled: false,
        };
        let client = IpAddr::from([192, 0, 2, 1]);
        let alias = local
            .answer(&version, &question("alias.svc.cluster.local."), client)
            .unwrap_or_else(|| unreachable!());
        let types: Vec<RType> = alias.answer.iter().map(|rr| rr.rtype).collect();
        assert_eq!(types, [RType::CNAME, RType::A]);
        let missing = local
            .answer(&version, &question("nope.svc.cluster.local."), client)
            .unwrap_or_else(|| unreachable!());
        assert_eq!(missing.rcode(), Some(Rcode::NxDomain));
        assert_eq!(missing.authority[0].rtype, RType::SOA);
        assert!(
            local
                .answer(&version, &question("www.example.com."), client)
                .is_none()
        );
    }
}
