//! The gate every matched route passes, as one layer: it times and counts the request
//! (`metrics.rs`), and on `/v1` checks the key (`auth.rs`), holds a slot of the org's
//! share (`fairness.rs`) and refuses unknown query parameters (`extract.rs`), in that
//! order, before the handler runs.
//!
//! One hand-written layer rather than one `middleware::from_fn` per check: each of
//! those boxes the rest of the stack and its own future for every request, four times
//! over, which cost a resolve hit more than its engine call (docs/benchmarks.md, "HTTP
//! edge"). Here the checks run in place when the request arrives, and the answer's
//! future is the route's own, unboxed; only a key the cache cannot vouch for (the key
//! store must be read, off the async worker) takes a boxed future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use contacts_core::OrgId;
use futures_core::future::BoxFuture;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::auth::{self, Verdict};
use super::fairness::{self, Slot};
use super::{AppState, Org, extract};

/// Who a route lets in.
#[derive(Clone, Copy, Debug)]
pub(super) enum Access {
    /// Everyone, with no key, share or query check: the probes, metrics and the
    /// OpenAPI document.
    Open,
    /// Requests with an API key, each acting for the org its key opens.
    Keys,
    /// Every request, acting for this org: the CLI's local router.
    Fixed(OrgId),
}

/// The layer (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct Gate {
    state: AppState,
    access: Access,
}

impl Gate {
    pub(super) fn new(state: AppState, access: Access) -> Self {
        Gate { state, access }
    }
}

impl<S> Layer<S> for Gate {
    type Service = Gated<S>;

    fn layer(&self, inner: S) -> Gated<S> {
        Gated {
            inner,
            state: self.state.clone(),
            access: self.access,
        }
    }
}

/// A route behind the gate.
#[derive(Clone, Debug)]
pub(super) struct Gated<S> {
    inner: S,
    state: AppState,
    access: Access,
}

/// What the metrics need once the answer is ready.
#[derive(Debug)]
struct Record {
    /// The route's template (shared, so keeping it costs a count).
    route: Option<MatchedPath>,
    method: Method,
    started: Instant,
}

impl Record {
    fn start(req: &Request) -> Self {
        Record {
            route: req.extensions().get::<MatchedPath>().cloned(),
            method: req.method().clone(),
            started: Instant::now(),
        }
    }

    fn finish(self, state: &AppState, response: &Response) {
        state.0.metrics.request(
            self.route.as_ref().map_or("unmatched", MatchedPath::as_str),
            &self.method,
            response.status().as_u16(),
            self.started.elapsed(),
        );
    }
}

impl<S> Service<Request> for Gated<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Gating<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let record = Record::start(&req);
        let org = match self.access {
            Access::Open => {
                let fut = self.inner.call(req);
                return Gating::new(record, &self.state, Stage::Route { fut, slot: None });
            }
            Access::Fixed(org) => org,
            Access::Keys => match auth::check_cached(&self.state, &req) {
                Verdict::Opens(org) => org,
                Verdict::Refused(e) => return Gating::answered(record, &self.state, e),
                Verdict::Ask(presented) => {
                    // The service made ready for this call goes into the future; a
                    // clone stays for the next (as axum's own middleware does).
                    let clone = self.inner.clone();
                    let mut ready = std::mem::replace(&mut self.inner, clone);
                    let state = self.state.clone();
                    let answer = async move {
                        let org = match auth::ask(state.clone(), presented).await {
                            Ok(org) => org,
                            Err(e) => return e.into_response(),
                        };
                        match pass(&state, &mut ready, req, org) {
                            Ok((fut, slot)) => {
                                let Ok(response) = fut.await;
                                fairness::release_after(slot, response)
                            }
                            Err(e) => e.into_response(),
                        }
                    };
                    let stage = Stage::Boxed {
                        fut: Box::pin(answer),
                    };
                    return Gating::new(record, &self.state, stage);
                }
            },
        };
        match pass(&self.state, &mut self.inner, req, org) {
            Ok((fut, slot)) => {
                let slot = Some(slot);
                Gating::new(record, &self.state, Stage::Route { fut, slot })
            }
            Err(e) => Gating::answered(record, &self.state, e),
        }
    }
}

/// The checks after the key, in place: a slot of the org's share, then the query;
/// then the route is called, acting for `org`.
fn pass<S: Service<Request>>(
    state: &AppState,
    inner: &mut S,
    mut req: Request,
    org: OrgId,
) -> Result<(S::Future, Slot), crate::error::ApiError> {
    let slot = fairness::admit(&state.0.org_slots, org)?;
    extract::strict_query(&req)?;
    req.extensions_mut().insert(Org(org));
    Ok((inner.call(req), slot))
}

pin_project! {
    /// The answer of a route behind the gate.
    pub(super) struct Gating<F> {
        #[pin]
        stage: Stage<F>,
        record: Option<Record>,
        state: AppState,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        /// Refused at the gate.
        Answered { response: Option<Response> },
        /// The route's own future, with the org's slot to free when it answers.
        Route { #[pin] fut: F, slot: Option<Slot> },
        /// After a read of the key store.
        Boxed { fut: BoxFuture<'static, Response> },
    }
}

impl<F> Gating<F> {
    fn new(record: Record, state: &AppState, stage: Stage<F>) -> Self {
        Gating {
            stage,
            record: Some(record),
            state: state.clone(),
        }
    }

    fn answered(record: Record, state: &AppState, e: crate::error::ApiError) -> Self {
        let response = Some(e.into_response());
        Self::new(record, state, Stage::Answered { response })
    }
}

impl<F> Future for Gating<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.stage.project() {
            // Taken once: a future is not polled again after it is ready.
            StageProj::Answered { response } => response
                .take()
                .unwrap_or_else(|| crate::error::ApiError::internal().into_response()),
            StageProj::Route { fut, slot } => {
                let Ok(response) = ready!(fut.poll(cx));
                match slot.take() {
                    Some(slot) => fairness::release_after(slot, response),
                    None => response,
                }
            }
            StageProj::Boxed { fut } => ready!(fut.as_mut().poll(cx)),
        };
        if let Some(record) = this.record.take() {
            record.finish(this.state, &response);
        }
        Poll::Ready(Ok(response))
    }
}
