//! What happened to each contact (the Store contract, rule 13): the read, the append
//! with its bound, and the erasure. A run of appends (a batch resolve's new people) is
//! one multi-row statement, like the contacts it follows.

use contacts_core::store::{CommitError, WriteOp, codec};
use contacts_core::uuid::Uuid;
use contacts_core::{ContactHistoryEntry, ContactId, OrgId, Result};

use crate::PostgresStore;
use crate::commit::Tx;
use crate::error::{BACKEND, commit_error, corrupt, read_error};

/// Past `i64::MAX` a version cannot be stored; clamping keeps the range queries total.
fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Up to `limit` entries of `contact` after version `after`, by version.
pub(crate) fn read(
    store: &PostgresStore,
    org: OrgId,
    contact: ContactId,
    after: u64,
    limit: u64,
) -> Result<Vec<ContactHistoryEntry>> {
    let rows = store.query(
        "SELECT coalesce(entry, redacted) FROM contact_history \
         WHERE org = $1 AND contact_id = $2 AND version > $3 ORDER BY version LIMIT $4",
        &[&org.0, &contact.0, &version(after), &version(limit)],
    )?;
    rows.iter()
        .map(|r| {
            let text: String = r.try_get(0).map_err(read_error)?;
            codec::decode_history(&text).map_err(corrupt)
        })
        .collect()
}

/// How many operations from the start of `ops` are appends: the run one statement
/// writes.
pub(crate) fn run_len(ops: &[WriteOp]) -> usize {
    ops.iter()
        .take_while(|op| matches!(op, WriteOp::AppendHistory { .. }))
        .count()
}

/// One append, as a plain `INSERT ... VALUES` (what a single write carries): cheaper to
/// plan and to bind than the array form a run takes.
fn append_one(
    t: &mut Tx<'_>,
    entry: &ContactHistoryEntry,
    drop_through: Option<u64>,
) -> Result<(), CommitError> {
    let (full, redacted) =
        codec::encode_history(entry).map_err(|e| CommitError::backend(BACKEND, e))?;
    let stmt = t.statement(
        "INSERT INTO contact_history (org, contact_id, version, entry, redacted) \
         VALUES ($1, $2, $3, $4, $5)",
    )?;
    t.tx.execute(
        &stmt,
        &[
            &t.org,
            &entry.contact_id.0,
            &version(entry.version),
            &full,
            &redacted,
        ],
    )
    .map_err(commit_error)?;
    if let Some(through) = drop_through {
        let stmt = t.statement(
            "DELETE FROM contact_history WHERE org = $1 AND contact_id = $2 AND version <= $3",
        )?;
        t.tx.execute(&stmt, &[&t.org, &entry.contact_id.0, &version(through)])
            .map_err(commit_error)?;
    }
    Ok(())
}

/// A run of appends: every entry in one statement, then each bound.
pub(crate) fn append(t: &mut Tx<'_>, run: &[WriteOp]) -> Result<(), CommitError> {
    if let [
        WriteOp::AppendHistory {
            entry,
            drop_through,
        },
    ] = run
    {
        return append_one(t, entry, *drop_through);
    }
    let mut contacts: Vec<Uuid> = Vec::with_capacity(run.len());
    let mut versions = Vec::with_capacity(run.len());
    let mut full = Vec::with_capacity(run.len());
    let mut redacted = Vec::with_capacity(run.len());
    let mut drops = Vec::new();
    for op in run {
        let WriteOp::AppendHistory {
            entry,
            drop_through,
        } = op
        else {
            return Err(CommitError::backend(
                BACKEND,
                "not a run of history entries",
            ));
        };
        let (f, r) = codec::encode_history(entry).map_err(|e| CommitError::backend(BACKEND, e))?;
        contacts.push(entry.contact_id.0);
        versions.push(version(entry.version));
        full.push(f);
        redacted.push(r);
        if let Some(through) = drop_through {
            drops.push((entry.contact_id.0, version(*through)));
        }
    }
    let stmt = t.statement(
        "INSERT INTO contact_history (org, contact_id, version, entry, redacted) \
         SELECT $1, u.contact_id, u.version, u.entry, u.redacted \
         FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::text[]) \
         AS u(contact_id, version, entry, redacted)",
    )?;
    t.tx.execute(&stmt, &[&t.org, &contacts, &versions, &full, &redacted])
        .map_err(commit_error)?;
    for (contact, through) in drops {
        let stmt = t.statement(
            "DELETE FROM contact_history WHERE org = $1 AND contact_id = $2 AND version <= $3",
        )?;
        t.tx.execute(&stmt, &[&t.org, &contact, &through])
            .map_err(commit_error)?;
    }
    Ok(())
}

/// Keeps only the redacted form of the entries of `contact` and of the contacts whose
/// redirects lead to it.
pub(crate) fn redact(t: &mut Tx<'_>, contact: ContactId) -> Result<(), CommitError> {
    let stmt = t.statement(
        "UPDATE contact_history SET entry = NULL WHERE org = $1 AND entry IS NOT NULL \
         AND (contact_id = $2 OR contact_id IN \
              (SELECT r.from_id FROM redirects AS r WHERE r.org = $1 AND r.to_id = $2))",
    )?;
    t.tx.execute(&stmt, &[&t.org, &contact.0])
        .map_err(commit_error)?;
    Ok(())
}
