//! The memory endpoints: get-or-create, read, context, reset, and every write.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use contacts_core::{
    ContactId, EntityRef, EntityUpsert, MemoryId, NewMessage, NewOpenItem, OpenItemId,
    ScopeRequest, Timestamp,
};
use serde::Deserialize;
use serde_json::Value;

use super::extract::{JsonBody, Path, param, parse_id, query_pairs, required};
use super::{ApiResult, AppState, Org, ok};
use crate::error::ApiError;

/// `{contact_id, persona_id?, agent_number?}`: the body of memory create and reset.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopedBody {
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

pub(super) async fn memory_reset(
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

pub(super) async fn memory_get(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state.run(move |e| e.memory_get(org, id)).await?))
}

pub(super) async fn memory_messages(
    State(state): State<AppState>,
    Extension(Org(org)): Extension<Org>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: MemoryId = parse_id("memory_id", &id)?;
    Ok(ok(state.run(move |e| e.memory_messages(org, id)).await?))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SummaryBody {
    summary: Option<String>,
    expected_revision: Option<u64>,
}

pub(super) async fn memory_summary(
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
#[serde(deny_unknown_fields)]
pub(super) struct FactsBody {
    #[serde(default, deserialize_with = "contacts_core::strict_json::option")]
    facts: Option<Value>,
    expected_revision: Option<u64>,
}

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
    let rev = body.expected_revision;
    Ok(ok(state
        .run(move |e| e.memory_merge_facts(org, id, &facts, rev))
        .await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagesBody {
    messages: Option<Vec<NewMessage>>,
    expected_revision: Option<u64>,
}

pub(super) async fn memory_append(
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
#[serde(deny_unknown_fields)]
pub(super) struct EntityBody {
    entity_type: String,
    entity_id: String,
    #[serde(
        default,
        deserialize_with = "contacts_core::strict_json::option_object"
    )]
    facts: Option<contacts_core::JsonObject>,
    status: Option<String>,
    notes: Option<String>,
    last_discussed_at: Option<Timestamp>,
    expected_revision: Option<u64>,
}

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
    let rev = body.expected_revision;
    Ok(ok(state
        .run(move |e| e.memory_upsert_entity(org, id, &upsert, rev))
        .await?))
}

pub(super) async fn memory_remove_entity(
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
#[serde(deny_unknown_fields)]
pub(super) struct OpenItemBody {
    #[serde(rename = "type")]
    item_type: String,
    description: String,
    priority: Option<String>,
    related_to: Option<EntityRef>,
    expected_revision: Option<u64>,
}

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
    let rev = body.expected_revision;
    let (_, added) = state
        .run(move |e| e.memory_add_open_item(org, id, &item, rev))
        .await?;
    Ok(ok(added))
}

pub(super) async fn memory_remove_open_item(
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
