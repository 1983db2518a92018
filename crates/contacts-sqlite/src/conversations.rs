//! Memory changes per call or conversation (the Store contract, rule 16): the read,
//! and the conditional write with its retention. A record's logs go with it through
//! the foreign key (migration 0010).

use contacts_core::store::{CommitError, codec};
use contacts_core::{ConversationKey, ConversationLog, MemoryId, OrgId, Result, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{commit_error, read_error};
use crate::reads::corrupt;

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The log of `key`.
pub(crate) fn read(
    conn: &Connection,
    org: OrgId,
    key: &ConversationKey,
) -> Result<Option<ConversationLog>> {
    let text: Option<String> = conn
        .prepare_cached(
            "SELECT log FROM conversations \
             WHERE org = ?1 AND kind = ?2 AND conversation_id = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![org.0.as_bytes(), key.kind.as_str(), key.id], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(read_error)?;
    text.map(|t| codec::decode_conversation(&t).map_err(corrupt))
        .transpose()
}

/// Deletes the logs of record `memory` started at or after `since`.
pub(crate) fn drop_since(
    tx: &Connection,
    org: &[u8; 16],
    memory: MemoryId,
    since: Timestamp,
) -> Result<(), CommitError> {
    tx.prepare_cached(
        "DELETE FROM conversations WHERE org = ?1 AND memory_id = ?2 AND started_at >= ?3",
    )
    .and_then(|mut s| s.execute(params![org, memory.0.as_bytes(), since.as_millis()]))
    .map_err(commit_error)?;
    Ok(())
}

/// Stores `log` under `key` if the stored one has made `expected` writes; a new one
/// then drops its record's oldest logs beyond `keep`.
pub(crate) fn put(
    tx: &Connection,
    org: &[u8; 16],
    key: &ConversationKey,
    log: &ConversationLog,
    expected: Option<u64>,
    keep: u64,
) -> Result<(), CommitError> {
    let body = codec::encode_conversation(log)
        .map_err(|e| CommitError::backend(crate::error::BACKEND, e))?;
    let changed = match expected {
        None => tx
            .prepare_cached(
                "INSERT INTO conversations \
                 (org, kind, conversation_id, memory_id, started_at, writes, log) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    org,
                    key.kind.as_str(),
                    key.id,
                    log.memory_id.0.as_bytes(),
                    log.started_at.as_millis(),
                    count(log.writes),
                    body
                ])
            }),
        Some(writes) => tx
            .prepare_cached(
                "UPDATE conversations SET writes = ?4, log = ?5 \
                 WHERE org = ?1 AND kind = ?2 AND conversation_id = ?3 AND writes = ?6",
            )
            .and_then(|mut s| {
                s.execute(params![
                    org,
                    key.kind.as_str(),
                    key.id,
                    count(log.writes),
                    body,
                    count(writes)
                ])
            }),
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
        tx.prepare_cached(
            "DELETE FROM conversations WHERE org = ?1 AND (kind, conversation_id) IN \
             (SELECT kind, conversation_id FROM conversations WHERE memory_id = ?2 \
              ORDER BY started_at DESC, kind DESC, conversation_id DESC LIMIT -1 OFFSET ?3)",
        )
        .and_then(|mut s| s.execute(params![org, log.memory_id.0.as_bytes(), count(keep)]))
        .map_err(commit_error)?;
    }
    Ok(())
}
