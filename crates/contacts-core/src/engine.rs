//! The engine: the semantics of resolve, find, get and list over any [`Store`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;
use smallvec::SmallVec;

use crate::config::{Clock, Config, IdGenerator, SystemClock, UuidV7};
use crate::cursor;
use crate::error::{Error, NO_IDENTIFIER, Result};
use crate::history::Before;
use crate::memory::{MemoryRecord, MemoryScope};
use crate::normalize::{Normalized, Normalizer};
use crate::request::{
    ConflictReason, ContactPage, ContactWithRelations, FindRequest, IdentifierConflict,
    IdentifierRef, IgnoredValue, ListRequest, Pagination, ResolveOutcome, ResolveRequest,
};
use crate::retry::Step;
use crate::shared::SharedContact;
use crate::store::{
    ContactRecord, IdentifierKey, ListPage, ListPosition, Owner, Owners, PageStart, Store,
    WriteBatch, WriteOp,
};
use crate::types::{
    Contact, ContactId, Identifier, IdentifierId, IdentifierKind, JsonObject, Metadata, OrgId,
    Timestamp,
};
use crate::validate;

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;

/// The contact-resolution engine over a [`Store`].
///
/// Cheap to share: wrap it in an `Arc` and call it from any number of threads.
///
/// ```
/// use contacts_core::{Engine, ListRequest, OrgId, ResolveRequest};
/// use contacts_inmemory::InMemoryStore;
///
/// let engine = Engine::new(InMemoryStore::new());
/// let org = OrgId(uuid::Uuid::now_v7());
/// let first = engine.resolve(org, &ResolveRequest::new().with_phone("+1 (415) 555-0192"))?;
/// assert!(first.created);
/// let again = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
/// assert_eq!((again.contact.id, again.created), (first.contact.id, false));
/// let page = engine.list(org, ListRequest::default())?;
/// assert_eq!(page.pagination.total, 1);
/// # Ok::<(), contacts_core::Error>(())
/// ```
pub struct Engine<S> {
    pub(crate) store: S,
    pub(crate) config: Config,
    pub(crate) normalizer: Normalizer,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    /// Turns for writers of one memory record (`stripes.rs`).
    pub(crate) memory_writers: Arc<crate::stripes::Stripes>,
}

impl<S: fmt::Debug> fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

/// What one read decided: the outcome, the preconditions that pin the read, and the
/// writes (empty when everything was already in place).
struct Decision {
    outcome: ResolveOutcome,
    expects: Vec<WriteOp>,
    writes: Vec<WriteOp>,
    /// The winner's version as read, if there was a winner.
    winner_version: Option<u64>,
}

/// A resolve request after normalisation and validation (see `Engine::resolve_input`).
pub(crate) struct ResolveInput<'a> {
    pub(crate) prepared: Prepared<'a>,
    name: Option<Cow<'a, str>>,
    metadata: Option<&'a JsonObject>,
    scope: Option<MemoryScope>,
}

/// A request's identifiers after normalisation, highest precedence first.
///
/// Inline, like the keys and the owners: a request has at most three identifiers, and a
/// resolve hit allocates nothing (`crates/contacts-inmemory/tests/allocations.rs`).
pub(crate) struct Prepared<'a> {
    values: SmallVec<[(IdentifierKind, Cow<'a, str>); 3]>,
    ignored: Vec<IgnoredValue>,
}

impl Prepared<'_> {
    pub(crate) fn keys(&self) -> SmallVec<[IdentifierKey<'_>; 3]> {
        // Pushed one by one: `collect` into a `SmallVec` goes through its general
        // `extend`, which costs more than the three pushes it needs here.
        let mut keys = SmallVec::new();
        for (kind, value) in &self.values {
            keys.push(IdentifierKey { kind: *kind, value });
        }
        keys
    }
}

impl<S: Store> Engine<S> {
    /// An engine with the default [`Config`], the system clock and UUIDv7 ids.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// let engine = Engine::new(InMemoryStore::new());
    /// assert_eq!(engine.config(), &Config::default());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    pub fn new(store: S) -> Self {
        let config = Config::default();
        // The default config has no region and is valid by construction.
        let normalizer = Normalizer::new(&config).expect("the default config is valid");
        Engine {
            store,
            config,
            normalizer,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            memory_writers: Arc::default(),
        }
    }

    /// An engine with `config`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let config = Config::default().with_default_region("US");
    /// let engine = Engine::with_config(InMemoryStore::new(), config)?;
    /// let out = engine.resolve(org, &ResolveRequest::new().with_phone("(415) 555-0192"))?;
    /// assert_eq!(out.attached[0].identifier_value, "+14155550192");
    /// // An incoherent setting is refused, naming it.
    /// let bad = Config::default().with_default_region("XX");
    /// assert!(Engine::with_config(InMemoryStore::new(), bad).is_err());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the setting when `config` is incoherent (see
    /// [`Config::validate`]).
    pub fn with_config(store: S, config: Config) -> Result<Self> {
        config.validate()?;
        let normalizer = Normalizer::new(&config)?;
        Ok(Engine {
            normalizer,
            config,
            ..Engine::new(store)
        })
    }

    /// Replaces the clock (for deterministic tests).
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let t = Timestamp::from_millis(1_753_180_200_000);
    /// let engine = Engine::new(InMemoryStore::new()).with_clock(ManualClock::new(t, 0));
    /// let out = engine.resolve(org, &ResolveRequest::new().with_email("ana@example.com"))?;
    /// assert_eq!(out.contact.created_at.to_string(), "2025-07-22T10:30:00.000Z");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the id generator (for deterministic tests).
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let engine = Engine::new(InMemoryStore::new()).with_id_generator(SequentialIds::new());
    /// let a = engine.resolve(org, &ResolveRequest::new().with_email("a@example.com"))?;
    /// let b = engine.resolve(org, &ResolveRequest::new().with_email("b@example.com"))?;
    /// assert!(a.contact.id < b.contact.id);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_id_generator(mut self, ids: impl IdGenerator) -> Self {
        self.ids = Arc::new(ids);
        self
    }

    /// The store.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let out = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// // The store's own view: the contact at version 1.
    /// let record = engine.store().get(org, out.contact.id)?.expect("stored");
    /// assert_eq!(record.contact.version, 1);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration in force.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// assert_eq!(engine.config().cap(IdentifierKind::ExternalId), 1);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Finds the contact for the request's identifiers or creates one (docs/semantics.md 3).
    ///
    /// Atomic and serialisable: concurrent resolves behave as if run one at a time,
    /// and of two concurrent resolves of the same new identifier exactly one reports
    /// `created = true`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let call = engine.resolve(org, &ResolveRequest::new().with_phone("+1 (415) 555-0192"))?;
    /// assert!(call.created);
    /// let sms = engine.resolve(
    ///     org,
    ///     &ResolveRequest::new()
    ///         .with_phone("+14155550192")
    ///         .with_email("Sarah@Example.com")
    ///         .with_name("Sarah Chen"),
    /// )?;
    /// assert_eq!((sms.contact.id, sms.created), (call.contact.id, false));
    /// assert_eq!(sms.contact.name.as_deref(), Some("Sarah Chen"));
    /// // A withheld caller is ignored, never a shared contact.
    /// let anon = engine.resolve(org, &ResolveRequest::new().with_phone("+266696687"));
    /// assert!(matches!(anon, Err(Error::InvalidInput { .. })));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`Error::InvalidInput`] naming the field when an identifier, the name or the
    ///   metadata is invalid, or when no identifier is left after dropping blank and
    ///   junk values; nothing is written.
    /// - [`Error::Conflict`] if the store kept reporting lost races (see
    ///   `MAX_ATTEMPTS` in the source); nothing is written.
    /// - [`Error::Storage`] when the store fails.
    pub fn resolve(&self, org: OrgId, req: &ResolveRequest) -> Result<ResolveOutcome> {
        let input = self.resolve_input(req)?;
        let keys = input.prepared.keys();
        // Look up, decide in pure code, return at once when nothing must change (a
        // pure read takes no write lock), else commit; a lost race reads again
        // (`retry.rs`).
        self.run(org, "resolve", || {
            let owners = self.store.lookup(org, &keys)?;
            let (outcome, ops) = self.resolve_step(org, &input, owners)?;
            if ops.is_empty() {
                return Ok(Step::Done(outcome));
            }
            Ok(Step::Commit(WriteBatch::new(ops), outcome))
        })
    }

    /// [`resolve`](Engine::resolve), answered on the calling thread when that needs no
    /// I/O: a request the engine refuses, or a hit that changes nothing and whose
    /// owners the store gives from memory ([`Store::lookup_without_io`]). `None`
    /// otherwise (a first sight, a hit that writes, a memory scope to load, a store
    /// that must read); then call `resolve` where blocking is allowed. An async server
    /// uses it to answer cached hits without a hop to a blocking thread. `Some` holds
    /// exactly what `resolve` would have returned.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let call = ResolveRequest::new().with_phone("+1 (415) 555-0192");
    /// assert!(engine.resolve_without_io(org, &call).is_none(), "a first sight writes");
    /// let first = engine.resolve(org, &call)?;
    /// let again = engine.resolve_without_io(org, &call).expect("answered from memory")?;
    /// assert_eq!((again.contact.id, again.created), (first.contact.id, false));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Some(Err(_))` only for [`Error::InvalidInput`], as `resolve` reports it.
    pub fn resolve_without_io(
        &self,
        org: OrgId,
        req: &ResolveRequest,
    ) -> Option<Result<ResolveOutcome>> {
        let input = match self.resolve_input(req) {
            Ok(input) => input,
            Err(e) => return Some(Err(e)),
        };
        // Loading a memory scope reads records; that is `resolve`'s work.
        if input.scope.is_some() {
            return None;
        }
        let owners = self.store.lookup_without_io(org, &input.prepared.keys())?;
        match self.resolve_step(org, &input, owners) {
            Ok((outcome, ops)) if ops.is_empty() => Some(Ok(outcome)),
            // A write, or an error the full path reports in its own words.
            _ => None,
        }
    }

    /// A resolve request normalised and validated: everything resolve needs that does
    /// not depend on what the store holds.
    pub(crate) fn resolve_input<'a>(&self, req: &'a ResolveRequest) -> Result<ResolveInput<'a>> {
        Ok(ResolveInput {
            prepared: self.prepare(|kind| req.identifier(kind))?,
            name: self.validate_name(req.name.as_deref())?,
            metadata: self.validate_metadata(req.metadata.as_ref())?,
            scope: self.scope(req.persona_id.as_deref(), req.agent_number.as_deref())?,
        })
    }

    /// One resolve decided from the owners of `input`'s keys: the outcome, and the
    /// batch that makes it true (preconditions first; empty for a pure read).
    ///
    /// Takes the owners: a winner left unchanged moves into the outcome, so a hit
    /// shares the store's contact without touching its reference count twice.
    pub(crate) fn resolve_step(
        &self,
        org: OrgId,
        input: &ResolveInput<'_>,
        mut owners: Owners,
    ) -> Result<(ResolveOutcome, Vec<WriteOp>)> {
        let mut decision = self.decide(
            org,
            &input.prepared,
            &mut owners,
            input.name.as_deref(),
            input.metadata,
        )?;
        if let Some(scope) = &input.scope {
            self.resolve_memory(org, scope, &mut decision)?;
        }
        let Decision {
            outcome,
            mut expects,
            writes,
            ..
        } = decision;
        if writes.is_empty() {
            return Ok((outcome, Vec::new()));
        }
        expects.extend(writes);
        let ops = self.with_history(expects, |id| {
            owners
                .iter()
                .flatten()
                .find(|o| o.contact.id == id)
                .map(|o| Before {
                    contact: &o.contact,
                    version: o.version,
                    identifiers: &[],
                })
        });
        Ok((outcome, ops))
    }

    /// Step 7: the memory record for the resolved contact and `scope`, created if
    /// missing (in the same batch as the contact, so both or neither are written).
    /// A persona switched off gets no record and none is returned (docs/semantics.md
    /// 6, "Switching memory off"); the contact is resolved as without a scope.
    fn resolve_memory(&self, org: OrgId, scope: &MemoryScope, d: &mut Decision) -> Result<()> {
        if self.memory_is_off(org, scope)? {
            return Ok(());
        }
        let contact_id = d.outcome.contact.id;
        let existing = if d.outcome.created {
            None
        } else {
            self.store.memory(org, contact_id, scope)?
        };
        match existing {
            Some(m) => {
                d.outcome.memory = Some(m);
                d.outcome.memory_created = Some(false);
            }
            None => {
                if !d.outcome.created {
                    let existing = self.store.get(org, contact_id)?;
                    self.check_memory_count(existing.map_or(0, |c| c.memories.len()))?;
                }
                let record = self.new_memory(org, contact_id, scope);
                if !d.outcome.created && d.writes.is_empty() {
                    // The winner itself is unchanged; pin it so the record is only
                    // attached to the contact this resolve really resolved to.
                    if let Some(version) = d.winner_version {
                        d.expects.push(WriteOp::Expect {
                            contact_id,
                            version,
                        });
                    }
                }
                if let MemoryScope::Persona(persona) = scope {
                    // Read as on just now; the commit checks it still is.
                    d.expects.push(WriteOp::ExpectMemoryEnabled {
                        persona_id: persona.clone(),
                    });
                }
                d.writes.push(WriteOp::InsertMemory(record.clone()));
                d.outcome.memory = Some(Arc::new(record));
                d.outcome.memory_created = Some(true);
            }
        }
        Ok(())
    }

    /// A fresh, empty memory record.
    pub(crate) fn new_memory(
        &self,
        org: OrgId,
        contact_id: ContactId,
        scope: &MemoryScope,
    ) -> MemoryRecord {
        let now = self.clock.now();
        let (persona, agent) = scope.parts();
        MemoryRecord {
            id: crate::memory::MemoryId(self.ids.next_id()),
            org_id: org,
            contact_id,
            persona_id: persona.map(str::to_owned),
            agent_number: agent.map(str::to_owned),
            summary: None,
            summary_updated_at: None,
            facts: JsonObject::new(),
            recent_messages: Vec::new(),
            open_items: Vec::new(),
            entities: Vec::new(),
            memory_history: Vec::new(),
            created_at: now,
            updated_at: now,
            revision: 1,
        }
    }

    /// Applies resolve's steps 1-3 without writing: the contact the identifiers
    /// resolve to, with its identifiers and memories, or `None`.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// assert!(engine.find(org, &FindRequest::new().with_email("ana@example.com"))?.is_none());
    /// engine.resolve(org, &ResolveRequest::new().with_email("ana@example.com"))?;
    /// let found = engine.find(org, &FindRequest::new().with_email("ANA@example.com"))?;
    /// assert_eq!(found.map(|c| c.identifiers.len()), Some(1));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field for an invalid identifier or when none
    /// is left; [`Error::Storage`] when the store fails.
    pub fn find(&self, org: OrgId, req: &FindRequest) -> Result<Option<ContactWithRelations>> {
        let prepared = self.prepare(|kind| match kind {
            IdentifierKind::PhoneNumber => req.phone_number.as_deref(),
            IdentifierKind::Email => req.email.as_deref(),
            IdentifierKind::ExternalId => req.external_id.as_deref(),
        })?;
        let keys = prepared.keys();
        self.run(org, "find", || {
            let owners = self.store.lookup(org, &keys)?;
            let Some(winner) = self
                .winner(&prepared, &owners)
                .and_then(|at| owners[at].as_ref())
            else {
                return Ok(Step::Done(None));
            };
            // Read the winner again with its memories, as one snapshot. If it vanished
            // in between (deleted), decide again.
            Ok(match self.store.get(org, winner.contact.id)? {
                Some(record) => Step::Done(Some(self.with_relations(&record))),
                None => Step::Again,
            })
        })
    }

    /// The contact `id` of `org` with its identifiers and memories.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let out = engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// let contact = engine.get(org, out.contact.id)?;
    /// assert_eq!(contact.identifiers[0].identifier_value, "+14155550192");
    /// // Another org sees nothing.
    /// let other = OrgId(uuid::Uuid::now_v7());
    /// assert!(matches!(engine.get(other, out.contact.id), Err(Error::NotFound { .. })));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such contact in `org`;
    /// [`Error::Storage`] when the store fails.
    pub fn get(&self, org: OrgId, id: ContactId) -> Result<ContactWithRelations> {
        match self.store.get(org, id)? {
            Some(record) => Ok(self.with_relations(&record)),
            None => Err(self.missing_contact(org, id)),
        }
    }

    /// A page of the org's contacts in creation order (docs/semantics.md 5), from an
    /// offset or after a cursor.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// for i in 0..3 {
    ///     engine.resolve(org, &ResolveRequest::new().with_email(format!("p{i}@example.com")))?;
    /// }
    /// let page = engine.list(org, ListRequest::new(2, 0))?;
    /// assert_eq!((page.data.len(), page.pagination.total, page.pagination.has_more), (2, 3, true));
    /// // The rest, by cursor: it costs the same at any depth.
    /// let cursor = page.pagination.next_cursor.expect("more follow");
    /// let rest = engine.list(org, ListRequest::after(2, cursor))?;
    /// assert_eq!((rest.data.len(), rest.pagination.has_more), (1, false));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`limit`) for a limit of 0 or less, (`offset`) for a
    /// negative offset, (`after`) for a string that is not a cursor or one given with
    /// an offset; [`Error::Storage`] when the store fails.
    pub fn list(&self, org: OrgId, req: ListRequest) -> Result<ContactPage> {
        let limit = match req.limit {
            None => DEFAULT_LIMIT,
            Some(l) if l <= 0 => return Err(Error::invalid("limit", "must be at least 1")),
            Some(l) => (l as u64).min(MAX_LIMIT),
        };
        let start = match (req.offset, req.after.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "after",
                    "cannot be combined with offset; pass one or the other",
                ));
            }
            (None, Some(cursor)) => PageStart::After(cursor::decode("after", cursor)?),
            (Some(o), None) if o < 0 => {
                return Err(Error::invalid("offset", "must not be negative"));
            }
            (Some(o), None) => PageStart::Offset(o as u64),
            (None, None) => PageStart::Offset(0),
        };
        let (page, next) = self.page(org, start, limit)?;
        let has_more = next.is_some();
        let next_cursor = next.map(cursor::encode);
        Ok(ContactPage {
            data: page
                .contacts
                .iter()
                .map(|c| self.with_relations(c))
                .collect(),
            pagination: Pagination {
                total: page.total,
                limit,
                offset: match start {
                    PageStart::Offset(o) => Some(o),
                    PageStart::After(_) => None,
                },
                has_more,
                next_cursor,
            },
        })
    }

    /// Up to `limit` contacts from `start`, and the position the next page starts after
    /// when more follow: one more than the page is read, in the same snapshot, to know.
    pub(crate) fn page(
        &self,
        org: OrgId,
        start: PageStart,
        limit: u64,
    ) -> Result<(ListPage, Option<ListPosition>)> {
        let mut page = self.store.list(org, start, limit + 1)?;
        let more = page.contacts.len() as u64 > limit;
        page.contacts.truncate(limit as usize);
        let next = page
            .contacts
            .last()
            .filter(|_| more)
            .map(|c| c.contact.position());
        Ok((page, next))
    }

    /// Normalises the request's identifiers into precedence order.
    fn prepare<'a>(
        &self,
        field: impl Fn(IdentifierKind) -> Option<&'a str>,
    ) -> Result<Prepared<'a>> {
        let mut prepared = Prepared {
            values: SmallVec::new(),
            ignored: Vec::new(),
        };
        for kind in self.config.precedence {
            let Some(raw) = field(kind) else { continue };
            match self.normalizer.normalize(kind, raw)? {
                Normalized::Value(v) => prepared.values.push((kind, v)),
                Normalized::Blank => {}
                Normalized::Junk(reason) => prepared.ignored.push(IgnoredValue {
                    field: kind,
                    value: raw.to_owned(),
                    reason: reason.as_str().to_owned(),
                }),
            }
        }
        if prepared.values.is_empty() {
            if prepared.ignored.is_empty() {
                return Err(Error::invalid("identifiers", NO_IDENTIFIER));
            }
            // Say why: a caller who sent values must learn they were ignored.
            let ignored: Vec<String> = prepared
                .ignored
                .iter()
                .map(|i| format!("{} {:?} ({})", i.field, i.value, i.reason))
                .collect();
            return Err(Error::invalid(
                "identifiers",
                format!("{NO_IDENTIFIER}; ignored as junk: {}", ignored.join(", ")),
            ));
        }
        Ok(prepared)
    }

    /// The name, trimmed and in Unicode NFC (so `José` typed either way is one
    /// spelling, and its length is counted as people count it), or `None` when blank.
    pub(crate) fn validate_name<'a>(&self, name: Option<&'a str>) -> Result<Option<Cow<'a, str>>> {
        validate::name(name, self.config.max_name_chars)
    }

    pub(crate) fn validate_metadata<'a>(
        &self,
        metadata: Option<&'a serde_json::Value>,
    ) -> Result<Option<&'a JsonObject>> {
        validate::metadata(
            metadata,
            self.config.max_metadata_bytes,
            self.config.max_metadata_depth,
        )
    }

    /// Whether `owners[at]` may be the request's contact: for every kind capped at
    /// one, the request's value of it (if any) is the value the contact holds (if any).
    ///
    /// Decided from counts alone: a contact that owns the request's value of a kind
    /// holds no other exactly when it holds one of that kind, and a contact that does
    /// not own it must hold none. (Values are unique within an org, so "holds another
    /// value" and "holds more than the one it owns" are the same thing.)
    fn compatible(&self, prepared: &Prepared<'_>, owners: &[Option<Owner>], at: usize) -> bool {
        let Some(c) = &owners[at] else { return false };
        prepared
            .values
            .iter()
            .zip(owners)
            .all(|((kind, _), owner)| {
                let held = c.counts.get(*kind);
                let owns = owner.as_ref().is_some_and(|o| o.contact.id == c.contact.id);
                self.config.cap(*kind) != 1 || if owns { held <= 1 } else { held == 0 }
            })
    }

    /// Steps 2-3: where in `owners` the owner of the highest-precedence identifier that
    /// is compatible is.
    fn winner(&self, prepared: &Prepared<'_>, owners: &[Option<Owner>]) -> Option<usize> {
        (0..owners.len()).find(|&at| self.compatible(prepared, owners, at))
    }

    /// Decides what a resolve returns and what it must write, from one read.
    ///
    /// A winner that stays as it is is taken out of `owners` into the outcome; nothing
    /// after the decision reads it (history asks only about contacts a batch changes).
    fn decide(
        &self,
        org: OrgId,
        prepared: &Prepared<'_>,
        owners: &mut [Option<Owner>],
        name: Option<&str>,
        metadata: Option<&JsonObject>,
    ) -> Result<Decision> {
        if owners.len() != prepared.values.len() {
            return Err(Error::storage(
                "engine",
                format!(
                    "store answered {} lookups for {} keys",
                    owners.len(),
                    prepared.values.len()
                ),
            ));
        }
        let win = self.winner(prepared, owners);
        let winner = win.and_then(|at| owners[at].as_ref());
        let winner_id = winner.map(|w| w.contact.id);
        let winner_version = winner.map(|w| w.version);
        let mut expects = Vec::new();
        let mut writes = Vec::new();
        // Every other contact the decision looked at must still be as read (it stayed
        // incompatible, or still owns the identifier reported as a conflict).
        let mut expected: Vec<ContactId> = Vec::new();
        for c in owners.iter().flatten() {
            let id = c.contact.id;
            if Some(id) != winner_id && !expected.contains(&id) {
                expected.push(id);
                expects.push(WriteOp::Expect {
                    contact_id: id,
                    version: c.version,
                });
            }
        }

        let mut matched_by = None;
        let mut conflicts = Vec::new();
        let mut to_attach: Vec<(IdentifierKind, &str, bool)> = Vec::new();
        let mut counts = [0u32; 3];
        if let Some(w) = winner {
            for kind in IdentifierKind::ALL {
                counts[kind.index()] = w.counts.get(kind);
            }
        }
        for ((kind, value), owner) in prepared.values.iter().zip(owners.iter()) {
            match owner {
                Some(o) if Some(o.contact.id) == winner_id => {
                    if matched_by.is_none() {
                        matched_by = Some(IdentifierRef {
                            identifier_type: *kind,
                            identifier_value: CompactString::from(value.as_ref()),
                        });
                    }
                }
                Some(o) => conflicts.push(IdentifierConflict {
                    identifier_type: *kind,
                    identifier_value: value.to_string(),
                    reason: ConflictReason::OwnedByOtherContact,
                    owner_contact_id: Some(o.contact.id),
                }),
                None => {
                    let held = &mut counts[kind.index()];
                    if u64::from(*held) < u64::from(self.config.cap(*kind)) {
                        to_attach.push((*kind, value, *held == 0));
                        *held += 1;
                    } else {
                        conflicts.push(IdentifierConflict {
                            identifier_type: *kind,
                            identifier_value: value.to_string(),
                            reason: ConflictReason::CapReached,
                            owner_contact_id: None,
                        });
                    }
                }
            }
        }

        let (contact, created) = match winner {
            None if to_attach.is_empty() => {
                // Only possible with more than one kind capped at 1: every identifier
                // is owned by a contact that conflicts with another of them. A contact
                // with no identifier could never be found again, so refuse.
                return Err(Error::conflict(
                    "every identifier in the request belongs to a contact that holds a \
                     different value of a kind capped at one; nothing was created",
                ));
            }
            None => {
                let now = self.clock.now();
                let contact = Contact {
                    id: ContactId(self.ids.next_id()),
                    org_id: org,
                    name: name.map(CompactString::from),
                    metadata: metadata.map(Metadata::from_object).unwrap_or_default(),
                    created_at: now,
                    updated_at: now,
                };
                writes.push(WriteOp::InsertContact(contact.clone()));
                (SharedContact::new(contact), true)
            }
            Some(w) => match self.filled(&w.contact, name, metadata, !to_attach.is_empty()) {
                // Unchanged: the store's own copy, moved out of what was read.
                None => {
                    // `win` indexes the winner just read, so the take finds it.
                    let Some(taken) = win.and_then(|at| owners[at].take()) else {
                        return Err(Error::storage("engine", "the winner left its read"));
                    };
                    (taken.contact, false)
                }
                Some(contact) => {
                    writes.push(WriteOp::UpdateContact {
                        contact: contact.clone(),
                        expected_version: w.version,
                    });
                    (SharedContact::new(contact), false)
                }
            },
        };

        let mut attached = Vec::with_capacity(to_attach.len());
        for (kind, value, is_primary) in to_attach {
            writes.push(WriteOp::InsertIdentifier(Identifier {
                id: IdentifierId(self.ids.next_id()),
                contact_id: contact.id,
                identifier_type: kind,
                identifier_value: value.to_owned(),
                is_primary,
            }));
            attached.push(IdentifierRef {
                identifier_type: kind,
                identifier_value: CompactString::from(value),
            });
        }

        Ok(Decision {
            outcome: ResolveOutcome {
                contact,
                created,
                matched_by,
                attached,
                conflicts,
                ignored: prepared.ignored.clone(),
                memory: None,
                memory_created: None,
            },
            expects,
            writes,
            winner_version,
        })
    }

    /// The winner as this resolve leaves it, or `None` when it stays as it is: the name
    /// and metadata keys filled where absent (fill, never overwrite; docs/semantics.md
    /// 3), and `updated_at` moved on when anything changed, identifiers included.
    fn filled(
        &self,
        stored: &Contact,
        name: Option<&str>,
        metadata: Option<&JsonObject>,
        attaching: bool,
    ) -> Option<Contact> {
        let new_name = name.filter(|_| stored.name.is_none());
        // Parsed only when the request carries keys; most hits carry none.
        let merged = metadata.filter(|m| !m.is_empty()).and_then(|m| {
            let mut object = stored.metadata.to_object();
            let before = object.len();
            for (k, v) in m {
                object.entry(k.clone()).or_insert_with(|| v.clone());
            }
            (object.len() != before).then_some(object)
        });
        if new_name.is_none() && merged.is_none() && !attaching {
            return None;
        }
        let mut contact = stored.clone();
        if let Some(n) = new_name {
            contact.name = Some(CompactString::from(n));
        }
        if let Some(m) = merged {
            contact.metadata = Metadata::from_object(&m);
        }
        // A change always moves updated_at forward, by at least 1 ms: the timestamp has
        // millisecond precision, and a caller comparing updated_at must see every
        // change even within one millisecond (or if the wall clock steps back).
        let floor = Timestamp::from_millis(contact.updated_at.as_millis() + 1);
        contact.updated_at = self.clock.now().max(floor);
        Some(contact)
    }

    /// The list/get/find shape: identifiers by kind precedence, primary first, then
    /// oldest first.
    pub(crate) fn with_relations(&self, record: &ContactRecord) -> ContactWithRelations {
        let c = &record.contact;
        let mut identifiers = c.identifiers.clone();
        // Stable sort: within a kind and primary flag, the stored (oldest-first) order
        // is kept.
        identifiers.sort_by_key(|i| (self.config.rank(i.identifier_type), !i.is_primary));
        ContactWithRelations {
            contact: c.contact.clone(),
            identifiers,
            memories: record.memories.iter().map(|m| m.embedded()).collect(),
        }
    }
}
