//! Opening a database: options, connections, pragmas, migrations.

use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contacts_core::Result;
use rusqlite::{Connection, OpenFlags};

use crate::cache::{CacheStats, ReadCache};
use crate::error::{SqliteError, read_error};
use crate::group::Group;
use crate::{Inner, SqliteStore, lock, schema};

/// How hard a commit works to survive crashes. See the crate docs for the trade-off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = NORMAL`: survives process crashes; an OS crash or power loss may
    /// lose the last commits (never corrupt the file).
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is fsynced and survives power loss.
    Full,
}

/// How to open a database.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Crash-safety level; default [`Durability::Normal`].
    pub durability: Durability,
    /// How long a writer waits for another connection's write lock before failing;
    /// default 5 s.
    pub busy_timeout: Duration,
    /// Read-only connections for the read path; default 4. 0 sends reads through the
    /// writer connection.
    pub readers: usize,
    /// Identifiers the coherent read cache holds (see the crate docs, "Read cache");
    /// default 10,000, about 3 MB. 0 turns the cache off. In-memory databases have
    /// none.
    pub cache_entries: usize,
    /// With [`Durability::Full`], writers that commit at the same time share one
    /// transaction and one fsync (group commit; see the crate docs). Default on; it
    /// needs reader connections, and does nothing with [`Durability::Normal`].
    pub group_commit: bool,
    /// Create the file when it does not exist; default on. Off, opening a missing file
    /// fails, so a mistyped path never becomes a new empty database.
    pub create: bool,
    /// Pages the write-ahead log may grow to before the writer copies it back into the
    /// database (`PRAGMA wal_autocheckpoint`); default 1,000 (about 4 MB), SQLite's
    /// own. A bulk load runs faster with more: each checkpoint writes back the same
    /// index pages and syncs the file, so fewer of them write less (an import of
    /// 100,000 people took 5.7–6.1 s with 8,000 against 7.1–7.7 s with 1,000;
    /// docs/benchmarks.md, "History in a rowid table"). The price is a larger log file
    /// and a longer pause for the commit that runs the checkpoint, which is any
    /// connection's first commit after the log passes its own threshold.
    pub checkpoint_pages: u32,
}

/// The default [`Options::cache_entries`].
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

/// The default [`Options::checkpoint_pages`].
pub const DEFAULT_CHECKPOINT_PAGES: u32 = 1_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            group_commit: true,
            create: true,
            checkpoint_pages: DEFAULT_CHECKPOINT_PAGES,
        }
    }
}

impl Options {
    /// Sets the durability.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Turns group commit on or off (see [`Options::group_commit`]).
    #[must_use]
    pub fn with_group_commit(mut self, group_commit: bool) -> Self {
        self.group_commit = group_commit;
        self
    }

    /// Creates a missing file, or refuses it (see [`Options::create`]).
    #[must_use]
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Sets the busy timeout.
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets the number of read-only connections.
    #[must_use]
    pub fn with_readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// Sets the read cache's size in identifiers; 0 turns it off.
    #[must_use]
    pub fn with_cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries;
        self
    }

    /// Sets how many pages the write-ahead log grows to before a checkpoint (at least
    /// 1).
    #[must_use]
    pub fn with_checkpoint_pages(mut self, pages: u32) -> Self {
        self.checkpoint_pages = pages.max(1);
        self
    }
}

/// Enough cached statements for every hot query of the store.
const STATEMENT_CACHE: usize = 32;

fn configure(conn: &Connection, options: &Options) -> std::result::Result<(), SqliteError> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` with default [`Options`].
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_sqlite::SqliteStore;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("contacts.db");
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// let first = Engine::new(SqliteStore::open(&path)?)
    ///     .resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// // Opened again (another process could do the same): the same contact.
    /// let again = Engine::new(SqliteStore::open(&path)?)
    ///     .resolve(org, &ResolveRequest::new().with_phone("+1 415 555 0192"))?;
    /// assert_eq!((again.contact.id, again.created), (first.contact.id, false));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`](contacts_core::Error::Storage) when the file cannot be opened
    /// or created, is not a SQLite database, was written by a newer schema version, or
    /// cannot use WAL.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// Opens the database at `path`, creating it if missing unless
    /// [`Options::create`] is off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use contacts_sqlite::{Durability, Options, SqliteStore};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = Options::default()
    ///     .with_durability(Durability::Full) // fsync every commit
    ///     .with_busy_timeout(Duration::from_secs(10))
    ///     .with_readers(2)
    ///     .with_cache_entries(100_000); // 0 turns the read cache off
    /// let store = SqliteStore::open_with(dir.path().join("contacts.db"), options)?;
    /// assert_eq!(store.schema_version()?, contacts_sqlite::SCHEMA_VERSION);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`SqliteStore::open`], and when the file is missing and [`Options::create`]
    /// is off.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        // Memory reads order entities inside `group_concat` (`entities.rs`), which
        // SQLite parses from 3.44; a system library older than that is refused here,
        // not with a syntax error on the first read.
        if rusqlite::version_number() < 3_044_000 {
            return Err(SqliteError::TooOld {
                found: rusqlite::version(),
            }
            .into());
        }
        let path = path.as_ref();
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if options.create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.exists() {
            // SQLite would say only "unable to open database file".
            return Err(SqliteError::Missing(path.display().to_string()).into());
        }
        let mut writer = Connection::open_with_flags(path, flags).map_err(read_error)?;
        configure(&writer, &options)?;
        // The first statement that reads the file: a file that is not a database
        // fails here with a clear error.
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(SqliteError::from)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::NoWal(mode).into());
        }
        Self::finish_open(&mut writer, &options)?;
        let read_flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = || -> Result<Connection> {
            let conn = Connection::open_with_flags(path, read_flags).map_err(read_error)?;
            configure(&conn, &options)?;
            Ok(conn)
        };
        let readers = (0..options.readers)
            .map(|_| reader().map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let cache = match options.cache_entries {
            0 => None,
            n => Some(ReadCache::new(reader()?, n)?),
        };
        // Only with readers: then no read uses the writer connection, whose open group
        // transaction holds batches not yet committed.
        let group =
            (options.durability == Durability::Full && options.group_commit && !readers.is_empty())
                .then(Group::default);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                cache,
                group,
            }),
        })
    }

    /// A private in-memory database (no WAL, one connection): for tests and
    /// throw-away use.
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_sqlite::SqliteStore;
    ///
    /// let engine = Engine::new(SqliteStore::open_in_memory()?);
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// assert!(engine.resolve(org, &ResolveRequest::new().with_email("a@example.com"))?.created);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`](contacts_core::Error::Storage) if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self> {
        let options = Options::default();
        let mut writer = Connection::open_in_memory().map_err(read_error)?;
        configure(&writer, &options)?;
        Self::finish_open(&mut writer, &options)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers: Vec::new(),
                next_reader: AtomicUsize::new(0),
                // One private connection: there is nobody else whose commits a cache
                // would have to notice, and nothing for it to save.
                cache: None,
                group: None,
            }),
        })
    }

    fn finish_open(writer: &mut Connection, options: &Options) -> Result<()> {
        let synchronous = match options.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        // The writer's statement journals (a statement whose triggers write several rows
        // keeps one, to undo itself) live in memory, and its page cache holds 64 MiB, so
        // a batch of a thousand new contacts neither spills to temporary files nor
        // re-reads the index pages it has just written.
        writer
            .execute_batch(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous}; \
                 PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; \
                 PRAGMA wal_autocheckpoint = {};",
                options.checkpoint_pages.max(1)
            ))
            .map_err(read_error)?;
        schema::migrate(writer)?;
        Ok(())
    }

    /// What the read cache has done since the store was opened; all zero when it is
    /// off.
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_sqlite::SqliteStore;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = Engine::new(SqliteStore::open(dir.path().join("contacts.db"))?);
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// let phone = ResolveRequest::new().with_phone("+14155550192");
    /// engine.resolve(org, &phone)?; // a miss, then the create
    /// engine.resolve(org, &phone)?; // a miss (the create changed the database)
    /// engine.resolve(org, &phone)?; // a hit
    /// let stats = engine.store().cache_stats();
    /// assert_eq!((stats.hits, stats.misses), (1, 2));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    #[must_use]
    pub fn cache_stats(&self) -> CacheStats {
        self.inner
            .cache
            .as_ref()
            .map(ReadCache::stats)
            .unwrap_or_default()
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// [`Error::Storage`](contacts_core::Error::Storage) if it cannot be read.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(schema::version(&lock(&self.inner.writer))?)
    }
}
