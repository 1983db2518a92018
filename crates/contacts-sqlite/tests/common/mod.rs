//! Test support: a store on a fresh temporary file that deletes itself when dropped.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;

use contacts_core::{
    ContactId, IdentifierKey, ListPage, OrgId, Result, Store, StoredContact, WriteBatch,
};
use contacts_sqlite::{Options, SqliteStore};
use tempfile::TempDir;

/// A [`SqliteStore`] on a file in its own temporary directory.
#[derive(Debug)]
pub struct TempStore {
    pub store: SqliteStore,
    pub path: PathBuf,
    _dir: TempDir,
}

impl TempStore {
    pub fn new() -> Self {
        Self::with(Options::default())
    }

    pub fn with(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("contacts.db");
        let store = SqliteStore::open_with(&path, options).expect("open sqlite store");
        TempStore {
            store,
            path,
            _dir: dir,
        }
    }
}

#[deny(clippy::missing_trait_methods)]
impl Store for TempStore {
    fn lookup(
        &self,
        org: OrgId,
        keys: &[IdentifierKey<'_>],
    ) -> Result<Vec<Option<Arc<StoredContact>>>> {
        self.store.lookup(org, keys)
    }
    fn get(&self, org: OrgId, id: ContactId) -> Result<Option<Arc<StoredContact>>> {
        self.store.get(org, id)
    }
    fn list(&self, org: OrgId, offset: u64, limit: u64) -> Result<ListPage> {
        self.store.list(org, offset, limit)
    }
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<()> {
        self.store.commit(org, batch)
    }
}
