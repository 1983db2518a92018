//! The change feed (docs/semantics.md 4, "Change feed"): every committed change of an
//! org, in commit order, numbered without gaps, written by the batch that makes the
//! change (an outbox), so a reader that resumes from its last sequence number misses
//! nothing and sees nothing twice.
//!
//! Events are derived in pure code from the batch's own operations and carry ids,
//! versions and revisions, never personal values: a deleted contact's events need no
//! erasure, and the details of a change are its history entry (`contact_id`,
//! `version`) or the record itself.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{ContactId, MemoryId, OrgId};
use crate::memory_switch::SwitchKind;
use crate::store::{Store, WriteBatch, WriteOp};
use crate::time::Timestamp;

/// The most events one page returns; a larger `limit` is clamped to it.
pub(crate) const MAX_PAGE: u64 = 1_000;

/// What kind of change an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A contact was created (by resolve or import); `version` is 1.
    ContactCreated,
    /// A contact's name, metadata or identifiers changed (a merge into it too).
    ContactUpdated,
    /// A contact was merged into `merged_into` and its id now redirects there; its
    /// memory records still under it are gone with it.
    ContactMerged,
    /// A merged-away contact was restored by an unmerge.
    ContactUnmerged,
    /// A contact was deleted, with its memory records still under it.
    ContactDeleted,
    /// A memory record was created.
    MemoryCreated,
    /// A memory record changed (or moved to another contact, by a merge or unmerge).
    MemoryUpdated,
    /// A memory record was deleted (a reset, or combined into another by a merge).
    MemoryDeleted,
    /// Memory was switched on or off for a persona or a pathway.
    MemorySwitched,
}

/// One committed change. Which fields are present depends on `type`: contact events
/// carry `contact_id` and `version`; memory events `memory_id` (and, but for a
/// deletion, `contact_id` and `revision`); a switch `persona_id` or `pathway_id` and
/// `enabled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Its place in the org's feed: 1 for the org's first change, one more for each
    /// change after it, with no gaps. Pass as `after` to read what follows.
    pub sequence: u64,
    /// When the change was committed.
    pub timestamp: Timestamp,
    /// What kind of change.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The contact changed, or holding the memory record changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// The contact's version after the change: its history entry of that version
    /// says what changed. A contact's events have consecutive versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The contact a merged contact was merged into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<ContactId>,
    /// The memory record changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_id: Option<MemoryId>,
    /// The memory record's revision after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The persona a switch is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona_id: Option<String>,
    /// The pathway a switch is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pathway_id: Option<String>,
    /// Whether the switch turned memory on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl Event {
    /// An event of `kind` at `timestamp`, with every optional field absent; the store
    /// numbers it when it commits.
    pub(crate) fn new(kind: EventKind, timestamp: Timestamp) -> Self {
        Event {
            sequence: 0,
            timestamp,
            kind,
            contact_id: None,
            version: None,
            merged_into: None,
            memory_id: None,
            revision: None,
            persona_id: None,
            pathway_id: None,
            enabled: None,
        }
    }

    fn contact(kind: EventKind, at: Timestamp, id: ContactId, version: u64) -> Self {
        Event {
            contact_id: Some(id),
            version: Some(version),
            ..Event::new(kind, at)
        }
    }

    fn memory(kind: EventKind, at: Timestamp, id: MemoryId) -> Self {
        Event {
            memory_id: Some(id),
            ..Event::new(kind, at)
        }
    }
}

/// A page of an org's feed: events by sequence, after a sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    /// The events, by sequence.
    pub events: Vec<Event>,
    /// Pass as `after` to read on: the last event's sequence, or the `after` given
    /// when there was nothing new.
    pub next_after: u64,
    /// Whether events after `next_after` were already committed when the page was
    /// read.
    pub has_more: bool,
    /// The newest sequence number of the org when the page was read (0 before its
    /// first change): where a reader that re-reads everything from scratch resumes.
    pub latest: u64,
}

/// What a store's feed read returns: the page and the org's newest sequence number,
/// read before the page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventLog {
    /// Up to the requested number of events after the given sequence, by sequence.
    pub events: Vec<Event>,
    /// The org's newest sequence number (0 before its first event), read before
    /// `events`, so it is never ahead of what the read could see.
    pub head: u64,
}

/// The events a batch's operations make, in the order of the operations, all at `at`.
/// A contact the batch writes makes exactly one event, because a batch writes a
/// contact at most once ([`WriteBatch::validate`]); its identifier operations are
/// part of that change.
fn events_of(ops: &[WriteOp], at: Timestamp) -> Vec<Event> {
    use EventKind as K;
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            WriteOp::InsertContact(c) => out.push(Event::contact(K::ContactCreated, at, c.id, 1)),
            WriteOp::UpdateContact {
                contact,
                expected_version,
            } => out.push(Event::contact(
                K::ContactUpdated,
                at,
                contact.id,
                expected_version + 1,
            )),
            WriteOp::Unmerge {
                contact, version, ..
            } => out.push(Event::contact(K::ContactUnmerged, at, contact.id, *version)),
            WriteOp::DeleteContact {
                id,
                expected_version,
            } => {
                // A merge redirects the duplicate before it deletes it.
                let merged_into = ops[..i].iter().find_map(|o| match o {
                    WriteOp::Redirect { from, to, .. } if from == id => Some(*to),
                    _ => None,
                });
                let kind = if merged_into.is_some() {
                    K::ContactMerged
                } else {
                    K::ContactDeleted
                };
                out.push(Event {
                    merged_into,
                    ..Event::contact(kind, at, *id, expected_version + 1)
                });
            }
            WriteOp::InsertMemory(m) | WriteOp::UpdateMemory { record: m, .. } => {
                let kind = if matches!(op, WriteOp::InsertMemory(_)) {
                    K::MemoryCreated
                } else {
                    K::MemoryUpdated
                };
                out.push(Event {
                    contact_id: Some(m.contact_id),
                    revision: Some(m.revision),
                    ..Event::memory(kind, at, m.id)
                });
            }
            WriteOp::DeleteMemory { id, .. } => {
                out.push(Event::memory(K::MemoryDeleted, at, *id));
            }
            WriteOp::SetMemorySwitch(s) => {
                let target = Some(s.target_id.clone());
                let (persona_id, pathway_id) = match s.kind {
                    SwitchKind::Persona => (target, None),
                    SwitchKind::Pathway => (None, target),
                };
                out.push(Event {
                    persona_id,
                    pathway_id,
                    enabled: Some(s.enabled),
                    ..Event::new(K::MemorySwitched, at)
                });
            }
            _ => {}
        }
    }
    out
}

/// The newest time the batch's operations carry (`updated_at` of what they write, a
/// history entry's time), if any.
fn batch_time(ops: &[WriteOp]) -> Option<Timestamp> {
    ops.iter()
        .filter_map(|op| match op {
            WriteOp::InsertContact(c)
            | WriteOp::UpdateContact { contact: c, .. }
            | WriteOp::Unmerge { contact: c, .. } => Some(c.updated_at),
            WriteOp::InsertMemory(m) | WriteOp::UpdateMemory { record: m, .. } => {
                Some(m.updated_at)
            }
            WriteOp::SetMemorySwitch(s) => Some(s.updated_at),
            WriteOp::AppendHistory { entry, .. } => Some(entry.timestamp),
            _ => None,
        })
        .max()
}

impl<S: Store> Engine<S> {
    /// `batch` with its events appended as its last operation, with the retention
    /// bounds of [`Config::events_per_org`](crate::Config::events_per_org) and
    /// [`Config::events_max_age`](crate::Config::events_max_age); unchanged with the
    /// feed off.
    pub(crate) fn with_events(&self, mut batch: WriteBatch) -> WriteBatch {
        let keep = self.config.events_per_org;
        if keep == 0 {
            return batch;
        }
        // The batch's own time where it has one, so the feed agrees with the rows it
        // describes and a commit reads the clock no more often than its decision did.
        let now = batch_time(&batch.ops).unwrap_or_else(|| self.clock.now());
        let events = events_of(&batch.ops, now);
        if events.is_empty() {
            return batch;
        }
        let expire_before = self.config.events_max_age.map(|age| {
            let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
            Timestamp::from_millis(now.as_millis().saturating_sub(age))
        });
        batch.ops.push(WriteOp::AppendEvents {
            events,
            keep,
            expire_before,
        });
        batch
    }

    /// Up to `limit` (at most 1,000) of the org's events after sequence number
    /// `after`, oldest first (docs/semantics.md 4, "Change feed"). Start with
    /// `after = 0` and pass each page's `next_after` to the next call: every committed
    /// change arrives once, in commit order.
    ///
    /// ```
    /// use contacts_core::{Engine, EventKind, OrgId, ResolveRequest};
    /// use contacts_inmemory::InMemoryStore;
    ///
    /// let engine = Engine::new(InMemoryStore::new());
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// let created = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// let page = engine.events(org, 0, 100)?;
    /// assert_eq!(page.events[0].kind, EventKind::ContactCreated);
    /// assert_eq!(page.events[0].contact_id, Some(created.contact.id));
    /// assert_eq!((page.next_after, page.has_more), (1, false));
    /// assert!(engine.events(org, page.next_after, 100)?.events.is_empty());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `limit` when it is 0, and naming `after` when it
    /// is past the org's newest event, or when retention has dropped events after it
    /// (the reader fell behind: read the contacts afresh, then continue from the
    /// page's `latest`); [`Error::Storage`] when the backend fails.
    pub fn events(&self, org: OrgId, after: u64, limit: u64) -> Result<EventPage> {
        if limit == 0 {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        let limit = limit.min(MAX_PAGE);
        let EventLog { mut events, head } = self.store.events(org, after, limit + 1)?;
        let latest = events.last().map_or(head, |e| e.sequence.max(head));
        if after > latest {
            return Err(Error::invalid(
                "after",
                format!("{after} is past the newest event of the org ({latest})"),
            ));
        }
        // Sequence numbers have no gaps, so a first event past `after + 1`, or none
        // while newer ones were committed, means retention dropped what follows
        // `after`.
        let first = events.first().map_or(latest + 1, |e| e.sequence);
        if after < latest && first != after + 1 {
            return Err(Error::invalid(
                "after",
                format!(
                    "events {} to {} were dropped by retention; read the contacts afresh, \
                     then continue from the newest event ({latest})",
                    after + 1,
                    first - 1
                ),
            ));
        }
        let has_more = events.len() as u64 > limit;
        events.truncate(limit as usize);
        let next_after = events.last().map_or(after, |e| e.sequence);
        Ok(EventPage {
            events,
            next_after,
            has_more: has_more || next_after < latest,
            latest,
        })
    }

    /// The number of the org's newest event (0 before its first): where a reader
    /// whose cursor [`Engine::events`] refused continues, after it has read the
    /// contacts afresh (docs/semantics.md 4, "Change feed"). Read it before the
    /// contacts, so that nothing changed during that read is missed.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// assert_eq!(engine.events_latest(org)?, 0);
    /// engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// assert_eq!(engine.events_latest(org)?, 1);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`] when the backend fails.
    pub fn events_latest(&self, org: OrgId) -> Result<u64> {
        // Asking past every number reads the head alone, never an event.
        Ok(self.store.events(org, u64::MAX, 1)?.head)
    }
}
