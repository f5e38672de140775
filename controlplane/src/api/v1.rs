//! The `/v1` JSON routes (docs/api.md): zones, records, health and stats.
//!
//! Handlers only translate: a request becomes [`Change`]s or a [`RecordQuery`]
//! for the [`RecordWriter`], its answer becomes JSON. Bodies arrive as bytes
//! (the cap answers `413` before a handler runs) and are parsed here, so a bad
//! body is a `400` naming its field. Every write is one batch, so a bulk import
//! is all or none.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrodns_dataplane::record::RData;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::record::{self, DEFAULT_TTL};
use crate::health::{CheckSource, rfc3339};
use crate::records::{Applied, Change, MAX_PAGE, NameFilter, RecordQuery, WriteError, ZonedRecord};

type Answer = Result<Response, ApiError>;

/// The JSON body of a request, or the error naming why it is not one.
fn body(bytes: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = bytes.map_err(|e| ApiError::from_body(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        error: format!("body is not JSON: {e}"),
        field: None,
    })
}

fn applied(status: StatusCode, applied: Applied) -> Response {
    let body = json!({"written": applied.written, "removed": applied.removed});
    (status, Json(body)).into_response()
}

/// The field a rejected change of a one-record request came from.
fn record_field(reason: &str) -> String {
    if reason.contains("not inside") {
        "name".into()
    } else {
        "data".into()
    }
}

pub(crate) async fn list_zones(State(state): State<AppState>) -> Answer {
    let zones = state
        .writer
        .zones()
        .await
        .map_err(|e| ApiError::from_write(e, |_| "name".into()))?;
    let zones: Vec<Value> = zones
        .iter()
        .map(|zone| json!({"name": zone.to_string()}))
        .collect();
    Ok(Json(json!({"zones": zones})).into_response())
}

pub(crate) async fn add_zone(
    State(state): State<AppState>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let value = body(bytes)?;
    let object = record::object(&value, "body")?;
    let apex = record::name(record::string(object, "name", "name")?, "name")?;
    if apex.label_count() < 2 {
        // A zone at the root or a top-level domain would take every name under
        // it away from the forwarder: configure such a zone (`[[zone]]`,
        // `--domain`) if it is really meant.
        return Err(ApiError::bad(
            "name",
            format!(
                "{apex} is the root or a top-level domain; the API creates zones of two \
                 labels or more (configure such a zone with --domain or [[zone]])"
            ),
        ));
    }
    let created = state
        .writer
        .add_zone(apex.clone())
        .await
        .map_err(|e| ApiError::from_write(e, |_| "name".into()))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"name": apex.to_string()}))).into_response())
}

pub(crate) async fn remove_zone(State(state): State<AppState>, Path(zone): Path<String>) -> Answer {
    let apex = record::name(&zone, "zone")?;
    let removed = state
        .writer
        .remove_zone(apex.clone())
        .await
        .map_err(|e| ApiError::from_write(e, |_| "zone".into()))?;
    if !removed {
        return Err(ApiError::not_found(format!("zone {apex} does not exist")));
    }
    Ok(Json(json!({"removed": true})).into_response())
}

pub(crate) async fn list_records(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Answer {
    let zone = params
        .get("zone")
        .filter(|z| !z.is_empty())
        .map(|z| record::name(z, "zone"))
        .transpose()?;
    let subtree = match params.get("subtree").map(String::as_str) {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "subtree",
                format!("subtree must be true or false, not {other:?}"),
            ));
        }
    };
    let name = params
        .get("name")
        .filter(|n| !n.is_empty())
        .map(|n| record::name(n, "name"))
        .transpose()?
        .map(|name| {
            if subtree {
                NameFilter::Subtree(name)
            } else {
                NameFilter::Exact(name)
            }
        });
    let rtype = params
        .get("type")
        .filter(|t| !t.is_empty())
        .map(|t| record::rtype(t, "type"))
        .transpose()?;
    let limit = match params.get("limit").filter(|l| !l.is_empty()) {
        None => MAX_PAGE,
        Some(text) => match text.parse::<usize>() {
            Ok(limit @ 1..=MAX_PAGE) => limit,
            _ => {
                return Err(ApiError::bad(
                    "limit",
                    format!("limit must be 1 to {MAX_PAGE}, not {text:?}"),
                ));
            }
        },
    };
    let query = RecordQuery {
        zone,
        name,
        rtype,
        after: params.get("cursor").filter(|c| !c.is_empty()).cloned(),
        limit,
    };
    let page = state
        .writer
        .records(query)
        .await
        .map_err(|e| ApiError::from_write(e, |_| "zone".into()))?;
    let records: Vec<Value> = page.records.iter().map(record::to_json).collect();
    Ok(Json(json!({"records": records, "next": page.next})).into_response())
}

/// Every record at `query`'s name, across pages.
async fn all_at(state: &AppState, mut query: RecordQuery) -> Result<Vec<ZonedRecord>, ApiError> {
    let mut out = Vec::new();
    loop {
        let page = state
            .writer
            .records(query.clone())
            .await
            .map_err(|e| ApiError::from_write(e, |_| "name".into()))?;
        out.extend(page.records);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

pub(crate) async fn get_records(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Answer {
    let owner = record::name(&name, "name")?;
    let rtype = params
        .get("type")
        .filter(|t| !t.is_empty())
        .map(|t| record::rtype(t, "type"))
        .transpose()?;
    let query = RecordQuery {
        name: Some(NameFilter::Exact(owner.clone())),
        rtype,
        ..RecordQuery::default()
    };
    let found = all_at(&state, query).await?;
    if found.is_empty() {
        return Err(ApiError::not_found(format!("{owner} has no records")));
    }
    let records: Vec<Value> = found.iter().map(record::to_json).collect();
    Ok(Json(json!({"records": records})).into_response())
}

pub(crate) async fn add_record(
    State(state): State<AppState>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let value = body(bytes)?;
    let record = record::from_json(&value, "")?;
    let done = state
        .writer
        .apply(vec![Change::Add(record)])
        .await
        .map_err(|e| {
            let field = match &e {
                WriteError::Rejected { reason, .. } | WriteError::Conflict { reason, .. } => {
                    record_field(reason)
                }
                _ => String::new(),
            };
            ApiError::from_write(e, |_| field.clone())
        })?;
    Ok(applied(StatusCode::CREATED, done))
}

pub(crate) async fn bulk(
    State(state): State<AppState>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let value = body(bytes)?;
    let object = record::object(&value, "body")?;
    let Some(list) = object.get("records").and_then(Value::as_array) else {
        return Err(ApiError::bad(
            "records",
            "records must be a list of records",
        ));
    };
    let changes = list
        .iter()
        .enumerate()
        .map(|(i, value)| record::from_json(value, &format!("records[{i}].")).map(Change::Add))
        .collect::<Result<Vec<_>, _>>()?;
    let done = state
        .writer
        .apply(changes)
        .await
        .map_err(|e| ApiError::from_write(e, |i| format!("records[{i}]")))?;
    Ok(applied(StatusCode::CREATED, done))
}

pub(crate) async fn replace(
    State(state): State<AppState>,
    Path((name, rtype)): Path<(String, String)>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let owner = record::name(&name, "name")?;
    let rtype = record::rtype(&rtype, "type")?;
    let value = body(bytes)?;
    let object = record::object(&value, "body")?;
    let ttl = record::ttl(object, "ttl")?;
    let Some(list) = object.get("data").and_then(Value::as_array) else {
        return Err(ApiError::bad(
            "data",
            "data must be a list of rdata strings",
        ));
    };
    let mut records = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = format!("data[{i}]");
        let text = item
            .as_str()
            .ok_or_else(|| ApiError::bad(&field, "each data entry must be a string"))?;
        let data = record::rdata(&owner, rtype, ttl, text, &field)?;
        records.push(ferrodns_dataplane::record::Record::new(
            owner.clone(),
            ttl,
            data,
        ));
    }
    let done = state
        .writer
        .apply(vec![Change::Replace {
            name: owner,
            rtype,
            records,
        }])
        .await
        .map_err(|e| ApiError::from_write(e, |_| "data".into()))?;
    Ok(applied(StatusCode::OK, done))
}

async fn delete(state: &AppState, change: Change) -> Answer {
    let owner = change.name().clone();
    let done = state
        .writer
        .apply(vec![change])
        .await
        .map_err(|e| ApiError::from_write(e, |_| "name".into()))?;
    if done.removed == 0 {
        return Err(ApiError::not_found(format!("no such records at {owner}")));
    }
    Ok(Json(json!({"removed": done.removed})).into_response())
}

pub(crate) async fn delete_name(State(state): State<AppState>, Path(name): Path<String>) -> Answer {
    let owner = record::name(&name, "name")?;
    delete(
        &state,
        Change::Delete {
            name: owner,
            rtype: None,
            data: None,
        },
    )
    .await
}

pub(crate) async fn delete_rrset(
    State(state): State<AppState>,
    Path((name, rtype)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Answer {
    let owner = record::name(&name, "name")?;
    let rtype = record::rtype(&rtype, "type")?;
    let data: Option<RData> = params
        .get("data")
        .map(|text| record::rdata(&owner, rtype, DEFAULT_TTL, text, "data"))
        .transpose()?;
    delete(
        &state,
        Change::Delete {
            name: owner,
            rtype: Some(rtype),
            data,
        },
    )
    .await
}

/// Every address with a status: etcd's (whoever checks them), then those this
/// appliance checks for `[health.names]`, each with the checker that gave the
/// verdict.
pub(crate) async fn health(State(state): State<AppState>) -> Answer {
    let status = |up: bool| if up { "UP" } else { "DOWN" };
    let mut list: Vec<Value> = state
        .telemetry
        .health_targets()
        .await
        .iter()
        .map(|t| {
            json!({
                "ip": t.ip.to_string(),
                "status": status(t.up),
                "ports": t.ports,
                "source": "etcd",
                "checker": t.checker,
                "checked": t.checked,
            })
        })
        .collect();
    if let Some(checks) = state.telemetry.health_checks() {
        for (ip, figures) in checks.snapshot() {
            if figures.source != CheckSource::Names {
                continue;
            }
            list.push(json!({
                "ip": ip.to_string(),
                "status": status(figures.up),
                "ports": [],
                "source": "names",
                "checker": checks.checker(),
                "checked": figures.last_check.map(rfc3339),
            }));
        }
    }
    let up = list.iter().filter(|t| t["status"] == "UP").count();
    let down = list.len() - up;
    Ok(Json(json!({"targets": list, "up": up, "down": down})).into_response())
}

pub(crate) async fn stats(State(state): State<AppState>) -> Answer {
    Ok(Json(state.telemetry.stats().to_json()).into_response())
}
