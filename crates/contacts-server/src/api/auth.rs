//! API keys: each request on a matched route presents one (raw, as the seeds send it,
//! or as `Bearer <key>`), which opens exactly one org.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, Org};
use crate::error::{ApiError, ErrorChain};

pub(super) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(presented) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v: &HeaderValue| v.to_str().ok())
    else {
        return ApiError::unauthorized().into_response();
    };
    // Cached keys answer in place; reading the key store (a file or a database,
    // about once a second) happens off the async workers.
    let verdict = match state.0.keys.verify_cached(presented) {
        Some(org) => Ok(Ok(org)),
        None => {
            let keys = Arc::clone(&state.0.keys);
            let presented = presented.to_owned();
            tokio::task::spawn_blocking(move || keys.verify(&presented)).await
        }
    };
    match verdict {
        Ok(Ok(Some(org))) => {
            req.extensions_mut().insert(Org(org));
            next.run(req).await
        }
        Ok(Ok(None)) => ApiError::unauthorized().into_response(),
        Ok(Err(e)) => {
            // Not a 500: nothing is broken in the request or the server, the key store
            // is out of reach for now, and the client should try again.
            tracing::error!(error = %ErrorChain(&e), "key store failed");
            ApiError::unavailable("The key store is unreachable; retry shortly").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "key check did not finish");
            ApiError::internal().into_response()
        }
    }
}
