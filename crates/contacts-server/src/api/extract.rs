//! What handlers take from a request: a JSON body read up to the limit and decoded
//! with the path of the offending field, ids from the path, query parameters; every
//! failure a 400 (413 for a body over the limit) naming what was wrong.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, MatchedPath, Query, Request};
use axum::http::header::CONTENT_LENGTH;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::ApiError;

/// A JSON body, read up to the body limit (413 beyond) and decoded with the path of
/// the offending field in every error.
pub(super) struct JsonBody<T>(pub(super) T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        check_json_headers(req.headers())?;
        let limit = state.0.body_limit;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::too_large(limit));
        }
        let read = axum::body::to_bytes(req.into_body(), limit);
        let Ok(read) = tokio::time::timeout(state.0.body_timeout, read).await else {
            return Err(ApiError::request_timeout(state.0.body_timeout));
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(e) if is_length_limit(&e) => return Err(ApiError::too_large(limit)),
            Err(e) => {
                tracing::debug!(error = %e, "request body could not be read");
                return Err(ApiError::bad_request("The request body could not be read"));
            }
        };
        decode(&bytes).map(JsonBody)
    }
}

/// A body must say it is JSON (`application/json`, or a `+json` type, any charset
/// parameter) and must not be compressed: a body read under another declaration would
/// be read as something its sender did not mean.
fn check_json_headers(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    let json = declared.is_some_and(|v| {
        let mime = v.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
            || mime.split_once('/').is_some_and(|(kind, sub)| {
                kind.eq_ignore_ascii_case("application")
                    && sub.len() >= 5
                    && sub.is_char_boundary(sub.len() - 5)
                    && sub[sub.len() - 5..].eq_ignore_ascii_case("+json")
            })
    });
    if !json {
        let got = match declared {
            None => "no Content-Type".to_owned(),
            Some(v) => format!("Content-Type {v:?}"),
        };
        return Err(ApiError::unsupported_media_type(format!(
            "The request body must be JSON sent with Content-Type: application/json (got {got})"
        )));
    }
    if let Some(encoding) = headers.get(axum::http::header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("?").trim();
        if !encoding.eq_ignore_ascii_case("identity") {
            return Err(ApiError::unsupported_media_type(format!(
                "Content-Encoding {encoding:?} is not supported: send the body uncompressed"
            )));
        }
    }
    Ok(())
}

/// Path parameters, with a malformed path (bad percent-encoding, say) answered in the
/// error envelope like every other error.
pub(super) struct Path<T>(pub(super) T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => Err(ApiError::bad_request(format!(
                "The request path is not valid: {}",
                e.body_text()
            ))),
        }
    }
}

pub(super) fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Decodes a request body: it must be one JSON object; a field of the wrong type, an
/// unknown field or a field given twice is reported by its path (`messages[1].role`).
/// The struct is read from the bytes directly (no intermediate `Value`, which would
/// keep the last of two equal keys without a word).
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let not_json = |e: serde_json::Error| {
        ApiError::bad_request(format!("The request body is not valid JSON: {e}"))
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object",
            ));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(not_json)?;
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return not_json(inner);
        }
        let inner = inner.to_string();
        // serde_json appends the position; the field's path says more.
        let inner = match inner.rfind(" at line ") {
            Some(i) => inner[..i].to_owned(),
            None => inner,
        };
        match inner.split('`').nth(1) {
            // A whole-object error: serde names a missing or repeated field in
            // backticks.
            Some(field) if path == "." && inner.starts_with("missing field") => {
                ApiError::bad_field_message(field, format!("{field} is required"))
            }
            Some(field) if path == "." && inner.starts_with("duplicate field") => {
                ApiError::bad_field(field, "is given twice")
            }
            _ if path == "." => ApiError::bad_request(inner),
            _ => ApiError::bad_field(path, inner),
        }
    })?;
    de.end().map_err(not_json)?;
    Ok(value)
}

/// An id from a path or a body: a UUID in its hyphenated form only (36 characters),
/// so one id has one spelling (no braces, `urn:uuid:` or undashed forms).
pub(super) fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    let hyphenated = raw.len() == 36
        && raw.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    let bad = || {
        ApiError::bad_field(
            field,
            "must be a UUID in its hyphenated form, such as 0193a5e4-7b1c-7d2e-9f00-3a4b5c6d7e8f",
        )
    };
    if !hyphenated {
        return Err(bad());
    }
    raw.parse().map_err(|_| bad())
}

pub(super) fn required<T>(field: &str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::bad_field_message(field, format!("{field} is required")))
}

/// The query string's pairs; a malformed query string is a 400.
pub(super) fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|e| ApiError::bad_request(format!("Malformed query string: {}", e.body_text())))
}

/// The query parameters each route takes; every other route takes none.
fn allowed_query(route: &str) -> &'static [&'static str] {
    match route {
        "/v1/contacts" => &["limit", "offset", "after"],
        "/v1/contacts/{contact_id}/history" | "/v1/events" => &["after", "limit"],
        "/v1/memory/context" => &["contact_id", "persona_id", "agent_number"],
        "/v1/memory/changes"
        | "/v1/memory/contact/{memory_id}/entities/{entity_type}/{entity_id}"
        | "/v1/memory/contact/{memory_id}/open_items/{item_id}" => &["call_id", "conversation_id"],
        _ => &[],
    }
}

/// Refuses a query parameter the matched route does not take (`limt=5`, or
/// `expected_revision` where it belongs in the body), and one given twice, naming
/// it: a misspelled or misplaced parameter is never silently ignored.
pub(super) fn strict_query(req: &Request) -> Result<(), ApiError> {
    let Some(query) = req.uri().query().filter(|q| !q.is_empty()) else {
        return Ok(());
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("", |m| m.as_str());
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
    let allowed = allowed_query(route);
    for (i, (k, _)) in pairs.iter().enumerate() {
        let reason = if !allowed.contains(&k.as_str()) {
            if allowed.is_empty() {
                "unknown query parameter: this endpoint takes none".to_owned()
            } else {
                format!("unknown query parameter: expected {}", allowed.join(", "))
            }
        } else if pairs[..i].iter().any(|(earlier, _)| earlier == k) {
            "is given twice".to_owned()
        } else {
            continue;
        };
        return Err(ApiError::bad_field(k.clone(), reason));
    }
    Ok(())
}

/// The last value of query parameter `name` (a later value overrides an earlier one).
pub(super) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `after` (default 0) and `limit` (default `default_limit`) of a numbered page
/// (history, the change feed).
pub(super) fn after_and_limit(
    pairs: &[(String, String)],
    default_limit: u64,
) -> Result<(u64, u64), ApiError> {
    let after = match int_param(pairs, "after")? {
        None => 0,
        Some(v) => {
            u64::try_from(v).map_err(|_| ApiError::bad_field("after", "must be at least 0"))?
        }
    };
    let limit = match int_param(pairs, "limit")? {
        None => default_limit,
        Some(v) => {
            u64::try_from(v).map_err(|_| ApiError::bad_field("limit", "must be at least 1"))?
        }
    };
    Ok((after, limit))
}

pub(super) fn int_param(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    param(pairs, name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::bad_field(name, "must be an integer"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_core::NewMessage;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        messages: Option<Vec<NewMessage>>,
    }

    #[test]
    fn decode_names_the_field_at_fault() {
        let e = decode::<Probe>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("name"));
        assert!(e.body.message.starts_with("name: invalid type"), "{e:?}");

        let e = decode::<Probe>(
            br#"{"name": "x", "messages": [{"role": "user", "content": "a", "channel": "sms"}, {"role": "bot", "content": "b", "channel": "sms"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("messages[1].role"));

        let e = decode::<Probe>(br#"{"name": "x", "nmae": 1}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("nmae"), "{e:?}");
        assert!(e.body.message.starts_with("nmae: unknown field"), "{e:?}");
        let e = decode::<Probe>(
            br#"{"name": "x", "messages": [{"role": "user", "content": "a", "channel": "sms", "chanel": "x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("messages[0].chanel"), "{e:?}");

        let e = decode::<Probe>(br#"{"name": "a", "name": "b"}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("name"), "{e:?}");
        assert_eq!(e.body.message, "name: is given twice");
        let e = decode::<Probe>(br#"{"name": "a"} {"#).unwrap_err();
        assert!(
            e.body
                .message
                .starts_with("The request body is not valid JSON"),
            "{e:?}"
        );

        let e = decode::<Probe>(b"{}").unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("name"));
        assert_eq!(e.body.message, "name is required");

        for body in [&b""[..], b"  ", b"[1]", b"\"x\"", b"null"] {
            let e = decode::<Probe>(body).unwrap_err();
            assert_eq!(e.body.message, "The request body must be a JSON object");
        }
        let e = decode::<Probe>(b"{\"name\": ").unwrap_err();
        assert!(
            e.body
                .message
                .starts_with("The request body is not valid JSON")
        );
    }
}
