//! The forwarder: answers the queries the engine punts (names outside every local
//! zone) by asking upstream nameservers, with a cache, per-client rate limiting,
//! spoofing defences and metrics. docs/forwarding.md describes the behaviour.
//!
//! Queries arrive two ways. Dataplane workers (kernel-socket threads or DPDK
//! lcores) push them onto per-worker lock-free queues ([`PuntQueues`]);
//! [`Forwarder::serve_udp`] drains those, answers cache hits on the spot, spawns a
//! task per cache miss, and hands each answer to the backend's [`PuntReplier`],
//! which sends it the way the query came in (the kernel backend from the socket
//! the query arrived on; DPDK as a frame built from the query's own, queued for
//! its lcore to transmit). The TCP listener calls [`Forwarder::answer`] directly.
//!
//! A query's way through: parse; rate limit (drop when over); pick the upstream
//! set (the longest `[forward.zones]` suffix, else the default nameservers, else
//! REFUSED as without a forwarder); the cache; otherwise ask upstreams in
//! `upstream::order` until one answers or the deadline passes (then SERVFAIL);
//! scrub the response (`bailiwick`), chase a CNAME that leaves the bailiwick
//! through its own upstream set, encode the answer, cache it, and serve it with
//! the client's ID, question case, RD/CD bits and RA=1.

mod bailiwick;
mod cache;
mod message;
mod ratelimit;
mod upstream;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ferrodns_dataplane::engine::{self, Transport, Verdict};
use ferrodns_dataplane::io::punt::{PuntQueues, PuntReplier, PuntedQuery};
use ferrodns_dataplane::wire::Rcode;
use tokio::sync::watch;
use tracing::{debug, info};

use crate::config::ForwardSettings;
use bailiwick::scrub;
use cache::{Cache, Key};
use message::{ClientQuery, Prepared, Rr};
use ratelimit::RateLimiter;
use upstream::{AttemptError, Question, Upstream, exchange, order};

/// An upstream's reply taken the way [`Forwarder::finish`] takes one, without
/// sockets or a cache: matched against `id` and the question of the client's
/// `query`, parsed, scrubbed against the bailiwick `zone` (a lowered wire name;
/// the root is `[0]`) and rendered as the client's answer. `None` where the
/// forwarder would not answer from it. Only for the fuzz target in `fuzz/`:
/// it exists when `cargo fuzz` builds with `--cfg fuzzing`.
#[cfg(fuzzing)]
pub fn answer_from_reply(query: &[u8], id: u16, reply: &[u8], zone: &[u8]) -> Option<Vec<u8>> {
    let client = ClientQuery::parse(query, Transport::Udp)?;
    let question = Question {
        qname: client.qname.clone(),
        qtype: client.qtype,
        qclass: client.qclass,
        dnssec_ok: client.dnssec_ok(),
        checking_disabled: client.checking_disabled(),
    };
    if !upstream::matches(reply, id, &question) {
        return None;
    }
    let response = message::parse_response(reply).ok()?;
    let scrubbed = scrub(&response, &question.qname, question.qtype, zone);
    let prepared = Prepared::build(
        &question.qname,
        question.qtype,
        question.qclass,
        response.rcode()?,
        [&scrubbed.answer, &scrubbed.authority, &scrubbed.additional],
    )
    .ok()?;
    Some(prepared.render(&client, 0))
}

/// CNAME targets outside a bailiwick chased for one query, one after another.
const MAX_CHASE: usize = 4;
/// Attempts per query: each upstream of the set, three rounds at most (an
/// upstream that answered with an error is not asked again for that query).
const ROUNDS: usize = 3;
/// How often the forwarder logs its counters at debug level.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The upstreams of one zone, or the default ones (zone: the root).
#[derive(Debug)]
struct UpstreamSet {
    /// Lowered wire name: the bailiwick of these upstreams.
    zone: Vec<u8>,
    upstreams: Vec<Arc<Upstream>>,
}

#[derive(Debug, Default)]
struct Counters {
    queries: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    forwarded: AtomicU64,
    servfail: AtomicU64,
    refused: AtomicU64,
    rate_limited: AtomicU64,
    bailiwick_drops: AtomicU64,
    reply_errors: AtomicU64,
    in_flight: AtomicU64,
}

/// A snapshot of the forwarder's counters (each since start, `in_flight` and
/// `cache_entries` as they are now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Punted queries handled (rate-limited ones excluded).
    pub queries: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Queries that went to upstreams (cache misses).
    pub forwarded: u64,
    /// Answered SERVFAIL: every upstream failed within the deadline.
    pub servfail: u64,
    /// Answered REFUSED: no upstream for the name.
    pub refused: u64,
    /// Dropped by the per-client rate limit.
    pub rate_limited: u64,
    /// Replies from upstreams dropped for not matching their query
    /// (address, port, ID, question): likely spoofs.
    pub spoofs: u64,
    /// Records of upstream responses dropped by the bailiwick rule.
    pub bailiwick_drops: u64,
    /// Answers that could not be sent back to the client.
    pub reply_errors: u64,
    /// Queries waiting for an upstream now.
    pub in_flight: u64,
    pub cache_entries: u64,
    pub upstreams: Vec<UpstreamStats>,
}

/// One upstream's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStats {
    pub addr: SocketAddr,
    /// Queries sent (attempts).
    pub queries: u64,
    /// Usable answers received (NOERROR, NXDOMAIN).
    pub answers: u64,
    pub timeouts: u64,
    /// Unreachable, malformed replies, error rcodes.
    pub failures: u64,
    /// Truncated UDP answers retried over TCP.
    pub tcp_retries: u64,
    pub spoofs: u64,
    /// Smoothed RTT in microseconds, once measured.
    pub srtt_us: Option<u64>,
    /// Backed off after timeouts or errors.
    pub down: bool,
}

impl fmt::Display for ForwardStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queries={} cache_hits={} cache_misses={} forwarded={} servfail={} refused={} \
             rate_limited={} spoofs={} bailiwick_drops={} reply_errors={} in_flight={} \
             cache_entries={}",
            self.queries,
            self.cache_hits,
            self.cache_misses,
            self.forwarded,
            self.servfail,
            self.refused,
            self.rate_limited,
            self.spoofs,
            self.bailiwick_drops,
            self.reply_errors,
            self.in_flight,
            self.cache_entries
        )?;
        for u in &self.upstreams {
            write!(
                f,
                "; upstream {} queries={} answers={} timeouts={} failures={} tcp_retries={} \
                 spoofs={} srtt_us={} down={}",
                u.addr,
                u.queries,
                u.answers,
                u.timeouts,
                u.failures,
                u.tcp_retries,
                u.spoofs,
                u.srtt_us.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                u.down
            )?;
        }
        Ok(())
    }
}

/// A query that missed the cache and must go upstream: [`Forwarder::finish`].
#[derive(Debug)]
pub struct Pending {
    client: ClientQuery,
    key: Key,
}

/// What to do with a punted query after the fast, synchronous part.
#[derive(Debug)]
pub enum Step {
    /// Send this answer (a cache hit, REFUSED), or nothing (rate limited, broken).
    Done(Option<Vec<u8>>),
    /// Ask upstreams.
    Forward(Pending),
}

/// What upstreams said about one name, scrubbed.
struct Resolved {
    rcode: Rcode,
    answer: Vec<Rr>,
    authority: Vec<Rr>,
    additional: Vec<Rr>,
    /// Seconds it may be cached; `None`: not cacheable.
    ttl: Option<u32>,
}

struct Inner {
    settings: ForwardSettings,
    default: Option<UpstreamSet>,
    /// Longest zone first.
    zones: Vec<UpstreamSet>,
    /// Each upstream once, in configuration order.
    upstreams: Vec<Arc<Upstream>>,
    cache: Mutex<Cache>,
    limiter: Option<Mutex<RateLimiter>>,
    counters: Counters,
}

/// The forwarder. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

impl fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements the in-flight gauge when a forwarded query ends, however it ends.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Forwarder {
    /// A forwarder for `settings`; `None` when no upstream is configured (punted
    /// queries are then answered REFUSED, as without a forwarder).
    pub fn new(settings: &ForwardSettings) -> Option<Forwarder> {
        if settings.nameservers.is_empty() && settings.zones.is_empty() {
            return None;
        }
        let mut by_addr: HashMap<SocketAddr, Arc<Upstream>> = HashMap::new();
        let mut upstreams = Vec::new();
        let mut get = |addr: SocketAddr| {
            Arc::clone(by_addr.entry(addr).or_insert_with(|| {
                let upstream = Arc::new(Upstream::new(addr));
                upstreams.push(Arc::clone(&upstream));
                upstream
            }))
        };
        let default = (!settings.nameservers.is_empty()).then(|| UpstreamSet {
            zone: vec![0],
            upstreams: settings.nameservers.iter().map(|&a| get(a)).collect(),
        });
        let mut zones: Vec<UpstreamSet> = settings
            .zones
            .iter()
            .map(|(zone, servers)| UpstreamSet {
                zone: zone.to_lowercase_wire(),
                upstreams: servers.iter().map(|&a| get(a)).collect(),
            })
            .collect();
        zones.sort_by_key(|set| std::cmp::Reverse(set.zone.len()));
        let limiter = (settings.per_client_qps > 0)
            .then(|| Mutex::new(RateLimiter::new(settings.per_client_qps)));
        Some(Forwarder {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                default,
                zones,
                upstreams,
                cache: Mutex::new(Cache::new(settings.cache_size)),
                limiter,
                counters: Counters::default(),
            }),
        })
    }

    /// The upstreams responsible for `qname` (lowered): longest zone suffix wins.
    fn set_for(&self, qname: &[u8]) -> Option<&UpstreamSet> {
        self.inner
            .zones
            .iter()
            .find(|set| message::is_at_or_below(qname, &set.zone))
            .or(self.inner.default.as_ref())
    }

    /// Answers `query` from `client`: the whole way, cache or upstream. `None`:
    /// send nothing (rate limited, or not a query).
    pub async fn answer(
        &self,
        query: &[u8],
        client: IpAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        match self.start(query, client, transport) {
            Step::Done(reply) => reply,
            Step::Forward(pending) => Some(self.finish(pending).await),
        }
    }

    /// The synchronous part: parsing, rate limit, REFUSED, cache.
    pub fn start(&self, query: &[u8], client: IpAddr, transport: Transport) -> Step {
        let counters = &self.inner.counters;
        let Some(parsed) = ClientQuery::parse(query, transport) else {
            return Step::Done(None);
        };
        let now = Instant::now();
        if let Some(limiter) = &self.inner.limiter
            && !lock(limiter).allow(client, now)
        {
            counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Step::Done(None);
        }
        counters.queries.fetch_add(1, Ordering::Relaxed);
        if self.set_for(&parsed.qname).is_none() {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return Step::Done(refuse(query));
        }
        let key = Key {
            qname: parsed.qname.clone(),
            qtype: parsed.qtype,
            qclass: parsed.qclass,
            dnssec_ok: parsed.dnssec_ok(),
            checking_disabled: parsed.checking_disabled(),
        };
        let hit = lock(&self.inner.cache).get(&key, now);
        if let Some((answer, elapsed)) = hit {
            counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Step::Done(Some(answer.render(&parsed, elapsed)));
        }
        counters.cache_misses.fetch_add(1, Ordering::Relaxed);
        Step::Forward(Pending {
            client: parsed,
            key,
        })
    }

    /// The slow part: upstreams, scrubbing, caching. Always an answer (SERVFAIL
    /// when every upstream failed).
    pub async fn finish(&self, pending: Pending) -> Vec<u8> {
        let counters = &self.inner.counters;
        counters.forwarded.fetch_add(1, Ordering::Relaxed);
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&counters.in_flight);
        let Pending { client, key } = pending;
        let question = Question {
            qname: key.qname.clone(),
            qtype: key.qtype,
            qclass: key.qclass,
            dnssec_ok: key.dnssec_ok,
            checking_disabled: key.checking_disabled,
        };
        let stored = Instant::now();
        let deadline = tokio::time::Instant::now() + self.inner.settings.deadline;
        let prepared = self
            .resolve(&question, 0, deadline)
            .await
            .and_then(|resolved| {
                let sections = [
                    resolved.answer.as_slice(),
                    &resolved.authority,
                    &resolved.additional,
                ];
                let prepared = Prepared::build(
                    &question.qname,
                    question.qtype,
                    question.qclass,
                    resolved.rcode,
                    sections,
                )
                .ok()?;
                Some((prepared, resolved.ttl))
            });
        let Some((prepared, ttl)) = prepared else {
            counters.servfail.fetch_add(1, Ordering::Relaxed);
            return client.empty_answer(Rcode::ServFail, false);
        };
        let reply = prepared.render(&client, 0);
        if let Some(ttl) = ttl {
            lock(&self.inner.cache).insert(key, Arc::new(prepared), ttl, stored);
        }
        reply
    }

    /// Asks the upstreams of `question`'s name, scrubs, and chases a CNAME that
    /// leaves their bailiwick, all before `deadline`. `None` when that fails.
    fn resolve<'a>(
        &'a self,
        question: &'a Question,
        depth: usize,
        deadline: tokio::time::Instant,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<Resolved>> + Send + 'a>> {
        Box::pin(async move {
            let set = self.set_for(&question.qname)?;
            let response = self.ask(set, question, deadline).await?;
            let scrubbed = scrub(&response, &question.qname, question.qtype, &set.zone);
            self.inner
                .counters
                .bailiwick_drops
                .fetch_add(scrubbed.dropped as u64, Ordering::Relaxed);
            // NOERROR or NXDOMAIN: `ask` took no other.
            let rcode = response.rcode()?;
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
                ttl,
            };
            let Some(target) = scrubbed.chase else {
                return Some(resolved);
            };
            if depth >= MAX_CHASE {
                return None;
            }
            let next = Question {
                qname: target,
                ..question.clone()
            };
            let chased = self.resolve(&next, depth + 1, deadline).await?;
            resolved.rcode = chased.rcode;
            resolved.answer.extend(chased.answer);
            resolved.authority = chased.authority;
            resolved.additional.extend(chased.additional);
            resolved.ttl = match (resolved.ttl, chased.ttl) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            Some(resolved)
        })
    }

    /// Tries the set's upstreams in order, each for at most `timeout`, all
    /// before `deadline` (the query's, shared by every CNAME chased for it).
    async fn ask(
        &self,
        set: &UpstreamSet,
        question: &Question,
        deadline: tokio::time::Instant,
    ) -> Option<message::Response> {
        let settings = &self.inner.settings;
        let mut budget = ROUNDS * set.upstreams.len();
        // Upstreams that answered with an error: asking again will not help.
        let mut refused: Vec<SocketAddr> = Vec::new();
        loop {
            if refused.len() == set.upstreams.len() {
                return None;
            }
            for upstream in order(&set.upstreams, Instant::now()) {
                let now = tokio::time::Instant::now();
                if budget == 0 || now >= deadline {
                    return None;
                }
                if refused.contains(&upstream.addr) {
                    continue;
                }
                budget -= 1;
                let until = (now + settings.timeout).min(deadline);
                let counters = &upstream.counters;
                match exchange(upstream, question, until).await {
                    Ok((response, rtt)) => {
                        counters.answers.fetch_add(1, Ordering::Relaxed);
                        upstream.record_answer(rtt);
                        return Some(response);
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
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> ForwardStats {
        let c = &self.inner.counters;
        let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let now = Instant::now();
        let upstreams: Vec<UpstreamStats> = self
            .inner
            .upstreams
            .iter()
            .map(|u| UpstreamStats {
                addr: u.addr,
                queries: get(&u.counters.queries),
                answers: get(&u.counters.answers),
                timeouts: get(&u.counters.timeouts),
                failures: get(&u.counters.failures),
                tcp_retries: get(&u.counters.tcp),
                spoofs: get(&u.counters.spoofs),
                srtt_us: u.srtt_us(),
                down: u.is_down(now),
            })
            .collect();
        ForwardStats {
            queries: get(&c.queries),
            cache_hits: get(&c.cache_hits),
            cache_misses: get(&c.cache_misses),
            forwarded: get(&c.forwarded),
            servfail: get(&c.servfail),
            refused: get(&c.refused),
            rate_limited: get(&c.rate_limited),
            spoofs: upstreams.iter().map(|u| u.spoofs).sum(),
            bailiwick_drops: get(&c.bailiwick_drops),
            reply_errors: get(&c.reply_errors),
            in_flight: get(&c.in_flight),
            cache_entries: lock(&self.inner.cache).len() as u64,
            upstreams,
        }
    }

    /// Drains the dataplane workers' punt queues until `shutdown` turns `true`,
    /// answering through `replier` (the kernel backend's sockets or the DPDK
    /// lcores' queues). `wake` is the socket [`PuntQueues::new`] returned.
    pub async fn serve_udp<R: PuntReplier>(
        self,
        queues: Arc<PuntQueues>,
        wake: UnixDatagram,
        replier: R,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        wake.set_nonblocking(true)?;
        let wake = tokio::net::UnixDatagram::from_std(wake)?;
        let mut scratch = [0u8; 64];
        loop {
            if *shutdown.borrow_and_update() {
                return Ok(());
            }
            let mut handled = 0usize;
            for worker in 0..queues.workers() {
                while let Some(query) = queues.pop(worker) {
                    handled += 1;
                    self.handle_udp(query, &replier);
                }
            }
            if handled > 0 {
                // Let the spawned lookups and the replies run.
                tokio::task::yield_now().await;
                continue;
            }
            if !queues.prepare_sleep() {
                continue;
            }
            tokio::select! {
                _ = wake.recv(&mut scratch) => {
                    while wake.try_recv(&mut scratch).is_ok() {}
                }
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        queues.awake();
                        return Ok(());
                    }
                }
                // Belt and braces: never sleep for long on a lost wake-up.
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            queues.awake();
        }
    }

    fn handle_udp<R: PuntReplier>(&self, query: PuntedQuery, replier: &R) {
        match self.start(query.query(), query.client().ip(), Transport::Udp) {
            Step::Done(Some(reply)) => self.send(replier, &query, &reply),
            Step::Done(None) => {}
            Step::Forward(pending) => {
                let this = self.clone();
                let replier = replier.clone();
                tokio::spawn(async move {
                    let reply = this.finish(pending).await;
                    this.send(&replier, &query, &reply);
                });
            }
        }
    }

    fn send<R: PuntReplier>(&self, replier: &R, query: &PuntedQuery, reply: &[u8]) {
        if let Err(e) = replier.reply(query, reply) {
            self.inner
                .counters
                .reply_errors
                .fetch_add(1, Ordering::Relaxed);
            debug!(client = %query.client(), "cannot send forwarded answer: {e}");
        }
    }

    /// Logs the counters at debug level every 10 s until `shutdown`, then once
    /// at info level.
    pub async fn log_stats(self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(LOG_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => debug!("forwarder: {}", self.snapshot()),
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        info!("forwarder: {}", self.snapshot());
    }
}

/// REFUSED, exactly as the engine answers punted queries without a forwarder.
fn refuse(query: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    buf.get_mut(..query.len())?.copy_from_slice(query);
    match engine::refuse(&mut buf, query.len()) {
        Verdict::Reply(n) => {
            buf.truncate(n);
            Some(buf)
        }
        _ => None,
    }
}
