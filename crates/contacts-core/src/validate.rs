//! Checks on everything a request carries besides identifiers (docs/semantics.md 6
//! and 7): names, JSON values, texts and keys. Every check names the field and runs
//! before anything is read or written.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::normalize::nfc;
use crate::types::JsonObject;

/// Longest persona id, entity key, open item type and the like.
pub(crate) const MAX_KEY_BYTES: usize = 255;

/// The name, trimmed and in Unicode NFC (so `José` typed either way is one spelling,
/// and its length is counted as people count it), or `None` when blank.
pub(crate) fn name(name: Option<&str>, max_chars: usize) -> Result<Option<Cow<'_, str>>> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.contains('\0') {
        return Err(Error::invalid("name", "must not contain NUL"));
    }
    let name = nfc(name);
    if name.chars().count() > max_chars {
        return Err(Error::invalid(
            "name",
            format!("is longer than {max_chars} characters"),
        ));
    }
    Ok(Some(name))
}

/// `value` as contact metadata: a JSON object within the depth and size bounds.
pub(crate) fn metadata(
    value: Option<&serde_json::Value>,
    max_bytes: usize,
    max_depth: usize,
) -> Result<Option<&JsonObject>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let serde_json::Value::Object(map) = value else {
        return Err(Error::invalid("metadata", "must be a JSON object"));
    };
    json("metadata", value, max_depth)?;
    if json_bytes(value) > max_bytes {
        return Err(Error::invalid(
            "metadata",
            format!("is larger than {max_bytes} bytes serialised"),
        ));
    }
    Ok(Some(map))
}

/// Rejects a JSON value nested deeper than `max_depth` (the value itself is depth 1;
/// every nested object or array adds one) or holding NUL in any key or string. The
/// walk stops at the limit, so a hostile value cannot exhaust the stack.
pub(crate) fn json(field: &str, value: &serde_json::Value, max_depth: usize) -> Result<()> {
    walk(field, value, 1, max_depth)
}

/// [`json`] for each value of an object.
pub(crate) fn json_object(field: &str, object: &JsonObject, max_depth: usize) -> Result<()> {
    for (k, v) in object {
        if k.contains('\0') {
            return Err(Error::invalid(
                field.to_owned(),
                "keys must not contain NUL",
            ));
        }
        walk(field, v, 2, max_depth)?;
    }
    Ok(())
}

fn walk(field: &str, value: &serde_json::Value, depth: usize, max_depth: usize) -> Result<()> {
    use serde_json::Value;
    let nested = |v: &Value| matches!(v, Value::Array(_) | Value::Object(_));
    if nested(value) && depth > max_depth {
        return Err(Error::invalid(
            field.to_owned(),
            format!("is nested deeper than {max_depth} levels"),
        ));
    }
    match value {
        Value::String(s) if s.contains('\0') => Err(Error::invalid(
            field.to_owned(),
            "strings must not contain NUL",
        )),
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| walk(field, v, depth + 1, max_depth)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return Err(Error::invalid(
                    field.to_owned(),
                    "keys must not contain NUL",
                ));
            }
            walk(field, v, depth + 1, max_depth)
        }),
        _ => Ok(()),
    }
}

/// The serialised size of a JSON value, counted without building the text.
pub(crate) fn json_bytes<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    // Writing into a counter cannot fail: it has no I/O and the value is valid JSON.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// A text of at most `max` bytes without NUL.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::invalid(
            field.to_owned(),
            format!("is longer than {max} bytes"),
        ));
    }
    if value.contains('\0') {
        return Err(Error::invalid(field.to_owned(), "must not contain NUL"));
    }
    Ok(())
}

/// A key (persona id, entity type or id, open item type): non-blank, at most
/// [`MAX_KEY_BYTES`], without control characters.
pub(crate) fn key(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field.to_owned(), "must not be blank"));
    }
    text(field, value, MAX_KEY_BYTES)?;
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field.to_owned(),
            "contains control characters",
        ));
    }
    Ok(())
}

/// An `io::Write` that only counts bytes.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_is_bounded_and_counted_from_the_value() {
        let mut v = json!(1);
        for _ in 0..16 {
            v = json!({ "d": v });
        }
        assert!(json("metadata", &v, 16).is_ok());
        assert!(json("metadata", &json!({ "d": v }), 16).is_err());
        // A hostile depth is refused without recursing through it.
        // Built by hand: `json!` would serialise the nested value, recursively.
        let mut deep = serde_json::Value::Null;
        for _ in 0..100_000 {
            deep = serde_json::Value::Array(vec![deep]);
        }
        assert!(json("facts", &deep, 16).is_err());
        std::mem::forget(deep); // dropping it would recurse 100,000 deep
    }

    #[test]
    fn nul_is_refused_in_keys_and_strings() {
        assert!(json("facts", &json!({"a\u{0}": 1}), 16).is_err());
        assert!(json("facts", &json!({"a": ["x\u{0}"]}), 16).is_err());
        assert!(text("summary", "a\u{0}", 10).is_err());
        assert!(key("entity_id", " ").is_err());
        assert!(key("entity_id", "a\u{7}").is_err());
    }
}
