//! The OpenAPI document (docs/architecture.md, "OpenAPI"): the committed copy is the one
//! the code makes, the server serves it, and it names every operation the router
//! answers. Regenerate the copy with
//! `CONTACTS_UPDATE_OPENAPI=1 cargo test -p contacts-server --test openapi`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use contacts_core::{Engine, Store};
use contacts_server::{AppState, Keyring, MemoryKeys, api};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

fn generated() -> String {
    let mut text = api::openapi().to_pretty_json().unwrap();
    text.push('\n');
    text
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let now = generated();
    if std::env::var_os("CONTACTS_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &now).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == now,
        "docs/openapi.json is stale: run CONTACTS_UPDATE_OPENAPI=1 cargo test -p contacts-server --test openapi"
    );
}

const KEY: &str = "openapi-test-key";

fn app() -> axum::Router {
    let org = uuid::Uuid::now_v7();
    let env = contacts_server::keys::parse_env_keys(&format!("{KEY}={org}")).unwrap();
    let keyring = Keyring::new(Box::new(MemoryKeys::new()), env);
    let store: Box<dyn Store> = Box::new(contacts_inmemory::InMemoryStore::new());
    let state = AppState::new(Arc::new(Engine::new(store)), Arc::new(keyring), 1 << 20);
    api::router(state)
}

async fn call(app: &axum::Router, method: &str, path: &str) -> (u16, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

async fn send(app: &axum::Router, request: Request<Body>) -> (u16, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

#[tokio::test]
async fn the_server_serves_the_document_without_a_key() {
    let (status, body) = call(&app(), "GET", "/openapi.json").await;
    assert_eq!(status, 200);
    let served: Value = serde_json::from_slice(&body).unwrap();
    let made: Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(served, made);
    assert_eq!(served["openapi"], "3.1.0");
}

/// Every documented operation is routed (an unkeyed call gets 401 from the key check,
/// or an answer from the service routes, never the 404 or 405 of an unknown route),
/// and every `/v1` route the handlers serve is documented with its key and errors.
#[tokio::test]
async fn every_documented_operation_is_routed_and_keyed() {
    let app = app();
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "01930000-0000-7000-8000-000000000000"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let (status, _) = call(&app, &method.to_uppercase(), &concrete).await;
            if path.starts_with("/v1/") {
                assert_eq!(status, 401, "{method} {path}");
                assert_eq!(operation["security"][0]["api_key"], Value::Array(vec![]));
                for code in ["400", "401", "404", "500", "503"] {
                    assert!(
                        operation["responses"][code].is_object(),
                        "{method} {path} {code}"
                    );
                }
                let body = operation["requestBody"].is_object();
                for code in ["408", "413", "415"] {
                    assert_eq!(
                        operation["responses"][code].is_object(),
                        body,
                        "{method} {path} {code}: only operations with a body"
                    );
                }
            } else {
                assert!(status == 200 || status == 503, "{method} {path}: {status}");
            }
        }
    }
    // The seed's endpoints, the batch and export, history, unmerge, the memory
    // endpoints (the switch included) and the four service routes.
    assert_eq!(operations, 31, "operations in the document");
}

/// A keyed JSON call; the answer's status and `data`.
async fn json(app: &axum::Router, method: &str, path: &str, body: Value) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", KEY)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, bytes) = send(app, request).await;
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    (status, answer["data"].clone())
}

type Case<'a> = (&'a str, &'a str, &'a str, &'a str, fn(&str) -> Value);

/// The patterns the document gives for text the engine checks (keys, non-blank text,
/// channels, on every property that has one) say what the engine accepts: each sample
/// is accepted by the endpoint if and only if it matches the documented pattern (as
/// ECMA-262 and Rust read it), so a generator that follows the document neither sends
/// refused values as valid nor valid ones as bad.
#[tokio::test]
async fn documented_patterns_are_the_engines_rules() {
    let app = app();
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    let pattern = |schema: &str, property: &str| {
        let p = doc["components"]["schemas"][schema]["properties"][property]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{schema}.{property} has a pattern"));
        regex::Regex::new(p).unwrap()
    };
    let (_, resolved) = json(
        &app,
        "POST",
        "/v1/contacts/resolve",
        serde_json::json!({"phone_number": "+14155550192"}),
    )
    .await;
    let contact = resolved["contact"]["id"].as_str().unwrap().to_owned();
    let (_, created) = json(
        &app,
        "POST",
        "/v1/memory/contact",
        serde_json::json!({"contact_id": contact, "persona_id": "p"}),
    )
    .await;
    let memory = created["memory"]["id"].as_str().unwrap().to_owned();
    let samples = [
        "a",
        "order",
        "ab c",
        "é",
        "-",
        "a_b",
        "sms-1",
        "CALL",
        "call",
        " ",
        "",
        "\t",
        "\n",
        "\u{b}",
        "\u{85}",
        "\u{a0}",
        "\u{1680}",
        "\u{2000}",
        "\u{200a}",
        "\u{2028}",
        "\u{202f}",
        "\u{3000}",
        " x ",
        "\u{3000}x",
        "a\u{7}",
        "a\u{7f}",
        "x\u{9f}",
        "a\u{0}",
        "\u{200b}",
        "\u{feff}",
        "x\ny",
    ];
    let entities = format!("/v1/memory/contact/{memory}/entities");
    let items = format!("/v1/memory/contact/{memory}/open_items");
    let messages = format!("/v1/memory/contact/{memory}/messages");
    // (schema, property, method, path, the body that carries the sample)
    let cases: [Case<'_>; 10] = [
        (
            "EntityBody",
            "entity_type",
            "PUT",
            &entities,
            |s| json!({"entity_type": s, "entity_id": "e"}),
        ),
        (
            "EntityBody",
            "entity_id",
            "PUT",
            &entities,
            |s| json!({"entity_type": "t", "entity_id": s}),
        ),
        (
            "EntityBody",
            "status",
            "PUT",
            &entities,
            |s| json!({"entity_type": "t", "entity_id": "e", "status": s}),
        ),
        (
            "EntityBody",
            "notes",
            "PUT",
            &entities,
            |s| json!({"entity_type": "t", "entity_id": "e", "notes": s}),
        ),
        (
            "OpenItemBody",
            "type",
            "POST",
            &items,
            |s| json!({"type": s, "description": "d"}),
        ),
        (
            "OpenItemBody",
            "description",
            "POST",
            &items,
            |s| json!({"type": "callback", "description": s}),
        ),
        (
            "OpenItemBody",
            "priority",
            "POST",
            &items,
            |s| json!({"type": "callback", "description": "d", "priority": s}),
        ),
        (
            "EntityRef",
            "entity_id",
            "POST",
            &items,
            |s| json!({"type": "callback", "description": "d", "related_to": {"entity_type": "order", "entity_id": s}}),
        ),
        (
            "NewMessage",
            "content",
            "POST",
            &messages,
            |s| json!({"messages": [{"role": "user", "content": s, "channel": "call"}]}),
        ),
        (
            "NewMessage",
            "channel",
            "POST",
            &messages,
            |s| json!({"messages": [{"role": "user", "content": "hi", "channel": s}]}),
        ),
    ];
    for (schema, property, method, path, body) in cases {
        let documented = pattern(schema, property);
        for sample in samples {
            let (status, _) = json(&app, method, path, body(sample)).await;
            assert!(
                status == 200 || status == 400,
                "{schema}.{property} {sample:?}: {status}"
            );
            assert_eq!(
                status == 200,
                documented.is_match(sample),
                "{schema}.{property}: the engine and the document disagree on {sample:?} ({status})"
            );
        }
    }
}
