//! Conformance scenarios for per-persona memory (docs/semantics.md 6).

use std::collections::BTreeSet;
use std::sync::Arc;

use contacts_core::{
    Config, ContactId, Engine, EntityRef, EntityUpsert, Error, FindRequest, JsonObject,
    ListRequest, ManualClock, MemoryId, NewMessage, NewOpenItem, OpenItemId, ResolveRequest, Role,
    ScopeRequest, SequentialIds, Store, Timestamp,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{EPOCH, assert_invalid, engine, engine_with, org_o, org_p};

fn persona(p: &str) -> ScopeRequest {
    ScopeRequest::persona(p)
}

fn new_contact<S: Store>(e: &Engine<S>) -> ContactId {
    e.resolve(org_o(), &ResolveRequest::new().with_phone("+14155550192"))
        .unwrap()
        .contact
        .id
}

fn memory<S: Store>(e: &Engine<S>, contact: ContactId, scope: &ScopeRequest) -> MemoryId {
    e.memory_create(org_o(), contact, scope).unwrap().memory.id
}

fn msg(role: Role, content: &str, channel: &str, ts: Option<i64>) -> NewMessage {
    NewMessage {
        role,
        content: content.to_owned(),
        channel: channel.to_owned(),
        timestamp: ts.map(Timestamp::from_millis),
    }
}

fn facts(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        other => panic!("facts must be an object, got {other}"),
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// docs/semantics.md 3 (step 7), 6: resolve with a persona creates the memory record for (contact,
/// persona) once and returns it with its own `created` flag.
pub fn resolve_with_persona_creates_memory<S: Store>(store: S) {
    let e = engine(store);
    let req = ResolveRequest::new()
        .with_phone("+14155550192")
        .with_persona("persona-1");
    let first = e.resolve(org_o(), &req).unwrap();
    assert!(first.created);
    assert_eq!(first.memory_created, Some(true));
    let m = first.memory.clone().expect("memory returned");
    assert_eq!(m.contact_id, first.contact.id);
    assert_eq!(
        (m.persona_id.as_deref(), m.agent_number.as_deref()),
        (Some("persona-1"), None)
    );
    assert_eq!(m.summary, None);
    assert!(m.facts.is_empty() && m.recent_messages.is_empty() && m.open_items.is_empty());
    let again = e.resolve(org_o(), &req).unwrap();
    assert_eq!(again.memory_created, Some(false));
    assert_eq!(again.memory.unwrap().id, m.id);
    assert_eq!(
        again.contact, first.contact,
        "memory never changes the contact"
    );
    // An existing contact gains a second scope's record; the contact is untouched.
    let other = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_phone("+14155550192")
                .with_persona("persona-2"),
        )
        .unwrap();
    assert_eq!((other.created, other.memory_created), (false, Some(true)));
    assert_eq!(other.contact.updated_at, first.contact.updated_at);
    let c = e.get(org_o(), first.contact.id).unwrap();
    let personas: Vec<_> = c
        .memories
        .iter()
        .map(|m| m.persona_id.clone().unwrap())
        .collect();
    assert_eq!(
        personas,
        vec!["persona-1", "persona-2"],
        "memories oldest first"
    );
    // Without a scope, nothing about memory is returned.
    let plain = e
        .resolve(org_o(), &ResolveRequest::new().with_phone("+14155550192"))
        .unwrap();
    assert_eq!((plain.memory, plain.memory_created), (None, None));
}

/// docs/semantics.md 6: the persona wins when both are given; an agent number is normalised like
/// any phone number.
pub fn resolve_scope_rules<S: Store>(store: S) {
    let e = engine(store);
    let both = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("a@example.com")
                .with_persona("p-1")
                .with_agent_number("+1 415 555 0100"),
        )
        .unwrap()
        .memory
        .unwrap();
    assert_eq!(
        (both.persona_id.as_deref(), both.agent_number.as_deref()),
        (Some("p-1"), None)
    );
    let agent = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("a@example.com")
                .with_agent_number("tel:+1-415-555-0100"),
        )
        .unwrap()
        .memory
        .unwrap();
    assert_eq!(
        (agent.persona_id.as_deref(), agent.agent_number.as_deref()),
        (None, Some("+14155550100"))
    );
    let same = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("a@example.com")
                .with_agent_number("+14155550100"),
        )
        .unwrap();
    assert_eq!(
        (same.memory.unwrap().id, same.memory_created),
        (agent.id, Some(false))
    );
    // A blank persona falls back to the agent number; invalid scopes name their field.
    let blank = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("a@example.com")
                .with_persona("  ")
                .with_agent_number("+14155550100"),
        )
        .unwrap();
    assert_eq!(blank.memory.unwrap().id, agent.id);
    assert_invalid(
        e.resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("a@example.com")
                .with_agent_number("not a number"),
        ),
        "agent_number",
    );
    assert_invalid(
        e.resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("a@example.com")
                .with_persona("p".repeat(256)),
        ),
        "persona_id",
    );
}

/// docs/semantics.md 6: create is get-or-create; it needs a scope and a contact of the org.
pub fn memory_create_is_get_or_create<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let first = e.memory_create(org_o(), c, &persona("p")).unwrap();
    assert!(first.created);
    let second = e.memory_create(org_o(), c, &persona("p")).unwrap();
    assert!(!second.created);
    assert_eq!(second.memory, first.memory);
    assert_invalid(
        e.memory_create(org_o(), c, &ScopeRequest::default()),
        "persona_id",
    );
    let unknown = ContactId(Uuid::now_v7());
    assert!(matches!(
        e.memory_create(org_o(), unknown, &persona("p")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.memory_create(org_p(), c, &persona("p")),
        Err(Error::NotFound { .. })
    ));
}

/// docs/semantics.md 1, 6: a memory id of org A is `NotFound` in org B; an unknown id is
/// "Contact memory not found".
pub fn memory_org_isolation<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    assert_eq!(e.memory_get(org_o(), id).unwrap().id, id);
    for result in [
        e.memory_get(org_p(), id),
        e.memory_get(org_o(), MemoryId(Uuid::now_v7())),
    ] {
        match result {
            Err(err @ Error::NotFound { .. }) => {
                assert_eq!(err.to_string(), "Contact memory not found")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        e.memory_messages(org_p(), id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.memory_replace_summary(org_p(), id, "x", None),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.memory_context(org_p(), c, &persona("p")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.memory_reset(org_p(), c, &persona("p")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        e.memory_get(org_o(), id).unwrap().summary,
        None,
        "nothing leaked across orgs"
    );
}

/// docs/semantics.md 6: reads match the scope exactly; a scope never sees another scope's data.
pub fn memory_scopes_are_isolated<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let a = memory(&e, c, &persona("a"));
    e.memory_append_messages(org_o(), a, &[msg(Role::User, "for a", "sms", None)], None)
        .unwrap();
    e.memory_merge_facts(org_o(), a, &facts(json!({"secret": "a"})), None)
        .unwrap();
    let b = memory(&e, c, &persona("b"));
    let agent = memory(&e, c, &ScopeRequest::agent_number("+14155550100"));
    assert_ne!(a, b);
    for (id, scope) in [
        (b, persona("b")),
        (agent, ScopeRequest::agent_number("+14155550100")),
    ] {
        let m = e.memory_get(org_o(), id).unwrap();
        assert!(m.recent_messages.is_empty() && m.facts.is_empty());
        let ctx = e.memory_context(org_o(), c, &scope).unwrap();
        assert!(ctx.recent_messages.is_empty() && ctx.contact_facts.is_empty());
    }
    let ctx = e.memory_context(org_o(), c, &persona("a")).unwrap();
    assert_eq!(ctx.recent_messages.len(), 1);
    // A persona named like the agent number is still another scope.
    let lookalike = e
        .memory_create(org_o(), c, &persona("+14155550100"))
        .unwrap();
    assert!(lookalike.created);
    assert_ne!(lookalike.memory.id, agent);
}

/// docs/semantics.md 6: context returns everything the agent sees, camelCase, and creates nothing
/// when there is no record.
pub fn memory_context_creates_nothing<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let ctx = e.memory_context(org_o(), c, &persona("p")).unwrap();
    assert_eq!(
        serde_json::to_value(&ctx).unwrap(),
        json!({"contact_id": c, "recentMessages": [], "summary": null, "contactFacts": {}, "entities": [], "openItems": []})
    );
    assert!(
        e.get(org_o(), c).unwrap().memories.is_empty(),
        "context created a record"
    );
    assert_invalid(
        e.memory_context(org_o(), c, &ScopeRequest::default()),
        "persona_id",
    );
    assert!(matches!(
        e.memory_context(org_o(), ContactId(Uuid::now_v7()), &persona("p")),
        Err(Error::NotFound { .. })
    ));
    let id = memory(&e, c, &persona("p"));
    e.memory_replace_summary(org_o(), id, "Likes tea", None)
        .unwrap();
    e.memory_add_open_item(
        org_o(),
        id,
        &NewOpenItem {
            item_type: "follow_up".into(),
            description: "call back".into(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let ctx = e.memory_context(org_o(), c, &persona("p")).unwrap();
    assert_eq!(ctx.summary.as_deref(), Some("Likes tea"));
    assert_eq!(ctx.open_items.len(), 1);
}

/// docs/semantics.md 6: messages are kept chronological and only the newest N stay (a sliding
/// window that never errors).
pub fn memory_messages_slide<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_message_window(3));
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let t = |s: i64| Some(EPOCH.as_millis() - 10_000 + s * 1000);
    e.memory_append_messages(
        org_o(),
        id,
        &[
            msg(Role::User, "one", "call", t(1)),
            msg(Role::Assistant, "two", "call", t(2)),
        ],
        None,
    )
    .unwrap();
    // Arrives late but happened between: sorted into place.
    e.memory_append_messages(
        org_o(),
        id,
        &[msg(
            Role::User,
            "one-and-a-half",
            "sms",
            t(1).map(|x| x + 500),
        )],
        None,
    )
    .unwrap();
    e.memory_append_messages(
        org_o(),
        id,
        &[
            msg(Role::User, "three", "sms", t(3)),
            msg(Role::Assistant, "four", "sms", t(4)),
        ],
        None,
    )
    .unwrap();
    let contents: Vec<_> = e
        .memory_messages(org_o(), id)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(contents, vec!["two", "three", "four"]);
    // No timestamp: now (the engine's clock), so it lands last.
    let m = e
        .memory_append_messages(org_o(), id, &[msg(Role::User, "now", "rcs", None)], None)
        .unwrap();
    assert_eq!(m.recent_messages.last().unwrap().content, "now");
    assert!(
        m.recent_messages.last().unwrap().timestamp > Timestamp::from_millis(EPOCH.as_millis())
    );
    assert_eq!(m.recent_messages.len(), 3);
}

/// docs/semantics.md 6, 7: message bounds and shapes; a rejected append writes nothing.
pub fn memory_message_validation<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let before = e.memory_get(org_o(), id).unwrap();
    assert_invalid(e.memory_append_messages(org_o(), id, &[], None), "messages");
    let ok = msg(Role::User, "fine", "sms", None);
    assert_invalid(
        e.memory_append_messages(
            org_o(),
            id,
            &[ok.clone(), msg(Role::User, "  ", "sms", None)],
            None,
        ),
        "messages[1].content",
    );
    assert_invalid(
        e.memory_append_messages(
            org_o(),
            id,
            &[msg(Role::User, &"x".repeat(8 * 1024 + 1), "sms", None)],
            None,
        ),
        "messages[0].content",
    );
    assert_invalid(
        e.memory_append_messages(org_o(), id, &[msg(Role::User, "hi", "SMS", None)], None),
        "messages[0].channel",
    );
    assert_invalid(
        e.memory_append_messages(org_o(), id, &[msg(Role::User, "a\0b", "sms", None)], None),
        "messages[0].content",
    );
    assert_eq!(
        e.memory_get(org_o(), id).unwrap(),
        before,
        "a rejected append wrote something"
    );
    // At the bound is fine.
    let at = e
        .memory_append_messages(
            org_o(),
            id,
            &[msg(Role::User, &"é".repeat(4 * 1024), "sms", None)],
            None,
        )
        .unwrap();
    assert_eq!(at.recent_messages.len(), 1);
}

/// docs/semantics.md 6: the summary is replaced as a whole, with `summary_updated_at` and a history
/// entry; over the bound is `InvalidInput`.
pub fn memory_summary_replaced<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let one = e
        .memory_replace_summary(org_o(), id, "first", None)
        .unwrap();
    let two = e
        .memory_replace_summary(org_o(), id, "second", None)
        .unwrap();
    assert_eq!(two.summary.as_deref(), Some("second"));
    assert!(two.summary_updated_at > one.summary_updated_at);
    let history: Vec<_> = two
        .memory_history
        .iter()
        .map(|h| (h.entry_type.as_str(), h.value.clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            ("summary_update", json!("first")),
            ("summary_update", json!("second"))
        ]
    );
    assert_invalid(
        e.memory_replace_summary(org_o(), id, &"s".repeat(8 * 1024 + 1), None),
        "summary",
    );
    assert_eq!(
        e.memory_get(org_o(), id).unwrap().summary.as_deref(),
        Some("second")
    );
}

/// docs/semantics.md 6: facts merge shallowly, incoming keys overwrite, no key is ever deleted;
/// bounded by key count and size.
pub fn memory_facts_merge<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    e.memory_merge_facts(org_o(), id, &facts(json!({"a": 1, "b": {"x": 1}})), None)
        .unwrap();
    let m = e
        .memory_merge_facts(org_o(), id, &facts(json!({"b": {"y": 2}, "c": null})), None)
        .unwrap();
    assert_eq!(
        Value::Object(m.facts.clone()),
        json!({"a": 1, "b": {"y": 2}, "c": null})
    );
    assert_eq!(m.memory_history.len(), 2);
    assert_eq!(m.memory_history[1].entry_type, "facts_update");
    assert_eq!(m.memory_history[1].value, json!({"b": {"y": 2}, "c": null}));
    let many: JsonObject = (0..256).map(|i| (format!("k{i}"), json!(i))).collect();
    assert_invalid(e.memory_merge_facts(org_o(), id, &many, None), "facts");
    let big = facts(json!({"big": "x".repeat(64 * 1024)}));
    assert_invalid(e.memory_merge_facts(org_o(), id, &big, None), "facts");
    assert_eq!(
        e.memory_get(org_o(), id).unwrap().facts,
        m.facts,
        "rejected merges wrote nothing"
    );
}

/// docs/semantics.md 6: entities upsert by (entity_type, entity_id): facts merged, status and notes
/// replaced when given, last_discussed_at refreshed; removal by key.
pub fn memory_entities_upsert_and_remove<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let t1 = Timestamp::from_millis(EPOCH.as_millis() - 5_000);
    let first = EntityUpsert {
        entity_type: "order".into(),
        entity_id: "order-8821".into(),
        facts: Some(facts(json!({"status": "delayed", "carrier": "UPS"}))),
        status: Some("delayed".into()),
        notes: Some("customer upset".into()),
        last_discussed_at: Some(t1),
    };
    e.memory_upsert_entity(org_o(), id, &first, None).unwrap();
    let second = EntityUpsert {
        entity_type: "order".into(),
        entity_id: "order-8821".into(),
        facts: Some(facts(
            json!({"status": "in_transit", "expected_delivery": "2025-07-25"}),
        )),
        status: Some("in_transit".into()),
        ..Default::default()
    };
    let m = e.memory_upsert_entity(org_o(), id, &second, None).unwrap();
    assert_eq!(m.entities.len(), 1);
    let ent = &m.entities[0];
    assert_eq!(
        Value::Object(ent.facts.clone()),
        json!({"status": "in_transit", "carrier": "UPS", "expected_delivery": "2025-07-25"})
    );
    assert_eq!(ent.status.as_deref(), Some("in_transit"));
    assert_eq!(
        ent.notes.as_deref(),
        Some("customer upset"),
        "notes kept when not given"
    );
    assert!(ent.last_discussed_at.unwrap() > t1, "refreshed to now");
    let other = EntityUpsert {
        entity_type: "booking".into(),
        entity_id: "b-1".into(),
        ..Default::default()
    };
    let m = e.memory_upsert_entity(org_o(), id, &other, None).unwrap();
    assert_eq!(m.entities.len(), 2);
    assert_eq!(m.entities[1].status, None);
    let m = e
        .memory_remove_entity(org_o(), id, "order", "order-8821", None)
        .unwrap();
    assert_eq!(m.entities.len(), 1);
    assert!(matches!(
        e.memory_remove_entity(org_o(), id, "order", "order-8821", None),
        Err(Error::NotFound { .. })
    ));
    assert_invalid(
        e.memory_upsert_entity(
            org_o(),
            id,
            &EntityUpsert {
                entity_type: " ".into(),
                entity_id: "x".into(),
                ..Default::default()
            },
            None,
        ),
        "entity_type",
    );
    assert_invalid(
        e.memory_upsert_entity(
            org_o(),
            id,
            &EntityUpsert {
                entity_type: "t".into(),
                entity_id: "".into(),
                ..Default::default()
            },
            None,
        ),
        "entity_id",
    );
}

/// docs/semantics.md 6: entities and open items are bounded; over the bound is `InvalidInput`.
pub fn memory_entity_and_item_bounds<S: Store>(store: S) {
    let mut config = Config::default();
    config.memory.max_entities = 2;
    config.memory.max_open_items = 2;
    let e = engine_with(store, config);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    for i in 0..2 {
        let up = EntityUpsert {
            entity_type: "t".into(),
            entity_id: format!("e{i}"),
            ..Default::default()
        };
        e.memory_upsert_entity(org_o(), id, &up, None).unwrap();
        let item = NewOpenItem {
            item_type: "todo".into(),
            description: format!("item {i}"),
            ..Default::default()
        };
        e.memory_add_open_item(org_o(), id, &item, None).unwrap();
    }
    // Updating an existing entity is fine at the bound; a new one is not.
    let again = EntityUpsert {
        entity_type: "t".into(),
        entity_id: "e0".into(),
        status: Some("ok".into()),
        ..Default::default()
    };
    e.memory_upsert_entity(org_o(), id, &again, None).unwrap();
    let third = EntityUpsert {
        entity_type: "t".into(),
        entity_id: "e2".into(),
        ..Default::default()
    };
    assert_invalid(
        e.memory_upsert_entity(org_o(), id, &third, None),
        "entities",
    );
    let item = NewOpenItem {
        item_type: "todo".into(),
        description: "third".into(),
        ..Default::default()
    };
    assert_invalid(
        e.memory_add_open_item(org_o(), id, &item, None),
        "open_items",
    );
}

/// docs/semantics.md 6: open items get stable ids and are removed by id.
pub fn memory_open_items<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let item = NewOpenItem {
        item_type: "follow_up".into(),
        description: "Confirm delivery".into(),
        priority: Some("medium".into()),
        related_to: Some(EntityRef {
            entity_type: "order".into(),
            entity_id: "order-8821".into(),
        }),
    };
    let (_, a) = e.memory_add_open_item(org_o(), id, &item, None).unwrap();
    let (m, b) = e
        .memory_add_open_item(
            org_o(),
            id,
            &NewOpenItem {
                item_type: "todo".into(),
                description: "b".into(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(
        m.open_items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    assert_eq!(m.open_items[0].priority.as_deref(), Some("medium"));
    assert_eq!(m.open_items[1].priority, None);
    let m = e.memory_remove_open_item(org_o(), id, a.id, None).unwrap();
    assert_eq!(
        m.open_items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![b.id]
    );
    assert!(matches!(
        e.memory_remove_open_item(org_o(), id, a.id, None),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.memory_remove_open_item(org_o(), id, OpenItemId(Uuid::now_v7()), None),
        Err(Error::NotFound { .. })
    ));
    assert_invalid(
        e.memory_add_open_item(
            org_o(),
            id,
            &NewOpenItem {
                item_type: "todo".into(),
                description: " ".into(),
                ..Default::default()
            },
            None,
        ),
        "description",
    );
    assert_invalid(
        e.memory_add_open_item(
            org_o(),
            id,
            &NewOpenItem {
                item_type: "".into(),
                description: "d".into(),
                ..Default::default()
            },
            None,
        ),
        "type",
    );
}

/// docs/semantics.md 6: history keeps only the newest entries.
pub fn memory_history_is_bounded<S: Store>(store: S) {
    let mut config = Config::default();
    config.memory.max_history = 3;
    let e = engine_with(store, config);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    for i in 0..5 {
        e.memory_replace_summary(org_o(), id, &format!("s{i}"), None)
            .unwrap();
    }
    let m = e.memory_get(org_o(), id).unwrap();
    let values: Vec<_> = m.memory_history.iter().map(|h| h.value.clone()).collect();
    assert_eq!(values, vec![json!("s2"), json!("s3"), json!("s4")]);
}

/// docs/semantics.md 6: reset deletes the record (its id is `NotFound`, a later create starts
/// empty); resetting nothing succeeds.
pub fn memory_reset<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let keep = memory(&e, c, &persona("other"));
    e.memory_replace_summary(org_o(), id, "old", None).unwrap();
    assert!(e.memory_reset(org_o(), c, &persona("p")).unwrap());
    assert!(matches!(
        e.memory_get(org_o(), id),
        Err(Error::NotFound { .. })
    ));
    assert!(
        !e.memory_reset(org_o(), c, &persona("p")).unwrap(),
        "resetting nothing succeeds"
    );
    let fresh = e.memory_create(org_o(), c, &persona("p")).unwrap();
    assert!(fresh.created);
    assert_ne!(fresh.memory.id, id);
    assert_eq!(fresh.memory.summary, None);
    assert!(fresh.memory.memory_history.is_empty());
    assert!(
        e.memory_get(org_o(), keep).is_ok(),
        "reset touched another scope"
    );
    assert_invalid(
        e.memory_reset(org_o(), c, &ScopeRequest::default()),
        "persona_id",
    );
}

/// docs/semantics.md 6: every record has a revision; a write naming a stale revision is `Conflict`
/// and writes nothing.
pub fn memory_revision_prevents_lost_updates<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    let r1 = e.memory_get(org_o(), id).unwrap().revision;
    assert_eq!(r1, 1);
    let m = e
        .memory_replace_summary(org_o(), id, "mine", Some(r1))
        .unwrap();
    assert_eq!(m.revision, 2);
    // Someone else read revision 1 too; their write must not silently win.
    assert!(matches!(
        e.memory_replace_summary(org_o(), id, "theirs", Some(r1)),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        e.memory_append_messages(org_o(), id, &[msg(Role::User, "x", "sms", None)], Some(r1)),
        Err(Error::Conflict { .. })
    ));
    let now = e.memory_get(org_o(), id).unwrap();
    assert_eq!((now.summary.as_deref(), now.revision), (Some("mine"), 2));
}

/// docs/semantics.md 6, 3.8: concurrent creates of one scope make one record; concurrent appends
/// without a revision all land (no lost update), and none gives up with a conflict: sixteen
/// writers on one record, as a busy agent's sessions are.
pub fn memory_concurrent_writes<S: Store>(store: S) {
    let e = Arc::new(engine_with(
        store,
        Config::default().with_message_window(1000),
    ));
    let c = new_contact(&e);
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let mut created = 0;
                let mut id = None;
                for i in 0..20 {
                    let out = e.memory_create(org_o(), c, &persona("shared")).unwrap();
                    created += usize::from(out.created);
                    id = Some(out.memory.id);
                    e.memory_append_messages(
                        org_o(),
                        out.memory.id,
                        &[msg(Role::User, &format!("{t}-{i}"), "sms", None)],
                        None,
                    )
                    .unwrap();
                }
                (created, id.unwrap())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().map(|r| r.0).sum::<usize>(),
        1,
        "one record created"
    );
    assert!(results.windows(2).all(|w| w[0].1 == w[1].1));
    let m = e.memory_get(org_o(), results[0].1).unwrap();
    assert_eq!(m.recent_messages.len(), 320, "an append was lost");
    assert_eq!(m.revision, 321);
}

/// The seed's list shape: memories embedded in contacts by list, get and find, with
/// exactly the seed's fields, entities inside.
pub fn memory_embedded_json_shape<S: Store>(store: S) {
    let e = engine(store);
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("p"));
    e.memory_upsert_entity(
        org_o(),
        id,
        &EntityUpsert {
            entity_type: "order".into(),
            entity_id: "o-1".into(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let page = serde_json::to_value(e.list(org_o(), ListRequest::default()).unwrap()).unwrap();
    let embedded = &page["data"][0]["memories"][0];
    assert_eq!(
        keys(embedded),
        set(&[
            "id",
            "contact_id",
            "persona_id",
            "agent_number",
            "summary",
            "facts",
            "recent_messages",
            "open_items",
            "entities"
        ])
    );
    assert_eq!(
        keys(&embedded["entities"][0]),
        set(&[
            "entity_type",
            "entity_id",
            "facts",
            "status",
            "last_discussed_at",
            "notes"
        ])
    );
    let got = serde_json::to_value(e.get(org_o(), c).unwrap()).unwrap();
    assert_eq!(got, page["data"][0]);
    let found = e
        .find(org_o(), &FindRequest::new().with_phone("+14155550192"))
        .unwrap();
    assert_eq!(serde_json::to_value(found).unwrap(), page["data"][0]);
    let standalone = serde_json::to_value(e.memory_get(org_o(), id).unwrap()).unwrap();
    let required = set(&[
        "id",
        "org_id",
        "contact_id",
        "persona_id",
        "agent_number",
        "summary",
        "facts",
        "recent_messages",
        "open_items",
        "memory_history",
        "created_at",
        "updated_at",
    ]);
    assert!(keys(&standalone).is_superset(&required), "{standalone}");
}

/// The list seed's example (Sarah Chen, persona `persona-12345678`), rebuilt through
/// the engine with the injected clock and ids, compared field by field.
pub fn seed_list_example_is_reproduced<S: Store>(store: S) {
    let clock = Arc::new(ManualClock::new(EPOCH, 0));
    let e = Engine::new(store)
        .with_clock(Arc::clone(&clock))
        .with_id_generator(SequentialIds::new());
    let set_clock = |t: Timestamp| clock.set(t);
    let at = |s: &str| Timestamp::parse(s).unwrap();
    let seed_org = org_o();
    // The first call: a new contact with its phone and source, and the persona's memory.
    set_clock(at("2025-07-20T10:30:00.000Z"));
    let first = e
        .resolve(
            seed_org,
            &ResolveRequest::new()
                .with_phone("+1 (415) 555-0192")
                .with_metadata(json!({"source": "inbound_call"}))
                .with_persona("persona-12345678"),
        )
        .unwrap();
    let contact = first.contact.id;
    let mem = first.memory.unwrap().id;
    // The SMS follow-up: her name is learnt, the memory is updated.
    set_clock(at("2025-07-23T09:10:00.000Z"));
    e.memory_append_messages(
        seed_org,
        mem,
        &[
            msg(
                Role::User,
                "Has my order shipped yet?",
                "sms",
                Some(at("2025-07-23T09:10:00.000Z").as_millis()),
            ),
            msg(
                Role::Assistant,
                "Yes, order #8821 shipped this morning. Expected delivery is Friday July 25.",
                "sms",
                Some(at("2025-07-23T09:10:05.000Z").as_millis()),
            ),
        ],
        None,
    )
    .unwrap();
    e.memory_merge_facts(
        seed_org,
        mem,
        &facts(json!({"name": "Sarah Chen", "phone": "+14155550192", "preferred_contact": "sms", "timezone": "America/Los_Angeles"})),
        None,
    )
    .unwrap();
    e.memory_upsert_entity(
        seed_org,
        mem,
        &EntityUpsert {
            entity_type: "order".into(),
            entity_id: "order-8821".into(),
            facts: Some(facts(json!({"order_number": "#8821", "status": "in_transit", "carrier": "UPS", "expected_delivery": "2025-07-25"}))),
            status: Some("in_transit".into()),
            notes: None,
            last_discussed_at: Some(at("2025-07-23T09:10:00.000Z")),
        },
        None,
    )
    .unwrap();
    e.memory_add_open_item(
        seed_org,
        mem,
        &NewOpenItem {
            item_type: "follow_up".into(),
            description: "Confirm delivery of order #8821 on July 25".into(),
            priority: Some("medium".into()),
            related_to: Some(EntityRef {
                entity_type: "order".into(),
                entity_id: "order-8821".into(),
            }),
        },
        None,
    )
    .unwrap();
    e.memory_replace_summary(
        seed_org,
        mem,
        "Customer called about order #8821 which was delayed. Follow-up SMS confirmed the order shipped and is now in transit. Expected delivery July 25.",
        None,
    )
    .unwrap();
    set_clock(at("2025-07-23T09:15:00.000Z"));
    e.resolve(
        seed_org,
        &ResolveRequest::new()
            .with_phone("+14155550192")
            .with_name("Sarah Chen"),
    )
    .unwrap();

    let seed: Value = serde_json::from_str(SEED_LIST_DATA).unwrap();
    let ours = serde_json::to_value(e.list(seed_org, ListRequest::default()).unwrap()).unwrap();
    let ours = &ours["data"][0];
    // Ids come from the injected generator, not the seed's placeholders.
    let mut expected = seed.clone();
    expected["id"] = json!(contact);
    expected["org_id"] = json!(seed_org);
    expected["identifiers"][0]["id"] = ours["identifiers"][0]["id"].clone();
    expected["identifiers"][0]["contact_id"] = json!(contact);
    expected["memories"][0]["id"] = json!(mem);
    expected["memories"][0]["contact_id"] = json!(contact);
    // Our open items carry their stable id as an additional field.
    expected["memories"][0]["open_items"][0]["id"] =
        ours["memories"][0]["open_items"][0]["id"].clone();
    assert_eq!(ours, &expected, "\nours: {ours:#}\nseed: {expected:#}");
}

/// The first contact of `004_3fc11eb35350b479.txt`'s example, verbatim.
const SEED_LIST_DATA: &str = r##"{
  "id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
  "org_id": "11111111-2222-3333-4444-555555555555",
  "name": "Sarah Chen",
  "metadata": {
    "source": "inbound_call"
  },
  "created_at": "2025-07-20T10:30:00.000Z",
  "updated_at": "2025-07-23T09:15:00.000Z",
  "identifiers": [
    {
      "id": "ident-aaaaaaaa-1111-2222-3333-bbbbbbbbbbbb",
      "contact_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      "identifier_type": "phone_number",
      "identifier_value": "+14155550192",
      "is_primary": true
    }
  ],
  "memories": [
    {
      "id": "mem-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      "contact_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      "persona_id": "persona-12345678",
      "agent_number": null,
      "summary": "Customer called about order #8821 which was delayed. Follow-up SMS confirmed the order shipped and is now in transit. Expected delivery July 25.",
      "facts": {
        "name": "Sarah Chen",
        "phone": "+14155550192",
        "preferred_contact": "sms",
        "timezone": "America/Los_Angeles"
      },
      "recent_messages": [
        {
          "role": "user",
          "content": "Has my order shipped yet?",
          "channel": "sms",
          "timestamp": "2025-07-23T09:10:00.000Z"
        },
        {
          "role": "assistant",
          "content": "Yes, order #8821 shipped this morning. Expected delivery is Friday July 25.",
          "channel": "sms",
          "timestamp": "2025-07-23T09:10:05.000Z"
        }
      ],
      "open_items": [
        {
          "type": "follow_up",
          "description": "Confirm delivery of order #8821 on July 25",
          "created_at": "2025-07-23T09:10:00.000Z",
          "priority": "medium",
          "related_to": {
            "entity_type": "order",
            "entity_id": "order-8821"
          }
        }
      ],
      "entities": [
        {
          "entity_type": "order",
          "entity_id": "order-8821",
          "facts": {
            "order_number": "#8821",
            "status": "in_transit",
            "carrier": "UPS",
            "expected_delivery": "2025-07-25"
          },
          "status": "in_transit",
          "last_discussed_at": "2025-07-23T09:10:00.000Z",
          "notes": null
        }
      ]
    }
  ]
}"##;

/// docs/semantics.md 6, "Bounds": a record may not outgrow its byte bound (the write that
/// would is refused, naming `memory`, and the record stays as it was, readable), and a
/// contact may not hold more records than its bound, by `memory_create` or by resolve
/// with a new scope; a reset makes room again.
pub fn memory_record_size_and_count_are_bounded<S: Store>(store: S) {
    let store = Arc::new(store);
    let mut config = Config::default();
    config.memory.max_record_bytes = 8 * 1024;
    config.memory.max_memories_per_contact = 3;
    let e = engine_with(Arc::clone(&store), config.clone());
    let c = new_contact(&e);
    let id = memory(&e, c, &persona("big"));
    let facts = |i: usize| {
        let mut f = serde_json::Map::new();
        f.insert(
            "blob".into(),
            Value::String(format!("{i}{}", "x".repeat(1_500))),
        );
        f
    };
    let mut refused = None;
    for i in 0..20 {
        let upsert = EntityUpsert {
            entity_type: "order".into(),
            entity_id: format!("o-{i}"),
            facts: Some(facts(i)),
            ..Default::default()
        };
        match e.memory_upsert_entity(org_o(), id, &upsert, None) {
            Ok(_) => {}
            Err(err) => {
                refused = Some((i, err));
                break;
            }
        }
    }
    let (at, err) = refused.expect("the record reached its bound");
    assert!(at >= 3, "a few entities fit first ({at})");
    match err {
        Error::InvalidInput { field, reason } => {
            assert_eq!(field, "memory");
            assert!(reason.contains("bytes"), "{reason}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    let kept = e.memory_get(org_o(), id).unwrap();
    assert_eq!(kept.entities.len(), at, "the refused write changed nothing");
    assert_eq!(kept.revision, 1 + at as u64);
    assert!(
        serde_json::to_vec(&kept).unwrap().len() <= 8 * 1024,
        "the stored record is within the bound"
    );
    // Under a lower bound the record is too big already: it takes writes that shrink
    // it, and refuses those that would grow it.
    let mut lower = config.clone();
    lower.memory.max_record_bytes = 2 * 1024;
    let strict = engine_with(Arc::clone(&store), lower);
    let grow = EntityUpsert {
        entity_type: "order".into(),
        entity_id: "o-new".into(),
        ..Default::default()
    };
    assert!(
        strict
            .memory_upsert_entity(org_o(), id, &grow, None)
            .is_err()
    );
    let shrunk = strict
        .memory_remove_entity(org_o(), id, "order", "o-0", None)
        .unwrap();
    assert_eq!(shrunk.entities.len(), at - 1, "a shrinking write is taken");

    // Three records per contact; a fourth scope is refused either way it is asked.
    memory(&e, c, &persona("two"));
    memory(&e, c, &ScopeRequest::agent_number("+14155550000"));
    let fourth = e.memory_create(org_o(), c, &persona("four"));
    assert!(
        matches!(&fourth, Err(Error::InvalidInput { field, .. }) if field == "scope"),
        "{fourth:?}"
    );
    let phone = e.get(org_o(), c).unwrap().identifiers[0]
        .identifier_value
        .clone();
    let by_resolve = e.resolve(
        org_o(),
        &ResolveRequest::new()
            .with_phone(phone.as_str())
            .with_persona("four"),
    );
    assert!(
        matches!(&by_resolve, Err(Error::InvalidInput { field, .. }) if field == "scope"),
        "{by_resolve:?}"
    );
    // An existing scope is still served, and a reset makes room.
    assert!(
        !e.memory_create(org_o(), c, &persona("two"))
            .unwrap()
            .created
    );
    assert!(e.memory_reset(org_o(), c, &persona("two")).unwrap());
    assert!(
        e.memory_create(org_o(), c, &persona("four"))
            .unwrap()
            .created
    );
    assert_eq!(e.get(org_o(), c).unwrap().memories.len(), 3);
}
