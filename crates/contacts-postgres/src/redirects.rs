//! Where merged-away contact ids lead, and what undoes a merge (the Store contract,
//! rules 12 and 14): the reads and the writes. Deleting a contact removes the
//! redirects to it, snapshots included, through the schema's cascade (migration 0005).

use contacts_core::store::{CommitError, codec};
use contacts_core::uuid::Uuid;
use contacts_core::{ContactId, MergeSnapshot, OrgId, Result};

use crate::PostgresStore;
use crate::commit::Tx;
use crate::error::{BACKEND, commit_error, corrupt, read_error};

/// The contact `id` was merged into.
pub(crate) fn read(store: &PostgresStore, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
    let rows = store.query(
        "SELECT to_id FROM redirects WHERE org = $1 AND from_id = $2",
        &[&org.0, &id.0],
    )?;
    rows.first()
        .map(|r| r.try_get::<_, Uuid>(0).map(ContactId).map_err(read_error))
        .transpose()
}

/// The snapshot stored with the redirect from `id`.
pub(crate) fn snapshot(
    store: &PostgresStore,
    org: OrgId,
    id: ContactId,
) -> Result<Option<MergeSnapshot>> {
    let rows = store.query(
        "SELECT snapshot FROM redirects WHERE org = $1 AND from_id = $2",
        &[&org.0, &id.0],
    )?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let body: Option<String> = row.try_get(0).map_err(read_error)?;
    body.map(|b| codec::decode_snapshot(&b).map_err(corrupt))
        .transpose()
}

/// `from → to` with the merge's snapshot, and every redirect to `from` repointed at
/// `to`; `to` must be a contact of the org. The merge that writes this has locked `to`
/// already (its `UpdateContact`), so it cannot vanish before the commit.
pub(crate) fn add(
    t: &mut Tx<'_>,
    from: ContactId,
    to: ContactId,
    snapshot: &MergeSnapshot,
) -> Result<(), CommitError> {
    let body = codec::encode_snapshot(snapshot).map_err(|e| CommitError::backend(BACKEND, e))?;
    let stmt = t.statement("UPDATE redirects SET to_id = $3 WHERE org = $1 AND to_id = $2")?;
    t.tx.execute(&stmt, &[&t.org, &from.0, &to.0])
        .map_err(commit_error)?;
    let stmt = t.statement(
        "INSERT INTO redirects (org, from_id, to_id, merged_into, snapshot) \
         SELECT $1, $2, $3, $3, $4 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE org = $1 AND id = $3)",
    )?;
    let inserted =
        t.tx.execute(&stmt, &[&t.org, &from.0, &to.0, &body])
            .map_err(commit_error)?;
    if inserted == 1 {
        Ok(())
    } else {
        Err(CommitError::precondition(
            "the contact merged into no longer exists",
        ))
    }
}

/// Undoes the merge of `id` into `primary` (contract rule 14): its redirect goes, and
/// the redirects whose chain of direct merges passes through it lead to it again.
/// `id` must be a contact again already (the foreign key).
pub(crate) fn restore(
    t: &mut Tx<'_>,
    id: ContactId,
    primary: ContactId,
) -> Result<(), CommitError> {
    let stmt =
        t.statement("DELETE FROM redirects WHERE org = $1 AND from_id = $2 AND merged_into = $3")?;
    let removed =
        t.tx.execute(&stmt, &[&t.org, &id.0, &primary.0])
            .map_err(commit_error)?;
    if removed != 1 {
        return Err(CommitError::precondition(
            "the contact is no longer merged into that primary",
        ));
    }
    // `UNION` (not `UNION ALL`) visits each id once, so even a malformed cycle ends.
    let stmt = t.statement(
        "WITH RECURSIVE through (id) AS ( \
             SELECT $2::uuid \
             UNION SELECT r.from_id FROM redirects r JOIN through t ON r.merged_into = t.id \
             WHERE r.org = $1) \
         UPDATE redirects SET to_id = $2 \
         WHERE org = $1 AND from_id IN (SELECT id FROM through)",
    )?;
    t.tx.execute(&stmt, &[&t.org, &id.0])
        .map_err(commit_error)?;
    Ok(())
}

/// Erases the snapshots of the redirects to `contact` (a memory reset on it).
pub(crate) fn forget_snapshots(t: &mut Tx<'_>, contact: ContactId) -> Result<(), CommitError> {
    let stmt = t.statement(
        "UPDATE redirects SET snapshot = NULL \
         WHERE org = $1 AND to_id = $2 AND snapshot IS NOT NULL",
    )?;
    t.tx.execute(&stmt, &[&t.org, &contact.0])
        .map_err(commit_error)?;
    Ok(())
}
