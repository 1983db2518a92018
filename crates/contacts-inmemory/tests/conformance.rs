//! The whole conformance suite on the in-memory store.

contacts_testkit::conformance_tests!(contacts_inmemory::InMemoryStore::new());
