//! `POST /v1/reload`: what SIGHUP does, asked over the API (`ferroctl
//! reload`), with its outcome in the answer: `200` with what changed and what
//! needs a restart, or `422` with why nothing changed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

/// Reloads the configuration and the records, one reload at a time.
pub(crate) async fn reload(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.reload.reload().await {
        Ok(report) => Ok(Json(json!({
            "reloaded": true,
            "zones": report.zones,
            "changed_names": report.changed,
            "upstreams_changed": report.upstreams_changed,
            "restart_needed": report.restart_needed,
        }))),
        Err(error) => Err(ApiError::status(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload failed, nothing changed: {error}"),
        )),
    }
}
