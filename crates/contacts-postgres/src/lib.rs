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
//!   [`CommitError::Precondition`](contacts_core::store::CommitError); so does a
//!   serialization failure or a deadlock chosen by the server. Any other failure is
//!   [`CommitError::Backend`](contacts_core::store::CommitError), never retried as a
//!   race. The engine then re-reads and decides again (a bounded number of
//!   times), so resolve is serialisable across connections, processes and machines.
//! - Migrations are recorded in a `schema_migrations` table and applied in one
//!   transaction under an advisory lock; a schema newer than the build is refused.
//!
//! # Connections
//!
//! A pool ([`r2d2`]) of connections, each with its own prepared statements. A
//! connection the server closed (a restart, a failover, an idle timeout) is dropped
//! from the pool and replaced by a new one; the call that was using it when it died
//! fails with [`Error::Storage`](contacts_core::Error::Storage) and writes nothing, and the next call succeeds once
//! the server is back. Everything lives in one PostgreSQL schema (`contacts` by
//! default), set as each connection's `search_path`. Connections are unencrypted:
//! use a local socket, a private network or a TLS-terminating proxy.

//!
//! # Files
//!
//! `open.rs` (options, the pool, connecting), `reads.rs` (the read statements and row
//! decoding), `commit.rs` (one function per write operation), `hold.rs` (a memory
//! write that holds its record's row), `schema.rs` (migrations), `error.rs` (mapping
//! PostgreSQL's errors).

mod commit;
mod conversations;
mod create;
mod entities;
mod error;
mod events;
mod history;
mod hold;
mod open;
mod reads;
mod redirects;
mod schema;
mod switches;

pub use open::Options;
pub use schema::{SCHEMA_VERSION, migration_lock_key};

use std::sync::Arc;

use contacts_core::store::{
    CommitError, ContactRecord, IdentifierKey, ListPage, Owners, PageStart, WriteBatch,
};
use contacts_core::{
    ContactHistoryEntry, ContactId, ConversationKey, ConversationLog, EventLog, MemoryId,
    MemoryRecord, MemoryScope, MemorySwitch, MergeSnapshot, OrgId, Result, Store, SwitchKind,
};

use crate::open::Manager;

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

impl Store for PostgresStore {
    fn lookup(&self, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Owners> {
        reads::lookup(self, org, keys)
    }

    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
        reads::get_contact(self, org, id)
    }

    fn memory(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<Arc<MemoryRecord>>> {
        reads::memory(self, org, contact, scope)
    }

    fn memory_by_id(&self, org: OrgId, id: MemoryId) -> Result<Option<Arc<MemoryRecord>>> {
        reads::memory_by_id(self, org, id)
    }

    fn contact_version(&self, org: OrgId, id: ContactId) -> Result<Option<u64>> {
        reads::contact_version(self, org, id)
    }

    fn memory_revision(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &MemoryScope,
    ) -> Result<Option<(MemoryId, u64)>> {
        reads::memory_revision(self, org, contact, scope)
    }

    fn list(&self, org: OrgId, start: PageStart, limit: u64) -> Result<ListPage> {
        reads::list(self, org, start, limit)
    }

    fn history(
        &self,
        org: OrgId,
        contact: ContactId,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ContactHistoryEntry>> {
        history::read(self, org, contact, after, limit)
    }

    fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<EventLog> {
        events::read(self, org, after, limit)
    }

    fn redirect(&self, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
        redirects::read(self, org, id)
    }

    fn conversation(&self, org: OrgId, key: &ConversationKey) -> Result<Option<ConversationLog>> {
        conversations::read(self, org, key)
    }

    fn merge_snapshot(&self, org: OrgId, duplicate: ContactId) -> Result<Option<MergeSnapshot>> {
        redirects::snapshot(self, org, duplicate)
    }

    fn memory_switch(
        &self,
        org: OrgId,
        kind: SwitchKind,
        target_id: &str,
    ) -> Result<Option<MemorySwitch>> {
        switches::read(self, org, kind, target_id)
    }

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> std::result::Result<(), CommitError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn()?;
        commit::commit(&mut conn, org, batch)
    }

    fn commit_holding_memory(
        &self,
        org: OrgId,
        id: MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> std::result::Result<(), CommitError> {
        hold::commit(self, org, id, decide)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_core::Error;

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
