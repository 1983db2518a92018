//! The reference model: the resolution rules restated plainly over `BTreeMap`s.
//!
//! Contacts are numbered per org in creation order (index 0, 1, ...), so the model
//! needs no ids, clock or storage. It reuses the engine's [`Normalizer`]: normalisation
//! has its own unit and property tests, and the model's job is the resolution rules.

mod unmerge;

use std::collections::{BTreeMap, BTreeSet};

use unmerge::minus;

use contacts_core::{
    Config, Error, FindRequest, IdentifierKind, JsonObject, MemoryScope, Normalized, Normalizer,
    OrgId, ResolveRequest, Role, ScopeRequest,
};

/// A contact in the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelContact {
    /// Its name.
    pub name: Option<String>,
    /// Its metadata.
    pub metadata: JsonObject,
    /// Identifiers in the order they were attached (oldest first).
    pub identifiers: Vec<(IdentifierKind, String)>,
    /// Memory records in creation order.
    pub memories: Vec<ModelMemory>,
    /// Deleted (or merged away): invisible, its identifiers free.
    pub deleted: bool,
    /// Merged away: the index of the live contact its id leads to (docs/semantics.md
    /// 4, "Merge redirects").
    pub merged_into: Option<usize>,
    /// Merged away: the contact it was merged into directly.
    pub direct_into: Option<usize>,
    /// Merged away: what its merge kept for an unmerge, until the redirect goes or a
    /// memory reset on the contact it leads to erases it.
    pub snapshot: Option<Box<ModelSnapshot>>,
}

/// A message: `(role, content, channel, timestamp ms)`.
pub type ModelMessage = (Role, String, String, i64);

/// What a merge keeps in the model so that it can be undone (docs/semantics.md 4,
/// "Unmerge").
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSnapshot {
    /// The duplicate as it was, its identifiers and memories included.
    pub duplicate: ModelContact,
    /// The attachment number of each of its identifiers, in the same order.
    pub attached: Vec<u64>,
    /// Whether the primary had no name and took the duplicate's.
    pub name_taken: bool,
    /// The metadata keys the primary lacked and took.
    pub metadata_taken: Vec<String>,
    /// Per record of the duplicate, in its order.
    pub memories: Vec<ModelMemorySnapshot>,
}

/// One of the duplicate's records as a merge found it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMemorySnapshot {
    /// The record.
    pub record: ModelMemory,
    /// The primary's record of its scope before the merge (none when it moved whole).
    pub primary_before: Option<ModelMemory>,
    /// The primary's messages the combined window dropped.
    pub trimmed_messages: Vec<ModelMessage>,
    /// Likewise its history entries.
    pub trimmed_history: Vec<u64>,
}

/// A memory record in the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMemory {
    /// Its scope.
    pub scope: MemoryScope,
    /// Its summary.
    pub summary: Option<String>,
    /// Its facts.
    pub facts: JsonObject,
    /// Messages kept, chronological.
    pub messages: Vec<ModelMessage>,
    /// Entities: `(type, id, status, facts)` in first-seen order.
    pub entities: Vec<(String, String, Option<String>, JsonObject)>,
    /// Open items `(number, description)`, in the order added; the number stands
    /// for the item's id.
    pub open_items: Vec<(u64, String)>,
    /// Memory history entries (one per summary or facts write), numbered in time
    /// order; the number stands for the entry.
    pub history: Vec<u64>,
    /// Revision (1 when created, +1 per write).
    pub revision: u64,
    /// Creation order across the model, which is the engine's `(created_at, id)` order.
    pub seq: u64,
}

impl ModelMemory {
    fn new(scope: MemoryScope, seq: u64) -> Self {
        ModelMemory {
            seq,
            scope,
            summary: None,
            facts: JsonObject::new(),
            messages: Vec::new(),
            entities: Vec::new(),
            open_items: Vec::new(),
            history: Vec::new(),
            revision: 1,
        }
    }
}

/// A write or read of one memory record, addressed by contact and scope.
#[derive(Clone, Debug, PartialEq)]
pub enum MemoryOp {
    /// Append `(role, content, channel, timestamp ms)` messages.
    Append(Vec<(Role, String, String, i64)>),
    /// Replace the summary.
    Summary(String),
    /// Merge facts.
    Facts(JsonObject),
    /// Upsert entity `("order", id)` with a status (if given) and facts.
    Upsert(String, Option<String>, JsonObject),
    /// Remove entity `("order", id)`.
    RemoveEntity(String),
    /// Add an open item with this description.
    AddItem(String),
    /// Remove the open item at this position.
    RemoveItem(usize),
    /// Reset the record.
    Reset,
    /// Read the context.
    Context,
}

/// Model errors are strings: the field an `InvalidInput` names, or these two.
pub const NOT_FOUND: &str = "not_found";
/// See [`NOT_FOUND`].
pub const CONFLICT: &str = "conflict";

/// One org's contacts, in creation order, and who owns which identifier.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrgModel {
    /// Contacts by creation index.
    pub contacts: Vec<ModelContact>,
    /// `(kind, value)` to the owning contact's index.
    pub owners: BTreeMap<(IdentifierKind, String), usize>,
    /// `(kind, value)` to the number of its current attachment, which stands for the
    /// identifier's id: a merge moves it, a detach and a new attach renumber it.
    pub attached: BTreeMap<(IdentifierKind, String), u64>,
}

/// What the model says a resolve returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelResolve {
    /// The contact's creation index in its org.
    pub index: usize,
    /// Whether it was created by this call.
    pub created: bool,
    /// Whether an existing contact changed (identifier attached, name filled, key added).
    pub changed: bool,
    /// `(kind, value)` attached, in precedence order.
    pub attached: Vec<(IdentifierKind, String)>,
    /// `(kind, value, owner index)`; the owner is `None` for a cap refusal.
    pub conflicts: BTreeSet<(IdentifierKind, String, Option<usize>)>,
    /// Kinds whose value was junk.
    pub ignored: BTreeSet<IdentifierKind>,
    /// With a scope: whether its memory record was created.
    pub memory_created: Option<bool>,
}

/// The reference model.
#[derive(Clone, Debug)]
pub struct Model {
    config: Config,
    normalizer: Normalizer,
    orgs: BTreeMap<OrgId, OrgModel>,
    next_seq: u64,
}

/// A request rejected by the model: the field the engine must name.
pub type Rejected = String;

/// Normalised `(kind, value)` pairs in precedence order.
type Keys = Vec<(IdentifierKind, String)>;

impl Model {
    /// An empty model with `config`.
    ///
    /// # Panics
    /// If `config` is invalid (a test bug).
    pub fn new(config: Config) -> Self {
        Model {
            normalizer: Normalizer::new(&config).expect("valid test config"),
            config,
            orgs: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The org's contacts in creation order.
    pub fn contacts(&self, org: OrgId) -> &[ModelContact] {
        self.orgs.get(&org).map_or(&[], |o| o.contacts.as_slice())
    }

    /// Normalised identifiers in precedence order, and the junk kinds.
    fn identifiers(
        &self,
        get: impl Fn(IdentifierKind) -> Option<String>,
    ) -> Result<(Keys, BTreeSet<IdentifierKind>), Rejected> {
        let mut ids = Vec::new();
        let mut junk = BTreeSet::new();
        for kind in self.config.precedence {
            let Some(raw) = get(kind) else { continue };
            match self.normalizer.normalize(kind, &raw) {
                Ok(Normalized::Value(v)) => ids.push((kind, v.into_owned())),
                Ok(Normalized::Junk(_)) => {
                    junk.insert(kind);
                }
                Ok(Normalized::Blank) => {}
                Err(Error::InvalidInput { field, .. }) => return Err(field.into_owned()),
                Err(other) => panic!("normaliser returned {other:?}"),
            }
        }
        if ids.is_empty() {
            return Err("identifiers".into());
        }
        Ok((ids, junk))
    }

    fn compatible(&self, c: &ModelContact, ids: &[(IdentifierKind, String)]) -> bool {
        ids.iter().all(|(kind, value)| {
            self.config.cap(*kind) != 1
                || c.identifiers.iter().all(|(k, v)| k != kind || v == value)
        })
    }

    fn winner(&self, org: OrgId, ids: &[(IdentifierKind, String)]) -> Option<usize> {
        let o = self.orgs.get(&org)?;
        ids.iter()
            .filter_map(|key| o.owners.get(key).copied())
            .find(|i| self.compatible(&o.contacts[*i], ids))
    }

    /// docs/semantics.md 3, restated.
    ///
    /// # Errors
    /// The field the engine must name when it rejects the request.
    pub fn resolve(&mut self, org: OrgId, req: &ResolveRequest) -> Result<ModelResolve, Rejected> {
        let (ids, ignored) = self.identifiers(|k| match k {
            IdentifierKind::PhoneNumber => req.phone_number.clone(),
            IdentifierKind::Email => req.email.clone(),
            IdentifierKind::ExternalId => req.external_id.clone(),
        })?;
        let name = req.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = name
            && (n.contains('\0') || n.chars().count() > self.config.max_name_chars)
        {
            return Err("name".into());
        }
        let metadata = match &req.metadata {
            None => None,
            Some(serde_json::Value::Object(m)) => {
                let size = serde_json::to_string(m).expect("serialisable").len();
                if size > self.config.max_metadata_bytes
                    || depth(&req.metadata.clone().unwrap_or_default())
                        > self.config.max_metadata_depth
                {
                    return Err("metadata".into());
                }
                Some(m.clone())
            }
            Some(_) => return Err("metadata".into()),
        };
        let scope = self.scope(req.persona_id.as_deref(), req.agent_number.as_deref())?;
        let winner = self.winner(org, &ids);
        let caps: Vec<u32> = ids.iter().map(|(k, _)| self.config.cap(*k)).collect();
        let o = self.orgs.entry(org).or_default();
        let index = winner.unwrap_or(o.contacts.len());
        let mut attached = Vec::new();
        let mut conflicts = BTreeSet::new();
        let mut held: BTreeMap<IdentifierKind, usize> = BTreeMap::new();
        if let Some(w) = winner {
            for (k, _) in &o.contacts[w].identifiers {
                *held.entry(*k).or_default() += 1;
            }
        }
        for ((kind, value), cap) in ids.iter().zip(caps) {
            match o.owners.get(&(*kind, value.clone())) {
                Some(owner) if Some(*owner) == winner => {}
                Some(owner) => {
                    conflicts.insert((*kind, value.clone(), Some(*owner)));
                }
                None => {
                    let n = held.entry(*kind).or_default();
                    if (*n as u32) < cap {
                        *n += 1;
                        attached.push((*kind, value.clone()));
                    } else {
                        conflicts.insert((*kind, value.clone(), None));
                    }
                }
            }
        }
        if winner.is_none() && attached.is_empty() {
            return Err("conflict".into());
        }
        if winner.is_none() {
            o.contacts.push(ModelContact {
                name: name.map(str::to_owned),
                metadata: metadata.clone().unwrap_or_default(),
                identifiers: Vec::new(),
                memories: Vec::new(),
                deleted: false,
                merged_into: None,
                direct_into: None,
                snapshot: None,
            });
        }
        let c = &mut o.contacts[index];
        let mut changed = !attached.is_empty();
        if c.name.is_none() && name.is_some() {
            c.name = name.map(str::to_owned);
            changed = true;
        }
        for (k, v) in metadata.iter().flatten() {
            if !c.metadata.contains_key(k) {
                c.metadata.insert(k.clone(), v.clone());
                changed = true;
            }
        }
        for key in &attached {
            c.identifiers.push(key.clone());
            o.owners.insert(key.clone(), index);
            self.next_seq += 1;
            o.attached.insert(key.clone(), self.next_seq);
        }
        let memory_created = scope.map(|scope| {
            let missing = !c.memories.iter().any(|m| m.scope == scope);
            if missing {
                self.next_seq += 1;
                c.memories.push(ModelMemory::new(scope, self.next_seq));
            }
            missing
        });
        Ok(ModelResolve {
            memory_created,
            index,
            created: winner.is_none(),
            changed: winner.is_some() && changed,
            attached,
            conflicts,
            ignored,
        })
    }

    /// Find, restated: the winner's index, or `None`.
    ///
    /// # Errors
    /// The field the engine must name when it rejects the request.
    pub fn find(&self, org: OrgId, req: &FindRequest) -> Result<Option<usize>, Rejected> {
        let (ids, _) = self.identifiers(|k| match k {
            IdentifierKind::PhoneNumber => req.phone_number.clone(),
            IdentifierKind::Email => req.email.clone(),
            IdentifierKind::ExternalId => req.external_id.clone(),
        })?;
        Ok(self.winner(org, &ids))
    }

    /// List, restated: indexes on the page, the limit used and `total`.
    ///
    /// # Errors
    /// `limit` or `offset` when out of range.
    pub fn list(
        &self,
        org: OrgId,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<(Vec<usize>, u64, u64), Rejected> {
        let limit = limit.unwrap_or(50);
        let offset = offset.unwrap_or(0);
        if limit <= 0 {
            return Err("limit".into());
        }
        if offset < 0 {
            return Err("offset".into());
        }
        let limit = limit.min(200) as usize;
        let live: Vec<usize> = self
            .contacts(org)
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.deleted)
            .map(|(i, _)| i)
            .collect();
        let page = live
            .iter()
            .copied()
            .skip(offset as usize)
            .take(limit)
            .collect();
        Ok((page, limit as u64, live.len() as u64))
    }

    /// The identifiers of a contact in the order get/list show them: by kind
    /// precedence, then oldest first, with the primary flag (the oldest of its kind).
    pub fn shown_identifiers(&self, c: &ModelContact) -> Vec<(IdentifierKind, String, bool)> {
        let mut out = Vec::new();
        for kind in self.config.precedence {
            let mut first = true;
            for (k, v) in &c.identifiers {
                if *k == kind {
                    out.push((*k, v.clone(), first));
                    first = false;
                }
            }
        }
        out
    }
}

impl Model {
    /// The scope rules, restated: a non-blank persona wins, else a normalised agent
    /// number, else none.
    ///
    /// # Errors
    /// `persona_id` or `agent_number` when invalid.
    pub fn scope(
        &self,
        persona: Option<&str>,
        agent: Option<&str>,
    ) -> Result<Option<MemoryScope>, Rejected> {
        if let Some(p) = persona.map(str::trim).filter(|p| !p.is_empty()) {
            if p.len() > 255 || p.chars().any(char::is_control) {
                return Err("persona_id".into());
            }
            return Ok(Some(MemoryScope::Persona(p.to_owned())));
        }
        match agent.map(|a| self.normalizer.normalize(IdentifierKind::PhoneNumber, a)) {
            None | Some(Ok(Normalized::Blank)) => Ok(None),
            Some(Ok(Normalized::Value(v))) => Ok(Some(MemoryScope::AgentNumber(v.into_owned()))),
            Some(_) => Err("agent_number".into()),
        }
    }

    fn required_scope(&self, scope: &ScopeRequest) -> Result<MemoryScope, Rejected> {
        self.scope(scope.persona_id.as_deref(), scope.agent_number.as_deref())?
            .ok_or_else(|| "persona_id".to_owned())
    }

    fn contact_mut(&mut self, org: OrgId, index: usize) -> Result<&mut ModelContact, Rejected> {
        self.orgs
            .get_mut(&org)
            .and_then(|o| o.contacts.get_mut(index))
            .filter(|c| !c.deleted)
            .ok_or_else(|| NOT_FOUND.to_owned())
    }

    /// Get-or-create: whether it was created.
    ///
    /// # Errors
    /// The scope's field, or [`NOT_FOUND`] for an unknown contact.
    pub fn memory_create(
        &mut self,
        org: OrgId,
        index: usize,
        scope: &ScopeRequest,
    ) -> Result<bool, Rejected> {
        let scope = self.required_scope(scope)?;
        self.next_seq += 1;
        let seq = self.next_seq;
        let c = self.contact_mut(org, index)?;
        if c.memories.iter().any(|m| m.scope == scope) {
            return Ok(false);
        }
        c.memories.push(ModelMemory::new(scope, seq));
        Ok(true)
    }

    /// Applies `op` to the record of contact `index` for `scope`. `expected` is the
    /// revision the caller names, if any. Returns the record afterwards (`None` after
    /// a reset or for a context read without a record).
    ///
    /// # Errors
    /// A field name, [`NOT_FOUND`] or [`CONFLICT`], as the engine must report them.
    pub fn memory_op(
        &mut self,
        org: OrgId,
        index: usize,
        scope: &ScopeRequest,
        op: &MemoryOp,
        expected: Option<u64>,
    ) -> Result<Option<ModelMemory>, Rejected> {
        let window = self.config.memory.window;
        let max_history = self.config.memory.max_history;
        let scope = self.required_scope(scope)?;
        // Numbers what this write adds (an open item, a history entry).
        self.next_seq += 1;
        let seq = self.next_seq;
        // Validation the engine does before reading the record.
        if let MemoryOp::Append(msgs) = op {
            for (i, (_, _, channel, _)) in msgs.iter().enumerate() {
                if channel.chars().any(|ch| ch.is_ascii_uppercase()) {
                    return Err(format!("messages[{i}].channel"));
                }
            }
        }
        let c = self.contact_mut(org, index)?;
        let pos = c.memories.iter().position(|m| m.scope == scope);
        match op {
            MemoryOp::Reset => {
                if let Some(p) = pos {
                    c.memories.remove(p);
                    // The snapshots of merges into it held copies of that memory.
                    let o = self.orgs.get_mut(&org).expect("org exists");
                    for x in &mut o.contacts {
                        if x.merged_into == Some(index) {
                            x.snapshot = None;
                        }
                    }
                }
                return Ok(None);
            }
            MemoryOp::Context => return Ok(pos.map(|p| c.memories[p].clone())),
            _ => {}
        }
        let p = pos.ok_or_else(|| NOT_FOUND.to_owned())?;
        let m = &mut c.memories[p];
        if expected.is_some_and(|e| e != m.revision) {
            return Err(CONFLICT.into());
        }
        let mut next = m.clone();
        match op {
            MemoryOp::Append(msgs) => {
                next.messages.extend(msgs.iter().cloned());
                next.messages.sort_by_key(|x| x.3);
                let excess = next.messages.len().saturating_sub(window);
                next.messages.drain(..excess);
            }
            MemoryOp::Summary(text) => {
                next.summary = Some(text.clone());
                next.history.push(seq);
            }
            MemoryOp::Facts(f) => {
                next.facts.extend(f.clone());
                next.history.push(seq);
            }
            MemoryOp::Upsert(id, status, facts) => {
                match next.entities.iter_mut().find(|e| e.1 == *id) {
                    Some(e) => {
                        e.3.extend(facts.clone());
                        if status.is_some() {
                            e.2 = status.clone();
                        }
                    }
                    None => next.entities.push((
                        "order".into(),
                        id.clone(),
                        status.clone(),
                        facts.clone(),
                    )),
                }
            }
            MemoryOp::RemoveEntity(id) => {
                let before = next.entities.len();
                next.entities.retain(|e| e.1 != *id);
                if next.entities.len() == before {
                    return Err(NOT_FOUND.into());
                }
            }
            MemoryOp::AddItem(d) => next.open_items.push((seq, d.clone())),
            MemoryOp::RemoveItem(i) => {
                if *i >= next.open_items.len() {
                    return Err(NOT_FOUND.into());
                }
                next.open_items.remove(*i);
            }
            MemoryOp::Reset | MemoryOp::Context => unreachable!("handled above"),
        }
        let excess = next.history.len().saturating_sub(max_history);
        next.history.drain(..excess);
        next.revision += 1;
        *m = next.clone();
        Ok(Some(next))
    }
}

/// RFC 7396, restated plainly.
fn merge_patch(target: &serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => JsonObject::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

impl Model {
    fn live(&self, org: OrgId, index: usize) -> Result<&ModelContact, Rejected> {
        self.orgs
            .get(&org)
            .and_then(|o| o.contacts.get(index))
            .filter(|c| !c.deleted)
            .ok_or_else(|| NOT_FOUND.to_owned())
    }

    fn normalise_one(&self, kind: IdentifierKind, raw: &str) -> Result<String, Rejected> {
        match self.normalizer.normalize(kind, raw) {
            Ok(Normalized::Value(v)) => Ok(v.into_owned()),
            _ => Err(kind.as_str().to_owned()),
        }
    }

    /// Update, restated (docs/semantics.md 4). Returns whether the contact changed.
    ///
    /// # Errors
    /// A field name, [`NOT_FOUND`] or [`CONFLICT`], as the engine must report them.
    pub fn update(
        &mut self,
        org: OrgId,
        index: usize,
        req: &contacts_core::UpdateRequest,
    ) -> Result<bool, Rejected> {
        let name = match req.name.as_deref().map(str::trim) {
            None => None,
            Some(n)
                if n.is_empty()
                    || n.contains('\0')
                    || n.chars().count() > self.config.max_name_chars =>
            {
                return Err("name".into());
            }
            Some(n) => Some(n.to_owned()),
        };
        if req.metadata.as_ref().is_some_and(|m| !m.is_object()) {
            return Err("metadata".into());
        }
        let mut idents = Vec::new();
        for (kind, raw) in [
            (IdentifierKind::ExternalId, &req.external_id),
            (IdentifierKind::Email, &req.email),
            (IdentifierKind::PhoneNumber, &req.phone_number),
        ] {
            if let Some(raw) = raw {
                idents.push((kind, self.normalise_one(kind, raw)?));
            }
        }
        let c = self.live(org, index)?.clone();
        let mut next = c.clone();
        if let Some(n) = name {
            next.name = Some(n);
        }
        if let Some(patch) = &req.metadata {
            let merged = merge_patch(&serde_json::Value::Object(c.metadata.clone()), patch);
            let size = serde_json::to_string(&merged).expect("serialisable").len();
            if size > self.config.max_metadata_bytes
                || depth(&merged) > self.config.max_metadata_depth
            {
                return Err("metadata".into());
            }
            next.metadata = merged.as_object().cloned().unwrap_or_default();
        }
        let o = &self.orgs[&org];
        for (kind, value) in &idents {
            match o.owners.get(&(*kind, value.clone())) {
                Some(owner) if *owner == index => {}
                Some(_) => return Err(CONFLICT.into()),
                None => {
                    if *kind == IdentifierKind::ExternalId {
                        next.identifiers.retain(|(k, _)| k != kind);
                    }
                    let held = next.identifiers.iter().filter(|(k, _)| k == kind).count();
                    if held as u32 >= self.config.cap(*kind) {
                        return Err(CONFLICT.into());
                    }
                    next.identifiers.push((*kind, value.clone()));
                }
            }
        }
        let changed = next != c;
        let o = self.orgs.get_mut(&org).expect("org exists");
        for key in &c.identifiers {
            o.owners.remove(key);
            if !next.identifiers.contains(key) {
                o.attached.remove(key);
            }
        }
        for key in &next.identifiers {
            o.owners.insert(key.clone(), index);
            if !c.identifiers.contains(key) {
                self.next_seq += 1;
                o.attached.insert(key.clone(), self.next_seq);
            }
        }
        o.contacts[index] = next;
        Ok(changed)
    }

    /// Merge, restated (docs/semantics.md 4).
    ///
    /// # Errors
    /// `duplicate_contact_id`, [`NOT_FOUND`] or [`CONFLICT`].
    pub fn merge(&mut self, org: OrgId, primary: usize, duplicate: usize) -> Result<(), Rejected> {
        if primary == duplicate {
            return Err("duplicate_contact_id".into());
        }
        let p = self.live(org, primary)?.clone();
        let d = self.live(org, duplicate)?.clone();
        for kind in IdentifierKind::ALL {
            let n = p
                .identifiers
                .iter()
                .chain(&d.identifiers)
                .filter(|(k, _)| *k == kind)
                .count();
            if n as u32 > self.config.cap(kind) {
                return Err(CONFLICT.into());
            }
        }
        let window = self.config.memory.window;
        let max_history = self.config.memory.max_history;
        let mut next = p.clone();
        if next.name.is_none() {
            next.name.clone_from(&d.name);
        }
        for (k, v) in &d.metadata {
            next.metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
        next.identifiers.extend(d.identifiers.iter().cloned());
        let mut kept = Vec::new();
        for dm in &d.memories {
            match next.memories.iter_mut().find(|m| m.scope == dm.scope) {
                None => {
                    let mut moved = dm.clone();
                    moved.revision += 1;
                    next.memories.push(moved);
                    kept.push(ModelMemorySnapshot {
                        record: dm.clone(),
                        primary_before: None,
                        trimmed_messages: Vec::new(),
                        trimmed_history: Vec::new(),
                    });
                }
                Some(pm) => {
                    let before = pm.clone();
                    let mut facts = dm.facts.clone();
                    facts.extend(pm.facts.clone());
                    pm.facts = facts;
                    pm.messages.extend(dm.messages.iter().cloned());
                    pm.messages.sort_by_key(|m| m.3);
                    let excess = pm.messages.len().saturating_sub(window);
                    pm.messages.drain(..excess);
                    for de in &dm.entities {
                        match pm.entities.iter_mut().find(|e| e.0 == de.0 && e.1 == de.1) {
                            Some(pe) => {
                                let mut f = de.3.clone();
                                f.extend(pe.3.clone());
                                pe.3 = f;
                                if pe.2.is_none() {
                                    pe.2.clone_from(&de.2);
                                }
                            }
                            None => pm.entities.push(de.clone()),
                        }
                    }
                    pm.open_items.extend(dm.open_items.iter().cloned());
                    if pm.summary.as_deref().is_none_or(str::is_empty) {
                        pm.summary.clone_from(&dm.summary);
                    }
                    pm.history.extend(dm.history.iter().copied());
                    pm.history.sort_unstable();
                    let excess = pm.history.len().saturating_sub(max_history);
                    pm.history.drain(..excess);
                    pm.revision += 1;
                    kept.push(ModelMemorySnapshot {
                        record: dm.clone(),
                        trimmed_messages: minus(&before.messages, &pm.messages),
                        trimmed_history: minus(&before.history, &pm.history),
                        primary_before: Some(before),
                    });
                }
            }
        }
        next.memories.sort_by_key(|m| m.seq);
        let o = self.orgs.get_mut(&org).expect("org exists");
        let snapshot = ModelSnapshot {
            attached: d.identifiers.iter().map(|k| o.attached[k]).collect(),
            name_taken: p.name.is_none() && d.name.is_some(),
            metadata_taken: d
                .metadata
                .keys()
                .filter(|k| !p.metadata.contains_key(*k))
                .cloned()
                .collect(),
            memories: kept,
            duplicate: d.clone(),
        };
        for key in &d.identifiers {
            o.owners.insert(key.clone(), primary);
        }
        o.contacts[primary] = next;
        // The duplicate, and every id that led to it, now lead to the primary.
        for c in &mut o.contacts {
            if c.merged_into == Some(duplicate) {
                c.merged_into = Some(primary);
            }
        }
        let gone = &mut o.contacts[duplicate];
        gone.deleted = true;
        gone.merged_into = Some(primary);
        gone.direct_into = Some(primary);
        gone.snapshot = Some(Box::new(snapshot));
        gone.identifiers.clear();
        gone.memories.clear();
        Ok(())
    }

    /// Delete, restated (docs/semantics.md 4).
    ///
    /// # Errors
    /// [`NOT_FOUND`].
    pub fn delete(&mut self, org: OrgId, index: usize) -> Result<(), Rejected> {
        self.live(org, index)?;
        let o = self.orgs.get_mut(&org).expect("org exists");
        let c = &mut o.contacts[index];
        for key in c.identifiers.drain(..) {
            o.owners.remove(&key);
            o.attached.remove(&key);
        }
        c.memories.clear();
        c.deleted = true;
        // What led to it leads nowhere now, and the merges' snapshots go with it.
        for c in &mut o.contacts {
            if c.merged_into == Some(index) {
                c.merged_into = None;
                c.direct_into = None;
                c.snapshot = None;
            }
        }
        Ok(())
    }

    /// Detach, restated (docs/semantics.md 4): the identifier `(kind, value)` of contact `index`.
    ///
    /// # Errors
    /// [`NOT_FOUND`].
    pub fn detach(
        &mut self,
        org: OrgId,
        index: usize,
        kind: IdentifierKind,
        value: &str,
    ) -> Result<(), Rejected> {
        self.live(org, index)?;
        let o = self.orgs.get_mut(&org).expect("org exists");
        let c = &mut o.contacts[index];
        let pos = c
            .identifiers
            .iter()
            .position(|(k, v)| *k == kind && v == value)
            .ok_or_else(|| NOT_FOUND.to_owned())?;
        let key = c.identifiers.remove(pos);
        o.owners.remove(&key);
        o.attached.remove(&key);
        Ok(())
    }
}

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
