//! Which records of an upstream response the forwarder believes.
//!
//! An upstream is asked about names at or below its *bailiwick*: the zone it is
//! configured for (`[forward.zones]`), or the root for the default nameservers.
//! The rule, applied to every response before anything is cached or returned:
//!
//! 1. **Answer section.** Starting at the question name, follow the CNAME chain
//!    through the answer section (at most [`MAX_CHAIN`] links, no name twice).
//!    Keep a record only if its owner is a name of that chain, its class is IN,
//!    and it is the type asked for (any type for ANY), the chain's CNAME, or an
//!    RRSIG. A DNAME is kept when the chain name it rewrites lies below its owner.
//!    Every name of the chain must lie at or below the bailiwick: a CNAME that
//!    points outside it is kept, the chain stops there, and the forwarder
//!    resolves the target itself through the upstream responsible for it
//!    ([`Scrubbed::chase`]) instead of believing what this upstream said about it.
//! 2. **Authority section.** The *zone* is the longest owner of an SOA or NS
//!    record there that is an ancestor of (or equal to) the chain's last name and
//!    lies at or below the bailiwick. Kept: that zone's SOA and NS, and NSEC,
//!    NSEC3 and RRSIG records at or below it. No such zone: nothing is kept.
//! 3. **Additional section.** Only A and AAAA records (and their RRSIGs) whose
//!    owner is the target of a kept NS, MX or SRV record and lies at or below the
//!    bailiwick.
//!
//! Everything else is dropped and counted. Nothing dropped is cached, and the
//! client only ever sees what was kept.

use ferrodns_dataplane::engine::CLASS_IN;
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::wire::Rcode;

use super::message::{Response, Rr, is_at_or_below, same_name};

/// Longest CNAME chain followed in one response.
pub(crate) const MAX_CHAIN: usize = 16;

/// The believable part of a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scrubbed {
    pub(crate) answer: Vec<Rr>,
    pub(crate) authority: Vec<Rr>,
    pub(crate) additional: Vec<Rr>,
    /// A CNAME target outside the bailiwick: resolve it separately.
    pub(crate) chase: Option<Vec<u8>>,
    /// Records dropped.
    pub(crate) dropped: usize,
}

impl Scrubbed {
    /// An NXDOMAIN, or a NOERROR without an answer for the chain's last name:
    /// cached per RFC 2308 (only with an SOA).
    pub(crate) fn is_negative(&self, rcode: Rcode, qtype: RType) -> bool {
        if rcode == Rcode::NxDomain {
            return true;
        }
        if self.chase.is_some() {
            return false;
        }
        !self
            .answer
            .iter()
            .any(|rr| rr.rtype == qtype || qtype == RType::ANY || qtype == RType::CNAME)
    }

    /// The TTL the scrubbed response may be cached for: the smallest TTL kept,
    /// or for a negative answer `min(SOA TTL, SOA MINIMUM)` (RFC 2308 §5), `None`
    /// when it must not be cached (negative without an SOA).
    pub(crate) fn cache_ttl(&self, negative: bool) -> Option<u32> {
        if negative {
            return self
                .authority
                .iter()
                .filter_map(|rr| rr.soa_minimum().map(|min| rr.ttl.min(min)))
                .min();
        }
        self.answer
            .iter()
            .chain(&self.authority)
            .chain(&self.additional)
            .map(|rr| rr.ttl)
            .min()
    }
}

/// Applies the rule above to `response`, an answer to (`qname`, `qtype`) from an
/// upstream whose bailiwick is `bailiwick` (a lowered wire name; root is `[0]`).
pub(crate) fn scrub(response: &Response, qname: &[u8], qtype: RType, bailiwick: &[u8]) -> Scrubbed {
    let mut out = Scrubbed::default();
    let total = response.answer.len() + response.authority.len() + response.additional.len();

    // 1. The chain.
    let mut chain: Vec<&[u8]> = vec![qname];
    if qtype != RType::CNAME {
        while chain.len() <= MAX_CHAIN {
            let Some(current) = chain.last().copied() else {
                break;
            };
            let next = response
                .answer
                .iter()
                .find(|rr| {
                    rr.rtype == RType::CNAME && rr.class == CLASS_IN && same_name(&rr.name, current)
                })
                .and_then(Rr::target);
            let Some(target) = next else { break };
            if chain.iter().any(|name| same_name(name, target)) {
                break;
            }
            if !is_at_or_below(target, bailiwick) {
                out.chase = Some(target.to_vec());
                break;
            }
            chain.push(target);
        }
    }
    let in_chain = |name: &[u8]| chain.iter().any(|c| same_name(c, name));
    for rr in &response.answer {
        if rr.class != CLASS_IN {
            continue;
        }
        let wanted = match rr.rtype {
            RType::CNAME => {
                in_chain(&rr.name)
                    && (qtype == RType::CNAME || chain_follows(&chain, out.chase.as_deref(), rr))
            }
            RType::RRSIG => in_chain(&rr.name),
            RType::DNAME => {
                is_at_or_below(&rr.name, bailiwick)
                    && chain
                        .iter()
                        .any(|c| is_at_or_below(c, &rr.name) && !same_name(c, &rr.name))
            }
            rtype => in_chain(&rr.name) && (rtype == qtype || qtype == RType::ANY),
        };
        if wanted {
            out.answer.push(rr.clone());
        }
    }

    // 2. The zone of the chain's last name, if the authority section shows one.
    let last = chain.last().copied().unwrap_or(qname);
    let zone = response
        .authority
        .iter()
        .filter(|rr| {
            (rr.rtype == RType::SOA || rr.rtype == RType::NS)
                && rr.class == CLASS_IN
                && is_at_or_below(last, &rr.name)
                && is_at_or_below(&rr.name, bailiwick)
        })
        .map(|rr| rr.name.as_slice())
        .max_by_key(|name| name.len());
    if let Some(zone) = zone
        && out.chase.is_none()
    {
        for rr in &response.authority {
            let keep = rr.class == CLASS_IN
                && match rr.rtype {
                    RType::SOA | RType::NS => same_name(&rr.name, zone),
                    RType::NSEC | RType::NSEC3 | RType::RRSIG => is_at_or_below(&rr.name, zone),
                    _ => false,
                };
            if keep {
                out.authority.push(rr.clone());
            }
        }
    }

    // 3. Addresses of the targets named by what was kept.
    let targets: Vec<&[u8]> = out
        .answer
        .iter()
        .chain(&out.authority)
        .filter(|rr| matches!(rr.rtype, RType::NS | RType::MX | RType::SRV))
        .filter_map(Rr::target)
        .filter(|target| is_at_or_below(target, bailiwick))
        .collect();
    for rr in &response.additional {
        let keep = rr.class == CLASS_IN
            && matches!(rr.rtype, RType::A | RType::AAAA | RType::RRSIG)
            && targets.iter().any(|t| same_name(t, &rr.name));
        if keep {
            out.additional.push(rr.clone());
        }
    }
    out.dropped = total - out.answer.len() - out.authority.len() - out.additional.len();
    out
}

/// A CNAME of the chain: its owner is a chain name and its target the next one
/// (or the target being chased).
fn chain_follows(chain: &[&[u8]], chase: Option<&[u8]>, rr: &Rr) -> bool {
    let Some(target) = rr.target() else {
        return false;
    };
    let Some(at) = chain.iter().position(|c| same_name(c, &rr.name)) else {
        return false;
    };
    match chain.get(at + 1) {
        Some(next) => same_name(next, target),
        None => chase.is_some_and(|c| same_name(c, target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::message::Part;
    use crate::forward::message::tests::{a, cname, rr, soa, wire};
    use ferrodns_dataplane::wire::Header;

    fn response(answer: Vec<Rr>, authority: Vec<Rr>, additional: Vec<Rr>) -> Response {
        Response {
            header: Header {
                id: 1,
                flags: 0x8180,
                qdcount: 1,
                ancount: answer.len() as u16,
                nscount: authority.len() as u16,
                arcount: additional.len() as u16,
            },
            qname: wire("www.corp.example."),
            qtype: RType::A,
            qclass: CLASS_IN,
            answer,
            authority,
            additional,
        }
    }

    fn names(records: &[Rr]) -> Vec<String> {
        records
            .iter()
            .map(|rr| {
                let name = ferrodns_dataplane::name::Name::from_wire(&rr.name).unwrap();
                format!("{name} {}", rr.rtype.0)
            })
            .collect()
    }

    #[test]
    fn only_the_chain_from_the_question_is_kept() {
        let resp = response(
            vec![
                cname("www.corp.example.", 300, "web.corp.example."),
                a("web.corp.example.", 60, [10, 0, 0, 1]),
                // Not asked for: an unrelated name, and the wrong type.
                a("bank.corp.example.", 60, [6, 6, 6, 6]),
                rr(
                    "web.corp.example.",
                    RType::MX,
                    60,
                    vec![
                        Part::Bytes(vec![0, 1]),
                        Part::Name(wire("mx.corp.example.")),
                    ],
                ),
            ],
            vec![],
            vec![],
        );
        let s = scrub(
            &resp,
            &wire("www.corp.example."),
            RType::A,
            &wire("corp.example."),
        );
        assert_eq!(
            names(&s.answer),
            ["www.corp.example. 5", "web.corp.example. 1"]
        );
        assert_eq!((s.dropped, s.chase.clone()), (2, None));
        assert!(!s.is_negative(Rcode::NoError, RType::A));
        assert_eq!(s.cache_ttl(false), Some(60));
    }

    #[test]
    fn a_chain_leaving_the_bailiwick_is_chased_not_believed() {
        let resp = response(
            vec![
                cname("www.corp.example.", 300, "lb.cloud.test."),
                a("lb.cloud.test.", 60, [6, 6, 6, 6]),
            ],
            vec![],
            vec![],
        );
        let s = scrub(
            &resp,
            &wire("www.corp.example."),
            RType::A,
            &wire("corp.example."),
        );
        assert_eq!(names(&s.answer), ["www.corp.example. 5"]);
        assert_eq!(s.chase, Some(wire("lb.cloud.test.")));
        assert_eq!(s.dropped, 1);
        // The root bailiwick believes it all.
        let s = scrub(&resp, &wire("www.corp.example."), RType::A, &[0]);
        assert_eq!(s.answer.len(), 2);
        assert_eq!(s.chase, None);
    }

    #[test]
    fn negative_answers_keep_the_zone_soa_only() {
        let resp = response(
            vec![],
            vec![
                soa("corp.example.", 3600, 30),
                // An SOA for a zone the name is not in, and one above the bailiwick.
                soa("other.example.", 3600, 30),
                soa("example.", 3600, 30),
                rr(
                    "corp.example.",
                    RType::NS,
                    3600,
                    vec![Part::Name(wire("ns.corp.example."))],
                ),
            ],
            vec![
                a("ns.corp.example.", 3600, [10, 0, 0, 53]),
                a("evil.example.", 3600, [6, 6, 6, 6]),
            ],
        );
        let s = scrub(
            &resp,
            &wire("nope.corp.example."),
            RType::A,
            &wire("corp.example."),
        );
        assert_eq!(names(&s.authority), ["corp.example. 6", "corp.example. 2"]);
        assert_eq!(names(&s.additional), ["ns.corp.example. 1"]);
        assert_eq!(s.dropped, 3);
        assert!(s.is_negative(Rcode::NxDomain, RType::A));
        assert_eq!(s.cache_ttl(true), Some(30));
        // Negative without an SOA: not cacheable.
        let bare = scrub(
            &response(vec![], vec![], vec![]),
            &wire("x.corp.example."),
            RType::A,
            &[0],
        );
        assert_eq!(bare.cache_ttl(true), None);
    }

    #[test]
    fn loops_and_long_chains_stop() {
        let resp = response(
            vec![
                cname("a.example.", 60, "b.example."),
                cname("b.example.", 60, "a.example."),
            ],
            vec![],
            vec![],
        );
        let s = scrub(&resp, &wire("a.example."), RType::A, &[0]);
        assert_eq!(s.answer.len(), 1, "{:?}", names(&s.answer));
        let long: Vec<Rr> = (0..40)
            .map(|i| {
                cname(
                    &format!("n{i}.example."),
                    60,
                    &format!("n{}.example.", i + 1),
                )
            })
            .collect();
        let s = scrub(
            &response(long, vec![], vec![]),
            &wire("n0.example."),
            RType::A,
            &[0],
        );
        assert_eq!(s.answer.len(), MAX_CHAIN);
    }
}
