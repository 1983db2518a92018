//! The coherent read cache: identifier to owner, valid while the database is unchanged.
//!
//! Every lookup first asks whether anything was committed since the entries were read.
//! The version is `PRAGMA data_version` on a connection of the cache's own, which never
//! writes: its value changes when any other connection, in this process or another,
//! commits. Asking SQLite costs a read transaction, so the cache remembers the WAL-index
//! header (`wal_index.rs`) that was current when it last asked: while the header reads
//! the same, nothing has been committed, and the version it paired with still holds.
//! Entries carry the version they were read at, so a change retires every entry at
//! once, without a sweep; LRU-like eviction (quick_cache's S3-FIFO) bounds the count.
//!
//! An entry is stored only when the version is the same before and after the read that
//! produced it, so it is known to describe that version exactly; a cached answer is
//! then what a read at the moment of the version check would have returned
//! (docs/semantics.md, "Read cache").

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use compact_str::CompactString;
use contacts_core::store::{IdentifierKey, Owner, Owners};
use contacts_core::{IdentifierKind, OrgId, Result};
use quick_cache::Equivalent;
use rusqlite::Connection;

use crate::wal_index::{Header, Watch, same};

/// An entry's key: an identifier in an org.
#[derive(Debug, PartialEq, Eq)]
struct Key {
    org: OrgId,
    kind: IdentifierKind,
    value: CompactString,
}

/// A key borrowed from a request, to look entries up without building a [`Key`].
struct KeyRef<'a> {
    org: OrgId,
    kind: IdentifierKind,
    value: &'a str,
}

// Both hash as `(org, kind, value as str)`, so a `KeyRef` finds its `Key`.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.org, self.kind, self.value.as_str()).hash(state);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.org, self.kind, self.value).hash(state);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.org == key.org && self.kind == key.kind && self.value == key.value
    }
}

/// An owner and the data version it was read at.
#[derive(Clone, Debug)]
struct Entry {
    version: i64,
    owner: Owner,
}

/// The entries, the `(header, version)` pair they are checked against, and the
/// counts of what the cache did (kept under the same lock, so a hit pays no atomic
/// operation for them).
#[derive(Debug)]
struct Entries {
    /// A header and the data version SQLite reported while the header read so.
    seen: Option<(Header, i64)>,
    map: quick_cache::unsync::Cache<Key, Entry>,
    hits: u64,
    misses: u64,
    /// Version checks answered by the header alone (for the tests).
    quick_checks: u64,
}

impl Entries {
    /// [`ReadCache::get`]'s answer at `version`, counted.
    fn answer(&mut self, org: OrgId, keys: &[IdentifierKey<'_>], version: i64) -> Cached {
        match self.owners(org, keys, version) {
            Some(owners) => {
                self.hits += 1;
                Cached::Hit(owners)
            }
            None => {
                self.misses += 1;
                Cached::Miss(version)
            }
        }
    }

    /// The owners of `keys`, if every key is cached at `version`.
    fn owners(&self, org: OrgId, keys: &[IdentifierKey<'_>], version: i64) -> Option<Owners> {
        let mut owners = Owners::new();
        for key in keys {
            let probe = KeyRef {
                org,
                kind: key.kind,
                value: key.value,
            };
            match self.map.get(&probe) {
                Some(e) if e.version == version => owners.push(Some(e.owner.clone())),
                _ => return None,
            }
        }
        Some(owners)
    }
}

/// The cache. Its entries' mutex is held for a header read and a few hash probes,
/// never across I/O, so a lookup without I/O may wait for it; only a check that must
/// ask SQLite takes the watch connection's own mutex, and it holds no other lock then.
#[derive(Debug)]
pub(crate) struct ReadCache {
    /// A read-only connection, used for the version check alone.
    watch: Watch,
    entries: Mutex<Entries>,
}

/// What the read cache has done since the store was opened
/// ([`SqliteStore::cache_stats`](crate::SqliteStore::cache_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache: `lookup`s and `lookup_without_io`s (a resolve
    /// whose hit turns out to need a write makes one of each).
    pub hits: u64,
    /// Lookups that read the database (a key not cached, or cached at an older
    /// version).
    pub misses: u64,
    /// Entries held now, current or not yet evicted.
    pub entries: u64,
}

/// What a lookup found in the cache.
pub(crate) enum Cached {
    /// Every key's owner, current as of the check.
    Hit(Owners),
    /// Some key is not cached; the version to quote to [`ReadCache::fill`].
    Miss(i64),
}

impl ReadCache {
    /// A cache of at most about `entries` identifiers, checking through `watch`.
    ///
    /// # Errors
    /// A storage error if `watch` cannot read the version.
    pub(crate) fn new(watch: Connection, entries: usize) -> Result<Self> {
        // Without a mapped header (a VFS without shared memory, a read-only `-shm`)
        // every check asks SQLite.
        Ok(ReadCache {
            watch: Watch::new(watch)?,
            entries: Mutex::new(Entries {
                seen: None,
                map: quick_cache::unsync::Cache::new(entries),
                hits: 0,
                misses: 0,
                quick_checks: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The entries are a cache: whatever a panicking holder left is still entries
        // tagged with versions, each correct for its version, and a true pair.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The data version the header still vouches for, if it does: the version last
    /// paired with a header that reads the same now.
    ///
    /// Every commit rewrites the WAL-index header (it grows the last frame, or restarts
    /// the log with new salts), and an equal header means the same committed state:
    /// SQLite relies on exactly this to keep its page cache.
    fn vouched(&self, entries: &mut Entries) -> Option<i64> {
        let (header, version) = entries.seen?;
        let now = self.watch.header()?;
        same(&now, &header).then(|| {
            entries.quick_checks += 1;
            version
        })
    }

    /// The version from SQLite. If the header read the same before and after, nothing
    /// was committed in between and the two are paired for [`ReadCache::vouched`].
    /// Threads that ask at once each store a true pair; whichever is kept, a later
    /// check is right.
    fn ask(&self) -> Result<i64> {
        let before = self.watch.header();
        let version = self.watch.data_version()?;
        let after = self.watch.header();
        self.lock().seen = before.filter(|b| after == Some(*b)).map(|b| (b, version));
        Ok(version)
    }

    /// The owners of `keys` in `org` if every key with an owner is cached at the
    /// current version. Keys nobody owns are never cached (a miss is what precedes a
    /// write, and any write retires the entries anyway).
    ///
    /// # Errors
    /// A storage error if the version cannot be read.
    pub(crate) fn get(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Cached> {
        // One lock for the check and the probes when the header answers.
        {
            let mut entries = self.lock();
            if let Some(version) = self.vouched(&mut entries) {
                return Ok(entries.answer(org, keys, version));
            }
        }
        let version = self.ask()?;
        Ok(self.lock().answer(org, keys, version))
    }

    /// [`ReadCache::get`]'s hit, if it needs no I/O: every key cached at the version
    /// the WAL-index header still vouches for. `None` when only SQLite could say (the
    /// header moved or is mid-write) or a key is not cached. Misses are not counted:
    /// the caller's `get` that follows counts it.
    pub(crate) fn get_without_io(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Option<Owners> {
        let mut entries = self.lock();
        let version = self.vouched(&mut entries)?;
        let owners = entries.owners(org, keys, version)?;
        entries.hits += 1;
        Some(owners)
    }

    /// Stores what a read begun after [`ReadCache::get`] returned `Miss(version)`
    /// found, if the database is still at `version` (so the read saw exactly it).
    ///
    /// # Errors
    /// A storage error if the version cannot be read.
    pub(crate) fn fill(
        &self,
        org: OrgId,
        keys: &[IdentifierKey<'_>],
        owners: &Owners,
        version: i64,
    ) -> Result<()> {
        // Nothing to store (a first sight, about to be created): skip the second
        // version check, which costs as much as the cached hit itself.
        if owners.iter().all(Option::is_none) {
            return Ok(());
        }
        // When the header answers, checked under the guard the inserts take, so a
        // fill that lost a race to a commit cannot overwrite what a newer fill stored.
        // When SQLite must be asked, a commit between its answer and the inserts only
        // makes them useless: they carry a version that is no longer current.
        let mut entries = self.lock();
        if self.vouched(&mut entries) != Some(version) {
            drop(entries);
            if self.ask()? != version {
                return Ok(());
            }
            entries = self.lock();
        }
        for (key, owner) in keys.iter().zip(owners) {
            if let Some(owner) = owner {
                let key = Key {
                    org,
                    kind: key.kind,
                    value: CompactString::from(key.value),
                };
                entries.map.insert(
                    key,
                    Entry {
                        version,
                        owner: owner.clone(),
                    },
                );
            }
        }
        Ok(())
    }
}

impl ReadCache {
    pub(crate) fn stats(&self) -> CacheStats {
        let entries = self.lock();
        CacheStats {
            hits: entries.hits,
            misses: entries.misses,
            entries: entries.map.len() as u64,
        }
    }

    /// Version checks answered from the WAL-index header without asking SQLite.
    #[cfg(test)]
    pub(crate) fn quick_checks(&self) -> u64 {
        self.lock().quick_checks
    }
}
