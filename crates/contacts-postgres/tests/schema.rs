//! The PostgreSQL schema as the catalog and the source show it: ready to distribute by
//! org (docs/scaling.md), and upgraded in place from the first version.

mod common;

use contacts_core::uuid::Uuid;
use contacts_core::{Engine, ListRequest, OrgId};
use contacts_postgres::{PostgresStore, SCHEMA_VERSION};

/// Every table the engine's data lives in carries `org`, and every primary key, unique
/// index, other index and foreign key starts with it (both ends of a foreign key), so
/// the schema can be distributed by `org` unchanged. `schema_migrations` is the one
/// table without it: a few rows of bookkeeping, a reference table on a cluster.
#[test]
fn schema_is_ready_to_shard() {
    let Some(t) = common::temp_store() else {
        common::skip("schema_is_ready_to_shard");
        return;
    };
    let schema = t.guard.schema.clone();
    let mut c = common::client(&schema);
    let tables: Vec<String> = c
        .query(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'schema_migrations' \
             ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "contact_history",
            "contacts",
            "conversations",
            "event_heads",
            "events",
            "identifiers",
            "memories",
            "memory_entities",
            "memory_switches",
            "org_counts",
            "redirects"
        ]
    );
    for table in &tables {
        let has_org: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2 AND column_name = 'org')",
                &[&schema, table],
            )
            .unwrap()
            .get(0);
        assert!(has_org, "{table} has no org column");
    }
    // Every index (primary keys and unique constraints included): its first key column.
    let indexes = c
        .query(
            "SELECT t.relname, i.relname, a.attname FROM pg_index AS x \
             JOIN pg_class AS i ON i.oid = x.indexrelid \
             JOIN pg_class AS t ON t.oid = x.indrelid \
             JOIN pg_namespace AS n ON n.oid = t.relnamespace \
             JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] \
             WHERE n.nspname = $1 AND t.relname <> 'schema_migrations'",
            &[&schema],
        )
        .unwrap();
    assert!(
        indexes.len() >= 10,
        "too few indexes found: {}",
        indexes.len()
    );
    for row in &indexes {
        let (table, index, first): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            first, "org",
            "index {index} on {table} does not start with org"
        );
    }
    // Every foreign key: the first column on both ends.
    let fks = c
        .query(
            "SELECT k.conname, a.attname, b.attname FROM pg_constraint AS k \
             JOIN pg_namespace AS n ON n.oid = k.connamespace \
             JOIN pg_attribute AS a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
             JOIN pg_attribute AS b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1] \
             WHERE n.nspname = $1 AND k.contype = 'f'",
            &[&schema],
        )
        .unwrap();
    assert_eq!(
        fks.len(),
        5,
        "identifiers, memories and redirects reference contacts; conversations and memory \
         entities, memories"
    );
    for row in &fks {
        let (name, from, to): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            (from.as_str(), to.as_str()),
            ("org", "org"),
            "foreign key {name}"
        );
    }
}

/// Every statement the store sends names `org` for every table it touches: a filter
/// `org = ...` or a join on `x.org = y.org` (a statement on a distributed table without
/// it would have to visit every node). Read from the source, so a new statement that
/// forgets it fails here.
#[test]
fn every_statement_filters_by_org() {
    let sources = [
        ("reads.rs", include_str!("../src/reads.rs")),
        ("commit.rs", include_str!("../src/commit.rs")),
        ("create.rs", include_str!("../src/create.rs")),
        ("events.rs", include_str!("../src/events.rs")),
        ("switches.rs", include_str!("../src/switches.rs")),
        ("redirects.rs", include_str!("../src/redirects.rs")),
        ("history.rs", include_str!("../src/history.rs")),
        ("entities.rs", include_str!("../src/entities.rs")),
    ];
    let table = regex::Regex::new(
        r"\b(FROM|JOIN|UPDATE|INTO) (contacts|contact_history|identifiers|memories|memory_entities|memory_switches|org_counts|redirects)\b(?: AS (\w+))?",
    )
    .unwrap();
    let mut checked = 0;
    for (file, source) in sources {
        for m in table.captures_iter(source) {
            let at = m.get(0).unwrap().end();
            // The rest of the statement's literal (SQL quotes with `'`, so the first
            // `"` ends it).
            let literal = &source[at..];
            let literal = &literal[..literal.find('"').unwrap_or(literal.len())];
            let ok = match (&m[1], m.get(3)) {
                // An insert names org among its columns.
                ("INTO", _) => {
                    literal.trim_start().starts_with('(')
                        && literal[..literal.find(')').unwrap_or(0)].contains("org")
                }
                // A join's own ON clause matches org.
                ("JOIN", Some(alias)) => {
                    let on = ["JOIN ", "WHERE ", "CROSS ", "ORDER ", ")"]
                        .iter()
                        .filter_map(|k| literal.find(k))
                        .min()
                        .map_or(literal, |end| &literal[..end]);
                    on.contains(&format!("{}.org", alias.as_str()))
                }
                (_, Some(alias)) => {
                    let a = alias.as_str();
                    literal.contains(&format!("{a}.org = "))
                        || literal.contains(&format!("= {a}.org"))
                }
                (_, None) => literal.contains("org = $"),
            };
            let rest = literal;
            assert!(ok, "{file}: `{}` without an org filter: {rest}", &m[0]);
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} statements found");
}

/// A schema at version 1 with data in it opens at the current version: the org counts
/// are filled from the rows, and the keys that now start with org keep every row.
#[test]
fn opens_a_version_1_schema_with_its_data() {
    let Some(url) = common::url() else {
        common::skip("opens_a_version_1_schema_with_its_data");
        return;
    };
    let schema = common::fresh_schema();
    let _guard = common::DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\";
         CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
         {}
         INSERT INTO schema_migrations (version, name) VALUES (1, 'initial');
         INSERT INTO contacts VALUES ('00000000-0000-7000-8000-000000000001',
             '11111111-2222-3333-4444-555555555555', 'Ana', '{{}}', 1, 1, 1);
         INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) VALUES
             ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001',
              '11111111-2222-3333-4444-555555555555', 'phone_number', '+14155550192', true);",
        include_str!("../migrations/0001_initial.sql")
    ))
    .unwrap();
    let options = common::test_options().with_schema(&schema);
    let store = PostgresStore::connect_with(&url, options).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let engine = Engine::new(store);
    let org = OrgId("11111111-2222-3333-4444-555555555555".parse().unwrap());
    let page = engine.list(org, ListRequest::default()).unwrap();
    assert_eq!(
        page.pagination.total, 1,
        "the count was filled from the rows"
    );
    assert_eq!(page.data[0].identifiers[0].identifier_value, "+14155550192");
    engine.delete(org, page.data[0].contact.id).unwrap();
    let page = engine.list(org, ListRequest::default()).unwrap();
    assert_eq!((page.pagination.total, page.data.len()), (0, 0));
}

/// With creation off, a missing schema is refused and stays missing; an existing one
/// opens.
#[test]
fn a_missing_schema_is_refused_when_creation_is_off() {
    let Some(url) = common::url() else {
        common::skip("a_missing_schema_is_refused_when_creation_is_off");
        return;
    };
    let schema = common::fresh_schema();
    let _drop = common::DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let options = || {
        contacts_postgres::Options::default()
            .with_schema(&schema)
            .with_pool_size(2)
    };
    let e = PostgresStore::connect_with(&url, options().with_create(false)).unwrap_err();
    let text = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(text.contains("does not exist"), "{text}");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let found = c
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .unwrap();
    assert!(found.is_none(), "nothing was created");
    drop(PostgresStore::connect_with(&url, options()).unwrap());
    let store = PostgresStore::connect_with(&url, options().with_create(false)).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

/// A memory record written before facts had a depth bound (nested past serde_json's
/// default limit of 128) stays readable, and repairable, on every path.
#[test]
fn a_record_deeper_than_any_bound_is_still_read_and_repaired() {
    let Some(t) = common::temp_store() else {
        common::skip("a_record_deeper_than_any_bound_is_still_read_and_repaired");
        return;
    };
    let schema = t.guard.schema.clone();
    let engine = Engine::new(t);
    let org: OrgId = "11111111-2222-3333-4444-555555555555".parse().unwrap();
    let contact = engine
        .resolve(
            org,
            &contacts_core::ResolveRequest::new().with_phone("+14155550177"),
        )
        .unwrap()
        .contact
        .id;
    let memory = engine
        .memory_create(org, contact, &contacts_core::ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    let mut c = common::client(&schema);
    let body: String = c
        .query_one("SELECT core FROM memories", &[])
        .unwrap()
        .get(0);
    let poisoned = body.replacen("\"facts\":{}", &format!("\"facts\":{{\"deep\":{deep}}}"), 1);
    assert_ne!(poisoned, body);
    c.execute("UPDATE memories SET core = $1", &[&poisoned])
        .unwrap();
    contacts_testkit::read_paths::every_path_reads_then_repairs(
        &engine,
        org,
        contact,
        "+14155550177",
        memory,
        "p",
    );
}

/// Store contract 10 (docs/semantics.md 7): delete and reset read only versions, so a
/// memory record that no longer decodes at all still goes with its reset or its
/// contact; the reads say it is corrupt instead of panicking.
#[test]
fn an_undecodable_record_is_still_reset_and_deleted() {
    let Some(t) = common::temp_store() else {
        common::skip("an_undecodable_record_is_still_reset_and_deleted");
        return;
    };
    let schema = t.guard.schema.clone();
    let engine = Engine::new(t);
    let org: OrgId = "11111111-2222-3333-4444-555555555555".parse().unwrap();
    let contacts = contacts_testkit::read_paths::two_contacts_with_memories(&engine, org);
    let mut c = common::client(&schema);
    c.execute("UPDATE memories SET core = '{\"not\": a record'", &[])
        .unwrap();
    contacts_testkit::read_paths::removal_survives_undecodable_records(&engine, org, contacts);
    let left: i64 = c
        .query_one("SELECT count(*) FROM memories", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the records went with their contacts");
}

/// Migration 0011: a version-10 schema, whose records hold their entities in the body,
/// opens with each record, entities included and in order, as it was; a body that is
/// not a record is left as it was, and still goes with a reset.
#[test]
fn records_with_inline_entities_upgrade_unchanged() {
    use contacts_core::{EntityUpsert, ScopeRequest, Store};
    let Some(url) = common::url() else {
        common::skip("records_with_inline_entities_upgrade_unchanged");
        return;
    };
    let options = common::test_options();
    let schema = options.schema.clone();
    let _guard = common::DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let org: OrgId = "11111111-2222-3333-4444-555555555555".parse().unwrap();
    let engine = Engine::new(PostgresStore::connect_with(&url, options.clone()).unwrap());
    let contact = engine
        .resolve(
            org,
            &contacts_core::ResolveRequest::new().with_phone("+14155550177"),
        )
        .unwrap()
        .contact
        .id;
    let m = engine
        .memory_create(org, contact, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    let damaged = engine
        .memory_create(org, contact, &ScopeRequest::persona("q"))
        .unwrap()
        .memory
        .id;
    for (i, facts) in [
        serde_json::json!({"n": 1.5, "s": "x"}),
        serde_json::json!({"deep": {"a": [1, {"b": null}]}}),
        serde_json::json!({}),
    ]
    .into_iter()
    .enumerate()
    {
        let upsert = EntityUpsert {
            entity_type: "order".into(),
            entity_id: format!("o-{i}"),
            facts: facts.as_object().cloned(),
            ..EntityUpsert::default()
        };
        engine.memory_upsert_entity(org, m, &upsert, None).unwrap();
    }
    let before = engine.store().memory_by_id(org, m).unwrap().unwrap();
    drop(engine);
    // Back to version 10's form: the whole record in the body, no entity rows.
    let whole = contacts_core::store::codec::encode_memory(&before).unwrap();
    let mut c = common::client(&schema);
    // Version 12 (identifier counts) goes too, so that 11 runs again.
    c.batch_execute(&format!(
        "{UNDO_12} DROP TABLE memory_entities; ALTER TABLE memories RENAME COLUMN core TO body; \
         DELETE FROM schema_migrations WHERE version >= 11"
    ))
    .unwrap();
    c.execute(
        "UPDATE memories SET body = $1 WHERE id = $2",
        &[&whole, &m.0],
    )
    .unwrap();
    c.execute(
        "UPDATE memories SET body = '{\"not\": a record' WHERE id = $1",
        &[&damaged.0],
    )
    .unwrap();
    let engine = Engine::new(PostgresStore::connect_with(&url, options).unwrap());
    assert_eq!(engine.store().schema_version().unwrap(), SCHEMA_VERSION);
    let after = engine.store().memory_by_id(org, m).unwrap().unwrap();
    assert_eq!(after, before);
    assert!(
        engine.store().memory_by_id(org, damaged).is_err(),
        "still damaged"
    );
    assert!(
        engine
            .memory_reset(org, contact, &ScopeRequest::persona("q"))
            .unwrap()
    );
}

/// What migration 0012 adds, taken away again.
const UNDO_12: &str = "DROP TRIGGER identifiers_count_insert ON identifiers; \
    DROP TRIGGER identifiers_count_delete ON identifiers; \
    DROP TRIGGER identifiers_count_update ON identifiers; \
    DROP FUNCTION identifier_counts_insert(); DROP FUNCTION identifier_counts_delete(); \
    DROP FUNCTION identifier_counts_update(); \
    ALTER TABLE contacts DROP COLUMN phone_numbers, DROP COLUMN emails, \
    DROP COLUMN external_ids;";

/// Contacts whose stored counts differ from their identifiers, as
/// `(id, stored, counted)`.
fn wrong_counts(c: &mut postgres::Client) -> Vec<(Uuid, Vec<i64>, Vec<i64>)> {
    c.query(
        "SELECT c.id, ARRAY[c.phone_numbers, c.emails, c.external_ids]::bigint[], \
           ARRAY[count(i.seq) FILTER (WHERE i.kind = 'phone_number'), \
                 count(i.seq) FILTER (WHERE i.kind = 'email'), \
                 count(i.seq) FILTER (WHERE i.kind = 'external_id')] \
         FROM contacts AS c LEFT JOIN identifiers AS i ON i.org = c.org AND i.contact_id = c.id \
         GROUP BY c.org, c.id \
         HAVING ARRAY[c.phone_numbers, c.emails, c.external_ids]::bigint[] <> \
           ARRAY[count(i.seq) FILTER (WHERE i.kind = 'phone_number'), \
                 count(i.seq) FILTER (WHERE i.kind = 'email'), \
                 count(i.seq) FILTER (WHERE i.kind = 'external_id')]",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// The counts on the contact row (migration 0012) follow every statement that changes
/// identifiers, the store's and hand-run ones alike (an older process, an operator):
/// inserts of one and of many, a move to another contact, a change of kind, an update
/// of `is_primary` alone (which writes no contact), deletes, and a contact's delete
/// cascading to its identifiers. A schema at version 11 with data gets its counts
/// filled on upgrade.
#[test]
fn identifier_counts_follow_every_statement() {
    use contacts_core::Store;
    let Some(url) = common::url() else {
        common::skip("identifier_counts_follow_every_statement");
        return;
    };
    let options = common::test_options();
    let schema = options.schema.clone();
    let _guard = common::DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let org: OrgId = "11111111-2222-3333-4444-555555555555".parse().unwrap();
    let engine = Engine::new(PostgresStore::connect_with(&url, options.clone()).unwrap());
    let resolve = |phone: &str, email: &str| {
        let req = contacts_core::ResolveRequest::new()
            .with_phone(phone)
            .with_email(email);
        engine.resolve(org, &req).unwrap().contact.id.0
    };
    let (a, b) = (
        resolve("+14155550101", "a@example.com"),
        resolve("+14155550102", "b@example.com"),
    );
    let mut c = common::client(&schema);
    assert_eq!(wrong_counts(&mut c), vec![], "after the store's own writes");
    let counts = |c: &mut postgres::Client, id: Uuid| -> (i32, i32, i32) {
        let r = c
            .query_one(
                "SELECT phone_numbers, emails, external_ids FROM contacts WHERE id = $1",
                &[&id],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(counts(&mut c, a), (1, 1, 0));
    let steps = [
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         SELECT gen_random_uuid(), c.id, c.org, 'external_id', 'x-' || c.id, false FROM contacts AS c",
        "UPDATE identifiers SET contact_id = '{b}' WHERE contact_id = '{a}' AND kind = 'email'",
        "UPDATE identifiers SET kind = 'external_id', value = 'was-a-phone' \
         WHERE contact_id = '{a}' AND kind = 'phone_number'",
        "UPDATE identifiers SET is_primary = NOT is_primary",
        "DELETE FROM identifiers WHERE contact_id = '{b}' AND kind = 'phone_number'",
    ];
    for step in steps {
        let sql = step
            .replace("{a}", &a.to_string())
            .replace("{b}", &b.to_string());
        c.batch_execute(&sql).unwrap();
        assert_eq!(wrong_counts(&mut c), vec![], "after {sql}");
    }
    assert_eq!(counts(&mut c, a), (0, 0, 2));
    assert_eq!(counts(&mut c, b), (0, 2, 1));
    // An update of `is_primary` alone writes no contact row.
    let xmin = |c: &mut postgres::Client| -> String {
        c.query_one("SELECT xmin::text FROM contacts WHERE id = $1", &[&a])
            .unwrap()
            .get(0)
    };
    let before = xmin(&mut c);
    c.batch_execute("UPDATE identifiers SET is_primary = NOT is_primary")
        .unwrap();
    assert_eq!(
        xmin(&mut c),
        before,
        "counts that do not move are not written"
    );
    // What the engine reads agrees, and decides from it: `b` now holds two emails.
    let owners = engine
        .store()
        .lookup(
            org,
            &[contacts_core::store::IdentifierKey {
                kind: contacts_core::IdentifierKind::Email,
                value: "b@example.com",
            }],
        )
        .unwrap();
    let owner = owners[0].as_ref().expect("b owns its email");
    assert_eq!(owner.contact.id.0, b);
    assert_eq!(
        owner.counts,
        contacts_core::store::KindCounts::from_counts(0, 2, 1)
    );
    c.execute("DELETE FROM contacts WHERE id = $1", &[&b])
        .unwrap();
    assert_eq!(wrong_counts(&mut c), vec![], "after a cascading delete");

    // Back to version 11 with the counts gone: the upgrade counts every contact again.
    drop(engine);
    c.batch_execute(&format!(
        "{UNDO_12} DELETE FROM schema_migrations WHERE version = 12"
    ))
    .unwrap();
    let store = PostgresStore::connect_with(&url, options).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(wrong_counts(&mut c), vec![], "after the upgrade");
    assert_eq!(counts(&mut c, a), (0, 0, 2));
}
