//! Writers to one memory record, within one process, take turns.
//!
//! Every memory write is read, change, commit-if-the-revision-is-unchanged (the retry
//! loop, `retry.rs`). Sixteen sessions appending to one record at once would otherwise
//! collide in every round: one wins, fifteen re-read, and with a commit that waits for
//! an fsync an unlucky writer can lose the race sixty-four times in a row and give up
//! with a conflict it never asked for (no `expected_revision`). Queued behind a lock
//! per record instead, each write commits at its first attempt; writers in other
//! processes still meet the revision check, and the retry loop. Locks are striped
//! (a fixed array indexed by the id's hash), so memory stays bounded whatever the
//! number of records; two records sharing a stripe only queue a little longer.

use std::sync::{Mutex, MutexGuard};

use crate::ids::MemoryId;

/// Stripes: enough that unrelated records rarely share one on a busy server.
const STRIPES: usize = 64;

/// One lock per stripe of memory record ids.
pub(crate) struct Stripes {
    locks: [Mutex<()>; STRIPES],
}

impl Default for Stripes {
    fn default() -> Self {
        Stripes {
            locks: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

impl std::fmt::Debug for Stripes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripes").finish_non_exhaustive()
    }
}

impl Stripes {
    /// Waits for the turn of record `id`'s writers. A poisoned stripe (a writer
    /// panicked) is still usable: the lock guards no data, only turns.
    pub(crate) fn turn(&self, id: MemoryId) -> MutexGuard<'_, ()> {
        let hash = id.0.as_u128();
        let stripe = ((hash ^ (hash >> 64)) as usize) % STRIPES;
        self.locks[stripe].lock().unwrap_or_else(|p| p.into_inner())
    }
}
