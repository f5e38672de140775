//! Writing the monitor-status entries, `/containerdns/monitor/status/<ip>`:
//! `{"status":"UP","ports":[..],"domains":[..],"cluster":..}`.
//!
//! Two writers touch an entry, each only its own fields, and every other field
//! is kept as it was read (containerdns's scanner rewrites the whole value from
//! a struct of its own and so loses `domains` and `cluster`; ferrodns does not):
//!
//! - the REST API's containerdns routes, as containerdns's API does: an A or SRV
//!   write adds the name to its address's `domains` (creating the entry
//!   `{"status":"UP","domains":[name]}`, so the health checker sees the new
//!   backend at once); a delete takes the name out again, and the entry goes
//!   with its last name;
//! - the health checker ([`crate::health`]): `status`, and `checker` and
//!   `checked`, who wrote that verdict and when.
//!
//! Every write is a read-modify-write in one etcd transaction that compares
//! the key's `mod_revision` with the one read (0: the key did not exist), so
//! two writers never undo each other: the loser reads again and edits the new
//! value, up to [`ATTEMPTS`] times.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::members::Members;
use super::sync::SyncError;
use crate::config::EtcdSettings;
use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp};
use ferrodns_dataplane::name::Name;
use serde_json::{Map, Value, json};

/// Reads and writes one edit may make before giving up on a busy key.
pub const ATTEMPTS: usize = 8;

/// A status value as a JSON object.
pub(crate) type StatusValue = Map<String, Value>;

/// What an edit does with the value it was given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Edit {
    /// Nothing to write.
    Keep,
    Put(StatusValue),
    Delete,
}

/// A status entry as read: its value (None: no key, or not a JSON object)
/// and the revision of its last change (0: no key).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Read {
    pub(crate) value: Option<StatusValue>,
    pub(crate) mod_revision: i64,
}

/// The JSON object `bytes` hold, if they hold one.
pub(crate) fn object(bytes: &[u8]) -> Option<StatusValue> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Applies `edit` to `key` (whose value was `read`, if the caller has just
/// listed it): compare, write, and on a lost compare read again and edit
/// again. True when something was written.
pub(crate) async fn update(
    kv: &mut KvClient,
    key: &str,
    timeout: Duration,
    mut read: Option<Read>,
    mut edit: impl FnMut(Option<&StatusValue>) -> Edit,
) -> Result<bool, SyncError> {
    for _ in 0..ATTEMPTS {
        let current = match read.take() {
            Some(current) => current,
            None => read_key(kv, key, timeout).await?,
        };
        let op = match edit(current.value.as_ref()) {
            Edit::Keep => return Ok(false),
            Edit::Put(value) => TxnOp::put(key, Value::Object(value).to_string(), None),
            Edit::Delete => TxnOp::delete(key, None),
        };
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key,
                CompareOp::Equal,
                current.mod_revision,
            )])
            .and_then([op]);
        let committed = tokio::time::timeout(timeout, kv.txn(txn))
            .await
            .map_err(|_| SyncError::Timeout(timeout))??;
        if committed.succeeded() {
            return Ok(true);
        }
    }
    Err(SyncError::Build(format!(
        "{key} kept changing; gave up after {ATTEMPTS} attempts"
    )))
}

async fn read_key(kv: &mut KvClient, key: &str, timeout: Duration) -> Result<Read, SyncError> {
    let response = tokio::time::timeout(timeout, kv.get(key, None))
        .await
        .map_err(|_| SyncError::Timeout(timeout))??;
    Ok(match response.kvs().first() {
        Some(found) => Read {
            value: object(found.value()),
            mod_revision: found.mod_revision(),
        },
        None => Read {
            value: None,
            mod_revision: 0,
        },
    })
}

/// The edit that lists `domain` in an address's `domains`: a new entry is
/// `{"status":"UP","domains":[domain]}`; a value that is not a JSON object is
/// replaced by one.
pub(crate) fn add_domain(domain: &str) -> impl FnMut(Option<&StatusValue>) -> Edit + '_ {
    move |value| {
        let Some(value) = value else {
            let mut fresh = StatusValue::new();
            fresh.insert("status".into(), json!("UP"));
            fresh.insert("domains".into(), json!([domain]));
            return Edit::Put(fresh);
        };
        let mut value = value.clone();
        let domains = value
            .entry("domains")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !domains.is_array() {
            *domains = Value::Array(Vec::new());
        }
        match domains.as_array_mut() {
            Some(list) if !list.iter().any(|d| d.as_str() == Some(domain)) => {
                list.push(json!(domain));
                Edit::Put(value)
            }
            _ => Edit::Keep,
        }
    }
}

/// The edit that takes `domain` out of an address's `domains`, deleting the
/// entry when it was the last.
pub(crate) fn remove_domain(domain: &str) -> impl FnMut(Option<&StatusValue>) -> Edit + '_ {
    move |value| {
        let Some(value) = value else {
            return Edit::Keep;
        };
        let mut value = value.clone();
        let Some(list) = value.get_mut("domains").and_then(Value::as_array_mut) else {
            return Edit::Keep;
        };
        let before = list.len();
        list.retain(|d| d.as_str() != Some(domain));
        match list.len() {
            n if n == before => Edit::Keep,
            0 => Edit::Delete,
            _ => Edit::Put(value),
        }
    }
}

/// The REST API's side: lists and unlists the names of A and SRV records in
/// their addresses' status entries, on a live member of the cluster.
#[derive(Clone)]
pub struct MonitorStatus {
    members: Arc<Members>,
    /// The health prefix, ending in `/`.
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for MonitorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorStatus")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl MonitorStatus {
    /// None when the health layout is off (`etcd.health_prefix = ""`).
    pub fn new(settings: &EtcdSettings) -> Option<MonitorStatus> {
        Some(MonitorStatus {
            prefix: settings.layouts.health.clone()?,
            members: Arc::new(Members::new(settings)),
            timeout: settings.timeout,
        })
    }

    /// Lists `name` in the status entry of each of `ips`.
    pub async fn add(&self, ips: &[IpAddr], name: &Name) -> Result<(), SyncError> {
        let domain = name.to_string();
        for ip in ips {
            self.edit(*ip, add_domain(&domain)).await?;
        }
        Ok(())
    }

    /// Takes `name` out of the status entry of each of `ips`.
    pub async fn remove(&self, ips: &[IpAddr], name: &Name) -> Result<(), SyncError> {
        let domain = name.to_string();
        for ip in ips {
            self.edit(*ip, remove_domain(&domain)).await?;
        }
        Ok(())
    }

    async fn edit(
        &self,
        ip: IpAddr,
        edit: impl FnMut(Option<&StatusValue>) -> Edit,
    ) -> Result<bool, SyncError> {
        let key = format!("{}{ip}", self.prefix);
        let mut kv = self.members.live(&key).await?.kv_client();
        update(&mut kv, &key, self.timeout, None, edit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> StatusValue {
        object(text.as_bytes()).unwrap_or_default()
    }

    #[test]
    fn adding_a_domain_keeps_every_other_field() {
        let mut add = add_domain("web.example.com.");
        assert_eq!(
            add(None),
            Edit::Put(value(r#"{"status":"UP","domains":["web.example.com."]}"#))
        );
        let current = value(
            r#"{"status":"DOWN","ports":["80"],"cluster":"c1","domains":["a.example.com."]}"#,
        );
        assert_eq!(
            add(Some(&current)),
            Edit::Put(value(
                r#"{"status":"DOWN","ports":["80"],"cluster":"c1","domains":["a.example.com.","web.example.com."]}"#
            ))
        );
        let listed = value(r#"{"status":"UP","domains":["web.example.com."]}"#);
        assert_eq!(add(Some(&listed)), Edit::Keep);
    }

    #[test]
    fn removing_the_last_domain_deletes_the_entry() {
        let mut remove = remove_domain("web.example.com.");
        let two = value(r#"{"status":"UP","domains":["web.example.com.","b.example.com."]}"#);
        assert_eq!(
            remove(Some(&two)),
            Edit::Put(value(r#"{"status":"UP","domains":["b.example.com."]}"#))
        );
        let one = value(r#"{"status":"UP","domains":["web.example.com."]}"#);
        assert_eq!(remove(Some(&one)), Edit::Delete);
        assert_eq!(remove(None), Edit::Keep);
        let other = value(r#"{"status":"UP","domains":["b.example.com."]}"#);
        assert_eq!(remove(Some(&other)), Edit::Keep);
    }
}
