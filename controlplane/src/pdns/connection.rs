//! One connection to a remote backend's unix socket: a request out, its reply
//! line back, each bounded in time and size.
//!
//! A call writes one request line and reads one reply line within the
//! connection string's `timeout` (the whole reply, however long, like PowerDNS's
//! connector). A reply longer than the configured maximum, a timeout, or the
//! backend closing makes the call fail, and the caller drops the connection: a
//! late reply must never be read as the answer to the next request. Nothing is
//! ever pipelined: the OpenSVC agent takes each read as one whole request.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::time::timeout;

use super::protocol::{ReplyError, Request, RequestTooLong, decode_initialize};

/// Why a call got no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot connect to {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("{method}: {source}")]
    Io {
        method: &'static str,
        source: io::Error,
    },
    #[error("{method}: no reply within {} ms", .timeout.as_millis())]
    Timeout {
        method: &'static str,
        timeout: Duration,
    },
    #[error("{method}: the backend closed the connection")]
    Closed { method: &'static str },
    #[error("{method}: the reply is longer than {max} bytes")]
    TooLong { method: &'static str, max: usize },
    #[error(transparent)]
    Request(#[from] RequestTooLong),
    #[error("{method}: {source}")]
    Reply {
        method: &'static str,
        source: ReplyError,
    },
}

/// An open, initialised connection.
#[derive(Debug)]
pub(super) struct Connection {
    stream: BufReader<UnixStream>,
    timeout: Duration,
    max_reply: usize,
}

impl Connection {
    /// Connects to `path` and calls `initialize`, within `timeout` each.
    pub(super) async fn open(
        path: &Path,
        limit: Duration,
        max_reply: usize,
    ) -> Result<Self, CallError> {
        let shown = path.display().to_string();
        let stream = match timeout(limit, UnixStream::connect(path)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(CallError::Connect {
                    path: shown,
                    source,
                });
            }
            Err(_) => {
                let source = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                return Err(CallError::Connect {
                    path: shown,
                    source,
                });
            }
        };
        let mut connection = Connection {
            stream: BufReader::new(stream),
            timeout: limit,
            max_reply,
        };
        let init = Request::Initialize {
            path: &shown,
            timeout_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        };
        let reply = connection.call(&init).await?;
        decode_initialize(&reply).map_err(|source| CallError::Reply {
            method: init.method(),
            source,
        })?;
        Ok(connection)
    }

    /// Sends `request` and returns its reply line (without the newline).
    pub(super) async fn call(&mut self, request: &Request<'_>) -> Result<Vec<u8>, CallError> {
        let method = request.method();
        let line = request.encode()?;
        let (max, limit) = (self.max_reply, self.timeout);
        let exchange = async {
            let io = |source| CallError::Io { method, source };
            self.stream.get_mut().write_all(&line).await.map_err(io)?;
            loop {
                let mut reply = Vec::new();
                let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
                let mut limited = (&mut self.stream).take(cap);
                let read = limited.read_until(b'\n', &mut reply).await.map_err(io)?;
                if read == 0 {
                    return Err(CallError::Closed { method });
                }
                if reply.last() != Some(&b'\n') {
                    return Err(if reply.len() > max {
                        CallError::TooLong { method, max }
                    } else {
                        CallError::Closed { method }
                    });
                }
                reply.pop();
                if reply.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(reply);
            }
        };
        match timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout {
                method,
                timeout: limit,
            }),
        }
    }
}
