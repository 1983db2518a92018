//! `GET /metrics`: what the server is doing, in the Prometheus text format. Labels
//! carry route templates (`/v1/contacts/{contact_id}`), methods, statuses, outcome
//! names and store calls, never a value from a request, so no personal data can
//! reach a scrape.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use contacts_core::store::{
    CommitError, ContactRecord, IdentifierKey, ListPage, Owners, PageStart, WriteBatch,
};
use contacts_core::{
    ContactHistoryEntry, ContactId, MemoryId, MemoryRecord, MemoryScope, MemorySwitch,
    MergeSnapshot, OrgId, Result, Store, SwitchKind,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label sets of `&'static str`s and numbers: a request builds its labels without
/// allocating, and the families hash them as they are.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    call: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 50 µs to about 1.6 s, doubling: a cached hit to a slow
/// PostgreSQL page.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The server's metrics, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabel>,
    resolves: Family<OutcomeLabel, Counter>,
    store_seconds: Histograms<CallLabel>,
    /// Route templates seen so far, each kept once for the process's life: the
    /// router's templates are a fixed few dozen, and a label that is `&'static`
    /// costs nothing to build per request.
    routes: RwLock<HashSet<&'static str>>,
    /// Engine calls running or waiting for a blocking thread.
    pub engine_queue: Gauge,
    /// Connections open at the edge.
    pub connections: Gauge,
}

impl Metrics {
    /// A registry with every metric registered, all at zero.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("contacts");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Histograms::new_with_constructor(latency_histogram as fn() -> _);
        let resolves = Family::<OutcomeLabel, Counter>::default();
        let store_seconds = Histograms::new_with_constructor(latency_histogram as fn() -> _);
        let engine_queue = Gauge::default();
        let connections = Gauge::default();
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "Time from a request's headers to its response, by route template",
            request_seconds.clone(),
        );
        registry.register(
            "resolve_outcomes",
            "Resolves by outcome (created, matched) and what they reported (conflict, \
             ignored: one per identifier)",
            resolves.clone(),
        );
        registry.register(
            "store_call_seconds",
            "Time of each call into the store, by call",
            store_seconds.clone(),
        );
        registry.register(
            "engine_queue_depth",
            "Engine calls running or waiting for a blocking thread",
            engine_queue.clone(),
        );
        registry.register(
            "open_connections",
            "Connections open at the edge",
            connections.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            request_seconds,
            resolves,
            store_seconds,
            routes: RwLock::default(),
            engine_queue,
            connections,
        })
    }

    /// The text a scrape receives.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one answered request. `route` is a route template (or `unmatched`),
    /// never a path with values in it: each new one is kept for the process's life.
    pub fn request(&self, route: &str, method: &axum::http::Method, status: u16, took: Duration) {
        let route = self.route(route);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabel { route })
            .observe(took.as_secs_f64());
    }

    /// `route` as the one `&'static str` kept for it.
    fn route(&self, route: &str) -> &'static str {
        if let Some(kept) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return kept;
        }
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(kept) = routes.get(route) {
            return kept;
        }
        let kept: &'static str = Box::leak(route.into());
        routes.insert(kept);
        kept
    }

    /// Counts a resolve's outcome.
    pub fn resolved(&self, out: &contacts_core::ResolveOutcome) {
        let count = |outcome: &'static str, n: usize| {
            if n > 0 {
                self.resolves
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc_by(n as u64);
            }
        };
        count(if out.created { "created" } else { "matched" }, 1);
        count("conflict", out.conflicts.len());
        count("ignored", out.ignored.len());
    }

    fn store_call(&self, call: &'static str, started: Instant) {
        self.store_seconds
            .get_or_create(&CallLabel { call })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The method's name; methods outside the standard set share one label, so a client
/// cannot add label values by inventing methods.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// A store that times every call into the one it wraps.
#[derive(Debug)]
pub struct MeteredStore {
    inner: Box<dyn Store>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: Box<dyn Store>, metrics: Arc<Metrics>) -> Self {
        MeteredStore { inner, metrics }
    }
}

impl Store for MeteredStore {
    fn lookup(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Owners> {
        let t = Instant::now();
        let r = self.inner.lookup(org, keys);
        self.metrics.store_call("lookup", t);
        r
    }

    fn lookup_without_io(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Option<Owners> {
        let t = Instant::now();
        let r = self.inner.lookup_without_io(org, keys);
        self.metrics.store_call("lookup_without_io", t);
        r
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        let t = Instant::now();
        let r = self.inner.get(org, id);
        self.metrics.store_call("get", t);
        r
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        let t = Instant::now();
        let r = self.inner.memory(org, contact, scope);
        self.metrics.store_call("memory", t);
        r
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        let t = Instant::now();
        let r = self.inner.memory_by_id(org, id);
        self.metrics.store_call("memory_by_id", t);
        r
    }

    fn list(&self, org: OrgId, start: PageStart, limit: u64) -> Result<ListPage> {
        let t = Instant::now();
        let r = self.inner.list(org, start, limit);
        self.metrics.store_call("list", t);
        r
    }

    fn contact_version(&self, org: OrgId, id: ContactId) -> Result<Option<u64>> {
        let t = Instant::now();
        let r = self.inner.contact_version(org, id);
        self.metrics.store_call("contact_version", t);
        r
    }

    fn memory_revision(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<(MemoryId, u64)>> {
        let t = Instant::now();
        let r = self.inner.memory_revision(org, contact, scope);
        self.metrics.store_call("memory_revision", t);
        r
    }

    fn memory_switch(
        &self,
        org: OrgId,
        kind: SwitchKind,
        target_id: &str,
    ) -> Result<Option<MemorySwitch>> {
        let t = Instant::now();
        let r = self.inner.memory_switch(org, kind, target_id);
        self.metrics.store_call("memory_switch", t);
        r
    }

    fn history(
        &self,
        org: OrgId,
        contact: ContactId,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ContactHistoryEntry>> {
        let t = Instant::now();
        let r = self.inner.history(org, contact, after, limit);
        self.metrics.store_call("history", t);
        r
    }

    fn redirect(&self, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
        let t = Instant::now();
        let r = self.inner.redirect(org, id);
        self.metrics.store_call("redirect", t);
        r
    }

    fn merge_snapshot(&self, org: OrgId, duplicate: ContactId) -> Result<Option<MergeSnapshot>> {
        let t = Instant::now();
        let r = self.inner.merge_snapshot(org, duplicate);
        self.metrics.store_call("merge_snapshot", t);
        r
    }

    fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<contacts_core::EventLog> {
        let t = Instant::now();
        let r = self.inner.events(org, after, limit);
        self.metrics.store_call("events", t);
        r
    }

    fn conversation(
        &self,
        org: OrgId,
        key: &contacts_core::ConversationKey,
    ) -> Result<Option<contacts_core::ConversationLog>> {
        let t = Instant::now();
        let r = self.inner.conversation(org, key);
        self.metrics.store_call("conversation", t);
        r
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> std::result::Result<(), CommitError> {
        let t = Instant::now();
        let r = self.inner.commit(org, batch);
        self.metrics.store_call("commit", t);
        r
    }

    fn commit_holding_memory(
        &self,
        org: OrgId,
        id: MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> std::result::Result<(), CommitError> {
        // Timed whole: the hold lasts from before the reads `decide` makes to the
        // commit, and that span is what other processes' writers wait for.
        let t = Instant::now();
        let r = self.inner.commit_holding_memory(org, id, decide);
        self.metrics.store_call("commit_holding_memory", t);
        r
    }
}
