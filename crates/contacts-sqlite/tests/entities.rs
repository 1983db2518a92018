//! A memory record's entities, one row each (Store contract 18; migration 0011): an
//! entity write touches that entity's row alone, every other write none, and a
//! database whose records still hold their entities inline upgrades to the same
//! records.

mod common;

use contacts_core::{Engine, EntityUpsert, MemoryId, OrgId, ResolveRequest};
use contacts_sqlite::SqliteStore;
use rusqlite::Connection;
use serde_json::json;

fn org() -> OrgId {
    OrgId("11111111-2222-3333-4444-555555555555".parse().unwrap())
}

fn upsert(entity_id: &str, facts: serde_json::Value) -> EntityUpsert {
    EntityUpsert {
        entity_type: "order".into(),
        entity_id: entity_id.into(),
        facts: facts.as_object().cloned(),
        status: Some("open".into()),
        ..EntityUpsert::default()
    }
}

/// A record with `n` entities, each with a fact of about 1 KB.
fn record_with_entities(engine: &Engine<SqliteStore>, n: usize) -> MemoryId {
    let m = engine
        .resolve(
            org(),
            &ResolveRequest::new()
                .with_phone("+14155550123")
                .with_persona("p"),
        )
        .unwrap()
        .memory
        .unwrap()
        .id;
    for i in 0..n {
        engine
            .memory_upsert_entity(
                org(),
                m,
                &upsert(&format!("o-{i}"), json!({"items": "x".repeat(1000)})),
                None,
            )
            .unwrap();
    }
    m
}

/// Counts every row written to `memory_entities` from now on, through triggers kept in
/// the file (so writes by the store's own connection count).
fn count_entity_writes(conn: &Connection) {
    conn.execute_batch(
        "CREATE TABLE entity_writes (n INTEGER NOT NULL); INSERT INTO entity_writes VALUES (0);
         CREATE TRIGGER ew_i AFTER INSERT ON memory_entities BEGIN UPDATE entity_writes SET n = n + 1; END;
         CREATE TRIGGER ew_u AFTER UPDATE ON memory_entities BEGIN UPDATE entity_writes SET n = n + 1; END;
         CREATE TRIGGER ew_d AFTER DELETE ON memory_entities BEGIN UPDATE entity_writes SET n = n + 1; END;",
    )
    .unwrap();
}

fn entity_writes(conn: &Connection) -> i64 {
    conn.query_row("SELECT n FROM entity_writes", [], |r| r.get(0))
        .unwrap()
}

/// docs/semantics.md 6: an upsert of one entity among 50 writes one entity row, a
/// new entity one more, a removal one, and a summary or facts write none; the record
/// reads back whole and in order after each.
#[test]
fn an_entity_write_touches_its_own_row_alone() {
    let t = common::temp_store();
    let engine = Engine::new(t.store.clone());
    let m = record_with_entities(&engine, 50);
    let conn = Connection::open(common::path(&t)).unwrap();
    count_entity_writes(&conn);
    let order = |engine: &Engine<SqliteStore>| -> Vec<String> {
        engine
            .store()
            .memory_by_id(org(), m)
            .unwrap()
            .unwrap()
            .entities
            .iter()
            .map(|e| e.entity_id.clone())
            .collect()
    };
    use contacts_core::Store;
    let mut expected: Vec<String> = (0..50).map(|i| format!("o-{i}")).collect();

    let after = engine
        .memory_upsert_entity(org(), m, &upsert("o-7", json!({"status": "shipped"})), None)
        .unwrap();
    assert_eq!(entity_writes(&conn), 1, "one existing entity upserted");
    assert_eq!(after.entities[7].facts["status"], "shipped");
    assert_eq!(order(&engine), expected);

    engine
        .memory_upsert_entity(org(), m, &upsert("new", json!({})), None)
        .unwrap();
    expected.push("new".into());
    assert_eq!(entity_writes(&conn), 2, "one new entity");
    assert_eq!(order(&engine), expected);

    engine
        .memory_remove_entity(org(), m, "order", "o-3", None)
        .unwrap();
    expected.retain(|e| e != "o-3");
    assert_eq!(entity_writes(&conn), 3, "one removal");
    assert_eq!(order(&engine), expected);

    engine
        .memory_replace_summary(org(), m, "a summary", None)
        .unwrap();
    engine
        .memory_merge_facts(org(), m, json!({"tier": "gold"}).as_object().unwrap(), None)
        .unwrap();
    assert_eq!(entity_writes(&conn), 3, "no entity written by other writes");
    let record = engine.store().memory_by_id(org(), m).unwrap().unwrap();
    assert_eq!(record.summary.as_deref(), Some("a summary"));
    assert_eq!(order(&engine), expected);
    // Re-adding a removed entity puts it last, as the engine's list does.
    engine
        .memory_upsert_entity(org(), m, &upsert("o-3", json!({})), None)
        .unwrap();
    expected.push("o-3".into());
    assert_eq!(order(&engine), expected);
}

/// Migration 0011: a version-10 file, whose records hold their entities in the body,
/// opens with every record, entities included and in order, exactly as it was.
#[test]
fn records_with_inline_entities_upgrade_unchanged() {
    use contacts_core::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let m = record_with_entities(&engine, 5);
    engine
        .memory_upsert_entity(
            org(),
            m,
            &upsert("o-1", json!({"n": 1.5, "deep": {"a": [1, {"b": null}]}})),
            None,
        )
        .unwrap();
    let before = engine.store().memory_by_id(org(), m).unwrap().unwrap();
    drop(engine);
    // Back to version 10's form: the whole record in the body, no entity rows; and the
    // history table as it was before version 12 (empty: this test is about records).
    let conn = Connection::open(&path).unwrap();
    let whole = contacts_core::store::codec::encode_memory(&before).unwrap();
    conn.execute_batch(
        "DROP TABLE memory_entities; ALTER TABLE memories RENAME COLUMN core TO body; \
         DROP TABLE contact_history; \
         CREATE TABLE contact_history (org BLOB NOT NULL, contact_id BLOB NOT NULL, \
             version INTEGER NOT NULL, entry TEXT, redacted TEXT NOT NULL, \
             PRIMARY KEY (org, contact_id, version)) WITHOUT ROWID; \
         PRAGMA user_version = 10",
    )
    .unwrap();
    conn.execute("UPDATE memories SET body = ?1", [&whole])
        .unwrap();
    drop(conn);
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let after = engine.store().memory_by_id(org(), m).unwrap().unwrap();
    assert_eq!(after, before);
    let conn = Connection::open(&path).unwrap();
    let body: String = conn
        .query_row("SELECT core FROM memories", [], |r| r.get(0))
        .unwrap();
    assert!(
        !body.contains("\"entities\""),
        "entities moved out of the body: {body}"
    );
}
