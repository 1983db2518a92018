//! The change feed (the Store contract, rule 15): the read, and the append with its
//! retention. The append moves the org's head row last in the transaction, so
//! concurrent writers of one org take their numbers in the order they commit.

use std::collections::HashMap;

use contacts_core::store::{CommitError, WriteOp, codec};
use contacts_core::uuid::Uuid;
use contacts_core::{EventLog, OrgId, Result, Timestamp};
use postgres::Statement;
use postgres::types::ToSql;

use crate::PostgresStore;
use crate::commit::Tx;
use crate::error::{BACKEND, commit_error, corrupt, read_error};
use crate::open::prepared;

/// Past `i64::MAX` a sequence number cannot be stored; clamping keeps ranges total.
pub(crate) fn seq(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The org's newest sequence number, then up to `limit` events after `after`: two
/// statements in that order, so the head is never ahead of what the second sees.
pub(crate) fn read(store: &PostgresStore, org: OrgId, after: u64, limit: u64) -> Result<EventLog> {
    let head = store.query("SELECT last FROM event_heads WHERE org = $1", &[&org.0])?;
    let head: i64 = match head.first() {
        Some(r) => r.try_get(0).map_err(read_error)?,
        None => 0,
    };
    let rows = store.query(
        "SELECT body FROM events WHERE org = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&org.0, &seq(after), &seq(limit)],
    )?;
    let events = rows
        .iter()
        .map(|r| {
            let text: String = r.try_get(0).map_err(read_error)?;
            codec::decode_event(&text).map_err(corrupt)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EventLog {
        events,
        head: u64::try_from(head).unwrap_or(0),
    })
}

/// Applies the batch's `AppendEvents`, if it has one: moves the head, stores the
/// events in one statement, then drops what retention drops ([`prune`]).
pub(crate) fn append(t: &mut Tx<'_>, ops: &[WriteOp]) -> Result<(), CommitError> {
    for op in ops {
        let WriteOp::AppendEvents {
            events,
            keep,
            expire_before,
        } = op
        else {
            continue;
        };
        let n = seq(events.len() as u64);
        let stmt = t.statement(
            "INSERT INTO event_heads (org, last, first) VALUES ($1, $2, 1) ON CONFLICT (org) \
             DO UPDATE SET last = event_heads.last + EXCLUDED.last RETURNING last, first",
        )?;
        let head = t.tx.query_one(&stmt, &[&t.org, &n]).map_err(commit_error)?;
        let (last, oldest): (i64, i64) = (head.get(0), head.get(1));
        let first = last - n + 1;
        let mut seqs = Vec::with_capacity(events.len());
        let mut ats = Vec::with_capacity(events.len());
        let mut bodies = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let number = first + i as i64;
            let body = codec::encode_event(e, u64::try_from(number).unwrap_or(0))
                .map_err(|e| CommitError::backend(BACKEND, e))?;
            seqs.push(number);
            ats.push(e.timestamp.as_millis());
            bodies.push(body);
        }
        let stmt = t.statement(
            "INSERT INTO events (org, seq, at, body) SELECT $1, u.seq, u.at, u.body \
             FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS u(seq, at, body)",
        )?;
        t.tx.execute(&stmt, &[&t.org, &seqs, &ats, &bodies])
            .map_err(commit_error)?;
        let head = Head {
            appended: n,
            last,
            oldest,
        };
        prune(t.tx, t.statements, t.org, head, *keep, *expire_before)?;
    }
    Ok(())
}

/// The org's head row after an append: how many were appended, the newest number
/// and the oldest kept.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub(crate) appended: i64,
    pub(crate) last: i64,
    pub(crate) oldest: i64,
}

/// What retention drops after an append that left the head at `head`, as statements
/// with their numbers (`$1` is always the org). Both delete a range that starts at
/// the oldest kept number, held in the head row: an index scan from the table's start
/// would walk every entry deleted since the last vacuum (migration 0010). The head's
/// `first` only ever moves forward, so a prune run after its append's commit
/// (`create.rs`) cannot undo a later one.
fn prunes(
    head: Head,
    keep: u64,
    expire_before: Option<Timestamp>,
) -> Vec<(&'static str, Vec<i64>)> {
    let Head {
        appended: n,
        last,
        oldest,
    } = head;
    let bound = 2 * n + 8;
    let kept_from = (last - seq(keep) + 1).clamp(oldest, oldest + bound);
    let mut out = Vec::new();
    if kept_from > oldest {
        // The oldest beyond `keep`, but no more than 2n+8 of them: after `keep` is
        // lowered the excess goes over the next commits, each at a bounded cost
        // while the head row is locked.
        out.push((
            "WITH gone AS (DELETE FROM events WHERE org = $1 AND seq >= $2 AND seq < $3) \
             UPDATE event_heads SET first = greatest(first, $3) WHERE org = $1",
            vec![oldest, kept_from],
        ));
    }
    if let Some(before) = expire_before {
        // Only a prefix goes, so what is kept stays one run ending at the head;
        // looking at twice as many as were appended (and a few more) keeps up.
        out.push((
            "WITH cut AS (SELECT max(o.seq) AS m FROM (SELECT seq, at FROM events \
              WHERE org = $1 AND seq >= $2 ORDER BY seq LIMIT $4) AS o WHERE o.at < $3), \
             gone AS (DELETE FROM events WHERE org = $1 AND seq >= $2 \
              AND seq <= (SELECT m FROM cut)) \
             UPDATE event_heads SET first = greatest(first, (SELECT m FROM cut) + 1) \
             WHERE org = $1 AND (SELECT m FROM cut) IS NOT NULL",
            vec![kept_from, before.as_millis(), bound],
        ));
    }
    out
}

/// Applies retention inside the append's transaction (see [`prunes`]).
fn prune(
    client: &mut postgres::Client,
    statements: &mut HashMap<&'static str, Statement>,
    org: Uuid,
    head: Head,
    keep: u64,
    expire_before: Option<Timestamp>,
) -> Result<(), CommitError> {
    for (sql, numbers) in prunes(head, keep, expire_before) {
        let stmt = prepared(client, statements, sql).map_err(commit_error)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&org];
        params.extend(numbers.iter().map(|n| n as &(dyn ToSql + Sync)));
        client.execute(&stmt, &params).map_err(commit_error)?;
    }
    Ok(())
}

/// Applies retention after the append has committed, in a transaction of its own
/// sent as one message (one round trip), which locks the head row before it deletes,
/// as every append does, so two prunes cannot deadlock. The numbers are the store's
/// own, written as literals because a message of several statements takes no
/// parameters.
pub(crate) fn prune_after_commit(
    client: &mut postgres::Client,
    org: Uuid,
    head: Head,
    keep: u64,
    expire_before: Option<Timestamp>,
) -> Result<(), CommitError> {
    let prunes = prunes(head, keep, expire_before);
    if prunes.is_empty() {
        return Ok(());
    }
    let org = format!("'{org}'::uuid");
    let mut message = format!("SELECT 1 FROM event_heads WHERE org = {org} FOR NO KEY UPDATE;\n");
    for (sql, numbers) in prunes {
        // `$4` before `$2`: no placeholder is a prefix of a later one's replacement.
        let mut text = sql.to_owned();
        for (i, n) in numbers.iter().enumerate().rev() {
            text = text.replace(&format!("${}", i + 2), &n.to_string());
        }
        message.push_str(&text.replace("$1", &org));
        message.push_str(";\n");
    }
    client.batch_execute(&message).map_err(commit_error)
}
