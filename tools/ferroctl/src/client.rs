//! One blocking HTTP client for the `/v1` API.
//!
//! Every answer is read whole and parsed as JSON. A 2xx answer is the command's
//! result; any other status becomes [`ClientError::Server`] carrying the API's own
//! `error` and `field` exactly as it sent them (or the raw body when it was not
//! the API's JSON error), so the user sees what the server said. A request that
//! never got an answer (refused, reset, TLS failure, timeout) is
//! [`ClientError::Connection`]: the two have different exit codes.

use std::fmt;
use std::fs;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::cli::Connection;

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The server answered, with an error.
    #[error("{}", server_message(*status, error, field.as_deref()))]
    Server {
        status: u16,
        error: String,
        field: Option<String>,
    },
    /// No answer came back.
    #[error("cannot reach the API at {url}: {reason}")]
    Connection { url: String, reason: String },
    /// The answer was not what the API sends.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// A setting of ours is unusable (the CA file, the server URL).
    #[error("{0}")]
    Setup(String),
}

fn server_message(status: u16, error: &str, field: Option<&str>) -> String {
    match (status, field) {
        (401, _) => format!(
            "server answered 401: {error}; give ferroctl the server's API token with --token \
             or FERRODNS_API_TOKEN"
        ),
        (_, Some(field)) => format!("server answered {status}: {error} (field {field})"),
        (_, None) => format!("server answered {status}: {error}"),
    }
}

/// The API at one base URL, with the token when one is given.
pub(crate) struct ApiClient {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// A request method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl ApiClient {
    pub(crate) fn new(connection: &Connection) -> Result<ApiClient, ClientError> {
        let base = connection.server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "--server must be an http:// or https:// URL, not {base:?}"
            )));
        }
        let mut tls = TlsConfig::builder();
        if let Some(path) = &connection.ca_cert {
            let pem = fs::read(path).map_err(|e| {
                ClientError::Setup(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                ClientError::Setup(format!("{} holds no PEM certificate: {e}", path.display()))
            })?;
            tls = tls.root_certs(RootCerts::Specific(Arc::new(vec![certificate])));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(ApiClient {
            agent,
            base,
            token: connection.token.clone(),
        })
    }

    /// Sends one request to `path` (already percent-encoded) with `query`
    /// parameters and an optional JSON body; the answer's JSON.
    pub(crate) fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let answer = match method {
            Method::Get | Method::Delete => {
                let mut request = if method == Method::Get {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                for (key, value) in query {
                    request = request.query(*key, value);
                }
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            Method::Post | Method::Put => {
                let mut request = if method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                for (key, value) in query {
                    request = request.query(*key, value);
                }
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                let text = body.map_or_else(String::new, Value::to_string);
                request
                    .header("Content-Type", "application/json")
                    .send(text)
            }
        };
        let mut answer = answer.map_err(|e| ClientError::Connection {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Connection {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        interpret(&url, status, &text)
    }
}

/// Turns a status and body into the command's result or the server's error.
fn interpret(url: &str, status: u16, text: &str) -> Result<Value, ClientError> {
    let json: Option<Value> = serde_json::from_str(text).ok();
    if (200..300).contains(&status) {
        return json.ok_or_else(|| ClientError::Protocol {
            url: url.to_owned(),
            reason: format!("status {status} with a body that is not JSON: {text:?}"),
        });
    }
    let error = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
        .map_or_else(|| text.trim().to_owned(), str::to_owned);
    let field = json
        .as_ref()
        .and_then(|j| j.get("field"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Err(ClientError::Server {
        status,
        error,
        field,
    })
}

/// `segment` percent-encoded for one path segment: everything but the unreserved
/// characters of RFC 3986 (and `*`, which wildcard owner names carry) is escaped.
pub(crate) fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~*".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_is_shown_with_its_field() {
        let err = interpret(
            "u",
            400,
            r#"{"error":"ttl must be at most 2147483647","field":"records[3].ttl"}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "server answered 400: ttl must be at most 2147483647 (field records[3].ttl)"
        );
    }

    #[test]
    fn a_non_json_error_body_is_shown_as_it_came() {
        let err = interpret("u", 502, "bad gateway\n").unwrap_err();
        assert_eq!(err.to_string(), "server answered 502: bad gateway");
    }

    #[test]
    fn success_must_be_json() {
        assert!(matches!(
            interpret("u", 200, "OK"),
            Err(ClientError::Protocol { .. })
        ));
        assert_eq!(
            interpret("u", 201, r#"{"written":1}"#).unwrap()["written"],
            1
        );
    }

    #[test]
    fn path_segments_escape_what_a_url_path_cannot_hold() {
        assert_eq!(path_segment("*.web.svc.example."), "*.web.svc.example.");
        assert_eq!(path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
