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

/// The identifier counts (phones, emails, external ids) on the contact rows of the file
/// at `path`, read with a connection of its own.
pub fn row_counts(path: &std::path::Path) -> Vec<(i64, i64, i64)> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT phone_numbers, emails, external_ids FROM contacts ORDER BY created_at, id")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}
