//! The OpenAPI 3.1 document, served at `GET /openapi.json` and committed as
//! `docs/openapi.json`. Each operation comes from its handler's `#[utoipa::path]` as
//! `routes()` registers it, and each schema from the wire type's derive beside its serde
//! attributes, so the document cannot drift from what the server does; this file adds
//! what every operation shares: the key, and the error envelope with its statuses
//! (docs/semantics.md 8).

use utoipa::openapi::header::HeaderBuilder;
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

/// The errors a `/v1` operation may answer, each as the envelope, and which
/// operations can meet each: bad input (a field, the body, a query parameter or a path
/// id), no valid key, no such contact or record, a body that is late, too large or not
/// JSON (operations with a body), a lost revision race, a persona switched off or a
/// taken identifier (writes),
/// a server (or the org's share of it) too busy or a key store out of reach, and a
/// failure of the store.
const V1_ERRORS: [(u16, Needs, &str); 9] = [
    (
        400,
        Needs::Any,
        "A field, the body or a parameter is not valid; `field` names it (`INVALID_REQUEST` on `POST /v1/memory/enable`, `BAD_REQUEST` everywhere else)",
    ),
    (401, Needs::Any, "The key is missing, unknown or revoked"),
    (
        404,
        Needs::Any,
        "No such contact, identifier or memory record in this org",
    ),
    (408, Needs::Body, "The body did not arrive in time"),
    (
        409,
        Needs::Write,
        "The memory record is not at `expected_revision`, its persona's memory is switched off, or an identifier is taken",
    ),
    (413, Needs::Body, "The body is over the size limit"),
    (
        415,
        Needs::Body,
        "The body is not declared as JSON, or is compressed",
    ),
    (
        503,
        Needs::Any,
        "The server is busy, this org has its share of requests in flight, or the key store is unreachable; retry after `Retry-After` seconds",
    ),
    (
        500,
        Needs::Any,
        "The store failed; the log has the cause under the response's `x-request-id`",
    ),
];

/// Which operations can answer an error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Any,
    /// Operations that take a request body.
    Body,
    /// Operations that change something (every method but GET).
    Write,
}

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

fn error_response(status: u16, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description);
    if status == 503 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response
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
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (true, &mut item.patch),
        ];
        for (writes, operation) in operations {
            let Some(operation) = operation else { continue };
            if path.starts_with("/v1/") {
                v1_operation(operation, writes);
            } else if path == "/readyz" {
                operation.responses.responses.insert(
                    "503".to_owned(),
                    RefOr::T(error_response(503, "The store is unreachable")),
                );
            }
        }
    }
    api
}

fn v1_operation(operation: &mut Operation, writes: bool) {
    operation.security = Some(vec![SecurityRequirement::new(KEY, Vec::<String>::new())]);
    let body = operation.request_body.is_some();
    for (status, needs, description) in V1_ERRORS {
        let applies = match needs {
            Needs::Any => true,
            Needs::Body => body,
            Needs::Write => writes,
        };
        if !applies {
            continue;
        }
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(error_response(status, description)));
    }
}
