//! What happened to a contact (docs/semantics.md 4, "History"): one entry per committed
//! change, derived in pure code from the batch that makes the change and written in the
//! same batch, so history and state never disagree.
//!
//! A batch changes a contact's version exactly once (the Store contract, rule 6), so an
//! entry is keyed by the version the change produced: entries are gap-free per
//! contact, the version is their cursor, and dropping the oldest is a range delete.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{ContactId, IdentifierId, OrgId};
use crate::store::{Store, WriteOp};
use crate::time::Timestamp;
use crate::types::{Contact, Identifier, IdentifierKind};

/// A metadata value larger than this (as JSON) is recorded by its key alone: history
/// keeps what changed, not a second copy of large documents.
const MAX_KEPT_VALUE_BYTES: usize = 256;

/// The most entries one page returns; a larger `limit` is clamped to it.
pub(crate) const MAX_PAGE: u64 = 200;

/// What kind of change an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// The contact was created (by resolve or import).
    Created,
    /// Its name, metadata or identifiers changed.
    Updated,
    /// Another contact was merged into it.
    MergedFrom,
    /// It was merged into another contact, which took its identifiers.
    MergedInto,
    /// It was deleted; the personal values of its entries were removed.
    Deleted,
    /// A merge into it was undone (the primary), or it came back from one (the
    /// duplicate).
    Unmerged,
}

/// One change inside an entry. Values (`before`, `after`, `value`) are `null` once the
/// contact is deleted, and for a metadata value too large to keep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The name was set or replaced.
    Name {
        /// The name before.
        before: Option<String>,
        /// The name after.
        after: Option<String>,
    },
    /// One top-level metadata key was added, replaced or removed.
    Metadata {
        /// The key.
        key: String,
        /// Its value before (`null` when it was absent, or too large to keep).
        before: Option<Value>,
        /// Its value after (`null` when it was removed, or too large to keep).
        after: Option<Value>,
    },
    /// An identifier was attached.
    IdentifierAttached {
        /// Its id.
        identifier_id: IdentifierId,
        /// Its kind.
        identifier_type: IdentifierKind,
        /// Its normalised value.
        value: Option<String>,
    },
    /// An identifier was detached (its value is free again).
    IdentifierDetached {
        /// Its id.
        identifier_id: IdentifierId,
        /// Its kind.
        identifier_type: IdentifierKind,
        /// Its normalised value.
        value: Option<String>,
    },
    /// An identifier moved from one contact to another (a merge).
    IdentifierMoved {
        /// Its id, which it keeps.
        identifier_id: IdentifierId,
        /// Its kind.
        identifier_type: IdentifierKind,
        /// Its normalised value.
        value: Option<String>,
        /// The contact it left.
        from: ContactId,
        /// The contact it joined.
        to: ContactId,
    },
    /// The merge this entry belongs to.
    Merge {
        /// The contact that lives on.
        primary: ContactId,
        /// The contact merged into it.
        duplicate: ContactId,
    },
    /// The unmerge this entry belongs to.
    Unmerge {
        /// The contact the duplicate had been merged into.
        primary: ContactId,
        /// The contact restored.
        duplicate: ContactId,
    },
}

impl Change {
    /// The change without its personal values: what survives an erasure.
    fn redacted(&self) -> Change {
        let mut c = self.clone();
        match &mut c {
            Change::Name { before, after } => (*before, *after) = (None, None),
            Change::Metadata { before, after, .. } => (*before, *after) = (None, None),
            Change::IdentifierAttached { value, .. }
            | Change::IdentifierDetached { value, .. }
            | Change::IdentifierMoved { value, .. } => *value = None,
            Change::Merge { .. } | Change::Unmerge { .. } => {}
        }
        c
    }
}

/// One entry of a contact's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactHistoryEntry {
    /// The contact.
    pub contact_id: ContactId,
    /// The contact's version after the change (1 for its creation; a deletion's is one
    /// past its last): entries of a contact are numbered without gaps.
    pub version: u64,
    /// When the change was committed.
    pub timestamp: Timestamp,
    /// What kind of change.
    #[serde(rename = "type")]
    pub kind: HistoryKind,
    /// What changed, in the order it was applied.
    pub changes: Vec<Change>,
    /// Whether the personal values were removed (the contact, or the one it was merged
    /// into, was deleted).
    pub redacted: bool,
}

impl ContactHistoryEntry {
    /// The entry as it survives an erasure.
    pub fn redacted(&self) -> ContactHistoryEntry {
        ContactHistoryEntry {
            changes: self.changes.iter().map(Change::redacted).collect(),
            redacted: true,
            ..self.clone()
        }
    }
}

/// A page of a contact's history: entries oldest first, after a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    /// The entries, by version.
    pub entries: Vec<ContactHistoryEntry>,
    /// Pass as `after` for the next page; `null` when this page is the last.
    pub next_after: Option<u64>,
}

/// What a contact looked like before the batch, for the changes that need it.
pub(crate) struct Before<'a> {
    pub(crate) contact: &'a Contact,
    pub(crate) version: u64,
    /// Its identifiers; only detaches and moves need them (resolve passes none).
    pub(crate) identifiers: &'a [Identifier],
}

/// The entry being built for one contact.
struct Draft {
    version: u64,
    kind: HistoryKind,
    changes: Vec<Change>,
    /// The contact's new `updated_at`, when the batch writes its row: the entry's time,
    /// so history and the contact agree to the millisecond.
    at: Option<Timestamp>,
}

/// The entries being built, in the order their contacts first appear in the batch.
#[derive(Default)]
struct Drafts {
    map: BTreeMap<ContactId, Draft>,
    order: Vec<ContactId>,
}

impl Drafts {
    /// The draft of `id`, begun at `version` if new. A merge or delete decides the kind
    /// over a plain update in the same batch.
    fn of(&mut self, id: ContactId, version: u64, kind: HistoryKind) -> &mut Draft {
        if !self.map.contains_key(&id) {
            self.order.push(id);
        }
        let d = self.map.entry(id).or_insert(Draft {
            version,
            kind,
            changes: Vec::new(),
            at: None,
        });
        if kind != HistoryKind::Updated {
            d.kind = kind;
        }
        d
    }
}

/// The value as history keeps it: `None` for `null` (which reads back as absent on every
/// backend) and for a value too large to keep.
fn small(v: &Value) -> Option<Value> {
    let size = serde_json::to_string(v).map_or(usize::MAX, |s| s.len());
    (!v.is_null() && size <= MAX_KEPT_VALUE_BYTES).then(|| v.clone())
}

fn field_changes(before: Option<&Contact>, after: &Contact, out: &mut Vec<Change>) {
    let name_before = before.and_then(|b| b.name.as_deref());
    if name_before != after.name.as_deref() {
        out.push(Change::Name {
            before: name_before.map(str::to_owned),
            after: after.name.as_deref().map(str::to_owned),
        });
    }
    if before.is_some_and(|b| b.metadata == after.metadata) {
        return;
    }
    let old = before.map(|b| b.metadata.to_object()).unwrap_or_default();
    let new = after.metadata.to_object();
    let keys: BTreeMap<&String, ()> = old.keys().chain(new.keys()).map(|k| (k, ())).collect();
    for key in keys.into_keys() {
        let (b, a) = (old.get(key), new.get(key));
        if b != a {
            out.push(Change::Metadata {
                key: key.clone(),
                before: b.and_then(small),
                after: a.and_then(small),
            });
        }
    }
}

impl<S: Store> Engine<S> {
    /// `ops` with the history they make (docs/semantics.md 4, "History"): the entries
    /// of every contact the batch writes, appended at the end, and, for a contact the
    /// batch deletes (not merges away), the erasure of its entries' values first, while
    /// the redirects to it still say whose entries those are. `before` gives each
    /// existing contact as read. With history off only the erasure is added.
    pub(crate) fn with_history<'a>(
        &self,
        ops: Vec<WriteOp>,
        before: impl Fn(ContactId) -> Option<Before<'a>>,
    ) -> Vec<WriteOp> {
        let keep = self.config.history_per_contact as u64;
        if ops.is_empty() {
            return ops;
        }
        let mut drafts = Drafts::default();
        // The version a change to `c` produces: one past the version read.
        let next = |c: ContactId| before(c).map_or(1, |b| b.version + 1);
        let value_of = |contact: ContactId, id: IdentifierId| {
            before(contact).and_then(|b| {
                b.identifiers
                    .iter()
                    .find(|i| i.id == id)
                    .map(|i| (i.identifier_type, i.identifier_value.clone()))
            })
        };
        let mut erased = Vec::new();
        for op in &ops {
            match op {
                WriteOp::InsertContact(c) => {
                    let d = drafts.of(c.id, 1, HistoryKind::Created);
                    d.at = Some(c.updated_at);
                    field_changes(None, c, &mut d.changes);
                }
                WriteOp::UpdateContact {
                    contact,
                    expected_version,
                } => {
                    let b = before(contact.id);
                    let d = drafts.of(contact.id, expected_version + 1, HistoryKind::Updated);
                    d.at = Some(contact.updated_at);
                    field_changes(b.as_ref().map(|b| b.contact), contact, &mut d.changes);
                }
                WriteOp::InsertIdentifier(i) => {
                    drafts
                        .of(i.contact_id, next(i.contact_id), HistoryKind::Updated)
                        .changes
                        .push(Change::IdentifierAttached {
                            identifier_id: i.id,
                            identifier_type: i.identifier_type,
                            value: Some(i.identifier_value.clone()),
                        });
                }
                WriteOp::DeleteIdentifier { id, contact_id } => {
                    let Some((kind, value)) = value_of(*contact_id, *id) else {
                        continue;
                    };
                    drafts
                        .of(*contact_id, next(*contact_id), HistoryKind::Updated)
                        .changes
                        .push(Change::IdentifierDetached {
                            identifier_id: *id,
                            identifier_type: kind,
                            value: Some(value),
                        });
                }
                WriteOp::MoveIdentifier { id, from, to, .. } => {
                    let Some((kind, value)) = value_of(*from, *id) else {
                        continue;
                    };
                    let moved = Change::IdentifierMoved {
                        identifier_id: *id,
                        identifier_type: kind,
                        value: Some(value),
                        from: *from,
                        to: *to,
                    };
                    for c in [*to, *from] {
                        drafts
                            .of(c, next(c), HistoryKind::Updated)
                            .changes
                            .push(moved.clone());
                    }
                }
                WriteOp::Unmerge {
                    contact,
                    version,
                    primary,
                } => {
                    let unmerge = Change::Unmerge {
                        primary: *primary,
                        duplicate: contact.id,
                    };
                    let d = drafts.of(contact.id, *version, HistoryKind::Unmerged);
                    d.at = Some(contact.updated_at);
                    d.changes.push(unmerge.clone());
                    field_changes(None, contact, &mut d.changes);
                    drafts
                        .of(*primary, next(*primary), HistoryKind::Unmerged)
                        .changes
                        .push(unmerge);
                }
                WriteOp::Redirect { from, to, .. } => {
                    let merge = Change::Merge {
                        primary: *to,
                        duplicate: *from,
                    };
                    for (c, kind) in [
                        (*to, HistoryKind::MergedFrom),
                        (*from, HistoryKind::MergedInto),
                    ] {
                        drafts.of(c, next(c), kind).changes.push(merge.clone());
                    }
                }
                WriteOp::DeleteContact {
                    id,
                    expected_version,
                } => {
                    let merged_away = drafts
                        .map
                        .get(id)
                        .is_some_and(|d| d.kind == HistoryKind::MergedInto);
                    if !merged_away {
                        drafts.of(*id, expected_version + 1, HistoryKind::Deleted);
                        erased.push(*id);
                    }
                }
                _ => {}
            }
        }
        // Erasure holds with history off too: entries written while it was on must not
        // outlive the contact with their values.
        let mut out: Vec<WriteOp> = erased
            .iter()
            .map(|&contact_id| WriteOp::RedactHistory { contact_id })
            .collect();
        out.extend(ops);
        if keep == 0 {
            return out;
        }
        let now = self.clock.now();
        for id in std::mem::take(&mut drafts.order) {
            let d = drafts.map.remove(&id).expect("drafted");
            let entry = ContactHistoryEntry {
                contact_id: id,
                version: d.version,
                timestamp: d.at.unwrap_or(now),
                kind: d.kind,
                changes: d.changes,
                redacted: false,
            };
            let entry = if d.kind == HistoryKind::Deleted {
                entry.redacted()
            } else {
                entry
            };
            out.push(WriteOp::AppendHistory {
                drop_through: d.version.checked_sub(keep).filter(|v| *v > 0),
                entry,
            });
        }
        out
    }

    /// A contact's history, oldest first: every committed change, up to the newest
    /// [`Config::history_per_contact`](crate::Config::history_per_contact) entries
    /// (docs/semantics.md 4, "History"). It outlives the contact: a deleted contact's
    /// entries stay, without their personal values, and a merged-away contact's stay
    /// as they were.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let id = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// engine.update(org, id, &UpdateRequest::new().with_name("Sarah"))?;
    /// let page = engine.history(org, id, 0, 50)?;
    /// let kinds: Vec<_> = page.entries.iter().map(|e| e.kind).collect();
    /// assert_eq!(kinds, [HistoryKind::Created, HistoryKind::Updated]);
    /// assert_eq!(page.next_after, None);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`limit`) below 1 (above 200 it is clamped, as list
    /// clamps); [`Error::NotFound`] for an
    /// id with no history in the org (naming where a merged-away id went);
    /// [`Error::Storage`].
    pub fn history(
        &self,
        org: OrgId,
        id: ContactId,
        after: u64,
        limit: u64,
    ) -> Result<HistoryPage> {
        if limit == 0 {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        let limit = limit.min(MAX_PAGE);
        let mut entries = self.store.history(org, id, after, limit + 1)?;
        if entries.is_empty()
            && self.store.contact_version(org, id)?.is_none()
            && self.store.history(org, id, 0, 1)?.is_empty()
        {
            return Err(self.missing_contact(org, id));
        }
        let more = entries.len() as u64 > limit;
        entries.truncate(limit as usize);
        let next_after = if more {
            entries.last().map(|e| e.version)
        } else {
            None
        };
        Ok(HistoryPage {
            entries,
            next_after,
        })
    }
}
