//! A batch applied in one READ COMMITTED transaction: one function per operation,
//! each a conditional write or a locking read that changes (or locks) exactly one row
//! or fails the batch with a precondition (contract rule 3). PostgreSQL re-checks a
//! `WHERE version = $n` against the newest row version, and `FOR NO KEY UPDATE` holds
//! what it read until commit, so no decision rests on a row the batch does not pin.
//! One exception, for round trips: a run of new contacts with their identifiers (what a
//! batch resolve of new people gathers) is written by two multi-row statements
//! (`insert_new_people`), which fail the batch exactly where the rows one by one would.

use std::collections::HashMap;

use contacts_core::store::{CommitError, EntityWrites, WriteBatch, WriteOp, codec};
use contacts_core::uuid::Uuid;
use contacts_core::{Contact, ContactId, Identifier, IdentifierId, MemoryId, MemoryRecord, OrgId};
use postgres::Statement;
use postgres::types::ToSql;

use crate::error::{BACKEND, commit_error};
use crate::open::{Conn, prepared};
use crate::{conversations, create, entities, events, history, redirects, switches};

type Outcome = Result<(), CommitError>;

/// An open transaction on a connection, with the connection's prepared statements.
/// Begun and ended by hand rather than with `postgres::Transaction`, so that a held
/// memory write (`hold.rs`) can lend the connection to the reads its decision makes
/// while the transaction stays open. Dropped while open, it rolls back, as
/// `Transaction` does, so no connection goes back to the pool inside a transaction.
pub(crate) struct Tx<'a> {
    pub(crate) tx: &'a mut postgres::Client,
    pub(crate) statements: &'a mut HashMap<&'static str, Statement>,
    pub(crate) org: Uuid,
    open: bool,
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A broken connection fails this too; the pool then discards it.
            let _ = self.tx.batch_execute("ROLLBACK");
        }
    }
}

impl Tx<'_> {
    pub(crate) fn statement(&mut self, sql: &'static str) -> Result<Statement, CommitError> {
        prepared(&mut *self.tx, self.statements, sql).map_err(commit_error)
    }

    /// Runs `sql`; it must change exactly one row, or the precondition `what` failed.
    fn one_row(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        what: impl FnOnce() -> String,
    ) -> Outcome {
        let stmt = self.statement(sql)?;
        let changed = self.tx.execute(&stmt, params).map_err(commit_error)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(CommitError::precondition(what()))
        }
    }
}

impl<'a> Tx<'a> {
    /// Starts a transaction of `org` on `conn`.
    pub(crate) fn begin(conn: &'a mut Conn, org: OrgId) -> Result<Self, CommitError> {
        conn.client.batch_execute("BEGIN").map_err(commit_error)?;
        Ok(Self::resume(conn, org))
    }

    /// The transaction already open on `conn` (see [`Tx::suspend`]).
    pub(crate) fn resume(conn: &'a mut Conn, org: OrgId) -> Self {
        let Conn { client, statements } = conn;
        Tx {
            tx: client,
            statements,
            org: org.0,
            open: true,
        }
    }

    /// Lets go of the connection with the transaction still open; whoever holds the
    /// connection next must resume it and end it, or roll it back.
    pub(crate) fn suspend(mut self) {
        self.open = false;
    }

    /// Commits.
    pub(crate) fn commit(mut self) -> Outcome {
        self.open = false;
        self.tx.batch_execute("COMMIT").map_err(commit_error)
    }
}

pub(crate) fn commit(conn: &mut Conn, org: OrgId, batch: &WriteBatch) -> Outcome {
    // The batch a resolve of someone new makes: one statement, one round trip.
    if let Some(person) = create::NewPerson::of(org, batch) {
        return create::commit(conn, org, &person);
    }
    let mut t = Tx::begin(conn, org)?;
    apply(&mut t, batch)?;
    t.commit()
}

/// Applies every operation of `batch` in `t`, which the caller commits.
pub(crate) fn apply(t: &mut Tx<'_>, batch: &WriteBatch) -> Outcome {
    let mut rest = &batch.ops[..];
    while let Some(op) = rest.first() {
        // A run of new people (contacts and their identifiers, as a batch resolve
        // gathers them) goes in two statements instead of one per row.
        let run = new_people_run(rest);
        if run.contacts >= 2 {
            insert_new_people(t, &rest[..run.ops])?;
            rest = &rest[run.ops..];
            continue;
        }
        // A run of history entries (one per contact the batch wrote) likewise.
        let entries = history::run_len(rest);
        if entries >= 1 {
            history::append(t, &rest[..entries])?;
            rest = &rest[entries..];
            continue;
        }
        apply_one(t, op)?;
        rest = &rest[1..];
    }
    count_contacts(t, batch)?;
    // Last: the org's event head stays locked only while the transaction commits.
    events::append(t, &batch.ops)
}

/// One operation, as one conditional statement (or a locking read).
fn apply_one(t: &mut Tx<'_>, op: &WriteOp) -> Outcome {
    match op {
        WriteOp::Expect {
            contact_id,
            version,
        } => expect(t, *contact_id, *version)?,
        WriteOp::InsertContact(c) => insert_contact(t, c, 1)?,
        WriteOp::UpdateContact {
            contact,
            expected_version,
        } => update_contact(t, contact, *expected_version)?,
        WriteOp::InsertIdentifier(ident) => insert_identifier(t, ident)?,
        WriteOp::DeleteIdentifier { id, contact_id } => {
            delete_identifier(t, *id, *contact_id)?;
        }
        WriteOp::SetPrimary {
            id,
            contact_id,
            is_primary,
        } => set_primary(t, *id, *contact_id, *is_primary)?,
        WriteOp::MoveIdentifier {
            id,
            from,
            to,
            is_primary,
        } => move_identifier(t, *id, *from, *to, *is_primary)?,
        WriteOp::DeleteContact {
            id,
            expected_version,
        } => delete_contact(t, *id, *expected_version)?,
        WriteOp::InsertMemory(m) => {
            insert_memory(t, m)?;
            entities::write(t, m, &EntityWrites::All)?;
        }
        WriteOp::UpdateMemory {
            record,
            expected_revision,
            entities: writes,
        } => {
            update_memory(t, record, *expected_revision)?;
            entities::write(t, record, writes)?;
        }
        WriteOp::DeleteMemory {
            id,
            expected_revision,
        } => delete_memory(t, *id, *expected_revision)?,
        WriteOp::Redirect { from, to, snapshot } => redirects::add(t, *from, *to, snapshot)?,
        WriteOp::ForgetMergeSnapshots { contact_id } => {
            redirects::forget_snapshots(t, *contact_id)?;
        }
        WriteOp::Unmerge {
            contact,
            version,
            primary,
        } => {
            insert_contact(t, contact, *version)?;
            redirects::restore(t, contact.id, *primary)?;
        }
        WriteOp::AppendHistory { .. } => history::append(t, std::slice::from_ref(op))?,
        WriteOp::RedactHistory { contact_id } => history::redact(t, *contact_id)?,
        WriteOp::SetMemorySwitch(switch) => switches::set(t, switch)?,
        WriteOp::ExpectMemoryEnabled { persona_id } => switches::expect_on(t, persona_id)?,
        WriteOp::PutConversation {
            key,
            log,
            expected_writes,
            keep,
        } => conversations::put(t, key, log, *expected_writes, *keep)?,
        WriteOp::DropConversations { memory_id, since } => {
            conversations::drop_since(t, *memory_id, *since)?;
        }
        // Applied after every other operation, by `events::append`.
        WriteOp::AppendEvents { .. } => {}
    }
    Ok(())
}

/// The length of the run of new people that starts a batch's remaining operations:
/// `InsertContact`s, and `InsertIdentifier`s for contacts inserted earlier in the run.
struct Run {
    ops: usize,
    contacts: usize,
}

fn new_people_run(ops: &[WriteOp]) -> Run {
    let mut inserted: Vec<ContactId> = Vec::new();
    let mut len = 0;
    for op in ops {
        match op {
            WriteOp::InsertContact(c) => inserted.push(c.id),
            WriteOp::InsertIdentifier(i) if inserted.contains(&i.contact_id) => {}
            _ => break,
        }
        len += 1;
    }
    Run {
        ops: len,
        contacts: inserted.len(),
    }
}

/// A run of new people in two statements: every contact, then every identifier in
/// the run's order (so each contact's identifiers keep their attach order in `seq`).
/// Applying the contacts first is what applying the run in order gives: each of its
/// identifiers needs only its own contact, inserted in the same run, and no operation
/// of the run frees a value another one takes. A taken contact id or identifier value
/// violates a unique index, which is the run's failed precondition, as it is one row at
/// a time.
fn insert_new_people(t: &mut Tx<'_>, run: &[WriteOp]) -> Outcome {
    let mut ids = Vec::new();
    let mut names = Vec::new();
    let mut metadata = Vec::new();
    let mut created = Vec::new();
    let mut updated = Vec::new();
    let mut ident_ids = Vec::new();
    let mut owners = Vec::new();
    let mut kinds = Vec::new();
    let mut values = Vec::new();
    let mut primary = Vec::new();
    for op in run {
        match op {
            WriteOp::InsertContact(c) => {
                if c.org_id.0 != t.org {
                    return Err(CommitError::backend(
                        BACKEND,
                        "a batch may only write its own org",
                    ));
                }
                ids.push(c.id.0);
                names.push(c.name.as_deref());
                metadata.push(codec::encode_metadata(&c.metadata));
                created.push(c.created_at.as_millis());
                updated.push(c.updated_at.as_millis());
            }
            WriteOp::InsertIdentifier(i) => {
                ident_ids.push(i.id.0);
                owners.push(i.contact_id.0);
                kinds.push(i.identifier_type.as_str());
                values.push(i.identifier_value.as_str());
                primary.push(i.is_primary);
            }
            // `new_people_run` admits nothing else.
            _ => return Err(CommitError::backend(BACKEND, "not a run of new people")),
        }
    }
    let org = t.org;
    let stmt = t.statement(
        "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
         SELECT u.id, $1, u.name, u.metadata, u.created_at, u.updated_at, 1 \
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) \
         AS u(id, name, metadata, created_at, updated_at)",
    )?;
    let n =
        t.tx.execute(&stmt, &[&org, &ids, &names, &metadata, &created, &updated])
            .map_err(commit_error)?;
    if n != ids.len() as u64 {
        return Err(CommitError::precondition("a new contact's id is taken"));
    }
    if ident_ids.is_empty() {
        return Ok(());
    }
    let stmt = t.statement(
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         SELECT u.id, u.contact_id, $1, u.kind, u.value, u.is_primary \
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bool[]) \
         WITH ORDINALITY AS u(id, contact_id, kind, value, is_primary, ord) ORDER BY u.ord",
    )?;
    let n =
        t.tx.execute(
            &stmt,
            &[&org, &ident_ids, &owners, &kinds, &values, &primary],
        )
        .map_err(commit_error)?;
    if n == ident_ids.len() as u64 {
        Ok(())
    } else {
        Err(CommitError::precondition("an identifier was not inserted"))
    }
}

/// Adds the batch's net change in contacts to the org's count (migration 0002), last,
/// so the slot's row is locked only while the transaction commits, and no other lock
/// is ever awaited while holding it.
fn count_contacts(t: &mut Tx<'_>, batch: &WriteBatch) -> Outcome {
    let delta: i64 = batch
        .ops
        .iter()
        .map(|op| match op {
            WriteOp::InsertContact(_) | WriteOp::Unmerge { .. } => 1,
            WriteOp::DeleteContact { .. } => -1,
            _ => 0,
        })
        .sum();
    if delta == 0 {
        return Ok(());
    }
    let stmt = t.statement(
        "INSERT INTO org_counts (org, slot, contacts) VALUES ($1, pg_backend_pid() % 16, $2) \
         ON CONFLICT (org, slot) DO UPDATE SET contacts = org_counts.contacts + EXCLUDED.contacts",
    )?;
    t.tx.execute(&stmt, &[&t.org, &delta])
        .map_err(commit_error)?;
    Ok(())
}

/// A stored version or revision: past `i64::MAX` it cannot be stored, so it can never
/// match.
pub(crate) fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(-1)
}

/// Locks the row until commit, so its version cannot move under the batch; a writer
/// that got there first makes this read its version.
fn expect(t: &mut Tx<'_>, id: ContactId, expected: u64) -> Outcome {
    let stmt =
        t.statement("SELECT version FROM contacts WHERE id = $1 AND org = $2 FOR NO KEY UPDATE")?;
    let found: Option<i64> =
        t.tx.query_opt(&stmt, &[&id.0, &t.org])
            .map_err(commit_error)?
            .map(|r| r.get(0));
    if found == Some(version(expected)) {
        Ok(())
    } else {
        Err(CommitError::precondition(format!(
            "contact {id} changed since it was read"
        )))
    }
}

fn insert_contact(t: &mut Tx<'_>, c: &Contact, at: u64) -> Outcome {
    if c.org_id.0 != t.org {
        return Err(CommitError::backend(
            BACKEND,
            "a batch may only write its own org",
        ));
    }
    let org = t.org;
    // A taken id violates the primary key: a precondition, mapped by `commit_error`.
    t.one_row(
        "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &c.id.0,
            &org,
            &c.name.as_deref(),
            &codec::encode_metadata(&c.metadata),
            &c.created_at.as_millis(),
            &c.updated_at.as_millis(),
            &version(at),
        ],
        || format!("contact {} already exists", c.id),
    )
}

fn update_contact(t: &mut Tx<'_>, c: &Contact, expected: u64) -> Outcome {
    let org = t.org;
    t.one_row(
        "UPDATE contacts SET name = $1, metadata = $2, updated_at = $3, \
         version = version + 1 WHERE id = $4 AND org = $5 AND version = $6",
        &[
            &c.name.as_deref(),
            &codec::encode_metadata(&c.metadata),
            &c.updated_at.as_millis(),
            &c.id.0,
            &org,
            &version(expected),
        ],
        || format!("contact {} changed since it was read", c.id),
    )
}

/// A taken `(org, kind, value)` violates the unique index; a contact deleted meanwhile
/// inserts nothing.
fn insert_identifier(t: &mut Tx<'_>, i: &Identifier) -> Outcome {
    let org = t.org;
    t.one_row(
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         SELECT $1, $2, $3, $4, $5, $6 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $2 AND org = $3)",
        &[
            &i.id.0,
            &i.contact_id.0,
            &org,
            &i.identifier_type.as_str(),
            &i.identifier_value,
            &i.is_primary,
        ],
        || format!("contact {} no longer exists", i.contact_id),
    )
}

fn delete_identifier(t: &mut Tx<'_>, id: IdentifierId, contact: ContactId) -> Outcome {
    let org = t.org;
    t.one_row(
        "DELETE FROM identifiers WHERE id = $1 AND contact_id = $2 AND org = $3",
        &[&id.0, &contact.0, &org],
        || format!("identifier {id} is not on contact {contact}"),
    )
}

fn set_primary(t: &mut Tx<'_>, id: IdentifierId, contact: ContactId, is_primary: bool) -> Outcome {
    let org = t.org;
    t.one_row(
        "UPDATE identifiers SET is_primary = $1 WHERE id = $2 AND contact_id = $3 AND org = $4",
        &[&is_primary, &id.0, &contact.0, &org],
        || format!("identifier {id} is not on contact {contact}"),
    )
}

/// Delete and re-insert, so the identifier becomes `to`'s newest (a new `seq`),
/// keeping its id and value.
fn move_identifier(
    t: &mut Tx<'_>,
    id: IdentifierId,
    from: ContactId,
    to: ContactId,
    is_primary: bool,
) -> Outcome {
    let org = t.org;
    let stmt = t.statement(
        "DELETE FROM identifiers WHERE id = $1 AND contact_id = $2 AND org = $3 \
         RETURNING kind, value",
    )?;
    let Some(row) =
        t.tx.query_opt(&stmt, &[&id.0, &from.0, &org])
            .map_err(commit_error)?
    else {
        return Err(CommitError::precondition(format!(
            "identifier {id} is not on contact {from}"
        )));
    };
    let (kind, value): (String, String) = (row.get(0), row.get(1));
    t.one_row(
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         SELECT $1, $2, $3, $4, $5, $6 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $2 AND org = $3)",
        &[&id.0, &to.0, &org, &kind, &value, &is_primary],
        || format!("contact {to} no longer exists"),
    )
}

/// Identifiers and memories go with the contact (`ON DELETE CASCADE`).
fn delete_contact(t: &mut Tx<'_>, id: ContactId, expected: u64) -> Outcome {
    let org = t.org;
    t.one_row(
        "DELETE FROM contacts WHERE id = $1 AND org = $2 AND version = $3",
        &[&id.0, &org, &version(expected)],
        || format!("contact {id} changed since it was read"),
    )
}

/// The record without its entities, which have rows of their own (`entities.rs`).
fn memory_body(record: &MemoryRecord) -> Result<String, CommitError> {
    entities::core(record)
}

/// A second record for one `(org, contact, scope)` violates the unique index.
fn insert_memory(t: &mut Tx<'_>, m: &MemoryRecord) -> Outcome {
    let org = t.org;
    t.one_row(
        "INSERT INTO memories (id, org, contact_id, scope, created_at, revision, core) \
         SELECT $1, $2, $3, $4, $5, $6, $7 \
         WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $3 AND org = $2)",
        &[
            &m.id.0,
            &org,
            &m.contact_id.0,
            &codec::scope_key(&m.scope()),
            &m.created_at.as_millis(),
            &version(m.revision),
            &memory_body(m)?,
        ],
        || format!("contact {} no longer exists", m.contact_id),
    )
}

fn update_memory(t: &mut Tx<'_>, m: &MemoryRecord, expected: u64) -> Outcome {
    let org = t.org;
    t.one_row(
        "UPDATE memories SET revision = $1, core = $2, contact_id = $5 \
         WHERE id = $3 AND org = $4 AND revision = $6 \
         AND EXISTS (SELECT 1 FROM contacts WHERE id = $5 AND org = $4)",
        &[
            &version(m.revision),
            &memory_body(m)?,
            &m.id.0,
            &org,
            &m.contact_id.0,
            &version(expected),
        ],
        || format!("memory {} changed since it was read", m.id),
    )
}

fn delete_memory(t: &mut Tx<'_>, id: MemoryId, expected: u64) -> Outcome {
    let org = t.org;
    t.one_row(
        "DELETE FROM memories WHERE id = $1 AND org = $2 AND revision = $3",
        &[&id.0, &org, &version(expected)],
        || format!("memory {id} changed since it was read"),
    )
}
