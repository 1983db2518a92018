//! The seam between the engine's semantics and storage: what a backend author needs.
//!
//! - this module: the [`Store`] trait and its contract, and what reads return;
//! - [`WriteBatch`], [`WriteOp`] and [`CommitError`]: what a commit carries and
//!   answers (`batch.rs`);
//! - [`codec`]: the stored forms of scopes, memory records and metadata, shared by
//!   the SQL backends so they store one thing one way.

mod batch;
pub mod codec;

use std::fmt::Debug;
use std::sync::Arc;

use smallvec::SmallVec;

pub use batch::{CommitError, EntityRows, EntityWrites, WriteBatch, WriteOp};

use crate::conversation::{ConversationKey, ConversationLog};
use crate::error::Result;
use crate::events::EventLog;
use crate::history::ContactHistoryEntry;
use crate::ids::{ContactId, MemoryId, OrgId};
use crate::memory::{MemoryRecord, MemoryScope};
use crate::memory_switch::{MemorySwitch, SwitchKind};
use crate::shared::SharedContact;
use crate::time::Timestamp;
use crate::types::{Contact, Identifier, IdentifierKind};
use crate::unmerge::MergeSnapshot;

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
    /// Its place in list order.
    pub fn position(&self) -> ListPosition {
        ListPosition {
            created_at: self.contact.created_at,
            id: self.contact.id,
        }
    }

    /// How many identifiers of `kind` the contact holds.
    pub fn count(&self, kind: IdentifierKind) -> u32 {
        self.counts().get(kind)
    }

    /// How many identifiers of each kind the contact holds.
    pub fn counts(&self) -> KindCounts {
        KindCounts::of(self.identifiers.iter().map(|i| i.identifier_type))
    }
}

/// How many identifiers of each kind a contact holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts([u32; 3]);

impl KindCounts {
    /// The counts of a list of kinds.
    pub fn of(kinds: impl IntoIterator<Item = IdentifierKind>) -> Self {
        let mut counts = KindCounts::default();
        for kind in kinds {
            counts.0[kind.index()] += 1;
        }
        counts
    }

    /// The counts as stored per kind.
    pub fn from_counts(phone_numbers: u32, emails: u32, external_ids: u32) -> Self {
        let mut counts = KindCounts::default();
        counts.0[IdentifierKind::PhoneNumber.index()] = phone_numbers;
        counts.0[IdentifierKind::Email.index()] = emails;
        counts.0[IdentifierKind::ExternalId.index()] = external_ids;
        counts
    }

    /// How many of `kind`.
    pub fn get(self, kind: IdentifierKind) -> u32 {
        self.0[kind.index()]
    }
}

/// The owner of a looked-up identifier: what resolve decides from (docs/semantics.md
/// 3), and no more. Its identifiers are not part of it: the decision needs only how
/// many of each kind the contact holds, so a SQL backend reads one row per hit.
#[derive(Clone, Debug, PartialEq)]
pub struct Owner {
    /// The contact, shared with the store where it can be.
    pub contact: SharedContact,
    /// Its version (see [`StoredContact::version`]).
    pub version: u64,
    /// How many identifiers of each kind it holds.
    pub counts: KindCounts,
}

/// The owners [`Store::lookup`] returns, one per key: inline, since a request has at
/// most three keys, so a lookup allocates nothing.
pub type Owners = SmallVec<[Option<Owner>; 3]>;

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
    pub contact: StoredContact,
    /// Its memory records in `(created_at, id)` order.
    pub memories: Vec<Arc<MemoryRecord>>,
}

/// A contact's place in list order: `(created_at, id)`, a total order (contract rule 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListPosition {
    /// The contact's `created_at`.
    pub created_at: Timestamp,
    /// The contact's id, which breaks ties.
    pub id: ContactId,
}

/// Where a page of [`Store::list`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageStart {
    /// After skipping this many contacts of the org in list order.
    Offset(u64),
    /// At the first contact strictly after this position (a cursor): its cost does
    /// not grow with the depth, and contacts created or deleted elsewhere in the order
    /// never shift it.
    After(ListPosition),
}

/// One page of an org's contacts and the org's total, read from one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// Contacts in the org when the page was read.
    pub total: u64,
    /// The page's contacts in `(created_at, id)` order, with their memories.
    pub contacts: Vec<ContactRecord>,
}

/// Storage for the engine: it stores and retrieves, and never decides.
///
/// The semantics (normalisation, precedence, compatibility, caps, fill-never-overwrite,
/// pagination rules, versions) live once, in [`Engine`](crate::Engine). A store offers
/// consistent reads and one atomic, conditional write. The engine resolves
/// optimistically: it reads, decides in pure code, and commits a [`WriteBatch`] whose
/// preconditions say "the world is still as I read it". If a precondition fails the
/// store returns [`CommitError::Precondition`], writes nothing, and the engine reads
/// again and re-decides. A resolve that finds everything in place commits nothing, so
/// the hot path never takes a write lock.
///
/// # Contract
///
/// Every backend must honour these rules; `contacts-testkit`'s conformance suite checks
/// them (scenario names in brackets; the store-contract scenarios live in
/// `crates/contacts-testkit/src/conformance/store_contract.rs`).
///
/// 1. **Org scoping.** Every method is scoped to `org`: an object of another org is
///    indistinguishable from a missing one, because ids leak nothing across tenants
///    (`org_isolation`).
/// 2. **Consistent reads.** [`lookup`](Store::lookup), [`get`](Store::get) and
///    [`list`](Store::list) each observe one committed state, never half of a batch,
///    and `list`'s `total` and rows the same state, because the engine decides from
///    what it read; `lookup`'s versions and identifier counts are the ones `get`
///    shows (`concurrent_resolves_create_each_person_once`, `list_total_and_pages`,
///    `lookup_reports_versions_and_counts`).
/// 3. **Atomic, serialisable commits.** [`commit`](Store::commit) applies all of a
///    batch or none of it, as if batches ran one at a time, also across processes
///    sharing one database; every precondition ([`WriteOp::Expect`], the versions of
///    `UpdateContact` and `DeleteContact`, `InsertIdentifier`'s uniqueness,
///    `InsertContact`'s new id, memory revisions) is checked inside the same atomic
///    unit as the writes and a failed one is [`CommitError::Precondition`] with
///    nothing changed, because that is what makes resolve serialisable
///    (`concurrent_resolves_create_each_person_once`, `lifecycle_writes_are_atomic`).
/// 4. **One owner per identifier.** Within an org, `(kind, value)` belongs to at most
///    one contact, and `(contact, scope)` to at most one memory record, enforced by
///    the storage itself so no race can break it (`identifier_has_one_owner`,
///    `memory_create_is_get_or_create`).
/// 5. **Order.** A contact's identifiers come back oldest first, `list` orders
///    contacts by `(created_at, id)` ascending (a total order) and a
///    [`PageStart::After`] page starts strictly after its position, and a contact's
///    memory records come back by `(created_at, id)`, because pages, cursors and
///    primaries depend on it (`list_order`, `list_cursor_walk`,
///    `get_returns_relations_in_order`).
/// 9. **Constant-cost totals.** `list`'s `total` is kept as a count that every insert
///    and delete of a contact maintains in the same atomic unit, not counted per call,
///    because a first page must cost the same at a million contacts as at ten
///    (`list_total_follows_writes`; docs/benchmarks.md, "Work that grows with the
///    data").
/// 6. **Versions.** A contact starts at version 1 and only `UpdateContact` moves it,
///    by exactly one, because the engine pairs every change to a contact with one
///    ([`WriteBatch::validate`]) and a backend need only store what it is given
///    (`store_version_preconditions`).
/// 7. **Errors.** A failing backend returns [`Error::Storage`](crate::Error::Storage)
///    from reads and [`CommitError::Backend`] from commits, with its own error as the
///    source, and only a lost race is [`CommitError::Precondition`]: a bug must not be
///    retried as a race. A store never panics on any value the engine hands it (any
///    UTF-8 string without NUL, any JSON object) (`awkward_values_round_trip`).
/// 8. **Sharing.** A store is `Send + Sync`, and clones or `Arc`s of it share one
///    state, because the engine is shared across threads (`dyn_store_round_trip`).
/// 10. **Removal reads no records.** [`contact_version`](Store::contact_version) and
///     [`memory_revision`](Store::memory_revision) answer what [`get`](Store::get) and
///     [`memory`](Store::memory) would say of the version and revision, without
///     decoding a memory record, because delete and reset must work on a record that no
///     longer decodes (docs/semantics.md 7) (`removal_reads_only_versions`). The default
///     methods read the whole record; a backend that stores encoded records overrides
///     them.
/// 11. **Memory switches.** [`WriteOp::SetMemorySwitch`] replaces the org's switch for
///     its kind and target, and [`memory_switch`](Store::memory_switch) returns the last
///     one committed; [`WriteOp::ExpectMemoryEnabled`] fails unless no switch of the
///     org turns the persona off, checked so that it and a concurrent switch-off of the
///     same persona serialise, because a memory write must never land after the
///     switch-off it raced (docs/semantics.md 6) (`memory_switch_round_trip`,
///     `memory_switch_precondition`).
/// 12. **Redirects.** [`WriteOp::Redirect`] records `from → to` with the merge's
///     snapshot and repoints every redirect to `from` at `to`, keeping for each the
///     contact it was merged into directly; [`redirect`](Store::redirect) answers the
///     live end stored for an id and [`merge_snapshot`](Store::merge_snapshot) its
///     snapshot; [`WriteOp::ForgetMergeSnapshots`] erases the snapshots of the
///     redirects to a contact, which then reads as no snapshot;
///     [`WriteOp::DeleteContact`] removes the redirects to the contact it deletes,
///     snapshots included; all per org, because a merged-away id must lead to
///     the contact that lives on, in one step, and to nothing once that is deleted,
///     and a deleted person's data must not outlive them in a snapshot
///     (docs/semantics.md 4) (`redirects_follow_merges`).
/// 13. **History.** [`WriteOp::AppendHistory`] stores an entry under `(contact,
///     version)` and drops that contact's entries through `drop_through`;
///     [`history`](Store::history) returns a contact's entries by version, after a
///     version, whether or not the contact still exists; [`WriteOp::RedactHistory`]
///     replaces the entries of a contact and of those redirecting to it by their
///     redacted form ([`ContactHistoryEntry::redacted`]), so an erasure leaves no personal
///     value behind; all per org (`history_records_every_change`,
///     `history_is_bounded_and_erased`).
/// 14. **Unmerge.** [`WriteOp::Unmerge`] inserts the contact again at the version
///     given, removes its redirect, which must have been written by a merge into
///     `primary` directly, and points every redirect whose chain of direct merges
///     passes through the contact back at it, because the ids merged into a duplicate
///     before it was merged away are that person again (docs/semantics.md 4,
///     "Unmerge") (`unmerge_restores_the_duplicate`, `unmerge_follows_chains`).
/// 15. **Change feed.** [`WriteOp::AppendEvents`] numbers its events from one past
///     the org's newest sequence number, in order, and commits them with the rest of
///     the batch; concurrent batches of one org get their numbers in the order they
///     commit, so a reader never sees a number before a smaller one is committed;
///     [`events`](Store::events) returns the org's newest number, read first, and then
///     the events after a number, by number; retention drops the oldest first, because
///     a reader that resumes from its last number must miss nothing and see nothing
///     twice (docs/semantics.md 4, "Change feed") (`events_record_every_change`,
///     `events_are_bounded`, `concurrent_writers_feed_a_restarting_reader`).
/// 16. **Memory changes.** [`WriteOp::PutConversation`] stores a call's or
///     conversation's log under `(kind, id)` if the stored one has made the
///     writes it expects, and drops the oldest logs of its record beyond `keep`;
///     [`conversation`](Store::conversation) returns the last one committed; deleting a
///     memory record, or its contact, deletes its logs in the same atomic unit, and
///     [`WriteOp::DropConversations`] deletes a record's logs started since a time; all per
///     org, because a reset or a deletion is an erasure and two writes of one call must
///     not lose each other's entries (docs/semantics.md 6, "Memory changes")
///     (`memory_changes_follow_a_call`, `memory_changes_are_bounded_and_erased`).
/// 17. **Held memory writes.** [`commit_holding_memory`](Store::commit_holding_memory)
///     calls its `decide` exactly once and commits what it returns as `commit` would;
///     a store that several processes can write keeps their commits to the record off
///     from before `decide` runs until that commit ends, because the engine falls back
///     to it after lost races, and a writer that keeps losing to a steady stream of
///     another process's writes must win at last rather than give up with a conflict
///     it never asked for (docs/semantics.md 6) (`held_memory_write_commits_once`,
///     `memory_writes_hold_after_lost_races`; for SQLite and PostgreSQL,
///     `a_held_memory_write_keeps_other_processes_off`).
/// 18. **Entity writes.** A [`WriteOp::UpdateMemory`] names the entities it changed
///     ([`EntityWrites`]); a store that keeps entities apart from the rest of the
///     record writes those alone, and must read back the record's entities in their
///     order, one it gained last, exactly as if it had stored the whole record,
///     because an upsert must cost what it changes, not the whole record
///     (docs/semantics.md 6) (`memory_entities_upsert_and_remove`, every conformance
///     scenario that writes memory; for SQLite, `an_entity_write_touches_its_own_row_alone`).
/// 19. **Reads without I/O.** [`lookup_without_io`](Store::lookup_without_io) answers
///     `Some` only with what [`lookup`](Store::lookup) would return at that moment, and
///     only when it can without I/O or waiting on a lock that is held across I/O,
///     because an async caller runs it on a thread that must never block; `None` is
///     always a correct answer (`lookups_without_io_agree_with_lookups`).
///
/// Stores are synchronous: the engine's work between reads is microseconds of pure
/// code, SQLite is synchronous, and an async server calls the engine from a blocking
/// pool (docs/semantics.md, "The Store seam").
pub trait Store: Send + Sync + Debug + 'static {
    /// For each key, the contact of `org` that owns it, if any, with its version and
    /// its identifier counts. The result has one entry per key, in the order of
    /// `keys`; all entries come from one consistent state.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn lookup(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Owners>;

    /// [`lookup`](Store::lookup), if the store can answer from memory, without I/O
    /// and without waiting on a lock held across I/O (contract rule 19); `None` when
    /// it cannot, or when answering would fail. The default answers `None`: a store
    /// that always reads from storage.
    fn lookup_without_io(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Option<Owners> {
        let _ = (org, keys);
        None
    }

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

    /// Up to `limit` contacts of `org` from `start`, in `(created_at, id)` order, and
    /// the org's total, from one snapshot.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn list(&self, org: OrgId, start: PageStart, limit: u64) -> Result<ListPage>;

    /// The version of contact `id` of `org`, or `None`: what a delete needs (contract
    /// rule 10).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn contact_version(&self, org: OrgId, id: ContactId) -> Result<Option<u64>> {
        Ok(self.get(org, id)?.map(|r| r.contact.version))
    }

    /// The id and revision of the memory record of `contact` for `scope` in `org`, or
    /// `None`: what a reset needs (contract rule 10).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn memory_revision(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<(MemoryId, u64)>> {
        Ok(self
            .memory(org, contact, scope)?
            .map(|m| (m.id, m.revision)))
    }

    /// Up to `limit` history entries of contact `contact` in `org` with a version
    /// greater than `after`, by version (contract rule 13).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn history(
        &self,
        org: OrgId,
        contact: ContactId,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ContactHistoryEntry>>;

    /// The contact of `org` that contact id `id` was merged into, or `None` (contract
    /// rule 12).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn redirect(&self, org: OrgId, id: ContactId) -> Result<Option<ContactId>>;

    /// The snapshot stored with the redirect from `duplicate`, or `None` when there is
    /// no such redirect (contract rules 12 and 14).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails, or when the
    /// stored snapshot is unreadable.
    fn merge_snapshot(&self, org: OrgId, duplicate: ContactId) -> Result<Option<MergeSnapshot>>;

    /// The switch of `org` for `kind` and `target_id`, or `None` if none was ever set
    /// (contract rule 11).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails.
    fn memory_switch(
        &self,
        org: OrgId,
        kind: SwitchKind,
        target_id: &str,
    ) -> Result<Option<MemorySwitch>>;

    /// The newest event sequence number of `org` (0 before its first event), then up
    /// to `limit` of its events with a sequence number greater than `after`, by
    /// sequence number (contract rule 15).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails, or when a
    /// stored event is unreadable.
    fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<EventLog>;

    /// The memory changes of call or conversation `key` in `org`, or `None` if none
    /// are kept (contract rule 16).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when the backend fails, or when the
    /// stored log is unreadable.
    fn conversation(&self, org: OrgId, key: &ConversationKey) -> Result<Option<ConversationLog>>;

    /// Applies `batch` to `org` atomically (see the contract).
    ///
    /// # Errors
    /// [`CommitError::Precondition`] when a precondition fails;
    /// [`CommitError::Backend`] when the backend fails. Either way nothing is written.
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> std::result::Result<(), CommitError>;

    /// Calls `decide` once and commits the batch it returns (`None`: nothing), as
    /// [`commit`](Store::commit) would, while no writer in another process can commit
    /// a change to memory record `id` of `org` (contract rule 17). `decide` reads
    /// through this store as usual.
    ///
    /// The default holds nothing: it is right for a store that only one process
    /// writes, where the engine's own turns already order a record's writers.
    ///
    /// # Errors
    /// As [`commit`](Store::commit). A store that fails before it calls `decide`
    /// returns the error without calling it.
    fn commit_holding_memory(
        &self,
        org: OrgId,
        id: MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> std::result::Result<(), CommitError> {
        let _ = id;
        match decide() {
            Some(batch) => self.commit(org, &batch),
            None => Ok(()),
        }
    }
}

macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $ptr {
            fn lookup(
                &self,
                org: OrgId,
                keys: &[IdentifierKey<'_>],
            ) -> Result<Owners> {
                (**self).lookup(org, keys)
            }
            fn lookup_without_io(
                &self,
                org: OrgId,
                keys: &[IdentifierKey<'_>],
            ) -> Option<Owners> {
                (**self).lookup_without_io(org, keys)
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
            fn list(&self, org: OrgId, start: PageStart, limit: u64) -> Result<ListPage> {
                (**self).list(org, start, limit)
            }
            fn contact_version(&self, org: OrgId, id: ContactId) -> Result<Option<u64>> {
                (**self).contact_version(org, id)
            }
            fn memory_revision(
                &self,
                org: OrgId,
                contact: ContactId,
                scope: &MemoryScope,
            ) -> Result<Option<(MemoryId, u64)>> {
                (**self).memory_revision(org, contact, scope)
            }
            fn memory_switch(
                &self,
                org: OrgId,
                kind: SwitchKind,
                target_id: &str,
            ) -> Result<Option<MemorySwitch>> {
                (**self).memory_switch(org, kind, target_id)
            }
            fn redirect(&self, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
                (**self).redirect(org, id)
            }
            fn merge_snapshot(
                &self,
                org: OrgId,
                duplicate: ContactId,
            ) -> Result<Option<MergeSnapshot>> {
                (**self).merge_snapshot(org, duplicate)
            }
            fn history(
                &self,
                org: OrgId,
                contact: ContactId,
                after: u64,
                limit: u64,
            ) -> Result<Vec<ContactHistoryEntry>> {
                (**self).history(org, contact, after, limit)
            }
            fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<EventLog> {
                (**self).events(org, after, limit)
            }
            fn conversation(
                &self,
                org: OrgId,
                key: &ConversationKey,
            ) -> Result<Option<ConversationLog>> {
                (**self).conversation(org, key)
            }
            fn commit(
                &self,
                org: OrgId,
                batch: &WriteBatch,
            ) -> std::result::Result<(), CommitError> {
                (**self).commit(org, batch)
            }
            fn commit_holding_memory(
                &self,
                org: OrgId,
                id: MemoryId,
                decide: &mut dyn FnMut() -> Option<WriteBatch>,
            ) -> std::result::Result<(), CommitError> {
                (**self).commit_holding_memory(org, id, decide)
            }
        }
    )*};
}

forward_store!(Arc<S>, Box<S>);
