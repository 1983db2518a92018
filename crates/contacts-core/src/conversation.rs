//! Memory changes per call or conversation (docs/semantics.md 6, "Memory changes"):
//! a memory write may name the call or SMS conversation it belongs to; the first such
//! write keeps the memory as it was, and every one of them updates what changed since
//! and the history entries it made. `GET /v1/memory/changes` reads it back.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::memory::{Entity, HistoryEntry, MemoryId, MemoryRecord, Message, OpenItem};
use crate::time::Timestamp;
use crate::types::JsonObject;
use crate::validate;

/// Whether a conversation is a call or an SMS conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversationKind {
    /// A call, named by `call_id`.
    Call,
    /// An SMS conversation, named by `conversation_id`.
    Sms,
}

impl ConversationKind {
    /// Its stored name: `call` or `sms`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Call => "call",
            ConversationKind::Sms => "sms",
        }
    }

    /// The request field that names it: `call_id` or `conversation_id`.
    pub fn field(self) -> &'static str {
        match self {
            ConversationKind::Call => "call_id",
            ConversationKind::Sms => "conversation_id",
        }
    }
}

/// A call or conversation, as a memory write or `GET /v1/memory/changes` names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConversationKey {
    /// Call or SMS.
    pub kind: ConversationKind,
    /// The platform's id for it, as given.
    pub id: String,
}

impl ConversationKey {
    /// The call `id`.
    pub fn call(id: impl Into<String>) -> Self {
        ConversationKey {
            kind: ConversationKind::Call,
            id: id.into(),
        }
    }

    /// The SMS conversation `id`.
    pub fn sms(id: impl Into<String>) -> Self {
        ConversationKey {
            kind: ConversationKind::Sms,
            id: id.into(),
        }
    }

    /// The key a request names with `call_id` or `conversation_id`: exactly one of
    /// them, a non-blank key of at most 256 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `call_id` when both are given, or the field
    /// whose value is not a key.
    pub fn from_request(
        call_id: Option<&str>,
        conversation_id: Option<&str>,
    ) -> Result<Option<Self>> {
        let key = match (call_id, conversation_id) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "call_id",
                    "give call_id or conversation_id, not both",
                ));
            }
            (Some(c), None) => ConversationKey::call(c),
            (None, Some(s)) => ConversationKey::sms(s),
        };
        validate::key(key.kind.field(), &key.id)?;
        Ok(Some(key))
    }
}

/// A memory write's options: the revision it expects and the conversation it belongs
/// to. `None` and `Some(revision)` convert into it, so a write that names no
/// conversation reads as it always has.
///
/// ```
/// # use contacts_core::*;
/// let plain: WriteOptions = None.into();
/// let during_a_call = WriteOptions::from(Some(3)).in_conversation(ConversationKey::call("call-1"));
/// assert_eq!(during_a_call.expected_revision, Some(3));
/// assert!(plain.conversation.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Refuse the write (`Conflict`) unless the record is at this revision.
    pub expected_revision: Option<u64>,
    /// Record the write in this call's or conversation's changes.
    pub conversation: Option<ConversationKey>,
}

impl WriteOptions {
    /// These options, with the write recorded in `key`'s changes.
    #[must_use]
    pub fn in_conversation(mut self, key: ConversationKey) -> Self {
        self.conversation = Some(key);
        self
    }
}

impl From<Option<u64>> for WriteOptions {
    fn from(expected_revision: Option<u64>) -> Self {
        WriteOptions {
            expected_revision,
            conversation: None,
        }
    }
}

/// The parts of a memory record a conversation's changes are told in: what an agent
/// knows of the person, not the message window, which slides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryState {
    /// The summary.
    pub summary: Option<String>,
    /// The facts.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub facts: JsonObject,
    /// The entities.
    pub entities: Vec<Entity>,
    /// The open items.
    pub open_items: Vec<OpenItem>,
}

impl MemoryState {
    fn of(record: &MemoryRecord) -> Self {
        MemoryState {
            summary: record.summary.clone(),
            facts: record.facts.clone(),
            entities: record.entities.clone(),
            open_items: record.open_items.clone(),
        }
    }
}

/// What a conversation changed: the new full value of each part that differs from
/// the memory at its start (absent: unchanged), and the messages it added.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryChanges {
    /// The summary now, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The facts now, if they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub facts: Option<JsonObject>,
    /// The entities now, if they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Entity>>,
    /// The open items now, if they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_items: Option<Vec<OpenItem>>,
    /// The messages the conversation appended, oldest first, at most the memory's
    /// window of them (the newest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
}

/// A call's or conversation's memory changes, as `GET /v1/memory/changes` answers
/// them and a store keeps them (contract rule 16).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationLog {
    /// The memory record the conversation wrote to.
    pub memory_id: MemoryId,
    /// The memory as it was before the conversation's first write.
    pub initial_memory: MemoryState,
    /// What the conversation changed.
    pub changes: MemoryChanges,
    /// The summary and facts history entries the conversation made, oldest first,
    /// bounded like the record's own.
    pub memory_history: Vec<HistoryEntry>,
    /// How many writes named the conversation.
    pub writes: u64,
    /// When its first write was made.
    pub started_at: Timestamp,
    /// When its last write was made.
    pub updated_at: Timestamp,
}

/// How much of a conversation a log keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogBounds {
    pub(crate) window: usize,
    pub(crate) history: usize,
}

/// The log after a write named it: `before` and `after` are the record either side of
/// the write, `pushed` the history entries the write made.
pub(crate) fn record_write(
    previous: Option<&ConversationLog>,
    before: &MemoryRecord,
    after: &MemoryRecord,
    pushed: &[HistoryEntry],
    now: Timestamp,
    bounds: LogBounds,
) -> ConversationLog {
    let mut log = previous.cloned().unwrap_or_else(|| ConversationLog {
        memory_id: after.id,
        initial_memory: MemoryState::of(before),
        changes: MemoryChanges::default(),
        memory_history: Vec::new(),
        writes: 0,
        started_at: now,
        updated_at: now,
    });
    let initial = &log.initial_memory;
    log.changes.summary = (after.summary != initial.summary)
        .then(|| after.summary.clone())
        .flatten();
    log.changes.facts = (after.facts != initial.facts).then(|| after.facts.clone());
    log.changes.entities = (after.entities != initial.entities).then(|| after.entities.clone());
    log.changes.open_items =
        (after.open_items != initial.open_items).then(|| after.open_items.clone());
    log.changes.messages.extend(appended(before, after));
    let excess = log.changes.messages.len().saturating_sub(bounds.window);
    log.changes.messages.drain(..excess);
    log.memory_history.extend_from_slice(pushed);
    let excess = log.memory_history.len().saturating_sub(bounds.history);
    log.memory_history.drain(..excess);
    log.writes += 1;
    log.updated_at = now.max(log.updated_at);
    log
}

/// The messages in `after`'s window that `before`'s did not hold (as a multiset: an
/// appended copy of an earlier message counts).
fn appended(before: &MemoryRecord, after: &MemoryRecord) -> Vec<Message> {
    let mut unused: Vec<&Message> = before.recent_messages.iter().collect();
    after
        .recent_messages
        .iter()
        .filter(|m| match unused.iter().position(|u| u == m) {
            Some(i) => {
                unused.swap_remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, OrgId};
    use crate::memory::Role;

    fn record() -> MemoryRecord {
        let t = Timestamp::from_millis(1_000);
        MemoryRecord {
            id: MemoryId(uuid::Uuid::from_u128(1)),
            org_id: OrgId(uuid::Uuid::from_u128(2)),
            contact_id: ContactId(uuid::Uuid::from_u128(3)),
            persona_id: Some("p".into()),
            agent_number: None,
            summary: Some("old".into()),
            summary_updated_at: None,
            facts: JsonObject::new(),
            recent_messages: Vec::new(),
            open_items: Vec::new(),
            entities: Vec::new(),
            memory_history: Vec::new(),
            created_at: t,
            updated_at: t,
            revision: 1,
        }
    }

    fn message(text: &str) -> Message {
        Message {
            role: Role::User,
            content: text.into(),
            channel: "call".into(),
            timestamp: Timestamp::from_millis(2_000),
        }
    }

    const BOUNDS: LogBounds = LogBounds {
        window: 2,
        history: 1,
    };

    #[test]
    fn changes_hold_new_values_against_the_start() {
        let start = record();
        let mut mid = start.clone();
        mid.summary = Some("new".into());
        let entry = |v: &str| HistoryEntry {
            timestamp: Timestamp::from_millis(2_000),
            entry_type: "summary_update".into(),
            value: v.into(),
        };
        let now = Timestamp::from_millis(2_000);
        let log = record_write(None, &start, &mid, &[entry("new")], now, BOUNDS);
        assert_eq!(log.initial_memory.summary.as_deref(), Some("old"));
        assert_eq!(log.changes.summary.as_deref(), Some("new"));
        assert!(log.changes.facts.is_none());
        // Back to the start: no longer a change, though the history keeps both.
        let mut end = mid.clone();
        end.summary = Some("old".into());
        let log = record_write(Some(&log), &mid, &end, &[entry("old")], now, BOUNDS);
        assert!(log.changes.summary.is_none());
        assert_eq!(log.memory_history, vec![entry("old")], "bounded to one");
        assert_eq!(log.writes, 2);
    }

    #[test]
    fn messages_are_the_appended_ones_within_the_window() {
        let mut start = record();
        start.recent_messages = vec![message("a")];
        let mut after = start.clone();
        after
            .recent_messages
            .extend([message("a"), message("b"), message("c")]);
        let now = Timestamp::from_millis(2_000);
        let log = record_write(None, &start, &after, &[], now, BOUNDS);
        let texts: Vec<_> = log
            .changes
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(
            texts,
            ["b", "c"],
            "the repeated `a` counts, the window keeps two"
        );
    }

    #[test]
    fn a_request_names_one_conversation() {
        assert_eq!(ConversationKey::from_request(None, None).unwrap(), None);
        assert_eq!(
            ConversationKey::from_request(Some("c-1"), None).unwrap(),
            Some(ConversationKey::call("c-1"))
        );
        let both = ConversationKey::from_request(Some("c"), Some("s")).unwrap_err();
        assert!(matches!(both, Error::InvalidInput { ref field, .. } if field == "call_id"));
        let blank = ConversationKey::from_request(None, Some(" ")).unwrap_err();
        assert!(
            matches!(blank, Error::InvalidInput { ref field, .. } if field == "conversation_id")
        );
    }
}
