//! The OpenAPI 3.1 document, served at `GET /openapi.json` and committed as
//! `docs/openapi.json`. Each operation comes from its handler's `#[utoipa::path]` as
//! `routes()` registers it, and each schema from the wire type's derive beside its serde
//! attributes, so the document cannot drift from what the server does; this file adds
//! what every operation shares: the key, and the error envelope with its statuses
//! (docs/semantics.md 8).

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ErrorBody;

/// The schema of a value that is always `null` (`errors` on success, `data` on
/// failure).
pub(super) fn null() -> Schema {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

/// The name of the API key's security scheme.
const KEY: &str = "api_key";

/// The errors any `/v1` operation may answer, each as the envelope: bad input (a field
/// or the body), no valid key, no such contact or record, a timed-out or oversized
/// body, a lost revision race, a body that is not JSON, and a server (or the org's
/// share of it) too busy or a key store out of reach (with `Retry-After`).
const V1_ERRORS: [(u16, &str); 8] = [
    (400, "A field or the body is not valid; `field` names it"),
    (401, "The key is missing, unknown or revoked"),
    (
        404,
        "No such contact, identifier or memory record in this org",
    ),
    (408, "The body did not arrive in time"),
    (
        409,
        "The memory record is not at `expected_revision`, or an identifier is taken",
    ),
    (413, "The body is over the size limit"),
    (415, "The body is not declared as JSON, or is compressed"),
    (
        503,
        "The server is busy, this org has its share of requests in flight, or the key store is unreachable; retry after `Retry-After`",
    ),
];

/// The failure envelope: `{"data": null, "errors": [{error, message, field?}]}`.
fn error_envelope() -> Schema {
    ObjectBuilder::new()
        .property("data", null())
        .property(
            "errors",
            ArrayBuilder::new()
                .items(Ref::from_schema_name(ErrorBody::name()))
                .min_items(Some(1))
                .max_items(Some(1)),
        )
        .required("data")
        .required("errors")
        .into()
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
}

/// Every operation of `api` (as `routes()` and the service routes made it), with the
/// document's info, the key scheme on `/v1`, and the shared error responses.
pub(super) fn document(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("contacts")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Who is this? Resolve a phone number, email or external id to one stable \
             contact, and load what the agent remembers about that person. Every `/v1` \
             answer is the envelope `{data, errors}`; the contract is docs/semantics.md.",
        ))
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        KEY.to_owned(),
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "authorization",
            "An API key, as given in CONTACTS_API_KEYS or the key table (a `Bearer ` prefix is accepted).",
        ))),
    );
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    components
        .schemas
        .insert("ErrorEnvelope".to_owned(), error_envelope().into());
    for (path, item) in &mut api.paths.paths {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if path.starts_with("/v1/") || path == "/v1" {
                v1_operation(operation);
            } else if path == "/readyz" {
                operation.responses.responses.insert(
                    "503".to_owned(),
                    RefOr::T(error_response("The store is unreachable")),
                );
            }
        }
    }
    api
}

fn v1_operation(operation: &mut Operation) {
    operation.security = Some(vec![SecurityRequirement::new(KEY, Vec::<String>::new())]);
    for (status, description) in V1_ERRORS {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
}
