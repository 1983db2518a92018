//! Schema migrations, tracked with `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::SqliteError;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only: a released
/// migration is never edited.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_memories.sql"),
    include_str!("../migrations/0003_identifier_counts.sql"),
    include_str!("../migrations/0004_org_counts.sql"),
    include_str!("../migrations/0005_memory_switches.sql"),
    include_str!("../migrations/0006_redirects.sql"),
    include_str!("../migrations/0007_history.sql"),
    include_str!("../migrations/0008_unmerge.sql"),
    include_str!("../migrations/0009_events.sql"),
    include_str!("../migrations/0010_conversations.sql"),
    include_str!("../migrations/0011_memory_entities.sql"),
    include_str!("../migrations/0012_history_rowid.sql"),
];

/// The schema version this code writes (and the newest it opens).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`] in one IMMEDIATE transaction, so two
/// processes opening a new file at once cannot both migrate it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SqliteError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(SqliteError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(SqliteError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for sql in &MIGRATIONS[found as usize..] {
        tx.execute_batch(sql)?;
    }
    if found < SCHEMA_VERSION {
        // PRAGMA takes no bound parameters; the value is our own constant.
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    }
    tx.commit()?;
    Ok(())
}

/// The version a database is at.
pub(crate) fn version(conn: &Connection) -> Result<i64, SqliteError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}
