//! The stored forms the SQL backends share, so that each is defined once: a memory
//! scope as one unique key column, a memory record as one JSON document, metadata as a
//! JSON object's text.
//!
//! Decoding failures are described in words; a backend reports them as corrupt data
//! (its own storage error).

use crate::history::ContactHistoryEntry;
use crate::memory::{Entity, MemoryRecord, MemoryScope};
use crate::types::Metadata;
use crate::unmerge::MergeSnapshot;

/// The scope as one string, unique per scope, for the `(org, contact, scope)` unique
/// index: `persona:<id>` or `agent:<E.164>`. The prefixes keep a persona named like a
/// phone number apart from that agent number.
pub fn scope_key(scope: &MemoryScope) -> String {
    match scope {
        MemoryScope::Persona(p) => format!("persona:{p}"),
        MemoryScope::AgentNumber(a) => format!("agent:{a}"),
    }
}

/// A memory record as one JSON document (its API shape).
///
/// # Errors
/// A description, if the record cannot be serialised (it always can: its JSON values
/// come from validated input).
pub fn encode_memory(record: &MemoryRecord) -> Result<String, String> {
    serde_json::to_string(record).map_err(|e| format!("cannot serialise a memory record: {e}"))
}

/// A memory record without its entities, for a store that keeps each entity apart
/// ([`encode_entity`]; contract rule 18): one JSON object, the record's API shape
/// less `entities`. Appending `,"entities":[` + the entities' documents, comma
/// separated and in order, + `]` before its closing brace gives what
/// [`encode_memory`] writes, up to key order, which [`decode_memory`] reads.
///
/// # Errors
/// As [`encode_memory`].
pub fn encode_memory_core(record: &MemoryRecord) -> Result<String, String> {
    // Every field but one, named, so a field added to the record fails to compile here
    // rather than go missing from the store.
    let MemoryRecord {
        id,
        org_id,
        contact_id,
        persona_id,
        agent_number,
        summary,
        summary_updated_at,
        facts,
        recent_messages,
        open_items,
        entities: _,
        memory_history,
        created_at,
        updated_at,
        revision,
    } = record;
    let core = serde_json::json!({
        "id": id,
        "org_id": org_id,
        "contact_id": contact_id,
        "persona_id": persona_id,
        "agent_number": agent_number,
        "summary": summary,
        "summary_updated_at": summary_updated_at,
        "facts": facts,
        "recent_messages": recent_messages,
        "open_items": open_items,
        "memory_history": memory_history,
        "created_at": created_at,
        "updated_at": updated_at,
        "revision": revision,
    });
    serde_json::to_string(&core).map_err(|e| format!("cannot serialise a memory record: {e}"))
}

/// One entity of a memory record as its own JSON document (see
/// [`encode_memory_core`]).
///
/// # Errors
/// As [`encode_memory`].
pub fn encode_entity(entity: &Entity) -> Result<String, String> {
    serde_json::to_string(entity).map_err(|e| format!("cannot serialise an entity: {e}"))
}

/// A stored JSON document decoded at any nesting depth, on a growing stack: what a
/// store wrote (a memory's facts, a metadata value) may nest deeper than serde_json's
/// default limit of 128, and must still read back.
fn at_any_depth<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let mut json = serde_json::Deserializer::from_str(text);
    json.disable_recursion_limit();
    serde::Deserialize::deserialize(serde_stacker::Deserializer::new(&mut json))
        .and_then(|r| json.end().map(|()| r))
}

/// A memory record from its stored document, at any nesting depth.
///
/// Writes bound the depth of every JSON value well below serde_json's default limit of
/// 128 (docs/semantics.md 7), but records written before those bounds existed may be
/// deeper; a record the engine once accepted must stay readable, and deletable, so
/// the limit is lifted here and the stack grows on the heap as deep values need it.
///
/// # Errors
/// A description, if the document is not a memory record.
pub fn decode_memory(body: &str) -> Result<MemoryRecord, String> {
    at_any_depth(body).map_err(|e| format!("a memory record is unreadable: {e}"))
}

/// A merge's snapshot as one JSON document.
///
/// # Errors
/// A description, if it cannot be serialised (it always can, like a memory record).
pub fn encode_snapshot(snapshot: &MergeSnapshot) -> Result<String, String> {
    serde_json::to_string(snapshot).map_err(|e| format!("cannot serialise a merge snapshot: {e}"))
}

/// A merge's snapshot from its stored document, at any nesting depth (it holds memory
/// records and metadata; see [`decode_memory`]).
///
/// # Errors
/// A description, if the document is not a snapshot.
pub fn decode_snapshot(body: &str) -> Result<MergeSnapshot, String> {
    at_any_depth(body).map_err(|e| format!("a merge snapshot is unreadable: {e}"))
}

/// Metadata as the text of a JSON object: its canonical text, as it is.
pub fn encode_metadata(metadata: &Metadata) -> &str {
    metadata.as_json()
}

/// Metadata from its stored text, checked to be a JSON object (see
/// [`Metadata::from_stored`]).
///
/// # Errors
/// A description, if the text is not a JSON object.
pub fn decode_metadata(text: &str) -> Result<Metadata, String> {
    Metadata::from_stored(text)
}

/// A history entry as two JSON documents: the entry, and its redacted form, which is
/// what a [`WriteOp::RedactHistory`](super::WriteOp::RedactHistory) leaves (a backend
/// that stores both drops the first and keeps the second; one that stores the entry
/// alone makes the second with [`redact_history`]; neither decides what is personal).
///
/// # Errors
/// A description, if the entry cannot be serialised (it always can).
pub fn encode_history(entry: &ContactHistoryEntry) -> Result<(String, String), String> {
    Ok((
        encode_history_entry(entry)?,
        encode_history_entry(&entry.redacted())?,
    ))
}

/// A history entry as one JSON document, for a backend that makes the redacted form
/// only when the contact is erased ([`redact_history`]).
///
/// # Errors
/// A description, if the entry cannot be serialised (it always can).
pub fn encode_history_entry(entry: &ContactHistoryEntry) -> Result<String, String> {
    serde_json::to_string(entry).map_err(|e| format!("cannot serialise a history entry: {e}"))
}

/// The redacted form of a stored entry ([`encode_history_entry`]'s document): exactly
/// the second document [`encode_history`] gives for the same entry, so a backend that
/// stores one form and one that stores both erase alike, and neither decides what is
/// personal.
///
/// # Errors
/// A description, if the document is not a history entry.
pub fn redact_history(text: &str) -> Result<String, String> {
    encode_history_entry(&decode_history(text)?.redacted())
}

/// A history entry from one of its stored documents.
///
/// # Errors
/// A description, if the document is not a history entry.
pub fn decode_history(text: &str) -> Result<ContactHistoryEntry, String> {
    // At any depth: an entry carries metadata values, which a config may let nest
    // deeper than serde_json's default limit, and an erasure must read every entry.
    at_any_depth(text).map_err(|e| format!("a history entry is unreadable: {e}"))
}

/// The stored form of `event`, numbered `sequence` (contract rule 15).
///
/// # Errors
/// A description, if the event cannot be serialised.
pub fn encode_event(event: &crate::Event, sequence: u64) -> Result<String, String> {
    let numbered = crate::Event {
        sequence,
        ..event.clone()
    };
    serde_json::to_string(&numbered).map_err(|e| format!("cannot serialise an event: {e}"))
}

/// An event's stored form split around its sequence number, for a store that numbers
/// events in the statement that stores them: `before + n + after` is exactly
/// [`encode_event`]`(event, n)`.
///
/// # Errors
/// A description, if the event cannot be serialised (it always can), or if its number
/// is not the document's first field (the split relies on it).
pub fn encode_event_around_sequence(event: &crate::Event) -> Result<(String, String), String> {
    const FIRST: &str = "{\"sequence\":";
    let text = encode_event(event, 0)?;
    match text.strip_prefix(FIRST).and_then(|t| t.strip_prefix('0')) {
        Some(after) => Ok((FIRST.to_owned(), after.to_owned())),
        None => Err("an event's number is not its first field".to_owned()),
    }
}

/// An event from its stored form.
///
/// # Errors
/// A description, if the document is not an event.
pub fn decode_event(text: &str) -> Result<crate::Event, String> {
    serde_json::from_str(text).map_err(|e| format!("an event is unreadable: {e}"))
}

/// A call's or conversation's memory changes as one JSON document (contract rule 16).
///
/// # Errors
/// A description, if it cannot be serialised (it always can, like a memory record).
pub fn encode_conversation(log: &crate::ConversationLog) -> Result<String, String> {
    serde_json::to_string(log).map_err(|e| format!("cannot serialise memory changes: {e}"))
}

/// A call's or conversation's memory changes from the stored document, at any nesting
/// depth (they hold facts; see [`decode_memory`]).
///
/// # Errors
/// A description, if the document is not a conversation's memory changes.
pub fn decode_conversation(body: &str) -> Result<crate::ConversationLog, String> {
    at_any_depth(body).map_err(|e| format!("memory changes are unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both halves around the number make exactly the numbered document, for numbers
    /// of every width and events with and without their optional fields.
    #[test]
    fn events_split_around_their_number() {
        let bare = crate::Event {
            sequence: 7,
            ..crate::Event::new(
                crate::EventKind::ContactCreated,
                crate::Timestamp::from_millis(1_753_261_800_000),
            )
        };
        let full = crate::Event {
            contact_id: Some(crate::ContactId(uuid::Uuid::nil())),
            version: Some(10),
            persona_id: Some("p0".into()),
            enabled: Some(true),
            ..bare.clone()
        };
        for event in [bare, full] {
            let (before, after) = encode_event_around_sequence(&event).unwrap();
            for n in [0, 1, 42, 1_000_000, u64::MAX] {
                assert_eq!(
                    format!("{before}{n}{after}"),
                    encode_event(&event, n).unwrap()
                );
            }
        }
    }

    /// Redacting a stored entry gives exactly the redacted document stored beside it,
    /// for an entry with every kind of change, so a backend that keeps one form erases
    /// as one that keeps both; and no personal value is left in it.
    #[test]
    fn a_stored_entry_redacts_to_its_redacted_form() {
        use crate::history::{Change, HistoryKind};
        use crate::{ContactId, IdentifierId, IdentifierKind, Timestamp};
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let entry = ContactHistoryEntry {
            contact_id: ContactId(id(1)),
            version: 3,
            timestamp: Timestamp::from_millis(1_753_261_800_123),
            kind: HistoryKind::MergedFrom,
            changes: vec![
                Change::Name {
                    before: Some("Ana".into()),
                    after: Some("Ana Lima".into()),
                },
                Change::Metadata {
                    key: "plan".into(),
                    before: None,
                    after: Some(serde_json::json!({"tier": 2.5, "tags": ["a", null]})),
                },
                Change::IdentifierAttached {
                    identifier_id: IdentifierId(id(2)),
                    identifier_type: IdentifierKind::Email,
                    value: Some("ana@example.com".into()),
                },
                Change::IdentifierDetached {
                    identifier_id: IdentifierId(id(3)),
                    identifier_type: IdentifierKind::PhoneNumber,
                    value: Some("+14155550192".into()),
                },
                Change::IdentifierMoved {
                    identifier_id: IdentifierId(id(4)),
                    identifier_type: IdentifierKind::ExternalId,
                    value: Some("crm-1".into()),
                    from: ContactId(id(5)),
                    to: ContactId(id(1)),
                },
                Change::Merge {
                    primary: ContactId(id(1)),
                    duplicate: ContactId(id(5)),
                },
                Change::Unmerge {
                    primary: ContactId(id(1)),
                    duplicate: ContactId(id(6)),
                },
            ],
            redacted: false,
        };
        let (whole, redacted) = encode_history(&entry).unwrap();
        assert_eq!(whole, encode_history_entry(&entry).unwrap());
        assert_eq!(redact_history(&whole).unwrap(), redacted);
        let personal = [
            "Ana",
            "tier",
            "2.5",
            "ana@example.com",
            "+14155550192",
            "crm-1",
        ];
        for value in personal {
            assert!(whole.contains(value), "{value} is in the whole entry");
            assert!(!redacted.contains(value), "{value} survived: {redacted}");
        }
        let kept = decode_history(&redacted).unwrap();
        assert!(kept.redacted);
        assert_eq!(
            kept.changes.len(),
            entry.changes.len(),
            "every change stays"
        );
        assert_eq!(kept.changes[5], entry.changes[5], "a merge is not personal");
        assert!(redact_history("{\"not\": \"an entry\"}").is_err());
    }

    /// An entry whose metadata value nests deeper than serde_json's default limit (a
    /// config may allow it) reads back and redacts.
    #[test]
    fn history_entries_decode_at_any_depth() {
        use crate::history::{Change, HistoryKind};
        let entry = ContactHistoryEntry {
            contact_id: crate::ContactId(uuid::Uuid::nil()),
            version: 2,
            timestamp: crate::Timestamp::from_millis(1_753_261_800_000),
            kind: HistoryKind::Updated,
            changes: vec![Change::Metadata {
                key: "deep".into(),
                before: None,
                after: Some(serde_json::json!(1)),
            }],
            redacted: false,
        };
        let shallow = encode_history_entry(&entry).unwrap();
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let text = shallow.replace("\"after\":1", &format!("\"after\":{deep}"));
        assert_ne!(text, shallow);
        assert_eq!(decode_history(&text).unwrap().version, 2);
        assert!(!redact_history(&text).unwrap().contains("[[["));
    }

    /// A record deeper than serde_json's default limit (as a build without the facts
    /// bound could write) decodes, and a much deeper one does not overflow the stack.
    #[test]
    fn records_decode_at_any_depth() {
        for depth in [130, 5_000] {
            let deep = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            let text = format!(
                r#"{{"id":"0193a5e4-7b1c-7d2e-9f00-3a4b5c6d7e8f",
                "org_id":"0193a5e4-7b1c-7d2e-9f00-3a4b5c6d7e80",
                "contact_id":"0193a5e4-7b1c-7d2e-9f00-3a4b5c6d7e81",
                "persona_id":"p","agent_number":null,"summary":null,
                "summary_updated_at":null,"facts":{{"deep":{deep}}},"recent_messages":[],
                "open_items":[],"entities":[],"memory_history":[],
                "created_at":"2025-07-23T09:10:00.000Z",
                "updated_at":"2025-07-23T09:10:00.000Z","revision":1}}"#
            );
            let record = decode_memory(&text).unwrap_or_else(|e| panic!("depth {depth}: {e}"));
            assert_eq!(record.revision, 1);
            assert!(record.facts.contains_key("deep"));
        }
        assert!(decode_memory("{").is_err());
        assert!(decode_memory("{} x").is_err());
    }

    #[test]
    fn scope_keys_keep_personas_and_agents_apart() {
        let persona = MemoryScope::Persona("+14155550100".into());
        let agent = MemoryScope::AgentNumber("+14155550100".into());
        assert_ne!(scope_key(&persona), scope_key(&agent));
        assert_eq!(scope_key(&persona), "persona:+14155550100");
    }

    #[test]
    fn metadata_round_trips_and_refuses_non_objects() {
        let mut m = Metadata::new();
        m.insert("a", serde_json::json!([1, {"b": null}]));
        assert_eq!(decode_metadata(encode_metadata(&m)).unwrap(), m);
        assert!(decode_metadata("[1]").is_err());
        assert!(decode_metadata("{").is_err());
    }
}
