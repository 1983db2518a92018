//! The change feed (the Store contract, rule 15): the read, and the append with its
//! retention. Commits hold SQLite's write lock from their first statement, so the
//! org's head moves in commit order by itself.

use contacts_core::store::{CommitError, codec};
use contacts_core::{Event, EventLog, OrgId, Result, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{BACKEND, commit_error, read_error};
use crate::reads::corrupt;

/// Past `i64::MAX` a sequence number cannot be stored; clamping keeps ranges total.
fn seq(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The org's newest sequence number, then up to `limit` events after `after`.
pub(crate) fn read(conn: &Connection, org: OrgId, after: u64, limit: u64) -> Result<EventLog> {
    let org = org.0.as_bytes();
    let head: Option<i64> = conn
        .prepare_cached("SELECT last FROM event_heads WHERE org = ?1")
        .and_then(|mut s| s.query_row(params![org], |r| r.get(0)).optional())
        .map_err(read_error)?;
    let mut stmt = conn
        .prepare_cached("SELECT body FROM events WHERE org = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
        .map_err(read_error)?;
    let rows = stmt
        .query_map(params![org, seq(after), seq(limit)], |r| {
            r.get::<_, String>(0)
        })
        .map_err(read_error)?;
    let events = rows
        .map(|text| codec::decode_event(&text.map_err(read_error)?).map_err(corrupt))
        .collect::<Result<Vec<_>>>()?;
    Ok(EventLog {
        events,
        head: head.map_or(0, |h| u64::try_from(h).unwrap_or(0)),
    })
}

/// Numbers and stores `events` after the org's head, then drops the oldest beyond
/// `keep` and, with `expire_before`, the oldest run stamped before it.
pub(crate) fn append(
    tx: &Connection,
    org: &[u8; 16],
    events: &[Event],
    keep: u64,
    expire_before: Option<Timestamp>,
) -> Result<(), CommitError> {
    let n = seq(events.len() as u64);
    let last: i64 = tx
        .prepare_cached(
            "INSERT INTO event_heads (org, last) VALUES (?1, ?2) \
             ON CONFLICT (org) DO UPDATE SET last = last + excluded.last RETURNING last",
        )
        .and_then(|mut s| s.query_row(params![org, n], |r| r.get(0)))
        .map_err(commit_error)?;
    let first = u64::try_from(last - n + 1).unwrap_or(1);
    let mut insert = tx
        .prepare_cached("INSERT INTO events (org, seq, at, body) VALUES (?1, ?2, ?3, ?4)")
        .map_err(commit_error)?;
    for (i, e) in events.iter().enumerate() {
        let number = first + i as u64;
        let body = codec::encode_event(e, number).map_err(|e| CommitError::backend(BACKEND, e))?;
        insert
            .execute(params![org, seq(number), e.timestamp.as_millis(), body])
            .map_err(commit_error)?;
    }
    if last > seq(keep) {
        // The oldest beyond `keep`, but no more than 2n+8 of them: after `keep` is
        // lowered the excess goes over the next commits, each at a bounded cost.
        tx.prepare_cached(
            "DELETE FROM events WHERE org = ?1 AND seq <= min(?2, \
             (SELECT min(seq) FROM events WHERE org = ?1) + ?3)",
        )
        .and_then(|mut s| s.execute(params![org, last - seq(keep), 2 * n + 7]))
        .map_err(commit_error)?;
    }
    if let Some(before) = expire_before {
        // Only a prefix goes, so what is kept stays one run ending at the head; looking
        // at twice as many as were appended (and a few more) keeps up with any rate.
        tx.prepare_cached(
            "DELETE FROM events WHERE org = ?1 AND seq <= \
             (SELECT max(seq) FROM (SELECT seq, at FROM events WHERE org = ?1 \
              ORDER BY seq LIMIT ?3) WHERE at < ?2)",
        )
        .and_then(|mut s| s.execute(params![org, before.as_millis(), 2 * n + 8]))
        .map_err(commit_error)?;
    }
    Ok(())
}
