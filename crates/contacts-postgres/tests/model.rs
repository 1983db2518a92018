//! The model-based state-machine test and the differential test on PostgreSQL.
//!
//! Every case gets a fresh schema, so these default to 64 cases (each creates and
//! drops a schema); `PROPTEST_CASES` raises them like every other property test.

mod common;

use contacts_inmemory::InMemoryStore;
use contacts_testkit::differential::{ops, run_differential};
use contacts_testkit::machine::{StoreFactory, StoreMachine};
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

struct Pg;

impl StoreFactory for Pg {
    type Store = common::TempStore;
    fn make() -> common::TempStore {
        common::temp_store().expect("the test checked for a server first")
    }
}

fn config() -> Config {
    let mut config = contacts_testkit::machine::config();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

type Reference = <StoreMachine<Pg> as StateMachineTest>::Reference;

proptest! {
    #![proptest_config(config())]

    // `prop_state_machine!` spelled out, so the test can skip without a server.
    #[test]
    fn postgres_store_matches_the_model(
        (initial, transitions, seen) in Reference::sequential_strategy(1..48)
    ) {
        if common::url().is_none() {
            common::skip("postgres_store_matches_the_model");
            return Ok(());
        }
        StoreMachine::<Pg>::test_sequential(config(), initial, transitions, seen);
    }

    #[test]
    fn postgres_matches_in_memory(ops in ops(60)) {
        let Some(store) = common::temp_store() else {
            common::skip("postgres_matches_in_memory");
            return Ok(());
        };
        run_differential(InMemoryStore::new(), store, &ops);
    }
}
