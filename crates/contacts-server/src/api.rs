//! The HTTP API: the seed pages' endpoints and JSON over an [`Engine`], plus the
//! memory-writing endpoints the public API leaves to its own pipeline.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use contacts_core::{
    ContactId, Engine, EntityRef, EntityUpsert, FindRequest, IdentifierId, ListRequest, MemoryId,
    NewMessage, NewOpenItem, OpenItemId, OrgId, ResolveRequest, ScopeRequest, Store, Timestamp,
    UpdateRequest,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::{ApiError, ErrorChain};
use crate::keys::Keyring;

/// An engine over any store, as the server and the CLI hold it.
pub type DynEngine = Engine<Box<dyn Store>>;

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    engine: Arc<DynEngine>,
    keys: Arc<Keyring>,
    body_limit: usize,
}

impl AppState {
    /// State over `engine` and `keys`, with bodies capped at `body_limit` bytes.
    pub fn new(engine: Arc<DynEngine>, keys: Arc<Keyring>, body_limit: usize) -> Self {
        AppState {
            engine,
            keys,
            body_limit,
        }
    }

    /// Runs `f` on tokio's blocking pool: engine calls do file or network I/O and
    /// must not stall the async workers. The request's span goes along so that
    /// anything logged there carries the request id.
    async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&DynEngine) -> contacts_core::Result<T> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        let span = tracing::Span::current();
        let joined = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            f(&engine).map_err(ApiError::from)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "engine task did not finish");
                Err(ApiError::internal())
            }
        }
    }
}

/// The org an authenticated request acts for, set by the auth middleware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Org(pub OrgId);

/// The success envelope: `{"data": ..., "errors": null}`.
#[derive(Serialize)]
struct Envelope<T> {
    data: T,
    errors: Option<()>,
}

fn ok<T: Serialize>(data: T) -> Response {
    Json(Envelope { data, errors: None }).into_response()
}

type ApiResult = Result<Response, ApiError>;

/// The whole API: every route, auth, request ids, tracing and the envelope for
/// unknown routes and methods.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use axum::body::Body;
/// use axum::http::Request;
/// use contacts_core::{Engine, OrgId, Store};
/// use contacts_inmemory::InMemoryStore;
/// use contacts_server::{AppState, Keyring, MemoryKeys, api, keys};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let org = OrgId(uuid::Uuid::now_v7());
/// let env = keys::parse_env_keys(&format!("my-key={org}")).unwrap();
/// let keyring = Keyring::new(Box::new(MemoryKeys::new()), env);
/// let store: Box<dyn Store> = Box::new(InMemoryStore::new());
/// let state = AppState::new(Arc::new(Engine::new(store)), Arc::new(keyring), 1 << 20);
/// let app = api::router(state);
///
/// let request = Request::post("/v1/contacts/resolve")
///     .header("authorization", "my-key")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"{"phone_number": "+1 415 555 0192"}"#))
///     .unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/contacts", get(list_contacts))
        .route("/v1/contacts/resolve", post(resolve))
        .route("/v1/contacts/find", post(find))
        .route("/v1/contacts/merge", post(merge))
        .route(
            "/v1/contacts/{contact_id}",
            get(get_contact)
                .patch(update_contact)
                .delete(delete_contact),
        )
        .route(
            "/v1/contacts/{contact_id}/identifiers/{identifier_id}",
            axum::routing::delete(detach_identifier),
        )
        .route("/v1/memory/contact", post(memory_create))
        .route("/v1/memory/contact/{memory_id}", get(memory_get))
        .route(
            "/v1/memory/contact/{memory_id}/messages",
            get(memory_messages).post(memory_append),
        )
        .route(
            "/v1/memory/contact/{memory_id}/summary",
            patch(memory_summary),
        )
        .route("/v1/memory/contact/{memory_id}/facts", patch(memory_facts))
        .route(
            "/v1/memory/contact/{memory_id}/entities",
            axum::routing::put(memory_upsert_entity),
        )
        .route(
            "/v1/memory/contact/{memory_id}/entities/{entity_type}/{entity_id}",
            axum::routing::delete(memory_remove_entity),
        )
        .route(
            "/v1/memory/contact/{memory_id}/open_items",
            post(memory_add_open_item),
        )
        .route(
            "/v1/memory/contact/{memory_id}/open_items/{item_id}",
            axum::routing::delete(memory_remove_open_item),
        )
        .route("/v1/memory/context", get(memory_context))
        .route("/v1/memory/reset", post(memory_reset))
        // Only matched routes authenticate: an unknown path is a 404 for everyone.
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));

    Router::new()
        .route("/healthz", get(healthz))
        .merge(v1)
        .fallback(|| async { ApiError::not_found("Route not found") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
        // Innermost first: the response gets the request's id; the trace span is
        // opened with the id already set; the id is set (or kept from the client)
        // before anything else sees the request.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // One line per request (status and latency) at the default level.
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}

async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(presented) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_owned)
    else {
        return ApiError::unauthorized().into_response();
    };
    // Cached keys answer in place; reading the key store (a file or a database,
    // about once a second) happens off the async workers.
    let verdict = match state.keys.verify_cached(&presented) {
        Some(org) => Ok(Ok(org)),
        None => {
            let keys = Arc::clone(&state.keys);
            tokio::task::spawn_blocking(move || keys.verify(&presented)).await
        }
    };
    match verdict {
        Ok(Ok(Some(org))) => {
            req.extensions_mut().insert(Org(org));
            next.run(req).await
        }
        Ok(Ok(None)) => ApiError::unauthorized().into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %ErrorChain(&e), "key store failed");
            ApiError::internal().into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "key check did not finish");
            ApiError::internal().into_response()
        }
    }
}

/// A JSON body, read up to the body limit (413 beyond) and decoded with the path of
/// the offending field in every error.
struct JsonBody<T>(T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.body_limit;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::too_large(limit));
        }
        let bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(bytes) => bytes,
            Err(e) if is_length_limit(&e) => return Err(ApiError::too_large(limit)),
            Err(e) => {
                tracing::debug!(error = %e, "request body could not be read");
                return Err(ApiError::bad_request("The request body could not be read"));
            }
        };
        decode(&bytes).map(JsonBody)
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Decodes a request body: it must be one JSON object; a field of the wrong type is
/// reported by its path (`messages[1].role`).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            ApiError::bad_request("The request body must be a JSON object")
        } else {
            ApiError::bad_request(format!("The request body is not valid JSON: {e}"))
        }
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            // A whole-object error: serde names a missing field in backticks.
            match inner.split('`').nth(1) {
                Some(field) if inner.starts_with("missing field") => {
                    ApiError::bad_field(field, format!("{field} is required"))
                }
                _ => ApiError::bad_request(inner),
            }
        } else {
            ApiError::bad_field(path, inner)
        }
    })
}

fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::bad_field(field, "must be a UUID"))
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::bad_field(field, format!("{field} is required")))
}

/// The query string's pairs; a malformed query string is a 400.
fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|e| ApiError::bad_request(format!("Malformed query string: {}", e.body_text())))
}

/// The last value of query parameter `name` (a later value overrides an earlier one).
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn int_param(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    param(pairs, name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::bad_field(name, "must be an integer"))
        })
        .transpose()
}

async fn healthz(State(state): State<AppState>) -> ApiResult {
    // A real read through the store: a server whose database is gone is not healthy.
    state
        .run(|engine| engine.store().list(OrgId(uuid::Uuid::nil()), 0, 1))
        .await?;
    Ok(ok(serde_json::json!({"status": "ok"})))
}

async fn resolve(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(req): JsonBody<ResolveRequest>,
) -> ApiResult {
    Ok(ok(state.run(move |e| e.resolve(org, &req)).await?))
}

async fn find(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(req): JsonBody<FindRequest>,
) -> ApiResult {
    // No match is a success with `data: null`, as the seed says.
    Ok(ok(state.run(move |e| e.find(org, &req)).await?))
}

/// The list envelope: `data`, `pagination`, `errors`, in the seed's order.
#[derive(Serialize)]
struct ListEnvelope {
    data: Vec<contacts_core::ContactWithRelations>,
    pagination: contacts_core::Pagination,
    errors: Option<()>,
}

async fn list_contacts(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let pairs = query_pairs(query)?;
    let req = ListRequest {
        limit: int_param(&pairs, "limit")?,
        offset: int_param(&pairs, "offset")?,
    };
    let page = state.run(move |e| e.list(org, req)).await?;
    Ok(Json(ListEnvelope {
        data: page.data,
        pagination: page.pagination,
        errors: None,
    })
    .into_response())
}

async fn get_contact(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    Ok(ok(state.run(move |e| e.get(org, id)).await?))
}

async fn update_contact(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    Ok(ok(state.run(move |e| e.update(org, id, &req)).await?))
}

#[derive(Deserialize)]
struct MergeBody {
    primary_contact_id: Option<String>,
    duplicate_contact_id: Option<String>,
}

async fn merge(
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

async fn delete_contact(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: ContactId = parse_id("contact_id", &id)?;
    state.run(move |e| e.delete(org, id)).await?;
    Ok(ok(serde_json::json!({"success": true, "id": id})))
}

async fn detach_identifier(
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

/// `{contact_id, persona_id?, agent_number?}`: the body of memory create and reset.
#[derive(Deserialize)]
struct ScopedBody {
    contact_id: Option<String>,
    persona_id: Option<String>,
    agent_number: Option<String>,
}

impl ScopedBody {
    fn parts(self) -> Result<(ContactId, ScopeRequest), ApiError> {
        let contact = parse_id("contact_id", &required("contact_id", self.contact_id)?)?;
        Ok((
            contact,
            ScopeRequest {
                persona_id: self.persona_id,
                agent_number: self.agent_number,
            },
        ))
    }
}

async fn memory_create(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(body): JsonBody<ScopedBody>,
) -> ApiResult {
    let (contact, scope) = body.parts()?;
    Ok(ok(state
        .run(move |e| e.memory_create(org, contact, &scope))
        .await?))
}

async fn memory_reset(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(body): JsonBody<ScopedBody>,
) -> ApiResult {
    let (contact, scope) = body.parts()?;
    let deleted = state
        .run(move |e| e.memory_reset(org, contact, &scope))
        .await?;
    Ok(ok(serde_json::json!({"success": true, "deleted": deleted})))
}

async fn memory_get(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state.run(move |e| e.memory_get(org, id)).await?))
}

async fn memory_messages(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state.run(move |e| e.memory_messages(org, id)).await?))
}

async fn memory_context(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let pairs = query_pairs(query)?;
    let contact: ContactId = parse_id(
        "contact_id",
        required("contact_id", param(&pairs, "contact_id"))?,
    )?;
    let scope = ScopeRequest {
        persona_id: param(&pairs, "persona_id").map(str::to_owned),
        agent_number: param(&pairs, "agent_number").map(str::to_owned),
    };
    Ok(ok(state
        .run(move |e| e.memory_context(org, contact, &scope))
        .await?))
}

#[derive(Deserialize)]
struct SummaryBody {
    summary: Option<String>,
    expected_revision: Option<u64>,
}

async fn memory_summary(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SummaryBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let summary = required("summary", body.summary)?;
    let rev = body.expected_revision;
    Ok(ok(state
        .run(move |e| e.memory_replace_summary(org, id, &summary, rev))
        .await?))
}

#[derive(Deserialize)]
struct FactsBody {
    facts: Option<Value>,
    expected_revision: Option<u64>,
}

async fn memory_facts(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<FactsBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let Value::Object(facts) = required("facts", body.facts)? else {
        return Err(ApiError::bad_field("facts", "must be a JSON object"));
    };
    let rev = body.expected_revision;
    Ok(ok(state
        .run(move |e| e.memory_merge_facts(org, id, &facts, rev))
        .await?))
}

#[derive(Deserialize)]
struct MessagesBody {
    messages: Option<Vec<NewMessage>>,
    expected_revision: Option<u64>,
}

async fn memory_append(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MessagesBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let messages = required("messages", body.messages)?;
    let rev = body.expected_revision;
    Ok(ok(state
        .run(move |e| e.memory_append_messages(org, id, &messages, rev))
        .await?))
}

#[derive(Deserialize)]
struct EntityBody {
    entity_type: String,
    entity_id: String,
    facts: Option<contacts_core::Metadata>,
    status: Option<String>,
    notes: Option<String>,
    last_discussed_at: Option<Timestamp>,
    expected_revision: Option<u64>,
}

async fn memory_upsert_entity(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EntityBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let upsert = EntityUpsert {
        entity_type: body.entity_type,
        entity_id: body.entity_id,
        facts: body.facts,
        status: body.status,
        notes: body.notes,
        last_discussed_at: body.last_discussed_at,
    };
    let rev = body.expected_revision;
    Ok(ok(state
        .run(move |e| e.memory_upsert_entity(org, id, &upsert, rev))
        .await?))
}

async fn memory_remove_entity(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path((id, entity_type, entity_id)): Path<(String, String, String)>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state
        .run(move |e| e.memory_remove_entity(org, id, &entity_type, &entity_id, None))
        .await?))
}

#[derive(Deserialize)]
struct OpenItemBody {
    #[serde(rename = "type")]
    item_type: String,
    description: String,
    priority: Option<String>,
    related_to: Option<EntityRef>,
    expected_revision: Option<u64>,
}

async fn memory_add_open_item(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OpenItemBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let item = NewOpenItem {
        item_type: body.item_type,
        description: body.description,
        priority: body.priority,
        related_to: body.related_to,
    };
    let rev = body.expected_revision;
    let (_, added) = state
        .run(move |e| e.memory_add_open_item(org, id, &item, rev))
        .await?;
    Ok(ok(added))
}

async fn memory_remove_open_item(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path((id, item)): Path<(String, String)>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let item: OpenItemId = parse_id("item_id", &item)?;
    Ok(ok(state
        .run(move |e| e.memory_remove_open_item(org, id, item, None))
        .await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        messages: Option<Vec<NewMessage>>,
    }

    #[test]
    fn decode_names_the_field_at_fault() {
        let e = decode::<Probe>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("name"));
        assert!(e.body.message.starts_with("name: invalid type"), "{e:?}");

        let e = decode::<Probe>(
            br#"{"name": "x", "messages": [{"role": "user", "content": "a", "channel": "sms"}, {"role": "bot", "content": "b", "channel": "sms"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("messages[1].role"));

        let e = decode::<Probe>(b"{}").unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("name"));
        assert_eq!(e.body.message, "name is required");

        for body in [&b""[..], b"  ", b"[1]", b"\"x\"", b"null"] {
            let e = decode::<Probe>(body).unwrap_err();
            assert_eq!(e.body.message, "The request body must be a JSON object");
        }
        let e = decode::<Probe>(b"{\"name\": ").unwrap_err();
        assert!(
            e.body
                .message
                .starts_with("The request body is not valid JSON")
        );
    }
}
