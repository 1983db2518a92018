//! `GET /v1/contacts/{contact_id}/history`: what happened to a contact
//! (docs/semantics.md 4, "History").

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use contacts_core::{ContactId, HistoryPage};

use super::extract::{Path, after_and_limit, parse_id, query_pairs};
use super::{ApiResult, AppState, Envelope, Org, ok};

/// The page size when none is given.
const DEFAULT_LIMIT: u64 = 50;

#[utoipa::path(
    get,
    path = "/v1/contacts/{contact_id}/history",
    tag = "contacts",
    params(
        ("contact_id" = uuid::Uuid, Path, description = "The contact's id (hyphenated UUID); a deleted or merged-away contact's history is still served."),
        ("after" = Option<i64>, Query, minimum = 0, description = "Entries after this version (default 0): an earlier page's `next_after`."),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 50, at most 200; larger values are clamped)."),
    ),
    responses((status = 200, description = "The contact's changes, oldest first", body = Envelope<HistoryPage>)),
)]
pub(super) async fn contact_history(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    let pairs = query_pairs(query)?;
    let (after, limit) = after_and_limit(&pairs, DEFAULT_LIMIT)?;
    Ok(ok(state
        .run(move |e| e.history(org, id, after, limit))
        .await?))
}
