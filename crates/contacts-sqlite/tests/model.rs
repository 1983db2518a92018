//! The model-based state-machine test on SQLite.

mod common;

use contacts_testkit::machine::{StoreFactory, StoreMachine};
use proptest_state_machine::prop_state_machine;

struct SqliteFile;

impl StoreFactory for SqliteFile {
    type Store = common::TempStore;
    fn make() -> common::TempStore {
        common::temp_store()
    }
}

prop_state_machine! {
    #![proptest_config(contacts_testkit::machine::config())]

    #[test]
    fn sqlite_store_matches_the_model(sequential 1..48 => StoreMachine<SqliteFile>);
}
