//! Memory changes per call or conversation (the Store contract, rule 16): the read,
//! and the conditional write with its retention. A record's logs go with it through
//! the foreign key (migration 0009).
//!
//! Under READ COMMITTED the write is still conditional: a new log is an `INSERT ... ON
//! CONFLICT DO NOTHING` that waits for a concurrent insert of the same key and then
//! changes nothing, and a continued one an `UPDATE ... WHERE writes = $n` that
//! PostgreSQL re-checks against the newest row version.

use contacts_core::store::{CommitError, codec};
use contacts_core::{ConversationKey, ConversationLog, MemoryId, OrgId, Result, Timestamp};

use crate::PostgresStore;
use crate::commit::Tx;
use crate::error::{BACKEND, commit_error, corrupt, read_error};

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The log of `key`.
pub(crate) fn read(
    store: &PostgresStore,
    org: OrgId,
    key: &ConversationKey,
) -> Result<Option<ConversationLog>> {
    let rows = store.query(
        "SELECT log FROM conversations WHERE org = $1 AND kind = $2 AND conversation_id = $3",
        &[&org.0, &key.kind.as_str(), &key.id],
    )?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let text: String = row.try_get(0).map_err(read_error)?;
    codec::decode_conversation(&text).map(Some).map_err(corrupt)
}

/// Deletes the logs of record `memory` started at or after `since`.
pub(crate) fn drop_since(
    t: &mut Tx<'_>,
    memory: MemoryId,
    since: Timestamp,
) -> Result<(), CommitError> {
    let org = t.org;
    let stmt = t.statement(
        "DELETE FROM conversations WHERE org = $1 AND memory_id = $2 AND started_at >= $3",
    )?;
    t.tx.execute(&stmt, &[&org, &memory.0, &since.as_millis()])
        .map_err(commit_error)?;
    Ok(())
}

/// Stores `log` under `key` if the stored one has made `expected` writes; a new one
/// then drops its record's oldest logs beyond `keep`.
pub(crate) fn put(
    t: &mut Tx<'_>,
    key: &ConversationKey,
    log: &ConversationLog,
    expected: Option<u64>,
    keep: u64,
) -> Result<(), CommitError> {
    let body = codec::encode_conversation(log).map_err(|e| CommitError::backend(BACKEND, e))?;
    let org = t.org;
    let changed = match expected {
        None => {
            let stmt = t.statement(
                "INSERT INTO conversations \
                 (org, kind, conversation_id, memory_id, started_at, writes, log) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )?;
            t.tx.execute(
                &stmt,
                &[
                    &org,
                    &key.kind.as_str(),
                    &key.id,
                    &log.memory_id.0,
                    &log.started_at.as_millis(),
                    &count(log.writes),
                    &body,
                ],
            )
        }
        Some(writes) => {
            let stmt = t.statement(
                "UPDATE conversations SET writes = $4, log = $5 \
                 WHERE org = $1 AND kind = $2 AND conversation_id = $3 AND writes = $6",
            )?;
            t.tx.execute(
                &stmt,
                &[
                    &org,
                    &key.kind.as_str(),
                    &key.id,
                    &count(log.writes),
                    &body,
                    &count(writes),
                ],
            )
        }
    }
    .map_err(commit_error)?;
    if changed != 1 {
        return Err(CommitError::precondition(format!(
            "the memory changes of {} {} changed since they were read",
            key.kind.field(),
            key.id
        )));
    }
    if expected.is_none() {
        let stmt = t.statement(
            "DELETE FROM conversations WHERE org = $1 AND (kind, conversation_id) IN \
             (SELECT kind, conversation_id FROM conversations WHERE org = $1 AND memory_id = $2 \
              ORDER BY started_at DESC, kind DESC, conversation_id DESC OFFSET $3)",
        )?;
        t.tx.execute(&stmt, &[&org, &log.memory_id.0, &count(keep)])
            .map_err(commit_error)?;
    }
    Ok(())
}
