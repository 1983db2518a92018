//! The identifier counts on each contact row (schema version 3, kept by triggers) agree
//! with the identifiers after every kind of change, since resolve decides caps and
//! compatibility from them.

mod common;

use contacts_core::{Config, Engine, IdentifierKind, OrgId, ResolveRequest, UpdateRequest};
use contacts_sqlite::SqliteStore;
use rusqlite::Connection;

fn org() -> OrgId {
    OrgId("11111111-2222-3333-4444-555555555555".parse().unwrap())
}

/// Contacts whose stored counts differ from their identifiers, with both.
fn wrong_counts(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT hex(c.id), c.phone_numbers, c.emails, c.external_ids, \
               (SELECT count(*) FROM identifiers i WHERE i.contact_id = c.id AND i.kind = 'phone_number'), \
               (SELECT count(*) FROM identifiers i WHERE i.contact_id = c.id AND i.kind = 'email'), \
               (SELECT count(*) FROM identifiers i WHERE i.contact_id = c.id AND i.kind = 'external_id') \
             FROM contacts c",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let row: (String, i64, i64, i64, i64, i64, i64) = (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        );
        Ok(row)
    })
    .unwrap()
    .map(Result::unwrap)
    .filter(|r| (r.1, r.2, r.3) != (r.4, r.5, r.6))
    .map(|r| format!("{r:?}"))
    .collect()
}

#[test]
fn counts_follow_attach_update_merge_detach_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counts.db");
    let config = Config::default().with_cap(IdentifierKind::PhoneNumber, 3);
    let engine = Engine::with_config(SqliteStore::open(&path).unwrap(), config).unwrap();
    let o = org();
    let a = engine
        .resolve(o, &ResolveRequest::new().with_phone("+14155550100"))
        .unwrap()
        .contact
        .id;
    // Attach by resolve and by update.
    engine
        .resolve(
            o,
            &ResolveRequest::new()
                .with_phone("+14155550100")
                .with_email("a@example.com"),
        )
        .unwrap();
    engine
        .update(
            o,
            a,
            &UpdateRequest::new()
                .with_phone("+14155550101")
                .with_external_id("crm-1"),
        )
        .unwrap();
    // Replace the external id (delete and insert in one batch).
    engine
        .update(o, a, &UpdateRequest::new().with_external_id("crm-2"))
        .unwrap();
    assert_eq!(wrong_counts(&path), Vec::<String>::new());
    let b = engine
        .resolve(
            o,
            &ResolveRequest::new()
                .with_phone("+14155550102")
                .with_email("b@example.com"),
        )
        .unwrap()
        .contact
        .id;
    // Merge moves b's identifiers to a.
    engine.merge(o, a, b).unwrap();
    assert_eq!(wrong_counts(&path), Vec::<String>::new());
    let merged = engine.get(o, a).unwrap();
    let phone = merged
        .identifiers
        .iter()
        .find(|i| i.identifier_type == IdentifierKind::PhoneNumber)
        .unwrap()
        .id;
    engine.detach(o, a, phone).unwrap();
    assert_eq!(wrong_counts(&path), Vec::<String>::new());
    assert_eq!(common::row_counts(&path), vec![(2, 2, 1)]);
    engine.delete(o, a).unwrap();
    assert_eq!(wrong_counts(&path), Vec::<String>::new());
}
