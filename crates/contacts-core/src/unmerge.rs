//! Undoing a merge (docs/semantics.md 4, "Unmerge"): what a merge keeps so that it can
//! be undone, and the pure code that splits the merged contact back in two.
//!
//! One rule decides every field: what the duplicate brought into the primary and is
//! still there unchanged goes back to the duplicate; what changed or went away on the
//! primary since stays as the primary has it and is listed as not restored (never
//! silently dropped, and never brought back after someone removed it on purpose);
//! what the duplicate had but never reached the primary (the primary's own value won)
//! comes back from the snapshot. Everything written after the merge stays with the
//! primary.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{ContactId, MemoryId, OrgId};
use crate::lifecycle::{advance, stored_before};
use crate::memory::{Entity, HistoryEntry, MemoryRecord, Message};
use crate::request::ContactWithRelations;
use crate::retry::Step;
use crate::store::{ContactRecord, EntityWrites, Store, WriteBatch, WriteOp};
use crate::time::Timestamp;
use crate::types::{Contact, Identifier, IdentifierKind, Metadata};

/// What a merge keeps so that it can be undone: the duplicate as it was, and what the
/// primary had before. Stored with the duplicate's redirect (contract rule 12), so it
/// lives exactly as long as the redirect: deleting the primary erases it with the
/// redirect, and a memory reset on the primary erases it too. Stored snapshots are read
/// back, so a field added later must carry `#[serde(default)]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeSnapshot {
    /// The contact the duplicate was merged into.
    pub primary: ContactId,
    /// When the merge was committed.
    pub merged_at: Timestamp,
    /// The duplicate's own fields as they were.
    pub duplicate: Contact,
    /// The duplicate's version when it was merged; its `merged_into` history entry
    /// has the next one, so a restored duplicate starts one past that.
    pub version: u64,
    /// The duplicate's identifiers as it held them, oldest first.
    pub identifiers: Vec<Identifier>,
    /// Whether the primary had no name and took the duplicate's.
    pub name_taken: bool,
    /// The metadata keys the primary lacked and took from the duplicate.
    pub metadata_taken: Vec<String>,
    /// The duplicate's memory records, each with the primary's record of its scope
    /// before the merge (none when the record moved whole).
    pub memories: Vec<MemorySnapshot>,
}

/// One of the duplicate's memory records as a merge found it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemorySnapshot {
    /// The duplicate's record.
    pub record: MemoryRecord,
    /// The primary's record of the same scope, before the two were combined.
    pub primary_before: Option<MemoryRecord>,
    /// The primary's own messages that the combined record's window dropped: they
    /// come back on an unmerge.
    #[serde(default)]
    pub trimmed_messages: Vec<Message>,
    /// Likewise its memory history entries.
    #[serde(default)]
    pub trimmed_history: Vec<HistoryEntry>,
}

/// Something the duplicate brought that an unmerge did not give back, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotRestored {
    /// Where it was: `name`, `metadata.<key>`, `identifiers.<id>`, or a part of a
    /// memory record (`memories.<id>.facts.<key>`,
    /// `memories.<id>.entities.<type>/<id>`, `memories.<id>.open_items.<id>`,
    /// `memories.<id>.summary`).
    pub field: String,
    /// Why it stays with the primary (or is gone).
    pub reason: String,
}

/// The two contacts as the unmerge left them, and what it could not restore.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unmerged {
    /// The primary, without what came from the duplicate.
    pub primary: ContactWithRelations,
    /// The duplicate, under its old id.
    pub duplicate: ContactWithRelations,
    /// What the duplicate brought and did not get back, with the reason.
    pub not_restored: Vec<NotRestored>,
}

const CHANGED: &str = "changed or removed on the primary since the merge";
const DETACHED: &str = "detached from the primary since the merge";

impl<S: Store> Engine<S> {
    /// The snapshot a merge stores with the duplicate's redirect; `combined` holds the
    /// records the merge combined, as it writes them.
    pub(crate) fn merge_snapshot(
        p: &ContactRecord,
        d: &ContactRecord,
        now: Timestamp,
        combined: &[MemoryRecord],
    ) -> MergeSnapshot {
        let (pc, dc) = (&p.contact.contact, &d.contact.contact);
        let primary_meta = pc.metadata.to_object();
        MergeSnapshot {
            primary: pc.id,
            merged_at: now,
            duplicate: Contact::clone(dc),
            version: d.contact.version,
            identifiers: d.contact.identifiers.clone(),
            name_taken: pc.name.is_none() && dc.name.is_some(),
            metadata_taken: dc
                .metadata
                .to_object()
                .keys()
                .filter(|k| !primary_meta.contains_key(*k))
                .cloned()
                .collect(),
            memories: d
                .memories
                .iter()
                .map(|dm| {
                    let before = p.memories.iter().find(|pm| pm.scope() == dm.scope());
                    let after = combined.iter().find(|c| Some(c.id) == before.map(|b| b.id));
                    let (trimmed_messages, trimmed_history) = match (before, after) {
                        (Some(b), Some(a)) => (
                            minus(&b.recent_messages, &a.recent_messages),
                            minus(&b.memory_history, &a.memory_history),
                        ),
                        _ => (Vec::new(), Vec::new()),
                    };
                    MemorySnapshot {
                        record: MemoryRecord::clone(dm),
                        primary_before: before.map(|pm| MemoryRecord::clone(pm)),
                        trimmed_messages,
                        trimmed_history,
                    }
                })
                .collect(),
        }
    }

    /// Undoes the merge of `duplicate` into `primary` (docs/semantics.md 4, "Unmerge"):
    /// the duplicate comes back under its old id with what it brought, as far as that
    /// is unchanged on the primary, and the primary loses exactly that. One atomic
    /// write. The merge is named by the duplicate's id, which a merge retires for good.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let a = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let b = engine.resolve(org, &ResolveRequest::new().with_email("s@example.com"))?.contact.id;
    /// engine.merge(org, a, b)?;
    /// let out = engine.unmerge(org, a, b)?;
    /// assert!(out.not_restored.is_empty());
    /// // The email finds the duplicate again.
    /// let found = engine.find(org, &FindRequest::new().with_email("s@example.com"))?;
    /// assert_eq!(found.map(|c| c.contact.id), Some(b));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`Error::InvalidInput`] (`duplicate_contact_id`) when both are the same;
    /// - [`Error::NotFound`] when `primary` is not a live contact of the org (naming
    ///   where a merged-away one went: a deleted primary took its merges with it), or
    ///   ("Merge") when `duplicate` was not merged directly into `primary`, or its
    ///   merge can no longer be undone (a memory reset on the primary since, or a
    ///   merge older than unmerge);
    /// - [`Error::Storage`].
    pub fn unmerge(
        &self,
        org: OrgId,
        primary: ContactId,
        duplicate: ContactId,
    ) -> Result<Unmerged> {
        if primary == duplicate {
            return Err(Error::invalid(
                "duplicate_contact_id",
                "must be another contact than the primary",
            ));
        }
        self.run(org, "unmerge", || {
            let p = self.record(org, primary)?;
            let snap = match self.store.merge_snapshot(org, duplicate)? {
                Some(s) if s.primary == primary => s,
                _ => return Err(Error::not_found("Merge")),
            };
            let now = self.clock.now();
            let (ops, lost) = self.split(&p, &snap, now);
            let (pa, da) = applied(&p, &ops);
            let out = Unmerged {
                primary: self.with_relations(&pa),
                duplicate: self.with_relations(&da),
                not_restored: lost,
            };
            let ops = self.with_history(ops, |c| stored_before(&p.contact, c));
            Ok(Step::Commit(WriteBatch::new(ops), out))
        })
    }

    /// The batch that splits `p` back into itself and the snapshot's duplicate, and
    /// what stays with the primary.
    fn split(
        &self,
        p: &ContactRecord,
        snap: &MergeSnapshot,
        now: Timestamp,
    ) -> (Vec<WriteOp>, Vec<NotRestored>) {
        let mut lost = Vec::new();
        let primary = p.contact.contact.id;
        let mut pc = Contact::clone(&p.contact.contact);
        let mut dc = snap.duplicate.clone();
        let duplicate = dc.id;
        if snap.name_taken {
            if pc.name == dc.name {
                pc.name = None;
            } else {
                dc.name = None;
                lost.push(not_restored("name".to_owned(), CHANGED));
            }
        }
        if !snap.metadata_taken.is_empty() {
            let mut pm = pc.metadata.to_object();
            let mut dm = dc.metadata.to_object();
            for key in &snap.metadata_taken {
                if pm.get(key) == dm.get(key) {
                    pm.remove(key);
                } else {
                    dm.remove(key);
                    lost.push(not_restored(format!("metadata.{key}"), CHANGED));
                }
            }
            pc.metadata = Metadata::from_object(&pm);
            dc.metadata = Metadata::from_object(&dm);
        }
        pc.updated_at = advance(pc.updated_at, now);
        dc.updated_at = now.max(dc.updated_at);
        // The primary's row first: every writer of a contact locks it before the
        // rows that hang off it, so this and a concurrent delete cannot deadlock.
        let mut ops = vec![
            WriteOp::UpdateContact {
                contact: pc,
                expected_version: p.contact.version,
            },
            WriteOp::Unmerge {
                contact: dc,
                version: snap.version + 2,
                primary,
            },
        ];
        self.split_identifiers(p, snap, &mut ops, &mut lost);
        for part in &snap.memories {
            self.split_memory(p, part, duplicate, now, &mut ops, &mut lost);
            // A record that moved whole goes back under its id, but the calls written
            // to it since the merge wrote what stays with the primary: their logs go,
            // so none describes the other contact's memory (docs/semantics.md 6).
            if p.memories.iter().any(|m| m.id == part.record.id) {
                ops.push(WriteOp::DropConversations {
                    memory_id: part.record.id,
                    since: snap.merged_at,
                });
            }
        }
        (ops, lost)
    }

    /// The duplicate's identifiers still on the primary move back, each kind keeping
    /// one primary identifier on either side.
    fn split_identifiers(
        &self,
        p: &ContactRecord,
        snap: &MergeSnapshot,
        ops: &mut Vec<WriteOp>,
        lost: &mut Vec<NotRestored>,
    ) {
        let primary = p.contact.contact.id;
        let held = &p.contact.identifiers;
        let back: Vec<&Identifier> = snap
            .identifiers
            .iter()
            .filter(|i| {
                let on_primary = held.iter().any(|h| h.id == i.id);
                if !on_primary {
                    lost.push(not_restored(format!("identifiers.{}", i.id), DETACHED));
                }
                on_primary
            })
            .collect();
        for ident in &back {
            let kind = ident.identifier_type;
            // The duplicate's primary of the kind, or its oldest one coming back.
            let first_back = back.iter().find(|b| b.identifier_type == kind);
            let keeps_primary = back
                .iter()
                .any(|b| b.identifier_type == kind && b.is_primary);
            let is_primary = if keeps_primary {
                ident.is_primary
            } else {
                first_back.is_some_and(|f| f.id == ident.id)
            };
            ops.push(WriteOp::MoveIdentifier {
                id: ident.id,
                from: primary,
                to: snap.duplicate.id,
                is_primary,
            });
        }
        // Where the primary loses its primary identifier of a kind, its oldest
        // remaining one of the kind takes the flag.
        for kind in IdentifierKind::ALL {
            let leaves = |i: &&Identifier| back.iter().any(|b| b.id == i.id);
            let lost_primary = held
                .iter()
                .any(|i| i.identifier_type == kind && i.is_primary && leaves(&i));
            if !lost_primary {
                continue;
            }
            if let Some(next) = held
                .iter()
                .find(|i| i.identifier_type == kind && !leaves(i))
            {
                ops.push(WriteOp::SetPrimary {
                    id: next.id,
                    contact_id: primary,
                    is_primary: true,
                });
            }
        }
    }

    /// One of the duplicate's records split off the primary's record of its scope.
    fn split_memory(
        &self,
        p: &ContactRecord,
        part: &MemorySnapshot,
        duplicate: ContactId,
        now: Timestamp,
        ops: &mut Vec<WriteOp>,
        lost: &mut Vec<NotRestored>,
    ) {
        let d = &part.record;
        let before = part.primary_before.as_ref();
        // The primary's record of the scope: the one the merge moved or combined into,
        // or what an earlier unmerge left of it. A reset erases the snapshot with the
        // record, so with the snapshot alive a missing record is one an earlier unmerge
        // took away with nothing of the primary's left in it: the duplicate's record
        // comes back whole.
        let Some(current) = p.memories.iter().find(|m| m.scope() == d.scope()) else {
            let mut back = d.clone();
            back.contact_id = duplicate;
            back.revision = d.revision + 1;
            back.updated_at = now.max(back.updated_at);
            ops.push(WriteOp::InsertMemory(back));
            return;
        };
        let mut left = MemoryRecord::clone(current);
        let mut back = d.clone();
        let at = |what: String| format!("memories.{}.{what}", d.id);
        // Facts the primary lacked came from the duplicate.
        for (key, value) in &d.facts {
            if before.is_some_and(|b| b.facts.contains_key(key)) {
                continue;
            }
            if left.facts.get(key) == Some(value) {
                left.facts.remove(key);
            } else {
                back.facts.remove(key);
                lost.push(not_restored(at(format!("facts.{key}")), CHANGED));
            }
        }
        // Messages and memory history: the primary's own as they were before the
        // merge (the merge's trim to the window may have dropped some), then what
        // was appended since, trimmed again; the duplicate's come back whole.
        let limits = &self.config.memory;
        let own = |b: &MemoryRecord| b.recent_messages.clone();
        left.recent_messages = rebuilt(
            before.map(own).unwrap_or_default(),
            &part.trimmed_messages,
            &current.recent_messages,
            &d.recent_messages,
            limits.window,
            |m| m.timestamp,
        );
        let own = |b: &MemoryRecord| b.memory_history.clone();
        left.memory_history = rebuilt(
            before.map(own).unwrap_or_default(),
            &part.trimmed_history,
            &current.memory_history,
            &d.memory_history,
            limits.max_history,
            |h| h.timestamp,
        );
        for item in &d.open_items {
            if let Some(i) = left.open_items.iter().position(|x| x == item) {
                left.open_items.remove(i);
            } else {
                back.open_items.retain(|x| x.id != item.id);
                lost.push(not_restored(at(format!("open_items.{}", item.id)), CHANGED));
            }
        }
        for de in &d.entities {
            let key = format!("entities.{}/{}", de.entity_type, de.entity_id);
            let same = |e: &Entity| e.entity_type == de.entity_type && e.entity_id == de.entity_id;
            let had = before.and_then(|b| b.entities.iter().find(|e| same(e)));
            let now_at = left.entities.iter().position(&same);
            match (had, now_at) {
                (None, Some(i)) if left.entities[i] == *de => {
                    left.entities.remove(i);
                }
                (None, _) => {
                    back.entities.retain(|e| !same(e));
                    lost.push(not_restored(at(key), CHANGED));
                }
                (Some(_), None) => {
                    back.entities.retain(|e| !same(e));
                    lost.push(not_restored(at(key), CHANGED));
                }
                (Some(had), Some(i)) => {
                    let back_entity = back
                        .entities
                        .iter_mut()
                        .find(|e| same(e))
                        .expect("the snapshot's own entity");
                    split_entity(had, &mut left.entities[i], back_entity, &key, &at, lost);
                }
            }
        }
        let summary_taken = before.is_none_or(|b| b.summary.as_deref().is_none_or(str::is_empty));
        if summary_taken && d.summary.as_deref().is_some_and(|s| !s.is_empty()) {
            if left.summary == d.summary {
                left.summary = before.and_then(|b| b.summary.clone());
                left.summary_updated_at = before.and_then(|b| b.summary_updated_at);
            } else {
                back.summary = None;
                back.summary_updated_at = None;
                lost.push(not_restored(at("summary".to_owned()), CHANGED));
            }
        }
        back.contact_id = duplicate;
        back.updated_at = now.max(back.updated_at);
        // Compared before it is stamped: a record the split leaves as it was is not
        // written.
        let changed = left != **current;
        left.updated_at = now.max(left.updated_at);
        if current.id == d.id {
            // The record moved whole: it goes back under its id, and whatever was
            // written to it since stays with the primary as a record of its own.
            let rest = has_content(&left).then(|| {
                let mut rest = left.clone();
                rest.id = MemoryId(self.ids.next_id());
                rest.revision = 1;
                rest.created_at = now;
                rest
            });
            back.revision = current.revision + 1;
            ops.push(WriteOp::UpdateMemory {
                entities: EntityWrites::between(&current.entities, &back.entities),
                record: back,
                expected_revision: current.revision,
            });
            ops.extend(rest.map(WriteOp::InsertMemory));
        } else {
            // The duplicate's record had been folded into the primary's and deleted:
            // it comes back under its old id, one revision past where it was.
            back.revision = d.revision + 1;
            let leftover = before.is_none_or(|b| b.id != current.id);
            if leftover && !has_content(&left) {
                // What an earlier unmerge left of a record the primary never had, now
                // with nothing in it.
                ops.push(WriteOp::DeleteMemory {
                    id: current.id,
                    expected_revision: current.revision,
                });
            } else if changed {
                left.revision = current.revision + 1;
                ops.push(WriteOp::UpdateMemory {
                    entities: EntityWrites::between(&current.entities, &left.entities),
                    record: left,
                    expected_revision: current.revision,
                });
            }
            ops.push(WriteOp::InsertMemory(back));
        }
    }
}

/// The primary and the duplicate as `ops` (an unmerge's batch, before its history)
/// leave them: what the commit stores, so the answer needs no second read.
fn applied(p: &ContactRecord, ops: &[WriteOp]) -> (ContactRecord, ContactRecord) {
    let mut pa = p.clone();
    let mut da = ContactRecord {
        contact: p.contact.clone(),
        memories: Vec::new(),
    };
    da.contact.identifiers.clear();
    for op in ops {
        match op {
            WriteOp::UpdateContact { contact, .. } => {
                pa.contact.contact = contact.clone();
                pa.contact.version += 1;
            }
            WriteOp::Unmerge {
                contact, version, ..
            } => {
                da.contact.contact = contact.clone();
                da.contact.version = *version;
            }
            WriteOp::MoveIdentifier { id, is_primary, .. } => {
                let held = &mut pa.contact.identifiers;
                if let Some(i) = held.iter().position(|h| h.id == *id) {
                    let mut ident = held.remove(i);
                    ident.contact_id = da.contact.contact.id;
                    ident.is_primary = *is_primary;
                    da.contact.identifiers.push(ident);
                }
            }
            WriteOp::SetPrimary { id, is_primary, .. } => {
                for i in &mut pa.contact.identifiers {
                    if i.id == *id {
                        i.is_primary = *is_primary;
                    }
                }
            }
            WriteOp::UpdateMemory { record, .. } => {
                pa.memories.retain(|m| m.id != record.id);
                let owner = if record.contact_id == da.contact.contact.id {
                    &mut da
                } else {
                    &mut pa
                };
                owner.memories.push(std::sync::Arc::new(record.clone()));
            }
            WriteOp::DeleteMemory { id, .. } => pa.memories.retain(|m| m.id != *id),
            WriteOp::InsertMemory(record) => {
                let owner = if record.contact_id == da.contact.contact.id {
                    &mut da
                } else {
                    &mut pa
                };
                owner.memories.push(std::sync::Arc::new(record.clone()));
            }
            _ => {}
        }
    }
    for r in [&mut pa, &mut da] {
        r.memories.sort_by_key(|m| (m.created_at, m.id));
    }
    (pa, da)
}

/// The primary's list after an unmerge: its own items from before the merge that are
/// still on the record or that the merge's window dropped (`trimmed`), then the items
/// of `current` that are neither those nor the duplicate's (`theirs`: appended since),
/// by time, keeping the newest `bound`. Items are counted, so an item both contacts
/// held stays once on each, and an own item that went away since (an earlier unmerge
/// took it, the window dropped it) stays away.
fn rebuilt<T: Clone + PartialEq>(
    own: Vec<T>,
    trimmed: &[T],
    current: &[T],
    theirs: &[T],
    bound: usize,
    time: impl Fn(&T) -> Timestamp,
) -> Vec<T> {
    let mut since = current.to_vec();
    let mut dropped = trimmed.to_vec();
    let mut out: Vec<T> = own
        .into_iter()
        .filter(|x| take(&mut since, x) || take(&mut dropped, x))
        .collect();
    for x in theirs {
        take(&mut since, x);
    }
    out.extend(since);
    // Stable: on equal times the primary's own come first, as the merge ordered them.
    out.sort_by_key(|x| time(x));
    let excess = out.len().saturating_sub(bound);
    out.drain(..excess);
    out
}

/// Removes one item equal to `x` from `from`; whether there was one.
fn take<T: PartialEq>(from: &mut Vec<T>, x: &T) -> bool {
    match from.iter().position(|y| y == x) {
        Some(i) => {
            from.remove(i);
            true
        }
        None => false,
    }
}

/// `items` without one of each of `removed` (counted).
fn minus<T: Clone + PartialEq>(items: &[T], removed: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    for x in removed {
        take(&mut out, x);
    }
    out
}

/// An entity both had: the facts, status and notes the primary's lacked and took from
/// the duplicate's go back, as far as they are unchanged.
fn split_entity(
    had: &Entity,
    left: &mut Entity,
    back: &mut Entity,
    key: &str,
    at: &impl Fn(String) -> String,
    lost: &mut Vec<NotRestored>,
) {
    let theirs = back.facts.clone();
    for (fact, value) in &theirs {
        if had.facts.contains_key(fact) {
            continue;
        }
        if left.facts.get(fact) == Some(value) {
            left.facts.remove(fact);
        } else {
            back.facts.remove(fact);
            lost.push(not_restored(at(format!("{key}.facts.{fact}")), CHANGED));
        }
    }
    // The later of the two times came from the duplicate's if the primary's was
    // earlier; it goes back unless the entity was discussed since.
    if left.last_discussed_at == had.last_discussed_at.max(back.last_discussed_at) {
        left.last_discussed_at = had.last_discussed_at;
    }
    for (mine, was, theirs, name) in [
        (&mut left.status, &had.status, &mut back.status, "status"),
        (&mut left.notes, &had.notes, &mut back.notes, "notes"),
    ] {
        if was.is_none() && theirs.is_some() {
            if mine == theirs {
                *mine = None;
            } else {
                *theirs = None;
                lost.push(not_restored(at(format!("{key}.{name}")), CHANGED));
            }
        }
    }
}

/// Whether a record holds anything an agent would read.
fn has_content(m: &MemoryRecord) -> bool {
    !m.facts.is_empty()
        || !m.recent_messages.is_empty()
        || !m.open_items.is_empty()
        || !m.entities.is_empty()
        || m.summary.as_deref().is_some_and(|s| !s.is_empty())
}

fn not_restored(field: String, reason: &str) -> NotRestored {
    NotRestored {
        field,
        reason: reason.to_owned(),
    }
}
