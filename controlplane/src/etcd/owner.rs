//! containerdns's `user` field: who owns a record.
//!
//! containerdns's API writes `"user":"<name>"` into every record value it
//! writes, from its `?user=` parameter, and refuses to touch a name whose keys
//! name another user. ferrodns's containerdns routes keep the rule when a
//! `user` is given (docs/api.md): the etcd writer stamps the values it writes
//! (`stamp`), and the routes read the owners of a name's keys
//! ([`owned_records`]).

use std::collections::BTreeMap;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;
use serde_json::{Value, json};

use super::records::EtcdRecords;

/// The `user` a record value names, if any.
pub fn user_of(value: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(map)) => map
            .get("user")?
            .as_str()
            .filter(|user| !user.is_empty())
            .map(str::to_owned),
        _ => None,
    }
}

/// Marks every value `writes` puts as `user`'s.
pub(crate) fn stamp(writes: &mut BTreeMap<Vec<u8>, Option<String>>, user: &str) {
    for value in writes.values_mut().flatten() {
        if let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(value) {
            map.insert("user".into(), json!(user));
            *value = Value::Object(map).to_string();
        }
    }
}

/// The records etcd gives `name` (and every name below it when `below`), each
/// with the `user` of the key that gives it, as stored (before SRV weights are
/// shared out or CNAME conflicts settled).
pub fn owned_records(
    index: &EtcdRecords,
    name: &Name,
    below: bool,
) -> Vec<(Record, Option<String>)> {
    let mut out = Vec::new();
    for owner in index.names_from(name) {
        if owner != name && !(below && owner.is_subdomain_of(name)) {
            break;
        }
        for (key, entries) in index.name_keys(owner) {
            let user = index.value(&key).and_then(user_of);
            out.extend(
                entries
                    .into_iter()
                    .filter(|entry| entry.record.name == *owner)
                    .map(|entry| (entry.record, user.clone())),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_and_stamped() {
        assert_eq!(
            user_of(br#"{"host":"10.0.0.1","type":"A","user":"alice"}"#).as_deref(),
            Some("alice")
        );
        assert_eq!(
            user_of(br#"{"host":"10.0.0.1","type":"A","user":""}"#),
            None
        );
        assert_eq!(user_of(br#"{"host":"10.0.0.1"}"#), None);
        let mut writes = BTreeMap::new();
        writes.insert(
            b"/k/1/".to_vec(),
            Some(r#"{"host":"10.0.0.1","type":"A"}"#.to_owned()),
        );
        writes.insert(b"/k/2/".to_vec(), None);
        stamp(&mut writes, "bob");
        let written = writes
            .get(&b"/k/1/"[..])
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(user_of(written.as_bytes()).as_deref(), Some("bob"));
        assert_eq!(
            writes.get(&b"/k/2/"[..]),
            Some(&None),
            "deletes stay deletes"
        );
    }
}
