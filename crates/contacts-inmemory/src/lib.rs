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

mod conversations;
mod events;
mod index;
mod redirects;
mod slot;
mod stage;

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use contacts_core::store::{
    CommitError, ContactRecord, IdentifierKey, ListPage, Owners, PageStart, WriteBatch,
};
use contacts_core::{
    ContactHistoryEntry, ContactId, ConversationKey, ConversationLog, Error, EventLog, MemoryId,
    MemoryRecord, MemoryScope, MemorySwitch, MergeSnapshot, OrgId, Result, Store, SwitchKind,
    Timestamp,
};

pub use index::SHARDS;
use index::{Inner, lock};
use slot::Slot;
use stage::{Stage, same_scope};

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

fn dangling(what: &str, id: impl std::fmt::Display) -> Error {
    Error::storage(
        BACKEND,
        format!("{what} index names {id}, which is not stored"),
    )
}

impl Inner {
    fn record(&self, slot: &Slot) -> ContactRecord {
        ContactRecord {
            contact: slot.stored(),
            memories: self.memories(slot.contact.id),
        }
    }
}

impl Store for InMemoryStore {
    fn lookup(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Owners> {
        let inner = &*self.inner;
        Ok(inner.consistent(|| {
            keys.iter()
                .map(|k| inner.ident(org, k.kind, k.value).map(|s| s.owner()))
                .collect()
        }))
    }

    // Everything is in memory, and a writer holds the sequence lock for memory work
    // alone, so the answer never waits on I/O (contract rule 19).
    fn lookup_without_io(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Option<Owners> {
        self.lookup(org, keys).ok()
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        let inner = &*self.inner;
        Ok(inner.consistent(|| inner.slot(org, id).map(|s| inner.record(&s))))
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        // One shard read is atomic on its own.
        Ok(self
            .inner
            .find_memory(contact, |m| m.org_id == org && same_scope(m, scope)))
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        let inner = &*self.inner;
        inner.consistent(|| {
            let Some(contact) = inner.memory_owner(id) else {
                return Ok(None);
            };
            match inner.find_memory(contact, |m| m.id == id) {
                Some(m) => Ok(Some(m).filter(|m| m.org_id == org)),
                None => Err(dangling("memory", contact)),
            }
        })
    }

    fn list(&self, org: OrgId, start: PageStart, limit: u64) -> Result<ListPage> {
        let inner = &*self.inner;
        inner.consistent(|| {
            let ids: Vec<ContactId>;
            let total;
            {
                let order = inner.order.read().unwrap_or_else(|e| e.into_inner());
                let Some(set) = order.get(&org) else {
                    return Ok(ListPage {
                        total: 0,
                        contacts: Vec::new(),
                    });
                };
                total = set.len() as u64;
                let take = usize::try_from(limit).unwrap_or(usize::MAX);
                ids = match start {
                    PageStart::Offset(offset) => {
                        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                        set.iter()
                            .skip(skip)
                            .take(take)
                            .map(|(_, id)| *id)
                            .collect()
                    }
                    PageStart::After(p) => set
                        .range((Bound::Excluded((p.created_at, p.id)), Bound::Unbounded))
                        .take(take)
                        .map(|(_, id)| *id)
                        .collect(),
                };
            }
            let contacts = ids
                .into_iter()
                .map(|id| {
                    inner
                        .slot(org, id)
                        .map(|s| inner.record(&s))
                        .ok_or_else(|| dangling("list", id))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(ListPage { total, contacts })
        })
    }

    fn memory_switch(
        &self,
        org: OrgId,
        kind: SwitchKind,
        target_id: &str,
    ) -> Result<Option<MemorySwitch>> {
        let switches = self
            .inner
            .switches
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(switches.get(&(org, kind, target_id.to_owned())).cloned())
    }

    fn history(
        &self,
        org: OrgId,
        contact: ContactId,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ContactHistoryEntry>> {
        let history = self.inner.history.read().unwrap_or_else(|e| e.into_inner());
        let Some(entries) = history.get(&(org, contact)) else {
            return Ok(Vec::new());
        };
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(entries
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(take)
            .map(|(_, e)| (**e).clone())
            .collect())
    }

    fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<EventLog> {
        let feeds = self.inner.events.read().unwrap_or_else(|e| e.into_inner());
        Ok(feeds.read(org, after, limit))
    }

    fn conversation(&self, org: OrgId, key: &ConversationKey) -> Result<Option<ConversationLog>> {
        let logs = self
            .inner
            .conversations
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(logs.get(org, key).map(|l| ConversationLog::clone(&l)))
    }

    fn redirect(&self, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
        let redirects = self
            .inner
            .redirects
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(redirects.get(org, id))
    }

    fn merge_snapshot(&self, org: OrgId, duplicate: ContactId) -> Result<Option<MergeSnapshot>> {
        let redirects = self
            .inner
            .redirects
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(redirects
            .snapshot(org, duplicate)
            .map(|s| MergeSnapshot::clone(&s)))
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> std::result::Result<(), CommitError> {
        let inner = &*self.inner;
        let _writer = lock(&inner.writer);

        // Phase 1: validate every precondition and stage the result, touching nothing
        // shared (`stage.rs`). Any failure returns here with the store unchanged.
        let mut stage = Stage::new(inner, org);
        for op in &batch.ops {
            stage.apply(op)?;
        }
        if !stage.switches.is_empty() {
            // Switches are read on their own, never with contacts, so they need no
            // epoch: one write of the map is atomic for its readers.
            let mut switches = inner.switches.write().unwrap_or_else(|e| e.into_inner());
            for s in stage.switches.drain(..) {
                switches.insert((org, s.kind, s.target_id.clone()), s);
            }
        }
        // Snapshots are read on their own, never with contacts, like switches.
        if !stage.forgotten.is_empty() {
            let mut redirects = inner.redirects.write().unwrap_or_else(|e| e.into_inner());
            for id in stage.forgotten.drain(..) {
                redirects.forget_snapshots(org, id);
            }
        }
        // An erasure is published before the contact disappears, so no reader finds the
        // contact gone and its history still whole.
        redact_history(inner, org, std::mem::take(&mut stage.redactions));
        if stage.contacts.is_empty() {
            let puts = std::mem::take(&mut stage.conversations);
            let drops = std::mem::take(&mut stage.conversation_drops);
            put_conversations(inner, org, puts, &drops, &[]);
            append_history(inner, org, std::mem::take(&mut stage.history));
            append_events(inner, org, stage.events.take());
            return Ok(());
        }
        // Redirects go in before the contacts they replace go out, and those to a
        // deleted contact go out after it, so a reader that misses a contact and then
        // asks where it went finds the answer of this commit or of the one before.
        if !stage.redirects.is_empty() {
            let mut redirects = inner.redirects.write().unwrap_or_else(|e| e.into_inner());
            for (from, to, snapshot) in stage.redirects.drain(..) {
                redirects.add(org, from, to, snapshot);
            }
        }
        let deleted: Vec<ContactId> = stage
            .contacts
            .iter()
            .filter(|(_, s)| s.deleted)
            .map(|(id, _)| *id)
            .collect();

        // Phase 2: publish. Readers that overlap this see an odd or changed epoch and
        // retry, so none observes half of it.
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        // Freed identifiers first: each entry is found through the slot that still
        // holds it. Identifiers that end with an owner are (re)pointed below, when
        // their contact's new slot is stored.
        for ((kind, value), owner) in &stage.idents {
            if owner.is_none() {
                inner.remove_ident(org, *kind, value);
            }
        }
        let mut removed: Vec<MemoryId> = Vec::new();
        for (memory, contact) in stage.memories {
            inner.set_memory_owner(memory, contact);
            match contact {
                None => removed.push(memory),
                Some(_) => removed.retain(|m| *m != memory),
            }
        }
        let mut order = inner.order.write().unwrap_or_else(|e| e.into_inner());
        for (id, s) in stage.contacts {
            let key = (s.contact.created_at, id);
            if s.deleted {
                if let Some(set) = order.get_mut(&org) {
                    set.remove(&key);
                }
                inner.remove_slot(id);
                inner.set_memories(id, Vec::new());
                continue;
            }
            if s.base_version.is_none() {
                order.entry(org).or_default().insert(key);
            }
            let slot = Arc::new(Slot::new(s.contact, s.version, s.identifiers));
            // Every identifier's entry moves to the new slot, so a hit reads one
            // allocation and never a stale copy.
            for i in slot.identifiers() {
                inner.put_ident(org, i.kind, &i.value, &slot);
            }
            inner.put_slot(&slot);
            inner.set_memories(id, s.memories);
        }
        drop(order);
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        put_conversations(
            inner,
            org,
            stage.conversations,
            &stage.conversation_drops,
            &removed,
        );
        // Entries go in after the state they describe, so history is never ahead of it.
        append_history(inner, org, stage.history);
        // An unmerged contact's redirect goes once the contact is back, like a
        // deleted one's.
        if !deleted.is_empty() || !stage.unmerges.is_empty() {
            let mut redirects = inner.redirects.write().unwrap_or_else(|e| e.into_inner());
            for id in deleted {
                redirects.remove_to(org, id);
            }
            for (id, primary) in stage.unmerges {
                redirects.restore(org, id, primary);
            }
        }
        append_events(inner, org, stage.events);
        Ok(())
    }
}

/// Keeps only the redacted form of the entries of each contact of `contacts` and of the
/// contacts whose redirects lead to it.
fn redact_history(inner: &Inner, org: OrgId, contacts: Vec<ContactId>) {
    if contacts.is_empty() {
        return;
    }
    let mut history = inner.history.write().unwrap_or_else(|e| e.into_inner());
    let redirects = inner.redirects.read().unwrap_or_else(|e| e.into_inner());
    for contact in contacts {
        let led = redirects.leading_to(org, contact).iter().copied();
        for id in std::iter::once(contact).chain(led) {
            if let Some(entries) = history.get_mut(&(org, id)) {
                for e in entries.values_mut() {
                    *e = Arc::new(e.redacted());
                }
            }
        }
    }
}

/// Stores the batch's conversation logs, then drops those it drops and those of the
/// records it deleted.
fn put_conversations(
    inner: &Inner,
    org: OrgId,
    puts: Vec<conversations::Put>,
    drops: &[(MemoryId, Timestamp)],
    removed: &[MemoryId],
) {
    if puts.is_empty() && drops.is_empty() && removed.is_empty() {
        return;
    }
    let mut logs = inner
        .conversations
        .write()
        .unwrap_or_else(|e| e.into_inner());
    for put in puts {
        logs.put(org, put);
    }
    for (memory, since) in drops {
        logs.remove_since(org, *memory, *since);
    }
    for memory in removed {
        logs.remove_memory(org, *memory);
    }
}

/// Appends the batch's events to the org's feed, last, so no event is ahead of its
/// change.
fn append_events(inner: &Inner, org: OrgId, append: Option<events::Append>) {
    if let Some(append) = append {
        let mut feeds = inner.events.write().unwrap_or_else(|e| e.into_inner());
        feeds.append(org, append);
    }
}

/// Appends each entry, then drops its contact's entries through its bound.
fn append_history(inner: &Inner, org: OrgId, appended: Vec<(ContactHistoryEntry, Option<u64>)>) {
    if appended.is_empty() {
        return;
    }
    let mut history = inner.history.write().unwrap_or_else(|e| e.into_inner());
    for (entry, drop_through) in appended {
        let entries = history.entry((org, entry.contact_id)).or_default();
        if let Some(through) = drop_through {
            entries.retain(|v, _| *v > through);
        }
        entries.insert(entry.version, Arc::new(entry));
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
            tx.send(reader.list(org, PageStart::Offset(0), 10).map(|p| p.total))
                .unwrap();
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
