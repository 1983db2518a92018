//! The engine's memory operations (docs/semantics.md 6).

use crate::conversation::WriteOptions;
use crate::engine::Engine;
use crate::error::{Error, NO_SCOPE, Result};
use crate::memory::{
    Entity, EntityUpsert, HistoryEntry, MemoryContext, MemoryId, MemoryRecord, MemoryScope,
    Message, NewMessage, NewOpenItem, OpenItem, OpenItemId,
};
use crate::normalize::Normalized;
use crate::request::{MemoryOutcome, ScopeRequest};
use crate::retry::Step;
use crate::store::{EntityWrites, Store, WriteBatch, WriteOp};
use crate::types::{ContactId, IdentifierKind, JsonObject, OrgId, Timestamp};
use crate::validate::{self, MAX_KEY_BYTES};

const MAX_CHANNEL_BYTES: usize = 32;

fn memory_not_found() -> Error {
    Error::not_found("Contact memory")
}

impl<S: Store> Engine<S> {
    /// The memory scope of a request: the persona if one is given (non-blank), else
    /// the agent number, else `None`.
    pub(crate) fn scope(
        &self,
        persona: Option<&str>,
        agent_number: Option<&str>,
    ) -> Result<Option<MemoryScope>> {
        if let Some(p) = persona.map(str::trim).filter(|p| !p.is_empty()) {
            validate::key("persona_id", p)?;
            return Ok(Some(MemoryScope::Persona(p.to_owned())));
        }
        let Some(raw) = agent_number else {
            return Ok(None);
        };
        match self.normalizer.normalize(IdentifierKind::PhoneNumber, raw) {
            Ok(Normalized::Value(v)) => Ok(Some(MemoryScope::AgentNumber(v.into_owned()))),
            Ok(Normalized::Blank) => Ok(None),
            Ok(Normalized::Junk(_)) => Err(Error::invalid("agent_number", "is not a phone number")),
            Err(Error::InvalidInput { reason, .. }) => Err(Error::invalid("agent_number", reason)),
            Err(e) => Err(e),
        }
    }

    fn required_scope(&self, scope: &ScopeRequest) -> Result<MemoryScope> {
        self.scope(scope.persona_id.as_deref(), scope.agent_number.as_deref())?
            .ok_or_else(|| Error::invalid("persona_id", NO_SCOPE))
    }

    fn require_contact(&self, org: OrgId, contact: ContactId) -> Result<()> {
        // Its version says it exists, without decoding its memory records.
        match self.store.contact_version(org, contact)? {
            Some(_) => Ok(()),
            None => Err(self.missing_contact(org, contact)),
        }
    }

    /// Get-or-create of the memory record for `contact` and `scope`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let first = engine.memory_create(org, contact, &ScopeRequest::persona("support-bot"))?;
    /// let again = engine.memory_create(org, contact, &ScopeRequest::persona("support-bot"))?;
    /// assert!(first.created && !again.created);
    /// assert_eq!(first.memory.id, again.memory.id);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`persona_id`, `agent_number`) without a valid scope;
    /// [`Error::NotFound`] for an unknown contact; [`Error::Conflict`] when there is no
    /// record yet and the persona is switched off ([`Engine::memory_enable`]; an
    /// existing record is still returned); [`Error::Storage`].
    pub fn memory_create(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &ScopeRequest,
    ) -> Result<MemoryOutcome> {
        let scope = self.required_scope(scope)?;
        // A lost race means it was created concurrently (or the contact vanished):
        // look again.
        self.run(org, "memory create", || {
            if let Some(m) = self.store.memory(org, contact, &scope)? {
                return Ok(Step::Done(MemoryOutcome {
                    memory: (*m).clone(),
                    created: false,
                }));
            }
            let Some(existing) = self.store.get(org, contact)? else {
                return Err(self.missing_contact(org, contact));
            };
            self.check_memory_count(existing.memories.len())?;
            let guard = self.memory_write_guard(org, &scope)?;
            let record = self.new_memory(org, contact, &scope);
            let batch = WriteBatch::new(
                guard
                    .into_iter()
                    .chain([WriteOp::InsertMemory(record.clone())])
                    .collect(),
            );
            Ok(Step::Commit(
                batch,
                MemoryOutcome {
                    memory: record,
                    created: true,
                },
            ))
        })
    }

    /// The memory record `id`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// assert_eq!(engine.memory_get(org, id)?.revision, 1);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] ("Contact memory not found"); [`Error::Storage`].
    pub fn memory_get(&self, org: OrgId, id: MemoryId) -> Result<MemoryRecord> {
        self.store
            .memory_by_id(org, id)?
            .map(|m| (*m).clone())
            .ok_or_else(memory_not_found)
    }

    /// The record's recent messages, chronological.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let hello = NewMessage { role: Role::User, content: "Hello".into(), channel: "sms".into(), timestamp: None };
    /// engine.memory_append_messages(org, id, &[hello], None)?;
    /// assert_eq!(engine.memory_messages(org, id)?[0].content, "Hello");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Engine::memory_get`].
    pub fn memory_messages(&self, org: OrgId, id: MemoryId) -> Result<Vec<Message>> {
        Ok(self.memory_get(org, id)?.recent_messages)
    }

    /// What the agent sees at the start of a conversation with `contact` in `scope`;
    /// empty values when there is no record (none is created).
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// // No record yet: empty values, and none is created.
    /// let context = engine.memory_context(org, contact, &ScopeRequest::persona("p"))?;
    /// assert!(context.summary.is_none() && context.recent_messages.is_empty());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] without a valid scope; [`Error::NotFound`] for an unknown
    /// contact; [`Error::Storage`].
    pub fn memory_context(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &ScopeRequest,
    ) -> Result<MemoryContext> {
        let scope = self.required_scope(scope)?;
        let record = self.store.memory(org, contact, &scope)?;
        if record.is_none() {
            self.require_contact(org, contact)?;
        }
        Ok(match record {
            Some(m) => MemoryContext {
                contact_id: contact,
                recent_messages: m.recent_messages.clone(),
                summary: m.summary.clone(),
                contact_facts: m.facts.clone(),
                entities: m.entities.clone(),
                open_items: m.open_items.clone(),
            },
            None => MemoryContext {
                contact_id: contact,
                recent_messages: Vec::new(),
                summary: None,
                contact_facts: JsonObject::new(),
                entities: Vec::new(),
                open_items: Vec::new(),
            },
        })
    }

    /// Deletes the record of `contact` for `scope`: its id is `NotFound` afterwards and
    /// a later create starts empty. Returns whether a record existed; resetting
    /// nothing succeeds.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let scope = ScopeRequest::persona("p");
    /// engine.memory_create(org, contact, &scope)?;
    /// assert!(engine.memory_reset(org, contact, &scope)?);
    /// assert!(!engine.memory_reset(org, contact, &scope)?, "nothing left to reset");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] without a valid scope; [`Error::NotFound`] for an unknown
    /// contact; [`Error::Storage`].
    pub fn memory_reset(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &ScopeRequest,
    ) -> Result<bool> {
        let scope = self.required_scope(scope)?;
        self.run(org, "memory reset", || {
            // The revision alone: a reset never decodes what it removes (docs/semantics.md 7).
            let Some((id, revision)) = self.store.memory_revision(org, contact, &scope)? else {
                self.require_contact(org, contact)?;
                return Ok(Step::Done(false));
            };
            // The snapshots of merges into the contact hold copies of its memory as it
            // was: a reset erases them too (docs/semantics.md 4, "Unmerge").
            let batch = WriteBatch::new(vec![
                WriteOp::DeleteMemory {
                    id,
                    expected_revision: revision,
                },
                WriteOp::ForgetMergeSnapshots {
                    contact_id: contact,
                },
            ]);
            Ok(Step::Commit(batch, true))
        })
    }

    /// Appends messages, keeps them chronological, and slides the window to the newest
    /// (20 by default).
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let message = |text: &str| NewMessage {
    ///     role: Role::User,
    ///     content: text.into(),
    ///     channel: "call".into(),
    ///     timestamp: None,
    /// };
    /// let record = engine.memory_append_messages(org, id, &[message("Hi"), message("Is my order late?")], None)?;
    /// assert_eq!(record.recent_messages.len(), 2);
    /// // Naming a stale revision is a conflict, not a lost update.
    /// assert!(engine.memory_append_messages(org, id, &[message("x")], Some(1)).is_err());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the message field (`messages[1].content`, ...);
    /// [`Error::NotFound`]; [`Error::Conflict`] when `expected_revision` is stale or
    /// the record's persona is switched off ([`Engine::memory_enable`]);
    /// [`Error::Storage`].
    pub fn memory_append_messages(
        &self,
        org: OrgId,
        id: MemoryId,
        messages: &[NewMessage],
        options: impl Into<WriteOptions>,
    ) -> Result<MemoryRecord> {
        if messages.is_empty() {
            return Err(Error::invalid(
                "messages",
                "at least one message is required",
            ));
        }
        let limits = &self.config.memory;
        for (i, m) in messages.iter().enumerate() {
            let field = |f: &str| format!("messages[{i}].{f}");
            if m.content.trim().is_empty() {
                return Err(Error::invalid(field("content"), "must not be blank"));
            }
            validate::text(&field("content"), &m.content, limits.max_message_bytes)?;
            let channel_ok = !m.channel.is_empty()
                && m.channel.len() <= MAX_CHANNEL_BYTES
                && m.channel.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !channel_ok {
                return Err(Error::invalid(
                    field("channel"),
                    "must be a lower-case token such as call or sms",
                ));
            }
        }
        self.update_memory(org, id, options.into(), |rec, now| {
            rec.recent_messages.extend(messages.iter().map(|m| Message {
                role: m.role,
                content: m.content.clone(),
                channel: m.channel.clone(),
                timestamp: m.timestamp.unwrap_or(now),
            }));
            // Stable: messages with equal timestamps keep their arrival order.
            rec.recent_messages.sort_by_key(|m| m.timestamp);
            let excess = rec.recent_messages.len().saturating_sub(limits.window);
            rec.recent_messages.drain(..excess);
            Ok(())
        })
    }

    /// Replaces the summary as a whole and sets `summary_updated_at`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let record = engine.memory_replace_summary(org, id, "Asked about order #8821.", None)?;
    /// assert_eq!(record.summary.as_deref(), Some("Asked about order #8821."));
    /// assert_eq!(record.memory_history[0].entry_type, "summary_update");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`summary`) over the bound; as
    /// [`Engine::memory_append_messages`] otherwise.
    pub fn memory_replace_summary(
        &self,
        org: OrgId,
        id: MemoryId,
        summary: &str,
        options: impl Into<WriteOptions>,
    ) -> Result<MemoryRecord> {
        validate::text("summary", summary, self.config.memory.max_summary_bytes)?;
        self.update_memory(org, id, options.into(), |rec, now| {
            rec.summary = Some(summary.to_owned());
            rec.summary_updated_at = Some(now);
            Self::push_history(rec, now, "summary_update", summary.into());
            Ok(())
        })
    }

    /// Merges facts shallowly: incoming keys overwrite, no key is ever deleted.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let facts = serde_json::json!({"timezone": "America/Los_Angeles"});
    /// let record = engine.memory_merge_facts(org, id, facts.as_object().unwrap(), None)?;
    /// assert_eq!(record.facts["timezone"], "America/Los_Angeles");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`facts`) over the key or size bound; as
    /// [`Engine::memory_append_messages`] otherwise.
    pub fn memory_merge_facts(
        &self,
        org: OrgId,
        id: MemoryId,
        facts: &JsonObject,
        options: impl Into<WriteOptions>,
    ) -> Result<MemoryRecord> {
        let limits = &self.config.memory;
        validate::json_object("facts", facts, limits.max_facts_depth)?;
        self.update_memory(org, id, options.into(), |rec, now| {
            for (k, v) in facts {
                rec.facts.insert(k.clone(), v.clone());
            }
            if rec.facts.len() > limits.max_fact_keys {
                return Err(Error::invalid(
                    "facts",
                    format!("more than {} keys", limits.max_fact_keys),
                ));
            }
            if validate::json_bytes(&rec.facts) > limits.max_facts_bytes {
                return Err(Error::invalid(
                    "facts",
                    format!("larger than {} bytes serialised", limits.max_facts_bytes),
                ));
            }
            Self::push_history(
                rec,
                now,
                "facts_update",
                serde_json::Value::Object(facts.clone()),
            );
            Ok(())
        })
    }

    /// Upserts an entity by `(entity_type, entity_id)`: facts merged, `status` and
    /// `notes` replaced when given, `last_discussed_at` refreshed.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let order = EntityUpsert {
    ///     entity_type: "order".into(),
    ///     entity_id: "order-8821".into(),
    ///     status: Some("in_transit".into()),
    ///     ..EntityUpsert::default()
    /// };
    /// let record = engine.memory_upsert_entity(org, id, &order, None)?;
    /// assert_eq!(record.entities[0].status.as_deref(), Some("in_transit"));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`entity_type`, `entity_id`, `facts`, `status`, `notes`,
    /// `entities`); as [`Engine::memory_append_messages`] otherwise.
    pub fn memory_upsert_entity(
        &self,
        org: OrgId,
        id: MemoryId,
        upsert: &EntityUpsert,
        options: impl Into<WriteOptions>,
    ) -> Result<MemoryRecord> {
        validate::key("entity_type", &upsert.entity_type)?;
        validate::key("entity_id", &upsert.entity_id)?;
        let limits = &self.config.memory;
        if let Some(status) = &upsert.status {
            validate::text("status", status, MAX_KEY_BYTES)?;
        }
        if let Some(notes) = &upsert.notes {
            validate::text("notes", notes, limits.max_summary_bytes)?;
        }
        if let Some(facts) = &upsert.facts {
            validate::json_object("facts", facts, limits.max_facts_depth)?;
        }
        self.update_memory(org, id, options.into(), |rec, now| {
            let pos = rec.entities.iter().position(|e| {
                e.entity_type == upsert.entity_type && e.entity_id == upsert.entity_id
            });
            let entity = match pos {
                Some(i) => &mut rec.entities[i],
                None => {
                    if rec.entities.len() >= limits.max_entities {
                        return Err(Error::invalid(
                            "entities",
                            format!("a memory holds at most {} entities", limits.max_entities),
                        ));
                    }
                    rec.entities.push(Entity {
                        entity_type: upsert.entity_type.clone(),
                        entity_id: upsert.entity_id.clone(),
                        facts: JsonObject::new(),
                        status: None,
                        last_discussed_at: None,
                        notes: None,
                    });
                    rec.entities.last_mut().expect("pushed above")
                }
            };
            for (k, v) in upsert.facts.iter().flatten() {
                entity.facts.insert(k.clone(), v.clone());
            }
            if entity.facts.len() > limits.max_fact_keys
                || validate::json_bytes(&entity.facts) > limits.max_facts_bytes
            {
                return Err(Error::invalid(
                    "facts",
                    "the entity's facts exceed the bound",
                ));
            }
            if upsert.status.is_some() {
                entity.status = upsert.status.clone();
            }
            if upsert.notes.is_some() {
                entity.notes = upsert.notes.clone();
            }
            entity.last_discussed_at = Some(upsert.last_discussed_at.unwrap_or(now));
            Ok(())
        })
    }

    /// Removes the entity `(entity_type, entity_id)`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let order = EntityUpsert { entity_type: "order".into(), entity_id: "o-1".into(), ..EntityUpsert::default() };
    /// engine.memory_upsert_entity(org, id, &order, None)?;
    /// let record = engine.memory_remove_entity(org, id, "order", "o-1", None)?;
    /// assert!(record.entities.is_empty());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] ("Entity not found") when the record has no such entity; as
    /// [`Engine::memory_append_messages`] otherwise.
    pub fn memory_remove_entity(
        &self,
        org: OrgId,
        id: MemoryId,
        entity_type: &str,
        entity_id: &str,
        options: impl Into<WriteOptions>,
    ) -> Result<MemoryRecord> {
        self.update_memory(org, id, options.into(), |rec, _| {
            let before = rec.entities.len();
            rec.entities
                .retain(|e| !(e.entity_type == entity_type && e.entity_id == entity_id));
            if rec.entities.len() == before {
                return Err(Error::not_found("Entity"));
            }
            Ok(())
        })
    }

    /// Adds an open item and returns the record with the new item's id.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let item = NewOpenItem {
    ///     item_type: "follow_up".into(),
    ///     description: "Confirm delivery".into(),
    ///     ..NewOpenItem::default()
    /// };
    /// let (record, added) = engine.memory_add_open_item(org, id, &item, None)?;
    /// assert_eq!(record.open_items[0].id, added.id);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`type`, `description`, `priority`, `related_to`,
    /// `open_items`); as [`Engine::memory_append_messages`] otherwise.
    pub fn memory_add_open_item(
        &self,
        org: OrgId,
        id: MemoryId,
        item: &NewOpenItem,
        options: impl Into<WriteOptions>,
    ) -> Result<(MemoryRecord, OpenItem)> {
        validate::key("type", &item.item_type)?;
        if item.description.trim().is_empty() {
            return Err(Error::invalid("description", "must not be blank"));
        }
        let limits = &self.config.memory;
        validate::text("description", &item.description, limits.max_summary_bytes)?;
        if let Some(p) = &item.priority {
            validate::key("priority", p)?;
        }
        if let Some(r) = &item.related_to {
            validate::key("related_to.entity_type", &r.entity_type)?;
            validate::key("related_to.entity_id", &r.entity_id)?;
        }
        let item_id = OpenItemId(self.ids.next_id());
        let mut added = None;
        let record = self.update_memory(org, id, options.into(), |rec, now| {
            if rec.open_items.len() >= limits.max_open_items {
                return Err(Error::invalid(
                    "open_items",
                    format!(
                        "a memory holds at most {} open items",
                        limits.max_open_items
                    ),
                ));
            }
            let new = OpenItem {
                id: item_id,
                item_type: item.item_type.clone(),
                description: item.description.clone(),
                created_at: now,
                priority: item.priority.clone(),
                related_to: item.related_to.clone(),
            };
            rec.open_items.push(new.clone());
            added = Some(new);
            Ok(())
        })?;
        // `update_memory` only returns Ok after running the closure to completion.
        Ok((record, added.expect("set by the successful update")))
    }

    /// Removes an open item by id.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let contact = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?.contact.id;
    /// let id = engine.memory_create(org, contact, &ScopeRequest::persona("p"))?.memory.id;
    /// let item = NewOpenItem { item_type: "follow_up".into(), description: "Call back".into(), ..NewOpenItem::default() };
    /// let (_, added) = engine.memory_add_open_item(org, id, &item, None)?;
    /// let record = engine.memory_remove_open_item(org, id, added.id, None)?;
    /// assert!(record.open_items.is_empty());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] ("Open item not found"); as
    /// [`Engine::memory_append_messages`] otherwise.
    pub fn memory_remove_open_item(
        &self,
        org: OrgId,
        id: MemoryId,
        item: OpenItemId,
        options: impl Into<WriteOptions>,
    ) -> Result<MemoryRecord> {
        self.update_memory(org, id, options.into(), |rec, _| {
            let before = rec.open_items.len();
            rec.open_items.retain(|i| i.id != item);
            if rec.open_items.len() == before {
                return Err(Error::not_found("Open item"));
            }
            Ok(())
        })
    }

    fn push_history(rec: &mut MemoryRecord, now: Timestamp, kind: &str, value: serde_json::Value) {
        // `update_memory` trims the history to its bound once the write is made, after
        // it has seen what the write pushed.
        rec.memory_history.push(HistoryEntry {
            timestamp: now,
            entry_type: kind.to_owned(),
            value,
        });
    }

    /// A record may not outgrow `max_record_bytes` as stored (docs/semantics.md 6): a
    /// write that would leave it over the bound and larger than it was is refused, and
    /// the record stays as it was. A record already over it (written before the bound,
    /// or under a larger one) still takes the writes that shrink it.
    fn check_record_size(&self, current: &MemoryRecord, record: &MemoryRecord) -> Result<()> {
        let limit = self.config.memory.max_record_bytes;
        let size_of = |r: &MemoryRecord| {
            crate::store::codec::encode_memory(r)
                .map(|text| text.len())
                .map_err(|e| Error::invalid("memory", e))
        };
        let size = size_of(record)?;
        if size > limit && size > size_of(current)? {
            return Err(Error::invalid(
                "memory",
                format!(
                    "the record would be {size} bytes, more than the {limit} one may hold; \
                     remove entities, facts or open items first"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a new memory record for a contact that has as many as it may
    /// (`max_memories_per_contact`). Checked against the records read before the
    /// insert, so concurrent creates of different scopes for one contact may pass it
    /// together: the bound holds within the number of writers racing.
    pub(crate) fn check_memory_count(&self, existing: usize) -> Result<()> {
        let limit = self.config.memory.max_memories_per_contact;
        if existing >= limit {
            return Err(Error::invalid(
                "scope",
                format!(
                    "the contact already has {existing} memory records, the most one may \
                     hold; reset one (POST /v1/memory/reset) before starting another"
                ),
            ));
        }
        Ok(())
    }

    /// Read-modify-write of one record with a revision check. `change` edits a copy;
    /// if it fails nothing is written. Without `expected_revision` a lost race is
    /// retried on fresh data; with it, a stale revision is `Conflict` (no lost update).
    ///
    /// A write that names a conversation also updates the conversation's log in the
    /// same batch (docs/semantics.md 6, "Memory changes"); the log's write count is
    /// its precondition, so two writes of one conversation never lose each other's
    /// entries.
    fn update_memory(
        &self,
        org: OrgId,
        id: MemoryId,
        options: WriteOptions,
        mut change: impl FnMut(&mut MemoryRecord, Timestamp) -> Result<()>,
    ) -> Result<MemoryRecord> {
        let WriteOptions {
            expected_revision,
            conversation,
        } = options;
        let _turn = self.memory_writers.turn(id);
        self.run_holding(org, "memory write", Some(id), || {
            let current = self
                .store
                .memory_by_id(org, id)?
                .ok_or_else(memory_not_found)?;
            let log = match &conversation {
                Some(key) => self.conversation_log(org, key, id)?,
                None => None,
            };
            if let Some(expected) = expected_revision
                && expected != current.revision
            {
                return Err(Error::conflict(format!(
                    "the memory is at revision {}, not {expected}: another write came first",
                    current.revision
                )));
            }
            let guard = self.memory_write_guard(org, &current.scope())?;
            let now = self.clock.now();
            let mut record = (*current).clone();
            let history_before = record.memory_history.len();
            change(&mut record, now)?;
            let pushed = record.memory_history[history_before..].to_vec();
            let excess = record
                .memory_history
                .len()
                .saturating_sub(self.config.memory.max_history);
            record.memory_history.drain(..excess);
            self.check_record_size(&current, &record)?;
            record.revision = current.revision + 1;
            record.updated_at = now.max(current.updated_at);
            let update = WriteOp::UpdateMemory {
                entities: EntityWrites::between(&current.entities, &record.entities),
                record: record.clone(),
                expected_revision: current.revision,
            };
            let logged = conversation
                .as_ref()
                .and_then(|key| self.log_write(key, log.as_ref(), &current, &record, &pushed, now));
            let batch = WriteBatch::new(guard.into_iter().chain([update]).chain(logged).collect());
            // A lost race reads again either way: with `expected_revision`, the check
            // above then answers the conflict (the revision moved), or the guard does
            // (the persona was switched off), each with its own words.
            Ok(Step::Commit(batch, record))
        })
    }
}
