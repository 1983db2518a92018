//! Test support: a store on a fresh temporary file that deletes itself when dropped.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use contacts_sqlite::{Options, SqliteStore};
use contacts_testkit::Guarded;
use tempfile::TempDir;

/// A [`SqliteStore`] on `contacts.db` in its own temporary directory.
pub type TempStore = Guarded<SqliteStore, TempDir>;

pub fn temp_store() -> TempStore {
    temp_store_with(Options::default())
}

pub fn temp_store_with(options: Options) -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteStore::open_with(dir.path().join("contacts.db"), options).expect("open sqlite store");
    Guarded { store, guard: dir }
}

pub fn path(t: &TempStore) -> PathBuf {
    t.guard.path().join("contacts.db")
}
