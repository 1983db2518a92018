//! The one loop every engine operation runs in (docs/semantics.md, "The Store seam"):
//! read, decide in pure code, commit the decision's batch, and on a lost race read
//! again and decide again.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::store::{CommitError, Store, WriteBatch};

/// How often an operation re-reads and re-decides after losing a race before giving up
/// with [`Error::Conflict`]. Each lost race means another writer committed, so the
/// system as a whole always progresses; the bound only stops one unlucky caller from
/// spinning forever under a pathological write storm.
pub(crate) const MAX_ATTEMPTS: usize = 64;

/// Lost races retried at once before the loop starts to wait between attempts.
const BACKOFF_AFTER: usize = 3;

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
        mut attempt: impl FnMut() -> Result<Step<T>>,
    ) -> Result<T> {
        for lost in 0..MAX_ATTEMPTS {
            if lost >= BACKOFF_AFTER {
                backoff(lost);
            }
            let (batch, value) = match attempt()? {
                Step::Done(value) => return Ok(value),
                Step::Again => continue,
                Step::Commit(batch, value) => (batch, value),
            };
            if batch.is_empty() {
                return Ok(value);
            }
            debug_assert_eq!(batch.validate(), Ok(()), "the engine built a bad batch");
            let batch = self.with_events(batch);
            match self.store.commit(org, &batch) {
                Ok(()) => return Ok(value),
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
}
