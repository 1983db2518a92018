//! Conformance scenarios for memory changes per call or conversation
//! (docs/semantics.md 6, "Memory changes"; the Store contract, rule 16).

use std::sync::Arc;

use contacts_core::{
    ConversationKey, ConversationLog, EntityUpsert, MemoryId, NewOpenItem, ScopeRequest,
    WriteOptions,
};

use super::lifecycle::msg;
use super::*;

fn during(key: &ConversationKey) -> WriteOptions {
    WriteOptions::default().in_conversation(key.clone())
}

fn order(id: &str) -> EntityUpsert {
    EntityUpsert {
        entity_type: "order".into(),
        entity_id: id.into(),
        status: Some("in_transit".into()),
        ..EntityUpsert::default()
    }
}

fn assert_no_changes<S: Store>(e: &Engine<S>, org: OrgId, key: &ConversationKey) {
    match e.memory_changes(org, key) {
        Err(err @ Error::NotFound { .. }) => assert_eq!(
            err.message(),
            "Call or conversation not found, or no memory data available"
        ),
        other => panic!("expected NotFound for {key:?}, got {other:?}"),
    }
}

fn record<S: Store>(e: &Engine<S>, persona: &str) -> (ContactId, MemoryId) {
    let c = e
        .resolve(org_o(), &phone("+14155550192"))
        .unwrap()
        .contact
        .id;
    let m = e
        .memory_create(org_o(), c, &ScopeRequest::persona(persona))
        .unwrap()
        .memory
        .id;
    (c, m)
}

/// docs/semantics.md 6, "Memory changes": the first write naming a call keeps the
/// memory as it was; each later one updates the new full value of every part that
/// differs from it, the messages it appended and the history entries it made; a call
/// and an SMS conversation with the same id are apart, as are orgs; a call writes to
/// one record; concurrent writes of one call lose nothing.
pub fn memory_changes_follow_a_call<S: Store>(store: S) {
    let e = Arc::new(engine(store));
    let (c, m) = record(&e, "p");
    e.memory_replace_summary(org_o(), m, "Before the call.", None)
        .unwrap();
    let tz = json!({"timezone": "America/Los_Angeles"});
    e.memory_merge_facts(org_o(), m, tz.as_object().unwrap(), None)
        .unwrap();

    let call = ConversationKey::call("call-8821");
    assert_no_changes(&e, org_o(), &call);
    e.memory_replace_summary(org_o(), m, "Asked about order 8821.", during(&call))
        .unwrap();
    let plan = json!({"plan": "gold"});
    e.memory_merge_facts(org_o(), m, plan.as_object().unwrap(), during(&call))
        .unwrap();
    e.memory_append_messages(
        org_o(),
        m,
        &[msg("hi", 1), msg("where is it?", 2)],
        during(&call),
    )
    .unwrap();
    let rec = e
        .memory_upsert_entity(org_o(), m, &order("order-8821"), during(&call))
        .unwrap();

    let log: ConversationLog = e.memory_changes(org_o(), &call).unwrap();
    assert_eq!(log.memory_id, m);
    assert_eq!(log.writes, 4);
    assert_eq!(
        log.initial_memory.summary.as_deref(),
        Some("Before the call.")
    );
    assert_eq!(Value::Object(log.initial_memory.facts.clone()), tz);
    assert!(log.initial_memory.entities.is_empty() && log.initial_memory.open_items.is_empty());
    assert_eq!(
        log.changes.summary.as_deref(),
        Some("Asked about order 8821.")
    );
    assert_eq!(
        Value::Object(log.changes.facts.clone().unwrap()),
        json!({"timezone": "America/Los_Angeles", "plan": "gold"}),
        "the new full value, not the patch"
    );
    assert_eq!(log.changes.entities.as_ref(), Some(&rec.entities));
    assert_eq!(log.changes.open_items, None, "unchanged parts are absent");
    let texts: Vec<_> = log
        .changes
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(texts, ["hi", "where is it?"]);
    let kinds: Vec<_> = log
        .memory_history
        .iter()
        .map(|h| h.entry_type.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["summary_update", "facts_update"],
        "only this call's entries"
    );
    assert_eq!(log.memory_history[1].value, plan);
    assert!(log.started_at <= log.updated_at);
    let shape = serde_json::to_value(&log).unwrap();
    for key in ["initial_memory", "changes", "memory_history"] {
        assert!(shape.get(key).is_some(), "{key} missing from {shape}");
    }

    // The same id as an SMS conversation, or in another org, is another conversation.
    assert_no_changes(&e, org_o(), &ConversationKey::sms("call-8821"));
    assert_no_changes(&e, org_p(), &call);
    assert_invalid(
        e.memory_changes(org_o(), &ConversationKey::call(" ")),
        "call_id",
    );

    // A call writes to one record: a write to another naming it is refused, whole.
    let other = e
        .memory_create(org_o(), c, &ScopeRequest::persona("q"))
        .unwrap()
        .memory;
    assert_invalid(
        e.memory_replace_summary(org_o(), other.id, "x", during(&call)),
        "call_id",
    );
    assert_eq!(
        e.memory_get(org_o(), other.id).unwrap().revision,
        other.revision
    );
    assert_eq!(e.memory_changes(org_o(), &call).unwrap(), log);

    // The next conversation starts from where the call left the memory, and tells a
    // removal as the part's new value.
    let sms = ConversationKey::sms("conv-1");
    let (_, item) = e
        .memory_add_open_item(
            org_o(),
            m,
            &NewOpenItem {
                item_type: "follow_up".into(),
                description: "Confirm delivery".into(),
                ..NewOpenItem::default()
            },
            during(&sms),
        )
        .unwrap();
    e.memory_remove_entity(org_o(), m, "order", "order-8821", during(&sms))
        .unwrap();
    let next = e.memory_changes(org_o(), &sms).unwrap();
    assert_eq!(next.initial_memory.entities, rec.entities);
    assert_eq!(next.changes.entities, Some(Vec::new()));
    assert_eq!(next.changes.open_items, Some(vec![item]));
    assert_eq!(next.changes.summary, None);
    assert!(next.memory_history.is_empty());

    // Concurrent writes of one call: every one is in its log.
    let busy = ConversationKey::call("call-busy");
    std::thread::scope(|s| {
        for t in 0..4 {
            let (e, busy) = (&e, &busy);
            s.spawn(move || {
                for i in 0..5 {
                    let fact = json!({ format!("k{t}"): i });
                    e.memory_merge_facts(org_o(), m, fact.as_object().unwrap(), during(busy))
                        .unwrap();
                }
            });
        }
    });
    let log = e.memory_changes(org_o(), &busy).unwrap();
    assert_eq!(log.writes, 20, "a write was lost");
    assert_eq!(log.memory_history.len(), 20);
    let facts = log.changes.facts.unwrap();
    assert!((0..4).all(|t| facts[&format!("k{t}")] == 4), "{facts:?}");
}

/// docs/semantics.md 6, "Memory changes", and Store contract 16: a record keeps the
/// logs of its newest `max_conversations` conversations (by first write); a reset,
/// a deletion of the contact and a merge that combines the record erase its logs; an
/// unmerge that gives a moved record back drops the logs of calls made during the
/// merge; 0 keeps none.
pub fn memory_changes_are_bounded_and_erased<S: Store>(store: S) {
    let store = Arc::new(store);
    let mut config = Config::default();
    config.memory.max_conversations = 2;
    let e = engine_with(Arc::clone(&store), config);
    let (a, m) = record(&e, "p");
    let call = |i: u32| ConversationKey::call(format!("call-{i}"));
    let write = |key: &ConversationKey, text: &str| {
        e.memory_replace_summary(org_o(), m, text, during(key))
            .unwrap();
    };
    write(&call(1), "one");
    write(&call(2), "two");
    write(&call(3), "three");
    assert_no_changes(&e, org_o(), &call(1));
    assert_eq!(e.memory_changes(org_o(), &call(2)).unwrap().writes, 1);
    // A write of a dropped call starts it afresh, newest, and drops the oldest kept.
    write(&call(1), "one again");
    let again = e.memory_changes(org_o(), &call(1)).unwrap();
    assert_eq!(
        (again.writes, again.initial_memory.summary.as_deref()),
        (1, Some("three"))
    );
    assert_no_changes(&e, org_o(), &call(2));
    write(&call(3), "three again");
    assert_eq!(e.memory_changes(org_o(), &call(3)).unwrap().writes, 2);

    // A reset erases the record's logs.
    e.memory_reset(org_o(), a, &ScopeRequest::persona("p"))
        .unwrap();
    assert_no_changes(&e, org_o(), &call(1));
    assert_no_changes(&e, org_o(), &call(3));

    // So does deleting the contact.
    let m2 = e
        .memory_create(org_o(), a, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    e.memory_replace_summary(org_o(), m2, "x", during(&call(4)))
        .unwrap();
    assert_eq!(e.memory_changes(org_o(), &call(4)).unwrap().memory_id, m2);
    e.delete(org_o(), a).unwrap();
    assert_no_changes(&e, org_o(), &call(4));

    // A merge that combines the duplicate's record into the primary's erases the
    // duplicate record's logs, and moves a record whole with its logs.
    let p = e
        .resolve(org_o(), &phone("+14155550100"))
        .unwrap()
        .contact
        .id;
    let d = e
        .resolve(org_o(), &phone("+14155550101"))
        .unwrap()
        .contact
        .id;
    let pm = e
        .memory_create(org_o(), p, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    let dm = e
        .memory_create(org_o(), d, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    let dq = e
        .memory_create(org_o(), d, &ScopeRequest::persona("q"))
        .unwrap()
        .memory
        .id;
    e.memory_replace_summary(org_o(), pm, "primary", during(&call(5)))
        .unwrap();
    e.memory_replace_summary(org_o(), dm, "duplicate", during(&call(6)))
        .unwrap();
    e.memory_replace_summary(org_o(), dq, "moved", during(&call(7)))
        .unwrap();
    e.merge(org_o(), p, d).unwrap();
    assert_eq!(e.memory_changes(org_o(), &call(5)).unwrap().memory_id, pm);
    assert_no_changes(&e, org_o(), &call(6));
    assert_eq!(e.memory_changes(org_o(), &call(7)).unwrap().memory_id, dq);

    // An unmerge gives the moved record back under its id; a call written to it during
    // the merge wrote what stays with the primary, so its log goes, and none of the
    // restored contact's logs describes the primary's memory. A call from before
    // stays with the record.
    e.memory_replace_summary(org_o(), dq, "merged", during(&call(9)))
        .unwrap();
    let out = e.unmerge(org_o(), p, d).unwrap();
    assert!(out.duplicate.memories.iter().any(|m| m.id == dq));
    assert_no_changes(&e, org_o(), &call(9));
    assert_eq!(e.memory_changes(org_o(), &call(7)).unwrap().memory_id, dq);
    assert_eq!(e.memory_changes(org_o(), &call(5)).unwrap().memory_id, pm);

    // Off: writes naming a call are taken, and nothing is kept.
    let mut off = Config::default();
    off.memory.max_conversations = 0;
    let e = engine_with(store, off);
    e.memory_replace_summary(org_o(), pm, "y", during(&call(8)))
        .unwrap();
    assert_no_changes(&e, org_o(), &call(8));
}
