//! Memory switched on or off per persona or pathway: `POST /v1/memory/enable`
//! (docs/semantics.md 6, "Switching memory off").
//!
//! A switch is stored per org and target, last write wins. Only a persona's switch
//! changes what the engine does, because memory records are scoped by persona or agent
//! number and no engine call names a pathway; a pathway's switch is kept for the
//! platform that runs pathways to read back. The version a switch names is recorded,
//! not keyed on: memory scopes carry no version, so a persona is on or off as a whole.

use crate::engine::Engine;
use crate::error::{Error, MEMORY_ENABLED_REQUIRED, ONE_SWITCH_TARGET, Result};
use crate::ids::OrgId;
use crate::memory::MemoryScope;
use crate::retry::Step;
use crate::store::{Store, WriteBatch, WriteOp};
use crate::time::Timestamp;
use crate::validate;

/// What a switch turns memory on or off for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SwitchKind {
    /// A persona (`persona_id`, with a `version_id`).
    Persona,
    /// A pathway (`pathway_id`, with a `version_number`).
    Pathway,
}

impl SwitchKind {
    /// The stored name: `persona` or `pathway`.
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchKind::Persona => "persona",
            SwitchKind::Pathway => "pathway",
        }
    }

    /// The kind a stored name names.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "persona" => Some(SwitchKind::Persona),
            "pathway" => Some(SwitchKind::Pathway),
            _ => None,
        }
    }
}

/// One org's memory switch for one persona or pathway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemorySwitch {
    /// Persona or pathway.
    pub kind: SwitchKind,
    /// The `persona_id` or `pathway_id`, as given (trimmed).
    pub target_id: String,
    /// The version the switch was set through: the persona's `version_id` (a UUID,
    /// hyphenated lower case) or the pathway's `version_number` (decimal).
    pub version: String,
    /// Whether memory is on.
    pub enabled: bool,
    /// When it was set.
    pub updated_at: Timestamp,
}

impl MemorySwitch {
    /// The documented confirmation: "Memory enabled successfully for persona." and
    /// its three siblings.
    pub fn message(&self) -> &'static str {
        match (self.enabled, self.kind) {
            (true, SwitchKind::Persona) => "Memory enabled successfully for persona.",
            (true, SwitchKind::Pathway) => "Memory enabled successfully for pathway.",
            (false, SwitchKind::Persona) => "Memory disabled successfully for persona.",
            (false, SwitchKind::Pathway) => "Memory disabled successfully for pathway.",
        }
    }
}

/// The body of `POST /v1/memory/enable`: the pathway pair or the persona pair, and the
/// flag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryEnableRequest {
    /// A pathway id; goes with `version_number`.
    pub pathway_id: Option<String>,
    /// The pathway's version.
    pub version_number: Option<u64>,
    /// A persona id; goes with `version_id`.
    pub persona_id: Option<String>,
    /// The persona's version, a UUID.
    pub version_id: Option<String>,
    /// On or off. Required.
    pub memory_enabled: Option<bool>,
}

impl MemoryEnableRequest {
    /// Switch persona `persona_id` (at `version_id`) on or off.
    pub fn persona(persona_id: impl Into<String>, version_id: impl Into<String>, on: bool) -> Self {
        MemoryEnableRequest {
            persona_id: Some(persona_id.into()),
            version_id: Some(version_id.into()),
            memory_enabled: Some(on),
            ..MemoryEnableRequest::default()
        }
    }

    /// Switch pathway `pathway_id` (at `version_number`) on or off.
    pub fn pathway(pathway_id: impl Into<String>, version_number: u64, on: bool) -> Self {
        MemoryEnableRequest {
            pathway_id: Some(pathway_id.into()),
            version_number: Some(version_number),
            memory_enabled: Some(on),
            ..MemoryEnableRequest::default()
        }
    }
}

/// A non-blank id, trimmed as memory scopes trim a persona id.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn disabled(persona: &str) -> Error {
    Error::conflict(format!(
        "memory is disabled for persona {persona}; nothing was written (enable it with \
         POST /v1/memory/enable)"
    ))
}

impl<S: Store> Engine<S> {
    /// Switches memory on or off for a persona or a pathway of `org`
    /// (`POST /v1/memory/enable`). While a persona is off, resolve with it creates no
    /// memory record and returns none, and memory writes to its records are refused;
    /// its records are kept and can still be read, reset and deleted.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let version = "4f9d2c1e-8a7b-4c3d-9e2f-1a2b3c4d5e6f";
    /// let off = engine.memory_enable(org, &MemoryEnableRequest::persona("support-bot", version, false))?;
    /// assert_eq!(off.message(), "Memory disabled successfully for persona.");
    /// let call = ResolveRequest::new().with_phone("+14155550192").with_persona("support-bot");
    /// assert!(engine.resolve(org, &call)?.memory.is_none());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] with the documented sentences when `memory_enabled` is
    /// missing ("memory_enabled (boolean) is required.") or when not exactly one of
    /// `pathway_id` and `persona_id` is given ("Exactly one of pathway_id or persona_id
    /// is required."), and naming the field when its version is missing, of the
    /// other pair, or not a UUID; [`Error::Storage`].
    pub fn memory_enable(&self, org: OrgId, req: &MemoryEnableRequest) -> Result<MemorySwitch> {
        let switch = self.switch_of(req)?;
        self.run(org, "memory enable", || {
            Ok(Step::Commit(
                WriteBatch::new(vec![WriteOp::SetMemorySwitch(switch.clone())]),
                switch.clone(),
            ))
        })
    }

    /// The switch `org` last set for `kind` and `target_id`, or `None` (memory is on
    /// where nothing was switched).
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// engine.memory_enable(org, &MemoryEnableRequest::pathway("onboarding", 3, true))?;
    /// let switch = engine.memory_switch(org, SwitchKind::Pathway, "onboarding")?.unwrap();
    /// assert!(switch.enabled && switch.version == "3");
    /// assert!(engine.memory_switch(org, SwitchKind::Persona, "onboarding")?.is_none());
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn memory_switch(
        &self,
        org: OrgId,
        kind: SwitchKind,
        target_id: &str,
    ) -> Result<Option<MemorySwitch>> {
        self.store.memory_switch(org, kind, target_id.trim())
    }

    /// The request validated into the switch it sets.
    fn switch_of(&self, req: &MemoryEnableRequest) -> Result<MemorySwitch> {
        let enabled = req
            .memory_enabled
            .ok_or_else(|| Error::invalid("memory_enabled", MEMORY_ENABLED_REQUIRED))?;
        let pathway = given(req.pathway_id.as_deref());
        let persona = given(req.persona_id.as_deref());
        let (kind, target_id, version) = match (pathway, persona) {
            (Some(pathway), None) => {
                if req.version_id.is_some() {
                    return Err(Error::invalid(
                        "version_id",
                        "goes with persona_id; a pathway takes version_number",
                    ));
                }
                let number = req.version_number.ok_or_else(|| {
                    Error::invalid("version_number", "is required with pathway_id")
                })?;
                validate::key("pathway_id", pathway)?;
                (SwitchKind::Pathway, pathway, number.to_string())
            }
            (None, Some(persona)) => {
                if req.version_number.is_some() {
                    return Err(Error::invalid(
                        "version_number",
                        "goes with pathway_id; a persona takes version_id",
                    ));
                }
                let raw = req
                    .version_id
                    .as_deref()
                    .ok_or_else(|| Error::invalid("version_id", "is required with persona_id"))?;
                // One spelling per version: the hyphenated form, as ids are everywhere.
                let raw = raw.trim();
                let version = uuid::Uuid::try_parse(raw)
                    .ok()
                    .filter(|_| raw.len() == 36)
                    .ok_or_else(|| {
                        Error::invalid("version_id", "expected a UUID in its hyphenated form")
                    })?;
                validate::key("persona_id", persona)?;
                (
                    SwitchKind::Persona,
                    persona,
                    version.hyphenated().to_string(),
                )
            }
            _ => return Err(Error::invalid("persona_id", ONE_SWITCH_TARGET)),
        };
        Ok(MemorySwitch {
            kind,
            target_id: target_id.to_owned(),
            version,
            enabled,
            updated_at: self.clock.now(),
        })
    }

    /// What a memory write for `scope` must carry: `Err` when its persona is switched
    /// off; for a persona that is on, the precondition that keeps it on until the write
    /// commits (so a write racing a switch-off lands before it or not at all); nothing
    /// for an agent number, which has no switch.
    pub(crate) fn memory_write_guard(
        &self,
        org: OrgId,
        scope: &MemoryScope,
    ) -> Result<Option<WriteOp>> {
        let MemoryScope::Persona(persona) = scope else {
            return Ok(None);
        };
        if self.memory_is_off(org, scope)? {
            return Err(disabled(persona));
        }
        Ok(Some(WriteOp::ExpectMemoryEnabled {
            persona_id: persona.clone(),
        }))
    }

    /// Whether `scope`'s persona is switched off.
    pub(crate) fn memory_is_off(&self, org: OrgId, scope: &MemoryScope) -> Result<bool> {
        let MemoryScope::Persona(persona) = scope else {
            return Ok(false);
        };
        Ok(self
            .store
            .memory_switch(org, SwitchKind::Persona, persona)?
            .is_some_and(|s| !s.enabled))
    }
}
