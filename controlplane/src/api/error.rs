//! The `/v1` error answer: a status and `{"error": "...", "field": "..."|null}`.
//!
//! Every failure of a `/v1` route becomes one [`ApiError`]; [`ApiError::from_write`]
//! turns a [`WriteError`] of the record source into the status docs/api.md gives
//! it, naming the request field the failed change came from.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::records::WriteError;

/// A failed `/v1` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: String,
    /// The request field at fault (`"ttl"`, `"records[3].data"`), if one is.
    pub(crate) field: Option<String>,
}

impl ApiError {
    /// `400`: the request itself is wrong; `field` names what.
    pub(crate) fn bad(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field.into()),
        }
    }

    pub(crate) fn status(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
        }
    }

    /// `413`: the body is over `api.max_body_bytes`.
    pub(crate) fn too_large() -> ApiError {
        ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body is larger than the API accepts",
        )
    }

    /// The answer, with the connection closed after it: for a request whose
    /// body is left unread.
    pub(crate) fn closing(self) -> Response {
        let mut response = self.into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }

    /// `404`.
    pub(crate) fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::status(StatusCode::NOT_FOUND, error)
    }

    /// The answer for a failed write or read. `field_of` gives the request field
    /// of change number `n` of the batch (`"records[n]"` for a bulk import).
    pub(crate) fn from_write(error: WriteError, field_of: impl Fn(usize) -> String) -> ApiError {
        let message = error.to_string();
        match error {
            WriteError::Rejected { change, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                error: message,
                field: Some(field_of(change)),
            },
            WriteError::Conflict { change, .. } => ApiError {
                status: StatusCode::CONFLICT,
                error: message,
                field: Some(field_of(change)),
            },
            WriteError::NoSuchZone(_) => ApiError::not_found(message),
            WriteError::BadCursor(_) => ApiError::bad("cursor", message),
            WriteError::Unsupported(_) => ApiError::status(StatusCode::BAD_REQUEST, message),
            WriteError::Unavailable(_) => {
                ApiError::status(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            WriteError::Storage(_) => ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, message),
        }
    }

    /// The answer for a body that could not be read: `413` when it is over the
    /// cap.
    pub(crate) fn from_body(rejection: &BytesRejection) -> ApiError {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::status(status, rejection.body_text())
        }
    }
}

/// Longest error message an answer carries: a refused value is quoted, and a
/// request body may be a megabyte of it.
pub(crate) const MAX_ERROR_CHARS: usize = 512;

/// `message`, cut to [`MAX_ERROR_CHARS`] with a note of its length.
pub(crate) fn capped(message: String) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!(
            "{}… (error message cut at {MAX_ERROR_CHARS} of {} characters)",
            message.get(..cut).unwrap_or_default(),
            message.chars().count()
        ),
        None => message,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": capped(self.error), "field": self.field});
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_and_says_so() {
        let long = "x".repeat(70_000);
        let cut = capped(long);
        assert!(cut.chars().count() < MAX_ERROR_CHARS + 80, "{}", cut.len());
        assert!(cut.ends_with("(error message cut at 512 of 70000 characters)"));
        assert_eq!(capped("short".into()), "short");
    }
}
