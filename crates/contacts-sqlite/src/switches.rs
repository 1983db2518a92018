//! Memory switches (the Store contract, rule 11): the read, the write and the
//! precondition. Commits hold SQLite's write lock from their first statement, so the
//! precondition and a concurrent switch-off serialise by themselves.

use contacts_core::store::CommitError;
use contacts_core::{MemorySwitch, OrgId, Result, SwitchKind, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{commit_error, read_error};
use crate::reads::corrupt;

/// The switch of `org` for `kind` and `target_id`.
pub(crate) fn read(
    conn: &Connection,
    org: OrgId,
    kind: SwitchKind,
    target_id: &str,
) -> Result<Option<MemorySwitch>> {
    let row = conn
        .prepare_cached(
            "SELECT version, enabled, updated_at FROM memory_switches \
             WHERE org = ?1 AND kind = ?2 AND target_id = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![org.0.as_bytes(), kind.as_str(), target_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()
        })
        .map_err(read_error)?;
    let Some((version, enabled, updated_at)) = row else {
        return Ok(None);
    };
    let enabled = match enabled {
        0 => false,
        1 => true,
        _ => return Err(corrupt("a memory switch is neither 0 nor 1")),
    };
    Ok(Some(MemorySwitch {
        kind,
        target_id: target_id.to_owned(),
        version,
        enabled,
        updated_at: Timestamp::from_millis(updated_at),
    }))
}

/// Stores `switch`, replacing the org's earlier one for its target.
pub(crate) fn set(
    tx: &Connection,
    org: &[u8; 16],
    switch: &MemorySwitch,
) -> Result<(), CommitError> {
    tx.prepare_cached(
        "INSERT INTO memory_switches (org, kind, target_id, version, enabled, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (org, kind, target_id) DO UPDATE SET \
         version = excluded.version, enabled = excluded.enabled, \
         updated_at = excluded.updated_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            org,
            switch.kind.as_str(),
            switch.target_id,
            switch.version,
            switch.enabled,
            switch.updated_at.as_millis()
        ])
    })
    .map_err(commit_error)?;
    Ok(())
}

/// Fails the batch when the org has switched memory off for `persona`.
pub(crate) fn expect_on(tx: &Connection, org: &[u8; 16], persona: &str) -> Result<(), CommitError> {
    let off = tx
        .prepare_cached(
            "SELECT 1 FROM memory_switches \
             WHERE org = ?1 AND kind = 'persona' AND target_id = ?2 AND enabled = 0",
        )
        .and_then(|mut s| s.exists(params![org, persona]))
        .map_err(commit_error)?;
    if off {
        return Err(CommitError::precondition(format!(
            "memory was switched off for persona {persona}"
        )));
    }
    Ok(())
}
