//! PowerDNS's remote-backend protocol, as far as a poller needs it (sans-IO):
//! the three requests it sends and the decoding of their replies.
//!
//! Requests are one JSON object per line, `{"method":…,"parameters":{…}}`;
//! replies are one JSON object per line, `{"result":…,"log":[…]}`, where a
//! `result` of `false` means the call failed. Only `initialize`, `getAllDomains`
//! and `list` are ever sent: the OpenSVC agent answers nothing at all to a method
//! it does not know (the caller would only wait for its timeout), and it reads a
//! request with one 1,024-byte read, so a request is never longer
//! ([`MAX_REQUEST_LEN`], newline included).
//!
//! A reply is untrusted. It is decoded in one pass with a size the caller has
//! already bounded; each element of a `getAllDomains` or `list` result is decoded
//! on its own, so one bad record is an `Err` in its place, named, and the rest
//! of the reply stands. Anything else (not JSON, no `result`, a result of the
//! wrong shape, `false`) fails the whole call, and the caller keeps what it had.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};

/// Longest request, newline included: the OpenSVC agent's read buffer.
pub const MAX_REQUEST_LEN: usize = 1024;
/// Longest TTL taken (RFC 2181 §8).
const MAX_TTL: u64 = 0x7fff_ffff;
/// How much of a bad element is quoted in its error.
const QUOTED: usize = 120;

/// A request the poller sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `initialize`, with the connection string's parameters (PowerDNS sends
    /// them; the agent ignores them).
    Initialize { path: &'a str, timeout_ms: u64 },
    /// `getAllDomains`: the zones the backend serves.
    GetAllDomains,
    /// `list` of one zone, named as `getAllDomains` gave it with a trailing dot.
    List { zonename: &'a str },
}

/// A request that cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request would take {0} bytes, over the backend's {MAX_REQUEST_LEN}-byte read")]
pub struct RequestTooLong(pub usize);

impl Request<'_> {
    /// The method's name, for logs.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Initialize { .. } => "initialize",
            Request::GetAllDomains => "getAllDomains",
            Request::List { .. } => "list",
        }
    }

    /// The request line, newline included.
    pub fn encode(&self) -> Result<Vec<u8>, RequestTooLong> {
        let parameters = match self {
            Request::Initialize { path, timeout_ms } => {
                json!({"path": path, "timeout": timeout_ms.to_string()})
            }
            Request::GetAllDomains => json!({"include_disabled": false}),
            Request::List { zonename } => json!({"zonename": zonename, "domain_id": -1}),
        };
        let mut line = json!({"method": self.method(), "parameters": parameters})
            .to_string()
            .into_bytes();
        line.push(b'\n');
        if line.len() > MAX_REQUEST_LEN {
            return Err(RequestTooLong(line.len()));
        }
        Ok(line)
    }
}

/// Why a reply does not answer the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("not a reply: {0}")]
    Malformed(String),
    #[error("the backend says the call failed{}", failure_detail(.0))]
    Failed(Option<String>),
    #[error("the result is {found}, expected {expected}")]
    Unexpected {
        found: &'static str,
        expected: &'static str,
    },
}

fn failure_detail(error: &Option<String>) -> String {
    error
        .as_deref()
        .map(|e| format!(": {}", quote(e)))
        .unwrap_or_default()
}

/// A decoded reply: the result and the log lines the backend added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<T> {
    pub result: T,
    pub log: Vec<String>,
}

/// One element of a result that could not be read, quoted, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{element}: {reason}")]
pub struct BadElement {
    pub element: String,
    pub reason: String,
}

/// One record of a `list` result, as the backend wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub qtype: String,
    pub qname: String,
    pub content: String,
    pub ttl: u32,
}

/// A list result: each element read, or why not.
pub type Elements<T> = Vec<Result<T, BadElement>>;

/// The reply to `initialize`: `true`.
pub fn decode_initialize(line: &[u8]) -> Result<Reply<()>, ReplyError> {
    let reply = decode::<Entry>(line)?;
    match reply.result {
        Outcome::True => Ok(Reply {
            result: (),
            log: reply.log,
        }),
        other => Err(other.unexpected("true")),
    }
}

/// The reply to `getAllDomains`: each zone's name as the backend wrote it
/// (`"cluster1"`: often without the trailing dot).
pub fn decode_domains(line: &[u8]) -> Result<Reply<Elements<String>>, ReplyError> {
    decode_list_of::<Domain>(line).map(|reply| Reply {
        result: reply
            .result
            .into_iter()
            .map(|domain| domain.map(|d| d.0))
            .collect(),
        log: reply.log,
    })
}

/// The reply to `list`: the zone's records.
pub fn decode_list(line: &[u8]) -> Result<Reply<Elements<Entry>>, ReplyError> {
    decode_list_of::<Entry>(line)
}

fn decode_list_of<T: FromElement>(line: &[u8]) -> Result<Reply<Elements<T>>, ReplyError> {
    let reply = decode::<T>(line)?;
    match reply.result {
        Outcome::List(elements) => Ok(Reply {
            result: elements,
            log: reply.log,
        }),
        other => Err(other.unexpected("an array")),
    }
}

/// What an element of a list result must be.
trait FromElement: Sized {
    fn from_element(value: &Value) -> Result<Self, String>;
}

/// `{"zone": "cluster1", ...}`.
struct Domain(String);

impl FromElement for Domain {
    fn from_element(value: &Value) -> Result<Self, String> {
        match value.get("zone") {
            Some(Value::String(zone)) if !zone.is_empty() => Ok(Domain(zone.clone())),
            _ => Err("expected an object with a \"zone\" string".into()),
        }
    }
}

impl FromElement for Entry {
    fn from_element(value: &Value) -> Result<Self, String> {
        let text = |key: &str| match value.get(key) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(format!("\"{key}\" is not a string")),
            None => Err(format!("no \"{key}\"")),
        };
        let ttl = match value.get("ttl") {
            Some(Value::Number(n)) => n.as_u64(),
            // Some backends write numbers as strings.
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            Some(_) => None,
            None => return Err("no \"ttl\"".into()),
        }
        .filter(|ttl| *ttl <= MAX_TTL)
        .ok_or_else(|| format!("\"ttl\" is not a number from 0 to {MAX_TTL}"))?;
        Ok(Entry {
            qtype: text("qtype")?,
            qname: text("qname")?,
            content: text("content")?,
            // At most MAX_TTL.
            ttl: ttl as u32,
        })
    }
}

/// A reply's `result`.
enum Outcome<T> {
    True,
    False,
    List(Elements<T>),
    Other(&'static str),
}

impl<T> Outcome<T> {
    fn unexpected(self, expected: &'static str) -> ReplyError {
        let found = match self {
            Outcome::True => "true",
            Outcome::False => "false",
            Outcome::List(_) => "an array",
            Outcome::Other(found) => found,
        };
        ReplyError::Unexpected { found, expected }
    }
}

/// A whole reply before its result is checked.
struct Decoded<T> {
    result: Outcome<T>,
    log: Vec<String>,
}

fn decode<T: FromElement>(line: &[u8]) -> Result<Decoded<T>, ReplyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let (result, log, error) = ReplyVisitor::<T>(std::marker::PhantomData)
        .deserialize(&mut deserializer)
        .map_err(|e| ReplyError::Malformed(e.to_string()))?;
    deserializer
        .end()
        .map_err(|e| ReplyError::Malformed(e.to_string()))?;
    let result = result.ok_or_else(|| ReplyError::Malformed("no \"result\"".into()))?;
    if let Outcome::False = result {
        return Err(ReplyError::Failed(error));
    }
    Ok(Decoded { result, log })
}

/// Reads the reply object: `result`, `log` (strings kept, the rest dropped),
/// `error` (a string, for the failure message); other keys skipped.
struct ReplyVisitor<T>(std::marker::PhantomData<T>);

type ReplyParts<T> = (Option<Outcome<T>>, Vec<String>, Option<String>);

impl<'de, T: FromElement> DeserializeSeed<'de> for ReplyVisitor<T> {
    type Value = ReplyParts<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: FromElement> Visitor<'de> for ReplyVisitor<T> {
    type Value = ReplyParts<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a \"result\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut result, mut log, mut error) = (None, Vec::new(), None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "result" if result.is_none() => {
                    result = Some(map.next_value_seed(OutcomeSeed::<T>(std::marker::PhantomData))?);
                }
                "result" => return Err(de::Error::duplicate_field("result")),
                "log" => {
                    if let Value::Array(lines) = map.next_value::<Value>()? {
                        log = lines
                            .into_iter()
                            .filter_map(|line| line.as_str().map(quote))
                            .collect();
                    }
                }
                "error" => {
                    error = map.next_value::<Value>()?.as_str().map(str::to_owned);
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok((result, log, error))
    }
}

/// Reads a `result`: a boolean, an array (each element on its own), or
/// something else (named).
struct OutcomeSeed<T>(std::marker::PhantomData<T>);

impl<'de, T: FromElement> DeserializeSeed<'de> for OutcomeSeed<T> {
    type Value = Outcome<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: FromElement> Visitor<'de> for OutcomeSeed<T> {
    type Value = Outcome<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a result")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(if value { Outcome::True } else { Outcome::False })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(value) = seq.next_element::<Value>()? {
            // The element is shown only when it is bad.
            elements.push(T::from_element(&value).map_err(|reason| BadElement {
                element: quote(&value.to_string()),
                reason,
            }));
        }
        Ok(Outcome::List(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Outcome::Other("an object"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Outcome::Other("null"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Outcome::Other("a string"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Outcome::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Outcome::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Outcome::Other("a number"))
    }
}

/// Text from the backend, cut to [`QUOTED`] characters for a log line.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_single_lines_within_the_agents_read() {
        let list = Request::List {
            zonename: "cluster1.",
        };
        assert_eq!(
            list.encode().as_deref(),
            Ok(&b"{\"method\":\"list\",\"parameters\":{\"domain_id\":-1,\"zonename\":\"cluster1.\"}}\n"[..])
        );
        let init = Request::Initialize {
            path: "/var/lib/opensvc/dns/pdns.sock",
            timeout_ms: 2000,
        };
        let line = init.encode().unwrap_or_default();
        assert!(line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'));
        let long = "x".repeat(1000);
        let too_long = Request::List { zonename: &long };
        assert!(matches!(too_long.encode(), Err(RequestTooLong(n)) if n > MAX_REQUEST_LEN));
    }

    #[test]
    fn list_replies_keep_good_records_and_name_bad_ones() {
        let line = br#"{"result":[
            {"qtype":"SOA","qname":"cluster1.","content":"dns.cluster1. contact@opensvc.com 1 7200 3600 432000 86400","ttl":60,"domain_id":-1},
            {"qtype":"A","qname":"web.ns1.svc.cluster1.","content":"10.0.0.1","ttl":"60"},
            {"qtype":"A","qname":"bad.cluster1.","content":"10.0.0.2","ttl":-5},
            {"qtype":"A","content":"10.0.0.3","ttl":60},
            7
        ],"log":["hello", 3]}"#;
        let reply = decode_list(line).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(reply.log, ["hello"]);
        assert_eq!(reply.result.len(), 5);
        assert_eq!(
            reply.result[1],
            Ok(Entry {
                qtype: "A".into(),
                qname: "web.ns1.svc.cluster1.".into(),
                content: "10.0.0.1".into(),
                ttl: 60,
            })
        );
        let errors: Vec<String> = reply
            .result
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(errors.len(), 3);
        assert!(
            errors[0].contains("bad.cluster1.") && errors[0].contains("ttl"),
            "{errors:?}"
        );
        assert!(errors[1].contains("qname"), "{errors:?}");
    }

    #[test]
    fn a_reply_that_does_not_answer_fails_the_call() {
        let failed = decode_list(br#"{"result":false,"error":"no such zone"}"#);
        assert_eq!(failed, Err(ReplyError::Failed(Some("no such zone".into()))));
        for bad in [
            &b""[..],
            b"garbage",
            b"{\"result\":[]} trailing",
            b"{\"log\":[]}",
            b"[1,2]",
            b"{\"result\":[],\"result\":[]}",
        ] {
            assert!(
                matches!(decode_list(bad), Err(ReplyError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            decode_list(b"{\"result\":null}").err(),
            Some(ReplyError::Unexpected {
                found: "null",
                expected: "an array"
            })
        );
        assert!(decode_list(b"{\"result\":true}").is_err());
        assert!(decode_initialize(b"{\"result\":true}").is_ok());
        assert!(decode_initialize(b"{\"result\":[]}").is_err());
    }

    #[test]
    fn domain_replies_give_the_zone_names_as_written() {
        let reply = decode_domains(br#"{"result":[{"zone":"cluster1"},{"zone":""},{"id":1}]}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(reply.result[0], Ok("cluster1".to_owned()));
        assert!(reply.result[1].is_err() && reply.result[2].is_err());
    }
}
