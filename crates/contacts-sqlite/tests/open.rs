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

#[test]
fn a_missing_file_is_refused_when_creation_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let message = storage_message(SqliteStore::open_with(
        &path,
        Options::default().with_create(false),
    ));
    assert!(message.contains("typo.db does not exist"), "{message}");
    assert!(!path.exists(), "nothing was created");
}

/// docs/architecture.md, "CLI" (closing): a store that is dropped leaves one file,
/// whatever connections it had, so copying that file copies everything.
#[test]
fn closing_the_store_folds_the_wal_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let wal = dir.path().join("contacts.db-wal");
    {
        let engine = Engine::new(SqliteStore::open(&path).unwrap());
        for i in 0..200 {
            let phone = format!("+1415555{i:04}");
            engine
                .resolve(org(), &ResolveRequest::new().with_phone(phone))
                .unwrap();
        }
        // Reads through the reader connections and the cache, as a server's would.
        engine
            .resolve(org(), &ResolveRequest::new().with_phone("+14155550007"))
            .unwrap();
        assert!(
            wal.exists(),
            "the data is in the WAL while the store is open"
        );
    }
    assert!(
        !wal.exists(),
        "the WAL was checkpointed and removed on close"
    );
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let engine = Engine::new(SqliteStore::open(&copy).unwrap());
    let again = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550199"))
        .unwrap();
    assert!(
        !again.created,
        "the plain copy of the file holds every contact"
    );
}

#[test]
fn a_backup_is_consistent_while_another_thread_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let store = SqliteStore::open(&path).unwrap();
    let engine = std::sync::Arc::new(Engine::new(store.clone()));
    for i in 0..100 {
        engine
            .resolve(
                org(),
                &ResolveRequest::new().with_phone(format!("+1415555{i:04}")),
            )
            .unwrap();
    }
    let writer = {
        let engine = std::sync::Arc::clone(&engine);
        std::thread::spawn(move || {
            for i in 100..1100 {
                engine
                    .resolve(
                        org(),
                        &ResolveRequest::new().with_phone(format!("+1415555{i:04}")),
                    )
                    .unwrap();
            }
        })
    };
    let copy = dir.path().join("backup.db");
    store.backup_to(&copy).unwrap();
    writer.join().unwrap();
    assert!(
        !dir.path().join("backup.db-wal").exists(),
        "the backup is one file"
    );
    let message = storage_message(store.backup_to(&copy).map(|()| store.clone()));
    assert!(message.contains("already exists"), "{message}");

    // The copy is one moment of the database: every contact it has is whole, its count
    // (kept by triggers in the same transactions) equals its rows, and it holds at
    // least what was committed before the backup began.
    let conn = Connection::open(&copy).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .unwrap();
    let identifiers: i64 = conn
        .query_row("SELECT count(*) FROM identifiers", [], |r| r.get(0))
        .unwrap();
    let counted: i64 = conn
        .query_row(
            "SELECT coalesce(sum(contacts), 0) FROM org_counts",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!((100..=1100).contains(&rows), "{rows}");
    assert_eq!(identifiers, rows, "each contact has its one phone");
    assert_eq!(counted, rows, "the count and the rows are from one moment");
    drop(conn);
    let check = Engine::new(SqliteStore::open(&copy).unwrap());
    assert!(
        !check
            .resolve(org(), &ResolveRequest::new().with_phone("+14155550050"))
            .unwrap()
            .created
    );
}

/// A memory record written before facts had a depth bound (nested past serde_json's
/// default limit of 128) stays readable, and repairable, on every path.
#[test]
fn a_record_deeper_than_any_bound_is_still_read_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let contact = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550177"))
        .unwrap()
        .contact
        .id;
    let memory = engine
        .memory_create(org(), contact, &contacts_core::ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    let conn = Connection::open(&path).unwrap();
    let body: String = conn
        .query_row("SELECT core FROM memories", [], |r| r.get(0))
        .unwrap();
    let poisoned = body.replacen("\"facts\":{}", &format!("\"facts\":{{\"deep\":{deep}}}"), 1);
    assert_ne!(poisoned, body);
    conn.execute("UPDATE memories SET core = ?1", [&poisoned])
        .unwrap();
    drop(conn);
    // A fresh store, so nothing is answered from what it cached.
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    contacts_testkit::read_paths::every_path_reads_then_repairs(
        &engine,
        org(),
        contact,
        "+14155550177",
        memory,
        "p",
    );
}

/// Store contract 10 (docs/semantics.md 7): delete and reset read only versions, so a
/// memory record that no longer decodes at all (damaged on disk, say) still goes with
/// its reset or its contact; the reads say it is corrupt instead of panicking.
#[test]
fn an_undecodable_record_is_still_reset_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let contacts = contacts_testkit::read_paths::two_contacts_with_memories(&engine, org());
    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE memories SET core = '{\"not\": a record'", [])
        .unwrap();
    // A fresh store, so nothing is answered from what it cached.
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    contacts_testkit::read_paths::removal_survives_undecodable_records(&engine, org(), contacts);
    let left: i64 = conn
        .query_row("SELECT count(*) FROM memories", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "the records went with their contacts");
}
