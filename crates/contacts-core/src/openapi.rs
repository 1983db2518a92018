//! OpenAPI schemas of the wire types whose JSON serde writes by hand (the feature
//! `openapi`); the rest derive theirs beside their serde attributes, so a schema and
//! the JSON it describes are written in one place.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::ids::{ContactId, IdentifierId, MemoryId, OpenItemId, OrgId};
use crate::metadata::Metadata;
use crate::shared::SharedContact;
use crate::time::Timestamp;
use crate::types::Contact;

/// A canonical hyphenated UUID (the only form paths and bodies accept).
fn uuid(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .description(Some(description))
        .into()
}

macro_rules! uuid_schema {
    ($($name:ident: $description:literal),* $(,)?) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                uuid($description)
            }
        }
        impl ToSchema for $name {}
    )*};
}

uuid_schema!(
    OrgId: "An org's id.",
    ContactId: "A contact's id.",
    IdentifierId: "An identifier's id.",
    MemoryId: "A memory record's id.",
    OpenItemId: "An open item's id.",
);

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "A UTC instant with millisecond precision, such as 2025-07-22T10:30:00.000Z \
                 (requests may give any RFC 3339 offset).",
            ))
            .into()
    }
}
impl ToSchema for Timestamp {}

impl PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Free-form metadata; `{}` when empty."))
            .into()
    }
}
impl ToSchema for Metadata {}

// A shared contact is written exactly as a contact.
impl PartialSchema for SharedContact {
    fn schema() -> RefOr<Schema> {
        Contact::schema()
    }
}
impl ToSchema for SharedContact {
    fn name() -> Cow<'static, str> {
        Contact::name()
    }

    // What a contact's schema refers to (the referrer adds the contact's own).
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        Contact::schemas(schemas);
    }
}
