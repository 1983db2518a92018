//! The shared state: sharded indexes over the slots, and the sequence lock readers
//! use (see the crate docs).

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use contacts_core::{
    ContactHistoryEntry, ContactId, IdentifierKind, MemoryId, MemoryRecord, MemorySwitch, OrgId,
    SwitchKind, Timestamp,
};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use crate::slot::Slot;

/// Number of lock shards of each index.
pub const SHARDS: usize = 64;

/// Optimistic read attempts before a reader falls back to the writer mutex.
const OPTIMISTIC_READS: usize = 8;

/// One shard's lock, alone on its cache lines, so two threads reading neighbouring
/// shards do not contend for one line (the lock word is written by every reader).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Shard<T>(RwLock<T>);

// Lock poisoning: every critical section either only reads or applies a batch that
// was fully validated beforehand with operations that cannot panic short of
// allocation failure, so a poisoned lock still guards consistent data and is used.
impl<T> Shard<T> {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An identifier's entry: the hash of `(org, kind, value)` and the slot that holds it.
/// The key itself is read from the slot (whose page a hit reads anyway), which keeps an
/// entry at 16 bytes.
#[derive(Debug)]
pub(crate) struct IdentEntry {
    pub(crate) hash: u64,
    pub(crate) slot: Arc<Slot>,
}

/// A contact's memory records, in `(created_at, id)` order.
pub(crate) type Memories = Vec<Arc<MemoryRecord>>;

/// Per org, contacts in list order.
pub(crate) type Order = HashMap<OrgId, BTreeSet<(Timestamp, ContactId)>>;

/// Each contact's history entries by version.
pub(crate) type History =
    HashMap<(OrgId, ContactId), std::collections::BTreeMap<u64, Arc<ContactHistoryEntry>>>;

/// Memory switches by `(org, kind, target id)`.
pub(crate) type Switches = HashMap<(OrgId, SwitchKind, String), MemorySwitch>;

#[derive(Debug)]
pub(crate) struct Inner {
    /// Serialises commits.
    pub(crate) writer: Mutex<()>,
    /// Odd while a commit is being applied; see the crate docs.
    pub(crate) epoch: AtomicU64,
    hasher: DefaultHashBuilder,
    /// `(org, kind, value)` to the slot that holds it.
    idents: Box<[Shard<HashTable<IdentEntry>>]>,
    /// Contact id to slot; the hash is recomputed from the slot when a table grows.
    contacts: Box<[Shard<HashTable<Arc<Slot>>>]>,
    /// A contact's memory records in `(created_at, id)` order; only contacts that
    /// have any are present.
    memories: Box<[Shard<HashMap<ContactId, Memories>>]>,
    /// Memory id to its contact.
    memory_ids: Box<[Shard<HashMap<MemoryId, ContactId>>]>,
    pub(crate) order: RwLock<Order>,
    /// Written only under `writer`; one read of it is atomic on its own.
    pub(crate) switches: RwLock<Switches>,
    /// Written only under `writer`; one read of it is atomic on its own.
    pub(crate) redirects: RwLock<crate::redirects::Redirects>,
    /// Written only under `writer`; one read of it is atomic on its own.
    pub(crate) history: RwLock<History>,
    /// Written only under `writer`; one read of it is atomic on its own.
    pub(crate) events: RwLock<crate::events::Feeds>,
    /// Written only under `writer`; one read of it is atomic on its own.
    pub(crate) conversations: RwLock<crate::conversations::Conversations>,
}

fn shards<T: Default>() -> Box<[Shard<T>]> {
    (0..SHARDS).map(|_| Shard::default()).collect()
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            writer: Mutex::new(()),
            epoch: AtomicU64::new(0),
            hasher: DefaultHashBuilder::default(),
            idents: shards(),
            contacts: shards(),
            memories: shards(),
            memory_ids: shards(),
            order: RwLock::default(),
            switches: RwLock::default(),
            redirects: RwLock::default(),
            history: RwLock::default(),
            events: RwLock::default(),
            conversations: RwLock::default(),
        }
    }
}

/// A shard from bits of the hash the table does not use for its own placement (it
/// uses the low bits for the bucket and the top seven for the tag).
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

impl Inner {
    pub(crate) fn ident_hash(&self, org: OrgId, kind: IdentifierKind, value: &str) -> u64 {
        self.hasher.hash_one((org, kind, value))
    }

    fn contact_hash(&self, id: ContactId) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The slot holding `(kind, value)` in `org`.
    pub(crate) fn ident(&self, org: OrgId, kind: IdentifierKind, value: &str) -> Option<Arc<Slot>> {
        let hash = self.ident_hash(org, kind, value);
        self.idents[shard_of(hash)]
            .read()
            .find(hash, |e| e.hash == hash && e.slot.holds(org, kind, value))
            .map(|e| Arc::clone(&e.slot))
    }

    /// The slot of contact `id` in `org`.
    pub(crate) fn slot(&self, org: OrgId, id: ContactId) -> Option<Arc<Slot>> {
        let hash = self.contact_hash(id);
        self.contacts[shard_of(hash)]
            .read()
            .find(hash, |s| s.contact.id == id)
            .filter(|s| s.contact.org_id == org)
            .map(Arc::clone)
    }

    /// Whether any org has a contact `id` (ids are global).
    pub(crate) fn contact_exists(&self, id: ContactId) -> bool {
        let hash = self.contact_hash(id);
        self.contacts[shard_of(hash)]
            .read()
            .find(hash, |s| s.contact.id == id)
            .is_some()
    }

    /// The memory records of `contact` (any org; callers check the records' org).
    pub(crate) fn memories(&self, contact: ContactId) -> Vec<Arc<MemoryRecord>> {
        self.memories[self.memory_shard(contact)]
            .read()
            .get(&contact)
            .cloned()
            .unwrap_or_default()
    }

    /// The first memory record of `contact` matching `f`.
    pub(crate) fn find_memory(
        &self,
        contact: ContactId,
        f: impl Fn(&MemoryRecord) -> bool,
    ) -> Option<Arc<MemoryRecord>> {
        self.memories[self.memory_shard(contact)]
            .read()
            .get(&contact)
            .and_then(|ms| ms.iter().find(|m| f(m)).cloned())
    }

    pub(crate) fn memory_owner(&self, id: MemoryId) -> Option<ContactId> {
        self.memory_ids[self.memory_id_shard(id)]
            .read()
            .get(&id)
            .copied()
    }

    fn memory_shard(&self, contact: ContactId) -> usize {
        shard_of(self.contact_hash(contact))
    }

    fn memory_id_shard(&self, id: MemoryId) -> usize {
        shard_of(self.hasher.hash_one(id))
    }

    /// Runs `f` against one committed state (see the crate docs).
    pub(crate) fn consistent<T>(&self, f: impl Fn() -> T) -> T {
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

    // Writes. Only the committer calls these, holding the writer mutex with the epoch
    // odd.

    /// Points `(org, kind, value)` at `slot`, replacing the entry of whichever slot
    /// held it before.
    pub(crate) fn put_ident(
        &self,
        org: OrgId,
        kind: IdentifierKind,
        value: &str,
        slot: &Arc<Slot>,
    ) {
        let hash = self.ident_hash(org, kind, value);
        let mut shard = self.idents[shard_of(hash)].write();
        let entry = IdentEntry {
            hash,
            slot: Arc::clone(slot),
        };
        match shard.find_mut(hash, |e| e.hash == hash && e.slot.holds(org, kind, value)) {
            Some(e) => *e = entry,
            None => {
                shard.insert_unique(hash, entry, |e| e.hash);
            }
        }
    }

    /// Removes the entry of `(org, kind, value)`, if any.
    pub(crate) fn remove_ident(&self, org: OrgId, kind: IdentifierKind, value: &str) {
        let hash = self.ident_hash(org, kind, value);
        let mut shard = self.idents[shard_of(hash)].write();
        if let Ok(e) = shard.find_entry(hash, |e| e.hash == hash && e.slot.holds(org, kind, value))
        {
            e.remove();
        }
    }

    /// Stores `slot` as its contact's.
    pub(crate) fn put_slot(&self, slot: &Arc<Slot>) {
        let id = slot.contact.id;
        let hash = self.contact_hash(id);
        let mut shard = self.contacts[shard_of(hash)].write();
        match shard.find_mut(hash, |s| s.contact.id == id) {
            Some(s) => *s = Arc::clone(slot),
            None => {
                shard.insert_unique(hash, Arc::clone(slot), |s| self.contact_hash(s.contact.id));
            }
        }
    }

    pub(crate) fn remove_slot(&self, id: ContactId) {
        let hash = self.contact_hash(id);
        let mut shard = self.contacts[shard_of(hash)].write();
        if let Ok(e) = shard.find_entry(hash, |s| s.contact.id == id) {
            e.remove();
        }
    }

    pub(crate) fn set_memories(&self, contact: ContactId, memories: Vec<Arc<MemoryRecord>>) {
        let mut shard = self.memories[self.memory_shard(contact)].write();
        if memories.is_empty() {
            shard.remove(&contact);
        } else {
            shard.insert(contact, memories);
        }
    }

    pub(crate) fn set_memory_owner(&self, id: MemoryId, contact: Option<ContactId>) {
        let mut shard = self.memory_ids[self.memory_id_shard(id)].write();
        match contact {
            Some(c) => {
                shard.insert(id, c);
            }
            None => {
                shard.remove(&id);
            }
        }
    }
}
