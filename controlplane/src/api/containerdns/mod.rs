//! The containerdns-compatible routes, `/containerdns/api[/{domain}]`, answered
//! as containerdns's own API answers them (`containerdns-kubeapi/api.go`), for
//! the scripts and tools (`containerdns-apicmd`) that already speak them.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /containerdns/api` | every record of every API domain, as `{"<fqdn>":{..}}` ([`shape`]) |
//! | `GET /containerdns/api/<n>[?type=NS\|MX\|TXT]` | `<n>` and the names below it; with a type, the zone's records of that type; a zone's apex needs a type (`ERR, type input`) |
//! | `POST /containerdns/api/<n>` | `{"type":"A","ips":[..]}`, `{"type":"SRV","ips":[..],"ports":[..]}`, `{"type":"CNAME","alias":"<a>"}` (writes `<a> CNAME <n>`), `{"type":"NS","nsHost":..}`, `{"type":"MX","mailHost":..,"mailPriority":..}`, `{"type":"TXT","text":..}` |
//! | `PUT /containerdns/api/<n>` | `{"type":"A","update":{"<old ip>":"<new ip>"}}`, `{"type":"CNAME","update":{"<old alias>":"<new alias>"}}` |
//! | `DELETE /containerdns/api/<n>` | no body (or no type): everything at `<n>`; `{"type":"A"\|"SRV","ips":[..]}`: those (all without `ips`); `{"type":"CNAME"}`; `{"type":"NS"\|"MX"\|"TXT"}` |
//!
//! - **Names** are lowered and made absolute; a name outside every zone is
//!   completed with the first API domain (`--domain`), as containerdns
//!   completes `cctv2` into `cctv2.containerdns.local.`. So is a CNAME's
//!   `alias`.
//! - **Answers** are `OK`, or containerdns's `ERR, …` text with the status the
//!   `/v1` routes give the same failure ([`texts`]); listings are JSON.
//! - **`user=`**: with etcd, the records written carry the user (containerdns's
//!   `user` field), a name holding records of anyone else is answered
//!   `ERR, user name not match` (403), and listings show the user's records
//!   only. Without `user`, nothing is checked or filtered.
//! - **Health**: with etcd, the addresses of A and SRV writes list the name in
//!   their `/containerdns/monitor/status/<ip>` entries (created `UP` when
//!   missing), and deletes unlist it, as containerdns does, so the health
//!   checker sees new backends at once. A failure there is logged; the records
//!   are written.
//!
//! Each request is one batch for the [`RecordWriter`](crate::records::RecordWriter):
//! all of it is written or none. [`edits`] turns requests into record changes.
//!
//! [`stats`] is containerdns's stats server: `/containerdns/stats`, the most
//! asked names and one name's counts.

mod edits;
mod request;
mod shape;
pub(crate) mod stats;
mod texts;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::RType;
use serde_json::Map;
use tracing::warn;

pub(crate) use texts::Text;

use self::edits::Edits;
use self::request::{Body, Held, Kind, Params, Scope, body, parse_body};
use self::shape::shape;
use self::texts::{Refusal, ok};
use super::AppState;
use super::error::ApiError;
use crate::etcd::SharedRecords;
use crate::etcd::monitor::MonitorStatus;

/// What the containerdns routes need besides the record writer.
#[derive(Debug, Clone, Default)]
pub struct ContainerdnsContext {
    /// The API domains (the zones without a file, in configuration order):
    /// a name outside every zone is completed with the first.
    pub domains: Vec<Name>,
    /// etcd's index, for the `user` of each record; None without etcd (the
    /// store keeps no owners: `user=` is then not checked).
    pub etcd_records: Option<SharedRecords>,
    /// The status entries A and SRV writes list their names in.
    pub monitor: Option<MonitorStatus>,
}

type Answer = Result<Response, Text>;

/// Applies `edits` (as `user`'s, when given) and lists or unlists `name` in
/// the status entries of their addresses.
async fn write(scope: &Scope<'_>, name: &Name, edits: Edits) -> Answer {
    let writer = &scope.state.writer;
    let applied = match scope.user() {
        Some(user) => writer.apply_owned(user.to_owned(), edits.changes).await,
        None => writer.apply(edits.changes).await,
    };
    applied.map_err(|e| Text::from(ApiError::from_write(e, |_| String::new())))?;
    if let Some(monitor) = &scope.state.containerdns.monitor {
        let listed = monitor.add(&edits.listed, name).await;
        let unlisted = monitor.remove(&edits.unlisted, name).await;
        if let Err(e) = listed.and(unlisted) {
            warn!(%name, "records written, but the health status entries not: {e}");
        }
    }
    Ok(ok())
}

/// `GET /containerdns/api`: every API domain's records (of `?type=` or the
/// body's `type` when given, as containerdns reads it).
pub(crate) async fn list_all(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let scope = Scope::new(&state, &params).await?;
    let from_body = parse_body(bytes).ok().flatten().map(|b| b.kind);
    let kind = Kind::parse(
        params
            .kind
            .as_deref()
            .or(from_body.as_deref())
            .unwrap_or(""),
    )
    .unwrap_or(None);
    let mut listed = Map::new();
    for apex in scope.zones() {
        let held = scope.visible(scope.held(apex, true).await?);
        listed.extend(shape(&of_kind(held, kind), scope.zones()));
    }
    Ok(axum::Json(listed).into_response())
}

/// `GET /containerdns/api/<n>`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let scope = Scope::new(&state, &params).await?;
    let (name, apex) = scope.resolve(&text)?;
    let kind = Kind::parse(params.kind.as_deref().unwrap_or(""))?;
    if name == apex && kind.is_none() {
        return Err(Refusal::TypeInput.answer());
    }
    let held = match kind {
        Some(kind @ (Kind::Ns | Kind::Mx | Kind::Txt)) => {
            of_kind(scope.held(&apex, true).await?, Some(kind))
        }
        _ => scope.held(&name, true).await?,
    };
    let listed = shape(&scope.visible(held), scope.zones());
    if listed.is_empty() {
        return Err(Refusal::NoFindDomainName.answer());
    }
    Ok(axum::Json(listed).into_response())
}

/// The records a listing of `kind` shows: NS, MX and TXT at apexes with the
/// addresses of their servers; any other kind (or none) everything.
fn of_kind(held: Vec<Held>, kind: Option<Kind>) -> Vec<Held> {
    let Some(rtype @ (RType::NS | RType::MX | RType::TXT)) = kind.map(Kind::rtype) else {
        return held;
    };
    let targets: Vec<Name> = held
        .iter()
        .filter_map(|h| match &h.record.data {
            ferrodns_dataplane::record::RData::Ns(t) if rtype == RType::NS => Some(t.clone()),
            ferrodns_dataplane::record::RData::Mx { exchange, .. } if rtype == RType::MX => {
                Some(exchange.clone())
            }
            _ => None,
        })
        .collect();
    held.into_iter()
        .filter(|h| h.record.rtype() == rtype || targets.contains(&h.record.name))
        .collect()
}

/// `POST /containerdns/api/<n>`.
pub(crate) async fn post(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Query(params): Query<Params>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let scope = Scope::new(&state, &params).await?;
    let body = body(bytes)?;
    let (name, apex) = scope.resolve(&text)?;
    let kind = body.kind()?;
    let ttl = body.ttl()?;
    let edits = match kind {
        Kind::A | Kind::Srv => {
            let below = scope.held(&name, true).await?;
            scope.check_owner(&at(&below, &name))?;
            if kind == Kind::A {
                edits::post_a(&name, &body, &below, ttl)?
            } else {
                edits::post_srv(&name, &body, &below, ttl)?
            }
        }
        Kind::Cname => {
            let (alias, _) = scope
                .resolve(&body.alias)
                .map_err(|_| Refusal::AliasNotSubDomain.answer())?;
            scope.check_owner(&scope.held(&name, false).await?)?;
            let at_alias = scope.held(&alias, false).await?;
            edits::post_cname(&name, &alias, &at_alias, ttl)?
        }
        Kind::Ns | Kind::Mx | Kind::Txt => {
            let held = scope.held(&apex, true).await?;
            scope.check_owner(&at(&held, &name))?;
            edits::post_apex(kind.rtype(), &name, &apex, &body, &held, ttl)?
        }
    };
    write(&scope, &name, edits).await
}

/// `PUT /containerdns/api/<n>`.
pub(crate) async fn put(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Query(params): Query<Params>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let scope = Scope::new(&state, &params).await?;
    let body = body(bytes)?;
    let (name, _) = scope.resolve(&text)?;
    let kind = body.kind()?;
    if body.update.is_empty() {
        return Err(Refusal::NoBodyUpdate.answer());
    }
    let ttl = body.ttl()?;
    let edits = match kind {
        Kind::A => {
            let here = scope.held(&name, false).await?;
            if here.is_empty() {
                return Err(Refusal::NoFindDomainName.answer());
            }
            scope.check_owner(&here)?;
            edits::put_a(&name, &body, &here, ttl)?
        }
        Kind::Cname => put_cname(&scope, &name, &body, ttl).await?,
        _ => return Err(Refusal::NoOpsType.answer()),
    };
    write(&scope, &name, edits).await
}

/// `PUT` CNAME: resolves both aliases and reads what they hold.
async fn put_cname(scope: &Scope<'_>, name: &Name, body: &Body, ttl: u32) -> Result<Edits, Text> {
    let [(old, new)] = body.update.iter().collect::<Vec<_>>()[..] else {
        return Err(Refusal::PutTooManyItems.answer());
    };
    let (new, _) = scope
        .resolve(new)
        .map_err(|_| Refusal::AliasNotSubDomain.answer())?;
    let (old, _) = scope
        .resolve(old)
        .map_err(|_| Refusal::NoFindAliasName.about(old))?;
    let at_old = scope.held(&old, false).await?;
    scope.check_owner(&at_old)?;
    let at_new = scope.held(&new, false).await?;
    edits::put_cname(name, (&old, &at_old), (&new, &at_new), ttl)
}

/// `DELETE /containerdns/api/<n>`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Query(params): Query<Params>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let scope = Scope::new(&state, &params).await?;
    let body = parse_body(bytes)?.unwrap_or_default();
    let (name, apex) = scope.resolve(&text)?;
    let edits = match Kind::parse(&body.kind)? {
        None => {
            let below = scope.held(&name, true).await?;
            scope.check_owner(&at(&below, &name))?;
            edits::delete_all(&name, &below)?
        }
        Some(Kind::A | Kind::Srv) => {
            let below = scope.held(&name, true).await?;
            scope.check_owner(&at(&below, &name))?;
            edits::delete_addresses(&name, &body, &below)?
        }
        Some(Kind::Cname) => {
            let here = scope.held(&name, false).await?;
            scope.check_owner(&here)?;
            edits::delete_cname(&name, &here)?
        }
        Some(kind @ (Kind::Ns | Kind::Mx | Kind::Txt)) => {
            let held = scope.held(&apex, true).await?;
            scope.check_owner(&at(&held, &name))?;
            edits::delete_apex(kind.rtype(), &name, &apex, &body, &held)?
        }
    };
    write(&scope, &name, edits).await
}

/// The records of `held` owned by `name` itself.
fn at(held: &[Held], name: &Name) -> Vec<Held> {
    held.iter()
        .filter(|h| h.record.name == *name)
        .cloned()
        .collect()
}
