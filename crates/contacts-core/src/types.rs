//! Domain types. Their serde JSON is the public API's JSON, field for field.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A JSON object, the type of contact `metadata`.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id_type!(
    /// A tenant. Every call names one; nothing crosses between orgs.
    OrgId
);
id_type!(
    /// A contact's id (UUIDv7 by default).
    ContactId
);
id_type!(
    /// An identifier's id (UUIDv7 by default).
    IdentifierId
);

/// A UTC instant with millisecond precision, written `2025-07-22T10:30:00.000Z`.
///
/// Stored as milliseconds since the Unix epoch, so it is `Copy`, totally ordered and
/// compares exactly across backends.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp (any offset), truncating to milliseconds.
    ///
    /// # Errors
    /// Returns a description of the problem when `s` is not RFC 3339.
    pub fn parse(s: &str) -> Result<Self, String> {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(|e| format!("not an RFC 3339 timestamp: {e}"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match chrono::DateTime::from_timestamp_millis(self.0) {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            // Out of chrono's range (about ±262,000 years): never produced by a clock,
            // but Display must not panic.
            None => write!(f, "@{}ms", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The kind of an identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
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
pub struct Contact {
    /// The contact's id.
    pub id: ContactId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Its name, `null` when never set.
    pub name: Option<String>,
    /// Free-form metadata, `{}` when empty.
    pub metadata: Metadata,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (an identifier attached, a name filled, a key added).
    pub updated_at: Timestamp,
}

/// An identifier attached to a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A contact with its identifiers and memories: what list, get and find return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactWithRelations {
    /// The contact's own fields, flattened into the object.
    #[serde(flatten)]
    pub contact: Contact,
    /// Identifiers, by kind precedence, primary first, then oldest first.
    pub identifiers: Vec<Identifier>,
    /// Per-persona memory records (SPEC section 6), oldest first, each with its
    /// entities.
    pub memories: Vec<crate::memory::EmbeddedMemory>,
}
