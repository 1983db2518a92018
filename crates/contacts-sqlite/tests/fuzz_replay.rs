//! Replays every committed seed and regression input of the `ops` fuzz target (the
//! in-memory store against the model, differentially against SQLite) on stable.

use std::path::Path;

use contacts_testkit::fuzz::{corpus, fuzz_ops};
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

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn replay_ops() {
    for (path, bytes) in corpus(root(), "ops") {
        eprintln!("replaying {}", path.display());
        fuzz_ops::<InMemory, Sqlite>(&bytes);
    }
}
