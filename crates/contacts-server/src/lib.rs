//! The contacts engine as a service: an HTTP server that speaks the public API's JSON
//! (the seed pages' endpoints, envelope and timestamps), and the `contacts` CLI that
//! works on the same database without a server.
//!
//! Embed [`contacts_core::Engine`] when your application is written in Rust and one
//! process owns the data: a lookup is then a function call. Run `contacts serve` when
//! other languages or several processes need the same contacts, or to try the API
//! with curl.
//!
//! - [`api::router`] builds the whole API over any [`contacts_core::Store`].
//! - [`keys`]: API keys, stored as SHA-256 hashes, each opening one org.
//! - [`cli`]: `serve`, `keys`, `backup`, `import`, `export`, and every engine operation
//!   (`resolve`, `find`, `get`, `list`, `update`, `merge`, `delete`, `detach`, `memory`).
//! - [`settings`]: the engine's settings from a TOML file, the environment and flags.
//! - [`edge`]: the connection edge (timeouts, the connection limit, shutdown with a
//!   deadline); [`metrics`]: `GET /metrics`; [`logging`]: what the logs may say.
//! - [`import`] and [`export`]: files in and out.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::Request;
//! use contacts_core::{Engine, OrgId, Store};
//! use contacts_inmemory::InMemoryStore;
//! use contacts_server::{AppState, Keyring, MemoryKeys, api, keys};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let org = OrgId(uuid::Uuid::now_v7());
//! let keyring = Keyring::new(
//!     Box::new(MemoryKeys::new()),
//!     keys::parse_env_keys(&format!("secret-key={org}")).unwrap(),
//! );
//! let store: Box<dyn Store> = Box::new(InMemoryStore::new());
//! let app = api::router(AppState::new(
//!     Arc::new(Engine::new(store)),
//!     Arc::new(keyring),
//!     api::DEFAULT_BODY_LIMIT,
//! ));
//!
//! let request = Request::post("/v1/contacts/resolve")
//!     .header("authorization", "Bearer secret-key")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{"phone_number": "+1 (415) 555-0192", "name": "John Doe"}"#))
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(json["data"]["created"], true);
//! assert_eq!(json["data"]["contact"]["name"], "John Doe");
//! assert_eq!(json["errors"], serde_json::Value::Null);
//! # });
//! ```

pub mod api;
pub mod cli;
pub mod edge;
pub mod error;
pub mod export;
pub mod import;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod settings;

pub use api::{AppState, DynEngine, Org};
pub use error::{ApiError, ErrorBody};
pub use keys::{KeyInfo, KeyStore, Keyring, MemoryKeys, PostgresKeys, SqliteKeys};
