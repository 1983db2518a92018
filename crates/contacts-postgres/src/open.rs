//! Connecting: options, the pool and its connections (each with its own prepared
//! statements), migrations on first connect.

use std::collections::HashMap;
use std::time::Duration;

use contacts_core::{Error, Result};
use postgres::types::ToSql;
use postgres::{GenericClient, NoTls, Row, Statement};

use crate::PostgresStore;
use crate::error::{PgError, read_error};
use crate::schema;

/// How to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The PostgreSQL schema that holds the tables; created if missing (see
    /// [`Options::create`]). Default `contacts`. Lower-case letters, digits and `_`, not
    /// starting with a digit.
    pub schema: String,
    /// Most connections the pool opens. Default 16.
    pub pool_size: u32,
    /// How long a call waits for a free connection, and how long connecting may take.
    /// Default 5 s.
    pub timeout: Duration,
    /// `application_name` of the connections (shows in `pg_stat_activity`). Default
    /// `contacts`.
    pub application_name: String,
    /// Create the schema when it does not exist; default on. Off, connecting to a
    /// missing schema fails, so a mistyped schema never becomes a new empty one.
    pub create: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schema: "contacts".to_owned(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
            application_name: "contacts".to_owned(),
            create: true,
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

    /// Creates a missing schema, or refuses it (see [`Options::create`]).
    #[must_use]
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Sets the application name.
    #[must_use]
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
pub(crate) struct Conn {
    pub(crate) client: postgres::Client,
    pub(crate) statements: HashMap<&'static str, Statement>,
}

/// A connection for one call: from the pool, or lent by a held memory write.
pub(crate) enum Borrowed {
    Pooled(r2d2::PooledConnection<Manager>),
    /// Given back to the lender when dropped.
    Lent(crate::hold::Loan),
}

impl std::ops::Deref for Borrowed {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            Borrowed::Pooled(c) => c,
            Borrowed::Lent(loan) => loan,
        }
    }
}

impl std::ops::DerefMut for Borrowed {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            Borrowed::Pooled(c) => c,
            Borrowed::Lent(loan) => loan,
        }
    }
}

/// Opens connections for the pool.
#[derive(Debug)]
pub(crate) struct Manager {
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

/// Prepares `sql` on this connection once and reuses it: one round trip per
/// statement afterwards instead of two.
pub(crate) fn prepared(
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
    /// The example runs where `CONTACTS_TEST_POSTGRES_URL` names a server (CI sets it),
    /// in a schema of its own:
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_postgres::{Options, PostgresStore};
    ///
    /// # let Ok(url) = std::env::var("CONTACTS_TEST_POSTGRES_URL") else { return Ok(()) };
    /// let options = Options::default().with_schema("contacts_doc_example");
    /// let engine = Engine::new(PostgresStore::connect_with(&url, options)?);
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// let out = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// assert!(out.created);
    /// // `PostgresStore::connect(&url)` is the same with the default schema, `contacts`.
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`] when the server cannot be reached or the schema cannot be
    /// migrated (including a schema written by a newer build).
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Options::default())
    }

    /// Connects with `options`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use contacts_postgres::{Options, PostgresStore};
    ///
    /// # let Ok(url) = std::env::var("CONTACTS_TEST_POSTGRES_URL") else { return Ok(()) };
    /// let options = Options::default()
    ///     .with_schema("contacts_doc_example")
    ///     .with_pool_size(4)
    ///     .with_timeout(Duration::from_secs(2))
    ///     .with_application_name("my-app");
    /// let store = PostgresStore::connect_with(&url, options)?;
    /// assert_eq!(store.schema(), "contacts_doc_example");
    /// // A bad option is refused before anything is contacted.
    /// let bad = Options::default().with_schema("Bad-Name");
    /// assert!(PostgresStore::connect_with(&url, bad).is_err());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URL or options; [`Error::Storage`] for a
    /// missing schema when [`Options::create`] is off; otherwise as
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
            // default would keep re-planning the lookup (its custom plans look cheaper
            // than the generic one for an `unnest` of unknown length), which measured
            // as about 0.3 ms per hit. No JIT: every statement touches a few rows, and
            // on a table whose statistics are stale (right after a bulk load) the
            // planner's cost estimate crosses `jit_above_cost` and compiling the plan
            // took 12 ms at 200,000 contacts and 160 ms at 1,000,000 for a first page
            // that runs in under 1 ms.
            .options(&format!(
                "-c search_path={} -c plan_cache_mode=force_generic_plan -c jit=off",
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
        if !options.create && !schema::exists(&mut conn.client, &store.schema)? {
            return Err(PgError::Missing(store.schema.clone()).into());
        }
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

    /// The connection a held memory write on this thread lends to its decision's reads
    /// (`hold.rs`), or else a live connection from the pool.
    pub(crate) fn conn(&self) -> Result<Borrowed> {
        if let Some(conn) = crate::hold::borrow(self) {
            return Ok(conn);
        }
        Ok(Borrowed::Pooled(self.pooled()?))
    }

    /// A live connection from the pool. Connections the server closed are skipped
    /// (r2d2 discards them when they are handed back), so after a restart the first
    /// calls get fresh connections instead of dead ones.
    pub(crate) fn pooled(&self) -> Result<r2d2::PooledConnection<Manager>> {
        for _ in 0..=self.pool.max_size() {
            let conn = self.pool.get().map_err(PgError::Pool)?;
            if !conn.client.is_closed() {
                return Ok(conn);
            }
        }
        Ok(self.pool.get().map_err(PgError::Pool)?)
    }

    /// Runs one read statement.
    pub(crate) fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let stmt = prepared(client, statements, sql).map_err(read_error)?;
        client.query(&stmt, params).map_err(read_error)
    }
}
