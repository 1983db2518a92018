//! The read statements and the decoding of their rows. Each read is one snapshot: a
//! single statement, or a read transaction when it needs several.

use std::sync::Arc;

use compact_str::CompactString;
use contacts_core::store::{
    ContactRecord, IdentifierKey, KindCounts, ListPage, Owner, Owners, PageStart, StoredContact,
    codec,
};
use contacts_core::uuid::Uuid;
use contacts_core::{
    Contact, ContactId, Error, Identifier, IdentifierId, IdentifierKind, MemoryId, MemoryRecord,
    MemoryScope, OrgId, Result, SharedContact, Timestamp,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};

use crate::entities::memory_document;
use crate::error::{SqliteError, read_error};

/// One row per hit: the contact and its identifier counts (kept on the row by the
/// schema's triggers), not its identifiers.
const LOOKUP: &str = "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version, \
     c.phone_numbers, c.emails, c.external_ids \
     FROM identifiers AS i \
     JOIN contacts AS c ON c.id = i.contact_id \
     WHERE i.org = ?1 AND i.kind = ?2 AND i.value = ?3";

const GET: &str = "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version, \
     j.id, j.kind, j.value, j.is_primary \
     FROM contacts AS c LEFT JOIN identifiers AS j ON j.contact_id = c.id \
     WHERE c.id = ?1 AND c.org = ?2 \
     ORDER BY j.seq";

/// The org's total, kept by the schema's triggers (migration 0004): one row, however
/// many contacts the org holds.
const TOTAL: &str = "SELECT contacts FROM org_counts WHERE org = ?1";

// Each reads a record's whole document: its body and its entities' rows
// (`entities::memory_document`).
const CONTACT_MEMORIES: &str = concat!(
    "SELECT ",
    memory_document!(),
    " FROM memories AS m WHERE m.contact_id = ?1 AND m.org = ?2 ORDER BY m.created_at, m.id"
);

const MEMORY_BY_SCOPE: &str = concat!(
    "SELECT ",
    memory_document!(),
    " FROM memories AS m WHERE m.org = ?1 AND m.contact_id = ?2 AND m.scope = ?3"
);

const MEMORY_BY_ID: &str = concat!(
    "SELECT ",
    memory_document!(),
    " FROM memories AS m WHERE m.id = ?1 AND m.org = ?2"
);

/// What delete and reset need, from the rows' columns: no record is decoded.
const CONTACT_VERSION: &str = "SELECT version FROM contacts WHERE id = ?1 AND org = ?2";
const MEMORY_REVISION: &str =
    "SELECT id, revision FROM memories WHERE org = ?1 AND contact_id = ?2 AND scope = ?3";

/// A page's bounds by offset: the skip walks only the `(org, created_at, id)` index,
/// which covers it (the table is WITHOUT ROWID, so the index holds the key), and
/// touches no contact row; the cost is one index step per skipped contact.
const PAGE_BY_OFFSET: &str = "SELECT id, created_at FROM contacts \
     WHERE org = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3";

/// A page's bounds by cursor: a seek in the same index, at the same cost at any depth.
const PAGE_AFTER: &str = "SELECT id, created_at FROM contacts \
     WHERE org = ?1 AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4";

fn memory_from_body(body: &str) -> Result<MemoryRecord> {
    codec::decode_memory(body).map_err(corrupt)
}

fn query_memories(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Arc<MemoryRecord>>> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error)?;
    let bodies = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(read_error)?;
    bodies
        .map(|b| memory_from_body(&b.map_err(read_error)?).map(Arc::new))
        .collect()
}

/// The contacts of a page, given its first and last positions: a range of the index,
/// so rows are read for the page alone.
const LIST: &str = "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version, \
     j.id, j.kind, j.value, j.is_primary \
     FROM contacts AS c LEFT JOIN identifiers AS j ON j.contact_id = c.id \
     WHERE c.org = ?1 AND (c.created_at, c.id) >= (?2, ?3) AND (c.created_at, c.id) <= (?4, ?5) \
     ORDER BY c.created_at, c.id, j.seq";

/// The memories of the same range of a page.
const LIST_MEMORIES: &str = concat!(
    "SELECT ",
    memory_document!(),
    " FROM contacts AS c JOIN memories AS m ON m.contact_id = c.id \
     WHERE c.org = ?1 AND (c.created_at, c.id) >= (?2, ?3) AND (c.created_at, c.id) <= (?4, ?5) \
     ORDER BY c.created_at, c.id, m.created_at, m.id"
);

pub(crate) fn corrupt(what: impl Into<String>) -> Error {
    SqliteError::Corrupt(what.into()).into()
}

fn uuid(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| corrupt("an id is not 16 bytes"))
}

pub(crate) fn kind_name(kind: IdentifierKind) -> &'static str {
    kind.as_str()
}

/// The contact id in a row's first column.
fn contact_id(row: &Row<'_>) -> Result<ContactId> {
    let bytes = row
        .get_ref(0)
        .map_err(read_error)?
        .as_blob()
        .map_err(|_| corrupt("a contact id is not a blob"))?;
    Ok(ContactId(uuid(bytes)?))
}

/// Folds rows of the ten contact-and-identifier columns the queries above select (one
/// row per identifier, a contact's rows contiguous) into contacts.
fn collect_contacts(org: OrgId, rows: &mut rusqlite::Rows<'_>) -> Result<Vec<StoredContact>> {
    let mut out: Vec<StoredContact> = Vec::new();
    while let Some(row) = rows.next().map_err(read_error)? {
        let id = contact_id(row)?;
        if out.last().is_none_or(|c| c.contact.id != id) {
            out.push(contact_from_row(org, id, row)?);
        }
        if let Some(ident) = identifier_from_row(id, row)? {
            // `out` is non-empty: a contact was pushed above for this row.
            out.last_mut()
                .expect("pushed above")
                .identifiers
                .push(ident);
        }
    }
    Ok(out)
}

/// The contact of a row whose first six columns are the contact's.
fn contact_fields(org: OrgId, id: ContactId, row: &Row<'_>) -> Result<(Contact, u64)> {
    let text = |i: usize| -> Result<Option<&str>> {
        match row.get_ref(i).map_err(read_error)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Some)
                .map_err(|_| corrupt(format!("contact {id}: text is not UTF-8"))),
            _ => Err(corrupt(format!(
                "contact {id}: a text column holds another type"
            ))),
        }
    };
    let name = text(1)?.map(CompactString::from);
    let metadata = codec::decode_metadata(text(2)?.unwrap_or_default())
        .map_err(|e| corrupt(format!("contact {id}: {e}")))?;
    let version: i64 = row.get(5).map_err(read_error)?;
    let contact = Contact {
        id,
        org_id: org,
        name,
        metadata,
        created_at: Timestamp::from_millis(row.get(3).map_err(read_error)?),
        updated_at: Timestamp::from_millis(row.get(4).map_err(read_error)?),
    };
    Ok((
        contact,
        u64::try_from(version).map_err(|_| corrupt("negative version"))?,
    ))
}

fn contact_from_row(org: OrgId, id: ContactId, row: &Row<'_>) -> Result<StoredContact> {
    let (contact, version) = contact_fields(org, id, row)?;
    Ok(StoredContact {
        contact,
        identifiers: Vec::new(),
        version,
    })
}

fn count(row: &Row<'_>, i: usize) -> Result<u32> {
    let n: i64 = row.get(i).map_err(read_error)?;
    u32::try_from(n).map_err(|_| corrupt("an identifier count is out of range"))
}

/// An owner from a [`LOOKUP`] row.
fn owner_from_row(org: OrgId, row: &Row<'_>) -> Result<Owner> {
    let id = contact_id(row)?;
    let (contact, version) = contact_fields(org, id, row)?;
    Ok(Owner {
        contact: SharedContact::new(contact),
        version,
        counts: KindCounts::from_counts(count(row, 6)?, count(row, 7)?, count(row, 8)?),
    })
}

fn identifier_from_row(contact: ContactId, row: &Row<'_>) -> Result<Option<Identifier>> {
    let id: Option<Vec<u8>> = row.get(6).map_err(read_error)?;
    let Some(id) = id else { return Ok(None) };
    let kind: String = row.get(7).map_err(read_error)?;
    let identifier_type = IdentifierKind::from_name(&kind)
        .ok_or_else(|| corrupt(format!("unknown identifier kind {kind:?}")))?;
    Ok(Some(Identifier {
        id: IdentifierId(uuid(&id)?),
        contact_id: contact,
        identifier_type,
        identifier_value: row.get(8).map_err(read_error)?,
        is_primary: row.get(9).map_err(read_error)?,
    }))
}

fn lookup_one(conn: &Connection, org: OrgId, key: &IdentifierKey<'_>) -> Result<Option<Owner>> {
    let mut stmt = conn.prepare_cached(LOOKUP).map_err(read_error)?;
    let mut rows = stmt
        .query(params![org.0.as_bytes(), kind_name(key.kind), key.value])
        .map_err(read_error)?;
    match rows.next().map_err(read_error)? {
        Some(row) => owner_from_row(org, row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn lookup(conn: &Connection, org: OrgId, keys: &[IdentifierKey<'_>]) -> Result<Owners> {
    // One statement is its own snapshot; several need a read transaction.
    let tx = if keys.len() > 1 {
        Some(conn.unchecked_transaction().map_err(read_error)?)
    } else {
        None
    };
    let mut out = Owners::with_capacity(keys.len());
    for key in keys {
        let found = lookup_one(conn, org, key)?.map(|c| {
            // Two keys owned by one contact share one record.
            out.iter()
                .flatten()
                .find(|o| o.contact.id == c.contact.id)
                .cloned()
                .unwrap_or(c)
        });
        out.push(found);
    }
    if let Some(tx) = tx {
        tx.commit().map_err(read_error)?;
    }
    Ok(out)
}

pub(crate) fn get(conn: &Connection, org: OrgId, id: ContactId) -> Result<Option<ContactRecord>> {
    let tx = conn.unchecked_transaction().map_err(read_error)?;
    let contact = {
        let mut stmt = conn.prepare_cached(GET).map_err(read_error)?;
        let mut rows = stmt
            .query(params![id.0.as_bytes(), org.0.as_bytes()])
            .map_err(read_error)?;
        collect_contacts(org, &mut rows)?.pop()
    };
    let record = match contact {
        None => None,
        Some(contact) => Some(ContactRecord {
            contact,
            memories: query_memories(
                conn,
                CONTACT_MEMORIES,
                params![id.0.as_bytes(), org.0.as_bytes()],
            )?,
        }),
    };
    tx.commit().map_err(read_error)?;
    Ok(record)
}

pub(crate) fn memory(
    conn: &Connection,
    org: OrgId,
    contact: ContactId,
    scope: &MemoryScope,
) -> Result<Option<Arc<MemoryRecord>>> {
    Ok(query_memories(
        conn,
        MEMORY_BY_SCOPE,
        params![
            org.0.as_bytes(),
            contact.0.as_bytes(),
            codec::scope_key(scope)
        ],
    )?
    .pop())
}

pub(crate) fn memory_by_id(
    conn: &Connection,
    org: OrgId,
    id: MemoryId,
) -> Result<Option<Arc<MemoryRecord>>> {
    Ok(query_memories(
        conn,
        MEMORY_BY_ID,
        params![id.0.as_bytes(), org.0.as_bytes()],
    )?
    .pop())
}

pub(crate) fn contact_version(conn: &Connection, org: OrgId, id: ContactId) -> Result<Option<u64>> {
    let mut stmt = conn.prepare_cached(CONTACT_VERSION).map_err(read_error)?;
    let mut rows = stmt
        .query(params![id.0.as_bytes(), org.0.as_bytes()])
        .map_err(read_error)?;
    let Some(row) = rows.next().map_err(read_error)? else {
        return Ok(None);
    };
    let version: i64 = row.get(0).map_err(read_error)?;
    u64::try_from(version)
        .map(Some)
        .map_err(|_| corrupt("negative version"))
}

pub(crate) fn memory_revision(
    conn: &Connection,
    org: OrgId,
    contact: ContactId,
    scope: &MemoryScope,
) -> Result<Option<(MemoryId, u64)>> {
    let mut stmt = conn.prepare_cached(MEMORY_REVISION).map_err(read_error)?;
    let mut rows = stmt
        .query(params![
            org.0.as_bytes(),
            contact.0.as_bytes(),
            codec::scope_key(scope)
        ])
        .map_err(read_error)?;
    let Some(row) = rows.next().map_err(read_error)? else {
        return Ok(None);
    };
    let id: Vec<u8> = row.get(0).map_err(read_error)?;
    let revision: i64 = row.get(1).map_err(read_error)?;
    let revision = u64::try_from(revision).map_err(|_| corrupt("negative revision"))?;
    Ok(Some((MemoryId(uuid(&id)?), revision)))
}

/// A page of the org's contacts from one read transaction: the total (one row), the
/// page's bounds from the index, then the contacts and memories in those bounds.
pub(crate) fn list(
    conn: &Connection,
    org: OrgId,
    start: PageStart,
    limit: u64,
) -> Result<ListPage> {
    let tx = conn.unchecked_transaction().map_err(read_error)?;
    let total: i64 = conn
        .prepare_cached(TOTAL)
        .and_then(|mut s| {
            s.query_row(params![org.0.as_bytes()], |r| r.get(0))
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(0),
                    e => Err(e),
                })
        })
        .map_err(read_error)?;
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let bounds = {
        let mut stmt;
        let mut rows = match start {
            PageStart::Offset(offset) => {
                stmt = conn.prepare_cached(PAGE_BY_OFFSET).map_err(read_error)?;
                stmt.query(params![org.0.as_bytes(), clamp(limit), clamp(offset)])
            }
            PageStart::After(p) => {
                stmt = conn.prepare_cached(PAGE_AFTER).map_err(read_error)?;
                stmt.query(params![
                    org.0.as_bytes(),
                    p.created_at.as_millis(),
                    p.id.0.as_bytes(),
                    clamp(limit)
                ])
            }
        }
        .map_err(read_error)?;
        let mut first = None;
        let mut last = None;
        while let Some(row) = rows.next().map_err(read_error)? {
            let position = (
                row.get::<_, i64>(1).map_err(read_error)?,
                contact_id(row)?.0,
            );
            first.get_or_insert(position);
            last = Some(position);
        }
        first.zip(last)
    };
    let total = u64::try_from(total).map_err(|_| corrupt("negative count"))?;
    let Some(((from_at, from_id), (to_at, to_id))) = bounds else {
        tx.commit().map_err(read_error)?;
        return Ok(ListPage {
            total,
            contacts: Vec::new(),
        });
    };
    let range = params![
        org.0.as_bytes(),
        from_at,
        from_id.as_bytes(),
        to_at,
        to_id.as_bytes()
    ];
    let mut stmt = conn.prepare_cached(LIST).map_err(read_error)?;
    let mut rows = stmt.query(range).map_err(read_error)?;
    let contacts = collect_contacts(org, &mut rows)?;
    drop(rows);
    drop(stmt);
    let mut memories = query_memories(conn, LIST_MEMORIES, range)?
        .into_iter()
        .peekable();
    // Both queries walk the page in the same order, so memories are matched
    // to their contacts in one pass.
    let contacts = contacts
        .into_iter()
        .map(|c| {
            let mut mine = Vec::new();
            while let Some(m) = memories.next_if(|m| m.contact_id == c.contact.id) {
                mine.push(m);
            }
            ContactRecord {
                contact: c,
                memories: mine,
            }
        })
        .collect();
    tx.commit().map_err(read_error)?;
    Ok(ListPage { total, contacts })
}
