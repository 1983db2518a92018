//! How the SQLite store keeps history entries (migration 0012): once, in a rowid table,
//! so an entry stays on its b-tree page instead of taking an overflow page of its own;
//! an erasure replaces each whole entry by its redacted form; and a file of an earlier
//! version upgrades with every entry as it was.

use contacts_core::store::codec;
use contacts_core::uuid::Uuid;
use contacts_core::{ContactId, Engine, OrgId, ResolveRequest, UpdateRequest};
use contacts_sqlite::SqliteStore;
use rusqlite::Connection;
use serde_json::json;

fn org() -> OrgId {
    OrgId(Uuid::from_u128(0x0199_0000_0000_7000_8000_0000_0000_0012))
}

fn person(i: u64) -> ResolveRequest {
    ResolveRequest::new()
        .with_phone(format!("+1212{i:07}"))
        .with_email(format!("person{i}@example.com"))
        .with_external_id(format!("crm-{i}"))
        .with_name(format!("Person {i}"))
        .with_metadata(json!({"source": "import"}))
}

/// A row of the history table: org, contact, version, whole entry, redacted form.
type StoredEntry = (Vec<u8>, Vec<u8>, i64, Option<String>, Option<String>);

/// Every entry of `ids`, in order, as the engine reads them.
fn histories(engine: &Engine<SqliteStore>, ids: &[ContactId]) -> Vec<String> {
    ids.iter()
        .flat_map(|id| engine.history(org(), *id, 0, 200).unwrap().entries)
        .map(|e| serde_json::to_string(&e).unwrap())
        .collect()
}

/// An imported person (three identifiers, a name, a metadata key) costs the file less
/// than half a page (1.9 KB): with the entries in a WITHOUT ROWID table each entry took
/// an overflow page, 5.7 KB a person, and with the redacted form stored beside each
/// entry, in a rowid table, 3.1 KB (docs/benchmarks.md, "History in a rowid table").
#[test]
fn a_created_contact_takes_no_page_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let n = 2_000;
    let requests: Vec<ResolveRequest> = (0..n).map(person).collect();
    for chunk in requests.chunks(500) {
        for outcome in engine.resolve_many(org(), chunk).unwrap() {
            assert!(outcome.unwrap().created);
        }
    }
    drop(engine);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let per_contact = pages * page_size / n as i64;
    assert!(
        per_contact < page_size / 2,
        "{per_contact} bytes per contact ({pages} pages of {page_size} bytes)"
    );
}

/// Migration 0012: a version-11 file, its entries in the WITHOUT ROWID table, opens
/// with every entry (an erased contact's redacted ones included) exactly as it was, and
/// new entries follow them.
#[test]
fn history_upgrades_from_version_11_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let ids: Vec<ContactId> = (0..3)
        .map(|i| engine.resolve(org(), &person(i)).unwrap().contact.id)
        .collect();
    engine
        .update(org(), ids[0], &UpdateRequest::new().with_name("Ana"))
        .unwrap();
    engine.delete(org(), ids[2]).unwrap();
    let before = histories(&engine, &ids);
    assert!(before.len() >= 4, "{before:?}");
    drop(engine);
    // Back to version 11's table: every entry whole and redacted, or (erased) redacted
    // alone.
    let conn = Connection::open(&path).unwrap();
    let rows: Vec<StoredEntry> = conn
        .prepare("SELECT org, contact_id, version, entry, erased FROM contact_history")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        rows.iter().any(|r| r.4.is_some()),
        "the erased contact's rows"
    );
    conn.execute_batch(
        "DROP TABLE contact_history;
         CREATE TABLE contact_history (
             org BLOB NOT NULL, contact_id BLOB NOT NULL, version INTEGER NOT NULL,
             entry TEXT, redacted TEXT NOT NULL,
             PRIMARY KEY (org, contact_id, version)
         ) WITHOUT ROWID;
         PRAGMA user_version = 11;",
    )
    .unwrap();
    for (org, contact, version, entry, erased) in rows {
        let redacted = match (&entry, erased) {
            (Some(whole), None) => codec::redact_history(whole).unwrap(),
            (None, Some(redacted)) => redacted,
            other => panic!("exactly one form is stored: {other:?}"),
        };
        conn.execute(
            "INSERT INTO contact_history VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![org, contact, version, entry, redacted],
        )
        .unwrap();
    }
    drop(conn);
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    assert_eq!(histories(&engine, &ids), before);
    // The next entry of a contact follows its upgraded ones.
    let entries = |id| engine.history(org(), id, 0, 200).unwrap().entries;
    let was = entries(ids[1]);
    engine
        .update(org(), ids[1], &UpdateRequest::new().with_name("Bo"))
        .unwrap();
    let now = entries(ids[1]);
    assert_eq!(now[..was.len()], was[..]);
    assert_eq!(now.len(), was.len() + 1);
    assert_eq!(now[was.len()].version, was[was.len() - 1].version + 1);
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, contacts_sqlite::SCHEMA_VERSION);
    // Rebuilt, not left as it was: the entries are in a rowid table now.
    let table: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'contact_history'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!table.contains("WITHOUT ROWID"), "{table}");
    drop(conn);

    // An upgraded entry is erased like a new one.
    engine.delete(org(), ids[1]).unwrap();
    let conn = Connection::open(&path).unwrap();
    let stored: String = conn
        .query_row(
            "SELECT group_concat(coalesce(entry, '') || coalesce(erased, ''), ' ') \
             FROM contact_history WHERE contact_id = ?1",
            [ids[1].0.as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    for personal in [
        "Person 1",
        "Bo",
        "person1@example.com",
        "+12120000001",
        "crm-1",
    ] {
        assert!(!stored.contains(personal), "{personal} survived: {stored}");
    }
    // Every row of the erased contact holds a redacted entry (the delete's own entry,
    // written after the erasure, is redacted as it is made).
    let entries: Vec<String> = conn
        .prepare("SELECT coalesce(entry, erased) FROM contact_history WHERE contact_id = ?1")
        .unwrap()
        .query_map([ids[1].0.as_bytes()], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(entries.len() >= 3, "{entries:?}");
    for text in entries {
        assert!(codec::decode_history(&text).unwrap().redacted, "{text}");
    }
}

/// A process of version 11 beside a version-12 file fails, rather than write an entry
/// in two forms, read a column that is gone, or erase by clearing the whole entry and
/// leave nothing readable (migration 0012).
#[test]
fn an_earlier_process_fails_rather_than_use_the_old_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    let id = engine.resolve(org(), &person(7)).unwrap().contact.id;
    let before = histories(&engine, &[id]);
    drop(engine);
    let conn = Connection::open(&path).unwrap();
    let (org_bytes, contact) = (org().0.as_bytes().to_vec(), id.0.as_bytes().to_vec());
    // Version 11's append, read and erasure, word for word.
    assert!(
        conn.execute(
            "INSERT INTO contact_history (org, contact_id, version, entry, redacted) \
             VALUES (?1, ?2, 9, '{}', '{}')",
            rusqlite::params![org_bytes, contact],
        )
        .is_err()
    );
    assert!(
        conn.prepare("SELECT coalesce(entry, redacted) FROM contact_history")
            .is_err()
    );
    assert!(
        conn.execute(
            "UPDATE contact_history SET entry = NULL WHERE org = ?1 AND entry IS NOT NULL \
             AND (contact_id = ?2 OR contact_id IN \
                  (SELECT from_id FROM redirects WHERE org = ?1 AND to_id = ?2))",
            rusqlite::params![org_bytes, contact],
        )
        .is_err()
    );
    drop(conn);
    let engine = Engine::new(SqliteStore::open(&path).unwrap());
    assert_eq!(histories(&engine, &[id]), before, "nothing was changed");
}
