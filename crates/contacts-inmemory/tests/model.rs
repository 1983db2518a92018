//! The model-based state-machine test on the in-memory store.

use contacts_inmemory::InMemoryStore;
use contacts_testkit::machine::{StoreFactory, StoreMachine};
use proptest_state_machine::prop_state_machine;

struct InMemory;

impl StoreFactory for InMemory {
    type Store = InMemoryStore;
    fn make() -> InMemoryStore {
        InMemoryStore::new()
    }
}

prop_state_machine! {
    #![proptest_config(contacts_testkit::machine::config())]

    #[test]
    fn in_memory_store_matches_the_model(sequential 1..48 => StoreMachine<InMemory>);
}
