//! The whole conformance suite on SQLite: on a temporary file (WAL, reader
//! connections, the read cache), without readers, without the cache, with
//! `Durability::Full` (so with group commit), and on an in-memory database (one
//! connection).

mod common;

mod file {
    contacts_testkit::conformance_tests!(super::common::temp_store());
}

mod file_without_readers {
    contacts_testkit::conformance_tests!(super::common::temp_store_with(
        contacts_sqlite::Options::default().with_readers(0)
    ));
}

mod file_without_cache {
    contacts_testkit::conformance_tests!(super::common::temp_store_with(
        contacts_sqlite::Options::default().with_cache_entries(0)
    ));
}

mod file_full_durability {
    contacts_testkit::conformance_tests!(super::common::temp_store_with(
        contacts_sqlite::Options::default().with_durability(contacts_sqlite::Durability::Full)
    ));
}

mod in_memory {
    contacts_testkit::conformance_tests!(contacts_sqlite::SqliteStore::open_in_memory().unwrap());
}
