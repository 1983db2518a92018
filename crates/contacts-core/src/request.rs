//! Request and response shapes of the engine's operations, serde-compatible with the
//! public API's JSON.

use serde::{Deserialize, Serialize};

use crate::types::{Contact, ContactId, ContactWithRelations, IdentifierKind};

/// The body of `POST /v1/contacts/resolve`: identifiers plus optional data to fill.
///
/// At least one identifier must survive normalisation. Memory scoping fields
/// (`persona_id`, `agent_number`) are not part of the engine yet and are ignored when
/// deserialising.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
    pub metadata: Option<serde_json::Value>,
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

    pub(crate) fn identifier(&self, kind: IdentifierKind) -> Option<&str> {
        match kind {
            IdentifierKind::PhoneNumber => self.phone_number.as_deref(),
            IdentifierKind::Email => self.email.as_deref(),
            IdentifierKind::ExternalId => self.external_id.as_deref(),
        }
    }
}

/// The body of `POST /v1/contacts/find`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

/// `limit` and `offset` of `GET /v1/contacts`, as given (validated by the engine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    /// Page size; default 50, clamped to 200, must be positive.
    pub limit: Option<i64>,
    /// Contacts to skip; default 0, must not be negative.
    pub offset: Option<i64>,
}

impl ListRequest {
    /// A request for `limit` contacts after `offset`.
    pub fn new(limit: i64, offset: i64) -> Self {
        ListRequest {
            limit: Some(limit),
            offset: Some(offset),
        }
    }
}

/// A `(kind, normalised value)` pair in an outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierRef {
    /// The kind.
    pub identifier_type: IdentifierKind,
    /// The normalised value.
    pub identifier_value: String,
}

/// Why a request identifier was not attached to the resolved contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct ResolveOutcome {
    /// The resolved contact.
    pub contact: Contact,
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
}

/// Pagination metadata of a list page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// Contacts in the org.
    pub total: u64,
    /// The limit actually used (after clamping).
    pub limit: u64,
    /// The offset used.
    pub offset: u64,
    /// `offset + returned < total`.
    pub has_more: bool,
}

/// One page of `GET /v1/contacts`: serialises as the seed's `data` and `pagination`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactPage {
    /// The contacts, in creation order.
    pub data: Vec<ContactWithRelations>,
    /// Where the page sits.
    pub pagination: Pagination,
}
