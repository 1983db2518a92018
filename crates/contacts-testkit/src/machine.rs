//! Model-based testing with `proptest-state-machine`: random sequences of resolve, find,
//! get and list run against a real store and the [`Model`] in lockstep, checking after
//! every step that they agree and that SPEC's invariants hold.
//!
//! A backend runs it with:
//!
//! ```ignore
//! struct Factory;
//! impl contacts_testkit::machine::StoreFactory for Factory {
//!     type Store = contacts_inmemory::InMemoryStore;
//!     fn make() -> Self::Store { contacts_inmemory::InMemoryStore::new() }
//! }
//! proptest_state_machine::prop_state_machine! {
//!     #![proptest_config(contacts_testkit::machine::config())]
//!     #[test]
//!     fn model_test(sequential 1..40 => StoreMachine<Factory>);
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use contacts_core::{
    Config, ContactId, EmbeddedMemory, Engine, EntityUpsert, Error, FindRequest, IdentifierKind,
    ListRequest, MemoryId, MemoryScope, Metadata, NewMessage, NewOpenItem, OpenItemId, OrgId,
    ResolveRequest, Role, ScopeRequest, Store, Timestamp, UpdateRequest,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde_json::json;

use crate::conformance::{engine_with, org_o, org_p};
use crate::model::{CONFLICT, MemoryOp, Model, ModelMemory, ModelResolve, NOT_FOUND, Rejected};

/// Builds a fresh, empty store for each test case.
pub trait StoreFactory: 'static {
    /// The store type.
    type Store: Store;
    /// A new empty store.
    fn make() -> Self::Store;
}

/// Proptest settings: 256 cases by default (CI), `PROPTEST_CASES` raises it.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Shrinking a failing sequence is worth a while, but not forever.
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// The config under test: low caps so sequences reach them, yet three phones so the
/// order of non-primary identifiers is observable; a message window of 4.
pub fn machine_config() -> Config {
    Config::default()
        .with_message_window(4)
        .with_cap(IdentifierKind::PhoneNumber, 3)
        .with_cap(IdentifierKind::Email, 2)
}

/// Org 0 or 1 of the generated operations.
pub fn org(n: u8) -> OrgId {
    if n == 0 { org_o() } else { org_p() }
}

/// One step of a sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// Resolve in org 0 or 1.
    Resolve(u8, ResolveRequest),
    /// Find in org 0 or 1.
    Find(u8, FindRequest),
    /// Get contact `index` of org `owner_org` through org `query_org`.
    Get {
        /// The org the contact was created in.
        owner_org: u8,
        /// Its creation index there.
        index: usize,
        /// The org asking.
        query_org: u8,
    },
    /// Get an id nobody has.
    GetUnknown(u8),
    /// List a page.
    List(u8, Option<i64>, Option<i64>),
    /// Get-or-create the memory of contact `index` of org `org` for `scope`.
    MemoryCreate {
        /// The org.
        org: u8,
        /// The contact's creation index.
        index: usize,
        /// The scope.
        scope: ScopeRequest,
    },
    /// Update contact `index`.
    Update(u8, usize, UpdateRequest),
    /// Merge contact `.2` into contact `.1`.
    Merge(u8, usize, usize),
    /// Delete contact `index`.
    Delete(u8, usize),
    /// Detach identifier `(kind, value)` from contact `index`.
    Detach(u8, usize, IdentifierKind, String),
    /// A memory write or read of contact `index` for `scope`; with `stale`, the write
    /// names the revision before the current one.
    Memory {
        /// The org.
        org: u8,
        /// The contact's creation index.
        index: usize,
        /// The scope.
        scope: ScopeRequest,
        /// What to do.
        op: MemoryOp,
        /// Name a stale revision.
        stale: bool,
    },
}

/// What the model predicts for the last step.
#[derive(Clone, Debug)]
pub enum Expected {
    /// Nothing has run yet.
    Nothing,
    /// A resolve.
    Resolve(Result<ModelResolve, Rejected>),
    /// A find: the index of the found contact.
    Find(Result<Option<usize>, Rejected>),
    /// A get: found or not.
    Get(bool),
    /// A list page: indexes, limit used, total.
    List(Result<(Vec<usize>, u64, u64), Rejected>),
    /// A memory create: whether it created.
    MemoryCreate(Result<bool, Rejected>),
    /// An update: whether the contact changed.
    Update(Result<bool, Rejected>),
    /// A merge, delete or detach.
    Done(Result<(), Rejected>),
    /// A memory op: the record afterwards, and the revision named (if any).
    Memory(Result<Option<ModelMemory>, Rejected>, Option<u64>),
}

/// The reference state: the model and its prediction for the step just applied.
#[derive(Clone, Debug)]
pub struct RefState {
    /// The model.
    pub model: Model,
    /// The prediction for the last op.
    pub expected: Expected,
}

/// The reference state machine.
#[derive(Debug)]
pub struct ModelMachine;

fn pick<T: Clone + std::fmt::Debug + 'static>(valid: &[T], odd: &[T]) -> BoxedStrategy<T> {
    let valid = proptest::sample::select(valid.to_vec());
    let odd = proptest::sample::select(odd.to_vec());
    prop_oneof![12 => valid, 1 => odd].boxed()
}

fn phones() -> BoxedStrategy<Option<String>> {
    let valid = [
        None,
        Some("+14155550100"),
        Some("+1 (415) 555-0100"),
        Some("+14155550101"),
        Some("tel:+1-415-555-0102"),
        Some("0014155550103"),
        Some("+447911123456"),
        Some(""),
    ];
    let odd = [Some("0000000000"), Some("not a phone"), Some("555-0100")];
    pick(
        &valid.map(|o| o.map(String::from)),
        &odd.map(|o| o.map(String::from)),
    )
}

fn emails() -> BoxedStrategy<Option<String>> {
    let valid = [
        None,
        Some("a@example.com"),
        Some(" A@Example.com"),
        Some("b@example.com"),
        Some("c@example.com"),
        Some("  "),
    ];
    let odd = [Some("null"), Some("bad-email")];
    pick(
        &valid.map(|o| o.map(String::from)),
        &odd.map(|o| o.map(String::from)),
    )
}

fn external_ids() -> BoxedStrategy<Option<String>> {
    let valid = [
        None,
        None,
        Some("u-1"),
        Some("u-2"),
        Some("U-1"),
        Some("u-3"),
    ];
    let odd = [Some("undefined"), Some("")];
    pick(
        &valid.map(|o| o.map(String::from)),
        &odd.map(|o| o.map(String::from)),
    )
}

fn names() -> BoxedStrategy<Option<String>> {
    let valid = [
        None,
        None,
        Some("Ana".to_owned()),
        Some("Bob".to_owned()),
        Some("  ".to_owned()),
    ];
    let odd = [Some("n".repeat(257))];
    pick(&valid, &odd)
}

fn metadata() -> BoxedStrategy<Option<serde_json::Value>> {
    let valid = [
        None,
        None,
        Some(json!({})),
        Some(json!({"a": 1})),
        Some(json!({"b": "x"})),
        Some(json!({"a": 2, "c": {"d": true}})),
    ];
    let odd = [Some(json!([1]))];
    pick(&valid, &odd)
}

/// Resolve requests over small pools of identifiers, names and metadata, with
/// blank, junk and invalid values mixed in.
pub fn resolve_request() -> impl Strategy<Value = ResolveRequest> {
    (
        phones(),
        emails(),
        external_ids(),
        names(),
        metadata(),
        resolve_scopes(),
    )
        .prop_map(|(p, e, x, n, m, scope)| {
            let mut r = ResolveRequest::new();
            r.phone_number = p;
            r.email = e;
            r.external_id = x;
            r.name = n;
            r.metadata = m;
            r.persona_id = scope.persona_id;
            r.agent_number = scope.agent_number;
            r
        })
}

/// Scopes for resolve: mostly none, sometimes a persona or an agent number (in two
/// spellings), sometimes both, rarely an invalid agent number.
pub fn resolve_scopes() -> BoxedStrategy<ScopeRequest> {
    let s = |p: Option<&str>, a: Option<&str>| ScopeRequest {
        persona_id: p.map(String::from),
        agent_number: a.map(String::from),
    };
    let valid = [
        s(None, None),
        s(None, None),
        s(None, None),
        s(Some("p1"), None),
        s(Some("p2"), None),
        s(None, Some("+14155550900")),
        s(None, Some("+1 (415) 555-0900")),
        s(Some("p1"), Some("+14155550900")),
    ];
    pick(&valid, &[s(None, Some("not-a-number"))])
}

/// Update requests over the identifier pools, with names and metadata patches.
pub fn update_request() -> impl Strategy<Value = UpdateRequest> {
    let names = pick(
        &[None, None, Some("Zed".to_owned()), Some(" Ana ".to_owned())],
        &[Some("  ".to_owned())],
    );
    let patches = pick(
        &[
            None,
            None,
            Some(json!({"a": null})),
            Some(json!({"n": {"x": 1}})),
            Some(json!({"b": "y", "c": {"d": null}})),
        ],
        &[Some(json!([1]))],
    );
    let ids = |v: &[&str]| {
        proptest::option::weighted(
            0.3,
            proptest::sample::select(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()),
        )
    };
    (
        names,
        patches,
        ids(&["a@example.com", "B@example.com", "d@example.com", "null"]),
        ids(&["+14155550100", "+1 415 555 0104", "+14155550101"]),
        ids(&["u-1", "u-2", "u-9"]),
    )
        .prop_map(|(name, metadata, email, phone, ext)| {
            let mut r = UpdateRequest::new();
            r.name = name;
            r.metadata = metadata;
            r.email = email;
            r.phone_number = phone;
            r.external_id = ext;
            r
        })
}

/// Identifiers as stored, for detach.
pub fn stored_identifiers() -> impl Strategy<Value = (IdentifierKind, String)> {
    proptest::sample::select(vec![
        (IdentifierKind::PhoneNumber, "+14155550100".to_owned()),
        (IdentifierKind::PhoneNumber, "+14155550101".to_owned()),
        (IdentifierKind::PhoneNumber, "+14155550102".to_owned()),
        (IdentifierKind::PhoneNumber, "+14155550104".to_owned()),
        (IdentifierKind::Email, "a@example.com".to_owned()),
        (IdentifierKind::Email, "b@example.com".to_owned()),
        (IdentifierKind::ExternalId, "u-1".to_owned()),
        (IdentifierKind::ExternalId, "u-2".to_owned()),
    ])
}

/// Valid scopes for memory operations.
pub fn memory_scopes() -> BoxedStrategy<ScopeRequest> {
    proptest::sample::select(vec![
        ScopeRequest::persona("p1"),
        ScopeRequest::persona("p2"),
        ScopeRequest::agent_number("+14155550900"),
    ])
    .boxed()
}

/// Memory operations over small pools of values, with a rare invalid channel.
pub fn memory_ops() -> BoxedStrategy<MemoryOp> {
    let base = crate::conformance::EPOCH.as_millis();
    let message = (
        prop_oneof![Just(Role::User), Just(Role::Assistant)],
        proptest::sample::select(vec!["hi", "order?", "shipped", "thanks"]),
        prop_oneof![8 => Just("sms"), 4 => Just("call"), 1 => Just("SMS")],
        0i64..6,
    )
        .prop_map(move |(r, c, ch, t)| (r, c.to_owned(), ch.to_owned(), base - 10_000 + t * 1000));
    let small_facts = proptest::sample::select(vec![
        json!({"a": 1}),
        json!({"b": "x"}),
        json!({"a": 2, "c": null}),
    ])
    .prop_map(|v| match v {
        serde_json::Value::Object(m) => m,
        _ => Metadata::new(),
    });
    let entity_id = || proptest::sample::select(vec!["o1".to_owned(), "o2".to_owned()]);
    prop_oneof![
        4 => proptest::collection::vec(message, 1..4).prop_map(MemoryOp::Append),
        2 => proptest::sample::select(vec!["s1", "s2"]).prop_map(|t| MemoryOp::Summary(t.to_owned())),
        2 => small_facts.clone().prop_map(MemoryOp::Facts),
        2 => (entity_id(), proptest::option::of(proptest::sample::select(vec!["open".to_owned(), "done".to_owned()])), small_facts)
            .prop_map(|(id, st, f)| MemoryOp::Upsert(id, st, f)),
        1 => entity_id().prop_map(MemoryOp::RemoveEntity),
        2 => proptest::sample::select(vec!["call back", "send invoice"]).prop_map(|d| MemoryOp::AddItem(d.to_owned())),
        1 => (0usize..3).prop_map(MemoryOp::RemoveItem),
        1 => Just(MemoryOp::Reset),
        1 => Just(MemoryOp::Context),
    ]
    .boxed()
}

/// Find requests over the same pools.
pub fn find_request() -> impl Strategy<Value = FindRequest> {
    (phones(), emails(), external_ids()).prop_map(|(p, e, x)| {
        let mut r = FindRequest::new();
        r.phone_number = p;
        r.email = e;
        r.external_id = x;
        r
    })
}

/// List limits, in and out of range.
pub fn limits() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        (1i64..12).prop_map(Some),
        Just(Some(0)),
        Just(Some(-3)),
        Just(Some(500))
    ]
}

/// List offsets, in and out of range.
pub fn offsets() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), (0i64..20).prop_map(Some), Just(Some(-1))]
}

impl ReferenceStateMachine for ModelMachine {
    type State = RefState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<RefState> {
        Just(RefState {
            model: Model::new(machine_config()),
            expected: Expected::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Op> {
        let org_bit = || prop_oneof![4 => Just(0u8), 1 => Just(1u8)];
        let mut known = Vec::new();
        for o in 0..2u8 {
            for i in 0..state.model.contacts(org(o)).len() {
                known.push((o, i));
            }
        }
        let resolve = (org_bit(), resolve_request()).prop_map(|(o, r)| Op::Resolve(o, r));
        let find = (org_bit(), find_request()).prop_map(|(o, r)| Op::Find(o, r));
        let list = (org_bit(), limits(), offsets()).prop_map(|(o, l, f)| Op::List(o, l, f));
        let unknown = org_bit().prop_map(Op::GetUnknown);
        if known.is_empty() {
            prop_oneof![6 => resolve, 2 => find, 1 => list, 1 => unknown].boxed()
        } else {
            let get =
                (proptest::sample::select(known.clone()), org_bit()).prop_map(|((o, i), q)| {
                    Op::Get {
                        owner_org: o,
                        index: i,
                        query_org: q,
                    }
                });
            let contacts = proptest::sample::select(known);
            let create =
                (contacts.clone(), memory_scopes()).prop_map(|((o, i), scope)| Op::MemoryCreate {
                    org: o,
                    index: i,
                    scope,
                });
            let update =
                (contacts.clone(), update_request()).prop_map(|((o, i), r)| Op::Update(o, i, r));
            let pair = (contacts.clone(), 0usize..8).prop_map(|((o, i), j)| Op::Merge(o, i, j));
            let delete = contacts.clone().prop_map(|(o, i)| Op::Delete(o, i));
            let detach = (contacts.clone(), stored_identifiers())
                .prop_map(|((o, i), (k, v))| Op::Detach(o, i, k, v));
            let memory = (
                contacts,
                memory_scopes(),
                memory_ops(),
                proptest::bool::weighted(0.1),
            )
                .prop_map(|((o, i), scope, op, stale)| Op::Memory {
                    org: o,
                    index: i,
                    scope,
                    op,
                    stale,
                });
            prop_oneof![
                6 => resolve,
                2 => find,
                2 => get,
                1 => list,
                1 => unknown,
                2 => create,
                6 => memory,
                3 => update,
                1 => pair,
                1 => delete,
                1 => detach,
            ]
            .boxed()
        }
    }

    fn preconditions(state: &RefState, op: &Op) -> bool {
        match op {
            Op::Get {
                owner_org, index, ..
            } => *index < state.model.contacts(org(*owner_org)).len(),
            Op::MemoryCreate { org: o, index, .. }
            | Op::Memory { org: o, index, .. }
            | Op::Update(o, index, _)
            | Op::Delete(o, index)
            | Op::Detach(o, index, ..) => *index < state.model.contacts(org(*o)).len(),
            Op::Merge(o, p, d) => {
                let n = state.model.contacts(org(*o)).len();
                *p < n && *d < n
            }
            _ => true,
        }
    }

    fn apply(mut state: RefState, op: &Op) -> RefState {
        state.expected = match op {
            Op::Resolve(o, r) => Expected::Resolve(state.model.resolve(org(*o), r)),
            Op::Find(o, r) => Expected::Find(state.model.find(org(*o), r)),
            Op::Get {
                owner_org,
                index,
                query_org,
            } => Expected::Get(
                owner_org == query_org && !state.model.contacts(org(*owner_org))[*index].deleted,
            ),
            Op::Update(o, i, r) => Expected::Update(state.model.update(org(*o), *i, r)),
            Op::Merge(o, p, d) => Expected::Done(state.model.merge(org(*o), *p, *d)),
            Op::Delete(o, i) => Expected::Done(state.model.delete(org(*o), *i)),
            Op::Detach(o, i, k, v) => Expected::Done(state.model.detach(org(*o), *i, *k, v)),
            Op::GetUnknown(_) => Expected::Get(false),
            Op::List(o, l, f) => Expected::List(state.model.list(org(*o), *l, *f)),
            Op::MemoryCreate {
                org: o,
                index,
                scope,
            } => Expected::MemoryCreate(state.model.memory_create(org(*o), *index, scope)),
            Op::Memory {
                org: o,
                index,
                scope,
                op,
                stale,
            } => {
                let current = state.model.contacts(org(*o)).get(*index).and_then(|c| {
                    let scope = state
                        .model
                        .scope(scope.persona_id.as_deref(), scope.agent_number.as_deref())
                        .ok()??;
                    c.memories
                        .iter()
                        .find(|m| m.scope == scope)
                        .map(|m| m.revision)
                });
                let writes = !matches!(op, MemoryOp::Reset | MemoryOp::Context);
                let expected = match current {
                    Some(rev) if *stale && writes => Some(rev - 1),
                    _ => None,
                };
                Expected::Memory(
                    state.model.memory_op(org(*o), *index, scope, op, expected),
                    expected,
                )
            }
        };
        state
    }
}

/// The store under test, with the real ids the model's indexes map to.
#[derive(Debug)]
pub struct Sut<S> {
    engine: Engine<S>,
    ids: BTreeMap<(u8, usize), ContactId>,
    updated_at: BTreeMap<(u8, usize), Timestamp>,
    memories: BTreeMap<(u8, usize, MemoryScope), MemoryId>,
}

/// A memory's content, in a form the model and every engine view can be compared in.
type Content = (
    Option<String>,
    Metadata,
    Vec<(Role, String, String, i64)>,
    Vec<(String, String, Option<String>, Metadata)>,
    Vec<String>,
);

fn model_content(m: &ModelMemory) -> Content {
    (
        m.summary.clone(),
        m.facts.clone(),
        m.messages.clone(),
        m.entities.clone(),
        m.open_items.clone(),
    )
}

fn content(
    summary: &Option<String>,
    facts: &Metadata,
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
    type SystemUnderTest = Sut<F::Store>;
    type Reference = ModelMachine;

    fn init_test(_: &RefState) -> Sut<F::Store> {
        Sut {
            engine: engine_with(F::make(), machine_config()),
            ids: BTreeMap::new(),
            updated_at: BTreeMap::new(),
            memories: BTreeMap::new(),
        }
    }

    fn apply(mut sut: Sut<F::Store>, state: &RefState, op: Op) -> Sut<F::Store> {
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
                    .map(|a| (a.identifier_type, a.identifier_value.clone()))
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
                Expected::Get(found),
            ) => {
                let id = sut.ids[&(owner_org, index)];
                match sut.engine.get(org(query_org), id) {
                    Ok(c) => {
                        assert!(*found, "another org's contact was visible");
                        assert_eq!(c.contact.id, id);
                    }
                    Err(Error::NotFound { .. }) => assert!(!found, "own contact not found"),
                    Err(e) => panic!("get: {e}"),
                }
            }
            (Op::GetUnknown(o), Expected::Get(false)) => {
                let id = ContactId(uuid::Uuid::now_v7());
                assert!(matches!(
                    sut.engine.get(org(o), id),
                    Err(Error::NotFound { .. })
                ));
            }
            (Op::List(o, limit, offset), Expected::List(expected)) => {
                let real = sut.engine.list(org(o), ListRequest { limit, offset });
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
                        let empty: Content = (None, Metadata::new(), vec![], vec![], vec![]);
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
                        for key in moved {
                            let id = sut.memories.remove(&key).expect("listed above");
                            let target = (o, p, key.2);
                            // A scope both had keeps the primary's record; one only the
                            // duplicate had moves with its id.
                            sut.memories.entry(target).or_insert(id);
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

    fn check_invariants(sut: &Sut<F::Store>, state: &RefState) {
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
            let mut owners = BTreeSet::new();
            for (real, (i, m)) in listed.iter().zip(contacts) {
                assert_eq!(Some(&real.contact.id), sut.ids.get(&(o, i)), "list order");
                assert_eq!(real.contact.org_id, org(o), "org isolation");
                assert_eq!(real.contact.name, m.name, "name of {i}");
                assert_eq!(real.contact.metadata, m.metadata, "metadata of {i}");
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
        }
    }
}
