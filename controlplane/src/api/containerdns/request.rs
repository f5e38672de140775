//! What a containerdns request says: its body, its `?user=` and `?type=`, the
//! name it is about (completed as containerdns completes it), and what that
//! name holds now with each record's owner.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RType, Record};
use serde::Deserialize;

use super::ContainerdnsContext;
use super::texts::{Refusal, Text, err};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::record::{DEFAULT_TTL, MAX_TTL};
use crate::etcd::owner::owned_records;
use crate::records::{NameFilter, RecordQuery};

/// A containerdns request body (`apiService` in containerdns's API), with
/// ferrodns's extras: `ttl`, `priority`, `weight`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Body {
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) ips: Vec<String>,
    #[serde(default)]
    pub(crate) ports: Vec<u16>,
    #[serde(default)]
    pub(crate) alias: String,
    #[serde(default)]
    pub(crate) update: BTreeMap<String, String>,
    #[serde(rename = "nsHost", default)]
    pub(crate) ns_host: String,
    #[serde(rename = "mailHost", default)]
    pub(crate) mail_host: String,
    #[serde(rename = "mailPriority", default)]
    pub(crate) mail_priority: u16,
    #[serde(default)]
    pub(crate) text: String,
    pub(crate) ttl: Option<u64>,
    pub(crate) priority: Option<u16>,
    pub(crate) weight: Option<u16>,
}

/// The types the routes take, from a body's or a query's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `A`: addresses, IPv4 (and, in ferrodns, IPv6).
    A,
    Srv,
    Cname,
    Ns,
    Mx,
    Txt,
}

impl Kind {
    /// `None` for an empty type; an error for one the routes do not take.
    pub(crate) fn parse(text: &str) -> Result<Option<Kind>, Text> {
        Ok(Some(match text.to_ascii_uppercase().as_str() {
            "" => return Ok(None),
            "A" | "AAAA" => Kind::A,
            "SRV" => Kind::Srv,
            "CNAME" => Kind::Cname,
            "NS" => Kind::Ns,
            "MX" => Kind::Mx,
            "TXT" => Kind::Txt,
            _ => return Err(Refusal::NoOpsType.answer()),
        }))
    }

    /// The DNS type of the records a route of this kind lists at a name.
    pub(crate) fn rtype(self) -> RType {
        match self {
            Kind::A => RType::A,
            Kind::Srv => RType::SRV,
            Kind::Cname => RType::CNAME,
            Kind::Ns => RType::NS,
            Kind::Mx => RType::MX,
            Kind::Txt => RType::TXT,
        }
    }
}

impl Body {
    /// The body's type; a body without one is refused as containerdns does.
    pub(crate) fn kind(&self) -> Result<Kind, Text> {
        Kind::parse(&self.kind)?.ok_or_else(|| Refusal::TypeNotSupported.answer())
    }

    /// `ttl`, 30 when not given.
    pub(crate) fn ttl(&self) -> Result<u32, Text> {
        match self.ttl {
            None => Ok(DEFAULT_TTL),
            Some(ttl) if ttl <= MAX_TTL => Ok(u32::try_from(ttl).unwrap_or(u32::MAX)),
            Some(_) => Err(err(
                StatusCode::BAD_REQUEST,
                format!("ttl must be at most {MAX_TTL}"),
            )),
        }
    }
}

/// `?user=` and `?type=` (the token is the middleware's).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    pub(crate) user: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
}

impl Params {
    /// The user, when one is given.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref().filter(|user| !user.is_empty())
    }
}

/// The body, if the request has one that is not blank.
pub(crate) fn parse_body(bytes: Result<Bytes, BytesRejection>) -> Result<Option<Body>, Text> {
    let bytes = bytes.map_err(|e| Text::from(ApiError::from_body(&e)))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad body: {e}")))
}

/// The body, or an empty one (no type: refused by the route as containerdns
/// refuses it).
pub(crate) fn body(bytes: Result<Bytes, BytesRejection>) -> Result<Body, Text> {
    Ok(parse_body(bytes)?.unwrap_or_default())
}

/// A record held now and the user who owns it (None: nobody, or the backend
/// keeps no owners).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) record: Record,
    pub(crate) user: Option<String>,
}

/// One request's view of the record source: the zones writes may go to, and
/// how to read what a name holds.
pub(crate) struct Scope<'a> {
    pub(crate) state: &'a AppState,
    context: &'a ContainerdnsContext,
    zones: Vec<Name>,
    user: Option<String>,
}

impl<'a> Scope<'a> {
    pub(crate) async fn new(state: &'a AppState, params: &Params) -> Result<Scope<'a>, Text> {
        let zones = state
            .writer
            .zones()
            .await
            .map_err(|e| Text::from(ApiError::from_write(e, |_| String::new())))?;
        Ok(Scope {
            state,
            context: &state.containerdns,
            zones,
            user: params.user().map(str::to_owned),
        })
    }

    /// The zones (API domains) the routes write to.
    pub(crate) fn zones(&self) -> &[Name] {
        &self.zones
    }

    /// The user the request acts for, when one is given and the backend keeps
    /// owners.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user
            .as_deref()
            .filter(|_| self.context.etcd_records.is_some())
    }

    /// The name `text` is about and the zone holding it. As containerdns
    /// does, a name outside every zone is completed with the first API
    /// domain: `cctv2` is `cctv2.containerdns.local.`.
    pub(crate) fn resolve(&self, text: &str) -> Result<(Name, Name), Text> {
        let lowered = text.trim().to_ascii_lowercase();
        if lowered.is_empty() || lowered == "." {
            return Err(Refusal::NoDomainName.answer());
        }
        let name = Name::from_ascii(&lowered)
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad domain {text:?}: {e}")))?;
        if let Some(apex) = self.zone_of(&name) {
            return Ok((name, apex));
        }
        let completed = self
            .context
            .domains
            .iter()
            .chain(&self.zones)
            .find(|domain| self.zones.contains(domain))
            .and_then(|domain| {
                let bare = lowered.trim_end_matches('.');
                Name::from_ascii(&format!("{bare}.{domain}")).ok()
            })
            .ok_or_else(|| Refusal::NotSubDomain.answer())?;
        let apex = self
            .zone_of(&completed)
            .ok_or_else(|| Refusal::NotSubDomain.answer())?;
        Ok((completed, apex))
    }

    /// The deepest zone holding `name`.
    fn zone_of(&self, name: &Name) -> Option<Name> {
        self.zones
            .iter()
            .filter(|apex| name.is_subdomain_of(apex))
            .max_by_key(|apex| apex.label_count())
            .cloned()
    }

    /// What `name` holds now (and the names below it when `below`), with each
    /// record's owner.
    pub(crate) async fn held(&self, name: &Name, below: bool) -> Result<Vec<Held>, Text> {
        if let Some(index) = &self.context.etcd_records {
            let index = index.lock().await;
            return Ok(owned_records(&index, name, below)
                .into_iter()
                .map(|(record, user)| Held { record, user })
                .collect());
        }
        let filter = if below {
            NameFilter::Subtree(name.clone())
        } else {
            NameFilter::Exact(name.clone())
        };
        let mut query = RecordQuery {
            name: Some(filter),
            ..RecordQuery::default()
        };
        let mut out = Vec::new();
        loop {
            let page = self
                .state
                .writer
                .records(query.clone())
                .await
                .map_err(|e| Text::from(ApiError::from_write(e, |_| String::new())))?;
            out.extend(page.records.into_iter().map(|zoned| Held {
                record: zoned.record,
                user: None,
            }));
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// containerdns's rule: with a user given, a name whose records belong to
    /// anyone else (or to nobody) is not this user's to change.
    pub(crate) fn check_owner(&self, held: &[Held]) -> Result<(), Text> {
        match self.user() {
            Some(user) if held.iter().any(|h| h.user.as_deref() != Some(user)) => {
                Err(Refusal::UserNameNotMatch.answer())
            }
            _ => Ok(()),
        }
    }

    /// The records a user given may see: theirs.
    pub(crate) fn visible(&self, held: Vec<Held>) -> Vec<Held> {
        match self.user() {
            Some(user) => held
                .into_iter()
                .filter(|h| h.user.as_deref() == Some(user))
                .collect(),
            None => held,
        }
    }
}

/// An address from a body (IPv4, or in ferrodns IPv6 too).
pub(crate) fn address(text: &str) -> Result<IpAddr, Text> {
    text.trim().parse().map_err(|_| Refusal::NotIpAddr.answer())
}
