//! A new person in one statement: the batch a resolve of someone new commits (the
//! contact, its identifiers, its first history entry and its change-feed events) sent
//! as one statement outside an explicit transaction, so it commits in one round trip
//! where `BEGIN`, a statement per row and `COMMIT` took about nine (docs/benchmarks.md,
//! "PostgreSQL hit with counts on the row, and a create in one statement").
//!
//! One statement is one transaction, so the batch is as atomic as in `commit.rs`, and
//! its preconditions fail the same way: a taken contact id or identifier value violates
//! a unique index. Its data-modifying `WITH` parts depend on each other in the order
//! `commit.rs` writes in (the rows, then the org's count slot, then the feed's head),
//! so the two keep taking locks in one order, and the head row stays locked from the
//! moment it is moved until the statement commits, which is what numbers concurrent
//! batches in commit order (contract rule 15). Each event's body is written around the
//! number the head gives it (`codec::encode_event_around_sequence`).
//!
//! Retention is applied by the same statement when the feed's head it locks is the one
//! its snapshot saw (see [`NEW_PERSON`]); when another writer of the org committed in
//! between, it runs right after, in a transaction of its own
//! (`events::prune_after_commit`). If that fails the batch has still committed, and is
//! reported so: the feed holds a few more events than it keeps until the org's next
//! write drops them (each drops up to twice what it appends, and eight more).

use contacts_core::store::{CommitError, WriteBatch, WriteOp, codec};
use contacts_core::{Contact, ContactHistoryEntry, Event, Identifier, OrgId, Timestamp};

use crate::commit;
use crate::error::{BACKEND, commit_error};
use crate::events::{self, Head};
use crate::open::{Conn, prepared};

/// The statement. Each part reads the one before it, which is what orders parts that
/// PostgreSQL otherwise runs in no set order (and a data-modifying part nobody reads
/// runs last): `written` is materialized and counts every row written, `counted` (the
/// org's count slot) uses all of its counts and `head` uses `counted`'s, so the rows'
/// unique-index entries come first, then the slot, then the head, as in `commit.rs`
/// (`EXPLAIN VERBOSE` shows each part's scans of the parts before it). Without that a
/// new person could hold the head while waiting on another writer's uncommitted
/// identifier, and that writer wait on the head: a deadlock. `$1` org; `$2..$6` the
/// contact; `$7..$10` its identifiers in attach order; `$11..$13` its history entries
/// (none or one); `$14..$16` its events, each as the text before and after its number,
/// and its time (none when the feed is off); `$17` how many events the org keeps,
/// `$18` the expiry time (or null), `$19` how many old events one write may drop.
///
/// Retention (`events.rs`, `prunes`) is planned from the statement's snapshot
/// (`seen`, `plan`) and applied only if the head the statement locks is still the one
/// it saw: then every event it drops was committed before the snapshot, so its
/// `DELETE` sees them all. If another writer of the org committed in between, the head's
/// `first` is left alone, and the caller prunes after the commit instead.
const NEW_PERSON: &str = "WITH contact AS (\
       INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
       VALUES ($2, $1, $3, $4, $5, $6, 1) RETURNING 1), \
     idents AS (\
       INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
       SELECT u.id, $2, $1, u.kind, u.value, u.is_primary \
       FROM unnest($7::uuid[], $8::text[], $9::text[], $10::bool[]) \
       WITH ORDINALITY AS u(id, kind, value, is_primary, ord) ORDER BY u.ord RETURNING 1), \
     history AS (\
       INSERT INTO contact_history (org, contact_id, version, entry, redacted) \
       SELECT $1, $2, u.version, u.entry, u.redacted \
       FROM unnest($11::bigint[], $12::text[], $13::text[]) AS u(version, entry, redacted) \
       RETURNING 1), \
     written AS MATERIALIZED (\
       SELECT (SELECT count(*) FROM contact) AS contacts, (SELECT count(*) FROM idents) AS idents, \
       (SELECT count(*) FROM history) AS entries), \
     counted AS (\
       INSERT INTO org_counts (org, slot, contacts) \
       SELECT $1, pg_backend_pid() % 16, w.contacts FROM written AS w \
       WHERE w.idents + w.entries >= 0 \
       ON CONFLICT (org, slot) DO UPDATE SET contacts = org_counts.contacts + EXCLUDED.contacts \
       RETURNING 1), \
     seen AS (SELECT s.last, s.first FROM event_heads AS s WHERE s.org = $1), \
     plan AS (\
       SELECT s.last, s.first AS old_first, greatest(k.kept_from, coalesce((\
         SELECT max(o.seq) + 1 FROM (SELECT e.seq, e.at FROM events AS e \
           WHERE e.org = $1 AND e.seq >= k.kept_from AND e.seq <= s.last \
           ORDER BY e.seq LIMIT $19) AS o WHERE o.at < $18::bigint), k.kept_from)) AS new_first \
       FROM seen AS s CROSS JOIN LATERAL (SELECT greatest(s.first, \
         least(s.last + cardinality($14::text[]) - $17 + 1, s.first + $19, s.last + 1)) \
         AS kept_from) AS k), \
     head AS (\
       INSERT INTO event_heads (org, last, first) \
       SELECT $1, cardinality($14::text[]), 1 FROM (SELECT count(*) AS n FROM counted) AS c \
       WHERE cardinality($14::text[]) > 0 AND c.n >= 0 \
       ON CONFLICT (org) DO UPDATE SET last = event_heads.last + EXCLUDED.last, \
       first = CASE WHEN event_heads.last = (SELECT p.last FROM plan AS p) \
         AND event_heads.first = (SELECT p.old_first FROM plan AS p) \
         THEN (SELECT p.new_first FROM plan AS p) ELSE event_heads.first END \
       RETURNING last, first), \
     gone AS (\
       DELETE FROM events AS e USING head AS h, plan AS p \
       WHERE e.org = $1 AND e.seq >= p.old_first AND e.seq < h.first), \
     fed AS (\
       INSERT INTO events (org, seq, at, body) \
       SELECT $1, h.last - cardinality($14::text[]) + u.ord, u.at, \
       u.before || (h.last - cardinality($14::text[]) + u.ord)::text || u.after \
       FROM head AS h, unnest($14::text[], $15::text[], $16::bigint[]) \
       WITH ORDINALITY AS u(before, after, at, ord) RETURNING 1) \
     SELECT h.last, h.first, p.last, p.new_first FROM (SELECT 1) AS one \
     LEFT JOIN head AS h ON true LEFT JOIN plan AS p ON true";

/// A batch that is one new person, borrowed from it.
pub(crate) struct NewPerson<'a> {
    contact: &'a Contact,
    identifiers: Vec<&'a Identifier>,
    history: Option<&'a ContactHistoryEntry>,
    events: Option<(&'a [Event], u64, Option<Timestamp>)>,
}

impl<'a> NewPerson<'a> {
    /// The batch as a new person, if it is exactly one: an `InsertContact`, then
    /// `InsertIdentifier`s of that contact, then at most one `AppendHistory` of it
    /// that drops nothing, then at most one `AppendEvents`, in that order (the order
    /// `decide` writes them in). Anything else goes through `commit.rs`.
    pub(crate) fn of(org: OrgId, batch: &'a WriteBatch) -> Option<Self> {
        let (first, mut rest) = batch.ops.split_first()?;
        let WriteOp::InsertContact(contact) = first else {
            return None;
        };
        if contact.org_id != org {
            return None;
        }
        let mut person = NewPerson {
            contact,
            identifiers: Vec::new(),
            history: None,
            events: None,
        };
        while let Some((WriteOp::InsertIdentifier(i), more)) = rest.split_first() {
            if i.contact_id != contact.id {
                return None;
            }
            person.identifiers.push(i);
            rest = more;
        }
        if let Some((
            WriteOp::AppendHistory {
                entry,
                drop_through: None,
            },
            more,
        )) = rest.split_first()
        {
            if entry.contact_id != contact.id {
                return None;
            }
            person.history = Some(entry);
            rest = more;
        }
        if let Some((
            WriteOp::AppendEvents {
                events,
                keep,
                expire_before,
            },
            more,
        )) = rest.split_first()
        {
            // More events than the org keeps would drop some of its own (see `plan`).
            if events.len() as u64 > *keep {
                return None;
            }
            person.events = Some((events, *keep, *expire_before));
            rest = more;
        }
        rest.is_empty().then_some(person)
    }
}

/// Commits `person` in one statement, then applies retention (module docs).
pub(crate) fn commit(
    conn: &mut Conn,
    org: OrgId,
    person: &NewPerson<'_>,
) -> Result<(), CommitError> {
    let c = person.contact;
    let ids: Vec<_> = person.identifiers.iter().map(|i| i.id.0).collect();
    let kinds: Vec<&str> = person
        .identifiers
        .iter()
        .map(|i| i.identifier_type.as_str())
        .collect();
    let values: Vec<&str> = person
        .identifiers
        .iter()
        .map(|i| i.identifier_value.as_str())
        .collect();
    let primary: Vec<bool> = person.identifiers.iter().map(|i| i.is_primary).collect();
    let mut versions = Vec::new();
    let mut entries = Vec::new();
    let mut redacted = Vec::new();
    if let Some(entry) = person.history {
        let (full, short) =
            codec::encode_history(entry).map_err(|e| CommitError::backend(BACKEND, e))?;
        versions.push(commit::version(entry.version));
        entries.push(full);
        redacted.push(short);
    }
    let (events, keep, expire_before) = person.events.unwrap_or((&[], 1, None));
    let mut befores = Vec::with_capacity(events.len());
    let mut afters = Vec::with_capacity(events.len());
    let mut ats = Vec::with_capacity(events.len());
    for e in events {
        let (before, after) =
            codec::encode_event_around_sequence(e).map_err(|e| CommitError::backend(BACKEND, e))?;
        befores.push(before);
        afters.push(after);
        ats.push(e.timestamp.as_millis());
    }
    let appended = events.len() as i64;
    let keep_n = events::seq(keep);
    let expired = expire_before.map(Timestamp::as_millis);
    let bound = 2 * appended + 8;
    let Conn { client, statements } = conn;
    let stmt = prepared(client, statements, NEW_PERSON).map_err(commit_error)?;
    let row = client
        .query_one(
            &stmt,
            &[
                &org.0,
                &c.id.0,
                &c.name.as_deref(),
                &codec::encode_metadata(&c.metadata),
                &c.created_at.as_millis(),
                &c.updated_at.as_millis(),
                &ids,
                &kinds,
                &values,
                &primary,
                &versions,
                &entries,
                &redacted,
                &befores,
                &afters,
                &ats,
                &keep_n,
                &expired,
                &bound,
            ],
        )
        .map_err(|e| {
            // As the ROLLBACK of a failed transaction does in `commit.rs`, one more
            // exchange lets the client see a connection the server closed (a killed
            // backend), so the pool discards it instead of handing it out again.
            let _ = client.batch_execute("");
            commit_error(e)
        })?;
    // Every part inserts all its rows or fails the statement. No head: the feed is off.
    let (Some(last), Some(oldest)) = (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
    else {
        return Ok(());
    };
    // The head the statement saw is the one it moved, and it went where the plan said
    // (or there was none before): retention was applied with it.
    let (seen, planned): (Option<i64>, Option<i64>) = (row.get(2), row.get(3));
    let applied = match (seen, planned) {
        (Some(seen), Some(planned)) => seen == last - appended && planned == oldest,
        _ => last == appended,
    };
    if applied {
        return Ok(());
    }
    let head = Head {
        appended,
        last,
        oldest,
    };
    // Committed already: a failed prune is caught up by the org's next write.
    let _ = events::prune_after_commit(client, org.0, head, keep, expire_before);
    Ok(())
}
