//! A commit's first phase: every precondition checked and the result staged, with
//! nothing shared touched, so a failure leaves the store unchanged.

use std::sync::Arc;

use compact_str::CompactString;
use contacts_core::store::{CommitError, WriteOp};
use contacts_core::{
    Contact, ContactHistoryEntry, ContactId, ConversationLog, IdentifierKind, MemoryId,
    MemoryRecord, MemoryScope, MemorySwitch, MergeSnapshot, OrgId, SwitchKind, Timestamp,
};
use hashbrown::HashMap;

use crate::BACKEND;
use crate::index::Inner;
use crate::slot::SlotIdent;

/// A contact as a batch leaves it, before it is published.
pub(crate) struct Staged {
    pub(crate) contact: Contact,
    pub(crate) version: u64,
    pub(crate) identifiers: Vec<SlotIdent>,
    pub(crate) memories: Vec<Arc<MemoryRecord>>,
    /// The version it had before this batch; `None` if the batch inserted it.
    pub(crate) base_version: Option<u64>,
    /// Whether this batch deleted it.
    pub(crate) deleted: bool,
}

/// Everything a batch will publish.
pub(crate) struct Stage<'a> {
    inner: &'a Inner,
    pub(crate) org: OrgId,
    pub(crate) contacts: HashMap<ContactId, Staged>,
    /// The owner each identifier the batch touched ends with (`None`: freed), so a
    /// batch's own lookups stay O(1) (a bulk batch of thousands of identifiers must
    /// not scan a list for each one).
    pub(crate) idents: HashMap<(IdentifierKind, CompactString), Option<ContactId>>,
    /// Memory index changes, in order: `Some` to (re)assign, `None` to remove.
    pub(crate) memories: Vec<(MemoryId, Option<ContactId>)>,
    /// Memory switches set, in order.
    pub(crate) switches: Vec<MemorySwitch>,
    /// Redirects `(from, to, snapshot)` recorded, in order.
    pub(crate) redirects: Vec<(ContactId, ContactId, Arc<MergeSnapshot>)>,
    /// Contacts whose merges' snapshots are erased.
    pub(crate) forgotten: Vec<ContactId>,
    /// Merges undone `(contact, primary)`, in order.
    pub(crate) unmerges: Vec<(ContactId, ContactId)>,
    /// Contacts whose history is redacted, then entries appended (with their drop
    /// bound), in order.
    pub(crate) redactions: Vec<ContactId>,
    pub(crate) history: Vec<(ContactHistoryEntry, Option<u64>)>,
    /// The batch's events, appended after everything else is published.
    pub(crate) events: Option<crate::events::Append>,
    /// Conversation logs written, in order.
    pub(crate) conversations: Vec<crate::conversations::Put>,
    /// Logs dropped `(record, started since)`, after the puts.
    pub(crate) conversation_drops: Vec<(MemoryId, Timestamp)>,
}

fn conflict(what: String) -> CommitError {
    CommitError::precondition(what)
}

/// A batch the engine never builds (a contact or memory of another org): a bug, not a
/// race.
fn malformed(what: &'static str) -> CommitError {
    CommitError::backend(BACKEND, what)
}

pub(crate) fn same_scope(m: &MemoryRecord, scope: &MemoryScope) -> bool {
    let (persona, agent) = scope.parts();
    m.persona_id.as_deref() == persona && m.agent_number.as_deref() == agent
}

fn check_version(base: Option<u64>, expected: u64, id: ContactId) -> Result<(), CommitError> {
    if base == Some(expected) {
        Ok(())
    } else {
        Err(conflict(format!(
            "contact {id} changed since it was read (expected version {expected})"
        )))
    }
}

fn position(
    s: &Staged,
    id: contacts_core::IdentifierId,
    contact: ContactId,
) -> Result<usize, CommitError> {
    s.identifiers
        .iter()
        .position(|i| i.id == id)
        .ok_or_else(|| conflict(format!("identifier {id} is not on contact {contact}")))
}

impl<'a> Stage<'a> {
    pub(crate) fn new(inner: &'a Inner, org: OrgId) -> Self {
        Stage {
            inner,
            org,
            contacts: HashMap::new(),
            idents: HashMap::new(),
            memories: Vec::new(),
            switches: Vec::new(),
            redirects: Vec::new(),
            unmerges: Vec::new(),
            forgotten: Vec::new(),
            redactions: Vec::new(),
            history: Vec::new(),
            events: None,
            conversations: Vec::new(),
            conversation_drops: Vec::new(),
        }
    }

    /// Whether persona `persona` is switched off, as of this batch.
    fn persona_off(&self, persona: &str) -> bool {
        let staged = self
            .switches
            .iter()
            .rev()
            .find(|s| s.kind == SwitchKind::Persona && s.target_id == persona);
        match staged {
            Some(s) => !s.enabled,
            None => self
                .inner
                .switches
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&(self.org, SwitchKind::Persona, persona.to_owned()))
                .is_some_and(|s| !s.enabled),
        }
    }

    /// The staged copy of a live contact of the org, staging it on first use.
    fn staged(&mut self, id: ContactId) -> Result<&mut Staged, CommitError> {
        if self.contacts.get(&id).is_some_and(|s| s.deleted) {
            return Err(conflict(format!("contact {id} was deleted")));
        }
        if !self.contacts.contains_key(&id) {
            let slot = self
                .inner
                .slot(self.org, id)
                .ok_or_else(|| conflict(format!("contact {id} does not exist")))?;
            self.contacts.insert(
                id,
                Staged {
                    contact: slot.contact.clone(),
                    version: slot.version,
                    identifiers: slot.identifiers().cloned().collect(),
                    memories: self.inner.memories(id),
                    base_version: Some(slot.version),
                    deleted: false,
                },
            );
        }
        Ok(self.contacts.get_mut(&id).expect("staged above"))
    }

    /// Who owns `(kind, value)` as of this batch.
    fn owner(&self, kind: IdentifierKind, value: &str) -> Option<ContactId> {
        match self.idents.get(&(kind, CompactString::from(value))) {
            Some(owner) => *owner,
            None => self
                .inner
                .ident(self.org, kind, value)
                .map(|s| s.contact.id),
        }
    }

    fn set_owner(&mut self, kind: IdentifierKind, value: &str, owner: Option<ContactId>) {
        self.idents
            .insert((kind, CompactString::from(value)), owner);
    }

    /// The contact owning memory `id`, as of this batch.
    fn memory_contact(&self, id: MemoryId) -> Option<ContactId> {
        match self.memories.iter().rev().find(|(m, _)| *m == id) {
            Some((_, contact)) => *contact,
            None => self.inner.memory_owner(id),
        }
    }

    pub(crate) fn apply(&mut self, op: &WriteOp) -> Result<(), CommitError> {
        let org = self.org;
        match op {
            WriteOp::Expect {
                contact_id,
                version,
            } => {
                let base = match self.contacts.get(contact_id) {
                    Some(s) => s.base_version,
                    None => self.inner.slot(org, *contact_id).map(|s| s.version),
                };
                check_version(base, *version, *contact_id)
            }
            WriteOp::InsertContact(c) => {
                if c.org_id != org {
                    return Err(malformed("contact of another org in batch"));
                }
                if self.contacts.contains_key(&c.id) || self.inner.contact_exists(c.id) {
                    return Err(conflict(format!("contact {} already exists", c.id)));
                }
                self.contacts.insert(
                    c.id,
                    Staged {
                        contact: c.clone(),
                        version: 1,
                        identifiers: Vec::new(),
                        memories: Vec::new(),
                        base_version: None,
                        deleted: false,
                    },
                );
                Ok(())
            }
            WriteOp::UpdateContact {
                contact,
                expected_version,
            } => {
                let s = self.staged(contact.id)?;
                check_version(s.base_version, *expected_version, contact.id)?;
                s.version = expected_version + 1;
                // Name, metadata and updated_at change; id, org and created_at never do.
                s.contact.name.clone_from(&contact.name);
                s.contact.metadata.clone_from(&contact.metadata);
                s.contact.updated_at = contact.updated_at;
                Ok(())
            }
            WriteOp::InsertIdentifier(ident) => {
                if self
                    .owner(ident.identifier_type, &ident.identifier_value)
                    .is_some()
                {
                    return Err(conflict(format!(
                        "{} {} is already owned",
                        ident.identifier_type, ident.identifier_value
                    )));
                }
                let s = self.staged(ident.contact_id)?;
                s.identifiers.push(SlotIdent::new(ident));
                self.set_owner(
                    ident.identifier_type,
                    &ident.identifier_value,
                    Some(ident.contact_id),
                );
                Ok(())
            }
            WriteOp::DeleteIdentifier { id, contact_id } => {
                let s = self.staged(*contact_id)?;
                let pos = position(s, *id, *contact_id)?;
                let gone = s.identifiers.remove(pos);
                self.set_owner(gone.kind, &gone.value, None);
                Ok(())
            }
            WriteOp::SetPrimary {
                id,
                contact_id,
                is_primary,
            } => {
                let s = self.staged(*contact_id)?;
                let pos = position(s, *id, *contact_id)?;
                s.identifiers[pos].is_primary = *is_primary;
                Ok(())
            }
            WriteOp::MoveIdentifier {
                id,
                from,
                to,
                is_primary,
            } => {
                self.staged(*to)?;
                let s = self.staged(*from)?;
                let pos = position(s, *id, *from)?;
                let mut moved = s.identifiers.remove(pos);
                moved.is_primary = *is_primary;
                self.set_owner(moved.kind, &moved.value, Some(*to));
                self.staged(*to)?.identifiers.push(moved);
                Ok(())
            }
            WriteOp::DeleteContact {
                id,
                expected_version,
            } => {
                let s = self.staged(*id)?;
                check_version(s.base_version, *expected_version, *id)?;
                s.deleted = true;
                let idents = std::mem::take(&mut s.identifiers);
                let memories: Vec<MemoryId> = s.memories.drain(..).map(|m| m.id).collect();
                for i in idents {
                    self.set_owner(i.kind, &i.value, None);
                }
                for m in memories {
                    self.memories.push((m, None));
                }
                Ok(())
            }
            WriteOp::InsertMemory(m) => {
                if m.org_id != org {
                    return Err(malformed("memory of another org in batch"));
                }
                if self.memory_contact(m.id).is_some() {
                    return Err(conflict(format!("memory {} already exists", m.id)));
                }
                let scope = m.scope();
                let s = self.staged(m.contact_id)?;
                if s.memories.iter().any(|x| same_scope(x, &scope)) {
                    return Err(conflict(format!(
                        "contact {} already has a memory for this scope",
                        m.contact_id
                    )));
                }
                s.memories.push(Arc::new(m.clone()));
                s.memories.sort_by_key(|x| (x.created_at, x.id));
                self.memories.push((m.id, Some(m.contact_id)));
                Ok(())
            }
            // Records are kept whole and shared: which entities changed needs no
            // different write here.
            WriteOp::UpdateMemory {
                record,
                expected_revision,
                entities: _,
            } => {
                let from = self
                    .memory_contact(record.id)
                    .ok_or_else(|| conflict(format!("memory {} no longer exists", record.id)))?;
                let s = self.staged(from)?;
                let pos = s
                    .memories
                    .iter()
                    .position(|x| x.id == record.id && x.revision == *expected_revision)
                    .ok_or_else(|| {
                        conflict(format!("memory {} changed since it was read", record.id))
                    })?;
                if from == record.contact_id {
                    s.memories[pos] = Arc::new(record.clone());
                    return Ok(());
                }
                // A merge moves the record to another contact of the org.
                s.memories.remove(pos);
                let scope = record.scope();
                let t = self.staged(record.contact_id)?;
                if t.memories.iter().any(|x| same_scope(x, &scope)) {
                    return Err(conflict(format!(
                        "contact {} already has a memory for this scope",
                        record.contact_id
                    )));
                }
                t.memories.push(Arc::new(record.clone()));
                t.memories.sort_by_key(|x| (x.created_at, x.id));
                self.memories.push((record.id, Some(record.contact_id)));
                Ok(())
            }
            WriteOp::DeleteMemory {
                id,
                expected_revision,
            } => {
                let contact = self
                    .memory_contact(*id)
                    .ok_or_else(|| conflict(format!("memory {id} no longer exists")))?;
                let s = self.staged(contact)?;
                let pos = s
                    .memories
                    .iter()
                    .position(|x| x.id == *id && x.revision == *expected_revision)
                    .ok_or_else(|| conflict(format!("memory {id} changed since it was read")))?;
                s.memories.remove(pos);
                self.memories.push((*id, None));
                Ok(())
            }
            WriteOp::AppendHistory {
                entry,
                drop_through,
            } => {
                // `(contact, version)` is a key, as in the SQL backends.
                let taken = self
                    .inner
                    .history
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&(self.org, entry.contact_id))
                    .is_some_and(|h| h.contains_key(&entry.version))
                    || self.history.iter().any(|(e, _)| {
                        e.contact_id == entry.contact_id && e.version == entry.version
                    });
                if taken {
                    return Err(conflict(format!(
                        "contact {} already has history version {}",
                        entry.contact_id, entry.version
                    )));
                }
                self.history.push((entry.clone(), *drop_through));
                Ok(())
            }
            WriteOp::RedactHistory { contact_id } => {
                self.redactions.push(*contact_id);
                Ok(())
            }
            WriteOp::ForgetMergeSnapshots { contact_id } => {
                self.forgotten.push(*contact_id);
                Ok(())
            }
            WriteOp::Redirect { from, to, snapshot } => {
                // `to` must live (staged, so a later op of the batch sees it too).
                self.staged(*to)?;
                self.redirects
                    .push((*from, *to, Arc::new(MergeSnapshot::clone(snapshot))));
                Ok(())
            }
            WriteOp::Unmerge {
                contact,
                version,
                primary,
            } => {
                if contact.org_id != org {
                    return Err(malformed("contact of another org in batch"));
                }
                if self.contacts.contains_key(&contact.id) || self.inner.contact_exists(contact.id)
                {
                    return Err(conflict(format!("contact {} already exists", contact.id)));
                }
                let redirects = self
                    .inner
                    .redirects
                    .read()
                    .unwrap_or_else(|e| e.into_inner());
                if !redirects.merged_into(org, contact.id, *primary) {
                    return Err(conflict(format!(
                        "contact {} is not merged into {primary}",
                        contact.id
                    )));
                }
                drop(redirects);
                self.contacts.insert(
                    contact.id,
                    Staged {
                        contact: contact.clone(),
                        version: *version,
                        identifiers: Vec::new(),
                        memories: Vec::new(),
                        base_version: None,
                        deleted: false,
                    },
                );
                self.unmerges.push((contact.id, *primary));
                Ok(())
            }
            WriteOp::SetMemorySwitch(switch) => {
                self.switches.push(switch.clone());
                Ok(())
            }
            // Commits are serialised by the writer mutex, so what it reads holds.
            WriteOp::ExpectMemoryEnabled { persona_id } => {
                if self.persona_off(persona_id) {
                    return Err(conflict(format!(
                        "memory was switched off for persona {persona_id}"
                    )));
                }
                Ok(())
            }
            WriteOp::DropConversations { memory_id, since } => {
                self.conversation_drops.push((*memory_id, *since));
                Ok(())
            }
            WriteOp::PutConversation {
                key,
                log,
                expected_writes,
                keep,
            } => {
                let staged = self.conversations.iter().rev().find(|p| p.key == *key);
                let writes = match staged {
                    Some(p) => Some(p.log.writes),
                    None => self
                        .inner
                        .conversations
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(org, key)
                        .map(|l| l.writes),
                };
                if writes != *expected_writes {
                    return Err(conflict(format!(
                        "the memory changes of {} {} changed since they were read",
                        key.kind.field(),
                        key.id
                    )));
                }
                if self.memory_contact(log.memory_id).is_none() {
                    return Err(conflict(format!(
                        "memory {} no longer exists",
                        log.memory_id
                    )));
                }
                self.conversations.push(crate::conversations::Put {
                    key: key.clone(),
                    log: ConversationLog::clone(log),
                    keep: *keep,
                });
                Ok(())
            }
            WriteOp::AppendEvents {
                events,
                keep,
                expire_before,
            } => {
                let append = self.events.get_or_insert(crate::events::Append {
                    events: Vec::new(),
                    keep: *keep,
                    expire_before: *expire_before,
                });
                append.events.extend(events.iter().cloned());
                Ok(())
            }
        }
    }
}
