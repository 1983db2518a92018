//! The JSON envelope's error side: `{"data": null, "errors": [{"error", "message"}]}`
//! with the HTTP status of docs/semantics.md section 8.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One entry of the envelope's `errors` array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The stable code (`BAD_REQUEST`, `INVALID_REQUEST` (the 400 of
    /// `POST /v1/memory/enable`), `AUTH_FAILURE`, `NOT_FOUND`, `CONFLICT`,
    /// `PAYLOAD_TOO_LARGE`, `REQUEST_TIMEOUT`, `UNSUPPORTED_MEDIA_TYPE`,
    /// `METHOD_NOT_ALLOWED`, `SERVICE_UNAVAILABLE`, `INTERNAL_ERROR`).
    #[schema(value_type = String)]
    pub error: &'static str,
    /// Words a caller can show. Never internal detail.
    pub message: String,
    /// The request field at fault, for `BAD_REQUEST` caused by one field (absent
    /// otherwise, never `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub field: Option<String>,
    /// For `NOT_FOUND` on a contact id that a merge took away: the id of the contact
    /// it was merged into, which lives on (absent otherwise, never `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = uuid::Uuid, required = false)]
    pub merged_into: Option<String>,
    /// For a `GET /v1/events` cursor refused as `after`: the number of the org's
    /// newest event, from which a reader continues after reading the contacts afresh
    /// (absent otherwise, never `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub latest: Option<u64>,
}

/// An error response: a status and one [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What the envelope carries.
    pub body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error,
                message: message.into(),
                field: None,
                merged_into: None,
                latest: None,
            },
        }
    }

    /// 400 `BAD_REQUEST` about `field`: the message is `field: reason`.
    pub fn bad_field(field: impl Into<String>, reason: impl AsRef<str>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", reason.as_ref());
        ApiError::bad_field_message(field, message)
    }

    /// 400 `BAD_REQUEST` about `field` with a whole `message` that names the field
    /// itself (`name is required`).
    pub fn bad_field_message(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
        e.body.field = Some(field.into());
        e
    }

    /// 400 `BAD_REQUEST` not tied to one field (a body that is not JSON at all).
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 401 `AUTH_FAILURE`: says nothing about why (missing, unknown or revoked key).
    pub fn unauthorized() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "AUTH_FAILURE", "Unauthorized")
    }

    /// 404 `NOT_FOUND` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed on this path",
        )
    }

    /// 413 `PAYLOAD_TOO_LARGE` for a body over `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body is larger than {limit} bytes"),
        )
    }

    /// 414 `URI_TOO_LONG`: a request URI over `limit` bytes (hyper's limit).
    pub fn uri_too_long(limit: usize) -> Self {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!("The request URI is longer than {limit} bytes"),
        )
    }

    /// 431 `REQUEST_HEADER_FIELDS_TOO_LARGE`: more than `headers` headers, or a request
    /// line and headers over about `bytes` bytes (hyper's limits; hyper checks the
    /// size when a read leaves the head unfinished, so a head a little larger can
    /// still be read, and one within `bytes` always is).
    pub fn headers_too_large(headers: usize, bytes: usize) -> Self {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            format!(
                "The request's headers are too large: at most {headers} headers, and \
                 about {} KiB with the request line",
                bytes / 1024
            ),
        )
    }

    /// 408 `REQUEST_TIMEOUT`: the body did not arrive within `timeout`.
    pub fn request_timeout(timeout: std::time::Duration) -> Self {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!(
                "The request body did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        )
    }

    /// 415 `UNSUPPORTED_MEDIA_TYPE`: a body that is not declared as JSON, or is
    /// compressed.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
        )
    }

    /// 503 `SERVICE_UNAVAILABLE`: something the request needs (the key store) cannot
    /// be reached; the client may retry (the response says after how long).
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            message,
        )
    }

    /// 500 `INTERNAL_ERROR`. The cause is logged by the caller, never sent.
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal error",
        )
    }
}

impl From<contacts_core::Error> for ApiError {
    fn from(e: contacts_core::Error) -> Self {
        use contacts_core::Error;
        // The core says what a person reads (`Error::message`: `field: reason`, or the
        // public API's own sentences as they are) and the code; the server adds the
        // HTTP status.
        let status = match &e {
            Error::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match &e {
            Error::InvalidInput { .. } | Error::NotFound { .. } | Error::Conflict { .. } => {
                let mut api = ApiError::new(status, e.code(), e.message());
                match &e {
                    Error::InvalidInput { field, .. } => api.body.field = Some(field.to_string()),
                    Error::NotFound {
                        merged_into: Some(into),
                        ..
                    } => api.body.merged_into = Some(into.to_string()),
                    _ => {}
                }
                api
            }
            other => {
                // Storage errors (and any category added later) keep their detail in
                // the log, inside the request's span, so the request id ties them to
                // the response; the client learns only that it failed.
                tracing::error!(error = %ErrorChain(other), "engine call failed");
                ApiError::internal()
            }
        }
    }
}

/// Formats an error with its whole `source()` chain, for logs.
#[derive(Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// The failure envelope, serialised as the seeds show it.
#[derive(Serialize)]
struct FailureEnvelope<'a> {
    data: Option<()>,
    errors: [&'a ErrorBody; 1],
}

impl ApiError {
    /// The error envelope as the server sends it, byte for byte.
    pub fn envelope_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&FailureEnvelope {
            data: None,
            errors: [&self.body],
        })
        .unwrap_or_default()
    }

    /// The envelope as a JSON value (for tests; its keys come out sorted).
    pub fn envelope(&self) -> serde_json::Value {
        serde_json::to_value(FailureEnvelope {
            data: None,
            errors: [&self.body],
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.envelope_bytes(),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_except_the_documented_sentences() {
        let e = ApiError::from(contacts_core::Error::invalid("limit", "must be at least 1"));
        assert_eq!(e.body.message, "limit: must be at least 1");
        assert_eq!(e.body.field.as_deref(), Some("limit"));
        // The public API's own sentence, from the core, stays as it is.
        let engine = contacts_core::Engine::new(contacts_inmemory::InMemoryStore::new());
        let org = contacts_core::OrgId(uuid::Uuid::nil());
        let e = ApiError::from(
            engine
                .resolve(org, &contacts_core::ResolveRequest::new())
                .unwrap_err(),
        );
        assert_eq!(
            e.body.message,
            "At least one identifier (phone_number, email, or external_id) is required"
        );
        assert_eq!(
            ApiError::bad_field_message("name", "name is required")
                .body
                .message,
            "name is required"
        );
    }

    #[test]
    fn storage_errors_hide_their_detail() {
        let e = ApiError::from(contacts_core::Error::storage(
            "sqlite",
            "disk I/O error at /secret/path",
        ));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body.message, "Internal error");
        assert!(!e.envelope().to_string().contains("secret"));
    }
}
