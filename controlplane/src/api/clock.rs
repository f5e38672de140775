//! The clock of one API connection: which timeout applies to it now, and since
//! when.
//!
//! A connection is always in one phase:
//!
//! - **waiting** for the first byte of a request (after being accepted, or after
//!   its previous answer): closed after `idle_timeout`;
//! - **reading a head**, from that first byte until hyper has the whole head:
//!   closed `header_timeout` after the first byte (slowloris);
//! - **busy** with a request, from its head to the end of its answer: the body
//!   has its own deadline (`body_timeout`, see `deadline_body`), the handler none
//!   beyond its writer's.
//!
//! In every phase, a write that the client leaves blocked (it does not read its
//! answer) for `idle_timeout` closes the connection.
//!
//! The clock only records; [`ClockedIo`] tells it when bytes arrive and when
//! writes block, the service when a request starts and its answer ends, and the
//! connection's watchdog asks it for the next [`deadline`](Clock::deadline).
//! Each change of phase wakes the watchdog ([`changed`](Clock::changed)).

use std::io;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::budget::Timeout;

/// The API's connection timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) idle: Duration,
    pub(crate) header: Duration,
    pub(crate) body: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    ReadingHead,
    Busy,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// When the phase began.
    since: Instant,
    /// When the write in progress first found the socket full.
    write_blocked_since: Option<Instant>,
}

/// One connection's phase and the deadline it implies.
#[derive(Debug)]
pub(crate) struct Clock {
    timeouts: Timeouts,
    state: Mutex<State>,
    changed: Notify,
}

impl Clock {
    /// A clock for a connection accepted at `now`: waiting for its first request.
    pub(crate) fn new(timeouts: Timeouts, now: Instant) -> Clock {
        Clock {
            timeouts,
            state: Mutex::new(State {
                phase: Phase::Waiting,
                since: now,
                write_blocked_since: None,
            }),
            changed: Notify::new(),
        }
    }

    /// Bytes arrived: the first of a request starts its head's clock.
    pub(crate) fn bytes_read(&self, now: Instant) {
        self.update(|state| {
            if state.phase == Phase::Waiting {
                state.phase = Phase::ReadingHead;
                state.since = now;
                return true;
            }
            false
        });
    }

    /// hyper has a request's whole head.
    pub(crate) fn request_started(&self, now: Instant) {
        self.enter(Phase::Busy, now);
    }

    /// The answer to the request has been written (or abandoned).
    pub(crate) fn answered(&self, now: Instant) {
        self.enter(Phase::Waiting, now);
    }

    /// A write found the socket full (`blocked`), or went through.
    pub(crate) fn write_blocked(&self, blocked: bool, now: Instant) {
        self.update(|state| match (blocked, state.write_blocked_since) {
            (true, None) => {
                state.write_blocked_since = Some(now);
                true
            }
            (false, Some(_)) => {
                state.write_blocked_since = None;
                true
            }
            _ => false,
        });
    }

    /// When the connection must be closed if nothing changes, and why; `None`
    /// while a request is handled and its answer written freely.
    pub(crate) fn deadline(&self) -> Option<(Instant, Timeout)> {
        let state = self.lock();
        let phase = match state.phase {
            Phase::Waiting => Some((state.since + self.timeouts.idle, Timeout::Idle)),
            Phase::ReadingHead => Some((state.since + self.timeouts.header, Timeout::Header)),
            Phase::Busy => None,
        };
        let write = state
            .write_blocked_since
            .map(|since| (since + self.timeouts.idle, Timeout::Write));
        match (phase, write) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Resolves after the phase (or the blocked write) changes.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    fn enter(&self, phase: Phase, now: Instant) {
        self.update(|state| {
            state.phase = phase;
            state.since = now;
            true
        });
    }

    /// Applies `change`; wakes the watchdog when it says the deadline moved.
    fn update(&self, change: impl FnOnce(&mut State) -> bool) {
        if change(&mut self.lock()) {
            self.changed.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's socket that tells its [`Clock`] when bytes arrive and when
/// writes block.
#[derive(Debug)]
pub(crate) struct ClockedIo<S> {
    inner: S,
    clock: std::sync::Arc<Clock>,
}

impl<S> ClockedIo<S> {
    pub(crate) fn new(inner: S, clock: std::sync::Arc<Clock>) -> ClockedIo<S> {
        ClockedIo { inner, clock }
    }

    fn note_write<T>(&self, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.clock
            .write_blocked(polled.is_pending(), Instant::now());
        polled
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClockedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.bytes_read(Instant::now());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClockedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note_write(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.note_write(polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        idle: Duration::from_secs(30),
        header: Duration::from_secs(10),
        body: Duration::from_secs(20),
    };

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn each_phase_has_its_timeout() {
        let start = Instant::now();
        let clock = Clock::new(TIMEOUTS, start);
        assert_eq!(clock.deadline(), Some((at(start, 30), Timeout::Idle)));

        // The first byte starts the head's clock; more bytes do not move it.
        clock.bytes_read(at(start, 5));
        clock.bytes_read(at(start, 9));
        assert_eq!(clock.deadline(), Some((at(start, 15), Timeout::Header)));

        // While a request is handled only a blocked write has a deadline.
        clock.request_started(at(start, 6));
        assert_eq!(clock.deadline(), None);
        clock.bytes_read(at(start, 7));
        assert_eq!(clock.deadline(), None);
        clock.write_blocked(true, at(start, 8));
        clock.write_blocked(true, at(start, 20));
        assert_eq!(clock.deadline(), Some((at(start, 38), Timeout::Write)));
        clock.write_blocked(false, at(start, 21));
        assert_eq!(clock.deadline(), None);

        // After the answer, the wait for the next request starts again.
        clock.answered(at(start, 40));
        assert_eq!(clock.deadline(), Some((at(start, 70), Timeout::Idle)));
    }

    #[tokio::test]
    async fn a_change_of_phase_wakes_the_watchdog() {
        let clock = Clock::new(TIMEOUTS, Instant::now());
        clock.bytes_read(Instant::now());
        tokio::time::timeout(Duration::from_secs(1), clock.changed())
            .await
            .expect("woken");
        // Nothing changed since: no wake-up.
        clock.bytes_read(Instant::now());
        let again = tokio::time::timeout(Duration::from_millis(50), clock.changed()).await;
        assert!(again.is_err());
    }
}
