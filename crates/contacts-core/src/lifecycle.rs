//! The contact lifecycle (docs/semantics.md 4): update, merge, delete, detach.

use crate::engine::Engine;
use crate::error::{Error, MERGE_WITH_ITSELF, Result};
use crate::history::Before;
use crate::memory::{Entity, MemoryRecord};
use crate::normalize::Normalized;
use crate::request::ContactWithRelations;
use crate::request::UpdateRequest;
use crate::retry::Step;
use crate::store::{
    ContactRecord, EntityWrites, IdentifierKey, Store, StoredContact, WriteBatch, WriteOp,
};
use crate::types::{
    Contact, ContactId, Identifier, IdentifierId, IdentifierKind, JsonObject, Metadata, OrgId,
    Timestamp,
};

/// RFC 7396: objects merge recursively, `null` deletes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(JsonObject::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// What history needs of a contact as read, if `id` is that contact.
pub(crate) fn stored_before(stored: &StoredContact, id: ContactId) -> Option<Before<'_>> {
    (stored.contact.id == id).then_some(Before {
        contact: &stored.contact,
        version: stored.version,
        identifiers: &stored.identifiers,
    })
}

/// A change moves `updated_at` forward by at least a millisecond (see resolve).
pub(crate) fn advance(old: Timestamp, now: Timestamp) -> Timestamp {
    now.max(Timestamp::from_millis(old.as_millis() + 1))
}

impl<S: Store> Engine<S> {
    pub(crate) fn record(&self, org: OrgId, id: ContactId) -> Result<ContactRecord> {
        match self.store.get(org, id)? {
            Some(record) => Ok(record),
            None => Err(self.missing_contact(org, id)),
        }
    }

    /// The error for a contact id the org does not hold: `NotFound`, carrying the
    /// contact it was merged into when a merge took it away (docs/semantics.md 4,
    /// "Merge redirects"). Every operation that takes a contact id answers with it, and
    /// reads the redirect only then, so no hit pays for it.
    pub(crate) fn missing_contact(&self, org: OrgId, id: ContactId) -> Error {
        match self.store.redirect(org, id) {
            Ok(merged_into) => Error::NotFound {
                entity: "Contact",
                merged_into,
            },
            Err(e) => e,
        }
    }

    /// Updates a contact (docs/semantics.md 4): `name` replaces, `metadata` is a JSON Merge Patch,
    /// `email` and `phone_number` add an identifier, `external_id` replaces the
    /// contact's external id. All or nothing.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let id = engine
    ///     .resolve(org, &ResolveRequest::new().with_phone("+14155550192").with_name("Sara"))?
    ///     .contact
    ///     .id;
    /// let patch = serde_json::json!({"plan": "gold"});
    /// let updated = engine.update(
    ///     org,
    ///     id,
    ///     &UpdateRequest::new().with_name("Sarah").with_metadata(patch).with_email("s@example.com"),
    /// )?;
    /// assert_eq!(updated.name.as_deref(), Some("Sarah"));
    /// assert_eq!(updated.metadata.get("plan"), Some(serde_json::json!("gold")));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`Error::InvalidInput`] naming the field: a blank name, a non-object
    ///   metadata patch or a result over the metadata limits, an invalid, blank or junk
    ///   identifier;
    /// - [`Error::NotFound`] for an unknown contact;
    /// - [`Error::Conflict`] when an identifier belongs to another contact or a cap
    ///   would break; nothing changes;
    /// - [`Error::Storage`].
    pub fn update(&self, org: OrgId, id: ContactId, req: &UpdateRequest) -> Result<Contact> {
        let name = match req.name.as_deref() {
            None => None,
            Some(n) => Some(
                self.validate_name(Some(n))?
                    .ok_or_else(|| Error::invalid("name", "must not be blank"))?,
            ),
        };
        if let Some(patch) = &req.metadata
            && !patch.is_object()
        {
            return Err(Error::invalid("metadata", "must be a JSON object"));
        }
        let mut idents: Vec<(IdentifierKind, String)> = Vec::new();
        for (kind, raw) in [
            (IdentifierKind::ExternalId, &req.external_id),
            (IdentifierKind::Email, &req.email),
            (IdentifierKind::PhoneNumber, &req.phone_number),
        ] {
            let Some(raw) = raw else { continue };
            match self.normalizer.normalize(kind, raw)? {
                Normalized::Value(v) => idents.push((kind, v.into_owned())),
                Normalized::Blank | Normalized::Junk(_) => {
                    return Err(Error::invalid(
                        kind.as_str(),
                        "must be a real value (blank and junk values cannot be set)",
                    ));
                }
            }
        }
        let keys: Vec<IdentifierKey<'_>> = idents
            .iter()
            .map(|(kind, value)| IdentifierKey { kind: *kind, value })
            .collect();
        self.run(org, "update", || {
            let record = self.record(org, id)?;
            let stored = &record.contact;
            let owners = if keys.is_empty() {
                crate::store::Owners::new()
            } else {
                self.store.lookup(org, &keys)?
            };
            let mut contact = stored.contact.clone();
            let mut writes = Vec::new();
            let mut changed = false;
            if let Some(n) = name.as_deref()
                && contact.name.as_deref() != Some(n)
            {
                contact.name = Some(n.into());
                changed = true;
            }
            if let Some(patch) = &req.metadata {
                let mut merged = serde_json::Value::Object(contact.metadata.to_object());
                merge_patch(&mut merged, patch);
                let merged = match self.validate_metadata(Some(&merged))? {
                    Some(m) => Metadata::from_object(m),
                    None => Metadata::new(),
                };
                if merged != contact.metadata {
                    contact.metadata = merged;
                    changed = true;
                }
            }
            let mut counts = [0u32; 3];
            for kind in IdentifierKind::ALL {
                counts[kind.index()] = stored.count(kind);
            }
            for ((kind, value), owner) in idents.iter().zip(&owners) {
                match owner {
                    Some(o) if o.contact.id == id => {}
                    Some(_) => {
                        return Err(Error::conflict(format!(
                            "{kind} {value} belongs to another contact"
                        )));
                    }
                    None => {
                        if *kind == IdentifierKind::ExternalId {
                            // Replace: the old external id(s) go, the new one is primary.
                            for old in stored
                                .identifiers
                                .iter()
                                .filter(|i| i.identifier_type == *kind)
                            {
                                writes.push(WriteOp::DeleteIdentifier {
                                    id: old.id,
                                    contact_id: id,
                                });
                            }
                            counts[kind.index()] = 0;
                        }
                        let held = counts[kind.index()];
                        if held as u64 >= u64::from(self.config.cap(*kind)) {
                            return Err(Error::conflict(format!(
                                "the contact already holds {held} {kind} identifiers, its cap"
                            )));
                        }
                        writes.push(WriteOp::InsertIdentifier(Identifier {
                            id: IdentifierId(self.ids.next_id()),
                            contact_id: id,
                            identifier_type: *kind,
                            identifier_value: value.clone(),
                            is_primary: held == 0,
                        }));
                        counts[kind.index()] += 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(Step::Done(contact));
            }
            contact.updated_at = advance(contact.updated_at, self.clock.now());
            let mut ops = vec![WriteOp::UpdateContact {
                contact: contact.clone(),
                expected_version: stored.version,
            }];
            ops.extend(writes);
            Ok(Step::Commit(
                WriteBatch::new(self.with_history(ops, |c| stored_before(stored, c))),
                contact,
            ))
        })
    }

    /// Merges `duplicate` into `primary` (docs/semantics.md 4) and deletes the duplicate.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let a = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let b = engine.resolve(org, &ResolveRequest::new().with_email("s@example.com"))?.contact.id;
    /// engine.merge(org, a, b)?;
    /// // The duplicate is gone, and its id says where it went; its email finds the
    /// // primary.
    /// let gone = engine.get(org, b).unwrap_err();
    /// assert!(matches!(gone, Error::NotFound { merged_into: Some(p), .. } if p == a));
    /// let found = engine.find(org, &FindRequest::new().with_email("s@example.com"))?;
    /// assert_eq!(found.map(|c| c.contact.id), Some(a));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`Error::InvalidInput`] (`duplicate_contact_id`) when both are the same;
    /// - [`Error::NotFound`] when either is not a contact of the org (naming the
    ///   contact it was merged into, if a merge took it away);
    /// - [`Error::Conflict`] when the union would break a cap (two different external
    ///   ids, say) or a memory bound; nothing changes;
    /// - [`Error::Storage`].
    pub fn merge(&self, org: OrgId, primary: ContactId, duplicate: ContactId) -> Result<Contact> {
        if primary == duplicate {
            return Err(Error::invalid("duplicate_contact_id", MERGE_WITH_ITSELF));
        }
        self.run(org, "merge", || {
            let p = self.record(org, primary)?;
            let d = self.record(org, duplicate)?;
            for kind in IdentifierKind::ALL {
                let union = p.contact.count(kind) + d.contact.count(kind);
                if union as u64 > u64::from(self.config.cap(kind)) {
                    return Err(Error::conflict(format!(
                        "merging would give the contact {union} {kind} identifiers, over its cap"
                    )));
                }
            }
            let now = self.clock.now();
            let mut contact = p.contact.contact.clone();
            if contact.name.is_none() {
                contact.name.clone_from(&d.contact.contact.name);
            }
            if !d.contact.contact.metadata.is_empty() {
                let mut object = contact.metadata.to_object();
                for (k, v) in d.contact.contact.metadata.to_object() {
                    object.entry(k).or_insert(v);
                }
                contact.metadata = Metadata::from_object(&object);
            }
            contact.updated_at = advance(contact.updated_at, now);
            let mut ops = vec![WriteOp::UpdateContact {
                contact: contact.clone(),
                expected_version: p.contact.version,
            }];
            for ident in &d.contact.identifiers {
                let primary_has_kind = p.contact.count(ident.identifier_type) > 0;
                ops.push(WriteOp::MoveIdentifier {
                    id: ident.id,
                    from: duplicate,
                    to: primary,
                    is_primary: ident.is_primary && !primary_has_kind,
                });
            }
            let mut combined = Vec::new();
            for dm in &d.memories {
                let scope = dm.scope();
                match p.memories.iter().find(|pm| pm.scope() == scope) {
                    None => {
                        let mut moved = (**dm).clone();
                        moved.contact_id = primary;
                        moved.revision = dm.revision + 1;
                        moved.updated_at = now.max(dm.updated_at);
                        ops.push(WriteOp::UpdateMemory {
                            entities: EntityWrites::between(&dm.entities, &moved.entities),
                            record: moved,
                            expected_revision: dm.revision,
                        });
                    }
                    Some(pm) => {
                        let record = self.combine(pm, dm, now)?;
                        combined.push(record.clone());
                        ops.push(WriteOp::DeleteMemory {
                            id: dm.id,
                            expected_revision: dm.revision,
                        });
                        ops.push(WriteOp::UpdateMemory {
                            entities: EntityWrites::between(&pm.entities, &record.entities),
                            record,
                            expected_revision: pm.revision,
                        });
                    }
                }
            }
            // The duplicate's id keeps leading to the primary, and the snapshot makes
            // the merge undoable (docs/semantics.md 4, "Unmerge").
            ops.push(WriteOp::Redirect {
                from: duplicate,
                to: primary,
                snapshot: Box::new(Self::merge_snapshot(&p, &d, now, &combined)),
            });
            ops.push(WriteOp::DeleteContact {
                id: duplicate,
                expected_version: d.contact.version,
            });
            let ops = self.with_history(ops, |c| {
                stored_before(&p.contact, c).or_else(|| stored_before(&d.contact, c))
            });
            Ok(Step::Commit(WriteBatch::new(ops), contact))
        })
    }

    /// Two records of one scope combined (docs/semantics.md 4): facts union with the primary
    /// winning, messages interleaved by timestamp and trimmed to the window, entities
    /// merged by key, open items concatenated, the primary's summary unless empty.
    fn combine(&self, p: &MemoryRecord, d: &MemoryRecord, now: Timestamp) -> Result<MemoryRecord> {
        let limits = &self.config.memory;
        let mut out = p.clone();
        let mut facts = d.facts.clone();
        facts.extend(p.facts.clone());
        out.facts = facts;
        out.recent_messages = p
            .recent_messages
            .iter()
            .chain(&d.recent_messages)
            .cloned()
            .collect();
        // Stable: on equal timestamps the primary's message comes first.
        out.recent_messages.sort_by_key(|m| m.timestamp);
        let excess = out.recent_messages.len().saturating_sub(limits.window);
        out.recent_messages.drain(..excess);
        for de in &d.entities {
            match out
                .entities
                .iter_mut()
                .find(|e| e.entity_type == de.entity_type && e.entity_id == de.entity_id)
            {
                Some(pe) => merge_entity(pe, de),
                None => out.entities.push(de.clone()),
            }
        }
        out.open_items.extend(d.open_items.iter().cloned());
        if out.summary.as_deref().is_none_or(str::is_empty) {
            out.summary.clone_from(&d.summary);
            out.summary_updated_at = d.summary_updated_at;
        }
        out.memory_history.extend(d.memory_history.iter().cloned());
        out.memory_history.sort_by_key(|h| h.timestamp);
        let excess = out.memory_history.len().saturating_sub(limits.max_history);
        out.memory_history.drain(..excess);
        if out.entities.len() > limits.max_entities
            || out.open_items.len() > limits.max_open_items
            || out.facts.len() > limits.max_fact_keys
        {
            return Err(Error::conflict(
                "the combined memory would exceed its bounds (entities, open items or facts)",
            ));
        }
        out.revision = p.revision + 1;
        out.updated_at = now.max(p.updated_at);
        Ok(out)
    }

    /// Deletes a contact with its identifiers and memories; its identifiers become
    /// free (docs/semantics.md 4).
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let id = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// engine.delete(org, id)?;
    /// // Its number is free: the next caller on it is a new contact.
    /// assert!(engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.created);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown contact; [`Error::Storage`].
    pub fn delete(&self, org: OrgId, id: ContactId) -> Result<()> {
        self.run(org, "delete", || {
            // The version alone: a delete never decodes what it removes (docs/semantics.md 7).
            let Some(version) = self.store.contact_version(org, id)? else {
                return Err(self.missing_contact(org, id));
            };
            let batch = WriteBatch {
                ops: vec![WriteOp::DeleteContact {
                    id,
                    expected_version: version,
                }],
            };
            Ok(Step::Commit(
                WriteBatch::new(self.with_history(batch.ops, |_| None)),
                (),
            ))
        })
    }

    /// Detaches one identifier (a recycled phone number, say): it becomes free, and if
    /// it was primary the oldest remaining identifier of its kind becomes primary.
    /// Returns the contact afterwards.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let out = engine.resolve(
    ///     org,
    ///     &ResolveRequest::new().with_phone("+14155550192").with_email("s@example.com"),
    /// )?;
    /// let contact = engine.get(org, out.contact.id)?;
    /// let phone = contact.identifiers.iter().find(|i| i.identifier_type == IdentifierKind::PhoneNumber);
    /// let after = engine.detach(org, out.contact.id, phone.expect("a phone").id)?;
    /// assert_eq!(after.identifiers.len(), 1);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown contact, or an identifier the contact does
    /// not hold ("Identifier not found"); [`Error::Storage`].
    pub fn detach(
        &self,
        org: OrgId,
        contact: ContactId,
        identifier: IdentifierId,
    ) -> Result<ContactWithRelations> {
        self.run(org, "detach", || {
            let record = self.record(org, contact)?;
            let stored = &record.contact;
            let ident = stored
                .identifiers
                .iter()
                .find(|i| i.id == identifier)
                .ok_or(Error::not_found("Identifier"))?;
            let mut updated = Contact::clone(&stored.contact);
            updated.updated_at = advance(updated.updated_at, self.clock.now());
            let mut ops = vec![
                WriteOp::UpdateContact {
                    contact: updated.clone(),
                    expected_version: stored.version,
                },
                WriteOp::DeleteIdentifier {
                    id: identifier,
                    contact_id: contact,
                },
            ];
            // Identifiers are stored oldest first, so the first other one of the kind
            // is the oldest remaining.
            let successor = stored
                .identifiers
                .iter()
                .find(|i| i.identifier_type == ident.identifier_type && i.id != identifier);
            let mut after = stored.clone();
            after.contact = updated;
            after.version += 1;
            after.identifiers.retain(|i| i.id != identifier);
            if ident.is_primary
                && let Some(next) = successor
            {
                ops.push(WriteOp::SetPrimary {
                    id: next.id,
                    contact_id: contact,
                    is_primary: true,
                });
                for i in &mut after.identifiers {
                    if i.id == next.id {
                        i.is_primary = true;
                    }
                }
            }
            let view = self.with_relations(&ContactRecord {
                contact: after,
                memories: record.memories.clone(),
            });
            Ok(Step::Commit(
                WriteBatch::new(self.with_history(ops, |c| stored_before(stored, c))),
                view,
            ))
        })
    }
}

/// The duplicate's entity folded into the primary's: facts union with the primary
/// winning, the primary's status and notes unless it has none, the later
/// `last_discussed_at`.
fn merge_entity(p: &mut Entity, d: &Entity) {
    let mut facts = d.facts.clone();
    facts.extend(std::mem::take(&mut p.facts));
    p.facts = facts;
    if p.status.is_none() {
        p.status.clone_from(&d.status);
    }
    if p.notes.is_none() {
        p.notes.clone_from(&d.notes);
    }
    p.last_discussed_at = p.last_discussed_at.max(d.last_discussed_at);
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    /// The examples of RFC 7396, appendix A.
    #[test]
    fn merge_patch_follows_rfc_7396() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, expected, "{target} + {patch}");
        }
    }
}
