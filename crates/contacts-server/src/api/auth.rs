//! API keys: each request on a matched route presents one (raw, as the seeds send it,
//! or as `Bearer <key>`), which opens exactly one org.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use contacts_core::OrgId;

use super::AppState;
use crate::error::{ApiError, ErrorChain};

/// What the cached keys say about a request's key.
pub(super) enum Verdict {
    /// The key opens this org.
    Opens(OrgId),
    /// No key, or one the keys refuse.
    Refused(ApiError),
    /// The cache cannot tell: the key store must be read ([`ask`]), with this key.
    Ask(String),
}

/// The request's key checked against the cached keys, in place: a hit costs a hash
/// and a probe, so it is not worth a hop off the async worker.
pub(super) fn check_cached(state: &AppState, req: &Request) -> Verdict {
    let Some(presented) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Verdict::Refused(ApiError::unauthorized());
    };
    match state.0.keys.verify_cached(presented) {
        Some(Some(org)) => Verdict::Opens(org),
        Some(None) => Verdict::Refused(ApiError::unauthorized()),
        None => Verdict::Ask(presented.to_owned()),
    }
}

/// Reads the key store (a file or a database, about once a second) on the blocking
/// pool, off the async workers, and says which org `presented` opens.
pub(super) async fn ask(state: AppState, presented: String) -> Result<OrgId, ApiError> {
    let keys = Arc::clone(&state.0.keys);
    match tokio::task::spawn_blocking(move || keys.verify(&presented)).await {
        Ok(Ok(Some(org))) => Ok(org),
        Ok(Ok(None)) => Err(ApiError::unauthorized()),
        Ok(Err(e)) => {
            // Not a 500: nothing is broken in the request or the server, the key store
            // is out of reach for now, and the client should try again.
            tracing::error!(error = %ErrorChain(&e), "key store failed");
            Err(ApiError::unavailable(
                "The key store is unreachable; retry shortly",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "key check did not finish");
            Err(ApiError::internal())
        }
    }
}
