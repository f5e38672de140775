//! `/metrics` (Prometheus text), `/healthz` and `/readyz`, on the API's port
//! and on a listener of their own ([`MetricsListener`], `--metrics` /
//! `[metrics] listen`), plus the count of API requests.
//!
//! The figures are the telemetry's ([`crate::telemetry`]): a scrape reads the
//! live parts and never waits for the dataplane. The metrics listener needs no
//! token and no record writer, so a server fed by zone files alone (or a
//! PowerDNS remote backend) can be watched; it has its own connection gate
//! (`metrics.max_connections`, per source too) and the API's timeouts, so
//! scrapers can neither starve the API nor hold descriptors without bound.
//!
//! `/healthz` is `200 ok` while the process serves; `/readyz` is `200 ready`
//! once the first table is published (etcd loaded or a snapshot served, each
//! PowerDNS remote backend read once), `503` before.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::AppState;
use super::clock::Timeouts;
use super::connection::Connections;
use crate::budget::ConnectionGate;
use crate::config::MetricsSettings;
use crate::telemetry::Telemetry;

/// The content type of the Prometheus text format 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl FromRef<AppState> for Arc<Telemetry> {
    fn from_ref(state: &AppState) -> Arc<Telemetry> {
        Arc::clone(&state.telemetry)
    }
}

pub(crate) async fn metrics(State(telemetry): State<Arc<Telemetry>>) -> Response {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        telemetry.prometheus_text(),
    )
        .into_response()
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(State(telemetry): State<Arc<Telemetry>>) -> Response {
    if telemetry.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// Counts every answered request by its route pattern and status.
pub(crate) async fn count(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    telemetry.count_request(route, response.status().as_u16());
    response
}

/// `/metrics`, `/healthz` and `/readyz` on a port of their own, bound and
/// ready to serve.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    connections: Arc<Connections>,
}

impl MetricsListener {
    /// Binds `settings.listen`; `gate` admits its connections.
    pub async fn bind(
        settings: &MetricsSettings,
        telemetry: Arc<Telemetry>,
        gate: Arc<ConnectionGate>,
    ) -> io::Result<MetricsListener> {
        let listener = TcpListener::bind(settings.listen).await?;
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(telemetry);
        let connections = Connections {
            router,
            tls: None,
            gate,
            timeouts: Timeouts {
                idle: settings.idle_timeout,
                header: settings.header_timeout,
                body: settings.header_timeout,
            },
        };
        Ok(MetricsListener {
            listener,
            connections: Arc::new(connections),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true, then lets the open connections finish.
    pub async fn serve(self, shutdown: watch::Receiver<bool>) -> io::Result<()> {
        self.connections.serve(self.listener, shutdown).await
    }
}
