//! The conformance suite: one `pub fn` per scenario, each taking a fresh, empty store.
//!
//! Backends run it through [`conformance_tests!`](crate::conformance_tests), which
//! expands into one named `#[test]` per scenario. Every scenario names the SPEC rule it
//! checks. Scenarios panic (through `assert!`) on the first broken expectation.
//!
//! Not a stable API: scenarios are added and tightened as the engine grows.

mod lifecycle;
mod memory;
pub use lifecycle::*;
pub use memory::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use contacts_core::{
    Config, Contact, ContactId, ContactWithRelations, Engine, Error, FindRequest, Identifier,
    IdentifierId, IdentifierKind, ListRequest, ManualClock, OrgId, ResolveOutcome, ResolveRequest,
    SequentialIds, Store, StoredContact, Timestamp, WriteBatch, WriteOp,
};
use serde_json::{Value, json};
use uuid::Uuid;

use IdentifierKind::{Email, ExternalId, PhoneNumber};

/// 2025-07-22T10:30:00.000Z, the seed's first timestamp.
pub const EPOCH: Timestamp = Timestamp::from_millis(1_753_180_200_000);

/// Org O of the worked examples.
pub fn org_o() -> OrgId {
    OrgId(
        "11111111-2222-3333-4444-555555555555"
            .parse()
            .expect("valid uuid"),
    )
}

/// Org P of the worked examples.
pub fn org_p() -> OrgId {
    OrgId(
        "99999999-2222-3333-4444-555555555555"
            .parse()
            .expect("valid uuid"),
    )
}

/// An engine over `store` with `config`, a clock that advances one millisecond per
/// reading from [`EPOCH`], and sequential ids: deterministic across backends.
pub fn engine_with<S: Store>(store: S, config: Config) -> Engine<S> {
    Engine::with_config(store, config)
        .expect("test config is valid")
        .with_clock(ManualClock::new(EPOCH, 1))
        .with_id_generator(SequentialIds::new())
}

/// [`engine_with`] and the default config.
pub fn engine<S: Store>(store: S) -> Engine<S> {
    engine_with(store, Config::default())
}

fn phone(p: &str) -> ResolveRequest {
    ResolveRequest::new().with_phone(p)
}

pub(crate) fn assert_invalid<T: Debug>(result: Result<T, Error>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: f, reason }) => {
            assert_eq!(f, field, "wrong field named (reason: {reason})");
            assert!(!reason.is_empty());
        }
        other => panic!("expected InvalidInput naming {field}, got {other:?}"),
    }
}

fn total<S: Store>(e: &Engine<S>, org: OrgId) -> u64 {
    e.list(org, ListRequest::default())
        .expect("list")
        .pagination
        .total
}

fn values(c: &ContactWithRelations) -> Vec<(IdentifierKind, &str, bool)> {
    c.identifiers
        .iter()
        .map(|i| (i.identifier_type, i.identifier_value.as_str(), i.is_primary))
        .collect()
}

/// The store's own record of a contact (with its version), bypassing the engine.
fn stored<S: Store>(e: &Engine<S>, org: OrgId, id: ContactId) -> Option<Arc<StoredContact>> {
    e.store()
        .get(org, id)
        .expect("store get")
        .map(|r| r.contact)
}

fn get<S: Store>(e: &Engine<S>, org: OrgId, id: ContactId) -> ContactWithRelations {
    e.get(org, id).expect("contact exists")
}

/// Worked example 1 (SPEC 3.3): a formatted phone on an empty store creates a contact
/// holding the canonical number as its primary phone.
pub fn resolve_creates_contact<S: Store>(store: S) {
    let e = engine(store);
    let out = e.resolve(org_o(), &phone("+1 (415) 555-0192")).unwrap();
    assert!(out.created);
    assert_eq!(out.matched_by, None);
    assert_eq!(out.contact.org_id, org_o());
    assert_eq!(out.contact.name, None);
    assert_eq!(out.contact.metadata, serde_json::Map::new());
    assert_eq!(out.contact.created_at, out.contact.updated_at);
    let c = get(&e, org_o(), out.contact.id);
    assert_eq!(values(&c), vec![(PhoneNumber, "+14155550192", true)]);
    assert_eq!(c.identifiers[0].contact_id, out.contact.id);
    assert_eq!(c.contact, out.contact);
}

/// SPEC 3.6: repeating a resolve is a no-op returning the same contact, unchanged.
pub fn resolve_repeat_is_idempotent<S: Store>(store: S) {
    let e = engine(store);
    let req = ResolveRequest::new()
        .with_phone("+14155550192")
        .with_email("a@example.com")
        .with_name("Ana")
        .with_metadata(json!({"source": "api"}));
    let first = e.resolve(org_o(), &req).unwrap();
    let before = get(&e, org_o(), first.contact.id);
    for _ in 0..3 {
        let again = e.resolve(org_o(), &req).unwrap();
        assert!(!again.created);
        assert_eq!(again.contact, first.contact, "nothing may change");
        assert!(again.attached.is_empty());
        assert!(again.conflicts.is_empty());
    }
    assert_eq!(get(&e, org_o(), first.contact.id), before);
    assert_eq!(total(&e, org_o()), 1);
}

/// Worked example 2 (SPEC 3.4-3.5): a known phone with a new email attaches the email
/// (primary among emails) and fills the missing name.
pub fn resolve_attaches_and_fills_name<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+1 (415) 555-0192")).unwrap();
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_phone("+14155550192")
                .with_email("Sarah@Example.com ")
                .with_name("Sarah"),
        )
        .unwrap();
    assert!(!out.created);
    assert_eq!(out.contact.id, a.contact.id);
    assert_eq!(out.contact.name.as_deref(), Some("Sarah"));
    assert_eq!(
        out.matched_by
            .map(|m| (m.identifier_type, m.identifier_value)),
        Some((PhoneNumber, "+14155550192".to_owned()))
    );
    assert_eq!(out.attached.len(), 1);
    let c = get(&e, org_o(), a.contact.id);
    assert_eq!(
        values(&c),
        vec![
            (Email, "sarah@example.com", true),
            (PhoneNumber, "+14155550192", true)
        ]
    );
}

/// Worked example 3 (SPEC 3.5): a name never overwrites an existing one.
pub fn resolve_never_overwrites_name<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("sarah@example.com")
                .with_name("Sarah"),
        )
        .unwrap();
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("sarah@example.com")
                .with_name("Other"),
        )
        .unwrap();
    assert_eq!(out.contact.id, a.contact.id);
    assert_eq!(out.contact.name.as_deref(), Some("Sarah"));
    assert_eq!(
        out.contact.updated_at, a.contact.updated_at,
        "no change, no new updated_at"
    );
}

/// SPEC 3.5: metadata keys are added only where absent (shallow); existing values stay.
pub fn resolve_metadata_fills_missing_keys<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_metadata(json!({"source": "inbound_call", "tier": {"a": 1}})),
        )
        .unwrap();
    let out = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_metadata(json!({"source": "web", "tier": {"b": 2}, "lang": "en"})),
        )
        .unwrap();
    assert_eq!(out.contact.id, a.contact.id);
    assert_eq!(
        Value::Object(out.contact.metadata.clone()),
        json!({"source": "inbound_call", "tier": {"a": 1}, "lang": "en"})
    );
    assert!(out.contact.updated_at > a.contact.updated_at);
}

/// Worked example 4: an external id is attached to a compatible contact found by email.
pub fn resolve_attaches_external_id<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email("sarah@example.com"),
        )
        .unwrap();
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_external_id("u-1")
                .with_email("sarah@example.com"),
        )
        .unwrap();
    assert_eq!((out.contact.id, out.created), (a.contact.id, false));
    let c = get(&e, org_o(), a.contact.id);
    assert_eq!(
        values(&c),
        vec![
            (ExternalId, "u-1", true),
            (Email, "sarah@example.com", true)
        ]
    );
}

/// Worked example 5 (SPEC 3.2): a contact holding a different external id is
/// incompatible; a new contact is created and the shared email reported as a conflict.
pub fn resolve_incompatible_external_id_creates_contact<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_external_id("u-1")
                .with_email("sarah@example.com"),
        )
        .unwrap();
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_external_id("u-2")
                .with_email("sarah@example.com"),
        )
        .unwrap();
    assert!(out.created);
    assert_ne!(out.contact.id, a.contact.id);
    assert_eq!(out.conflicts.len(), 1);
    let conflict = &out.conflicts[0];
    assert_eq!(conflict.identifier_type, Email);
    assert_eq!(conflict.identifier_value, "sarah@example.com");
    assert_eq!(conflict.owner_contact_id, Some(a.contact.id));
    assert_eq!(
        values(&get(&e, org_o(), out.contact.id)),
        vec![(ExternalId, "u-2", true)]
    );
    // Nothing moved.
    assert_eq!(
        values(&get(&e, org_o(), a.contact.id)),
        vec![
            (ExternalId, "u-1", true),
            (Email, "sarah@example.com", true)
        ]
    );
}

/// Worked example 6 (SPEC 2.2, 3.3): external id outranks phone; the phone stays with
/// its owner and is reported.
pub fn resolve_external_id_outranks_phone<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_external_id("u-1"))
        .unwrap();
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("u-2"))
        .unwrap();
    let out = e
        .resolve(org_o(), &phone("+14155550192").with_external_id("u-2"))
        .unwrap();
    assert_eq!((out.contact.id, out.created), (b.contact.id, false));
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(out.conflicts[0].owner_contact_id, Some(a.contact.id));
    assert_eq!(out.conflicts[0].identifier_type, PhoneNumber);
    assert_eq!(
        values(&get(&e, org_o(), b.contact.id)),
        vec![(ExternalId, "u-2", true)]
    );
}

/// SPEC 2.2: email outranks phone when they point at different contacts.
pub fn resolve_email_outranks_phone<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_email("b@example.com"))
        .unwrap();
    let out = e
        .resolve(org_o(), &phone("+14155550192").with_email("b@example.com"))
        .unwrap();
    assert_eq!(out.contact.id, b.contact.id);
    assert_eq!(out.matched_by.unwrap().identifier_type, Email);
    assert_eq!(out.conflicts[0].owner_contact_id, Some(a.contact.id));
    // The phone did not move; finding by phone alone still gives A.
    let found = e
        .find(org_o(), &FindRequest::new().with_phone("+14155550192"))
        .unwrap();
    assert_eq!(found.unwrap().contact.id, a.contact.id);
}

/// SPEC 2.2: precedence is configurable.
pub fn resolve_precedence_is_configurable<S: Store>(store: S) {
    let e = engine_with(
        store,
        Config::default().with_precedence([PhoneNumber, Email, ExternalId]),
    );
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_email("b@example.com"))
        .unwrap();
    let out = e
        .resolve(org_o(), &phone("+14155550192").with_email("b@example.com"))
        .unwrap();
    assert_eq!(out.contact.id, a.contact.id, "phone first in this config");
    assert_eq!(out.conflicts[0].owner_contact_id, Some(b.contact.id));
    // Identifiers are listed in the configured precedence too.
    let c = e
        .resolve(
            org_o(),
            &phone("+14155550193")
                .with_external_id("x")
                .with_email("c@example.com"),
        )
        .unwrap();
    let kinds: Vec<_> = get(&e, org_o(), c.contact.id)
        .identifiers
        .iter()
        .map(|i| i.identifier_type)
        .collect();
    assert_eq!(kinds, vec![PhoneNumber, Email, ExternalId]);
}

/// SPEC 2.2 caps: a contact never exceeds its cap; the refused identifier is
/// reported and stays free.
pub fn resolve_respects_caps<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_cap(Email, 2));
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_email("1@example.com"))
        .unwrap();
    e.resolve(org_o(), &phone("+14155550192").with_email("2@example.com"))
        .unwrap();
    let out = e
        .resolve(org_o(), &phone("+14155550192").with_email("3@example.com"))
        .unwrap();
    assert_eq!(out.contact.id, a.contact.id);
    assert!(out.attached.is_empty());
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(out.conflicts[0].identifier_value, "3@example.com");
    assert_eq!(out.conflicts[0].owner_contact_id, None);
    let c = get(&e, org_o(), a.contact.id);
    let emails: Vec<_> = values(&c).into_iter().filter(|v| v.0 == Email).collect();
    assert_eq!(
        emails,
        vec![
            (Email, "1@example.com", true),
            (Email, "2@example.com", false)
        ]
    );
    // The refused email is still free: on its own it creates a new contact.
    let c = e
        .resolve(org_o(), &ResolveRequest::new().with_email("3@example.com"))
        .unwrap();
    assert!(c.created);
}

/// SPEC 2.2: the first identifier of a kind is primary; later ones are not.
pub fn resolve_first_identifier_of_kind_is_primary<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &ResolveRequest::new().with_email("x@example.com"))
        .unwrap();
    e.resolve(
        org_o(),
        &ResolveRequest::new()
            .with_email("x@example.com")
            .with_phone("+14155550100"),
    )
    .unwrap();
    e.resolve(
        org_o(),
        &ResolveRequest::new()
            .with_email("x@example.com")
            .with_phone("+14155550101"),
    )
    .unwrap();
    let c = get(&e, org_o(), a.contact.id);
    assert_eq!(
        values(&c),
        vec![
            (Email, "x@example.com", true),
            (PhoneNumber, "+14155550100", true),
            (PhoneNumber, "+14155550101", false),
        ]
    );
    for kind in [Email, PhoneNumber] {
        let primaries = c
            .identifiers
            .iter()
            .filter(|i| i.identifier_type == kind && i.is_primary)
            .count();
        assert_eq!(primaries, 1);
    }
}

/// SPEC 2.1: blank values count as absent and are not reported.
pub fn resolve_blank_values_are_absent<S: Store>(store: S) {
    let e = engine(store);
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_phone("+14155550192")
                .with_email("   ")
                .with_external_id(""),
        )
        .unwrap();
    assert!(out.ignored.is_empty());
    assert_eq!(
        values(&get(&e, org_o(), out.contact.id)),
        vec![(PhoneNumber, "+14155550192", true)]
    );
    let blank_name = e
        .resolve(org_o(), &phone("+14155550192").with_name("  "))
        .unwrap();
    assert_eq!(blank_name.contact.name, None);
}

/// SPEC 2.1: junk values count as absent and are reported as ignored.
pub fn resolve_junk_values_are_ignored<S: Store>(store: S) {
    let e = engine(store);
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_phone("0000000000")
                .with_email("NULL")
                .with_external_id("u-1"),
        )
        .unwrap();
    let ignored: BTreeSet<_> = out
        .ignored
        .iter()
        .map(|i| (i.field, i.value.as_str()))
        .collect();
    assert_eq!(
        ignored,
        BTreeSet::from([(PhoneNumber, "0000000000"), (Email, "NULL")])
    );
    assert_eq!(
        values(&get(&e, org_o(), out.contact.id)),
        vec![(ExternalId, "u-1", true)]
    );
    // Junk never matches: another request with the same junk makes another contact.
    let other = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("null")
                .with_external_id("u-2"),
        )
        .unwrap();
    assert!(other.created);
}

/// SPEC 2.1: the junk list is configurable.
pub fn resolve_junk_list_is_configurable<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_junk_values(["void"]));
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_external_id("VOID")
                .with_phone("+14155550192"),
        )
        .unwrap();
    assert_eq!(out.ignored.len(), 1);
    assert_eq!(out.ignored[0].field, ExternalId);
    assert_eq!(
        values(&get(&e, org_o(), out.contact.id)),
        vec![(PhoneNumber, "+14155550192", true)]
    );
    // `null` is no longer on the list, so it is an ordinary external id.
    let null = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("null"))
        .unwrap();
    assert!(null.ignored.is_empty());
    assert_eq!(
        values(&get(&e, org_o(), null.contact.id)),
        vec![(ExternalId, "null", true)]
    );
}

/// Worked example 7 (SPEC 3.1): nothing but blank and junk values is `InvalidInput`,
/// and nothing is written.
pub fn resolve_without_identifiers_is_invalid<S: Store>(store: S) {
    let e = engine(store);
    assert_invalid(
        e.resolve(
            org_o(),
            &ResolveRequest::new().with_email("null").with_phone(""),
        ),
        "identifiers",
    );
    assert_invalid(
        e.resolve(org_o(), &ResolveRequest::new().with_name("Ana")),
        "identifiers",
    );
    match e.resolve(org_o(), &ResolveRequest::new()) {
        Err(Error::InvalidInput { reason, .. }) => assert_eq!(
            reason,
            "At least one identifier (phone_number, email, or external_id) is required"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(total(&e, org_o()), 0);
}

/// SPEC 3.6: `updated_at` changes exactly when the contact changes.
pub fn resolve_updated_at_changes_only_on_change<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let same = e
        .resolve(org_o(), &phone("+14155550192").with_metadata(json!({})))
        .unwrap();
    assert_eq!(same.contact.updated_at, a.contact.updated_at);
    let named = e
        .resolve(org_o(), &phone("+14155550192").with_name("Ana"))
        .unwrap();
    assert!(named.contact.updated_at > a.contact.updated_at);
    let attached = e
        .resolve(org_o(), &phone("+14155550192").with_email("a@example.com"))
        .unwrap();
    assert!(attached.contact.updated_at > named.contact.updated_at);
    let key = e
        .resolve(
            org_o(),
            &phone("+14155550192").with_metadata(json!({"k": 1})),
        )
        .unwrap();
    assert!(key.contact.updated_at > attached.contact.updated_at);
    let again = e
        .resolve(
            org_o(),
            &phone("+14155550192").with_metadata(json!({"k": 2})),
        )
        .unwrap();
    assert_eq!(again.contact.updated_at, key.contact.updated_at);
    assert_eq!(again.contact.created_at, a.contact.created_at);
    assert_eq!(get(&e, org_o(), a.contact.id).contact, again.contact);
}

/// SPEC 3.6: every change moves `updated_at` forward, even within one millisecond of
/// the last one (a frozen clock), and `created_at` never moves.
pub fn resolve_updated_at_advances_with_a_frozen_clock<S: Store>(store: S) {
    let e = Engine::new(store).with_clock(ManualClock::new(EPOCH, 0));
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let b = e
        .resolve(org_o(), &phone("+14155550192").with_name("Ana"))
        .unwrap();
    let c = e
        .resolve(org_o(), &phone("+14155550192").with_email("a@example.com"))
        .unwrap();
    assert!(a.contact.updated_at < b.contact.updated_at);
    assert!(b.contact.updated_at < c.contact.updated_at);
    assert_eq!(c.contact.created_at, EPOCH);
    let d = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    assert_eq!(d.contact.updated_at, c.contact.updated_at);
}

/// SPEC 2.1: formatted numbers, `tel:` and `00` all reach the one canonical number.
pub fn normalises_phone_forms<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+1 (415) 555-0192")).unwrap();
    for form in [
        "+14155550192",
        "+1.415.555.0192",
        "tel:+1-415-555-0192",
        "001 415 555 0192",
        " +1 415 555 0192 ",
    ] {
        let out = e.resolve(org_o(), &phone(form)).unwrap();
        assert_eq!(
            (out.contact.id, out.created),
            (a.contact.id, false),
            "{form}"
        );
        let found = e
            .find(org_o(), &FindRequest::new().with_phone(form))
            .unwrap();
        assert_eq!(found.map(|c| c.contact.id), Some(a.contact.id), "{form}");
    }
    assert_eq!(total(&e, org_o()), 1);
}

/// SPEC 2.1: a national number without a default region is `InvalidInput`.
pub fn national_phone_without_region_is_invalid<S: Store>(store: S) {
    let e = engine(store);
    assert_invalid(e.resolve(org_o(), &phone("(415) 555-0192")), "phone_number");
    assert_invalid(
        e.find(org_o(), &FindRequest::new().with_phone("415 555 0192")),
        "phone_number",
    );
    assert_eq!(total(&e, org_o()), 0);
}

/// SPEC 2.1: with a default region, a national number is read in that region.
pub fn national_phone_with_default_region<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_default_region("US"));
    let a = e.resolve(org_o(), &phone("(415) 555-0192")).unwrap();
    let b = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    assert_eq!(b.contact.id, a.contact.id);
    assert_eq!(
        values(&get(&e, org_o(), a.contact.id)),
        vec![(PhoneNumber, "+14155550192", true)]
    );
}

/// SPEC 2.1: the strict option also requires the library's validity check.
pub fn strict_phone_validation<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_strict_phone_validation(true));
    // Ofcom's drama range: well-formed, never assigned.
    assert_invalid(e.resolve(org_o(), &phone("+447700900123")), "phone_number");
    assert!(e.resolve(org_o(), &phone("+447911123456")).unwrap().created);
}

/// SPEC 2.1: emails are trimmed and lower-cased as a whole; dots and +tags are kept.
pub fn normalises_email_case<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email(" Sarah.Chen+VIP@Example.COM"),
        )
        .unwrap();
    let b = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email("sarah.chen+vip@example.com"),
        )
        .unwrap();
    assert_eq!((b.contact.id, b.created), (a.contact.id, false));
    assert_eq!(
        values(&get(&e, org_o(), a.contact.id)),
        vec![(Email, "sarah.chen+vip@example.com", true)]
    );
    let c = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email("sarahchen+vip@example.com"),
        )
        .unwrap();
    assert!(c.created, "dots are significant");
}

/// SPEC 2.1: external ids are case-sensitive, trimmed.
pub fn external_id_is_case_sensitive<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id(" U-1 "))
        .unwrap();
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("u-1"))
        .unwrap();
    assert!(b.created);
    let c = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("U-1"))
        .unwrap();
    assert_eq!((c.contact.id, c.created), (a.contact.id, false));
}

/// SPEC 2.1, 7: every invalid input names its field and writes nothing.
pub fn invalid_input_names_the_field<S: Store>(store: S) {
    let e = engine(store);
    let o = org_o();
    let ok = || phone("+14155550192");
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_phone("+1 415 CALL NOW")),
        "phone_number",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_phone("12")),
        "phone_number",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_email("no-at-sign")),
        "email",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_email("a@b@c")),
        "email",
    );
    assert_invalid(
        e.resolve(
            o,
            &ResolveRequest::new().with_email(format!("{}@x.com", "a".repeat(65))),
        ),
        "email",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_external_id("x".repeat(256))),
        "external_id",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_external_id("a\0b")),
        "external_id",
    );
    assert_invalid(e.resolve(o, &ok().with_name("n".repeat(257))), "name");
    assert_invalid(e.resolve(o, &ok().with_name("a\0b")), "name");
    assert_invalid(e.resolve(o, &ok().with_metadata(json!([1, 2]))), "metadata");
    assert_invalid(e.resolve(o, &ok().with_metadata(json!("text"))), "metadata");
    assert_invalid(
        e.resolve(o, &ok().with_metadata(json!({"k": "a\u{0}b"}))),
        "metadata",
    );
    let mut deep = json!(1);
    for _ in 0..17 {
        deep = json!({ "d": deep });
    }
    assert_invalid(e.resolve(o, &ok().with_metadata(deep)), "metadata");
    let big = "x".repeat(64 * 1024);
    assert_invalid(
        e.resolve(o, &ok().with_metadata(json!({ "big": big }))),
        "metadata",
    );
    // A valid identifier alongside an invalid one: still rejected, nothing written.
    assert_invalid(e.resolve(o, &ok().with_email("broken")), "email");
    assert_eq!(total(&e, o), 0, "no rejection may write anything");
    // Right at the limits is accepted.
    let mut deep_ok = json!(1);
    for _ in 0..16 {
        deep_ok = json!({ "d": deep_ok });
    }
    let name_ok = "é".repeat(256);
    let out = e
        .resolve(o, &ok().with_name(name_ok.clone()).with_metadata(deep_ok))
        .unwrap();
    assert_eq!(out.contact.name, Some(name_ok));
}

/// Awkward values (quotes, SQL metacharacters, multi-byte text, values at their size
/// limits) are stored and read back exactly.
pub fn awkward_values_round_trip<S: Store>(store: S) {
    let e = engine(store);
    let ext = format!("ü'; DROP TABLE contacts; --\"{}x", "日".repeat(75));
    assert_eq!(ext.len(), 255, "at the external id limit");
    // SQL's quote and LIKE wildcards are RFC 5322 `atext`; a backslash is not (only
    // inside a quoted local part, which the engine refuses: docs/semantics.md 2.1).
    let email = format!("{}@{}.example.com", "o'neil%_".repeat(8), "ü".repeat(20));
    let name = "Zoë \"Q\" O'Brien 👋 %_\\".to_owned();
    let metadata =
        json!({"sql": "' OR 1=1 --", "nested": {"emoji": "🎉", "n": [1, 2.5, null, true]}, "": ""});
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_external_id(ext.clone())
                .with_email(email.clone())
                .with_name(name.clone())
                .with_metadata(metadata.clone()),
        )
        .unwrap();
    let c = get(&e, org_o(), out.contact.id);
    assert_eq!(c.contact.name, Some(name));
    assert_eq!(Value::Object(c.contact.metadata.clone()), metadata);
    assert_eq!(
        values(&c),
        vec![
            (ExternalId, ext.as_str(), true),
            (Email, email.to_lowercase().as_str(), true)
        ]
    );
    let found = e
        .find(org_o(), &FindRequest::new().with_external_id(ext))
        .unwrap();
    assert_eq!(found.map(|f| f.contact.id), Some(out.contact.id));
}

/// Worked example 8 and SPEC 1: orgs are isolated. The same phone in two orgs is two
/// contacts, and one org's ids are `NotFound` in another.
pub fn org_isolation<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_email("a@example.com"))
        .unwrap();
    let p = e.resolve(org_p(), &phone("+14155550192")).unwrap();
    assert!(p.created);
    assert_ne!(p.contact.id, a.contact.id);
    assert!(matches!(
        e.get(org_p(), a.contact.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.get(org_o(), p.contact.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        e.find(org_p(), &FindRequest::new().with_email("a@example.com"))
            .unwrap(),
        None
    );
    let page = e.list(org_p(), ListRequest::default()).unwrap();
    assert_eq!(page.pagination.total, 1);
    assert_eq!(page.data[0].contact.id, p.contact.id);
    assert_eq!(page.data[0].contact.org_id, org_p());
    // Attaching in one org does not see the other's identifiers as owned.
    let p2 = e
        .resolve(org_p(), &phone("+14155550192").with_email("a@example.com"))
        .unwrap();
    assert!(p2.conflicts.is_empty());
    assert_eq!(p2.attached.len(), 1);
}

/// SPEC 3 (find): find applies the resolve rules, returns relations, and never writes.
pub fn find_matches_without_writing<S: Store>(store: S) {
    let e = engine(store);
    assert_eq!(
        e.find(org_o(), &FindRequest::new().with_phone("+14155550192"))
            .unwrap(),
        None
    );
    assert_eq!(total(&e, org_o()), 0);
    let a = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_email("a@example.com")
                .with_external_id("u-1"),
        )
        .unwrap();
    let found = e
        .find(
            org_o(),
            &FindRequest::new()
                .with_email("A@EXAMPLE.COM")
                .with_phone("+19999999999"),
        )
        .unwrap()
        .expect("found by email");
    assert_eq!(found.contact, a.contact);
    assert_eq!(found.identifiers.len(), 3);
    assert!(found.memories.is_empty());
    // The unknown phone was not attached by find.
    assert_eq!(get(&e, org_o(), a.contact.id).identifiers.len(), 3);
    // Compatibility applies: a different external id never finds A.
    assert_eq!(
        e.find(
            org_o(),
            &FindRequest::new()
                .with_external_id("u-2")
                .with_email("a@example.com")
        )
        .unwrap(),
        None
    );
    assert_invalid(
        e.find(org_o(), &FindRequest::new().with_email(" ")),
        "identifiers",
    );
    assert_invalid(
        e.find(org_o(), &FindRequest::new().with_email("bad")),
        "email",
    );
    assert_eq!(total(&e, org_o()), 1);
}

/// SPEC 4 (get): relations in order (kind precedence, primary first, oldest first);
/// an unknown id is `NotFound`.
pub fn get_returns_relations_in_order<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550101")).unwrap();
    e.resolve(org_o(), &phone("+14155550101").with_email("z@example.com"))
        .unwrap();
    e.resolve(org_o(), &phone("+14155550102").with_email("z@example.com"))
        .unwrap();
    e.resolve(
        org_o(),
        &phone("+14155550101")
            .with_email("a@example.com")
            .with_external_id("u"),
    )
    .unwrap();
    // Third and fourth of a kind: non-primaries come oldest first, whatever their value.
    e.resolve(org_o(), &phone("+14155550109").with_external_id("u"))
        .unwrap();
    e.resolve(org_o(), &phone("+14155550105").with_external_id("u"))
        .unwrap();
    e.resolve(
        org_o(),
        &ResolveRequest::new()
            .with_email("m@example.com")
            .with_external_id("u"),
    )
    .unwrap();
    let c = get(&e, org_o(), a.contact.id);
    assert_eq!(
        values(&c),
        vec![
            (ExternalId, "u", true),
            (Email, "z@example.com", true),
            (Email, "a@example.com", false),
            (Email, "m@example.com", false),
            (PhoneNumber, "+14155550101", true),
            (PhoneNumber, "+14155550102", false),
            (PhoneNumber, "+14155550109", false),
            (PhoneNumber, "+14155550105", false),
        ]
    );
    // list and find show the same order as get.
    let listed = e.list(org_o(), ListRequest::default()).unwrap();
    assert_eq!(listed.data[0], c);
    let found = e
        .find(org_o(), &FindRequest::new().with_external_id("u"))
        .unwrap();
    assert_eq!(found.as_ref(), Some(&c));
    let missing = ContactId(Uuid::now_v7());
    match e.get(org_o(), missing) {
        Err(err @ Error::NotFound { .. }) => assert_eq!(err.to_string(), "Contact not found"),
        other => panic!("{other:?}"),
    }
}

fn resolve_n<S: Store>(e: &Engine<S>, org: OrgId, n: usize) -> Vec<ContactId> {
    (0..n)
        .map(|i| {
            e.resolve(
                org,
                &ResolveRequest::new().with_external_id(format!("person-{i:04}")),
            )
            .unwrap()
            .contact
            .id
        })
        .collect()
}

/// SPEC 5: contacts come in `(created_at, id)` order, a total order even when the
/// clock stands still.
pub fn list_order<S: Store>(store: S) {
    // A frozen clock: every contact has the same created_at, so the id decides.
    let e = Engine::new(store)
        .with_clock(ManualClock::new(EPOCH, 0))
        .with_id_generator(SequentialIds::new());
    let ids = resolve_n(&e, org_o(), 12);
    let listed: Vec<_> = e
        .list(org_o(), ListRequest::new(200, 0))
        .unwrap()
        .data
        .into_iter()
        .map(|c| c.contact.id)
        .collect();
    assert_eq!(listed, ids);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
}

/// SPEC 5: `total`, `has_more`, and pages that neither repeat nor skip.
pub fn list_total_and_pages<S: Store>(store: S) {
    let e = engine(store);
    let ids = resolve_n(&e, org_o(), 23);
    resolve_n(&e, org_p(), 3);
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = e.list(org_o(), ListRequest::new(5, offset)).unwrap();
        assert_eq!(page.pagination.total, 23);
        assert_eq!(page.pagination.limit, 5);
        assert_eq!(page.pagination.offset, offset as u64);
        let n = page.data.len() as i64;
        assert_eq!(page.pagination.has_more, offset + n < 23);
        seen.extend(page.data.into_iter().map(|c| c.contact.id));
        if !page.pagination.has_more {
            break;
        }
        offset += n;
    }
    assert_eq!(seen, ids);
}

/// SPEC 5: defaults (limit 50, offset 0) and clamping above 200.
pub fn list_defaults_and_clamping<S: Store>(store: S) {
    let e = engine(store);
    resolve_n(&e, org_o(), 205);
    let page = e.list(org_o(), ListRequest::default()).unwrap();
    assert_eq!(page.data.len(), 50);
    assert_eq!((page.pagination.limit, page.pagination.offset), (50, 0));
    assert!(page.pagination.has_more);
    let page = e.list(org_o(), ListRequest::new(500, 0)).unwrap();
    assert_eq!(page.data.len(), 200);
    assert_eq!(
        page.pagination.limit, 200,
        "reports the limit actually used"
    );
    let page = e.list(org_o(), ListRequest::new(i64::MAX, 200)).unwrap();
    assert_eq!(page.data.len(), 5);
    assert!(!page.pagination.has_more);
}

/// SPEC 5: an offset past the end gives an empty page, not an error.
pub fn list_offset_past_end<S: Store>(store: S) {
    let e = engine(store);
    resolve_n(&e, org_o(), 3);
    for offset in [3, 4, 1_000_000, i64::MAX] {
        let page = e.list(org_o(), ListRequest::new(10, offset)).unwrap();
        assert!(page.data.is_empty());
        assert_eq!(page.pagination.total, 3);
        assert!(!page.pagination.has_more);
    }
    let empty = e.list(org_p(), ListRequest::default()).unwrap();
    assert_eq!(empty.pagination.total, 0);
    assert!(empty.data.is_empty());
}

/// SPEC 5: a limit of 0 or less, or a negative offset, is `InvalidInput`.
pub fn list_rejects_bad_limit_and_offset<S: Store>(store: S) {
    let e = engine(store);
    assert_invalid(e.list(org_o(), ListRequest::new(0, 0)), "limit");
    assert_invalid(e.list(org_o(), ListRequest::new(-5, 0)), "limit");
    assert_invalid(e.list(org_o(), ListRequest::new(10, -1)), "offset");
    assert_invalid(
        e.list(
            org_o(),
            ListRequest {
                limit: None,
                offset: Some(i64::MIN),
            },
        ),
        "offset",
    );
}

/// The JSON shapes of the seeds: resolve's `contact` has exactly the seed's fields,
/// list entries add `identifiers` and `memories`, timestamps are
/// `2025-07-22T10:30:00.000Z`.
pub fn json_shapes_match_the_seeds<S: Store>(store: S) {
    let e = engine(store);
    let out = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_name("John Doe")
                .with_metadata(json!({"source": "api"})),
        )
        .unwrap();
    let v = serde_json::to_value(&out).unwrap();
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    let contact_keys: BTreeSet<String> = [
        "id",
        "org_id",
        "name",
        "metadata",
        "created_at",
        "updated_at",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys(&v["contact"]), contact_keys);
    assert_eq!(v["created"], json!(true));
    assert_eq!(
        v["contact"]["created_at"],
        json!("2025-07-22T10:30:00.000Z")
    );
    assert_eq!(
        v["contact"]["org_id"],
        json!("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(v["contact"]["metadata"], json!({"source": "api"}));
    let page = serde_json::to_value(e.list(org_o(), ListRequest::default()).unwrap()).unwrap();
    let item = &page["data"][0];
    let mut list_keys = contact_keys.clone();
    list_keys.extend(["identifiers", "memories"].map(String::from));
    assert_eq!(keys(item), list_keys);
    assert_eq!(
        keys(&item["identifiers"][0]),
        [
            "id",
            "contact_id",
            "identifier_type",
            "identifier_value",
            "is_primary"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(
        item["identifiers"][0]["identifier_type"],
        json!("phone_number")
    );
    assert_eq!(item["memories"], json!([]));
    assert_eq!(
        page["pagination"],
        json!({"total": 1, "limit": 50, "offset": 0, "has_more": false})
    );
    // Deserialising the JSON gives the same value back.
    let back: ResolveOutcome = serde_json::from_value(v).unwrap();
    assert_eq!(back, out);
}

/// SPEC 2.2 and Store contract 4: the storage itself refuses a second owner for an
/// identifier, and a refused batch leaves nothing behind.
pub fn identifier_has_one_owner<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let new_contact = Contact {
        id: ContactId(Uuid::now_v7()),
        ..a.contact.clone()
    };
    let ident = |contact_id, value: &str| Identifier {
        id: IdentifierId(Uuid::now_v7()),
        contact_id,
        identifier_type: PhoneNumber,
        identifier_value: value.to_owned(),
        is_primary: true,
    };
    let batch = WriteBatch {
        ops: vec![
            WriteOp::InsertContact(new_contact.clone()),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550100")),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550192")),
        ],
    };
    assert!(matches!(
        e.store().commit(org_o(), &batch),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(stored(&e, org_o(), new_contact.id), None);
    let free = e
        .find(org_o(), &FindRequest::new().with_phone("+14155550100"))
        .unwrap();
    assert_eq!(free, None, "half of a refused batch must not be visible");
    // The same value twice in one batch is refused too.
    let twice = WriteBatch {
        ops: vec![
            WriteOp::InsertContact(new_contact.clone()),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550100")),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550100")),
        ],
    };
    assert!(matches!(
        e.store().commit(org_o(), &twice),
        Err(Error::Conflict { .. })
    ));
    // In another org the value is free.
    let other_org = Contact {
        org_id: org_p(),
        ..new_contact.clone()
    };
    let ok = WriteBatch {
        ops: vec![
            WriteOp::InsertContact(other_org.clone()),
            WriteOp::InsertIdentifier(ident(other_org.id, "+14155550192")),
        ],
    };
    e.store().commit(org_p(), &ok).unwrap();
    assert_eq!(total(&e, org_o()), 1);
}

/// Store contract 3 and 6: version preconditions are checked atomically with the
/// writes, versions start at 1 and grow by one per update.
pub fn store_version_preconditions<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let first = stored(&e, org_o(), a.contact.id).unwrap();
    assert_eq!(first.version, 1);
    let renamed = Contact {
        name: Some("New".into()),
        ..a.contact.clone()
    };
    let stale = WriteBatch {
        ops: vec![WriteOp::UpdateContact {
            contact: renamed.clone(),
            expected_version: 7,
        }],
    };
    assert!(matches!(
        e.store().commit(org_o(), &stale),
        Err(Error::Conflict { .. })
    ));
    let expect_stale = WriteBatch {
        ops: vec![
            WriteOp::UpdateContact {
                contact: renamed.clone(),
                expected_version: 1,
            },
            WriteOp::Expect {
                contact_id: ContactId(Uuid::now_v7()),
                version: 1,
            },
        ],
    };
    assert!(matches!(
        e.store().commit(org_o(), &expect_stale),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        stored(&e, org_o(), a.contact.id).unwrap().contact.name,
        None
    );
    let good = WriteBatch {
        ops: vec![WriteOp::UpdateContact {
            contact: renamed,
            expected_version: 1,
        }],
    };
    e.store().commit(org_o(), &good).unwrap();
    let after = stored(&e, org_o(), a.contact.id).unwrap();
    assert_eq!(
        (after.version, after.contact.name.as_deref()),
        (2, Some("New"))
    );
    // A contact of another org cannot be updated through this org.
    let cross = WriteBatch {
        ops: vec![WriteOp::UpdateContact {
            contact: after.contact.clone(),
            expected_version: 2,
        }],
    };
    assert!(matches!(
        e.store().commit(org_p(), &cross),
        Err(Error::Conflict { .. })
    ));
    // One batch moves a contact's version by exactly one, however many of its ops
    // touch it; identifiers alone move it too.
    let ident = |value: &str| {
        WriteOp::InsertIdentifier(Identifier {
            id: IdentifierId(Uuid::now_v7()),
            contact_id: a.contact.id,
            identifier_type: Email,
            identifier_value: value.to_owned(),
            is_primary: false,
        })
    };
    let both = WriteBatch {
        ops: vec![
            WriteOp::UpdateContact {
                contact: after.contact.clone(),
                expected_version: 2,
            },
            ident("v1@example.com"),
            ident("v2@example.com"),
        ],
    };
    e.store().commit(org_o(), &both).unwrap();
    assert_eq!(stored(&e, org_o(), a.contact.id).unwrap().version, 3);
    let only_ident = WriteBatch {
        ops: vec![ident("v3@example.com")],
    };
    e.store().commit(org_o(), &only_ident).unwrap();
    let last = stored(&e, org_o(), a.contact.id).unwrap();
    assert_eq!(last.version, 4);
    assert_eq!(last.identifiers.len(), 4);
    // An identifier for a contact that does not exist is refused.
    let orphan = WriteBatch {
        ops: vec![WriteOp::InsertIdentifier(Identifier {
            id: IdentifierId(Uuid::now_v7()),
            contact_id: ContactId(Uuid::now_v7()),
            identifier_type: Email,
            identifier_value: "orphan@example.com".to_owned(),
            is_primary: true,
        })],
    };
    assert!(matches!(
        e.store().commit(org_o(), &orphan),
        Err(Error::Conflict { .. })
    ));
}

/// SPEC 3.8: 8 threads x 1,000 resolves over an overlapping pool of people. Afterwards
/// no identifier has two owners, each person was created exactly once, and every
/// returned id exists.
pub fn concurrent_resolves_create_each_person_once<S: Store>(store: S) {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 1_000;
    const PEOPLE: u64 = 300;
    let e = Arc::new(Engine::new(store));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                // A small LCG: deterministic per thread, different across threads.
                let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                let mut results = Vec::with_capacity(PER_THREAD as usize);
                for _ in 0..PER_THREAD {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let person = (x >> 33) % PEOPLE;
                    // Every request carries the person's phone, so a person can only
                    // ever be one contact; half also carry the email.
                    let mut req = ResolveRequest::new().with_phone(format!("+1415555{person:04}"));
                    if (x >> 20) & 1 == 1 {
                        req = req.with_email(format!("p{person}@example.com"));
                    }
                    let out = e.resolve(org_o(), &req).expect("resolve under contention");
                    results.push((person, out.contact.id, out.created));
                }
                results
            })
        })
        .collect();
    let mut by_person: HashMap<u64, BTreeSet<ContactId>> = HashMap::new();
    let mut created: BTreeMap<u64, usize> = BTreeMap::new();
    for h in handles {
        for (person, id, was_created) in h.join().expect("thread") {
            by_person.entry(person).or_default().insert(id);
            if was_created {
                *created.entry(person).or_default() += 1;
            }
        }
    }
    for (person, ids) in &by_person {
        assert_eq!(
            ids.len(),
            1,
            "person {person} resolved to several contacts: {ids:?}"
        );
        assert_eq!(
            created.get(person),
            Some(&1),
            "person {person} created {:?} times",
            created.get(person)
        );
    }
    let page = e.list(org_o(), ListRequest::new(200, 0)).unwrap();
    let mut all = page.data;
    let mut offset = all.len() as i64;
    while (all.len() as u64) < page.pagination.total {
        let next = e.list(org_o(), ListRequest::new(200, offset)).unwrap();
        offset += next.data.len() as i64;
        all.extend(next.data);
    }
    assert_eq!(
        all.len(),
        by_person.len(),
        "one contact per person, no strays"
    );
    let mut owners: HashMap<(IdentifierKind, String), ContactId> = HashMap::new();
    for c in &all {
        for i in &c.identifiers {
            let prev = owners.insert(
                (i.identifier_type, i.identifier_value.clone()),
                c.contact.id,
            );
            assert!(prev.is_none(), "{} has two owners", i.identifier_value);
        }
    }
    for ids in by_person.values() {
        for id in ids {
            e.get(org_o(), *id).expect("every returned id exists");
        }
    }
}

/// The store works through `Arc<dyn Store>` and `Box<dyn Store>` (the forwarding impls).
pub fn dyn_store_round_trip<S: Store>(store: S) {
    let shared: Arc<dyn Store> = Arc::new(store);
    let e = engine(Arc::clone(&shared));
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let boxed: Box<dyn Store> = Box::new(Arc::clone(&shared));
    let e2 = engine(boxed);
    let again = e2.resolve(org_o(), &phone("+14155550192")).unwrap();
    assert_eq!((again.contact.id, again.created), (a.contact.id, false));
}
