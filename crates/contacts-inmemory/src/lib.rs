//! A thread-safe in-memory [`Store`] for the contacts engine.
//!
//! For tests, for embedding where persistence is not wanted, and as the reference
//! backend the others are compared with.
//!
//! ```
//! use contacts_core::{Engine, OrgId, ResolveRequest};
//! use contacts_inmemory::InMemoryStore;
//!
//! let engine = Engine::new(InMemoryStore::new());
//! let org = OrgId(contacts_core::uuid::Uuid::now_v7());
//! let out = engine.resolve(org, &ResolveRequest::new().with_email("ana@example.com"))?;
//! assert!(out.created);
//! # Ok::<(), contacts_core::Error>(())
//! ```
//!
//! # Design
//!
//! Reads never take a global lock. The identifier index and the contacts are split
//! into [`SHARDS`] shards, each behind its own `RwLock`, so two threads resolving
//! different people touch different locks. Writers are serialised by one mutex (a
//! commit checks its preconditions and applies them with no other writer in between)
//! and bracket every commit with an epoch counter made odd while the commit is being
//! applied. A reader notes the epoch, reads the shards it needs, and accepts its
//! result only if the epoch was even and unchanged: that proves no commit overlapped
//! the read, so the read saw one committed state (a sequence lock). After a few failed
//! attempts under a write storm, a reader takes the writer mutex instead, so it cannot
//! starve.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use contacts_core::store::{
    CommitError, ContactRecord, IdentifierKey, ListPage, Owners, StoredContact, WriteBatch,
    WriteOp,
};
use contacts_core::{
    Contact, ContactId, Error, IdentifierKind, MemoryId, MemoryRecord, MemoryScope, OrgId, Result, Store,
    Timestamp,
};
use compact_str::CompactString;
use hashbrown::{DefaultHashBuilder, Equivalent, HashMap};

/// Number of lock shards for identifiers, for contacts and for memory ids.
pub const SHARDS: usize = 64;

/// Optimistic read attempts before a reader falls back to the writer mutex.
const OPTIMISTIC_READS: usize = 8;

const BACKEND: &str = "inmemory";

/// The in-memory store. Clones share one state.
#[derive(Clone, Debug, Default)]
pub struct InMemoryStore {
    inner: Arc<Inner>,
}

impl InMemoryStore {
    /// An empty store.
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_inmemory::InMemoryStore;
    ///
    /// let store = InMemoryStore::new();
    /// let engine = Engine::new(store.clone()); // clones share one state
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// assert_eq!(Engine::new(store).list(org, Default::default())?.pagination.total, 1);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

/// An identifier's key in the index. The value is stored inline up to 24 bytes (every
/// phone number, most emails), so comparing a key costs no pointer chase.
#[derive(Hash, PartialEq, Eq, Debug)]
struct IdentKey {
    org: OrgId,
    kind: IdentifierKind,
    value: CompactString,
}

/// A borrowed [`IdentKey`]. Its derived `Hash` feeds the same values in the same order
/// (`&str` and `CompactString` both hash as `str`), which `Equivalent` requires.
#[derive(Hash, Debug)]
struct IdentQuery<'a> {
    org: OrgId,
    kind: IdentifierKind,
    value: &'a str,
}

impl Equivalent<IdentKey> for IdentQuery<'_> {
    fn equivalent(&self, key: &IdentKey) -> bool {
        self.org == key.org && self.kind == key.kind && self.value == key.value.as_str()
    }
}

/// A contact and its memory records, stored and replaced together.
#[derive(Clone, Debug)]
struct Slot {
    contact: Arc<StoredContact>,
    /// In `(created_at, id)` order.
    memories: Vec<Arc<MemoryRecord>>,
}

impl Slot {
    fn record(&self) -> ContactRecord {
        ContactRecord {
            contact: Arc::clone(&self.contact),
            memories: self.memories.clone(),
        }
    }
}

type IdentShard = HashMap<IdentKey, ContactId>;
type ContactShard = HashMap<ContactId, Slot>;
type MemoryShard = HashMap<MemoryId, ContactId>;

#[derive(Debug)]
struct Inner {
    /// Serialises commits.
    writer: Mutex<()>,
    /// Odd while a commit is being applied; see the crate docs.
    epoch: AtomicU64,
    shard_hasher: DefaultHashBuilder,
    idents: Box<[RwLock<IdentShard>]>,
    contacts: Box<[RwLock<ContactShard>]>,
    memory_ids: Box<[RwLock<MemoryShard>]>,
    /// Per org, contacts in list order.
    order: RwLock<HashMap<OrgId, BTreeSet<(Timestamp, ContactId)>>>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            writer: Mutex::new(()),
            epoch: AtomicU64::new(0),
            shard_hasher: DefaultHashBuilder::default(),
            idents: (0..SHARDS).map(|_| RwLock::default()).collect(),
            contacts: (0..SHARDS).map(|_| RwLock::default()).collect(),
            memory_ids: (0..SHARDS).map(|_| RwLock::default()).collect(),
            order: RwLock::default(),
        }
    }
}

// Lock poisoning: every critical section below either only reads or applies a batch
// that was fully validated beforehand with operations that cannot panic short of
// allocation failure, so a poisoned lock still guards consistent data and is used.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn dangling(what: &str, id: impl std::fmt::Display) -> Error {
    Error::storage(
        BACKEND,
        format!("{what} index names {id}, which is not stored"),
    )
}

fn same_scope(m: &MemoryRecord, scope: &MemoryScope) -> bool {
    let (persona, agent) = scope.parts();
    m.persona_id.as_deref() == persona && m.agent_number.as_deref() == agent
}

impl Inner {
    fn ident_shard(&self, q: &IdentQuery<'_>) -> &RwLock<IdentShard> {
        let h = self.shard_hasher.hash_one(q);
        &self.idents[(h >> 32) as usize % SHARDS]
    }

    fn contact_shard(&self, id: ContactId) -> &RwLock<ContactShard> {
        // UUIDv7's low bits are random (or a counter for deterministic generators).
        &self.contacts[(id.0.as_u128() as usize) % SHARDS]
    }

    fn memory_shard(&self, id: MemoryId) -> &RwLock<MemoryShard> {
        &self.memory_ids[(id.0.as_u128() as usize) % SHARDS]
    }

    fn owner(&self, q: &IdentQuery<'_>) -> Option<ContactId> {
        read(self.ident_shard(q)).get(q).copied()
    }

    fn slot(&self, org: OrgId, id: ContactId) -> Option<Slot> {
        read(self.contact_shard(id))
            .get(&id)
            .filter(|s| s.contact.contact.org_id == org)
            .cloned()
    }

    fn contact(&self, org: OrgId, id: ContactId) -> Option<Arc<StoredContact>> {
        read(self.contact_shard(id))
            .get(&id)
            .filter(|s| s.contact.contact.org_id == org)
            .map(|s| Arc::clone(&s.contact))
    }

    fn memory_owner(&self, id: MemoryId) -> Option<ContactId> {
        read(self.memory_shard(id)).get(&id).copied()
    }

    /// Runs `f` against one committed state (see the crate docs).
    fn consistent<T>(&self, f: impl Fn() -> T) -> T {
        for _ in 0..OPTIMISTIC_READS {
            let before = self.epoch.load(Ordering::SeqCst);
            if before.is_multiple_of(2) {
                let result = f();
                if self.epoch.load(Ordering::SeqCst) == before {
                    return result;
                }
            }
            std::thread::yield_now();
        }
        let _writer = lock(&self.writer);
        f()
    }
}

/// A contact as a batch leaves it, before it is published.
struct Staged {
    contact: StoredContact,
    memories: Vec<Arc<MemoryRecord>>,
    /// The version it had before this batch; `None` if the batch inserted it.
    base_version: Option<u64>,
    /// Whether this batch deleted it.
    deleted: bool,
}

/// Everything a batch will publish, built without touching shared state.
struct Stage<'a> {
    inner: &'a Inner,
    org: OrgId,
    contacts: HashMap<ContactId, Staged>,
    /// Owner changes of identifiers, in order: `Some` to assign, `None` to free.
    idents: Vec<(IdentKey, Option<ContactId>)>,
    /// The latest change per identifier, so a batch's own lookups stay O(1) (a bulk
    /// batch of thousands of identifiers must not scan `idents` for each one).
    latest: HashMap<IdentKey, Option<ContactId>>,
    /// Memory index changes, in order: `Some` to (re)assign, `None` to remove.
    memories: Vec<(MemoryId, Option<ContactId>)>,
}

fn conflict(what: String) -> CommitError {
    CommitError::precondition(what)
}

/// A batch the engine never builds (a contact or memory of another org): a bug, not a
/// race.
fn malformed(what: &'static str) -> CommitError {
    CommitError::backend(BACKEND, what)
}

impl Stage<'_> {
    /// The staged copy of a live contact of the org, staging it on first use.
    fn staged(&mut self, id: ContactId) -> std::result::Result<&mut Staged, CommitError> {
        if self.contacts.get(&id).is_some_and(|s| s.deleted) {
            return Err(conflict(format!("contact {id} was deleted")));
        }
        if !self.contacts.contains_key(&id) {
            let slot = self
                .inner
                .slot(self.org, id)
                .ok_or_else(|| conflict(format!("contact {id} does not exist")))?;
            let base = slot.contact.version;
            self.contacts.insert(
                id,
                Staged {
                    contact: (*slot.contact).clone(),
                    memories: slot.memories,
                    base_version: Some(base),
                    deleted: false,
                },
            );
        }
        Ok(self.contacts.get_mut(&id).expect("staged above"))
    }

    /// Who owns `q` as of this batch.
    fn owner(&self, q: &IdentQuery<'_>) -> Option<ContactId> {
        match self.latest.get(q) {
            Some(owner) => *owner,
            None => self.inner.owner(q),
        }
    }

    fn set_owner(&mut self, kind: IdentifierKind, value: &str, owner: Option<ContactId>) {
        let key = |value: &str| IdentKey {
            org: self.org,
            kind,
            value: CompactString::from(value),
        };
        self.latest.insert(key(value), owner);
        self.idents.push((key(value), owner));
    }

    fn check_version(
        base: Option<u64>,
        expected: u64,
        id: ContactId,
    ) -> std::result::Result<(), CommitError> {
        if base == Some(expected) {
            Ok(())
        } else {
            Err(conflict(format!(
                "contact {id} changed since it was read (expected version {expected})"
            )))
        }
    }

    /// The contact owning memory `id`, as of this batch.
    fn memory_contact(&self, id: MemoryId) -> Option<ContactId> {
        match self.memories.iter().rev().find(|(m, _)| *m == id) {
            Some((_, contact)) => *contact,
            None => self.inner.memory_owner(id),
        }
    }

    fn apply(&mut self, op: &WriteOp) -> std::result::Result<(), CommitError> {
        let org = self.org;
        match op {
            WriteOp::Expect {
                contact_id,
                version,
            } => {
                let base = match self.contacts.get(contact_id) {
                    Some(s) => s.base_version,
                    None => self.inner.contact(org, *contact_id).map(|c| c.version),
                };
                Self::check_version(base, *version, *contact_id)
            }
            WriteOp::InsertContact(c) => {
                if c.org_id != org {
                    return Err(malformed("contact of another org in batch"));
                }
                if self.contacts.contains_key(&c.id)
                    || read(self.inner.contact_shard(c.id)).contains_key(&c.id)
                {
                    return Err(conflict(format!("contact {} already exists", c.id)));
                }
                self.contacts.insert(
                    c.id,
                    Staged {
                        contact: StoredContact {
                            contact: Arc::new(c.clone()),
                            identifiers: Vec::new(),
                            version: 1,
                        },
                        memories: Vec::new(),
                        base_version: None,
                        deleted: false,
                    },
                );
                Ok(())
            }
            WriteOp::UpdateContact {
                contact,
                expected_version,
            } => {
                let s = self.staged(contact.id)?;
                Self::check_version(s.base_version, *expected_version, contact.id)?;
                s.contact.version = expected_version + 1;
                // Name, metadata and updated_at change; id, org and created_at never do.
                let old = &s.contact.contact;
                s.contact.contact = Arc::new(Contact {
                    id: old.id,
                    org_id: old.org_id,
                    created_at: old.created_at,
                    name: contact.name.clone(),
                    metadata: contact.metadata.clone(),
                    updated_at: contact.updated_at,
                });
                Ok(())
            }
            WriteOp::InsertIdentifier(ident) => {
                let q = IdentQuery {
                    org,
                    kind: ident.identifier_type,
                    value: &ident.identifier_value,
                };
                if self.owner(&q).is_some() {
                    return Err(conflict(format!(
                        "{} {} is already owned",
                        ident.identifier_type, ident.identifier_value
                    )));
                }
                let s = self.staged(ident.contact_id)?;
                s.contact.identifiers.push(ident.clone());
                self.set_owner(
                    ident.identifier_type,
                    &ident.identifier_value,
                    Some(ident.contact_id),
                );
                Ok(())
            }
            WriteOp::DeleteIdentifier { id, contact_id } => {
                let s = self.staged(*contact_id)?;
                let pos = s
                    .contact
                    .identifiers
                    .iter()
                    .position(|i| i.id == *id)
                    .ok_or_else(|| {
                        conflict(format!("identifier {id} is not on contact {contact_id}"))
                    })?;
                let gone = s.contact.identifiers.remove(pos);
                self.set_owner(gone.identifier_type, &gone.identifier_value, None);
                Ok(())
            }
            WriteOp::SetPrimary {
                id,
                contact_id,
                is_primary,
            } => {
                let s = self.staged(*contact_id)?;
                let ident = s
                    .contact
                    .identifiers
                    .iter_mut()
                    .find(|i| i.id == *id)
                    .ok_or_else(|| {
                        conflict(format!("identifier {id} is not on contact {contact_id}"))
                    })?;
                ident.is_primary = *is_primary;
                Ok(())
            }
            WriteOp::MoveIdentifier {
                id,
                from,
                to,
                is_primary,
            } => {
                self.staged(*to)?;
                let s = self.staged(*from)?;
                let pos = s
                    .contact
                    .identifiers
                    .iter()
                    .position(|i| i.id == *id)
                    .ok_or_else(|| conflict(format!("identifier {id} is not on contact {from}")))?;
                let mut moved = s.contact.identifiers.remove(pos);
                moved.contact_id = *to;
                moved.is_primary = *is_primary;
                self.set_owner(moved.identifier_type, &moved.identifier_value, Some(*to));
                let t = self.staged(*to)?;
                t.contact.identifiers.push(moved);
                Ok(())
            }
            WriteOp::DeleteContact {
                id,
                expected_version,
            } => {
                let s = self.staged(*id)?;
                Self::check_version(s.base_version, *expected_version, *id)?;
                s.deleted = true;
                let idents: Vec<_> = s
                    .contact
                    .identifiers
                    .iter()
                    .map(|i| (i.identifier_type, i.identifier_value.clone()))
                    .collect();
                let memories: Vec<_> = s.memories.iter().map(|m| m.id).collect();
                for (kind, value) in idents {
                    self.set_owner(kind, &value, None);
                }
                for m in memories {
                    self.memories.push((m, None));
                }
                Ok(())
            }
            WriteOp::InsertMemory(m) => {
                if m.org_id != org {
                    return Err(malformed("memory of another org in batch"));
                }
                if self.memory_contact(m.id).is_some() {
                    return Err(conflict(format!("memory {} already exists", m.id)));
                }
                let scope = m.scope();
                let s = self.staged(m.contact_id)?;
                if s.memories.iter().any(|x| same_scope(x, &scope)) {
                    return Err(conflict(format!(
                        "contact {} already has a memory for this scope",
                        m.contact_id
                    )));
                }
                s.memories.push(Arc::new(m.clone()));
                s.memories.sort_by_key(|x| (x.created_at, x.id));
                self.memories.push((m.id, Some(m.contact_id)));
                Ok(())
            }
            WriteOp::UpdateMemory {
                record,
                expected_revision,
            } => {
                let from = self
                    .memory_contact(record.id)
                    .ok_or_else(|| conflict(format!("memory {} no longer exists", record.id)))?;
                let s = self.staged(from)?;
                let pos = s
                    .memories
                    .iter()
                    .position(|x| x.id == record.id && x.revision == *expected_revision)
                    .ok_or_else(|| {
                        conflict(format!("memory {} changed since it was read", record.id))
                    })?;
                if from == record.contact_id {
                    s.memories[pos] = Arc::new(record.clone());
                    return Ok(());
                }
                // A merge moves the record to another contact of the org.
                s.memories.remove(pos);
                let scope = record.scope();
                let t = self.staged(record.contact_id)?;
                if t.memories.iter().any(|x| same_scope(x, &scope)) {
                    return Err(conflict(format!(
                        "contact {} already has a memory for this scope",
                        record.contact_id
                    )));
                }
                t.memories.push(Arc::new(record.clone()));
                t.memories.sort_by_key(|x| (x.created_at, x.id));
                self.memories.push((record.id, Some(record.contact_id)));
                Ok(())
            }
            WriteOp::DeleteMemory {
                id,
                expected_revision,
            } => {
                let contact = self
                    .memory_contact(*id)
                    .ok_or_else(|| conflict(format!("memory {id} no longer exists")))?;
                let s = self.staged(contact)?;
                let pos = s
                    .memories
                    .iter()
                    .position(|x| x.id == *id && x.revision == *expected_revision)
                    .ok_or_else(|| conflict(format!("memory {id} changed since it was read")))?;
                s.memories.remove(pos);
                self.memories.push((*id, None));
                Ok(())
            }
        }
    }
}

impl Store for InMemoryStore {
    fn lookup(
        &self,
        org: OrgId,
        keys: &[IdentifierKey<'_>],
    ) -> Result<Owners> {
        let inner = &*self.inner;
        inner.consistent(|| {
            keys.iter()
                .map(|k| {
                    let q = IdentQuery {
                        org,
                        kind: k.kind,
                        value: k.value,
                    };
                    match inner.owner(&q) {
                        None => Ok(None),
                        Some(id) => inner
                            .contact(org, id)
                            .map(Some)
                            .ok_or_else(|| dangling("identifier", id)),
                    }
                })
                .collect()
        })
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        // A single shard read is atomic on its own.
        Ok(self.inner.slot(org, id).map(|s| s.record()))
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        Ok(read(self.inner.contact_shard(contact))
            .get(&contact)
            .filter(|s| s.contact.contact.org_id == org)
            .and_then(|s| s.memories.iter().find(|m| same_scope(m, scope)).cloned()))
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        let inner = &*self.inner;
        inner.consistent(|| {
            let Some(contact) = inner.memory_owner(id) else {
                return Ok(None);
            };
            let slot = read(inner.contact_shard(contact))
                .get(&contact)
                .cloned()
                .ok_or_else(|| dangling("memory", contact))?;
            Ok(slot
                .memories
                .iter()
                .find(|m| m.id == id && m.org_id == org)
                .cloned())
        })
    }

    fn list(&self, org: OrgId, offset: u64, limit: u64) -> Result<ListPage> {
        let inner = &*self.inner;
        inner.consistent(|| {
            let ids: Vec<ContactId>;
            let total;
            {
                let order = read(&inner.order);
                let Some(set) = order.get(&org) else {
                    return Ok(ListPage {
                        total: 0,
                        contacts: Vec::new(),
                    });
                };
                total = set.len() as u64;
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                let take = usize::try_from(limit).unwrap_or(usize::MAX);
                ids = set
                    .iter()
                    .skip(skip)
                    .take(take)
                    .map(|(_, id)| *id)
                    .collect();
            }
            let contacts = ids
                .into_iter()
                .map(|id| {
                    inner
                        .slot(org, id)
                        .map(|s| s.record())
                        .ok_or_else(|| dangling("list", id))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(ListPage { total, contacts })
        })
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> std::result::Result<(), CommitError> {
        let inner = &*self.inner;
        let _writer = lock(&inner.writer);

        // Phase 1: validate every precondition and stage the result, touching nothing
        // shared. Any failure returns here with the store unchanged.
        let mut stage = Stage {
            inner,
            org,
            contacts: HashMap::new(),
            idents: Vec::new(),
            latest: HashMap::new(),
            memories: Vec::new(),
        };
        for op in &batch.ops {
            stage.apply(op)?;
        }
        if stage.contacts.is_empty() {
            return Ok(());
        }

        // Phase 2: publish. Readers that overlap this see an odd or changed epoch and
        // retry, so none observes half of it.
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        for (key, owner) in stage.idents {
            let q = IdentQuery {
                org,
                kind: key.kind,
                value: &key.value,
            };
            let mut shard = write(inner.ident_shard(&q));
            match owner {
                Some(owner) => {
                    shard.insert(key, owner);
                }
                None => {
                    shard.remove(&q);
                }
            }
        }
        for (memory, contact) in stage.memories {
            let mut shard = write(inner.memory_shard(memory));
            match contact {
                Some(contact) => {
                    shard.insert(memory, contact);
                }
                None => {
                    shard.remove(&memory);
                }
            }
        }
        for (id, s) in stage.contacts {
            let key = (s.contact.contact.created_at, id);
            if s.deleted {
                if let Some(set) = write(&inner.order).get_mut(&org) {
                    set.remove(&key);
                }
                write(inner.contact_shard(id)).remove(&id);
                continue;
            }
            if s.base_version.is_none() {
                write(&inner.order).entry(org).or_default().insert(key);
            }
            write(inner.contact_shard(id)).insert(
                id,
                Slot {
                    contact: Arc::new(s.contact),
                    memories: s.memories,
                },
            );
        }
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_core::{Engine, ResolveRequest};
    use std::sync::mpsc;
    use std::time::Duration;

    /// The read path never takes the writer mutex: with a writer holding it (and no
    /// commit in flight), lookups, gets and lists from another thread still complete.
    #[test]
    fn reads_do_not_wait_for_the_writer_lock() {
        let engine = Engine::new(InMemoryStore::new());
        let org = OrgId(contacts_core::uuid::Uuid::now_v7());
        let id = engine
            .resolve(org, &ResolveRequest::new().with_phone("+14155550192"))
            .unwrap()
            .contact
            .id;
        let store = engine.store().clone();
        let _writer = lock(&store.inner.writer);
        let (tx, rx) = mpsc::channel();
        let reader = engine.store().clone();
        std::thread::spawn(move || {
            let reader = Engine::new(reader);
            let hit = reader
                .resolve(org, &ResolveRequest::new().with_phone("+14155550192"))
                .map(|o| o.contact.id);
            let page = reader.list(org, Default::default()).map(|p| p.data.len());
            tx.send((hit, page)).unwrap();
        });
        let (hit, page) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("reads blocked behind the writer lock");
        assert_eq!(hit.unwrap(), id);
        assert_eq!(page.unwrap(), 1);
    }

    /// While a commit is being applied (odd epoch), a reader does not return a
    /// half-applied state: it retries, then waits for the writer.
    #[test]
    fn readers_never_see_an_odd_epoch_state() {
        let store = InMemoryStore::new();
        let org = OrgId(contacts_core::uuid::Uuid::now_v7());
        store.inner.epoch.fetch_add(1, Ordering::SeqCst);
        let writer = lock(&store.inner.writer);
        let (tx, rx) = mpsc::channel();
        let reader = store.clone();
        std::thread::spawn(move || {
            tx.send(reader.list(org, 0, 10).map(|p| p.total)).unwrap();
        });
        // The reader cannot finish while the "commit" is in flight.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        store.inner.epoch.fetch_add(1, Ordering::SeqCst);
        drop(writer);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
            0
        );
    }
}
