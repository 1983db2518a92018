//! What happened to each contact (the Store contract, rule 13): the read, the append
//! with its bound, and the erasure.

use contacts_core::store::{CommitError, codec};
use contacts_core::{ContactHistoryEntry, ContactId, OrgId, Result};
use rusqlite::{Connection, params};

use crate::error::{BACKEND, commit_error, read_error};
use crate::reads::corrupt;

/// Past `i64::MAX` a version cannot be stored; clamping keeps the range queries total.
fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Up to `limit` entries of `contact` after version `after`, by version.
pub(crate) fn read(
    conn: &Connection,
    org: OrgId,
    contact: ContactId,
    after: u64,
    limit: u64,
) -> Result<Vec<ContactHistoryEntry>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT coalesce(entry, erased) FROM contact_history \
             WHERE org = ?1 AND contact_id = ?2 AND version > ?3 ORDER BY version LIMIT ?4",
        )
        .map_err(read_error)?;
    let rows = stmt
        .query_map(
            params![
                org.0.as_bytes(),
                contact.0.as_bytes(),
                version(after),
                version(limit)
            ],
            |r| r.get::<_, String>(0),
        )
        .map_err(read_error)?;
    rows.map(|text| {
        let text = text.map_err(read_error)?;
        codec::decode_history(&text).map_err(corrupt)
    })
    .collect()
}

/// Appends `entry`, then drops the contact's entries through `drop_through`.
pub(crate) fn append(
    tx: &Connection,
    org: &[u8; 16],
    entry: &ContactHistoryEntry,
    drop_through: Option<u64>,
) -> Result<(), CommitError> {
    // The whole entry alone: its redacted form is made if the contact is erased.
    let whole = codec::encode_history_entry(entry).map_err(|e| CommitError::backend(BACKEND, e))?;
    let contact = entry.contact_id.0.as_bytes();
    tx.prepare_cached(
        "INSERT INTO contact_history (org, contact_id, version, entry) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![org, contact, version(entry.version), whole]))
    .map_err(commit_error)?;
    if let Some(through) = drop_through {
        tx.prepare_cached(
            "DELETE FROM contact_history WHERE org = ?1 AND contact_id = ?2 AND version <= ?3",
        )
        .and_then(|mut s| s.execute(params![org, contact, version(through)]))
        .map_err(commit_error)?;
    }
    Ok(())
}

/// Keeps only the redacted form of the entries of `contact` and of the contacts whose
/// redirects lead to it: each whole entry is replaced by what the codec makes of it
/// (`codec::redact_history`; the backend does not decide what is personal).
pub(crate) fn redact(
    tx: &Connection,
    org: &[u8; 16],
    contact: ContactId,
) -> Result<(), CommitError> {
    let whole: Vec<(i64, String)> = tx
        .prepare_cached(
            "SELECT rowid, entry FROM contact_history WHERE org = ?1 AND entry IS NOT NULL \
             AND (contact_id = ?2 OR contact_id IN \
                  (SELECT from_id FROM redirects WHERE org = ?1 AND to_id = ?2))",
        )
        .and_then(|mut s| {
            s.query_map(params![org, contact.0.as_bytes()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(commit_error)?;
    let mut erase = tx
        .prepare_cached("UPDATE contact_history SET entry = NULL, erased = ?2 WHERE rowid = ?1")
        .map_err(commit_error)?;
    for (row, text) in whole {
        let redacted =
            codec::redact_history(&text).map_err(|e| CommitError::backend(BACKEND, e))?;
        erase
            .execute(params![row, redacted])
            .map_err(commit_error)?;
    }
    Ok(())
}
