//! Where merged-away contact ids lead (the Store contract, rule 12): the read and the
//! write. Deleting a contact removes the redirects to it through the schema's cascade
//! (migration 0006).

use contacts_core::store::CommitError;
use contacts_core::uuid::Uuid;
use contacts_core::{ContactId, OrgId, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{commit_error, read_error};
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

/// `from → to`, and every redirect to `from` repointed at `to`; `to` must be a
/// contact of the org.
pub(crate) fn add(
    tx: &Connection,
    org: &[u8; 16],
    from: ContactId,
    to: ContactId,
) -> Result<(), CommitError> {
    let (from, to) = (from.0.as_bytes(), to.0.as_bytes());
    tx.prepare_cached("UPDATE redirects SET to_id = ?3 WHERE to_id = ?2 AND org = ?1")
        .and_then(|mut s| s.execute(params![org, from, to]))
        .map_err(commit_error)?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO redirects (org, from_id, to_id) SELECT ?1, ?2, ?3 \
             WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?3 AND org = ?1)",
        )
        .and_then(|mut s| s.execute(params![org, from, to]))
        .map_err(commit_error)?;
    if inserted == 1 {
        Ok(())
    } else {
        Err(CommitError::precondition(
            "the contact merged into no longer exists",
        ))
    }
}
