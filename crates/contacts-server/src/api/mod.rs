//! The HTTP API: the seed pages' endpoints and JSON over an [`Engine`], plus the
//! memory-writing endpoints the public API leaves to its own pipeline.
//!
//! - this file: the shared state, the envelope and the router;
//! - `gate.rs`: what every matched route passes (metrics; on `/v1` the key, the
//!   org's share and the query check), as one layer;
//! - `auth.rs`: API keys;
//! - `fairness.rs`: each org's share of the requests in flight;
//! - `extract.rs`: bodies, path ids and query parameters, with field-naming errors;
//! - `contacts.rs`, `history.rs`, `unmerge.rs`, `events.rs`, `memory.rs` and
//!   `memory_enable.rs`: the handlers, one per endpoint;
//! - `openapi.rs`: the OpenAPI document the handlers' annotations make;
//! - `request_id.rs`: ids for requests that come without one.

mod auth;
mod contacts;
mod events;
mod extract;
mod fairness;
mod gate;
mod history;
mod memory;
mod memory_enable;
mod openapi;
mod request_id;
mod unmerge;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use contacts_core::{Engine, OrgId, Store};
use serde::Serialize;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::keys::Keyring;
use crate::logging::AccessPolicy;
use crate::metrics::Metrics;
use contacts::*;
use events::*;
use gate::{Access, Gate};
use history::*;
use memory::*;
use memory_enable::*;
use unmerge::*;

/// An engine over any store, as the server and the CLI hold it.
pub type DynEngine = Engine<Box<dyn Store>>;

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The default number of engine calls running or queued at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

/// What every handler shares. One `Arc`: every layer and extractor clones the state
/// for each request, and one shared count is cheaper than one per field.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
#[derive(Clone, Debug)]
struct Shared {
    engine: Arc<DynEngine>,
    keys: Arc<Keyring>,
    body_limit: usize,
    body_timeout: std::time::Duration,
    /// Permits for engine calls running or queued on the blocking pool.
    in_flight: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
    access: Arc<AccessPolicy>,
    org_slots: Arc<fairness::OrgSlots>,
}

impl AppState {
    /// State over `engine` and `keys`, with bodies capped at `body_limit` bytes.
    pub fn new(engine: Arc<DynEngine>, keys: Arc<Keyring>, body_limit: usize) -> Self {
        AppState(Arc::new(Shared {
            engine,
            keys,
            body_limit,
            body_timeout: std::time::Duration::from_secs(30),
            in_flight: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
            metrics: Metrics::new(),
            access: Arc::default(),
            org_slots: Arc::new(fairness::OrgSlots::new(DEFAULT_MAX_IN_FLIGHT / 4)),
        }))
    }

    /// The fields, to change while building (copied if the state is already shared).
    fn fields(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// How many requests one org may have in flight (default a quarter of
    /// [`DEFAULT_MAX_IN_FLIGHT`]); one more is answered 503 with `Retry-After`, so one
    /// tenant's flood does not take the others' slots.
    #[must_use]
    pub fn with_max_in_flight_per_org(mut self, max: usize) -> Self {
        self.fields().org_slots = Arc::new(fairness::OrgSlots::new(max));
        self
    }

    /// Which requests get an access-log line (by default every one).
    #[must_use]
    pub fn with_access_log(mut self, policy: AccessPolicy) -> Self {
        self.fields().access = Arc::new(policy);
        self
    }

    /// Records into `metrics` (by default a registry of its own), which `GET /metrics`
    /// serves; give the one the store and the edge record into too.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.fields().metrics = metrics;
        self
    }

    /// How long a request body may take to arrive (default 30 s); a stalled upload is
    /// answered 408 and its connection freed.
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.fields().body_timeout = timeout;
        self
    }

    /// How many engine calls may run or wait for a blocking thread at once (default
    /// 512); one more is answered 503 with `Retry-After`, so a flood is refused at
    /// once instead of queueing without end.
    #[must_use]
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.fields().in_flight = Arc::new(tokio::sync::Semaphore::new(max.max(1)));
        self
    }

    /// One of the engine's slots (`with_max_in_flight`), or the 503 that says there is
    /// none free.
    fn engine_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.0.in_flight)
            .try_acquire_owned()
            .map_err(|_| ApiError::unavailable("The server is busy; retry shortly"))
    }

    /// A resolve answered on this async worker, when the store can from memory: the
    /// hop to a blocking thread and back costs more than such an answer
    /// (docs/benchmarks.md, "HTTP edge"). `Ok(None)` leaves it to [`AppState::run`].
    /// Requests with metadata go to the pool at once: validating up to 64 KiB of it
    /// is not work for an async worker, and would be done twice on a miss. A panic
    /// is a 500, as on the pool.
    fn resolve_without_io(
        &self,
        org: OrgId,
        req: &contacts_core::ResolveRequest,
    ) -> Result<Option<contacts_core::ResolveOutcome>, ApiError> {
        if req.metadata.is_some() {
            return Ok(None);
        }
        let engine = &self.0.engine;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.resolve_without_io(org, req)
        })) {
            Ok(answer) => answer.transpose().map_err(ApiError::from),
            Err(_) => {
                tracing::error!("engine call panicked");
                Err(ApiError::internal())
            }
        }
    }

    /// Runs `f` on tokio's blocking pool: engine calls do file or network I/O and
    /// must not stall the async workers. The request's span goes along so that
    /// anything logged there carries the request id.
    async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&DynEngine) -> contacts_core::Result<T> + Send + 'static,
    {
        let permit = self.engine_slot()?;
        let engine = Arc::clone(&self.0.engine);
        let span = tracing::Span::current();
        let queue = self.0.metrics.engine_queue.clone();
        queue.inc();
        // Counted down on the blocking thread, which runs to the end even when the
        // client hangs up and this future is dropped.
        let joined = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let result = f(&engine).map_err(ApiError::from);
            drop(permit);
            queue.dec();
            result
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "engine task did not finish");
                Err(ApiError::internal())
            }
        }
    }
}

/// The org an authenticated request acts for, set by the auth middleware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Org(pub OrgId);

/// The success envelope: `{"data": ..., "errors": null}`.
#[derive(Serialize, utoipa::ToSchema)]
struct Envelope<T> {
    /// The answer.
    data: T,
    /// Always `null` on success.
    #[schema(required, schema_with = openapi::null)]
    errors: Option<()>,
}

fn ok<T: Serialize>(data: T) -> Response {
    Json(Envelope { data, errors: None }).into_response()
}

type ApiResult = Result<Response, ApiError>;

/// The whole API: every route, auth, request ids, tracing and the envelope for
/// unknown routes and methods.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use axum::body::Body;
/// use axum::http::Request;
/// use contacts_core::{Engine, OrgId, Store};
/// use contacts_inmemory::InMemoryStore;
/// use contacts_server::{AppState, Keyring, MemoryKeys, api, keys};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let org = OrgId(uuid::Uuid::now_v7());
/// let env = keys::parse_env_keys(&format!("my-key={org}")).unwrap();
/// let keyring = Keyring::new(Box::new(MemoryKeys::new()), env);
/// let store: Box<dyn Store> = Box::new(InMemoryStore::new());
/// let state = AppState::new(Arc::new(Engine::new(store)), Arc::new(keyring), 1 << 20);
/// let app = api::router(state);
///
/// let request = Request::post("/v1/contacts/resolve")
///     .header("authorization", "my-key")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"{"phone_number": "+1 415 555 0192"}"#))
///     .unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
pub fn router(state: AppState) -> Router {
    // Only matched routes authenticate: an unknown path is a 404 for everyone.
    let v1 = routes().route_layer(Gate::new(state.clone(), Access::Keys));
    finish(v1, state)
}

/// The OpenAPI 3.1 document of every endpoint (`GET /openapi.json`), made from the
/// same annotations the router registers its routes by.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::document(service_routes().merge(routes()).into_openapi())
}

/// The whole API acting for one org without API keys, for the CLI: it sends its
/// commands through the very handlers the server runs, so it prints exactly the
/// server's JSON (docs/architecture.md, "CLI").
pub fn local_router(state: AppState, org: OrgId) -> Router {
    let v1 = routes().route_layer(Gate::new(state.clone(), Access::Fixed(org)));
    finish(v1, state)
}

/// Every `/v1` route, without authentication. Each handler's `#[utoipa::path]` gives
/// its method and path, so the router and the OpenAPI document are made from one
/// source.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list_contacts))
        .routes(routes!(resolve))
        .routes(routes!(resolve_batch))
        .routes(routes!(export_contacts))
        .routes(routes!(find))
        .routes(routes!(merge))
        .routes(routes!(get_contact, update_contact, delete_contact))
        .routes(routes!(detach_identifier))
        .routes(routes!(contact_history))
        .routes(routes!(unmerge))
        .routes(routes!(events))
        .routes(routes!(memory_create))
        .routes(routes!(memory_get))
        .routes(routes!(memory_messages, memory_append))
        .routes(routes!(memory_summary))
        .routes(routes!(memory_facts))
        .routes(routes!(memory_upsert_entity))
        .routes(routes!(memory_remove_entity))
        .routes(routes!(memory_add_open_item))
        .routes(routes!(memory_remove_open_item))
        .routes(routes!(memory_context))
        .routes(routes!(memory_changes))
        .routes(routes!(memory_reset))
        .routes(routes!(memory_enable))
}

/// The routes outside `/v1`: probes, metrics and the document itself (no key).
fn service_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The service routes, the fallbacks, request ids and tracing around `v1`.
fn finish(v1: OpenApiRouter<AppState>, state: AppState) -> Router {
    let access = Arc::clone(&state.0.access);
    let open = service_routes().route_layer(Gate::new(state.clone(), Access::Open));
    let (routes, _) = open.merge(v1).split_for_parts();
    routes
        .fallback(|| async { ApiError::not_found("Route not found") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
        // Innermost first: the response gets the request's id; the trace span is
        // opened with the id already set; the id is set (or kept from the client)
        // before anything else sees the request.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // One short line per request the access policy keeps (status and
                // latency; the span adds method, path and request id).
                .on_response(
                    move |res: &Response, latency: std::time::Duration, _: &tracing::Span| {
                        let status = res.status().as_u16();
                        if access.logs(status) {
                            tracing::info!(
                                status,
                                latency_us = latency.as_micros() as u64,
                                "answered"
                            );
                        }
                    },
                ),
        )
        .layer(SetRequestIdLayer::x_request_id(request_id::ProcessIds))
}

fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}

/// `{"status": ...}`: what the probes answer.
#[derive(Serialize, utoipa::ToSchema)]
struct Status {
    /// `ok` (liveness) or `ready` (readiness).
    status: &'static str,
}

/// Liveness: the process answers. It reads nothing, so an orchestrator does not
/// restart a server whose database is briefly out of reach (`/readyz` says that).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Envelope<Status>)),
)]
async fn healthz() -> ApiResult {
    Ok(ok(Status { status: "ok" }))
}

/// This API's OpenAPI document, made once per process.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
)]
async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| openapi().to_json().unwrap_or_default());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.as_str(),
    )
        .into_response()
}

/// The scrape: every metric, in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Every metric, in the OpenMetrics text format", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)),
)]
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.0.metrics.render(),
    )
        .into_response()
}

/// Readiness: a real read through the store (opened, so migrated), so a server whose
/// database is gone is taken out of rotation; 503 until it answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, description = "The store answers", body = Envelope<Status>)),
)]
async fn readyz(State(state): State<AppState>) -> ApiResult {
    state
        .run(|engine| {
            let start = contacts_core::store::PageStart::Offset(0);
            engine.store().list(OrgId(uuid::Uuid::nil()), start, 1)
        })
        .await
        .map_err(|e| {
            if e.status.is_server_error() {
                ApiError::unavailable("The store is unreachable")
            } else {
                e
            }
        })?;
    Ok(ok(Status { status: "ready" }))
}
