//! The memory endpoints: get-or-create, read, context, reset, and every write.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use contacts_core::{
    ContactId, ConversationKey, EntityRef, EntityUpsert, MemoryId, NewMessage, NewOpenItem,
    OpenItemId, ScopeRequest, Timestamp, WriteOptions,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::{JsonBody, Path, param, parse_id, query_pairs, required};
use super::{ApiResult, AppState, Envelope, Org, ok};
use crate::error::ApiError;

/// A write's options from its body (or, for a removal, its query): the revision it
/// expects and the call or conversation it belongs to.
fn write_options(
    expected_revision: Option<u64>,
    call_id: Option<String>,
    conversation_id: Option<String>,
) -> Result<WriteOptions, ApiError> {
    let conversation =
        ConversationKey::from_request(call_id.as_deref(), conversation_id.as_deref())?;
    Ok(WriteOptions {
        expected_revision,
        conversation,
    })
}

/// The call or conversation a removal names in its query.
fn query_options(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<WriteOptions, ApiError> {
    let pairs = query_pairs(query)?;
    let name = |k: &str| param(&pairs, k).map(str::to_owned);
    write_options(None, name("call_id"), name("conversation_id"))
}

/// `{contact_id, persona_id?, agent_number?}`: the body of memory create and reset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopedBody {
    /// The contact's id.
    #[schema(required, value_type = uuid::Uuid)]
    contact_id: Option<String>,
    /// Memory scope: a persona id (wins when both are given).
    persona_id: Option<String>,
    /// Memory scope: the agent's phone number.
    agent_number: Option<String>,
}

/// What `POST /v1/memory/reset` answers.
#[derive(serde::Serialize, ToSchema)]
pub(super) struct Reset {
    /// Always `true`.
    success: bool,
    /// Whether a record existed and was deleted.
    deleted: bool,
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

#[utoipa::path(
    post,
    path = "/v1/memory/contact",
    tag = "memory",
    request_body = ScopedBody,
    responses((status = 200, description = "The record for the contact and scope, created if missing", body = Envelope<contacts_core::MemoryOutcome>)),
)]
pub(super) async fn memory_create(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(body): JsonBody<ScopedBody>,
) -> ApiResult {
    let (contact, scope) = body.parts()?;
    Ok(ok(state
        .run(move |e| e.memory_create(org, contact, &scope))
        .await?))
}

#[utoipa::path(
    post,
    path = "/v1/memory/reset",
    tag = "memory",
    request_body = ScopedBody,
    responses((status = 200, description = "Whether a record was deleted", body = Envelope<Reset>)),
)]
pub(super) async fn memory_reset(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    JsonBody(body): JsonBody<ScopedBody>,
) -> ApiResult {
    let (contact, scope) = body.parts()?;
    let deleted = state
        .run(move |e| e.memory_reset(org, contact, &scope))
        .await?;
    Ok(ok(Reset {
        success: true,
        deleted,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/memory/contact/{memory_id}",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    responses((status = 200, description = "The memory record", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_get(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state.run(move |e| e.memory_get(org, id)).await?))
}

#[utoipa::path(
    get,
    path = "/v1/memory/contact/{memory_id}/messages",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    responses((status = 200, description = "The recent messages, oldest first", body = Envelope<Vec<contacts_core::Message>>)),
)]
pub(super) async fn memory_messages(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state.run(move |e| e.memory_messages(org, id)).await?))
}

#[utoipa::path(
    get,
    path = "/v1/memory/context",
    tag = "memory",
    params(("contact_id" = uuid::Uuid, Query, description = "The contact's id."), ("persona_id" = Option<String>, Query, description = "Memory scope: a persona id."), ("agent_number" = Option<String>, Query, description = "Memory scope: the agent's phone number.")),
    responses((status = 200, description = "What an agent loads before a call", body = Envelope<contacts_core::MemoryContext>)),
)]
pub(super) async fn memory_context(
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

/// The body of a summary replacement.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SummaryBody {
    /// The new summary.
    #[schema(required, value_type = String)]
    summary: Option<String>,
    /// Refuse the write (409) unless the record is at this revision.
    expected_revision: Option<u64>,
    /// The call this write belongs to: its memory changes are kept for
    /// `GET /v1/memory/changes?call_id=`. Give this or `conversation_id`, not both.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    call_id: Option<String>,
    /// The SMS conversation this write belongs to (`GET /v1/memory/changes?conversation_id=`).
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    conversation_id: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/v1/memory/contact/{memory_id}/summary",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    request_body = SummaryBody,
    responses((status = 200, description = "The memory record after the write", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_summary(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SummaryBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let summary = required("summary", body.summary)?;
    let rev = write_options(body.expected_revision, body.call_id, body.conversation_id)?;
    Ok(ok(state
        .run(move |e| e.memory_replace_summary(org, id, &summary, rev))
        .await?))
}

/// The body of a facts merge.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FactsBody {
    /// A JSON Merge Patch (RFC 7396) applied to the facts.
    #[serde(default, deserialize_with = "contacts_core::strict_json::option")]
    #[schema(required, value_type = Object)]
    facts: Option<Value>,
    /// Refuse the write (409) unless the record is at this revision.
    expected_revision: Option<u64>,
    /// The call this write belongs to: its memory changes are kept for
    /// `GET /v1/memory/changes?call_id=`. Give this or `conversation_id`, not both.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    call_id: Option<String>,
    /// The SMS conversation this write belongs to (`GET /v1/memory/changes?conversation_id=`).
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    conversation_id: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/v1/memory/contact/{memory_id}/facts",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    request_body = FactsBody,
    responses((status = 200, description = "The memory record after the write", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_facts(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<FactsBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let Value::Object(facts) = required("facts", body.facts)? else {
        return Err(ApiError::bad_field("facts", "must be a JSON object"));
    };
    let rev = write_options(body.expected_revision, body.call_id, body.conversation_id)?;
    Ok(ok(state
        .run(move |e| e.memory_merge_facts(org, id, &facts, rev))
        .await?))
}

/// The body of a messages append.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagesBody {
    /// The messages, oldest first.
    #[schema(required, value_type = Vec<NewMessage>, min_items = 1)]
    messages: Option<Vec<NewMessage>>,
    /// Refuse the write (409) unless the record is at this revision.
    expected_revision: Option<u64>,
    /// The call this write belongs to: its memory changes are kept for
    /// `GET /v1/memory/changes?call_id=`. Give this or `conversation_id`, not both.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    call_id: Option<String>,
    /// The SMS conversation this write belongs to (`GET /v1/memory/changes?conversation_id=`).
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    conversation_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/memory/contact/{memory_id}/messages",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    request_body = MessagesBody,
    responses((status = 200, description = "The memory record after the write", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_append(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MessagesBody>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let messages = required("messages", body.messages)?;
    let rev = write_options(body.expected_revision, body.call_id, body.conversation_id)?;
    Ok(ok(state
        .run(move |e| e.memory_append_messages(org, id, &messages, rev))
        .await?))
}

/// The body of an entity upsert.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EntityBody {
    /// The entity's type.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    entity_type: String,
    /// The entity's id within its type.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    entity_id: String,
    /// Facts merged into the entity's.
    #[serde(
        default,
        deserialize_with = "contacts_core::strict_json::option_object"
    )]
    #[schema(value_type = Option<Object>)]
    facts: Option<contacts_core::JsonObject>,
    /// Its status.
    #[schema(pattern = r"^[^\u0000]*$")]
    status: Option<String>,
    /// Notes.
    #[schema(pattern = r"^[^\u0000]*$")]
    notes: Option<String>,
    /// When it was last discussed.
    last_discussed_at: Option<Timestamp>,
    /// Refuse the write (409) unless the record is at this revision.
    expected_revision: Option<u64>,
    /// The call this write belongs to: its memory changes are kept for
    /// `GET /v1/memory/changes?call_id=`. Give this or `conversation_id`, not both.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    call_id: Option<String>,
    /// The SMS conversation this write belongs to (`GET /v1/memory/changes?conversation_id=`).
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    conversation_id: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/memory/contact/{memory_id}/entities",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    request_body = EntityBody,
    responses((status = 200, description = "The memory record after the write", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_upsert_entity(
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
    let rev = write_options(body.expected_revision, body.call_id, body.conversation_id)?;
    Ok(ok(state
        .run(move |e| e.memory_upsert_entity(org, id, &upsert, rev))
        .await?))
}

#[utoipa::path(
    delete,
    path = "/v1/memory/contact/{memory_id}/entities/{entity_type}/{entity_id}",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID)."), ("entity_type" = String, Path, description = "The entity's type."), ("entity_id" = String, Path, description = "The entity's id."), ("call_id" = Option<String>, Query, description = "The call this removal belongs to (its memory changes)."), ("conversation_id" = Option<String>, Query, description = "The SMS conversation this removal belongs to.")),
    responses((status = 200, description = "The memory record after the write", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_remove_entity(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path((id, entity_type, entity_id)): Path<(String, String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let options = query_options(query)?;
    Ok(ok(state
        .run(move |e| e.memory_remove_entity(org, id, &entity_type, &entity_id, options))
        .await?))
}

/// The body of an open item.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenItemBody {
    /// Its type.
    #[serde(rename = "type")]
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    item_type: String,
    /// What is open.
    #[schema(
        pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
    )]
    description: String,
    /// Its priority.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    priority: Option<String>,
    /// The entity it concerns.
    related_to: Option<EntityRef>,
    /// Refuse the write (409) unless the record is at this revision.
    expected_revision: Option<u64>,
    /// The call this write belongs to: its memory changes are kept for
    /// `GET /v1/memory/changes?call_id=`. Give this or `conversation_id`, not both.
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    call_id: Option<String>,
    /// The SMS conversation this write belongs to (`GET /v1/memory/changes?conversation_id=`).
    #[schema(
        pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    conversation_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/memory/contact/{memory_id}/open_items",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID).")),
    request_body = OpenItemBody,
    responses((status = 200, description = "The open item as stored", body = Envelope<contacts_core::OpenItem>)),
)]
pub(super) async fn memory_add_open_item(
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
    let rev = write_options(body.expected_revision, body.call_id, body.conversation_id)?;
    let (_, added) = state
        .run(move |e| e.memory_add_open_item(org, id, &item, rev))
        .await?;
    Ok(ok(added))
}

#[utoipa::path(
    delete,
    path = "/v1/memory/contact/{memory_id}/open_items/{item_id}",
    tag = "memory",
    params(("memory_id" = uuid::Uuid, Path, description = "The memory record's id (hyphenated UUID)."), ("item_id" = uuid::Uuid, Path, description = "The open item's id (hyphenated UUID)."), ("call_id" = Option<String>, Query, description = "The call this removal belongs to (its memory changes)."), ("conversation_id" = Option<String>, Query, description = "The SMS conversation this removal belongs to.")),
    responses((status = 200, description = "The memory record after the write", body = Envelope<contacts_core::MemoryRecord>)),
)]
pub(super) async fn memory_remove_open_item(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path((id, item)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    let item: OpenItemId = parse_id("item_id", &item)?;
    let options = query_options(query)?;
    Ok(ok(state
        .run(move |e| e.memory_remove_open_item(org, id, item, options))
        .await?))
}

#[utoipa::path(
    get,
    path = "/v1/memory/changes",
    tag = "memory",
    params(("call_id" = Option<String>, Query, description = "The call; give this or conversation_id."), ("conversation_id" = Option<String>, Query, description = "The SMS conversation.")),
    responses((status = 200, description = "The memory at the call's or conversation's first write, what it changed, and its history entries", body = Envelope<contacts_core::ConversationLog>)),
)]
pub(super) async fn memory_changes(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let pairs = query_pairs(query)?;
    let key =
        ConversationKey::from_request(param(&pairs, "call_id"), param(&pairs, "conversation_id"))?
            .ok_or_else(|| ApiError::bad_request("call_id or conversation_id is required"))?;
    Ok(ok(state.run(move |e| e.memory_changes(org, &key)).await?))
}
