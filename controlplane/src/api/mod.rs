//! The operators' REST API (docs/api.md): `/v1` (JSON, OpenAPI at
//! `/v1/openapi.json`), the containerdns-compatible `/containerdns/api`, and
//! `/metrics`, `/healthz`, `/readyz`, on one port.
//!
//! The API owns no records. Every route turns its request into calls on one
//! [`RecordWriter`] chosen at start-up (etcd when configured, else the embedded
//! store), so the same request does the same thing whichever backend holds the
//! records, and a 2xx answer means what the writer promises: durable.
//!
//! - `auth`: the token and the checks in front of the routes (before the body
//!   is read, constant-time).
//! - `error`: the `/v1` JSON error and the status of each failure.
//! - `record`: records as JSON, and the checks that name the bad field.
//! - `v1`, `containerdns`: the two sets of routes (with containerdns's stats
//!   server, `/containerdns/stats`); `reload`: `POST /v1/reload`.
//! - `metrics`: `/metrics`, `/healthz`, `/readyz` (also on a listener of
//!   their own, [`MetricsListener`]) and request counts; the figures are
//!   [`crate::telemetry`]'s.
//! - `openapi`: the `/v1` document.
//! - `connection`: accepting, admitting (connection caps) and serving each
//!   connection under its timeouts; `clock` (idle, header and blocked-write
//!   timeouts) and `deadline_body` (the body timeout) are its parts.
//! - `tls`: HTTPS with rustls when a certificate and key are configured.
//!
//! Bodies are capped at `api.max_body_bytes` (default 1 MiB): a request that
//! declares a larger `Content-Length` is refused with `413` before anything is
//! read, and the cap is checked again as the body is read, so a larger body is
//! never buffered whole. A body must also arrive within `api.body_timeout_ms`:
//! a late one is answered `408`.

mod auth;
mod clock;
mod connection;
mod containerdns;
mod deadline_body;
mod error;
mod metrics;
mod openapi;
mod record;
mod reload;
mod tls;
mod v1;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::TOKEN_ENV;
pub use containerdns::ContainerdnsContext;
pub use metrics::MetricsListener;

pub use crate::telemetry::{CoreCounters, CoreSource, Telemetry};

use self::auth::Token;
use self::clock::Timeouts;
use self::connection::Connections;
use crate::budget::ConnectionGate;
use crate::config::ApiSettings;
use crate::listen_error;
use crate::query_stats::QueryStats;
use crate::records::RecordWriter;
use crate::reload::ReloadRequests;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("{0}")]
    Token(String),
    #[error("API TLS: {0}")]
    Tls(String),
    #[error(
        "cannot listen for the API on {addr}: {source}{}",
        listen_error::advice(source.kind(), "api.listen (--api)")
    )]
    Bind { addr: SocketAddr, source: io::Error },
}

/// What every handler reads.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) writer: Arc<dyn RecordWriter>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) containerdns: ContainerdnsContext,
    /// The names asked, for containerdns's stats routes; None: not counted.
    pub(crate) query_stats: Option<Arc<QueryStats>>,
    pub(crate) reload: ReloadRequests,
}

/// The API, bound and ready to serve.
#[derive(Debug)]
pub struct Api {
    listener: TcpListener,
    connections: Arc<Connections>,
}

/// Whether the API can start with `settings`: its token and TLS files read
/// and are usable. What [`Api::bind`] checks before it binds, for the checks
/// before a start and `ferrodns check-config`.
pub fn check_settings(settings: &ApiSettings) -> Result<(), ApiStartError> {
    Token::load(settings.token_file.as_deref()).map_err(ApiStartError::Token)?;
    if let Some(tls) = &settings.tls {
        tls::acceptor(tls).map_err(ApiStartError::Tls)?;
    }
    Ok(())
}

impl Api {
    /// Reads the token and TLS files and binds the port; every error names its
    /// cause. `gate` admits the API's connections (its caps were fitted to the
    /// descriptor budget at start); `reload` is where `POST /v1/reload` asks.
    pub async fn bind(
        settings: &ApiSettings,
        writer: Arc<dyn RecordWriter>,
        telemetry: Arc<Telemetry>,
        gate: Arc<ConnectionGate>,
        containerdns: ContainerdnsContext,
        query_stats: Option<Arc<QueryStats>>,
        reload: ReloadRequests,
    ) -> Result<Api, ApiStartError> {
        let token =
            Arc::new(Token::load(settings.token_file.as_deref()).map_err(ApiStartError::Token)?);
        let tls = settings
            .tls
            .as_ref()
            .map(tls::acceptor)
            .transpose()
            .map_err(ApiStartError::Tls)?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ApiStartError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let state = AppState {
            writer,
            telemetry,
            containerdns,
            query_stats,
            reload,
        };
        let connections = Connections {
            router: router(state, token, settings.max_body_bytes),
            tls,
            gate,
            timeouts: Timeouts {
                idle: settings.idle_timeout,
                header: settings.header_timeout,
                body: settings.body_timeout,
            },
        };
        Ok(Api {
            listener,
            connections: Arc::new(connections),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether it speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.connections.tls.is_some()
    }

    /// Serves until `shutdown` turns true, then lets the open connections finish.
    pub async fn serve(self, shutdown: watch::Receiver<bool>) -> io::Result<()> {
        self.connections.serve(self.listener, shutdown).await
    }
}

/// Every route, with its checks.
fn router(state: AppState, token: Arc<Token>, max_body_bytes: usize) -> Router {
    let v1 = Router::new()
        .route("/v1/zones", get(v1::list_zones).post(v1::add_zone))
        .route("/v1/zones/{zone}", axum::routing::delete(v1::remove_zone))
        .route("/v1/records", get(v1::list_records).post(v1::add_record))
        .route("/v1/records/bulk", post(v1::bulk))
        .route(
            "/v1/records/{name}",
            get(v1::get_records).delete(v1::delete_name),
        )
        .route(
            "/v1/records/{name}/{type}",
            put(v1::replace).delete(v1::delete_rrset),
        )
        .route("/v1/health", get(v1::health))
        .route("/v1/stats", get(v1::stats))
        .route("/v1/reload", post(reload::reload))
        .route_layer(from_fn_with_state(Arc::clone(&token), auth::bearer));
    let containerdns = Router::new()
        .route("/containerdns/api", get(containerdns::list_all))
        .route(
            "/containerdns/api/{domain}",
            get(containerdns::get)
                .post(containerdns::post)
                .put(containerdns::put)
                .delete(containerdns::delete),
        )
        .route_layer(from_fn_with_state(Arc::clone(&token), auth::query_token));
    let stats = Router::new()
        .route("/containerdns/stats", get(containerdns::stats::summary))
        .route("/containerdns/stats/top/{n}", get(containerdns::stats::top))
        .route(
            "/containerdns/stats/{domain}",
            get(containerdns::stats::domain),
        )
        .route_layer(from_fn_with_state(token, auth::query_token_or_bearer));
    let open = Router::new()
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz));
    let telemetry = Arc::clone(&state.telemetry);
    Router::new()
        .merge(v1)
        .merge(containerdns)
        .merge(stats)
        .merge(open)
        .fallback(|| async { error::ApiError::not_found("no such route (see /v1/openapi.json)") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn(deadline_body::answer_late_bodies))
        .layer(from_fn_with_state(max_body_bytes, refuse_declared_oversize))
        .layer(from_fn_with_state(telemetry, metrics::count))
        .with_state(state)
}

/// `413` for a request whose `Content-Length` is over the cap, before its body
/// is read (the client would otherwise be waited for until the body timeout);
/// the connection is closed, as the body is left unread.
async fn refuse_declared_oversize(
    State(max_body_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_body_bytes as u64 => error::ApiError::too_large().closing(),
        _ => next.run(request).await,
    }
}
