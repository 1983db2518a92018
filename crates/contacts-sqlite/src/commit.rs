//! A batch applied in one `BEGIN IMMEDIATE` transaction: one function per operation,
//! each a conditional statement that changes exactly one row or fails the batch with a
//! precondition (contract rule 3). The write lock is taken before the first check, so
//! the checks and the writes see the same state.

use contacts_core::store::{CommitError, EntityWrites, WriteBatch, WriteOp, codec};
use contacts_core::{Contact, ContactId, Identifier, IdentifierId, MemoryId, MemoryRecord, OrgId};
use rusqlite::{Connection, OptionalExtension, Params, TransactionBehavior, params};

use crate::error::{BACKEND, commit_error};
use crate::reads::kind_name;
use crate::{conversations, events, history, redirects, switches};

type Outcome = Result<(), CommitError>;

/// Applies `batch` in its own `BEGIN IMMEDIATE` transaction.
pub(crate) fn commit(conn: &mut Connection, org: OrgId, batch: &WriteBatch) -> Outcome {
    commit_decided(conn, org, || Some(batch))
}

/// Applies the batch `decide` returns (`None`: nothing) in a `BEGIN IMMEDIATE`
/// transaction, calling it once the transaction holds the database's write lock, so
/// no other connection or process commits between its reads and the writes (a held
/// memory write, contract rule 17).
pub(crate) fn commit_decided<B: std::borrow::Borrow<WriteBatch>>(
    conn: &mut Connection,
    org: OrgId,
    decide: impl FnOnce() -> Option<B>,
) -> Outcome {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(commit_error)?;
    let Some(batch) = decide() else {
        return Ok(());
    };
    apply(&tx, org, batch.borrow())?;
    tx.commit().map_err(commit_error)
}

/// Applies `batch` inside the transaction open on `tx` (which holds the write lock);
/// the caller commits, or rolls back on an error.
pub(crate) fn apply(tx: &Connection, org: OrgId, batch: &WriteBatch) -> Outcome {
    let org = org.0.as_bytes();
    for op in &batch.ops {
        match op {
            WriteOp::Expect {
                contact_id,
                version,
            } => expect(tx, org, *contact_id, *version)?,
            WriteOp::InsertContact(c) => insert_contact(tx, org, c, 1)?,
            WriteOp::UpdateContact {
                contact,
                expected_version,
            } => update_contact(tx, org, contact, *expected_version)?,
            WriteOp::InsertIdentifier(ident) => insert_identifier(tx, org, ident)?,
            WriteOp::DeleteIdentifier { id, contact_id } => {
                delete_identifier(tx, org, *id, *contact_id)?;
            }
            WriteOp::SetPrimary {
                id,
                contact_id,
                is_primary,
            } => set_primary(tx, org, *id, *contact_id, *is_primary)?,
            WriteOp::MoveIdentifier {
                id,
                from,
                to,
                is_primary,
            } => move_identifier(tx, org, *id, *from, *to, *is_primary)?,
            WriteOp::DeleteContact {
                id,
                expected_version,
            } => delete_contact(tx, org, *id, *expected_version)?,
            WriteOp::InsertMemory(m) => {
                insert_memory(tx, org, m)?;
                crate::entities::write(tx, m, &EntityWrites::All)?;
            }
            WriteOp::UpdateMemory {
                record,
                expected_revision,
                entities,
            } => {
                update_memory(tx, org, record, *expected_revision)?;
                crate::entities::write(tx, record, entities)?;
            }
            WriteOp::DeleteMemory {
                id,
                expected_revision,
            } => delete_memory(tx, org, *id, *expected_revision)?,
            WriteOp::Redirect { from, to, snapshot } => {
                redirects::add(tx, org, *from, *to, snapshot)?;
            }
            WriteOp::ForgetMergeSnapshots { contact_id } => {
                redirects::forget_snapshots(tx, org, *contact_id)?;
            }
            WriteOp::Unmerge {
                contact,
                version,
                primary,
            } => {
                insert_contact(tx, org, contact, *version)?;
                redirects::restore(tx, org, contact.id, *primary)?;
            }
            WriteOp::AppendHistory {
                entry,
                drop_through,
            } => history::append(tx, org, entry, *drop_through)?,
            WriteOp::RedactHistory { contact_id } => history::redact(tx, org, *contact_id)?,
            WriteOp::SetMemorySwitch(switch) => switches::set(tx, org, switch)?,
            WriteOp::ExpectMemoryEnabled { persona_id } => {
                switches::expect_on(tx, org, persona_id)?;
            }
            WriteOp::AppendEvents {
                events,
                keep,
                expire_before,
            } => events::append(tx, org, events, *keep, *expire_before)?,
            WriteOp::PutConversation {
                key,
                log,
                expected_writes,
                keep,
            } => conversations::put(tx, org, key, log, *expected_writes, *keep)?,
            WriteOp::DropConversations { memory_id, since } => {
                conversations::drop_since(tx, org, *memory_id, *since)?;
            }
        }
    }
    Ok(())
}

/// Runs `sql`; it must change exactly one row, or the precondition `what` failed.
fn one_row(
    tx: &Connection,
    sql: &str,
    params: impl Params,
    what: impl FnOnce() -> String,
) -> Outcome {
    let changed = tx
        .prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(commit_error)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(CommitError::precondition(what()))
    }
}

/// A stored version or revision: past `i64::MAX` it cannot be stored, so it can never
/// match.
fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(-1)
}

fn expect(tx: &Connection, org: &[u8; 16], id: ContactId, expected: u64) -> Outcome {
    let found: Option<i64> = tx
        .prepare_cached("SELECT version FROM contacts WHERE id = ?1 AND org = ?2")
        .and_then(|mut s| {
            s.query_row(params![id.0.as_bytes(), org], |r| r.get(0))
                .optional()
        })
        .map_err(commit_error)?;
    if found == Some(version(expected)) {
        Ok(())
    } else {
        Err(CommitError::precondition(format!(
            "contact {id} changed since it was read"
        )))
    }
}

fn insert_contact(tx: &Connection, org: &[u8; 16], c: &Contact, at: u64) -> Outcome {
    if c.org_id.0.as_bytes() != org {
        return Err(CommitError::backend(
            BACKEND,
            "a batch may only write its own org",
        ));
    }
    // A taken id violates the primary key: a precondition, mapped by `commit_error`.
    one_row(
        tx,
        "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            c.id.0.as_bytes(),
            org,
            c.name.as_deref(),
            codec::encode_metadata(&c.metadata),
            c.created_at.as_millis(),
            c.updated_at.as_millis(),
            version(at),
        ],
        || format!("contact {} already exists", c.id),
    )
}

fn update_contact(tx: &Connection, org: &[u8; 16], c: &Contact, expected: u64) -> Outcome {
    one_row(
        tx,
        "UPDATE contacts SET name = ?1, metadata = ?2, updated_at = ?3, version = version + 1 \
         WHERE id = ?4 AND org = ?5 AND version = ?6",
        params![
            c.name.as_deref(),
            codec::encode_metadata(&c.metadata),
            c.updated_at.as_millis(),
            c.id.0.as_bytes(),
            org,
            version(expected),
        ],
        || format!("contact {} changed since it was read", c.id),
    )
}

/// Inserted only if its contact exists in this org; a taken `(org, kind, value)`
/// violates the unique index, which `commit_error` reports as a precondition.
fn insert_identifier(tx: &Connection, org: &[u8; 16], i: &Identifier) -> Outcome {
    one_row(
        tx,
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?2 AND org = ?3)",
        params![
            i.id.0.as_bytes(),
            i.contact_id.0.as_bytes(),
            org,
            kind_name(i.identifier_type),
            i.identifier_value,
            i.is_primary,
        ],
        || format!("contact {} no longer exists", i.contact_id),
    )
}

fn delete_identifier(
    tx: &Connection,
    org: &[u8; 16],
    id: IdentifierId,
    contact: ContactId,
) -> Outcome {
    one_row(
        tx,
        "DELETE FROM identifiers WHERE id = ?1 AND contact_id = ?2 AND org = ?3",
        params![id.0.as_bytes(), contact.0.as_bytes(), org],
        || format!("identifier {id} is not on contact {contact}"),
    )
}

fn set_primary(
    tx: &Connection,
    org: &[u8; 16],
    id: IdentifierId,
    contact: ContactId,
    is_primary: bool,
) -> Outcome {
    one_row(
        tx,
        "UPDATE identifiers SET is_primary = ?1 WHERE id = ?2 AND contact_id = ?3 AND org = ?4",
        params![is_primary, id.0.as_bytes(), contact.0.as_bytes(), org],
        || format!("identifier {id} is not on contact {contact}"),
    )
}

/// Delete and re-insert, so the identifier becomes `to`'s newest (a new `seq`),
/// keeping its id and value.
fn move_identifier(
    tx: &Connection,
    org: &[u8; 16],
    id: IdentifierId,
    from: ContactId,
    to: ContactId,
    is_primary: bool,
) -> Outcome {
    let found: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT kind, value FROM identifiers WHERE id = ?1 AND contact_id = ?2 AND org = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![id.0.as_bytes(), from.0.as_bytes(), org], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(commit_error)?;
    let Some((kind, value)) = found else {
        return Err(CommitError::precondition(format!(
            "identifier {id} is not on contact {from}"
        )));
    };
    one_row(
        tx,
        "DELETE FROM identifiers WHERE id = ?1",
        params![id.0.as_bytes()],
        || format!("identifier {id} vanished"),
    )?;
    one_row(
        tx,
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?2 AND org = ?3)",
        params![
            id.0.as_bytes(),
            to.0.as_bytes(),
            org,
            kind,
            value,
            is_primary
        ],
        || format!("contact {to} no longer exists"),
    )
}

/// Identifiers and memories go with the contact (`ON DELETE CASCADE`).
fn delete_contact(tx: &Connection, org: &[u8; 16], id: ContactId, expected: u64) -> Outcome {
    one_row(
        tx,
        "DELETE FROM contacts WHERE id = ?1 AND org = ?2 AND version = ?3",
        params![id.0.as_bytes(), org, version(expected)],
        || format!("contact {id} changed since it was read"),
    )
}

/// The record without its entities, which have rows of their own (`entities.rs`).
fn memory_body(record: &MemoryRecord) -> Result<String, CommitError> {
    crate::entities::core(record)
}

/// A second record for one `(org, contact, scope)` violates the unique index.
fn insert_memory(tx: &Connection, org: &[u8; 16], m: &MemoryRecord) -> Outcome {
    one_row(
        tx,
        "INSERT INTO memories (id, org, contact_id, scope, created_at, revision, core) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?3 AND org = ?2)",
        params![
            m.id.0.as_bytes(),
            org,
            m.contact_id.0.as_bytes(),
            codec::scope_key(&m.scope()),
            m.created_at.as_millis(),
            version(m.revision),
            memory_body(m)?,
        ],
        || format!("contact {} no longer exists", m.contact_id),
    )
}

fn update_memory(tx: &Connection, org: &[u8; 16], m: &MemoryRecord, expected: u64) -> Outcome {
    one_row(
        tx,
        "UPDATE memories SET revision = ?1, core = ?2, contact_id = ?5 \
         WHERE id = ?3 AND org = ?4 AND revision = ?6 \
         AND EXISTS (SELECT 1 FROM contacts WHERE id = ?5 AND org = ?4)",
        params![
            version(m.revision),
            memory_body(m)?,
            m.id.0.as_bytes(),
            org,
            m.contact_id.0.as_bytes(),
            version(expected),
        ],
        || format!("memory {} changed since it was read", m.id),
    )
}

fn delete_memory(tx: &Connection, org: &[u8; 16], id: MemoryId, expected: u64) -> Outcome {
    one_row(
        tx,
        "DELETE FROM memories WHERE id = ?1 AND org = ?2 AND revision = ?3",
        params![id.0.as_bytes(), org, version(expected)],
        || format!("memory {id} changed since it was read"),
    )
}
