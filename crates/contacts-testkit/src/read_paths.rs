//! Every path that reads a contact or its memory, run in turn: what "data the engine
//! accepted is always readable again" means in a test (docs/semantics.md 7).

use contacts_core::{
    ContactId, Engine, FindRequest, ListRequest, MemoryId, OrgId, ResolveRequest, ScopeRequest,
    Store,
};

/// Runs every read of `contact` and of its memory `memory` (scope `persona`), then the
/// two repairs (reset of the memory, delete of the contact); panics naming the first
/// path that fails. `phone` is one of the contact's phone numbers.
pub fn every_path_reads_then_repairs<S: Store>(
    engine: &Engine<S>,
    org: OrgId,
    contact: ContactId,
    phone: &str,
    memory: MemoryId,
    persona: &str,
) {
    let scope = ScopeRequest::persona(persona);
    engine.get(org, contact).expect("get");
    engine.list(org, ListRequest::new(200, 0)).expect("list");
    for c in engine.export(org) {
        c.expect("export");
    }
    engine
        .find(org, &FindRequest::new().with_phone(phone))
        .expect("find")
        .expect("find matches");
    engine.memory_get(org, memory).expect("memory get");
    engine
        .memory_messages(org, memory)
        .expect("memory messages");
    engine
        .memory_context(org, contact, &scope)
        .expect("memory context");
    engine
        .resolve(
            org,
            &ResolveRequest::new()
                .with_phone(phone)
                .with_persona(persona),
        )
        .expect("resolve with the persona");
    assert!(
        engine
            .memory_reset(org, contact, &scope)
            .expect("memory reset")
    );
    engine.delete(org, contact).expect("delete");
}
