//! Model-based testing with `proptest-state-machine`: random sequences of every engine
//! operation (resolve, find, get, list, update, merge, unmerge, delete, detach and every memory
//! operation) run against a real store and the [`Model`] in
//! lockstep, checking after every step that they agree and that the invariants of
//! docs/semantics.md hold.
//!
//! - `strategies.rs`: the generated requests and operations;
//! - `reference.rs`: the reference state machine (the model's side);
//! - `system.rs`: the system under test (the engine and a store) and the checks.
//!
//! A backend runs it with:
//!
//! ```ignore
//! struct Factory;
//! impl contacts_testkit::machine::StoreFactory for Factory {
//!     type Store = contacts_inmemory::InMemoryStore;
//!     fn make() -> Self::Store { contacts_inmemory::InMemoryStore::new() }
//! }
//! proptest_state_machine::prop_state_machine! {
//!     #![proptest_config(contacts_testkit::machine::config())]
//!     #[test]
//!     fn model_test(sequential 1..40 => StoreMachine<Factory>);
//! }
//! ```

mod reference;
mod strategies;
mod system;

pub use strategies::*;
pub(crate) use system::write_memory;
pub use system::{StoreMachine, Sut};

use contacts_core::{
    Config, FindRequest, IdentifierKind, OrgId, ResolveRequest, ScopeRequest, Store, UpdateRequest,
};
use proptest::test_runner::Config as ProptestConfig;

use crate::conformance::{org_o, org_p};
use crate::model::{MemoryOp, Model, ModelMemory, ModelResolve, Rejected};

/// Builds a fresh, empty store for each test case.
pub trait StoreFactory: 'static {
    /// The store type.
    type Store: Store;
    /// A new empty store.
    fn make() -> Self::Store;
}

/// Proptest settings: 256 cases by default (CI), `PROPTEST_CASES` raises it.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Shrinking a failing sequence is worth a while, but not forever.
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// The config under test: low caps so sequences reach them, yet three phones so the
/// order of non-primary identifiers is observable; a message window of 4.
pub fn machine_config() -> Config {
    Config::default()
        .with_message_window(4)
        .with_cap(IdentifierKind::PhoneNumber, 3)
        .with_cap(IdentifierKind::Email, 2)
}

/// Org 0 or 1 of the generated operations.
pub fn org(n: u8) -> OrgId {
    if n == 0 { org_o() } else { org_p() }
}

/// One step of a sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// Resolve in org 0 or 1.
    Resolve(u8, ResolveRequest),
    /// Find in org 0 or 1.
    Find(u8, FindRequest),
    /// Get contact `index` of org `owner_org` through org `query_org`.
    Get {
        /// The org the contact was created in.
        owner_org: u8,
        /// Its creation index there.
        index: usize,
        /// The org asking.
        query_org: u8,
    },
    /// Get an id nobody has.
    GetUnknown(u8),
    /// List a page.
    List(u8, Option<i64>, Option<i64>),
    /// Get-or-create the memory of contact `index` of org `org` for `scope`.
    MemoryCreate {
        /// The org.
        org: u8,
        /// The contact's creation index.
        index: usize,
        /// The scope.
        scope: ScopeRequest,
    },
    /// Update contact `index`.
    Update(u8, usize, UpdateRequest),
    /// Merge contact `.2` into contact `.1`.
    Merge(u8, usize, usize),
    /// Undo the merge of contact `.2` into contact `.1`.
    Unmerge(u8, usize, usize),
    /// Delete contact `index`.
    Delete(u8, usize),
    /// Detach identifier `(kind, value)` from contact `index`.
    Detach(u8, usize, IdentifierKind, String),
    /// A memory write or read of contact `index` for `scope`; with `stale`, the write
    /// names the revision before the current one.
    Memory {
        /// The org.
        org: u8,
        /// The contact's creation index.
        index: usize,
        /// The scope.
        scope: ScopeRequest,
        /// What to do.
        op: MemoryOp,
        /// Name a stale revision.
        stale: bool,
    },
}

/// What the model predicts for the last step.
#[derive(Clone, Debug)]
pub enum Expected {
    /// Nothing has run yet.
    Nothing,
    /// A resolve.
    Resolve(Result<ModelResolve, Rejected>),
    /// A find: the index of the found contact.
    Find(Result<Option<usize>, Rejected>),
    /// A get: found or not, and where a merged-away id leads.
    Get(bool, Option<usize>),
    /// A list page: indexes, limit used, total.
    List(Result<(Vec<usize>, u64, u64), Rejected>),
    /// A memory create: whether it created.
    MemoryCreate(Result<bool, Rejected>),
    /// An update: whether the contact changed.
    Update(Result<bool, Rejected>),
    /// A merge, delete or detach.
    Done(Result<(), Rejected>),
    /// An unmerge: what was not restored, as [`Model::unmerge`] names it.
    Unmerge(Result<Vec<String>, Rejected>),
    /// A memory op: the record afterwards, and the revision named (if any).
    Memory(Result<Option<ModelMemory>, Rejected>, Option<u64>),
}

/// The reference state: the model and its prediction for the step just applied.
#[derive(Clone, Debug)]
pub struct RefState {
    /// The model.
    pub model: Model,
    /// The prediction for the last op.
    pub expected: Expected,
}

/// The reference state machine.
#[derive(Debug)]
pub struct ModelMachine;
