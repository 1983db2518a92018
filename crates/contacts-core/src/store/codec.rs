//! The stored forms the SQL backends share, so that each is defined once: a memory
//! scope as one unique key column, a memory record as one JSON document, metadata as a
//! JSON object's text.
//!
//! Decoding failures are described in words; a backend reports them as corrupt data
//! (its own storage error).

use crate::memory::{MemoryRecord, MemoryScope};
use crate::types::Metadata;

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

/// A memory record from its stored document.
///
/// # Errors
/// A description, if the document is not a memory record.
pub fn decode_memory(body: &str) -> Result<MemoryRecord, String> {
    serde_json::from_str(body).map_err(|e| format!("a memory record is unreadable: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
