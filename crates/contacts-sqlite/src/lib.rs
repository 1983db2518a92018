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
//!   [`Error::Conflict`].
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
//!
//! # Topology
//!
//! One writer connection behind a mutex, plus a few read-only connections for
//! lookups, gets and lists, so the read-mostly hot path runs in parallel with writes
//! and with other reads. An in-memory database has only the one connection.

mod error;
mod schema;

pub use schema::SCHEMA_VERSION;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use contacts_core::{
    Contact, ContactId, ContactRecord, Error, Identifier, IdentifierId, IdentifierKey,
    IdentifierKind, ListPage, MemoryId, MemoryRecord, MemoryScope, Metadata, OrgId, Result, Store,
    StoredContact, Timestamp, WriteBatch, WriteOp, uuid::Uuid,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use crate::error::{SqliteError, read_error, write_error};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
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
}

/// The SQLite store. Clones share the same connections.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// Enough cached statements for every hot query of the store.
const STATEMENT_CACHE: usize = 32;

// A poisoned mutex only means another thread panicked while holding a connection;
// SQLite rolled back whatever transaction it had open when the guard's transaction
// was dropped, so the connection is still consistent and usable.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn configure(conn: &Connection, options: &Options) -> std::result::Result<(), SqliteError> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` with default [`Options`].
    ///
    /// # Errors
    /// [`Error::Storage`] when the file cannot be opened or created, is not a SQLite
    /// database, was written by a newer schema version, or cannot use WAL.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// Opens (creating if missing) the database at `path`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let path = path.as_ref();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
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
        let readers = (0..options.readers)
            .map(|_| {
                let conn = Connection::open_with_flags(path, read_flags).map_err(read_error)?;
                configure(&conn, &options)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// A private in-memory database (no WAL, one connection): for tests and
    /// throw-away use.
    ///
    /// # Errors
    /// [`Error::Storage`] if SQLite cannot allocate it.
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
            }),
        })
    }

    fn finish_open(writer: &mut Connection, options: &Options) -> Result<()> {
        let synchronous = match options.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        writer
            .execute_batch(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};"
            ))
            .map_err(read_error)?;
        schema::migrate(writer)?;
        Ok(())
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// [`Error::Storage`] if it cannot be read.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(schema::version(&lock(&self.inner.writer))?)
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

const LOOKUP: &str = "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version, \
     j.id, j.kind, j.value, j.is_primary \
     FROM identifiers AS i \
     JOIN contacts AS c ON c.id = i.contact_id \
     JOIN identifiers AS j ON j.contact_id = c.id \
     WHERE i.org = ?1 AND i.kind = ?2 AND i.value = ?3 \
     ORDER BY j.seq";

const GET: &str = "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version, \
     j.id, j.kind, j.value, j.is_primary \
     FROM contacts AS c LEFT JOIN identifiers AS j ON j.contact_id = c.id \
     WHERE c.id = ?1 AND c.org = ?2 \
     ORDER BY j.seq";

const COUNT: &str = "SELECT count(*) FROM contacts WHERE org = ?1";

const CONTACT_MEMORIES: &str =
    "SELECT body FROM memories WHERE contact_id = ?1 AND org = ?2 ORDER BY created_at, id";

const MEMORY_BY_SCOPE: &str =
    "SELECT body FROM memories WHERE org = ?1 AND contact_id = ?2 AND scope = ?3";

const MEMORY_BY_ID: &str = "SELECT body FROM memories WHERE id = ?1 AND org = ?2";

const LIST_MEMORIES: &str = "WITH c AS (SELECT id, created_at \
       FROM contacts WHERE org = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3) \
     SELECT m.body FROM c JOIN memories AS m ON m.contact_id = c.id \
     ORDER BY c.created_at, c.id, m.created_at, m.id";

fn scope_key(scope: &MemoryScope) -> String {
    match scope {
        MemoryScope::Persona(p) => format!("persona:{p}"),
        MemoryScope::AgentNumber(a) => format!("agent:{a}"),
    }
}

fn memory_from_body(body: &str) -> Result<MemoryRecord> {
    serde_json::from_str(body).map_err(|e| corrupt(format!("a memory record is unreadable: {e}")))
}

fn memory_body(record: &MemoryRecord) -> Result<String> {
    serde_json::to_string(record)
        .map_err(|e| Error::storage(error::BACKEND, format!("cannot serialise a memory: {e}")))
}

fn query_memories(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Arc<MemoryRecord>>> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error)?;
    let bodies = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(read_error)?;
    bodies
        .map(|b| memory_from_body(&b.map_err(read_error)?).map(Arc::new))
        .collect()
}

const LIST: &str = "WITH c AS (SELECT id, name, metadata, created_at, updated_at, version \
       FROM contacts WHERE org = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3) \
     SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version, \
     j.id, j.kind, j.value, j.is_primary \
     FROM c LEFT JOIN identifiers AS j ON j.contact_id = c.id \
     ORDER BY c.created_at, c.id, j.seq";

fn corrupt(what: impl Into<String>) -> Error {
    SqliteError::Corrupt(what.into()).into()
}

fn uuid(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| corrupt("an id is not 16 bytes"))
}

fn kind_name(kind: IdentifierKind) -> &'static str {
    kind.as_str()
}

/// Folds rows of the ten contact-and-identifier columns the queries above select (one
/// row per identifier, a contact's rows contiguous) into
/// contacts.
fn collect_contacts(org: OrgId, rows: &mut rusqlite::Rows<'_>) -> Result<Vec<StoredContact>> {
    let mut out: Vec<StoredContact> = Vec::new();
    while let Some(row) = rows.next().map_err(read_error)? {
        let id_bytes = row
            .get_ref(0)
            .map_err(read_error)?
            .as_blob()
            .map_err(|_| corrupt("a contact id is not a blob"))?;
        let id = ContactId(uuid(id_bytes)?);
        if out.last().is_none_or(|c| c.contact.id != id) {
            out.push(contact_from_row(org, id, row)?);
        }
        if let Some(ident) = identifier_from_row(id, row)? {
            // `out` is non-empty: a contact was pushed above for this row.
            out.last_mut()
                .expect("pushed above")
                .identifiers
                .push(ident);
        }
    }
    Ok(out)
}

fn contact_from_row(org: OrgId, id: ContactId, row: &Row<'_>) -> Result<StoredContact> {
    let name: Option<String> = row.get(1).map_err(read_error)?;
    let metadata_text: String = row.get(2).map_err(read_error)?;
    let metadata: Metadata = match serde_json::from_str(&metadata_text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            return Err(corrupt(format!(
                "metadata of contact {id} is not a JSON object"
            )));
        }
    };
    let version: i64 = row.get(5).map_err(read_error)?;
    Ok(StoredContact {
        contact: Contact {
            id,
            org_id: org,
            name,
            metadata,
            created_at: Timestamp::from_millis(row.get(3).map_err(read_error)?),
            updated_at: Timestamp::from_millis(row.get(4).map_err(read_error)?),
        },
        identifiers: Vec::new(),
        version: u64::try_from(version).map_err(|_| corrupt("negative version"))?,
    })
}

fn identifier_from_row(contact: ContactId, row: &Row<'_>) -> Result<Option<Identifier>> {
    let id: Option<Vec<u8>> = row.get(6).map_err(read_error)?;
    let Some(id) = id else { return Ok(None) };
    let kind: String = row.get(7).map_err(read_error)?;
    let identifier_type = IdentifierKind::from_name(&kind)
        .ok_or_else(|| corrupt(format!("unknown identifier kind {kind:?}")))?;
    Ok(Some(Identifier {
        id: IdentifierId(uuid(&id)?),
        contact_id: contact,
        identifier_type,
        identifier_value: row.get(8).map_err(read_error)?,
        is_primary: row.get(9).map_err(read_error)?,
    }))
}

/// Notes that a batch changed `id`'s identifiers, so its version moves once.
fn touch(touched: &mut Vec<ContactId>, id: ContactId) {
    if !touched.contains(&id) {
        touched.push(id);
    }
}

fn lookup_one(
    conn: &Connection,
    org: OrgId,
    key: &IdentifierKey<'_>,
) -> Result<Option<StoredContact>> {
    let mut stmt = conn.prepare_cached(LOOKUP).map_err(read_error)?;
    let mut rows = stmt
        .query(params![org.0.as_bytes(), kind_name(key.kind), key.value])
        .map_err(read_error)?;
    Ok(collect_contacts(org, &mut rows)?.pop())
}

impl Store for SqliteStore {
    fn lookup(
        &self,
        org: OrgId,
        keys: &[IdentifierKey<'_>],
    ) -> Result<Vec<Option<Arc<StoredContact>>>> {
        self.read(|conn| {
            // One statement is its own snapshot; several need a read transaction.
            let tx = if keys.len() > 1 {
                Some(conn.unchecked_transaction().map_err(read_error)?)
            } else {
                None
            };
            let mut out: Vec<Option<Arc<StoredContact>>> = Vec::with_capacity(keys.len());
            for key in keys {
                let found = lookup_one(conn, org, key)?.map(|c| {
                    // Two keys owned by one contact share one record.
                    out.iter()
                        .flatten()
                        .find(|o| o.contact.id == c.contact.id)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(c))
                });
                out.push(found);
            }
            if let Some(tx) = tx {
                tx.commit().map_err(read_error)?;
            }
            Ok(out)
        })
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction().map_err(read_error)?;
            let contact = {
                let mut stmt = conn.prepare_cached(GET).map_err(read_error)?;
                let mut rows = stmt
                    .query(params![id.0.as_bytes(), org.0.as_bytes()])
                    .map_err(read_error)?;
                collect_contacts(org, &mut rows)?.pop()
            };
            let record = match contact {
                None => None,
                Some(contact) => Some(ContactRecord {
                    contact: Arc::new(contact),
                    memories: query_memories(
                        conn,
                        CONTACT_MEMORIES,
                        params![id.0.as_bytes(), org.0.as_bytes()],
                    )?,
                }),
            };
            tx.commit().map_err(read_error)?;
            Ok(record)
        })
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        self.read(|conn| {
            Ok(query_memories(
                conn,
                MEMORY_BY_SCOPE,
                params![org.0.as_bytes(), contact.0.as_bytes(), scope_key(scope)],
            )?
            .pop())
        })
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        self.read(|conn| {
            Ok(query_memories(
                conn,
                MEMORY_BY_ID,
                params![id.0.as_bytes(), org.0.as_bytes()],
            )?
            .pop())
        })
    }

    fn list(&self, org: OrgId, offset: u64, limit: u64) -> Result<ListPage> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction().map_err(read_error)?;
            let total: i64 = conn
                .prepare_cached(COUNT)
                .and_then(|mut s| s.query_row(params![org.0.as_bytes()], |r| r.get(0)))
                .map_err(read_error)?;
            let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            let mut stmt = conn.prepare_cached(LIST).map_err(read_error)?;
            let mut rows = stmt
                .query(params![org.0.as_bytes(), clamp(limit), clamp(offset)])
                .map_err(read_error)?;
            let contacts = collect_contacts(org, &mut rows)?;
            drop(rows);
            drop(stmt);
            let mut memories = query_memories(
                conn,
                LIST_MEMORIES,
                params![org.0.as_bytes(), clamp(limit), clamp(offset)],
            )?
            .into_iter()
            .peekable();
            // Both queries walk the page in the same order, so memories are matched
            // to their contacts in one pass.
            let contacts = contacts
                .into_iter()
                .map(|c| {
                    let mut mine = Vec::new();
                    while let Some(m) = memories.next_if(|m| m.contact_id == c.contact.id) {
                        mine.push(m);
                    }
                    ContactRecord {
                        contact: Arc::new(c),
                        memories: mine,
                    }
                })
                .collect();
            tx.commit().map_err(read_error)?;
            Ok(ListPage {
                total: u64::try_from(total).map_err(|_| corrupt("negative count"))?,
                contacts,
            })
        })
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = lock(&self.inner.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(read_error)?;
        let org_bytes = org.0.as_bytes();
        // Contacts whose version this batch has already moved (inserted or updated).
        let mut versioned: Vec<ContactId> = Vec::new();
        // Contacts that only gained identifiers; their version moves once at the end.
        let mut touched: Vec<ContactId> = Vec::new();
        for op in &batch.ops {
            match op {
                WriteOp::Expect {
                    contact_id,
                    version,
                } => {
                    let found: Option<i64> = tx
                        .prepare_cached("SELECT version FROM contacts WHERE id = ?1 AND org = ?2")
                        .and_then(|mut s| {
                            s.query_row(params![contact_id.0.as_bytes(), org_bytes], |r| r.get(0))
                                .optional()
                        })
                        .map_err(write_error)?;
                    if found != i64::try_from(*version).ok() {
                        return Err(Error::conflict(format!(
                            "contact {contact_id} changed since it was read"
                        )));
                    }
                }
                WriteOp::InsertContact(c) => {
                    if c.org_id != org {
                        return Err(Error::storage(
                            error::BACKEND,
                            "a batch may only write its own org",
                        ));
                    }
                    tx.prepare_cached(
                        "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            c.id.0.as_bytes(),
                            org_bytes,
                            c.name,
                            serde_json::Value::Object(c.metadata.clone()).to_string(),
                            c.created_at.as_millis(),
                            c.updated_at.as_millis(),
                        ])
                    })
                    .map_err(write_error)?;
                    versioned.push(c.id);
                }
                WriteOp::UpdateContact {
                    contact,
                    expected_version,
                } => {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE contacts SET name = ?1, metadata = ?2, updated_at = ?3, \
                             version = version + 1 \
                             WHERE id = ?4 AND org = ?5 AND version = ?6",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                contact.name,
                                serde_json::Value::Object(contact.metadata.clone()).to_string(),
                                contact.updated_at.as_millis(),
                                contact.id.0.as_bytes(),
                                org_bytes,
                                i64::try_from(*expected_version).unwrap_or(-1),
                            ])
                        })
                        .map_err(write_error)?;
                    if changed != 1 {
                        return Err(Error::conflict(format!(
                            "contact {} changed since it was read",
                            contact.id
                        )));
                    }
                    versioned.push(contact.id);
                }
                WriteOp::InsertIdentifier(ident) => {
                    // Inserted only if its contact exists in this org; a duplicate
                    // (org, kind, value) violates the unique index.
                    let inserted = tx
                        .prepare_cached(
                            "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
                             SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
                             WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?2 AND org = ?3)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                ident.id.0.as_bytes(),
                                ident.contact_id.0.as_bytes(),
                                org_bytes,
                                kind_name(ident.identifier_type),
                                ident.identifier_value,
                                ident.is_primary,
                            ])
                        })
                        .map_err(write_error)?;
                    if inserted != 1 {
                        return Err(Error::conflict(format!(
                            "contact {} no longer exists",
                            ident.contact_id
                        )));
                    }
                    touch(&mut touched, ident.contact_id);
                }
                WriteOp::DeleteIdentifier { id, contact_id } => {
                    let deleted = tx
                        .prepare_cached(
                            "DELETE FROM identifiers WHERE id = ?1 AND contact_id = ?2 AND org = ?3",
                        )
                        .and_then(|mut s| {
                            s.execute(params![id.0.as_bytes(), contact_id.0.as_bytes(), org_bytes])
                        })
                        .map_err(write_error)?;
                    if deleted != 1 {
                        return Err(Error::conflict(format!(
                            "identifier {id} is not on contact {contact_id}"
                        )));
                    }
                    touch(&mut touched, *contact_id);
                }
                WriteOp::SetPrimary {
                    id,
                    contact_id,
                    is_primary,
                } => {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE identifiers SET is_primary = ?1 \
                             WHERE id = ?2 AND contact_id = ?3 AND org = ?4",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                is_primary,
                                id.0.as_bytes(),
                                contact_id.0.as_bytes(),
                                org_bytes
                            ])
                        })
                        .map_err(write_error)?;
                    if changed != 1 {
                        return Err(Error::conflict(format!(
                            "identifier {id} is not on contact {contact_id}"
                        )));
                    }
                    touch(&mut touched, *contact_id);
                }
                WriteOp::MoveIdentifier {
                    id,
                    from,
                    to,
                    is_primary,
                } => {
                    // Delete and re-insert, so the identifier becomes `to`'s newest
                    // (a new `seq`), keeping its id and value.
                    let found: Option<(String, String)> = tx
                        .prepare_cached(
                            "SELECT kind, value FROM identifiers \
                             WHERE id = ?1 AND contact_id = ?2 AND org = ?3",
                        )
                        .and_then(|mut s| {
                            s.query_row(
                                params![id.0.as_bytes(), from.0.as_bytes(), org_bytes],
                                |r| Ok((r.get(0)?, r.get(1)?)),
                            )
                            .optional()
                        })
                        .map_err(write_error)?;
                    let Some((kind, value)) = found else {
                        return Err(Error::conflict(format!(
                            "identifier {id} is not on contact {from}"
                        )));
                    };
                    tx.prepare_cached("DELETE FROM identifiers WHERE id = ?1")
                        .and_then(|mut s| s.execute(params![id.0.as_bytes()]))
                        .map_err(write_error)?;
                    let inserted = tx
                        .prepare_cached(
                            "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
                             SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
                             WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?2 AND org = ?3)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![id.0.as_bytes(), to.0.as_bytes(), org_bytes, kind, value, is_primary])
                        })
                        .map_err(write_error)?;
                    if inserted != 1 {
                        return Err(Error::conflict(format!("contact {to} no longer exists")));
                    }
                    touch(&mut touched, *from);
                    touch(&mut touched, *to);
                }
                WriteOp::DeleteContact {
                    id,
                    expected_version,
                } => {
                    // Identifiers and memories go with it (ON DELETE CASCADE).
                    let deleted = tx
                        .prepare_cached(
                            "DELETE FROM contacts WHERE id = ?1 AND org = ?2 AND version = ?3",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                id.0.as_bytes(),
                                org_bytes,
                                i64::try_from(*expected_version).unwrap_or(-1)
                            ])
                        })
                        .map_err(write_error)?;
                    if deleted != 1 {
                        return Err(Error::conflict(format!(
                            "contact {id} changed since it was read"
                        )));
                    }
                    touched.retain(|c| c != id);
                    versioned.retain(|c| c != id);
                }
                WriteOp::InsertMemory(m) => {
                    let body = memory_body(m)?;
                    let inserted = tx
                        .prepare_cached(
                            "INSERT INTO memories (id, org, contact_id, scope, created_at, revision, body) \
                             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
                             WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?3 AND org = ?2)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                m.id.0.as_bytes(),
                                org_bytes,
                                m.contact_id.0.as_bytes(),
                                scope_key(&m.scope()),
                                m.created_at.as_millis(),
                                i64::try_from(m.revision).unwrap_or(i64::MAX),
                                body,
                            ])
                        })
                        .map_err(write_error)?;
                    if inserted != 1 {
                        return Err(Error::conflict(format!(
                            "contact {} no longer exists",
                            m.contact_id
                        )));
                    }
                }
                WriteOp::UpdateMemory {
                    record,
                    expected_revision,
                } => {
                    let body = memory_body(record)?;
                    let changed = tx
                        .prepare_cached(
                            "UPDATE memories SET revision = ?1, body = ?2, contact_id = ?5 \
                             WHERE id = ?3 AND org = ?4 AND revision = ?6 \
                             AND EXISTS (SELECT 1 FROM contacts WHERE id = ?5 AND org = ?4)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                i64::try_from(record.revision).unwrap_or(i64::MAX),
                                body,
                                record.id.0.as_bytes(),
                                org_bytes,
                                record.contact_id.0.as_bytes(),
                                i64::try_from(*expected_revision).unwrap_or(-1),
                            ])
                        })
                        .map_err(write_error)?;
                    if changed != 1 {
                        return Err(Error::conflict(format!(
                            "memory {} changed since it was read",
                            record.id
                        )));
                    }
                }
                WriteOp::DeleteMemory {
                    id,
                    expected_revision,
                } => {
                    let deleted = tx
                        .prepare_cached(
                            "DELETE FROM memories WHERE id = ?1 AND org = ?2 AND revision = ?3",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                id.0.as_bytes(),
                                org_bytes,
                                i64::try_from(*expected_revision).unwrap_or(-1),
                            ])
                        })
                        .map_err(write_error)?;
                    if deleted != 1 {
                        return Err(Error::conflict(format!(
                            "memory {id} changed since it was read"
                        )));
                    }
                }
            }
        }
        for id in touched.iter().filter(|id| !versioned.contains(id)) {
            tx.prepare_cached("UPDATE contacts SET version = version + 1 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id.0.as_bytes()]))
                .map_err(write_error)?;
        }
        tx.commit().map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
