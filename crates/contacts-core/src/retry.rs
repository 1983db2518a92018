//! The one loop every engine operation runs in (docs/semantics.md, "The Store seam"):
//! read, decide in pure code, commit the decision's batch, and on a lost race read
//! again and decide again.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{MemoryId, OrgId};
use crate::store::{CommitError, Store, WriteBatch};

/// How often an operation re-reads and re-decides after losing a race before giving up
/// with [`Error::Conflict`]. Each lost race means another writer committed, so the
/// system as a whole always progresses; the bound only stops one unlucky caller from
/// spinning forever under a pathological write storm.
pub(crate) const MAX_ATTEMPTS: usize = 64;

/// Lost races retried at once before the loop starts to wait between attempts.
const BACKOFF_AFTER: usize = 3;

/// Lost races after which a memory write holds its record (see
/// [`Engine::run_holding`]): contention from another process is rare, so the common
/// write pays nothing for the hold, and a writer that lost three times in a row is
/// most likely meeting a steady stream of another process's writes.
const HOLD_AFTER: usize = 3;

/// Waits a random time, growing with `lost` up to about 4 ms: writers that keep
/// colliding on one row (sixteen sessions appending to one memory record) spread out
/// instead of colliding in lockstep, so none exhausts its attempts while others win.
fn backoff(lost: usize) {
    use std::hash::{BuildHasher, Hasher};
    let ceiling_us = 50u64 << (lost - BACKOFF_AFTER).min(6);
    // Randomness enough for jitter, with no dependency: the standard library's
    // per-process random hasher keys, mixed with the attempt.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(lost);
    let wait = h.finish() % ceiling_us.max(1);
    std::thread::sleep(std::time::Duration::from_micros(wait));
}

/// What one attempt decided.
pub(crate) enum Step<T> {
    /// Nothing to write (a pure read): return this.
    Done(T),
    /// Commit this batch, then return the value; if a precondition fails, another
    /// writer came first: read and decide again.
    Commit(WriteBatch, T),
    /// What was read changed between two reads of one attempt: start again.
    Again,
}

impl<S: Store> Engine<S> {
    /// Runs `attempt` until it returns a value or commits its batch, at most
    /// [`MAX_ATTEMPTS`] times. `what` names the operation in the give-up message.
    pub(crate) fn run<T>(
        &self,
        org: OrgId,
        what: &str,
        attempt: impl FnMut() -> Result<Step<T>>,
    ) -> Result<T> {
        self.run_holding(org, what, None, attempt)
    }

    /// [`run`](Self::run) for a write of memory record `held`: after
    /// [`HOLD_AFTER`] lost races, each attempt runs inside
    /// [`Store::commit_holding_memory`], which keeps writers in other processes off
    /// the record from the read to the commit. Turns within a process
    /// (`stripes.rs`) cannot order writers in two processes, and backing off only
    /// helps the writer that is not backing off: without the hold, a process whose
    /// writers queue back to back can make another's lose all its attempts.
    pub(crate) fn run_holding<T>(
        &self,
        org: OrgId,
        what: &str,
        held: Option<MemoryId>,
        mut attempt: impl FnMut() -> Result<Step<T>>,
    ) -> Result<T> {
        for lost in 0..MAX_ATTEMPTS {
            // Before a held attempt too: a store may commit it unheld (rule 17).
            if lost >= BACKOFF_AFTER {
                backoff(lost);
            }
            let committed = match held.filter(|_| lost >= HOLD_AFTER) {
                None => match self.settle(&mut attempt)? {
                    Decision::Return(value) => return Ok(value),
                    Decision::Again => continue,
                    Decision::Commit(batch, value) => {
                        self.store.commit(org, &batch).map(|()| value)
                    }
                },
                Some(id) => {
                    let mut decided = None;
                    let result = self.store.commit_holding_memory(org, id, &mut || {
                        let (batch, rest) = match self.settle(&mut attempt) {
                            Ok(Decision::Commit(batch, value)) => {
                                (Some(batch), Ok(Decision::Commit((), value)))
                            }
                            Ok(Decision::Return(value)) => (None, Ok(Decision::Return(value))),
                            Ok(Decision::Again) => (None, Ok(Decision::Again)),
                            Err(e) => (None, Err(e)),
                        };
                        decided = Some(rest);
                        batch
                    });
                    // What the attempt decided comes first: an answer that needed no
                    // write, or the attempt's own error, stands whatever the store
                    // then said of the (empty) commit.
                    match (decided, result) {
                        (Some(Err(e)), _) => return Err(e),
                        (Some(Ok(Decision::Return(value))), _) => return Ok(value),
                        (Some(Ok(Decision::Again)), _) => continue,
                        (Some(Ok(Decision::Commit((), value))), result) => result.map(|()| value),
                        (None, Err(e)) => Err(e),
                        (None, Ok(())) => {
                            // Contract rule 17: a store that answers Ok has called
                            // `decide`. One that did not is broken, not racing.
                            return Err(Error::storage(
                                "store",
                                "commit_holding_memory returned without deciding the write",
                            ));
                        }
                    }
                }
            };
            match committed {
                Ok(value) => return Ok(value),
                Err(CommitError::Precondition(_)) => continue,
                Err(CommitError::Backend { backend, source }) => {
                    return Err(Error::Storage { backend, source });
                }
            }
        }
        Err(Error::conflict(format!(
            "{what} lost the race against concurrent writers {MAX_ATTEMPTS} times; \
             nothing was written; retry"
        )))
    }

    /// Runs one attempt and readies its batch for a commit (the feed's events added).
    fn settle<T>(
        &self,
        attempt: &mut impl FnMut() -> Result<Step<T>>,
    ) -> Result<Decision<WriteBatch, T>> {
        Ok(match attempt()? {
            Step::Done(value) => Decision::Return(value),
            Step::Again => Decision::Again,
            Step::Commit(batch, value) if batch.is_empty() => Decision::Return(value),
            Step::Commit(batch, value) => {
                debug_assert_eq!(batch.validate(), Ok(()), "the engine built a bad batch");
                Decision::Commit(self.with_events(batch), value)
            }
        })
    }
}

/// An attempt's outcome as the loop acts on it.
enum Decision<B, T> {
    /// Nothing to commit: return the value.
    Return(T),
    /// Read again.
    Again,
    /// Commit `B`, then return the value.
    Commit(B, T),
}
