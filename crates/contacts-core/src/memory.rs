//! Per-persona memory (docs/semantics.md 6): what an agent remembers about one contact, scoped to
//! one persona or one agent phone number.

use serde::{Deserialize, Serialize};

use crate::ids::{ContactId, OrgId};
pub use crate::ids::{MemoryId, OpenItemId};
use crate::time::Timestamp;
use crate::types::JsonObject;

/// Whose memory: one persona, or one agent phone number (normalised E.164).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemoryScope {
    /// A persona id (opaque, non-blank, at most 255 bytes).
    Persona(String),
    /// An agent's phone number, normalised like any phone number.
    AgentNumber(String),
}

impl MemoryScope {
    /// `(persona_id, agent_number)` as the JSON shows them: one set, the other `null`.
    pub fn parts(&self) -> (Option<&str>, Option<&str>) {
        match self {
            MemoryScope::Persona(p) => (Some(p), None),
            MemoryScope::AgentNumber(a) => (None, Some(a)),
        }
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The contact.
    User,
    /// The agent.
    Assistant,
}

/// One message of the sliding window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// `user` or `assistant`.
    pub role: Role,
    /// The text.
    pub content: String,
    /// `call`, `sms`, or another lower-case token.
    pub channel: String,
    /// When it was said.
    pub timestamp: Timestamp,
}

/// What an open item or other record refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntityRef {
    /// The entity's type (`order`, `booking`, ...).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub entity_type: String,
    /// The entity's id in its type.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub entity_id: String,
}

/// A follow-up or pending task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenItem {
    /// Stable id, to remove the item when it is resolved.
    pub id: OpenItemId,
    /// Its type (`follow_up`, ...).
    #[serde(rename = "type")]
    pub item_type: String,
    /// What is to be done.
    pub description: String,
    /// When it was added.
    pub created_at: Timestamp,
    /// `high`, `medium`, ... or `null`.
    pub priority: Option<String>,
    /// The entity it concerns, if any.
    pub related_to: Option<EntityRef>,
}

/// A structured object tracked across conversations (an order, a booking, a ticket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entity {
    /// Its type.
    pub entity_type: String,
    /// Its id within the type.
    pub entity_id: String,
    /// What is known about it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub facts: JsonObject,
    /// Its status, if given.
    pub status: Option<String>,
    /// When it was last discussed.
    pub last_discussed_at: Option<Timestamp>,
    /// Free-form notes, if given.
    pub notes: Option<String>,
}

/// One entry of `memory_history`: a summary or facts change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// When it happened.
    pub timestamp: Timestamp,
    /// `summary_update` or `facts_update`.
    #[serde(rename = "type")]
    pub entry_type: String,
    /// The new summary, or the facts that were merged in.
    pub value: serde_json::Value,
}

/// A memory record, as the standalone memory endpoints show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryRecord {
    /// Its id.
    pub id: MemoryId,
    /// Its org.
    pub org_id: OrgId,
    /// The contact it is about.
    pub contact_id: ContactId,
    /// The persona, `null` if agent-based.
    pub persona_id: Option<String>,
    /// The agent number, `null` if persona-based.
    pub agent_number: Option<String>,
    /// Rolling summary, `null` when new.
    pub summary: Option<String>,
    /// When the summary was last replaced.
    pub summary_updated_at: Option<Timestamp>,
    /// Facts about the contact.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub facts: JsonObject,
    /// The newest messages, chronological.
    pub recent_messages: Vec<Message>,
    /// Open items, in the order they were added.
    pub open_items: Vec<OpenItem>,
    /// Entities, in the order they were first seen.
    pub entities: Vec<Entity>,
    /// Summary and facts changes, oldest first, bounded.
    pub memory_history: Vec<HistoryEntry>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Incremented by every write; name it to detect lost updates.
    pub revision: u64,
}

impl MemoryRecord {
    /// The record's scope.
    pub fn scope(&self) -> MemoryScope {
        match (&self.persona_id, &self.agent_number) {
            (Some(p), _) => MemoryScope::Persona(p.clone()),
            (None, Some(a)) => MemoryScope::AgentNumber(a.clone()),
            // Records are only ever built from a scope (see `Engine`), so one of the
            // two is always set; an empty persona keeps this total.
            (None, None) => MemoryScope::Persona(String::new()),
        }
    }

    /// The view embedded in a contact (the list seed's shape).
    pub fn embedded(&self) -> EmbeddedMemory {
        EmbeddedMemory {
            id: self.id,
            contact_id: self.contact_id,
            persona_id: self.persona_id.clone(),
            agent_number: self.agent_number.clone(),
            summary: self.summary.clone(),
            facts: self.facts.clone(),
            recent_messages: self.recent_messages.clone(),
            open_items: self.open_items.clone(),
            entities: self.entities.clone(),
        }
    }
}

/// A memory as embedded in a contact by list, get and find.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddedMemory {
    /// Its id.
    pub id: MemoryId,
    /// The contact.
    pub contact_id: ContactId,
    /// The persona, `null` if agent-based.
    pub persona_id: Option<String>,
    /// The agent number, `null` if persona-based.
    pub agent_number: Option<String>,
    /// Rolling summary.
    pub summary: Option<String>,
    /// Facts.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub facts: JsonObject,
    /// Newest messages, chronological.
    pub recent_messages: Vec<Message>,
    /// Open items.
    pub open_items: Vec<OpenItem>,
    /// Entities.
    pub entities: Vec<Entity>,
}

/// Everything the agent sees at the start of a conversation (`GET /v1/memory/context`,
/// whose fields are camelCase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryContext {
    /// The contact.
    pub contact_id: ContactId,
    /// Newest messages, chronological.
    #[serde(rename = "recentMessages")]
    pub recent_messages: Vec<Message>,
    /// Rolling summary.
    pub summary: Option<String>,
    /// Facts.
    #[serde(rename = "contactFacts")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub contact_facts: JsonObject,
    /// Entities.
    pub entities: Vec<Entity>,
    /// Open items.
    #[serde(rename = "openItems")]
    pub open_items: Vec<OpenItem>,
}

/// A message to append (`timestamp` defaults to now).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `user` or `assistant`.
    pub role: Role,
    /// The text; at most the configured bytes (8 KiB by default).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
        )
    )]
    pub content: String,
    /// `call`, `sms`, or another lower-case token.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z0-9_-]{1,32}$"))]
    pub channel: String,
    /// When it was said; now if absent.
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
}

/// An entity upsert, keyed by `(entity_type, entity_id)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityUpsert {
    /// The entity's type.
    pub entity_type: String,
    /// Its id within the type.
    pub entity_id: String,
    /// Facts merged in (incoming keys overwrite).
    #[serde(default, deserialize_with = "crate::strict_json::option_object")]
    pub facts: Option<JsonObject>,
    /// Replaces the status when given.
    #[serde(default)]
    pub status: Option<String>,
    /// Replaces the notes when given.
    #[serde(default)]
    pub notes: Option<String>,
    /// When it was discussed; now if absent.
    #[serde(default)]
    pub last_discussed_at: Option<Timestamp>,
}

/// An open item to add.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOpenItem {
    /// Its type (`follow_up`, ...).
    #[serde(rename = "type")]
    pub item_type: String,
    /// What is to be done.
    pub description: String,
    /// `high`, `medium`, ...
    #[serde(default)]
    pub priority: Option<String>,
    /// The entity it concerns.
    #[serde(default)]
    pub related_to: Option<EntityRef>,
}

/// Bounds on every part of a memory record (docs/semantics.md 6). Over a bound is `InvalidInput`,
/// except the message window and the history, which slide.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryLimits {
    /// Messages kept (the newest). Default 20.
    pub window: usize,
    /// Largest message content, bytes. Default 8 KiB.
    pub max_message_bytes: usize,
    /// Largest summary, bytes. Default 8 KiB.
    pub max_summary_bytes: usize,
    /// Most fact keys. Default 256.
    pub max_fact_keys: usize,
    /// Largest facts object, serialised bytes. Default 64 KiB.
    pub max_facts_bytes: usize,
    /// Deepest nesting inside facts (the facts object is depth 1), for a record's and
    /// each entity's facts. Default 16, like metadata: a stored record must always
    /// decode again, and JSON decoders bound their recursion.
    pub max_facts_depth: usize,
    /// Most entities. Default 200.
    pub max_entities: usize,
    /// Most open items. Default 200.
    pub max_open_items: usize,
    /// History entries kept (the newest). Default 100.
    pub max_history: usize,
    /// Largest record as stored (its JSON), bytes. Default 1 MiB: every bound above
    /// holds, yet 200 entities of 64 KiB facts each would make 12 MiB that every write
    /// rewrites and every read returns.
    pub max_record_bytes: usize,
    /// Most memory records one contact may have (one per persona or agent number).
    /// Default 100.
    pub max_memories_per_contact: usize,
    /// Calls and conversations whose memory changes are kept per record (the newest
    /// by first write; docs/semantics.md 6, "Memory changes"). Default 50; 0 keeps
    /// none.
    pub max_conversations: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits {
            window: 20,
            max_message_bytes: 8 * 1024,
            max_summary_bytes: 8 * 1024,
            max_fact_keys: 256,
            max_facts_bytes: 64 * 1024,
            max_facts_depth: 16,
            max_entities: 200,
            max_open_items: 200,
            max_history: 100,
            max_record_bytes: 1 << 20,
            max_memories_per_contact: 100,
            max_conversations: 50,
        }
    }
}
