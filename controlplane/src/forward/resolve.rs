//! The slow part of a forwarded query: asking the upstreams of a name in turn,
//! scrubbing what they say, and following a CNAME that leaves what its source
//! is believed about, into the local zones or to another upstream set.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ferrodns_dataplane::table::TableVersion;
use ferrodns_dataplane::wire::Rcode;
use tracing::debug;

use super::Forwarder;
use super::bailiwick::{Bailiwick, Scrubbed, scrub};
use super::local::{LocalBailiwick, is_local};
use super::message::{Response, Rr, is_at_or_below};
use super::routes::{Routes, UpstreamSet};
use super::upstream::{AttemptError, Question, exchange, order};

/// CNAME targets outside a bailiwick chased for one query, one after another.
const MAX_CHASE: usize = 4;
/// Attempts per query: each upstream of the set, three rounds at most (an
/// upstream that answered with an error is not asked again for that query).
const ROUNDS: usize = 3;

/// What the sources said about one name, scrubbed.
pub(super) struct Resolved {
    pub(super) rcode: Rcode,
    pub(super) answer: Vec<Rr>,
    pub(super) authority: Vec<Rr>,
    pub(super) additional: Vec<Rr>,
    /// Seconds it may be cached; `None`: not cacheable (a failure, or data of
    /// the local zones, which must be as fresh as the table).
    pub(super) ttl: Option<u32>,
}

/// Why no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The upstreams failed, or no upstream covers a name: SERVFAIL.
    Upstreams,
    /// Every upstream of a set was at its cap or had no socket: SERVFAIL.
    OverCap,
}

/// What an upstream set is believed about: names at or below its zone that
/// no deeper `[forward.zones]` entry and no local zone claims.
struct UpstreamBailiwick<'a> {
    routes: &'a Routes,
    set: &'a UpstreamSet,
    local: &'a TableVersion,
}

impl Bailiwick for UpstreamBailiwick<'_> {
    fn covers(&self, name: &[u8]) -> bool {
        is_at_or_below(name, &self.set.zone)
            && self
                .routes
                .set_for(name)
                .is_some_and(|set| std::ptr::eq(set, self.set))
            && !is_local(self.local, name)
    }
}

impl Forwarder {
    /// What the sources responsible for `question`'s name say, scrubbed, with a
    /// CNAME that leaves them followed, all before `deadline`: the local table
    /// for a local name (so local zones win), else the name's upstreams.
    /// `client` is whom a local answer is for (answer policies may depend on it).
    pub(super) fn resolve<'a>(
        &'a self,
        question: &'a Question,
        client: IpAddr,
        depth: usize,
        deadline: tokio::time::Instant,
    ) -> Pin<Box<dyn Future<Output = Result<Resolved, Failure>> + Send + 'a>> {
        Box::pin(async move {
            let (response, scrubbed, local) = match self.answer_locally(question, client) {
                Some((response, scrubbed)) => (response, scrubbed, true),
                None => {
                    let routes = self.routes();
                    let set = routes.set_for(&question.qname).ok_or(Failure::Upstreams)?;
                    let response = self.ask(set, question, deadline).await?;
                    let version = self.inner.local.current();
                    let bailiwick = UpstreamBailiwick {
                        routes: &routes,
                        set,
                        local: &version,
                    };
                    let scrubbed = scrub(&response, &question.qname, question.qtype, &bailiwick);
                    (response, scrubbed, false)
                }
            };
            self.inner
                .counters
                .bailiwick_drops
                .fetch_add(scrubbed.dropped as u64, Ordering::Relaxed);
            // NOERROR or NXDOMAIN: `ask` and the local answer take no other.
            let rcode = response.rcode().ok_or(Failure::Upstreams)?;
            let negative = scrubbed.is_negative(rcode, question.qtype);
            let settings = &self.inner.settings;
            let cap = if negative {
                settings.max_negative_ttl
            } else {
                settings.max_ttl
            };
            let ttl = scrubbed.cache_ttl(negative).map(|t| t.min(cap));
            let mut resolved = Resolved {
                rcode,
                answer: scrubbed.answer,
                authority: scrubbed.authority,
                additional: scrubbed.additional,
                ttl: ttl.filter(|_| !local),
            };
            let Some(target) = scrubbed.chase else {
                return Ok(resolved);
            };
            if depth >= MAX_CHASE {
                return Err(Failure::Upstreams);
            }
            let next = Question {
                qname: target,
                ..question.clone()
            };
            let chased = self.resolve(&next, client, depth + 1, deadline).await?;
            resolved.rcode = chased.rcode;
            resolved.answer.extend(chased.answer);
            resolved.authority = chased.authority;
            resolved.additional.extend(chased.additional);
            resolved.ttl = match (resolved.ttl, chased.ttl) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            Ok(resolved)
        })
    }

    /// The local table's answer to `question` when its name is local, scrubbed
    /// to what the local zones hold (a CNAME leaving them is chased).
    fn answer_locally(&self, question: &Question, client: IpAddr) -> Option<(Response, Scrubbed)> {
        let local = &self.inner.local;
        let version = local.current();
        if !is_local(&version, &question.qname) {
            return None;
        }
        let response = local.answer(&version, question, client)?;
        let bailiwick = LocalBailiwick(&version);
        let scrubbed = scrub(&response, &question.qname, question.qtype, &bailiwick);
        Some((response, scrubbed))
    }

    /// Tries the set's upstreams in order, each for at most `timeout`, all
    /// before `deadline` (the query's, shared by every CNAME chased for it). An
    /// upstream at its cap, or without a socket, is passed over; when a whole
    /// round could try none, the query is over the cap.
    async fn ask(
        &self,
        set: &UpstreamSet,
        question: &Question,
        deadline: tokio::time::Instant,
    ) -> Result<Response, Failure> {
        let settings = &self.inner.settings;
        let mut budget = ROUNDS * set.upstreams.len();
        // Upstreams that answered with an error: asking again will not help.
        let mut refused: Vec<SocketAddr> = Vec::new();
        loop {
            if refused.len() == set.upstreams.len() {
                return Err(Failure::Upstreams);
            }
            let mut tried = false;
            for upstream in order(&set.upstreams, Instant::now()) {
                let now = tokio::time::Instant::now();
                if budget == 0 || now >= deadline {
                    return Err(Failure::Upstreams);
                }
                if refused.contains(&upstream.addr) {
                    continue;
                }
                let counters = &upstream.counters;
                let Some(_attempt) = upstream.begin() else {
                    counters.over_cap.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let until = (now + settings.timeout).min(deadline);
                let result = exchange(upstream, question, until).await;
                if !matches!(result, Err(AttemptError::NoSocket)) {
                    budget -= 1;
                    tried = true;
                }
                match result {
                    Ok((response, rtt)) => {
                        counters.answers.fetch_add(1, Ordering::Relaxed);
                        upstream.record_answer(rtt);
                        return Ok(response);
                    }
                    Err(AttemptError::NoSocket) => {
                        counters.over_cap.fetch_add(1, Ordering::Relaxed);
                        debug!(upstream = %upstream.addr, "no socket left for an upstream query");
                    }
                    Err(AttemptError::Timeout) => {
                        counters.timeouts.fetch_add(1, Ordering::Relaxed);
                        upstream.record_unreachable(Instant::now());
                        debug!(upstream = %upstream.addr, "upstream timed out");
                    }
                    Err(AttemptError::Network(e)) => {
                        counters.failures.fetch_add(1, Ordering::Relaxed);
                        upstream.record_unreachable(Instant::now());
                        debug!(upstream = %upstream.addr, "upstream unreachable: {e}");
                    }
                    Err(AttemptError::Malformed) => {
                        counters.failures.fetch_add(1, Ordering::Relaxed);
                        refused.push(upstream.addr);
                        debug!(upstream = %upstream.addr, "malformed upstream reply");
                    }
                    Err(AttemptError::Rcode(rcode)) => {
                        counters.failures.fetch_add(1, Ordering::Relaxed);
                        refused.push(upstream.addr);
                        debug!(upstream = %upstream.addr, rcode, "upstream answered an error");
                    }
                }
            }
            if !tried {
                return Err(Failure::OverCap);
            }
        }
    }
}
