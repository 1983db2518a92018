//! Reads (docs/semantics.md 1, 3 and 4): org isolation, find, get.

use super::*;

/// Worked example 8 and docs/semantics.md 1: orgs are isolated. The same phone in two orgs is two
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

/// docs/semantics.md 3 (find): find applies the resolve rules, returns relations, and never writes.
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
    assert_eq!(found.contact, *a.contact);
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

/// docs/semantics.md 4 (get): relations in order (kind precedence, primary first, oldest first);
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
