//! The contact endpoints: resolve, find, list, get, update, merge, delete, detach.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use contacts_core::{
    ContactId, FindRequest, IdentifierId, ListRequest, ResolveRequest, UpdateRequest,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{JsonBody, Path, int_param, param, parse_id, query_pairs, required};
use super::{ApiResult, AppState, Envelope, Org, ok};
use crate::error::{ApiError, ErrorBody};

#[utoipa::path(
    post,
    path = "/v1/contacts/resolve",
    tag = "contacts",
    request_body = ResolveRequest,
    responses((status = 200, description = "The contact, found or created", body = Envelope<contacts_core::ResolveOutcome>)),
)]
pub(super) async fn resolve(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(req): JsonBody<ResolveRequest>,
) -> ApiResult {
    let outcome = match state.resolve_without_io(org, &req)? {
        Some(outcome) => outcome,
        None => state.run(move |e| e.resolve(org, &req)).await?,
    };
    state.0.metrics.resolved(&outcome);
    Ok(ok(outcome))
}

/// The body of `POST /v1/contacts/resolve/batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchBody {
    /// The resolves, at most `max_batch_requests` (default 1,000).
    #[schema(required, value_type = Vec<ResolveRequest>)]
    requests: Option<Vec<ResolveRequest>>,
}

/// One item of a batch's answer: the envelope its single resolve would have had.
#[derive(Serialize, ToSchema)]
pub(super) struct ItemEnvelope {
    /// The outcome, or `null` when the item failed.
    #[schema(required)]
    data: Option<contacts_core::ResolveOutcome>,
    /// The item's one error, or `null` when it succeeded.
    #[schema(required, value_type = Option<Vec<ErrorBody>>, min_items = 1, max_items = 1)]
    errors: Option<[ErrorBody; 1]>,
}

/// Many resolves in one call (docs/semantics.md 3, "Batches"): `200` with one
/// envelope per request, in order, whenever the batch itself is well formed.
#[utoipa::path(
    post,
    path = "/v1/contacts/resolve/batch",
    tag = "contacts",
    request_body = BatchBody,
    responses((status = 200, description = "One envelope per request, in order", body = Envelope<Vec<ItemEnvelope>>)),
)]
pub(super) async fn resolve_batch(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(body): JsonBody<BatchBody>,
) -> ApiResult {
    let requests = required("requests", body.requests)?;
    let results = state.run(move |e| e.resolve_many(org, &requests)).await?;
    let items: Vec<ItemEnvelope> = results
        .into_iter()
        .map(|r| match r {
            Ok(outcome) => {
                state.0.metrics.resolved(&outcome);
                ItemEnvelope {
                    data: Some(outcome),
                    errors: None,
                }
            }
            Err(e) => ItemEnvelope {
                data: None,
                errors: Some([ApiError::from(e).body]),
            },
        })
        .collect();
    Ok(ok(items))
}

#[utoipa::path(
    post,
    path = "/v1/contacts/find",
    tag = "contacts",
    request_body = FindRequest,
    responses((status = 200, description = "The contact, or `data: null` when none matches", body = FindEnvelope)),
)]
pub(super) async fn find(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(req): JsonBody<FindRequest>,
) -> ApiResult {
    // No match is a success with `data: null`, as the seed says.
    let data = state.run(move |e| e.find(org, &req)).await?;
    Ok(Json(FindEnvelope { data, errors: None }).into_response())
}

/// The list envelope: `data`, `pagination`, `errors`, in the seed's order.
#[derive(Serialize, ToSchema)]
pub(super) struct ListEnvelope {
    /// The page's contacts.
    data: Vec<contacts_core::ContactWithRelations>,
    /// Where the page sits.
    pagination: contacts_core::Pagination,
    /// Always `null` on success.
    #[schema(required, schema_with = super::openapi::null)]
    errors: Option<()>,
}

#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "contacts",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 50, at most 200; larger values are clamped)."),
        ("offset" = Option<i64>, Query, minimum = 0, description = "Contacts to skip (default 0); not combined with `after`."),
        ("after" = Option<String>, Query, description = "A cursor from an earlier page's `pagination.next_cursor`."),
    ),
    responses((status = 200, description = "A page of contacts in creation order", body = ListEnvelope)),
)]
pub(super) async fn list_contacts(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let pairs = query_pairs(query)?;
    let req = ListRequest {
        limit: int_param(&pairs, "limit")?,
        offset: int_param(&pairs, "offset")?,
        after: param(&pairs, "after").map(str::to_owned),
    };
    let page = state.run(move |e| e.list(org, req)).await?;
    Ok(Json(ListEnvelope {
        data: page.data,
        pagination: page.pagination,
        errors: None,
    })
    .into_response())
}

/// How long an export waits for a client that has stopped reading before it gives up
/// and frees its blocking thread.
const EXPORT_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends `item` into the body's channel, waiting at most `stall` for room: a client
/// that stops reading must not pin a blocking thread for ever.
fn send_within(
    tx: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    item: Result<Vec<u8>, std::io::Error>,
    stall: std::time::Duration,
) -> Result<(), ()> {
    use tokio::sync::mpsc::error::TrySendError;
    let started = std::time::Instant::now();
    let mut item = item;
    loop {
        match tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(()),
            Err(TrySendError::Full(back)) if started.elapsed() < stall => {
                item = back;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(TrySendError::Full(_)) => {
                tracing::warn!("export: the client stopped reading; the export is ended");
                return Err(());
            }
        }
    }
}

/// Chunks of an export, produced on the blocking pool and sent as the body.
struct ExportBody(tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>);

impl futures_core::Stream for ExportBody {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// `GET /v1/contacts/export` (docs/semantics.md 5, "Export"): every contact of the org
/// as JSON lines, streamed a page at a time. The channel holds a few pages, so a slow
/// client slows the walk instead of filling memory. A store failure part-way ends the
/// body abruptly, so the client's HTTP library reports it incomplete rather than
/// taking a prefix for the whole.
#[utoipa::path(
    get,
    path = "/v1/contacts/export",
    tag = "contacts",
    responses((status = 200, description = "Every contact of the org as JSON lines: zero or more lines, each one `ContactWithRelations` object (the schema given is that of one line)", body = contacts_core::ContactWithRelations, content_type = "application/x-ndjson")),
)]
pub(super) async fn export_contacts(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
) -> ApiResult {
    // The walk holds an engine slot for as long as it runs, like any engine call.
    let permit = state.engine_slot()?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let engine = std::sync::Arc::clone(&state.0.engine);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _permit = permit;
        let send = |item| send_within(&tx, item, EXPORT_STALL);
        let mut chunk = Vec::new();
        for contact in engine.export(org) {
            let sent = match contact {
                Ok(c) => {
                    if let Err(e) = crate::export::json_line(&c, &mut chunk) {
                        tracing::error!(error = %e, "export: a contact did not serialise");
                        let _ = send(Err(std::io::Error::other("export failed")));
                        return;
                    }
                    if chunk.len() < 64 * 1024 {
                        continue;
                    }
                    send(Ok(std::mem::take(&mut chunk)))
                }
                Err(e) => {
                    tracing::error!(error = %crate::error::ErrorChain(&e), "export failed");
                    let _ = send(Err(std::io::Error::other("export failed")));
                    return;
                }
            };
            if sent.is_err() {
                return; // the client went away, or stopped reading
            }
        }
        if !chunk.is_empty() {
            let _ = send(Ok(chunk));
        }
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(ExportBody(rx)),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/contacts/{contact_id}",
    tag = "contacts",
    params(("contact_id" = uuid::Uuid, Path, description = "The contact's id (hyphenated UUID).")),
    responses((status = 200, description = "The contact with its identifiers and memories", body = Envelope<contacts_core::ContactWithRelations>)),
)]
pub(super) async fn get_contact(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    Ok(ok(state.run(move |e| e.get(org, id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/contacts/{contact_id}",
    tag = "contacts",
    params(("contact_id" = uuid::Uuid, Path, description = "The contact's id (hyphenated UUID).")),
    request_body = UpdateRequest,
    responses((status = 200, description = "The updated contact", body = Envelope<contacts_core::Contact>)),
)]
pub(super) async fn update_contact(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    Ok(ok(state.run(move |e| e.update(org, id, &req)).await?))
}

/// The body of `POST /v1/contacts/merge`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MergeBody {
    /// The contact that stays.
    #[schema(required, value_type = uuid::Uuid)]
    primary_contact_id: Option<String>,
    /// The contact merged into it and removed.
    #[schema(required, value_type = uuid::Uuid)]
    duplicate_contact_id: Option<String>,
}

/// What `DELETE /v1/contacts/{contact_id}` answers.
#[derive(Serialize, ToSchema)]
pub(super) struct Deleted {
    /// Always `true`.
    success: bool,
    /// The deleted contact's id.
    id: ContactId,
}

/// What `POST /v1/contacts/find` answers: the contact, or `null`.
#[derive(Serialize, ToSchema)]
pub(super) struct FindEnvelope {
    /// The contact, or `null` when no identifier matches.
    #[schema(required)]
    data: Option<contacts_core::ContactWithRelations>,
    /// Always `null` on success.
    #[schema(required, schema_with = super::openapi::null)]
    errors: Option<()>,
}

#[utoipa::path(
    post,
    path = "/v1/contacts/merge",
    tag = "contacts",
    request_body = MergeBody,
    responses((status = 200, description = "The primary contact, with the duplicate's identifiers and memory", body = Envelope<contacts_core::Contact>)),
)]
pub(super) async fn merge(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(body): JsonBody<MergeBody>,
) -> ApiResult {
    let primary: ContactId = parse_id(
        "primary_contact_id",
        &required("primary_contact_id", body.primary_contact_id)?,
    )?;
    let duplicate: ContactId = parse_id(
        "duplicate_contact_id",
        &required("duplicate_contact_id", body.duplicate_contact_id)?,
    )?;
    Ok(ok(state
        .run(move |e| e.merge(org, primary, duplicate))
        .await?))
}

#[utoipa::path(
    delete,
    path = "/v1/contacts/{contact_id}",
    tag = "contacts",
    params(("contact_id" = uuid::Uuid, Path, description = "The contact's id (hyphenated UUID).")),
    responses((status = 200, description = "The contact and everything it owned are gone", body = Envelope<Deleted>)),
)]
pub(super) async fn delete_contact(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    state.run(move |e| e.delete(org, id)).await?;
    Ok(ok(Deleted { success: true, id }))
}

#[utoipa::path(
    delete,
    path = "/v1/contacts/{contact_id}/identifiers/{identifier_id}",
    tag = "contacts",
    params(("contact_id" = uuid::Uuid, Path, description = "The contact's id (hyphenated UUID)."), ("identifier_id" = uuid::Uuid, Path, description = "The identifier's id (hyphenated UUID).")),
    responses((status = 200, description = "The contact without the identifier", body = Envelope<contacts_core::ContactWithRelations>)),
)]
pub(super) async fn detach_identifier(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path((contact, identifier)): Path<(String, String)>,
) -> ApiResult {
    let contact: ContactId = parse_id("contact_id", &contact)?;
    let identifier: IdentifierId = parse_id("identifier_id", &identifier)?;
    Ok(ok(state
        .run(move |e| e.detach(org, contact, identifier))
        .await?))
}
