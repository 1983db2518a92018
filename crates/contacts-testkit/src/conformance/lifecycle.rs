//! Conformance scenarios for the contact lifecycle (docs/semantics.md 4).

use std::sync::atomic::{AtomicBool, Ordering};

use contacts_core::store::{CommitError, WriteBatch, WriteOp};
use contacts_core::{
    Config, ContactId, Engine, EntityUpsert, Error, FindRequest, IdentifierId, IdentifierKind,
    JsonObject, ListRequest, NewMessage, NewOpenItem, OrgId, ResolveRequest, Result, Role,
    ScopeRequest, Store, Timestamp, UpdateRequest,
};
use serde_json::{Value, json};
use uuid::Uuid;

use IdentifierKind::{Email, ExternalId, PhoneNumber};

use super::{EPOCH, assert_invalid, engine, engine_with, org_o, org_p};

fn resolve<S: Store>(e: &Engine<S>, req: ResolveRequest) -> ContactId {
    e.resolve(org_o(), &req).unwrap().contact.id
}

fn phone(p: &str) -> ResolveRequest {
    ResolveRequest::new().with_phone(p)
}

fn shown<S: Store>(e: &Engine<S>, id: ContactId) -> Vec<(IdentifierKind, String, bool)> {
    e.get(org_o(), id)
        .unwrap()
        .identifiers
        .into_iter()
        .map(|i| (i.identifier_type, i.identifier_value, i.is_primary))
        .collect()
}

fn owner<S: Store>(e: &Engine<S>, req: FindRequest) -> Option<ContactId> {
    e.find(org_o(), &req).unwrap().map(|c| c.contact.id)
}

fn snapshot<S: Store>(e: &Engine<S>) -> Value {
    serde_json::to_value(e.list(org_o(), ListRequest::new(200, 0)).unwrap()).unwrap()
}

pub(super) fn facts(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// docs/semantics.md 4: `name` replaces; a blank name is `InvalidInput`; an update that changes
/// nothing leaves `updated_at` alone.
pub fn update_replaces_name<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_name("Old"))
        .unwrap()
        .contact;
    let c = e
        .update(
            org_o(),
            a.id,
            &UpdateRequest::new().with_name("  New Name "),
        )
        .unwrap();
    assert_eq!(c.name.as_deref(), Some("New Name"));
    assert!(c.updated_at > a.updated_at);
    assert_eq!(c.created_at, a.created_at);
    let same = e
        .update(org_o(), a.id, &UpdateRequest::new().with_name("New Name"))
        .unwrap();
    assert_eq!(
        same.updated_at, c.updated_at,
        "a no-op update changed updated_at"
    );
    assert_invalid(
        e.update(org_o(), a.id, &UpdateRequest::new().with_name("   ")),
        "name",
    );
    assert_invalid(
        e.update(org_o(), a.id, &UpdateRequest::new().with_name("a\0b")),
        "name",
    );
    assert_invalid(
        e.update(
            org_o(),
            a.id,
            &UpdateRequest::new().with_name("n".repeat(257)),
        ),
        "name",
    );
    assert_eq!(e.get(org_o(), a.id).unwrap().contact, same);
    assert!(matches!(
        e.update(
            org_o(),
            ContactId(Uuid::now_v7()),
            &UpdateRequest::new().with_name("x")
        ),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.update(org_p(), a.id, &UpdateRequest::new().with_name("x")),
        Err(Error::NotFound { .. })
    ));
}

/// docs/semantics.md 4: metadata is a JSON Merge Patch (RFC 7396): recursive merge, `null` deletes.
pub fn update_metadata_is_a_merge_patch<S: Store>(store: S) {
    let e = engine(store);
    let a = resolve(
        &e,
        phone("+14155550192").with_metadata(
            json!({"source": "api", "prefs": {"sms": true, "call": false}, "tmp": 1}),
        ),
    );
    let c = e
        .update(
            org_o(),
            a,
            &UpdateRequest::new().with_metadata(
                json!({"prefs": {"call": true, "lang": "en"}, "tmp": null, "tier": "gold"}),
            ),
        )
        .unwrap();
    assert_eq!(
        Value::Object(c.metadata.to_object()),
        json!({"source": "api", "prefs": {"sms": true, "call": true, "lang": "en"}, "tier": "gold"})
    );
    assert_invalid(
        e.update(org_o(), a, &UpdateRequest::new().with_metadata(json!([1]))),
        "metadata",
    );
    let mut deep = json!(1);
    for _ in 0..17 {
        deep = json!({ "d": deep });
    }
    assert_invalid(
        e.update(org_o(), a, &UpdateRequest::new().with_metadata(deep)),
        "metadata",
    );
    assert_eq!(
        Value::Object(e.get(org_o(), a).unwrap().contact.metadata.to_object()),
        json!({"source": "api", "prefs": {"sms": true, "call": true, "lang": "en"}, "tier": "gold"})
    );
}

/// docs/semantics.md 4: `email` and `phone_number` add an identifier (primary if first of its
/// kind); one already held is a no-op; a cap overflow is `Conflict`.
pub fn update_adds_identifiers<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_cap(Email, 2));
    let a = resolve(&e, phone("+14155550192"));
    e.update(
        org_o(),
        a,
        &UpdateRequest::new()
            .with_email("A@Example.com")
            .with_phone("+1 415 555 0193"),
    )
    .unwrap();
    let before = e.get(org_o(), a).unwrap();
    let same = e
        .update(
            org_o(),
            a,
            &UpdateRequest::new().with_email("a@example.com"),
        )
        .unwrap();
    assert_eq!(same.updated_at, before.contact.updated_at);
    e.update(
        org_o(),
        a,
        &UpdateRequest::new().with_email("b@example.com"),
    )
    .unwrap();
    assert_eq!(
        shown(&e, a),
        vec![
            (Email, "a@example.com".into(), true),
            (Email, "b@example.com".into(), false),
            (PhoneNumber, "+14155550192".into(), true),
            (PhoneNumber, "+14155550193".into(), false),
        ]
    );
    let before = e.get(org_o(), a).unwrap();
    let full = e.update(
        org_o(),
        a,
        &UpdateRequest::new()
            .with_email("c@example.com")
            .with_name("Changed"),
    );
    assert!(matches!(full, Err(Error::Conflict { .. })), "{full:?}");
    assert_eq!(
        e.get(org_o(), a).unwrap(),
        before,
        "a refused update changed something"
    );
    assert_eq!(
        owner(&e, FindRequest::new().with_email("c@example.com")),
        None
    );
    assert_invalid(
        e.update(org_o(), a, &UpdateRequest::new().with_email("broken")),
        "email",
    );
    assert_invalid(
        e.update(org_o(), a, &UpdateRequest::new().with_email("null")),
        "email",
    );
    assert_invalid(
        e.update(org_o(), a, &UpdateRequest::new().with_phone(" ")),
        "phone_number",
    );
}

/// docs/semantics.md 4: `external_id` replaces the contact's external id; the old one is free.
pub fn update_replaces_external_id<S: Store>(store: S) {
    let e = engine(store);
    let a = resolve(&e, phone("+14155550192").with_external_id("u-1"));
    e.update(org_o(), a, &UpdateRequest::new().with_external_id("u-2"))
        .unwrap();
    assert_eq!(
        shown(&e, a),
        vec![
            (ExternalId, "u-2".into(), true),
            (PhoneNumber, "+14155550192".into(), true)
        ]
    );
    assert_eq!(
        owner(&e, FindRequest::new().with_external_id("u-2")),
        Some(a)
    );
    let fresh = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("u-1"))
        .unwrap();
    assert!(fresh.created, "the old external id was not freed");
}

/// docs/semantics.md 4: an identifier owned by another contact is `Conflict` and nothing changes.
pub fn update_conflicts_with_another_owner<S: Store>(store: S) {
    let e = engine(store);
    let a = resolve(&e, phone("+14155550192"));
    let b = resolve(
        &e,
        ResolveRequest::new()
            .with_email("b@example.com")
            .with_external_id("u-b"),
    );
    let before = snapshot(&e);
    for req in [
        UpdateRequest::new()
            .with_email("B@example.com")
            .with_name("Stolen"),
        UpdateRequest::new().with_external_id("u-b"),
        UpdateRequest::new()
            .with_phone("+14155550100")
            .with_email("b@example.com"),
    ] {
        assert!(matches!(
            e.update(org_o(), a, &req),
            Err(Error::Conflict { .. })
        ));
    }
    assert_eq!(snapshot(&e), before, "a refused update wrote something");
    assert_eq!(
        owner(&e, FindRequest::new().with_email("b@example.com")),
        Some(b)
    );
}

/// docs/semantics.md 4: merge moves the duplicate's identifiers to the primary, keeps the
/// primary's name (or takes the duplicate's), unions metadata with the primary
/// winning, and deletes the duplicate.
pub fn merge_moves_identifiers_and_deletes_duplicate<S: Store>(store: S) {
    let e = engine(store);
    let p = resolve(
        &e,
        phone("+14155550192").with_metadata(json!({"source": "call", "a": 1})),
    );
    let d = resolve(
        &e,
        ResolveRequest::new()
            .with_email("sarah@example.com")
            .with_phone("+14155550193")
            .with_external_id("u-1")
            .with_name("Sarah")
            .with_metadata(json!({"source": "web", "b": 2})),
    );
    let before_total = e
        .list(org_o(), ListRequest::default())
        .unwrap()
        .pagination
        .total;
    let merged = e.merge(org_o(), p, d).unwrap();
    assert_eq!(merged.id, p);
    assert_eq!(merged.name.as_deref(), Some("Sarah"), "primary had no name");
    assert_eq!(
        Value::Object(merged.metadata.to_object()),
        json!({"source": "call", "a": 1, "b": 2})
    );
    assert_eq!(
        shown(&e, p),
        vec![
            (ExternalId, "u-1".into(), true),
            (Email, "sarah@example.com".into(), true),
            (PhoneNumber, "+14155550192".into(), true),
            (PhoneNumber, "+14155550193".into(), false),
        ]
    );
    assert!(matches!(e.get(org_o(), d), Err(Error::NotFound { .. })));
    for req in [
        FindRequest::new().with_email("sarah@example.com"),
        FindRequest::new().with_phone("+14155550193"),
        FindRequest::new().with_external_id("u-1"),
    ] {
        assert_eq!(owner(&e, req), Some(p));
    }
    let again = e.resolve(org_o(), &phone("+14155550193")).unwrap();
    assert_eq!((again.contact.id, again.created), (p, false));
    assert_eq!(
        e.list(org_o(), ListRequest::default())
            .unwrap()
            .pagination
            .total,
        before_total - 1
    );
    assert_eq!(e.get(org_o(), p).unwrap().contact, merged);
    // A named primary keeps its name.
    let q = resolve(&e, phone("+14155550194").with_name("Keeps"));
    let r = resolve(&e, phone("+14155550195").with_name("Loses"));
    assert_eq!(
        e.merge(org_o(), q, r).unwrap().name.as_deref(),
        Some("Keeps")
    );
}

/// docs/semantics.md 4: a merge that would break a cap is refused with `Conflict`; nothing changes.
/// Merging a contact with itself is `InvalidInput`; another org's contact is
/// `NotFound`.
pub fn merge_refusals<S: Store>(store: S) {
    let e = engine(store);
    let a = resolve(&e, phone("+14155550192").with_external_id("u-1"));
    let b = resolve(&e, phone("+14155550193").with_external_id("u-2"));
    let before = snapshot(&e);
    assert!(matches!(
        e.merge(org_o(), a, b),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(snapshot(&e), before);
    match e.merge(org_o(), a, a) {
        Err(Error::InvalidInput { reason, .. }) => {
            assert_eq!(reason, "Cannot merge a contact with itself")
        }
        other => panic!("{other:?}"),
    }
    let other = e
        .resolve(org_p(), &phone("+14155550199"))
        .unwrap()
        .contact
        .id;
    assert!(matches!(
        e.merge(org_o(), a, other),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.merge(org_o(), other, a),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.merge(org_o(), a, ContactId(Uuid::now_v7())),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(snapshot(&e), before);
}

pub(super) fn msg(content: &str, ts: i64) -> NewMessage {
    NewMessage {
        role: Role::User,
        content: content.to_owned(),
        channel: "sms".to_owned(),
        timestamp: Some(Timestamp::from_millis(
            EPOCH.as_millis() - 100_000 + ts * 1000,
        )),
    }
}

/// docs/semantics.md 4: a memory scope only the duplicate has moves to the primary (same record
/// id); a scope both have is combined: facts union with the primary winning, messages
/// interleaved by timestamp and trimmed to the window (the newest kept), entities
/// merged by key, open items concatenated, the primary's summary unless empty.
pub fn merge_moves_and_combines_memories<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_message_window(4));
    let p = resolve(&e, phone("+14155550192"));
    let d = resolve(&e, phone("+14155550193"));
    let shared = ScopeRequest::persona("shared");
    let pm = e.memory_create(org_o(), p, &shared).unwrap().memory.id;
    let dm = e.memory_create(org_o(), d, &shared).unwrap().memory.id;
    let only = e
        .memory_create(org_o(), d, &ScopeRequest::agent_number("+14155550900"))
        .unwrap()
        .memory
        .id;
    e.memory_append_messages(
        org_o(),
        pm,
        &[msg("p1", 1), msg("p3", 3), msg("p5", 5)],
        None,
    )
    .unwrap();
    e.memory_append_messages(
        org_o(),
        dm,
        &[msg("d2", 2), msg("d4", 4), msg("d6", 6)],
        None,
    )
    .unwrap();
    e.memory_merge_facts(
        org_o(),
        pm,
        &facts(json!({"tz": "PT", "name": "Sarah"})),
        None,
    )
    .unwrap();
    e.memory_merge_facts(org_o(), dm, &facts(json!({"tz": "ET", "pet": "cat"})), None)
        .unwrap();
    e.memory_replace_summary(org_o(), dm, "duplicate's summary", None)
        .unwrap();
    let order = |id: &str, status: Option<&str>, f: Value| EntityUpsert {
        entity_type: "order".into(),
        entity_id: id.into(),
        facts: Some(facts(f)),
        status: status.map(String::from),
        ..Default::default()
    };
    e.memory_upsert_entity(
        org_o(),
        pm,
        &order("o-1", Some("shipped"), json!({"carrier": "UPS"})),
        None,
    )
    .unwrap();
    e.memory_upsert_entity(
        org_o(),
        dm,
        &order(
            "o-1",
            Some("pending"),
            json!({"carrier": "DHL", "eta": "fri"}),
        ),
        None,
    )
    .unwrap();
    e.memory_upsert_entity(org_o(), dm, &order("o-2", None, json!({})), None)
        .unwrap();
    let item = |d: &str| NewOpenItem {
        item_type: "todo".into(),
        description: d.into(),
        ..Default::default()
    };
    e.memory_add_open_item(org_o(), pm, &item("primary's"), None)
        .unwrap();
    e.memory_add_open_item(org_o(), dm, &item("duplicate's"), None)
        .unwrap();
    e.memory_append_messages(org_o(), only, &[msg("agent", 1)], None)
        .unwrap();

    e.merge(org_o(), p, d).unwrap();

    let combined = e.memory_get(org_o(), pm).unwrap();
    let contents: Vec<_> = combined
        .recent_messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(
        contents,
        vec!["p3", "d4", "p5", "d6"],
        "interleaved, newest 4 kept"
    );
    assert_eq!(
        Value::Object(combined.facts.clone()),
        json!({"tz": "PT", "name": "Sarah", "pet": "cat"})
    );
    assert_eq!(
        combined.summary.as_deref(),
        Some("duplicate's summary"),
        "the primary's was empty"
    );
    assert_eq!(combined.entities.len(), 2);
    let o1 = &combined.entities[0];
    assert_eq!(o1.status.as_deref(), Some("shipped"));
    assert_eq!(
        Value::Object(o1.facts.clone()),
        json!({"carrier": "UPS", "eta": "fri"})
    );
    let items: Vec<_> = combined
        .open_items
        .iter()
        .map(|i| i.description.as_str())
        .collect();
    assert_eq!(items, vec!["primary's", "duplicate's"]);
    assert!(matches!(
        e.memory_get(org_o(), dm),
        Err(Error::NotFound { .. })
    ));
    let moved = e.memory_get(org_o(), only).unwrap();
    assert_eq!(
        moved.contact_id, p,
        "the duplicate-only record moved, keeping its id"
    );
    assert_eq!(moved.recent_messages.len(), 1);
    let got = e.get(org_o(), p).unwrap();
    assert_eq!(got.memories.len(), 2);
    // A non-empty primary summary wins.
    let q = resolve(&e, phone("+14155550194"));
    let r = resolve(&e, phone("+14155550195"));
    let qm = e.memory_create(org_o(), q, &shared).unwrap().memory.id;
    let rm = e.memory_create(org_o(), r, &shared).unwrap().memory.id;
    e.memory_replace_summary(org_o(), qm, "primary's summary", None)
        .unwrap();
    e.memory_replace_summary(org_o(), rm, "duplicate's summary", None)
        .unwrap();
    e.merge(org_o(), q, r).unwrap();
    assert_eq!(
        e.memory_get(org_o(), qm).unwrap().summary.as_deref(),
        Some("primary's summary")
    );
}

/// docs/semantics.md 4: deleting a contact takes its identifiers and memories with it; its
/// identifiers become free.
pub fn delete_frees_identifiers<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_email("a@example.com")
                .with_persona("p"),
        )
        .unwrap();
    let id = a.contact.id;
    let memory = a.memory.unwrap().id;
    let keep = resolve(&e, phone("+14155550100"));
    e.delete(org_o(), id).unwrap();
    assert!(matches!(e.get(org_o(), id), Err(Error::NotFound { .. })));
    assert!(matches!(
        e.memory_get(org_o(), memory),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(e.delete(org_o(), id), Err(Error::NotFound { .. })));
    assert_eq!(
        owner(&e, FindRequest::new().with_email("a@example.com")),
        None
    );
    let fresh = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    assert!(fresh.created, "the freed phone must create a new contact");
    assert_ne!(fresh.contact.id, id);
    let page = e.list(org_o(), ListRequest::default()).unwrap();
    let ids: Vec<_> = page.data.iter().map(|c| c.contact.id).collect();
    assert_eq!(ids, vec![keep, fresh.contact.id]);
    assert!(matches!(
        e.delete(org_p(), keep),
        Err(Error::NotFound { .. })
    ));
}

/// docs/semantics.md 2.2, 4: detaching an identifier frees it; if it was primary, the oldest
/// remaining one of its kind becomes primary.
pub fn detach_frees_and_promotes_the_oldest<S: Store>(store: S) {
    let e = engine(store);
    let a = resolve(&e, phone("+14155550101"));
    e.update(org_o(), a, &UpdateRequest::new().with_phone("+14155550103"))
        .unwrap();
    e.update(org_o(), a, &UpdateRequest::new().with_phone("+14155550102"))
        .unwrap();
    let before = e.get(org_o(), a).unwrap();
    let first = before.identifiers[0].id;
    let after = e.detach(org_o(), a, first).unwrap();
    assert_eq!(
        after,
        e.get(org_o(), a).unwrap(),
        "detach returns the contact as stored"
    );
    assert!(after.contact.updated_at > before.contact.updated_at);
    assert_eq!(
        shown(&e, a),
        vec![
            (PhoneNumber, "+14155550103".into(), true),
            (PhoneNumber, "+14155550102".into(), false)
        ]
    );
    let recycled = e.resolve(org_o(), &phone("+14155550101")).unwrap();
    assert!(recycled.created, "a detached number is free");
    // Detaching a non-primary one changes no flags.
    let second = e.get(org_o(), a).unwrap().identifiers[1].id;
    e.detach(org_o(), a, second).unwrap();
    assert_eq!(
        shown(&e, a),
        vec![(PhoneNumber, "+14155550103".into(), true)]
    );
    assert!(matches!(
        e.detach(org_o(), a, second),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.detach(org_o(), a, IdentifierId(Uuid::now_v7())),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.detach(org_p(), a, first),
        Err(Error::NotFound { .. })
    ));
}

/// A store that fails a commit after all of its writes were applied, by appending a
/// precondition that cannot hold, and reports the failure as a storage error. It
/// proves a backend undoes the writes a batch already made.
#[derive(Debug)]
pub struct FailLate<S> {
    /// The real store.
    pub store: S,
    /// When set, every commit fails at its end.
    pub armed: AtomicBool,
}

#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for FailLate<S> {
    crate::forward_store_reads!(store);

    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<(), CommitError> {
        if !self.armed.load(Ordering::SeqCst) {
            return self.store.commit(org, batch);
        }
        let mut doomed = batch.clone();
        doomed.ops.push(WriteOp::Expect {
            contact_id: ContactId(Uuid::now_v7()),
            version: 1,
        });
        match self.store.commit(org, &doomed) {
            Err(CommitError::Precondition(_)) => Err(CommitError::backend(
                "fail-late",
                "injected failure at the end of a batch",
            )),
            other => panic!("the doomed batch did not fail: {other:?}"),
        }
    }

    // Through this store's own commit, so a held write fails late too.
    fn commit_holding_memory(
        &self,
        org: OrgId,
        _: contacts_core::MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> Result<(), CommitError> {
        decide().map_or(Ok(()), |batch| self.commit(org, &batch))
    }
}

/// docs/semantics.md 4: every lifecycle operation is one atomic write: a failure after its writes
/// were applied leaves nothing changed.
pub fn lifecycle_writes_are_atomic<S: Store>(store: S) {
    let e = engine(FailLate {
        store,
        armed: AtomicBool::new(false),
    });
    let p = e
        .resolve(org_o(), &phone("+14155550192").with_persona("s"))
        .unwrap();
    let d = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("d@example.com")
                .with_phone("+14155550193")
                .with_persona("s"),
        )
        .unwrap();
    let (p, d, pm) = (p.contact.id, d.contact.id, p.memory.unwrap().id);
    e.memory_append_messages(org_o(), pm, &[msg("hello", 1)], None)
        .unwrap();
    let before = snapshot(&e);
    e.store().armed.store(true, Ordering::SeqCst);
    let phone_id = e.get(org_o(), d).unwrap().identifiers[1].id;
    let attempts: Vec<(&str, Result<()>)> = vec![
        ("merge", e.merge(org_o(), p, d).map(drop)),
        ("delete", e.delete(org_o(), d)),
        (
            "update",
            e.update(
                org_o(),
                p,
                &UpdateRequest::new()
                    .with_email("new@example.com")
                    .with_name("N"),
            )
            .map(drop),
        ),
        ("detach", e.detach(org_o(), d, phone_id).map(drop)),
        (
            "resolve",
            e.resolve(org_o(), &phone("+14155550199").with_persona("s"))
                .map(drop),
        ),
        (
            "memory",
            e.memory_replace_summary(org_o(), pm, "x", None).map(drop),
        ),
        (
            "reset",
            e.memory_reset(org_o(), p, &ScopeRequest::persona("s"))
                .map(drop),
        ),
    ];
    for (what, result) in attempts {
        assert!(
            matches!(result, Err(Error::Storage { .. })),
            "{what}: {result:?}"
        );
        assert_eq!(snapshot(&e), before, "{what} left a partial write");
    }
    e.store().armed.store(false, Ordering::SeqCst);
    e.merge(org_o(), p, d).unwrap();
    assert_ne!(snapshot(&e), before);
}
