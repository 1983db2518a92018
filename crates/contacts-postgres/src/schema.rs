//! Schema migrations: a version table in the store's schema, applied under an
//! advisory lock so that processes starting together do not collide.

use postgres::GenericClient;

use crate::error::PgError;

/// The schema version this build writes (the newest migration).
pub const SCHEMA_VERSION: i32 = 12;

/// `(version, name, sql)`, oldest first. Never edit one that has shipped: add another.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "org_counts",
        include_str!("../migrations/0002_org_counts.sql"),
    ),
    (
        3,
        "shard_ready",
        include_str!("../migrations/0003_shard_ready.sql"),
    ),
    (
        4,
        "memory_switches",
        include_str!("../migrations/0004_memory_switches.sql"),
    ),
    (
        5,
        "redirects",
        include_str!("../migrations/0005_redirects.sql"),
    ),
    (6, "history", include_str!("../migrations/0006_history.sql")),
    (7, "unmerge", include_str!("../migrations/0007_unmerge.sql")),
    (8, "events", include_str!("../migrations/0008_events.sql")),
    (
        9,
        "conversations",
        include_str!("../migrations/0009_conversations.sql"),
    ),
    (
        10,
        "event_heads_first",
        include_str!("../migrations/0010_event_heads_first.sql"),
    ),
    (
        11,
        "memory_entities",
        include_str!("../migrations/0011_memory_entities.sql"),
    ),
    (
        12,
        "identifier_counts",
        include_str!("../migrations/0012_identifier_counts.sql"),
    ),
];

/// The advisory-lock key of `schema`: FNV-1a of a fixed prefix and the name, so every
/// process computes the same key and different schemas do not contend.
/// The advisory lock that serialises DDL on `schema`: the migrations take it, and so
/// must any table an application creates beside the store's (`contacts-server` does
/// for its key table), or two processes starting on a fresh schema race to create the
/// same types (`pg_advisory_xact_lock(migration_lock_key(schema))` in the transaction
/// that runs the DDL).
pub fn migration_lock_key(schema: &str) -> i64 {
    lock_key(schema)
}

fn lock_key(schema: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "contacts-postgres/migrate/".bytes().chain(schema.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Whether `schema` exists (the tables may still be missing: `migrate` makes them).
pub(crate) fn exists(client: &mut postgres::Client, schema: &str) -> Result<bool, PgError> {
    client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .map(|row| row.is_some())
        .map_err(PgError::Postgres)
}

/// Brings `schema` up to [`SCHEMA_VERSION`] in one transaction.
///
/// The transaction first takes a transaction-scoped advisory lock, so a second
/// process migrating at the same time waits, then sees the finished work and does
/// nothing. A schema newer than this build is refused.
pub(crate) fn migrate(client: &mut postgres::Client, schema: &str) -> Result<i32, PgError> {
    let mut tx = client.transaction().map_err(PgError::Postgres)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(schema)])
        .map_err(PgError::Postgres)?;
    // `schema` is a validated identifier (see `Options::with_schema`), so quoting it
    // is enough to make it safe in DDL.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         SET LOCAL search_path TO \"{schema}\";
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    ))
    .map_err(PgError::Postgres)?;
    let found = current(&mut tx)?;
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        tx.batch_execute(sql).map_err(PgError::Postgres)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .map_err(PgError::Postgres)?;
    }
    tx.commit().map_err(PgError::Postgres)?;
    Ok(SCHEMA_VERSION)
}

/// The newest applied migration, 0 for an empty schema.
pub(crate) fn current(client: &mut impl GenericClient) -> Result<i32, PgError> {
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(PgError::Postgres)?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_per_schema() {
        assert_eq!(lock_key("contacts"), lock_key("contacts"));
        assert_ne!(lock_key("contacts"), lock_key("contacts_test"));
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, (v, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i32::try_from(i).unwrap() + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().0, SCHEMA_VERSION);
    }
}
