//! The members of the etcd cluster, one client each, and which one to ask.
//!
//! etcd-client's own client for several endpoints spreads requests over all of
//! them (tonic's balance channel, power of two choices) and connects lazily, so a
//! dead member never leaves the rotation: every request the balancer sends it
//! fails with "tcp connect error", about one in three with one member of three
//! down, although the two others make a quorum and would have answered.
//!
//! ferrodns therefore keeps one client per endpoint ([`Members`]) and asks one
//! member at a time, starting with the one that answered last. A request that
//! fails because of the member rather than the request — it cannot be reached,
//! the connection broke, it has no leader (clients set `require_leader`, so a
//! member cut off from the quorum says so instead of hanging), it timed out —
//! moves on to the next member, round and round with a short back-off (an
//! election takes about a second) until [`EtcdSettings::timeout`] has passed.
//! Any other failure (a request etcd refuses, an unreadable TLS file) is the
//! answer at once.
//!
//! A request that is retried elsewhere may have reached the member that failed:
//! callers send only requests that are safe to repeat — reads, the probe, and the
//! writer's transactions, whose compares fail if an earlier copy committed.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};
use tokio::sync::OnceCell;
use tracing::debug;

use super::sync::{SyncError, describe};
use crate::config::EtcdSettings;

/// First pause after every member failed in a row.
const RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest pause between rounds over the members.
const RETRY_MAX: Duration = Duration::from_millis(500);

/// gRPC status codes (grpc/doc/statuscodes.md) that say the member, or the way
/// to it, failed, not the request: CANCELLED, UNKNOWN (tonic's code for a
/// broken HTTP/2 connection), DEADLINE_EXCEEDED, UNAVAILABLE (cannot connect, no
/// leader, leader changed).
const MEMBER_FAILURE_CODES: [i32; 4] = [1, 2, 4, 14];

/// One client per etcd endpoint, and the member to ask first.
pub(crate) struct Members {
    settings: EtcdSettings,
    /// Connected on first use; a failed connection is tried again next time.
    clients: Vec<OnceCell<Client>>,
    /// The member that answered last (or the one after the last that failed).
    current: AtomicUsize,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("endpoints", &self.settings.endpoints)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Members {
    pub(crate) fn new(settings: &EtcdSettings) -> Members {
        Members {
            settings: settings.clone(),
            clients: settings.endpoints.iter().map(|_| OnceCell::new()).collect(),
            current: AtomicUsize::new(0),
        }
    }

    /// Runs `call` on a member, moving on to the next when the member fails (see
    /// the module docs), until one answers or the time is up.
    pub(crate) async fn request<T, F, Fut>(&self, mut call: F) -> Result<T, SyncError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let count = self.clients.len().max(1);
        let timeout = self.settings.timeout;
        let deadline = Instant::now() + timeout;
        // Each try gets its share of the time, so a member that hangs leaves
        // time for the others.
        let share = timeout / count as u32;
        let mut member = self.current.load(Ordering::Relaxed) % count;
        let mut pause = RETRY_MIN;
        let mut failures = 0usize;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = share.max(RETRY_MIN).min(left);
            let attempt = async {
                let client = self.client(member).await?;
                Ok::<T, SyncError>(call(client).await?)
            };
            let error = match tokio::time::timeout(limit, attempt).await {
                Ok(Ok(value)) => {
                    self.current.store(member, Ordering::Relaxed);
                    return Ok(value);
                }
                Ok(Err(error)) => error,
                Err(_) => SyncError::Timeout(limit),
            };
            if !member_failed(&error) {
                return Err(error);
            }
            if Instant::now() >= deadline {
                return Err(self.unreachable(&error));
            }
            debug!(
                endpoint = self.settings.endpoints.get(member).map(String::as_str),
                "etcd member failed, asking the next: {error}"
            );
            member = (member + 1) % count;
            self.current.store(member, Ordering::Relaxed);
            failures += 1;
            if failures.is_multiple_of(count) {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(RETRY_MAX);
                if Instant::now() >= deadline {
                    return Err(self.unreachable(&error));
                }
            }
        }
    }

    /// No member answered in time; `last` is the last one's failure.
    fn unreachable(&self, last: &SyncError) -> SyncError {
        let cause = match last {
            SyncError::Etcd(error) => describe(error),
            SyncError::Timeout(limit) => format!("no answer within {limit:?}"),
            other => other.to_string(),
        };
        SyncError::Unreachable {
            endpoints: self.settings.endpoints.join(", "),
            cause,
        }
    }

    /// A client of a member that answers a linearizable read (so it is part of
    /// a quorum with a leader): where a watch should be opened.
    pub(crate) async fn live(&self, probe: &str) -> Result<Client, SyncError> {
        self.request(|client| async move {
            let mut kv = client.kv_client();
            kv.get(probe, Some(GetOptions::new().with_count_only()))
                .await?;
            Ok(client)
        })
        .await
    }

    async fn client(&self, member: usize) -> Result<Client, SyncError> {
        let (Some(cell), Some(endpoint)) = (
            self.clients.get(member),
            self.settings.endpoints.get(member),
        ) else {
            return Err(SyncError::Build("no etcd endpoint configured".into()));
        };
        let client = cell
            .get_or_try_init(|| async {
                let options = connect_options(&self.settings)?;
                Ok::<Client, SyncError>(Client::connect([endpoint], Some(options)).await?)
            })
            .await?;
        Ok(client.clone())
    }
}

/// True when `error` says the member failed rather than the request.
fn member_failed(error: &SyncError) -> bool {
    match error {
        SyncError::Timeout(_) => true,
        SyncError::Etcd(etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_)) => {
            true
        }
        SyncError::Etcd(etcd_client::Error::GRpcStatus(status)) => {
            MEMBER_FAILURE_CODES.contains(&i32::from(status.code()))
        }
        SyncError::Unreachable { .. } => true,
        SyncError::Etcd(_) | SyncError::File { .. } | SyncError::Build(_) => false,
    }
}

/// How every member is connected to: timeouts, authentication, TLS. Reads the
/// password, certificate and key files, so an unreadable one is reported here.
pub(crate) fn connect_options(settings: &EtcdSettings) -> Result<ConnectOptions, SyncError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(settings.timeout)
        .with_keep_alive(settings.timeout, settings.timeout)
        .with_keep_alive_while_idle(true)
        .with_require_leader(true);
    if let (Some(user), Some(path)) = (&settings.username, &settings.password_file) {
        let password = read_file("etcd password file", path)?;
        let password = String::from_utf8_lossy(&password)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        options = options.with_user(user.clone(), password);
    }
    if settings.endpoints.iter().any(|e| e.starts_with("https://")) {
        let mut tls = TlsOptions::new();
        if let Some(path) = &settings.ca_file {
            tls = tls.ca_certificate(Certificate::from_pem(read_file("etcd CA file", path)?));
        }
        if let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) {
            tls = tls.identity(Identity::from_pem(
                read_file("etcd certificate", cert)?,
                read_file("etcd key", key)?,
            ));
        }
        options = options.with_tls(tls);
    }
    Ok(options)
}

fn read_file(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, SyncError> {
    std::fs::read(path).map_err(|source| SyncError::File {
        what,
        path: path.to_owned(),
        source,
    })
}
