//! The seam between the engine's semantics and storage.

use std::fmt::Debug;
use std::sync::Arc;

use crate::error::Result;
use crate::memory::{MemoryId, MemoryRecord, MemoryScope};
use crate::types::{Contact, ContactId, Identifier, IdentifierId, IdentifierKind, OrgId};

/// A contact as stored: its row, its identifiers and its version.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredContact {
    /// The contact's own fields.
    pub contact: Contact,
    /// Its identifiers, oldest first (the order they were attached).
    pub identifiers: Vec<Identifier>,
    /// Incremented by every committed batch that changes the contact or its
    /// identifiers; a fresh contact has version 1. Compared by [`WriteOp::Expect`]
    /// and [`WriteOp::UpdateContact`] to detect lost races.
    pub version: u64,
}

impl StoredContact {
    /// How many identifiers of `kind` the contact holds.
    pub fn count(&self, kind: IdentifierKind) -> usize {
        self.identifiers
            .iter()
            .filter(|i| i.identifier_type == kind)
            .count()
    }
}

/// One identifier key to look up: `(kind, normalised value)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdentifierKey<'a> {
    /// The kind.
    pub kind: IdentifierKind,
    /// The normalised value.
    pub value: &'a str,
}

/// A contact with its memory records, read from one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactRecord {
    /// The contact and its identifiers.
    pub contact: Arc<StoredContact>,
    /// Its memory records in `(created_at, id)` order.
    pub memories: Vec<Arc<MemoryRecord>>,
}

/// One page of an org's contacts and the org's total, read from one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// Contacts in the org when the page was read.
    pub total: u64,
    /// The page's contacts in `(created_at, id)` order, with their memories.
    pub contacts: Vec<ContactRecord>,
}

/// One change inside a [`WriteBatch`].
///
/// Versions: a contact inserted by a batch starts at 1; any other contact the batch
/// changes (through [`WriteOp::UpdateContact`] or any identifier operation) ends the
/// batch exactly one version higher than it started, however many operations touched
/// it. Memory records carry their own revision and do not move the contact's
/// version.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Precondition: the contact exists in the org with exactly this version.
    Expect {
        /// The contact read.
        contact_id: ContactId,
        /// The version it had when it was read.
        version: u64,
    },
    /// Insert a new contact at version 1. Its id must be new.
    InsertContact(Contact),
    /// Replace the contact's `name`, `metadata` and `updated_at` (`id`, `org_id` and
    /// `created_at` never change). Precondition: its version is `expected_version`;
    /// afterwards it is `expected_version + 1`.
    UpdateContact {
        /// The contact's new fields.
        contact: Contact,
        /// The version the engine read.
        expected_version: u64,
    },
    /// Attach an identifier to `identifier.contact_id` (inserted earlier in the batch or
    /// already stored). Precondition: no contact of the org owns
    /// `(identifier_type, identifier_value)`; the backend's storage enforces this with
    /// a unique index or equivalent, not only with a check.
    InsertIdentifier(Identifier),
    /// Delete identifier `id` from `contact_id`; afterwards its value is free.
    /// Precondition: the contact holds it.
    DeleteIdentifier {
        /// The identifier.
        id: IdentifierId,
        /// The contact holding it.
        contact_id: ContactId,
    },
    /// Set the `is_primary` flag of identifier `id` of `contact_id`. Precondition: the
    /// contact holds it.
    SetPrimary {
        /// The identifier.
        id: IdentifierId,
        /// The contact holding it.
        contact_id: ContactId,
        /// The new flag.
        is_primary: bool,
    },
    /// Move identifier `id` from contact `from` to contact `to` (both of the org),
    /// keeping its id and value; it becomes `to`'s newest identifier. Precondition:
    /// `from` holds it and `to` exists.
    MoveIdentifier {
        /// The identifier.
        id: IdentifierId,
        /// The contact holding it now.
        from: ContactId,
        /// The contact receiving it.
        to: ContactId,
        /// Its primary flag on `to`.
        is_primary: bool,
    },
    /// Delete a contact with its identifiers and memory records. Precondition: it
    /// exists in the org at `expected_version`.
    DeleteContact {
        /// The contact.
        id: ContactId,
        /// The version the engine read.
        expected_version: u64,
    },
    /// Insert a memory record (its `revision` is 1). Preconditions: its contact exists
    /// in the org, its id is new, and no record of the org has the same contact and
    /// scope (enforced by the storage: a unique index or equivalent).
    InsertMemory(MemoryRecord),
    /// Replace a memory record with `record` (whose `revision` is
    /// `expected_revision + 1`). Precondition: the stored record has
    /// `expected_revision`. Its id, scope and `created_at` never change; its contact
    /// may (a merge moves records), in which case the new contact must exist in the
    /// org and must not already have a record for the scope.
    UpdateMemory {
        /// The record's new state.
        record: MemoryRecord,
        /// The revision the engine read.
        expected_revision: u64,
    },
    /// Delete a memory record. Precondition: it exists in the org with
    /// `expected_revision`.
    DeleteMemory {
        /// The record.
        id: MemoryId,
        /// The revision the engine read.
        expected_revision: u64,
    },
}

/// Changes the engine wants applied atomically, all or nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    /// The operations, applied in order; preconditions are checked against the state
    /// the batch itself has produced so far.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Storage for the engine: it stores and retrieves, and never decides.
///
/// The semantics (normalisation, precedence, compatibility, caps, fill-never-overwrite,
/// pagination rules) live once, in [`Engine`](crate::Engine). A store offers
/// consistent reads and one atomic, conditional write. The engine resolves
/// optimistically: it reads, decides in pure code, and commits a [`WriteBatch`] whose
/// preconditions say "the world is still as I read it". If a precondition fails the
/// store returns [`Error::Conflict`](crate::Error::Conflict), writes nothing, and the
/// engine reads again and re-decides. A resolve that finds everything in place
/// commits nothing, so the hot path never takes a write lock.
///
/// # Contract
///
/// Every backend must honour these rules; `contacts-testkit`'s conformance suite checks
/// them (scenario names in brackets).
///
/// 1. **Org scoping.** Every method is scoped to `org`. An object of another org is
///    indistinguishable from a missing one (`org_isolation`).
/// 2. **Consistent reads.** [`lookup`](Store::lookup), [`get`](Store::get) and
///    [`list`](Store::list) each observe one committed state: never half of a
///    batch, and for `list` the `total` and the rows come from the same state
///    (`concurrent_resolves_create_each_person_once`, `list_total_and_pages`).
/// 3. **Atomic, serialisable commits.** [`commit`](Store::commit) applies all of a
///    batch or none of it, as if batches ran one at a time, also across processes
///    sharing one database. Preconditions ([`WriteOp::Expect`],
///    [`WriteOp::UpdateContact`]'s version, [`WriteOp::InsertIdentifier`]'s uniqueness,
///    [`WriteOp::InsertContact`]'s new id) are checked inside the same atomic unit as
///    the writes; a failed one returns `Error::Conflict` and leaves nothing changed
///    (`concurrent_resolves_create_each_person_once`).
/// 4. **One owner per identifier.** Within an org, `(kind, value)` belongs to at most
///    one contact, enforced by the storage itself (`identifier_has_one_owner`).
///    Likewise one memory record per `(contact, scope)` (`memory_create_is_get_or_create`).
/// 5. **Order.** Identifiers of a contact come back oldest first; `list` orders
///    contacts by `(created_at, id)` ascending, a total order (`list_order`); a
///    contact's memory records come back by `(created_at, id)`.
/// 6. **Versions.** A contact's version starts at 1 and grows by exactly one with
///    each committed batch that changes it or its identifiers
///    (`store_version_preconditions`).
/// 7. **Errors.** Storage failures are [`Error::Storage`](crate::Error::Storage) with
///    the backend's error as source; a store never panics on any value the engine
///    hands it (any UTF-8 string without NUL, any JSON object).
/// 8. **Sharing.** A store is `Send + Sync`; clones or `Arc`s of it share one state.
///
/// Stores are synchronous: the engine's work between reads is microseconds of pure
/// code, SQLite is synchronous, and an async server calls the engine from a blocking
/// pool. See `docs/semantics.md` for the reasons.
pub trait Store: Send + Sync + Debug + 'static {
    /// For each key, the contact of `org` that owns it, if any, with its identifiers
    /// and version. The result has one entry per key, in the order of `keys`; all
    /// entries come from one consistent state.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn lookup(
        &self,
        org: OrgId,
        keys: &[IdentifierKey<'_>],
    ) -> Result<Vec<Option<Arc<StoredContact>>>>;

    /// The contact `id` of `org` with its memory records, or `None`.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>>;

    /// The memory record of `contact` for `scope` in `org`, or `None`.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>>;

    /// The memory record `id` of `org`, or `None`.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>>;

    /// Up to `limit` contacts of `org` after skipping `offset`, in `(created_at, id)`
    /// order, and the org's total, from one snapshot.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn list(&self, org: OrgId, offset: u64, limit: u64) -> Result<ListPage>;

    /// Applies `batch` to `org` atomically (see the contract).
    ///
    /// # Errors
    /// [`Error::Conflict`](crate::Error::Conflict) when a precondition fails (nothing
    /// written); [`Error::Storage`](crate::Error::Storage) when the backend fails
    /// (nothing written).
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<()>;
}

macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $ptr {
            fn lookup(
                &self,
                org: OrgId,
                keys: &[IdentifierKey<'_>],
            ) -> Result<Vec<Option<Arc<StoredContact>>>> {
                (**self).lookup(org, keys)
            }
            fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
                (**self).get(org, id)
            }
            fn memory(
                &self,
                org: OrgId,
                contact: ContactId,
                scope: &MemoryScope,
            ) -> Result<Option<Arc<MemoryRecord>>> {
                (**self).memory(org, contact, scope)
            }
            fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
                (**self).memory_by_id(org, id)
            }
            fn list(&self, org: OrgId, offset: u64, limit: u64) -> Result<ListPage> {
                (**self).list(org, offset, limit)
            }
            fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<()> {
                (**self).commit(org, batch)
            }
        }
    )*};
}

forward_store!(Arc<S>, Box<S>);
