//! Flag values the CLI checks itself, so that a mistake is answered with what was
//! expected and an example rather than a parser's internals.

use std::net::SocketAddr;
use std::str::FromStr;

/// An example UUID for messages (a version 7 UUID, as the engine makes them).
const EXAMPLE_UUID: &str = "0193a5e4-7b1c-7d2e-9f00-3a4b5c6d7e8f";

/// A UUID-based id (`OrgId`, `ContactId`, ...) named `what` in messages.
fn id<T: FromStr>(what: &str, raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not {what}: expected a UUID such as {EXAMPLE_UUID}"))
}

/// `--org`.
pub(super) fn org(raw: &str) -> Result<contacts_core::OrgId, String> {
    id("an org id", raw)
}

/// A contact id.
pub(super) fn contact(raw: &str) -> Result<contacts_core::ContactId, String> {
    id("a contact id", raw)
}

/// An identifier id.
pub(super) fn identifier(raw: &str) -> Result<contacts_core::IdentifierId, String> {
    id("an identifier id", raw)
}

/// A memory record id.
pub(super) fn memory(raw: &str) -> Result<contacts_core::MemoryId, String> {
    id("a memory id", raw)
}

/// A whole number (`--limit`, `--body-limit`, `--expected-revision`, ...).
pub(crate) fn number<T: FromStr>(raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a whole number: expected one such as 50"))
}

/// A JSON object (`--metadata`, `--facts`).
pub(super) fn json_object(raw: &str) -> Result<serde_json::Value, String> {
    // Read as the API reads it: a key given twice is an error, not the last one.
    let mut json = serde_json::Deserializer::from_str(raw);
    let parsed = contacts_core::strict_json::option(&mut json)
        .and_then(|v| json.end().map(|()| v.unwrap_or(serde_json::Value::Null)));
    match parsed {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(r#"expected a JSON object such as '{"plan": "pro"}'"#.to_owned()),
        Err(e) => Err(format!(
            r#"not JSON ({e}): expected a JSON object such as '{{"plan": "pro"}}'"#
        )),
    }
}

/// `--listen`: `HOST:PORT`; a bare port is the usual slip, answered with the two
/// addresses it could have meant.
pub(super) fn listen(raw: &str) -> Result<SocketAddr, String> {
    raw.trim().parse().map_err(|_| {
        if raw.trim().parse::<u16>().is_ok() {
            format!(
                "{raw:?} is a port without an address: expected HOST:PORT, such as \
                 127.0.0.1:{p} (this machine only) or 0.0.0.0:{p} (every interface)",
                p = raw.trim()
            )
        } else {
            format!("{raw:?} is not an address: expected HOST:PORT such as 127.0.0.1:8080")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_was_expected_with_an_example() {
        let e = org("123").unwrap_err();
        assert!(
            e.contains("not an org id") && e.contains(EXAMPLE_UUID),
            "{e}"
        );
        assert!(org(EXAMPLE_UUID).is_ok());
        let e = listen("8080").unwrap_err();
        assert!(
            e.contains("127.0.0.1:8080") && e.contains("0.0.0.0:8080"),
            "{e}"
        );
        assert!(listen("localhost").unwrap_err().contains("HOST:PORT"));
        assert_eq!(listen("127.0.0.1:0").unwrap().port(), 0);
        assert!(json_object("[1]").unwrap_err().contains("JSON object"));
        assert!(number::<u64>("ten").unwrap_err().contains("such as 50"));
        assert_eq!(number::<i64>("-1"), Ok(-1));
        assert!(json_object("{").unwrap_err().starts_with("not JSON"));
        assert!(
            json_object(r#"{"a": 1, "a": 2}"#)
                .unwrap_err()
                .contains("given twice")
        );
    }
}
