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
//! REFUSED as without a forwarder); the cache (an entry holding data of a zone
//! that has become local since is dropped, `local`); otherwise join the flight
//! of its question (`flights`: the cap on questions in flight, and coalescing)
//! and, leading it, ask upstreams in `upstream::order` until one answers or the
//! deadline passes (then SERVFAIL), each upstream within its own cap and with
//! sockets from a bounded pool (`pool`); scrub the response (`bailiwick`: never
//! believing an upstream about a local zone or another upstream's zone), chase
//! a CNAME that leaves what its source is believed about (into the local table,
//! or through its own upstream set: `resolve`), encode the answer, cache it,
//! and serve it with the client's ID, question case, RD/CD bits and RA=1.

mod bailiwick;
mod cache;
mod flights;
mod local;
mod message;
mod pool;
mod ratelimit;
mod resolve;
mod routes;
mod stats;
#[cfg(test)]
mod tests;
mod upstream;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ferrodns_dataplane::engine::{self, Transport, Verdict};
use ferrodns_dataplane::io::punt::{PuntQueues, PuntReplier, PuntedQuery};
use ferrodns_dataplane::table::Table;
use ferrodns_dataplane::wire::Rcode;
use tokio::sync::watch;
use tracing::{debug, info};

use crate::config::ForwardSettings;
use crate::query_stats::{self, SharedObserver};
use crate::telemetry::{AnswerLatency, LatencyPath};
use cache::{Cache, Key};
use flights::{Flights, Joined, Outcome};
use local::{LocalZones, is_local};
use message::{ClientQuery, Prepared};
use pool::SocketBudget;
use ratelimit::RateLimiter;
use resolve::Failure;
use routes::Routes;
use stats::Counters;
pub use stats::{ForwardStats, UpstreamStats};
use upstream::Question;

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
    let scrubbed = bailiwick::scrub(
        &response,
        &question.qname,
        question.qtype,
        &bailiwick::Zone(zone),
    );
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

/// How often the forwarder logs its counters at debug level.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A query that missed the cache and must go upstream: [`Forwarder::finish`].
#[derive(Debug)]
pub struct Pending {
    client: ClientQuery,
    /// The client's address: answers from the local table may depend on it.
    address: IpAddr,
    key: Key,
}

/// Times a query whose flight ended without an outcome (its leader's client
/// went away) joins the next one.
const JOINS: usize = 3;

/// What to do with a punted query after the fast, synchronous part.
#[derive(Debug)]
pub enum Step {
    /// Send this answer (a cache hit, REFUSED), or nothing (rate limited, broken).
    Done(Option<Vec<u8>>),
    /// Ask upstreams.
    Forward(Pending),
}

struct Inner {
    settings: ForwardSettings,
    /// Which upstreams answer which names; a reload may replace them.
    routes: ArcSwap<Routes>,
    cache: Mutex<Cache>,
    limiter: Option<Mutex<RateLimiter>>,
    counters: Counters,
    flights: Flights,
    sockets: Arc<SocketBudget>,
    local: LocalZones,
    /// Where answers are reported, once [`Forwarder::watch`] says.
    watch: OnceLock<ForwardWatch>,
}

/// What the forwarder reports to: how long answers take, and the query log
/// (the answers to punted queries a poll loop sampled).
#[derive(Debug, Clone, Default)]
pub struct ForwardWatch {
    pub latency: AnswerLatency,
    pub log: Option<SharedObserver>,
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

impl Forwarder {
    /// A forwarder for `settings` that lets the zones of `table` win; `None`
    /// when no upstream is configured (punted queries are then answered
    /// REFUSED, as without a forwarder).
    pub fn new(settings: &ForwardSettings, table: Table) -> Option<Forwarder> {
        if settings.nameservers.is_empty() && settings.zones.is_empty() {
            return None;
        }
        let sockets = SocketBudget::new(settings.max_sockets);
        let routes = Routes::new(settings, &sockets, None);
        let limiter = (settings.per_client_qps > 0)
            .then(|| Mutex::new(RateLimiter::new(settings.per_client_qps)));
        Some(Forwarder {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                routes: ArcSwap::from_pointee(routes),
                cache: Mutex::new(Cache::new(settings.cache_size)),
                limiter,
                counters: Counters::default(),
                flights: Flights::new(settings.max_in_flight),
                sockets,
                local: LocalZones::new(table),
                watch: OnceLock::new(),
            }),
        })
    }

    /// Reports answers to `watch` from now on (once: a second call is ignored).
    pub fn watch(&self, watch: ForwardWatch) {
        let _ = self.inner.watch.set(watch);
    }

    /// Notes how long an answer took, from the cache or from upstreams.
    fn took(&self, path: LatencyPath, started: Instant) {
        if let Some(watch) = self.inner.watch.get() {
            watch.latency.observe(path, started.elapsed());
        }
    }

    /// The routes now: which upstreams answer which names.
    fn routes(&self) -> Arc<Routes> {
        self.inner.routes.load_full()
    }

    /// Takes the upstreams of `settings` (`nameservers` and `zones`; its
    /// other keys are kept as they were at start) for the queries that start
    /// from now on, and empties the cache when they changed: answers of the
    /// old upstreams are not served for the new ones. Upstreams kept keep
    /// their counters and sockets. Returns whether anything changed.
    pub fn set_routes(&self, settings: &ForwardSettings) -> bool {
        let current = self.routes();
        if current.match_settings(settings) {
            return false;
        }
        let routes = Routes::new(settings, &self.inner.sockets, Some(&current));
        self.inner.routes.store(Arc::new(routes));
        lock(&self.inner.cache).clear();
        true
    }

    /// Answers `query` from `client`: the whole way, cache or upstream. `None`:
    /// send nothing (rate limited, or not a query).
    pub async fn answer(
        &self,
        query: &[u8],
        client: IpAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let started = Instant::now();
        match self.start(query, client, transport) {
            Step::Done(reply) => {
                if reply.is_some() {
                    self.took(LatencyPath::ForwardCache, started);
                }
                reply
            }
            Step::Forward(pending) => {
                let answer = self.finish(pending).await;
                self.took(LatencyPath::ForwardUpstream, started);
                Some(answer)
            }
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
        if self.routes().set_for(&parsed.qname).is_none() {
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
            if !self.holds_local_data(&answer) {
                counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Step::Done(Some(answer.render(&parsed, elapsed)));
            }
            counters.local_drops.fetch_add(1, Ordering::Relaxed);
            lock(&self.inner.cache).forget(&key);
        }
        counters.cache_misses.fetch_add(1, Ordering::Relaxed);
        Step::Forward(Pending {
            client: parsed,
            address: client,
            key,
        })
    }

    /// Whether a cached answer holds records of a zone that is local now (it
    /// became local after the answer was cached).
    fn holds_local_data(&self, answer: &Prepared) -> bool {
        let version = self.inner.local.current();
        answer.owners().any(|owner| is_local(&version, owner))
    }

    /// The slow part: upstreams, scrubbing, caching. Always an answer:
    /// SERVFAIL when every upstream failed, or at once over a cap.
    pub async fn finish(&self, pending: Pending) -> Vec<u8> {
        let Pending {
            client,
            address,
            key,
        } = pending;
        let counters = &self.inner.counters;
        for _ in 0..JOINS {
            match self.inner.flights.join(&key) {
                Joined::Lead(lead) => {
                    counters.forwarded.fetch_add(1, Ordering::Relaxed);
                    let outcome = self.fly(&key, address).await;
                    lead.land(outcome.clone());
                    return self.serve(&outcome, &client);
                }
                Joined::Follow(follower) => {
                    if let Some(outcome) = follower.outcome().await {
                        counters.coalesced.fetch_add(1, Ordering::Relaxed);
                        return self.serve(&outcome, &client);
                    }
                }
                Joined::Full => break,
            }
        }
        self.serve(&Outcome::OverCap, &client)
    }

    /// Resolves the question of `key` for a flight, caching what may be.
    async fn fly(&self, key: &Key, client: IpAddr) -> Outcome {
        let question = Question {
            qname: key.qname.clone(),
            qtype: key.qtype,
            qclass: key.qclass,
            dnssec_ok: key.dnssec_ok,
            checking_disabled: key.checking_disabled,
        };
        let stored = Instant::now();
        let deadline = tokio::time::Instant::now() + self.inner.settings.deadline;
        let resolved = match self.resolve(&question, client, 0, deadline).await {
            Ok(resolved) => resolved,
            Err(Failure::Upstreams) => return Outcome::Failed,
            Err(Failure::OverCap) => return Outcome::OverCap,
        };
        let sections = [
            resolved.answer.as_slice(),
            &resolved.authority,
            &resolved.additional,
        ];
        let Ok(prepared) = Prepared::build(
            &question.qname,
            question.qtype,
            question.qclass,
            resolved.rcode,
            sections,
        ) else {
            return Outcome::Failed;
        };
        let prepared = Arc::new(prepared);
        if let Some(ttl) = resolved.ttl {
            lock(&self.inner.cache).insert(key.clone(), Arc::clone(&prepared), ttl, stored);
        }
        Outcome::Answer(prepared)
    }

    /// The answer `outcome` makes for `client`, counted.
    fn serve(&self, outcome: &Outcome, client: &ClientQuery) -> Vec<u8> {
        let counters = &self.inner.counters;
        match outcome {
            Outcome::Answer(prepared) => prepared.render(client, 0),
            Outcome::Failed => {
                counters.servfail.fetch_add(1, Ordering::Relaxed);
                client.empty_answer(Rcode::ServFail, false)
            }
            Outcome::OverCap => {
                counters.over_cap.fetch_add(1, Ordering::Relaxed);
                client.empty_answer(Rcode::ServFail, false)
            }
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
        let started = Instant::now();
        match self.start(query.query(), query.client().ip(), Transport::Udp) {
            Step::Done(Some(reply)) => {
                self.send(replier, &query, &reply);
                self.took(LatencyPath::ForwardCache, started);
            }
            Step::Done(None) => {}
            Step::Forward(pending) => {
                let this = self.clone();
                let replier = replier.clone();
                tokio::spawn(async move {
                    let reply = this.finish(pending).await;
                    this.send(&replier, &query, &reply);
                    this.took(LatencyPath::ForwardUpstream, started);
                });
            }
        }
    }

    /// Sends `reply` the way `query` came in, and logs it when the poll loop
    /// sampled the exchange for the query log.
    fn send<R: PuntReplier>(&self, replier: &R, query: &PuntedQuery, reply: &[u8]) {
        if let Err(e) = replier.reply(query, reply) {
            self.inner
                .counters
                .reply_errors
                .fetch_add(1, Ordering::Relaxed);
            debug!(client = %query.client(), "cannot send forwarded answer: {e}");
        }
        if query.is_sampled()
            && let Some(log) = self.inner.watch.get().and_then(|w| w.log.as_ref())
        {
            query_stats::lock(log).log_response(query.client(), Transport::Udp, reply);
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
