//! A SQLite [`Store`] for the contacts engine: the embedded default.
//!
//! One file holds everything; many threads and several processes may share it. SQLite
//! is compiled in (the default `bundled` feature), so there is nothing to install.
//!
//! ```
//! use contacts_core::{Engine, OrgId, ResolveRequest};
//! use contacts_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("contacts.db"))?;
//! let engine = Engine::new(store);
//! let org = OrgId(contacts_core::uuid::Uuid::now_v7());
//! let out = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
//! assert!(out.created);
//! # Ok::<(), contacts_core::Error>(())
//! ```
//!
//! # How it stays correct
//!
//! - **WAL** journal: readers never block the writer and see a consistent snapshot per
//!   statement or read transaction.
//! - **Every write is `BEGIN IMMEDIATE`**, so a write transaction holds the database's
//!   write lock from its first statement and can never fail half-way with a lock
//!   upgrade. Writers from other connections or processes wait up to the busy timeout
//!   (5 s by default) instead of failing with `SQLITE_BUSY`.
//! - The engine's preconditions are checked inside that transaction: contact versions
//!   with `WHERE version = ?`, identifier ownership with a unique index on
//!   `(org, kind, value)`. A failed one rolls everything back and returns
//!   [`CommitError::Precondition`](contacts_core::store::CommitError); any other
//!   failure is [`CommitError::Backend`](contacts_core::store::CommitError), never
//!   retried as a race.
//! - Schema migrations are tracked with `PRAGMA user_version` and run in one IMMEDIATE
//!   transaction; a database written by a newer schema is refused.
//!
//! # Durability
//!
//! [`Durability::Normal`] (the default) is `synchronous = NORMAL`: a committed
//! transaction survives a crash of the process, always; after a power loss or OS crash
//! the last transactions before it may be rolled back (never corrupted). A commit
//! writes to the WAL without an fsync. [`Durability::Full`] is `synchronous = FULL`:
//! every commit is fsynced and survives power loss too. On the development machine a
//! resolve that creates a contact took about 110 µs with NORMAL and 440 µs with FULL;
//! where fsync is slow (spinning disks, some cloud volumes) FULL costs milliseconds.
//! With FULL, writers that commit at the same time share one transaction and so one
//! fsync ([`Options::group_commit`], on by default): each batch is still atomic and
//! acknowledged only once it is durable, and concurrent writers come close to NORMAL's
//! throughput (docs/benchmarks.md, "Group commit").
//!
//! # Read cache
//!
//! A file database answers repeated lookups from a bounded in-process cache
//! ([`Options::cache_entries`], 10,000 identifiers by default, 0 for none) that is
//! coherent: each lookup checks the data version (`PRAGMA data_version`, which changes
//! when any other connection or process commits; answered without a transaction from
//! SQLite's WAL-index header while that reads unchanged) and uses only entries read at
//! the current version.
//! A cached answer is what an uncached read at that moment would return; any commit
//! retires all entries. docs/semantics.md ("Read cache") states the guarantee;
//! [`SqliteStore::cache_stats`] counts hits and misses.
//!
//! # Closing and backups
//!
//! A dropped store closes its read connections before its writer, so the last
//! connection to close can fold the write-ahead log back into the file: a stopped
//! application leaves one file, and copying it copies everything.
//! [`SqliteStore::backup_to`] writes a consistent copy while others keep writing
//! (SQLite's online backup). [`Options::create`] off refuses a missing file instead of
//! creating an empty database.
//!
//! # Topology
//!
//! One writer connection behind a mutex, plus a few read-only connections for
//! lookups, gets and lists, so the read-mostly hot path runs in parallel with writes
//! and with other reads. An in-memory database has only the one connection.
//!
//! # Files
//!
//! `open.rs` (options, opening, pragmas), `reads.rs` (the read statements and row
//! decoding), `cache.rs` (the read cache), `wal_index.rs` (its change check, the
//! workspace's only `unsafe`), `commit.rs` (one function per write
//! operation), `group.rs` (group commit), `close.rs` (closing cleanly, backups), `schema.rs` (migrations), `error.rs`
//! (mapping SQLite's errors).

mod cache;
mod close;
mod commit;
mod conversations;
mod entities;
mod error;
mod events;
mod group;
mod history;
mod open;
mod reads;
mod redirects;
mod schema;
mod switches;
mod wal_index;

pub use cache::CacheStats;
pub use group::GroupStats;
pub use open::{DEFAULT_CACHE_ENTRIES, DEFAULT_CHECKPOINT_PAGES, Durability, Options};
pub use schema::SCHEMA_VERSION;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use contacts_core::store::{
    CommitError, ContactRecord, IdentifierKey, ListPage, Owners, PageStart, WriteBatch,
};
use contacts_core::{
    ContactHistoryEntry, ContactId, ConversationKey, ConversationLog, EventLog, MemoryId,
    MemoryRecord, MemoryScope, MemorySwitch, MergeSnapshot, OrgId, Result, Store, SwitchKind,
};
use rusqlite::Connection;

use crate::cache::{Cached, ReadCache};

/// The SQLite store. Clones share the same connections.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) writer: Mutex<Connection>,
    pub(crate) readers: Vec<Mutex<Connection>>,
    pub(crate) next_reader: AtomicUsize,
    pub(crate) cache: Option<ReadCache>,
    /// Group commit, with `Durability::Full` and readers (`group.rs`).
    pub(crate) group: Option<group::Group>,
}

// A poisoned mutex only means another thread panicked while holding a connection;
// SQLite rolled back whatever transaction it had open when the guard's transaction
// was dropped, so the connection is still consistent and usable.
pub(crate) fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteStore {
    /// What group commit has done since the store was opened (see
    /// [`Options::group_commit`]); all zero when it is off.
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_sqlite::{Durability, Options, SqliteStore};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let full = Options::default().with_durability(Durability::Full);
    /// let engine = Engine::new(SqliteStore::open_with(dir.path().join("c.db"), full)?);
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// let stats = engine.store().group_commit_stats();
    /// assert_eq!((stats.batches, stats.groups), (1, 1)); // alone: a group of one
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    pub fn group_commit_stats(&self) -> GroupStats {
        self.inner
            .group
            .as_ref()
            .map(group::Group::stats)
            .unwrap_or_default()
    }

    /// Runs `f` on a read connection (the writer if there are none). Picks a free
    /// reader if there is one, so concurrent readers rarely wait on each other.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let readers = &self.inner.readers;
        if readers.is_empty() {
            return f(&lock(&self.inner.writer));
        }
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..readers.len() {
            if let Ok(conn) = readers[(start + i) % readers.len()].try_lock() {
                return f(&conn);
            }
        }
        f(&lock(&readers[start % readers.len()]))
    }
}

impl Store for SqliteStore {
    fn lookup(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Owners> {
        let Some(cache) = &self.inner.cache else {
            return self.read(|conn| reads::lookup(conn, org, keys));
        };
        match cache.get(org, keys)? {
            Cached::Hit(owners) => Ok(owners),
            Cached::Miss(version) => {
                let owners = self.read(|conn| reads::lookup(conn, org, keys))?;
                cache.fill(org, keys, &owners, version)?;
                Ok(owners)
            }
        }
    }

    fn lookup_without_io(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Option<Owners> {
        self.inner.cache.as_ref()?.get_without_io(org, keys)
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        self.read(|conn| reads::get(conn, org, id))
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        self.read(|conn| reads::memory(conn, org, contact, scope))
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        self.read(|conn| reads::memory_by_id(conn, org, id))
    }

    fn list(&self, org: OrgId, start: PageStart, limit: u64) -> Result<ListPage> {
        self.read(|conn| reads::list(conn, org, start, limit))
    }

    fn contact_version(&self, org: OrgId, id: ContactId) -> Result<Option<u64>> {
        self.read(|conn| reads::contact_version(conn, org, id))
    }

    fn memory_revision(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<(MemoryId, u64)>> {
        self.read(|conn| reads::memory_revision(conn, org, contact, scope))
    }

    fn history(
        &self,
        org: OrgId,
        contact: ContactId,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ContactHistoryEntry>> {
        self.read(|conn| history::read(conn, org, contact, after, limit))
    }

    fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<EventLog> {
        self.read(|conn| events::read(conn, org, after, limit))
    }

    fn redirect(&self, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
        self.read(|conn| redirects::read(conn, org, id))
    }

    fn conversation(&self, org: OrgId, key: &ConversationKey) -> Result<Option<ConversationLog>> {
        self.read(|conn| conversations::read(conn, org, key))
    }

    fn merge_snapshot(&self, org: OrgId, duplicate: ContactId) -> Result<Option<MergeSnapshot>> {
        self.read(|conn| redirects::snapshot(conn, org, duplicate))
    }

    fn memory_switch(
        &self,
        org: OrgId,
        kind: SwitchKind,
        target_id: &str,
    ) -> Result<Option<MemorySwitch>> {
        self.read(|conn| switches::read(conn, org, kind, target_id))
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> std::result::Result<(), CommitError> {
        if batch.is_empty() {
            return Ok(());
        }
        match &self.inner.group {
            Some(group) => group.commit(&self.inner.writer, org, batch),
            None => commit::commit(&mut lock(&self.inner.writer), org, batch),
        }
    }

    /// Holds the database's write lock (`BEGIN IMMEDIATE`, or the open group
    /// transaction) while `decide` reads on the read connections, so no other
    /// process commits in between. Without read connections the reads would need the
    /// writer that is held, so such a store commits unheld.
    fn commit_holding_memory(
        &self,
        org: OrgId,
        _: MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> std::result::Result<(), CommitError> {
        if self.inner.readers.is_empty() {
            return decide().map_or(Ok(()), |batch| self.commit(org, &batch));
        }
        match &self.inner.group {
            Some(group) => group.commit_decided(&self.inner.writer, org, decide),
            None => commit::commit_decided(&mut lock(&self.inner.writer), org, decide),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open::{Durability, Options};
    use std::time::Duration;

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    /// The open sequence sets what the crate docs promise, on the writer and readers.
    #[test]
    fn pragmas_follow_the_options() {
        let dir = tempfile::tempdir().unwrap();
        for (durability, synchronous) in [(Durability::Normal, 1), (Durability::Full, 2)] {
            let path = dir.path().join(format!("{synchronous}.db"));
            let options = Options::default()
                .with_durability(durability)
                .with_busy_timeout(Duration::from_millis(1234))
                .with_readers(2);
            let store = SqliteStore::open_with(&path, options).unwrap();
            let writer = lock(&store.inner.writer);
            assert_eq!(pragma(&writer, "synchronous"), synchronous);
            assert_eq!(pragma(&writer, "foreign_keys"), 1);
            assert_eq!(pragma(&writer, "busy_timeout"), 1234);
            assert_eq!(pragma(&writer, "user_version"), SCHEMA_VERSION);
            assert_eq!(store.inner.readers.len(), 2);
            for reader in &store.inner.readers {
                let reader = lock(reader);
                assert_eq!(pragma(&reader, "busy_timeout"), 1234);
                // Readers are opened read-only: they can never write or migrate.
                assert!(reader.execute_batch("CREATE TABLE x (y)").is_err());
            }
        }
    }

    /// While nothing is committed, the read cache's version check is answered from the
    /// WAL-index header without a read transaction; a commit through another store's
    /// connections (another process's, as far as this store can tell) is seen by the
    /// next lookup. docs/semantics.md, "Read cache".
    #[test]
    fn the_cache_checks_the_wal_index_header() {
        use contacts_core::{Engine, IdentifierKind, ResolveRequest, uuid::Uuid};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        let engine = Engine::new(store.clone());
        let other = Engine::new(SqliteStore::open(&path).unwrap());
        let org = OrgId(Uuid::now_v7());
        let request = ResolveRequest::new().with_phone("+14155550100");
        let first = engine.resolve(org, &request).unwrap();
        // The create retired the cache; this lookup reads the owner and stores it.
        engine.resolve(org, &request).unwrap();
        let cache = store.inner.cache.as_ref().unwrap();
        let (hits, quick) = (cache.stats().hits, cache.quick_checks());
        for _ in 0..10 {
            assert_eq!(
                engine.resolve(org, &request).unwrap().contact.id,
                first.contact.id
            );
        }
        assert_eq!(
            cache.stats().hits - hits,
            10,
            "every repeat was a cache hit"
        );
        assert!(
            cache.quick_checks() - quick == 10,
            "the header answered the checks: {} of 10",
            cache.quick_checks() - quick
        );
        let keys = [IdentifierKey {
            kind: IdentifierKind::PhoneNumber,
            value: "+14155550100",
        }];
        let quick = store
            .lookup_without_io(org, &keys)
            .expect("a cached hit needs no I/O");
        assert_eq!(quick, store.lookup(org, &keys).unwrap());
        // Threads asking at once are all answered: nothing they share is held across
        // I/O, so none has to give up and leave its answer to the blocking path.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        assert!(store.lookup_without_io(org, &keys).is_some());
                    }
                });
            }
        });
        other.delete(org, first.contact.id).unwrap();
        assert_eq!(
            store.lookup_without_io(org, &keys),
            None,
            "after another connection's commit only SQLite can say"
        );
        let after = engine.resolve(org, &request).unwrap();
        assert!(after.created && after.contact.id != first.contact.id);
    }

    /// Migrating an up-to-date database changes nothing.
    #[test]
    fn migrations_are_idempotent() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut writer = lock(&store.inner.writer);
        schema::migrate(&mut writer).unwrap();
        schema::migrate(&mut writer).unwrap();
        assert_eq!(schema::version(&writer).unwrap(), SCHEMA_VERSION);
    }
}
