//! containerdns's stats server, on the API's port: what the server was asked.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /containerdns/stats` | `{"reqCount","forwardCount","cacheMissCount","dataCachedCount","cacheSizeUsed","domainSize","noNameCount","overFlowCount","noDataCount"}` |
//! | `GET /containerdns/stats/top/{N}` | `[{"reqCount":n,"domain":"<fqdn>"}, ...]`, the N most asked names (N capped at 1,000) |
//! | `GET /containerdns/stats/{domain}` | `{"reqCount":n,"lastQueryTime":"<RFC 3339>","firstQueryTime":"<RFC 3339>"}`, or `404 domain not found` |
//!
//! The token is the API's, as `?token=` (where containerdns's stats server
//! takes its `statsServerAuthToken`) or `Authorization: Bearer`. The counts are
//! [`QueryStats`](crate::query_stats::QueryStats)' (every backend's poll loops and the TCP listener, merged
//! each second) and the forwarder's; docs/api.md says which figure is which.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrodns_dataplane::name::Name;
use serde_json::{Value, json};

use super::super::AppState;
use crate::health::rfc3339;

/// Most names `/containerdns/stats/top/{N}` lists, as containerdns.
pub(crate) const MAX_TOP: usize = 1000;
/// RCODE NXDOMAIN.
const NXDOMAIN: usize = 3;

/// The answer when the counts are not kept (`[stats] enabled` is not true).
fn not_counted() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "ERR, the names asked are not counted: set [stats] enabled = true",
    )
        .into_response()
}

/// `GET /containerdns/stats`.
pub(crate) async fn summary(State(state): State<AppState>) -> Response {
    let Some(stats) = state.query_stats.as_deref() else {
        return not_counted();
    };
    let totals = stats.totals();
    let telemetry = &state.telemetry;
    let forward = telemetry.forward_stats().unwrap_or_default();
    Json(json!({
        "reqCount": totals.queries,
        "forwardCount": forward.forwarded,
        "cacheMissCount": forward.cache_misses,
        "dataCachedCount": forward.cache_hits,
        "cacheSizeUsed": forward.cache_entries,
        "domainSize": telemetry.table_names(),
        "noNameCount": telemetry.local_answers().with_rcode(NXDOMAIN),
        "overFlowCount": 0,
        "noDataCount": totals.nodata,
    }))
    .into_response()
}

/// `GET /containerdns/stats/top/{N}`.
pub(crate) async fn top(State(state): State<AppState>, Path(n): Path<String>) -> Response {
    let Some(stats) = state.query_stats.as_deref() else {
        return not_counted();
    };
    let Ok(n) = n.parse::<usize>() else {
        return (
            StatusCode::BAD_REQUEST,
            format!("ERR, top {n:?}: expected a number of names, at most {MAX_TOP}"),
        )
            .into_response();
    };
    let names: Vec<Value> = stats
        .top(n.min(MAX_TOP))
        .into_iter()
        .map(|(name, count)| json!({"reqCount": count, "domain": name.to_string()}))
        .collect();
    Json(names).into_response()
}

/// `GET /containerdns/stats/{domain}`: a name without a trailing dot is
/// absolute all the same, as containerdns reads it.
pub(crate) async fn domain(State(state): State<AppState>, Path(domain): Path<String>) -> Response {
    let Some(stats) = state.query_stats.as_deref() else {
        return not_counted();
    };
    let absolute = if domain.ends_with('.') {
        domain
    } else {
        format!("{domain}.")
    };
    let Ok(name) = Name::from_ascii(&absolute) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("ERR, bad domain {absolute:?}"),
        )
            .into_response();
    };
    match stats.name(&name) {
        Some(totals) => Json(json!({
            "reqCount": totals.count,
            "lastQueryTime": rfc3339(totals.last),
            "firstQueryTime": rfc3339(totals.first),
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "domain not found").into_response(),
    }
}
