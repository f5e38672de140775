//! DNS over TCP (RFC 7766), on tokio.
//!
//! Clients come here when a UDP answer was truncated (TC=1), and some resolvers use
//! TCP by default. Each message travels behind a two-byte big-endian length. A
//! connection carries any number of queries; a client may pipeline them (send the
//! next before the previous answer arrives), and they are answered in the order
//! they came.
//!
//! One task per connection reads a frame, asks the same sans-IO [`Engine`] the UDP
//! workers use (with [`Transport::Tcp`], so answers may grow to 64 KiB), writes the
//! answer and reads the next. Answers go through a write buffer that is flushed
//! only when no complete query is already waiting, so a burst of pipelined queries
//! costs one write for many answers.
//!
//! What keeps a connection from holding resources it does not use:
//!
//! - **Idle timeout**: a connection gets `idle_timeout` from its last query's
//!   arrival (or from being accepted) to deliver a whole next query, and is
//!   closed when that time is up *whatever it is doing*: waiting, dribbling a
//!   query, or waiting on the forwarder for queries it pipelined earlier. Only a
//!   query read from the network restarts the clock; one already buffered does
//!   not, so pipelined slow queries cannot keep a connection past the timeout.
//! - **Connection caps**: connections are admitted by a shared
//!   [`ConnectionGate`] (`max_connections` over every listen address, at most
//!   `max_connections_per_source` from one source); a refused one is closed as
//!   soon as it is accepted.
//! - **Write timeout**: a client that does not read its answers (its window stays
//!   full) is closed once one answer has waited `write_timeout` to be written.
//! - **Bad frames**: a zero-length frame, one longer than [`MAX_QUERY_LEN`], or a
//!   message the engine drops (a response, or no readable header) closes the
//!   connection; answers already produced are flushed first.
//!
//! Queries for names outside every local zone go to the [`Forwarder`] when one
//! is given (and are answered REFUSED otherwise); its answer is written in the
//! query's turn, so pipelined answers stay in order.
//!
//! The table version is looked up per query ([`Table::current`]): a TCP query is
//! rare and slow next to a UDP one, and one atomic increment is nothing beside a
//! TCP round trip.
//!
//! What the listener reports ([`TcpWatch`]): the answers it gives, by RCODE and
//! question type; how long each local answer took; and every query to the
//! control plane's query observer (the query log, the counts of the names
//! asked), whose lock is taken for one query at a time and never across an
//! await.
//!
//! Zone-transfer queries (AXFR, IXFR) never reach the engine: they go to
//! [`Transfers`] (`transfer/`), which streams the zone's messages in the query's
//! turn, and the connection then carries on with the next query.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrodns_dataplane::answer_counts::SharedAnswerCounts;
use ferrodns_dataplane::engine::{self, Engine, QueryContext, Transport, Verdict};
use ferrodns_dataplane::observe::Exchange;
use ferrodns_dataplane::table::{Table, TableVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, warn};

use crate::budget::{Admission, ConnectionGate, Timeout};
use crate::forward::Forwarder;
use crate::query_stats::{self, SharedObserver};
use crate::telemetry::{AnswerLatency, LatencyPath};
use crate::transfer::{TransferQuery, Transfers};

/// Largest query accepted. A query is a header, one question (a name is at most
/// 255 bytes) and an OPT record with a few options: anything longer is not a query
/// this server answers, and reading it would only cost memory.
pub const MAX_QUERY_LEN: usize = 4096;
/// Largest DNS message over TCP: the room the engine gets for an answer.
const MAX_MESSAGE_LEN: usize = 65535;
const READ_BUFFER: usize = 4096;
const WRITE_BUFFER: usize = 16 * 1024;
/// Pause after a failed `accept` (out of descriptors, memory...) before trying
/// again, so the listener neither spins nor dies.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Limits of the TCP listeners.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Time a connection may take to deliver its next whole query, counted from
    /// the arrival of the one before.
    pub idle_timeout: Duration,
    /// Admits connections (caps in all and per source), shared by every
    /// listener, and counts refusals and timeouts.
    pub connections: Arc<ConnectionGate>,
    /// Time one answer may take to be written before the connection is closed.
    pub write_timeout: Duration,
}

impl Default for TcpConfig {
    /// 10 s idle (RFC 7766 §6.2.3 suggests seconds, not minutes), 1024
    /// connections of which 64 per source, 5 s to write an answer.
    fn default() -> Self {
        TcpConfig {
            idle_timeout: Duration::from_secs(10),
            connections: ConnectionGate::new("tcp", 1024, 64),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// What the TCP listener reports to.
#[derive(Debug, Clone, Default)]
pub struct TcpWatch {
    /// The answers given here (not the forwarder's), by RCODE and question type.
    pub answers: Arc<SharedAnswerCounts>,
    /// How long local answers take.
    pub latency: AnswerLatency,
    /// The control plane's query observer; None: nothing watched.
    pub observer: Option<SharedObserver>,
}

/// Answers DNS over TCP on `listener` until `shutdown` becomes `true` (or its
/// sender is dropped), then closes every connection and returns.
///
/// Errors of `accept` are logged and retried after a short pause: running out of
/// descriptors for a moment must not stop the listener.
// Each argument is a separate shared part of the server; bundling them would
// only move the list.
#[allow(clippy::too_many_arguments)]
pub async fn serve_tcp(
    listener: TcpListener,
    engine: Arc<Engine>,
    table: Table,
    config: TcpConfig,
    forwarder: Option<Forwarder>,
    watch: TcpWatch,
    transfers: Option<Arc<Transfers>>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    let config = Arc::new(config);
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let admission = match config.connections.admit(peer.ip()) {
                        Ok(admission) => admission,
                        Err(refusal) => {
                            debug!(%peer, "TCP connection refused: {refusal}");
                            drop(stream);
                            continue;
                        }
                    };
                    let connection = Connection {
                        engine: Arc::clone(&engine),
                        table: table.clone(),
                        config: Arc::clone(&config),
                        forwarder: forwarder.clone(),
                        watch: watch.clone(),
                        transfers: transfers.clone(),
                        peer,
                        _admission: admission,
                    };
                    connections.spawn(connection.serve(stream));
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    warn!("TCP accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Dropping each task closes its socket.
    connections.shutdown().await;
    Ok(())
}

/// `accept` errors that concern only the connection being accepted.
pub(crate) fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// One client connection and what it needs.
struct Connection {
    engine: Arc<Engine>,
    table: Table,
    config: Arc<TcpConfig>,
    forwarder: Option<Forwarder>,
    watch: TcpWatch,
    /// Who answers zone-transfer queries; none: the engine (NOTIMP).
    transfers: Option<Arc<Transfers>>,
    peer: SocketAddr,
    /// Held for the connection's life: its places in the connection caps.
    _admission: Admission,
}

/// Why a connection ended, for the log.
#[derive(Debug)]
enum Close {
    /// The client closed (EOF) or reset.
    Client,
    Idle,
    BadFrame(usize),
    Dropped,
    WriteTimeout,
    Io(io::Error),
    Transfer(String),
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::Client => f.write_str("closed by the client"),
            Close::Idle => f.write_str("idle timeout"),
            Close::BadFrame(len) => write!(f, "bad frame length {len}"),
            Close::Dropped => f.write_str("message not answerable"),
            Close::WriteTimeout => f.write_str("write timeout"),
            Close::Io(e) => write!(f, "{e}"),
            Close::Transfer(e) => write!(f, "zone transfer: {e}"),
        }
    }
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        // Answers are written whole; Nagle would only delay the second of two.
        if let Err(e) = stream.set_nodelay(true) {
            debug!(peer = %self.peer, "cannot set TCP_NODELAY: {e}");
        }
        let (read, write) = stream.into_split();
        let mut reader = BufReader::with_capacity(READ_BUFFER, read);
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, write);
        let close = self.answer_all(&mut reader, &mut writer).await;
        match close {
            Close::Idle => self.config.connections.count_timeout(Timeout::Idle),
            Close::WriteTimeout => self.config.connections.count_timeout(Timeout::Write),
            _ => {}
        }
        if !matches!(
            close,
            Close::WriteTimeout | Close::Io(_) | Close::Transfer(_)
        ) {
            // Answers to queries before a bad frame still reach the client.
            let _ = timeout(self.config.write_timeout, async {
                writer.flush().await?;
                writer.shutdown().await
            })
            .await;
        }
        debug!(peer = %self.peer, "TCP connection closed: {close}");
    }

    async fn answer_all(
        &self,
        reader: &mut BufReader<OwnedReadHalf>,
        writer: &mut BufWriter<OwnedWriteHalf>,
    ) -> Close {
        // The frame is read after a 2-byte gap, so the answer's length prefix can
        // be written in front of it and the frame sent in one piece.
        let mut buf = vec![0u8; 2 + MAX_MESSAGE_LEN];
        let mut rng = fastrand::Rng::new();
        // Everything the connection does runs under this deadline; only a query
        // that came from the network moves it.
        let mut idle_deadline = Instant::now() + self.config.idle_timeout;
        loop {
            let from_network = !holds_whole_frame(reader.buffer());
            let len = match timeout_at(idle_deadline, read_frame(reader, &mut buf)).await {
                Err(_) => return Close::Idle,
                Ok(Ok(len)) => len,
                Ok(Err(close)) => return close,
            };
            if from_network {
                idle_deadline = Instant::now() + self.config.idle_timeout;
            }
            let Some((prefix, message)) = buf.split_first_chunk_mut::<2>() else {
                return Close::BadFrame(len);
            };
            if let Some(transfers) = &self.transfers
                && let Some(query) = message.get(..len).and_then(TransferQuery::parse)
            {
                let write_timeout = self.config.write_timeout;
                match transfers
                    .serve(&query, self.peer.ip(), writer, write_timeout)
                    .await
                {
                    Ok(()) => continue,
                    Err(error) => return Close::Transfer(error.to_string()),
                }
            }
            let started = Instant::now();
            let ctx = QueryContext {
                client: self.peer.ip(),
                transport: Transport::Tcp,
                entropy: rng.u32(..),
            };
            let version = self.table.current();
            let (verdict, sampled) = self.respond(&version, message, len, &ctx);
            let (verdict, forwarded) = match verdict {
                Verdict::Punt => {
                    match timeout_at(idle_deadline, self.forward(message, len)).await {
                        Ok(verdict) => (verdict, self.forwarder.is_some()),
                        Err(_) => return Close::Idle,
                    }
                }
                verdict => (verdict, false),
            };
            let answer_len = match verdict.answer_len() {
                Some(n) if n <= message.len() => n,
                _ => return Close::Dropped,
            };
            if let Some(answer) = message.get(..answer_len) {
                if !forwarded {
                    self.watch.answers.record(answer);
                    self.watch
                        .latency
                        .observe(LatencyPath::Tcp, started.elapsed());
                }
                if sampled && let Some(observer) = &self.watch.observer {
                    query_stats::lock(observer).log_response(self.peer, Transport::Tcp, answer);
                }
            }
            let Ok(wire_len) = u16::try_from(answer_len) else {
                return Close::Dropped;
            };
            *prefix = wire_len.to_be_bytes();
            let Some(frame) = buf.get(..2 + answer_len) else {
                return Close::Dropped;
            };
            let flush = !holds_whole_frame(reader.buffer());
            let write_deadline = Instant::now() + self.config.write_timeout;
            let written = timeout_at(write_deadline.min(idle_deadline), async {
                writer.write_all(frame).await?;
                if flush {
                    writer.flush().await?;
                }
                Ok::<(), io::Error>(())
            })
            .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Close::Io(e),
                Err(_) if write_deadline <= idle_deadline => return Close::WriteTimeout,
                Err(_) => return Close::Idle,
            }
        }
    }
}

/// Reads one length-prefixed query into `buf[2..]` and returns its length.
async fn read_frame(reader: &mut BufReader<OwnedReadHalf>, buf: &mut [u8]) -> Result<usize, Close> {
    let mut prefix = [0u8; 2];
    reader.read_exact(&mut prefix).await.map_err(client_gone)?;
    let len = usize::from(u16::from_be_bytes(prefix));
    if len == 0 || len > MAX_QUERY_LEN {
        return Err(Close::BadFrame(len));
    }
    let body = buf.get_mut(2..2 + len).ok_or(Close::BadFrame(len))?;
    reader.read_exact(body).await.map_err(client_gone)?;
    Ok(len)
}

impl Connection {
    /// The engine's verdict on the query in `message[..len]`, told to the
    /// query observer; and whether the query log takes the exchange, so that
    /// the answer to a punted query is logged once the forwarder gives it.
    fn respond(
        &self,
        version: &TableVersion,
        message: &mut [u8],
        len: usize,
        ctx: &QueryContext,
    ) -> (Verdict, bool) {
        let Some(observer) = &self.watch.observer else {
            return (self.engine.respond(version, message, len, ctx), false);
        };
        let mut observer = query_stats::lock(observer);
        // The time of this query, for the log and the names' last second.
        observer.batch();
        let sampled = observer.before(message.get(..len).unwrap_or_default());
        let verdict = self.engine.respond(version, message, len, ctx);
        observer.after(sampled, || {
            Exchange::of_verdict(self.peer, Transport::Tcp, message, len, verdict)
        });
        // A local answer was logged whole; only a punted query's answer is left.
        (verdict, sampled.is_logged() && verdict == Verdict::Punt)
    }

    /// A punted query: the forwarder's answer written over the query, or REFUSED
    /// without a forwarder (and when the client is over its rate limit: TCP
    /// answers cannot be spoofed, so answering costs nothing but the write).
    async fn forward(&self, message: &mut [u8], len: usize) -> Verdict {
        let Some(forwarder) = &self.forwarder else {
            return engine::refuse(message, len);
        };
        let query = message.get(..len).unwrap_or_default();
        let answer = forwarder
            .answer(query, self.peer.ip(), Transport::Tcp)
            .await;
        match answer {
            Some(answer) => match message.get_mut(..answer.len()) {
                Some(slot) => {
                    slot.copy_from_slice(&answer);
                    Verdict::Reply(answer.len())
                }
                None => Verdict::Drop,
            },
            None => engine::refuse(message, len),
        }
    }
}

fn client_gone(e: io::Error) -> Close {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => Close::Client,
        _ => Close::Io(e),
    }
}

/// Whether `buffered` already holds a whole next frame, which will be answered
/// without waiting for the network (so the answer before it need not be flushed
/// yet).
fn holds_whole_frame(buffered: &[u8]) -> bool {
    match buffered {
        [hi, lo, rest @ ..] => rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::Ipv6Addr;
    use std::time::Instant;

    use ferrodns_dataplane::engine::EngineConfig;
    use ferrodns_dataplane::record::{RData, RType, Record};
    use ferrodns_dataplane::table::{ZoneInput, compile};
    use ferrodns_dataplane::testkit::{a, aaaa, name, query};
    use tokio::net::TcpSocket;
    use tokio::task::JoinHandle;

    use super::*;

    const A: u16 = 1;
    const TXT: u16 = 16;
    const AAAA: u16 = 28;
    const NOERROR: u8 = 0;
    const NXDOMAIN: u8 = 3;
    const REFUSED: u8 = 5;
    /// TXT records at `big.example.`, each of five 250-byte strings.
    const BIG_RECORDS: usize = 40;

    /// `example.`: an A, an AAAA and a TXT RRset of about 50 KB, far over any UDP
    /// answer.
    fn table() -> Table {
        let mut records = vec![
            a("web.example.", 30, [10, 0, 0, 1]),
            aaaa("v6.example.", 30, Ipv6Addr::LOCALHOST),
        ];
        for i in 0..BIG_RECORDS {
            // Distinct records: the compiler drops duplicates.
            let strings = (0..5u8)
                .map(|j| {
                    let mut text = format!("{i:03}").into_bytes();
                    text.resize(250, b'a' + j);
                    text
                })
                .collect();
            records.push(Record::new(name("big.example."), 30, RData::Txt(strings)));
        }
        let table = Table::new();
        let zone = ZoneInput::new(name("example."), records);
        table.publish(compile(&[zone], &HashSet::new(), table.seed()).unwrap());
        table
    }

    /// A query (RD set, one question, class IN), length-prefixed for TCP.
    fn frame(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
        query(qname, RType(qtype)).id(id).tcp()
    }

    struct Server {
        addr: SocketAddr,
        answers: Arc<SharedAnswerCounts>,
        shutdown: watch::Sender<bool>,
        task: JoinHandle<io::Result<()>>,
    }

    async fn start(config: TcpConfig) -> Server {
        start_forwarding(config, None).await
    }

    /// [`start`] with a forwarder for names outside `example.`.
    async fn start_forwarding(config: TcpConfig, forwarder: Option<Forwarder>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, rx) = watch::channel(false);
        let engine = Arc::new(Engine::new(EngineConfig::default()));
        let answers = Arc::new(SharedAnswerCounts::default());
        let watch = TcpWatch {
            answers: Arc::clone(&answers),
            ..TcpWatch::default()
        };
        let task = tokio::spawn(serve_tcp(
            listener,
            engine,
            table(),
            config,
            forwarder,
            watch,
            None,
            rx,
        ));
        Server {
            addr,
            answers,
            shutdown,
            task,
        }
    }

    fn quick() -> TcpConfig {
        TcpConfig {
            idle_timeout: Duration::from_secs(5),
            connections: ConnectionGate::new("tcp", 16, 16),
            write_timeout: Duration::from_secs(5),
        }
    }

    /// Reads one answer: (id, rcode, ancount, whole message).
    async fn answer(stream: &mut TcpStream) -> (u16, u8, u16, Vec<u8>) {
        let read = async {
            let len = stream.read_u16().await.unwrap();
            let mut message = vec![0u8; usize::from(len)];
            stream.read_exact(&mut message).await.unwrap();
            message
        };
        let message = timeout(Duration::from_secs(5), read).await.unwrap();
        assert!(message[2] & 0x80 != 0, "QR must be set");
        (
            u16::from_be_bytes([message[0], message[1]]),
            message[3] & 0x0F,
            u16::from_be_bytes([message[6], message[7]]),
            message,
        )
    }

    /// Whether the server closed the connection within `limit` (EOF or reset).
    async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    #[tokio::test]
    async fn pipelined_queries_are_answered_in_order() {
        let server = start(quick()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let asks = [
            ("web.example.", A, NOERROR, 1),
            ("v6.example.", AAAA, NOERROR, 1),
            ("elsewhere.test.", A, REFUSED, 0),
            ("missing.example.", A, NXDOMAIN, 0),
        ];
        let mut burst = Vec::new();
        for id in 0..12u16 {
            let (qname, qtype, _, _) = asks[usize::from(id) % asks.len()];
            burst.extend_from_slice(&frame(id, qname, qtype));
        }
        stream.write_all(&burst).await.unwrap();
        for id in 0..12u16 {
            let (_, _, rcode, count) = asks[usize::from(id) % asks.len()];
            let (got_id, got_rcode, ancount, message) = answer(&mut stream).await;
            assert_eq!((got_id, got_rcode, ancount), (id, rcode, count));
            if id % 4 == 0 {
                assert_eq!(message[message.len() - 4..], [10, 0, 0, 1]);
            }
        }
        // The connection stays open for more.
        stream
            .write_all(&frame(99, "web.example.", A))
            .await
            .unwrap();
        assert_eq!(answer(&mut stream).await.0, 99);
        // Every answer was counted by rcode and question type.
        let counted: Vec<_> = server.answers.snapshot().nonzero().collect();
        assert_eq!(
            counted,
            [
                ("NOERROR", "A", 4),
                ("NOERROR", "AAAA", 3),
                ("NXDOMAIN", "A", 3),
                ("REFUSED", "A", 3)
            ]
        );
        server.shutdown.send(true).unwrap();
        server.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn answers_are_not_truncated_to_udp_sizes() {
        let server = start(quick()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(&frame(5, "big.example.", TXT))
            .await
            .unwrap();
        let (id, rcode, ancount, message) = answer(&mut stream).await;
        assert_eq!((id, rcode, ancount), (5, NOERROR, BIG_RECORDS as u16));
        assert_eq!(message[2] & 0x02, 0, "TC must be clear over TCP");
        assert!(message.len() > 50_000, "{}", message.len());
        let _ = server.shutdown.send(true);
    }

    #[tokio::test]
    async fn idle_and_dribbling_connections_are_closed() {
        let config = TcpConfig {
            idle_timeout: Duration::from_millis(300),
            ..quick()
        };
        let server = start(config).await;

        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        idle.write_all(&frame(1, "web.example.", A)).await.unwrap();
        assert_eq!(answer(&mut idle).await.0, 1);
        let started = Instant::now();
        assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
        assert!(started.elapsed() >= Duration::from_millis(250));

        // Half a query, then nothing: the timeout covers the whole frame.
        let mut dribble = TcpStream::connect(server.addr).await.unwrap();
        let query = frame(2, "web.example.", A);
        dribble.write_all(&query[..5]).await.unwrap();
        assert!(closed_within(&mut dribble, Duration::from_secs(3)).await);
        let _ = server.shutdown.send(true);
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed_at_once() {
        let config = TcpConfig {
            connections: ConnectionGate::new("tcp", 2, 2),
            ..quick()
        };
        let server = start(config).await;
        let mut held = Vec::new();
        for id in 0..2 {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            stream
                .write_all(&frame(id, "web.example.", A))
                .await
                .unwrap();
            assert_eq!(answer(&mut stream).await.0, id);
            held.push(stream);
        }
        let mut extra = TcpStream::connect(server.addr).await.unwrap();
        assert!(closed_within(&mut extra, Duration::from_secs(1)).await);

        // Closing one frees its place.
        drop(held.pop());
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            let _ = stream.write_all(&frame(7, "web.example.", A)).await;
            let read = timeout(Duration::from_millis(500), stream.read_u16()).await;
            if matches!(read, Ok(Ok(_))) {
                break;
            }
            assert!(Instant::now() < deadline, "the freed place was not reused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = server.shutdown.send(true);
    }

    /// A connection to `server` from the loopback address `source`.
    async fn connect_from(source: &str, server: SocketAddr) -> io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.parse().unwrap(), 0))?;
        socket.connect(server).await
    }

    #[tokio::test]
    async fn one_source_cannot_take_every_place() {
        let connections = ConnectionGate::new("tcp", 8, 3);
        let config = TcpConfig {
            connections: Arc::clone(&connections),
            ..quick()
        };
        let server = start(config).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(connect_from("127.0.0.1", server.addr).await.unwrap());
        }
        // Wait until the server has admitted all three.
        let deadline = Instant::now() + Duration::from_secs(3);
        while connections.figures().open < 3 {
            assert!(Instant::now() < deadline, "{:?}", connections.figures());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut fourth = connect_from("127.0.0.1", server.addr).await.unwrap();
        assert!(closed_within(&mut fourth, Duration::from_secs(1)).await);

        let mut other = connect_from("127.0.0.2", server.addr).await.unwrap();
        other.write_all(&frame(7, "web.example.", A)).await.unwrap();
        assert_eq!(answer(&mut other).await.0, 7);
        let figures = connections.figures();
        assert_eq!((figures.refused_per_source, figures.refused_limit), (1, 0));
        let _ = server.shutdown.send(true);
    }

    #[tokio::test]
    async fn pipelined_queries_in_flight_do_not_outlive_the_idle_timeout() {
        // An upstream that never answers: each forwarded query takes the
        // forwarder's whole deadline.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let settings = crate::config::ForwardSettings {
            nameservers: vec![silent.local_addr().unwrap()],
            timeout: Duration::from_millis(400),
            deadline: Duration::from_millis(400),
            ..crate::config::ForwardSettings::default()
        };
        let forwarder = Forwarder::new(&settings, Table::new());
        let connections = ConnectionGate::new("tcp", 16, 16);
        let config = TcpConfig {
            idle_timeout: Duration::from_millis(500),
            connections: Arc::clone(&connections),
            ..quick()
        };
        let server = start_forwarding(config, forwarder).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let mut burst = Vec::new();
        for id in 0..10u16 {
            burst.extend_from_slice(&frame(id, &format!("q{id}.elsewhere.test."), A));
        }
        let started = Instant::now();
        stream.write_all(&burst).await.unwrap();
        // Ten queries of 400 ms each would keep it 4 s; the idle timeout is 0.5 s.
        assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        let timed_out = connections.figures().timed_out;
        assert_eq!(timed_out[0], (Timeout::Idle, 1));
        let _ = server.shutdown.send(true);
    }

    #[tokio::test]
    async fn bad_frames_close_the_connection_after_earlier_answers() {
        let server = start(quick()).await;
        let over_long = u16::try_from(MAX_QUERY_LEN + 1).unwrap().to_be_bytes();
        let mut response = frame(3, "web.example.", A);
        response[4] |= 0x80; // QR=1 (the frame starts with 2 length bytes)
        let runt = [0u8, 4, 0, 1, 2, 3];
        for bad in [vec![0, 0], over_long.to_vec(), response, runt.to_vec()] {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            let mut bytes = frame(1, "web.example.", A);
            bytes.extend_from_slice(&bad);
            stream.write_all(&bytes).await.unwrap();
            assert_eq!(answer(&mut stream).await.0, 1, "answer before {bad:?}");
            assert!(
                closed_within(&mut stream, Duration::from_secs(2)).await,
                "{bad:?} must close"
            );
        }
        let _ = server.shutdown.send(true);
    }

    #[tokio::test]
    async fn clients_that_do_not_read_are_closed() {
        let config = TcpConfig {
            write_timeout: Duration::from_millis(200),
            ..quick()
        };
        let server = start(config).await;
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(server.addr).await.unwrap();
        // 400 answers of ~50 KB: far more than the socket buffers hold.
        let queries = 400;
        let mut burst = Vec::new();
        for id in 0..queries {
            burst.extend_from_slice(&frame(id, "big.example.", TXT));
        }
        stream.write_all(&burst).await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;

        let mut received = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let ended = timeout(Duration::from_secs(10), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received += n,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the server kept the connection open");
        assert!(
            received < usize::from(queries) * 50_000,
            "all {received} bytes were sent"
        );
        let _ = server.shutdown.send(true);
    }

    #[tokio::test]
    async fn shutdown_closes_connections_and_returns() {
        let server = start(quick()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(&frame(1, "web.example.", A))
            .await
            .unwrap();
        assert_eq!(answer(&mut stream).await.0, 1);

        let started = Instant::now();
        server.shutdown.send(true).unwrap();
        timeout(Duration::from_secs(1), server.task)
            .await
            .expect("serve_tcp must return promptly")
            .unwrap()
            .unwrap();
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(closed_within(&mut stream, Duration::from_secs(1)).await);
        assert!(
            TcpStream::connect(server.addr).await.is_err(),
            "listener closed"
        );
    }

    #[test]
    fn whole_frames_are_recognised_in_the_read_buffer() {
        assert!(!holds_whole_frame(&[]));
        assert!(!holds_whole_frame(&[0]));
        assert!(holds_whole_frame(&[0, 0]));
        assert!(!holds_whole_frame(&[0, 3, 1, 2]));
        assert!(holds_whole_frame(&[0, 3, 1, 2, 3]));
        assert!(holds_whole_frame(&[0, 1, 9, 0]));
    }
}
