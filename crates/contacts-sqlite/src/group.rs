//! Group commit for [`Durability::Full`](crate::Durability::Full): writers that arrive
//! while another is committing share its transaction, and so its one fsync.
//!
//! The writer connection keeps one `BEGIN IMMEDIATE` transaction open across several
//! writers' batches, each inside its own savepoint, so each batch is still all or
//! nothing and its preconditions are checked against everything before it (contract
//! rule 3: batches apply as if one at a time, in the order they take the connection).
//! A writer that finds another writer waiting for the connection hands the open
//! transaction on and waits; the writer that finds nobody waiting (or the
//! [`MAX_GROUP`]-th) commits for the whole group, and every writer of the group
//! returns only after that commit, so an acknowledged batch is as durable as FULL
//! promises. A batch whose precondition failed also waits, so that when the engine
//! reads again it sees the batches it lost to. If the group's commit fails, or SQLite
//! abandons the transaction, every batch of the group fails with the backend's error:
//! none of them was written.
//!
//! Only stores with reader connections group their commits: reads never use the
//! writer connection there, so no read can see a group that is not yet committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use contacts_core::OrgId;
use contacts_core::store::{CommitError, WriteBatch};
use rusqlite::Connection;

use crate::commit;
use crate::error::{BACKEND, commit_error};

/// Most batches one group holds before it commits although writers are waiting: it
/// bounds how long a batch waits for its fsync behind the batches after it.
pub(crate) const MAX_GROUP: usize = 64;

/// What group commit has done since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// Batches applied in a group (including those whose precondition failed).
    pub batches: u64,
    /// Group transactions ended (committed or failed): one fsync each.
    pub groups: u64,
}

/// What the writers of one store share to form groups.
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Writers waiting for the writer connection.
    waiting: AtomicUsize,
    state: Mutex<State>,
    ended: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The group whose transaction is open on the writer connection: its number and
    /// how many batches it holds.
    open: Option<(u64, usize)>,
    /// The number of the newest group.
    last: u64,
    /// Every group up to this number has ended.
    ended: u64,
    /// Why recent groups failed, newest last (groups that committed are absent).
    failures: Vec<(u64, String)>,
    /// Batches applied in groups so far.
    batches: u64,
}

impl State {
    fn end(&mut self, group: u64, failure: Option<String>) {
        self.open = None;
        self.ended = group;
        if let Some(reason) = failure {
            // Waiters read their group's entry right after the end; a few suffice.
            if self.failures.len() >= 16 {
                self.failures.remove(0);
            }
            self.failures.push((group, reason));
        }
    }

    fn failure(&self, group: u64) -> Option<&str> {
        self.failures
            .iter()
            .find(|(g, _)| *g == group)
            .map(|(_, r)| r.as_str())
    }
}

fn group_failed(reason: &str) -> CommitError {
    CommitError::backend(
        BACKEND,
        format!("the group commit failed, so this batch was not written: {reason}"),
    )
}

impl Group {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> GroupStats {
        let st = self.state();
        GroupStats {
            batches: st.batches,
            groups: st.ended,
        }
    }

    /// Applies `batch` in the open group transaction (opening one if there is none)
    /// and returns once the group has committed or failed.
    pub(crate) fn commit(
        &self,
        writer: &Mutex<Connection>,
        org: OrgId,
        batch: &WriteBatch,
    ) -> Result<(), CommitError> {
        self.commit_decided(writer, org, || Some(batch))
    }

    /// [`commit`](Self::commit) of the batch `decide` returns, called once the group
    /// transaction holds the database's write lock (a held memory write, `hold.rs`);
    /// `None` adds nothing to the group.
    pub(crate) fn commit_decided<B: std::borrow::Borrow<WriteBatch>>(
        &self,
        writer: &Mutex<Connection>,
        org: OrgId,
        decide: impl FnOnce() -> Option<B>,
    ) -> Result<(), CommitError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let conn = crate::lock(writer);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        // Lock order: the writer connection, then the state.
        let group = {
            let mut st = self.state();
            match st.open {
                Some((group, _)) => group,
                None => {
                    conn.execute_batch("BEGIN IMMEDIATE")
                        .map_err(commit_error)?;
                    st.last += 1;
                    let group = st.last;
                    st.open = Some((group, 0));
                    group
                }
            }
        };
        // `decide` runs engine code inside the open group. Were it to panic there, the
        // group would stay open, holding the database's write lock, with its other
        // writers parked until someone else came; so a panic counts as deciding
        // nothing, the group ends as it would, and the panic goes on afterwards.
        let (result, panic) = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(decide)) {
            Ok(Some(batch)) => (in_savepoint(&conn, org, batch.borrow()), None),
            Ok(None) => (Ok(()), None),
            Err(panic) => (Ok(()), Some(panic)),
        };
        let ended = self.end(conn, group, result);
        if let Some(panic) = panic {
            std::panic::resume_unwind(panic);
        }
        ended
    }

    /// Counts the batch in `group` and ends its part: commits the group, or leaves it
    /// to the writer who comes next and waits for that commit.
    fn end(
        &self,
        conn: MutexGuard<'_, Connection>,
        group: u64,
        result: Result<(), CommitError>,
    ) -> Result<(), CommitError> {
        let mut st = self.state();
        st.batches += 1;
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (an I/O error, a full disk):
            // every batch of the group is gone.
            let reason = match &result {
                Err(e) => e.to_string(),
                Ok(()) => "the transaction ended unexpectedly".to_owned(),
            };
            st.end(group, Some(reason.clone()));
            self.ended.notify_all();
            return Err(group_failed(&reason));
        }
        let held = match &mut st.open {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => 1,
        };
        if self.waiting.load(Ordering::SeqCst) > 0 && held < MAX_GROUP {
            // Someone is about to take the connection: let them join, and wait for
            // whoever commits the group.
            drop(conn);
            while st.ended < group {
                st = self.ended.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            return match st.failure(group) {
                Some(reason) => Err(group_failed(reason)),
                None => result,
            };
        }
        let committed = conn.execute_batch("COMMIT");
        if committed.is_err() && !conn.is_autocommit() {
            // Best effort: a failed COMMIT can leave the transaction open.
            let _ = conn.execute_batch("ROLLBACK");
        }
        st.end(group, committed.as_ref().err().map(ToString::to_string));
        self.ended.notify_all();
        drop(st);
        drop(conn);
        committed.map_err(commit_error)?;
        result
    }
}

/// One batch inside the open transaction: all of it, or (on any error) none of it.
fn in_savepoint(conn: &Connection, org: OrgId, batch: &WriteBatch) -> Result<(), CommitError> {
    conn.execute_batch("SAVEPOINT batch")
        .map_err(commit_error)?;
    match commit::apply(conn, org, batch) {
        Ok(()) => conn.execute_batch("RELEASE batch").map_err(commit_error),
        Err(e) => {
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK TO batch; RELEASE batch")
                    .map_err(commit_error)?;
            }
            Err(e)
        }
    }
}
