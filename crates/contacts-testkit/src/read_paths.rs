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

/// Two contacts of `org`, each with memory records for personas `p` and `q`: what a
/// backend's test damages before [`removal_survives_undecodable_records`].
pub fn two_contacts_with_memories<S: Store>(engine: &Engine<S>, org: OrgId) -> [ContactId; 2] {
    ["+14155550177", "+14155550178"].map(|phone| {
        let contact = engine
            .resolve(org, &ResolveRequest::new().with_phone(phone))
            .expect("resolve")
            .contact
            .id;
        for persona in ["p", "q"] {
            engine
                .memory_create(org, contact, &ScopeRequest::persona(persona))
                .expect("memory create");
        }
        contact
    })
}

/// Store contract 10 (docs/semantics.md 7), once every memory record of `contacts`
/// (from [`two_contacts_with_memories`]) has been damaged past decoding: reads answer a
/// storage error, never a panic, and reset and delete still succeed, because they read
/// only versions. The caller checks that no memory rows are left.
pub fn removal_survives_undecodable_records<S: Store>(
    engine: &Engine<S>,
    org: OrgId,
    [a, b]: [ContactId; 2],
) {
    assert!(
        matches!(
            engine.get(org, a),
            Err(contacts_core::Error::Storage { .. })
        ),
        "a read of a damaged record is a storage error"
    );
    assert!(
        engine
            .memory_reset(org, a, &ScopeRequest::persona("p"))
            .expect("memory reset")
    );
    engine.delete(org, a).expect("delete");
    engine.delete(org, b).expect("delete");
}
