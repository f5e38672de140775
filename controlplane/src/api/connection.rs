//! The API's connections, plain or HTTPS, from accept to close.
//!
//! Each accepted connection is first admitted by the API's [`ConnectionGate`]
//! (`api.max_connections` in all, `api.max_connections_per_source` from one
//! source); a refused one is closed before a byte is read. An admitted one gets
//! its own task: the TLS handshake when the API speaks HTTPS (bounded by
//! [`HANDSHAKE_TIMEOUT`]), then hyper's HTTP/1.1 with the router, watched by the
//! connection's [`Clock`]: idle, header and blocked-write timeouts close it,
//! each counted by the gate. A request body gets `api.body_timeout` from the end
//! of its head ([`DeadlineBody`]); a late one is answered `408` and the
//! connection closed (`deadline_body::answer_late_bodies`), and counted here.
//!
//! Shutdown stops accepting and asks every connection to finish gracefully:
//! hyper closes idle ones at once and the others after their answer.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body as AxumBody, Bytes};
use axum::http::Request;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::clock::{Clock, ClockedIo, Timeouts};
use super::deadline_body::{BodyDeadline, DeadlineBody};
use crate::budget::{Admission, ConnectionGate, Timeout};
use crate::tcp::{ACCEPT_BACKOFF, is_per_connection};

/// Time a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of the API shares.
pub(crate) struct Connections {
    pub(crate) router: Router,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) gate: Arc<ConnectionGate>,
    pub(crate) timeouts: Timeouts,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("tls", &self.tls.is_some())
            .field("gate", &self.gate)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Accepts connections until `shutdown` turns true, then waits for the open
    /// ones to finish.
    pub(crate) async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let mut open = JoinSet::new();
        // Each connection watches its own receiver; `shutdown` is borrowed below.
        let for_connections = shutdown.clone();
        loop {
            tokio::select! {
                () = stopped(&mut shutdown) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match self.gate.admit(peer.ip()) {
                        Ok(admission) => {
                            let connection = Arc::clone(&self);
                            let stop = for_connections.clone();
                            open.spawn(connection.serve_one(stream, peer, admission, stop));
                        }
                        Err(refusal) => debug!(%peer, "API connection refused: {refusal}"),
                    },
                    Err(e) if is_per_connection(&e) => {}
                    Err(e) => {
                        warn!("API accept failed: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                Some(_) = open.join_next(), if !open.is_empty() => {}
            }
        }
        drop(listener);
        while open.join_next().await.is_some() {}
        Ok(())
    }

    /// One admitted connection, until it closes; `_admission` holds its place.
    async fn serve_one(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        _admission: Admission,
        shutdown: watch::Receiver<bool>,
    ) {
        let clock = Arc::new(Clock::new(self.timeouts, Instant::now()));
        let io = ClockedIo::new(stream, Arc::clone(&clock));
        let Some(acceptor) = &self.tls else {
            return self.http(TokioIo::new(io), peer, clock, shutdown).await;
        };
        match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
            Ok(Ok(tls)) => self.http(TokioIo::new(tls), peer, clock, shutdown).await,
            Ok(Err(e)) => debug!(%peer, "API TLS handshake failed: {e}"),
            Err(_) => debug!(%peer, "API TLS handshake timed out"),
        }
    }

    /// HTTP/1.1 on `io` until the client or a timeout closes it.
    async fn http<I>(
        &self,
        io: I,
        peer: SocketAddr,
        clock: Arc<Clock>,
        mut shutdown: watch::Receiver<bool>,
    ) where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let service = {
            let (router, gate) = (self.router.clone(), Arc::clone(&self.gate));
            let (clock, body_timeout) = (Arc::clone(&clock), self.timeouts.body);
            service_fn(move |request: Request<Incoming>| {
                clock.request_started(Instant::now());
                let deadline = BodyDeadline::starting_now(body_timeout);
                let mut request = request.map(|body| DeadlineBody::new(body, &deadline));
                request.extensions_mut().insert(deadline.clone());
                let answer = TowerToHyperService::new(router.clone()).call(request);
                let (gate, clock) = (Arc::clone(&gate), Arc::clone(&clock));
                async move {
                    let Ok(response) = answer.await;
                    if deadline.expired() {
                        gate.count_timeout(Timeout::Body);
                    }
                    Ok::<_, Infallible>(response.map(|inner| AnsweredBody { inner, clock }))
                }
            })
        };
        let mut builder = http1::Builder::new();
        // The clock does hyper's header timeout, and more.
        builder.header_read_timeout(None);
        let mut connection = pin!(builder.serve_connection(io, service));
        let mut draining = false;
        loop {
            let deadline = clock.deadline();
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        debug!(%peer, "API connection ended: {e}");
                    }
                    return;
                }
                () = clock.changed() => {}
                () = sleep_until_some(deadline.map(|(at, _)| at)) => {
                    if let Some((at, timeout)) = clock.deadline()
                        && at <= Instant::now()
                    {
                        self.gate.count_timeout(timeout);
                        debug!(%peer, "API connection closed: {} timeout", timeout.as_str());
                        return;
                    }
                }
                () = stopped(&mut shutdown), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Sleeps until `at`, or forever.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An answer's body that tells the clock when the answer is over (written, or
/// abandoned): the connection then waits for its next request.
struct AnsweredBody {
    inner: AxumBody,
    clock: Arc<Clock>,
}

impl Body for AnsweredBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AnsweredBody {
    fn drop(&mut self) {
        self.clock.answered(Instant::now());
    }
}
