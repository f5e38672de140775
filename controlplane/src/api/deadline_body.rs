//! A request body with a deadline: the whole body must arrive within
//! `api.body_timeout_ms` of the request's head.
//!
//! Past the deadline the body ends in an error, so the handler reading it gives
//! up (axum's extractors turn the error into a rejection), and
//! [`answer_late_bodies`] answers `408 Request Timeout` instead, closing the
//! connection. A body nobody reads costs nothing: the timer is only polled
//! while the body is.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep, sleep_until};

use super::error::ApiError;

/// The error a late body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub(crate) struct BodyTimedOut;

/// One request's body deadline, also kept in the request's extensions so that
/// [`answer_late_bodies`] and the connection can tell it passed.
#[derive(Debug, Clone)]
pub(crate) struct BodyDeadline {
    at: Instant,
    timeout: Duration,
    expired: Arc<AtomicBool>,
}

impl BodyDeadline {
    /// `timeout` from now: the request's head has just been read.
    pub(crate) fn starting_now(timeout: Duration) -> BodyDeadline {
        BodyDeadline {
            at: Instant::now() + timeout,
            timeout,
            expired: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the body was still being read when the deadline passed.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

/// `inner`, ended by an error once `deadline` passes.
#[derive(Debug)]
pub(crate) struct DeadlineBody<B> {
    inner: B,
    timer: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl<B> DeadlineBody<B> {
    pub(crate) fn new(inner: B, deadline: &BodyDeadline) -> DeadlineBody<B> {
        DeadlineBody {
            inner,
            timer: Box::pin(sleep_until(deadline.at)),
            expired: Arc::clone(&deadline.expired),
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|result| result.map_err(Into::into))),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(BodyTimedOut.into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: a request whose body came too late is answered `408`, closing
/// the connection, whatever the handler made of the error.
pub(crate) async fn answer_late_bodies(request: Request, next: Next) -> Response {
    let deadline = request.extensions().get::<BodyDeadline>().cloned();
    let response = next.run(request).await;
    match deadline {
        Some(deadline) if deadline.expired() => {
            let message = format!(
                "the request body did not arrive within {} ms",
                deadline.timeout.as_millis()
            );
            ApiError::status(StatusCode::REQUEST_TIMEOUT, message).closing()
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body as AxumBody, to_bytes};

    use super::*;

    /// A body that sends `{}` and then nothing, ever.
    struct Stalled {
        sent: bool,
    }

    impl Body for Stalled {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            if self.sent {
                return Poll::Pending;
            }
            self.sent = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{}")))))
        }
    }

    #[tokio::test]
    async fn a_body_in_time_is_read_whole() {
        let deadline = BodyDeadline::starting_now(Duration::from_secs(5));
        let body = DeadlineBody::new(AxumBody::from("hello"), &deadline);
        let bytes = to_bytes(AxumBody::new(body), 1024).await.expect("in time");
        assert_eq!(bytes, "hello");
        assert!(!deadline.expired());
    }

    #[tokio::test]
    async fn a_body_that_stalls_ends_in_an_error_at_the_deadline() {
        let started = Instant::now();
        let deadline = BodyDeadline::starting_now(Duration::from_millis(100));
        let body = DeadlineBody::new(Stalled { sent: false }, &deadline);
        let read =
            tokio::time::timeout(Duration::from_secs(5), to_bytes(AxumBody::new(body), 1024))
                .await
                .expect("the deadline ends the body");
        assert!(read.is_err());
        assert!(deadline.expired());
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
