//! The conformance suite: one `pub fn` per scenario, each taking a fresh, empty store.
//!
//! Backends run it through [`conformance_tests!`](crate::conformance_tests), which
//! expands into one named `#[test]` per scenario. Every scenario names the section of
//! docs/semantics.md (or the `Store` contract rule) it checks; one file per area. Scenarios panic (through `assert!`) on the first broken expectation.
//!
//! Not a stable API: scenarios are added and tightened as the engine grows.

mod batch;
mod conversations;
mod events;
mod history;
mod lifecycle;
mod list;
mod memory;
mod normalisation;
mod reads;
mod redirects;
mod resolve;
mod shapes;
mod store_contract;
mod switches;
mod unmerge;
pub use batch::*;
pub use conversations::*;
pub use events::*;
pub use history::*;
pub use lifecycle::*;
pub use list::*;
pub use memory::*;
pub use normalisation::*;
pub use reads::*;
pub use redirects::*;
pub use resolve::*;
pub use shapes::*;
pub use store_contract::*;
pub use switches::*;
pub use unmerge::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use contacts_core::store::{CommitError, IdentifierKey, StoredContact, WriteBatch, WriteOp};
use contacts_core::{
    Config, Contact, ContactId, ContactWithRelations, Engine, Error, FindRequest, Identifier,
    IdentifierId, IdentifierKind, ListRequest, ManualClock, OrgId, ResolveOutcome, ResolveRequest,
    SequentialIds, Store, Timestamp,
};
use serde_json::{Value, json};
use uuid::Uuid;

use IdentifierKind::{Email, ExternalId, PhoneNumber};

/// 2025-07-22T10:30:00.000Z, the seed's first timestamp.
pub const EPOCH: Timestamp = Timestamp::from_millis(1_753_180_200_000);

/// Org O of the worked examples.
pub fn org_o() -> OrgId {
    OrgId(
        "11111111-2222-3333-4444-555555555555"
            .parse()
            .expect("valid uuid"),
    )
}

/// Org P of the worked examples.
pub fn org_p() -> OrgId {
    OrgId(
        "99999999-2222-3333-4444-555555555555"
            .parse()
            .expect("valid uuid"),
    )
}

/// An engine over `store` with `config`, a clock that advances one millisecond per
/// reading from [`EPOCH`], and sequential ids: deterministic across backends.
pub fn engine_with<S: Store>(store: S, config: Config) -> Engine<S> {
    Engine::with_config(store, config)
        .expect("test config is valid")
        .with_clock(ManualClock::new(EPOCH, 1))
        .with_id_generator(SequentialIds::new())
}

/// [`engine_with`] and the default config.
pub fn engine<S: Store>(store: S) -> Engine<S> {
    engine_with(store, Config::default())
}

fn phone(p: &str) -> ResolveRequest {
    ResolveRequest::new().with_phone(p)
}

pub(crate) fn assert_invalid<T: Debug>(result: Result<T, Error>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: f, reason }) => {
            assert_eq!(f, field, "wrong field named (reason: {reason})");
            assert!(!reason.is_empty());
        }
        other => panic!("expected InvalidInput naming {field}, got {other:?}"),
    }
}

fn total<S: Store>(e: &Engine<S>, org: OrgId) -> u64 {
    e.list(org, ListRequest::default())
        .expect("list")
        .pagination
        .total
}

fn values(c: &ContactWithRelations) -> Vec<(IdentifierKind, &str, bool)> {
    c.identifiers
        .iter()
        .map(|i| (i.identifier_type, i.identifier_value.as_str(), i.is_primary))
        .collect()
}

/// The store's own record of a contact (with its version), bypassing the engine.
fn stored<S: Store>(e: &Engine<S>, org: OrgId, id: ContactId) -> Option<StoredContact> {
    e.store()
        .get(org, id)
        .expect("store get")
        .map(|r| r.contact)
}

fn get<S: Store>(e: &Engine<S>, org: OrgId, id: ContactId) -> ContactWithRelations {
    e.get(org, id).expect("contact exists")
}
