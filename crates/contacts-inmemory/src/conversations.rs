//! Memory changes per call or conversation (the Store contract, rule 16): each log
//! under its key, and each memory record's keys by first write, so retention and the
//! erasure that comes with a record's deletion touch only that record's logs. Written
//! only under the writer mutex; one read of a log is atomic on its own.

use std::collections::BTreeSet;
use std::sync::Arc;

use contacts_core::{
    ConversationKey, ConversationKind, ConversationLog, MemoryId, OrgId, Timestamp,
};
use hashbrown::HashMap;

type Key = (OrgId, ConversationKind, String);

/// Every org's logs.
#[derive(Debug, Default)]
pub(crate) struct Conversations {
    logs: HashMap<Key, Arc<ConversationLog>>,
    /// A record's logs by `(started_at, kind, id)`: oldest first.
    by_memory: HashMap<MemoryId, BTreeSet<(Timestamp, ConversationKind, String)>>,
}

/// What a batch writes: a log, the writes it expects the stored one to have made, and
/// how many logs its record keeps.
#[derive(Debug)]
pub(crate) struct Put {
    pub(crate) key: ConversationKey,
    pub(crate) log: ConversationLog,
    pub(crate) keep: u64,
}

fn key(org: OrgId, k: &ConversationKey) -> Key {
    (org, k.kind, k.id.clone())
}

impl Conversations {
    /// The log of `k`.
    pub(crate) fn get(&self, org: OrgId, k: &ConversationKey) -> Option<Arc<ConversationLog>> {
        self.logs.get(&key(org, k)).cloned()
    }

    /// Stores `put`, then drops its record's oldest logs beyond `keep`.
    pub(crate) fn put(&mut self, org: OrgId, put: Put) {
        let memory = put.log.memory_id;
        let entry = (put.log.started_at, put.key.kind, put.key.id.clone());
        self.logs.insert(key(org, &put.key), Arc::new(put.log));
        let kept = self.by_memory.entry(memory).or_default();
        kept.insert(entry);
        let keep = usize::try_from(put.keep).unwrap_or(usize::MAX);
        while kept.len() > keep {
            let Some((_, kind, id)) = kept.pop_first() else {
                break;
            };
            self.logs.remove(&(org, kind, id));
        }
    }

    /// Drops the logs of record `memory` started at or after `since`.
    pub(crate) fn remove_since(&mut self, org: OrgId, memory: MemoryId, since: Timestamp) {
        let Some(kept) = self.by_memory.get_mut(&memory) else {
            return;
        };
        let late: Vec<_> = kept.iter().filter(|e| e.0 >= since).cloned().collect();
        for entry in late {
            kept.remove(&entry);
            self.logs.remove(&(org, entry.1, entry.2));
        }
    }

    /// Drops every log of record `memory`, which is being deleted.
    pub(crate) fn remove_memory(&mut self, org: OrgId, memory: MemoryId) {
        for (_, kind, id) in self.by_memory.remove(&memory).into_iter().flatten() {
            self.logs.remove(&(org, kind, id));
        }
    }
}
