//! Where merged-away contact ids lead, and what undoes a merge (the Store contract,
//! rules 12 and 14): the reads and the writes. Deleting a contact removes the
//! redirects to it, snapshots included, through the schema's cascade (migration 0006).

use contacts_core::store::{CommitError, codec};
use contacts_core::uuid::Uuid;
use contacts_core::{ContactId, MergeSnapshot, OrgId, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{BACKEND, commit_error, read_error};
use crate::reads::corrupt;

/// The contact `id` was merged into.
pub(crate) fn read(conn: &Connection, org: OrgId, id: ContactId) -> Result<Option<ContactId>> {
    let to: Option<Vec<u8>> = conn
        .prepare_cached("SELECT to_id FROM redirects WHERE org = ?1 AND from_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![org.0.as_bytes(), id.0.as_bytes()], |r| r.get(0))
                .optional()
        })
        .map_err(read_error)?;
    to.map(|bytes| {
        Uuid::from_slice(&bytes)
            .map(ContactId)
            .map_err(|_| corrupt("a redirect is not 16 bytes"))
    })
    .transpose()
}

/// The snapshot stored with the redirect from `id`.
pub(crate) fn snapshot(
    conn: &Connection,
    org: OrgId,
    id: ContactId,
) -> Result<Option<MergeSnapshot>> {
    let body: Option<Option<String>> = conn
        .prepare_cached("SELECT snapshot FROM redirects WHERE org = ?1 AND from_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![org.0.as_bytes(), id.0.as_bytes()], |r| r.get(0))
                .optional()
        })
        .map_err(read_error)?;
    body.flatten()
        .map(|b| codec::decode_snapshot(&b).map_err(corrupt))
        .transpose()
}

/// `from → to` with the merge's snapshot, and every redirect to `from` repointed at
/// `to`; `to` must be a contact of the org.
pub(crate) fn add(
    tx: &Connection,
    org: &[u8; 16],
    from: ContactId,
    to: ContactId,
    snapshot: &MergeSnapshot,
) -> Result<(), CommitError> {
    let (from, to) = (from.0.as_bytes(), to.0.as_bytes());
    let body = codec::encode_snapshot(snapshot).map_err(|e| CommitError::backend(BACKEND, e))?;
    tx.prepare_cached("UPDATE redirects SET to_id = ?3 WHERE to_id = ?2 AND org = ?1")
        .and_then(|mut s| s.execute(params![org, from, to]))
        .map_err(commit_error)?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO redirects (org, from_id, to_id, merged_into, snapshot) \
             SELECT ?1, ?2, ?3, ?3, ?4 \
             WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?3 AND org = ?1)",
        )
        .and_then(|mut s| s.execute(params![org, from, to, body]))
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
    tx: &Connection,
    org: &[u8; 16],
    id: ContactId,
    primary: ContactId,
) -> Result<(), CommitError> {
    let (id, primary) = (id.0.as_bytes(), primary.0.as_bytes());
    let removed = tx
        .prepare_cached(
            "DELETE FROM redirects WHERE org = ?1 AND from_id = ?2 AND merged_into = ?3",
        )
        .and_then(|mut s| s.execute(params![org, id, primary]))
        .map_err(commit_error)?;
    if removed != 1 {
        return Err(CommitError::precondition(
            "the contact is no longer merged into that primary",
        ));
    }
    // `UNION` (not `UNION ALL`) visits each id once, so even a malformed cycle ends.
    tx.prepare_cached(
        "WITH RECURSIVE through (id) AS ( \
             SELECT ?2 \
             UNION SELECT r.from_id FROM redirects r JOIN through t ON r.merged_into = t.id \
             WHERE r.org = ?1) \
         UPDATE redirects SET to_id = ?2 \
         WHERE org = ?1 AND from_id IN (SELECT id FROM through)",
    )
    .and_then(|mut s| s.execute(params![org, id]))
    .map_err(commit_error)?;
    Ok(())
}

/// Erases the snapshots of the redirects to `contact` (a memory reset on it).
pub(crate) fn forget_snapshots(
    tx: &Connection,
    org: &[u8; 16],
    contact: ContactId,
) -> Result<(), CommitError> {
    tx.prepare_cached(
        "UPDATE redirects SET snapshot = NULL \
         WHERE org = ?1 AND to_id = ?2 AND snapshot IS NOT NULL",
    )
    .and_then(|mut s| s.execute(params![org, contact.0.as_bytes()]))
    .map_err(commit_error)?;
    Ok(())
}
