//! Held memory writes (store contract rule 17): the engine's fallback for a memory
//! write that keeps losing the race to another process.
//!
//! The transaction first locks the record's row (`FOR NO KEY UPDATE`, which every
//! `UPDATE` or `DELETE` of the row also takes), then lets the engine read and decide,
//! then applies the decision in the same transaction. Every other writer's `UPDATE ...
//! WHERE revision = $n` waits for this one to commit and then finds the revision
//! moved, so the held writer cannot lose to a write of the record it read.
//!
//! The decision's reads run on the held transaction's own connection: the store lends
//! it to them through a thread-local, keyed by the store, while `decide` runs. Under
//! READ COMMITTED each of those statements still sees everything committed before it.
//! A hold therefore needs one connection, never a second one from the pool: a holder
//! waiting for the pool while its row blocks the writers that fill the pool (in this
//! process or, through another's, in a cycle PostgreSQL cannot see) would stall until
//! the pool's timeout.

use std::cell::RefCell;

use contacts_core::store::{CommitError, WriteBatch};
use contacts_core::{MemoryId, OrgId};

use crate::PostgresStore;
use crate::commit::{Tx, apply};
use crate::error::commit_error;
use crate::open::{Borrowed, Conn, Manager};

type Pooled = r2d2::PooledConnection<Manager>;

thread_local! {
    /// The connection a held write on this thread lends out, with the address of the
    /// store it belongs to (a read of another store must not use it).
    static LENT: RefCell<Option<(usize, Pooled)>> = const { RefCell::new(None) };
}

fn key(store: &PostgresStore) -> usize {
    std::ptr::from_ref(store) as usize
}

/// The connection lent on this thread by a held write of `store`, if there is one.
pub(crate) fn borrow(store: &PostgresStore) -> Option<Borrowed> {
    let key = key(store);
    LENT.with(|lent| {
        let mut lent = lent.borrow_mut();
        match lent.take() {
            Some((k, conn)) if k == key => Some(Borrowed::Lent(Loan(Some((k, conn))))),
            other => {
                *lent = other;
                None
            }
        }
    })
}

/// A lent connection in use by one read; handed back to the lender when dropped.
/// (The option is `Some` from creation until the drop takes it.)
pub(crate) struct Loan(Option<(usize, Pooled)>);

impl std::ops::Deref for Loan {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0.as_ref().unwrap().1
    }
}

impl std::ops::DerefMut for Loan {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0.as_mut().unwrap().1
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        let back = self.0.take();
        LENT.with(|lent| *lent.borrow_mut() = back);
    }
}

/// Takes the lent connection back when dropped, also if `decide` panics: the
/// connection then rolls back its open transaction before it returns to the pool.
struct Lending;

impl Lending {
    fn start(store: &PostgresStore, conn: Pooled) -> Self {
        LENT.with(|lent| *lent.borrow_mut() = Some((key(store), conn)));
        Lending
    }

    fn reclaim(self) -> Option<Pooled> {
        let conn = LENT.with(|lent| lent.borrow_mut().take()).map(|(_, c)| c);
        std::mem::forget(self);
        conn
    }
}

impl Drop for Lending {
    fn drop(&mut self) {
        if let Some((_, mut conn)) = LENT.with(|lent| lent.borrow_mut().take()) {
            let _ = conn.client.batch_execute("ROLLBACK");
        }
    }
}

/// Locks memory record `id`, runs `decide` with its reads on this transaction's
/// connection, and commits what it returns in the same transaction. A record that does
/// not exist locks nothing; `decide` then reads that it is gone, as it would unheld.
pub(crate) fn commit(
    store: &PostgresStore,
    org: OrgId,
    id: MemoryId,
    decide: &mut dyn FnMut() -> Option<WriteBatch>,
) -> Result<(), CommitError> {
    let mut conn = store
        .pooled()
        .map_err(|e| CommitError::backend("postgres", e))?;
    let mut t = Tx::begin(&mut conn, org)?;
    let lock =
        t.statement("SELECT 1 FROM memories WHERE org = $1 AND id = $2 FOR NO KEY UPDATE")?;
    t.tx.query(&lock, &[&t.org, &id.0]).map_err(commit_error)?;
    t.suspend();
    let lending = Lending::start(store, conn);
    let batch = decide();
    let Some(mut conn) = lending.reclaim() else {
        // A read kept the loan (it cannot: each gives it back as it ends).
        return Err(CommitError::backend(
            "postgres",
            "a held memory write lost its connection while deciding",
        ));
    };
    let mut t = Tx::resume(&mut conn, org);
    // Nothing to write: dropping the transaction rolls it back and frees the row.
    let Some(batch) = batch else {
        return Ok(());
    };
    apply(&mut t, &batch)?;
    t.commit()
}
