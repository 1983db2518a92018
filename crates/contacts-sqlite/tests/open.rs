//! Opening databases: creation, reopening, bad files, newer schemas, durability.

mod common;

use contacts_core::{Engine, Error, OrgId, ResolveRequest};
use contacts_sqlite::{Durability, Options, SCHEMA_VERSION, SqliteStore};
use rusqlite::Connection;

fn org() -> OrgId {
    OrgId("11111111-2222-3333-4444-555555555555".parse().unwrap())
}

fn storage_message(result: Result<SqliteStore, Error>) -> String {
    match result {
        Err(e @ Error::Storage { .. }) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
        Err(other) => panic!("expected a storage error, got {other:?}"),
        Ok(_) => panic!("expected a storage error, the open succeeded"),
    }
}

#[test]
fn creates_a_missing_file_and_reopens_it_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let id = {
        let engine = Engine::new(SqliteStore::open(&path).unwrap());
        assert_eq!(engine.store().schema_version().unwrap(), SCHEMA_VERSION);
        engine
            .resolve(
                org(),
                &ResolveRequest::new()
                    .with_phone("+14155550192")
                    .with_name("Ana"),
            )
            .unwrap()
            .contact
            .id
    };
    assert!(path.exists());
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let again = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
        .unwrap();
    assert_eq!((again.contact.id, again.created), (id, false));
    assert_eq!(again.contact.name.as_deref(), Some("Ana"));
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database ".repeat(200)).unwrap();
    let message = storage_message(SqliteStore::open(&path));
    assert!(message.contains("not a SQLite database"), "{message}");
    // The file is left as it was.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("these are my notes")
    );
}

#[test]
fn a_database_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let message = storage_message(SqliteStore::open(&path));
    assert!(message.contains("schema version 99"), "{message}");
    assert!(
        message.contains(&format!("supports up to {SCHEMA_VERSION}")),
        "{message}"
    );
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let message = storage_message(SqliteStore::open(dir.path().join("no/such/dir/x.db")));
    assert!(message.contains("sqlite"), "{message}");
}

#[test]
fn an_empty_file_is_initialised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn the_schema_has_the_unique_owner_index() {
    let t = common::temp_store();
    let conn = Connection::open(common::path(&t)).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'identifiers_owner'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        sql.contains("UNIQUE") && sql.contains("(org, kind, value)"),
        "{sql}"
    );
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn full_durability_opens_and_works() {
    let t = common::temp_store_with(Options::default().with_durability(Durability::Full));
    let engine = Engine::new(t.store.clone());
    assert!(
        engine
            .resolve(org(), &ResolveRequest::new().with_email("full@example.com"))
            .unwrap()
            .created
    );
}

/// A database written by schema version 1 (before memory existed) is upgraded in
/// place: its contacts survive and memory works afterwards.
#[test]
fn upgrades_a_version_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        let contact = contacts_core::uuid::Uuid::from_u128(7);
        let org_bytes = org().0;
        conn.execute(
            "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
             VALUES (?1, ?2, 'Old Timer', '{\"source\":\"v1\"}', 1000, 1000, 1)",
            rusqlite::params![contact.as_bytes(), org_bytes.as_bytes()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
             VALUES (?1, ?2, ?3, 'phone_number', '+14155550100', 1)",
            rusqlite::params![
                contacts_core::uuid::Uuid::from_u128(8).as_bytes(),
                contact.as_bytes(),
                org_bytes.as_bytes()
            ],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    // Migration 3 counted the identifiers already there.
    assert_eq!(common::row_counts(&path), vec![(1, 0, 0)]);
    let engine = Engine::new(store);
    let out = engine
        .resolve(
            org(),
            &ResolveRequest::new()
                .with_phone("+14155550100")
                .with_persona("persona-1"),
        )
        .unwrap();
    assert!(!out.created);
    assert_eq!(out.contact.name.as_deref(), Some("Old Timer"));
    assert_eq!(out.memory_created, Some(true));
    let page = engine
        .list(org(), contacts_core::ListRequest::default())
        .unwrap();
    assert_eq!(page.data[0].memories.len(), 1);
}
