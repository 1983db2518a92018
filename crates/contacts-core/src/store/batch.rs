//! What a commit carries: the operations of one atomic, conditional write, the rule
//! that keeps versions out of the backends, and the error a commit returns.

use std::borrow::Cow;

use crate::conversation::{ConversationKey, ConversationLog};
use crate::error::{BoxError, Error};
use crate::events::Event;
use crate::history::ContactHistoryEntry;
use crate::ids::{ContactId, IdentifierId, MemoryId};
use crate::memory::{Entity, MemoryRecord};
use crate::memory_switch::MemorySwitch;
use crate::types::{Contact, Identifier};
use crate::unmerge::MergeSnapshot;

/// One change inside a [`WriteBatch`].
///
/// Versions: a contact inserted by a batch starts at 1, and only
/// [`WriteOp::UpdateContact`] moves it, by exactly one. Identifier operations never
/// touch versions: the engine pairs every change to a contact's identifiers with an
/// `UpdateContact` (or inserts or deletes the contact in the same batch), which
/// [`WriteBatch::validate`] checks. Memory records carry their own revision and do not
/// move the contact's version.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Precondition: the contact exists in the org with exactly this version.
    Expect {
        /// The contact read.
        contact_id: ContactId,
        /// The version it had when it was read.
        version: u64,
    },
    /// Insert a new contact at version 1. Its id must be new.
    InsertContact(Contact),
    /// Replace the contact's `name`, `metadata` and `updated_at` (`id`, `org_id` and
    /// `created_at` never change). Precondition: its version is `expected_version`;
    /// afterwards it is `expected_version + 1`.
    UpdateContact {
        /// The contact's new fields.
        contact: Contact,
        /// The version the engine read.
        expected_version: u64,
    },
    /// Attach an identifier to `identifier.contact_id` (inserted earlier in the batch or
    /// already stored). Precondition: no contact of the org owns
    /// `(identifier_type, identifier_value)`; the backend's storage enforces this with
    /// a unique index or equivalent, not only with a check.
    InsertIdentifier(Identifier),
    /// Delete identifier `id` from `contact_id`; afterwards its value is free.
    /// Precondition: the contact holds it.
    DeleteIdentifier {
        /// The identifier.
        id: IdentifierId,
        /// The contact holding it.
        contact_id: ContactId,
    },
    /// Set the `is_primary` flag of identifier `id` of `contact_id`. Precondition: the
    /// contact holds it.
    SetPrimary {
        /// The identifier.
        id: IdentifierId,
        /// The contact holding it.
        contact_id: ContactId,
        /// The new flag.
        is_primary: bool,
    },
    /// Move identifier `id` from contact `from` to contact `to` (both of the org),
    /// keeping its id and value; it becomes `to`'s newest identifier. Precondition:
    /// `from` holds it and `to` exists.
    MoveIdentifier {
        /// The identifier.
        id: IdentifierId,
        /// The contact holding it now.
        from: ContactId,
        /// The contact receiving it.
        to: ContactId,
        /// Its primary flag on `to`.
        is_primary: bool,
    },
    /// Delete a contact with its identifiers, memory records and the redirects to it
    /// (contract rule 12). Precondition: it exists in the org at `expected_version`.
    DeleteContact {
        /// The contact.
        id: ContactId,
        /// The version the engine read.
        expected_version: u64,
    },
    /// Insert a memory record at its `revision` (1 for a new one; an unmerge restores a
    /// record one past the revision it had). Preconditions: its contact exists
    /// in the org, its id is new, and no record of the org has the same contact and
    /// scope (enforced by the storage: a unique index or equivalent).
    InsertMemory(MemoryRecord),
    /// Replace a memory record with `record` (whose `revision` is
    /// `expected_revision + 1`). Precondition: the stored record has
    /// `expected_revision`. Its id, scope and `created_at` never change; its contact
    /// may (a merge moves records), in which case the new contact must exist in the
    /// org and must not already have a record for the scope.
    UpdateMemory {
        /// The record's new state.
        record: MemoryRecord,
        /// The revision the engine read.
        expected_revision: u64,
        /// Which of its entities changed since that revision: a store that keeps
        /// entities apart from the rest of the record writes only those (contract
        /// rule 18).
        entities: EntityWrites,
    },
    /// Delete a memory record. Precondition: it exists in the org with
    /// `expected_revision`.
    DeleteMemory {
        /// The record.
        id: MemoryId,
        /// The revision the engine read.
        expected_revision: u64,
    },
    /// Record that contact `from`, merged into `to`, now redirects to it, with what
    /// the merge keeps to undo it, and point every redirect to `from` at `to`, so a
    /// chain of merges is one step to its live end; each redirect keeps the contact it
    /// was merged into directly (contract rule 12). Precondition: `to` exists in the
    /// org. The batch deletes `from` after this operation.
    Redirect {
        /// The contact merged away.
        from: ContactId,
        /// The contact it was merged into.
        to: ContactId,
        /// What an unmerge needs (its `primary` is `to`).
        snapshot: Box<MergeSnapshot>,
    },
    /// Erase the snapshots kept with every redirect that leads to `contact_id`, so
    /// those merges can no longer be undone (contract rule 12): a memory reset is an
    /// erasure, and the snapshots hold copies of the memory it removes.
    ForgetMergeSnapshots {
        /// The contact whose memory is reset.
        contact_id: ContactId,
    },
    /// Insert `contact` again, at `version`, undoing its merge into `primary`: remove
    /// the redirect from its id, and point at it again every redirect whose chain of
    /// direct merges passes through it (contract rule 14). Preconditions: no contact
    /// has its id; its redirect exists and was written by a merge into `primary`.
    Unmerge {
        /// The contact restored, with its old id and `created_at`.
        contact: Contact,
        /// Its version: one past its `merged_into` history entry.
        version: u64,
        /// The contact it was merged into.
        primary: ContactId,
    },
    /// Append `entry` to its contact's history, then drop that contact's entries up to
    /// version `drop_through` (the oldest beyond the bound) (contract rule 13).
    /// Precondition: none; the entry's version is new, because the batch moves the
    /// contact's version to it.
    AppendHistory {
        /// The entry, keyed by `(contact_id, version)`.
        entry: ContactHistoryEntry,
        /// Drop the contact's entries with a version at most this.
        drop_through: Option<u64>,
    },
    /// Replace every history entry of `contact_id`, and of the contacts whose redirects
    /// lead to it, by its redacted form (contract rule 13): the contact is being
    /// erased. Comes before the batch's `DeleteContact`, which removes those redirects.
    RedactHistory {
        /// The contact being deleted.
        contact_id: ContactId,
    },
    /// Store the org's memory switch for `(kind, target_id)`, replacing the one it
    /// had (contract rule 11).
    SetMemorySwitch(MemorySwitch),
    /// Precondition: no switch of the org turns memory off for persona `persona_id`
    /// (no switch at all means on). Serialised against a concurrent
    /// `SetMemorySwitch` of the same persona, so a memory write either commits before
    /// the persona is switched off or fails (contract rule 11).
    ExpectMemoryEnabled {
        /// The persona the batch writes memory for.
        persona_id: String,
    },
    /// Number `events` after the org's newest sequence number, one more each, in
    /// order, store them, then drop the org's oldest events beyond the newest `keep`
    /// (at most 2n+8 of them, n the events appended, so a lowered `keep` is reached
    /// over the next commits), and, when `expire_before` is given, drop the oldest
    /// events stamped before it among the oldest 2n+8, so the feed comes back within
    /// its bounds at a bounded cost per commit (contract rule 15). The
    /// `sequence` the engine gives each event is not read. Serialised against every
    /// other `AppendEvents` of the org, so sequence numbers are committed in order
    /// and without gaps. The engine puts it last in the batch.
    AppendEvents {
        /// The events, in the order the batch made them.
        events: Vec<Event>,
        /// How many of the org's newest events to keep (at least 1).
        keep: u64,
        /// Events stamped before this are expired.
        expire_before: Option<crate::time::Timestamp>,
    },
    /// Store `log` as the memory changes of call or conversation `key`, replacing
    /// the one it had, then, when it is new, drop the oldest logs (by `started_at`)
    /// of its memory record beyond the newest `keep` (contract rule 16).
    /// Precondition: the stored log of `key` has made `expected_writes` writes
    /// (`None`: there is none). A log lives as long as its memory record: deleting
    /// the record, or its contact, deletes its logs.
    PutConversation {
        /// The call or conversation.
        key: ConversationKey,
        /// Its log after this batch's write.
        log: Box<ConversationLog>,
        /// The `writes` of the log the engine read.
        expected_writes: Option<u64>,
        /// How many logs a memory record keeps (at least 1).
        keep: u64,
    },
    /// Delete the logs of memory record `memory_id` started at or after `since`
    /// (contract rule 16): an unmerge that gives back a record that moved whole drops
    /// the logs of the calls written to it while it was the primary's, whose writes
    /// stay with the primary.
    DropConversations {
        /// The record.
        memory_id: MemoryId,
        /// The oldest start dropped.
        since: crate::time::Timestamp,
    },
}

/// Changes the engine wants applied atomically, all or nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    /// The operations, applied in order; preconditions are checked against the state
    /// the batch itself has produced so far.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// A batch of `ops`.
    pub fn new(ops: Vec<WriteOp>) -> Self {
        WriteBatch { ops }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Checks the rule that lets a backend apply a batch without bookkeeping of its own
    /// (contract rule 6): a contact is written by at most one `InsertContact`,
    /// `UpdateContact` or `DeleteContact`, and every contact whose identifiers the
    /// batch changes is one of them (inserted, updated or deleted in the same batch), so
    /// its version moves exactly when, and exactly once, it changes.
    ///
    /// The engine checks every batch in debug builds, and the testkit's stores check
    /// every batch they receive.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn validate(&self) -> Result<(), String> {
        let mut written: Vec<ContactId> = Vec::new();
        for op in &self.ops {
            let id = match op {
                WriteOp::InsertContact(c) | WriteOp::Unmerge { contact: c, .. } => c.id,
                WriteOp::UpdateContact { contact, .. } => contact.id,
                WriteOp::DeleteContact { id, .. } => *id,
                _ => continue,
            };
            if written.contains(&id) {
                return Err(format!("contact {id} is written twice by one batch"));
            }
            written.push(id);
        }
        for op in &self.ops {
            let changed: &[ContactId] = match op {
                WriteOp::InsertIdentifier(i) => &[i.contact_id],
                WriteOp::DeleteIdentifier { contact_id, .. }
                | WriteOp::SetPrimary { contact_id, .. } => &[*contact_id],
                WriteOp::MoveIdentifier { from, to, .. } => &[*from, *to],
                _ => continue,
            };
            if let Some(id) = changed.iter().find(|id| !written.contains(id)) {
                return Err(format!(
                    "the identifiers of contact {id} change but the batch neither inserts, \
                     updates nor deletes it, so its version would not move"
                ));
            }
        }
        Ok(())
    }
}

/// Why [`Store::commit`](super::Store::commit) wrote nothing.
///
/// The two cases call for opposite reactions, so they are kept apart: a lost race is
/// retried by the engine on fresh data; a failed backend is reported, never retried as
/// if it were a race.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// A precondition of the batch failed: another writer committed since the engine
    /// read (a version moved, an identifier or scope was taken, a record vanished).
    #[error("a precondition failed: {0}")]
    Precondition(Cow<'static, str>),
    /// The backend failed: I/O, a lost connection, a constraint the batch was never
    /// expected to break, unreadable data.
    #[error("storage error in {backend}")]
    Backend {
        /// Which backend failed (`sqlite`, `postgres`, ...).
        backend: &'static str,
        /// Its own error.
        #[source]
        source: BoxError,
    },
}

impl CommitError {
    /// A [`CommitError::Precondition`].
    pub fn precondition(reason: impl Into<Cow<'static, str>>) -> Self {
        CommitError::Precondition(reason.into())
    }

    /// A [`CommitError::Backend`] from `backend` wrapping `source`.
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        CommitError::Backend {
            backend,
            source: source.into(),
        }
    }
}

/// A backend's read helpers return the engine's [`Error`]; inside a commit, their
/// storage failures are the backend's. Any other category from a store would be a
/// bug in it, and is reported as such rather than retried.
impl From<Error> for CommitError {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage { backend, source } => CommitError::Backend { backend, source },
            other => CommitError::Backend {
                backend: "store",
                source: Box::new(other),
            },
        }
    }
}

/// Which entities of a memory record a [`WriteOp::UpdateMemory`] changes, so that a
/// store keeping each entity apart writes what changed, not the whole record
/// (contract rule 18; docs/semantics.md 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityWrites {
    /// Any of them may have changed, or their order: store them all afresh.
    All,
    /// Only these, by `(entity_type, entity_id)`: each is stored as the record now
    /// has it, or removed if the record no longer has it. An entity the record gains
    /// is last in its order; the others keep their places.
    Only(Vec<(String, String)>),
}

/// The row writes that carry an [`EntityWrites`] for a store that keeps one row per
/// entity ([`EntityWrites::rows`]), so each such store applies the rule the same way.
#[derive(Debug, PartialEq)]
pub struct EntityRows<'a> {
    /// Delete every entity row of the record first.
    pub clear: bool,
    /// Store these, in this order (the record's): a row that exists keeps its place,
    /// a new one goes after every other.
    pub put: Vec<&'a Entity>,
    /// Delete these rows, by `(entity_type, entity_id)`.
    pub remove: Vec<(&'a str, &'a str)>,
}

impl EntityWrites {
    /// The row writes that bring a store's rows for `record` to `record.entities`.
    pub fn rows<'a>(&'a self, record: &'a MemoryRecord) -> EntityRows<'a> {
        match self {
            EntityWrites::All => EntityRows {
                clear: true,
                put: record.entities.iter().collect(),
                remove: Vec::new(),
            },
            EntityWrites::Only(keys) => {
                let named = |e: &Entity| {
                    keys.iter()
                        .any(|(t, i)| *t == e.entity_type && *i == e.entity_id)
                };
                let kept = |t: &str, i: &str| {
                    record
                        .entities
                        .iter()
                        .any(|e| e.entity_type == t && e.entity_id == i)
                };
                EntityRows {
                    clear: false,
                    put: record.entities.iter().filter(|e| named(e)).collect(),
                    remove: keys
                        .iter()
                        .filter(|(t, i)| !kept(t, i))
                        .map(|(t, i)| (t.as_str(), i.as_str()))
                        .collect(),
                }
            }
        }
    }

    /// What changed from `before` to `after`: [`EntityWrites::Only`] when `after` is
    /// `before` with entities changed in place, removed, or added at the end (all an
    /// upsert or a removal does), [`EntityWrites::All`] otherwise.
    pub fn between(before: &[Entity], after: &[Entity]) -> Self {
        fn key(e: &Entity) -> (&str, &str) {
            (e.entity_type.as_str(), e.entity_id.as_str())
        }
        let after_keys: std::collections::HashMap<_, _> =
            after.iter().enumerate().map(|(i, e)| (key(e), i)).collect();
        let before_keys: std::collections::HashSet<_> = before.iter().map(key).collect();
        let mut changed = Vec::new();
        let mut next = 0;
        for e in before {
            match after_keys.get(&key(e)) {
                // Kept entities must stay in their order, ahead of any new one.
                Some(&i) if i == next => {
                    if after[i] != *e {
                        changed.push(key(e));
                    }
                    next += 1;
                }
                Some(_) => return EntityWrites::All,
                None => changed.push(key(e)),
            }
        }
        for e in &after[next..] {
            if before_keys.contains(&key(e)) {
                return EntityWrites::All;
            }
            changed.push(key(e));
        }
        EntityWrites::Only(
            changed
                .into_iter()
                .map(|(t, i)| (t.to_owned(), i.to_owned()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(id: &str, status: &str) -> Entity {
        Entity {
            entity_type: "order".into(),
            entity_id: id.into(),
            facts: crate::types::JsonObject::new(),
            status: Some(status.into()),
            last_discussed_at: None,
            notes: None,
        }
    }

    fn only(ids: &[&str]) -> EntityWrites {
        EntityWrites::Only(
            ids.iter()
                .map(|i| ("order".to_owned(), (*i).to_owned()))
                .collect(),
        )
    }

    /// What an upsert, an addition and a removal change is named alone; a change of
    /// order, or an entity back in another place, is `All`.
    #[test]
    fn entity_writes_name_what_changed() {
        let abc = [entity("a", "x"), entity("b", "x"), entity("c", "x")];
        assert_eq!(EntityWrites::between(&abc, &abc), only(&[]));
        let b_changed = [entity("a", "x"), entity("b", "y"), entity("c", "x")];
        assert_eq!(EntityWrites::between(&abc, &b_changed), only(&["b"]));
        let mut added = abc.to_vec();
        added.push(entity("d", "x"));
        assert_eq!(EntityWrites::between(&abc, &added), only(&["d"]));
        let b_gone = [entity("a", "x"), entity("c", "x")];
        assert_eq!(EntityWrites::between(&abc, &b_gone), only(&["b"]));
        assert_eq!(EntityWrites::between(&[], &abc), only(&["a", "b", "c"]));
        assert_eq!(EntityWrites::between(&abc, &[]), only(&["a", "b", "c"]));
        let swapped = [entity("b", "x"), entity("a", "x"), entity("c", "x")];
        assert_eq!(EntityWrites::between(&abc, &swapped), EntityWrites::All);
        // Removed and appended again in one step: its place moved.
        let b_last = [entity("a", "x"), entity("c", "x"), entity("b", "x")];
        assert_eq!(EntityWrites::between(&abc, &b_last), EntityWrites::All);
    }

    /// The rows a store writes: what the record still has of the named entities is
    /// put, in its order; the rest of them is removed; `All` clears and puts all.
    #[test]
    fn entity_rows_follow_the_writes() {
        let mut record: MemoryRecord = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-7000-8000-000000000001",
            "org_id": "00000000-0000-7000-8000-000000000002",
            "contact_id": "00000000-0000-7000-8000-000000000003",
            "persona_id": "p", "agent_number": null, "summary": null,
            "summary_updated_at": null, "facts": {}, "recent_messages": [],
            "open_items": [], "entities": [], "memory_history": [],
            "created_at": "2025-07-22T10:30:00.000Z", "updated_at": "2025-07-22T10:30:00.000Z",
            "revision": 1
        }))
        .unwrap();
        record.entities = vec![entity("a", "x"), entity("c", "y"), entity("d", "x")];
        let rows = only(&["b", "c", "d"]);
        let rows = rows.rows(&record);
        assert!(!rows.clear);
        let put: Vec<_> = rows.put.iter().map(|e| e.entity_id.as_str()).collect();
        assert_eq!(put, ["c", "d"]);
        assert_eq!(rows.remove, [("order", "b")]);
        let all = EntityWrites::All;
        let all = all.rows(&record);
        assert!(all.clear && all.put.len() == 3 && all.remove.is_empty());
    }
}
