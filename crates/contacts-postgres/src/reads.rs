//! The read statements and the decoding of their rows. Every read is one statement,
//! so one snapshot and one round trip.

use std::sync::Arc;

use compact_str::CompactString;
use contacts_core::store::{
    ContactRecord, IdentifierKey, KindCounts, ListPage, Owner, Owners, PageStart, StoredContact,
    codec,
};
use contacts_core::uuid::Uuid;
use contacts_core::{
    Contact, ContactId, Identifier, IdentifierId, IdentifierKind, MemoryId, MemoryRecord,
    MemoryScope, OrgId, Result, SharedContact, Timestamp,
};
use postgres::Row;

use crate::PostgresStore;
use crate::entities::memory_document;
use crate::error::{corrupt, read_error};
use crate::open::{Conn, prepared};

/// The contact columns every contact query selects first, in this order, followed by
/// its identifiers as JSON `[[id, kind, value, is_primary], ...]` (oldest first).
macro_rules! contact_columns {
    ($c:literal) => {
        concat!(
            $c,
            ".id, ",
            $c,
            ".name, ",
            $c,
            ".metadata, ",
            $c,
            ".created_at, ",
            $c,
            ".updated_at, ",
            $c,
            ".version, ",
            "(SELECT coalesce(json_agg(json_build_array(j.id, j.kind, j.value, j.is_primary) \
             ORDER BY j.seq), '[]')::text FROM identifiers AS j WHERE j.org = ",
            $c,
            ".org AND j.contact_id = ",
            $c,
            ".id)"
        )
    };
}

/// Every requested key with its owner and the owner's identifier counts (not its
/// identifiers: resolve decides from counts, which migration 0012's triggers keep on
/// the contact row), in one statement (one snapshot, one round trip). Each step is a `LATERAL ... LIMIT 1` probe of a unique key, which the
/// planner cannot reorder: the store's generic plans are made on a connection's first
/// call, and on tables without statistics yet (a new database being imported into,
/// without autovacuum) a plain join was planned as a scan of the org's identifiers per
/// call, so every lookup grew with the org (an import of 20,000 rows took 117 s).
const LOOKUP: &str = "SELECT k.ord, c.id, c.name, c.metadata, c.created_at, c.updated_at, \
     c.version, c.phone_numbers, c.emails, c.external_ids \
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS k(kind, value, ord) \
     CROSS JOIN LATERAL (SELECT i.contact_id FROM identifiers AS i \
       WHERE i.org = $1 AND i.kind = k.kind AND i.value = k.value LIMIT 1) AS i \
     CROSS JOIN LATERAL (SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, \
       c.version, c.phone_numbers, c.emails, c.external_ids FROM contacts AS c \
       WHERE c.org = $1 AND c.id = i.contact_id LIMIT 1) AS c";

const GET: &str = concat!(
    "SELECT ",
    contact_columns!("c"),
    ", ARRAY(SELECT ",
    memory_document!(),
    " FROM memories AS m WHERE m.org = c.org AND m.contact_id = c.id \
     ORDER BY m.created_at, m.id) \
     FROM contacts AS c WHERE c.id = $1 AND c.org = $2"
);

/// The org's total (the sum of its count slots, migration 0002) and one page, in one
/// statement; an empty page is one row of `NULL`s after the total. `$page` selects the
/// page's ids from the `(org, created_at, id)` index alone (an index-only scan), so
/// an offset skips index entries without reading a contact, and rows, identifiers and
/// memories are read for the page alone.
macro_rules! list_statement {
    ($page:literal) => {
        concat!(
            "WITH total AS (SELECT coalesce(sum(contacts), 0)::bigint AS n \
             FROM org_counts WHERE org = $1), page AS (",
            $page,
            ") SELECT total.n, p.* FROM total LEFT JOIN LATERAL (SELECT ",
            contact_columns!("c"),
            " AS identifiers, ARRAY(SELECT ",
            memory_document!(),
            " FROM memories AS m \
             WHERE m.org = c.org AND m.contact_id = c.id ORDER BY m.created_at, m.id) AS memories \
             FROM page JOIN contacts AS c ON c.org = $1 AND c.id = page.id) AS p \
             ON true ORDER BY p.created_at, p.id"
        )
    };
}

const LIST_BY_OFFSET: &str = list_statement!(
    "SELECT id FROM contacts WHERE org = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
);

const LIST_AFTER: &str = list_statement!(
    "SELECT id FROM contacts WHERE org = $1 AND (created_at, id) > ($2, $3) \
     ORDER BY created_at, id LIMIT $4"
);

// Each reads a record's whole document: its core and its entities' rows
// (`entities::memory_document`).
const MEMORY_BY_SCOPE: &str = concat!(
    "SELECT ",
    memory_document!(),
    " FROM memories AS m WHERE m.org = $1 AND m.contact_id = $2 AND m.scope = $3"
);

const MEMORY_BY_ID: &str = concat!(
    "SELECT ",
    memory_document!(),
    " FROM memories AS m WHERE m.id = $1 AND m.org = $2"
);

/// What delete and reset need, from the rows' columns: no record is decoded.
const CONTACT_VERSION: &str = "SELECT version FROM contacts WHERE id = $1 AND org = $2";
const MEMORY_REVISION: &str =
    "SELECT id, revision FROM memories WHERE org = $1 AND contact_id = $2 AND scope = $3";

fn memory_from_body(body: &str) -> Result<Arc<MemoryRecord>> {
    codec::decode_memory(body).map(Arc::new).map_err(corrupt)
}

fn column<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(read_error)
}

/// The contact of the first six [`contact_columns!`] starting at column `at`, and its
/// version.
fn contact_fields(org: OrgId, row: &Row, at: usize) -> Result<(Contact, u64)> {
    let id = ContactId(column::<Uuid>(row, at)?);
    let metadata = codec::decode_metadata(column::<&str>(row, at + 2)?)
        .map_err(|e| corrupt(format!("contact {id}: {e}")))?;
    let version: i64 = column(row, at + 5)?;
    let contact = Contact {
        id,
        org_id: org,
        name: column::<Option<&str>>(row, at + 1)?.map(CompactString::from),
        metadata,
        created_at: Timestamp::from_millis(column(row, at + 3)?),
        updated_at: Timestamp::from_millis(column(row, at + 4)?),
    };
    Ok((
        contact,
        u64::try_from(version).map_err(|_| corrupt("negative version"))?,
    ))
}

/// A contact from the seven [`contact_columns!`] starting at column `at`.
fn contact_from_row(org: OrgId, row: &Row, at: usize) -> Result<StoredContact> {
    let (contact, version) = contact_fields(org, row, at)?;
    let id = contact.id;
    let idents: Vec<(Uuid, String, String, bool)> =
        serde_json::from_str(column::<&str>(row, at + 6)?)
            .map_err(|e| corrupt(format!("identifiers of contact {id}: {e}")))?;
    let identifiers = idents
        .into_iter()
        .map(|(iid, kind, value, is_primary)| {
            let identifier_type = IdentifierKind::from_name(&kind)
                .ok_or_else(|| corrupt(format!("unknown identifier kind {kind:?}")))?;
            Ok(Identifier {
                id: IdentifierId(iid),
                contact_id: id,
                identifier_type,
                identifier_value: value,
                is_primary,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StoredContact {
        contact,
        identifiers,
        version,
    })
}

fn count(row: &Row, i: usize) -> Result<u32> {
    // A negative count would mean the triggers of migration 0012 were bypassed.
    u32::try_from(column::<i32>(row, i)?)
        .map_err(|_| corrupt("an identifier count is out of range"))
}

fn memories_from(bodies: Vec<String>) -> Result<Vec<Arc<MemoryRecord>>> {
    bodies.iter().map(|b| memory_from_body(b)).collect()
}

pub(crate) fn lookup(
    store: &PostgresStore,
    org: OrgId,
    keys: &[IdentifierKey<'_>],
) -> Result<Owners> {
    let kinds: Vec<&str> = keys.iter().map(|k| k.kind.as_str()).collect();
    let values: Vec<&str> = keys.iter().map(|k| k.value).collect();
    let rows = store.query(LOOKUP, &[&org.0, &kinds, &values])?;
    let mut out: Owners = std::iter::repeat_n(None, keys.len()).collect();
    for row in &rows {
        let ord: i64 = column(row, 0)?;
        let slot = usize::try_from(ord - 1)
            .ok()
            .filter(|i| *i < keys.len())
            .ok_or_else(|| corrupt("lookup returned an unknown key position"))?;
        let id = ContactId(column::<Uuid>(row, 1)?);
        // Two keys owned by one contact share one record.
        let shared = out.iter().flatten().find(|o| o.contact.id == id).cloned();
        let owner = match shared {
            Some(o) => o,
            None => {
                let (contact, version) = contact_fields(org, row, 1)?;
                Owner {
                    contact: SharedContact::new(contact),
                    version,
                    counts: KindCounts::from_counts(count(row, 7)?, count(row, 8)?, count(row, 9)?),
                }
            }
        };
        out[slot] = Some(owner);
    }
    Ok(out)
}

pub(crate) fn get_contact(
    store: &PostgresStore,
    org: OrgId,
    id: ContactId,
) -> Result<Option<ContactRecord>> {
    let rows = store.query(GET, &[&id.0, &org.0])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(ContactRecord {
        contact: contact_from_row(org, row, 0)?,
        memories: memories_from(column(row, 7)?)?,
    }))
}

pub(crate) fn memory(
    store: &PostgresStore,
    org: OrgId,
    contact: ContactId,
    scope: &MemoryScope,
) -> Result<Option<Arc<MemoryRecord>>> {
    let rows = store.query(
        MEMORY_BY_SCOPE,
        &[&org.0, &contact.0, &codec::scope_key(scope)],
    )?;
    rows.first()
        .map(|r| memory_from_body(&column::<String>(r, 0)?))
        .transpose()
}

pub(crate) fn memory_by_id(
    store: &PostgresStore,
    org: OrgId,
    id: MemoryId,
) -> Result<Option<Arc<MemoryRecord>>> {
    let rows = store.query(MEMORY_BY_ID, &[&id.0, &org.0])?;
    rows.first()
        .map(|r| memory_from_body(&column::<String>(r, 0)?))
        .transpose()
}

pub(crate) fn contact_version(
    store: &PostgresStore,
    org: OrgId,
    id: ContactId,
) -> Result<Option<u64>> {
    let rows = store.query(CONTACT_VERSION, &[&id.0, &org.0])?;
    rows.first()
        .map(|r| u64::try_from(column::<i64>(r, 0)?).map_err(|_| corrupt("negative version")))
        .transpose()
}

pub(crate) fn memory_revision(
    store: &PostgresStore,
    org: OrgId,
    contact: ContactId,
    scope: &MemoryScope,
) -> Result<Option<(MemoryId, u64)>> {
    let rows = store.query(
        MEMORY_REVISION,
        &[&org.0, &contact.0, &codec::scope_key(scope)],
    )?;
    rows.first()
        .map(|r| {
            let revision =
                u64::try_from(column::<i64>(r, 1)?).map_err(|_| corrupt("negative revision"))?;
            Ok((MemoryId(column::<Uuid>(r, 0)?), revision))
        })
        .transpose()
}

pub(crate) fn list(
    store: &PostgresStore,
    org: OrgId,
    start: PageStart,
    limit: u64,
) -> Result<ListPage> {
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let rows = {
        let mut conn = store.conn()?;
        let Conn { client, statements } = &mut *conn;
        let sql = match start {
            PageStart::Offset(_) => LIST_BY_OFFSET,
            PageStart::After(_) => LIST_AFTER,
        };
        let stmt = prepared(client, statements, sql).map_err(read_error)?;
        // The one statement that wants a plan made for its values: a generic plan
        // cannot know that LIMIT is small and sorts the whole org instead of
        // walking the (org, created_at, id) index (measured 266 ms against 76 ms
        // for the first page of a million contacts).
        let mut tx = client.transaction().map_err(read_error)?;
        tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
            .map_err(read_error)?;
        let rows = match start {
            PageStart::Offset(offset) => tx.query(&stmt, &[&org.0, &clamp(limit), &clamp(offset)]),
            PageStart::After(p) => tx.query(
                &stmt,
                &[&org.0, &p.created_at.as_millis(), &p.id.0, &clamp(limit)],
            ),
        }
        .map_err(read_error)?;
        tx.commit().map_err(read_error)?;
        rows
    };
    let mut total = 0;
    let mut contacts = Vec::with_capacity(rows.len());
    for row in &rows {
        let n: i64 = column(row, 0)?;
        total = u64::try_from(n).map_err(|_| corrupt("negative count"))?;
        if column::<Option<Uuid>>(row, 1)?.is_none() {
            continue; // the empty page's row of NULLs
        }
        contacts.push(ContactRecord {
            contact: contact_from_row(org, row, 1)?,
            memories: memories_from(column(row, 8)?)?,
        });
    }
    Ok(ListPage { total, contacts })
}
