//! A PostgreSQL [`Store`] for the contacts engine: one database shared by many
//! application servers.
//!
//! Choose it over SQLite when several machines run the engine against the same
//! contacts; on one machine, SQLite is faster (no network round trip) and simpler.
//!
//! ```no_run
//! use contacts_core::{Engine, OrgId, ResolveRequest};
//! use contacts_postgres::PostgresStore;
//!
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1/test")?;
//! let engine = Engine::new(store);
//! let org = OrgId(contacts_core::uuid::Uuid::now_v7());
//! let out = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
//! assert!(out.created);
//! # Ok::<(), contacts_core::Error>(())
//! ```
//!
//! # How it stays correct
//!
//! - Every store read is **one SQL statement**, so it sees one snapshot: a contact
//!   comes back with its identifiers (and memories) as they were at one instant, and a
//!   list page's `total` and rows agree.
//! - A commit is **one transaction** (READ COMMITTED) in which every precondition the
//!   engine decided on is checked by a conditional write or a locking read:
//!   contact versions with `UPDATE ... WHERE version = $n` or
//!   `SELECT ... FOR NO KEY UPDATE`, identifier ownership with a unique index on
//!   `(org, kind, value)`, memory revisions with `WHERE revision = $n`, a contact's
//!   existence with a foreign key. A failed one rolls everything back and returns
//!   [`Error::Conflict`]; so does a serialization failure or a deadlock chosen by
//!   the server. The engine then re-reads and decides again (a bounded number of
//!   times), so resolve is serialisable across connections, processes and machines.
//! - Migrations are recorded in a `schema_migrations` table and applied in one
//!   transaction under an advisory lock; a schema newer than the build is refused.
//!
//! # Connections
//!
//! A pool ([`r2d2`]) of connections, each with its own prepared statements. A
//! connection the server closed (a restart, a failover, an idle timeout) is dropped
//! from the pool and replaced by a new one; the call that was using it when it died
//! fails with [`Error::Storage`] and writes nothing, and the next call succeeds once
//! the server is back. Everything lives in one PostgreSQL schema (`contacts` by
//! default), set as each connection's `search_path`. Connections are unencrypted:
//! use a local socket, a private network or a TLS-terminating proxy.

mod error;
mod schema;

pub use schema::SCHEMA_VERSION;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use contacts_core::{
    Contact, ContactId, ContactRecord, Error, Identifier, IdentifierId, IdentifierKey,
    IdentifierKind, ListPage, MemoryId, MemoryRecord, MemoryScope, Metadata, OrgId, Result, Store,
    StoredContact, Timestamp, WriteBatch, WriteOp, uuid::Uuid,
};
use postgres::types::ToSql;
use postgres::{GenericClient, NoTls, Row, Statement};

use crate::error::{PgError, corrupt, read_error, write_error};

/// How to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The PostgreSQL schema that holds the tables; created if missing. Default
    /// `contacts`. Lower-case letters, digits and `_`, not starting with a digit.
    pub schema: String,
    /// Most connections the pool opens. Default 16.
    pub pool_size: u32,
    /// How long a call waits for a free connection, and how long connecting may take.
    /// Default 5 s.
    pub timeout: Duration,
    /// `application_name` of the connections (shows in `pg_stat_activity`). Default
    /// `contacts`.
    pub application_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schema: "contacts".to_owned(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
            application_name: "contacts".to_owned(),
        }
    }
}

impl Options {
    /// Sets the schema.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets the pool size.
    #[must_use]
    pub fn with_pool_size(mut self, size: u32) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the application name.
    #[must_use]
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    fn validate(&self) -> Result<()> {
        let s = &self.schema;
        let ok = !s.is_empty()
            && s.len() <= 63
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(Error::invalid(
                "schema",
                "must be 1 to 63 lower-case letters, digits or '_', not starting with a digit",
            ));
        }
        if self.pool_size == 0 {
            return Err(Error::invalid("pool_size", "must be at least 1"));
        }
        Ok(())
    }
}

/// A pooled connection and its prepared statements.
struct Conn {
    client: postgres::Client,
    statements: HashMap<&'static str, Statement>,
}

/// Opens connections for the pool.
#[derive(Debug)]
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        Ok(Conn {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// The PostgreSQL store. Cheap to share: clone the `Arc` you put it in, or give each
/// engine its own store (each has its own pool).
pub struct PostgresStore {
    pool: r2d2::Pool<Manager>,
    schema: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.state())
            .finish()
    }
}

/// Prepares `sql` on this connection once and reuses it: one round trip per
/// statement afterwards instead of two.
fn prepared(
    client: &mut impl GenericClient,
    statements: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
) -> std::result::Result<Statement, postgres::Error> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(sql)?;
    statements.insert(sql, s.clone());
    Ok(s)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`) with the default
    /// [`Options`], creating or upgrading the schema.
    ///
    /// # Errors
    /// [`Error::Storage`] when the server cannot be reached or the schema cannot be
    /// migrated (including a schema written by a newer build).
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Options::default())
    }

    /// Connects with `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URL or options; otherwise as
    /// [`PostgresStore::connect`].
    pub fn connect_with(url: &str, options: Options) -> Result<Self> {
        options.validate()?;
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| Error::invalid("url", e.to_string()))?;
        config
            .application_name(&options.application_name)
            .connect_timeout(options.timeout)
            // Generic plans for the prepared statements: every statement but the list
            // (see `list`) is a key lookup that one plan serves well, and PostgreSQL's
            // default would
            // keep re-planning the lookup (its custom plans look cheaper than the
            // generic one for an `unnest` of unknown length), which measured as
            // about 0.3 ms per hit.
            .options(&format!(
                "-c search_path={} -c plan_cache_mode=force_generic_plan",
                options.schema
            ));
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size)
            // Connections are opened on demand; a broken one is noticed without a
            // round trip (see `conn`), so check-outs do not pay for a test query.
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(options.timeout)
            .build(Manager { config })
            .map_err(PgError::Pool)?;
        let store = PostgresStore {
            pool,
            schema: options.schema,
        };
        let mut conn = store.conn()?;
        schema::migrate(&mut conn.client, &store.schema)?;
        Ok(store)
    }

    /// The schema's version (the newest applied migration).
    ///
    /// # Errors
    /// [`Error::Storage`] if it cannot be read.
    pub fn schema_version(&self) -> Result<i32> {
        let mut conn = self.conn()?;
        Ok(schema::current(&mut conn.client)?)
    }

    /// The PostgreSQL schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A live connection from the pool. Connections the server closed are skipped
    /// (r2d2 discards them when they are handed back), so after a restart the first
    /// calls get fresh connections instead of dead ones.
    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        for _ in 0..=self.pool.max_size() {
            let conn = self.pool.get().map_err(PgError::Pool)?;
            if !conn.client.is_closed() {
                return Ok(conn);
            }
        }
        Ok(self.pool.get().map_err(PgError::Pool)?)
    }

    /// Runs one read statement.
    fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let stmt = prepared(client, statements, sql).map_err(read_error)?;
        client.query(&stmt, params).map_err(read_error)
    }
}

/// The contact columns every contact query selects first, in this order, followed by
/// its identifiers as JSON `[[id, kind, value, is_primary], ...]` (oldest first).
macro_rules! contact_columns {
    ($c:literal) => {
        concat!(
            $c,
            ".id, ",
            $c,
            ".name, ",
            $c,
            ".metadata, ",
            $c,
            ".created_at, ",
            $c,
            ".updated_at, ",
            $c,
            ".version, ",
            "(SELECT coalesce(json_agg(json_build_array(j.id, j.kind, j.value, j.is_primary) \
             ORDER BY j.seq), '[]')::text FROM identifiers AS j WHERE j.contact_id = ",
            $c,
            ".id)"
        )
    };
}

/// Every requested key with its owner, in one statement (one snapshot, one round trip).
const LOOKUP: &str = concat!(
    "SELECT k.ord, ",
    contact_columns!("c"),
    " FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS k(kind, value, ord) \
     JOIN identifiers AS i ON i.org = $1 AND i.kind = k.kind AND i.value = k.value \
     JOIN contacts AS c ON c.id = i.contact_id"
);

const GET: &str = concat!(
    "SELECT ",
    contact_columns!("c"),
    ", ARRAY(SELECT m.body FROM memories AS m WHERE m.contact_id = c.id \
     ORDER BY m.created_at, m.id) \
     FROM contacts AS c WHERE c.id = $1 AND c.org = $2"
);

/// The org's count and one page, in one statement; an empty page is one row of
/// `NULL`s after the count.
const LIST: &str = concat!(
    "WITH total AS (SELECT count(*) AS n FROM contacts WHERE org = $1) \
     SELECT total.n, p.* FROM total LEFT JOIN LATERAL (SELECT ",
    contact_columns!("c"),
    " AS identifiers, ARRAY(SELECT m.body FROM memories AS m WHERE m.contact_id = c.id \
     ORDER BY m.created_at, m.id) AS memories \
     FROM contacts AS c WHERE c.org = $1 ORDER BY c.created_at, c.id LIMIT $2 OFFSET $3) AS p \
     ON true ORDER BY p.created_at, p.id"
);

const MEMORY_BY_SCOPE: &str =
    "SELECT body FROM memories WHERE org = $1 AND contact_id = $2 AND scope = $3";

const MEMORY_BY_ID: &str = "SELECT body FROM memories WHERE id = $1 AND org = $2";

fn scope_key(scope: &MemoryScope) -> String {
    match scope {
        MemoryScope::Persona(p) => format!("persona:{p}"),
        MemoryScope::AgentNumber(a) => format!("agent:{a}"),
    }
}

fn memory_from_body(body: &str) -> Result<Arc<MemoryRecord>> {
    serde_json::from_str(body)
        .map(Arc::new)
        .map_err(|e| corrupt(format!("a memory record is unreadable: {e}")))
}

fn memory_body(record: &MemoryRecord) -> Result<String> {
    serde_json::to_string(record)
        .map_err(|e| Error::storage(error::BACKEND, format!("cannot serialise a memory: {e}")))
}

fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(read_error)
}

/// A contact from the seven [`contact_columns!`] starting at column `at`.
fn contact_from_row(org: OrgId, row: &Row, at: usize) -> Result<StoredContact> {
    let id = ContactId(get::<Uuid>(row, at)?);
    let metadata: Metadata = match serde_json::from_str(&get::<String>(row, at + 2)?) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            return Err(corrupt(format!(
                "metadata of contact {id} is not a JSON object"
            )));
        }
    };
    let idents: Vec<(Uuid, String, String, bool)> =
        serde_json::from_str(&get::<String>(row, at + 6)?)
            .map_err(|e| corrupt(format!("identifiers of contact {id}: {e}")))?;
    let identifiers = idents
        .into_iter()
        .map(|(iid, kind, value, is_primary)| {
            let identifier_type = IdentifierKind::from_name(&kind)
                .ok_or_else(|| corrupt(format!("unknown identifier kind {kind:?}")))?;
            Ok(Identifier {
                id: IdentifierId(iid),
                contact_id: id,
                identifier_type,
                identifier_value: value,
                is_primary,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let version: i64 = get(row, at + 5)?;
    Ok(StoredContact {
        contact: Contact {
            id,
            org_id: org,
            name: get(row, at + 1)?,
            metadata,
            created_at: Timestamp::from_millis(get(row, at + 3)?),
            updated_at: Timestamp::from_millis(get(row, at + 4)?),
        },
        identifiers,
        version: u64::try_from(version).map_err(|_| corrupt("negative version"))?,
    })
}

fn memories_from(bodies: Vec<String>) -> Result<Vec<Arc<MemoryRecord>>> {
    bodies.iter().map(|b| memory_from_body(b)).collect()
}

fn version_param(v: u64) -> i64 {
    // A version past i64::MAX cannot be stored, so it can never match.
    i64::try_from(v).unwrap_or(-1)
}

/// Notes that a batch changed `id`'s identifiers, so its version moves once.
fn touch(touched: &mut Vec<ContactId>, id: ContactId) {
    if !touched.contains(&id) {
        touched.push(id);
    }
}

/// Runs one statement of a commit and returns the rows it changed.
fn exec(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let stmt = prepared(tx, statements, sql).map_err(write_error)?;
    tx.execute(&stmt, params).map_err(write_error)
}

fn expect_one(changed: u64, what: impl FnOnce() -> String) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(Error::conflict(what()))
    }
}

impl Store for PostgresStore {
    fn lookup(
        &self,
        org: OrgId,
        keys: &[IdentifierKey<'_>],
    ) -> Result<Vec<Option<Arc<StoredContact>>>> {
        let kinds: Vec<&str> = keys.iter().map(|k| k.kind.as_str()).collect();
        let values: Vec<&str> = keys.iter().map(|k| k.value).collect();
        let rows = self.query(LOOKUP, &[&org.0, &kinds, &values])?;
        let mut out: Vec<Option<Arc<StoredContact>>> = vec![None; keys.len()];
        let mut seen: Vec<Arc<StoredContact>> = Vec::new();
        for row in &rows {
            let ord: i64 = get(row, 0)?;
            let slot = usize::try_from(ord - 1)
                .ok()
                .filter(|i| *i < keys.len())
                .ok_or_else(|| corrupt("lookup returned an unknown key position"))?;
            let contact = contact_from_row(org, row, 1)?;
            // Two keys owned by one contact share one record.
            let shared = match seen.iter().find(|c| c.contact.id == contact.contact.id) {
                Some(c) => Arc::clone(c),
                None => {
                    let c = Arc::new(contact);
                    seen.push(Arc::clone(&c));
                    c
                }
            };
            out[slot] = Some(shared);
        }
        Ok(out)
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        let rows = self.query(GET, &[&id.0, &org.0])?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(ContactRecord {
            contact: Arc::new(contact_from_row(org, row, 0)?),
            memories: memories_from(get(row, 7)?)?,
        }))
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        let rows = self.query(MEMORY_BY_SCOPE, &[&org.0, &contact.0, &scope_key(scope)])?;
        rows.first()
            .map(|r| memory_from_body(&get::<String>(r, 0)?))
            .transpose()
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        let rows = self.query(MEMORY_BY_ID, &[&id.0, &org.0])?;
        rows.first()
            .map(|r| memory_from_body(&get::<String>(r, 0)?))
            .transpose()
    }

    fn list(&self, org: OrgId, offset: u64, limit: u64) -> Result<ListPage> {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let rows = {
            let mut conn = self.conn()?;
            let Conn { client, statements } = &mut *conn;
            let stmt = prepared(client, statements, LIST).map_err(read_error)?;
            // The one statement that wants a plan made for its values: a generic plan
            // cannot know that LIMIT is small and sorts the whole org instead of
            // walking the (org, created_at, id) index (measured 266 ms against 76 ms
            // for the first page of a million contacts).
            let mut tx = client.transaction().map_err(read_error)?;
            tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
                .map_err(read_error)?;
            let rows = tx
                .query(&stmt, &[&org.0, &clamp(limit), &clamp(offset)])
                .map_err(read_error)?;
            tx.commit().map_err(read_error)?;
            rows
        };
        let mut total = 0;
        let mut contacts = Vec::with_capacity(rows.len());
        for row in &rows {
            let n: i64 = get(row, 0)?;
            total = u64::try_from(n).map_err(|_| corrupt("negative count"))?;
            if get::<Option<Uuid>>(row, 1)?.is_none() {
                continue; // the empty page's row of NULLs
            }
            contacts.push(ContactRecord {
                contact: Arc::new(contact_from_row(org, row, 1)?),
                memories: memories_from(get(row, 8)?)?,
            });
        }
        Ok(ListPage { total, contacts })
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let mut tx = client.transaction().map_err(write_error)?;
        let st = statements;
        // Contacts whose version this batch has already moved (inserted or updated).
        let mut versioned: Vec<ContactId> = Vec::new();
        // Contacts that only gained or lost identifiers; their version moves once.
        let mut touched: Vec<ContactId> = Vec::new();
        for op in &batch.ops {
            match op {
                WriteOp::Expect {
                    contact_id,
                    version,
                } => {
                    // Locks the row until commit, so the version cannot move under
                    // us; a writer that got there first makes this read its version.
                    let stmt = prepared(
                        &mut tx,
                        st,
                        "SELECT version FROM contacts WHERE id = $1 AND org = $2 \
                         FOR NO KEY UPDATE",
                    )
                    .map_err(write_error)?;
                    let found: Option<i64> = tx
                        .query_opt(&stmt, &[&contact_id.0, &org.0])
                        .map_err(write_error)?
                        .map(|r| r.get(0));
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
                    let metadata = serde_json::Value::Object(c.metadata.clone()).to_string();
                    exec(
                        &mut tx,
                        st,
                        "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
                         VALUES ($1, $2, $3, $4, $5, $6, 1)",
                        &[
                            &c.id.0,
                            &org.0,
                            &c.name,
                            &metadata,
                            &c.created_at.as_millis(),
                            &c.updated_at.as_millis(),
                        ],
                    )?;
                    versioned.push(c.id);
                }
                WriteOp::UpdateContact {
                    contact,
                    expected_version,
                } => {
                    let metadata = serde_json::Value::Object(contact.metadata.clone()).to_string();
                    let changed = exec(
                        &mut tx,
                        st,
                        "UPDATE contacts SET name = $1, metadata = $2, updated_at = $3, \
                         version = version + 1 WHERE id = $4 AND org = $5 AND version = $6",
                        &[
                            &contact.name,
                            &metadata,
                            &contact.updated_at.as_millis(),
                            &contact.id.0,
                            &org.0,
                            &version_param(*expected_version),
                        ],
                    )?;
                    expect_one(changed, || {
                        format!("contact {} changed since it was read", contact.id)
                    })?;
                    versioned.push(contact.id);
                }
                WriteOp::InsertIdentifier(ident) => {
                    // A duplicate (org, kind, value) violates the unique index; a
                    // contact deleted meanwhile inserts nothing.
                    let changed = exec(
                        &mut tx,
                        st,
                        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
                         SELECT $1, $2, $3, $4, $5, $6 \
                         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $2 AND org = $3)",
                        &[
                            &ident.id.0,
                            &ident.contact_id.0,
                            &org.0,
                            &ident.identifier_type.as_str(),
                            &ident.identifier_value,
                            &ident.is_primary,
                        ],
                    )?;
                    expect_one(changed, || {
                        format!("contact {} no longer exists", ident.contact_id)
                    })?;
                    touch(&mut touched, ident.contact_id);
                }
                WriteOp::DeleteIdentifier { id, contact_id } => {
                    let changed = exec(
                        &mut tx,
                        st,
                        "DELETE FROM identifiers WHERE id = $1 AND contact_id = $2 AND org = $3",
                        &[&id.0, &contact_id.0, &org.0],
                    )?;
                    expect_one(changed, || {
                        format!("identifier {id} is not on contact {contact_id}")
                    })?;
                    touch(&mut touched, *contact_id);
                }
                WriteOp::SetPrimary {
                    id,
                    contact_id,
                    is_primary,
                } => {
                    let changed = exec(
                        &mut tx,
                        st,
                        "UPDATE identifiers SET is_primary = $1 \
                         WHERE id = $2 AND contact_id = $3 AND org = $4",
                        &[is_primary, &id.0, &contact_id.0, &org.0],
                    )?;
                    expect_one(changed, || {
                        format!("identifier {id} is not on contact {contact_id}")
                    })?;
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
                    let stmt = prepared(
                        &mut tx,
                        st,
                        "DELETE FROM identifiers WHERE id = $1 AND contact_id = $2 AND org = $3 \
                         RETURNING kind, value",
                    )
                    .map_err(write_error)?;
                    let Some(row) = tx
                        .query_opt(&stmt, &[&id.0, &from.0, &org.0])
                        .map_err(write_error)?
                    else {
                        return Err(Error::conflict(format!(
                            "identifier {id} is not on contact {from}"
                        )));
                    };
                    let (kind, value): (String, String) = (row.get(0), row.get(1));
                    let changed = exec(
                        &mut tx,
                        st,
                        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
                         SELECT $1, $2, $3, $4, $5, $6 \
                         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $2 AND org = $3)",
                        &[&id.0, &to.0, &org.0, &kind, &value, is_primary],
                    )?;
                    expect_one(changed, || format!("contact {to} no longer exists"))?;
                    touch(&mut touched, *from);
                    touch(&mut touched, *to);
                }
                WriteOp::DeleteContact {
                    id,
                    expected_version,
                } => {
                    // Identifiers and memories go with it (ON DELETE CASCADE).
                    let changed = exec(
                        &mut tx,
                        st,
                        "DELETE FROM contacts WHERE id = $1 AND org = $2 AND version = $3",
                        &[&id.0, &org.0, &version_param(*expected_version)],
                    )?;
                    expect_one(changed, || {
                        format!("contact {id} changed since it was read")
                    })?;
                    touched.retain(|c| c != id);
                    versioned.retain(|c| c != id);
                }
                WriteOp::InsertMemory(m) => {
                    let body = memory_body(m)?;
                    let changed = exec(
                        &mut tx,
                        st,
                        "INSERT INTO memories (id, org, contact_id, scope, created_at, revision, body) \
                         SELECT $1, $2, $3, $4, $5, $6, $7 \
                         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $3 AND org = $2)",
                        &[
                            &m.id.0,
                            &org.0,
                            &m.contact_id.0,
                            &scope_key(&m.scope()),
                            &m.created_at.as_millis(),
                            &i64::try_from(m.revision).unwrap_or(i64::MAX),
                            &body,
                        ],
                    )?;
                    expect_one(changed, || {
                        format!("contact {} no longer exists", m.contact_id)
                    })?;
                }
                WriteOp::UpdateMemory {
                    record,
                    expected_revision,
                } => {
                    let body = memory_body(record)?;
                    let changed = exec(
                        &mut tx,
                        st,
                        "UPDATE memories SET revision = $1, body = $2, contact_id = $5 \
                         WHERE id = $3 AND org = $4 AND revision = $6 \
                         AND EXISTS (SELECT 1 FROM contacts WHERE id = $5 AND org = $4)",
                        &[
                            &i64::try_from(record.revision).unwrap_or(i64::MAX),
                            &body,
                            &record.id.0,
                            &org.0,
                            &record.contact_id.0,
                            &version_param(*expected_revision),
                        ],
                    )?;
                    expect_one(changed, || {
                        format!("memory {} changed since it was read", record.id)
                    })?;
                }
                WriteOp::DeleteMemory {
                    id,
                    expected_revision,
                } => {
                    let changed = exec(
                        &mut tx,
                        st,
                        "DELETE FROM memories WHERE id = $1 AND org = $2 AND revision = $3",
                        &[&id.0, &org.0, &version_param(*expected_revision)],
                    )?;
                    expect_one(changed, || format!("memory {id} changed since it was read"))?;
                }
            }
        }
        for id in touched.iter().filter(|id| !versioned.contains(id)) {
            exec(
                &mut tx,
                st,
                "UPDATE contacts SET version = version + 1 WHERE id = $1",
                &[&id.0],
            )?;
        }
        tx.commit().map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_validated() {
        for bad in ["", "Contacts", "1abc", "a-b", "a;drop", &"x".repeat(64)] {
            let err = Options::default().with_schema(bad).validate().unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "schema"),
                "{bad}: {err:?}"
            );
        }
        Options::default()
            .with_schema("contacts_test_42")
            .validate()
            .unwrap();
        assert!(Options::default().with_pool_size(0).validate().is_err());
    }

    #[test]
    fn a_malformed_url_names_the_field() {
        let err = PostgresStore::connect("postgres://host:notaport/db").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "url"),
            "{err:?}"
        );
    }
}
