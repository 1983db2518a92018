//! `POST /v1/memory/enable`: memory switched on or off for a persona or a pathway
//! (docs/semantics.md 6, "Switching memory off").
//!
//! The public API gives this endpoint its own error code: every 400 it answers is
//! `INVALID_REQUEST`, a malformed body included, with the documented sentences where
//! they apply. It never answers "Pathway not found.": the engine keeps no registry of
//! pathways or personas, so any id is one it can switch.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use contacts_core::MemoryEnableRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::JsonBody;
use super::{ApiResult, AppState, Envelope, Org, ok};
use crate::error::ApiError;

/// The pathway pair or the persona pair, and the flag.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EnableBody {
    /// A pathway id; give it with `version_number`, or give the persona pair instead.
    pathway_id: Option<String>,
    /// The pathway's version, a non-negative integer.
    #[schema(value_type = Option<u64>)]
    version_number: Option<Value>,
    /// A persona id; give it with `version_id`, or give the pathway pair instead.
    persona_id: Option<String>,
    /// The persona's version: a UUID in its hyphenated form.
    #[schema(value_type = Option<uuid::Uuid>)]
    version_id: Option<String>,
    /// On or off.
    #[schema(required, value_type = bool)]
    memory_enabled: Option<Value>,
}

/// What `POST /v1/memory/enable` answers.
#[derive(Serialize, ToSchema)]
pub(super) struct Switched {
    /// "Memory enabled successfully for persona." or one of its siblings (pathway,
    /// disabled).
    message: &'static str,
}

/// This endpoint's 400s carry `INVALID_REQUEST`, as the public API documents.
fn invalid_request(mut e: ApiError) -> ApiError {
    if e.status == StatusCode::BAD_REQUEST {
        e.body.error = "INVALID_REQUEST";
    }
    e
}

impl EnableBody {
    fn request(self) -> Result<MemoryEnableRequest, ApiError> {
        // Anything but a boolean is the documented "memory_enabled (boolean) is
        // required.", which the engine gives for a missing flag, and which comes first.
        let memory_enabled = self.memory_enabled.and_then(|v| v.as_bool());
        let version_number = match self.version_number {
            _ if memory_enabled.is_none() => None,
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                ApiError::bad_field("version_number", "expected a non-negative integer")
            })?),
        };
        Ok(MemoryEnableRequest {
            pathway_id: self.pathway_id,
            version_number,
            persona_id: self.persona_id,
            version_id: self.version_id,
            memory_enabled,
        })
    }
}

#[utoipa::path(
    post,
    path = "/v1/memory/enable",
    tag = "memory",
    request_body = EnableBody,
    responses((status = 200, description = "Memory switched on or off", body = Envelope<Switched>)),
)]
pub(super) async fn memory_enable(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    body: Result<JsonBody<EnableBody>, ApiError>,
) -> ApiResult {
    let req = body
        .and_then(|JsonBody(body)| body.request())
        .map_err(invalid_request)?;
    let switch = state
        .run(move |e| e.memory_enable(org, &req))
        .await
        .map_err(invalid_request)?;
    Ok(ok(Switched {
        message: switch.message(),
    }))
}
