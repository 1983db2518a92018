//! The main job of the project's README: resolve a few callers the way a voice or SMS
//! agent would into an embedded SQLite file, then print the org's contact list as the
//! public API's JSON.
//!
//! Run with `cargo run --release --example quickstart` (writes `./contacts.db`), or
//! pass another path: `cargo run --release --example quickstart -- /tmp/other.db`.
//! Running it again finds the same people: resolve is idempotent.

// An example's whole purpose is to print.
#![allow(clippy::print_stdout)]

use contacts_core::{
    ContactWithRelations, Engine, ListRequest, NewMessage, OrgId, Pagination, ResolveRequest, Role,
};
use contacts_sqlite::SqliteStore;
use serde::Serialize;
use serde_json::json;

/// The public API's list envelope: `data`, `pagination`, `errors`, in that order.
#[derive(Serialize)]
struct ListEnvelope<'a> {
    data: &'a [ContactWithRelations],
    pagination: Pagination,
    errors: Option<()>,
}

fn main() -> Result<(), contacts_core::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "contacts.db".to_owned());
    let engine = Engine::new(SqliteStore::open(&path)?);
    // The seed pages' org, so the output reads like their examples.
    let org = OrgId(
        "11111111-2222-3333-4444-555555555555"
            .parse()
            .expect("a valid UUID"),
    );
    println!("database: {path}");

    // An inbound call from a number we have never seen: a new contact.
    let call = engine.resolve(
        org,
        &ResolveRequest::new()
            .with_phone("+1 (415) 555-0192")
            .with_name("Sarah Chen")
            .with_metadata(json!({"source": "inbound_call"})),
    )?;
    println!(
        "call from +1 (415) 555-0192 -> contact {} (created: {})",
        call.contact.id, call.created
    );

    // The agent persona that took the call remembers it (first run only: the record
    // is created once, and re-running the example finds it).
    let memory = engine.resolve(
        org,
        &ResolveRequest::new()
            .with_phone("+14155550192")
            .with_persona("persona-12345678"),
    )?;
    if memory.memory_created == Some(true)
        && let Some(record) = memory.memory
    {
        let messages = [
            NewMessage {
                role: Role::User,
                content: "Has my order shipped yet?".into(),
                channel: "sms".into(),
                timestamp: None,
            },
            NewMessage {
                role: Role::Assistant,
                content: "Yes, order #8821 shipped this morning.".into(),
                channel: "sms".into(),
                timestamp: None,
            },
        ];
        engine.memory_append_messages(org, record.id, &messages, None)?;
        engine.memory_replace_summary(
            org,
            record.id,
            "Customer asked about order #8821; it has shipped.",
            None,
        )?;
    }

    // A follow-up SMS from the same number, now with an email: the same contact.
    let sms = engine.resolve(
        org,
        &ResolveRequest::new()
            .with_phone("tel:+14155550192")
            .with_email("Sarah.Chen@Example.com"),
    )?;
    println!(
        "sms from tel:+14155550192 -> contact {} (created: {}, attached: {})",
        sms.contact.id,
        sms.created,
        sms.attached.len()
    );

    // A CRM sync with its own id and a junk phone value.
    let crm = engine.resolve(
        org,
        &ResolveRequest::new()
            .with_external_id("crm-1042")
            .with_phone("0000000000")
            .with_name("John Doe")
            .with_metadata(json!({"source": "api"})),
    )?;
    println!(
        "crm sync crm-1042 -> contact {} (created: {}, ignored: {})",
        crm.contact.id,
        crm.created,
        crm.ignored.len()
    );

    let page = engine.list(org, ListRequest::default())?;
    let envelope = ListEnvelope {
        data: &page.data,
        pagination: page.pagination,
        errors: None,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&envelope).expect("plain data serialises")
    );
    Ok(())
}
