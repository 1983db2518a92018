//! JSON values from requests, read strictly: a key given twice in any object, at any
//! depth, is an error naming the key, never the last one winning silently
//! (docs/semantics.md 8, "Strict input"). For the free-form request fields (`metadata`,
//! `facts`) with `#[serde(deserialize_with = ...)]`.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::types::JsonObject;

/// An optional JSON value (for `Option<Value>` fields with `#[serde(default)]`).
///
/// # Errors
/// The deserializer's, or a duplicate key.
pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    d.deserialize_option(OptionVisitor)
}

/// An optional JSON object (for `Option<JsonObject>` fields with `#[serde(default)]`).
///
/// # Errors
/// The deserializer's, a duplicate key, or a value that is not an object.
pub fn option_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonObject>, D::Error> {
    match option(d)? {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(de::Error::invalid_type(
            unexpected(&other),
            &"a JSON object",
        )),
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct OptionVisitor;

impl<'de> Visitor<'de> for OptionVisitor {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Strict.deserialize(d).map(Some)
    }
}

/// One JSON value, refusing duplicate keys all the way down.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // A whole number beyond 2^53 (an integer past u64, or written with an exponent)
        // has no exact f64: it would come back as another number.
        if v.fract() == 0.0 && v.abs() >= 9_007_199_254_740_992.0 {
            return Err(E::custom(format!(
                "the number {v:e} is too large to keep exactly; send it as a string"
            )));
        }
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that JSON cannot hold"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("the key `{key}` is given twice")));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "super::option")]
        value: Option<serde_json::Value>,
        #[serde(default, deserialize_with = "super::option_object")]
        object: Option<crate::types::JsonObject>,
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let ok: Probe =
            serde_json::from_str(r#"{"value": {"a": [1, {"b": null}], "c": 1.5}, "object": {}}"#)
                .unwrap();
        assert_eq!(
            ok.value,
            Some(serde_json::json!({"a": [1, {"b": null}], "c": 1.5}))
        );
        let none: Probe = serde_json::from_str(r#"{"value": null}"#).unwrap();
        assert!(none.value.is_none() && none.object.is_none());
        for body in [
            r#"{"value": {"a": 1, "a": 2}}"#,
            r#"{"value": {"x": [{"b": 1, "b": 1}]}}"#,
            r#"{"object": {"k": {"z": 0, "z": 0}}}"#,
        ] {
            let e = serde_json::from_str::<Probe>(body).unwrap_err().to_string();
            assert!(e.contains("is given twice"), "{body}: {e}");
        }
        assert!(serde_json::from_str::<Probe>(r#"{"object": [1]}"#).is_err());
        let big = r#"{"value": {"n": 123456789012345678901234567890}}"#;
        let e = serde_json::from_str::<Probe>(big).unwrap_err().to_string();
        assert!(e.contains("too large to keep exactly"), "{e}");
        let fine: Probe =
            serde_json::from_str(r#"{"value": [18446744073709551615, -9007199254740991, 0.1]}"#)
                .unwrap();
        assert_eq!(
            fine.value.unwrap().to_string(),
            "[18446744073709551615,-9007199254740991,0.1]"
        );
    }
}
