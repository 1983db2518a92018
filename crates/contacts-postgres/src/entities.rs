//! A memory record's entities, one row each (the Store contract, rule 18; migration
//! 0011): a write stores the entities it changed and no others, and a read puts the
//! record's document back together in the statement that reads it.

use contacts_core::MemoryRecord;
use contacts_core::store::{CommitError, EntityWrites, codec};

use crate::commit::Tx;
use crate::error::{BACKEND, commit_error};

/// The record's whole document, from `m.core` (the record without its entities) and
/// its entity rows in order: the core's closing brace gives way to an `entities`
/// array. Text surgery, not jsonb, so the stored documents come back byte for byte; a
/// core that is not an object still fails to decode, as before. A macro, so the read
/// statements can `concat!` it.
macro_rules! memory_document {
    () => {
        "(left(m.core, -1) || ',\"entities\":[' || coalesce((SELECT \
         string_agg(e.body, ',' ORDER BY e.position) FROM memory_entities AS e \
         WHERE e.org = m.org AND e.memory_id = m.id), '') || ']}')"
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
    t: &mut Tx<'_>,
    record: &MemoryRecord,
    writes: &EntityWrites,
) -> Result<(), CommitError> {
    let (org, id) = (t.org, record.id.0);
    let rows = writes.rows(record);
    if rows.clear {
        let stmt = t.statement("DELETE FROM memory_entities WHERE org = $1 AND memory_id = $2")?;
        t.tx.execute(&stmt, &[&org, &id]).map_err(commit_error)?;
    }
    for e in rows.put {
        let body = encoded(codec::encode_entity(e))?;
        let stmt = t.statement(
            "INSERT INTO memory_entities (org, memory_id, entity_type, entity_id, position, body) \
             VALUES ($1, $2, $3, $4, (SELECT coalesce(max(position) + 1, 0) FROM memory_entities \
             WHERE org = $1 AND memory_id = $2), $5) \
             ON CONFLICT (org, memory_id, entity_type, entity_id) DO UPDATE SET body = EXCLUDED.body",
        )?;
        t.tx.execute(&stmt, &[&org, &id, &e.entity_type, &e.entity_id, &body])
            .map_err(commit_error)?;
    }
    for (entity_type, entity_id) in rows.remove {
        let stmt = t.statement(
            "DELETE FROM memory_entities \
             WHERE org = $1 AND memory_id = $2 AND entity_type = $3 AND entity_id = $4",
        )?;
        t.tx.execute(&stmt, &[&org, &id, &entity_type, &entity_id])
            .map_err(commit_error)?;
    }
    Ok(())
}
