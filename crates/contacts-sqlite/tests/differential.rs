//! The same random operation sequences (fixed clock and id generator) on the
//! in-memory store and the SQLite store give identical JSON at every step.

mod common;

use contacts_inmemory::InMemoryStore;
use contacts_testkit::differential::{ops, run_differential};
use proptest::prelude::*;

proptest! {
    #![proptest_config(contacts_testkit::machine::config())]

    #[test]
    fn sqlite_file_matches_in_memory(ops in ops(60)) {
        run_differential(InMemoryStore::new(), common::temp_store(), &ops);
    }

    #[test]
    fn sqlite_in_memory_matches_in_memory(ops in ops(60)) {
        run_differential(
            InMemoryStore::new(),
            contacts_sqlite::SqliteStore::open_in_memory().unwrap(),
            &ops,
        );
    }
}
