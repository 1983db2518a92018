//! The system under test: the engine over a store, checked against the model's
//! prediction after every step, and the invariants checked between steps.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use contacts_core::{
    ContactId, EmbeddedMemory, Engine, EntityUpsert, Error, FindRequest, HistoryKind,
    IdentifierKind, JsonObject, ListRequest, MemoryId, MemoryScope, NewMessage, NewOpenItem,
    OpenItemId, Role, ScopeRequest, Store, Timestamp,
};
use proptest_state_machine::StateMachineTest;

use super::*;
use crate::Validating;
use crate::conformance::engine_with;
use crate::model::{CONFLICT, NOT_FOUND};

/// The store under test, with the real ids the model's indexes map to.
#[derive(Debug)]
pub struct Sut<S> {
    engine: Engine<S>,
    ids: BTreeMap<(u8, usize), ContactId>,
    updated_at: BTreeMap<(u8, usize), Timestamp>,
    memories: BTreeMap<(u8, usize, MemoryScope), MemoryId>,
    /// The records a merged-away contact had, which an unmerge gives back by id.
    retired: BTreeMap<(u8, usize, MemoryScope), MemoryId>,
}

/// A memory's content, in a form the model and every engine view can be compared in.
type Content = (
    Option<String>,
    JsonObject,
    Vec<(Role, String, String, i64)>,
    Vec<(String, String, Option<String>, JsonObject)>,
    Vec<String>,
);

fn model_content(m: &ModelMemory) -> Content {
    (
        m.summary.clone(),
        m.facts.clone(),
        m.messages.clone(),
        m.entities.clone(),
        m.open_items.iter().map(|(_, d)| d.clone()).collect(),
    )
}

/// A `not_restored` field without its ids, as [`crate::model::Model::unmerge`] names
/// it: `memories.<id>.facts.a` is `facts.a`, `identifiers.<id>` is `identifiers`.
fn category(field: &str) -> String {
    field
        .split('.')
        .filter(|s| *s != "memories" && uuid::Uuid::parse_str(s).is_err())
        .collect::<Vec<_>>()
        .join(".")
}

fn scope_of_record(state: &RefState, m: &EmbeddedMemory) -> MemoryScope {
    let scope = ScopeRequest {
        persona_id: m.persona_id.clone(),
        agent_number: m.agent_number.clone(),
    };
    scope_of(state, &scope).expect("a stored record has a valid scope")
}

fn content(
    summary: &Option<String>,
    facts: &JsonObject,
    messages: &[contacts_core::Message],
    entities: &[contacts_core::Entity],
    items: &[contacts_core::OpenItem],
) -> Content {
    (
        summary.clone(),
        facts.clone(),
        messages
            .iter()
            .map(|x| {
                (
                    x.role,
                    x.content.clone(),
                    x.channel.clone(),
                    x.timestamp.as_millis(),
                )
            })
            .collect(),
        entities
            .iter()
            .map(|e| {
                (
                    e.entity_type.clone(),
                    e.entity_id.clone(),
                    e.status.clone(),
                    e.facts.clone(),
                )
            })
            .collect(),
        items.iter().map(|i| i.description.clone()).collect(),
    )
}

fn engine_content(m: &EmbeddedMemory) -> Content {
    content(
        &m.summary,
        &m.facts,
        &m.recent_messages,
        &m.entities,
        &m.open_items,
    )
}

/// Runs a memory write of `op` through the engine; `None` for the ops that are not
/// writes to one record (reset and context take a contact and a scope instead).
pub(crate) fn write_memory<S: Store>(
    e: &Engine<S>,
    org: OrgId,
    id: MemoryId,
    op: &MemoryOp,
    revision: Option<u64>,
) -> Option<Result<contacts_core::MemoryRecord, Error>> {
    let at = Timestamp::from_millis(crate::conformance::EPOCH.as_millis() - 1);
    Some(match op {
        MemoryOp::Reset | MemoryOp::Context => return None,
        MemoryOp::Append(msgs) => {
            let msgs: Vec<_> = msgs
                .iter()
                .map(|(role, content, channel, ts)| NewMessage {
                    role: *role,
                    content: content.clone(),
                    channel: channel.clone(),
                    timestamp: Some(Timestamp::from_millis(*ts)),
                })
                .collect();
            e.memory_append_messages(org, id, &msgs, revision)
        }
        MemoryOp::Summary(text) => e.memory_replace_summary(org, id, text, revision),
        MemoryOp::Facts(f) => e.memory_merge_facts(org, id, f, revision),
        MemoryOp::Upsert(entity, status, f) => e.memory_upsert_entity(
            org,
            id,
            &EntityUpsert {
                entity_type: "order".into(),
                entity_id: entity.clone(),
                facts: Some(f.clone()),
                status: status.clone(),
                notes: None,
                last_discussed_at: Some(at),
            },
            revision,
        ),
        MemoryOp::RemoveEntity(entity) => {
            e.memory_remove_entity(org, id, "order", entity, revision)
        }
        MemoryOp::AddItem(d) => e
            .memory_add_open_item(
                org,
                id,
                &NewOpenItem {
                    item_type: "todo".into(),
                    description: d.clone(),
                    ..NewOpenItem::default()
                },
                revision,
            )
            .map(|(record, _)| record),
        MemoryOp::RemoveItem(i) => {
            let item = e
                .memory_get(org, id)
                .ok()
                .and_then(|r| r.open_items.get(*i).map(|x| x.id))
                .unwrap_or(OpenItemId(uuid::Uuid::from_u128(8888)));
            e.memory_remove_open_item(org, id, item, revision)
        }
    })
}

fn scope_of(state: &RefState, scope: &ScopeRequest) -> Option<MemoryScope> {
    state
        .model
        .scope(scope.persona_id.as_deref(), scope.agent_number.as_deref())
        .ok()
        .flatten()
}

/// The state-machine test over stores from `F`.
#[derive(Debug)]
pub struct StoreMachine<F>(PhantomData<F>);

fn expect_rejected<T: std::fmt::Debug>(real: Result<T, Error>, field: &str) {
    match real {
        Err(Error::Conflict { .. }) if field == CONFLICT => {}
        Err(Error::NotFound { .. }) if field == NOT_FOUND => {}
        Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
        other => panic!("model rejects naming {field}, engine gave {other:?}"),
    }
}

impl<F: StoreFactory> StateMachineTest for StoreMachine<F> {
    type SystemUnderTest = Sut<Validating<F::Store>>;
    type Reference = ModelMachine;

    fn init_test(_: &RefState) -> Sut<Validating<F::Store>> {
        Sut {
            engine: engine_with(Validating(F::make()), machine_config()),
            ids: BTreeMap::new(),
            updated_at: BTreeMap::new(),
            memories: BTreeMap::new(),
            retired: BTreeMap::new(),
        }
    }

    fn apply(
        mut sut: Sut<Validating<F::Store>>,
        state: &RefState,
        op: Op,
    ) -> Sut<Validating<F::Store>> {
        match (op, &state.expected) {
            (Op::Resolve(o, req), Expected::Resolve(expected)) => {
                let real = sut.engine.resolve(org(o), &req);
                let m = match expected {
                    Err(field) => {
                        expect_rejected(real, field);
                        return sut;
                    }
                    Ok(m) => m,
                };
                let out = real.expect("model accepts, engine must too");
                assert_eq!(out.created, m.created, "created");
                let key = (o, m.index);
                if m.created {
                    assert!(
                        sut.ids.insert(key, out.contact.id).is_none(),
                        "index reused"
                    );
                    assert_eq!(out.contact.created_at, out.contact.updated_at);
                } else {
                    assert_eq!(
                        Some(&out.contact.id),
                        sut.ids.get(&key),
                        "resolved to another contact"
                    );
                    let before = sut.updated_at[&key];
                    if m.changed {
                        assert!(
                            out.contact.updated_at > before,
                            "changed but updated_at kept"
                        );
                    } else {
                        assert_eq!(
                            out.contact.updated_at, before,
                            "unchanged but updated_at moved"
                        );
                    }
                }
                sut.updated_at.insert(key, out.contact.updated_at);
                let attached: Vec<_> = out
                    .attached
                    .iter()
                    .map(|a| (a.identifier_type, a.identifier_value.to_string()))
                    .collect();
                assert_eq!(attached, m.attached, "attached");
                let conflicts: BTreeSet<_> = out
                    .conflicts
                    .iter()
                    .map(|c| {
                        (
                            c.identifier_type,
                            c.identifier_value.clone(),
                            c.owner_contact_id,
                        )
                    })
                    .collect();
                let expected_conflicts: BTreeSet<_> = m
                    .conflicts
                    .iter()
                    .map(|(k, v, owner)| (*k, v.clone(), owner.map(|i| sut.ids[&(o, i)])))
                    .collect();
                assert_eq!(conflicts, expected_conflicts, "conflicts");
                let ignored: BTreeSet<_> = out.ignored.iter().map(|i| i.field).collect();
                assert_eq!(ignored, m.ignored, "ignored");
                assert_eq!(out.matched_by.is_some(), !m.created, "matched_by");
                assert_eq!(out.memory_created, m.memory_created, "memory_created");
                if let (Some(record), Some(scope)) = (
                    &out.memory,
                    scope_of(
                        state,
                        &ScopeRequest {
                            persona_id: req.persona_id.clone(),
                            agent_number: req.agent_number.clone(),
                        },
                    ),
                ) {
                    let known = sut.memories.insert((o, m.index, scope), record.id);
                    if out.memory_created == Some(false) {
                        assert_eq!(known, Some(record.id), "resolve returned another record");
                    }
                }
            }
            (Op::Find(o, req), Expected::Find(expected)) => {
                let real = sut.engine.find(org(o), &req);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(index) => assert_eq!(
                        real.expect("find").map(|c| c.contact.id),
                        index.map(|i| sut.ids[&(o, i)]),
                        "find"
                    ),
                }
            }
            (
                Op::Get {
                    owner_org,
                    index,
                    query_org,
                },
                Expected::Get(found, redirect),
            ) => {
                let id = sut.ids[&(owner_org, index)];
                match sut.engine.get(org(query_org), id) {
                    Ok(c) => {
                        assert!(*found, "another org's contact was visible");
                        assert_eq!(c.contact.id, id);
                    }
                    Err(Error::NotFound { merged_into, .. }) => {
                        assert!(!found, "own contact not found");
                        let expected = redirect.map(|i| sut.ids[&(owner_org, i)]);
                        assert_eq!(merged_into, expected, "where a merged-away id leads");
                    }
                    Err(e) => panic!("get: {e}"),
                }
            }
            (Op::GetUnknown(o), Expected::Get(false, None)) => {
                let id = ContactId(uuid::Uuid::now_v7());
                assert!(matches!(
                    sut.engine.get(org(o), id),
                    Err(Error::NotFound { .. })
                ));
            }
            (Op::List(o, limit, offset), Expected::List(expected)) => {
                let real = sut.engine.list(
                    org(o),
                    ListRequest {
                        limit,
                        offset,
                        after: None,
                    },
                );
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok((indexes, used, total)) => {
                        let page = real.expect("list");
                        let ids: Vec<_> = page.data.iter().map(|c| c.contact.id).collect();
                        let want: Vec<_> = indexes.iter().map(|i| sut.ids[&(o, *i)]).collect();
                        assert_eq!(ids, want, "page");
                        assert_eq!(page.pagination.limit, *used);
                        assert_eq!(page.pagination.total, *total);
                        let offset = offset.unwrap_or(0) as u64;
                        assert_eq!(
                            page.pagination.has_more,
                            offset + (ids.len() as u64) < *total
                        );
                    }
                }
            }
            (
                Op::MemoryCreate {
                    org: o,
                    index,
                    scope,
                },
                Expected::MemoryCreate(expected),
            ) => {
                let contact = sut.ids[&(o, index)];
                let real = sut.engine.memory_create(org(o), contact, &scope);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(created) => {
                        let out = real.expect("memory create");
                        assert_eq!(out.created, *created, "memory created");
                        let key = (o, index, scope_of(state, &scope).expect("valid scope"));
                        let known = sut.memories.insert(key, out.memory.id);
                        if !created {
                            assert_eq!(
                                known,
                                Some(out.memory.id),
                                "get-or-create gave another record"
                            );
                        }
                    }
                }
            }
            (
                Op::Memory {
                    org: o,
                    index,
                    scope,
                    op,
                    ..
                },
                Expected::Memory(expected, revision),
            ) => {
                let contact = sut.ids[&(o, index)];
                let key = (o, index, scope_of(state, &scope).expect("valid scope"));
                let id = sut
                    .memories
                    .get(&key)
                    .copied()
                    .unwrap_or(MemoryId(uuid::Uuid::from_u128(7777)));
                let e = &sut.engine;
                let real: Result<Option<Content>, Error> = match &op {
                    MemoryOp::Reset => {
                        let existed = e.memory_reset(org(o), contact, &scope);
                        if let Ok(existed) = &existed {
                            assert_eq!(
                                *existed,
                                sut.memories.contains_key(&key),
                                "reset reports whether a record existed"
                            );
                        }
                        sut.memories.remove(&key);
                        existed.map(|_| None)
                    }
                    MemoryOp::Context => e.memory_context(org(o), contact, &scope).map(|c| {
                        Some(content(
                            &c.summary,
                            &c.contact_facts,
                            &c.recent_messages,
                            &c.entities,
                            &c.open_items,
                        ))
                    }),
                    write => write_memory(e, org(o), id, write, *revision)
                        .expect("a write")
                        .map(|r| Some(engine_content(&r.embedded()))),
                };
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(m) => {
                        // A context without a record reads as empty content, so empty
                        // and absent compare equal here; the invariants compare records.
                        let empty: Content = (None, JsonObject::new(), vec![], vec![], vec![]);
                        let got = real
                            .expect("model accepts the memory op")
                            .filter(|c| *c != empty);
                        let want = m.as_ref().map(model_content).filter(|c| *c != empty);
                        assert_eq!(got, want, "memory content after {op:?}");
                    }
                }
            }
            (Op::Update(o, i, req), Expected::Update(expected)) => {
                let real = sut.engine.update(org(o), sut.ids[&(o, i)], &req);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(changed) => {
                        let c = real.expect("update");
                        let before = sut.updated_at[&(o, i)];
                        if *changed {
                            assert!(c.updated_at > before, "changed but updated_at kept");
                        } else {
                            assert_eq!(c.updated_at, before, "unchanged but updated_at moved");
                        }
                        sut.updated_at.insert((o, i), c.updated_at);
                    }
                }
            }
            (Op::Merge(o, p, d), Expected::Done(expected)) => {
                let real = sut.engine.merge(org(o), sut.ids[&(o, p)], sut.ids[&(o, d)]);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(()) => {
                        let c = real.expect("merge");
                        assert_eq!(c.id, sut.ids[&(o, p)]);
                        assert!(c.updated_at > sut.updated_at[&(o, p)]);
                        sut.updated_at.insert((o, p), c.updated_at);
                        let moved: Vec<_> = sut
                            .memories
                            .keys()
                            .filter(|(ko, ki, _)| *ko == o && *ki == d)
                            .cloned()
                            .collect();
                        sut.retired.retain(|(ko, ki, _), _| !(*ko == o && *ki == d));
                        for key in moved {
                            let id = sut.memories.remove(&key).expect("listed above");
                            sut.retired.insert(key.clone(), id);
                            let target = (o, p, key.2);
                            // A scope both had keeps the primary's record; one only the
                            // duplicate had moves with its id.
                            sut.memories.entry(target).or_insert(id);
                        }
                    }
                }
            }
            (Op::Unmerge(o, p, d), Expected::Unmerge(expected)) => {
                let real = sut
                    .engine
                    .unmerge(org(o), sut.ids[&(o, p)], sut.ids[&(o, d)]);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(lost) => {
                        let out = real.expect("unmerge");
                        assert_eq!(out.primary.contact.id, sut.ids[&(o, p)]);
                        assert_eq!(out.duplicate.contact.id, sut.ids[&(o, d)]);
                        let mut got: Vec<_> = out
                            .not_restored
                            .iter()
                            .map(|n| category(&n.field))
                            .collect();
                        got.sort();
                        assert_eq!(&got, lost, "not restored: {:?}", out.not_restored);
                        assert!(out.primary.contact.updated_at > sut.updated_at[&(o, p)]);
                        sut.updated_at
                            .insert((o, p), out.primary.contact.updated_at);
                        sut.updated_at
                            .insert((o, d), out.duplicate.contact.updated_at);
                        // The primary's records keep their ids, except where a record
                        // that moved whole went back: what was written to it since
                        // stays in a new record, under an id never seen before.
                        for m in &out.primary.memories {
                            let scope = scope_of_record(state, m);
                            let old = sut.memories.get(&(o, p, scope.clone())).copied();
                            if old == Some(m.id) {
                                continue;
                            }
                            let back = out
                                .duplicate
                                .memories
                                .iter()
                                .find(|x| scope_of_record(state, x) == scope)
                                .map(|x| x.id);
                            assert!(old.is_some() && old == back, "primary's record re-id'd");
                            let seen = sut.memories.values().chain(sut.retired.values());
                            assert!(seen.into_iter().all(|id| *id != m.id), "id reused");
                        }
                        // The duplicate's records come back under the ids they had.
                        for m in &out.duplicate.memories {
                            let key = (o, d, scope_of_record(state, m));
                            assert_eq!(sut.retired.remove(&key), Some(m.id), "record id back");
                            sut.memories.insert(key, m.id);
                        }
                        sut.memories
                            .retain(|(ko, ki, _), _| !(*ko == o && *ki == p));
                        for m in &out.primary.memories {
                            sut.memories.insert((o, p, scope_of_record(state, m)), m.id);
                        }
                    }
                }
            }
            (Op::Delete(o, i), Expected::Done(expected)) => {
                let real = sut.engine.delete(org(o), sut.ids[&(o, i)]);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(()) => {
                        real.expect("delete");
                        sut.memories
                            .retain(|(ko, ki, _), _| !(*ko == o && *ki == i));
                    }
                }
            }
            (Op::Detach(o, i, kind, value), Expected::Done(expected)) => {
                let contact = sut.ids[&(o, i)];
                let ident = sut
                    .engine
                    .get(org(o), contact)
                    .ok()
                    .and_then(|c| {
                        c.identifiers
                            .iter()
                            .find(|x| x.identifier_type == kind && x.identifier_value == value)
                            .map(|x| x.id)
                    })
                    .unwrap_or(contacts_core::IdentifierId(uuid::Uuid::from_u128(9999)));
                let real = sut.engine.detach(org(o), contact, ident);
                match expected {
                    Err(field) => expect_rejected(real, field),
                    Ok(()) => {
                        let c = real.expect("detach");
                        assert!(c.contact.updated_at > sut.updated_at[&(o, i)]);
                        sut.updated_at.insert((o, i), c.contact.updated_at);
                    }
                }
            }
            (op, expected) => panic!("op {op:?} does not match prediction {expected:?}"),
        }
        sut
    }

    fn check_invariants(sut: &Sut<Validating<F::Store>>, state: &RefState) {
        let model = &state.model;
        for o in 0..2u8 {
            // Page through everything: pages are disjoint, cover the org, in order.
            let mut listed = Vec::new();
            let mut offset = 0i64;
            loop {
                let page = sut
                    .engine
                    .list(org(o), ListRequest::new(7, offset))
                    .expect("list");
                offset += page.data.len() as i64;
                let more = page.pagination.has_more;
                listed.extend(page.data);
                if !more {
                    break;
                }
            }
            let contacts: Vec<(usize, &crate::model::ModelContact)> = model
                .contacts(org(o))
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.deleted)
                .collect();
            assert_eq!(listed.len(), contacts.len(), "contact count in org {o}");
            // Whatever the engine accepted reads back on every path (docs/semantics.md
            // 7): the export, get and find show what the list shows, and each memory
            // reads whole, as messages and as context.
            let exported: Vec<_> = sut
                .engine
                .export(org(o))
                .collect::<Result<_, _>>()
                .expect("export");
            assert_eq!(exported, listed, "export of org {o}");
            for real in &listed {
                let got = sut.engine.get(org(o), real.contact.id).expect("get");
                assert_eq!(&got, real, "get of {}", real.contact.id);
                if let Some(x) = real.identifiers.first() {
                    let value = x.identifier_value.clone();
                    let find = match x.identifier_type {
                        IdentifierKind::PhoneNumber => FindRequest::new().with_phone(value),
                        IdentifierKind::Email => FindRequest::new().with_email(value),
                        IdentifierKind::ExternalId => FindRequest::new().with_external_id(value),
                    };
                    let found = sut.engine.find(org(o), &find).expect("find");
                    assert_eq!(found.as_ref(), Some(real), "find by {}", x.identifier_value);
                }
                for rm in &real.memories {
                    sut.engine
                        .memory_messages(org(o), rm.id)
                        .expect("memory messages");
                    let scope = ScopeRequest {
                        persona_id: rm.persona_id.clone(),
                        agent_number: rm.agent_number.clone(),
                    };
                    sut.engine
                        .memory_context(org(o), real.contact.id, &scope)
                        .expect("memory context");
                }
            }
            let mut owners = BTreeSet::new();
            for (real, (i, m)) in listed.iter().zip(contacts) {
                assert_eq!(Some(&real.contact.id), sut.ids.get(&(o, i)), "list order");
                assert_eq!(real.contact.org_id, org(o), "org isolation");
                assert_eq!(
                    real.contact.name.as_deref(),
                    m.name.as_deref(),
                    "name of {i}"
                );
                assert_eq!(
                    real.contact.metadata.to_object(),
                    m.metadata,
                    "metadata of {i}"
                );
                let shown: Vec<_> = real
                    .identifiers
                    .iter()
                    .map(|x| (x.identifier_type, x.identifier_value.clone(), x.is_primary))
                    .collect();
                assert_eq!(shown, model.shown_identifiers(m), "identifiers of {i}");
                for kind in IdentifierKind::ALL {
                    let n = real
                        .identifiers
                        .iter()
                        .filter(|x| x.identifier_type == kind)
                        .count();
                    assert!(n as u32 <= model.config().cap(kind), "cap of {kind}");
                    let primaries = real
                        .identifiers
                        .iter()
                        .filter(|x| x.identifier_type == kind && x.is_primary)
                        .count();
                    assert_eq!(primaries, usize::from(n > 0), "one primary per kind");
                }
                assert_eq!(real.memories.len(), m.memories.len(), "memories of {i}");
                for (rm, mm) in real.memories.iter().zip(&m.memories) {
                    let (persona, agent) = mm.scope.parts();
                    assert_eq!(
                        (rm.persona_id.as_deref(), rm.agent_number.as_deref()),
                        (persona, agent)
                    );
                    assert_eq!(rm.contact_id, real.contact.id);
                    assert_eq!(engine_content(rm), model_content(mm), "memory of {i}");
                    assert_eq!(
                        sut.memories.get(&(o, i, mm.scope.clone())),
                        Some(&rm.id),
                        "memory id of {i}"
                    );
                    let revision = sut
                        .engine
                        .memory_get(org(o), rm.id)
                        .expect("memory")
                        .revision;
                    assert_eq!(revision, mm.revision, "revision of {i}");
                    assert!(
                        sut.engine.memory_get(org(1 - o), rm.id).is_err(),
                        "memory visible from another org"
                    );
                }
                for x in &real.identifiers {
                    assert_eq!(x.contact_id, real.contact.id);
                    assert!(
                        owners.insert((x.identifier_type, x.identifier_value.clone())),
                        "{} has two owners",
                        x.identifier_value
                    );
                }
            }
            check_history(sut, model, o);
        }
    }
}

/// History never disagrees with state (docs/semantics.md 4, "History"): every contact
/// the org ever had has entries without gaps; a live one's newest is at its version and
/// its first is its creation; a merged-away one ends merged into another; a deleted one
/// (or one merged into a contact deleted since) keeps only redacted entries.
fn check_history<S: Store>(sut: &Sut<S>, model: &Model, o: u8) {
    for (i, c) in model.contacts(org(o)).iter().enumerate() {
        let id = sut.ids[&(o, i)];
        let entries = sut
            .engine
            .history(org(o), id, 0, 200)
            .expect("history")
            .entries;
        assert!(
            entries.windows(2).all(|w| w[1].version == w[0].version + 1),
            "history of {i} has a gap: {entries:?}"
        );
        let last = entries.last().expect("every contact has history");
        if !c.deleted {
            let version = sut
                .engine
                .store()
                .contact_version(org(o), id)
                .expect("version")
                .expect("live");
            assert_eq!(last.version, version, "history of {i} behind its version");
            assert_eq!(entries[0].kind, HistoryKind::Created, "history of {i}");
            assert!(entries.iter().all(|e| !e.redacted), "history of {i}");
        } else if c.merged_into.is_some() {
            assert_eq!(last.kind, HistoryKind::MergedInto, "history of {i}");
            assert!(!last.redacted, "a merge is not an erasure");
        } else {
            assert!(
                entries.iter().all(|e| e.redacted),
                "history of deleted {i} kept personal values"
            );
        }
    }
}
