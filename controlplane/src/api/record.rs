//! `/v1` records as JSON, in and out, and the checks that name the bad field.
//!
//! A record on the wire is
//! `{"zone":"svc.example.","name":"web.svc.example.","type":"A","ttl":30,"data":"10.0.0.1"}`.
//! Input is read from a [`serde_json::Value`] field by field rather than through a
//! derived `Deserialize`, so every failure names the exact field
//! (`records[3].ttl`) as docs/api.md promises. `data` is parsed with the zone-file
//! parser ([`parse_record_line`]), so the API accepts exactly what a zone file
//! does, relative names taken as absolute.

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::records::ZonedRecord;
use crate::records::rules::quote;
use crate::zonefile::parse_record_line;

/// TTL of an input record that gives none.
pub(crate) const DEFAULT_TTL: u32 = 30;
/// Longest TTL (RFC 2181 §8).
pub(crate) const MAX_TTL: u64 = i32::MAX as u64;

/// The types the API reads and writes.
pub(crate) const TYPES: [RType; 9] = [
    RType::A,
    RType::AAAA,
    RType::CNAME,
    RType::SRV,
    RType::TXT,
    RType::PTR,
    RType::MX,
    RType::NS,
    RType::SOA,
];

/// The JSON of one listed record.
pub(crate) fn to_json(zoned: &ZonedRecord) -> Value {
    let record = &zoned.record;
    json!({
        "zone": zoned.zone.to_string(),
        "name": record.name.to_string(),
        "type": record.rtype().to_string(),
        "ttl": record.ttl,
        "data": record.data.to_string(),
    })
}

/// `"{prefix}{field}"`: a field of the object at `prefix` (`""` or `"records[3]."`).
fn at(prefix: &str, field: &str) -> String {
    format!("{prefix}{field}")
}

/// The object a record is read from.
pub(crate) fn object<'a>(
    value: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| ApiError::bad(field, "expected a JSON object"))
}

/// A name, absolute (a missing trailing dot is added).
pub(crate) fn name(text: &str, field: &str) -> Result<Name, ApiError> {
    Name::from_ascii(text).map_err(|e| ApiError::bad(field, format!("bad name {text:?}: {e}")))
}

/// A type the API serves.
pub(crate) fn rtype(text: &str, field: &str) -> Result<RType, ApiError> {
    RType::from_mnemonic(&text.to_ascii_uppercase())
        .filter(|t| TYPES.contains(t))
        .ok_or_else(|| {
            ApiError::bad(
                field,
                format!(
                    "type must be one of A, AAAA, CNAME, SRV, TXT, PTR, MX, NS, SOA, not {text:?}"
                ),
            )
        })
}

/// The optional `ttl` of `object`, [`DEFAULT_TTL`] when missing.
pub(crate) fn ttl(object: &Map<String, Value>, field: &str) -> Result<u32, ApiError> {
    match object.get("ttl") {
        None | Some(Value::Null) => Ok(DEFAULT_TTL),
        Some(value) => match value.as_u64() {
            Some(ttl) if ttl <= MAX_TTL => Ok(u32::try_from(ttl).unwrap_or(u32::MAX)),
            Some(_) => Err(ApiError::bad(
                field,
                format!("ttl must be at most {MAX_TTL}"),
            )),
            None => Err(ApiError::bad(
                field,
                "ttl must be a whole number of seconds, 0 to 2147483647",
            )),
        },
    }
}

/// A string field of `object`.
pub(crate) fn string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a str, ApiError> {
    match object.get(key) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(ApiError::bad(field, format!("{key} must be a string"))),
        None => Err(ApiError::bad(field, format!("{key} is required"))),
    }
}

/// Rdata of type `rtype` from its presentation text.
pub(crate) fn rdata(
    owner: &Name,
    rtype: RType,
    ttl: u32,
    text: &str,
    field: &str,
) -> Result<RData, ApiError> {
    if text.trim().is_empty() || text.contains(['\n', '\r']) {
        return Err(ApiError::bad(field, "data must be one line of rdata"));
    }
    let line = format!("{owner} {ttl} IN {rtype} {text}");
    parse_record_line(&line, Some(&Name::root()), ttl)
        .map(|record| record.data)
        .map_err(|e| {
            let text = quote(text);
            ApiError::bad(field, format!("bad {rtype} data {text:?}: {}", e.kind))
        })
}

/// One input record; `prefix` locates the object in the request (`""`,
/// `"records[3]."`).
pub(crate) fn from_json(value: &Value, prefix: &str) -> Result<Record, ApiError> {
    let whole = prefix.strip_suffix('.').unwrap_or("record");
    let object = object(value, whole)?;
    let owner = name(
        string(object, "name", &at(prefix, "name"))?,
        &at(prefix, "name"),
    )?;
    let rtype = rtype(
        string(object, "type", &at(prefix, "type"))?,
        &at(prefix, "type"),
    )?;
    let ttl = ttl(object, &at(prefix, "ttl"))?;
    let data = string(object, "data", &at(prefix, "data"))?;
    let data = rdata(&owner, rtype, ttl, data, &at(prefix, "data"))?;
    Ok(Record::new(owner, ttl, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(value: Value) -> Option<String> {
        from_json(&value, "records[2].").err().and_then(|e| e.field)
    }

    #[test]
    fn each_bad_field_is_named() {
        let good = json!({"name":"web.svc.example","type":"a","data":"10.0.0.1"});
        let record = from_json(&good, "").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(record.to_string(), "web.svc.example. 30 IN A 10.0.0.1");
        assert_eq!(
            fails(json!({"name":"web..x","type":"A","data":"10.0.0.1"})).as_deref(),
            Some("records[2].name")
        );
        assert_eq!(
            fails(json!({"name":"web.x","type":"HINFO","data":"a b"})).as_deref(),
            Some("records[2].type")
        );
        assert_eq!(
            fails(json!({"name":"web.x","type":"A","ttl":2147483648u64,"data":"10.0.0.1"}))
                .as_deref(),
            Some("records[2].ttl")
        );
        assert_eq!(
            fails(json!({"name":"web.x","type":"A","data":"10.0.0.300"})).as_deref(),
            Some("records[2].data")
        );
        assert_eq!(fails(json!([1])).as_deref(), Some("records[2]"));
    }

    #[test]
    fn rdata_in_presentation_format() {
        let srv = json!({"name":"_http._tcp.x.","type":"SRV","data":"10 5 80 target.x"});
        let record = from_json(&srv, "").unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(record.data.to_string(), "10 5 80 target.x.");
        let txt = json!({"name":"x.","type":"TXT","data":"\"v=spf1 -all\""});
        assert!(from_json(&txt, "").is_ok());
    }
}
