//! Resolve (docs/semantics.md 3): find or create, compatibility, precedence, caps,
//! fill-never-overwrite, `updated_at`.

use super::*;

/// Worked example 1 (docs/semantics.md 3 (step 3)): a formatted phone on an empty store creates a contact
/// holding the canonical number as its primary phone.
pub fn resolve_creates_contact<S: Store>(store: S) {
    let e = engine(store);
    let out = e.resolve(org_o(), &phone("+1 (415) 555-0192")).unwrap();
    assert!(out.created);
    assert_eq!(out.matched_by, None);
    assert_eq!(out.contact.org_id, org_o());
    assert_eq!(out.contact.name, None);
    assert!(out.contact.metadata.is_empty());
    assert_eq!(out.contact.metadata.as_json(), "{}");
    assert_eq!(out.contact.created_at, out.contact.updated_at);
    let c = get(&e, org_o(), out.contact.id);
    assert_eq!(values(&c), vec![(PhoneNumber, "+14155550192", true)]);
    assert_eq!(c.identifiers[0].contact_id, out.contact.id);
    assert_eq!(c.contact, *out.contact);
}

/// docs/semantics.md 3 (step 6): repeating a resolve is a no-op returning the same contact, unchanged.
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

/// Worked example 2 (docs/semantics.md 3 (step 4)-3.5): a known phone with a new email attaches the email
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
            .map(|m| (m.identifier_type, m.identifier_value.to_string())),
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

/// Worked example 3 (docs/semantics.md 3 (step 5)): a name never overwrites an existing one.
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

/// docs/semantics.md 3 (step 5): metadata keys are added only where absent (shallow); existing values stay.
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
        Value::Object(out.contact.metadata.to_object()),
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

/// Worked example 5 (docs/semantics.md 3 (step 2)): a contact holding a different external id is
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

/// Worked example 6 (docs/semantics.md 2.2, 3.3): external id outranks phone; the phone stays with
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

/// docs/semantics.md 2.2: email outranks phone when they point at different contacts.
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

/// docs/semantics.md 2.2: precedence is configurable.
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

/// docs/semantics.md 2.2 caps: a contact never exceeds its cap; the refused identifier is
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

/// docs/semantics.md 2.2: the first identifier of a kind is primary; later ones are not.
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

/// docs/semantics.md 2.1: blank values count as absent and are not reported.
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

/// docs/semantics.md 2.1: junk values count as absent and are reported as ignored.
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

/// docs/semantics.md 2.1: the junk list is configurable.
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

/// Worked example 7 (docs/semantics.md 3 (step 1)): nothing but blank and junk values is `InvalidInput`,
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

/// docs/semantics.md 3 (step 6): `updated_at` changes exactly when the contact changes.
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
    assert_eq!(get(&e, org_o(), a.contact.id).contact, *again.contact);
}

/// docs/semantics.md 3 (step 6): every change moves `updated_at` forward, even within one millisecond of
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
