//! `POST /v1/contacts/{contact_id}/unmerge`: undo a merge into the contact
//! (docs/semantics.md 4, "Unmerge").

use axum::Extension;
use axum::extract::State;
use contacts_core::ContactId;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{JsonBody, Path, parse_id, required};
use super::{ApiResult, AppState, Envelope, Org, ok};

/// The body of an unmerge: which merge to undo, named by the contact it took away.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UnmergeBody {
    /// The contact that was merged into this one (the merge's `duplicate_contact_id`).
    #[schema(required, value_type = uuid::Uuid)]
    duplicate_contact_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/contacts/{contact_id}/unmerge",
    tag = "contacts",
    params(
        ("contact_id" = uuid::Uuid, Path, description = "The primary of the merge: the contact the duplicate was merged into (hyphenated UUID)."),
    ),
    request_body = UnmergeBody,
    responses((status = 200, description = "Both contacts as the unmerge left them, and what the duplicate brought that stays with the primary", body = Envelope<contacts_core::Unmerged>)),
)]
pub(super) async fn unmerge(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UnmergeBody>,
) -> ApiResult {
    let primary: ContactId = parse_id("contact_id", &id)?;
    let duplicate: ContactId = parse_id(
        "duplicate_contact_id",
        &required("duplicate_contact_id", body.duplicate_contact_id)?,
    )?;
    Ok(ok(state
        .run(move |e| e.unmerge(org, primary, duplicate))
        .await?))
}
