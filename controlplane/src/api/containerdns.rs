//! The containerdns-compatible routes, `/containerdns/api[/{domain}]`, for the
//! tooling that already speaks them (`containerdns-apicmd`, scripts).
//!
//! Bodies are containerdns's: `{"type":"A","ips":[..]}`,
//! `{"type":"SRV","ips":["target."],"ports":[80]}`, `{"type":"CNAME","alias":".."}`,
//! `{"type":"A","update":{"old":"new"}}`. Answers are plain text, `OK` or
//! `ERR, <reason>`, with the status the `/v1` routes would give (so scripts that
//! only read the text and scripts that check the status both work); listings are
//! JSON. Each request is one batch for the [`crate::records::RecordWriter`]: all of
//! it is written or none.
//!
//! SRV records take priority 10 and weight 10 unless the body gives `priority` or
//! `weight`; `ttl` (default 30) applies to every record of the request.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::{ApiError, capped};
use super::record::{DEFAULT_TTL, MAX_TTL};
use crate::records::{Change, NameFilter, RecordQuery, ZonedRecord};

/// Priority and weight of SRV records whose body gives none.
const SRV_DEFAULT_PRIORITY: u16 = 10;
const SRV_DEFAULT_WEIGHT: u16 = 10;

/// A containerdns request body.
#[derive(Debug, Deserialize)]
struct Body {
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    ports: Vec<u16>,
    alias: Option<String>,
    #[serde(default)]
    update: BTreeMap<String, String>,
    ttl: Option<u64>,
    priority: Option<u16>,
    weight: Option<u16>,
}

/// A text answer: `OK`, or `ERR, <reason>` with its status.
pub(crate) struct Text(StatusCode, String);

impl IntoResponse for Text {
    fn into_response(self) -> Response {
        (self.0, capped(self.1)).into_response()
    }
}

impl From<ApiError> for Text {
    fn from(error: ApiError) -> Text {
        Text(error.status, format!("ERR, {}", error.error))
    }
}

fn ok() -> Response {
    Text(StatusCode::OK, "OK".into()).into_response()
}

fn err(status: StatusCode, reason: impl std::fmt::Display) -> Text {
    Text(status, format!("ERR, {reason}"))
}

type Answer = Result<Response, Text>;

fn domain(text: &str) -> Result<Name, Text> {
    Name::from_ascii(text)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad domain {text:?}: {e}")))
}

fn parse_body(bytes: Result<Bytes, BytesRejection>) -> Result<Option<Body>, Text> {
    let bytes = bytes.map_err(|e| Text::from(ApiError::from_body(&e)))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad body: {e}")))
}

fn need_body(bytes: Result<Bytes, BytesRejection>) -> Result<Body, Text> {
    parse_body(bytes)?.ok_or_else(|| err(StatusCode::BAD_REQUEST, "a JSON body is required"))
}

fn ttl(body: &Body) -> Result<u32, Text> {
    match body.ttl {
        None => Ok(DEFAULT_TTL),
        Some(ttl) if ttl <= MAX_TTL => Ok(u32::try_from(ttl).unwrap_or(u32::MAX)),
        Some(_) => Err(err(
            StatusCode::BAD_REQUEST,
            format!("ttl must be at most {MAX_TTL}"),
        )),
    }
}

fn rtype(body: &Body) -> Result<RType, Text> {
    match body.rtype.to_ascii_uppercase().as_str() {
        "A" => Ok(RType::A),
        "AAAA" => Ok(RType::AAAA),
        "SRV" => Ok(RType::SRV),
        "CNAME" => Ok(RType::CNAME),
        other => Err(err(
            StatusCode::BAD_REQUEST,
            format!("type must be A, AAAA, SRV or CNAME, not {other:?}"),
        )),
    }
}

/// The address rdata of `text` for an A or AAAA request.
fn address(rtype: RType, text: &str) -> Result<RData, Text> {
    let bad = || {
        err(
            StatusCode::BAD_REQUEST,
            format!("bad {rtype} address {text:?}"),
        )
    };
    if rtype == RType::A {
        text.parse::<Ipv4Addr>().map(RData::A).map_err(|_| bad())
    } else {
        text.parse::<Ipv6Addr>().map(RData::Aaaa).map_err(|_| bad())
    }
}

/// The records a POST body adds at `owner`.
fn records(owner: &Name, body: &Body) -> Result<Vec<Record>, Text> {
    let rtype = rtype(body)?;
    let ttl = ttl(body)?;
    let record = |data| Record::new(owner.clone(), ttl, data);
    match rtype {
        RType::CNAME => {
            let alias = body
                .alias
                .as_deref()
                .ok_or_else(|| err(StatusCode::BAD_REQUEST, "a CNAME needs \"alias\""))?;
            let target = domain(alias)?;
            Ok(vec![record(RData::Cname(target))])
        }
        RType::SRV => {
            if body.ips.is_empty() {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "an SRV needs \"ips\" (its targets)",
                ));
            }
            if body.ports.len() != body.ips.len() && body.ports.len() != 1 {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "\"ports\" must hold one port, or one per entry of \"ips\"",
                ));
            }
            body.ips
                .iter()
                .enumerate()
                .map(|(i, target)| {
                    Ok(record(RData::Srv {
                        priority: body.priority.unwrap_or(SRV_DEFAULT_PRIORITY),
                        weight: body.weight.unwrap_or(SRV_DEFAULT_WEIGHT),
                        port: body
                            .ports
                            .get(i)
                            .or(body.ports.first())
                            .copied()
                            .unwrap_or(0),
                        target: domain(target)?,
                    }))
                })
                .collect()
        }
        _ => {
            if body.ips.is_empty() {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    format!("an {rtype} needs \"ips\""),
                ));
            }
            body.ips
                .iter()
                .map(|ip| address(rtype, ip).map(record))
                .collect()
        }
    }
}

/// A record as containerdns shows it.
fn to_json(record: &Record) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(record.rtype().to_string()));
    match &record.data {
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            out.insert("host".into(), json!(target.to_string()));
            out.insert("port".into(), json!(port));
            out.insert("priority".into(), json!(priority));
            out.insert("weight".into(), json!(weight));
        }
        data => {
            out.insert("host".into(), json!(data.to_string()));
        }
    }
    out.insert("ttl".into(), json!(record.ttl));
    Value::Object(out)
}

/// Every record matching `query`, across pages.
async fn everything(state: &AppState, mut query: RecordQuery) -> Result<Vec<ZonedRecord>, Text> {
    let mut out = Vec::new();
    loop {
        let page = state
            .writer
            .records(query.clone())
            .await
            .map_err(|e| Text::from(ApiError::from_write(e, |_| String::new())))?;
        out.extend(page.records);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

fn at(owner: &Name) -> RecordQuery {
    RecordQuery {
        name: Some(NameFilter::Exact(owner.clone())),
        ..RecordQuery::default()
    }
}

async fn write(state: &AppState, changes: Vec<Change>) -> Result<usize, Text> {
    let done = state
        .writer
        .apply(changes)
        .await
        .map_err(|e| Text::from(ApiError::from_write(e, |_| String::new())))?;
    Ok(done.written + done.removed)
}

pub(crate) async fn list_all(State(state): State<AppState>) -> Answer {
    let mut names: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for zoned in everything(&state, RecordQuery::default()).await? {
        names
            .entry(zoned.record.name.to_string())
            .or_default()
            .push(to_json(&zoned.record));
    }
    Ok(axum::Json(names).into_response())
}

pub(crate) async fn get(State(state): State<AppState>, Path(text): Path<String>) -> Answer {
    let owner = domain(&text)?;
    let found = everything(&state, at(&owner)).await?;
    if found.is_empty() {
        return Err(err(StatusCode::NOT_FOUND, format!("{owner} not found")));
    }
    let list: Vec<Value> = found.iter().map(|z| to_json(&z.record)).collect();
    Ok(axum::Json(list).into_response())
}

pub(crate) async fn post(
    State(state): State<AppState>,
    Path(text): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let owner = domain(&text)?;
    let body = need_body(bytes)?;
    let changes = records(&owner, &body)?
        .into_iter()
        .map(Change::Add)
        .collect();
    write(&state, changes).await?;
    Ok(ok())
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(text): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let owner = domain(&text)?;
    let body = need_body(bytes)?;
    let rtype = rtype(&body)?;
    if !matches!(rtype, RType::A | RType::AAAA) || body.update.is_empty() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "PUT takes {\"type\":\"A\" or \"AAAA\",\"update\":{\"old address\":\"new address\"}}",
        ));
    }
    let ttl = ttl(&body)?;
    let current = everything(&state, at(&owner)).await?;
    let mut changes = Vec::new();
    for (old, new) in &body.update {
        let old = address(rtype, old)?;
        let new = address(rtype, new)?;
        if !current.iter().any(|z| z.record.data == old) {
            return Err(err(
                StatusCode::NOT_FOUND,
                format!("{old} not found at {owner}"),
            ));
        }
        changes.push(Change::Delete {
            name: owner.clone(),
            rtype: Some(rtype),
            data: Some(old),
        });
        changes.push(Change::Add(Record::new(owner.clone(), ttl, new)));
    }
    write(&state, changes).await?;
    Ok(ok())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(text): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let owner = domain(&text)?;
    let changes = match parse_body(bytes)? {
        None => vec![Change::Delete {
            name: owner.clone(),
            rtype: None,
            data: None,
        }],
        Some(body) => {
            let rtype = rtype(&body)?;
            match rtype {
                RType::A | RType::AAAA if !body.ips.is_empty() => body
                    .ips
                    .iter()
                    .map(|ip| {
                        address(rtype, ip).map(|data| Change::Delete {
                            name: owner.clone(),
                            rtype: Some(rtype),
                            data: Some(data),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                RType::SRV if !body.ips.is_empty() => {
                    let targets = body
                        .ips
                        .iter()
                        .map(|t| domain(t))
                        .collect::<Result<Vec<_>, _>>()?;
                    everything(&state, at(&owner))
                        .await?
                        .into_iter()
                        .filter(|z| {
                            matches!(&z.record.data, RData::Srv { target, .. } if targets.contains(target))
                        })
                        .map(|z| Change::Delete {
                            name: owner.clone(),
                            rtype: Some(rtype),
                            data: Some(z.record.data),
                        })
                        .collect()
                }
                _ => vec![Change::Delete {
                    name: owner.clone(),
                    rtype: Some(rtype),
                    data: None,
                }],
            }
        }
    };
    if changes.is_empty() || write(&state, changes).await? == 0 {
        return Err(err(StatusCode::NOT_FOUND, format!("{owner} not found")));
    }
    Ok(ok())
}
