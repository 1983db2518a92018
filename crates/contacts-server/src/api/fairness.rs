//! One org cannot take every engine slot: each holds at most a share of the requests
//! in flight (`--max-in-flight-per-org`, a quarter of `--max-in-flight` by default),
//! and a request past its org's share is answered 503 with `Retry-After` at once, so a
//! tenant that floods the server slows itself, not the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use contacts_core::OrgId;

use super::{AppState, Org};
use crate::error::ApiError;

/// Each org's share of the requests in flight: a count per busy org, under one mutex
/// held for a map probe. Orgs with nothing in flight hold no entry, so the map is as
/// large as the number of busy orgs (and keeps its capacity, so a busy server does
/// not allocate per request).
#[derive(Debug)]
pub(super) struct OrgSlots {
    share: usize,
    busy: Mutex<HashMap<OrgId, usize>>,
}

/// One request's slot in its org's share; returned on drop.
struct Slot {
    slots: Arc<OrgSlots>,
    org: OrgId,
}

impl OrgSlots {
    pub(super) fn new(share: usize) -> Self {
        OrgSlots {
            share: share.max(1),
            busy: Mutex::new(HashMap::new()),
        }
    }

    fn take(self: &Arc<Self>, org: OrgId) -> Option<Slot> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let held = busy.entry(org).or_insert(0);
        if *held >= self.share {
            return None;
        }
        *held += 1;
        Some(Slot {
            slots: Arc::clone(self),
            org,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.slots.busy.lock().unwrap_or_else(|p| p.into_inner());
        // The last request of an org takes its entry with it.
        if let Some(held) = busy.get_mut(&self.org) {
            *held -= 1;
            if *held == 0 {
                busy.remove(&self.org);
            }
        }
    }
}

/// The middleware: runs the request inside a slot of its org's share, or answers 503.
pub(super) async fn org_share(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(Org(org)) = req.extensions().get::<Org>().copied() else {
        return next.run(req).await;
    };
    let Some(slot) = state.0.org_slots.take(org) else {
        return ApiError::unavailable(
            "This org has as many requests in flight as it may; retry shortly",
        )
        .into_response();
    };
    let response = next.run(req).await;
    // A body already whole (every answer but an export) frees the slot now and keeps
    // its length; a streamed one holds its org's share until the last byte is sent
    // (or the client goes away).
    if axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some()
    {
        drop(slot);
        return response;
    }
    response.map(|body| {
        axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
            let _held = &slot;
            frame
        }))
    })
}
