//! Held memory writes (store contract rule 17): the engine's fallback for a memory
//! write that keeps losing the race to another process.
//!
//! The transaction first locks the record's row (`FOR NO KEY UPDATE`, which every
//! `UPDATE` or `DELETE` of the row also takes), then lets the engine read and decide
//! on other connections of the pool, then applies the decision in the same
//! transaction. Reads never wait for row locks, and every other writer's `UPDATE ...
//! WHERE revision = $n` waits for this one to commit and then finds the revision
//! moved, so the held writer cannot lose to a write of the record it read.
//!
//! The engine's reads need a second connection while the first is held. So that
//! held writers can never take the whole pool and wait on each other for it, at most
//! half the pool holds at once; a writer that finds no slot free commits unheld, as
//! any other write (it retries, and will find a slot on a later attempt).

use std::sync::atomic::{AtomicU32, Ordering};

use contacts_core::store::{CommitError, WriteBatch};
use contacts_core::{MemoryId, OrgId};

use crate::commit::{Tx, apply};
use crate::error::commit_error;
use crate::open::Conn;

/// How many connections may be held at once, out of a pool of `pool_size`.
#[derive(Debug)]
pub(crate) struct Slots {
    free: AtomicU32,
}

impl Slots {
    pub(crate) fn new(pool_size: u32) -> Self {
        Slots {
            free: AtomicU32::new(pool_size / 2),
        }
    }

    /// A slot, if one is free; it is given back when the returned guard drops.
    pub(crate) fn take(&self) -> Option<Slot<'_>> {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| Slot(self))
    }
}

/// One taken slot.
pub(crate) struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.free.fetch_add(1, Ordering::AcqRel);
    }
}

/// Locks memory record `id`, runs `decide`, and commits what it returns in the same
/// transaction. A record that does not exist locks nothing; `decide` then reads that
/// it is gone, as it would unheld.
pub(crate) fn commit(
    conn: &mut Conn,
    org: OrgId,
    id: MemoryId,
    decide: &mut dyn FnMut() -> Option<WriteBatch>,
) -> Result<(), CommitError> {
    let mut t = Tx::begin(conn, org)?;
    let lock =
        t.statement("SELECT 1 FROM memories WHERE org = $1 AND id = $2 FOR NO KEY UPDATE")?;
    t.tx.query(&lock, &[&t.org, &id.0]).map_err(commit_error)?;
    // Nothing to write: dropping the transaction rolls it back and frees the row.
    let Some(batch) = decide() else {
        return Ok(());
    };
    apply(&mut t, &batch)?;
    t.tx.commit().map_err(commit_error)
}
