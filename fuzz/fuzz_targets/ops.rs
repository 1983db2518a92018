//! Operation sequences: in-memory store checked against the reference model, and
//! differentially against SQLite (in-memory database).
#![no_main]

use contacts_testkit::fuzz::fuzz_ops;
use contacts_testkit::machine::StoreFactory;

struct InMemory;
impl StoreFactory for InMemory {
    type Store = contacts_inmemory::InMemoryStore;
    fn make() -> Self::Store {
        contacts_inmemory::InMemoryStore::new()
    }
}

struct Sqlite;
impl StoreFactory for Sqlite {
    type Store = contacts_sqlite::SqliteStore;
    fn make() -> Self::Store {
        contacts_sqlite::SqliteStore::open_in_memory().expect("in-memory sqlite")
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_ops::<InMemory, Sqlite>(data));
