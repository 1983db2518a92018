//! One org cannot take every engine slot: each holds at most a share of the requests
//! in flight (`--max-in-flight-per-org`, a quarter of `--max-in-flight` by default),
//! and a request past its org's share is answered 503 with `Retry-After` at once, so a
//! tenant that floods the server slows itself, not the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::response::Response;
use contacts_core::OrgId;

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
pub(super) struct Slot {
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

/// A slot of `org`'s share for one request, or the 503 that says its org has none free.
pub(super) fn admit(slots: &Arc<OrgSlots>, org: OrgId) -> Result<Slot, ApiError> {
    slots.take(org).ok_or_else(|| {
        ApiError::unavailable("This org has as many requests in flight as it may; retry shortly")
    })
}

/// Frees `slot` once `response` is sent. A body already whole (every answer but an
/// export) frees it now and keeps its length; a streamed one holds its org's share
/// until the last byte is sent (or the client goes away).
pub(super) fn release_after(slot: Slot, response: Response) -> Response {
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
