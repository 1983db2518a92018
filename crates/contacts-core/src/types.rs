//! Domain types. Their serde JSON is the public API's JSON, field for field.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

pub use crate::ids::{ContactId, IdentifierId, OrgId};
pub use crate::time::Timestamp;

pub use crate::metadata::Metadata;

/// A JSON object: request metadata, memory facts.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The kind of an identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// An E.164 phone number.
    PhoneNumber,
    /// A lower-cased email address.
    Email,
    /// The embedding application's own id for the person; opaque and case-sensitive.
    ExternalId,
}

impl IdentifierKind {
    /// All kinds, in the default precedence order (highest first).
    pub const ALL: [IdentifierKind; 3] = [
        IdentifierKind::ExternalId,
        IdentifierKind::Email,
        IdentifierKind::PhoneNumber,
    ];

    /// The name used in JSON and as the request field (`phone_number`, `email`,
    /// `external_id`).
    pub const fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::PhoneNumber => "phone_number",
            IdentifierKind::Email => "email",
            IdentifierKind::ExternalId => "external_id",
        }
    }

    /// A dense index (0, 1, 2), for per-kind arrays.
    pub const fn index(self) -> usize {
        match self {
            IdentifierKind::PhoneNumber => 0,
            IdentifierKind::Email => 1,
            IdentifierKind::ExternalId => 2,
        }
    }

    /// Parses the JSON name of a kind.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "phone_number" => Some(IdentifierKind::PhoneNumber),
            "email" => Some(IdentifierKind::Email),
            "external_id" => Some(IdentifierKind::ExternalId),
            _ => None,
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A contact as the resolve response shows it (no identifiers or memories).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// `repr(C)` keeps the id and org at the front, where a store that embeds a contact in a
// larger record can place them beside its own hot fields.
#[repr(C)]
pub struct Contact {
    /// The contact's id.
    pub id: ContactId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Its name, `null` when never set (inline up to 24 bytes).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<CompactString>,
    /// Free-form metadata, `{}` when empty.
    pub metadata: Metadata,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (an identifier attached, a name filled, a key added).
    pub updated_at: Timestamp,
}

/// An identifier attached to a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identifier {
    /// The identifier's id.
    pub id: IdentifierId,
    /// The contact that owns it.
    pub contact_id: ContactId,
    /// Its kind.
    pub identifier_type: IdentifierKind,
    /// The normalised value (E.164 phone, lower-cased email, trimmed external id).
    pub identifier_value: String,
    /// Whether it is the contact's primary identifier of its kind (the oldest one).
    pub is_primary: bool,
}
