//! The generated requests and operations: small pools of values, so sequences hit the
//! same people again, with blank, junk and invalid values mixed in.

use contacts_core::{
    FindRequest, IdentifierKind, JsonObject, ResolveRequest, Role, ScopeRequest, UpdateRequest,
};
use proptest::prelude::*;
use serde_json::json;

use crate::model::MemoryOp;

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
        _ => JsonObject::new(),
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
