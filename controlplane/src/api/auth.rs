//! The API token: where it comes from, and the checks in front of the routes.
//!
//! The token is the first line of `--api-token-file` (or `api.token_file`), else
//! the environment variable `FERRODNS_API_TOKEN`; the API does not start without
//! one. The checks are middleware, so they run before any handler extracts the
//! body: a request with a missing or wrong token is answered `401` without its
//! body being read. Tokens are compared with [`subtle`]'s constant-time equality
//! over the presented token's whole length (the secret repeated to that length,
//! and the lengths compared in constant time too), so the time to refuse says
//! nothing about how much of the token, nor how long a token, was right.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The environment variable holding the token when no file is given.
pub const TOKEN_ENV: &str = "FERRODNS_API_TOKEN";

/// The secret every authenticated request must carry.
pub(crate) struct Token(Box<[u8]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// Reads the token from `file` (its first line), else from [`TOKEN_ENV`].
    pub(crate) fn load(file: Option<&Path>) -> Result<Token, String> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the API token file {}: {e}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            None => std::env::var(TOKEN_ENV).map_err(|_| {
                format!(
                    "the API needs a token: write it on the first line of a file named by \
                     --api-token-file (api.token_file), or set {TOKEN_ENV}"
                )
            })?,
        };
        if text.is_empty() {
            return Err(match file {
                Some(path) => format!(
                    "the API token file {} is empty: write the token on its first line",
                    path.display()
                ),
                None => format!("{TOKEN_ENV} is empty: set it to the token"),
            });
        }
        Ok(Token(text.into_bytes().into_boxed_slice()))
    }

    /// Constant-time equality with what a request presented. `subtle`'s slice
    /// equality returns at once on a length mismatch, which would time the
    /// token's length; here the work depends on the presented length only.
    fn accepts(&self, presented: &[u8]) -> bool {
        let secret: Vec<u8> = self
            .0
            .iter()
            .copied()
            .cycle()
            .take(presented.len())
            .collect();
        let same_bytes = secret.ct_eq(presented);
        let same_length = (self.0.len() as u64).ct_eq(&(presented.len() as u64));
        (same_bytes & same_length).into()
    }
}

/// `/v1`: `Authorization: Bearer <token>`, else `401` in the JSON error shape.
pub(crate) async fn bearer(
    State(token): State<Arc<Token>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(presented) if token.accepts(presented) => next.run(request).await,
        _ => ApiError::status(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send the server's API token (the first line of its \
             api.token_file, or FERRODNS_API_TOKEN) as `Authorization: Bearer <token>`",
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// `/containerdns/api`: `?token=<token>`, else `401 ERR, unauthorized`.
pub(crate) async fn query_token(
    State(token): State<Arc<Token>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(query)| query.token);
    match presented {
        Some(presented) if token.accepts(presented.as_bytes()) => next.run(request).await,
        _ => (StatusCode::UNAUTHORIZED, "ERR, unauthorized").into_response(),
    }
}

/// containerdns's stats routes: `?token=<token>` (as its stats server takes
/// its `statsServerAuthToken`) or `Authorization: Bearer <token>`, else `401
/// ERR, unauthorized`.
pub(crate) async fn query_token_or_bearer(
    State(token): State<Arc<Token>>,
    request: Request,
    next: Next,
) -> Response {
    let in_query = Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(query)| query.token)
        .is_some_and(|presented| token.accepts(presented.as_bytes()));
    let in_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|presented| token.accepts(presented));
    if in_query || in_header {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, "ERR, unauthorized").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_is_accepted() {
        let token = Token(b"s3cret".to_vec().into_boxed_slice());
        assert!(token.accepts(b"s3cret"));
        for wrong in [
            &b""[..],
            b"s3cre",
            b"s3crets",
            b"s3cret\n",
            b"s3cret s3cret",
            b"S3cret",
            b"s3crets3cret",
        ] {
            assert!(!token.accepts(wrong), "{wrong:?}");
        }
    }
}
