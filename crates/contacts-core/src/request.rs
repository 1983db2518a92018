//! Request and response shapes of the engine's operations, serde-compatible with the
//! public API's JSON.

use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::memory::{EmbeddedMemory, MemoryRecord};
use crate::shared::SharedContact;
use crate::types::{Contact, ContactId, Identifier, IdentifierKind};

/// The body of `POST /v1/contacts/resolve`: identifiers plus optional data to fill.
///
/// At least one identifier must survive normalisation. With `persona_id` or
/// `agent_number`, the memory record for the contact and that scope is created if
/// missing and returned (the persona wins when both are given).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// A phone number in any accepted form (`+1 (415) 555-0192`, `tel:`, `00...`).
    pub phone_number: Option<String>,
    /// An email address; matched case-insensitively.
    pub email: Option<String>,
    /// The caller's own id for the person; opaque and case-sensitive.
    pub external_id: Option<String>,
    /// A name, set only if the contact has none.
    pub name: Option<String>,
    /// Metadata (a JSON object); keys are added only where absent.
    #[serde(default, deserialize_with = "crate::strict_json::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// Memory scope: a persona id.
    pub persona_id: Option<String>,
    /// Memory scope: the agent's phone number (normalised like any phone number).
    pub agent_number: Option<String>,
}

impl ResolveRequest {
    /// An empty request; add identifiers with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the phone number.
    #[must_use]
    pub fn with_phone(mut self, phone: impl Into<String>) -> Self {
        self.phone_number = Some(phone.into());
        self
    }

    /// Sets the email.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the external id.
    #[must_use]
    pub fn with_external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the memory scope to a persona.
    #[must_use]
    pub fn with_persona(mut self, persona: impl Into<String>) -> Self {
        self.persona_id = Some(persona.into());
        self
    }

    /// Sets the memory scope to an agent phone number.
    #[must_use]
    pub fn with_agent_number(mut self, number: impl Into<String>) -> Self {
        self.agent_number = Some(number.into());
        self
    }

    pub(crate) fn identifier(&self, kind: IdentifierKind) -> Option<&str> {
        match kind {
            IdentifierKind::PhoneNumber => self.phone_number.as_deref(),
            IdentifierKind::Email => self.email.as_deref(),
            IdentifierKind::ExternalId => self.external_id.as_deref(),
        }
    }
}

/// The body of `PATCH /v1/contacts/{id}`. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// Replaces the name; blank is `InvalidInput`.
    pub name: Option<String>,
    /// A JSON Merge Patch (RFC 7396) applied to the metadata: objects merge
    /// recursively, `null` deletes a key.
    #[serde(default, deserialize_with = "crate::strict_json::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// Adds an email.
    pub email: Option<String>,
    /// Adds a phone number.
    pub phone_number: Option<String>,
    /// Replaces the contact's external id.
    pub external_id: Option<String>,
}

impl UpdateRequest {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the metadata merge patch.
    #[must_use]
    pub fn with_metadata(mut self, patch: serde_json::Value) -> Self {
        self.metadata = Some(patch);
        self
    }

    /// Adds an email.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Adds a phone number.
    #[must_use]
    pub fn with_phone(mut self, phone: impl Into<String>) -> Self {
        self.phone_number = Some(phone.into());
        self
    }

    /// Replaces the external id.
    #[must_use]
    pub fn with_external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }
}

/// The body of `POST /v1/contacts/find`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
#[serde(deny_unknown_fields)]
pub struct FindRequest {
    /// A phone number in any accepted form.
    pub phone_number: Option<String>,
    /// An email address.
    pub email: Option<String>,
    /// An external id.
    pub external_id: Option<String>,
}

impl FindRequest {
    /// An empty request; add identifiers with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the phone number.
    #[must_use]
    pub fn with_phone(mut self, phone: impl Into<String>) -> Self {
        self.phone_number = Some(phone.into());
        self
    }

    /// Sets the email.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the external id.
    #[must_use]
    pub fn with_external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }
}

impl From<&ResolveRequest> for FindRequest {
    fn from(r: &ResolveRequest) -> Self {
        FindRequest {
            phone_number: r.phone_number.clone(),
            email: r.email.clone(),
            external_id: r.external_id.clone(),
        }
    }
}

/// `limit` and `offset` or `after` of `GET /v1/contacts`, as given (validated by the
/// engine).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    /// Page size; default 50, clamped to 200, must be positive.
    pub limit: Option<i64>,
    /// Contacts to skip; default 0, must not be negative.
    pub offset: Option<i64>,
    /// A cursor from an earlier page's `pagination.next_cursor`: the page starts
    /// right after the contact it names. Not combined with `offset`.
    pub after: Option<String>,
}

impl ListRequest {
    /// A request for `limit` contacts after `offset`.
    pub fn new(limit: i64, offset: i64) -> Self {
        ListRequest {
            limit: Some(limit),
            offset: Some(offset),
            after: None,
        }
    }

    /// A request for `limit` contacts after the cursor `after` (an earlier page's
    /// `pagination.next_cursor`).
    pub fn after(limit: i64, after: impl Into<String>) -> Self {
        ListRequest {
            limit: Some(limit),
            offset: None,
            after: Some(after.into()),
        }
    }
}

/// A `(kind, normalised value)` pair in an outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentifierRef {
    /// The kind.
    pub identifier_type: IdentifierKind,
    /// The normalised value (stored inline up to 24 bytes: every phone number and most
    /// emails).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub identifier_value: CompactString,
}

/// Why a request identifier was not attached to the resolved contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictReason {
    /// Another contact owns it; it stays there.
    OwnedByOtherContact,
    /// The resolved contact already holds as many identifiers of this kind as its
    /// cap allows.
    CapReached,
}

/// A request identifier that was reported instead of attached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentifierConflict {
    /// The kind.
    pub identifier_type: IdentifierKind,
    /// The normalised value.
    pub identifier_value: String,
    /// Why it was not attached.
    pub reason: ConflictReason,
    /// The contact that owns it, for [`ConflictReason::OwnedByOtherContact`].
    pub owner_contact_id: Option<ContactId>,
}

/// A request value that counted as absent because it is on the junk list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IgnoredValue {
    /// The request field (`phone_number`, `email`, `external_id`).
    pub field: IdentifierKind,
    /// The value as given.
    pub value: String,
    /// Always `junk_value` for now.
    pub reason: String,
}

/// What `resolve` returns: the seed's `{contact, created}` plus what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResolveOutcome {
    /// The resolved contact, shared with the store where it can be (a hit copies
    /// nothing).
    pub contact: SharedContact,
    /// Whether this call created it.
    pub created: bool,
    /// The identifier that picked an existing contact (`null` when created).
    pub matched_by: Option<IdentifierRef>,
    /// Identifiers this call attached (all of them for a new contact).
    pub attached: Vec<IdentifierRef>,
    /// Identifiers left where they were, with the reason.
    pub conflicts: Vec<IdentifierConflict>,
    /// Junk values that counted as absent.
    pub ignored: Vec<IgnoredValue>,
    /// The memory record for the request's scope (`null` without a scope, or when
    /// its persona's memory is switched off).
    // Shared with the store where it can be: loading what an agent remembers copies
    // nothing.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<MemoryRecord>))]
    pub memory: Option<Arc<MemoryRecord>>,
    /// Whether this call created that memory record (`null` when `memory` is).
    pub memory_created: Option<bool>,
}

/// A memory scope as requests give it: a persona id or an agent number. When both
/// are given the persona wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRequest {
    /// A persona id.
    pub persona_id: Option<String>,
    /// An agent phone number.
    pub agent_number: Option<String>,
}

impl ScopeRequest {
    /// The scope of a persona.
    pub fn persona(persona: impl Into<String>) -> Self {
        ScopeRequest {
            persona_id: Some(persona.into()),
            agent_number: None,
        }
    }

    /// The scope of an agent number.
    pub fn agent_number(number: impl Into<String>) -> Self {
        ScopeRequest {
            persona_id: None,
            agent_number: Some(number.into()),
        }
    }
}

/// What get-or-create of a memory record returns: `{memory, created}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryOutcome {
    /// The record.
    pub memory: MemoryRecord,
    /// Whether this call created it.
    pub created: bool,
}

/// Pagination metadata of a list page: the seed's four fields, and a cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pagination {
    /// Contacts in the org.
    pub total: u64,
    /// The limit actually used (after clamping).
    pub limit: u64,
    /// The offset used; `null` for a page read by cursor, whose depth is not counted
    /// (counting it would cost what the cursor saves).
    pub offset: Option<u64>,
    /// Whether more contacts follow this page.
    pub has_more: bool,
    /// When more follow: the cursor to pass as `after` for the next page, whose
    /// contacts then follow this page's last one however many are created or deleted
    /// in between.
    pub next_cursor: Option<String>,
}

/// One page of `GET /v1/contacts`: serialises as the seed's `data` and `pagination`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactPage {
    /// The contacts, in creation order.
    pub data: Vec<ContactWithRelations>,
    /// Where the page sits.
    pub pagination: Pagination,
}

/// A contact with its identifiers and memories: what list, get and find return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactWithRelations {
    /// The contact's own fields, flattened into the object.
    #[serde(flatten)]
    pub contact: Contact,
    /// Identifiers, by kind precedence, primary first, then oldest first.
    pub identifiers: Vec<Identifier>,
    /// Per-persona memory records (docs/semantics.md 6), oldest first, each with its
    /// entities.
    pub memories: Vec<EmbeddedMemory>,
}
