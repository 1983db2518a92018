//! Test support: each store lives in its own PostgreSQL schema, dropped afterwards, so
//! test runs (and tests within a run) never see each other's data.
//!
//! The server's URL comes from `CONTACTS_TEST_POSTGRES_URL`; without it every test
//! prints a visible SKIPPED line and passes without checking anything. `.ci/run`
//! always sets it.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use contacts_postgres::{Options, PostgresStore};
use contacts_testkit::Guarded;

pub const URL_VAR: &str = "CONTACTS_TEST_POSTGRES_URL";

/// The server's URL, or `None` (the caller skips).
pub fn url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|u| !u.trim().is_empty())
}

/// Says, past the test harness's output capture, that `test` did not run (once per
/// test name and process: a property test would otherwise say it for every case).
pub fn skip(test: &str) {
    static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if !SAID
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(test.to_owned())
    {
        return;
    }
    // Written to the process's stderr directly: libtest captures only the print
    // macros, and a skip that nobody sees is a silent pass.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {URL_VAR} is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
    );
}

/// A schema name unique to this process, this test and this moment.
pub fn fresh_schema() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "contacts_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops its schema (and everything in it) when dropped.
#[derive(Debug)]
pub struct DropSchema {
    pub url: String,
    pub schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ));
        }
    }
}

/// A [`PostgresStore`] in its own schema, dropped with the store.
pub type TempStore = Guarded<PostgresStore, DropSchema>;

/// Options for a test store: a fresh schema and a small pool (the server allows 100
/// connections in all, and tests run in parallel).
pub fn test_options() -> Options {
    Options::default()
        .with_schema(fresh_schema())
        .with_pool_size(4)
        .with_application_name("contacts-test")
}

pub fn temp_store_with(options: Options) -> Option<TempStore> {
    let url = url()?;
    let schema = options.schema.clone();
    // The guard exists before the store, so a failed open still drops the schema.
    let guard = DropSchema {
        url: url.clone(),
        schema,
    };
    let store = PostgresStore::connect_with(&url, options).expect("connect to the test server");
    Some(Guarded { store, guard })
}

pub fn temp_store() -> Option<TempStore> {
    temp_store_with(test_options())
}

/// A plain client on the test server with `search_path` set to `schema`.
pub fn client(schema: &str) -> postgres::Client {
    let mut c = postgres::Client::connect(&url().unwrap(), postgres::NoTls).unwrap();
    c.batch_execute(&format!("SET search_path TO \"{schema}\""))
        .unwrap();
    c
}

/// A fresh store, or (without a server) a visible skip and an early return.
#[macro_export]
macro_rules! pg_or_skip {
    () => {
        match common::temp_store() {
            Some(store) => store,
            None => {
                common::skip(concat!(module_path!(), ": all of its tests"));
                return;
            }
        }
    };
}
