//! Where merged-away contact ids lead (the Store contract, rule 12): the read and the
//! write. Deleting a contact removes the redirects to it through the schema's cascade
//! (migration 0005).

use contacts_core::store::CommitError;
use contacts_core::uuid::Uuid;
use contacts_core::{ContactId, OrgId, Result};

use crate::PostgresStore;
use crate::commit::Tx;
use crate::error::{commit_error, read_error};

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

/// `from → to`, and every redirect to `from` repointed at `to`; `to` must be a
/// contact of the org. The merge that writes this has locked `to` already (its
/// `UpdateContact`), so it cannot vanish before the commit.
pub(crate) fn add(t: &mut Tx<'_>, from: ContactId, to: ContactId) -> Result<(), CommitError> {
    let stmt = t.statement("UPDATE redirects SET to_id = $3 WHERE org = $1 AND to_id = $2")?;
    t.tx.execute(&stmt, &[&t.org, &from.0, &to.0])
        .map_err(commit_error)?;
    let stmt = t.statement(
        "INSERT INTO redirects (org, from_id, to_id) SELECT $1, $2, $3 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE org = $1 AND id = $3)",
    )?;
    let inserted =
        t.tx.execute(&stmt, &[&t.org, &from.0, &to.0])
            .map_err(commit_error)?;
    if inserted == 1 {
        Ok(())
    } else {
        Err(CommitError::precondition(
            "the contact merged into no longer exists",
        ))
    }
}
