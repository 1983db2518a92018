//! `GET /v1/events`: the org's change feed (docs/semantics.md 4, "Change feed").

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use contacts_core::{Error, EventPage};

use super::extract::{after_and_limit, query_pairs};
use super::{ApiResult, AppState, Envelope, Org, ok};
use crate::error::ApiError;

/// The page size when none is given.
const DEFAULT_LIMIT: u64 = 100;

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Events after this sequence number (default 0, the start): an earlier page's `next_after`. A number past the newest event, or one whose successors retention has dropped, is a 400 naming `after`."),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 100, at most 1,000; larger values are clamped)."),
    ),
    responses((status = 200, description = "The org's committed changes after `after`, in commit order", body = Envelope<EventPage>)),
)]
pub(super) async fn events(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let pairs = query_pairs(query)?;
    let (after, limit) = after_and_limit(&pairs, DEFAULT_LIMIT)?;
    let page = state
        .run(move |e| match e.events(org, after, limit) {
            // A refused cursor: the answer says where the feed ends, so the reader
            // can read the contacts afresh and continue from there without parsing
            // the message.
            Err(Error::InvalidInput { field, reason }) if field == "after" => {
                let refused = Error::InvalidInput { field, reason };
                Ok(Err((refused, e.events_latest(org)?)))
            }
            other => other.map(Ok),
        })
        .await?;
    match page {
        Ok(page) => Ok(ok(page)),
        Err((refused, latest)) => {
            let mut api = ApiError::from(refused);
            api.body.latest = Some(latest);
            Err(api)
        }
    }
}
