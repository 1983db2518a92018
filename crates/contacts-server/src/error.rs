//! The JSON envelope's error side: `{"data": null, "errors": [{"error", "message"}]}`
//! with the HTTP status of SPEC section 8.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One entry of the envelope's `errors` array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// The stable code (`BAD_REQUEST`, `AUTH_FAILURE`, `NOT_FOUND`, `CONFLICT`,
    /// `PAYLOAD_TOO_LARGE`, `METHOD_NOT_ALLOWED`, `INTERNAL_ERROR`).
    pub error: &'static str,
    /// Words a caller can show. Never internal detail.
    pub message: String,
    /// The request field at fault, for `BAD_REQUEST` caused by one field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
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
            },
        }
    }

    /// 400 `BAD_REQUEST` about `field`; the message names the field.
    pub fn bad_field(field: impl Into<String>, reason: impl AsRef<str>) -> Self {
        let field = field.into();
        let reason = reason.as_ref();
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            field_message(&field, reason),
        );
        e.body.field = Some(field);
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

    /// 500 `INTERNAL_ERROR`. The cause is logged by the caller, never sent.
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal error",
        )
    }
}

/// `reason` alone when it already reads as a whole message (the seeds' "At least one
/// identifier ... is required", "persona_id or agent_number is required"), otherwise
/// `"{field}: {reason}"` so the caller always learns which field is at fault.
fn field_message(field: &str, reason: &str) -> String {
    let whole = reason.starts_with(|c: char| c.is_ascii_uppercase()) || reason.contains(field);
    if whole {
        reason.to_owned()
    } else {
        format!("{field}: {reason}")
    }
}

impl From<contacts_core::Error> for ApiError {
    fn from(e: contacts_core::Error) -> Self {
        use contacts_core::Error;
        match e {
            Error::InvalidInput { field, reason } => ApiError::bad_field(field, reason),
            Error::NotFound { entity } => ApiError::not_found(format!("{entity} not found")),
            Error::Conflict { reason } => ApiError::new(StatusCode::CONFLICT, "CONFLICT", reason),
            other => {
                // Storage errors (and any category added later) keep their detail in
                // the log, inside the request's span, so the request id ties them to
                // the response; the client learns only that it failed.
                tracing::error!(error = %ErrorChain(&other), "engine call failed");
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
    /// The envelope's JSON value (the CLI prints the same thing the server sends).
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
        (self.status, axum::Json(self.envelope())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_unless_the_reason_already_does() {
        assert_eq!(
            field_message("limit", "must be at least 1"),
            "limit: must be at least 1"
        );
        assert_eq!(
            field_message("persona_id", "persona_id or agent_number is required"),
            "persona_id or agent_number is required"
        );
        assert_eq!(
            field_message("identifiers", "At least one identifier is required"),
            "At least one identifier is required"
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
