//! Upstream nameservers: which one to ask first, and one exchange with one of them.
//!
//! **Choice.** Each upstream keeps a smoothed round-trip time (SRTT, an
//! exponentially weighted mean with weight 1/4 for the new sample) and a failure
//! count. A query tries the upstreams of its set in this order: those not backed
//! off, fastest SRTT first (an upstream never measured counts as 0, so each is
//! tried early; equal values keep the configured order), then those backed off,
//! soonest back first. An upstream that times out or cannot be reached is backed
//! off for 1 s, doubling with each further failure up to 30 s; an answer clears
//! it. Every time an upstream is passed over, its SRTT decays by 2 %, so a slower
//! upstream is measured again now and then and the order follows changes.
//!
//! **Exchange (RFC 5452).** Every UDP query goes out from a new socket bound to
//! port 0 (Linux picks a random port of the ephemeral range per bind) and
//! connected to the upstream, with a random ID from a CSPRNG (`rand`'s thread
//! generator, ChaCha). A reply is accepted only if it comes from the upstream's
//! address and port, is a response with that ID and repeats the question (name,
//! type, class); anything else is dropped, counted as a spoof, and the wait goes
//! on until the attempt's timeout. (The connected socket already makes the kernel
//! drop datagrams from any other address or port.) A reply with TC=1 is retried
//! over TCP to the same upstream, with a new ID.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout_at;

use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::wire::Rcode;
use ferrodns_dataplane::wire::header::flags;

use super::message::{Malformed, Response, parse_response, read_head, same_name, upstream_query};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Weight of a new RTT sample.
const SRTT_GAIN: f64 = 0.25;
/// Factor applied to the SRTT of an upstream passed over.
const SRTT_DECAY: f64 = 0.98;
/// Receive buffer: we advertise 1232 bytes, so a UDP answer is never longer.
const UDP_BUFFER: usize = 4096;

/// One upstream's counters, read by [`super::ForwardStats`].
#[derive(Debug, Default)]
pub(crate) struct UpstreamCounters {
    pub(crate) queries: AtomicU64,
    pub(crate) answers: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    /// Unreachable, refused, malformed replies, or error rcodes.
    pub(crate) failures: AtomicU64,
    pub(crate) tcp: AtomicU64,
    pub(crate) spoofs: AtomicU64,
}

#[derive(Debug, Default)]
struct Health {
    srtt_us: Option<f64>,
    failures: u32,
    down_until: Option<Instant>,
}

/// An upstream nameserver and what we know of it.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    health: Mutex<Health>,
    pub(crate) counters: UpstreamCounters,
}

impl Upstream {
    pub(crate) fn new(addr: SocketAddr) -> Upstream {
        Upstream {
            addr,
            health: Mutex::new(Health::default()),
            counters: UpstreamCounters::default(),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The smoothed RTT in microseconds, if measured.
    pub(crate) fn srtt_us(&self) -> Option<u64> {
        self.health().srtt_us.map(|v| v as u64)
    }

    /// Whether the upstream is backed off at `now`.
    pub(crate) fn is_down(&self, now: Instant) -> bool {
        self.health().down_until.is_some_and(|t| t > now)
    }

    pub(crate) fn record_answer(&self, rtt: Duration) {
        let sample = rtt.as_secs_f64() * 1e6;
        let mut h = self.health();
        h.srtt_us = Some(match h.srtt_us {
            Some(srtt) => srtt + SRTT_GAIN * (sample - srtt),
            None => sample,
        });
        h.failures = 0;
        h.down_until = None;
    }

    /// A timeout or an unreachable upstream: back off.
    pub(crate) fn record_unreachable(&self, now: Instant) {
        let mut h = self.health();
        h.failures = h.failures.saturating_add(1);
        let shift = h.failures.saturating_sub(1).min(5);
        let backoff = (BACKOFF_FIRST * (1u32 << shift)).min(BACKOFF_MAX);
        h.down_until = Some(now + backoff);
    }

    fn rank(&self, now: Instant) -> (Option<Instant>, f64) {
        let h = self.health();
        let down = h.down_until.filter(|&t| t > now);
        (down, h.srtt_us.unwrap_or(0.0))
    }

    fn decay(&self) {
        let mut h = self.health();
        if let Some(srtt) = h.srtt_us.as_mut() {
            *srtt *= SRTT_DECAY;
        }
    }
}

/// The order in which to try `upstreams` (given in order of preference) now.
pub(crate) fn order<U: AsRef<Upstream>>(upstreams: &[U], now: Instant) -> Vec<&U> {
    let mut ranked: Vec<(usize, Option<Instant>, f64)> = upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let (down, srtt) = u.as_ref().rank(now);
            (i, down, srtt)
        })
        .collect();
    ranked.sort_by(|a, b| match (a.1, b.1) {
        (None, None) => a.2.total_cmp(&b.2).then(a.0.cmp(&b.0)),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y).then(a.0.cmp(&b.0)),
    });
    let ordered: Vec<&U> = ranked
        .iter()
        .filter_map(|&(i, _, _)| upstreams.get(i))
        .collect();
    for passed_over in ordered.iter().skip(1) {
        passed_over.as_ref().decay();
    }
    ordered
}

/// The question an exchange is about (lowered name).
#[derive(Debug, Clone)]
pub(crate) struct Question {
    pub(crate) qname: Vec<u8>,
    pub(crate) qtype: RType,
    pub(crate) qclass: u16,
    pub(crate) dnssec_ok: bool,
    pub(crate) checking_disabled: bool,
}

/// Why an attempt failed.
#[derive(Debug)]
pub(crate) enum AttemptError {
    Timeout,
    Network(io::Error),
    /// A matching reply that does not parse.
    Malformed,
    /// A matching reply with an error rcode (SERVFAIL, REFUSED...): its
    /// header's flags.
    Rcode(u16),
}

impl From<io::Error> for AttemptError {
    fn from(e: io::Error) -> Self {
        AttemptError::Network(e)
    }
}

impl From<Malformed> for AttemptError {
    fn from(_: Malformed) -> Self {
        AttemptError::Malformed
    }
}

/// Whether `reply` answers query `id` about `question`.
pub(crate) fn matches(reply: &[u8], id: u16, question: &Question) -> bool {
    let Ok((header, qname, qtype, qclass, _)) = read_head(reply) else {
        return false;
    };
    header.id == id
        && header.is_response()
        && header.opcode() == 0
        && same_name(&qname, &question.qname)
        && qtype == question.qtype
        && qclass == question.qclass
}

/// One query to `upstream`, answered within `until`: UDP, then TCP if the UDP
/// reply is truncated. Returns the parsed response (NOERROR or NXDOMAIN) and the
/// time it took.
pub(crate) async fn exchange(
    upstream: &Upstream,
    question: &Question,
    until: tokio::time::Instant,
) -> Result<(Response, Duration), AttemptError> {
    let started = Instant::now();
    upstream.counters.queries.fetch_add(1, Ordering::Relaxed);
    let reply = match timeout_at(until, udp(upstream, question)).await {
        Err(_) => return Err(AttemptError::Timeout),
        Ok(reply) => reply?,
    };
    let reply = if read_head(&reply).is_ok_and(|(h, ..)| h.flags & flags::TC != 0) {
        upstream.counters.tcp.fetch_add(1, Ordering::Relaxed);
        match timeout_at(until, tcp(upstream.addr, question)).await {
            Err(_) => return Err(AttemptError::Timeout),
            Ok(reply) => reply?,
        }
    } else {
        reply
    };
    let response = parse_response(&reply)?;
    match response.rcode() {
        Some(Rcode::NoError | Rcode::NxDomain) if !response.truncated() => {
            Ok((response, started.elapsed()))
        }
        Some(Rcode::NoError | Rcode::NxDomain) => Err(AttemptError::Malformed),
        _ => Err(AttemptError::Rcode(
            response.header.flags & flags::RCODE_MASK,
        )),
    }
}

async fn udp(upstream: &Upstream, question: &Question) -> Result<Vec<u8>, AttemptError> {
    let local: SocketAddr = match upstream.addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // Bound, connected and sent on before tokio sees it: tokio would first wait
    // for the new socket's writability from the reactor, which costs a wake-up
    // of another runtime thread per query; a fresh socket's buffer is empty.
    let socket = std::net::UdpSocket::bind(local)?;
    socket.connect(upstream.addr)?;
    socket.set_nonblocking(true)?;
    let id: u16 = rand::random();
    let query = upstream_query(
        id,
        &question.qname,
        question.qtype,
        question.qclass,
        question.dnssec_ok,
        question.checking_disabled,
    );
    socket.send(&query)?;
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await?;
        let reply = buf.get(..len).unwrap_or_default();
        if from == upstream.addr && matches(reply, id, question) {
            buf.truncate(len);
            return Ok(buf);
        }
        upstream.counters.spoofs.fetch_add(1, Ordering::Relaxed);
    }
}

async fn tcp(addr: SocketAddr, question: &Question) -> Result<Vec<u8>, AttemptError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let id: u16 = rand::random();
    let query = upstream_query(
        id,
        &question.qname,
        question.qtype,
        question.qclass,
        question.dnssec_ok,
        question.checking_disabled,
    );
    let len = u16::try_from(query.len()).map_err(|_| AttemptError::Malformed)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut reply = vec![0u8; usize::from(len)];
    stream.read_exact(&mut reply).await?;
    // Over TCP a mismatch is not a spoof (nobody off-path can inject), just wrong.
    if !matches(&reply, id, question) {
        return Err(AttemptError::Malformed);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::message::tests::wire;
    use ferrodns_dataplane::engine::CLASS_IN;
    use std::sync::Arc;

    fn set(n: usize) -> Vec<Arc<Upstream>> {
        (0..n)
            .map(|i| {
                Arc::new(Upstream::new(SocketAddr::from((
                    [127, 0, 0, 1],
                    5300 + i as u16,
                ))))
            })
            .collect()
    }

    fn ports(order: &[&Arc<Upstream>]) -> Vec<u16> {
        order.iter().map(|u| u.addr.port() - 5300).collect()
    }

    #[test]
    fn unmeasured_upstreams_keep_the_configured_order() {
        let ups = set(3);
        assert_eq!(ports(&order(&ups, Instant::now())), [0, 1, 2]);
    }

    #[test]
    fn the_fastest_is_preferred_and_failures_back_off() {
        let ups = set(3);
        let now = Instant::now();
        ups[0].record_answer(Duration::from_millis(20));
        ups[1].record_answer(Duration::from_millis(2));
        ups[2].record_answer(Duration::from_millis(5));
        assert_eq!(ports(&order(&ups, now)), [1, 2, 0]);
        // The fastest times out: backed off, last, for a second.
        ups[1].record_unreachable(now);
        assert!(ups[1].is_down(now));
        assert_eq!(ports(&order(&ups, now)), [2, 0, 1]);
        let later = now + Duration::from_millis(1001);
        assert!(!ups[1].is_down(later));
        assert_eq!(ports(&order(&ups, later))[0], 1);
        // Repeated failures back off longer, and an answer clears it.
        ups[1].record_unreachable(later);
        assert!(ups[1].is_down(later + Duration::from_millis(1500)));
        ups[1].record_answer(Duration::from_millis(2));
        assert!(!ups[1].is_down(later));
    }

    #[test]
    fn the_srtt_smooths_and_passed_over_upstreams_decay_until_retried() {
        let ups = set(2);
        ups[0].record_answer(Duration::from_micros(100));
        ups[1].record_answer(Duration::from_micros(1000));
        ups[0].record_answer(Duration::from_micros(500));
        assert_eq!(ups[0].srtt_us(), Some(200));
        let now = Instant::now();
        let mut turns = 0;
        while ports(&order(&ups, now))[0] == 0 {
            turns += 1;
            assert!(turns < 200, "the slower upstream is never retried");
        }
        assert!(turns > 10, "{turns}");
    }

    #[test]
    fn replies_must_match_id_and_question() {
        let question = Question {
            qname: wire("www.example."),
            qtype: RType::A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            checking_disabled: false,
        };
        let mut reply = upstream_query(77, &wire("WWW.example."), RType::A, CLASS_IN, false, false);
        reply[2] |= 0x80;
        assert!(matches(&reply, 77, &question), "case does not matter");
        assert!(!matches(&reply, 78, &question), "wrong ID");
        let mut query = reply.clone();
        query[2] &= 0x7F;
        assert!(!matches(&query, 77, &question), "not a response");
        let mut other = upstream_query(
            77,
            &wire("www.example.net."),
            RType::A,
            CLASS_IN,
            false,
            false,
        );
        other[2] |= 0x80;
        assert!(!matches(&other, 77, &question), "wrong name");
        let mut aaaa = upstream_query(
            77,
            &wire("www.example."),
            RType::AAAA,
            CLASS_IN,
            false,
            false,
        );
        aaaa[2] |= 0x80;
        assert!(!matches(&aaaa, 77, &question), "wrong type");
        assert!(!matches(&reply[..20], 77, &question), "truncated");
    }

    #[tokio::test]
    async fn spoofed_replies_are_dropped_until_the_real_one() {
        // A fake upstream answering first from another port, then with a wrong
        // ID, then for another name, then correctly.
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, client) = server.recv_from(&mut buf).unwrap();
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            other.send_to(&reply, client).unwrap();
            let mut wrong_id = reply.clone();
            wrong_id[0] ^= 0xFF;
            server.send_to(&wrong_id, client).unwrap();
            let mut wrong_name = reply.clone();
            wrong_name[13] = b'x';
            server.send_to(&wrong_name, client).unwrap();
            server.send_to(&reply, client).unwrap();
            client
        });
        let upstream = Upstream::new(addr);
        let question = Question {
            qname: wire("www.example."),
            qtype: RType::A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            checking_disabled: false,
        };
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        let (response, _) = exchange(&upstream, &question, until).await.unwrap();
        assert_eq!(response.qname, wire("www.example."));
        let client = thread.join().unwrap();
        assert_ne!(client.port(), 0);
        // The kernel drops the wrong port on the connected socket; we drop the rest.
        assert_eq!(upstream.counters.spoofs.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_query_gets_a_new_port_and_id() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let addr = server.local_addr().unwrap();
        let upstream = Arc::new(Upstream::new(addr));
        let question = Question {
            qname: wire("a.example."),
            qtype: RType::A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            checking_disabled: false,
        };
        let mut seen = Vec::new();
        for _ in 0..8 {
            let until = tokio::time::Instant::now() + Duration::from_millis(30);
            let up = Arc::clone(&upstream);
            let q = question.clone();
            let task = tokio::spawn(async move { exchange(&up, &q, until).await });
            let mut buf = [0u8; 512];
            let (_, from) = server.recv_from(&mut buf).unwrap();
            seen.push((from.port(), u16::from_be_bytes([buf[0], buf[1]])));
            assert!(matches!(task.await.unwrap(), Err(AttemptError::Timeout)));
        }
        let ports: std::collections::HashSet<_> = seen.iter().map(|s| s.0).collect();
        let ids: std::collections::HashSet<_> = seen.iter().map(|s| s.1).collect();
        assert!(ports.len() >= 7 && ids.len() >= 7, "{seen:?}");
    }
}
