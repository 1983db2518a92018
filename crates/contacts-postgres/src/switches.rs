//! Memory switches (the Store contract, rule 11): the read, the write and the
//! precondition.
//!
//! A READ COMMITTED transaction checking that a persona has no "off" row cannot lock a
//! row that does not exist yet, so the check and a switch-off of the same persona
//! serialise on a transaction-scoped advisory lock instead: shared for the check,
//! exclusive for the switch. The lock is taken by a statement of its own, before the
//! check, because a statement's snapshot is taken when it starts: a check in the same
//! statement could miss a switch-off that committed while it waited for the lock.
//! The key hashes schema, org and persona into the two-integer lock space, which
//! never meets the migrations' single-integer keys; a collision only makes two
//! unrelated personas wait for each other.

use contacts_core::store::CommitError;
use contacts_core::{MemorySwitch, OrgId, Result, SwitchKind, Timestamp};

use crate::PostgresStore;
use crate::commit::Tx;
use crate::error::{commit_error, read_error};

/// The first half of every switch lock's key: `b"mems"`, marking the lock space.
const LOCK_SPACE: i32 = 0x6d65_6d73;

const READ: &str = "SELECT version, enabled, updated_at FROM memory_switches \
     WHERE org = $1 AND kind = $2 AND target_id = $3";

/// The switch of `org` for `kind` and `target_id`.
pub(crate) fn read(
    store: &PostgresStore,
    org: OrgId,
    kind: SwitchKind,
    target_id: &str,
) -> Result<Option<MemorySwitch>> {
    let rows = store.query(READ, &[&org.0, &kind.as_str(), &target_id])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(MemorySwitch {
        kind,
        target_id: target_id.to_owned(),
        version: row.try_get(0).map_err(read_error)?,
        enabled: row.try_get(1).map_err(read_error)?,
        updated_at: Timestamp::from_millis(row.try_get(2).map_err(read_error)?),
    }))
}

/// Takes the persona's switch lock, shared or exclusive, until the transaction ends.
fn lock(t: &mut Tx<'_>, persona: &str, shared: bool) -> Result<(), CommitError> {
    let sql = if shared {
        "SELECT pg_advisory_xact_lock_shared($1, hashtext(current_schema() || ':' || ($2::uuid)::text || ':' || $3))"
    } else {
        "SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ':' || ($2::uuid)::text || ':' || $3))"
    };
    let stmt = t.statement(sql)?;
    t.tx.execute(&stmt, &[&LOCK_SPACE, &t.org, &persona])
        .map_err(commit_error)?;
    Ok(())
}

/// Stores `switch`, replacing the org's earlier one for its target.
pub(crate) fn set(t: &mut Tx<'_>, switch: &MemorySwitch) -> Result<(), CommitError> {
    if switch.kind == SwitchKind::Persona {
        lock(t, &switch.target_id, false)?;
    }
    let stmt = t.statement(
        "INSERT INTO memory_switches (org, kind, target_id, version, enabled, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (org, kind, target_id) DO UPDATE SET \
         version = EXCLUDED.version, enabled = EXCLUDED.enabled, \
         updated_at = EXCLUDED.updated_at",
    )?;
    t.tx.execute(
        &stmt,
        &[
            &t.org,
            &switch.kind.as_str(),
            &switch.target_id,
            &switch.version,
            &switch.enabled,
            &switch.updated_at.as_millis(),
        ],
    )
    .map_err(commit_error)?;
    Ok(())
}

/// Fails the batch when the org has switched memory off for `persona`; the shared lock
/// it takes keeps the persona on until the transaction ends.
pub(crate) fn expect_on(t: &mut Tx<'_>, persona: &str) -> Result<(), CommitError> {
    lock(t, persona, true)?;
    let stmt = t.statement(
        "SELECT 1 FROM memory_switches \
         WHERE org = $1 AND kind = 'persona' AND target_id = $2 AND NOT enabled",
    )?;
    let off =
        t.tx.query_opt(&stmt, &[&t.org, &persona])
            .map_err(commit_error)?;
    if off.is_some() {
        return Err(CommitError::precondition(format!(
            "memory was switched off for persona {persona}"
        )));
    }
    Ok(())
}
