//! A contact's metadata, kept as the canonical text of a JSON object.
//!
//! Metadata is written rarely (keys are only ever added where absent, docs/semantics.md
//! 3) and read on every resolve. Kept as text it costs one inline string instead of a
//! tree of maps (a contact with `{"source":"import"}` holds 19 bytes, not a B-tree
//! node of eleven slots), a SQL backend reads its column without parsing it, and a
//! response writes it out as it is. It is parsed only when a request adds keys.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::types::JsonObject;

/// A contact's metadata: a JSON object, `{}` when empty.
///
/// It holds the object's canonical text (keys sorted, no whitespace), so two
/// metadata are equal exactly when their objects are.
///
/// ```
/// use contacts_core::Metadata;
/// use contacts_core::serde_json::json;
///
/// let mut m = Metadata::new();
/// assert!(m.is_empty());
/// m.insert("tier", json!("gold"));
/// m.insert("source", json!("import"));
/// assert_eq!(m.as_json(), r#"{"source":"import","tier":"gold"}"#);
/// assert_eq!(m.get("tier"), Some(json!("gold")));
/// assert_eq!(contacts_core::serde_json::to_string(&m).unwrap(), m.as_json());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Metadata(CompactString);

impl Metadata {
    /// Empty metadata, `{}`.
    pub fn new() -> Self {
        Metadata(CompactString::const_new("{}"))
    }

    /// The metadata of a JSON object.
    pub fn from_object(object: &JsonObject) -> Self {
        // A map with string keys and JSON values always serialises; serde_json's map
        // is sorted (the workspace does not enable `preserve_order`; a unit test below
        // fails if it ever is), which makes the text canonical.
        Metadata(
            serde_json::to_string(object)
                .map(CompactString::from)
                .unwrap_or_else(|_| CompactString::const_new("{}")),
        )
    }

    /// Metadata from text this engine stored (see [`as_json`](Self::as_json)): checked
    /// to be one JSON object, without building it.
    ///
    /// # Errors
    /// A description, if `text` is not a JSON object.
    pub fn from_stored(text: &str) -> Result<Self, String> {
        let raw: &RawValue = serde_json::from_str(text)
            .map_err(|e| format!("stored metadata is unreadable: {e}"))?;
        if !raw.get().starts_with('{') {
            return Err("stored metadata is not a JSON object".to_owned());
        }
        Ok(Metadata(CompactString::from(raw.get())))
    }

    /// Metadata from any JSON object's text, brought to the canonical form (for
    /// storage that rewrites JSON, such as PostgreSQL's `jsonb`).
    ///
    /// # Errors
    /// A description, if `text` is not a JSON object.
    pub fn parse(text: &str) -> Result<Self, String> {
        match serde_json::from_str(text) {
            Ok(Value::Object(m)) => Ok(Metadata::from_object(&m)),
            Ok(_) => Err("metadata is not a JSON object".to_owned()),
            Err(e) => Err(format!("metadata is unreadable: {e}")),
        }
    }

    /// The canonical JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The JSON object.
    pub fn to_object(&self) -> JsonObject {
        // The text is always an object: every constructor checks it.
        match serde_json::from_str(&self.0) {
            Ok(Value::Object(m)) => m,
            _ => JsonObject::new(),
        }
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0 == "{}"
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.to_object().len()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_object().remove(key)
    }

    /// Sets `key` to `value`, replacing any value it had.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let mut object = self.to_object();
        object.insert(key.into(), value);
        *self = Metadata::from_object(&object);
    }
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata::new()
    }
}

impl From<JsonObject> for Metadata {
    fn from(object: JsonObject) -> Self {
        Metadata::from_object(&object)
    }
}

impl From<&JsonObject> for Metadata {
    fn from(object: &JsonObject) -> Self {
        Metadata::from_object(object)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written out as it is: borrowing it as a raw value checks it without building
        // it or allocating.
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        JsonObject::deserialize(deserializer).map(|m| Metadata::from_object(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test objects only"),
        }
    }

    #[test]
    fn the_text_is_canonical_so_equal_objects_are_equal_metadata() {
        let a = Metadata::from_object(&object(json!({"b": 1, "a": {"d": [1, 2], "c": null}})));
        assert_eq!(a.as_json(), r#"{"a":{"c":null,"d":[1,2]},"b":1}"#);
        let b = Metadata::parse(r#" { "b" : 1 , "a" : { "c" : null , "d" : [ 1 , 2 ] } } "#)
            .expect("an object");
        assert_eq!(a, b);
        assert_ne!(a, Metadata::new());
    }

    #[test]
    fn stored_text_must_be_one_object() {
        assert_eq!(
            Metadata::from_stored("{}").expect("object"),
            Metadata::new()
        );
        for bad in ["[1]", "{", "", "1", r#""x""#, "{} {}"] {
            assert!(Metadata::from_stored(bad).is_err(), "{bad:?}");
            assert!(Metadata::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_round_trips_through_the_object() {
        let m = Metadata::from_object(&object(json!({"k": "é\u{0}\"", "n": 1.5})));
        let text = serde_json::to_string(&m).expect("serialises");
        assert_eq!(text, m.as_json());
        assert_eq!(serde_json::from_str::<Metadata>(&text).expect("parses"), m);
        assert_eq!(
            serde_json::to_value(&m).expect("value"),
            json!({"k": "é\u{0}\"", "n": 1.5})
        );
        assert!(serde_json::from_str::<Metadata>("[1]").is_err());
    }

    #[test]
    fn insert_and_get_work_on_the_object() {
        let mut m = Metadata::default();
        m.insert("z", json!(1));
        m.insert("a", json!([true]));
        m.insert("z", json!(2));
        assert_eq!(m.as_json(), r#"{"a":[true],"z":2}"#);
        assert_eq!(m.get("z"), Some(json!(2)));
        assert_eq!(m.get("missing"), None);
        assert!(!m.is_empty());
    }
}
