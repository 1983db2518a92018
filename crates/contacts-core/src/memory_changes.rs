//! The engine's side of memory changes per call or conversation (docs/semantics.md 6,
//! "Memory changes"): the log a write updates, and `GET /v1/memory/changes`.

use crate::conversation::{self, ConversationKey, ConversationLog, LogBounds};
use crate::engine::Engine;
use crate::error::{CONVERSATION, Error, Result};
use crate::memory::{HistoryEntry, MemoryId, MemoryRecord};
use crate::store::{Store, WriteOp};
use crate::time::Timestamp;
use crate::types::OrgId;
use crate::validate;

impl<S: Store> Engine<S> {
    /// The memory changes of the call or SMS conversation `key`: the memory as it was
    /// at its first write, what changed since, and the history entries it made.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let call = ConversationKey::call("call-8821");
    /// let during = WriteOptions::default().in_conversation(call.clone());
    /// engine.memory_replace_summary(org, id, "Asked about order #8821.", during)?;
    /// let log = engine.memory_changes(org, &call)?;
    /// assert_eq!(log.initial_memory.summary, None);
    /// assert_eq!(log.changes.summary.as_deref(), Some("Asked about order #8821."));
    /// assert_eq!(log.memory_history[0].entry_type, "summary_update");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `call_id` or `conversation_id` for a value that
    /// is not a key; [`Error::NotFound`] ("Call or conversation not found, or no
    /// memory data available") when no kept write named it; [`Error::Storage`].
    pub fn memory_changes(&self, org: OrgId, key: &ConversationKey) -> Result<ConversationLog> {
        validate::key(key.kind.field(), &key.id)?;
        self.store
            .conversation(org, key)?
            .ok_or_else(|| Error::not_found(CONVERSATION))
    }

    /// The log of `key` that a write to record `id` continues, if it has one.
    ///
    /// A conversation's changes are told against one record, so a write to another
    /// record naming it is refused rather than mixed in.
    pub(crate) fn conversation_log(
        &self,
        org: OrgId,
        key: &ConversationKey,
        id: MemoryId,
    ) -> Result<Option<ConversationLog>> {
        validate::key(key.kind.field(), &key.id)?;
        let log = self.store.conversation(org, key)?;
        match log {
            Some(l) if l.memory_id != id => Err(Error::invalid(
                key.kind.field(),
                format!(
                    "its memory changes are recorded on memory record {}; a call or \
                     conversation writes to one record",
                    l.memory_id
                ),
            )),
            other => Ok(other),
        }
    }

    /// The operation that records a write in `key`'s log, or `None` when no log is
    /// kept (`max_conversations` is 0).
    pub(crate) fn log_write(
        &self,
        key: &ConversationKey,
        previous: Option<&ConversationLog>,
        before: &MemoryRecord,
        after: &MemoryRecord,
        pushed: &[HistoryEntry],
        now: Timestamp,
    ) -> Option<WriteOp> {
        let limits = &self.config.memory;
        let keep = u64::try_from(limits.max_conversations).unwrap_or(u64::MAX);
        if keep == 0 {
            return None;
        }
        let bounds = LogBounds {
            window: limits.window,
            history: limits.max_history,
        };
        let log = conversation::record_write(previous, before, after, pushed, now, bounds);
        Some(WriteOp::PutConversation {
            key: key.clone(),
            log: Box::new(log),
            expected_writes: previous.map(|l| l.writes),
            keep,
        })
    }
}
