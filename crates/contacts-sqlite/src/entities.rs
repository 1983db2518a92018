//! A memory record's entities, one row each (the Store contract, rule 18; migration
//! 0011): a write stores the entities it changed and no others, and a read puts the
//! record's document back together in the statement that reads it.

use contacts_core::MemoryRecord;
use contacts_core::store::{CommitError, EntityWrites, codec};
use rusqlite::{Connection, params};

use crate::error::{BACKEND, commit_error};

/// The record's whole document, from `m.core` (the record without its entities) and
/// its entity rows in order: the body's closing brace gives way to an `entities`
/// array. Text surgery, not JSON functions, so the stored documents come back byte
/// for byte; a body that is not an object still fails to decode, as before. A macro,
/// so the read statements can `concat!` it.
macro_rules! memory_document {
    () => {
        "substr(m.core, 1, length(m.core) - 1) || ',\"entities\":[' || \
         coalesce((SELECT group_concat(e.body, ',' ORDER BY e.position) \
         FROM memory_entities AS e WHERE e.memory_id = m.id), '') || ']}'"
    };
}
pub(crate) use memory_document;

fn encoded(result: Result<String, String>) -> Result<String, CommitError> {
    result.map_err(|e| CommitError::backend(BACKEND, e))
}

/// The record as stored in `memories.core`.
pub(crate) fn core(record: &MemoryRecord) -> Result<String, CommitError> {
    encoded(codec::encode_memory_core(record))
}

/// Stores the entities `writes` names as `record` now has them (a new record:
/// `EntityWrites::All`), by the rows [`EntityWrites::rows`] gives.
pub(crate) fn write(
    tx: &Connection,
    record: &MemoryRecord,
    writes: &EntityWrites,
) -> Result<(), CommitError> {
    let id = record.id.0.as_bytes();
    let rows = writes.rows(record);
    if rows.clear {
        tx.prepare_cached("DELETE FROM memory_entities WHERE memory_id = ?1")
            .and_then(|mut s| s.execute(params![id]))
            .map_err(commit_error)?;
    }
    for e in rows.put {
        let body = encoded(codec::encode_entity(e))?;
        tx.prepare_cached(
            "INSERT INTO memory_entities (memory_id, entity_type, entity_id, position, body) \
             VALUES (?1, ?2, ?3, (SELECT coalesce(max(position) + 1, 0) FROM memory_entities \
             WHERE memory_id = ?1), ?4) \
             ON CONFLICT (memory_id, entity_type, entity_id) DO UPDATE SET body = excluded.body",
        )
        .and_then(|mut s| s.execute(params![id, e.entity_type, e.entity_id, body]))
        .map_err(commit_error)?;
    }
    for (entity_type, entity_id) in rows.remove {
        tx.prepare_cached(
            "DELETE FROM memory_entities \
             WHERE memory_id = ?1 AND entity_type = ?2 AND entity_id = ?3",
        )
        .and_then(|mut s| s.execute(params![id, entity_type, entity_id]))
        .map_err(commit_error)?;
    }
    Ok(())
}
